//! The arguments of the improvement action list (filter, order, grouping, what-if changes) and
//! the buckets of `improvementActionGroups`, converted to and from the service's plain types.

use crate::graphql::types::enums::{Category, Level, Status, Tier};
use crate::graphql::types::present;
use crate::service::state::actions::{self, ActionFilter, ActionOrder, OrderField, WhatIfChange};
use async_graphql::{Enum, InputObject, SimpleObject};

/// Filter of improvement actions. Fields combine with AND; the values of one list with OR (except
/// `tagsAll`). Without `statuses`, RISK_ACCEPTED actions are left out.
#[derive(InputObject, Default)]
#[graphql(name = "ImprovementActionFilter")]
pub struct ImprovementActionFilterInput {
    /// Any of these statuses (default: all but RISK_ACCEPTED).
    pub statuses: Option<Vec<Status>>,
    /// Any of these categories.
    pub categories: Option<Vec<Category>>,
    /// Any of these services, e.g. `AzureAD` (case-insensitive).
    pub services: Option<Vec<String>>,
    /// Any of these tiers.
    pub tiers: Option<Vec<Tier>>,
    /// Any of these user impacts.
    pub user_impacts: Option<Vec<Level>>,
    /// Any of these implementation costs.
    pub implementation_costs: Option<Vec<Level>>,
    /// Only actions the tenant is (`true`) or is not (`false`) licensed for.
    pub licensed: Option<bool>,
    /// Tagged with at least one of these tag names (case-insensitive).
    pub tags_any: Option<Vec<String>>,
    /// Tagged with every one of these tag names (case-insensitive).
    pub tags_all: Option<Vec<String>>,
    /// Only actions with (`true`) or without (`false`) points left to gain.
    pub has_points_remaining: Option<bool>,
    /// Case-insensitive text in the control id, title or remediation.
    pub search: Option<String>,
    /// Any of these threats (case-insensitive).
    pub threats: Option<Vec<String>>,
}

fn all<T, U: From<T>>(v: Option<Vec<T>>) -> Vec<U> {
    v.unwrap_or_default().into_iter().map(U::from).collect()
}

impl From<ImprovementActionFilterInput> for ActionFilter {
    fn from(f: ImprovementActionFilterInput) -> Self {
        ActionFilter {
            statuses: all(f.statuses),
            categories: all(f.categories),
            services: all(f.services),
            tiers: all(f.tiers),
            user_impacts: all(f.user_impacts),
            implementation_costs: all(f.implementation_costs),
            licensed: f.licensed,
            tags_any: all(f.tags_any),
            tags_all: all(f.tags_all),
            has_points_remaining: f.has_points_remaining,
            search: f.search.filter(|s| !s.trim().is_empty()),
            threats: all(f.threats),
        }
    }
}

/// What improvement actions can be ordered by.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum ImprovementActionOrderField {
    /// The tenant's priority order (rank 1 first); unranked actions always come last.
    #[default]
    Rank,
    /// Points left to gain.
    PointsRemaining,
    /// Points the action is worth.
    MaxPoints,
    /// Percentage points the score gains when the action is finished.
    ScoreImpact,
    /// Case-insensitive.
    Title,
    /// When the action last changed.
    UpdatedAt,
}

/// Sort direction.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum OrderDirection {
    /// Smallest first (for `RANK`: rank 1 first).
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

