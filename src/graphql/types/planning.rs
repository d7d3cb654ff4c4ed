//! Plans within an effort budget (`Tenant.plan`, `applyPlan`): inputs, the plan and its
//! outcome, built from `service::planning` results.

use crate::graphql::types::enums::Category;
use crate::graphql::types::history::{CohortComparison, Date, SuppressionReason, cohort};
use crate::graphql::types::{ImprovementAction, SecureScore, Tenant, UserError, present};
use crate::service::planning::{Chosen, PlanOutcome, PlanRequest};
use crate::service::state::TenantState;
use async_graphql::{InputObject, Object, SimpleObject};
use std::sync::Arc;

/// What to plan: the actions that gain the most points within an effort budget. An action's
/// effort is the divisor of its ranking priority, `w(implementationCost) + w(userImpact) +
/// complexity(tier)` with LOW = 1, MODERATE = 2, HIGH = 3, UNKNOWN = 2 and CORE = 1,
/// DEFENSE_IN_DEPTH = 2, ADVANCED = 3 (so 3 to 9 units); what it gains is its exact
/// `pointsRemaining`. Candidates are the ranked actions (`TO_ADDRESS` or `PLANNED` with points
/// remaining; never `COMPLETED`, `RISK_ACCEPTED` or `RESOLVED_*`), DEVICE actions included.
#[derive(InputObject, Clone, Debug)]
pub struct PlanInput {
    /// Effort units available, 0 to 1,000,000 (more than the candidates' total effort buys
    /// nothing more).
    pub effort_budget: i32,
    /// Most actions in the plan (0 or more); no limit when absent.
    pub max_actions: Option<i32>,
    /// Only actions of these categories; all when absent or empty.
    pub categories: Option<Vec<Category>>,
    /// Only actions the tenant holds a licence for (default `true`): an unlicensed action needs
    /// a purchase before any effort helps.
    #[graphql(default = true)]
    pub only_licensed: bool,
    /// Whether `PLANNED` actions are candidates (default `true`); `TO_ADDRESS` ones always are.
    #[graphql(default = true)]
    pub include_planned: bool,
}

impl From<PlanInput> for PlanRequest {
    fn from(i: PlanInput) -> Self {
        PlanRequest {
            effort_budget: i64::from(i.effort_budget),
            max_actions: i.max_actions.map(i64::from),
            categories: i
                .categories
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            only_licensed: i.only_licensed,
            include_planned: i.include_planned,
        }
    }
}

/// One action of a plan.
#[derive(SimpleObject)]
pub struct PlannedAction {
    /// The action as it stands now.
    pub action: Option<ImprovementAction>,
    /// Its effort units (`w(implementationCost) + w(userImpact) + complexity(tier)`).
    pub effort: i32,
    /// Points it gains when done (its `pointsRemaining`), rounded to 2 places.
    pub points_gained: f64,
    /// The exact points it gains, e.g. `"10/3"`.
    pub points_gained_exact: String,
}

fn planned_actions(state: &Arc<TenantState>, chosen: &Chosen) -> Vec<PlannedAction> {
    chosen
        .actions
        .iter()
        .map(|a| PlannedAction {
            action: ImprovementAction::new(state.clone(), a.action_id),
            effort: i32::try_from(a.effort).unwrap_or(i32::MAX),
            points_gained: present(&a.points),
            points_gained_exact: a.points.to_exact_string(),
        })
        .collect()
}

/// Where the plan's percentage would stand among other organisations.
#[derive(SimpleObject)]
pub struct PlanStanding {
    /// The day whose `ALL_TENANTS` cohort figures it is judged against: the latest day with
    /// cohort aggregates; `null` before the first daily snapshot.
    pub day: Option<Date>,
    /// The percentage placed: `score.current.percentage` of the plan.
    pub percentage: f64,
    /// Estimated percentile (0–100) of `percentage` in the cohort: a piecewise-linear
    /// distribution through 0 %, the cohort's p25, median and p75 and 100 %. `null` when the
    /// cohort is withheld (`suppressedReason`). An estimate from noisy, published figures.
    pub percentile_estimate: Option<f64>,
    /// Why there is no estimate: the cohort's reason, or `NO_DATA` before the first snapshot.
    pub suppressed_reason: Option<SuppressionReason>,
    /// The `ALL_TENANTS` cohort of `day` exactly as `comparisons` answers it (same privacy
    /// rules: tenants you can read never count, cells with fewer than k others are left out,
    /// noise fixed per cell and day); `null` before the first snapshot.
    pub cohort: Option<CohortComparison>,
}

/// The best plan within an effort budget and what it would do to the score.
pub struct Plan {
    pub outcome: PlanOutcome,
    pub effort_budget: i32,
    /// What tells this plan's score apart from the live score and what-ifs.
    pub hypothesis: String,
}

