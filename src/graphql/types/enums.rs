//! GraphQL enums mirroring the domain's closed vocabularies (`remote` keeps them in sync: a
//! variant added to the domain fails to compile here until the API decides how to show it).

use crate::domain::enums as d;
use async_graphql::Enum;

/// Where a tenant stands on an improvement action.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::Status")]
pub enum Status {
    /// Open: earns `maxPoints × implemented / total`.
    ToAddress,
    /// Work is planned: earns like TO_ADDRESS, and its remaining points count in the `planned` view.
    Planned,
    /// The tenant accepts the risk: earns nothing, is left out of lists by default, and may carry a `reviewBy` date.
    RiskAccepted,
    /// Covered by a third-party product: earns `maxPoints`, but not in the `verified` view.
    ResolvedThirdParty,
    /// Covered by another mitigation: earns `maxPoints`, but not in the `verified` view.
    ResolvedAlternateMitigation,
    /// Set by the system when all of `total` is implemented; users cannot set it.
    Completed,
}

/// Category of a control.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::Category")]
pub enum Category {
    /// Accounts, sign-in and access (e.g. Azure AD / Entra ID).
    Identity,
    /// Managed devices and their vulnerabilities.
    Device,
    /// Applications such as mail, collaboration and cloud apps.
    Apps,
    /// Information protection and data loss prevention.
    Data,
    /// Cloud resources and networks.
    Infrastructure,
}

/// Complexity tier of a control.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::Tier")]
pub enum Tier {
    /// Basic hygiene every organisation should have.
    Core,
    /// Further layers of protection.
    DefenseInDepth,
    /// Demanding controls for mature organisations.
    Advanced,
}

/// User impact or implementation cost.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::Level")]
pub enum Level {
    /// Low.
    Low,
    /// Moderate.
    Moderate,
    /// High.
    High,
    /// Not stated by the vendor.
    Unknown,
}

/// Kind of a control's action.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::ActionType")]
pub enum ActionType {
    /// A setting to configure.
    Config,
    /// Something to review regularly (e.g. a report or a list of accounts).
    Review,
    /// A practice for people to follow.
    Behavior,
}

/// A principal's role on a tenant.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::Role")]
pub enum Role {
    /// Reads everything of the tenant: scores, actions, history, audit log, export.
    Reader,
    /// READER, plus statuses, exceptions, progress, notes, tags, share links, goals and what-if.
    Operator,
    /// OPERATOR, plus tenant settings, licences, imports, the tenant's tokens and grants.
    Admin,
}

/// Scope of a device (vulnerability-management) exception.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::ExceptionScope")]
pub enum ExceptionScope {
    /// Every device: sets the action's status until the exception expires.
    Global,
    /// One device group: recorded only; the status stays `TO_ADDRESS`.
    DeviceGroup,
}

/// Justification of a device exception.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::ExceptionJustification")]
pub enum ExceptionJustification {
    /// A third-party product covers it (status `RESOLVED_THIRD_PARTY`).
    ThirdPartyControl,
    /// Another mitigation covers it (status `RESOLVED_ALTERNATE_MITIGATION`).
    AlternateMitigation,
    /// The risk is accepted (status `RISK_ACCEPTED`).
    RiskAccepted,
    /// Remediation is planned (status `PLANNED`).
    PlannedRemediation,
}

/// Where a share link is meant to be posted.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::SharePlatform")]
pub enum SharePlatform {
    /// A plain link.
    Link,
    /// An email: the payload carries a `mailtoUrl`.
    Email,
    /// A Microsoft Teams message: the payload carries a `teamsUrl`.
    Teams,
    /// A Microsoft Planner task: the payload carries a `plannerTask`.
    Planner,
}

/// Kind of an action event.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::EventKind")]
pub enum EventKind {
    /// The status (or its review date) was set by hand.
    StatusChanged,
    /// Implementation progress was recorded without completing or regressing the action.
    ProgressChanged,
    /// Progress reached `total`: the system set `COMPLETED`.
    Completed,
    /// A completed action fell back below `total`.
    Regressed,
    /// A `reviewBy` date or a device exception passed: the action returned to `TO_ADDRESS`.
    Expired,
    /// A device exception was recorded.
    ExceptionRecorded,
    /// A note was added.
    NoteAdded,
    /// A note was edited.
    NoteEdited,
    /// A note was deleted.
    NoteDeleted,
    /// A tag was attached.
    TagAdded,
    /// A tag was detached.
    TagRemoved,
    /// A share link was created.
    Shared,
    /// A share link was revoked.
    ShareRevoked,
    /// A status change was undone with `undoActionStatus`.
    Undone,
    /// A Microsoft Graph import changed the action.
    Imported,
}

/// Which controls apply to a tenant.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "d::CatalogSource")]
pub enum CatalogSource {
    /// The service catalog's controls of the tenant's `enabledServices` (the default).
    ServiceCatalog,
    /// Exactly the controls of the tenant's latest Microsoft Graph export, so its score is the
    /// vendor's; set by the first Graph import or sync.
    MicrosoftGraph,
}

