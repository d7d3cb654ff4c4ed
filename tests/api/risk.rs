//! Governed risk acceptance (issue 19): request (OPERATOR) → approve or reject by an ADMIN who is
//! not the requester → RISK_ACCEPTED until the review date → reminders → expiry; the tenant
//! setting that makes approval the only way to RISK_ACCEPTED; and the risk register. Each test is
//! also the attack: the requester deciding, lower roles, another tenant's ids.

use crate::db_test;
use crate::helpers::*;
use chrono::{DateTime, Duration, DurationRound, Utc};
use securescore::domain::enums::Role;
use securescore::service::workflow::risk::send_reminders;
use serde_json::{Value, json};

/// What the tests read of a risk acceptance.
const FIELDS: &str = "id state controlId controlTitle justification owner requestedBy requestedAt approvedBy \
                      approvedAt ageDays decidedBy decidedAt decisionComment reviewBy daysLeft endedAt \
                      pointsAtStake pointsAtStakeExact lastReminderDays remindersSent \
                      action { controlId title status reviewBy maxPoints pointsAchieved pointsRemaining }";

const ACTION: &str = "status reviewBy maxPoints pointsAchieved pointsAchievedExact pointsRemaining version";

/// `now + days`, to the second (what the databases keep exactly).
fn days_ahead(days: i64) -> DateTime<Utc> {
    (Utc::now() + Duration::days(days))
        .duration_trunc(Duration::seconds(1))
        .unwrap()
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap()
}

/// The one user error's code of a payload.
fn code(p: &Value) -> &str {
    let errors = p["userErrors"].as_array().unwrap_or_else(|| panic!("{p:#}"));
    assert_eq!(errors.len(), 1, "one user error: {p:#}");
    errors[0]["code"].as_str().unwrap()
}

fn ok(p: &Value) {
    assert_eq!(p["userErrors"], json!([]), "{p:#}");
}

async fn request(app: &TestApp, token: &str, t: &TenantFixture, control: &str, review_by: Value) -> Value {
    let input = json!({
        "tenantSlug": t.slug, "controlId": control,
        "justification": "Legacy mail gateway needs it until migration",
        "owner": "Mail team (Alice)",
        "reviewBy": review_by,
    });
    app.request_risk_acceptance(
        token,
        input,
        &format!("riskAcceptance {{ {FIELDS} }} userErrors {{ field code message }}"),
    )
    .payload()
    .await
}

/// A request by the tenant's OPERATOR that must succeed; returns the acceptance.
async fn requested(app: &TestApp, t: &TenantFixture, control: &str, review_by: DateTime<Utc>) -> Value {
    let p = request(app, &t.operator, t, control, json!(review_by)).await;
    ok(&p);
    p["riskAcceptance"].clone()
}

async fn approve(app: &TestApp, token: &str, id: &Value) -> Value {
    app.approve_risk_acceptance(
        token,
        json!({ "requestId": id, "comment": "ok until the migration" }),
        &format!(
            "riskAcceptance {{ {FIELDS} }} action {{ {ACTION} }} score {{ current {{ pointsExact }} achievable {{ pointsExact }} }} userErrors {{ field code message }}"
        ),
    )
    .await
}

async fn reject(app: &TestApp, token: &str, id: &Value, comment: &str) -> Value {
    app.reject_risk_acceptance(
        token,
        json!({ "requestId": id, "comment": comment }),
        &format!("riskAcceptance {{ {FIELDS} }} userErrors {{ field code message }}"),
    )
    .await
}

async fn withdraw(app: &TestApp, token: &str, id: &Value) -> Value {
    app.withdraw_risk_acceptance(
        token,
        json!({ "requestId": id }),
        &format!("riskAcceptance {{ {FIELDS} }} userErrors {{ field code message }}"),
    )
    .await
}

/// The register's entries for a filter (`null`: the default, APPROVED).
async fn register(app: &TestApp, token: &str, t: &TenantFixture, filter: Value) -> Vec<Value> {
    let tenant = app
        .query_tenant(
            token,
            &t.slug,
            &format!("riskRegister(filter: $filter, first: 100) {{ totalCount nodes {{ {FIELDS} }} }}"),
        )
        .var("filter", "RiskRegisterFilter", filter)
        .payload()
        .await;
    let nodes = tenant["riskRegister"]["nodes"].as_array().unwrap().clone();
    assert_eq!(tenant["riskRegister"]["totalCount"], json!(nodes.len()));
    nodes
}

