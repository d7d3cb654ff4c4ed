//! Peer adoption (`ImprovementAction.peerAdoption`, `Tenant.peerGaps`): what organisations like
//! the tenant did about the same controls, built from `service::history::adoption` answers.
//! One answer per tenant and cohort per request covers every action (the request memo in
//! `graphql::loaders`), so a list of actions with their adoption costs one computation.

use crate::domain::privacy::{AdoptionClass, AdoptionShares, adoption_count_std_dev};
use crate::graphql::types::ImprovementAction;
use crate::graphql::types::history::{
    CohortInput, CohortKind, Date, ExcludedCell, SuppressionReason, excluded, kind_of,
};
use crate::service::history::adoption::AdoptionAnswer;
use crate::service::history::comparisons::{CohortSpec, Suppression};
use crate::service::state::TenantState;
use async_graphql::{Context, Result, SimpleObject};
use std::cmp::Ordering;
use std::sync::Arc;

/// A share (0–1) as a percentage rounded to 2 places.
fn percent(share: f64) -> f64 {
    (share * 10_000.0).round() / 100.0
}

/// The shares of a cohort's organisations per status of one control. Noisy (see `noise`): the
/// percentages are post-processing of class counts that each carry Laplace noise, so they are
/// meaningful for cohorts of dozens of organisations and more; they always sum to 100 with the
/// rest (to address, no such action, or not applicable).
#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct AdoptionFigures {
    /// Number of organisations counted (noisy, rounded).
    pub size: i32,
    /// Percentage that completed, resolved (third party or alternate mitigation), planned or
    /// risk-accepted the control.
    pub adopted_percent: f64,
    /// Percentage that completed or resolved it (what `peerGaps` orders by).
    pub done_percent: f64,
    /// Percentage that completed it.
    pub completed_percent: f64,
    /// Percentage that resolved it by a third party or an alternate mitigation.
    pub resolved_percent: f64,
    /// Percentage that planned it.
    pub planned_percent: f64,
    /// Percentage that accepted the risk.
    pub risk_accepted_percent: f64,
}

impl From<&AdoptionShares> for AdoptionFigures {
    fn from(s: &AdoptionShares) -> Self {
        AdoptionFigures {
            size: i32::try_from(s.size).unwrap_or(i32::MAX),
            adopted_percent: percent(s.adopted()),
            done_percent: percent(s.done()),
            completed_percent: percent(s.of(AdoptionClass::Completed)),
            resolved_percent: percent(s.of(AdoptionClass::Resolved)),
            planned_percent: percent(s.of(AdoptionClass::Planned)),
            risk_accepted_percent: percent(s.of(AdoptionClass::RiskAccepted)),
        }
    }
}

/// How peer adoption figures are protected.
#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct AdoptionNoise {
    /// Privacy budget per cell, day and control (COMPARISON_EPSILON); budgets of different
    /// controls add up.
    pub epsilon: f64,
    /// Fewest tenants you cannot read a cell needs to count (COHORT_MIN_SIZE).
    pub k: i32,
    /// Number of cells the figures are made of.
    pub cells: i32,
    /// Standard deviation of the noise on the number of organisations that adopted a control
    /// (`adoptedPercent` × `size` / 100), in organisations; `null` without figures.
    pub adopted_count_standard_deviation: Option<f64>,
    /// A sentence for people saying how the figures are protected.
    pub description: String,
}

/// The cohort, day and protection of adoption figures, shared by an action's `peerAdoption` and
/// `peerGaps`.
struct Basis {
    day: Option<Date>,
    kind: CohortKind,
    key: String,
    suppressed_reason: Option<SuppressionReason>,
    suppressed_message: Option<String>,
    excluded_cells: Vec<ExcludedCell>,
    noise: AdoptionNoise,
}

fn basis(a: &AdoptionAnswer) -> Basis {
    let (reason, message) = match &a.figures {
        Ok(_) => (None, None),
        Err(Suppression::TooFewTenants { k }) => (
            Some(SuppressionReason::TooFewTenants),
            Some(format!("every cell has fewer than {k} tenants you cannot read")),
        ),
        Err(Suppression::NoData) => (
            Some(SuppressionReason::NoData),
            Some("no adoption figures yet (they are written with a day's snapshots)".to_string()),
        ),
    };
    let eps = a.params.epsilon;
    Basis {
        day: a.day.map(Date),
        kind: kind_of(&a.spec),
        key: a.key.clone(),
        suppressed_reason: reason,
        suppressed_message: message,
        excluded_cells: a.excluded.iter().cloned().map(excluded).collect(),
        noise: AdoptionNoise {
            epsilon: eps,
            k: i32::try_from(a.params.k).unwrap_or(i32::MAX),
            cells: i32::try_from(a.included_cells).unwrap_or(i32::MAX),
            adopted_count_standard_deviation: a
                .figures
                .is_ok()
                .then(|| (adoption_count_std_dev(eps, a.included_cells, 4) * 100.0).round() / 100.0),
            description: format!(
                "Statuses at the end of the day. Cells (industry × seat band × licence tier) with fewer \
                 than {k} tenants you cannot read are left out, and tenants you can read are never \
                 counted. Each cell's number of organisations per status of a control carries Laplace \
                 noise of scale {scale:.1} (ε = {eps} per cell, day and control), fixed per cell, day \
                 and control, so asking again does not average it away.",
                k = a.params.k,
                scale = 1.0 / eps,
            ),
        },
    }
}

