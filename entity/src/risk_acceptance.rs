//! A request to accept the risk of one improvement action (issue 19), and what became of it.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a risk acceptance stands. Stored as its SCREAMING_SNAKE_CASE spelling.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum RiskAcceptanceState {
    /// Waits for an ADMIN's decision; changes nothing yet.
    #[sea_orm(string_value = "REQUESTED")]
    Requested,
    /// Approved: the action is RISK_ACCEPTED until `review_by`.
    #[sea_orm(string_value = "APPROVED")]
    Approved,
    /// An ADMIN refused it.
    #[sea_orm(string_value = "REJECTED")]
    Rejected,
    /// Withdrawn before a decision.
    #[sea_orm(string_value = "WITHDRAWN")]
    Withdrawn,
    /// Its review date passed: the action went back to TO_ADDRESS.
    #[sea_orm(string_value = "EXPIRED")]
    Expired,
    /// The action left RISK_ACCEPTED before the review date by another change.
    #[sea_orm(string_value = "ENDED")]
    Ended,
}

impl RiskAcceptanceState {
    /// Every state, in declaration order.
    pub const ALL: [Self; 6] = [
        Self::Requested,
        Self::Approved,
        Self::Rejected,
        Self::Withdrawn,
        Self::Expired,
        Self::Ended,
    ];

    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "REQUESTED",
            Self::Approved => "APPROVED",
            Self::Rejected => "REJECTED",
            Self::Withdrawn => "WITHDRAWN",
            Self::Expired => "EXPIRED",
            Self::Ended => "ENDED",
        }
    }
}

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "risk_acceptance")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub action_id: i64,
    /// The principal who asked (null once that principal is deleted; the name stays).
    pub requested_by: Option<i64>,
    pub requested_by_name: String,
    #[sea_orm(column_type = "Text")]
    pub justification: String,
    /// Who owns the risk (free text: a person, a team).
    pub owner: String,
    /// When the acceptance ends (the action then returns to TO_ADDRESS).
    pub review_by: DateTimeUtc,
    pub state: RiskAcceptanceState,
    /// Who approved, rejected or withdrew it.
    pub decided_by: Option<i64>,
    pub decided_by_name: Option<String>,
    pub decided_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub decision_comment: Option<String>,
    /// When an approved acceptance expired or ended.
    pub ended_at: Option<DateTimeUtc>,
    /// The smallest reminder threshold (days before `review_by`) already sent; null for none.
    pub last_reminder_days: Option<i32>,
    pub reminders_sent: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
