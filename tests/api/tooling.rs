//! The tooling around the API (issue 17): CORS for browser dashboards on allowed origins, the
//! access log (one line per request, JSON on request, no secrets) and the token CLI.

use crate::db_test;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const DASHBOARD: &str = "https://dash.example.com";

/// An `OPTIONS` preflight for a POST of JSON with a bearer token, as a browser sends it.
async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, format!("{}/graphql", app.address))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization,content-type")
        .send()
        .await
        .unwrap()
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

db_test!(
    a_browser_page_on_an_allowed_origin_can_call_the_api_and_others_cannot,
    |app| {
        // This test's server allows one origin; the default server allows none.
        let allowed = spawn_app_with(app.backend, |c| c.cors_allowed_origins = vec![DASHBOARD.into()]).await;
        let t = allowed.tenant().create().await;

        let pre = preflight(&allowed, DASHBOARD).await;
        assert!(
            pre.status().is_success(),
            "a preflight is answered: {}",
            pre.status()
        );
        assert_eq!(header(&pre, "access-control-allow-origin"), Some(DASHBOARD));
        let methods = header(&pre, "access-control-allow-methods")
            .unwrap_or_default()
            .to_ascii_uppercase();
        assert!(methods.contains("POST") && methods.contains("GET"), "{methods}");
        let headers = header(&pre, "access-control-allow-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(
            headers.contains("authorization") && headers.contains("content-type"),
            "{headers}"
        );
        assert_eq!(
            header(&pre, "access-control-allow-credentials"),
            None,
            "bearer tokens, no cookies"
        );

        let resp = allowed
        .client
        .post(format!("{}/graphql", allowed.address))
        .header("Origin", DASHBOARD)
        .bearer_auth(&t.reader)
        .json(&json!({ "query": "query($s: String!) { tenant(slug: $s) { slug } }", "variables": { "s": t.slug } }))
        .send()
        .await
        .unwrap();
        assert_eq!(header(&resp, "access-control-allow-origin"), Some(DASHBOARD));
        let exposed = header(&resp, "access-control-expose-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(
            exposed.contains("x-request-id"),
            "the page can read the request id: {exposed}"
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["data"]["tenant"]["slug"], json!(t.slug));

        // Another origin, on either server, gets no CORS headers: the browser refuses the call.
        for (server, origin) in [(&allowed, "https://evil.example.com"), (&app, DASHBOARD)] {
            let pre = preflight(server, origin).await;
            assert_eq!(header(&pre, "access-control-allow-origin"), None, "{origin}");
            let resp = server
                .client
                .post(format!("{}/graphql", server.address))
                .header("Origin", origin)
                .json(&json!({ "query": "{ __typename }" }))
                .send()
                .await
                .unwrap();
            assert_eq!(header(&resp, "access-control-allow-origin"), None, "{origin}");
        }
    }
);

/// A server process of the built binary on `database_url`, its standard output read line by line.
struct ServerProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    address: String,
}

