//! Planning within an effort budget: the 0/1 knapsack behind `Tenant.plan`, solved exactly.
//!
//! Each candidate action has an **effort** (the divisor of the ranking formula, SPEC §4:
//! `w(implementationCost) + w(userImpact) + complexity(tier)`, so 3..=9 for catalog actions) and
//! a **value** (its exact `pointsRemaining`). [`solve`] returns the set of candidates whose total
//! effort is at most the budget (and whose size is at most `max_actions`, when given) with the
//! greatest total value. Among sets of equal value the one with **less effort** wins, and among
//! those the set holding the **best-ranked** action where they differ (the candidates come in
//! rank order, index 0 first; i.e. the lexicographically first indicator vector in rank order).
//! That is a total order on sets, so the answer is unique and reproducible.
//!
//! **How.** A dynamic programme over (exact effort used, actions taken) — the count dimension
//! only when `max_actions` can bind — whose cells hold the best key `(value, membership bits)`.
//! Values are exact: the candidates' fractions are scaled to their least common denominator and
//! summed as `i128` when every sum fits, else as big integers (slower, equally exact). The
//! membership bits (bit `p` for the candidate at rank position `p`, most significant first) make
//! the tie-break part of the key: for disjoint sets adding bits is adding integers, so the key is
//! additive and the programme stays exact. The budget is clamped to the candidates' total effort
//! (a bigger budget cannot buy more), so the table has at most `(Σ effort + 1) × (count + 1)`
//! cells; questions beyond [`MAX_TABLE_BYTES`] or [`MAX_STEPS`] are refused ([`TooLarge`])
//! rather than answered slowly. A catalog tenant (≤ 53 candidates, Σ effort ≤ 477) takes well
//! under a millisecond.

use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{One, ToPrimitive, Zero};

use super::points::Points;

/// One action that may go into a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Effort units it takes (the ranking divisor).
    pub effort: u32,
    /// Points it gains when done (its exact `pointsRemaining`). Candidates with nothing to gain
    /// are never chosen.
    pub points: Points,
}

/// The limits of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most effort units in all.
    pub budget: u64,
    /// Most actions in all; `None` for no limit.
    pub max_actions: Option<u64>,
}

/// The best plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Indices of the chosen candidates, ascending (rank order).
    pub chosen: Vec<usize>,
    /// Their total effort.
    pub effort: u64,
    /// Their total points.
    pub points: Points,
}

/// A question whose table would be too big to solve exactly within the limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLarge {
    /// Cells of the table it would need.
    pub cells: u64,
    /// Cell updates it would need.
    pub steps: u64,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the plan is too large to solve exactly ({} table cells, {} steps): lower maxActions or \
             effortBudget, or narrow the candidates by category",
            self.cells, self.steps
        )
    }
}

/// Largest table [`solve`] builds, in bytes.
pub const MAX_TABLE_BYTES: u64 = 96 * 1024 * 1024;
/// Most cell updates [`solve`] performs (a few tenths of a second).
pub const MAX_STEPS: u64 = 150_000_000;
/// Most candidates [`solve`] takes (the membership bits are a fixed-size array).
pub const MAX_CANDIDATES: usize = 1024;

/// The best plan for `candidates` (in rank order) within `limits` (see the module header for the
/// order among equally good plans).
pub fn solve(candidates: &[Candidate], limits: Limits) -> Result<Plan, TooLarge> {
    // Only what gains something and fits at all can be chosen.
    let eligible: Vec<usize> = (0..candidates.len())
        .filter(|&i| candidates[i].points.is_positive() && u64::from(candidates[i].effort) <= limits.budget)
        .collect();
    if eligible.is_empty() || limits.max_actions == Some(0) {
        return Ok(Plan {
            chosen: Vec::new(),
            effort: 0,
            points: Points::ZERO,
        });
    }
    if eligible.len() > MAX_CANDIDATES {
        return Err(TooLarge {
            cells: 0,
            steps: u64::MAX,
        });
    }
    let words = eligible.len().div_ceil(64);
    match words {
        1 => solve_words::<1>(candidates, &eligible, limits),
        2 => solve_words::<2>(candidates, &eligible, limits),
        3 | 4 => solve_words::<4>(candidates, &eligible, limits),
        5..=8 => solve_words::<8>(candidates, &eligible, limits),
        _ => solve_words::<16>(candidates, &eligible, limits),
    }
}

/// Membership of a set of eligible candidates: bit `p` (position `p` in rank order) is bit
/// `63 − p % 64` of word `p / 64`, so comparing the arrays (lexicographically, as `Ord` on arrays
/// does) compares the sets by their best-ranked difference.
type Bits<const W: usize> = [u64; W];

