//! Test harness: `spawn_app` builds the server exactly as `main` does, on port 0, with its own
//! database; fixture builders create tenants, principals and tokens for one test. The helpers
//! that send GraphQL operations (one per operation) are in `ops.rs`, re-exported from here.

#![allow(dead_code)]

use chrono::Utc;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use securescore::app::App;
use securescore::config::Config;
use securescore::domain::enums::Role;
use securescore::service::access::tenants::{self, NewTenant};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::ops::*;

/// Every status an action can have: a list filter that asks for them all lists every action.
pub const ALL_STATUSES: [&str; 6] = [
    "TO_ADDRESS",
    "PLANNED",
    "RISK_ACCEPTED",
    "RESOLVED_THIRD_PARTY",
    "RESOLVED_ALTERNATE_MITIGATION",
    "COMPLETED",
];

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body on SQLite, and on PostgreSQL too when `TEST_DATABASE_URL` is set (reported
/// as ignored, never as passed, without it), each on what `$start` (an async function of the
/// [`Backend`]) starts, bound to the pattern `$bind`.
#[macro_export]
macro_rules! each_backend {
    ($name:ident, $start:expr, |$bind:pat_param| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $bind = ($start)($crate::helpers::Backend::Sqlite).await;
                $body
            }
            #[cfg_attr(
                not(postgres_tests),
                ignore = "needs TEST_DATABASE_URL (a PostgreSQL database)"
            )]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                assert!(
                    $crate::helpers::postgres_enabled(),
                    "TEST_DATABASE_URL is not set: the PostgreSQL variant cannot run"
                );
                let $bind = ($start)($crate::helpers::Backend::Postgres).await;
                $body
            }
        }
    };
}

/// Runs a test body on SQLite, and on PostgreSQL too when `TEST_DATABASE_URL` is set, each on a
/// fresh app ([`spawn_app`]; with a configuration change: `db_test!(name, config: |c| …, |app| …)`).
#[macro_export]
macro_rules! db_test {
    ($name:ident, |$app:ident| $body:block) => {
        $crate::each_backend!($name, $crate::helpers::spawn_app, |$app| $body);
    };
    ($name:ident, config: $adjust:expr, |$app:ident| $body:block) => {
        $crate::each_backend!(
            $name,
            |backend| $crate::helpers::spawn_app_with(backend, $adjust),
            |$app| $body
        );
    };
}

/// Like `db_test!`, but the server starts as a first start with `SEED_DEMO` does; the body gets
/// the app and the demo tokens it printed.
#[macro_export]
macro_rules! demo_test {
    ($name:ident, |$app:ident, $tokens:ident| $body:block) => {
        $crate::each_backend!($name, $crate::helpers::spawn_demo_app, |($app, $tokens)| {
            $body
        });
    };
}

pub fn postgres_enabled() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_name() -> String {
    format!(
        "t{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        uuid::Uuid::new_v4().simple()
    )
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub db: DatabaseConnection,
    pub backend: Backend,
    pub client: reqwest::Client,
    pub database_url: String,
    _dir: Option<tempfile::TempDir>,
}

/// A fresh database URL for one test.
pub async fn fresh_database(backend: Backend) -> (String, Option<tempfile::TempDir>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
            (url, Some(dir))
        }
        Backend::Postgres => {
            let base = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
            let schema = unique_name();
            let admin = Database::connect(&base)
                .await
                .expect("connect to TEST_DATABASE_URL");
            admin
                .execute_unprepared(&format!("CREATE SCHEMA \"{schema}\""))
                .await
                .expect("create test schema");
            admin.close().await.ok();
            let sep = if base.contains('?') { '&' } else { '?' };
            (format!("{base}{sep}options=-c%20search_path%3D{schema}"), None)
        }
    }
}

/// Starts the real server on 127.0.0.1:0 with its own database.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`spawn_app`], with configuration changes.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let (database_url, dir) = fresh_database(backend).await;
    let mut app = spawn_app_on(backend, database_url, adjust).await;
    app._dir = dir;
    app
}

