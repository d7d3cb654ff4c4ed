//! Cohort summaries that can leave one member out in constant time (SPEC §8: a cohort excludes
//! the asking tenant).
//!
//! A [`CohortSummary`] is computed once per day and cohort when snapshots are written, and keeps
//! only what answering needs: the count, the sum of the values and, for each quartile `p`, a few
//! order statistics of the sorted values `v[0..n]`:
//!
//! - at `⌊(n−1)p⌋` and the next position: the type-7 quantile of all `n` values (used when the
//!   asker is not a member);
//! - at `⌊(n−2)p⌋`, `+1` and `+2`: enough to get the type-7 quantile of the `n − 1` values left
//!   after removing any one value `x`, because removing `x` from a sorted array gives
//!   `remaining[k] = v[k]` when `v[k] < x`, else `v[k + 1]`.
//!
//! So excluding the asker costs the same for a cohort of 5 tenants as for one of 50 000, and no
//! member's value is stored. The results equal [`distribution`](super::cohort::distribution) of
//! the same values exactly (property-tested below).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::cohort::Distribution;

/// The quartile probabilities, as `numerator / denominator`: p25, median, p75.
const QUARTILES: [(usize, usize); 3] = [(1, 4), (1, 2), (3, 4)];

/// The order statistics kept for one quartile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantileWindow {
    /// `v[⌊(n−1)p⌋]` and the next value when there is one.
    pub all: Vec<Decimal>,
    /// `v[⌊(n−2)p⌋]`, `+1`, `+2`, as far as they exist (empty when `n < 2`).
    pub without_one: Vec<Decimal>,
}

/// What a cohort's figures can be answered from, with or without one of its members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortSummary {
    /// Number of members.
    pub count: usize,
    /// Sum of their values.
    pub sum: Decimal,
    /// p25, median, p75 windows.
    pub quartiles: [QuantileWindow; 3],
}

impl CohortSummary {
    /// The summary of `values`; `None` when empty or when the sum overflows.
    pub fn of(values: &[Decimal]) -> Option<CohortSummary> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_unstable();
        let sum = v.iter().try_fold(Decimal::ZERO, |acc, x| acc.checked_add(*x))?;
        let n = v.len();
        let window = |start: usize, len: usize| v.iter().skip(start).take(len).copied().collect();
        let quartiles = QUARTILES.map(|(num, den)| QuantileWindow {
            all: window((n - 1) * num / den, 2),
            without_one: if n >= 2 {
                window((n - 2) * num / den, 3)
            } else {
                Vec::new()
            },
        });
        Some(CohortSummary {
            count: n,
            sum,
            quartiles,
        })
    }

    /// Count, mean and quartiles of all members.
    pub fn distribution(&self) -> Option<Distribution> {
        let n = self.count;
        if n == 0 {
            return None;
        }
        let [p25, median, p75] = self.quartile_values(|w, (num, den)| {
            interpolate(w.all.first()?, w.all.get(1), (n - 1) * num % den, den)
        })?;
        Some(Distribution {
            count: n,
            mean: self.sum.checked_div(Decimal::from(n))?,
            p25,
            median,
            p75,
        })
    }

    /// Count, mean and quartiles of the members other than one whose value is `x`. `None` when
    /// nobody would be left (or the summary is inconsistent with `x` being a member).
    pub fn without(&self, x: Decimal) -> Option<Distribution> {
        let m = self.count.checked_sub(1).filter(|m| *m > 0)?;
        let [p25, median, p75] = self.quartile_values(|w, (num, den)| {
            // `w` holds v[lo], v[lo+1], v[lo+2] with lo = ⌊(m−1)p⌋.
            let remaining = |i: usize| -> Option<Decimal> {
                let at = *w.without_one.get(i)?;
                if at < x {
                    Some(at)
                } else {
                    w.without_one.get(i + 1).copied()
                }
            };
            let remainder = (m - 1) * num % den;
            let below = remaining(0)?;
            let above = if remainder == 0 { None } else { Some(remaining(1)?) };
            interpolate(&below, above.as_ref(), remainder, den)
        })?;
        Some(Distribution {
            count: m,
            mean: self.sum.checked_sub(x)?.checked_div(Decimal::from(m))?,
            p25,
            median,
            p75,
        })
    }

    fn quartile_values(
        &self,
        f: impl Fn(&QuantileWindow, (usize, usize)) -> Option<Decimal>,
    ) -> Option<[Decimal; 3]> {
        Some([
            f(&self.quartiles[0], QUARTILES[0])?,
            f(&self.quartiles[1], QUARTILES[1])?,
            f(&self.quartiles[2], QUARTILES[2])?,
        ])
    }
}

