//! Exact points (SPEC §3): every score figure is a rational number, and rounding happens only when
//! a figure is presented.
//!
//! Partial credit is `max × implemented / total`, so a tenant's score is a sum of fractions with
//! arbitrary denominators (15,063 devices, 29 users, …). No fixed number of decimal places keeps
//! such sums exact: two sums that differ can agree to any given digit, and a sum just below a
//! rounding midpoint rounds the wrong way once it has been rounded before. [`Points`] therefore
//! holds the exact fraction, as a `Ratio<i128>` while numerator and denominator fit (every real
//! tenant) and as a `BigRational` once they don't, so no input can overflow it.
//!
//! Equality, ordering and hashing are of the *value*: `1/2` held small equals `1/2` held big.

use std::cmp::Ordering;
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub};
use std::str::FromStr;

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::{BigRational, Ratio};
use num_traits::{CheckedAdd, CheckedMul, CheckedSub, Signed, ToPrimitive, Zero};
use rust_decimal::Decimal;

/// Decimal places of points in the integer columns (ten-thousandths of a point): the service
/// catalog's `maxPoints`, imported vendor figures and the rounded figures kept for SQL
/// aggregation.
pub const STORAGE_SCALE: u32 = 4;
const STORAGE_UNIT: i128 = 10_000;

/// An exact rational number of points (or of percentage points).
#[derive(Clone)]
pub struct Points(Repr);

#[derive(Clone)]
enum Repr {
    /// Reduced, positive denominator (num-rational keeps it so).
    Small(Ratio<i128>),
    /// Only when the small form would overflow.
    Big(BigRational),
}

impl Points {
    /// Zero points.
    pub const ZERO: Points = Points(Repr::Small(Ratio::new_raw(0, 1)));

    /// A whole number of points.
    pub fn from_integer(n: i64) -> Points {
        Points(Repr::Small(Ratio::from_integer(i128::from(n))))
    }

    /// `numerator / denominator`; `None` when the denominator is 0.
    pub fn ratio(numerator: i64, denominator: i64) -> Option<Points> {
        (denominator != 0).then(|| {
            Points(Repr::Small(Ratio::new(
                i128::from(numerator),
                i128::from(denominator),
            )))
        })
    }

    /// Points from an integer column in ten-thousandths (exact).
    pub fn from_storage(v: i64) -> Points {
        Points(Repr::Small(Ratio::new(i128::from(v), STORAGE_UNIT)))
    }

    /// Points from a decimal (exact: a decimal is a fraction over a power of ten).
    pub fn from_decimal(d: Decimal) -> Points {
        Points::from_ratio(d.mantissa(), 10_i128.pow(d.scale()))
    }

    fn from_ratio(numerator: i128, denominator: i128) -> Points {
        Points(Repr::Small(Ratio::new(numerator, denominator)))
    }

    fn from_big(r: BigRational) -> Points {
        // Back to the small form when it fits, so one huge intermediate doesn't slow down
        // everything after it.
        match (r.numer().to_i128(), r.denom().to_i128()) {
            (Some(n), Some(d)) => Points(Repr::Small(Ratio::new_raw(n, d))),
            _ => Points(Repr::Big(r)),
        }
    }

    /// The exact value as a `BigRational` (for the slow path and for tests).
    pub fn to_big(&self) -> BigRational {
        match &self.0 {
            Repr::Small(r) => BigRational::new_raw(BigInt::from(*r.numer()), BigInt::from(*r.denom())),
            Repr::Big(r) => r.clone(),
        }
    }

    /// Whether this is exactly zero.
    pub fn is_zero(&self) -> bool {
        match &self.0 {
            Repr::Small(r) => r.is_zero(),
            Repr::Big(r) => r.is_zero(),
        }
    }

    /// Whether this is greater than zero.
    pub fn is_positive(&self) -> bool {
        match &self.0 {
            Repr::Small(r) => r.is_positive(),
            Repr::Big(r) => r.is_positive(),
        }
    }

