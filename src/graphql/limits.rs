//! Limits enforced by the GraphQL pipeline (`graphql::pipeline`) before anything is executed, on
//! HTTP and on WebSocket alike; every refusal carries an `extensions.code`:
//!
//! - rate limits (`RATE_LIMITED`): per API token, and per client address for requests without a
//!   valid token (none, or an unknown, expired or revoked one);
//! - the size of `variables` (`BAD_REQUEST`): `MAX_VARIABLES_BYTES`, except for a document whose
//!   operations only call `importMicrosoftGraph`, whose input is a Graph export passed as
//!   variables and bounded by `IMPORT_MAX_BYTES` (the import also checks that bound itself);
//! - per operation, with fragments expanded (`QUERY_TOO_COMPLEX`): aliases, field selections,
//!   the depth of data fields and, separately, of introspection (GraphiQL's standard
//!   introspection query nests 15 levels, data queries far fewer);
//! - the parser's recursion limit and async-graphql's own depth and complexity limits, which
//!   report bare messages, get `QUERY_TOO_COMPLEX` too.
//!
//! Rate limiting uses in-memory token buckets per server process (governor's keyed limiter).
//! With several processes behind a load balancer the effective limit is the configured one per
//! process; that is acceptable because the limit protects capacity, not correctness.

use crate::auth::Viewer;
use crate::config::Config;
use crate::error::AppError;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensions, Name, Response, ServerError, ServerResult, Variables};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;

/// Past this many tracked keys, buckets that are full again are dropped to bound memory.
const RETAIN_THRESHOLD: usize = 10_000;

/// The limits of one server process; it owns the rate limiters shared by all its requests.
pub struct Limits {
    per_token: DefaultKeyedRateLimiter<i64>,
    /// Requests without a valid token, by client address ([`client_key`]).
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    max_aliases: usize,
    max_selections: usize,
    max_depth: usize,
    max_introspection_depth: usize,
    max_variables_bytes: usize,
    /// Variables allowed to an import (`IMPORT_MAX_BYTES` plus room for the rest of the input).
    max_import_variables_bytes: usize,
    /// `ALLOW_INTROSPECTION`.
    allow_introspection: bool,
}

/// Room for an import's other input fields next to the exports themselves.
const IMPORT_INPUT_SLACK: usize = 64 * 1024;

/// The mutation whose variables may be as large as `IMPORT_MAX_BYTES`.
const IMPORT_FIELD: &str = "importMicrosoftGraph";

