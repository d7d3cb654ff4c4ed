//! Cohort comparisons (SPEC §8): seat bands, summary statistics of a cohort's scores, and the
//! k-anonymity threshold below which a cohort is not answered.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::enums::UnknownValue;

/// Size band of a tenant by seat count, for `SIMILAR_SIZE` and `CUSTOM` cohorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SeatBand {
    /// 1–100 seats (and tenants that report 0).
    #[serde(rename = "SEATS_1_100")]
    B1To100,
    /// 101–500 seats.
    #[serde(rename = "SEATS_101_500")]
    B101To500,
    /// 501–1000 seats.
    #[serde(rename = "SEATS_501_1000")]
    B501To1000,
    /// 1001–5000 seats.
    #[serde(rename = "SEATS_1001_5000")]
    B1001To5000,
    /// 5001–10000 seats.
    #[serde(rename = "SEATS_5001_10000")]
    B5001To10000,
    /// More than 10000 seats.
    #[serde(rename = "SEATS_10001_PLUS")]
    B10001Plus,
}

impl SeatBand {
    /// Every band, smallest first.
    pub const ALL: [Self; 6] = [
        Self::B1To100,
        Self::B101To500,
        Self::B501To1000,
        Self::B1001To5000,
        Self::B5001To10000,
        Self::B10001Plus,
    ];

    /// The band of a seat count; anything up to 100, including 0, is the first band.
    pub fn of(seats: i64) -> SeatBand {
        match seats {
            ..=100 => Self::B1To100,
            101..=500 => Self::B101To500,
            501..=1000 => Self::B501To1000,
            1001..=5000 => Self::B1001To5000,
            5001..=10000 => Self::B5001To10000,
            _ => Self::B10001Plus,
        }
    }

    /// The canonical spelling, e.g. `SEATS_101_500`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::B1To100 => "SEATS_1_100",
            Self::B101To500 => "SEATS_101_500",
            Self::B501To1000 => "SEATS_501_1000",
            Self::B1001To5000 => "SEATS_1001_5000",
            Self::B5001To10000 => "SEATS_5001_10000",
            Self::B10001Plus => "SEATS_10001_PLUS",
        }
    }

    /// Inclusive seat range `(low, high)`; `high` is `None` for the open-ended top band.
    pub fn range(&self) -> (i64, Option<i64>) {
        match self {
            Self::B1To100 => (1, Some(100)),
            Self::B101To500 => (101, Some(500)),
            Self::B501To1000 => (501, Some(1000)),
            Self::B1001To5000 => (1001, Some(5000)),
            Self::B5001To10000 => (5001, Some(10000)),
            Self::B10001Plus => (10001, None),
        }
    }
}

impl std::str::FromStr for SeatBand {
    type Err = UnknownValue;

    /// Parses the exact canonical spelling.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|band| band.as_str() == s)
            .ok_or_else(|| UnknownValue {
                kind: "SeatBand",
                value: s.to_owned(),
            })
    }
}

impl std::fmt::Display for SeatBand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Summary statistics of a cohort's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Distribution {
    /// Number of values.
    pub count: usize,
    /// Arithmetic mean.
    pub mean: Decimal,
    /// 25th percentile.
    pub p25: Decimal,
    /// 50th percentile.
    pub median: Decimal,
    /// 75th percentile.
    pub p75: Decimal,
}

/// Count, mean and quartiles of `values`; `None` when empty.
///
/// Quantiles use linear interpolation between closest ranks (Hyndman & Fan "type 7", the
/// default of R, NumPy and spreadsheets): for sorted values `x[0..n]` and probability `p`, let
/// `h = (n − 1)·p`; the quantile is `x[⌊h⌋] + (h − ⌊h⌋)·(x[⌈h⌉] − x[⌊h⌋])`. So `[1, 2, 3, 4]`
/// has p25 1.75, median 2.5 and p75 3.25.
pub fn distribution(values: &[Decimal]) -> Option<Distribution> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    Some(Distribution {
        count: sorted.len(),
        mean: mean(&sorted),
        p25: quantile(&sorted, 1, 4),
        median: quantile(&sorted, 1, 2),
        p75: quantile(&sorted, 3, 4),
    })
}

