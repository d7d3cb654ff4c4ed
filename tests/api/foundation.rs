//! The foundation: health checks, the playground, authentication, the first slice of the schema
//! and the committed SDL.

use crate::db_test;
use crate::helpers::*;
use serde_json::json;

db_test!(health_and_readiness_answer_ok, |app| {
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert!(
        ready.headers().contains_key("x-request-id"),
        "every response carries a request id"
    );
});

db_test!(a_browser_gets_the_playground_on_get_graphql, |app| {
    let resp = app
        .client
        .get(format!("{}/graphql", app.address))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("<html") && html.contains("/graphql"), "{html}");
});

db_test!(a_reader_sees_its_tenant_with_its_role_and_licences, |app| {
    let t = app.tenant().industry("finance").seats(800).create().await;
    let data = app
        .gql_ok(
            &t.reader,
            "query($slug: String!) { viewer { name tenants { role tenant { slug } } }
               tenant(slug: $slug) { slug industry seatCount enabledServices licenses { sku } } }",
            json!({ "slug": t.slug }),
        )
        .await;
    assert_eq!(
        data["viewer"]["tenants"],
        json!([{ "role": "READER", "tenant": { "slug": t.slug } }])
    );
    assert_eq!(data["tenant"]["industry"], "finance");
    assert_eq!(data["tenant"]["seatCount"], 800);
    assert_eq!(
        data["tenant"]["enabledServices"],
        json!(["AzureAD", "EXO", "MDO"])
    );
    assert_eq!(data["tenant"]["licenses"], json!([]));
});

db_test!(requests_without_a_valid_token_are_unauthenticated, |app| {
    let t = app.tenant().create().await;
    for token in [None, Some("ssk_not-a-real-token"), Some("")] {
        let body = app.query_tenant(token, &t.slug, "slug").await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("UNAUTHENTICATED"),
            "token {token:?}: {body}"
        );
    }
});

db_test!(another_tenants_slug_answers_like_a_missing_one, |app| {
    let mine = app.tenant().create().await;
    let theirs = app.tenant().create().await;
    let other = app.query_tenant(&mine.reader, &theirs.slug, "slug").await;
    let missing = app.query_tenant(&mine.reader, "no-such-tenant", "slug").await;
    assert_eq!(error_code(&other).as_deref(), Some("NOT_FOUND"));
    assert_eq!(other["errors"][0]["message"], missing["errors"][0]["message"]);
    assert_eq!(other["data"], missing["data"]);
});

db_test!(the_catalog_pages_through_every_control_both_ways, |app| {
    let t = app.tenant().create().await;
    let q = "query($first: Int, $after: String, $last: Int, $before: String) {
        controls(first: $first, after: $after, last: $last, before: $before) {
          totalCount pageInfo { hasNextPage hasPreviousPage endCursor startCursor }
          edges { node { controlId maxPoints category } } } }";
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = app
            .gql_ok(&t.reader, q, json!({ "first": 20, "after": after }))
            .await;
        let c = &data["controls"];
        assert_eq!(c["totalCount"], 53, "the shipped catalog has 53 controls");
        for e in c["edges"].as_array().unwrap() {
            seen.push(e["node"]["controlId"].as_str().unwrap().to_string());
        }
        if !c["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = c["pageInfo"]["endCursor"].as_str().map(str::to_string);
    }
    assert_eq!(seen.len(), 53);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "ordered by control id");

    let last = app.gql_ok(&t.reader, q, json!({ "last": 3 })).await;
    let tail: Vec<_> = last["controls"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["controlId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tail, seen[50..].to_vec());
    assert_eq!(last["controls"]["pageInfo"]["hasPreviousPage"], true);

    let too_big = app.gql(Some(&t.reader), q, json!({ "first": 101 })).await;
    assert_eq!(error_code(&too_big).as_deref(), Some("BAD_USER_INPUT"));
});

