//! One organisation.
use crate::enums::CatalogSource;
use crate::types::{DayList, StringList};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub slug: String,
    pub name: String,
    pub industry: String,
    pub seat_count: i64,
    pub active_user_count: i64,
    pub enabled_services: StringList,
    pub azure_tenant_id: Option<String>,
    pub state_version: i64,
    /// `SERVICE_CATALOG` (applicable controls by enabled services) or `MICROSOFT_GRAPH`
    /// (exactly the controls of the latest Graph export).
    pub catalog_source: CatalogSource,
    /// Whether `RISK_ACCEPTED` needs an approved risk acceptance (`requestRiskAcceptance`), so a
    /// direct status change to it is refused. Default false.
    pub risk_acceptance_requires_approval: bool,
    /// Days before a risk acceptance's review date or a device exception's end at which a
    /// reminder is raised, largest first; `None` for the default (30, 7, 1).
    pub reminder_days: Option<DayList>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
