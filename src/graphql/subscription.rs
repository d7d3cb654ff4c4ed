//! The subscription root, served over WebSocket (`http::ws`): `scoreUpdated` and `actionEvents`,
//! and the authorisation of every operation on a socket.
//!
//! A connection presents its token in `connection_init` ([`connection_data`]); a connection
//! without a valid one is refused. The token, not the viewer it stood for then, is what the
//! connection keeps: every operation on the socket (query, mutation or subscription) is
//! authorised afresh with the token's current state ([`operation_data`], the same one indexed
//! query as an HTTP request, see `auth`), so a revoked or expired token or a changed role is in
//! force for the next operation. A running subscription re-authenticates every
//! `SUBSCRIPTION_RECHECK_MS` and when its token expires ([`Access`]), and ends with
//! `UNAUTHENTICATED` (token revoked or expired) or `NOT_FOUND` (role on the tenant removed).
//!
//! The streams are driven by `service::notify`: a notification only says that a tenant changed
//! or that an event was recorded, and the stream re-reads from the database what it emits.
//!
//! **A database outage pauses a stream; it does not end it.** When a read or a re-check finds
//! the database unreachable (`AppError::is_unavailable`), the stream sends nothing and tries
//! again with a growing pause ([`Outage`], 250 ms doubling to 5 s); once the database answers,
//! it re-checks the caller's access, then sends what it would have sent had it seen everything:
//! `scoreUpdated` the tenant's current score (even if unchanged, so a client knows the stream is
//! live again), `actionEvents` every event recorded since the last one it sent (from the
//! database, not from notifications, which may have been lost meanwhile; `service::notify`
//! re-listens on its own). A stream ends only when the token may no longer read the tenant
//! (`UNAUTHENTICATED`, `NOT_FOUND`) or on an error that is not an outage.

