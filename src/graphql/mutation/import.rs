//! `importMicrosoftGraph` and `configureGraphSync` (ADMIN): bring a tenant's Microsoft Secure
//! Score data in from Graph exports, once or on a schedule.

use crate::graphql::types::history::Date;
use crate::graphql::types::import::{GraphImportResult, GraphSyncSettings};
use crate::graphql::types::user_error::split;
use crate::graphql::types::{Tenant, UserError};
use crate::graphql::{config, db, viewer};
use crate::service::graph::import::{self as graph_import, ImportDocuments, Importer};
use crate::service::graph::sync::{self as graph_sync, SyncSettings};
use async_graphql::{Context, InputObject, Json, Object, Result, SimpleObject};
use chrono::Utc;
use serde_json::Value;

#[derive(Default)]
pub struct ImportMutation;

/// Documents exported from Microsoft Graph, as returned by the API.
#[derive(InputObject)]
pub struct ImportMicrosoftGraphInput {
    /// The tenant to import into (ADMIN).
    pub tenant_slug: String,
    /// The body of `GET /security/secureScores` (`{"value": [...]}`, one record per day), or a
    /// single record.
    pub secure_scores: Json<Value>,
    /// The body of `GET /security/secureScoreControlProfiles`, or a list of such pages when the
    /// collection was paged.
    pub control_profiles: Option<Json<Value>>,
    /// Report what would change without writing anything.
    #[graphql(default = false)]
    pub dry_run: bool,
}

/// The result of `importMicrosoftGraph`.
#[derive(SimpleObject)]
pub struct ImportMicrosoftGraphPayload {
    /// The tenant, after the import.
    pub tenant: Option<Tenant>,
    /// What the import did (or would do).
    pub result: Option<GraphImportResult>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Which imported history to delete.
#[derive(InputObject)]
pub struct DeleteImportedHistoryInput {
    /// The tenant whose imported history to delete (ADMIN).
    pub tenant_slug: String,
    /// First day to delete (inclusive); the oldest when absent.
    pub from: Option<Date>,
    /// Last day to delete (inclusive); the newest when absent.
    pub to: Option<Date>,
}

/// The result of `deleteImportedHistory`.
#[derive(SimpleObject)]
pub struct DeleteImportedHistoryPayload {
    /// The tenant, after the deletion.
    pub tenant: Option<Tenant>,
    /// Imported daily snapshots deleted.
    pub deleted_snapshots: Option<i64>,
    /// Vendor benchmark rows deleted.
    pub deleted_benchmarks: Option<i64>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Scheduled sync settings of a tenant.
#[derive(InputObject)]
pub struct ConfigureGraphSyncInput {
    /// The tenant to configure (ADMIN).
    pub tenant_slug: String,
    /// Whether the server imports the tenant on schedule.
    pub enabled: bool,
    /// The Azure AD (Entra) tenant id of the organisation.
    pub azure_tenant_id: String,
    /// Application (client) id of an app registration granted SecurityEvents.Read.All.
    pub client_id: String,
    /// NAME of the server environment variable that holds the client secret, e.g.
    /// `GRAPH_SECRET_CONTOSO`. The secret itself is never sent to or stored by the API.
    pub client_secret_env: String,
}

/// The result of `configureGraphSync`.
#[derive(SimpleObject)]
pub struct ConfigureGraphSyncPayload {
    /// The tenant configured.
    pub tenant: Option<Tenant>,
    /// The sync settings as stored.
    pub sync: Option<GraphSyncSettings>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Input of `runGraphSyncNow`.
#[derive(InputObject)]
pub struct RunGraphSyncNowInput {
    /// The tenant to sync (ADMIN); it needs sync settings (`configureGraphSync`).
    pub tenant_slug: String,
}

/// The result of `runGraphSyncNow`.
#[derive(SimpleObject)]
pub struct RunGraphSyncNowPayload {
    /// The tenant as it stands after the run.
    pub tenant: Option<Tenant>,
    /// The sync settings with this run's outcome (`lastStatus`, `lastError`, `lastSyncAt`).
    pub sync: Option<GraphSyncSettings>,
    /// What the import changed, when the run succeeded; `null` when it failed (see `sync`).
    pub result: Option<GraphImportResult>,
    /// Why nothing ran, when something was refused (no sync settings: `NOT_FOUND`).
    pub user_errors: Vec<UserError>,
}

/// A `controlProfiles` value as pages: a list of pages stays a list, anything else is one page.
fn pages(v: Option<Value>) -> Vec<Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) if items.iter().any(|i| i.get("value").is_some()) => items,
        Some(other) => vec![other],
    }
}