/// Like [`spawn_app_with`], on a database URL the caller made (with [`fresh_database`]).
pub async fn spawn_app_on(
    backend: Backend,
    database_url: String,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    securescore::telemetry::init("warn");
    let dir = None;
    let mut config = Config::for_database(database_url.clone());
    config.db_max_connections = Some(5);
    adjust(&mut config);
    let app = App::build(config).await.expect("app builds");
    let address = format!("http://{}", app.local_addr());
    let db = app.db().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        db,
        backend,
        client: reqwest::Client::new(),
        database_url,
        _dir: dir,
    }
}

/// A tenant created for one test, with a token per role.
pub struct TenantFixture {
    pub id: i64,
    pub slug: String,
    pub reader: String,
    pub operator: String,
    pub admin: String,
}

/// Builder of a test tenant.
pub struct TenantBuilder<'a> {
    app: &'a TestApp,
    new: NewTenant,
}

impl TestApp {
    /// Starts building a tenant (defaults: a unique slug, 250 seats, identity and email services).
    pub fn tenant(&self) -> TenantBuilder<'_> {
        let slug = format!("tenant-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        TenantBuilder {
            app: self,
            new: NewTenant {
                name: format!("Tenant {slug}"),
                slug,
                industry: "technology".into(),
                seat_count: 250,
                active_user_count: 200,
                enabled_services: vec!["AzureAD".into(), "EXO".into(), "MDO".into()],
            },
        }
    }

    /// POSTs a GraphQL request and returns the parsed body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let resp = self
            .post_graphql(token, &json!({ "query": query, "variables": variables }))
            .await;
        resp.json().await.expect("JSON body")
    }

    /// POSTs a GraphQL request and asserts it produced no errors; returns `data`.
    pub async fn gql_ok(&self, token: &str, query: &str, variables: Value) -> Value {
        data_of(self.gql(Some(token), query, variables).await)
    }

    /// POSTs a raw JSON body to /graphql.
    pub async fn post_graphql(&self, token: Option<&str>, body: &Value) -> reqwest::Response {
        post_graphql_to(&self.client, &self.address, token, body).await
    }
}

/// POSTs a raw JSON body to `{address}/graphql`.
pub async fn post_graphql_to(
    client: &reqwest::Client,
    address: &str,
    token: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut req = client
        .post(format!("{address}/graphql"))
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/graphql-response+json")
        .json(body);
    if let Some(t) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    req.send().await.expect("request sent")
}

/// The `data` of a response body, asserting it has no errors.
pub fn data_of(body: Value) -> Value {
    assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
    body["data"].clone()
}

impl TenantBuilder<'_> {
    pub fn slug(mut self, slug: &str) -> Self {
        self.new.slug = slug.to_string();
        self
    }
    pub fn industry(mut self, industry: &str) -> Self {
        self.new.industry = industry.to_string();
        self
    }
    pub fn seats(mut self, seats: i64) -> Self {
        self.new.seat_count = seats;
        self
    }
    pub fn services(mut self, services: &[&str]) -> Self {
        self.new.enabled_services = services.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Creates the tenant and one principal with a token per role.
    pub async fn create(self) -> TenantFixture {
        let db = &self.app.db;
        let now = Utc::now();
        let tenant = tenants::create(db, &self.new, now).await.expect("tenant created");
        let mut tokens = Vec::new();
        for role in [Role::Reader, Role::Operator, Role::Admin] {
            let p = tenants::create_principal(
                db,
                &format!("{} {}", role.as_str().to_lowercase(), tenant.slug),
                "USER",
                now,
            )
            .await
            .expect("principal");
            tenants::grant_role(db, p.id, tenant.id, role, now)
                .await
                .expect("grant");
            let (secret, _) = tenants::issue_token(db, p.id, "test", None, None, now)
                .await
                .expect("token");
            tokens.push(secret);
        }
        let admin = tokens.pop().expect("admin");
        let operator = tokens.pop().expect("operator");
        let reader = tokens.pop().expect("reader");
        TenantFixture {
            id: tenant.id,
            slug: tenant.slug,
            reader,
            operator,
            admin,
        }
    }
}