    /// Whether this is less than zero.
    pub fn is_negative(&self) -> bool {
        match &self.0 {
            Repr::Small(r) => r.is_negative(),
            Repr::Big(r) => r.is_negative(),
        }
    }

    fn combine(
        &self,
        other: &Points,
        small: impl Fn(&Ratio<i128>, &Ratio<i128>) -> Option<Ratio<i128>>,
        big: impl Fn(BigRational, BigRational) -> BigRational,
    ) -> Points {
        if let (Repr::Small(a), Repr::Small(b)) = (&self.0, &other.0)
            && let Some(r) = small(a, b)
        {
            return Points(Repr::Small(r));
        }
        Points::from_big(big(self.to_big(), other.to_big()))
    }

    /// `self × factor`, exact.
    pub fn mul_int(&self, factor: i64) -> Points {
        self.combine(
            &Points::from_integer(factor),
            |a, b| a.checked_mul(b),
            |a, b| a * b,
        )
    }

    /// `self × factor`, exact.
    pub fn mul(&self, factor: &Points) -> Points {
        self.combine(factor, |a, b| a.checked_mul(b), |a, b| a * b)
    }

    /// `self / divisor`, exact; `None` when the divisor is zero.
    pub fn checked_div(&self, divisor: &Points) -> Option<Points> {
        if divisor.is_zero() {
            return None;
        }
        Some(self.combine(
            divisor,
            // a/b ÷ c/d = a/b × d/c; num-rational's checked_div does the same with overflow checks.
            num_traits::CheckedDiv::checked_div,
            |a, b| a / b,
        ))
    }

    /// `self / divisor × 100` (a percentage), exact; 0 when the divisor is zero.
    pub fn percent_of(&self, divisor: &Points) -> Points {
        self.mul_int(100).checked_div(divisor).unwrap_or(Points::ZERO)
    }

    /// The smaller of two values.
    pub fn min(self, other: Points) -> Points {
        if other < self { other } else { self }
    }

    /// The larger of two values.
    pub fn max(self, other: Points) -> Points {
        if other > self { other } else { self }
    }

    /// `numerator × 10^places / denominator` rounded to an integer, halves away from zero.
    fn scaled_rounded(&self, places: u32) -> BigInt {
        let r = self.to_big();
        let scaled = r.numer() * BigInt::from(10_u8).pow(places);
        let denominator = r.denom();
        let (quotient, remainder) = scaled.div_rem(denominator);
        // |remainder| < denominator; round away from zero when 2|remainder| ≥ denominator.
        if remainder.abs() * 2_u8 >= *denominator {
            if scaled.is_negative() {
                quotient - 1_u8
            } else {
                quotient + 1_u8
            }
        } else {
            quotient
        }
    }

    /// Rounded to `places` decimal places, halves away from zero: the presentation of a figure.
    /// Saturates at `Decimal`'s range, far beyond any score.
    pub fn round_dp(&self, places: u32) -> Decimal {
        if let Repr::Small(r) = &self.0
            && let Some(d) = round_small(r, places)
        {
            return d;
        }
        let rounded = self.scaled_rounded(places);
        rounded
            .to_i128()
            .and_then(|m| Decimal::try_from_i128_with_scale(m, places).ok())
            .unwrap_or(if rounded.is_negative() {
                Decimal::MIN
            } else {
                Decimal::MAX
            })
    }

    /// Rounded to two decimal places, halves away from zero: what the API shows.
    pub fn round2(&self) -> Decimal {
        self.round_dp(2)
    }

    /// Rounded to ten-thousandths for an integer column (halves away from zero), saturating at
    /// the `i64` range. Only for figures kept for SQL aggregation and display of old rows; exact
    /// figures are kept with [`Points::to_exact_string`].
    pub fn to_storage(&self) -> i64 {
        let rounded = self.scaled_rounded(STORAGE_SCALE);
        rounded
            .to_i64()
            .unwrap_or(if rounded.is_negative() { i64::MIN } else { i64::MAX })
    }

