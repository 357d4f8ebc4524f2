//! The transport: one base URL, the credentials, JSON in and out, Server-Sent Events for the streams.

use crate::error::{ClientError, ClientResult};
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

/// A configured client of one server.
pub struct Client {
    base: String,
    http: reqwest::Client,
}

/// One Server-Sent Event: its `event:` name and its JSON `data:`.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    /// `task` or `step`.
    pub kind: String,
    /// The event (`id`, `task_uuid`, `step_name`, `from_state`, `to_state`, `reason`, `at`, …).
    pub data: Value,
}

impl Client {
    /// A client of `server` (`http://127.0.0.1:8080`) sending `api_key` (as `X-API-Key`) or `token` (as a bearer
    /// token) when given.
    pub fn new(server: &str, api_key: Option<&str>, token: Option<&str>) -> ClientResult<Self> {
        let mut headers = HeaderMap::new();
        let bad = |what: &str| ClientError::Invalid(format!("the {what} contains characters not allowed in a header"));
        if let Some(key) = api_key {
            headers.insert("x-api-key", HeaderValue::from_str(key).map_err(|_| bad("API key"))?);
        }
        if let Some(token) = token {
            headers.insert(AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| bad("token"))?);
        }
        // No request waits forever on a server that accepts connections and never answers: connecting is bounded,
        // a read that stalls longer than three of the event stream's 15-second keep-alives drops the connection
        // (a stream then resumes), and a plain request has `REQUEST_TIMEOUT` in all.
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .map_err(|e| ClientError::Invalid(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self { base: server.trim_end_matches('/').to_string(), http })
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, e: reqwest::Error) -> ClientError {
        ClientError::Unreachable(format!("cannot reach the server at {}: {e}", shown(&self.base)))
    }

    /// A request; the JSON answer of a 2xx, the mapped error otherwise.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Body>,
    ) -> ClientResult<Value> {
        self.send_for_status(method, path, query, body).await.map(|(_, json)| json)
    }

    /// [`Client::send`], with the 2xx status too.
    pub async fn send_for_status(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Body>,
    ) -> ClientResult<(u16, Value)> {
        let mut request =
            self.http.request(method, format!("{}{path}", self.base)).query(query).timeout(REQUEST_TIMEOUT);
        request = match body {
            Some(Body::Json(v)) => request.json(&v),
            Some(Body::Yaml(text)) => request.header(CONTENT_TYPE, "application/yaml").body(text),
            None => request,
        };
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| self.unreachable(e))?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            Ok((status, json))
        } else {
            Err(ClientError::from_response(status, &json))
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> ClientResult<Value> {
        self.send(Method::GET, path, &[], None).await
    }

    /// `GET path?query`.
    pub async fn get_query(&self, path: &str, query: &[(&str, String)]) -> ClientResult<Value> {
        self.send(Method::GET, path, query, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> ClientResult<Value> {
        self.send(Method::POST, path, &[], Some(Body::Json(body))).await
    }

    /// Follow the event stream at `path`, calling `on_event` for each event until the server ends the stream or
    /// `on_event` returns `false`. A dropped connection is resumed with `Last-Event-ID`.
    pub async fn follow(
        &self,
        path: &str,
        query: &[(&str, String)],
        mut on_event: impl FnMut(StreamEvent) -> bool,
    ) -> ClientResult<()> {
        let mut last_id: Option<String> = None;
        let mut failures = 0u32;
        loop {
            let mut request =
                self.http.get(format!("{}{path}", self.base)).query(query).header("accept", "text/event-stream");
            if let Some(id) = &last_id {
                request = request.header("last-event-id", id.as_str());
            }
            let response = match request.send().await {
                Ok(r) => r,
                // Reconnect after a drop mid-stream (a server restarting); not when it never answered.
                Err(_) if failures < 5 && last_id.is_some() => {
                    failures += 1;
                    pause(failures).await;
                    continue;
                }
                Err(e) => return Err(self.unreachable(e)),
            };
            let status = response.status().as_u16();
            if !(200..300).contains(&status) {
                let json = response.json::<Value>().await.unwrap_or(Value::Null);
                return Err(ClientError::from_response(status, &json));
            }
            let mut bytes = response.bytes_stream();
            // Bytes, not text: a character split across two chunks is decoded whole.
            let mut buffer: Vec<u8> = Vec::new();
            let mut ended_cleanly = true;
            while let Some(chunk) = bytes.next().await {
                let Ok(chunk) = chunk else {
                    ended_cleanly = false;
                    break;
                };
                buffer.extend_from_slice(&chunk);
                while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
                    let block = String::from_utf8_lossy(&buffer[..end + 2]).into_owned();
                    buffer.drain(..end + 2);
                    if let Some((id, event)) = parse_block(&block) {
                        last_id = Some(id);
                        failures = 0;
                        if !on_event(event) {
                            return Ok(());
                        }
                    }
                }
            }
            if ended_cleanly {
                return Ok(());
            }
            failures += 1;
            if failures > 5 {
                return Err(ClientError::Unreachable("the event stream kept breaking".into()));
            }
            pause(failures).await;
        }
    }
}

/// The longest a connection takes to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a read may stall (the server sends a keep-alive on a quiet event stream every 15 s).
const READ_TIMEOUT: Duration = Duration::from_secs(45);
/// The longest a request other than an event stream takes in all.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A request body.
pub enum Body {
    /// JSON.
    Json(Value),
    /// YAML text, sent as `application/yaml`.
    Yaml(String),
}

/// `url` with its password, if it has one, hidden (error messages are shown and logged).
fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string().trim_end_matches('/').to_string()
        }
        _ => url.to_string(),
    }
}

async fn pause(failures: u32) {
    tokio::time::sleep(Duration::from_millis(200 * u64::from(failures))).await;
}

/// An SSE block's id and event; `None` for comments (keep-alives) and blocks without data.
fn parse_block(block: &str) -> Option<(String, StreamEvent)> {
    let (mut id, mut kind, mut data) = (None, String::from("message"), String::new());
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("event:") {
            kind = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    let data = serde_json::from_str(&data).ok()?;
    Some((id?, StreamEvent { kind, data }))
}

#[cfg(test)]
mod tests {
    use super::{parse_block, shown};

    #[test]
    fn a_password_in_the_server_url_is_not_shown() {
        assert_eq!(shown("https://ops:s3cret@tasker.example"), "https://ops:***@tasker.example");
        assert_eq!(shown("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }

    #[test]
    fn parses_events_and_skips_keep_alives() {
        let (id, event) = parse_block("id: 42\nevent: step\ndata: {\"to_state\":\"complete\"}\n\n").unwrap();
        assert_eq!(
            (id.as_str(), event.kind.as_str(), event.data["to_state"].as_str()),
            ("42", "step", Some("complete"))
        );
        assert!(parse_block(":\n\n").is_none());
    }
}
