//! Private cohort comparisons (SPEC §8): cells that partition the tenants, and calibrated noise
//! fixed per cell, day and statistic.
//!
//! **Cells.** Every tenant is in exactly one cell on a day: its industry × its seat band × its
//! [`LicenseTier`]. A cohort (`ALL_TENANTS`, `SIMILAR_SIZE`, `SAME_INDUSTRY`, `CUSTOM`) is a union
//! of cells, so two cohorts differ by whole cells, never by one organisation; a cell with fewer
//! than *k* tenants the caller cannot read is left out of every union (the service decides that).
//!
//! **Noise.** Each cell's [`Totals`] (count, sum of centred percentages, a histogram of
//! percentages, per-category points and max) get Laplace noise whose scale is the statistic's
//! sensitivity (what adding or removing one tenant can change) divided by its share of the
//! per-cell, per-day budget ε ([`Params`]). The noise of a (cell, day, statistic) is drawn from a
//! keyed hash of a server secret, the cell and the day ([`cell_seed`]), so asking again, asking
//! for another union containing the cell, or asking from another server process gives the same
//! noise: it cannot be averaged away within a day. Because cells are disjoint, one tenant's
//! privacy loss per day is the ε of its own cell (parallel composition), whatever the number of
//! cohorts asked for.
//!
//! Published figures are post-processing of the noisy totals ([`publish`]): mean = 50 + noisy
//! centred sum / noisy count; quartiles from the noisy histogram; category averages = noisy
//! sums / noisy count, all clamped to their possible range. No I/O and no clock here; the secret
//! and the day are passed in.
//!
//! **Peer adoption** of a control (how many organisations of a cohort completed, resolved,
//! planned or risk-accepted it) uses the same cells, k rule and secret. Each member of a cell is
//! in exactly one [`AdoptionClass`] per control, so adding or removing one tenant changes one
//! class count of the control by 1 (L1 sensitivity 1): Laplace noise of scale 1/ε on each of the
//! five counts makes a control's counts ε-private per cell and day. The noise is fixed per cell,
//! day and control ([`adoption_seed`]). Across controls budgets add up (basic composition): the
//! statuses of N controls of one organisation are together protected at N·ε per day.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::cohort::SeatBand;
use super::enums::{Category, Status, UnknownValue};

/// A tenant's licence tier on a day: the highest tier whose plan it holds (an unexpired licence
/// with at least one seat purchased). Ordered: `NONE` < `P1` < `P2`.
///
/// - `P2`: holds `AAD_P2` (Entra ID P2: M365 E5, Entra ID P2 and similar bundles);
/// - `P1`: holds `AAD_P1` but not `AAD_P2` (M365 E3, Business Premium, Entra ID P1, …);
/// - `NONE`: neither.
///
/// Plans overlap (every `AAD_P2` bundle also grants `AAD_P1`), so cohorts by plan could be
/// differenced; tiers are disjoint, so cells partition the tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LicenseTier {
    #[serde(rename = "NONE")]
    None,
    #[serde(rename = "P1")]
    P1,
    #[serde(rename = "P2")]
    P2,
}

impl LicenseTier {
    /// Every tier, lowest first.
    pub const ALL: [Self; 3] = [Self::None, Self::P1, Self::P2];

    /// The tier of a tenant holding `plans`.
    pub fn of<'a>(plans: impl IntoIterator<Item = &'a str>) -> LicenseTier {
        plans
            .into_iter()
            .map(|p| match p {
                "AAD_P2" => Self::P2,
                "AAD_P1" => Self::P1,
                _ => Self::None,
            })
            .max()
            .unwrap_or(Self::None)
    }

    /// The tiers of the tenants that hold `plan`, for `CUSTOM` cohorts given by plan: `AAD_P1`
    /// is held from tier `P1` up, `AAD_P2` in tier `P2`. `None` for a plan that does not define
    /// a tier (a cohort by it would not be a union of cells).
    pub fn holding(plan: &str) -> Option<&'static [LicenseTier]> {
        match plan {
            "AAD_P1" => Some(&[Self::P1, Self::P2]),
            "AAD_P2" => Some(&[Self::P2]),
            _ => None,
        }
    }

    /// The canonical spelling: `NONE`, `P1`, `P2`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::P1 => "P1",
            Self::P2 => "P2",
        }
    }
}