/// The events of an action, oldest first, with `fields` each.
async fn events(app: &TestApp, t: &TenantFixture, control: &str, fields: &str) -> Vec<Value> {
    action_history(app, t, control, &format!("nodes {{ {fields} }}")).await
}

async fn action(app: &TestApp, t: &TenantFixture, control: &str) -> Value {
    app.query_action(&t.reader, &t.slug, control, ACTION)
        .payload()
        .await
}

async fn score(app: &TestApp, t: &TenantFixture) -> Value {
    app.query_tenant(
        &t.reader,
        &t.slug,
        "secureScore { current { pointsExact } achievable { pointsExact } planned { pointsExact } \
             currentLicense { pointsExact } verified { pointsExact } }",
    )
    .payload()
    .await["secureScore"]
        .clone()
}

/// A second ADMIN of the tenant (the first one may be the requester).
async fn another_admin(app: &TestApp, t: &TenantFixture) -> String {
    app.principal_with("second admin", &[(t.id, Role::Admin)]).await.0
}

db_test!(
    a_request_changes_nothing_and_an_approval_by_another_admin_accepts_the_risk,
    |app| {
        let t = app.tenant().create().await;
        progress(&app, &t, "AdminMFAV2", 1, 3).await;
        let before = action(&app, &t, "AdminMFAV2").await;
        assert_eq!(before["pointsAchievedExact"], "10/3");
        let score_before = score(&app, &t).await;
        let events_before = events(&app, &t, "AdminMFAV2", "kind").await.len();

        let review_by = days_ahead(90);
        let req = requested(&app, &t, "AdminMFAV2", review_by).await;
        assert_eq!(req["state"], "REQUESTED");
        assert_eq!(req["owner"], "Mail team (Alice)");
        assert_eq!(req["requestedBy"], format!("operator {}", t.slug));
        assert_eq!(req["approvedBy"], Value::Null);
        assert_eq!(time(&req["reviewBy"]), review_by);
        assert_eq!(req["daysLeft"], 90);
        assert_eq!(req["action"]["status"], "TO_ADDRESS");

        // A pending request changes no status, no points and writes no event.
        assert_eq!(action(&app, &t, "AdminMFAV2").await, before);
        assert_eq!(score(&app, &t).await, score_before);
        assert_eq!(events(&app, &t, "AdminMFAV2", "kind").await.len(), events_before);
        assert!(
            register(&app, &t.reader, &t, Value::Null).await.is_empty(),
            "not approved yet"
        );
        let pending = register(&app, &t.reader, &t, json!({ "state": ["REQUESTED"] })).await;
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0]["id"], req["id"]);

        // The tenant's ADMIN did not request it, so it approves.
        let p = approve(&app, &t.admin, &req["id"])
            .await
            .payload_of("approveRiskAcceptance");
        ok(&p);
        assert_eq!(p["riskAcceptance"]["state"], "APPROVED");
        assert_eq!(p["riskAcceptance"]["approvedBy"], format!("admin {}", t.slug));
        assert_eq!(p["action"]["status"], "RISK_ACCEPTED");
        assert_eq!(time(&p["action"]["reviewBy"]), review_by);
        assert_eq!(
            p["action"]["pointsAchieved"], 0.0,
            "SPEC §2: RISK_ACCEPTED earns 0"
        );

        // The score is exactly that of the same tenant with the action accepted directly.
        let twin = app.tenant().create().await;
        progress(&app, &twin, "AdminMFAV2", 1, 3).await;
        let direct = app
            .set_action_status(
                &twin.operator,
                json!({ "tenantSlug": twin.slug, "controlId": "AdminMFAV2", "status": "RISK_ACCEPTED",
                        "reviewBy": review_by }),
                "userErrors { code }",
            )
            .payload()
            .await;
        ok(&direct);
        let accepted_score = score(&app, &twin).await;
        assert_eq!(score(&app, &t).await, accepted_score);
        assert_eq!(p["score"]["current"], accepted_score["current"]);
        assert_ne!(score_before, accepted_score, "accepting the risk moved the score");

        // The approval is a STATUS_CHANGED event naming the acceptance and the approver.
        let history = events(&app, &t, "AdminMFAV2", "kind actor statusAfter comment data").await;
        let last = history.last().unwrap();
        assert_eq!(last["kind"], "STATUS_CHANGED");
        assert_eq!(last["statusAfter"], "RISK_ACCEPTED");
        assert_eq!(last["actor"], format!("admin {}", t.slug));
        let id =
            securescore::graphql::ids::decode_i64(req["id"].as_str().unwrap(), "RiskAcceptance").unwrap();
        assert_eq!(last["data"]["riskAcceptanceId"], id);
        assert_eq!(last["data"]["approvedBy"], format!("admin {}", t.slug));
        assert_eq!(last["comment"], "Legacy mail gateway needs it until migration");

        // The register: owner, approver, age, expiry and points at stake, exact against the action.
        let entries = register(&app, &t.reader, &t, Value::Null).await;
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        let a = action(&app, &t, "AdminMFAV2").await;
        assert_eq!(e["state"], "APPROVED");
        assert_eq!(e["controlId"], "AdminMFAV2");
        assert_eq!(e["controlTitle"], e["action"]["title"]);
        assert_eq!(e["owner"], "Mail team (Alice)");
        assert_eq!(e["justification"], "Legacy mail gateway needs it until migration");
        assert_eq!(e["requestedBy"], format!("operator {}", t.slug));
        assert_eq!(e["approvedBy"], format!("admin {}", t.slug));
        assert_eq!(e["decisionComment"], "ok until the migration");
        assert!((Utc::now() - time(&e["approvedAt"])).num_seconds().abs() < 60);
        assert_eq!(e["ageDays"], 0);
        assert_eq!(time(&e["reviewBy"]), time(&a["reviewBy"]));
        assert_eq!(e["daysLeft"], 90);
        assert_eq!(e["pointsAtStake"], a["pointsRemaining"]);
        assert_eq!(
            e["pointsAtStake"], a["maxPoints"],
            "nothing is achieved while accepted"
        );
        assert_eq!(e["pointsAtStakeExact"], "10");
        assert_eq!(e["action"]["status"], "RISK_ACCEPTED");

        // It is a Node.
        let node = app
            .query_node(
                &t.reader,
                e["id"].clone(),
                "__typename ... on RiskAcceptance { owner state }",
            )
            .payload()
            .await;
        assert_eq!(
            node,
            json!({ "__typename": "RiskAcceptance", "owner": "Mail team (Alice)", "state": "APPROVED" })
        );
        // Approving again is a conflict.
        let again = approve(&app, &another_admin(&app, &t).await, &req["id"])
            .await
            .payload_of("approveRiskAcceptance");
        assert_eq!(code(&again), "CONFLICT");
    }
);

