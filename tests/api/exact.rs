//! The score exactly as specified (SPEC §1 applicability, §3 exact points, §4 ties), as
//! regression tests of what a differential test against a rational oracle found:
//! - turning a service off must take its actions out of the score, lists, ranks, groups and
//!   what-if at once, and turning it on again must bring back their status and notes;
//! - exact ties in priority are broken by `pointsRemaining`, not by a rounded partial credit;
//! - percentages come from exact points (1/3 of 5 points of 14 is 11.90 %, not 11.91 %), in
//!   the live score, the history and the event log.
//!
//! Each test builds its own controls in its own database, so every figure can be checked by
//! hand.

use crate::db_test;
use crate::helpers::*;
use crate::score::{add_action, control_model};
use chrono::{Days, Utc};
use entity::types::StringList;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};

/// A control of `service` with the given weights, and the tenant's action on it.
#[allow(clippy::too_many_arguments)]
async fn control(
    app: &TestApp,
    tenant_id: i64,
    id: &str,
    category: &str,
    service: &str,
    max: i64,
    (cost, impact, tier): (&str, &str, &str),
) -> i64 {
    let mut c = control_model(id, &format!("Control {id}"), category, service, max);
    c.implementation_cost = Set(cost.parse().expect("level"));
    c.user_impact = Set(impact.parse().expect("level"));
    c.tier = Set(tier.parse().expect("tier"));
    // Created three days ago, so yesterday's snapshot has them.
    add_action(app, tenant_id, c, Utc::now() - chrono::Duration::days(3)).await
}

/// A tenant whose enabled services are exactly `services` (and no catalog control applies).
async fn tenant_with(app: &TestApp, services: &[&str]) -> TenantFixture {
    let t = app.tenant().services(&["NoSuchService"]).create().await;
    entity::tenant::Entity::update_many()
        .col_expr(
            entity::tenant::Column::EnabledServices,
            sea_orm::sea_query::Expr::value(StringList(services.iter().map(|s| s.to_string()).collect())),
        )
        .filter(entity::tenant::Column::Id.eq(t.id))
        .exec(&app.db)
        .await
        .expect("services set");
    t
}

const SCORE: &str = r#"
  secureScore { maxScore { points } current { points pointsExact percentage }
    categories { category current { points pointsExact percentage } maxScore { points } } }
  improvementActions(first: 100) { totalCount nodes { controlId rank pointsAchieved pointsAchievedExact pointsRemaining scoreImpact } }
  improvementActionGroups(groupBy: SERVICE) { key count pointsAvailable }"#;

/// The tenant's score, actions and groups (as `data`, so `node` finds the actions).
async fn scored(app: &TestApp, t: &TenantFixture) -> Value {
    app.query_tenant(&t.reader, &t.slug, SCORE).data().await
}

fn node<'a>(data: &'a Value, control_id: &str) -> Option<&'a Value> {
    data["tenant"]["improvementActions"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["controlId"] == control_id)
}

db_test!(exact_ties_in_priority_are_broken_by_points_remaining, |app| {
    let t = tenant_with(&app, &["Svc"]).await;
    // 2 of 3 done of a 5-point action at effort 2 + 1 + 2 = 5 leaves exactly 5/3 points:
    // priority 1/3. The whole 3 points of an effort-9 action is priority 1/3 too. SPEC §4 breaks
    // the tie by the larger pointsRemaining, so Whole ranks first. (With partial credit rounded
    // to 3.3333, Partial's remaining 1.6667 made it rank first.)
    control(
        &app,
        t.id,
        "Partial",
        "IDENTITY",
        "Svc",
        5,
        ("MODERATE", "LOW", "DEFENSE_IN_DEPTH"),
    )
    .await;
    control(
        &app,
        t.id,
        "Whole",
        "IDENTITY",
        "Svc",
        3,
        ("HIGH", "HIGH", "ADVANCED"),
    )
    .await;
    progress(&app, &t, "Partial", 2, 3).await;

    let data = scored(&app, &t).await;
    let partial = node(&data, "Partial").expect("Partial listed");
    let whole = node(&data, "Whole").expect("Whole listed");
    assert_eq!(partial["pointsAchievedExact"], "10/3", "exact partial credit");
    assert_eq!(partial["pointsRemaining"], 1.67, "presented remaining");
    assert_eq!(whole["rank"], 1, "the tie goes to the larger pointsRemaining");
    assert_eq!(partial["rank"], 2, "then the partial action");
    let order: Vec<&str> = data["tenant"]["improvementActions"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["controlId"].as_str().expect("id"))
        .collect();
    assert_eq!(order, ["Whole", "Partial"], "the list is in rank order");
});

