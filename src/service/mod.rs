//! Use cases. The only code that queries the database (besides the GraphQL loaders); every
//! function that reads or writes tenant data takes the [`crate::auth::Viewer`] and checks its role
//! here, so no entry point can forget it.

pub mod catalog;
pub mod events;
pub mod state;
pub mod tenants;
