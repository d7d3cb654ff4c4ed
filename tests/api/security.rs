//! Access control, tenant isolation and GraphQL hardening (issue 6): authentication, the role ×
//! mutation table, isolation of another tenant's ids, query limits, CSRF, rate limiting, error
//! masking, the API token lifecycle, the audit trail and the `create-tenant` CLI.

use crate::db_test;
use crate::helpers::*;
use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, PaginatorTrait, Set};
use securescore::domain::enums::{Role, RoleExt};
use securescore::graphql::ids;
use securescore::service::access::tenants;
use serde_json::{Value, json};

/// How a mutation attempt ended: `ALLOWED`, or the code of the top-level error or first user
/// error (`FORBIDDEN`, `NOT_FOUND`, …).
fn outcome(body: &Value, field: &str) -> String {
    if let Some(code) = error_code(body) {
        return code;
    }
    match body["data"][field]["userErrors"][0]["code"].as_str() {
        Some(code) => code.to_string(),
        None if body["data"][field].is_object() => "ALLOWED".to_string(),
        None => format!("unexpected answer: {body}"),
    }
}

/// A token for a new principal with `role` on a tenant, made directly in the database; returns
/// the secret and the token's global id.
async fn extra_token(
    app: &TestApp,
    tenant_id: i64,
    role: Role,
    expires_at: Option<chrono::DateTime<Utc>>,
) -> (String, String) {
    let now = Utc::now();
    let p = tenants::create_principal(&app.db, "extra", "TOKEN", now)
        .await
        .unwrap();
    tenants::grant_role(&app.db, p.id, tenant_id, role, now)
        .await
        .unwrap();
    let (secret, row) = tenants::issue_token(&app.db, p.id, "extra", expires_at, None, now)
        .await
        .unwrap();
    (secret, ids::encode("ApiToken", row.id).to_string())
}

/// Gives a tenant a licence directly in the database.
async fn hold_license(app: &TestApp, tenant_id: i64, sku: &str) {
    let now = Utc::now();
    entity::tenant_license::ActiveModel {
        tenant_id: Set(tenant_id),
        license_sku: Set(sku.to_string()),
        seats_purchased: Set(10),
        seats_assigned: Set(5),
        expires_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
}

async fn count_tenants(app: &TestApp) -> u64 {
    entity::tenant::Entity::find().count(&app.db).await.unwrap()
}

const TENANT_SLUG: &str = "query($slug: String!) { tenant(slug: $slug) { slug } }";

db_test!(
    requests_with_a_missing_bad_expired_or_revoked_token_are_unauthenticated,
    |app| {
        let t = app.tenant().create().await;
        let (expired, _) =
            extra_token(&app, t.id, Role::Admin, Some(Utc::now() - Duration::minutes(1))).await;
        let (revoked, revoked_id) = extra_token(&app, t.id, Role::Admin, None).await;
        let revoke = app
            .gql_ok(
                &t.admin,
                "mutation($id: ID!) { revokeApiToken(input: { id: $id }) { apiToken { revokedAt } userErrors { code } } }",
                json!({ "id": revoked_id }),
            )
            .await;
        assert!(
            revoke["revokeApiToken"]["apiToken"]["revokedAt"].is_string(),
            "{revoke}"
        );

        let vars = json!({ "slug": t.slug });
        let cases = [
            (None, "no token"),
            (Some("ssk_not-a-real-token"), "unknown token"),
            (Some(expired.as_str()), "expired token"),
            (Some(revoked.as_str()), "revoked token"),
        ];
        for (token, why) in cases {
            let body = app.gql(token, TENANT_SLUG, vars.clone()).await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("UNAUTHENTICATED"),
                "{why}: {body}"
            );
            let mutation = app
                .gql(
                    token,
                    "mutation { createTenant(input: { slug: \"sneaky\", name: \"x\" }) { tenant { id } } }",
                    json!({}),
                )
                .await;
            assert_eq!(
                error_code(&mutation).as_deref(),
                Some("UNAUTHENTICATED"),
                "{why}: {mutation}"
            );
        }
        let tenants_now = count_tenants(&app).await;
        assert_eq!(tenants_now, 1, "no unauthenticated mutation created anything");
        let ok = app.gql_ok(&t.reader, TENANT_SLUG, vars).await;
        assert_eq!(ok["tenant"]["slug"], t.slug.as_str(), "a valid token still works");
    }
);

/// What a mutation needs: the service-wide SERVICE_ADMIN role (which no tenant role gives), or
/// at least a role on the tenant.
#[derive(Clone, Copy, Debug)]
enum Needs {
    ServiceAdmin,
    AtLeast(Role),
}

/// What the rows of the role table refer to. Objects a successful attempt changes or uses up
/// exist once per caller (index `i` of the callers), so every attempt finds them untouched.
struct World {
    tenant: TenantFixture,
    /// Distinct identity controls per caller and purpose.
    controls: Vec<&'static str>,
    tokens: Vec<String>,
    notes_to_edit: Vec<String>,
    notes_to_delete: Vec<String>,
    tags: Vec<String>,
    tags_to_delete: Vec<String>,
    share_links: Vec<String>,
}

impl World {
    /// The control for `purpose` (0..4) and caller `i`.
    fn control(&self, purpose: usize, i: usize) -> &'static str {
        self.controls[purpose * 4 + i]
    }
}

