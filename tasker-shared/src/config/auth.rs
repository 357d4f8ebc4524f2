//! API authentication and CORS settings of the orchestration server.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Who may call `/v1`. Off by default (development); health and metrics stay open unless
/// `protect_health` is set.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Require credentials on every `/v1` endpoint.
    pub enabled: bool,
    /// Require them on `/health/*` and `/metrics` too.
    pub protect_health: bool,
    /// API keys, stored as SHA-256 hex digests (never the key itself). Sent as `X-API-Key: <key>` or
    /// `Authorization: Bearer <key>`.
    pub api_keys: Vec<ApiKey>,
    /// HS256 secret for JWT bearer tokens (claims: `sub`, `exp`, `permissions: [..]`); unset disables JWT.
    /// Prefer `TASKER__AUTH__JWT_SECRET` over writing it in a file.
    #[serde(skip_serializing)]
    pub jwt_secret: Option<String>,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("enabled", &self.enabled)
            .field("protect_health", &self.protect_health)
            .field("api_keys", &self.api_keys)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// One API key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// A name for logs and audits.
    pub name: String,
    /// Lowercase hex SHA-256 of the key (`printf %s "$KEY" | sha256sum`).
    pub sha256: String,
    /// Granted permissions: `tasks:read`, `tasks:write`, `templates:read`, or `*`.
    #[serde(default = "all_permissions")]
    pub permissions: Vec<String>,
}

fn all_permissions() -> Vec<String> {
    vec!["*".into()]
}

/// Cross-origin requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins allowed to call the API from a browser (`https://app.example.com`); empty allows none.
    pub allowed_origins: Vec<String>,
}
