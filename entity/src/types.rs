//! Typed shapes of the JSON columns.

use sea_orm::FromJsonQueryResult;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A JSON array of strings (threats, links, licence plans, enabled services).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct StringList(pub Vec<String>);

/// A JSON array of whole numbers of days (a tenant's reminder thresholds).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct DayList(pub Vec<i32>);

/// The per-category score figures of a snapshot, in ten-thousandths of a point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryFigure {
    pub category: String,
    pub max_score: i64,
    pub current: i64,
    pub planned: i64,
    pub current_license: i64,
    pub achievable: i64,
    pub verified: i64,
}

/// All categories of one snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct CategoryFigures(pub Vec<CategoryFigure>);

/// The six score views (max, current, planned, currentLicense, achievable, verified) as exact
/// fractions (`"250/21"`).
pub type ExactViews = [String; 6];

/// A computed snapshot's figures as exact fractions: overall and by category name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct ExactFigures {
    pub overall: ExactViews,
    pub categories: BTreeMap<String, ExactViews>,
}

/// Number of actions per status on the day of a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct StatusCounts(pub BTreeMap<String, i64>);
