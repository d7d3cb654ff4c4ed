//! Field errors answered as the GraphQL specification says (§6.4.4 "Handling Execution Errors"):
//! a field that fails is `null` in `data`, beside its error; when the failed field is non-null,
//! the `null` propagates to the nearest nullable parent (a field or a list item), up to `data`
//! itself.
//!
//! async-graphql 7 instead leaves a failed field out of its parent object (so `{"tenant": …}`
//! has no `tenant` key at all) and answers an object whose every field failed as `null`, whatever
//! the field types. Clients that follow the spec (Apollo's "Missing field", Python `gql` dropping
//! `data`) break on that. [`Shape::repair`] fixes the response of every executed operation
//! (queries and mutations over HTTP, GET, batches and WebSocket, and every subscription event;
//! `graphql::pipeline` calls it): for each error's path it finds the declared type of every
//! field on the way, from the query document (aliases, fragments and type conditions resolved)
//! and the schema's field types, and sets `null` where the spec puts it.
//!
//! This runs after execution and only for responses with field errors, so a successful request
//! costs nothing here. (It used to be an async-graphql extension recording types while fields
//! resolved; any extension makes async-graphql take its slow path for every field and list item.)

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationType, Selection, SelectionSet, TypeKind,
    TypeSystemDefinition,
};
use async_graphql::{Response, Value};
use std::collections::HashMap;

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

/// The declared type (`Tenant`, `SecureScore!`, `[ImprovementAction!]!`) of every field of the
/// schema's object and interface types, read once from the schema's SDL.
pub struct Shape {
    /// Type name → field name → declared type.
    fields: HashMap<String, HashMap<String, String>>,
    query: String,
    mutation: String,
    subscription: String,
}

/// Fragments nest at most this deep while a path is followed (validation refuses cycles; this
/// only bounds the walk of a document that was not valid).
const MAX_FRAGMENT_NESTING: usize = 64;

