//! Coordination and precomputation for the daily history job: `job_lease` (which server process
//! runs a day's snapshot job, so several processes sharing one database never do it twice) and
//! `cohort_aggregate` (per day and cohort, the sums and order statistics that answer a comparison
//! in constant time whatever the number of tenants).

use crate::util::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum JobLease {
    Table,
    Name,
    Holder,
    ClaimedAt,
    ExpiresAt,
    CompletedAt,
}

#[derive(DeriveIden)]
enum CohortAggregate {
    Table,
    Id,
    Day,
    CohortKey,
    MemberCount,
    Data,
    ComputedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The primary key is what makes a claim exclusive: the first INSERT wins, the others
        // conflict and may only take over a lease that expired without completing.
        manager
            .create_table(
                Table::create()
                    .table(JobLease::Table)
                    .col(string(JobLease::Name).primary_key())
                    .col(string(JobLease::Holder))
                    .col(ts(JobLease::ClaimedAt))
                    .col(ts(JobLease::ExpiresAt))
                    .col(ts_null(JobLease::CompletedAt))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CohortAggregate::Table)
                    .col(big_pk_auto(CohortAggregate::Id))
                    .col(date(CohortAggregate::Day))
                    .col(string(CohortAggregate::CohortKey))
                    .col(big_integer(CohortAggregate::MemberCount))
                    .col(json(CohortAggregate::Data))
                    .col(ts(CohortAggregate::ComputedAt))
                    .take(),
            )
            .await?;
        index(
            manager,
            "uq_cohort_aggregate_day_key",
            CohortAggregate::Table,
            [CohortAggregate::Day, CohortAggregate::CohortKey],
            true,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [CohortAggregate::Table.into_iden(), JobLease::Table.into_iden()] {
            manager.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }
}
