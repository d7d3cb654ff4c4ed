//! Who owns what (SPEC §1, §1a, §8 snapshots, §9): a tenant's Graph import writes only its own
//! control profiles, so nothing it imports changes what another tenant sees; a complete export
//! imports to exactly the vendor's score through the mutation and the CLI alike and stays so after
//! a restart and a re-import; applicability follows the catalog source and enabled services;
//! retention never deletes imported history.

use crate::db_test;
use crate::graph_import::{counts, import, import_ok, secure_score};
use entity::{control, score_snapshot};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

const VICTIM_VIEW: &str = r#"query($slug: String!) {
  tenant(slug: $slug) {
    secureScore { maxScore { points } current { points percentage } categories { category current { points max } } }
    improvementAction(controlId: "AdminMFAV2") {
      maxPoints pointsAchieved rank
      control { title maxPoints actionUrl source }
    }
    improvementActions(first: 100) { totalCount nodes { controlId maxPoints } }
  }
  controls(filter: { search: "Acme" }) { totalCount nodes { controlId } }
  all: controls { totalCount }
}"#;

/// A day's record of the complete export below: `scores` are `(control, score, count, total)`.
fn record(day: &str, current: &str, max: &str, scores: &[(&str, &str, &str, i64, i64)]) -> Value {
    json!({
        "azureTenantId": "0f0f0f0f-1111-4222-8333-444455556666",
        "createdDateTime": format!("{day}T03:12:00Z"),
        "currentScore": current,
        "maxScore": max,
        "licensedUserCount": 480,
        "activeUserCount": 455,
        "enabledServices": ["HasAADP2", "HasEXOP2", "HasMDOP2", "HasSPOP1"],
        "averageComparativeScores": [{ "basis": "AllTenants", "averageScore": 41.5 }],
        "controlScores": scores.iter().map(|(id, category, score, count, total)| json!({
            "controlName": id,
            "controlCategory": category,
            "score": score,
            "count": count,
            "total": total,
            "implementationStatus": format!("{count} of {total} done"),
        })).collect::<Vec<_>>(),
    })
}

fn profile(id: &str, title: &str, category: &str, service: &str, max: &str, state: &str) -> Value {
    json!({
        "id": id,
        "azureTenantId": "0f0f0f0f-1111-4222-8333-444455556666",
        "title": title,
        "controlCategory": category,
        "service": service,
        "maxScore": max,
        "tier": "Core",
        "userImpact": "Low",
        "implementationCost": "Moderate",
        "actionType": "Config",
        "threats": ["Account Breach"],
        "remediation": "<p>Do the <b>thing</b></p>",
        "actionUrl": format!("https://security.microsoft.com/securescore?actionId={id}"),
        "deprecated": false,
        "controlStateUpdates": [
            { "state": "Default", "updatedDateTime": "2026-01-01T00:00:00Z" },
            { "state": state, "comment": format!("{state} by the security team"), "updatedBy": "sam@example.com",
              "updatedDateTime": "2026-02-01T00:00:00Z" }
        ],
    })
}