    /// The nearest `f64` (for statistics that are approximate by nature, such as regression).
    pub fn to_f64(&self) -> f64 {
        match &self.0 {
            Repr::Small(r) => r.to_f64(),
            Repr::Big(r) => r.to_f64(),
        }
        .unwrap_or(0.0)
    }

    /// The exact value as text: `"7"`, `"-5/3"`. [`Points::from_str`] reads it back.
    pub fn to_exact_string(&self) -> String {
        self.to_string()
    }
}

/// A decimal (a vendor's figure, a goal target) rounded to 2 places, halves away from zero,
/// as exact points are presented.
pub fn round2_decimal(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

/// [`Points::round_dp`] without big integers when nothing overflows.
fn round_small(r: &Ratio<i128>, places: u32) -> Option<Decimal> {
    let scaled = i128::checked_mul(*r.numer(), 10_i128.checked_pow(places)?)?;
    let denominator = *r.denom();
    let (quotient, remainder) = (scaled / denominator, scaled % denominator);
    let away = remainder.unsigned_abs().checked_mul(2)? >= denominator.unsigned_abs();
    let rounded = match (away, scaled < 0) {
        (false, _) => quotient,
        (true, false) => quotient + 1,
        (true, true) => quotient - 1,
    };
    Decimal::try_from_i128_with_scale(rounded, places).ok()
}

impl Default for Points {
    fn default() -> Self {
        Points::ZERO
    }
}

impl From<i64> for Points {
    fn from(n: i64) -> Self {
        Points::from_integer(n)
    }
}

impl PartialEq for Points {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Points {}

impl PartialOrd for Points {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Points {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.0, &other.0) {
            // num-rational compares without overflow (by continued fractions, not products).
            (Repr::Small(a), Repr::Small(b)) => a.cmp(b),
            _ => self.to_big().cmp(&other.to_big()),
        }
    }
}

impl std::hash::Hash for Points {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Both forms are reduced with a positive denominator, so equal values hash alike.
        let r = self.to_big();
        r.numer().hash(state);
        r.denom().hash(state);
    }
}

/// `a ± b` when both share a denominator (integers, most of all): one checked integer
/// operation and at most one gcd, instead of num-rational's general lcm path (four i128
/// multiplications and divisions, a fifth of a cache miss's CPU before this).
fn same_denominator(a: &Ratio<i128>, b: &Ratio<i128>, negate_b: bool) -> Option<Ratio<i128>> {
    if a.denom() != b.denom() {
        return None;
    }
    let n = if negate_b {
        a.numer().checked_sub(b.numer())?
    } else {
        a.numer().checked_add(b.numer())?
    };
    let d = *a.denom();
    Some(if d == 1 {
        Ratio::new_raw(n, 1)
    } else {
        Ratio::new(n, d)
    })
}

impl Add<&Points> for &Points {
    type Output = Points;
    fn add(self, other: &Points) -> Points {
        self.combine(
            other,
            |a, b| same_denominator(a, b, false).or_else(|| a.checked_add(b)),
            |a, b| a + b,
        )
    }
}

impl Add for Points {
    type Output = Points;
    fn add(self, other: Points) -> Points {
        &self + &other
    }
}

impl AddAssign<&Points> for Points {
    fn add_assign(&mut self, other: &Points) {
        *self = &*self + other;
    }
}

impl AddAssign for Points {
    fn add_assign(&mut self, other: Points) {
        *self = &*self + &other;
    }
}

impl Sub<&Points> for &Points {
    type Output = Points;
    fn sub(self, other: &Points) -> Points {
        self.combine(
            other,
            |a, b| same_denominator(a, b, true).or_else(|| a.checked_sub(b)),
            |a, b| a - b,
        )
    }
}

