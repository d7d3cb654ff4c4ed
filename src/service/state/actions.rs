//! The improvement actions of one tenant as the read API serves them (SPEC §5): filtering,
//! ordering and grouping over the tenant's scored state ([`crate::service::state`]), the
//! what-if recomputation (SPEC §3), and the batched lookups behind the GraphQL loaders (tags
//! and notes of a page of actions).
//!
//! Everything works on one tenant's rows: the state is loaded for one tenant, tag names are read
//! with a `tenant_id` condition, and the batched lookups are only ever given action ids taken
//! from such a state. Filtering, ordering and grouping are pure functions, tested below.

use crate::auth::Viewer;
use crate::domain::enums::{Category, Level, Role, Status, Tier};
use crate::domain::points::Points;
use crate::domain::rules::status_after_progress;
use crate::error::{AppError, AppResult};
use crate::service::state::{self, ActionState, TenantState};

use entity::{action_tag, improvement_action, note, principal, tag, tenant};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect, RelationDef,
};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Bucket key of actions without any tag when grouping by tag.
pub const UNTAGGED: &str = "(untagged)";

/// Tag names per action id (only actions that have tags appear).
pub type ActionTags = HashMap<i64, Vec<String>>;

/// Filter of the action list. Empty lists and `None` constrain nothing; the fields combine with
/// AND, the values inside one list with OR (except `tags_all`).
#[derive(Clone, Debug, Default)]
pub struct ActionFilter {
    /// Any of these statuses. Empty: every status except `RISK_ACCEPTED`, which is shown only
    /// when asked for (SPEC §5).
    pub statuses: Vec<Status>,
    pub categories: Vec<Category>,
    /// Any of these services (case-insensitive).
    pub services: Vec<String>,
    pub tiers: Vec<Tier>,
    pub user_impacts: Vec<Level>,
    pub implementation_costs: Vec<Level>,
    pub licensed: Option<bool>,
    /// Tagged with at least one of these tag names (case-insensitive).
    pub tags_any: Vec<String>,
    /// Tagged with all of these tag names (case-insensitive).
    pub tags_all: Vec<String>,
    /// `true`: only actions with points left to gain; `false`: only those without.
    pub has_points_remaining: Option<bool>,
    /// Case-insensitive text in the control id, title or remediation.
    pub search: Option<String>,
    /// Any of these threats (case-insensitive).
    pub threats: Vec<String>,
}

fn contains_ci(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v.eq_ignore_ascii_case(value))
}

impl ActionFilter {
    /// Whether answering needs the tenant's tags.
    pub fn needs_tags(&self) -> bool {
        !self.tags_any.is_empty() || !self.tags_all.is_empty()
    }

    /// Whether an action passes the filter; `tags` are its tag names.
    pub fn matches(&self, a: &ActionState, tags: &[String]) -> bool {
        let status_ok = if self.statuses.is_empty() {
            a.scored.status != Status::RiskAccepted
        } else {
            self.statuses.contains(&a.scored.status)
        };
        let search_ok = self.search.as_deref().map(str::trim).is_none_or(|s| {
            let needle = s.to_lowercase();
            [&a.control.id, &a.control.title, &a.control.remediation]
                .iter()
                .any(|hay| hay.to_lowercase().contains(&needle))
        });
        status_ok
            && search_ok
            && (self.categories.is_empty() || self.categories.contains(&a.scored.category))
            && (self.services.is_empty() || contains_ci(&self.services, &a.control.service))
            && (self.tiers.is_empty() || self.tiers.contains(&a.scored.tier))
            && (self.user_impacts.is_empty() || self.user_impacts.contains(&a.scored.user_impact))
            && (self.implementation_costs.is_empty()
                || self.implementation_costs.contains(&a.scored.implementation_cost))
            && self.licensed.is_none_or(|l| a.licensing.licensed == l)
            && self
                .has_points_remaining
                .is_none_or(|want| a.points_remaining.is_positive() == want)
            && (self.threats.is_empty() || a.control.threats.0.iter().any(|t| contains_ci(&self.threats, t)))
            && (self.tags_any.is_empty() || tags.iter().any(|t| contains_ci(&self.tags_any, t)))
            && self.tags_all.iter().all(|want| contains_ci(tags, want))
    }
}

/// What the action list can be ordered by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OrderField {
    #[default]
    Rank,
    PointsRemaining,
    MaxPoints,
    ScoreImpact,
    Title,
    UpdatedAt,
}

