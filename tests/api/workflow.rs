//! The workflow on improvement actions (issue 4, SPEC §2, §5, §6, §10): statuses and their effect
//! on every score view, the system-only COMPLETED status and the lock, device exceptions,
//! optimistic concurrency, bulk changes, progress (completion and regression), expiry of review
//! dates, undo, notes, tags, share links, the event log, parallel writers, roles and tenant
//! isolation.
//!
//! The tenants use the real catalog. Expected scores are computed here from the controls'
//! `maxPoints` (e.g. AdminMFAV2 = 10 points, no licence needed; BlockLegacyAuthentication = 8,
//! needs AAD_P1 which the test tenants don't hold).

use crate::db_test;
use crate::helpers::*;
use chrono::{Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use securescore::domain::enums::Role;
use securescore::service::access::tenants;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

const SCORE_FIELDS: &str = "maxScore { points } current { points percentage } planned { points percentage } \
     achievable { points percentage } verified { points percentage } currentLicense { points percentage }";

const ACTION_FIELDS: &str =
    "id controlId status implemented total maxPoints pointsAchieved licensed version reviewBy";

/// The six score views of a tenant, in points.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Views {
    max: f64,
    current: f64,
    planned: f64,
    achievable: f64,
    verified: f64,
    current_license: f64,
}

impl Views {
    fn from_score(score: &Value) -> Views {
        let p = |k: &str| {
            score[k]["points"]
                .as_f64()
                .unwrap_or_else(|| panic!("{k} in {score:#}"))
        };
        let max = p("maxScore");
        // Each view's percentage is its points over the maximum, rounded to 2 places.
        for k in ["current", "planned", "achievable", "verified", "currentLicense"] {
            let expected = if max == 0.0 {
                0.0
            } else {
                round2(p(k) / max * 100.0)
            };
            let got = score[k]["percentage"].as_f64().expect("percentage");
            assert!(
                (got - expected).abs() < 0.011,
                "{k} percentage {got} != {expected} in {score:#}"
            );
        }
        Views {
            max,
            current: p("current"),
            planned: p("planned"),
            achievable: p("achievable"),
            verified: p("verified"),
            current_license: p("currentLicense"),
        }
    }

    /// These views with some points added to each (in the order of the fields).
    fn plus(self, current: f64, planned: f64, achievable: f64, verified: f64, current_license: f64) -> Views {
        Views {
            max: self.max,
            current: self.current + current,
            planned: self.planned + planned,
            achievable: self.achievable + achievable,
            verified: self.verified + verified,
            current_license: self.current_license + current_license,
        }
    }

