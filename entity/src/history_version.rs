//! A counter per day of stored history (snapshots, cohort cells, vendor benchmarks), bumped by
//! database triggers in every transaction that writes one of that day's rows; caches of past
//! days check it on every use. A day without a row has never been written.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "history_version")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