/// The payload of a mutation from a whole body, asserting no top-level errors.
trait PayloadOf {
    fn payload_of(self, field: &str) -> Value;
}

impl PayloadOf for Value {
    fn payload_of(self, field: &str) -> Value {
        data_of(self)[field].clone()
    }
}

db_test!(
    the_requester_cannot_decide_and_lower_roles_and_other_tenants_cannot_either,
    |app| {
        let t = app.tenant().create().await;
        let other = app.tenant().create().await;

        // READERs cannot request.
        let body = app
            .request_risk_acceptance(
                &t.reader,
                json!({ "tenantSlug": t.slug, "controlId": "AdminMFAV2", "justification": "j", "owner": "o",
                        "reviewBy": days_ahead(30) }),
                "userErrors { code }",
            )
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");

        // An ADMIN who requested cannot approve or reject its own request.
        let p = request(&app, &t.admin, &t, "AdminMFAV2", json!(days_ahead(30))).await;
        ok(&p);
        let id = p["riskAcceptance"]["id"].clone();
        let own = approve(&app, &t.admin, &id)
            .await
            .payload_of("approveRiskAcceptance");
        assert_eq!(code(&own), "SELF_APPROVAL", "{own:#}");
        let own = reject(&app, &t.admin, &id, "no")
            .await
            .payload_of("rejectRiskAcceptance");
        assert_eq!(code(&own), "SELF_APPROVAL", "{own:#}");

        // An OPERATOR or READER cannot approve or reject: FORBIDDEN, top-level.
        for token in [&t.operator, &t.reader] {
            let body = approve(&app, token, &id).await;
            assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");
            let body = reject(&app, token, &id, "no").await;
            assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");
        }

        // Another tenant's ADMIN: NOT_FOUND, like an id that does not exist; `node` is null.
        let missing = securescore::graphql::ids::encode("RiskAcceptance", 999_999).to_string();
        for id in [&id, &json!(missing), &json!("garbage")] {
            let p = approve(&app, &other.admin, id)
                .await
                .payload_of("approveRiskAcceptance");
            assert_eq!(code(&p), "NOT_FOUND", "{p:#}");
            let p = reject(&app, &other.admin, id, "no")
                .await
                .payload_of("rejectRiskAcceptance");
            assert_eq!(code(&p), "NOT_FOUND", "{p:#}");
            let p = withdraw(&app, &other.admin, id)
                .await
                .payload_of("withdrawRiskAcceptance");
            assert_eq!(code(&p), "NOT_FOUND", "{p:#}");
        }
        let node = app
            .query_node(&other.admin, id.clone(), "__typename")
            .payload()
            .await;
        assert_eq!(node, Value::Null);
        assert!(
            register(&app, &other.admin, &other, json!({ "state": ["REQUESTED"] }))
                .await
                .is_empty()
        );
        assert_eq!(action(&app, &t, "AdminMFAV2").await["status"], "TO_ADDRESS");

        // Another ADMIN approves.
        let p = approve(&app, &another_admin(&app, &t).await, &id)
            .await
            .payload_of("approveRiskAcceptance");
        ok(&p);
        assert_eq!(p["action"]["status"], "RISK_ACCEPTED");
        assert_eq!(p["riskAcceptance"]["approvedBy"], "second admin");
    }
);

