//! Relay object identification: `node(id)` and `nodes(ids)` turn global ids back into objects.
//!
//! Every lookup goes through a service function that returns only what the caller may see by
//! the rules of the field that lists the object, so another tenant's id, a malformed id, an id
//! with the wrong type prefix and an id never issued all answer `null` alike and reveal nothing.
//! Ids are grouped by type and each type is looked up with one batched service call, so `nodes`
//! costs a query or two per type asked for, not per id; tenant states come from the request's
//! cache, loaded once per tenant.

use crate::error::AppResult;
use crate::graphql::loaders::{tenant_overview, tenant_state};
use crate::graphql::types::history::ScoreSnapshot;
use crate::graphql::types::risk::RiskAcceptance;
use crate::graphql::types::workflow::{ActionEvent, DeviceException, ShareLink};
use crate::graphql::types::{
    ApiToken, AuditEntry, Control, ImprovementAction, Node, Note, Principal, SecureScore, Tag, Tenant,
    TenantLicense,
};
use crate::graphql::{db, ids, viewer};
use crate::service;
use async_graphql::{Context, ID, Result};
use chrono::{NaiveDate, Utc};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::hash::Hash;

/// Most ids one `nodes` call takes.
pub const MAX_NODES: usize = 100;

/// What one well-formed global id of a `Node` type asks for.
enum Wanted {
    Tenant(i64),
    Control(String),
    ImprovementAction(i64),
    Principal(i64),
    Tag(i64),
    Note(i64),
    ShareLink(i64),
    ActionEvent(i64),
    DeviceException(i64),
    TenantLicense(i64),
    ApiToken(i64),
    AuditEntry(i64),
    /// A tenant's live score (what-if answers have no id that can be resolved).
    SecureScore(i64),
    /// One day of a tenant's score history.
    ScoreSnapshot(i64, NaiveDate),
    ScoreGoal(i64),
    /// A category of a tenant's live score (`None`) or of one day of its history.
    CategoryScore(i64, Option<NaiveDate>, ID),
    RiskAcceptance(i64),
}

/// A day key `tenant:YYYY-MM-DD` in its canonical form only.
fn tenant_day(key: &str) -> Option<(i64, NaiveDate)> {
    let (tenant, day_text) = key.split_once(':')?;
    let day: NaiveDate = day_text.parse().ok()?;
    (day.to_string() == day_text).then_some(())?;
    Some((number(tenant)?, day))
}

/// A numeric key exactly as `ids::encode` writes it (`007` or `+7` is not the id of row 7).
fn number(key: &str) -> Option<i64> {
    key.parse::<i64>().ok().filter(|n| n.to_string() == key)
}

/// What `id` asks for; `None` for a malformed id or a type that is not a `Node`.
fn parse(id: &ID) -> Option<Wanted> {
    let (ty, key) = ids::decode(id)?;
    Some(match ty.as_str() {
        "Tenant" => Wanted::Tenant(number(&key)?),
        "Control" => Wanted::Control(key),
        "ImprovementAction" => Wanted::ImprovementAction(number(&key)?),
        "Principal" => Wanted::Principal(number(&key)?),
        "Tag" => Wanted::Tag(number(&key)?),
        "Note" => Wanted::Note(number(&key)?),
        "ShareLink" => Wanted::ShareLink(number(&key)?),
        "ActionEvent" => Wanted::ActionEvent(number(&key)?),
        "DeviceException" => Wanted::DeviceException(number(&key)?),
        "TenantLicense" => Wanted::TenantLicense(number(&key)?),
        "ApiToken" => Wanted::ApiToken(number(&key)?),
        "AuditEntry" => Wanted::AuditEntry(number(&key)?),
        "SecureScore" => Wanted::SecureScore(number(&key)?),
        "ScoreGoal" => Wanted::ScoreGoal(number(&key)?),
        "RiskAcceptance" => Wanted::RiskAcceptance(number(&key)?),
        "ScoreSnapshot" => {
            let (tenant, day) = tenant_day(&key)?;
            Wanted::ScoreSnapshot(tenant, day)
        }
        "CategoryScore" => {
            // `<tenant>:<CATEGORY>` (the live score) or `day:<tenant>:<day>:<CATEGORY>`; a
            // what-if answer's key is a digest and resolves to nothing.
            let (scope, _category) = key.rsplit_once(':')?;
            match scope.strip_prefix("day:") {
                Some(day_key) => {
                    let (tenant, day) = tenant_day(day_key)?;
                    Wanted::CategoryScore(tenant, Some(day), id.clone())
                }
                None => Wanted::CategoryScore(number(scope)?, None, id.clone()),
            }
        }
        _ => return None,
    })
}

/// The keys of one kind among the wanted ids, for one batched lookup.
fn keys<K>(wanted: &[Option<Wanted>], pick: impl Fn(&Wanted) -> Option<K>) -> Vec<K> {
    wanted.iter().flatten().filter_map(pick).collect()
}

