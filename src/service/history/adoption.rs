//! Peer adoption of a control (issue 18): how many organisations of a cohort have the same
//! control completed, resolved (third party or alternate mitigation), planned or risk-accepted,
//! with the privacy of comparisons (SPEC §8; `domain::privacy`).
//!
//! **Data.** When a day's cohort cells are written (`comparisons::write_aggregates`), each cell
//! also gets an adoption row (key `ADOPTION:band:tier:industry`): its members and, per control
//! any member adopted, each member's [`AdoptionClass`] at the end of the day — its action's
//! status replayed back over newer events, as snapshots are, counting only actions whose control
//! applied to it then (a control that does not apply, or no action, is `Other`). Only the last
//! [`WINDOW_DAYS`] days get rows (an answer uses the latest; older rows are pruned), so seeding a
//! long history or backfilling costs nothing extra. Past days are immutable, so an answer can be
//! repeated but never differenced against a later state of the same day.
//!
//! **Answers** use the latest day with adoption rows, and exactly the rules of comparisons:
//! a cohort is a union of cells (`comparisons::Selector`); the tenants the caller can read (the
//! asker included) are taken out of every cell and never count towards *k*; a cell with fewer
//! than *k* others is left out and listed. What is left of each cell gets Laplace(1/ε) noise on
//! each of the five class counts of a control, fixed per cell, day and control (a keyed hash of
//! the noise secret), so repeating or varying a query does not average it away. Published shares
//! are post-processing of the noisy sums. One answer covers every control of the asking tenant
//! in one pass (so a list of actions costs one call per cohort).

use crate::auth::Viewer;
use crate::domain::applicability::applies;
use crate::domain::enums::{EventKind, Role, Status};
use crate::domain::privacy::{
    ADOPTION_CLASSES, AdoptionClass, AdoptionCounts, AdoptionShares, CELL_PREFIX, Cell, Params,
    adoption_noise, adoption_seed, publish_adoption,
};
use crate::domain::replay::{ActionProgress, PastEvent, state_before};
use crate::error::{AppError, AppResult};
use crate::service::history::cache;
use crate::service::history::comparisons::{
    CohortSpec, ExcludedCell, Privacy, Selector, Suppression, key_of_spec, noise_secret,
};
use crate::service::history::snapshots::end_of_day;
use crate::service::state::TenantState;
use chrono::{DateTime, Days, NaiveDate, Utc};
use entity::enums::CatalogSource;
use entity::{action_event, cohort_aggregate, control, improvement_action, tenant, tenant_control};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

/// Prefix of the cohort keys of adoption rows.
pub const ADOPTION_PREFIX: &str = "ADOPTION:";

/// Days (before the day they are written on) that get adoption rows.
pub const WINDOW_DAYS: u64 = 3;

/// What `cohort_aggregate.data` holds for a cell's adoption.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct AdoptionData {
    cell: Cell,
    /// Ids of the member tenants (the cell's members).
    members: Vec<i64>,
    /// Per control any member adopted: one [`AdoptionClass::letter`] per member, in `members`
    /// order.
    controls: BTreeMap<String, String>,
}

/// The key of a cell's adoption row.
pub fn key(cell: &Cell) -> String {
    let cell_key = cell.key();
    format!("{ADOPTION_PREFIX}{}", &cell_key[CELL_PREFIX.len()..])
}

/// Whether `day` gets adoption rows when its cells are written at `now`.
pub fn in_window(day: NaiveDate, now: DateTime<Utc>) -> bool {
    now.date_naive()
        .checked_sub_days(Days::new(WINDOW_DAYS))
        .is_none_or(|first| day >= first)
}

