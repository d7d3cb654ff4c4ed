//! The persisted overview (`service::state::summary`): every change writes, in its transaction,
//! the tenant's score views and the first page of its default list, so a server process that has
//! not cached the tenant answers `secureScore` and `improvementActions(first: ≤ 20)` from one
//! small column, read in the same statement as the tenant row — with exactly the answer the complete state gives, after every kind of change,
//! after a SERVICE_ADMIN's catalog change, when a review date passes, and across processes.

use crate::db_test;
use crate::helpers::*;
use serde_json::{Value, json};

/// The overview as a dashboard asks for it: answered from the persisted overview by a process
/// that has not cached the tenant.
const OVERVIEW: &str = "query($slug: String!) { tenant(slug: $slug) {
  secureScore { current { points pointsExact max percentage } planned { points percentage }
    currentLicense { points } achievable { points } verified { points } maxScore { points }
    categories { category current { points max percentage } planned { points } verified { points } }
    updatedAt }
  improvementActions(first: 20) { totalCount pageInfo { hasNextPage endCursor }
    nodes { id controlId title category status rank maxPoints pointsAchieved pointsRemaining
      scoreImpact licensed seatShortfall implemented total reviewBy version tags { name } } } } }";

/// The same figures from the complete state: a filter (even an empty one) and a what-if always
/// use it.
const COMPLETE: &str = "query($slug: String!) { tenant(slug: $slug) {
  secureScore: whatIf(changes: []) { current { points pointsExact max percentage } planned { points percentage }
    currentLicense { points } achievable { points } verified { points } maxScore { points }
    categories { category current { points max percentage } planned { points } verified { points } }
    updatedAt }
  improvementActions(first: 20, filter: {}) { totalCount pageInfo { hasNextPage endCursor }
    nodes { id controlId title category status rank maxPoints pointsAchieved pointsRemaining
      scoreImpact licensed seatShortfall implemented total reviewBy version tags { name } } } } }";