use crate::auth::{self, GrantsCache, Viewer};
use crate::domain::enums::Role;
use crate::error::{AppError, AppResult};
use crate::graphql::types::SecureScore;
use crate::graphql::types::enums::EventKind;
use crate::graphql::types::workflow::ActionEvent;
use crate::graphql::{RequestData, config, db, loaders};
use crate::metrics::SubscriptionGauge;
use crate::service::access::tenants;
use crate::service::notify::{self, Change, Hub};
use async_graphql::{Context, Data, Result, Subscription as SubscriptionRoot};
use chrono::Utc;
use entity::action_event;
use futures::stream::{self, BoxStream, StreamExt};
use sea_orm::DatabaseConnection;
use std::collections::{BTreeSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// Event ids an `actionEvents` stream remembers having sent, to drop repeats after a resync.
const REMEMBERED_EVENTS: usize = 1024;

/// First and longest pause between attempts to reach the database again during an outage.
const OUTAGE_FIRST_PAUSE: Duration = Duration::from_millis(250);
const OUTAGE_LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// Waits out a database outage: each [`Outage::pause`] sleeps a little longer than the last.
struct Outage {
    pause: Duration,
}

impl Outage {
    fn begin(err: &AppError, stream: &'static str) -> Outage {
        tracing::warn!(
            stream,
            error = %err.message(),
            "database unavailable; subscription paused until it is back"
        );
        Outage {
            pause: OUTAGE_FIRST_PAUSE,
        }
    }

    async fn pause(&mut self) {
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(OUTAGE_LONGEST_PAUSE);
    }
}

/// Runs `attempt` until it succeeds or fails with anything but the database's unavailability,
/// pausing ([`Outage`]) between attempts: a subscription that starts while the database is
/// away waits for it instead of failing (a client whose socket reconnected during an outage
/// would otherwise get an error and `complete`, and graphql-ws does not subscribe again).
pub async fn waiting_out_outages<T, F, Fut>(stream: &'static str, mut attempt: F) -> AppResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = AppResult<T>>,
{
    let mut outage: Option<Outage> = None;
    loop {
        match attempt().await {
            Err(err) if err.is_unavailable() => {
                outage
                    .get_or_insert_with(|| Outage::begin(&err, stream))
                    .pause()
                    .await;
            }
            done => return done,
        }
    }
}

/// The subscription root.
#[derive(Default)]
pub struct Subscription;

/// The token a WebSocket connection authenticated with. Deliberately not `Debug`.
struct ConnectionToken(String);

/// Authenticates a WebSocket connection from its `connection_init` payload
/// (`{"Authorization": "Bearer ssk_…"}` or `{"token": "ssk_…"}`) and returns the connection's
/// data: the token, which [`operation_data`] authorises each operation with. An error refuses the
/// connection (the socket is closed with its message).
pub async fn connection_data(db: DatabaseConnection, payload: serde_json::Value) -> Result<Data> {
    let Some(token) = token_from_init(&payload) else {
        return Err(async_graphql::Error::new(
            "authentication required: send {\"Authorization\": \"Bearer <token>\"} in connection_init",
        ));
    };
    // While the database is away the acknowledgement waits for it, as subscriptions do: a
    // client reconnecting during an outage is not turned away for good.
    waiting_out_outages("connection_init", || auth::authenticate(&db, &token, Utc::now()))
        .await
        .map_err(|e| match e {
            AppError::Unauthenticated => {
                async_graphql::Error::new("authentication failed: unknown, expired or revoked token")
            }
            other => async_graphql::ErrorExtensions::extend(&other),
        })?;
    let mut data = Data::default();
    data.insert(ConnectionToken(token));
    Ok(data)
}

/// The request data of one operation on a WebSocket connection whose connection data is
/// `session`: the viewer as the connection's token stands now (`UNAUTHENTICATED` for the
/// operation once it is revoked or expired), fresh loaders and a request id. An error only for a
/// failure to read the token (the database).
pub async fn operation_data(
    db: &DatabaseConnection,
    grants: &GrantsCache,
    session: &Data,
    client: Option<IpAddr>,
) -> AppResult<RequestData> {
    let token = session
        .get(&std::any::TypeId::of::<ConnectionToken>())
        .and_then(|d| d.downcast_ref::<ConnectionToken>());
    let viewer = match token {
        None => Err(()),
        Some(token) => match auth::authenticate_cached(db, Some(grants), &token.0, Utc::now()).await {
            Ok(viewer) => Ok(viewer),
            Err(AppError::Unauthenticated) => Err(()),
            Err(other) => return Err(other),
        },
    };
    Ok(RequestData {
        viewer,
        request_id: format!("ws-{}", uuid::Uuid::new_v4()),
        client,
        loaders: loaders::RequestLoaders::new(db),
    })
}

/// [`operation_data`] for `request`: a subscription waits out a database outage (see
/// [`waiting_out_outages`]); a query or mutation fails at once with `SERVICE_UNAVAILABLE`, for the
/// client to retry.
pub async fn operation_data_for(
    request: &async_graphql::Request,
    db: &DatabaseConnection,
    grants: &GrantsCache,
    session: &Data,
    client: Option<IpAddr>,
) -> AppResult<RequestData> {
    if !is_subscription(request) {
        return operation_data(db, grants, session, client).await;
    }
    waiting_out_outages("subscription", || operation_data(db, grants, session, client)).await
}

/// Whether the operation `request` runs is a subscription (a document that does not parse is
/// not: it fails at once).
fn is_subscription(request: &async_graphql::Request) -> bool {
    use async_graphql::parser::types::OperationType;
    let Ok(doc) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    doc.operations.iter().any(|(name, op)| {
        let chosen = match &request.operation_name {
            Some(wanted) => name.is_some_and(|n| n.as_str() == wanted),
            None => true,
        };
        chosen && op.node.ty == OperationType::Subscription
    })
}

fn token_from_init(payload: &serde_json::Value) -> Option<String> {
    let header = ["Authorization", "authorization"]
        .iter()
        .find_map(|k| payload.get(k)?.as_str());
    if let Some(header) = header {
        return auth::bearer_token(header).map(str::to_string);
    }
    let token = payload.get("token")?.as_str()?.trim();
    (!token.is_empty()).then(|| token.to_string())
}

/// The caller of a running subscription on one tenant, re-authenticated every recheck interval
/// and when the token expires.
struct Access {
    db: DatabaseConnection,
    states: crate::service::state::States,
    grants: Arc<GrantsCache>,
    token: String,
    viewer: Viewer,
    tenant_id: i64,
    recheck: Interval,
}

impl Access {
    /// The caller of a subscription that starts now on the tenant `slug` (`NOT_FOUND` when the
    /// caller can't read it). The viewer was authorised for this operation already.
    async fn start(ctx: &Context<'_>, slug: &str) -> AppResult<Access> {
        let viewer = crate::graphql::viewer(ctx)?.clone();
        let token = ctx
            .data_opt::<ConnectionToken>()
            .ok_or(AppError::Unauthenticated)?
            .0
            .clone();
        let grants = ctx.data_opt::<Arc<GrantsCache>>().cloned().ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("grants cache missing from the schema data"))
        })?;
        let db = db(ctx).clone();
        let tenant = tenants::by_slug(&db, &viewer, slug).await?;
        let period = Duration::from_millis(config(ctx).subscription_recheck_ms.max(1));
        let mut recheck = tokio::time::interval_at(Instant::now() + period, period);
        recheck.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ok(Access {
            db,
            states: crate::graphql::loaders::states(ctx)?.clone(),
            grants,
            token,
            viewer,
            tenant_id: tenant.id,
            recheck,
        })
    }

    /// Completes when the caller's access is due for a re-check: the interval elapsed or the
    /// token's expiry came. Cancel-safe (it is raced against change notifications).
    async fn due(&mut self) {
        let expiry = self.viewer.expires_at.and_then(|at| {
            let left = (at - Utc::now()).to_std().unwrap_or_default();
            // A little after the instant, so the check that follows sees the token expired.
            Instant::now().checked_add(left + Duration::from_millis(5))
        });
        match expiry {
            Some(at) => {
                tokio::select! {
                    _ = self.recheck.tick() => {}
                    () = tokio::time::sleep_until(at) => {}
                }
            }
            None => {
                self.recheck.tick().await;
            }
        }
    }

    /// Authenticates the token again and checks the caller may still read the tenant.
    async fn revalidate(&mut self) -> AppResult<()> {
        let viewer = auth::authenticate_cached(&self.db, Some(&self.grants), &self.token, Utc::now()).await?;
        viewer.require(self.tenant_id, Role::Reader)?;
        self.viewer = viewer;
        Ok(())
    }
}

