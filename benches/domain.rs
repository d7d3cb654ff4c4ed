//! Criterion benchmark of the pure score engine: `compute_score` and `rank` over one tenant's
//! 250 actions (the scale data set's shape), i.e. the CPU work behind every uncached read.
//!
//! ```sh
//! cargo bench --bench domain
//! ```

use criterion::{Criterion, criterion_group, criterion_main};
use securescore::domain::enums::{Category, Level, Status, Tier};
use securescore::domain::points::Points;
use securescore::domain::ranking::{RankInput, rank};
use securescore::domain::scoring::{ScoredAction, compute_score};
use std::hint::black_box;

/// 250 actions spread over categories, statuses, tiers and levels like the scale data set.
fn actions() -> Vec<ScoredAction> {
    let statuses = [
        Status::ToAddress,
        Status::Planned,
        Status::Completed,
        Status::RiskAccepted,
        Status::ResolvedThirdParty,
        Status::ResolvedAlternateMitigation,
    ];
    let levels = [Level::Low, Level::Moderate, Level::High, Level::Unknown];
    let tiers = [Tier::Core, Tier::DefenseInDepth, Tier::Advanced];
    (0..250_usize)
        .map(|i| {
            // Totals like real ones (users, devices), so partial credit is a proper fraction.
            let total = [1_i64, 3, 29, 15_063][i % 4];
            let status = statuses[(i * 7) % statuses.len()];
            ScoredAction {
                category: Category::ALL[i % Category::ALL.len()],
                max_points: Points::from(1 + (i % 10) as i64),
                deprecated: i % 97 == 0,
                status,
                implemented: if status == Status::Completed {
                    total
                } else {
                    (i as i64 * 3) % total
                },
                total,
                licensed: i % 5 != 0,
                tier: tiers[i % tiers.len()],
                user_impact: levels[(i / 3) % levels.len()],
                implementation_cost: levels[(i / 5) % levels.len()],
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let actions = actions();
    c.bench_function("compute_score/250 actions", |b| {
        b.iter(|| compute_score(black_box(&actions)))
    });
    let ids: Vec<String> = (0..actions.len()).map(|i| format!("control_{i:04}")).collect();
    let inputs: Vec<RankInput> = actions
        .iter()
        .zip(&ids)
        .map(|(a, id)| RankInput {
            control_id: id,
            status: a.status,
            points_remaining: a.points_remaining(),
            tier: a.tier,
            user_impact: a.user_impact,
            implementation_cost: a.implementation_cost,
        })
        .collect();
    c.bench_function("rank/250 actions", |b| b.iter(|| rank(black_box(&inputs))));
}

criterion_group!(benches, bench);
criterion_main!(benches);