/// One mutation of the role table: its field, what it needs, its document, and its variables
/// for caller `i`.
type Row = (&'static str, Needs, &'static str, fn(&World, usize) -> Value);

const CALLERS: usize = 4;

/// Every mutation of the schema that tenant roles may run, with the role it needs, and
/// `createTenant`, which none of them may. Adding a mutation is adding a line. The mutations for
/// SERVICE_ADMINs (grants, the catalog) have their own table in `service_admin.rs`, which also
/// runs these rows' changed rules as a SERVICE_ADMIN.
fn mutation_table() -> Vec<Row> {
    use Needs::*;
    use Role::*;
    vec![
        (
            "createTenant",
            ServiceAdmin,
            "mutation($slug: String!) { createTenant(input: { slug: $slug, name: \"New\" }) { tenant { slug } userErrors { code } } }",
            |_, i| json!({ "slug": format!("new-tenant-{i}") }),
        ),
        (
            "updateTenant",
            AtLeast(Admin),
            "mutation($slug: String!) { updateTenant(input: { slug: $slug, seatCount: 999 }) { tenant { seatCount } userErrors { code } } }",
            |w, _| json!({ "slug": w.tenant.slug }),
        ),
        (
            "setTenantLicense",
            AtLeast(Admin),
            "mutation($slug: String!) { setTenantLicense(input: { tenantSlug: $slug, sku: \"ENTRA_ID_P2\", seatsPurchased: 10, seatsAssigned: 3 }) { license { sku } userErrors { code } } }",
            |w, _| json!({ "slug": w.tenant.slug }),
        ),
        (
            "removeTenantLicense",
            AtLeast(Admin),
            "mutation($slug: String!) { removeTenantLicense(input: { tenantSlug: $slug, sku: \"M365_E5\" }) { removedSku userErrors { code } } }",
            |w, _| json!({ "slug": w.tenant.slug }),
        ),
        (
            "createApiToken",
            AtLeast(Admin),
            "mutation($slug: String!, $name: String!) { createApiToken(input: { tenantSlug: $slug, principalName: $name, role: READER, name: \"ci\" }) { secret userErrors { code } } }",
            |w, i| json!({ "slug": w.tenant.slug, "name": format!("bot-{i}") }),
        ),
        (
            "revokeApiToken",
            AtLeast(Admin),
            "mutation($id: ID!) { revokeApiToken(input: { id: $id }) { apiToken { revokedAt } userErrors { code } } }",
            |w, i| json!({ "id": w.tokens[i] }),
        ),
        (
            "setActionStatus",
            AtLeast(Operator),
            "mutation($slug: String!, $c: String!) { setActionStatus(input: { tenantSlug: $slug, controlId: $c, status: PLANNED }) { userErrors { code } } }",
            |w, i| json!({ "slug": w.tenant.slug, "c": w.control(0, i) }),
        ),
        (
            "bulkSetActionStatus",
            AtLeast(Operator),
            "mutation($slug: String!, $c: String!) { bulkSetActionStatus(input: { tenantSlug: $slug, items: [{ controlId: $c, status: PLANNED }] }) { userErrors { code } } }",
            |w, i| json!({ "slug": w.tenant.slug, "c": w.control(1, i) }),
        ),
        (
            "undoActionStatus",
            AtLeast(Operator),
            "mutation($slug: String!, $c: String!) { undoActionStatus(input: { tenantSlug: $slug, controlId: $c }) { userErrors { code } } }",
            |w, i| json!({ "slug": w.tenant.slug, "c": w.control(2, i) }),
        ),
        (
            "recordImplementationProgress",
            AtLeast(Operator),
            "mutation($slug: String!, $c: String!) { recordImplementationProgress(input: { tenantSlug: $slug, controlId: $c, implemented: 1, total: 4 }) { userErrors { code } } }",
            |w, i| json!({ "slug": w.tenant.slug, "c": w.control(3, i) }),
        ),
        (
            "recordDeviceException",
            AtLeast(Operator),
            "mutation($slug: String!) { recordDeviceException(input: { tenantSlug: $slug, controlId: \"scid_2010\", scope: DEVICE_GROUP, justification: PLANNED_REMEDIATION, comment: \"next sprint\" }) { userErrors { code } } }",
            |w, _| json!({ "slug": w.tenant.slug }),
        ),
        (
            "addActionNote",
            AtLeast(Operator),
            "mutation($slug: String!) { addActionNote(input: { tenantSlug: $slug, controlId: \"AdminMFAV2\", body: \"hello\" }) { userErrors { code } } }",
            |w, _| json!({ "slug": w.tenant.slug }),
        ),
        // The fixture notes were written by the admin: only their author or an ADMIN edits them.
        (
            "updateActionNote",
            AtLeast(Admin),
            "mutation($id: ID!) { updateActionNote(input: { id: $id, body: \"edited\" }) { userErrors { code } } }",
            |w, i| json!({ "id": w.notes_to_edit[i] }),
        ),
        (
            "deleteActionNote",
            AtLeast(Admin),
            "mutation($id: ID!) { deleteActionNote(input: { id: $id }) { userErrors { code } } }",
            |w, i| json!({ "id": w.notes_to_delete[i] }),
        ),
        (
            "createTag",
            AtLeast(Operator),
            "mutation($slug: String!, $name: String!) { createTag(input: { tenantSlug: $slug, name: $name }) { userErrors { code } } }",
            |w, i| json!({ "slug": w.tenant.slug, "name": format!("created-{i}") }),
        ),
        (
            "updateTag",
            AtLeast(Operator),
            "mutation($id: ID!, $name: String!) { updateTag(input: { id: $id, name: $name }) { userErrors { code } } }",
            |w, i| json!({ "id": w.tags[i], "name": format!("renamed-{i}") }),
        ),
        (
            "addActionTags",
            AtLeast(Operator),
            "mutation($slug: String!, $tag: ID!) { addActionTags(input: { tenantSlug: $slug, controlIds: [\"AdminMFAV2\"], tagIds: [$tag] }) { userErrors { code } } }",
            |w, i| json!({ "slug": w.tenant.slug, "tag": w.tags[i] }),
        ),
        (
            "removeActionTags",
            AtLeast(Operator),
            "mutation($slug: String!, $tag: ID!) { removeActionTags(input: { tenantSlug: $slug, controlIds: [\"AdminMFAV2\"], tagIds: [$tag] }) { userErrors { code } } }",
            |w, i| json!({ "slug": w.tenant.slug, "tag": w.tags[i] }),
        ),
        (
            "deleteTag",
            AtLeast(Operator),
            "mutation($id: ID!) { deleteTag(input: { id: $id }) { userErrors { code } } }",
            |w, i| json!({ "id": w.tags_to_delete[i] }),
        ),
        (
            "createShareLink",
            AtLeast(Operator),
            "mutation($slug: String!) { createShareLink(input: { tenantSlug: $slug, controlId: \"AdminMFAV2\", platform: LINK }) { userErrors { code } } }",
            |w, _| json!({ "slug": w.tenant.slug }),
        ),
        (
            "revokeShareLink",
            AtLeast(Operator),
            "mutation($id: ID!) { revokeShareLink(input: { id: $id }) { userErrors { code } } }",
            |w, i| json!({ "id": w.share_links[i] }),
        ),
    ]
}

