//! The dashboard at `/ui` (`docs/dashboard.md`): static assets built into the binary (no CDN, no network at run
//! time), served without authentication since they hold no data; the pages read the REST API and the event stream
//! with the API key a person gives them. Every `/ui/...` path that is not an asset answers the page, whose script
//! routes on the path.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// The page, sent for `/ui` and every page path under it.
const INDEX: &str = include_str!("../../ui/index.html");

/// `(path under /ui/assets/, content type, content)`.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", "text/css; charset=utf-8", include_str!("../../ui/app.css")),
    ("js/main.js", JS, include_str!("../../ui/js/main.js")),
    ("js/api.js", JS, include_str!("../../ui/js/api.js")),
    ("js/dom.js", JS, include_str!("../../ui/js/dom.js")),
    ("js/dag.js", JS, include_str!("../../ui/js/dag.js")),
    ("js/pages/overview.js", JS, include_str!("../../ui/js/pages/overview.js")),
    ("js/pages/tasks.js", JS, include_str!("../../ui/js/pages/tasks.js")),
    ("js/pages/task.js", JS, include_str!("../../ui/js/pages/task.js")),
    ("js/pages/resolve.js", JS, include_str!("../../ui/js/pages/resolve.js")),
    ("js/pages/dlq.js", JS, include_str!("../../ui/js/pages/dlq.js")),
    ("js/pages/templates.js", JS, include_str!("../../ui/js/pages/templates.js")),
    ("js/pages/schedules.js", JS, include_str!("../../ui/js/pages/schedules.js")),
];

const JS: &str = "text/javascript; charset=utf-8";

/// Assets change only with the binary: a browser may keep them for an hour, and revalidates the page each time.
const ASSET_CACHE: &str = "public, max-age=3600";

/// Whether `path` is the dashboard's (served to anyone).
pub fn is_asset_path(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// `GET /ui` and `GET /ui/{page path}`: the page.
pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-content-type-options"), "nosniff"),
        ],
        INDEX,
    )
        .into_response()
}

/// `GET /ui/assets/{path}`: a script or the style sheet; 404 for anything else.
pub async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == path) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, ASSET_CACHE),
                (header::HeaderName::from_static("x-content-type-options"), "nosniff"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_scripts_import_is_served() {
        for (name, _, body) in ASSETS.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            let dir = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let target = line.split('\'').nth(1).expect("an import names a module");
                let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
                for segment in target.split('/') {
                    match segment {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                let resolved = parts.join("/");
                assert!(ASSETS.iter().any(|(n, _, _)| *n == resolved), "{name} imports {target}, not served");
            }
        }
        let total: usize = ASSETS.iter().map(|(_, _, b)| b.len()).sum::<usize>() + INDEX.len();
        assert!(total < 1_000_000, "the dashboard is {total} bytes");
    }
}
