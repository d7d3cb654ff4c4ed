//! What GraphQL clients rely on (issue "Responses that the popular GraphQL clients can rely on"):
//! a failed field is `null` in `data` exactly where the GraphQL spec puts it, on every response
//! path (POST, GET, batches; WebSocket in `realtime.rs`).

use crate::db_test;
use serde_json::{Value, json};

/// POSTs a document and returns the whole body (data and errors).
async fn post(app: &crate::helpers::TestApp, token: &str, query: &str, variables: Value) -> Value {
    app.gql(Some(token), query, variables).await
}

db_test!(a_failed_nullable_field_is_null_beside_its_error, |app| {
    let t = app.tenant().create().await;
    let body = post(
        &app,
        &t.reader,
        r#"query($slug: String!) { viewer { name } missing: tenant(slug: "nope") { slug } mine: tenant(slug: $slug) { slug } }"#,
        json!({ "slug": t.slug }),
    )
    .await;
    let data = body["data"].as_object().expect("data");
    assert!(data.contains_key("missing"), "the key is there: {body:#}");
    assert_eq!(data["missing"], Value::Null);
    assert_eq!(data["mine"]["slug"], t.slug.as_str());
    assert_eq!(body["errors"][0]["path"], json!(["missing"]));
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND");

    // The only selected field failed: `data` is an object holding its null, not `null`.
    let only = post(&app, &t.reader, r#"{ tenant(slug: "nope") { slug } }"#, json!({})).await;
    assert_eq!(only["data"], json!({ "tenant": null }), "{only:#}");
});

db_test!(a_failed_non_null_field_nulls_its_nearest_nullable_parent, |app| {
    let t = app.tenant().create().await;
    // `apiTokens: [ApiToken!]!` is ADMIN-only: for a READER it fails, and since it is non-null
    // the null goes to `tenant`, the nearest nullable field.
    let body = post(
        &app,
        &t.reader,
        r#"query($slug: String!) { viewer { name } tenant(slug: $slug) { slug apiTokens { id } } }"#,
        json!({ "slug": t.slug }),
    )
    .await;
    assert_eq!(body["data"]["tenant"], Value::Null, "{body:#}");
    assert!(body["data"]["viewer"]["name"].is_string());
    assert_eq!(body["errors"][0]["path"], json!(["tenant", "apiTokens"]));
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");

    // Inside a list of non-null items under a non-null field, the null goes up to `data`:
    // `viewer: Viewer!` → `tenants: [TenantRole!]!` → `tenant: Tenant!` → `apiTokens` fails.
    let up = post(
        &app,
        &t.reader,
        "{ viewer { name tenants { role tenant { slug apiTokens { id } } } } }",
        json!({}),
    )
    .await;
    assert_eq!(up["data"], Value::Null, "{up:#}");
    assert_eq!(up["errors"][0]["extensions"]["code"], "FORBIDDEN");
});

db_test!(nulls_are_placed_alike_over_get_and_in_batches, |app| {
    let t = app.tenant().create().await;
    let query = r#"{ viewer { name } tenant(slug: "nope") { slug } }"#;
    let got: Value = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", query)])
        .header("authorization", format!("Bearer {}", t.reader))
        .header("accept", "application/graphql-response+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"]["tenant"], Value::Null, "{got:#}");
    assert!(got["data"].as_object().unwrap().contains_key("tenant"));
    let batch: Value = app
        .post_graphql(
            Some(&t.reader),
            &json!([{ "query": query }, { "query": "{ viewer { name } }" }]),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        batch[0]["data"],
        json!({ "viewer": { "name": batch[1]["data"]["viewer"]["name"] }, "tenant": null }),
        "{batch:#}"
    );
});

db_test!(
    the_objects_a_client_caches_have_stable_ids_and_mutations_return_them_changed,
    |app| {
        let t = app.tenant().create().await;
        const SCORE: &str = r#"id
        secureScore { id planned { points } categories { id category } }
        whatIf(changes: [{ controlId: "AdminMFAV2", status: PLANNED }]) { id planned { points } categories { id } }
        scoreHistory(from: "2026-01-01", to: "2026-01-02") { id }"#;
        // What-if needs OPERATOR.
        let before = app.query_tenant(&t.operator, &t.slug, SCORE).data().await;
        let again = app.query_tenant(&t.operator, &t.slug, SCORE).data().await;
        let live = &before["tenant"]["secureScore"];
        assert_eq!(
            live["id"], again["tenant"]["secureScore"]["id"],
            "the live score keeps its id"
        );
        let what_if = &before["tenant"]["whatIf"];
        assert_ne!(
            what_if["id"], live["id"],
            "a what-if answer is not the live score"
        );
        assert_eq!(
            what_if["id"], again["tenant"]["whatIf"]["id"],
            "the same question, the same id"
        );
        let categories: Vec<&Value> = live["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["id"])
            .collect();
        let mut unique = categories.clone();
        unique.sort_by_key(|v| v.to_string());
        unique.dedup();
        assert_eq!(
            unique.len(),
            categories.len(),
            "one id per category: {categories:?}"
        );
        assert!(
            what_if["categories"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| !categories.contains(&&c["id"])),
            "what-if categories have their own ids"
        );

        // The mutation's payload has the tenant with its new score under the same ids, so a
        // normalised cache updates the score it holds.
        let input = json!({ "tenantSlug": t.slug, "controlId": "AdminMFAV2", "status": "PLANNED" });
        let payload = &app
            .set_action_status(
                &t.operator,
                input,
                "score { planned { points } } tenant { id secureScore { id planned { points } } } \
                 userErrors { code }",
            )
            .payload()
            .await;
        assert_eq!(payload["userErrors"], json!([]));
        assert_eq!(payload["tenant"]["id"], before["tenant"]["id"]);
        assert_eq!(payload["tenant"]["secureScore"]["id"], live["id"]);
        assert_eq!(
            payload["tenant"]["secureScore"]["planned"],
            payload["score"]["planned"]
        );
        assert_ne!(
            payload["tenant"]["secureScore"]["planned"], live["planned"],
            "the payload's tenant carries the new planned score"
        );
        assert_eq!(
            payload["tenant"]["secureScore"]["planned"], what_if["planned"],
            "as the what-if said"
        );
    }
);

db_test!(a_padded_global_id_is_the_same_id, |app| {
    use base64::Engine;
    let t = app.tenant().create().await;
    let tenant = app.query_tenant(&t.reader, &t.slug, "id").payload().await;
    let id = tenant["id"].as_str().unwrap().to_string();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&id)
        .unwrap();
    let padded = base64::engine::general_purpose::URL_SAFE.encode(&raw);
    assert!(padded.ends_with('='), "this id has padding: {padded}");
    let found = app
        .query_node(&t.reader, padded, "id ... on Tenant { slug }")
        .payload()
        .await;
    assert_eq!(found["slug"], t.slug.as_str(), "{found:#}");
    assert_eq!(found["id"], id.as_str(), "answered with the canonical form");
});