/// The `extensions.code` of the first error of a response.
pub fn error_code(body: &Value) -> Option<String> {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .map(str::to_string)
}

/// Starts the server with demo data seeded, as a first start does; returns the demo tokens the
/// start printed.
pub async fn spawn_demo_app(backend: Backend) -> (TestApp, securescore::seed::DemoTokens) {
    securescore::telemetry::init("warn");
    let (database_url, dir) = fresh_database(backend).await;
    let mut config = Config::for_database(database_url.clone());
    config.db_max_connections = Some(5);
    config.seed_demo = true;
    let app = App::build(config).await.expect("app builds");
    let tokens = app.demo_tokens.clone().expect("a first start seeds the demo");
    let address = format!("http://{}", app.local_addr());
    let db = app.db().clone();
    tokio::spawn(app.run_until_stopped());
    let test_app = TestApp {
        address,
        db,
        backend,
        client: reqwest::Client::new(),
        database_url,
        _dir: dir,
    };
    (test_app, tokens)
}

/// Like [`spawn_app`], on a connection that records every SQL statement it runs; returns the
/// log (for tests that guard against N+1 queries).
pub async fn spawn_app_recording_statements(backend: Backend) -> (TestApp, StatementLog) {
    securescore::telemetry::init("warn");
    let (database_url, dir) = fresh_database(backend).await;
    let mut config = Config::for_database(database_url.clone());
    config.db_max_connections = Some(5);
    // A full page of 100 actions with nested fields is more than the default complexity allows.
    config.max_query_complexity = 1_000_000;
    // API-only: what is recorded is what requests ran, not a background job's polls and sweeps.
    config.background_jobs = false;
    let log = StatementLog::default();
    let mut db = securescore::db::connect(&config).await.expect("connect");
    let seen = log.clone();
    db.set_metric_callback(move |info| seen.push(info.statement.sql.clone()));
    let app = App::build_with_db(config, db).await.expect("app builds");
    let address = format!("http://{}", app.local_addr());
    let db = app.db().clone();
    tokio::spawn(app.run_until_stopped());
    let test_app = TestApp {
        address,
        db,
        backend,
        client: reqwest::Client::new(),
        database_url,
        _dir: dir,
    };
    (test_app, log)
}