db_test!(rejected_and_withdrawn_requests_change_nothing, |app| {
    let t = app.tenant().create().await;
    let req = requested(&app, &t, "AdminMFAV2", days_ahead(30)).await;
    // One open request per action.
    let dup = request(&app, &t.operator, &t, "AdminMFAV2", json!(days_ahead(40))).await;
    assert_eq!(code(&dup), "CONFLICT", "{dup:#}");

    let p = reject(&app, &t.admin, &req["id"], "  ")
        .await
        .payload_of("rejectRiskAcceptance");
    assert_eq!(code(&p), "BAD_USER_INPUT", "a rejection needs a comment: {p:#}");
    let p = reject(&app, &t.admin, &req["id"], "Fix it instead")
        .await
        .payload_of("rejectRiskAcceptance");
    ok(&p);
    let r = &p["riskAcceptance"];
    assert_eq!(r["state"], "REJECTED");
    assert_eq!(r["decidedBy"], format!("admin {}", t.slug));
    assert_eq!(r["decisionComment"], "Fix it instead");
    assert_eq!(r["approvedBy"], Value::Null);
    assert_eq!(action(&app, &t, "AdminMFAV2").await["status"], "TO_ADDRESS");
    let p = approve(&app, &another_admin(&app, &t).await, &req["id"])
        .await
        .payload_of("approveRiskAcceptance");
    assert_eq!(
        code(&p),
        "CONFLICT",
        "a rejected request cannot be approved: {p:#}"
    );

    // A new request after the rejection; another OPERATOR may not withdraw it, the requester may.
    let again = requested(&app, &t, "AdminMFAV2", days_ahead(30)).await;
    let (other_operator, _, _) = app
        .principal_with("other operator", &[(t.id, Role::Operator)])
        .await;
    let body = withdraw(&app, &other_operator, &again["id"]).await;
    assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");
    let p = withdraw(&app, &t.operator, &again["id"])
        .await
        .payload_of("withdrawRiskAcceptance");
    ok(&p);
    assert_eq!(p["riskAcceptance"]["state"], "WITHDRAWN");
    let p = withdraw(&app, &t.operator, &again["id"])
        .await
        .payload_of("withdrawRiskAcceptance");
    assert_eq!(code(&p), "CONFLICT");
    // An ADMIN withdraws someone else's request.
    let third = requested(&app, &t, "AdminMFAV2", days_ahead(30)).await;
    let p = withdraw(&app, &t.admin, &third["id"])
        .await
        .payload_of("withdrawRiskAcceptance");
    ok(&p);
    assert_eq!(p["riskAcceptance"]["decidedBy"], format!("admin {}", t.slug));

    let history = register(
        &app,
        &t.reader,
        &t,
        json!({ "state": ["REJECTED", "WITHDRAWN", "REQUESTED", "APPROVED"] }),
    )
    .await;
    let states: Vec<&str> = history.iter().map(|e| e["state"].as_str().unwrap()).collect();
    assert_eq!(states.iter().filter(|s| **s == "WITHDRAWN").count(), 2);
    assert_eq!(states.iter().filter(|s| **s == "REJECTED").count(), 1);
    assert_eq!(action(&app, &t, "AdminMFAV2").await["status"], "TO_ADDRESS");
    assert_eq!(
        events(&app, &t, "AdminMFAV2", "kind").await.len(),
        0,
        "no event for requests and decisions that change no status"
    );
});