impl std::str::FromStr for LicenseTier {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownValue {
                kind: "LicenseTier",
                value: s.to_owned(),
            })
    }
}

impl std::fmt::Display for LicenseTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One cell of the partition of tenants.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cell {
    pub industry: String,
    pub band: SeatBand,
    pub tier: LicenseTier,
}

/// Prefix of the cohort keys of cells.
pub const CELL_PREFIX: &str = "CELL:";

impl Cell {
    /// The stored key, e.g. `CELL:SEATS_101_500:P1:finance` (the industry, which is free text,
    /// last so it may contain `:`).
    pub fn key(&self) -> String {
        format!("{CELL_PREFIX}{}:{}:{}", self.band, self.tier, self.industry)
    }

    /// The cell of a key written by [`Cell::key`].
    pub fn parse_key(key: &str) -> Option<Cell> {
        let mut parts = key.strip_prefix(CELL_PREFIX)?.splitn(3, ':');
        let band = parts.next()?.parse().ok()?;
        let tier = parts.next()?.parse().ok()?;
        let industry = parts.next()?.to_string();
        Some(Cell { industry, band, tier })
    }
}

/// Buckets of the percentage histogram: 10 of 10 percentage points (100 % in the last).
pub const BINS: usize = 10;
/// Categories in [`Category::ALL`] order.
pub const CATEGORIES: usize = Category::ALL.len();

/// Sums over a cell's members (exact when stored; noisy once [`noise`] is added). Also one
/// member's contribution ([`Totals::member`]), so the members a caller can read can be
/// subtracted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Number of members.
    pub count: f64,
    /// Σ (percentage − 50): centring halves the sensitivity of the sum (|x − 50| ≤ 50).
    pub centered_sum: f64,
    /// Members per 10-point bucket of their percentage.
    pub histogram: [f64; BINS],
    /// Σ points per category (after [`POINTS_BOUND`] clipping).
    pub points: [f64; CATEGORIES],
    /// Σ max per category (after clipping).
    pub max: [f64; CATEGORIES],
}

impl Totals {
    /// One member's contribution: its percentage (clamped to 0–100) and `(category, points,
    /// max)`; when its max over all categories exceeds `points_bound`, its category figures are
    /// scaled down to that total, which bounds what one tenant can add to the category sums.
    pub fn member(percentage: f64, categories: &[(Category, f64, f64)], points_bound: f64) -> Totals {
        let pct = if percentage.is_finite() {
            percentage.clamp(0.0, 100.0)
        } else {
            0.0
        };
        let mut t = Totals {
            count: 1.0,
            centered_sum: pct - 50.0,
            ..Totals::default()
        };
        t.histogram[bin_of(pct)] = 1.0;
        let total_max: f64 = categories.iter().map(|(_, _, m)| m.max(0.0)).sum();
        let scale = if total_max > points_bound && total_max > 0.0 {
            points_bound / total_max
        } else {
            1.0
        };
        for (category, points, max) in categories {
            let Some(i) = Category::ALL.iter().position(|c| c == category) else {
                continue;
            };
            let max = max.max(0.0) * scale;
            t.max[i] += max;
            t.points[i] += (points * scale).clamp(0.0, max);
        }
        t
    }

    /// Adds `other` (or subtracts it with `sign = -1`).
    pub fn add(&mut self, other: &Totals, sign: f64) {
        self.count += sign * other.count;
        self.centered_sum += sign * other.centered_sum;
        for i in 0..BINS {
            self.histogram[i] += sign * other.histogram[i];
        }
        for i in 0..CATEGORIES {
            self.points[i] += sign * other.points[i];
            self.max[i] += sign * other.max[i];
        }
    }
}

fn bin_of(pct: f64) -> usize {
    ((pct / (100.0 / BINS as f64)) as usize).min(BINS - 1)
}

/// Shares of the per-cell budget ε: count, centred sum, histogram, categories (sum to 1).
pub const BUDGET_SHARES: [f64; 4] = [0.15, 0.45, 0.2, 0.2];

