//! Relay object identification (issue 17): every object type with a global id resolves through
//! `node` and `nodes` for a caller who may list it, and to `null` for everybody else (another
//! tenant's READER or ADMIN, an MSP working for other tenants, a role below what the list needs)
//! and for every tampered or malformed id, exactly like an id that never existed.

use crate::db_test;
use crate::helpers::*;
use securescore::domain::enums::Role;
use securescore::graphql::ids;
use serde_json::{Value, json};
use std::collections::HashSet;

/// What `node` and `nodes` select: enough to tell which object came back.
const SELECTION: &str = "__typename id";

/// A tenant with one object of every `Node` type, each with the id the API gave out.
struct World {
    tenant: TenantFixture,
    /// `(type name, global id)`, one per `Node` type.
    objects: Vec<(&'static str, String)>,
}

impl World {
    fn id(&self, type_name: &str) -> &str {
        &self
            .objects
            .iter()
            .find(|(t, _)| *t == type_name)
            .unwrap_or_else(|| panic!("no {type_name} in the world"))
            .1
    }

    fn ids(&self) -> Vec<String> {
        self.objects.iter().map(|(_, id)| id.clone()).collect()
    }
}

/// The single object at `path` of a payload as a string.
fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

/// Builds a tenant with a tag, a note, a share link, a device exception, a licence and an API
/// token (which write events and audit entries), and collects every id through the API.
async fn world(app: &TestApp) -> World {
    let t = app
        .tenant()
        .services(&["AzureAD", "EXO", "MDO", "MDATP"])
        .create()
        .await;
    let slug = t.slug.clone();
    let tag = app
        .create_tag(
            &t.operator,
            json!({ "tenantSlug": slug, "name": "urgent" }),
            "tag { id }",
        )
        .payload()
        .await;
    let note = app
        .add_action_note(
            &t.operator,
            json!({ "tenantSlug": slug, "controlId": "AdminMFAV2", "body": "ask the CISO" }),
            "note { id }",
        )
        .payload()
        .await;
    let link = app
        .create_share_link(
            &t.operator,
            json!({ "tenantSlug": slug, "controlId": "AdminMFAV2", "platform": "LINK" }),
            "shareLink { id }",
        )
        .payload()
        .await;
    let exception = app
        .record_device_exception(
            &t.operator,
            json!({
                "tenantSlug": slug, "controlId": "scid_2010", "scope": "DEVICE_GROUP",
                "justification": "PLANNED_REMEDIATION", "comment": "next sprint",
            }),
            "exception { id }",
        )
        .payload()
        .await;
    let license = app
        .set_tenant_license(
            &t.admin,
            json!({ "tenantSlug": slug, "sku": "ENTRA_ID_P2", "seatsPurchased": 10, "seatsAssigned": 3 }),
            "license { id }",
        )
        .payload()
        .await;
    let token = app
        .create_api_token(
            &t.admin,
            json!({ "tenantSlug": slug, "principalName": "ci bot", "role": "READER", "name": "ci" }),
            "apiToken { id }",
        )
        .payload()
        .await;
    let action = app
        .query_action(&t.reader, &slug, "AdminMFAV2", "id control { id }")
        .payload()
        .await;
    let tenant = app
        .query_tenant(
            &t.reader,
            &slug,
            "id secureScore { id categories { id } } auditLog(first: 1) { edges { node { id } } }",
        )
        .payload()
        .await;
    let events = app
        .query_score_events(&t.reader, &slug, json!({ "first": 1 }), "edges { node { id } }")
        .payload()
        .await;
    let today = chrono::Utc::now().date_naive();
    let days = app
        .query_score_history(&t.reader, &slug, today, today, "id categories { id }")
        .payload()
        .await;
    let principal = app.principal_id_of(&t.reader).await;
    let goal = app
        .set_score_goal(
            &t.operator,
            json!({ "tenantSlug": slug, "targetPercentage": 80, "targetDate": (today + chrono::Days::new(90)).to_string() }),
            "goal { id }",
        )
        .payload()
        .await;
    let objects = vec![
        ("Tenant", text(&tenant["id"])),
        ("Control", text(&action["control"]["id"])),
        ("ImprovementAction", text(&action["id"])),
        ("Principal", principal),
        ("Tag", text(&tag["tag"]["id"])),
        ("Note", text(&note["note"]["id"])),
        ("ShareLink", text(&link["shareLink"]["id"])),
        ("ActionEvent", text(&events["edges"][0]["node"]["id"])),
        ("DeviceException", text(&exception["exception"]["id"])),
        ("TenantLicense", text(&license["license"]["id"])),
        ("ApiToken", text(&token["apiToken"]["id"])),
        ("AuditEntry", text(&tenant["auditLog"]["edges"][0]["node"]["id"])),
        ("SecureScore", text(&tenant["secureScore"]["id"])),
        ("ScoreSnapshot", text(&days[0]["id"])),
        ("ScoreGoal", text(&goal["goal"]["id"])),
        (
            "CategoryScore",
            text(&tenant["secureScore"]["categories"][0]["id"]),
        ),
        ("CategoryScore", text(&days[0]["categories"][1]["id"])),
    ];
    World { tenant: t, objects }
}

/// Asserts that `token` gets `null` for every id, through `node` and through `nodes`, without
/// any error.
async fn all_null(app: &TestApp, token: &str, ids: &[String], who: &str) {
    for id in ids {
        let node = app.query_node(token, id.as_str(), SELECTION).payload().await;
        assert_eq!(node, Value::Null, "{who}: node({id}) must be null");
    }
    let nodes = app.query_nodes(token, json!(ids), SELECTION).payload().await;
    assert_eq!(nodes, json!(vec![Value::Null; ids.len()]), "{who}: nodes");
}

/// What `token` gets through `node` for `id`: `(typename, id)`, or `None` for `null`.
async fn seen(app: &TestApp, token: &str, id: &str) -> Option<(String, String)> {
    let node = app.query_node(token, id, SELECTION).payload().await;
    (!node.is_null()).then(|| (text(&node["__typename"]), text(&node["id"])))
}

db_test!(
    every_node_type_resolves_through_node_and_nodes_to_the_object_it_came_from,
    |app| {
        let w = world(&app).await;
        let t = &w.tenant;
        for (type_name, id) in &w.objects {
            let node = app.query_node(&t.admin, id.as_str(), SELECTION).payload().await;
            assert_eq!(node, json!({ "__typename": type_name, "id": id }), "{type_name}");
        }
        let expected: Vec<Value> = w
            .objects
            .iter()
            .map(|(type_name, id)| json!({ "__typename": type_name, "id": id }))
            .collect();
        let nodes = app
            .query_nodes(&t.admin, json!(w.ids()), SELECTION)
            .payload()
            .await;
        assert_eq!(nodes, json!(expected), "nodes answers in the order asked");

        // A READER reads everything its tenant's lists show it: all but API tokens (ADMIN) and
        // other principals (ADMIN); its own principal it sees.
        for (type_name, id) in &w.objects {
            let expected = (!matches!(*type_name, "ApiToken")).then(|| (type_name.to_string(), id.clone()));
            assert_eq!(seen(&app, &t.reader, id).await, expected, "READER, {type_name}");
        }

        // Fields come from the object, not just its id.
        let tag = app
            .query_node(&t.reader, w.id("Tag"), "... on Tag { name }")
            .payload()
            .await;
        assert_eq!(tag["name"], "urgent");
        let day = app
            .query_node(&t.reader, w.id("ScoreSnapshot"), "... on ScoreSnapshot { live }")
            .payload()
            .await;
        assert_eq!(day["live"], true, "today's snapshot is the live score");
        let token = app
            .query_node(&t.admin, w.id("ApiToken"), "... on ApiToken { name role }")
            .payload()
            .await;
        assert_eq!(token, json!({ "name": "ci", "role": "READER" }));
    }
);

db_test!(another_tenants_reader_and_admin_get_null_for_every_id, |app| {
    let w = world(&app).await;
    let other = world(&app).await;
    for (who, token) in [
        ("the other tenant's READER", &other.tenant.reader),
        ("the other tenant's ADMIN", &other.tenant.admin),
    ] {
        let ids: Vec<String> = w.ids().into_iter().filter(|id| id != w.id("Control")).collect();
        all_null(&app, token, &ids, who).await;
    }
    // The catalog is shared: a control id answers everybody.
    assert!(seen(&app, &other.tenant.reader, w.id("Control")).await.is_some());
});

db_test!(an_msp_with_roles_on_other_tenants_gets_null_for_every_id, |app| {
    let w = world(&app).await;
    let b = app.tenant().create().await;
    let c = app.tenant().create().await;
    let (msp, _, _) = app
        .principal_with("msp", &[(b.id, Role::Admin), (c.id, Role::Reader)])
        .await;
    let ids: Vec<String> = w.ids().into_iter().filter(|id| id != w.id("Control")).collect();
    all_null(&app, &msp, &ids, "an MSP of other tenants").await;
});

db_test!(
    api_tokens_and_principals_answer_only_whom_their_lists_answer,
    |app| {
        let w = world(&app).await;
        let t = &w.tenant;
        let b = app.tenant().create().await;
        // An MSP holding ADMIN here and a role on another tenant: this tenant's ADMIN may not
        // see its token (SPEC §7), though it sees the principal, which holds a role here.
        let (_, msp_token, msp_principal) = app
            .principal_with("msp", &[(t.id, Role::Admin), (b.id, Role::Reader)])
            .await;
        let admin_principal = app.principal_id_of(&t.admin).await;

        for (who, token) in [("READER", &t.reader), ("OPERATOR", &t.operator)] {
            all_null(
                &app,
                token,
                &[w.id("ApiToken").to_string(), msp_token.clone()],
                who,
            )
            .await;
            assert_eq!(
                seen(&app, token, &admin_principal).await,
                None,
                "{who} cannot look up another principal"
            );
        }
        assert_eq!(seen(&app, &t.admin, &msp_token).await, None, "an MSP's token");
        assert_eq!(
            seen(&app, &t.admin, &msp_principal).await,
            Some(("Principal".into(), msp_principal.clone()))
        );

        // A SERVICE_ADMIN sees every token in some tenant's list, and nothing inside tenants.
        let service_admin = app.service_admin().await;
        let nodes = app
            .query_nodes(
                &service_admin,
                json!([msp_token, w.id("ApiToken"), w.id("Tag"), w.id("Tenant")]),
                "id",
            )
            .payload()
            .await;
        assert_eq!(
            nodes,
            json!([{ "id": msp_token }, { "id": w.id("ApiToken") }, null, null])
        );
    }
);

db_test!(tampered_and_malformed_ids_answer_null, |app| {
    let w = world(&app).await;
    let other = world(&app).await;
    let t = &w.tenant;
    let slug = &t.slug;

    // Every id the tenant's ADMIN can list, for the types tampering is checked against.
    let lists = app
        .query_tenant(
            &t.admin,
            slug,
            "tags { id } licenses { id } apiTokens { id } auditLog(first: 100) { edges { node { id } } } \
             scoreEvents(first: 100) { edges { node { id } } } \
             improvementAction(controlId: \"AdminMFAV2\") { notes { id } shareLinks { id } }",
        )
        .payload()
        .await;
    let mut visible: HashSet<String> = HashSet::from([w.id("DeviceException").to_string()]);
    for list in [
        &lists["tags"],
        &lists["licenses"],
        &lists["apiTokens"],
        &lists["improvementAction"]["notes"],
        &lists["improvementAction"]["shareLinks"],
    ] {
        visible.extend(list.as_array().expect("list").iter().map(|o| text(&o["id"])));
    }
    for connection in [&lists["auditLog"], &lists["scoreEvents"]] {
        let edges = connection["edges"].as_array().expect("edges");
        visible.extend(edges.iter().map(|e| text(&e["node"]["id"])));
    }

    // A valid key under another type's prefix.
    const NUMERIC: [&str; 8] = [
        "Tag",
        "Note",
        "ShareLink",
        "ActionEvent",
        "DeviceException",
        "TenantLicense",
        "ApiToken",
        "AuditEntry",
    ];
    let mut tampered = Vec::new();
    for (type_name, id) in &w.objects {
        let (_, key) = ids::decode(id).expect("a global id");
        for prefix in NUMERIC.iter().filter(|p| *p != type_name) {
            let forged = ids::encode(prefix, &key).to_string();
            if !visible.contains(&forged) {
                tampered.push(forged);
            }
        }
    }
    assert!(
        tampered.len() > 10,
        "the check is not vacuous: {}",
        tampered.len()
    );

    // Keys of the other tenant's objects under their own prefix.
    tampered.extend(other.ids().into_iter().filter(|id| id != other.id("Control")));

    // Malformed ids, non-canonical keys and ids of objects that cannot be fetched again.
    let (_, tag_key) = ids::decode(w.id("Tag")).expect("a global id");
    let what_if = app
        .query_what_if(
            &t.operator,
            slug,
            json!([{ "controlId": "AdminMFAV2", "status": "PLANNED" }]),
            "id categories { id }",
        )
        .payload()
        .await;
    tampered.extend([
        String::new(),
        "not base64!".into(),
        ids::encode("Tag", "").to_string(),
        ids::encode("Tag", format!("0{tag_key}")).to_string(),
        ids::encode("Tag", format!("+{tag_key}")).to_string(),
        ids::encode("Tag", format!("{tag_key} ")).to_string(),
        ids::encode("Tag", "-1").to_string(),
        ids::encode("Tag", "99999999999999999999").to_string(),
        ids::encode("tag", &tag_key).to_string(),
        ids::encode("Viewer", &tag_key).to_string(),
        ids::encode("ScoreSnapshot", format!("{}:2026-13-01", t.id)).to_string(),
        ids::encode("ScoreSnapshot", format!("{}:1999-01-01", t.id)).to_string(),
        text(&what_if["id"]),
        text(&what_if["categories"][0]["id"]),
    ]);
    for token in [&t.reader, &t.admin] {
        let nodes = app.query_nodes(token, json!(tampered), "id").payload().await;
        let answered: Vec<(&String, &Value)> = tampered
            .iter()
            .zip(nodes.as_array().expect("a list"))
            .filter(|(_, node)| !node.is_null())
            .collect();
        assert!(answered.is_empty(), "tampered ids answered: {answered:#?}");
    }
    for id in ["not base64!", "", w.id("ApiToken")] {
        let body = app.query_node(&t.reader, id, "id").send().await;
        assert_eq!(
            body,
            json!({ "data": { "node": null } }),
            "{id:?}: no error, just null"
        );
    }
});

db_test!(
    nodes_answers_one_entry_per_id_in_order_and_takes_at_most_100,
    |app| {
        let w = world(&app).await;
        let t = &w.tenant;
        let tag = w.id("Tag").to_string();
        let mut asked: Vec<String> = (0..98)
            .map(|i| {
                if i % 2 == 0 {
                    tag.clone()
                } else {
                    format!("garbage-{i}")
                }
            })
            .collect();
        asked.push(w.id("Note").to_string());
        asked.push(tag.clone());
        let nodes = app.query_nodes(&t.reader, json!(asked), "id").payload().await;
        let expected: Vec<Value> = asked
            .iter()
            .map(|id| {
                if id.starts_with("garbage") {
                    Value::Null
                } else {
                    json!({ "id": id })
                }
            })
            .collect();
        assert_eq!(nodes, json!(expected));

        asked.push(tag);
        let body = app.query_nodes(&t.reader, json!(asked), "id").send().await;
        assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body:#}");

        let empty = app.query_nodes(&t.reader, json!([]), "id").payload().await;
        assert_eq!(empty, json!([]));
        let anonymous = app.query_nodes(None, json!([w.id("Tag")]), "id").send().await;
        assert_eq!(error_code(&anonymous).as_deref(), Some("UNAUTHENTICATED"));
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_looks_up_each_type_with_one_query_whatever_the_number_of_ids() {
    let (app, log) = spawn_app_recording_statements(Backend::Sqlite).await;
    let t = app.tenant().create().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let tag = app
            .create_tag(
                &t.operator,
                json!({ "tenantSlug": t.slug, "name": format!("tag {i}") }),
                "tag { id }",
            )
            .payload()
            .await;
        let note = app
            .add_action_note(
                &t.operator,
                json!({ "tenantSlug": t.slug, "controlId": "AdminMFAV2", "body": format!("note {i}") }),
                "note { id }",
            )
            .payload()
            .await;
        ids.push(text(&tag["tag"]["id"]));
        ids.push(text(&note["note"]["id"]));
    }
    log.clear();
    let nodes = app.query_nodes(&t.reader, json!(ids), "id").payload().await;
    assert_eq!(nodes.as_array().map(Vec::len), Some(10));
    let statements = log.statements();
    for table in ["\"tag\"", "\"note\""] {
        let reads = statements
            .iter()
            .filter(|s| s.contains(&format!("FROM {table}")))
            .count();
        assert_eq!(reads, 1, "one read of {table}: {statements:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_reads_a_tenants_goals_and_a_day_once_however_many_of_their_ids() {
    let (app, log) = spawn_app_recording_statements(Backend::Sqlite).await;
    let t = app.tenant().create().await;
    let today = chrono::Utc::now().date_naive();
    let mut goals = Vec::new();
    for days in [30, 60, 90] {
        let goal = app
            .set_score_goal(
                &t.operator,
                json!({ "tenantSlug": t.slug, "targetPercentage": 50 + days / 3,
                        "targetDate": (today + chrono::Days::new(days)).to_string() }),
                "goal { id }",
            )
            .payload()
            .await;
        goals.push(text(&goal["goal"]["id"]));
    }
    let days = app
        .query_score_history(&t.reader, &t.slug, today, today, "id categories { id }")
        .payload()
        .await;
    let mut day_ids = vec![text(&days[0]["id"])];
    day_ids.extend(
        days[0]["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| text(&c["id"])),
    );
    assert!(day_ids.len() > 3, "{days}");

    // Statements that read goals or days, for one `nodes` call.
    let reads = async |ids: Vec<String>| {
        log.clear();
        let nodes = app.query_nodes(&t.reader, json!(ids), "id").payload().await;
        assert!(nodes.as_array().unwrap().iter().all(|n| !n.is_null()), "{nodes}");
        let statements = log.statements();
        ["\"score_goal\"", "\"score_snapshot\""].map(|table| {
            statements
                .iter()
                .filter(|s| s.contains(&format!("FROM {table}")))
                .count()
        })
    };
    let one = reads(vec![goals[0].clone(), day_ids[0].clone()]).await;
    let all = reads(goals.iter().chain(&day_ids).cloned().collect()).await;
    assert!(one[0] > 0, "goals are read from the database: {one:?}");
    assert_eq!(
        all, one,
        "as many reads for every goal and category of a day as for one of each"
    );
}
