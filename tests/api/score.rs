//! The score engine and the read API (SPEC §3–5): score views overall and per category, what-if,
//! the improvement action list (filters, orderings, pagination, the risk-accepted rule),
//! groupings, the action flyout, `node(id)` across tenants, and a guard against N+1 queries.
//!
//! Most tests share one hand-built tenant whose controls are inserted by the test (not taken from
//! the catalog), so every expected figure below can be checked by hand:
//!
//! | control       | category | service | max | tier | impact/cost | status          | progress | licence       |
//! |---------------|----------|---------|-----|------|-------------|-----------------|----------|---------------|
//! | MfaAdmins     | IDENTITY | AzureAD | 10  | CORE | LOW/LOW     | TO_ADDRESS      | 1/4      | none needed   |
//! | BlockLegacy   | IDENTITY | AzureAD | 8   | CORE | MOD/LOW     | PLANNED         | 0/0      | none needed   |
//! | RiskPolicy    | IDENTITY | AzureAD | 7   | ADV  | HIGH/HIGH   | RISK_ACCEPTED   | 0/0      | AAD_P2 (held) |
//! | SafeLinks     | APPS     | MDO     | 9   | DiD  | LOW/MOD     | RESOLVED_3RD    | 0/0      | none needed   |
//! | DlpPolicies   | DATA     | MIP     | 6   | CORE | UNK/UNK     | TO_ADDRESS      | 1/3      | MIP_P1 (not)  |
//! | DeviceEncrypt | DEVICE   | Intune  | 5   | CORE | LOW/LOW     | COMPLETED       | 3/3      | none needed   |
//! | AuditLog      | DATA     | EXO     | 3   | CORE | LOW/LOW     | RESOLVED_ALT    | 0/0      | none needed   |
//! | Spoofing      | APPS     | MDO     | 4   | ADV  | LOW/LOW     | TO_ADDRESS      | 0/0      | none needed   |
//! | AppConsent    | APPS     | MCAS    | 2   | CORE | LOW/MOD     | PLANNED         | 1/2      | MCAS (50 seats, 80 users) |
//!
//! Achieved: 2.5, 0, 0, 9, 2, 5, 3, 0, 1 → current 22.5 of 54. Ranks (priority = remaining /
//! effort): MfaAdmins 7.5/3, BlockLegacy 8/4, DlpPolicies 4/5, Spoofing 4/5 (tie → id),
//! AppConsent 1/4.

use crate::db_test;
use crate::helpers::*;
use chrono::{DateTime, Duration, Utc};
use entity::types::StringList;
use entity::{action_tag, control, license, license_plan, note, tag, tenant_license};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use securescore::domain::enums::{ActionType, Level, Tier};
use securescore::service::access::tenants;
use serde_json::{Value, json};
use std::collections::HashMap;

struct Spec {
    id: &'static str,
    title: &'static str,
    category: &'static str,
    service: &'static str,
    max: i64,
    tier: &'static str,
    impact: &'static str,
    cost: &'static str,
    status: &'static str,
    implemented: i64,
    total: i64,
    plans: &'static [&'static str],
    threats: &'static [&'static str],
    users: i64,
}

#[rustfmt::skip]
const SPECS: [Spec; 9] = [
    Spec { id: "MfaAdmins", title: "Require MFA for administrators", category: "IDENTITY", service: "AzureAD", max: 10, tier: "CORE", impact: "LOW", cost: "LOW", status: "TO_ADDRESS", implemented: 1, total: 4, plans: &[], threats: &["Account Breach", "Password Cracking"], users: 12 },
    Spec { id: "BlockLegacy", title: "Block legacy authentication", category: "IDENTITY", service: "AzureAD", max: 8, tier: "CORE", impact: "MODERATE", cost: "LOW", status: "PLANNED", implemented: 0, total: 0, plans: &[], threats: &["Password Spray"], users: 0 },
    Spec { id: "RiskPolicy", title: "Turn on sign-in risk policy", category: "IDENTITY", service: "AzureAD", max: 7, tier: "ADVANCED", impact: "HIGH", cost: "HIGH", status: "RISK_ACCEPTED", implemented: 0, total: 0, plans: &["AAD_P2"], threats: &[], users: 30 },
    Spec { id: "SafeLinks", title: "Enable Safe Links for email", category: "APPS", service: "MDO", max: 9, tier: "DEFENSE_IN_DEPTH", impact: "LOW", cost: "MODERATE", status: "RESOLVED_THIRD_PARTY", implemented: 0, total: 0, plans: &[], threats: &["Phishing", "Malware"], users: 0 },
    Spec { id: "DlpPolicies", title: "Create data loss prevention policies", category: "DATA", service: "MIP", max: 6, tier: "CORE", impact: "UNKNOWN", cost: "UNKNOWN", status: "TO_ADDRESS", implemented: 1, total: 3, plans: &["MIP_P1"], threats: &["Data Exfiltration"], users: 20 },
    Spec { id: "DeviceEncrypt", title: "Encrypt devices with BitLocker", category: "DEVICE", service: "Intune", max: 5, tier: "CORE", impact: "LOW", cost: "LOW", status: "COMPLETED", implemented: 3, total: 3, plans: &[], threats: &[], users: 0 },
    Spec { id: "AuditLog", title: "Turn on audit log search", category: "DATA", service: "EXO", max: 3, tier: "CORE", impact: "LOW", cost: "LOW", status: "RESOLVED_ALTERNATE_MITIGATION", implemented: 0, total: 0, plans: &[], threats: &[], users: 0 },
    Spec { id: "Spoofing", title: "Set up anti-spoofing protection", category: "APPS", service: "MDO", max: 4, tier: "ADVANCED", impact: "LOW", cost: "LOW", status: "TO_ADDRESS", implemented: 0, total: 0, plans: &[], threats: &["Phishing", "Spoofing"], users: 0 },
    Spec { id: "AppConsent", title: "Do not allow user consent to apps", category: "APPS", service: "MCAS", max: 2, tier: "CORE", impact: "LOW", cost: "MODERATE", status: "PLANNED", implemented: 1, total: 2, plans: &["MCAS"], threats: &[], users: 80 },
];

