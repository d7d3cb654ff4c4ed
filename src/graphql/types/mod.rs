//! Public API types, built from entity models and service results so the database can change
//! without changing the API.

mod access;
mod action;
mod catalog;
pub mod enums;
mod groups;
pub mod history;
pub mod import;
pub mod peers;
pub mod planning;
pub mod risk;
mod score;
pub mod score_change;
mod tenant;
pub mod user_error;
mod viewer;
pub mod webhooks;
pub mod workflow;

pub use access::{ApiToken, AuditEntry, Principal, RoleGrant};
pub use action::{ImprovementAction, Note, Tag};
pub use catalog::{Control, License};
pub use groups::{
    GroupBy, ImprovementActionFilterInput, ImprovementActionGroup, ImprovementActionOrderField,
    ImprovementActionOrderInput, OrderDirection, WhatIfChangeInput,
};
pub use score::{CategoryScore, ScoreView, SecureScore};
pub use tenant::{Tenant, TenantLicense};
pub use user_error::UserError;
pub use viewer::{TenantAccess, ViewerInfo};

pub use crate::domain::present::{Presentable, present};

/// An object with a global id that `node` and `nodes` resolve (Relay global object
/// identification). Every object type with an `id` is one, except `Viewer`, whose id is its
/// principal's (`node` answers it with the `Principal`).
// Values live for one resolver call; boxing the variants would buy nothing measurable.
#[allow(clippy::large_enum_variant)]
#[derive(async_graphql::Interface)]
#[graphql(field(name = "id", ty = "async_graphql::ID", desc = "Global object id."))]
pub enum Node {
    Tenant(Tenant),
    Control(Control),
    ImprovementAction(ImprovementAction),
    Principal(Principal),
    Tag(Tag),
    Note(Note),
    ShareLink(workflow::ShareLink),
    ActionEvent(workflow::ActionEvent),
    DeviceException(workflow::DeviceException),
    TenantLicense(TenantLicense),
    ApiToken(ApiToken),
    AuditEntry(AuditEntry),
    SecureScore(SecureScore),
    ScoreSnapshot(history::ScoreSnapshot),
    ScoreGoal(history::ScoreGoal),
    CategoryScore(CategoryScore),
    RiskAcceptance(risk::RiskAcceptance),
}