/// Mean of a sorted, non-empty slice: exact sum divided by the count.
fn mean(sorted: &[Decimal]) -> Decimal {
    let n = Decimal::from(sorted.len());
    if let Some(sum) = sorted
        .iter()
        .try_fold(Decimal::ZERO, |acc, v| acc.checked_add(*v))
    {
        return sum / n;
    }
    // The sum overflows only for values near Decimal::MAX: divide first instead. Rounding may
    // then nudge the result past the extremes, and the mean always lies between them.
    let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
    sorted
        .iter()
        .try_fold(Decimal::ZERO, |acc, v| acc.checked_add(*v / n))
        .map(|m| m.clamp(min, max))
        .unwrap_or(if max.is_sign_positive() { max } else { min })
}

/// Type-7 quantile of a sorted, non-empty slice at probability `numerator / denominator`.
/// Integer arithmetic keeps `h` exact: `⌊h⌋ = (n − 1)·num div den`, fraction `= rem / den`.
fn quantile(sorted: &[Decimal], numerator: usize, denominator: usize) -> Decimal {
    let last = sorted.len() - 1;
    let scaled = last * numerator;
    let lo = scaled / denominator;
    let remainder = scaled % denominator;
    if remainder == 0 {
        return sorted[lo];
    }
    let fraction = Decimal::from(remainder) / Decimal::from(denominator);
    // lo < last here because remainder > 0 implies h < n − 1.
    let (below, above) = (sorted[lo], sorted[lo + 1]);
    // A convex combination rather than x_lo + f·(x_hi − x_lo), so the difference can't overflow;
    // the sum can only overflow by a rounding digit at the very edge of Decimal's range.
    (below * (Decimal::ONE - fraction))
        .checked_add(above * fraction)
        .unwrap_or(if above.is_sign_positive() { above } else { below })
}

/// Whether a cohort of `count` tenants is too small to answer (fewer than `k`), so that no single
/// organisation can be inferred from it.
pub fn suppressed(count: usize, k: usize) -> bool {
    count < k
}

