//! A vulnerability-management exception on a device action.
use crate::enums::{ExceptionJustification, ExceptionScope};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "device_exception")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub action_id: i64,
    pub scope: ExceptionScope,
    pub justification: ExceptionJustification,
    #[sea_orm(column_type = "Text")]
    pub comment: String,
    pub expires_at: Option<DateTimeUtc>,
    pub created_by: Option<i64>,
    pub created_at: DateTimeUtc,
    pub ended_at: Option<DateTimeUtc>,
    /// The smallest reminder threshold (days) this exception's end was announced at.
    pub last_reminder_days: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
