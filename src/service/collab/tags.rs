//! Tenant-scoped tags: create, rename, recolour, delete, and attach to / detach from actions
//! (also many at once). Attaching and detaching write events; attaching a tag an action already
//! has, or detaching one it doesn't have, is a no-op that writes nothing.

use crate::auth::Viewer;
use crate::domain::enums::{EventKind, Role};
use crate::error::{AppError, AppResult};
use crate::service::access::tenants;
use crate::service::workflow::events::{self, Actor, NewEvent};
use crate::service::workflow::{ActionRef, Resolved, resolve};
use chrono::{DateTime, Utc};
use entity::{action_tag, tag};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ModelTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set,
};

/// Longest tag name.
pub const TAG_NAME_MAX: usize = 64;
/// Most tags on one action.
pub const TAGS_PER_ACTION_MAX: u64 = 50;

fn validate_name(name: &str) -> AppResult<String> {
    crate::service::check_text("name", name, false)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > TAG_NAME_MAX {
        return Err(AppError::bad_input(
            "name",
            format!("name must be 1 to {TAG_NAME_MAX} characters"),
        ));
    }
    Ok(name.to_string())
}

fn validate_color(color: &str) -> AppResult<String> {
    let ok = color.len() == 7 && color.starts_with('#') && color[1..].chars().all(|c| c.is_ascii_hexdigit());
    if !ok {
        return Err(AppError::bad_input("color", "color must look like #1f6feb"));
    }
    Ok(color.to_ascii_lowercase())
}

/// The tenant's tags by name.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    tenant_id: i64,
) -> AppResult<Vec<tag::Model>> {
    viewer.require(tenant_id, Role::Reader)?;
    Ok(tag::Entity::find()
        .filter(tag::Column::TenantId.eq(tenant_id))
        .order_by_asc(tag::Column::Name)
        .all(conn)
        .await?)
}

/// The tags among `ids` that the caller may read (READER of their tenant, as `Tenant.tags`), in
/// one query. Another tenant's tag is left out exactly like an id that does not exist.
pub async fn by_ids<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    ids: &[i64],
) -> AppResult<Vec<tag::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(tag::Entity::find()
        .filter(tag::Column::Id.is_in(ids.iter().copied()))
        .all(conn)
        .await?
        .into_iter()
        .filter(|t| viewer.role_on(t.tenant_id).is_some())
        .collect())
}

async fn name_taken<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    name: &str,
    except: Option<i64>,
) -> AppResult<bool> {
    let lower = name.to_lowercase();
    Ok(tag::Entity::find()
        .filter(tag::Column::TenantId.eq(tenant_id))
        .all(conn)
        .await?
        .into_iter()
        .any(|t| t.name.to_lowercase() == lower && Some(t.id) != except))
}

