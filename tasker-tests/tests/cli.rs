//! `tasker`, the command-line client: the real binary against a real `tasker-server` and `tasker-worker`, every
//! command in both output modes, and every exit code.

mod common;

use common::process::{bin_dir, database_url, start_server, start_worker, Proc};
use serde_json::Value;
use sqlx::PgPool;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

struct Cli {
    url: String,
}

impl Cli {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin_dir().join("tasker"));
        cmd.args(args).env("TASKER_URL", &self.url).env_remove("TASKER_API_KEY").env_remove("TASKER_TOKEN");
        cmd
    }

    /// Run to the end; stdout, stderr and the exit code.
    async fn run(&self, args: &[&str]) -> (String, String, i32) {
        let mut cmd = self.command(args);
        let out: Output = tokio::task::spawn_blocking(move || cmd.output().expect("run tasker")).await.unwrap();
        let (stdout, stderr) = (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
        for text in [&stdout, &stderr] {
            assert!(!text.contains('\u{1b}'), "no escape codes off a terminal: {args:?}\n{text}");
        }
        (stdout, stderr, out.status.code().expect("exited"))
    }

    /// Run, expect `code`, and parse stdout as ONE JSON document.
    async fn json(&self, args: &[&str], code: i32) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let (stdout, stderr, got) = self.run(&all).await;
        assert_eq!(got, code, "{args:?}\nstdout: {stdout}\nstderr: {stderr}");
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}): {stdout}"))
    }

    /// A task whose one step sleeps 20 s (created in json mode); its uuid.
    async fn sleeping_task(&self) -> String {
        let args =
            ["task", "create", "test_scenarios/sleepy_single", "--context", r#"{"even_number": 2, "sleep_ms": 20000}"#];
        self.json(&args, 0).await["task_uuid"].as_str().unwrap().to_string()
    }

    /// Run in table mode and expect `code`; stdout and stderr.
    async fn table(&self, args: &[&str], code: i32) -> (String, String) {
        let mut all = args.to_vec();
        all.extend(["--output", "table"]);
        let (stdout, stderr, got) = self.run(&all).await;
        assert_eq!(got, code, "{args:?}\nstdout: {stdout}\nstderr: {stderr}");
        (stdout, stderr)
    }
}

async fn cluster(pool: &PgPool) -> (Proc, Proc, Cli) {
    let url = database_url(pool).await;
    let server = start_server("cli-server", &url, &[]).await;
    let worker = start_worker("cli-worker", &url, &[]).await;
    let cli = Cli { url: format!("http://127.0.0.1:{}", server.port) };
    (server, worker, cli)
}

