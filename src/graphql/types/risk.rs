//! Governed risk acceptance as the API shows it (issue 19): one `RiskAcceptance` per request,
//! the entries of `Tenant.riskRegister`, with who asked, who owns the risk, who approved it and
//! when it ends, and the points at stake read from the tenant's state.

use crate::graphql::loaders::tenant_state;
use crate::graphql::types::{ImprovementAction, present};
use crate::graphql::{db, ids, viewer};
use crate::service;
use crate::service::state::TenantState;
use crate::service::workflow::risk::{Entry, days_left};
use async_graphql::{Context, Enum, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use entity::risk_acceptance::RiskAcceptanceState as S;
use std::sync::Arc;

/// Where a risk acceptance stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "S")]
pub enum RiskAcceptanceState {
    /// Waits for an ADMIN other than the requester; changes no status and no points.
    Requested,
    /// Approved: the action is RISK_ACCEPTED until `reviewBy`.
    Approved,
    /// An ADMIN refused it (`decisionComment` says why).
    Rejected,
    /// Withdrawn before a decision.
    Withdrawn,
    /// The review date passed: the action went back to TO_ADDRESS (an EXPIRED event).
    Expired,
    /// The action left RISK_ACCEPTED before the review date through another change (a status
    /// change, an undo, completion, an import).
    Ended,
}

/// Filter of `Tenant.riskRegister`; conditions combine with AND.
#[derive(InputObject, Default)]
pub struct RiskRegisterFilter {
    /// Any of these states. Default: APPROVED (EXPIRED when `expired: true`).
    pub state: Option<Vec<RiskAcceptanceState>>,
    /// Only APPROVED acceptances whose review date is at most this many days ahead (0 to 3650).
    pub expiring_within_days: Option<i64>,
    /// `true`: only EXPIRED acceptances; `false`: no EXPIRED ones.
    pub expired: Option<bool>,
}

impl From<RiskRegisterFilter> for service::workflow::risk::RegisterFilter {
    fn from(f: RiskRegisterFilter) -> Self {
        service::workflow::risk::RegisterFilter {
            states: f.state.map(|v| v.into_iter().map(Into::into).collect()),
            expiring_within_days: f.expiring_within_days,
            expired: f.expired,
        }
    }
}

/// One risk acceptance, with the state of its tenant when the caller already has it.
pub struct RiskAcceptance {
    pub entry: Entry,
    pub state: Option<Arc<TenantState>>,
}

impl RiskAcceptance {
    pub fn new(entry: Entry, state: Option<Arc<TenantState>>) -> Self {
        RiskAcceptance { entry, state }
    }

    /// The tenant state this entry's points come from (loaded once per request and tenant).
    async fn tenant_state(&self, ctx: &Context<'_>) -> Result<Option<Arc<TenantState>>> {
        if let Some(s) = &self.state {
            return Ok(Some(s.clone()));
        }
        let tenants =
            service::access::tenants::visible_by_ids(db(ctx), viewer(ctx)?, &[self.entry.row.tenant_id])
                .await?;
        match tenants.first() {
            Some(t) => Ok(Some(tenant_state(ctx, t).await?)),
            None => Ok(None),
        }
    }

    /// Whether it was approved (it is APPROVED, or was until it expired or ended).
    fn approved(&self) -> bool {
        matches!(self.entry.row.state, S::Approved | S::Expired | S::Ended)
    }
}

/// A request to accept the risk of one improvement action, and what became of it: the entries
/// of a tenant's risk register.
#[Object]
impl RiskAcceptance {
    /// Global object id.
    pub async fn id(&self) -> ID {
        ids::encode("RiskAcceptance", self.entry.row.id)
    }
    /// Where it stands.
    async fn state(&self) -> RiskAcceptanceState {
        self.entry.row.state.into()
    }
    /// The action whose risk is accepted; `null` while its control does not apply to the tenant.
    async fn action(&self, ctx: &Context<'_>) -> Result<Option<ImprovementAction>> {
        Ok(self
            .tenant_state(ctx)
            .await?
            .and_then(|s| ImprovementAction::new(s, self.entry.row.action_id)))
    }
    /// The control id of the action, e.g. `AdminMFAV2`.
    async fn control_id(&self) -> &str {
        &self.entry.control.id
    }
    /// The control's title.
    async fn control_title(&self) -> &str {
        &self.entry.control.title
    }
    /// Why the risk is accepted.
    async fn justification(&self) -> &str {
        &self.entry.row.justification
    }
    /// Who owns the risk (a person or a team, as the requester wrote it).
    async fn owner(&self) -> &str {
        &self.entry.row.owner
    }
    /// The name of the principal who requested it.
    async fn requested_by(&self) -> &str {
        &self.entry.row.requested_by_name
    }
    /// When it was requested.
    async fn requested_at(&self) -> DateTime<Utc> {
        self.entry.row.created_at
    }
    /// The name of the ADMIN who approved it; `null` unless it was approved.
    async fn approved_by(&self) -> Option<&str> {
        self.approved()
            .then_some(self.entry.row.decided_by_name.as_deref())
            .flatten()
    }
    /// When it was approved; `null` unless it was approved.
    async fn approved_at(&self) -> Option<DateTime<Utc>> {
        self.approved().then_some(self.entry.row.decided_at).flatten()
    }
    /// Whole days since approval; `null` unless it was approved.
    async fn age_days(&self) -> Option<i64> {
        self.approved()
            .then_some(self.entry.row.decided_at)
            .flatten()
            .map(|at| (Utc::now() - at).num_days())
    }
    /// Who approved, rejected or withdrew it.
    async fn decided_by(&self) -> Option<&str> {
        self.entry.row.decided_by_name.as_deref()
    }
    /// When it was approved, rejected or withdrawn.
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.entry.row.decided_at
    }
    /// The comment of the decision (required for a rejection).
    async fn decision_comment(&self) -> Option<&str> {
        self.entry.row.decision_comment.as_deref()
    }
    /// When the acceptance ends: the action returns to TO_ADDRESS then (at most
    /// `RISK_ACCEPTANCE_MAX_DAYS` after the request).
    async fn review_by(&self) -> DateTime<Utc> {
        self.entry.row.review_by
    }
    /// Whole days until `reviewBy`, rounded up; 0 or negative once passed.
    async fn days_left(&self) -> i64 {
        days_left(self.entry.row.review_by, Utc::now())
    }
    /// When an approved acceptance expired or ended.
    async fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.entry.row.ended_at
    }
    /// The points the tenant would gain by completing the action: its `pointsRemaining`
    /// (`maxPoints − pointsAchieved`, so all of `maxPoints` while RISK_ACCEPTED); `null` while its
    /// control does not apply to the tenant.
    async fn points_at_stake(&self, ctx: &Context<'_>) -> Result<Option<f64>> {
        Ok(self.at_stake(ctx).await?.map(|p| present(&p)))
    }
    /// `pointsAtStake` exact, as a reduced fraction or integer (e.g. `"10/3"`).
    async fn points_at_stake_exact(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        Ok(self.at_stake(ctx).await?.map(|p| p.to_exact_string()))
    }
    /// The smallest reminder threshold (one of the tenant's `reminderDays` before `reviewBy`) already sent as a
    /// `risk_acceptance.expiring` alert; `null` before the first.
    async fn last_reminder_days(&self) -> Option<i32> {
        self.entry.row.last_reminder_days
    }
    /// How many `risk_acceptance.expiring` reminders were sent (each threshold at most once).
    async fn reminders_sent(&self) -> i32 {
        self.entry.row.reminders_sent
    }
}

impl RiskAcceptance {
    async fn at_stake(&self, ctx: &Context<'_>) -> Result<Option<crate::domain::points::Points>> {
        let Some(state) = self.tenant_state(ctx).await? else {
            return Ok(None);
        };
        Ok(state
            .position_of(self.entry.row.action_id)
            .map(|i| state.actions[i].points_remaining.clone()))
    }
}
