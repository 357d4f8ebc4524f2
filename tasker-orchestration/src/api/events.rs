//! The event stream over Server-Sent Events: `GET /v1/tasks/{task_uuid}/events` (one task, ends after its
//! final event) and `GET /v1/events` (every task, or one namespace's; does not end). A client resumes with the
//! standard `Last-Event-ID` header (or `?after=`): it gets every event after that id, none twice.

use super::error::ApiError;
use super::extract::{check_namespace, parse_uuid, Path, QueryParams};
use super::openapi::ErrorBody;
use super::AppState;
use crate::events::{follow, log::stream_end, Event, Scope};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{self, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use std::convert::Infallible;

/// Query of the event streams.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only tasks of this namespace (`/v1/events` only).
    namespace: Option<String>,
    /// Start after this event id (the `Last-Event-ID` header wins when both are given). Without either,
    /// `/v1/events` starts at the current end and a task's stream at its first event.
    after: Option<String>,
}

/// `GET /v1/tasks/{task_uuid}/events`: the task's past events in order, then live ones; the stream ends after
/// the task's final event (`complete`, `error`, `cancelled`).
#[utoipa::path(get, path = "/v1/tasks/{task_uuid}/events", tag = "events",
    params(("task_uuid" = Uuid, Path, description = "The task"), EventsQuery,
           ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id")),
    responses((status = 200, description = "`text/event-stream`: `id: <id>`, `event: task|step`, `data: <Event>`",
                body = Event, content_type = "text/event-stream"),
              (status = 400, description = "A bad parameter (named in `field`)", body = ErrorBody),
              (status = 404, description = "No such task", body = ErrorBody)))]
pub async fn task_events(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    QueryParams(q): QueryParams<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<sse::Event, Infallible>>>, ApiError> {
    let task_uuid = parse_uuid("task_uuid", &raw)?;
    if q.namespace.is_some() {
        return Err(ApiError::bad_request(Some("namespace".to_string()), "a task's stream takes no namespace"));
    }
    let after = start_after(&state, &headers, q.after.as_deref()).await?.unwrap_or(0);
    // 404 for an unknown task (a task deleted by retention is unknown too).
    crate::task_query::get_task(&state.pool, task_uuid).await?;
    Ok(stream(follow(&state.events, Scope::Task(task_uuid), after)))
}

/// `GET /v1/events?namespace=&after=`: every task's events (or one namespace's), live; never ends.
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(EventsQuery, ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id")),
    responses((status = 200, description = "`text/event-stream`: `id: <id>`, `event: task|step`, `data: <Event>`",
                body = Event, content_type = "text/event-stream"),
              (status = 400, description = "A bad parameter (named in `field`)", body = ErrorBody)))]
pub async fn all_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryParams(q): QueryParams<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<sse::Event, Infallible>>>, ApiError> {
    check_namespace(q.namespace.as_deref())?;
    let after = match start_after(&state, &headers, q.after.as_deref()).await? {
        Some(after) => after,
        None => stream_end(&state.pool).await?,
    };
    Ok(stream(follow(&state.events, Scope::All { namespace: q.namespace }, after)))
}

/// Where a stream starts: `Last-Event-ID`, else `after`, else `None`. An id must be one the stream has handed
/// out (0 up to its end); anything else is a 400 naming the header or the parameter.
async fn start_after(state: &AppState, headers: &HeaderMap, after: Option<&str>) -> Result<Option<i64>, ApiError> {
    let (field, raw) = match (headers.get("last-event-id"), after) {
        (Some(header), _) => ("Last-Event-ID", header.to_str().unwrap_or("\u{fffd}")),
        (None, Some(raw)) => ("after", raw),
        (None, None) => return Ok(None),
    };
    let bad = |message: String| ApiError::bad_request(Some(field.to_string()), message);
    let id: i64 = raw.trim().parse().map_err(|_| bad(format!("`{raw}` is not an event id (a whole number)")))?;
    if id < 0 {
        return Err(bad("must not be negative".into()));
    }
    let end = stream_end(&state.pool).await?;
    if id > end {
        return Err(bad(format!("{id} is past the stream's last event ({end})")));
    }
    Ok(Some(id))
}

fn stream(events: tokio::sync::mpsc::Receiver<Event>) -> Sse<impl Stream<Item = Result<sse::Event, Infallible>>> {
    let stream = futures::stream::unfold(events, |mut events| async move {
        let event = events.recv().await?;
        let message = sse::Event::default()
            .id(event.id.to_string())
            .event(event.kind.as_str())
            .json_data(&event)
            .unwrap_or_else(|_| sse::Event::default().comment("unserializable event"));
        Some((Ok(message), events))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
