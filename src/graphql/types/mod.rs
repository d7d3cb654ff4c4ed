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

use crate::domain::points::Points;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// A figure the API shows rounded to 2 places (halves away from zero, SPEC §3): exact points and
/// percentages ([`Points`]) and decimal inputs such as goal targets.
pub trait Presentable {
    /// The value rounded to 2 decimal places.
    fn rounded(&self) -> Decimal;
}

impl Presentable for Points {
    fn rounded(&self) -> Decimal {
        self.round2()
    }
}

impl Presentable for Decimal {
    fn rounded(&self) -> Decimal {
        crate::domain::points::round2_decimal(*self)
    }
}

impl<T: Presentable> Presentable for &T {
    fn rounded(&self) -> Decimal {
        (**self).rounded()
    }
}

/// Figures are exact inside; the API presents them rounded to 2 places. The `f64` nearest a
/// 2-place decimal prints as that decimal in JSON.
pub fn present(value: impl Presentable) -> f64 {
    value.rounded().to_f64().unwrap_or(0.0)
}

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
