//! Improvement actions (one per tenant × applicable control) and what hangs off them: notes,
//! tags, share links and vulnerability-management (device) exceptions.

use crate::m20261127_000001_catalog::Control;
use crate::m20261127_000002_tenants_and_access::{Principal, Tenant};
use crate::util::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum ImprovementAction {
    Table,
    Id,
    TenantId,
    ControlId,
    Category,
    Status,
    Implemented,
    Total,
    ImplementationStatus,
    UsersAffected,
    ReviewBy,
    Version,
    Origin,
    StatusChangedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Note {
    Table,
    Id,
    TenantId,
    ActionId,
    AuthorId,
    Body,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tag {
    Table,
    Id,
    TenantId,
    Name,
    Color,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ActionTag {
    Table,
    ActionId,
    TagId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ShareLink {
    Table,
    Id,
    TenantId,
    ActionId,
    TokenHash,
    Platform,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
    UseCount,
}

#[derive(DeriveIden)]
enum DeviceException {
    Table,
    Id,
    TenantId,
    ActionId,
    Scope,
    Justification,
    Comment,
    ExpiresAt,
    CreatedBy,
    CreatedAt,
    EndedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ImprovementAction::Table)
                    .col(big_pk_auto(ImprovementAction::Id))
                    .col(big_integer(ImprovementAction::TenantId))
                    .col(string(ImprovementAction::ControlId))
                    .col(string(ImprovementAction::Category))
                    .col(string(ImprovementAction::Status))
                    .col(big_integer(ImprovementAction::Implemented))
                    .col(big_integer(ImprovementAction::Total))
                    .col(text_null(ImprovementAction::ImplementationStatus))
                    .col(big_integer(ImprovementAction::UsersAffected))
                    .col(ts_null(ImprovementAction::ReviewBy))
                    .col(big_integer(ImprovementAction::Version))
                    .col(string(ImprovementAction::Origin))
                    .col(ts(ImprovementAction::StatusChangedAt))
                    .col(ts(ImprovementAction::CreatedAt))
                    .col(ts(ImprovementAction::UpdatedAt))
                    .foreign_key(&mut fk_cascade(
                        ImprovementAction::Table,
                        ImprovementAction::TenantId,
                        Tenant::Table,
                        Tenant::Id,
                    ))
                    .foreign_key(&mut fk(
                        ImprovementAction::Table,
                        ImprovementAction::ControlId,
                        Control::Table,
                        Control::Id,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "uq_action_tenant_control",
            ImprovementAction::Table,
            [ImprovementAction::TenantId, ImprovementAction::ControlId],
            true,
        )
        .await?;
        index(
            manager,
            "idx_action_tenant_status",
            ImprovementAction::Table,
            [ImprovementAction::TenantId, ImprovementAction::Status],
            false,
        )
        .await?;
        index(
            manager,
            "idx_action_tenant_category",
            ImprovementAction::Table,
            [ImprovementAction::TenantId, ImprovementAction::Category],
            false,
        )
        .await?;
        index(
            manager,
            "idx_action_control",
            ImprovementAction::Table,
            [ImprovementAction::ControlId],
            false,
        )
        .await?;
        // The expiry sweep looks for actions whose review date has passed.
        index(
            manager,
            "idx_action_review_by",
            ImprovementAction::Table,
            [ImprovementAction::ReviewBy],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Note::Table)
                    .col(big_pk_auto(Note::Id))
                    .col(big_integer(Note::TenantId))
                    .col(big_integer(Note::ActionId))
                    .col(big_integer_null(Note::AuthorId))
                    .col(text(Note::Body))
                    .col(ts(Note::CreatedAt))
                    .col(ts(Note::UpdatedAt))
                    .foreign_key(&mut fk_cascade(
                        Note::Table,
                        Note::TenantId,
                        Tenant::Table,
                        Tenant::Id,
                    ))
                    .foreign_key(&mut fk_cascade(
                        Note::Table,
                        Note::ActionId,
                        ImprovementAction::Table,
                        ImprovementAction::Id,
                    ))
                    .foreign_key(&mut fk_set_null(
                        Note::Table,
                        Note::AuthorId,
                        Principal::Table,
                        Principal::Id,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_note_action",
            Note::Table,
            [Note::ActionId, Note::CreatedAt],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tag::Table)
                    .col(big_pk_auto(Tag::Id))
                    .col(big_integer(Tag::TenantId))
                    .col(string(Tag::Name))
                    .col(string(Tag::Color))
                    .col(ts(Tag::CreatedAt))
                    .col(ts(Tag::UpdatedAt))
                    .foreign_key(&mut fk_cascade(
                        Tag::Table,
                        Tag::TenantId,
                        Tenant::Table,
                        Tenant::Id,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "uq_tag_tenant_name",
            Tag::Table,
            [Tag::TenantId, Tag::Name],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ActionTag::Table)
                    .col(big_integer(ActionTag::ActionId))
                    .col(big_integer(ActionTag::TagId))
                    .col(ts(ActionTag::CreatedAt))
                    .primary_key(Index::create().col(ActionTag::ActionId).col(ActionTag::TagId))
                    .foreign_key(&mut fk_cascade(
                        ActionTag::Table,
                        ActionTag::ActionId,
                        ImprovementAction::Table,
                        ImprovementAction::Id,
                    ))
                    .foreign_key(&mut fk_cascade(
                        ActionTag::Table,
                        ActionTag::TagId,
                        Tag::Table,
                        Tag::Id,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_action_tag_tag",
            ActionTag::Table,
            [ActionTag::TagId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ShareLink::Table)
                    .col(big_pk_auto(ShareLink::Id))
                    .col(big_integer(ShareLink::TenantId))
                    .col(big_integer(ShareLink::ActionId))
                    .col(string_uniq(ShareLink::TokenHash))
                    .col(string(ShareLink::Platform))
                    .col(big_integer_null(ShareLink::CreatedBy))
                    .col(ts(ShareLink::CreatedAt))
                    .col(ts(ShareLink::ExpiresAt))
                    .col(ts_null(ShareLink::RevokedAt))
                    .col(ts_null(ShareLink::LastUsedAt))
                    .col(big_integer(ShareLink::UseCount).default(0))
                    .foreign_key(&mut fk_cascade(
                        ShareLink::Table,
                        ShareLink::TenantId,
                        Tenant::Table,
                        Tenant::Id,
                    ))
                    .foreign_key(&mut fk_cascade(
                        ShareLink::Table,
                        ShareLink::ActionId,
                        ImprovementAction::Table,
                        ImprovementAction::Id,
                    ))
                    .foreign_key(&mut fk_set_null(
                        ShareLink::Table,
                        ShareLink::CreatedBy,
                        Principal::Table,
                        Principal::Id,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_share_link_action",
            ShareLink::Table,
            [ShareLink::ActionId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(DeviceException::Table)
                    .col(big_pk_auto(DeviceException::Id))
                    .col(big_integer(DeviceException::TenantId))
                    .col(big_integer(DeviceException::ActionId))
                    .col(string(DeviceException::Scope))
                    .col(string(DeviceException::Justification))
                    .col(text(DeviceException::Comment))
                    .col(ts_null(DeviceException::ExpiresAt))
                    .col(big_integer_null(DeviceException::CreatedBy))
                    .col(ts(DeviceException::CreatedAt))
                    .col(ts_null(DeviceException::EndedAt))
                    .foreign_key(&mut fk_cascade(
                        DeviceException::Table,
                        DeviceException::TenantId,
                        Tenant::Table,
                        Tenant::Id,
                    ))
                    .foreign_key(&mut fk_cascade(
                        DeviceException::Table,
                        DeviceException::ActionId,
                        ImprovementAction::Table,
                        ImprovementAction::Id,
                    ))
                    .foreign_key(&mut fk_set_null(
                        DeviceException::Table,
                        DeviceException::CreatedBy,
                        Principal::Table,
                        Principal::Id,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_device_exception_action",
            DeviceException::Table,
            [DeviceException::ActionId],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            DeviceException::Table.into_iden(),
            ShareLink::Table.into_iden(),
            ActionTag::Table.into_iden(),
            Tag::Table.into_iden(),
            Note::Table.into_iden(),
            ImprovementAction::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }
}
