//! History, trends, comparisons and goals (SPEC §8): daily snapshots built by driving the clock
//! (the snapshot functions take the date and `now`; nothing sleeps), backfills that reconstruct
//! past days from the event log, the snapshot job's idempotence and its lease under racing
//! processes (PostgreSQL), noisy cohort figures of whole cells (attacks on them: `privacy.rs`),
//! trends and goals.

use crate::db_test;
use crate::helpers::*;
use chrono::{DateTime, Days, Duration, NaiveDate, Utc};
use entity::{action_event, improvement_action, score_snapshot, tenant};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use securescore::service::history::{comparisons, snapshots};
use serde_json::{Value, json};

const SCORE: &str = "current { points percentage } planned { points } currentLicense { points } \
     achievable { points } verified { points } maxScore { points } \
     categories { category current { points max percentage } planned { points } }";

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn days_ago(n: u64) -> NaiveDate {
    today() - Days::new(n)
}

async fn secure_score(app: &TestApp, t: &TenantFixture) -> Value {
    let fields = format!("secureScore {{ {SCORE} }}");
    app.query_tenant(&t.reader, &t.slug, &fields).payload().await["secureScore"].clone()
}

/// Moves the tenant and its actions back in time, so past days can hold their state.
async fn backdate_tenant(app: &TestApp, tenant_id: i64, to: DateTime<Utc>) {
    tenant::Entity::update_many()
        .col_expr(tenant::Column::CreatedAt, Expr::value(to))
        .filter(tenant::Column::Id.eq(tenant_id))
        .exec(&app.db)
        .await
        .expect("tenant backdated");
    improvement_action::Entity::update_many()
        .col_expr(improvement_action::Column::CreatedAt, Expr::value(to))
        .filter(improvement_action::Column::TenantId.eq(tenant_id))
        .exec(&app.db)
        .await
        .expect("actions backdated");
}

/// Moves the tenant's events with an id above `after_id` to `at`, as if they happened then.
async fn move_events(app: &TestApp, tenant_id: i64, after_id: i64, at: DateTime<Utc>) -> i64 {
    action_event::Entity::update_many()
        .col_expr(action_event::Column::OccurredAt, Expr::value(at))
        .filter(action_event::Column::TenantId.eq(tenant_id))
        .filter(action_event::Column::Id.gt(after_id))
        .exec(&app.db)
        .await
        .expect("events moved");
    last_event_id(app, tenant_id).await
}

async fn last_event_id(app: &TestApp, tenant_id: i64) -> i64 {
    action_event::Entity::find()
        .filter(action_event::Column::TenantId.eq(tenant_id))
        .all(&app.db)
        .await
        .expect("events")
        .iter()
        .map(|e| e.id)
        .max()
        .unwrap_or(0)
}

fn noon(day: NaiveDate) -> DateTime<Utc> {
    snapshots::start_of_day(day) + Duration::hours(12)
}

async fn history(app: &TestApp, t: &TenantFixture, from: NaiveDate, to: NaiveDate) -> Value {
    let fields = format!("day source live {SCORE} statusCounts {{ status count }}");
    let days = app
        .query_score_history(&t.reader, &t.slug, from, to, &fields)
        .payload()
        .await;
    // Stored and live days list their status counts in one order: the `Status` enum's.
    const ORDER: [&str; 6] = [
        "TO_ADDRESS",
        "PLANNED",
        "RISK_ACCEPTED",
        "RESOLVED_THIRD_PARTY",
        "RESOLVED_ALTERNATE_MITIGATION",
        "COMPLETED",
    ];
    for day in days.as_array().expect("a list of days") {
        let positions: Vec<usize> = day["statusCounts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                ORDER
                    .iter()
                    .position(|s| c["status"] == *s)
                    .expect("a known status")
            })
            .collect();
        assert!(positions.is_sorted(), "statusCounts out of order: {day}");
    }
    days
}

/// The figures of a history entry that the live score also has.
fn views_of(entry: &Value) -> Value {
    let mut v = entry.clone();
    let o = v.as_object_mut().expect("object");
    for k in ["day", "source", "live", "statusCounts"] {
        o.remove(k);
    }
    v
}