/// The default list (no RISK_ACCEPTED) in rank order: ranked first, then the rest by id.
const RANK_ORDER: [&str; 8] = [
    "MfaAdmins",
    "BlockLegacy",
    "DlpPolicies",
    "Spoofing",
    "AppConsent",
    "AuditLog",
    "DeviceEncrypt",
    "SafeLinks",
];

struct Scored {
    t: TenantFixture,
    /// Action row id by control id.
    ids: HashMap<&'static str, i64>,
}

fn base_time() -> DateTime<Utc> {
    Utc::now() - Duration::days(1)
}

pub(crate) fn control_model(
    id: &str,
    title: &str,
    category: &str,
    service: &str,
    max: i64,
) -> control::ActiveModel {
    control::ActiveModel {
        id: Set(id.to_string()),
        title: Set(title.to_string()),
        category: Set(category.parse().expect("category")),
        service: Set(service.to_string()),
        max_points: Set(max * 10_000),
        tier: Set(Tier::Core),
        user_impact: Set(Level::Low),
        implementation_cost: Set(Level::Low),
        threats: Set(StringList(vec![])),
        action_type: Set(ActionType::Config),
        remediation: Set(format!("Steps for {id}.")),
        user_impact_description: Set(format!("Users notice {id}.")),
        prerequisites: Set(format!("Prerequisites of {id}.")),
        action_url: Set(Some(format!("https://example.test/manage/{id}"))),
        learn_more_urls: Set(StringList(vec![format!("https://example.test/learn/{id}")])),
        required_license_plans: Set(StringList(vec![])),
        vendor_rank: Set(None),
        deprecated: Set(false),
        origin: Set("CATALOG".into()),
        shipped_digest: Set(None),
        created_at: Set(base_time()),
        updated_at: Set(base_time()),
    }
}

/// A tenant with no actions yet (created with a service that has no controls), whose enabled
/// services are then those of the controls the tests add, so their actions apply (SPEC §1).
async fn empty_tenant(app: &TestApp) -> TenantFixture {
    let t = app.tenant().services(&["NoSuchService"]).create().await;
    let services: Vec<String> = SPECS
        .iter()
        .map(|s| s.service.to_string())
        .chain(["X".to_string()])
        .collect();
    entity::tenant::Entity::update_many()
        .col_expr(
            entity::tenant::Column::EnabledServices,
            sea_orm::sea_query::Expr::value(StringList(services)),
        )
        .filter(entity::tenant::Column::Id.eq(t.id))
        .exec(&app.db)
        .await
        .expect("services enabled");
    app.changed(t.id).await;
    t
}

/// Inserts the control and an action row for it; returns the action's row id.
pub(crate) async fn add_action(
    app: &TestApp,
    tenant_id: i64,
    c: control::ActiveModel,
    at: DateTime<Utc>,
) -> i64 {
    let control = match control::Entity::find_by_id(c.id.clone().unwrap())
        .one(&app.db)
        .await
        .unwrap()
    {
        Some(existing) => existing,
        None => c.insert(&app.db).await.expect("control inserted"),
    };
    let mut row = securescore::service::state::controls::new_action(tenant_id, &control, at);
    row.updated_at = Set(at);
    let id = row.insert(&app.db).await.expect("action inserted").id;
    app.changed(tenant_id).await;
    id
}

