//! Comparisons are private by construction (SPEC §8): each test performs an attack that worked
//! when cohorts were exact and overlapping, and checks that it fails now — differencing two
//! custom cohorts, differencing a cell across the day a tenant joined it, and Sybil tenants the
//! attacker controls. The noise secret is set in the database (as a first start would store a
//! generated one), so the noise, and therefore each test, is deterministic; the attacks are
//! repeated under many secrets to show they fail by construction, not by luck.

use crate::db_test;
use crate::helpers::*;
use chrono::{Days, NaiveDate, Utc};
use entity::server_setting;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use securescore::domain::enums::Role;
use securescore::service::access::tenants;
use securescore::service::history::comparisons;
use serde_json::{Value, json};

const COMPARE: &str = "day \
     cohorts { kind key suppressedReason suppressedMessage \
     figures { size meanPercentage p25Percentage medianPercentage p75Percentage } \
     excludedCells { industry seatBand licenseTier reason message } \
     noise { epsilon k cells meanStandardDeviation description } }";

fn days_ago(n: u64) -> NaiveDate {
    Utc::now().date_naive() - Days::new(n)
}

/// Sets the stored noise secret (what a first start generates when COMPARISON_NOISE_SECRET is
/// unset); every request reads it from the database.
async fn set_secret(app: &TestApp, secret: &str) {
    server_setting::Entity::insert(server_setting::ActiveModel {
        name: Set("comparison_noise_secret".into()),
        value: Set(secret.into()),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(server_setting::Column::Name)
            .update_column(server_setting::Column::Value)
            .to_owned(),
    )
    .exec_without_returning(&app.db)
    .await
    .expect("secret stored");
}

/// A tenant of `industry` with 250 seats and no licences (cell `industry × SEATS_101_500 ×
/// NONE`) and a snapshot of `pct` % on each of `days`.
async fn member(app: &TestApp, industry: &str, days: &[NaiveDate], pct: f64) -> TenantFixture {
    let t = app
        .tenant()
        .industry(industry)
        .seats(250)
        .services(&["NoSuchService"])
        .create()
        .await;
    for day in days {
        insert_percentage_snapshot(app, t.id, *day, pct).await;
    }
    t
}

async fn aggregate(app: &TestApp, day: NaiveDate) {
    comparisons::write_aggregates(&app.db, day, Utc::now())
        .await
        .expect("aggregates");
}

/// The cohorts of one day's comparison.
async fn compare(app: &TestApp, token: &str, slug: &str, day: NaiveDate, cohorts: Value) -> Vec<Value> {
    let days = app
        .query_comparisons(token, slug, day, day, cohorts, COMPARE)
        .payload()
        .await;
    days[0]["cohorts"].as_array().expect("cohorts").clone()
}

fn size(c: &Value) -> f64 {
    c["figures"]["size"].as_f64().expect("size")
}

fn mean(c: &Value) -> f64 {
    c["figures"]["meanPercentage"].as_f64().expect("mean")
}

fn excludes(c: &Value, industry: &str) -> bool {
    c["excludedCells"]
        .as_array()
        .expect("excludedCells")
        .iter()
        .any(|e| {
            e["industry"] == industry
                && e["seatBand"] == "SEATS_101_500"
                && e["licenseTier"] == "NONE"
                && e["reason"] == "FEWER_THAN_K"
                && e["message"] == "fewer than 5 tenants you cannot read"
        })
}

/// The attack's estimates are random variables (the noise): one can land near the truth by
/// chance, as any guess can, and which one does depends on the day (a seed's input). What must
/// hold is that they are typically far off and seldom close (on 2026-12-02, one draw of the 40
/// of one attack fell within a point of the truth); a leak puts every estimate at the truth.
fn assert_rarely_close(mut errors: Vec<f64>) {
    let close = errors.iter().filter(|e| **e <= 1.0).count();
    assert!(
        close <= 2,
        "{close} of {} estimates within a point: {errors:?}",
        errors.len()
    );
    errors.sort_by(f64::total_cmp);
    assert!(errors[errors.len() / 2] > 10.0, "typically far off: {errors:?}");
}

/// Secrets the attacks are repeated under.
const SECRETS: usize = 20;

db_test!(
    differencing_two_custom_cohorts_does_not_reveal_the_left_out_organisation,
    |app| {
        let day = days_ago(1);
        // Five industries with six others each (and the asker in the first), and one
        // organisation alone in the sixth industry at 95 %.
        let industries = ["i1", "i2", "i3", "i4", "i5"];
        let asker = member(&app, "i1", &[day], 50.0).await;
        for (i, industry) in industries.iter().enumerate() {
            for j in 0..6 {
                member(&app, industry, &[day], 20.0 + (i * 6 + j) as f64 * 1.5).await;
            }
        }
        let target_score = 95.0;
        member(&app, "i6", &[day], target_score).await;
        aggregate(&app, day).await;

        let cohorts = json!([{ "kind": "CUSTOM" }, { "kind": "CUSTOM", "industries": industries }]);
        let mut errors = Vec::new();
        for s in 0..SECRETS {
            set_secret(&app, &format!("differencing-{s}")).await;
            let c = compare(&app, &asker.reader, &asker.slug, day, cohorts.clone()).await;
            assert!(
                excludes(&c[0], "i6"),
                "the lone organisation's cell is left out and said so: {:#}",
                c[0]
            );
            assert_eq!(c[0]["noise"]["cells"], 5, "five cells count: {:#}", c[0]);
            // The attack of the exact, overlapping cohorts: n₁·mean₁ − n₂·mean₂, with the
            // published sizes and with the true ones (31 and 30 when everyone counted).
            for (n1, n2) in [(size(&c[0]), size(&c[1])), (31.0, 30.0)] {
                let estimate = n1 * mean(&c[0]) - n2 * mean(&c[1]);
                let error = (estimate - target_score).abs();
                errors.push(error);
            }
        }
        assert_rarely_close(errors);
    }
);

db_test!(
    differencing_a_cell_across_the_day_a_tenant_joined_does_not_reveal_its_score,
    |app| {
        let (before, after) = (days_ago(2), days_ago(1));
        let asker = member(&app, "other", &[before, after], 50.0).await;
        let mut regulars = Vec::new();
        for j in 0..5 {
            regulars.push(member(&app, "niche", &[before, after], 30.0 + j as f64 * 5.0).await);
        }
        // The target has a snapshot only on the second day: it joined the cell then.
        let target_score = 88.0;
        member(&app, "niche", &[after], target_score).await;
        aggregate(&app, before).await;
        aggregate(&app, after).await;

        let cohort = json!([{ "kind": "CUSTOM", "industries": ["niche"] }]);
        let mut errors = Vec::new();
        for s in 0..SECRETS {
            set_secret(&app, &format!("joining-{s}")).await;
            let b = compare(&app, &asker.reader, &asker.slug, before, cohort.clone()).await;
            let a = compare(&app, &asker.reader, &asker.slug, after, cohort.clone()).await;
            assert!(
                b[0]["figures"].is_object() && a[0]["figures"].is_object(),
                "both days answered"
            );
            for (n_before, n_after) in [(size(&b[0]), size(&a[0])), (5.0, 6.0)] {
                let estimate = n_after * mean(&a[0]) - n_before * mean(&b[0]);
                let error = (estimate - target_score).abs();
                errors.push(error);
            }
        }
        assert_rarely_close(errors);
    }
);

db_test!(sybil_tenants_the_caller_reads_never_count_towards_k, |app| {
    let day = days_ago(1);
    let asker = member(&app, "niche", &[day], 50.0).await;
    // The attacker creates five tenants in the target's narrow cell and reads them all.
    let now = Utc::now();
    let attacker = tenants::create_principal(&app.db, "attacker", "USER", now)
        .await
        .expect("principal");
    let (token, _) = tenants::issue_token(&app.db, attacker.id, "attack", None, None, now)
        .await
        .expect("token");
    tenants::grant_role(&app.db, attacker.id, asker.id, Role::Reader, now)
        .await
        .expect("grant");
    let mut sybil_scores = Vec::new();
    for j in 0..5 {
        let pct = 10.0 + j as f64 * 10.0;
        let s = member(&app, "niche", &[day], pct).await;
        tenants::grant_role(&app.db, attacker.id, s.id, Role::Reader, now)
            .await
            .expect("grant");
        sybil_scores.push(pct);
    }
    let target_score = 77.0;
    member(&app, "niche", &[day], target_score).await;
    aggregate(&app, day).await;
    set_secret(&app, "sybil").await;

    let cohort = json!([{ "kind": "CUSTOM", "industries": ["niche"] }, { "kind": "ALL_TENANTS" }]);
    let c = compare(&app, &token, &asker.slug, day, cohort.clone()).await;
    assert_eq!(
        c[0]["figures"],
        Value::Null,
        "only the target is left: {:#}",
        c[0]
    );
    assert_eq!(c[0]["suppressedReason"], "TOO_FEW_TENANTS");
    assert!(excludes(&c[0], "niche"), "{:#}", c[0]);
    assert_eq!(
        c[1]["figures"],
        Value::Null,
        "nor is it in ALL_TENANTS: {:#}",
        c[1]
    );
    assert!(excludes(&c[1], "niche"), "{:#}", c[1]);

    // Sybils the attacker cannot read (made through accomplices) count, but the noise
    // hides the one real member: size × mean − Σ known scores is not its score.
    let known: f64 = sybil_scores.iter().sum();
    let mut errors = Vec::new();
    for s in 0..SECRETS {
        set_secret(&app, &format!("sybil-{s}")).await;
        let c = compare(&app, &asker.reader, &asker.slug, day, cohort.clone()).await;
        assert!(c[0]["figures"].is_object(), "six others count: {:#}", c[0]);
        for n in [size(&c[0]), 6.0] {
            let estimate = n * mean(&c[0]) - known;
            let error = (estimate - target_score).abs();
            assert!(error > 1.0, "secret {s}: estimate {estimate} of {target_score}");
            errors.push(error);
        }
    }
    errors.sort_by(f64::total_cmp);
    assert!(errors[errors.len() / 2] > 10.0, "typically far off: {errors:?}");
});

db_test!(
    noise_is_the_same_for_every_repetition_and_every_server_process,
    |app| {
        let day = days_ago(1);
        let asker = member(&app, "a", &[day], 50.0).await;
        for j in 0..12 {
            member(
                &app,
                if j % 2 == 0 { "a" } else { "b" },
                &[day],
                20.0 + j as f64 * 5.0,
            )
            .await;
        }
        aggregate(&app, day).await;
        // No secret configured: the first request generates one and stores it.
        let cohorts = json!([{ "kind": "ALL_TENANTS" }, { "kind": "SAME_INDUSTRY" }]);
        let first = compare(&app, &asker.reader, &asker.slug, day, cohorts.clone()).await;
        let stored = server_setting::Entity::find_by_id("comparison_noise_secret".to_string())
            .one(&app.db)
            .await
            .expect("query")
            .expect("a secret was generated and stored");
        assert!(stored.value.len() >= 32, "a random secret");
        assert_eq!(
            compare(&app, &asker.reader, &asker.slug, day, cohorts.clone()).await,
            first,
            "asking again gives the same noise"
        );
        let other = spawn_another_process(&app, |_| {}).await;
        let body = app
            .query_comparisons(&asker.reader, &asker.slug, day, day, cohorts, COMPARE)
            .at(&other)
            .await;
        assert_eq!(
            body["data"]["tenant"]["comparisons"][0]["cohorts"],
            json!(first),
            "another process uses the stored secret"
        );
        let noise = &first[0]["noise"];
        assert_eq!(noise["epsilon"], 1.0);
        assert_eq!(noise["k"], 5);
        assert_eq!(noise["cells"], 2);
        assert!(noise["meanStandardDeviation"].as_f64().expect("σ") > 0.0);
        assert!(noise["description"].as_str().expect("text").contains("Laplace"));
    }
);

db_test!(licence_tiers_put_each_tenant_in_exactly_one_cell, |app| {
    let day = days_ago(1);
    let asker = member(&app, "t", &[day], 50.0).await;
    let mut p2 = Vec::new();
    for j in 0..5 {
        // Entra ID P2 grants AAD_P1 and AAD_P2: tier P2 only, never also P1.
        let t = member(&app, "t", &[day], 40.0 + j as f64).await;
        entity::tenant_license::ActiveModel {
            tenant_id: Set(t.id),
            license_sku: Set("ENTRA_ID_P2".into()),
            seats_purchased: Set(250),
            seats_assigned: Set(200),
            expires_at: Set(None),
            created_at: Set(Utc::now() - chrono::Duration::days(30)),
            updated_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&app.db)
        .await
        .expect("licence");
        p2.push(t);
    }
    aggregate(&app, day).await;
    set_secret(&app, "tiers").await;
    let cohorts = json!([
        { "kind": "CUSTOM", "industries": ["t"], "licenseTiers": ["P2"] },
        { "kind": "CUSTOM", "industries": ["t"], "licensePlans": ["AAD_P1"] },
        { "kind": "CUSTOM", "industries": ["t"], "licenseTiers": ["P1"] },
    ]);
    let c = compare(&app, &asker.reader, &asker.slug, day, cohorts).await;
    assert!(c[0]["figures"].is_object(), "the P2 cell: {:#}", c[0]);
    assert_eq!(c[0]["noise"]["cells"], 1);
    assert_eq!(
        c[1]["noise"]["cells"], 1,
        "AAD_P1 holders are tiers P1 and P2: {:#}",
        c[1]
    );
    assert_eq!(c[2]["figures"], Value::Null, "nobody is in tier P1");
    assert_eq!(
        c[2]["excludedCells"].as_array().map(Vec::len),
        Some(6),
        "every named cell not counted is listed, empty or not: {:#}",
        c[2]
    );
    let cohorts = json!([{ "kind": "CUSTOM", "licensePlans": ["MDO_P2"] }]);
    let body = app
        .query_comparisons(&asker.reader, &asker.slug, day, day, cohorts, COMPARE)
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body:#}");
});
