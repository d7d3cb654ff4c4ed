//! One tenant's stored day in a compact binary form, as the history cache ([`super::cache`])
//! keeps it: the figures [`DailyScore::stored`] reads from a snapshot row (the exact fractions
//! where the row has them, else its integer columns), and the integer figures the day's
//! comparison contribution is computed from. About 150 bytes instead of a row's ~1.2 KB of JSON
//! columns, and decoding parses no text (a stored `"27083/100"` goes through big integers).
//!
//! Values are postcard varints; a view equal to an earlier one of the same day (current,
//! planned and verified often are) is stored as a back-reference. Decoding gives exactly what
//! reading the row gives, errors included: a row `DailyScore::stored` cannot read (an unknown
//! category or status) is packed as that error and unpacks to it.

use crate::domain::enums::{Category, Status};
use crate::domain::points::Points;
use crate::domain::privacy::{POINTS_BOUND, Totals};
use crate::domain::scoring::ScoreViews;
use crate::error::{AppError, AppResult};
use crate::service::history::snapshots::{DailyScore, SOURCE_COMPUTED, SOURCE_IMPORTED};
use chrono::NaiveDate;
use entity::score_snapshot;
use num_traits::ToPrimitive;
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Packed {
    /// What `DailyScore::stored` makes of the row, or its error message.
    score: Result<Score, String>,
    /// The integer figures of the row that a comparison subtracts: overall current and max,
    /// and (category, current, max) of each category that parses, in the row's order.
    current: i64,
    max_score: i64,
    categories: Vec<(u8, i64, i64)>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Score {
    source: Source,
    /// Six views overall, then six per entry of `categories`.
    values: Vec<Value>,
    categories: Vec<u8>,
    status_counts: Vec<(u8, i64)>,
    vendor_current_score: Option<i64>,
    vendor_max_score: Option<i64>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Source {
    Computed,
    Imported,
    Other(String),
}

/// One exact value.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Value {
    /// Equal to the value at this index of the day's `values`.
    Same(u16),
    Integer(i64),
    /// A reduced fraction with a denominator above 1.
    Ratio(i64, i64),
    /// A value too large for the forms above, as `Points` writes it.
    Text(String),
}

fn internal(what: &str, e: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("{what}: {e}"))
}

fn category_code(c: Category) -> u8 {
    Category::ALL.iter().position(|x| *x == c).unwrap_or_default() as u8
}

fn category_of(code: u8) -> AppResult<Category> {
    Category::ALL
        .get(usize::from(code))
        .copied()
        .ok_or_else(|| internal("packed history day", format!("category code {code}")))
}

fn status_code(s: Status) -> u8 {
    Status::ALL.iter().position(|x| *x == s).unwrap_or_default() as u8
}

fn status_of(code: u8) -> AppResult<Status> {
    Status::ALL
        .get(usize::from(code))
        .copied()
        .ok_or_else(|| internal("packed history day", format!("status code {code}")))
}

fn value_of(p: &Points, earlier: &[Points]) -> Value {
    if let Some(i) = earlier.iter().position(|e| e == p)
        && let Ok(i) = u16::try_from(i)
    {
        return Value::Same(i);
    }
    let r = p.to_big();
    match (r.numer().to_i64(), r.denom().to_i64()) {
        (Some(n), Some(1)) => Value::Integer(n),
        (Some(n), Some(d)) => Value::Ratio(n, d),
        _ => Value::Text(p.to_exact_string()),
    }
}

fn points_of(v: &Value, earlier: &[Points]) -> AppResult<Points> {
    match v {
        Value::Same(i) => earlier
            .get(usize::from(*i))
            .cloned()
            .ok_or_else(|| internal("packed history day", format!("reference {i}"))),
        Value::Integer(n) => Ok(Points::from_integer(*n)),
        Value::Ratio(n, d) => {
            Points::ratio(*n, *d).ok_or_else(|| internal("packed history day", "zero denominator"))
        }
        Value::Text(s) => s.parse().map_err(|e| internal("packed history day", e)),
    }
}

/// The compact form of a snapshot row.
pub fn pack(row: &score_snapshot::Model) -> AppResult<Vec<u8>> {
    let score = DailyScore::stored(row).map(|d| {
        let mut values: Vec<Points> = Vec::with_capacity(6 * (1 + d.categories.len()));
        let mut packed = Vec::with_capacity(values.capacity());
        let all = d
            .overall
            .as_array()
            .into_iter()
            .chain(d.categories.iter().flat_map(|(_, v)| v.as_array()));
        for p in all {
            packed.push(value_of(p, &values));
            values.push(p.clone());
        }
        Score {
            source: match d.source.as_str() {
                SOURCE_COMPUTED => Source::Computed,
                SOURCE_IMPORTED => Source::Imported,
                other => Source::Other(other.to_string()),
            },
            values: packed,
            categories: d.categories.iter().map(|(c, _)| category_code(*c)).collect(),
            status_counts: d
                .status_counts
                .iter()
                .map(|(s, n)| (status_code(*s), *n))
                .collect(),
            vendor_current_score: row.vendor_current_score,
            vendor_max_score: row.vendor_max_score,
        }
    });
    let packed = Packed {
        score: score.map_err(|e| match e {
            AppError::Internal(e) | AppError::Unavailable(e) => format!("{e:#}"),
            e => e.message(),
        }),
        current: row.current,
        max_score: row.max_score,
        categories: row
            .categories
            .0
            .iter()
            .filter_map(|c| {
                let category: Category = c.category.parse().ok()?;
                Some((category_code(category), c.current, c.max_score))
            })
            .collect(),
    };
    postcard::to_allocvec(&packed).map_err(|e| internal("packing a history day", e))
}

