//! History versions: `history_version` holds one counter per day, which every write of that
//! day's stored history bumps **in the writer's transaction** (database triggers on
//! `score_snapshot`, `cohort_aggregate` and `vendor_benchmark`: the snapshot job, backfills,
//! Graph imports, retention, `deleteImportedHistory`, seeders, and any SQL an operator runs).
//! Server processes cache what they derive from past days (`service::history::cache`) and check
//! these counters on every use, so a day rewritten by any process is seen by all at once.
//!
//! Triggers rather than a bump in each writer: the writers live in several modules (and in
//! seeders), a forgotten one would serve stale history silently, and a trigger cannot be
//! forgotten. A day without a row has never been written (the rows of existing days are
//! created here). The two databases need their own syntax (the one exception to "every
//! statement is portable", see `lib.rs`); PostgreSQL bumps once per statement from its
//! transition tables, in day order, so a batch of 1,000 snapshots of a day is one bump.
//!
//! `server_setting.history_cache_epoch` is a random value naming this database, so caches of
//! several databases in one process (tests run many servers) never mistake one for another.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum HistoryVersion {
    Table,
    Day,
    Version,
}

/// The tables whose rows make up a day's stored history.
const HISTORY_TABLES: [&str; 3] = ["score_snapshot", "cohort_aggregate", "vendor_benchmark"];

/// The `server_setting` naming this database for caches.
const EPOCH_SETTING: &str = "history_cache_epoch";

/// Bumps `day`'s counter (SQLite trigger body statement).
fn sqlite_bump(day: &str) -> String {
    format!(
        "INSERT INTO history_version (day, version) VALUES ({day}, 1) \
         ON CONFLICT (day) DO UPDATE SET version = version + 1;"
    )
}

/// Bumps the counter of every day in the transition table `rows`, in day order (PostgreSQL).
fn postgres_bump_function(name: &str, rows: &str) -> String {
    format!(
        "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         INSERT INTO history_version (day, version) SELECT DISTINCT day, 1 FROM {rows} ORDER BY day \
         ON CONFLICT (day) DO UPDATE SET version = history_version.version + 1; \
         RETURN NULL; END $$"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(HistoryVersion::Table)
                    .col(date(HistoryVersion::Day).primary_key())
                    .col(big_integer(HistoryVersion::Version))
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "INSERT INTO history_version (day, version) \
             SELECT day, 1 FROM score_snapshot UNION SELECT day, 1 FROM cohort_aggregate \
             UNION SELECT day, 1 FROM vendor_benchmark",
        )
        .await?;
        match db.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(&postgres_bump_function(
                    "history_version_bump_new",
                    "history_new_rows",
                ))
                .await?;
                db.execute_unprepared(&postgres_bump_function(
                    "history_version_bump_old",
                    "history_old_rows",
                ))
                .await?;
                for table in HISTORY_TABLES {
                    for (event, rows, function) in [
                        ("INSERT", "NEW TABLE AS history_new_rows", "new"),
                        ("UPDATE", "NEW TABLE AS history_new_rows", "new"),
                        ("UPDATE", "OLD TABLE AS history_old_rows", "old"),
                        ("DELETE", "OLD TABLE AS history_old_rows", "old"),
                    ] {
                        db.execute_unprepared(&format!(
                            "CREATE TRIGGER history_version_{table}_{event}_{function} AFTER {event} ON {table} \
                             REFERENCING {rows} FOR EACH STATEMENT \
                             EXECUTE FUNCTION history_version_bump_{function}()",
                            event = event.to_lowercase(),
                        ))
                        .await?;
                    }
                }
                db.execute_unprepared(&format!(
                    "INSERT INTO server_setting (name, value, created_at) VALUES ('{EPOCH_SETTING}', \
                     md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text), now())"
                ))
                .await?;
            }
            _ => {
                for table in HISTORY_TABLES {
                    for (event, body) in [
                        ("INSERT", sqlite_bump("NEW.day")),
                        (
                            "UPDATE",
                            format!("{} {}", sqlite_bump("OLD.day"), sqlite_bump("NEW.day")),
                        ),
                        ("DELETE", sqlite_bump("OLD.day")),
                    ] {
                        db.execute_unprepared(&format!(
                            "CREATE TRIGGER history_version_{table}_{event} AFTER {event} ON {table} \
                             BEGIN {body} END",
                            event = event.to_lowercase(),
                        ))
                        .await?;
                    }
                }
                db.execute_unprepared(&format!(
                    "INSERT INTO server_setting (name, value, created_at) VALUES ('{EPOCH_SETTING}', \
                     lower(hex(randomblob(16))), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match db.get_database_backend() {
            DbBackend::Postgres => {
                for table in HISTORY_TABLES {
                    for (event, function) in [
                        ("insert", "new"),
                        ("update", "new"),
                        ("update", "old"),
                        ("delete", "old"),
                    ] {
                        db.execute_unprepared(&format!(
                            "DROP TRIGGER IF EXISTS history_version_{table}_{event}_{function} ON {table}"
                        ))
                        .await?;
                    }
                }
                db.execute_unprepared("DROP FUNCTION IF EXISTS history_version_bump_new()")
                    .await?;
                db.execute_unprepared("DROP FUNCTION IF EXISTS history_version_bump_old()")
                    .await?;
            }
            _ => {
                for table in HISTORY_TABLES {
                    for event in ["insert", "update", "delete"] {
                        db.execute_unprepared(&format!(
                            "DROP TRIGGER IF EXISTS history_version_{table}_{event}"
                        ))
                        .await?;
                    }
                }
            }
        }
        db.execute_unprepared(&format!(
            "DELETE FROM server_setting WHERE name = '{EPOCH_SETTING}'"
        ))
        .await?;
        manager
            .drop_table(Table::drop().table(HistoryVersion::Table).take())
            .await
    }
}