/// A complete export an organisation could download: three days, the profiles on two pages (the
/// first points at the second), partial progress given as count/total whose points the vendor
/// rounded to cents, a control in the scores only (max derivable), a deprecated profile, and all
/// four state updates. The newest day's totals are the exact sum of its control scores.
fn complete_export() -> (Value, Value) {
    let newest = [
        ("AdminMFAV2", "Identity", "9", 0, 2),
        ("VxBlockLegacy", "Identity", "2.67", 1, 3),
        ("VxSafeLinks", "Apps", "4.5", 1, 2),
        ("VxSpoof", "Apps", "0", 0, 1),
        ("VxThirdParty", "Data", "6", 0, 4),
        ("VxDone", "Device", "3", 2, 2),
    ];
    let mut newest: Vec<Value> = record("2026-11-20", "26.67", "46", &newest)["controlScores"]
        .as_array()
        .cloned()
        .unwrap();
    newest.push(
        json!({ "controlName": "VxScoreOnly", "controlCategory": "Data", "score": "1.5",
                        "scoreInPercentage": "25", "description": "<i>Label</i> documents" }),
    );
    let mut day3 = record("2026-11-20", "26.67", "46", &[]);
    day3["controlScores"] = Value::Array(newest);
    let day1 = record(
        "2026-11-18",
        "18.33",
        "46",
        &[
            ("AdminMFAV2", "Identity", "9", 0, 2),
            ("VxBlockLegacy", "Identity", "1.33", 1, 6),
            ("VxSafeLinks", "Apps", "0", 0, 2),
            ("VxSpoof", "Apps", "0", 0, 1),
            ("VxThirdParty", "Data", "6", 0, 4),
            ("VxDone", "Device", "1.5", 1, 2),
            ("VxScoreOnly", "Data", "0.5", 1, 12),
        ],
    );
    let day2 = record(
        "2026-11-19",
        "20.17",
        "46",
        &[
            ("AdminMFAV2", "Identity", "9", 0, 2),
            ("VxBlockLegacy", "Identity", "2.67", 1, 3),
            ("VxSafeLinks", "Apps", "0", 0, 2),
            ("VxSpoof", "Apps", "0", 0, 1),
            ("VxThirdParty", "Data", "6", 0, 4),
            ("VxDone", "Device", "1.5", 1, 2),
            ("VxScoreOnly", "Data", "1", 2, 12),
        ],
    );
    let scores = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/secureScores",
        "value": [day3, day1, day2],
    });
    let page1 = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/secureScoreControlProfiles",
        "@odata.nextLink": "https://graph.microsoft.com/v1.0/security/secureScoreControlProfiles?$skiptoken=2",
        "value": [
            profile("AdminMFAV2", "Require MFA for admins (vendor)", "Identity", "AzureAD", "9", "Reviewed"),
            profile("VxBlockLegacy", "Block legacy authentication", "Identity", "AzureAD", "8", "Default"),
            profile("VxSafeLinks", "Safe Links", "Apps", "MDO", "9", "Default"),
        ]
    });
    let mut deprecated = profile("VxOld", "Retired control", "Apps", "MDO", "7", "Default");
    deprecated["deprecated"] = json!(true);
    let page2 = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/secureScoreControlProfiles",
        "value": [
            profile("VxSpoof", "Anti-spoofing", "Apps", "MDO", "5", "Ignored"),
            profile("VxThirdParty", "DLP by a partner", "Data", "MIP", "6", "ThirdParty"),
            profile("VxDone", "Encrypt devices", "Device", "Intune", "3", "Default"),
            deprecated,
        ]
    });
    (scores, json!([page1, page2]))
}

db_test!(nothing_an_import_holds_changes_what_another_tenant_sees, |app| {
    let victim = app.tenant().create().await;
    let attacker = app.tenant().create().await;
    let before = app
        .gql_ok(&victim.reader, VICTIM_VIEW, json!({ "slug": victim.slug }))
        .await;
    assert_eq!(
        before["tenant"]["improvementAction"]["maxPoints"], 10.0,
        "{before:#}"
    );
    let catalog_before: Vec<control::Model> = control::Entity::find().all(&app.db).await.unwrap();

    // The attacker's export re-weights a shared control, retitles it, points its Manage link
    // at script, and brings a secret control of its own.
    let mut evil = profile("AdminMFAV2", "Pwned", "Identity", "AzureAD", "0", "Default");
    evil["actionUrl"] = json!("javascript:alert(document.cookie)");
    let secret = profile(
        "AcmeSecretProjectHardening",
        "Acme secret",
        "Data",
        "MIP",
        "99",
        "Default",
    );
    let scores = record(
        "2026-11-20",
        "0",
        "99",
        &[
            ("AdminMFAV2", "Identity", "0", 0, 1),
            ("AcmeSecretProjectHardening", "Data", "0", 0, 1),
        ],
    );
    let result = import_ok(
        &app,
        &attacker.admin,
        &attacker.slug,
        &scores,
        Some(&json!({ "value": [evil, secret] })),
    )
    .await;
    let warnings = result["warnings"].to_string();
    assert!(
        warnings.contains("actionUrl"),
        "the dropped link is reported: {warnings}"
    );

    let after = app
        .gql_ok(&victim.reader, VICTIM_VIEW, json!({ "slug": victim.slug }))
        .await;
    assert_eq!(after, before, "the victim sees exactly what it saw");
    let catalog_after: Vec<control::Model> = control::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(
        catalog_after, catalog_before,
        "the service catalog is untouched, row for row"
    );

    // The attacker sees its own profiles, without the script link.
    let own = app
        .gql_ok(&attacker.reader, VICTIM_VIEW, json!({ "slug": attacker.slug }))
        .await;
    let mfa = &own["tenant"]["improvementAction"];
    assert_eq!(mfa["control"]["title"], "Pwned", "{own:#}");
    assert_eq!(mfa["control"]["source"], "TENANT_PROFILE");
    // The script link was dropped; what the export does not say comes from the catalog.
    let url = mfa["control"]["actionUrl"].as_str().unwrap_or_default();
    assert!(url.is_empty() || url.starts_with("https://"), "{url}");
    assert_eq!(own["tenant"]["secureScore"]["maxScore"]["points"], 99.0);
    assert_eq!(
        own["controls"]["totalCount"], 0,
        "own profiles stay out of the catalog query"
    );

    // The share page of the attacker's action links nothing but https.
    let input = json!({ "tenantSlug": attacker.slug, "controlId": "AdminMFAV2", "platform": "LINK" });
    let link = app
        .create_share_link(&attacker.operator, input, "token")
        .payload()
        .await;
    let token = link["token"].as_str().expect("token");
    let page = app
        .client
        .get(format!("{}/share/{token}", app.address))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.to_lowercase().contains("javascript:"), "{page}");
});

