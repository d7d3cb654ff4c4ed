//! Configuration: one struct, read from command-line flags and environment variables, with
//! defaults that make `cargo run` useful on a fresh machine. Every variable is listed in README.

use clap::{Args, Parser, Subcommand};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The `securescore` command line.
#[derive(Debug, Parser)]
#[command(
    name = "securescore",
    version,
    about = "Security posture score service (GraphQL)"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do; without a subcommand the server runs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, seed it on first start and serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a tenant and a first admin token for it, print the token and exit.
    CreateTenant(CreateTenantArgs),
    /// Create a SERVICE_ADMIN principal (creates tenants, grants roles on any tenant, manages the
    /// service catalog) and print its token once.
    CreateServiceAdmin(CreateServiceAdminArgs),
    /// Upsert service-catalog controls (and licence SKUs) from JSON files, validated like the
    /// catalog mutations, in one transaction; print what changed.
    LoadCatalog(LoadCatalogArgs),
    /// Write daily score snapshots (and cohort aggregates) for a past day or a range of days.
    Snapshot(SnapshotArgs),
    /// Import Microsoft Graph Secure Score exports (files) into a tenant and print the report.
    ImportGraph(ImportGraphArgs),
    /// Seed a large synthetic data set for load tests (tenants × controls × days of history) and
    /// print the token of an MSP principal holding OPERATOR on every tenant.
    SeedScale(SeedScaleArgs),
    /// Create, list or revoke a tenant's API tokens, as the installation's operator (SERVICE_ADMIN
    /// rights; recorded in the audit log as `command line`).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Give an existing principal a role on a tenant, or change it (SERVICE_ADMIN rights).
    Grant(GrantArgs),
}

/// `securescore token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a principal with a role on the tenant and a token for it; print the secret once.
    Create(TokenCreateArgs),
    /// List the tokens of the principals holding a role on the tenant (never their secrets).
    List(TokenListArgs),
    /// Revoke a token by its number (the `id` column of `token list`); it stops working at once.
    Revoke(TokenRevokeArgs),
}

/// Arguments of `securescore token create`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// Slug of the tenant.
    #[arg(long)]
    pub tenant: String,
    /// Role of the token's principal on the tenant: READER, OPERATOR or ADMIN.
    #[arg(long, value_parser = parse_role)]
    pub role: crate::domain::enums::Role,
    /// Name of the token (shown in lists and in the audit log).
    #[arg(long)]
    pub name: String,
    /// Name of the principal the token authenticates as; defaults to the token's name.
    #[arg(long)]
    pub principal: Option<String>,
    /// When the token stops working (RFC 3339, e.g. `2027-01-31T00:00:00Z`); never by default.
    #[arg(long)]
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Arguments of `securescore token list`.
#[derive(Debug, Args)]
pub struct TokenListArgs {
    /// Slug of the tenant.
    #[arg(long)]
    pub tenant: String,
}

/// Arguments of `securescore token revoke`.
#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    /// The token's number, as `token list` prints it.
    pub id: i64,
}

/// Arguments of `securescore grant`.
#[derive(Debug, Args)]
pub struct GrantArgs {
    /// Slug of the tenant.
    #[arg(long)]
    pub tenant: String,
    /// The principal's number (`principal` column of `token list`).
    #[arg(long)]
    pub principal: i64,
    /// The role: READER, OPERATOR or ADMIN.
    #[arg(long, value_parser = parse_role)]
    pub role: crate::domain::enums::Role,
}

/// A tenant role from the command line, in any letter case.
fn parse_role(value: &str) -> Result<crate::domain::enums::Role, String> {
    value
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| format!("unknown role {value:?} (READER, OPERATOR or ADMIN)"))
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event; coloured only when standard output is a terminal.
    Pretty,
    /// One JSON object per line, with the fields of the request span (for log collectors).
    Json,
}

