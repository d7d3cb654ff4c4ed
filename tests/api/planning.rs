//! Plans within an effort budget (`Tenant.plan`) and applying them (`applyPlan`): the plan is
//! optimal (checked against a dynamic programme written here over the API's own action list,
//! on every demo tenant), its outcome is the what-if of its actions done and its standing is the
//! `ALL_TENANTS` comparison of the latest day; `applyPlan` is one transaction (a failing action
//! changes nothing), needs OPERATOR, and another tenant's slug is `NOT_FOUND`.

use crate::db_test;
use crate::helpers::*;
use securescore::domain::points::Points;
use serde_json::{Value, json};

const PLAN: &str = "effortBudget totalEffort pointsGained pointsGainedExact percentageGained candidates \
     actions { effort pointsGained pointsGainedExact action { controlId status rank version } } \
     score { current { points pointsExact percentage } planned { pointsExact } maxScore { pointsExact } \
             categories { category current { pointsExact } } } \
     standing { day percentage percentileEstimate suppressedReason \
                cohort { kind key suppressedReason figures { size p25Percentage medianPercentage p75Percentage } \
                         excludedCells { industry } noise { cells } } }";

const ACTION: &str = "controlId status category licensed rank version maxPoints pointsAchievedExact \
     implementationCost userImpact tier";

fn pts(s: &str) -> Points {
    s.parse().expect("points")
}

/// The ranking weights of SPEC §4.
fn weight(level: &str) -> u64 {
    match level {
        "LOW" => 1,
        "MODERATE" | "UNKNOWN" => 2,
        "HIGH" => 3,
        other => panic!("level {other}"),
    }
}

fn complexity(tier: &str) -> u64 {
    match tier {
        "CORE" => 1,
        "DEFENSE_IN_DEPTH" => 2,
        "ADVANCED" => 3,
        other => panic!("tier {other}"),
    }
}

/// A candidate as this test reads it from the action list: (control id, effort, exact points
/// remaining).
type Item = (String, u64, Points);

/// Every action of a tenant (≤ 100 in these tests).
async fn all_actions(app: &TestApp, token: &str, slug: &str) -> Vec<Value> {
    let page = app
        .query_actions(
            token,
            slug,
            json!({ "first": 100, "filter": { "statuses": ALL_STATUSES } }),
            &format!("totalCount nodes {{ {ACTION} }}"),
        )
        .payload()
        .await;
    assert!(
        page["totalCount"].as_u64().unwrap() <= 100,
        "one page holds them all"
    );
    page["nodes"].as_array().unwrap().clone()
}

/// The candidates by SPEC: TO_ADDRESS or PLANNED with points remaining, licensed when asked.
fn candidates(actions: &[Value], only_licensed: bool, include_planned: bool) -> Vec<Item> {
    actions
        .iter()
        .filter_map(|a| {
            let status = a["status"].as_str().unwrap();
            let open = status == "TO_ADDRESS" || (include_planned && status == "PLANNED");
            let remaining =
                pts(&a["maxPoints"].to_string()) - pts(a["pointsAchievedExact"].as_str().unwrap());
            let fits = open && remaining.is_positive() && (!only_licensed || a["licensed"] == json!(true));
            fits.then(|| {
                let effort = weight(a["implementationCost"].as_str().unwrap())
                    + weight(a["userImpact"].as_str().unwrap())
                    + complexity(a["tier"].as_str().unwrap());
                (a["controlId"].as_str().unwrap().to_string(), effort, remaining)
            })
        })
        .collect()
}

/// The optimum written independently of the server: a dynamic programme over (effort used
/// exactly, actions taken) of the best exact value. Returns (best points, least effort that
/// reaches them).
fn optimum(items: &[Item], budget: u64, max_actions: Option<usize>) -> (Points, u64) {
    let k = max_actions.unwrap_or(items.len()).min(items.len());
    let b = budget.min(items.iter().map(|i| i.1).sum()) as usize;
    // best[c][j]: most points with effort exactly c and exactly j actions.
    let mut best: Vec<Vec<Option<Points>>> = vec![vec![None; k + 1]; b + 1];
    best[0][0] = Some(Points::ZERO);
    for (_, effort, value) in items {
        let e = *effort as usize;
        for c in (e..=b).rev() {
            for j in (1..=k).rev() {
                if let Some(v) = best[c - e][j - 1].clone() {
                    let candidate = v + value.clone();
                    if best[c][j].as_ref().is_none_or(|cur| candidate > *cur) {
                        best[c][j] = Some(candidate);
                    }
                }
            }
        }
    }
    let mut answer = (Points::ZERO, 0u64);
    for (c, row) in best.iter().enumerate() {
        for v in row.iter().flatten() {
            if *v > answer.0 || (*v == answer.0 && (c as u64) < answer.1) {
                answer = (v.clone(), c as u64);
            }
        }
    }
    answer
}