/// Privacy parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Fewest tenants the caller cannot read a cell needs to count in a cohort.
    pub k: usize,
    /// Privacy budget per cell and day, split by [`BUDGET_SHARES`].
    pub epsilon: f64,
}

/// Most points of max one tenant adds to the category sums; a tenant with more (over all
/// categories) is scaled down to it, keeping its ratios. The shipped catalog's total is 265.
/// Fixed rather than configurable because it applies when a day's cells are written.
pub const POINTS_BOUND: f64 = 300.0;

impl Params {
    /// Laplace scales `[count, centred sum, histogram bucket, category sum]`: sensitivity / ε
    /// share. Adding or removing one tenant changes the count by 1, the centred sum by ≤ 50, one
    /// bucket by 1 (L1 over the histogram: 1) and the category vector by ≤ 2·[`POINTS_BOUND`] in
    /// L1 (points ≤ max, Σ max ≤ the bound).
    pub fn scales(&self) -> [f64; 4] {
        let sensitivity = [1.0, 50.0, 1.0, 2.0 * POINTS_BOUND];
        let mut out = [0.0; 4];
        for i in 0..4 {
            out[i] = sensitivity[i] / (self.epsilon * BUDGET_SHARES[i]);
        }
        out
    }
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The seed of a cell's noise on a day: HMAC-SHA256(secret, version ‖ cell key ‖ day).
pub fn cell_seed(secret: &[u8], cell: &Cell, day: NaiveDate) -> [u8; 32] {
    let message = format!("securescore/cohort-noise/v1\n{}\n{day}", cell.key());
    hmac_sha256(secret, message.as_bytes())
}

/// A Laplace(0, `scale`) draw determined by `seed` and the statistic's index: a uniform
/// u ∈ (−½, ½) from SHA-256(seed ‖ index), then −scale·sgn(u)·ln(1 − 2|u|).
fn laplace(seed: &[u8; 32], index: u32, scale: f64) -> f64 {
    let digest = Sha256::new()
        .chain_update(seed)
        .chain_update(index.to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    // 53 random bits, offset by ½ so u is never exactly ±½.
    let u = ((u64::from_be_bytes(bytes) >> 11) as f64 + 0.5) / (1u64 << 53) as f64 - 0.5;
    -scale * u.signum() * (1.0 - 2.0 * u.abs()).ln()
}

/// The noise of one cell on one day, to add to its (exact) totals.
pub fn noise(seed: &[u8; 32], params: &Params) -> Totals {
    let [count, sum, bucket, category] = params.scales();
    let mut index = 0u32;
    let mut next = |scale: f64| {
        index += 1;
        laplace(seed, index, scale)
    };
    let mut t = Totals {
        count: next(count),
        centered_sum: next(sum),
        ..Totals::default()
    };
    for b in t.histogram.iter_mut() {
        *b = next(bucket);
    }
    for i in 0..CATEGORIES {
        t.points[i] = next(category);
        t.max[i] = next(category);
    }
    t
}

/// Where a tenant stands on one control, for peer adoption: its status at the end of the day,
/// or [`AdoptionClass::Other`] (to address, no such action, or the control does not apply).
/// The classes partition a cell's members for every control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AdoptionClass {
    Completed,
    /// `RESOLVED_THIRD_PARTY` or `RESOLVED_ALTERNATE_MITIGATION`.
    Resolved,
    Planned,
    RiskAccepted,
    Other,
}

/// Number of [`AdoptionClass`]es.
pub const ADOPTION_CLASSES: usize = 5;

impl AdoptionClass {
    /// Every class, in index order.
    pub const ALL: [Self; ADOPTION_CLASSES] = [
        Self::Completed,
        Self::Resolved,
        Self::Planned,
        Self::RiskAccepted,
        Self::Other,
    ];

    /// The class of an applicable action's status (`None`: no applicable action).
    pub fn of(status: Option<Status>) -> AdoptionClass {
        match status {
            Some(Status::Completed) => Self::Completed,
            Some(Status::ResolvedThirdParty | Status::ResolvedAlternateMitigation) => Self::Resolved,
            Some(Status::Planned) => Self::Planned,
            Some(Status::RiskAccepted) => Self::RiskAccepted,
            Some(Status::ToAddress) | None => Self::Other,
        }
    }