async fn hold_license(app: &TestApp, tenant_id: i64, sku: &str, plan: &str, seats: i64) {
    if license::Entity::find_by_id(sku.to_string())
        .one(&app.db)
        .await
        .unwrap()
        .is_none()
    {
        license::ActiveModel {
            sku: Set(sku.into()),
            name: Set(format!("Test licence {sku}")),
            created_at: Set(base_time()),
        }
        .insert(&app.db)
        .await
        .unwrap();
        license_plan::ActiveModel {
            license_sku: Set(sku.into()),
            plan: Set(plan.into()),
        }
        .insert(&app.db)
        .await
        .unwrap();
    }
    tenant_license::ActiveModel {
        tenant_id: Set(tenant_id),
        license_sku: Set(sku.into()),
        seats_purchased: Set(seats),
        seats_assigned: Set(seats),
        expires_at: Set(None),
        created_at: Set(base_time()),
        updated_at: Set(base_time()),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    app.changed(tenant_id).await;
}

async fn add_tag(app: &TestApp, tenant_id: i64, name: &str, action_ids: &[i64]) -> i64 {
    let t = tag::ActiveModel {
        tenant_id: Set(tenant_id),
        name: Set(name.into()),
        color: Set("#336699".into()),
        created_at: Set(base_time()),
        updated_at: Set(base_time()),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    for &action_id in action_ids {
        action_tag::ActiveModel {
            action_id: Set(action_id),
            tag_id: Set(t.id),
            created_at: Set(base_time()),
        }
        .insert(&app.db)
        .await
        .unwrap();
    }
    app.changed(tenant_id).await;
    t.id
}

async fn add_note(
    app: &TestApp,
    tenant_id: i64,
    action_id: i64,
    author_id: Option<i64>,
    body: &str,
    at: DateTime<Utc>,
) {
    note::ActiveModel {
        tenant_id: Set(tenant_id),
        action_id: Set(action_id),
        author_id: Set(author_id),
        body: Set(body.into()),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
}

/// The tenant of the table above, with licences, tags (`q3`: MfaAdmins, BlockLegacy;
/// `quick-win`: MfaAdmins, Spoofing) and two notes on MfaAdmins.
async fn scored_tenant(app: &TestApp) -> Scored {
    let t = empty_tenant(app).await;
    let mut ids = HashMap::new();
    for (i, s) in SPECS.iter().enumerate() {
        let mut c = control_model(s.id, s.title, s.category, s.service, s.max);
        c.tier = Set(s.tier.parse().expect("tier"));
        c.user_impact = Set(s.impact.parse().expect("level"));
        c.implementation_cost = Set(s.cost.parse().expect("level"));
        c.required_license_plans = Set(StringList(s.plans.iter().map(|p| p.to_string()).collect()));
        c.threats = Set(StringList(s.threats.iter().map(|p| p.to_string()).collect()));
        if s.id == "AuditLog" {
            c.remediation = Set("Enable unified auditing in Purview.".into());
        }
        let id = add_action(app, t.id, c, base_time() + Duration::minutes(i as i64)).await;
        app.set_action(t.id, s.id, s.status, s.implemented, s.total).await;
        entity::improvement_action::Entity::update_many()
            .col_expr(
                entity::improvement_action::Column::UsersAffected,
                sea_orm::sea_query::Expr::value(s.users),
            )
            .filter(entity::improvement_action::Column::Id.eq(id))
            .exec(&app.db)
            .await
            .unwrap();
        app.changed(t.id).await;
        ids.insert(s.id, id);
    }
    hold_license(app, t.id, "TEST_AAD_P2", "AAD_P2", 100).await;
    hold_license(app, t.id, "TEST_MCAS", "MCAS", 50).await;
    add_tag(app, t.id, "q3", &[ids["MfaAdmins"], ids["BlockLegacy"]]).await;
    add_tag(app, t.id, "quick-win", &[ids["MfaAdmins"], ids["Spoofing"]]).await;
    let author = tenants::create_principal(&app.db, "Ada Analyst", "USER", Utc::now())
        .await
        .unwrap();
    let mfa = ids["MfaAdmins"];
    add_note(
        app,
        t.id,
        mfa,
        Some(author.id),
        "Waiting for the break-glass accounts.",
        base_time(),
    )
    .await;
    add_note(
        app,
        t.id,
        mfa,
        None,
        "Pilot group done.",
        base_time() + Duration::hours(1),
    )
    .await;
    Scored { t, ids }
}

const SCORE: &str = "secureScore {
    maxScore { points max percentage } current { points max percentage } planned { points max percentage }
    currentLicense { points max percentage } achievable { points max percentage } verified { points max percentage }
    categories { category maxScore { points percentage } current { points max percentage } planned { points percentage }
      currentLicense { points percentage } achievable { points percentage } verified { points percentage } }
    updatedAt }";

/// The tenant's score as its reader sees it.
async fn secure_score(app: &TestApp, s: &Scored) -> Value {
    app.query_tenant(&s.t.reader, &s.t.slug, SCORE).payload().await["secureScore"].clone()
}

/// `[points, percentage]` of every view, in SPEC order (max, current, planned, currentLicense,
/// achievable, verified).
fn views(s: &Value) -> Vec<[f64; 2]> {
    [
        "maxScore",
        "current",
        "planned",
        "currentLicense",
        "achievable",
        "verified",
    ]
    .iter()
    .map(|v| {
        [
            s[v]["points"].as_f64().unwrap(),
            s[v]["percentage"].as_f64().unwrap(),
        ]
    })
    .collect()
}

fn category<'a>(score: &'a Value, name: &str) -> &'a Value {
    score["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category"] == name)
        .unwrap_or_else(|| panic!("category {name} missing: {score}"))
}

db_test!(secure_score_reports_every_view_overall_and_per_category, |app| {
    let s = scored_tenant(&app).await;
    let score = &secure_score(&app, &s).await;
    assert_eq!(
        views(score),
        vec![
            [54.0, 100.0],
            [22.5, 41.67],
            [31.5, 58.33],
            [50.0, 92.59],
            [43.0, 79.63],
            [10.5, 19.44]
        ],
        "overall: {score:#}"
    );
    assert_eq!(score["current"]["max"], 54.0);
    #[rustfmt::skip]
    let expected = [
        ("IDENTITY", [[25.0, 100.0], [2.5, 10.0], [10.5, 42.0], [25.0, 100.0], [18.0, 72.0], [2.5, 10.0]]),
        ("DEVICE", [[5.0, 100.0], [5.0, 100.0], [5.0, 100.0], [5.0, 100.0], [5.0, 100.0], [5.0, 100.0]]),
        ("APPS", [[15.0, 100.0], [10.0, 66.67], [11.0, 73.33], [15.0, 100.0], [15.0, 100.0], [1.0, 6.67]]),
        ("DATA", [[9.0, 100.0], [5.0, 55.56], [5.0, 55.56], [5.0, 55.56], [5.0, 55.56], [2.0, 22.22]]),
        ("INFRASTRUCTURE", [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]),
    ];
    for (name, want) in expected {
        assert_eq!(views(category(score, name)), want.to_vec(), "category {name}");
    }
    assert_eq!(category(score, "APPS")["current"]["max"], 15.0);
    assert!(score["updatedAt"].is_string());
});