db_test!(
    a_complete_export_imports_to_exactly_the_vendors_score_through_the_mutation_and_the_cli,
    |app| {
        let (scores, profiles) = complete_export();
        let by_mutation = app.tenant().create().await;
        let result = import_ok(
            &app,
            &by_mutation.admin,
            &by_mutation.slug,
            &scores,
            Some(&profiles),
        )
        .await;
        assert_eq!(
            result["discrepancies"][0]["day"],
            Value::Null,
            "no day differs: {result:#}"
        );
        assert_eq!(result["discrepancies"], json!([]), "{result:#}");
        let warnings = result["warnings"].to_string();
        assert!(!warnings.contains("nextLink"), "every page was given: {warnings}");
        assert_eq!(
            secure_score(&app, &by_mutation.reader, &by_mutation.slug).await,
            (26.67, 46.0),
            "current and maxScore are the newest record's"
        );
        let t = &app
            .query_tenant(
                &by_mutation.reader,
                &by_mutation.slug,
                r#"
                    catalogSource enabledServices
                    a: improvementAction(controlId: "VxThirdParty") { status pointsAchieved }
                    b: improvementAction(controlId: "VxSpoof") { status pointsAchieved }
                    c: improvementAction(controlId: "AdminMFAV2") { status pointsAchieved notes { body } control { remediation } }
                    d: improvementAction(controlId: "VxBlockLegacy") { status pointsAchieved }
                    e: improvementAction(controlId: "VxDone") { status }
                    old: improvementAction(controlId: "VxOld") { controlId }
                "#,
            )
            .payload()
            .await;
        assert_eq!(t["catalogSource"], "MICROSOFT_GRAPH");
        assert_eq!(t["a"]["status"], "RESOLVED_THIRD_PARTY", "{t:#}");
        assert_eq!(t["a"]["pointsAchieved"], 6.0);
        assert_eq!(t["b"]["status"], "RISK_ACCEPTED");
        assert_eq!(t["c"]["status"], "RESOLVED_ALTERNATE_MITIGATION");
        assert_eq!(
            t["c"]["control"]["remediation"], "Do the thing",
            "HTML reduced to text"
        );
        assert!(
            t["c"]["notes"][0]["body"]
                .as_str()
                .unwrap()
                .contains("sam@example.com")
        );
        assert_eq!(t["d"]["status"], "TO_ADDRESS");
        assert_eq!(
            t["d"]["pointsAchieved"], 2.67,
            "the vendor's rounded points, exactly"
        );
        assert_eq!(t["e"]["status"], "COMPLETED");
        let services = t["enabledServices"].to_string();
        for s in ["AzureAD", "EXO", "MDO", "SPO"] {
            assert!(
                services.contains(s),
                "{s} mapped from the vendor's flags: {services}"
            );
        }

        // The CLI imports the same files to the same score (the default services of the test
        // tenant add catalog actions that must not count).
        let by_cli = app.tenant().create().await;
        let dir = tempfile::tempdir().unwrap();
        let scores_file = dir.path().join("scores.json");
        std::fs::write(&scores_file, scores.to_string()).unwrap();
        let mut profile_files = Vec::new();
        for (i, page) in profiles.as_array().unwrap().iter().enumerate() {
            let f = dir.path().join(format!("profiles-{i}.json"));
            std::fs::write(&f, page.to_string()).unwrap();
            profile_files.push(f);
        }
        // Another Azure tenant id, since one organisation's data belongs to one tenant.
        let other_id = |v: &Value| v.to_string().replace("0f0f0f0f-1111", "0e0e0e0e-1111");
        std::fs::write(&scores_file, other_id(&scores)).unwrap();
        for (i, f) in profile_files.iter().enumerate() {
            std::fs::write(f, other_id(&profiles[i])).unwrap();
        }
        securescore::cli::import_graph(
            securescore::config::Config::for_database(app.database_url.clone()),
            securescore::config::ImportGraphArgs {
                tenant: by_cli.slug.clone(),
                scores: scores_file.clone(),
                profiles: profile_files.clone(),
                dry_run: false,
            },
        )
        .await
        .expect("imported by the CLI");
        assert_eq!(
            secure_score(&app, &by_cli.reader, &by_cli.slug).await,
            (26.67, 46.0)
        );

        // A restart (a second server on the same database loads the shipped catalog again)
        // changes nothing, and importing the same documents again reports no change.
        let before = counts(&app, by_mutation.id).await;
        let mut config = securescore::config::Config::for_database(app.database_url.clone());
        config.seed_demo = false;
        let again = securescore::app::App::build(config).await.expect("second start");
        drop(again);
        assert_eq!(
            counts(&app, by_mutation.id).await,
            before,
            "a restart changes nothing"
        );
        let reimport = import_ok(
            &app,
            &by_mutation.admin,
            &by_mutation.slug,
            &scores,
            Some(&profiles),
        )
        .await;
        assert_eq!(reimport["changed"], false, "{reimport:#}");
        assert_eq!(counts(&app, by_mutation.id).await, before);
        assert_eq!(
            secure_score(&app, &by_mutation.reader, &by_mutation.slug).await,
            (26.67, 46.0)
        );
    }
);

