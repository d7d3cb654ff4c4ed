//! Score zones and dated goals (SPEC §8): what a tenant aims for, where it stands, and where the
//! recent trend takes it (`domain::goals`: least squares over the last 30 days of history,
//! today's live score included).

use crate::auth::Viewer;
use crate::domain::enums::Role;
use crate::domain::goals::{Zone, project, zone};
use crate::domain::points::Points;
use crate::error::{AppError, AppResult};
use crate::service::NOTE_MAX_CHARS;
use crate::service::access::tenants;
use crate::service::state::TenantState;
use chrono::{DateTime, Days, NaiveDate, Utc};
use entity::{score_goal, score_snapshot, score_zone};
use rust_decimal::Decimal;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

/// A percentage as the least-squares fit takes it (a forecast, so 10 places are plenty).
fn fit_value(p: &Points) -> Decimal {
    p.round_dp(10)
}

/// Days of history the projection is fitted to.
pub const TREND_WINDOW_DAYS: u64 = 30;

fn check_percentage(field: &str, value: Decimal) -> AppResult<()> {
    if value < Decimal::ZERO || value > Decimal::ONE_HUNDRED {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be between 0 and 100"),
        ));
    }
    Ok(())
}

/// `setScoreZones` (OPERATOR): replaces the tenant's zones.
pub async fn set_zones(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tenant_slug: &str,
    okay_from: Decimal,
    good_from: Decimal,
    now: DateTime<Utc>,
) -> AppResult<score_zone::Model> {
    let tenant = tenants::by_slug(db, viewer, tenant_slug).await?;
    viewer.require(tenant.id, Role::Operator)?;
    check_percentage("okayFrom", okay_from)?;
    check_percentage("goodFrom", good_from)?;
    if okay_from >= good_from {
        return Err(AppError::bad_input("goodFrom", "goodFrom must be above okayFrom"));
    }
    let txn = crate::db::begin_write(db).await?;
    score_zone::Entity::insert(score_zone::ActiveModel {
        tenant_id: Set(tenant.id),
        okay_from: Set(Points::from_decimal(okay_from).to_storage()),
        good_from: Set(Points::from_decimal(good_from).to_storage()),
        updated_by: Set(Some(viewer.principal_id)),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(score_zone::Column::TenantId)
            .update_columns([
                score_zone::Column::OkayFrom,
                score_zone::Column::GoodFrom,
                score_zone::Column::UpdatedBy,
                score_zone::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    let saved = score_zone::Entity::find_by_id(tenant.id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("score zones vanished after the upsert")))?;
    txn.commit().await?;
    Ok(saved)
}

/// `setScoreGoal` (OPERATOR): adds a dated target.
pub async fn set_goal(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tenant_slug: &str,
    target_percentage: Decimal,
    target_date: NaiveDate,
    note: Option<String>,
    now: DateTime<Utc>,
) -> AppResult<score_goal::Model> {
    let tenant = tenants::by_slug(db, viewer, tenant_slug).await?;
    viewer.require(tenant.id, Role::Operator)?;
    check_goal(target_percentage, target_date, note.as_deref(), now)?;
    let txn = crate::db::begin_write(db).await?;
    let goal = score_goal::ActiveModel {
        tenant_id: Set(tenant.id),
        target_percentage: Set(Points::from_decimal(target_percentage).to_storage()),
        target_date: Set(target_date),
        note: Set(note.filter(|n| !n.trim().is_empty())),
        created_by: Set(Some(viewer.principal_id)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(goal)
}

/// The rules of a goal: a target above 0 and at most 100, a date in the future, a note of at
/// most 10,000 characters of safe text.
fn check_goal(
    target_percentage: Decimal,
    target_date: NaiveDate,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if target_percentage <= Decimal::ZERO || target_percentage > Decimal::ONE_HUNDRED {
        return Err(AppError::bad_input(
            "targetPercentage",
            "targetPercentage must be above 0 and at most 100",
        ));
    }
    if target_date <= now.date_naive() {
        return Err(AppError::bad_input(
            "targetDate",
            "targetDate must be in the future",
        ));
    }
    if let Some(n) = note.filter(|n| !n.is_empty()) {
        crate::service::check_text("note", n, true)?;
    }
    if note.is_some_and(|n| n.chars().count() > NOTE_MAX_CHARS) {
        return Err(AppError::bad_input(
            "note",
            "note must be at most 10000 characters",
        ));
    }
    Ok(())
}

/// A goal by id for a viewer with `needed` on its tenant; a goal of a tenant the viewer holds no
/// role on answers `NOT_FOUND` exactly like one that does not exist.
async fn goal_for<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    goal_id: i64,
    needed: Role,
) -> AppResult<score_goal::Model> {
    let goal = score_goal::Entity::find_by_id(goal_id)
        .one(conn)
        .await?
        .filter(|g| viewer.role_on(g.tenant_id).is_some())
        .ok_or(AppError::NotFound("score goal"))?;
    viewer.require(goal.tenant_id, needed)?;
    Ok(goal)
}

/// The tenants of the goals among `ids` that the viewer may read (READER or more on the
/// goal's tenant), by goal id; the others are left out, exactly like ids that do not exist.
pub async fn tenants_of_goals(
    db: &DatabaseConnection,
    viewer: &Viewer,
    ids: &[i64],
) -> AppResult<std::collections::HashMap<i64, entity::tenant::Model>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let goals = score_goal::Entity::find()
        .filter(score_goal::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?;
    let tenant_ids: Vec<i64> = goals
        .iter()
        .map(|g| g.tenant_id)
        .filter(|t| viewer.role_on(*t).is_some())
        .collect();
    let tenants: std::collections::HashMap<i64, entity::tenant::Model> = entity::tenant::Entity::find()
        .filter(entity::tenant::Column::Id.is_in(tenant_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    Ok(goals
        .into_iter()
        .filter_map(|g| tenants.get(&g.tenant_id).map(|t| (g.id, t.clone())))
        .collect())
}

/// What `updateScoreGoal` changes; `None` keeps a field, `Some(None)` clears the note.
#[derive(Clone, Debug, Default)]
pub struct GoalChanges {
    pub target_percentage: Option<Decimal>,
    pub target_date: Option<NaiveDate>,
    pub note: Option<Option<String>>,
}

/// `updateScoreGoal` (OPERATOR): changes a goal's target, date or note, checked like a new goal
/// (a goal whose date has passed may only be moved to a future date). Returns the goal and its
/// tenant's slug.
pub async fn update_goal(
    db: &DatabaseConnection,
    viewer: &Viewer,
    goal_id: i64,
    changes: GoalChanges,
    now: DateTime<Utc>,
) -> AppResult<(score_goal::Model, String)> {
    let txn = crate::db::begin_write(db).await?;
    let goal = goal_for(&txn, viewer, goal_id, Role::Operator).await?;
    let target = changes
        .target_percentage
        .unwrap_or_else(|| Points::from_storage(goal.target_percentage).round_dp(4));
    let date = changes.target_date.unwrap_or(goal.target_date);
    let note = match &changes.note {
        Some(n) => n.clone(),
        None => goal.note.clone(),
    };
    check_goal(target, date, note.as_deref(), now)?;
    let tenant = entity::tenant::Entity::find_by_id(goal.tenant_id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("score goal"))?;
    let mut active: score_goal::ActiveModel = goal.into();
    if let Some(t) = changes.target_percentage {
        active.target_percentage = Set(Points::from_decimal(t).to_storage());
    }
    if let Some(d) = changes.target_date {
        active.target_date = Set(d);
    }
    if changes.note.is_some() {
        active.note = Set(note.filter(|n| !n.trim().is_empty()));
    }
    let saved = active.update(&txn).await?;
    txn.commit().await?;
    Ok((saved, tenant.slug))
}

/// `deleteScoreGoal` (OPERATOR): deletes a goal; returns its tenant's slug.
pub async fn delete_goal(db: &DatabaseConnection, viewer: &Viewer, goal_id: i64) -> AppResult<String> {
    let txn = crate::db::begin_write(db).await?;
    let goal = goal_for(&txn, viewer, goal_id, Role::Operator).await?;
    let tenant = entity::tenant::Entity::find_by_id(goal.tenant_id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("score goal"))?;
    score_goal::Entity::delete_by_id(goal.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(tenant.slug)
}

/// The zones with the zone the current score is in.
#[derive(Clone, Debug, PartialEq)]
pub struct Zones {
    pub okay_from: Points,
    pub good_from: Points,
    pub current_zone: Zone,
    pub updated_at: DateTime<Utc>,
}

/// A goal with where the tenant stands against it.
#[derive(Clone, Debug, PartialEq)]
pub struct GoalProgress {
    pub id: i64,
    pub target_percentage: Points,
    pub target_date: NaiveDate,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Current percentage ÷ target (1 or more once reached), exact.
    pub progress: Points,
    /// Where the least-squares line of the last 30 days is on the target date; `None` with less
    /// than two days of history or for a date already past.
    pub projected_percentage_at_target: Option<Decimal>,
    /// Reached already, or projected to be reached by the target date; `None` without a
    /// projection.
    pub on_track: Option<bool>,
}

/// `Tenant.goals`.
#[derive(Clone, Debug, PartialEq)]
pub struct Goals {
    /// Exact.
    pub current_percentage: Points,
    pub zones: Option<Zones>,
    /// Every goal, by target date.
    pub goals: Vec<GoalProgress>,
    /// The earliest goal whose date is today or later.
    pub current_goal: Option<GoalProgress>,
}

/// `Tenant.goals` (READER).
pub async fn goals<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    live: &TenantState,
    today: NaiveDate,
) -> AppResult<Goals> {
    let tenant_id = live.tenant.id;
    viewer.require(tenant_id, Role::Reader)?;
    let current = live.score.overall.percentage(&live.score.overall.current);
    let mut series: Vec<(NaiveDate, Decimal)> = Vec::new();
    for s in score_snapshot::Entity::find()
        .filter(score_snapshot::Column::TenantId.eq(tenant_id))
        .filter(score_snapshot::Column::Day.gte(today - Days::new(TREND_WINDOW_DAYS)))
        .filter(score_snapshot::Column::Day.lt(today))
        .order_by_asc(score_snapshot::Column::Day)
        .all(conn)
        .await?
    {
        let day = crate::service::history::snapshots::DailyScore::stored(&s)?;
        series.push((s.day, fit_value(&day.overall.percentage(&day.overall.current))));
    }
    series.push((today, fit_value(&current)));
    let zones = score_zone::Entity::find_by_id(tenant_id)
        .one(conn)
        .await?
        .map(|z| {
            let (okay_from, good_from) = (
                Points::from_storage(z.okay_from),
                Points::from_storage(z.good_from),
            );
            Zones {
                current_zone: zone(&current, &okay_from, &good_from),
                okay_from,
                good_from,
                updated_at: z.updated_at,
            }
        });
    let goals: Vec<GoalProgress> = score_goal::Entity::find()
        .filter(score_goal::Column::TenantId.eq(tenant_id))
        .order_by_asc(score_goal::Column::TargetDate)
        .order_by_asc(score_goal::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(|g| progress_of(g, &current, &series, today))
        .collect();
    let current_goal = goals.iter().find(|g| g.target_date >= today).cloned();
    Ok(Goals {
        current_percentage: current,
        zones,
        goals,
        current_goal,
    })
}

/// Where the tenant stands against one goal (pure).
fn progress_of(
    g: score_goal::Model,
    current: &Points,
    series: &[(NaiveDate, Decimal)],
    today: NaiveDate,
) -> GoalProgress {
    let target = Points::from_storage(g.target_percentage);
    let progress = current
        .checked_div(&target)
        .unwrap_or_else(|| Points::from_integer(1));
    let projected = (g.target_date >= today)
        .then(|| project(series, g.target_date))
        .flatten();
    // Whether the goal is reached is exact; the projection is a forecast.
    let on_track = if *current >= target {
        Some(true)
    } else {
        projected.map(|p| Points::from_decimal(p) >= target)
    };
    GoalProgress {
        id: g.id,
        target_percentage: target,
        target_date: g.target_date,
        note: g.note,
        created_at: g.created_at,
        progress,
        projected_percentage_at_target: projected,
        on_track,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("valid decimal in test")
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("valid date in test")
    }

    fn goal(target: &str, date: &str) -> score_goal::Model {
        score_goal::Model {
            id: 1,
            tenant_id: 1,
            target_percentage: Points::from_decimal(d(target)).to_storage(),
            target_date: day(date),
            note: None,
            created_by: None,
            created_at: DateTime::<Utc>::MIN_UTC,
        }
    }

    #[test]
    fn a_goal_is_judged_by_the_projection_of_the_recent_trend() {
        // +1 percentage point a day: 50 on the 1st, 52 on the 3rd (today).
        let series = [(day("2026-01-01"), d("50")), (day("2026-01-03"), d("52"))];
        let today = day("2026-01-03");
        let cases = [
            (
                "60",
                "2026-01-11",
                Some("60"),
                Some(true),
                "reached exactly on the date",
            ),
            ("60", "2026-01-10", Some("59"), Some(false), "one day short"),
            ("50", "2026-01-05", Some("54"), Some(true), "already reached"),
            ("90", "2026-01-01", None, None, "date passed: no projection"),
        ];
        for (target, date, projected, on_track, why) in cases {
            let p = progress_of(goal(target, date), &Points::from_integer(52), &series, today);
            assert_eq!(
                p.projected_percentage_at_target,
                projected.map(d),
                "{why}: projection"
            );
            assert_eq!(p.on_track, on_track, "{why}: on track");
        }
        let current = Points::from_integer(52);
        let p = progress_of(goal("80", "2026-02-01"), &current, &series, today);
        assert_eq!(p.progress, Points::from_decimal(d("0.65")), "52 of 80");
        let flat = progress_of(goal("80", "2026-02-01"), &current, &series[1..], today);
        assert_eq!(flat.projected_percentage_at_target, None, "one day of history");
        assert_eq!(flat.on_track, None, "no projection, not reached");
    }
}