fn bit<const W: usize>(position: usize) -> Bits<W> {
    let mut b = [0u64; W];
    b[position / 64] = 1u64 << (63 - position % 64);
    b
}

fn union<const W: usize>(a: &Bits<W>, b: &Bits<W>) -> Bits<W> {
    let mut out = *a;
    for (o, x) in out.iter_mut().zip(b) {
        *o |= x;
    }
    out
}

/// An exact amount of scaled points.
trait Amount: Clone + Ord {
    fn nothing() -> Self;
    fn plus(&self, other: &Self) -> Self;
}

impl Amount for i128 {
    fn nothing() -> Self {
        0
    }
    fn plus(&self, other: &Self) -> Self {
        // The caller checked that the sum of all values fits.
        self + other
    }
}

impl Amount for BigInt {
    fn nothing() -> Self {
        BigInt::zero()
    }
    fn plus(&self, other: &Self) -> Self {
        self + other
    }
}

fn solve_words<const W: usize>(
    candidates: &[Candidate],
    eligible: &[usize],
    limits: Limits,
) -> Result<Plan, TooLarge> {
    // Every value as an integer over the least common denominator.
    let fractions: Vec<_> = eligible.iter().map(|&i| candidates[i].points.to_big()).collect();
    let denominator = fractions.iter().fold(BigInt::one(), |acc, f| acc.lcm(f.denom()));
    let scaled: Vec<BigInt> = fractions
        .iter()
        .map(|f| f.numer() * (&denominator / f.denom()))
        .collect();
    let total: BigInt = scaled.iter().sum();
    if total.to_i128().is_some() {
        let small: Vec<i128> = scaled.iter().map(|v| v.to_i128().unwrap_or_default()).collect();
        table::<i128, W>(candidates, eligible, &small, limits)
    } else {
        table::<BigInt, W>(candidates, eligible, &scaled, limits)
    }
}

