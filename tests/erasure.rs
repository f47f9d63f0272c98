//! Erasure of a customer's personal data by crypto-shredding (EVENTS.md "Personal data (v1.1)", API.md
//! "Audit evidence"): through the real `redress serve` on an ephemeral port and the real binary over
//! real sled files.

use crate::cli::{redress, ServerProcess};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "erase-admin-token-0123456789";
const PUBLISHER: &str = "erase-publisher-token-0123456789";

fn run(dir: &Path, args: &[&str]) -> Output {
    let mut command = redress();
    command.arg("--data-dir").arg(dir).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    command.output().unwrap_or_else(|e| panic!("redress {args:?}: {e}"))
}

#[track_caller]
fn ok(output: Output, what: &str) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{what}: {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}"))).collect()
}

/// Every file under `dir` (recursively) that holds `needle`, with the byte offset of the first hit.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            } else {
                files += 1;
                let bytes = std::fs::read(&path).unwrap();
                if let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) {
                    found.push((path.display().to_string(), at));
                }
            }
        }
    }
    assert!(files > 3, "the scan read the store's files ({files} files under {})", dir.display());
    found
}

fn complaint(complaint_id: &str, customer_id: &str, description: &str, note: &str) -> Value {
    json!({"expected_version": "no_stream", "events": [
        {"event_id": uuid::Uuid::new_v4().to_string(), "event_type": "complaint_received", "data": {
            "complaint_id": complaint_id, "customer_id": customer_id, "channel": "hotline", "category": "delivery",
            "severity": "high", "description": description}},
        {"event_id": uuid::Uuid::new_v4().to_string(), "event_type": "progress_updated",
            "data": {"note": note, "customer_informed": true}}]})
}

