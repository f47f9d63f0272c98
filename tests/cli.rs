//! The `redress` command line through the real binary, over a fresh `--data-dir` per test: one test per
//! command (API.md's table), its output and its exit code (0 ok, 1 failure, 2 usage, 3 verification failed).
//!
//! The server-process helpers ([`ServerProcess`]) are shared with the HTTP crash test (`server_crash.rs`).

use redress_adapters::http::ROUTES;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a child process may take to print an expected line or to exit.
const CHILD_WAIT: Duration = Duration::from_secs(30);
const PUBLISHER: &str = "cli-publisher-token-0123456789";
const AUDITOR: &str = "cli-auditor-token-0123456789";

/// `redress` with a clean environment (no tokens, store or data dir inherited from the caller).
pub fn redress() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_redress"));
    for name in [
        "REDRESS_TOKENS",
        "REDRESS_STORE",
        "REDRESS_PG_SCHEMA",
        "REDRESS_DATA_DIR",
        "REDRESS_QA_LIBRARY",
        "REDRESS_CLOCK_SKEW_MAX",
    ] {
        command.env_remove(name);
    }
    command.env("REDRESS_LOG", "warn").stdin(Stdio::null());
    command
}

/// `redress --data-dir <dir> <args>`, run to completion.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    run_with_stdin(dir, args, None)
}

pub fn run_with_stdin(dir: &Path, args: &[&str], input: Option<&str>) -> Output {
    let mut command = redress();
    command.arg("--data-dir").arg(dir).args(args);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    if input.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command.spawn().unwrap_or_else(|e| panic!("spawn redress {args:?}: {e}"));
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        // A usage error exits before reading its input: a closed pipe is then expected.
        if let Err(e) = stdin.write_all(input.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("redress {args:?}: {e}"))
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit code, showing both outputs when it differs.
#[track_caller]
pub fn assert_exit(output: &Output, code: i32, what: &str) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{what}: exit status {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
}

pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}"))).collect()
}

fn received(complaint_id: &str) -> Value {
    json!({"event_id": uuid::Uuid::new_v4().to_string(), "event_type": "complaint_received", "data": {
        "complaint_id": complaint_id, "customer_id": "K-7", "channel": "hotline", "category": "delivery",
        "severity": "high", "description": "洗衣机送达时外壳凹陷"}})
}

fn progress(note: &str) -> Value {
    json!({"event_id": uuid::Uuid::new_v4().to_string(), "event_type": "progress_updated",
        "data": {"note": note, "customer_informed": true}})
}

/// Appends `events` to `stream` through `redress append` (stdin), expecting success.
fn append(dir: &Path, stream: &str, expected: &str, events: Vec<Value>) -> Value {
    let body = json!({"events": events}).to_string();
    let output =
        run_with_stdin(dir, &["append", "--stream", stream, "--expected-version", expected], Some(body.as_str()));
    assert_exit(&output, 0, &format!("append to {stream} at {expected}"));
    serde_json::from_str(stdout(&output).trim()).expect("append prints its result as JSON")
}

/// A complaint with `notes` progress updates after its `complaint_received`: 1 + notes events.
fn complaint_with_notes(dir: &Path, complaint_id: &str, notes: usize) {
    let mut events = vec![received(complaint_id)];
    events.extend((0..notes).map(|i| progress(&format!("note {i}"))));
    append(dir, &format!("complaint-{complaint_id}"), "no_stream", events);
}

/// Lines of a child's pipe, read on a thread, so a test can wait for one with a timeout.
pub struct Lines {
    receiver: Receiver<String>,
}

impl Lines {
    pub fn spawn(pipe: impl Read + Send + 'static) -> Lines {
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Lines { receiver }
    }

    /// The next line, or `None` when the pipe closed or nothing came within `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<String> {
        self.receiver.recv_timeout(timeout).ok()
    }
}

/// Collects a child's stderr on a thread, for failure messages.
fn collect(pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let mut text = sink.lock().expect("stderr lock");
            text.push_str(&line);
            text.push('\n');
        }
    });
    text
}

/// Sends `signal` (`TERM`, `INT`) to our own child, by its pid.
pub fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap_or_else(|e| panic!("run kill -{signal}: {e}"));
    assert!(status.success(), "kill -{signal} {} failed: {status}", child.id());
}

/// Waits for `child` to exit, at most `timeout`.
pub fn wait_for_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `redress serve` process on an ephemeral port. Dropping it kills the process (SIGKILL) if it still runs.
pub struct ServerProcess {
    pub child: Child,
    /// `http://127.0.0.1:PORT`, parsed from the "Redress is listening on" line.
    pub base: String,
    /// Standard-output lines printed before the listening line (the admin-token notice).
    pub preamble: Vec<String>,
    stderr: Arc<Mutex<String>>,
    _stdout: Lines,
}

impl ServerProcess {
    /// Starts `redress --data-dir dir serve --listen 127.0.0.1:0`, with `REDRESS_TOKENS=tokens` when given, and
    /// waits until it listens.
    pub fn start(dir: &Path, tokens: Option<&str>) -> ServerProcess {
        ServerProcess::start_with(dir, tokens, &[])
    }

    /// [`ServerProcess::start`] with more arguments after `serve`.
    pub fn start_with(dir: &Path, tokens: Option<&str>, args: &[&str]) -> ServerProcess {
        let mut command = redress();
        command.arg("--data-dir").arg(dir).args(["serve", "--listen", "127.0.0.1:0"]).args(args);
        if let Some(tokens) = tokens {
            command.env("REDRESS_TOKENS", tokens);
        }
        ServerProcess::spawn(command)
    }

