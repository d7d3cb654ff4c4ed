//! README's examples run as pasted (issue 17): every `graphql` block and every `curl` command of
//! README.md, in README's order, against one fresh server with the demo data, must answer without
//! `errors` and without `userErrors`.
//!
//! How a block is run, as a newcomer would:
//! - a `graphql` block in the playground with the demo ADMIN token, or the SERVICE_ADMIN token
//!   when it calls what only a SERVICE_ADMIN may (`createTenant`, `grantRole`, the catalog);
//!   an operation with variables takes them from the `json` block right after it;
//! - a `subscription` block must be one operation that parses (it is run over WebSocket by the
//!   realtime tests and the JS example, not here);
//! - a `sh` block whose commands are all `curl` or `python3 examples/…` runs in bash with the demo tokens in the
//!   variables README names (`$TOKEN`, `$READER_TOKEN`, `$OPERATOR_TOKEN`, `$ADMIN_TOKEN`, …)
//!   and the server's address for `http://127.0.0.1:8000`; each answer must be a success
//!   (`--fail-with-body`) and, when JSON, carry no `errors` or `userErrors`.

use crate::helpers::*;
use serde_json::{Value, json};

/// One fenced block of README: its language, first line number and text.
struct Block {
    lang: String,
    line: usize,
    text: String,
}

fn blocks(readme: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in readme.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(lang)) => {
                open = Some(Block {
                    lang: lang.trim().to_string(),
                    line: i + 1,
                    text: String::new(),
                })
            }
            (Some(_), Some(_)) => out.extend(open.take()),
            (Some(b), None) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

/// Every `userErrors` list in a payload that is not empty.
fn user_errors(value: &Value, found: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "userErrors" && v.as_array().is_some_and(|a| !a.is_empty()) {
                    found.push(v.clone());
                }
                user_errors(v, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| user_errors(v, found)),
        _ => {}
    }
}

/// Lists that an example about history must not answer empty (the demo has 90 days of it).
fn empty_history(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if matches!(key.as_str(), "scoreHistory" | "comparisons" | "snapshots")
                    && v.as_array().is_some_and(Vec::is_empty)
                {
                    found.push(key.clone());
                }
                empty_history(v, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| empty_history(v, found)),
        _ => {}
    }
}

/// What only a SERVICE_ADMIN may call.
const SERVICE_ADMIN_FIELDS: [&str; 8] = [
    "createTenant",
    "grantRole",
    "createControl",
    "updateControl",
    "deprecateControl",
    "upsertLicense",
    "serviceTenants",
    "createServiceAdmin",
];