    /// Its index in counts (`ALL` order).
    pub fn index(self) -> usize {
        self as usize
    }

    /// One letter, for storing a member's classes compactly: `C`, `R`, `P`, `A`, `-`.
    pub fn letter(self) -> char {
        match self {
            Self::Completed => 'C',
            Self::Resolved => 'R',
            Self::Planned => 'P',
            Self::RiskAccepted => 'A',
            Self::Other => '-',
        }
    }

    /// The class of a letter written by [`AdoptionClass::letter`] (anything else is `Other`).
    pub fn of_letter(letter: u8) -> AdoptionClass {
        match letter {
            b'C' => Self::Completed,
            b'R' => Self::Resolved,
            b'P' => Self::Planned,
            b'A' => Self::RiskAccepted,
            _ => Self::Other,
        }
    }
}

/// Counts of a cohort's members per [`AdoptionClass`] for one control (exact, or noisy).
pub type AdoptionCounts = [f64; ADOPTION_CLASSES];

/// The seed of a control's adoption noise in a cell on a day: HMAC-SHA256(secret, version ‖
/// cell key ‖ day ‖ control id); independent of the comparison noise of the cell.
pub fn adoption_seed(secret: &[u8], cell: &Cell, day: NaiveDate, control_id: &str) -> [u8; 32] {
    let message = format!(
        "securescore/adoption-noise/v1\n{}\n{day}\n{control_id}",
        cell.key()
    );
    hmac_sha256(secret, message.as_bytes())
}

/// The noise of one control's class counts in one cell on one day: Laplace(1/ε) each.
pub fn adoption_noise(seed: &[u8; 32], epsilon: f64) -> AdoptionCounts {
    let scale = 1.0 / epsilon;
    let mut out = [0.0; ADOPTION_CLASSES];
    for (i, n) in out.iter_mut().enumerate() {
        *n = laplace(seed, i as u32 + 1, scale);
    }
    out
}

/// Adoption figures published for a union of noisy cells: shares of the (noisy) members.
#[derive(Clone, Debug, PartialEq)]
pub struct AdoptionShares {
    /// The noisy number of members counted (the sum of the clamped class counts), rounded.
    pub size: usize,
    /// Share (0–1) per class, in [`AdoptionClass::ALL`] order; they sum to 1 (or are all 0
    /// when nothing is left).
    pub shares: [f64; ADOPTION_CLASSES],
}

impl AdoptionShares {
    /// Share of one class.
    pub fn of(&self, class: AdoptionClass) -> f64 {
        self.shares[class.index()]
    }

    /// Completed, resolved, planned or risk-accepted.
    pub fn adopted(&self) -> f64 {
        self.done() + self.of(AdoptionClass::Planned) + self.of(AdoptionClass::RiskAccepted)
    }

    /// Completed or resolved.
    pub fn done(&self) -> f64 {
        self.of(AdoptionClass::Completed) + self.of(AdoptionClass::Resolved)
    }
}

/// The shares of noisy class counts (post-processing only: negative counts count as 0).
pub fn publish_adoption(noisy: &AdoptionCounts) -> AdoptionShares {
    let clamped: Vec<f64> = noisy.iter().map(|c| c.max(0.0)).collect();
    let total: f64 = clamped.iter().sum();
    let mut shares = [0.0; ADOPTION_CLASSES];
    if total > 0.0 {
        for (s, c) in shares.iter_mut().zip(&clamped) {
            *s = c / total;
        }
    }
    AdoptionShares {
        size: total.round() as usize,
        shares,
    }
}

/// The standard deviation of the noise on a published count of `classes` classes summed over
/// `cells` cells (each class count carries Laplace(1/ε), variance 2/ε²).
pub fn adoption_count_std_dev(epsilon: f64, cells: usize, classes: usize) -> f64 {
    (2.0 * (cells * classes) as f64).sqrt() / epsilon
}

/// Figures published for a union of noisy cells.
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    /// The noisy count, rounded (at least 0).
    pub size: usize,
    pub mean: f64,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    /// `(category, average points, average max)` in [`Category::ALL`] order.
    pub categories: Vec<(Category, f64, f64)>,
}