/// Runs a setup mutation as the admin and returns the string at `path` of its payload.
async fn setup(app: &TestApp, token: &str, query: &str, vars: Value, path: &[&str]) -> String {
    let data = app.gql_ok(token, query, vars).await;
    let mut v = &data;
    for p in path {
        v = &v[*p];
    }
    v.as_str()
        .unwrap_or_else(|| panic!("setup {query}: {data}"))
        .to_string()
}

db_test!(each_role_may_run_exactly_its_mutations, |app| {
    let tenant = app
        .tenant()
        .services(&["AzureAD", "EXO", "MDO", "MDATP"])
        .create()
        .await;
    let other = app.tenant().create().await;
    hold_license(&app, tenant.id, "M365_E5").await;
    let (slug, admin, operator) = (tenant.slug.clone(), tenant.admin.clone(), tenant.operator.clone());
    let controls = vec![
        "AdminMFAV2",
        "MFARegistrationV2",
        "BlockLegacyAuthentication",
        "SigninRiskPolicy",
        "UserRiskPolicy",
        "SelfServicePasswordReset",
        "PWAgePolicyNew",
        "IntegratedApps",
        "aad_admin_accounts_separate_unassigned_cloud_only",
        "aad_admin_consent_workflow",
        "aad_custom_banned_passwords",
        "aad_limited_administrative_roles",
        "aad_password_protection",
        "aad_phishing_MFA_strength",
        "aad_sign_in_freq_session_timeout",
        "aad_third_party_apps",
    ];
    let mut world = World {
        tenant,
        controls,
        tokens: Vec::new(),
        notes_to_edit: Vec::new(),
        notes_to_delete: Vec::new(),
        tags: Vec::new(),
        tags_to_delete: Vec::new(),
        share_links: Vec::new(),
    };
    let note = "mutation($slug: String!) { addActionNote(input: { tenantSlug: $slug, controlId: \"AdminMFAV2\", body: \"n\" }) { note { id } } }";
    let tag = "mutation($slug: String!, $name: String!) { createTag(input: { tenantSlug: $slug, name: $name }) { tag { id } } }";
    let link = "mutation($slug: String!) { createShareLink(input: { tenantSlug: $slug, controlId: \"AdminMFAV2\", platform: LINK }) { shareLink { id } } }";
    let status = "mutation($slug: String!, $c: String!) { setActionStatus(input: { tenantSlug: $slug, controlId: $c, status: PLANNED }) { userErrors { code } } }";
    let vars = json!({ "slug": slug });
    for i in 0..CALLERS {
        world
            .tokens
            .push(extra_token(&app, world.tenant.id, Role::Reader, None).await.1);
        world
            .notes_to_edit
            .push(setup(&app, &admin, note, vars.clone(), &["addActionNote", "note", "id"]).await);
        world
            .notes_to_delete
            .push(setup(&app, &admin, note, vars.clone(), &["addActionNote", "note", "id"]).await);
        let name = json!({ "slug": slug, "name": format!("tag-{i}") });
        world
            .tags
            .push(setup(&app, &admin, tag, name, &["createTag", "tag", "id"]).await);
        let name = json!({ "slug": slug, "name": format!("doomed-{i}") });
        world
            .tags_to_delete
            .push(setup(&app, &admin, tag, name, &["createTag", "tag", "id"]).await);
        world.share_links.push(
            setup(
                &app,
                &admin,
                link,
                vars.clone(),
                &["createShareLink", "shareLink", "id"],
            )
            .await,
        );
        // Something to undo for each caller: a change of its own, since undo answers
        // NOTHING_TO_UNDO to anyone else (caller 1 below is the OPERATOR; the admin makes the
        // change for callers that can't make one).
        let by = if i == 1 { &operator } else { &admin };
        app.gql_ok(by, status, json!({ "slug": slug, "c": world.control(2, i) }))
            .await;
    }

    let t = &world.tenant;
    let callers = [
        ("READER", t.reader.as_str(), Some(Role::Reader)),
        ("OPERATOR", t.operator.as_str(), Some(Role::Operator)),
        ("other tenant's ADMIN", other.admin.as_str(), None),
        ("ADMIN", t.admin.as_str(), Some(Role::Admin)),
    ];
    let mut failures = Vec::new();
    for (field, needs, query, vars) in mutation_table() {
        for (i, (who, token, role)) in callers.iter().enumerate() {
            let expected = match (needs, role) {
                (Needs::ServiceAdmin, _) => "FORBIDDEN",
                (Needs::AtLeast(_), None) => "NOT_FOUND",
                (Needs::AtLeast(needed), Some(role)) if role.allows(needed) => "ALLOWED",
                (Needs::AtLeast(_), Some(_)) => "FORBIDDEN",
            };
            let body = app.gql(Some(token), query, vars(&world, i)).await;
            let got = outcome(&body, field);
            if got != expected {
                failures.push(format!("{field} as {who}: expected {expected}, got {got}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "role table mismatches:\n{}",
        failures.join("\n")
    );
});

db_test!(another_tenants_ids_are_invisible_and_unchangeable, |app| {
    let mine = app.tenant().create().await;
    let theirs = app.tenant().create().await;
    hold_license(&app, theirs.id, "M365_E5").await;
    let (their_secret, their_token) = extra_token(&app, theirs.id, Role::Reader, None).await;
    let missing_token = ids::encode("ApiToken", 999_999).to_string();

    let revoke = "mutation($id: ID!) { revokeApiToken(input: { id: $id }) { apiToken { id } userErrors { message code } } }";
    let theirs_answer = app
        .gql(Some(&mine.admin), revoke, json!({ "id": their_token }))
        .await;
    let missing_answer = app
        .gql(Some(&mine.admin), revoke, json!({ "id": missing_token }))
        .await;
    assert_eq!(
        outcome(&theirs_answer, "revokeApiToken"),
        "NOT_FOUND",
        "{theirs_answer}"
    );
    assert_eq!(
        theirs_answer, missing_answer,
        "another tenant's token answers like a missing one"
    );
    let garbage = app
        .gql(Some(&mine.admin), revoke, json!({ "id": "garbage" }))
        .await;
    assert_eq!(
        garbage, missing_answer,
        "a malformed id answers like a missing one"
    );

    let update = "mutation($slug: String!) { updateTenant(input: { slug: $slug, name: \"Pwned\" }) { tenant { name } userErrors { message code } } }";
    let theirs_update = app
        .gql(Some(&mine.admin), update, json!({ "slug": theirs.slug }))
        .await;
    let missing_update = app
        .gql(Some(&mine.admin), update, json!({ "slug": "no-such-tenant" }))
        .await;
    assert_eq!(outcome(&theirs_update, "updateTenant"), "NOT_FOUND");
    assert_eq!(theirs_update, missing_update);

    let remove = "mutation($slug: String!) { removeTenantLicense(input: { tenantSlug: $slug, sku: \"M365_E5\" }) { removedSku userErrors { message code } } }";
    let theirs_remove = app
        .gql(Some(&mine.admin), remove, json!({ "slug": theirs.slug }))
        .await;
    let missing_remove = app
        .gql(Some(&mine.admin), remove, json!({ "slug": "no-such-tenant" }))
        .await;
    assert_eq!(theirs_remove, missing_remove);

    let create_token = "mutation($slug: String!) { createApiToken(input: { tenantSlug: $slug, principalName: \"spy\", role: ADMIN, name: \"x\" }) { secret userErrors { message code } } }";
    let theirs_create = app
        .gql(Some(&mine.admin), create_token, json!({ "slug": theirs.slug }))
        .await;
    let missing_create = app
        .gql(
            Some(&mine.admin),
            create_token,
            json!({ "slug": "no-such-tenant" }),
        )
        .await;
    assert_eq!(theirs_create, missing_create);
    assert!(theirs_create["data"]["createApiToken"]["secret"].is_null());

    let listed = app
        .gql_ok(
            &mine.admin,
            "query($slug: String!) { tenant(slug: $slug) { apiTokens { id } } }",
            json!({ "slug": mine.slug }),
        )
        .await;
    let listed_ids: Vec<&Value> = listed["tenant"]["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["id"])
        .collect();
    assert_eq!(
        listed_ids.len(),
        3,
        "only my tenant's three fixture tokens: {listed}"
    );
    assert!(!listed_ids.contains(&&json!(their_token)));

    // Nothing of theirs changed: their name, licence and token are intact.
    let still = app
        .gql_ok(
            &theirs.admin,
            "query($slug: String!) { tenant(slug: $slug) { name licenses { sku } } }",
            json!({ "slug": theirs.slug }),
        )
        .await;
    assert_ne!(still["tenant"]["name"], "Pwned");
    assert_eq!(still["tenant"]["licenses"], json!([{ "sku": "M365_E5" }]));
    let works = app
        .gql_ok(&their_secret, TENANT_SLUG, json!({ "slug": theirs.slug }))
        .await;
    assert_eq!(works["tenant"]["slug"], theirs.slug.as_str());
});

db_test!(deeply_nested_queries_are_refused_as_too_complex, |app| {
    let t = app.tenant().create().await;
    let depth = 20;
    let query = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {}name{} }} }} }} }} }}",
        "ofType { ".repeat(depth),
        " }".repeat(depth)
    );
    let resp = app
        .post_graphql(Some(&t.reader), &json!({ "query": query }))
        .await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body).as_deref(), Some("QUERY_TOO_COMPLEX"), "{body}");
    assert!(
        body.get("data").is_none_or(Value::is_null),
        "nothing executed: {body}"
    );
});

