//! `Tenant.scoreChange` as the API presents it: why a score view moved between two days, by
//! cause, every figure rounded to 2 places beside its exact value (built from
//! `service::history::attribution`).

use crate::domain::attribution::{self as d, CauseShare};
use crate::domain::points::Points;
use crate::error::AppError;
use crate::graphql::types::enums::Category;
use crate::graphql::types::history::{Date, SnapshotSource};
use crate::graphql::types::present;
use crate::graphql::types::workflow::ActionEvent;
use crate::service::history::attribution::{ChangeEnd, ScoreChange as Change};
use crate::service::history::snapshots::{SOURCE_COMPUTED, SOURCE_IMPORTED, SOURCE_LIVE};
use async_graphql::{Enum, SimpleObject};

/// A score view whose change can be explained.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::ViewKind")]
pub enum ScoreViewKind {
    /// Points achieved (`secureScore.current`).
    Current,
    /// `current` plus what the PLANNED actions would add (`secureScore.planned`).
    Planned,
    /// What the licences held allow (`secureScore.currentLicense`).
    CurrentLicense,
    /// Like `currentLicense`, except that RISK_ACCEPTED actions stay as they are
    /// (`secureScore.achievable`).
    Achievable,
    /// Points resting on confirmed implementation rather than on claims (`secureScore.verified`).
    Verified,
}

/// Why a score moved.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::Cause")]
pub enum ChangeCause {
    /// Progress gained and completions.
    Remediation,
    /// Progress lost and completed actions that regressed.
    Regression,
    /// A third-party or alternate-mitigation claim set or cleared (`RESOLVED_*`).
    StatusClaim,
    /// A risk acceptance set or cleared.
    RiskAcceptance,
    /// A review date or a device exception passed (`EXPIRED` events).
    Expiry,
    /// Actions that started or stopped counting: services enabled or disabled, controls added
    /// or removed (this moves the maximum).
    Applicability,
    /// Controls re-weighted or deprecated after a day's snapshot was written (the part of that
    /// snapshot the current catalog no longer reproduces).
    Catalog,
    /// Licences bought or lapsed (moves `currentLicense` and `achievable`).
    Licence,
    /// `PLANNED` set or cleared (moves `planned`).
    Planning,
    /// What the event log cannot explain, e.g. the vendor's totals of imported days.
    Unattributed,
}

/// One end of a score change: the day's figures of the view, as `scoreHistory` shows them.
#[derive(SimpleObject)]
pub struct ScoreChangeEnd {
    /// The day (UTC).
    pub day: Date,
    /// Where the day's figures come from.
    pub source: SnapshotSource,
    /// The view's points that day, rounded to 2 places.
    pub points: f64,
    /// The view's points that day, exact (e.g. `"250/21"`).
    pub points_exact: String,
    /// The maximum that day, rounded to 2 places.
    pub max: f64,
    /// The maximum that day, exact.
    pub max_exact: String,
    /// `points / max × 100` that day (0 when `max` is 0), rounded to 2 places.
    pub percentage: f64,
    /// The percentage that day, exact.
    pub percentage_exact: String,
}

/// What one action contributed to one cause.
#[derive(SimpleObject)]
pub struct ScoreChangeAction {
    /// The action's control id.
    pub control_id: String,
    /// The control's title.
    pub title: String,
    /// The control's category.
    pub category: Category,
    /// Change of the view's points through this action under this cause, rounded to 2 places.
    pub points_delta: f64,
    /// The same, exact.
    pub points_delta_exact: String,
    /// Change of the maximum through this action under this cause (applicability changes),
    /// rounded to 2 places.
    pub max_delta: f64,
    /// The same, exact.
    pub max_delta_exact: String,
    /// The events involved, oldest first (none when the action started or stopped counting, or
    /// its licence changed: the event log does not record those).
    pub events: Vec<ActionEvent>,
}

/// One cause of a score change. `pointsDelta` = Σ `actions.pointsDelta` + `unlistedPointsDelta`,
/// exactly (and so for the maximum).
#[derive(SimpleObject)]
pub struct ScoreChangeCause {
    /// The cause.
    pub cause: ChangeCause,
    /// Change of the view's points by this cause, rounded to 2 places.
    pub points_delta: f64,
    /// The same, exact.
    pub points_delta_exact: String,
    /// Change of the maximum by this cause, rounded to 2 places.
    pub max_delta: f64,
    /// The same, exact.
    pub max_delta_exact: String,
    /// This cause's part of the percentage change (`percentageFromPoints + percentageFromMax`),
    /// rounded to 2 places.
    pub percentage_delta: f64,
    /// The same, exact.
    pub percentage_delta_exact: String,
    /// Its part through points: `pointsDelta / max(from) × 100` (against `max(to)` when
    /// `max(from)` is 0), rounded to 2 places.
    pub percentage_from_points: f64,
    /// The same, exact.
    pub percentage_from_points_exact: String,
    /// Its part through the maximum: `−points(to) × maxDelta / (max(to) × max(from)) × 100`,
    /// rounded to 2 places.
    pub percentage_from_max: f64,
    /// The same, exact.
    pub percentage_from_max_exact: String,
    /// The part of `pointsDelta` no action explains: the difference between a day's snapshot
    /// and what the event log reconstructs for it. Rounded to 2 places.
    pub unlisted_points_delta: f64,
    /// The same, exact.
    pub unlisted_points_delta_exact: String,
    /// The part of `maxDelta` no action explains, rounded to 2 places.
    pub unlisted_max_delta: f64,
    /// The same, exact.
    pub unlisted_max_delta_exact: String,
    /// The actions that moved the view or the maximum under this cause, largest change first.
    pub actions: Vec<ScoreChangeAction>,
}