/// The figures of noisy totals (post-processing only: clamps each figure to its range).
pub fn publish(noisy: &Totals) -> Published {
    let n = noisy.count.max(1.0);
    let mean = (50.0 + noisy.centered_sum / n).clamp(0.0, 100.0);
    let histogram: Vec<f64> = noisy.histogram.iter().map(|b| b.max(0.0)).collect();
    let quartile = |p: f64| histogram_quantile(&histogram, p).unwrap_or(mean);
    let categories = Category::ALL
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let max = (noisy.max[i] / n).max(0.0);
            (*c, (noisy.points[i] / n).clamp(0.0, max), max)
        })
        .collect();
    Published {
        size: noisy.count.round().max(0.0) as usize,
        mean,
        p25: quartile(0.25),
        median: quartile(0.5),
        p75: quartile(0.75),
        categories,
    }
}

/// The `p` quantile of a histogram of non-negative bucket counts, interpolating linearly within
/// the bucket; `None` when the histogram is empty.
fn histogram_quantile(histogram: &[f64], p: f64) -> Option<f64> {
    let total: f64 = histogram.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let width = 100.0 / histogram.len() as f64;
    let target = p * total;
    let mut below = 0.0;
    for (i, b) in histogram.iter().enumerate() {
        if *b > 0.0 && below + b >= target {
            return Some((i as f64 + (target - below) / b) * width);
        }
        below += b;
    }
    Some(100.0)
}

