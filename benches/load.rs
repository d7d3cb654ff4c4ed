//! Load benchmark: seeds the scale data set into a fresh database, starts the real server (the
//! release binary, a separate process) and drives four workloads over HTTP with 32 concurrent
//! connections, then prints requests/s, latency percentiles, errors and the server's peak RSS.
//!
//! ```sh
//! cargo bench --bench load                       # SQLite, 1,000 tenants × 250 controls × 90 days
//! BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench load
//! cargo bench --bench load -- --tenants 10000 --workloads Q1
//! ```
//!
//! Settings (flag or environment variable): `--tenants`/`BENCH_TENANTS` (1000),
//! `--controls`/`BENCH_CONTROLS` (250), `--days`/`BENCH_DAYS` (90),
//! `--connections`/`BENCH_CONNECTIONS` (32), `--duration`/`BENCH_DURATION` seconds per workload
//! (10), `--warmup`/`BENCH_WARMUP` seconds (2), `--workloads`/`BENCH_WORKLOADS` (`Q1,Q2,Q3,M1`),
//! `--prime`/`BENCH_PRIME` (1: first request every tenant's Q1 once, reported as "Q1 cold"; 0: don't),
//! `BENCH_DATABASE_URL` (PostgreSQL server; a fresh database is created in it and dropped
//! afterwards). `BENCH_SERVER_URL` with `BENCH_TOKEN` drives an already running server (seeded
//! with `securescore seed-scale`), e.g. one under `perf record`. A GraphQL `errors` entry, a non-2xx status or a mutation `userErrors` entry counts
//! as an error.

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERVER: &str = env!("CARGO_BIN_EXE_securescore");

struct Settings {
    tenants: usize,
    controls: usize,
    days: u32,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    workloads: Vec<String>,
    database_url: Option<String>,
    /// Request every tenant's Q1 once before the workloads (and report that as "Q1 cold").
    prime: bool,
}

fn setting(args: &[String], flag: &str, env: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var(env).ok())
        .unwrap_or_else(|| default.to_string())
}

impl Settings {
    fn read() -> Settings {
        let args: Vec<String> = std::env::args().collect();
        let num = |flag, env, default: &str| -> u64 {
            setting(&args, flag, env, default)
                .parse()
                .unwrap_or_else(|_| panic!("{flag} / {env} must be a whole number"))
        };
        Settings {
            tenants: num("--tenants", "BENCH_TENANTS", "1000") as usize,
            controls: num("--controls", "BENCH_CONTROLS", "250") as usize,
            days: num("--days", "BENCH_DAYS", "90") as u32,
            connections: num("--connections", "BENCH_CONNECTIONS", "32") as usize,
            duration: Duration::from_secs(num("--duration", "BENCH_DURATION", "10")),
            warmup: Duration::from_secs(num("--warmup", "BENCH_WARMUP", "2")),
            workloads: setting(&args, "--workloads", "BENCH_WORKLOADS", "Q1,Q2,Q3,M1")
                .split(',')
                .map(|w| w.trim().to_uppercase())
                .filter(|w| !w.is_empty())
                .collect(),
            database_url: std::env::var("BENCH_DATABASE_URL").ok().filter(|u| !u.is_empty()),
            prime: num("--prime", "BENCH_PRIME", "1") != 0,
        }
    }
}

const Q1: &str = "query Overview($slug: String!) { tenant(slug: $slug) {
  secureScore {
    maxScore { points max percentage } current { points max percentage } planned { points max percentage }
    currentLicense { points max percentage } achievable { points max percentage } verified { points max percentage }
    categories { category
      maxScore { points max percentage } current { points max percentage } planned { points max percentage }
      currentLicense { points max percentage } achievable { points max percentage } verified { points max percentage } }
    updatedAt }
  improvementActions(first: 10) { totalCount nodes { controlId title category maxPoints pointsAchieved status rank tags { name color } } }
} }";

