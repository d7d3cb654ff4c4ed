//! Who calls the API: a person or an automation.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "principal")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub created_at: DateTimeUtc,
    /// Bumped whenever one of the principal's role grants changes (lets servers cache grants).
    pub grants_version: i64,
    /// Holds the one service-wide role, SERVICE_ADMIN (SPEC §7).
    pub service_admin: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
