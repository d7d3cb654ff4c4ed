//! Points of one action (SPEC §2) and the score views of a tenant (SPEC §3).
//!
//! Everything here is exact rational arithmetic ([`Points`]) over plain data: partial credit
//! `max × implemented / total` is kept as the fraction it is, sums and percentages are exact, and
//! rounding happens only when a figure is presented ([`Points::round2`]). Deciding *which* actions
//! are applicable or licensed is the caller's job; see `licensing` for the latter.

use std::ops::{Add, AddAssign};

use super::enums::{Category, Level, Status, Tier};
pub use super::points::{Points, STORAGE_SCALE};

/// Implementation progress `implemented / total`, clamped to `[0, 1]`; 0 when `total <= 0`.
pub fn progress(implemented: i64, total: i64) -> Points {
    if total <= 0 || implemented <= 0 {
        Points::ZERO
    } else if implemented >= total {
        Points::from_integer(1)
    } else {
        Points::ratio(implemented, total).unwrap_or_default()
    }
}

/// Points one action earns (SPEC §2): `max` for COMPLETED and both RESOLVED_* statuses, 0 for
/// RISK_ACCEPTED (whatever the progress), `max × progress` for TO_ADDRESS and PLANNED.
pub fn achieved_points(max: &Points, status: Status, implemented: i64, total: i64) -> Points {
    match status {
        Status::Completed | Status::ResolvedThirdParty | Status::ResolvedAlternateMitigation => max.clone(),
        Status::RiskAccepted => Points::ZERO,
        Status::ToAddress | Status::Planned => max.mul(&progress(implemented, total)),
    }
}

/// One tenant's improvement action, reduced to what scoring and ranking need.
#[derive(Clone, Debug)]
pub struct ScoredAction {
    /// The control's category.
    pub category: Category,
    /// The control's `maxPoints`.
    pub max_points: Points,
    /// Deprecated controls count for nothing.
    pub deprecated: bool,
    /// The tenant's status for this action.
    pub status: Status,
    /// Units implemented.
    pub implemented: i64,
    /// Units in total.
    pub total: i64,
    /// Whether the tenant holds a licence for it (`licensing::licensing`).
    pub licensed: bool,
    /// The control's tier.
    pub tier: Tier,
    /// The control's user impact.
    pub user_impact: Level,
    /// The control's implementation cost.
    pub implementation_cost: Level,
}

impl ScoredAction {
    /// Maximum points this action contributes: `max_points`, or 0 when deprecated.
    pub fn effective_max(&self) -> Points {
        if self.deprecated {
            Points::ZERO
        } else {
            self.max_points.clone()
        }
    }

    /// Points achieved (0 when deprecated).
    pub fn achieved(&self) -> Points {
        if self.deprecated {
            Points::ZERO
        } else {
            achieved_points(&self.max_points, self.status, self.implemented, self.total)
        }
    }

    /// `max − achieved` (0 when deprecated).
    pub fn points_remaining(&self) -> Points {
        self.effective_max() - self.achieved()
    }
}

/// The score views of SPEC §3, in points, for a tenant or one category.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ScoreViews {
    /// Σ max.
    pub max_score: Points,
    /// Σ achieved.
    pub current: Points,
    /// current + what PLANNED actions would add when done.
    pub planned: Points,
    /// What the tenant could reach with the licences it holds.
    pub current_license: Points,
    /// Like `current_license`, but RISK_ACCEPTED actions stay as they are.
    pub achievable: Points,
    /// Σ achieved over actions not resolved by a claim (RESOLVED_*).
    pub verified: Points,
}

impl ScoreViews {
    /// The contribution of one action to every view (all zero for a deprecated action).
    pub fn of_action(action: &ScoredAction) -> ScoreViews {
        let max = action.effective_max();
        let achieved = action.achieved();
        let planned = if action.status == Status::Planned {
            max.clone()
        } else {
            achieved.clone()
        };
        let current_license = if action.licensed {
            max.clone()
        } else {
            achieved.clone()
        };
        let achievable = if action.licensed && action.status != Status::RiskAccepted {
            max.clone()
        } else {
            achieved.clone()
        };
        // Claims (third party, alternate mitigation) earn points but are not verified.
        let verified = match action.status {
            Status::ResolvedThirdParty | Status::ResolvedAlternateMitigation => Points::ZERO,
            _ => achieved.clone(),
        };
        ScoreViews {
            max_score: max,
            current: achieved,
            planned,
            current_license,
            achievable,
            verified,
        }
    }

