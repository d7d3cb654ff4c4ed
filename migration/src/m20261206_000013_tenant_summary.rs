//! The persisted overview of a tenant (`service::state::summary`): beside the inputs in
//! `tenant_state.body`, every change writes in its transaction the score views and the top of the
//! default ranked list, so a server process that has not cached the tenant answers the overview
//! from one small column, without scoring. `summary` is nullable: rows from before this migration
//! get theirs on their next change or first overview read.
//!
//! It also gives the database an identity (`server_setting.database_id`, random), so a process
//! can share what it read of the service catalog between the requests and writers of one database
//! (validated against the database on every use) without confusing two databases.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TenantState {
    Table,
    Summary,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TenantState::Table)
                    .add_column(ColumnDef::new(TenantState::Summary).blob().null())
                    .take(),
            )
            .await?;
        let random = match manager.get_database_backend() {
            DatabaseBackend::Postgres => "md5(random()::text || clock_timestamp()::text)",
            _ => "lower(hex(randomblob(16)))",
        };
        let now = match manager.get_database_backend() {
            DatabaseBackend::Postgres => "now()",
            _ => "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "INSERT INTO server_setting (name, value, created_at) VALUES ('database_id', {random}, {now})"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM server_setting WHERE name = 'database_id'")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TenantState::Table)
                    .drop_column(TenantState::Summary)
                    .take(),
            )
            .await
    }
}
