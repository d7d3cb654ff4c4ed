//! An improvement action as the API shows it: the whole "flyout" of SPEC §5 (what it is, what it
//! takes, licensing, points and rank, status and progress, tags and notes), with its tags and
//! notes.
//!
//! An `ImprovementAction` is a view into a tenant state computed for the request, so every
//! action of a page shares one load; tags and notes come through the per-request loaders, one
//! query per page.

use crate::domain::points::Points;
use crate::graphql::ids;
use crate::graphql::loaders::loaders;
use crate::graphql::types::enums::{ActionType, Category, Level, Status, Tier};
use crate::graphql::types::{Control, present};
use crate::service::state::actions::NoteWithAuthor;
use crate::service::state::{ActionState, TenantState};
use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::tag;
use rust_decimal::prelude::ToPrimitive;
use std::sync::Arc;

/// One control as it stands for one tenant.
pub struct ImprovementAction {
    state: Arc<TenantState>,
    index: usize,
}

impl ImprovementAction {
    /// The action with row id `action_id` of a tenant state; `None` when the state has no such
    /// action (e.g. it belongs to another tenant).
    pub fn new(state: Arc<TenantState>, action_id: i64) -> Option<ImprovementAction> {
        let index = state.position_of(action_id)?;
        Some(ImprovementAction { state, index })
    }

    /// The action at a position of the state's list. Positions must come from the same state
    /// (an out-of-range one would make every field panic).
    pub(crate) fn at(state: Arc<TenantState>, index: usize) -> ImprovementAction {
        debug_assert!(index < state.actions.len(), "position taken from another state");
        ImprovementAction { state, index }
    }

    fn a(&self) -> &ActionState {
        &self.state.actions[self.index]
    }
}