const Q2: &str = "query ActionPage($slug: String!, $statuses: [Status!], $categories: [Category!]) { tenant(slug: $slug) {
  improvementActions(filter: { statuses: $statuses, categories: $categories }, orderBy: { field: RANK, direction: ASC }, first: 50) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id controlId title category service tier userImpact implementationCost status implemented total
      maxPoints pointsAchieved pointsRemaining scoreImpact rank licensed seatShortfall reviewBy version
      control { id title threats remediation actionUrl learnMoreUrls requiredLicensePlans }
      tags { name color } }
  }
} }";

const Q3: &str = "query Trends($slug: String!, $from: Date!, $to: Date!) { tenant(slug: $slug) {
  scoreHistory(from: $from, to: $to) { day live current { points percentage } maxScore { points }
    categories { category current { points max percentage } } }
  comparisons(from: $from, to: $to) { day tenantPercentage
    cohorts { kind key suppressedReason figures { size meanPercentage p25Percentage medianPercentage p75Percentage } } }
} }";

const M1: &str = "mutation Set($i: SetActionStatusInput!) { setActionStatus(input: $i) {
  action { controlId status version } score { current { points percentage } } userErrors { field message code } } }";

const STATUSES: &[&str] = &["TO_ADDRESS", "PLANNED", "RISK_ACCEPTED"];
const CATEGORIES: &[&str] = &["IDENTITY", "DEVICE", "APPS", "DATA", "INFRASTRUCTURE"];

fn slug(i: usize) -> String {
    format!("scale-{:05}", i + 1)
}

/// The database the server will use: a fresh SQLite file, or a fresh PostgreSQL database.
enum Db {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl Db {
    async fn create(settings: &Settings) -> Db {
        match &settings.database_url {
            None => {
                let dir = tempfile::tempdir().expect("cannot create a temporary directory");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
                Db::Sqlite { _dir: dir, url }
            }
            Some(admin_url) => {
                use sea_orm::ConnectionTrait;
                let name = format!("securescore_bench_{}", std::process::id());
                let admin = sea_orm::Database::connect(admin_url.as_str())
                    .await
                    .expect("cannot connect to BENCH_DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("cannot create the benchmark database");
                let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b);
                Db::Postgres {
                    admin_url: admin_url.clone(),
                    url: format!("{base}/{name}"),
                    name,
                }
            }
        }
    }

    fn url(&self) -> &str {
        match self {
            Db::Sqlite { url, .. } | Db::Postgres { url, .. } => url,
        }
    }

