//! Why a score moved: the change of one score view between the ends of two days, split into
//! causes whose point deltas add up **exactly** to the change the history shows.
//!
//! The scheme, per action (the caller gathers the data; nothing here does I/O):
//!
//! 1. Its state at the end of `to` is known, and so are its events after the end of `from` up to
//!    the end of `to` (newest first). Undoing them one by one (`replay::state_before`) gives its
//!    state after each of them and, at last, its state at the end of `from` (or, for an action
//!    created in between, the state it was created in).
//! 2. What applied to the tenant at each end (`at_from`, `at_to`: the action counted, and whether
//!    it was licensed) is compared first, at the `from` state: an action that stopped counting
//!    takes its whole value away, one that started counting adds its value
//!    ([`Cause::Applicability`]), one that counted at both ends but whose licence changed moves
//!    the licence views ([`Cause::Licence`]).
//! 3. Then every event, oldest first, moves the action from the state before it to the state
//!    after it, valued under the `to` licence; the difference goes to the cause the event names
//!    ([`classify`]).
//!
//! Each action's steps telescope: they add up to its value at `to` minus its value at `from`, so
//! the actions together explain `R(to) − R(from)`, the reconstructed totals. What a snapshot
//! holds beyond its reconstruction (a catalog re-weighting after the day was written, a vendor's
//! total on an imported day, anything else the log does not record) is each end's *residual*
//! `snapshot − R`; it goes, unsplit by action, to the cause the caller names for that end
//! ([`residual_cause`]). So the causes always add up to `snapshot(to) − snapshot(from)`, and so
//! do the maxima (the same steps applied to `maxScore`).
//!
//! The percentage change is split the same exact way: "more points" is each cause's point delta
//! over `max(from)`, "a bigger or smaller maximum" is the rest, `−V(to) × Δmax / (max(to) ×
//! max(from))` per cause (see [`percentage_effects`] for the degenerate maxima).

use std::collections::BTreeMap;

use super::enums::{Category, EventKind, Level, Status, Tier};
use super::points::Points;
use super::replay::{ActionProgress, PastEvent, state_before};
use super::scoring::{ScoreViews, ScoredAction};

/// The score view whose change is explained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViewKind {
    Current,
    Planned,
    CurrentLicense,
    Achievable,
    Verified,
}

impl ViewKind {
    /// Every view, in the order of the score's fields.
    pub const ALL: [ViewKind; 5] = [
        ViewKind::Current,
        ViewKind::Planned,
        ViewKind::CurrentLicense,
        ViewKind::Achievable,
        ViewKind::Verified,
    ];

    /// This view's points among `views`.
    pub fn of(self, views: &ScoreViews) -> &Points {
        match self {
            ViewKind::Current => &views.current,
            ViewKind::Planned => &views.planned,
            ViewKind::CurrentLicense => &views.current_license,
            ViewKind::Achievable => &views.achievable,
            ViewKind::Verified => &views.verified,
        }
    }
}

/// Why points moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    /// Progress gained, completions.
    Remediation,
    /// Progress lost, completed actions regressing.
    Regression,
    /// A third-party or alternate-mitigation claim set or cleared.
    StatusClaim,
    /// A risk acceptance set or cleared.
    RiskAcceptance,
    /// A review date or an exception passed.
    Expiry,
    /// Actions that started or stopped counting (services enabled or disabled, controls added
    /// or removed).
    Applicability,
    /// Controls re-weighted or deprecated after a day was written.
    Catalog,
    /// Licences bought, expired or removed.
    Licence,
    /// PLANNED set or cleared.
    Planning,
    /// What the log cannot explain.
    Unattributed,
}

impl Cause {
    /// Every cause, in the order answers list them.
    pub const ALL: [Cause; 10] = [
        Cause::Remediation,
        Cause::Regression,
        Cause::StatusClaim,
        Cause::RiskAcceptance,
        Cause::Expiry,
        Cause::Applicability,
        Cause::Catalog,
        Cause::Licence,
        Cause::Planning,
        Cause::Unattributed,
    ];
}

/// The cause a status names when an action enters or leaves it, if it names one.
fn status_cause(status: Option<Status>) -> Option<Cause> {
    match status? {
        Status::RiskAccepted => Some(Cause::RiskAcceptance),
        Status::ResolvedThirdParty | Status::ResolvedAlternateMitigation => Some(Cause::StatusClaim),
        Status::Planned => Some(Cause::Planning),
        Status::ToAddress | Status::Completed => None,
    }
}

