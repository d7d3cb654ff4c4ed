//! Status rules of SPEC §2: who may set which status, what progress does to a status, what a
//! vulnerability-management exception does, and when a `reviewBy` date has passed.
//!
//! These functions decide; they don't write events. The service layer turns each outcome into
//! the status change plus the matching `ActionEvent`.

use chrono::{DateTime, Utc};

use super::enums::{Category, ExceptionJustification, ExceptionScope, Status};

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
}