/// Each member's class per control at the end of `day` (only classes other than `Other`).
async fn classes_at<C: ConnectionTrait>(
    conn: &C,
    tenants: &HashMap<i64, tenant::Model>,
    day: NaiveDate,
) -> AppResult<HashMap<i64, BTreeMap<String, AdoptionClass>>> {
    let end = end_of_day(day);
    // The service catalog's applicability facts (small), and the members' own profiles.
    let catalog: HashMap<String, (String, bool)> = control::Entity::find()
        .select_only()
        .column(control::Column::Id)
        .column(control::Column::Service)
        .column(control::Column::Deprecated)
        .into_tuple::<(String, String, bool)>()
        .all(conn)
        .await?
        .into_iter()
        .map(|(id, service, deprecated)| (id, (service, deprecated)))
        .collect();
    let ids: Vec<i64> = tenants.keys().copied().collect();
    let mut out: HashMap<i64, BTreeMap<String, AdoptionClass>> = HashMap::new();
    for chunk in ids.chunks(500) {
        // (tenant, control) → (service, deprecated, in latest export)
        let mut own: HashMap<(i64, String), (String, bool, bool)> = HashMap::new();
        for (tenant_id, id, service, deprecated, in_export) in tenant_control::Entity::find()
            .select_only()
            .column(tenant_control::Column::TenantId)
            .column(tenant_control::Column::Id)
            .column(tenant_control::Column::Service)
            .column(tenant_control::Column::Deprecated)
            .column(tenant_control::Column::InLatestExport)
            .filter(tenant_control::Column::TenantId.is_in(chunk.to_vec()))
            .into_tuple::<(i64, String, String, bool, bool)>()
            .all(conn)
            .await?
        {
            own.insert((tenant_id, id), (service, deprecated, in_export));
        }
        let mut newer: HashMap<i64, Vec<PastEvent>> = HashMap::new();
        for (action_id, kind, status_before) in action_event::Entity::find()
            .select_only()
            .column(action_event::Column::ActionId)
            .column(action_event::Column::Kind)
            .column(action_event::Column::StatusBefore)
            .filter(action_event::Column::TenantId.is_in(chunk.to_vec()))
            .filter(action_event::Column::OccurredAt.gte(end))
            .order_by_desc(action_event::Column::OccurredAt)
            .order_by_desc(action_event::Column::Id)
            .into_tuple::<(i64, EventKind, Option<Status>)>()
            .all(conn)
            .await?
        {
            newer.entry(action_id).or_default().push(PastEvent {
                kind,
                status_before,
                progress_before: None,
            });
        }
        for (id, tenant_id, control_id, status) in improvement_action::Entity::find()
            .select_only()
            .column(improvement_action::Column::Id)
            .column(improvement_action::Column::TenantId)
            .column(improvement_action::Column::ControlId)
            .column(improvement_action::Column::Status)
            .filter(improvement_action::Column::TenantId.is_in(chunk.to_vec()))
            .filter(improvement_action::Column::CreatedAt.lt(end))
            .into_tuple::<(i64, i64, String, Status)>()
            .all(conn)
            .await?
        {
            let Some(t) = tenants.get(&tenant_id) else {
                continue;
            };
            let (service, deprecated, in_export) = match own.get(&(tenant_id, control_id.clone())) {
                Some((service, deprecated, in_export)) => (service, *deprecated, *in_export),
                None => match catalog.get(&control_id) {
                    Some((service, deprecated)) => (service, *deprecated, false),
                    None => continue,
                },
            };
            let source: CatalogSource = t.catalog_source;
            if deprecated || !applies(source, &t.enabled_services.0, service, in_export) {
                continue;
            }
            let status = match newer.get(&id) {
                Some(events) => {
                    state_before(
                        ActionProgress {
                            status,
                            implemented: 0,
                            total: 0,
                        },
                        events,
                    )
                    .status
                }
                None => status,
            };
            let class = AdoptionClass::of(Some(status));
            if class != AdoptionClass::Other {
                out.entry(tenant_id).or_default().insert(control_id, class);
            }
        }
    }
    Ok(out)
}