/// The row id of one kind of wanted object: `id_of!(Tag)` picks the id of a `Wanted::Tag`.
macro_rules! id_of {
    ($kind:ident) => {
        |w: &Wanted| match w {
            Wanted::$kind(id) => Some(*id),
            _ => None,
        }
    };
}

/// One batched lookup: `fetch` the objects with these keys (no query for none), indexed by
/// `key_of`.
async fn lookup<K, T, Fut>(
    keys: Vec<K>,
    fetch: impl FnOnce(Vec<K>) -> Fut,
    key_of: impl Fn(&T) -> K,
) -> Result<HashMap<K, T>>
where
    K: Eq + Hash,
    Fut: Future<Output = AppResult<Vec<T>>>,
{
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(fetch(keys).await?.into_iter().map(|t| (key_of(&t), t)).collect())
}

/// The objects behind `ids`, in order: `None` for every id the caller cannot see (whatever the
/// reason), so the answer never tells a forbidden id from a missing one.
pub async fn resolve(ctx: &Context<'_>, ids: &[ID]) -> Result<Vec<Option<Node>>> {
    let (db, viewer) = (db(ctx), viewer(ctx)?);
    let wanted: Vec<Option<Wanted>> = ids.iter().map(parse).collect();

    let tenants = lookup(
        keys(&wanted, |w| match w {
            Wanted::Tenant(id)
            | Wanted::SecureScore(id)
            | Wanted::ScoreSnapshot(id, _)
            | Wanted::CategoryScore(id, _, _) => Some(*id),
            _ => None,
        }),
        |ids| async move { service::access::tenants::visible_by_ids(db, viewer, &ids).await },
        |t| t.id,
    )
    .await?;
    let controls = lookup(
        keys(&wanted, |w| match w {
            Wanted::Control(id) => Some(id.clone()),
            _ => None,
        }),
        |ids| async move { service::catalog::controls_by_ids(db, viewer, &ids).await },
        |c| c.id.clone(),
    )
    .await?;
    let action_tenants =
        service::state::actions::tenants_of_actions(db, viewer, &keys(&wanted, id_of!(ImprovementAction)))
            .await?;
    let principals = lookup(
        keys(&wanted, id_of!(Principal)),
        |ids| async move { service::access::visible_principals(db, viewer, &ids).await },
        |p| p.id,
    )
    .await?;
    let tags = lookup(
        keys(&wanted, id_of!(Tag)),
        |ids| async move { service::collab::tags::by_ids(db, viewer, &ids).await },
        |t| t.id,
    )
    .await?;
    let notes = lookup(
        keys(&wanted, id_of!(Note)),
        |ids| async move { service::collab::notes::by_ids(db, viewer, &ids).await },
        |n| n.note.id,
    )
    .await?;
    let links = lookup(
        keys(&wanted, id_of!(ShareLink)),
        |ids| async move { service::collab::share::by_ids(db, viewer, &ids).await },
        |l| l.link.id,
    )
    .await?;
    let events = lookup(
        keys(&wanted, id_of!(ActionEvent)),
        |ids| async move { service::workflow::events::by_ids(db, viewer, &ids).await },
        |(e, _)| e.id,
    )
    .await?;
    let exceptions = lookup(
        keys(&wanted, id_of!(DeviceException)),
        |ids| async move { service::workflow::device_exceptions_by_ids(db, viewer, &ids).await },
        |e| e.id,
    )
    .await?;
    let licenses = lookup(
        keys(&wanted, id_of!(TenantLicense)),
        |ids| async move { service::access::tenants::licenses_by_ids(db, viewer, &ids).await },
        |l| l.id,
    )
    .await?;
    let tokens = lookup(
        keys(&wanted, id_of!(ApiToken)),
        |ids| async move { service::access::api_tokens_by_ids(db, viewer, &ids).await },
        |t| t.token.id,
    )
    .await?;
    let entries = lookup(
        keys(&wanted, id_of!(AuditEntry)),
        |ids| async move { service::access::audit_entries_by_ids(db, viewer, &ids).await },
        |e| e.entry.id,
    )
    .await?;
    let acceptances = lookup(
        keys(&wanted, id_of!(RiskAcceptance)),
        |ids| async move { service::workflow::risk::by_ids(db, viewer, &ids).await },
        |e| e.row.id,
    )
    .await?;
    let goal_tenants =
        service::history::goals::tenants_of_goals(db, viewer, &keys(&wanted, id_of!(ScoreGoal))).await?;
    // Goals and past days are read once per tenant and per tenant and day, however many of
    // their ids are asked for.
    let mut goals_of: HashMap<i64, Vec<service::history::goals::GoalProgress>> = HashMap::new();
    let mut days_of: HashMap<(i64, NaiveDate), Option<ScoreSnapshot>> = HashMap::new();

    let today = Utc::now().date_naive();
    let mut out = Vec::with_capacity(wanted.len());
    for w in &wanted {
        let node = match w {
            None => None,
            Some(Wanted::Tenant(id)) => tenants.get(id).cloned().map(|t| Node::Tenant(Tenant(t))),
            Some(Wanted::Control(id)) => controls.get(id).cloned().map(|c| Node::Control(Control(c))),
            Some(Wanted::ImprovementAction(id)) => match action_tenants.get(id) {
                // The state holds only applicable actions: others answer `null` as in lists.
                Some(t) => {
                    ImprovementAction::new(tenant_state(ctx, t).await?, *id).map(Node::ImprovementAction)
                }
                None => None,
            },
            Some(Wanted::Principal(id)) => principals.get(id).map(|p| {
                Node::Principal(Principal {
                    id: p.id,
                    name: p.name.clone(),
                })
            }),
            Some(Wanted::Tag(id)) => tags.get(id).cloned().map(|t| Node::Tag(Tag(t))),
            Some(Wanted::Note(id)) => notes.get(id).cloned().map(|n| Node::Note(Note(n))),
            Some(Wanted::ShareLink(id)) => links.get(id).cloned().map(|l| Node::ShareLink(ShareLink(l))),
            Some(Wanted::ActionEvent(id)) => events
                .get(id)
                .cloned()
                .map(|(event, control_id)| Node::ActionEvent(ActionEvent { event, control_id })),
            Some(Wanted::DeviceException(id)) => exceptions
                .get(id)
                .cloned()
                .map(|e| Node::DeviceException(DeviceException(e))),
            Some(Wanted::TenantLicense(id)) => licenses
                .get(id)
                .cloned()
                .map(|l| Node::TenantLicense(TenantLicense(l))),
            Some(Wanted::ApiToken(id)) => tokens.get(id).cloned().map(|t| Node::ApiToken(ApiToken(t))),
            Some(Wanted::AuditEntry(id)) => entries.get(id).cloned().map(|e| Node::AuditEntry(AuditEntry(e))),
            Some(Wanted::RiskAcceptance(id)) => acceptances
                .get(id)
                .cloned()
                .map(|e| Node::RiskAcceptance(RiskAcceptance::new(e, None))),
            Some(Wanted::SecureScore(id)) => match tenants.get(id) {
                Some(t) => Some(Node::SecureScore(SecureScore::new(
                    tenant_overview(ctx, t).await?,
                ))),
                None => None,
            },
            Some(Wanted::ScoreGoal(id)) => match goal_tenants.get(id) {
                // Progress and projection come with the tenant's goals, as `Tenant.goals` has them.
                Some(t) => {
                    if let Entry::Vacant(slot) = goals_of.entry(t.id) {
                        let live = tenant_state(ctx, t).await?;
                        slot.insert(
                            service::history::goals::goals(db, viewer, &live, today)
                                .await?
                                .goals,
                        );
                    }
                    goals_of[&t.id]
                        .iter()
                        .find(|g| g.id == *id)
                        .cloned()
                        .map(|g| Node::ScoreGoal(g.into()))
                }
                None => None,
            },
            Some(Wanted::CategoryScore(tenant_id, day, wanted_id)) => match tenants.get(tenant_id) {
                Some(t) => {
                    let categories = match day {
                        None => SecureScore::new(tenant_overview(ctx, t).await?).category_scores(),
                        Some(day) => past_day(ctx, &mut days_of, t, *day, today)
                            .await?
                            .map(ScoreSnapshot::category_scores)
                            .unwrap_or_default(),
                    };
                    categories
                        .into_iter()
                        .find(|c| c.global_id == *wanted_id)
                        .map(Node::CategoryScore)
                }
                None => None,
            },
            Some(Wanted::ScoreSnapshot(id, day)) => match tenants.get(id) {
                Some(t) => past_day(ctx, &mut days_of, t, *day, today)
                    .await?
                    .cloned()
                    .map(Node::ScoreSnapshot),
                None => None,
            },
        };
        out.push(node);
    }
    Ok(out)
}

/// One day of a tenant's history, read once per request however many ids name it.
async fn past_day<'a>(
    ctx: &Context<'_>,
    days: &'a mut HashMap<(i64, NaiveDate), Option<ScoreSnapshot>>,
    tenant: &entity::tenant::Model,
    day: NaiveDate,
    today: NaiveDate,
) -> Result<Option<&'a ScoreSnapshot>> {
    let key = (tenant.id, day);
    if let Entry::Vacant(slot) = days.entry(key) {
        let live = tenant_state(ctx, tenant).await?;
        let snapshot = service::history::snapshots::history(db(ctx), viewer(ctx)?, &live, day, day, today)
            .await?
            .into_iter()
            .next()
            .map(|score| ScoreSnapshot {
                tenant_id: tenant.id,
                score,
            });
        slot.insert(snapshot);
    }
    Ok(days[&key].as_ref())
}
