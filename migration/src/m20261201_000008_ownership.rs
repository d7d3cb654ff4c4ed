//! Who owns what (SPEC §1a, §7):
//! - `tenant_control`: a tenant's own control profiles, written only by that tenant's Microsoft
//!   Graph import or sync. A profile of id X overrides the service catalog's X for that tenant
//!   alone; `in_latest_export` marks the controls of the tenant's latest export, which are its
//!   applicable controls when its catalog source is `MICROSOFT_GRAPH`.
//! - `tenant.catalog_source`: `SERVICE_CATALOG` (applicability by enabled services) or
//!   `MICROSOFT_GRAPH` (set by the first Graph import).
//! - `principal.service_admin`: the one service-wide role.
//! - `control.shipped_digest`: digest of the shipped catalog entry last applied, so a restart with
//!   the same shipped data changes nothing (also not what a SERVICE_ADMIN changed since).
//! - `improvement_action.control_id` no longer references `control`: an action's control may be
//!   one of the tenant's own profiles. SQLite cannot drop a foreign key, so the table is rebuilt
//!   (the documented 12-step procedure, with foreign keys off so nothing cascades).
//!
//! Existing data: controls that earlier versions imported into the shared catalog (origin
//! `IMPORT`) become own profiles of every tenant holding an action on them, and leave the
//! service catalog.

use crate::util::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TenantControl {
    Table,
    TenantId,
    Id,
    Title,
    Category,
    Service,
    MaxPoints,
    Tier,
    UserImpact,
    ImplementationCost,
    Threats,
    ActionType,
    Remediation,
    UserImpactDescription,
    Prerequisites,
    ActionUrl,
    LearnMoreUrls,
    RequiredLicensePlans,
    VendorRank,
    Deprecated,
    InLatestExport,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tenant {
    Table,
    Id,
    CatalogSource,
}

#[derive(DeriveIden)]
enum Principal {
    Table,
    ServiceAdmin,
}

#[derive(DeriveIden)]
enum Control {
    Table,
    ShippedDigest,
}

/// Columns the profile table shares with `control`, in the order of both tables' definitions.
const CONTENT_COLUMNS: &str = "id, title, category, service, max_points, tier, user_impact, \
    implementation_cost, threats, action_type, remediation, user_impact_description, prerequisites, \
    action_url, learn_more_urls, required_license_plans, vendor_rank, deprecated, created_at, updated_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TenantControl::Table)
                    .col(big_integer(TenantControl::TenantId))
                    .col(string(TenantControl::Id))
                    .col(text(TenantControl::Title))
                    .col(string(TenantControl::Category))
                    .col(string(TenantControl::Service))
                    .col(big_integer(TenantControl::MaxPoints))
                    .col(string(TenantControl::Tier))
                    .col(string(TenantControl::UserImpact))
                    .col(string(TenantControl::ImplementationCost))
                    .col(json(TenantControl::Threats))
                    .col(string(TenantControl::ActionType))
                    .col(text(TenantControl::Remediation))
                    .col(text(TenantControl::UserImpactDescription))
                    .col(text(TenantControl::Prerequisites))
                    .col(text_null(TenantControl::ActionUrl))
                    .col(json(TenantControl::LearnMoreUrls))
                    .col(json(TenantControl::RequiredLicensePlans))
                    .col(integer_null(TenantControl::VendorRank))
                    .col(boolean(TenantControl::Deprecated))
                    .col(boolean(TenantControl::InLatestExport))
                    .col(ts(TenantControl::CreatedAt))
                    .col(ts(TenantControl::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(TenantControl::TenantId)
                            .col(TenantControl::Id),
                    )
                    .foreign_key(&mut fk_cascade(
                        TenantControl::Table,
                        TenantControl::TenantId,
                        Tenant::Table,
                        Tenant::Id,
                    ))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenant::Table)
                    .add_column(
                        ColumnDef::new(Tenant::CatalogSource)
                            .string()
                            .not_null()
                            .default("SERVICE_CATALOG"),
                    )
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Principal::Table)
                    .add_column(
                        ColumnDef::new(Principal::ServiceAdmin)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Control::Table)
                    .add_column(ColumnDef::new(Control::ShippedDigest).string().null())
                    .take(),
            )
            .await?;

        let db = manager.get_connection();
        drop_action_control_fk(db).await?;
        // Controls earlier imports wrote into the shared catalog become the importing tenants'
        // own profiles.
        db.execute_unprepared(&format!(
            "INSERT INTO tenant_control (tenant_id, {CONTENT_COLUMNS}, in_latest_export) \
             SELECT a.tenant_id, {cols}, {yes} FROM control c \
             JOIN improvement_action a ON a.control_id = c.id WHERE c.origin = 'IMPORT'",
            cols = CONTENT_COLUMNS
                .split(", ")
                .map(|c| format!("c.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", "),
            yes = if db.get_database_backend() == DbBackend::Postgres {
                "TRUE"
            } else {
                "1"
            },
        ))
        .await?;
        db.execute_unprepared("DELETE FROM control WHERE origin = 'IMPORT'")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TenantControl::Table).take())
            .await?;
        for (table, column) in [
            (Tenant::Table.into_iden(), Tenant::CatalogSource.into_iden()),
            (Principal::Table.into_iden(), Principal::ServiceAdmin.into_iden()),
            (Control::Table.into_iden(), Control::ShippedDigest.into_iden()),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).take())
                .await?;
        }
        // The foreign key to `control` is not restored: actions on controls that are not in the
        // service catalog would violate it.
        Ok(())
    }
}