db_test!(percentages_come_from_exact_points_everywhere, |app| {
    let t = tenant_with(&app, &["Svc"]).await;
    control(&app, t.id, "Third", "IDENTITY", "Svc", 5, ("LOW", "LOW", "CORE")).await;
    control(&app, t.id, "Other", "DATA", "Svc", 9, ("LOW", "LOW", "CORE")).await;
    progress(&app, &t, "Third", 1, 3).await;

    // 5/3 of 14 is 11.9047… %: 11.90 (from a partial credit rounded to 1.6667 it was 11.91).
    let data = scored(&app, &t).await;
    let score = &data["tenant"]["secureScore"];
    assert_eq!(score["maxScore"]["points"], 14.0, "max");
    assert_eq!(score["current"]["pointsExact"], "5/3", "exact current");
    assert_eq!(score["current"]["points"], 1.67, "presented current");
    assert_eq!(
        score["current"]["percentage"], 11.9,
        "percentage from exact points"
    );
    let identity = score["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .find(|c| c["category"] == "IDENTITY")
        .expect("identity");
    assert_eq!(identity["current"]["percentage"], 33.33, "5/3 of 5 is 33.33 %");
    // Finishing Third gains 10/3 of 14 = 23.8095… percentage points.
    let third = node(&data, "Third").expect("Third listed");
    assert_eq!(third["scoreImpact"], 23.81, "score impact from exact points");

    // The event log keeps the exact points too: 0 → 5/3, a delta of 1.67.
    let events = app
        .query_score_events(
            &t.reader,
            &t.slug,
            json!({ "first": 10 }),
            "nodes { kind pointsBefore pointsAfter pointsDelta }",
        )
        .payload()
        .await;
    let event = &events["nodes"][0];
    assert_eq!(event["kind"], "PROGRESS_CHANGED", "{events}");
    assert_eq!(
        (
            &event["pointsBefore"],
            &event["pointsAfter"],
            &event["pointsDelta"]
        ),
        (&json!(0.0), &json!(1.67), &json!(1.67)),
        "{event}"
    );

    // Yesterday's snapshot, written by the snapshot job, keeps the exact figures: its
    // percentage is 11.90 as well, not a percentage of rounded points. (The progress was
    // recorded today; dating its event two days back makes it part of yesterday's state.)
    let yesterday = Utc::now().date_naive() - Days::new(1);
    entity::action_event::Entity::update_many()
        .col_expr(
            entity::action_event::Column::OccurredAt,
            sea_orm::sea_query::Expr::value(Utc::now() - chrono::Duration::days(2)),
        )
        .filter(entity::action_event::Column::TenantId.eq(t.id))
        .exec(&app.db)
        .await
        .expect("event dated back");
    let tenant = entity::tenant::Entity::find_by_id(t.id)
        .one(&app.db)
        .await
        .unwrap()
        .expect("tenant");
    securescore::service::history::snapshots::write_snapshot(&app.db, tenant, yesterday, Utc::now())
        .await
        .expect("snapshot written");
    let history = app
        .query_score_history(
            &t.reader,
            &t.slug,
            yesterday,
            yesterday + Days::new(1),
            "day source current { points pointsExact percentage }",
        )
        .payload()
        .await;
    let days = history.as_array().expect("days");
    assert_eq!(days.len(), 2, "yesterday and today: {history}");
    for day in days {
        assert_eq!(day["current"]["pointsExact"], "5/3", "{day}");
        assert_eq!(day["current"]["percentage"], 11.9, "{day}");
    }
});

db_test!(turning_a_service_off_takes_its_actions_out_and_back_in, |app| {
    let t = tenant_with(&app, &["Keep", "Drop"]).await;
    control(
        &app,
        t.id,
        "KeepA",
        "IDENTITY",
        "Keep",
        10,
        ("LOW", "LOW", "CORE"),
    )
    .await;
    control(&app, t.id, "KeepB", "APPS", "Keep", 4, ("LOW", "LOW", "CORE")).await;
    control(&app, t.id, "DropA", "IDENTITY", "Drop", 9, ("LOW", "LOW", "CORE")).await;
    control(&app, t.id, "DropB", "DATA", "Drop", 5, ("LOW", "LOW", "CORE")).await;
    progress(&app, &t, "DropA", 1, 3).await;
    let input =
        json!({ "tenantSlug": t.slug, "controlId": "DropB", "status": "PLANNED", "comment": "next sprint" });
    let planned = app
        .set_action_status(&t.operator, input, "userErrors { code }")
        .payload()
        .await;
    assert_eq!(planned["userErrors"], json!([]));

    let before = scored(&app, &t).await;
    assert_eq!(
        before["tenant"]["secureScore"]["maxScore"]["points"], 28.0,
        "all four"
    );
    assert_eq!(
        before["tenant"]["secureScore"]["current"]["pointsExact"], "3",
        "1/3 of 9"
    );

    let set_services = |services: Value| {
        let input = json!({ "slug": t.slug, "enabledServices": services });
        let update = app.update_tenant(&t.admin, input, "userErrors { code }");
        async move {
            assert_eq!(update.payload().await["userErrors"], json!([]));
        }
    };
    set_services(json!(["Keep"])).await;

    let after = scored(&app, &t).await;
    let score = &after["tenant"]["secureScore"];
    assert_eq!(score["maxScore"]["points"], 14.0, "only Keep's 10 + 4");
    assert_eq!(score["current"]["points"], 0.0, "DropA's partial credit left");
    let data_category = score["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .find(|c| c["category"] == "DATA")
        .expect("DATA");
    assert_eq!(
        data_category["maxScore"]["points"], 0.0,
        "DropB left its category"
    );
    assert_eq!(after["tenant"]["improvementActions"]["totalCount"], 2, "the list");
    assert!(node(&after, "DropA").is_none() && node(&after, "DropB").is_none());
    let mut ranks: Vec<i64> = after["tenant"]["improvementActions"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["rank"].as_i64())
        .collect();
    ranks.sort_unstable();
    assert_eq!(ranks, [1, 2], "ranks stay a dense 1..n");
    let groups: Vec<&str> = after["tenant"]["improvementActionGroups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["key"].as_str().expect("key"))
        .collect();
    assert_eq!(groups, ["Keep"], "groups");
    // KeepA scores 10 of 14 when done: 71.43 %. Its scoreImpact is of the new max.
    assert_eq!(node(&after, "KeepA").expect("KeepA")["scoreImpact"], 71.43);
    let changes = json!([{ "controlId": "DropB", "status": "RESOLVED_THIRD_PARTY" }]);
    let what_if = app
        .query_what_if(&t.operator, &t.slug, changes, "current { points }")
        .await;
    assert_eq!(
        error_code(&what_if).as_deref(),
        Some("BAD_USER_INPUT"),
        "a what-if cannot use an action that does not apply: {what_if}"
    );
    let flyout = app
        .query_action(&t.reader, &t.slug, "DropB", "status")
        .payload()
        .await;
    assert_eq!(flyout, Value::Null, "not in the tenant's actions");

    // The snapshot of today (taken tomorrow by the job) is of the applicable actions only.
    let tenant = entity::tenant::Entity::find_by_id(t.id)
        .one(&app.db)
        .await
        .unwrap()
        .expect("tenant");
    let state = securescore::service::state::load(&app.db, tenant, Utc::now())
        .await
        .expect("state");
    assert_eq!(
        securescore::domain::to_storage(&state.score.overall.max_score),
        14 * 10_000,
        "what a snapshot records"
    );

    set_services(json!(["Keep", "Drop"])).await;
    let back = scored(&app, &t).await;
    assert_eq!(
        back["tenant"]["secureScore"], before["tenant"]["secureScore"],
        "the same score as before"
    );
    let notes = app
        .query_action(&t.reader, &t.slug, "DropB", "status notes { body }")
        .payload()
        .await;
    assert_eq!(notes["status"], "PLANNED", "status kept");
    assert_eq!(notes["notes"][0]["body"], "next sprint", "notes kept: {notes}");
});
