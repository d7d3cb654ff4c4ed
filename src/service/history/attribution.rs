//! `Tenant.scoreChange`: why a score view moved between two days. This module gathers what the
//! pure decomposition (`domain::attribution`) needs; the module header there explains the scheme.
//!
//! - **The two ends** are what `scoreHistory` shows for those days: the stored snapshot (computed
//!   or imported) of a past day, today's live score. A past day without a snapshot has nothing
//!   to explain and answers `BAD_USER_INPUT`; left out, `from` is the first day within the 30
//!   days up to `to` that the history shows.
//! - **Per action**: its state at the end of `to` (its row rolled back over newer events, as a
//!   snapshot backfill does), its events in between, and whether it counted at each end: the
//!   tenant's `enabledServices` and catalog source then (today's, with every later
//!   `TENANT_UPDATED` audit entry undone), actions created by then, and licences bought by
//!   then and unexpired (judged at the end of the day, or now for today).
//! - **What the log does not record** — the catalog as it was (controls re-weighted or
//!   deprecated after a day was written), a vendor's totals on imported days, licences removed —
//!   shows as the difference between a snapshot and its reconstruction. It goes to CATALOG for a
//!   computed day when a control that counts was changed (not just created) after the day was
//!   written, else to UNATTRIBUTED, so the causes always add up to the difference of the two
//!   days' figures.

use crate::auth::Viewer;
use crate::domain::attribution::{
    ActionLog, Attribution, Counted, EndSnapshot, LoggedEvent, ViewKind, attribute, residual_cause,
};
use crate::domain::enums::{CatalogSource, Category, Role};
use crate::domain::licensing::licensing;
use crate::domain::points::Points;
use crate::domain::replay::{ActionProgress, PastEvent, state_before};
use crate::error::{AppError, AppResult};
use crate::service::history::snapshots::{
    DailyScore, MAX_RANGE_DAYS, SOURCE_IMPORTED, end_of_day, progress_before,
};
use crate::service::state::{self, TenantState};
use chrono::{DateTime, Days, NaiveDate, Utc};
use entity::{action_event, audit_log, improvement_action, score_snapshot, tenant};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;

/// Days the default range covers, `to` included (as `scoreHistory` and `trends`).
const DEFAULT_DAYS: u64 = 30;

/// One end of the range as the history shows it.
#[derive(Clone, Debug)]
pub struct ChangeEnd {
    pub day: NaiveDate,
    /// `COMPUTED`, `IMPORTED` or `LIVE`.
    pub source: String,
}

/// An action named in the answer.
#[derive(Clone, Debug)]
pub struct NamedAction {
    pub control_id: String,
    pub title: String,
    pub category: Category,
}

/// The answer of `Tenant.scoreChange`.
#[derive(Clone, Debug)]
pub struct ScoreChange {
    pub from: ChangeEnd,
    pub to: ChangeEnd,
    /// The causes; their action indexes point into `actions`.
    pub attribution: Attribution,
    pub actions: Vec<NamedAction>,
    /// The events the causes name, by id.
    pub events: HashMap<i64, action_event::Model>,
}

/// The figures of one end, the moment its state is judged at and when its snapshot was written.
struct End {
    change: ChangeEnd,
    score: DailyScore,
    moment: DateTime<Utc>,
    written_at: Option<DateTime<Utc>>,
}

