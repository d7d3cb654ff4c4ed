//! The persisted tenant state (`service::state::persisted`): every change writes, in its own
//! transaction, exactly what a tenant's scored state is computed from; a server process that has
//! never seen a tenant serves it from that one row without reading its action rows; and a body
//! whose label the tenant has left (a writer that did not persist) is never used, but repaired.

use crate::db_test;
use crate::helpers::*;
use entity::{improvement_action, tenant};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use securescore::service::state::persisted::{self, Inputs};
use serde_json::{Value, json};

/// The tenant's inputs as its tables hold them now, rows in id order.
async fn from_rows(app: &TestApp, tenant_id: i64) -> Inputs {
    let mut inputs = persisted::read_inputs(&app.db, tenant_id)
        .await
        .expect("inputs read");
    inputs.rows.sort_by_key(|r| r.id);
    inputs
}

/// The tenant's persisted inputs at its current version, rows in id order (`None`: none at it).
async fn persisted_now(app: &TestApp, tenant_id: i64) -> Option<Inputs> {
    let t = tenant::Entity::find_by_id(tenant_id)
        .one(&app.db)
        .await
        .expect("tenant read")
        .expect("tenant exists");
    persisted::load(&app.db, &t)
        .await
        .expect("persisted state read")
        .map(|mut i| {
            i.rows.sort_by_key(|r| r.id);
            i
        })
}

/// Fails unless the persisted state at the tenant's current version equals its tables.
async fn assert_persisted_matches_rows(app: &TestApp, tenant_id: i64, after: &str) {
    let truth = from_rows(app, tenant_id).await;
    assert_eq!(
        persisted_now(app, tenant_id).await.as_ref(),
        Some(&truth),
        "the persisted state after {after}"
    );
}

fn ok_payload(body: &Value, field: &str) -> Value {
    assert!(body.get("errors").is_none(), "{field}: {body:#}");
    let payload = body["data"][field].clone();
    if let Some(errors) = payload.get("userErrors") {
        assert_eq!(errors, &json!([]), "{field}: {body:#}");
    }
    payload
}

