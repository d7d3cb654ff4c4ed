//! Which controls apply to a tenant (SPEC §1 Applicability).
//!
//! A tenant sees the service catalog overlaid with its own control profiles (SPEC §1a). Its
//! catalog source decides which of those count: under `SERVICE_CATALOG` a control applies when
//! its service is among the tenant's enabled services; under `MICROSOFT_GRAPH` exactly the
//! controls of the tenant's latest export apply, so its score is the vendor's. Applicability is
//! decided on every read, so it follows every change at once; an action that stops applying keeps
//! its row (status, notes, tags, history), which counts again when it applies again.

use crate::domain::enums::CatalogSource;

/// Whether a control applies to a tenant. `in_latest_export` says whether the control is one of
/// the tenant's own profiles marked as part of its latest Graph export.
pub fn applies(
    source: CatalogSource,
    enabled_services: &[String],
    service: &str,
    in_latest_export: bool,
) -> bool {
    match source {
        CatalogSource::ServiceCatalog => enabled_services.iter().any(|s| s == service),
        CatalogSource::MicrosoftGraph => in_latest_export,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_source_decides_what_applies() {
        let services = vec!["AzureAD".to_string(), "EXO".to_string()];
        let cases = [
            (
                CatalogSource::ServiceCatalog,
                "AzureAD",
                false,
                true,
                "enabled service",
            ),
            (
                CatalogSource::ServiceCatalog,
                "MCAS",
                false,
                false,
                "service not enabled",
            ),
            (
                CatalogSource::ServiceCatalog,
                "MCAS",
                true,
                false,
                "the export does not matter under the service catalog",
            ),
            (
                CatalogSource::MicrosoftGraph,
                "MCAS",
                true,
                true,
                "in the latest export",
            ),
            (
                CatalogSource::MicrosoftGraph,
                "AzureAD",
                false,
                false,
                "enabled services do not matter under Microsoft Graph",
            ),
        ];
        for (source, service, in_export, expected, why) in cases {
            assert_eq!(applies(source, &services, service, in_export), expected, "{why}");
        }
    }
}
