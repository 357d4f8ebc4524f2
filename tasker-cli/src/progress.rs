//! Following one task: its steps' states from the event stream, drawn live on a terminal (steps done of total,
//! the running steps by name, elapsed time), printed as plain lines otherwise, and summed up in a final table.

use crate::output::{cell, table};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tasker_client::StreamEvent;

/// How progress is shown while the task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// A live bar on the terminal (standard error).
    Live,
    /// One plain line per step transition, no escape codes.
    Lines,
    /// Nothing until the end.
    Quiet,
}

#[derive(Debug, Default, Clone)]
struct StepProgress {
    state: String,
    started: Option<DateTime<Utc>>,
    ended: Option<DateTime<Utc>>,
}

/// What is known of a task's steps so far.
pub struct Progress {
    steps: BTreeMap<String, StepProgress>,
    order: Vec<String>,
    display: Display,
    bar: Option<ProgressBar>,
}

const FINISHED: [&str; 4] = ["complete", "error", "cancelled", "resolved_manually"];

impl Progress {
    /// Start from the task as `GET /v1/tasks/{uuid}` shows it; a live display draws on standard error.
    pub fn new(task: &Value, display: Display) -> Self {
        Self::drawing_on(task, display, ProgressDrawTarget::stderr())
    }

    /// [`Progress::new`] drawing a live display on `target`.
    pub fn drawing_on(task: &Value, display: Display, target: ProgressDrawTarget) -> Self {
        let order: Vec<String> = task["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["name"].as_str().map(String::from))
            .collect();
        let steps = task["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                let state = s["state"].as_str()?.to_string();
                Some((s["name"].as_str()?.to_string(), StepProgress { state, ..Default::default() }))
            })
            .collect();
        let bar = (display == Display::Live).then(|| {
            let bar = ProgressBar::with_draw_target(Some(order.len() as u64), target);
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:24} {pos}/{len} steps done  {msg}")
                    .expect("a valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let mut progress = Self { steps, order, display, bar };
        progress.redraw();
        progress
    }

    /// Apply one event of the task's stream.
    pub fn apply(&mut self, event: &StreamEvent) {
        if event.kind != "step" {
            return;
        }
        let Some(name) = event.data["step_name"].as_str() else { return };
        let to = event.data["to_state"].as_str().unwrap_or_default().to_string();
        let at = event.data["at"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.to_utc());
        let step = self.steps.entry(name.to_string()).or_default();
        if !self.order.iter().any(|n| n == name) {
            self.order.push(name.to_string());
        }
        if to == "in_progress" {
            (step.started, step.ended) = (at, None);
        } else if FINISHED.contains(&to.as_str()) || to == "enqueued_for_orchestration" {
            step.ended = step.ended.or(at);
        }
        step.state = to.clone();
        if self.display == Display::Lines {
            crate::output::print_line(&format!("{name}: {} -> {to}", event.data["from_state"].as_str().unwrap_or("-")));
        }
        self.redraw();
    }

    /// Steps finished, of all.
    pub fn done(&self) -> (usize, usize) {
        (self.steps.values().filter(|s| FINISHED.contains(&s.state.as_str())).count(), self.order.len())
    }

    /// The steps running now, by name.
    pub fn running(&self) -> Vec<&str> {
        self.order.iter().filter(|n| self.steps[*n].state == "in_progress").map(String::as_str).collect()
    }

    /// The live line's message: the running steps.
    pub fn message(&self) -> String {
        let running = self.running();
        if running.is_empty() {
            String::new()
        } else {
            format!("running: {}", running.join(", "))
        }
    }

    fn redraw(&mut self) {
        if let Some(bar) = &self.bar {
            let (done, total) = self.done();
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(self.message());
        }
    }

    /// Stop drawing (the bar is cleared).
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// How long a step ran (its last attempt), when the stream showed it.
    pub fn duration_ms(&self, name: &str) -> Option<i64> {
        let step = self.steps.get(name)?;
        Some((step.ended? - step.started?).num_milliseconds())
    }

    /// The final table: every step with its state, attempts, duration and the error of a failed one.
    pub fn summary(&self, task: &Value) -> String {
        let rows: Vec<Vec<String>> = task["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let name = s["name"].as_str().unwrap_or_default();
                let error = if s["state"] == "error" || s["state"] == "waiting_for_retry" {
                    s["error"]["message"].as_str().map(String::from).unwrap_or_else(|| cell(&s["error"]))
                } else {
                    String::new()
                };
                vec![
                    name.to_string(),
                    cell(&s["state"]),
                    format!("{}/{}", cell(&s["attempts"]), cell(&s["max_attempts"])),
                    self.duration_ms(name).map(|ms| format!("{ms} ms")).unwrap_or_default(),
                    error,
                ]
            })
            .collect();
        format!(
            "task {} {}/{}: {}\n{}",
            cell(&task["task_uuid"]),
            cell(&task["namespace"]),
            cell(&task["name"]),
            cell(&task["state"]),
            table(&["STEP", "STATE", "ATTEMPTS", "DURATION", "ERROR"], &rows)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(step: &str, from: &str, to: &str, at: &str) -> StreamEvent {
        StreamEvent {
            kind: "step".into(),
            data: json!({"step_name": step, "from_state": from, "to_state": to, "at": at}),
        }
    }

    #[test]
    fn tracks_done_running_and_durations() {
        let task = json!({"task_uuid": "t", "namespace": "ns", "name": "n", "state": "steps_in_process",
            "steps": [{"name": "a", "state": "enqueued"}, {"name": "b", "state": "pending"}]});
        let mut p = Progress::new(&task, Display::Quiet);
        assert_eq!(p.done(), (0, 2));
        p.apply(&event("a", "enqueued", "in_progress", "2026-12-02T10:00:00Z"));
        assert_eq!((p.running(), p.message()), (vec!["a"], "running: a".to_string()));
        p.apply(&event("a", "in_progress", "enqueued_for_orchestration", "2026-12-02T10:00:00.250Z"));
        p.apply(&event("a", "enqueued_for_orchestration", "complete", "2026-12-02T10:00:00.300Z"));
        assert_eq!((p.done(), p.duration_ms("a")), ((1, 2), Some(250)));
        let done = json!({"task_uuid": "t", "namespace": "ns", "name": "n", "state": "error", "steps": [
            {"name": "a", "state": "complete", "attempts": 1, "max_attempts": 3},
            {"name": "b", "state": "error", "attempts": 3, "max_attempts": 3, "error": {"message": "boom"}}]});
        let summary = p.summary(&done);
        assert!(summary.contains("a     complete  1/3       250 ms"), "{summary}");
        assert!(summary.lines().last().unwrap().ends_with("boom"), "{summary}");
        assert!(!summary.contains('\u{1b}'), "no escape codes in the summary");
    }

    /// A terminal in memory: what the live display drew, escape codes included.
    #[derive(Debug, Clone, Default)]
    struct Screen(std::sync::Arc<std::sync::Mutex<String>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
            self.write_str(&format!("\u{1b}[{n}A"))
        }
        fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
            self.write_str(&format!("\u{1b}[{n}B"))
        }
        fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
            self.write_str(&format!("\u{1b}[{n}C"))
        }
        fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
            self.write_str(&format!("\u{1b}[{n}D"))
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.write_str("\r\u{1b}[2K")
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_live_display_draws_steps_done_running_steps_and_elapsed_time() {
        let screen = Screen::default();
        let task = json!({"steps": [{"name": "first", "state": "enqueued"}, {"name": "second", "state": "pending"}]});
        let target = ProgressDrawTarget::term_like_with_hz(Box::new(screen.clone()), 100);
        let mut p = Progress::drawing_on(&task, Display::Live, target);
        p.apply(&event("first", "enqueued", "in_progress", "2026-12-02T10:00:00Z"));
        std::thread::sleep(Duration::from_millis(30));
        p.bar.as_ref().unwrap().tick();
        let drawn = screen.0.lock().unwrap().clone();
        assert!(drawn.contains("0/2 steps done") && drawn.contains("running: first"), "{drawn:?}");
        assert!(drawn.contains("[00:00:00]"), "elapsed time: {drawn:?}");
        p.apply(&event("first", "in_progress", "complete", "2026-12-02T10:00:01Z"));
        std::thread::sleep(Duration::from_millis(30));
        p.bar.as_ref().unwrap().tick();
        assert!(screen.0.lock().unwrap().contains("1/2 steps done"));
        let before = screen.0.lock().unwrap().len();
        p.finish();
        let cleared = screen.0.lock().unwrap()[before..].to_string();
        assert!(cleared.contains("\u{1b}[2K") && !cleared.contains("steps done"), "the bar is cleared: {cleared:?}");
    }

    #[test]
    fn off_a_terminal_lines_carry_no_escape_codes() {
        let task = json!({"steps": [{"name": "a", "state": "enqueued"}]});
        let mut p = Progress::new(&task, Display::Lines);
        assert!(p.bar.is_none(), "no bar is drawn off a terminal");
        p.apply(&event("a", "enqueued", "in_progress", "2026-12-02T10:00:00Z"));
        p.finish();
    }
}