/// Ordering of the action list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ActionOrder {
    pub field: OrderField,
    pub descending: bool,
}

/// Compares two actions for the list. Ties break by control id ascending whatever the direction,
/// so every ordering is total and pages never overlap. Unranked actions come after ranked ones
/// in both directions of `Rank`: they are the ones with nothing to do, never "the most urgent".
pub fn compare(a: &ActionState, b: &ActionState, order: ActionOrder) -> Ordering {
    let directed = |o: Ordering| if order.descending { o.reverse() } else { o };
    let primary = match order.field {
        OrderField::Rank => match (a.rank, b.rank) {
            (Some(x), Some(y)) => directed(x.cmp(&y)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        },
        OrderField::PointsRemaining => directed(a.points_remaining.cmp(&b.points_remaining)),
        OrderField::MaxPoints => directed(a.scored.effective_max().cmp(&b.scored.effective_max())),
        OrderField::ScoreImpact => directed(a.score_impact.cmp(&b.score_impact)),
        OrderField::Title => directed(
            a.control
                .title
                .to_lowercase()
                .cmp(&b.control.title.to_lowercase()),
        ),
        OrderField::UpdatedAt => directed(a.row.updated_at.cmp(&b.row.updated_at)),
    };
    primary.then_with(|| a.control.id.cmp(&b.control.id))
}

/// The actions of a state that pass `filter`, in `order`.
pub fn select<'s>(
    state: &'s TenantState,
    filter: &ActionFilter,
    order: ActionOrder,
    tags: &ActionTags,
) -> Vec<&'s ActionState> {
    let mut out: Vec<&ActionState> = state
        .actions
        .iter()
        .filter(|a| filter.matches(a, tags.get(&a.row.id).map_or(&[][..], Vec::as_slice)))
        .collect();
    out.sort_by(|a, b| compare(a, b, order));
    out
}

/// What the action list can be grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Category,
    Status,
    Service,
    Tier,
    Tag,
}

/// One bucket of a grouping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub key: String,
    pub count: usize,
    pub points_achieved: Points,
    /// Σ max of the bucket's actions.
    pub points_available: Points,
    pub points_remaining: Points,
}

fn position<T: PartialEq>(all: &[T], v: &T) -> usize {
    all.iter().position(|x| x == v).unwrap_or(all.len())
}

/// Buckets of `actions`. Enum groupings come in the vocabulary's order (`IDENTITY` before
/// `DEVICE`, `TO_ADDRESS` before `PLANNED`, `CORE` before `ADVANCED`); services and tags
/// alphabetically, case-insensitive, with [`UNTAGGED`] last. Only non-empty buckets appear. An
/// action with several tags counts in each of their buckets.
pub fn group(actions: &[&ActionState], by: GroupBy, tags: &ActionTags) -> Vec<Group> {
    let mut buckets: BTreeMap<(usize, String, String), Group> = BTreeMap::new();
    for a in actions {
        let keys: Vec<(usize, String, String)> = match by {
            GroupBy::Category => {
                let c = a.scored.category;
                vec![(
                    position(&Category::ALL, &c),
                    String::new(),
                    c.as_str().to_string(),
                )]
            }
            GroupBy::Status => {
                let s = a.scored.status;
                vec![(position(&Status::ALL, &s), String::new(), s.as_str().to_string())]
            }
            GroupBy::Tier => {
                let t = a.scored.tier;
                vec![(position(&Tier::ALL, &t), String::new(), t.as_str().to_string())]
            }
            GroupBy::Service => vec![(0, a.control.service.to_lowercase(), a.control.service.clone())],
            GroupBy::Tag => match tags.get(&a.row.id).filter(|t| !t.is_empty()) {
                Some(names) => names.iter().map(|n| (0, n.to_lowercase(), n.clone())).collect(),
                None => vec![(1, String::new(), UNTAGGED.to_string())],
            },
        };
        for key in keys {
            let g = buckets.entry(key.clone()).or_insert_with(|| Group {
                key: key.2,
                count: 0,
                points_achieved: Points::ZERO,
                points_available: Points::ZERO,
                points_remaining: Points::ZERO,
            });
            g.count += 1;
            g.points_achieved += &a.achieved;
            g.points_available += a.scored.effective_max();
            g.points_remaining += &a.points_remaining;
        }
    }
    buckets.into_values().collect()
}

