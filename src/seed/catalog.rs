//! Loads the control catalog and licence SKUs from `data/` (compiled in) idempotently: missing
//! entries are inserted, catalog-origin entries that changed are updated, imported controls are
//! left alone.

use crate::domain::enums::{ActionType, Category, Level, Tier};
use crate::domain::to_storage;
use anyhow::Context;
use chrono::Utc;
use entity::types::StringList;
use entity::{control, license, license_plan};
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};
use serde::Deserialize;
use std::collections::HashMap;

const CONTROLS_JSON: &str = include_str!("../../data/controls.json");
const LICENSES_JSON: &str = include_str!("../../data/licenses.json");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ControlSeed {
    id: String,
    title: String,
    category: Category,
    service: String,
    max_points: Decimal,
    tier: Tier,
    user_impact: Level,
    implementation_cost: Level,
    #[serde(default)]
    threats: Vec<String>,
    action_type: ActionType,
    #[serde(default)]
    required_license_plans: Vec<String>,
    action_url: Option<String>,
    vendor_rank: Option<i32>,
    #[serde(default)]
    remediation: String,
    #[serde(default)]
    user_impact_description: String,
    #[serde(default)]
    prerequisites: String,
    #[serde(default)]
    learn_more_urls: Vec<String>,
    #[serde(default)]
    deprecated: bool,
}

#[derive(Deserialize)]
struct LicenseSeed {
    sku: String,
    name: String,
    plans: Vec<String>,
}

/// The control ids of the shipped catalog (for tools such as the demo and scale seeders).
pub fn shipped_control_count() -> usize {
    serde_json::from_str::<Vec<serde_json::Value>>(CONTROLS_JSON).map_or(0, |v| v.len())
}

/// Inserts or refreshes the shipped catalog.
pub async fn load(db: &DatabaseConnection) -> anyhow::Result<()> {
    let controls: Vec<ControlSeed> =
        serde_json::from_str(CONTROLS_JSON).context("data/controls.json is invalid")?;
    let licenses: Vec<LicenseSeed> =
        serde_json::from_str(LICENSES_JSON).context("data/licenses.json is invalid")?;
    let now = Utc::now();
    let txn = crate::db::begin_write(db).await?;
    let existing: HashMap<String, control::Model> = control::Entity::find()
        .all(&txn)
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    let mut inserts = Vec::new();
    for s in controls {
        let wanted = control::Model {
            id: s.id.clone(),
            title: s.title,
            category: s.category.as_str().to_string(),
            service: s.service,
            max_points: to_storage(s.max_points),
            tier: s.tier.as_str().to_string(),
            user_impact: s.user_impact.as_str().to_string(),
            implementation_cost: s.implementation_cost.as_str().to_string(),
            threats: StringList(s.threats),
            action_type: s.action_type.as_str().to_string(),
            remediation: s.remediation,
            user_impact_description: s.user_impact_description,
            prerequisites: s.prerequisites,
            action_url: s.action_url,
            learn_more_urls: StringList(s.learn_more_urls),
            required_license_plans: StringList(s.required_license_plans),
            vendor_rank: s.vendor_rank,
            deprecated: s.deprecated,
            origin: "CATALOG".to_string(),
            shipped_digest: None,
            created_at: now,
            updated_at: now,
        };
        match existing.get(&s.id) {
            None => inserts.push(control::ActiveModel::from(wanted)),
            Some(old) if old.origin == "CATALOG" && !same_content(old, &wanted) => {
                let mut am: control::ActiveModel = old.clone().into();
                am.title = Set(wanted.title);
                am.category = Set(wanted.category);
                am.service = Set(wanted.service);
                am.max_points = Set(wanted.max_points);
                am.tier = Set(wanted.tier);
                am.user_impact = Set(wanted.user_impact);
                am.implementation_cost = Set(wanted.implementation_cost);
                am.threats = Set(wanted.threats);
                am.action_type = Set(wanted.action_type);
                am.remediation = Set(wanted.remediation);
                am.user_impact_description = Set(wanted.user_impact_description);
                am.prerequisites = Set(wanted.prerequisites);
                am.action_url = Set(wanted.action_url);
                am.learn_more_urls = Set(wanted.learn_more_urls);
                am.required_license_plans = Set(wanted.required_license_plans);
                am.vendor_rank = Set(wanted.vendor_rank);
                am.deprecated = Set(wanted.deprecated);
                am.updated_at = Set(now);
                am.update(&txn).await?;
            }
            Some(_) => {}
        }
    }
    if !inserts.is_empty() {
        control::Entity::insert_many(inserts).exec(&txn).await?;
    }

    let known: HashMap<String, license::Model> = license::Entity::find()
        .all(&txn)
        .await?
        .into_iter()
        .map(|l| (l.sku.clone(), l))
        .collect();
    let known_plans: Vec<(String, String)> = license_plan::Entity::find()
        .all(&txn)
        .await?
        .into_iter()
        .map(|p| (p.license_sku, p.plan))
        .collect();
    for l in licenses {
        if !known.contains_key(&l.sku) {
            license::ActiveModel {
                sku: Set(l.sku.clone()),
                name: Set(l.name.clone()),
                created_at: Set(now),
            }
            .insert(&txn)
            .await?;
        }
        for plan in l.plans {
            if !known_plans.iter().any(|(s, p)| *s == l.sku && *p == plan) {
                license_plan::ActiveModel {
                    license_sku: Set(l.sku.clone()),
                    plan: Set(plan),
                }
                .insert(&txn)
                .await?;
            }
        }
    }
    txn.commit().await?;
    Ok(())
}

fn same_content(a: &control::Model, b: &control::Model) -> bool {
    a.title == b.title
        && a.category == b.category
        && a.service == b.service
        && a.max_points == b.max_points
        && a.tier == b.tier
        && a.user_impact == b.user_impact
        && a.implementation_cost == b.implementation_cost
        && a.threats == b.threats
        && a.action_type == b.action_type
        && a.remediation == b.remediation
        && a.user_impact_description == b.user_impact_description
        && a.prerequisites == b.prerequisites
        && a.action_url == b.action_url
        && a.learn_more_urls == b.learn_more_urls
        && a.required_license_plans == b.required_license_plans
        && a.vendor_rank == b.vendor_rank
        && a.deprecated == b.deprecated
}
