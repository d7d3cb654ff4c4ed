//! A tenant's scheduled Microsoft Graph sync settings. `client_secret_env` names the environment
//! variable holding the secret; the secret itself is never stored.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "graph_sync_config")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: i64,
    pub azure_tenant_id: String,
    pub client_id: String,
    pub client_secret_env: String,
    pub enabled: bool,
    pub last_sync_at: Option<DateTimeUtc>,
    pub last_status: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
