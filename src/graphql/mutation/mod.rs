//! The mutation root, merged from parts by area. Every mutation takes one `input`, runs in one
//! transaction in the service layer and returns a payload with the changed object and
//! `userErrors`; authentication and authorisation failures are top-level errors (SPEC §10).

mod access;
mod catalog;
mod history;
mod import;
mod planning;
mod risk;
mod tenants;
mod webhooks;
mod workflow;

/// All mutations.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    access::AccessMutation,
    catalog::CatalogMutation,
    history::HistoryMutation,
    import::ImportMutation,
    planning::PlanningMutation,
    risk::RiskMutation,
    tenants::TenantMutation,
    webhooks::WebhookMutation,
    workflow::WorkflowMutation,
);
