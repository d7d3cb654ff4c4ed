//! Public API types, built from entity models and service results so the database can change
//! without changing the API.

mod access;
mod action;
mod catalog;
pub mod enums;
mod groups;
pub mod history;
pub mod import;
mod score;
mod tenant;
pub mod user_error;
mod viewer;
pub mod workflow;

pub use access::{ApiToken, AuditEntry, Principal, RoleGrant};
pub use action::{ImprovementAction, Note, Tag};
pub use catalog::{Control, License};
pub(crate) use groups::resolve::action_node;
pub use groups::{
    GroupBy, ImprovementActionFilterInput, ImprovementActionGroup, ImprovementActionOrderField,
    ImprovementActionOrderInput, OrderDirection, WhatIfChangeInput,
};
pub use score::{CategoryScore, ScoreView, SecureScore};
pub use tenant::{Tenant, TenantLicense};
pub use user_error::UserError;
pub use viewer::{TenantAccess, ViewerInfo};

pub use crate::domain::present::{Presentable, present};

/// The GraphQL `Node` interface (Relay global object identification).
// Values live for one resolver call; boxing the variants would buy nothing measurable.
#[allow(clippy::large_enum_variant)]
#[derive(async_graphql::Interface)]
#[graphql(field(name = "id", ty = "async_graphql::ID", desc = "Global object id."))]
pub enum Node {
    Tenant(Tenant),
    Control(Control),
    ImprovementAction(ImprovementAction),
    Principal(Principal),
}
