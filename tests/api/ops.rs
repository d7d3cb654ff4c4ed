//! One helper per GraphQL operation the API tests send (issue 16): every mutation of the schema,
//! and every query shape that more than one test file uses.
//!
//! A helper takes who calls (a token, or `None`), the operation's arguments and the selection of
//! its answer, and builds an [`Op`]. Awaiting an `Op` sends it and gives the whole body (`data`
//! and `errors`); [`Op::data`] and [`Op::payload`] first assert that there are no top-level
//! errors. The selection is the test's own, so each test still reads (and the server still
//! resolves) exactly the fields it checks. A mutation takes its one `input` object as JSON: the
//! tests send every form of it (an action by `tenantSlug` and `controlId` or by `actionId`,
//! optional fields, values the server must refuse), which a Rust type would either forbid or
//! repeat the schema for.
//!
//! Not here: documents that are the point of their test (limits, malformed requests, operation
//! names, several root fields or aliases in one request). Those stay raw: [`TestApp::gql`] and
//! [`TestApp::post_graphql`].

use crate::helpers::{TestApp, data_of, post_graphql_to};
use serde_json::{Value, json};
use std::fmt::Display;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

/// Who a request is sent as: a bearer token, or nobody (`None`).
pub struct Auth(Option<String>);

impl From<&str> for Auth {
    fn from(token: &str) -> Self {
        Auth(Some(token.to_string()))
    }
}

impl From<&String> for Auth {
    fn from(token: &String) -> Self {
        Auth(Some(token.clone()))
    }
}

impl From<Option<&str>> for Auth {
    fn from(token: Option<&str>) -> Self {
        Auth(token.map(str::to_string))
    }
}

/// A GraphQL request built by an operation helper, not sent yet.
#[must_use = "an operation is sent by awaiting it"]
pub struct Op {
    client: reqwest::Client,
    address: String,
    auth: Option<String>,
    /// `query` or `mutation`.
    kind: &'static str,
    /// The variables' declarations, `$name: Type`.
    declarations: Vec<String>,
    /// The selection set of the operation, without its braces.
    body: String,
    variables: Value,
    /// Where the operation's answer is in `data`, e.g. `["tenant", "improvementAction"]`.
    path: &'static [&'static str],
}

impl Op {
    /// Sends it to another server process (at `address`, its base URL) instead.
    pub fn at(mut self, address: &str) -> Op {
        self.address = address.to_string();
        self
    }

    /// Declares one more variable, for an argument inside the selection (`after: $after`).
    pub fn var(mut self, name: &str, ty: &str, value: Value) -> Op {
        self.declarations.push(format!("${name}: {ty}"));
        self.variables[name] = value;
        self
    }

    /// The document this sends.
    pub fn document(&self) -> String {
        let (kind, body) = (self.kind, &self.body);
        if self.declarations.is_empty() {
            format!("{kind} {{ {body} }}")
        } else {
            format!("{kind}({}) {{ {body} }}", self.declarations.join(", "))
        }
    }

    /// The document and its variables, for another transport (a WebSocket).
    pub fn request(&self) -> (String, Value) {
        (self.document(), self.variables.clone())
    }

    /// Sends it; returns the whole body (`data` and `errors`).
    pub async fn send(self) -> Value {
        let request = json!({ "query": self.document(), "variables": self.variables });
        post_graphql_to(&self.client, &self.address, self.auth.as_deref(), &request)
            .await
            .json()
            .await
            .expect("JSON body")
    }

    /// Sends it and asserts it produced no errors; returns `data`.
    pub async fn data(self) -> Value {
        data_of(self.send().await)
    }

    /// Sends it and asserts it produced no errors; returns the operation's answer: a mutation's
    /// payload, or the object a query asked for.
    pub async fn payload(self) -> Value {
        let path = self.path;
        let data = self.data().await;
        path.iter().fold(&data, |v, key| &v[*key]).clone()
    }
}

