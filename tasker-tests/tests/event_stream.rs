//! The event stream (`GET /v1/tasks/{uuid}/events`, `GET /v1/events`): every transition exactly once, in
//! commit order, resumable with `Last-Event-ID` without a gap or a duplicate, a task's final event last.

mod common;

use axum::http::StatusCode;
use common::sse::{SseMessage, SseReader};
use common::{component_pool, test_config, TestCluster};
use serde_json::json;
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use tasker_orchestration::events::log::read_events;
use tasker_orchestration::events::sequencer::place_events;
use tasker_orchestration::OrchestrationServer;

const LINEAR: (&str, &str) = ("linear_workflow", "mathematical_sequence");
const DIAMOND: (&str, &str) = ("diamond_workflow", "diamond_pattern");

/// How many audit rows (task and step transitions) the task has.
async fn audit_rows(pool: &PgPool, task: &str) -> usize {
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM tasker.task_transitions WHERE task_uuid = $1::uuid)
              + (SELECT count(*) FROM tasker.step_transitions WHERE task_uuid = $1::uuid)",
    )
    .bind(task)
    .fetch_one(pool)
    .await
    .unwrap();
    n as usize
}

/// Ids strictly increase and every message is well formed.
fn assert_ordered(messages: &[SseMessage]) {
    for pair in messages.windows(2) {
        assert!(pair[0].id < pair[1].id, "ids must increase: {} then {}", pair[0].id, pair[1].id);
    }
    for m in messages {
        assert_eq!(m.data["id"], json!(m.id));
        assert!(m.event == "task" || m.event == "step", "{m:?}");
        assert!(m.data["to_state"].is_string() && m.data["at"].is_string() && m.data["task_uuid"].is_string());
        assert_eq!(m.event == "step", m.data["step_name"].is_string(), "{m:?}");
    }
}

