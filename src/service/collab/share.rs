//! Share links (SPEC §6): a token (≥128 random bits, URL-safe) shown once and stored only as a
//! hash, opening a reduced, read-only view of one action. Unknown, expired and revoked tokens
//! are indistinguishable.

use crate::auth::Viewer;
use crate::domain::enums::{Category, EventKind, Role, SharePlatform, Status};
use crate::domain::points::Points;
use crate::domain::scoring::achieved_points;
use crate::domain::tokens::{generate_secret, hash_secret};
use crate::error::{AppError, AppResult};
use crate::service::access::tenants;
use crate::service::state::persisted::Change;
use crate::service::workflow::events::{self, Actor, NewEvent};
use crate::service::workflow::{ActionRef, Resolved, resolve};
use chrono::{DateTime, Duration, Utc};
use entity::{improvement_action, principal, share_link};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

/// Prefix of share tokens.
pub const SHARE_PREFIX: &str = "shr_";
/// Default and longest lifetime of a link, in days.
pub const DEFAULT_DAYS: i64 = 30;
pub const MAX_DAYS: i64 = 365;

/// A link just created: the secret token is only here.
#[derive(Clone, Debug)]
pub struct CreatedLink {
    pub link: share_link::Model,
    pub token: String,
    pub url: String,
    /// `mailto:` URL for EMAIL.
    pub mailto_url: Option<String>,
    /// Teams share URL for TEAMS.
    pub teams_url: Option<String>,
    /// Ready task title and description for PLANNER.
    pub planner_title: Option<String>,
    pub planner_description: Option<String>,
    pub action: Resolved,
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// `createShareLink` (OPERATOR).
pub async fn create(
    db: &DatabaseConnection,
    viewer: &Viewer,
    action: ActionRef,
    platform: SharePlatform,
    expires_in_days: Option<i64>,
    public_base_url: &str,
    now: DateTime<Utc>,
) -> AppResult<CreatedLink> {
    let days = expires_in_days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(AppError::bad_input(
            "expiresInDays",
            format!("expiresInDays must be 1 to {MAX_DAYS}"),
        ));
    }
    let txn = crate::db::begin_write(db).await?;
    let r = resolve(&txn, viewer, &action, Role::Operator).await?;
    let token = generate_secret(&mut rand::rng(), SHARE_PREFIX);
    let link = share_link::ActiveModel {
        tenant_id: Set(r.tenant.id),
        action_id: Set(r.action.id),
        token_hash: Set(hash_secret(&token)),
        platform: Set(platform),
        created_by: Set(Some(viewer.principal_id)),
        created_at: Set(now),
        expires_at: Set(now + Duration::days(days)),
        revoked_at: Set(None),
        last_used_at: Set(None),
        use_count: Set(0),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let mut ev = NewEvent::new(r.tenant.id, r.action.id, EventKind::Shared);
    ev.comment = Some(format!("shared via {}", platform.as_str()));
    ev.data = Some(
        serde_json::json!({ "shareLinkId": link.id, "platform": platform.as_str(), "expiresAt": link.expires_at }),
    );
    events::record(&txn, &Actor::of(viewer), ev, now).await?;
    tenants::touch_with(&txn, r.tenant.id, now, Change::Unchanged).await?;
    txn.commit().await?;

    let url = format!("{public_base_url}/share/{token}");
    let title = r.control.title.clone();
    let subject = format!("Security improvement: {title}");
    let body = format!(
        "Please take a look at this security improvement action ({} points).\n\n{}\n\n{url}\n\nThe link expires on {}.",
        Points::from_storage(r.control.max_points).round2(),
        title,
        link.expires_at.format("%Y-%m-%d")
    );
    let mut created = CreatedLink {
        link,
        token,
        url: url.clone(),
        mailto_url: None,
        teams_url: None,
        planner_title: None,
        planner_description: None,
        action: r,
    };
    match platform {
        SharePlatform::Link => {}
        SharePlatform::Email => {
            created.mailto_url = Some(format!("mailto:?subject={}&body={}", enc(&subject), enc(&body)))
        }
        SharePlatform::Teams => {
            created.teams_url = Some(format!(
                "https://teams.microsoft.com/share?href={}&msgText={}",
                enc(&url),
                enc(&subject)
            ))
        }
        SharePlatform::Planner => {
            created.planner_title = Some(subject);
            created.planner_description = Some(format!(
                "{}\n\nImplementation steps:\n{}\n\nDetails: {url}",
                created.action.control.title, created.action.control.remediation
            ));
        }
    }
    Ok(created)
}

/// A link with its creator's name, for listing.
#[derive(Clone, Debug)]
pub struct LinkInfo {
    pub link: share_link::Model,
    pub creator: Option<String>,
}

/// Share links of one action (READER), newest first.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    tenant_id: i64,
    action_id: i64,
) -> AppResult<Vec<LinkInfo>> {
    viewer.require(tenant_id, Role::Reader)?;
    let links = share_link::Entity::find()
        .filter(share_link::Column::TenantId.eq(tenant_id))
        .filter(share_link::Column::ActionId.eq(action_id))
        .order_by_desc(share_link::Column::CreatedAt)
        .order_by_desc(share_link::Column::Id)
        .all(conn)
        .await?;
    let ids: Vec<i64> = links.iter().filter_map(|l| l.created_by).collect();
    let names: std::collections::HashMap<i64, String> = principal::Entity::find()
        .filter(principal::Column::Id.is_in(ids))
        .all(conn)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    Ok(links
        .into_iter()
        .map(|link| {
            let creator = link.created_by.and_then(|id| names.get(&id).cloned());
            LinkInfo { link, creator }
        })
        .collect())
}