/// Three changeable (not device, TO_ADDRESS) actions of the tenant.
async fn changeable(app: &TestApp, t: &TenantFixture) -> Vec<String> {
    let list = app
        .query_actions(
            &t.reader,
            &t.slug,
            json!({ "first": 100 }),
            "nodes { controlId status category }",
        )
        .payload()
        .await;
    let picked: Vec<String> = list["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["status"] == "TO_ADDRESS" && n["category"] != "DEVICE")
        .map(|n| n["controlId"].as_str().expect("control id").to_string())
        .take(3)
        .collect();
    assert_eq!(picked.len(), 3, "the tenant has actions to change");
    picked
}

db_test!(every_kind_of_change_persists_exactly_the_tenants_inputs, |app| {
    let t = app.tenant().create().await;
    let c = changeable(&app, &t).await;
    // The first read of a tenant created without a change persists its state.
    assert_persisted_matches_rows(&app, t.id, "the first read").await;

    let tag = ok_payload(
        &app.create_tag(
            &t.operator,
            json!({ "tenantSlug": t.slug, "name": "q3" }),
            "tag { id } userErrors { code }",
        )
        .await,
        "createTag",
    )["tag"]["id"]
        .clone();
    assert_persisted_matches_rows(&app, t.id, "createTag").await;

    let (operator, admin) = (t.operator.as_str(), t.admin.as_str());
    let (errors, changed) = ("userErrors { code }", "changed userErrors { code }");
    let steps = vec![
        (
            "setActionStatus",
            app.set_action_status(
                operator,
                json!({ "tenantSlug": t.slug, "controlId": c[0], "status": "PLANNED", "comment": "next sprint" }),
                changed,
            ),
        ),
        (
            "recordImplementationProgress",
            app.record_implementation_progress(
                operator,
                json!({ "tenantSlug": t.slug, "controlId": c[1], "implemented": 1, "total": 3, "implementationStatus": "one of three" }),
                errors,
            ),
        ),
        (
            "addActionTags",
            app.add_action_tags(
                operator,
                json!({ "tenantSlug": t.slug, "controlIds": [c[0], c[1]], "tagIds": [tag] }),
                changed,
            ),
        ),
        (
            "removeActionTags",
            app.remove_action_tags(
                operator,
                json!({ "tenantSlug": t.slug, "controlIds": [c[1]], "tagIds": [tag] }),
                changed,
            ),
        ),
        (
            "addActionNote",
            app.add_action_note(
                operator,
                json!({ "tenantSlug": t.slug, "controlId": c[2], "body": "checked with the mail team" }),
                errors,
            ),
        ),
        (
            "bulkSetActionStatus",
            app.bulk_set_action_status(
                operator,
                json!({ "tenantSlug": t.slug, "items": [
                    { "controlId": c[1], "status": "RISK_ACCEPTED", "comment": "accepted" },
                    { "controlId": c[2], "status": "RESOLVED_THIRD_PARTY", "comment": "vendor" }
                ] }),
                errors,
            ),
        ),
        (
            "undoActionStatus",
            app.undo_action_status(operator, json!({ "tenantSlug": t.slug, "controlId": c[2] }), errors),
        ),
        (
            "createShareLink",
            app.create_share_link(
                operator,
                json!({ "tenantSlug": t.slug, "controlId": c[0], "platform": "LINK" }),
                errors,
            ),
        ),
        (
            "setTenantLicense",
            app.set_tenant_license(
                admin,
                json!({ "tenantSlug": t.slug, "sku": "ENTRA_ID_P2", "seatsPurchased": 10, "seatsAssigned": 3 }),
                errors,
            ),
        ),
        (
            "updateTenant",
            app.update_tenant(
                admin,
                json!({ "slug": t.slug, "enabledServices": ["AzureAD", "EXO"] }),
                errors,
            ),
        ),
    ];
    for (field, op) in steps {
        let version_before = tenant::Entity::find_by_id(t.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .state_version;
        ok_payload(&op.await, field);
        let version_after = tenant::Entity::find_by_id(t.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .state_version;
        assert!(version_after > version_before, "{field} changed the tenant");
        assert_persisted_matches_rows(&app, t.id, field).await;
    }
    let persisted = persisted_now(&app, t.id).await.expect("persisted");
    let status = |control: &str| {
        persisted
            .rows
            .iter()
            .find(|r| r.control_id == control)
            .map(|r| r.status.as_str())
    };
    assert_eq!(status(&c[0]), Some("PLANNED"));
    assert_eq!(status(&c[1]), Some("RISK_ACCEPTED"));
    assert_eq!(status(&c[2]), Some("TO_ADDRESS"), "undone");
    assert_eq!(persisted.held.len(), 1, "the licence is in the persisted state");
});

db_test!(
    a_process_with_no_cached_state_reads_one_row_not_the_action_rows,
    |app| {
        let t = app.tenant().create().await;
        let c = changeable(&app, &t).await;
        set_status_at(&app, &app.address, &t, &c[0], "PLANNED", "{ current { points } }").await;
        // API-only, so what is recorded is the request's reads and no background sweep's.
        let (address, log) = spawn_another_recording_process(&app, |c| {
            c.state_cache_mib = 0;
            c.background_jobs = false;
        })
        .await;
        let overview = || {
            let fields = "secureScore { current { points max } planned { points } }
                improvementActions(first: 10) { nodes { controlId status rank tags { name } } }";
            app.query_tenant(&t.reader, &t.slug, fields)
        };
        let here = overview().data().await;
        log.clear();
        let there = overview().at(&address).await;
        assert_eq!(there["data"], here, "{there:#}");
        let statements = log.statements();
        assert!(
            statements.iter().any(|s| s.contains("tenant_state")),
            "the persisted state is read: {statements:#?}"
        );
        assert!(
            !statements
                .iter()
                .any(|s| s.contains("FROM \"improvement_action\"") || s.contains("FROM \"action_tag\"")),
            "no action or tag rows are read: {statements:#?}"
        );
    }
);

db_test!(a_body_the_tenant_has_left_is_never_used_and_is_repaired, |app| {
    let t = app.tenant().create().await;
    let c = changeable(&app, &t).await;
    set_status_at(&app, &app.address, &t, &c[0], "PLANNED", "{ current { points } }").await;
    assert_persisted_matches_rows(&app, t.id, "a status change").await;
    // A writer that changes a row and bumps the version without persisting (as data written by
    // an older server would be): the body is now labelled with a version the tenant has left.
    improvement_action::Entity::update_many()
        .col_expr(improvement_action::Column::Status, Expr::value("RISK_ACCEPTED"))
        .filter(improvement_action::Column::TenantId.eq(t.id))
        .filter(improvement_action::Column::ControlId.eq(c[1].as_str()))
        .exec(&app.db)
        .await
        .unwrap();
    tenant::Entity::update_many()
        .col_expr(
            tenant::Column::StateVersion,
            Expr::col(tenant::Column::StateVersion).add(1),
        )
        .filter(tenant::Column::Id.eq(t.id))
        .exec(&app.db)
        .await
        .unwrap();
    assert_eq!(
        persisted_now(&app, t.id).await,
        None,
        "no body at the new version"
    );
    // A process that has never seen the tenant answers from the rows…
    let other = spawn_another_process(&app, |_| {}).await;
    let body = app
        .query_action(&t.reader, &t.slug, &c[1], "status")
        .at(&other)
        .await;
    assert_eq!(
        body["data"]["tenant"]["improvementAction"]["status"], "RISK_ACCEPTED",
        "{body:#}"
    );
    // … and leaves the body repaired at the tenant's version.
    assert_persisted_matches_rows(&app, t.id, "the repairing read").await;
});
