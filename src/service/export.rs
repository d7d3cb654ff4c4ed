//! Exports of a tenant's data (READER): the improvement actions as CSV with the columns people
//! know from the portal, and the daily snapshot series as JSON. The HTTP layer streams them; this
//! module produces the rows in pieces (a chunk of CSV records, a page of snapshots) so neither
//! file is ever built whole in memory.

use crate::auth::Viewer;
use crate::domain::enums::Role;
use crate::domain::points::Points;
use crate::domain::present::present;
use crate::domain::sanitize::{csv_text_cell, safe_url};
use crate::domain::scoring::ScoreViews;
use crate::error::{AppError, AppResult};
use crate::service::access::tenants;
use crate::service::history::snapshots::DailyScore;
use crate::service::state::actions::{ActionTags, tenant_action_tags};
use crate::service::state::{ActionState, TenantState};
use chrono::NaiveDate;
use entity::{score_snapshot, tenant};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Map, Value, json};

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
    states: &crate::service::state::States,
    viewer: &Viewer,
    tenant: tenant::Model,
) -> AppResult<(std::sync::Arc<TenantState>, ActionTags)> {
    let state = states.for_viewer(viewer, &tenant, None).await?;
    let tags = tenant_action_tags(db, tenant.id).await?;
    Ok((state, tags))
}

/// Presents points as the API does: 2 decimal places.
fn points(p: &Points) -> String {
    p.round2().normalize().to_string()
}

/// A text cell: neutralised if a spreadsheet would run it as a formula (OWASP).
fn text(s: &str) -> String {
    csv_text_cell(s).into_owned()
}

/// One CSV record of an action, in [`ACTION_COLUMNS`] order. Every cell that holds text from
/// outside (titles, services, tags, ids, vendor texts, threats, links) is neutralised against
/// formula injection; the numbers are this service's own.
pub fn action_record(a: &ActionState, tags: &[String]) -> [String; 20] {
    [
        a.rank.map(|r| r.to_string()).unwrap_or_default(),
        text(&a.control.title),
        points(&a.score_impact),
        points(&a.achieved),
        points(&a.scored.effective_max()),
        a.scored.status.as_str().to_string(),
        a.scored.category.as_str().to_string(),
        text(&a.control.service),
        if a.licensing.licensed { "Yes" } else { "No" }.to_string(),
        text(&tags.join("; ")),
        text(&a.control.id),
        a.scored.tier.as_str().to_string(),
        a.scored.user_impact.as_str().to_string(),
        a.scored.implementation_cost.as_str().to_string(),
        a.row.implemented.to_string(),
        a.row.total.to_string(),
        text(a.row.implementation_status.as_deref().unwrap_or_default()),
        text(&a.control.threats.0.join("; ")),
        a.control
            .action_url
            .as_deref()
            .and_then(safe_url)
            .map(text)
            .unwrap_or_default(),
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

/// The views of a day as `history.json` has them, overall or for one category.
fn views_json(v: &ScoreViews, into: &mut Map<String, Value>) {
    into.insert("maxScore".into(), json!(present(&v.max_score)));
    into.insert("current".into(), json!(present(&v.current)));
    into.insert("currentExact".into(), json!(v.current.to_exact_string()));
    into.insert(
        "currentPercentage".into(),
        json!(present(v.percentage(&v.current))),
    );
    into.insert("planned".into(), json!(present(&v.planned)));
    into.insert("currentLicense".into(), json!(present(&v.current_license)));
    into.insert("achievable".into(), json!(present(&v.achievable)));
    into.insert("verified".into(), json!(present(&v.verified)));
}

/// A snapshot as it appears in `history.json`: points rounded to 2 places like the API, from the
/// exact figures where the day has them, with the exact current points beside them.
pub fn snapshot_json(s: &score_snapshot::Model) -> AppResult<Value> {
    let day = DailyScore::stored(s)?;
    let categories: Vec<Value> = day
        .categories
        .iter()
        .map(|(category, v)| {
            let mut c = Map::new();
            c.insert("category".into(), json!(category.as_str()));
            views_json(v, &mut c);
            Value::Object(c)
        })
        .collect();
    let mut out = Map::new();
    out.insert("day".into(), json!(s.day));
    out.insert("source".into(), json!(s.source));
    views_json(&day.overall, &mut out);
    out.insert(
        "vendorCurrentScore".into(),
        json!(day.vendor_current_score.map(present)),
    );
    out.insert("vendorMaxScore".into(), json!(day.vendor_max_score.map(present)));
    out.insert("categories".into(), Value::Array(categories));
    out.insert("statusCounts".into(), json!(s.status_counts.0));
    Ok(Value::Object(out))
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
            ("5/2", "2.5"),
            ("10/3", "3.33"),
            ("10", "10"),
            ("0", "0"),
            ("4999/1000000", "0"),
        ];
        for (input, expected) in cases {
            let p: Points = input.parse().expect("points");
            assert_eq!(points(&p), expected, "{input}");
        }
    }
}
