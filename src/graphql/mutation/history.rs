//! Goal mutations (SPEC §8): score zones and dated targets (OPERATOR). Each runs in one
//! transaction in `service::history::goals` and returns the tenant's zones and goals as they now stand.

use crate::error::{AppError, AppResult};
use crate::graphql::types::UserError;
use crate::graphql::types::history::{Date, ScoreGoal, ScoreGoals};
use crate::graphql::types::user_error::split;
use crate::graphql::{db, viewer};
use crate::service::access::tenants;
use crate::service::history::goals;
use async_graphql::{Context, InputObject, Object, Result, SimpleObject};
use chrono::Utc;
use rust_decimal::Decimal;

#[derive(Default)]
pub struct HistoryMutation;

/// A percentage from the API as an exact decimal (ten-thousandths, as stored).
fn percentage(field: &str, value: f64) -> AppResult<Decimal> {
    Decimal::try_from(value)
        .map(|d| d.round_dp(4))
        .map_err(|_| AppError::bad_input(field, format!("{field} must be a number between 0 and 100")))
}

/// The tenant's zones and goals after a committed change.
async fn current_goals(ctx: &Context<'_>, slug: &str) -> AppResult<goals::Goals> {
    let (db, viewer) = (db(ctx), viewer(ctx)?);
    let now = Utc::now();
    let tenant = tenants::by_slug(db, viewer, slug).await?;
    let state = crate::graphql::loaders::states(ctx)?
        .for_viewer(viewer, &tenant, None)
        .await?;
    goals::goals(db, viewer, &state, now.date_naive()).await
}

/// One goal of the tenant after a committed change, with all its zones and goals.
async fn goal_and_all(
    ctx: &Context<'_>,
    slug: &str,
    goal_id: i64,
) -> AppResult<(Option<ScoreGoal>, ScoreGoals)> {
    let all = current_goals(ctx, slug).await?;
    let goal = all
        .goals
        .iter()
        .find(|g| g.id == goal_id)
        .cloned()
        .map(Into::into);
    Ok((goal, all.into()))
}

/// Input of `setScoreZones`: percentages, `0 ≤ okayFrom < goodFrom ≤ 100`.
#[derive(InputObject)]
pub struct SetScoreZonesInput {
    /// The tenant (OPERATOR).
    pub tenant_slug: String,
    /// Percentage from which the score is OKAY.
    pub okay_from: f64,
    /// Percentage from which the score is GOOD (above `okayFrom`, at most 100).
    pub good_from: f64,
}

/// Result of `setScoreZones`.
#[derive(SimpleObject)]
pub struct SetScoreZonesPayload {
    /// The tenant's zones (with the current zone) and goals after the change.
    pub goals: Option<ScoreGoals>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Input of `setScoreGoal`: reach `targetPercentage` (above 0, at most 100) by `targetDate`
/// (in the future).
#[derive(InputObject)]
pub struct SetScoreGoalInput {
    /// The tenant (OPERATOR).
    pub tenant_slug: String,
    /// The percentage to reach: above 0, at most 100.
    pub target_percentage: f64,
    /// The day to reach it by (in the future).
    pub target_date: Date,
    /// What the goal is for (optional).
    pub note: Option<String>,
}

/// Result of `setScoreGoal`.
#[derive(SimpleObject)]
pub struct SetScoreGoalPayload {
    /// The goal just set, with its progress and projection.
    pub goal: Option<ScoreGoal>,
    /// All of the tenant's zones and goals after the change.
    pub goals: Option<ScoreGoals>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Input of `updateScoreGoal`: the goal and what changes (omitted fields keep their value).
#[derive(InputObject)]
pub struct UpdateScoreGoalInput {
    /// `ScoreGoal.id`.
    pub goal_id: async_graphql::ID,
    /// Above 0, at most 100.
    pub target_percentage: Option<f64>,
    /// In the future.
    pub target_date: Option<Date>,
    /// A new note; `null` or an empty string removes it.
    pub note: async_graphql::MaybeUndefined<String>,
}

/// Result of `updateScoreGoal`.
#[derive(SimpleObject)]
pub struct UpdateScoreGoalPayload {
    /// The goal as it now stands, with its progress and projection.
    pub goal: Option<ScoreGoal>,
    /// All of the tenant's zones and goals after the change.
    pub goals: Option<ScoreGoals>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Input of `deleteScoreGoal`.
#[derive(InputObject)]
pub struct DeleteScoreGoalInput {
    /// `ScoreGoal.id`.
    pub goal_id: async_graphql::ID,
}

/// Result of `deleteScoreGoal`.
#[derive(SimpleObject)]
pub struct DeleteScoreGoalPayload {
    /// The id of the goal deleted.
    pub deleted_goal_id: Option<async_graphql::ID>,
    /// The tenant's zones and remaining goals.
    pub goals: Option<ScoreGoals>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// A goal id from the API; anything that is not one answers like a goal that does not exist.
fn goal_id(id: &async_graphql::ID) -> AppResult<i64> {
    crate::graphql::ids::decode_i64(id, "ScoreGoal").ok_or(AppError::NotFound("score goal"))
}

#[Object]
impl HistoryMutation {
    /// Sets the tenant's score zones (OPERATOR).
    async fn set_score_zones(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `SetScoreZonesInput`.")] input: SetScoreZonesInput,
    ) -> Result<SetScoreZonesPayload> {
        let result = async {
            let okay = percentage("okayFrom", input.okay_from)?;
            let good = percentage("goodFrom", input.good_from)?;
            goals::set_zones(db(ctx), viewer(ctx)?, &input.tenant_slug, okay, good, Utc::now()).await
        }
        .await;
        let (saved, user_errors) = split(result)?;
        let goals = match saved {
            Some(_) => Some(current_goals(ctx, &input.tenant_slug).await?.into()),
            None => None,
        };
        Ok(SetScoreZonesPayload { goals, user_errors })
    }

