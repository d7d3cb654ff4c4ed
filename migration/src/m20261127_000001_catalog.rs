//! The global catalog: controls (improvement actions' definitions) and licence SKUs with the
//! plans they grant.

use crate::util::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Control {
    Table,
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
    Origin,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum License {
    Table,
    Sku,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
pub enum LicensePlan {
    Table,
    LicenseSku,
    Plan,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Control::Table)
                    .col(string(Control::Id).primary_key())
                    .col(text(Control::Title))
                    .col(string(Control::Category))
                    .col(string(Control::Service))
                    .col(big_integer(Control::MaxPoints))
                    .col(string(Control::Tier))
                    .col(string(Control::UserImpact))
                    .col(string(Control::ImplementationCost))
                    .col(json(Control::Threats))
                    .col(string(Control::ActionType))
                    .col(text(Control::Remediation))
                    .col(text(Control::UserImpactDescription))
                    .col(text(Control::Prerequisites))
                    .col(text_null(Control::ActionUrl))
                    .col(json(Control::LearnMoreUrls))
                    .col(json(Control::RequiredLicensePlans))
                    .col(integer_null(Control::VendorRank))
                    .col(boolean(Control::Deprecated))
                    .col(string(Control::Origin))
                    .col(ts(Control::CreatedAt))
                    .col(ts(Control::UpdatedAt))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_control_service",
            Control::Table,
            [Control::Service],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(License::Table)
                    .col(string(License::Sku).primary_key())
                    .col(string(License::Name))
                    .col(ts(License::CreatedAt))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LicensePlan::Table)
                    .col(string(LicensePlan::LicenseSku))
                    .col(string(LicensePlan::Plan))
                    .primary_key(
                        Index::create()
                            .col(LicensePlan::LicenseSku)
                            .col(LicensePlan::Plan),
                    )
                    .foreign_key(&mut fk_cascade(
                        LicensePlan::Table,
                        LicensePlan::LicenseSku,
                        License::Table,
                        License::Sku,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_license_plan_plan",
            LicensePlan::Table,
            [LicensePlan::Plan],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LicensePlan::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(License::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(Control::Table).take())
            .await
    }
}