db_test!(a_thousand_aliases_are_refused_before_anything_runs, |app| {
    app.tenant().create().await;
    let before = count_tenants(&app).await;
    let fields: String = (0..1000)
        .map(|i| format!("a{i}:createTenant(input:{{slug:\"a{i}\",name:\"n\"}}){{__typename}}\n"))
        .collect();
    let query = format!("mutation {{ {fields} }}");
    assert!(
        query.len() < 65_536,
        "under the document size limit, so the alias limit is what refuses it"
    );
    // A SERVICE_ADMIN, who may create tenants: only the alias limit stops it.
    let service_admin = app.service_admin().await;
    let resp = app
        .post_graphql(Some(&service_admin), &json!({ "query": query }))
        .await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body).as_deref(), Some("QUERY_TOO_COMPLEX"), "{body}");
    assert_eq!(
        count_tenants(&app).await,
        before,
        "not one of the aliased mutations ran"
    );
});

db_test!(an_expensive_query_is_refused_by_the_complexity_limit, |app| {
    let t = app.tenant().create().await;
    let fields: String = (0..12)
        .map(|i| format!("a{i}: auditLog(first: 100) {{ edges {{ node {{ id action target actorName occurredAt }} }} }}\n"))
        .collect();
    let query = format!("query($slug: String!) {{ tenant(slug: $slug) {{ {fields} }} }}");
    let body = app.gql(Some(&t.reader), &query, json!({ "slug": t.slug })).await;
    assert_eq!(error_code(&body).as_deref(), Some("QUERY_TOO_COMPLEX"), "{body}");
});

