//! Who owns what (SPEC §1a, §7): the SERVICE_ADMIN role and the mutations only it may run, the
//! scoping of a tenant ADMIN to what belongs to its tenant (grants yes, an MSP's tokens no), the
//! catalog mutations with their validation, and a shipped catalog that a restart neither rewrites
//! nor uses to revert a SERVICE_ADMIN's change.

use crate::db_test;
use crate::helpers::*;
use entity::{audit_log, control, improvement_action, license, license_plan, tenant};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use securescore::app::App;
use securescore::config::Config;
use securescore::domain::enums::Role;
use serde_json::{Value, json};

/// How a mutation attempt ended: `ALLOWED`, or the code of the top-level error or first user
/// error.
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

async fn count<E>(app: &TestApp, _entity: E) -> u64
where
    E: EntityTrait,
    E::Model: Sync,
{
    E::find().count(&app.db).await.unwrap()
}

/// The callers of the role table, in this order.
const CALLERS: [&str; 5] = [
    "READER",
    "OPERATOR",
    "ADMIN of the tenant",
    "ADMIN of another tenant",
    "SERVICE_ADMIN",
];

/// What each caller gets, in the order of [`CALLERS`].
type Expected = [&'static str; 5];
const SERVICE_ADMIN_ONLY: Expected = ["FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "ALLOWED"];
const SERVICE_ADMIN_ON_ANY_TENANT: Expected = ["FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "NOT_FOUND", "ALLOWED"];
const TENANT_ADMIN_OR_SERVICE_ADMIN: Expected = ["FORBIDDEN", "FORBIDDEN", "ALLOWED", "NOT_FOUND", "ALLOWED"];
const ONLY_SERVICE_ADMIN_SEES_IT: Expected = ["NOT_FOUND", "NOT_FOUND", "NOT_FOUND", "NOT_FOUND", "ALLOWED"];

/// Objects the rows refer to; what an allowed attempt uses up exists once per caller.
struct World {
    slug: String,
    /// Principals without a role on the tenant, to grant one to.
    grantees: Vec<String>,
    /// Principals with a role on the tenant, whose grant to remove.
    granted: Vec<String>,
    /// Tokens of MSP principals (READER on the tenant and on the other tenant).
    msp_tokens: Vec<String>,
}

/// One mutation of the table: its field, what each caller gets, and the attempt of caller `i`
/// with its token.
type Row = (&'static str, Expected, fn(&TestApp, &str, &World, usize) -> Op);

fn table() -> Vec<Row> {
    vec![
        ("createTenant", SERVICE_ADMIN_ONLY, |app, token, _, i| {
            let input = json!({ "slug": format!("created-by-{i}"), "name": "New" });
            app.create_tenant(token, input, "tenant { slug name } userErrors { code }")
        }),
        ("grantRole", SERVICE_ADMIN_ON_ANY_TENANT, |app, token, w, i| {
            let input = json!({ "tenantSlug": w.slug, "principalId": w.grantees[i], "role": "OPERATOR" });
            let fields = "tenant { slug } grant { role principal { id name } grantedAt } userErrors { code }";
            app.grant_role(token, input, fields)
        }),
        (
            "removeTenantGrant",
            TENANT_ADMIN_OR_SERVICE_ADMIN,
            |app, token, w, i| {
                let input = json!({ "tenantSlug": w.slug, "principalId": w.granted[i] });
                let fields = "tenant { slug } removedGrant { role principal { name } } userErrors { code }";
                app.remove_tenant_grant(token, input, fields)
            },
        ),
        (
            "createApiToken",
            TENANT_ADMIN_OR_SERVICE_ADMIN,
            |app, token, w, i| {
                let input = json!({ "tenantSlug": w.slug, "principalName": format!("bot-{i}"), "role": "READER", "name": "ci" });
                let fields = "secret apiToken { principal { id name } role } userErrors { code }";
                app.create_api_token(token, input, fields)
            },
        ),
        (
            "revokeApiToken",
            ONLY_SERVICE_ADMIN_SEES_IT,
            |app, token, w, i| {
                let input = json!({ "id": w.msp_tokens[i] });
                let fields = "apiToken { revokedAt principal { name } } userErrors { code }";
                app.revoke_api_token(token, input, fields)
            },
        ),
        ("createControl", SERVICE_ADMIN_ONLY, |app, token, _, i| {
            let input = json!({
                "id": format!("new_control_{i}"), "title": "New control", "category": "IDENTITY",
                "service": "AzureAD", "maxPoints": 2.5, "tier": "CORE", "userImpact": "LOW",
                "implementationCost": "LOW", "actionType": "CONFIG"
            });
            app.create_control(token, input, "control { controlId origin } userErrors { code }")
        }),
        ("updateControl", SERVICE_ADMIN_ONLY, |app, token, _, i| {
            let input =
                json!({ "id": "AdminMFAV2", "title": format!("Require MFA for administrators ({i})") });
            app.update_control(token, input, "control { title } userErrors { code }")
        }),
        ("deprecateControl", SERVICE_ADMIN_ONLY, |app, token, _, _| {
            let input = json!({ "id": "IntegratedApps" });
            app.deprecate_control(token, input, "control { deprecated } userErrors { code }")
        }),
        ("upsertLicense", SERVICE_ADMIN_ONLY, |app, token, _, i| {
            let input = json!({ "sku": format!("NEW_SKU_{i}"), "name": "A new SKU", "plans": ["AAD_P1"] });
            app.upsert_license(token, input, "license { sku name plans } userErrors { code }")
        }),
    ]
}

db_test!(
    each_caller_gets_exactly_its_answer_from_the_service_admin_mutations,
    |app| {
        let t = app.tenant().create().await;
        let other = app.tenant().create().await;
        let service_admin = app.service_admin().await;
        let mut world = World {
            slug: t.slug.clone(),
            grantees: Vec::new(),
            granted: Vec::new(),
            msp_tokens: Vec::new(),
        };
        for i in 0..CALLERS.len() {
            world
                .grantees
                .push(app.principal_with(&format!("grantee {i}"), &[]).await.2);
            world.granted.push(
                app.principal_with(&format!("granted {i}"), &[(t.id, Role::Reader)])
                    .await
                    .2,
            );
            let msp = [(t.id, Role::Reader), (other.id, Role::Reader)];
            world
                .msp_tokens
                .push(app.principal_with(&format!("msp {i}"), &msp).await.1);
        }
        let tokens = [&t.reader, &t.operator, &t.admin, &other.admin, &service_admin];
        let mut failures = Vec::new();
        for (field, expected, attempt) in table() {
            for (i, token) in tokens.iter().enumerate() {
                let body = attempt(&app, token, &world, i).await;
                let got = outcome(&body, field);
                if got != expected[i] {
                    failures.push(format!(
                        "{field} as {}: expected {}, got {got}",
                        CALLERS[i], expected[i]
                    ));
                }
                if got == "ALLOWED" {
                    assert!(body.get("errors").is_none(), "{field} as {}: {body}", CALLERS[i]);
                }
            }
        }
        assert!(
            failures.is_empty(),
            "role table mismatches:\n{}",
            failures.join("\n")
        );
        let created: Vec<String> = tenant::Entity::find()
            .filter(tenant::Column::Slug.starts_with("created-by-"))
            .all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.slug)
            .collect();
        assert_eq!(
            created,
            ["created-by-4"],
            "only the SERVICE_ADMIN's createTenant wrote a row"
        );
    }
);

db_test!(
    a_reader_or_admin_cannot_create_a_tenant_and_a_service_admin_does_without_becoming_its_admin,
    |app| {
        let t = app.tenant().create().await;
        let service_admin = app.service_admin().await;
        let before = count(&app, tenant::Entity).await;
        let create = |token: &str| {
            let input = json!({ "slug": "acme", "name": "Acme", "enabledServices": ["AzureAD"] });
            app.create_tenant(token, input, "tenant { slug name } userErrors { code }")
        };
        for (who, token) in [("READER", &t.reader), ("ADMIN", &t.admin)] {
            let body = create(token).await;
            assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{who}: {body}");
            assert!(body["data"]["createTenant"].is_null(), "{who}: {body}");
        }
        assert_eq!(
            count(&app, tenant::Entity).await,
            before,
            "no tenant row was written"
        );

        let created = create(&service_admin).payload().await;
        assert_eq!(
            created,
            json!({ "tenant": { "slug": "acme", "name": "Acme" }, "userErrors": [] })
        );
        let me = app
            .query_viewer(&service_admin, "tenants { role }")
            .payload()
            .await;
        assert_eq!(me["tenants"], json!([]), "a SERVICE_ADMIN holds no tenant role");
        let read = app
            .query_tenant(&service_admin, "acme", "secureScore { current { points } }")
            .await;
        assert_eq!(error_code(&read).as_deref(), Some("NOT_FOUND"), "{read}");

        // It hands the tenant over: a first token with ADMIN, then the tenant's grants list it.
        let input =
            json!({ "tenantSlug": "acme", "principalName": "acme-admin", "role": "ADMIN", "name": "first" });
        let token = app
            .create_api_token(
                &service_admin,
                input,
                "secret apiToken { principal { id name } role }",
            )
            .payload()
            .await;
        let secret = token["secret"].as_str().unwrap().to_string();
        let principal = token["apiToken"]["principal"].clone();
        assert_eq!(principal["name"], "acme-admin");
        let grants = app
            .query_tenant(&secret, "acme", "grants { principal { id name } role grantedAt }")
            .payload()
            .await;
        let listed = grants["grants"].as_array().unwrap();
        assert_eq!(listed.len(), 1, "{grants}");
        assert_eq!(listed[0]["principal"], principal);
        assert_eq!(listed[0]["role"], "ADMIN");
        let seen = app
            .gql_ok(
                &service_admin,
                "{ serviceTenants { slug grants { role } } }",
                json!({}),
            )
            .await;
        assert!(
            seen["serviceTenants"]
                .as_array()
                .unwrap()
                .contains(&json!({ "slug": "acme", "grants": [{ "role": "ADMIN" }] })),
            "{seen}"
        );
        let node = app
            .query_node(
                &service_admin,
                principal["id"].clone(),
                "... on Principal { name }",
            )
            .payload()
            .await;
        assert_eq!(node["name"], "acme-admin");
        let closed = app
            .gql(Some(&t.admin), "{ serviceTenants { slug } }", json!({}))
            .await;
        assert_eq!(error_code(&closed).as_deref(), Some("FORBIDDEN"), "{closed}");
        let log = audit_log::Entity::find()
            .filter(audit_log::Column::Action.eq("TENANT_CREATED"))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(log, 1, "one audit row for the one tenant created");
    }
);

/// What an MSP sees of a tenant, to compare before and after a change elsewhere.
const MSP_VIEW: &str = "slug name secureScore { current { points } maxScore { points } } \
     improvementActions(first: 5) { totalCount edges { node { controlId status } } }";

db_test!(a_tenant_admin_neither_sees_nor_revokes_an_msp_token_and_removing_its_grant_leaves_other_tenants_unchanged, |app| {
    let t = app.tenant().create().await;
    let o = app.tenant().create().await;
    let p = app.tenant().create().await;
    let grants = [(t.id, Role::Reader), (o.id, Role::Reader), (p.id, Role::Operator)];
    let (msp, msp_token, msp_principal) = app.principal_with("Contoso MSP", &grants).await;
    let service_admin = app.service_admin().await;
    let mut before = Vec::new();
    for slug in [&o.slug, &p.slug] {
        before.push(app.query_tenant(&msp, slug, MSP_VIEW).await);
    }

    let list = "apiTokens { id principalName } grants { principal { id name } role }";
    let listed = app.query_tenant(&t.admin, &t.slug, list).payload().await;
    let ids: Vec<&Value> = listed["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| &x["id"])
        .collect();
    assert_eq!(ids.len(), 3, "the tenant's own three tokens: {listed}");
    assert!(!ids.contains(&&json!(msp_token)), "the MSP's token is not listed: {listed}");
    assert!(
        listed["grants"]
            .as_array()
            .unwrap()
            .contains(&json!({ "principal": { "id": msp_principal, "name": "Contoso MSP" }, "role": "READER" })),
        "the MSP's grant on this tenant is listed: {listed}"
    );
    let text = listed.to_string();
    for elsewhere in [&o.slug, &p.slug] {
        assert!(!text.contains(elsewhere.as_str()), "nothing about its other roles: {listed}");
    }

    let revoke = |token: &str, id: &str| {
        app.revoke_api_token(token, json!({ "id": id }), "apiToken { id } userErrors { message code }")
    };
    let theirs = revoke(&t.admin, &msp_token).await;
    let missing = securescore::graphql::ids::encode("ApiToken", 987_654).to_string();
    let missing = revoke(&t.admin, &missing).await;
    assert_eq!(outcome(&theirs, "revokeApiToken"), "NOT_FOUND", "{theirs}");
    assert_eq!(theirs, missing, "the MSP's token answers like a missing one");
    for (i, slug) in [&o.slug, &p.slug].into_iter().enumerate() {
        let now = app.query_tenant(&msp, slug, MSP_VIEW).await;
        assert_eq!(now, before[i], "the MSP still reads {slug}");
    }

    let remove = || {
        let input = json!({ "tenantSlug": t.slug, "principalId": msp_principal });
        let fields = "tenant { slug } removedGrant { role principal { id } } userErrors { code }";
        app.remove_tenant_grant(&t.admin, input, fields).payload()
    };
    let removed = remove().await;
    assert_eq!(
        removed,
        json!({ "tenant": { "slug": t.slug }, "removedGrant": { "role": "READER", "principal": { "id": msp_principal } }, "userErrors": [] })
    );
    let gone = app.query_tenant(&msp, &t.slug, MSP_VIEW).await;
    assert_eq!(error_code(&gone).as_deref(), Some("NOT_FOUND"), "{gone}");
    for (i, slug) in [&o.slug, &p.slug].into_iter().enumerate() {
        let now = app.query_tenant(&msp, slug, MSP_VIEW).await;
        assert_eq!(
            serde_json::to_vec(&now).unwrap(),
            serde_json::to_vec(&before[i]).unwrap(),
            "the MSP's access to {slug} is byte-for-byte unchanged"
        );
    }
    let roles = app
        .query_viewer(&msp, "tenants { role tenant { slug } }")
        .payload()
        .await;
    assert_eq!(roles["tenants"].as_array().unwrap().len(), 2, "{roles}");
    let again = remove().await;
    assert_eq!(again["userErrors"][0]["code"], "NOT_FOUND", "{again}");
    let log = app
        .query_tenant(
            &t.reader,
            &t.slug,
            "auditLog(first: 5) { edges { node { action target actorName } } }",
        )
        .payload()
        .await;
    assert_eq!(log["auditLog"]["edges"].as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log["auditLog"]["edges"][0]["node"]["action"], "GRANT_REMOVED");

    // A SERVICE_ADMIN sees and revokes any token.
    let all = app
        .gql_ok(&service_admin, "{ serviceTenants { slug apiTokens { id } } }", json!({}))
        .await;
    let of_o = all["serviceTenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["slug"] == o.slug.as_str())
        .cloned()
        .unwrap();
    assert!(of_o["apiTokens"].as_array().unwrap().contains(&json!({ "id": msp_token })), "{all}");
    let revoked = revoke(&service_admin, &msp_token).payload().await;
    assert_eq!(revoked["userErrors"], json!([]), "{revoked}");
    let cut = app.query_viewer(&msp, "name").await;
    assert_eq!(error_code(&cut).as_deref(), Some("UNAUTHENTICATED"), "{cut}");
});

db_test!(
    an_admin_may_remove_its_own_last_admin_grant_and_loses_the_tenant_at_once,
    |app| {
        let t = app.tenant().create().await;
        let me = app.principal_id_of(&t.admin).await;
        let doc = "mutation($slug: String!, $p: ID!) {
        removeTenantGrant(input: { tenantSlug: $slug, principalId: $p }) { removedGrant { role } userErrors { code } }
        again: updateTenant(input: { slug: $slug, name: \"After\" }) { tenant { name } userErrors { code } } }";
        let body = app
            .gql(Some(&t.admin), doc, json!({ "slug": t.slug, "p": me }))
            .await;
        assert_eq!(
            body["data"]["removeTenantGrant"]["removedGrant"],
            json!({ "role": "ADMIN" }),
            "{body}"
        );
        assert_eq!(
            body["data"]["again"],
            json!({ "tenant": null, "userErrors": [{ "code": "NOT_FOUND" }] }),
            "the next mutation of the same request already runs without the role: {body}"
        );
        let read = app.query_tenant(&t.admin, &t.slug, "name").await;
        assert_eq!(error_code(&read).as_deref(), Some("NOT_FOUND"), "{read}");
    }
);

const CREATE_CONTROL: &str =
    "control { controlId title actionUrl learnMoreUrls origin maxPoints } userErrors { field code }";

fn new_control(id: &str, service: &str) -> Value {
    json!({
        "id": id, "title": "Block <b>risky</b> sign-ins &amp; more", "category": "IDENTITY", "service": service,
        "maxPoints": 4.5, "tier": "CORE", "userImpact": "LOW", "implementationCost": "MODERATE",
        "actionType": "CONFIG", "actionUrl": "https://entra.microsoft.com/#view/policies",
        "learnMoreUrls": ["https://learn.microsoft.com/a"], "remediation": "1. Open the portal.\n2. Turn it on."
    })
}

db_test!(
    a_control_with_a_javascript_link_is_refused_and_nothing_is_written,
    |app| {
        let _t = app.tenant().create().await;
        let service_admin = app.service_admin().await;
        let (controls, actions, audits) = (
            count(&app, control::Entity).await,
            count(&app, improvement_action::Entity).await,
            count(&app, audit_log::Entity).await,
        );
        let mut attacks = Vec::new();
        let mut js = new_control("evil_control", "AzureAD");
        js["actionUrl"] = json!("javascript:alert(1)");
        attacks.push((js, vec!["input", "actionUrl"]));
        let mut http = new_control("evil_control", "AzureAD");
        http["learnMoreUrls"] = json!(["https://learn.microsoft.com/ok", "http://example.com/plain"]);
        attacks.push((http, vec!["input", "learnMoreUrls", "1"]));
        let mut points = new_control("evil_control", "AzureAD");
        points["maxPoints"] = json!(11);
        attacks.push((points, vec!["input", "maxPoints"]));
        let mut id = new_control("evil control!", "AzureAD");
        id["actionUrl"] = Value::Null;
        attacks.push((id, vec!["input", "id"]));
        for (input, field) in attacks {
            let p = app
                .create_control(&service_admin, input.clone(), CREATE_CONTROL)
                .payload()
                .await;
            assert_eq!(
                p,
                json!({ "control": null, "userErrors": [{ "field": field, "code": "BAD_USER_INPUT" }] }),
                "{input}"
            );
        }
        assert_eq!(count(&app, control::Entity).await, controls, "no control written");
        assert_eq!(
            count(&app, improvement_action::Entity).await,
            actions,
            "no action written"
        );
        assert_eq!(
            count(&app, audit_log::Entity).await,
            audits,
            "no audit row written"
        );

        let update = app
            .update_control(
                &service_admin,
                json!({ "id": "AdminMFAV2", "actionUrl": "javascript:alert(1)" }),
                "control { actionUrl } userErrors { field code }",
            )
            .payload()
            .await;
        assert_eq!(
            update,
            json!({ "control": null, "userErrors": [{ "field": ["input", "actionUrl"], "code": "BAD_USER_INPUT" }] })
        );

        let create_fine = || {
            let input = new_control("fine_control", "AzureAD");
            app.create_control(&service_admin, input, CREATE_CONTROL)
                .payload()
        };
        let ok = create_fine().await;
        assert_eq!(
            ok["control"],
            json!({
                "controlId": "fine_control", "title": "Block risky sign-ins & more",
                "actionUrl": "https://entra.microsoft.com/#view/policies",
                "learnMoreUrls": ["https://learn.microsoft.com/a"], "origin": "ADMIN", "maxPoints": 4.5
            }),
            "HTML reduced to plain text: {ok}"
        );
        let dup = create_fine().await;
        assert_eq!(
            dup["userErrors"],
            json!([{ "field": ["input", "id"], "code": "BAD_USER_INPUT" }])
        );
    }
);

/// A tenant's maximum score and whether it has an action for `control`.
async fn max_and_action(app: &TestApp, token: &str, slug: &str, control: &str) -> (f64, Option<String>) {
    let tenant = app
        .query_tenant(
            token,
            slug,
            "secureScore { maxScore { points } } improvementAction(controlId: $c) { status }",
        )
        .var("c", "String!", json!(control))
        .payload()
        .await;
    (
        tenant["secureScore"]["maxScore"]["points"].as_f64().unwrap(),
        tenant["improvementAction"]["status"].as_str().map(str::to_string),
    )
}

db_test!(
    a_new_control_reaches_exactly_the_service_catalog_tenants_with_its_service,
    |app| {
        let with = app.tenant().services(&["AzureAD", "MDO"]).create().await;
        let without = app.tenant().services(&["AzureAD", "EXO"]).create().await;
        let graph = app.tenant().services(&["AzureAD", "MDO"]).create().await;
        tenant::Entity::update_many()
            .col_expr(tenant::Column::CatalogSource, Expr::value("MICROSOFT_GRAPH"))
            .filter(tenant::Column::Id.eq(graph.id))
            .exec(&app.db)
            .await
            .unwrap();
        let service_admin = app.service_admin().await;
        let mut before = Vec::new();
        for t in [&with, &without, &graph] {
            // Read first, so a cached state must notice the change.
            before.push(max_and_action(&app, &t.reader, &t.slug, "mdo_new").await);
        }
        let created = app
            .create_control(&service_admin, new_control("mdo_new", "MDO"), CREATE_CONTROL)
            .payload()
            .await;
        assert_eq!(created["userErrors"], json!([]), "{created}");

        let (max, action) = max_and_action(&app, &with.reader, &with.slug, "mdo_new").await;
        assert_eq!(action.as_deref(), Some("TO_ADDRESS"));
        assert!((max - before[0].0 - 4.5).abs() < 1e-9, "{max} vs {}", before[0].0);
        assert_eq!(
            max_and_action(&app, &without.reader, &without.slug, "mdo_new").await,
            before[1]
        );
        let graph_rows = improvement_action::Entity::find()
            .filter(improvement_action::Column::TenantId.eq(graph.id))
            .filter(improvement_action::Column::ControlId.eq("mdo_new"))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(graph_rows, 0, "a tenant on its own Graph catalog is not touched");

        // Moving it to EXO brings it to the EXO tenant; the MDO tenant keeps its row.
        let input = json!({ "id": "mdo_new", "service": "EXO" });
        let moved = app
            .update_control(&service_admin, input, "control { service } userErrors { code }")
            .payload()
            .await;
        assert_eq!(moved["control"]["service"], "EXO");
        let (max, action) = max_and_action(&app, &without.reader, &without.slug, "mdo_new").await;
        assert_eq!(action.as_deref(), Some("TO_ADDRESS"));
        assert!((max - before[1].0 - 4.5).abs() < 1e-9);
        assert_eq!(
            max_and_action(&app, &with.reader, &with.slug, "mdo_new").await,
            before[0],
            "re-pointed away from MDO, it leaves the MDO tenant's score and lists at once"
        );

        let deprecated = app
            .deprecate_control(
                &service_admin,
                json!({ "id": "mdo_new" }),
                "control { deprecated } userErrors { code }",
            )
            .payload()
            .await;
        assert_eq!(deprecated["control"]["deprecated"], true);
        let (max, _) = max_and_action(&app, &without.reader, &without.slug, "mdo_new").await;
        assert!(
            (max - before[1].0).abs() < 1e-9,
            "a deprecated control stops counting"
        );

        let input =
            json!({ "sku": "M365_E5", "name": "Microsoft 365 E5 (renamed)", "plans": ["AAD_P1", "AAD_P1"] });
        let license = app
            .upsert_license(
                &service_admin,
                input,
                "license { sku name plans } userErrors { code }",
            )
            .payload()
            .await;
        assert_eq!(
            license["license"],
            json!({ "sku": "M365_E5", "name": "Microsoft 365 E5 (renamed)", "plans": ["AAD_P1"] })
        );
    }
);

/// Every control row, by id.
async fn control_rows(app: &TestApp) -> Vec<control::Model> {
    control::Entity::find()
        .order_by_asc(control::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
}

/// Builds and drops a second server on the test's database, as a restart does.
async fn restart(app: &TestApp) {
    let mut config = Config::for_database(app.database_url.clone());
    config.db_max_connections = Some(2);
    let again = App::build(config).await.expect("second start");
    drop(again);
}

db_test!(
    a_restart_changes_no_control_row_and_keeps_a_service_admins_change,
    |app| {
        let service_admin = app.service_admin().await;
        let input = json!({ "id": "AdminMFAV2", "title": "Require MFA for every admin", "maxPoints": 9 });
        let changed = app
            .update_control(&service_admin, input, "control { title } userErrors { code }")
            .payload()
            .await;
        assert_eq!(changed["userErrors"], json!([]), "{changed}");
        let input = json!({ "sku": "M365_E5", "name": "E5 (our name)", "plans": ["AAD_P1"] });
        app.upsert_license(&service_admin, input, "userErrors { code }")
            .data()
            .await;
        let rows = control_rows(&app).await;
        assert!(
            rows.iter().all(|r| r.shipped_digest.is_some()),
            "every shipped row has its digest"
        );

        restart(&app).await;
        assert_eq!(control_rows(&app).await, rows, "no row and no updatedAt changed");
        let mfa = control::Entity::find_by_id("AdminMFAV2".to_string())
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            mfa.title, "Require MFA for every admin",
            "the SERVICE_ADMIN's change is kept"
        );
        let e5 = license::Entity::find_by_id("M365_E5".to_string())
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(e5.name, "E5 (our name)");
        let e5_plans = license_plan::Entity::find()
            .filter(license_plan::Column::LicenseSku.eq("M365_E5"))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(e5_plans, 1, "the shipped plans are not put back");

        // A row from before digests whose content is the shipped entry only gets its digest back.
        control::Entity::update_many()
            .col_expr(
                control::Column::ShippedDigest,
                Expr::value(Option::<String>::None),
            )
            .filter(control::Column::Id.eq("MFARegistrationV2"))
            .exec(&app.db)
            .await
            .unwrap();
        restart(&app).await;
        assert_eq!(
            control_rows(&app).await,
            rows,
            "the digest is recorded without a new updatedAt"
        );

        // A newer shipped version updates an unchanged row and leaves the admin's row alone.
        let mut shipped = securescore::seed::catalog::shipped_controls().unwrap();
        for c in shipped
            .iter_mut()
            .filter(|c| c.id == "MFARegistrationV2" || c.id == "AdminMFAV2")
        {
            c.title = format!("{} (v2)", c.title);
        }
        let summary = securescore::seed::catalog::load_entries(&app.db, &shipped, &[])
            .await
            .unwrap();
        assert_eq!(
            (summary.updated, summary.kept_admin_changes),
            (1, 1),
            "{summary:?}"
        );
        let after = control_rows(&app).await;
        let registration = after.iter().find(|c| c.id == "MFARegistrationV2").unwrap();
        assert!(
            registration.title.ends_with("(v2)")
                && registration.updated_at
                    > rows
                        .iter()
                        .find(|c| c.id == "MFARegistrationV2")
                        .unwrap()
                        .updated_at
        );
        let mfa = after.iter().find(|c| c.id == "AdminMFAV2").unwrap();
        assert_eq!(mfa.title, "Require MFA for every admin");
        let again = securescore::seed::catalog::load_entries(&app.db, &shipped, &[])
            .await
            .unwrap();
        assert_eq!(
            again,
            Default::default(),
            "loading the same version again changes nothing"
        );
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_a_service_admin_and_loads_catalog_files_all_or_nothing() {
    let mut backends = vec![Backend::Sqlite];
    if postgres_enabled() {
        backends.push(Backend::Postgres);
    }
    for backend in backends {
        let (url, _dir) = fresh_database(backend).await;
        let (ok, stdout, stderr) = run_cli(&url, &["create-service-admin", "--name", "Ops team"]);
        assert!(ok, "{backend:?}: {stdout}\n{stderr}");
        let token = stdout
            .split_whitespace()
            .find(|w| w.starts_with("ssk_"))
            .unwrap_or_else(|| panic!("a token is printed: {stdout}"))
            .to_string();

        let dir = tempfile::tempdir().unwrap();
        let mut good = new_control("file_control", "AzureAD");
        for (key, value) in [
            ("category", "DATA"),
            ("tier", "ADVANCED"),
            ("userImpact", "HIGH"),
            ("implementationCost", "LOW"),
            ("actionType", "REVIEW"),
        ] {
            good[key] = json!(value);
        }
        let licenses = json!([{ "sku": "FILE_SKU", "name": "From a file", "plans": ["FILE_PLAN"] }]);
        let mut bad = good.clone();
        bad["id"] = json!("other_control");
        bad["learnMoreUrls"] = json!(["https://learn.microsoft.com/ok", "javascript:alert(1)"]);
        let good_file = dir.path().join("good.json");
        let bad_file = dir.path().join("bad.json");
        let licenses_file = dir.path().join("licenses.json");
        std::fs::write(&good_file, json!([good]).to_string()).unwrap();
        std::fs::write(&bad_file, json!([good, bad]).to_string()).unwrap();
        std::fs::write(&licenses_file, licenses.to_string()).unwrap();

        let (ok, _, stderr) = run_cli(&url, &["load-catalog", bad_file.to_str().unwrap()]);
        assert!(!ok, "{backend:?}: an invalid entry refuses the file");
        assert!(
            stderr.contains("learnMoreUrls.1"),
            "{backend:?}: names the field: {stderr}"
        );
        let args = [
            "load-catalog",
            good_file.to_str().unwrap(),
            "--licenses",
            licenses_file.to_str().unwrap(),
        ];
        let (ok, stdout, stderr) = run_cli(&url, &args);
        assert!(ok, "{backend:?}: {stdout}\n{stderr}");
        assert!(stdout.contains("controls: 1 created, 0 updated"), "{stdout}");
        assert!(stdout.contains("licences: 1 created"), "{stdout}");
        let (ok, stdout, _) = run_cli(&url, &args);
        assert!(
            ok && stdout.contains("controls: 0 created, 0 updated, 1 unchanged"),
            "{stdout}"
        );

        let app = spawn_app_with(backend, |c| c.database_url = url.clone()).await;
        let data = app
            .gql_ok(
                &token,
                "{ controls(filter: { search: \"_control\" }) { edges { node { controlId title } } } licenses { sku plans } }",
                json!({}),
            )
            .await;
        assert_eq!(
            data["controls"]["edges"],
            json!([{ "node": { "controlId": "file_control", "title": "Block risky sign-ins & more" } }]),
            "{backend:?}: only the valid file was loaded"
        );
        assert!(
            data["licenses"]
                .as_array()
                .unwrap()
                .contains(&json!({ "sku": "FILE_SKU", "plans": ["FILE_PLAN"] }))
        );
        let input = json!({ "slug": "by-cli-admin", "name": "x" });
        let created = app
            .create_tenant(&token, input, "tenant { slug }")
            .payload()
            .await;
        assert_eq!(created["tenant"]["slug"], "by-cli-admin");
    }
}
