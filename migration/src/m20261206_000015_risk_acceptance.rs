//! Governed risk acceptance (issue 19): `risk_acceptance`, one row per request to accept the risk
//! of one improvement action, with its owner, requester, decision and end; and the tenant setting
//! `risk_acceptance_requires_approval` (default false: a direct `RISK_ACCEPTED` stays allowed).
//!
//! At most one request per action is open (`REQUESTED`) or active (`APPROVED`): a partial unique
//! index, which SQLite and PostgreSQL both have, so two concurrent requests (also in two server
//! processes) cannot both succeed.

use crate::m20261127_000002_tenants_and_access::Principal;
use crate::m20261127_000003_actions::ImprovementAction;
use crate::util::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RiskAcceptance {
    Table,
    Id,
    TenantId,
    ActionId,
    RequestedBy,
    RequestedByName,
    Justification,
    Owner,
    ReviewBy,
    State,
    DecidedBy,
    DecidedByName,
    DecidedAt,
    DecisionComment,
    EndedAt,
    LastReminderDays,
    RemindersSent,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tenant {
    Table,
    Id,
    RiskAcceptanceRequiresApproval,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tenant::Table)
                    .add_column(
                        ColumnDef::new(Tenant::RiskAcceptanceRequiresApproval)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RiskAcceptance::Table)
                    .col(big_pk_auto(RiskAcceptance::Id))
                    .col(big_integer(RiskAcceptance::TenantId))
                    .col(big_integer(RiskAcceptance::ActionId))
                    .col(big_integer_null(RiskAcceptance::RequestedBy))
                    .col(string(RiskAcceptance::RequestedByName))
                    .col(text(RiskAcceptance::Justification))
                    .col(string(RiskAcceptance::Owner))
                    .col(ts(RiskAcceptance::ReviewBy))
                    .col(string(RiskAcceptance::State))
                    .col(big_integer_null(RiskAcceptance::DecidedBy))
                    .col(string_null(RiskAcceptance::DecidedByName))
                    .col(ts_null(RiskAcceptance::DecidedAt))
                    .col(text_null(RiskAcceptance::DecisionComment))
                    .col(ts_null(RiskAcceptance::EndedAt))
                    .col(integer_null(RiskAcceptance::LastReminderDays))
                    .col(integer(RiskAcceptance::RemindersSent).default(0))
                    .col(ts(RiskAcceptance::CreatedAt))
                    .col(ts(RiskAcceptance::UpdatedAt))
                    .foreign_key(&mut fk_cascade(
                        RiskAcceptance::Table,
                        RiskAcceptance::TenantId,
                        Tenant::Table,
                        Tenant::Id,
                    ))
                    .foreign_key(&mut fk_cascade(
                        RiskAcceptance::Table,
                        RiskAcceptance::ActionId,
                        ImprovementAction::Table,
                        ImprovementAction::Id,
                    ))
                    // The names stay on the row (who asked, who decided) when a principal goes.
                    .foreign_key(&mut fk_set_null(
                        RiskAcceptance::Table,
                        RiskAcceptance::RequestedBy,
                        Principal::Table,
                        Principal::Id,
                    ))
                    .foreign_key(&mut fk_set_null(
                        RiskAcceptance::Table,
                        RiskAcceptance::DecidedBy,
                        Principal::Table,
                        Principal::Id,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_risk_acceptance_tenant_state",
            RiskAcceptance::Table,
            [RiskAcceptance::TenantId, RiskAcceptance::State],
            false,
        )
        .await?;
        index(
            manager,
            "idx_risk_acceptance_action_state",
            RiskAcceptance::Table,
            [RiskAcceptance::ActionId, RiskAcceptance::State],
            false,
        )
        .await?;
        // The reminder sweep reads the active ones by review date.
        index(
            manager,
            "idx_risk_acceptance_state_review_by",
            RiskAcceptance::Table,
            [RiskAcceptance::State, RiskAcceptance::ReviewBy],
            false,
        )
        .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_risk_acceptance_open_per_action ON risk_acceptance (action_id) \
                 WHERE state IN ('REQUESTED', 'APPROVED')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RiskAcceptance::Table).take())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenant::Table)
                    .drop_column(Tenant::RiskAcceptanceRequiresApproval)
                    .take(),
            )
            .await
    }
}
