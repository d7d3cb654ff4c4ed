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

    /// Seed demo tenants on first start with an empty database.
    #[arg(long, env = "SEED_DEMO", default_value_t = true, action = clap::ArgAction::Set)]
    pub seed_demo: bool,

    /// Maximum database connections in the pool.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// Maximum request body size in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,

    /// Maximum GraphQL query depth.
    #[arg(long, env = "MAX_QUERY_DEPTH", default_value_t = 15)]
    pub max_query_depth: usize,

    /// Maximum GraphQL query complexity.
    #[arg(long, env = "MAX_QUERY_COMPLEXITY", default_value_t = 5_000)]
    pub max_query_complexity: usize,

    /// Maximum aliased fields in one GraphQL document (1,000 aliases of a cheap field would
    /// otherwise pass the complexity limit while doing 1,000 times the work).
    #[arg(long, env = "MAX_ALIASES", default_value_t = 100)]
    pub max_aliases: usize,

    /// Maximum field selections written in one GraphQL document, counted before execution.
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
}

impl Config {
    /// The base URL for links this server hands out, without a trailing slash.
    pub fn public_base_url(&self) -> String {
        match &self.public_base_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen_addr),
        }
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
        if self.db_max_connections == 0 {
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
        Ok(())
    }

    /// A configuration for tests and tools: the defaults with another database and port 0.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        let cli = Cli::parse_from(["securescore"]);
        Config {
            database_url: database_url.into(),
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed_demo: false,
            ..cli.config
        }
    }

    /// Whether the database is SQLite.
    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
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
            .field("seed_demo", &self.seed_demo)
            .field("db_max_connections", &self.db_max_connections)
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
    fn rejects_an_unknown_database_scheme_naming_the_variable() {
        let mut c = Config::for_database("mysql://x");
        let err = c.validate().unwrap_err();
        assert!(err.contains("DATABASE_URL"), "{err}");
        c.database_url = "sqlite::memory:".into();
        assert!(c.validate().is_ok());
    }
}
