//! Precomputed figures of one cohort on one day (keyed e.g. `ALL`, `BAND:SEATS_101_500`,
//! `INDUSTRY:finance`); `data` holds the sums and order statistics as exact decimal strings.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "cohort_aggregate")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub day: Date,
    pub cohort_key: String,
    pub member_count: i64,
    pub data: Json,
    pub computed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
