//! Results of `importMicrosoftGraph` and the Graph sync settings, built from the service's
//! report and rows (the client secret is not among them: only the name of its variable).

use crate::domain::points::Points;
use crate::graphql::types::enums::Category;
use crate::graphql::types::history::Date;
use crate::graphql::types::present;
use crate::service::graph::import::{ImportGap as GapRow, ImportReport, ScoreDiscrepancy as DiscrepancyRow};
use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};
use entity::graph_sync_config;

/// What an import did (or, for a dry run, would do).
#[derive(SimpleObject, Clone, Debug)]
pub struct GraphImportResult {
    /// True when nothing was written because the input asked for a dry run.
    pub dry_run: bool,
    /// Whether anything was (or would be) written; false when the same documents were imported before.
    pub changed: bool,
    /// Daily secureScore records read (one per day).
    pub records: i32,
    /// Control profiles read.
    pub profiles: i32,
    /// Control profiles created for the tenant.
    pub controls_created: i32,
    /// Control profiles of the tenant changed.
    pub controls_updated: i32,
    /// Improvement actions created.
    pub actions_created: i32,
    /// Improvement actions whose status or progress changed.
    pub actions_updated: i32,
    /// Notes added from the vendor's state comments.
    pub notes_added: i32,
    /// Daily snapshots written (created or replaced).
    pub snapshots_written: i32,
    /// Vendor benchmark rows written.
    pub benchmarks_written: i32,
    /// Action events written.
    pub events_written: i32,
    /// Controls found in the scores but missing from the profiles, and what was done about each.
    pub gaps: Vec<ImportGap>,
    /// Days on which the vendor's reported totals differ from our recomputation.
    pub discrepancies: Vec<ScoreDiscrepancy>,
    /// Everything the import did not take as given, each with the JSON path it concerns: a
    /// missing page (`@odata.nextLink`), two records for one day, a control whose max can't be
    /// derived, implausible values (negative counts, `count > total`, a bad `maxScore`), links
    /// that are not `https:`, unknown spellings and service flags, duplicate benchmarks, statuses
    /// changed here since the vendor's update.
    pub warnings: Vec<ImportWarning>,
}

/// Something an import did not take as given.
#[derive(SimpleObject, Clone, Debug)]
pub struct ImportWarning {
    /// Where in the input documents, e.g. `secureScores.value.0.controlScores.3.count` or
    /// `controlProfiles.1.@odata.nextLink`.
    pub path: String,
    /// What was found and what the import did about it.
    pub message: String,
}

/// A control present in the scores but missing from the profiles.
#[derive(SimpleObject, Clone, Debug)]
pub struct ImportGap {
    /// The control id found in the scores.
    pub control_id: String,
    /// What was done about it.
    pub message: String,
    /// Max points used: derived as `score / scoreInPercentage × 100`, or from the tenant's
    /// earlier profile or the service catalog's entry.
    pub max_points: Option<f64>,
    /// The category used, when one could be found.
    pub category: Option<Category>,
}

/// One day on which the vendor's totals differ from ours.
#[derive(SimpleObject, Clone, Debug)]
pub struct ScoreDiscrepancy {
    /// The day (UTC).
    pub day: Date,
    /// `currentScore` as reported by the vendor.
    pub vendor_current_score: f64,
    /// `maxScore` as reported by the vendor.
    pub vendor_max_score: f64,
    /// Our `current` view of that day.
    pub recomputed_current: f64,
    /// Our `maxScore` view of that day.
    pub recomputed_max: f64,
    /// `vendorCurrentScore − recomputedCurrent`.
    pub current_difference: f64,
    /// `vendorMaxScore − recomputedMax`.
    pub max_difference: f64,
    /// Σ of the day's reported `controlScores[].score`.
    pub control_scores_sum: f64,
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl From<&ImportReport> for GraphImportResult {
    fn from(r: &ImportReport) -> Self {
        GraphImportResult {
            dry_run: r.dry_run,
            changed: r.changed(),
            records: count(r.records),
            profiles: count(r.profiles),
            controls_created: count(r.controls_created),
            controls_updated: count(r.controls_updated),
            actions_created: count(r.actions_created),
            actions_updated: count(r.actions_updated),
            notes_added: count(r.notes_added),
            snapshots_written: count(r.snapshots_written),
            benchmarks_written: count(r.benchmarks_written),
            events_written: count(r.events_written),
            gaps: r.gaps.iter().map(ImportGap::from).collect(),
            discrepancies: r.discrepancies.iter().map(ScoreDiscrepancy::from).collect(),
            warnings: r
                .warnings
                .iter()
                .map(|w| ImportWarning {
                    path: w.path.clone(),
                    message: w.message.clone(),
                })
                .collect(),
        }
    }
}

impl From<&GapRow> for ImportGap {
    fn from(g: &GapRow) -> Self {
        ImportGap {
            control_id: g.control_id.clone(),
            message: g.message.clone(),
            max_points: g.max_points.map(present),
            category: g.category.map(Into::into),
        }
    }
}

impl From<&DiscrepancyRow> for ScoreDiscrepancy {
    fn from(d: &DiscrepancyRow) -> Self {
        ScoreDiscrepancy {
            day: Date(d.day),
            vendor_current_score: present(d.vendor_current_score),
            vendor_max_score: present(d.vendor_max_score),
            recomputed_current: present(&d.recomputed_current),
            recomputed_max: present(&d.recomputed_max),
            current_difference: present(
                Points::from_decimal(d.vendor_current_score) - d.recomputed_current.clone(),
            ),
            max_difference: present(Points::from_decimal(d.vendor_max_score) - d.recomputed_max.clone()),
            control_scores_sum: present(d.control_scores_sum),
        }
    }
}

/// How a Microsoft Graph sync ended.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphSyncOutcome {
    /// Fetched and imported.
    Ok,
    /// Failed; `lastError` says why (the export is unchanged).
    Failed,
}

/// A tenant's scheduled Microsoft Graph sync settings.
#[derive(SimpleObject, Clone, Debug)]
pub struct GraphSyncSettings {
    /// Whether the server imports the tenant on schedule.
    pub enabled: bool,
    /// The Azure AD (Entra) tenant id of the organisation.
    pub azure_tenant_id: String,
    /// Application (client) id of the app registration used.
    pub client_id: String,
    /// Name of the server's environment variable that holds the client secret (never the secret).
    pub client_secret_env: String,
    /// When a scheduled sync last ran; `null` before the first.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// How the last sync ended; `null` before the first.
    pub last_status: Option<GraphSyncOutcome>,
    /// Why the last sync failed; `null` after a successful one.
    pub last_error: Option<String>,
}

impl From<graph_sync_config::Model> for GraphSyncSettings {
    fn from(m: graph_sync_config::Model) -> Self {
        GraphSyncSettings {
            enabled: m.enabled,
            azure_tenant_id: m.azure_tenant_id,
            client_id: m.client_id,
            client_secret_env: m.client_secret_env,
            last_sync_at: m.last_sync_at,
            last_status: m.last_status.as_deref().map(|s| {
                if s == "OK" {
                    GraphSyncOutcome::Ok
                } else {
                    GraphSyncOutcome::Failed
                }
            }),
            last_error: m.last_error,
        }
    }
}
