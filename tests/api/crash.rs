//! Crash consistency, kept as a regression test: the real server binary, killed with SIGKILL
//! (`kill -9`) while eight writers change statuses through it, and restarted on the same database,
//! three times. Afterwards every acknowledged change is there exactly once, every change that is
//! there was sent (changes in flight at a kill may or may not have committed), and each one is
//! whole: its `STATUS_CHANGED` event, the note its comment became, and the action's version, which
//! a change bumps by exactly one.

use crate::helpers::{Backend, fresh_database, postgres_enabled, run_cli};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Concurrent writers, each on its own action.
const WRITERS: usize = 8;

/// How long the writers write before each kill.
const ROUNDS: [Duration; 3] = [
    Duration::from_millis(800),
    Duration::from_millis(1100),
    Duration::from_millis(1400),
];

/// Longest wait for the server to start, for a request, and for the writers to notice a kill.
const WAIT: Duration = Duration::from_secs(15);

const SET_STATUS: &str = "mutation($input: SetActionStatusInput!) { setActionStatus(input: $input) { \
     changed action { status version } userErrors { code } } }";

const ACTION: &str = "query($slug: String!, $controlId: String!) { tenant(slug: $slug) { \
     improvementAction(controlId: $controlId) { status version } } }";

const FINAL_STATE: &str = "query($slug: String!, $controlId: String!, $after: String) { \
     tenant(slug: $slug) { improvementAction(controlId: $controlId) { status version notes { body } \
     history(first: 100, after: $after) { nodes { kind comment statusBefore statusAfter } \
     pageInfo { hasNextPage endCursor } } } } }";

/// The server binary running as a child process.
struct Server {
    child: Child,
    address: String,
}

impl Server {
    /// Starts the binary on `url` (port 0, no demo data, no rate limit in the way) and waits
    /// for the address it prints.
    async fn start(url: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_securescore"))
            .args([
                "--database-url",
                url,
                "--listen-addr",
                "127.0.0.1:0",
                "--seed-demo",
                "false",
                "--log-filter",
                "warn",
            ])
            .env_remove("DATABASE_URL")
            .env("RATE_LIMIT_PER_MINUTE", "1000000")
            .env("RATE_LIMIT_BURST", "100000")
            .env("SNAPSHOT_INTERVAL_SECS", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the server binary starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let address = tokio::time::timeout(WAIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(address) = line.strip_prefix("securescore is listening on ") {
                    return Some(address.to_string());
                }
            }
            None
        })
        .await;
        let Ok(Some(address)) = address else {
            let _ = child.start_kill();
            let output = child.wait_with_output().await.expect("the server's output");
            panic!(
                "the server did not say where it listens: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        // Keep the pipes empty, so the server never blocks writing to them.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(_)) = lines.next_line().await {}
            });
        }
        Server { child, address }
    }

    /// `kill -9`.
    async fn kill(mut self) {
        self.child.kill().await.expect("SIGKILL");
    }
}

