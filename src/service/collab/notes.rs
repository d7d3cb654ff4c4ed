//! Notes on actions: add, edit (author or an admin), delete. Each writes an event.

use crate::auth::Viewer;
use crate::domain::enums::{EventKind, Role};
use crate::error::{AppError, AppResult};
use crate::service::NOTE_MAX_CHARS;
use crate::service::access::tenants;
use crate::service::state::actions::NoteWithAuthor;
use crate::service::state::persisted::Change;
use crate::service::workflow::events::{self, Actor, NewEvent};
use crate::service::workflow::{ActionRef, resolve};
use chrono::{DateTime, Utc};
use entity::{note, principal};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, ModelTrait, Set};
use std::collections::HashMap;

fn validate_body(body: &str) -> AppResult<String> {
    crate::service::check_text("body", body, true)?;
    let body = body.trim();
    if body.chars().count() > NOTE_MAX_CHARS {
        return Err(AppError::bad_input(
            "body",
            format!("body must be at most {NOTE_MAX_CHARS} characters"),
        ));
    }
    Ok(body.to_string())
}

fn excerpt(body: &str) -> String {
    body.chars().take(200).collect()
}

/// `addActionNote` (OPERATOR).
pub async fn add(
    db: &DatabaseConnection,
    viewer: &Viewer,
    action: ActionRef,
    body: &str,
    now: DateTime<Utc>,
) -> AppResult<note::Model> {
    let body = validate_body(body)?;
    let txn = crate::db::begin_write(db).await?;
    let r = resolve(&txn, viewer, &action, Role::Operator).await?;
    let n = write(
        &txn,
        &Actor::of(viewer),
        r.tenant.id,
        r.action.id,
        &body,
        serde_json::Map::new(),
        now,
    )
    .await?;
    tenants::touch_with(&txn, r.tenant.id, now, Change::Unchanged).await?;
    txn.commit().await?;
    Ok(n)
}

/// Adds a note by `actor` with its `NOTE_ADDED` event inside the caller's transaction: the one
/// note write path of `addActionNote` and imports. `data` goes into the event beside `noteId`.
pub async fn write<C: sea_orm::ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    tenant_id: i64,
    action_id: i64,
    body: &str,
    mut data: serde_json::Map<String, serde_json::Value>,
    now: DateTime<Utc>,
) -> AppResult<note::Model> {
    let author_id = match actor {
        Actor::Principal { id, .. } => Some(*id),
        _ => None,
    };
    let n = note::ActiveModel {
        tenant_id: Set(tenant_id),
        action_id: Set(action_id),
        author_id: Set(author_id),
        body: Set(body.to_string()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    let mut ev = NewEvent::new(tenant_id, action_id, EventKind::NoteAdded);
    ev.comment = Some(excerpt(body));
    data.insert("noteId".into(), n.id.into());
    ev.data = Some(serde_json::Value::Object(data));
    events::record(conn, actor, ev, now).await?;
    Ok(n)
}

/// A note the caller may see (role on its tenant), else `NOT_FOUND`.
async fn find<C: sea_orm::ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    id: i64,
    needed: Role,
) -> AppResult<note::Model> {
    let n = note::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("note"))?;
    if viewer.role_on(n.tenant_id).is_none() {
        return Err(AppError::NotFound("note"));
    }
    viewer.require(n.tenant_id, needed)?;
    Ok(n)
}

/// Only the author or an admin of the tenant may edit or delete a note.
fn check_author(viewer: &Viewer, n: &note::Model) -> AppResult<()> {
    let is_admin = viewer.role_on(n.tenant_id) == Some(Role::Admin);
    if n.author_id == Some(viewer.principal_id) || is_admin {
        Ok(())
    } else {
        Err(AppError::Forbidden {
            needed: "the note's author or ADMIN",
        })
    }
}

/// `updateActionNote`.
pub async fn update(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: i64,
    body: &str,
    now: DateTime<Utc>,
) -> AppResult<note::Model> {
    let body = validate_body(body)?;
    let txn = crate::db::begin_write(db).await?;
    let n = find(&txn, viewer, id, Role::Operator).await?;
    check_author(viewer, &n)?;
    let (tenant_id, action_id) = (n.tenant_id, n.action_id);
    let mut am: note::ActiveModel = n.into();
    am.body = Set(body.clone());
    am.updated_at = Set(now);
    let n = am.update(&txn).await?;
    let mut ev = NewEvent::new(tenant_id, action_id, EventKind::NoteEdited);
    ev.comment = Some(excerpt(&body));
    ev.data = Some(serde_json::json!({ "noteId": id }));
    events::record(&txn, &Actor::of(viewer), ev, now).await?;
    tenants::touch_with(&txn, tenant_id, now, Change::Unchanged).await?;
    txn.commit().await?;
    Ok(n)
}

/// `deleteActionNote`; returns the deleted note.
pub async fn delete(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: i64,
    now: DateTime<Utc>,
) -> AppResult<note::Model> {
    let txn = crate::db::begin_write(db).await?;
    let n = find(&txn, viewer, id, Role::Operator).await?;
    check_author(viewer, &n)?;
    n.clone().delete(&txn).await?;
    let mut ev = NewEvent::new(n.tenant_id, n.action_id, EventKind::NoteDeleted);
    ev.comment = Some(excerpt(&n.body));
    ev.data = Some(serde_json::json!({ "noteId": id }));
    events::record(&txn, &Actor::of(viewer), ev, now).await?;
    tenants::touch_with(&txn, n.tenant_id, now, Change::Unchanged).await?;
    txn.commit().await?;
    Ok(n)
}

/// The notes among `ids` that the caller may read (READER of their tenant, as
/// `ImprovementAction.notes`), with their authors' names. Another tenant's note is left out
/// exactly like an id that does not exist.
pub async fn by_ids<C: sea_orm::ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    ids: &[i64],
) -> AppResult<Vec<NoteWithAuthor>> {
    use sea_orm::{ColumnTrait, QueryFilter};
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let notes: Vec<note::Model> = note::Entity::find()
        .filter(note::Column::Id.is_in(ids.iter().copied()))
        .all(conn)
        .await?
        .into_iter()
        .filter(|n| viewer.role_on(n.tenant_id).is_some())
        .collect();
    let authors: Vec<i64> = notes.iter().filter_map(|n| n.author_id).collect();
    let names: HashMap<i64, String> = if authors.is_empty() {
        HashMap::new()
    } else {
        principal::Entity::find()
            .filter(principal::Column::Id.is_in(authors))
            .all(conn)
            .await?
            .into_iter()
            .map(|p| (p.id, p.name))
            .collect()
    };
    Ok(notes
        .into_iter()
        .map(|note| NoteWithAuthor {
            author_name: note.author_id.and_then(|id| names.get(&id).cloned()),
            note,
        })
        .collect())
}
