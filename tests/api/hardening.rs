//! Issue 14, written as the attacks: a token revoked, expired or demoted while its WebSocket is
//! open, and requests past the limits (nesting, aliases, fragments multiplying aliases, huge
//! variables, floods without a valid token). Each must fail with its `extensions.code`.

use crate::helpers::{
    Backend, Op, TenantFixture, TestApp, error_code, spawn_another_process, spawn_app_with,
};
use crate::realtime::{Received, SCORE_SUBSCRIPTION, WAIT, Ws};
use chrono::Utc;
use securescore::domain::enums::Role;
use securescore::graphql::ids;
use securescore::service::access::tenants;
use serde_json::{Value, json};
use std::time::Duration;

/// A principal of its own holding `role` on the tenant, with one token (optionally expiring);
/// returns the secret, the token's and the principal's global ids.
async fn token_for(
    app: &TestApp,
    t: &TenantFixture,
    role: Role,
    expires_at: Option<chrono::DateTime<Utc>>,
) -> (String, String, String) {
    let now = Utc::now();
    let name = format!("hardening {}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let p = tenants::create_principal(&app.db, &name, "USER", now)
        .await
        .expect("principal");
    tenants::grant_role(&app.db, p.id, t.id, role, now)
        .await
        .expect("grant");
    let (secret, row) = tenants::issue_token(&app.db, p.id, &name, expires_at, None, now)
        .await
        .expect("token");
    (
        secret,
        ids::encode("ApiToken", row.id).to_string(),
        ids::encode("Principal", p.id).to_string(),
    )
}

/// Runs a query or mutation on the socket (whose token is the one it is sent as) and returns its
/// (only) payload.
async fn run(ws: &mut Ws, id: &str, op: Op) -> Value {
    let (query, variables) = op.request();
    ws.subscribe(id, &query, variables).await;
    let payload = ws.next_payload(id).await;
    let end = ws.recv().await;
    assert!(
        matches!(&end, Received::Json(v) if v["type"] == "complete" && v["id"] == id),
        "{id}: an operation completes after its payload: {end:?}"
    );
    payload
}

/// `setActionStatus` of AdminMFAV2 as `token`.
fn set_status(app: &TestApp, token: &str, t: &TenantFixture, status: &str) -> Op {
    let input = json!({ "tenantSlug": t.slug, "controlId": "AdminMFAV2", "status": status });
    app.set_action_status(token, input, "action { status } userErrors { code }")
}

/// The status of AdminMFAV2, asked as `token`.
fn status(app: &TestApp, token: &str, t: &TenantFixture) -> Op {
    app.query_action(token, &t.slug, "AdminMFAV2", "status")
}

async fn status_of(app: &TestApp, t: &TenantFixture) -> Value {
    status(app, &t.reader, t).payload().await["status"].clone()
}

/// Revokes a token through the server at `address` as the tenant's ADMIN.
async fn revoke_at(app: &TestApp, address: &str, t: &TenantFixture, token_id: &str) {
    let body = app
        .revoke_api_token(
            &t.admin,
            json!({ "id": token_id }),
            "apiToken { revokedAt } userErrors { code }",
        )
        .at(address)
        .await;
    let payload = &body["data"]["revokeApiToken"];
    assert_eq!(payload["userErrors"], json!([]), "{body:#}");
    assert!(payload["apiToken"]["revokedAt"].is_string(), "{body:#}");
}

/// After the token is revoked (through `revoker`), the socket's next query and mutation are
/// UNAUTHENTICATED and the mutation wrote nothing.
async fn revoked_token_is_refused_on_open_socket(app: &TestApp, revoker: &str) {
    let t = app.tenant().create().await;
    let (secret, token_id, _) = token_for(app, &t, Role::Operator, None).await;
    let mut ws = Ws::connect(&app.address, &secret).await;
    let before = run(&mut ws, "q1", app.query_viewer(&secret, "name")).await;
    assert!(before.get("errors").is_none(), "{before:#}");
    let status = run(&mut ws, "m1", set_status(app, &secret, &t, "PLANNED")).await;
    assert_eq!(
        status["data"]["setActionStatus"]["action"]["status"], "PLANNED",
        "the token works before it is revoked: {status:#}"
    );

    revoke_at(app, revoker, &t, &token_id).await;

    let query = run(&mut ws, "q2", app.query_viewer(&secret, "name")).await;
    assert_eq!(
        error_code(&query).as_deref(),
        Some("UNAUTHENTICATED"),
        "{query:#}"
    );
    let mutation = run(&mut ws, "m2", set_status(app, &secret, &t, "RISK_ACCEPTED")).await;
    assert_eq!(
        error_code(&mutation).as_deref(),
        Some("UNAUTHENTICATED"),
        "{mutation:#}"
    );
    assert_eq!(
        status_of(app, &t).await,
        "PLANNED",
        "the refused mutation did not commit"
    );
}

crate::db_test!(a_revoked_token_is_refused_on_its_open_websocket, |app| {
    revoked_token_is_refused_on_open_socket(&app, &app.address).await;
});

crate::db_test!(
    a_token_revoked_through_another_process_is_refused_on_this_ones_socket,
    |app| {
        let other = spawn_another_process(&app, |_| {}).await;
        revoked_token_is_refused_on_open_socket(&app, &other).await;
    }
);

/// The next message of subscription `id` is an error with `code`, and then it completes,
/// within `within`.
async fn subscription_ends_with(ws: &mut Ws, id: &str, code: &str, within: Duration) {
    let message = tokio::time::timeout(within, ws.recv())
        .await
        .expect("the subscription ends in time");
    let errors = match message {
        Received::Json(v) if v["type"] == "next" && v["id"] == id => v["payload"]["errors"].clone(),
        Received::Json(v) if v["type"] == "error" && v["id"] == id => v["payload"].clone(),
        other => panic!("{id}: expected an error, got {other:?}"),
    };
    assert_eq!(errors[0]["extensions"]["code"], code, "{errors:#}");
    let end = ws.recv().await;
    assert!(
        matches!(&end, Received::Json(v) if v["type"] == "complete" && v["id"] == id),
        "{id} completes: {end:?}"
    );
}

crate::db_test!(a_running_subscription_ends_when_its_token_is_revoked, |app| {
    let t = app.tenant().create().await;
    let (secret, token_id, _) = token_for(&app, &t, Role::Reader, None).await;
    let mut ws = Ws::connect(&app.address, &secret).await;
    ws.subscribe("s", SCORE_SUBSCRIPTION, json!({ "slug": t.slug }))
        .await;
    let first = ws.next_payload("s").await;
    assert!(first.get("errors").is_none(), "{first:#}");

    revoke_at(&app, &app.address, &t, &token_id).await;
    // Nothing changes on the tenant: the subscription must end by itself, within the default
    // re-check interval (2 s) and some slack.
    subscription_ends_with(&mut ws, "s", "UNAUTHENTICATED", Duration::from_secs(6)).await;
});

crate::db_test!(
    a_lowered_role_is_forbidden_on_the_same_socket_and_a_removed_one_ends_its_subscription,
    |app| {
        let t = app.tenant().create().await;
        let (secret, _, principal) = token_for(&app, &t, Role::Operator, None).await;
        let mut ws = Ws::connect(&app.address, &secret).await;
        let ok = run(&mut ws, "m1", set_status(&app, &secret, &t, "PLANNED")).await;
        assert_eq!(ok["data"]["setActionStatus"]["userErrors"], json!([]), "{ok:#}");
        ws.subscribe("s", SCORE_SUBSCRIPTION, json!({ "slug": t.slug }))
            .await;
        ws.next_payload("s").await;

        let service_admin = app.service_admin().await;
        let input = json!({ "tenantSlug": t.slug, "principalId": principal, "role": "READER" });
        app.grant_role(&service_admin, input, "userErrors { code }")
            .data()
            .await;
        let refused = run(&mut ws, "m2", set_status(&app, &secret, &t, "RISK_ACCEPTED")).await;
        assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"), "{refused:#}");
        assert_eq!(status_of(&app, &t).await, "PLANNED", "nothing was written");

        // A READER still reads: the running subscription goes on (the next item may be the
        // change above, which no one made, so only an error would be wrong).
        let input = json!({ "tenantSlug": t.slug, "principalId": principal });
        app.remove_tenant_grant(&t.admin, input, "userErrors { code }")
            .data()
            .await;
        subscription_ends_with(&mut ws, "s", "NOT_FOUND", Duration::from_secs(6)).await;
        let gone = run(&mut ws, "q", status(&app, &secret, &t)).await;
        assert_eq!(gone["data"]["tenant"], Value::Null, "{gone:#}");
    }
);

crate::db_test!(
    an_expired_token_stops_working_on_its_socket_and_ends_its_subscription,
    |app| {
        let t = app.tenant().create().await;
        let expires = Utc::now() + chrono::Duration::seconds(3);
        let (secret, _, _) = token_for(&app, &t, Role::Operator, Some(expires)).await;
        let mut ws = Ws::connect(&app.address, &secret).await;
        ws.subscribe("s", SCORE_SUBSCRIPTION, json!({ "slug": t.slug }))
            .await;
        ws.next_payload("s").await;
        // The subscription ends at the expiry itself, not at the next re-check.
        subscription_ends_with(&mut ws, "s", "UNAUTHENTICATED", WAIT).await;
        assert!(Utc::now() >= expires, "not before the token expired");
        let mutation = run(&mut ws, "m", set_status(&app, &secret, &t, "PLANNED")).await;
        assert_eq!(
            error_code(&mutation).as_deref(),
            Some("UNAUTHENTICATED"),
            "{mutation:#}"
        );
        assert_eq!(status_of(&app, &t).await, "TO_ADDRESS", "nothing was written");
    }
);

/// POSTs a GraphQL request; returns the HTTP status and the body.
async fn post(app: &TestApp, token: Option<&str>, body: Value) -> (u16, Value) {
    let resp = app.post_graphql(token, &body).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON body"))
}

fn nested(depth: usize) -> String {
    format!("{{ {}leaf{} }}", "a { ".repeat(depth - 1), " }".repeat(depth - 1))
}

crate::db_test!(too_deep_queries_are_refused_with_a_code_at_every_depth, |app| {
    let t = app.tenant().create().await;
    for (depth, why) in [(50, "past the parser's own limit"), (11, "past MAX_QUERY_DEPTH")] {
        let (status, body) = post(&app, Some(&t.reader), json!({ "query": nested(depth) })).await;
        assert_eq!(status, 400, "{why}: {body}");
        assert_eq!(
            error_code(&body).as_deref(),
            Some("QUERY_TOO_COMPLEX"),
            "{why}: {body}"
        );
        assert!(body.get("data").is_none(), "{why}: nothing executed: {body}");
    }
    // Ten levels pass the limit (and fail validation: the fields do not exist).
    let (_, body) = post(&app, Some(&t.reader), json!({ "query": nested(10) })).await;
    assert_ne!(error_code(&body).as_deref(), Some("QUERY_TOO_COMPLEX"), "{body}");
    // The standard introspection query (GraphiQL, graphql-js, codegen) nests 15 levels: allowed.
    let type_ref = format!(
        "fragment TypeRef on __Type {{ kind name {}kind name{} }}",
        "ofType { kind name ".repeat(9),
        " }".repeat(9)
    );
    let introspection =
        format!("{{ __schema {{ types {{ fields {{ args {{ type {{ ...TypeRef }} }} }} }} }} }} {type_ref}");
    let (status, body) = post(&app, Some(&t.reader), json!({ "query": introspection })).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
});

fn viewers(aliases: usize) -> String {
    (1..=aliases)
        .map(|i| format!("v{i}: viewer {{ name }} "))
        .collect()
}

crate::db_test!(sixteen_aliases_are_refused_and_fifteen_pass, |app| {
    let t = app.tenant().create().await;
    let (status, body) = post(
        &app,
        Some(&t.reader),
        json!({ "query": format!("{{ {} }}", viewers(16)) }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body).as_deref(), Some("QUERY_TOO_COMPLEX"), "{body}");
    let (status, body) = post(
        &app,
        Some(&t.reader),
        json!({ "query": format!("{{ {} }}", viewers(15)) }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
});

crate::db_test!(aliases_multiplied_by_fragments_are_refused, |app| {
    let t = app.tenant().create().await;
    // Eight aliases as written; eighteen once the fragment is spread three times.
    let fragment = "fragment F on Viewer { n1: name n2: name n3: name n4: name n5: name }";
    let query = format!("{{ a: viewer {{ ...F }} b: viewer {{ ...F }} c: viewer {{ ...F }} }} {fragment}");
    let (status, body) = post(&app, Some(&t.reader), json!({ "query": query })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body).as_deref(), Some("QUERY_TOO_COMPLEX"), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("18 aliases"),
        "{body}"
    );
    // Nested fragments multiply too: 2 + 2 × 2 × 5 = 22 aliases from 7 written ones.
    let query = "query Nested { a: viewer { ...G } b: viewer { ...G } } \
                 fragment G on Viewer { ...H ...H } \
                 fragment H on Viewer { x1: name x2: name x3: name x4: name x5: name }";
    let (status, body) = post(&app, Some(&t.reader), json!({ "query": query })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body).as_deref(), Some("QUERY_TOO_COMPLEX"), "{body}");
    // Twice is twelve: allowed.
    let query = format!("{{ a: viewer {{ ...F }} b: viewer {{ ...F }} }} {fragment}");
    let (status, body) = post(&app, Some(&t.reader), json!({ "query": query })).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
});

crate::db_test!(a_megabyte_of_variables_is_refused_with_a_code, |app| {
    let t = app.tenant().create().await;
    let query = "query($pad: String!) { tenant(slug: $pad) { slug } }";
    let (status, body) = post(
        &app,
        Some(&t.reader),
        json!({ "query": query, "variables": { "pad": "x".repeat(1_000_000) } }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body).as_deref(), Some("BAD_REQUEST"), "{body}");
    // Under the limit (64 KiB) it runs (and finds no such tenant).
    let (status, body) = post(
        &app,
        Some(&t.reader),
        json!({ "query": query, "variables": { "pad": "x".repeat(60_000) } }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["tenant"], Value::Null, "{body}");
    // An import's exports travel as variables: those are bounded by IMPORT_MAX_BYTES instead
    // (and the import answers about the malformed export itself).
    let import = "mutation($i: ImportMicrosoftGraphInput!) { importMicrosoftGraph(input: $i) { \
                  userErrors { code } } }";
    let export = json!({ "value": [], "padding": "x".repeat(200_000) });
    let (status, body) = post(
        &app,
        Some(&t.admin),
        json!({ "query": import, "variables": { "i": { "tenantSlug": t.slug, "secureScores": export } } }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["importMicrosoftGraph"].is_object(), "{body}");
    // The socket has the same limit.
    let mut ws = Ws::connect(&app.address, &t.reader).await;
    ws.subscribe("big", query, json!({ "pad": "x".repeat(100_000) }))
        .await;
    let payload = match ws.recv().await {
        Received::Json(v) if v["id"] == "big" => v["payload"].clone(),
        other => panic!("expected an answer, got {other:?}"),
    };
    let code = payload["errors"][0]["extensions"]["code"]
        .as_str()
        .or(payload[0]["extensions"]["code"].as_str());
    assert_eq!(code, Some("BAD_REQUEST"), "{payload:#}");
});

/// Sends `count` requests with a bad token (from 127.0.0.1, with `X-Forwarded-For: forwarded`
/// when given); returns the statuses and the last response's Retry-After and body.
async fn bad_token_requests(
    app: &TestApp,
    count: usize,
    token: Option<&str>,
    forwarded: Option<&str>,
) -> (Vec<u16>, Option<String>, Value) {
    let mut statuses = Vec::new();
    let mut last = (None, Value::Null);
    for _ in 0..count {
        let mut req = app
            .client
            .post(format!("{}/graphql", app.address))
            .header("content-type", "application/json")
            .json(&json!({ "query": "{ viewer { name } }" }));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(f) = forwarded {
            req = req.header("x-forwarded-for", f);
        }
        let resp = req.send().await.expect("request sent");
        statuses.push(resp.status().as_u16());
        let retry = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        last = (retry, resp.json().await.expect("JSON body"));
    }
    (statuses, last.0, last.1)
}

/// A server whose address bucket holds 5 requests (and refills slowly), so a test floods it fast.
async fn spawn_small_bucket(backend: Backend, trust_forwarded_for: bool) -> TestApp {
    spawn_app_with(backend, |c| {
        c.anon_rate_limit_burst = 5;
        c.anon_rate_limit_per_minute = 1;
        c.trust_forwarded_for = trust_forwarded_for;
    })
    .await
}

async fn requests_without_a_valid_token_are_rate_limited_per_address(backend: Backend) {
    let app = spawn_small_bucket(backend, false).await;
    let t = app.tenant().create().await;
    let (statuses, retry_after, body) = bad_token_requests(&app, 6, Some("ssk_guessed"), None).await;
    assert_eq!(
        &statuses[..5],
        &[200; 5],
        "the first five are answered (UNAUTHENTICATED)"
    );
    assert_eq!(statuses[5], 429, "{body}");
    assert_eq!(error_code(&body).as_deref(), Some("RATE_LIMITED"), "{body}");
    let secs: u64 = retry_after.expect("Retry-After").parse().expect("seconds");
    assert!(secs >= 1, "{secs}");
    assert_eq!(body["errors"][0]["extensions"]["retryAfterSeconds"], json!(secs));
    // No token at all shares the address's bucket; an X-Forwarded-For the server was not told to
    // trust changes nothing.
    let (statuses, _, _) = bad_token_requests(&app, 1, None, Some("203.0.113.9")).await;
    assert_eq!(statuses, [429]);
    // A valid token from the same address has its own bucket.
    let (status, body) = post(&app, Some(&t.reader), json!({ "query": "{ viewer { name } }" })).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_token_are_rate_limited_per_address_on_sqlite() {
    requests_without_a_valid_token_are_rate_limited_per_address(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL database)"
)]
async fn requests_without_a_valid_token_are_rate_limited_per_address_on_postgres() {
    requests_without_a_valid_token_are_rate_limited_per_address(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_key() {
    let app = spawn_small_bucket(Backend::Sqlite, true).await;
    // A client cannot escape by prepending addresses: the proxy's entry (the last) counts.
    let (statuses, _, _) = bad_token_requests(&app, 6, None, Some("198.51.100.1, 203.0.113.7")).await;
    assert_eq!(statuses[5], 429);
    let (statuses, _, _) = bad_token_requests(&app, 1, None, Some("198.51.100.2, 203.0.113.7")).await;
    assert_eq!(statuses, [429], "same proxy-seen address");
    let (statuses, _, _) = bad_token_requests(&app, 1, None, Some("203.0.113.8")).await;
    assert_eq!(statuses, [200], "another client has its own bucket");
}