/// One control as it stands in one tenant: its status, progress and points. READERs read it;
/// OPERATORs change it.
#[Object]
impl ImprovementAction {
    /// Global object id.
    pub async fn id(&self) -> ID {
        ids::encode("ImprovementAction", self.a().row.id)
    }
    /// Stable id of the control, e.g. `AdminMFAV2`.
    async fn control_id(&self) -> &str {
        &self.a().control.id
    }
    /// The catalog control behind this action.
    async fn control(&self) -> Control {
        Control(entity::control::Model::clone(&self.a().control))
    }
    /// Short title of the control.
    async fn title(&self) -> &str {
        &self.a().control.title
    }
    /// The category it scores in.
    async fn category(&self) -> Category {
        self.a().scored.category.into()
    }
    /// Product family, e.g. `AzureAD`.
    async fn service(&self) -> &str {
        &self.a().control.service
    }
    /// Threats it mitigates, as the vendor names them.
    async fn threats(&self) -> &[String] {
        &self.a().control.threats.0
    }
    /// Complexity tier.
    async fn tier(&self) -> Tier {
        self.a().scored.tier.into()
    }
    /// How much users notice it.
    async fn user_impact(&self) -> Level {
        self.a().scored.user_impact.into()
    }
    /// What users notice when this is implemented.
    async fn user_impact_description(&self) -> &str {
        &self.a().control.user_impact_description
    }
    /// What implementing it costs.
    async fn implementation_cost(&self) -> Level {
        self.a().scored.implementation_cost.into()
    }
    /// Kind of action.
    async fn action_type(&self) -> ActionType {
        self.a().control.action_type.into()
    }
    /// Users the action affects.
    async fn users_affected(&self) -> i64 {
        self.a().row.users_affected
    }
    /// Where the tenant stands on it.
    async fn status(&self) -> Status {
        self.a().scored.status.into()
    }
    /// Units implemented (of `total`).
    async fn implemented(&self) -> i64 {
        self.a().row.implemented
    }
    /// Units to implement in all.
    async fn total(&self) -> i64 {
        self.a().row.total
    }
    /// `implemented / total`, from 0 to 1 (0 when `total` is 0), to 4 decimal places.
    async fn progress(&self) -> f64 {
        let a = self.a();
        crate::domain::progress(a.row.implemented, a.row.total)
            .round_dp(4)
            .to_f64()
            .unwrap_or(0.0)
    }
    /// The vendor's text about the current implementation, when known.
    async fn implementation_status(&self) -> Option<&str> {
        self.a().row.implementation_status.as_deref()
    }
    /// What must be in place first (licences, roles, other settings).
    async fn prerequisites(&self) -> &str {
        &self.a().control.prerequisites
    }
    /// Whether the tenant may implement it: no licence needed, or a qualifying unexpired licence
    /// is held.
    async fn licensed(&self) -> bool {
        self.a().licensing.licensed
    }
    /// Affected users beyond the seats of the best qualifying licence (all of them when none
    /// qualifies; 0 when no licence is needed).
    async fn seat_shortfall(&self) -> i64 {
        self.a().licensing.seat_shortfall
    }
    /// Licence plans of which any one makes the action licensed; empty when none is needed.
    async fn required_license_plans(&self) -> &[String] {
        &self.a().control.required_license_plans.0
    }
    /// Implementation steps.
    async fn remediation(&self) -> &str {
        &self.a().control.remediation
    }
    /// Documentation links.
    async fn learn_more_urls(&self) -> Vec<&str> {
        crate::domain::sanitize::safe_urls(&self.a().control.learn_more_urls.0)
    }
    /// The "Manage" deep link.
    async fn action_url(&self) -> Option<&str> {
        self.a()
            .control
            .action_url
            .as_deref()
            .and_then(crate::domain::sanitize::safe_url)
    }
    /// Points the action is worth (0 when its control is deprecated).
    async fn max_points(&self) -> f64 {
        let a = self.a();
        if a.control.deprecated {
            0.0
        } else {
            present(Points::from_storage(a.control.max_points))
        }
    }
    /// Points achieved: `maxPoints` when COMPLETED or RESOLVED_*, 0 when RISK_ACCEPTED, `maxPoints × implemented / total` when TO_ADDRESS or PLANNED; rounded to 2 places from the exact value.
    async fn points_achieved(&self) -> f64 {
        present(&self.a().achieved)
    }
    /// The exact points achieved as a reduced fraction or integer (partial credit
    /// `max × implemented / total` is rational), e.g. `"10/3"`.
    async fn points_achieved_exact(&self) -> String {
        self.a().achieved.to_exact_string()
    }
    /// `maxPoints − pointsAchieved`.
    async fn points_remaining(&self) -> f64 {
        present(&self.a().points_remaining)
    }
    /// Percentage points the tenant's score gains when this action is finished.
    async fn score_impact(&self) -> f64 {
        present(&self.a().score_impact)
    }
    /// 1 = do this first; `null` when not ranked (nothing left to gain, or not TO_ADDRESS or
    /// PLANNED).
    async fn rank(&self) -> Option<u32> {
        self.a().rank
    }
    /// When a RISK_ACCEPTED or RESOLVED_* status is due for review (it then returns to
    /// TO_ADDRESS).
    async fn review_by(&self) -> Option<DateTime<Utc>> {
        self.a().row.review_by
    }
    /// Optimistic-concurrency version: pass it as `expectedVersion` when changing the action.
    async fn version(&self) -> i64 {
        self.a().row.version
    }
    /// When the status last changed.
    async fn status_changed_at(&self) -> DateTime<Utc> {
        self.a().row.status_changed_at
    }
    /// When anything about the action last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.a().row.updated_at
    }
    /// What organisations like this tenant did about the same control: the shares of a cohort
    /// (default `ALL_TENANTS`; the cohorts of `comparisons`) that completed, resolved, planned or
    /// risk-accepted it at the end of the latest day with figures. Private like comparisons:
    /// tenants you can read never count, cells (industry × seat band × licence tier) with fewer
    /// than k others are left out and listed, and the counts carry Laplace noise fixed per cell,
    /// day and control; withheld with the reason when nothing is left.
    async fn peer_adoption(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cohort (default: ALL_TENANTS).")] cohort: Option<
            crate::graphql::types::history::CohortInput,
        >,
    ) -> Result<crate::graphql::types::peers::PeerAdoption> {
        let spec = crate::graphql::types::peers::spec_of(cohort);
        let answer = crate::graphql::types::peers::answer(ctx, &self.state, spec).await?;
        Ok(crate::graphql::types::peers::PeerAdoption::of(
            &answer,
            &self.a().control.id,
        ))
    }
    /// Tags on the action, by name.
    async fn tags(&self, ctx: &Context<'_>) -> Result<Vec<Tag>> {
        let id = self.a().row.id;
        let tags = match &self.state.tags {
            Some(all) => all.get(&id).cloned(),
            None => loaders(ctx)?.tags.load_one(id).await?,
        };
        Ok(tags.unwrap_or_default().into_iter().map(Tag).collect())
    }
    /// The action's history (every change, newest first).
    async fn history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Number of events to return (1 to 100; default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor (`endCursor` of the previous page) to continue after.")] after: Option<
            String,
        >,
    ) -> Result<
        async_graphql::connection::Connection<
            String,
            crate::graphql::types::workflow::ActionEvent,
            crate::graphql::pagination::TotalCount,
        >,
    > {
        let args = crate::graphql::pagination::PageArgs::new(first, after, None, None)?;
        let filter = crate::service::workflow::events::EventFilter {
            action_id: Some(self.a().row.id),
            ..Default::default()
        };
        let viewer = crate::graphql::viewer(ctx)?;
        let rows = crate::service::workflow::events::list(
            crate::graphql::db(ctx),
            viewer,
            self.a().row.tenant_id,
            &filter,
        )
        .await?;
        Ok(crate::graphql::pagination::paginate(
            rows,
            &args,
            |(event, control_id)| crate::graphql::types::workflow::ActionEvent { event, control_id },
        ))
    }
    /// Share links to this action (never their tokens).
    async fn share_links(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<crate::graphql::types::workflow::ShareLink>> {
        let viewer = crate::graphql::viewer(ctx)?;
        let links = crate::service::collab::share::list(
            crate::graphql::db(ctx),
            viewer,
            self.a().row.tenant_id,
            self.a().row.id,
        )
        .await?;
        Ok(links
            .into_iter()
            .map(crate::graphql::types::workflow::ShareLink)
            .collect())
    }
    /// Notes on the action, newest first.
    async fn notes(&self, ctx: &Context<'_>) -> Result<Vec<Note>> {
        let notes = loaders(ctx)?.notes.load_one(self.a().row.id).await?;
        Ok(notes.unwrap_or_default().into_iter().map(Note).collect())
    }
}