db_test!(
    applicability_follows_the_catalog_source_and_enabled_services_at_once,
    |app| {
        let t = app.tenant().services(&["AzureAD", "MCAS"]).create().await;
        let score = |token: String, slug: String| {
            let app = &app;
            async move { secure_score(app, &token, &slug).await }
        };
        let (_, max_both) = score(t.reader.clone(), t.slug.clone()).await;
        // An MCAS action with a status, to see it come back.
        let args = json!({ "first": 100, "filter": { "services": ["MCAS"] } });
        let mcas = app
            .query_actions(&t.reader, &t.slug, args, "nodes { controlId }")
            .payload()
            .await;
        let mcas_id = mcas["nodes"][0]["controlId"]
            .as_str()
            .expect("an MCAS action")
            .to_string();
        let input = json!({ "tenantSlug": t.slug, "controlId": mcas_id, "status": "PLANNED" });
        app.set_action_status(&t.operator, input, "userErrors { code }")
            .data()
            .await;
        let update = |services: Value| {
            let input = json!({ "slug": t.slug, "enabledServices": services });
            app.update_tenant(&t.admin, input, "userErrors { code }").data()
        };
        let status = || app.query_action(&t.reader, &t.slug, &mcas_id, "status").payload();
        update(json!(["AzureAD"])).await;
        let (_, max_identity) = score(t.reader.clone(), t.slug.clone()).await;
        assert!(max_identity < max_both, "{max_identity} < {max_both}");
        assert_eq!(status().await, Value::Null, "it left the lists");
        update(json!(["AzureAD", "MCAS"])).await;
        assert_eq!(score(t.reader.clone(), t.slug.clone()).await.1, max_both);
        assert_eq!(status().await["status"], "PLANNED", "its status returned");

        // An import switches the source to the export; an ADMIN switches it back.
        let (scores, profiles) = complete_export();
        import_ok(&app, &t.admin, &t.slug, &scores, Some(&profiles)).await;
        assert_eq!(score(t.reader.clone(), t.slug.clone()).await, (26.67, 46.0));
        let input = json!({ "slug": t.slug, "catalogSource": "SERVICE_CATALOG" });
        app.update_tenant(&t.admin, input, "tenant { catalogSource } userErrors { code }")
            .data()
            .await;
        let (_, max_catalog) = score(t.reader.clone(), t.slug.clone()).await;
        assert_ne!(max_catalog, 46.0, "the service catalog's controls apply again");
    }
);

