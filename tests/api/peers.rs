//! Peer adoption (`ImprovementAction.peerAdoption`, `Tenant.peerGaps`) keeps the privacy rules
//! of comparisons: cells with fewer than k tenants the caller cannot read are left out and
//! listed, the caller's own tenants never count (an MSP reading a cell's members cannot isolate
//! one of them), the noise is fixed per cell, day and control, withheld answers say why, and
//! another tenant's actions are `NOT_FOUND`. The counting is checked exactly on a server whose ε
//! is so large that the noise vanishes; the noise on a server with the default ε.

use crate::db_test;
use crate::helpers::*;
use chrono::{Days, NaiveDate, Utc};
use entity::{improvement_action, server_setting};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use securescore::domain::enums::Role;
use securescore::service::history::comparisons;
use serde_json::{Value, json};

const ADOPTION: &str = "day kind key suppressedReason suppressedMessage \
     figures { size adoptedPercent donePercent completedPercent resolvedPercent plannedPercent riskAcceptedPercent } \
     excludedCells { industry seatBand licenseTier reason } noise { epsilon k cells adoptedCountStandardDeviation description }";

fn yesterday() -> NaiveDate {
    Utc::now().date_naive() - Days::new(1)
}

/// A tenant of `industry` (250 seats, no licences: cell `industry × SEATS_101_500 × NONE`, the
/// AzureAD controls apply) with `statuses` set, whose actions existed before yesterday ended, and
/// a snapshot of yesterday (which puts it in yesterday's cells).
async fn member(app: &TestApp, industry: &str, statuses: &[(&str, &str)]) -> TenantFixture {
    let t = app
        .tenant()
        .industry(industry)
        .seats(250)
        .services(&["AzureAD"])
        .create()
        .await;
    for (control, status) in statuses {
        let (implemented, total) = if *status == "COMPLETED" { (1, 1) } else { (0, 1) };
        app.set_action(t.id, control, status, implemented, total).await;
    }
    improvement_action::Entity::update_many()
        .col_expr(
            improvement_action::Column::CreatedAt,
            Expr::value(Utc::now() - chrono::Duration::days(3)),
        )
        .filter(improvement_action::Column::TenantId.eq(t.id))
        .exec(&app.db)
        .await
        .expect("actions backdated");
    insert_flat_snapshot(app, t.id, yesterday(), 500_000, 1_000_000, "COMPUTED").await;
    t
}

/// Writes yesterday's cells (and their adoption), as the daily job does.
async fn aggregate(app: &TestApp) {
    comparisons::write_aggregates(&app.db, yesterday(), Utc::now())
        .await
        .expect("aggregates");
}

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

/// `improvementAction(controlId) { peerAdoption(cohort) { … } }`.
async fn adoption(app: &TestApp, token: &str, slug: &str, control: &str, cohort: Value) -> Value {
    app.query_action(
        token,
        slug,
        control,
        &format!(
            "peerAdoption(cohort: {}) {{ {ADOPTION} }}",
            graphql_literal(&cohort)
        ),
    )
    .payload()
    .await["peerAdoption"]
        .clone()
}

/// A JSON value as a GraphQL literal (object keys unquoted, enum strings bare for `kind`).
fn graphql_literal(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| match (k.as_str(), v) {
                    ("kind", Value::String(s)) => format!("{k}: {s}"),
                    _ => format!("{k}: {}", graphql_literal(v)),
                })
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(graphql_literal).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

fn excludes(a: &Value, industry: &str) -> bool {
    a["excludedCells"]
        .as_array()
        .expect("excludedCells")
        .iter()
        .any(|e| {
            e["industry"] == industry
                && e["seatBand"] == "SEATS_101_500"
                && e["licenseTier"] == "NONE"
                && e["reason"] == "FEWER_THAN_K"
        })
}

/// The asker of the `fin` cell and six others with known statuses, and a `tiny` cell of three.
struct Cohort {
    asker: TenantFixture,
    others: Vec<TenantFixture>,
}