impl Sub for Points {
    type Output = Points;
    fn sub(self, other: Points) -> Points {
        &self - &other
    }
}

impl Neg for Points {
    type Output = Points;
    fn neg(self) -> Points {
        Points::ZERO - self
    }
}

impl Sum for Points {
    fn sum<I: Iterator<Item = Points>>(iter: I) -> Points {
        iter.fold(Points::ZERO, |acc, p| &acc + &p)
    }
}

impl<'a> Sum<&'a Points> for Points {
    fn sum<I: Iterator<Item = &'a Points>>(iter: I) -> Points {
        iter.fold(Points::ZERO, |acc, p| &acc + p)
    }
}

impl fmt::Display for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Small(r) => write!(f, "{r}"),
            Repr::Big(r) => write!(f, "{r}"),
        }
    }
}

impl fmt::Debug for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A text that is not an exact rational (`"n"`, `"n/d"` with `d ≠ 0`, or a decimal `"1.25"`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an exact number of points: {0:?}")]
pub struct BadPoints(pub String);

impl FromStr for Points {
    type Err = BadPoints;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadPoints(s.to_string());
        if s.contains('.') {
            return s.parse::<Decimal>().map(Points::from_decimal).map_err(|_| bad());
        }
        let (numerator, denominator) = match s.split_once('/') {
            Some((n, d)) => (n, d),
            None => (s, "1"),
        };
        let numerator: BigInt = numerator.parse().map_err(|_| bad())?;
        let denominator: BigInt = denominator.parse().map_err(|_| bad())?;
        if denominator.is_zero() {
            return Err(bad());
        }
        Ok(Points::from_big(BigRational::new(numerator, denominator)))
    }
}

impl serde::Serialize for Points {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Points {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Points {
        s.parse().expect("valid points literal in test")
    }

    fn dec(s: &str) -> Decimal {
        s.parse().expect("valid decimal literal in test")
    }

    #[test]
    fn arithmetic_is_exact() {
        assert_eq!(p("1/3") + p("1/3") + p("1/3"), p("1"), "thirds add up to one");
        assert_eq!(p("2/4"), p("3/6"), "equal fractions are equal");
        assert_eq!(p("5/3").mul_int(3), p("5"), "multiplying undoes the division");
        assert_eq!(p("1/3") - p("1/2"), p("-1/6"), "subtraction");
        assert_eq!(
            p("5/3").percent_of(&p("14")),
            p("250/21"),
            "1/3 of 5 points in a 14-point tenant"
        );
        assert_eq!(
            p("3").percent_of(&Points::ZERO),
            Points::ZERO,
            "percentage of 0 is 0"
        );
        assert!(p("2/3") > p("6666/10000"), "ordering is exact");
    }

    #[test]
    fn presentation_rounds_the_exact_value_half_away_from_zero() {
        let cases = [
            ("250/21", "11.90", "11.9047… (the 11.91 regression)"),
            ("1005/1000", "1.01", "a half rounds up"),
            ("-1005/1000", "-1.01", "a negative half rounds away from zero"),
            ("1004999/1000000", "1.00", "just below a half rounds down"),
            // Rounded to 4 places first this would be 0.0050 and then 0.01: double rounding.
            ("4999/1000000", "0.00", "no double rounding"),
            ("2/3", "0.67", "two thirds"),
            ("0", "0.00", "zero"),
        ];
        for (value, expected, why) in cases {
            assert_eq!(p(value).round2(), dec(expected), "{why}");
        }
    }

    #[test]
    fn storage_keeps_ten_thousandths() {
        assert_eq!(p("1/3").to_storage(), 3_333, "a third");
        assert_eq!(p("2/3").to_storage(), 6_667, "two thirds");
        assert_eq!(p("-1/20000").to_storage(), -1, "a negative half");
        assert_eq!(Points::from_storage(25_000), p("5/2"), "from storage");
        assert_eq!(Points::from_decimal(dec("37.125")), p("297/8"), "from a decimal");
    }