/// What the history shows for `day`: today's live score, or the day's stored snapshot.
async fn end_of<C: ConnectionTrait>(
    conn: &C,
    live: &TenantState,
    field: &str,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> AppResult<End> {
    if day == now.date_naive() {
        let score = DailyScore::live(live, day);
        return Ok(End {
            change: ChangeEnd {
                day,
                source: score.source.clone(),
            },
            score,
            moment: now,
            written_at: None,
        });
    }
    let Some(row) = score_snapshot::Entity::find()
        .filter(score_snapshot::Column::TenantId.eq(live.tenant.id))
        .filter(score_snapshot::Column::Day.eq(day))
        .one(conn)
        .await?
    else {
        return Err(AppError::bad_input(
            field,
            format!(
                "the tenant's history has no snapshot of {day} (scoreHistory leaves that day out): \
                 pick a day it shows"
            ),
        ));
    };
    let score = DailyScore::stored(&row)?;
    Ok(End {
        change: ChangeEnd {
            day,
            source: row.source.clone(),
        },
        score,
        moment: end_of_day(day),
        written_at: Some(row.created_at),
    })
}

/// The first day of `from..=to` the history shows (`to` when none before it is).
async fn first_shown_day<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<NaiveDate> {
    let first = score_snapshot::Entity::find()
        .filter(score_snapshot::Column::TenantId.eq(tenant_id))
        .filter(score_snapshot::Column::Day.gte(from))
        .filter(score_snapshot::Column::Day.lte(to))
        .order_by_asc(score_snapshot::Column::Day)
        .one(conn)
        .await?;
    Ok(first.map_or(to, |s| s.day))
}

/// The tenant's settings that decide applicability as they were at `moment`: today's, with
/// every later `TENANT_UPDATED` undone (newest first).
fn tenant_at(current: &tenant::Model, newer_updates_newest_first: &[audit_log::Model]) -> tenant::Model {
    let mut t = current.clone();
    for entry in newer_updates_newest_first {
        let Some(detail) = &entry.detail else { continue };
        if let Some(services) = detail
            .get("enabledServices")
            .and_then(|c| c.get("from"))
            .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok())
        {
            t.enabled_services = entity::types::StringList(services);
        }
        if let Some(source) = detail
            .get("catalogSource")
            .and_then(|c| c.get("from"))
            .and_then(|v| serde_json::from_value::<CatalogSource>(v.clone()).ok())
        {
            t.catalog_source = source;
        }
    }
    t
}

/// Checks the range: `from ≤ to ≤ today`, and no longer than the history keeps.
fn validate(from: NaiveDate, to: NaiveDate, today: NaiveDate, retention_days: u32) -> AppResult<()> {
    if to > today {
        return Err(AppError::bad_input(
            "to",
            format!("{to} is in the future: the last day with a score is today ({today})"),
        ));
    }
    if from > to {
        return Err(AppError::bad_input("from", "`from` must not be after `to`"));
    }
    let days = (to - from).num_days() + 1;
    let limit = i64::from(retention_days).min(MAX_RANGE_DAYS);
    if days > limit {
        return Err(AppError::bad_input(
            "from",
            format!(
                "a score change may span at most {limit} days (the history keeps {retention_days} \
                 days of snapshots); this range spans {days}"
            ),
        ));
    }
    Ok(())
}

/// What `Tenant.scoreChange` asks.
#[derive(Clone, Copy, Debug)]
pub struct ChangeQuery {
    /// The first day; default: the first day the history shows within the 30 days up to `to`.
    pub from: Option<NaiveDate>,
    /// The last day; default: today.
    pub to: Option<NaiveDate>,
    pub view: ViewKind,
}