fn hub(ctx: &Context<'_>) -> AppResult<Hub> {
    ctx.data_opt::<Hub>()
        .cloned()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("change hub missing from the schema data")))
}

/// Turns a stream source into a GraphQL stream that ends after its first error.
fn into_stream<S, T, F>(source: S, next: F) -> BoxStream<'static, Result<T>>
where
    S: Send + 'static,
    T: Send + 'static,
    F: for<'a> Fn(&'a mut S) -> futures::future::BoxFuture<'a, Option<AppResult<T>>> + Send + Sync + 'static,
{
    stream::unfold((Some(source), next), |(source, next)| async move {
        let mut source = source?;
        match next(&mut source).await {
            Some(Ok(item)) => Some((Ok(item), (Some(source), next))),
            Some(Err(err)) => Some((Err(err.into()), (None, next))),
            None => None,
        }
    })
    .boxed()
}

/// Live updates over WebSocket (`graphql-transport-ws`, or the legacy `graphql-ws`). Each needs
/// a role on the tenant (READER and up) and ends with `NOT_FOUND` when the role is removed, or
/// `UNAUTHENTICATED` when the token is revoked or expires.
#[SubscriptionRoot]
impl Subscription {
    /// The tenant's score now, then again after every committed change to the tenant (from any
    /// server process). The first item arrives at once, so a client knows the subscription is
    /// live before it changes anything.
    async fn score_updated(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The tenant's slug.")] tenant_slug: String,
    ) -> Result<BoxStream<'static, Result<SecureScore>>> {
        // Subscribed before the first read, so nothing committed after that read is missed.
        let changes = hub(ctx)?.subscribe();
        let access = waiting_out_outages("scoreUpdated", || Access::start(ctx, &tenant_slug)).await?;
        let watch = ScoreWatch {
            access,
            changes,
            last_version: None,
            first: true,
            _gauge: SubscriptionGauge::open("scoreUpdated"),
        };
        Ok(into_stream(watch, |w| Box::pin(w.next())))
    }

    /// Action events of the tenant as they are committed (from any server process), optionally
    /// only some kinds, e.g. `[REGRESSED, EXPIRED]` for automation that reacts to regressions.
    async fn action_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The tenant's slug.")] tenant_slug: String,
        #[graphql(desc = "Only these kinds of events (default: all).")] kinds: Option<Vec<EventKind>>,
    ) -> Result<BoxStream<'static, Result<ActionEvent>>> {
        let changes = hub(ctx)?.subscribe();
        let access = waiting_out_outages("actionEvents", || Access::start(ctx, &tenant_slug)).await?;
        let last_id = waiting_out_outages("actionEvents", || {
            notify::last_event_id(&access.db, &access.viewer, access.tenant_id)
        })
        .await?;
        let kinds = kinds
            .unwrap_or_default()
            .into_iter()
            .map(crate::domain::enums::EventKind::from)
            .collect();
        let watch = EventWatch {
            access,
            kinds,
            changes,
            last_id,
            sent: BTreeSet::new(),
            pending: VecDeque::new(),
            _gauge: SubscriptionGauge::open("actionEvents"),
        };
        Ok(into_stream(watch, |w| Box::pin(w.next())))
    }
}

