//! Trends over a date range (SPEC §8), computed from the action event log: points gained and
//! lost (every event that records points before and after), risk acceptances and regressions
//! per day, and the list of regressions.

use crate::auth::Viewer;
use crate::domain::enums::{Category, EventKind, Role, Status};
use crate::domain::points::Points;
use crate::error::AppResult;
use crate::service::history::snapshots::{end_of_day, start_of_day, validate_range};
use crate::service::workflow::events;
use chrono::{DateTime, NaiveDate, Utc};
use entity::{action_event, control, improvement_action};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::{BTreeMap, HashMap};

/// One day of a trend.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrendDay {
    pub day: NaiveDate,
    pub points_gained: Points,
    pub points_lost: Points,
    /// `REGRESSED` events.
    pub regressions: u32,
    /// Changes into `RISK_ACCEPTED`.
    pub risk_acceptances: u32,
}

/// One regression of an action.
#[derive(Clone, Debug, PartialEq)]
pub struct Regression {
    pub control_id: String,
    pub title: String,
    pub category: Category,
    pub occurred_at: DateTime<Utc>,
    pub points_before: Points,
    pub points_after: Points,
    pub comment: Option<String>,
}

/// Trends of a tenant over a range.
#[derive(Clone, Debug, PartialEq)]
pub struct Trends {
    /// Σ of positive point changes.
    pub points_achieved: Points,
    /// Σ of negative point changes, as a positive number.
    pub points_regressed: Points,
    /// `points_achieved − points_regressed`.
    pub net_change: Points,
    /// Every day of the range, oldest first.
    pub days: Vec<TrendDay>,
    /// Newest first.
    pub regressions: Vec<Regression>,
}

/// `Tenant.trends` (READER): events from the start of `from` to the end of `to`.
pub async fn trends<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    tenant_id: i64,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<Trends> {
    viewer.require(tenant_id, Role::Reader)?;
    validate_range(from, to)?;
    let events = action_event::Entity::find()
        .filter(action_event::Column::TenantId.eq(tenant_id))
        .filter(action_event::Column::OccurredAt.gte(start_of_day(from)))
        .filter(action_event::Column::OccurredAt.lt(end_of_day(to)))
        .order_by_desc(action_event::Column::OccurredAt)
        .order_by_desc(action_event::Column::Id)
        .all(conn)
        .await?;
    let mut days: BTreeMap<NaiveDate, TrendDay> = from
        .iter_days()
        .take_while(|d| *d <= to)
        .map(|day| {
            (
                day,
                TrendDay {
                    day,
                    ..TrendDay::default()
                },
            )
        })
        .collect();
    let regressed_ids: Vec<i64> = events
        .iter()
        .filter(|e| e.kind == EventKind::Regressed)
        .map(|e| e.action_id)
        .collect();
    let regressed_actions: Vec<improvement_action::Model> = if regressed_ids.is_empty() {
        Vec::new()
    } else {
        improvement_action::Entity::find()
            .filter(improvement_action::Column::TenantId.eq(tenant_id))
            .filter(improvement_action::Column::Id.is_in(regressed_ids))
            .all(conn)
            .await?
    };
    let titles = crate::service::state::controls::controls_of(
        conn,
        tenant_id,
        regressed_actions.iter().map(|a| a.control_id.clone()),
    )
    .await?;
    let controls: HashMap<i64, (improvement_action::Model, Option<&std::sync::Arc<control::Model>>)> =
        regressed_actions
            .into_iter()
            .map(|a| {
                let c = titles.get(&a.control_id);
                (a.id, (a, c))
            })
            .collect();
    let (mut achieved, mut regressed) = (Points::ZERO, Points::ZERO);
    let mut regressions = Vec::new();
    for e in &events {
        let Some(day) = days.get_mut(&e.occurred_at.date_naive()) else {
            continue;
        };
        if let (Some(before), Some(after)) = (events::points_before(e), events::points_after(e)) {
            let delta = after - before;
            if delta.is_positive() {
                achieved += &delta;
                day.points_gained += &delta;
            } else if delta.is_negative() {
                let lost = -delta;
                regressed += &lost;
                day.points_lost += &lost;
            }
        }
        let into_risk =
            e.status_after == Some(Status::RiskAccepted) && e.status_before != Some(Status::RiskAccepted);
        if into_risk {
            day.risk_acceptances += 1;
        }
        if e.kind == EventKind::Regressed {
            day.regressions += 1;
            if let Some((action, c)) = controls.get(&e.action_id) {
                regressions.push(Regression {
                    control_id: action.control_id.clone(),
                    title: c.as_ref().map(|c| c.title.clone()).unwrap_or_default(),
                    category: action.category,
                    occurred_at: e.occurred_at,
                    points_before: events::points_before(e).unwrap_or_default(),
                    points_after: events::points_after(e).unwrap_or_default(),
                    comment: e.comment.clone(),
                });
            }
        }
    }
    Ok(Trends {
        net_change: &achieved - &regressed,
        points_achieved: achieved,
        points_regressed: regressed,
        days: days.into_values().collect(),
        regressions,
    })
}
