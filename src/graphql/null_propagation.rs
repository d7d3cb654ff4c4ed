//! Field errors answered as the GraphQL specification says (§6.4.4 "Handling Execution Errors"):
//! a field that fails is `null` in `data`, beside its error; when the failed field is non-null,
//! the `null` propagates to the nearest nullable parent (a field or a list item), up to `data`
//! itself.
//!
//! async-graphql 7 instead leaves a failed field out of its parent object (so `{"tenant": …}`
//! has no `tenant` key at all) and answers an object whose every field failed as `null`, whatever
//! the field types. Clients that follow the spec (Apollo's "Missing field", Python `gql` dropping
//! `data`) break on that. This extension repairs the response of every executed operation
//! (queries and mutations over HTTP, GET, batches and WebSocket, and every subscription event):
//! while fields resolve it records the declared return type of each field that failed and of each
//! field with a failure below it (cheap: one atomic load per field, work only on failure), and
//! afterwards walks each error's path, setting `null` where the spec puts it.

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, NextSubscribe, ResolveInfo,
};
use async_graphql::{QueryPathNode, QueryPathSegment, Response, ServerResult, Value};
use futures::StreamExt;
use futures::stream::BoxStream;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The extension factory registered on the schema.
pub struct NullPropagation;

impl ExtensionFactory for NullPropagation {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Tracker::default())
    }
}

/// What one request recorded.
#[derive(Default)]
struct Failures {
    /// Fields whose resolver failed so far.
    count: AtomicUsize,
    /// Declared return type (`Tenant`, `SecureScore!`, `[ImprovementAction!]!`) of every field
    /// that failed or has a failure below it, by response path.
    types: Mutex<HashMap<Vec<PathSegment>, String>>,
}

/// One step of a response path (async-graphql's `PathSegment` is not `Hash`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum PathSegment {
    Field(String),
    Index(usize),
}

impl From<&async_graphql::PathSegment> for PathSegment {
    fn from(s: &async_graphql::PathSegment) -> Self {
        match s {
            async_graphql::PathSegment::Field(name) => PathSegment::Field(name.clone()),
            async_graphql::PathSegment::Index(i) => PathSegment::Index(*i),
        }
    }
}

#[derive(Default)]
struct Tracker {
    failures: Arc<Failures>,
}

fn path_of(node: &QueryPathNode<'_>) -> Vec<PathSegment> {
    let mut path: Vec<PathSegment> = std::iter::once(node)
        .chain(node.parents())
        .map(|n| match n.segment {
            QueryPathSegment::Name(name) => PathSegment::Field(name.to_string()),
            QueryPathSegment::Index(i) => PathSegment::Index(i),
        })
        .collect();
    path.reverse();
    path
}

#[async_graphql::async_trait::async_trait]
impl Extension for Tracker {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        self.failures.repair(&mut response);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let failures = self.failures.clone();
        next.run(ctx, stream)
            .map(move |mut response| {
                failures.repair(&mut response);
                response
            })
            .boxed()
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let before = self.failures.count.load(Ordering::Acquire);
        // References into the query and the schema, which outlive the resolution: nothing is
        // copied unless something failed.
        let node = info.path_node;
        let return_type = info.return_type;
        let result = next.run(ctx, info).await;
        if result.is_err() {
            self.failures.count.fetch_add(1, Ordering::AcqRel);
        }
        if result.is_err() || self.failures.count.load(Ordering::Acquire) != before {
            self.failures
                .types
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(path_of(node), return_type.to_string());
        }
        result
    }
}

impl Failures {
    /// Puts `null` where the spec says each error's field (or the nearest nullable parent) goes.
    fn repair(&self, response: &mut Response) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let types = self.types.lock().unwrap_or_else(|e| e.into_inner());
        let paths: Vec<Vec<PathSegment>> = response
            .errors
            .iter()
            .filter(|e| !e.path.is_empty())
            .map(|e| e.path.iter().map(PathSegment::from).collect())
            .collect();
        propagate(&mut response.data, &paths, |path| {
            types.get(path).map(String::as_str)
        });
    }
}

/// Whether the value at the end of `path` may be `null`: a field by its declared type, a list
/// item by its list's item type. Positions nobody recorded are taken as nullable.
fn nullable<'t>(path: &[PathSegment], type_of: &impl Fn(&[PathSegment]) -> Option<&'t str>) -> bool {
    let field = path
        .iter()
        .rposition(|s| matches!(s, PathSegment::Field(_)))
        .map_or(0, |i| i + 1);
    let Some(mut ty) = type_of(&path[..field]) else {
        return true;
    };
    // One list level per index after the field: `[[X!]]!` at depth 1 is `[X!]`.
    for _ in field..path.len() {
        ty = ty.strip_suffix('!').unwrap_or(ty);
        ty = ty
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(ty);
    }
    !ty.ends_with('!')
}

/// The spec's null propagation over `data` for errors at `paths`, given the declared type of each
/// field position (pure, so it can be tested on the spec's examples).
fn propagate<'t>(
    data: &mut Value,
    paths: &[Vec<PathSegment>],
    type_of: impl Fn(&[PathSegment]) -> Option<&'t str>,
) {
    let mut nulled: Vec<Vec<PathSegment>> = Vec::new();
    for path in paths {
        if nulled.iter().any(|n| path.starts_with(n)) {
            continue;
        }
        let mut end = path.len();
        while end > 0 && !nullable(&path[..end], &type_of) {
            end -= 1;
        }
        if end == 0 {
            // A failed non-null field at the top: the whole result is `null`.
            *data = Value::Null;
            return;
        }
        set_null(data, &path[..end]);
        nulled.push(path[..end].to_vec());
    }
}