struct ScoreWatch {
    access: Access,
    changes: Receiver<Change>,
    /// The tenant's `state_version` last sent: a notification that finds it unchanged (a
    /// resync, an expiry that another reader already applied) sends nothing.
    last_version: Option<i64>,
    first: bool,
    _gauge: SubscriptionGauge,
}

impl ScoreWatch {
    async fn next(&mut self) -> Option<AppResult<SecureScore>> {
        loop {
            if !std::mem::take(&mut self.first) {
                let change = tokio::select! {
                    change = self.changes.recv() => change,
                    () = self.access.due() => match self.access.revalidate().await {
                        Ok(()) => continue,
                        Err(err) if err.is_unavailable() => return Some(self.recover(err).await),
                        Err(err) => return Some(Err(err)),
                    },
                };
                match change {
                    Ok(Change::Tenant(id)) if id == self.access.tenant_id => {}
                    Ok(Change::Resync) | Err(RecvError::Lagged(_)) => {}
                    Ok(_) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
            match self.read().await {
                Ok(Some(score)) => return Some(Ok(score)),
                Ok(None) => continue,
                Err(err) if err.is_unavailable() => return Some(self.recover(err).await),
                Err(err) => return Some(Err(err)),
            }
        }
    }

    /// Waits until the database answers again, then checks the caller's access and reads the
    /// score as it is now, sent even when unchanged.
    async fn recover(&mut self, err: AppError) -> AppResult<SecureScore> {
        let mut outage = Outage::begin(&err, "scoreUpdated");
        loop {
            outage.pause().await;
            let attempt = match self.access.revalidate().await {
                Ok(()) => self.read_now().await,
                Err(err) => Err(err),
            };
            match attempt {
                Err(err) if err.is_unavailable() => continue,
                Err(err) => return Err(err),
                Ok(score) => {
                    tracing::info!(stream = "scoreUpdated", "database back; subscription resumed");
                    return Ok(score);
                }
            }
        }
    }

    /// The score, unless the tenant's version is the one last sent.
    async fn read(&mut self) -> AppResult<Option<SecureScore>> {
        let tenant = tenants::by_id(&self.access.db, &self.access.viewer, self.access.tenant_id).await?;
        if self.last_version.is_some_and(|v| tenant.state_version <= v) {
            return Ok(None);
        }
        self.score_of(&tenant).await.map(Some)
    }

    /// The score as it is now, whatever was sent before.
    async fn read_now(&mut self) -> AppResult<SecureScore> {
        let tenant = tenants::by_id(&self.access.db, &self.access.viewer, self.access.tenant_id).await?;
        self.score_of(&tenant).await
    }

    async fn score_of(&mut self, tenant: &entity::tenant::Model) -> AppResult<SecureScore> {
        let state = self
            .access
            .states
            .for_viewer(&self.access.viewer, tenant, None)
            .await?;
        self.last_version = Some(state.tenant.state_version);
        Ok(SecureScore::new(state))
    }
}

struct EventWatch {
    access: Access,
    /// Event kinds wanted; empty = all.
    kinds: Vec<crate::domain::enums::EventKind>,
    changes: Receiver<Change>,
    /// The newest event id seen, where a catch-up after a resync starts.
    last_id: i64,
    /// Recently sent ids: an event can arrive both by its notification and by a catch-up.
    sent: BTreeSet<i64>,
    pending: VecDeque<ActionEvent>,
    _gauge: SubscriptionGauge,
}

impl EventWatch {
    async fn next(&mut self) -> Option<AppResult<ActionEvent>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            let change = tokio::select! {
                change = self.changes.recv() => change,
                () = self.access.due() => match self.access.revalidate().await {
                    Ok(()) => continue,
                    Err(err) if err.is_unavailable() => {
                        if let Err(err) = self.recover(err).await {
                            return Some(Err(err));
                        }
                        continue;
                    }
                    Err(err) => return Some(Err(err)),
                },
            };
            let found = match change {
                Ok(Change::Event { tenant_id, event_id }) if tenant_id == self.access.tenant_id => {
                    if self.sent.contains(&event_id) {
                        continue;
                    }
                    self.load(event_id).await
                }
                Ok(Change::Resync) | Err(RecvError::Lagged(_)) => self.catch_up().await,
                Ok(_) => continue,
                Err(RecvError::Closed) => return None,
            };
            match found {
                Ok(events) => events.into_iter().for_each(|e| self.accept(e)),
                Err(err) if err.is_unavailable() => {
                    if let Err(err) = self.recover(err).await {
                        return Some(Err(err));
                    }
                }
                Err(err) => return Some(Err(err)),
            }
        }
    }