async fn post(address: &str, token: &str, query: &str, variables: Value) -> Value {
    let body: Value = reqwest::Client::new()
        .post(format!("{address}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert!(body.get("errors").is_none(), "{body:#}");
    body["data"].clone()
}

/// Drops the ids of category scores (a what-if's differ from the live score's by design).
fn without_score_ids(mut v: Value) -> Value {
    if let Some(cats) = v["tenant"]["secureScore"]["categories"].as_array_mut() {
        for c in cats {
            if let Some(o) = c.as_object_mut() {
                o.remove("id");
            }
        }
    }
    v
}

/// Fails unless a fresh process with no state cache answers the overview from the persisted
/// overview (no action rows, no inputs body) exactly as the complete state does.
async fn assert_overview_exact(app: &TestApp, t: &TenantFixture, after: &str) {
    let (address, log) = spawn_another_recording_process(app, |c| c.state_cache_mib = 0).await;
    let vars = json!({ "slug": t.slug });
    log.clear();
    let overview = post(&address, &t.operator, OVERVIEW, vars.clone()).await;
    let statements = log.statements();
    assert!(
        statements
            .iter()
            .any(|s| s.contains("FROM \"tenant\"") && s.contains("SELECT summary FROM tenant_state")),
        "after {after}: the overview is read with the tenant row: {statements:#?}"
    );
    assert!(
        !statements.iter().any(|s| s.contains("\"tenant_state\".\"body\"")
            || s.contains("FROM \"improvement_action\" WHERE \"improvement_action\".\"tenant_id\"")
            || s.contains("FROM \"action_tag\"")),
        "after {after}: no inputs, action or tag rows are read: {statements:#?}"
    );
    let complete = post(&address, &t.operator, COMPLETE, vars).await;
    assert_eq!(
        without_score_ids(overview),
        without_score_ids(complete),
        "after {after}: the overview equals the complete state's answer"
    );
}

/// Actions of the tenant that a test may change (not device actions, TO_ADDRESS).
async fn changeable(app: &TestApp, t: &TenantFixture, n: usize) -> Vec<String> {
    let data = app
        .query_tenant(
            &t.reader,
            &t.slug,
            "improvementActions(first: 100, filter: {}) { nodes { controlId status category } }",
        )
        .payload()
        .await;
    let picked: Vec<String> = data["improvementActions"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["status"] == "TO_ADDRESS" && n["category"] != "DEVICE")
        .map(|n| n["controlId"].as_str().expect("control id").to_string())
        .take(n)
        .collect();
    assert_eq!(picked.len(), n, "the tenant has actions to change");
    picked
}

db_test!(
    every_kind_of_change_writes_the_overview_the_complete_state_gives,
    |app| {
        let t = app.tenant().create().await;
        let c = changeable(&app, &t, 4).await;
        // A tenant nobody has read yet: the first reader computes the overview and repairs it.
        let first = post(&app.address, &t.reader, OVERVIEW, json!({ "slug": t.slug })).await;
        assert!(
            first["tenant"]["secureScore"]["maxScore"]["points"]
                .as_f64()
                .unwrap()
                > 0.0
        );
        assert_overview_exact(&app, &t, "the first read").await;

        let tag = app
            .create_tag(
                &t.operator,
                json!({ "tenantSlug": t.slug, "name": "sprint" }),
                "tag { id }",
            )
            .payload()
            .await["tag"]["id"]
            .clone();
        let status = |control: &str, status: &str| json!({ "tenantSlug": t.slug, "controlId": control, "status": status, "comment": "overview test" });
        let errors = "userErrors { code }";
        let steps = vec![
            (
                "setActionStatus PLANNED",
                app.set_action_status(&t.admin, status(&c[0], "PLANNED"), errors),
            ),
            (
                "partial progress",
                app.record_implementation_progress(
                    &t.admin,
                    json!({ "tenantSlug": t.slug, "controlId": c[1], "implemented": 1, "total": 3 }),
                    errors,
                ),
            ),
            (
                "tags on actions",
                app.add_action_tags(
                    &t.admin,
                    json!({ "tenantSlug": t.slug, "controlIds": [c[0], c[1]], "tagIds": [tag] }),
                    errors,
                ),
            ),
            (
                "a note",
                app.add_action_note(
                    &t.admin,
                    json!({ "tenantSlug": t.slug, "controlId": c[2], "body": "checked" }),
                    errors,
                ),
            ),
            (
                "RISK_ACCEPTED (leaves the default list)",
                app.set_action_status(&t.admin, status(&c[3], "RISK_ACCEPTED"), errors),
            ),
            (
                "a claim",
                app.set_action_status(&t.admin, status(&c[2], "RESOLVED_THIRD_PARTY"), errors),
            ),
            (
                "undo",
                app.undo_action_status(
                    &t.admin,
                    json!({ "tenantSlug": t.slug, "controlId": c[2] }),
                    errors,
                ),
            ),
            (
                "services",
                app.update_tenant(
                    &t.admin,
                    json!({ "slug": t.slug, "enabledServices": ["AzureAD", "EXO"] }),
                    errors,
                ),
            ),
        ];
        for (what, op) in steps {
            let payload = op.payload().await;
            assert_eq!(payload["userErrors"], json!([]), "{what}: {payload:#}");
            assert_overview_exact(&app, &t, what).await;
        }
    }
);

db_test!(a_catalog_change_reaches_every_overview_at_once, |app| {
    let t = app.tenant().create().await;
    let c = changeable(&app, &t, 1).await;
    set_status_at(&app, &app.address, &t, &c[0], "PLANNED", "{ current { points } }").await;
    let (other, _) = spawn_another_recording_process(&app, |_| {}).await;
    let q = "query($slug: String!, $c: String!) { tenant(slug: $slug) {
        secureScore { maxScore { points } }
        improvementActions(first: 20) { totalCount }
        improvementAction(controlId: $c) { maxPoints } } }";
    let vars = json!({ "slug": t.slug, "c": c[0] });
    let before = post(&other, &t.reader, q, vars.clone()).await;
    let max = |v: &Value| v["tenant"]["secureScore"]["maxScore"]["points"].as_f64().unwrap();
    let action_max = |v: &Value| v["tenant"]["improvementAction"]["maxPoints"].as_f64().unwrap();
    let old = action_max(&before);
    let new_points = if old < 10.0 { old + 1.0 } else { old - 1.0 };
    let admin = app.service_admin().await;
    let payload = app
        .update_control(
            &admin,
            json!({ "id": c[0], "maxPoints": new_points }),
            "userErrors { code }",
        )
        .payload()
        .await;
    assert_eq!(payload["userErrors"], json!([]), "{payload:#}");
    // Both the process that cached the tenant and the one that made the change follow.
    for address in [other.as_str(), app.address.as_str()] {
        let after = post(address, &t.reader, q, vars.clone()).await;
        assert_eq!(action_max(&after), new_points, "{after:#}");
        assert!(
            (max(&after) - (max(&before) - old + new_points)).abs() < 1e-9,
            "{after:#}"
        );
    }
    // The overview a reader recomputed was repaired: a fresh process reads it and no rows.
    assert_overview_exact(&app, &t, "a catalog change").await;
});

db_test!(an_overview_follows_a_review_date_as_it_passes, |app| {
    let t = app.tenant().create().await;
    let c = changeable(&app, &t, 1).await;
    let review_by = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let payload = app
        .set_action_status(
            &t.operator,
            json!({ "tenantSlug": t.slug, "controlId": c[0], "status": "RESOLVED_THIRD_PARTY", "reviewBy": review_by }),
            "userErrors { code }",
        )
        .payload()
        .await;
    assert_eq!(payload["userErrors"], json!([]), "{payload:#}");
    let (other, _) = spawn_another_recording_process(&app, |c| c.state_cache_mib = 0).await;
    let q = "query($slug: String!) { tenant(slug: $slug) {
        improvementActions(first: 20) { nodes { controlId status } } } }";
    let status = |v: &Value| {
        v["tenant"]["improvementActions"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["controlId"] == c[0].as_str())
            .map(|n| n["status"].as_str().unwrap().to_string())
    };
    let claimed = post(&other, &t.reader, q, json!({ "slug": t.slug })).await;
    assert_ne!(status(&claimed).as_deref(), Some("TO_ADDRESS"), "{claimed:#}");
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let expired = post(&other, &t.reader, q, json!({ "slug": t.slug })).await;
    assert_eq!(status(&expired).as_deref(), Some("TO_ADDRESS"), "{expired:#}");
});

db_test!(
    a_change_in_one_process_reaches_the_overview_another_cached,
    |app| {
        let t = app.tenant().create().await;
        let c = changeable(&app, &t, 1).await;
        let other = spawn_another_process(&app, |_| {}).await;
        let q = "query($slug: String!) { tenant(slug: $slug) { secureScore { planned { points } } } }";
        let planned = |v: &Value| v["tenant"]["secureScore"]["planned"]["points"].as_f64().unwrap();
        let before = post(&other, &t.reader, q, json!({ "slug": t.slug })).await;
        let score = set_status_at(&app, &app.address, &t, &c[0], "PLANNED", "{ planned { points } }").await;
        let after = post(&other, &t.reader, q, json!({ "slug": t.slug })).await;
        assert!(planned(&after) > planned(&before), "{before:#} → {after:#}");
        assert_eq!(planned(&after), score["planned"]["points"].as_f64().unwrap());
    }
);
