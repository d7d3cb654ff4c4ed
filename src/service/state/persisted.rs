//! The persisted tenant state: everything of a tenant's own that its scored state is computed
//! from (its action rows, the tags on them, the licences it holds and whether it has control
//! profiles of its own), in one row of `tenant_state` in a compact binary form (postcard),
//! labelled with the tenant's `state_version` it belongs to.
//!
//! **Written in the same transaction as every change**, by whichever process makes it:
//! `tenants::touch` bumps the version and calls [`persist`], which derives the new body from the
//! previous one when the change names the rows it wrote ([`Change::Rows`]), carries the body
//! forward when the change leaves the inputs alone ([`Change::Unchanged`]: notes, share links),
//! and otherwise reads the inputs again in the transaction ([`Change::Reload`]). So a process
//! that has never seen a tenant reads one indexed row instead of ~250 action rows with their
//! joins, and several processes on one database need no coordination beyond it.
//!
//! **Never trusted beyond its label**: a body is used only when its version equals the tenant
//! row's (read first, in the same request), so a writer that did not persist (a test editing rows
//! directly, data from before this table) only makes readers read the rows again, and they
//! repair the body ([`repair`], which never overwrites a newer one). The service catalog is not in
//! the body (it is shared by all tenants and looked up by id when the state is computed), so a
//! SERVICE_ADMIN's catalog change rewrites no tenant's body; time-dependent answers (review dates,
//! licence expiry) are judged when the state is computed, not stored.

use crate::domain::enums::{Category, Status};
use crate::domain::licensing::HeldLicense;
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::{improvement_action, tag, tenant, tenant_control, tenant_state};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What a tenant's scored state is computed from, besides the shared service catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs {
    pub rows: Vec<improvement_action::Model>,
    /// Tags on the actions, by action id, each action's sorted as `actions::tags_of_tenant` does.
    pub tags: HashMap<i64, Vec<tag::Model>>,
    pub held: Vec<HeldLicense>,
    /// Whether the tenant has control profiles of its own (read separately when it has: they
    /// are rare and change only through its imports, which reload).
    pub own_profiles: bool,
}

/// How a change left the tenant's inputs (see the module documentation).
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    /// Anything may have changed: read the inputs again in the transaction.
    Reload,
    /// Only these action rows changed (as written); no row was added or removed, no tag or
    /// licence changed.
    Rows(&'a [improvement_action::Model]),
    /// Nothing the state is computed from changed (notes, share links).
    Unchanged,
}

/// A time as (seconds, nanoseconds): exact, whatever precision the database keeps.
pub(super) type Time = (i64, u32);

pub(super) fn time(t: DateTime<Utc>) -> Time {
    (t.timestamp(), t.timestamp_subsec_nanos())
}

pub(super) fn from_time((secs, nanos): Time) -> AppResult<DateTime<Utc>> {
    DateTime::from_timestamp(secs, nanos)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a persisted tenant state holds an invalid time")))
}

#[derive(Serialize, Deserialize)]
struct Body {
    actions: Vec<StoredAction>,
    licenses: Vec<StoredLicense>,
    tags: Vec<StoredTag>,
    /// (action id, indexes into `tags`, in the action's order).
    links: Vec<(i64, Vec<u32>)>,
    own_profiles: bool,
}

#[derive(Serialize, Deserialize)]
pub(super) struct StoredAction {
    id: i64,
    control_id: String,
    category: Category,
    status: Status,
    implemented: i64,
    total: i64,
    implementation_status: Option<String>,
    users_affected: i64,
    review_by: Option<Time>,
    version: i64,
    origin: String,
    status_changed_at: Time,
    created_at: Time,
    updated_at: Time,
}