/// One hypothetical change of a what-if question.
#[derive(Clone, Debug, Default)]
pub struct WhatIfChange {
    pub control_id: String,
    pub status: Option<Status>,
    pub implemented: Option<i64>,
    pub total: Option<i64>,
}

/// The state a tenant would be in after `changes`, computed without writing anything.
///
/// A given status is taken as is (it is a hypothesis, so the rules about who may set it don't
/// apply); when `implemented` or `total` is given, the completion rule does (full progress
/// completes the action, less progress regresses a completed one), as it would on a real update.
pub fn what_if(viewer: &Viewer, state: &TenantState, changes: &[WhatIfChange]) -> AppResult<TenantState> {
    viewer.require(state.tenant.id, Role::Operator)?;
    hypothetical(state, changes)
}

/// [`what_if`] without the role check, for callers that checked their own (a plan's outcome is
/// read by READERs: `planning`).
pub fn hypothetical(state: &TenantState, changes: &[WhatIfChange]) -> AppResult<TenantState> {
    let mut rows = state.rows();
    let index: HashMap<&str, usize> = state
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| (a.control.id.as_str(), i))
        .collect();
    let mut seen = HashSet::new();
    for (i, change) in changes.iter().enumerate() {
        let field = |name: &str| format!("changes.{i}.{name}");
        let Some(&at) = index.get(change.control_id.as_str()) else {
            return Err(AppError::bad_input(
                &field("controlId"),
                format!("the tenant has no action for control {:?}", change.control_id),
            ));
        };
        if !seen.insert(at) {
            return Err(AppError::bad_input(
                &field("controlId"),
                format!("control {:?} appears more than once", change.control_id),
            ));
        }
        for (name, value) in [("implemented", change.implemented), ("total", change.total)] {
            if value.is_some_and(|v| v < 0) {
                return Err(AppError::bad_input(
                    &field(name),
                    format!("{name} cannot be negative"),
                ));
            }
        }
        let row = &mut rows[at].0;
        let mut status = match change.status {
            Some(s) => s,
            None => row.status,
        };
        if change.implemented.is_some() || change.total.is_some() {
            row.implemented = change.implemented.unwrap_or(row.implemented);
            row.total = change.total.unwrap_or(row.total);
            status = status_after_progress(status, row.implemented, row.total).0;
        }
        row.status = status;
    }
    state::build(state.tenant.clone(), rows, &state.held, state.computed_at)
}

/// `action_tag → tag` (the entities declare no relations).
fn tag_of_action_tag() -> RelationDef {
    action_tag::Entity::belongs_to(tag::Entity)
        .from(action_tag::Column::TagId)
        .to(tag::Column::Id)
        .into()
}

/// Tag names of all of a tenant's actions, sorted per action (one query).
pub async fn tenant_action_tags<C: ConnectionTrait>(conn: &C, tenant_id: i64) -> AppResult<ActionTags> {
    let rows: Vec<(i64, String)> = action_tag::Entity::find()
        .select_only()
        .column(action_tag::Column::ActionId)
        .column(tag::Column::Name)
        .join(JoinType::InnerJoin, tag_of_action_tag())
        .filter(tag::Column::TenantId.eq(tenant_id))
        .into_tuple()
        .all(conn)
        .await?;
    let mut out: ActionTags = HashMap::new();
    for (action_id, name) in rows {
        out.entry(action_id).or_default().push(name);
    }
    for names in out.values_mut() {
        names.sort_by_key(|n| n.to_lowercase());
    }
    Ok(out)
}

/// The filtered and ordered actions of a state (reads the tenant's tags only when the filter
/// needs them).
pub async fn list<'s, C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    state: &'s TenantState,
    filter: &ActionFilter,
    order: ActionOrder,
) -> AppResult<Vec<&'s ActionState>> {
    viewer.require(state.tenant.id, Role::Reader)?;
    let tags = if filter.needs_tags() {
        tenant_action_tags(conn, state.tenant.id).await?
    } else {
        ActionTags::new()
    };
    Ok(select(state, filter, order, &tags))
}

/// Buckets of the filtered actions of a state.
pub async fn groups<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    state: &TenantState,
    by: GroupBy,
    filter: &ActionFilter,
) -> AppResult<Vec<Group>> {
    viewer.require(state.tenant.id, Role::Reader)?;
    let tags = if filter.needs_tags() || by == GroupBy::Tag {
        tenant_action_tags(conn, state.tenant.id).await?
    } else {
        ActionTags::new()
    };
    let selected = select(state, filter, ActionOrder::default(), &tags);
    Ok(group(&selected, by, &tags))
}