/// Writes the adoption rows of `day`'s cells (`members` per cell) when the day is in the window,
/// and prunes the rows of days before it. Run in `comparisons::write_aggregates`' transaction,
/// which keeps the keys [`key`] gives (and deletes the day's others).
pub async fn write<C: ConnectionTrait>(
    conn: &C,
    day: NaiveDate,
    now: DateTime<Utc>,
    cells: &[(Cell, Vec<i64>)],
    tenants: &HashMap<i64, tenant::Model>,
) -> AppResult<usize> {
    if let Some(first) = now.date_naive().checked_sub_days(Days::new(WINDOW_DAYS)) {
        cohort_aggregate::Entity::delete_many()
            .filter(cohort_aggregate::Column::Day.lt(first))
            .filter(cohort_aggregate::Column::CohortKey.starts_with(ADOPTION_PREFIX))
            .exec(conn)
            .await?;
    }
    if !in_window(day, now) || cells.is_empty() {
        return Ok(0);
    }
    let classes = classes_at(conn, tenants, day).await?;
    let mut models = Vec::with_capacity(cells.len());
    for (cell, members) in cells {
        let adopted: BTreeSet<&String> = members
            .iter()
            .filter_map(|m| classes.get(m))
            .flat_map(|c| c.keys())
            .collect();
        let controls = adopted
            .into_iter()
            .map(|control_id| {
                let letters = members
                    .iter()
                    .map(|m| {
                        classes
                            .get(m)
                            .and_then(|c| c.get(control_id))
                            .copied()
                            .unwrap_or(AdoptionClass::Other)
                            .letter()
                    })
                    .collect();
                (control_id.clone(), letters)
            })
            .collect();
        let data = AdoptionData {
            cell: cell.clone(),
            members: members.clone(),
            controls,
        };
        let json = serde_json::to_value(&data)
            .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("adoption cell")))?;
        models.push(cohort_aggregate::ActiveModel {
            day: Set(day),
            cohort_key: Set(key(cell)),
            member_count: Set(members.len() as i64),
            data: Set(json),
            computed_at: Set(now),
            ..Default::default()
        });
    }
    let written = models.len();
    for chunk in models.chunks(500) {
        cohort_aggregate::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([cohort_aggregate::Column::Day, cohort_aggregate::Column::CohortKey])
                    .update_columns([
                        cohort_aggregate::Column::MemberCount,
                        cohort_aggregate::Column::Data,
                        cohort_aggregate::Column::ComputedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    Ok(written)
}

/// The latest day on or before `day` with adoption rows.
pub async fn latest_day<C: ConnectionTrait>(conn: &C, day: NaiveDate) -> AppResult<Option<NaiveDate>> {
    Ok(cohort_aggregate::Entity::find()
        .filter(cohort_aggregate::Column::Day.lte(day))
        .filter(cohort_aggregate::Column::CohortKey.starts_with(ADOPTION_PREFIX))
        .order_by_desc(cohort_aggregate::Column::Day)
        .one(conn)
        .await?
        .map(|row| row.day))
}

/// One cell of a day, parsed.
struct CellAdoption {
    cell: Cell,
    members: Vec<i64>,
    /// Per control any member adopted: the class counts over all members and each member's
    /// class (in `members` order).
    controls: HashMap<String, ([u32; ADOPTION_CLASSES], Vec<u8>)>,
}

/// A day's adoption rows, parsed, with the noise drawn so far (it is fixed per cell, day and
/// control, so it is drawn once per process).
struct DayAdoption {
    /// (database epoch, day, version, noise key): what the entry is valid for.
    key: (String, NaiveDate, i64, [u8; 32]),
    cells: Vec<CellAdoption>,
    noise: Mutex<HashMap<(usize, String), AdoptionCounts>>,
}

/// Recently used days (an answer reads the latest day, so a few entries suffice).
static DAYS: LazyLock<Mutex<Vec<Arc<DayAdoption>>>> = LazyLock::new(Mutex::default);
const CACHED_DAYS: usize = 4;

fn noise_key(secret: &[u8], params: &Params) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"adoption")
        .chain_update((secret.len() as u64).to_be_bytes())
        .chain_update(secret)
        .chain_update(params.epsilon.to_bits().to_be_bytes())
        .finalize()
        .into()
}