/// Arguments of `securescore seed-scale`.
#[derive(Debug, Args)]
pub struct SeedScaleArgs {
    /// Number of tenants (`scale-00001` …).
    #[arg(long, default_value_t = 1000)]
    pub tenants: usize,
    /// Controls (and actions) per tenant: the catalog plus synthetic controls up to this count.
    #[arg(long, default_value_t = 250)]
    pub controls: usize,
    /// Days of daily score snapshots before today.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// Seed of the random generator (the same seed gives the same data).
    #[arg(long, default_value_t = 8)]
    pub seed: u64,
    /// Also write the MSP token to this file (mode 0600).
    #[arg(long)]
    pub tokens_file: Option<PathBuf>,
}

/// Arguments of `securescore snapshot`. Without options: yesterday (today is always served live).
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The past UTC day to snapshot (YYYY-MM-DD); defaults to yesterday.
    #[arg(long, conflicts_with = "backfill_from")]
    pub date: Option<chrono::NaiveDate>,
    /// Backfill every day from this one (YYYY-MM-DD), reconstructing each from the event log.
    #[arg(long)]
    pub backfill_from: Option<chrono::NaiveDate>,
    /// Last day of a backfill (inclusive); defaults to yesterday.
    #[arg(long, requires = "backfill_from")]
    pub to: Option<chrono::NaiveDate>,
}

/// Arguments of `securescore create-tenant`.
#[derive(Debug, Args)]
pub struct CreateTenantArgs {
    /// Unique slug (lowercase letters, digits and dashes).
    #[arg(long)]
    pub slug: String,
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// Industry code, e.g. `finance`.
    #[arg(long, default_value = "other")]
    pub industry: String,
    /// Licensed users.
    #[arg(long, default_value_t = 100)]
    pub seats: i64,
    /// Product families the tenant uses, comma separated (e.g. `AzureAD,EXO,MDO`).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "AzureAD,EXO,MDO,SPO,MS Teams,Intune,MDATP"
    )]
    pub services: Vec<String>,
    /// Name of the admin principal that owns the token.
    #[arg(long, default_value = "admin")]
    pub admin_name: String,
}

/// Arguments of `securescore create-service-admin`.
#[derive(Debug, Args)]
pub struct CreateServiceAdminArgs {
    /// Name of the principal (e.g. the operator's name).
    #[arg(long)]
    pub name: String,
}

/// Arguments of `securescore load-catalog`.
#[derive(Debug, Args)]
pub struct LoadCatalogArgs {
    /// Controls in the format of `data/controls.json`.
    pub controls: PathBuf,
    /// Licence SKUs in the format of `data/licenses.json`.
    #[arg(long)]
    pub licenses: Option<PathBuf>,
}

/// Arguments of `securescore import-graph`.
#[derive(Debug, Args)]
pub struct ImportGraphArgs {
    /// Slug of the tenant to import into.
    #[arg(long)]
    pub tenant: String,
    /// The body of `GET /security/secureScores` saved as a file.
    #[arg(long)]
    pub scores: PathBuf,
    /// Pages of `GET /security/secureScoreControlProfiles` saved as files (repeatable).
    #[arg(long = "profiles", num_args = 1..)]
    pub profiles: Vec<PathBuf>,
    /// Report what would change without writing anything.
    #[arg(long)]
    pub dry_run: bool,
}

