//! Demo tenants seeded on the first start with an empty database, so that a newcomer's first
//! query returns something worth looking at: organisations of different industries and sizes
//! (one per seat band), with licences (one expired, one with too few seats), actions in every
//! status with partial progress, notes, tags, an event history and 90 days of daily score
//! snapshots, plus ready-made tokens for the main tenant, for an MSP that reads them all and for
//! a SERVICE_ADMIN.
//!
//! Beside them, anonymous peer organisations (`peer-001`, …, see [`seed_peers`]) fill the
//! comparison cell of every demo tenant: a cell counts only with at least k = 5 tenants the
//! caller cannot read, and the MSP token reads every demo tenant, so without peers every cohort
//! would be withheld. No token reads a peer; they show only inside cohort figures.
//!
//! Everything is drawn from a fixed-seed RNG relative to the `now` passed in, so every first start
//! shows the same picture. The history is simulated per action — a start state, the day its
//! status changed, the day its progress reached today's value, and a couple of temporary
//! regressions per tenant — and each day's snapshot is scored by the domain exactly like a live
//! score, so the last snapshot and the live score agree.
//!
//! It all happens in one transaction: a failed seed leaves the database empty and the next start
//! tries again; a database that already holds a tenant is never touched.

use crate::domain::cohort::SeatBand;
use crate::domain::enums::{Category, EventKind, Level, Role, Status};
use crate::domain::licensing::{HeldLicense, licensing};
use crate::domain::points::Points;
use crate::domain::scoring::{ScoredAction, achieved_points, compute_score, from_storage, to_storage};
use crate::error::AppError;
use crate::seed::DemoTokens;
use crate::service::access::tenants::{self, NewTenant};
use crate::service::history::comparisons;
use crate::service::workflow::events::{self, Actor, NewEvent};
use anyhow::Context;
use chrono::{DateTime, Days, Duration, NaiveDate, NaiveTime, Utc};
use entity::types::StringList;
use entity::{
    action_tag, control, improvement_action, license, license_plan, note, principal, score_goal,
    score_snapshot, score_zone, tag, tenant, tenant_license,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use std::collections::{BTreeMap, HashMap};

/// Days of daily snapshots before today.
const HISTORY_DAYS: u32 = 90;
/// Steps in which an action's progress rises to today's over the history, each one a
/// `PROGRESS_CHANGED` (or, for the last step of a completed action, `COMPLETED`) event.
const PROGRESS_STEPS: i64 = 3;

/// The RNG seed: a constant, so the demo is the same on every first start.
const SEED: u64 = 0x5EC5_C08E;

/// The tenant the reader/operator/admin tokens are for.
const MAIN_TENANT: &str = "contoso-bank";

/// A licence a demo tenant holds.
struct DemoLicense {
    sku: &'static str,
    seats: i64,
    assigned: i64,
    /// Days from `now` until it lapses (negative: already expired); `None` never.
    expires_in_days: Option<i64>,
}

/// One demo organisation.
struct DemoTenant {
    slug: &'static str,
    name: &'static str,
    industry: &'static str,
    seats: i64,
    active_users: i64,
    services: &'static [&'static str],
    licenses: &'static [DemoLicense],
    /// How far along the tenant is today, 0..1: drives the share of finished actions.
    maturity: f64,
    /// The security team that changes its actions and writes its notes.
    team: &'static str,
}

const fn lic(sku: &'static str, seats: i64, assigned: i64, expires_in_days: Option<i64>) -> DemoLicense {
    DemoLicense {
        sku,
        seats,
        assigned,
        expires_in_days,
    }
}

/// One tenant per seat band (1–100 … 10001+), so `SIMILAR_SIZE` cohorts are all exercised; the
/// peers seeded in each one's cell give every cohort enough tenants to clear the default k = 5.
const TENANTS: &[DemoTenant] = &[
    DemoTenant {
        slug: MAIN_TENANT,
        name: "Contoso Bank",
        industry: "finance",
        seats: 15_000,
        active_users: 13_870,
        services: &[
            "AzureAD",
            "EXO",
            "MDO",
            "MCAS",
            "Azure ATP",
            "MIP",
            "MDATP",
            "AppG",
            "Intune",
            "MS Teams",
            "FORMS",
        ],
        licenses: &[
            lic("M365_E5", 15_000, 13_870, Some(400)),
            lic("APP_GOVERNANCE", 2_000, 1_450, Some(400)),
        ],
        maturity: 0.72,
        team: "Contoso security operations",
    },
    DemoTenant {
        slug: "woodgrove-university",
        name: "Woodgrove University",
        industry: "education",
        seats: 7_200,
        active_users: 6_430,
        services: &["AzureAD", "EXO", "MDO", "MS Teams", "Intune", "FORMS", "MIP"],
        // Defender for Office P2 lapsed three weeks ago: its actions became unlicensed.
        licenses: &[
            lic("M365_E3", 7_200, 6_430, Some(210)),
            lic("MDO_P2", 7_200, 6_430, Some(-21)),
        ],
        maturity: 0.38,
        team: "Woodgrove IT security",
    },
    DemoTenant {
        slug: "northwind-health",
        name: "Northwind Health",
        industry: "healthcare",
        seats: 2_400,
        active_users: 2_215,
        services: &["AzureAD", "EXO", "MDO", "MS Teams", "Intune", "MIP", "MDATP"],
        // Entra ID P2 for 500 of 2 215 users: the risk-policy actions show a seat shortfall.
        licenses: &[
            lic("M365_E3", 2_400, 2_215, Some(150)),
            lic("ENTRA_ID_P2", 500, 500, Some(150)),
            lic("MDE_P2", 2_400, 2_100, Some(150)),
        ],
        maturity: 0.55,
        team: "Northwind clinical IT",
    },
    DemoTenant {
        slug: "fabrikam-software",
        name: "Fabrikam Software",
        industry: "technology",
        seats: 850,
        active_users: 812,
        services: &[
            "AzureAD", "EXO", "MDO", "MCAS", "MDATP", "Intune", "MS Teams", "FORMS", "AppG",
        ],
        licenses: &[
            lic("M365_E5", 850, 812, Some(300)),
            lic("APP_GOVERNANCE", 850, 120, Some(300)),
        ],
        maturity: 0.86,
        team: "Fabrikam platform security",
    },
    DemoTenant {
        slug: "adatum-manufacturing",
        name: "Adatum Manufacturing",
        industry: "manufacturing",
        seats: 320,
        active_users: 298,
        services: &["AzureAD", "EXO", "MDO", "Azure ATP", "MDATP", "Intune"],
        licenses: &[
            lic("M365_BUSINESS_PREMIUM", 300, 298, Some(90)),
            lic("MDE_P2", 320, 260, Some(90)),
        ],
        maturity: 0.47,
        team: "Adatum IT",
    },
    DemoTenant {
        slug: "alpine-ski-shop",
        name: "Alpine Ski Shop",
        industry: "retail",
        seats: 45,
        active_users: 41,
        services: &["AzureAD", "EXO", "MDO", "MS Teams"],
        licenses: &[lic("M365_BUSINESS_PREMIUM", 45, 41, Some(45))],
        maturity: 0.3,
        team: "Alpine Ski Shop owner",
    },
    DemoTenant {
        slug: "litware-insurance",
        name: "Litware Insurance",
        industry: "finance",
        seats: 1_800,
        active_users: 1_690,
        services: &["AzureAD", "EXO", "MDO", "MCAS", "MIP", "Intune", "MS Teams"],
        licenses: &[
            lic("M365_E3", 1_800, 1_690, Some(240)),
            lic("MDO_P2", 1_800, 1_690, Some(240)),
            lic("ENTRA_ID_P2", 1_800, 1_690, Some(240)),
            lic("MDCA", 1_800, 1_690, Some(240)),
        ],
        maturity: 0.64,
        team: "Litware information security",
    },
    DemoTenant {
        slug: "tailspin-retail",
        name: "Tailspin Outfitters",
        industry: "retail",
        seats: 5_600,
        active_users: 4_980,
        services: &["AzureAD", "EXO", "MDO", "MS Teams", "Intune", "FORMS"],
        licenses: &[
            lic("O365_E3", 5_600, 4_980, Some(330)),
            lic("ENTRA_ID_P1", 5_600, 4_980, Some(330)),
        ],
        maturity: 0.42,
        team: "Tailspin security",
    },
];