#[Object]
impl ImportMutation {
    /// Deletes a tenant's imported history (ADMIN): the daily snapshots and vendor benchmarks
    /// its Microsoft Graph imports wrote, in a range of days or all. Retention never deletes
    /// imported history; this is the only way it goes. Computed snapshots are kept.
    async fn delete_imported_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `DeleteImportedHistoryInput`.")] input: DeleteImportedHistoryInput,
    ) -> Result<DeleteImportedHistoryPayload> {
        let result = crate::service::history::snapshots::delete_imported_history(
            db(ctx),
            viewer(ctx)?,
            &input.tenant_slug,
            input.from.map(|d| d.0),
            input.to.map(|d| d.0),
            Utc::now(),
        )
        .await;
        let (deleted, user_errors) = split(result)?;
        Ok(match deleted {
            Some(d) => DeleteImportedHistoryPayload {
                tenant: Some(Tenant(d.tenant)),
                deleted_snapshots: Some(i64::try_from(d.snapshots).unwrap_or(i64::MAX)),
                deleted_benchmarks: Some(i64::try_from(d.benchmarks).unwrap_or(i64::MAX)),
                user_errors,
            },
            None => DeleteImportedHistoryPayload {
                tenant: None,
                deleted_snapshots: None,
                deleted_benchmarks: None,
                user_errors,
            },
        })
    }

    /// Imports Microsoft Graph Secure Score exports into a tenant (ADMIN): the export's controls
    /// become the tenant's own control profiles (seen and scored only in this tenant; the service
    /// catalog is never changed by an import), their latest state the actions' statuses
    /// (comments become notes), each daily record that day's snapshot with the vendor's totals as
    /// reported, the newest record's control scores the actions' progress, and the comparative
    /// scores vendor benchmarks. The first import switches the tenant to the `MICROSOFT_GRAPH`
    /// catalog source, so after importing a complete export its score is the vendor's. Importing
    /// the same documents again changes nothing; whatever was not taken as given is in
    /// `result.warnings`.
    async fn import_microsoft_graph(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `ImportMicrosoftGraphInput`.")] input: ImportMicrosoftGraphInput,
    ) -> Result<ImportMicrosoftGraphPayload> {
        let docs = ImportDocuments {
            secure_scores: input.secure_scores.0,
            control_profiles: pages(input.control_profiles.map(|j| j.0)),
        };
        let result = graph_import::import(
            db(ctx),
            Importer::Viewer(viewer(ctx)?),
            &input.tenant_slug,
            &docs,
            config(ctx).import_max_bytes,
            input.dry_run,
            Utc::now(),
        )
        .await;
        let (report, user_errors) = split(result)?;
        Ok(ImportMicrosoftGraphPayload {
            tenant: report.as_ref().and_then(|r| r.tenant.clone()).map(Tenant),
            result: report.as_ref().map(GraphImportResult::from),
            user_errors,
        })
    }

    /// Sets a tenant's scheduled Graph sync (ADMIN). The server imports enabled tenants every
    /// GRAPH_SYNC_INTERVAL_SECS.
    async fn configure_graph_sync(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `ConfigureGraphSyncInput`.")] input: ConfigureGraphSyncInput,
    ) -> Result<ConfigureGraphSyncPayload> {
        let settings = SyncSettings {
            tenant_slug: input.tenant_slug,
            enabled: input.enabled,
            azure_tenant_id: input.azure_tenant_id,
            client_id: input.client_id,
            client_secret_env: input.client_secret_env,
        };
        let result = graph_sync::configure(db(ctx), viewer(ctx)?, &settings, Utc::now()).await;
        let (done, user_errors) = split(result)?;
        let (tenant, sync) = match done {
            Some((t, s)) => (Some(Tenant(t)), Some(s.into())),
            None => (None, None),
        };
        Ok(ConfigureGraphSyncPayload {
            tenant,
            sync,
            user_errors,
        })
    }

    /// Runs the tenant's Microsoft Graph sync now (ADMIN), enabled or not, and waits for it: the
    /// same fetch and import as a scheduled run, with the outcome recorded on the settings. A
    /// failed run is reported in `sync.lastStatus` / `sync.lastError`, not as an error.
    async fn run_graph_sync_now(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `RunGraphSyncNowInput`.")] input: RunGraphSyncNowInput,
    ) -> Result<RunGraphSyncNowPayload> {
        let config = crate::graphql::config(ctx);
        let result = graph_sync::run_now(db(ctx), viewer(ctx)?, config, &input.tenant_slug, Utc::now()).await;
        let (done, user_errors) = split(result)?;
        Ok(match done {
            Some((t, s, report)) => RunGraphSyncNowPayload {
                tenant: Some(Tenant(t)),
                sync: Some(s.into()),
                result: report.as_ref().map(GraphImportResult::from),
                user_errors,
            },
            None => RunGraphSyncNowPayload {
                tenant: None,
                sync: None,
                result: None,
                user_errors,
            },
        })
    }
}
