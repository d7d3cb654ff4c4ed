//! A tenant's reminder thresholds (issue 19): the days before a risk acceptance's review date or
//! a device exception's end at which a reminder is raised, as a JSON array (largest first); NULL
//! is the default (30, 7, 1), so existing tenants keep what they had. And an index of the device
//! exceptions still open by their end, which the reminder and expiry sweeps look for.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenant {
    Table,
    ReminderDays,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tenant::Table)
                    .add_column(ColumnDef::new(Tenant::ReminderDays).json().null())
                    .take(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_device_exception_open ON device_exception (expires_at) \
                 WHERE ended_at IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS idx_device_exception_open")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenant::Table)
                    .drop_column(Tenant::ReminderDays)
                    .take(),
            )
            .await
    }
}