/// The share links among `ids` that the caller may list (READER of their tenant, as
/// `ImprovementAction.shareLinks`), with their creators' names. Another tenant's link is left out
/// exactly like an id that does not exist.
pub async fn by_ids<C: ConnectionTrait>(conn: &C, viewer: &Viewer, ids: &[i64]) -> AppResult<Vec<LinkInfo>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let links: Vec<share_link::Model> = share_link::Entity::find()
        .filter(share_link::Column::Id.is_in(ids.iter().copied()))
        .all(conn)
        .await?
        .into_iter()
        .filter(|l| viewer.role_on(l.tenant_id).is_some())
        .collect();
    let creators: Vec<i64> = links.iter().filter_map(|l| l.created_by).collect();
    let names: std::collections::HashMap<i64, String> = if creators.is_empty() {
        std::collections::HashMap::new()
    } else {
        principal::Entity::find()
            .filter(principal::Column::Id.is_in(creators))
            .all(conn)
            .await?
            .into_iter()
            .map(|p| (p.id, p.name))
            .collect()
    };
    Ok(links
        .into_iter()
        .map(|link| {
            let creator = link.created_by.and_then(|id| names.get(&id).cloned());
            LinkInfo { link, creator }
        })
        .collect())
}

/// `revokeShareLink` (OPERATOR). Revoking twice is harmless.
pub async fn revoke(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: i64,
    now: DateTime<Utc>,
) -> AppResult<share_link::Model> {
    let txn = crate::db::begin_write(db).await?;
    let link = share_link::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("share link"))?;
    if viewer.role_on(link.tenant_id).is_none() {
        return Err(AppError::NotFound("share link"));
    }
    viewer.require(link.tenant_id, Role::Operator)?;
    if link.revoked_at.is_some() {
        return Ok(link);
    }
    let (tenant_id, action_id) = (link.tenant_id, link.action_id);
    let mut am: share_link::ActiveModel = link.into();
    am.revoked_at = Set(Some(now));
    let link = am.update(&txn).await?;
    let mut ev = NewEvent::new(tenant_id, action_id, EventKind::ShareRevoked);
    ev.data = Some(serde_json::json!({ "shareLinkId": id }));
    events::record(&txn, &Actor::of(viewer), ev, now).await?;
    tenants::touch_with(&txn, tenant_id, now, Change::Unchanged).await?;
    txn.commit().await?;
    Ok(link)
}

/// The reduced, read-only view behind a share link: never notes, tags, other actions or
/// tenant details.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedView {
    pub title: String,
    pub category: Category,
    pub service: String,
    pub status: Status,
    pub points_achieved: Points,
    pub max_points: Points,
    pub remediation: String,
    pub action_url: Option<String>,
    pub learn_more_urls: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

/// Resolves a share token (no authentication). Counts the use.
pub async fn open(db: &DatabaseConnection, token: &str, now: DateTime<Utc>) -> AppResult<SharedView> {
    let not_found = || AppError::NotFound("shared action");
    let link = share_link::Entity::find()
        .filter(share_link::Column::TokenHash.eq(hash_secret(token)))
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    if link.revoked_at.is_some() || link.expires_at <= now {
        return Err(not_found());
    }
    let action = improvement_action::Entity::find_by_id(link.action_id)
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    let tenant = entity::tenant::Entity::find_by_id(action.tenant_id)
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    let control = crate::service::state::controls::applicable_control(db, &tenant, &action.control_id)
        .await?
        .ok_or_else(not_found)?;
    share_link::Entity::update_many()
        .col_expr(
            share_link::Column::UseCount,
            Expr::col(share_link::Column::UseCount).add(1),
        )
        .col_expr(share_link::Column::LastUsedAt, Expr::value(now))
        .filter(share_link::Column::Id.eq(link.id))
        .exec(db)
        .await?;
    let status = action.status;
    let max = Points::from_storage(control.max_points);
    Ok(SharedView {
        title: control.title,
        category: control.category,
        service: control.service,
        status,
        points_achieved: if control.deprecated {
            Points::ZERO
        } else {
            achieved_points(&max, status, action.implemented, action.total)
        },
        max_points: max,
        remediation: control.remediation,
        // Only https links leave the service, whatever a row holds.
        action_url: control
            .action_url
            .as_deref()
            .and_then(crate::domain::sanitize::safe_url)
            .map(str::to_string),
        learn_more_urls: crate::domain::sanitize::safe_urls(&control.learn_more_urls.0)
            .into_iter()
            .map(str::to_string)
            .collect(),
        expires_at: link.expires_at,
    })
}