/// Where `percentage` stands in a cohort of which only the quartiles are known: the percentile
/// (0–100) of a piecewise-linear distribution through (0 %, 0), (p25, 25), (median, 50),
/// (p75, 75) and (100 %, 100). Where that distribution is flat at `percentage` (equal quartiles),
/// the middle of the flat stretch. An estimate: cohort quartiles are noisy and interpolated in a
/// histogram. Inputs are clamped to 0–100 and the quartiles put in order.
pub fn percentile_from_quartiles(percentage: f64, p25: f64, median: f64, p75: f64) -> f64 {
    let clamp = |x: f64| if x.is_finite() { x.clamp(0.0, 100.0) } else { 0.0 };
    let x = clamp(percentage);
    let q1 = clamp(p25);
    let q2 = clamp(median).max(q1);
    let q3 = clamp(p75).max(q2);
    let knots = [(0.0, 0.0), (25.0, q1), (50.0, q2), (75.0, q3), (100.0, 100.0)];
    // Between the first percentile whose value reaches x and the last whose value does not
    // pass it (the distribution is continuous and non-decreasing, so both exist).
    let along = |(p0, v0): (f64, f64), (p1, v1): (f64, f64)| {
        if v1 > v0 {
            p0 + (x - v0) / (v1 - v0) * (p1 - p0)
        } else {
            p0
        }
    };
    let first = knots
        .windows(2)
        .find(|w| w[1].1 >= x)
        .map(|w| if w[0].1 >= x { w[0].0 } else { along(w[0], w[1]) })
        .unwrap_or(100.0);
    let last = knots
        .windows(2)
        .rev()
        .find(|w| w[0].1 <= x)
        .map(|w| if w[1].1 <= x { w[1].0 } else { along(w[0], w[1]) })
        .unwrap_or(0.0);
    ((first + last) / 2.0).clamp(0.0, 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        s.parse().expect("valid decimal literal in test")
    }

    fn ds(values: &[&str]) -> Vec<Decimal> {
        values.iter().map(|s| d(s)).collect()
    }

    #[test]
    fn seat_counts_fall_into_bands() {
        let cases = [
            (-1, SeatBand::B1To100, "negative"),
            (0, SeatBand::B1To100, "zero"),
            (1, SeatBand::B1To100, "one"),
            (100, SeatBand::B1To100, "top of first band"),
            (101, SeatBand::B101To500, "bottom of second band"),
            (500, SeatBand::B101To500, "top of second band"),
            (501, SeatBand::B501To1000, "501"),
            (1000, SeatBand::B501To1000, "1000"),
            (1001, SeatBand::B1001To5000, "1001"),
            (5000, SeatBand::B1001To5000, "5000"),
            (5001, SeatBand::B5001To10000, "5001"),
            (10000, SeatBand::B5001To10000, "10000"),
            (10001, SeatBand::B10001Plus, "10001"),
            (i64::MAX, SeatBand::B10001Plus, "huge"),
        ];
        for (seats, expected, why) in cases {
            assert_eq!(SeatBand::of(seats), expected, "{why}");
        }
    }

    #[test]
    fn bands_round_trip_and_their_ranges_contain_their_members() {
        for band in SeatBand::ALL {
            assert_eq!(SeatBand::from_str(band.as_str()), Ok(band), "FromStr {band}");
            let json = serde_json::to_string(&band).expect("serialize");
            assert_eq!(json, format!("\"{band}\""), "serde spelling of {band}");
            let (low, high) = band.range();
            assert_eq!(SeatBand::of(low), band, "low end of {band}");
            if let Some(high) = high {
                assert_eq!(SeatBand::of(high), band, "high end of {band}");
            }
        }
        assert!(SeatBand::from_str("SEATS_1_99").is_err(), "unknown band");
    }

    #[test]
    fn distribution_uses_type_7_quantiles() {
        let cases: [(&[&str], [&str; 4], &str); 5] = [
            (
                &["1", "2", "3", "4"],
                ["2.5", "1.75", "2.5", "3.25"],
                "the documented example",
            ),
            (
                &["4", "1", "3", "2"],
                ["2.5", "1.75", "2.5", "3.25"],
                "order of input doesn't matter",
            ),
            (&["7"], ["7", "7", "7", "7"], "a single value"),
            (
                &["10", "20", "30", "40", "50"],
                ["30", "20", "30", "40"],
                "exact ranks",
            ),
            (&["0", "100"], ["50", "25", "50", "75"], "two values"),
        ];
        for (values, [mean, p25, median, p75], why) in cases {
            let dist = distribution(&ds(values)).expect("non-empty");
            assert_eq!(dist.count, values.len(), "{why}: count");
            assert_eq!(dist.mean, d(mean), "{why}: mean");
            assert_eq!(dist.p25, d(p25), "{why}: p25");
            assert_eq!(dist.median, d(median), "{why}: median");
            assert_eq!(dist.p75, d(p75), "{why}: p75");
        }
    }

    #[test]
    fn empty_cohort_has_no_distribution() {
        assert_eq!(distribution(&[]), None, "empty");
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let dist = distribution(&[Decimal::MAX, Decimal::MAX]).expect("non-empty");
        assert_eq!(dist.mean, Decimal::MAX, "mean of two maxima");
        assert_eq!(dist.median, Decimal::MAX, "median of two maxima");
    }

    #[test]
    fn percentiles_interpolate_between_the_quartiles() {
        let cases = [
            (40.0, 30.0, 40.0, 60.0, 50.0, "at the median"),
            (30.0, 30.0, 40.0, 60.0, 25.0, "at p25"),
            (50.0, 30.0, 40.0, 60.0, 62.5, "half way from median to p75"),
            (15.0, 30.0, 40.0, 60.0, 12.5, "half way from 0 to p25"),
            (80.0, 30.0, 40.0, 60.0, 87.5, "half way from p75 to 100"),
            (0.0, 30.0, 40.0, 60.0, 0.0, "nothing"),
            (100.0, 30.0, 40.0, 60.0, 100.0, "everything"),
            (
                40.0,
                40.0,
                40.0,
                40.0,
                50.0,
                "all quartiles equal: the middle of 25..75",
            ),
            (
                40.0,
                30.0,
                40.0,
                40.0,
                62.5,
                "median and p75 equal: the middle of 50..75",
            ),
            (120.0, 30.0, 40.0, 60.0, 100.0, "clamped above"),
            (
                50.0,
                60.0,
                40.0,
                30.0,
                20.8333,
                "quartiles out of order are put in order (60, 60, 60)",
            ),
        ];
        for (x, q1, q2, q3, expected, why) in cases {
            let got = percentile_from_quartiles(x, q1, q2, q3);
            assert!((got - expected).abs() < 1e-3, "{why}: {got}");
        }
    }

    #[test]
    fn small_cohorts_are_suppressed() {
        let cases = [
            (0, 5, true),
            (4, 5, true),
            (5, 5, false),
            (6, 5, false),
            (0, 0, false),
        ];
        for (count, k, expected) in cases {
            assert_eq!(suppressed(count, k), expected, "{count} tenants with k = {k}");
        }
    }
}