db_test!(actions_that_cannot_take_a_risk_acceptance_are_refused, |app| {
    let t = app
        .tenant()
        .services(&["AzureAD", "EXO", "MDO", "MDATP"])
        .create()
        .await;
    let device = request(&app, &t.operator, &t, "scid_2010", json!(days_ahead(30))).await;
    assert_eq!(code(&device), "DEVICE_STATUS_MANAGED_EXTERNALLY", "{device:#}");
    progress(&app, &t, "AdminMFAV2", 3, 3).await;
    let done = request(&app, &t.operator, &t, "AdminMFAV2", json!(days_ahead(30))).await;
    assert_eq!(code(&done), "STATUS_LOCKED", "{done:#}");
    // Already RISK_ACCEPTED (directly, the setting being off).
    set_status(&app, &t, "MFARegistrationV2", "RISK_ACCEPTED").await;
    let accepted = request(&app, &t.operator, &t, "MFARegistrationV2", json!(days_ahead(30))).await;
    assert_eq!(code(&accepted), "CONFLICT", "{accepted:#}");
});

db_test!(
    review_dates_are_required_in_the_future_and_within_the_maximum,
    |app| {
        let t = app.tenant().create().await;
        let missing = app
        .request_risk_acceptance(
            &t.operator,
            json!({ "tenantSlug": t.slug, "controlId": "AdminMFAV2", "justification": "j", "owner": "o" }),
            "userErrors { code }",
        )
        .await;
        // The schema makes it required: a request without it does not validate.
        assert_eq!(
            error_code(&missing).as_deref(),
            Some("GRAPHQL_VALIDATION_FAILED"),
            "{missing:#}"
        );
        for (review_by, why) in [
            (json!(Utc::now() - Duration::minutes(1)), "in the past"),
            (json!(days_ahead(366)), "beyond RISK_ACCEPTANCE_MAX_DAYS (365)"),
        ] {
            let p = request(&app, &t.operator, &t, "AdminMFAV2", review_by).await;
            assert_eq!(code(&p), "BAD_USER_INPUT", "{why}: {p:#}");
            assert_eq!(p["userErrors"][0]["field"], json!(["input", "reviewBy"]), "{why}");
        }
        for (field, input) in [
            ("justification", json!({ "justification": " \n " })),
            ("owner", json!({ "owner": "" })),
        ] {
            let input = merged(
                json!({ "tenantSlug": t.slug, "controlId": "AdminMFAV2", "justification": "j", "owner": "o",
                    "reviewBy": days_ahead(30) }),
                input,
            );
            let p = app
                .request_risk_acceptance(&t.operator, input, "userErrors { field code }")
                .payload()
                .await;
            assert_eq!(
                p["userErrors"],
                json!([{ "field": ["input", field], "code": "BAD_USER_INPUT" }])
            );
        }
        let req = requested(&app, &t, "AdminMFAV2", days_ahead(364)).await;

        // A review date that passed while the request waited: the approval is refused.
        {
            use entity::risk_acceptance as ra;
            use sea_orm::sea_query::Expr;
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
            ra::Entity::update_many()
                .col_expr(
                    ra::Column::ReviewBy,
                    Expr::value(Utc::now() - Duration::minutes(1)),
                )
                .filter(ra::Column::TenantId.eq(t.id))
                .exec(&app.db)
                .await
                .unwrap();
        }
        let p = approve(&app, &t.admin, &req["id"])
            .await
            .payload_of("approveRiskAcceptance");
        assert_eq!(code(&p), "BAD_USER_INPUT", "{p:#}");
        assert_eq!(action(&app, &t, "AdminMFAV2").await["status"], "TO_ADDRESS");
    }
);