/// Server configuration.
#[derive(Clone, Args)]
pub struct Config {
    /// Database URL: `sqlite://FILE?mode=rwc` (embedded, WAL mode) or `postgres://…`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://securescore.db?mode=rwc"
    )]
    pub database_url: String,

    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8000")]
    pub listen_addr: SocketAddr,

    /// Base URL under which users reach this server (used in share links). Defaults to
    /// `http://LISTEN_ADDR`.
    #[arg(long, env = "PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,

    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "LOG_FILTER", default_value = "info,sqlx=warn,sea_orm=warn")]
    pub log_filter: String,

    /// Log format: `pretty` (coloured only on a terminal) or `json` (one object per line).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// Origins (scheme://host[:port], comma separated) whose browser pages may call the API
    /// (CORS); `*` allows any origin. None by default: only same-origin pages and non-browser
    /// clients.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,

    /// Seed demo tenants on first start with an empty database.
    #[arg(long, env = "SEED_DEMO", default_value_t = true, action = clap::ArgAction::Set)]
    pub seed_demo: bool,

    /// Maximum database connections in the pool (default: 4 on SQLite, whose single writer and
    /// in-process reads gain nothing from more on a small machine, 16 on PostgreSQL).
    #[arg(long, env = "DB_MAX_CONNECTIONS")]
    pub db_max_connections: Option<u32>,

    /// Memory, in MiB, each server process may spend on computed tenant states (validated
    /// against the database on every use; least recently used evicted; 0 disables the cache).
    /// Never needed for correctness: a state not cached is read from its persisted row.
    #[arg(long, env = "STATE_CACHE_MIB", default_value_t = 32)]
    pub state_cache_mib: usize,

    /// Maximum request body size in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,

    /// Maximum depth of a GraphQL query's data fields, fragments expanded (the deepest documented
    /// query nests 6 levels). Introspection has its own limit, `MAX_INTROSPECTION_DEPTH`.
    #[arg(long, env = "MAX_QUERY_DEPTH", default_value_t = 10)]
    pub max_query_depth: usize,

    /// Maximum GraphQL query complexity.
    #[arg(long, env = "MAX_QUERY_COMPLEXITY", default_value_t = 5_000)]
    pub max_query_complexity: usize,

    /// Maximum aliased fields in one GraphQL operation, counted with fragments expanded (1,000
    /// aliases of a cheap field would otherwise pass the complexity limit while doing 1,000 times
    /// the work; the documented queries use at most 6).
    #[arg(long, env = "MAX_ALIASES", default_value_t = 15)]
    pub max_aliases: usize,

    /// Maximum field selections in one GraphQL operation, fragments expanded, counted before
    /// execution.
    #[arg(long, env = "MAX_SELECTIONS", default_value_t = 1_000)]
    pub max_selections: usize,

    /// Maximum size of one GraphQL query string in bytes.
    #[arg(long, env = "MAX_DOCUMENT_BYTES", default_value_t = 65_536)]
    pub max_document_bytes: usize,

    /// Maximum operations in one batched request.
    #[arg(long, env = "MAX_BATCH", default_value_t = 10)]
    pub max_batch: usize,

    /// Whether introspection (`__schema`, `__type`) is answered.
    #[arg(long, env = "ALLOW_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub allow_introspection: bool,

    /// Requests per minute one API token may make. The bucket lives in each server process, so
    /// with N processes behind a load balancer the effective limit is up to N times this.
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", default_value_t = 6_000)]
    pub rate_limit_per_minute: u32,

    /// Requests one API token may make in a burst above the steady rate.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 300)]
    pub rate_limit_burst: u32,

    /// File where the first start saves the demo tokens it prints (mode 0600), because only their
    /// hashes are stored; later starts print it again.
    #[arg(long, env = "DEMO_TOKENS_FILE", default_value = "securescore-demo-tokens.txt")]
    pub demo_tokens_file: PathBuf,

    /// Days of daily snapshots (and cohort aggregates) kept; the snapshot job deletes older ones.
    #[arg(long, env = "SNAPSHOT_RETENTION_DAYS", default_value_t = 400)]
    pub snapshot_retention_days: u32,

    /// Run the background jobs in this process: the expiry and reminder sweeps, the snapshot job,
    /// the scheduled Graph sync and webhook delivery. Each is safe to run in every process (they
    /// coordinate through the database); `false` makes an API-only process, for deployments where
    /// other processes run them. Expiry is applied on every read and write either way.
    #[arg(long, env = "BACKGROUND_JOBS", default_value_t = true, action = clap::ArgAction::Set)]
    pub background_jobs: bool,

    /// Seconds between runs of the snapshot job (each run snapshots the days that ended and are
    /// not done yet; several server processes coordinate through the database); 0 turns it off.
    #[arg(long, env = "SNAPSHOT_INTERVAL_SECS", default_value_t = 600)]
    pub snapshot_interval_secs: u64,

    /// Fewest tenants (besides the asker) a comparison cohort needs to be answered.
    #[arg(long, env = "COHORT_MIN_SIZE", default_value_t = 5)]
    pub cohort_min_size: usize,

    /// Largest Microsoft Graph import accepted, in bytes (both documents together). Checked by
    /// the import itself, so it also holds for the CLI and when MAX_BODY_BYTES is larger.
    #[arg(long, env = "IMPORT_MAX_BYTES", default_value_t = 16 * 1_048_576)]
    pub import_max_bytes: usize,

    /// Base URL of Microsoft Graph for the scheduled sync.
    #[arg(
        long,
        env = "GRAPH_BASE_URL",
        default_value = "https://graph.microsoft.com/v1.0"
    )]
    pub graph_base_url: String,

    /// OAuth2 token endpoint for the scheduled sync; `{tenant}` is replaced by the Azure tenant id.
    #[arg(
        long,
        env = "GRAPH_TOKEN_URL",
        default_value = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
    )]
    pub graph_token_url: String,

    /// Seconds between scheduled Graph syncs of the tenants that enabled one; 0 turns the
    /// background task off.
    #[arg(long, env = "GRAPH_SYNC_INTERVAL_SECS", default_value_t = 86_400)]
    pub graph_sync_interval_secs: u64,

    /// Privacy budget ε of comparison noise per cohort cell and day (split over the count, the
    /// mean, the quartile histogram and the category averages; see README). Smaller is more
    /// private and noisier.
    #[arg(long, env = "COMPARISON_EPSILON", default_value_t = 1.0)]
    pub comparison_epsilon: f64,

    /// Secret that fixes comparison noise per cell and day (any string; keep it private). When
    /// unset, one is generated at first use and stored in the database, so every server process
    /// on the database shares it.
    #[arg(long, env = "COMPARISON_NOISE_SECRET")]
    pub comparison_noise_secret: Option<String>,

    // Hardening (issue 14): live authorisation and request limits.
    /// Maximum depth of an introspection query (`__schema`, `__type`); GraphiQL's and
    /// graphql-js's standard introspection query nests 15 levels.
    #[arg(long, env = "MAX_INTROSPECTION_DEPTH", default_value_t = 15)]
    pub max_introspection_depth: usize,
    /// Maximum size of a request's `variables`, in bytes of JSON.
    #[arg(long, env = "MAX_VARIABLES_BYTES", default_value_t = 65_536)]
    pub max_variables_bytes: usize,
    /// GraphQL requests per minute one client address may make without a valid token (no token,
    /// or one that is unknown, expired or revoked); per server process.
    #[arg(long, env = "ANON_RATE_LIMIT_PER_MINUTE", default_value_t = 300)]
    pub anon_rate_limit_per_minute: u32,
    /// Such requests one client address may make in a burst above the steady rate.
    #[arg(long, env = "ANON_RATE_LIMIT_BURST", default_value_t = 100)]
    pub anon_rate_limit_burst: u32,
    /// Take the client address from the last `X-Forwarded-For` entry (the address the proxy in
    /// front of the server saw) instead of the socket. Only behind a proxy that sets it.
    #[arg(long, env = "TRUST_FORWARDED_FOR", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_forwarded_for: bool,
    /// Milliseconds between re-checks of a running subscription's token and role (a revoked or
    /// expired token or a removed role ends the subscription within this time).
    #[arg(long, env = "SUBSCRIPTION_RECHECK_MS", default_value_t = 2_000)]
    pub subscription_recheck_ms: u64,
    /// Milliseconds a client has to send a complete request head (request line and headers) once
    /// it started sending one; slower clients are disconnected.
    #[arg(long, env = "HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_read_timeout_ms: u64,
    /// Milliseconds an HTTP connection may do nothing before the server closes it: with no request
    /// in progress (a new one that sent nothing yet, or a keep-alive one between requests), or
    /// waiting for the client to read a response (no write to it making progress; that one is
    /// reset). A client reading slowly but steadily is never cut.
    #[arg(long, env = "IDLE_TIMEOUT_MS", default_value_t = 75_000)]
    pub idle_timeout_ms: u64,
    /// Most client connections (HTTP and WebSocket) open at once; a connection beyond it is
    /// answered `503 Service Unavailable` with `Retry-After` and closed.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 4_096)]
    pub max_connections: usize,
    /// Milliseconds a WebSocket has to send `connection_init` after it opens; then it is closed
    /// with code 4408 (the graphql-transport-ws "Connection initialisation timeout").
    #[arg(long, env = "WS_INIT_TIMEOUT_MS", default_value_t = 10_000)]
    pub ws_init_timeout_ms: u64,
    /// Milliseconds a WebSocket client may take to accept a message the server sends (a
    /// subscriber that stops reading); then the connection is closed with code 1008 and a reason.
    #[arg(long, env = "WS_SEND_TIMEOUT_MS", default_value_t = 10_000)]
    pub ws_send_timeout_ms: u64,
    /// Milliseconds a shutdown (SIGTERM/SIGINT) waits for requests in progress to finish before
    /// it closes the connections left; WebSockets are closed at once with code 1001.
    #[arg(long, env = "SHUTDOWN_DRAIN_MS", default_value_t = 20_000)]
    pub shutdown_drain_ms: u64,
    /// Milliseconds `/readyz` waits for the database to answer before it says not ready.
    #[arg(long, env = "READY_TIMEOUT_MS", default_value_t = 1_000)]
    pub ready_timeout_ms: u64,
    /// Milliseconds a request waits for a database connection from the pool (while the database
    /// cannot be reached, how long before the request fails with SERVICE_UNAVAILABLE).
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_MS", default_value_t = 5_000)]
    pub db_acquire_timeout_ms: u64,

    // Webhooks (issue 19).
    /// Key the webhook signing secrets are derived from (any string; keep it private). When
    /// unset, one is generated at first use and stored in the database, so every server process
    /// on the database shares it. Changing it invalidates every endpoint's secret.
    #[arg(long, env = "WEBHOOK_SIGNING_KEY")]
    pub webhook_signing_key: Option<String>,
    /// Allow webhook endpoints with `http:` URLs and private, loopback or link-local addresses
    /// (tests and closed networks only; production refuses them at registration and at each send).
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE_TARGETS", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private_targets: bool,
    /// Milliseconds between two looks of the delivery worker for due webhook deliveries.
    #[arg(long, env = "WEBHOOK_POLL_MS", default_value_t = 500)]
    pub webhook_poll_ms: u64,
    /// Milliseconds before the first retry of a failed delivery (the base of the exponential
    /// backoff, doubled per attempt, with jitter between half and all of it).
    #[arg(long, env = "WEBHOOK_RETRY_BASE_MS", default_value_t = 10_000)]
    pub webhook_retry_base_ms: u64,
    /// Longest wait between two attempts of a delivery, in milliseconds.
    #[arg(long, env = "WEBHOOK_RETRY_MAX_MS", default_value_t = 3_600_000)]
    pub webhook_retry_max_ms: u64,
    /// Seconds after its creation a delivery is retried; then it is FAILED.
    #[arg(long, env = "WEBHOOK_RETRY_WINDOW_SECS", default_value_t = 90_000)]
    pub webhook_retry_window_secs: u64,
    /// Milliseconds one delivery attempt may take in all (connecting at most 5 s of it).
    #[arg(long, env = "WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,
    /// Failed deliveries in a row after which an endpoint is paused (when they also span
    /// WEBHOOK_PAUSE_AFTER_SECS).
    #[arg(long, env = "WEBHOOK_PAUSE_AFTER_FAILURES", default_value_t = 20)]
    pub webhook_pause_after_failures: u32,
    /// Seconds the failures in a row must span before an endpoint is paused.
    #[arg(long, env = "WEBHOOK_PAUSE_AFTER_SECS", default_value_t = 3_600)]
    pub webhook_pause_after_secs: u64,
    /// Most days ahead a risk acceptance's `reviewBy` may be (`requestRiskAcceptance`): every
    /// accepted risk is reviewed at least this often.
    #[arg(long, env = "RISK_ACCEPTANCE_MAX_DAYS", default_value_t = 365)]
    pub risk_acceptance_max_days: u32,
}

