//! A minimal Server-Sent Events reader over the in-process router, for the event stream tests.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use std::time::Duration;
use tower::ServiceExt;

/// One SSE message.
#[derive(Debug, Clone)]
pub struct SseMessage {
    pub id: i64,
    pub event: String,
    pub data: Value,
}

/// An open stream.
pub struct SseReader {
    body: Body,
    buffer: String,
}

impl SseReader {
    /// `GET path` (with `Last-Event-ID` when given); the status and, on 200, the stream (else the JSON body).
    pub async fn open(
        router: &axum::Router,
        path: &str,
        last_event_id: Option<&str>,
    ) -> Result<Self, (StatusCode, Value)> {
        let mut req = Request::builder().method("GET").uri(path);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let res = router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let status = res.status();
        if status != StatusCode::OK {
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            return Err((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)));
        }
        let content_type = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
        assert_eq!(content_type.as_deref(), Some("text/event-stream"));
        Ok(Self { body: res.into_body(), buffer: String::new() })
    }

    /// The next message; `None` when the server ended the stream. Panics after `seconds` without one.
    pub async fn next(&mut self, seconds: u64) -> Option<SseMessage> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(message) = parse(&block) {
                    return Some(message);
                }
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .unwrap_or_else(|_| panic!("no event within {seconds}s"));
            match frame {
                None => return None,
                Some(frame) => {
                    if let Ok(data) = frame.expect("stream frame").into_data() {
                        self.buffer.push_str(std::str::from_utf8(&data).expect("utf-8 stream"));
                    }
                }
            }
        }
    }

    /// Every message until the server ends the stream.
    pub async fn read_to_end(&mut self, seconds: u64) -> Vec<SseMessage> {
        let mut all = Vec::new();
        while let Some(m) = self.next(seconds).await {
            all.push(m);
        }
        all
    }
}

/// A message block; `None` for a comment-only block (keep-alive).
fn parse(block: &str) -> Option<SseMessage> {
    let (mut id, mut event, mut data) = (None, String::from("message"), String::new());
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().parse().expect("numeric id"));
        } else if let Some(v) = line.strip_prefix("event:") {
            event = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim_start());
        }
    }
    Some(SseMessage { id: id?, event, data: serde_json::from_str(&data).expect("JSON data") })
}