/// Sets the value at `path` to `null`. Objects on the way that are missing or `null` are ones
/// every selected field of which failed (async-graphql answers those as `null`), so they become
/// objects again; a missing list item means there is nothing to repair.
fn set_null(data: &mut Value, path: &[PathSegment]) {
    let mut at = data;
    for (i, segment) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        match segment {
            PathSegment::Field(name) => {
                if !matches!(at, Value::Object(_)) {
                    *at = Value::Object(Default::default());
                }
                let Value::Object(map) = at else { return };
                let key = async_graphql::Name::new(name);
                if last {
                    map.insert(key, Value::Null);
                    return;
                }
                at = map.entry(key).or_insert(Value::Null);
            }
            PathSegment::Index(index) => {
                let Value::List(items) = at else { return };
                let Some(item) = items.get_mut(*index) else {
                    return;
                };
                if last {
                    *item = Value::Null;
                    return;
                }
                at = item;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(name: &str) -> PathSegment {
        PathSegment::Field(name.to_string())
    }

    fn run(
        data: serde_json::Value,
        errors: &[Vec<PathSegment>],
        types: &[(&[PathSegment], &str)],
    ) -> serde_json::Value {
        let mut value = Value::from_json(data).expect("valid data");
        let types: HashMap<Vec<PathSegment>, String> =
            types.iter().map(|(p, t)| (p.to_vec(), t.to_string())).collect();
        propagate(&mut value, errors, |p| types.get(p).map(String::as_str));
        value.into_json().expect("json")
    }

    /// The spec's example (§7.1.3 "Errors"): `hero { name heroFriends: friends { id name } }`
    /// where the name of the second friend fails: with `name: String` it is `null` in place; with
    /// `name: String!` the friend (`[Character]`, nullable items) becomes `null`.
    #[test]
    fn the_specs_examples() {
        let error = vec![
            field("hero"),
            field("heroFriends"),
            PathSegment::Index(1),
            field("name"),
        ];
        let data = json!({ "hero": { "name": "R2-D2", "heroFriends": [
            { "id": "1000", "name": "Luke Skywalker" },
            { "id": "1002" },
            { "id": "1003", "name": "Leia Organa" }
        ] } });
        let hero: &[PathSegment] = &[field("hero")];
        let friends: &[PathSegment] = &[field("hero"), field("heroFriends")];
        let nullable_name = run(
            data.clone(),
            std::slice::from_ref(&error),
            &[(hero, "Character"), (friends, "[Character]"), (&error, "String")],
        );
        assert_eq!(
            nullable_name["hero"]["heroFriends"][1],
            json!({ "id": "1002", "name": null })
        );
        let non_null_name = run(
            data,
            std::slice::from_ref(&error),
            &[(hero, "Character"), (friends, "[Character]"), (&error, "String!")],
        );
        assert_eq!(non_null_name["hero"]["heroFriends"][1], serde_json::Value::Null);
        assert_eq!(non_null_name["hero"]["heroFriends"][0]["name"], "Luke Skywalker");
    }

    /// Data, the failed path, the recorded types, the repaired data, why.
    type Case<'p> = (
        serde_json::Value,
        Vec<PathSegment>,
        Vec<(&'p [PathSegment], &'p str)>,
        serde_json::Value,
        &'p str,
    );

    #[test]
    fn nulls_go_to_the_nearest_nullable_position() {
        let tenant: &[PathSegment] = &[field("tenant")];
        let tokens: &[PathSegment] = &[field("tenant"), field("apiTokens")];
        let viewer: &[PathSegment] = &[field("viewer")];
        let viewer_tenants: &[PathSegment] = &[field("viewer"), field("tenants")];
        let cases: Vec<Case<'_>> = vec![
            (
                json!({ "viewer": { "name": "x" } }),
                tenant.to_vec(),
                vec![(tenant, "Tenant")],
                json!({ "viewer": { "name": "x" }, "tenant": null }),
                "a failed nullable field is null, not missing",
            ),
            (
                serde_json::Value::Null,
                tenant.to_vec(),
                vec![(tenant, "Tenant")],
                json!({ "tenant": null }),
                "the only field failed (async-graphql answers null data)",
            ),
            (
                json!({ "tenant": { "slug": "a" } }),
                tokens.to_vec(),
                vec![(tenant, "Tenant"), (tokens, "[ApiToken!]!")],
                json!({ "tenant": null }),
                "a failed non-null field makes its nullable parent null",
            ),
            (
                json!({ "viewer": { "name": "x" } }),
                vec![field("viewer"), field("tenants")],
                vec![(viewer, "Viewer!"), (viewer_tenants, "[TenantRole!]!")],
                serde_json::Value::Null,
                "non-null all the way up: data is null",
            ),
            (
                json!({ "a": { "x": 1 }, "b": null }),
                vec![field("b"), field("c")],
                vec![],
                json!({ "a": { "x": 1 }, "b": { "c": null } }),
                "unrecorded positions count as nullable",
            ),
        ];
        for (data, error, types, expected, why) in cases {
            assert_eq!(run(data, &[error], &types), expected, "{why}");
        }
    }

    #[test]
    fn non_null_list_items_take_their_list_down() {
        let list: &[PathSegment] = &[field("viewer"), field("tenants")];
        let viewer: &[PathSegment] = &[field("viewer")];
        let item_field = vec![
            field("viewer"),
            field("tenants"),
            PathSegment::Index(0),
            field("tenant"),
        ];
        let data = json!({ "viewer": { "name": "m", "tenants": [{ "role": "READER" }] } });
        let out = run(
            data,
            std::slice::from_ref(&item_field),
            &[
                (viewer, "Viewer"),
                (list, "[TenantRole!]!"),
                (&item_field, "Tenant!"),
            ],
        );
        assert_eq!(out, json!({ "viewer": null }));
    }
}
