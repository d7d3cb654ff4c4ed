//! A tenant's webhook endpoint: where to POST which alerts. Holds no usable secret, only the
//! nonce the server derives the signing secret from (with its own key) and a display prefix.
use crate::types::StringList;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoint")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    #[sea_orm(column_type = "Text")]
    pub url: String,
    pub description: String,
    /// Wire names of the alert kinds it wants (`action.regressed`, …).
    pub event_kinds: StringList,
    /// `score.dropped` threshold, in ten-thousandths of a point.
    pub score_drop_points: Option<i64>,
    pub secret_nonce: String,
    pub secret_prefix: String,
    pub enabled: bool,
    #[sea_orm(column_type = "Text")]
    pub paused_reason: Option<String>,
    pub paused_at: Option<DateTimeUtc>,
    pub consecutive_failures: i32,
    /// When the current run of consecutive failures began.
    pub first_failure_at: Option<DateTimeUtc>,
    pub created_by: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
