//! The GraphQL playground: GraphiQL served entirely from this server, so it works offline and
//! behind firewalls. The vendored browser builds of GraphiQL, React and ReactDOM (pinned
//! versions, see `assets/graphiql/README.md`) and our start-up script are compiled into the
//! binary; the page loads them from `/graphql/assets/…` under a Content-Security-Policy that
//! allows scripts from this server only, with no inline script at all.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};

/// What the page may load: scripts, styles and API calls from this server only, no inline
/// script or style. GraphiQL's stylesheet embeds its fonts and icons as `data:` URLs, hence
/// `data:` for fonts and images. `connect-src 'self'` covers the GraphQL endpoint and its
/// same-origin WebSocket.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One file served under `/graphql/assets/`.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// Vendored files carry their version in the path, so a browser may keep them forever;
    /// our own files change with the server and are revalidated.
    immutable: bool,
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "graphiql@3.9.0/graphiql.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/graphiql/graphiql.min.js"),
        immutable: true,
    },
    Asset {
        path: "graphiql@3.9.0/graphiql.min.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/graphiql/graphiql.min.css"),
        immutable: true,
    },
    Asset {
        path: "react@18.3.1/react.production.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/graphiql/react.production.min.js"),
        immutable: true,
    },
    Asset {
        path: "react-dom@18.3.1/react-dom.production.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
        immutable: true,
    },
    Asset {
        path: "playground.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/playground/playground.js"),
        immutable: false,
    },
    Asset {
        path: "playground.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/playground/playground.css"),
        immutable: false,
    },
];

/// The page: GraphiQL with the endpoint pre-filled (read by `playground.js` from the data
/// attributes) and the headers editor open for the token.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>securescore playground</title>
  <link rel="stylesheet" href="/graphql/assets/graphiql@3.9.0/graphiql.min.css">
  <link rel="stylesheet" href="/graphql/assets/playground.css">
</head>
<body>
  <div id="graphiql" data-endpoint="/graphql" data-subscriptions="/graphql/ws">Loading the playground…</div>
  <script src="/graphql/assets/react@18.3.1/react.production.min.js"></script>
  <script src="/graphql/assets/react-dom@18.3.1/react-dom.production.min.js"></script>
  <script src="/graphql/assets/graphiql@3.9.0/graphiql.min.js"></script>
  <script src="/graphql/assets/playground.js"></script>
</body>
</html>
"#;

/// `GET /graphql` from a browser.
pub fn page() -> Response {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_VALUE),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (CACHE_CONTROL, "no-cache"),
            (HeaderName::from_static("referrer-policy"), "no-referrer"),
        ],
        PAGE,
    )
        .into_response()
}

/// `GET /graphql/assets/{*path}`.
pub async fn asset(Path(path): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let cache = if asset.immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (CONTENT_TYPE, asset.content_type),
            (CACHE_CONTROL, cache),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.body,
    )
        .into_response()
}