#[sqlx::test(migrations = false)]
async fn tasks_from_creation_to_failure_retry_resolve_and_cancel(pool: PgPool) {
    let (_server, _worker, cli) = cluster(&pool).await;
    let linear = "linear_workflow/mathematical_sequence";

    // --wait --output json: the final task, steps and results included.
    let done = cli.json(&["task", "create", linear, "--context", r#"{"even_number": 2}"#, "--wait"], 0).await;
    assert_eq!(done["state"], "complete");
    assert_eq!(done["steps"].as_array().unwrap().len(), 4);
    assert_eq!(done["steps"][3]["result"]["value"], "65536", "2^16");
    let task = done["task_uuid"].as_str().unwrap().to_string();

    // get / list / watch of a finished task, both modes.
    assert_eq!(cli.json(&["task", "get", &task], 0).await["task_uuid"], task.as_str());
    let (shown, _) = cli.table(&["task", "get", &task], 0).await;
    assert!(shown.contains("linear_step_4") && shown.contains("complete"), "{shown}");
    let listed = cli.json(&["task", "list", "--namespace", "linear_workflow", "--limit", "5"], 0).await;
    assert_eq!(listed["tasks"][0]["task_uuid"], task.as_str());
    let (rows, _) = cli.table(&["task", "list", "--state", "complete"], 0).await;
    assert!(rows.starts_with("TASK") && rows.contains(&task), "{rows}");
    let (watched, _) = cli.table(&["task", "watch", &task], 0).await;
    assert!(watched.contains("STEP") && watched.contains("linear_step_1"), "{watched}");

    // A context from a YAML file, without --wait, in table mode.
    let file = std::env::temp_dir().join(format!("tasker-cli-{}.yaml", std::process::id()));
    std::fs::write(&file, "even_number: 4\n").unwrap();
    let (created, _) = cli.table(&["task", "create", linear, "--context-file", file.to_str().unwrap()], 0).await;
    assert!(created.starts_with("created task "), "{created}");

    // A failing workflow with --wait: exit 1, the failing step's error printed (table: in the summary; stderr too).
    let (summary, why) = cli.table(&["task", "create", "error_workflow/permanent_error", "--wait"], 1).await;
    assert!(summary.contains("permanent_failure_step") && summary.contains("this step can never succeed"), "{summary}");
    assert!(why.contains("ended `error`") && why.contains("this step can never succeed"), "{why}");
    let failed = cli.json(&["task", "create", "error_workflow/permanent_error", "--wait"], 1).await;
    assert_eq!(failed["state"], "error");
    let failed = failed["task_uuid"].as_str().unwrap().to_string();

    // Dead letters, both modes; retry (runs and fails again); resolve by step name: the task completes.
    let dlq = cli.json(&["dlq", "list", "--namespace", "error_workflow"], 0).await;
    assert!(dlq["entries"].as_array().unwrap().iter().any(|e| e["task_uuid"] == failed.as_str()));
    let (letters, _) = cli.table(&["dlq", "list"], 0).await;
    assert!(letters.contains(&failed) && letters.contains("this step can never succeed"), "{letters}");
    let retried = cli.json(&["task", "retry", &failed, "--reason", "upstream fixed"], 0).await;
    assert_eq!(retried["state"], "steps_in_process");
    cli.json(&["task", "watch", &failed], 1).await;
    let resolved = cli
        .json(
            &[
                "step",
                "resolve",
                &failed,
                "permanent_failure_step",
                "--result",
                r#"{"value": "42"}"#,
                "--reason",
                "by hand",
            ],
            0,
        )
        .await;
    assert_eq!(resolved["state"], "complete");
    // The same actions in table mode, on a second failed task: retry, then resolve by step uuid.
    let other = cli.json(&["task", "create", "error_workflow/permanent_error", "--wait"], 1).await;
    let other_uuid = other["task_uuid"].as_str().unwrap().to_string();
    let step_uuid = other["steps"][0]["step_uuid"].as_str().unwrap().to_string();
    let (retried, _) = cli.table(&["task", "retry", &other_uuid], 0).await;
    assert!(retried.contains("steps_in_process") && retried.contains("permanent_failure_step"), "{retried}");
    cli.table(&["task", "watch", &other_uuid], 1).await;
    let (resolved, _) =
        cli.table(&["step", "resolve", &other_uuid, &step_uuid, "--result", r#"{"value": "7"}"#], 0).await;
    assert!(resolved.contains("resolved_manually") && resolved.contains(r#"{"value":"7"}"#), "{resolved}");
    // An unknown step name is a 404 (exit 4) before anything is sent.
    let (_, unknown) = cli.table(&["step", "resolve", &other_uuid, "no_such_step", "--result", "{}"], 4).await;
    assert!(unknown.contains("no step named"), "{unknown}");

    // Cancel a sleeping task; cancelling again is a conflict (exit 5, the server's message on stderr).
    let sleepy = cli.sleeping_task().await;
    let (cancelled, _) = cli.table(&["task", "cancel", &sleepy, "--reason", "not needed"], 0).await;
    assert!(cancelled.contains("cancelled") && cancelled.contains("not needed"), "{cancelled}");
    let (_, conflict) = cli.table(&["task", "cancel", &sleepy], 5).await;
    assert!(conflict.contains("409") && conflict.contains("cancelled"), "{conflict}");
    // With --output json a failure prints nothing on stdout, the error on stderr, and the same exit code.
    let (stdout, stderr, code) = cli.run(&["task", "cancel", &sleepy, "--output", "json"]).await;
    assert_eq!((stdout.as_str(), code), ("", 5), "{stderr}");
    assert!(stderr.contains("409"), "{stderr}");
    let another = cli.sleeping_task().await;
    let cancelled = cli.json(&["task", "cancel", &another], 0).await;
    assert_eq!(cancelled["state"], "cancelled");
    cli.json(&["task", "watch", &sleepy, "--timeout", "20s"], 1).await;

    // Under a pseudo-terminal (util-linux `script`), --wait draws live progress, then the summary table.
    if std::path::Path::new("/usr/bin/script").exists() {
        let tasker = bin_dir().join("tasker");
        let line = format!(
            "{} task create test_scenarios/sleepy_single --context '{{\"even_number\": 2, \"sleep_ms\": 1500}}' --wait",
            tasker.display()
        );
        let mut cmd = Command::new("/usr/bin/script");
        cmd.args(["-qfec", &line, "/dev/null"]).env("TASKER_URL", &cli.url).env("TERM", "xterm");
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
        let screen = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{screen}");
        assert!(screen.contains("steps done") && screen.contains("running: sleepy_step"), "live progress: {screen:?}");
        assert!(screen.contains('\u{1b}'), "a terminal gets escape codes");
        assert!(screen.contains("sleepy_step") && screen.contains("complete"), "{screen:?}");
    }

    // stats, both modes.
    let stats = cli.json(&["stats", "--since", "1h"], 0).await;
    assert!(stats["tasks"]["created"].as_i64().unwrap() >= 5, "{stats}");
    let (table, _) = cli.table(&["stats", "--since", "2h", "--namespace", "linear_workflow"], 0).await;
    assert!(table.contains("linear_workflow/mathematical_sequence"), "{table}");
}

#[sqlx::test(migrations = false)]
async fn templates_events_health_completions_and_every_exit_code(pool: PgPool) {
    let (_server, _worker, cli) = cluster(&pool).await;

    // health and templates, both modes.
    assert_eq!(cli.json(&["health"], 0).await["status"], "ready");
    assert!(cli.table(&["health"], 0).await.0.starts_with("ready"));
    let listed = cli.json(&["template", "list"], 0).await;
    assert!(listed["templates"].as_array().unwrap().iter().any(|t| t["name"] == "mathematical_sequence"));
    assert!(cli.table(&["template", "list"], 0).await.0.contains("linear_workflow"));
    let versions = cli.json(&["template", "show", "linear_workflow/mathematical_sequence"], 0).await;
    assert_eq!(versions["versions"][0]["version"], "1.0.0");
    assert!(cli
        .table(&["template", "show", "linear_workflow/mathematical_sequence"], 0)
        .await
        .0
        .contains("linear_step_1"));
    let dir = std::env::temp_dir().join(format!("tasker-cli-templates-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let yaml = dir.join("cli_echo.yaml");
    std::fs::write(&yaml, "namespace: linear_workflow\nname: cli_square\nversion: 0.1.0\nsteps:\n  - name: only\n    handler: linear_workflow.square\n").unwrap();
    let yaml = yaml.to_str().unwrap();
    let first = cli.json(&["template", "register", yaml], 0).await;
    assert_eq!(first["registered"][0]["outcome"], "registered");
    let (again, _) = cli.table(&["template", "register", yaml], 0).await;
    assert!(again.starts_with("unchanged"), "{again}");
    cli.json(&["template", "deactivate", "linear_workflow/cli_square/0.1.0"], 0).await;
    let v2 = dir.join("cli_echo_v2.yaml");
    std::fs::write(&v2, "namespace: linear_workflow\nname: cli_square\nversion: 0.2.0\nsteps:\n  - name: only\n    handler: linear_workflow.square\n").unwrap();
    cli.table(&["template", "register", v2.to_str().unwrap()], 0).await;
    let (retired, _) = cli.table(&["template", "deactivate", "linear_workflow/cli_square/0.2.0"], 0).await;
    assert!(retired.starts_with("deactivated linear_workflow/cli_square/0.2.0"), "{retired}");
    let (_, gone) = cli.table(&["task", "create", "linear_workflow/cli_square", "--context", "{}"], 4).await;
    assert!(gone.contains("not found"), "{gone}");

    // events: one JSON document per line, following live.
    cli.json(
        &["task", "create", "linear_workflow/mathematical_sequence", "--context", r#"{"even_number": 2}"#, "--wait"],
        0,
    )
    .await;
    let mut follower = cli
        .command(&["events", "--after", "0", "--namespace", "linear_workflow", "--output", "json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .take(5)
            .map(|l| serde_json::from_str::<Value>(&l.unwrap()).unwrap())
            .collect::<Vec<_>>()
    });
    let lines = tokio::time::timeout(Duration::from_secs(20), lines).await.expect("events within 20 s").unwrap();
    follower.kill().unwrap();
    follower.wait().unwrap();
    assert!(lines.windows(2).all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64()), "{lines:?}");
    assert!(lines.iter().all(|e| e["namespace"] == "linear_workflow"));
    // The same in table mode: one readable line per event, ending when its reader goes away.
    let mut follower =
        cli.command(&["events", "--after", "0", "--output", "table"]).stdout(Stdio::piped()).spawn().unwrap();
    let stdout = follower.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout).lines().take(3).map(Result::unwrap).collect::<Vec<_>>()
    });
    let lines = tokio::time::timeout(Duration::from_secs(20), lines).await.expect("events within 20 s").unwrap();
    follower.kill().unwrap();
    follower.wait().unwrap();
    assert!(lines[0].contains("task: pending -> steps_in_process  (task created)"), "{lines:?}");
    assert!(lines[1].contains("step ") && lines[1].contains(" -> "), "{lines:?}");

    // Exit codes: 2 usage (clap, and input caught locally), 3 unreachable, 4 not found, 5 rejected by the server.
    let (_, _, usage) = cli.run(&["task", "frobnicate"]).await;
    assert_eq!(usage, 2);
    let (_, bad_json) = cli.table(&["task", "create", "a/b", "--context", "{nope"], 2).await;
    assert!(bad_json.contains("--context is not valid JSON"), "{bad_json}");
    cli.table(&["template", "show", "no-slash"], 2).await;
    cli.table(&["task", "get", "0193a1b2-0000-7000-8000-000000000000"], 4).await;
    let (_, rejected) = cli
        .table(&["task", "create", "linear_workflow/mathematical_sequence", "--context", r#"{"even_number": 3}"#], 5)
        .await;
    assert!(rejected.contains("even_number"), "the server's field is named: {rejected}");
    let nowhere = Cli { url: "http://127.0.0.1:9".into() };
    let (_, unreachable) = nowhere.table(&["health"], 3).await;
    assert!(unreachable.contains("cannot reach"), "{unreachable}");

    // Completions and help with examples.
    let (bash, _, code) = cli.run(&["completions", "bash"]).await;
    assert_eq!(code, 0);
    assert!(bash.contains("tasker") && bash.contains("complete"), "{bash}");
    for command in [&["task", "create"][..], &["dlq", "list"], &["template", "register"], &["stats"], &["events"]] {
        let mut args = command.to_vec();
        args.push("--help");
        let (help, _, code) = cli.run(&args).await;
        assert_eq!(code, 0);
        assert!(help.contains("Example"), "{command:?} --help has an example: {help}");
    }
}