    fn assert_eq(&self, other: &Views, why: &str) {
        let pairs = [
            ("max", self.max, other.max),
            ("current", self.current, other.current),
            ("planned", self.planned, other.planned),
            ("achievable", self.achievable, other.achievable),
            ("verified", self.verified, other.verified),
            ("currentLicense", self.current_license, other.current_license),
        ];
        for (name, a, b) in pairs {
            assert!(
                (a - b).abs() < 0.006,
                "{why}: {name} is {a}, expected {b}\n got {self:?}\nwant {other:?}"
            );
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The points one action achieves (SPEC §2).
fn achieved(a: &Value) -> f64 {
    let max = a["maxPoints"].as_f64().unwrap();
    let (implemented, total) = (a["implemented"].as_f64().unwrap(), a["total"].as_f64().unwrap());
    let progress = if total == 0.0 { 0.0 } else { implemented / total };
    match a["status"].as_str().unwrap() {
        "TO_ADDRESS" | "PLANNED" => max * progress,
        "RISK_ACCEPTED" => 0.0,
        _ => max,
    }
}

/// The score views recomputed from the actions' statuses and progress (SPEC §3).
fn expected_views(actions: &[Value]) -> Views {
    let mut v = Views {
        max: 0.0,
        current: 0.0,
        planned: 0.0,
        achievable: 0.0,
        verified: 0.0,
        current_license: 0.0,
    };
    for a in actions {
        let max = a["maxPoints"].as_f64().unwrap();
        let got = achieved(a);
        let status = a["status"].as_str().unwrap();
        let licensed = a["licensed"].as_bool().unwrap();
        v.max += max;
        v.current += got;
        v.planned += if status == "PLANNED" { max } else { got };
        v.current_license += if licensed { max } else { got };
        v.achievable += if licensed && status != "RISK_ACCEPTED" {
            max
        } else {
            got
        };
        if !matches!(status, "RESOLVED_THIRD_PARTY" | "RESOLVED_ALTERNATE_MITIGATION") {
            v.verified += got;
        }
    }
    v
}

/// Every action of the tenant, whatever its status.
async fn all_actions(app: &TestApp, t: &TenantFixture) -> Vec<Value> {
    let args = json!({ "filter": { "statuses": ALL_STATUSES }, "first": 100 });
    let conn = &app
        .query_actions(
            &t.reader,
            &t.slug,
            args,
            &format!("totalCount nodes {{ {ACTION_FIELDS} }}"),
        )
        .payload()
        .await;
    let nodes = conn["nodes"].as_array().unwrap().clone();
    assert_eq!(
        conn["totalCount"].as_u64().unwrap() as usize,
        nodes.len(),
        "all actions fit one page"
    );
    nodes
}

/// The tenant's score as a following query reads it.
async fn tenant_views(app: &TestApp, t: &TenantFixture) -> Views {
    let fields = format!("secureScore {{ {SCORE_FIELDS} }}");
    let tenant = app.query_tenant(&t.reader, &t.slug, &fields).payload().await;
    Views::from_score(&tenant["secureScore"])
}

/// One action by control id.
async fn action(app: &TestApp, t: &TenantFixture, control: &str) -> Value {
    let fields = format!("{ACTION_FIELDS} notes {{ id body authorName }} tags {{ id name color }}");
    let a = app
        .query_action(&t.reader, &t.slug, control, &fields)
        .payload()
        .await;
    assert!(a.is_object(), "tenant has an action for {control}");
    a
}

/// The history of one action, oldest first.
async fn history(app: &TestApp, t: &TenantFixture, control: &str) -> Vec<Value> {
    let events = "totalCount nodes { id kind actor controlId statusBefore statusAfter pointsBefore pointsAfter \
                  pointsDelta comment data }";
    action_history(app, t, control, events).await
}

/// Calls `setActionStatus` on an action named by tenant slug and control id; returns the payload.
async fn set_status(
    app: &TestApp,
    token: &str,
    t: &TenantFixture,
    control: &str,
    status: &str,
    extra: Value,
) -> Value {
    let input = merged(
        json!({ "tenantSlug": t.slug, "controlId": control, "status": status }),
        extra,
    );
    app.set_action_status(token, input, &changed_fields())
        .payload()
        .await
}

/// The payload fields of a change to one action: the action and the tenant's score.
fn changed_fields() -> String {
    format!("action {{ {ACTION_FIELDS} }} score {{ {SCORE_FIELDS} }} userErrors {{ field message code }}")
}

/// Sets a status that must succeed; returns the payload.
async fn set_ok(app: &TestApp, t: &TenantFixture, control: &str, status: &str, extra: Value) -> Value {
    let p = set_status(app, &t.operator, t, control, status, extra).await;
    assert_eq!(p["userErrors"], json!([]), "{control} → {status}: {p:#}");
    assert_eq!(p["action"]["status"], status);
    p
}

/// The code of the only user error of a payload.
fn user_error_code(p: &Value) -> &str {
    let errors = p["userErrors"]
        .as_array()
        .unwrap_or_else(|| panic!("userErrors in {p:#}"));
    assert_eq!(errors.len(), 1, "one user error: {p:#}");
    errors[0]["code"].as_str().unwrap()
}

async fn progress(app: &TestApp, t: &TenantFixture, control: &str, implemented: i64, total: i64) -> Value {
    let input =
        json!({ "tenantSlug": t.slug, "controlId": control, "implemented": implemented, "total": total });
    let p = app
        .record_implementation_progress(&t.operator, input, &changed_fields())
        .payload()
        .await;
    assert_eq!(
        p["userErrors"],
        json!([]),
        "progress {implemented}/{total} on {control}: {p:#}"
    );
    p
}

async fn device_exception(
    app: &TestApp,
    t: &TenantFixture,
    control: &str,
    scope: &str,
    justification: &str,
) -> Value {
    let input = json!({
        "tenantSlug": t.slug, "controlId": control, "scope": scope, "justification": justification,
        "comment": format!("{scope} {justification} exception"),
    });
    let fields = format!(
        "exception {{ id scope justification comment expiresAt }} {}",
        changed_fields()
    );
    app.record_device_exception(&t.operator, input, &fields)
        .payload()
        .await
}

/// Events of an action in the database (whatever the API shows).
async fn event_count(app: &TestApp, t: &TenantFixture) -> usize {
    entity::action_event::Entity::find()
        .filter(entity::action_event::Column::TenantId.eq(t.id))
        .all(&app.db)
        .await
        .unwrap()
        .len()
}

/// A second principal with `role` on the tenant; returns its token.
async fn another_principal(app: &TestApp, t: &TenantFixture, name: &str, role: Role) -> String {
    let now = Utc::now();
    let p = tenants::create_principal(&app.db, &format!("{name} {}", t.slug), "USER", now)
        .await
        .unwrap();
    tenants::grant_role(&app.db, p.id, t.id, role, now).await.unwrap();
    tenants::issue_token(&app.db, p.id, "test", None, None, now)
        .await
        .unwrap()
        .0
}

db_test!(each_status_moves_every_score_view_as_the_spec_says, |app| {
    let t = app.tenant().create().await;
    let base = tenant_views(&app, &t).await;
    let actions = all_actions(&app, &t).await;
    expected_views(&actions).assert_eq(&base, "the untouched tenant");
    let mfa = actions.iter().find(|a| a["controlId"] == "AdminMFAV2").unwrap();
    let m = mfa["maxPoints"].as_f64().unwrap();
    assert_eq!(m, 10.0);
    assert_eq!(mfa["licensed"], true, "AdminMFAV2 needs no licence");

    // (status, Δcurrent, Δplanned, Δachievable, Δverified, ΔcurrentLicense, points achieved)
    let cases = [
        ("PLANNED", 0.0, m, 0.0, 0.0, 0.0, 0.0),
        ("RISK_ACCEPTED", 0.0, 0.0, -m, 0.0, 0.0, 0.0),
        ("RESOLVED_THIRD_PARTY", m, m, 0.0, 0.0, 0.0, m),
        ("RESOLVED_ALTERNATE_MITIGATION", m, m, 0.0, 0.0, 0.0, m),
        ("TO_ADDRESS", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    ];
    for (status, dc, dp, da, dv, dl, points) in cases {
        let p = set_ok(&app, &t, "AdminMFAV2", status, json!({})).await;
        assert_eq!(p["action"]["pointsAchieved"].as_f64(), Some(points), "{status}");
        let want = base.plus(dc, dp, da, dv, dl);
        Views::from_score(&p["score"]).assert_eq(&want, &format!("payload score after {status}"));
        tenant_views(&app, &t)
            .await
            .assert_eq(&want, &format!("tenant score after {status}"));
        expected_views(&all_actions(&app, &t).await).assert_eq(&want, &format!("recomputed after {status}"));
    }

    // An action the tenant is not licensed for: claims count towards currentLicense and
    // achievable too, a risk acceptance changes nothing.
    let legacy = action(&app, &t, "BlockLegacyAuthentication").await;
    assert_eq!(legacy["licensed"], false);
    let l = legacy["maxPoints"].as_f64().unwrap();
    let p = set_ok(&app, &t, "BlockLegacyAuthentication", "RISK_ACCEPTED", json!({})).await;
    Views::from_score(&p["score"]).assert_eq(&base, "unlicensed risk acceptance");
    let p = set_ok(
        &app,
        &t,
        "BlockLegacyAuthentication",
        "RESOLVED_THIRD_PARTY",
        json!({}),
    )
    .await;
    let want = base.plus(l, l, l, 0.0, l);
    Views::from_score(&p["score"]).assert_eq(&want, "unlicensed third-party resolution");
    tenant_views(&app, &t)
        .await
        .assert_eq(&want, "tenant score after the unlicensed resolution");

    // Partial credit: a PLANNED action with a quarter done.
    progress(&app, &t, "AdminMFAV2", 1, 4).await;
    let p = set_ok(&app, &t, "AdminMFAV2", "PLANNED", json!({})).await;
    assert_eq!(p["action"]["pointsAchieved"].as_f64(), Some(2.5));
    let want = want.plus(2.5, m, 0.0, 2.5, 0.0);
    Views::from_score(&p["score"]).assert_eq(&want, "planned with partial progress");
    expected_views(&all_actions(&app, &t).await).assert_eq(&want, "recomputed with partial progress");

    // The same status again is a no-op (tests/api/idempotency.rs has the details).
    let p = set_ok(&app, &t, "AdminMFAV2", "PLANNED", json!({})).await;
    assert_eq!(p["action"]["pointsAchieved"].as_f64(), Some(2.5));
    Views::from_score(&p["score"]).assert_eq(&want, "the same status again");
});

db_test!(
    completed_cannot_be_set_by_hand_and_a_completed_action_is_locked,
    |app| {
        let t = app.tenant().create().await;
        let base = tenant_views(&app, &t).await;
        let p = set_status(&app, &t.operator, &t, "AdminMFAV2", "COMPLETED", json!({})).await;
        assert_eq!(user_error_code(&p), "BAD_USER_INPUT", "{p:#}");
        assert_eq!(p["action"], Value::Null);
        assert_eq!(action(&app, &t, "AdminMFAV2").await["status"], "TO_ADDRESS");
        assert_eq!(event_count(&app, &t).await, 0, "a refused change writes no event");

        let p = progress(&app, &t, "AdminMFAV2", 3, 3).await;
        assert_eq!(p["action"]["status"], "COMPLETED");
        assert_eq!(p["action"]["pointsAchieved"].as_f64(), Some(10.0));
        let want = base.plus(10.0, 10.0, 0.0, 10.0, 0.0);
        Views::from_score(&p["score"]).assert_eq(&want, "completed");
        tenant_views(&app, &t)
            .await
            .assert_eq(&want, "completed (tenant)");
        let version = p["action"]["version"].clone();

        for status in ["TO_ADDRESS", "PLANNED", "RISK_ACCEPTED", "RESOLVED_THIRD_PARTY"] {
            let p = set_status(&app, &t.operator, &t, "AdminMFAV2", status, json!({})).await;
            assert_eq!(user_error_code(&p), "STATUS_LOCKED", "{status}: {p:#}");
        }
        let a = action(&app, &t, "AdminMFAV2").await;
        assert_eq!(a["status"], "COMPLETED");
        assert_eq!(a["version"], version);
        let h = history(&app, &t, "AdminMFAV2").await;
        assert_eq!(kinds(&h), ["COMPLETED"]);
        assert_eq!(h[0]["statusBefore"], "TO_ADDRESS");
        assert_eq!(h[0]["statusAfter"], "COMPLETED");
        assert_eq!(h[0]["pointsAfter"].as_f64(), Some(10.0));
    }
);

db_test!(device_actions_change_status_only_through_exceptions, |app| {
    let t = app
        .tenant()
        .services(&["AzureAD", "EXO", "MDO", "MDATP"])
        .create()
        .await;
    let base = tenant_views(&app, &t).await;
    let p = set_status(&app, &t.operator, &t, "scid_2010", "PLANNED", json!({})).await;
    assert_eq!(user_error_code(&p), "DEVICE_STATUS_MANAGED_EXTERNALLY", "{p:#}");
    assert_eq!(action(&app, &t, "scid_2010").await["status"], "TO_ADDRESS");

    let device = action(&app, &t, "scid_2010").await;
    let m = device["maxPoints"].as_f64().unwrap();
    assert_eq!(device["licensed"], false, "the test tenant holds no MDE_P2");
    // An unlicensed action: claims raise current, planned, achievable and currentLicense.
    let cases = [
        (
            "THIRD_PARTY_CONTROL",
            "RESOLVED_THIRD_PARTY",
            base.plus(m, m, m, 0.0, m),
        ),
        (
            "ALTERNATE_MITIGATION",
            "RESOLVED_ALTERNATE_MITIGATION",
            base.plus(m, m, m, 0.0, m),
        ),
        ("RISK_ACCEPTED", "RISK_ACCEPTED", base),
        ("PLANNED_REMEDIATION", "PLANNED", base.plus(0.0, m, 0.0, 0.0, 0.0)),
    ];
    for (justification, status, want) in cases {
        let p = device_exception(&app, &t, "scid_2010", "GLOBAL", justification).await;
        assert_eq!(p["userErrors"], json!([]), "{justification}: {p:#}");
        assert_eq!(p["exception"]["scope"], "GLOBAL");
        assert_eq!(p["exception"]["justification"], justification);
        assert_eq!(p["action"]["status"], status, "{justification}");
        Views::from_score(&p["score"]).assert_eq(&want, justification);
        tenant_views(&app, &t).await.assert_eq(&want, justification);
    }
    let h = history(&app, &t, "scid_2010").await;
    assert_eq!(kinds(&h), ["EXCEPTION_RECORDED"; 4]);
    let after: Vec<&str> = h.iter().map(|e| e["statusAfter"].as_str().unwrap()).collect();
    assert_eq!(
        after,
        [
            "RESOLVED_THIRD_PARTY",
            "RESOLVED_ALTERNATE_MITIGATION",
            "RISK_ACCEPTED",
            "PLANNED"
        ]
    );

    // A DEVICE_GROUP exception is recorded but leaves the status TO_ADDRESS.
    for justification in ["THIRD_PARTY_CONTROL", "RISK_ACCEPTED"] {
        let p = device_exception(&app, &t, "scid_2012", "DEVICE_GROUP", justification).await;
        assert_eq!(p["userErrors"], json!([]), "{p:#}");
        assert_eq!(p["exception"]["scope"], "DEVICE_GROUP");
        assert_eq!(p["action"]["status"], "TO_ADDRESS");
    }
    let h = history(&app, &t, "scid_2012").await;
    assert_eq!(kinds(&h), ["EXCEPTION_RECORDED"; 2]);
    assert_eq!(action(&app, &t, "scid_2012").await["status"], "TO_ADDRESS");

    // Exceptions are for DEVICE actions only.
    let p = device_exception(&app, &t, "AdminMFAV2", "GLOBAL", "RISK_ACCEPTED").await;
    assert_eq!(user_error_code(&p), "BAD_USER_INPUT");
});

db_test!(a_stale_expected_version_is_a_conflict_and_writes_nothing, |app| {
    let t = app.tenant().create().await;
    let v0 = action(&app, &t, "AdminMFAV2").await["version"].as_i64().unwrap();
    let p = set_ok(
        &app,
        &t,
        "AdminMFAV2",
        "PLANNED",
        json!({ "expectedVersion": v0 }),
    )
    .await;
    let v1 = p["action"]["version"].as_i64().unwrap();
    assert!(v1 > v0, "a change bumps the version");
    let events = event_count(&app, &t).await;

    let p = set_status(
        &app,
        &t.operator,
        &t,
        "AdminMFAV2",
        "RISK_ACCEPTED",
        json!({ "expectedVersion": v0 }),
    )
    .await;
    assert_eq!(user_error_code(&p), "CONFLICT", "{p:#}");
    assert_eq!(p["action"], Value::Null);
    let a = action(&app, &t, "AdminMFAV2").await;
    assert_eq!(a["status"], "PLANNED");
    assert_eq!(a["version"].as_i64(), Some(v1));
    assert_eq!(
        event_count(&app, &t).await,
        events,
        "no event for a conflicting change"
    );
    assert_eq!(a["notes"], json!([]));

    // The current version works.
    set_ok(
        &app,
        &t,
        "AdminMFAV2",
        "RISK_ACCEPTED",
        json!({ "expectedVersion": v1 }),
    )
    .await;
});

const BULK: &str = "actions { controlId status version } score { current { points } planned { points } } \
     userErrors { field message code }";

async fn bulk(app: &TestApp, t: &TenantFixture, items: Value) -> Value {
    let input = json!({ "tenantSlug": t.slug, "items": items });
    app.bulk_set_action_status(&t.operator, input, BULK)
        .payload()
        .await
}

db_test!(
    a_bulk_change_with_one_bad_item_writes_nothing_and_names_the_item,
    |app| {
        let t = app.tenant().create().await;
        let before = all_actions(&app, &t).await;
        let items = json!([
            { "controlId": "AdminMFAV2", "status": "PLANNED" },
            { "controlId": "MFARegistrationV2", "status": "RISK_ACCEPTED" },
            { "controlId": "PWAgePolicyNew", "status": "COMPLETED" },
        ]);
        let p = &bulk(&app, &t, items).await;
        let errors = p["userErrors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{p:#}");
        assert_eq!(errors[0]["code"], "BAD_USER_INPUT");
        assert_eq!(
            errors[0]["field"].as_array().unwrap()[..3],
            [json!("input"), json!("items"), json!("2")]
        );
        assert_eq!(p["actions"], json!([]));
        assert_eq!(all_actions(&app, &t).await, before, "nothing written");
        assert_eq!(event_count(&app, &t).await, 0);

        // Several bad items are each named; an unknown control is NOT_FOUND, and an item asking
        // for the status it has is a no-op, not a failure.
        let items = json!([
            { "controlId": "AdminMFAV2", "status": "PLANNED" },
            { "controlId": "NoSuchControl", "status": "PLANNED" },
            { "controlId": "AdminMFAV2", "status": "RISK_ACCEPTED" },
            { "controlId": "IntegratedApps", "status": "TO_ADDRESS" },
            { "controlId": "PWAgePolicyNew", "status": "COMPLETED" },
        ]);
        let errors = bulk(&app, &t, items).await["userErrors"]
            .as_array()
            .unwrap()
            .clone();
        let named: Vec<(String, String)> = errors
            .iter()
            .map(|e| {
                (
                    e["field"][2].as_str().unwrap().to_string(),
                    e["code"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert!(named.contains(&("1".into(), "NOT_FOUND".into())), "{errors:#?}");
        assert!(
            named.iter().any(|(i, _)| i == "2"),
            "the duplicate is named: {errors:#?}"
        );
        assert!(
            named.contains(&("4".into(), "BAD_USER_INPUT".into())),
            "the COMPLETED item is named: {errors:#?}"
        );
        assert!(
            !named.iter().any(|(i, _)| i == "0" || i == "3"),
            "the good item and the no-op are not named: {errors:#?}"
        );
        for e in &errors {
            assert_eq!(e["field"][0], "input");
            assert_eq!(e["field"][1], "items");
        }
        assert_eq!(all_actions(&app, &t).await, before, "nothing written");

        // All good: all written, one event each, the score reflects them all.
        let items = json!([
            { "controlId": "AdminMFAV2", "status": "PLANNED" },
            { "controlId": "MFARegistrationV2", "status": "RESOLVED_THIRD_PARTY" },
            { "controlId": "PWAgePolicyNew", "status": "RISK_ACCEPTED" },
        ]);
        let p = &bulk(&app, &t, items).await;
        assert_eq!(p["userErrors"], json!([]), "{p:#}");
        let statuses: Vec<(&str, &str)> = p["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["controlId"].as_str().unwrap(), a["status"].as_str().unwrap()))
            .collect();
        assert_eq!(
            statuses,
            [
                ("AdminMFAV2", "PLANNED"),
                ("MFARegistrationV2", "RESOLVED_THIRD_PARTY"),
                ("PWAgePolicyNew", "RISK_ACCEPTED")
            ]
        );
        assert_eq!(p["score"]["current"]["points"].as_f64(), Some(9.0));
        assert_eq!(p["score"]["planned"]["points"].as_f64(), Some(19.0));
        assert_eq!(event_count(&app, &t).await, 3);
        expected_views(&all_actions(&app, &t).await)
            .assert_eq(&tenant_views(&app, &t).await, "after the bulk change");
    }
);

db_test!(
    progress_completes_an_action_and_a_regression_records_the_points_lost,
    |app| {
        let t = app.tenant().create().await;
        let base = tenant_views(&app, &t).await;
        let p = progress(&app, &t, "AdminMFAV2", 1, 4).await;
        assert_eq!(p["action"]["status"], "TO_ADDRESS");
        assert_eq!(p["action"]["pointsAchieved"].as_f64(), Some(2.5));
        Views::from_score(&p["score"]).assert_eq(&base.plus(2.5, 2.5, 0.0, 2.5, 0.0), "a quarter done");

        let p = progress(&app, &t, "AdminMFAV2", 4, 4).await;
        assert_eq!(p["action"]["status"], "COMPLETED");
        Views::from_score(&p["score"]).assert_eq(&base.plus(10.0, 10.0, 0.0, 10.0, 0.0), "all done");

        let p = progress(&app, &t, "AdminMFAV2", 2, 4).await;
        assert_eq!(p["action"]["status"], "TO_ADDRESS", "regressed");
        assert_eq!(p["action"]["pointsAchieved"].as_f64(), Some(5.0));
        let want = base.plus(5.0, 5.0, 0.0, 5.0, 0.0);
        Views::from_score(&p["score"]).assert_eq(&want, "regressed");
        tenant_views(&app, &t)
            .await
            .assert_eq(&want, "regressed (tenant)");

        let h = history(&app, &t, "AdminMFAV2").await;
        assert_eq!(kinds(&h), ["PROGRESS_CHANGED", "COMPLETED", "REGRESSED"]);
        let r = &h[2];
        assert_eq!(r["statusBefore"], "COMPLETED");
        assert_eq!(r["statusAfter"], "TO_ADDRESS");
        assert_eq!(r["pointsBefore"].as_f64(), Some(10.0));
        assert_eq!(r["pointsAfter"].as_f64(), Some(5.0));
        assert_eq!(r["pointsDelta"].as_f64(), Some(-5.0));
        assert_eq!(r["actor"], t_operator_name(&t));

        // Once regressed, the status is the user's again.
        set_ok(&app, &t, "AdminMFAV2", "PLANNED", json!({})).await;
        // Bad numbers are refused.
        let input = json!({ "tenantSlug": t.slug, "controlId": "AdminMFAV2", "implemented": 5, "total": 4 });
        let p = app
            .record_implementation_progress(&t.operator, input, "userErrors { field code }")
            .payload()
            .await;
        assert_eq!(p["userErrors"][0]["code"], "BAD_USER_INPUT");
    }
);

/// The name the fixture gives the operator principal.
fn t_operator_name(t: &TenantFixture) -> String {
    format!("operator {}", t.slug)
}

db_test!(
    a_risk_acceptance_past_its_review_date_returns_to_address_with_an_expired_event,
    |app| {
        let t = app.tenant().create().await;
        let base = tenant_views(&app, &t).await;

        let past = (Utc::now() - Duration::minutes(5)).to_rfc3339();
        let p = set_status(
            &app,
            &t.operator,
            &t,
            "AdminMFAV2",
            "RISK_ACCEPTED",
            json!({ "reviewBy": past }),
        )
        .await;
        assert_eq!(
            user_error_code(&p),
            "BAD_USER_INPUT",
            "a review date in the past is refused"
        );
        let p = set_status(
            &app,
            &t.operator,
            &t,
            "AdminMFAV2",
            "PLANNED",
            json!({ "reviewBy": (Utc::now() + Duration::days(1)).to_rfc3339() }),
        )
        .await;
        assert_eq!(
            user_error_code(&p),
            "BAD_USER_INPUT",
            "PLANNED takes no review date"
        );

        let review_by = Utc::now() + Duration::hours(1);
        let p = set_ok(
            &app,
            &t,
            "AdminMFAV2",
            "RISK_ACCEPTED",
            json!({ "reviewBy": review_by.to_rfc3339() }),
        )
        .await;
        assert!(p["action"]["reviewBy"].is_string());
        Views::from_score(&p["score"]).assert_eq(&base.plus(0.0, 0.0, -10.0, 0.0, 0.0), "risk accepted");

        // The review date passes (moved in the database rather than waited for; like every
        // writer, the move bumps the tenant's state version, or cached states would not know).
        app.pass_review_date(&t, "AdminMFAV2").await;

        let a = action(&app, &t, "AdminMFAV2").await;
        assert_eq!(a["status"], "TO_ADDRESS");
        assert_eq!(a["reviewBy"], Value::Null);
        tenant_views(&app, &t).await.assert_eq(&base, "expired");
        let h = history(&app, &t, "AdminMFAV2").await;
        assert_eq!(kinds(&h), ["STATUS_CHANGED", "EXPIRED"]);
        assert_eq!(h[1]["statusBefore"], "RISK_ACCEPTED");
        assert_eq!(h[1]["statusAfter"], "TO_ADDRESS");
        assert_eq!(h[1]["actor"], "system");
        // Reading again expires nothing twice.
        action(&app, &t, "AdminMFAV2").await;
        assert_eq!(
            kinds(&history(&app, &t, "AdminMFAV2").await),
            ["STATUS_CHANGED", "EXPIRED"]
        );
    }
);

db_test!(undo_restores_the_previous_status_with_an_undone_event, |app| {
    let t = app.tenant().create().await;
    let input = json!({ "tenantSlug": t.slug, "controlId": "AdminMFAV2" });
    let undo = || {
        app.undo_action_status(&t.operator, input.clone(), &changed_fields())
            .payload()
    };
    let p = undo().await;
    assert_eq!(user_error_code(&p), "NOTHING_TO_UNDO", "nothing to undo: {p:#}");

    let base = tenant_views(&app, &t).await;
    set_ok(&app, &t, "AdminMFAV2", "PLANNED", json!({})).await;
    set_ok(&app, &t, "AdminMFAV2", "RESOLVED_THIRD_PARTY", json!({})).await;
    let p = undo().await;
    assert_eq!(p["userErrors"], json!([]), "{p:#}");
    assert_eq!(p["action"]["status"], "PLANNED");
    Views::from_score(&p["score"]).assert_eq(&base.plus(0.0, 10.0, 0.0, 0.0, 0.0), "undone");
    assert_eq!(action(&app, &t, "AdminMFAV2").await["status"], "PLANNED");
    let h = history(&app, &t, "AdminMFAV2").await;
    assert_eq!(kinds(&h), ["STATUS_CHANGED", "STATUS_CHANGED", "UNDONE"]);
    assert_eq!(h[2]["statusBefore"], "RESOLVED_THIRD_PARTY");
    assert_eq!(h[2]["statusAfter"], "PLANNED");
});

const NOTE: &str =
    "note { id body authorName } action { controlId notes { id body } } userErrors { field message code }";

db_test!(
    notes_are_added_edited_only_by_their_author_or_an_admin_and_deleted,
    |app| {
        let t = app.tenant().create().await;
        let add = |body: Value| {
            let input = json!({ "tenantSlug": t.slug, "controlId": "AdminMFAV2", "body": body });
            app.add_action_note(&t.operator, input, NOTE).payload()
        };

        let p = add(json!("Waiting for the change window.")).await;
        assert_eq!(p["userErrors"], json!([]), "{p:#}");
        assert_eq!(p["note"]["authorName"], t_operator_name(&t));
        let id = p["note"]["id"].as_str().unwrap().to_string();
        assert_eq!(p["action"]["notes"][0]["id"], id.as_str());

        // Too long, and empty.
        for body in ["x".repeat(10_001), "   ".to_string()] {
            let p = add(json!(body)).await;
            assert_eq!(user_error_code(&p), "BAD_USER_INPUT");
            assert_eq!(p["userErrors"][0]["field"], json!(["input", "body"]));
            let p = app
                .update_action_note(&t.operator, json!({ "id": id, "body": body }), NOTE)
                .payload()
                .await;
            assert_eq!(user_error_code(&p), "BAD_USER_INPUT");
        }
        let p = add(json!("y".repeat(10_000))).await;
        assert_eq!(p["userErrors"], json!([]), "10,000 characters are allowed");

        // Another operator may not edit or delete it; an admin and the author may.
        let other = another_principal(&app, &t, "other operator", Role::Operator).await;
        let body = app
            .update_action_note(&other, json!({ "id": id, "body": "hijacked" }), NOTE)
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");
        let body = app.delete_action_note(&other, json!({ "id": id }), NOTE).await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");

        let p = app
            .update_action_note(&t.admin, json!({ "id": id, "body": "Edited by an admin." }), NOTE)
            .payload()
            .await;
        assert_eq!(p["note"]["body"], "Edited by an admin.");
        let p = app
            .update_action_note(
                &t.operator,
                json!({ "id": id, "body": "Change window: Friday." }),
                NOTE,
            )
            .payload()
            .await;
        assert_eq!(p["note"]["body"], "Change window: Friday.");
        let notes = action(&app, &t, "AdminMFAV2").await["notes"].clone();
        assert!(
            notes
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["body"] == "Change window: Friday.")
        );

        let delete = || {
            app.delete_action_note(&t.operator, json!({ "id": id }), NOTE)
                .payload()
        };
        let p = delete().await;
        assert_eq!(p["userErrors"], json!([]));
        let notes = action(&app, &t, "AdminMFAV2").await["notes"].clone();
        assert!(
            !notes.as_array().unwrap().iter().any(|n| n["id"] == id.as_str()),
            "deleted"
        );
        let p = delete().await;
        assert_eq!(user_error_code(&p), "NOT_FOUND");

        let h = history(&app, &t, "AdminMFAV2").await;
        assert_eq!(
            kinds(&h),
            [
                "NOTE_ADDED",
                "NOTE_ADDED",
                "NOTE_EDITED",
                "NOTE_EDITED",
                "NOTE_DELETED"
            ]
        );
    }
);

const TAG: &str = "tag { id name color } userErrors { field message code }";

async fn create_tag(app: &TestApp, t: &TenantFixture, name: &str) -> Value {
    let input = json!({ "tenantSlug": t.slug, "name": name, "color": "#1F6FEB" });
    app.create_tag(&t.operator, input, TAG).payload().await
}

async fn tag_actions(app: &TestApp, t: &TenantFixture, add: bool, controls: &[&str], tags: &[&str]) -> Value {
    let input = json!({ "tenantSlug": t.slug, "controlIds": controls, "tagIds": tags });
    let fields = "actions { controlId tags { name } } userErrors { field message code }";
    let op = if add {
        app.add_action_tags(&t.operator, input, fields)
    } else {
        app.remove_action_tags(&t.operator, input, fields)
    };
    op.payload().await
}

async fn tagged(app: &TestApp, t: &TenantFixture, filter: Value) -> BTreeSet<String> {
    let args = json!({ "filter": filter, "first": 100 });
    app.query_actions(&t.reader, &t.slug, args, "nodes { controlId }")
        .payload()
        .await["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["controlId"].as_str().unwrap().to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

db_test!(
    tags_are_created_renamed_recoloured_attached_in_bulk_filtered_and_deleted,
    |app| {
        let t = app.tenant().create().await;
        let p = create_tag(&app, &t, "Q3 rollout").await;
        assert_eq!(p["userErrors"], json!([]), "{p:#}");
        assert_eq!(p["tag"]["color"], "#1f6feb");
        let q3 = p["tag"]["id"].as_str().unwrap().to_string();
        let p = create_tag(&app, &t, "quick win").await;
        let quick = p["tag"]["id"].as_str().unwrap().to_string();
        let p = create_tag(&app, &t, "Q3 ROLLOUT").await;
        assert_eq!(
            user_error_code(&p),
            "BAD_USER_INPUT",
            "names are unique case-insensitively"
        );
        let p = create_tag(&app, &t, &"n".repeat(65)).await;
        assert_eq!(user_error_code(&p), "BAD_USER_INPUT", "at most 64 characters");

        let update = |change: Value| {
            app.update_tag(&t.operator, merged(json!({ "id": q3 }), change), TAG)
                .payload()
        };
        let p = update(json!({ "name": "Q4 rollout" })).await;
        assert_eq!(p["tag"]["name"], "Q4 rollout");
        let p = update(json!({ "color": "#ff0000" })).await;
        assert_eq!(p["tag"]["name"], "Q4 rollout");
        assert_eq!(p["tag"]["color"], "#ff0000");
        let p = update(json!({ "color": "red" })).await;
        assert_eq!(user_error_code(&p), "BAD_USER_INPUT");
        let tenant = app
            .query_tenant(&t.reader, &t.slug, "tags { name color }")
            .payload()
            .await;
        assert_eq!(
            tenant["tags"],
            json!([{ "name": "Q4 rollout", "color": "#ff0000" }, { "name": "quick win", "color": "#1f6feb" }])
        );

        // Both tags on three actions in one call.
        let three = ["AdminMFAV2", "MFARegistrationV2", "IntegratedApps"];
        let p = tag_actions(&app, &t, true, &three, &[&q3, &quick]).await;
        assert_eq!(p["userErrors"], json!([]), "{p:#}");
        assert_eq!(p["actions"].as_array().unwrap().len(), 3);
        for a in p["actions"].as_array().unwrap() {
            assert_eq!(
                a["tags"],
                json!([{ "name": "Q4 rollout" }, { "name": "quick win" }])
            );
        }
        assert_eq!(
            tagged(&app, &t, json!({ "tagsAny": ["q4 rollout"] })).await,
            set(&three)
        );
        // Attaching again changes nothing.
        tag_actions(&app, &t, true, &three, &[&q3]).await;
        assert_eq!(
            kinds(&history(&app, &t, "AdminMFAV2").await),
            ["TAG_ADDED", "TAG_ADDED"]
        );

        let p = tag_actions(&app, &t, false, &["AdminMFAV2", "IntegratedApps"], &[&quick]).await;
        assert_eq!(p["userErrors"], json!([]), "{p:#}");
        assert_eq!(
            tagged(&app, &t, json!({ "tagsAny": ["quick win"] })).await,
            set(&["MFARegistrationV2"])
        );
        assert_eq!(
            tagged(&app, &t, json!({ "tagsAll": ["quick win", "Q4 rollout"] })).await,
            set(&["MFARegistrationV2"])
        );
        assert_eq!(
            tagged(&app, &t, json!({ "tagsAny": ["quick win", "Q4 rollout"] })).await,
            set(&three)
        );
        assert_eq!(
            kinds(&history(&app, &t, "AdminMFAV2").await),
            ["TAG_ADDED", "TAG_ADDED", "TAG_REMOVED"]
        );

        // All or nothing: an unknown control refuses the whole call.
        let p = tag_actions(&app, &t, true, &["PWAgePolicyNew", "NoSuchControl"], &[&quick]).await;
        assert_eq!(user_error_code(&p), "NOT_FOUND");
        assert_eq!(action(&app, &t, "PWAgePolicyNew").await["tags"], json!([]));

        let p = app
            .delete_tag(&t.operator, json!({ "id": q3 }), TAG)
            .payload()
            .await;
        assert_eq!(p["userErrors"], json!([]));
        assert_eq!(
            tagged(&app, &t, json!({ "tagsAny": ["Q4 rollout"] })).await,
            set(&[])
        );
        assert_eq!(action(&app, &t, "AdminMFAV2").await["tags"], json!([]));
        assert_eq!(
            action(&app, &t, "MFARegistrationV2").await["tags"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
);

db_test!(an_action_takes_at_most_fifty_tags, |app| {
    let t = app.tenant().create().await;
    let mut ids = Vec::new();
    for i in 0..51 {
        let p = create_tag(&app, &t, &format!("tag {i:02}")).await;
        assert_eq!(p["userErrors"], json!([]), "{p:#}");
        ids.push(p["tag"]["id"].as_str().unwrap().to_string());
    }
    let first: Vec<&str> = ids[..50].iter().map(String::as_str).collect();
    let p = tag_actions(&app, &t, true, &["AdminMFAV2"], &first).await;
    assert_eq!(p["userErrors"], json!([]), "50 tags are allowed");
    let p = tag_actions(&app, &t, true, &["AdminMFAV2"], &[&ids[50]]).await;
    assert_eq!(
        user_error_code(&p),
        "BAD_USER_INPUT",
        "the 51st is refused: {p:#}"
    );
    assert_eq!(
        action(&app, &t, "AdminMFAV2").await["tags"]
            .as_array()
            .unwrap()
            .len(),
        50
    );
});

const CREATE_LINK: &str = "shareLink { id platform createdBy expiresAt useCount revoked } token url mailtoUrl \
     teamsUrl plannerTask { title description } userErrors { field message code }";

const SHARED: &str = "query($token: String!) { sharedAction(token: $token) { title category service status \
     pointsAchieved maxPoints remediation actionUrl learnMoreUrls linkExpiresAt } }";

async fn create_link(app: &TestApp, t: &TenantFixture, control: &str, platform: &str) -> Value {
    let input = json!({ "tenantSlug": t.slug, "controlId": control, "platform": platform });
    let p = app
        .create_share_link(&t.operator, input, CREATE_LINK)
        .payload()
        .await;
    assert_eq!(p["userErrors"], json!([]), "{p:#}");
    p
}

async fn get_share(app: &TestApp, token: &str, json_accept: bool) -> reqwest::Response {
    let mut req = app.client.get(format!("{}/share/{token}", app.address));
    if json_accept {
        req = req.header("Accept", "application/json");
    }
    req.send().await.unwrap()
}

fn percent_encoded(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

db_test!(
    share_links_for_every_platform_open_a_reduced_view_without_a_token,
    |app| {
        let t = app.tenant().create().await;
        let mfa = action(&app, &t, "AdminMFAV2").await;
        // Things that must not leak through the link.
        let secret_note = "Internal: the CFO's account is exempt";
        let note = json!({ "tenantSlug": t.slug, "controlId": "AdminMFAV2", "body": secret_note });
        app.add_action_note(&t.operator, note, "userErrors { code }")
            .data()
            .await;
        let tag = create_tag(&app, &t, "secret-tag-name").await["tag"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        tag_actions(&app, &t, true, &["AdminMFAV2"], &[&tag]).await;

        let title = app
            .query_action(&t.reader, &t.slug, "AdminMFAV2", "title")
            .payload()
            .await["title"]
            .as_str()
            .unwrap()
            .to_string();

        for platform in ["LINK", "EMAIL", "TEAMS", "PLANNER"] {
            let p = create_link(&app, &t, "AdminMFAV2", platform).await;
            let token = p["token"].as_str().unwrap().to_string();
            assert!(token.len() >= 22, "at least 128 bits: {token}");
            assert!(
                token
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "URL-safe: {token}"
            );
            let url = p["url"].as_str().unwrap();
            assert!(url.ends_with(&format!("/share/{token}")), "{url}");
            assert!(url.starts_with("http"), "{url}");
            let link = &p["shareLink"];
            assert_eq!(link["platform"], platform);
            assert_eq!(link["createdBy"], t_operator_name(&t));
            assert_eq!(link["useCount"], 0);
            assert_eq!(link["revoked"], false);
            let expires: chrono::DateTime<Utc> = link["expiresAt"].as_str().unwrap().parse().unwrap();
            let days = (expires - Utc::now()).num_hours();
            assert!(
                (29 * 24..=30 * 24).contains(&days),
                "30 days by default: {expires}"
            );
            match platform {
                "LINK" => {
                    assert_eq!(p["mailtoUrl"], Value::Null);
                    assert_eq!(p["teamsUrl"], Value::Null);
                    assert_eq!(p["plannerTask"], Value::Null);
                }
                "EMAIL" => {
                    let mailto = p["mailtoUrl"].as_str().unwrap();
                    assert!(mailto.starts_with("mailto:?subject="), "{mailto}");
                    assert!(mailto.contains("&body="), "{mailto}");
                    assert!(
                        mailto.contains(&percent_encoded(url)),
                        "the body carries the link: {mailto}"
                    );
                }
                "TEAMS" => {
                    let teams = p["teamsUrl"].as_str().unwrap();
                    assert!(teams.starts_with("https://teams.microsoft.com/"), "{teams}");
                    assert!(teams.contains(&percent_encoded(url)), "{teams}");
                }
                "PLANNER" => {
                    let task = &p["plannerTask"];
                    assert!(task["title"].as_str().unwrap().contains(&title), "{task:#}");
                    assert!(task["description"].as_str().unwrap().contains(url), "{task:#}");
                }
                _ => unreachable!(),
            }

            // Without any Authorization header.
            let body = app.gql(None, SHARED, json!({ "token": token })).await;
            assert!(body.get("errors").is_none(), "{body:#}");
            let shared = &body["data"]["sharedAction"];
            assert_eq!(shared["title"], title.as_str());
            assert_eq!(shared["status"], "TO_ADDRESS");
            assert_eq!(shared["maxPoints"], mfa["maxPoints"]);
            let keys: BTreeSet<&str> = shared.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(
                keys,
                BTreeSet::from([
                    "title",
                    "category",
                    "service",
                    "status",
                    "pointsAchieved",
                    "maxPoints",
                    "remediation",
                    "actionUrl",
                    "learnMoreUrls",
                    "linkExpiresAt"
                ])
            );

            let resp = get_share(&app, &token, true).await;
            assert_eq!(resp.status(), 200);
            assert!(
                resp.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/json")
            );
            let view: Value = resp.json().await.unwrap();
            assert_eq!(view["title"], title.as_str());
            assert_eq!(&view, shared, "the JSON view is sharedAction's, field for field");
            let text = view.to_string();
            for leak in [
                secret_note,
                "secret-tag-name",
                t.slug.as_str(),
                "MFARegistrationV2",
            ] {
                assert!(!text.contains(leak), "the shared view leaks {leak:?}: {text}");
            }
            let keys: BTreeSet<&str> = view.as_object().unwrap().keys().map(String::as_str).collect();
            for k in &keys {
                assert!(
                    ![
                        "notes",
                        "tags",
                        "tenant",
                        "tenantId",
                        "tenantName",
                        "actionId",
                        "id",
                        "actions"
                    ]
                    .contains(k),
                    "unexpected key {k} in {view:#}"
                );
            }

            let resp = get_share(&app, &token, false).await;
            assert_eq!(resp.status(), 200);
            assert!(
                resp.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
            let html = resp.text().await.unwrap();
            assert!(html.contains(&title.replace('&', "&amp;")), "{html}");
            assert!(
                !html.contains(secret_note) && !html.contains("secret-tag-name") && !html.contains(&t.slug)
            );
        }

        // Each link was opened three times; the listing shows them all, newest first.
        let fields = "shareLinks { platform useCount lastUsedAt revoked createdBy }";
        let links = app
            .query_action(&t.reader, &t.slug, "AdminMFAV2", fields)
            .payload()
            .await["shareLinks"]
            .as_array()
            .unwrap()
            .clone();
        let platforms: Vec<&str> = links.iter().map(|l| l["platform"].as_str().unwrap()).collect();
        assert_eq!(platforms, ["PLANNER", "TEAMS", "EMAIL", "LINK"]);
        for l in &links {
            assert_eq!(l["useCount"], 3, "{l:#}");
            assert!(l["lastUsedAt"].is_string());
        }
        let h = history(&app, &t, "AdminMFAV2").await;
        assert_eq!(kinds(&h).iter().filter(|k| **k == "SHARED").count(), 4);
    }
);

db_test!(
    revoked_expired_and_unknown_share_tokens_get_the_same_not_found,
    |app| {
        let t = app.tenant().create().await;
        let revoked = create_link(&app, &t, "AdminMFAV2", "LINK").await;
        let expired = create_link(&app, &t, "AdminMFAV2", "EMAIL").await;
        let token = |p: &Value| p["token"].as_str().unwrap().to_string();
        assert_eq!(get_share(&app, &token(&revoked), true).await.status(), 200);

        let fields = "shareLink { revoked revokedAt } userErrors { code }";
        let id = revoked["shareLink"]["id"].clone();
        let body = app
            .revoke_share_link(&t.reader, json!({ "id": id }), fields)
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"));
        let p = app
            .revoke_share_link(&t.operator, json!({ "id": id }), fields)
            .payload()
            .await;
        assert_eq!(p["userErrors"], json!([]));
        assert_eq!(p["shareLink"]["revoked"], true);

        let done = entity::share_link::Entity::update_many()
            .col_expr(
                entity::share_link::Column::ExpiresAt,
                Expr::value(Utc::now() - Duration::minutes(1)),
            )
            .filter(entity::share_link::Column::TenantId.eq(t.id))
            .filter(entity::share_link::Column::Platform.eq("EMAIL"))
            .exec(&app.db)
            .await
            .unwrap();
        assert_eq!(done.rows_affected, 1);

        let unknown = format!("shr_{}", "A".repeat(43));
        let mut answers = Vec::new();
        for tok in [token(&revoked), token(&expired), unknown, "garbage".to_string()] {
            let body = app.gql(None, SHARED, json!({ "token": tok })).await;
            assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"), "{body:#}");
            assert_eq!(body["data"]["sharedAction"], Value::Null);
            let json_resp = get_share(&app, &tok, true).await;
            assert_eq!(json_resp.status(), 404);
            let json_body = json_resp.text().await.unwrap();
            let html_resp = get_share(&app, &tok, false).await;
            assert_eq!(html_resp.status(), 404);
            let html_body = html_resp.text().await.unwrap();
            answers.push((body["errors"][0]["message"].clone(), json_body, html_body));
        }
        assert!(
            answers.windows(2).all(|w| w[0] == w[1]),
            "identical answers: {answers:#?}"
        );

        let fields = "shareLinks { platform useCount revoked }";
        let a = app
            .query_action(&t.reader, &t.slug, "AdminMFAV2", fields)
            .payload()
            .await;
        assert_eq!(
            a["shareLinks"],
            json!([{ "platform": "EMAIL", "useCount": 0, "revoked": false }, { "platform": "LINK", "useCount": 1, "revoked": true }])
        );
        assert_eq!(
            kinds(&history(&app, &t, "AdminMFAV2").await),
            ["SHARED", "SHARED", "SHARE_REVOKED"]
        );
    }
);

db_test!(every_change_is_recorded_in_the_tenants_score_events, |app| {
    let t = app.tenant().create().await;
    let start = Utc::now() - Duration::seconds(1);
    set_ok(
        &app,
        &t,
        "AdminMFAV2",
        "PLANNED",
        json!({ "comment": "next sprint" }),
    )
    .await;
    progress(&app, &t, "MFARegistrationV2", 1, 2).await;
    let tag = create_tag(&app, &t, "audit").await["tag"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    tag_actions(&app, &t, true, &["IntegratedApps"], &[&tag]).await;
    create_link(&app, &t, "PWAgePolicyNew", "LINK").await;

    let score_events = |args: Value| {
        let fields = "totalCount nodes { kind controlId actor statusBefore statusAfter pointsBefore \
                      pointsAfter comment }";
        app.query_score_events(&t.reader, &t.slug, merged(json!({ "first": 50 }), args), fields)
            .payload()
    };
    let events = &score_events(json!({ "from": start.to_rfc3339() })).await;
    let got: BTreeSet<(String, String)> = events["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["controlId"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("STATUS_CHANGED", "AdminMFAV2"),
        ("NOTE_ADDED", "AdminMFAV2"),
        ("PROGRESS_CHANGED", "MFARegistrationV2"),
        ("TAG_ADDED", "IntegratedApps"),
        ("SHARED", "PWAgePolicyNew"),
    ]
    .iter()
    .map(|(k, c)| (k.to_string(), c.to_string()))
    .collect();
    // The status comment is kept as a note; whether that note writes its own event is the
    // service's choice, so only require the others.
    let want_core: BTreeSet<_> = want.iter().filter(|(k, _)| k != "NOTE_ADDED").cloned().collect();
    assert!(want_core.is_subset(&got), "{got:#?}");
    assert_eq!(
        events["totalCount"].as_u64().unwrap() as usize,
        events["nodes"].as_array().unwrap().len()
    );
    let status = events["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "STATUS_CHANGED")
        .unwrap();
    assert_eq!(status["statusBefore"], "TO_ADDRESS");
    assert_eq!(status["statusAfter"], "PLANNED");
    assert_eq!(status["comment"], "next sprint");
    assert_eq!(status["actor"], t_operator_name(&t));
    let progress_event = events["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "PROGRESS_CHANGED")
        .unwrap();
    assert_eq!(progress_event["pointsBefore"].as_f64(), Some(0.0));
    assert_eq!(progress_event["pointsAfter"].as_f64(), Some(4.5));
    assert_eq!(
        action(&app, &t, "AdminMFAV2").await["notes"][0]["body"],
        "next sprint"
    );

    // Filters by kind and by control.
    let only: BTreeSet<String> = score_events(json!({ "filter": { "kinds": ["TAG_ADDED", "SHARED"] } }))
        .await["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(only, set(&["SHARED", "TAG_ADDED"]));
    let only = score_events(json!({ "filter": { "controlIds": ["MFARegistrationV2"] } })).await;
    assert_eq!(only["totalCount"], 1);
    // Nothing before the tenant existed.
    let before = app
        .query_score_events(
            &t.reader,
            &t.slug,
            json!({ "to": start.to_rfc3339() }),
            "totalCount",
        )
        .payload()
        .await;
    assert_eq!(before["totalCount"], 0);
});

db_test!(
    parallel_status_changes_never_fail_internally_and_lose_no_updates,
    |app| {
        let t = app.tenant().create().await;
        let controls = [
            "AdminMFAV2",
            "MFARegistrationV2",
            "PWAgePolicyNew",
            "IntegratedApps",
            "aad_admin_accounts_separate_unassigned_cloud_only",
            "aad_admin_consent_workflow",
            "aad_third_party_apps",
            "BlockLegacyAuthentication",
        ];
        let before: HashMap<String, i64> = all_actions(&app, &t)
            .await
            .iter()
            .map(|a| {
                (
                    a["controlId"].as_str().unwrap().to_string(),
                    a["version"].as_i64().unwrap(),
                )
            })
            .collect();
        // Four different statuses per action (none the current one, so none is a no-change) and a
        // progress report: 40 calls in flight at once.
        let statuses = [
            "PLANNED",
            "RISK_ACCEPTED",
            "RESOLVED_THIRD_PARTY",
            "RESOLVED_ALTERNATE_MITIGATION",
        ];
        let fields = "action { status } userErrors { field message code }";
        let mut calls = Vec::new();
        for round in statuses.iter().map(Some).chain([None]) {
            for control in controls {
                let action = json!({ "tenantSlug": t.slug, "controlId": control });
                let call = if let Some(status) = round {
                    let input = merged(action, json!({ "status": status }));
                    app.set_action_status(&t.operator, input, fields)
                } else {
                    let input = merged(action, json!({ "implemented": 1, "total": 4 }));
                    app.record_implementation_progress(&t.operator, input, fields)
                };
                calls.push(tokio::spawn(async move { (control, call.await) }));
            }
        }
        let mut successes: HashMap<&str, i64> = HashMap::new();
        let mut conflicts = 0;
        for call in calls {
            let (control, body) = call.await.unwrap();
            assert!(body.get("errors").is_none(), "no top-level error: {body:#}");
            let payload = body["data"].as_object().unwrap().values().next().unwrap();
            let errors = payload["userErrors"].as_array().unwrap();
            if errors.is_empty() {
                assert!(payload["action"].is_object(), "{body:#}");
                *successes.entry(control).or_default() += 1;
            } else {
                assert_eq!(errors.len(), 1, "{body:#}");
                assert_eq!(
                    errors[0]["code"], "CONFLICT",
                    "only conflicts may refuse a change: {body:#}"
                );
                conflicts += 1;
            }
        }
        eprintln!(
            "{} changes applied, {conflicts} conflicts",
            successes.values().sum::<i64>()
        );

        // Every applied change bumped the version once and wrote one event: nothing was lost.
        let after = all_actions(&app, &t).await;
        for a in &after {
            let control = a["controlId"].as_str().unwrap();
            let applied = successes.get(control).copied().unwrap_or(0);
            assert_eq!(
                a["version"].as_i64().unwrap() - before[control],
                applied,
                "{control}"
            );
            if controls.contains(&control) {
                assert!(applied >= 1, "at least one change to {control} got through");
                // In commit order (event ids): timestamps are taken before the write lock.
                let mut h = history(&app, &t, control).await;
                h.sort_by_key(|e| event_id(&e["id"]));
                assert_eq!(h.len() as i64, applied, "{control}: one event per applied change");
                // The events chain: each starts from the status the previous one ended with.
                for w in h.windows(2) {
                    assert_eq!(w[0]["statusAfter"], w[1]["statusBefore"], "{control}: {h:#?}");
                }
                assert_eq!(h.last().unwrap()["statusAfter"], a["status"], "{control}");
            }
        }
        expected_views(&after).assert_eq(&tenant_views(&app, &t).await, "after the parallel changes");
    }
);

db_test!(readers_cannot_change_anything, |app| {
    let t = app.tenant().services(&["AzureAD", "MDATP"]).create().await;
    let tag = create_tag(&app, &t, "ops").await["tag"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (slug, reader, errors) = (t.slug.as_str(), t.reader.as_str(), "userErrors { code }");
    let action = json!({ "tenantSlug": slug, "controlId": "AdminMFAV2" });
    let cases = [
        app.set_action_status(reader, merged(action.clone(), json!({ "status": "PLANNED" })), errors),
        app.bulk_set_action_status(
            reader,
            json!({ "tenantSlug": slug, "items": [{ "controlId": "AdminMFAV2", "status": "PLANNED" }] }),
            errors,
        ),
        app.undo_action_status(reader, action.clone(), errors),
        app.record_device_exception(
            reader,
            json!({ "tenantSlug": slug, "controlId": "scid_2010", "scope": "GLOBAL", "justification": "RISK_ACCEPTED", "comment": "x" }),
            errors,
        ),
        app.record_implementation_progress(
            reader,
            merged(action.clone(), json!({ "implemented": 1, "total": 1 })),
            errors,
        ),
        app.add_action_note(reader, merged(action.clone(), json!({ "body": "hello" })), errors),
        app.create_tag(reader, json!({ "tenantSlug": slug, "name": "readers" }), errors),
        app.update_tag(reader, json!({ "id": tag, "name": "renamed" }), errors),
        app.delete_tag(reader, json!({ "id": tag }), errors),
        app.add_action_tags(
            reader,
            json!({ "tenantSlug": slug, "controlIds": ["AdminMFAV2"], "tagIds": [tag] }),
            errors,
        ),
        app.create_share_link(reader, merged(action, json!({ "platform": "LINK" })), errors),
    ];
    let before = all_actions(&app, &t).await;
    for op in cases {
        let q = op.document();
        let body = op.await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{q}: {body:#}");
    }
    assert_eq!(all_actions(&app, &t).await, before);
    assert_eq!(event_count(&app, &t).await, 0);
    let tenant = app.query_tenant(reader, slug, "tags { name }").payload().await;
    assert_eq!(tenant["tags"], json!([{ "name": "ops" }]));
});

db_test!(another_tenants_objects_answer_like_missing_ones, |app| {
    let mine = app.tenant().create().await;
    let theirs = app.tenant().create().await;
    let their_action = action(&app, &theirs, "AdminMFAV2").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let missing = securescore::graphql::ids::encode("ImprovementAction", 987_654_321).0;

    let set_status = |input: Value| {
        app.set_action_status(
            &mine.operator,
            input,
            "action { id } userErrors { field message code }",
        )
        .payload()
    };
    let mut answers = Vec::new();
    for id in [&their_action, &missing] {
        let p = set_status(json!({ "actionId": id, "status": "PLANNED" })).await;
        assert_eq!(user_error_code(&p), "NOT_FOUND", "{p:#}");
        answers.push(p);
    }
    assert_eq!(answers[0], answers[1], "indistinguishable");
    let p = set_status(json!({ "tenantSlug": theirs.slug, "controlId": "AdminMFAV2", "status": "PLANNED" }))
        .await;
    assert_eq!(user_error_code(&p), "NOT_FOUND");

    // Their note, tag and share link are unknown too.
    let note = app
        .add_action_note(
            &theirs.operator,
            json!({ "actionId": their_action, "body": "theirs" }),
            "note { id }",
        )
        .payload()
        .await["note"]["id"]
        .clone();
    let tag = create_tag(&app, &theirs, "theirs").await["tag"]["id"].clone();
    let link = create_link(&app, &theirs, "AdminMFAV2", "LINK").await["shareLink"]["id"].clone();
    let (admin, errors) = (mine.admin.as_str(), "userErrors { code }");
    let cases = [
        (
            "updateActionNote",
            app.update_action_note(admin, json!({ "id": note, "body": "mine" }), errors),
        ),
        (
            "deleteActionNote",
            app.delete_action_note(admin, json!({ "id": note }), errors),
        ),
        (
            "updateTag",
            app.update_tag(admin, json!({ "id": tag, "name": "mine" }), errors),
        ),
        ("deleteTag", app.delete_tag(admin, json!({ "id": tag }), errors)),
        (
            "addActionTags",
            app.add_action_tags(
                admin,
                json!({ "tenantSlug": mine.slug, "controlIds": ["AdminMFAV2"], "tagIds": [tag] }),
                errors,
            ),
        ),
        (
            "revokeShareLink",
            app.revoke_share_link(admin, json!({ "id": link }), errors),
        ),
        (
            "createShareLink",
            app.create_share_link(
                admin,
                json!({ "actionId": their_action, "platform": "LINK" }),
                errors,
            ),
        ),
    ];
    for (field, op) in cases {
        let body = op.await;
        assert!(body.get("errors").is_none(), "{field}: {body:#}");
        assert_eq!(
            user_error_code(&body["data"][field]),
            "NOT_FOUND",
            "{field}: {body:#}"
        );
    }
    // Nothing of theirs changed.
    let a = action(&app, &theirs, "AdminMFAV2").await;
    assert_eq!(a["status"], "TO_ADDRESS");
    assert_eq!(a["notes"][0]["body"], "theirs");
    assert_eq!(a["tags"], json!([]));
});