db_test!(the_score_reflects_a_committed_change_immediately, |app| {
    let s = scored_tenant(&app).await;
    let before = secure_score(&app, &s).await;
    assert_eq!(before["current"]["points"], 22.5);
    app.set_action(s.t.id, "BlockLegacy", "COMPLETED", 1, 1).await;
    let score = &secure_score(&app, &s).await;
    assert_eq!(score["current"]["points"], 30.5);
    assert_eq!(score["current"]["percentage"], 56.48);
    assert_eq!(
        category(score, "IDENTITY")["current"]["points"],
        10.5,
        "the category moves too"
    );
});

const LIST: &str = "totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { controlId rank status pointsRemaining } }";

/// A page of the list (100 actions unless `args` says otherwise).
async fn list(app: &TestApp, s: &Scored, args: Value) -> Value {
    let args = merged(json!({ "first": 100 }), args);
    app.query_actions(&s.t.reader, &s.t.slug, args, LIST)
        .payload()
        .await
}

fn control_ids(conn: &Value) -> Vec<String> {
    conn["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["controlId"].as_str().unwrap().to_string())
        .collect()
}

db_test!(
    the_default_list_is_in_rank_order_without_risk_accepted_actions,
    |app| {
        let s = scored_tenant(&app).await;
        let conn = list(&app, &s, json!({})).await;
        assert_eq!(control_ids(&conn), RANK_ORDER, "{conn:#}");
        assert_eq!(conn["totalCount"], 8);
        let ranks: Vec<Value> = conn["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["rank"].clone())
            .collect();
        assert_eq!(
            ranks,
            [
                json!(1),
                json!(2),
                json!(3),
                json!(4),
                json!(5),
                Value::Null,
                Value::Null,
                Value::Null
            ]
        );
        let risk = list(&app, &s, json!({ "filter": { "statuses": ["RISK_ACCEPTED"] } })).await;
        assert_eq!(
            control_ids(&risk),
            ["RiskPolicy"],
            "shown when the filter asks for it"
        );
        assert_eq!(risk["edges"][0]["node"]["rank"], Value::Null);
        let mixed = list(
            &app,
            &s,
            json!({ "filter": { "statuses": ["TO_ADDRESS", "RISK_ACCEPTED"] } }),
        )
        .await;
        assert_eq!(
            control_ids(&mixed),
            ["MfaAdmins", "DlpPolicies", "Spoofing", "RiskPolicy"]
        );
    }
);

db_test!(every_filter_narrows_the_list_and_filters_combine, |app| {
    let s = scored_tenant(&app).await;
    #[rustfmt::skip]
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({ "statuses": ["PLANNED"] }), vec!["BlockLegacy", "AppConsent"]),
        (json!({ "categories": ["APPS"] }), vec!["Spoofing", "AppConsent", "SafeLinks"]),
        (json!({ "categories": ["DATA", "DEVICE"] }), vec!["DlpPolicies", "AuditLog", "DeviceEncrypt"]),
        (json!({ "services": ["mdo"] }), vec!["Spoofing", "SafeLinks"]),
        (json!({ "tiers": ["ADVANCED"] }), vec!["Spoofing"]),
        (json!({ "userImpacts": ["MODERATE"] }), vec!["BlockLegacy"]),
        (json!({ "implementationCosts": ["MODERATE"] }), vec!["AppConsent", "SafeLinks"]),
        (json!({ "licensed": false }), vec!["DlpPolicies"]),
        (json!({ "licensed": true, "categories": ["DATA"] }), vec!["AuditLog"]),
        (json!({ "tagsAny": ["quick-win", "Q3"] }), vec!["MfaAdmins", "BlockLegacy", "Spoofing"]),
        (json!({ "tagsAll": ["quick-win", "q3"] }), vec!["MfaAdmins"]),
        (json!({ "tagsAny": ["no-such-tag"] }), vec![]),
        (json!({ "hasPointsRemaining": true }), vec!["MfaAdmins", "BlockLegacy", "DlpPolicies", "Spoofing", "AppConsent"]),
        (json!({ "hasPointsRemaining": false }), vec!["AuditLog", "DeviceEncrypt", "SafeLinks"]),
        (json!({ "search": "LEGACY" }), vec!["BlockLegacy"]),
        (json!({ "search": "dlp" }), vec!["DlpPolicies"]),
        (json!({ "search": "purview" }), vec!["AuditLog"]),
        (json!({ "threats": ["phishing"] }), vec!["Spoofing", "SafeLinks"]),
        (json!({ "threats": ["Password Spray", "Data Exfiltration"] }), vec!["BlockLegacy", "DlpPolicies"]),
        (json!({ "categories": ["IDENTITY"], "statuses": ["PLANNED", "RISK_ACCEPTED"] }), vec!["BlockLegacy", "RiskPolicy"]),
        (json!({ "services": ["AzureAD"], "tagsAny": ["quick-win"], "hasPointsRemaining": true }), vec!["MfaAdmins"]),
    ];
    for (filter, expected) in cases {
        let conn = list(&app, &s, json!({ "filter": filter })).await;
        assert_eq!(control_ids(&conn), expected, "filter {filter}");
        assert_eq!(conn["totalCount"], expected.len(), "totalCount of {filter}");
    }
});

