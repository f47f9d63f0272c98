//! Two `redress serve` processes on two ports sharing one PostgreSQL schema, with clients racing on
//! the same streams through both.

use crate::support::*;
use futures_util::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const TOKEN: &str = "admin-token-multi-server-01";

struct ServerProcess {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(schema: &str) -> ServerProcess {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_redress"))
        .args(["--data-dir", dir.path().to_str().unwrap(), "--store", &test_database_url(), "--pg-schema", schema])
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("REDRESS_TOKENS", format!("admin:{TOKEN}"))
        .env("REDRESS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redress serve");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().expect("the server prints its address").unwrap();
        if let Some(address) = line.strip_prefix("Redress is listening on ") {
            break address.trim().to_owned();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    ServerProcess { child, base, _dir: dir }
}

async fn post(client: &Client, base: &str, stream: &str, body: Value) -> (StatusCode, Value) {
    let response = client
        .post(format!("{base}/streams/{stream}/events"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(client: &Client, url: String) -> Value {
    client.get(url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap()
}

async fn read_sse(response: reqwest::Response, n: usize) -> Vec<u64> {
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut ids = Vec::new();
    while ids.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("events arrive within 30 s")
            .expect("the stream stays open")
            .unwrap();
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if let Some(id) = frame.lines().find_map(|l| l.strip_prefix("id:")) {
                ids.push(id.trim().parse().unwrap());
            }
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_race_without_lost_updates_and_see_each_others_events() {
    let schema = fresh_schema();
    let _guard = SchemaGuard::new(&schema);
    let a = start_server(&schema);
    let b = start_server(&schema);
    let servers = [a.base.clone(), b.base.clone()];
    let client = Client::new();

    const STREAMS: usize = 4;
    for i in 0..STREAMS {
        let id = format!("ms{i}");
        let received = json!({"event_type": "complaint_received", "data": {"complaint_id": id, "customer_id": "K",
            "channel": "web", "category": "repair", "severity": "normal", "description": "d"}});
        let (status, _) = post(
            &client,
            &servers[i % 2],
            &format!("complaint-{id}"),
            json!({"expected_version": "no_stream", "events": [received]}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    // Subscribers on both servers, from the start of the log, before the race.
    let subscribe = |base: &str| client.get(format!("{base}/subscribe?from_position=0")).bearer_auth(TOKEN).send();
    let (sub_a, sub_b) = (subscribe(&servers[0]).await.unwrap(), subscribe(&servers[1]).await.unwrap());

    const TASKS: usize = 8;
    const WINS: usize = 6;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let client = client.clone();
        let base = servers[t % 2].clone();
        tasks.push(tokio::spawn(async move {
            let mut wins = Vec::new();
            let mut conflicts = 0;
            while wins.len() < WINS {
                let stream = format!("complaint-ms{}", (t + wins.len()) % STREAMS);
                let last = get(&client, format!("{base}/streams/{stream}?direction=backward&limit=1")).await;
                let version = last["events"][0]["version"].as_u64().unwrap();
                let event = json!({"event_type": "progress_updated", "data": {"note": format!("t{t}"), "customer_informed": true}});
                let (status, body) = post(&client, &base, &stream, json!({"expected_version": version, "events": [event]})).await;
                match status {
                    StatusCode::CREATED => wins.push((stream, body["first_version"].as_u64().unwrap(), body["first_position"].as_u64().unwrap())),
                    StatusCode::CONFLICT => conflicts += 1,
                    other => panic!("unexpected {other}: {body}"),
                }
            }
            (wins, conflicts)
        }));
    }
    let mut versions = HashSet::new();
    let mut positions = HashSet::new();
    let mut conflicts = 0;
    for task in tasks {
        let (wins, c) = task.await.unwrap();
        conflicts += c;
        for (stream, version, position) in wins {
            assert!(versions.insert((stream, version)), "no version is given to two appends");
            assert!(positions.insert(position), "no position is given to two appends");
        }
    }
    let total = STREAMS + TASKS * WINS;
    eprintln!("{total} events, {conflicts} conflicts answered 409 across the two servers");

    for base in &servers {
        let all = get(&client, format!("{base}/all?limit=1000")).await;
        let events = all["events"].as_array().unwrap();
        assert_eq!(events.len(), total, "{base}: every acknowledged append, no more");
        let mut per_stream: HashMap<&str, u64> = HashMap::new();
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e["position"].as_u64(), Some(i as u64), "{base}: gapless positions");
            let next = per_stream.entry(e["stream"].as_str().unwrap()).or_insert(0);
            assert_eq!(e["version"].as_u64(), Some(*next), "{base}: no lost update, versions gapless");
            *next += 1;
        }
        let verify = get(&client, format!("{base}/audit/verify")).await;
        assert_eq!(verify["ok"], true, "{base}: the chain verifies: {verify}");
        assert_eq!(verify["head_position"].as_u64(), Some(total as u64 - 1));
    }
    let (seen_a, seen_b) = tokio::join!(read_sse(sub_a, total), read_sse(sub_b, total));
    let expected: Vec<u64> = (0..total as u64).collect();
    assert_eq!(seen_a, expected, "server A's subscriber sees every event, including B's, once, in order");
    assert_eq!(seen_b, expected, "server B's subscriber sees every event, including A's, once, in order");
}
