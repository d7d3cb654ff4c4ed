//! The score engine against a reference implementation of SPEC §2–4 written directly in big
//! rationals, on random tenants: every view, percentage, score impact and rank must equal the
//! reference's exact value, and every 2-decimal presentation must equal the exact value rounded
//! half away from zero.
//!
//! The generator favours the cases where approximate arithmetic goes wrong: many exact ties
//! (few distinct maxima and efforts), totals of zero, huge totals (15,063 devices), max 0,
//! 100 % progress and implemented beyond total.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, Zero};
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::enums::{Category, Level, LevelExt, Status, Tier, TierExt};
use super::points::Points;
use super::ranking::{RankInput, rank};
use super::scoring::{ScoredAction, compute_score, score_impact};

fn big(n: i64) -> BigRational {
    BigRational::from_integer(BigInt::from(n))
}

/// SPEC §2, literally: progress = implemented / total (0 when total = 0), clamped to [0, 1].
fn reference_achieved(a: &ScoredAction) -> BigRational {
    if a.deprecated {
        return BigRational::zero();
    }
    let max = a.max_points.to_big();
    match a.status {
        Status::Completed | Status::ResolvedThirdParty | Status::ResolvedAlternateMitigation => max,
        Status::RiskAccepted => BigRational::zero(),
        Status::ToAddress | Status::Planned => {
            let progress = if a.total <= 0 {
                BigRational::zero()
            } else {
                (big(a.implemented) / big(a.total)).clamp(big(0), big(1))
            };
            max * progress
        }
    }
}

fn reference_max(a: &ScoredAction) -> BigRational {
    if a.deprecated {
        BigRational::zero()
    } else {
        a.max_points.to_big()
    }
}

/// SPEC §3: [max, current, planned, currentLicense, achievable, verified] over `actions`.
fn reference_views<'a>(actions: impl Iterator<Item = &'a ScoredAction>) -> [BigRational; 6] {
    let mut v: [BigRational; 6] = Default::default();
    for a in actions {
        let (max, achieved) = (reference_max(a), reference_achieved(a));
        v[0] += &max;
        v[1] += &achieved;
        v[2] += if a.status == Status::Planned {
            &max
        } else {
            &achieved
        };
        v[3] += if a.licensed { &max } else { &achieved };
        v[4] += if a.licensed && a.status != Status::RiskAccepted {
            &max
        } else {
            &achieved
        };
        if !matches!(
            a.status,
            Status::ResolvedThirdParty | Status::ResolvedAlternateMitigation
        ) {
            v[5] += &achieved;
        }
    }
    v
}

fn reference_percentage(points: &BigRational, max: &BigRational) -> BigRational {
    if max.is_zero() {
        BigRational::zero()
    } else {
        points * big(100) / max
    }
}

/// Halves away from zero: sign(x) × floor(|x| × 100 + 1/2) / 100.
fn reference_round2(x: &BigRational) -> Decimal {
    let half = BigRational::new(BigInt::from(1), BigInt::from(2));
    let magnitude = (x.abs() * big(100) + half).floor().to_integer();
    let cents = if x.is_negative() { -magnitude } else { magnitude };
    let cents: i128 = cents.try_into().expect("test figures fit in i128");
    Decimal::from_i128_with_scale(cents, 2)
}

/// SPEC §4: rankable actions sorted by priority desc, pointsRemaining desc, id asc.
fn reference_ranks(actions: &[(String, ScoredAction)]) -> Vec<Option<u32>> {
    let remaining: Vec<BigRational> = actions
        .iter()
        .map(|(_, a)| reference_max(a) - reference_achieved(a))
        .collect();
    let mut order: Vec<usize> = (0..actions.len())
        .filter(|&i| {
            remaining[i].is_positive() && matches!(actions[i].1.status, Status::ToAddress | Status::Planned)
        })
        .collect();
    let priority = |i: usize| {
        let a = &actions[i].1;
        let effort = a.implementation_cost.weight() + a.user_impact.weight() + a.tier.complexity();
        &remaining[i] / big(i64::from(effort))
    };
    order.sort_by(|&i, &j| {
        priority(j)
            .cmp(&priority(i))
            .then_with(|| remaining[j].cmp(&remaining[i]))
            .then_with(|| actions[i].0.cmp(&actions[j].0))
    });
    let mut ranks = vec![None; actions.len()];
    for (position, i) in order.into_iter().enumerate() {
        ranks[i] = Some(u32::try_from(position + 1).expect("few actions"));
    }
    ranks
}

