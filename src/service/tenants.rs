//! Tenants: lookup scoped to the caller, creation (with one action row per applicable control),
//! the licences a tenant holds, and principals with their first tokens.

use crate::auth::{TOKEN_PREFIX, Viewer};
use crate::domain::enums::{Role, Status};
use crate::domain::tokens::{display_prefix, generate_secret, hash_secret};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::types::StringList;
use entity::{api_token, control, improvement_action, principal, role_grant, tenant, tenant_license};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

/// Tenants the caller holds a role on, ordered by name.
pub async fn accessible(db: &DatabaseConnection, viewer: &Viewer) -> AppResult<Vec<tenant::Model>> {
    Ok(tenant::Entity::find()
        .filter(tenant::Column::Id.is_in(viewer.tenant_ids()))
        .order_by_asc(tenant::Column::Name)
        .all(db)
        .await?)
}

/// A tenant by slug, if the caller may read it; otherwise `NOT_FOUND` like a missing one.
pub async fn by_slug(db: &DatabaseConnection, viewer: &Viewer, slug: &str) -> AppResult<tenant::Model> {
    let found = tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug))
        .one(db)
        .await?;
    match found {
        Some(t) if viewer.role_on(t.id).is_some() => Ok(t),
        _ => Err(AppError::NotFound("tenant")),
    }
}

/// A tenant by id, if the caller may read it.
pub async fn by_id(db: &DatabaseConnection, viewer: &Viewer, id: i64) -> AppResult<tenant::Model> {
    viewer.require(id, Role::Reader)?;
    tenant::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("tenant"))
}

/// The licences a tenant holds, ordered by SKU.
pub async fn licenses(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tenant_id: i64,
) -> AppResult<Vec<tenant_license::Model>> {
    viewer.require(tenant_id, Role::Reader)?;
    Ok(tenant_license::Entity::find()
        .filter(tenant_license::Column::TenantId.eq(tenant_id))
        .order_by_asc(tenant_license::Column::LicenseSku)
        .all(db)
        .await?)
}

/// What a new tenant is made of.
#[derive(Clone, Debug)]
pub struct NewTenant {
    pub slug: String,
    pub name: String,
    pub industry: String,
    pub seat_count: i64,
    pub active_user_count: i64,
    pub enabled_services: Vec<String>,
}

/// Checks a tenant's fields; errors name the field.
pub fn validate_new_tenant(t: &NewTenant) -> AppResult<()> {
    let slug_ok = (2..=64).contains(&t.slug.len())
        && t.slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !t.slug.starts_with('-')
        && !t.slug.ends_with('-');
    if !slug_ok {
        return Err(AppError::bad_input(
            "slug",
            "slug must be 2 to 64 characters of lowercase letters, digits and inner dashes",
        ));
    }
    if t.name.trim().is_empty() || t.name.len() > 200 {
        return Err(AppError::bad_input("name", "name must be 1 to 200 characters"));
    }
    if t.industry.trim().is_empty() || t.industry.len() > 64 {
        return Err(AppError::bad_input(
            "industry",
            "industry must be 1 to 64 characters",
        ));
    }
    if t.seat_count < 0 || t.active_user_count < 0 {
        return Err(AppError::bad_input(
            "seatCount",
            "seat and user counts cannot be negative",
        ));
    }
    Ok(())
}

