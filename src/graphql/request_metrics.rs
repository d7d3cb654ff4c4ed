//! Request metrics recorded inside the GraphQL pipeline (see `crate::metrics`): one count and one
//! latency sample per executed operation, labelled with its operation name and outcome, and one
//! count per returned error by code. Subscriptions are counted by `crate::metrics::SubscriptionGauge`
//! instead, since a stream has no single latency.

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument};
use async_graphql::{Request, Response, ServerResult, Value, Variables};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Code of errors async-graphql raises itself (syntax, validation) without one of ours.
const UNCODED_REQUEST_ERROR: &str = "GRAPHQL_VALIDATION_FAILED";
/// Code of errors raised while executing without a code (none are expected: `AppError` always
/// sets one).
const UNCODED_FIELD_ERROR: &str = "UNCLASSIFIED";

/// The extension factory registered on the schema.
pub struct RequestMetrics;

impl ExtensionFactory for RequestMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Observed::default())
    }
}

/// One request's observation: the operation name is only known once the request is prepared.
#[derive(Default)]
struct Observed {
    operation: Mutex<Option<String>>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for Observed {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
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
        let operation = self.operation.lock().unwrap_or_else(|e| e.into_inner()).take();
        crate::metrics::record_request(operation.as_deref(), outcome, started.elapsed());
        for code in codes {
            crate::metrics::record_error(code);
        }
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        // A poisoned lock only means a panic elsewhere in this request; the slot is still valid.
        *self.operation.lock().unwrap_or_else(|e| e.into_inner()) = request.operation_name.clone();
        next.run(ctx, request).await
    }

    /// A document with one named operation names it even when the request does not.
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        if let DocumentOperations::Multiple(ops) = &doc.operations
            && ops.len() == 1
        {
            let mut slot = self.operation.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                *slot = ops.keys().next().map(|name| name.to_string());
            }
        }
        Ok(doc)
    }
}
