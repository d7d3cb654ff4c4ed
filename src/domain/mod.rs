//! Pure domain logic: the rules of SPEC §1–4 and §8 as plain functions over plain data.
//!
//! Nothing here does I/O, reads the clock or draws randomness: callers pass `now` and the RNG.
//! That keeps every rule testable with tables and property tests beside it, and lets the service
//! layer (the only place that touches the database) stay a thin sequence of load → decide → write.
//!
//! - [`applicability`]: which controls apply to a tenant (its catalog source).
//! - [`attribution`]: why a score view moved between two days, by cause, exactly.
//! - [`enums`]: statuses, categories, tiers, levels, roles and other closed vocabularies.
//! - [`points`]: exact rational points; rounding only for presentation.
//! - [`present`]: the 2-place rounding of figures shown to clients.
//! - [`scoring`]: points of one action and the score views of a tenant.
//! - [`ranking`]: priority and rank of improvement actions.
//! - [`planner`]: the best set of actions within an effort budget (an exact 0/1 knapsack).
//! - [`rules`]: who may set which status, completion/regression, exceptions, expiry.
//! - [`licensing`]: whether an action is licensed and the seat shortfall.
//! - [`cohort`]: seat bands, cohort statistics and k-anonymity.
//! - [`goals`]: trends, projections and score zones.
//! - [`privacy`]: cells that partition tenants, licence tiers and calibrated cohort noise.
//! - [`replay`]: an action's past state from its current row and newer events.
//! - [`tokens`]: API token and share-link secrets.

pub mod applicability;
pub mod attribution;
pub mod cohort;
pub mod enums;
pub mod goals;
pub mod licensing;
pub mod planner;
pub mod points;
pub mod present;
pub mod privacy;
pub mod ranking;
#[cfg(test)]
mod reference_tests;
pub mod replay;
pub mod rules;
pub mod sanitize;
pub mod scoring;
pub mod tokens;

pub use cohort::{Distribution, SeatBand, distribution, suppressed};
pub use enums::{
    ActionType, Category, EventKind, ExceptionJustification, ExceptionScope, Level, Role, SharePlatform,
    Status, Tier, UnknownValue,
};
pub use goals::{Zone, linear_trend, project, zone};
pub use licensing::{HeldLicense, Licensing, licensing};
pub use points::{Points, STORAGE_SCALE};
pub use ranking::{RankInput, compare_priority, effort, is_rankable, priority, rank};
pub use rules::{
    NothingToUndo, ProgressTransition, RuleViolation, StatusEvent, UndoTarget, already_holds,
    check_user_status_change, exception_status, is_expired, status_accepts_review_by, status_after_progress,
    undo_target,
};
pub use scoring::{
    ScoreViews, ScoredAction, TenantScore, achieved_points, compute_score, from_storage, progress,
    score_impact, to_storage,
};
pub use tokens::{display_prefix, generate_secret, hash_secret};
