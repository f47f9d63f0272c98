//! The library fold: given events, when applied (and checkpointed, reopened, re-judged), then both views
//! answer as a fold that saw the same events in one go.

use super::*;
use crate::answer_gaps::GapTheme;
use crate::state_store::{Checkpoint, FoldStore, FoldStores, MemoryFoldStores};
use crate::suggestions::fixtures::{fold, Log};
use redress_schemas::{StandardAnswerRevised, Timestamp};
use serde_json::json;
use std::sync::Arc;

fn at() -> Timestamp {
    Timestamp::parse("2026-03-02T00:00:00Z").expect("valid")
}

fn answer(fold: &LibraryFold, state: &LibraryState, view: &str, query: &Query) -> Value {
    let store = crate::state_store::MemoryFoldStore::default();
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    rt.block_on(fold.query(state, &store, view, query)).expect("answers")
}

fn gaps(state: &LibraryState) -> Value {
    answer(&LibraryFold::default(), state, "answer-gaps", &Query::at(at()).with("min_count", "2"))
}

fn themes(state: &LibraryState) -> Vec<GapTheme> {
    let mut model = state.gaps();
    model.drain(usize::MAX);
    model.gaps(2, None)
}

/// Every view's answer to a few queries.
fn answers(fold: &LibraryFold, state: &LibraryState) -> Vec<Value> {
    let mut out = Vec::new();
    for text in ["电池鼓包", "发票抬头开错了", "快递没到"] {
        out.push(answer(fold, state, "suggestions", &Query::at(at()).with("text", text)));
    }
    for min_count in ["1", "2", "3"] {
        out.push(answer(fold, state, "answer-gaps", &Query::at(at()).with("min_count", min_count)));
    }
    out
}

/// Answers in two categories, complaints of three, answers used, verdicts given.
fn history() -> Log {
    let mut log = Log::default();
    log.invoice_answer().publish(
        "A-2",
        "delivery",
        "配送延迟 / Late delivery",
        "我们会联系物流核实包裹位置。",
        &["物流"],
    );
    log.receive("C-1", "battery", "笔记本电池鼓包了，后盖都被顶起来了")
        .receive("C-2", "battery", "电池用了两个月就鼓包，充不进电")
        .receive("C-3", "billing", "发票抬头开错了，请重新开具")
        .receive("C-4", "delivery", "快递三天了还没到，物流不更新")
        .receive("C-5", "delivery", "快递一周还没到")
        .receive("C-6", "battery", "电池鼓包把触控板顶坏了");
    log.use_answer("C-3", "A-1").confirm("C-3", true).use_answer("C-4", "A-2").confirm("C-4", false);
    log
}

fn checkpoint(fold: &LibraryFold, state: &mut LibraryState, store: &dyn FoldStore, next: u64) -> Vec<Change> {
    let changes = fold.take_changes(state).expect("encodes");
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    rt.block_on(store.commit(changes.clone(), Checkpoint { version: fold.version(), next_position: next }))
        .expect("commits");
    changes
}

fn reopen(fold: &LibraryFold, store: &dyn FoldStore) -> LibraryState {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    rt.block_on(fold.open(store)).expect("opens")
}

fn store() -> Arc<dyn FoldStore> {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    rt.block_on(MemoryFoldStores::default().current("library")).expect("a store").1
}

fn prefixes(changes: &[Change]) -> String {
    let mut p: Vec<char> = changes.iter().map(|(k, _)| char::from(k[0])).collect();
    p.sort_unstable();
    p.into_iter().collect()
}

