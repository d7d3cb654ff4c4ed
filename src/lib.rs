//! securescore: a multi-tenant security posture score service served as a GraphQL API.
//!
//! Layers, outermost first: `http` (axum router, GraphQL-over-HTTP, health, share pages) →
//! `graphql` (schema, resolvers, loaders) → `service` (use cases; the only code that queries the
//! database besides loaders) → `domain` (pure rules, no I/O) and the `entity` crate (rows).

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod seed;
pub mod service;
pub mod telemetry;