#[derive(Serialize, Deserialize)]
struct StoredLicense {
    plans: Vec<String>,
    seats_purchased: i64,
    expires_at: Option<Time>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct StoredTag {
    id: i64,
    name: String,
    color: String,
    created_at: Time,
    updated_at: Time,
}

impl StoredAction {
    pub(super) fn of(r: &improvement_action::Model) -> StoredAction {
        StoredAction {
            id: r.id,
            control_id: r.control_id.clone(),
            category: r.category,
            status: r.status,
            implemented: r.implemented,
            total: r.total,
            implementation_status: r.implementation_status.clone(),
            users_affected: r.users_affected,
            review_by: r.review_by.map(time),
            version: r.version,
            origin: r.origin.clone(),
            status_changed_at: time(r.status_changed_at),
            created_at: time(r.created_at),
            updated_at: time(r.updated_at),
        }
    }

    pub(super) fn into_model(self, tenant_id: i64) -> AppResult<improvement_action::Model> {
        Ok(improvement_action::Model {
            id: self.id,
            tenant_id,
            control_id: self.control_id,
            category: self.category,
            status: self.status,
            implemented: self.implemented,
            total: self.total,
            implementation_status: self.implementation_status,
            users_affected: self.users_affected,
            review_by: self.review_by.map(from_time).transpose()?,
            version: self.version,
            origin: self.origin,
            status_changed_at: from_time(self.status_changed_at)?,
            created_at: from_time(self.created_at)?,
            updated_at: from_time(self.updated_at)?,
        })
    }
}

impl StoredTag {
    pub(super) fn of(t: &tag::Model) -> StoredTag {
        StoredTag {
            id: t.id,
            name: t.name.clone(),
            color: t.color.clone(),
            created_at: time(t.created_at),
            updated_at: time(t.updated_at),
        }
    }

    pub(super) fn into_model(self, tenant_id: i64) -> AppResult<tag::Model> {
        Ok(tag::Model {
            id: self.id,
            tenant_id,
            name: self.name,
            color: self.color,
            created_at: from_time(self.created_at)?,
            updated_at: from_time(self.updated_at)?,
        })
    }
}

/// The binary body of `inputs`.
pub fn encode(inputs: &Inputs) -> AppResult<Vec<u8>> {
    let mut tags = Vec::new();
    let mut index: HashMap<i64, u32> = HashMap::new();
    let mut links: Vec<(i64, Vec<u32>)> = Vec::with_capacity(inputs.tags.len());
    let mut tagged: Vec<_> = inputs.tags.iter().collect();
    tagged.sort_by_key(|(action, _)| **action);
    for (action, on) in tagged {
        let mut positions = Vec::with_capacity(on.len());
        for t in on {
            let at = *index.entry(t.id).or_insert_with(|| {
                tags.push(StoredTag::of(t));
                (tags.len() - 1) as u32
            });
            positions.push(at);
        }
        links.push((*action, positions));
    }
    let body = Body {
        actions: inputs.rows.iter().map(StoredAction::of).collect(),
        licenses: inputs
            .held
            .iter()
            .map(|h| StoredLicense {
                plans: h.plans.clone(),
                seats_purchased: h.seats_purchased,
                expires_at: h.expires_at.map(time),
            })
            .collect(),
        tags,
        links,
        own_profiles: inputs.own_profiles,
    };
    postcard::to_stdvec(&body)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("encoding a tenant state failed: {e}")))
}

/// The inputs held by a body of tenant `tenant_id`.
pub fn decode(tenant_id: i64, bytes: &[u8]) -> AppResult<Inputs> {
    let body: Body = postcard::from_bytes(bytes)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("a persisted tenant state does not decode: {e}")))?;
    let mut rows = Vec::with_capacity(body.actions.len());
    for a in body.actions {
        rows.push(a.into_model(tenant_id)?);
    }
    let mut all_tags = Vec::with_capacity(body.tags.len());
    for t in body.tags {
        all_tags.push(t.into_model(tenant_id)?);
    }
    let mut tags = HashMap::with_capacity(body.links.len());
    for (action, positions) in body.links {
        let on = positions
            .into_iter()
            .map(|i| {
                all_tags.get(i as usize).cloned().ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("a persisted tenant state names a missing tag"))
                })
            })
            .collect::<AppResult<Vec<_>>>()?;
        tags.insert(action, on);
    }
    let mut held = Vec::with_capacity(body.licenses.len());
    for l in body.licenses {
        held.push(HeldLicense {
            plans: l.plans,
            seats_purchased: l.seats_purchased,
            expires_at: l.expires_at.map(from_time).transpose()?,
        });
    }
    Ok(Inputs {
        rows,
        tags,
        held,
        own_profiles: body.own_profiles,
    })
}