db_test!(every_ordering_sorts_with_the_control_id_as_tiebreak, |app| {
    let s = scored_tenant(&app).await;
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        ("RANK", "ASC", RANK_ORDER.to_vec()),
        ("RANK", "DESC", vec!["AppConsent", "Spoofing", "DlpPolicies", "BlockLegacy", "MfaAdmins", "AuditLog", "DeviceEncrypt", "SafeLinks"]),
        ("POINTS_REMAINING", "DESC", vec!["BlockLegacy", "MfaAdmins", "DlpPolicies", "Spoofing", "AppConsent", "AuditLog", "DeviceEncrypt", "SafeLinks"]),
        ("POINTS_REMAINING", "ASC", vec!["AuditLog", "DeviceEncrypt", "SafeLinks", "AppConsent", "DlpPolicies", "Spoofing", "MfaAdmins", "BlockLegacy"]),
        ("SCORE_IMPACT", "DESC", vec!["BlockLegacy", "MfaAdmins", "DlpPolicies", "Spoofing", "AppConsent", "AuditLog", "DeviceEncrypt", "SafeLinks"]),
        ("MAX_POINTS", "ASC", vec!["AppConsent", "AuditLog", "Spoofing", "DeviceEncrypt", "DlpPolicies", "BlockLegacy", "SafeLinks", "MfaAdmins"]),
        ("MAX_POINTS", "DESC", vec!["MfaAdmins", "SafeLinks", "BlockLegacy", "DlpPolicies", "DeviceEncrypt", "Spoofing", "AuditLog", "AppConsent"]),
        ("TITLE", "ASC", vec!["BlockLegacy", "DlpPolicies", "AppConsent", "SafeLinks", "DeviceEncrypt", "MfaAdmins", "Spoofing", "AuditLog"]),
        ("UPDATED_AT", "DESC", vec!["AppConsent", "Spoofing", "AuditLog", "DeviceEncrypt", "DlpPolicies", "SafeLinks", "BlockLegacy", "MfaAdmins"]),
    ];
    for (field, direction, expected) in cases {
        let conn = list(
            &app,
            &s,
            json!({ "orderBy": { "field": field, "direction": direction } }),
        )
        .await;
        assert_eq!(control_ids(&conn), expected, "{field} {direction}");
    }
});

