//! Extractors whose rejections answer the API's JSON error shape and name the field at fault.

use super::error::ApiError;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// A JSON body; malformed JSON is a 400, a body of the wrong shape a 422 naming the field.
pub struct JsonBody<T>(pub T);

/// The field path serde_path_to_error puts at the start of axum's data-error text (`context.x: invalid …`).
fn field_of(text: &str) -> Option<String> {
    let detail = text.split_once("target type: ").map(|(_, d)| d).unwrap_or(text);
    if let Some(rest) = detail.strip_prefix("missing field `") {
        return rest.split('`').next().map(str::to_string);
    }
    if let Some(rest) = detail.split("unknown field `").nth(1) {
        return rest.split('`').next().map(str::to_string);
    }
    let (path, _) = detail.split_once(": ")?;
    (!path.contains(' ') && path != ".").then(|| path.to_string())
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// An optional JSON body: an empty body (whatever its content type) is `None`; anything else is read like
/// [`JsonBody`].
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(body_rejection)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        JsonBody::<T>::from_request(req, state).await.map(|JsonBody(v)| Self(Some(v)))
    }
}

/// A body that could not be read (too large, broken stream) as the API's error, naming `body`.
pub fn body_rejection(e: axum::extract::rejection::BytesRejection) -> ApiError {
    ApiError::new(
        e.status(),
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE { "payload_too_large" } else { "bad_request" },
        e.body_text(),
        Some("body".into()),
    )
}

/// A `namespace` query parameter, checked: 1-255 characters, no NUL (400 naming it).
pub fn check_namespace(namespace: Option<&str>) -> Result<(), ApiError> {
    if namespace.is_some_and(|n| n.is_empty() || n.contains('\0') || n.len() > 255) {
        return Err(ApiError::bad_request(Some("namespace".to_string()), "not a valid namespace"));
    }
    Ok(())
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::JsonDataError(_) => ApiError::invalid(field_of(&text).unwrap_or_else(|| "body".into()), text),
        JsonRejection::JsonSyntaxError(_) => ApiError::bad_request(Some("body".to_string()), text),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            text,
            Some("content-type".into()),
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", other.body_text(), Some("body".into()))
        }
        other => ApiError::bad_request(Some("body".to_string()), other.body_text()),
    }
}

/// Query parameters; a bad one is a 400 naming it. (Read as axum's `Query` reads them, through
/// `serde_path_to_error`, since the urlencoded deserializer's own messages do not say which parameter failed.)
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Self).map_err(|e| {
            let path = e.path().to_string();
            let field = (path != ".").then_some(path).or_else(|| field_of(&e.inner().to_string()));
            ApiError::bad_request(field, format!("Failed to deserialize query string: {}", e.inner()))
        })
    }
}

/// Path parameters, as axum's `Path` reads them; one it cannot read (invalid UTF-8 after percent-decoding, say) is
/// a 400 in the API's JSON error shape naming it, not axum's plain-text answer.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                let field = match e.kind() {
                    ErrorKind::InvalidUtf8InPathParam { key }
                    | ErrorKind::ParseErrorAtKey { key, .. }
                    | ErrorKind::DeserializeError { key, .. } => Some(key.clone()),
                    _ => None,
                };
                Err(ApiError::bad_request(field, e.body_text()))
            }
            Err(other) => Err(ApiError::bad_request(None, other.body_text())),
        }
    }
}

/// Parse a UUID path segment, naming the parameter when it is not one.
pub fn parse_uuid(name: &str, raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::bad_request(Some(name.to_string()), format!("`{raw}` is not a UUID")))
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn finds_the_field_in_serde_messages() {
        assert_eq!(
            field_of("Failed to deserialize the JSON body into the target type: missing field `namespace` at line 1"),
            Some("namespace".into())
        );
        assert_eq!(
            field_of("Failed to deserialize the JSON body into the target type: priority: invalid type: string"),
            Some("priority".into())
        );
        assert_eq!(
            field_of(
                "Failed to deserialize the JSON body into the target type: unknown field `bogus`, expected one of"
            ),
            Some("bogus".into())
        );
    }
}
