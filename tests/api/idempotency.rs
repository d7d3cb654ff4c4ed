//! Status changes that scripts can re-apply safely (issue 15, SPEC §2): asking for what already
//! holds is a successful no-op that writes nothing (`setActionStatus`, `bulkSetActionStatus`,
//! `recordImplementationProgress`, `addActionTags` / `removeActionTags`), and `undoActionStatus`
//! undoes exactly the caller's own last change by hand, answering `NOTHING_TO_UNDO` otherwise.
//!
//! "Nothing written" is checked in the database: the tenant's events, notes and state version
//! (which every write bumps, and which is what notifies subscribers and invalidates caches).

use crate::db_test;
use crate::helpers::*;
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use securescore::domain::enums::Role;
use serde_json::{Value, json};

const ACTION: &str = "controlId status version reviewBy implemented total";

/// What the tenant has written so far.
#[derive(Debug, PartialEq, Eq)]
struct Written {
    events: u64,
    notes: u64,
    state_version: i64,
}

async fn written(app: &TestApp, t: &TenantFixture) -> Written {
    let events = entity::action_event::Entity::find()
        .filter(entity::action_event::Column::TenantId.eq(t.id))
        .count(&app.db)
        .await
        .unwrap();
    let notes = entity::note::Entity::find()
        .filter(entity::note::Column::TenantId.eq(t.id))
        .count(&app.db)
        .await
        .unwrap();
    let tenant = entity::tenant::Entity::find_by_id(t.id)
        .one(&app.db)
        .await
        .unwrap()
        .expect("tenant row");
    Written {
        events,
        notes,
        state_version: tenant.state_version,
    }
}

/// `setActionStatus` as `token`; returns the payload.
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
    let fields = format!(
        "action {{ {ACTION} }} score {{ current {{ points }} planned {{ points }} }} changed \
         userErrors {{ field message code }}"
    );
    app.set_action_status(token, input, &fields).payload().await
}

/// A status change by the operator that must succeed with `changed`; returns the payload.
async fn set_ok(
    app: &TestApp,
    t: &TenantFixture,
    control: &str,
    status: &str,
    extra: Value,
    changed: bool,
) -> Value {
    let p = set_status(app, &t.operator, t, control, status, extra).await;
    assert_eq!(p["userErrors"], json!([]), "{control} → {status}: {p:#}");
    assert_eq!(p["action"]["status"], status, "{p:#}");
    assert_eq!(p["changed"], changed, "{control} → {status}: {p:#}");
    p
}

async fn undo(app: &TestApp, token: &str, t: &TenantFixture, control: &str) -> Value {
    let input = json!({ "tenantSlug": t.slug, "controlId": control });
    let fields = format!("action {{ {ACTION} }} changed userErrors {{ field message code }}");
    app.undo_action_status(token, input, &fields).payload().await
}

/// Asserts an undo answered `NOTHING_TO_UNDO` with a message containing `why`, and wrote
/// nothing.
async fn assert_nothing_to_undo(app: &TestApp, token: &str, t: &TenantFixture, control: &str, why: &str) {
    let before = written(app, t).await;
    let p = undo(app, token, t, control).await;
    let errors = p["userErrors"].as_array().expect("userErrors");
    assert_eq!(errors.len(), 1, "{p:#}");
    assert_eq!(errors[0]["code"], "NOTHING_TO_UNDO", "{p:#}");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("nothing to undo on {control}: ")) && message.contains(why),
        "message {message:?} should say {why:?}"
    );
    assert_eq!(p["action"], Value::Null);
    assert_eq!(p["changed"], false);
    assert_eq!(written(app, t).await, before, "a refused undo writes nothing");
}

async fn progress(app: &TestApp, t: &TenantFixture, control: &str, input: Value) -> Value {
    let fields = format!(
        "action {{ {ACTION} }} score {{ current {{ points }} }} changed userErrors {{ field message code }}"
    );
    let full = merged(
        json!({ "tenantSlug": t.slug, "controlId": control }),
        input.clone(),
    );
    let p = app
        .record_implementation_progress(&t.operator, full, &fields)
        .payload()
        .await;
    assert_eq!(p["userErrors"], json!([]), "{input}: {p:#}");
    p
}

