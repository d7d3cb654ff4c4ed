//! Goals (SPEC §8): the least-squares trend of a score series, its projection to a target date,
//! and score zones ("bad / okay / good").
//!
//! Dates are whole days; the series is whatever the caller chooses (usually daily score
//! percentages from snapshots).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

/// Sums of a least-squares fit with `x` = days since the first date. Integer `x` sums keep the
/// fit exact up to the final division.
struct Fit {
    origin: NaiveDate,
    n: i128,
    sum_x: i128,
    sum_y: Decimal,
    /// `n·Σx² − (Σx)²`, positive when there are at least two distinct dates.
    denominator: i128,
    /// `n·Σxy − Σx·Σy`.
    numerator: Decimal,
}

impl Fit {
    /// `None` with fewer than two distinct dates (the slope is undefined) or if the sums overflow.
    fn new(points: &[(NaiveDate, Decimal)]) -> Option<Fit> {
        let origin = points.iter().map(|(date, _)| *date).min()?;
        let mut n: i128 = 0;
        let mut sum_x: i128 = 0;
        let mut sum_xx: i128 = 0;
        let mut sum_y = Decimal::ZERO;
        let mut sum_xy = Decimal::ZERO;
        for (date, y) in points {
            let x = i128::from((*date - origin).num_days());
            n += 1;
            sum_x = sum_x.checked_add(x)?;
            sum_xx = sum_xx.checked_add(x.checked_mul(x)?)?;
            sum_y = sum_y.checked_add(*y)?;
            sum_xy = sum_xy.checked_add(y.checked_mul(Decimal::from_i128(x)?)?)?;
        }
        let denominator = n.checked_mul(sum_xx)?.checked_sub(sum_x.checked_mul(sum_x)?)?;
        if denominator <= 0 {
            return None;
        }
        let numerator = Decimal::from_i128(n)?
            .checked_mul(sum_xy)?
            .checked_sub(Decimal::from_i128(sum_x)?.checked_mul(sum_y)?)?;
        Some(Fit {
            origin,
            n,
            sum_x,
            sum_y,
            denominator,
            numerator,
        })
    }

    fn slope(&self) -> Option<Decimal> {
        self.numerator.checked_div(Decimal::from_i128(self.denominator)?)
    }

    /// The fitted value at `at`: `ȳ + slope·(x − x̄)`, computed as
    /// `(Σy + slope·(n·x − Σx)) / n`.
    fn value_at(&self, at: NaiveDate) -> Option<Decimal> {
        let x = i128::from((at - self.origin).num_days());
        let offset = self.n.checked_mul(x)?.checked_sub(self.sum_x)?;
        self.slope()?
            .checked_mul(Decimal::from_i128(offset)?)?
            .checked_add(self.sum_y)?
            .checked_div(Decimal::from_i128(self.n)?)
    }
}

/// Least-squares slope of `points`, in value units per day. `None` with fewer than two distinct
/// dates, or if the arithmetic overflows.
pub fn linear_trend(points: &[(NaiveDate, Decimal)]) -> Option<Decimal> {
    Fit::new(points)?.slope()
}

/// The least-squares line's value at `at`, clamped to `[0, 100]` (a percentage can't leave that
/// range however steep the trend). `None` when [`linear_trend`] is.
pub fn project(points: &[(NaiveDate, Decimal)], at: NaiveDate) -> Option<Decimal> {
    Some(
        Fit::new(points)?
            .value_at(at)?
            .clamp(Decimal::ZERO, Decimal::ONE_HUNDRED),
    )
}

/// A score zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Zone {
    /// Below `okay_from`.
    Bad,
    /// From `okay_from` up to `good_from`.
    Okay,
    /// From `good_from` up.
    Good,
}

/// The zone of a percentage: GOOD at or above `good_from`, else OKAY at or above `okay_from`,
/// else BAD. Thresholds are inclusive; `good_from` is checked first so inverted thresholds still
/// give an answer. Generic so exact percentages are compared exactly.
pub fn zone<T: PartialOrd>(percentage: &T, okay_from: &T, good_from: &T) -> Zone {
    if percentage >= good_from {
        Zone::Good
    } else if percentage >= okay_from {
        Zone::Okay
    } else {
        Zone::Bad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("valid decimal literal in test")
    }

    fn day(n: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, n).expect("valid date")
    }

    #[test]
    fn trend_is_the_least_squares_slope_per_day() {
        #[rustfmt::skip]
        let cases = [
            (vec![], None, "no points"),
            (vec![(day(1), d("50"))], None, "one point"),
            (vec![(day(1), d("50")), (day(1), d("60"))], None, "one distinct date"),
            (vec![(day(1), d("50")), (day(3), d("54"))], Some("2"), "two points"),
            (vec![(day(3), d("54")), (day(1), d("50"))], Some("2"), "order doesn't matter"),
            (vec![(day(1), d("10")), (day(2), d("12")), (day(3), d("11")), (day(4), d("15"))], Some("1.4"), "noisy series"),
            (vec![(day(1), d("70")), (day(11), d("60"))], Some("-1"), "falling"),
        ];
        for (points, expected, why) in cases {
            assert_eq!(linear_trend(&points), expected.map(d), "{why}");
        }
    }

    #[test]
    fn projection_follows_the_line_and_stays_a_percentage() {
        let rising = vec![(day(1), d("50")), (day(3), d("54"))];
        let noisy = vec![
            (day(1), d("10")),
            (day(2), d("12")),
            (day(3), d("11")),
            (day(4), d("15")),
        ];
        let cases = [
            (&rising, day(10), Some("68"), "ahead on the line"),
            (&rising, day(1), Some("50"), "at the start"),
            (&rising, day(31), Some("100"), "clamped at 100"),
            (&noisy, day(5), Some("15.5"), "mean 12 at day 2.5, slope 1.4"),
        ];
        for (points, at, expected, why) in cases {
            assert_eq!(project(points, at), expected.map(d), "{why}");
        }
        let falling = vec![(day(1), d("10")), (day(2), d("5"))];
        assert_eq!(project(&falling, day(20)), Some(Decimal::ZERO), "clamped at 0");
        assert_eq!(
            project(&[(day(1), d("50"))], day(2)),
            None,
            "one point has no projection"
        );
    }

    #[test]
    fn zones_are_inclusive_at_their_lower_threshold() {
        let cases = [
            ("0", Zone::Bad),
            ("49.99", Zone::Bad),
            ("50", Zone::Okay),
            ("74.99", Zone::Okay),
            ("75", Zone::Good),
            ("100", Zone::Good),
        ];
        for (percentage, expected) in cases {
            assert_eq!(
                zone(&d(percentage), &d("50"), &d("75")),
                expected,
                "{percentage} %"
            );
        }
        assert_eq!(
            zone(&d("60"), &d("80"), &d("50")),
            Zone::Good,
            "inverted thresholds: good wins"
        );
    }
}