db_test!(a_five_megabyte_body_is_refused_with_413, |app| {
    let t = app.tenant().create().await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = json!({ "query": "{ viewer { name } }", "variables": { "pad": "x".repeat(5 * 1024 * 1024) } })
        .to_string();
    // A raw connection: the server answers as soon as it sees the length and closes without
    // reading the rest, which an HTTP client still busy sending would report as a reset.
    let stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         authorization: Bearer {}\r\ncontent-length: {}\r\n\r\n",
        t.reader,
        body.len()
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    let sender = tokio::spawn(async move {
        let _ = writer.write_all(body.as_bytes()).await;
        writer
    });
    let mut answer = vec![0_u8; 64];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), reader.read(&mut answer))
        .await
        .expect("the server answers without waiting for the whole body")
        .unwrap();
    let status_line = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line}");
    sender.abort();
});

db_test!(a_hundred_operation_batch_is_refused_before_any_runs, |app| {
    let t = app.tenant().create().await;
    let before = count_tenants(&app).await;
    let batch: Vec<Value> = (0..100)
        .map(|i| json!({ "query": format!("mutation {{ createTenant(input: {{ slug: \"b-{i}\", name: \"n\" }}) {{ userErrors {{ code }} }} }}") }))
        .collect();
    // A SERVICE_ADMIN, who may create tenants: only the batch limit stops it.
    let service_admin = app.service_admin().await;
    let resp = app.post_graphql(Some(&service_admin), &Value::Array(batch)).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(count_tenants(&app).await, before, "no operation of the batch ran");

    let small: Vec<Value> = (0..3)
        .map(|_| json!({ "query": "{ viewer { name } }" }))
        .collect();
    let resp = app.post_graphql(Some(&t.admin), &Value::Array(small)).await;
    assert_eq!(resp.status(), 200, "a small batch is fine");
    let answers: Value = resp.json().await.unwrap();
    assert_eq!(answers.as_array().map(Vec::len), Some(3));
});

db_test!(an_oversized_query_document_is_refused, |app| {
    let t = app.tenant().create().await;
    let query = format!("{{ viewer {{ name }} }} # {}", "x".repeat(70_000));
    let resp = app
        .post_graphql(Some(&t.reader), &json!({ "query": query }))
        .await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
});

db_test!(a_page_of_ten_thousand_is_refused, |app| {
    let t = app.tenant().create().await;
    let controls = app
        .gql(
            Some(&t.reader),
            "{ controls(first: 10000) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        error_code(&controls).as_deref(),
        Some("BAD_USER_INPUT"),
        "{controls}"
    );
    let audit = app
        .gql(
            Some(&t.reader),
            "query($slug: String!) { tenant(slug: $slug) { auditLog(first: 10000) { totalCount } } }",
            json!({ "slug": t.slug }),
        )
        .await;
    assert_eq!(error_code(&audit).as_deref(), Some("BAD_USER_INPUT"), "{audit}");
});