/// The cause of one event's effect `delta` on the view. Expiries, regressions and completions
/// name themselves; a progress change is remediation or regression by its sign; a status change
/// (by hand, by an exception, an undo or an import) is named by the status it enters when that
/// is a claim or a risk acceptance, else by the one it leaves, else PLANNED on either side makes
/// it planning; anything else goes by its sign.
pub fn classify(kind: EventKind, before: Option<Status>, after: Option<Status>, delta: &Points) -> Cause {
    let by_sign = if delta.is_negative() {
        Cause::Regression
    } else {
        Cause::Remediation
    };
    match kind {
        EventKind::Expired => Cause::Expiry,
        EventKind::Regressed => Cause::Regression,
        EventKind::Completed => Cause::Remediation,
        EventKind::ProgressChanged => by_sign,
        _ => {
            let strong = |c: Option<Cause>| c.filter(|c| *c != Cause::Planning);
            strong(status_cause(after))
                .or_else(|| strong(status_cause(before)))
                .or_else(|| status_cause(after).or_else(|| status_cause(before)))
                .unwrap_or(by_sign)
        }
    }
}

/// Where the part of a snapshot that its reconstruction does not explain comes from: an
/// imported day's vendor totals cannot be split, a computed day whose catalog changed since it
/// was written shows the catalog's effect, anything else is left unattributed.
pub fn residual_cause(imported: bool, catalog_changed_since: bool) -> Cause {
    if !imported && catalog_changed_since {
        Cause::Catalog
    } else {
        Cause::Unattributed
    }
}

/// One event of the log, with what it says about the state before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoggedEvent {
    /// The event's id, listed with the actions it moved.
    pub id: i64,
    pub kind: EventKind,
    pub status_before: Option<Status>,
    pub status_after: Option<Status>,
    /// `(implementedBefore, totalBefore)` of a progress event.
    pub progress_before: Option<(i64, i64)>,
}

impl LoggedEvent {
    fn past(&self) -> PastEvent {
        PastEvent {
            kind: self.kind,
            status_before: self.status_before,
            progress_before: self.progress_before,
        }
    }
}

/// How an action counted at one end of the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    /// Whether the tenant held a licence for it then.
    pub licensed: bool,
}

/// One action's history over the range.
#[derive(Clone, Debug)]
pub struct ActionLog {
    pub category: Category,
    /// The control's `maxPoints` (as the catalog has it now).
    pub max_points: Points,
    pub deprecated: bool,
    /// How it counted at the end of `from`; `None` when it did not (not created yet, or not
    /// applicable).
    pub at_from: Option<Counted>,
    /// How it counts at the end of `to`; `None` when it does not.
    pub at_to: Option<Counted>,
    /// Its state at the end of `to`.
    pub state_to: ActionProgress,
    /// Its events after the end of `from` up to the end of `to`, newest first.
    pub events: Vec<LoggedEvent>,
}

impl ActionLog {
    /// The action's contribution to every view in `state`.
    fn value(&self, state: ActionProgress, licensed: bool) -> ScoreViews {
        // Tier and levels rank actions; they play no part in their points.
        ScoreViews::of_action(&ScoredAction {
            category: self.category,
            max_points: self.max_points.clone(),
            deprecated: self.deprecated,
            status: state.status,
            implemented: state.implemented,
            total: state.total,
            licensed,
            tier: Tier::Core,
            user_impact: Level::Unknown,
            implementation_cost: Level::Unknown,
        })
    }

    /// Its states from the end of `to` back: `[0]` at `to`, `[i + 1]` before `events[i]`; the
    /// last is its state at the end of `from` (or as created).
    fn states(&self) -> Vec<ActionProgress> {
        let mut states = Vec::with_capacity(self.events.len() + 1);
        states.push(self.state_to);
        for e in &self.events {
            let after = *states.last().unwrap_or(&self.state_to);
            states.push(state_before(after, &[e.past()]));
        }
        states
    }
}

/// A snapshot at one end of the range: its figures as the history shows them, and the cause of
/// whatever in them the log does not explain.
#[derive(Clone, Debug)]
pub struct EndSnapshot {
    pub views: ScoreViews,
    pub residual_cause: Cause,
}

/// What one action contributed to one cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionShare {
    /// The action's index in the caller's list.
    pub action: usize,
    /// Change of the view's points.
    pub points: Points,
    /// Change of the maximum.
    pub max: Points,
    /// Ids of the events involved, oldest first (none for applicability and licence steps).
    pub events: Vec<i64>,
}

/// One cause of the change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CauseShare {
    pub cause: Cause,
    /// Change of the view's points: Σ actions + `unlisted_points`.
    pub points: Points,
    /// Change of the maximum: Σ actions + `unlisted_max`.
    pub max: Points,
    /// The actions that moved, largest point change first.
    pub actions: Vec<ActionShare>,
    /// The part no action explains (a snapshot's residual).
    pub unlisted_points: Points,
    pub unlisted_max: Points,
    /// This cause's part of the percentage change through points.
    pub percentage_points_effect: Points,
    /// This cause's part of the percentage change through the maximum.
    pub percentage_max_effect: Points,
}

impl CauseShare {
    /// The cause's whole part of the percentage change.
    pub fn percentage_delta(&self) -> Points {
        &self.percentage_points_effect + &self.percentage_max_effect
    }
}

/// The change of one view between two days, by cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribution {
    pub view: ViewKind,
    pub points_from: Points,
    pub points_to: Points,
    pub max_from: Points,
    pub max_to: Points,
    /// The causes that moved the points or the maximum, in [`Cause::ALL`] order.
    pub causes: Vec<CauseShare>,
}

