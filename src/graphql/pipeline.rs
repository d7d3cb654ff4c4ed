//! The way every GraphQL request is run, over HTTP (single, batch, GET) and WebSocket alike:
//! the limits (`limits`) before anything is parsed or executed, the schema's execution, then the
//! response made what the spec and our clients expect (`null_propagation`, codes on the parser's
//! and validator's limit errors) and the request's metrics (`request_metrics`).
//!
//! These steps are plain code around `Schema::execute` rather than async-graphql extensions:
//! with any extension registered, async-graphql resolves every field and every list item through
//! its extension chain (a type lookup, a few boxed futures and allocated type names each), which
//! was most of the cost of a large answer such as 90 days of history.

use crate::config::Config;
use crate::graphql::{AppSchema, RequestData, limits, null_propagation, request_metrics};
use async_graphql::{BatchRequest, BatchResponse, Data, Request, Response};
use futures::stream::{self, BoxStream, StreamExt};
use std::any::TypeId;
use std::sync::Arc;
use std::time::Instant;

/// Runs requests against the schema; one per server process, cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    schema: AppSchema,
    limits: Arc<limits::Limits>,
    shape: Arc<null_propagation::Shape>,
}

/// What a request needs for its response once the schema has taken it.
struct Prepared {
    query: String,
    /// The operation the request names, or the one its document holds.
    operation: Option<String>,
    started: Instant,
}

impl Pipeline {
    /// The pipeline of `schema` with the limits of `config`.
    pub fn new(schema: AppSchema, config: &Config) -> Self {
        let shape = null_propagation::Shape::of_sdl(&schema.sdl());
        Pipeline {
            schema,
            limits: Arc::new(limits::Limits::new(config)),
            shape: Arc::new(shape),
        }
    }

    /// The schema (for introspection-free uses such as the SDL).
    pub fn schema(&self) -> &AppSchema {
        &self.schema
    }

    /// Checks the limits and parses the document once (the schema executes the parsed document);
    /// a refusal (`Err`) is the whole response.
    fn prepare(&self, mut request: Request) -> (Prepared, Result<Request, Response>) {
        let mut prepared = Prepared {
            query: request.query.clone(),
            operation: request.operation_name.clone(),
            started: Instant::now(),
        };
        let caller = request
            .data
            .get(&TypeId::of::<RequestData>())
            .and_then(|d| d.downcast_ref::<RequestData>());
        if let Some(data) = caller
            && let Err(refused) = self.limits.check_rate(&data.viewer, data.client)
        {
            return (prepared, Err(Response::from_errors(vec![refused])));
        }
        match async_graphql::parser::parse_query(&request.query) {
            Ok(doc) => {
                prepared.operation =
                    request_metrics::operation_name(request.operation_name.as_deref(), Some(&doc));
                if let Err(refused) = self.limits.check_document(&doc, &request.variables) {
                    return (prepared, Err(Response::from_errors(vec![refused])));
                }
                if let Err(refused) = self
                    .limits
                    .check_introspection(&doc, request.operation_name.as_deref())
                {
                    return (prepared, Err(Response::from_errors(vec![refused])));
                }
                request.set_parsed_query(doc);
            }
            // Left to the schema, whose message `code_request_errors` codes `QUERY_TOO_COMPLEX`.
            Err(async_graphql::parser::Error::RecursionLimitExceeded) => {}
            Err(err) => {
                return (
                    prepared,
                    Err(Response::from_errors(vec![limits::parse_error(&err)])),
                );
            }
        }
        (prepared, Ok(request))
    }

    /// Makes an executed response what clients expect.
    fn finish(&self, response: &mut Response, prepared: &Prepared) {
        limits::code_request_errors(response);
        self.shape
            .repair(response, &prepared.query, prepared.operation.as_deref());
    }

    /// Runs one query or mutation.
    pub async fn execute(&self, request: Request) -> Response {
        let (prepared, request) = self.prepare(request);
        crate::telemetry::record_operation(prepared.operation.as_deref());
        let response = match request {
            Ok(request) => {
                let mut response = self.schema.execute(request).await;
                self.finish(&mut response, &prepared);
                response
            }
            Err(refused) => refused,
        };
        request_metrics::record(
            prepared.operation.as_deref(),
            &response,
            prepared.started.elapsed(),
        );
        response
    }

    /// Runs the requests of a batch one after the other, as async-graphql does.
    pub async fn execute_batch(&self, batch: BatchRequest) -> BatchResponse {
        match batch {
            BatchRequest::Single(request) => BatchResponse::Single(self.execute(request).await),
            BatchRequest::Batch(requests) => {
                let mut responses = Vec::with_capacity(requests.len());
                for request in requests {
                    responses.push(self.execute(request).await);
                }
                BatchResponse::Batch(responses)
            }
        }
    }

    /// Runs any operation as a stream of responses (a subscription's events, or a query's one
    /// answer), as the WebSocket protocols need.
    pub fn execute_stream(&self, request: Request, session: Arc<Data>) -> BoxStream<'static, Response> {
        match self.prepare(request) {
            (prepared, Ok(request)) => {
                let this = self.clone();
                self.schema
                    .execute_stream_with_session_data(request, session)
                    .map(move |mut response| {
                        this.finish(&mut response, &prepared);
                        response
                    })
                    .boxed()
            }
            (_, Err(refused)) => stream::once(async move { refused }).boxed(),
        }
    }
}
