//! SeaORM entities of securescore: database rows only. No GraphQL derives and no business logic
//! live here; the server converts these models into its public API types, so the database can
//! change without changing the API. Points are integers in ten-thousandths of a point.
//!
//! Regenerate the column lists from a migrated database with `sea-orm-cli generate entity`
//! (see README); relations are expressed as explicit queries in the service layer.

pub mod action_event;
pub mod action_tag;
pub mod api_token;
pub mod audit_log;
pub mod cohort_aggregate;
pub mod control;
pub mod device_exception;
pub mod enums;
pub mod graph_sync_config;
pub mod history_version;
pub mod improvement_action;
pub mod job_lease;
pub mod license;
pub mod license_plan;
pub mod note;
pub mod principal;
pub mod risk_acceptance;
pub mod role_grant;
pub mod score_goal;
pub mod score_snapshot;
pub mod score_zone;
pub mod server_setting;
pub mod share_link;
pub mod tag;
pub mod tenant;
pub mod tenant_control;
pub mod tenant_license;
pub mod tenant_state;
pub mod types;
pub mod vendor_benchmark;
pub mod webhook_delivery;
pub mod webhook_endpoint;
