//! Reminders before a device exception ends (issue 19): the smallest reminder threshold (30, 7 or
//! 1 days) an exception was last reminded of, so the sweep sends each reminder once, even with
//! several server processes (a guarded update in the alert's transaction).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeviceException {
    Table,
    LastReminderDays,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(DeviceException::Table)
                    .add_column(ColumnDef::new(DeviceException::LastReminderDays).integer().null())
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(DeviceException::Table)
                    .drop_column(DeviceException::LastReminderDays)
                    .take(),
            )
            .await
    }
}
