//! Limits enforced inside the GraphQL pipeline, before anything is executed: per-token rate
//! limiting, the number of aliases and field selections in a document, and the error code of
//! async-graphql's own depth and complexity limits.
//!
//! Rate limiting uses an in-memory token bucket per server process (governor's keyed limiter).
//! With several processes behind a load balancer the effective limit is the configured one per
//! process; that is acceptable because the limit protects capacity, not correctness.

use crate::config::Config;
use crate::error::AppError;
use crate::graphql::RequestData;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensions, Pos, ServerError, ServerResult, ValidationResult, Variables};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;

/// Past this many tracked tokens, buckets that are full again are dropped to bound memory.
const RETAIN_THRESHOLD: usize = 10_000;

/// The extension factory registered on the schema; it owns the rate limiter shared by all
/// requests of this process.
pub struct Limits {
    inner: Arc<LimitsInner>,
}

struct LimitsInner {
    limiter: DefaultKeyedRateLimiter<i64>,
    max_aliases: usize,
    max_selections: usize,
}

impl Limits {
    pub fn new(config: &Config) -> Self {
        let per_minute = NonZeroU32::new(config.rate_limit_per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.rate_limit_burst).unwrap_or(NonZeroU32::MIN);
        Limits {
            inner: Arc::new(LimitsInner {
                limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
                max_aliases: config.max_aliases,
                max_selections: config.max_selections,
            }),
        }
    }
}

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        self.inner.clone()
    }
}

/// A request-level error with a code (no path: nothing was executed).
fn refused(message: String, code: &'static str) -> ServerError {
    let mut err = ServerError::new(message, None);
    err.extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    err
}

impl LimitsInner {
    /// Takes one request from the caller's bucket. Anonymous requests are not limited here: they
    /// can only fail authentication, which costs one indexed lookup.
    fn check_rate(&self, ctx: &ExtensionContext<'_>) -> ServerResult<()> {
        let Some(token_id) = ctx
            .data_opt::<RequestData>()
            .and_then(|d| d.viewer.as_ref().ok())
            .map(|v| v.token_id)
        else {
            return Ok(());
        };
        if self.limiter.len() > RETAIN_THRESHOLD {
            self.limiter.retain_recent();
        }
        match self.limiter.check_key(&token_id) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Err(AppError::RateLimited {
                    retry_after_secs: retry_after_secs.max(1),
                }
                .extend()
                .into_server_error(Pos::default()))
            }
        }
    }

    fn check_size(&self, doc: &ExecutableDocument) -> ServerResult<()> {
        let mut count = Count::default();
        match &doc.operations {
            DocumentOperations::Single(op) => count.visit(&op.node.selection_set.node),
            DocumentOperations::Multiple(ops) => {
                for op in ops.values() {
                    count.visit(&op.node.selection_set.node);
                }
            }
        }
        for fragment in doc.fragments.values() {
            count.visit(&fragment.node.selection_set.node);
        }
        if count.aliases > self.max_aliases {
            return Err(refused(
                format!(
                    "the query uses {} aliases; at most {} are allowed",
                    count.aliases, self.max_aliases
                ),
                "QUERY_TOO_COMPLEX",
            ));
        }
        if count.fields > self.max_selections {
            return Err(refused(
                format!(
                    "the query selects {} fields; at most {} are allowed",
                    count.fields, self.max_selections
                ),
                "QUERY_TOO_COMPLEX",
            ));
        }
        Ok(())
    }
}

/// Fields and aliases as written in the document. Fragments are counted once where defined, so
/// the count is linear in the document's size; their repeated use is what the complexity limit
/// (which expands fragments) is for.
#[derive(Default)]
struct Count {
    fields: usize,
    aliases: usize,
}

impl Count {
    fn visit(&mut self, set: &SelectionSet) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    self.fields += 1;
                    if field.node.alias.is_some() {
                        self.aliases += 1;
                    }
                    self.visit(&field.node.selection_set.node);
                }
                Selection::InlineFragment(inline) => self.visit(&inline.node.selection_set.node),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for LimitsInner {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        self.check_rate(ctx)?;
        let doc = next.run(ctx, query, variables).await?;
        self.check_size(&doc)?;
        Ok(doc)
    }

    /// async-graphql reports its depth and complexity limits as bare messages; give them the
    /// stable code clients match on.
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|mut e| {
                    let too_complex =
                        e.message == "Query is too complex." || e.message == "Query is nested too deep.";
                    if too_complex {
                        e.extensions
                            .get_or_insert_with(Default::default)
                            .set("code", "QUERY_TOO_COMPLEX");
                    }
                    e
                })
                .collect()
        })
    }
}
