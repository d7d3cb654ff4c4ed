//! Database migrations of securescore, one area per file, each with `up` and `down`.
//!
//! They run on server start-up (`securescore` applies pending ones) and through the migration CLI
//! (`cargo run -p migration --features cli -- up`). Every statement is portable between SQLite and
//! PostgreSQL: points are stored as integers in ten-thousandths of a point (SQLite has no exact
//! decimal type), lists as JSON, times as timestamps with time zone.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_catalog;
mod m20261127_000002_tenants_and_access;
mod m20261127_000003_actions;
mod m20261127_000004_history;
mod m20261128_000005_history_jobs;
mod m20261128_000006_graph_sync;
mod m20261129_000007_performance;
mod m20261201_000008_ownership;
mod m20261201_000009_exact_points;
mod m20261201_000010_comparison_privacy;
mod m20261202_000011_tenant_state;
mod m20261206_000012_history_versions;
mod m20261206_000013_tenant_summary;
mod m20261206_000014_webhooks;
mod m20261206_000015_risk_acceptance;
mod m20261206_000016_exception_reminders;
mod m20261206_000017_reminder_days;
mod util;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_catalog::Migration),
            Box::new(m20261127_000002_tenants_and_access::Migration),
            Box::new(m20261127_000003_actions::Migration),
            Box::new(m20261127_000004_history::Migration),
            Box::new(m20261128_000005_history_jobs::Migration),
            Box::new(m20261128_000006_graph_sync::Migration),
            Box::new(m20261129_000007_performance::Migration),
            Box::new(m20261201_000008_ownership::Migration),
            Box::new(m20261201_000009_exact_points::Migration),
            Box::new(m20261201_000010_comparison_privacy::Migration),
            Box::new(m20261202_000011_tenant_state::Migration),
            Box::new(m20261206_000012_history_versions::Migration),
            Box::new(m20261206_000013_tenant_summary::Migration),
            Box::new(m20261206_000014_webhooks::Migration),
            Box::new(m20261206_000015_risk_acceptance::Migration),
            Box::new(m20261206_000016_exception_reminders::Migration),
            Box::new(m20261206_000017_reminder_days::Migration),
        ]
    }
}
