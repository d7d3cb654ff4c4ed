//! Scheduled sync from Microsoft Graph: per-tenant settings (`configureGraphSync`), a small Graph
//! client (OAuth2 client-credentials token, paging through `@odata.nextLink`, retries with backoff
//! on 429/5xx honouring `Retry-After`) and the background task that imports enabled tenants at an
//! interval through [`crate::service::graph::import`].
//!
//! Secrets never touch the database: a tenant's settings name the environment variable that holds
//! its client secret, and the variable is read only when a sync runs.

use crate::auth::Viewer;
use crate::config::Config;
use crate::domain::enums::Role;
use crate::error::{AppError, AppResult};
use crate::service::access::tenants;
use crate::service::alerts::{self, Alert, AlertKind};
use crate::service::graph::import::{self as graph_import, ImportDocuments, ImportReport, Importer};
use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};
use entity::{graph_sync_config, tenant};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use std::time::Duration;

/// The Graph calls a sync makes (relative to the base URL).
pub const SECURE_SCORES_PATH: &str = "/security/secureScores?$top=90";
pub const CONTROL_PROFILES_PATH: &str = "/security/secureScoreControlProfiles";
/// The scope of an app-only token for Graph.
const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// Retries of one request after a 429, a 5xx or a connection failure.
const MAX_RETRIES: u32 = 4;
/// Longest wait between retries, whatever `Retry-After` asks for.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Most pages followed for one collection (a loop of `nextLink`s must end).
const MAX_PAGES: usize = 100;

/// A client of the Graph endpoints a sync needs.
#[derive(Clone, Debug)]
pub struct GraphClient {
    http: reqwest::Client,
    base_url: String,
    token_url: String,
    /// First backoff step when the server gives no `Retry-After`.
    base_backoff: Duration,
}

impl GraphClient {
    /// A client for `base_url` (e.g. `https://graph.microsoft.com/v1.0`) and a token URL in which
    /// `{tenant}` stands for the Azure tenant id.
    pub fn new(base_url: &str, token_url: &str) -> anyhow::Result<GraphClient> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("securescore/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(GraphClient {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            token_url: token_url.to_string(),
            base_backoff: Duration::from_millis(500),
        })
    }

    /// A client configured from GRAPH_BASE_URL and GRAPH_TOKEN_URL.
    pub fn from_config(config: &Config) -> anyhow::Result<GraphClient> {
        GraphClient::new(&config.graph_base_url, &config.graph_token_url)
    }

    /// An app-only access token (OAuth2 client credentials).
    pub async fn token(
        &self,
        azure_tenant_id: &str,
        client_id: &str,
        secret: &str,
    ) -> anyhow::Result<String> {
        let tenant =
            percent_encoding::utf8_percent_encode(azure_tenant_id, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let url = self.token_url.replace("{tenant}", &tenant);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", GRAPH_SCOPE),
        ];
        let resp = self
            .send(|| self.http.post(&url).form(&form))
            .await
            .context("token request failed")?;
        let body: Value = resp.json().await.context("token response is not JSON")?;
        body.get("access_token")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| anyhow!("token response has no access_token"))
    }

    /// Every page of a Graph collection, following `@odata.nextLink`.
    pub async fn pages(&self, token: &str, path: &str) -> anyhow::Result<Vec<Value>> {
        let mut url = format!("{}{path}", self.base_url);
        let mut pages = Vec::new();
        loop {
            let resp = self
                .send(|| self.http.get(&url).bearer_auth(token))
                .await
                .with_context(|| format!("GET {url} failed"))?;
            let page: Value = resp
                .json()
                .await
                .with_context(|| format!("GET {url}: response is not JSON"))?;
            let next = page
                .get("@odata.nextLink")
                .and_then(Value::as_str)
                .map(str::to_string);
            pages.push(page);
            let Some(next) = next else { break };
            // The token goes only to the configured Graph host, wherever a link points.
            if !next.starts_with(&self.base_url) {
                return Err(anyhow!("@odata.nextLink {next} leaves {}", self.base_url));
            }
            if pages.len() >= MAX_PAGES {
                return Err(anyhow!("more than {MAX_PAGES} pages at {path}"));
            }
            url = next;
        }
        Ok(pages)
    }

    /// Sends a request, retrying 429s, 5xxs and connection failures with backoff. `Retry-After`
    /// (seconds) is honoured up to [`MAX_BACKOFF`]. Other failures are returned at once.
    async fn send(&self, make: impl Fn() -> reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
        let mut attempt = 0;
        loop {
            let (wait, failure) = match make().send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp)
                    if resp.status() == StatusCode::TOO_MANY_REQUESTS || resp.status().is_server_error() =>
                {
                    let wait = retry_after(&resp).unwrap_or_else(|| self.backoff(attempt));
                    (wait, anyhow!("HTTP {}", resp.status()))
                }
                Ok(resp) => return Err(anyhow!("HTTP {}", resp.status())),
                Err(e) if e.is_connect() || e.is_timeout() => (self.backoff(attempt), anyhow::Error::new(e)),
                Err(e) => return Err(anyhow::Error::new(e).context("request failed")),
            };
            if attempt >= MAX_RETRIES {
                return Err(failure.context(format!("gave up after {MAX_RETRIES} retries")));
            }
            tracing::debug!(
                attempt,
                wait_ms = wait.as_millis() as u64,
                "Graph request retried"
            );
            tokio::time::sleep(wait.min(MAX_BACKOFF)).await;
            attempt += 1;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.base_backoff
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(MAX_BACKOFF)
    }
}