fn unpack(bytes: &[u8]) -> AppResult<Packed> {
    postcard::from_bytes(bytes).map_err(|e| internal("unreadable packed history day", e))
}

/// The day's figures, exactly as [`DailyScore::stored`] reads them from the row.
pub fn daily_score(bytes: &[u8], day: NaiveDate) -> AppResult<DailyScore> {
    let score = unpack(bytes)?
        .score
        .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    let mut values: Vec<Points> = Vec::with_capacity(score.values.len());
    for v in &score.values {
        let p = points_of(v, &values)?;
        values.push(p);
    }
    if values.len() != 6 * (1 + score.categories.len()) {
        return Err(internal("packed history day", "wrong number of values"));
    }
    let mut chunks = values.chunks_exact(6).map(|c| {
        ScoreViews::from_array([
            c[0].clone(),
            c[1].clone(),
            c[2].clone(),
            c[3].clone(),
            c[4].clone(),
            c[5].clone(),
        ])
    });
    let overall = chunks
        .next()
        .ok_or_else(|| internal("packed history day", "no overall views"))?;
    let mut categories = Vec::with_capacity(score.categories.len());
    for (code, views) in score.categories.iter().zip(chunks) {
        categories.push((category_of(*code)?, views));
    }
    let mut status_counts = Vec::with_capacity(score.status_counts.len());
    for (code, n) in &score.status_counts {
        status_counts.push((status_of(*code)?, *n));
    }
    Ok(DailyScore {
        day,
        source: match score.source {
            Source::Computed => SOURCE_COMPUTED.to_string(),
            Source::Imported => SOURCE_IMPORTED.to_string(),
            Source::Other(s) => s,
        },
        overall,
        categories,
        status_counts,
        vendor_current_score: score.vendor_current_score.map(Points::from_storage),
        vendor_max_score: score.vendor_max_score.map(Points::from_storage),
    })
}

/// The day's overall percentage (`current` of `maxScore`), exact, as
/// [`DailyScore::stored`]'s figures give it.
pub fn percentage(bytes: &[u8]) -> AppResult<Points> {
    let score = unpack(bytes)?
        .score
        .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    let mut overall: Vec<Points> = Vec::with_capacity(6);
    for v in score.values.iter().take(6) {
        let p = points_of(v, &overall)?;
        overall.push(p);
    }
    match overall.as_slice() {
        [max, current, ..] => Ok(current.percent_of(max)),
        _ => Err(internal("packed history day", "no overall views")),
    }
}

/// What a tenant's snapshot adds to its cohort cell (the same figures
/// [`super::comparisons::write_aggregates`] added when it wrote the cell).
pub fn contribution(bytes: &[u8]) -> AppResult<Totals> {
    let p = unpack(bytes)?;
    let mut categories = Vec::with_capacity(p.categories.len());
    for (code, current, max) in &p.categories {
        categories.push((category_of(*code)?, *current, *max));
    }
    Ok(contribution_of(p.current, p.max_score, &categories))
}