/// Checks one plan answer against the action list it was made from.
fn check_plan(plan: &Value, actions: &[Value], input: &Value, why: &str) {
    let budget = input["effortBudget"].as_u64().unwrap();
    let max_actions = input["maxActions"].as_u64().map(|k| k as usize);
    let only_licensed = input.get("onlyLicensed").is_none_or(|v| v == &json!(true));
    let include_planned = input.get("includePlanned").is_none_or(|v| v == &json!(true));
    let items = candidates(actions, only_licensed, include_planned);
    let (best, least_effort) = optimum(&items, budget, max_actions);
    assert_eq!(
        plan["candidates"].as_u64().unwrap() as usize,
        items.len(),
        "{why}: candidates"
    );
    assert_eq!(
        pts(plan["pointsGainedExact"].as_str().unwrap()),
        best,
        "{why}: the most points within the budget"
    );
    assert_eq!(
        plan["totalEffort"].as_u64().unwrap(),
        least_effort,
        "{why}: the least effort for them"
    );
    let chosen = plan["actions"].as_array().unwrap();
    assert!(max_actions.is_none_or(|k| chosen.len() <= k), "{why}: maxActions");
    let mut effort = 0;
    let mut points = Points::ZERO;
    let mut last_rank = 0;
    for a in chosen {
        let id = a["action"]["controlId"].as_str().unwrap();
        let item = items
            .iter()
            .find(|i| i.0 == id)
            .unwrap_or_else(|| panic!("{why}: {id} is a candidate"));
        assert_eq!(a["effort"].as_u64().unwrap(), item.1, "{why}: effort of {id}");
        assert_eq!(
            pts(a["pointsGainedExact"].as_str().unwrap()),
            item.2,
            "{why}: points of {id}"
        );
        let rank = a["action"]["rank"].as_u64().unwrap();
        assert!(rank > last_rank, "{why}: in rank order");
        last_rank = rank;
        effort += item.1;
        points += item.2.clone();
    }
    assert_eq!(effort, least_effort, "{why}: effort adds up");
    assert_eq!(points, best, "{why}: points add up");
}