    async fn drop_database(&self) {
        if let Db::Postgres { admin_url, name, .. } = self {
            use sea_orm::ConnectionTrait;
            if let Ok(admin) = sea_orm::Database::connect(admin_url.as_str()).await {
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        }
    }
}

/// The server process; killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Peak resident set size of the server so far, in KiB (`VmHWM`).
    fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    /// Resets the peak RSS so the next reading covers one workload only (Linux `clear_refs` 5);
    /// `false` where the kernel does not allow it (the peak then covers the whole run).
    fn reset_peak_rss(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5").is_ok()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot find a free port")
}

fn seed(settings: &Settings, db: &Db, tokens_file: &std::path::Path) {
    let started = Instant::now();
    let out = Command::new(SERVER)
        .args([
            "seed-scale",
            "--tenants",
            &settings.tenants.to_string(),
            "--controls",
            &settings.controls.to_string(),
            "--days",
            &settings.days.to_string(),
            "--tokens-file",
        ])
        .arg(tokens_file)
        .env("DATABASE_URL", db.url())
        .env("LOG_FILTER", "warn")
        .output()
        .expect("cannot run securescore seed-scale");
    assert!(
        out.status.success(),
        "seed-scale failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    println!(
        "{} (wall {:.1} s)",
        summary.lines().next().unwrap_or("seeded"),
        started.elapsed().as_secs_f64()
    );
}

async fn start_server(db: &Db) -> Server {
    let port = free_port();
    let child = Command::new(SERVER)
        .arg("serve")
        .env("DATABASE_URL", db.url())
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("SEED_DEMO", "false")
        .env("LOG_FILTER", "warn")
        // The per-token rate limit would throttle the one MSP token long before the server.
        .env("RATE_LIMIT_PER_MINUTE", "1000000000")
        .env("RATE_LIMIT_BURST", "1000000000")
        .stdout(Stdio::null())
        .spawn()
        .expect("cannot start the server");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{}/readyz", server.base)).send().await
            && r.status().is_success()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not become ready within 60 s");
}

/// What one request of a workload asks.
fn request(workload: &str, rng: &mut StdRng, tenants: usize, today: chrono::NaiveDate) -> Value {
    let s = slug(rng.random_range(0..tenants));
    match workload {
        "Q1" => json!({ "query": Q1, "variables": { "slug": s } }),
        "Q2" => {
            let status = STATUSES[rng.random_range(0..2)];
            let category = CATEGORIES[rng.random_range(0..CATEGORIES.len())];
            json!({ "query": Q2, "variables": { "slug": s, "statuses": [status], "categories": [category] } })
        }
        "Q3" => {
            let from = today - chrono::Days::new(89);
            json!({ "query": Q3, "variables": { "slug": s, "from": from.to_string(), "to": today.to_string() } })
        }
        other => panic!("unknown workload {other}"),
    }
}

/// Whether a response is an error: GraphQL `errors`, or mutation `userErrors`.
fn is_error(body: &Value) -> bool {
    if body
        .get("errors")
        .is_some_and(|e| !e.as_array().is_some_and(|a| a.is_empty()))
    {
        return true;
    }
    body.pointer("/data/setActionStatus/userErrors")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

/// [`is_error`] on a raw body, parsing it only when it may hold an error: the client shares the
/// server's two cores, and parsing every 100 KB trends answer would take CPU from the server.
/// A body without the text `"errors"` has no `errors` entry, and one whose only `userErrors` is
/// empty has no user error; anything else is parsed and checked exactly.
fn body_error(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let may_fail = text.contains("\"errors\"")
        || (text.contains("\"userErrors\"") && !text.contains("\"userErrors\":[]"));
    if !may_fail {
        return None;
    }
    match serde_json::from_slice::<Value>(body) {
        Err(e) => Some(format!("unreadable body: {e}")),
        Ok(v) if is_error(&v) => Some(v.to_string().chars().take(300).collect()),
        Ok(_) => None,
    }
}

/// Per connection, the actions M1 may change: (tenant slug, control id, current status). Each
/// connection owns its own tenants (index ≡ connection mod N), so no two connections change the
/// same action and every call is a real change that needs no `expectedVersion`.
async fn m1_targets(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    settings: &Settings,
) -> Vec<Vec<(String, String, String)>> {
    let q = "query T($slug: String!) { tenant(slug: $slug) { improvementActions(filter: { statuses: [TO_ADDRESS, PLANNED], categories: [IDENTITY, APPS, DATA, INFRASTRUCTURE] }, first: 20) { nodes { controlId status } } } }";
    let mut per_conn = vec![Vec::new(); settings.connections];
    // A sample of tenants is enough: the point is random actions over many tenants.
    let sample = settings.tenants.min(400);
    for i in 0..sample {
        let t = i * settings.tenants / sample;
        let body: Value = client
            .post(format!("{base}/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": q, "variables": { "slug": slug(t) } }))
            .send()
            .await
            .expect("M1 setup request failed")
            .json()
            .await
            .expect("M1 setup answer is not JSON");
        let nodes = body
            .pointer("/data/tenant/improvementActions/nodes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for n in nodes {
            if let (Some(c), Some(s)) = (n["controlId"].as_str(), n["status"].as_str()) {
                per_conn[t % settings.connections].push((slug(t), c.to_string(), s.to_string()));
            }
        }
    }
    per_conn
}

struct Outcome {
    histogram: Histogram<u64>,
    requests: u64,
    errors: u64,
    first_error: Option<String>,
}

async fn run_workload(
    workload: &str,
    base: &str,
    token: &str,
    settings: &Settings,
    m1: Option<Vec<Vec<(String, String, String)>>>,
) -> Outcome {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(settings.connections)
        .build()
        .expect("cannot build the HTTP client");
    let start = Instant::now();
    let measure_from = start + settings.warmup;
    let end = measure_from + settings.duration;
    let today = chrono::Utc::now().date_naive();
    let url = Arc::new(format!("{base}/graphql"));
    let mut tasks = Vec::new();
    let mut m1 = m1.map(|v| v.into_iter());
    for conn in 0..settings.connections {
        let client = client.clone();
        let url = url.clone();
        let token = token.to_string();
        let workload = workload.to_string();
        let tenants = settings.tenants;
        let mut targets: Vec<(String, String, String)> =
            m1.as_mut().and_then(|it| it.next()).unwrap_or_default();
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(conn as u64);
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
            let (mut requests, mut errors, mut first_error) = (0_u64, 0_u64, None);
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                let (body, target) = if workload == "M1" {
                    if targets.is_empty() {
                        break;
                    }
                    let k = rng.random_range(0..targets.len());
                    let (s, c, status) = &targets[k];
                    // Alternate so that every call is a real change.
                    let next = if status == "PLANNED" {
                        "TO_ADDRESS"
                    } else {
                        "PLANNED"
                    };
                    let body = json!({ "query": M1, "variables": { "i": {
                        "tenantSlug": s, "controlId": c, "status": next, "comment": "load test" } } });
                    (body, Some((k, next)))
                } else {
                    (request(&workload, &mut rng, tenants, today), None)
                };
                let sent = Instant::now();
                let result = client
                    .post(url.as_str())
                    .bearer_auth(&token)
                    .header("Accept", "application/graphql-response+json")
                    .json(&body)
                    .send()
                    .await;
                let failure = match result {
                    Err(e) => Some(format!("transport: {e}")),
                    Ok(r) => {
                        let status = r.status();
                        match r.bytes().await {
                            Err(e) => Some(format!("HTTP {status}: unreadable body: {e}")),
                            Ok(body) => match body_error(&body) {
                                Some(e) => Some(format!("HTTP {status}: {e}")),
                                None if !status.is_success() => Some(format!("HTTP {status}")),
                                None => None,
                            },
                        }
                    }
                };
                let micros = sent.elapsed().as_micros() as u64;
                if failure.is_none()
                    && let Some((k, next)) = target
                {
                    targets[k].2 = next.to_string();
                }
                if sent >= measure_from {
                    requests += 1;
                    let _ = hist.record(micros.max(1));
                    if let Some(f) = failure {
                        errors += 1;
                        first_error.get_or_insert(f);
                    }
                }
            }
            (hist, requests, errors, first_error)
        }));
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    let (mut requests, mut errors, mut first_error) = (0, 0, None);
    for t in tasks {
        let (h, r, e, f) = t.await.expect("a load task panicked");
        histogram.add(h).expect("histograms have the same bounds");
        requests += r;
        errors += e;
        if first_error.is_none() {
            first_error = f;
        }
    }
    Outcome {
        histogram,
        requests,
        errors,
        first_error,
    }
}

