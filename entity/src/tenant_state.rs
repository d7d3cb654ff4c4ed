//! A tenant's persisted state: the inputs of its scored state in a compact binary form, as of
//! the tenant's `state_version` (see `service::state`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_state")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: i64,
    pub state_version: i64,
    #[sea_orm(column_type = "Blob")]
    pub body: Vec<u8>,
    /// The tenant's overview at the same version (`service::state::summary`), when written.
    #[sea_orm(column_type = "Blob", nullable)]
    pub summary: Option<Vec<u8>>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
