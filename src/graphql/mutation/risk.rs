//! Governed risk acceptance (issue 19): request (OPERATOR), approve and reject (an ADMIN who is
//! not the requester), withdraw (the requester or an ADMIN). Resolvers translate input, call one
//! service function (`service::workflow::risk`) and shape the payload.

use crate::error::{AppError, AppResult};
use crate::graphql::loaders::states;
use crate::graphql::types::risk::RiskAcceptance;
use crate::graphql::types::user_error::split;
use crate::graphql::types::{ImprovementAction, SecureScore, UserError};
use crate::graphql::{config, db, ids, viewer};
use crate::service::workflow::risk::{self, RequestInput};
use crate::service::workflow::{ActionRef, Resolved};
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

#[derive(Default)]
pub struct RiskMutation;

/// Asks to accept the risk of one action: name it by `actionId`, or by `tenantSlug` and
/// `controlId`.
#[derive(InputObject)]
pub struct RequestRiskAcceptanceInput {
    /// Global id of the action.
    pub action_id: Option<ID>,
    /// The tenant's slug (with `controlId`).
    pub tenant_slug: Option<String>,
    /// The control id (with `tenantSlug`).
    pub control_id: Option<String>,
    /// Why the risk is accepted (required; at most 10 000 characters).
    pub justification: String,
    /// Who owns the risk: a person or a team (required; at most 200 characters, one line).
    pub owner: String,
    /// When the acceptance ends and the action returns to TO_ADDRESS: in the future, at most
    /// `RISK_ACCEPTANCE_MAX_DAYS` (default 365) days ahead.
    pub review_by: DateTime<Utc>,
}

/// The result of `requestRiskAcceptance`.
#[derive(SimpleObject)]
pub struct RequestRiskAcceptancePayload {
    /// The request (REQUESTED), when it was recorded.
    pub risk_acceptance: Option<RiskAcceptance>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Approves a requested risk acceptance.
#[derive(InputObject)]
pub struct ApproveRiskAcceptanceInput {
    /// Global id of the risk acceptance (`RiskAcceptance.id`).
    pub request_id: ID,
    /// An optional comment on the decision.
    pub comment: Option<String>,
}

/// The result of `approveRiskAcceptance`.
#[derive(SimpleObject)]
pub struct ApproveRiskAcceptancePayload {
    /// The acceptance (APPROVED), when approved.
    pub risk_acceptance: Option<RiskAcceptance>,
    /// The action, now RISK_ACCEPTED until the acceptance's `reviewBy`.
    pub action: Option<ImprovementAction>,
    /// The tenant's score after the change.
    pub score: Option<SecureScore>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Rejects a requested risk acceptance.
#[derive(InputObject)]
pub struct RejectRiskAcceptanceInput {
    /// Global id of the risk acceptance.
    pub request_id: ID,
    /// Why it is rejected (required).
    pub comment: String,
}

/// Withdraws a requested risk acceptance.
#[derive(InputObject)]
pub struct WithdrawRiskAcceptanceInput {
    /// Global id of the risk acceptance.
    pub request_id: ID,
}

/// The result of `rejectRiskAcceptance` and `withdrawRiskAcceptance`.
#[derive(SimpleObject)]
pub struct RiskAcceptancePayload {
    /// The acceptance after the change.
    pub risk_acceptance: Option<RiskAcceptance>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

fn action_ref(input: &RequestRiskAcceptanceInput) -> AppResult<ActionRef> {
    match (&input.action_id, &input.tenant_slug, &input.control_id) {
        (Some(id), None, None) => ids::decode_i64(id, "ImprovementAction")
            .map(ActionRef::Id)
            .ok_or(AppError::NotFound("improvement action")),
        (None, Some(slug), Some(control)) => Ok(ActionRef::Control {
            tenant_slug: slug.clone(),
            control_id: control.clone(),
        }),
        _ => Err(AppError::bad_input(
            "actionId",
            "give either actionId, or tenantSlug and controlId",
        )),
    }
}

fn request_id(id: &ID) -> AppResult<i64> {
    ids::decode_i64(id, "RiskAcceptance").ok_or(AppError::NotFound("risk acceptance"))
}

/// The action and score after an approval, derived from the state the change started from.
async fn action_and_score(
    ctx: &Context<'_>,
    r: Resolved,
) -> AppResult<(Option<ImprovementAction>, SecureScore)> {
    let state = states(ctx)?
        .after_change(
            viewer(ctx)?,
            r.before.as_ref(),
            &r.tenant,
            std::slice::from_ref(&r.action),
        )
        .await?;
    Ok((
        ImprovementAction::new(state.clone(), r.action.id),
        SecureScore::new(state),
    ))
}

fn payload(result: AppResult<risk::Entry>) -> Result<RiskAcceptancePayload> {
    let (entry, user_errors) = split(result)?;
    Ok(RiskAcceptancePayload {
        risk_acceptance: entry.map(|e| RiskAcceptance::new(e, None)),
        user_errors,
    })
}

#[Object]
impl RiskMutation {
    /// Asks to accept the risk of an action (OPERATOR). Records a REQUESTED acceptance for an ADMIN
    /// other than the requester to approve; changes no status and no points. Refused for COMPLETED
    /// (`STATUS_LOCKED`) and DEVICE (`DEVICE_STATUS_MANAGED_EXTERNALLY`) actions, and with
    /// `CONFLICT` for an action already RISK_ACCEPTED or with a pending or active acceptance.
    async fn request_risk_acceptance(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `RequestRiskAcceptanceInput`.")] input: RequestRiskAcceptanceInput,
    ) -> Result<RequestRiskAcceptancePayload> {
        let max_days = config(ctx).risk_acceptance_max_days;
        let result = match action_ref(&input) {
            Ok(action) => {
                let request = RequestInput {
                    action,
                    justification: input.justification,
                    owner: input.owner,
                    review_by: input.review_by,
                };
                risk::request(db(ctx), viewer(ctx)?, request, max_days, Utc::now()).await
            }
            Err(e) => Err(e),
        };
        let (entry, user_errors) = split(result)?;
        Ok(RequestRiskAcceptancePayload {
            risk_acceptance: entry.map(|e| RiskAcceptance::new(e, None)),
            user_errors,
        })
    }

