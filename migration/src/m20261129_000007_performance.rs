//! What the per-process caches need to be validated cheaply on every request:
//! - `principal.grants_version`, bumped whenever one of the principal's role grants changes, so a
//!   server process can keep a principal's grants in memory and check with the principal row
//!   (read by every authentication anyway) that they are still current, instead of reading every
//!   grant on every request (an MSP holds one per customer);
//! - an index on `control.updated_at`, so the catalog fingerprint (count and latest change of the
//!   controls) is read from a small index instead of scanning the controls' long texts.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Principal {
    Table,
    GrantsVersion,
}

#[derive(DeriveIden)]
enum Control {
    Table,
    UpdatedAt,
}

const CONTROL_UPDATED_AT: &str = "idx_control_updated_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Principal::Table)
                    .add_column(
                        ColumnDef::new(Principal::GrantsVersion)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(CONTROL_UPDATED_AT)
                    .table(Control::Table)
                    .col(Control::UpdatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(CONTROL_UPDATED_AT)
                    .table(Control::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Principal::Table)
                    .drop_column(Principal::GrantsVersion)
                    .to_owned(),
            )
            .await
    }
}