db_test!(backfilled_days_equal_the_score_views_each_day_ended_with, |app| {
    let t = app.tenant().create().await;
    backdate_tenant(&app, t.id, noon(days_ago(10))).await;
    let mut seen = last_event_id(&app, t.id).await;
    // Day −4 ends in the starting state; each later day ends after one more change.
    let mut expected = vec![secure_score(&app, &t).await];
    set_status(&app, &t, "AdminMFAV2", "PLANNED").await;
    progress(&app, &t, "MFARegistrationV2", 1, 4).await;
    seen = move_events(&app, t.id, seen, noon(days_ago(3))).await;
    expected.push(secure_score(&app, &t).await);
    progress(&app, &t, "MFARegistrationV2", 4, 4).await;
    set_status(&app, &t, "PWAgePolicyNew", "RISK_ACCEPTED").await;
    seen = move_events(&app, t.id, seen, noon(days_ago(2))).await;
    expected.push(secure_score(&app, &t).await);
    progress(&app, &t, "MFARegistrationV2", 2, 4).await;
    move_events(&app, t.id, seen, noon(days_ago(1))).await;
    expected.push(secure_score(&app, &t).await);
    assert_ne!(expected[0], expected[1], "the changes move the score");

    let reports = snapshots::backfill(&app.db, days_ago(4), days_ago(1), Utc::now())
        .await
        .expect("backfill");
    assert_eq!(reports.len(), 4, "one report per day");
    assert!(reports.iter().all(|r| r.written == 1), "{reports:?}");

    let series = history(&app, &t, days_ago(4), today()).await;
    let series = series.as_array().expect("list");
    assert_eq!(series.len(), 5, "four snapshots and today: {series:#?}");
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(
            series[i]["day"],
            json!(days_ago(4 - i as u64).to_string()),
            "day {i}"
        );
        assert_eq!(series[i]["source"], "COMPUTED", "day {i}");
        assert_eq!(
            views_of(&series[i]),
            *want,
            "day −{} ended with these views",
            4 - i
        );
    }
    assert_eq!(series[4]["live"], true, "today is live");
    assert_eq!(views_of(&series[4]), expected[3], "today is the live score");
    let risk = series[2]["statusCounts"]
        .as_array()
        .expect("counts")
        .iter()
        .find(|c| c["status"] == "RISK_ACCEPTED")
        .cloned()
        .expect("RISK_ACCEPTED counted");
    assert_eq!(risk["count"], 1, "one risk acceptance on day −2");
});

