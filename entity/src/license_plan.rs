//! A plan granted by a licence SKU (e.g. `AAD_P1`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "license_plan")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub license_sku: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub plan: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
