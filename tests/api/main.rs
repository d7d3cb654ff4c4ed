//! Black-box tests over HTTP against the real server on 127.0.0.1:0. Every test gets its own
//! database: a fresh SQLite file always, and a fresh PostgreSQL schema as well when
//! `TEST_DATABASE_URL` is set (see `helpers.rs`). Tests send their GraphQL operations through
//! the helpers of `ops.rs`, one per operation.

mod helpers;
mod ops;

mod clients;
mod connections;
mod crash;
mod dashboard;
mod demo;
mod errors;
mod exact;
mod export;
mod foundation;
mod graph_import;
mod hardening;
mod history;
mod history_cache;
mod http;
mod idempotency;
mod input_safety;
mod nodes;
mod outage;
mod overview;
mod ownership;
mod peers;
mod persisted_state;
mod planning;
mod privacy;
mod readme;
mod realtime;
mod risk;
mod score;
mod score_change;
mod security;
mod service_admin;
mod tooling;
mod webhooks;
mod workflow;
mod ws_limits;
