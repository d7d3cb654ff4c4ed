//! The persisted tenant state (`service::state`): one row per tenant holding, in a compact
//! binary form, everything of the tenant's own that its scored state is computed from (action
//! rows, tags, held licences), labelled with the tenant's `state_version` it belongs to. Every
//! change writes it in the change's transaction, so a server process that has never seen the
//! tenant reads one row instead of ~250 action rows and their joins. Existing tenants get theirs
//! on their first read after the upgrade.

use crate::util::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TenantState {
    Table,
    TenantId,
    StateVersion,
    Body,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tenant {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TenantState::Table)
                    .col(big_integer(TenantState::TenantId).primary_key())
                    .col(big_integer(TenantState::StateVersion))
                    .col(blob(TenantState::Body))
                    .col(ts(TenantState::UpdatedAt))
                    .foreign_key(&mut fk_cascade(
                        TenantState::Table,
                        TenantState::TenantId,
                        Tenant::Table,
                        Tenant::Id,
                    ))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TenantState::Table).take())
            .await
    }
}