    /// Adds a dated score goal (OPERATOR).
    async fn set_score_goal(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `SetScoreGoalInput`.")] input: SetScoreGoalInput,
    ) -> Result<SetScoreGoalPayload> {
        let result = async {
            let target = percentage("targetPercentage", input.target_percentage)?;
            goals::set_goal(
                db(ctx),
                viewer(ctx)?,
                &input.tenant_slug,
                target,
                input.target_date.0,
                input.note.clone(),
                Utc::now(),
            )
            .await
        }
        .await;
        let (saved, user_errors) = split(result)?;
        let Some(saved) = saved else {
            return Ok(SetScoreGoalPayload {
                goal: None,
                goals: None,
                user_errors,
            });
        };
        let (goal, goals) = goal_and_all(ctx, &input.tenant_slug, saved.id).await?;
        Ok(SetScoreGoalPayload {
            goal,
            goals: Some(goals),
            user_errors,
        })
    }

    /// Changes a goal's target, date or note (OPERATOR of its tenant). Validated like
    /// `setScoreGoal`; a goal of a tenant you hold no role on is `NOT_FOUND`.
    async fn update_score_goal(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `UpdateScoreGoalInput`.")] input: UpdateScoreGoalInput,
    ) -> Result<UpdateScoreGoalPayload> {
        let result = async {
            let id = goal_id(&input.goal_id)?;
            let changes = goals::GoalChanges {
                target_percentage: input
                    .target_percentage
                    .map(|t| percentage("targetPercentage", t))
                    .transpose()?,
                target_date: input.target_date.map(|d| d.0),
                note: match input.note {
                    async_graphql::MaybeUndefined::Undefined => None,
                    async_graphql::MaybeUndefined::Null => Some(None),
                    async_graphql::MaybeUndefined::Value(n) => Some(Some(n)),
                },
            };
            goals::update_goal(db(ctx), viewer(ctx)?, id, changes, Utc::now()).await
        }
        .await;
        let (saved, user_errors) = split(result)?;
        let Some((saved, slug)) = saved else {
            return Ok(UpdateScoreGoalPayload {
                goal: None,
                goals: None,
                user_errors,
            });
        };
        let (goal, goals) = goal_and_all(ctx, &slug, saved.id).await?;
        Ok(UpdateScoreGoalPayload {
            goal,
            goals: Some(goals),
            user_errors,
        })
    }

    /// Deletes a goal (OPERATOR of its tenant); a goal of a tenant you hold no role on is
    /// `NOT_FOUND`.
    async fn delete_score_goal(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `DeleteScoreGoalInput`.")] input: DeleteScoreGoalInput,
    ) -> Result<DeleteScoreGoalPayload> {
        let result = async {
            let id = goal_id(&input.goal_id)?;
            goals::delete_goal(db(ctx), viewer(ctx)?, id).await
        }
        .await;
        let (slug, user_errors) = split(result)?;
        let Some(slug) = slug else {
            return Ok(DeleteScoreGoalPayload {
                deleted_goal_id: None,
                goals: None,
                user_errors,
            });
        };
        Ok(DeleteScoreGoalPayload {
            deleted_goal_id: Some(input.goal_id),
            goals: Some(current_goals(ctx, &slug).await?.into()),
            user_errors,
        })
    }
}