impl Attribution {
    /// `points(to) − points(from)`.
    pub fn points_delta(&self) -> Points {
        &self.points_to - &self.points_from
    }
    /// `max(to) − max(from)`.
    pub fn max_delta(&self) -> Points {
        &self.max_to - &self.max_from
    }
    pub fn percentage_from(&self) -> Points {
        self.points_from.percent_of(&self.max_from)
    }
    pub fn percentage_to(&self) -> Points {
        self.points_to.percent_of(&self.max_to)
    }
    /// `percentage(to) − percentage(from)`.
    pub fn percentage_delta(&self) -> Points {
        self.percentage_to() - self.percentage_from()
    }
    /// The part of the percentage change that more (or fewer) points made.
    pub fn percentage_points_effect(&self) -> Points {
        self.causes.iter().map(|c| &c.percentage_points_effect).sum()
    }
    /// The part that a bigger (or smaller) maximum made.
    pub fn percentage_max_effect(&self) -> Points {
        self.causes.iter().map(|c| &c.percentage_max_effect).sum()
    }
}

/// A cause's percentage effects `(points, maximum)` from its point and maximum deltas `dv`, `dm`,
/// given the view's points and maxima at both ends. Over all causes they add up to
/// `percentage(to) − percentage(from)` exactly: with both maxima positive, points count against
/// `max(from)` and the maximum's effect is `−V(to)·dm / (max(to)·max(from))`; when `max(to)` is
/// 0 the maximum's effect is `V(to)·dm / max(from)²`; when `max(from)` is 0 (percentage 0),
/// points count against `max(to)` and the maximum's effect is `V(from)·dm / max(to)²`; when both
/// are 0 nothing moves the percentage.
pub fn percentage_effects(
    dv: &Points,
    dm: &Points,
    (v_from, m_from): (&Points, &Points),
    (v_to, m_to): (&Points, &Points),
) -> (Points, Points) {
    match (m_from.is_zero(), m_to.is_zero()) {
        (false, false) => (dv.percent_of(m_from), -v_to.mul(dm).percent_of(&m_to.mul(m_from))),
        (false, true) => (
            dv.percent_of(m_from),
            v_to.mul(dm).percent_of(&m_from.mul(m_from)),
        ),
        (true, false) => (dv.percent_of(m_to), v_from.mul(dm).percent_of(&m_to.mul(m_to))),
        (true, true) => (Points::ZERO, Points::ZERO),
    }
}

/// What one action did under one cause, while it is being gathered.
#[derive(Default)]
struct Acc {
    points: Points,
    max: Points,
    events: Vec<i64>,
}

