//! The built-in dashboard: a browser client of the public GraphQL API (HTTP and the
//! `graphql-transport-ws` subscriptions), served by the binary at `GET /` and at its deep links
//! (`/tenants/{slug}`, `/tenants/{slug}/actions/{controlId}`, …), which all answer the same page;
//! the page's router reads the path.
//!
//! Every file under `assets/dashboard/` is compiled into the binary (`rust-embed`; a debug build
//! reads them from the source tree instead, so editing a script needs no rebuild) and served
//! under `/dashboard/assets/…`. Plain ES modules, no build step, no inline script or style, under
//! a Content-Security-Policy that allows this server only. Vendored libraries carry their
//! version in their path (`vendor/<package>@<version>/…`) and are cached for good; our own
//! files are revalidated by their content hash.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

/// The dashboard's files (`assets/dashboard/`).
#[derive(Embed)]
#[folder = "assets/dashboard/"]
struct Files;

/// What the page may load: scripts, styles, images and API calls (HTTP and the same-origin
/// WebSocket) from this server only; no inline script or style, no frames, no forms posted
/// anywhere.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; manifest-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const REFERRER_POLICY: HeaderName = HeaderName::from_static("referrer-policy");

/// `GET /`, `GET /tenants` and `GET /tenants/{*rest}`: the page. The path is the client's.
pub async fn page() -> Response {
    let Some(file) = Files::get("index.html") else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the dashboard page is missing from this build",
        )
            .into_response();
    };
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_VALUE),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (CACHE_CONTROL, "no-cache"),
            (REFERRER_POLICY, "no-referrer"),
        ],
        file.data,
    )
        .into_response()
}

/// The content type of a file, by its extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        _ => "text/plain; charset=utf-8",
    }
}

/// `GET /dashboard/assets/{*path}`: one file, with an `ETag` of its content (a matching
/// `If-None-Match` answers 304). The page itself is not an asset.
pub async fn asset(axum::extract::Path(path): axum::extract::Path<String>, headers: HeaderMap) -> Response {
    let file = match Files::get(&path) {
        Some(file) if path != "index.html" => file,
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    let hash = file.metadata.sha256_hash();
    let etag = format!("\"{}\"", hex(&hash[..16]));
    let cache = if path.starts_with("vendor/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = if headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(CONTENT_TYPE, content_type(&path))], file.data).into_response()
    };
    let h = response.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, value);
    }
    response
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_has_a_known_type_and_the_page_loads_only_embedded_files() {
        let page =
            String::from_utf8(Files::get("index.html").expect("index.html").data.into_owned()).unwrap();
        for file in Files::iter() {
            if file.ends_with(".md")
                || file.ends_with("LICENSE")
                || file.ends_with(".sh")
                || file.ends_with("SHA256SUMS")
            {
                continue;
            }
            assert_ne!(
                content_type(&file),
                "text/plain; charset=utf-8",
                "{file} has no content type"
            );
        }
        // Every script and style sheet the page names is one of ours, served from this server.
        for part in page
            .split(['"', '\''])
            .filter(|p| p.starts_with("/dashboard/assets/"))
        {
            let path = part.trim_start_matches("/dashboard/assets/");
            assert!(
                Files::get(path).is_some(),
                "index.html loads {part}, which is not embedded"
            );
        }
        assert!(!page.contains("<script>"), "no inline script");
        assert!(!page.contains("style="), "no inline style");
    }
}
