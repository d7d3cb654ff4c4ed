//! Exact points (SPEC §3): partial credit is a rational number, so the integer columns in
//! ten-thousandths cannot hold every figure exactly, and a figure rounded to 4 places and then
//! to 2 can differ from the exact figure rounded to 2 (double rounding).
//! - `score_snapshot.exact`: the snapshot's six views overall and per category as exact
//!   fractions (`"250/21"`). The integer columns stay, rounded, for SQL aggregation and for
//!   imported days (whose vendor figures are decimals, exact in ten-thousandths).
//! - `action_event.points_before_exact` / `points_after_exact`: an event's points as exact
//!   fractions beside the rounded integers.
//!
//! Existing rows keep `NULL` there: their integer figures are what was recorded.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ScoreSnapshot {
    Table,
    Exact,
}

#[derive(DeriveIden)]
enum ActionEvent {
    Table,
    PointsBeforeExact,
    PointsAfterExact,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ScoreSnapshot::Table)
                    .add_column(json_null(ScoreSnapshot::Exact))
                    .take(),
            )
            .await?;
        // One column per statement: SQLite's ALTER TABLE adds one column at a time.
        for column in [ActionEvent::PointsBeforeExact, ActionEvent::PointsAfterExact] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ActionEvent::Table)
                        .add_column(text_null(column))
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [ActionEvent::PointsBeforeExact, ActionEvent::PointsAfterExact] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ActionEvent::Table)
                        .drop_column(column)
                        .take(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(ScoreSnapshot::Table)
                    .drop_column(ScoreSnapshot::Exact)
                    .take(),
            )
            .await
    }
}
