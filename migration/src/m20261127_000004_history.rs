//! History: the append-only action event log, daily score snapshots (with per-category figures
//! and counts by status), vendor benchmarks, score zones and dated goals.

use crate::m20261127_000002_tenants_and_access::{Principal, Tenant};
use crate::m20261127_000003_actions::ImprovementAction;
use crate::util::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ActionEvent {
    Table,
    Id,
    TenantId,
    ActionId,
    Kind,
    ActorId,
    ActorName,
    OccurredAt,
    StatusBefore,
    StatusAfter,
    PointsBefore,
    PointsAfter,
    Comment,
    Data,
}

#[derive(DeriveIden)]
enum ScoreSnapshot {
    Table,
    Id,
    TenantId,
    Day,
    MaxScore,
    Current,
    Planned,
    CurrentLicense,
    Achievable,
    Verified,
    Categories,
    StatusCounts,
    Source,
    VendorCurrentScore,
    VendorMaxScore,
    CreatedAt,
}

#[derive(DeriveIden)]
enum VendorBenchmark {
    Table,
    Id,
    TenantId,
    Day,
    Basis,
    BasisValue,
    AverageScore,
    CategoryScores,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ScoreZone {
    Table,
    TenantId,
    OkayFrom,
    GoodFrom,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ScoreGoal {
    Table,
    Id,
    TenantId,
    TargetPercentage,
    TargetDate,
    Note,
    CreatedBy,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ActionEvent::Table)
                    .col(big_pk_auto(ActionEvent::Id))
                    .col(big_integer(ActionEvent::TenantId))
                    .col(big_integer(ActionEvent::ActionId))
                    .col(string(ActionEvent::Kind))
                    .col(big_integer_null(ActionEvent::ActorId))
                    .col(string(ActionEvent::ActorName))
                    .col(ts(ActionEvent::OccurredAt))
                    .col(string_null(ActionEvent::StatusBefore))
                    .col(string_null(ActionEvent::StatusAfter))
                    .col(big_integer_null(ActionEvent::PointsBefore))
                    .col(big_integer_null(ActionEvent::PointsAfter))
                    .col(text_null(ActionEvent::Comment))
                    .col(json_null(ActionEvent::Data))
                    .foreign_key(&mut fk_cascade(
                        ActionEvent::Table,
                        ActionEvent::TenantId,
                        Tenant::Table,
                        Tenant::Id,
                    ))
                    .foreign_key(&mut fk_cascade(
                        ActionEvent::Table,
                        ActionEvent::ActionId,
                        ImprovementAction::Table,
                        ImprovementAction::Id,
                    ))
                    .foreign_key(&mut fk_set_null(
                        ActionEvent::Table,
                        ActionEvent::ActorId,
                        Principal::Table,
                        Principal::Id,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_action_event_tenant_time",
            ActionEvent::Table,
            [ActionEvent::TenantId, ActionEvent::OccurredAt],
            false,
        )
        .await?;
        index(
            manager,
            "idx_action_event_action_time",
            ActionEvent::Table,
            [ActionEvent::ActionId, ActionEvent::OccurredAt],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ScoreSnapshot::Table)
                    .col(big_pk_auto(ScoreSnapshot::Id))
                    .col(big_integer(ScoreSnapshot::TenantId))
                    .col(date(ScoreSnapshot::Day))
                    .col(big_integer(ScoreSnapshot::MaxScore))
                    .col(big_integer(ScoreSnapshot::Current))
                    .col(big_integer(ScoreSnapshot::Planned))
                    .col(big_integer(ScoreSnapshot::CurrentLicense))
                    .col(big_integer(ScoreSnapshot::Achievable))
                    .col(big_integer(ScoreSnapshot::Verified))
                    .col(json(ScoreSnapshot::Categories))
                    .col(json(ScoreSnapshot::StatusCounts))
                    .col(string(ScoreSnapshot::Source))
                    .col(big_integer_null(ScoreSnapshot::VendorCurrentScore))
                    .col(big_integer_null(ScoreSnapshot::VendorMaxScore))
                    .col(ts(ScoreSnapshot::CreatedAt))
                    .foreign_key(&mut fk_cascade(
                        ScoreSnapshot::Table,
                        ScoreSnapshot::TenantId,
                        Tenant::Table,
                        Tenant::Id,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "uq_score_snapshot_tenant_day",
            ScoreSnapshot::Table,
            [ScoreSnapshot::TenantId, ScoreSnapshot::Day],
            true,
        )
        .await?;
        // Cohort aggregation reads every tenant's snapshot of one day.
        index(
            manager,
            "idx_score_snapshot_day",
            ScoreSnapshot::Table,
            [ScoreSnapshot::Day],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(VendorBenchmark::Table)
                    .col(big_pk_auto(VendorBenchmark::Id))
                    .col(big_integer(VendorBenchmark::TenantId))
                    .col(date(VendorBenchmark::Day))
                    .col(string(VendorBenchmark::Basis))
                    .col(string(VendorBenchmark::BasisValue))
                    .col(big_integer(VendorBenchmark::AverageScore))
                    .col(json(VendorBenchmark::CategoryScores))
                    .col(ts(VendorBenchmark::CreatedAt))
                    .foreign_key(&mut fk_cascade(
                        VendorBenchmark::Table,
                        VendorBenchmark::TenantId,
                        Tenant::Table,
                        Tenant::Id,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "uq_vendor_benchmark_tenant_day_basis",
            VendorBenchmark::Table,
            [
                VendorBenchmark::TenantId,
                VendorBenchmark::Day,
                VendorBenchmark::Basis,
                VendorBenchmark::BasisValue,
            ],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ScoreZone::Table)
                    .col(big_integer(ScoreZone::TenantId).primary_key())
                    .col(big_integer(ScoreZone::OkayFrom))
                    .col(big_integer(ScoreZone::GoodFrom))
                    .col(big_integer_null(ScoreZone::UpdatedBy))
                    .col(ts(ScoreZone::UpdatedAt))
                    .foreign_key(&mut fk_cascade(
                        ScoreZone::Table,
                        ScoreZone::TenantId,
                        Tenant::Table,
                        Tenant::Id,
                    ))
                    .foreign_key(&mut fk_set_null(
                        ScoreZone::Table,
                        ScoreZone::UpdatedBy,
                        Principal::Table,
                        Principal::Id,
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ScoreGoal::Table)
                    .col(big_pk_auto(ScoreGoal::Id))
                    .col(big_integer(ScoreGoal::TenantId))
                    .col(big_integer(ScoreGoal::TargetPercentage))
                    .col(date(ScoreGoal::TargetDate))
                    .col(text_null(ScoreGoal::Note))
                    .col(big_integer_null(ScoreGoal::CreatedBy))
                    .col(ts(ScoreGoal::CreatedAt))
                    .foreign_key(&mut fk_cascade(
                        ScoreGoal::Table,
                        ScoreGoal::TenantId,
                        Tenant::Table,
                        Tenant::Id,
                    ))
                    .foreign_key(&mut fk_set_null(
                        ScoreGoal::Table,
                        ScoreGoal::CreatedBy,
                        Principal::Table,
                        Principal::Id,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_score_goal_tenant",
            ScoreGoal::Table,
            [ScoreGoal::TenantId],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ScoreGoal::Table.into_iden(),
            ScoreZone::Table.into_iden(),
            VendorBenchmark::Table.into_iden(),
            ScoreSnapshot::Table.into_iden(),
            ActionEvent::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }
}