    /// Starts `command` (a `redress … serve --listen 127.0.0.1:0`, possibly wrapped) and waits until it listens.
    pub fn spawn(mut command: Command) -> ServerProcess {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn redress serve: {e}"));
        let stdout = Lines::spawn(child.stdout.take().expect("stdout is piped"));
        let stderr = collect(child.stderr.take().expect("stderr is piped"));
        let mut preamble = Vec::new();
        let deadline = Instant::now() + CHILD_WAIT;
        let base = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match stdout.next(left) {
                Some(line) => match line.strip_prefix("Redress is listening on ") {
                    Some(url) => break url.trim().to_owned(),
                    None => preamble.push(line),
                },
                None => {
                    let _ = child.kill();
                    let status = child.wait();
                    std::thread::sleep(Duration::from_millis(100));
                    panic!(
                        "redress serve did not say where it listens within {CHILD_WAIT:?} ({status:?}); stdout so \
                         far: {preamble:?}; stderr:\n{}",
                        stderr.lock().expect("stderr lock")
                    );
                }
            }
        };
        assert!(base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"), "an ephemeral port: {base}");
        ServerProcess { child, base, preamble, stderr, _stdout: stdout }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// What the server wrote to standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// SIGTERM, then the exit status (within [`CHILD_WAIT`]).
    pub fn terminate(self) -> ExitStatus {
        self.terminate_with_stderr().0
    }

    /// SIGTERM, then the exit status (within [`CHILD_WAIT`]) and everything the server wrote to stderr.
    pub fn terminate_with_stderr(mut self) -> (ExitStatus, String) {
        signal(&self.child, "TERM");
        let status = wait_for_exit(&mut self.child, CHILD_WAIT);
        let status = status.unwrap_or_else(|| panic!("redress serve did not exit within {CHILD_WAIT:?} of SIGTERM"));
        std::thread::sleep(Duration::from_millis(50));
        (status, self.stderr())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A child killed (SIGKILL) when dropped, so a failing test leaves no process behind.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// append, read

#[test]
fn append_takes_the_body_from_a_file_or_stdin_and_refuses_a_stale_version_writing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.json");
    let first = received("a1");
    std::fs::write(&file, json!({"expected_version": "no_stream", "events": [first]}).to_string()).unwrap();
    let data = dir.path().join("data");

    // From --file, the body's own expected_version.
    let output = run(&data, &["append", "--stream", "complaint-a1", "--file", file.to_str().unwrap()]);
    assert_exit(&output, 0, "append --file");
    let result: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(
        result,
        json!({"first_version": 0, "last_version": 0, "first_position": 0, "last_position": 0,
            "idempotent_retry": false})
    );

    // From stdin, two events at --expected-version 0.
    let result = append(&data, "complaint-a1", "0", vec![progress("called back"), progress("sent a courier")]);
    assert_eq!((result["first_version"].clone(), result["last_version"].clone()), (json!(1), json!(2)));
    assert_eq!((result["first_position"].clone(), result["last_position"].clone()), (json!(1), json!(2)));

    // --expected-version overrides the body's: the file says no_stream (the stream exists), the flag says 2.
    let override_file = dir.path().join("override.json");
    std::fs::write(&override_file, json!({"expected_version": "no_stream", "events": [progress("x")]}).to_string())
        .unwrap();
    let output = run(
        &data,
        &["append", "--stream", "complaint-a1", "--expected-version", "2", "--file", override_file.to_str().unwrap()],
    );
    assert_exit(&output, 0, "--expected-version over the body's");
    assert_eq!(serde_json::from_str::<Value>(&stdout(&output)).unwrap()["last_version"], 3);

    // Stale: the stream is at 3. Exit 1, a message naming both versions, nothing written.
    let body = json!({"events": [progress("late")]}).to_string();
    let output =
        run_with_stdin(&data, &["append", "--stream", "complaint-a1", "--expected-version", "1"], Some(body.as_str()));
    assert_exit(&output, 1, "a stale --expected-version");
    let message = stderr(&output);
    assert!(
        message.contains("expected version 1") && message.contains("current version is 3"),
        "the refusal names the expected and the current version: {message}"
    );
    assert!(stdout(&output).is_empty(), "no result is printed for a refused append");

    // A retry of the stdin append (same ids) is idempotent: the original result, flagged.
    let retry = json!({"events": [received("a2")]}).to_string();
    let first = run_with_stdin(&data, &["append", "--stream", "complaint-a2"], Some(retry.as_str()));
    let again = run_with_stdin(&data, &["append", "--stream", "complaint-a2"], Some(retry.as_str()));
    assert_exit(&first, 0, "a first append");
    assert_exit(&again, 0, "its retry");
    let (first, again): (Value, Value) =
        (serde_json::from_str(&stdout(&first)).unwrap(), serde_json::from_str(&stdout(&again)).unwrap());
    assert_eq!((first["last_position"].clone(), again["last_position"].clone()), (json!(4), json!(4)));
    assert_eq!((first["idempotent_retry"].clone(), again["idempotent_retry"].clone()), (json!(false), json!(true)));

    // Bad input fails with 1 and says why; still nothing written.
    let valid = json!({"events": [progress("fine")]}).to_string();
    for (args, body, says) in [
        (vec!["append", "--stream", "complaint-a1"], "{\"events\": [", "malformed JSON"),
        (vec!["append", "--stream", "complaint-a1"], "{\"events\": []}", "events is empty"),
        (
            vec!["append", "--stream", "complaint-a1"],
            r#"{"events": [{"event_type": "progress_updated", "data": {"note": 3, "customer_informed": true}}]}"#,
            "invalid_event",
        ),
        (vec!["append", "--stream", "bad stream"], valid.as_str(), "--stream"),
        (vec!["append", "--stream", "complaint-a1", "--expected-version", "soon"], valid.as_str(), "soon"),
    ] {
        let output = run_with_stdin(&data, &args, Some(body));
        // A bad argument is a usage error (2); a refused body is a failure (1).
        let code = if args.iter().any(|a| *a == "bad stream" || *a == "soon") { 2 } else { 1 };
        assert_exit(&output, code, &format!("{args:?} with {body}"));
        assert!(stderr(&output).contains(says), "{args:?} with {body}: says {says:?}: {}", stderr(&output));
    }
    let log = run(&data, &["read", "--stream", "complaint-a1"]);
    assert_eq!(json_lines(&stdout(&log)).len(), 4, "only the four accepted events are in the stream");
}

#[test]
fn read_prints_a_stream_as_json_lines_forward_and_backward() {
    let dir = tempfile::tempdir().unwrap();
    complaint_with_notes(dir.path(), "r1", 4);
    complaint_with_notes(dir.path(), "r2", 1);

    let output = run(dir.path(), &["read", "--stream", "complaint-r1"]);
    assert_exit(&output, 0, "read");
    let events = json_lines(&stdout(&output));
    let versions: Vec<u64> = events.iter().map(|e| e["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, [0, 1, 2, 3, 4]);
    assert!(events.iter().all(|e| e["stream"] == "complaint-r1"), "only this stream's events");
    for key in ["event_id", "position", "event_type", "schema_version", "occurred_at", "recorded_at", "data", "hash"] {
        assert!(events[0].get(key).is_some(), "the envelope has {key}: {}", events[0]);
    }
    assert_eq!(events[0]["event_type"], "complaint_received");

    let output = run(dir.path(), &["read", "--stream", "complaint-r1", "--backward"]);
    assert_exit(&output, 0, "read --backward");
    let backward: Vec<Value> = json_lines(&stdout(&output));
    let mut reversed = events.clone();
    reversed.reverse();
    assert_eq!(backward, reversed, "--backward gives the same envelopes, newest first");

    let output = run(dir.path(), &["read", "--stream", "complaint-r1", "--from-version", "3"]);
    let versions: Vec<u64> = json_lines(&stdout(&output)).iter().map(|e| e["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, [3, 4]);
    let output = run(dir.path(), &["read", "--stream", "complaint-r1", "--from-version", "2", "--backward"]);
    let versions: Vec<u64> = json_lines(&stdout(&output)).iter().map(|e| e["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, [2, 1, 0]);

    let output = run(dir.path(), &["read", "--stream", "complaint-none"]);
    assert_exit(&output, 0, "read of a stream with no events");
    assert!(stdout(&output).is_empty());
}

// ---------------------------------------------------------------------------------------------------------
// tail

#[test]
fn tail_prints_the_log_from_a_position_then_keeps_following_until_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    complaint_with_notes(dir.path(), "t1", 2);
    complaint_with_notes(dir.path(), "t2", 1);

    let mut tail = redress();
    tail.arg("--data-dir").arg(dir.path()).args(["tail", "--from-position", "1"]);
    let mut tail = Reaped(tail.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap());
    let lines = Lines::spawn(tail.0.stdout.take().unwrap());
    let mut positions = Vec::new();
    for _ in 0..4 {
        let line = lines.next(CHILD_WAIT).expect("tail prints every event from position 1");
        positions.push(serde_json::from_str::<Value>(&line).unwrap()["position"].as_u64().unwrap());
    }
    assert_eq!(positions, [1, 2, 3, 4]);
    // Caught up, it keeps running (following), printing nothing more.
    assert_eq!(lines.next(Duration::from_millis(500)), None);
    assert!(tail.0.try_wait().unwrap().is_none(), "tail keeps following after catching up");

    // The embedded store is held by one process: while tail holds it, another process's append is refused
    // with a clear message (live following across processes needs --store postgres://, tested below).
    let body = json!({"events": [progress("while tailing")]}).to_string();
    let output = run_with_stdin(
        dir.path(),
        &["append", "--stream", "complaint-t1", "--expected-version", "2"],
        Some(body.as_str()),
    );
    assert_exit(&output, 1, "append while tail holds the embedded store");
    assert!(stderr(&output).contains("in use by another Redress process"), "{}", stderr(&output));

    signal(&tail.0, "INT");
    let status = wait_for_exit(&mut tail.0, CHILD_WAIT).expect("tail exits on Ctrl-C");
    assert_eq!(status.code(), Some(0), "tail ends with 0 on Ctrl-C");

    // An event-type filter.
    let mut typed = redress();
    typed.arg("--data-dir").arg(dir.path()).args(["tail", "--event-type", "complaint_received"]);
    let mut typed = Reaped(typed.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap());
    let lines = Lines::spawn(typed.0.stdout.take().unwrap());
    let first = serde_json::from_str::<Value>(&lines.next(CHILD_WAIT).unwrap()).unwrap();
    let second = serde_json::from_str::<Value>(&lines.next(CHILD_WAIT).unwrap()).unwrap();
    assert_eq!((first["position"].clone(), second["position"].clone()), (json!(0), json!(3)));
    assert_eq!(lines.next(Duration::from_millis(300)), None);
    signal(&typed.0, "INT");
    assert_eq!(wait_for_exit(&mut typed.0, CHILD_WAIT).and_then(|s| s.code()), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_over_postgres_follows_an_append_made_by_another_process() {
    // A fresh schema of the test database (dropped with the guard, also when the test fails).
    let schema = crate::support::fresh_schema();
    let _guard = crate::support::SchemaGuard::new(&schema);
    let url = crate::support::test_database_url();
    let store_run = |args: Vec<String>, input: Option<String>| {
        let (url, schema) = (url.clone(), schema.clone());
        tokio::task::spawn_blocking(move || {
            let mut command = redress();
            command.args(["--store", &url, "--pg-schema", &schema]).args(&args);
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            command.stdin(Stdio::piped());
            let mut child = command.spawn().unwrap();
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(input.unwrap_or_default().as_bytes()).unwrap();
            drop(stdin);
            child.wait_with_output().unwrap()
        })
    };
    let append_args = |expected: &str| {
        ["append", "--stream", "complaint-p1", "--expected-version", expected].map(String::from).to_vec()
    };
    let body = json!({"events": [received("p1")]}).to_string();
    let output = store_run(append_args("no_stream"), Some(body)).await.unwrap();
    assert_exit(&output, 0, "append over postgres");

    let (url_for_tail, schema_for_tail) = (url.clone(), schema.clone());
    let (mut tail, lines) = tokio::task::spawn_blocking(move || {
        let mut tail = redress();
        tail.args(["--store", &url_for_tail, "--pg-schema", &schema_for_tail, "tail"]);
        tail.stdout(Stdio::piped()).stderr(Stdio::null());
        let mut tail = Reaped(tail.spawn().unwrap());
        let lines = Lines::spawn(tail.0.stdout.take().unwrap());
        (tail, lines)
    })
    .await
    .unwrap();
    let first: Value = serde_json::from_str(&lines.next(CHILD_WAIT).expect("the existing event")).unwrap();
    assert_eq!((first["position"].clone(), first["event_type"].clone()), (json!(0), json!("complaint_received")));

    let note = progress("followed live");
    let body = json!({"events": [note.clone()]}).to_string();
    let output = store_run(append_args("0"), Some(body)).await.unwrap();
    assert_exit(&output, 0, "a second process appends while tail runs");
    let line = tokio::task::spawn_blocking(move || lines.next(CHILD_WAIT)).await.unwrap();
    let live: Value = serde_json::from_str(&line.expect("tail prints the new append live")).unwrap();
    assert_eq!((live["position"].clone(), live["event_id"].clone()), (json!(1), note["event_id"].clone()));

    signal(&tail.0, "INT");
    let status = tokio::task::spawn_blocking(move || wait_for_exit(&mut tail.0, CHILD_WAIT)).await.unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "tail ends with 0 on Ctrl-C");
}

// ---------------------------------------------------------------------------------------------------------
// verify, export, import

/// `ok: N events, head position P, head hash H` → (N, P, H).
fn parse_ok(line: &str) -> (u64, u64, String) {
    let rest = line.trim().strip_prefix("ok: ").unwrap_or_else(|| panic!("not an ok line: {line:?}"));
    let parts: Vec<&str> = rest.split(", ").collect();
    let [events, position, hash] = parts[..] else { panic!("unexpected ok line: {line:?}") };
    (
        events.strip_suffix(" events").unwrap().parse().unwrap(),
        position.strip_prefix("head position ").unwrap().parse().unwrap(),
        hash.strip_prefix("head hash ").unwrap().to_owned(),
    )
}

#[test]
fn verify_of_an_intact_store_exits_0_and_prints_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["verify"]);
    assert_exit(&output, 0, "verify of an empty store");
    assert_eq!(stdout(&output).trim(), "ok: the log is empty");

    complaint_with_notes(dir.path(), "v1", 3);
    complaint_with_notes(dir.path(), "v2", 2);
    let output = run(dir.path(), &["verify"]);
    assert_exit(&output, 0, "verify");
    let (events, position, hash) = parse_ok(&stdout(&output));
    assert_eq!((events, position), (7, 6));
    let last = json_lines(&stdout(&run(dir.path(), &["read", "--stream", "complaint-v2", "--backward"])))[0].clone();
    assert_eq!((last["position"].as_u64(), last["hash"].as_str()), (Some(6), Some(hash.as_str())), "the head's hash");
}

#[test]
fn verify_file_of_a_tampered_export_exits_3_naming_the_position() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for id in ["x1", "x2", "x3"] {
        complaint_with_notes(&data, id, 3);
    }
    let export = dir.path().join("log.jsonl");
    let output = run(&data, &["export", "--output", export.to_str().unwrap()]);
    assert_exit(&output, 0, "export");
    assert!(stdout(&output).contains("exported 12 events"), "{}", stdout(&output));
    let lines: Vec<String> = std::fs::read_to_string(&export).unwrap().lines().map(String::from).collect();
    assert_eq!(lines.len(), 12, "one envelope a line");
    let output = run(&data, &["verify", "--file", export.to_str().unwrap()]);
    assert_exit(&output, 0, "verify --file of an untouched export");
    let (_, _, store_head) = parse_ok(&stdout(&run(&data, &["verify"])));
    assert_eq!(parse_ok(&stdout(&output)).2, store_head, "the export ends at the store's head");

    // Change one field of line k (position k): the note of a progress update, the customer of a complaint.
    let tampered = |k: usize, edit: &dyn Fn(&mut Value)| {
        let mut lines = lines.clone();
        let mut envelope: Value = serde_json::from_str(&lines[k]).unwrap();
        assert_eq!(envelope["position"], json!(k));
        edit(&mut envelope);
        lines[k] = envelope.to_string();
        let path = dir.path().join(format!("tampered-{k}.jsonl"));
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    };
    type Edit<'a> = &'a dyn Fn(&mut Value);
    let edits: [(usize, Edit); 4] = [
        (6, &|e| e["data"]["note"] = json!("nothing happened")),
        (4, &|e| e["data"]["customer_id"] = json!("K-8")),
        (11, &|e| e["occurred_at"] = json!("2020-01-01T00:00:00Z")),
        (0, &|e| e["metadata"] = json!({"actor": "someone else"})),
    ];
    for (k, edit) in edits {
        let path = tampered(k, edit);
        let output = run(&data, &["verify", "--file", path.to_str().unwrap()]);
        assert_exit(&output, 3, &format!("verify --file with line {k} changed"));
        let message = stderr(&output);
        assert!(message.contains(&format!("verification failed at position {k}:")), "names position {k}: {message}");
    }
    // A removed line is found where the gap is.
    let mut removed = lines.clone();
    removed.remove(5);
    let path = dir.path().join("removed.jsonl");
    std::fs::write(&path, removed.join("\n") + "\n").unwrap();
    let output = run(&data, &["verify", "--file", path.to_str().unwrap()]);
    assert_exit(&output, 3, "verify --file with line 5 removed");
    assert!(stderr(&output).contains("position 5"), "{}", stderr(&output));

    // The store itself is untouched and still verifies; a missing file is a failure (1), not a verdict.
    assert_exit(&run(&data, &["verify"]), 0, "verify of the store");
    let missing = dir.path().join("missing.jsonl");
    assert_exit(&run(&data, &["verify", "--file", missing.to_str().unwrap()]), 1, "verify --file of no file");
}

#[test]
fn export_then_import_into_an_empty_dir_gives_the_same_head_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (dir.path().join("source"), dir.path().join("target"));
    for i in 0..5 {
        complaint_with_notes(&source, &format!("e{i}"), i);
    }
    let export = dir.path().join("log.jsonl");
    assert_exit(&run(&source, &["export", "--output", export.to_str().unwrap()]), 0, "export");

    let output = run(&target, &["import", "--input", export.to_str().unwrap()]);
    assert_exit(&output, 0, "import into an empty dir");
    let (source_ok, target_ok) = (stdout(&run(&source, &["verify"])), stdout(&run(&target, &["verify"])));
    assert_eq!(parse_ok(&source_ok), parse_ok(&target_ok), "the same events, head position and head hash");
    let (events, position, hash) = parse_ok(&target_ok);
    assert_eq!((events, position), (15, 14));
    assert!(
        stdout(&output).contains(&format!("imported 15 events; head position 14, head hash {hash}")),
        "{}",
        stdout(&output)
    );
    // Byte for byte: the re-export equals the export.
    let again = dir.path().join("again.jsonl");
    assert_exit(&run(&target, &["export", "--output", again.to_str().unwrap()]), 0, "re-export");
    assert_eq!(std::fs::read(&export).unwrap(), std::fs::read(&again).unwrap(), "the re-export is identical");

    // The imported store keeps working: an append continues the chain.
    append(&target, "complaint-e4", "4", vec![progress("after the move")]);
    let (events, position, _) = parse_ok(&stdout(&run(&target, &["verify"])));
    assert_eq!((events, position), (16, 15), "the chain grows from the imported head");

    // Importing again into a non-empty store is refused; so is a broken chain, naming its position, and
    // nothing of it is kept.
    let output = run(&target, &["import", "--input", export.to_str().unwrap()]);
    assert_exit(&output, 1, "import into a non-empty store");
    assert!(stderr(&output).contains("import refused at position 0"), "{}", stderr(&output));
    let mut lines: Vec<Value> =
        std::fs::read_to_string(&export).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    lines[3]["data"]["note"] = json!("tampered");
    let broken = dir.path().join("broken.jsonl");
    std::fs::write(&broken, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let empty = dir.path().join("empty");
    let output = run(&empty, &["import", "--input", broken.to_str().unwrap()]);
    assert_ne!(output.status.code(), Some(0), "import of a broken chain fails: {}", stdout(&output));
    assert!(stderr(&output).contains("position 3"), "names the broken position: {}", stderr(&output));
    assert_eq!(stdout(&run(&empty, &["verify"])).trim(), "ok: the log is empty", "nothing of it was kept");
}

// ---------------------------------------------------------------------------------------------------------
// demo, openapi

#[test]
fn demo_loads_the_sample_history_prints_a_summary_and_a_tour_and_the_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["demo", "--complaints", "200"]);
    assert_exit(&output, 0, "demo --complaints 200");
    let summary = stdout(&output);
    assert!(summary.contains("\"complaints\": 200"), "the summary counts the complaints: {summary}");
    let events: u64 = summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("\"events\": "))
        .and_then(|n| n.trim_end_matches(',').parse().ok())
        .unwrap_or_else(|| panic!("the summary counts the events: {summary}"));
    assert!(events > 200, "more than one event per complaint: {events}");

    // The tour: what the projections show, agreeing with what the generator says it left open.
    let counted = |key: &str| {
        summary
            .lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|n| n.trim_end_matches(',').parse::<u64>().ok())
            .unwrap_or_else(|| panic!("the summary has {key}: {summary}"))
    };
    let open_line =
        format!("Open complaints: {} ({} overdue)", counted("\"open_at_end\": "), counted("\"overdue_at_end\": "));
    assert!(summary.contains(&open_line), "the tour shows {open_line:?}: {summary}");
    for part in ["Repeat issues", "Satisfaction by department", "Suggested standard answers", "redress serve"] {
        assert!(summary.contains(part), "the tour shows {part:?}: {summary}");
    }

    let output = run(dir.path(), &["verify"]);
    assert_exit(&output, 0, "verify after the demo");
    let (verified, position, _) = parse_ok(&stdout(&output));
    assert_eq!((verified, position), (events, events - 1), "every event the summary counted is in the chain");

    // The year was recorded as it happened (the demo's year ends now): what the desk knew at mid-year is
    // mid-year's desk, and before the year the desk knew nothing.
    let days_ago = |days: i64| redress_schemas::Timestamp::now().plus_seconds(-days * 86_400).to_rfc3339();
    let mid_year = replay(dir.path(), &days_ago(182), "recorded");
    let open_then = mid_year["count"].as_u64().expect("a count");
    assert!(open_then > 0, "complaints were open at mid-year as recorded: {mid_year}");
    assert_eq!(replay(dir.path(), &days_ago(400), "recorded")["count"], 0, "nothing was recorded before the year");

    let output = run(dir.path(), &["demo", "--complaints", "10"]);
    assert_exit(&output, 1, "demo into a non-empty store");
    assert!(stderr(&output).contains("not empty"), "{}", stderr(&output));
}

#[test]
fn openapi_prints_one_valid_json_document_with_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["openapi"]);
    assert_exit(&output, 0, "openapi");
    let document: Value = serde_json::from_slice(&output.stdout).expect("the whole output is one JSON document");
    assert!(document["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "OpenAPI 3.1: {}", document["openapi"]);
    assert_eq!(document["info"]["title"], "Redress");
    for (method, path) in ROUTES {
        assert!(document["paths"][*path][*method].is_object(), "{method} {path} is in the document");
    }
    assert!(document["components"]["securitySchemes"]["bearer"].is_object(), "the bearer scheme is declared");
    assert!(!dir.path().join("db").exists(), "printing the document opens no store");
}

// ---------------------------------------------------------------------------------------------------------
// replay, projections, suggest

/// A critical complaint received 2026-03-01 08:00 (acknowledge within 2 h), acknowledged late at 11:00.
fn late_acknowledgement(dir: &Path) {
    let mut received = received("late1");
    received["occurred_at"] = json!("2026-03-01T08:00:00Z");
    received["data"]["severity"] = json!("critical");
    append(dir, "complaint-late1", "no_stream", vec![received]);
    let acknowledged = json!({"event_type": "complaint_acknowledged", "occurred_at": "2026-03-01T11:00:00Z",
        "data": {"message": "非常抱歉，我们已收到您的投诉。", "via": "sms"}});
    append(dir, "complaint-late1", "0", vec![acknowledged]);
}

fn replay(dir: &Path, as_of: &str, basis: &str) -> Value {
    let output = run(dir, &["replay", "--as-of", as_of, "--projection", "open-complaints", "--basis", basis]);
    assert_exit(&output, 0, &format!("replay --as-of {as_of} --basis {basis}"));
    serde_json::from_slice(&output.stdout).expect("replay prints one JSON document")
}

#[test]
fn replay_prints_a_projection_as_it_stood_at_an_instant_on_either_basis() {
    let dir = tempfile::tempdir().unwrap();
    late_acknowledgement(dir.path());

    // basis=occurred: how things stood in the world.
    let before = replay(dir.path(), "2026-03-01T07:00:00Z", "occurred");
    assert_eq!((before["count"].clone(), before["as_of"].clone()), (json!(0), json!("2026-03-01T07:00:00Z")));
    let waiting = replay(dir.path(), "2026-03-01T09:00:00Z", "occurred");
    assert_eq!(waiting["count"], 1, "{waiting}");
    let complaint = &waiting["complaints"][0];
    assert_eq!((complaint["complaint_id"].clone(), complaint["status"].clone()), (json!("late1"), json!("received")));
    assert_eq!(
        (complaint["ack_due"].clone(), complaint["overdue"].clone()),
        (json!("2026-03-01T10:00:00Z"), json!(false))
    );
    let late = replay(dir.path(), "2026-03-01T10:30:00Z", "occurred");
    assert_eq!(late["complaints"][0]["overdue_reasons"], json!(["acknowledgement"]), "{late}");
    assert_eq!(late["overdue_count"], 1);
    let acknowledged = replay(dir.path(), "2026-03-01T12:00:00Z", "occurred");
    assert_eq!(acknowledged["complaints"][0]["status"], "acknowledged", "{acknowledged}");

    // basis=recorded (the default): what the desk knew then. Both events were recorded just now.
    assert_eq!(replay(dir.path(), "2026-03-01T12:00:00Z", "recorded")["count"], 0);
    let now = run(dir.path(), &["replay", "--as-of", "2100-01-01T00:00:00Z", "--projection", "open-complaints"]);
    assert_exit(&now, 0, "replay with the default basis");
    let now: Value = serde_json::from_slice(&now.stdout).unwrap();
    assert_eq!(now["complaints"][0]["status"], "acknowledged", "{now}");

    // Parameters, and what is refused.
    let output = run(
        dir.path(),
        &[
            "replay",
            "--as-of",
            "2026-03-02T00:00:00Z",
            "--projection",
            "customer-history",
            "--basis",
            "occurred",
            "--param",
            "customer_id=K-7",
        ],
    );
    assert_exit(&output, 0, "replay of customer-history with a parameter");
    let history: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((history["customer_id"].clone(), history["complaint_count"].clone()), (json!("K-7"), json!(1)));
    for (args, says) in [
        (vec!["--as-of", "yesterday", "--projection", "open-complaints"], "--as-of"),
        (vec!["--as-of", "2026-03-01T09:00:00Z", "--projection", "nope"], "nope"),
        (vec!["--as-of", "2026-03-01T09:00:00Z", "--projection", "open-complaints", "--basis", "sideways"], "--basis"),
        (vec!["--as-of", "2026-03-01T09:00:00Z", "--projection", "open-complaints", "--param", "novalue"], "--param"),
    ] {
        let mut full = vec!["replay"];
        full.extend(&args);
        let output = run(dir.path(), &full);
        // An unknown projection is a failure (1); a malformed argument is a usage error (2).
        let code = if args.contains(&"nope") { 1 } else { 2 };
        assert_exit(&output, code, &format!("replay {args:?}"));
        assert!(stderr(&output).contains(says), "replay {args:?} says {says:?}: {}", stderr(&output));
    }
}

#[test]
fn projections_status_and_rebuild_report_every_projection_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    late_acknowledgement(dir.path());
    complaint_with_notes(dir.path(), "p2", 2);
    let names = ["open-complaints", "customer-history", "repeat-issues", "satisfaction", "suggestions", "answer-gaps"];
    let statuses = |output: &Output| -> Vec<Value> { json_lines(&stdout(output)) };

    let output = run(dir.path(), &["projections", "status"]);
    assert_exit(&output, 0, "projections status");
    let status = statuses(&output);
    let listed: Vec<&str> = status.iter().map(|s| s["name"].as_str().unwrap()).collect();
    for name in names {
        assert!(listed.contains(&name), "status lists {name}: {listed:?}");
    }
    for s in &status {
        assert_eq!((s["lag"].clone(), s["state"].clone()), (json!(0), json!("running")), "caught up: {s}");
        assert_eq!(s["checkpoint"], 4, "the checkpoint is the last position applied (5 events): {s}");
        assert!(s["version"].as_u64().is_some(), "{s}");
    }
    assert!(dir.path().join("projections").is_dir(), "checkpoints are kept beside the store");

    // More events: the next status catches up from the saved checkpoint.
    complaint_with_notes(dir.path(), "p3", 0);
    let status = statuses(&run(dir.path(), &["projections", "status"]));
    assert!(status.iter().all(|s| s["checkpoint"] == 5 && s["lag"] == 0), "{status:?}");

    let output = run(dir.path(), &["projections", "rebuild", "open-complaints"]);
    assert_exit(&output, 0, "projections rebuild open-complaints");
    let rebuilt = statuses(&output);
    let open = rebuilt.iter().find(|s| s["name"] == "open-complaints").expect("the rebuilt one is listed");
    assert_eq!(
        (open["checkpoint"].clone(), open["lag"].clone(), open["state"].clone()),
        (json!(5), json!(0), json!("running"))
    );

    let output = run(dir.path(), &["projections", "rebuild", "nope"]);
    assert_exit(&output, 1, "rebuild of an unknown projection");
    assert!(stderr(&output).contains("no projection named \"nope\""), "{}", stderr(&output));
}