db_test!(
    the_tenant_setting_refuses_direct_risk_acceptance_only_when_on,
    |app| {
        let t = app.tenant().create().await;
        let tenant = app
            .query_tenant(&t.reader, &t.slug, "riskAcceptanceRequiresApproval")
            .payload()
            .await;
        assert_eq!(tenant["riskAcceptanceRequiresApproval"], false, "off by default");
        let set = |control: &str, token: &str| {
            app.set_action_status(
                token,
                json!({ "tenantSlug": t.slug, "controlId": control, "status": "RISK_ACCEPTED",
                        "reviewBy": days_ahead(30) }),
                "changed userErrors { code message }",
            )
        };
        let p = set("AdminMFAV2", &t.operator).payload().await;
        ok(&p);

        // Only an ADMIN changes it, and the change is audited.
        let body = app
            .update_tenant(
                &t.operator,
                json!({ "slug": t.slug, "riskAcceptanceRequiresApproval": true }),
                "userErrors { code }",
            )
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"));
        let p = app
            .update_tenant(
                &t.admin,
                json!({ "slug": t.slug, "riskAcceptanceRequiresApproval": true }),
                "tenant { riskAcceptanceRequiresApproval } userErrors { code }",
            )
            .payload()
            .await;
        ok(&p);
        assert_eq!(p["tenant"]["riskAcceptanceRequiresApproval"], true);
        let audit = app
            .query_tenant(
                &t.admin,
                &t.slug,
                "auditLog(first: 1) { nodes { action detail } }",
            )
            .payload()
            .await;
        assert_eq!(audit["auditLog"]["nodes"][0]["action"], "TENANT_UPDATED");
        assert_eq!(
            audit["auditLog"]["nodes"][0]["detail"]["riskAcceptanceRequiresApproval"],
            json!({ "from": false, "to": true })
        );

        // Now a direct RISK_ACCEPTED is refused, also in a bulk change and an undo.
        let p = set("MFARegistrationV2", &t.operator).payload().await;
        assert_eq!(code(&p), "APPROVAL_REQUIRED", "{p:#}");
        assert!(
            p["userErrors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("requestRiskAcceptance")
        );
        let p = set("MFARegistrationV2", &t.admin).payload().await;
        assert_eq!(code(&p), "APPROVAL_REQUIRED", "ADMINs too: {p:#}");
        let bulk = app
            .bulk_set_action_status(
                &t.operator,
                json!({ "tenantSlug": t.slug, "items": [
                    { "controlId": "MFARegistrationV2", "status": "PLANNED" },
                    { "controlId": "SelfServicePasswordReset", "status": "RISK_ACCEPTED" },
                ] }),
                "userErrors { field code }",
            )
            .payload()
            .await;
        assert_eq!(bulk["userErrors"][0]["code"], "APPROVAL_REQUIRED", "{bulk:#}");
        assert_eq!(
            action(&app, &t, "MFARegistrationV2").await["status"],
            "TO_ADDRESS"
        );
        // Moving the accepted action away and undoing it would restore RISK_ACCEPTED: refused.
        set_status(&app, &t, "AdminMFAV2", "PLANNED").await;
        let undo = app
            .undo_action_status(
                &t.operator,
                json!({ "tenantSlug": t.slug, "controlId": "AdminMFAV2" }),
                "userErrors { code }",
            )
            .payload()
            .await;
        assert_eq!(code(&undo), "APPROVAL_REQUIRED", "{undo:#}");
        // Other statuses are unaffected.
        set_status(&app, &t, "MFARegistrationV2", "RESOLVED_THIRD_PARTY").await;

        // The governed way still works.
        let req = requested(&app, &t, "SelfServicePasswordReset", days_ahead(30)).await;
        let p = approve(&app, &t.admin, &req["id"])
            .await
            .payload_of("approveRiskAcceptance");
        ok(&p);
        assert_eq!(p["action"]["status"], "RISK_ACCEPTED");
        // Re-applying what holds is still a no-op, not a refusal.
        let review_by = p["action"]["reviewBy"].clone();
        let same = app
            .set_action_status(
                &t.operator,
                json!({ "tenantSlug": t.slug, "controlId": "SelfServicePasswordReset", "status": "RISK_ACCEPTED",
                        "reviewBy": review_by }),
                "changed userErrors { code }",
            )
            .payload()
            .await;
        ok(&same);
        assert_eq!(same["changed"], false);

        // Off again: allowed again.
        let p = app
            .update_tenant(
                &t.admin,
                json!({ "slug": t.slug, "riskAcceptanceRequiresApproval": false }),
                "userErrors { code }",
            )
            .payload()
            .await;
        ok(&p);
        let p = set("MFARegistrationV2", &t.operator).payload().await;
        ok(&p);
    }
);

db_test!(
    an_accepted_risk_expires_at_its_review_date_and_another_change_ends_it,
    |app| {
        let t = app.tenant().create().await;
        let admin2 = another_admin(&app, &t).await;
        let req = requested(&app, &t, "AdminMFAV2", days_ahead(30)).await;
        ok(&approve(&app, &admin2, &req["id"])
            .await
            .payload_of("approveRiskAcceptance"));

        app.pass_review_date(&t, "AdminMFAV2").await;
        let a = action(&app, &t, "AdminMFAV2").await;
        assert_eq!(a["status"], "TO_ADDRESS");
        assert_eq!(a["reviewBy"], Value::Null);
        let history = events(&app, &t, "AdminMFAV2", "kind statusBefore statusAfter").await;
        assert_eq!(
            history.last().unwrap(),
            &json!({ "kind": "EXPIRED", "statusBefore": "RISK_ACCEPTED", "statusAfter": "TO_ADDRESS" })
        );
        assert!(register(&app, &t.reader, &t, Value::Null).await.is_empty());
        let expired = register(&app, &t.reader, &t, json!({ "expired": true })).await;
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0]["state"], "EXPIRED");
        assert_eq!(expired[0]["approvedBy"], "second admin");
        assert!(expired[0]["endedAt"].is_string());
        assert!(
            register(
                &app,
                &t.reader,
                &t,
                json!({ "state": ["EXPIRED"], "expired": false })
            )
            .await
            .is_empty()
        );

        // Accepted again, then moved away by a status change: ENDED, and a new request is possible.
        let req = requested(&app, &t, "AdminMFAV2", days_ahead(30)).await;
        ok(&approve(&app, &admin2, &req["id"])
            .await
            .payload_of("approveRiskAcceptance"));
        set_status(&app, &t, "AdminMFAV2", "PLANNED").await;
        let ended = register(&app, &t.reader, &t, json!({ "state": ["ENDED"] })).await;
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0]["id"], req["id"]);
        requested(&app, &t, "AdminMFAV2", days_ahead(30)).await;
    }
);

