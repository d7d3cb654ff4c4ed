//! The score views of a tenant (SPEC §3), overall and per category, as the API presents them:
//! exact rationals inside, floats rounded to 2 decimal places (halves away from zero) outside,
//! with the exact points as a fraction beside them.

use crate::domain::points::Points;
use crate::domain::scoring::ScoreViews;
use crate::graphql::ids;
use crate::graphql::types::enums::Category;
use crate::graphql::types::present;
use crate::service::state::TenantState;
use async_graphql::{ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A tenant's score: every view overall and per category.
pub struct SecureScore {
    state: Arc<TenantState>,
    /// What identifies a what-if answer among the tenant's hypothetical scores; `None` for the
    /// tenant's live score.
    hypothesis: Option<String>,
}

impl SecureScore {
    /// The live score of a tenant state.
    pub fn new(state: Arc<TenantState>) -> SecureScore {
        SecureScore {
            state,
            hypothesis: None,
        }
    }

    /// A what-if answer: `hypothesis` tells it apart from the live score and other what-ifs
    /// (a digest of the question and the state it was asked of), so a normalised client cache
    /// never mistakes it for the live score.
    pub fn hypothetical(state: Arc<TenantState>, hypothesis: String) -> SecureScore {
        SecureScore {
            state,
            hypothesis: Some(hypothesis),
        }
    }

    /// The key of this score's global id: the tenant id, plus the hypothesis of a what-if.
    fn key(&self) -> String {
        match &self.hypothesis {
            None => self.state.tenant.id.to_string(),
            Some(h) => format!("{}:whatif:{h}", self.state.tenant.id),
        }
    }

    fn overall(&self) -> &ScoreViews {
        &self.state.score.overall
    }
}

/// One view of the score.
#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct ScoreView {
    /// Points of this view, rounded to 2 decimal places (halves away from zero) from the exact
    /// value.
    pub points: f64,
    /// The exact points as a reduced fraction or integer, e.g. `"250/21"` or `"37"`: partial
    /// credit (`max × implemented / total`) is a rational number, and every figure here is
    /// computed from exact values.
    pub points_exact: String,
    /// The maximum these points are out of (the tenant's or the category's `maxScore`).
    pub max: f64,
    /// `points / max × 100` (0 when `max` is 0), from the exact values, rounded to 2 places.
    pub percentage: f64,
}

/// The presentation of `points` out of `views.max_score`.
pub(crate) fn view(views: &ScoreViews, points: &Points) -> ScoreView {
    ScoreView {
        points: present(points),
        points_exact: points.to_exact_string(),
        max: present(&views.max_score),
        percentage: present(views.percentage(points)),
    }
}

impl SecureScore {
    /// The score's views per category, as `categories` answers them.
    pub(crate) fn category_scores(&self) -> Vec<CategoryScore> {
        self.state
            .score
            .categories
            .iter()
            .map(|(c, v)| CategoryScore::new(&self.key(), (*c).into(), v))
            .collect()
    }
}

/// A tenant's score: every view overall and per category. Views are nested: `current ≤ achievable ≤
/// currentLicense ≤ maxScore`.
#[Object]
impl SecureScore {
    /// Stable id for client caches: the live score of a tenant keeps one id (so a mutation's
    /// `tenant { secureScore { … } }` updates what a cache holds), and each what-if answer has
    /// its own. `node` resolves the live score's id to the score now; a what-if answer's id
    /// resolves to `null`, since the id keeps only a digest of the question, not the question.
    pub async fn id(&self) -> ID {
        ids::encode("SecureScore", self.key())
    }
    /// Σ max of the applicable, non-deprecated actions (its percentage is 100, or 0 when there
    /// are none).
    async fn max_score(&self) -> ScoreView {
        view(self.overall(), &self.overall().max_score)
    }
    /// Σ points achieved.
    async fn current(&self) -> ScoreView {
        view(self.overall(), &self.overall().current)
    }
    /// `current` plus what the PLANNED actions would add when done.
    async fn planned(&self) -> ScoreView {
        view(self.overall(), &self.overall().planned)
    }
    /// What the licences held allow: licensed actions at max, the others as they are.
    async fn current_license(&self) -> ScoreView {
        view(self.overall(), &self.overall().current_license)
    }
    /// Like `currentLicense`, except that RISK_ACCEPTED actions stay as they are.
    async fn achievable(&self) -> ScoreView {
        view(self.overall(), &self.overall().achievable)
    }
    /// Points resting on confirmed implementation rather than on third-party or
    /// alternate-mitigation claims.
    async fn verified(&self) -> ScoreView {
        view(self.overall(), &self.overall().verified)
    }
    /// Every view per category, all five categories always present.
    async fn categories(&self) -> Vec<CategoryScore> {
        self.category_scores()
    }
    /// When the tenant or any of its actions last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.state.updated_at()
    }
}

/// The score views of one category, a part of its score (the tenant's live score, a day of its
/// history or a what-if answer), whose id its own id extends.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct CategoryScore {
    #[graphql(skip)]
    pub global_id: ID,
    /// The category these views are of.
    pub category: Category,
    /// Σ max of the category's applicable, non-deprecated actions.
    pub max_score: ScoreView,
    /// Points achieved in the category.
    pub current: ScoreView,
    /// `current` plus what the category's PLANNED actions would add when done.
    pub planned: ScoreView,
    /// What the licences held allow in the category.
    pub current_license: ScoreView,
    /// Like `currentLicense`, except that RISK_ACCEPTED actions stay as they are.
    pub achievable: ScoreView,
    /// Points in the category resting on confirmed implementation.
    pub verified: ScoreView,
}

#[async_graphql::ComplexObject]
impl CategoryScore {
    /// Global object id: the score's and the category. `node` resolves the live score's and a
    /// history day's categories; a what-if answer's resolve to `null`, like the answer itself.
    pub async fn id(&self) -> ID {
        self.global_id.clone()
    }
}

impl CategoryScore {
    /// The views of `category` within the score whose id key is `score_key`.
    pub(crate) fn new(score_key: &str, category: Category, v: &ScoreViews) -> Self {
        CategoryScore {
            global_id: ids::encode(
                "CategoryScore",
                format!(
                    "{score_key}:{}",
                    crate::domain::enums::Category::from(category).as_str()
                ),
            ),
            category,
            max_score: view(v, &v.max_score),
            current: view(v, &v.current),
            planned: view(v, &v.planned),
            current_license: view(v, &v.current_license),
            achievable: view(v, &v.achievable),
            verified: view(v, &v.verified),
        }
    }
}
