//! The service catalog as the tenant states of one database see it: read once per catalog
//! version and shared, through `Arc`s, by every state this process computes — by readers
//! (`state::cache`) and by writers, which compute a tenant's overview in their transaction
//! (`state::persisted`).
//!
//! Nothing here is trusted on its own: every use names the catalog's **fingerprint**, read from
//! the database in the same statement or transaction as what it is used with — the number of
//! controls, the latest `updated_at` (every catalog change sets it) and the database's identity
//! (`server_setting.database_id`), so two databases served by one process (tests do that) never
//! share an entry. A process holds the catalogs of at most [`MAX_SHARED`] fingerprints.

use crate::error::{AppError, AppResult};
use entity::control;
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// Identifies a version of one database's control catalog: (number of controls, latest
/// `updated_at`, database id).
pub type Fingerprint = (i64, Option<String>, Option<String>);

/// The controls of one catalog version, by id.
pub struct Catalog {
    pub fingerprint: Fingerprint,
    pub controls: HashMap<String, Arc<control::Model>>,
}

/// Catalog versions kept per process (one per database in use, plus the previous version while
/// requests that read it finish).
const MAX_SHARED: usize = 8;

/// The catalogs this process has read, most recently used last.
static SHARED: LazyLock<Mutex<Vec<Arc<Catalog>>>> = LazyLock::new(|| Mutex::new(Vec::new()));

/// The fingerprint's subqueries, answered from `idx_control_updated_at` and the settings' primary
/// key (separate subqueries because SQLite only uses an index for MAX when it is the query's one
/// aggregate).
pub const FINGERPRINT_COLUMNS: [(&str, &str); 3] = [
    ("catalog_controls", "(SELECT COUNT(*) FROM control)"),
    (
        "catalog_updated_at",
        "(SELECT CAST(MAX(updated_at) AS TEXT) FROM control)",
    ),
    (
        "catalog_database_id",
        "(SELECT value FROM server_setting WHERE name = 'database_id')",
    ),
];

/// The fingerprint in a row that selected [`FINGERPRINT_COLUMNS`].
pub fn fingerprint_of(row: &sea_orm::QueryResult) -> AppResult<Fingerprint> {
    Ok((
        row.try_get::<i64>("", FINGERPRINT_COLUMNS[0].0)?,
        row.try_get::<Option<String>>("", FINGERPRINT_COLUMNS[1].0)?,
        row.try_get::<Option<String>>("", FINGERPRINT_COLUMNS[2].0)?,
    ))
}

/// The catalog's current fingerprint on `conn` (one small query).
pub async fn fingerprint<C: ConnectionTrait>(conn: &C) -> AppResult<Fingerprint> {
    let columns: Vec<String> = FINGERPRINT_COLUMNS
        .iter()
        .map(|(alias, subquery)| format!("{subquery} AS {alias}"))
        .collect();
    let sql = format!("SELECT {}", columns.join(", "));
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await?
        .ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("the catalog fingerprint query returned no row"))
        })?;
    fingerprint_of(&row)
}

fn shared() -> std::sync::MutexGuard<'static, Vec<Arc<Catalog>>> {
    // A poisoned lock only means a panic elsewhere while it was held; the list stays valid.
    SHARED.lock().unwrap_or_else(|e| e.into_inner())
}

/// The catalog at `fingerprint` (read on `conn` just now): this process's copy when it has one,
/// otherwise read from `conn` (and kept, when the database has an identity).
pub async fn at<C: ConnectionTrait>(conn: &C, fingerprint: &Fingerprint) -> AppResult<Arc<Catalog>> {
    {
        let mut list = shared();
        if let Some(i) = list.iter().position(|c| c.fingerprint == *fingerprint) {
            let c = list.remove(i);
            list.push(c.clone());
            return Ok(c);
        }
    }
    let controls = control::Entity::find()
        .all(conn)
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), Arc::new(c)))
        .collect();
    let catalog = Arc::new(Catalog {
        fingerprint: fingerprint.clone(),
        controls,
    });
    if fingerprint.2.is_some() {
        let mut list = shared();
        list.retain(|c| c.fingerprint != *fingerprint);
        if list.len() >= MAX_SHARED {
            list.remove(0);
        }
        list.push(catalog.clone());
    }
    Ok(catalog)
}

/// The current catalog on `conn` (e.g. in a writer's transaction).
pub async fn current<C: ConnectionTrait>(conn: &C) -> AppResult<Arc<Catalog>> {
    let f = fingerprint(conn).await?;
    at(conn, &f).await
}
