//! Reconstructing an action's past state from its current row and its event log (SPEC §8:
//! backfilling a past day must show that day's state, not today's).
//!
//! Events are replayed backwards: starting from the row as it is now, each event newer than the
//! moment wanted is undone, newest first. Every status-changing event records `status_before`,
//! and progress events (`PROGRESS_CHANGED`, `COMPLETED`, `REGRESSED`) record the counts before
//! the change (`implementedBefore`, `totalBefore` in their data). Events without those fields
//! (notes, tags, shares) change nothing. What the log does not record — a control's points or a
//! licence changed later — is taken as it is now; callers document that.

use super::enums::{EventKind, Status};

/// The parts of an action's state that events change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActionProgress {
    pub status: Status,
    pub implemented: i64,
    pub total: i64,
}

/// What one event says about the state before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PastEvent {
    pub kind: EventKind,
    pub status_before: Option<Status>,
    /// `(implementedBefore, totalBefore)` of a progress event.
    pub progress_before: Option<(i64, i64)>,
}

/// The state before all of `newest_first` happened, given the state after them. The events must
/// be ordered newest first (by time, then id), as the log is read.
pub fn state_before(current: ActionProgress, newest_first: &[PastEvent]) -> ActionProgress {
    newest_first.iter().fold(current, |mut state, event| {
        if let Some(status) = event.status_before {
            state.status = status;
        }
        let carries_progress = matches!(
            event.kind,
            EventKind::ProgressChanged | EventKind::Completed | EventKind::Regressed
        );
        if let (true, Some((implemented, total))) = (carries_progress, event.progress_before) {
            state.implemented = implemented;
            state.total = total;
        }
        state
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventKind::{
        Completed as CompletedEvent, Expired, NoteAdded, ProgressChanged, Regressed, StatusChanged, TagAdded,
    };
    use Status::*;

    fn now(status: Status, implemented: i64, total: i64) -> ActionProgress {
        ActionProgress {
            status,
            implemented,
            total,
        }
    }

    fn ev(kind: EventKind, status_before: Option<Status>, progress_before: Option<(i64, i64)>) -> PastEvent {
        PastEvent {
            kind,
            status_before,
            progress_before,
        }
    }

    #[test]
    fn replaying_events_backwards_restores_the_earlier_state() {
        #[rustfmt::skip]
        let cases = [
            (now(Planned, 1, 4), vec![], now(Planned, 1, 4), "no newer events: the row as it is"),
            (now(Planned, 1, 4), vec![ev(StatusChanged, Some(ToAddress), None)], now(ToAddress, 1, 4), "a status change is undone"),
            (now(Completed, 4, 4), vec![ev(CompletedEvent, Some(Planned), Some((3, 4)))], now(Planned, 3, 4), "a completion restores status and progress"),
            (now(ToAddress, 1, 4), vec![ev(Regressed, Some(Completed), Some((4, 4)))], now(Completed, 4, 4), "a regression is undone"),
            (now(ToAddress, 2, 5), vec![ev(ProgressChanged, Some(ToAddress), Some((1, 4)))], now(ToAddress, 1, 4), "progress and total change"),
            (now(ToAddress, 0, 3), vec![ev(Expired, Some(RiskAccepted), None)], now(RiskAccepted, 0, 3), "an expiry is undone"),
            (now(RiskAccepted, 0, 3), vec![ev(NoteAdded, None, None), ev(TagAdded, None, None)], now(RiskAccepted, 0, 3), "notes and tags change nothing"),
            (now(Planned, 2, 4), vec![ev(StatusChanged, Some(ToAddress), Some((0, 9)))], now(ToAddress, 2, 4), "only progress events carry progress"),
            (now(Completed, 4, 4), vec![ev(CompletedEvent, Some(ToAddress), None)], now(ToAddress, 4, 4), "a progress event without data keeps the counts"),
        ];
        for (current, events, expected, why) in cases {
            assert_eq!(state_before(current, &events), expected, "{why}");
        }
    }

    #[test]
    fn several_events_are_undone_newest_first() {
        // Day 1: TO_ADDRESS 1/4 → planned; day 2: progress 3/4; day 3: completed 4/4;
        // day 4: regressed to 2/4 (TO_ADDRESS). Newest first:
        let log = [
            ev(Regressed, Some(Completed), Some((4, 4))),
            ev(CompletedEvent, Some(Planned), Some((3, 4))),
            ev(ProgressChanged, Some(Planned), Some((1, 4))),
            ev(StatusChanged, Some(ToAddress), None),
        ];
        let current = now(ToAddress, 2, 4);
        let cases = [
            (0, now(ToAddress, 2, 4), "end of day 4"),
            (1, now(Completed, 4, 4), "end of day 3"),
            (2, now(Planned, 3, 4), "end of day 2"),
            (3, now(Planned, 1, 4), "end of day 1"),
            (4, now(ToAddress, 1, 4), "before everything"),
        ];
        for (undone, expected, why) in cases {
            assert_eq!(state_before(current, &log[..undone]), expected, "{why}");
        }
    }
}
