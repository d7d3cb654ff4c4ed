//! Exports (issue 7): `GET /export/{tenant}/actions.csv` and `GET /export/{tenant}/history.json`
//! round-trip the numbers the GraphQL API shows, need a token with a role on the tenant, and
//! answer another tenant like a missing one.

use crate::db_test;
use crate::graph_import::{import_ok, realistic, secure_score};
use crate::helpers::*;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};
use std::collections::HashMap;

async fn get(app: &TestApp, token: Option<&str>, path: &str) -> reqwest::Response {
    let mut req = app.client.get(format!("{}{path}", app.address));
    if let Some(t) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    req.send().await.expect("request sent")
}

/// What the tests compare of the action list with the CSV.
const ACTIONS: &str = r#"
    totalCount
    edges { node { controlId rank title scoreImpact pointsAchieved maxPoints status category service licensed
                   implemented total tags { name } } }"#;

db_test!(actions_csv_round_trips_the_numbers_the_api_shows, |app| {
    let t = app.tenant().create().await;
    let (scores, profiles) = realistic();
    import_ok(&app, &t.admin, &t.slug, &scores, Some(&profiles)).await;
    // A tag whose name needs CSV quoting.
    let input = json!({ "tenantSlug": t.slug, "name": "Q3, \"urgent\"" });
    let tag = app.create_tag(&t.operator, input, "tag { id }").payload().await;
    let input = json!({ "tenantSlug": t.slug, "controlIds": ["AdminMFAV2"], "tagIds": [tag["tag"]["id"]] });
    app.add_action_tags(&t.operator, input, "userErrors { code }")
        .data()
        .await;

    let resp = get(&app, Some(&t.reader), &format!("/export/{}/actions.csv", t.slug)).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = resp.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    for column in [
        "Rank",
        "Recommended action",
        "Score impact (%)",
        "Points achieved",
        "Max points",
        "Status",
        "Category",
        "Product/Service",
        "Licensed",
        "Tags",
        "Control ID",
    ] {
        assert!(headers.iter().any(|h| h == column), "{column} in {headers:?}");
    }
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("valid CSV record")).collect();
    let by_control: HashMap<String, csv::StringRecord> = rows
        .iter()
        .map(|r| (r[col("Control ID")].to_string(), r.clone()))
        .collect();

    let args = json!({ "first": 100, "filter": { "statuses": ALL_STATUSES } });
    let conn = &app
        .query_actions(&t.reader, &t.slug, args, ACTIONS)
        .payload()
        .await;
    assert_eq!(
        rows.len() as i64,
        conn["totalCount"].as_i64().unwrap(),
        "one row per action"
    );
    let num = |s: &str| -> f64 { s.parse().unwrap_or_else(|_| panic!("number {s:?}")) };
    for edge in conn["edges"].as_array().unwrap() {
        let a = &edge["node"];
        let id = a["controlId"].as_str().unwrap();
        let r = &by_control[id];
        assert_eq!(
            &r[col("Recommended action")],
            a["title"].as_str().unwrap(),
            "{id}"
        );
        assert_eq!(
            num(&r[col("Points achieved")]),
            a["pointsAchieved"].as_f64().unwrap(),
            "{id}"
        );
        assert_eq!(
            num(&r[col("Max points")]),
            a["maxPoints"].as_f64().unwrap(),
            "{id}"
        );
        assert_eq!(
            num(&r[col("Score impact (%)")]),
            a["scoreImpact"].as_f64().unwrap(),
            "{id}"
        );
        assert_eq!(&r[col("Status")], a["status"].as_str().unwrap(), "{id}");
        assert_eq!(&r[col("Category")], a["category"].as_str().unwrap(), "{id}");
        assert_eq!(&r[col("Product/Service")], a["service"].as_str().unwrap(), "{id}");
        let licensed = if a["licensed"].as_bool().unwrap() {
            "Yes"
        } else {
            "No"
        };
        assert_eq!(&r[col("Licensed")], licensed, "{id}");
        let rank = a["rank"].as_i64().map(|r| r.to_string()).unwrap_or_default();
        assert_eq!(&r[col("Rank")], rank, "{id}");
        assert_eq!(
            num(&r[col("Implemented")]) as i64,
            a["implemented"].as_i64().unwrap()
        );
        let tags: Vec<&str> = a["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert_eq!(&r[col("Tags")], tags.join("; "), "{id}");
    }
    assert_eq!(
        &by_control["AdminMFAV2"][col("Tags")],
        "Q3, \"urgent\"",
        "quoted and read back"
    );
    // Ranked rows come first, in rank order, as in the portal.
    let ranks: Vec<i64> = rows.iter().filter_map(|r| r[col("Rank")].parse().ok()).collect();
    assert_eq!(ranks, (1..=ranks.len() as i64).collect::<Vec<_>>());
    // The points add up to the score the API shows.
    let (current, max) = secure_score(&app, &t.reader, &t.slug).await;
    let sum: f64 = rows.iter().map(|r| num(&r[col("Points achieved")])).sum();
    assert!(
        (sum - current).abs() < 0.01 * rows.len() as f64,
        "{sum} vs {current}"
    );
    let max_sum: f64 = rows.iter().map(|r| num(&r[col("Max points")])).sum();
    assert!((max_sum - max).abs() < 0.01, "{max_sum} vs {max}");
});