/// A tenant-scoped label on actions.
pub struct Tag(pub tag::Model);

/// A tenant's label for grouping its actions (e.g. `Q3 plan`). READERs read tags; OPERATORs manage
/// them.
#[Object]
impl Tag {
    /// Global object id.
    pub async fn id(&self) -> ID {
        ids::encode("Tag", self.0.id)
    }
    /// 1 to 64 characters, unique (case-insensitively) in the tenant.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Display colour, e.g. `#1f77b4`.
    async fn color(&self) -> &str {
        &self.0.color
    }
    /// When the tag was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the tag was last renamed or recoloured.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A free-text note on an action.
pub struct Note(pub NoteWithAuthor);

/// A note on an improvement action. READERs read notes; OPERATORs write them.
#[Object]
impl Note {
    /// Global object id.
    pub async fn id(&self) -> ID {
        ids::encode("Note", self.0.note.id)
    }
    /// The text (1 to 10,000 characters).
    async fn body(&self) -> &str {
        &self.0.note.body
    }
    /// Name of the principal who wrote it (`null` when it no longer exists).
    async fn author_name(&self) -> Option<&str> {
        self.0.author_name.as_deref()
    }
    /// When it was written.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.note.created_at
    }
    /// Last edit (equal to `createdAt` when never edited).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.note.updated_at
    }
}