/// The set of candidate actions with the most points within the budget (exactly: a 0/1
/// knapsack). Among equally good sets: less effort, then the one holding the best-ranked action
/// where they differ.
#[Object]
impl Plan {
    /// The chosen actions, in rank order.
    async fn actions(&self) -> Vec<PlannedAction> {
        planned_actions(&self.outcome.state, &self.outcome.chosen)
    }
    /// The effort budget asked for.
    async fn effort_budget(&self) -> i32 {
        self.effort_budget
    }
    /// Effort units of the chosen actions in all (at most `effortBudget`).
    async fn total_effort(&self) -> i64 {
        i64::try_from(self.outcome.chosen.effort).unwrap_or(i64::MAX)
    }
    /// Points the plan gains, rounded to 2 places.
    async fn points_gained(&self) -> f64 {
        present(&self.outcome.chosen.points)
    }
    /// The exact points the plan gains.
    async fn points_gained_exact(&self) -> String {
        self.outcome.chosen.points.to_exact_string()
    }
    /// Percentage points the plan adds to `current` (of the tenant's `maxScore`).
    async fn percentage_gained(&self) -> f64 {
        let before = &self.outcome.state.score.overall;
        let after = &self.outcome.after.score.overall;
        present(after.percentage(&after.current) - before.percentage(&before.current))
    }
    /// How many actions were candidates (after `categories`, `onlyLicensed` and
    /// `includePlanned`).
    async fn candidates(&self) -> i32 {
        i32::try_from(self.outcome.chosen.candidates).unwrap_or(i32::MAX)
    }
    /// Every score view (overall and per category) with the chosen actions done: their full
    /// points, as a what-if with them `COMPLETED`.
    async fn score(&self) -> SecureScore {
        SecureScore::hypothetical(self.outcome.after.clone(), self.hypothesis.clone())
    }
    /// Where the resulting percentage would stand in the `ALL_TENANTS` cohort.
    async fn standing(&self) -> PlanStanding {
        let s = &self.outcome.standing;
        let cohort = s.cohort.clone().map(cohort);
        let suppressed_reason = match &cohort {
            None => Some(SuppressionReason::NoData),
            Some(c) => c.suppressed_reason,
        };
        PlanStanding {
            day: s.day.map(Date),
            percentage: present(&s.percentage),
            percentile_estimate: s.percentile.map(|p| (p * 100.0).round() / 100.0),
            suppressed_reason,
            cohort,
        }
    }
}

/// An action to plan, named by control id.
#[derive(InputObject)]
pub struct PlanActionInput {
    /// The control id, e.g. `AdminMFAV2`.
    pub control_id: String,
    /// The action's `version` the plan was made from; a stale one fails the whole call with
    /// `CONFLICT`.
    pub expected_version: Option<i64>,
}

/// Input of `applyPlan`: give exactly one of `plan` and `actions`.
#[derive(InputObject)]
pub struct ApplyPlanInput {
    /// The tenant.
    pub tenant_slug: String,
    /// Plan again from this input and mark that plan: the same plan `Tenant.plan` shows for it,
    /// unless the tenant changed in between (each action is marked at the version it was
    /// planned from).
    pub plan: Option<PlanInput>,
    /// Or mark exactly these actions (e.g. the `actions` of a plan shown earlier, with their
    /// `version`s): each must be `TO_ADDRESS` or `PLANNED` with points remaining.
    pub actions: Option<Vec<PlanActionInput>>,
    /// Why; kept as a note on each changed action (and as the comment of the exceptions that
    /// plan DEVICE actions).
    pub comment: Option<String>,
}

/// Result of `applyPlan`.
#[derive(SimpleObject)]
pub struct ApplyPlanPayload {
    /// Every action of the plan, as it stands after (empty when there are `userErrors`).
    pub actions: Vec<ImprovementAction>,
    /// The actions this call changed to `PLANNED` (those already `PLANNED` are no-ops).
    pub changed_actions: Vec<ImprovementAction>,
    /// Whether any action changed.
    pub changed: bool,
    /// Effort units of the plan's actions in all (`null` when there are `userErrors`).
    pub total_effort: Option<i64>,
    /// The tenant's score after the change (its `planned` view now holds the plan).
    pub score: Option<SecureScore>,
    /// The tenant, as the change left it.
    pub tenant: Option<Tenant>,
    /// Why nothing was written; `field` names the input and, for an action, its position in the
    /// plan or the list (`["input", "plan", "2"]`, `["input", "actions", "0", "controlId"]`).
    pub user_errors: Vec<UserError>,
}

impl ApplyPlanPayload {
    pub fn refused(user_errors: Vec<UserError>) -> Self {
        ApplyPlanPayload {
            actions: vec![],
            changed_actions: vec![],
            changed: false,
            total_effort: None,
            score: None,
            tenant: None,
            user_errors,
        }
    }
}

/// Effort units of the actions `action_ids` of a state in all.
pub fn effort_of(state: &TenantState, action_ids: &[i64]) -> i64 {
    action_ids
        .iter()
        .filter_map(|id| state.position_of(*id))
        .map(|i| {
            let s = &state.actions[i].scored;
            i64::from(crate::domain::ranking::effort(
                s.implementation_cost,
                s.user_impact,
                s.tier,
            ))
        })
        .sum()
}

/// `Tenant.plan` (READER).
pub async fn plan(
    ctx: &async_graphql::Context<'_>,
    t: &entity::tenant::Model,
    input: PlanInput,
) -> async_graphql::Result<Plan> {
    let effort_budget = input.effort_budget;
    let request: PlanRequest = input.into();
    let state = crate::graphql::loaders::tenant_state(ctx, t).await?;
    // The same question of the same state is the same answer (and the same score id).
    let hypothesis =
        crate::domain::tokens::hash_secret(&format!("{}:plan:{request:?}", state.tenant.state_version));
    let outcome = crate::service::planning::plan(
        crate::graphql::db(ctx),
        crate::graphql::viewer(ctx)?,
        state,
        &request,
        &crate::graphql::types::history::privacy(ctx),
        chrono::Utc::now().date_naive(),
    )
    .await?;
    Ok(Plan {
        outcome,
        effort_budget,
        hypothesis: hypothesis[..16].to_string(),
    })
}
