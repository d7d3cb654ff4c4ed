//! The tenant and what hangs directly off it.

use crate::graphql::loaders::tenant_state;
use crate::graphql::types::groups::resolve;
use crate::graphql::types::history;
use crate::graphql::types::score_change;
use crate::graphql::types::{
    ApiToken, AuditEntry, GroupBy, ImprovementAction, ImprovementActionFilterInput, ImprovementActionGroup,
    ImprovementActionOrderInput, RoleGrant, SecureScore, WhatIfChangeInput,
};
use crate::graphql::{db, ids, pagination, viewer};
use crate::service;
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::{tenant, tenant_license};

/// One organisation.
pub struct Tenant(pub tenant::Model);

/// An organisation whose secure score is tracked. Every field needs a role on it (READER and up)
/// unless it says otherwise.
#[Object]
impl Tenant {
    /// Global object id.
    pub async fn id(&self) -> ID {
        ids::encode("Tenant", self.0.id)
    }
    /// Unique, URL-safe name, e.g. `contoso`.
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Industry code, e.g. `finance`.
    async fn industry(&self) -> &str {
        &self.0.industry
    }
    /// Licensed users.
    async fn seat_count(&self) -> i64 {
        self.0.seat_count
    }
    /// Users active recently.
    async fn active_user_count(&self) -> i64 {
        self.0.active_user_count
    }
    /// Which controls apply: the service catalog's by `enabledServices`, or exactly those of the
    /// latest Microsoft Graph export (set by the first import; an ADMIN can switch it back with
    /// `updateTenant`).
    async fn catalog_source(&self) -> crate::graphql::types::enums::CatalogSource {
        self.0.catalog_source.into()
    }
    /// The tenant's own control profiles (from its Microsoft Graph imports), by id: each
    /// overrides the service catalog's control of the same id for this tenant only, and no other
    /// tenant sees it. Under the `MICROSOFT_GRAPH` catalog source, the profiles of the latest
    /// export are the tenant's applicable controls.
    async fn control_profiles(&self, ctx: &Context<'_>) -> Result<Vec<crate::graphql::types::Control>> {
        let rows = service::state::controls::profiles(db(ctx), viewer(ctx)?, self.0.id).await?;
        Ok(rows.into_iter().map(crate::graphql::types::Control).collect())
    }
    /// Product families the tenant uses (`AzureAD`, `EXO`, `MDO`, …).
    async fn enabled_services(&self) -> &[String] {
        &self.0.enabled_services.0
    }
    /// When the tenant was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the tenant's settings last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The tenant's scheduled Microsoft Graph sync: its settings and the outcome of the last
    /// run (`lastSyncAt`, `lastStatus`, `lastError`); `null` when none was configured. Any role
    /// may read it; `configureGraphSync` and `runGraphSyncNow` need ADMIN.
    async fn graph_sync(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<crate::graphql::types::import::GraphSyncSettings>> {
        Ok(
            crate::service::graph::sync::status(db(ctx), viewer(ctx)?, self.0.id)
                .await?
                .map(Into::into),
        )
    }
    /// The tenant's webhook endpoints, oldest first (ADMIN; other roles get `FORBIDDEN`).
    async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<crate::graphql::types::webhooks::WebhookEndpoint>> {
        let rows = service::webhooks::endpoints(db(ctx), viewer(ctx)?, self.0.id).await?;
        Ok(rows
            .into_iter()
            .map(crate::graphql::types::webhooks::WebhookEndpoint)
            .collect())
    }
    /// The licences the tenant holds.
    async fn licenses(&self, ctx: &Context<'_>) -> Result<Vec<TenantLicense>> {
        let rows = service::access::tenants::licenses(db(ctx), viewer(ctx)?, self.0.id).await?;
        Ok(rows.into_iter().map(TenantLicense).collect())
    }
    /// The score now: every view overall and per category.
    async fn secure_score(&self, ctx: &Context<'_>) -> Result<SecureScore> {
        resolve::secure_score(ctx, &self.0).await
    }
    /// The score views that would result from hypothetical statuses or progress of some actions;
    /// writes nothing (OPERATOR).
    async fn what_if(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The hypothetical changes, at most one per action.")] changes: Vec<
            WhatIfChangeInput,
        >,
    ) -> Result<SecureScore> {
        resolve::what_if(ctx, &self.0, changes).await
    }
    /// The tenant's improvement actions, filtered and ordered (default: by rank, without
    /// RISK_ACCEPTED ones).
    #[graphql(complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn improvement_actions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which actions (default: all but RISK_ACCEPTED ones).")] filter: Option<
            ImprovementActionFilterInput,
        >,
        #[graphql(desc = "The order (default: by rank).")] order_by: Option<ImprovementActionOrderInput>,
        #[graphql(
            desc = "Number of actions from the start (1 to 100; default 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "Cursor (`endCursor` of the previous page) to continue after.")] after: Option<
            String,
        >,
        #[graphql(desc = "Number of actions from the end (1 to 100).")] last: Option<i32>,
        #[graphql(desc = "Cursor (`startCursor` of the next page) to continue before.")] before: Option<
            String,
        >,
    ) -> Result<Connection<String, ImprovementAction, pagination::TotalCount>> {
        resolve::improvement_actions(ctx, &self.0, filter, order_by, first, after, last, before).await
    }
    /// Buckets of the (filtered) improvement actions with counts and points.
    async fn improvement_action_groups(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to bucket the actions by.")] group_by: GroupBy,
        #[graphql(desc = "Which actions to count (default: all but RISK_ACCEPTED ones).")] filter: Option<
            ImprovementActionFilterInput,
        >,
    ) -> Result<Vec<ImprovementActionGroup>> {
        resolve::improvement_action_groups(ctx, &self.0, group_by, filter).await
    }
    /// One improvement action by control id; `null` when the tenant has none for it.
    async fn improvement_action(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The control id, e.g. `AdminMFAV2`.")] control_id: String,
    ) -> Result<Option<ImprovementAction>> {
        resolve::improvement_action(ctx, &self.0, &control_id).await
    }
    /// API tokens of the principals holding a role on this tenant, newest first, including
    /// revoked and expired ones (ADMIN or SERVICE_ADMIN; secrets are never listed). A tenant
    /// ADMIN sees only the tokens of principals whose roles are all on tenants it administers:
    /// an MSP's tokens are not listed (remove its grant with `removeTenantGrant` instead).
    async fn api_tokens(&self, ctx: &Context<'_>) -> Result<Vec<ApiToken>> {
        let rows = service::access::api_tokens(db(ctx), viewer(ctx)?, self.0.id).await?;
        Ok(rows.into_iter().map(ApiToken).collect())
    }
    /// The principals holding a role on this tenant, by name (ADMIN or SERVICE_ADMIN). Says
    /// nothing about their roles or tokens on other tenants.
    async fn grants(&self, ctx: &Context<'_>) -> Result<Vec<RoleGrant>> {
        let rows = service::access::grants(db(ctx), viewer(ctx)?, self.0.id).await?;
        Ok(rows.into_iter().map(RoleGrant).collect())
    }
    /// The tenant's tags, by name.
    async fn tags(&self, ctx: &Context<'_>) -> Result<Vec<crate::graphql::types::Tag>> {
        let tags = service::collab::tags::list(db(ctx), viewer(ctx)?, self.0.id).await?;
        Ok(tags.into_iter().map(crate::graphql::types::Tag).collect())
    }
    /// What changed on the tenant's actions, newest first: who, when, status and points before
    /// and after. `from` is inclusive, `to` exclusive.
    #[allow(clippy::too_many_arguments)]
    async fn score_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Earliest time (inclusive); no limit when absent.")] from: Option<DateTime<Utc>>,
        #[graphql(desc = "Latest time (exclusive); no limit when absent.")] to: Option<DateTime<Utc>>,
        #[graphql(desc = "Which events (default: all).")] filter: Option<
            crate::graphql::types::workflow::EventFilterInput,
        >,
        #[graphql(
            desc = "Number of events from the start (1 to 100; default 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "Cursor (`endCursor` of the previous page) to continue after.")] after: Option<
            String,
        >,
        #[graphql(desc = "Number of events from the end (1 to 100).")] last: Option<i32>,
        #[graphql(desc = "Cursor (`startCursor` of the next page) to continue before.")] before: Option<
            String,
        >,
    ) -> Result<Connection<String, crate::graphql::types::workflow::ActionEvent, pagination::TotalCount>>
    {
        let args = pagination::PageArgs::new(first, after, last, before)?;
        let f = filter.unwrap_or_default();
        let filter = service::workflow::events::EventFilter {
            from,
            to,
            kinds: f.kinds.unwrap_or_default().into_iter().map(Into::into).collect(),
            categories: f
                .categories
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            control_ids: f.control_ids.unwrap_or_default(),
            action_id: None,
        };
        let rows = service::workflow::events::list(db(ctx), viewer(ctx)?, self.0.id, &filter).await?;
        Ok(pagination::paginate(rows, &args, |(event, control_id)| {
            crate::graphql::types::workflow::ActionEvent { event, control_id }
        }))
    }
    /// The daily score series from `from` to `to` (inclusive, at most 400 days): stored
    /// snapshots for past days, today's live score when the range includes today. Days without
    /// a snapshot are left out.
    async fn score_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "First day (inclusive, UTC); default: 29 days before `to` (30 days in all).")] from: Option<
            history::Date,
        >,
        #[graphql(desc = "Last day (inclusive, UTC; default: today); at most 400 days after `from`.")]
        to: Option<history::Date>,
    ) -> Result<Vec<history::ScoreSnapshot>> {
        let (from, to) = history::default_range(from, to);
        let live = tenant_state(ctx, &self.0).await?;
        let series = service::history::snapshots::history(
            db(ctx),
            viewer(ctx)?,
            &live,
            from.0,
            to.0,
            Utc::now().date_naive(),
        )
        .await?;
        Ok(series
            .into_iter()
            .map(|score| history::ScoreSnapshot {
                tenant_id: self.0.id,
                score,
            })
            .collect())
    }
    /// Points achieved and regressed, net change, regressions and risk acceptances per day, and
    /// the regressed actions, from `from` to `to` (inclusive).
    async fn trends(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "First day (inclusive, UTC); default: 29 days before `to` (30 days in all).")] from: Option<
            history::Date,
        >,
        #[graphql(desc = "Last day (inclusive, UTC; default: today).")] to: Option<history::Date>,
    ) -> Result<history::ScoreTrends> {
        let (from, to) = history::default_range(from, to);
        let t = service::history::trends::trends(db(ctx), viewer(ctx)?, self.0.id, from.0, to.0).await?;
        Ok(t.into())
    }
    /// Why a score view moved between the end of `from` and the end of `to`: the change as
    /// `scoreHistory` shows it (stored or imported snapshots, today's live score), split into
    /// causes whose point deltas add up exactly to it, each with the actions and events behind
    /// it, and the percentage change split into what more points and what a bigger or smaller
    /// maximum did. Reconstructed from the event log; what the log cannot explain (e.g. vendor
    /// totals of imported days) is one `UNATTRIBUTED` cause.
    async fn score_change(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "First day (inclusive, UTC; it needs a day `scoreHistory` shows); default: the first day the history shows within the 30 days up to `to`."
        )]
        from: Option<history::Date>,
        #[graphql(
            desc = "Last day (UTC, at most today; it needs a day `scoreHistory` shows); default: today."
        )]
        to: Option<history::Date>,
        #[graphql(
            desc = "The view whose change is explained (default: CURRENT).",
            default_with = "score_change::ScoreViewKind::Current"
        )]
        view: score_change::ScoreViewKind,
    ) -> Result<score_change::ScoreChange> {
        let live = tenant_state(ctx, &self.0).await?;
        let query = service::history::attribution::ChangeQuery {
            from: from.map(|d| d.0),
            to: to.map(|d| d.0),
            view: view.into(),
        };
        let change = service::history::attribution::score_change(
            db(ctx),
            viewer(ctx)?,
            &live,
            query,
            crate::graphql::config(ctx).snapshot_retention_days,
            Utc::now(),
        )
        .await?;
        Ok(score_change::ScoreChange::new(change)?)
    }
    /// Per day from `from` to `to` (up to today): this tenant's percentage, each cohort's
    /// figures (or why they are withheld), and the vendor's benchmarks. Default cohorts:
    /// ALL_TENANTS, SIMILAR_SIZE, SAME_INDUSTRY. A cohort is a union of cells (industry × seat
    /// band × licence tier); tenants you can read (this one included) are never counted, a cell
    /// with fewer than k other tenants is left out (`excludedCells`), and every figure carries
    /// Laplace noise fixed per cell and day (`noise`).
    async fn comparisons(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "First day (inclusive, UTC); default: 29 days before `to` (30 days in all).")] from: Option<
            history::Date,
        >,
        #[graphql(desc = "Last day (inclusive, UTC; days after today are left out; default: today).")]
        to: Option<history::Date>,
        #[graphql(desc = "The cohorts to compare with (default: ALL_TENANTS, SIMILAR_SIZE, SAME_INDUSTRY).")]
        cohorts: Option<Vec<history::CohortInput>>,
    ) -> Result<Vec<history::Comparison>> {
        use service::history::comparisons::CohortSpec;
        let (from, to) = history::default_range(from, to);
        let specs = match cohorts {
            Some(c) => c.into_iter().map(Into::into).collect(),
            None => vec![
                CohortSpec::AllTenants,
                CohortSpec::SimilarSize,
                CohortSpec::SameIndustry,
            ],
        };
        let live = tenant_state(ctx, &self.0).await?;
        let privacy = history::privacy(ctx);
        let days = service::history::comparisons::compare(
            db(ctx),
            viewer(ctx)?,
            &live,
            from.0,
            to.0,
            specs,
            &privacy,
            Utc::now().date_naive(),
        )
        .await?;
        Ok(days.into_iter().map(Into::into).collect())
    }
    /// The actions that gain the most points within an effort budget (exactly: a 0/1
    /// knapsack over the ranked actions, effort = the ranking divisor), with the score views
    /// after them and where that percentage would stand in the `ALL_TENANTS` cohort. Writes
    /// nothing; `applyPlan` marks a plan `PLANNED`. `BAD_USER_INPUT` for a negative budget or
    /// `maxActions`.
    async fn plan(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to plan: see `PlanInput`.")] input: crate::graphql::types::planning::PlanInput,
    ) -> Result<crate::graphql::types::planning::Plan> {
        crate::graphql::types::planning::plan(ctx, &self.0, input).await
    }
    /// "What most of your peers have done and you haven't": the tenant's open actions
    /// (`TO_ADDRESS`, `PLANNED` or `RISK_ACCEPTED`, with points remaining) ordered by the share of
    /// the cohort's organisations that completed or resolved the same control (noisy, published
    /// figures, with the privacy rules of `comparisons`: see `ImprovementAction.peerAdoption`).
    async fn peer_gaps(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cohort (default: ALL_TENANTS).")] cohort: Option<history::CohortInput>,
        #[graphql(desc = "Number of actions to return (1 to 100; default 10).")] first: Option<i32>,
    ) -> Result<crate::graphql::types::peers::PeerGaps> {
        crate::graphql::types::peers::peer_gaps(ctx, &self.0, cohort, first).await
    }
    /// Score zones and dated goals with progress and the trend-based projection.
    async fn goals(&self, ctx: &Context<'_>) -> Result<history::ScoreGoals> {
        let live = tenant_state(ctx, &self.0).await?;
        let g = service::history::goals::goals(db(ctx), viewer(ctx)?, &live, Utc::now().date_naive()).await?;
        Ok(g.into())
    }
    /// Whether `RISK_ACCEPTED` needs an approved risk acceptance (`requestRiskAcceptance`, decided
    /// by an ADMIN other than the requester); when true a direct change to it is refused with
    /// `APPROVAL_REQUIRED`. Set by an ADMIN with `updateTenant`.
    async fn risk_acceptance_requires_approval(&self) -> bool {
        self.0.risk_acceptance_requires_approval
    }
    /// Days before a risk acceptance's review date or a device exception's end at which a
    /// reminder (`risk_acceptance.expiring`, `exception.expiring`) is raised, largest first; one
    /// reminder per threshold, and one only for the smallest when several were passed at once.
    /// Default 30, 7, 1; set by an ADMIN with `updateTenant`.
    async fn reminder_days(&self) -> Vec<i32> {
        service::workflow::risk::reminder_days(&self.0)
    }
    /// The risk register: the tenant's risk acceptances (default: the APPROVED ones), soonest
    /// review date first, with owner, requester, approver, age, expiry and points at stake.
    /// Pending requests: `filter: { state: [REQUESTED] }`.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    async fn risk_register(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which acceptances; default: the APPROVED ones.")] filter: Option<
            crate::graphql::types::risk::RiskRegisterFilter,
        >,
        #[graphql(desc = "Number of entries to return (1 to 100; default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor (`endCursor` of the previous page) to continue after.")] after: Option<
            String,
        >,
    ) -> Result<Connection<String, crate::graphql::types::risk::RiskAcceptance, pagination::TotalCount>> {
        use crate::graphql::types::risk::RiskAcceptance;
        // The state first: reading it applies due expiries, which end expired acceptances.
        let state = tenant_state(ctx, &self.0).await?;
        let (db, viewer) = (db(ctx), viewer(ctx)?);
        let args = pagination::PageArgs::new(first, after, None, None)?;
        let filter = filter.unwrap_or_default().into();
        let rows = service::workflow::risk::register(db, viewer, self.0.id, &filter, Utc::now()).await?;
        Ok(pagination::paginate(rows, &args, |e| {
            RiskAcceptance::new(e, Some(state.clone()))
        }))
    }
    /// Administrative changes (tokens, settings, licences), newest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Number of entries to return (1 to 100; default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor (`endCursor` of the previous page) to continue after.")] after: Option<
            String,
        >,
    ) -> Result<Connection<String, AuditEntry, pagination::TotalCount>> {
        let (db, viewer) = (db(ctx), viewer(ctx)?);
        let args = pagination::PageArgs::new(first, after, None, None)?;
        let total = service::access::audit_log_count(db, viewer, self.0.id).await?;
        let (start, end) = args.window(total);
        let rows = service::access::audit_log_range(db, viewer, self.0.id, start, end).await?;
        let mut conn = Connection::with_additional_fields(
            start > 0,
            end < total,
            pagination::TotalCount { total_count: total },
        );
        conn.edges.extend(
            rows.into_iter()
                .enumerate()
                .map(|(i, row)| Edge::new(pagination::encode_cursor(start + i), AuditEntry(row))),
        );
        Ok(conn)
    }
}

/// A tenant's holding of a licence.
pub struct TenantLicense(pub tenant_license::Model);

/// A tenant's holding of a licence SKU.
#[Object]
impl TenantLicense {
    /// Stable id for client caches (one holding of one SKU by one tenant).
    pub async fn id(&self) -> ID {
        ids::encode("TenantLicense", self.0.id)
    }
    /// The SKU held, e.g. `M365_E5`.
    async fn sku(&self) -> &str {
        &self.0.license_sku
    }
    /// Seats bought.
    async fn seats_purchased(&self) -> i64 {
        self.0.seats_purchased
    }
    /// Seats assigned to users (at most `seatsPurchased`).
    async fn seats_assigned(&self) -> i64 {
        self.0.seats_assigned
    }
    /// When the licence ends; `null` for never. An expired licence grants nothing.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
}
