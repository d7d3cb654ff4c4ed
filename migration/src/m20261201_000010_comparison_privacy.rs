//! Private comparisons (SPEC §8): `server_setting` holds values every server process shares,
//! such as the comparison noise secret generated at first start; cohort aggregates become
//! per-cell (`CELL:…` keys), so the old per-cohort rows (`ALL`, `BAND:…`, `INDUSTRY:…`), which
//! held exact order statistics, are deleted. `securescore snapshot --date D` (or a backfill)
//! recomputes a past day's cells.

use crate::util::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ServerSetting {
    Table,
    Name,
    Value,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CohortAggregate {
    Table,
    CohortKey,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ServerSetting::Table)
                    .col(string(ServerSetting::Name).primary_key())
                    .col(text(ServerSetting::Value))
                    .col(ts(ServerSetting::CreatedAt))
                    .take(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(CohortAggregate::Table)
                    .and_where(Expr::col(CohortAggregate::CohortKey).not_like("CELL:%"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ServerSetting::Table).take())
            .await
    }
}