const BULK: &str = "actions { controlId status } items { action { controlId status version } changed } changed \
     tenants { id } score { current { points } } userErrors { field message code }";

async fn bulk(app: &TestApp, t: &TenantFixture, items: Value) -> Value {
    let input = json!({ "tenantSlug": t.slug, "items": items });
    app.bulk_set_action_status(&t.operator, input, BULK)
        .payload()
        .await
}

/// One action as a reader sees it.
async fn action(app: &TestApp, t: &TenantFixture, control: &str) -> Value {
    app.query_action(&t.reader, &t.slug, control, ACTION)
        .payload()
        .await
}

/// The history of one action, oldest first.
async fn history(app: &TestApp, t: &TenantFixture, control: &str) -> Vec<Value> {
    action_history(
        app,
        t,
        control,
        "nodes { id kind actor statusBefore statusAfter data }",
    )
    .await
}

/// A time `d` from now, in whole seconds (as a script would send it; databases keep less than
/// nanoseconds).
fn from_now(d: Duration) -> DateTime<Utc> {
    DateTime::from_timestamp((Utc::now() + d).timestamp(), 0).expect("a valid time")
}

fn instant(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("a date-time: {v}"))
        .parse()
        .unwrap()
}

async fn create_tag(app: &TestApp, t: &TenantFixture, name: &str) -> String {
    let input = json!({ "tenantSlug": t.slug, "name": name });
    let p = app
        .create_tag(&t.operator, input, "tag { id } userErrors { code }")
        .payload()
        .await;
    p["tag"]["id"].as_str().unwrap().to_string()
}

async fn tag_actions(app: &TestApp, t: &TenantFixture, add: bool, controls: &[&str], tag: &str) -> Value {
    let input = json!({ "tenantSlug": t.slug, "controlIds": controls, "tagIds": [tag] });
    let fields = "actions { controlId tags { name } } changed userErrors { field message code }";
    let op = if add {
        app.add_action_tags(&t.operator, input, fields)
    } else {
        app.remove_action_tags(&t.operator, input, fields)
    };
    let p = op.payload().await;
    assert_eq!(p["userErrors"], json!([]), "{p:#}");
    p
}

db_test!(the_same_status_again_is_a_no_op_that_writes_nothing, |app| {
    let t = app.tenant().create().await;
    let first = set_ok(
        &app,
        &t,
        "AdminMFAV2",
        "PLANNED",
        json!({ "comment": "Q1" }),
        true,
    )
    .await;
    let before = written(&app, &t).await;

    let again = set_ok(
        &app,
        &t,
        "AdminMFAV2",
        "PLANNED",
        json!({ "comment": "Q1 again" }),
        false,
    )
    .await;
    assert_eq!(
        again["action"]["version"], first["action"]["version"],
        "no new version"
    );
    assert_eq!(
        again["score"], first["score"],
        "the payload still carries the score"
    );
    assert_eq!(
        written(&app, &t).await,
        before,
        "no event, no note, no state version"
    );
    assert_eq!(kinds(&history(&app, &t, "AdminMFAV2").await), ["STATUS_CHANGED"]);

    // An untouched action asked for its default status; with the current expectedVersion too.
    set_ok(&app, &t, "IntegratedApps", "TO_ADDRESS", json!({}), false).await;
    let version = first["action"]["version"].clone();
    set_ok(
        &app,
        &t,
        "AdminMFAV2",
        "PLANNED",
        json!({ "expectedVersion": version }),
        false,
    )
    .await;
    assert_eq!(written(&app, &t).await, before);

    // The rules still apply first: a stale expectedVersion is a conflict even for a no-op.
    let stale = version.as_i64().unwrap() - 1;
    let p = set_status(
        &app,
        &t.operator,
        &t,
        "AdminMFAV2",
        "PLANNED",
        json!({ "expectedVersion": stale }),
    )
    .await;
    assert_eq!(p["userErrors"][0]["code"], "CONFLICT", "{p:#}");
    assert_eq!(p["changed"], false);
    assert_eq!(written(&app, &t).await, before);
});

