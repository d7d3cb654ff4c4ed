//! Change notifications for the GraphQL subscriptions: "tenant T changed" and "event E was
//! recorded", delivered to every server process on the database, and only once the change has
//! committed.
//!
//! - **PostgreSQL**: the transaction that changes a tenant calls `pg_notify` ([`tenant_changed`]
//!   from `tenants::touch`, [`event_recorded`] from `events::record`). PostgreSQL delivers a
//!   notification when its transaction commits and never for one that rolls back. Every process
//!   LISTENs on a dedicated connection and fans out to an in-process broadcast channel
//!   ([`Hub`]), so a change made through any process reaches the subscribers of all of them.
//! - **SQLite**: a watcher task polls `PRAGMA data_version` on a dedicated connection (the value
//!   changes whenever another connection commits) and then reads which tenants' `state_version`
//!   moved and which events are new. Broadcasting from `touch` instead would run before the
//!   commit: a subscriber re-reading at once would see the old score and miss the change. Because
//!   only committed rows are read, this also sees changes made by other processes on the file.
//!
//! A notification is a hint, not the data: subscribers re-read the score or the event row from
//! the database (checking the viewer's role again). A spurious one costs a read; a lost one
//! (listener reconnecting, a subscriber lagging behind) is covered by [`Change::Resync`], after
//! which subscribers re-read everything they show.
//!
//! Tenant and event ids are only unique within one schema, while PostgreSQL notifications are
//! per database: the payload carries `current_schema()` and a listener drops other schemas'.

use crate::auth::Viewer;
use crate::domain::enums::Role;
use crate::error::{AppError, AppResult};
use anyhow::Context;
use entity::{action_event, improvement_action, tenant};
use sea_orm::sqlx;
use sea_orm::sqlx::sqlite::SqliteConnection;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "securescore_changes";

/// Notifications a slow subscriber may fall behind by before it is told to resync.
const BUFFER: usize = 1024;

/// How often the SQLite watcher asks whether anything committed: the latency of a SQLite
/// subscription. `PRAGMA data_version` reads shared memory only, so polling it is cheap.
const SQLITE_POLL: Duration = Duration::from_millis(50);

/// Longest wait between attempts to get a lost listener connection back: after a database
/// outage, changes reach subscribers again at most this long after the database is back.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Most events one catch-up read returns (after a resync).
const CATCH_UP_LIMIT: u64 = 500;

/// What changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A committed change to the tenant (its `state_version` moved).
    Tenant(i64),
    /// A committed action event.
    Event { tenant_id: i64, event_id: i64 },
    /// Notifications may have been lost: re-read everything.
    Resync,
}

/// The in-process fan-out of committed changes.
#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Change>,
}

impl Hub {
    fn new() -> Hub {
        Hub {
            tx: broadcast::channel(BUFFER).0,
        }
    }

    /// Changes from now on. Subscribe before reading the current state, so that nothing
    /// committed after that read is missed.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }

    fn send(&self, change: Change) {
        // No receiver just means nobody is subscribed right now.
        let _ = self.tx.send(change);
    }
}

/// The background task feeding a [`Hub`]; stops when dropped.
pub struct Watcher(JoinHandle<()>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts watching the database for committed changes. Returns once the watcher is listening,
/// so a change committed after this returns is seen.
pub async fn start(db: &DatabaseConnection) -> anyhow::Result<(Hub, Watcher)> {
    let hub = Hub::new();
    let task = match db.get_database_backend() {
        DbBackend::Postgres => start_postgres(db, hub.clone()).await?,
        DbBackend::Sqlite => start_sqlite(db, hub.clone()).await?,
        other => anyhow::bail!("change notifications are not supported on {other:?}"),
    };
    Ok((hub, Watcher(task)))
}

/// Announces, in the caller's transaction, that a tenant changed (PostgreSQL; on SQLite the
/// watcher finds out by itself).
pub async fn tenant_changed<C: ConnectionTrait>(conn: &C, tenant_id: i64) -> AppResult<()> {
    publish(conn, format!("{tenant_id}:state:")).await
}

/// Announces, in the caller's transaction, that an action event was recorded.
pub async fn event_recorded<C: ConnectionTrait>(conn: &C, tenant_id: i64, event_id: i64) -> AppResult<()> {
    publish(conn, format!("{tenant_id}:event:{event_id}")).await
}

/// `pg_notify` rather than `NOTIFY`: it takes the payload as a bind parameter.
async fn publish<C: ConnectionTrait>(conn: &C, what: String) -> AppResult<()> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2 || ':' || coalesce(current_schema(), ''))",
        [CHANNEL.into(), what.into()],
    ))
    .await?;
    Ok(())
}