db_test!(mutations_over_get_or_without_a_json_body_are_refused, |app| {
    let t = app.tenant().create().await;
    let before = count_tenants(&app).await;
    // A SERVICE_ADMIN, who may create tenants: only the transport rules stop it.
    let service_admin = app.service_admin().await;
    let mutation = "mutation { createTenant(input: { slug: \"csrf\", name: \"n\" }) { tenant { id } } }";
    let get = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", mutation)])
        .header("authorization", format!("Bearer {service_admin}"))
        .header("accept", "application/graphql-response+json")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");

    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let resp = app
            .client
            .post(format!("{}/graphql", app.address))
            .header("authorization", format!("Bearer {service_admin}"))
            .header("content-type", content_type)
            .body(json!({ "query": mutation }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 415, "{content_type}");
    }
    assert_eq!(count_tenants(&app).await, before, "no mutation ran");

    let query = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", "{ viewer { name } }")])
        .header("authorization", format!("Bearer {}", t.reader))
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 200, "queries over GET still work");
});

db_test!(internal_errors_are_masked_and_carry_a_request_id, |app| {
    let t = app.tenant().create().await;
    app.db
        .execute_unprepared("DROP TABLE tenant_license")
        .await
        .unwrap();
    let body = app
        .gql(
            Some(&t.reader),
            "query($slug: String!) { tenant(slug: $slug) { licenses { sku } } }",
            json!({ "slug": t.slug }),
        )
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("INTERNAL"), "{body}");
    let err = &body["errors"][0];
    assert_eq!(err["message"], "internal error");
    assert!(
        err["extensions"]["requestId"]
            .as_str()
            .is_some_and(|id| id.len() > 8),
        "{body}"
    );
    let text = body.to_string().to_lowercase();
    for leak in [
        "tenant_license",
        "select",
        "no such table",
        "relation",
        "sqlx",
        "database",
    ] {
        assert!(!text.contains(leak), "{leak:?} leaked: {body}");
    }
});

db_test!(an_api_token_is_created_used_listed_and_revoked, |app| {
    let t = app.tenant().create().await;
    let expires = (Utc::now() + Duration::days(30)).to_rfc3339();
    let created = app
        .gql_ok(
            &t.admin,
            "mutation($slug: String!, $expires: DateTime) { createApiToken(input: { tenantSlug: $slug,
               principalName: \"ci-pipeline\", role: OPERATOR, name: \"deploy job\", expiresAt: $expires }) {
               secret apiToken { id name prefix principalName role expiresAt revokedAt lastUsedAt }
               userErrors { field message code } } }",
            json!({ "slug": t.slug, "expires": expires }),
        )
        .await;
    let payload = &created["createApiToken"];
    assert_eq!(payload["userErrors"], json!([]));
    let secret = payload["secret"].as_str().unwrap().to_string();
    assert!(
        secret.starts_with("ssk_") && secret.len() >= 4 + 22,
        "≥128 random bits: {secret}"
    );
    let token = &payload["apiToken"];
    assert_eq!(token["prefix"], &secret[..12]);
    assert_eq!(token["principalName"], "ci-pipeline");
    assert_eq!(token["role"], "OPERATOR");
    assert!(token["expiresAt"].is_string() && token["revokedAt"].is_null());
    let token_id = token["id"].as_str().unwrap().to_string();

    let me = app
        .gql_ok(
            &secret,
            "{ viewer { name tenants { role currentScorePercentage tenant { slug } } } }",
            json!({}),
        )
        .await;
    assert_eq!(me["viewer"]["name"], "ci-pipeline");
    assert_eq!(
        me["viewer"]["tenants"],
        json!([{ "role": "OPERATOR", "currentScorePercentage": 0.0, "tenant": { "slug": t.slug } }])
    );

    // Only the hash is stored: no column of any token row, nor any audit row, holds the secret.
    let rows = entity::api_token::Entity::find().all(&app.db).await.unwrap();
    let hash = securescore::domain::tokens::hash_secret(&secret);
    assert!(rows.iter().any(|r| r.token_hash == hash));
    assert!(!format!("{rows:?}").contains(&secret), "plaintext secret stored");
    let audit = entity::audit_log::Entity::find().all(&app.db).await.unwrap();
    assert!(!format!("{audit:?}").contains(&secret), "secret in the audit log");

    let list = "query($slug: String!) { tenant(slug: $slug) { apiTokens { id name prefix principalName role lastUsedAt revokedAt } } }";
    let listed = app.gql_ok(&t.admin, list, json!({ "slug": t.slug })).await;
    assert!(!listed.to_string().contains(&secret), "secrets are never listed");
    let mine = listed["tenant"]["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == token_id.as_str())
        .cloned()
        .expect("the new token is listed");
    assert!(mine["lastUsedAt"].is_string(), "use was recorded: {mine}");
    let as_operator = app.gql(Some(&t.operator), list, json!({ "slug": t.slug })).await;
    assert_eq!(
        error_code(&as_operator).as_deref(),
        Some("FORBIDDEN"),
        "{as_operator}"
    );

    let revoked = app
        .gql_ok(
            &t.admin,
            "mutation($id: ID!) { revokeApiToken(input: { id: $id }) { apiToken { id revokedAt } userErrors { code } } }",
            json!({ "id": token_id }),
        )
        .await;
    assert!(
        revoked["revokeApiToken"]["apiToken"]["revokedAt"].is_string(),
        "{revoked}"
    );
    let after = app.gql(Some(&secret), "{ viewer { name } }", json!({})).await;
    assert_eq!(error_code(&after).as_deref(), Some("UNAUTHENTICATED"), "{after}");

    let bad = app
        .gql_ok(
            &t.admin,
            "mutation($slug: String!) { createApiToken(input: { tenantSlug: $slug, principalName: \" \", role: READER, name: \"x\" }) { secret userErrors { field code } } }",
            json!({ "slug": t.slug }),
        )
        .await;
    assert_eq!(
        bad["createApiToken"],
        json!({ "secret": null, "userErrors": [{ "field": ["input", "principalName"], "code": "BAD_USER_INPUT" }] })
    );
});