/// The wait a `Retry-After` header asks for (delta-seconds form; Graph does not send dates).
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Fetches a tenant's Graph documents: all pages of the daily scores (merged into one
/// collection) and the control profile pages.
pub async fn fetch(
    client: &GraphClient,
    azure_tenant_id: &str,
    client_id: &str,
    secret: &str,
) -> anyhow::Result<ImportDocuments> {
    let token = client.token(azure_tenant_id, client_id, secret).await?;
    let mut records = Vec::new();
    for page in client.pages(&token, SECURE_SCORES_PATH).await? {
        match page.get("value") {
            Some(Value::Array(items)) => records.extend(items.iter().cloned()),
            _ => return Err(anyhow!("a secureScores page has no value list")),
        }
    }
    let profiles = client.pages(&token, CONTROL_PROFILES_PATH).await?;
    Ok(ImportDocuments {
        secure_scores: json!({ "value": records }),
        control_profiles: profiles,
    })
}

/// What `configureGraphSync` sets.
#[derive(Clone, Debug)]
pub struct SyncSettings {
    pub tenant_slug: String,
    pub enabled: bool,
    pub azure_tenant_id: String,
    pub client_id: String,
    /// Name of the environment variable holding the client secret.
    pub client_secret_env: String,
}

fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 128
}

fn validate(s: &SyncSettings) -> AppResult<()> {
    let id_ok = |v: &str| {
        !v.is_empty() && v.len() <= 100 && v.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
    };
    if !id_ok(s.azure_tenant_id.trim()) {
        return Err(AppError::bad_input(
            "azureTenantId",
            "azureTenantId must be 1 to 100 letters, digits, dots, dashes or underscores (a GUID or domain)",
        ));
    }
    if !id_ok(s.client_id.trim()) {
        return Err(AppError::bad_input(
            "clientId",
            "clientId must be the application (client) id of the app registration",
        ));
    }
    if !valid_env_name(&s.client_secret_env) {
        return Err(AppError::bad_input(
            "clientSecretEnv",
            "clientSecretEnv must be the NAME of an environment variable (A-Z, 0-9, _), not the secret",
        ));
    }
    Ok(())
}