db_test!(
    the_same_status_with_another_review_date_is_a_change_of_the_review_date,
    |app| {
        let t = app.tenant().create().await;
        let at = from_now(Duration::days(30));
        let later = at + Duration::days(30);
        let p = set_ok(
            &app,
            &t,
            "AdminMFAV2",
            "RISK_ACCEPTED",
            json!({ "reviewBy": at.to_rfc3339() }),
            true,
        )
        .await;
        assert_eq!(instant(&p["action"]["reviewBy"]), at);
        let before = written(&app, &t).await;

        set_ok(
            &app,
            &t,
            "AdminMFAV2",
            "RISK_ACCEPTED",
            json!({ "reviewBy": at.to_rfc3339() }),
            false,
        )
        .await;
        assert_eq!(
            written(&app, &t).await,
            before,
            "the same date again writes nothing"
        );

        let p = set_ok(
            &app,
            &t,
            "AdminMFAV2",
            "RISK_ACCEPTED",
            json!({ "reviewBy": later.to_rfc3339() }),
            true,
        )
        .await;
        assert_eq!(instant(&p["action"]["reviewBy"]), later);
        let p = set_ok(&app, &t, "AdminMFAV2", "RISK_ACCEPTED", json!({}), true).await;
        assert_eq!(
            p["action"]["reviewBy"],
            Value::Null,
            "no date given clears the one held"
        );
        set_ok(&app, &t, "AdminMFAV2", "RISK_ACCEPTED", json!({}), false).await;

        let h = history(&app, &t, "AdminMFAV2").await;
        assert_eq!(kinds(&h), ["STATUS_CHANGED"; 3]);
        for e in &h[1..] {
            assert_eq!(e["statusBefore"], "RISK_ACCEPTED");
            assert_eq!(e["statusAfter"], "RISK_ACCEPTED");
        }
        assert_eq!(instant(&h[1]["data"]["reviewBy"]), later);
        assert_eq!(instant(&h[1]["data"]["reviewByBefore"]), at);
        assert_eq!(instant(&h[2]["data"]["reviewByBefore"]), later);
    }
);

db_test!(re_applied_statuses_still_break_the_rules_that_apply, |app| {
    let t = app
        .tenant()
        .services(&["AzureAD", "EXO", "MDO", "MDATP"])
        .create()
        .await;
    progress(&app, &t, "AdminMFAV2", json!({ "implemented": 2, "total": 2 })).await;
    assert_eq!(action(&app, &t, "AdminMFAV2").await["status"], "COMPLETED");
    let before = written(&app, &t).await;
    let cases = [
        (
            "AdminMFAV2",
            "COMPLETED",
            "BAD_USER_INPUT",
            "COMPLETED again is still asking for COMPLETED",
        ),
        (
            "AdminMFAV2",
            "TO_ADDRESS",
            "STATUS_LOCKED",
            "a completed action is locked",
        ),
        (
            "IntegratedApps",
            "COMPLETED",
            "BAD_USER_INPUT",
            "users never set COMPLETED",
        ),
        (
            "scid_2010",
            "TO_ADDRESS",
            "DEVICE_STATUS_MANAGED_EXTERNALLY",
            "a device action's status, even the one it has",
        ),
    ];
    for (control, status, code, why) in cases {
        let p = set_status(&app, &t.operator, &t, control, status, json!({})).await;
        assert_eq!(p["userErrors"][0]["code"], code, "{why}: {p:#}");
        assert_eq!(p["changed"], false, "{why}");
    }
    assert_eq!(written(&app, &t).await, before);
});