crate::demo_test!(plans_are_optimal_on_every_demo_tenant, |app, tokens| {
    let viewer = app
        .query_viewer(&tokens.msp, "tenants { tenant { slug } }")
        .payload()
        .await;
    let slugs: Vec<String> = viewer["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tenant"]["slug"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(slugs.len(), 8, "the eight demo tenants");
    let inputs = [
        json!({ "effortBudget": 0 }),
        json!({ "effortBudget": 7 }),
        json!({ "effortBudget": 20 }),
        json!({ "effortBudget": 45, "maxActions": 4 }),
        json!({ "effortBudget": 60, "includePlanned": false }),
        json!({ "effortBudget": 35, "onlyLicensed": false }),
        json!({ "effortBudget": 100000 }),
    ];
    for slug in &slugs {
        let actions = all_actions(&app, &tokens.msp, slug).await;
        let now = app
            .query_tenant(&tokens.msp, slug, "secureScore { current { pointsExact } }")
            .payload()
            .await;
        let current = pts(now["secureScore"]["current"]["pointsExact"].as_str().unwrap());
        for input in &inputs {
            let why = format!("{slug} {input}");
            let plan = app
                .query_plan(&tokens.msp, slug, input.clone(), PLAN)
                .payload()
                .await;
            check_plan(&plan, &actions, input, &why);
            // The outcome is the what-if of the chosen actions done.
            let gained = pts(plan["pointsGainedExact"].as_str().unwrap());
            assert_eq!(
                pts(plan["score"]["current"]["pointsExact"].as_str().unwrap()),
                current.clone() + gained,
                "{why}: current after the plan"
            );
        }
    }

    // The standing is the ALL_TENANTS comparison of the latest aggregated day (yesterday), for
    // the same caller: the same cohort object, and a percentile within the quartiles' order.
    let slug = &tokens.tenant_slug;
    let plan = app
        .query_plan(&tokens.msp, slug, json!({ "effortBudget": 30 }), PLAN)
        .payload()
        .await;
    let standing = &plan["standing"];
    let day = standing["day"]
        .as_str()
        .expect("a day with cohort figures")
        .to_string();
    let yesterday = (chrono::Utc::now().date_naive() - chrono::Days::new(1)).to_string();
    assert_eq!(day, yesterday, "the latest aggregated day");
    let compared = app
        .query_comparisons(
            &tokens.msp,
            slug,
            &day,
            &day,
            json!([{ "kind": "ALL_TENANTS" }]),
            "cohorts { kind key suppressedReason figures { size p25Percentage medianPercentage p75Percentage } \
             excludedCells { industry } noise { cells } }",
        )
        .payload()
        .await;
    assert_eq!(
        standing["cohort"], compared[0]["cohorts"][0],
        "the comparison's own answer"
    );
    let f = &standing["cohort"]["figures"];
    assert!(
        f.is_object(),
        "six peers per cell: the MSP sees figures: {standing:#}"
    );
    let pct = plan["score"]["current"]["percentage"].as_f64().unwrap();
    assert_eq!(
        standing["percentage"].as_f64().unwrap(),
        pct,
        "the plan's percentage is placed"
    );
    let estimate = standing["percentileEstimate"].as_f64().expect("an estimate");
    let expected = securescore::domain::cohort::percentile_from_quartiles(
        pct,
        f["p25Percentage"].as_f64().unwrap(),
        f["medianPercentage"].as_f64().unwrap(),
        f["p75Percentage"].as_f64().unwrap(),
    );
    // The published quartiles are rounded to 2 places; the estimate uses them unrounded.
    assert!((estimate - expected).abs() < 0.5, "{estimate} vs {expected}");
    assert_eq!(standing["suppressedReason"], Value::Null);
    // A READER may plan too.
    app.query_plan(&tokens.reader, slug, json!({ "effortBudget": 30 }), "totalEffort")
        .payload()
        .await;
});

db_test!(a_tenant_without_history_plans_without_a_standing, |app| {
    let t = app.tenant().create().await;
    let plan = app
        .query_plan(
            &t.reader,
            &t.slug,
            json!({ "effortBudget": 12, "maxActions": 2 }),
            PLAN,
        )
        .payload()
        .await;
    let actions = all_actions(&app, &t.reader, &t.slug).await;
    check_plan(
        &plan,
        &actions,
        &json!({ "effortBudget": 12, "maxActions": 2 }),
        "fresh tenant",
    );
    assert!(!plan["actions"].as_array().unwrap().is_empty(), "something fits");
    assert_eq!(plan["standing"]["day"], Value::Null);
    assert_eq!(plan["standing"]["cohort"], Value::Null);
    assert_eq!(plan["standing"]["percentileEstimate"], Value::Null);
    assert_eq!(plan["standing"]["suppressedReason"], json!("NO_DATA"));

    // Categories narrow the candidates; nothing fits a budget below the least effort (3).
    let identity = app
        .query_plan(
            &t.reader,
            &t.slug,
            json!({ "effortBudget": 1000, "categories": ["IDENTITY"] }),
            "actions { action { category } }",
        )
        .payload()
        .await;
    let categories: Vec<&Value> = identity["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["action"]["category"])
        .collect();
    assert!(
        !categories.is_empty() && categories.iter().all(|c| *c == "IDENTITY"),
        "{categories:?}"
    );
    let none = app
        .query_plan(
            &t.reader,
            &t.slug,
            json!({ "effortBudget": 2 }),
            "actions { effort } totalEffort pointsGainedExact",
        )
        .payload()
        .await;
    assert_eq!(
        none,
        json!({ "actions": [], "totalEffort": 0, "pointsGainedExact": "0" })
    );

    // Bad input is BAD_USER_INPUT; another tenant's plan is NOT_FOUND like a missing tenant.
    let bad = app
        .query_plan(&t.reader, &t.slug, json!({ "effortBudget": -1 }), "totalEffort")
        .await;
    assert_eq!(error_code(&bad).as_deref(), Some("BAD_USER_INPUT"), "{bad:#}");
    let bad = app
        .query_plan(
            &t.reader,
            &t.slug,
            json!({ "effortBudget": 5, "maxActions": -1 }),
            "totalEffort",
        )
        .await;
    assert_eq!(error_code(&bad).as_deref(), Some("BAD_USER_INPUT"), "{bad:#}");
    let other = app.tenant().create().await;
    let theirs = app
        .query_plan(
            &t.reader,
            &other.slug,
            json!({ "effortBudget": 5 }),
            "totalEffort",
        )
        .await;
    assert_eq!(error_code(&theirs).as_deref(), Some("NOT_FOUND"), "{theirs:#}");
});

const APPLIED: &str = "changed totalEffort actions { controlId status version } changedActions { controlId } \
     score { current { pointsExact } planned { pointsExact } } tenant { slug } \
     userErrors { field message code }";

db_test!(apply_plan_marks_exactly_the_plan_planned, |app| {
    let t = app.tenant().create().await;
    // One action already PLANNED: a candidate, and a no-op when applied.
    app.set_action(t.id, "AdminMFAV2", "PLANNED", 0, 1).await;
    let input = json!({ "effortBudget": 25, "maxActions": 5 });
    let plan = app
        .query_plan(&t.operator, &t.slug, input.clone(), PLAN)
        .payload()
        .await;
    let planned: Vec<String> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"]["controlId"].as_str().unwrap().to_string())
        .collect();
    assert!(
        planned.contains(&"AdminMFAV2".to_string()),
        "the best action is in: {planned:?}"
    );
    assert!(planned.len() >= 2, "{planned:?}");

    let out = app
        .apply_plan(
            &t.operator,
            json!({ "tenantSlug": t.slug, "plan": input, "comment": "Q3 plan" }),
            APPLIED,
        )
        .payload()
        .await;
    assert_eq!(out["userErrors"], json!([]), "{out:#}");
    let ids = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|a| a["controlId"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&out["actions"]), planned, "exactly the plan, in its order");
    let changed: Vec<String> = planned.iter().filter(|c| *c != "AdminMFAV2").cloned().collect();
    assert_eq!(
        ids(&out["changedActions"]),
        changed,
        "the one already PLANNED is a no-op"
    );
    assert!(
        out["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "PLANNED")
    );
    assert_eq!(out["totalEffort"], plan["totalEffort"]);
    // Nothing else was PLANNED, so the planned view now is the plan's current.
    assert_eq!(
        out["score"]["planned"]["pointsExact"], plan["score"]["current"]["pointsExact"],
        "the planned view holds the plan"
    );
    let events = action_history(&app, &t, &changed[0], "nodes { kind comment }").await;
    assert_eq!(kinds(&events), ["STATUS_CHANGED"], "one event per changed action");
    assert_eq!(events[0]["comment"], "Q3 plan");
    let noop = action_history(&app, &t, "AdminMFAV2", "nodes { kind }").await;
    assert!(noop.is_empty(), "the no-op wrote nothing: {noop:?}");

    // Again: everything holds already.
    let again = app
        .apply_plan(
            &t.operator,
            json!({ "tenantSlug": t.slug, "plan": { "effortBudget": 25, "maxActions": 5 } }),
            APPLIED,
        )
        .payload()
        .await;
    assert_eq!(again["changed"], json!(false), "{again:#}");
    assert_eq!(again["changedActions"], json!([]));
    assert_eq!(ids(&again["actions"]), planned);
});

db_test!(apply_plan_is_one_transaction, |app| {
    let t = app
        .tenant()
        .services(&["AzureAD", "EXO", "MDO", "MDATP"])
        .create()
        .await;
    app.set_action(t.id, "PWAgePolicyNew", "COMPLETED", 1, 1).await;
    let version = |a: &Value| a["version"].as_i64().unwrap();
    let before = app
        .query_action(&t.reader, &t.slug, "AdminMFAV2", "status version")
        .payload()
        .await;
    let other = app
        .query_action(&t.reader, &t.slug, "MFARegistrationV2", "status version")
        .payload()
        .await;
    let attempts = [
        (
            json!([{ "controlId": "AdminMFAV2", "expectedVersion": version(&before) },
                   { "controlId": "MFARegistrationV2", "expectedVersion": version(&other) + 1 }]),
            "CONFLICT",
            "a stale version",
        ),
        (
            json!([{ "controlId": "AdminMFAV2" }, { "controlId": "PWAgePolicyNew" }]),
            "STATUS_LOCKED",
            "a completed action",
        ),
        (
            json!([{ "controlId": "AdminMFAV2" }, { "controlId": "NoSuchControl" }]),
            "NOT_FOUND",
            "an unknown control",
        ),
        (
            json!([{ "controlId": "AdminMFAV2" }, { "controlId": "AdminMFAV2" }]),
            "BAD_USER_INPUT",
            "the same action twice",
        ),
    ];
    for (actions, code, why) in attempts {
        let out = app
            .apply_plan(
                &t.operator,
                json!({ "tenantSlug": t.slug, "actions": actions }),
                APPLIED,
            )
            .payload()
            .await;
        let errors = out["userErrors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{why}: {out:#}");
        assert_eq!(errors[0]["code"], code, "{why}");
        assert_eq!(
            errors[0]["field"].as_array().unwrap()[..3],
            [json!("input"), json!("actions"), json!("1")],
            "{why}"
        );
        assert_eq!(out["changed"], json!(false), "{why}");
        let after = app
            .query_action(&t.reader, &t.slug, "AdminMFAV2", "status version")
            .payload()
            .await;
        assert_eq!(after, before, "{why}: the good item was not written either");
        assert!(
            action_history(&app, &t, "AdminMFAV2", "nodes { kind }")
                .await
                .is_empty(),
            "{why}: no event"
        );
    }

    // A RISK_ACCEPTED action is not open: refused the same way.
    app.set_action(t.id, "IntegratedApps", "RISK_ACCEPTED", 0, 1)
        .await;
    let out = app
        .apply_plan(
            &t.operator,
            json!({ "tenantSlug": t.slug, "actions": [{ "controlId": "AdminMFAV2" }, { "controlId": "IntegratedApps" }] }),
            APPLIED,
        )
        .payload()
        .await;
    assert_eq!(out["userErrors"][0]["code"], "BAD_USER_INPUT", "{out:#}");
    assert_eq!(
        app.query_action(&t.reader, &t.slug, "AdminMFAV2", "status")
            .payload()
            .await["status"],
        "TO_ADDRESS"
    );

    // Neither or both of plan and actions.
    for input in [
        json!({ "tenantSlug": t.slug }),
        json!({ "tenantSlug": t.slug, "plan": { "effortBudget": 5 }, "actions": [{ "controlId": "AdminMFAV2" }] }),
    ] {
        let out = app.apply_plan(&t.operator, input, APPLIED).payload().await;
        assert_eq!(out["userErrors"][0]["code"], "BAD_USER_INPUT", "{out:#}");
    }

    // A DEVICE action is planned through a GLOBAL PLANNED_REMEDIATION exception, beside an
    // ordinary status change, in the same call.
    let out = app
        .apply_plan(
            &t.operator,
            json!({ "tenantSlug": t.slug, "actions": [{ "controlId": "AdminMFAV2" }, { "controlId": "scid_2010" }] }),
            APPLIED,
        )
        .payload()
        .await;
    assert_eq!(out["userErrors"], json!([]), "{out:#}");
    assert_eq!(
        out["changedActions"],
        json!([{ "controlId": "AdminMFAV2" }, { "controlId": "scid_2010" }])
    );
    let device = action_history(&app, &t, "scid_2010", "nodes { kind comment statusAfter }").await;
    assert_eq!(kinds(&device), ["EXCEPTION_RECORDED"], "{device:?}");
    assert_eq!(device[0]["statusAfter"], "PLANNED");
    assert_eq!(device[0]["comment"], "Planned with applyPlan");
    assert_eq!(
        kinds(&action_history(&app, &t, "AdminMFAV2", "nodes { kind }").await),
        ["STATUS_CHANGED"]
    );
});

db_test!(apply_plan_needs_an_operator_of_the_tenant, |app| {
    let t = app.tenant().create().await;
    let other = app.tenant().create().await;
    let input = |slug: &str| json!({ "tenantSlug": slug, "plan": { "effortBudget": 20 } });
    let reader = app.apply_plan(&t.reader, input(&t.slug), APPLIED).await;
    assert_eq!(error_code(&reader).as_deref(), Some("FORBIDDEN"), "{reader:#}");
    // Another tenant's slug answers like a missing one, for every role.
    for token in [&t.reader, &t.operator, &t.admin] {
        for slug in [other.slug.as_str(), "no-such-tenant"] {
            let out = app.apply_plan(token, input(slug), APPLIED).payload().await;
            assert_eq!(out["userErrors"][0]["code"], "NOT_FOUND", "{slug}: {out:#}");
        }
    }
    let untouched = all_actions(&app, &other.reader, &other.slug).await;
    assert!(
        untouched.iter().all(|a| a["status"] != "PLANNED"),
        "nothing planned on the other tenant"
    );
    let unauthenticated = app.apply_plan(None, input(&t.slug), APPLIED).await;
    assert_eq!(error_code(&unauthenticated).as_deref(), Some("UNAUTHENTICATED"));
});