db_test!(retention_never_deletes_imported_history_and_an_admin_can, |app| {
    let t = app.tenant().create().await;
    let (scores, profiles) = complete_export();
    import_ok(&app, &t.admin, &t.slug, &scores, Some(&profiles)).await;
    let imported = || {
        score_snapshot::Entity::find()
            .filter(score_snapshot::Column::TenantId.eq(t.id))
            .count(&app.db)
    };
    assert_eq!(imported().await.unwrap(), 3);
    securescore::service::history::snapshots::apply_retention(&app.db, 1, chrono::Utc::now())
        .await
        .expect("retention");
    assert_eq!(
        imported().await.unwrap(),
        3,
        "retention kept the customer's archive"
    );

    // Only the tenant's ADMIN deletes it.
    let delete = |token: &str| {
        let input = json!({ "tenantSlug": t.slug, "to": "2026-11-19" });
        app.delete_imported_history(token, input, "deletedSnapshots userErrors { code }")
    };
    let denied = delete(&t.operator).await;
    assert_eq!(
        denied["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{denied:#}"
    );
    let other = app.tenant().create().await;
    let hidden = delete(&other.admin).await;
    assert_eq!(
        hidden["data"]["deleteImportedHistory"]["userErrors"][0]["code"], "NOT_FOUND",
        "another tenant's ADMIN sees no such tenant: {hidden:#}"
    );
    assert_eq!(imported().await.unwrap(), 3);
    let done = delete(&t.admin).payload().await;
    assert_eq!(done["deletedSnapshots"], 2);
    assert_eq!(imported().await.unwrap(), 1);
});

db_test!(a_profile_list_passed_as_scores_is_refused_saying_so, |app| {
    let t = app.tenant().create().await;
    let (_, profiles) = complete_export();
    let before = counts(&app, t.id).await;
    let payload = import(&app, &t.admin, &t.slug, &profiles[0], None).await;
    let err = &payload["userErrors"][0];
    assert_eq!(err["code"], "BAD_USER_INPUT", "{payload:#}");
    assert!(
        err["message"].as_str().unwrap().contains("controlProfiles"),
        "{err}"
    );
    assert_eq!(counts(&app, t.id).await, before);
});

db_test!(
    every_deviation_of_an_untidy_export_is_reported_with_its_path,
    |app| {
        let t = app.tenant().create().await;
        let mut day = record(
            "2026-11-20",
            "3",
            "20",
            &[
                ("VxBlockLegacy", "Identity", "1", -2, 3),
                ("VxSafeLinks", "Apps", "2", 5, 2),
            ],
        );
        day["averageComparativeScores"] = json!([
            { "basis": "AllTenants", "averageScore": 41.5 },
            { "basis": "AllTenants", "averageScore": 41.5, "identityScore": 20 }
        ]);
        day["enabledServices"] = json!(["HasEXOP2", "HasTeleportation"]);
        let mut earlier = day.clone();
        earlier["createdDateTime"] = json!("2026-11-20T01:00:00Z");
        let scores = json!({
            "value": [day, earlier],
            "@odata.nextLink": "https://graph.microsoft.com/v1.0/security/secureScores?$skip=2"
        });
        let mut bad_max = profile(
            "VxBlockLegacy",
            "<b>Block</b> legacy",
            "Identity",
            "AzureAD",
            "-4",
            "Default",
        );
        bad_max["actionUrl"] = json!("http://insecure.example.com");
        let safe = profile("VxSafeLinks", "Safe Links", "Apps", "MDO", "lots", "Default");
        let profiles = json!([
            { "value": [bad_max], "@odata.nextLink": "https://graph.microsoft.com/v1.0/security/secureScoreControlProfiles?$skiptoken=2" },
            { "value": [safe], "@odata.nextLink": "https://graph.microsoft.com/v1.0/security/secureScoreControlProfiles?$skiptoken=3" }
        ]);
        let result = import_ok(&app, &t.admin, &t.slug, &scores, Some(&profiles)).await;
        let warnings: Vec<(String, String)> = result["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                (
                    w["path"].as_str().unwrap().to_string(),
                    w["message"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let has = |path: &str, word: &str| {
            warnings
                .iter()
                .any(|(p, m)| p.contains(path) && m.to_lowercase().contains(&word.to_lowercase()))
        };
        let cases = [
            ("secureScores.@odata.nextLink", "", "a missing page of scores"),
            (
                "controlProfiles.1.@odata.nextLink",
                "",
                "a missing page of profiles",
            ),
            (
                "secureScores.value.",
                "2026-11-20",
                "two records for one day, and which won",
            ),
            ("controlScores.0.count", "", "a negative count"),
            ("controlScores.1.count", "total", "count above total"),
            ("controlProfiles.0.value.0.maxScore", "", "a negative maxScore"),
            ("controlProfiles.1.value.0.maxScore", "", "a non-numeric maxScore"),
            (
                "controlProfiles.0.value.0.actionUrl",
                "https",
                "a link that is not https",
            ),
            ("averageComparativeScores", "", "a duplicate benchmark"),
            ("enabledServices", "HasTeleportation", "an unknown service flag"),
        ];
        for (path, word, why) in cases {
            assert!(has(path, word), "{why}: {path} in {warnings:#?}");
        }
        assert!(
            !warnings
                .iter()
                .any(|(p, _)| p == "controlProfiles.0.@odata.nextLink"),
            "the first page's next page was given: {warnings:#?}"
        );
    }
);