/// `configureGraphSync` (ADMIN): creates or replaces a tenant's sync settings.
pub async fn configure(
    db: &DatabaseConnection,
    viewer: &Viewer,
    s: &SyncSettings,
    now: DateTime<Utc>,
) -> AppResult<(tenant::Model, graph_sync_config::Model)> {
    let t = tenants::by_slug(db, viewer, &s.tenant_slug).await?;
    viewer.require(t.id, Role::Admin)?;
    validate(s)?;
    let azure = s.azure_tenant_id.trim().to_string();
    if let Some(linked) = &t.azure_tenant_id
        && !linked.eq_ignore_ascii_case(&azure)
    {
        return Err(AppError::bad_input(
            "azureTenantId",
            format!("tenant {} is linked to Azure tenant {linked}", t.slug),
        ));
    }
    let txn = crate::db::begin_write(db).await?;
    let existing = graph_sync_config::Entity::find_by_id(t.id).one(&txn).await?;
    let row = match existing {
        Some(row) => {
            let mut am: graph_sync_config::ActiveModel = row.into();
            am.azure_tenant_id = Set(azure.clone());
            am.client_id = Set(s.client_id.trim().to_string());
            am.client_secret_env = Set(s.client_secret_env.clone());
            am.enabled = Set(s.enabled);
            am.updated_at = Set(now);
            am.update(&txn).await?
        }
        None => {
            graph_sync_config::ActiveModel {
                tenant_id: Set(t.id),
                azure_tenant_id: Set(azure.clone()),
                client_id: Set(s.client_id.trim().to_string()),
                client_secret_env: Set(s.client_secret_env.clone()),
                enabled: Set(s.enabled),
                last_sync_at: Set(None),
                last_status: Set(None),
                last_error: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?
        }
    };
    crate::service::audit::record(
        &txn,
        Some(t.id),
        Some(viewer.principal_id),
        "GRAPH_SYNC_CONFIGURED",
        format!("Tenant:{}", t.slug),
        json!({
            "enabled": s.enabled,
            "azureTenantId": azure,
            "clientId": row.client_id,
            "clientSecretEnv": row.client_secret_env,
        }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok((t, row))
}

/// `Tenant.graphSync` (READER): the tenant's sync settings and the outcome of its last run;
/// `None` when no sync was ever configured.
pub async fn status(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tenant_id: i64,
) -> AppResult<Option<graph_sync_config::Model>> {
    viewer.require(tenant_id, Role::Reader)?;
    Ok(graph_sync_config::Entity::find_by_id(tenant_id).one(db).await?)
}

/// `runGraphSyncNow` (ADMIN): syncs the tenant at once, enabled or not, and records the outcome
/// on its settings like a scheduled run. A failed run (the secret's variable unset, Graph
/// refusing the credentials, a malformed export) is an outcome, recorded as `FAILED` with its
/// error, not an error of the call; a tenant without sync settings is `NOT_FOUND`.
pub async fn run_now(
    db: &DatabaseConnection,
    viewer: &Viewer,
    config: &Config,
    tenant_slug: &str,
    now: DateTime<Utc>,
) -> AppResult<(tenant::Model, graph_sync_config::Model, Option<ImportReport>)> {
    let t = tenants::by_slug(db, viewer, tenant_slug).await?;
    viewer.require(t.id, Role::Admin)?;
    let cfg = graph_sync_config::Entity::find_by_id(t.id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound(
            "Graph sync settings (configureGraphSync first)",
        ))?;
    let client = GraphClient::from_config(config).map_err(AppError::Internal)?;
    let report = sync_tenant(db, &client, &cfg, config.import_max_bytes, now)
        .await
        .ok();
    let cfg = graph_sync_config::Entity::find_by_id(t.id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound(
            "Graph sync settings (configureGraphSync first)",
        ))?;
    let t = tenant::Entity::find_by_id(t.id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("tenant"))?;
    Ok((t, cfg, report))
}

/// Syncs one tenant now and records the outcome on its settings row.
pub async fn sync_tenant(
    db: &DatabaseConnection,
    client: &GraphClient,
    cfg: &graph_sync_config::Model,
    import_max_bytes: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<ImportReport> {
    let outcome = run_sync(db, client, cfg, import_max_bytes, now).await;
    let mut am: graph_sync_config::ActiveModel = cfg.clone().into();
    am.last_sync_at = Set(Some(now));
    let alert = match &outcome {
        Ok(report) => {
            am.last_status = Set(Some("OK".into()));
            am.last_error = Set(None);
            let data = serde_json::json!({
                "records": report.records,
                "actionsUpdated": report.actions_updated,
                "snapshotsWritten": report.snapshots_written,
                "discrepancies": report.discrepancies.len(),
            });
            Alert {
                tenant_id: cfg.tenant_id,
                kind: AlertKind::GraphSyncFinished,
                data,
            }
        }
        Err(e) => {
            am.last_status = Set(Some("FAILED".into()));
            am.last_error = Set(Some(format!("{e:#}")));
            Alert {
                tenant_id: cfg.tenant_id,
                kind: AlertKind::GraphSyncFailed,
                data: serde_json::json!({ "error": format!("{e:#}") }),
            }
        }
    };
    // The outcome and its alert together.
    let txn = crate::db::begin_write(db).await?;
    am.update(&txn).await.context("cannot record the sync outcome")?;
    alerts::raise(&txn, alert, now)
        .await
        .map_err(|e| anyhow!("cannot record the sync alert: {}", e.message()))?;
    txn.commit().await.context("cannot record the sync outcome")?;
    outcome
}

async fn run_sync(
    db: &DatabaseConnection,
    client: &GraphClient,
    cfg: &graph_sync_config::Model,
    import_max_bytes: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<ImportReport> {
    let tenant = tenant::Entity::find_by_id(cfg.tenant_id)
        .one(db)
        .await?
        .ok_or_else(|| anyhow!("tenant {} no longer exists", cfg.tenant_id))?;
    let secret = std::env::var(&cfg.client_secret_env)
        .map_err(|_| anyhow!("environment variable {} is not set", cfg.client_secret_env))?;
    let docs = fetch(client, &cfg.azure_tenant_id, &cfg.client_id, &secret).await?;
    graph_import::import(
        db,
        Importer::System,
        &tenant.slug,
        &docs,
        import_max_bytes,
        false,
        now,
    )
    .await
    .map_err(|e| match e {
        AppError::Internal(cause) => cause,
        other => anyhow!("{}", other.message()),
    })
}

/// Syncs every tenant whose sync is enabled; failures are recorded per tenant and logged.
pub async fn sync_enabled(db: &DatabaseConnection, client: &GraphClient, import_max_bytes: usize) -> usize {
    let configs = match graph_sync_config::Entity::find()
        .filter(graph_sync_config::Column::Enabled.eq(true))
        .all(db)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list Graph sync settings");
            return 0;
        }
    };
    let mut synced = 0;
    for cfg in configs {
        match sync_tenant(db, client, &cfg, import_max_bytes, Utc::now()).await {
            Ok(report) => {
                synced += 1;
                tracing::info!(
                    tenant_id = cfg.tenant_id,
                    changed = report.changed(),
                    discrepancies = report.discrepancies.len(),
                    "Graph sync done"
                );
            }
            Err(e) => tracing::warn!(
                tenant_id = cfg.tenant_id,
                error = format!("{e:#}"),
                "Graph sync failed"
            ),
        }
    }
    synced
}

/// Runs the sync every GRAPH_SYNC_INTERVAL_SECS until the process stops; `None` when the
/// interval is 0 or the client cannot be built.
pub fn spawn(db: DatabaseConnection, config: &Config) -> Option<tokio::task::JoinHandle<()>> {
    if config.graph_sync_interval_secs == 0 {
        return None;
    }
    let client = match GraphClient::from_config(config) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "Graph sync disabled");
            return None;
        }
    };
    let every = Duration::from_secs(config.graph_sync_interval_secs);
    let max_bytes = config.import_max_bytes;
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            sync_enabled(&db, &client, max_bytes).await;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_references_must_be_variable_names() {
        let cases = [
            ("GRAPH_SECRET", true),
            ("_X1", true),
            ("graph_secret", false),
            ("1ABC", false),
            ("abc~secret.value", false),
            ("", false),
        ];
        for (name, ok) in cases {
            assert_eq!(valid_env_name(name), ok, "{name:?}");
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let c = GraphClient::new("http://x", "http://y").expect("client");
        assert_eq!(c.backoff(0), Duration::from_millis(500));
        assert_eq!(c.backoff(2), Duration::from_secs(2));
        assert_eq!(c.backoff(20), MAX_BACKOFF);
    }
}