/// Parses `<tenant_id>:<state|event>:<event_id?>:<schema>`; `None` for other schemas' and
/// malformed payloads.
fn parse(payload: &str, schema: &str) -> Option<Change> {
    let mut parts = payload.splitn(4, ':');
    let tenant_id = parts.next()?.parse().ok()?;
    let kind = parts.next()?;
    let event_id = parts.next()?;
    if parts.next()? != schema {
        return None;
    }
    match kind {
        "state" => Some(Change::Tenant(tenant_id)),
        "event" => Some(Change::Event {
            tenant_id,
            event_id: event_id.parse().ok()?,
        }),
        _ => None,
    }
}

async fn start_postgres(db: &DatabaseConnection, hub: Hub) -> anyhow::Result<JoinHandle<()>> {
    use sqlx::postgres::{PgListener, PgPoolOptions};
    let main = db.get_postgres_connection_pool();
    let schema: String = sqlx::query_scalar("SELECT coalesce(current_schema(), '')")
        .fetch_one(main)
        .await
        .context("cannot read the current schema")?;
    // A pool of its own, so the listening connection never counts against (or waits for) the
    // request pool; the pool only serves to reconnect.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy_with((*main.connect_options()).clone());
    let connect = move || {
        let pool = pool.clone();
        async move {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        }
    };
    let mut listener = connect()
        .await
        .context("cannot LISTEN for change notifications")?;
    Ok(tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => {
                    if let Some(change) = parse(n.payload(), &schema) {
                        hub.send(change);
                    }
                    backoff = Duration::from_secs(1);
                }
                // sqlx has reconnected and listens again; what was sent meanwhile is lost.
                Ok(None) => {
                    tracing::warn!("change listener reconnected; subscribers resync");
                    hub.send(Change::Resync);
                }
                Err(err) => {
                    tracing::warn!(error = %err, "change listener failed; reconnecting");
                    loop {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        match connect().await {
                            Ok(l) => {
                                listener = l;
                                backoff = Duration::from_secs(1);
                                break;
                            }
                            Err(err) => tracing::warn!(error = %err, "change listener cannot reconnect"),
                        }
                    }
                    hub.send(Change::Resync);
                }
            }
        }
    }))
}

/// What the SQLite watcher has seen: every tenant's `state_version` and the last event id. It
/// reads on its own connection, not the app's pool: it neither waits for nor shows up in the
/// statements of requests.
struct Seen {
    versions: HashMap<i64, i64>,
    last_event: i64,
}

impl Seen {
    async fn load(conn: &mut SqliteConnection) -> Result<Seen, sqlx::Error> {
        use sea_orm::sea_query::{Expr, ExprTrait, Query, SqliteQueryBuilder};
        let versions = Query::select()
            .columns([tenant::Column::Id, tenant::Column::StateVersion])
            .from(tenant::Entity)
            .to_string(SqliteQueryBuilder);
        let versions = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(versions))
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
        let last_event = Query::select()
            .expr(Expr::col(action_event::Column::Id).max())
            .from(action_event::Entity)
            .to_string(SqliteQueryBuilder);
        let last_event: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(last_event))
            .fetch_one(&mut *conn)
            .await?;
        Ok(Seen {
            versions,
            last_event: last_event.unwrap_or(0),
        })
    }

    /// Reads what committed since the last call and announces it. Writers are serialised on
    /// SQLite, so event ids become visible in order and "ids above the last one" misses none.
    async fn update(&mut self, conn: &mut SqliteConnection, hub: &Hub) -> Result<(), sqlx::Error> {
        use sea_orm::sea_query::{Expr, ExprTrait, Order, Query, SqliteQueryBuilder};
        let events = Query::select()
            .columns([action_event::Column::Id, action_event::Column::TenantId])
            .from(action_event::Entity)
            .and_where(Expr::col(action_event::Column::Id).gt(self.last_event))
            .order_by(action_event::Column::Id, Order::Asc)
            .to_string(SqliteQueryBuilder);
        let events = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(events))
            .fetch_all(&mut *conn)
            .await?;
        let now = Seen::load(conn).await?;
        for (event_id, tenant_id) in events {
            self.last_event = Ord::max(self.last_event, event_id);
            hub.send(Change::Event { tenant_id, event_id });
        }
        for (id, version) in &now.versions {
            if self.versions.get(id) != Some(version) {
                hub.send(Change::Tenant(*id));
            }
        }
        self.versions = now.versions;
        Ok(())
    }
}