#[test]
fn a_checkpointed_and_reopened_fold_answers_as_before_and_writes_only_what_changed() {
    // Given a history, checkpointed.
    let fold_ = LibraryFold::default();
    let log = history();
    let mut state = fold(&log);
    let before = answers(&fold_, &state);
    let store = store();
    let first = checkpoint(&fold_, &mut state, &*store, log.events.len() as u64);
    // Two answers, one chunk of complaints, the model key, two answers' counts, one chunk of terms.
    assert_eq!(prefixes(&first), "aagmnnt");

    // When the fold is reopened from its store, then it answers the same.
    let mut reopened = reopen(&fold_, &*store);
    assert_eq!(answers(&fold_, &reopened), before);
    assert_eq!(reopened.answers().feedback("A-2"), state.answers().feedback("A-2"));

    // When one complaint arrives, then the next checkpoint writes its chunk (and new terms) only.
    let mut more = Log { events: log.events.clone() };
    more.receive("C-7", "battery", "电池又鼓包了");
    fold_.apply(&mut reopened, more.events.last().expect("pushed")).expect("applies");
    let second = checkpoint(&fold_, &mut reopened, &*store, more.events.len() as u64);
    assert_eq!(prefixes(&second), "gt", "{:?}", second.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>());

    // When a verdict moves an answer's counts, then its chunk and that answer's counts are written.
    more.confirm("C-3", false);
    fold_.apply(&mut reopened, more.events.last().expect("pushed")).expect("applies");
    assert_eq!(prefixes(&checkpoint(&fold_, &mut reopened, &*store, more.events.len() as u64)), "gn");

    // And nothing changed, nothing written.
    assert!(checkpoint(&fold_, &mut reopened, &*store, more.events.len() as u64).is_empty());
    assert_eq!(answers(&fold_, &reopen(&fold_, &*store)), answers(&fold_, &fold(&more)));
}

fn battery_complaints(log: &mut Log, count: usize) {
    for n in 0..count {
        log.receive(&format!("B-{n}"), "product_quality", "电池鼓包了，后盖都被顶起来了");
    }
}

#[test]
fn coverage_follows_an_answer_published_revised_and_retired() {
    // Given battery complaints in a category whose only answer is about monitors: a gap.
    let mut log = Log::default();
    log.publish("A-2", "product_quality", "显示器坏点 / Dead pixels", "请拍摄坏点照片，我们为您换新。", &["坏点"]);
    battery_complaints(&mut log, 3);
    assert_eq!(themes(&fold(&log)).len(), 1);

    // When an answer about batteries is published, then they are covered.
    log.battery_answer();
    assert!(themes(&fold(&log)).is_empty());

    // When it is revised to be about printers, then the gap is back.
    let about_printers = StandardAnswerRevised {
        title: Some("打印机卡纸 / Paper jams".into()),
        answer: Some("请清理搓纸轮和进纸通道。".into()),
        keywords: Some(vec!["打印机".into(), "卡纸".into()]),
        category: None,
        translations: None,
    };
    log.revise("A-3", about_printers);
    assert_eq!(themes(&fold(&log)).len(), 1);

    // When it is revised back and moved to another category, then the gap stays (coverage is by category).
    let back_elsewhere = StandardAnswerRevised {
        title: Some("电池鼓包 / Swollen battery".into()),
        answer: Some("电池鼓包请停止使用，我们免费更换电池。".into()),
        keywords: Some(vec!["电池".into(), "鼓包".into()]),
        category: Some("battery".into()),
        translations: None,
    };
    log.revise("A-3", back_elsewhere);
    assert_eq!(themes(&fold(&log)).len(), 1);

    // When it is moved back, then covered; when retired, then the gap is back.
    let home = StandardAnswerRevised {
        title: None,
        answer: None,
        keywords: None,
        category: Some("product_quality".into()),
        translations: None,
    };
    log.revise("A-3", home);
    assert!(themes(&fold(&log)).is_empty());
    log.retire("A-3");
    assert_eq!(themes(&fold(&log))[0].count, 3);
}

#[test]
fn rejudging_is_bounded_reported_and_survives_a_restart() {
    // Given 10 uncovered battery complaints, then an answer covering them, with small bounds.
    let bounded = LibraryFold { rejudge_per_checkpoint: 3, rejudge_per_query: 0, ..LibraryFold::default() };
    let mut log = Log::default();
    battery_complaints(&mut log, 10);
    log.battery_answer();
    let mut state = fold(&log);
    let pending = |state: &LibraryState| {
        answer(&bounded, state, "answer-gaps", &Query::at(at()).with("min_count", "2"))["coverage_pending"].clone()
    };
    // Then the change is queued, not done, and the answer says so (the old judgement stands meanwhile).
    assert_eq!(pending(&state), json!(10));
    assert_eq!(answer(&bounded, &state, "answer-gaps", &Query::at(at()))["count"], 1);

    // When a checkpoint runs, then it re-judges at most its bound, and the progress is stored.
    let store = store();
    checkpoint(&bounded, &mut state, &*store, log.events.len() as u64);
    assert_eq!(pending(&state), json!(7));
    let mut reopened = reopen(&bounded, &*store);
    assert_eq!(pending(&reopened), json!(7));

    // When enough checkpoints have run, then the answer is the one of a fold that judged eagerly.
    for _ in 0..3 {
        checkpoint(&bounded, &mut reopened, &*store, log.events.len() as u64);
    }
    assert_eq!(pending(&reopened), json!(0));
    assert_eq!(answers(&bounded, &reopened), answers(&LibraryFold::default(), &fold(&log)));
    assert_eq!(answer(&bounded, &reopened, "answer-gaps", &Query::at(at()))["count"], 0);
}