/// Explains the change of `view` from `from` to `to` (see the module header).
pub fn attribute(view: ViewKind, from: &EndSnapshot, to: &EndSnapshot, actions: &[ActionLog]) -> Attribution {
    let mut by_action: BTreeMap<(Cause, usize), Acc> = BTreeMap::new();
    let mut step = |cause: Cause, action: usize, delta: &ScoreViews, event: Option<i64>| {
        let (points, max) = (view.of(delta), &delta.max_score);
        if points.is_zero() && max.is_zero() {
            return;
        }
        let acc = by_action.entry((cause, action)).or_default();
        acc.points += points;
        acc.max += max;
        acc.events.extend(event);
    };
    let (mut r_from, mut r_to) = (ScoreViews::default(), ScoreViews::default());
    for (i, a) in actions.iter().enumerate() {
        let states = a.states();
        let start = *states.last().unwrap_or(&a.state_to);
        if let Some(f) = a.at_from {
            r_from += a.value(start, f.licensed);
        }
        let Some(t) = a.at_to else {
            if let Some(f) = a.at_from {
                step(
                    Cause::Applicability,
                    i,
                    &difference(&ScoreViews::default(), &a.value(start, f.licensed)),
                    None,
                );
            }
            continue;
        };
        r_to += a.value(a.state_to, t.licensed);
        let start_value = a.value(start, t.licensed);
        match a.at_from {
            None => step(Cause::Applicability, i, &start_value, None),
            Some(f) => step(
                Cause::Licence,
                i,
                &difference(&start_value, &a.value(start, f.licensed)),
                None,
            ),
        }
        // events[j] took the action from states[j + 1] to states[j]; oldest first.
        for (j, e) in a.events.iter().enumerate().rev() {
            let delta = difference(
                &a.value(states[j], t.licensed),
                &a.value(states[j + 1], t.licensed),
            );
            let cause = classify(e.kind, e.status_before, e.status_after, view.of(&delta));
            step(cause, i, &delta, Some(e.id));
        }
    }

    let mut causes: BTreeMap<Cause, CauseShare> = BTreeMap::new();
    let share = |causes: &mut BTreeMap<Cause, CauseShare>, cause: Cause| {
        causes.entry(cause).or_insert_with(|| CauseShare {
            cause,
            points: Points::ZERO,
            max: Points::ZERO,
            actions: Vec::new(),
            unlisted_points: Points::ZERO,
            unlisted_max: Points::ZERO,
            percentage_points_effect: Points::ZERO,
            percentage_max_effect: Points::ZERO,
        });
    };
    for ((cause, action), acc) in by_action {
        if acc.points.is_zero() && acc.max.is_zero() {
            continue;
        }
        share(&mut causes, cause);
        if let Some(c) = causes.get_mut(&cause) {
            c.actions.push(ActionShare {
                action,
                points: acc.points,
                max: acc.max,
                events: acc.events.into_iter().rev().collect(),
            });
        }
    }
    // Each end's residual: `to`'s adds, `from`'s takes away.
    for (residual, cause) in [
        (difference(&to.views, &r_to), to.residual_cause),
        (difference(&r_from, &from.views), from.residual_cause),
    ] {
        if view.of(&residual).is_zero() && residual.max_score.is_zero() {
            continue;
        }
        share(&mut causes, cause);
        if let Some(c) = causes.get_mut(&cause) {
            c.unlisted_points += view.of(&residual);
            c.unlisted_max += &residual.max_score;
        }
    }

    let ends = (
        (view.of(&from.views), &from.views.max_score),
        (view.of(&to.views), &to.views.max_score),
    );
    let mut out: Vec<CauseShare> = causes
        .into_values()
        .map(|mut c| {
            c.points = c.actions.iter().map(|a| &a.points).sum::<Points>() + c.unlisted_points.clone();
            c.max = c.actions.iter().map(|a| &a.max).sum::<Points>() + c.unlisted_max.clone();
            (c.percentage_points_effect, c.percentage_max_effect) =
                percentage_effects(&c.points, &c.max, ends.0, ends.1);
            c.actions.sort_by(|x, y| {
                let magnitude = |p: &Points| if p.is_negative() { -p.clone() } else { p.clone() };
                magnitude(&y.points)
                    .cmp(&magnitude(&x.points))
                    .then_with(|| magnitude(&y.max).cmp(&magnitude(&x.max)))
                    .then_with(|| x.action.cmp(&y.action))
            });
            c
        })
        .filter(|c| !(c.points.is_zero() && c.max.is_zero() && c.actions.is_empty()))
        .collect();
    out.sort_by_key(|c| c.cause);
    Attribution {
        view,
        points_from: view.of(&from.views).clone(),
        points_to: view.of(&to.views).clone(),
        max_from: from.views.max_score.clone(),
        max_to: to.views.max_score.clone(),
        causes: out,
    }
}