/// The first Q1 request of every tenant, `connections` at a time: what a cold server (empty state
/// cache) costs, and the warm-up after which the workloads measure the steady state. Returns
/// requests/s and the number of errors.
async fn prime(base: &str, token: &str, settings: &Settings) -> (f64, u64) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for conn in 0..settings.connections {
        let (client, url, token) = (client.clone(), format!("{base}/graphql"), token.to_string());
        let (tenants, connections) = (settings.tenants, settings.connections);
        tasks.push(tokio::spawn(async move {
            let mut errors = 0;
            for t in (conn..tenants).step_by(connections) {
                let body = json!({ "query": Q1, "variables": { "slug": slug(t) } });
                let ok = match client.post(&url).bearer_auth(&token).json(&body).send().await {
                    Ok(r) if r.status().is_success() => {
                        r.bytes().await.is_ok_and(|b| body_error(&b).is_none())
                    }
                    _ => false,
                };
                errors += u64::from(!ok);
            }
            errors
        }));
    }
    let mut errors = 0;
    for t in tasks {
        errors += t.await.expect("a priming task panicked");
    }
    (settings.tenants as f64 / started.elapsed().as_secs_f64(), errors)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_string())
}

#[tokio::main]
async fn main() {
    let settings = Settings::read();
    let backend = if settings.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "securescore load benchmark: {backend}, {} tenants × {} controls × {} days, {} connections, {} s per workload after {} s warm-up",
        settings.tenants,
        settings.controls,
        settings.days,
        settings.connections,
        settings.duration.as_secs(),
        settings.warmup.as_secs()
    );
    if let Ok(base) = std::env::var("BENCH_SERVER_URL") {
        // Against a server that is already running (e.g. under a profiler): no seeding, no RSS.
        let token = std::env::var("BENCH_TOKEN").expect("BENCH_SERVER_URL needs BENCH_TOKEN");
        if settings.prime {
            let (rate, errors) = prime(&base, &token, &settings).await;
            println!("prime (first Q1 of each tenant): {rate:.0} req/s, {errors} errors");
        }
        for workload in &settings.workloads {
            let m1 = if workload == "M1" {
                Some(m1_targets(&reqwest::Client::new(), &base, &token, &settings).await)
            } else {
                None
            };
            let o = run_workload(workload, &base, &token, &settings, m1).await;
            let h = &o.histogram;
            println!(
                "{workload}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors {}",
                o.requests as f64 / settings.duration.as_secs_f64(),
                h.value_at_quantile(0.5) as f64 / 1000.0,
                h.value_at_quantile(0.99) as f64 / 1000.0,
                o.errors,
                o.first_error.unwrap_or_default()
            );
        }
        return;
    }
    let db = Db::create(&settings).await;
    let tokens = tempfile::NamedTempFile::new().expect("cannot create the tokens file");
    seed(&settings, &db, tokens.path());
    let token = std::fs::read_to_string(tokens.path())
        .expect("cannot read the tokens file")
        .trim()
        .to_string();
    let server = start_server(&db).await;
    let mut rows = Vec::new();
    if settings.prime {
        let load_before = load_average();
        let (rate, errors) = prime(&server.base, &token, &settings).await;
        rows.push(format!(
            "| {:<7} | {:>9.0} | {:>8} | {:>8} | {:>8} | {:>6} | {:>9.1} | {} |",
            "Q1 cold",
            rate,
            "",
            "",
            "",
            errors,
            server.peak_rss_kib().unwrap_or(0) as f64 / 1024.0,
            load_before,
        ));
    }
    let mut notes: HashMap<String, String> = HashMap::new();
    let mut per_workload_rss = true;
    for workload in &settings.workloads {
        let m1 = if workload == "M1" {
            Some(m1_targets(&reqwest::Client::new(), &server.base, &token, &settings).await)
        } else {
            None
        };
        per_workload_rss &= server.reset_peak_rss();
        let load_before = load_average();
        let o = run_workload(workload, &server.base, &token, &settings, m1).await;
        let rss = server.peak_rss_kib().unwrap_or(0);
        if let Some(f) = &o.first_error {
            notes.insert(workload.clone(), f.clone());
        }
        let h = &o.histogram;
        rows.push(format!(
            "| {:<7} | {:>9.0} | {:>8.2} | {:>8.2} | {:>8.2} | {:>6} | {:>9.1} | {} |",
            workload,
            o.requests as f64 / settings.duration.as_secs_f64(),
            h.value_at_quantile(0.50) as f64 / 1000.0,
            h.value_at_quantile(0.95) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
            o.errors,
            rss as f64 / 1024.0,
            load_before,
        ));
    }
    let overall_rss = server.peak_rss_kib().unwrap_or(0);
    drop(server);
    db.drop_database().await;
    println!();
    println!(
        "| W       | req/s     | p50 ms   | p95 ms   | p99 ms   | errors | RSS MiB   | load avg before |"
    );
    println!(
        "|---------|-----------|----------|----------|----------|--------|-----------|-----------------|"
    );
    for r in &rows {
        println!("{r}");
    }
    println!(
        "peak RSS {} : {:.1} MiB; load average now {}",
        if per_workload_rss {
            "(per workload above, last workload here)"
        } else {
            "(whole run)"
        },
        overall_rss as f64 / 1024.0,
        load_average()
    );
    for (w, f) in &notes {
        println!("first error of {w}: {f}");
    }
}