/// `createTag` (OPERATOR).
pub async fn create(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tenant_slug: &str,
    name: &str,
    color: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<tag::Model> {
    let name = validate_name(name)?;
    let color = validate_color(color.unwrap_or("#6e7781"))?;
    let txn = crate::db::begin_write(db).await?;
    let tenant = tenants::by_slug(&txn, viewer, tenant_slug).await?;
    viewer.require(tenant.id, Role::Operator)?;
    if name_taken(&txn, tenant.id, &name, None).await? {
        return Err(AppError::bad_input(
            "name",
            format!("a tag named {name:?} already exists"),
        ));
    }
    let t = tag::ActiveModel {
        tenant_id: Set(tenant.id),
        name: Set(name),
        color: Set(color),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    tenants::touch(&txn, tenant.id, now).await?;
    txn.commit().await?;
    Ok(t)
}

async fn find<C: ConnectionTrait>(conn: &C, viewer: &Viewer, id: i64) -> AppResult<tag::Model> {
    let t = tag::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("tag"))?;
    if viewer.role_on(t.tenant_id).is_none() {
        return Err(AppError::NotFound("tag"));
    }
    viewer.require(t.tenant_id, Role::Operator)?;
    Ok(t)
}

/// `updateTag`: rename and/or recolour.
pub async fn update(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: i64,
    name: Option<&str>,
    color: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<tag::Model> {
    let name = name.map(validate_name).transpose()?;
    let color = color.map(validate_color).transpose()?;
    let txn = crate::db::begin_write(db).await?;
    let t = find(&txn, viewer, id).await?;
    if let Some(n) = &name
        && name_taken(&txn, t.tenant_id, n, Some(t.id)).await?
    {
        return Err(AppError::bad_input(
            "name",
            format!("a tag named {n:?} already exists"),
        ));
    }
    let tenant_id = t.tenant_id;
    let mut am: tag::ActiveModel = t.into();
    if let Some(n) = name {
        am.name = Set(n);
    }
    if let Some(c) = color {
        am.color = Set(c);
    }
    am.updated_at = Set(now);
    let t = am.update(&txn).await?;
    tenants::touch(&txn, tenant_id, now).await?;
    txn.commit().await?;
    Ok(t)
}

/// `deleteTag`: detaches it everywhere; returns the deleted tag.
pub async fn delete(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: i64,
    now: DateTime<Utc>,
) -> AppResult<tag::Model> {
    let txn = crate::db::begin_write(db).await?;
    let t = find(&txn, viewer, id).await?;
    action_tag::Entity::delete_many()
        .filter(action_tag::Column::TagId.eq(t.id))
        .exec(&txn)
        .await?;
    t.clone().delete(&txn).await?;
    tenants::touch(&txn, t.tenant_id, now).await?;
    txn.commit().await?;
    Ok(t)
}

/// `addActionTags` / `removeActionTags`: tags (by id, all of the actions' tenant) on many actions
/// at once. All or nothing. Returns the affected actions, and whether any link was attached or
/// detached (when none was, nothing was written: no event, no tenant state version).
pub async fn set_on_actions(
    db: &DatabaseConnection,
    viewer: &Viewer,
    actions: Vec<ActionRef>,
    tag_ids: Vec<i64>,
    attach: bool,
    now: DateTime<Utc>,
) -> AppResult<(Vec<Resolved>, bool)> {
    if actions.is_empty() || actions.len() > crate::service::BULK_MAX_ITEMS {
        return Err(AppError::bad_input("actions", "give 1 to 500 actions"));
    }
    if tag_ids.is_empty() || tag_ids.len() > TAGS_PER_ACTION_MAX as usize {
        return Err(AppError::bad_input("tagIds", "give 1 to 50 tags"));
    }
    let txn = crate::db::begin_write(db).await?;
    let mut resolved = Vec::new();
    for a in &actions {
        resolved.push(resolve(&txn, viewer, a, Role::Operator).await?);
    }
    let mut tags = Vec::new();
    for id in &tag_ids {
        let t = find(&txn, viewer, *id).await?;
        tags.push(t);
    }
    // Tags and actions must all belong to one tenant: a tag of another tenant is simply unknown.
    for r in &resolved {
        if tags.iter().any(|t| t.tenant_id != r.tenant.id) {
            return Err(AppError::NotFound("tag"));
        }
    }
    let actor = Actor::of(viewer);
    let mut changed = false;
    for r in &resolved {
        let existing: Vec<i64> = action_tag::Entity::find()
            .filter(action_tag::Column::ActionId.eq(r.action.id))
            .all(&txn)
            .await?
            .into_iter()
            .map(|l| l.tag_id)
            .collect();
        for t in &tags {
            let has = existing.contains(&t.id);
            if attach && !has {
                action_tag::ActiveModel {
                    action_id: Set(r.action.id),
                    tag_id: Set(t.id),
                    created_at: Set(now),
                }
                .insert(&txn)
                .await?;
            } else if !attach && has {
                action_tag::Entity::delete_by_id((r.action.id, t.id))
                    .exec(&txn)
                    .await?;
            } else {
                continue;
            }
            changed = true;
            let mut ev = NewEvent::new(
                r.tenant.id,
                r.action.id,
                if attach {
                    EventKind::TagAdded
                } else {
                    EventKind::TagRemoved
                },
            );
            ev.comment = Some(t.name.clone());
            ev.data = Some(serde_json::json!({ "tagId": t.id }));
            events::record(&txn, &actor, ev, now).await?;
        }
        if attach {
            let count = action_tag::Entity::find()
                .filter(action_tag::Column::ActionId.eq(r.action.id))
                .count(&txn)
                .await?;
            if count > TAGS_PER_ACTION_MAX {
                return Err(AppError::bad_input(
                    "tagIds",
                    format!(
                        "action {} would have {count} tags; at most {TAGS_PER_ACTION_MAX} are allowed",
                        r.control.id
                    ),
                ));
            }
        }
    }
    if changed {
        let tenant_ids: std::collections::BTreeSet<i64> = resolved.iter().map(|r| r.tenant.id).collect();
        for t in tenant_ids {
            tenants::touch(&txn, t, now).await?;
        }
    }
    txn.commit().await?;
    Ok((resolved, changed))
}
