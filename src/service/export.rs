//! Exports of a tenant's data (READER): the improvement actions as CSV with the columns people
//! know from the portal, and the daily snapshot series as JSON. The HTTP layer streams them; this
//! module produces the rows in pieces (a chunk of CSV records, a page of snapshots) so neither
//! file is ever built whole in memory.

use crate::auth::Viewer;
use crate::domain::enums::Role;
use crate::domain::round2;
use crate::domain::scoring::from_storage;
use crate::error::{AppError, AppResult};
use crate::graphql::types::present;
use crate::service::actions::{ActionTags, tenant_action_tags};
use crate::service::state::{ActionState, TenantState};
use crate::service::tenants;
use chrono::{DateTime, NaiveDate, Utc};
use entity::{score_snapshot, tenant};
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Value, json};

/// Header of `actions.csv`: the portal's columns first, then the ones automation needs.
pub const ACTION_COLUMNS: [&str; 20] = [
    "Rank",
    "Recommended action",
    "Score impact (%)",
    "Points achieved",
    "Max points",
    "Status",
    "Category",
    "Product/Service",
    "Licensed",
    "Tags",
    "Control ID",
    "Tier",
    "User impact",
    "Implementation cost",
    "Implemented",
    "Total",
    "Implementation status",
    "Threats",
    "Action URL",
    "Last updated",
];

/// Snapshots read per database round trip while streaming `history.json`.
pub const HISTORY_PAGE: u64 = 200;

/// The tenant a caller may export (any role); another tenant's slug answers `NOT_FOUND` like a
/// missing one.
pub async fn tenant_for_export(
    db: &DatabaseConnection,
    viewer: &Viewer,
    slug: &str,
) -> AppResult<tenant::Model> {
    let t = tenants::by_slug(db, viewer, slug).await?;
    viewer.require(t.id, Role::Reader)?;
    Ok(t)
}

/// The tenant's scored actions (in rank order) and their tags.
pub async fn actions(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tenant: tenant::Model,
    now: DateTime<Utc>,
) -> AppResult<(TenantState, ActionTags)> {
    let tenant_id = tenant.id;
    let state = crate::service::actions::tenant_state(db, viewer, tenant, now).await?;
    let tags = tenant_action_tags(db, tenant_id).await?;
    Ok((state, tags))
}

/// Presents points as the API does: 2 decimal places.
fn points(d: Decimal) -> String {
    round2(d).normalize().to_string()
}

/// One CSV record of an action, in [`ACTION_COLUMNS`] order.
pub fn action_record(a: &ActionState, tags: &[String]) -> [String; 20] {
    [
        a.rank.map(|r| r.to_string()).unwrap_or_default(),
        a.control.title.clone(),
        points(a.score_impact),
        points(a.achieved),
        points(if a.control.deprecated {
            Decimal::ZERO
        } else {
            from_storage(a.control.max_points)
        }),
        a.scored.status.as_str().to_string(),
        a.scored.category.as_str().to_string(),
        a.control.service.clone(),
        if a.licensing.licensed { "Yes" } else { "No" }.to_string(),
        tags.join("; "),
        a.control.id.clone(),
        a.scored.tier.as_str().to_string(),
        a.scored.user_impact.as_str().to_string(),
        a.scored.implementation_cost.as_str().to_string(),
        a.row.implemented.to_string(),
        a.row.total.to_string(),
        a.row
            .implementation_status
            .as_deref()
            .unwrap_or_default()
            .to_string(),
        a.control.threats.0.join("; "),
        a.control.action_url.clone().unwrap_or_default(),
        a.row.updated_at.to_rfc3339(),
    ]
}

/// Serialises records as CSV (RFC 4180 quoting by the `csv` crate).
pub fn csv_bytes<I, R>(records: I) -> AppResult<Vec<u8>>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator,
    R::Item: AsRef<[u8]>,
{
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    for r in records {
        w.write_record(r)
            .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("CSV encoding failed")))?;
    }
    w.into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("CSV encoding failed: {e}")))
}

/// One page of a tenant's snapshots after `after` (exclusive), oldest first, within the range.
pub async fn snapshot_page(
    db: &DatabaseConnection,
    tenant_id: i64,
    after: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> AppResult<Vec<score_snapshot::Model>> {
    let mut q = score_snapshot::Entity::find().filter(score_snapshot::Column::TenantId.eq(tenant_id));
    if let Some(after) = after {
        q = q.filter(score_snapshot::Column::Day.gt(after));
    }
    if let Some(to) = to {
        q = q.filter(score_snapshot::Column::Day.lte(to));
    }
    Ok(q.order_by_asc(score_snapshot::Column::Day)
        .limit(HISTORY_PAGE)
        .all(db)
        .await?)
}

fn pct(points: i64, max: i64) -> f64 {
    if max == 0 {
        0.0
    } else {
        present(from_storage(points) / from_storage(max) * Decimal::ONE_HUNDRED)
    }
}

/// A snapshot as it appears in `history.json`: points rounded to 2 places like the API.
pub fn snapshot_json(s: &score_snapshot::Model) -> Value {
    let p = |v: i64| present(from_storage(v));
    let categories: Vec<Value> = s
        .categories
        .0
        .iter()
        .map(|c| {
            json!({
                "category": c.category,
                "maxScore": p(c.max_score),
                "current": p(c.current),
                "currentPercentage": pct(c.current, c.max_score),
                "planned": p(c.planned),
                "currentLicense": p(c.current_license),
                "achievable": p(c.achievable),
                "verified": p(c.verified),
            })
        })
        .collect();
    json!({
        "day": s.day,
        "source": s.source,
        "maxScore": p(s.max_score),
        "current": p(s.current),
        "currentPercentage": pct(s.current, s.max_score),
        "planned": p(s.planned),
        "currentLicense": p(s.current_license),
        "achievable": p(s.achievable),
        "verified": p(s.verified),
        "vendorCurrentScore": s.vendor_current_score.map(p),
        "vendorMaxScore": s.vendor_max_score.map(p),
        "categories": categories,
        "statusCounts": s.status_counts.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_commas_quotes_and_newlines() {
        let bytes = csv_bytes([["a,b", "say \"hi\"", "two\nlines", "plain"]]).expect("csv");
        let text = String::from_utf8(bytes).expect("utf-8");
        assert_eq!(text, "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",plain\n");
    }

    #[test]
    fn points_are_presented_with_at_most_two_places() {
        let cases = [
            ("2.5000", "2.5"),
            ("3.3333", "3.33"),
            ("10.0000", "10"),
            ("0", "0"),
        ];
        for (input, expected) in cases {
            let d: Decimal = input.parse().expect("decimal");
            assert_eq!(points(d), expected, "{input}");
        }
    }
}