db_test!(
    snapshotting_again_changes_nothing_and_keeps_imported_rows,
    |app| {
        let t = app.tenant().create().await;
        let other = app.tenant().create().await;
        let imported_day = today();
        insert_flat_snapshot(&app, other.id, imported_day, 420_000, 1_000_000, "IMPORTED").await;
        let now = Utc::now() + Duration::days(1);
        let first = snapshots::snapshot_day(&app.db, imported_day, now)
            .await
            .expect("first run");
        assert_eq!((first.written, first.existing), (1, 1), "{first:?}");
        let again = snapshots::snapshot_day(&app.db, imported_day, now)
            .await
            .expect("second run");
        assert_eq!((again.written, again.existing), (0, 2), "{again:?}");
        let rows = score_snapshot::Entity::find()
            .filter(score_snapshot::Column::Day.eq(imported_day))
            .all(&app.db)
            .await
            .expect("rows");
        assert_eq!(rows.len(), 2, "one row per tenant");
        let kept = rows
            .iter()
            .find(|r| r.tenant_id == other.id)
            .expect("imported row");
        assert_eq!(
            (kept.source.as_str(), kept.current),
            ("IMPORTED", 420_000),
            "imported row kept"
        );
        assert!(rows.iter().any(|r| r.tenant_id == t.id && r.source == "COMPUTED"));

        // The job, driven to the day after tomorrow, claims the days that ended; a second run
        // finds them done.
        let later = Utc::now() + Duration::days(2);
        let job = snapshots::run_daily_job(&app.db, "test-a", 400, later)
            .await
            .expect("job");
        assert!(
            job.days
                .iter()
                .any(|d| d.day == today() + Days::new(1) && d.written == 2),
            "{job:?}"
        );
        let rerun = snapshots::run_daily_job(&app.db, "test-b", 400, later)
            .await
            .expect("rerun");
        assert!(rerun.days.is_empty(), "nothing left to do: {rerun:?}");
        let total = score_snapshot::Entity::find()
            .filter(score_snapshot::Column::TenantId.is_in([t.id, other.id]))
            .count(&app.db)
            .await
            .expect("count");
        assert_eq!(total, 4, "two tenants × two days");

        let today_now = snapshots::snapshot_day(&app.db, today(), Utc::now()).await;
        assert!(today_now.is_err(), "today is served live, never written");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL database)"
)]
async fn racing_snapshot_jobs_on_postgres_leave_one_row_per_tenant_day() {
    assert!(
        postgres_enabled(),
        "TEST_DATABASE_URL is not set: this PostgreSQL test cannot run"
    );
    let app = spawn_app(Backend::Postgres).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(app.tenant().create().await.id);
    }
    // A second connection pool stands in for a second server process.
    let other = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("second pool");
    let later = Utc::now() + Duration::days(3);
    let (a, b) = tokio::join!(
        snapshots::run_daily_job(&app.db, "process-a", 400, later),
        snapshots::run_daily_job(&other, "process-b", 400, later),
    );
    let (a, b) = (a.expect("job a"), b.expect("job b"));
    let rows = score_snapshot::Entity::find()
        .filter(score_snapshot::Column::TenantId.is_in(ids.clone()))
        .all(&app.db)
        .await
        .expect("rows");
    // The tenants exist from today on: today, tomorrow and the day after have ended by `later`.
    assert_eq!(
        rows.len(),
        ids.len() * 3,
        "no duplicates and no gaps: a={a:?} b={b:?}"
    );
    let mut keys: Vec<(i64, NaiveDate)> = rows.iter().map(|r| (r.tenant_id, r.day)).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), rows.len(), "one row per tenant and day");
    for day in [today(), today() + Days::new(1), today() + Days::new(2)] {
        let workers = [&a, &b]
            .iter()
            .filter(|r| r.days.iter().any(|d| d.day == day))
            .count();
        assert_eq!(workers, 1, "exactly one process did {day}: a={a:?} b={b:?}");
    }
}

const COMPARE: &str = "day tenantPercentage \
     cohorts { kind key suppressedReason suppressedMessage figures { size meanPercentage p25Percentage \
     medianPercentage p75Percentage categories { category averagePoints averageMax } } \
     excludedCells { industry seatBand licenseTier reason } noise { cells meanStandardDeviation } } \
     vendorBenchmarks { source basis basisValue averageScore figures { name value } }";

/// Asserts a cohort's noisy mean is within six standard deviations of its stated noise of the
/// true mean, and its quartiles are ordered within 0–100.
fn assert_near(c: &Value, true_mean: f64, why: &str) {
    let f = &c["figures"];
    let mean = f["meanPercentage"].as_f64().expect("mean");
    let sd = c["noise"]["meanStandardDeviation"].as_f64().expect("σ");
    assert!(
        (mean - true_mean).abs() <= 6.0 * sd,
        "{why}: {mean} vs {true_mean} (σ {sd}): {c:#}"
    );
    let q: Vec<f64> = ["p25Percentage", "medianPercentage", "p75Percentage"]
        .iter()
        .map(|k| f[*k].as_f64().expect("quartile"))
        .collect();
    assert!(
        0.0 <= q[0] && q[0] <= q[1] && q[1] <= q[2] && q[2] <= 100.0,
        "{why}: {q:?}"
    );
}