db_test!(licences_list_the_plans_they_grant, |app| {
    let t = app.tenant().create().await;
    let data = app
        .gql_ok(&t.reader, "{ licenses { sku name plans } }", json!({}))
        .await;
    let e5 = data["licenses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["sku"] == "M365_E5")
        .expect("M365_E5");
    assert!(e5["plans"].as_array().unwrap().contains(&json!("AAD_P2")));
});

db_test!(
    a_second_start_on_the_same_database_does_not_duplicate_the_catalog,
    |app| {
        let mut config = securescore::config::Config::for_database(app.database_url.clone());
        config.seed_demo = false;
        let again = securescore::app::App::build(config).await.expect("second start");
        use sea_orm::{EntityTrait, PaginatorTrait};
        let controls = entity::control::Entity::find().count(again.db()).await.unwrap();
        let licenses = entity::license::Entity::find().count(again.db()).await.unwrap();
        assert_eq!(controls, 53);
        assert_eq!(licenses, 16);
    }
);

#[test]
fn schema_graphql_is_up_to_date() {
    let current = securescore::graphql::sdl();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed != current {
        if std::env::var("UPDATE_SCHEMA").is_ok() {
            std::fs::write(path, &current).expect("write schema.graphql");
            return;
        }
        panic!(
            "schema.graphql is out of date with the running schema. Regenerate it with\n  \
             UPDATE_SCHEMA=1 cargo test --test api schema_graphql_is_up_to_date\nand review the diff."
        );
    }
}

/// Every type, field, argument, enum value and input field of the public schema has a description
/// written for API users (no Rust type names leaking from library defaults), and fields whose
/// values form a closed set are enums rather than strings.
#[test]
fn every_part_of_the_schema_is_described_and_closed_sets_are_enums() {
    use async_graphql::parser::types::{InputValueDefinition, TypeKind, TypeSystemDefinition};
    use async_graphql::{Positioned, parser::parse_schema};
    // Rust-ish text that library defaults put in names and descriptions.
    let rustish = ["<Utc>", "<FixedOffset>", "NaiveDate", "Implement the", "::"];
    // Fields (by name, or `Type.field`) whose values form a closed set: enums, not strings.
    let closed = [
        "category",
        "categories",
        "tier",
        "tiers",
        "userImpact",
        "userImpacts",
        "implementationCost",
        "implementationCosts",
        "actionType",
        "role",
        "code",
        "ScoreSnapshot.source",
        "VendorBenchmark.source",
        "AuditEntry.action",
        "Control.origin",
        "GraphSyncSettings.lastStatus",
    ];
    let mut problems = Vec::new();
    let doc = parse_schema(securescore::graphql::sdl()).expect("the SDL parses");
    let text = |d: &Option<Positioned<String>>| d.as_ref().map(|d| d.node.clone());
    // (where, description, type) of everything that needs a description.
    let mut parts: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    let inputs = |parts: &mut Vec<_>, owner: &str, values: &[Positioned<InputValueDefinition>]| {
        for v in values {
            let v = &v.node;
            let ty = Some(v.ty.node.to_string());
            parts.push((format!("{owner}.{}", v.name.node), text(&v.description), ty));
        }
    };
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(t) = def else {
            continue;
        };
        let (t, name) = (&t.node, t.node.name.node.as_str());
        // Inputs end in `Input`, filters in `Filter`, orders in `Order`.
        let suffix = ["Input", "Filter", "Order"].iter().any(|s| name.ends_with(s));
        let doubled = ["FilterInput", "OrderInput"].iter().any(|s| name.ends_with(s));
        if matches!(t.kind, TypeKind::InputObject(_)) && (!suffix || doubled) {
            problems.push(format!("{name}: name an input `…Input`, `…Filter` or `…Order`"));
        }
        parts.push((name.to_string(), text(&t.description), None));
        let fields = match &t.kind {
            TypeKind::Object(o) => &o.fields[..],
            TypeKind::Interface(i) => &i.fields[..],
            TypeKind::Enum(e) => {
                for v in &e.values {
                    let what = format!("{name}.{}", v.node.value.node);
                    parts.push((what, text(&v.node.description), None));
                }
                &[]
            }
            TypeKind::InputObject(i) => {
                inputs(&mut parts, name, &i.fields);
                &[]
            }
            _ => &[],
        };
        for f in fields {
            let f = &f.node;
            let what = format!("{name}.{}", f.name.node);
            inputs(&mut parts, &format!("{what}()"), &f.arguments);
            parts.push((what, text(&f.description), Some(f.ty.node.to_string())));
        }
    }
    for (what, desc, ty) in &parts {
        match desc.as_deref().map(str::trim) {
            None | Some("") => problems.push(format!("{what}: no description")),
            Some(d) => {
                for r in rustish.iter().filter(|r| d.contains(*r) || what.contains(*r)) {
                    problems.push(format!("{what}: `{r}` is Rust, not API"));
                }
            }
        }
        let field = what.rsplit('.').next().unwrap_or_default();
        let named = ty.as_deref().map(|t| t.trim_matches(['[', ']', '!']));
        if named == Some("String") && (closed.contains(&field) || closed.contains(&what.as_str())) {
            let ty = ty.as_deref().unwrap_or_default();
            problems.push(format!(
                "{what}: `{ty}`, but its values form a closed set (use an enum)"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems in the public schema:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// What introspection says of every type, field, argument and enum value, one line each, in
/// schema order: the live schema as clients see it.
fn live_lines(schema: &serde_json::Value) -> Vec<String> {
    fn ty(t: &serde_json::Value) -> String {
        match t["kind"].as_str() {
            Some("NON_NULL") => format!("{}!", ty(&t["ofType"])),
            Some("LIST") => format!("[{}]", ty(&t["ofType"])),
            _ => t["name"].as_str().unwrap_or_default().to_string(),
        }
    }
    let desc = |v: &serde_json::Value| v.as_str().unwrap_or_default().trim().to_string();
    let builtin = ["String", "Int", "Float", "Boolean", "ID"];
    let mut lines = Vec::new();
    for t in schema["types"].as_array().expect("types") {
        let name = t["name"].as_str().unwrap();
        if name.starts_with("__") || builtin.contains(&name) {
            continue;
        }
        lines.push(format!(
            "{} {name} | {} | {}",
            t["kind"].as_str().unwrap(),
            desc(&t["description"]),
            t["specifiedByURL"].as_str().unwrap_or_default()
        ));
        for f in t["fields"].as_array().into_iter().flatten() {
            lines.push(format!(
                "{name}.{}: {} | {}",
                f["name"].as_str().unwrap(),
                ty(&f["type"]),
                desc(&f["description"])
            ));
            for a in f["args"].as_array().into_iter().flatten() {
                lines.push(format!(
                    "{name}.{}({}): {} | {}",
                    f["name"].as_str().unwrap(),
                    a["name"].as_str().unwrap(),
                    ty(&a["type"]),
                    desc(&a["description"])
                ));
            }
        }
        for f in t["inputFields"].as_array().into_iter().flatten() {
            lines.push(format!(
                "{name}.{}: {} | {}",
                f["name"].as_str().unwrap(),
                ty(&f["type"]),
                desc(&f["description"])
            ));
        }
        for v in t["enumValues"].as_array().into_iter().flatten() {
            lines.push(format!(
                "{name}::{} | {}",
                v["name"].as_str().unwrap(),
                desc(&v["description"])
            ));
        }
    }
    lines
}

/// The same lines from the committed `schema.graphql`.
fn file_lines(sdl: &str) -> Vec<String> {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let doc = async_graphql::parser::parse_schema(sdl).expect("schema.graphql parses");
    let desc = |d: &Option<async_graphql::Positioned<String>>| {
        d.as_ref().map(|d| d.node.trim().to_string()).unwrap_or_default()
    };
    let mut lines = Vec::new();
    for def in doc.definitions {
        let TypeSystemDefinition::Type(t) = def else {
            continue;
        };
        let t = t.node;
        let name = t.name.node.to_string();
        let specified_by = t
            .directives
            .iter()
            .find(|d| d.node.name.node == "specifiedBy")
            .and_then(|d| {
                d.node
                    .get_argument("url")
                    .map(|v| v.node.to_string().trim_matches('"').to_string())
            })
            .unwrap_or_default();
        let kind = match &t.kind {
            TypeKind::Scalar => "SCALAR",
            TypeKind::Object(_) => "OBJECT",
            TypeKind::Interface(_) => "INTERFACE",
            TypeKind::Union(_) => "UNION",
            TypeKind::Enum(_) => "ENUM",
            TypeKind::InputObject(_) => "INPUT_OBJECT",
        };
        lines.push(format!(
            "{kind} {name} | {} | {specified_by}",
            desc(&t.description)
        ));
        let fields = match &t.kind {
            TypeKind::Object(o) => o.fields.clone(),
            TypeKind::Interface(i) => i.fields.clone(),
            _ => Vec::new(),
        };
        for f in fields {
            let f = f.node;
            lines.push(format!(
                "{name}.{}: {} | {}",
                f.name.node,
                f.ty.node,
                desc(&f.description)
            ));
            for a in f.arguments {
                lines.push(format!(
                    "{name}.{}({}): {} | {}",
                    f.name.node,
                    a.node.name.node,
                    a.node.ty.node,
                    desc(&a.node.description)
                ));
            }
        }
        if let TypeKind::InputObject(i) = &t.kind {
            for f in &i.fields {
                lines.push(format!(
                    "{name}.{}: {} | {}",
                    f.node.name.node,
                    f.node.ty.node,
                    desc(&f.node.description)
                ));
            }
        }
        if let TypeKind::Enum(e) = &t.kind {
            for v in &e.values {
                lines.push(format!(
                    "{name}::{} | {}",
                    v.node.value.node,
                    desc(&v.node.description)
                ));
            }
        }
    }
    lines
}

db_test!(schema_graphql_is_what_the_running_server_introspects, |app| {
    let t = app.tenant().create().await;
    let data = app
        .gql_ok(
            &t.reader,
            r#"{ __schema { types {
                kind name description specifiedByURL
                fields(includeDeprecated: true) { name description type { ...T } args { name description type { ...T } } }
                inputFields { name description type { ...T } }
                enumValues(includeDeprecated: true) { name description }
            } } }
            fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }"#,
            json!({}),
        )
        .await;
    let mut live = live_lines(&data["__schema"]);
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql");
    let mut file = file_lines(&committed);
    live.sort();
    file.sort();
    let missing: Vec<&String> = live.iter().filter(|l| !file.contains(l)).collect();
    let extra: Vec<&String> = file.iter().filter(|l| !live.contains(l)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the live schema and schema.graphql differ.\nonly live:\n{missing:#?}\nonly in the file:\n{extra:#?}"
    );
    assert!(
        committed.contains(
            r#"scalar DateTime @specifiedBy(url: "https://datatracker.ietf.org/doc/html/rfc3339")"#
        ),
        "the DateTime scalar names its specification"
    );
});
