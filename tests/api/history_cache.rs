//! Past days served from a precomputed form (issue 16): a server process keeps what it derived
//! from past days (cohort cells with their noise, each tenant's days in compact form) and checks
//! the days' versions on every use, so writes by any process — a backfill run from the CLI, a
//! Graph import or an ADMIN's deletion through another server — are seen at once; what depends
//! on the caller (its grants) is never cached; today is always live.

use crate::db_test;
use crate::graph_import::realistic;
use crate::helpers::*;
use chrono::{Days, NaiveDate, Utc};
use entity::{improvement_action, tenant};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Database, EntityTrait, QueryFilter};
use securescore::domain::enums::Role;
use securescore::service::history::{comparisons, snapshots};
use serde_json::{Value, json};

const HISTORY: &str = "query($slug: String!, $from: Date!, $to: Date!) { tenant(slug: $slug) {
  scoreHistory(from: $from, to: $to) { day source live vendorCurrentScore current { points percentage }
    maxScore { points } categories { category current { points max percentage } } }
  comparisons(from: $from, to: $to) { day tenantPercentage cohorts { kind suppressedReason } } } }";

const COMPARE: &str = "query($slug: String!, $from: Date!, $to: Date!, $cohorts: [CohortInput!]) {
  tenant(slug: $slug) { comparisons(from: $from, to: $to, cohorts: $cohorts) { day
    cohorts { suppressedReason figures { size meanPercentage p25Percentage medianPercentage p75Percentage
      categories { category averagePoints averageMax } }
      excludedCells { industry seatBand licenseTier reason } noise { cells } } } } }";

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn days_ago(n: u64) -> NaiveDate {
    today() - Days::new(n)
}