async fn cohort(app: &TestApp) -> Cohort {
    // The asker itself completed AdminMFAV2: it must never count.
    let asker = member(app, "fin", &[("AdminMFAV2", "COMPLETED")]).await;
    let others_statuses: [&[(&str, &str)]; 6] = [
        &[
            ("AdminMFAV2", "COMPLETED"),
            ("MFARegistrationV2", "COMPLETED"),
            ("PWAgePolicyNew", "RESOLVED_ALTERNATE_MITIGATION"),
            ("IntegratedApps", "PLANNED"),
        ],
        &[
            ("AdminMFAV2", "COMPLETED"),
            ("MFARegistrationV2", "COMPLETED"),
            ("PWAgePolicyNew", "RESOLVED_ALTERNATE_MITIGATION"),
        ],
        &[
            ("AdminMFAV2", "RESOLVED_THIRD_PARTY"),
            ("MFARegistrationV2", "COMPLETED"),
            ("PWAgePolicyNew", "RESOLVED_ALTERNATE_MITIGATION"),
        ],
        &[("AdminMFAV2", "PLANNED"), ("MFARegistrationV2", "COMPLETED")],
        &[
            ("AdminMFAV2", "RISK_ACCEPTED"),
            ("MFARegistrationV2", "COMPLETED"),
        ],
        &[("AdminMFAV2", "TO_ADDRESS")],
    ];
    let mut others = Vec::new();
    for statuses in others_statuses {
        others.push(member(app, "fin", statuses).await);
    }
    for _ in 0..3 {
        member(
            app,
            "tiny",
            &[("AdminMFAV2", "COMPLETED"), ("IntegratedApps", "COMPLETED")],
        )
        .await;
    }
    aggregate(app).await;
    Cohort { asker, others }
}

fn figures(a: &Value) -> [f64; 7] {
    let f = &a["figures"];
    assert!(f.is_object(), "figures expected: {a:#}");
    [
        "size",
        "adoptedPercent",
        "donePercent",
        "completedPercent",
        "resolvedPercent",
        "plannedPercent",
        "riskAcceptedPercent",
    ]
    .map(|k| f[k].as_f64().unwrap())
}