/// The dynamic programme over (effort used exactly, actions taken exactly); `values[k]` is the
/// scaled value of `eligible[k]`.
fn table<V: Amount, const W: usize>(
    candidates: &[Candidate],
    eligible: &[usize],
    values: &[V],
    limits: Limits,
) -> Result<Plan, TooLarge> {
    let efforts: Vec<u64> = eligible
        .iter()
        .map(|&i| u64::from(candidates[i].effort))
        .collect();
    let n = eligible.len() as u64;
    let capacity = limits.budget.min(efforts.iter().sum());
    // The count matters only when it can bind: when fewer actions are allowed than could fit.
    let most_that_fit = {
        let mut sorted = efforts.clone();
        sorted.sort_unstable();
        let mut used = 0u64;
        sorted
            .iter()
            .take_while(|e| {
                used += **e;
                used <= capacity
            })
            .count() as u64
    };
    let counts = match limits.max_actions {
        Some(k) if k < most_that_fit => Some(k),
        _ => None,
    };
    let width = counts.map_or(1, |k| k + 1);
    let cells = (capacity + 1).saturating_mul(width);
    let steps = cells.saturating_mul(n);
    let cell_bytes = std::mem::size_of::<Option<(V, Bits<W>)>>() as u64;
    if cells.saturating_mul(cell_bytes) > MAX_TABLE_BYTES || steps > MAX_STEPS {
        return Err(TooLarge { cells, steps });
    }
    let (capacity, width) = (capacity as usize, width as usize);
    let at = |c: usize, j: usize| c * width + j;
    let step = usize::from(counts.is_some());
    let mut best: Vec<Option<(V, Bits<W>)>> = vec![None; (capacity + 1) * width];
    best[at(0, 0)] = Some((V::nothing(), [0; W]));
    for (position, (value, effort)) in values.iter().zip(&efforts).enumerate() {
        let effort = *effort as usize;
        let mine = bit::<W>(position);
        for c in (effort..=capacity).rev() {
            // With counts, taking the candidate moves from count j − 1 to j; without, the one
            // column stands for any count.
            for j in (step..width).rev() {
                let from = at(c - effort, j - step);
                let Some((v, b)) = &best[from] else {
                    continue;
                };
                let key = (v.plus(value), union(b, &mine));
                let slot = &mut best[at(c, j)];
                if slot.as_ref().is_none_or(|current| key > *current) {
                    *slot = Some(key);
                }
            }
        }
    }
    // The best over every cell: more value, then less effort, then the better-ranked set.
    let mut winner: Option<(usize, &(V, Bits<W>))> = None;
    for c in 0..=capacity {
        for j in 0..width {
            let Some(key) = &best[at(c, j)] else {
                continue;
            };
            let better = match winner {
                None => true,
                Some((wc, w)) => key.0 > w.0 || (key.0 == w.0 && (c < wc || (c == wc && key.1 > w.1))),
            };
            if better {
                winner = Some((c, key));
            }
        }
    }
    let (effort, (_, bits)) = winner.expect("the empty plan is always in the table");
    let chosen: Vec<usize> = (0..eligible.len())
        .filter(|p| bits[p / 64] & (1u64 << (63 - p % 64)) != 0)
        .map(|p| eligible[p])
        .collect();
    let points = chosen.iter().map(|&i| candidates[i].points.clone()).sum();
    Ok(Plan {
        chosen,
        effort: effort as u64,
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Points {
        s.parse().expect("valid points literal in test")
    }

    fn c(effort: u32, points: &str) -> Candidate {
        Candidate {
            effort,
            points: p(points),
        }
    }

    fn limits(budget: u64, max_actions: Option<u64>) -> Limits {
        Limits { budget, max_actions }
    }

    /// Every subset, compared by the documented order: more points, less effort, then the
    /// better-ranked set (the earliest index where the sets differ is in the better one).
    fn brute_force(candidates: &[Candidate], l: Limits) -> Plan {
        let n = candidates.len();
        let mut best: Option<(Points, u64, Vec<usize>)> = None;
        for mask in 0u32..(1 << n) {
            let set: Vec<usize> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
            let effort: u64 = set.iter().map(|&i| u64::from(candidates[i].effort)).sum();
            if effort > l.budget || l.max_actions.is_some_and(|k| set.len() as u64 > k) {
                continue;
            }
            // Sets that hold an action with nothing to gain are never the answer.
            if set.iter().any(|&i| !candidates[i].points.is_positive()) {
                continue;
            }
            let points: Points = set.iter().map(|&i| candidates[i].points.clone()).sum();
            let better = match &best {
                None => true,
                Some((bp, be, bs)) => {
                    points > *bp
                        || (points == *bp && (effort < *be || (effort == *be && better_ranked(&set, bs, n))))
                }
            };
            if better {
                best = Some((points, effort, set));
            }
        }
        let (points, effort, chosen) = best.expect("the empty set is feasible");
        Plan {
            chosen,
            effort,
            points,
        }
    }

    /// Whether `a` holds the best-ranked candidate where `a` and `b` differ.
    fn better_ranked(a: &[usize], b: &[usize], n: usize) -> bool {
        (0..n)
            .find(|i| a.contains(i) != b.contains(i))
            .is_some_and(|i| a.contains(&i))
    }

    #[test]
    fn takes_the_most_points_that_fit() {
        // Greedy by priority would take A (2/pt·effort) and then nothing fits; the optimum is B+C.
        let cs = [c(6, "12"), c(5, "9"), c(5, "9")];
        let plan = solve(&cs, limits(10, None)).expect("small");
        assert_eq!(plan.chosen, vec![1, 2], "9 + 9 beats 12");
        assert_eq!(plan.effort, 10);
        assert_eq!(plan.points, p("18"));
    }

    #[test]
    fn edge_cases() {
        let cs = [c(3, "5"), c(4, "7/3"), c(9, "10")];
        let cases = [
            (limits(0, None), vec![], "zero budget: nothing"),
            (limits(2, None), vec![], "nothing fits"),
            (limits(100, Some(0)), vec![], "no actions allowed"),
            (limits(100, None), vec![0, 1, 2], "everything fits"),
            (limits(u64::MAX, None), vec![0, 1, 2], "a huge budget is clamped"),
            (limits(100, Some(1)), vec![2], "one action: the most points"),
            (limits(7, None), vec![0, 1], "3 + 4 within 7"),
            (limits(12, Some(2)), vec![0, 2], "two actions within 12"),
        ];
        for (l, expected, why) in cases {
            assert_eq!(solve(&cs, l).expect("small").chosen, expected, "{why}");
        }
        assert_eq!(
            solve(&[], limits(10, None)).expect("small"),
            Plan {
                chosen: vec![],
                effort: 0,
                points: Points::ZERO
            },
            "no candidates"
        );
    }

    #[test]
    fn candidates_with_nothing_to_gain_are_never_chosen() {
        let cs = [c(3, "0"), c(0, "0"), c(3, "-1"), c(3, "1")];
        assert_eq!(solve(&cs, limits(100, None)).expect("small").chosen, vec![3]);
    }

    #[test]
    fn ties_go_to_less_effort_then_to_the_better_ranked_set() {
        // Same points (10) for effort 6 (index 0) and effort 5 (index 1): less effort wins.
        let cs = [c(6, "10"), c(5, "10")];
        assert_eq!(solve(&cs, limits(6, None)).expect("small").chosen, vec![1]);
        // Same points and effort: the set with the better-ranked action (index 0) wins.
        let cs = [c(5, "10"), c(5, "10")];
        assert_eq!(solve(&cs, limits(5, None)).expect("small").chosen, vec![0]);
        // {A (3, 1), B (6, 9)} and {C (4, 5), D (5, 5)} both give 10 points for 9 effort, and no
        // other set does as well: the one holding the best-ranked action wins.
        let (a, b, cc, d) = (c(3, "1"), c(6, "9"), c(4, "5"), c(5, "5"));
        let ranked = [cc.clone(), a.clone(), b.clone(), d.clone()];
        assert_eq!(
            solve(&ranked, limits(9, None)).expect("small").chosen,
            vec![0, 3],
            "C ranks first"
        );
        let ranked = [a, cc, d, b];
        assert_eq!(
            solve(&ranked, limits(9, None)).expect("small").chosen,
            vec![0, 3],
            "A ranks first"
        );
    }

    #[test]
    fn exact_fractions_are_not_rounded_away() {
        // 1/3 + 1/3 + 1/3 = 1 exactly beats 0.9999 (which rounding to 4 places would tie).
        let cs = [c(3, "1/3"), c(3, "1/3"), c(3, "1/3"), c(9, "0.9999")];
        assert_eq!(solve(&cs, limits(9, None)).expect("small").chosen, vec![0, 1, 2]);
        // Denominators whose common multiple overflows i128 take the big-integer path.
        let primes = [
            1_000_003_i64,
            1_000_033,
            1_000_037,
            1_000_039,
            1_000_081,
            1_000_099,
        ];
        let cs: Vec<Candidate> = primes
            .iter()
            .map(|q| Candidate {
                effort: 3,
                points: Points::ratio(q - 1, *q).expect("nonzero"),
            })
            .collect();
        let plan = solve(&cs, limits(9, None)).expect("small");
        assert_eq!(plan, brute_force(&cs, limits(9, None)), "big-integer path");
    }

    #[test]
    fn a_question_too_large_to_solve_exactly_is_refused() {
        let cs: Vec<Candidate> = (0..1000).map(|i| c(9, &format!("{}", 1 + i % 7))).collect();
        let err = solve(&cs, limits(9000, Some(400))).expect_err("too large");
        assert!(err.steps > MAX_STEPS || err.cells > 0, "{err:?}");
        assert!(err.to_string().contains("maxActions"), "says what to do");
        // Without a binding count the same candidates are cheap.
        assert_eq!(
            solve(&cs, limits(9000, None)).expect("one column").chosen.len(),
            1000
        );
    }

    #[test]
    fn a_catalog_sized_question_is_fast() {
        let cs: Vec<Candidate> = (0..300)
            .map(|i| c(3 + (i % 7) as u32, &format!("{}/{}", 1 + i % 10, 1 + i % 13)))
            .collect();
        let start = std::time::Instant::now();
        let plan = solve(&cs, limits(600, Some(60))).expect("within limits");
        assert!(plan.chosen.len() <= 60 && plan.effort <= 600);
        // Generous for a debug build on a shared machine; release is ~10× faster.
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            start.elapsed()
        );
    }

    fn arb_candidates() -> impl Strategy<Value = Vec<Candidate>> {
        prop::collection::vec(
            (
                0u32..10,
                -2i64..40,
                prop::sample::select(vec![1i64, 2, 3, 4, 6, 7, 10_000]),
            ),
            0..=12,
        )
        .prop_map(|raw| {
            raw.into_iter()
                .map(|(effort, numerator, denominator)| Candidate {
                    effort,
                    points: Points::ratio(numerator, denominator).expect("nonzero"),
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(600))]

        #[test]
        fn equals_the_brute_force_optimum(
            cs in arb_candidates(),
            budget in 0u64..60,
            max_actions in prop::option::of(0u64..8),
        ) {
            let l = limits(budget, max_actions);
            let plan = solve(&cs, l).expect("small");
            let expected = brute_force(&cs, l);
            prop_assert!(plan.effort <= budget);
            prop_assert!(max_actions.is_none_or(|k| plan.chosen.len() as u64 <= k));
            prop_assert_eq!(
                plan.effort,
                plan.chosen.iter().map(|&i| u64::from(cs[i].effort)).sum::<u64>()
            );
            prop_assert_eq!(plan, expected);
        }

        /// Few distinct efforts and values: many equally good sets, so the tie-breaks decide.
        #[test]
        fn breaks_ties_like_the_brute_force(
            raw in prop::collection::vec((1u32..4, 1i64..4), 0..=12),
            budget in 0u64..20,
            max_actions in prop::option::of(0u64..6),
        ) {
            let cs: Vec<Candidate> = raw
                .into_iter()
                .map(|(effort, points)| Candidate { effort, points: Points::from_integer(points) })
                .collect();
            let l = limits(budget, max_actions);
            prop_assert_eq!(solve(&cs, l).expect("small"), brute_force(&cs, l));
        }
    }
}
