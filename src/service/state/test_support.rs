//! Test data shared by the state modules' unit tests.

use crate::domain::enums::{ActionType, CatalogSource, Category, Level, Status, Tier};
use crate::service::state::{self, TenantState};
use chrono::{DateTime, TimeZone, Utc};
use entity::types::StringList;
use entity::{control, improvement_action, tenant};

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0)
        .single()
        .expect("valid time")
}

/// A tenant `id` with `n` actions on controls of its own (not shared between states), with
/// varied statuses, partial progress and maximum points.
pub fn state(id: i64, n: usize) -> TenantState {
    let tenant = tenant::Model {
        id,
        slug: format!("t{id}"),
        name: format!("T{id}"),
        industry: "technology".into(),
        seat_count: 10,
        active_user_count: 10,
        enabled_services: StringList(vec![]),
        azure_tenant_id: None,
        state_version: 0,
        catalog_source: CatalogSource::ServiceCatalog,
        risk_acceptance_requires_approval: false,
        reminder_days: None,
        created_at: t0(),
        updated_at: t0(),
    };
    let rows = (0..n)
        .map(|i| {
            let c = control::Model {
                id: format!("C{i:03}"),
                title: format!("Control {i}"),
                category: Category::Identity,
                service: "AzureAD".into(),
                max_points: (1 + i as i64 % 9) * 10_000,
                tier: Tier::Core,
                user_impact: Level::Low,
                implementation_cost: Level::Moderate,
                threats: StringList(vec![]),
                action_type: ActionType::Config,
                remediation: String::new(),
                user_impact_description: String::new(),
                prerequisites: String::new(),
                action_url: None,
                learn_more_urls: StringList(vec![]),
                required_license_plans: StringList(vec![]),
                vendor_rank: None,
                deprecated: false,
                origin: "CATALOG".into(),
                shipped_digest: None,
                created_at: t0(),
                updated_at: t0(),
            };
            let row = improvement_action::Model {
                id: id * 1000 + i as i64,
                tenant_id: id,
                control_id: c.id.clone(),
                category: Category::Identity,
                status: [
                    Status::ToAddress,
                    Status::Planned,
                    Status::RiskAccepted,
                    Status::ToAddress,
                ][i % 4],
                implemented: (i % 3) as i64,
                total: if i % 5 == 0 { 3 } else { 0 },
                implementation_status: None,
                users_affected: 0,
                review_by: None,
                version: 1,
                origin: "CATALOG".into(),
                status_changed_at: t0(),
                created_at: t0(),
                updated_at: t0(),
            };
            (row, c)
        })
        .collect();
    state::build(tenant, rows, &[], t0()).expect("state builds")
}
