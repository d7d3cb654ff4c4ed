//! Database connection: SQLite (embedded default, WAL mode) or PostgreSQL, and migrations.

use crate::config::Config;
use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use std::time::Duration;

/// Connects to the configured database with the pool sizes and SQLite pragmas we rely on.
pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(config.database_url.clone());
    opts.max_connections(config.db_max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            // WAL lets readers proceed while one writer commits; NORMAL is durable in WAL mode
            // except for the last transactions on power loss; the busy timeout makes writers
            // queue instead of failing with SQLITE_BUSY.
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .create_if_missing(true)
        });
    let db = Database::connect(opts).await.with_context(|| {
        format!(
            "cannot connect to DATABASE_URL {}",
            crate::config::redact_url(&config.database_url)
        )
    })?;
    Ok(db)
}

/// Applies pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("database migration failed")
}

/// Begins a transaction that will write. On SQLite it starts as a write transaction
/// (`BEGIN IMMEDIATE`): a deferred one that reads first and then writes fails at once with
/// "database is locked" when another writer committed in between (the busy timeout does not
/// apply to that upgrade), so concurrent mutations would fail instead of queueing. PostgreSQL
/// ignores the mode.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}