#[sqlx::test(migrations = false)]
async fn a_task_stream_replays_follows_and_ends_with_its_final_event(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 1).await;
    let task = c.create(DIAMOND.0, DIAMOND.1, json!({"even_number": 2})).await;
    // Opened while the task runs: past events first, then live ones, then the stream ends by itself.
    let mut live = SseReader::open(&c.router, &format!("/v1/tasks/{task}/events"), None).await.unwrap();
    let events = live.read_to_end(30).await;
    assert_ordered(&events);
    let last = events.last().unwrap();
    assert_eq!((last.event.as_str(), last.data["to_state"].as_str()), ("task", Some("complete")), "{last:?}");
    assert_eq!(events.len(), audit_rows(&c.pool, &task).await, "every audit row is one event");
    assert!(events.iter().all(|m| m.data["task_uuid"] == json!(task)));
    let first = &events[0];
    assert_eq!((first.event.as_str(), first.data["reason"].as_str()), ("task", Some("task created")), "creation first");
    let steps: HashSet<&str> = events.iter().filter_map(|m| m.data["step_name"].as_str()).collect();
    assert_eq!(steps.len(), 4, "all four diamond steps appear: {steps:?}");
    // Within a transaction, a step's completion comes before the enqueueing of the steps it unblocked.
    let at = |pred: &dyn Fn(&SseMessage) -> bool| events.iter().position(pred).unwrap();
    let first_completion = at(&|m| m.event == "step" && m.data["to_state"] == "complete");
    let first_unblocked =
        at(&|m| m.event == "step" && m.data["to_state"] == "enqueued" && m.data["reason"] != "root step");
    assert!(first_completion < first_unblocked, "{events:#?}");

    // The same stream again after the end is the same history, ending at once.
    let mut again = SseReader::open(&c.router, &format!("/v1/tasks/{task}/events"), None).await.unwrap();
    let replay = again.read_to_end(10).await;
    assert_eq!(replay.iter().map(|m| m.id).collect::<Vec<_>>(), events.iter().map(|m| m.id).collect::<Vec<_>>());

    // Resuming after any event yields exactly the rest; after the last one, nothing, and the stream ends.
    for k in [0, events.len() / 2, events.len() - 1] {
        let after = events[k].id.to_string();
        for (header, path) in [
            (Some(after.as_str()), format!("/v1/tasks/{task}/events")),
            (None, format!("/v1/tasks/{task}/events?after={after}")),
        ] {
            let mut resumed = SseReader::open(&c.router, &path, header).await.unwrap();
            let rest = resumed.read_to_end(10).await;
            let expected: Vec<i64> = events[k + 1..].iter().map(|m| m.id).collect();
            assert_eq!(rest.iter().map(|m| m.id).collect::<Vec<_>>(), expected, "resumed after event #{k}");
        }
    }
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_cancelled_task_streams_its_step_cancellations_then_ends_with_the_task(pool: PgPool) {
    // No worker: the task waits with its root steps enqueued until the operator cancels it.
    let c = TestCluster::start(pool, 1, 0).await;
    let task = c.create(DIAMOND.0, DIAMOND.1, json!({"even_number": 2})).await;
    let mut stream = SseReader::open(&c.router, &format!("/v1/tasks/{task}/events"), None).await.unwrap();
    let created = stream.next(10).await.expect("the creation event");
    assert_eq!(created.data["reason"], "task created");
    let (status, body) = c.post(&format!("/v1/tasks/{task}/cancel"), json!({"reason": "operator says stop"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut events = vec![created];
    events.extend(stream.read_to_end(10).await);
    assert_ordered(&events);
    let last = events.last().unwrap();
    assert_eq!((last.event.as_str(), last.data["to_state"].as_str()), ("task", Some("cancelled")));
    assert_eq!(last.data["reason"], "operator says stop");
    let cancelled_steps = events.iter().filter(|m| m.event == "step" && m.data["to_state"] == "cancelled").count();
    assert_eq!(cancelled_steps, 4, "each unfinished step's cancellation is an event before the task's");
    assert_eq!(events.len(), audit_rows(&c.pool, &task).await);
    c.stop().await;
}

/// Read `reader` until `want` events in total are in `seen`, checking order and uniqueness as they come.
async fn read_until(reader: &mut SseReader, seen: &mut Vec<SseMessage>, want: usize) {
    while seen.len() < want {
        let m = reader.next(30).await.expect("the global stream does not end");
        if let Some(prev) = seen.last() {
            assert!(m.id > prev.id, "ids increase across reconnects, no duplicate: {} after {}", m.id, prev.id);
        }
        seen.push(m);
    }
}

#[sqlx::test(migrations = false)]
async fn the_global_stream_loses_nothing_across_racing_orchestrators_and_a_reconnect_to_another_server(pool: PgPool) {
    let c = TestCluster::start(pool, 2, 2).await;
    let mut first = SseReader::open(&c.router, "/v1/events?after=0", None).await.unwrap();
    let mut diamonds_only =
        SseReader::open(&c.router, "/v1/events?namespace=diamond_workflow&after=0", None).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..24u64 {
        let (ns, name) = if n % 2 == 0 { LINEAR } else { DIAMOND };
        tasks.push(c.create(ns, name, json!({"even_number": 2 + 2 * (n % 5)})).await);
    }
    // Read part of the stream, drop the connection mid-way, resume from the last id seen.
    let mut seen = Vec::new();
    read_until(&mut first, &mut seen, 40).await;
    drop(first);
    let resume_from = seen.last().unwrap().id.to_string();
    c.wait_all_terminal(60).await;
    let total: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM tasker.task_transitions) + (SELECT count(*) FROM tasker.step_transitions)",
    )
    .fetch_one(&c.pool)
    .await
    .unwrap();
    // Resumed on ANOTHER server: ids are the database's, not a server's.
    let other = OrchestrationServer::new(component_pool(&c.pool, 3).await, test_config()).await.unwrap().router();
    let mut resumed = SseReader::open(&other, "/v1/events", Some(&resume_from)).await.unwrap();
    read_until(&mut resumed, &mut seen, total as usize).await;
    assert_ordered(&seen);

    // Exactly the audit trail: each (task, step, from, to) as many times as it was written.
    let mut expected: HashMap<(String, String, String, String), i64> = HashMap::new();
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT task_uuid::text, coalesce(step_uuid::text, ''), coalesce(from_state, ''), to_state
         FROM (SELECT task_uuid, NULL::uuid AS step_uuid, from_state, to_state FROM tasker.task_transitions
               UNION ALL
               SELECT task_uuid, step_uuid, from_state, to_state FROM tasker.step_transitions) a",
    )
    .fetch_all(&c.pool)
    .await
    .unwrap();
    for row in rows {
        *expected.entry(row).or_default() += 1;
    }
    let mut got: HashMap<(String, String, String, String), i64> = HashMap::new();
    for m in &seen {
        let s = |k: &str| m.data[k].as_str().unwrap_or("").to_string();
        *got.entry((s("task_uuid"), s("step_uuid"), s("from_state"), s("to_state"))).or_default() += 1;
    }
    assert_eq!(got, expected);

    // Each task's final event carries the highest id of its events.
    for task in &tasks {
        let mine: Vec<&SseMessage> = seen.iter().filter(|m| m.data["task_uuid"] == json!(task)).collect();
        let last = mine.iter().max_by_key(|m| m.id).unwrap();
        assert_eq!((last.event.as_str(), last.data["to_state"].as_str()), ("task", Some("complete")), "{task}");
    }

    // The namespace filter: every diamond event, nothing else.
    let diamond_total = seen.iter().filter(|m| m.data["namespace"] == "diamond_workflow").count();
    let mut diamonds = Vec::new();
    read_until(&mut diamonds_only, &mut diamonds, diamond_total).await;
    assert!(diamonds.iter().all(|m| m.data["namespace"] == "diamond_workflow"));
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn an_event_committed_late_with_a_lower_row_id_still_comes_after_what_was_read(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    let a = c.create(LINEAR.0, LINEAR.1, json!({"even_number": 2})).await;
    let b = c.create(LINEAR.0, LINEAR.1, json!({"even_number": 4})).await;
    place_events(&c.pool).await.unwrap();
    let start = read_events(&c.pool, 0, None, 1_000).await.unwrap().position;

    // A takes its row id first but commits last.
    let mut slow = c.pool.begin().await.unwrap();
    let a_row: i64 = sqlx::query_scalar(
        "INSERT INTO tasker.task_transitions (task_uuid, from_state, to_state, reason)
         VALUES ($1::uuid, 'steps_in_process', 'steps_in_process', 'slow') RETURNING id",
    )
    .bind(&a)
    .fetch_one(&mut *slow)
    .await
    .unwrap();
    let b_row: i64 = sqlx::query_scalar(
        "INSERT INTO tasker.task_transitions (task_uuid, from_state, to_state, reason)
         VALUES ($1::uuid, 'steps_in_process', 'steps_in_process', 'fast') RETURNING id",
    )
    .bind(&b)
    .fetch_one(&c.pool)
    .await
    .unwrap();
    assert!(a_row < b_row);
    place_events(&c.pool).await.unwrap();
    let first = read_events(&c.pool, start, None, 1_000).await.unwrap();
    assert_eq!(first.events.iter().map(|e| e.reason.as_deref()).collect::<Vec<_>>(), vec![Some("fast")]);
    // The open transaction does not hold the sequencer's horizon back: it is remembered as still running.
    let slow_xid: String = sqlx::query_scalar("SELECT pg_current_xact_id()::text").fetch_one(&mut *slow).await.unwrap();
    let cursor = "SELECT horizon > $1::xid8, $1::xid8 = ANY(in_progress) FROM tasker.event_cursor";
    let held: (bool, bool) = sqlx::query_as(cursor).bind(&slow_xid).fetch_one(&c.pool).await.unwrap();
    assert_eq!(held, (true, true), "horizon past the open transaction, which is listed as running");

    slow.commit().await.unwrap();
    place_events(&c.pool).await.unwrap();
    let after: (bool, bool) = sqlx::query_as(cursor).bind(&slow_xid).fetch_one(&c.pool).await.unwrap();
    assert_eq!(after, (true, false), "placed, and no longer listed");
    let second = read_events(&c.pool, first.position, None, 1_000).await.unwrap();
    assert_eq!(second.events.iter().map(|e| e.reason.as_deref()).collect::<Vec<_>>(), vec![Some("slow")]);
    assert!(second.events[0].id > first.events[0].id, "placed after what was already read");
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn racing_sequencers_place_every_transaction_once_in_disjoint_ranges(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    let task = c.create(LINEAR.0, LINEAR.1, json!({"even_number": 2})).await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (pool, task) = (c.pool.clone(), task.clone());
            tokio::spawn(async move {
                for i in 0..50 {
                    sqlx::query(
                        "INSERT INTO tasker.task_transitions (task_uuid, from_state, to_state, reason)
                         SELECT $1::uuid, 'steps_in_process', 'steps_in_process', $2 FROM generate_series(1, 3)",
                    )
                    .bind(&task)
                    .bind(format!("w{w}-{i}"))
                    .execute(&pool)
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    let sequencers: Vec<_> = (0..3)
        .map(|_| {
            let pool = c.pool.clone();
            tokio::spawn(async move {
                for _ in 0..30 {
                    place_events(&pool).await.unwrap();
                }
            })
        })
        .collect();
    for h in writers.into_iter().chain(sequencers) {
        h.await.unwrap();
    }
    place_events(&c.pool).await.unwrap();
    let (unplaced, overlapping): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(DISTINCT tx) FROM tasker.task_transitions tt
                 WHERE NOT EXISTS (SELECT 1 FROM tasker.event_placements p WHERE p.tx = tt.tx)),
                (SELECT count(*) FROM (SELECT base, lag(base + 4 * (max_id - min_id + 1)) OVER (ORDER BY base) AS prev_end
                                       FROM tasker.event_placements) m WHERE base < prev_end)",
    )
    .fetch_one(&c.pool)
    .await
    .unwrap();
    assert_eq!((unplaced, overlapping), (0, 0));
    let page = read_events(&c.pool, 0, None, 100_000).await.unwrap();
    let reasons: HashSet<String> = page.events.iter().filter_map(|e| e.reason.clone()).collect();
    assert!((0..4).all(|w| (0..50).all(|i| reasons.contains(&format!("w{w}-{i}")))));
    assert_eq!(page.events.len(), audit_rows(&c.pool, &task).await, "every row of every writer is one event");
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn bad_stream_requests_are_rejected_naming_the_parameter(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    let task = c.create(LINEAR.0, LINEAR.1, json!({"even_number": 2})).await;
    let rows_before = audit_rows(&c.pool, &task).await;
    let cases: Vec<(String, Option<&str>, u16, Option<&str>)> = vec![
        ("/v1/events?after=abc".into(), None, 400, Some("after")),
        ("/v1/events?after=-1".into(), None, 400, Some("after")),
        ("/v1/events?after=99999999999".into(), None, 400, Some("after")),
        ("/v1/events".into(), Some("later"), 400, Some("Last-Event-ID")),
        ("/v1/events?after=0".into(), Some("1e9"), 400, Some("Last-Event-ID")),
        ("/v1/events?namespace=".into(), None, 400, Some("namespace")),
        ("/v1/events?bogus=1".into(), None, 400, Some("bogus")),
        ("/v1/tasks/not-a-uuid/events".into(), None, 400, Some("task_uuid")),
        (format!("/v1/tasks/{}/events", uuid::Uuid::new_v4()), None, 404, None),
        (format!("/v1/tasks/{task}/events?namespace=x"), None, 400, Some("namespace")),
        (format!("/v1/tasks/{task}/events"), Some("%%"), 400, Some("Last-Event-ID")),
    ];
    for (path, header, status, field) in cases {
        let (got, body) = match SseReader::open(&c.router, &path, header).await {
            Ok(_) => panic!("{path} {header:?} was accepted"),
            Err(rejected) => rejected,
        };
        assert_eq!(got.as_u16(), status, "{path} {header:?}: {body}");
        assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{body}");
        assert_eq!(body["error"]["field"].as_str(), field, "{path} {header:?}: {body}");
    }
    // Nothing was written by any of them, and the stream still serves the task's history.
    assert_eq!(audit_rows(&c.pool, &task).await, rows_before);
    let mut stream = SseReader::open(&c.router, &format!("/v1/tasks/{task}/events"), None).await.unwrap();
    let created = stream.next(10).await.unwrap();
    assert_eq!(created.data["reason"], "task created");
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_sequencer_stalled_holding_the_lock_delays_events_but_loses_none(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 1).await;
    // A "frozen" sequencer: a session holding the placement lock inside an open transaction.
    let mut frozen = c.pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(tasker_orchestration::events::sequencer::SEQUENCER_LOCK)
        .execute(&mut *frozen)
        .await
        .unwrap();
    let start = read_events(&c.pool, 0, None, 1_000).await.unwrap().position;
    let mut stream = SseReader::open(&c.router, &format!("/v1/events?after={start}"), None).await.unwrap();
    let task = c.create(LINEAR.0, LINEAR.1, json!({"even_number": 2})).await;
    c.wait_terminal(&task, 30).await;
    // The task finished, but nothing is placed while the lock is held, so nothing is streamed.
    let placed_while_frozen = read_events(&c.pool, start, None, 1_000).await.unwrap();
    assert!(placed_while_frozen.events.is_empty(), "{:?}", placed_while_frozen.events);
    // The stalled session goes away (PostgreSQL's idle-in-transaction timeout does this to a frozen process).
    frozen.rollback().await.unwrap();
    let mut seen = Vec::new();
    read_until(&mut stream, &mut seen, audit_rows(&c.pool, &task).await).await;
    assert_ordered(&seen);
    let last = seen.last().unwrap();
    assert_eq!((last.event.as_str(), last.data["to_state"].as_str()), ("task", Some("complete")));
    c.stop().await;
}