db_test!(administrative_changes_are_written_to_the_audit_log, |app| {
    let t = app.tenant().create().await;
    let service_admin = app.service_admin().await;
    let created = app
        .gql_ok(
            &service_admin,
            "mutation { createTenant(input: { slug: \"audited\", name: \"Audited\", industry: \"finance\", seatCount: 50, enabledServices: [\"AzureAD\"] }) {
               tenant { slug seatCount } userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(created["createTenant"]["tenant"]["slug"], "audited", "{created}");
    let admin_id = app.principal_id_of(&t.admin).await;
    let granted = app
        .gql_ok(
            &service_admin,
            "mutation($p: ID!) { grantRole(input: { tenantSlug: \"audited\", principalId: $p, role: ADMIN }) {
               tenant { slug } grant { role principal { id } } userErrors { code } } }",
            json!({ "p": admin_id }),
        )
        .await;
    assert_eq!(
        granted["grantRole"]["grant"],
        json!({ "role": "ADMIN", "principal": { "id": admin_id } }),
        "{granted}"
    );
    let roles = app
        .gql_ok(
            &t.admin,
            "{ viewer { tenants { role tenant { slug licenses { sku } } } } }",
            json!({}),
        )
        .await;
    assert!(
        roles["viewer"]["tenants"]
            .as_array()
            .unwrap()
            .contains(&json!({ "role": "ADMIN", "tenant": { "slug": "audited", "licenses": [] } })),
        "the granted principal is ADMIN of the new tenant and reads it: {roles}"
    );

    let actions_before = entity::improvement_action::Entity::find()
        .count(&app.db)
        .await
        .unwrap();
    let steps = [
        "mutation { updateTenant(input: { slug: \"audited\", name: \"Audited Ltd\", enabledServices: [\"AzureAD\", \"EXO\"] }) { tenant { name enabledServices } userErrors { code } } }",
        "mutation { setTenantLicense(input: { tenantSlug: \"audited\", sku: \"M365_E5\", seatsPurchased: 50, seatsAssigned: 40 }) { license { sku seatsPurchased } userErrors { code } } }",
        "mutation { removeTenantLicense(input: { tenantSlug: \"audited\", sku: \"M365_E5\" }) { removedSku userErrors { code } } }",
        "mutation { createApiToken(input: { tenantSlug: \"audited\", principalName: \"bot\", role: READER, name: \"reports\" }) { apiToken { id } userErrors { code } } }",
    ];
    let mut token_id = None;
    for step in steps {
        let data = app.gql_ok(&t.admin, step, json!({})).await;
        let payload = data.as_object().unwrap().values().next().unwrap();
        assert_eq!(payload["userErrors"], json!([]), "{step}: {data}");
        if let Some(id) = payload["apiToken"]["id"].as_str() {
            token_id = Some(id.to_string());
        }
    }
    let actions_after = entity::improvement_action::Entity::find()
        .count(&app.db)
        .await
        .unwrap();
    assert!(
        actions_after > actions_before,
        "enabling EXO added its controls as actions"
    );
    app.gql_ok(
        &t.admin,
        "mutation($id: ID!) { revokeApiToken(input: { id: $id }) { userErrors { code } } }",
        json!({ "id": token_id }),
    )
    .await;

    // A refused change writes nothing, not even an audit row.
    let refused = app
        .gql_ok(
            &t.admin,
            "mutation { setTenantLicense(input: { tenantSlug: \"audited\", sku: \"NOPE\", seatsPurchased: 1, seatsAssigned: 0 }) { userErrors { field code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        refused["setTenantLicense"]["userErrors"][0]["field"],
        json!(["input", "sku"])
    );

    let log = app
        .gql_ok(
            &t.reader,
            "query($slug: String!) { tenant(slug: $slug) { auditLog(first: 10) { totalCount edges { node { action target actorName detail } } } } }",
            json!({ "slug": t.slug }),
        )
        .await;
    assert_eq!(
        log["tenant"]["auditLog"]["totalCount"], 0,
        "the fixture tenant saw no admin changes"
    );
    let log = app
        .gql_ok(
            &t.admin,
            "{ tenant(slug: \"audited\") { auditLog(first: 10) { totalCount edges { node { action target actorName detail } } } } }",
            json!({}),
        )
        .await;
    let entries = log["tenant"]["auditLog"]["edges"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "TOKEN_REVOKED",
            "TOKEN_CREATED",
            "LICENSE_REMOVED",
            "LICENSE_SET",
            "TENANT_UPDATED",
            "ROLE_GRANTED",
            "TENANT_CREATED"
        ],
        "newest first"
    );
    let admin_name = format!("admin {}", t.slug);
    assert!(
        entries[..5]
            .iter()
            .all(|e| e["node"]["actorName"] == admin_name.as_str()),
        "{log}"
    );
    assert!(
        entries[5..].iter().all(|e| e["node"]["actorName"]
            .as_str()
            .is_some_and(|n| n.starts_with("service admin"))),
        "the SERVICE_ADMIN created the tenant and granted the role: {log}"
    );
    assert_eq!(
        entries[5]["node"]["detail"],
        json!({ "principal": admin_name, "role": "ADMIN", "previousRole": null })
    );
    assert_eq!(
        entries[4]["node"]["detail"]["name"],
        json!({ "from": "Audited", "to": "Audited Ltd" })
    );
    assert_eq!(entries[3]["node"]["target"], "TenantLicense:M365_E5");

    let page = app
        .gql_ok(
            &t.admin,
            "{ tenant(slug: \"audited\") { auditLog(first: 2) { pageInfo { hasNextPage endCursor } edges { node { action } } } } }",
            json!({}),
        )
        .await;
    let cursor = page["tenant"]["auditLog"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_string();
    let next = app
        .gql_ok(
            &t.admin,
            "query($after: String) { tenant(slug: \"audited\") { auditLog(first: 2, after: $after) { edges { node { action } } } } }",
            json!({ "after": cursor }),
        )
        .await;
    assert_eq!(
        next["tenant"]["auditLog"]["edges"],
        json!([{ "node": { "action": "LICENSE_REMOVED" } }, { "node": { "action": "LICENSE_SET" } }])
    );
});