/// The parsed adoption rows of `day`, from the process's cache when they are still at the day's
/// version, else read.
async fn day_adoption<C: ConnectionTrait>(
    conn: &C,
    day: NaiveDate,
    privacy: &Privacy,
) -> AppResult<(Arc<DayAdoption>, Vec<u8>)> {
    let versions = cache::read_versions(conn, day, day).await?;
    let secret = match privacy.configured_secret.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => s.as_bytes().to_vec(),
        None => match versions.stored_secret() {
            Some(s) => s.as_bytes().to_vec(),
            None => noise_secret(conn, None).await?,
        },
    };
    let version = versions.days().find(|(d, _)| *d == day).map(|(_, v)| v);
    let wanted = match (versions.epoch(), version) {
        (Some(epoch), Some(v)) => Some((epoch.to_string(), day, v, noise_key(&secret, &privacy.params))),
        _ => None,
    };
    if let Some(k) = &wanted {
        let days = DAYS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = days.iter().find(|d| d.key == *k) {
            return Ok((found.clone(), secret));
        }
    }
    let rows = cohort_aggregate::Entity::find()
        .filter(cohort_aggregate::Column::Day.eq(day))
        .filter(cohort_aggregate::Column::CohortKey.starts_with(ADOPTION_PREFIX))
        .order_by_asc(cohort_aggregate::Column::CohortKey)
        .all(conn)
        .await?;
    let mut cells = Vec::with_capacity(rows.len());
    for row in rows {
        let data: AdoptionData = serde_json::from_value(row.data)
            .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("unreadable adoption cell")))?;
        let n = data.members.len();
        let controls = data
            .controls
            .into_iter()
            .map(|(control_id, letters)| {
                let letters = letters.into_bytes();
                let mut counts = [0u32; ADOPTION_CLASSES];
                for l in letters.iter().take(n) {
                    counts[AdoptionClass::of_letter(*l).index()] += 1;
                }
                // A member without a letter (never written so) is `Other`.
                counts[AdoptionClass::Other.index()] += n.saturating_sub(letters.len()) as u32;
                (control_id, (counts, letters))
            })
            .collect();
        cells.push(CellAdoption {
            cell: data.cell,
            members: data.members,
            controls,
        });
    }
    cells.sort_by(|a, b| a.cell.cmp(&b.cell));
    let entry = Arc::new(DayAdoption {
        key: wanted
            .clone()
            .unwrap_or_else(|| (String::new(), day, -1, [0; 32])),
        cells,
        noise: Mutex::default(),
    });
    if wanted.is_some() {
        let mut days = DAYS.lock().unwrap_or_else(|e| e.into_inner());
        days.retain(|d| d.key != entry.key);
        days.insert(0, entry.clone());
        days.truncate(CACHED_DAYS);
    }
    Ok((entry, secret))
}

/// Peer adoption of a set of controls in one cohort.
#[derive(Clone, Debug)]
pub struct AdoptionAnswer {
    /// The day of the figures (the latest with adoption rows); `None` when there is none.
    pub day: Option<NaiveDate>,
    pub spec: CohortSpec,
    /// The cohort key, as `comparisons` names it.
    pub key: String,
    /// Shares per control asked for, or why the cohort is withheld.
    pub figures: Result<HashMap<String, AdoptionShares>, Suppression>,
    /// Cells of the cohort left out, sorted.
    pub excluded: Vec<ExcludedCell>,
    /// Cells the figures are made of.
    pub included_cells: usize,
    pub params: Params,
}