db_test!(
    comparisons_give_noisy_cohort_figures_of_whole_cells_and_never_include_the_asker,
    |app| {
        // Points out of 100, so points are percentages. The asker (90 %) is a 250-seat bank.
        let asker = app
            .tenant()
            .industry("finance")
            .services(&["NoSuchService"])
            .create()
            .await;
        let day = days_ago(1);
        insert_flat_snapshot(&app, asker.id, day, 900_000, 1_000_000, "COMPUTED").await;
        // Others: 250-seat technology firms at 10–50 % (one cell), a 15 000-seat bank at 60 %,
        // and a 250-seat bank at 70 % (cells of one member besides the asker).
        let others = [
            (10, 250, "technology"),
            (20, 250, "technology"),
            (30, 250, "technology"),
            (40, 250, "technology"),
            (50, 250, "technology"),
            (60, 15_000, "finance"),
            (70, 250, "finance"),
        ];
        for (pct, seats, industry) in others {
            let t = app
                .tenant()
                .industry(industry)
                .seats(seats)
                .services(&["NoSuchService"])
                .create()
                .await;
            insert_flat_snapshot(&app, t.id, day, pct * 10_000, 1_000_000, "COMPUTED").await;
        }
        entity::vendor_benchmark::ActiveModel {
            tenant_id: Set(asker.id),
            day: Set(day),
            basis: Set("AllTenants".into()),
            basis_value: Set(String::new()),
            average_score: Set(412_500),
            category_scores: Set(json!({ "identityScore": 12.5 })),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&app.db)
        .await
        .expect("benchmark");
        comparisons::write_aggregates(&app.db, day, Utc::now())
            .await
            .expect("aggregates");

        let cohorts = json!([
            { "kind": "ALL_TENANTS" },
            { "kind": "SIMILAR_SIZE" },
            { "kind": "SAME_INDUSTRY" },
            { "kind": "CUSTOM", "industries": ["technology", "finance"], "seatBands": ["SEATS_101_500"] },
        ]);
        let days = app
            .query_comparisons(&asker.reader, &asker.slug, day, day, cohorts, COMPARE)
            .payload()
            .await;
        let days = days.as_array().expect("days").clone();
        assert_eq!(days.len(), 1, "one day");
        let d = &days[0];
        assert_eq!(d["tenantPercentage"], 90.0, "the asker's own figure, exact");
        let c = d["cohorts"].as_array().expect("cohorts");
        let cell = |industry: &str, band: &str| {
            json!({ "industry": industry, "seatBand": band,
            "licenseTier": "NONE", "reason": "FEWER_THAN_K" })
        };

        // ALL: only the technology cell has k others; both bank cells are left out, and said so.
        assert_eq!(c[0]["key"], "ALL");
        assert_eq!(c[0]["noise"]["cells"], 1);
        assert_near(&c[0], 30.0, "all tenants: the technology cell, 10..50");
        assert_eq!(
            c[0]["excludedCells"],
            json!([
                cell("finance", "SEATS_101_500"),
                cell("finance", "SEATS_10001_PLUS")
            ]),
            "cells that exist but have fewer than k others"
        );
        let categories = c[0]["figures"]["categories"].as_array().expect("categories");
        assert_eq!(categories.len(), 5, "every category, noisy");
        assert_eq!(categories[0]["category"], "IDENTITY");
        // 101–500 seats: the same technology cell.
        assert_eq!(c[1]["key"], "BAND:SEATS_101_500");
        assert_near(&c[1], 30.0, "similar size");
        assert_eq!(c[1]["excludedCells"], json!([cell("finance", "SEATS_101_500")]));
        // Finance: every cell below k (the asker never counts).
        assert_eq!(c[2]["key"], "INDUSTRY:finance");
        assert_eq!(c[2]["figures"], Value::Null, "below k");
        assert_eq!(c[2]["suppressedReason"], "TOO_FEW_TENANTS");
        assert_eq!(
            c[2]["suppressedMessage"],
            "every cell has fewer than 5 tenants you cannot read"
        );
        assert_eq!(
            c[2]["excludedCells"].as_array().map(Vec::len),
            Some(18),
            "a named industry lists all its cells, existing or not"
        );
        // Custom: technology or finance with 101–500 seats: the technology cell.
        assert_eq!(c[3]["kind"], "CUSTOM");
        assert_near(&c[3], 30.0, "custom");
        assert_eq!(c[3]["figures"], c[1]["figures"], "the same cell, the same noise");

        let vendor = &d["vendorBenchmarks"][0];
        assert_eq!(
            *vendor,
            json!({ "source": "VENDOR", "basis": "AllTenants", "basisValue": "", "averageScore": 41.25,
                "figures": [{ "name": "identityScore", "value": 12.5 }] }),
            "vendor benchmarks beside ours, as reported"
        );

        let default_cohorts = Value::Null;
        let days = app
            .query_comparisons(
                &asker.reader,
                &asker.slug,
                days_ago(1),
                today(),
                default_cohorts,
                COMPARE,
            )
            .payload()
            .await;
        let days = days.as_array().expect("days").clone();
        assert_eq!(days.len(), 2, "yesterday and today");
        assert_eq!(
            days[1]["cohorts"][0]["suppressedReason"], "NO_DATA",
            "today has no snapshots yet"
        );
    }
);