impl Shape {
    /// The shape of the schema whose SDL is `sdl` (`Schema::sdl`, which always parses).
    pub fn of_sdl(sdl: &str) -> Shape {
        let mut shape = Shape {
            fields: HashMap::new(),
            query: "Query".to_string(),
            mutation: "Mutation".to_string(),
            subscription: "Subscription".to_string(),
        };
        let Ok(doc) = async_graphql::parser::parse_schema(sdl) else {
            tracing::error!("the schema's own SDL does not parse; field errors keep async-graphql's shape");
            return shape;
        };
        for definition in doc.definitions {
            match definition {
                TypeSystemDefinition::Schema(s) => {
                    let s = s.node;
                    if let Some(q) = s.query {
                        shape.query = q.node.to_string();
                    }
                    if let Some(m) = s.mutation {
                        shape.mutation = m.node.to_string();
                    }
                    if let Some(sub) = s.subscription {
                        shape.subscription = sub.node.to_string();
                    }
                }
                TypeSystemDefinition::Type(t) => {
                    let fields = match &t.node.kind {
                        TypeKind::Object(o) => &o.fields,
                        TypeKind::Interface(i) => &i.fields,
                        _ => continue,
                    };
                    let map = fields
                        .iter()
                        .map(|f| (f.node.name.node.to_string(), f.node.ty.node.to_string()))
                        .collect();
                    shape.fields.insert(t.node.name.node.to_string(), map);
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        shape
    }

    fn field_type(&self, owner: &str, field: &str) -> Option<&str> {
        self.fields.get(owner)?.get(field).map(String::as_str)
    }

    /// Puts `null` where the spec says each error's field (or the nearest nullable parent) goes,
    /// for a response to `query` (its operation `operation_name`). Costs nothing without field
    /// errors.
    pub fn repair(&self, response: &mut Response, query: &str, operation_name: Option<&str>) {
        if response.errors.iter().all(|e| e.path.is_empty()) {
            return;
        }
        let Ok(doc) = async_graphql::parser::parse_query(query) else {
            return;
        };
        let paths: Vec<Vec<PathSegment>> = response
            .errors
            .iter()
            .filter(|e| !e.path.is_empty())
            .map(|e| e.path.iter().map(PathSegment::from).collect())
            .collect();
        let mut types: HashMap<Vec<PathSegment>, String> = HashMap::new();
        for path in &paths {
            self.type_path(&doc, operation_name, path, &mut types);
        }
        propagate(&mut response.data, &paths, |path| {
            types.get(path).map(String::as_str)
        });
    }

    /// Records the declared type of each field on `path` (keyed by the path up to it).
    fn type_path(
        &self,
        doc: &ExecutableDocument,
        operation_name: Option<&str>,
        path: &[PathSegment],
        types: &mut HashMap<Vec<PathSegment>, String>,
    ) {
        let operation = match (&doc.operations, operation_name) {
            (DocumentOperations::Single(op), _) => op,
            (DocumentOperations::Multiple(ops), Some(name)) => match ops.get(name) {
                Some(op) => op,
                None => return,
            },
            (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => match ops.values().next() {
                Some(op) => op,
                None => return,
            },
            (DocumentOperations::Multiple(_), None) => return,
        };
        let mut parent = match operation.node.ty {
            OperationType::Query => self.query.as_str(),
            OperationType::Mutation => self.mutation.as_str(),
            OperationType::Subscription => self.subscription.as_str(),
        };
        let mut sets: Vec<&SelectionSet> = vec![&operation.node.selection_set.node];
        for (i, segment) in path.iter().enumerate() {
            let PathSegment::Field(key) = segment else {
                continue;
            };
            let mut found: Vec<(&Field, Option<&str>)> = Vec::new();
            for set in &sets {
                collect(doc, set, key, None, 0, &mut found);
            }
            let Some((first, condition)) = found.first() else {
                return;
            };
            let name = first.name.node.as_str();
            let declared = condition
                .and_then(|owner| self.field_type(owner, name))
                .or_else(|| self.field_type(parent, name));
            let Some(declared) = declared else {
                return;
            };
            types.insert(path[..=i].to_vec(), declared.to_string());
            parent = declared.trim_matches(|c| matches!(c, '[' | ']' | '!'));
            sets = found.iter().map(|(f, _)| &f.selection_set.node).collect();
        }
    }
}

/// The fields of `set` (fragments expanded) answered under response key `key`, each with the
/// type condition of the innermost fragment it was found in.
fn collect<'d>(
    doc: &'d ExecutableDocument,
    set: &'d SelectionSet,
    key: &str,
    condition: Option<&'d str>,
    nesting: usize,
    found: &mut Vec<(&'d Field, Option<&'d str>)>,
) {
    if nesting > MAX_FRAGMENT_NESTING {
        return;
    }
    for item in &set.items {
        match &item.node {
            Selection::Field(f) => {
                if f.node.response_key().node.as_str() == key {
                    found.push((&f.node, condition));
                }
            }
            Selection::InlineFragment(inline) => {
                let on = inline
                    .node
                    .type_condition
                    .as_ref()
                    .map(|c| c.node.on.node.as_str())
                    .or(condition);
                collect(doc, &inline.node.selection_set.node, key, on, nesting + 1, found);
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = doc.fragments.get(&spread.node.fragment_name.node) {
                    let on = Some(fragment.node.type_condition.node.on.node.as_str());
                    collect(
                        doc,
                        &fragment.node.selection_set.node,
                        key,
                        on,
                        nesting + 1,
                        found,
                    );
                }
            }
        }
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

    const SDL: &str = "
        type Query { viewer: Viewer! tenant(slug: String!): Tenant node(id: ID!): Node }
        interface Node { id: ID! }
        type Viewer { name: String tenants: [TenantRole!]! }
        type TenantRole { role: String! tenant: Tenant! }
        type Tenant implements Node { id: ID! slug: String! apiTokens: [ApiToken!]! }
        type ApiToken { id: ID! }
    ";

    fn error_at(path: &[&str]) -> async_graphql::ServerError {
        let mut e = async_graphql::ServerError::new("boom", None);
        e.path = path
            .iter()
            .map(|s| match s.parse::<usize>() {
                Ok(i) => async_graphql::PathSegment::Index(i),
                Err(_) => async_graphql::PathSegment::Field(s.to_string()),
            })
            .collect();
        e
    }

    fn repaired(
        query: &str,
        operation: Option<&str>,
        data: serde_json::Value,
        path: &[&str],
    ) -> serde_json::Value {
        let shape = Shape::of_sdl(SDL);
        let mut response = Response::new(Value::from_json(data).expect("valid data"));
        response.errors.push(error_at(path));
        shape.repair(&mut response, query, operation);
        response.data.into_json().expect("json")
    }

    /// The types come from the document and the schema: aliases, named and inline fragments
    /// (with the fragment's type condition for interface fields) and the chosen operation.
    #[test]
    fn types_follow_aliases_fragments_and_operations() {
        // A non-null list under an alias inside a fragment: its nullable parent becomes null.
        let q = "query A { t: tenant(slug: \"a\") { ...F } } fragment F on Tenant { toks: apiTokens { id } }";
        assert_eq!(
            repaired(q, None, json!({ "t": { "slug": "a" } }), &["t", "toks"]),
            json!({ "t": null })
        );
        // Through an interface with an inline fragment: Tenant.slug is non-null, node is nullable.
        let q = "{ node(id: \"x\") { id ... on Tenant { s: slug } } }";
        assert_eq!(
            repaired(q, None, json!({ "node": { "id": "x" } }), &["node", "s"]),
            json!({ "node": null })
        );
        // Non-null all the way up: data is null.
        let q = "query A { me: viewer { name } } query B { viewer { tenants { tenant { slug } } } }";
        assert_eq!(
            repaired(
                q,
                Some("B"),
                json!({ "viewer": { "tenants": [{ "role": "R" }] } }),
                &["viewer", "tenants", "0", "tenant"]
            ),
            serde_json::Value::Null
        );
        // A nullable field that failed is null, not missing.
        assert_eq!(
            repaired(
                "query A { me: viewer { name } }",
                Some("A"),
                json!({ "me": {} }),
                &["me", "name"]
            ),
            json!({ "me": { "name": null } })
        );
    }
}
