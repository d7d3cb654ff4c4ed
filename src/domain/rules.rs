//! Status rules of SPEC §2: who may set which status, what progress does to a status, what a
//! vulnerability-management exception does, and when a `reviewBy` date has passed.
//!
//! These functions decide; they don't write events. The service layer turns each outcome into
//! the status change plus the matching `ActionEvent`, and reads the event log for [`undo_target`].

use chrono::{DateTime, SecondsFormat, Utc};

use super::enums::{Category, EventKind, ExceptionJustification, ExceptionScope, Status};

/// Why a user's status change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RuleViolation {
    /// Users can never set COMPLETED.
    #[error("COMPLETED is set by the system when all of the action is implemented; it can't be set by hand")]
    CompletedIsSystemOnly,
    /// A completed action's status can't be changed by users.
    #[error("the action is completed, so its status can't be changed")]
    StatusLocked,
    /// DEVICE actions change status only through vulnerability-management exceptions.
    #[error(
        "the status of a device action is managed through vulnerability-management exceptions; record an exception instead"
    )]
    DeviceStatusManagedExternally,
}

impl RuleViolation {
    /// The stable error code clients see in `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::CompletedIsSystemOnly => "BAD_USER_INPUT",
            Self::StatusLocked => "STATUS_LOCKED",
            Self::DeviceStatusManagedExternally => "DEVICE_STATUS_MANAGED_EXTERNALLY",
        }
    }

    /// A plain-English explanation for the client.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// Checks a status change requested by a user.
///
/// Order matters when several rules apply: asking for COMPLETED is wrong whatever the action, a
/// completed action is locked whatever its category, and device actions are managed elsewhere.
/// Asking for the current status breaks no rule: it is a no-op (see [`already_holds`]), so the
/// same checks apply to it as to a real change.
pub fn check_user_status_change(
    category: Category,
    current: Status,
    requested: Status,
) -> Result<(), RuleViolation> {
    if requested == Status::Completed {
        Err(RuleViolation::CompletedIsSystemOnly)
    } else if current == Status::Completed {
        Err(RuleViolation::StatusLocked)
    } else if category == Category::Device {
        Err(RuleViolation::DeviceStatusManagedExternally)
    } else {
        Ok(())
    }
}

/// Whether a user's status change asks for what the action already holds: the same status and
/// the same review date (none asked for when it has none). Such a change is a successful no-op
/// that writes nothing (SPEC §2). The same status with another review date (or none, when it has
/// one) is a real change of the review date.
///
/// Review dates compare to the microsecond, which is what the databases keep.
pub fn already_holds(
    current: Status,
    current_review_by: Option<DateTime<Utc>>,
    requested: Status,
    requested_review_by: Option<DateTime<Utc>>,
) -> bool {
    current == requested
        && current_review_by.map(|at| at.timestamp_micros())
            == requested_review_by.map(|at| at.timestamp_micros())
}

/// Whether a status may carry a `reviewBy` date: RISK_ACCEPTED and both RESOLVED_* statuses.
pub fn status_accepts_review_by(status: Status) -> bool {
    matches!(
        status,
        Status::RiskAccepted | Status::ResolvedThirdParty | Status::ResolvedAlternateMitigation
    )
}

/// Whether a `reviewBy` date has passed (`review_by <= now`); no date never expires.
pub fn is_expired(review_by: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    review_by.is_some_and(|at| at <= now)
}

/// Reminder thresholds when a tenant chose none: days before a risk acceptance's review date or
/// a device exception's end at which a reminder is raised, largest first.
pub const DEFAULT_REMINDER_DAYS: [i32; 3] = [30, 7, 1];
/// The largest reminder threshold, in days.
pub const MAX_REMINDER_DAYS: i32 = 365;
/// The most reminder thresholds a tenant may have.
pub const MAX_REMINDERS: usize = 5;

