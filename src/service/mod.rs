//! Use cases. The only code that queries the database (besides the GraphQL loaders); every
//! function that reads or writes tenant data takes the [`crate::auth::Viewer`] and checks its role
//! here, so no entry point can forget it.
//!
//! Dependency direction: `http → graphql → service → (domain, entity)`. Nothing here imports
//! `crate::http`, `crate::graphql` or `crate::app`; callers are the GraphQL resolvers and loaders,
//! the HTTP handlers (export, share pages), the CLI, the seeders and the background jobs that
//! `app` spawns.
//!
//! - [`state`]: a tenant's scored state (actions, controls, licences, score). **Its one
//!   entrance is [`state::States`]**, which checks the viewer's read permission and serves every
//!   resolver, mutation payload, subscription and export; behind it `state::cache` (each
//!   process's bounded cache) and `state::persisted` (the tenant's inputs in one row, written by
//!   `access::tenants::touch` in every change's transaction).
//! - [`workflow`]: status changes, bulk changes, undo, device exceptions, progress and expiry
//!   (with the expiry sweep `app` runs); `workflow::actions` is the read side of the action
//!   lists, `workflow::events` the event log every write appends to. Called by the workflow
//!   mutations, the Graph import and the loaders.
//! - [`collab`]: notes, tags and share links on actions; called by the workflow mutations and
//!   the share page.
//! - [`access`]: tenants (`access::tenants`), principals, API tokens, role grants and the audit
//!   log; called by the tenant and access mutations, the CLI, the seeders and every other group
//!   (tenant lookup scoped to the caller).
//! - [`history`]: daily snapshots (and the snapshot job), cohort comparisons, trends and goals;
//!   called by the history queries and mutations, the exports and the CLI.
//! - [`graph`]: Microsoft Graph `parse` (pure), `import` (writes) and scheduled `sync`; called
//!   by the import mutations, the CLI and `app`.
//! - [`export`]: CSV and JSON exports of a tenant; called by the HTTP export handlers.
//! - [`catalog`]: the service catalog of controls and licences, and `catalog::tenant_controls`,
//!   the catalog as one tenant sees it; called by the catalog mutations, the seeders and `state`.
//! - [`notify`]: the change feed behind the GraphQL subscriptions.

pub mod access;
pub mod catalog;
pub mod collab;
pub mod export;
pub mod graph;
pub mod history;
pub mod notify;
pub mod state;
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
