//! Append-only history of everything that changed an action. Points in ten-thousandths, and
//! exactly (as fractions such as `"10/3"`) in the `*_exact` columns.
use crate::enums::{EventKind, Status};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "action_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub action_id: i64,
    pub kind: EventKind,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub occurred_at: DateTimeUtc,
    pub status_before: Option<Status>,
    pub status_after: Option<Status>,
    pub points_before: Option<i64>,
    pub points_after: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub points_before_exact: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub points_after_exact: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub comment: Option<String>,
    pub data: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