#[test]
fn suggest_ranks_published_standard_answers_and_never_a_retired_one() {
    let dir = tempfile::tempdir().unwrap();
    let published = |id: &str, category: &str, title: &str, answer: &str, keywords: &[&str]| {
        json!({"event_type": "standard_answer_published", "data": {"answer_id": id, "category": category,
            "title": title, "answer": answer, "keywords": keywords}})
    };
    let print = published(
        "print",
        "hardware",
        "打印机频繁卡纸 / Printer paper jams",
        "请清理进纸通道并更换搓纸轮。",
        &["打印机", "卡纸", "paper jam"],
    );
    append(dir.path(), "qa-print", "no_stream", vec![print]);
    let copier = published(
        "copier",
        "hardware",
        "打印机卡纸（旧版） / Printer jams (old)",
        "打印机卡纸请联系维修。",
        &["打印机", "卡纸"],
    );
    let retired = json!({"event_type": "standard_answer_retired", "data": {"reason": "merged into qa-print"}});
    append(dir.path(), "qa-copier", "no_stream", vec![copier, retired]);
    let invoice = published(
        "invoice",
        "billing",
        "发票开错 / Wrong invoice",
        "我们将重新开具发票。",
        &["发票", "税号", "invoice"],
    );
    append(dir.path(), "qa-invoice", "no_stream", vec![invoice]);

    // Ranking, not confidence, is checked here: three answers give every term a low idf.
    let suggest = |args: &[&str]| -> Vec<Value> {
        let mut full = vec!["suggest", "--min-confidence", "0"];
        full.extend(args);
        let output = run(dir.path(), &full);
        assert_exit(&output, 0, &format!("suggest {args:?}"));
        let answer: Value = serde_json::from_slice(&output.stdout).expect("suggest prints one JSON document");
        answer["suggestions"].as_array().expect("a list of suggestions").clone()
    };
    let ids = |list: &[Value]| list.iter().map(|s| s["answer_id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();

    let jam = suggest(&["我的打印机总是卡纸"]);
    assert_eq!(ids(&jam).first().map(String::as_str), Some("print"), "{jam:?}");
    assert!(!ids(&jam).contains(&"copier".to_owned()), "a retired answer never appears: {jam:?}");
    assert!(jam[0]["why"].as_str().is_some_and(|w| w.contains("卡纸")), "says why: {}", jam[0]);
    assert!(jam[0]["title"].as_str().is_some_and(|t| t.contains("Printer")), "{}", jam[0]);
    assert!(jam.windows(2).all(|w| w[0]["score"].as_f64() >= w[1]["score"].as_f64()), "best first: {jam:?}");
    assert_eq!(ids(&suggest(&["invoice has the wrong tax number"])).first().map(String::as_str), Some("invoice"));
    assert_eq!(suggest(&["发票 卡纸", "--k", "1"]).len(), 1, "--k bounds the list");
    assert!(!suggest(&["paper jam", "--category", "hardware"]).is_empty());

    // A translation published later is matched, and titles the answer for a reader of its language.
    let translated = json!({"event_type": "standard_answer_revised", "data": {"translations": {"en": {
        "title": "Invoice issued wrong", "answer": "We reissue the invoice.", "keywords": ["billing error", "receipt"]}}}});
    append(dir.path(), "qa-invoice", "0", vec![translated]);
    let receipt = suggest(&["my receipt shows a billing error"]);
    assert_eq!(receipt[0]["answer_id"], "invoice", "{receipt:?}");
    assert_eq!(receipt[0]["title"], "Invoice issued wrong", "an English text reads the English title");
    let in_chinese = suggest(&["my receipt shows a billing error", "--lang", "zh"]);
    assert_eq!(in_chinese[0]["title"], "发票开错 / Wrong invoice", "--lang overrides the detected language");
    let output = run(dir.path(), &["suggest", "receipt", "--lang", "not a tag"]);
    assert_exit(&output, 1, "suggest --lang with a bad tag");
    assert!(stderr(&output).contains("lang"), "{}", stderr(&output));

    let output = run(dir.path(), &["suggest", "卡纸", "--k", "0"]);
    assert_exit(&output, 2, "suggest --k 0");
    assert!(stderr(&output).contains("k"), "{}", stderr(&output));
}

#[test]
fn suggest_eval_prints_top1_recall_and_mrr_learns_from_history_and_refuses_a_bad_case_file() {
    let dir = tempfile::tempdir().unwrap();
    let published = |id: &str, category: &str, title: &str, answer: &str, keywords: &[&str]| {
        json!({"event_type": "standard_answer_published", "data": {"answer_id": id, "category": category,
            "title": title, "answer": answer, "keywords": keywords}})
    };
    let answers = [
        (
            "jam",
            "product_quality",
            "打印机频繁卡纸 / Printer paper jams",
            "请清理进纸通道并更换搓纸轮。",
            &["打印机", "卡纸"][..],
        ),
        ("invoice", "billing", "发票开错 / Wrong invoice", "我们将重新开具发票。", &["发票", "税号"][..]),
        (
            "data",
            "repair",
            "维修后数据丢失 / Data lost after repair",
            "我们将协助恢复数据。",
            &["数据丢失", "备份"][..],
        ),
        ("late", "delivery", "配送延迟 / Late delivery", "我们会联系物流核实包裹位置。", &["物流", "延迟"][..]),
    ];
    for (id, category, title, answer, keywords) in answers {
        append(dir.path(), &format!("qa-{id}"), "no_stream", vec![published(id, category, title, answer, keywords)]);
    }
    let write = |name: &str, lines: &[Value]| {
        let path = dir.path().join(name);
        let text: Vec<String> = lines.iter().map(Value::to_string).collect();
        std::fs::write(&path, text.join("\n")).unwrap();
        path.display().to_string()
    };
    let cases = write(
        "cases.jsonl",
        &[
            json!({"case_id": "c1", "text": "打印机一直卡纸", "category": "product_quality", "expected_answer_id": "jam"}),
            json!({"case_id": "c2", "text": "拿回来桌面干干净净，论文初稿没了", "category": "repair", "expected_answer_id": "data"}),
            json!({"case_id": "off", "text": "今天天气真好"}),
        ],
    );
    let history = write(
        "history.jsonl",
        &[json!({"text": "修完拿回来桌面干干净净，论文全没了", "category": "repair", "expected_answer_id": "data"})],
    );
    let figures = |output: &Output| -> String { stdout(output).lines().next().unwrap_or_default().to_owned() };

    let plain = run(dir.path(), &["suggest", "--eval", &cases, "--min-confidence", "0"]);
    assert_exit(&plain, 0, "suggest --eval");
    assert!(figures(&plain).starts_with("cases 2  top-1 0.500  recall@3 0.500"), "{}", stdout(&plain));
    assert!(stdout(&plain).contains("\"c2\""), "the miss is listed: {}", stdout(&plain));

    let learned = run(dir.path(), &["suggest", "--eval", &cases, "--history", &history, "--min-confidence", "0"]);
    assert_exit(&learned, 0, "suggest --eval --history");
    assert!(figures(&learned).starts_with("cases 2  top-1 1.000  recall@3 1.000  MRR 1.000"), "{}", stdout(&learned));
    let default_minimum = run(dir.path(), &["suggest", "--eval", &cases]);
    assert!(stdout(&default_minimum).contains("off-topic 1  answered 0.000"), "{}", stdout(&default_minimum));

    // The history file is not written to the store: a later run without it has not learned.
    let again = run(dir.path(), &["suggest", "--eval", &cases, "--min-confidence", "0"]);
    assert_eq!(figures(&again), figures(&plain));

    let bad = write("bad.jsonl", &[json!({"text": "打印机卡纸", "expected_answer_id": "jam"}), json!({"text": " "})]);
    let refused = run(dir.path(), &["suggest", "--eval", &bad]);
    assert_exit(&refused, 1, "suggest --eval with a blank text");
    assert!(stderr(&refused).contains("line 2: text is blank"), "{}", stderr(&refused));
    let no_answer = run(dir.path(), &["suggest", "--eval", &cases, "--history", &cases]);
    assert_exit(&no_answer, 1, "a history case without an expected answer");
    assert!(stderr(&no_answer).contains("needs expected_answer_id"), "{}", stderr(&no_answer));
    assert_exit(&run(dir.path(), &["suggest", "--history", &history]), 2, "--history needs --eval");
    assert_exit(&run(dir.path(), &["suggest", "卡纸", "--min-confidence", "2"]), 2, "confidence beyond 1");
}

// ---------------------------------------------------------------------------------------------------------
// serve

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_listens_on_an_ephemeral_port_and_sigterm_exits_0_keeping_every_append() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = format!("publisher:{PUBLISHER},auditor:{AUDITOR}");
    let path = dir.path().to_path_buf();
    let server = tokio::task::spawn_blocking(move || ServerProcess::start(&path, Some(&tokens))).await.unwrap();
    assert!(server.preamble.is_empty(), "with REDRESS_TOKENS no admin token is printed: {:?}", server.preamble);
    assert!(!dir.path().join("admin.token").exists(), "nor created");
    let client = reqwest::Client::new();
    let base = server.base.clone();

    let health = client.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
    assert_eq!(health.json::<Value>().await.unwrap(), json!({"status": "ok", "head_position": null}));

    let event = received("s1");
    let body = json!({"expected_version": "no_stream", "events": [event.clone()]});
    let url = format!("{base}/streams/complaint-s1/events");
    let refused = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED, "no token, no write");
    let refused = client.post(&url).bearer_auth(AUDITOR).json(&body).send().await.unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::FORBIDDEN, "an auditor may not write");
    let created = client.post(&url).bearer_auth(PUBLISHER).json(&body).send().await.unwrap();
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    assert_eq!(
        created.json::<Value>().await.unwrap(),
        json!({"first_version": 0, "last_version": 0, "first_position": 0, "last_position": 0})
    );
    let verify: Value =
        client.get(format!("{base}/audit/verify")).bearer_auth(AUDITOR).send().await.unwrap().json().await.unwrap();
    assert_eq!((verify["ok"].clone(), verify["head_position"].clone()), (json!(true), json!(0)));
    // The served document is the one `redress openapi` prints.
    let served: Value = client.get(format!("{base}/openapi.json")).send().await.unwrap().json().await.unwrap();
    let printed: Value = serde_json::from_slice(&run(dir.path(), &["openapi"]).stdout).unwrap();
    assert_eq!(served, printed);

    // The running server holds the store: a second server, or a command, on the same dir fails clearly.
    let mut second = redress();
    second.arg("--data-dir").arg(dir.path()).args(["serve", "--listen", "127.0.0.1:0"]);
    let second = second.env("REDRESS_TOKENS", format!("publisher:{PUBLISHER}")).output().unwrap();
    assert_exit(&second, 1, "a second server on the same dir");
    assert!(stderr(&second).contains("in use by another Redress process"), "{}", stderr(&second));
    let output = run(dir.path(), &["verify"]);
    assert_exit(&output, 1, "verify of a store a server holds");
    assert!(stderr(&output).contains("in use by another Redress process"), "{}", stderr(&output));

    // An open subscription does not hold the shutdown up.
    let mut subscription = client
        .get(format!("{base}/subscribe?from_position=0"))
        .bearer_auth(AUDITOR)
        .send()
        .await
        .unwrap()
        .bytes_stream();
    use futures_util::StreamExt;
    let first = tokio::time::timeout(CHILD_WAIT, subscription.next()).await.unwrap().unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("complaint_received"));

    let status = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let status = server.terminate();
        (status, started.elapsed())
    })
    .await
    .unwrap();
    assert_eq!(status.0.code(), Some(0), "SIGTERM ends the server with 0");
    assert!(status.1 < Duration::from_secs(10), "and promptly, though a subscription was open: {:?}", status.1);

    // The store is released and holds the appended event.
    let output = run(dir.path(), &["read", "--stream", "complaint-s1"]);
    assert_exit(&output, 0, "read after the server stopped");
    let events = json_lines(&stdout(&output));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_id"], event["event_id"]);
    assert_exit(&run(dir.path(), &["verify"]), 0, "verify after the server stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_without_tokens_creates_a_private_admin_token_and_never_prints_it_to_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("data");
    let start = |data: PathBuf| tokio::task::spawn_blocking(move || ServerProcess::start(&data, None));

    let server = start(data.clone()).await.unwrap();
    let file = data.join("admin.token");
    let token = std::fs::read_to_string(&file).expect("admin.token is created").trim().to_owned();
    assert!(token.len() >= 16, "a long token: {token:?}");
    assert_owner_only(&data);
    // Standard output is a pipe here, as it is into a log file or a journal others may read.
    assert!(server.preamble.iter().all(|l| !l.contains(&token)), "not printed: {:?}", server.preamble);
    assert!(
        server.preamble.iter().any(|l| l.contains("created in") && l.contains("admin.token")),
        "it says where the token is: {:?}",
        server.preamble
    );

    let client = reqwest::Client::new();
    let verify = |base: String, token: Option<String>| {
        let client = client.clone();
        async move {
            let mut request = client.get(format!("{base}/audit/verify"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send().await.unwrap().status()
        }
    };
    assert_eq!(verify(server.base.clone(), Some(token.clone())).await, reqwest::StatusCode::OK, "the token is admin");
    assert_eq!(verify(server.base.clone(), None).await, reqwest::StatusCode::UNAUTHORIZED);
    let body = json!({"events": [received("adm1")]});
    let written = client
        .post(format!("{}/streams/complaint-adm1/events", server.base))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(written.status(), reqwest::StatusCode::CREATED, "admin writes too");
    assert!(!server.stderr().contains(&token), "the token is never logged");
    let status = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    assert_eq!(status.code(), Some(0));
    assert_owner_only(&data);

    let server = start(data.clone()).await.unwrap();
    assert!(
        server.preamble.iter().all(|l| !l.contains(&token)),
        "a second start does not print the token again: {:?}",
        server.preamble
    );
    assert!(server.preamble.iter().any(|l| l.contains("admin.token")), "but says where it is: {:?}", server.preamble);
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), token, "the same token is kept");
    assert_eq!(verify(server.base.clone(), Some(token.clone())).await, reqwest::StatusCode::OK, "and still works");
    let status = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn serve_prints_a_new_admin_token_once_to_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // `script` gives the server a pseudo-terminal as its standard output and copies it to ours.
    let command =
        format!("exec {} --data-dir {} serve --listen 127.0.0.1:0", env!("CARGO_BIN_EXE_redress"), data.display());
    let mut script = Command::new("script");
    script.args(["-qec", &command, "/dev/null"]).env_remove("REDRESS_TOKENS").env("REDRESS_LOG", "warn");
    let mut child = Reaped(
        script
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn script (util-linux) to give the server a terminal"),
    );
    let lines = Lines::spawn(child.0.stdout.take().expect("stdout is piped"));
    let mut preamble = Vec::new();
    while let Some(line) = lines.next(CHILD_WAIT) {
        if line.starts_with("Redress is listening") {
            break;
        }
        preamble.push(line);
    }
    let token = std::fs::read_to_string(data.join("admin.token")).expect("admin.token is created").trim().to_owned();
    let printed: Vec<&String> = preamble.iter().filter(|l| l.contains(&token)).collect();
    assert_eq!(printed.len(), 1, "printed once to a terminal: {preamble:?}");
    assert!(printed[0].contains("admin.token"), "with where it is kept: {}", printed[0]);
    signal(&child.0, "TERM");
    assert!(wait_for_exit(&mut child.0, CHILD_WAIT).is_some(), "script and the server end");
    // The server is gone once its store is free again.
    let deadline = Instant::now() + CHILD_WAIT;
    while run(&data, &["verify"]).status.code() != Some(0) {
        assert!(Instant::now() < deadline, "the server under script ended");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `redress` run under `ulimit -n files` (through bash), with a clean environment as [`redress`].
fn redress_with_open_files_limit(files: u64) -> Command {
    let mut command = Command::new("bash");
    command.arg("-c").arg(format!(r#"ulimit -n {files} && exec "$0" "$@""#)).arg(env!("CARGO_BIN_EXE_redress"));
    for name in ["REDRESS_TOKENS", "REDRESS_STORE", "REDRESS_PG_SCHEMA", "REDRESS_DATA_DIR", "REDRESS_QA_LIBRARY"] {
        command.env_remove(name);
    }
    command.env("REDRESS_LOG", "warn").stdin(Stdio::null());
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_ulimit_n_256_three_hundred_stalled_connections_do_not_starve_an_authenticated_client() {
    // The operator's case: 300 connections that send only "GET /health HTTP/1.1\r\n", under ulimit -n 256.
    let dir = tempfile::tempdir().unwrap();
    let mut command = redress_with_open_files_limit(256);
    command.arg("--data-dir").arg(dir.path()).args(["serve", "--listen", "127.0.0.1:0"]);
    command.env("REDRESS_TOKENS", format!("auditor:{AUDITOR}")).env("REDRESS_HEADER_READ_TIMEOUT", "500ms");
    let server = tokio::task::spawn_blocking(move || ServerProcess::spawn(command)).await.unwrap();
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stalled = Vec::new();
    for _ in 0..300 {
        let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect");
        use tokio::io::AsyncWriteExt;
        stream.write_all(b"GET /health HTTP/1.1\r\n").await.expect("send a partial head");
        stalled.push(stream);
    }
    let started = Instant::now();
    let client = reqwest::Client::new();
    let verify = client.get(format!("{}/audit/verify", server.base)).bearer_auth(AUDITOR).timeout(CHILD_WAIT);
    let response = verify.send().await.expect("the authenticated client is served");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(15), "within a few header timeouts: {:?}", started.elapsed());
    let stderr = server.stderr();
    assert!(stderr.contains("open-files limit"), "the lowered connection limit is logged: {stderr}");
    drop(stalled);
    let status = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    assert_eq!(status.code(), Some(0), "and it shuts down cleanly");
}

// ---------------------------------------------------------------------------------------------------------
// subscriptions

const WEBHOOK_SECRET: &str = "cli-webhook-secret-0123456789";

/// A webhook secret file (owner-only, with the newline an editor leaves) in `dir`.
fn secret_file(dir: &Path) -> PathBuf {
    let path = dir.join("webhook.secret");
    std::fs::write(&path, format!("{WEBHOOK_SECRET}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// The one JSON document a command printed.
fn printed(output: &Output) -> Value {
    serde_json::from_str(stdout(output).trim())
        .unwrap_or_else(|e| panic!("not one JSON document: {e}: {}", stdout(output)))
}

fn subscription_names(output: &Output) -> Vec<String> {
    json_lines(&stdout(output)).iter().map(|s| s["name"].as_str().expect("a name").to_owned()).collect()
}

#[test]
fn subscriptions_create_list_show_delete_and_a_bad_definition_exits_1_naming_its_field_writing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    complaint_with_notes(&data, "s1", 1);
    let secret = secret_file(dir.path());
    let secret = secret.to_str().unwrap();
    let listed = run(&data, &["subscriptions", "list"]);
    assert_exit(&listed, 0, "list of none");
    assert_eq!(stdout(&listed), "", "no subscription, no line");

    let created = run(
        &data,
        &["subscriptions", "create", "orders", "--event-types", "complaint_received,progress_updated"]
            .into_iter()
            .chain(["--start", "1", "--max-attempts", "3"])
            .collect::<Vec<_>>(),
    );
    assert_exit(&created, 0, "create orders");
    let orders = printed(&created);
    assert_eq!(
        (&orders["name"], &orders["event_types"], &orders["start"], &orders["max_attempts"], &orders["position"]),
        (&json!("orders"), &json!(["complaint_received", "progress_updated"]), &json!(1), &json!(3), &json!(1)),
        "{orders}"
    );
    assert_eq!((&orders["lag"], &orders["webhook"]), (&json!(1), &Value::Null), "one event after position 1: {orders}");

    // A webhook: the secret comes from its file and is never printed.
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", receiver.local_addr().unwrap());
    let hooked =
        run(&data, &["subscriptions", "create", "crm", "--webhook-url", &url, "--webhook-secret-file", secret]);
    assert_exit(&hooked, 0, "create crm with a webhook");
    assert_eq!(printed(&hooked)["webhook"], json!({"url": url}));
    assert!(!stdout(&hooked).contains(WEBHOOK_SECRET) && !stderr(&hooked).contains(WEBHOOK_SECRET));
    receiver.set_nonblocking(true).unwrap();
    assert_eq!(
        receiver.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "the command delivered nothing: delivery is the server's"
    );

    // Bad definitions: exit 1, the field named, nothing written.
    let far = ["--webhook-url", "http://169.254.169.254/latest", "--webhook-secret-file", secret];
    let short = dir.path().join("short.secret");
    std::fs::write(&short, "short").unwrap();
    let short_secret = ["--webhook-url", url.as_str(), "--webhook-secret-file", short.to_str().unwrap()];
    let bad: [(&[&str], &str); 6] = [
        (&["--event-types", "complaint_received,no_such_type"], "event_types: unknown event type \"no_such_type\""),
        (&far, "webhook.url: webhook host \"169.254.169.254\" is not allowed"),
        (&["--max-attempts", "0"], "max_attempts"),
        (&["--start", "later"], "start"),
        (&short_secret, "webhook.secret"),
        (
            &["--webhook-hosts", "hooks.example.com", "--webhook-url", &url, "--webhook-secret-file", secret],
            "webhook.url",
        ),
    ];
    for (flags, field) in bad {
        let args: Vec<&str> = ["subscriptions", "create", "bad"].into_iter().chain(flags.iter().copied()).collect();
        let output = run(&data, &args);
        assert_exit(&output, 1, &format!("{flags:?}"));
        assert!(stderr(&output).contains(field), "{flags:?} names {field:?}: {}", stderr(&output));
        assert!(stdout(&output).is_empty(), "{flags:?} prints nothing on stdout");
    }
    let output = run(&data, &["subscriptions", "create", "Not A Name"]);
    assert_exit(&output, 1, "a bad name");
    assert!(stderr(&output).contains("name: use"), "{}", stderr(&output));
    // A host an operator allows is accepted.
    let args = ["--webhook-hosts", "hooks.example.com", "--webhook-url", "http://hooks.example.com/r"];
    let args: Vec<&str> = ["subscriptions", "create", "partner"]
        .into_iter()
        .chain(args)
        .chain(["--webhook-secret-file", secret])
        .collect();
    assert_exit(&run(&data, &args), 0, "a host on --webhook-hosts");

    let listed = run(&data, &["subscriptions", "list"]);
    assert_exit(&listed, 0, "list");
    assert_eq!(subscription_names(&listed), ["crm", "orders", "partner"], "nothing of the refused ones");
    assert!(!stdout(&listed).contains(WEBHOOK_SECRET));
    let shown = run(&data, &["subscriptions", "show", "orders"]);
    assert_exit(&shown, 0, "show orders");
    assert_eq!(
        printed(&shown),
        orders,
        "show prints what create printed (the same JSON as GET /subscriptions/{{name}})"
    );
    assert_eq!(json_lines(&stdout(&listed))[1], orders, "so does list");
    let output = run(&data, &["subscriptions", "show", "bad"]);
    assert_exit(&output, 1, "show of a refused subscription");

    // Create again: the definition is replaced, the position kept.
    let replaced = run(&data, &["subscriptions", "create", "orders", "--start", "beginning"]);
    assert_exit(&replaced, 0, "replace orders");
    let replaced = printed(&replaced);
    assert_eq!((&replaced["event_types"], &replaced["position"]), (&json!([]), &json!(1)), "{replaced}");

    let deleted = run(&data, &["subscriptions", "delete", "orders"]);
    assert_exit(&deleted, 0, "delete orders");
    assert_eq!(printed(&deleted), json!({"deleted": "orders"}));
    let output = run(&data, &["subscriptions", "show", "orders"]);
    assert_exit(&output, 1, "show after delete");
    assert!(stderr(&output).contains("no subscription named \"orders\""), "{}", stderr(&output));
    assert_exit(&run(&data, &["subscriptions", "delete", "orders"]), 1, "delete of none");
    assert_exit(&run(&data, &["subscriptions", "retry-parked", "orders"]), 1, "retry-parked of none");
    assert_eq!(subscription_names(&run(&data, &["subscriptions", "list"])), ["crm", "partner"]);
}

/// `redress <args>` run off the async runtime.
async fn run_blocking(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let output = redress().args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).output();
        output.unwrap_or_else(|e| panic!("redress {args:?}: {e}"))
    })
    .await
    .expect("the command ran")
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// Leases `position` of subscription `name` once and nacks it: with `max_attempts` 1, it is parked.
async fn park_through_the_server(base: &str, name: &str, position: u64) {
    use crate::subscriptions::{call, positions_of, PUBLISHER};
    let path = format!("/subscriptions/{name}/fetch");
    let (_, fetched) = call(base, reqwest::Method::POST, &path, PUBLISHER, Some(json!({"max": 1, "wait_ms": 0}))).await;
    assert_eq!(positions_of(&fetched), [position], "{fetched}");
    let path = format!("/subscriptions/{name}/nack");
    let (_, nacked) = call(base, reqwest::Method::POST, &path, PUBLISHER, Some(json!({"positions": [position]}))).await;
    assert_eq!(nacked, json!({"released": [], "parked": [position]}), "max_attempts 1: parked at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_retry_parked_puts_a_parked_event_back_into_delivery() {
    use crate::subscriptions::{append_complaint, call, positions_of, tokens, PUBLISHER};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let cli = |args: &[&str]| run_blocking(owned(&["--data-dir", &data]).into_iter().chain(owned(args)).collect());
    assert_exit(&cli(&["subscriptions", "create", "poison", "--max-attempts", "1"]).await, 0, "create");
    let path = dir.path().to_owned();
    let server = tokio::task::spawn_blocking(move || ServerProcess::start(&path, Some(&tokens()))).await.unwrap();
    append_complaint(&server.base, "R1", 1).await; // positions 0, 1
    park_through_the_server(&server.base, "poison", 0).await;
    // The embedded store belongs to one process at a time: the CLI runs while the server is stopped.
    assert!(server.terminate().success());
    let shown = printed(&cli(&["subscriptions", "show", "poison"]).await);
    assert_eq!((&shown["parked"], &shown["position"]), (&json!(1), &json!(1)), "{shown}");
    let retried = cli(&["subscriptions", "retry-parked", "poison", "--limit", "10"]).await;
    assert_exit(&retried, 0, "retry-parked");
    assert_eq!(printed(&retried), json!({"retried": [0]}));
    let shown = printed(&cli(&["subscriptions", "show", "poison"]).await);
    assert_eq!((&shown["parked"], &shown["position"], &shown["pending"]), (&json!(0), &json!(0), &json!(2)), "{shown}");
    assert_eq!(printed(&cli(&["subscriptions", "retry-parked", "poison"]).await), json!({"retried": []}));

    let path = dir.path().to_owned();
    let server = tokio::task::spawn_blocking(move || ServerProcess::start(&path, Some(&tokens()))).await.unwrap();
    let fetch = json!({"max": 10, "wait_ms": 0});
    let (_, fetched) =
        call(&server.base, reqwest::Method::POST, "/subscriptions/poison/fetch", PUBLISHER, Some(fetch)).await;
    assert_eq!(positions_of(&fetched)[0], 0, "the retried event comes first: {fetched}");
    assert_eq!(fetched["events"][0]["attempt"], 1, "its attempts were reset");
    assert!(server.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_commands_work_over_postgres_beside_a_running_server() {
    use crate::subscriptions::{append_complaint, call, positions_of, tokens, PUBLISHER};
    // A fresh schema of the test database (dropped with the guard). No server: the commands fail, and so
    // does the test.
    let schema = crate::support::fresh_schema();
    let _guard = crate::support::SchemaGuard::new(&schema);
    let url = crate::support::test_database_url();
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_file(dir.path());
    let data = dir.path().join("data").to_str().unwrap().to_owned();
    let store = owned(&["--data-dir", &data, "--store", &url, "--pg-schema", &schema]);
    let cli = |args: &[&str]| run_blocking(store.iter().cloned().chain(owned(args)).collect());

    let created =
        cli(&["subscriptions", "create", "poison", "--max-attempts", "1", "--event-types", "complaint_received"]).await;
    assert_exit(&created, 0, "create over postgres");
    let bad = cli(&["subscriptions", "create", "bad", "--event-types", "no_such_type"]).await;
    assert_exit(&bad, 1, "a bad definition over postgres");
    assert!(stderr(&bad).contains("event_types"), "{}", stderr(&bad));
    let far = ["--webhook-url", "http://10.0.0.9/hook", "--webhook-secret-file", secret.to_str().unwrap()];
    let bad = cli(&["subscriptions", "create", "bad"].into_iter().chain(far).collect::<Vec<_>>()).await;
    assert_exit(&bad, 1, "a host not allowed over postgres");
    assert!(stderr(&bad).contains("webhook.url"), "{}", stderr(&bad));

    let (server_dir, server_url, server_schema) = (dir.path().join("server"), url.clone(), schema.clone());
    let server = tokio::task::spawn_blocking(move || {
        let mut command = redress();
        command.arg("--data-dir").arg(&server_dir).args(["--store", &server_url, "--pg-schema", &server_schema]);
        command.args(["serve", "--listen", "127.0.0.1:0"]).env("REDRESS_TOKENS", tokens());
        ServerProcess::spawn(command)
    })
    .await
    .unwrap();
    append_complaint(&server.base, "Q1", 1).await; // received at 0
    park_through_the_server(&server.base, "poison", 0).await;
    // Beside the running server, on the same schema.
    let listed = cli(&["subscriptions", "list"]).await;
    assert_exit(&listed, 0, "list over postgres");
    assert_eq!(subscription_names(&listed), ["poison"]);
    let shown = printed(&cli(&["subscriptions", "show", "poison"]).await);
    assert_eq!((&shown["parked"], &shown["position"]), (&json!(1), &json!(2)), "{shown}");
    let retried = cli(&["subscriptions", "retry-parked", "poison"]).await;
    assert_exit(&retried, 0, "retry-parked over postgres");
    assert_eq!(printed(&retried), json!({"retried": [0]}));
    let fetch = json!({"max": 10, "wait_ms": 0});
    let (_, fetched) =
        call(&server.base, reqwest::Method::POST, "/subscriptions/poison/fetch", PUBLISHER, Some(fetch)).await;
    assert_eq!(positions_of(&fetched), [0], "the server delivers the retried event: {fetched}");
    let deleted = cli(&["subscriptions", "delete", "poison"]).await;
    assert_exit(&deleted, 0, "delete over postgres");
    assert_exit(&cli(&["subscriptions", "show", "poison"]).await, 1, "show after delete");
    let (status, _) = call(&server.base, reqwest::Method::GET, "/subscriptions/poison", PUBLISHER, None).await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "the server sees the deletion");
    assert!(server.terminate().success());
}

// ---------------------------------------------------------------------------------------------------------
// files and pipes

/// Asserts that `dir` and everything in it is owner-only: directories 0700, files 0600.
#[track_caller]
fn assert_owner_only(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::symlink_metadata(dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{} is a private directory", dir.display());
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        if metadata.is_dir() {
            assert_owner_only(&path);
        } else {
            assert_eq!(metadata.permissions().mode() & 0o777, 0o600, "{} is a private file", path.display());
        }
    }
}

#[test]
fn data_directories_and_everything_in_them_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    complaint_with_notes(&data, "perm1", 3);
    assert_exit(&run(&data, &["projections", "status"]), 0, "projections status (creates their checkpoints)");
    let export = dir.path().join("export.jsonl");
    assert_exit(&run(&data, &["export", "--output", export.to_str().unwrap()]), 0, "export");
    assert!(data.join("projections").is_dir(), "the checkpoint store is in the data directory");
    assert_owner_only(&data);
    let mode = std::fs::metadata(&export).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the export is owner-only");

    // A data directory an older version (or a looser umask) left open is closed at the next command.
    for path in [data.clone(), data.join("projections")] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(data.join("db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_exit(&run(&data, &["verify"]), 0, "verify");
    assert_owner_only(&data);
}

/// `redress --data-dir dir args` with standard output a pipe whose reader has already gone.
fn run_into_closed_pipe(dir: &Path, args: &[&str], input: Option<&str>) -> Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut command = redress();
    command.arg("--data-dir").arg(dir).args(args).stdout(writer).stderr(Stdio::piped());
    if input.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command.spawn().unwrap_or_else(|e| panic!("spawn redress {args:?}: {e}"));
    if let Some(input) = input {
        child.stdin.take().expect("stdin is piped").write_all(input.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("redress {args:?}: {e}"))
}

#[test]
fn every_command_writing_to_a_closed_pipe_ends_quietly_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    complaint_with_notes(&data, "pipe1", 5);
    let export = dir.path().join("export.jsonl");
    assert_exit(&run(&data, &["export", "--output", export.to_str().unwrap()]), 0, "export");
    let export = export.to_str().unwrap();
    let again = dir.path().join("again.jsonl");
    let more = json!({"events": [progress("one more")]}).to_string();
    let cases: Vec<(PathBuf, Vec<&str>, Option<&str>)> = vec![
        (data.clone(), vec!["read", "--stream", "complaint-pipe1"], None),
        (data.clone(), vec!["tail", "--from-position", "0"], None),
        (data.clone(), vec!["verify"], None),
        (data.clone(), vec!["verify", "--file", export], None),
        (data.clone(), vec!["replay", "--as-of", "2100-01-01T00:00:00Z", "--projection", "open-complaints"], None),
        (data.clone(), vec!["projections", "status"], None),
        (data.clone(), vec!["suggest", "打印机一直卡纸"], None),
        (data.clone(), vec!["export", "--output", again.to_str().unwrap()], None),
        (data.clone(), vec!["append", "--stream", "complaint-pipe1", "--expected-version", "any"], Some(&more)),
        (dir.path().join("imported"), vec!["import", "--input", export], None),
        (dir.path().join("demo"), vec!["demo", "--complaints", "20"], None),
        (data.clone(), vec!["openapi"], None),
        (data.clone(), vec!["subscriptions", "create", "piped"], None),
        (data.clone(), vec!["subscriptions", "list"], None),
        (data.clone(), vec!["--help"], None),
    ];
    for (dir, args, input) in cases {
        let output = run_into_closed_pipe(&dir, &args, input);
        assert_exit(&output, 0, &format!("redress {args:?} into a closed pipe"));
        assert!(stderr(&output).is_empty(), "redress {args:?}: nothing on stderr: {}", stderr(&output));
    }
    let output = run(&data, &["read", "--stream", "complaint-pipe1"]);
    assert_eq!(json_lines(&stdout(&output)).len(), 7, "the append into a closed pipe was still made");
}

#[test]
fn replay_piped_into_head_ends_quietly_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    // Enough open complaints that the answer is larger than a pipe's buffer (64 KiB), so `head` exits
    // while redress is still writing.
    assert_exit(&run(dir.path(), &["demo", "--complaints", "2000"]), 0, "demo");
    let script = r#"set -o pipefail; "$0" --data-dir "$1" replay --as-of 2100-01-01T00:00:00Z --projection open-complaints --param limit=1000 | head -n 2"#;
    let output = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_redress"))
        .arg(dir.path())
        .env("REDRESS_LOG", "warn")
        .output()
        .expect("run bash");
    assert_exit(&output, 0, "replay | head -n 2 (pipefail: redress's own status)");
    assert_eq!(stdout(&output).lines().count(), 2, "head printed its lines: {}", stdout(&output));
    assert!(stderr(&output).is_empty(), "no panic, no backtrace: {}", stderr(&output));
    let full = run(
        dir.path(),
        &["replay", "--as-of", "2100-01-01T00:00:00Z", "--projection", "open-complaints", "--param", "limit=1000"],
    );
    assert!(full.stdout.len() > 64 * 1024, "the answer overflows the pipe: {} bytes", full.stdout.len());
}

// ---------------------------------------------------------------------------------------------------------
// usage and help

#[test]
fn clock_skew_max_sets_how_far_ahead_occurred_at_may_be_from_the_flag_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let half_an_hour_ahead = redress_schemas::Timestamp::now().plus_seconds(1800).to_rfc3339();
    let ahead = |id: &str| {
        let mut event = received(id);
        event["occurred_at"] = json!(half_an_hour_ahead);
        json!({"events": [event]}).to_string()
    };
    let append = |stream: &'static str| vec!["append", "--stream", stream, "--expected-version", "no_stream"];
    let output = run_with_stdin(&data, &append("complaint-k1"), Some(&ahead("k1")));
    assert_exit(&output, 1, "half an hour ahead with the default 5 minutes");
    assert!(stderr(&output).contains("in the future"), "{}", stderr(&output));
    let mut args = vec!["--clock-skew-max", "1h"];
    args.extend(append("complaint-k1"));
    assert_exit(&run_with_stdin(&data, &args, Some(&ahead("k1"))), 0, "--clock-skew-max 1h");
    let mut command = redress();
    command.env("REDRESS_CLOCK_SKEW_MAX", "45m").arg("--data-dir").arg(&data).args(append("complaint-k2"));
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(ahead("k2").as_bytes()).unwrap();
    assert_exit(&child.wait_with_output().unwrap(), 0, "REDRESS_CLOCK_SKEW_MAX=45m");
    for bad in ["5", "five minutes", "-1s", "25h", "3d"] {
        let output = run(&data, &["--clock-skew-max", bad, "read", "--stream", "complaint-k1"]);
        assert_exit(&output, 2, &format!("--clock-skew-max {bad}"));
    }
}

#[test]
fn usage_errors_exit_2_with_the_usage_and_touch_no_store() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["bogus"][..],
        &[],
        &["append"],
        &["read"],
        &["read", "--backward"],
        &["export"],
        &["import"],
        &["tail", "--from-position", "minus-one"],
        &["demo", "--complaints", "many"],
        &["verify", "--colour"],
        &["serve", "--listen"],
        &["replay", "--projection", "open-complaints"],
        &["projections"],
        &["projections", "rebuild"],
        &["suggest"],
        &["subscriptions"],
        &["subscriptions", "show"],
        &["subscriptions", "create", "orders", "--webhook-url", "http://127.0.0.1:9/hook"],
        &["subscriptions", "retry-parked", "orders", "--limit", "0"],
    ] {
        let output = run(dir.path(), args);
        assert_exit(&output, 2, &format!("redress {args:?}"));
        let message = stderr(&output);
        assert!(
            message.contains("Usage: redress") || message.contains("try '--help'"),
            "redress {args:?} shows the usage or points to --help: {message}"
        );
        assert!(stdout(&output).is_empty(), "redress {args:?} prints nothing on stdout");
    }
    assert!(!dir.path().join("db").exists(), "no store was opened");
}

#[test]
fn help_of_each_command_says_what_it_does() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["--help"]);
    assert_exit(&output, 0, "--help");
    let commands = [
        ("serve", "Run the HTTP API"),
        ("append", "Append events"),
        ("read", "Print a stream's events as JSON Lines"),
        ("tail", "follow live"),
        ("verify", "Check the hash chain"),
        ("export", "Write the whole log as JSON Lines"),
        ("import", "Load an export"),
        ("demo", "sample history"),
        ("replay", "as it stood at an instant"),
        ("projections", "Projection status"),
        ("suggest", "Rank the standard answers"),
        ("openapi", "OpenAPI document"),
        ("subscriptions", "Persistent subscriptions"),
    ];
    let top = stdout(&output);
    for (command, does) in commands {
        assert!(top.lines().any(|l| l.trim_start().starts_with(command) && l.contains(does)), "--help lists {command}");
        let output = run(dir.path(), &[command, "--help"]);
        assert_exit(&output, 0, &format!("{command} --help"));
        let help = stdout(&output);
        assert!(help.contains(does), "{command} --help says {does:?}: {help}");
        assert!(help.contains(&format!("Usage: redress {command}")), "{command} --help shows its usage");
        assert!(help.contains("--data-dir"), "{command} --help shows --data-dir");
    }
}

#[test]
fn importing_a_tampered_export_exits_3_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (dir.path().join("source"), dir.path().join("target"));
    assert_exit(&run(&source, &["demo", "--complaints", "120"]), 0, "demo");
    let export = dir.path().join("export.jsonl");
    assert_exit(&run(&source, &["export", "--output", export.to_str().unwrap()]), 0, "export");
    let mut lines: Vec<String> = std::fs::read_to_string(&export).unwrap().lines().map(str::to_owned).collect();
    assert!(lines.len() > 1_500, "more events than one import chunk");
    let mut event: serde_json::Value = serde_json::from_str(&lines[1_400]).unwrap();
    event["metadata"]["actor"] = serde_json::json!("mallory");
    lines[1_400] = event.to_string();
    std::fs::write(&export, lines.join("\n") + "\n").unwrap();
    let output = run(&target, &["import", "--input", export.to_str().unwrap()]);
    assert_exit(&output, 3, "import of a tampered export");
    assert!(stderr(&output).contains("1400"), "names the position: {}", stderr(&output));
    let output = run(&target, &["verify"]);
    assert_exit(&output, 0, "verify the target");
    assert!(stdout(&output).contains("empty"), "nothing was imported: {}", stdout(&output));
}
