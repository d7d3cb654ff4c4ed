//! Database connection: SQLite (embedded default, WAL mode) or PostgreSQL, and migrations.

use crate::config::Config;
use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::prelude::async_trait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use std::time::Duration;

/// Connects to the configured database with the pool sizes and SQLite pragmas we rely on.
pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(config.database_url.clone());
    opts.max_connections(config.pool_size())
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_millis(config.db_acquire_timeout_ms))
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

/// A write transaction (see [`begin_write`]). Use it like the transaction it wraps (it is a
/// [`ConnectionTrait`] and derefs to [`DatabaseTransaction`]) and end it with
/// [`WriteTxn::commit`]; dropping it rolls back.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    /// On SQLite, this process's turn to write, held until the transaction ends.
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTxn {
    /// Commits, then lets the next writer of this process go.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    /// Rolls back, then lets the next writer of this process go.
    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

/// Whose turn it is to write to SQLite, in this process.
///
/// SQLite has one writer at a time. Without this, concurrent writers of one process all start
/// `BEGIN IMMEDIATE` and all but one wait in SQLite's busy handler, which polls by sleeping (up to
/// 100 ms a nap): the lock sits idle between a commit and the next sleeper's wake-up, and every
/// waiter holds a pooled connection readers could use. Taking turns here first queues them
/// (first come, first served) without sleeping and without holding a connection. The busy
/// timeout still covers other processes sharing the file. One turn per process, not per
/// database: a process serves one database (tests run several, and only lose a little
/// parallelism between their writes).
static SQLITE_WRITE_TURN: std::sync::LazyLock<std::sync::Arc<tokio::sync::Mutex<()>>> =
    std::sync::LazyLock::new(Default::default);

/// Begins a transaction that will write. On SQLite it waits for this process's turn to write
/// (see [`SQLITE_WRITE_TURN`]) and starts as a write transaction (`BEGIN IMMEDIATE`): a deferred
/// one that reads first and then writes fails at once with "database is locked" when another
/// writer committed in between (the busy timeout does not apply to that upgrade), so concurrent
/// mutations would fail instead of queueing. PostgreSQL ignores the mode and needs no turns
/// (row locks order its writers).
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
    let turn = if db.get_database_backend() == DbBackend::Sqlite {
        Some(SQLITE_WRITE_TURN.clone().lock_owned().await)
    } else {
        None
    };
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(WriteTxn { txn, _turn: turn })
}
