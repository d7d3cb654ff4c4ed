//! Use cases. The only code that queries the database (besides the GraphQL loaders); every
//! function that reads or writes tenant data takes the [`crate::auth::Viewer`] and checks its role
//! here, so no entry point can forget it.

pub mod access;
pub mod actions;
pub mod catalog;
pub mod comparisons;
pub mod events;
pub mod export;
pub mod goals;
pub mod graph_import;
pub mod graph_sync;
pub mod notes;
pub mod notify;
pub mod share;
pub mod snapshots;
pub mod state;
pub mod state_cache;
pub mod tags;
pub mod tenant_controls;
pub mod tenants;
pub mod trends;
pub mod workflow;

/// Checks a text a user typed (`domain::sanitize::check_user_text`): `BAD_USER_INPUT` naming
/// `field` when it holds a control character (newline and tab allowed when `multiline`) or
/// nothing visible.
pub fn check_text(field: &str, text: &str, multiline: bool) -> crate::error::AppResult<()> {
    crate::domain::sanitize::check_user_text(text, multiline)
        .map_err(|problem| crate::error::AppError::bad_input(field, format!("{field} {problem}")))
}

/// Longest note or comment, in characters (SPEC §10).
pub const NOTE_MAX_CHARS: usize = 10_000;
/// Most items in one bulk change.
pub const BULK_MAX_ITEMS: usize = 500;