/// Why a score view moved between the end of `from` and the end of `to`: its change split into
/// causes whose deltas add up exactly to `pointsDelta` (and `maxDelta`), and the percentage
/// change split into what more points and what a bigger or smaller maximum did.
#[derive(SimpleObject)]
pub struct ScoreChange {
    /// The view explained.
    pub view: ScoreViewKind,
    /// The first day's figures.
    pub from: ScoreChangeEnd,
    /// The last day's figures.
    pub to: ScoreChangeEnd,
    /// `to.points − from.points`, rounded to 2 places.
    pub points_delta: f64,
    /// The same, exact: Σ `causes.pointsDeltaExact`.
    pub points_delta_exact: String,
    /// `to.max − from.max`, rounded to 2 places.
    pub max_delta: f64,
    /// The same, exact: Σ `causes.maxDeltaExact`.
    pub max_delta_exact: String,
    /// `to.percentage − from.percentage`, rounded to 2 places.
    pub percentage_delta: f64,
    /// The same, exact: `percentageFromPointsExact + percentageFromMaxExact`.
    pub percentage_delta_exact: String,
    /// The part of the percentage change that more (or fewer) points made: `pointsDelta /
    /// from.max × 100` (against `to.max` when `from.max` is 0), rounded to 2 places.
    pub percentage_from_points: f64,
    /// The same, exact.
    pub percentage_from_points_exact: String,
    /// The part that a bigger (or smaller) maximum made: the rest, rounded to 2 places.
    pub percentage_from_max: f64,
    /// The same, exact.
    pub percentage_from_max_exact: String,
    /// The causes that moved the view or the maximum, in the order of `ChangeCause`.
    pub causes: Vec<ScoreChangeCause>,
}

fn source(s: &str) -> Result<SnapshotSource, AppError> {
    match s {
        SOURCE_COMPUTED => Ok(SnapshotSource::Computed),
        SOURCE_IMPORTED => Ok(SnapshotSource::Imported),
        SOURCE_LIVE => Ok(SnapshotSource::Live),
        other => Err(AppError::from(anyhow::anyhow!(
            "unknown snapshot source {other:?}"
        ))),
    }
}

fn end(e: &ChangeEnd, points: &Points, max: &Points) -> Result<ScoreChangeEnd, AppError> {
    let percentage = points.percent_of(max);
    Ok(ScoreChangeEnd {
        day: Date(e.day),
        source: source(&e.source)?,
        points: present(points),
        points_exact: points.to_exact_string(),
        max: present(max),
        max_exact: max.to_exact_string(),
        percentage: present(&percentage),
        percentage_exact: percentage.to_exact_string(),
    })
}

impl ScoreChange {
    /// The answer for a service result.
    pub fn new(change: Change) -> Result<ScoreChange, AppError> {
        let a = &change.attribution;
        let cause = |c: &CauseShare| ScoreChangeCause {
            cause: c.cause.into(),
            points_delta: present(&c.points),
            points_delta_exact: c.points.to_exact_string(),
            max_delta: present(&c.max),
            max_delta_exact: c.max.to_exact_string(),
            percentage_delta: present(c.percentage_delta()),
            percentage_delta_exact: c.percentage_delta().to_exact_string(),
            percentage_from_points: present(&c.percentage_points_effect),
            percentage_from_points_exact: c.percentage_points_effect.to_exact_string(),
            percentage_from_max: present(&c.percentage_max_effect),
            percentage_from_max_exact: c.percentage_max_effect.to_exact_string(),
            unlisted_points_delta: present(&c.unlisted_points),
            unlisted_points_delta_exact: c.unlisted_points.to_exact_string(),
            unlisted_max_delta: present(&c.unlisted_max),
            unlisted_max_delta_exact: c.unlisted_max.to_exact_string(),
            actions: c
                .actions
                .iter()
                .filter_map(|s| {
                    let named = change.actions.get(s.action)?;
                    Some(ScoreChangeAction {
                        control_id: named.control_id.clone(),
                        title: named.title.clone(),
                        category: named.category.into(),
                        points_delta: present(&s.points),
                        points_delta_exact: s.points.to_exact_string(),
                        max_delta: present(&s.max),
                        max_delta_exact: s.max.to_exact_string(),
                        events: s
                            .events
                            .iter()
                            .filter_map(|id| change.events.get(id))
                            .map(|e| ActionEvent {
                                event: e.clone(),
                                control_id: named.control_id.clone(),
                            })
                            .collect(),
                    })
                })
                .collect(),
        };
        let (points_effect, max_effect) = (a.percentage_points_effect(), a.percentage_max_effect());
        Ok(ScoreChange {
            view: a.view.into(),
            from: end(&change.from, &a.points_from, &a.max_from)?,
            to: end(&change.to, &a.points_to, &a.max_to)?,
            points_delta: present(a.points_delta()),
            points_delta_exact: a.points_delta().to_exact_string(),
            max_delta: present(a.max_delta()),
            max_delta_exact: a.max_delta().to_exact_string(),
            percentage_delta: present(a.percentage_delta()),
            percentage_delta_exact: a.percentage_delta().to_exact_string(),
            percentage_from_points: present(&points_effect),
            percentage_from_points_exact: points_effect.to_exact_string(),
            percentage_from_max: present(&max_effect),
            percentage_from_max_exact: max_effect.to_exact_string(),
            causes: a.causes.iter().map(cause).collect(),
        })
    }
}