/// A tenant's reminder thresholds as given, checked and put in order (largest first): 1 to
/// [`MAX_REMINDERS`] distinct whole days, each 1 to [`MAX_REMINDER_DAYS`].
pub fn reminder_thresholds(days: &[i32]) -> Result<Vec<i32>, String> {
    let mut sorted = days.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    if sorted.is_empty() || sorted.len() > MAX_REMINDERS {
        return Err(format!(
            "reminderDays must hold 1 to {MAX_REMINDERS} different numbers of days"
        ));
    }
    if sorted.len() != days.len() {
        return Err("reminderDays must not repeat a number of days".into());
    }
    if sorted.iter().any(|d| !(1..=MAX_REMINDER_DAYS).contains(d)) {
        return Err(format!(
            "each of reminderDays must be 1 to {MAX_REMINDER_DAYS} days"
        ));
    }
    Ok(sorted)
}

/// The reminder threshold an end `left` ahead falls within: the smallest of `thresholds` (days,
/// any order) that is at least `left`; `None` beyond the largest, or once the end passed.
pub fn reminder_threshold(left: chrono::Duration, thresholds: &[i32]) -> Option<i32> {
    if left <= chrono::Duration::zero() {
        return None;
    }
    thresholds
        .iter()
        .copied()
        .filter(|days| left <= chrono::Duration::days(i64::from(*days)))
        .min()
}

/// What a progress update did to the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressTransition {
    /// The status is unchanged.
    None,
    /// Progress reached 1 and the action became COMPLETED.
    Completed,
    /// A COMPLETED action fell below full progress and returned to TO_ADDRESS.
    Regressed,
}

/// The status after new progress figures arrive, and the transition to record.
///
/// Full progress (`total > 0` and `implemented >= total`) completes the action whatever its
/// status was; a completed action with less than full progress (including `total = 0`, which
/// is progress 0) regresses to TO_ADDRESS; anything else keeps its status.
pub fn status_after_progress(current: Status, implemented: i64, total: i64) -> (Status, ProgressTransition) {
    let complete = total > 0 && implemented >= total;
    match (complete, current) {
        (true, Status::Completed) => (Status::Completed, ProgressTransition::None),
        (true, _) => (Status::Completed, ProgressTransition::Completed),
        (false, Status::Completed) => (Status::ToAddress, ProgressTransition::Regressed),
        (false, other) => (other, ProgressTransition::None),
    }
}

/// The status a vulnerability-management exception sets: a GLOBAL exception maps its
/// justification to the matching status; a DEVICE_GROUP exception is only recorded (`None`, the
/// status stays TO_ADDRESS).
pub fn exception_status(scope: ExceptionScope, justification: ExceptionJustification) -> Option<Status> {
    match scope {
        ExceptionScope::DeviceGroup => None,
        ExceptionScope::Global => Some(match justification {
            ExceptionJustification::ThirdPartyControl => Status::ResolvedThirdParty,
            ExceptionJustification::AlternateMitigation => Status::ResolvedAlternateMitigation,
            ExceptionJustification::RiskAccepted => Status::RiskAccepted,
            ExceptionJustification::PlannedRemediation => Status::Planned,
        }),
    }
}

/// One event of an action that changed its status (or review date), as undo reads the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEvent {
    pub id: i64,
    pub kind: EventKind,
    /// The principal who made it; `None` for the system.
    pub actor_id: Option<i64>,
    pub actor: String,
    pub at: DateTime<Utc>,
    pub before: Status,
    pub after: Status,
    /// The review date the action had before the event (recorded in the event's data).
    pub review_by_before: Option<DateTime<Utc>>,
    /// For an `UNDONE` event: the id of the event it undid (`None` in undo events written
    /// before undo recorded it; those count as ordinary changes by hand).
    pub undoes: Option<i64>,
}

impl StatusEvent {
    /// Whether the event belongs to undo's history at all: an exception that left the status as
    /// it was (a `DEVICE_GROUP` one) changed nothing undo could restore.
    fn affects_status(&self) -> bool {
        self.kind != EventKind::ExceptionRecorded || self.before != self.after
    }
}

/// What an undo restores: the state held before event `undoes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoTarget {
    pub undoes: i64,
    /// Whether the undone event was a device exception (which the undo ends).
    pub exception: bool,
    pub status: Status,
    pub review_by: Option<DateTime<Utc>>,
}