/// The type-7 interpolation between two neighbouring order statistics, written exactly as
/// `cohort::distribution` does it so both give the same decimal digits.
fn interpolate(
    below: &Decimal,
    above: Option<&Decimal>,
    remainder: usize,
    denominator: usize,
) -> Option<Decimal> {
    if remainder == 0 {
        return Some(*below);
    }
    let above = *above?;
    let fraction = Decimal::from(remainder) / Decimal::from(denominator);
    Some(
        (*below * (Decimal::ONE - fraction))
            .checked_add(above * fraction)
            .unwrap_or(if above.is_sign_positive() { above } else { *below }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::cohort::distribution;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("valid decimal literal in test")
    }

    fn ds(values: &[&str]) -> Vec<Decimal> {
        values.iter().map(|s| d(s)).collect()
    }

    #[test]
    fn summary_answers_like_distribution_for_all_members() {
        let values = ds(&["10", "40", "20", "30"]);
        let summary = CohortSummary::of(&values).expect("non-empty");
        assert_eq!(summary.distribution(), distribution(&values), "all members");
    }

    #[test]
    fn leaving_one_out_matches_the_distribution_of_the_rest() {
        #[rustfmt::skip]
        let cases: [(&[&str], &str, &[&str], &str); 5] = [
            (&["1", "2", "3", "4", "5"], "3", &["1", "2", "4", "5"], "the middle value"),
            (&["1", "2", "3", "4", "5"], "1", &["2", "3", "4", "5"], "the smallest"),
            (&["1", "2", "3", "4", "5"], "5", &["1", "2", "3", "4"], "the largest"),
            (&["7", "7", "7", "2"], "7", &["7", "7", "2"], "a duplicated value"),
            (&["10", "20"], "20", &["10"], "one left"),
        ];
        for (values, x, rest, why) in cases {
            let summary = CohortSummary::of(&ds(values)).expect("non-empty");
            assert_eq!(summary.without(d(x)), distribution(&ds(rest)), "{why}");
        }
    }

    #[test]
    fn nobody_is_left_after_removing_the_only_member() {
        let summary = CohortSummary::of(&ds(&["42"])).expect("non-empty");
        assert_eq!(summary.without(d("42")), None, "single member");
        assert_eq!(CohortSummary::of(&[]), None, "empty");
    }

    #[test]
    fn a_summary_survives_a_json_round_trip() {
        let summary = CohortSummary::of(&ds(&["12.5", "33.3333", "50"])).expect("non-empty");
        let json = serde_json::to_value(&summary).expect("serialize");
        let back: CohortSummary = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, summary, "round trip");
    }

    fn arb_values() -> impl Strategy<Value = Vec<Decimal>> {
        // Percentages with up to 4 decimal places, with many ties, as real scores have.
        prop::collection::vec(
            prop_oneof![
                0_i64..=1_000_000,
                prop::sample::select(vec![0_i64, 500_000, 1_000_000])
            ],
            1..60,
        )
        .prop_map(|v| v.into_iter().map(|x| Decimal::new(x, 4)).collect())
    }

    proptest! {
        #[test]
        fn all_members_equal_distribution(values in arb_values()) {
            let summary = CohortSummary::of(&values).expect("non-empty");
            prop_assert_eq!(summary.distribution(), distribution(&values));
        }

        #[test]
        fn removing_any_member_equals_distribution_of_the_rest(values in arb_values(), pick in any::<prop::sample::Index>()) {
            let summary = CohortSummary::of(&values).expect("non-empty");
            let i = pick.index(values.len());
            let x = values[i];
            let mut rest = values.clone();
            rest.remove(i);
            prop_assert_eq!(summary.without(x), distribution(&rest));
        }
    }
}