/// Creates a tenant and one `TO_ADDRESS` action per applicable, non-deprecated control. Runs on
/// the caller's connection or transaction; authorisation is the caller's business.
pub async fn create<C: ConnectionTrait>(
    conn: &C,
    new: &NewTenant,
    now: DateTime<Utc>,
) -> AppResult<tenant::Model> {
    validate_new_tenant(new)?;
    let exists = tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(&new.slug))
        .one(conn)
        .await?;
    if exists.is_some() {
        return Err(AppError::BadUserInput {
            field: vec!["slug".into()],
            message: format!("a tenant with slug {:?} already exists", new.slug),
        });
    }
    let tenant = tenant::ActiveModel {
        slug: Set(new.slug.clone()),
        name: Set(new.name.trim().to_string()),
        industry: Set(new.industry.trim().to_lowercase()),
        seat_count: Set(new.seat_count),
        active_user_count: Set(new.active_user_count),
        enabled_services: Set(StringList(new.enabled_services.clone())),
        azure_tenant_id: Set(None),
        state_version: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    let controls = control::Entity::find()
        .filter(control::Column::Service.is_in(new.enabled_services.clone()))
        .filter(control::Column::Deprecated.eq(false))
        .all(conn)
        .await?;
    let rows: Vec<improvement_action::ActiveModel> =
        controls.iter().map(|c| new_action(tenant.id, c, now)).collect();
    if !rows.is_empty() {
        improvement_action::Entity::insert_many(rows).exec(conn).await?;
    }
    Ok(tenant)
}

/// A fresh action row for a control.
pub fn new_action(tenant_id: i64, c: &control::Model, now: DateTime<Utc>) -> improvement_action::ActiveModel {
    improvement_action::ActiveModel {
        tenant_id: Set(tenant_id),
        control_id: Set(c.id.clone()),
        category: Set(c.category.clone()),
        status: Set(Status::ToAddress.as_str().to_string()),
        implemented: Set(0),
        total: Set(0),
        implementation_status: Set(None),
        users_affected: Set(0),
        review_by: Set(None),
        version: Set(1),
        origin: Set("APPLICABLE".to_string()),
        status_changed_at: Set(now),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Creates a principal.
pub async fn create_principal<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    kind: &str,
    now: DateTime<Utc>,
) -> AppResult<principal::Model> {
    Ok(principal::ActiveModel {
        name: Set(name.to_string()),
        kind: Set(kind.to_string()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}

/// Grants (or changes) a principal's role on a tenant.
pub async fn grant_role<C: ConnectionTrait>(
    conn: &C,
    principal_id: i64,
    tenant_id: i64,
    role: Role,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let existing = role_grant::Entity::find_by_id((principal_id, tenant_id))
        .one(conn)
        .await?;
    match existing {
        Some(g) => {
            let mut g: role_grant::ActiveModel = g.into();
            g.role = Set(role.as_str().to_string());
            g.update(conn).await?;
        }
        None => {
            role_grant::ActiveModel {
                principal_id: Set(principal_id),
                tenant_id: Set(tenant_id),
                role: Set(role.as_str().to_string()),
                created_at: Set(now),
            }
            .insert(conn)
            .await?;
        }
    }
    Ok(())
}

/// Issues a new API token for a principal. Returns the secret (shown once) and the stored row,
/// which holds only its hash.
pub async fn issue_token<C: ConnectionTrait>(
    conn: &C,
    principal_id: i64,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    created_by: Option<i64>,
    now: DateTime<Utc>,
) -> AppResult<(String, api_token::Model)> {
    let secret = generate_secret(&mut rand::rng(), TOKEN_PREFIX);
    let row = api_token::ActiveModel {
        principal_id: Set(principal_id),
        name: Set(name.to_string()),
        token_prefix: Set(display_prefix(&secret)),
        token_hash: Set(hash_secret(&secret)),
        created_by: Set(created_by),
        created_at: Set(now),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok((secret, row))
}

/// Bumps the tenant's state version: every committed change to a tenant's actions does this in
/// its transaction, so anything derived from the tenant's rows can tell it is stale.
pub async fn touch<C: ConnectionTrait>(conn: &C, tenant_id: i64, now: DateTime<Utc>) -> AppResult<()> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    tenant::Entity::update_many()
        .col_expr(
            tenant::Column::StateVersion,
            Expr::col(tenant::Column::StateVersion).add(1),
        )
        .col_expr(tenant::Column::UpdatedAt, Expr::value(now))
        .filter(tenant::Column::Id.eq(tenant_id))
        .exec(conn)
        .await?;
    Ok(())
}