/// Sends a GraphQL request; `None` when there is no answer (the server is gone or was killed
/// while answering).
async fn send(
    client: &reqwest::Client,
    address: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Option<Value> {
    let response = client
        .post(format!("{address}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .ok()?;
    response.json().await.ok()
}

/// One writer: its action, and what it sent and had acknowledged.
struct Writer {
    control: String,
    initial_status: String,
    initial_version: i64,
    /// The comment of every change sent (each unique).
    attempted: HashSet<String>,
    /// The comments of the acknowledged changes, with the version each acknowledgement reported.
    acknowledged: Vec<(String, i64)>,
}

/// The tenant's token, slug and the address of the server the writers talk to.
#[derive(Clone)]
struct Target {
    client: reqwest::Client,
    address: String,
    token: String,
    slug: String,
}

impl Target {
    async fn action(&self, control: &str) -> Option<(String, i64)> {
        let body = send(
            &self.client,
            &self.address,
            &self.token,
            ACTION,
            json!({ "slug": self.slug, "controlId": control }),
        )
        .await?;
        let action = &body["data"]["tenant"]["improvementAction"];
        Some((
            action["status"].as_str()?.to_string(),
            action["version"].as_i64()?,
        ))
    }
}

/// Flips the writer's action between PLANNED and TO_ADDRESS, with a unique comment and the
/// expected version, until the server stops answering (it was killed). A refused change (only
/// CONFLICT is expected: a change that committed but was not acknowledged before a kill) or a
/// failed one sends the writer to read the action again.
async fn write_until_killed(target: Target, mut writer: Writer, number: usize) -> Writer {
    let mut current = None;
    loop {
        let (status, version) = match current.take() {
            Some(known) => known,
            None => match target.action(&writer.control).await {
                Some(read) => read,
                None => return writer,
            },
        };
        let next = if status == "PLANNED" {
            "TO_ADDRESS"
        } else {
            "PLANNED"
        };
        let comment = format!("w{number}-{}", writer.attempted.len());
        writer.attempted.insert(comment.clone());
        let input = json!({
            "tenantSlug": target.slug,
            "controlId": writer.control,
            "status": next,
            "comment": comment,
            "expectedVersion": version,
        });
        let Some(body) = send(
            &target.client,
            &target.address,
            &target.token,
            SET_STATUS,
            json!({ "input": input }),
        )
        .await
        else {
            return writer;
        };
        let payload = &body["data"]["setActionStatus"];
        let acknowledged =
            body.get("errors").is_none() && payload["userErrors"] == json!([]) && payload["changed"] == true;
        if acknowledged {
            let version = payload["action"]["version"]
                .as_i64()
                .expect("an acknowledged change's version");
            writer.acknowledged.push((comment, version));
            current = Some((next.to_string(), version));
        } else if let Some(errors) = payload["userErrors"].as_array() {
            assert!(
                errors.iter().all(|e| e["code"] == "CONFLICT"),
                "{}: only a stale version is refused: {body}",
                writer.control
            );
        }
    }
}

/// The action's status, version, note bodies and status-change events (oldest first) as the
/// server answers now.
async fn final_state(target: &Target, control: &str) -> (String, i64, Vec<String>, Vec<Value>) {
    let mut events = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = send(
            &target.client,
            &target.address,
            &target.token,
            FINAL_STATE,
            json!({ "slug": target.slug, "controlId": control, "after": after }),
        )
        .await
        .expect("the restarted server answers");
        assert!(body.get("errors").is_none(), "{body:#}");
        let action = &body["data"]["tenant"]["improvementAction"];
        let history = &action["history"];
        events.extend(history["nodes"].as_array().expect("events").iter().cloned());
        if history["pageInfo"]["hasNextPage"] != true {
            events.retain(|e| e["kind"] == "STATUS_CHANGED");
            events.reverse();
            let notes = action["notes"]
                .as_array()
                .expect("notes")
                .iter()
                .map(|n| n["body"].as_str().expect("note body").to_string())
                .collect();
            let status = action["status"].as_str().expect("status").to_string();
            let version = action["version"].as_i64().expect("version");
            return (status, version, notes, events);
        }
        after = history["pageInfo"]["endCursor"].clone();
    }
}

/// Checks one writer's action against what it sent and had acknowledged.
fn check(writer: &Writer, status: &str, version: i64, notes: &[String], events: &[Value]) {
    let control = &writer.control;
    let comments: Vec<&str> = events
        .iter()
        .map(|e| e["comment"].as_str().expect("the change's comment"))
        .collect();
    let unique: HashSet<&str> = comments.iter().copied().collect();
    assert_eq!(
        unique.len(),
        comments.len(),
        "{control}: a change is there twice: {comments:?}"
    );
    for comment in &comments {
        assert!(
            writer.attempted.contains(*comment),
            "{control}: a change that was never sent: {comment}"
        );
    }
    assert_eq!(
        i64::try_from(events.len()).expect("event count"),
        version - writer.initial_version,
        "{control}: every change bumped the version once, with its event"
    );
    for (comment, acknowledged_version) in &writer.acknowledged {
        let position =
            usize::try_from(acknowledged_version - writer.initial_version - 1).expect("a later version");
        assert_eq!(
            comments.get(position).copied(),
            Some(comment.as_str()),
            "{control}: the acknowledged change to version {acknowledged_version} is there, at its place"
        );
    }
    let mut before = writer.initial_status.as_str();
    for event in events {
        assert_eq!(event["statusBefore"], before, "{control}: changes chain: {event}");
        before = event["statusAfter"].as_str().expect("statusAfter");
    }
    assert_eq!(status, before, "{control}: the action holds its last change");
    let mut with_notes: Vec<&str> = notes.iter().map(String::as_str).collect();
    let mut changed: Vec<&str> = comments.clone();
    with_notes.sort_unstable();
    changed.sort_unstable();
    assert_eq!(
        with_notes, changed,
        "{control}: each change's comment is a note, once"
    );
}

async fn acknowledged_changes_survive_kill_9(backend: Backend) {
    let (url, _dir) = fresh_database(backend).await;
    let slug = format!("crash-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let (ok, out, err) = tokio::task::spawn_blocking({
        let (url, slug) = (url.clone(), slug.clone());
        move || run_cli(&url, &["create-tenant", "--slug", &slug, "--name", "Crash test"])
    })
    .await
    .expect("create-tenant ran");
    assert!(ok, "create-tenant: {err}");
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("admin token (shown once, store it now): "))
        .expect("the admin token is printed")
        .trim()
        .to_string();
    let client = reqwest::Client::builder()
        .timeout(WAIT)
        .build()
        .expect("HTTP client");

    let mut first = Some(Server::start(&url).await);
    let mut target = Target {
        client,
        address: first.as_ref().expect("the first server").address.clone(),
        token,
        slug,
    };
    let actions = send(
        &target.client,
        &target.address,
        &target.token,
        "query($slug: String!) { tenant(slug: $slug) { improvementActions(first: 50) { nodes { controlId category status version } } } }",
        json!({ "slug": target.slug }),
    )
    .await
    .expect("the action list");
    let mut writers: Vec<Writer> = actions["data"]["tenant"]["improvementActions"]["nodes"]
        .as_array()
        .expect("actions")
        .iter()
        // Device actions' statuses are managed by the device-management tool, not by users.
        .filter(|a| a["status"] == "TO_ADDRESS" && a["category"] != "DEVICE")
        .take(WRITERS)
        .map(|a| Writer {
            control: a["controlId"].as_str().expect("controlId").to_string(),
            initial_status: "TO_ADDRESS".into(),
            initial_version: a["version"].as_i64().expect("version"),
            attempted: HashSet::new(),
            acknowledged: Vec::new(),
        })
        .collect();
    assert_eq!(writers.len(), WRITERS, "{actions:#}");

    for (round, writing) in ROUNDS.into_iter().enumerate() {
        let server = match first.take() {
            Some(server) => server,
            None => Server::start(&url).await,
        };
        target.address = server.address.clone();
        let acknowledged_before: usize = writers.iter().map(|w| w.acknowledged.len()).sum();
        let tasks: Vec<_> = writers
            .into_iter()
            .enumerate()
            .map(|(number, writer)| tokio::spawn(write_until_killed(target.clone(), writer, number)))
            .collect();
        tokio::time::sleep(writing).await;
        server.kill().await;
        writers = Vec::new();
        for task in tasks {
            let writer = tokio::time::timeout(WAIT, task)
                .await
                .expect("the writer notices the kill")
                .expect("the writer task");
            writers.push(writer);
        }
        let acknowledged: usize = writers.iter().map(|w| w.acknowledged.len()).sum();
        assert!(
            acknowledged > acknowledged_before,
            "round {round}: changes were acknowledged before the kill"
        );
    }

    let server = Server::start(&url).await;
    target.address = server.address.clone();
    let mut present = 0;
    for writer in &writers {
        let (status, version, notes, events) = final_state(&target, &writer.control).await;
        check(writer, &status, version, &notes, &events);
        present += events.len();
    }
    let acknowledged: usize = writers.iter().map(|w| w.acknowledged.len()).sum();
    assert!(
        present >= acknowledged,
        "{present} changes, {acknowledged} acknowledged"
    );
    server.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_changes_survive_kill_9_of_the_server_on_sqlite() {
    acknowledged_changes_survive_kill_9(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL database)"
)]
async fn acknowledged_changes_survive_kill_9_of_the_server_on_postgres() {
    assert!(
        postgres_enabled(),
        "TEST_DATABASE_URL is not set: this PostgreSQL test cannot run"
    );
    acknowledged_changes_survive_kill_9(Backend::Postgres).await;
}
