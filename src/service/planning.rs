//! Planning within an effort budget: `Tenant.plan` (READER) and `applyPlan` (OPERATOR).
//!
//! **Candidates** are the tenant's ranked actions (SPEC §4: `TO_ADDRESS` or `PLANNED` with
//! points remaining; never `COMPLETED`, `RISK_ACCEPTED` or `RESOLVED_*`), without `PLANNED` ones
//! when `include_planned` is off, of the given categories only, and licensed only when
//! `only_licensed` is on (the default: an unlicensed action needs a purchase first, which is not
//! effort). DEVICE actions are candidates too: the work is real and so are their points, and
//! `applyPlan` plans them the one way SPEC §2 allows (a `GLOBAL` `PLANNED_REMEDIATION`
//! exception, `workflow::mark_planned`). An action's **effort** is the ranking divisor
//! `w(implementationCost) + w(userImpact) + complexity(tier)` and its **value** its exact
//! `pointsRemaining`; `domain::planner` picks the best set exactly.
//!
//! **Outcome.** The chosen actions in rank order, the score views as they would be with each
//! chosen action done (its full points, like a `COMPLETED` what-if), and where that percentage
//! would stand in the `ALL_TENANTS` cohort of the latest day with cohort figures: a percentile
//! estimated from the cohort's published (noisy) quartiles, asked through
//! `history::comparisons::compare`, so exactly its privacy rules apply (tenants the caller reads
//! don't count, cells below k are left out, the answer is withheld with the reason when nothing
//! is left).
//!
//! **Applying.** `applyPlan` takes either the plan's input (the plan is computed again from the
//! tenant's current state, so it is what `plan` showed unless the tenant changed meanwhile) or
//! an explicit list of actions (with the versions a client saw). Either way each action carries
//! the version it was planned from, so a change in between makes the whole call a `CONFLICT`
//! that writes nothing.

use crate::auth::Viewer;
use crate::domain::enums::{Category, Role, Status};
use crate::domain::planner::{self, Candidate, Limits};
use crate::domain::points::Points;
use crate::domain::ranking::effort;
use crate::error::{AppError, AppResult};
use crate::service::history::comparisons::{self, CohortAnswer, CohortSpec, Privacy};
use crate::service::state::actions::{WhatIfChange, hypothetical};
use crate::service::state::{States, TenantState};
use crate::service::workflow::{self, ActionRef, Applied, ItemError, PlanItem};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use std::sync::Arc;

/// Largest effort budget accepted. Budgets above the candidates' total effort buy nothing more
/// and are clamped to it; this only keeps the input sane.
pub const MAX_EFFORT_BUDGET: i64 = 1_000_000;

/// What to plan.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanRequest {
    /// Effort units available (≥ 0).
    pub effort_budget: i64,
    /// Most actions (≥ 0); `None` for no limit.
    pub max_actions: Option<i64>,
    /// Only actions of these categories; all when empty.
    pub categories: Vec<Category>,
    /// Only licensed actions.
    pub only_licensed: bool,
    /// Whether `PLANNED` actions are candidates (`TO_ADDRESS` ones always are).
    pub include_planned: bool,
}

/// One chosen action.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedAction {
    /// The action's row id.
    pub action_id: i64,
    pub control_id: String,
    /// Its version when planned.
    pub version: i64,
    pub effort: u32,
    /// Its exact `pointsRemaining`, gained when done.
    pub points: Points,
}

/// The best plan for a request.
#[derive(Clone, Debug)]
pub struct Chosen {
    /// In rank order.
    pub actions: Vec<PlannedAction>,
    pub effort: u64,
    pub points: Points,
    /// How many actions were candidates.
    pub candidates: usize,
}

/// Where a percentage would stand among other organisations.
#[derive(Clone, Debug)]
pub struct Standing {
    /// The day whose cohort figures it is judged against: the latest aggregated one; `None`
    /// when no day was aggregated yet.
    pub day: Option<NaiveDate>,
    /// The percentage placed.
    pub percentage: Points,
    /// The `ALL_TENANTS` cohort of that day, as `comparisons` answers it; `None` without a day.
    pub cohort: Option<CohortAnswer>,
    /// Percentile (0–100) estimated from the cohort's quartiles; `None` when withheld.
    pub percentile: Option<f64>,
}

/// A plan with its outcome.
#[derive(Clone, Debug)]
pub struct PlanOutcome {
    /// The state planned from.
    pub state: Arc<TenantState>,
    pub chosen: Chosen,
    /// The state with every chosen action done.
    pub after: Arc<TenantState>,
    pub standing: Standing,
}

fn validate(request: &PlanRequest) -> AppResult<()> {
    if !(0..=MAX_EFFORT_BUDGET).contains(&request.effort_budget) {
        return Err(AppError::bad_input(
            "effortBudget",
            format!("effortBudget must be 0 to {MAX_EFFORT_BUDGET}"),
        ));
    }
    if request.max_actions.is_some_and(|k| k < 0) {
        return Err(AppError::bad_input("maxActions", "maxActions cannot be negative"));
    }
    Ok(())
}

