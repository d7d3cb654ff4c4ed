//! A tenant's own control profile (SPEC §1a): written only by that tenant's Microsoft Graph import
//! or sync, it overrides the service catalog's control of the same id for that tenant alone and is
//! never visible to other tenants. Same content columns as `control`; points in ten-thousandths.
use crate::enums::{ActionType, Category, Level, Tier};
use crate::types::StringList;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_control")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(column_type = "Text")]
    pub title: String,
    pub category: Category,
    pub service: String,
    pub max_points: i64,
    pub tier: Tier,
    pub user_impact: Level,
    pub implementation_cost: Level,
    pub threats: StringList,
    pub action_type: ActionType,
    #[sea_orm(column_type = "Text")]
    pub remediation: String,
    #[sea_orm(column_type = "Text")]
    pub user_impact_description: String,
    #[sea_orm(column_type = "Text")]
    pub prerequisites: String,
    #[sea_orm(column_type = "Text")]
    pub action_url: Option<String>,
    pub learn_more_urls: StringList,
    pub required_license_plans: StringList,
    pub vendor_rank: Option<i32>,
    pub deprecated: bool,
    /// Whether the control is in the tenant's latest export (its applicable controls under the
    /// `MICROSOFT_GRAPH` catalog source).
    pub in_latest_export: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
