//! One control as it stands for one tenant.
use crate::enums::{Category, Status};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "improvement_action")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub control_id: String,
    pub category: Category,
    pub status: Status,
    pub implemented: i64,
    pub total: i64,
    #[sea_orm(column_type = "Text")]
    pub implementation_status: Option<String>,
    pub users_affected: i64,
    pub review_by: Option<DateTimeUtc>,
    pub version: i64,
    pub origin: String,
    pub status_changed_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::control::Entity",
        from = "Column::ControlId",
        to = "super::control::Column::Id"
    )]
    Control,
}

impl Related<super::control::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Control.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