fn rfc3339(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Why there is nothing to undo (`NOTHING_TO_UNDO`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NothingToUndo {
    #[error("it has no status change to undo")]
    NoChanges,
    #[error("all of its status changes have been undone already")]
    AllUndone,
    #[error(
        "the last status change was made by {} ({kind}) at {}; only changes made by hand can be undone",
        if *.kind == EventKind::Imported { "an import" } else { "the system" },
        rfc3339(.at)
    )]
    NotByHand { kind: EventKind, at: DateTime<Utc> },
    #[error(
        "the last status change was made by {actor} at {}; only your own changes can be undone",
        rfc3339(.at)
    )]
    AnotherPrincipal { actor: String, at: DateTime<Utc> },
    #[error("restoring {status} is not allowed: {reason}")]
    Refused { status: Status, reason: String },
    #[error("its status {current} is not the {expected} its last recorded change left")]
    OutOfStep { current: Status, expected: Status },
}

impl NothingToUndo {
    /// The stable error code clients see.
    pub const CODE: &'static str = "NOTHING_TO_UNDO";
}

/// What `undoActionStatus` by principal `caller` restores, from the action's status events
/// (oldest first) and its current state.
///
/// Going back from the newest event, an `UNDONE` event and the event it undid are skipped, so
/// repeated undos walk back through earlier changes and an undo is never redone. The first event
/// left is the one to undo, and only when it was made by hand (`STATUS_CHANGED`, a device
/// exception, an `UNDONE` written before undos recorded their target) by the caller, and the rules
/// allow the status and review date it replaced back: no COMPLETED, no completed action, a DEVICE
/// action's status only back from an exception, no review date that has passed since.
pub fn undo_target(
    events: &[StatusEvent],
    caller: i64,
    category: Category,
    current: Status,
    now: DateTime<Utc>,
) -> Result<UndoTarget, NothingToUndo> {
    let mut undone = std::collections::HashSet::new();
    let mut any = false;
    for e in events.iter().rev().filter(|e| e.affects_status()) {
        any = true;
        if undone.remove(&e.id) {
            continue;
        }
        if let (EventKind::Undone, Some(id)) = (e.kind, e.undoes) {
            undone.insert(id);
            continue;
        }
        if !matches!(
            e.kind,
            EventKind::StatusChanged | EventKind::ExceptionRecorded | EventKind::Undone
        ) {
            return Err(NothingToUndo::NotByHand {
                kind: e.kind,
                at: e.at,
            });
        }
        if e.actor_id != Some(caller) {
            return Err(NothingToUndo::AnotherPrincipal {
                actor: e.actor.clone(),
                at: e.at,
            });
        }
        if current != e.after {
            return Err(NothingToUndo::OutOfStep {
                current,
                expected: e.after,
            });
        }
        let refused = |reason: String| NothingToUndo::Refused {
            status: e.before,
            reason,
        };
        match check_user_status_change(category, current, e.before) {
            // Undoing an exception is how a device action's status goes back by hand.
            Err(RuleViolation::DeviceStatusManagedExternally) if e.kind == EventKind::ExceptionRecorded => {}
            Err(v) => return Err(refused(v.message())),
            Ok(()) => {}
        }
        if let Some(at) = e.review_by_before.filter(|at| is_expired(Some(*at), now)) {
            return Err(refused(format!("its review date {} has passed", rfc3339(&at))));
        }
        return Ok(UndoTarget {
            undoes: e.id,
            exception: e.kind == EventKind::ExceptionRecorded,
            status: e.before,
            review_by: e.review_by_before,
        });
    }
    Err(if any {
        NothingToUndo::AllUndone
    } else {
        NothingToUndo::NoChanges
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn user_status_changes_follow_the_rules_in_order() {
        use Category::*;
        use RuleViolation::*;
        use Status::*;
        #[rustfmt::skip]
        let cases = [
            (Identity, ToAddress, Planned, Ok(()), "ordinary change"),
            (Apps, Planned, RiskAccepted, Ok(()), "planned to risk accepted"),
            (Data, RiskAccepted, ToAddress, Ok(()), "back to to address"),
            (Infrastructure, ToAddress, ResolvedThirdParty, Ok(()), "resolve by third party"),
            (Identity, ResolvedAlternateMitigation, ResolvedThirdParty, Ok(()), "between resolutions"),
            (Identity, ToAddress, Completed, Err(CompletedIsSystemOnly), "users can't complete"),
            (Identity, Completed, Completed, Err(CompletedIsSystemOnly), "COMPLETED request wins over locked"),
            (Device, ToAddress, Completed, Err(CompletedIsSystemOnly), "COMPLETED request wins over device"),
            (Identity, Completed, ToAddress, Err(StatusLocked), "completed is locked"),
            (Device, Completed, Planned, Err(StatusLocked), "locked wins over device"),
            (Device, ToAddress, Planned, Err(DeviceStatusManagedExternally), "device is managed externally"),
            (Device, ToAddress, ToAddress, Err(DeviceStatusManagedExternally), "device even for the same status"),
            (Identity, Planned, Planned, Ok(()), "the same status breaks no rule (it is a no-op)"),
        ];
        for (category, current, requested, expected, why) in cases {
            assert_eq!(
                check_user_status_change(category, current, requested),
                expected,
                "{why}"
            );
        }
    }

    #[test]
    fn violations_have_stable_codes_and_messages() {
        use RuleViolation::*;
        let cases = [
            (CompletedIsSystemOnly, "BAD_USER_INPUT"),
            (StatusLocked, "STATUS_LOCKED"),
            (DeviceStatusManagedExternally, "DEVICE_STATUS_MANAGED_EXTERNALLY"),
        ];
        for (violation, code) in cases {
            assert_eq!(violation.code(), code, "code of {violation:?}");
            assert!(!violation.message().is_empty(), "message of {violation:?}");
        }
    }

    #[test]
    fn only_exception_like_statuses_take_a_review_date() {
        let cases = [
            (Status::ToAddress, false),
            (Status::Planned, false),
            (Status::RiskAccepted, true),
            (Status::ResolvedThirdParty, true),
            (Status::ResolvedAlternateMitigation, true),
            (Status::Completed, false),
        ];
        for (status, expected) in cases {
            assert_eq!(status_accepts_review_by(status), expected, "{status}");
        }
    }

    #[test]
    fn review_dates_expire_once_reached() {
        let now = Utc
            .with_ymd_and_hms(2026, 5, 1, 12, 0, 0)
            .single()
            .expect("valid time");
        let cases = [
            (None, false, "no date never expires"),
            (Some(now - chrono::Duration::seconds(1)), true, "in the past"),
            (Some(now), true, "exactly now counts as passed"),
            (Some(now + chrono::Duration::days(1)), false, "in the future"),
        ];
        for (review_by, expected, why) in cases {
            assert_eq!(is_expired(review_by, now), expected, "{why}");
        }
    }

    #[test]
    fn progress_completes_and_regresses() {
        use ProgressTransition as T;
        use Status::*;
        #[rustfmt::skip]
        let cases = [
            (ToAddress, 4, 4, (Completed, T::Completed), "full progress completes"),
            (Planned, 5, 4, (Completed, T::Completed), "over-full progress completes"),
            (RiskAccepted, 4, 4, (Completed, T::Completed), "completes whatever the status"),
            (ResolvedThirdParty, 1, 1, (Completed, T::Completed), "claims become completions"),
            (Completed, 4, 4, (Completed, T::None), "already completed"),
            (Completed, 3, 4, (ToAddress, T::Regressed), "completed below full regresses"),
            (Completed, 0, 0, (ToAddress, T::Regressed), "total 0 is progress 0"),
            (ToAddress, 3, 4, (ToAddress, T::None), "partial progress keeps the status"),
            (Planned, 0, 0, (Planned, T::None), "no units keeps the status"),
            (RiskAccepted, 1, 4, (RiskAccepted, T::None), "risk accepted stays"),
        ];
        for (current, implemented, total, expected, why) in cases {
            assert_eq!(
                status_after_progress(current, implemented, total),
                expected,
                "{why}"
            );
        }
    }

    #[test]
    fn exceptions_map_to_statuses() {
        use ExceptionJustification::*;
        use ExceptionScope::*;
        let cases = [
            (Global, ThirdPartyControl, Some(Status::ResolvedThirdParty)),
            (
                Global,
                AlternateMitigation,
                Some(Status::ResolvedAlternateMitigation),
            ),
            (Global, RiskAccepted, Some(Status::RiskAccepted)),
            (Global, PlannedRemediation, Some(Status::Planned)),
            (DeviceGroup, ThirdPartyControl, None),
            (DeviceGroup, AlternateMitigation, None),
            (DeviceGroup, RiskAccepted, None),
            (DeviceGroup, PlannedRemediation, None),
        ];
        for (scope, justification, expected) in cases {
            assert_eq!(
                exception_status(scope, justification),
                expected,
                "{scope} {justification}"
            );
        }
    }

    #[test]
    fn asking_for_what_already_holds_is_a_no_op() {
        use Status::*;
        let at = Utc
            .with_ymd_and_hms(2026, 6, 1, 0, 0, 0)
            .single()
            .expect("valid time");
        let later = at + chrono::Duration::days(1);
        // Databases keep microseconds; a finer input compares equal to what was stored.
        let finer = at + chrono::Duration::nanoseconds(400);
        #[rustfmt::skip]
        let cases = [
            (Planned, None, Planned, None, true, "same status, no review dates"),
            (RiskAccepted, Some(at), RiskAccepted, Some(at), true, "same status and review date"),
            (RiskAccepted, Some(at), RiskAccepted, Some(finer), true, "equal to the microsecond"),
            (RiskAccepted, Some(at), RiskAccepted, Some(later), false, "another review date"),
            (RiskAccepted, Some(at), RiskAccepted, None, false, "no review date clears the one held"),
            (RiskAccepted, None, RiskAccepted, Some(at), false, "a review date where there was none"),
            (ToAddress, None, Planned, None, false, "another status"),
            (ResolvedThirdParty, Some(at), RiskAccepted, Some(at), false, "another status, same date"),
        ];
        for (current, current_at, requested, requested_at, expected, why) in cases {
            assert_eq!(
                already_holds(current, current_at, requested, requested_at),
                expected,
                "{why}"
            );
        }
    }

    const CALLER: i64 = 7;
    const OTHER: i64 = 8;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0)
            .single()
            .expect("valid time")
    }

    /// An event `id` of `kind` by `actor` (`None`: the system), `before` → `after`.
    fn ev(id: i64, kind: EventKind, actor: Option<i64>, before: Status, after: Status) -> StatusEvent {
        StatusEvent {
            id,
            kind,
            actor_id: actor,
            actor: actor.map_or("system".to_string(), |a| format!("principal {a}")),
            at: t0() + chrono::Duration::minutes(id),
            before,
            after,
            review_by_before: None,
            undoes: None,
        }
    }

    fn undo(id: i64, undoes: i64, actor: i64, before: Status, after: Status) -> StatusEvent {
        StatusEvent {
            undoes: Some(undoes),
            ..ev(id, EventKind::Undone, Some(actor), before, after)
        }
    }

    #[test]
    fn undo_restores_the_callers_last_change_and_walks_back_on_repeat() {
        use EventKind as K;
        use Status::*;
        let now = t0() + chrono::Duration::days(1);
        let target = |undoes, exception, status, review_by| {
            Ok(UndoTarget {
                undoes,
                exception,
                status,
                review_by,
            })
        };
        let one = [ev(1, K::StatusChanged, Some(CALLER), ToAddress, Planned)];
        let two = [
            ev(1, K::StatusChanged, Some(CALLER), ToAddress, Planned),
            ev(2, K::StatusChanged, Some(CALLER), Planned, RiskAccepted),
        ];
        let two_undone_once = [
            two[0].clone(),
            two[1].clone(),
            undo(3, 2, CALLER, RiskAccepted, Planned),
        ];
        let all_undone = [
            two_undone_once[0].clone(),
            two_undone_once[1].clone(),
            two_undone_once[2].clone(),
            undo(4, 1, CALLER, Planned, ToAddress),
        ];
        let with_date = [StatusEvent {
            review_by_before: Some(now + chrono::Duration::days(3)),
            ..ev(1, K::StatusChanged, Some(CALLER), RiskAccepted, Planned)
        }];
        let passed_date = [StatusEvent {
            review_by_before: Some(now - chrono::Duration::hours(1)),
            ..ev(1, K::StatusChanged, Some(CALLER), RiskAccepted, Planned)
        }];
        let exception = [ev(1, K::ExceptionRecorded, Some(CALLER), ToAddress, RiskAccepted)];
        let group_exception_after = [
            ev(1, K::StatusChanged, Some(CALLER), ToAddress, Planned),
            ev(2, K::ExceptionRecorded, Some(OTHER), Planned, Planned),
        ];
        let legacy_undo = [
            ev(1, K::StatusChanged, Some(CALLER), ToAddress, Planned),
            ev(2, K::Undone, Some(CALLER), Planned, ToAddress),
        ];
        let other_then_mine_undone = [
            ev(1, K::StatusChanged, Some(OTHER), ToAddress, Planned),
            ev(2, K::StatusChanged, Some(CALLER), Planned, RiskAccepted),
            undo(3, 2, CALLER, RiskAccepted, Planned),
        ];
        #[rustfmt::skip]
        // (events, category, current status, expected, why)
        type Case<'a> = (&'a [StatusEvent], Category, Status, Result<UndoTarget, NothingToUndo>, &'a str);
        let cases: [Case; 13] = [
            (
                &[],
                Category::Identity,
                ToAddress,
                Err(NothingToUndo::NoChanges),
                "no events",
            ),
            (
                &one,
                Category::Identity,
                Planned,
                target(1, false, ToAddress, None),
                "own change",
            ),
            (
                &two,
                Category::Identity,
                RiskAccepted,
                target(2, false, Planned, None),
                "the last of two",
            ),
            (
                &two_undone_once,
                Category::Identity,
                Planned,
                target(1, false, ToAddress, None),
                "a second undo walks back",
            ),
            (
                &all_undone,
                Category::Identity,
                ToAddress,
                Err(NothingToUndo::AllUndone),
                "all undone",
            ),
            (
                &with_date,
                Category::Identity,
                Planned,
                target(1, false, RiskAccepted, Some(now + chrono::Duration::days(3))),
                "the review date comes back",
            ),
            (
                &exception,
                Category::Device,
                RiskAccepted,
                target(1, true, ToAddress, None),
                "a device exception",
            ),
            (
                &group_exception_after,
                Category::Identity,
                Planned,
                target(1, false, ToAddress, None),
                "an exception that left the status is not in the way",
            ),
            (
                &legacy_undo,
                Category::Identity,
                ToAddress,
                target(2, false, Planned, None),
                "an undo without its target is a change by hand",
            ),
            (
                &other_then_mine_undone,
                Category::Identity,
                Planned,
                Err(NothingToUndo::AnotherPrincipal {
                    actor: "principal 8".into(),
                    at: t0() + chrono::Duration::minutes(1),
                }),
                "past my undone change: another's",
            ),
            (
                &one,
                Category::Identity,
                RiskAccepted,
                Err(NothingToUndo::OutOfStep {
                    current: RiskAccepted,
                    expected: Planned,
                }),
                "the status moved without an event",
            ),
            (
                &one,
                Category::Device,
                Planned,
                Err(NothingToUndo::Refused {
                    status: ToAddress,
                    reason: RuleViolation::DeviceStatusManagedExternally.message(),
                }),
                "a device action's status by hand",
            ),
            (
                &passed_date,
                Category::Identity,
                Planned,
                Err(NothingToUndo::Refused {
                    status: RiskAccepted,
                    reason: "its review date 2026-05-02T11:00:00Z has passed".into(),
                }),
                "a review date that has passed",
            ),
        ];
        for (events, category, current, expected, why) in cases {
            assert_eq!(
                undo_target(events, CALLER, category, current, now),
                expected,
                "{why}"
            );
        }
    }

    #[test]
    fn undo_refuses_system_changes_and_other_principals() {
        use EventKind as K;
        use Status::*;
        let now = t0() + chrono::Duration::days(1);
        let mine = ev(1, K::StatusChanged, Some(CALLER), ToAddress, RiskAccepted);
        #[rustfmt::skip]
        let cases = [
            (ev(2, K::Completed, Some(CALLER), RiskAccepted, Completed), Completed, "COMPLETED, though from the caller's progress"),
            (ev(2, K::Expired, None, RiskAccepted, ToAddress), ToAddress, "EXPIRED"),
            (ev(2, K::Regressed, None, RiskAccepted, ToAddress), ToAddress, "REGRESSED"),
            (ev(2, K::Imported, Some(CALLER), RiskAccepted, Planned), Planned, "IMPORTED"),
        ];
        for (last, current, why) in cases {
            let kind = last.kind;
            let at = last.at;
            assert_eq!(
                undo_target(&[mine.clone(), last], CALLER, Category::Identity, current, now),
                Err(NothingToUndo::NotByHand { kind, at }),
                "{why}"
            );
        }
        let theirs = ev(2, K::StatusChanged, Some(OTHER), RiskAccepted, Planned);
        assert_eq!(
            undo_target(&[mine, theirs.clone()], CALLER, Category::Identity, Planned, now),
            Err(NothingToUndo::AnotherPrincipal {
                actor: theirs.actor.clone(),
                at: theirs.at
            })
        );
    }

    #[test]
    fn nothing_to_undo_says_why() {
        let at = t0();
        let cases = [
            (
                NothingToUndo::NotByHand {
                    kind: EventKind::Expired,
                    at,
                },
                "the last status change was made by the system (EXPIRED) at 2026-05-01T12:00:00Z; only changes made by hand can be undone",
            ),
            (
                NothingToUndo::NotByHand {
                    kind: EventKind::Imported,
                    at,
                },
                "the last status change was made by an import (IMPORTED) at 2026-05-01T12:00:00Z; only changes made by hand can be undone",
            ),
            (
                NothingToUndo::AnotherPrincipal {
                    actor: "alice".into(),
                    at,
                },
                "the last status change was made by alice at 2026-05-01T12:00:00Z; only your own changes can be undone",
            ),
            (NothingToUndo::NoChanges, "it has no status change to undo"),
            (
                NothingToUndo::AllUndone,
                "all of its status changes have been undone already",
            ),
        ];
        for (reason, message) in cases {
            assert_eq!(reason.to_string(), message);
        }
        assert_eq!(NothingToUndo::CODE, "NOTHING_TO_UNDO");
    }

    #[test]
    fn reminder_thresholds_are_the_smallest_within_reach() {
        let d = chrono::Duration::days;
        let cases = [
            (d(31), None, "beyond 30 days"),
            (d(30), Some(30), "exactly 30 days"),
            (d(29), Some(30), "29 days"),
            (d(7), Some(7), "exactly 7 days"),
            (d(6), Some(7), "6 days"),
            (chrono::Duration::hours(23), Some(1), "under a day"),
            (chrono::Duration::zero(), None, "passed"),
        ];
        for (left, want, why) in cases {
            assert_eq!(reminder_threshold(left, &DEFAULT_REMINDER_DAYS), want, "{why}");
        }
        assert_eq!(reminder_threshold(d(10), &[2, 14]), Some(14), "any order");
        assert_eq!(reminder_threshold(d(10), &[]), None, "none");
    }

    #[test]
    fn reminder_thresholds_are_checked_and_ordered() {
        assert_eq!(reminder_thresholds(&[1, 30, 7]), Ok(vec![30, 7, 1]));
        assert_eq!(reminder_thresholds(&[365]), Ok(vec![365]));
        for bad in [&[][..], &[0], &[366], &[-1], &[7, 7], &[1, 2, 3, 4, 5, 6]] {
            assert!(reminder_thresholds(bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// The threshold is within reach, and no smaller one is.
        #[test]
        fn a_reminder_threshold_is_the_smallest_that_reaches(
            days in proptest::collection::btree_set(1..=MAX_REMINDER_DAYS, 1..=MAX_REMINDERS),
            left_secs in 1_i64..(400 * 86_400),
        ) {
            let days: Vec<i32> = days.into_iter().collect();
            let left = chrono::Duration::seconds(left_secs);
            let reach = |d: i32| left <= chrono::Duration::days(i64::from(d));
            match reminder_threshold(left, &days) {
                Some(t) => {
                    proptest::prop_assert!(days.contains(&t) && reach(t));
                    proptest::prop_assert!(days.iter().all(|d| *d >= t || !reach(*d)));
                }
                None => proptest::prop_assert!(days.iter().all(|d| !reach(*d))),
            }
        }
    }
}