db_test!(pages_go_forwards_and_backwards_with_cursors, |app| {
    let s = scored_tenant(&app).await;
    let p1 = list(&app, &s, json!({ "first": 3 })).await;
    assert_eq!(control_ids(&p1), RANK_ORDER[..3]);
    assert_eq!(p1["pageInfo"]["hasNextPage"], true);
    assert_eq!(p1["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(p1["totalCount"], 8);
    let p2 = list(
        &app,
        &s,
        json!({ "first": 3, "after": p1["pageInfo"]["endCursor"] }),
    )
    .await;
    assert_eq!(control_ids(&p2), RANK_ORDER[3..6]);
    let p3 = list(
        &app,
        &s,
        json!({ "first": 3, "after": p2["pageInfo"]["endCursor"] }),
    )
    .await;
    assert_eq!(control_ids(&p3), RANK_ORDER[6..]);
    assert_eq!(p3["pageInfo"]["hasNextPage"], false);

    let last = list(&app, &s, json!({ "first": null, "last": 2 })).await;
    assert_eq!(control_ids(&last), RANK_ORDER[6..]);
    assert_eq!(last["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(last["pageInfo"]["hasNextPage"], false);
    let before = list(
        &app,
        &s,
        json!({ "first": null, "last": 3, "before": last["pageInfo"]["startCursor"] }),
    )
    .await;
    assert_eq!(control_ids(&before), RANK_ORDER[3..6]);
    let start = list(
        &app,
        &s,
        json!({ "first": null, "last": 5, "before": before["pageInfo"]["startCursor"] }),
    )
    .await;
    assert_eq!(control_ids(&start), RANK_ORDER[..3], "a short first page");
    assert_eq!(start["pageInfo"]["hasPreviousPage"], false);

    for bad in [
        json!({ "first": 0 }),
        json!({ "first": 101 }),
        json!({ "first": null, "last": 500 }),
    ] {
        let body = app.query_actions(&s.t.reader, &s.t.slug, bad.clone(), LIST).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{bad}: {body}"
        );
    }
});

const GROUPS: &str = "improvementActionGroups(groupBy: $by, filter: $filter) {
    key count pointsAchieved pointsAvailable pointsRemaining }";

db_test!(groupings_bucket_counts_and_points, |app| {
    let s = scored_tenant(&app).await;
    let groups = |by: &'static str, filter: Value| {
        let app = &app;
        let s = &s;
        async move {
            let tenant = app
                .query_tenant(&s.t.reader, &s.t.slug, GROUPS)
                .var("by", "ImprovementActionGroupBy!", json!(by))
                .var("filter", "ImprovementActionFilter", filter)
                .payload()
                .await;
            tenant["improvementActionGroups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    (
                        g["key"].as_str().unwrap().to_string(),
                        g["count"].as_i64().unwrap(),
                        [
                            g["pointsAchieved"].as_f64().unwrap(),
                            g["pointsAvailable"].as_f64().unwrap(),
                            g["pointsRemaining"].as_f64().unwrap(),
                        ],
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let row = |k: &str, n: i64, p: [f64; 3]| (k.to_string(), n, p);
    assert_eq!(
        groups("CATEGORY", Value::Null).await,
        [
            row("IDENTITY", 2, [2.5, 18.0, 15.5]),
            row("DEVICE", 1, [5.0, 5.0, 0.0]),
            row("APPS", 3, [10.0, 15.0, 5.0]),
            row("DATA", 2, [5.0, 9.0, 4.0]),
        ],
        "by category (RISK_ACCEPTED left out like in the list)"
    );
    assert_eq!(
        groups(
            "STATUS",
            json!({ "statuses": ["TO_ADDRESS", "PLANNED", "RISK_ACCEPTED",
            "RESOLVED_THIRD_PARTY", "RESOLVED_ALTERNATE_MITIGATION", "COMPLETED"] })
        )
        .await,
        [
            row("TO_ADDRESS", 3, [4.5, 20.0, 15.5]),
            row("PLANNED", 2, [1.0, 10.0, 9.0]),
            row("RISK_ACCEPTED", 1, [0.0, 7.0, 7.0]),
            row("RESOLVED_THIRD_PARTY", 1, [9.0, 9.0, 0.0]),
            row("RESOLVED_ALTERNATE_MITIGATION", 1, [3.0, 3.0, 0.0]),
            row("COMPLETED", 1, [5.0, 5.0, 0.0]),
        ],
        "by status, every status asked for"
    );
    assert_eq!(
        groups("SERVICE", Value::Null).await,
        [
            row("AzureAD", 2, [2.5, 18.0, 15.5]),
            row("EXO", 1, [3.0, 3.0, 0.0]),
            row("Intune", 1, [5.0, 5.0, 0.0]),
            row("MCAS", 1, [1.0, 2.0, 1.0]),
            row("MDO", 2, [9.0, 13.0, 4.0]),
            row("MIP", 1, [2.0, 6.0, 4.0]),
        ],
        "by service"
    );
    assert_eq!(
        groups("TIER", Value::Null).await,
        [
            row("CORE", 6, [13.5, 34.0, 20.5]),
            row("DEFENSE_IN_DEPTH", 1, [9.0, 9.0, 0.0]),
            row("ADVANCED", 1, [0.0, 4.0, 4.0]),
        ],
        "by tier"
    );
    assert_eq!(
        groups("TAG", Value::Null).await,
        [
            row("q3", 2, [2.5, 18.0, 15.5]),
            row("quick-win", 2, [2.5, 14.0, 11.5]),
            row("(untagged)", 5, [20.0, 25.0, 5.0]),
        ],
        "by tag: MfaAdmins counts in both tag buckets"
    );
    assert_eq!(
        groups("TAG", json!({ "categories": ["APPS"] })).await,
        [
            row("quick-win", 1, [0.0, 4.0, 4.0]),
            row("(untagged)", 2, [10.0, 11.0, 1.0]),
        ],
        "grouping honours the filter"
    );
});

const WHAT_IF: &str = "current { points percentage } planned { points percentage }
    verified { points percentage } achievable { points } maxScore { points }
    categories { category current { points } }";

db_test!(what_if_answers_hypothetical_views_and_writes_nothing, |app| {
    let s = scored_tenant(&app).await;
    let changes = json!([
        { "controlId": "BlockLegacy", "status": "RESOLVED_THIRD_PARTY" },
        { "controlId": "MfaAdmins", "implemented": 4, "total": 4 },
    ]);
    let w = &app
        .query_what_if(&s.t.operator, &s.t.slug, changes.clone(), WHAT_IF)
        .payload()
        .await;
    // BlockLegacy earns 8 by claim, MfaAdmins completes (+7.5): 22.5 + 15.5 = 38.
    assert_eq!(w["current"], json!({ "points": 38.0, "percentage": 70.37 }));
    assert_eq!(w["planned"], json!({ "points": 39.0, "percentage": 72.22 }));
    assert_eq!(w["verified"], json!({ "points": 18.0, "percentage": 33.33 }));
    assert_eq!(w["maxScore"]["points"], 54.0);
    assert_eq!(category(w, "IDENTITY")["current"]["points"], 18.0);

    let unchanged = secure_score(&app, &s).await;
    assert_eq!(unchanged["current"]["points"], 22.5, "nothing was written");
    let row = entity::improvement_action::Entity::find_by_id(s.ids["MfaAdmins"])
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.status.as_str(), row.implemented, row.total),
        ("TO_ADDRESS", 1, 4)
    );

    for (bad, why) in [
        (
            json!([{ "controlId": "NoSuchControl", "status": "PLANNED" }]),
            "unknown control",
        ),
        (
            json!([{ "controlId": "MfaAdmins", "implemented": -1 }]),
            "negative progress",
        ),
        (
            json!([{ "controlId": "MfaAdmins", "status": "PLANNED" }, { "controlId": "MfaAdmins" }]),
            "the same control twice",
        ),
    ] {
        let body = app.query_what_if(&s.t.operator, &s.t.slug, bad, WHAT_IF).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{why}: {body}"
        );
    }
    let body = app.query_what_if(&s.t.reader, &s.t.slug, changes, WHAT_IF).await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("FORBIDDEN"),
        "what-if needs OPERATOR"
    );
});

const FLYOUT: &str = "
    id controlId control { controlId maxPoints } title category service threats tier userImpact userImpactDescription
    implementationCost actionType usersAffected status implemented total progress implementationStatus
    prerequisites licensed seatShortfall requiredLicensePlans remediation learnMoreUrls actionUrl maxPoints
    pointsAchieved pointsRemaining scoreImpact rank reviewBy version updatedAt
    tags { name color } notes { body authorName createdAt updatedAt }";

