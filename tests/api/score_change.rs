//! `Tenant.scoreChange` (issue 18): why a score view moved between two days. After real
//! mutations (status claims, progress, completions, risk acceptances and their expiry, PLANNED,
//! licences, services toggled through `updateTenant`), on backfilled past days, after a catalog
//! re-weighting and on imported days, the causes add up exactly to what `scoreHistory` shows,
//! and name the right causes and actions; wrong ranges, missing days and other tenants are
//! refused.

use crate::db_test;
use crate::graph_import::{import_ok, realistic};
use crate::helpers::*;
use chrono::{DateTime, Days, Duration, NaiveDate, Utc};
use entity::{action_event, improvement_action, tenant};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use securescore::domain::points::Points;
use securescore::service::history::snapshots;
use serde_json::{Value, json};

/// What the tests read of a score change.
const CHANGE: &str = "view pointsDeltaExact maxDeltaExact percentageDeltaExact \
    percentageFromPointsExact percentageFromMaxExact pointsDelta \
    from { day source pointsExact maxExact percentageExact } \
    to { day source pointsExact maxExact percentageExact } \
    causes { cause pointsDeltaExact maxDeltaExact percentageDeltaExact percentageFromPointsExact \
             percentageFromMaxExact unlistedPointsDeltaExact unlistedMaxDeltaExact \
             actions { controlId title category pointsDeltaExact maxDeltaExact events { kind } } }";

/// The views and the `scoreHistory` field of each.
const VIEWS: [(&str, &str); 5] = [
    ("CURRENT", "current"),
    ("PLANNED", "planned"),
    ("CURRENT_LICENSE", "currentLicense"),
    ("ACHIEVABLE", "achievable"),
    ("VERIFIED", "verified"),
];

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn days_ago(n: u64) -> NaiveDate {
    today() - Days::new(n)
}

fn noon(day: NaiveDate) -> DateTime<Utc> {
    snapshots::start_of_day(day) + Duration::hours(12)
}

fn exact(v: &Value) -> Points {
    v.as_str()
        .unwrap_or_else(|| panic!("an exact value, not {v}"))
        .parse()
        .expect("an exact fraction")
}

fn sum<'a>(values: impl IntoIterator<Item = &'a Value>) -> Points {
    values.into_iter().map(exact).sum()
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

/// Moves every event of the tenant to `at`, as if they had happened then.
async fn move_events(app: &TestApp, tenant_id: i64, at: DateTime<Utc>) {
    action_event::Entity::update_many()
        .col_expr(action_event::Column::OccurredAt, Expr::value(at))
        .filter(action_event::Column::TenantId.eq(tenant_id))
        .exec(&app.db)
        .await
        .expect("events moved");
}

async fn change(app: &TestApp, token: &str, slug: &str, args: Value) -> Value {
    app.query_score_change(token, slug, args, CHANGE).payload().await
}

/// Checks that a change adds up exactly: the causes to the total (points, maximum,
/// percentage), each cause's actions and unlisted part to the cause, and the total to what
/// `scoreHistory` shows for the two days.
async fn assert_adds_up(app: &TestApp, t: &TenantFixture, c: &Value, field: &str) {
    let causes = c["causes"].as_array().expect("causes");
    let total = exact(&c["pointsDeltaExact"]);
    let pick = |key: &'static str| causes.iter().map(move |x| &x[key]);
    assert_eq!(sum(pick("pointsDeltaExact")), total, "causes add up: {c:#}");
    assert_eq!(
        sum(pick("maxDeltaExact")),
        exact(&c["maxDeltaExact"]),
        "maxima add up: {c:#}"
    );
    assert_eq!(
        sum(pick("percentageDeltaExact")),
        exact(&c["percentageDeltaExact"]),
        "percentages add up: {c:#}"
    );
    assert_eq!(
        exact(&c["percentageFromPointsExact"]) + exact(&c["percentageFromMaxExact"]),
        exact(&c["percentageDeltaExact"]),
        "points and maximum make the percentage change"
    );
    assert_eq!(
        sum(pick("percentageFromPointsExact")),
        exact(&c["percentageFromPointsExact"])
    );
    for cause in causes {
        let actions = cause["actions"].as_array().expect("actions");
        assert_eq!(
            sum(actions.iter().map(|a| &a["pointsDeltaExact"])) + exact(&cause["unlistedPointsDeltaExact"]),
            exact(&cause["pointsDeltaExact"]),
            "{cause:#}"
        );
        assert_eq!(
            sum(actions.iter().map(|a| &a["maxDeltaExact"])) + exact(&cause["unlistedMaxDeltaExact"]),
            exact(&cause["maxDeltaExact"]),
            "{cause:#}"
        );
    }
    let (from, to) = (
        c["from"]["day"].as_str().expect("from day"),
        c["to"]["day"].as_str().expect("to day"),
    );
    let fields = format!("day {field} {{ pointsExact }} maxScore {{ pointsExact }}");
    let days = app
        .query_score_history(&t.reader, &t.slug, from, to, &fields)
        .payload()
        .await;
    let days = days.as_array().expect("history days");
    let (first, last) = (&days[0], &days[days.len() - 1]);
    assert_eq!(
        (first["day"].as_str(), last["day"].as_str()),
        (Some(from), Some(to)),
        "{days:#?}"
    );
    assert_eq!(
        exact(&last[field]["pointsExact"]) - exact(&first[field]["pointsExact"]),
        total,
        "the change is the history's difference ({field})"
    );
    assert_eq!(
        exact(&last["maxScore"]["pointsExact"]) - exact(&first["maxScore"]["pointsExact"]),
        exact(&c["maxDeltaExact"]),
        "the maximum's change is the history's"
    );
    assert_eq!(
        exact(&c["from"]["pointsExact"]),
        exact(&first[field]["pointsExact"])
    );
    assert_eq!(exact(&c["to"]["pointsExact"]), exact(&last[field]["pointsExact"]));
}

fn cause<'a>(c: &'a Value, name: &str) -> Option<&'a Value> {
    c["causes"].as_array()?.iter().find(|x| x["cause"] == name)
}