db_test!(
    reminders_are_sent_once_per_threshold_before_the_review_date,
    |app| {
        let t = app.tenant().create().await;
        let admin2 = another_admin(&app, &t).await;
        let review_by = days_ahead(60);
        let req = requested(&app, &t, "AdminMFAV2", review_by).await;
        ok(&approve(&app, &admin2, &req["id"])
            .await
            .payload_of("approveRiskAcceptance"));
        let soon = requested(&app, &t, "MFARegistrationV2", days_ahead(10)).await;
        ok(&approve(&app, &admin2, &soon["id"])
            .await
            .payload_of("approveRiskAcceptance"));

        let entry = |entries: Vec<Value>| {
            entries
                .into_iter()
                .find(|e| e["id"] == req["id"])
                .expect("the acceptance is in the register")
        };
        let count_at = |days_before: i64| {
            let app = &app;
            async move {
                send_reminders(&app.db, review_by - Duration::days(days_before))
                    .await
                    .expect("reminders sent")
            }
        };
        // Far from the review date nothing is due for the 60-day one (the 10-day one gets its 30).
        let e = entry(register(&app, &t.reader, &t, Value::Null).await);
        assert_eq!(
            (e["remindersSent"].clone(), e["lastReminderDays"].clone()),
            (json!(0), Value::Null)
        );
        let first = send_reminders(&app.db, Utc::now()).await.unwrap();
        assert_eq!(first, 1, "only the acceptance 10 days ahead is within 30 days");
        assert_eq!(send_reminders(&app.db, Utc::now()).await.unwrap(), 0, "sent once");

        assert_eq!(count_at(29).await, 1, "the 30-day reminder");
        assert_eq!(count_at(29).await, 0, "not twice");
        let e = entry(register(&app, &t.reader, &t, Value::Null).await);
        assert_eq!(
            (e["remindersSent"].clone(), e["lastReminderDays"].clone()),
            (json!(1), json!(30))
        );

        // Two sweeps at once (two processes) send the 7-day reminder once.
        let (a, b) = tokio::join!(count_at(6), count_at(6));
        assert_eq!(a + b, 1, "one of the sweeps sent it: {a} + {b}");
        let e = entry(register(&app, &t.reader, &t, Value::Null).await);
        assert_eq!(
            (e["remindersSent"].clone(), e["lastReminderDays"].clone()),
            (json!(2), json!(7))
        );

        // The register's expiring filter.
        let expiring = register(&app, &t.reader, &t, json!({ "expiringWithinDays": 30 })).await;
        let ids: Vec<&Value> = expiring.iter().map(|e| &e["id"]).collect();
        assert_eq!(ids, [&soon["id"]]);
        assert_eq!(expiring[0]["daysLeft"], 10);
    }
);