db_test!(
    adoption_counts_cells_with_k_others_and_never_the_callers_tenants,
    |app| {
        // ε so large that the noise is far below the rounding: the figures are the exact counts.
        let app = spawn_app_with(app.backend, |c| c.comparison_epsilon = 1e12).await;
        let Cohort { asker, others } = cohort(&app).await;
        let all = json!({ "kind": "ALL_TENANTS" });

        let a = adoption(&app, &asker.reader, &asker.slug, "AdminMFAV2", all.clone()).await;
        assert_eq!(a["day"], json!(yesterday().to_string()));
        assert_eq!(a["key"], "ALL");
        // Six others: 2 completed, 1 resolved, 1 planned, 1 risk accepted, 1 to address. The asker's
        // own completion is not counted (it would make 3 of 7), the tiny cell is left out.
        let sixth = |n: f64| (n / 6.0 * 10_000.0).round() / 100.0;
        assert_eq!(
            figures(&a),
            [
                6.0,
                sixth(5.0),
                sixth(3.0),
                sixth(2.0),
                sixth(1.0),
                sixth(1.0),
                sixth(1.0)
            ],
            "{a:#}"
        );
        assert_eq!(a["noise"]["cells"], 1);
        assert!(
            excludes(&a, "tiny"),
            "the small cell is left out and listed: {a:#}"
        );
        assert!(!excludes(&a, "fin"));

        // A control no one in the cell adopted: 0 %, still answered for the cell.
        let none = adoption(
            &app,
            &asker.reader,
            &asker.slug,
            "aad_third_party_apps",
            all.clone(),
        )
        .await;
        assert_eq!(figures(&none), [6.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);

        // The MSP attack: a principal reading the asker and one member of its cell counts only the
        // five others...
        let (msp, _, _) = app
            .principal_with(
                "msp one",
                &[(asker.id, Role::Reader), (others[0].id, Role::Reader)],
            )
            .await;
        let m = adoption(&app, &msp, &asker.slug, "AdminMFAV2", all.clone()).await;
        let fifth = |n: f64| (n / 5.0 * 10_000.0).round() / 100.0;
        assert_eq!(
            figures(&m),
            [
                5.0,
                fifth(4.0),
                fifth(2.0),
                fifth(1.0),
                fifth(1.0),
                fifth(1.0),
                fifth(1.0)
            ],
            "{m:#}"
        );
        // ...and one reading a second member cannot difference the two answers to learn that
        // member's status: the cell, with four others left, is withheld as a whole.
        let (msp2, _, _) = app
            .principal_with(
                "msp two",
                &[
                    (asker.id, Role::Reader),
                    (others[0].id, Role::Reader),
                    (others[1].id, Role::Reader),
                ],
            )
            .await;
        let w = adoption(&app, &msp2, &asker.slug, "AdminMFAV2", all.clone()).await;
        assert_eq!(w["figures"], Value::Null, "{w:#}");
        assert_eq!(w["suppressedReason"], "TOO_FEW_TENANTS");
        assert!(excludes(&w, "fin") && excludes(&w, "tiny"), "{w:#}");
        let gaps = app
            .query_tenant(
                &msp2,
                &asker.slug,
                "peerGaps { suppressedReason actions { action { controlId } } }",
            )
            .payload()
            .await;
        assert_eq!(
            gaps["peerGaps"],
            json!({ "suppressedReason": "TOO_FEW_TENANTS", "actions": [] })
        );

        // A custom cohort naming industries lists every named cell it does not count, existing or not.
        let custom = adoption(
        &app,
        &asker.reader,
        &asker.slug,
        "AdminMFAV2",
        json!({ "kind": "CUSTOM", "industries": ["fin", "tiny", "empty"], "seatBands": ["SEATS_101_500"], "licenseTiers": ["NONE"] }),
    )
    .await;
        assert_eq!(figures(&custom), figures(&a), "the same one cell");
        assert!(
            excludes(&custom, "tiny") && excludes(&custom, "empty"),
            "{custom:#}"
        );

        // peerGaps: the asker's open actions, most done by peers first, then by rank.
        let gaps = app
        .query_tenant(
            &asker.reader,
            &asker.slug,
            "peerGaps(first: 100) { day key actions { action { controlId status rank } adoption { donePercent adoptedPercent } } }",
        )
        .payload()
        .await["peerGaps"]
        .clone();
        let list = gaps["actions"].as_array().unwrap();
        let ids: Vec<&str> = list
            .iter()
            .map(|g| g["action"]["controlId"].as_str().unwrap())
            .collect();
        assert_eq!(ids[..2], ["MFARegistrationV2", "PWAgePolicyNew"], "{gaps:#}");
        assert_eq!(list[0]["adoption"]["donePercent"], json!(sixth(5.0)));
        assert_eq!(list[1]["adoption"]["donePercent"], json!(sixth(3.0)));
        assert!(!ids.contains(&"AdminMFAV2"), "the asker completed it: not a gap");
        for pair in list.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let (da, db) = (
                a["adoption"]["donePercent"].as_f64().unwrap(),
                b["adoption"]["donePercent"].as_f64().unwrap(),
            );
            assert!(
                da > db || (da == db && a["action"]["rank"].as_u64() <= b["action"]["rank"].as_u64()),
                "{pair:?}"
            );
        }
        let two = app
            .query_tenant(
                &asker.reader,
                &asker.slug,
                "peerGaps(first: 2) { actions { action { controlId } } }",
            )
            .payload()
            .await;
        assert_eq!(two["peerGaps"]["actions"].as_array().unwrap().len(), 2);
    }
);