/// Reads a tenant's inputs from their tables (four indexed queries).
pub async fn read_inputs<C: ConnectionTrait>(conn: &C, tenant_id: i64) -> AppResult<Inputs> {
    let rows = improvement_action::Entity::find()
        .filter(improvement_action::Column::TenantId.eq(tenant_id))
        .all(conn)
        .await?;
    let tags = crate::service::state::actions::tags_of_tenant(conn, tenant_id).await?;
    let held = crate::service::state::held_licenses(conn, tenant_id).await?;
    let own_profiles = tenant_control::Entity::find()
        .select_only()
        .column(tenant_control::Column::TenantId)
        .filter(tenant_control::Column::TenantId.eq(tenant_id))
        .limit(1)
        .into_tuple::<i64>()
        .one(conn)
        .await?
        .is_some();
    Ok(Inputs {
        rows,
        tags,
        held,
        own_profiles,
    })
}

/// The persisted inputs of `tenant` as of its current `state_version`, if they were persisted
/// (one indexed read). A body that does not decode (written by a server whose format differed)
/// counts as none.
pub async fn load<C: ConnectionTrait>(conn: &C, tenant: &tenant::Model) -> AppResult<Option<Inputs>> {
    let body = tenant_state::Entity::find_by_id(tenant.id)
        .filter(tenant_state::Column::StateVersion.eq(tenant.state_version))
        .select_only()
        .column(tenant_state::Column::Body)
        .into_tuple::<Vec<u8>>()
        .one(conn)
        .await?;
    let Some(body) = body else {
        return Ok(None);
    };
    match decode(tenant.id, &body) {
        Ok(inputs) => Ok(Some(inputs)),
        Err(err) => {
            // A body written by another version of the server (its format changed): read the
            // rows instead, and the next write or repair replaces it.
            tracing::warn!(tenant_id = tenant.id, error = %err.message(), "persisted tenant state ignored");
            Ok(None)
        }
    }
}