    /// `points / max_score × 100`, exact; 0 when `max_score` is 0.
    pub fn percentage(&self, points: &Points) -> Points {
        points.percent_of(&self.max_score)
    }

    /// The six views in schema order (max, current, planned, currentLicense, achievable,
    /// verified), for storing and comparing them together.
    pub fn as_array(&self) -> [&Points; 6] {
        [
            &self.max_score,
            &self.current,
            &self.planned,
            &self.current_license,
            &self.achievable,
            &self.verified,
        ]
    }

    /// The inverse of [`ScoreViews::as_array`].
    pub fn from_array(
        [max_score, current, planned, current_license, achievable, verified]: [Points; 6],
    ) -> Self {
        ScoreViews {
            max_score,
            current,
            planned,
            current_license,
            achievable,
            verified,
        }
    }
}

impl AddAssign<&ScoreViews> for ScoreViews {
    fn add_assign(&mut self, other: &ScoreViews) {
        self.max_score += &other.max_score;
        self.current += &other.current;
        self.planned += &other.planned;
        self.current_license += &other.current_license;
        self.achievable += &other.achievable;
        self.verified += &other.verified;
    }
}

impl AddAssign for ScoreViews {
    fn add_assign(&mut self, other: ScoreViews) {
        *self += &other;
    }
}

impl Add for ScoreViews {
    type Output = ScoreViews;

    fn add(mut self, other: ScoreViews) -> ScoreViews {
        self += &other;
        self
    }
}

impl std::iter::Sum for ScoreViews {
    fn sum<I: Iterator<Item = ScoreViews>>(iter: I) -> ScoreViews {
        iter.fold(ScoreViews::default(), Add::add)
    }
}

impl<'a> std::iter::Sum<&'a ScoreViews> for ScoreViews {
    fn sum<I: Iterator<Item = &'a ScoreViews>>(iter: I) -> ScoreViews {
        iter.fold(ScoreViews::default(), |mut acc, v| {
            acc += v;
            acc
        })
    }
}

/// A tenant's score views overall and per category.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TenantScore {
    /// Views over all actions.
    pub overall: ScoreViews,
    /// One entry per category, always all five in `Category::ALL` order (zeros where none).
    pub categories: Vec<(Category, ScoreViews)>,
}

