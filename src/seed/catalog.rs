//! Loads the shipped service catalog (controls and licence SKUs in `data/`, compiled in) so that
//! a restart with the same data changes nothing and never reverts a SERVICE_ADMIN (SPEC §1a).
//!
//! Each row of a shipped control records the digest of the shipped entry last applied to it
//! (`control.shipped_digest`). On load, per shipped entry:
//! - no row: inserted, with its digest;
//! - the stored digest equals the entry's: skipped (the same shipped version; whatever a
//!   SERVICE_ADMIN changed since stays);
//! - the row's content equals the entry: only the digest is recorded (rows from before digests
//!   existed), without a new `updated_at`;
//! - a newer shipped version: the row is updated and gets the new digest, unless a SERVICE_ADMIN
//!   changed the row since the previous shipped version (its content no longer has the stored
//!   digest), in which case the admin's content is kept, the new digest recorded so it is not
//!   offered again, and a warning logged; a row without a digest predates digests, when every
//!   catalog row followed the shipped data, so it is updated;
//! - controls a SERVICE_ADMIN created (`origin = ADMIN`) are never touched.
//!
//! Licence SKUs carry no digest: a missing SKU is inserted with its plans, an existing one is
//! left exactly as it is, since a difference could be a SERVICE_ADMIN's change.
//! Shipped entries go through the same validation as every catalog write
//! ([`ControlEntry::validated`]); invalid shipped data stops the start.

use crate::service::catalog::{ADMIN_ORIGIN, ControlEntry, LicenseEntry, parse_controls, parse_licenses};
use anyhow::Context;
use chrono::Utc;
use entity::{control, license, license_plan};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};
use std::collections::HashMap;

const CONTROLS_JSON: &str = include_str!("../../data/controls.json");
const LICENSES_JSON: &str = include_str!("../../data/licenses.json");

/// `origin` of shipped controls.
const SHIPPED_ORIGIN: &str = "CATALOG";

/// The shipped controls, validated.
pub fn shipped_controls() -> anyhow::Result<Vec<ControlEntry>> {
    parse_controls(CONTROLS_JSON).map_err(|e| anyhow::anyhow!("data/controls.json: {}", e.message()))
}

fn shipped_licenses() -> anyhow::Result<Vec<LicenseEntry>> {
    parse_licenses(LICENSES_JSON).map_err(|e| anyhow::anyhow!("data/licenses.json: {}", e.message()))
}

/// What one load changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadSummary {
    pub inserted: usize,
    pub updated: usize,
    /// Rows that only got their digest recorded.
    pub digests_recorded: usize,
    /// Shipped updates not applied because a SERVICE_ADMIN changed the row.
    pub kept_admin_changes: usize,
    pub licenses_inserted: usize,
}

/// Inserts or refreshes the shipped catalog (see the module header).
pub async fn load(db: &DatabaseConnection) -> anyhow::Result<LoadSummary> {
    load_entries(db, &shipped_controls()?, &shipped_licenses()?).await
}

/// [`load`] with the given entries (validated), so tests can ship a newer version.
pub async fn load_entries(
    db: &DatabaseConnection,
    controls: &[ControlEntry],
    licenses: &[LicenseEntry],
) -> anyhow::Result<LoadSummary> {
    let now = Utc::now();
    let mut summary = LoadSummary::default();
    let txn = crate::db::begin_write(db).await?;
    let existing: HashMap<String, control::Model> = control::Entity::find()
        .all(&txn)
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    let mut inserts = Vec::new();
    for entry in controls {
        let digest = entry.digest();
        let Some(row) = existing.get(&entry.id) else {
            inserts.push(control::ActiveModel::from(entry.new_row(
                SHIPPED_ORIGIN,
                Some(digest),
                now,
            )));
            summary.inserted += 1;
            continue;
        };
        if row.origin == ADMIN_ORIGIN || row.shipped_digest.as_deref() == Some(digest.as_str()) {
            continue;
        }
        let content = ControlEntry::of(row).digest();
        if content == digest {
            record_digest(&txn, row, digest).await?;
            summary.digests_recorded += 1;
        } else if row.shipped_digest.is_none() || row.shipped_digest.as_deref() == Some(content.as_str()) {
            let mut am = entry.apply_to(row, now);
            am.shipped_digest = Set(Some(digest));
            am.update(&txn).await?;
            summary.updated += 1;
        } else {
            tracing::warn!(
                control = %row.id,
                "a newer shipped version of this control was not applied: a SERVICE_ADMIN changed it"
            );
            record_digest(&txn, row, digest).await?;
            summary.kept_admin_changes += 1;
        }
    }
    if !inserts.is_empty() {
        control::Entity::insert_many(inserts).exec(&txn).await?;
    }

    let known: Vec<String> = license::Entity::find()
        .all(&txn)
        .await?
        .into_iter()
        .map(|l| l.sku)
        .collect();
    for l in licenses.iter().filter(|l| !known.contains(&l.sku)) {
        license::ActiveModel {
            sku: Set(l.sku.clone()),
            name: Set(l.name.clone()),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        for plan in &l.plans {
            license_plan::ActiveModel {
                license_sku: Set(l.sku.clone()),
                plan: Set(plan.clone()),
            }
            .insert(&txn)
            .await?;
        }
        summary.licenses_inserted += 1;
    }
    txn.commit().await.context("cannot commit the shipped catalog")?;
    if summary != LoadSummary::default() {
        tracing::info!(?summary, "loaded the shipped catalog");
    }
    Ok(summary)
}

/// Records a shipped digest on a row without touching its content or `updated_at`.
async fn record_digest<C: sea_orm::ConnectionTrait>(
    conn: &C,
    row: &control::Model,
    digest: String,
) -> anyhow::Result<()> {
    let mut am: control::ActiveModel = row.clone().into();
    am.shipped_digest = Set(Some(digest));
    am.update(conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_data_is_valid_and_already_in_its_stored_form() {
        let raw: Vec<ControlEntry> = serde_json::from_str(CONTROLS_JSON).unwrap();
        let validated = shipped_controls().expect("the shipped controls pass validation");
        for (r, v) in raw.iter().zip(&validated) {
            assert!(
                r.same_content(v),
                "{}: validation changed {:?}",
                r.id,
                r.changed_fields(v)
            );
            assert_eq!(v.validated().unwrap().digest(), v.digest(), "{}: stable", v.id);
        }
        assert_eq!(
            shipped_licenses().unwrap().len(),
            serde_json::from_str::<Vec<serde_json::Value>>(LICENSES_JSON)
                .unwrap()
                .len()
        );
    }
}