async fn start_sqlite(db: &DatabaseConnection, hub: Hub) -> anyhow::Result<JoinHandle<()>> {
    use sqlx::Connection;
    let options = db.get_sqlite_connection_pool().connect_options();
    // The version is read before the state, so a commit in between shows up as a change.
    let open = move || {
        let options = options.clone();
        async move {
            let mut conn = SqliteConnection::connect_with(&options).await?;
            let version = data_version(&mut conn).await?;
            let seen = Seen::load(&mut conn).await?;
            Ok::<_, sqlx::Error>((conn, version, seen))
        }
    };
    let (mut conn, mut version, mut seen) = open().await.context("cannot start the change watcher")?;
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(SQLITE_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let result = match data_version(&mut conn).await {
                Ok(v) if v == version => continue,
                Ok(v) => {
                    version = v;
                    seen.update(&mut conn, &hub).await
                }
                Err(err) => Err(err),
            };
            let Err(err) = result else { continue };
            tracing::warn!(error = %err, "change watcher failed; reopening");
            let mut backoff = Duration::from_secs(1);
            loop {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                match open().await {
                    Ok(reopened) => {
                        (conn, version, seen) = reopened;
                        break;
                    }
                    Err(err) => tracing::warn!(error = %err, "change watcher cannot reopen"),
                }
            }
            hub.send(Change::Resync);
        }
    }))
}

async fn data_version(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("PRAGMA data_version").fetch_one(conn).await
}

/// An action event for a subscriber: `None` unless it belongs to `tenant_id` (READER).
pub async fn event_of_tenant(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tenant_id: i64,
    event_id: i64,
) -> AppResult<Option<(action_event::Model, String)>> {
    viewer.require(tenant_id, Role::Reader)?;
    let Some(event) = action_event::Entity::find_by_id(event_id).one(db).await? else {
        return Ok(None);
    };
    if event.tenant_id != tenant_id {
        return Ok(None);
    }
    let control = control_id_of(db, event.action_id).await?;
    Ok(Some((event, control)))
}

/// A tenant's events after `after_id`, oldest first (at most [`CATCH_UP_LIMIT`]), for a
/// subscriber catching up after a resync (READER).
pub async fn events_after(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tenant_id: i64,
    after_id: i64,
) -> AppResult<Vec<(action_event::Model, String)>> {
    viewer.require(tenant_id, Role::Reader)?;
    let events = action_event::Entity::find()
        .filter(action_event::Column::TenantId.eq(tenant_id))
        .filter(action_event::Column::Id.gt(after_id))
        .order_by_asc(action_event::Column::Id)
        .limit(CATCH_UP_LIMIT)
        .all(db)
        .await?;
    let action_ids: Vec<i64> = events.iter().map(|e| e.action_id).collect();
    let controls: HashMap<i64, String> = improvement_action::Entity::find()
        .select_only()
        .column(improvement_action::Column::Id)
        .column(improvement_action::Column::ControlId)
        .filter(improvement_action::Column::Id.is_in(action_ids))
        .into_tuple::<(i64, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(events
        .into_iter()
        .filter_map(|e| controls.get(&e.action_id).cloned().map(|c| (e, c)))
        .collect())
}

/// The id of a tenant's newest event (0 when it has none): where a new subscriber starts.
pub async fn last_event_id(db: &DatabaseConnection, viewer: &Viewer, tenant_id: i64) -> AppResult<i64> {
    viewer.require(tenant_id, Role::Reader)?;
    Ok(action_event::Entity::find()
        .select_only()
        .column(action_event::Column::Id)
        .filter(action_event::Column::TenantId.eq(tenant_id))
        .order_by_desc(action_event::Column::Id)
        .into_tuple::<i64>()
        .one(db)
        .await?
        .unwrap_or(0))
}

async fn control_id_of(db: &DatabaseConnection, action_id: i64) -> AppResult<String> {
    improvement_action::Entity::find_by_id(action_id)
        .select_only()
        .column(improvement_action::Column::ControlId)
        .into_tuple::<String>()
        .one(db)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("event of missing action {action_id}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_of_this_schema_parse_and_others_are_dropped() {
        let cases = [
            ("12:state::public", Some(Change::Tenant(12)), "a tenant change"),
            (
                "12:event:345:public",
                Some(Change::Event {
                    tenant_id: 12,
                    event_id: 345,
                }),
                "an event",
            ),
            ("12:state::other", None, "another schema's change"),
            ("12:state:", None, "no schema"),
            ("x:state::public", None, "a bad tenant id"),
            ("12:event::public", None, "an event without id"),
            ("12:nonsense::public", None, "an unknown kind"),
            ("1:state::a:b", None, "a schema with a colon is not ours"),
        ];
        for (payload, want, why) in cases {
            assert_eq!(parse(payload, "public"), want, "{why}: {payload}");
        }
        assert_eq!(parse("1:state::a:b", "a:b"), Some(Change::Tenant(1)));
    }
}