db_test!(
    a_bulk_change_mixing_no_ops_and_changes_succeeds_and_reports_each_item,
    |app| {
        let t = app.tenant().create().await;
        set_ok(&app, &t, "AdminMFAV2", "PLANNED", json!({}), true).await;
        let before = written(&app, &t).await;
        let p = bulk(
            &app,
            &t,
            json!([
                { "controlId": "AdminMFAV2", "status": "PLANNED" },
                { "controlId": "MFARegistrationV2", "status": "RISK_ACCEPTED" },
                { "controlId": "IntegratedApps", "status": "TO_ADDRESS" },
                { "controlId": "PWAgePolicyNew", "status": "PLANNED" },
            ]),
        )
        .await;
        assert_eq!(p["userErrors"], json!([]), "{p:#}");
        let items: Vec<(&str, &str, bool)> = p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["action"]["controlId"].as_str().unwrap(),
                    i["action"]["status"].as_str().unwrap(),
                    i["changed"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            items,
            [
                ("AdminMFAV2", "PLANNED", false),
                ("MFARegistrationV2", "RISK_ACCEPTED", true),
                ("IntegratedApps", "TO_ADDRESS", false),
                ("PWAgePolicyNew", "PLANNED", true),
            ],
            "in input order"
        );
        assert_eq!(p["changed"], true);
        assert_eq!(p["actions"].as_array().unwrap().len(), 4);
        let after = written(&app, &t).await;
        assert_eq!(after.events, before.events + 2, "one event per real change");
        assert_eq!(after.state_version, before.state_version + 1);

        // The same bulk change again: every item a no-op, nothing written.
        let p = bulk(
            &app,
            &t,
            json!([
                { "controlId": "AdminMFAV2", "status": "PLANNED" },
                { "controlId": "MFARegistrationV2", "status": "RISK_ACCEPTED" },
            ]),
        )
        .await;
        assert_eq!(p["userErrors"], json!([]), "{p:#}");
        assert_eq!(p["changed"], false);
        let changed: Vec<bool> = p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["changed"].as_bool().unwrap())
            .collect();
        assert_eq!(changed, [false, false]);
        assert_eq!(written(&app, &t).await, after);
    }
);

db_test!(
    a_bulk_change_with_one_real_violation_writes_nothing_beside_its_no_ops,
    |app| {
        let t = app.tenant().create().await;
        set_ok(&app, &t, "AdminMFAV2", "PLANNED", json!({}), true).await;
        progress(
            &app,
            &t,
            "PWAgePolicyNew",
            json!({ "implemented": 1, "total": 1 }),
        )
        .await;
        let before = written(&app, &t).await;
        let statuses = |a: &[Value]| -> Vec<String> {
            a.iter()
                .map(|a| a["status"].as_str().unwrap().to_string())
                .collect()
        };
        let mut was = Vec::new();
        for c in ["AdminMFAV2", "MFARegistrationV2", "PWAgePolicyNew"] {
            was.push(action(&app, &t, c).await);
        }
        for (bad, code) in [
            (
                json!({ "controlId": "IntegratedApps", "status": "COMPLETED" }),
                "BAD_USER_INPUT",
            ),
            (
                json!({ "controlId": "PWAgePolicyNew", "status": "PLANNED" }),
                "STATUS_LOCKED",
            ),
        ] {
            let p = bulk(
                &app,
                &t,
                json!([
                    { "controlId": "AdminMFAV2", "status": "PLANNED" },
                    { "controlId": "MFARegistrationV2", "status": "RISK_ACCEPTED" },
                    bad,
                ]),
            )
            .await;
            let errors = p["userErrors"].as_array().unwrap();
            assert_eq!(errors.len(), 1, "only the violation is named: {p:#}");
            assert_eq!(errors[0]["code"], code);
            assert_eq!(errors[0]["field"][2], "2");
            assert_eq!(p["items"], json!([]));
            assert_eq!(p["changed"], false);
            assert_eq!(written(&app, &t).await, before, "nothing written");
            let mut now = Vec::new();
            for c in ["AdminMFAV2", "MFARegistrationV2", "PWAgePolicyNew"] {
                now.push(action(&app, &t, c).await);
            }
            assert_eq!(statuses(&now), statuses(&was));
        }
    }
);