impl ServerProcess {
    fn start(database_url: &str, log_format: &str) -> ServerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_securescore"))
            .env_remove("DATABASE_URL")
            .env("LOG_FORMAT", log_format)
            .env("LOG_FILTER", "info,sqlx=warn,sea_orm=warn")
            .args([
                "--database-url",
                database_url,
                "--listen-addr",
                "127.0.0.1:0",
                "--seed-demo",
                "false",
            ])
            .args(["--snapshot-interval-secs", "0", "--graph-sync-interval-secs", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = ServerProcess {
            child,
            lines,
            address: String::new(),
        };
        let listening = server.wait_for(|l| l.starts_with("securescore is listening on "));
        server.address = listening
            .trim_start_matches("securescore is listening on ")
            .to_string();
        server
    }

    /// The next output line that `wanted` accepts (within 30 s).
    fn wait_for(&self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return line,
                Ok(_) => {}
                Err(e) => panic!("no such line within 30 s: {e}"),
            }
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

db_test!(
    every_request_writes_one_access_line_and_json_logs_carry_its_fields,
    |app| {
        let t = app.tenant().create().await;
        let server = ServerProcess::start(&app.database_url, "json");
        let resp = app
        .client
        .post(format!("{}/graphql", server.address))
        .bearer_auth(&t.reader)
        .json(&json!({
            "query": "query Overview($s: String!) { tenant(slug: $s) { secureScore { current { points } } } }",
            "variables": { "s": t.slug },
        }))
        .send()
        .await
        .unwrap();
        assert_eq!(resp.status(), 200);
        let request_id = header(&resp, "x-request-id").expect("a request id").to_string();
        let body: Value = resp.json().await.unwrap();
        assert!(body.get("errors").is_none(), "{body}");

        let line = server.wait_for(|l| l.contains(&request_id) && l.contains("request finished"));
        assert!(!line.contains(&t.reader), "no secrets in the log: {line}");
        let entry: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("one JSON object per line ({e}): {line}"));
        assert_eq!(entry["level"], "INFO", "{entry}");
        assert_eq!(entry["fields"]["status"], 200, "{entry}");
        assert!(
            entry["fields"]["duration_ms"].as_f64().is_some_and(|d| d >= 0.0),
            "{entry}"
        );
        let span = &entry["span"];
        assert_eq!(span["request_id"], json!(request_id), "{entry}");
        assert_eq!(span["operation"], "Overview", "{entry}");
        assert_eq!(span["tenant"], json!(t.slug), "{entry}");
        assert_eq!(span["method"], "POST", "{entry}");
        assert_eq!(span["path"], "/graphql", "{entry}");

        // A request for a tenant the caller cannot read logs no tenant (it answers like a slug that
        // does not exist), and other routes are logged too.
        let other = app.tenant().create().await;
        let resp = app
        .client
        .post(format!("{}/graphql", server.address))
        .bearer_auth(&t.reader)
        .json(&json!({ "query": "query Peek($s: String!) { tenant(slug: $s) { slug } }", "variables": { "s": other.slug } }))
        .send()
        .await
        .unwrap();
        let peek_id = header(&resp, "x-request-id").unwrap().to_string();
        let line = server.wait_for(|l| l.contains(&peek_id) && l.contains("request finished"));
        let entry: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(entry["span"]["operation"], "Peek", "{entry}");
        assert!(entry["span"].get("tenant").is_none(), "{entry}");
        let resp = app
            .client
            .get(format!("{}/healthz", server.address))
            .send()
            .await
            .unwrap();
        let health_id = header(&resp, "x-request-id").unwrap().to_string();
        let line = server.wait_for(|l| l.contains(&health_id));
        let entry: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(entry["span"]["path"], "/healthz", "{entry}");
    }
);

db_test!(pretty_logs_have_no_colour_when_written_to_a_pipe, |app| {
    let server = ServerProcess::start(&app.database_url, "pretty");
    let resp = app
        .client
        .get(format!("{}/healthz", server.address))
        .send()
        .await
        .unwrap();
    let request_id = header(&resp, "x-request-id").unwrap().to_string();
    let line = server.wait_for(|l| l.contains(&request_id) && l.contains("request finished"));
    assert!(!line.contains('\u{1b}'), "no ANSI escapes in a pipe: {line:?}");
    assert!(
        line.contains("status=200") && line.contains("path=/healthz"),
        "{line}"
    );
});

db_test!(
    the_token_cli_creates_lists_and_revokes_a_tenants_tokens_and_grants_roles,
    |app| {
        let t = app.tenant().create().await;
        let url = app.database_url.as_str();

        let (ok, out, err) = run_cli(
            url,
            &[
                "token",
                "create",
                "--tenant",
                &t.slug,
                "--role",
                "reader",
                "--name",
                "wallboard",
            ],
        );
        assert!(ok, "{out}\n{err}");
        let token = out
            .split_whitespace()
            .find(|w| w.starts_with("ssk_"))
            .unwrap_or_else(|| panic!("the secret is printed once: {out}"))
            .to_string();
        let principal: i64 = out
            .split("for principal ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("the principal's number is printed: {out}"));
        let token_id: i64 = out
            .split_whitespace()
            .nth(2)
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("the token's number is printed: {out}"));

        // The running server accepts it at once, with the role it was given.
        let read = app.query_tenant(&token, &t.slug, "slug").payload().await;
        assert_eq!(read["slug"], json!(t.slug));
        let denied = app
            .gql(
                Some(&token),
                "query($s: String!) { tenant(slug: $s) { apiTokens { id } } }",
                json!({ "s": t.slug }),
            )
            .await;
        assert_eq!(denied["errors"][0]["extensions"]["code"], "FORBIDDEN", "{denied}");

        let (ok, out, err) = run_cli(url, &["token", "list", "--tenant", &t.slug]);
        assert!(ok, "{out}\n{err}");
        let row = out
            .lines()
            .find(|l| l.starts_with(&format!("{token_id}\t")))
            .unwrap_or_else(|| panic!("the new token is listed: {out}"));
        assert!(
            row.contains("wallboard") && row.contains("READER") && row.contains("active"),
            "{row}"
        );
        assert!(!out.contains(&token), "secrets are never listed");

        // `grant` changes the principal's role; the token then has it.
        let (ok, out, err) = run_cli(
            url,
            &[
                "grant",
                "--tenant",
                &t.slug,
                "--principal",
                &principal.to_string(),
                "--role",
                "ADMIN",
            ],
        );
        assert!(ok, "{out}\n{err}");
        assert!(out.contains("ADMIN"), "{out}");
        let tokens = app
            .gql(
                Some(&token),
                "query($s: String!) { tenant(slug: $s) { apiTokens { name } } }",
                json!({ "s": t.slug }),
            )
            .await;
        assert!(tokens.get("errors").is_none(), "ADMIN now: {tokens}");

        // The audit log says the command line did it.
        let audit = app
            .query_tenant(
                &t.admin,
                &t.slug,
                "auditLog(first: 20) { edges { node { action actorName } } }",
            )
            .payload()
            .await;
        let entries = audit["auditLog"]["edges"].as_array().unwrap();
        for action in ["TOKEN_CREATED", "ROLE_GRANTED"] {
            assert!(
                entries
                    .iter()
                    .any(|e| e["node"]["action"] == action && e["node"]["actorName"] == "command line"),
                "{action} by the command line: {audit}"
            );
        }

        let (ok, out, err) = run_cli(url, &["token", "revoke", &token_id.to_string()]);
        assert!(ok, "{out}\n{err}");
        let refused = app.gql(Some(&token), "{ viewer { name } }", json!({})).await;
        assert_eq!(
            refused["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{refused}"
        );
        let (_, out, _) = run_cli(url, &["token", "list", "--tenant", &t.slug]);
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{token_id}\t")) && l.contains("revoked")),
            "{out}"
        );

        // Bad input: a clear error, a failing exit status and nothing written.
        let before = run_cli(url, &["token", "list", "--tenant", &t.slug]).1;
        for (args, says) in [
            (
                vec![
                    "token",
                    "create",
                    "--tenant",
                    "no-such-tenant",
                    "--role",
                    "READER",
                    "--name",
                    "x",
                ],
                "tenant",
            ),
            (
                vec![
                    "token", "create", "--tenant", &t.slug, "--role", "OWNER", "--name", "x",
                ],
                "READER, OPERATOR or ADMIN",
            ),
            (
                vec![
                    "token", "create", "--tenant", &t.slug, "--role", "READER", "--name", " ",
                ],
                "name",
            ),
            (vec!["token", "revoke", "987654321"], "not found"),
        ] {
            let (ok, out, err) = run_cli(url, &args);
            assert!(!ok, "{args:?} fails: {out}");
            assert!(
                err.to_lowercase().contains(&says.to_lowercase()),
                "{args:?}: {err}"
            );
        }
        assert_eq!(run_cli(url, &["token", "list", "--tenant", &t.slug]).1, before);
    }
);