async fn post(client: &reqwest::Client, url: &str, token: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut request = client.post(url).header("content-type", "application/json").body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(client: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let response = client.get(url).bearer_auth(ADMIN).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_customer_reads_as_erased_verifies_and_leaves_no_byte_of_its_text_in_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let marker = format!("MARKER-{}", uuid::Uuid::new_v4().simple());
    let kept = format!("KEPT-{}", uuid::Uuid::new_v4().simple());
    let tokens = format!("admin:{ADMIN},publisher:{PUBLISHER}");
    let path = data.clone();
    let server = tokio::task::spawn_blocking(move || ServerProcess::start(&path, Some(&tokens))).await.unwrap();
    let (client, base) = (reqwest::Client::new(), server.base.clone());

    let body = complaint("E-1", "K-ERASE", &format!("张三 13800138000 {marker} 屏幕碎了"), &format!("called {marker}"));
    let (status, _) =
        post(&client, &format!("{base}/streams/complaint-E-1/events"), Some(PUBLISHER), &body.to_string()).await;
    assert_eq!(status, StatusCode::CREATED);
    let body = complaint("E-2", "K-KEEP", &format!("李四 {kept} 洗衣机漏水"), "called back");
    let (status, written) =
        post(&client, &format!("{base}/streams/complaint-E-2/events"), Some(PUBLISHER), &body.to_string()).await;
    assert_eq!(status, StatusCode::CREATED);
    let last = written["last_position"].as_u64().unwrap();

    // Reads open the sealed texts transparently, and the read models hold them.
    let (_, page) = get(&client, &format!("{base}/streams/complaint-E-1")).await;
    assert!(page["events"][0]["data"]["description"].as_str().unwrap().contains(&marker), "{page}");
    let (status, history) = get(&client, &format!("{base}/customers/K-ERASE/history?min_position={last}")).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert!(history.to_string().contains(&marker), "the history shows the description before erasure: {history}");

    // Refusals, each writing nothing and destroying nothing.
    let erase = format!("{base}/customers/K-ERASE/erase");
    let request = json!({"requested_by": "dpo@example.com", "legal_basis": "GDPR Art. 17"}).to_string();
    assert_eq!(post(&client, &erase, None, &request).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(post(&client, &erase, Some(PUBLISHER), &request).await.0, StatusCode::FORBIDDEN);
    for malformed in [
        "not json",
        r#"{"requested_by": "dpo"}"#,
        r#"{"requested_by": " ", "legal_basis": "GDPR"}"#,
        r#"{"requested_by": "dpo", "legal_basis": "GDPR", "extra": 1}"#,
    ] {
        let (status, answer) = post(&client, &erase, Some(ADMIN), malformed).await;
        assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")), "{malformed}");
    }
    let (status, answer) = post(&client, &format!("{base}/customers/K-NOBODY/erase"), Some(ADMIN), &request).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{answer}");
    let (_, page) = get(&client, &format!("{base}/streams/complaint-E-1")).await;
    assert!(page["events"][0]["data"]["description"].as_str().unwrap().contains(&marker), "refusals destroy nothing");
    assert_eq!(get(&client, &format!("{base}/streams/customer-K-NOBODY")).await.0, StatusCode::NOT_FOUND);

    // The erasure.
    let (status, erased) = post(&client, &erase, Some(ADMIN), &request).await;
    assert_eq!(status, StatusCode::CREATED, "{erased}");
    let pseudonym = erased["pseudonym"].as_str().unwrap().to_owned();
    assert!(pseudonym.starts_with("erased-") && !pseudonym.contains("K-ERASE"), "{pseudonym}");
    let (status, again) = post(&client, &erase, Some(ADMIN), &request).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a second erasure is a clear refusal: {again}");
    assert!(again["rule"].as_str().unwrap().contains("already erased"), "{again}");

    // Reads after erasure: "[erased]" and the pseudonym; the other customer is untouched.
    let (_, page) = get(&client, &format!("{base}/streams/complaint-E-1")).await;
    let events = page["events"].as_array().unwrap();
    assert_eq!(events[0]["data"]["description"], "[erased]");
    assert_eq!(events[0]["data"]["customer_id"], json!(pseudonym));
    assert_eq!(events[1]["data"]["note"], "[erased]");
    let (_, page) = get(&client, &format!("{base}/streams/customer-K-ERASE")).await;
    let record = &page["events"][0];
    assert_eq!(record["event_type"], "customer_data_erased");
    assert_eq!(
        record["data"],
        json!({"customer_id": "K-ERASE", "requested_by": "dpo@example.com", "legal_basis": "GDPR Art. 17"})
    );
    let (_, page) = get(&client, &format!("{base}/streams/complaint-E-2")).await;
    assert!(page["events"][0]["data"]["description"].as_str().unwrap().contains(&kept));
    let (_, all) = get(&client, &format!("{base}/all")).await;
    assert!(!all.to_string().contains(&marker), "no read shows the erased text: {all}");

    // No new personal data for an erased customer: refused, nothing written.
    let note =
        json!({"events": [{"event_type": "progress_updated", "data": {"note": "again", "customer_informed": false}}]});
    let (status, answer) =
        post(&client, &format!("{base}/streams/complaint-E-1/events"), Some(PUBLISHER), &note.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(get(&client, &format!("{base}/streams/complaint-E-1")).await.1["events"].as_array().unwrap().len(), 2);

    let (_, verify) = get(&client, &format!("{base}/audit/verify")).await;
    assert_eq!(verify["ok"], true, "the chain still verifies: {verify}");

    // The projections were rebuilt without the texts: the customer's history is gone under their id.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, history) = get(&client, &format!("{base}/customers/K-ERASE/history")).await;
        let (_, statuses) = get(&client, &format!("{base}/projections")).await;
        let rebuilding = statuses.to_string().contains("rebuilding");
        if status == StatusCode::NOT_FOUND && !rebuilding {
            break;
        }
        assert!(Instant::now() < deadline, "the rebuild did not drop the erased customer: {history} {statuses}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, gaps) = get(&client, &format!("{base}/projections/answer-gaps")).await;
    assert!(!gaps.to_string().to_lowercase().contains(&marker.to_lowercase()), "{gaps}");
    let status = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    assert_eq!(status.code(), Some(0), "the server saves its checkpoints and exits");

    // The whole data directory: the log, the key table, the projections' checkpoints.
    assert!(!files_holding(&data, b"K-KEEP").is_empty(), "the scan sees what is stored in clear (customer ids)");
    assert_eq!(files_holding(&data, marker.as_bytes()), vec![], "no byte of the erased text remains");
    assert_eq!(files_holding(&data, "13800138000".as_bytes()), vec![]);
    ok(run(&data, &["verify"]), "verify after erasure");
    let read = lines(&ok(run(&data, &["read", "--stream", "complaint-E-2"]), "read the kept customer"));
    assert!(read[0]["data"]["description"].as_str().unwrap().contains(&kept), "the kept customer still reads");

    // Exports hold ciphertext; the keys go separately.
    let export = dir.path().join("export.jsonl");
    let keys = dir.path().join("keys.jsonl");
    let export_arg = export.display().to_string();
    let keys_arg = keys.display().to_string();
    ok(run(&data, &["export", "--output", &export_arg, "--keys", &keys_arg]), "export with keys");
    let exported = std::fs::read_to_string(&export).unwrap();
    assert!(!exported.contains(&marker) && !exported.contains(&kept), "an export holds ciphertext only");
    assert!(exported.contains("enc:v2:"));
    ok(redress().args(["verify", "--file", &export_arg]).output().unwrap(), "an auditor verifies without keys");
    let key_lines = lines(&std::fs::read_to_string(&keys).unwrap());
    assert!(key_lines.iter().any(|k| k["customer_id"] == "K-KEEP" && k["key"].is_string()), "{key_lines:?}");
    assert!(key_lines.iter().all(|k| k["customer_id"] != "K-ERASE"), "an erased key is exported as erased");
    assert!(key_lines.iter().any(|k| k["key"].is_null()), "{key_lines:?}");

    // Imported without keys, nothing personal reads; with them, the kept customer does, the erased never.
    let bare = dir.path().join("bare");
    ok(run(&bare, &["import", "--input", &export_arg]), "import without keys");
    let read = lines(&ok(run(&bare, &["read", "--stream", "complaint-E-2"]), "read"));
    assert_eq!(read[0]["data"]["description"], "[erased]");
    ok(run(&bare, &["verify"]), "verify the import without keys");
    let keyed = dir.path().join("keyed");
    ok(run(&keyed, &["import", "--input", &export_arg, "--keys", &keys_arg]), "import with keys");
    let read = lines(&ok(run(&keyed, &["read", "--stream", "complaint-E-2"]), "read"));
    assert!(read[0]["data"]["description"].as_str().unwrap().contains(&kept));
    let read = lines(&ok(run(&keyed, &["read", "--stream", "complaint-E-1"]), "read"));
    assert_eq!(read[0]["data"]["description"], "[erased]");
}

#[test]
fn redress_erase_destroys_the_key_once_and_refuses_an_unknown_or_erased_customer() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let marker = format!("MARKER-{}", uuid::Uuid::new_v4().simple());
    let body = complaint("C-9", "K-9", &format!("王五 {marker}"), "noted");
    let mut append = redress();
    append.arg("--data-dir").arg(data).args(["append", "--stream", "complaint-C-9", "--expected-version", "no_stream"]);
    append.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = append.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), body.to_string().as_bytes()).unwrap();
    ok(child.wait_with_output().unwrap(), "append");
    // Built the projections' checkpoints with the text in them.
    ok(run(data, &["projections", "status"]), "projections status");

    let erase = ["erase", "--customer", "K-9", "--requested-by", "ticket 42", "--legal-basis", "PIPL Art. 47"];
    let printed: Value = serde_json::from_str(ok(run(data, &erase), "erase").trim()).unwrap();
    assert_eq!(printed["customer_id"], "K-9");
    let again = run(data, &erase);
    assert_eq!(again.status.code(), Some(1), "a second erasure fails");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already erased"), "{again:?}");
    let unknown = run(data, &["erase", "--customer", "K-NONE", "--requested-by", "x", "--legal-basis", "y"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no personal data key"), "{unknown:?}");
    let blank = run(data, &["erase", "--customer", "K-9", "--requested-by", " ", "--legal-basis", "y"]);
    assert_eq!(blank.status.code(), Some(1), "a blank requester is refused");

    let read = lines(&ok(run(data, &["read", "--stream", "complaint-C-9"]), "read"));
    assert_eq!(read[0]["data"]["description"], "[erased]");
    ok(run(data, &["verify"]), "verify after erasure");
    assert_eq!(files_holding(data, marker.as_bytes()), vec![], "no byte of the erased text remains");
}

/// Every relation file of `schema` (tables, their TOAST tables and indexes), read by the server after
/// `VACUUM FULL` and `CHECKPOINT` (so what is on disk is what the tables hold): `(relation, bytes)`.
async fn postgres_relation_files(schema: &str) -> Vec<(String, Vec<u8>)> {
    let url = crate::support::test_database_url();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
    let connection = tokio::spawn(connection);
    let tables =
        client.query("SELECT tablename FROM pg_tables WHERE schemaname = $1", &[&schema]).await.expect("list tables");
    for table in &tables {
        let name: String = table.get(0);
        client.batch_execute(&format!("VACUUM (FULL) {schema}.{name}")).await.expect("vacuum full");
    }
    client.batch_execute("CHECKPOINT").await.expect("checkpoint (superuser)");
    let rows = client
        .query(
            "SELECT c.relname, pg_read_binary_file(pg_relation_filepath(c.oid))
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND pg_relation_filepath(c.oid) IS NOT NULL
             UNION ALL
             SELECT t.relname, pg_read_binary_file(pg_relation_filepath(t.oid))
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_class t ON t.oid = c.reltoastrelid
              WHERE n.nspname = $1 AND c.reltoastrelid <> 0",
            &[&schema],
        )
        .await
        .expect("read the relation files (needs the superuser postgres)");
    drop(client);
    let _ = connection.await;
    rows.into_iter().map(|row| (row.get(0), row.get(1))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_an_erased_customer_reads_as_erased_and_no_table_file_holds_its_text() {
    let schema = crate::support::fresh_schema();
    let _guard = crate::support::SchemaGuard::new(&schema);
    // Fails (never skips) when the server is not there.
    drop(crate::support::connect_postgres(&schema).await);
    let url = crate::support::test_database_url();
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("MARKER-{}", uuid::Uuid::new_v4().simple());
    let (url2, schema2, dir2, marker2) = (url.clone(), schema.clone(), dir.path().to_path_buf(), marker.clone());
    let outputs = tokio::task::spawn_blocking(move || {
        let on_pg = |args: &[&str]| {
            let mut command = redress();
            command.arg("--data-dir").arg(&dir2).args(["--store", &url2, "--pg-schema", &schema2]).args(args);
            command.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::piped());
            command
        };
        let body = complaint("P-1", "K-PG", &format!("赵六 {marker2} 冰箱不制冷"), &format!("{marker2} noted"));
        let mut child =
            on_pg(&["append", "--stream", "complaint-P-1", "--expected-version", "no_stream"]).spawn().unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), body.to_string().as_bytes()).unwrap();
        ok(child.wait_with_output().unwrap(), "append on PostgreSQL");
        let sealed = ok(on_pg(&["read", "--stream", "complaint-P-1"]).output().unwrap(), "read before erasure");
        ok(on_pg(&["projections", "status"]).output().unwrap(), "fold state with the text");
        let erase = ["erase", "--customer", "K-PG", "--requested-by", "dpo", "--legal-basis", "GDPR Art. 17"];
        ok(on_pg(&erase).output().unwrap(), "erase on PostgreSQL");
        let again = on_pg(&erase).output().unwrap();
        assert_eq!(again.status.code(), Some(1), "a second erasure is refused");
        ok(on_pg(&["verify"]).output().unwrap(), "verify after erasure");
        let read = ok(on_pg(&["read", "--stream", "complaint-P-1"]).output().unwrap(), "read after erasure");
        (sealed, read)
    })
    .await
    .unwrap();
    assert!(outputs.0.contains(&marker), "reads open the text before erasure");
    let read = lines(&outputs.1);
    assert_eq!(read[0]["data"]["description"], "[erased]");
    assert_eq!(read[1]["data"]["note"], "[erased]");
    assert!(read[0]["data"]["customer_id"].as_str().unwrap().starts_with("erased-"));

    let files = postgres_relation_files(&schema).await;
    let holding = |needle: &str| -> Vec<&str> {
        files
            .iter()
            .filter(|(_, b)| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .map(|(n, _)| n.as_str())
            .collect()
    };
    assert!(files.iter().any(|(name, _)| name.starts_with("pg_toast")), "TOAST relations are read too");
    assert!(!holding("K-PG").is_empty(), "the scan sees what the tables hold (the customer id is in clear)");
    assert_eq!(holding(&marker), Vec::<&str>::new(), "no table, index or TOAST file holds the erased text");
}

/// The store of tests/fixtures/v1_1_sealed: written when texts were sealed `enc:v1`.
fn sealed_v1_fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1_1_sealed").join(name)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// The personal texts of `complaint-S-1` as `redress read` prints them.
fn s1_texts(data: &Path) -> Vec<String> {
    let read = lines(&ok(run(data, &["read", "--stream", "complaint-S-1"]), "read S-1"));
    read.iter()
        .map(|e| {
            let d = &e["data"];
            d["description"].as_str().or(d["message"].as_str()).or(d["note"].as_str()).unwrap_or("").to_owned()
        })
        .collect()
}

#[test]
fn texts_sealed_in_the_v1_format_still_open_and_new_ones_are_sealed_v2_beside_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(&sealed_v1_fixture("data"), &data);
    let head = "be58b05615dbe6af33a972c03f62984590e58605234962a4f7fbcd01328228c0";
    assert!(ok(run(&data, &["verify"]), "verify the old store").contains(head));

    let texts = s1_texts(&data);
    assert!(texts[0].contains("FIXTURE-V1-TEXT") && texts[1].contains("FIXTURE-V1-ACK"), "{texts:?}");
    let s2 = lines(&ok(run(&data, &["read", "--stream", "complaint-S-2"]), "read S-2"));
    assert_eq!(s2[0]["data"]["description"], "[erased]", "the customer erased by the old build stays erased");
    assert!(s2[0]["data"]["customer_id"].as_str().unwrap().starts_with("erased-"));

    // A new event of the same customer: sealed v2, beside the v1 texts, all of them readable.
    let note = json!({"expected_version": 1, "events": [{"event_type": "progress_updated",
        "data": {"note": "FIXTURE-V2-NOTE 已安排换货", "customer_informed": true}}]});
    let mut append = redress();
    append.arg("--data-dir").arg(&data).args(["append", "--stream", "complaint-S-1"]);
    append.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = append.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), note.to_string().as_bytes()).unwrap();
    ok(child.wait_with_output().unwrap(), "append to the old store");
    let texts = s1_texts(&data);
    assert!(texts[0].contains("FIXTURE-V1-TEXT") && texts[2].starts_with("FIXTURE-V2-NOTE"), "{texts:?}");
    let export = dir.path().join("export.jsonl");
    ok(run(&data, &["export", "--output", export.to_str().unwrap()]), "export");
    let stored = lines(&std::fs::read_to_string(&export).unwrap());
    let formats: Vec<&str> = stored
        .iter()
        .filter(|e| e["stream"] == "complaint-S-1")
        .map(|e| {
            let d = &e["data"];
            let text = d["description"].as_str().or(d["message"].as_str()).or(d["note"].as_str()).unwrap();
            &text[..7]
        })
        .collect();
    assert_eq!(formats, ["enc:v1:", "enc:v1:", "enc:v2:"], "old texts stay as written; new ones are v2");
    ok(run(&data, &["verify"]), "verify after the new append");
}

#[test]
fn an_export_of_v1_sealed_texts_imports_with_its_keys_readable_and_without_them_erased() {
    for with_keys in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let export = sealed_v1_fixture("export.jsonl");
        let keys = sealed_v1_fixture("keys.jsonl");
        let mut args = vec!["import", "--input", export.to_str().unwrap()];
        if with_keys {
            args.extend(["--keys", keys.to_str().unwrap()]);
        }
        ok(run(&data, &args), "import the old export");
        ok(run(&data, &["verify"]), "verify the import");
        let texts = s1_texts(&data);
        if with_keys {
            assert!(texts[0].contains("FIXTURE-V1-TEXT") && texts[1].contains("FIXTURE-V1-ACK"), "{texts:?}");
        } else {
            assert_eq!(texts, ["[erased]", "[erased]"], "without the keys nothing opens");
        }
        let s2 = lines(&ok(run(&data, &["read", "--stream", "complaint-S-2"]), "read S-2"));
        assert_eq!(s2[0]["data"]["description"], "[erased]");
    }
}