fn quota(per_minute: u32, burst: u32) -> Quota {
    let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

impl Limits {
    pub fn new(config: &Config) -> Self {
        Limits {
            per_token: RateLimiter::keyed(quota(config.rate_limit_per_minute, config.rate_limit_burst)),
            per_address: RateLimiter::keyed(quota(
                config.anon_rate_limit_per_minute,
                config.anon_rate_limit_burst,
            )),
            max_aliases: config.max_aliases,
            max_selections: config.max_selections,
            max_depth: config.max_query_depth,
            max_introspection_depth: config.max_introspection_depth,
            max_variables_bytes: config.max_variables_bytes,
            max_import_variables_bytes: config
                .import_max_bytes
                .saturating_add(IMPORT_INPUT_SLACK)
                .max(config.max_variables_bytes),
            allow_introspection: config.allow_introspection,
        }
    }
}

/// A request-level error with a code (no path: nothing was executed).
/// A request error made from an `async_graphql::Error` (message and extensions, code included),
/// without locations: it concerns the whole request, not a place in the document (a location of
/// line 0, column 0 is not valid GraphQL).
pub fn request_error(err: async_graphql::Error) -> ServerError {
    let mut out = ServerError::new(err.message, None);
    out.extensions = err.extensions;
    out
}

fn refused(message: String, code: &'static str) -> ServerError {
    let mut err = ServerError::new(message, None);
    err.extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    err
}

/// The rate-limit key of a client address: IPv6 clients get a /64 each (one host usually holds
/// the whole /64), IPv4 clients their address.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

/// Takes one request from `key`'s bucket, or `RATE_LIMITED` with the seconds to wait.
fn take<K: Clone + Hash + Eq>(limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> ServerResult<()> {
    if limiter.len() > RETAIN_THRESHOLD {
        limiter.retain_recent();
    }
    match limiter.check_key(key) {
        Ok(()) => Ok(()),
        Err(not_until) => {
            let wait = not_until.wait_time_from(limiter.clock().now());
            let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            Err(request_error(
                AppError::RateLimited {
                    retry_after_secs: retry_after_secs.max(1),
                }
                .extend(),
            ))
        }
    }
}

/// Counts bytes written, to measure JSON without keeping it.
#[derive(Default)]
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Limits {
    /// Takes one request from the caller's bucket: the token's, or the client address's for a
    /// request without a valid token (which would only cost an authentication lookup, but must
    /// not be free to repeat, e.g. to guess tokens or share links). Without a known address
    /// (never on the HTTP and WebSocket endpoints) nothing is limited.
    pub fn check_rate(&self, viewer: &Result<Viewer, ()>, client: Option<IpAddr>) -> ServerResult<()> {
        match (viewer, client) {
            (Ok(viewer), _) => take(&self.per_token, &viewer.token_id),
            (Err(()), Some(ip)) => take(&self.per_address, &client_key(ip)),
            (Err(()), None) => Ok(()),
        }
    }

    /// With `ALLOW_INTROSPECTION=false`, refuses an operation that asks for `__schema` or
    /// `__type` with `INTROSPECTION_DISABLED` (async-graphql would answer `null` and no error).
    /// `__typename` stays allowed. Only the operation that runs is checked.
    pub fn check_introspection(&self, doc: &ExecutableDocument, operation: Option<&str>) -> ServerResult<()> {
        if self.allow_introspection {
            return Ok(());
        }
        let selected: Vec<&SelectionSet> = doc
            .operations
            .iter()
            .filter(|(name, _)| operation.is_none() || name.map(|n| n.as_str()) == operation)
            .map(|(_, op)| &op.node.selection_set.node)
            .collect();
        let mut seen = HashSet::new();
        if selected
            .into_iter()
            .any(|set| asks_introspection(doc, set, &mut seen))
        {
            return Err(refused(
                "introspection is disabled on this server (ALLOW_INTROSPECTION=false): `__schema` and `__type` are not answered; the schema is published as schema.graphql".to_string(),
                "INTROSPECTION_DISABLED",
            ));
        }
        Ok(())
    }

    /// The size limits of a parsed document and its variables.
    pub fn check_document(&self, doc: &ExecutableDocument, variables: &Variables) -> ServerResult<()> {
        self.check_size(doc)?;
        self.check_variables(doc, variables)
    }

    fn check_variables(&self, doc: &ExecutableDocument, variables: &Variables) -> ServerResult<()> {
        let max = if only_imports(doc) {
            self.max_import_variables_bytes
        } else {
            self.max_variables_bytes
        };
        let mut size = ByteCount::default();
        // Serialising a `Variables` value cannot fail (string keys, JSON values).
        let _ = serde_json::to_writer(&mut size, variables);
        if size.0 > max {
            return Err(refused(
                format!(
                    "the variables have {} bytes of JSON; at most {max} are allowed",
                    size.0
                ),
                "BAD_REQUEST",
            ));
        }
        Ok(())
    }

    fn check_size(&self, doc: &ExecutableDocument) -> ServerResult<()> {
        let mut measure = Measurer {
            doc,
            fragments: HashMap::new(),
            expanding: HashSet::new(),
        };
        for (_, op) in doc.operations.iter() {
            let m = measure.set(&op.node.selection_set.node);
            let checks = [
                (m.aliases, self.max_aliases, "uses", "aliases"),
                (m.fields, self.max_selections, "selects", "fields"),
                (m.depth, self.max_depth, "nests", "levels of fields"),
                (
                    m.introspection_depth,
                    self.max_introspection_depth,
                    "nests",
                    "levels of introspection",
                ),
            ];
            for (found, max, verb, what) in checks {
                if found > max {
                    return Err(refused(
                        format!(
                            "the query {verb} {found} {what} (fragments expanded); at most {max} are allowed"
                        ),
                        "QUERY_TOO_COMPLEX",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// What one selection set amounts to once its fragments are expanded.
#[derive(Clone, Copy, Default)]
struct Measure {
    fields: usize,
    aliases: usize,
    /// Depth of data fields.
    depth: usize,
    /// Depth of `__schema` and `__type` subtrees (counted from the operation's root, where those
    /// fields are).
    introspection_depth: usize,
}

/// Measures selection sets with fragments expanded. Each fragment is measured once and its
/// measure reused at every spread, so the work stays linear in the document's size while the
/// counts are what execution would meet (a fragment spread ten times counts ten times).
struct Measurer<'a> {
    doc: &'a ExecutableDocument,
    fragments: HashMap<&'a Name, Measure>,
    /// Fragments being measured: a cycle (refused later by validation) counts as nothing.
    expanding: HashSet<&'a Name>,
}

impl<'a> Measurer<'a> {
    fn set(&mut self, set: &'a SelectionSet) -> Measure {
        let mut total = Measure::default();
        let add = |total: &mut Measure, m: Measure| {
            total.fields = total.fields.saturating_add(m.fields);
            total.aliases = total.aliases.saturating_add(m.aliases);
            total.depth = total.depth.max(m.depth);
            total.introspection_depth = total.introspection_depth.max(m.introspection_depth);
        };
        for item in &set.items {
            let m = match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let inner = self.set(&field.selection_set.node);
                    let introspection = matches!(field.name.node.as_str(), "__schema" | "__type");
                    let below = inner.depth.max(inner.introspection_depth);
                    Measure {
                        fields: inner.fields.saturating_add(1),
                        aliases: inner.aliases + usize::from(field.alias.is_some()),
                        depth: if introspection { 0 } else { inner.depth + 1 },
                        introspection_depth: if introspection {
                            below + 1
                        } else {
                            inner.introspection_depth
                        },
                    }
                }
                Selection::InlineFragment(inline) => self.set(&inline.node.selection_set.node),
                Selection::FragmentSpread(spread) => self.fragment(&spread.node.fragment_name.node),
            };
            add(&mut total, m);
        }
        total
    }

    fn fragment(&mut self, name: &'a Name) -> Measure {
        if let Some(m) = self.fragments.get(name) {
            return *m;
        }
        let Some(fragment) = self.doc.fragments.get(name) else {
            return Measure::default();
        };
        if !self.expanding.insert(name) {
            return Measure::default();
        }
        let m = self.set(&fragment.node.selection_set.node);
        self.expanding.remove(name);
        self.fragments.insert(name, m);
        m
    }
}

/// Whether every operation of the document selects `importMicrosoftGraph` and nothing else (but
/// `__typename`) at its root.
fn only_imports(doc: &ExecutableDocument) -> bool {
    let mut roots = doc
        .operations
        .iter()
        .flat_map(|(_, op)| &op.node.selection_set.node.items);
    let mut imports = false;
    let all = roots.all(|item| match &item.node {
        Selection::Field(f) => match f.node.name.node.as_str() {
            IMPORT_FIELD => {
                imports = true;
                true
            }
            "__typename" => true,
            _ => false,
        },
        _ => false,
    });
    all && imports
}

/// Whether a root selection set selects `__schema` or `__type`, through fragments too.
fn asks_introspection<'a>(
    doc: &'a ExecutableDocument,
    set: &'a SelectionSet,
    seen: &mut HashSet<&'a str>,
) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(f) => matches!(f.node.name.node.as_str(), "__schema" | "__type"),
        Selection::InlineFragment(i) => asks_introspection(doc, &i.node.selection_set.node, seen),
        Selection::FragmentSpread(spread) => {
            let name = spread.node.fragment_name.node.as_str();
            seen.insert(name)
                && doc
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .is_some_and(|f| asks_introspection(doc, &f.node.selection_set.node, seen))
        }
    })
}

/// A document that does not parse, as a request error a person can act on: `GRAPHQL_PARSE_FAILED`,
/// the line and column, and what the parser expected there (not the parser's ASCII-art report).
pub fn parse_error(err: &async_graphql::parser::Error) -> ServerError {
    use async_graphql::parser::Error;
    let message = match err {
        Error::Syntax { message, start, .. } => {
            let expected = message
                .lines()
                .rev()
                .find_map(|line| line.trim_start().strip_prefix("= "))
                .unwrap_or("unexpected input")
                .trim();
            format!(
                "Syntax error at line {}, column {}: {expected}.",
                start.line, start.column
            )
        }
        other => format!("The document is not valid GraphQL: {other}."),
    };
    let mut out = ServerError::new(message, err.positions().next());
    out.extensions
        .get_or_insert_with(Default::default)
        .set("code", "GRAPHQL_PARSE_FAILED");
    out
}

/// Whether a parse error is the parser's (or async-graphql's) nesting limit.
fn is_recursion_limit(e: &ServerError) -> bool {
    e.message.starts_with("recursion limit exceeded")
        || e.message
            .starts_with("The recursion depth of the query cannot be greater than")
}

/// Gives the stable code clients match on (`QUERY_TOO_COMPLEX`) to the request errors that the
/// parser and async-graphql report as bare messages: the parser's nesting limit, and
/// async-graphql's depth and complexity limits.
///
/// Every other error async-graphql reports without a code gets one too, so that every error
/// a client sees has `extensions.code`: `GRAPHQL_VALIDATION_FAILED` for the request errors of
/// validation (an unknown field, a missing argument, a literal of the wrong type such as a bad
/// `Date`), and `BAD_USER_INPUT` for a field whose argument or variable value could not be
/// parsed (a `Date` variable that is no date).
pub fn code_request_errors(response: &mut Response) {
    for e in response.errors.iter_mut() {
        let coded = e.extensions.as_ref().is_some_and(|x| x.get("code").is_some());
        if coded {
            continue;
        }
        let code = if !e.path.is_empty() {
            "BAD_USER_INPUT"
        } else if is_recursion_limit(e) {
            e.message = format!("the query is nested too deep: {}", e.message);
            "QUERY_TOO_COMPLEX"
        } else if e.message == "Query is too complex." || e.message == "Query is nested too deep." {
            "QUERY_TOO_COMPLEX"
        } else {
            "GRAPHQL_VALIDATION_FAILED"
        };
        e.extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
}