/// The tenants of the actions among `action_ids` that the caller may read, by action id (two
/// queries for any number of ids); missing actions and other tenants' are left out alike.
pub async fn tenants_of_actions<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    action_ids: &[i64],
) -> AppResult<HashMap<i64, tenant::Model>> {
    if action_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<improvement_action::Model> = improvement_action::Entity::find()
        .filter(improvement_action::Column::Id.is_in(action_ids.iter().copied()))
        .all(conn)
        .await?
        .into_iter()
        .filter(|row| viewer.role_on(row.tenant_id).is_some())
        .collect();
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let tenants: HashMap<i64, tenant::Model> = tenant::Entity::find()
        .filter(tenant::Column::Id.is_in(rows.iter().map(|r| r.tenant_id)))
        .all(conn)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    Ok(rows
        .into_iter()
        .filter_map(|row| Some((row.id, tenants.get(&row.tenant_id)?.clone())))
        .collect())
}

/// Tags of a batch of actions, by action id (every id present, untagged ones with none), sorted
/// by name (one query). The ids must come from a tenant-scoped state.
pub async fn tags_of_actions<C: ConnectionTrait>(
    conn: &C,
    action_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<tag::Model>>> {
    let rows: Vec<(action_tag::Model, Option<tag::Model>)> = action_tag::Entity::find()
        .filter(action_tag::Column::ActionId.is_in(action_ids.iter().copied()))
        .join(JoinType::InnerJoin, tag_of_action_tag())
        .select_also(tag::Entity)
        .all(conn)
        .await?;
    let out = action_ids.iter().map(|&id| (id, Vec::new())).collect();
    Ok(group_tags(out, rows))
}

/// The tags on every action of a tenant, by action id (actions without tags are absent).
pub async fn tags_of_tenant<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
) -> AppResult<HashMap<i64, Vec<tag::Model>>> {
    let rows: Vec<(action_tag::Model, Option<tag::Model>)> = action_tag::Entity::find()
        .join(JoinType::InnerJoin, tag_of_action_tag())
        .filter(tag::Column::TenantId.eq(tenant_id))
        .select_also(tag::Entity)
        .all(conn)
        .await?;
    Ok(group_tags(HashMap::new(), rows))
}

/// Adds tag links to `out` by action id, each action's tags by name (case-insensitive).
fn group_tags(
    mut out: HashMap<i64, Vec<tag::Model>>,
    rows: Vec<(action_tag::Model, Option<tag::Model>)>,
) -> HashMap<i64, Vec<tag::Model>> {
    for (link, t) in rows {
        if let Some(t) = t {
            out.entry(link.action_id).or_default().push(t);
        }
    }
    for tags in out.values_mut() {
        tags.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then(a.id.cmp(&b.id))
        });
    }
    out
}

/// A note with its author's name (`None` when the author no longer exists).
#[derive(Clone, Debug)]
pub struct NoteWithAuthor {
    pub note: note::Model,
    pub author_name: Option<String>,
}

