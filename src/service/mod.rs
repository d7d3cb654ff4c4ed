//! Use cases. The only code that queries the database (besides the GraphQL loaders); every
//! function that reads or writes tenant data takes the [`crate::auth::Viewer`] and checks its role
//! here, so no entry point can forget it.
//!
//! Dependency direction: `http → graphql → service → (domain, entity)`. Nothing here imports
//! `crate::http`, `crate::graphql` or `crate::app`; callers are the GraphQL resolvers and loaders,
//! the HTTP handlers (export, share pages), the CLI, the seeders and the background jobs that
//! `app` spawns.
//!
//! The groups, lowest first; a group imports only groups listed before it (no circle;
//! checked by `groups_import_only_lower_groups` below):
//!
//! - [`notify`]: the change feed behind the GraphQL subscriptions.
//! - [`alerts`]: alerts for webhooks, written to the outbox in the change's transaction.
//! - [`audit`]: the audit log of administrative changes, written in the change's transaction.
//! - [`state`]: a tenant's scored state (actions, controls, licences, score) and the read side
//!   of its action lists. **Its one entrance is [`state::States`]**, which checks the viewer's
//!   read permission and serves every resolver, mutation payload, subscription and export;
//!   behind it `state::cache` (each process's bounded cache), `state::summary` (the persisted
//!   overview), `state::persisted` (the tenant's inputs in one row, written by
//!   `access::tenants::touch` in every change's transaction), `state::controls` (the catalog as
//!   one tenant sees it, and its action rows), `state::catalog` (the service catalog's controls
//!   a process holds once per catalog version) and `state::actions` (filtering, ordering,
//!   grouping, what-if). Time-driven expiry is the one write a read makes; `app` hands the
//!   workflow's expiry to `States::new` ([`state::ExpireDue`]).
//! - [`access`]: tenants (`access::tenants`: lookup scoped to the caller, creation, settings,
//!   licences, `touch`), principals, API tokens and role grants.
//! - [`webhooks`]: a tenant's webhook endpoints, their delivery log, and the delivery worker
//!   that sends the outbox `alerts` writes (signed, retried, leased).
//! - [`catalog`]: the service catalog of controls and licences (SERVICE_ADMIN).
//! - [`workflow`]: status changes, bulk changes, undo, device exceptions, progress and expiry
//!   (with the expiry sweep `app` runs); `workflow::events` is the event log every write
//!   appends to.
//! - [`collab`]: notes, tags and share links on actions.
//! - [`history`]: daily snapshots (and the snapshot job), cohort comparisons, trends and goals.
//! - [`planning`]: the best plan within an effort budget, its outcome and standing among other
//!   organisations, and applying it (`workflow::mark_planned`).
//! - [`graph`]: Microsoft Graph `parse` (pure), `import` (writes) and scheduled `sync`.
//! - [`export`]: CSV and JSON exports of a tenant, for the HTTP export handlers.

pub mod access;
pub mod alerts;
pub mod audit;
pub mod catalog;
pub mod collab;
pub mod export;
pub mod graph;
pub mod history;
pub mod notify;
pub mod planning;
pub mod state;
pub mod webhooks;
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

#[cfg(test)]
mod tests {
    /// The groups in layer order, lowest first (the module map above).
    const LAYERS: [&str; 13] = [
        "notify", "alerts", "audit", "state", "access", "webhooks", "catalog", "workflow", "collab",
        "history", "planning", "graph", "export",
    ];

    /// Every `crate::service::<group>` a group's source names (comments excluded).
    fn imports_of(group: &str) -> std::collections::BTreeSet<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/service");
        let mut files = vec![dir.join(format!("{group}.rs"))];
        let sub = dir.join(group);
        if sub.is_dir() {
            for entry in std::fs::read_dir(&sub).unwrap() {
                files.push(entry.unwrap().path());
            }
        }
        let mut out = std::collections::BTreeSet::new();
        for file in files.into_iter().filter(|f| f.is_file()) {
            let text = std::fs::read_to_string(&file).unwrap();
            for line in text.lines().map(|l| l.split("//").next().unwrap_or("")) {
                for (i, _) in line.match_indices("crate::service::") {
                    let rest = &line[i + "crate::service::".len()..];
                    let names: Vec<&str> = match rest.strip_prefix('{') {
                        Some(list) => list.split('}').next().unwrap_or("").split(',').collect(),
                        None => vec![rest],
                    };
                    for name in names {
                        let name: String = name
                            .trim()
                            .chars()
                            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                            .collect();
                        if LAYERS.contains(&name.as_str()) && name != group {
                            out.insert(name);
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn groups_import_only_lower_groups() {
        for (level, group) in LAYERS.iter().enumerate() {
            for imported in imports_of(group) {
                let at = LAYERS.iter().position(|g| *g == imported).unwrap();
                assert!(
                    at < level,
                    "service::{group} imports service::{imported}, which is not below it in the module map"
                );
            }
        }
    }
}
