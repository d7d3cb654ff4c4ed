//! GraphQL enums mirroring the domain's closed vocabularies (`remote` keeps them in sync: a
//! variant added to the domain fails to compile here until the API decides how to show it).

use crate::domain::enums as d;
use async_graphql::Enum;

/// Status of an improvement action (SPEC §2).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::Status")]
pub enum Status {
    ToAddress,
    Planned,
    RiskAccepted,
    ResolvedThirdParty,
    ResolvedAlternateMitigation,
    /// Set by the system when all of `total` is implemented; users cannot set it.
    Completed,
}

/// Category of a control.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::Category")]
pub enum Category {
    Identity,
    Device,
    Apps,
    Data,
    Infrastructure,
}

/// Complexity tier of a control.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::Tier")]
pub enum Tier {
    Core,
    DefenseInDepth,
    Advanced,
}

/// User impact or implementation cost.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::Level")]
pub enum Level {
    Low,
    Moderate,
    High,
    Unknown,
}

/// Kind of a control's action.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::ActionType")]
pub enum ActionType {
    Config,
    Review,
    Behavior,
}

/// A principal's role on a tenant.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::Role")]
pub enum Role {
    Reader,
    Operator,
    Admin,
}

/// Scope of a device (vulnerability-management) exception.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::ExceptionScope")]
pub enum ExceptionScope {
    Global,
    DeviceGroup,
}

/// Justification of a device exception.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::ExceptionJustification")]
pub enum ExceptionJustification {
    ThirdPartyControl,
    AlternateMitigation,
    RiskAccepted,
    PlannedRemediation,
}

/// Where a share link is meant to be posted.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::SharePlatform")]
pub enum SharePlatform {
    Link,
    Email,
    Teams,
    Planner,
}

/// Kind of an action event.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::EventKind")]
pub enum EventKind {
    StatusChanged,
    ProgressChanged,
    Completed,
    Regressed,
    Expired,
    ExceptionRecorded,
    NoteAdded,
    NoteEdited,
    NoteDeleted,
    TagAdded,
    TagRemoved,
    Shared,
    ShareRevoked,
    Undone,
    Imported,
}

/// Which controls apply to a tenant (SPEC §1 Applicability).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::CatalogSource")]
pub enum CatalogSource {
    /// The service catalog's controls of the tenant's `enabledServices` (the default).
    ServiceCatalog,
    /// Exactly the controls of the tenant's latest Microsoft Graph export, so its score is the
    /// vendor's; set by the first Graph import or sync.
    MicrosoftGraph,
}

/// Who defines a control as a tenant sees it (SPEC §1a).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ControlSource {
    /// The service catalog, shared by all tenants and managed by SERVICE_ADMINs.
    ServiceCatalog,
    /// The tenant's own control profile, from its Microsoft Graph import; seen and scored only
    /// in that tenant.
    TenantProfile,
}