db_test!(history_json_serves_the_daily_snapshot_series, |app| {
    let t = app.tenant().create().await;
    let (scores, profiles) = realistic();
    import_ok(&app, &t.admin, &t.slug, &scores, Some(&profiles)).await;
    let resp = get(&app, Some(&t.reader), &format!("/export/{}/history.json", t.slug)).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(body["tenant"], t.slug);
    let snaps = body["snapshots"].as_array().expect("snapshots");
    let days: Vec<&str> = snaps.iter().filter_map(|s| s["day"].as_str()).collect();
    assert_eq!(days, ["2024-05-01", "2024-05-02", "2024-05-03"]);
    let vendor: Vec<(f64, f64)> = snaps
        .iter()
        .map(|s| {
            (
                s["vendorCurrentScore"].as_f64().unwrap(),
                s["vendorMaxScore"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(vendor, [(28.25, 40.0), (30.0, 40.0), (31.5, 41.0)]);
    assert!(snaps.iter().all(|s| s["source"] == "IMPORTED"));
    let (current, max) = secure_score(&app, &t.reader, &t.slug).await;
    assert_eq!(snaps[2]["current"].as_f64(), Some(current));
    assert_eq!(snaps[2]["maxScore"].as_f64(), Some(max));
    let categories = snaps[2]["categories"].as_array().unwrap();
    assert_eq!(categories.len(), 5);
    let cat_sum: f64 = categories.iter().map(|c| c["current"].as_f64().unwrap()).sum();
    assert!((cat_sum - current).abs() < 0.05, "{cat_sum} vs {current}");

    let resp = get(
        &app,
        Some(&t.reader),
        &format!("/export/{}/history.json?from=2024-05-02&to=2024-05-02", t.slug),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["snapshots"].as_array().unwrap().len(), 1);
    assert_eq!(body["snapshots"][0]["day"], "2024-05-02");

    // An empty history is an empty, valid list.
    let empty = app.tenant().create().await;
    let body: Value = get(
        &app,
        Some(&empty.reader),
        &format!("/export/{}/history.json", empty.slug),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["snapshots"], json!([]));
});

db_test!(
    exports_need_a_token_and_answer_other_tenants_like_missing_ones,
    |app| {
        let t = app.tenant().create().await;
        let other = app.tenant().create().await;
        for file in ["actions.csv", "history.json"] {
            let path = format!("/export/{}/{file}", t.slug);
            let resp = get(&app, None, &path).await;
            assert_eq!(resp.status(), 401, "{file} without a token");
            let resp = get(&app, Some("ssk_not_a_token"), &path).await;
            assert_eq!(resp.status(), 401, "{file} with a bad token");
            let theirs = get(&app, Some(&other.admin), &path).await;
            assert_eq!(theirs.status(), 404, "{file} of another tenant");
            let theirs: Value = theirs.json().await.unwrap();
            let missing = get(
                &app,
                Some(&other.admin),
                &format!("/export/no-such-tenant/{file}"),
            )
            .await;
            assert_eq!(missing.status(), 404);
            let missing: Value = missing.json().await.unwrap();
            assert_eq!(
                theirs, missing,
                "{file}: another tenant is indistinguishable from none"
            );
            assert_eq!(
                get(&app, Some(&t.reader), &path).await.status(),
                200,
                "{file} as READER"
            );
        }
    }
);
