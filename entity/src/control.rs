//! A control of the service catalog: one recommended security configuration, shared by all
//! tenants and changed only by the shipped data and SERVICE_ADMINs (a tenant's own profiles are
//! `tenant_control`). Points are stored in ten-thousandths.
use crate::enums::{ActionType, Category, Level, Tier};
use crate::types::StringList;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "control")]
pub struct Model {
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
    pub origin: String,
    /// Digest of the shipped catalog entry last applied to this row (`None` for controls a
    /// SERVICE_ADMIN created), so loading the same shipped data again changes nothing.
    pub shipped_digest: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