/// Peer adoption (READER of the asker): for each of `control_ids`, the shares of the cohort's
/// organisations per class on the latest day with adoption rows, without the tenants the caller
/// can read, from cells with at least k others, with noise fixed per cell, day and control.
pub async fn adoption<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    live: &TenantState,
    spec: CohortSpec,
    control_ids: &[String],
    privacy: &Privacy,
    today: NaiveDate,
) -> AppResult<AdoptionAnswer> {
    let asker = &live.tenant;
    viewer.require(asker.id, Role::Reader)?;
    let selector = Selector::of(&spec, asker)?;
    let params = privacy.params;
    let mut answer = AdoptionAnswer {
        day: None,
        key: key_of_spec(&spec, asker),
        spec,
        figures: Err(Suppression::NoData),
        excluded: Vec::new(),
        included_cells: 0,
        params,
    };
    let Some(day) = latest_day(conn, today).await? else {
        return Ok(answer);
    };
    answer.day = Some(day);
    let (data, secret) = day_adoption(conn, day, privacy).await?;
    if data.cells.is_empty() {
        return Ok(answer);
    }

    // The caller's own tenants (the asker among them) never count.
    let mut readable = viewer.tenant_ids();
    readable.push(asker.id);
    readable.sort_unstable();
    readable.dedup();
    let is_readable = |id: &i64| readable.binary_search(id).is_ok();

    let mut included: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut left_out: Vec<&Cell> = Vec::new();
    for (i, c) in data.cells.iter().enumerate() {
        if !selector.contains(&c.cell) {
            continue;
        }
        let own: Vec<usize> = (0..c.members.len())
            .filter(|&m| is_readable(&c.members[m]))
            .collect();
        if c.members.len() - own.len() < params.k {
            left_out.push(&c.cell);
        } else {
            included.push((i, own));
        }
    }
    // As comparisons do: when the cohort names its industries, every named cell that is not
    // counted is listed, existing or not.
    let mut excluded: BTreeSet<&Cell> = left_out.into_iter().collect();
    let named = selector.named_cells();
    for cell in &named {
        if !data.cells.iter().any(|c| c.cell == *cell) {
            excluded.insert(cell);
        }
    }
    answer.excluded = excluded
        .into_iter()
        .map(|cell| ExcludedCell {
            cell: cell.clone(),
            k: params.k,
        })
        .collect();
    answer.included_cells = included.len();
    if included.is_empty() {
        answer.figures = Err(Suppression::TooFewTenants { k: params.k });
        return Ok(answer);
    }

    let mut noise = data.noise.lock().unwrap_or_else(|e| e.into_inner());
    let mut figures = HashMap::with_capacity(control_ids.len());
    for control_id in control_ids {
        let mut sum: AdoptionCounts = [0.0; ADOPTION_CLASSES];
        for (i, own) in &included {
            let c = &data.cells[*i];
            let n = c.members.len();
            let mut counts = [0.0; ADOPTION_CLASSES];
            match c.controls.get(control_id) {
                Some((exact, letters)) => {
                    for (k, v) in exact.iter().enumerate() {
                        counts[k] = f64::from(*v);
                    }
                    for m in own {
                        let class = letters
                            .get(*m)
                            .map_or(AdoptionClass::Other, |l| AdoptionClass::of_letter(*l));
                        counts[class.index()] -= 1.0;
                    }
                }
                None => counts[AdoptionClass::Other.index()] = (n - own.len()) as f64,
            }
            let drawn = noise.entry((*i, control_id.clone())).or_insert_with(|| {
                adoption_noise(&adoption_seed(&secret, &c.cell, day, control_id), params.epsilon)
            });
            for k in 0..ADOPTION_CLASSES {
                sum[k] += counts[k] + drawn[k];
            }
        }
        figures.insert(control_id.clone(), publish_adoption(&sum));
    }
    answer.figures = Ok(figures);
    Ok(answer)
}
