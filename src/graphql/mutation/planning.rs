//! `applyPlan`: marks a plan's actions `PLANNED` in one transaction.

use crate::error::AppError;
use crate::graphql::loaders::states;
use crate::graphql::types::planning::{ApplyPlanInput, ApplyPlanPayload, effort_of};
use crate::graphql::types::user_error::{UserErrorCode, split};
use crate::graphql::types::{ImprovementAction, SecureScore, Tenant, UserError};
use crate::graphql::{db, viewer};
use crate::service::planning::{self, Selection};
use async_graphql::{Context, Object, Result};
use chrono::Utc;

#[derive(Default)]
pub struct PlanningMutation;

/// The user error of a failing item of a plan (`["input", "plan" | "actions", "<i>", …]`).
fn item_error(list: &str, index: usize, e: AppError) -> Result<UserError> {
    let Some(code) = UserErrorCode::of(&e) else {
        return Err(e.into());
    };
    let mut field = vec!["input".to_string(), list.to_string(), index.to_string()];
    if let AppError::BadUserInput { field: f, .. } = &e {
        field.extend(f.iter().cloned());
    }
    Ok(UserError {
        field,
        message: e.message(),
        code,
    })
}

#[Object]
impl PlanningMutation {
    /// Marks the actions of a plan `PLANNED` (OPERATOR), all or none, in one transaction: the
    /// plan `Tenant.plan` gives for `plan` (computed again now), or exactly the `actions` listed.
    /// Actions already `PLANNED` are no-ops; DEVICE actions are planned through a `GLOBAL`
    /// `PLANNED_REMEDIATION` exception (their status can't be set by hand). Any failing action (a
    /// stale `expectedVersion`, one that is not open, one named twice) writes nothing and is
    /// named in `userErrors`. Another tenant's slug is `NOT_FOUND`; a READER is `FORBIDDEN`.
    async fn apply_plan(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `ApplyPlanInput`.")] input: ApplyPlanInput,
    ) -> Result<ApplyPlanPayload> {
        let viewer = viewer(ctx)?;
        let (selection, list) = match (input.plan, input.actions) {
            (Some(plan), None) => (Selection::Plan(plan.into()), "plan"),
            (None, Some(actions)) => (
                Selection::Actions(
                    actions
                        .into_iter()
                        .map(|a| (a.control_id, a.expected_version))
                        .collect(),
                ),
                "actions",
            ),
            _ => {
                let (_, errors) = split::<()>(Err(AppError::bad_input(
                    "plan",
                    "give exactly one of plan and actions",
                )))?;
                return Ok(ApplyPlanPayload::refused(errors));
            }
        };
        let states = states(ctx)?;
        let result = planning::apply_plan(
            db(ctx),
            states,
            viewer,
            &input.tenant_slug,
            selection,
            input.comment,
            Utc::now(),
        )
        .await;
        let (outcome, user_errors) = split(result)?;
        let applied = match outcome {
            None => return Ok(ApplyPlanPayload::refused(user_errors)),
            Some(Err(errors)) => {
                let errors = errors
                    .into_iter()
                    .map(|e| item_error(list, e.index, e.error))
                    .collect::<Result<_>>()?;
                return Ok(ApplyPlanPayload::refused(errors));
            }
            Some(Ok(applied)) => applied,
        };
        // The tenant as the change left it (or as it is, after a plan with nothing to change).
        let tenant = crate::service::access::tenants::by_slug(db(ctx), viewer, &input.tenant_slug).await?;
        let state = states.for_viewer(viewer, &tenant, None).await?;
        let ids: Vec<i64> = applied.applied.iter().map(|a| a.resolved.action.id).collect();
        let changed_actions: Vec<ImprovementAction> = applied
            .applied
            .iter()
            .filter(|a| a.changed)
            .filter_map(|a| ImprovementAction::new(state.clone(), a.resolved.action.id))
            .collect();
        Ok(ApplyPlanPayload {
            actions: ids
                .iter()
                .filter_map(|id| ImprovementAction::new(state.clone(), *id))
                .collect(),
            changed: !changed_actions.is_empty(),
            changed_actions,
            total_effort: Some(effort_of(&state, &ids)),
            score: Some(SecureScore::new(state.clone())),
            tenant: Some(Tenant(state.tenant.clone())),
            user_errors,
        })
    }
}