impl TenantScore {
    /// The views of one category (zeros if absent).
    pub fn category(&self, category: Category) -> ScoreViews {
        self.categories
            .iter()
            .find(|(c, _)| *c == category)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

/// Computes the SPEC §3 views of a set of applicable actions; deprecated ones contribute nothing.
pub fn compute_score(actions: &[ScoredAction]) -> TenantScore {
    let mut per_category = Category::ALL.map(|c| (c, ScoreViews::default()));
    for action in actions {
        let views = ScoreViews::of_action(action);
        if let Some((_, sum)) = per_category.iter_mut().find(|(c, _)| *c == action.category) {
            *sum += &views;
        }
    }
    // Summing the categories (rather than the actions again) makes overall == Σ categories by
    // construction.
    let overall = per_category.iter().map(|(_, v)| v).sum();
    TenantScore {
        overall,
        categories: per_category.to_vec(),
    }
}

/// Percentage points the tenant gains by finishing an action:
/// `points_remaining / tenant_max × 100`, 0 when `tenant_max` is 0.
pub fn score_impact(points_remaining: &Points, tenant_max: &Points) -> Points {
    points_remaining.percent_of(tenant_max)
}

/// Rounds to 2 decimal places, halves away from zero, for presentation only.
pub fn round2(d: &Points) -> rust_decimal::Decimal {
    d.round2()
}

/// Converts points to the stored integer (ten-thousandths), rounding to 4 dp (halves away from
/// zero) and saturating at the `i64` range.
pub fn to_storage(d: &Points) -> i64 {
    d.to_storage()
}

/// Converts a stored integer (ten-thousandths) back to points (exact).
pub fn from_storage(v: i64) -> Points {
    Points::from_storage(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Points {
        s.parse().expect("valid points literal in test")
    }

    fn action(category: Category, max: &str, status: Status, implemented: i64, total: i64) -> ScoredAction {
        ScoredAction {
            category,
            max_points: d(max),
            deprecated: false,
            status,
            implemented,
            total,
            licensed: true,
            tier: Tier::Core,
            user_impact: Level::Low,
            implementation_cost: Level::Low,
        }
    }

    #[test]
    fn progress_is_a_clamped_fraction() {
        let cases = [
            (0, 0, "0", "no units at all"),
            (3, 0, "0", "total zero with something implemented"),
            (1, -4, "0", "negative total"),
            (0, 4, "0", "nothing implemented"),
            (1, 4, "0.25", "a quarter"),
            (4, 4, "1", "everything"),
            (9, 4, "1", "implemented beyond total is clamped"),
            (-2, 4, "0", "negative implemented is clamped"),
        ];
        for (implemented, total, expected, why) in cases {
            assert_eq!(progress(implemented, total), d(expected), "{why}");
        }
    }

    #[test]
    fn achieved_points_follow_the_status_table() {
        use Status::*;
        #[rustfmt::skip]
        let cases = [
            ("8", ToAddress, 1, 4, "2", "TO_ADDRESS earns partial credit"),
            ("8", Planned, 3, 4, "6", "PLANNED earns partial credit"),
            ("8", ToAddress, 0, 0, "0", "TO_ADDRESS with total 0 earns nothing"),
            ("8", Planned, 5, 4, "8", "implemented > total is capped at max"),
            ("8", RiskAccepted, 0, 4, "0", "RISK_ACCEPTED earns nothing"),
            ("8", RiskAccepted, 3, 4, "0", "RISK_ACCEPTED earns nothing even with progress"),
            ("8", ResolvedThirdParty, 0, 4, "8", "RESOLVED_THIRD_PARTY earns max"),
            ("8", ResolvedAlternateMitigation, 0, 0, "8", "RESOLVED_ALTERNATE_MITIGATION earns max"),
            ("8", Completed, 4, 4, "8", "COMPLETED earns max"),
            ("8", Completed, 0, 0, "8", "COMPLETED earns max whatever the counts"),
            ("0", ResolvedThirdParty, 0, 0, "0", "max 0 earns 0"),
            ("0", ToAddress, 1, 2, "0", "max 0 with progress earns 0"),
            ("3", ToAddress, 1, 3, "1", "multiplying before dividing keeps thirds exact"),
            ("2.5", Planned, 1, 2, "1.25", "decimal max"),
            ("10", ToAddress, 1, 3, "10/3", "partial credit is an exact fraction"),
            ("2", Planned, 2, 3, "4/3", "two thirds of 2"),
            ("10", Planned, 2, 3, "20/3", "two thirds of 10"),
            ("0.0001", ToAddress, 1, 2, "0.00005", "half a ten-thousandth is kept"),
            ("0.0016", ToAddress, 15, 16, "0.0015", "fifteen sixteenths"),
            ("5", ToAddress, 15_062, 15_063, "75310/15063", "huge totals stay exact"),
        ];
        for (max, status, implemented, total, expected, why) in cases {
            assert_eq!(
                achieved_points(&d(max), status, implemented, total),
                d(expected),
                "{why}"
            );
        }
    }

    #[test]
    fn deprecated_actions_count_for_nothing() {
        let mut a = action(Category::Identity, "9", Status::Completed, 1, 1);
        a.deprecated = true;
        assert_eq!(a.effective_max(), Points::ZERO, "max of a deprecated action");
        assert_eq!(a.achieved(), Points::ZERO, "achieved of a deprecated action");
        assert_eq!(
            a.points_remaining(),
            Points::ZERO,
            "remaining of a deprecated action"
        );
        let score = compute_score(&[a]);
        assert_eq!(
            score.overall,
            ScoreViews::default(),
            "deprecated action adds no views"
        );
    }

    #[test]
    fn points_remaining_is_max_minus_achieved() {
        let cases = [
            (
                action(Category::Data, "10", Status::ToAddress, 1, 4),
                "7.5",
                "partial",
            ),
            (
                action(Category::Data, "10", Status::RiskAccepted, 1, 4),
                "10",
                "risk accepted",
            ),
            (
                action(Category::Data, "10", Status::Completed, 4, 4),
                "0",
                "completed",
            ),
        ];
        for (a, expected, why) in cases {
            assert_eq!(a.points_remaining(), d(expected), "{why}");
        }
    }

    #[test]
    fn single_action_views_follow_the_formulas() {
        use Status::*;
        // (status, licensed, implemented of 4, max 10) →
        // (current, planned, currentLicense, achievable, verified)
        #[rustfmt::skip]
        let cases = [
            (ToAddress, true, 1, ["2.5", "2.5", "10", "10", "2.5"], "to address, licensed"),
            (ToAddress, false, 1, ["2.5", "2.5", "2.5", "2.5", "2.5"], "unlicensed earns only what it has"),
            (Planned, true, 1, ["2.5", "10", "10", "10", "2.5"], "planned adds the rest to planned"),
            (Planned, false, 0, ["0", "10", "0", "0", "0"], "planned but unlicensed"),
            (RiskAccepted, true, 3, ["0", "0", "10", "0", "0"], "risk accepted with partial progress"),
            (RiskAccepted, false, 3, ["0", "0", "0", "0", "0"], "risk accepted, unlicensed"),
            (ResolvedThirdParty, true, 0, ["10", "10", "10", "10", "0"], "third party is a claim"),
            (ResolvedAlternateMitigation, false, 0, ["10", "10", "10", "10", "0"], "alternate mitigation is a claim"),
            (Completed, true, 4, ["10", "10", "10", "10", "10"], "completed is verified"),
        ];
        for (status, licensed, implemented, expected, why) in cases {
            let mut a = action(Category::Apps, "10", status, implemented, 4);
            a.licensed = licensed;
            let v = ScoreViews::of_action(&a);
            assert_eq!(v.max_score, d("10"), "{why}: max");
            let got = [v.current, v.planned, v.current_license, v.achievable, v.verified];
            assert_eq!(
                got,
                expected.map(d),
                "{why}: current, planned, currentLicense, achievable, verified"
            );
        }
    }

    #[test]
    fn tenant_score_sums_per_category_and_overall() {
        let actions = [
            action(Category::Identity, "10", Status::Completed, 1, 1),
            action(Category::Identity, "5", Status::Planned, 0, 2),
            action(Category::Device, "4", Status::ResolvedThirdParty, 0, 0),
            action(Category::Data, "6", Status::RiskAccepted, 0, 3),
        ];
        let score = compute_score(&actions);
        let order: Vec<Category> = score.categories.iter().map(|(c, _)| *c).collect();
        assert_eq!(order, Category::ALL.to_vec(), "all five categories in order");

        let identity = score.category(Category::Identity);
        assert_eq!(identity.max_score, d("15"), "identity max");
        assert_eq!(identity.current, d("10"), "identity current");
        assert_eq!(identity.planned, d("15"), "identity planned");

        let device = score.category(Category::Device);
        assert_eq!(device.current, d("4"), "device current");
        assert_eq!(device.verified, d("0"), "device verified excludes the claim");

        assert_eq!(
            score.category(Category::Apps),
            ScoreViews::default(),
            "apps empty → zeros"
        );

        let o = score.overall;
        assert_eq!(o.max_score, d("25"), "overall max");
        assert_eq!(o.current, d("14"), "overall current");
        assert_eq!(o.planned, d("19"), "overall planned");
        assert_eq!(o.current_license, d("25"), "overall currentLicense");
        assert_eq!(o.achievable, d("19"), "overall achievable excludes risk accepted");
        assert_eq!(o.verified, d("10"), "overall verified");
        assert_eq!(o.percentage(&o.current), d("56"), "14 of 25 is 56 %");
    }

    #[test]
    fn empty_tenant_has_zero_views_and_zero_percentages() {
        let score = compute_score(&[]);
        assert_eq!(score.overall, ScoreViews::default(), "no actions");
        assert_eq!(score.categories.len(), 5, "categories still listed");
        assert_eq!(
            score.overall.percentage(&d("3")),
            Points::ZERO,
            "maxScore 0 → 0 %"
        );
    }

    #[test]
    fn score_impact_is_a_percentage_of_the_tenant_max() {
        let cases = [
            ("5", "200", "2.5", "5 of 200"),
            ("0", "200", "0", "nothing remaining"),
            ("5", "0", "0", "tenant max 0"),
            ("1", "3", "100/3", "thirds stay exact"),
        ];
        for (remaining, max, expected, why) in cases {
            assert_eq!(score_impact(&d(remaining), &d(max)), d(expected), "{why}");
        }
    }

    #[test]
    fn percentages_come_from_exact_points() {
        // A third of a 5-point action in a 14-point tenant: 5/3 of 14 is 11.9047… %, which
        // shows as 11.90 (from a partial credit rounded to 1.6667 first it would be 11.91).
        let actions = [
            action(Category::Identity, "5", Status::ToAddress, 1, 3),
            action(Category::Apps, "9", Status::ToAddress, 0, 3),
        ];
        let o = compute_score(&actions).overall;
        assert_eq!(o.current, d("5/3"), "exact partial credit");
        assert_eq!(o.percentage(&o.current), d("250/21"), "exact percentage");
        assert_eq!(
            o.percentage(&o.current).round2(),
            "11.90".parse().expect("decimal"),
            "presented"
        );
    }

    fn arb_action() -> impl Strategy<Value = ScoredAction> {
        (
            prop::sample::select(Category::ALL.to_vec()),
            0_i64..=200_000,
            any::<bool>(),
            prop::sample::select(Status::ALL.to_vec()),
            -3_i64..30,
            -3_i64..30,
            any::<bool>(),
        )
            .prop_map(
                |(category, max, deprecated, status, implemented, total, licensed)| ScoredAction {
                    category,
                    max_points: Points::from_storage(max),
                    deprecated,
                    status,
                    implemented,
                    total,
                    licensed,
                    tier: Tier::Core,
                    user_impact: Level::Unknown,
                    implementation_cost: Level::Unknown,
                },
            )
    }

    fn assert_invariants(v: &ScoreViews, what: &str) {
        assert!(Points::ZERO <= v.verified, "{what}: 0 ≤ verified ({v:?})");
        assert!(v.verified <= v.current, "{what}: verified ≤ current ({v:?})");
        assert!(v.current <= v.achievable, "{what}: current ≤ achievable ({v:?})");
        assert!(
            v.achievable <= v.current_license,
            "{what}: achievable ≤ currentLicense ({v:?})"
        );
        assert!(
            v.current_license <= v.max_score,
            "{what}: currentLicense ≤ maxScore ({v:?})"
        );
        assert!(v.current <= v.planned, "{what}: current ≤ planned ({v:?})");
        assert!(v.planned <= v.max_score, "{what}: planned ≤ maxScore ({v:?})");
    }

    proptest! {
        #[test]
        fn views_are_ordered_overall_and_per_category(actions in prop::collection::vec(arb_action(), 0..40)) {
            let score = compute_score(&actions);
            assert_invariants(&score.overall, "overall");
            for (category, views) in &score.categories {
                assert_invariants(views, category.as_str());
            }
        }

        #[test]
        fn categories_sum_to_the_overall_views(actions in prop::collection::vec(arb_action(), 0..40)) {
            let score = compute_score(&actions);
            let sum: ScoreViews = score.categories.iter().map(|(_, v)| v).sum();
            prop_assert_eq!(&sum, &score.overall);
            let direct: ScoreViews = actions.iter().map(ScoreViews::of_action).sum();
            prop_assert_eq!(direct, score.overall);
        }

        #[test]
        fn the_order_of_actions_does_not_change_the_score(actions in prop::collection::vec(arb_action(), 0..40)) {
            let mut reversed = actions.clone();
            reversed.reverse();
            prop_assert_eq!(compute_score(&reversed), compute_score(&actions));
        }

        #[test]
        fn achieved_never_exceeds_max(max in 0_i64..=1_000_000, status in prop::sample::select(Status::ALL.to_vec()), implemented in any::<i64>(), total in any::<i64>()) {
            let max = Points::from_storage(max);
            let achieved = achieved_points(&max, status, implemented, total);
            prop_assert!(Points::ZERO <= achieved && achieved <= max);
        }
    }
}