db_test!(comparison_and_history_ranges_are_validated, |app| {
    let t = app.tenant().create().await;
    for (from, to, why) in [
        (today(), days_ago(1), "from after to"),
        (days_ago(500), today(), "more than 400 days"),
    ] {
        let body = app.query_score_history(&t.reader, &t.slug, from, to, "day").await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{why}: {body:#}"
        );
    }
});

const GOALS: &str = "zones { okayFrom goodFrom currentZone } currentGoal { targetPercentage targetDate \
     progress projectedPercentageAtTarget onTrack note } goals { targetDate } currentPercentage";

db_test!(
    trends_count_gains_losses_regressions_and_risk_acceptances,
    |app| {
        let t = app.tenant().create().await;
        let before = secure_score(&app, &t).await["current"]["points"]
            .as_f64()
            .expect("points");
        progress(&app, &t, "MFARegistrationV2", 4, 4).await;
        progress(&app, &t, "MFARegistrationV2", 1, 4).await;
        set_status(&app, &t, "PWAgePolicyNew", "RESOLVED_THIRD_PARTY").await;
        set_status(&app, &t, "PWAgePolicyNew", "RISK_ACCEPTED").await;
        let after = secure_score(&app, &t).await["current"]["points"]
            .as_f64()
            .expect("points");

        let fields = "trends(from: $from, to: $to) { \
             pointsAchieved pointsRegressed netChange days { day regressions riskAcceptances pointsGained pointsLost } \
             regressedActions { controlId pointsLost } }";
        let tr = app
            .query_tenant(&t.reader, &t.slug, fields)
            .var("from", "Date!", json!(days_ago(1).to_string()))
            .var("to", "Date!", json!(today().to_string()))
            .payload()
            .await["trends"]
            .clone();
        let net = tr["netChange"].as_f64().expect("net");
        assert!(
            (net - (after - before)).abs() < 0.011,
            "net change {net} = {after} − {before}"
        );
        let achieved = tr["pointsAchieved"].as_f64().expect("achieved");
        let regressed = tr["pointsRegressed"].as_f64().expect("regressed");
        assert!(achieved > 0.0 && regressed > 0.0, "{tr:#}");
        assert!((achieved - regressed - net).abs() < 0.011, "{tr:#}");
        let days = tr["days"].as_array().expect("days");
        assert_eq!(days.len(), 2, "every day of the range");
        assert_eq!(days[0]["regressions"], 0, "nothing yesterday");
        assert_eq!(days[1]["regressions"], 1, "one regression today");
        assert_eq!(days[1]["riskAcceptances"], 1, "one risk acceptance today");
        assert_eq!(tr["regressedActions"][0]["controlId"], "MFARegistrationV2");
        assert!(tr["regressedActions"][0]["pointsLost"].as_f64().expect("lost") > 0.0);
    }
);