/// A member's contribution to its cell from its snapshot's integer figures (ten-thousandths):
/// its percentage and `(category, points, max)`.
pub fn contribution_of(current: i64, max_score: i64, categories: &[(Category, i64, i64)]) -> Totals {
    let pct = Points::from_storage(current)
        .percent_of(&Points::from_storage(max_score))
        .to_f64();
    let categories: Vec<(Category, f64, f64)> = categories
        .iter()
        .map(|(c, current, max)| {
            (
                *c,
                Points::from_storage(*current).to_f64(),
                Points::from_storage(*max).to_f64(),
            )
        })
        .collect();
    Totals::member(pct, &categories, POINTS_BOUND)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use entity::types::{CategoryFigure, CategoryFigures, ExactFigures, StatusCounts};

    fn figure(category: &str, max: i64, current: i64) -> CategoryFigure {
        CategoryFigure {
            category: category.into(),
            max_score: max,
            current,
            planned: current,
            current_license: max,
            achievable: max,
            verified: current,
        }
    }

    fn row(exact: Option<ExactFigures>) -> score_snapshot::Model {
        score_snapshot::Model {
            id: 7,
            tenant_id: 3,
            day: NaiveDate::from_ymd_opt(2026, 11, 30).expect("date"),
            max_score: 13_530_000,
            current: 270_8300,
            planned: 270_8300,
            current_license: 968_4900,
            achievable: 968_4900,
            verified: 270_8300,
            categories: CategoryFigures(vec![
                figure("IDENTITY", 495_0000, 102_7200),
                figure("APPS", 858_0000, 168_1100),
            ]),
            status_counts: StatusCounts(
                [("COMPLETED".to_string(), 12), ("TO_ADDRESS".to_string(), 200)]
                    .into_iter()
                    .collect(),
            ),
            exact,
            source: "COMPUTED".into(),
            vendor_current_score: None,
            vendor_max_score: None,
            created_at: Utc.with_ymd_and_hms(2026, 12, 1, 0, 5, 0).single().expect("time"),
        }
    }

    fn exact() -> ExactFigures {
        let views = |v: [&str; 6]| v.map(str::to_string);
        ExactFigures {
            overall: views([
                "1353",
                "27083/100",
                "27083/100",
                "96849/100",
                "96849/100",
                "27083/100",
            ]),
            categories: [
                (
                    "IDENTITY".to_string(),
                    views(["495", "2568/25", "2568/25", "4213/10", "4213/10", "2568/25"]),
                ),
                (
                    "APPS".to_string(),
                    // A sum of partial credits with a large denominator, and a huge one.
                    views([
                        "858",
                        "5044/30",
                        "3000000000000000000000000000001/3",
                        "858",
                        "858",
                        "5044/30",
                    ]),
                ),
            ]
            .into_iter()
            .collect(),
        }
    }

    fn same(a: &DailyScore, b: &DailyScore) {
        assert_eq!(a.day, b.day);
        assert_eq!(a.source, b.source);
        assert_eq!(a.overall.as_array(), b.overall.as_array(), "overall");
        assert_eq!(a.categories.len(), b.categories.len());
        for ((ca, va), (cb, vb)) in a.categories.iter().zip(&b.categories) {
            assert_eq!(ca, cb);
            assert_eq!(va.as_array(), vb.as_array(), "{ca}");
        }
        assert_eq!(a.status_counts, b.status_counts);
        assert_eq!(a.vendor_current_score, b.vendor_current_score);
        assert_eq!(a.vendor_max_score, b.vendor_max_score);
    }

    #[test]
    fn a_packed_day_unpacks_to_what_reading_the_row_gives() {
        let cases = [
            (row(Some(exact())), "exact fractions, one of them huge"),
            (row(None), "integer columns only"),
            (
                score_snapshot::Model {
                    source: "IMPORTED".into(),
                    vendor_current_score: Some(270_8312),
                    vendor_max_score: Some(13_530_000),
                    ..row(Some(exact()))
                },
                "imported with vendor figures",
            ),
            (
                score_snapshot::Model {
                    source: "LEGACY".into(),
                    ..row(None)
                },
                "another source",
            ),
        ];
        for (r, why) in cases {
            let bytes = pack(&r).expect("packs");
            let got = daily_score(&bytes, r.day).unwrap_or_else(|e| panic!("{why}: {e:?}"));
            same(&got, &DailyScore::stored(&r).expect("row reads"));
            assert!(bytes.len() < 200, "{why}: {} bytes", bytes.len());
        }
    }

    #[test]
    fn the_percentage_is_the_one_of_the_full_figures() {
        for r in [row(Some(exact())), row(None)] {
            let overall = DailyScore::stored(&r).expect("row reads").overall;
            let bytes = pack(&r).expect("packs");
            assert_eq!(
                percentage(&bytes).expect("unpacks"),
                overall.percentage(&overall.current)
            );
        }
    }

    #[test]
    fn a_row_that_cannot_be_read_unpacks_to_an_error_but_still_contributes() {
        let mut r = row(None);
        r.status_counts.0.insert("NO_SUCH_STATUS".into(), 1);
        assert!(DailyScore::stored(&r).is_err());
        let bytes = pack(&r).expect("packs");
        assert!(
            daily_score(&bytes, r.day).is_err(),
            "the history read fails as before"
        );
        assert!(contribution(&bytes).is_ok(), "the comparison never read statuses");
    }

    #[test]
    fn the_contribution_is_the_one_the_cell_was_written_with() {
        let r = row(Some(exact()));
        let bytes = pack(&r).expect("packs");
        let expected = contribution_of(
            r.current,
            r.max_score,
            &[
                (Category::Identity, 102_7200, 495_0000),
                (Category::Apps, 168_1100, 858_0000),
            ],
        );
        assert_eq!(contribution(&bytes).expect("unpacks"), expected);
        assert_eq!(expected.count, 1.0);
        assert!((expected.centered_sum - (27083.0 / 1353.0 - 50.0)).abs() < 1e-9);
    }

    #[test]
    fn equal_views_are_stored_once() {
        let bytes = pack(&row(Some(exact()))).expect("packs");
        let p = unpack(&bytes).expect("unpacks");
        let score = p.score.expect("readable");
        let references = score
            .values
            .iter()
            .filter(|v| matches!(v, Value::Same(_)))
            .count();
        assert!(
            references >= 8,
            "{references} back-references in {:?}",
            score.values
        );
    }
}