#[test]
fn rejudging_late_answers_as_rejudging_at_once() {
    // Given answers changing between complaints, one fold draining after every event, one never until
    // asked: the same themes.
    let mut log = Log::default();
    battery_complaints(&mut log, 4);
    log.battery_answer();
    log.receive("P-1", "product_quality", "打印机老是卡纸").receive("P-2", "product_quality", "打印机卡纸");
    let printers = StandardAnswerRevised {
        title: Some("打印机卡纸 / Paper jams".into()),
        answer: Some("请清理搓纸轮和进纸通道。".into()),
        keywords: Some(vec!["打印机".into(), "卡纸".into()]),
        category: None,
        translations: None,
    };
    log.revise("A-3", printers).receive("B-9", "product_quality", "电池鼓包，充不进电");
    log.publish("A-4", "billing", "发票 / Invoice", "发票问题请联系财务。", &["发票"]);
    let eager = {
        let mut state = LibraryState::default();
        for event in &log.events {
            LibraryFold::default().apply(&mut state, event).expect("applies");
            state.gaps().drain(usize::MAX);
        }
        state
    };
    let late = fold(&log);
    assert!(late.gaps().pending() > 0);
    assert_eq!(themes(&late), themes(&eager));
    assert_eq!(gaps(&late), gaps(&eager));
}

#[test]
fn a_gap_covers_a_complaint_older_than_five_thousand_newer_ones() {
    // Given three battery complaints, then 5,000 others of a category with a fitting answer.
    let mut log = Log::default();
    log.publish("A-2", "delivery", "配送延迟 / Late delivery", "快递没到请联系物流核实包裹位置。", &["快递", "物流"]);
    log.receive("C-1", "battery", "笔记本电池鼓包了").receive("C-2", "battery", "电池用了两个月就鼓包").receive(
        "C-3",
        "battery",
        "电池鼓包很危险",
    );
    for n in 0..5_000 {
        log.receive(&format!("D-{n}"), "delivery", "快递三天了还没到");
    }
    let mut state = fold(&log);
    // Then the oldest complaints still make their theme.
    let found = themes(&state);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].example_complaint_ids, ["C-3", "C-2", "C-1"]);
    assert_eq!(gaps(&state)["complaints_considered"], 5_003);

    // When an answer is used on the oldest, then the theme shrinks: it is still known and counted.
    log.use_answer("C-1", "A-2");
    LibraryFold::default().apply(&mut state, log.events.last().expect("pushed")).expect("applies");
    assert_eq!(themes(&state)[0].count, 2);
}

#[test]
fn an_event_the_fold_cannot_take_is_an_anomaly_and_changes_nothing() {
    let mut log = history();
    let state_before = answers(&LibraryFold::default(), &fold(&log));
    log.receive("C-1", "battery", "又一次"); // received twice (an import may hold it)
    log.use_answer("C-404", "A-1"); // never received
    let mut state = LibraryState::default();
    let results: Vec<bool> = log.events.iter().map(|e| LibraryFold::default().apply(&mut state, e).is_ok()).collect();
    assert_eq!(results.iter().filter(|ok| !**ok).count(), 2);
    assert_eq!(answers(&LibraryFold::default(), &state), state_before);
}

// ---------------------------------------------------------------------------------------------
// Property: live with restarts at random points equals a rebuild from position 0, answer events included.

mod live_equals_rebuild {
    use super::*;
    use crate::folds::{Basis, FoldOptions, Folds};
    use crate::state_store::SledFoldStores;
    use proptest::prelude::*;
    use redress_engine::lifecycle::{self, StreamState};
    use redress_engine::{EventStore, ExpectedVersion, SledStore};
    use redress_schemas::{ProposedEvent, StreamName};
    use std::collections::HashMap;
    use std::time::Duration;

