//! Command-line subcommands besides `serve`.

use crate::config::{Config, CreateTenantArgs};
use crate::domain::enums::Role;
use crate::error::AppError;
use crate::service::tenants::{self, NewTenant};
use crate::{db, seed};
use anyhow::Context;
use sea_orm::TransactionTrait;

/// `securescore migrate`: apply pending migrations.
pub async fn migrate(config: Config) -> anyhow::Result<()> {
    let db = db::connect(&config).await?;
    db::migrate(&db).await?;
    println!("migrations applied");
    Ok(())
}

/// `securescore create-tenant`: a tenant and its first admin token.
pub async fn create_tenant(config: Config, args: CreateTenantArgs) -> anyhow::Result<()> {
    let db = db::connect(&config).await?;
    db::migrate(&db).await?;
    seed::catalog::load(&db).await?;
    let now = chrono::Utc::now();
    let new = NewTenant {
        slug: args.slug,
        name: args.name,
        industry: args.industry,
        seat_count: args.seats,
        active_user_count: args.seats,
        enabled_services: args.services,
    };
    let txn = db.begin().await?;
    let tenant = tenants::create(&txn, &new, now).await.map_err(into_anyhow)?;
    let principal = tenants::create_principal(&txn, &args.admin_name, "USER", now)
        .await
        .map_err(into_anyhow)?;
    tenants::grant_role(&txn, principal.id, tenant.id, Role::Admin, now)
        .await
        .map_err(into_anyhow)?;
    let (secret, _) = tenants::issue_token(&txn, principal.id, "first admin token", None, None, now)
        .await
        .map_err(into_anyhow)?;
    txn.commit().await.context("cannot create the tenant")?;
    println!("created tenant {} ({})", tenant.slug, tenant.name);
    println!("admin token (shown once, store it now): {secret}");
    Ok(())
}

/// Keeps the cause chain of internal errors and the message of user errors.
fn into_anyhow(err: AppError) -> anyhow::Error {
    match err {
        AppError::Internal(cause) => cause,
        other => anyhow::anyhow!(other.message()),
    }
}
