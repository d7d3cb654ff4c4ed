//! Ranking of a tenant's improvement actions (SPEC §4).
//!
//! `priority = pointsRemaining / (w(implementationCost) + w(userImpact) + complexity(tier))`.
//! Points and priorities are exact rationals ([`Points`]), so two actions whose priorities are
//! equal as fractions (e.g. 2/4 and 3/6, or two thirds of 5 points against a third of 10) really
//! tie and fall through to the tie-breakers instead of being separated by a rounding digit.

use std::cmp::Ordering;

use super::points::Points;

use super::enums::{Level, LevelExt, Status, Tier, TierExt};

/// What ranking needs to know about one action.
#[derive(Clone, Debug, PartialEq)]
pub struct RankInput<'a> {
    /// The control's stable id (last tie-breaker, ascending).
    pub control_id: &'a str,
    /// The action's status; only TO_ADDRESS and PLANNED are ranked.
    pub status: Status,
    /// `max − achieved`.
    pub points_remaining: Points,
    /// The control's tier.
    pub tier: Tier,
    /// The control's user impact.
    pub user_impact: Level,
    /// The control's implementation cost.
    pub implementation_cost: Level,
}

impl RankInput<'_> {
    /// The divisor of the priority formula (always 3..=9).
    pub fn effort(&self) -> u32 {
        effort(self.implementation_cost, self.user_impact, self.tier)
    }

    /// This action's priority.
    pub fn priority(&self) -> Points {
        priority(
            &self.points_remaining,
            self.implementation_cost,
            self.user_impact,
            self.tier,
        )
    }
}

/// An action's effort: `w(implementation_cost) + w(user_impact) + complexity(tier)`, the
/// divisor of the priority formula (3..=9); also the effort units of a plan (`planner`).
pub fn effort(implementation_cost: Level, user_impact: Level, tier: Tier) -> u32 {
    implementation_cost.weight() + user_impact.weight() + tier.complexity()
}

/// `points_remaining / (w(implementation_cost) + w(user_impact) + complexity(tier))`, exact.
pub fn priority(
    points_remaining: &Points,
    implementation_cost: Level,
    user_impact: Level,
    tier: Tier,
) -> Points {
    // The divisor is at least 3 (every term is at least 1), so this never divides by zero.
    points_remaining
        .checked_div(&Points::from_integer(i64::from(effort(
            implementation_cost,
            user_impact,
            tier,
        ))))
        .unwrap_or_default()
}

/// Whether an action takes part in ranking: something left to gain and status TO_ADDRESS or
/// PLANNED.
pub fn is_rankable(status: Status, points_remaining: &Points) -> bool {
    points_remaining.is_positive() && matches!(status, Status::ToAddress | Status::Planned)
}

/// The ranking order: `Less` means `a` ranks before (is more urgent than) `b`.
///
/// Higher priority first, compared exactly as `a.remaining × effort(b)` vs
/// `b.remaining × effort(a)` (no division); then larger `points_remaining`; then `control_id`
/// ascending.
pub fn compare_priority(a: &RankInput, b: &RankInput) -> Ordering {
    let left = a.points_remaining.mul_int(i64::from(b.effort()));
    let right = b.points_remaining.mul_int(i64::from(a.effort()));
    right
        .cmp(&left)
        .then_with(|| b.points_remaining.cmp(&a.points_remaining))
        .then_with(|| a.control_id.cmp(b.control_id))
}