db_test!(goals_report_zone_progress_and_the_projected_trend, |app| {
    let t = app.tenant().create().await;
    let zones = |token: &str, input: Value| {
        let fields = "goals { zones { okayFrom goodFrom currentZone } } userErrors { field code }";
        app.set_score_zones(token, input, fields)
    };
    let goal = |input: Value| {
        let fields = format!("goal {{ targetPercentage }} goals {{ {GOALS} }} userErrors {{ field code }}");
        app.set_score_goal(&t.operator, input, &fields).payload()
    };
    // Validation: thresholds in order, a date in the future; readers may not set goals.
    let bad = json!({ "tenantSlug": t.slug, "okayFrom": 80, "goodFrom": 60 });
    let p = zones(&t.operator, bad).payload().await;
    assert_eq!(
        p["userErrors"],
        json!([{ "field": ["input", "goodFrom"], "code": "BAD_USER_INPUT" }])
    );
    let past = json!({ "tenantSlug": t.slug, "targetPercentage": 80, "targetDate": today().to_string() });
    let p = goal(past).await;
    assert_eq!(p["userErrors"][0]["field"], json!(["input", "targetDate"]));
    let body = zones(
        &t.reader,
        json!({ "tenantSlug": t.slug, "okayFrom": 10, "goodFrom": 20 }),
    )
    .await;
    assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");

    progress(&app, &t, "AdminMFAV2", 4, 4).await;
    progress(&app, &t, "MFARegistrationV2", 4, 4).await;
    // The live score is P %; history says P−2 two days ago and P−1 yesterday: +1 a day.
    let live = secure_score(&app, &t).await["current"]["percentage"]
        .as_f64()
        .expect("pct");
    let p = (live * 100.0).round() as i64; // hundredths of a percent, as presented
    assert!(p > 300, "the tenant has some points: {live}");
    let max = 100 * 10_000;
    insert_flat_snapshot(&app, t.id, days_ago(2), (p - 200) * 100, max, "COMPUTED").await;
    insert_flat_snapshot(&app, t.id, days_ago(1), (p - 100) * 100, max, "COMPUTED").await;

    let ok = json!({ "tenantSlug": t.slug, "okayFrom": 1, "goodFrom": 99 });
    let p = zones(&t.operator, ok).payload().await;
    assert_eq!(
        p["goals"]["zones"],
        json!({ "okayFrom": 1.0, "goodFrom": 99.0, "currentZone": "OKAY" })
    );
    let target = (live + 5.0).min(100.0).floor();
    let on = json!({ "tenantSlug": t.slug, "targetPercentage": target, "note": "Board ask",
                     "targetDate": (today() + Days::new(10)).to_string() });
    let p = goal(on).await;
    let g = &p["goals"]["currentGoal"];
    assert_eq!(p["userErrors"], json!([]));
    assert_eq!(g["targetPercentage"], target);
    assert_eq!(g["note"], "Board ask");
    let projected = g["projectedPercentageAtTarget"].as_f64().expect("projection");
    assert!(
        (projected - (live + 10.0).min(100.0)).abs() < 0.02,
        "the line through P−2, P−1, P reaches P+10 in ten days: {projected} vs {live}"
    );
    assert_eq!(g["onTrack"], true, "{g:#}");
    let progress = g["progress"].as_f64().expect("progress");
    assert!(
        (progress - live / target).abs() < 0.01,
        "progress {progress} = {live} / {target}"
    );

    let read = format!("goals {{ {GOALS} }}");
    let tenant = app.query_tenant(&t.reader, &t.slug, &read).payload().await;
    assert_eq!(
        tenant["goals"]["goals"].as_array().map(Vec::len),
        Some(1),
        "one goal"
    );
});