/// POSTs a GraphQL request to the server at `address` and returns `data`, failing on errors.
async fn gql_at(address: &str, token: &str, query: &str, variables: Value) -> Value {
    let body: Value = reqwest::Client::new()
        .post(format!("{address}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("JSON body");
    assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
    body["data"].clone()
}

/// The tenant's history and comparisons of `from..=to`, asked of the server at `address`.
async fn history_at(address: &str, t: &TenantFixture, from: NaiveDate, to: NaiveDate) -> Value {
    let vars = json!({ "slug": t.slug, "from": from.to_string(), "to": to.to_string() });
    gql_at(address, &t.reader, HISTORY, vars).await["tenant"].clone()
}

/// The days of a history answer.
fn days_of(history: &Value) -> Vec<String> {
    history["scoreHistory"]
        .as_array()
        .expect("scoreHistory")
        .iter()
        .map(|d| d["day"].as_str().expect("day").to_string())
        .collect()
}

/// Makes the tenant and its actions a week old, so past days can be snapshotted for it.
async fn backdate(app: &TestApp, tenant_id: i64) {
    let then = Utc::now() - chrono::Duration::days(7);
    tenant::Entity::update_many()
        .col_expr(tenant::Column::CreatedAt, Expr::value(then))
        .filter(tenant::Column::Id.eq(tenant_id))
        .exec(&app.db)
        .await
        .expect("tenant backdated");
    improvement_action::Entity::update_many()
        .col_expr(improvement_action::Column::CreatedAt, Expr::value(then))
        .filter(improvement_action::Column::TenantId.eq(tenant_id))
        .exec(&app.db)
        .await
        .expect("actions backdated");
}

/// The realistic Graph export with its three days moved to `days` (oldest first).
fn export_on(days: [NaiveDate; 3]) -> (Value, Value) {
    let (mut scores, profiles) = realistic();
    for record in scores["value"].as_array_mut().expect("records") {
        let old = record["createdDateTime"].as_str().expect("date").to_string();
        let new = match &old[..10] {
            "2024-05-01" => days[0],
            "2024-05-02" => days[1],
            _ => days[2],
        };
        record["createdDateTime"] = json!(format!("{new}T00:00:00Z"));
    }
    (scores, profiles)
}

db_test!(a_past_day_rewritten_by_another_process_is_seen_at_once, |app| {
    let t = app.tenant().create().await;
    backdate(&app, t.id).await;
    let (day, later) = (days_ago(2), days_ago(1));
    insert_percentage_snapshot(&app, t.id, day, 40.0).await;
    let first = history_at(&app.address, &t, day, later).await;
    assert_eq!(days_of(&first), [day.to_string()]);
    assert_eq!(first["scoreHistory"][0]["current"]["percentage"], 40.0);
    assert_eq!(first["comparisons"][0]["tenantPercentage"], 40.0);
    assert_eq!(
        history_at(&app.address, &t, day, later).await,
        first,
        "asked again"
    );

    // `securescore snapshot --backfill-from` in a process of its own fills the missing day.
    let cli = Database::connect(&app.database_url).await.expect("CLI connects");
    snapshots::backfill(&cli, later, later, Utc::now())
        .await
        .expect("backfill");
    let backfilled = history_at(&app.address, &t, day, later).await;
    assert_eq!(days_of(&backfilled), [day.to_string(), later.to_string()]);
    assert_eq!(backfilled["scoreHistory"][1]["source"], "COMPUTED");
    assert_eq!(
        backfilled["scoreHistory"][0], first["scoreHistory"][0],
        "the day before is as it was"
    );

    // Another server imports the vendor's history over both days...
    let other = spawn_another_process(&app, |_| {}).await;
    let (scores, profiles) = export_on([days_ago(3), day, later]);
    let import = "mutation($input: ImportMicrosoftGraphInput!) { importMicrosoftGraph(input: $input) { \
                  result { snapshotsWritten } userErrors { code message } } }";
    let input = json!({ "tenantSlug": t.slug, "secureScores": scores, "controlProfiles": profiles });
    let imported = gql_at(&other, &t.admin, import, json!({ "input": input })).await;
    assert_eq!(
        imported["importMicrosoftGraph"]["userErrors"],
        json!([]),
        "{imported:#}"
    );
    let after_import = history_at(&app.address, &t, day, later).await;
    let sources: Vec<&Value> = after_import["scoreHistory"]
        .as_array()
        .expect("days")
        .iter()
        .map(|d| &d["source"])
        .collect();
    assert_eq!(
        sources,
        [&json!("IMPORTED"), &json!("IMPORTED")],
        "{after_import:#}"
    );
    assert_eq!(after_import["scoreHistory"][0]["vendorCurrentScore"], 30.0);
    assert_eq!(after_import["scoreHistory"][1]["vendorCurrentScore"], 31.5);
    assert_ne!(
        after_import["comparisons"][0]["tenantPercentage"], 40.0,
        "the comparison's own figure follows the imported day"
    );
    assert_eq!(
        history_at(&other, &t, day, later).await,
        after_import,
        "both processes answer alike"
    );

    // ... and its ADMIN deletes the imported day through it.
    let delete = "mutation($slug: String!, $day: Date!) { deleteImportedHistory(input: \
                  { tenantSlug: $slug, from: $day, to: $day }) { deletedSnapshots userErrors { code } } }";
    let deleted = gql_at(
        &other,
        &t.admin,
        delete,
        json!({ "slug": t.slug, "day": day.to_string() }),
    )
    .await;
    assert_eq!(deleted["deleteImportedHistory"]["deletedSnapshots"], 1);
    let after_delete = history_at(&app.address, &t, day, later).await;
    assert_eq!(days_of(&after_delete), [later.to_string()]);
    assert_eq!(after_delete["comparisons"][0]["tenantPercentage"], Value::Null);
    assert_eq!(after_delete["scoreHistory"][0], after_import["scoreHistory"][1]);
});

db_test!(
    a_change_of_the_callers_grants_changes_the_exclusion_at_once,
    |app| {
        let day = days_ago(1);
        let asker = app.tenant().industry("asking").create().await;
        let mut members = Vec::new();
        for i in 0..6 {
            let m = app
                .tenant()
                .industry("cellmates")
                .seats(250)
                .services(&["NoSuchService"])
                .create()
                .await;
            insert_percentage_snapshot(&app, m.id, day, 30.0 + 8.0 * f64::from(i)).await;
            members.push(m);
        }
        comparisons::write_aggregates(&app.db, day, Utc::now())
            .await
            .expect("aggregates");
        let (analyst, _, analyst_id) = app.principal_with("analyst", &[(asker.id, Role::Reader)]).await;
        let admin = app.service_admin().await;
        // The grants change through another server process.
        let other = spawn_another_process(&app, |_| {}).await;
        let grant = |member: usize| {
            let (other, admin, analyst_id) = (other.clone(), admin.clone(), analyst_id.clone());
            let slug = members[member].slug.clone();
            async move {
                let q =
                    "mutation($input: GrantRoleInput!) { grantRole(input: $input) { userErrors { code } } }";
                let input = json!({ "tenantSlug": slug, "principalId": analyst_id, "role": "READER" });
                let data = gql_at(&other, &admin, q, json!({ "input": input })).await;
                assert_eq!(data["grantRole"]["userErrors"], json!([]));
            }
        };
        let ungrant = |member: usize| {
            let (other, admin, analyst_id) = (other.clone(), admin.clone(), analyst_id.clone());
            let slug = members[member].slug.clone();
            async move {
                let q = "mutation($input: RemoveTenantGrantInput!) { removeTenantGrant(input: $input) { \
                         userErrors { code } } }";
                let input = json!({ "tenantSlug": slug, "principalId": analyst_id });
                let data = gql_at(&other, &admin, q, json!({ "input": input })).await;
                assert_eq!(data["removeTenantGrant"]["userErrors"], json!([]));
            }
        };
        let cohort = || async {
            let cohorts = json!([{ "kind": "CUSTOM", "industries": ["cellmates"],
                                   "seatBands": ["SEATS_101_500"], "licenseTiers": ["NONE"] }]);
            let vars = json!({ "slug": asker.slug, "from": day.to_string(), "to": day.to_string(),
                               "cohorts": cohorts });
            gql_at(&app.address, &analyst, COMPARE, vars).await["tenant"]["comparisons"][0]["cohorts"][0]
                .clone()
        };

        let none_readable = cohort().await;
        assert_eq!(none_readable["excludedCells"], json!([]), "{none_readable:#}");
        assert_eq!(none_readable["noise"]["cells"], 1);
        let size = |c: &Value| c["figures"]["size"].as_i64().expect("size");

        grant(0).await;
        let one_readable = cohort().await;
        assert_eq!(
            one_readable["excludedCells"],
            json!([]),
            "five others are left: {one_readable:#}"
        );
        assert_eq!(
            size(&one_readable),
            (size(&none_readable) - 1).max(0),
            "the readable member is taken out (the count's noise is fixed)"
        );

        grant(1).await;
        let two_readable = cohort().await;
        assert_eq!(two_readable["suppressedReason"], "TOO_FEW_TENANTS");
        assert_eq!(two_readable["figures"], Value::Null);
        assert_eq!(
            two_readable["excludedCells"],
            json!([{ "industry": "cellmates", "seatBand": "SEATS_101_500", "licenseTier": "NONE",
                     "reason": "FEWER_THAN_K" }])
        );

        ungrant(1).await;
        assert_eq!(cohort().await, one_readable, "back to one readable member");
        ungrant(0).await;
        assert_eq!(cohort().await, none_readable, "back to none");
    }
);

db_test!(
    today_follows_a_status_change_live_while_past_days_come_from_the_precomputed_form,
    |app| {
        let t = app.tenant().create().await;
        let (day, yesterday) = (days_ago(2), days_ago(1));
        insert_percentage_snapshot(&app, t.id, day, 35.0).await;
        insert_percentage_snapshot(&app, t.id, yesterday, 45.0).await;
        for d in [day, yesterday] {
            comparisons::write_aggregates(&app.db, d, Utc::now())
                .await
                .expect("aggregates");
        }
        let (reader, log) = spawn_another_recording_process(&app, |c| c.snapshot_interval_secs = 0).await;
        let before = history_at(&reader, &t, day, today()).await;
        assert_eq!(
            days_of(&before),
            [day.to_string(), yesterday.to_string(), today().to_string()]
        );
        assert_eq!(before["scoreHistory"][2]["live"], true);

        log.clear();
        assert_eq!(history_at(&reader, &t, day, today()).await, before);
        let reads_past_rows = |statements: &[String]| {
            statements.iter().any(|s| {
                ["score_snapshot", "cohort_aggregate", "vendor_benchmark"]
                    .iter()
                    .any(|table| s.contains(table))
            })
        };
        let statements = log.statements();
        assert!(
            !reads_past_rows(&statements),
            "past days come from the precomputed form: {statements:#?}"
        );
        assert!(
            statements.iter().any(|s| s.contains("history_version")),
            "after checking the days' versions: {statements:#?}"
        );

        let action = app
            .gql_ok(
                &t.reader,
                "query($slug: String!) { tenant(slug: $slug) { improvementActions(first: 1, \
                 filter: { statuses: [TO_ADDRESS], categories: [IDENTITY], hasPointsRemaining: true }) { \
                 nodes { controlId } } } }",
                json!({ "slug": t.slug }),
            )
            .await["tenant"]["improvementActions"]["nodes"][0]["controlId"]
            .as_str()
            .expect("an action to address")
            .to_string();
        set_status_at(
            &app,
            &app.address,
            &t,
            &action,
            "RESOLVED_THIRD_PARTY",
            "{ current { points } }",
        )
        .await;
        log.clear();
        let after = history_at(&reader, &t, day, today()).await;
        assert!(
            !reads_past_rows(&log.statements()),
            "still precomputed: {:#?}",
            log.statements()
        );
        let score = app
            .gql_ok(
                &t.reader,
                "query($slug: String!) { tenant(slug: $slug) { secureScore { current { points percentage } } } }",
                json!({ "slug": t.slug }),
            )
            .await["tenant"]["secureScore"]["current"]
            .clone();
        assert_eq!(after["scoreHistory"][2]["current"], score, "today is live");
        assert_ne!(after["scoreHistory"][2], before["scoreHistory"][2]);
        assert_eq!(after["comparisons"][2]["tenantPercentage"], score["percentage"]);
        for i in 0..2 {
            assert_eq!(
                after["scoreHistory"][i], before["scoreHistory"][i],
                "past day {i} unchanged"
            );
            assert_eq!(after["comparisons"][i], before["comparisons"][i]);
        }
    }
);
