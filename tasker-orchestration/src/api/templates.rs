//! `/v1/templates`: list every template, register one (JSON or YAML), list a template's versions, retire one.

use super::error::ApiError;
use super::extract::body_rejection;
use super::extract::Path;
use super::openapi::{ErrorBody, TemplateList};
use super::AppState;
use crate::template_registry::{self, Registered, TemplateVersion};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use serde_json::json;

/// `GET /v1/templates`: every registered template.
#[utoipa::path(get, path = "/v1/templates", tag = "templates",
    responses((status = 200, description = "Every registered template", body = TemplateList)))]
pub async fn list(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let templates = state.catalog.list().await?;
    Ok(Json(json!({"templates": templates})))
}

/// What `POST /v1/templates` answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TemplateKey {
    pub namespace: String,
    pub name: String,
    pub version: String,
}

/// `GET /v1/templates/{namespace}/{name}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TemplateVersions {
    pub namespace: String,
    pub name: String,
    /// Newest first.
    pub versions: Vec<TemplateVersion>,
}

/// `POST /v1/templates` with a template as JSON, or as YAML (`content-type: application/yaml`): validated like a
/// template file. 201 when new, 200 when the same content was registered already, 409 for other content under a
/// registered version.
#[utoipa::path(post, path = "/v1/templates", tag = "templates",
    request_body(content = Object, description = "A task template (JSON, or YAML with content-type application/yaml)"),
    responses((status = 201, description = "Registered", body = TemplateKey),
              (status = 200, description = "Already registered with this content", body = TemplateKey),
              (status = 400, description = "The body is not UTF-8 text", body = ErrorBody),
              (status = 409, description = "This version is registered with other content", body = ErrorBody),
              (status = 413, description = "Body too large", body = ErrorBody),
              (status = 415, description = "Neither JSON nor YAML", body = ErrorBody),
              (status = 422, description = "Not a valid template (the field is named)", body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.map_err(body_rejection)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !matches!(essence.as_str(), "application/json" | "application/yaml" | "application/x-yaml" | "text/yaml") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the template as application/json or application/yaml",
            Some("content-type".into()),
        ));
    }
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request(Some("body".to_string()), "not UTF-8"))?;
    // YAML is a superset of JSON: one parser and one validation for both, the same as for template files.
    let template =
        tasker_shared::template::parse_template(text).map_err(|e| ApiError::invalid(e.field.clone(), e.to_string()))?;
    let key = TemplateKey {
        namespace: template.namespace.clone(),
        name: template.name.clone(),
        version: template.version.clone(),
    };
    let status = match template_registry::add_template(&state.catalog, template).await? {
        Registered::Created => StatusCode::CREATED,
        Registered::Unchanged => StatusCode::OK,
    };
    Ok((status, Json(key)))
}

/// `GET /v1/templates/{namespace}/{name}`: every version, newest first.
#[utoipa::path(get, path = "/v1/templates/{namespace}/{name}", tag = "templates",
    params(("namespace" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "The versions, newest first", body = TemplateVersions),
              (status = 404, description = "No such template", body = ErrorBody)))]
pub async fn versions(
    State(state): State<AppState>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let versions = template_registry::versions(&state.catalog, &namespace, &name).await?;
    Ok(Json(TemplateVersions { namespace, name, versions }))
}

/// `DELETE /v1/templates/{namespace}/{name}/{version}`: the version takes no new tasks; running ones finish.
#[utoipa::path(delete, path = "/v1/templates/{namespace}/{name}/{version}", tag = "templates",
    params(("namespace" = String, Path), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, description = "Retired", body = TemplateKey),
              (status = 404, description = "No such version", body = ErrorBody)))]
pub async fn retire(
    State(state): State<AppState>,
    Path((namespace, name, version)): Path<(String, String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    template_registry::retire(&state.catalog, &namespace, &name, &version).await?;
    Ok(Json(TemplateKey { namespace, name, version }))
}