    #[test]
    fn huge_denominators_move_to_big_integers_and_back() {
        // The product of many distinct primes overflows i128 quickly.
        let primes = [
            10_007_i64, 10_009, 10_037, 10_039, 10_061, 10_067, 10_069, 10_079, 10_091, 10_093, 10_099,
            10_103,
        ];
        let sum: Points = primes
            .iter()
            .map(|&q| Points::ratio(1, q).expect("nonzero"))
            .sum();
        let reference: BigRational = primes
            .iter()
            .map(|&q| BigRational::new(BigInt::from(1), BigInt::from(q)))
            .fold(BigRational::zero(), |a, b| a + b);
        assert_eq!(sum.to_big(), reference, "sum of tiny fractions is exact");
        assert!(matches!(sum.0, Repr::Big(_)), "held as a big rational");
        let back = primes
            .iter()
            .fold(sum, |acc, &q| &acc - &Points::ratio(1, q).expect("nonzero"));
        assert_eq!(back, Points::ZERO, "subtracting them again gives exactly 0");
        assert!(matches!(back.0, Repr::Small(_)), "and it is small again");
    }

    #[test]
    fn text_round_trips() {
        for s in ["0", "7", "-5/3", "123456789012345678901234567890123456789/7"] {
            assert_eq!(p(s).to_exact_string(), s, "{s}");
        }
        assert!("1/0".parse::<Points>().is_err(), "zero denominator");
        assert!("abc".parse::<Points>().is_err(), "not a number");
        assert_eq!(p("4/6").to_exact_string(), "2/3", "reduced");
    }

    fn arb_points() -> impl Strategy<Value = Points> {
        (any::<i64>(), 1_i64..=i64::MAX).prop_map(|(n, d)| Points::ratio(n, d).expect("nonzero"))
    }

    fn big_round(r: &BigRational, places: u32) -> BigInt {
        let scaled = r * BigRational::from_integer(BigInt::from(10).pow(places));
        // Halves away from zero, by the definition: sign × floor(|x| + 1/2).
        let half = BigRational::new(BigInt::from(1), BigInt::from(2));
        let magnitude = (scaled.abs() + half).floor().to_integer();
        if scaled.is_negative() {
            -magnitude
        } else {
            magnitude
        }
    }

    proptest! {
        #[test]
        fn operations_agree_with_big_rationals(a in arb_points(), b in arb_points(), k in any::<i64>()) {
            prop_assert_eq!((&a + &b).to_big(), a.to_big() + b.to_big());
            prop_assert_eq!((&a - &b).to_big(), a.to_big() - b.to_big());
            prop_assert_eq!(a.mul_int(k).to_big(), a.to_big() * BigRational::from_integer(BigInt::from(k)));
            prop_assert_eq!(a.cmp(&b), a.to_big().cmp(&b.to_big()));
            if !b.is_zero() {
                prop_assert_eq!(a.checked_div(&b).map(|q| q.to_big()), Some(a.to_big() / b.to_big()));
            }
        }

        #[test]
        fn rounding_agrees_with_the_definition(a in arb_points(), places in 0_u32..6) {
            let expected = big_round(&a.to_big(), places);
            let got = a.round_dp(places);
            if let Some(m) = expected.to_i128().and_then(|m| Decimal::try_from_i128_with_scale(m, places).ok()) {
                prop_assert_eq!(got, m);
            }
            prop_assert_eq!(BigInt::from(a.to_storage()), big_round(&a.to_big(), STORAGE_SCALE).clamp(BigInt::from(i64::MIN), BigInt::from(i64::MAX)));
        }

        #[test]
        fn text_is_exact(a in arb_points()) {
            prop_assert_eq!(a.to_exact_string().parse::<Points>().expect("parses"), a);
        }
    }
}