/// Backends to run a test on when it needs its own configuration.
fn backends() -> Vec<Backend> {
    let mut b = vec![Backend::Sqlite];
    if postgres_enabled() {
        b.push(Backend::Postgres);
    }
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_rate_limit_gets_429_with_a_retry_hint() {
    for backend in backends() {
        let app = spawn_app_with(backend, |c| {
            c.rate_limit_per_minute = 1;
            c.rate_limit_burst = 2;
        })
        .await;
        let t = app.tenant().create().await;
        let q = json!({ "query": "{ viewer { name } }" });
        for _ in 0..2 {
            let ok = app.post_graphql(Some(&t.reader), &q).await;
            assert_eq!(ok.status(), 200, "{backend:?}: within the burst");
        }
        let limited = app.post_graphql(Some(&t.reader), &q).await;
        assert_eq!(limited.status(), 429, "{backend:?}");
        let retry: u64 = limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        let body: Value = limited.json().await.unwrap();
        assert_eq!(error_code(&body).as_deref(), Some("RATE_LIMITED"), "{body}");
        assert_eq!(body["errors"][0]["extensions"]["retryAfterSeconds"], retry);

        let other = app.post_graphql(Some(&t.operator), &q).await;
        assert_eq!(other.status(), 200, "{backend:?}: the limit is per token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggestions_are_off_and_introspection_can_be_disabled() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let t = app.tenant().create().await;
        let typo = app.gql(Some(&t.reader), "{ viewr { name } }", json!({})).await;
        let message = typo["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(!message.contains("Did you mean"), "{typo}");
        let anonymous = app.gql(None, "{ viewr { name } }", json!({})).await;
        assert!(!anonymous.to_string().contains("Did you mean"), "{anonymous}");
        let open = app
            .gql_ok(&t.reader, "{ __schema { queryType { name } } }", json!({}))
            .await;
        assert_eq!(
            open["__schema"]["queryType"]["name"], "Query",
            "introspection is on by default"
        );

        let closed = spawn_app_with(backend, |c| c.allow_introspection = false).await;
        let t = closed.tenant().create().await;
        let body = closed
            .gql(Some(&t.reader), "{ __schema { queryType { name } } }", json!({}))
            .await;
        assert!(
            body["data"]["__schema"].is_null() || body.get("errors").is_some(),
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_a_tenant_and_a_first_admin_token_that_works() {
    for backend in backends() {
        let (url, _dir) = fresh_database(backend).await;
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_securescore"))
            .args(["--database-url", &url, "--log-filter", "warn"])
            .args(["create-tenant", "--slug", "from-cli", "--name", "From CLI"])
            .env_remove("DATABASE_URL")
            .output()
            .expect("the binary runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{backend:?}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let token = stdout
            .lines()
            .find_map(|l| l.split_whitespace().find(|w| w.starts_with("ssk_")))
            .unwrap_or_else(|| panic!("a token is printed: {stdout}"))
            .to_string();

        let app = spawn_app_with(backend, |c| c.database_url = url.clone()).await;
        let data = app
            .gql_ok(
                &token,
                "{ viewer { name tenants { role tenant { slug name } } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            data["viewer"]["tenants"],
            json!([{ "role": "ADMIN", "tenant": { "slug": "from-cli", "name": "From CLI" } }])
        );
        let stored = entity::api_token::Entity::find().all(&app.db).await.unwrap();
        assert!(!format!("{stored:?}").contains(&token), "only the hash is stored");
    }
}