db_test!(adoption_noise_is_fixed_per_cell_day_and_control, |app| {
    let Cohort { asker, .. } = cohort(&app).await;
    set_secret(&app, "adoption-noise-1").await;
    let all = json!({ "kind": "ALL_TENANTS" });
    let first = adoption(&app, &asker.reader, &asker.slug, "AdminMFAV2", all.clone()).await;
    let again = adoption(&app, &asker.reader, &asker.slug, "AdminMFAV2", all.clone()).await;
    assert_eq!(first, again, "asking again gives the same answer");
    // Another cohort made of the same one cell: the same figures (the noise is the cell's).
    let industry = adoption(
        &app,
        &asker.reader,
        &asker.slug,
        "AdminMFAV2",
        json!({ "kind": "SAME_INDUSTRY" }),
    )
    .await;
    assert_eq!(industry["figures"], first["figures"]);
    assert_eq!(first["noise"]["epsilon"], 1.0);
    assert_eq!(first["noise"]["k"], 5);
    assert!(
        first["noise"]["description"]
            .as_str()
            .unwrap()
            .contains("fixed per cell, day and control"),
        "{first:#}"
    );
    // The figures are noisy: across secrets they move around the truth (5 of 6 adopted), and the
    // noise of two controls of the same cell differs.
    let truth = [5.0 / 6.0 * 100.0];
    let mut seen = Vec::new();
    let mut sum = 0.0;
    let secrets = 30;
    for s in 0..secrets {
        set_secret(&app, &format!("adoption-noise-{s}")).await;
        let a = adoption(&app, &asker.reader, &asker.slug, "AdminMFAV2", all.clone()).await;
        let b = adoption(&app, &asker.reader, &asker.slug, "MFARegistrationV2", all.clone()).await;
        let adopted = figures(&a)[1];
        seen.push(adopted);
        sum += adopted;
        assert_ne!(a["figures"], b["figures"], "each control has its own noise");
    }
    seen.sort_by(f64::total_cmp);
    seen.dedup();
    assert!(
        seen.len() > secrets / 2,
        "the noise varies with the secret: {seen:?}"
    );
    let mean = sum / secrets as f64;
    assert!(
        (mean - truth[0]).abs() < 20.0,
        "centred near the truth: {mean} vs {}",
        truth[0]
    );
});