db_test!(the_same_progress_again_is_a_no_op, |app| {
    let t = app.tenant().create().await;
    let p = progress(&app, &t, "AdminMFAV2", json!({ "implemented": 1, "total": 4 })).await;
    assert_eq!(p["changed"], true);
    let before = written(&app, &t).await;
    let again = progress(&app, &t, "AdminMFAV2", json!({ "implemented": 1, "total": 4 })).await;
    assert_eq!(again["changed"], false, "{again:#}");
    assert_eq!(again["action"]["version"], p["action"]["version"]);
    assert_eq!(again["score"], p["score"]);
    assert_eq!(written(&app, &t).await, before);

    // Other text is a change; then the same text again is not.
    let input = json!({ "implemented": 1, "total": 4, "implementationStatus": "1 of 4 admins" });
    assert_eq!(
        progress(&app, &t, "AdminMFAV2", input.clone()).await["changed"],
        true
    );
    let before = written(&app, &t).await;
    assert_eq!(progress(&app, &t, "AdminMFAV2", input).await["changed"], false);
    assert_eq!(written(&app, &t).await, before);

    // A completed action reported complete again stays as it is.
    let p = progress(&app, &t, "AdminMFAV2", json!({ "implemented": 4, "total": 4 })).await;
    assert_eq!(
        (p["changed"].clone(), p["action"]["status"].clone()),
        (json!(true), json!("COMPLETED"))
    );
    let before = written(&app, &t).await;
    let p = progress(&app, &t, "AdminMFAV2", json!({ "implemented": 4, "total": 4 })).await;
    assert_eq!(
        (p["changed"].clone(), p["action"]["status"].clone()),
        (json!(false), json!("COMPLETED"))
    );
    assert_eq!(written(&app, &t).await, before);
    assert_eq!(
        kinds(&history(&app, &t, "AdminMFAV2").await),
        ["PROGRESS_CHANGED", "PROGRESS_CHANGED", "COMPLETED"]
    );
});

db_test!(
    attaching_attached_tags_and_detaching_absent_ones_are_no_ops,
    |app| {
        let t = app.tenant().create().await;
        let tag = create_tag(&app, &t, "audit").await;
        assert_eq!(
            tag_actions(&app, &t, true, &["AdminMFAV2"], &tag).await["changed"],
            true
        );
        let before = written(&app, &t).await;

        let p = tag_actions(&app, &t, true, &["AdminMFAV2"], &tag).await;
        assert_eq!(p["changed"], false, "{p:#}");
        assert_eq!(p["actions"][0]["tags"], json!([{ "name": "audit" }]));
        assert_eq!(written(&app, &t).await, before);
        let p = tag_actions(&app, &t, false, &["IntegratedApps"], &tag).await;
        assert_eq!(p["changed"], false, "{p:#}");
        assert_eq!(written(&app, &t).await, before);

        // A mix: only the real part writes (one TAG_ADDED for the action that lacked the tag).
        let p = tag_actions(&app, &t, true, &["AdminMFAV2", "IntegratedApps"], &tag).await;
        assert_eq!(p["changed"], true);
        let after = written(&app, &t).await;
        assert_eq!(after.events, before.events + 1);
        assert_eq!(after.state_version, before.state_version + 1);
        assert_eq!(kinds(&history(&app, &t, "AdminMFAV2").await), ["TAG_ADDED"]);
        let p = tag_actions(&app, &t, false, &["AdminMFAV2", "PWAgePolicyNew"], &tag).await;
        assert_eq!(p["changed"], true);
        assert_eq!(written(&app, &t).await.events, after.events + 1);
    }
);

db_test!(
    undo_restores_the_callers_own_change_and_names_the_event_it_undid,
    |app| {
        let t = app.tenant().create().await;
        set_ok(&app, &t, "AdminMFAV2", "PLANNED", json!({}), true).await;
        let p = undo(&app, &t.operator, &t, "AdminMFAV2").await;
        assert_eq!(p["userErrors"], json!([]), "{p:#}");
        assert_eq!(p["changed"], true);
        assert_eq!(p["action"]["status"], "TO_ADDRESS");
        let h = history(&app, &t, "AdminMFAV2").await;
        assert_eq!(kinds(&h), ["STATUS_CHANGED", "UNDONE"]);
        assert_eq!(h[1]["statusBefore"], "PLANNED");
        assert_eq!(h[1]["statusAfter"], "TO_ADDRESS");
        assert_eq!(h[1]["actor"], format!("operator {}", t.slug));
        assert_eq!(h[1]["data"]["undoes"], event_id(&h[0]["id"]));
    }
);