/// Tags every demo tenant has: (name, colour).
const TAGS: [(&str, &str); 4] = [
    ("Q1 sprint", "#2563eb"),
    ("board ask", "#dc2626"),
    ("quick win", "#16a34a"),
    ("needs budget", "#d97706"),
];

/// Seeds the demo tenants when there are none; returns their tokens when it did.
pub async fn seed_if_empty(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<DemoTokens>> {
    let txn = crate::db::begin_write(db).await?;
    if tenant::Entity::find().count(&txn).await? > 0 {
        return Ok(None);
    }
    let tokens = seed(&txn, now).await?;
    txn.commit().await.context("cannot commit the demo data")?;
    crate::service::state::persisted::persist_missing(db, now)
        .await
        .map_err(|e| anyhow::anyhow!(e.message()))?;
    tracing::info!(tenants = TENANTS.len(), "seeded demo tenants");
    Ok(Some(tokens))
}

async fn seed(txn: &DatabaseTransaction, now: DateTime<Utc>) -> anyhow::Result<DemoTokens> {
    let mut rng = StdRng::seed_from_u64(SEED);
    let controls: Vec<control::Model> = control::Entity::find()
        .filter(control::Column::Deprecated.eq(false))
        .order_by_asc(control::Column::Id)
        .all(txn)
        .await?;
    let known_skus: Vec<String> = license::Entity::find()
        .all(txn)
        .await?
        .into_iter()
        .map(|l| l.sku)
        .collect();
    let mut plans_of: HashMap<String, Vec<String>> = HashMap::new();
    for p in license_plan::Entity::find().all(txn).await? {
        plans_of.entry(p.license_sku).or_default().push(p.plan);
    }
    let clock = Clock::new(now);

    let mut main_tenant_id = None;
    let mut tenant_ids = Vec::new();
    for spec in TENANTS {
        let created = seed_tenant(txn, spec, &controls, &known_skus, &plans_of, &clock, &mut rng).await?;
        if spec.slug == MAIN_TENANT {
            main_tenant_id = Some(created);
        }
        tenant_ids.push(created);
    }
    let main = main_tenant_id.context("the main demo tenant is missing from the list")?;
    let started = std::time::Instant::now();
    let peers = seed_peers(txn, &controls, &known_skus, &plans_of, &clock).await?;
    tracing::info!(
        peers,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "seeded anonymous peer organisations"
    );
    // Cohort comparisons read precomputed aggregates, so the demo's history needs them too.
    for t in 0..HISTORY_DAYS {
        comparisons::write_aggregates(txn, clock.date(t), now)
            .await
            .map_err(into_anyhow)?;
    }
    seed_goals(txn, main, &clock).await?;

    let reader = principal_with_token(txn, "Contoso demo reader", &[(main, Role::Reader)], now).await?;
    let operator = principal_with_token(txn, "Contoso demo operator", &[(main, Role::Operator)], now).await?;
    let admin = principal_with_token(txn, "Contoso demo admin", &[(main, Role::Admin)], now).await?;
    let msp_grants: Vec<(i64, Role)> = tenant_ids.iter().map(|id| (*id, Role::Reader)).collect();
    let msp = principal_with_token(txn, "Demo MSP (reader on every demo tenant)", &msp_grants, now).await?;
    let (_, service_admin) = tenants::create_service_admin(txn, "Demo service admin", now)
        .await
        .map_err(into_anyhow)?;
    Ok(DemoTokens {
        tenant_slug: MAIN_TENANT.to_string(),
        reader,
        operator,
        admin,
        msp,
        service_admin,
    })
}

/// Score zones and a dated goal for the main tenant, so `Tenant.goals` has something to show.
async fn seed_goals(txn: &DatabaseTransaction, tenant_id: i64, clock: &Clock) -> anyhow::Result<()> {
    score_zone::ActiveModel {
        tenant_id: Set(tenant_id),
        okay_from: Set(to_storage(&Points::from(50))),
        good_from: Set(to_storage(&Points::from(75))),
        updated_by: Set(None),
        updated_at: Set(clock.start_of(0)),
    }
    .insert(txn)
    .await?;
    score_goal::ActiveModel {
        tenant_id: Set(tenant_id),
        target_percentage: Set(to_storage(&Points::from(75))),
        target_date: Set(clock.today + Days::new(120)),
        note: Set(Some(
            "Board target: 75 % before the next external audit.".to_string(),
        )),
        created_by: Set(None),
        created_at: Set(clock.start_of(30)),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// A principal with roles on tenants and one token; returns the token's secret.
async fn principal_with_token(
    txn: &DatabaseTransaction,
    name: &str,
    grants: &[(i64, Role)],
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let p = tenants::create_principal(txn, name, "USER", now)
        .await
        .map_err(into_anyhow)?;
    for (tenant_id, role) in grants {
        tenants::grant_role(txn, p.id, *tenant_id, *role, now)
            .await
            .map_err(into_anyhow)?;
    }
    let (secret, _) = tenants::issue_token(txn, p.id, "demo token", None, None, now)
        .await
        .map_err(into_anyhow)?;
    Ok(secret)
}

/// Service errors carry their own message; internal ones keep their cause chain.
fn into_anyhow(err: AppError) -> anyhow::Error {
    match err {
        AppError::Internal(cause) | AppError::Unavailable(cause) => cause,
        other => anyhow::anyhow!(other.message()),
    }
}

/// Maps simulation days to dates and times: day `t` of `0..=HISTORY_DAYS` is `HISTORY_DAYS − t`
/// days before today, so day `HISTORY_DAYS` is today (the live state) and day 0 the oldest
/// snapshot.
struct Clock {
    now: DateTime<Utc>,
    today: NaiveDate,
}

impl Clock {
    fn new(now: DateTime<Utc>) -> Clock {
        Clock {
            now,
            today: now.date_naive(),
        }
    }

    fn date(&self, t: u32) -> NaiveDate {
        self.today - Days::new(u64::from(HISTORY_DAYS - t.min(HISTORY_DAYS)))
    }

    fn start_of(&self, t: u32) -> DateTime<Utc> {
        self.date(t).and_time(NaiveTime::MIN).and_utc()
    }

    /// A working-hours time on day `t` (days before today only, so never after `now`).
    fn during(&self, t: u32, rng: &mut StdRng) -> DateTime<Utc> {
        let at = self.start_of(t.min(HISTORY_DAYS - 1))
            + Duration::hours(rng.random_range(8..18))
            + Duration::minutes(rng.random_range(0..60));
        at.min(self.now)
    }
}

/// What an action's history looks like: today's state, the state 90 days ago and when it changed.
#[derive(Clone, Debug)]
struct Plan {
    control: control::Model,
    /// Scoring input with today's values; cloned and adjusted per simulated day.
    scored: ScoredAction,
    total: i64,
    users_affected: i64,
    unit: &'static str,
    /// Status today.
    status: Status,
    implemented: i64,
    /// The status the user chose (COMPLETED is derived from progress, never chosen).
    user_status: Status,
    start_user_status: Status,
    start_implemented: i64,
    /// Day the user status changed from `start_user_status` to `user_status`.
    status_day: u32,
    /// Day by which progress reached `implemented` (in `PROGRESS_STEPS` steps from
    /// `start_implemented`).
    progress_day: u32,
    review_by: Option<DateTime<Utc>>,
    /// Temporary regressions: (first day, day it was complete again, implemented meanwhile).
    dips: Vec<(u32, u32, i64)>,
}

impl Plan {
    fn max(&self) -> Points {
        from_storage(self.control.max_points)
    }

    /// Status and progress at the end of day `t`.
    fn at(&self, t: u32) -> (Status, i64) {
        if let Some((_, _, low)) = self.dips.iter().find(|(from, to, _)| (*from..*to).contains(&t)) {
            return (Status::ToAddress, *low);
        }
        let implemented = if t >= self.progress_day {
            self.implemented
        } else {
            // In PROGRESS_STEPS steps, each recorded by an event (see `progress_days`), so the
            // event log explains every snapshot.
            let steps = i64::from(t) * PROGRESS_STEPS / i64::from(self.progress_day);
            self.start_implemented + (self.implemented - self.start_implemented) * steps / PROGRESS_STEPS
        };
        let user = if t >= self.status_day {
            self.user_status
        } else {
            self.start_user_status
        };
        if self.total > 0 && implemented >= self.total {
            (Status::Completed, implemented)
        } else {
            (user, implemented)
        }
    }

    /// The days on which progress changed (at most `PROGRESS_STEPS`, the last `progress_day`).
    fn progress_days(&self) -> Vec<u32> {
        (1..=self.progress_day)
            .filter(|&t| self.at(t).1 != self.at(t - 1).1)
            .collect()
    }

    fn points(&self, status: Status, implemented: i64) -> Points {
        achieved_points(&self.max(), status, implemented, self.total)
    }
}

/// A random partial progress strictly below `total` (0 when there is no room).
fn partial(rng: &mut StdRng, total: i64) -> i64 {
    if total >= 2 { rng.random_range(1..total) } else { 0 }
}

/// Chooses today's status of each action (every status at least once), its progress and its
/// history.
fn plan_actions(
    spec: &DemoTenant,
    controls: &[control::Model],
    held: &[HeldLicense],
    clock: &Clock,
    rng: &mut StdRng,
) -> Vec<Plan> {
    let m = spec.maturity;
    let mut plans = Vec::new();
    for c in controls
        .iter()
        .filter(|c| spec.services.contains(&c.service.as_str()))
    {
        let category = c.category;
        // Per-user controls count users or devices; the rest count policies, domains, mailboxes.
        let (unit, total) = match category {
            Category::Device => (
                "devices",
                (spec.active_users as f64 * rng.random_range(0.7..1.2)) as i64,
            ),
            Category::Identity if rng.random_bool(0.5) => (
                "users",
                (spec.active_users as f64 * rng.random_range(0.8..1.0)) as i64,
            ),
            Category::Apps if rng.random_bool(0.25) => ("mailboxes", spec.active_users),
            _ => ("policies", rng.random_range(1..=8)),
        };
        let total = total.max(1);
        let users_affected = if unit == "policies" {
            spec.active_users
        } else {
            total
        };
        let lic = licensing(&c.required_license_plans.0, held, users_affected, clock.now);
        let r: f64 = rng.random();
        let status = if category == Category::Device {
            // Device statuses come from vulnerability-management exceptions, not from users:
            // here they only move with progress.
            if r < 0.2 + 0.5 * m {
                Status::Completed
            } else {
                Status::ToAddress
            }
        } else if !lic.licensed {
            if r < 0.3 {
                Status::ResolvedThirdParty
            } else if r < 0.4 {
                Status::RiskAccepted
            } else {
                Status::ToAddress
            }
        } else {
            let completed = 0.12 + 0.5 * m;
            let steps = [
                (completed, Status::Completed),
                (completed + 0.06, Status::ResolvedThirdParty),
                (completed + 0.11, Status::ResolvedAlternateMitigation),
                (completed + 0.18, Status::RiskAccepted),
                (completed + 0.32, Status::Planned),
            ];
            steps
                .iter()
                .find(|(upto, _)| r < *upto)
                .map_or(Status::ToAddress, |(_, s)| *s)
        };
        let scored = ScoredAction {
            category,
            max_points: from_storage(c.max_points),
            deprecated: c.deprecated,
            status,
            implemented: 0,
            total,
            licensed: lic.licensed,
            tier: c.tier,
            user_impact: c.user_impact,
            implementation_cost: c.implementation_cost,
        };
        plans.push(Plan {
            control: c.clone(),
            scored,
            total,
            users_affected,
            unit,
            status,
            implemented: 0,
            user_status: status,
            start_user_status: Status::ToAddress,
            start_implemented: 0,
            status_day: 0,
            progress_day: 0,
            review_by: None,
            dips: Vec::new(),
        });
    }
    cover_every_status(&mut plans, rng);
    for p in &mut plans {
        plan_history(p, clock, rng);
    }
    plan_dips(&mut plans, rng);
    plans
}

/// Makes sure each status occurs at least once, so every filter and group has something to show:
/// a missing status is taken from a non-device action of the most common status.
fn cover_every_status(plans: &mut [Plan], rng: &mut StdRng) {
    for wanted in Status::ALL {
        if plans.iter().any(|p| p.status == wanted) {
            continue;
        }
        let mut counts: BTreeMap<Status, usize> = BTreeMap::new();
        for p in plans.iter().filter(|p| p.scored.category != Category::Device) {
            *counts.entry(p.status).or_default() += 1;
        }
        let Some((&donor, &n)) = counts.iter().max_by_key(|(_, n)| **n) else {
            return;
        };
        if n < 2 {
            return;
        }
        let candidates: Vec<usize> = (0..plans.len())
            .filter(|&i| plans[i].status == donor && plans[i].scored.category != Category::Device)
            .collect();
        let i = candidates[rng.random_range(0..candidates.len())];
        plans[i].status = wanted;
        plans[i].scored.status = wanted;
    }
}

/// Today's progress and the state 90 days ago for one action. By default nothing changed in the
/// window; a status chosen during the window was `TO_ADDRESS` before.
fn plan_history(p: &mut Plan, clock: &Clock, rng: &mut StdRng) {
    let total = p.total;
    let last = HISTORY_DAYS - 1;
    p.user_status = p.status;
    p.start_user_status = p.status;
    match p.status {
        Status::Completed => {
            p.implemented = total;
            // What the user had chosen before progress completed it.
            p.user_status = if rng.random_bool(0.5) {
                Status::Planned
            } else {
                Status::ToAddress
            };
            p.start_user_status = p.user_status;
            if rng.random_bool(0.45) {
                // Done before the history starts.
                p.start_implemented = total;
            } else {
                // Completed during the last 90 days: this is what makes the trend go up.
                p.progress_day = rng.random_range(8..=last);
                p.start_implemented = rng.random_range(0..=total * 7 / 10).min(total - 1);
                if p.user_status == Status::Planned && p.progress_day > 2 {
                    p.start_user_status = Status::ToAddress;
                    p.status_day = rng.random_range(1..p.progress_day);
                }
            }
        }
        Status::ToAddress | Status::Planned => {
            // Nobody rolls out a product they hold no licence for.
            let zero = if !p.scored.licensed {
                1.0
            } else if p.status == Status::ToAddress {
                0.35
            } else {
                0.5
            };
            p.implemented = if rng.random_bool(zero) {
                0
            } else {
                partial(rng, total)
            };
            p.start_implemented = rng.random_range(0..=p.implemented);
            p.progress_day = rng.random_range(20..=last);
            if p.status == Status::Planned && rng.random_bool(0.6) {
                p.start_user_status = Status::ToAddress;
                p.status_day = rng.random_range(5..=last);
            }
        }
        Status::RiskAccepted | Status::ResolvedThirdParty | Status::ResolvedAlternateMitigation => {
            let zero = if p.status == Status::RiskAccepted {
                0.7
            } else {
                0.6
            };
            p.implemented = if rng.random_bool(zero) {
                0
            } else {
                partial(rng, total)
            };
            p.start_implemented = p.implemented;
            if rng.random_bool(0.6) {
                p.start_user_status = Status::ToAddress;
                p.status_day = rng.random_range(5..=last - 4);
            }
            p.review_by = match p.status {
                Status::RiskAccepted if rng.random_bool(0.6) => {
                    Some(clock.start_of(HISTORY_DAYS) + Duration::days(rng.random_range(30..=180)))
                }
                Status::ResolvedThirdParty if rng.random_bool(0.3) => {
                    Some(clock.start_of(HISTORY_DAYS) + Duration::days(rng.random_range(90..=365)))
                }
                _ => None,
            };
        }
    }
    p.scored.implemented = p.implemented;
}

/// Two regressions per tenant (a policy changed, a scanner found drift): actions that were
/// complete fall back to `TO_ADDRESS` for a few days, then recover.
fn plan_dips(plans: &mut [Plan], rng: &mut StdRng) {
    for window in [25..36, 55..71] {
        let from: u32 = rng.random_range(window);
        let to = from + rng.random_range(2..7);
        let mut candidates: Vec<usize> = (0..plans.len())
            .filter(|&i| {
                let p = &plans[i];
                p.status == Status::Completed && p.progress_day < from && p.total >= 2 && p.dips.is_empty()
            })
            .collect();
        candidates.shuffle(rng);
        let take = rng.random_range(1..=3);
        for &i in candidates.iter().take(take) {
            let total = plans[i].total;
            let low = (total * rng.random_range(55..90) / 100).clamp(1, total - 1);
            plans[i].dips.push((from, to, low));
        }
    }
}

/// Notes people would write when they set a status.
fn justification(status: Status, rng: &mut StdRng) -> Option<&'static str> {
    let options: &[&str] = match status {
        Status::RiskAccepted => &[
            "Accepted by the CISO until the legacy line-of-business app is retired; revisit at the next risk review.",
            "Blocking this breaks the scanners on the shop floor. Risk accepted for now, compensating monitoring in place.",
            "Accepted: the affected accounts are break-glass accounts stored in the safe.",
        ],
        Status::ResolvedThirdParty => &[
            "Covered by our third-party email gateway; see the architecture decision record ADR-014.",
            "Handled by the external SOC's EDR product, which reports to us weekly.",
        ],
        Status::ResolvedAlternateMitigation => &[
            "Mitigated by network segmentation and conditional access on the jump hosts.",
            "Alternate control: quarterly manual review signed off by internal audit.",
        ],
        Status::Planned => &[
            "Scheduled for the Q1 sprint; change request raised with the service desk.",
            "Planned with the pilot group first (IT and finance), then everyone.",
        ],
        Status::ToAddress | Status::Completed => return None,
    };
    Some(options[rng.random_range(0..options.len())])
}

/// Notes on actions that have no status change to explain.
const CHATTER: &[&str] = &[
    "Needs a pilot group first: the help desk expects a spike in calls.",
    "Waiting for the licence true-up before we can enable this.",
    "Rolled out to all users; watching the sign-in logs for a week.",
    "Vendor says the next release supports this. Re-check in a month.",
    "Discussed in the weekly security stand-up; owner is the identity team.",
];

/// Creates one tenant with everything it holds; returns its id.
async fn seed_tenant(
    txn: &DatabaseTransaction,
    spec: &DemoTenant,
    controls: &[control::Model],
    known_skus: &[String],
    plans_of: &HashMap<String, Vec<String>>,
    clock: &Clock,
    rng: &mut StdRng,
) -> anyhow::Result<i64> {
    let created_at = clock.start_of(0) - Duration::days(rng.random_range(30..400));
    let t = insert_tenant(txn, spec.slug, spec.name, spec, created_at, clock).await?;
    let held = write_licences(txn, t.id, spec.licenses, created_at, known_skus, plans_of, clock).await?;

    let team = tenants::create_principal(txn, spec.team, "USER", created_at)
        .await
        .map_err(into_anyhow)?;
    tenants::grant_role(txn, team.id, t.id, Role::Operator, created_at)
        .await
        .map_err(into_anyhow)?;
    let team_actor = Actor::Principal {
        id: team.id,
        name: team.name.clone(),
    };

    let plans = plan_actions(spec, controls, &held, clock, rng);
    let rows: Vec<improvement_action::ActiveModel> = plans
        .iter()
        .map(|p| action_row(t.id, p, created_at, clock, rng))
        .collect();
    if !rows.is_empty() {
        improvement_action::Entity::insert_many(rows).exec(txn).await?;
    }
    let action_ids: HashMap<String, i64> = improvement_action::Entity::find()
        .filter(improvement_action::Column::TenantId.eq(t.id))
        .all(txn)
        .await?
        .into_iter()
        .map(|a| (a.control_id, a.id))
        .collect();

    for p in &plans {
        let Some(&action_id) = action_ids.get(&p.control.id) else {
            continue;
        };
        write_history(txn, t.id, action_id, p, &team, &team_actor, clock, rng).await?;
    }
    write_tags(txn, t.id, &plans, &action_ids, &team_actor, clock, rng).await?;
    write_snapshots(txn, t.id, &plans, &held, clock).await?;
    Ok(t.id)
}

/// Inserts the tenant row of `spec` (with its own slug and name, so peers can share a profile).
async fn insert_tenant(
    txn: &DatabaseTransaction,
    slug: &str,
    name: &str,
    spec: &DemoTenant,
    created_at: DateTime<Utc>,
    clock: &Clock,
) -> anyhow::Result<tenant::Model> {
    let new = NewTenant {
        slug: slug.to_string(),
        name: name.to_string(),
        industry: spec.industry.to_string(),
        seat_count: spec.seats,
        active_user_count: spec.active_users,
        enabled_services: spec.services.iter().map(|s| s.to_string()).collect(),
    };
    tenants::validate_new_tenant(&new).map_err(into_anyhow)?;
    let t = tenant::ActiveModel {
        slug: Set(new.slug),
        name: Set(new.name),
        industry: Set(new.industry),
        seat_count: Set(new.seat_count),
        active_user_count: Set(new.active_user_count),
        enabled_services: Set(StringList(new.enabled_services)),
        azure_tenant_id: Set(None),
        state_version: Set(0),
        created_at: Set(created_at),
        updated_at: Set(clock.now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(t)
}

/// Writes a tenant's licences (only SKUs the catalog knows: the data files may change under the
/// demo); returns them as the licensing rules see them.
async fn write_licences(
    txn: &DatabaseTransaction,
    tenant_id: i64,
    licences: &[DemoLicense],
    created_at: DateTime<Utc>,
    known_skus: &[String],
    plans_of: &HashMap<String, Vec<String>>,
    clock: &Clock,
) -> anyhow::Result<Vec<HeldLicense>> {
    let mut held = Vec::new();
    let mut licence_rows = Vec::new();
    for l in licences.iter().filter(|l| known_skus.iter().any(|s| s == l.sku)) {
        // Licences run to midnight, like real subscriptions.
        let expires_at = l
            .expires_in_days
            .map(|d| clock.start_of(HISTORY_DAYS) + Duration::days(d));
        held.push(HeldLicense {
            plans: plans_of.get(l.sku).cloned().unwrap_or_default(),
            seats_purchased: l.seats,
            expires_at,
        });
        licence_rows.push(tenant_license::ActiveModel {
            tenant_id: Set(tenant_id),
            license_sku: Set(l.sku.to_string()),
            seats_purchased: Set(l.seats),
            seats_assigned: Set(l.assigned),
            expires_at: Set(expires_at),
            created_at: Set(created_at),
            updated_at: Set(created_at),
            ..Default::default()
        });
    }
    if !licence_rows.is_empty() {
        tenant_license::Entity::insert_many(licence_rows)
            .exec(txn)
            .await?;
    }
    Ok(held)
}

/// Anonymous peer organisations in the cell (industry × seat band × licence tier) of each demo
/// tenant. Comparisons count a cell only when at least k = 5 of its tenants are unreadable by the
/// caller, and the MSP token reads every demo tenant: without peers every cohort would be
/// suppressed. Peers belong to no principal, so they only ever show as anonymous aggregates.
const PEERS_PER_CELL: usize = 6;

/// A seat count in the same band as `seats`.
fn seats_in_band_of(seats: i64, rng: &mut StdRng) -> i64 {
    match SeatBand::of(seats) {
        SeatBand::B1To100 => rng.random_range(12..=100),
        SeatBand::B101To500 => rng.random_range(101..=500),
        SeatBand::B501To1000 => rng.random_range(501..=1_000),
        SeatBand::B1001To5000 => rng.random_range(1_001..=5_000),
        SeatBand::B5001To10000 => rng.random_range(5_001..=10_000),
        SeatBand::B10001Plus => rng.random_range(10_001..=40_000),
    }
}

/// Seeds [`PEERS_PER_CELL`] peers per demo tenant: the template's industry, services and licence
/// SKUs (so the same licence tier on every day of the history, none of them lapsing), another
/// size in its seat band and another maturity; actions as of today and 90 days of computed
/// snapshots, like the demo tenants, but no events, notes, tags or principals. Returns how many.
async fn seed_peers(
    txn: &DatabaseTransaction,
    controls: &[control::Model],
    known_skus: &[String],
    plans_of: &HashMap<String, Vec<String>>,
    clock: &Clock,
) -> anyhow::Result<usize> {
    // Their own RNG: the demo tenants look the same with or without peers.
    let mut rng = StdRng::seed_from_u64(SEED ^ 0x9EE5);
    let mut number = 0;
    for template in TENANTS {
        for _ in 0..PEERS_PER_CELL {
            number += 1;
            let seats = seats_in_band_of(template.seats, &mut rng);
            let active_users = ((seats as f64) * rng.random_range(0.82..0.98)).round().max(1.0) as i64;
            let scale = seats as f64 / template.seats as f64;
            let licences: Vec<DemoLicense> = template
                .licenses
                .iter()
                .map(|l| {
                    let seats = ((l.seats as f64 * scale).round() as i64).max(1);
                    let assigned = ((l.assigned as f64 * scale).round() as i64).clamp(0, seats);
                    lic(l.sku, seats, assigned, Some(rng.random_range(60..400)))
                })
                .collect();
            let profile = DemoTenant {
                seats,
                active_users,
                maturity: rng.random_range(0.15..0.9),
                licenses: &[],
                ..*template
            };
            let slug = format!("peer-{number:03}");
            let name = format!("Peer organisation {number:03}");
            let created_at = clock.start_of(0) - Duration::days(rng.random_range(30..700));
            let t = insert_tenant(txn, &slug, &name, &profile, created_at, clock).await?;
            let held = write_licences(txn, t.id, &licences, created_at, known_skus, plans_of, clock).await?;
            let plans = plan_actions(&profile, controls, &held, clock, &mut rng);
            let rows: Vec<improvement_action::ActiveModel> = plans
                .iter()
                .map(|p| action_row(t.id, p, created_at, clock, &mut rng))
                .collect();
            if !rows.is_empty() {
                improvement_action::Entity::insert_many(rows).exec(txn).await?;
            }
            write_snapshots(txn, t.id, &plans, &held, clock).await?;
        }
    }
    Ok(number)
}

/// The action row as it stands today.
fn action_row(
    tenant_id: i64,
    p: &Plan,
    created_at: DateTime<Utc>,
    clock: &Clock,
    rng: &mut StdRng,
) -> improvement_action::ActiveModel {
    let mut row = crate::service::state::controls::new_action(tenant_id, &p.control, created_at);
    let changed_on = match p.status {
        Status::Completed => p.progress_day,
        _ => p.status_day,
    };
    let status_changed_at = if changed_on == 0 {
        created_at
    } else {
        clock.during(changed_on, rng)
    };
    let text = if p.implemented == p.total {
        format!("Completed: all {} {} meet the recommendation.", p.total, p.unit)
    } else if p.implemented == 0 {
        format!(
            "Not started: 0 of {} {} meet the recommendation.",
            p.total, p.unit
        )
    } else {
        format!(
            "{} of {} {} meet the recommendation.",
            p.implemented, p.total, p.unit
        )
    };
    let changes = i64::from(p.status_day > 0) + 2 * p.dips.len() as i64 + p.progress_days().len() as i64;
    row.status = Set(p.status);
    row.implemented = Set(p.implemented);
    row.total = Set(p.total);
    row.implementation_status = Set(Some(text));
    row.users_affected = Set(p.users_affected);
    row.review_by = Set(p.review_by);
    row.version = Set(1 + changes);
    row.status_changed_at = Set(status_changed_at);
    row.updated_at = Set(clock.start_of(HISTORY_DAYS - 1).max(status_changed_at));
    row
}

/// Events (status changes, completions, regressions) and notes of one action.
#[allow(clippy::too_many_arguments)]
async fn write_history(
    txn: &DatabaseTransaction,
    tenant_id: i64,
    action_id: i64,
    p: &Plan,
    author: &principal::Model,
    actor: &Actor,
    clock: &Clock,
    rng: &mut StdRng,
) -> anyhow::Result<()> {
    // (when, who, event) in any order; sorted before writing so ids follow time.
    let mut evs: Vec<(DateTime<Utc>, Actor, NewEvent)> = Vec::new();
    let mut notes: Vec<(DateTime<Utc>, String)> = Vec::new();
    let event = |kind, before: (Status, i64), after: (Status, i64)| {
        let mut ev = NewEvent::new(tenant_id, action_id, kind);
        ev.status_before = Some(before.0);
        ev.status_after = Some(after.0);
        ev.points_before = Some(p.points(before.0, before.1));
        ev.points_after = Some(p.points(after.0, after.1));
        // As real progress events record it, so a backfill can replay the demo history too.
        ev.data = Some(serde_json::json!({
            "implementedBefore": before.1, "totalBefore": p.total,
            "implemented": after.1, "total": p.total,
        }));
        ev
    };
    if p.status_day > 0 {
        let at = clock.during(p.status_day, rng);
        let mut ev = event(
            EventKind::StatusChanged,
            p.at(p.status_day - 1),
            p.at(p.status_day),
        );
        ev.comment = justification(p.user_status, rng).map(str::to_string);
        ev.data = p.review_by.map(|at| serde_json::json!({ "reviewBy": at }));
        if let Some(body) = &ev.comment {
            notes.push((at, body.clone()));
        }
        evs.push((at, actor.clone(), ev));
    } else if let Some(body) = justification(p.user_status, rng).filter(|_| p.status != Status::Completed) {
        // Set before the history starts: the reason is still on record as a note.
        notes.push((
            clock.start_of(0) - Duration::days(rng.random_range(3..60)),
            body.to_string(),
        ));
    }
    for t in p.progress_days() {
        let (before, after) = (p.at(t - 1), p.at(t));
        let completed = after.0 == Status::Completed && before.0 != Status::Completed;
        let kind = if completed {
            EventKind::Completed
        } else {
            EventKind::ProgressChanged
        };
        let mut ev = event(kind, before, after);
        ev.comment = Some(if completed {
            format!("All {} {} now meet the recommendation.", p.total, p.unit)
        } else {
            format!("Progress {} → {} of {} {}.", before.1, after.1, p.total, p.unit)
        });
        evs.push((clock.during(t, rng), Actor::System, ev));
    }
    for &(from, to, low) in &p.dips {
        let mut down = event(EventKind::Regressed, p.at(from - 1), p.at(from));
        down.comment = Some(format!(
            "Only {low} of {} {} meet the recommendation after a configuration change.",
            p.total, p.unit
        ));
        evs.push((clock.during(from, rng), Actor::System, down));
        let up = event(EventKind::Completed, p.at(to - 1), p.at(to));
        evs.push((clock.during(to, rng), Actor::System, up));
    }
    if rng.random_bool(0.12) {
        let body = CHATTER[rng.random_range(0..CHATTER.len())];
        notes.push((
            clock.during(rng.random_range(1..HISTORY_DAYS), rng),
            body.to_string(),
        ));
    }
    for (at, body) in &notes {
        let mut ev = NewEvent::new(tenant_id, action_id, EventKind::NoteAdded);
        ev.comment = Some(body.clone());
        evs.push((*at, actor.clone(), ev));
    }
    evs.sort_by_key(|(at, _, _)| *at);
    for (at, who, ev) in evs {
        events::record(txn, &who, ev, at).await.map_err(into_anyhow)?;
    }
    let note_rows: Vec<note::ActiveModel> = notes
        .into_iter()
        .map(|(at, body)| note::ActiveModel {
            tenant_id: Set(tenant_id),
            action_id: Set(action_id),
            author_id: Set(Some(author.id)),
            body: Set(body),
            created_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        })
        .collect();
    if !note_rows.is_empty() {
        note::Entity::insert_many(note_rows).exec(txn).await?;
    }
    Ok(())
}

/// The tenant's tags and what they are attached to: planned work in the sprint, the biggest open
/// items for the board, cheap open items as quick wins, unlicensed ones waiting for budget.
async fn write_tags(
    txn: &DatabaseTransaction,
    tenant_id: i64,
    plans: &[Plan],
    action_ids: &HashMap<String, i64>,
    actor: &Actor,
    clock: &Clock,
    rng: &mut StdRng,
) -> anyhow::Result<()> {
    let created_at = clock.start_of(0) - Duration::days(14);
    let rows: Vec<tag::ActiveModel> = TAGS
        .iter()
        .map(|(name, color)| tag::ActiveModel {
            tenant_id: Set(tenant_id),
            name: Set(name.to_string()),
            color: Set(color.to_string()),
            created_at: Set(created_at),
            updated_at: Set(created_at),
            ..Default::default()
        })
        .collect();
    tag::Entity::insert_many(rows).exec(txn).await?;
    let tag_ids: HashMap<String, i64> = tag::Entity::find()
        .filter(tag::Column::TenantId.eq(tenant_id))
        .all(txn)
        .await?
        .into_iter()
        .map(|t| (t.name, t.id))
        .collect();

    let open = |p: &&Plan| matches!(p.status, Status::ToAddress | Status::Planned);
    let mut chosen: Vec<(&str, &Plan)> = Vec::new();
    chosen.extend(
        plans
            .iter()
            .filter(|p| p.status == Status::Planned)
            .take(8)
            .map(|p| ("Q1 sprint", p)),
    );
    let mut biggest: Vec<&Plan> = plans.iter().filter(open).collect();
    biggest.sort_by(|a, b| {
        b.control
            .max_points
            .cmp(&a.control.max_points)
            .then(a.control.id.cmp(&b.control.id))
    });
    chosen.extend(biggest.into_iter().take(3).map(|p| ("board ask", p)));
    chosen.extend(
        plans
            .iter()
            .filter(open)
            .filter(|p| p.scored.implementation_cost == Level::Low && p.scored.licensed)
            .take(4)
            .map(|p| ("quick win", p)),
    );
    chosen.extend(
        plans
            .iter()
            .filter(|p| !p.scored.licensed)
            .take(4)
            .map(|p| ("needs budget", p)),
    );

    let mut links = Vec::new();
    for (name, p) in chosen {
        let (Some(&tag_id), Some(&action_id)) = (tag_ids.get(name), action_ids.get(&p.control.id)) else {
            continue;
        };
        let at = clock.during(rng.random_range(0..HISTORY_DAYS), rng);
        links.push(action_tag::ActiveModel {
            action_id: Set(action_id),
            tag_id: Set(tag_id),
            created_at: Set(at),
        });
        let mut ev = NewEvent::new(tenant_id, action_id, EventKind::TagAdded);
        ev.comment = Some(name.to_string());
        ev.data = Some(serde_json::json!({ "tag": name, "tagId": tag_id }));
        events::record(txn, actor, ev, at).await.map_err(into_anyhow)?;
    }
    if !links.is_empty() {
        action_tag::Entity::insert_many(links).exec(txn).await?;
    }
    Ok(())
}

/// One `COMPUTED` snapshot per day before today, scored by the domain from the simulated state of
/// that day (licences are judged at the end of the day, so an expired licence shows when it
/// lapsed).
async fn write_snapshots<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    plans: &[Plan],
    held: &[HeldLicense],
    clock: &Clock,
) -> anyhow::Result<()> {
    let mut rows = Vec::with_capacity(HISTORY_DAYS as usize);
    for t in 0..HISTORY_DAYS {
        let end_of_day = clock.start_of(t + 1);
        let mut counts: BTreeMap<String, i64> =
            Status::ALL.iter().map(|s| (s.as_str().to_string(), 0)).collect();
        let actions: Vec<ScoredAction> = plans
            .iter()
            .map(|p| {
                let (status, implemented) = p.at(t);
                *counts.entry(status.as_str().to_string()).or_default() += 1;
                let lic = licensing(
                    &p.control.required_license_plans.0,
                    held,
                    p.users_affected,
                    end_of_day,
                );
                ScoredAction {
                    status,
                    implemented,
                    licensed: lic.licensed,
                    ..p.scored.clone()
                }
            })
            .collect();
        let score = compute_score(&actions);
        rows.push(crate::service::history::snapshots::computed_row(
            tenant_id,
            clock.date(t),
            &score,
            counts,
            end_of_day.min(clock.now),
        ));
    }
    score_snapshot::Entity::insert_many(rows).exec(conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::enums::Tier;
    use chrono::TimeZone;

    fn plan(total: i64, implemented: i64, status: Status) -> Plan {
        let c = control::Model {
            id: "X".into(),
            title: "X".into(),
            category: Category::Identity,
            service: "AzureAD".into(),
            max_points: 100_000,
            tier: Tier::Core,
            user_impact: Level::Low,
            implementation_cost: Level::Low,
            threats: StringList::default(),
            action_type: crate::domain::enums::ActionType::Config,
            remediation: String::new(),
            user_impact_description: String::new(),
            prerequisites: String::new(),
            action_url: None,
            learn_more_urls: StringList::default(),
            required_license_plans: StringList::default(),
            vendor_rank: None,
            deprecated: false,
            origin: "CATALOG".into(),
            shipped_digest: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        Plan {
            scored: ScoredAction {
                category: Category::Identity,
                max_points: from_storage(c.max_points),
                deprecated: false,
                status,
                implemented,
                total,
                licensed: true,
                tier: Tier::Core,
                user_impact: Level::Low,
                implementation_cost: Level::Low,
            },
            control: c,
            total,
            users_affected: total,
            unit: "users",
            status,
            implemented,
            user_status: Status::Planned,
            start_user_status: Status::ToAddress,
            start_implemented: 0,
            status_day: 10,
            progress_day: 50,
            review_by: None,
            dips: vec![(60, 63, 40)],
        }
    }

    #[test]
    fn a_simulated_action_completes_when_progress_is_full_and_regresses_during_a_dip() {
        let p = plan(100, 100, Status::Completed);
        assert_eq!(p.at(0), (Status::ToAddress, 0), "day 0 is the start state");
        assert_eq!(
            p.at(10),
            (Status::Planned, 0),
            "status changed on day 10, progress not yet"
        );
        assert_eq!(
            p.at(17),
            (Status::Planned, 33),
            "the first of three progress steps"
        );
        assert_eq!(
            p.progress_days(),
            vec![17, 34, 50],
            "each step on its day, the last one complete"
        );
        assert_eq!(p.at(50), (Status::Completed, 100), "complete on the progress day");
        assert_eq!(p.at(61), (Status::ToAddress, 40), "regressed during the dip");
        assert_eq!(p.at(63), (Status::Completed, 100), "complete again after the dip");
        assert_eq!(
            p.at(HISTORY_DAYS),
            (Status::Completed, 100),
            "today is today's state"
        );
    }

    #[test]
    fn the_clock_puts_day_zero_ninety_days_before_today() {
        let now = Utc
            .with_ymd_and_hms(2026, 3, 31, 10, 0, 0)
            .single()
            .expect("valid time");
        let clock = Clock::new(now);
        assert_eq!(
            clock.date(0),
            NaiveDate::from_ymd_opt(2025, 12, 31).expect("valid date")
        );
        assert_eq!(
            clock.date(HISTORY_DAYS - 1),
            NaiveDate::from_ymd_opt(2026, 3, 30).expect("valid date")
        );
        let mut rng = StdRng::seed_from_u64(1);
        assert!(
            clock.during(HISTORY_DAYS, &mut rng) < clock.start_of(HISTORY_DAYS),
            "events are before today"
        );
    }

    #[test]
    fn every_tenant_gets_every_status() {
        let now = Utc
            .with_ymd_and_hms(2026, 3, 31, 10, 0, 0)
            .single()
            .expect("valid time");
        let clock = Clock::new(now);
        let controls: Vec<control::Model> = ["AzureAD", "EXO", "MDO"]
            .iter()
            .flat_map(|s| {
                (0..8).map(move |i| {
                    let mut c = plan(1, 0, Status::ToAddress).control;
                    c.id = format!("{s}{i}");
                    c.service = s.to_string();
                    c.category = if i % 2 == 0 {
                        Category::Identity
                    } else {
                        Category::Apps
                    };
                    c
                })
            })
            .collect();
        let mut rng = StdRng::seed_from_u64(SEED);
        for spec in TENANTS {
            let plans = plan_actions(spec, &controls, &[], &clock, &mut rng);
            for s in Status::ALL {
                assert!(
                    plans.iter().any(|p| p.status == s),
                    "{} has no {s} action",
                    spec.slug
                );
            }
            for p in &plans {
                assert_eq!(
                    p.at(HISTORY_DAYS),
                    (p.status, p.implemented),
                    "{} {}",
                    spec.slug,
                    p.control.id
                );
                assert_eq!(
                    p.status == Status::Completed,
                    p.implemented == p.total,
                    "{}",
                    p.control.id
                );
            }
        }
    }
}