/// Writes `inputs` (and the overview `summary`, when known) as the tenant's state at `version`,
/// unless a state at `version` or newer is already there.
async fn write<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    version: i64,
    inputs: &Inputs,
    summary: Option<Vec<u8>>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let body = encode(inputs)?;
    tenant_state::Entity::insert(tenant_state::ActiveModel {
        tenant_id: Set(tenant_id),
        state_version: Set(version),
        body: Set(body),
        summary: Set(summary),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(tenant_state::Column::TenantId)
            .update_columns([
                tenant_state::Column::StateVersion,
                tenant_state::Column::Body,
                tenant_state::Column::Summary,
                tenant_state::Column::UpdatedAt,
            ])
            .action_and_where(
                Expr::col((tenant_state::Entity, tenant_state::Column::StateVersion)).lt(version),
            )
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Persists the tenant's state after a change, in the change's transaction: `after` is the
/// tenant row the change's version bump left (see [`Change`] for what each kind reads).
pub async fn persist<C: ConnectionTrait>(
    conn: &C,
    after: &tenant::Model,
    change: Change<'_>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let previous_version = after.state_version - 1;
    match change {
        Change::Unchanged => {
            let carried = tenant_state::Entity::update_many()
                .col_expr(
                    tenant_state::Column::StateVersion,
                    Expr::value(after.state_version),
                )
                .col_expr(tenant_state::Column::UpdatedAt, Expr::value(now))
                .filter(tenant_state::Column::TenantId.eq(after.id))
                .filter(tenant_state::Column::StateVersion.eq(previous_version))
                .exec(conn)
                .await?;
            if carried.rows_affected == 1 {
                return Ok(());
            }
        }
        Change::Rows(changed) => {
            let previous = tenant::Model {
                state_version: previous_version,
                ..after.clone()
            };
            if let Some(mut inputs) = load(conn, &previous).await?
                && replace_rows(&mut inputs.rows, changed)
            {
                let summary = summary_of(conn, after, &inputs, now).await?;
                return write(conn, after.id, after.state_version, &inputs, Some(summary), now).await;
            }
        }
        Change::Reload => {}
    }
    let inputs = read_inputs(conn, after.id).await?;
    let summary = summary_of(conn, after, &inputs, now).await?;
    write(conn, after.id, after.state_version, &inputs, Some(summary), now).await
}

/// The overview (`state::summary`) of `tenant` with `inputs`, computed on `conn` (a writer's
/// transaction) with the service catalog as that transaction sees it.
async fn summary_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &tenant::Model,
    inputs: &Inputs,
    now: DateTime<Utc>,
) -> AppResult<Vec<u8>> {
    use crate::service::state::controls;
    let fingerprint = crate::service::state::catalog::fingerprint(conn).await?;
    let catalog = crate::service::state::catalog::at(conn, &fingerprint).await?;
    let own = if inputs.own_profiles {
        controls::own_profiles(conn, tenant.id).await?
    } else {
        controls::OwnProfiles::default()
    };
    let rows = controls::applicable_rows(tenant, inputs.rows.clone(), &own, |id| {
        catalog.controls.get(id).cloned()
    })?;
    let mut state = crate::service::state::build_shared(tenant.clone(), rows, &inputs.held, now)?;
    state.tags = Some(std::sync::Arc::new(inputs.tags.clone()));
    crate::service::state::summary::Summary::of(&state, &fingerprint, inputs.own_profiles).encode()
}

/// The persisted overview of `tenant` as of its current `state_version`, if one was written and
/// decodes (one indexed read of one small column).
pub async fn load_summary<C: ConnectionTrait>(
    conn: &C,
    tenant: &tenant::Model,
) -> AppResult<Option<crate::service::state::summary::Summary>> {
    let bytes = tenant_state::Entity::find_by_id(tenant.id)
        .filter(tenant_state::Column::StateVersion.eq(tenant.state_version))
        .select_only()
        .column(tenant_state::Column::Summary)
        .into_tuple::<Option<Vec<u8>>>()
        .one(conn)
        .await?
        .flatten();
    Ok(bytes.and_then(|b| crate::service::state::summary::Summary::decode(&b)))
}

/// Persists an overview a reader computed for the tenant at `version`, when its state row is
/// still at that version (a newer one has its writer's own overview).
pub async fn repair_summary(
    db: &sea_orm::DatabaseConnection,
    tenant_id: i64,
    version: i64,
    summary: Vec<u8>,
) -> AppResult<()> {
    tenant_state::Entity::update_many()
        .col_expr(tenant_state::Column::Summary, Expr::value(summary))
        .filter(tenant_state::Column::TenantId.eq(tenant_id))
        .filter(tenant_state::Column::StateVersion.eq(version))
        .exec(db)
        .await?;
    Ok(())
}

/// Replaces rows by id; false when one of `changed` is not among `rows` (a new row).
fn replace_rows(rows: &mut [improvement_action::Model], changed: &[improvement_action::Model]) -> bool {
    for c in changed {
        match rows.iter_mut().find(|r| r.id == c.id) {
            Some(r) => *r = c.clone(),
            None => return false,
        }
    }
    true
}

/// Persists inputs a reader read from the tables at `version` (the tenant row's, read before
/// them), so the next process to need them reads one row. It never replaces a state at the same
/// or a newer version: rows read after the tenant row may already be a later version's, but then
/// that version's writer persisted its own state in its transaction.
pub async fn repair(
    db: &sea_orm::DatabaseConnection,
    tenant_id: i64,
    version: i64,
    inputs: &Inputs,
    overview: Option<Vec<u8>>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let txn = crate::db::begin_write(db).await?;
    // Only for a tenant row still at `version`: a body labelled with a version the tenant has
    // already left is of no use to anyone.
    let current = tenant::Entity::find_by_id(tenant_id)
        .select_only()
        .column(tenant::Column::StateVersion)
        .into_tuple::<i64>()
        .one(&txn)
        .await?;
    if current == Some(version) {
        write(&txn, tenant_id, version, inputs, overview, now).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Persists the state of every tenant that has none at its current version (after seeding, or
/// an upgrade from a version without this table); returns how many were written. Each is read
/// and written in one transaction, so it is the tenant's state at the version it is labelled.
pub async fn persist_missing(db: &sea_orm::DatabaseConnection, now: DateTime<Utc>) -> AppResult<usize> {
    let tenants: Vec<(i64, i64)> = tenant::Entity::find()
        .select_only()
        .column(tenant::Column::Id)
        .column(tenant::Column::StateVersion)
        .into_tuple()
        .all(db)
        .await?;
    let persisted: HashMap<i64, i64> = tenant_state::Entity::find()
        .select_only()
        .column(tenant_state::Column::TenantId)
        .column(tenant_state::Column::StateVersion)
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let missing: Vec<(i64, i64)> = tenants
        .into_iter()
        .filter(|(id, version)| persisted.get(id) != Some(version))
        .collect();
    // In transactions of many tenants each (one commit, not one per tenant, on SQLite).
    for chunk in missing.chunks(200) {
        let txn = crate::db::begin_write(db).await?;
        for &(id, _) in chunk {
            // The tenant as of this transaction, which the inputs are read in.
            let Some(tenant) = tenant::Entity::find_by_id(id).one(&txn).await? else {
                continue;
            };
            let inputs = read_inputs(&txn, id).await?;
            let summary = summary_of(&txn, &tenant, &inputs, now).await?;
            write(&txn, id, tenant.state_version, &inputs, Some(summary), now).await?;
        }
        txn.commit().await?;
    }
    Ok(missing.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, nanos).single().expect("valid time")
    }

    fn row(id: i64, status: Status) -> improvement_action::Model {
        improvement_action::Model {
            id,
            tenant_id: 7,
            control_id: format!("control{id}"),
            category: Category::Identity,
            status,
            implemented: id,
            total: 3,
            implementation_status: (id % 2 == 0).then(|| "half done ✓".to_string()),
            users_affected: 12,
            review_by: (id % 3 == 0).then(|| at(1_900_000_000, 1)),
            version: id + 1,
            origin: "CATALOG".into(),
            status_changed_at: at(1_800_000_000, 123_456_789),
            created_at: at(1_700_000_000, 0),
            updated_at: at(1_800_000_001, 999_999_999),
        }
    }

    fn tag(id: i64, name: &str) -> tag::Model {
        tag::Model {
            id,
            tenant_id: 7,
            name: name.into(),
            color: "#123456".into(),
            created_at: at(1_750_000_000, 5),
            updated_at: at(1_750_000_001, 6),
        }
    }

    #[test]
    fn a_body_decodes_to_exactly_the_inputs_it_was_encoded_from() {
        let inputs = Inputs {
            rows: (1..=250)
                .map(|i| {
                    row(
                        i,
                        if i % 2 == 0 {
                            Status::Planned
                        } else {
                            Status::ToAddress
                        },
                    )
                })
                .collect(),
            tags: HashMap::from([
                (2, vec![tag(1, "alpha"), tag(2, "beta")]),
                (9, vec![tag(2, "beta")]),
            ]),
            held: vec![HeldLicense {
                plans: vec!["AAD_P1".into(), "AAD_P2".into()],
                seats_purchased: 40,
                expires_at: Some(at(1_950_000_000, 42)),
            }],
            own_profiles: true,
        };
        let bytes = encode(&inputs).expect("encodes");
        assert_eq!(decode(7, &bytes).expect("decodes"), inputs);
        // Compact: well under 100 bytes per action here, not a JSON document.
        assert!(bytes.len() < 250 * 100, "{} bytes", bytes.len());
    }

    #[test]
    fn garbage_is_an_internal_error_not_a_panic() {
        assert!(decode(7, &[0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn replacing_rows_needs_every_changed_row_to_exist() {
        let mut rows = vec![row(1, Status::ToAddress), row(2, Status::ToAddress)];
        assert!(replace_rows(&mut rows, &[row(2, Status::Planned)]));
        assert_eq!(rows[1].status, Status::Planned);
        assert!(!replace_rows(&mut rows, &[row(3, Status::Planned)]));
    }
}