db_test!(undoing_again_walks_back_through_the_callers_changes, |app| {
    let t = app.tenant().create().await;
    let at = from_now(Duration::days(10));
    set_ok(&app, &t, "AdminMFAV2", "PLANNED", json!({}), true).await;
    set_ok(
        &app,
        &t,
        "AdminMFAV2",
        "RISK_ACCEPTED",
        json!({ "reviewBy": at.to_rfc3339() }),
        true,
    )
    .await;
    let p = undo(&app, &t.operator, &t, "AdminMFAV2").await;
    assert_eq!(p["userErrors"], json!([]), "{p:#}");
    assert_eq!(
        (&p["action"]["status"], &p["action"]["reviewBy"]),
        (&json!("PLANNED"), &Value::Null)
    );
    let p = undo(&app, &t.operator, &t, "AdminMFAV2").await;
    assert_eq!(
        p["userErrors"],
        json!([]),
        "a second undo walks further back: {p:#}"
    );
    assert_eq!(p["action"]["status"], "TO_ADDRESS");
    assert_nothing_to_undo(
        &app,
        &t.operator,
        &t,
        "AdminMFAV2",
        "all of its status changes have been undone already",
    )
    .await;
    let h = history(&app, &t, "AdminMFAV2").await;
    assert_eq!(
        kinds(&h),
        ["STATUS_CHANGED", "STATUS_CHANGED", "UNDONE", "UNDONE"]
    );
    assert_eq!(h[2]["data"]["undoes"], event_id(&h[1]["id"]));
    assert_eq!(h[3]["data"]["undoes"], event_id(&h[0]["id"]));

    // An undo gives back the review date the undone change replaced.
    set_ok(
        &app,
        &t,
        "AdminMFAV2",
        "RESOLVED_THIRD_PARTY",
        json!({ "reviewBy": at.to_rfc3339() }),
        true,
    )
    .await;
    set_ok(&app, &t, "AdminMFAV2", "PLANNED", json!({}), true).await;
    let p = undo(&app, &t.operator, &t, "AdminMFAV2").await;
    assert_eq!(p["userErrors"], json!([]), "{p:#}");
    assert_eq!(p["action"]["status"], "RESOLVED_THIRD_PARTY");
    assert_eq!(instant(&p["action"]["reviewBy"]), at);
});

db_test!(undo_after_a_completion_or_regression_is_nothing_to_undo, |app| {
    let t = app.tenant().create().await;
    set_ok(&app, &t, "AdminMFAV2", "PLANNED", json!({}), true).await;
    progress(&app, &t, "AdminMFAV2", json!({ "implemented": 3, "total": 3 })).await;
    assert_nothing_to_undo(
        &app,
        &t.operator,
        &t,
        "AdminMFAV2",
        "the last status change was made by the system (COMPLETED) at ",
    )
    .await;
    progress(&app, &t, "AdminMFAV2", json!({ "implemented": 1, "total": 3 })).await;
    assert_nothing_to_undo(&app, &t.operator, &t, "AdminMFAV2", "by the system (REGRESSED)").await;
    assert_eq!(action(&app, &t, "AdminMFAV2").await["status"], "TO_ADDRESS");
});

db_test!(undo_after_an_expiry_is_nothing_to_undo, |app| {
    let t = app.tenant().create().await;
    let at = from_now(Duration::hours(1));
    set_ok(
        &app,
        &t,
        "AdminMFAV2",
        "RISK_ACCEPTED",
        json!({ "reviewBy": at.to_rfc3339() }),
        true,
    )
    .await;
    app.pass_review_date(&t, "AdminMFAV2").await;
    // The undo itself finds the review date passed: the expiry is the last change.
    assert_nothing_to_undo(&app, &t.operator, &t, "AdminMFAV2", "by the system (EXPIRED)").await;
    // Once a read has written the expiry, the answer is the same.
    assert_eq!(action(&app, &t, "AdminMFAV2").await["status"], "TO_ADDRESS");
    assert_nothing_to_undo(&app, &t.operator, &t, "AdminMFAV2", "by the system (EXPIRED)").await;
    assert_eq!(
        kinds(&history(&app, &t, "AdminMFAV2").await),
        ["STATUS_CHANGED", "EXPIRED"]
    );
});

db_test!(undo_of_another_principals_change_is_nothing_to_undo, |app| {
    let t = app.tenant().create().await;
    let (alice, _, _) = app
        .principal_with(&format!("alice {}", t.slug), &[(t.id, Role::Operator)])
        .await;
    let p = set_status(&app, &alice, &t, "AdminMFAV2", "PLANNED", json!({})).await;
    assert_eq!(p["changed"], true, "{p:#}");
    assert_nothing_to_undo(
        &app,
        &t.operator,
        &t,
        "AdminMFAV2",
        &format!("the last status change was made by alice {} at ", t.slug),
    )
    .await;
    // The same holds for the ADMIN; alice herself can undo it.
    assert_nothing_to_undo(
        &app,
        &t.admin,
        &t,
        "AdminMFAV2",
        "only your own changes can be undone",
    )
    .await;
    let p = undo(&app, &alice, &t, "AdminMFAV2").await;
    assert_eq!(p["userErrors"], json!([]), "{p:#}");
    assert_eq!(p["action"]["status"], "TO_ADDRESS");
});