    /// Approves a REQUESTED risk acceptance (ADMIN, not its requester: `SELF_APPROVAL`): the action
    /// becomes RISK_ACCEPTED until the acceptance's `reviewBy` (a STATUS_CHANGED event naming the
    /// acceptance and the approver). A review date that passed meanwhile is `BAD_USER_INPUT`; an
    /// action that became RISK_ACCEPTED or COMPLETED meanwhile is refused.
    async fn approve_risk_acceptance(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `ApproveRiskAcceptanceInput`.")] input: ApproveRiskAcceptanceInput,
    ) -> Result<ApproveRiskAcceptancePayload> {
        let result = match request_id(&input.request_id) {
            Ok(id) => risk::approve(db(ctx), viewer(ctx)?, id, input.comment, Utc::now()).await,
            Err(e) => Err(e),
        };
        let (done, user_errors) = split(result)?;
        let Some((entry, resolved)) = done else {
            return Ok(ApproveRiskAcceptancePayload {
                risk_acceptance: None,
                action: None,
                score: None,
                user_errors,
            });
        };
        let (action, score) = action_and_score(ctx, resolved).await?;
        Ok(ApproveRiskAcceptancePayload {
            risk_acceptance: Some(RiskAcceptance::new(entry, None)),
            action,
            score: Some(score),
            user_errors,
        })
    }

    /// Rejects a REQUESTED risk acceptance (ADMIN, not its requester: `SELF_APPROVAL`), with a
    /// required comment. Nothing else changes.
    async fn reject_risk_acceptance(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `RejectRiskAcceptanceInput`.")] input: RejectRiskAcceptanceInput,
    ) -> Result<RiskAcceptancePayload> {
        let result = match request_id(&input.request_id) {
            Ok(id) => risk::reject(db(ctx), viewer(ctx)?, id, input.comment, Utc::now()).await,
            Err(e) => Err(e),
        };
        payload(result)
    }

    /// Withdraws a REQUESTED risk acceptance (its requester, or an ADMIN).
    async fn withdraw_risk_acceptance(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `WithdrawRiskAcceptanceInput`.")]
        input: WithdrawRiskAcceptanceInput,
    ) -> Result<RiskAcceptancePayload> {
        let result = match request_id(&input.request_id) {
            Ok(id) => risk::withdraw(db(ctx), viewer(ctx)?, id, Utc::now()).await,
            Err(e) => Err(e),
        };
        payload(result)
    }
}