impl Config {
    /// The base URL for links this server hands out, without a trailing slash.
    pub fn public_base_url(&self) -> String {
        match &self.public_base_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen_addr),
        }
    }

    /// The pool size: `DB_MAX_CONNECTIONS`, or the default for the database in `DATABASE_URL`.
    pub fn pool_size(&self) -> u32 {
        self.db_max_connections
            .unwrap_or(if self.is_sqlite() { 4 } else { 16 })
    }

    /// Checks what clap cannot: the values' meaning. Errors name the variable.
    pub fn validate(&self) -> Result<(), String> {
        let url = self.database_url.as_str();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(format!(
                "DATABASE_URL must start with sqlite:, postgres:// or postgresql:// (got {})",
                redact_url(url)
            ));
        }
        if let Some(base) = &self.public_base_url
            && !(base.starts_with("http://") || base.starts_with("https://"))
        {
            return Err(format!("PUBLIC_BASE_URL must be an http(s) URL (got {base})"));
        }
        if self.db_max_connections == Some(0) {
            return Err("DB_MAX_CONNECTIONS must be at least 1".into());
        }
        if self.max_body_bytes < 1024 {
            return Err("MAX_BODY_BYTES must be at least 1024".into());
        }
        if self.rate_limit_per_minute == 0 || self.rate_limit_burst == 0 {
            return Err("RATE_LIMIT_PER_MINUTE and RATE_LIMIT_BURST must be at least 1".into());
        }
        if self.max_batch == 0 || self.max_document_bytes == 0 {
            return Err("MAX_BATCH and MAX_DOCUMENT_BYTES must be at least 1".into());
        }
        if self.anon_rate_limit_per_minute == 0 || self.anon_rate_limit_burst == 0 {
            return Err("ANON_RATE_LIMIT_PER_MINUTE and ANON_RATE_LIMIT_BURST must be at least 1".into());
        }
        for (name, value) in [
            ("HEADER_READ_TIMEOUT_MS", self.header_read_timeout_ms),
            ("IDLE_TIMEOUT_MS", self.idle_timeout_ms),
            ("WS_INIT_TIMEOUT_MS", self.ws_init_timeout_ms),
            ("WS_SEND_TIMEOUT_MS", self.ws_send_timeout_ms),
            ("READY_TIMEOUT_MS", self.ready_timeout_ms),
            ("DB_ACQUIRE_TIMEOUT_MS", self.db_acquire_timeout_ms),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if self.webhook_signing_key.as_deref() == Some("") {
            return Err("WEBHOOK_SIGNING_KEY must not be empty (unset it to generate one)".into());
        }
        for (name, value) in [
            ("WEBHOOK_POLL_MS", self.webhook_poll_ms),
            ("WEBHOOK_RETRY_BASE_MS", self.webhook_retry_base_ms),
            ("WEBHOOK_RETRY_WINDOW_SECS", self.webhook_retry_window_secs),
            ("WEBHOOK_TIMEOUT_MS", self.webhook_timeout_ms),
            (
                "WEBHOOK_PAUSE_AFTER_FAILURES",
                u64::from(self.webhook_pause_after_failures),
            ),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if self.webhook_retry_max_ms < self.webhook_retry_base_ms {
            return Err("WEBHOOK_RETRY_MAX_MS must be at least WEBHOOK_RETRY_BASE_MS".into());
        }
        if self.max_connections == 0 {
            return Err("MAX_CONNECTIONS must be at least 1".into());
        }
        if self.subscription_recheck_ms == 0 {
            return Err("SUBSCRIPTION_RECHECK_MS must be at least 1".into());
        }
        if self.snapshot_retention_days < 2 {
            return Err("SNAPSHOT_RETENTION_DAYS must be at least 2".into());
        }
        if self.cohort_min_size == 0 {
            return Err("COHORT_MIN_SIZE must be at least 1".into());
        }
        if !(self.comparison_epsilon.is_finite() && self.comparison_epsilon > 0.0) {
            return Err("COMPARISON_EPSILON must be a positive number".into());
        }
        if self.comparison_noise_secret.as_deref() == Some("") {
            return Err("COMPARISON_NOISE_SECRET must not be empty (unset it to generate one)".into());
        }
        for origin in &self.cors_allowed_origins {
            if !is_origin(origin) {
                return Err(format!(
                    "CORS_ALLOWED_ORIGINS takes origins like https://dashboard.example.com (scheme, host and an optional port, no path), or *; got {origin:?}"
                ));
            }
        }
        if self.import_max_bytes < 1024 {
            return Err("IMPORT_MAX_BYTES must be at least 1024".into());
        }
        if !(1..=3650).contains(&self.risk_acceptance_max_days) {
            return Err("RISK_ACCEPTANCE_MAX_DAYS must be 1 to 3650".into());
        }
        for (name, url) in [
            ("GRAPH_BASE_URL", &self.graph_base_url),
            ("GRAPH_TOKEN_URL", &self.graph_token_url),
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("{name} must be an http(s) URL (got {url})"));
            }
        }
        Ok(())
    }

    /// A configuration for tests and tools: the defaults with another database, port 0, no demo
    /// and no background snapshot job.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        let cli = Cli::parse_from(["securescore"]);
        Config {
            database_url: database_url.into(),
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed_demo: false,
            // Tests drive the snapshot job with explicit dates; a timer racing them would not help.
            snapshot_interval_secs: 0,
            ..cli.config
        }
    }

    /// Whether the database is SQLite.
    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