/// Ordering of improvement actions; ties break by control id (ascending).
#[derive(InputObject, Default)]
#[graphql(name = "ImprovementActionOrder")]
pub struct ImprovementActionOrderInput {
    /// What to order by (default `RANK`).
    #[graphql(default)]
    pub field: ImprovementActionOrderField,
    /// Ascending or descending (default `ASC`).
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl From<ImprovementActionOrderInput> for ActionOrder {
    fn from(o: ImprovementActionOrderInput) -> Self {
        ActionOrder {
            field: match o.field {
                ImprovementActionOrderField::Rank => OrderField::Rank,
                ImprovementActionOrderField::PointsRemaining => OrderField::PointsRemaining,
                ImprovementActionOrderField::MaxPoints => OrderField::MaxPoints,
                ImprovementActionOrderField::ScoreImpact => OrderField::ScoreImpact,
                ImprovementActionOrderField::Title => OrderField::Title,
                ImprovementActionOrderField::UpdatedAt => OrderField::UpdatedAt,
            },
            descending: o.direction == OrderDirection::Desc,
        }
    }
}

/// What improvement actions can be grouped by.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "ImprovementActionGroupBy")]
pub enum GroupBy {
    /// One bucket per category.
    Category,
    /// One bucket per status.
    Status,
    /// One bucket per product family.
    Service,
    /// One bucket per tier.
    Tier,
    /// An action counts in the bucket of each of its tags; untagged ones in `(untagged)`.
    Tag,
}

impl From<GroupBy> for actions::GroupBy {
    fn from(g: GroupBy) -> Self {
        match g {
            GroupBy::Category => actions::GroupBy::Category,
            GroupBy::Status => actions::GroupBy::Status,
            GroupBy::Service => actions::GroupBy::Service,
            GroupBy::Tier => actions::GroupBy::Tier,
            GroupBy::Tag => actions::GroupBy::Tag,
        }
    }
}

/// One bucket of a grouping.
#[derive(SimpleObject)]
pub struct ImprovementActionGroup {
    /// The category, status or tier (as its enum value), service, or tag name; `(untagged)` for
    /// actions without tags.
    pub key: String,
    /// Actions in the bucket.
    pub count: i32,
    /// Σ points achieved by the bucket's actions.
    pub points_achieved: f64,
    /// Σ max of the bucket's actions.
    pub points_available: f64,
    /// `pointsAvailable − pointsAchieved`.
    pub points_remaining: f64,
}

impl From<actions::Group> for ImprovementActionGroup {
    fn from(g: actions::Group) -> Self {
        ImprovementActionGroup {
            key: g.key,
            count: i32::try_from(g.count).unwrap_or(i32::MAX),
            points_achieved: present(g.points_achieved),
            points_available: present(g.points_available),
            points_remaining: present(g.points_remaining),
        }
    }
}

/// A hypothetical change to one action. A given status is taken as is; when `implemented` or
/// `total` is given, full progress completes the action and less regresses a completed one.
#[derive(InputObject)]
pub struct WhatIfChangeInput {
    /// Control id of the action, e.g. `AdminMFAV2`.
    pub control_id: String,
    /// The status to assume; the action's own when absent.
    pub status: Option<Status>,
    /// Units implemented to assume (0 to `total`).
    pub implemented: Option<i64>,
    /// Units to implement in all to assume.
    pub total: Option<i64>,
}

impl From<WhatIfChangeInput> for WhatIfChange {
    fn from(c: WhatIfChangeInput) -> Self {
        WhatIfChange {
            control_id: c.control_id,
            status: c.status.map(Into::into),
            implemented: c.implemented,
            total: c.total,
        }
    }
}

/// Resolver bodies of the `Tenant` fields about actions and scores (kept here so the `Tenant`
/// type stays a list of one-line fields).
pub(crate) mod resolve {
    use super::*;
    use crate::graphql::loaders::{loaders, tenant_overview, tenant_state};
    use crate::graphql::pagination::{self, PageArgs, TotalCount};
    use crate::graphql::types::{ImprovementAction, SecureScore};
    use crate::graphql::{db, viewer};
    use async_graphql::connection::Connection;
    use async_graphql::{Context, Result};
    use entity::tenant;
    use std::collections::HashMap;
    use std::sync::Arc;

    pub async fn secure_score(ctx: &Context<'_>, t: &tenant::Model) -> Result<SecureScore> {
        Ok(SecureScore::new(tenant_overview(ctx, t).await?))
    }

