//! One tenant's score on one UTC day. Points in ten-thousandths, and exactly in `exact` for
//! computed days.
use crate::types::{CategoryFigures, ExactFigures, StatusCounts};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "score_snapshot")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub day: Date,
    pub max_score: i64,
    pub current: i64,
    pub planned: i64,
    pub current_license: i64,
    pub achievable: i64,
    pub verified: i64,
    pub categories: CategoryFigures,
    pub status_counts: StatusCounts,
    pub exact: Option<ExactFigures>,
    pub source: String,
    pub vendor_current_score: Option<i64>,
    pub vendor_max_score: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
