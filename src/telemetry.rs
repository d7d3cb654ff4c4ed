//! Tracing set-up: logs filtered by `LOG_FILTER`, written as `LOG_FORMAT` says (human-readable
//! lines, coloured only on a terminal, or one JSON object per line), and what a request's span
//! records about it: the GraphQL operation and the tenant it addressed, for the access line that
//! `http` writes when the response leaves.

use crate::config::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (tests) are ignored.
pub fn init(filter: &str) {
    init_with(filter, LogFormat::Pretty);
}

/// [`init`] with a format.
pub fn init_with(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match format {
        LogFormat::Pretty => builder.with_ansi(std::io::stdout().is_terminal()).try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// Records on the current request span the GraphQL operation it runs (its name, or `-` for an
/// anonymous one). Outside a request span this does nothing.
pub fn record_operation(name: Option<&str>) {
    tracing::Span::current().record("operation", name.unwrap_or("-"));
}

/// Records on the current request span the tenant it addresses (by slug). A request that
/// addresses several keeps the last one.
pub fn record_tenant(slug: &str) {
    tracing::Span::current().record("tenant", slug);
}