/// What organisations like the tenant did about an action's control.
#[derive(SimpleObject)]
pub struct PeerAdoption {
    /// The day of the figures: the latest day with adoption figures (written with each day's
    /// snapshots); `null` when there is none.
    pub day: Option<Date>,
    /// Which kind of cohort this is.
    pub kind: CohortKind,
    /// The cohort, e.g. `ALL`, `BAND:SEATS_101_500` (as `comparisons` names it).
    pub key: String,
    /// `null` when withheld.
    pub figures: Option<AdoptionFigures>,
    /// Why there are no figures; `null` when there are.
    pub suppressed_reason: Option<SuppressionReason>,
    /// Human-readable reason.
    pub suppressed_message: Option<String>,
    /// Cells of the cohort left out of the figures (as in `comparisons`).
    pub excluded_cells: Vec<ExcludedCell>,
    /// How the figures are protected.
    pub noise: AdoptionNoise,
}

impl PeerAdoption {
    /// The adoption of `control_id` in an answer.
    pub fn of(a: &AdoptionAnswer, control_id: &str) -> PeerAdoption {
        let b = basis(a);
        PeerAdoption {
            day: b.day,
            kind: b.kind,
            key: b.key,
            figures: a
                .figures
                .as_ref()
                .ok()
                .and_then(|f| f.get(control_id))
                .map(Into::into),
            suppressed_reason: b.suppressed_reason,
            suppressed_message: b.suppressed_message,
            excluded_cells: b.excluded_cells,
            noise: b.noise,
        }
    }
}

/// One action of `peerGaps`.
#[derive(SimpleObject)]
pub struct PeerGap {
    /// The tenant's action.
    pub action: ImprovementAction,
    /// What the cohort did about its control.
    pub adoption: AdoptionFigures,
}

/// The tenant's open actions that most of its peers have done.
#[derive(SimpleObject)]
pub struct PeerGaps {
    /// The day of the figures; `null` when there is none.
    pub day: Option<Date>,
    /// Which kind of cohort this is.
    pub kind: CohortKind,
    /// The cohort, as `comparisons` names it.
    pub key: String,
    /// The actions (`TO_ADDRESS`, `PLANNED` or `RISK_ACCEPTED`, with points remaining), most
    /// done by peers first (`donePercent`, then rank, then control id); empty when withheld.
    pub actions: Vec<PeerGap>,
    /// Why there are no figures; `null` when there are.
    pub suppressed_reason: Option<SuppressionReason>,
    /// Human-readable reason.
    pub suppressed_message: Option<String>,
    /// Cells of the cohort left out of the figures.
    pub excluded_cells: Vec<ExcludedCell>,
    /// How the figures are protected.
    pub noise: AdoptionNoise,
}

/// The cohort of an optional input (default `ALL_TENANTS`).
pub fn spec_of(cohort: Option<CohortInput>) -> CohortSpec {
    cohort.map(Into::into).unwrap_or(CohortSpec::AllTenants)
}

/// The adoption of every control of a tenant in a cohort, computed once per request.
pub async fn answer(
    ctx: &Context<'_>,
    state: &Arc<TenantState>,
    spec: CohortSpec,
) -> Result<Arc<AdoptionAnswer>> {
    let loaders = crate::graphql::loaders::loaders(ctx)?;
    let answer = loaders
        .adoption(state.tenant.id, &spec, || async {
            // Every action of the tenant, also when `state` is an overview holding the first
            // page only (or a what-if, which has the same actions).
            let full = crate::graphql::loaders::tenant_state(ctx, &state.tenant).await?;
            let controls: Vec<String> = full.actions.iter().map(|a| a.control.id.clone()).collect();
            crate::service::history::adoption::adoption(
                crate::graphql::db(ctx),
                crate::graphql::viewer(ctx)?,
                &full,
                spec.clone(),
                &controls,
                &crate::graphql::types::history::privacy(ctx),
                chrono::Utc::now().date_naive(),
            )
            .await
        })
        .await?;
    Ok(answer)
}

/// `Tenant.peerGaps` (READER).
pub async fn peer_gaps(
    ctx: &Context<'_>,
    t: &entity::tenant::Model,
    cohort: Option<CohortInput>,
    first: Option<i32>,
) -> Result<PeerGaps> {
    let first = first.unwrap_or(10);
    if !(1..=100).contains(&first) {
        return Err(crate::error::AppError::bad_input("first", "first must be 1 to 100").into());
    }
    let state = crate::graphql::loaders::tenant_state(ctx, t).await?;
    let a = answer(ctx, &state, spec_of(cohort)).await?;
    let mut gaps: Vec<(usize, &AdoptionShares)> = match &a.figures {
        Ok(figures) => state
            .actions
            .iter()
            .enumerate()
            .filter(|(_, x)| {
                use crate::domain::enums::Status::*;
                matches!(x.scored.status, ToAddress | Planned | RiskAccepted)
                    && x.points_remaining.is_positive()
            })
            .filter_map(|(i, x)| figures.get(&x.control.id).map(|f| (i, f)))
            .collect(),
        Err(_) => Vec::new(),
    };
    gaps.sort_by(|(i, f), (j, g)| {
        let (a, b) = (&state.actions[*i], &state.actions[*j]);
        // By the published (rounded) figure, so the order is the one a client sees.
        percent(g.done())
            .partial_cmp(&percent(f.done()))
            .unwrap_or(Ordering::Equal)
            .then_with(|| match (a.rank, b.rank) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
            .then_with(|| a.control.id.cmp(&b.control.id))
    });
    let b = basis(&a);
    Ok(PeerGaps {
        day: b.day,
        kind: b.kind,
        key: b.key,
        actions: gaps
            .into_iter()
            .take(first as usize)
            .map(|(i, f)| PeerGap {
                action: ImprovementAction::at(state.clone(), i),
                adoption: f.into(),
            })
            .collect(),
        suppressed_reason: b.suppressed_reason,
        suppressed_message: b.suppressed_message,
        excluded_cells: b.excluded_cells,
        noise: b.noise,
    })
}
