//! Authentication, permissions and CORS through the real router.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::{test_config, TestCluster};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tasker_shared::config::ApiKey;
use tower::ServiceExt;

fn digest(key: &str) -> String {
    Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

async fn call(
    c: &TestCluster,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, serde_json::Value, axum::http::HeaderMap) {
    let mut req = Request::builder().method(method).uri(path).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = if method == "POST" {
        Body::from(r#"{"namespace":"linear_workflow","name":"mathematical_sequence","context":{"even_number":2}}"#)
    } else {
        Body::empty()
    };
    let res = c.router.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null), headers)
}

#[sqlx::test(migrations = false)]
async fn api_keys_and_jwt_guard_v1_but_not_health(pool: PgPool) {
    let mut config = test_config();
    config.auth.enabled = true;
    config.auth.api_keys = vec![
        ApiKey { name: "reader".into(), sha256: digest("reader-key"), permissions: vec!["tasks:read".into()] },
        ApiKey { name: "admin".into(), sha256: digest("admin-key"), permissions: vec!["*".into()] },
    ];
    config.auth.jwt_secret = Some("jwt-secret".into());
    config.cors.allowed_origins = vec!["https://console.example.com".into()];
    let c = TestCluster::start_with(pool, 1, 0, config).await;

    let (s, body, _) = call(&c, "GET", "/v1/tasks", &[]).await;
    assert_eq!(s, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(call(&c, "GET", "/v1/tasks", &[("x-api-key", "nope")]).await.0, 401);
    assert_eq!(call(&c, "GET", "/v1/tasks", &[("x-api-key", "reader-key")]).await.0, 200);
    let (s, body, _) = call(&c, "POST", "/v1/tasks", &[("authorization", "Bearer reader-key")]).await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(call(&c, "POST", "/v1/tasks", &[("authorization", "Bearer admin-key")]).await.0, 201);

    let claims = serde_json::json!({"sub": "svc", "exp": 4_000_000_000u64, "permissions": ["tasks:write"]});
    let token =
        jsonwebtoken::encode(&Default::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(b"jwt-secret"))
            .unwrap();
    let bearer = format!("Bearer {token}");
    assert_eq!(call(&c, "POST", "/v1/tasks", &[("authorization", &bearer)]).await.0, 201);
    assert_eq!(call(&c, "GET", "/v1/tasks", &[("authorization", &bearer)]).await.0, 403);

    assert_eq!(call(&c, "GET", "/health/ready", &[]).await.0, 200);
    assert_eq!(call(&c, "GET", "/metrics", &[]).await.0, 200);

    let (_, _, h) = call(&c, "GET", "/health/live", &[("origin", "https://console.example.com")]).await;
    assert_eq!(h.get("access-control-allow-origin").map(|v| v.to_str().unwrap()), Some("https://console.example.com"));
    let (_, _, h) = call(&c, "GET", "/health/live", &[("origin", "https://evil.example")]).await;
    assert!(h.get("access-control-allow-origin").is_none());
    c.stop().await;
}
