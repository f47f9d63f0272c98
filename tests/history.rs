//! Property tests over random valid histories, on real sled files.
//!
//! For a random sequence of complaint events (kept when the lifecycle rules admit them against an
//! in-memory model), appended in random batches with the store reopened at a random point:
//! - replaying each stream from the store folds to the model's state;
//! - positions are gapless and the chain verifies;
//! - flipping any bits of any byte of any stored record makes `verify` fail at exactly that position.

use crate::support::*;
use proptest::prelude::*;
use redress_engine::lifecycle::{self, StreamState};
use redress_engine::{verify_store, Direction, EventStore, ExpectedVersion, SledStore, Verification};
use redress_schemas::{Position, ProposedEvent, StreamName, Timestamp};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

const COMPLAINTS: usize = 3;
const KINDS: u8 = 17;

/// One generated step: which complaint, which kind of event, and its free parameters.
#[derive(Debug, Clone)]
struct Step {
    complaint: usize,
    kind: u8,
    solution: u8,
    flag: bool,
    grade: u8,
    batch_with_next: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (0..COMPLAINTS, 0..KINDS, 0..3u8, any::<bool>(), 1..=5u8, any::<bool>()).prop_map(
        |(complaint, kind, solution, flag, grade, batch_with_next)| Step {
            complaint,
            kind,
            solution,
            flag,
            grade,
            batch_with_next,
        },
    )
}

fn build(s: &StreamName, step: &Step, at: Timestamp) -> ProposedEvent {
    let id = s.as_str().trim_start_matches("complaint-");
    let sol = format!("s{}", step.solution);
    let (t, data) = match step.kind {
        0 => (
            "complaint_received",
            json!({"complaint_id": id, "customer_id": "K", "channel": "web", "category": "repair", "severity": "low", "description": "坏了"}),
        ),
        1 => ("complaint_acknowledged", json!({"via": "sms", "message": "收到"})),
        2 => ("apology_sent", json!({"via": "email", "message": "sorry"})),
        3 => {
            ("cause_analyzed", json!({"root_cause": "part", "responsible_department": "repair", "founded": step.flag}))
        }
        4 => ("solution_offered", json!({"solution_id": sol, "description": "fix"})),
        5 => ("solution_accepted", json!({"solution_id": sol})),
        6 => ("solution_rejected", json!({"solution_id": sol, "reason": "no"})),
        7 => ("commitment_made", json!({"what": "call back", "due_at": "2026-05-01T00:00:00Z"})),
        8 => ("progress_updated", json!({"note": "n", "customer_informed": step.flag})),
        9 => ("escalated", json!({"to": "supervisor", "reason": "slow"})),
        10 => ("standard_answer_used", json!({"answer_id": "qa-001"})),
        11 => ("solution_delivered", json!({"solution_id": sol, "note": "done"})),
        12 => ("resolution_confirmed", json!({"satisfied": step.flag})),
        13 => ("revisit_done", json!({"via": "phone", "satisfaction": step.grade, "issue_persists": !step.flag})),
        14 => ("apology_visit_made", json!({"visitor": "VP service"})),
        15 => ("complaint_reopened", json!({"reason": "again"})),
        _ => ("complaint_closed", json!({"outcome": "resolved"})),
    };
    event(s, t, data).occurred_at(at)
}

/// The model: each stream's last version and state, from the rules alone.
type Model = BTreeMap<StreamName, (Option<u64>, StreamState)>;

/// Events gathered for one append to one stream.
type Pending = Option<(StreamName, Vec<ProposedEvent>)>;

/// Appends the pending batch (it must be accepted) and folds it into the model.
async fn commit(store: &SledStore, model: &mut Model, pending: &mut Pending) {
    let Some((s, events)) = pending.take() else { return };
    let (version, state) = model.remove(&s).unwrap_or((None, StreamState::Empty));
    let expected = version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
    let out = store.append(&s, expected, events.clone()).await.expect("a valid history is accepted");
    assert_eq!(out.result.first_version, version.map_or(0, |v| v + 1));
    let state = events.iter().fold(state, |acc, e| lifecycle::evolve(acc, &e.data, e.occurred_at.unwrap()));
    model.insert(s, (Some(out.result.last_version), state));
}