/// The commands of a shell block: a command ends at a line end outside quotes that has no `\`
/// before it; comment and blank lines between commands are dropped.
fn commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let (mut single, mut double) = (false, false);
    for line in text.lines() {
        if current.is_empty() && (line.trim_start().starts_with('#') || line.trim().is_empty()) {
            continue;
        }
        for c in line.chars() {
            match c {
                '\'' if !double => single = !single,
                '"' if !single => double = !double,
                _ => {}
            }
        }
        if single || double {
            current.push_str(line);
            current.push('\n');
        } else if let Some(part) = line.trim_end().strip_suffix('\\') {
            current.push_str(part);
        } else {
            current.push_str(line);
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_graphql_and_curl_example_of_the_readme_runs_on_the_demo_sqlite() {
    let (app, tokens) = spawn_demo_app(Backend::Sqlite).await;
    run_readme(&app, &tokens).await;
}

#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL database)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_graphql_and_curl_example_of_the_readme_runs_on_the_demo_postgres() {
    assert!(
        postgres_enabled(),
        "TEST_DATABASE_URL is not set: the PostgreSQL variant cannot run"
    );
    let (app, tokens) = spawn_demo_app(Backend::Postgres).await;
    run_readme(&app, &tokens).await;
}

async fn run_readme(app: &TestApp, tokens: &securescore::seed::DemoTokens) {
    let readme = include_str!("../../README.md");
    let all = blocks(readme);
    let mut ran = 0;
    let mut scripts = 0;
    for (i, block) in all.iter().enumerate() {
        let at = format!("README.md line {}", block.line);
        match block.lang.as_str() {
            "graphql" if block.text.trim_start().starts_with("subscription") => {
                let doc = async_graphql::parser::parse_query(&block.text)
                    .unwrap_or_else(|e| panic!("{at}: the subscription does not parse: {e}"));
                let operations = match &doc.operations {
                    async_graphql::parser::types::DocumentOperations::Single(_) => 1,
                    async_graphql::parser::types::DocumentOperations::Multiple(ops) => ops.len(),
                };
                assert_eq!(operations, 1, "{at}: paste one subscription at a time");
            }
            "graphql" => {
                let needs_service_admin = SERVICE_ADMIN_FIELDS.iter().any(|f| block.text.contains(f));
                let token = if needs_service_admin {
                    &tokens.service_admin
                } else {
                    &tokens.admin
                };
                let declares_variables = block.text.split('{').next().unwrap_or("").contains('$');
                let variables = if declares_variables {
                    let next = all.get(i + 1).filter(|b| b.lang == "json").unwrap_or_else(|| {
                        panic!("{at}: an operation with variables needs them in a json block right after it")
                    });
                    serde_json::from_str(&next.text)
                        .unwrap_or_else(|e| panic!("{at}: its variables are not JSON: {e}"))
                } else {
                    json!({})
                };
                let body = app.gql(Some(token), &block.text, variables).await;
                assert!(body.get("errors").is_none(), "{at}: {body}");
                let mut found = Vec::new();
                user_errors(&body["data"], &mut found);
                assert!(found.is_empty(), "{at}: userErrors {found:?}");
                let mut empty = Vec::new();
                empty_history(&body["data"], &mut empty);
                assert!(empty.is_empty(), "{at}: no data in {empty:?}: {body}");
                ran += 1;
            }
            "sh" => {
                // `export SECURESCORE_TOKEN=ssk_…` stands for the token the test provides.
                let cmds: Vec<String> = commands(&block.text)
                    .into_iter()
                    .filter(|c| !(c.starts_with("export ") && c.contains("=ssk_")))
                    .collect();
                let runnable = |c: &String| c.starts_with("curl ") || c.starts_with("python3 examples/");
                if cmds.is_empty() || !cmds.iter().all(runnable) {
                    continue;
                }
                for cmd in cmds {
                    scripts += usize::from(cmd.starts_with("python3 "));
                    let cmd = cmd.replace("http://127.0.0.1:8000", &app.address).replacen(
                        "curl ",
                        "curl --fail-with-body ",
                        1,
                    );
                    let out = std::process::Command::new("bash")
                        .arg("-c")
                        .arg(&cmd)
                        .env("TOKEN", &tokens.admin)
                        .env("ADMIN_TOKEN", &tokens.admin)
                        .env("OPERATOR_TOKEN", &tokens.operator)
                        .env("READER_TOKEN", &tokens.reader)
                        .env("MSP_TOKEN", &tokens.msp)
                        .env("SERVICE_ADMIN_TOKEN", &tokens.service_admin)
                        .env("SECURESCORE_TOKEN", &tokens.admin)
                        .env("SECURESCORE_URL", format!("{}/graphql", app.address))
                        .current_dir(env!("CARGO_MANIFEST_DIR"))
                        .output()
                        .expect("bash runs");
                    let stdout = String::from_utf8_lossy(&out.stdout);
                    assert!(
                        out.status.success(),
                        "{at}: `{cmd}` failed: {stdout}{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    assert!(!stdout.trim().is_empty(), "{at}: `{cmd}` answered nothing");
                    if let Ok(body) = serde_json::from_str::<Value>(&stdout) {
                        assert!(body.get("errors").is_none(), "{at}: {body}");
                        let mut found = Vec::new();
                        user_errors(&body, &mut found);
                        assert!(found.is_empty(), "{at}: userErrors {found:?}");
                        if let Some(snapshots) = body.get("snapshots") {
                            assert!(
                                snapshots.as_array().is_some_and(|s| !s.is_empty()),
                                "{at}: no days in {body}"
                            );
                        }
                    }
                    ran += 1;
                }
            }
            _ => {}
        }
    }
    assert!(
        ran >= 15,
        "only {ran} examples found: has README's format changed?"
    );
    assert!(scripts >= 1, "README's bulk_update.py example was not found");
}
