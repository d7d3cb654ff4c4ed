//! Request metrics recorded by the GraphQL pipeline (`graphql::pipeline`; see `crate::metrics`):
//! one count and one latency sample per executed operation, labelled with its operation name and
//! outcome, and one count per returned error by code. Subscriptions are counted by
//! `crate::metrics::SubscriptionGauge` instead, since a stream has no single latency.

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument};
use async_graphql::{Response, Value};
use std::time::Duration;

/// Code of errors async-graphql raises itself (syntax, validation) without one of ours.
const UNCODED_REQUEST_ERROR: &str = "GRAPHQL_VALIDATION_FAILED";
/// Code of errors raised while executing without a code (none are expected: `AppError` always
/// sets one).
const UNCODED_FIELD_ERROR: &str = "UNCLASSIFIED";

/// The operation a request names, or the name of the one operation of its document.
pub fn operation_name(requested: Option<&str>, doc: Option<&ExecutableDocument>) -> Option<String> {
    if let Some(name) = requested {
        return Some(name.to_string());
    }
    match doc.map(|d| &d.operations) {
        Some(DocumentOperations::Multiple(ops)) if ops.len() == 1 => ops.keys().next().map(|n| n.to_string()),
        _ => None,
    }
}

/// Records one executed (or refused) request: its count and latency by operation and outcome
/// (the first error's code, or `ok`), and one count per error code.
pub fn record(operation: Option<&str>, response: &Response, elapsed: Duration) {
    let codes: Vec<&str> = response
        .errors
        .iter()
        .map(|e| {
            let code = e.extensions.as_ref().and_then(|x| x.get("code"));
            match code {
                Some(Value::String(code)) => code.as_str(),
                _ if e.path.is_empty() => UNCODED_REQUEST_ERROR,
                _ => UNCODED_FIELD_ERROR,
            }
        })
        .collect();
    let outcome = codes.first().copied().unwrap_or("ok");
    crate::metrics::record_request(operation, outcome, elapsed);
    for code in codes {
        crate::metrics::record_error(code);
    }
}