db_test!(
    goals_can_be_updated_and_deleted_by_operators_of_their_tenant_only,
    |app| {
        let t = app.tenant().create().await;
        let other = app.tenant().create().await;
        let future = (Utc::now().date_naive() + Days::new(120)).to_string();
        let later = (Utc::now().date_naive() + Days::new(200)).to_string();
        let fields = "goal { id targetPercentage targetDate note } goals { goals { id } } userErrors { field message code }";
        let set = app
        .set_score_goal(
            &t.operator,
            json!({ "tenantSlug": t.slug, "targetPercentage": 70, "targetDate": future, "note": "board ask" }),
            fields,
        )
        .payload()
        .await;
        let id = set["goal"]["id"].as_str().unwrap().to_string();

        // A partial update: the target changes, the date and note stay.
        let updated = app
            .update_score_goal(
                &t.operator,
                json!({ "goalId": id, "targetPercentage": 82.5 }),
                fields,
            )
            .payload()
            .await;
        assert_eq!(updated["userErrors"], json!([]), "{updated}");
        assert_eq!(updated["goal"]["targetPercentage"], json!(82.5));
        assert_eq!(updated["goal"]["targetDate"], json!(future));
        assert_eq!(updated["goal"]["note"], "board ask");
        // The date moves and `null` clears the note.
        let moved = app
            .update_score_goal(
                &t.operator,
                json!({ "goalId": id, "targetDate": later, "note": null }),
                fields,
            )
            .payload()
            .await;
        assert_eq!(moved["goal"]["targetDate"], json!(later));
        assert_eq!(moved["goal"]["note"], Value::Null);

        // Bad input changes nothing.
        for (input, field) in [
            (json!({ "goalId": id, "targetPercentage": 0 }), "targetPercentage"),
            (
                json!({ "goalId": id, "targetPercentage": 101 }),
                "targetPercentage",
            ),
            (json!({ "goalId": id, "targetDate": "2020-01-01" }), "targetDate"),
        ] {
            let refused = app.update_score_goal(&t.operator, input, fields).payload().await;
            assert_eq!(refused["userErrors"][0]["code"], "BAD_USER_INPUT", "{refused}");
            assert_eq!(refused["userErrors"][0]["field"][1], field, "{refused}");
        }
        let goals_of = |slug: String, token: String| {
            let app = &app;
            async move {
                app.query_tenant(
                    &token,
                    &slug,
                    "goals { goals { id targetPercentage targetDate note } }",
                )
                .payload()
                .await["goals"]["goals"]
                    .clone()
            }
        };
        let unchanged = goals_of(t.slug.clone(), t.reader.clone()).await;
        assert_eq!(
            unchanged,
            json!([{ "id": id, "targetPercentage": 82.5, "targetDate": later, "note": null }])
        );

        // A READER may not; another tenant's OPERATOR and ADMIN get NOT_FOUND, like a goal that does
        // not exist, and a tampered id is NOT_FOUND too.
        let forbidden = app
            .update_score_goal(&t.reader, json!({ "goalId": id, "targetPercentage": 50 }), fields)
            .send()
            .await;
        assert_eq!(
            forbidden["errors"][0]["extensions"]["code"], "FORBIDDEN",
            "{forbidden}"
        );
        for token in [&other.operator, &other.admin] {
            let hidden = app
                .update_score_goal(token, json!({ "goalId": id, "targetPercentage": 50 }), fields)
                .payload()
                .await;
            assert_eq!(hidden["userErrors"][0]["code"], "NOT_FOUND", "{hidden}");
            let hidden = app
                .delete_score_goal(
                    token,
                    json!({ "goalId": id }),
                    "deletedGoalId userErrors { code }",
                )
                .payload()
                .await;
            assert_eq!(hidden["userErrors"][0]["code"], "NOT_FOUND", "{hidden}");
        }
        let missing = app
            .delete_score_goal(
                &t.operator,
                json!({ "goalId": "U2NvcmVHb2FsOjk5OTk5OQ" }),
                "deletedGoalId userErrors { code }",
            )
            .payload()
            .await;
        assert_eq!(missing["userErrors"][0]["code"], "NOT_FOUND", "{missing}");
        assert_eq!(goals_of(t.slug.clone(), t.reader.clone()).await, unchanged);

        let deleted = app
            .delete_score_goal(
                &t.operator,
                json!({ "goalId": id }),
                "deletedGoalId goals { goals { id } } userErrors { code }",
            )
            .payload()
            .await;
        assert_eq!(deleted["deletedGoalId"], json!(id));
        assert_eq!(deleted["goals"]["goals"], json!([]));
        assert_eq!(goals_of(t.slug.clone(), t.reader.clone()).await, json!([]));
    }
);

db_test!(history_queries_without_dates_cover_the_last_30_days, |app| {
    let t = app.tenant().create().await;
    let today = Utc::now().date_naive();
    let body = app
        .gql(
            Some(&t.reader),
            "query($s: String!) { tenant(slug: $s) { scoreHistory { day live } trends { days { day } } comparisons { day } } }",
            json!({ "s": t.slug }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let tenant = &body["data"]["tenant"];
    let history = tenant["scoreHistory"].as_array().unwrap();
    assert_eq!(
        history.last().unwrap(),
        &json!({ "day": today.to_string(), "live": true })
    );
    let days: Vec<&str> = tenant["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["day"].as_str().unwrap())
        .collect();
    assert_eq!(days.len(), 30, "{days:?}");
    assert_eq!(days[0], (today - Days::new(29)).to_string());
    assert_eq!(days[29], today.to_string());
    // `from` alone runs to today; `to` alone starts 29 days before it.
    let to = today - Days::new(10);
    let body = app
        .gql(
            Some(&t.reader),
            "query($s: String!, $to: Date!) { tenant(slug: $s) { comparisons(to: $to) { day } } }",
            json!({ "s": t.slug, "to": to.to_string() }),
        )
        .await;
    let days = body["data"]["tenant"]["comparisons"].as_array().unwrap();
    assert_eq!(days.len(), 30, "{body}");
    assert_eq!(days[0]["day"], json!((to - Days::new(29)).to_string()));
});
