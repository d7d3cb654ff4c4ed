//! Importing Microsoft Graph Secure Score exports (issue 7, SPEC §9): the Graph docs' example
//! payloads and a richer realistic export (string numbers, PascalCase keys, count/total, controls
//! missing from the profiles) in `tests/fixtures/graph/`; statuses, notes, snapshots with the
//! vendor's totals, vendor benchmarks, derived controls and the discrepancy report; re-import as a
//! no-op; malformed input refused with nothing written; the CLI; and the scheduled sync's Graph
//! client against a local HTTP server (paging, a 429, then the import).

use crate::db_test;
use crate::helpers::*;
use entity::{
    action_event, audit_log, control, improvement_action, note, score_snapshot, tenant, vendor_benchmark,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use std::collections::HashMap;

pub const AZURE_ID: &str = "4a1f6c3e-0000-4000-8000-c0ffee000001";

/// What the tests read of an import's payload.
const IMPORT: &str = r#"
    tenant { slug seatCount activeUserCount enabledServices }
    result {
      dryRun changed records profiles controlsCreated controlsUpdated actionsCreated actionsUpdated
      notesAdded snapshotsWritten benchmarksWritten eventsWritten
      gaps { controlId message maxPoints category }
      discrepancies { day vendorCurrentScore vendorMaxScore recomputedCurrent recomputedMax
                      currentDifference maxDifference controlScoresSum }
      warnings { path message }
    }
    userErrors { field message code }"#;

/// What the tests read of an imported action.
const ACTION: &str = r#"
      controlId status implemented total implementationStatus pointsAchieved maxPoints version
      notes { body authorName }
      control { id source title category service maxPoints tier userImpact implementationCost actionType
                remediation userImpactDescription actionUrl vendorRank deprecated threats }"#;

/// A fixture file from `tests/fixtures/graph/`.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/graph/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The realistic export: three days of scores and two pages of profiles.
pub fn realistic() -> (Value, Value) {
    (
        fixture("realistic-secureScores.json"),
        json!([
            fixture("realistic-controlProfiles-page1.json"),
            fixture("realistic-controlProfiles-page2.json")
        ]),
    )
}

/// Runs `importMicrosoftGraph` and returns its payload.
pub async fn import(
    app: &TestApp,
    token: &str,
    slug: &str,
    scores: &Value,
    profiles: Option<&Value>,
) -> Value {
    import_with(
        app,
        token,
        json!({ "tenantSlug": slug, "secureScores": scores, "controlProfiles": profiles }),
    )
    .await
}

async fn import_with(app: &TestApp, token: &str, input: Value) -> Value {
    app.import_microsoft_graph(token, input, IMPORT).payload().await
}

/// Runs an import that must succeed; returns its result.
pub async fn import_ok(
    app: &TestApp,
    token: &str,
    slug: &str,
    scores: &Value,
    profiles: Option<&Value>,
) -> Value {
    let payload = import(app, token, slug, scores, profiles).await;
    assert_eq!(payload["userErrors"], json!([]), "{payload:#}");
    payload["result"].clone()
}

async fn action(app: &TestApp, token: &str, slug: &str, control: &str) -> Value {
    app.query_action(token, slug, control, ACTION).payload().await
}

/// Everything an import may write, counted (or summed) so that "nothing changed" is checkable.
#[derive(Debug, PartialEq)]
pub struct Counts {
    controls: u64,
    control_updates: Vec<(String, chrono::DateTime<chrono::Utc>)>,
    actions: u64,
    version_sum: i64,
    events: u64,
    notes: u64,
    snapshots: u64,
    benchmarks: u64,
    audit: u64,
    tenant: tenant::Model,
}

pub async fn counts(app: &TestApp, tenant_id: i64) -> Counts {
    let db = &app.db;
    let actions = improvement_action::Entity::find()
        .filter(improvement_action::Column::TenantId.eq(tenant_id))
        .all(db)
        .await
        .expect("actions");
    let mut control_updates: Vec<(String, chrono::DateTime<chrono::Utc>)> = control::Entity::find()
        .all(db)
        .await
        .expect("controls")
        .into_iter()
        .map(|c| (c.id, c.updated_at))
        .collect();
    control_updates.sort();
    Counts {
        controls: control::Entity::find().count(db).await.expect("count"),
        control_updates,
        actions: actions.len() as u64,
        version_sum: actions.iter().map(|a| a.version).sum(),
        events: action_event::Entity::find()
            .filter(action_event::Column::TenantId.eq(tenant_id))
            .count(db)
            .await
            .expect("count"),
        notes: note::Entity::find()
            .filter(note::Column::TenantId.eq(tenant_id))
            .count(db)
            .await
            .expect("count"),
        snapshots: score_snapshot::Entity::find()
            .filter(score_snapshot::Column::TenantId.eq(tenant_id))
            .count(db)
            .await
            .expect("count"),
        benchmarks: vendor_benchmark::Entity::find()
            .filter(vendor_benchmark::Column::TenantId.eq(tenant_id))
            .count(db)
            .await
            .expect("count"),
        audit: audit_log::Entity::find()
            .filter(audit_log::Column::TenantId.eq(tenant_id))
            .count(db)
            .await
            .expect("count"),
        tenant: tenant::Entity::find_by_id(tenant_id)
            .one(db)
            .await
            .expect("tenant")
            .expect("exists"),
    }
}

async fn snapshots(app: &TestApp, tenant_id: i64) -> Vec<score_snapshot::Model> {
    let mut rows = score_snapshot::Entity::find()
        .filter(score_snapshot::Column::TenantId.eq(tenant_id))
        .all(&app.db)
        .await
        .expect("snapshots");
    rows.sort_by_key(|s| s.day);
    rows
}

async fn benchmarks(
    app: &TestApp,
    tenant_id: i64,
) -> HashMap<(String, String, String), vendor_benchmark::Model> {
    vendor_benchmark::Entity::find()
        .filter(vendor_benchmark::Column::TenantId.eq(tenant_id))
        .all(&app.db)
        .await
        .expect("benchmarks")
        .into_iter()
        .map(|b| ((b.day.to_string(), b.basis.clone(), b.basis_value.clone()), b))
        .collect()
}

/// A tenant's current and maximum points.
pub async fn secure_score(app: &TestApp, token: &str, slug: &str) -> (f64, f64) {
    let tenant = app
        .query_tenant(
            token,
            slug,
            "secureScore { maxScore { points } current { points } }",
        )
        .payload()
        .await;
    let s = &tenant["secureScore"];
    (
        s["current"]["points"].as_f64().expect("current"),
        s["maxScore"]["points"].as_f64().expect("max"),
    )
}

fn points(v: i64) -> f64 {
    v as f64 / 10_000.0
}

db_test!(
    the_graph_docs_examples_import_as_controls_actions_snapshots_and_benchmarks,
    |app| {
        let t = app.tenant().create().await;
        let scores = fixture("list-secureScores.json");
        let profiles = fixture("list-secureScoreControlProfiles.json");
        let result = import_ok(&app, &t.admin, &t.slug, &scores, Some(&profiles)).await;
        assert_eq!(result["records"], 1, "{result:#}");
        assert_eq!(result["profiles"], 1);

        // The profile became the tenant's own control profile with normalised enums.
        let dlp = action(&app, &t.reader, &t.slug, "DLPEnabled").await;
        let c = &dlp["control"];
        assert_eq!(c["category"], "DATA");
        assert_eq!(c["service"], "IP");
        assert_eq!(c["maxPoints"], 20.0);
        assert_eq!(c["tier"], "ADVANCED");
        assert_eq!(c["userImpact"], "MODERATE");
        assert_eq!(c["implementationCost"], "MODERATE");
        assert_eq!(c["actionType"], "CONFIG");
        assert_eq!(c["vendorRank"], 55);
        assert_eq!(c["actionUrl"], "https://compliance.microsoft.com/#/policies");
        assert_eq!(c["threats"], json!(["Data Exfiltration", "Data Spillage"]));
        assert_eq!(
            c["userImpactDescription"],
            "This change will have a moderate impact on your users."
        );
        assert_eq!(c["source"], "TENANT_PROFILE");
        let shared = control::Entity::find_by_id("DLPEnabled".to_string())
            .one(&app.db)
            .await
            .unwrap();
        assert!(shared.is_none(), "the service catalog is not written by imports");
        // score 20 of max 20 with no percentage: the progress follows from score / max.
        assert_eq!(dlp["status"], "COMPLETED", "{dlp:#}");
        assert_eq!(dlp["pointsAchieved"], 20.0);

        // AdminMFA has no profile and no percentage: its max can't be derived, so it keeps its
        // achieved points (35 of 35), reported as a gap and a warning that says why.
        let gaps = result["gaps"].as_array().expect("gaps");
        let mfa = gaps
            .iter()
            .find(|g| g["controlId"] == "AdminMFA")
            .expect("AdminMFA gap");
        assert_eq!(mfa["category"], "IDENTITY");
        assert_eq!(mfa["maxPoints"], 35.0);
        assert!(
            mfa["message"]
                .as_str()
                .unwrap()
                .contains("score but no scoreInPercentage"),
            "{mfa}"
        );
        let warnings = result["warnings"].to_string();
        assert!(
            warnings.contains("secureScores.value.0.controlScores.") && warnings.contains("AdminMFA"),
            "{warnings}"
        );

        // The day's snapshot keeps the vendor's totals as reported; the tenant took over the rest.
        let snaps = snapshots(&app, t.id).await;
        assert_eq!(snaps.len(), 1);
        assert_eq!(snaps[0].day.to_string(), "2019-03-19");
        assert_eq!(snaps[0].source, "IMPORTED");
        assert_eq!(snaps[0].vendor_current_score.map(points), Some(387.0));
        assert_eq!(snaps[0].vendor_max_score.map(points), Some(697.0));
        let tenant = &counts(&app, t.id).await.tenant;
        assert_eq!(tenant.seat_count, 100);
        assert_eq!(tenant.active_user_count, 0);
        assert_eq!(
            tenant.azure_tenant_id.as_deref(),
            Some("00000001-0001-0001-0001-000000000001c")
        );
        for s in ["EXO", "SPO", "Intune", "AzureAD"] {
            assert!(
                tenant.enabled_services.0.contains(&s.to_string()),
                "{s} in {:?}",
                tenant.enabled_services
            );
        }
        let b = benchmarks(&app, t.id).await;
        assert_eq!(b.len(), 3, "{b:?}");
        let all = &b[&("2019-03-19".into(), "AllTenants".into(), String::new())];
        assert_eq!(points(all.average_score), 37.0);

        // The single-record body (`get`) of the same day adds the seat-size and industry cohorts.
        let single = fixture("get-secureScore.json");
        let again = import_ok(&app, &t.admin, &t.slug, &single, None).await;
        assert_eq!(again["records"], 1);
        let b = benchmarks(&app, t.id).await;
        let seats = &b[&("2019-03-19".into(), "TotalSeats".into(), "6-99".into())];
        assert_eq!(points(seats.average_score), 46.0);
        assert_eq!(seats.category_scores["identityScore"], json!(27.0));
        let industry = &b[&(
            "2019-03-19".into(),
            "IndustryTypes".into(),
            "engineering,technology".into(),
        )];
        assert_eq!(points(industry.average_score), 109.0);
        assert_eq!(industry.category_scores["appsScore"], json!(10.0));
    }
);

db_test!(
    a_realistic_export_maps_statuses_notes_progress_derived_controls_and_discrepancies,
    |app| {
        let t = app.tenant().create().await;
        let (scores, profiles) = realistic();
        let payload = import(&app, &t.admin, &t.slug, &scores, Some(&profiles)).await;
        assert_eq!(payload["userErrors"], json!([]), "{payload:#}");
        let result = &payload["result"];
        assert_eq!(result["records"], 3);
        assert_eq!(result["profiles"], 4);
        assert_eq!(result["dryRun"], false);
        assert_eq!(result["changed"], true);
        // Every control of the export became one of the tenant's own profiles: the four profiled
        // ones and the three that are only in the scores (mdo_zapspam, SecretDerivedControl,
        // QuantumControl).
        assert_eq!(result["controlsCreated"], 7, "{result:#}");

        // Seats, users and services from the newest record (strings accepted, flags mapped to the
        // catalog's service names; an unknown flag is a warning, not a service).
        let tenant = &payload["tenant"];
        assert_eq!(tenant["seatCount"], 1200);
        assert_eq!(tenant["activeUserCount"], 1100);
        let services: Vec<&str> = tenant["enabledServices"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for s in ["AzureAD", "EXO", "MDO", "SPO", "MCAS"] {
            assert!(services.contains(&s), "{s} in {services:?}");
        }
        assert!(!services.contains(&"HasBrandNewThing"), "{services:?}");
        let warnings: Vec<Value> = result["warnings"].as_array().cloned().unwrap_or_default();
        assert!(
            warnings.iter().any(
                |w| w["path"].as_str().is_some_and(|p| p.contains("enabledServices"))
                    && w["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("HasBrandNewThing"))
            ),
            "{warnings:#?}"
        );

        // Reviewed → RESOLVED_ALTERNATE_MITIGATION from the latest update; progress from count/total;
        // the comment became a note by the importer that names the original author.
        let mfa = action(&app, &t.reader, &t.slug, "AdminMFAV2").await;
        assert_eq!(mfa["status"], "RESOLVED_ALTERNATE_MITIGATION", "{mfa:#}");
        assert_eq!(
            (mfa["implemented"].as_i64(), mfa["total"].as_i64()),
            (Some(3), Some(4))
        );
        assert_eq!(
            mfa["implementationStatus"], "3 of 4 administrators are protected by MFA",
            "HTML reduced to plain text"
        );
        assert_eq!(mfa["pointsAchieved"], 10.0);
        let notes = mfa["notes"].as_array().expect("notes");
        assert_eq!(notes.len(), 1, "{notes:?}");
        let body = notes[0]["body"].as_str().unwrap();
        assert!(body.starts_with("Covered by our PAM solution"), "{body}");
        assert!(
            body.contains("alice@contoso.com"),
            "the original author is recorded: {body}"
        );
        assert_eq!(notes[0]["authorName"], format!("admin {}", t.slug));

        // A new control from its profile: enum spellings normalised, HTML reduced to text, unknown
        // keys ignored.
        let custom = action(&app, &t.reader, &t.slug, "CustomPolicyReview").await;
        let c = &custom["control"];
        assert_eq!(c["category"], "APPS");
        assert_eq!(c["service"], "MCAS");
        assert_eq!(c["maxPoints"], 6.0);
        assert_eq!(c["tier"], "DEFENSE_IN_DEPTH");
        assert_eq!(c["userImpact"], "MODERATE");
        assert_eq!(c["implementationCost"], "HIGH");
        assert_eq!(c["actionType"], "REVIEW");
        assert_eq!(c["vendorRank"], 12);
        assert_eq!(
            c["remediation"], "Open Policies\nReview each, \"carefully\"",
            "HTML reduced to plain text, one step a line"
        );
        // ignored (lower case) → RISK_ACCEPTED. The vendor's score of a control under a status
        // claim is the claim's, so without count/total its progress is not taken from it.
        assert_eq!(custom["status"], "RISK_ACCEPTED");
        assert_eq!(
            (custom["implemented"].as_i64(), custom["total"].as_i64()),
            (Some(0), Some(0))
        );
        assert_eq!(custom["pointsAchieved"], 0.0);

        let exo = action(&app, &t.reader, &t.slug, "exo_mailboxaudit").await;
        assert_eq!(exo["status"], "RESOLVED_THIRD_PARTY");
        assert_eq!(
            (exo["implemented"].as_i64(), exo["total"].as_i64()),
            (Some(1), Some(2))
        );
        assert!(
            exo["notes"][0]["body"]
                .as_str()
                .unwrap()
                .contains("bob@contoso.com")
        );

        // Missing from the profiles: a catalog control keeps its entry; a new one is derived.
        let zap = action(&app, &t.reader, &t.slug, "mdo_zapspam").await;
        assert_eq!(zap["status"], "COMPLETED", "2 of 2 completes it");
        let derived = action(&app, &t.reader, &t.slug, "SecretDerivedControl").await;
        assert_eq!(derived["control"]["maxPoints"], 10.0, "4 / 40 % × 100");
        assert_eq!(derived["control"]["category"], "DATA");
        assert_eq!(derived["control"]["title"], "Label confidential documents");
        assert_eq!(derived["pointsAchieved"], 4.0);
        let gaps: HashMap<String, Value> = result["gaps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["controlId"].as_str().unwrap().to_string(), g.clone()))
            .collect();
        assert_eq!(gaps.len(), 3, "{gaps:#?}");
        assert_eq!(gaps["SecretDerivedControl"]["maxPoints"], 10.0);
        assert_eq!(gaps["mdo_zapspam"]["maxPoints"], 1.0);
        // An unknown category and no percentage: still imported (it is in the vendor's score),
        // as INFRASTRUCTURE keeping its achieved points, and both are reported.
        assert!(
            gaps["QuantumControl"]["message"]
                .as_str()
                .unwrap()
                .contains("score but no scoreInPercentage"),
            "{gaps:#?}"
        );
        let quantum = action(&app, &t.reader, &t.slug, "QuantumControl").await;
        assert_eq!(quantum["control"]["category"], "INFRASTRUCTURE");
        assert_eq!(quantum["pointsAchieved"], 1.0);
        assert!(
            result["warnings"].to_string().contains("Quantum"),
            "the unknown category is reported"
        );

        // A profile without scores is one of the tenant's own profiles and, being in the latest
        // export, one of its actions; the service catalog never sees it.
        assert!(
            control::Entity::find_by_id("ProfileOnlyControl".to_string())
                .one(&app.db)
                .await
                .unwrap()
                .is_none()
        );
        let only = action(&app, &t.reader, &t.slug, "ProfileOnlyControl").await;
        assert_eq!(
            (
                only["control"]["tier"].as_str(),
                only["control"]["userImpact"].as_str()
            ),
            (Some("ADVANCED"), Some("UNKNOWN"))
        );
        assert_eq!(only["status"], "TO_ADDRESS");
        let imported_actions = improvement_action::Entity::find()
            .filter(improvement_action::Column::TenantId.eq(t.id))
            .filter(improvement_action::Column::Origin.eq("IMPORT"))
            .all(&app.db)
            .await
            .unwrap();
        let mut ids: Vec<String> = imported_actions.into_iter().map(|a| a.control_id).collect();
        ids.sort();
        assert_eq!(
            ids,
            [
                "CustomPolicyReview",
                "ProfileOnlyControl",
                "QuantumControl",
                "SecretDerivedControl"
            ],
            "the export's controls the tenant had no action for"
        );

        // Each day a snapshot (source IMPORTED) with the vendor's totals as reported.
        let snaps = snapshots(&app, t.id).await;
        let days: Vec<String> = snaps.iter().map(|s| s.day.to_string()).collect();
        assert_eq!(days, ["2024-05-01", "2024-05-02", "2024-05-03"]);
        let vendor: Vec<(f64, f64)> = snaps
            .iter()
            .map(|s| {
                (
                    points(s.vendor_current_score.unwrap()),
                    points(s.vendor_max_score.unwrap()),
                )
            })
            .collect();
        assert_eq!(vendor, [(28.25, 40.0), (30.0, 40.0), (31.5, 41.0)]);
        assert!(snaps.iter().all(|s| s.source == "IMPORTED"));

        // Every day's totals differ from our recomputation, and the report says by how much; the
        // newest day is the live score.
        let (current, max) = secure_score(&app, &t.reader, &t.slug).await;
        let disc = result["discrepancies"].as_array().unwrap();
        assert_eq!(disc.len(), 3, "{disc:#?}");
        let newest = disc
            .iter()
            .find(|d| d["day"] == "2024-05-03")
            .expect("newest day");
        assert_eq!(newest["vendorCurrentScore"], 31.5);
        assert_eq!(newest["vendorMaxScore"], 41.0);
        assert_eq!(newest["recomputedCurrent"].as_f64(), Some(current));
        assert_eq!(newest["recomputedMax"].as_f64(), Some(max));
        assert_eq!(newest["controlScoresSum"], 18.0, "7.5 + 3 + 1.5 + 1 + 4 + 1");
        let diff = newest["currentDifference"].as_f64().unwrap();
        assert!((diff - (31.5 - current)).abs() < 0.011, "{diff} vs {current}");
        assert_eq!(
            points(snaps[2].current),
            current,
            "snapshot of the newest day = live view"
        );
        assert_eq!(points(snaps[2].max_score), max);
        // Older days use that day's progress: AdminMFAV2 1 of 4 on 05-01 changes nothing for a
        // resolved action, but mdo_zapspam 0 of 2 is not complete that day.
        assert_eq!(points(snaps[0].current), current - 1.0, "{snaps:#?}");

        // Comparative scores → vendor benchmarks for their day (both seat-size spellings).
        let b = benchmarks(&app, t.id).await;
        assert_eq!(b.len(), 6, "{b:#?}");
        let seats = &b[&("2024-05-03".into(), "TotalSeats".into(), "1001-5000".into())];
        assert_eq!(points(seats.average_score), 46.0);
        let seats2 = &b[&("2024-05-02".into(), "TotalSeats".into(), "1001-5000".into())];
        assert_eq!(points(seats2.average_score), 45.5);
        let all = &b[&("2024-05-03".into(), "AllTenants".into(), String::new())];
        assert_eq!(all.category_scores["appsScore"], json!(2.5));
        let industry = &b[&("2024-05-03".into(), "IndustryTypes".into(), "Finance".into())];
        assert_eq!(points(industry.average_score), 52.25);
        assert_eq!(industry.category_scores["appsScoreMax"], json!(120.0));

        // The changes are in the event log with the right kinds.
        let events = action_event::Entity::find()
            .filter(action_event::Column::TenantId.eq(t.id))
            .all(&app.db)
            .await
            .unwrap();
        let by_kind = |kind: &str| events.iter().filter(|e| e.kind.as_str() == kind).count();
        assert_eq!(by_kind("IMPORTED"), 7, "4 actions created + 3 statuses");
        assert_eq!(by_kind("COMPLETED"), 2, "mdo_zapspam and QuantumControl");
        assert_eq!(by_kind("NOTE_ADDED"), 3);
        assert_eq!(
            by_kind("PROGRESS_CHANGED"),
            3,
            "AdminMFAV2, exo_mailboxaudit, SecretDerivedControl"
        );
    }
);

db_test!(importing_the_same_documents_twice_changes_nothing, |app| {
    let t = app.tenant().create().await;
    let (scores, profiles) = realistic();
    // A dry run reports the changes and writes nothing.
    let before = counts(&app, t.id).await;
    let dry = import_with(
        &app,
        &t.admin,
        json!({ "tenantSlug": t.slug, "secureScores": scores, "controlProfiles": profiles, "dryRun": true }),
    )
    .await;
    assert_eq!(dry["result"]["dryRun"], true);
    assert_eq!(dry["result"]["changed"], true);
    assert_eq!(dry["result"]["snapshotsWritten"], 3);
    assert_eq!(counts(&app, t.id).await, before, "a dry run writes nothing");

    import_ok(&app, &t.admin, &t.slug, &scores, Some(&profiles)).await;
    let first = counts(&app, t.id).await;
    let again = import_ok(&app, &t.admin, &t.slug, &scores, Some(&profiles)).await;
    assert_eq!(again["changed"], false, "{again:#}");
    for field in [
        "controlsCreated",
        "controlsUpdated",
        "actionsCreated",
        "actionsUpdated",
        "notesAdded",
        "snapshotsWritten",
        "benchmarksWritten",
        "eventsWritten",
    ] {
        assert_eq!(again[field], 0, "{field}");
    }
    // The report still tells the gaps and discrepancies: they are facts about the data.
    assert_eq!(again["gaps"].as_array().unwrap().len(), 3);
    assert_eq!(again["discrepancies"].as_array().unwrap().len(), 3);
    assert_eq!(
        counts(&app, t.id).await,
        first,
        "rows, events, notes and versions unchanged"
    );
});

db_test!(a_newer_export_updates_what_changed_and_records_events, |app| {
    let t = app.tenant().create().await;
    let (scores, profiles) = realistic();
    import_ok(&app, &t.admin, &t.slug, &scores, Some(&profiles)).await;

    // Someone sets a status here after the vendor's last update: that decision stands.
    let input = json!({ "tenantSlug": t.slug, "controlId": "exo_mailboxaudit", "status": "PLANNED" });
    let set = app
        .set_action_status(&t.operator, input, "userErrors { code }")
        .payload()
        .await;
    assert_eq!(set["userErrors"], json!([]));

    // The next day: AdminMFAV2 is fully done, mdo_zapspam regressed, a new day's snapshot.
    let mut newer = scores.clone();
    let mut day = newer["value"][0].clone();
    day["id"] = json!(format!("{AZURE_ID}_2024-05-04"));
    day["createdDateTime"] = json!("2024-05-04T00:00:00Z");
    day["currentScore"] = json!("33");
    for c in day["controlScores"].as_array_mut().unwrap() {
        match c["controlName"].as_str().unwrap() {
            "AdminMFAV2" => {
                c["count"] = json!("4");
                c["score"] = json!("10");
                c["scoreInPercentage"] = json!("100");
            }
            "mdo_zapspam" => {
                c["count"] = json!("1");
                c["score"] = json!("0.5");
                c["scoreInPercentage"] = json!("50");
            }
            _ => {}
        }
    }
    newer["value"].as_array_mut().unwrap().push(day);
    let before = counts(&app, t.id).await;
    let result = import_ok(&app, &t.admin, &t.slug, &newer, Some(&profiles)).await;
    assert_eq!(
        result["snapshotsWritten"], 4,
        "the new day, and older days whose recomputation moved: {result:#}"
    );
    assert_eq!(result["benchmarksWritten"], 3, "only the new day's");
    assert_eq!(result["actionsUpdated"], 2, "{result:#}");
    let warnings = result["warnings"].to_string();
    assert!(
        warnings.contains("exo_mailboxaudit"),
        "the kept local status is reported: {warnings}"
    );

    let mfa = action(&app, &t.reader, &t.slug, "AdminMFAV2").await;
    assert_eq!(mfa["status"], "COMPLETED");
    let zap = action(&app, &t.reader, &t.slug, "mdo_zapspam").await;
    assert_eq!(zap["status"], "TO_ADDRESS", "regressed");
    let exo = action(&app, &t.reader, &t.slug, "exo_mailboxaudit").await;
    assert_eq!(
        exo["status"], "PLANNED",
        "the local change after the vendor's update stands"
    );

    let new_events = action_event::Entity::find()
        .filter(action_event::Column::TenantId.eq(t.id))
        .all(&app.db)
        .await
        .unwrap();
    let mut kinds: Vec<&str> = new_events
        .iter()
        .skip(before.events as usize)
        .map(|e| e.kind.as_str())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["COMPLETED", "REGRESSED"]);
    let after = counts(&app, t.id).await;
    assert_eq!(after.snapshots, before.snapshots + 1);
    assert_eq!(after.tenant.state_version, before.tenant.state_version + 1);
});

db_test!(
    malformed_input_is_refused_naming_the_field_with_nothing_written,
    |app| {
        let t = app.tenant().create().await;
        let (scores, profiles) = realistic();
        let mut bad_record = scores.clone();
        bad_record["value"][1]["currentScore"] = json!("twenty");
        let mut no_name = scores.clone();
        no_name["value"][0]["controlScores"][0]
            .as_object_mut()
            .unwrap()
            .remove("controlName");
        let mut mixed = scores.clone();
        mixed["value"][2]["azureTenantId"] = json!("99999999-0000-4000-8000-000000000000");
        let patch_body = fixture("update-secureScoreControlProfile.request.json");
        let cases = [
            (
                json!("not json at all"),
                Some(profiles.clone()),
                "input.secureScores",
                "a string",
            ),
            (
                json!({ "value": { "a": 1 } }),
                None,
                "input.secureScores",
                "value not a list",
            ),
            (
                json!({ "records": [] }),
                None,
                "input.secureScores",
                "not a Graph collection",
            ),
            (
                json!({ "value": [] }),
                None,
                "input.secureScores",
                "no daily records",
            ),
            (
                bad_record,
                None,
                "input.secureScores.value.1.currentScore",
                "a number that is not one",
            ),
            (
                no_name,
                None,
                "input.secureScores.value.0.controlScores.0.controlName",
                "control without name",
            ),
            (
                mixed,
                None,
                "input.secureScores.value.2.azureTenantId",
                "records of two tenants",
            ),
            (
                scores.clone(),
                Some(patch_body),
                "input.controlProfiles",
                "a PATCH body is not a profile",
            ),
            (
                scores.clone(),
                Some(json!([1, 2])),
                "input.controlProfiles.0",
                "pages that are not objects",
            ),
        ];
        let before = counts(&app, t.id).await;
        for (scores, profiles, field, why) in cases {
            let payload = import(&app, &t.admin, &t.slug, &scores, profiles.as_ref()).await;
            let e = &payload["userErrors"][0];
            assert_eq!(e["code"], "BAD_USER_INPUT", "{why}: {payload:#}");
            let path: Vec<&str> = e["field"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(path.join("."), field, "{why}: {}", e["message"]);
            assert!(payload["result"].is_null(), "{why}");
            assert_eq!(counts(&app, t.id).await, before, "{why}: nothing written");
        }

        // Once linked to an Azure tenant, data of another one is refused.
        import_ok(&app, &t.admin, &t.slug, &scores, Some(&profiles)).await;
        let linked = counts(&app, t.id).await;
        let other = fixture("list-secureScores.json");
        let payload = import(&app, &t.admin, &t.slug, &other, None).await;
        assert_eq!(payload["userErrors"][0]["code"], "BAD_USER_INPUT", "{payload:#}");
        assert_eq!(
            payload["userErrors"][0]["field"],
            json!(["input", "secureScores", "value", "0", "azureTenantId"])
        );
        assert!(
            payload["userErrors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(AZURE_ID)
        );
        assert_eq!(counts(&app, t.id).await, linked, "nothing written");

        // And another tenant of ours cannot claim the same Azure tenant.
        let t2 = app.tenant().create().await;
        let payload = import(&app, &t2.admin, &t2.slug, &scores, None).await;
        assert_eq!(payload["userErrors"][0]["code"], "BAD_USER_INPUT", "{payload:#}");
        assert!(
            payload["userErrors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("already linked")
        );
    }
);

db_test!(
    a_fifty_megabyte_document_is_refused_by_the_body_limit_and_by_the_import_limit,
    |app| {
        let t = app.tenant().create().await;
        // Over HTTP the body limit answers first (413) …
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let pad = "x".repeat(50 * 1024 * 1024);
        let input = json!({ "tenantSlug": t.slug, "secureScores": { "value": [], "pad": pad } });
        let (query, variables) = app.import_microsoft_graph(&t.admin, input, IMPORT).request();
        let body = json!({ "query": query, "variables": variables }).to_string();
        let stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
            .await
            .unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let head = format!(
            "POST /graphql HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         authorization: Bearer {}\r\ncontent-length: {}\r\n\r\n",
            t.admin,
            body.len()
        );
        writer.write_all(head.as_bytes()).await.unwrap();
        let sender = tokio::spawn(async move {
            let _ = writer.write_all(body.as_bytes()).await;
            writer
        });
        let mut answer = vec![0_u8; 64];
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), reader.read(&mut answer))
            .await
            .expect("answered without reading the whole body")
            .unwrap();
        assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 413"));
        sender.abort();

        // … and the CLI, which has no body limit, checks IMPORT_MAX_BYTES before reading the file.
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("scores.json");
        let file = std::fs::File::create(&big).unwrap();
        file.set_len(50 * 1024 * 1024).unwrap();
        let before = counts(&app, t.id).await;
        let config = securescore::config::Config::for_database(app.database_url.clone());
        let err = securescore::cli::import_graph(
            config,
            securescore::config::ImportGraphArgs {
                tenant: t.slug.clone(),
                scores: big,
                profiles: vec![],
                dry_run: false,
            },
        )
        .await
        .expect_err("refused");
        assert!(format!("{err:#}").contains("IMPORT_MAX_BYTES"), "{err:#}");
        assert_eq!(counts(&app, t.id).await, before);
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_checks_its_own_size_limit_when_the_body_limit_is_larger() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.max_body_bytes = 8 * 1024 * 1024;
        c.import_max_bytes = 64 * 1024;
    })
    .await;
    let t = app.tenant().create().await;
    let (mut scores, profiles) = realistic();
    scores["padding"] = json!("x".repeat(100 * 1024));
    let before = counts(&app, t.id).await;
    let payload = import(&app, &t.admin, &t.slug, &scores, Some(&profiles)).await;
    assert_eq!(payload["userErrors"][0]["code"], "BAD_USER_INPUT", "{payload:#}");
    assert_eq!(
        payload["userErrors"][0]["field"],
        json!(["input", "secureScores"])
    );
    assert!(
        payload["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("IMPORT_MAX_BYTES")
    );
    assert_eq!(counts(&app, t.id).await, before);
}

db_test!(
    the_cli_imports_files_like_the_mutation_and_refuses_files_that_are_not_json,
    |app| {
        let t = app.tenant().create().await;
        let dir = format!("{}/tests/fixtures/graph", env!("CARGO_MANIFEST_DIR"));
        let config = || securescore::config::Config::for_database(app.database_url.clone());
        let args = |scores: std::path::PathBuf| securescore::config::ImportGraphArgs {
            tenant: t.slug.clone(),
            scores,
            profiles: vec![
                format!("{dir}/realistic-controlProfiles-page1.json").into(),
                format!("{dir}/realistic-controlProfiles-page2.json").into(),
            ],
            dry_run: false,
        };
        let tmp = tempfile::tempdir().unwrap();
        let not_json = tmp.path().join("scores.json");
        std::fs::write(&not_json, "<html>not json</html>").unwrap();
        let before = counts(&app, t.id).await;
        let err = securescore::cli::import_graph(config(), args(not_json))
            .await
            .expect_err("not JSON");
        assert!(
            format!("{err:#}").contains("secureScores is not valid JSON"),
            "{err:#}"
        );
        assert_eq!(counts(&app, t.id).await, before);

        securescore::cli::import_graph(
            config(),
            args(format!("{dir}/realistic-secureScores.json").into()),
        )
        .await
        .expect("imported");
        let mfa = action(&app, &t.reader, &t.slug, "AdminMFAV2").await;
        assert_eq!(mfa["status"], "RESOLVED_ALTERNATE_MITIGATION");
        assert_eq!(
            mfa["notes"][0]["authorName"],
            Value::Null,
            "the system imported it"
        );
        assert_eq!(snapshots(&app, t.id).await.len(), 3);
        // The same files again through the mutation: nothing to do.
        let (scores, profiles) = realistic();
        let again = import_ok(&app, &t.admin, &t.slug, &scores, Some(&profiles)).await;
        assert_eq!(again["changed"], false, "{again:#}");
    }
);

db_test!(only_admins_import_and_other_tenants_are_not_found, |app| {
    let t = app.tenant().create().await;
    let other = app.tenant().create().await;
    let (scores, profiles) = realistic();
    let input = json!({ "tenantSlug": t.slug, "secureScores": scores, "controlProfiles": profiles });
    for token in [&t.reader, &t.operator] {
        let body = app.import_microsoft_graph(token, input.clone(), IMPORT).await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");
    }
    let body = app
        .import_microsoft_graph(&other.admin, input.clone(), IMPORT)
        .await;
    let payload = &body["data"]["importMicrosoftGraph"];
    assert_eq!(payload["userErrors"][0]["code"], "NOT_FOUND", "{body:#}");
    let body = app.import_microsoft_graph(None, input, IMPORT).await;
    assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"));
    assert_eq!(counts(&app, t.id).await.snapshots, 0);
});

/// What the tests read of a sync configuration's payload.
const CONFIGURE: &str = "sync { enabled azureTenantId clientId clientSecretEnv lastSyncAt lastStatus lastError } \
     userErrors { field message code }";

/// Enables the scheduled sync of a tenant with a client secret read from `secret_env`.
fn configure(app: &TestApp, token: &str, t: &TenantFixture, client_id: &str, secret_env: &str) -> Op {
    let input = json!({
        "tenantSlug": t.slug, "enabled": true, "azureTenantId": AZURE_ID, "clientId": client_id,
        "clientSecretEnv": secret_env
    });
    app.configure_graph_sync(token, input, CONFIGURE)
}

db_test!(
    configure_graph_sync_takes_the_name_of_a_secret_never_the_secret,
    |app| {
        let t = app.tenant().create().await;
        let client_id = "11111111-2222-3333-4444-555555555555";
        let data = configure(&app, &t.admin, &t, client_id, "abc~Q8Q~this.looks.like.a.secret")
            .payload()
            .await;
        let e = &data["userErrors"][0];
        assert_eq!(e["field"], json!(["input", "clientSecretEnv"]), "{data:#}");
        let data = configure(&app, &t.admin, &t, client_id, "GRAPH_SECRET_CONTOSO")
            .payload()
            .await;
        let sync = &data["sync"];
        assert_eq!(sync["clientSecretEnv"], "GRAPH_SECRET_CONTOSO");
        assert_eq!(sync["enabled"], true);
        assert!(sync["lastSyncAt"].is_null());
        let body = configure(&app, &t.operator, &t, client_id, "X").await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"));
    }
);

/// A stand-in for Microsoft Graph and its token endpoint on 127.0.0.1:0, serving the realistic
/// fixture: the scores in two pages, the first request answered with a 429.
mod fake_graph {
    use super::*;
    use axum::Router;
    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    pub struct Hits {
        pub token: AtomicUsize,
        pub throttled: AtomicUsize,
        pub scores: AtomicUsize,
        pub profiles: AtomicUsize,
    }

    #[derive(Clone)]
    struct Fake {
        base: String,
        secret: String,
        hits: Arc<Hits>,
    }

    async fn token(State(f): State<Fake>, body: String) -> Response {
        f.hits.token.fetch_add(1, Ordering::SeqCst);
        let form: HashMap<String, String> = body
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| {
                (
                    k.to_string(),
                    percent_encoding::percent_decode_str(v)
                        .decode_utf8_lossy()
                        .to_string(),
                )
            })
            .collect();
        if form.get("grant_type").map(String::as_str) != Some("client_credentials")
            || form.get("client_secret") != Some(&f.secret)
        {
            return (StatusCode::UNAUTHORIZED, "bad credentials").into_response();
        }
        axum::Json(json!({ "token_type": "Bearer", "expires_in": 3599, "access_token": "fake-token" }))
            .into_response()
    }

    fn authorised(headers: &HeaderMap) -> bool {
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer fake-token")
    }

    async fn scores(
        State(f): State<Fake>,
        Query(q): Query<HashMap<String, String>>,
        headers: HeaderMap,
    ) -> Response {
        if !authorised(&headers) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        // The very first call is throttled, as Graph does under load.
        if f.hits.throttled.fetch_add(1, Ordering::SeqCst) == 0 {
            return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "slow down").into_response();
        }
        f.hits.scores.fetch_add(1, Ordering::SeqCst);
        let all = fixture("realistic-secureScores.json")["value"].clone();
        let all = all.as_array().unwrap();
        if q.get("$skiptoken").map(String::as_str) == Some("2") {
            axum::Json(json!({ "value": all[2..] })).into_response()
        } else {
            assert_eq!(q.get("$top").map(String::as_str), Some("90"));
            axum::Json(json!({
                "value": all[..2],
                "@odata.nextLink": format!("{}/security/secureScores?$top=90&$skiptoken=2", f.base),
            }))
            .into_response()
        }
    }

    async fn profiles(
        State(f): State<Fake>,
        Query(q): Query<HashMap<String, String>>,
        headers: HeaderMap,
    ) -> Response {
        if !authorised(&headers) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        f.hits.profiles.fetch_add(1, Ordering::SeqCst);
        if q.contains_key("$skiptoken") {
            axum::Json(fixture("realistic-controlProfiles-page2.json")).into_response()
        } else {
            let mut page = fixture("realistic-controlProfiles-page1.json");
            page["@odata.nextLink"] = json!(format!(
                "{}/security/secureScoreControlProfiles?$skiptoken=p2",
                f.base
            ));
            axum::Json(page).into_response()
        }
    }

    /// Starts the fake; returns (Graph base URL, token URL template, hit counters).
    pub async fn start(secret: &str) -> (String, String, Arc<Hits>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let root = format!("http://{}", listener.local_addr().unwrap());
        let base = format!("{root}/v1.0");
        let hits = Arc::new(Hits::default());
        let state = Fake {
            base: base.clone(),
            secret: secret.to_string(),
            hits: hits.clone(),
        };
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/v1.0/security/secureScores", get(scores))
            .route("/v1.0/security/secureScoreControlProfiles", get(profiles))
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, format!("{root}/{{tenant}}/oauth2/v2.0/token"), hits)
    }
}

db_test!(the_sync_client_pages_retries_after_a_429_and_imports, |app| {
    use securescore::service::graph::sync::{self as graph_sync, GraphClient};
    use std::sync::atomic::Ordering;
    let t = app.tenant().create().await;
    let secret = format!("s3cret-{}", uuid::Uuid::new_v4());
    let (base, token_url, hits) = fake_graph::start(&secret).await;
    let env = format!("SECURESCORE_TEST_GRAPH_SECRET_{}", uuid::Uuid::new_v4().simple()).to_uppercase();
    // SAFETY: the variable name is unique to this test and nothing else reads or writes it.
    unsafe { std::env::set_var(&env, &secret) };
    let data = configure(&app, &t.admin, &t, "client-1", &env).payload().await;
    assert_eq!(data["userErrors"], json!([]));

    let client = GraphClient::new(&base, &token_url).unwrap();
    let synced = graph_sync::sync_enabled(&app.db, &client, 16 * 1024 * 1024).await;
    assert_eq!(synced, 1);
    assert_eq!(hits.token.load(Ordering::SeqCst), 1);
    assert_eq!(
        hits.throttled.load(Ordering::SeqCst),
        3,
        "one 429, then two pages"
    );
    assert_eq!(hits.scores.load(Ordering::SeqCst), 2, "both pages of scores");
    assert_eq!(hits.profiles.load(Ordering::SeqCst), 2, "both pages of profiles");

    let snaps = snapshots(&app, t.id).await;
    assert_eq!(snaps.len(), 3, "all three days across the two pages");
    let mfa = action(&app, &t.reader, &t.slug, "AdminMFAV2").await;
    assert_eq!(mfa["status"], "RESOLVED_ALTERNATE_MITIGATION");
    let settings = entity::graph_sync_config::Entity::find_by_id(t.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        settings.last_status.as_deref(),
        Some("OK"),
        "{:?}",
        settings.last_error
    );

    // A wrong secret is a recorded failure, not a crash, and the secret is nowhere in it.
    // SAFETY: as above.
    unsafe { std::env::set_var(&env, "wrong") };
    assert_eq!(
        graph_sync::sync_enabled(&app.db, &client, 16 * 1024 * 1024).await,
        0
    );
    let settings = entity::graph_sync_config::Entity::find_by_id(t.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(settings.last_status.as_deref(), Some("FAILED"));
    let error = settings.last_error.unwrap_or_default();
    assert!(error.contains("401"), "{error}");
    assert!(!error.contains("wrong") && !error.contains(&secret), "{error}");
    unsafe { std::env::remove_var(&env) };
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_task_syncs_enabled_tenants_at_the_interval() {
    let secret = format!("bg-{}", uuid::Uuid::new_v4());
    let (base, token_url, _hits) = fake_graph::start(&secret).await;
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.graph_base_url = base;
        c.graph_token_url = token_url;
        c.graph_sync_interval_secs = 1;
    })
    .await;
    let t = app.tenant().create().await;
    let env = format!("SECURESCORE_TEST_BG_SECRET_{}", uuid::Uuid::new_v4().simple()).to_uppercase();
    // SAFETY: the variable name is unique to this test and nothing else reads or writes it.
    unsafe { std::env::set_var(&env, &secret) };
    configure(&app, &t.admin, &t, "client-1", &env).data().await;
    let mut snaps = 0;
    for _ in 0..30 {
        snaps = snapshots(&app, t.id).await.len();
        if snaps == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(snaps, 3, "the background task imported the tenant");
    unsafe { std::env::remove_var(&env) };
}

db_test!(graph_sync_status_is_readable_and_admins_can_run_it_now, |app| {
    let secret = format!("now-{}", uuid::Uuid::new_v4());
    let (base, token_url, _hits) = fake_graph::start(&secret).await;
    let app = spawn_app_with(app.backend, |c| {
        c.graph_base_url = base;
        c.graph_token_url = token_url;
    })
    .await;
    let t = app.tenant().create().await;
    let other = app.tenant().create().await;
    const STATUS: &str = "graphSync { enabled lastSyncAt lastStatus lastError }";
    const RUN: &str =
        "sync { lastSyncAt lastStatus lastError } result { snapshotsWritten } userErrors { code message }";
    let status = |token: String| {
        let app = &app;
        let slug = t.slug.clone();
        async move { app.query_tenant(&token, &slug, STATUS).payload().await["graphSync"].clone() }
    };
    assert_eq!(
        status(t.reader.clone()).await,
        Value::Null,
        "nothing configured yet"
    );
    let none = app
        .run_graph_sync_now(&t.admin, json!({ "tenantSlug": t.slug }), RUN)
        .payload()
        .await;
    assert_eq!(none["userErrors"][0]["code"], "NOT_FOUND", "{none}");

    let env = format!("SECURESCORE_TEST_NOW_SECRET_{}", uuid::Uuid::new_v4().simple()).to_uppercase();
    // SAFETY: the variable name is unique to this test and nothing else reads or writes it.
    unsafe { std::env::set_var(&env, &secret) };
    let input = json!({
        "tenantSlug": t.slug, "enabled": false, "azureTenantId": AZURE_ID, "clientId": "client-1",
        "clientSecretEnv": env
    });
    app.configure_graph_sync(&t.admin, input, CONFIGURE)
        .payload()
        .await;
    let before = status(t.reader.clone()).await;
    assert_eq!(before["enabled"], false);
    assert_eq!(before["lastStatus"], Value::Null);

    // Only the tenant's ADMIN may run it; another tenant's ADMIN finds no such tenant.
    let forbidden = app
        .run_graph_sync_now(&t.operator, json!({ "tenantSlug": t.slug }), RUN)
        .send()
        .await;
    assert_eq!(
        forbidden["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{forbidden}"
    );
    let hidden = app
        .run_graph_sync_now(&other.admin, json!({ "tenantSlug": t.slug }), RUN)
        .payload()
        .await;
    assert_eq!(hidden["userErrors"][0]["code"], "NOT_FOUND", "{hidden}");
    assert_eq!(
        status(t.reader.clone()).await["lastStatus"],
        Value::Null,
        "nothing ran"
    );

    // A disabled sync still runs on demand.
    let ran = app
        .run_graph_sync_now(&t.admin, json!({ "tenantSlug": t.slug }), RUN)
        .payload()
        .await;
    assert_eq!(ran["userErrors"], json!([]), "{ran}");
    assert_eq!(ran["sync"]["lastStatus"], "OK", "{ran}");
    assert_eq!(ran["result"]["snapshotsWritten"], 3, "{ran}");
    let after = status(t.reader.clone()).await;
    assert_eq!(after["lastStatus"], "OK");
    assert!(after["lastSyncAt"].is_string());
    assert_eq!(snapshots(&app, t.id).await.len(), 3);

    // A failed run is an outcome: recorded and readable, the secret nowhere in it.
    // SAFETY: as above.
    unsafe { std::env::set_var(&env, "wrong") };
    let failed = app
        .run_graph_sync_now(&t.admin, json!({ "tenantSlug": t.slug }), RUN)
        .payload()
        .await;
    assert_eq!(failed["userErrors"], json!([]), "{failed}");
    assert_eq!(failed["sync"]["lastStatus"], "FAILED", "{failed}");
    assert_eq!(failed["result"], Value::Null);
    let seen = status(t.reader.clone()).await;
    assert_eq!(seen["lastStatus"], "FAILED");
    let error = seen["lastError"].as_str().unwrap_or_default();
    assert!(
        error.contains("401") && !error.contains("wrong") && !error.contains(&secret),
        "{error}"
    );
    // Another tenant's members see nothing of it.
    let foreign = app.query_tenant(&other.reader, &t.slug, STATUS).send().await;
    assert_eq!(
        foreign["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{foreign}"
    );
    // SAFETY: as above.
    unsafe { std::env::remove_var(&env) };
});
