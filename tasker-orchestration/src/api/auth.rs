//! Authentication and authorisation of API requests: API keys (compared by SHA-256 digest, so keys are
//! never stored) and HS256 JWT bearer tokens carrying a `permissions` claim. 401 without valid credentials,
//! 403 without the permission the route needs.

use super::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tasker_shared::config::AuthConfig;

/// The permission a request needs, from its method and path.
fn required_permission(method: &Method, path: &str) -> Option<&'static str> {
    let read = method == Method::GET || method == Method::HEAD || method == Method::OPTIONS;
    if path.starts_with("/v1/templates") {
        return Some(if read { "templates:read" } else { "templates:write" });
    }
    if path.starts_with("/v1/") {
        return Some(if read { "tasks:read" } else { "tasks:write" });
    }
    None
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    permissions: Vec<String>,
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message, None)
}

fn presented_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key.trim());
    }
    let auth = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The permissions `token` grants, or `None` if it is not a valid credential.
fn permissions_of(config: &AuthConfig, token: &str) -> Option<Vec<String>> {
    let digest: String = Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    if let Some(key) = config.api_keys.iter().find(|k| k.sha256.eq_ignore_ascii_case(&digest)) {
        return Some(key.permissions.clone());
    }
    let secret = config.jwt_secret.as_ref()?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    // No audience is configured: a token's `aud`, if any, is not checked (its signature and `exp` are).
    validation.validate_aud = false;
    let key = jsonwebtoken::DecodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::decode::<Claims>(token, &key, &validation).ok().map(|data| data.claims.permissions)
}

/// Middleware: enforce `config` on every request it wraps.
pub async fn require_auth(
    State(config): State<Arc<AuthConfig>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let path = request.uri().path().to_string();
    let needed = required_permission(request.method(), &path);
    // The dashboard's assets hold no data (its pages call the API, with the key the person gives them).
    let protected = (needed.is_some() || config.protect_health) && !super::ui::is_asset_path(&path);
    if !config.enabled || !protected {
        return Ok(next.run(request).await);
    }
    let token = presented_token(request.headers()).ok_or_else(|| unauthorized("credentials required"))?;
    let granted = permissions_of(&config, token).ok_or_else(|| unauthorized("invalid credentials"))?;
    if let Some(needed) = needed {
        if !granted.iter().any(|p| p == "*" || p == needed) {
            tracing::info!(%path, needed, "request denied: missing permission");
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("missing permission `{needed}`"),
                None,
            ));
        }
    }
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tasker_shared::config::ApiKey;

    fn config() -> AuthConfig {
        AuthConfig {
            enabled: true,
            protect_health: false,
            api_keys: vec![ApiKey {
                name: "reader".into(),
                // sha256("reader-key")
                sha256: Sha256::digest(b"reader-key").iter().map(|b| format!("{b:02x}")).collect(),
                permissions: vec!["tasks:read".into()],
            }],
            jwt_secret: Some("s3cret".into()),
        }
    }

    #[test]
    fn api_keys_match_by_digest() {
        assert_eq!(permissions_of(&config(), "reader-key"), Some(vec!["tasks:read".to_string()]));
        assert_eq!(permissions_of(&config(), "wrong"), None);
    }

    #[test]
    fn jwt_tokens_carry_permissions() {
        let claims = serde_json::json!({"sub": "svc", "exp": 4_000_000_000u64, "permissions": ["tasks:write"]});
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert_eq!(permissions_of(&config(), &token), Some(vec!["tasks:write".to_string()]));
        let forged = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"other"),
        )
        .unwrap();
        assert_eq!(permissions_of(&config(), &forged), None);
    }

    #[test]
    fn routes_need_the_right_permission() {
        assert_eq!(required_permission(&Method::GET, "/v1/tasks"), Some("tasks:read"));
        assert_eq!(required_permission(&Method::POST, "/v1/tasks"), Some("tasks:write"));
        assert_eq!(required_permission(&Method::GET, "/v1/templates"), Some("templates:read"));
        assert_eq!(required_permission(&Method::GET, "/health/ready"), None);
    }
}