db_test!(an_action_without_changes_has_nothing_to_undo, |app| {
    let t = app.tenant().create().await;
    assert_nothing_to_undo(
        &app,
        &t.operator,
        &t,
        "AdminMFAV2",
        "it has no status change to undo",
    )
    .await;
    // Progress alone changes no status.
    progress(&app, &t, "AdminMFAV2", json!({ "implemented": 1, "total": 4 })).await;
    assert_nothing_to_undo(
        &app,
        &t.operator,
        &t,
        "AdminMFAV2",
        "it has no status change to undo",
    )
    .await;
});

db_test!(
    undo_that_would_restore_a_passed_review_date_is_nothing_to_undo,
    |app| {
        let t = app.tenant().create().await;
        let at = from_now(Duration::hours(1));
        set_ok(
            &app,
            &t,
            "AdminMFAV2",
            "RISK_ACCEPTED",
            json!({ "reviewBy": at.to_rfc3339() }),
            true,
        )
        .await;
        set_ok(&app, &t, "AdminMFAV2", "PLANNED", json!({}), true).await;
        // The replaced review date passes (moved in the event's data rather than waited for).
        use entity::action_event as ev;
        let last = ev::Entity::find()
            .filter(ev::Column::TenantId.eq(t.id))
            .all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .max_by_key(|e| e.id)
            .unwrap();
        let recorded = last.data.as_ref().and_then(|d| d.get("reviewByBefore")).cloned();
        assert_eq!(recorded.map(|v| instant(&v)), Some(at), "{last:?}");
        let passed = Utc::now() - Duration::minutes(1);
        ev::Entity::update_many()
            .col_expr(ev::Column::Data, Expr::value(json!({ "reviewByBefore": passed })))
            .filter(ev::Column::Id.eq(last.id))
            .exec(&app.db)
            .await
            .unwrap();
        assert_nothing_to_undo(
            &app,
            &t.operator,
            &t,
            "AdminMFAV2",
            "restoring RISK_ACCEPTED is not allowed: its review date ",
        )
        .await;
        assert_eq!(action(&app, &t, "AdminMFAV2").await["status"], "PLANNED");
    }
);

db_test!(
    undoing_a_global_device_exception_restores_the_status_and_ends_it,
    |app| {
        let t = app
            .tenant()
            .services(&["AzureAD", "EXO", "MDO", "MDATP"])
            .create()
            .await;
        let exception = |scope: &str| {
            let input = json!({
                "tenantSlug": t.slug, "controlId": "scid_2010", "scope": scope,
                "justification": "RISK_ACCEPTED", "comment": "accepted until the rollout",
            });
            app.record_device_exception(
                &t.operator,
                input,
                "exception { id } action { status } userErrors { code }",
            )
            .payload()
        };
        let p = exception("GLOBAL").await;
        assert_eq!(p["action"]["status"], "RISK_ACCEPTED", "{p:#}");

        let p = undo(&app, &t.operator, &t, "scid_2010").await;
        assert_eq!(p["userErrors"], json!([]), "{p:#}");
        assert_eq!(p["action"]["status"], "TO_ADDRESS");
        let rows = entity::device_exception::Entity::find()
            .filter(entity::device_exception::Column::TenantId.eq(t.id))
            .all(&app.db)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].ended_at.is_some(), "the undone exception has ended");

        // A DEVICE_GROUP exception leaves the status as it is: nothing for undo.
        let p = exception("DEVICE_GROUP").await;
        assert_eq!(p["action"]["status"], "TO_ADDRESS", "{p:#}");
        assert_nothing_to_undo(
            &app,
            &t.operator,
            &t,
            "scid_2010",
            "all of its status changes have been undone already",
        )
        .await;
    }
);