db_test!(the_flyout_shows_everything_about_one_action, |app| {
    let s = scored_tenant(&app).await;
    let get = |control_id: &str| {
        app.query_action(&s.t.reader, &s.t.slug, control_id, FLYOUT)
            .payload()
    };
    let a = get("AppConsent").await;
    assert_eq!(a["controlId"], "AppConsent");
    assert_eq!(
        a["control"],
        json!({ "controlId": "AppConsent", "maxPoints": 2.0 })
    );
    assert_eq!(a["title"], "Do not allow user consent to apps");
    assert_eq!(a["category"], "APPS");
    assert_eq!(a["service"], "MCAS");
    assert_eq!(a["tier"], "CORE");
    assert_eq!(a["userImpact"], "LOW");
    assert_eq!(a["implementationCost"], "MODERATE");
    assert_eq!(a["actionType"], "CONFIG");
    assert_eq!(a["usersAffected"], 80);
    assert_eq!(a["status"], "PLANNED");
    assert_eq!(
        (&a["implemented"], &a["total"], &a["progress"]),
        (&json!(1), &json!(2), &json!(0.5))
    );
    assert_eq!(a["licensed"], true, "the MCAS licence is held");
    assert_eq!(a["seatShortfall"], 30, "80 users, 50 seats");
    assert_eq!(a["requiredLicensePlans"], json!(["MCAS"]));
    assert_eq!(a["prerequisites"], "Prerequisites of AppConsent.");
    assert_eq!(a["remediation"], "Steps for AppConsent.");
    assert_eq!(
        a["learnMoreUrls"],
        json!(["https://example.test/learn/AppConsent"])
    );
    assert_eq!(a["actionUrl"], "https://example.test/manage/AppConsent");
    assert_eq!(
        [
            &a["maxPoints"],
            &a["pointsAchieved"],
            &a["pointsRemaining"],
            &a["scoreImpact"]
        ],
        [&json!(2.0), &json!(1.0), &json!(1.0), &json!(1.85)]
    );
    assert_eq!(a["rank"], 5);
    assert_eq!(a["reviewBy"], Value::Null);
    assert_eq!(a["version"], 1);
    assert_eq!(a["tags"], json!([]));
    assert_eq!(a["notes"], json!([]));

    let dlp = get("DlpPolicies").await;
    assert_eq!(dlp["licensed"], false, "no MIP_P1 licence");
    assert_eq!(
        dlp["seatShortfall"], 20,
        "every affected user when nothing qualifies"
    );
    assert_eq!(dlp["progress"], 0.3333);
    assert_eq!(dlp["pointsAchieved"], 2.0);

    let risk = get("RiskPolicy").await;
    assert_eq!(risk["licensed"], true);
    assert_eq!(risk["seatShortfall"], 0, "30 users, 100 seats");

    let mfa = get("MfaAdmins").await;
    assert_eq!(mfa["threats"], json!(["Account Breach", "Password Cracking"]));
    assert_eq!(mfa["scoreImpact"], 13.89, "7.5 of 54");
    assert_eq!(
        mfa["tags"],
        json!([{ "name": "q3", "color": "#336699" }, { "name": "quick-win", "color": "#336699" }])
    );
    let notes = mfa["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[0]["body"], "Pilot group done.", "newest first");
    assert_eq!(notes[0]["authorName"], Value::Null);
    assert_eq!(notes[1]["authorName"], "Ada Analyst");

    assert_eq!(get("NoSuchControl").await, Value::Null);
});

db_test!(node_finds_an_action_of_ones_own_tenant_only, |app| {
    let s = scored_tenant(&app).await;
    let other = app.tenant().create().await;
    let node = |id: Value| {
        app.query_node(
            &s.t.reader,
            id,
            "id ... on ImprovementAction { controlId status }",
        )
    };
    let mine = app
        .query_action(&s.t.reader, &s.t.slug, "Spoofing", "id")
        .payload()
        .await["id"]
        .clone();
    let found = node(mine.clone()).payload().await;
    assert_eq!(
        found,
        json!({ "id": mine, "controlId": "Spoofing", "status": "TO_ADDRESS" })
    );

    let theirs = app
        .query_actions(&other.reader, &other.slug, json!({ "first": 1 }), "nodes { id }")
        .payload()
        .await["nodes"][0]["id"]
        .clone();
    assert!(theirs.is_string(), "the other tenant has actions");
    let across = node(theirs).await;
    assert_eq!(across["data"]["node"], Value::Null, "{across}");
    assert!(
        across.get("errors").is_none(),
        "answers like a missing id: {across}"
    );

    let missing = securescore::graphql::ids::encode("ImprovementAction", 999_999_999).0;
    let gone = node(json!(missing)).await;
    assert_eq!(
        gone, across,
        "another tenant's id answers exactly like a missing one"
    );
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_actions_costs_the_same_statements_at_10_and_100_items_sqlite() {
    statement_count_does_not_grow_with_the_page(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL database)"
)]
async fn a_page_of_actions_costs_the_same_statements_at_10_and_100_items_postgres() {
    assert!(
        postgres_enabled(),
        "TEST_DATABASE_URL is not set: this PostgreSQL test cannot run"
    );
    statement_count_does_not_grow_with_the_page(Backend::Postgres).await;
}

async fn statement_count_does_not_grow_with_the_page(backend: Backend) {
    let (app, log) = spawn_app_recording_statements(backend).await;
    let t = empty_tenant(&app).await;
    let now = Utc::now();
    let controls: Vec<control::ActiveModel> = (1..=110)
        .map(|i| {
            control_model(
                &format!("N{i:03}"),
                &format!("Control {i}"),
                "IDENTITY",
                "X",
                1 + i % 9,
            )
        })
        .collect();
    control::Entity::insert_many(controls)
        .exec(&app.db)
        .await
        .unwrap();
    let rows = control::Entity::find()
        .filter(control::Column::Service.eq("X"))
        .all(&app.db)
        .await
        .unwrap();
    let actions: Vec<_> = rows
        .iter()
        .map(|c| securescore::service::state::controls::new_action(t.id, c, now))
        .collect();
    entity::improvement_action::Entity::insert_many(actions)
        .exec(&app.db)
        .await
        .unwrap();
    let ids: Vec<i64> = entity::improvement_action::Entity::find()
        .filter(entity::improvement_action::Column::TenantId.eq(t.id))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(ids.len(), 110);
    add_tag(&app, t.id, "all", &ids).await;
    add_tag(&app, t.id, "some", &ids[..50]).await;
    let author = tenants::create_principal(&app.db, "Noter", "USER", now)
        .await
        .unwrap();
    let notes: Vec<note::ActiveModel> = ids
        .iter()
        .map(|&id| note::ActiveModel {
            tenant_id: Set(t.id),
            action_id: Set(id),
            author_id: Set(Some(author.id)),
            body: Set(format!("note on {id}")),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .collect();
    note::Entity::insert_many(notes).exec(&app.db).await.unwrap();

    let page = |first: i64| {
        let fields = "secureScore { current { points } }
            improvementActions(first: $first) { totalCount nodes { controlId rank pointsRemaining
              control { title } tags { name } notes { body authorName } } }";
        app.query_tenant(&t.reader, &t.slug, fields)
            .var("first", "Int!", json!(first))
            .payload()
    };
    // One request first, so all three measured ones find the tenant's complete computed state
    // in the server's state cache and differ only in the size of the page (a first page of up
    // to 20 alone would only need, and cache, the tenant's overview).
    page(100).await;
    let mut counts = Vec::new();
    let mut logs = Vec::new();
    for first in [10, 100, 10] {
        log.clear();
        let tenant = page(first).await;
        // Authentication bookkeeping (e.g. a throttled `last_used_at` update) is not the list's cost.
        let statements: Vec<String> = log
            .statements()
            .into_iter()
            .filter(|sql| !sql.contains("\"api_token\""))
            .collect();
        counts.push(statements.len());
        logs.push(statements);
        let nodes = tenant["improvementActions"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), first as usize);
        assert!(nodes.iter().all(|n| n["notes"].as_array().unwrap().len() == 1));
        assert!(nodes.iter().all(|n| !n["tags"].as_array().unwrap().is_empty()));
    }
    assert_eq!(
        counts[0], counts[1],
        "statements for 10 vs 100 actions: {counts:?}\n10: {:#?}\n100: {:#?}",
        logs[0], logs[1]
    );
    assert_eq!(counts[0], counts[2], "the count is stable: {counts:?}");
    assert!(
        counts[1] <= 12,
        "a page costs a handful of statements, not one per action: {counts:?}"
    );
}

const OVERVIEW: &str = "
    secureScore { current { points max } planned { points } currentLicense { points }
      achievable { points } verified { points } categories { category current { points } planned { points } } }
    improvementActions(first: 100, filter: { statuses: [TO_ADDRESS, PLANNED, RISK_ACCEPTED] }) {
      totalCount nodes { controlId category status rank pointsAchieved pointsRemaining scoreImpact version } }";

/// What the process at `address` answers of the tenant's score and actions.
async fn overview_at(app: &TestApp, address: &str, token: &str, slug: &str) -> Value {
    app.query_tenant(token, slug, OVERVIEW)
        .at(address)
        .payload()
        .await
}

async fn change_at(app: &TestApp, address: &str, t: &TenantFixture, control: &str, status: &str) -> Value {
    let score = "{ current { points max } planned { points } currentLicense { points }
        achievable { points } verified { points } categories { category current { points } planned { points } } }";
    set_status_at(app, address, t, control, status, score).await
}

// Each process keeps computed states in its own cache and a change's payload is derived from the
// state before it; whichever process changed what, every process (and one without any cache)
// answers the same score and ranking afterwards.
db_test!(
    processes_with_state_caches_agree_after_changes_through_either,
    |app| {
        let t = app.tenant().create().await;
        let a = app.address.clone();
        let b = spawn_another_process(&app, |_| {}).await;
        let uncached = spawn_another_process(&app, |c| c.state_cache_mib = 0).await;
        let before = overview_at(&app, &a, &t.reader, &t.slug).await;
        assert_eq!(overview_at(&app, &b, &t.reader, &t.slug).await, before);
        let controls: Vec<String> = before["improvementActions"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["status"] == "TO_ADDRESS" && n["category"] != "DEVICE")
            .map(|n| n["controlId"].as_str().unwrap().to_string())
            .take(3)
            .collect();
        assert_eq!(controls.len(), 3, "the tenant has actions to change");

        let changes = [
            (&a, &controls[0], "PLANNED"),
            (&b, &controls[1], "RISK_ACCEPTED"),
            (&a, &controls[2], "RESOLVED_THIRD_PARTY"),
            (&a, &controls[0], "TO_ADDRESS"),
            (&b, &controls[2], "PLANNED"),
        ];
        for (writer, control, status) in changes {
            let answered = change_at(&app, writer, &t, control, status).await;
            let truth = overview_at(&app, &uncached, &t.reader, &t.slug).await;
            assert_eq!(
                answered, truth["secureScore"],
                "the payload of {control} → {status}"
            );
            for reader in [&a, &b] {
                assert_eq!(
                    overview_at(&app, reader, &t.reader, &t.slug).await,
                    truth,
                    "{reader} after {control} → {status} through {writer}"
                );
            }
        }
        let after = overview_at(&app, &a, &t.reader, &t.slug).await;
        assert_ne!(
            after["secureScore"], before["secureScore"],
            "the changes moved the score"
        );
        let status_of = |c: &str| {
            after["improvementActions"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["controlId"] == c)
                .map(|n| n["status"].clone())
        };
        assert_eq!(status_of(&controls[0]), Some(json!("TO_ADDRESS")));
        assert_eq!(status_of(&controls[1]), Some(json!("RISK_ACCEPTED")));
        assert_eq!(status_of(&controls[2]), Some(json!("PLANNED")));
    }
);