/// Notes of a batch of actions, by action id (every id present), newest first, with their
/// authors (one query). The ids must come from a tenant-scoped state.
pub async fn notes_of_actions<C: ConnectionTrait>(
    conn: &C,
    action_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<NoteWithAuthor>>> {
    let author: RelationDef = note::Entity::belongs_to(principal::Entity)
        .from(note::Column::AuthorId)
        .to(principal::Column::Id)
        .into();
    let rows: Vec<(note::Model, Option<principal::Model>)> = note::Entity::find()
        .filter(note::Column::ActionId.is_in(action_ids.iter().copied()))
        .join(JoinType::LeftJoin, author)
        .select_also(principal::Entity)
        .order_by_desc(note::Column::CreatedAt)
        .order_by_desc(note::Column::Id)
        .all(conn)
        .await?;
    let mut out: HashMap<i64, Vec<NoteWithAuthor>> = action_ids.iter().map(|&id| (id, Vec::new())).collect();
    for (n, p) in rows {
        out.entry(n.action_id).or_default().push(NoteWithAuthor {
            note: n,
            author_name: p.map(|p| p.name),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};
    use entity::types::StringList;
    use entity::{control, improvement_action, tenant};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0)
            .single()
            .expect("valid time")
    }

    struct Spec {
        id: &'static str,
        title: &'static str,
        category: Category,
        service: &'static str,
        max: i64,
        tier: Tier,
        status: Status,
        implemented: i64,
        total: i64,
        threats: &'static [&'static str],
    }

    fn spec(id: &'static str, category: Category, max: i64, status: Status) -> Spec {
        Spec {
            id,
            title: id,
            category,
            service: "AzureAD",
            max,
            tier: Tier::Core,
            status,
            implemented: 0,
            total: 0,
            threats: &[],
        }
    }

    fn state(specs: Vec<Spec>) -> TenantState {
        let tenant = tenant::Model {
            id: 1,
            slug: "t".into(),
            name: "T".into(),
            industry: "technology".into(),
            seat_count: 10,
            active_user_count: 10,
            enabled_services: StringList(vec![]),
            azure_tenant_id: None,
            state_version: 0,
            catalog_source: crate::domain::enums::CatalogSource::ServiceCatalog,
            risk_acceptance_requires_approval: false,
            reminder_days: None,
            created_at: t0(),
            updated_at: t0(),
        };
        let rows = specs
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let c = control::Model {
                    id: s.id.into(),
                    title: s.title.into(),
                    category: s.category,
                    service: s.service.into(),
                    max_points: s.max * 10_000,
                    tier: s.tier,
                    user_impact: Level::Low,
                    implementation_cost: Level::Low,
                    threats: StringList(s.threats.iter().map(|t| t.to_string()).collect()),
                    action_type: crate::domain::enums::ActionType::Config,
                    remediation: format!("steps for {}", s.id),
                    user_impact_description: String::new(),
                    prerequisites: String::new(),
                    action_url: None,
                    learn_more_urls: StringList(vec![]),
                    required_license_plans: StringList(vec![]),
                    vendor_rank: None,
                    deprecated: false,
                    origin: "CATALOG".into(),
                    shipped_digest: None,
                    created_at: t0(),
                    updated_at: t0(),
                };
                let row = improvement_action::Model {
                    id: i as i64 + 1,
                    tenant_id: 1,
                    control_id: s.id.into(),
                    category: s.category,
                    status: s.status,
                    implemented: s.implemented,
                    total: s.total,
                    implementation_status: None,
                    users_affected: 0,
                    review_by: None,
                    version: 1,
                    origin: "APPLICABLE".into(),
                    status_changed_at: t0(),
                    created_at: t0(),
                    updated_at: t0() + chrono::Duration::minutes(i as i64),
                };
                (row, c)
            })
            .collect();
        state::build(tenant, rows, &[], t0()).expect("valid rows")
    }

    fn ids(actions: &[&ActionState]) -> Vec<String> {
        actions.iter().map(|a| a.control.id.clone()).collect()
    }

    fn sample() -> TenantState {
        use Category::*;
        use Status::*;
        state(vec![
            Spec {
                title: "Zeta rule",
                threats: &["Phishing"],
                implemented: 1,
                total: 2,
                ..spec("A", Identity, 4, ToAddress)
            },
            Spec {
                title: "alpha rule",
                service: "MDO",
                tier: Tier::Advanced,
                ..spec("B", Apps, 6, Planned)
            },
            spec("C", Apps, 2, RiskAccepted),
            spec("D", Data, 3, ResolvedThirdParty),
            spec("E", Identity, 4, ToAddress),
        ])
    }

    #[test]
    fn the_default_filter_hides_risk_accepted_actions_unless_asked_for() {
        let s = sample();
        let none = ActionTags::new();
        let all = select(&s, &ActionFilter::default(), ActionOrder::default(), &none);
        assert!(!ids(&all).contains(&"C".to_string()), "hidden by default");
        let asked = ActionFilter {
            statuses: vec![Status::RiskAccepted],
            ..Default::default()
        };
        assert_eq!(
            ids(&select(&s, &asked, ActionOrder::default(), &none)),
            ["C"],
            "shown when asked for"
        );
    }

    #[test]
    fn filters_combine_with_and_and_values_with_or() {
        let s = sample();
        let mut tags = ActionTags::new();
        tags.insert(1, vec!["quick".into(), "q3".into()]);
        tags.insert(2, vec!["Quick".into()]);
        let cases: Vec<(ActionFilter, Vec<&str>, &str)> = vec![
            (
                ActionFilter {
                    categories: vec![Category::Identity],
                    ..Default::default()
                },
                vec!["E", "A"],
                "category",
            ),
            (
                ActionFilter {
                    services: vec!["mdo".into()],
                    ..Default::default()
                },
                vec!["B"],
                "service, case-insensitive",
            ),
            (
                ActionFilter {
                    tags_any: vec!["QUICK".into()],
                    ..Default::default()
                },
                vec!["B", "A"],
                "any tag",
            ),
            (
                ActionFilter {
                    tags_all: vec!["quick".into(), "q3".into()],
                    ..Default::default()
                },
                vec!["A"],
                "all tags",
            ),
            (
                ActionFilter {
                    has_points_remaining: Some(false),
                    ..Default::default()
                },
                vec!["D"],
                "nothing left to gain",
            ),
            (
                ActionFilter {
                    search: Some("ALPHA".into()),
                    ..Default::default()
                },
                vec!["B"],
                "search in the title",
            ),
            (
                ActionFilter {
                    search: Some("steps for e".into()),
                    ..Default::default()
                },
                vec!["E"],
                "search in the remediation",
            ),
            (
                ActionFilter {
                    threats: vec!["phishing".into()],
                    ..Default::default()
                },
                vec!["A"],
                "threat",
            ),
            (
                ActionFilter {
                    categories: vec![Category::Identity, Category::Apps],
                    tiers: vec![Tier::Core],
                    ..Default::default()
                },
                vec!["E", "A"],
                "AND across fields",
            ),
        ];
        for (filter, expected, why) in cases {
            assert_eq!(
                ids(&select(&s, &filter, ActionOrder::default(), &tags)),
                expected,
                "{why}"
            );
        }
    }

    #[test]
    fn orderings_are_total_with_the_control_id_as_tiebreak() {
        let s = sample();
        let none = ActionTags::new();
        let f = ActionFilter::default();
        let by = |field, descending| ids(&select(&s, &f, ActionOrder { field, descending }, &none));
        // Ranks: B (6 remaining / 5) > E (4 / 3 = 1.33) > A (2 / 3); D is unranked.
        assert_eq!(by(OrderField::Rank, false), ["E", "B", "A", "D"], "rank asc");
        assert_eq!(
            by(OrderField::Rank, true),
            ["A", "B", "E", "D"],
            "rank desc keeps unranked last"
        );
        assert_eq!(
            by(OrderField::PointsRemaining, true),
            ["B", "E", "A", "D"],
            "points remaining desc"
        );
        assert_eq!(
            by(OrderField::MaxPoints, true),
            ["B", "A", "E", "D"],
            "max desc, ties by id asc"
        );
        assert_eq!(
            by(OrderField::Title, false),
            ["B", "D", "E", "A"],
            "title, case-insensitive"
        );
        assert_eq!(
            by(OrderField::UpdatedAt, true),
            ["E", "D", "B", "A"],
            "updated desc"
        );
    }

    #[test]
    fn groups_sum_points_and_count_every_tag_of_an_action() {
        let s = sample();
        let mut tags = ActionTags::new();
        tags.insert(1, vec!["q3".into(), "quick".into()]);
        tags.insert(5, vec!["quick".into()]);
        let all = select(&s, &ActionFilter::default(), ActionOrder::default(), &tags);
        let g = group(&all, GroupBy::Tag, &tags);
        let summary: Vec<(&str, usize, Points, Points)> = g
            .iter()
            .map(|g| {
                (
                    g.key.as_str(),
                    g.count,
                    g.points_achieved.clone(),
                    g.points_available.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("q3", 1, Points::from(2), Points::from(4)),
                ("quick", 2, Points::from(2), Points::from(8)),
                (UNTAGGED, 2, Points::from(3), Points::from(9)),
            ]
        );
        let by_cat: Vec<(String, usize)> = group(&all, GroupBy::Category, &tags)
            .into_iter()
            .map(|g| (g.key, g.count))
            .collect();
        assert_eq!(
            by_cat,
            [
                ("IDENTITY".to_string(), 2),
                ("APPS".to_string(), 1),
                ("DATA".to_string(), 1)
            ],
            "vocabulary order, empty buckets left out"
        );
        let rem: Points = group(&all, GroupBy::Status, &tags)
            .iter()
            .map(|g| &g.points_remaining)
            .sum();
        assert_eq!(rem, Points::from(12), "remaining is preserved across buckets");
    }
}