/// The standard deviation of the noise on a published mean over `cells` cells of `size`
/// tenants in all (the centred sum's noise only; the count's adds a little).
pub fn mean_noise_std_dev(params: &Params, cells: usize, size: usize) -> f64 {
    let b = params.scales()[1];
    (2.0 * cells as f64).sqrt() * b / (size.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params { k: 5, epsilon: 1.0 }
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn tiers_are_the_highest_plan_held_and_plans_map_to_tier_ranges() {
        let cases: [(&[&str], LicenseTier, &str); 5] = [
            (&[], LicenseTier::None, "no plans"),
            (&["EXO", "MDO_P1"], LicenseTier::None, "no Entra plan"),
            (&["AAD_P1", "EXO"], LicenseTier::P1, "P1 only"),
            (&["AAD_P1", "AAD_P2"], LicenseTier::P2, "an E5-like bundle"),
            (&["AAD_P2"], LicenseTier::P2, "P2 alone"),
        ];
        for (plans, tier, why) in cases {
            assert_eq!(LicenseTier::of(plans.iter().copied()), tier, "{why}");
        }
        assert!(LicenseTier::None < LicenseTier::P1 && LicenseTier::P1 < LicenseTier::P2);
        assert_eq!(
            LicenseTier::holding("AAD_P1"),
            Some(&[LicenseTier::P1, LicenseTier::P2][..])
        );
        assert_eq!(LicenseTier::holding("MDO_P2"), None, "not a tier plan");
        for t in LicenseTier::ALL {
            assert_eq!(t.as_str().parse::<LicenseTier>(), Ok(t), "round trip {t}");
        }
    }

    #[test]
    fn cell_keys_round_trip_also_with_colons_in_the_industry() {
        for industry in ["finance", "odd:industry:name", ""] {
            let cell = Cell {
                industry: industry.into(),
                band: SeatBand::B101To500,
                tier: LicenseTier::P1,
            };
            assert_eq!(Cell::parse_key(&cell.key()), Some(cell.clone()), "{industry:?}");
        }
        assert_eq!(Cell::parse_key("ALL"), None, "old cohort keys are not cells");
    }

    #[test]
    fn noise_is_fixed_per_secret_cell_and_day_and_differs_otherwise() {
        let cell = Cell {
            industry: "finance".into(),
            band: SeatBand::B1To100,
            tier: LicenseTier::None,
        };
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).expect("date");
        let p = params();
        let a = noise(&cell_seed(b"s1", &cell, day), &p);
        assert_eq!(
            a,
            noise(&cell_seed(b"s1", &cell, day), &p),
            "same inputs, same noise"
        );
        assert_ne!(a, noise(&cell_seed(b"s2", &cell, day), &p), "another secret");
        assert_ne!(
            a,
            noise(&cell_seed(b"s1", &cell, day.succ_opt().expect("d")), &p),
            "another day"
        );
        let other = Cell {
            tier: LicenseTier::P1,
            ..cell.clone()
        };
        assert_ne!(a, noise(&cell_seed(b"s1", &other, day), &p), "another cell");
    }

    #[test]
    fn adoption_noise_is_fixed_per_cell_day_and_control_and_differs_otherwise() {
        let cell = Cell {
            industry: "finance".into(),
            band: SeatBand::B1To100,
            tier: LicenseTier::None,
        };
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).expect("date");
        let a = adoption_noise(&adoption_seed(b"s", &cell, day, "AdminMFAV2"), 1.0);
        assert_eq!(
            a,
            adoption_noise(&adoption_seed(b"s", &cell, day, "AdminMFAV2"), 1.0),
            "same inputs, same noise"
        );
        let other_cell = Cell {
            tier: LicenseTier::P2,
            ..cell.clone()
        };
        for (other, why) in [
            (adoption_seed(b"t", &cell, day, "AdminMFAV2"), "another secret"),
            (
                adoption_seed(b"s", &other_cell, day, "AdminMFAV2"),
                "another cell",
            ),
            (
                adoption_seed(b"s", &cell, day.succ_opt().expect("d"), "AdminMFAV2"),
                "another day",
            ),
            (
                adoption_seed(b"s", &cell, day, "MFARegistrationV2"),
                "another control",
            ),
        ] {
            assert_ne!(a, adoption_noise(&other, 1.0), "{why}");
        }
        assert_ne!(
            adoption_seed(b"s", &cell, day, "X"),
            cell_seed(b"s", &cell, day),
            "independent of the comparison noise"
        );
        // Scale 1/ε: E|L| = 1/ε over many controls.
        let n = 4000;
        let mean_abs: f64 = (0..n)
            .map(|i| adoption_noise(&adoption_seed(b"s", &cell, day, &format!("c{i}")), 2.0)[0].abs())
            .sum::<f64>()
            / n as f64;
        assert!((mean_abs - 0.5).abs() < 0.05, "E|L| = 1/ε: {mean_abs}");
    }

    #[test]
    fn adoption_classes_partition_the_statuses_and_publish_as_shares() {
        let cases = [
            (Some(Status::Completed), AdoptionClass::Completed),
            (Some(Status::ResolvedThirdParty), AdoptionClass::Resolved),
            (Some(Status::ResolvedAlternateMitigation), AdoptionClass::Resolved),
            (Some(Status::Planned), AdoptionClass::Planned),
            (Some(Status::RiskAccepted), AdoptionClass::RiskAccepted),
            (Some(Status::ToAddress), AdoptionClass::Other),
            (None, AdoptionClass::Other),
        ];
        for (status, class) in cases {
            assert_eq!(AdoptionClass::of(status), class, "{status:?}");
            assert_eq!(
                AdoptionClass::of_letter(class.letter() as u8),
                class,
                "letter of {class:?}"
            );
        }
        let p = publish_adoption(&[3.0, 1.0, 2.0, -1.5, 4.0]);
        assert_eq!(p.size, 10, "negative counts count as 0");
        assert!((p.adopted() - 0.6).abs() < 1e-12, "{p:?}");
        assert!((p.done() - 0.4).abs() < 1e-12, "{p:?}");
        assert_eq!(p.of(AdoptionClass::RiskAccepted), 0.0);
        let empty = publish_adoption(&[-1.0, -2.0, 0.0, 0.0, -0.5]);
        assert_eq!(
            (empty.size, empty.adopted(), empty.done()),
            (0, 0.0, 0.0),
            "nothing left"
        );
    }

    #[test]
    fn laplace_draws_have_the_calibrated_spread() {
        // Mean absolute value of Laplace(b) is b.
        let n = 20_000;
        let seed = [7u8; 32];
        let mean_abs: f64 = (0..n).map(|i| laplace(&seed, i, 3.0).abs()).sum::<f64>() / n as f64;
        assert!((mean_abs - 3.0).abs() < 0.1, "E|L| = b: {mean_abs}");
    }

    #[test]
    fn exact_totals_publish_their_mean_quartiles_and_category_averages() {
        let mut t = Totals::default();
        for pct in [15.0, 25.0, 35.0, 45.0] {
            t.add(
                &Totals::member(pct, &[(Category::Identity, pct, 100.0)], 300.0),
                1.0,
            );
        }
        let p = publish(&t);
        assert_eq!(p.size, 4);
        assert!((p.mean - 30.0).abs() < 1e-9, "mean {}", p.mean);
        assert!(
            (p.median - 30.0).abs() < 1e-9,
            "median {} (bucket edge)",
            p.median
        );
        assert_eq!(p.categories[0], (Category::Identity, 30.0, 100.0));
        // Subtracting a member removes it exactly.
        t.add(
            &Totals::member(45.0, &[(Category::Identity, 45.0, 100.0)], 300.0),
            -1.0,
        );
        assert!((publish(&t).mean - 25.0).abs() < 1e-9);
    }

    #[test]
    fn a_large_tenant_is_scaled_to_the_points_bound() {
        let t = Totals::member(
            50.0,
            &[(Category::Identity, 300.0, 600.0), (Category::Apps, 0.0, 600.0)],
            300.0,
        );
        assert_eq!(t.max[0] + t.max[2], 300.0, "Σ max clipped");
        assert_eq!(t.points[0], 75.0, "ratios kept");
    }

    /// The measurement quoted in README: 1,000 synthetic tenants spread like `seed-scale`'s
    /// (8 industries × 6 seat bands × 2 licence tiers), ALL_TENANTS over the cells with at least
    /// k members, averaged over 200 secrets.
    #[test]
    fn noise_on_all_tenants_is_small_at_1000_tenants() {
        let p = params();
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).expect("date");
        let mut cells: std::collections::BTreeMap<Cell, Totals> = Default::default();
        let mut state = 12345u64;
        let mut rand = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let industries = ["a", "b", "c", "d", "e", "f", "g", "h"];
        for i in 0..1000 {
            let cell = Cell {
                industry: industries[i % 8].into(),
                band: SeatBand::ALL[(i / 8) % 6],
                tier: if rand() < 0.33 {
                    LicenseTier::P2
                } else {
                    LicenseTier::P1
                },
            };
            let pct = (20.0 + 50.0 * rand() + 10.0 * rand()).clamp(0.0, 100.0);
            let max = 200.0 + 60.0 * rand();
            let cats = [
                (Category::Identity, pct / 100.0 * max * 0.4, max * 0.4),
                (Category::Apps, pct / 100.0 * max * 0.6, max * 0.6),
            ];
            cells
                .entry(cell)
                .or_default()
                .add(&Totals::member(pct, &cats, POINTS_BOUND), 1.0);
        }
        let included: Vec<(&Cell, &Totals)> = cells.iter().filter(|(_, t)| t.count >= p.k as f64).collect();
        let mut exact = Totals::default();
        for (_, t) in &included {
            exact.add(t, 1.0);
        }
        let truth = publish(&exact);
        let runs = 200;
        let (mut mean_err, mut median_err, mut identity_err) = (0.0, 0.0, 0.0);
        for run in 0..runs {
            let secret = format!("secret-{run}");
            let mut noisy = exact.clone();
            for (cell, _) in &included {
                noisy.add(&noise(&cell_seed(secret.as_bytes(), cell, day), &p), 1.0);
            }
            let got = publish(&noisy);
            mean_err += (got.mean - truth.mean).abs() / runs as f64;
            median_err += (got.median - truth.median).abs() / runs as f64;
            identity_err += (got.categories[0].1 - truth.categories[0].1).abs() / runs as f64;
        }
        eprintln!(
            "{} tenants in {} cells: mean abs error of the mean {mean_err:.3} pp, of the median \
             {median_err:.3} pp, of IDENTITY average points {identity_err:.2} (true {:.2})",
            exact.count,
            included.len(),
            truth.categories[0].1
        );
        assert!(mean_err < 1.5, "mean error {mean_err}");
    }
}