db_test!(
    a_tenants_own_reminder_days_decide_when_reminders_go_and_bad_lists_change_nothing,
    |app| {
        let t = app.tenant().create().await;
        let other = app.tenant().create().await;
        async fn reminder_days(app: &TestApp, t: &TenantFixture) -> Value {
            app.query_tenant(&t.reader, &t.slug, "reminderDays")
                .payload()
                .await["reminderDays"]
                .clone()
        }
        async fn last_reminder(app: &TestApp, t: &TenantFixture) -> Value {
            register(app, &t.reader, t, Value::Null).await[0]["lastReminderDays"].clone()
        }
        let set = |t: &TenantFixture, token: &str, days: Value| {
            app.update_tenant(
                token,
                json!({ "slug": t.slug, "reminderDays": days }),
                "tenant { reminderDays } userErrors { field code message }",
            )
        };
        assert_eq!(reminder_days(&app, &t).await, json!([30, 7, 1]), "the default");

        // Refused lists change nothing; an OPERATOR may not change them.
        for bad in [
            json!([]),
            json!([0]),
            json!([366]),
            json!([7, 7]),
            json!([1, 2, 3, 4, 5, 6]),
        ] {
            let p = set(&t, &t.admin, bad.clone()).payload().await;
            assert_eq!(code(&p), "BAD_USER_INPUT", "{bad}: {p:#}");
            assert_eq!(
                p["userErrors"][0]["field"],
                json!(["input", "reminderDays"]),
                "{p:#}"
            );
        }
        let body = set(&t, &t.operator, json!([14])).send().await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");
        // Another tenant's ADMIN is answered as for a tenant that does not exist.
        let across = set(&t, &other.admin, json!([14])).send().await;
        let missing = app
            .update_tenant(
                &other.admin,
                json!({ "slug": "no-such-tenant", "reminderDays": [14] }),
                "tenant { reminderDays } userErrors { field code message }",
            )
            .send()
            .await;
        assert_eq!(code(&across["data"]["updateTenant"]), "NOT_FOUND", "{across:#}");
        assert_eq!(across, missing, "the same answer");
        assert_eq!(reminder_days(&app, &t).await, json!([30, 7, 1]));

        // Any order, kept largest first; the other tenant keeps the default.
        let p = set(&t, &t.admin, json!([2, 14])).payload().await;
        ok(&p);
        assert_eq!(p["tenant"]["reminderDays"], json!([14, 2]));
        assert_eq!(reminder_days(&app, &t).await, json!([14, 2]));
        assert_eq!(reminder_days(&app, &other).await, json!([30, 7, 1]));

        // Both tenants accept a risk for 20 days: the default's 30-day reminder goes to the other
        // tenant at once; this one's first comes at 14 days, then at 2, and never at 7.
        let review_by = days_ahead(20);
        for t in [&t, &other] {
            let admin2 = another_admin(&app, t).await;
            let req = requested(&app, t, "AdminMFAV2", review_by).await;
            ok(&approve(&app, &admin2, &req["id"])
                .await
                .payload_of("approveRiskAcceptance"));
        }
        let at = |days_before: i64| {
            let app = &app;
            async move {
                send_reminders(&app.db, review_by - Duration::days(days_before))
                    .await
                    .expect("reminders sent")
            }
        };
        assert_eq!(send_reminders(&app.db, Utc::now()).await.unwrap(), 1);
        assert_eq!(last_reminder(&app, &other).await, json!(30));
        assert_eq!(last_reminder(&app, &t).await, Value::Null, "20 days is beyond 14");
        assert_eq!(at(13).await, 1, "the 14-day reminder");
        assert_eq!(last_reminder(&app, &t).await, json!(14));
        assert_eq!(at(13).await, 0, "once");
        assert_eq!(at(6).await, 1, "the other tenant's 7-day one; none here");
        assert_eq!(last_reminder(&app, &t).await, json!(14));
        assert_eq!(last_reminder(&app, &other).await, json!(7));
        assert_eq!(
            at(1).await,
            2,
            "this tenant's 2-day reminder and the other's 1-day one"
        );
        assert_eq!(last_reminder(&app, &t).await, json!(2));
    }
);
