//! Demo tenants seeded on first start with an empty database.

use crate::seed::DemoTokens;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

/// Seeds the demo tenants when there are none; returns their tokens when it did.
pub async fn seed_if_empty(
    _db: &DatabaseConnection,
    _now: DateTime<Utc>,
) -> anyhow::Result<Option<DemoTokens>> {
    Ok(None)
}