impl IntoFuture for Op {
    type Output = Value;
    type IntoFuture = Pin<Box<dyn Future<Output = Value> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

impl TestApp {
    /// An operation on this server.
    fn op(
        &self,
        auth: impl Into<Auth>,
        kind: &'static str,
        declarations: &[&str],
        body: String,
        variables: Value,
        path: &'static [&'static str],
    ) -> Op {
        Op {
            client: self.client.clone(),
            address: self.address.clone(),
            auth: auth.into().0,
            kind,
            declarations: declarations.iter().map(|d| d.to_string()).collect(),
            body,
            variables,
            path,
        }
    }

    /// `mutation($input: <input_type>!) { <field>(input: $input) { <fields> } }`.
    fn mutation(
        &self,
        auth: impl Into<Auth>,
        path: &'static [&'static str; 1],
        input_type: &str,
        input: Value,
        fields: &str,
    ) -> Op {
        let field = path[0];
        self.op(
            auth,
            "mutation",
            &[&format!("$input: {input_type}!")],
            format!("{field}(input: $input) {{ {fields} }}"),
            json!({ "input": input }),
            path,
        )
    }

    /// An operation on `tenant(slug: $slug)`, whose answer is at `path` below `data.tenant`.
    fn tenant_op(
        &self,
        auth: impl Into<Auth>,
        declarations: &[&str],
        inner: String,
        variables: Value,
        path: &'static [&'static str],
    ) -> Op {
        let mut all = vec!["$slug: String!"];
        all.extend_from_slice(declarations);
        self.op(
            auth,
            "query",
            &all,
            format!("tenant(slug: $slug) {{ {inner} }}"),
            variables,
            path,
        )
    }
}

