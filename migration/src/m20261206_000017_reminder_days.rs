//! A tenant's reminder thresholds (issue 19): the days before a risk acceptance's review date or
//! a device exception's end at which a reminder is raised, as a JSON array (largest first); NULL
//! is the default (30, 7, 1), so existing tenants keep what they had.

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
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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