/// `Tenant.scoreChange` (READER): the change of the view from the end of `from` to the end of
/// `to`, by cause. `live` is the tenant's current state (read first, so due expiries are applied);
/// `retention_days` is how long the history keeps computed snapshots.
pub async fn score_change<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    live: &TenantState,
    query: ChangeQuery,
    retention_days: u32,
    now: DateTime<Utc>,
) -> AppResult<ScoreChange> {
    let ChangeQuery { from, to, view } = query;
    let tenant = &live.tenant;
    viewer.require(tenant.id, Role::Reader)?;
    let today = now.date_naive();
    let to = to.unwrap_or(today);
    let from = match from {
        Some(f) => f,
        None => {
            let earliest = to.checked_sub_days(Days::new(DEFAULT_DAYS - 1)).unwrap_or(to);
            first_shown_day(conn, tenant.id, earliest, to).await?
        }
    };
    validate(from, to, today, retention_days)?;
    let (start, end) = (
        end_of(conn, live, "from", from, now).await?,
        end_of(conn, live, "to", to, now).await?,
    );

    // What applied at each end.
    let updates = audit_log::Entity::find()
        .filter(audit_log::Column::TenantId.eq(tenant.id))
        .filter(audit_log::Column::Action.eq(crate::service::audit::action::TENANT_UPDATED))
        .filter(audit_log::Column::OccurredAt.gte(start.moment))
        .order_by_desc(audit_log::Column::OccurredAt)
        .order_by_desc(audit_log::Column::Id)
        .all(conn)
        .await?;
    let newer_than = |moment: DateTime<Utc>| {
        updates
            .iter()
            .filter(|u| u.occurred_at >= moment)
            .cloned()
            .collect::<Vec<_>>()
    };
    let tenant_from = tenant_at(tenant, &newer_than(start.moment));
    let tenant_to = tenant_at(tenant, &newer_than(end.moment));
    let rows = improvement_action::Entity::find()
        .filter(improvement_action::Column::TenantId.eq(tenant.id))
        .filter(improvement_action::Column::CreatedAt.lt(end.moment))
        .all(conn)
        .await?;
    let applicable = |t: &tenant::Model, rows: Vec<improvement_action::Model>| {
        let t = t.clone();
        async move { state::controls::with_controls(conn, &t, rows).await }
    };
    let counted_from: HashMap<i64, _> = applicable(&tenant_from, rows.clone())
        .await?
        .into_iter()
        .filter(|(row, _)| row.created_at < start.moment)
        .map(|(row, c)| (row.id, c))
        .collect();
    let counted_to: HashMap<i64, _> = applicable(&tenant_to, rows.clone())
        .await?
        .into_iter()
        .map(|(row, c)| (row.id, c))
        .collect();
    let held_from = state::held_licenses_bought_before(conn, tenant.id, Some(start.moment)).await?;
    let held_to = state::held_licenses_bought_before(conn, tenant.id, Some(end.moment)).await?;

    // Every event since the end of `from`, newest first: those after `to` roll the rows back to
    // `to`, the others are the range's.
    let mut newer: HashMap<i64, Vec<PastEvent>> = HashMap::new();
    let mut in_range: HashMap<i64, Vec<action_event::Model>> = HashMap::new();
    for e in action_event::Entity::find()
        .filter(action_event::Column::TenantId.eq(tenant.id))
        .filter(action_event::Column::OccurredAt.gte(start.moment))
        .order_by_desc(action_event::Column::OccurredAt)
        .order_by_desc(action_event::Column::Id)
        .all(conn)
        .await?
    {
        if e.occurred_at >= end.moment {
            newer.entry(e.action_id).or_default().push(PastEvent {
                kind: e.kind,
                status_before: e.status_before,
                progress_before: progress_before(e.data.as_ref()),
            });
        } else {
            in_range.entry(e.action_id).or_default().push(e);
        }
    }

    let mut rows: Vec<improvement_action::Model> = rows
        .into_iter()
        .filter(|r| counted_from.contains_key(&r.id) || counted_to.contains_key(&r.id))
        .collect();
    rows.sort_by(|a, b| a.control_id.cmp(&b.control_id));
    let mut logs = Vec::with_capacity(rows.len());
    let mut named = Vec::with_capacity(rows.len());
    let mut events: HashMap<i64, action_event::Model> = HashMap::new();
    let mut changed_since = [false, false];
    for row in &rows {
        let control = match (counted_to.get(&row.id), counted_from.get(&row.id)) {
            (Some(c), _) | (None, Some(c)) => c.clone(),
            (None, None) => continue,
        };
        let plans = &control.required_license_plans.0;
        let count = |counted: bool, held, moment| {
            counted.then(|| Counted {
                licensed: licensing(plans, held, row.users_affected, moment).licensed,
            })
        };
        let at_from = count(counted_from.contains_key(&row.id), &held_from, start.moment);
        let at_to = count(counted_to.contains_key(&row.id), &held_to, end.moment);
        for (i, (counted, written)) in [(at_from, start.written_at), (at_to, end.written_at)]
            .into_iter()
            .enumerate()
        {
            // Changed after the day was written, and not merely created after it (a catalog
            // loaded after a backfilled day was not changed since).
            if counted.is_some()
                && written.is_some_and(|w| control.updated_at > w && control.updated_at > control.created_at)
            {
                changed_since[i] = true;
            }
        }
        let now_state = ActionProgress {
            status: row.status,
            implemented: row.implemented,
            total: row.total,
        };
        let state_to = state_before(now_state, newer.get(&row.id).map_or(&[][..], Vec::as_slice));
        let range = in_range.remove(&row.id).unwrap_or_default();
        logs.push(ActionLog {
            category: control.category,
            max_points: Points::from_storage(control.max_points),
            deprecated: control.deprecated,
            at_from,
            at_to,
            state_to,
            events: range
                .iter()
                .map(|e| LoggedEvent {
                    id: e.id,
                    kind: e.kind,
                    status_before: e.status_before,
                    status_after: e.status_after,
                    progress_before: progress_before(e.data.as_ref()),
                })
                .collect(),
        });
        events.extend(range.into_iter().map(|e| (e.id, e)));
        named.push(NamedAction {
            control_id: row.control_id.clone(),
            title: control.title.clone(),
            category: control.category,
        });
    }

    let snapshot = |e: &End, changed: bool| EndSnapshot {
        views: e.score.overall.clone(),
        residual_cause: residual_cause(e.change.source == SOURCE_IMPORTED, changed),
    };
    let attribution = attribute(
        view,
        &snapshot(&start, changed_since[0]),
        &snapshot(&end, changed_since[1]),
        &logs,
    );
    let mentioned: std::collections::HashSet<i64> = attribution
        .causes
        .iter()
        .flat_map(|c| c.actions.iter().flat_map(|a| a.events.iter().copied()))
        .collect();
    events.retain(|id, _| mentioned.contains(id));
    Ok(ScoreChange {
        from: start.change,
        to: end.change,
        attribution,
        actions: named,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("valid date in test")
    }

    #[test]
    fn ranges_are_checked_against_today_and_the_retention() {
        let today = day("2026-06-30");
        let cases = [
            ("2026-06-01", "2026-06-30", 400, true, "a month up to today"),
            ("2026-06-30", "2026-06-30", 400, true, "one day"),
            ("2026-06-02", "2026-06-01", 400, false, "from after to"),
            ("2026-06-01", "2026-07-01", 400, false, "to in the future"),
            ("2026-06-01", "2026-06-30", 30, true, "exactly the retention"),
            (
                "2026-05-31",
                "2026-06-30",
                30,
                false,
                "one day longer than the retention",
            ),
            (
                "2025-05-25",
                "2026-06-30",
                1000,
                false,
                "longer than any history query",
            ),
        ];
        for (from, to, retention, ok, why) in cases {
            assert_eq!(
                validate(day(from), day(to), today, retention).is_ok(),
                ok,
                "{why}"
            );
        }
    }

    fn update(services: Option<(&[&str], &[&str])>, source: Option<(&str, &str)>) -> audit_log::Model {
        let mut detail = serde_json::Map::new();
        if let Some((from, to)) = services {
            detail.insert(
                "enabledServices".into(),
                serde_json::json!({ "from": from, "to": to }),
            );
        }
        if let Some((from, to)) = source {
            detail.insert(
                "catalogSource".into(),
                serde_json::json!({ "from": from, "to": to }),
            );
        }
        detail.insert("name".into(), serde_json::json!({ "from": "A", "to": "B" }));
        audit_log::Model {
            id: 1,
            tenant_id: Some(1),
            actor_id: None,
            action: "TENANT_UPDATED".into(),
            target: "Tenant:t".into(),
            detail: Some(serde_json::Value::Object(detail)),
            occurred_at: Utc::now(),
        }
    }

    #[test]
    fn the_settings_of_a_past_day_undo_later_updates_newest_first() {
        let now = tenant::Model {
            enabled_services: entity::types::StringList(vec!["AzureAD".into(), "MDO".into()]),
            catalog_source: CatalogSource::MicrosoftGraph,
            ..crate::service::state::test_support::state(1, 0).tenant
        };
        let newest_first = [
            update(Some((&["AzureAD"], &["AzureAD", "MDO"])), None),
            update(None, Some(("SERVICE_CATALOG", "MICROSOFT_GRAPH"))),
            update(Some((&["EXO"], &["AzureAD"])), None),
        ];
        let cases = [
            (
                0,
                vec!["AzureAD", "MDO"],
                CatalogSource::MicrosoftGraph,
                "no later update",
            ),
            (
                1,
                vec!["AzureAD"],
                CatalogSource::MicrosoftGraph,
                "before MDO was enabled",
            ),
            (
                2,
                vec!["AzureAD"],
                CatalogSource::ServiceCatalog,
                "before the import switched the source",
            ),
            (3, vec!["EXO"], CatalogSource::ServiceCatalog, "before everything"),
        ];
        for (undone, services, source, why) in cases {
            let then = tenant_at(&now, &newest_first[..undone]);
            assert_eq!(then.enabled_services.0, services, "{why}");
            assert_eq!(then.catalog_source, source, "{why}");
        }
    }
}