db_test!(adoption_says_why_it_is_withheld, |app| {
    let t = member(&app, "solo", &[]).await;
    // Nothing aggregated yet: NO_DATA, no day.
    let a = adoption(&app, &t.reader, &t.slug, "AdminMFAV2", Value::Null).await;
    assert_eq!(a["day"], Value::Null);
    assert_eq!(a["suppressedReason"], "NO_DATA", "{a:#}");
    assert_eq!(a["figures"], Value::Null);
    assert_eq!(a["kind"], "ALL_TENANTS", "the default cohort");
    // Aggregated, but every cell has fewer than k others.
    for _ in 0..4 {
        member(&app, "solo", &[("AdminMFAV2", "COMPLETED")]).await;
    }
    aggregate(&app).await;
    let a = adoption(&app, &t.reader, &t.slug, "AdminMFAV2", Value::Null).await;
    assert_eq!(a["suppressedReason"], "TOO_FEW_TENANTS", "{a:#}");
    assert_eq!(
        a["suppressedMessage"],
        "every cell has fewer than 5 tenants you cannot read"
    );
    assert!(excludes(&a, "solo"));
    assert_eq!(a["noise"]["adoptedCountStandardDeviation"], Value::Null);
    // A fifth other makes k: answered.
    member(&app, "solo", &[]).await;
    aggregate(&app).await;
    let a = adoption(&app, &t.reader, &t.slug, "AdminMFAV2", Value::Null).await;
    assert!(a["figures"].is_object(), "{a:#}");

    // Another tenant's actions and gaps answer like a missing tenant.
    let other = app.tenant().create().await;
    for query in [
        "improvementAction(controlId: \"AdminMFAV2\") { peerAdoption { day } }",
        "peerGaps { day }",
    ] {
        let body = app.query_tenant(&t.reader, &other.slug, query).await;
        assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"), "{body:#}");
    }
    let bad = app
        .query_tenant(&t.reader, &t.slug, "peerGaps(first: 0) { day }")
        .await;
    assert_eq!(error_code(&bad).as_deref(), Some("BAD_USER_INPUT"), "{bad:#}");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adoption_of_a_whole_list_is_one_computation() {
    let (app, log) = spawn_app_recording_statements(Backend::Sqlite).await;
    let Cohort { asker, .. } = cohort(&app).await;
    let count = |statements: Vec<String>| {
        statements
            .iter()
            .filter(|s| s.contains("cohort_aggregate"))
            .count()
    };
    let mut counts = Vec::new();
    // The first request parses the day once per process (a cache validated by the day's
    // version); the ones measured find it parsed.
    for first in [1, 1, 20] {
        // A fresh request each time (the answer is computed once per request).
        log.clear();
        let page = app
            .query_actions(
                &asker.reader,
                &asker.slug,
                json!({ "first": first }),
                "nodes { controlId peerAdoption { figures { adoptedPercent } } \
                 sameIndustry: peerAdoption(cohort: { kind: SAME_INDUSTRY }) { figures { donePercent } } }",
            )
            .payload()
            .await;
        let nodes = page["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), first.min(16), "AzureAD has 16 actions");
        assert!(
            nodes.iter().all(|n| n["peerAdoption"]["figures"].is_object()),
            "{page:#}"
        );
        counts.push(count(log.statements()));
    }
    assert!(counts[0] >= counts[1], "{counts:?}");
    assert_eq!(
        counts[1], counts[2],
        "as many reads for 16 actions as for one: {counts:?}"
    );
    assert!(
        counts[2] <= 2,
        "one pass per cohort (two cohorts asked): {counts:?}"
    );
}

crate::demo_test!(the_demo_tenants_see_what_their_peers_did, |app, tokens| {
    let slug = &tokens.tenant_slug;
    // The README's question, for the tenant's own reader and for the MSP reading every demo
    // tenant (six peers per cell are left for it).
    for token in [&tokens.reader, &tokens.msp] {
        let t = app
            .query_tenant(
                token,
                slug,
                &format!(
                    "peerGaps(first: 5) {{ day key suppressedReason noise {{ cells }} \
                     actions {{ action {{ controlId status rank }} adoption {{ size donePercent adoptedPercent }} }} }} \
                     improvementActions(first: 100) {{ nodes {{ controlId status peerAdoption {{ {ADOPTION} }} }} }}"
                ),
            )
            .payload()
            .await;
        let gaps = &t["peerGaps"];
        assert_eq!(gaps["day"], json!(yesterday().to_string()), "{gaps:#}");
        assert_eq!(gaps["suppressedReason"], Value::Null, "{gaps:#}");
        assert_eq!(
            gaps["noise"]["cells"], 8,
            "every demo cell has at least five peers: {gaps:#}"
        );
        let list = gaps["actions"].as_array().unwrap();
        assert_eq!(list.len(), 5, "{gaps:#}");
        for g in list {
            assert!(
                ["TO_ADDRESS", "PLANNED", "RISK_ACCEPTED"].contains(&g["action"]["status"].as_str().unwrap())
            );
            let size = g["adoption"]["size"].as_i64().unwrap();
            // 48 to 55 organisations, plus Laplace(1/ε) noise on each of 5 classes in 8 cells,
            // each clamped at zero (so biased upwards by about half a member per empty class):
            // a sum of 40 noises, not a tight figure.
            assert!(
                (20..=140).contains(&size),
                "about 48 to 55 organisations, noisy: {size}"
            );
        }
        let done: Vec<f64> = list
            .iter()
            .map(|g| g["adoption"]["donePercent"].as_f64().unwrap())
            .collect();
        assert!(done.windows(2).all(|w| w[0] >= w[1]), "most done first: {done:?}");
        let nodes = t["improvementActions"]["nodes"].as_array().unwrap();
        assert!(!nodes.is_empty());
        for n in nodes {
            assert!(n["peerAdoption"]["figures"].is_object(), "{n:#}");
        }
    }
});
