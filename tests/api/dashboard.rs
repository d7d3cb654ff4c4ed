//! The built-in dashboard as HTTP sees it: the page at `/` and at its deep links, its
//! Content-Security-Policy, every module it loads (followed through their imports) served from
//! this server with its type and cache policy, and the rules its scripts keep: only the public
//! API (`/graphql`, `/graphql/ws`, the exports), the token never in `localStorage`. What it
//! shows and does is tested in Chromium by `.ci/browser-test/dashboard.mjs`.

use crate::db_test;
use crate::helpers::*;
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use std::collections::BTreeSet;

fn header(resp: &reqwest::Response, name: impl reqwest::header::AsHeaderName) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.address))
        .header("accept", "text/html,*/*")
        .send()
        .await
        .unwrap()
}

/// The relative imports of an ES module (`from './x.js'`, `from '../y.js'`), resolved against
/// its path under `/dashboard/assets/`.
fn imports(path: &str, source: &str) -> Vec<String> {
    let dir = &path[..path.rfind('/').unwrap()];
    source
        .split("from '")
        .skip(1)
        .filter_map(|rest| rest.split('\'').next())
        .filter(|target| target.starts_with('.'))
        .map(|target| {
            let mut parts: Vec<&str> = dir.split('/').collect();
            for piece in target.split('/') {
                match piece {
                    "." => {}
                    ".." => {
                        parts.pop();
                    }
                    other => parts.push(other),
                }
            }
            parts.join("/")
        })
        .collect()
}

db_test!(the_dashboard_is_served_at_the_root_and_at_its_deep_links, |app| {
    let root = get(&app, "/").await;
    assert_eq!(root.status(), StatusCode::OK);
    assert_eq!(header(&root, CONTENT_TYPE), "text/html; charset=utf-8");
    let csp = header(&root, reqwest::header::CONTENT_SECURITY_POLICY);
    for directive in [
        "default-src 'none'",
        "script-src 'self';",
        "style-src 'self';",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "CSP has {directive}: {csp}");
    }
    assert!(!csp.contains("unsafe"), "no unsafe-inline or unsafe-eval: {csp}");
    let html = root.text().await.unwrap();
    assert!(html.contains(r#"<div id="app">"#), "{html}");
    assert!(
        !html.contains("https://") && !html.contains("http://"),
        "nothing from elsewhere: {html}"
    );
    for script in html.split("<script").skip(1) {
        assert!(
            script.trim_start().starts_with("src=\"/dashboard/assets/")
                || script
                    .trim_start()
                    .starts_with("type=\"module\" src=\"/dashboard/assets/"),
            "no inline script: {script}"
        );
    }
    assert!(!html.contains("style=\""), "no inline style");

    // Deep links answer the same page, so a bookmark or a shared URL opens the dashboard there.
    for path in [
        "/tenants",
        "/tenants/contoso",
        "/tenants/contoso/actions",
        "/tenants/contoso/actions/MFARegistrationV2?status=TO_ADDRESS",
        "/tenants/contoso/history",
    ] {
        let resp = get(&app, path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header(&resp, reqwest::header::CONTENT_SECURITY_POLICY),
            csp,
            "{path}"
        );
        assert_eq!(resp.text().await.unwrap(), html, "{path}");
    }
    // Other paths are not the dashboard's.
    assert_eq!(get(&app, "/nothing-here").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        get(&app, "/dashboard/assets/index.html").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, "/dashboard/assets/no-such.js").await.status(),
        StatusCode::NOT_FOUND
    );
});

db_test!(
    every_file_the_dashboard_loads_is_served_from_this_server_with_its_type,
    |app| {
        let html = get(&app, "/").await.text().await.unwrap();
        let mut todo: Vec<String> = html
            .split('"')
            .filter(|s| s.starts_with("/dashboard/assets/"))
            .map(str::to_string)
            .collect();
        assert!(todo.iter().any(|p| p.ends_with("/app.js")), "{todo:?}");
        assert!(todo.iter().any(|p| p.contains("/vendor/graphql-ws@")), "{todo:?}");
        let mut seen = BTreeSet::new();
        let mut scripts = Vec::new();
        while let Some(path) = todo.pop() {
            if !seen.insert(path.clone()) {
                continue;
            }
            let resp = get(&app, &path).await;
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            let expected = match path.rsplit('.').next().unwrap() {
                "js" => "text/javascript; charset=utf-8",
                "css" => "text/css; charset=utf-8",
                "svg" => "image/svg+xml",
                other => panic!("unexpected asset type {other}: {path}"),
            };
            assert_eq!(header(&resp, CONTENT_TYPE), expected, "{path}");
            assert_eq!(
                header(&resp, reqwest::header::X_CONTENT_TYPE_OPTIONS),
                "nosniff",
                "{path}"
            );
            let cache = header(&resp, CACHE_CONTROL);
            let etag = header(&resp, ETAG);
            if path.contains("/vendor/") {
                assert!(path.contains('@'), "vendored files carry their version: {path}");
                assert_eq!(cache, "public, max-age=31536000, immutable", "{path}");
            } else {
                assert_eq!(cache, "no-cache", "{path}");
            }
            let body = resp.text().await.unwrap();
            assert!(body.len() > 30, "{path} has content");
            // Revalidation: the same ETag answers 304 without a body.
            let again = app
                .client
                .get(format!("{}{path}", app.address))
                .header(IF_NONE_MATCH, &etag)
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
            if path.ends_with(".js") && !path.contains("/vendor/") {
                todo.extend(imports(&path, &body));
                scripts.push((path, body));
            }
        }
        let names: Vec<&str> = scripts.iter().map(|(p, _)| p.as_str()).collect();
        for page in ["tenants", "overview", "actions", "history"] {
            assert!(
                names.iter().any(|n| n.ends_with(&format!("pages/{page}.js"))),
                "the {page} page is loaded: {names:?}"
            );
        }

        // The scripts keep the rules of a client of the public API.
        for (path, source) in &scripts {
            assert!(
                !source.contains("localStorage"),
                "{path}: the token stays out of localStorage"
            );
            assert!(
                !source.contains("innerHTML"),
                "{path}: API text is never parsed as HTML"
            );
            assert!(!source.contains("eval("), "{path}: no eval");
            for (at, _) in source.match_indices("fetch(") {
                // `refetch(` and the like are not calls of `fetch`.
                if source[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let call = &source[at + "fetch(".len()..];
                let target = call.split([',', ')']).next().unwrap().trim();
                assert!(
                    ["'/graphql'", "path"].contains(&target),
                    "{path}: fetch only from the API (or an export path): fetch({target}"
                );
            }
        }
        let api = &scripts.iter().find(|(p, _)| p.ends_with("/api.js")).unwrap().1;
        assert!(
            api.contains("sessionStorage"),
            "the token is kept in sessionStorage"
        );
        assert!(
            api.contains("'/graphql/ws'"),
            "live updates over the API's WebSocket"
        );
    }
);
