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

db_test!(
    requests_with_a_missing_bad_expired_or_revoked_token_are_unauthenticated,
    |app| {
        let t = app.tenant().create().await;
        let (expired, _) =
            extra_token(&app, t.id, Role::Admin, Some(Utc::now() - Duration::minutes(1))).await;
        let (revoked, revoked_id) = extra_token(&app, t.id, Role::Admin, None).await;
        let revoke = app
            .revoke_api_token(
                &t.admin,
                json!({ "id": revoked_id }),
                "apiToken { revokedAt } userErrors { code }",
            )
            .payload()
            .await;
        assert!(revoke["apiToken"]["revokedAt"].is_string(), "{revoke}");

        let cases = [
            (None, "no token"),
            (Some("ssk_not-a-real-token"), "unknown token"),
            (Some(expired.as_str()), "expired token"),
            (Some(revoked.as_str()), "revoked token"),
        ];
        for (token, why) in cases {
            let body = app.query_tenant(token, &t.slug, "slug").await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("UNAUTHENTICATED"),
                "{why}: {body}"
            );
            let mutation = app
                .create_tenant(token, json!({ "slug": "sneaky", "name": "x" }), "tenant { id }")
                .await;
            assert_eq!(
                error_code(&mutation).as_deref(),
                Some("UNAUTHENTICATED"),
                "{why}: {mutation}"
            );
        }
        let tenants_now = count_tenants(&app).await;
        assert_eq!(tenants_now, 1, "no unauthenticated mutation created anything");
        let ok = app.query_tenant(&t.reader, &t.slug, "slug").payload().await;
        assert_eq!(ok["slug"], t.slug.as_str(), "a valid token still works");
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

/// One mutation of the role table: its field, what it needs, and the attempt of caller `i` with
/// its token.
type Row = (&'static str, Needs, fn(&TestApp, &str, &World, usize) -> Op);

/// What the role table selects of every payload: the object changed, or a secret shown once.
const ERRORS: &str = "userErrors { code }";

const CALLERS: usize = 4;

/// Every mutation of the schema that tenant roles may run, with the role it needs, and
/// `createTenant`, which none of them may. Adding a mutation is adding a line. The mutations for
/// SERVICE_ADMINs (grants, the catalog) have their own table in `service_admin.rs`, which also
/// runs these rows' changed rules as a SERVICE_ADMIN.
fn mutation_table() -> Vec<Row> {
    use Needs::*;
    use Role::*;
    vec![
        ("createTenant", ServiceAdmin, |app, token, _, i| {
            let input = json!({ "slug": format!("new-tenant-{i}"), "name": "New" });
            app.create_tenant(token, input, "tenant { slug } userErrors { code }")
        }),
        ("updateTenant", AtLeast(Admin), |app, token, w, _| {
            let input = json!({ "slug": w.tenant.slug, "seatCount": 999 });
            app.update_tenant(token, input, "tenant { seatCount } userErrors { code }")
        }),
        ("setTenantLicense", AtLeast(Admin), |app, token, w, _| {
            let input = json!({ "tenantSlug": w.tenant.slug, "sku": "ENTRA_ID_P2", "seatsPurchased": 10, "seatsAssigned": 3 });
            app.set_tenant_license(token, input, "license { sku } userErrors { code }")
        }),
        ("removeTenantLicense", AtLeast(Admin), |app, token, w, _| {
            let input = json!({ "tenantSlug": w.tenant.slug, "sku": "M365_E5" });
            app.remove_tenant_license(token, input, "removedSku userErrors { code }")
        }),
        ("createApiToken", AtLeast(Admin), |app, token, w, i| {
            let input = json!({ "tenantSlug": w.tenant.slug, "principalName": format!("bot-{i}"), "role": "READER", "name": "ci" });
            app.create_api_token(token, input, "secret userErrors { code }")
        }),
        ("revokeApiToken", AtLeast(Admin), |app, token, w, i| {
            let input = json!({ "id": w.tokens[i] });
            app.revoke_api_token(token, input, "apiToken { revokedAt } userErrors { code }")
        }),
        ("setActionStatus", AtLeast(Operator), |app, token, w, i| {
            let input =
                json!({ "tenantSlug": w.tenant.slug, "controlId": w.control(0, i), "status": "PLANNED" });
            app.set_action_status(token, input, ERRORS)
        }),
        ("bulkSetActionStatus", AtLeast(Operator), |app, token, w, i| {
            let item = json!({ "controlId": w.control(1, i), "status": "PLANNED" });
            let input = json!({ "tenantSlug": w.tenant.slug, "items": [item] });
            app.bulk_set_action_status(token, input, ERRORS)
        }),
        ("undoActionStatus", AtLeast(Operator), |app, token, w, i| {
            let input = json!({ "tenantSlug": w.tenant.slug, "controlId": w.control(2, i) });
            app.undo_action_status(token, input, ERRORS)
        }),
        (
            "recordImplementationProgress",
            AtLeast(Operator),
            |app, token, w, i| {
                let input = json!({ "tenantSlug": w.tenant.slug, "controlId": w.control(3, i), "implemented": 1, "total": 4 });
                app.record_implementation_progress(token, input, ERRORS)
            },
        ),
        ("recordDeviceException", AtLeast(Operator), |app, token, w, _| {
            let input = json!({
                "tenantSlug": w.tenant.slug, "controlId": "scid_2010", "scope": "DEVICE_GROUP",
                "justification": "PLANNED_REMEDIATION", "comment": "next sprint"
            });
            app.record_device_exception(token, input, ERRORS)
        }),
        ("addActionNote", AtLeast(Operator), |app, token, w, _| {
            let input = json!({ "tenantSlug": w.tenant.slug, "controlId": "AdminMFAV2", "body": "hello" });
            app.add_action_note(token, input, ERRORS)
        }),
        // The fixture notes were written by the admin: only their author or an ADMIN edits them.
        ("updateActionNote", AtLeast(Admin), |app, token, w, i| {
            let input = json!({ "id": w.notes_to_edit[i], "body": "edited" });
            app.update_action_note(token, input, ERRORS)
        }),
        ("deleteActionNote", AtLeast(Admin), |app, token, w, i| {
            app.delete_action_note(token, json!({ "id": w.notes_to_delete[i] }), ERRORS)
        }),
        ("createTag", AtLeast(Operator), |app, token, w, i| {
            let input = json!({ "tenantSlug": w.tenant.slug, "name": format!("created-{i}") });
            app.create_tag(token, input, ERRORS)
        }),
        ("updateTag", AtLeast(Operator), |app, token, w, i| {
            let input = json!({ "id": w.tags[i], "name": format!("renamed-{i}") });
            app.update_tag(token, input, ERRORS)
        }),
        ("addActionTags", AtLeast(Operator), |app, token, w, i| {
            let input =
                json!({ "tenantSlug": w.tenant.slug, "controlIds": ["AdminMFAV2"], "tagIds": [w.tags[i]] });
            app.add_action_tags(token, input, ERRORS)
        }),
        ("removeActionTags", AtLeast(Operator), |app, token, w, i| {
            let input =
                json!({ "tenantSlug": w.tenant.slug, "controlIds": ["AdminMFAV2"], "tagIds": [w.tags[i]] });
            app.remove_action_tags(token, input, ERRORS)
        }),
        ("deleteTag", AtLeast(Operator), |app, token, w, i| {
            app.delete_tag(token, json!({ "id": w.tags_to_delete[i] }), ERRORS)
        }),
        ("createShareLink", AtLeast(Operator), |app, token, w, _| {
            let input = json!({ "tenantSlug": w.tenant.slug, "controlId": "AdminMFAV2", "platform": "LINK" });
            app.create_share_link(token, input, ERRORS)
        }),
        ("revokeShareLink", AtLeast(Operator), |app, token, w, i| {
            app.revoke_share_link(token, json!({ "id": w.share_links[i] }), ERRORS)
        }),
    ]
}

/// Runs a setup mutation and returns the string at `path` of its payload.
async fn setup(op: Op, path: &[&str]) -> String {
    let query = op.document();
    let payload = op.payload().await;
    let mut v = &payload;
    for p in path {
        v = &v[*p];
    }
    v.as_str()
        .unwrap_or_else(|| panic!("setup {query}: {payload}"))
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
    let note = || {
        let input = json!({ "tenantSlug": slug, "controlId": "AdminMFAV2", "body": "n" });
        app.add_action_note(&admin, input, "note { id }")
    };
    let tag =
        |name: String| app.create_tag(&admin, json!({ "tenantSlug": slug, "name": name }), "tag { id }");
    let link = json!({ "tenantSlug": slug, "controlId": "AdminMFAV2", "platform": "LINK" });
    for i in 0..CALLERS {
        world
            .tokens
            .push(extra_token(&app, world.tenant.id, Role::Reader, None).await.1);
        world.notes_to_edit.push(setup(note(), &["note", "id"]).await);
        world.notes_to_delete.push(setup(note(), &["note", "id"]).await);
        world
            .tags
            .push(setup(tag(format!("tag-{i}")), &["tag", "id"]).await);
        world
            .tags_to_delete
            .push(setup(tag(format!("doomed-{i}")), &["tag", "id"]).await);
        let link = app.create_share_link(&admin, link.clone(), "shareLink { id }");
        world.share_links.push(setup(link, &["shareLink", "id"]).await);
        // Something to undo for each caller: a change of its own, since undo answers
        // NOTHING_TO_UNDO to anyone else (caller 1 below is the OPERATOR; the admin makes the
        // change for callers that can't make one).
        let by = if i == 1 { &operator } else { &admin };
        let input = json!({ "tenantSlug": slug, "controlId": world.control(2, i), "status": "PLANNED" });
        app.set_action_status(by, input, ERRORS).data().await;
    }

    let t = &world.tenant;
    let callers = [
        ("READER", t.reader.as_str(), Some(Role::Reader)),
        ("OPERATOR", t.operator.as_str(), Some(Role::Operator)),
        ("other tenant's ADMIN", other.admin.as_str(), None),
        ("ADMIN", t.admin.as_str(), Some(Role::Admin)),
    ];
    let mut failures = Vec::new();
    for (field, needs, attempt) in mutation_table() {
        for (i, (who, token, role)) in callers.iter().enumerate() {
            let expected = match (needs, role) {
                (Needs::ServiceAdmin, _) => "FORBIDDEN",
                (Needs::AtLeast(_), None) => "NOT_FOUND",
                (Needs::AtLeast(needed), Some(role)) if role.allows(needed) => "ALLOWED",
                (Needs::AtLeast(_), Some(_)) => "FORBIDDEN",
            };
            let body = attempt(&app, token, &world, i).await;
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

    let revoke = |id: &str| {
        let fields = "apiToken { id } userErrors { message code }";
        app.revoke_api_token(&mine.admin, json!({ "id": id }), fields)
    };
    let theirs_answer = revoke(&their_token).await;
    let missing_answer = revoke(&missing_token).await;
    assert_eq!(
        outcome(&theirs_answer, "revokeApiToken"),
        "NOT_FOUND",
        "{theirs_answer}"
    );
    assert_eq!(
        theirs_answer, missing_answer,
        "another tenant's token answers like a missing one"
    );
    let garbage = revoke("garbage").await;
    assert_eq!(
        garbage, missing_answer,
        "a malformed id answers like a missing one"
    );

    let update = |slug: &str| {
        let fields = "tenant { name } userErrors { message code }";
        app.update_tenant(&mine.admin, json!({ "slug": slug, "name": "Pwned" }), fields)
    };
    let theirs_update = update(&theirs.slug).await;
    let missing_update = update("no-such-tenant").await;
    assert_eq!(outcome(&theirs_update, "updateTenant"), "NOT_FOUND");
    assert_eq!(theirs_update, missing_update);

    let remove = |slug: &str| {
        let input = json!({ "tenantSlug": slug, "sku": "M365_E5" });
        app.remove_tenant_license(&mine.admin, input, "removedSku userErrors { message code }")
    };
    let theirs_remove = remove(&theirs.slug).await;
    let missing_remove = remove("no-such-tenant").await;
    assert_eq!(theirs_remove, missing_remove);

    let create_token = |slug: &str| {
        let input = json!({ "tenantSlug": slug, "principalName": "spy", "role": "ADMIN", "name": "x" });
        app.create_api_token(&mine.admin, input, "secret userErrors { message code }")
    };
    let theirs_create = create_token(&theirs.slug).await;
    let missing_create = create_token("no-such-tenant").await;
    assert_eq!(theirs_create, missing_create);
    assert!(theirs_create["data"]["createApiToken"]["secret"].is_null());

    let listed = app
        .query_tenant(&mine.admin, &mine.slug, "apiTokens { id }")
        .payload()
        .await;
    let listed_ids: Vec<&Value> = listed["apiTokens"]
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
        .query_tenant(&theirs.admin, &theirs.slug, "name licenses { sku }")
        .payload()
        .await;
    assert_ne!(still["name"], "Pwned");
    assert_eq!(still["licenses"], json!([{ "sku": "M365_E5" }]));
    let works = app
        .query_tenant(&their_secret, &theirs.slug, "slug")
        .payload()
        .await;
    assert_eq!(works["slug"], theirs.slug.as_str());
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
    let body = app.query_tenant(&t.reader, &t.slug, "licenses { sku }").await;
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
    let input = json!({
        "tenantSlug": t.slug, "principalName": "ci-pipeline", "role": "OPERATOR", "name": "deploy job",
        "expiresAt": expires
    });
    let payload = &app
        .create_api_token(
            &t.admin,
            input,
            "secret apiToken { id name prefix principalName role expiresAt revokedAt lastUsedAt } \
             userErrors { field message code }",
        )
        .payload()
        .await;
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
        .query_viewer(
            &secret,
            "name tenants { role currentScorePercentage tenant { slug } }",
        )
        .payload()
        .await;
    assert_eq!(me["name"], "ci-pipeline");
    assert_eq!(
        me["tenants"],
        json!([{ "role": "OPERATOR", "currentScorePercentage": 0.0, "tenant": { "slug": t.slug } }])
    );

    // Only the hash is stored: no column of any token row, nor any audit row, holds the secret.
    let rows = entity::api_token::Entity::find().all(&app.db).await.unwrap();
    let hash = securescore::domain::tokens::hash_secret(&secret);
    assert!(rows.iter().any(|r| r.token_hash == hash));
    assert!(!format!("{rows:?}").contains(&secret), "plaintext secret stored");
    let audit = entity::audit_log::Entity::find().all(&app.db).await.unwrap();
    assert!(!format!("{audit:?}").contains(&secret), "secret in the audit log");

    let list = "apiTokens { id name prefix principalName role lastUsedAt revokedAt }";
    let listed = app.query_tenant(&t.admin, &t.slug, list).payload().await;
    assert!(!listed.to_string().contains(&secret), "secrets are never listed");
    let mine = listed["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == token_id.as_str())
        .cloned()
        .expect("the new token is listed");
    assert!(mine["lastUsedAt"].is_string(), "use was recorded: {mine}");
    let as_operator = app.query_tenant(&t.operator, &t.slug, list).await;
    assert_eq!(
        error_code(&as_operator).as_deref(),
        Some("FORBIDDEN"),
        "{as_operator}"
    );

    let revoked = app
        .revoke_api_token(
            &t.admin,
            json!({ "id": token_id }),
            "apiToken { id revokedAt } userErrors { code }",
        )
        .payload()
        .await;
    assert!(revoked["apiToken"]["revokedAt"].is_string(), "{revoked}");
    let after = app.query_viewer(&secret, "name").await;
    assert_eq!(error_code(&after).as_deref(), Some("UNAUTHENTICATED"), "{after}");

    let input = json!({ "tenantSlug": t.slug, "principalName": " ", "role": "READER", "name": "x" });
    let bad = app
        .create_api_token(&t.admin, input, "secret userErrors { field code }")
        .payload()
        .await;
    assert_eq!(
        bad,
        json!({ "secret": null, "userErrors": [{ "field": ["input", "principalName"], "code": "BAD_USER_INPUT" }] })
    );
});

db_test!(administrative_changes_are_written_to_the_audit_log, |app| {
    let t = app.tenant().create().await;
    let service_admin = app.service_admin().await;
    let input = json!({
        "slug": "audited", "name": "Audited", "industry": "finance", "seatCount": 50,
        "enabledServices": ["AzureAD"]
    });
    let created = app
        .create_tenant(
            &service_admin,
            input,
            "tenant { slug seatCount } userErrors { code }",
        )
        .payload()
        .await;
    assert_eq!(created["tenant"]["slug"], "audited", "{created}");
    let admin_id = app.principal_id_of(&t.admin).await;
    let input = json!({ "tenantSlug": "audited", "principalId": admin_id, "role": "ADMIN" });
    let granted = app
        .grant_role(
            &service_admin,
            input,
            "tenant { slug } grant { role principal { id } } userErrors { code }",
        )
        .payload()
        .await;
    assert_eq!(
        granted["grant"],
        json!({ "role": "ADMIN", "principal": { "id": admin_id } }),
        "{granted}"
    );
    let roles = app
        .query_viewer(&t.admin, "tenants { role tenant { slug licenses { sku } } }")
        .payload()
        .await;
    assert!(
        roles["tenants"]
            .as_array()
            .unwrap()
            .contains(&json!({ "role": "ADMIN", "tenant": { "slug": "audited", "licenses": [] } })),
        "the granted principal is ADMIN of the new tenant and reads it: {roles}"
    );

    let actions_before = entity::improvement_action::Entity::find()
        .count(&app.db)
        .await
        .unwrap();
    let admin = t.admin.as_str();
    let steps = [
        app.update_tenant(
            admin,
            json!({ "slug": "audited", "name": "Audited Ltd", "enabledServices": ["AzureAD", "EXO"] }),
            "tenant { name enabledServices } userErrors { code }",
        ),
        app.set_tenant_license(
            admin,
            json!({ "tenantSlug": "audited", "sku": "M365_E5", "seatsPurchased": 50, "seatsAssigned": 40 }),
            "license { sku seatsPurchased } userErrors { code }",
        ),
        app.remove_tenant_license(
            admin,
            json!({ "tenantSlug": "audited", "sku": "M365_E5" }),
            "removedSku userErrors { code }",
        ),
        app.create_api_token(
            admin,
            json!({ "tenantSlug": "audited", "principalName": "bot", "role": "READER", "name": "reports" }),
            "apiToken { id } userErrors { code }",
        ),
    ];
    let mut token_id = None;
    for op in steps {
        let step = op.document();
        let data = op.data().await;
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
    app.revoke_api_token(admin, json!({ "id": token_id }), "userErrors { code }")
        .data()
        .await;

    // A refused change writes nothing, not even an audit row.
    let input = json!({ "tenantSlug": "audited", "sku": "NOPE", "seatsPurchased": 1, "seatsAssigned": 0 });
    let refused = app
        .set_tenant_license(admin, input, "userErrors { field code }")
        .payload()
        .await;
    assert_eq!(refused["userErrors"][0]["field"], json!(["input", "sku"]));

    let audit_log = "auditLog(first: 10) { totalCount edges { node { action target actorName detail } } }";
    let log = app.query_tenant(&t.reader, &t.slug, audit_log).payload().await;
    assert_eq!(
        log["auditLog"]["totalCount"], 0,
        "the fixture tenant saw no admin changes"
    );
    let log = app.query_tenant(admin, "audited", audit_log).payload().await;
    let entries = log["auditLog"]["edges"].as_array().unwrap();
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
        .query_tenant(
            admin,
            "audited",
            "auditLog(first: 2) { pageInfo { hasNextPage endCursor } edges { node { action } } }",
        )
        .payload()
        .await;
    let cursor = page["auditLog"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_string();
    let next = app
        .query_tenant(
            admin,
            "audited",
            "auditLog(first: 2, after: $after) { edges { node { action } } }",
        )
        .var("after", "String", json!(cursor))
        .payload()
        .await;
    assert_eq!(
        next["auditLog"]["edges"],
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
        let viewer = app
            .query_viewer(&token, "name tenants { role tenant { slug name } }")
            .payload()
            .await;
        assert_eq!(
            viewer["tenants"],
            json!([{ "role": "ADMIN", "tenant": { "slug": "from-cli", "name": "From CLI" } }])
        );
        let stored = entity::api_token::Entity::find().all(&app.db).await.unwrap();
        assert!(!format!("{stored:?}").contains(&token), "only the hash is stored");
    }
}