/// The state `s` would have after the model and what is pending for it.
fn current_state(model: &Model, pending: &Pending, s: &StreamName) -> StreamState {
    let state = model.get(s).map_or(StreamState::Empty, |(_, state)| state.clone());
    match pending {
        Some((ps, events)) if ps == s => {
            events.iter().fold(state, |acc, e| lifecycle::evolve(acc, &e.data, e.occurred_at.unwrap()))
        }
        _ => state,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn tamper(dir: &Path, position: u64, byte: usize, mask: u8) -> usize {
    // sled's I/O threads may hold the directory lock a moment after the store is dropped.
    let db = (0..200)
        .find_map(|_| sled::open(dir).map_err(|_| std::thread::sleep(std::time::Duration::from_millis(10))).ok())
        .expect("open sled directly");
    let tree = db.open_tree("events").expect("events tree");
    let mut key = vec![b'L'];
    key.extend_from_slice(&position.to_be_bytes());
    let mut record = tree.get(&key).expect("read").expect("record exists").to_vec();
    let at = byte % record.len();
    record[at] ^= mask;
    tree.insert(key, record).expect("write");
    db.flush().expect("flush");
    at
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("REDRESS_PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(48), ..ProptestConfig::default() })]

    #[test]
    fn random_valid_histories_replay_to_the_model_and_any_changed_byte_fails_verify_there(
        steps in prop::collection::vec(step(), 1..150),
        reopen_at in 0usize..150,
        tamper_at in any::<u64>(),
        tamper_byte in any::<usize>(),
        tamper_mask in 1u8..=255,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime();
        rt.block_on(async {
            let mut store = SledStore::open(dir.path()).unwrap();
            let mut model = Model::new();
            let mut clock = Timestamp::parse("2026-03-01T08:00:00Z").unwrap();
            // The answer the histories use (v1.1: a used answer is published).
            let qa = stream("qa-qa-001");
            let published = event(&qa, "standard_answer_published", json!({"answer_id": "qa-001", "category": "repair",
                "title": "t", "answer": "a", "keywords": []})).occurred_at(clock);
            let mut pending: Pending = Some((qa, vec![published]));
            commit(&store, &mut model, &mut pending).await;
            for (i, st) in steps.iter().enumerate() {
                if i == reopen_at {
                    // A restart: the writer's state cache is rebuilt from the log.
                    commit(&store, &mut model, &mut pending).await;
                    drop(store);
                    store = SledStore::open(dir.path()).unwrap();
                }
                let s = complaint(&format!("h{}", st.complaint));
                clock = clock.plus_seconds(60);
                let e = build(&s, st, clock);
                let state = current_state(&model, &pending, &s);
                if lifecycle::check(&state, &e.data).and_then(|()| lifecycle::check_tightened(&state, &e.data)).is_err() {
                    continue;
                }
                if pending.as_ref().is_some_and(|(ps, _)| *ps != s) {
                    commit(&store, &mut model, &mut pending).await;
                }
                pending.get_or_insert_with(|| (s.clone(), Vec::new())).1.push(e);
                if !st.batch_with_next {
                    commit(&store, &mut model, &mut pending).await;
                }
            }
            commit(&store, &mut model, &mut pending).await;

            // Replay from the store equals the model, stream by stream.
            for (s, (version, state)) in &model {
                let events = store.read_stream(s, 0, Direction::Forward, 10_000).await.unwrap().events;
                assert_eq!(events.last().map(|e| e.version), *version);
                let replayed = lifecycle::fold(events.iter().map(|e| (&e.data, e.occurred_at)));
                assert_eq!(&replayed, state, "replaying {s} gives the model's state");
            }
            let all = read_everything(&store).await;
            for (i, e) in all.iter().enumerate() {
                assert_eq!(e.position, Position(i as u64), "gapless positions");
            }
            assert!(verify_store(&store, |_| {}).await.unwrap().is_intact());
            if all.is_empty() {
                return;
            }
            drop(store);

            let position = tamper_at % all.len() as u64;
            let at = tamper(dir.path(), position, tamper_byte, tamper_mask);
            let store = SledStore::open(dir.path()).unwrap();
            match verify_store(&store, |_| {}).await.unwrap() {
                Verification::Broken { position: bad, .. } => assert_eq!(
                    bad, Position(position),
                    "flipping byte {at} of the record at {position} must fail verification there"
                ),
                Verification::Intact { .. } => panic!("flipping byte {at} (mask {tamper_mask:#x}) at position {position} went unnoticed"),
            }
        });
    }
}