    /// Waits until the database answers again, then checks the caller's access and queues every
    /// event recorded since the last one seen.
    async fn recover(&mut self, err: AppError) -> AppResult<()> {
        let mut outage = Outage::begin(&err, "actionEvents");
        loop {
            outage.pause().await;
            let attempt = match self.access.revalidate().await {
                Ok(()) => self.catch_up().await,
                Err(err) => Err(err),
            };
            match attempt {
                Err(err) if err.is_unavailable() => continue,
                Err(err) => return Err(err),
                Ok(events) => {
                    tracing::info!(stream = "actionEvents", "database back; subscription resumed");
                    events.into_iter().for_each(|e| self.accept(e));
                    return Ok(());
                }
            }
        }
    }

    async fn load(&mut self, event_id: i64) -> AppResult<Vec<(action_event::Model, String)>> {
        let access = &self.access;
        Ok(
            notify::event_of_tenant(&access.db, &access.viewer, access.tenant_id, event_id)
                .await?
                .into_iter()
                .collect(),
        )
    }

    async fn catch_up(&mut self) -> AppResult<Vec<(action_event::Model, String)>> {
        let access = &self.access;
        notify::events_after(&access.db, &access.viewer, access.tenant_id, self.last_id).await
    }

    fn accept(&mut self, (event, control_id): (action_event::Model, String)) {
        if !self.sent.insert(event.id) {
            return;
        }
        if self.sent.len() > REMEMBERED_EVENTS {
            self.sent.pop_first();
        }
        self.last_id = self.last_id.max(event.id);
        if self.kinds.is_empty() || self.kinds.contains(&event.kind) {
            self.pending.push_back(ActionEvent { event, control_id });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_token_comes_from_the_authorization_entry_or_the_token_entry() {
        let cases = [
            (
                json!({ "Authorization": "Bearer ssk_a" }),
                Some("ssk_a"),
                "header style",
            ),
            (
                json!({ "authorization": "bearer ssk_b" }),
                Some("ssk_b"),
                "lower case",
            ),
            (json!({ "token": " ssk_c " }), Some("ssk_c"), "bare token"),
            (json!({ "Authorization": "ssk_d" }), None, "no Bearer scheme"),
            (json!({ "token": "" }), None, "empty token"),
            (json!({}), None, "nothing"),
            (json!(null), None, "no payload"),
        ];
        for (payload, want, why) in cases {
            assert_eq!(token_from_init(&payload).as_deref(), want, "{why}");
        }
    }
}
