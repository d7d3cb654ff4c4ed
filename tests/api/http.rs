//! GraphQL over HTTP (issue 9): content negotiation and status codes as the GraphQL-over-HTTP
//! specification asks (CI also runs graphql-http's conformance audit against the binary), and
//! the offline playground: the page, its Content-Security-Policy and the vendored assets.

use crate::db_test;
use crate::helpers::*;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use serde_json::{Value, json};

const GQL_RESPONSE: &str = "application/graphql-response+json; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";

/// POSTs `body` with the given `Accept` (none when `None`); returns status, content type and
/// the body parsed as JSON (`Null` when it is not JSON).
async fn post(app: &TestApp, accept: Option<&str>, body: &str) -> (StatusCode, String, Value) {
    let mut req = app
        .client
        .post(format!("{}/graphql", app.address))
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string());
    if let Some(accept) = accept {
        req = req.header(ACCEPT, accept);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let content_type = header(&resp, CONTENT_TYPE);
    let text = resp.text().await.expect("body");
    (
        status,
        content_type,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn header(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

const TYPENAME: &str = r#"{"query":"{ __typename }"}"#;

db_test!(the_response_media_type_follows_accept, |app| {
    let cases: &[(Option<&str>, Option<&str>)] = &[
        (Some("application/graphql-response+json"), Some(GQL_RESPONSE)),
        (
            Some("application/graphql-response+json; charset=utf-8"),
            Some(GQL_RESPONSE),
        ),
        (Some("application/json"), Some(JSON)),
        (None, Some(JSON)),
        (Some("*/*"), Some(JSON)),
        (Some("application/*"), Some(JSON)),
        (
            Some("application/json;q=0.9, application/graphql-response+json"),
            Some(GQL_RESPONSE),
        ),
        (
            Some("application/graphql-response+json;q=0.5, application/json"),
            Some(JSON),
        ),
        (
            Some("application/graphql-response+json, */*;q=0.1"),
            Some(GQL_RESPONSE),
        ),
        (Some("text/html, application/json;q=0.9"), Some(JSON)),
        (Some("text/plain"), None),
        (Some("application/json; charset=iso-8859-1"), None),
        (Some("application/json;q=0"), None),
    ];
    for (accept, expected) in cases {
        let (status, content_type, body) = post(&app, *accept, TYPENAME).await;
        match expected {
            Some(media) => {
                assert_eq!(status, StatusCode::OK, "Accept {accept:?}");
                assert_eq!(content_type, *media, "Accept {accept:?}");
                assert_eq!(
                    body,
                    json!({ "data": { "__typename": "Query" } }),
                    "Accept {accept:?}"
                );
            }
            None => assert_eq!(status, StatusCode::NOT_ACCEPTABLE, "Accept {accept:?}"),
        }
    }
});

db_test!(a_typename_query_needs_no_token_over_get_or_post, |app| {
    let (status, _, body) = post(&app, Some("application/graphql-response+json"), TYPENAME).await;
    assert_eq!(
        (status, body["data"].clone()),
        (StatusCode::OK, json!({ "__typename": "Query" }))
    );
    let resp = app
        .client
        .get(format!("{}/graphql?query=%7B__typename%7D", app.address))
        .header(ACCEPT, "application/graphql-response+json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, CONTENT_TYPE), GQL_RESPONSE);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({ "data": { "__typename": "Query" } }));
});

db_test!(
    documents_that_fail_to_parse_or_validate_get_400_or_200_by_media_type_and_no_data,
    |app| {
        for (what, body) in [
            ("a syntax error", r#"{"query":"{"}"#),
            ("an unknown field", r#"{"query":"{ noSuchField }"}"#),
        ] {
            for (accept, expected) in [
                ("application/graphql-response+json", StatusCode::BAD_REQUEST),
                // Legacy clients read errors from a 200, as the spec keeps for application/json.
                ("application/json", StatusCode::OK),
            ] {
                let (status, _, json) = post(&app, Some(accept), body).await;
                assert_eq!(status, expected, "{what} accepting {accept}: {json}");
                assert!(json["errors"][0]["message"].is_string(), "{what}: {json}");
                // The request never executed, so the response has no `data` entry at all.
                assert!(json.get("data").is_none(), "{what} accepting {accept}: {json}");
            }
        }
    }
);

db_test!(requests_that_are_not_graphql_requests_get_400, |app| {
    for accept in ["application/graphql-response+json", "application/json"] {
        for (what, body) in [
            ("invalid JSON", "{"),
            ("no query", r#"{"qeury":"{ __typename }"}"#),
            ("a non-string query", r#"{"query":{"a":1}}"#),
            (
                "a batch item without a query",
                r#"[{"query":"{ __typename }"},{}]"#,
            ),
            ("a JSON string", r#""{ __typename }""#),
        ] {
            let (status, _, json) = post(&app, Some(accept), body).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{what} accepting {accept}: {json}"
            );
            assert_eq!(
                error_code(&json).as_deref(),
                Some("BAD_REQUEST"),
                "{what}: {json}"
            );
        }
        let resp = app
            .client
            .get(format!("{}/graphql?variables=%7B%7D", app.address))
            .header(ACCEPT, accept)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::BAD_REQUEST,
            "GET without query, {accept}"
        );
    }
});

db_test!(an_error_during_execution_still_answers_200, |app| {
    // `viewer` needs a token: the request is valid, it fails while executing.
    let (status, content_type, body) = post(
        &app,
        Some("application/graphql-response+json"),
        r#"{"query":"{ viewer { name } }"}"#,
    )
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, GQL_RESPONSE),
        "{body}"
    );
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"));
});

db_test!(
    batches_keep_working_and_drop_data_only_where_a_request_failed,
    |app| {
        let (status, _, body) = post(
            &app,
            Some("application/json"),
            r#"[{"query":"{ __typename }"},{"query":"{"}]"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body[0], json!({ "data": { "__typename": "Query" } }));
        assert!(
            body[1].get("data").is_none() && body[1]["errors"].is_array(),
            "{body}"
        );
    }
);

db_test!(the_playground_page_loads_only_scripts_of_this_server, |app| {
    let resp = app
        .client
        .get(format!("{}/graphql", app.address))
        .header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, CONTENT_TYPE), "text/html; charset=utf-8");
    let csp = header(&resp, reqwest::header::CONTENT_SECURITY_POLICY);
    for directive in ["default-src 'none'", "script-src 'self';", "connect-src 'self'"] {
        assert!(csp.contains(directive), "CSP has {directive}: {csp}");
    }
    assert!(!csp.contains("unsafe"), "no unsafe-inline or unsafe-eval: {csp}");
    let html = resp.text().await.unwrap();
    assert!(
        html.contains(r#"data-endpoint="/graphql""#),
        "the endpoint is pre-filled: {html}"
    );
    assert!(
        !html.contains("https://") && !html.contains("http://"),
        "nothing from elsewhere: {html}"
    );
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert_eq!(scripts.len(), 4, "{html}");
    for script in scripts {
        assert!(
            script.trim_start().starts_with("src=\"/graphql/assets/"),
            "no inline script: {script}"
        );
    }

    // Every asset the page names is served, with its type.
    let assets: Vec<&str> = html
        .split('"')
        .filter(|s| s.starts_with("/graphql/assets/"))
        .collect();
    assert_eq!(assets.len(), 6, "{assets:?}");
    for path in assets {
        let resp = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let expected = if path.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert!(header(&resp, CONTENT_TYPE).starts_with(expected), "{path}");
        assert_eq!(
            header(&resp, reqwest::header::X_CONTENT_TYPE_OPTIONS),
            "nosniff",
            "{path}"
        );
        // Vendored files have their version in the path and are cached for a year; ours are
        // revalidated because they change with the server.
        let cache = header(&resp, CACHE_CONTROL);
        if path.contains('@') {
            assert_eq!(cache, "public, max-age=31536000, immutable", "{path}");
        } else {
            assert_eq!(cache, "no-cache", "{path}");
        }
        assert!(resp.bytes().await.unwrap().len() > 30, "{path} has content");
    }
    let missing = app
        .client
        .get(format!("{}/graphql/assets/react@18.3.1/missing.js", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
});

db_test!(the_playground_script_sets_up_the_token_header_editor, |app| {
    let js = app
        .client
        .get(format!("{}/graphql/assets/playground.js", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for setting in [
        "isHeadersEditorEnabled: true",
        "Authorization: 'Bearer '",
        "dataset.endpoint",
    ] {
        assert!(js.contains(setting), "playground.js has {setting}");
    }
});