fn causes(c: &Value) -> Vec<&str> {
    c["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .map(|x| x["cause"].as_str().expect("cause"))
        .collect()
}

/// `(controlId, pointsDeltaExact, maxDeltaExact, event kinds)` of a cause's actions.
fn actions_of(c: &Value, name: &str) -> Vec<(String, Points, Points, Vec<String>)> {
    let Some(x) = cause(c, name) else {
        return Vec::new();
    };
    x["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            (
                a["controlId"].as_str().expect("id").to_string(),
                exact(&a["pointsDeltaExact"]),
                exact(&a["maxDeltaExact"]),
                a["events"]
                    .as_array()
                    .expect("events")
                    .iter()
                    .map(|e| e["kind"].as_str().expect("kind").to_string())
                    .collect(),
            )
        })
        .collect()
}

fn p(s: &str) -> Points {
    s.parse().expect("points")
}

fn kinds(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

db_test!(today_s_changes_are_explained_by_their_causes_and_actions, |app| {
    let t = app.tenant().create().await;
    backdate_tenant(&app, t.id, noon(days_ago(10))).await;
    snapshots::snapshot_day(&app.db, days_ago(1), Utc::now())
        .await
        .expect("yesterday snapshotted");

    // 9 points × 1/3 gained, lost to a risk acceptance, back when its review date passes.
    progress(&app, &t, "MFARegistrationV2", 1, 3).await;
    set_status(&app, &t, "MFARegistrationV2", "RISK_ACCEPTED").await;
    app.pass_review_date(&t, "MFARegistrationV2").await;
    // A third-party claim (10 points), a completion (8), a plan (4 in the planned view).
    set_status(&app, &t, "AdminMFAV2", "RESOLVED_THIRD_PARTY").await;
    progress(&app, &t, "PWAgePolicyNew", 2, 2).await;
    set_status(&app, &t, "IntegratedApps", "PLANNED").await;
    // A licence for the AAD_P1 controls, MCAS enabled and EXO disabled.
    let lic = app
        .set_tenant_license(
            &t.admin,
            json!({ "tenantSlug": t.slug, "sku": "ENTRA_ID_P1", "seatsPurchased": 300, "seatsAssigned": 250 }),
            "userErrors { code }",
        )
        .payload()
        .await;
    assert_eq!(lic["userErrors"], json!([]));
    let upd = app
        .update_tenant(
            &t.admin,
            json!({ "slug": t.slug, "enabledServices": ["AzureAD", "MDO", "MCAS"] }),
            "userErrors { code }",
        )
        .payload()
        .await;
    assert_eq!(upd["userErrors"], json!([]));

    let since = json!({ "from": days_ago(1).to_string() });
    let c = change(&app, &t.reader, &t.slug, since.clone()).await;
    assert_eq!(c["view"], "CURRENT", "the default view");
    assert_eq!(c["from"]["source"], "COMPUTED");
    assert_eq!(c["to"]["source"], "LIVE", "`to` is today by default");
    assert_adds_up(&app, &t, &c, "current").await;
    assert_eq!(
        causes(&c),
        [
            "REMEDIATION",
            "STATUS_CLAIM",
            "RISK_ACCEPTANCE",
            "EXPIRY",
            "APPLICABILITY"
        ],
        "{c:#}"
    );
    assert_eq!(
        actions_of(&c, "REMEDIATION"),
        vec![
            ("PWAgePolicyNew".into(), p("8"), p("0"), kinds(&["COMPLETED"])),
            (
                "MFARegistrationV2".into(),
                p("3"),
                p("0"),
                kinds(&["PROGRESS_CHANGED"])
            ),
        ]
    );
    assert_eq!(
        actions_of(&c, "RISK_ACCEPTANCE"),
        vec![(
            "MFARegistrationV2".into(),
            p("-3"),
            p("0"),
            kinds(&["STATUS_CHANGED"])
        )]
    );
    assert_eq!(
        actions_of(&c, "EXPIRY"),
        vec![("MFARegistrationV2".into(), p("3"), p("0"), kinds(&["EXPIRED"]))]
    );
    assert_eq!(
        actions_of(&c, "STATUS_CLAIM"),
        vec![("AdminMFAV2".into(), p("10"), p("0"), kinds(&["STATUS_CHANGED"]))]
    );
    let applicability = cause(&c, "APPLICABILITY").expect("applicability");
    assert_eq!(
        exact(&applicability["maxDeltaExact"]),
        exact(&c["maxDeltaExact"]),
        "the only cause that moves the maximum"
    );
    assert_eq!(
        exact(&applicability["unlistedMaxDeltaExact"]),
        Points::ZERO,
        "every action named"
    );
    let moved = actions_of(&c, "APPLICABILITY");
    let max_of = |id: &str| moved.iter().find(|a| a.0 == id).map(|a| a.2.clone());
    assert_eq!(
        max_of("mcas_mda_enabled"),
        Some(p("5")),
        "enabled with MCAS: {moved:?}"
    );
    assert_eq!(
        max_of("exo_mailboxaudit"),
        Some(p("-3")),
        "gone with EXO: {moved:?}"
    );
    assert!(
        moved.iter().all(|a| a.3.is_empty()),
        "no events behind applicability"
    );
    let pct = cause(&c, "APPLICABILITY").expect("applicability");
    assert!(
        exact(&pct["percentageFromMaxExact"]) != Points::ZERO
            && exact(&pct["percentageFromPointsExact"]) == Points::ZERO,
        "a smaller maximum moves the percentage, not the points: {pct:#}"
    );
    assert_eq!(exact(&c["pointsDeltaExact"]), p("21"), "3 − 3 + 3 + 10 + 8");

    let planned = change(
        &app,
        &t.reader,
        &t.slug,
        json!({ "from": days_ago(1).to_string(), "view": "PLANNED" }),
    )
    .await;
    assert_adds_up(&app, &t, &planned, "planned").await;
    assert_eq!(
        actions_of(&planned, "PLANNING"),
        vec![(
            "IntegratedApps".into(),
            p("4"),
            p("0"),
            kinds(&["STATUS_CHANGED"])
        )]
    );
    let licensed = change(
        &app,
        &t.reader,
        &t.slug,
        json!({ "from": days_ago(1).to_string(), "view": "CURRENT_LICENSE" }),
    )
    .await;
    assert_adds_up(&app, &t, &licensed, "currentLicense").await;
    let licence = actions_of(&licensed, "LICENCE");
    assert!(
        licence
            .iter()
            .any(|a| a.0 == "BlockLegacyAuthentication" && a.1 == p("8")),
        "the AAD_P1 licence lifts its controls: {licence:?}"
    );
    assert!(
        licence.iter().all(|a| a.1.is_positive() && a.2 == Points::ZERO),
        "{licence:?}"
    );
    for (view, field) in VIEWS {
        let c = change(
            &app,
            &t.reader,
            &t.slug,
            json!({ "from": days_ago(1).to_string(), "view": view }),
        )
        .await;
        assert_eq!(c["view"], view);
        assert_adds_up(&app, &t, &c, field).await;
        assert!(
            !causes(&c).contains(&"UNATTRIBUTED"),
            "{view}: the log explains everything: {c:#}"
        );
    }
    let verified = change(
        &app,
        &t.reader,
        &t.slug,
        json!({ "from": days_ago(1).to_string(), "view": "VERIFIED" }),
    )
    .await;
    assert!(
        actions_of(&verified, "STATUS_CLAIM").is_empty(),
        "a claim adds nothing verified: {verified:#}"
    );
});

db_test!(past_days_are_explained_from_their_snapshots, |app| {
    let t = app.tenant().create().await;
    backdate_tenant(&app, t.id, noon(days_ago(10))).await;
    progress(&app, &t, "MFARegistrationV2", 4, 4).await;
    set_status(&app, &t, "PWAgePolicyNew", "RESOLVED_ALTERNATE_MITIGATION").await;
    move_events(&app, t.id, noon(days_ago(3))).await;
    progress(&app, &t, "MFARegistrationV2", 2, 4).await;
    app.changed(t.id).await;
    snapshots::backfill(&app.db, days_ago(5), days_ago(1), Utc::now())
        .await
        .expect("backfill");
    let c = change(
        &app,
        &t.reader,
        &t.slug,
        json!({ "from": days_ago(4).to_string(), "to": days_ago(2).to_string() }),
    )
    .await;
    assert_eq!(
        (c["from"]["source"].as_str(), c["to"]["source"].as_str()),
        (Some("COMPUTED"), Some("COMPUTED"))
    );
    assert_adds_up(&app, &t, &c, "current").await;
    assert_eq!(causes(&c), ["REMEDIATION", "STATUS_CLAIM"], "{c:#}");
    assert_eq!(
        actions_of(&c, "REMEDIATION"),
        vec![("MFARegistrationV2".into(), p("9"), p("0"), kinds(&["COMPLETED"]))]
    );
    // Today's regression is not in that range, but is in the next.
    let later = change(
        &app,
        &t.reader,
        &t.slug,
        json!({ "from": days_ago(2).to_string() }),
    )
    .await;
    assert_adds_up(&app, &t, &later, "current").await;
    assert_eq!(
        actions_of(&later, "REGRESSION"),
        vec![(
            "MFARegistrationV2".into(),
            p("-4.5"),
            p("0"),
            kinds(&["REGRESSED"])
        )]
    );
    // Without `from`: the first day the history shows within the last 30.
    let default = change(&app, &t.reader, &t.slug, json!({})).await;
    assert_eq!(
        default["from"]["day"],
        json!(days_ago(5).to_string()),
        "{default:#}"
    );
    assert_adds_up(&app, &t, &default, "current").await;
});

db_test!(
    a_catalog_re_weighting_after_a_day_was_written_is_the_catalog_s,
    |app| {
        let t = app.tenant().create().await;
        backdate_tenant(&app, t.id, noon(days_ago(10))).await;
        snapshots::snapshot_day(&app.db, days_ago(1), Utc::now())
            .await
            .expect("snapshot");
        let admin = app.service_admin().await;
        let up = app
            .update_control(
                &admin,
                json!({ "id": "AdminMFAV2", "maxPoints": 6 }),
                "userErrors { code }",
            )
            .payload()
            .await;
        assert_eq!(up["userErrors"], json!([]));
        let c = change(
            &app,
            &t.reader,
            &t.slug,
            json!({ "from": days_ago(1).to_string(), "view": "ACHIEVABLE" }),
        )
        .await;
        assert_adds_up(&app, &t, &c, "achievable").await;
        assert_eq!(causes(&c), ["CATALOG"], "{c:#}");
        let catalog = cause(&c, "CATALOG").expect("catalog");
        assert_eq!(exact(&catalog["unlistedMaxDeltaExact"]), p("-4"), "10 → 6 points");
        assert_eq!(
            exact(&catalog["unlistedPointsDeltaExact"]),
            p("-4"),
            "achievable counts it at max"
        );
    }
);

db_test!(imported_days_leave_the_vendor_s_change_unattributed, |app| {
    let t = app.tenant().create().await;
    let (scores, profiles) = realistic();
    import_ok(&app, &t.admin, &t.slug, &scores, Some(&profiles)).await;
    let c = change(
        &app,
        &t.reader,
        &t.slug,
        json!({ "from": "2024-05-01", "to": "2024-05-03" }),
    )
    .await;
    assert_eq!(c["from"]["source"], "IMPORTED");
    assert_adds_up(&app, &t, &c, "current").await;
    assert_eq!(causes(&c), ["UNATTRIBUTED"], "{c:#}");
    let u = cause(&c, "UNATTRIBUTED").expect("unattributed");
    assert_eq!(
        exact(&u["unlistedPointsDeltaExact"]),
        exact(&c["pointsDeltaExact"]),
        "the whole change, as the vendor reported it: {c:#}"
    );
    assert_ne!(
        exact(&c["pointsDeltaExact"]),
        Points::ZERO,
        "the vendor's score moved"
    );
    assert_eq!(exact(&u["unlistedMaxDeltaExact"]), exact(&c["maxDeltaExact"]));
    assert_eq!(u["actions"], json!([]), "no action is named for vendor totals");
});

db_test!(
    score_changes_are_refused_for_other_tenants_and_impossible_ranges,
    |app| {
        let t = app.tenant().create().await;
        let other = app.tenant().create().await;
        let ask = |token: String, slug: String, args: Value| {
            let app = &app;
            async move {
                app.query_score_change(&token, &slug, args, "pointsDelta")
                    .send()
                    .await
            }
        };
        let body = ask(t.reader.clone(), other.slug.clone(), json!({})).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("NOT_FOUND"),
            "another tenant's slug: {body}"
        );
        let body = ask(t.reader.clone(), "no-such-tenant".into(), json!({})).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("NOT_FOUND"),
            "a missing slug: {body}"
        );
        let ok = ask(t.reader.clone(), t.slug.clone(), json!({})).await;
        assert!(ok.get("errors").is_none(), "READER may ask: {ok}");
        assert_eq!(
            ok["data"]["tenant"]["scoreChange"]["pointsDelta"], 0.0,
            "one day, no change"
        );
        let bad = [
            (
                json!({ "from": today().to_string(), "to": days_ago(1).to_string() }),
                "from after to",
            ),
            (
                json!({ "from": days_ago(500).to_string() }),
                "longer than the history keeps",
            ),
            (
                json!({ "to": (today() + Days::new(1)).to_string() }),
                "to in the future",
            ),
            (
                json!({ "from": days_ago(3).to_string() }),
                "a day without a snapshot",
            ),
        ];
        for (args, why) in bad {
            let body = ask(t.reader.clone(), t.slug.clone(), args).await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("BAD_USER_INPUT"),
                "{why}: {body}"
            );
        }
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_s_last_30_days_are_explained_by_the_log() {
    let (app, tokens) = spawn_demo_app(Backend::Sqlite).await;
    let t = TenantFixture {
        id: 0,
        slug: tokens.tenant_slug.clone(),
        reader: tokens.reader.clone(),
        operator: tokens.operator.clone(),
        admin: tokens.admin.clone(),
    };
    for (view, field) in VIEWS {
        let c = change(&app, &t.reader, &t.slug, json!({ "view": view })).await;
        assert_eq!(
            c["from"]["day"],
            json!(days_ago(29).to_string()),
            "the last 30 days"
        );
        assert_adds_up(&app, &t, &c, field).await;
        assert!(!causes(&c).contains(&"UNATTRIBUTED"), "{view}: {c:#}");
        if view == "CURRENT" {
            assert!(!causes(&c).is_empty(), "the demo's score moved: {c:#}");
        }
    }
}