fn arb_action() -> impl Strategy<Value = ScoredAction> {
    (
        prop::sample::select(Category::ALL.to_vec()),
        // Few distinct maxima (ties), max 0, ten-thousandths and imported maxima above 10.
        prop_oneof![
            prop::sample::select(vec![0_i64, 10_000, 20_000, 30_000, 50_000, 90_000, 100_000]),
            0_i64..=1_000_000,
        ],
        prop::bool::weighted(0.1),
        prop::sample::select(Status::ALL.to_vec()),
        prop_oneof![
            // Small totals, total 0, huge totals (15,063 devices), full and over-full progress.
            (0_i64..=4, 0_i64..=4),
            (0_i64..=15_063, Just(15_063_i64)),
            (0_i64..=30, 1_i64..=29),
            Just((7_i64, 7_i64)),
            Just((9_i64, 4_i64)),
        ],
        any::<bool>(),
        prop::sample::select(Tier::ALL.to_vec()),
        prop::sample::select(Level::ALL.to_vec()),
        prop::sample::select(Level::ALL.to_vec()),
    )
        .prop_map(
            |(category, max, deprecated, status, (implemented, total), licensed, tier, user_impact, cost)| {
                ScoredAction {
                    category,
                    max_points: Points::from_storage(max),
                    deprecated,
                    status,
                    implemented,
                    total,
                    licensed,
                    tier,
                    user_impact,
                    implementation_cost: cost,
                }
            },
        )
}

fn arb_tenant() -> impl Strategy<Value = Vec<(String, ScoredAction)>> {
    prop::collection::vec(arb_action(), 0..60).prop_map(|actions| {
        actions
            .into_iter()
            .enumerate()
            // Ids whose text order differs from the generation order.
            .map(|(i, a)| (format!("C{}", (i * 37) % 101), a))
            .collect()
    })
}

fn assert_same(engine: &Points, reference: &BigRational, what: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(&engine.to_big(), reference, "{} (exact)", what);
    prop_assert_eq!(
        engine.round2(),
        reference_round2(reference),
        "{} (presented)",
        what
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn the_engine_equals_exact_rational_arithmetic(tenant in arb_tenant()) {
        let actions: Vec<ScoredAction> = tenant.iter().map(|(_, a)| a.clone()).collect();
        let score = compute_score(&actions);

        let names = ["max", "current", "planned", "currentLicense", "achievable", "verified"];
        let overall = reference_views(actions.iter());
        for ((engine, reference), name) in score.overall.as_array().into_iter().zip(&overall).zip(names) {
            assert_same(engine, reference, name)?;
            assert_same(
                &score.overall.percentage(engine),
                &reference_percentage(reference, &overall[0]),
                &format!("{name} %"),
            )?;
        }
        for (category, views) in &score.categories {
            let reference = reference_views(actions.iter().filter(|a| a.category == *category));
            for ((engine, reference_view), name) in views.as_array().into_iter().zip(&reference).zip(names) {
                assert_same(engine, reference_view, &format!("{category:?} {name}"))?;
                assert_same(
                    &views.percentage(engine),
                    &reference_percentage(reference_view, &reference[0]),
                    &format!("{category:?} {name} %"),
                )?;
            }
        }

        for (id, a) in &tenant {
            let remaining = reference_max(a) - reference_achieved(a);
            assert_same(&a.achieved(), &reference_achieved(a), &format!("{id} achieved"))?;
            assert_same(&a.points_remaining(), &remaining, &format!("{id} remaining"))?;
            assert_same(
                &score_impact(&a.points_remaining(), &score.overall.max_score),
                &reference_percentage(&remaining, &overall[0]),
                &format!("{id} scoreImpact"),
            )?;
        }

        let inputs: Vec<RankInput> = tenant
            .iter()
            .map(|(id, a)| RankInput {
                control_id: id,
                status: a.status,
                points_remaining: a.points_remaining(),
                tier: a.tier,
                user_impact: a.user_impact,
                implementation_cost: a.implementation_cost,
            })
            .collect();
        prop_assert_eq!(rank(&inputs), reference_ranks(&tenant));
    }

    #[test]
    fn sums_do_not_depend_on_the_order_of_actions(mut tenant in arb_tenant(), seed in any::<u64>()) {
        let before = compute_score(&tenant.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>());
        // A deterministic shuffle.
        let n = tenant.len().max(1);
        tenant.rotate_left(usize::try_from(seed % n as u64).unwrap_or(0));
        tenant.reverse();
        let after = compute_score(&tenant.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>());
        prop_assert_eq!(before, after);
    }
}
