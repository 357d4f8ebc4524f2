//! `tasker-client` against real `tasker-server` and `tasker-worker` processes: create and wait (on the event
//! stream), results, a wait that runs out of time, cancel, and every refusal as a typed `ClientError`.

mod common;

use common::process::{database_url, start_server, start_worker};
use serde_json::json;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use tasker_client::{Client, ClientError, NewTask};

#[sqlx::test(migrations = false)]
async fn the_rust_client_creates_waits_reads_and_names_refusals(pool: PgPool) {
    let url = database_url(&pool).await;
    let server = start_server("server", &url, &[]).await;
    let _worker = start_worker("worker", &url, &[]).await;
    let client = Client::new(&format!("http://127.0.0.1:{}", server.port), None, None).unwrap();

    let linear = NewTask::new("linear_workflow", "mathematical_sequence", json!({"even_number": 6}));
    let task = client.create_and_wait(&linear, Duration::from_secs(30)).await.unwrap();
    assert_eq!(task.state(), "complete");
    assert!(task.is_done());
    assert_eq!(task.result("linear_step_4"), Some(&json!({"value": 6u64.pow(16).to_string()})));
    assert_eq!(task.error("linear_step_4"), None);
    assert_eq!(task.result("no_such_step"), None);

    let mut failing = client.create(&NewTask::new("error_workflow", "permanent_error", json!({}))).await.unwrap();
    assert_eq!(failing.state(), "steps_in_process");
    failing.wait(&client, Duration::from_secs(30)).await.unwrap();
    assert_eq!(failing.state(), "error");
    failing.refresh(&client).await.unwrap();
    let failed = failing;
    assert_eq!(failed.state(), "error");
    assert_eq!(failed.error("permanent_failure_step").unwrap()["retryable"], json!(false));

    // The Python and Ruby steps of this workflow have no worker here: it cannot finish.
    let stuck = client.create(&NewTask::new("polyglot", "priced_order", json!({"unit_cents": 1, "quantity": 1}))).await;
    let stuck = stuck.unwrap();
    let started = Instant::now();
    match client.wait(stuck.task_uuid(), Duration::from_secs(1)).await {
        Err(ClientError::WaitTimeout { task, timeout }) => {
            assert_eq!((task.state(), timeout), ("steps_in_process", Duration::from_secs(1)));
        }
        other => panic!("expected a wait timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(client.cancel(stuck.task_uuid(), Some("test over")).await.unwrap().state(), "cancelled");

    let api_error = |e: ClientError| match e {
        ClientError::Api { status, code, field, .. } => (status, code, field),
        other => panic!("expected an API error, got {other:?}"),
    };
    let missing = client.create(&NewTask::new("nowhere", "nothing", json!({}))).await.unwrap_err();
    assert_eq!(api_error(missing), (404, "not_found".into(), None));
    let invalid = NewTask::new("linear_workflow", "mathematical_sequence", json!({"even_number": 3}));
    assert_eq!(
        api_error(client.create(&invalid).await.unwrap_err()),
        (422, "validation_error".into(), Some("context.even_number".into()))
    );
    client.create(&linear.clone().idempotency_key("rust-client-1")).await.unwrap();
    let other = NewTask::new("linear_workflow", "mathematical_sequence", json!({"even_number": 8}))
        .idempotency_key("rust-client-1");
    assert_eq!(
        api_error(client.create(&other).await.unwrap_err()),
        (409, "idempotency_conflict".into(), Some("idempotency_key".into()))
    );
    let nobody = Client::new("http://127.0.0.1:1", None, None).unwrap();
    assert!(matches!(nobody.task("x").await, Err(ClientError::Unreachable(_))));
}
