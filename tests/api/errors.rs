//! Every error, at every stage, has `extensions.code` and a message a person can act on, in a
//! JSON body (issue 17): parse, validation, bad scalar values, limits, the rate limit,
//! introspection when it is off, and the HTTP-level refusals under `/graphql` and the exports.

use crate::db_test;
use crate::helpers::*;
use serde_json::{Value, json};

/// The first error's code, asserting every error of the body has one.
fn code(body: &Value) -> String {
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("errors expected: {body}"));
    for e in errors {
        assert!(
            e["extensions"]["code"].is_string(),
            "an error without a code: {body}"
        );
        assert!(!e["message"].as_str().unwrap_or_default().is_empty(), "{body}");
        for location in e["locations"].as_array().into_iter().flatten() {
            assert!(
                location["line"].as_u64() >= Some(1) && location["column"].as_u64() >= Some(1),
                "locations start at line 1, column 1: {body}"
            );
        }
    }
    errors[0]["extensions"]["code"].as_str().unwrap().to_string()
}

async fn json_body(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(content_type.contains("json"), "a JSON body, not {content_type:?}");
    (status, resp.json().await.expect("a JSON body"))
}

db_test!(
    parse_and_validation_errors_have_codes_and_readable_messages,
    |app| {
        let t = app.tenant().create().await;

        let body = app.gql(Some(&t.reader), "{ viewer { name }", json!({})).await;
        assert_eq!(code(&body), "GRAPHQL_PARSE_FAILED", "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.starts_with("Syntax error at line 1, column "),
            "{message}"
        );
        assert!(
            !message.contains("-->") && !message.contains('\n'),
            "no parser report: {message}"
        );

        let body = app
            .gql(
                Some(&t.reader),
                "query A { viewer { name } } { viewer { name } }",
                json!({}),
            )
            .await;
        assert_eq!(code(&body), "GRAPHQL_PARSE_FAILED", "{body}");

        let body = app.gql(Some(&t.reader), "{ viewer { nope } }", json!({})).await;
        assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
        assert!(
            body["errors"][0]["message"].as_str().unwrap().contains("nope"),
            "{body}"
        );

        // A bad Date literal, and a bad Date variable.
        let literal = format!(
            r#"{{ tenant(slug: "{}") {{ scoreHistory(from: "2026-13-45", to: "2026-12-01") {{ day }} }} }}"#,
            t.slug
        );
        let body = app.gql(Some(&t.reader), &literal, json!({})).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("YYYY-MM-DD"),
            "{body}"
        );
        let body = app
        .gql(
            Some(&t.reader),
            "query($s: String!, $from: Date!) { tenant(slug: $s) { scoreHistory(from: $from, to: $from) { day } } }",
            json!({ "s": t.slug, "from": "yesterday" }),
        )
        .await;
        let c = code(&body);
        assert!(
            c == "GRAPHQL_VALIDATION_FAILED" || c == "BAD_USER_INPUT",
            "{body}"
        );
    }
);

db_test!(http_level_refusals_are_json_with_codes, |app| {
    let small = spawn_app_with(app.backend, |c| c.max_body_bytes = 2048).await;
    let t = small.tenant().create().await;
    let url = format!("{}/graphql", small.address);

    let big = json!({ "query": format!("{{ viewer {{ name }} }} #{}", "x".repeat(4096)) });
    let resp = small
        .client
        .post(&url)
        .bearer_auth(&t.reader)
        .json(&big)
        .send()
        .await
        .unwrap();
    let (status, body) = json_body(resp).await;
    assert_eq!(status, 413);
    assert_eq!(code(&body), "PAYLOAD_TOO_LARGE", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("MAX_BODY_BYTES"),
        "{body}"
    );

    let resp = small
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body("{ viewer { name } }")
        .send()
        .await
        .unwrap();
    let (status, body) = json_body(resp).await;
    assert_eq!(status, 415);
    assert_eq!(code(&body), "UNSUPPORTED_MEDIA_TYPE", "{body}");

    let resp = small
        .client
        .post(&url)
        .header("accept", "text/html")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    let (status, body) = json_body(resp).await;
    assert_eq!(status, 406);
    assert_eq!(code(&body), "NOT_ACCEPTABLE", "{body}");

    let resp = small
        .client
        .post(&url)
        .bearer_auth(&t.reader)
        .json(&json!([]))
        .send()
        .await
        .unwrap();
    let (status, body) = json_body(resp).await;
    assert_eq!(status, 400);
    assert_eq!(code(&body), "BAD_REQUEST", "{body}");
    assert!(
        body["errors"][0]["message"].as_str().unwrap().contains("empty"),
        "{body}"
    );

    let resp = small
        .client
        .get(format!(
            "{}/export/{}/history.json?from=yesterday",
            small.address, t.slug
        ))
        .bearer_auth(&t.reader)
        .send()
        .await
        .unwrap();
    // The export routes' error shape (README: `{"error": {"code", "message"}}`).
    let (status, body) = json_body(resp).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "BAD_USER_INPUT", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("YYYY-MM-DD"),
        "{body}"
    );
});

db_test!(the_rate_limit_error_has_no_invalid_location, |app| {
    let limited = spawn_app_with(app.backend, |c| {
        c.rate_limit_per_minute = 1;
        c.rate_limit_burst = 1;
    })
    .await;
    let t = limited.tenant().create().await;
    let first = limited
        .gql(Some(&t.reader), "{ viewer { name } }", json!({}))
        .await;
    assert!(first.get("errors").is_none(), "{first}");
    let second = limited
        .gql(Some(&t.reader), "{ viewer { name } }", json!({}))
        .await;
    assert_eq!(code(&second), "RATE_LIMITED", "{second}");
    assert!(
        second["errors"][0].get("locations").is_none(),
        "no location for a request error: {second}"
    );
});

db_test!(
    with_introspection_off_schema_questions_are_refused_with_a_code,
    |app| {
        let closed = spawn_app_with(app.backend, |c| c.allow_introspection = false).await;
        let t = closed.tenant().create().await;
        for query in [
            "{ __schema { queryType { name } } }",
            r#"{ __type(name: "Tenant") { name } }"#,
            "query { ...Root } fragment Root on Query { __schema { types { name } } }",
        ] {
            let body = closed.gql(Some(&t.reader), query, json!({})).await;
            assert_eq!(code(&body), "INTROSPECTION_DISABLED", "{query}: {body}");
            assert!(body.get("data").is_none() || body["data"].is_null(), "{body}");
        }
        let body = closed
            .gql(Some(&t.reader), "{ __typename viewer { name } }", json!({}))
            .await;
        assert!(body.get("errors").is_none(), "__typename stays allowed: {body}");
        // The server with introspection on still answers it.
        let open = app.tenant().create().await;
        let body = app
            .gql(
                Some(&open.reader),
                "{ __schema { queryType { name } } }",
                json!({}),
            )
            .await;
        assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query", "{body}");
    }
);