    const TEXTS: [&str; 6] = [
        "笔记本电池鼓包了，后盖都被顶起来了",
        "电池鼓包，充不进电",
        "发票抬头开错了，请重新开具",
        "快递三天了还没到",
        "打印机老是卡纸",
        "screen flickers after the repair",
    ];
    const ANSWERS: [(&str, &str); 4] = [
        ("电池鼓包", "电池鼓包请停止使用，我们免费更换电池。"),
        ("发票开错", "请提供正确的发票抬头和税号。"),
        ("配送延迟", "快递没到请联系物流核实。"),
        ("屏幕维修", "screen repair: we fix the screen for free"),
    ];
    const CATEGORIES: [&str; 3] = ["product_quality", "billing", "delivery"];

    /// The event of step (kind, target, n), on its stream.
    fn event_for(kind: usize, target: usize, n: usize) -> (StreamName, Value) {
        let complaint = format!("c{}", target % 8);
        let answer = format!("q{}", target % 3);
        let on_complaint = |t: &str, data: Value| {
            (StreamName::complaint(&complaint).expect("valid"), json!({"event_type": t, "data": data}))
        };
        let on_answer = |t: &str, data: Value| {
            (StreamName::standard_answer(&answer).expect("valid"), json!({"event_type": t, "data": data}))
        };
        let (title, text) = ANSWERS[n % ANSWERS.len()];
        match kind {
            0 => on_answer(
                "standard_answer_published",
                json!({"answer_id": answer, "category": CATEGORIES[n % 3],
                "title": title, "answer": text, "keywords": [title]}),
            ),
            1 => on_answer("standard_answer_revised", json!({"answer": text, "category": CATEGORIES[(n / 4) % 3]})),
            2 => on_answer("standard_answer_retired", json!({"reason": "old"})),
            3 | 4 => on_complaint(
                "complaint_received",
                json!({"complaint_id": complaint, "customer_id": "K1",
                "channel": "web", "category": CATEGORIES[n % 3], "severity": "normal", "description": TEXTS[n % TEXTS.len()]}),
            ),
            5 => on_complaint("standard_answer_used", json!({"answer_id": answer})),
            6 => on_complaint("solution_offered", json!({"solution_id": format!("s{n}"), "description": "x"})),
            7 => on_complaint("solution_accepted", json!({"solution_id": format!("s{n}")})),
            8 => on_complaint("solution_delivered", json!({"solution_id": format!("s{n}"), "note": "n"})),
            9 => on_complaint("resolution_confirmed", json!({"satisfied": !n.is_multiple_of(3)})),
            10 => on_complaint(
                "revisit_done",
                json!({"via": "phone", "satisfaction": 1 + n % 5, "issue_persists": n.is_multiple_of(4)}),
            ),
            _ => on_complaint("complaint_reopened", json!({"reason": "again"})),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

        #[test]
        fn live_library_fold_with_restarts_equals_a_rebuild_from_zero(
            steps in prop::collection::vec((0usize..12, 0usize..24, 0usize..1000), 20..150),
            restarts in prop::collection::vec(0usize..150, 0..4),
        ) {
            let rt = tokio::runtime::Runtime::new().expect("a runtime");
            rt.block_on(async {
                let dir = tempfile::tempdir().expect("a temp dir");
                let store: Arc<dyn EventStore> = Arc::new(SledStore::open(dir.path().join("s")).expect("a store"));
                let checkpoints: Arc<dyn FoldStores> = Arc::new(SledFoldStores::open(&dir.path().join("c"), 0).expect("fold stores"));
                // A checkpoint every 3 events, re-judging 1 complaint each: restarts land mid-queue.
                let bounded = LibraryFold { rejudge_per_checkpoint: 1, ..LibraryFold::default() };
                let start = |store: Arc<dyn EventStore>, checkpoints: Arc<dyn FoldStores>| async move {
                    let options = FoldOptions { catch_up_checkpoint_events: 3, live_checkpoint_interval: Duration::from_millis(1) };
                    let mut folds = Folds::with_options(store, checkpoints, options);
                    // Beside the complaints fold, as on a server: the folds' reader then takes every event
                    // of the log (with the library fold alone, a log ending in events of other types is
                    // never "caught up": the live reader's position waits for one it takes).
                    let policy = crate::policy::SlaPolicy::default();
                    folds.add(crate::complaints::ComplaintsFold::new(policy)).await.expect("adds");
                    folds.add(bounded).await.expect("adds");
                    folds.start();
                    folds
                };
                let mut running = start(Arc::clone(&store), Arc::clone(&checkpoints)).await;
                let mut states: HashMap<String, (Option<u64>, StreamState)> = HashMap::new();
                let mut clock = Timestamp::parse("2026-01-01T00:00:00Z").expect("valid");
                for (i, (kind, target, n)) in steps.iter().enumerate() {
                    if restarts.contains(&i) {
                        running.stop().await;
                        running = start(Arc::clone(&store), Arc::clone(&checkpoints)).await;
                    }
                    let (stream, json) = event_for(*kind, *target, *n);
                    clock = clock.plus_seconds(3_600);
                    let event = ProposedEvent::from_json(json, &stream).expect("an event").occurred_at(clock);
                    let (version, state) = states.remove(stream.as_str()).unwrap_or((None, StreamState::Empty));
                    if lifecycle::check(&state, &event.data).is_err() {
                        states.insert(stream.as_str().to_owned(), (version, state));
                        continue;
                    }
                    let expected = version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
                    let Ok(out) = store.append(&stream, expected, vec![event.clone()]).await else {
                        // Refused by a rule `check` does not see (an instant): the stream is unchanged.
                        states.insert(stream.as_str().to_owned(), (version, state));
                        continue;
                    };
                    let state = lifecycle::evolve(state, &event.data, clock);
                    states.insert(stream.as_str().to_owned(), (Some(out.result.last_version), state));
                }
                assert!(running.wait_caught_up(Duration::from_secs(20)).await);
                let as_of = Timestamp::now().plus_seconds(86_400);
                let mut queries: Vec<(&str, Query)> = Vec::new();
                for text in TEXTS {
                    queries.push(("suggestions", Query::at(as_of).with("text", text)));
                }
                for min_count in ["1", "2"] {
                    queries.push(("answer-gaps", Query::at(as_of).with("min_count", min_count).with("limit", "1")));
                    queries.push(("answer-gaps", Query::at(as_of).with("min_count", min_count).with("category", "product_quality")));
                }
                let strip = |mut v: Value| {
                    if let Some(map) = v.as_object_mut() {
                        map.remove("checkpoint");
                        map.remove("basis");
                    }
                    v
                };
                for (view, query) in queries {
                    let live = strip(running.query(view, &query).await.expect("live answers"));
                    let rebuilt = strip(running.replay(view, Basis::Occurred, &query).await.expect("a replay answers"));
                    assert_eq!(&live, &rebuilt, "{view} {:?}", query.params);
                    if let Some(cursor) = live["next_cursor"].as_str() {
                        let next = query.clone().with("cursor", cursor);
                        let live = strip(running.query(view, &next).await.expect("live answers"));
                        let rebuilt = strip(running.replay(view, Basis::Occurred, &next).await.expect("a replay answers"));
                        assert_eq!(live, rebuilt, "{view}: the second page too");
                    }
                }
                running.stop().await;
            });
        }
    }
}

#[test]
fn what_history_taught_survives_a_reopen_and_equals_a_rebuild_and_a_changed_verdict_moves_it() {
    // Given an answer used on a complaint worded as no answer is, and the customer satisfied.
    let fold_ = LibraryFold::default();
    let mut log = history();
    log.receive("C-8", "billing", "单位名称写成了别家公司，财务不给报销").use_answer("C-8", "A-1").confirm("C-8", true);
    let mut state = fold(&log);
    let query = "单位名称写错了，财务不给报销";
    let taught = state.answers().suggest(query, None, 3);
    assert_eq!(taught.first().map(|s| s.answer_id.as_str()), Some("A-1"), "{taught:?}");
    assert!(taught[0].why.contains("worded like 2 complaints it answered well"), "{}", taught[0].why);
    assert_eq!(state.answers().evidence().judged("A-1"), (2, 0));

    // When the fold is checkpointed and reopened, then it learned the same (nothing of it is stored).
    let store = store();
    checkpoint(&fold_, &mut state, &*store, log.events.len() as u64);
    let reopened = reopen(&fold_, &*store);
    assert_eq!(reopened.answers().suggest(query, None, 3), taught);
    assert_eq!(reopened.answers().evidence().pairs(), state.answers().evidence().pairs());

    // When the customer later says they are not satisfied, then the complaint counts against A-1.
    log.confirm("C-8", false);
    let changed = fold(&log);
    assert_eq!(changed.answers().evidence().judged("A-1"), (1, 1));
    let after = changed.answers().suggest(query, None, 3);
    assert!(after.iter().all(|s| s.answer_id != "A-1" || s.score < taught[0].score), "{after:?}");
}
