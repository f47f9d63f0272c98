//! Audit evidence (issue 13, first half): who wrote each event (`recorded_by`), through the real HTTP
//! server, the real command line and real sled files, and a store written by the build before it.

use crate::cli::{assert_exit, json_lines, run, run_with_stdin, stderr, stdout};
use crate::http::{body, received_json, start_with_tokens};
use crate::support::*;
use redress_adapters::http::{ServeLimits, Tokens};
use redress_engine::{verify_export, verify_store, EventStore, ExpectedVersion, SledStore, Verification};
use redress_schemas::{Hash, Position, RecordedBy};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The fixture written by the build before `recorded_by` (tests/fixtures/v1_0/README.md).
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1_0").join(name)
}

/// Its head: position 3 and this hash, as that build's `verify` printed them.
const FIXTURE_HEAD_HASH: &str = "498a3b7fbef3109fb5d29402acb573a2ae2ec2b2e8c973ba4611c4fa8f5a0fa6";

/// A copy of the old store in a temp dir (opening a sled store writes to it; the fixture stays as made).
pub fn old_store_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture("store")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

fn fixture_head() -> (Position, Hash) {
    (Position(3), Hash::from_hex(FIXTURE_HEAD_HASH).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_written_before_recorded_by_opens_verifies_and_takes_new_events_in_the_new_layout() {
    let dir = old_store_copy();
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(
        verify_store(&store, |_| {}).await.unwrap(),
        Verification::Intact { events: 4, head: Some(fixture_head()) },
        "the old hashes are reproduced exactly"
    );
    let old = read_everything(&store).await;
    assert!(old.iter().all(|e| e.recorded_by.is_none()), "old events read with recorded_by absent");
    // Exported again, the old events are the lines the old build exported, field for field.
    let written = store.read_written(Position(0), 100).await.unwrap().events;
    let exported: Vec<Value> = written.iter().map(|e| e.to_json()).collect();
    let old_lines = json_lines(&std::fs::read_to_string(fixture("export.jsonl")).unwrap());
    assert_eq!(exported, old_lines);

    let s = complaint("F-1");
    let by = RecordedBy::credential("callcenter").unwrap();
    store
        .append(&s, ExpectedVersion::Exact(2), vec![progress(&s, "after the upgrade").recorded_by(by.clone())])
        .await
        .unwrap();
    store.close().await.unwrap();
    drop(store);
    let store = SledStore::open(dir.path()).unwrap();
    let all = read_everything(&store).await;
    assert_eq!((all.len(), all[4].recorded_by.as_ref()), (5, Some(&by)));
    match verify_store(&store, |_| {}).await.unwrap() {
        Verification::Intact { events: 5, head: Some((Position(4), _)) } => {}
        other => panic!("the mixed log does not verify: {other:?}"),
    }
    let again = store.read_written(Position(0), 100).await.unwrap().events;
    assert_eq!(again[..4], written[..], "the old records are untouched");
    store.close().await.unwrap();
}

#[test]
fn an_export_written_before_recorded_by_verifies_and_imports_with_the_same_head() {
    let file = std::fs::File::open(fixture("export.jsonl")).unwrap();
    let verified = verify_export(std::io::BufReader::new(file), |_| {}).unwrap();
    assert_eq!(verified, Verification::Intact { events: 4, head: Some(fixture_head()) });
    // Through the command line of this build: verify the old export, import it, verify the store.
    let dir = tempfile::tempdir().unwrap();
    let export = fixture("export.jsonl");
    let output = run(dir.path(), &["verify", "--file", export.to_str().unwrap()]);
    assert_exit(&output, 0, "verify --file of the old export");
    assert!(stdout(&output).contains(FIXTURE_HEAD_HASH), "{}", stdout(&output));
    let output = run(dir.path(), &["import", "--input", export.to_str().unwrap()]);
    assert_exit(&output, 0, "import of the old export");
    let output = run(dir.path(), &["verify"]);
    assert_exit(&output, 0, "verify of the imported store");
    assert!(stdout(&output).contains(FIXTURE_HEAD_HASH), "{}", stdout(&output));
}

const CALLCENTER: &str = "callcenter-token-0123456789";
const LEGACY_PUBLISHER: &str = "legacy-publisher-token-0123456789";
const AUDITOR_LI: &str = "auditor-li-token-0123456789";

fn named_tokens() -> Tokens {
    Tokens::parse(&format!(
        "publisher:callcenter:{CALLCENTER}\npublisher:{LEGACY_PUBLISHER}\nauditor:auditor-li:{AUDITOR_LI}"
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_stamps_the_tokens_name_and_refuses_a_forged_recorded_by_writing_nothing() {
    let server = start_with_tokens(ServeLimits::default(), named_tokens()).await;
    let append = |token: &'static str, stream: &'static str, events: Vec<Value>| {
        let server = &server;
        async move {
            server
                .call(Method::POST, &format!("/streams/{stream}/events"), Some(token), Some(body(json!("any"), events)))
                .await
        }
    };
    let (status, answer) = append(CALLCENTER, "complaint-N1", vec![received_json("N1")]).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (status, answer) = append(LEGACY_PUBLISHER, "complaint-N2", vec![received_json("N2")]).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    // A publisher that claims another name is refused, naming the field, and nothing is written.
    let mut forged = received_json("N3");
    forged["recorded_by"] = json!("head-of-service");
    let (status, answer) = append(CALLCENTER, "complaint-N3", vec![forged]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!((answer["error"].as_str(), answer["field"].as_str()), (Some("invalid_event"), Some("recorded_by")));
    assert!(answer["message"].as_str().unwrap().contains("cannot set it"), "{answer}");
    assert_eq!(server.head().await, Some(1), "the refused append wrote nothing");

    // Reads return who wrote each event: the token's name, or the role for a `role:token` entry.
    let (status, page) = server.call(Method::GET, "/all", Some(AUDITOR_LI), None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> =
        page["events"].as_array().unwrap().iter().map(|e| e["recorded_by"].as_str().unwrap()).collect();
    assert_eq!(names, ["callcenter", "publisher"]);
    let (_, stream) = server.call(Method::GET, "/streams/complaint-N1", Some(AUDITOR_LI), None).await;
    assert_eq!(stream["events"][0]["recorded_by"], json!("callcenter"));
    assert!(verify_store(&*server.store, |_| {}).await.unwrap().is_intact());
}

#[test]
fn a_bad_token_entry_stops_the_server_before_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    for (tokens, says) in [
        (format!("publisher:call center:{CALLCENTER}"), "token entry 0: bad name"),
        (format!("publisher::{CALLCENTER}"), "token entry 0: bad name"),
        (format!("auditor:auditor-li:{AUDITOR_LI},root:x:{CALLCENTER}"), "token entry 1: expected <role>:<token>"),
    ] {
        let output = crate::cli::redress()
            .arg("--data-dir")
            .arg(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("REDRESS_TOKENS", &tokens)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{tokens}: the server started");
        assert!(stderr(&output).contains(says), "{tokens}: {}", stderr(&output));
    }
}

#[test]
fn the_command_line_stamps_local_and_the_os_user() {
    let dir = tempfile::tempdir().unwrap();
    let events = json!({"events": [{"event_type": "complaint_received", "data": {
        "complaint_id": "L1", "customer_id": "K-1", "channel": "web", "category": "delivery",
        "severity": "low", "description": "late"}}]});
    let output = run_with_stdin(dir.path(), &["append", "--stream", "complaint-L1"], Some(&events.to_string()));
    assert_exit(&output, 0, "append");
    let output = run(dir.path(), &["read", "--stream", "complaint-L1"]);
    assert_exit(&output, 0, "read");
    let read = json_lines(&stdout(&output));
    let by = read[0]["recorded_by"].as_str().unwrap();
    // The test runs as some OS user; whoever it is, the CLI names it, from the process's user id.
    let uid = std::process::Command::new("id").arg("-un").output().unwrap();
    let user = String::from_utf8_lossy(&uid.stdout).trim().to_owned();
    assert_eq!(by, RecordedBy::local(&user).as_str());
    // A forged name in the file is refused as over HTTP.
    let mut forged = events.clone();
    forged["events"][0]["recorded_by"] = json!("head-of-service");
    forged["events"][0]["data"]["complaint_id"] = json!("L2");
    let output = run_with_stdin(dir.path(), &["append", "--stream", "complaint-L2"], Some(&forged.to_string()));
    assert_ne!(output.status.code(), Some(0));
    assert!(stderr(&output).contains("recorded_by"), "{}", stderr(&output));
}

// ---- signed checkpoints ----------------------------------------------------------------------------

/// Checks a checkpoint's signature from its JSON with the Ed25519 library and the byte layout that
/// ARCHITECTURE.md documents — nothing of Redress's own code — as an auditor's tool would.
fn signature_checks_by_the_documented_layout(checkpoint: &Value) -> bool {
    use ed25519_dalek::{Signature, VerifyingKey};
    let bytes = |field: &str| -> Vec<u8> {
        let text = checkpoint[field].as_str().unwrap();
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    };
    let instant = time::OffsetDateTime::parse(
        checkpoint["recorded_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let mut message = b"RDXCKPT1".to_vec();
    message.extend_from_slice(&checkpoint["position"].as_u64().unwrap().to_be_bytes());
    message.extend_from_slice(&bytes("hash"));
    message.extend_from_slice(&(instant.unix_timestamp_nanos() as i64).to_be_bytes());
    assert_eq!(message.len(), 56);
    let key = VerifyingKey::from_bytes(&bytes("public_key").try_into().unwrap()).unwrap();
    let signature = Signature::from_bytes(&bytes("signature").try_into().unwrap());
    key.verify_strict(&message, &signature).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_audit_checkpoint_signs_the_head_for_auditors_only_and_a_signature_checks_by_the_documented_bytes() {
    let server = start_with_tokens(ServeLimits::default(), named_tokens()).await;
    let checkpoint = || server.call(Method::GET, "/audit/checkpoint", Some(AUDITOR_LI), None);
    let (status, answer) = checkpoint().await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an empty log has no checkpoint: {answer}");
    for id in ["K1", "K2"] {
        let stream = format!("/streams/complaint-{id}/events");
        let (status, _) = server
            .call(Method::POST, &stream, Some(CALLCENTER), Some(body(json!("any"), vec![received_json(id)])))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, first) = checkpoint().await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let head = server.store.head().await.unwrap().unwrap();
    assert_eq!((first["position"].as_u64(), first["hash"].as_str()), (Some(1), Some(head.hash.to_hex().as_str())));
    let key = redress_engine::CheckpointSigner::from_seed(crate::http::SIGNING_SEED).public_key();
    assert_eq!(first["public_key"], json!(key.to_hex()));
    assert!(signature_checks_by_the_documented_layout(&first));
    let mut altered = first.clone();
    altered["position"] = json!(0);
    assert!(!signature_checks_by_the_documented_layout(&altered), "the layout covers the position");
    // Asked again with no new event: the same checkpoint, not a new signature.
    assert_eq!(checkpoint().await.1, first);
    assert_eq!(server.store.latest_checkpoint().await.unwrap().map(|c| c.to_json()), Some(first));
    // Publishers may not audit; no token, no answer.
    let (status, _) = server.call(Method::GET, "/audit/checkpoint", Some(CALLCENTER), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server.call(Method::GET, "/audit/checkpoint", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_task_signs_the_head_while_events_arrive_and_stops_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn EventStore> = std::sync::Arc::new(SledStore::open(dir.path()).unwrap());
    let signer = std::sync::Arc::new(redress_engine::CheckpointSigner::from_seed([1; 32]));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(redress_engine::run_checkpoints(
        std::sync::Arc::clone(&store),
        signer,
        std::time::Duration::from_millis(100),
        stopped,
    ));
    for round in 0..2u64 {
        let s = complaint(&format!("P{round}"));
        store.append(&s, ExpectedVersion::NoStream, vec![received(&s), progress(&s, "x")]).await.unwrap();
        let head = store.head().await.unwrap().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let latest = store.latest_checkpoint().await.unwrap();
            if latest.as_ref().is_some_and(|c| c.position == head.position) {
                let latest = latest.unwrap();
                assert_eq!(latest.hash, head.hash);
                latest.check_signature(None).unwrap();
                break;
            }
            assert!(std::time::Instant::now() < deadline, "round {round}: no checkpoint of the head within 10 s");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    stop.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), task).await.expect("the task ends").unwrap();
}

/// A CLI store with `notes` progress notes on one complaint, its export, a checkpoint, and the key.
struct SignedExport {
    dir: tempfile::TempDir,
    export: PathBuf,
    checkpoint: PathBuf,
    public_key: String,
}

fn signed_export(id: &str, notes: usize) -> SignedExport {
    let dir = tempfile::tempdir().unwrap();
    let stream = format!("complaint-{id}");
    let mut events = vec![json!({"event_type": "complaint_received", "data": {"complaint_id": id,
        "customer_id": "K-1", "channel": "web", "category": "delivery", "severity": "low", "description": "late"}})];
    events.extend((0..notes).map(|i| json!({"event_type": "progress_updated", "data": {"note": format!("{id} note {i}"), "customer_informed": true}})));
    let output =
        run_with_stdin(dir.path(), &["append", "--stream", &stream], Some(&json!({"events": events}).to_string()));
    assert_exit(&output, 0, "append");
    let output = run(dir.path(), &["checkpoint"]);
    assert_exit(&output, 0, "checkpoint");
    let checkpoint = dir.path().join("cp.json");
    std::fs::write(&checkpoint, stdout(&output)).unwrap();
    let export = dir.path().join("export.jsonl");
    assert_exit(&run(dir.path(), &["export", "--output", export.to_str().unwrap()]), 0, "export");
    let key = redress_engine::CheckpointSigner::load(&dir.path().join("checkpoint.key")).unwrap().public_key();
    SignedExport { dir, export, checkpoint, public_key: key.to_hex() }
}

impl SignedExport {
    fn verify(&self, export: &Path, extra: &[&str]) -> std::process::Output {
        verify_against(self.dir.path(), export, &self.checkpoint, extra)
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.export).unwrap().lines().map(str::to_owned).collect()
    }

    fn write(&self, name: &str, lines: &[String]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    }
}

/// `redress verify --file export --checkpoint checkpoint <extra>` in `dir`.
fn verify_against(dir: &Path, export: &Path, checkpoint: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["verify", "--file", export.to_str().unwrap(), "--checkpoint", checkpoint.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(dir, &args)
}

/// The lines with every hash recomputed, as someone who edited an event and covered it up would.
fn rehashed(lines: &[String]) -> Vec<String> {
    let mut previous = Hash::GENESIS;
    lines
        .iter()
        .map(|line| {
            let mut event = redress_schemas::WrittenEvent::from_json(serde_json::from_str(line).unwrap()).unwrap();
            let mut content = Vec::new();
            event.canonical_content(&mut content);
            event.header.hash = redress_engine::chain_hash(&previous, &content);
            previous = event.header.hash;
            event.to_json().to_string()
        })
        .collect()
}

#[test]
fn verify_with_a_checkpoint_passes_the_signed_export_and_exits_3_on_truncation_rehashing_a_fork_and_a_wrong_key() {
    let signed = signed_export("V1", 4);
    let key = signed.public_key.clone();
    let output = signed.verify(&signed.export, &["--public-key", &key]);
    assert_exit(&output, 0, "the signed export");
    assert!(stdout(&output).starts_with("ok: 5 events; the checkpoint at position 4"), "{}", stdout(&output));

    // Truncated: the last two lines dropped. The chain alone still verifies; the checkpoint does not.
    let lines = signed.lines();
    let short = signed.write("short.jsonl", &lines[..3]);
    assert_exit(&run(signed.dir.path(), &["verify", "--file", short.to_str().unwrap()]), 0, "the chain alone");
    let output = signed.verify(&short, &["--public-key", &key]);
    assert_exit(&output, 3, "truncated");
    assert!(stderr(&output).contains("truncated"), "{}", stderr(&output));

    // Re-hashed: one note edited and every hash recomputed. The chain alone verifies; the checkpoint does not.
    // (The note itself is sealed ciphertext in the export: edit a field that is stored in clear.)
    let mut edited = lines.clone();
    edited[2] = edited[2].replace(r#""customer_informed":true"#, r#""customer_informed":false"#);
    assert_ne!(edited[2], lines[2], "the edit changed the event");
    let rehashed = signed.write("rehashed.jsonl", &rehashed(&edited));
    assert_exit(&run(signed.dir.path(), &["verify", "--file", rehashed.to_str().unwrap()]), 0, "the chain alone");
    let output = signed.verify(&rehashed, &["--public-key", &key]);
    assert_exit(&output, 3, "re-hashed");
    assert!(stderr(&output).contains("re-hashed") && stderr(&output).contains("position 4"), "{}", stderr(&output));

    // A fork: another store's history of the same length.
    let other = signed_export("V2", 4);
    let output = signed.verify(&other.export, &["--public-key", &key]);
    assert_exit(&output, 3, "a forked history");

    // The other store's checkpoint is valid, but not signed by this server's key.
    let output = verify_against(signed.dir.path(), &other.export, &other.checkpoint, &["--public-key", &key]);
    assert_exit(&output, 3, "the wrong key");
    assert!(stderr(&output).contains("not by the expected key"), "{}", stderr(&output));

    // A longer export (events after the checkpoint) holds the signed history: ok, with a note.
    let s = "complaint-V1";
    let more =
        json!({"events": [{"event_type": "progress_updated", "data": {"note": "later", "customer_informed": false}}]});
    assert_exit(&run_with_stdin(signed.dir.path(), &["append", "--stream", s], Some(&more.to_string())), 0, "append");
    let longer = signed.dir.path().join("longer.jsonl");
    assert_exit(&run(signed.dir.path(), &["export", "--output", longer.to_str().unwrap()]), 0, "export");
    let output = signed.verify(&longer, &[]);
    assert_exit(&output, 0, "a longer export");
    assert!(stdout(&output).contains("1 events after position 4") && stdout(&output).contains("no --public-key"));
}

#[test]
fn a_bad_checkpoint_file_or_key_is_refused_clearly() {
    let signed = signed_export("B1", 1);
    let checkpoint: Value = serde_json::from_str(&std::fs::read_to_string(&signed.checkpoint).unwrap()).unwrap();
    let write = |name: &str, text: &str| {
        let path = signed.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let run_with = |path: &Path| verify_against(signed.dir.path(), &signed.export, path, &[]);
    // Not a checkpoint: bad input, exit 1, naming what is wrong.
    for (name, text, says) in [
        ("garbage.json", "not json".to_owned(), "checkpoint"),
        ("missing.json", json!({"position": 1}).to_string(), "hash"),
        (
            "short-signature.json",
            {
                let mut c = checkpoint.clone();
                c["signature"] = json!("abcd");
                c.to_string()
            },
            "signature",
        ),
        ("huge.json", "x".repeat(10_000), "larger than"),
    ] {
        let output = run_with(&write(name, &text));
        assert_exit(&output, 1, name);
        assert!(stderr(&output).contains(says), "{name}: {}", stderr(&output));
    }
    // A checkpoint altered after signing: the signature fails, exit 3.
    let mut moved = checkpoint.clone();
    moved["position"] = json!(0);
    let output = run_with(&write("moved.json", &moved.to_string()));
    assert_exit(&output, 3, "an altered checkpoint");
    assert!(stderr(&output).contains("signature does not verify"), "{}", stderr(&output));
    // A --public-key that is no key is a usage error.
    let output = signed.verify(&signed.export, &["--public-key", "zz"]);
    assert_exit(&output, 2, "a bad --public-key");
    // --checkpoint needs --file.
    assert_exit(
        &run(signed.dir.path(), &["verify", "--checkpoint", signed.checkpoint.to_str().unwrap()]),
        2,
        "no --file",
    );
}

#[test]
fn a_server_with_another_key_than_the_stores_checkpoints_refuses_to_start() {
    let signed = signed_export("S1", 1);
    let other_key = signed.dir.path().join("other.key");
    std::fs::write(&other_key, format!("{}\n", "07".repeat(32))).unwrap();
    let output = crate::cli::redress()
        .arg("--data-dir")
        .arg(signed.dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--signing-key", other_key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(stderr(&output).contains("servers of one store share one key"), "{}", stderr(&output));
    // `redress checkpoint` with that key is refused the same way, and writes no checkpoint.
    let output = run(signed.dir.path(), &["checkpoint", "--signing-key", other_key.to_str().unwrap()]);
    assert_exit(&output, 1, "checkpoint with another key");
    let missing = signed.dir.path().join("missing.key");
    let output = run(signed.dir.path(), &["checkpoint", "--signing-key", missing.to_str().unwrap()]);
    assert_exit(&output, 1, "a missing key file");
    assert!(stderr(&output).contains("missing.key"), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_two_servers_share_one_checkpoint_sequence_and_key() {
    let schema = fresh_schema();
    let _guard = SchemaGuard::new(&schema);
    let (a, b) = (connect_postgres(&schema).await, connect_postgres(&schema).await);
    let signer = redress_engine::CheckpointSigner::from_seed([3; 32]);
    let s = complaint("PG1");
    a.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
    let at_a = redress_engine::checkpoint_now(&a, &signer, redress_schemas::Timestamp::now()).await.unwrap().unwrap();
    // B sees A's checkpoint, and asking B to sign the same head gives that one, not a second.
    assert_eq!(b.latest_checkpoint().await.unwrap().as_ref(), Some(&at_a));
    let at_b = redress_engine::checkpoint_now(&b, &signer, redress_schemas::Timestamp::now()).await.unwrap().unwrap();
    assert_eq!(at_b, at_a);
    b.append(&s, ExpectedVersion::Exact(0), vec![progress(&s, "via b")]).await.unwrap();
    let newer = redress_engine::checkpoint_now(&b, &signer, redress_schemas::Timestamp::now()).await.unwrap().unwrap();
    assert_eq!(newer.position, Position(1));
    // An older head saved late (a slow server) does not go back in the sequence.
    assert_eq!(a.save_checkpoint(&at_a).await.unwrap(), newer);
    assert_eq!(a.latest_checkpoint().await.unwrap(), Some(newer));
    // A server with another key is refused.
    let other = redress_engine::CheckpointSigner::from_seed([4; 32]);
    assert!(matches!(
        redress_engine::check_signer(&a, &other).await,
        Err(redress_engine::CheckpointError::KeyMismatch { .. })
    ));
    assert!(matches!(
        redress_engine::checkpoint_now(&a, &other, redress_schemas::Timestamp::now()).await,
        Err(redress_engine::CheckpointError::KeyMismatch { .. })
    ));
    a.close().await.unwrap();
    b.close().await.unwrap();
}