/// Ranks of `actions`, in input order: `Some(1)` for the most urgent rankable action, a dense
/// `1..=n` over the rankable ones, `None` for the others.
pub fn rank(actions: &[RankInput]) -> Vec<Option<u32>> {
    let mut order: Vec<usize> = (0..actions.len())
        .filter(|&i| is_rankable(actions[i].status, &actions[i].points_remaining))
        .collect();
    order.sort_by(|&i, &j| compare_priority(&actions[i], &actions[j]));
    let mut ranks = vec![None; actions.len()];
    for (position, index) in order.into_iter().enumerate() {
        // A tenant has far fewer than u32::MAX actions; saturate rather than wrap just in case.
        ranks[index] = Some(u32::try_from(position + 1).unwrap_or(u32::MAX));
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Points {
        s.parse().expect("valid points literal in test")
    }

    fn input<'a>(id: &'a str, remaining: &str, cost: Level, impact: Level, tier: Tier) -> RankInput<'a> {
        RankInput {
            control_id: id,
            status: Status::ToAddress,
            points_remaining: d(remaining),
            tier,
            user_impact: impact,
            implementation_cost: cost,
        }
    }

    #[test]
    fn priority_divides_remaining_points_by_effort() {
        use Level::*;
        let cases = [
            ("9", Low, Low, Tier::Core, "3", "minimum effort 3"),
            ("9", High, High, Tier::Advanced, "1", "maximum effort 9"),
            (
                "10",
                Unknown,
                Moderate,
                Tier::DefenseInDepth,
                "5/3",
                "UNKNOWN weighs 2",
            ),
            ("0", Low, Low, Tier::Core, "0", "nothing remaining"),
        ];
        for (remaining, cost, impact, tier, expected, why) in cases {
            assert_eq!(priority(&d(remaining), cost, impact, tier), d(expected), "{why}");
        }
    }

    #[test]
    fn only_open_actions_with_points_left_are_rankable() {
        use Status::*;
        let cases = [
            (ToAddress, "1", true, "to address with points"),
            (Planned, "0.0001", true, "planned with points"),
            (ToAddress, "0", false, "nothing left"),
            (Planned, "-1", false, "negative remaining"),
            (RiskAccepted, "5", false, "risk accepted"),
            (ResolvedThirdParty, "5", false, "resolved third party"),
            (
                ResolvedAlternateMitigation,
                "5",
                false,
                "resolved alternate mitigation",
            ),
            (Completed, "5", false, "completed"),
        ];
        for (status, remaining, expected, why) in cases {
            assert_eq!(is_rankable(status, &d(remaining)), expected, "{why}");
        }
    }

    #[test]
    fn ranks_by_priority_then_remaining_then_id() {
        use Level::*;
        let mut risk = input("Z", "100", Low, Low, Tier::Core);
        risk.status = Status::RiskAccepted;
        let actions = [
            input("A", "6", Low, Low, Tier::Core),                      // 6/3 = 2
            input("B", "9", High, High, Tier::Advanced),                // 9/9 = 1
            input("C", "4", Moderate, Low, Tier::Core),                 // 4/4 = 1, less remaining than B
            input("D", "12", Moderate, Moderate, Tier::DefenseInDepth), // 12/6 = 2, more than A
            input("E", "0", Low, Low, Tier::Core),                      // nothing left
            risk,                                                       // not rankable
            input("F", "4", Low, Moderate, Tier::Core),                 // ties C exactly → id
        ];
        let ranks = rank(&actions);
        assert_eq!(
            ranks,
            vec![Some(2), Some(3), Some(4), Some(1), None, None, Some(5)],
            "D (2, more remaining) > A (2) > B (1, 9 left) > C (1, 4 left, id C) > F"
        );
    }

    #[test]
    fn equal_priorities_fall_through_to_remaining_points() {
        use Level::*;
        // 1/3 and 3/9 are the same priority; the action with more points left wins.
        let small = input("a", "1", Low, Low, Tier::Core);
        let large = input("b", "3", High, High, Tier::Advanced);
        assert_eq!(small.priority(), large.priority(), "same priority");
        assert_eq!(
            compare_priority(&large, &small),
            Ordering::Less,
            "tie broken by remaining"
        );
        assert_eq!(
            compare_priority(&small, &large),
            Ordering::Greater,
            "antisymmetric"
        );
    }

    #[test]
    fn exact_ties_are_not_broken_by_rounded_partial_credit() {
        use super::super::scoring::achieved_points;
        use Level::*;
        // 2 of 3 implemented of a 5-point action leaves exactly 5/3 (1.6667 once rounded), at
        // effort 5: priority exactly 1/3, the same as 3 points left at effort 9. The tie goes
        // to the larger pointsRemaining (SPEC §4), not to whichever rounding went up.
        let max = d("5");
        let remaining = &max - &achieved_points(&max, Status::ToAddress, 2, 3);
        assert_eq!(remaining, d("5/3"), "exact remaining");
        let partial = RankInput {
            points_remaining: remaining,
            ..input("a", "0", Moderate, Low, Tier::DefenseInDepth)
        };
        let whole = input("b", "3", High, High, Tier::Advanced);
        assert_eq!(partial.priority(), whole.priority(), "same priority 1/3");
        assert_eq!(
            rank(&[partial, whole]),
            vec![Some(2), Some(1)],
            "the action with 3 points left ranks first"
        );
    }

    #[test]
    fn no_actions_no_ranks() {
        assert!(rank(&[]).is_empty(), "empty input");
    }

    fn arb_input() -> impl Strategy<Value = (String, Status, i64, Tier, Level, Level)> {
        (
            "[a-e]{1,2}",
            prop::sample::select(Status::ALL.to_vec()),
            -2_i64..50,
            prop::sample::select(Tier::ALL.to_vec()),
            prop::sample::select(Level::ALL.to_vec()),
            prop::sample::select(Level::ALL.to_vec()),
        )
    }

    proptest! {
        #[test]
        fn ranks_are_a_dense_permutation_consistent_with_the_comparator(
            raw in prop::collection::vec(arb_input(), 0..30)
        ) {
            let actions: Vec<RankInput> = raw
                .iter()
                .map(|(id, status, remaining, tier, impact, cost)| RankInput {
                    control_id: id,
                    status: *status,
                    points_remaining: Points::ratio(*remaining, 10).expect("nonzero"),
                    tier: *tier,
                    user_impact: *impact,
                    implementation_cost: *cost,
                })
                .collect();
            let ranks = rank(&actions);
            prop_assert_eq!(ranks.len(), actions.len());

            let mut seen: Vec<u32> = Vec::new();
            for (a, r) in actions.iter().zip(&ranks) {
                prop_assert_eq!(r.is_some(), is_rankable(a.status, &a.points_remaining));
                seen.extend(*r);
            }
            seen.sort_unstable();
            let expected: Vec<u32> = (1..=u32::try_from(seen.len()).unwrap_or(u32::MAX)).collect();
            prop_assert_eq!(seen, expected);

            for (a, ra) in actions.iter().zip(&ranks) {
                for (b, rb) in actions.iter().zip(&ranks) {
                    if let (Some(ra), Some(rb)) = (ra, rb) {
                        if ra < rb {
                            prop_assert_ne!(compare_priority(a, b), Ordering::Greater);
                        }
                        if compare_priority(a, b) == Ordering::Less {
                            prop_assert!(ra < rb);
                        }
                    }
                }
            }
        }
    }
}
