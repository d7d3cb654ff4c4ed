//! Tenants, the licences they hold, principals with their per-tenant roles, API tokens and the
//! audit log of administrative changes.

use crate::m20261127_000001_catalog::License;
use crate::util::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Tenant {
    Table,
    Id,
    Slug,
    Name,
    Industry,
    SeatCount,
    ActiveUserCount,
    EnabledServices,
    AzureTenantId,
    StateVersion,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum TenantLicense {
    Table,
    Id,
    TenantId,
    LicenseSku,
    SeatsPurchased,
    SeatsAssigned,
    ExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum Principal {
    Table,
    Id,
    Name,
    Kind,
    CreatedAt,
}

#[derive(DeriveIden)]
pub enum RoleGrant {
    Table,
    PrincipalId,
    TenantId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
pub enum ApiToken {
    Table,
    Id,
    PrincipalId,
    Name,
    TokenPrefix,
    TokenHash,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
pub enum AuditLog {
    Table,
    Id,
    TenantId,
    ActorId,
    Action,
    Target,
    Detail,
    OccurredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenant::Table)
                    .col(big_pk_auto(Tenant::Id))
                    .col(string_uniq(Tenant::Slug))
                    .col(string(Tenant::Name))
                    .col(string(Tenant::Industry))
                    .col(big_integer(Tenant::SeatCount))
                    .col(big_integer(Tenant::ActiveUserCount))
                    .col(json(Tenant::EnabledServices))
                    .col(string_null(Tenant::AzureTenantId))
                    .col(big_integer(Tenant::StateVersion).default(0))
                    .col(ts(Tenant::CreatedAt))
                    .col(ts(Tenant::UpdatedAt))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_tenant_industry",
            Tenant::Table,
            [Tenant::Industry],
            false,
        )
        .await?;
        index(
            manager,
            "idx_tenant_seat_count",
            Tenant::Table,
            [Tenant::SeatCount],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(TenantLicense::Table)
                    .col(big_pk_auto(TenantLicense::Id))
                    .col(big_integer(TenantLicense::TenantId))
                    .col(string(TenantLicense::LicenseSku))
                    .col(big_integer(TenantLicense::SeatsPurchased))
                    .col(big_integer(TenantLicense::SeatsAssigned))
                    .col(ts_null(TenantLicense::ExpiresAt))
                    .col(ts(TenantLicense::CreatedAt))
                    .col(ts(TenantLicense::UpdatedAt))
                    .foreign_key(&mut fk_cascade(
                        TenantLicense::Table,
                        TenantLicense::TenantId,
                        Tenant::Table,
                        Tenant::Id,
                    ))
                    .foreign_key(&mut fk(
                        TenantLicense::Table,
                        TenantLicense::LicenseSku,
                        License::Table,
                        License::Sku,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "uq_tenant_license_tenant_sku",
            TenantLicense::Table,
            [TenantLicense::TenantId, TenantLicense::LicenseSku],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Principal::Table)
                    .col(big_pk_auto(Principal::Id))
                    .col(string(Principal::Name))
                    .col(string(Principal::Kind))
                    .col(ts(Principal::CreatedAt))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RoleGrant::Table)
                    .col(big_integer(RoleGrant::PrincipalId))
                    .col(big_integer(RoleGrant::TenantId))
                    .col(string(RoleGrant::Role))
                    .col(ts(RoleGrant::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(RoleGrant::PrincipalId)
                            .col(RoleGrant::TenantId),
                    )
                    .foreign_key(&mut fk_cascade(
                        RoleGrant::Table,
                        RoleGrant::PrincipalId,
                        Principal::Table,
                        Principal::Id,
                    ))
                    .foreign_key(&mut fk_cascade(
                        RoleGrant::Table,
                        RoleGrant::TenantId,
                        Tenant::Table,
                        Tenant::Id,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_role_grant_tenant",
            RoleGrant::Table,
            [RoleGrant::TenantId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiToken::Table)
                    .col(big_pk_auto(ApiToken::Id))
                    .col(big_integer(ApiToken::PrincipalId))
                    .col(string(ApiToken::Name))
                    .col(string(ApiToken::TokenPrefix))
                    .col(string_uniq(ApiToken::TokenHash))
                    .col(big_integer_null(ApiToken::CreatedBy))
                    .col(ts(ApiToken::CreatedAt))
                    .col(ts_null(ApiToken::ExpiresAt))
                    .col(ts_null(ApiToken::RevokedAt))
                    .col(ts_null(ApiToken::LastUsedAt))
                    .foreign_key(&mut fk_cascade(
                        ApiToken::Table,
                        ApiToken::PrincipalId,
                        Principal::Table,
                        Principal::Id,
                    ))
                    .foreign_key(&mut fk_set_null(
                        ApiToken::Table,
                        ApiToken::CreatedBy,
                        Principal::Table,
                        Principal::Id,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_api_token_principal",
            ApiToken::Table,
            [ApiToken::PrincipalId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(big_pk_auto(AuditLog::Id))
                    .col(big_integer_null(AuditLog::TenantId))
                    .col(big_integer_null(AuditLog::ActorId))
                    .col(string(AuditLog::Action))
                    .col(string(AuditLog::Target))
                    .col(json_null(AuditLog::Detail))
                    .col(ts(AuditLog::OccurredAt))
                    .foreign_key(&mut fk_cascade(
                        AuditLog::Table,
                        AuditLog::TenantId,
                        Tenant::Table,
                        Tenant::Id,
                    ))
                    .foreign_key(&mut fk_set_null(
                        AuditLog::Table,
                        AuditLog::ActorId,
                        Principal::Table,
                        Principal::Id,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_audit_log_tenant_time",
            AuditLog::Table,
            [AuditLog::TenantId, AuditLog::OccurredAt],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditLog::Table.into_iden(),
            ApiToken::Table.into_iden(),
            RoleGrant::Table.into_iden(),
            Principal::Table.into_iden(),
            TenantLicense::Table.into_iden(),
            Tenant::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }
}