/// The best plan for `request` from `state` (pure: the caller checked the viewer's role).
pub fn choose(state: &TenantState, request: &PlanRequest) -> AppResult<Chosen> {
    validate(request)?;
    // `state.actions` is in rank order with the ranked ones first, and every candidate is ranked.
    let candidates: Vec<&crate::service::state::ActionState> = state
        .actions
        .iter()
        .filter(|a| a.rank.is_some())
        .filter(|a| request.include_planned || a.scored.status != Status::Planned)
        .filter(|a| request.categories.is_empty() || request.categories.contains(&a.scored.category))
        .filter(|a| !request.only_licensed || a.licensing.licensed)
        .collect();
    let input: Vec<Candidate> = candidates
        .iter()
        .map(|a| Candidate {
            effort: effort(a.scored.implementation_cost, a.scored.user_impact, a.scored.tier),
            points: a.points_remaining.clone(),
        })
        .collect();
    let limits = Limits {
        budget: request.effort_budget as u64,
        max_actions: request.max_actions.map(|k| k as u64),
    };
    let plan =
        planner::solve(&input, limits).map_err(|e| AppError::bad_input("effortBudget", e.to_string()))?;
    Ok(Chosen {
        actions: plan
            .chosen
            .iter()
            .map(|&i| PlannedAction {
                action_id: candidates[i].row.id,
                control_id: candidates[i].control.id.clone(),
                version: candidates[i].row.version,
                effort: input[i].effort,
                points: input[i].points.clone(),
            })
            .collect(),
        effort: plan.effort,
        points: plan.points,
        candidates: candidates.len(),
    })
}

/// `Tenant.plan` (READER): the best plan, the score views after it and the standing of its
/// percentage in the `ALL_TENANTS` cohort.
pub async fn plan<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    state: Arc<TenantState>,
    request: &PlanRequest,
    privacy: &Privacy,
    today: NaiveDate,
) -> AppResult<PlanOutcome> {
    viewer.require(state.tenant.id, Role::Reader)?;
    let chosen = choose(&state, request)?;
    let changes: Vec<WhatIfChange> = chosen
        .actions
        .iter()
        .map(|a| WhatIfChange {
            control_id: a.control_id.clone(),
            // Done: its full points in every view, whatever its progress.
            status: Some(Status::Completed),
            implemented: None,
            total: None,
        })
        .collect();
    let after = hypothetical(&state, &changes)?;
    let percentage = after.score.overall.percentage(&after.score.overall.current);
    let standing = standing(conn, viewer, &state, percentage, privacy, today).await?;
    Ok(PlanOutcome {
        state,
        chosen,
        after: Arc::new(after),
        standing,
    })
}

/// Where `percentage` would stand in the `ALL_TENANTS` cohort of the latest aggregated day,
/// with the cohort answer exactly as `comparisons` gives it to this viewer.
async fn standing<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    live: &TenantState,
    percentage: Points,
    privacy: &Privacy,
    today: NaiveDate,
) -> AppResult<Standing> {
    let Some(day) = comparisons::latest_aggregated_day(conn, today).await? else {
        return Ok(Standing {
            day: None,
            percentage,
            cohort: None,
            percentile: None,
        });
    };
    let mut days = comparisons::compare(
        conn,
        viewer,
        live,
        day,
        day,
        vec![CohortSpec::AllTenants],
        privacy,
        today,
    )
    .await?;
    let cohort = days.pop().and_then(|mut d| d.cohorts.pop());
    let percentile = cohort.as_ref().and_then(|c| c.figures.as_ref().ok()).map(|f| {
        crate::domain::cohort::percentile_from_quartiles(percentage.to_f64(), f.p25, f.median, f.p75)
    });
    Ok(Standing {
        day: Some(day),
        percentage,
        cohort,
        percentile,
    })
}

/// Which actions `applyPlan` marks.
#[derive(Clone, Debug)]
pub enum Selection {
    /// The plan for this request, computed again from the tenant's current state.
    Plan(PlanRequest),
    /// Exactly these actions (control ids), each optionally at the version the client saw.
    Actions(Vec<(String, Option<i64>)>),
}

/// What `applyPlan` did.
#[derive(Debug)]
pub struct AppliedPlan {
    /// The plan, when the selection was a plan request.
    pub chosen: Option<Chosen>,
    /// One entry per action, in the plan's (or the list's) order.
    pub applied: Vec<Applied>,
}

/// `applyPlan` (OPERATOR on the tenant; another tenant's slug is `NOT_FOUND`): marks the
/// selected actions `PLANNED` in one transaction (`workflow::mark_planned`). `Ok(Err(_))` names
/// the failing items (by position in the plan or the list); then nothing was written.
pub async fn apply_plan(
    db: &DatabaseConnection,
    states: &States,
    viewer: &Viewer,
    tenant_slug: &str,
    selection: Selection,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> AppResult<Result<AppliedPlan, Vec<ItemError>>> {
    let tenant = crate::service::access::tenants::by_slug(db, viewer, tenant_slug).await?;
    viewer.require(tenant.id, Role::Operator)?;
    let (chosen, items) = match selection {
        Selection::Plan(request) => {
            let state = states.for_viewer(viewer, &tenant, None).await?;
            let chosen = choose(&state, &request)?;
            let items = chosen
                .actions
                .iter()
                .map(|a| PlanItem {
                    action: ActionRef::Id(a.action_id),
                    expected_version: Some(a.version),
                })
                .collect();
            (Some(chosen), items)
        }
        Selection::Actions(list) => {
            if list.is_empty() {
                return Err(AppError::bad_input(
                    "actions",
                    "actions must name at least one action",
                ));
            }
            let items = list
                .into_iter()
                .map(|(control_id, expected_version)| PlanItem {
                    action: ActionRef::Control {
                        tenant_slug: tenant.slug.clone(),
                        control_id,
                    },
                    expected_version,
                })
                .collect();
            (None, items)
        }
    };
    Ok(workflow::mark_planned(db, viewer, items, comment, now)
        .await?
        .map(|applied| AppliedPlan { chosen, applied }))
}