/// Whether `value` is `*` or an origin as browsers send it: `http(s)://host[:port]`, nothing
/// before or after (a browser compares the `Origin` header byte for byte).
fn is_origin(value: &str) -> bool {
    if value == "*" {
        return true;
    }
    let Ok(url) = url::Url::parse(value) else {
        return false;
    };
    matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none()
        && url.path() == "/"
        && !value.ends_with('/')
        && url.origin().ascii_serialization() == value
}

/// Hides the password of a database URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("listen_addr", &self.listen_addr)
            .field("public_base_url", &self.public_base_url)
            .field("log_filter", &self.log_filter)
            .field("log_format", &self.log_format)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .field("seed_demo", &self.seed_demo)
            .field("db_max_connections", &self.db_max_connections)
            .field("state_cache_mib", &self.state_cache_mib)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_query_depth", &self.max_query_depth)
            .field("max_query_complexity", &self.max_query_complexity)
            .field("demo_tokens_file", &self.demo_tokens_file)
            .field("max_aliases", &self.max_aliases)
            .field("max_selections", &self.max_selections)
            .field("max_document_bytes", &self.max_document_bytes)
            .field("max_batch", &self.max_batch)
            .field("allow_introspection", &self.allow_introspection)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("rate_limit_burst", &self.rate_limit_burst)
            .field("snapshot_retention_days", &self.snapshot_retention_days)
            .field("background_jobs", &self.background_jobs)
            .field("snapshot_interval_secs", &self.snapshot_interval_secs)
            .field("cohort_min_size", &self.cohort_min_size)
            .field("import_max_bytes", &self.import_max_bytes)
            .field("graph_base_url", &self.graph_base_url)
            .field("graph_token_url", &self.graph_token_url)
            .field("graph_sync_interval_secs", &self.graph_sync_interval_secs)
            .field("comparison_epsilon", &self.comparison_epsilon)
            .field(
                "comparison_noise_secret",
                &self.comparison_noise_secret.as_ref().map(|_| "***"),
            )
            .field("max_introspection_depth", &self.max_introspection_depth)
            .field("max_variables_bytes", &self.max_variables_bytes)
            .field("anon_rate_limit_per_minute", &self.anon_rate_limit_per_minute)
            .field("anon_rate_limit_burst", &self.anon_rate_limit_burst)
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .field("subscription_recheck_ms", &self.subscription_recheck_ms)
            .field("header_read_timeout_ms", &self.header_read_timeout_ms)
            .field("idle_timeout_ms", &self.idle_timeout_ms)
            .field("max_connections", &self.max_connections)
            .field("ws_init_timeout_ms", &self.ws_init_timeout_ms)
            .field("ws_send_timeout_ms", &self.ws_send_timeout_ms)
            .field("shutdown_drain_ms", &self.shutdown_drain_ms)
            .field("ready_timeout_ms", &self.ready_timeout_ms)
            .field("db_acquire_timeout_ms", &self.db_acquire_timeout_ms)
            .field(
                "webhook_signing_key",
                &self.webhook_signing_key.as_ref().map(|_| "***"),
            )
            .field(
                "webhook_allow_private_targets",
                &self.webhook_allow_private_targets,
            )
            .field("webhook_poll_ms", &self.webhook_poll_ms)
            .field("webhook_retry_base_ms", &self.webhook_retry_base_ms)
            .field("webhook_retry_max_ms", &self.webhook_retry_max_ms)
            .field("webhook_retry_window_secs", &self.webhook_retry_window_secs)
            .field("webhook_timeout_ms", &self.webhook_timeout_ms)
            .field("webhook_pause_after_failures", &self.webhook_pause_after_failures)
            .field("webhook_pause_after_secs", &self.webhook_pause_after_secs)
            .field("risk_acceptance_max_days", &self.risk_acceptance_max_days)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_the_password_of_a_database_url() {
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn the_pool_size_defaults_by_database_and_can_be_set() {
        assert_eq!(Config::for_database("sqlite://x.db").pool_size(), 4);
        assert_eq!(Config::for_database("postgres://h/db").pool_size(), 16);
        let mut c = Config::for_database("sqlite://x.db");
        c.db_max_connections = Some(9);
        assert_eq!(c.pool_size(), 9);
        c.db_max_connections = Some(0);
        assert!(c.validate().unwrap_err().contains("DB_MAX_CONNECTIONS"));
    }

    #[test]
    fn cors_origins_are_checked_to_be_origins() {
        let mut c = Config::for_database("sqlite://x.db");
        for good in [
            "*",
            "https://dash.example.com",
            "http://localhost:5173",
            "http://127.0.0.1:8080",
        ] {
            c.cors_allowed_origins = vec![good.into()];
            assert!(c.validate().is_ok(), "{good}");
        }
        for bad in [
            "dash.example.com",
            "https://dash.example.com/",
            "https://x.com/app",
            "ftp://x.com",
            "https://",
            "http://x:",
            "http://x:port",
        ] {
            c.cors_allowed_origins = vec![bad.into()];
            let err = c.validate().unwrap_err();
            assert!(err.contains("CORS_ALLOWED_ORIGINS"), "{bad}: {err}");
        }
    }

    #[test]
    fn roles_parse_in_any_case_and_unknown_ones_are_named() {
        assert_eq!(parse_role("reader"), Ok(crate::domain::enums::Role::Reader));
        assert_eq!(parse_role("ADMIN"), Ok(crate::domain::enums::Role::Admin));
        assert!(
            parse_role("owner")
                .unwrap_err()
                .contains("READER, OPERATOR or ADMIN")
        );
    }

    #[test]
    fn rejects_an_unknown_database_scheme_naming_the_variable() {
        let mut c = Config::for_database("mysql://x");
        let err = c.validate().unwrap_err();
        assert!(err.contains("DATABASE_URL"), "{err}");
        c.database_url = "sqlite::memory:".into();
        assert!(c.validate().is_ok());
    }
}
