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