/// Who defines a control as a tenant sees it.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ControlSource {
    /// The service catalog, shared by all tenants and managed by SERVICE_ADMINs.
    ServiceCatalog,
    /// The tenant's own control profile, from its Microsoft Graph import; seen and scored only
    /// in that tenant.
    TenantProfile,
}

/// What an audit entry records.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AuditAction {
    /// An API token was created (`createApiToken`, `securescore token create`).
    TokenCreated,
    /// An API token was revoked.
    TokenRevoked,
    /// A tenant was created.
    TenantCreated,
    /// A tenant's settings changed (`updateTenant`).
    TenantUpdated,
    /// A licence holding was set (`setTenantLicense`).
    LicenseSet,
    /// A licence holding was removed.
    LicenseRemoved,
    /// A principal was given a role, or another role (`grantRole`, `securescore grant`).
    RoleGranted,
    /// A principal's role on the tenant was removed (`removeTenantGrant`).
    GrantRemoved,
    /// A SERVICE_ADMIN was created.
    ServiceAdminCreated,
    /// A service-catalog control was created.
    ControlCreated,
    /// A service-catalog control changed.
    ControlUpdated,
    /// A licence SKU was created or changed.
    LicenseSkuUpserted,
    /// Catalog files were loaded (`securescore load-catalog`).
    CatalogLoaded,
    /// The tenant's Microsoft Graph sync settings were set (`configureGraphSync`).
    GraphSyncConfigured,
    /// A Microsoft Graph export was imported (by a person or the scheduled sync).
    GraphImported,
    /// Imported history was deleted (`deleteImportedHistory`).
    ImportedHistoryDeleted,
    /// A webhook endpoint was registered (`createWebhookEndpoint`).
    WebhookEndpointCreated,
    /// A webhook endpoint changed, was paused by hand or resumed (`updateWebhookEndpoint`).
    WebhookEndpointUpdated,
    /// A webhook endpoint was deleted with its delivery log.
    WebhookEndpointDeleted,
    /// A webhook endpoint was given a new secret (`rotateWebhookSecret`).
    WebhookSecretRotated,
    /// A webhook delivery was queued again (`redeliverWebhookDelivery`).
    WebhookDeliveryRequeued,
    /// A test event was queued to a webhook endpoint (`sendTestWebhookEvent`).
    WebhookTestEventSent,
}

impl AuditAction {
    /// The action of a stored `audit_log.action`; `None` for a value this server does not write.
    pub fn of_stored(action: &str) -> Option<Self> {
        Some(match action {
            "TOKEN_CREATED" => AuditAction::TokenCreated,
            "TOKEN_REVOKED" => AuditAction::TokenRevoked,
            "TENANT_CREATED" => AuditAction::TenantCreated,
            "TENANT_UPDATED" => AuditAction::TenantUpdated,
            "LICENSE_SET" => AuditAction::LicenseSet,
            "LICENSE_REMOVED" => AuditAction::LicenseRemoved,
            "ROLE_GRANTED" => AuditAction::RoleGranted,
            "GRANT_REMOVED" => AuditAction::GrantRemoved,
            "SERVICE_ADMIN_CREATED" => AuditAction::ServiceAdminCreated,
            "CONTROL_CREATED" => AuditAction::ControlCreated,
            "CONTROL_UPDATED" => AuditAction::ControlUpdated,
            "LICENSE_SKU_UPSERTED" => AuditAction::LicenseSkuUpserted,
            "CATALOG_LOADED" => AuditAction::CatalogLoaded,
            "GRAPH_SYNC_CONFIGURED" => AuditAction::GraphSyncConfigured,
            "GRAPH_IMPORTED" => AuditAction::GraphImported,
            "IMPORTED_HISTORY_DELETED" => AuditAction::ImportedHistoryDeleted,
            "WEBHOOK_ENDPOINT_CREATED" => AuditAction::WebhookEndpointCreated,
            "WEBHOOK_ENDPOINT_UPDATED" => AuditAction::WebhookEndpointUpdated,
            "WEBHOOK_ENDPOINT_DELETED" => AuditAction::WebhookEndpointDeleted,
            "WEBHOOK_SECRET_ROTATED" => AuditAction::WebhookSecretRotated,
            "WEBHOOK_DELIVERY_REQUEUED" => AuditAction::WebhookDeliveryRequeued,
            "WEBHOOK_TEST_EVENT_SENT" => AuditAction::WebhookTestEventSent,
            _ => return None,
        })
    }
}

/// Where a control comes from.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ControlOrigin {
    /// The catalog shipped with the server.
    Catalog,
    /// Created by a SERVICE_ADMIN (`createControl`, `securescore load-catalog`).
    Admin,
    /// A tenant's own profile from its Microsoft Graph import.
    TenantProfile,
}

impl ControlOrigin {
    /// The origin of a stored `control.origin`; `None` for a value this server does not write.
    pub fn of_stored(origin: &str) -> Option<Self> {
        Some(match origin {
            "CATALOG" => ControlOrigin::Catalog,
            "ADMIN" => ControlOrigin::Admin,
            "TENANT_PROFILE" => ControlOrigin::TenantProfile,
            _ => return None,
        })
    }
}

/// Who computed a benchmark figure.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum BenchmarkSource {
    /// The vendor (Microsoft Graph `averageComparativeScores`), imported as reported.
    Vendor,
}