/// Declares, for each mutation of the schema, a helper `name(auth, input, fields)` that runs
/// `field(input: $input) { fields }`.
macro_rules! mutations {
    ($($(#[doc = $doc:literal])+ $name:ident: $field:literal($input:literal);)+) => {
        impl TestApp {
            $(
                $(#[doc = $doc])+
                pub fn $name(&self, auth: impl Into<Auth>, input: Value, fields: &str) -> Op {
                    self.mutation(auth, &[$field], $input, input, fields)
                }
            )+
        }
    };
}

mutations! {
    /// `setActionStatus`: a user status for one action.
    set_action_status: "setActionStatus"("SetActionStatusInput");
    /// `bulkSetActionStatus`: statuses for several actions of a tenant, all or nothing.
    bulk_set_action_status: "bulkSetActionStatus"("BulkSetActionStatusInput");
    /// `undoActionStatus`: undoes the caller's last status change of an action.
    undo_action_status: "undoActionStatus"("UndoActionStatusInput");
    /// `recordDeviceException`: a vulnerability-management exception on a DEVICE action.
    record_device_exception: "recordDeviceException"("RecordDeviceExceptionInput");
    /// `recordImplementationProgress`: how much of an action is implemented.
    record_implementation_progress: "recordImplementationProgress"("RecordImplementationProgressInput");
    /// `addActionNote`: a note on an action.
    add_action_note: "addActionNote"("AddActionNoteInput");
    /// `updateActionNote`: a note's new text.
    update_action_note: "updateActionNote"("UpdateActionNoteInput");
    /// `deleteActionNote`: deletes a note.
    delete_action_note: "deleteActionNote"("DeleteActionNoteInput");
    /// `createTag`: a tenant's new tag.
    create_tag: "createTag"("CreateTagInput");
    /// `updateTag`: a tag's new name or colour.
    update_tag: "updateTag"("UpdateTagInput");
    /// `deleteTag`: deletes a tag (and detaches it).
    delete_tag: "deleteTag"("DeleteTagInput");
    /// `addActionTags`: attaches tags to actions.
    add_action_tags: "addActionTags"("ActionTagsInput");
    /// `removeActionTags`: detaches tags from actions.
    remove_action_tags: "removeActionTags"("ActionTagsInput");
    /// `createShareLink`: a share link to an action.
    create_share_link: "createShareLink"("CreateShareLinkInput");
    /// `revokeShareLink`: revokes a share link.
    revoke_share_link: "revokeShareLink"("RevokeShareLinkInput");
    /// `setScoreZones`: a tenant's score zones.
    set_score_zones: "setScoreZones"("SetScoreZonesInput");
    /// `setScoreGoal`: a tenant's dated score goal.
    set_score_goal: "setScoreGoal"("SetScoreGoalInput");
    /// `updateScoreGoal`: changes a goal's target, date or note.
    update_score_goal: "updateScoreGoal"("UpdateScoreGoalInput");
    /// `deleteScoreGoal`: deletes a goal.
    delete_score_goal: "deleteScoreGoal"("DeleteScoreGoalInput");
    /// `createTenant`: a new tenant (SERVICE_ADMIN).
    create_tenant: "createTenant"("CreateTenantInput");
    /// `updateTenant`: a tenant's settings.
    update_tenant: "updateTenant"("UpdateTenantInput");
    /// `setTenantLicense`: a tenant's holding of a licence.
    set_tenant_license: "setTenantLicense"("SetTenantLicenseInput");
    /// `removeTenantLicense`: removes a tenant's licence.
    remove_tenant_license: "removeTenantLicense"("RemoveTenantLicenseInput");
    /// `createApiToken`: a token (and its principal) with a role on a tenant.
    create_api_token: "createApiToken"("CreateApiTokenInput");
    /// `revokeApiToken`: revokes a token.
    revoke_api_token: "revokeApiToken"("RevokeApiTokenInput");
    /// `grantRole`: a principal's role on a tenant (SERVICE_ADMIN).
    grant_role: "grantRole"("GrantRoleInput");
    /// `removeTenantGrant`: removes a principal's role on a tenant.
    remove_tenant_grant: "removeTenantGrant"("RemoveTenantGrantInput");
    /// `createControl`: a control of the service catalog (SERVICE_ADMIN).
    create_control: "createControl"("CreateControlInput");
    /// `updateControl`: changes a control of the service catalog (SERVICE_ADMIN).
    update_control: "updateControl"("UpdateControlInput");
    /// `deprecateControl`: deprecates a control of the service catalog (SERVICE_ADMIN).
    deprecate_control: "deprecateControl"("DeprecateControlInput");
    /// `upsertLicense`: a licence SKU and its plans (SERVICE_ADMIN).
    upsert_license: "upsertLicense"("UpsertLicenseInput");
    /// `importMicrosoftGraph`: imports a tenant's Microsoft Graph Secure Score export.
    import_microsoft_graph: "importMicrosoftGraph"("ImportMicrosoftGraphInput");
    /// `configureGraphSync`: a tenant's scheduled Microsoft Graph sync.
    configure_graph_sync: "configureGraphSync"("ConfigureGraphSyncInput");
    /// `runGraphSyncNow`: runs a tenant's Graph sync at once.
    run_graph_sync_now: "runGraphSyncNow"("RunGraphSyncNowInput");
    /// `deleteImportedHistory`: deletes a tenant's imported snapshots up to a day.
    delete_imported_history: "deleteImportedHistory"("DeleteImportedHistoryInput");
    /// `applyPlan`: marks a plan's actions `PLANNED`, all or nothing.
    apply_plan: "applyPlan"("ApplyPlanInput");
    /// `requestRiskAcceptance`: asks to accept the risk of an action.
    request_risk_acceptance: "requestRiskAcceptance"("RequestRiskAcceptanceInput");
    /// `approveRiskAcceptance`: approves a requested risk acceptance.
    approve_risk_acceptance: "approveRiskAcceptance"("ApproveRiskAcceptanceInput");
    /// `rejectRiskAcceptance`: rejects a requested risk acceptance.
    reject_risk_acceptance: "rejectRiskAcceptance"("RejectRiskAcceptanceInput");
    /// `withdrawRiskAcceptance`: withdraws a requested risk acceptance.
    withdraw_risk_acceptance: "withdrawRiskAcceptance"("WithdrawRiskAcceptanceInput");
}

impl TestApp {
    /// `{ viewer { <fields> } }`: the caller.
    pub fn query_viewer(&self, auth: impl Into<Auth>, fields: &str) -> Op {
        self.op(
            auth,
            "query",
            &[],
            format!("viewer {{ {fields} }}"),
            json!({}),
            &["viewer"],
        )
    }

    /// `tenant(slug) { <fields> }`.
    pub fn query_tenant(&self, auth: impl Into<Auth>, slug: &str, fields: &str) -> Op {
        self.tenant_op(
            auth,
            &[],
            fields.to_string(),
            json!({ "slug": slug }),
            &["tenant"],
        )
    }

    /// `tenant(slug) { improvementAction(controlId) { <fields> } }`: one action (the flyout).
    pub fn query_action(&self, auth: impl Into<Auth>, slug: &str, control_id: &str, fields: &str) -> Op {
        self.tenant_op(
            auth,
            &["$controlId: String!"],
            format!("improvementAction(controlId: $controlId) {{ {fields} }}"),
            json!({ "slug": slug, "controlId": control_id }),
            &["tenant", "improvementAction"],
        )
    }

    /// `tenant(slug) { improvementActions(…) { <fields> } }`: a page of the action list; `args`
    /// holds the list's arguments given (`filter`, `orderBy`, `first`, `after`, `last`, `before`).
    pub fn query_actions(&self, auth: impl Into<Auth>, slug: &str, args: Value, fields: &str) -> Op {
        self.tenant_op(
            auth,
            &[
                "$filter: ImprovementActionFilter",
                "$orderBy: ImprovementActionOrder",
                "$first: Int",
                "$after: String",
                "$last: Int",
                "$before: String",
            ],
            format!(
                "improvementActions(filter: $filter, orderBy: $orderBy, first: $first, after: $after, \
                 last: $last, before: $before) {{ {fields} }}"
            ),
            with_slug(slug, args),
            &["tenant", "improvementActions"],
        )
    }

    /// `tenant(slug) { scoreEvents(…) { <fields> } }`: the tenant's event log; `args` holds the
    /// arguments given (`from`, `to`, `filter`, `first`, `after`, `last`, `before`).
    pub fn query_score_events(&self, auth: impl Into<Auth>, slug: &str, args: Value, fields: &str) -> Op {
        self.tenant_op(
            auth,
            &[
                "$from: DateTime",
                "$to: DateTime",
                "$filter: EventFilter",
                "$first: Int",
                "$after: String",
                "$last: Int",
                "$before: String",
            ],
            format!(
                "scoreEvents(from: $from, to: $to, filter: $filter, first: $first, after: $after, \
                 last: $last, before: $before) {{ {fields} }}"
            ),
            with_slug(slug, args),
            &["tenant", "scoreEvents"],
        )
    }

    /// `tenant(slug) { scoreHistory(from, to) { <fields> } }`: the daily series.
    pub fn query_score_history(
        &self,
        auth: impl Into<Auth>,
        slug: &str,
        from: impl Display,
        to: impl Display,
        fields: &str,
    ) -> Op {
        self.tenant_op(
            auth,
            &["$from: Date!", "$to: Date!"],
            format!("scoreHistory(from: $from, to: $to) {{ {fields} }}"),
            json!({ "slug": slug, "from": from.to_string(), "to": to.to_string() }),
            &["tenant", "scoreHistory"],
        )
    }

    /// `tenant(slug) { scoreChange(from, to, view) { <fields> } }`; `args` holds the arguments
    /// given (`from`, `to`, `view`); those absent are left out of the call.
    pub fn query_score_change(&self, auth: impl Into<Auth>, slug: &str, args: Value, fields: &str) -> Op {
        let (mut declarations, mut call) = (Vec::new(), Vec::new());
        let mut variables = json!({ "slug": slug });
        for (name, ty) in [("from", "Date!"), ("to", "Date!"), ("view", "ScoreViewKind!")] {
            if let Some(v) = args.get(name) {
                declarations.push(format!("${name}: {ty}"));
                call.push(format!("{name}: ${name}"));
                variables[name] = v.clone();
            }
        }
        let call = if call.is_empty() {
            String::new()
        } else {
            format!("({})", call.join(", "))
        };
        let declarations: Vec<&str> = declarations.iter().map(String::as_str).collect();
        self.tenant_op(
            auth,
            &declarations,
            format!("scoreChange{call} {{ {fields} }}"),
            variables,
            &["tenant", "scoreChange"],
        )
    }

    /// `tenant(slug) { comparisons(from, to, cohorts) { <fields> } }`; `cohorts` null asks for
    /// the default cohorts.
    pub fn query_comparisons(
        &self,
        auth: impl Into<Auth>,
        slug: &str,
        from: impl Display,
        to: impl Display,
        cohorts: Value,
        fields: &str,
    ) -> Op {
        self.tenant_op(
            auth,
            &["$from: Date!", "$to: Date!", "$cohorts: [CohortInput!]"],
            format!("comparisons(from: $from, to: $to, cohorts: $cohorts) {{ {fields} }}"),
            json!({ "slug": slug, "from": from.to_string(), "to": to.to_string(), "cohorts": cohorts }),
            &["tenant", "comparisons"],
        )
    }

    /// `tenant(slug) { whatIf(changes) { <fields> } }`: the score the changes would give.
    pub fn query_what_if(&self, auth: impl Into<Auth>, slug: &str, changes: Value, fields: &str) -> Op {
        self.tenant_op(
            auth,
            &["$changes: [WhatIfChangeInput!]!"],
            format!("whatIf(changes: $changes) {{ {fields} }}"),
            json!({ "slug": slug, "changes": changes }),
            &["tenant", "whatIf"],
        )
    }

    /// `tenant(slug) { plan(input) { <fields> } }`: the best plan within an effort budget.
    pub fn query_plan(&self, auth: impl Into<Auth>, slug: &str, input: Value, fields: &str) -> Op {
        self.tenant_op(
            auth,
            &["$input: PlanInput!"],
            format!("plan(input: $input) {{ {fields} }}"),
            json!({ "slug": slug, "input": input }),
            &["tenant", "plan"],
        )
    }

    /// `node(id) { <fields> }`: any object by its global id.
    pub fn query_node(&self, auth: impl Into<Auth>, id: impl Into<Value>, fields: &str) -> Op {
        self.op(
            auth,
            "query",
            &["$id: ID!"],
            format!("node(id: $id) {{ {fields} }}"),
            json!({ "id": id.into() }),
            &["node"],
        )
    }

    /// `nodes(ids) { <fields> }`: objects by their global ids, one entry per id.
    pub fn query_nodes(&self, auth: impl Into<Auth>, ids: impl Into<Value>, fields: &str) -> Op {
        self.op(
            auth,
            "query",
            &["$ids: [ID!]!"],
            format!("nodes(ids: $ids) {{ {fields} }}"),
            json!({ "ids": ids.into() }),
            &["nodes"],
        )
    }
}

/// `{ "slug": slug }` with the arguments of `args` beside it.
fn with_slug(slug: &str, args: Value) -> Value {
    merged(json!({ "slug": slug }), args)
}

/// `base` with the fields of `extra` added (or replaced).
pub fn merged(mut base: Value, extra: Value) -> Value {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}