/// The SQL statements a connection ran, in order.
#[derive(Clone, Default)]
pub struct StatementLog(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl StatementLog {
    fn push(&self, sql: String) {
        self.0.lock().expect("statement log lock").push(sql);
    }

    /// Forgets what was recorded so far.
    pub fn clear(&self) {
        self.0.lock().expect("statement log lock").clear();
    }

    /// What was recorded since the last [`StatementLog::clear`].
    pub fn statements(&self) -> Vec<String> {
        self.0.lock().expect("statement log lock").clone()
    }
}

impl TestApp {
    /// Sets an action's status and progress directly in the database (a fixture: no event, no
    /// version bump, nothing else touched).
    pub async fn set_action(
        &self,
        tenant_id: i64,
        control_id: &str,
        status: &str,
        implemented: i64,
        total: i64,
    ) {
        use entity::improvement_action as ia;
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let done = ia::Entity::update_many()
            .col_expr(ia::Column::Status, Expr::value(status))
            .col_expr(ia::Column::Implemented, Expr::value(implemented))
            .col_expr(ia::Column::Total, Expr::value(total))
            .filter(ia::Column::TenantId.eq(tenant_id))
            .filter(ia::Column::ControlId.eq(control_id))
            .exec(&self.db)
            .await
            .expect("action updated");
        assert_eq!(
            done.rows_affected, 1,
            "tenant {tenant_id} has an action for {control_id}"
        );
        self.changed(tenant_id).await;
    }

    /// What every real writer does at the end of a change, for fixtures that write rows
    /// directly: bumps the tenant's state version (which tells cached states in any server
    /// process that they are stale) and persists its state from the rows.
    pub async fn changed(&self, tenant_id: i64) {
        securescore::service::access::tenants::touch(&self.db, tenant_id, chrono::Utc::now())
            .await
            .expect("tenant touched");
    }
}

/// The history of one action, oldest first: `history(first: 100) { <selection> }`'s nodes.
pub async fn action_history(app: &TestApp, t: &TenantFixture, control: &str, selection: &str) -> Vec<Value> {
    let history = format!("history(first: 100) {{ {selection} }}");
    let action = app
        .query_action(&t.reader, &t.slug, control, &history)
        .payload()
        .await;
    let mut nodes = action["history"]["nodes"]
        .as_array()
        .expect("history nodes")
        .clone();
    nodes.reverse();
    nodes
}

/// The kinds of events.
pub fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

/// The row id inside an event's global id (what `data.undoes` holds).
pub fn event_id(id: &Value) -> i64 {
    let (ty, key) = securescore::graphql::ids::decode(id.as_str().unwrap()).unwrap();
    assert_eq!(ty, "ActionEvent");
    key.parse().unwrap()
}

impl TestApp {
    /// Moves an action's review date into the past, as if it had passed (and, like every
    /// writer, bumps the tenant's state version so cached states know).
    pub async fn pass_review_date(&self, t: &TenantFixture, control: &str) {
        use entity::improvement_action as ia;
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let done = ia::Entity::update_many()
            .col_expr(
                ia::Column::ReviewBy,
                Expr::value(Utc::now() - chrono::Duration::minutes(1)),
            )
            .filter(ia::Column::TenantId.eq(t.id))
            .filter(ia::Column::ControlId.eq(control))
            .exec(&self.db)
            .await
            .expect("review date moved");
        assert_eq!(done.rows_affected, 1);
        self.changed(t.id).await;
    }
}

/// Another server process on the test's database (its own pool, state cache and change
/// listener), with configuration changes; returns its base URL.
pub async fn spawn_another_process(app: &TestApp, adjust: impl FnOnce(&mut Config)) -> String {
    let mut config = Config::for_database(app.database_url.clone());
    config.db_max_connections = Some(5);
    adjust(&mut config);
    let other = App::build(config).await.expect("another app builds");
    let address = format!("http://{}", other.local_addr());
    tokio::spawn(other.run_until_stopped());
    address
}

/// Like [`spawn_another_process`], on a connection that records every SQL statement it runs;
/// returns its base URL and the log.
pub async fn spawn_another_recording_process(
    app: &TestApp,
    adjust: impl FnOnce(&mut Config),
) -> (String, StatementLog) {
    let mut config = Config::for_database(app.database_url.clone());
    config.db_max_connections = Some(5);
    adjust(&mut config);
    let log = StatementLog::default();
    let mut db = securescore::db::connect(&config).await.expect("connect");
    let seen = log.clone();
    db.set_metric_callback(move |info| seen.push(info.statement.sql.clone()));
    let other = App::build_with_db(config, db).await.expect("another app builds");
    let address = format!("http://{}", other.local_addr());
    tokio::spawn(other.run_until_stopped());
    (address, log)
}

/// Sets an action's status as the tenant's operator; fails the test on any user error.
pub async fn set_status(app: &TestApp, t: &TenantFixture, control: &str, status: &str) {
    let input = json!({ "tenantSlug": t.slug, "controlId": control, "status": status });
    let p = app
        .set_action_status(&t.operator, input, "userErrors { code message }")
        .payload()
        .await;
    assert_eq!(p["userErrors"], json!([]), "{control} → {status}: {p:#}");
}

/// Records an action's implementation progress as the tenant's operator; fails the test on any
/// user error.
pub async fn progress(app: &TestApp, t: &TenantFixture, control: &str, implemented: i64, total: i64) {
    let input =
        json!({ "tenantSlug": t.slug, "controlId": control, "implemented": implemented, "total": total });
    let p = app
        .record_implementation_progress(&t.operator, input, "userErrors { code message }")
        .payload()
        .await;
    assert_eq!(
        p["userErrors"],
        json!([]),
        "{control} {implemented}/{total}: {p:#}"
    );
}

/// Sets an action's status through the server at `address` as the tenant's operator and returns
/// the payload's `score`, selected with `score_selection`; fails the test on any user error.
pub async fn set_status_at(
    app: &TestApp,
    address: &str,
    t: &TenantFixture,
    control: &str,
    status: &str,
    score_selection: &str,
) -> Value {
    let input = json!({ "tenantSlug": t.slug, "controlId": control, "status": status });
    let payload = app
        .set_action_status(
            &t.operator,
            input,
            &format!("score {score_selection} userErrors {{ code }}"),
        )
        .at(address)
        .payload()
        .await;
    assert_eq!(payload["userErrors"], json!([]), "{payload:#}");
    payload["score"].clone()
}

impl TestApp {
    /// A SERVICE_ADMIN principal made directly in the database, as `create-service-admin` makes
    /// one; returns its token.
    pub async fn service_admin(&self) -> String {
        let name = format!(
            "service admin {}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let (_, secret) = tenants::create_service_admin(&self.db, &name, Utc::now())
            .await
            .expect("service admin created");
        secret
    }

    /// A principal holding `grants` (an MSP when there are several tenants) with one token, made
    /// directly in the database; returns the secret, the token's and the principal's global ids.
    pub async fn principal_with(&self, name: &str, grants: &[(i64, Role)]) -> (String, String, String) {
        let now = Utc::now();
        let p = tenants::create_principal(&self.db, name, "USER", now)
            .await
            .expect("principal");
        for (tenant_id, role) in grants {
            tenants::grant_role(&self.db, p.id, *tenant_id, *role, now)
                .await
                .expect("grant");
        }
        let (secret, token) = tenants::issue_token(&self.db, p.id, name, None, None, now)
            .await
            .expect("token");
        (
            secret,
            securescore::graphql::ids::encode("ApiToken", token.id).to_string(),
            securescore::graphql::ids::encode("Principal", p.id).to_string(),
        )
    }

    /// The global id of the principal a token authenticates as (`viewer { id }`).
    pub async fn principal_id_of(&self, token: &str) -> String {
        let viewer = self.query_viewer(token, "id").payload().await;
        viewer["id"].as_str().expect("viewer id").to_string()
    }
}

/// Runs the built binary against a database; returns (success, stdout, stderr).
pub fn run_cli(url: &str, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_securescore"))
        .args([
            "--database-url",
            url,
            "--log-filter",
            "warn",
            "--seed-demo",
            "false",
        ])
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes a snapshot of `current` out of `max` (storage units, all in IDENTITY) for `day`
/// straight into the database, with `source` (`COMPUTED` or `IMPORTED`), as if a job or an
/// import had written it.
pub async fn insert_flat_snapshot(
    app: &TestApp,
    tenant_id: i64,
    day: chrono::NaiveDate,
    current: i64,
    max: i64,
    source: &str,
) {
    use entity::score_snapshot;
    use entity::types::{CategoryFigure, CategoryFigures, StatusCounts};
    use sea_orm::{ActiveModelTrait, Set};
    score_snapshot::ActiveModel {
        tenant_id: Set(tenant_id),
        day: Set(day),
        max_score: Set(max),
        current: Set(current),
        planned: Set(current),
        current_license: Set(max),
        achievable: Set(max),
        verified: Set(current),
        categories: Set(CategoryFigures(vec![CategoryFigure {
            category: "IDENTITY".into(),
            max_score: max,
            current,
            planned: current,
            current_license: max,
            achievable: max,
            verified: current,
        }])),
        status_counts: Set(StatusCounts::default()),
        source: Set(source.to_string()),
        vendor_current_score: Set(None),
        vendor_max_score: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .expect("snapshot inserted");
}

/// A COMPUTED snapshot of `pct` % (points out of 100, all in IDENTITY), written directly.
pub async fn insert_percentage_snapshot(app: &TestApp, tenant_id: i64, day: chrono::NaiveDate, pct: f64) {
    let current = (pct * 10_000.0).round() as i64;
    insert_flat_snapshot(app, tenant_id, day, current, 1_000_000, "COMPUTED").await;
}