    pub async fn what_if(
        ctx: &Context<'_>,
        t: &tenant::Model,
        changes: Vec<WhatIfChangeInput>,
    ) -> Result<SecureScore> {
        let state = tenant_state(ctx, t).await?;
        let changes: Vec<WhatIfChange> = changes.into_iter().map(Into::into).collect();
        let hypothetical = actions::what_if(viewer(ctx)?, &state, &changes)?;
        // The same question of the same state is the same answer.
        let hypothesis =
            crate::domain::tokens::hash_secret(&format!("{}:{changes:?}", state.tenant.state_version));
        Ok(SecureScore::hypothetical(
            Arc::new(hypothetical),
            hypothesis[..16].to_string(),
        ))
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn improvement_actions(
        ctx: &Context<'_>,
        t: &tenant::Model,
        filter: Option<ImprovementActionFilterInput>,
        order_by: Option<ImprovementActionOrderInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, ImprovementAction, TotalCount>> {
        let args = PageArgs::new(first, after, last, before)?;
        // The first page of the default list is what an overview holds (`state::summary`).
        if filter.is_none() && order_by.is_none() && args.is_first_page() {
            let overview = tenant_overview(ctx, t).await?;
            if let Some(partial) = overview.partial {
                let (start, end) = args.window(partial.listed_total);
                if start == 0 && end <= overview.actions.len() {
                    let look = ctx.look_ahead();
                    let wants_notes = look.field("nodes").field("notes").exists()
                        || look.field("edges").field("node").field("notes").exists();
                    let page: Vec<i64> = overview.actions[..end].iter().map(|a| a.row.id).collect();
                    loaders(ctx)?.prime(&page, false, wants_notes).await?;
                    return Ok(pagination::paginate_prefix(
                        (0..end).collect(),
                        partial.listed_total,
                        &args,
                        |i| ImprovementAction::at(overview.clone(), i),
                    ));
                }
            }
        }
        let state = tenant_state(ctx, t).await?;
        let filter: ActionFilter = filter.unwrap_or_default().into();
        let order: ActionOrder = order_by.unwrap_or_default().into();
        let selected = actions::list(db(ctx), viewer(ctx)?, &state, &filter, order).await?;
        let index: HashMap<i64, usize> = state
            .actions
            .iter()
            .enumerate()
            .map(|(i, a)| (a.row.id, i))
            .collect();
        let positions: Vec<usize> = selected
            .iter()
            .filter_map(|a| index.get(&a.row.id).copied())
            .collect();
        let (start, end) = args.window(positions.len());
        let page: Vec<i64> = positions[start..end]
            .iter()
            .map(|&i| state.actions[i].row.id)
            .collect();
        let look = ctx.look_ahead();
        let wants = |field: &str| {
            look.field("nodes").field(field).exists()
                || look.field("edges").field("node").field(field).exists()
        };
        let tags_needed = wants("tags") && state.tags.is_none();
        loaders(ctx)?.prime(&page, tags_needed, wants("notes")).await?;
        Ok(pagination::paginate(positions, &args, |i| {
            ImprovementAction::at(state.clone(), i)
        }))
    }

    pub async fn improvement_action_groups(
        ctx: &Context<'_>,
        t: &tenant::Model,
        group_by: GroupBy,
        filter: Option<ImprovementActionFilterInput>,
    ) -> Result<Vec<ImprovementActionGroup>> {
        let state = tenant_state(ctx, t).await?;
        let filter: ActionFilter = filter.unwrap_or_default().into();
        let groups = actions::groups(db(ctx), viewer(ctx)?, &state, group_by.into(), &filter).await?;
        Ok(groups.into_iter().map(Into::into).collect())
    }

    pub async fn improvement_action(
        ctx: &Context<'_>,
        t: &tenant::Model,
        control_id: &str,
    ) -> Result<Option<ImprovementAction>> {
        let state = tenant_state(ctx, t).await?;
        let Some(id) = state.action(control_id).map(|a| a.row.id) else {
            return Ok(None);
        };
        Ok(ImprovementAction::new(state, id))
    }
}
