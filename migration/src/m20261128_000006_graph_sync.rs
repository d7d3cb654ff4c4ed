//! Scheduled Microsoft Graph sync: one optional configuration row per tenant. It holds the Azure
//! tenant id, the app registration's client id and the NAME of the environment variable that
//! holds the client secret, never the secret itself.

use crate::m20261127_000002_tenants_and_access::Tenant;
use crate::util::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum GraphSyncConfig {
    Table,
    TenantId,
    AzureTenantId,
    ClientId,
    ClientSecretEnv,
    Enabled,
    LastSyncAt,
    LastStatus,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(GraphSyncConfig::Table)
                    .col(big_integer(GraphSyncConfig::TenantId).primary_key())
                    .col(string(GraphSyncConfig::AzureTenantId))
                    .col(string(GraphSyncConfig::ClientId))
                    .col(string(GraphSyncConfig::ClientSecretEnv))
                    .col(boolean(GraphSyncConfig::Enabled))
                    .col(ts_null(GraphSyncConfig::LastSyncAt))
                    .col(string_null(GraphSyncConfig::LastStatus))
                    .col(text_null(GraphSyncConfig::LastError))
                    .col(ts(GraphSyncConfig::CreatedAt))
                    .col(ts(GraphSyncConfig::UpdatedAt))
                    .foreign_key(&mut fk_cascade(
                        GraphSyncConfig::Table,
                        GraphSyncConfig::TenantId,
                        Tenant::Table,
                        Tenant::Id,
                    ))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(GraphSyncConfig::Table).take())
            .await
    }
}