/// Drops `improvement_action.control_id → control.id`.
async fn drop_action_control_fk(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.execute_unprepared(
                "DO $$ DECLARE r record; BEGIN \
                 FOR r IN SELECT conname FROM pg_constraint \
                   WHERE conrelid = 'improvement_action'::regclass AND contype = 'f' \
                     AND confrelid = 'control'::regclass LOOP \
                   EXECUTE 'ALTER TABLE improvement_action DROP CONSTRAINT ' || quote_ident(r.conname); \
                 END LOOP; END $$",
            )
            .await?;
        }
        DbBackend::Sqlite => {
            let backend = DbBackend::Sqlite;
            let table: String = db
                .query_one_raw(Statement::from_string(
                    backend,
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'improvement_action'",
                ))
                .await?
                .ok_or_else(|| DbErr::Migration("improvement_action does not exist".into()))?
                .try_get("", "sql")?;
            let fk = r#", FOREIGN KEY ("control_id") REFERENCES "control" ("id")"#;
            if !table.contains(fk) {
                return Ok(());
            }
            let rebuilt = table.replace(fk, "").replacen(
                r#"CREATE TABLE "improvement_action""#,
                r#"CREATE TABLE "improvement_action_new""#,
                1,
            );
            let mut indexes = Vec::new();
            for row in db
                .query_all_raw(Statement::from_string(
                    backend,
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'improvement_action' \
                     AND sql IS NOT NULL",
                ))
                .await?
            {
                indexes.push(row.try_get::<String>("", "sql")?);
            }
            // One statement string runs on one connection, so the pragma applies to the whole
            // rebuild; with foreign keys off, dropping the old table cascades to nothing, and the
            // notes, tags, links and events that reference `improvement_action` by name refer to
            // the rebuilt table after the rename.
            let script = format!(
                "PRAGMA foreign_keys = OFF; BEGIN; {rebuilt}; \
                 INSERT INTO improvement_action_new SELECT * FROM improvement_action; \
                 DROP TABLE improvement_action; \
                 ALTER TABLE improvement_action_new RENAME TO improvement_action; {indexes}; \
                 COMMIT; PRAGMA foreign_keys = ON;",
                indexes = indexes.join("; ")
            );
            db.execute_unprepared(&script).await?;
        }
        _ => {}
    }
    Ok(())
}