/// `a − b`, view by view.
fn difference(a: &ScoreViews, b: &ScoreViews) -> ScoreViews {
    let [x, y] = [a.as_array(), b.as_array()];
    ScoreViews::from_array(std::array::from_fn(|i| x[i] - y[i]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventKind as K;
    use Status::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Points {
        s.parse().expect("valid points literal in test")
    }

    fn st(status: Status, implemented: i64, total: i64) -> ActionProgress {
        ActionProgress {
            status,
            implemented,
            total,
        }
    }

    fn ev(
        id: i64,
        kind: EventKind,
        before: Option<Status>,
        after: Option<Status>,
        progress: Option<(i64, i64)>,
    ) -> LoggedEvent {
        LoggedEvent {
            id,
            kind,
            status_before: before,
            status_after: after,
            progress_before: progress,
        }
    }

    const LICENSED: Option<Counted> = Some(Counted { licensed: true });

    fn action(max: &str, state_to: ActionProgress, events: Vec<LoggedEvent>) -> ActionLog {
        ActionLog {
            category: Category::Identity,
            max_points: p(max),
            deprecated: false,
            at_from: LICENSED,
            at_to: LICENSED,
            state_to,
            events,
        }
    }

    /// The snapshots the reconstruction itself gives: nothing left unexplained.
    fn exact_ends(actions: &[ActionLog]) -> (EndSnapshot, EndSnapshot) {
        let (mut from, mut to) = (ScoreViews::default(), ScoreViews::default());
        for a in actions {
            let start = *a.states().last().unwrap();
            if let Some(f) = a.at_from {
                from += a.value(start, f.licensed);
            }
            if let Some(t) = a.at_to {
                to += a.value(a.state_to, t.licensed);
            }
        }
        let end = |views| EndSnapshot {
            views,
            residual_cause: Cause::Unattributed,
        };
        (end(from), end(to))
    }

    fn causes_of(a: &Attribution) -> Vec<(Cause, Points)> {
        a.causes.iter().map(|c| (c.cause, c.points.clone())).collect()
    }

    #[test]
    fn events_are_classified_by_what_they_did() {
        let up = p("2");
        let down = p("-2");
        #[rustfmt::skip]
        let cases = [
            (K::StatusChanged, Some(ToAddress), Some(ResolvedThirdParty), &up, Cause::StatusClaim, "a third-party claim"),
            (K::StatusChanged, Some(Planned), Some(ResolvedAlternateMitigation), &up, Cause::StatusClaim, "an alternate mitigation"),
            (K::StatusChanged, Some(ResolvedThirdParty), Some(ToAddress), &down, Cause::StatusClaim, "a claim cleared"),
            (K::StatusChanged, Some(ResolvedThirdParty), Some(Planned), &down, Cause::StatusClaim, "a claim cleared into PLANNED is still the claim"),
            (K::StatusChanged, Some(ToAddress), Some(RiskAccepted), &down, Cause::RiskAcceptance, "a risk accepted"),
            (K::StatusChanged, Some(RiskAccepted), Some(ToAddress), &up, Cause::RiskAcceptance, "a risk acceptance cleared"),
            (K::StatusChanged, Some(RiskAccepted), Some(ResolvedThirdParty), &up, Cause::StatusClaim, "the status entered decides"),
            (K::StatusChanged, Some(ResolvedThirdParty), Some(RiskAccepted), &down, Cause::RiskAcceptance, "the status entered decides, again"),
            (K::StatusChanged, Some(ToAddress), Some(Planned), &up, Cause::Planning, "planned set"),
            (K::StatusChanged, Some(Planned), Some(ToAddress), &down, Cause::Planning, "planned cleared"),
            (K::ExceptionRecorded, Some(ToAddress), Some(ResolvedThirdParty), &up, Cause::StatusClaim, "a device exception's claim"),
            (K::Undone, Some(ToAddress), Some(RiskAccepted), &down, Cause::RiskAcceptance, "an undo back into a risk acceptance"),
            (K::Imported, Some(ToAddress), Some(ResolvedAlternateMitigation), &up, Cause::StatusClaim, "an imported claim"),
            (K::Expired, Some(RiskAccepted), Some(ToAddress), &up, Cause::Expiry, "an expiry"),
            (K::Expired, Some(ResolvedThirdParty), Some(ToAddress), &down, Cause::Expiry, "an expired claim"),
            (K::Regressed, Some(Completed), Some(ToAddress), &down, Cause::Regression, "a regression"),
            (K::Completed, Some(ToAddress), Some(Completed), &up, Cause::Remediation, "a completion"),
            (K::ProgressChanged, Some(ToAddress), Some(ToAddress), &up, Cause::Remediation, "progress gained"),
            (K::ProgressChanged, Some(Planned), Some(Planned), &down, Cause::Regression, "progress lost"),
            (K::StatusChanged, Some(ToAddress), Some(ToAddress), &up, Cause::Remediation, "no status class: by sign"),
        ];
        for (kind, before, after, delta, want, why) in cases {
            assert_eq!(classify(kind, before, after, delta), want, "{why}");
        }
    }

    #[test]
    fn residuals_go_to_the_catalog_only_on_computed_days_it_changed_since() {
        assert_eq!(
            residual_cause(true, true),
            Cause::Unattributed,
            "imported: vendor totals"
        );
        assert_eq!(residual_cause(true, false), Cause::Unattributed, "imported");
        assert_eq!(
            residual_cause(false, true),
            Cause::Catalog,
            "computed, catalog changed since"
        );
        assert_eq!(
            residual_cause(false, false),
            Cause::Unattributed,
            "computed, nothing known"
        );
    }

    #[test]
    fn one_change_of_each_kind_is_named_with_its_action_and_event() {
        let actions = vec![
            // 0: third-party claim on an open 1/4 action of 8: +6.
            action(
                "8",
                st(ResolvedThirdParty, 1, 4),
                vec![ev(
                    10,
                    K::StatusChanged,
                    Some(ToAddress),
                    Some(ResolvedThirdParty),
                    None,
                )],
            ),
            // 1: completed then regressed to 2/4 of 4: +2 then −2 (net 0, both shown).
            action(
                "4",
                st(ToAddress, 2, 4),
                vec![
                    ev(12, K::Regressed, Some(Completed), Some(ToAddress), Some((4, 4))),
                    ev(11, K::Completed, Some(ToAddress), Some(Completed), Some((2, 4))),
                ],
            ),
            // 2: a risk acceptance expired: 0 → 1/3 of 3 = +1.
            action(
                "3",
                st(ToAddress, 1, 3),
                vec![ev(13, K::Expired, Some(RiskAccepted), Some(ToAddress), None)],
            ),
            // 3: nothing happened.
            action("5", st(ToAddress, 1, 5), vec![]),
        ];
        let (from, to) = exact_ends(&actions);
        let a = attribute(ViewKind::Current, &from, &to, &actions);
        assert_eq!(
            causes_of(&a),
            vec![
                (Cause::Remediation, p("2")),
                (Cause::Regression, p("-2")),
                (Cause::StatusClaim, p("6")),
                (Cause::Expiry, p("1")),
            ],
            "{a:#?}"
        );
        assert_eq!(a.points_delta(), p("7"), "the total");
        let claim = &a.causes[2];
        assert_eq!(
            claim.actions,
            vec![ActionShare {
                action: 0,
                points: p("6"),
                max: Points::ZERO,
                events: vec![10]
            }]
        );
        assert_eq!(a.causes[0].actions[0].events, vec![11], "completion");
        assert_eq!(a.causes[1].actions[0].events, vec![12], "regression");
        assert!(
            a.causes.iter().all(|c| c.unlisted_points.is_zero()),
            "nothing unexplained"
        );
        // Verified: the claim takes the verified 2 points away instead.
        let v = attribute(ViewKind::Verified, &from, &to, &actions);
        assert_eq!(v.causes[2].cause, Cause::StatusClaim);
        assert_eq!(v.causes[2].points, p("-2"), "a claim is not verified");
    }

    #[test]
    fn planning_moves_only_the_planned_view() {
        let actions = vec![action(
            "10",
            st(Planned, 1, 4),
            vec![ev(1, K::StatusChanged, Some(ToAddress), Some(Planned), None)],
        )];
        let (from, to) = exact_ends(&actions);
        let current = attribute(ViewKind::Current, &from, &to, &actions);
        assert!(current.causes.is_empty(), "current does not move: {current:#?}");
        let planned = attribute(ViewKind::Planned, &from, &to, &actions);
        assert_eq!(causes_of(&planned), vec![(Cause::Planning, p("7.5"))]);
    }

    #[test]
    fn applicability_and_licences_are_compared_at_the_from_state() {
        let mut added = action(
            "6",
            st(ToAddress, 1, 2),
            vec![ev(
                1,
                K::ProgressChanged,
                Some(ToAddress),
                Some(ToAddress),
                Some((0, 2)),
            )],
        );
        added.at_from = None;
        let mut removed = action("4", st(Completed, 1, 1), vec![]);
        removed.at_to = None;
        let mut licence = action("10", st(ToAddress, 0, 1), vec![]);
        licence.at_from = Some(Counted { licensed: false });
        let actions = vec![added, removed, licence];
        let (from, to) = exact_ends(&actions);
        let current = attribute(ViewKind::Current, &from, &to, &actions);
        assert_eq!(
            causes_of(&current),
            vec![(Cause::Remediation, p("3")), (Cause::Applicability, p("-4"))],
            "the added action counts from its first state (0 points), then its progress"
        );
        let applicability = &current.causes[1];
        assert_eq!(applicability.max, p("2"), "+6 and −4 of maximum");
        assert_eq!(applicability.actions.len(), 2, "both actions listed");
        let licensed = attribute(ViewKind::CurrentLicense, &from, &to, &actions);
        assert_eq!(
            causes_of(&licensed),
            vec![(Cause::Applicability, p("2")), (Cause::Licence, p("10"))],
            "the licence bought lifts currentLicense; the added action counts at its max, so its progress moves nothing"
        );
    }

    #[test]
    fn what_the_log_cannot_explain_is_one_residual_cause() {
        let actions = vec![action(
            "10",
            st(Completed, 1, 1),
            vec![ev(
                1,
                K::Completed,
                Some(ToAddress),
                Some(Completed),
                Some((0, 1)),
            )],
        )];
        let (mut from, mut to) = exact_ends(&actions);
        // An imported `from` whose vendor total is 3 higher, and a computed `to` written before a
        // re-weighting that took 2 points of maximum away.
        from.views.current += p("3");
        from.views.max_score += p("3");
        to.views.max_score += p("2");
        to.residual_cause = Cause::Catalog;
        let a = attribute(ViewKind::Current, &from, &to, &actions);
        assert_eq!(
            causes_of(&a),
            vec![
                (Cause::Remediation, p("10")),
                (Cause::Catalog, p("0")),
                (Cause::Unattributed, p("-3"))
            ]
        );
        assert_eq!(a.causes[1].unlisted_max, p("2"));
        assert_eq!(a.causes[2].unlisted_max, p("-3"));
        assert!(a.causes[2].actions.is_empty(), "no action is named for it");
        assert_eq!(a.points_delta(), p("7"));
    }

    #[test]
    fn the_percentage_change_splits_into_points_and_maximum() {
        // 5 of 10 → 9 of 20: +40 % by points, −(9 × 10)/(20 × 10) × 100 = −45 % by the maximum.
        let mut grown = action(
            "10",
            st(ToAddress, 4, 10),
            vec![ev(
                1,
                K::ProgressChanged,
                Some(ToAddress),
                Some(ToAddress),
                Some((0, 10)),
            )],
        );
        grown.at_from = None;
        let old = action("10", st(ToAddress, 5, 10), vec![]);
        let actions = vec![grown, old];
        let (from, to) = exact_ends(&actions);
        let a = attribute(ViewKind::Current, &from, &to, &actions);
        assert_eq!(a.percentage_from(), p("50"));
        assert_eq!(a.percentage_to(), p("45"));
        assert_eq!(a.percentage_points_effect(), p("40"));
        assert_eq!(a.percentage_max_effect(), p("-45"));
        assert_eq!(a.percentage_delta(), p("-5"));
    }

    #[test]
    fn degenerate_maxima_still_add_up() {
        let cases = [
            (("0", "0"), ("3", "12"), "from empty"),
            (("3", "12"), ("0", "0"), "to empty"),
            (("0", "0"), ("0", "0"), "both empty"),
            (
                ("2", "0"),
                ("1", "4"),
                "an imported day with points but no maximum",
            ),
            (("1", "4"), ("2", "0"), "and at the other end"),
        ];
        for ((vf, mf), (vt, mt), why) in cases {
            let (vf, mf, vt, mt) = (p(vf), p(mf), p(vt), p(mt));
            // Two causes sharing the change unevenly.
            let (dv1, dm1) = (p("1/3"), p("1/7"));
            let (dv2, dm2) = (&(&vt - &vf) - &dv1, &(&mt - &mf) - &dm1);
            let e1 = percentage_effects(&dv1, &dm1, (&vf, &mf), (&vt, &mt));
            let e2 = percentage_effects(&dv2, &dm2, (&vf, &mf), (&vt, &mt));
            let sum = e1.0 + e1.1 + e2.0 + e2.1;
            assert_eq!(sum, vt.percent_of(&mt) - vf.percent_of(&mf), "{why}");
        }
    }

    /// One step of a random action's life.
    #[derive(Clone, Debug)]
    enum Step {
        SetStatus(Status),
        Progress(i64, i64),
        Expire,
    }

    fn arb_step() -> impl Strategy<Value = Step> {
        prop_oneof![
            prop::sample::select(vec![
                ToAddress,
                Planned,
                RiskAccepted,
                ResolvedThirdParty,
                ResolvedAlternateMitigation
            ])
            .prop_map(Step::SetStatus),
            (0_i64..6, 0_i64..6).prop_map(|(i, t)| Step::Progress(i, t)),
            Just(Step::Expire),
        ]
    }

    /// A random action: its max, creation day, first state, steps by day and, per day, whether
    /// it applies and is licensed.
    #[derive(Clone, Debug)]
    struct Life {
        max: i64,
        deprecated: bool,
        created: usize,
        first: ActionProgress,
        steps: Vec<(usize, Step)>,
        applies: Vec<bool>,
        licensed: Vec<bool>,
    }

    const DAYS: usize = 6;

    fn arb_life() -> impl Strategy<Value = Life> {
        (
            1_i64..=100_000,
            prop::bool::weighted(0.1),
            0..DAYS,
            (
                prop::sample::select(vec![ToAddress, Planned, RiskAccepted, ResolvedThirdParty]),
                0_i64..5,
                0_i64..5,
            ),
            prop::collection::vec((0..DAYS, arb_step()), 0..8),
            prop::collection::vec(prop::bool::weighted(0.85), DAYS),
            prop::collection::vec(any::<bool>(), DAYS),
        )
            .prop_map(
                |(max, deprecated, created, (s, i, t), mut steps, applies, licensed)| {
                    steps.retain(|(day, _)| *day >= created);
                    steps.sort_by_key(|(day, _)| *day);
                    Life {
                        max,
                        deprecated,
                        created,
                        first: st(s, i, t),
                        steps,
                        applies,
                        licensed,
                    }
                },
            )
    }

    /// Lives the steps forwards as the workflow would, writing the events; returns the state at
    /// the end of each day and the log (oldest first, with its day).
    fn live(life: &Life, next_id: &mut i64) -> (Vec<ActionProgress>, Vec<(usize, LoggedEvent)>) {
        let mut state = life.first;
        let mut log = Vec::new();
        let mut ends = Vec::new();
        let mut steps = life.steps.iter().peekable();
        for day in 0..DAYS {
            while let Some((_, step)) = steps.next_if(|(d, _)| *d == day) {
                let before = state;
                let (kind, progress) = match step {
                    Step::SetStatus(s) if *s != state.status && state.status != Completed => {
                        state.status = *s;
                        (K::StatusChanged, None)
                    }
                    Step::Progress(i, t) if (*i, *t) != (state.implemented, state.total) => {
                        let full = *t > 0 && i >= t;
                        let kind = if full && state.status != Completed {
                            state.status = Completed;
                            K::Completed
                        } else if !full && state.status == Completed {
                            state.status = ToAddress;
                            K::Regressed
                        } else {
                            K::ProgressChanged
                        };
                        (state.implemented, state.total) = (*i, *t);
                        (kind, Some((before.implemented, before.total)))
                    }
                    Step::Expire
                        if matches!(
                            state.status,
                            RiskAccepted | ResolvedThirdParty | ResolvedAlternateMitigation
                        ) =>
                    {
                        state.status = ToAddress;
                        (K::Expired, None)
                    }
                    _ => continue,
                };
                *next_id += 1;
                log.push((
                    day,
                    ev(*next_id, kind, Some(before.status), Some(state.status), progress),
                ));
            }
            ends.push(state);
        }
        (ends, log)
    }

    /// The snapshot a day ends with: every action that exists and applies, as it stood.
    fn snapshot(lives: &[(Life, Vec<ActionProgress>)], day: usize) -> ScoreViews {
        lives
            .iter()
            .filter(|(l, _)| l.created <= day && l.applies[day])
            .map(|(l, ends)| {
                ScoreViews::of_action(&ScoredAction {
                    category: Category::Data,
                    max_points: Points::from_storage(l.max),
                    deprecated: l.deprecated,
                    status: ends[day].status,
                    implemented: ends[day].implemented,
                    total: ends[day].total,
                    licensed: l.licensed[day],
                    tier: Tier::Core,
                    user_impact: Level::Unknown,
                    implementation_cost: Level::Unknown,
                })
            })
            .sum()
    }

    /// A life with its end-of-day states and its log.
    type Lived = (Life, Vec<ActionProgress>, Vec<(usize, LoggedEvent)>);

    fn arb_residual() -> impl Strategy<Value = Option<(i64, i64, bool, bool)>> {
        prop::option::weighted(
            0.3,
            (
                -50_000_i64..50_000,
                -50_000_i64..50_000,
                any::<bool>(),
                any::<bool>(),
            ),
        )
    }

    proptest! {
        #[test]
        fn causes_add_up_exactly_to_the_snapshot_difference_on_random_histories(
            lives in prop::collection::vec(arb_life(), 0..12),
            (from, to) in (0..DAYS, 0..DAYS).prop_map(|(a, b)| (a.min(b), a.max(b))),
            residuals in (arb_residual(), arb_residual()),
        ) {
            let mut next_id = 0;
            let lived: Vec<Lived> = lives
                .into_iter()
                .map(|l| { let (ends, log) = live(&l, &mut next_id); (l, ends, log) })
                .collect();
            // The caller's view of it: actions created by the end of `to`, their state then, and
            // their events after `from`, newest first.
            let actions: Vec<ActionLog> = lived
                .iter()
                .filter(|(l, _, _)| l.created <= to)
                .map(|(l, ends, log)| {
                    let counted = |day: usize| (l.created <= day && l.applies[day]).then_some(Counted { licensed: l.licensed[day] });
                    ActionLog {
                        category: Category::Data,
                        max_points: Points::from_storage(l.max),
                        deprecated: l.deprecated,
                        at_from: counted(from),
                        at_to: counted(to),
                        state_to: ends[to],
                        events: log.iter().rev().filter(|(d, _)| *d > from && *d <= to).map(|(_, e)| *e).collect(),
                    }
                })
                .collect();
            let snapshots: Vec<(Life, Vec<ActionProgress>)> = lived.iter().map(|(l, e, _)| (l.clone(), e.clone())).collect();
            let end = |day: usize, residual: Option<(i64, i64, bool, bool)>| {
                let mut views = snapshot(&snapshots, day);
                let mut cause = Cause::Unattributed;
                if let Some((points, max, imported, catalog)) = residual {
                    let (points, max) = (Points::from_storage(points), Points::from_storage(max));
                    views = ScoreViews::from_array(views.as_array().map(|v| v + &points));
                    views.max_score = &views.max_score - &points + max;
                    cause = residual_cause(imported, catalog);
                }
                EndSnapshot { views, residual_cause: cause }
            };
            let (from_end, to_end) = (end(from, residuals.0), end(to, residuals.1));
            for view in ViewKind::ALL {
                let a = attribute(view, &from_end, &to_end, &actions);
                let points: Points = a.causes.iter().map(|c| &c.points).sum();
                prop_assert_eq!(&points, &(view.of(&to_end.views) - view.of(&from_end.views)), "{:?}: points", view);
                let max: Points = a.causes.iter().map(|c| &c.max).sum();
                prop_assert_eq!(&max, &(&to_end.views.max_score - &from_end.views.max_score), "{:?}: max", view);
                prop_assert_eq!(a.percentage_points_effect() + a.percentage_max_effect(), a.percentage_delta(), "{:?}: percentage", view);
                let by_cause: Points = a.causes.iter().map(CauseShare::percentage_delta).sum();
                prop_assert_eq!(by_cause, a.percentage_delta());
                for c in &a.causes {
                    let listed: Points = c.actions.iter().map(|s| &s.points).sum();
                    prop_assert_eq!(&(listed + c.unlisted_points.clone()), &c.points, "{:?}: actions + unlisted", c.cause);
                    prop_assert!(c.actions.iter().all(|s| !(s.points.is_zero() && s.max.is_zero())), "no empty action shares");
                    if c.cause == Cause::Applicability || c.cause == Cause::Licence {
                        prop_assert!(c.actions.iter().all(|s| s.events.is_empty()));
                    }
                }
                let explained_by_log = residuals.0.is_none() && residuals.1.is_none();
                if explained_by_log {
                    prop_assert!(
                        a.causes.iter().all(|c| c.unlisted_points.is_zero() && c.unlisted_max.is_zero()),
                        "the reconstruction matches snapshots lived forwards: {:#?}", a
                    );
                    prop_assert!(a.causes.iter().all(|c| !matches!(c.cause, Cause::Unattributed | Cause::Catalog)));
                }
                if from == to {
                    prop_assert!(a.causes.iter().all(|c| c.actions.is_empty()), "no change within one day");
                }
            }
        }
    }
}
