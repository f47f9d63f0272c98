//! Quality and latency of the `suggestions` view on the shared Q&A data, and the library fold's own
//! figures for `answer-gaps`.
//!
//! Builds the state the way the server does — by applying `standard_answer_published` events made from
//! `qa-standard-answers.jsonl` to the library fold — then asks for each case of `qa-eval-dev.jsonl` and
//! reports top-1 accuracy and recall@3, with the case's category and on the text alone (`SHOW_MISSES=1`
//! lists the top-1 misses); then times queries with the 24 answers and with 1,000 (the 24 plus synthetic
//! ones made from their sentences and keywords), and the rebuild after one answer is revised.
//!
//! Then the fold alone over `--complaints N` synthetic complaints (default 20,000): each a dev text with a
//! clause of another and a made-up word from a skewed pool of 20,000 (so the vocabulary grows as a real
//! one does: fast, then slowly), two in five with the
//! case's expected answer used and a verdict. It reports the apply rate, the gap model's heap bytes per
//! complaint, what the first checkpoint and a one-complaint checkpoint write, and the latency of an
//! `answer-gaps` page (first query, repeated, and after a new complaint).
//!
//! With `--log DIR` (a `SledStore`, e.g. the projections bench's demo log under `target/tmp`), the fold's
//! figures come from that log instead: a plain `read_all` of it, then the library fold alone rebuilt from
//! it (read, decode, apply; no checkpoints), its memory and its `answer-gaps` latency.
//!
//! ```text
//! cargo run --release -p redress-projections --example suggestion_quality -- [--complaints N | --log DIR] [answers.jsonl] [cases.jsonl]
//! ```

use redress_projections::library::eval::recorded;
use redress_projections::library::{LibraryFold, LibraryState};
use redress_projections::{Fold, FoldStores, MemoryFoldStores, Query};
use redress_schemas::{
    Channel, ComplaintReceived, EventData, Position, RecordedEvent, ResolutionConfirmed, Severity,
    StandardAnswerPublished, StandardAnswerRevised, StandardAnswerUsed, StreamName, Timestamp,
};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Instant;

/// Timed queries per setting (the dev cases, cycled).
const TIMED_QUERIES: usize = 5_000;
/// Answers in the large setting.
const LARGE_LIBRARY_ANSWERS: usize = 1_000;
/// Synthetic complaints when `--complaints` does not say.
const COMPLAINTS_DEFAULT: usize = 20_000;
/// Timed `answer-gaps` pages per setting.
const TIMED_PAGES: usize = 50;
/// Distinct made-up words the synthetic complaints draw from.
const MADE_UP_WORDS: usize = 20_000;

use redress_projections::library::eval::LibraryLine as AnswerLine;
use redress_schemas::rng::Rng;

#[derive(Deserialize)]
struct Case {
    case_id: String,
    text: String,
    #[serde(default)]
    category: Option<String>,
    expected_answer_id: String,
}

fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data").join(name)
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &PathBuf) -> Vec<T> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("{} line {}: {e}", path.display(), i + 1)))
        .collect()
}

/// The published event of one answer, as the demo loader writes it (`"<title_zh> / <title_en>"`).
fn published(position: u64, line: &AnswerLine) -> RecordedEvent {
    let title = match line.title_en.as_deref().map(str::trim) {
        Some(en) if !en.is_empty() => format!("{} / {en}", line.title_zh.trim()),
        _ => line.title_zh.trim().to_owned(),
    };
    let data = EventData::StandardAnswerPublished(StandardAnswerPublished {
        answer_id: line.answer_id.clone(),
        category: line.category.clone(),
        title,
        answer: line.answer_zh.clone(),
        keywords: line.keywords_zh.clone(),
        translations: None,
    });
    recorded(position, StreamName::standard_answer(&line.answer_id).expect("answer ids name streams"), data)
}

fn state_of(lines: &[AnswerLine]) -> LibraryState {
    let mut state = LibraryState::default();
    for (i, line) in lines.iter().enumerate() {
        LibraryFold::default().apply(&mut state, &published(i as u64, line)).expect("publishing applies");
    }
    state
}

/// `LARGE_LIBRARY_ANSWERS` answers: the real ones, then synthetic ones whose titles, keywords and texts
/// recombine the real answers' keywords and sentences with made-up words (so the vocabulary grows too).
fn large_library(real: &[AnswerLine]) -> Vec<AnswerLine> {
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let sentences: Vec<&str> =
        real.iter().flat_map(|a| a.answer_zh.split_inclusive('。')).filter(|s| !s.trim().is_empty()).collect();
    let keywords: Vec<&str> = real.iter().flat_map(|a| a.keywords_zh.iter().map(String::as_str)).collect();
    let chars: Vec<char> = real.iter().flat_map(|a| a.answer_zh.chars()).filter(|c| !c.is_ascii()).collect();
    let categories: Vec<&str> = real.iter().map(|a| a.category.as_str()).collect();
    let made_up_word = |rng: &mut Rng| -> String { (0..2 + rng.next_u64() % 2).map(|_| *rng.pick(&chars)).collect() };
    let mut out: Vec<AnswerLine> = real
        .iter()
        .map(|a| AnswerLine {
            answer_id: a.answer_id.clone(),
            category: a.category.clone(),
            title_zh: a.title_zh.clone(),
            title_en: a.title_en.clone(),
            answer_zh: a.answer_zh.clone(),
            keywords_zh: a.keywords_zh.clone(),
        })
        .collect();
    for n in out.len()..LARGE_LIBRARY_ANSWERS {
        let title = format!("{}{}{}", rng.pick(&keywords), made_up_word(&mut rng), rng.pick(&keywords));
        let answer: String = (0..4).map(|_| *rng.pick(&sentences)).collect::<String>() + &made_up_word(&mut rng);
        let mut kws: Vec<String> = (0..4).map(|_| (*rng.pick(&keywords)).to_owned()).collect();
        kws.push(made_up_word(&mut rng));
        out.push(AnswerLine {
            answer_id: format!("syn-{n:04}"),
            category: (*rng.pick(&categories)).to_owned(),
            title_zh: title,
            title_en: None,
            answer_zh: answer,
            keywords_zh: kws,
        });
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn time_queries(label: &str, state: &LibraryState, cases: &[Case]) {
    let first = Instant::now();
    let _ = state.answers().suggest(&cases[0].text, cases[0].category.as_deref(), 3);
    let build = first.elapsed();
    let mut micros = Vec::with_capacity(TIMED_QUERIES);
    for case in cases.iter().cycle().take(TIMED_QUERIES) {
        let start = Instant::now();
        let suggestions = state.answers().suggest(&case.text, case.category.as_deref(), 3);
        micros.push(start.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(suggestions);
    }
    micros.sort_by(f64::total_cmp);
    println!(
        "latency, {label}: p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs over {TIMED_QUERIES} queries \
         (first query, building the index: {:.1} ms)",
        percentile(&micros, 0.50),
        percentile(&micros, 0.99),
        micros[micros.len() - 1],
        build.as_secs_f64() * 1e3,
    );
}

/// VmRSS of this process (0 where /proc cannot be read).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1));
    kb.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) * 1024
}

/// Pages of this many events, as the folds' reader reads while catching up.
const LOG_PAGE_EVENTS: usize = 10_000;

/// What a scan of the log does with each page.
type OnPage<'a> = Box<dyn FnMut(&[RecordedEvent]) + 'a>;

/// The library fold alone rebuilt from the log in `dir`, beside a plain scan of it.
fn log_figures(dir: &std::path::Path) {
    use redress_engine::{EventFilter, EventStore, SledStore};
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    let store = SledStore::open(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let scan = |filter: &EventFilter, mut each: OnPage<'_>| -> (u64, f64) {
        let start = Instant::now();
        let mut from = Position(0);
        let mut events = 0u64;
        loop {
            let page = rt.block_on(store.read_all(from, LOG_PAGE_EVENTS, filter)).expect("read_all");
            events += page.events.len() as u64;
            each(&page.events);
            match page.next {
                Some(next) => from = Position(next),
                None => return (events, start.elapsed().as_secs_f64()),
            }
        }
    };
    let _ = scan(&EventFilter::all(), Box::new(|_| {}));
    let (events, read_seconds) = scan(&EventFilter::all(), Box::new(|_| {}));
    let read_rate = events as f64 / read_seconds;
    println!("read_all: {events} events in {read_seconds:.1} s = {read_rate:.0} events/s");

    let fold = LibraryFold::default();
    let mut state = LibraryState::default();
    let before = rss_bytes();
    let mut apply_seconds = 0.0;
    let mut taken = 0u64;
    let filter = EventFilter::types(fold.event_types().expect("the fold names its types"));
    let (_, seconds) = scan(
        &filter,
        Box::new(|page| {
            let start = Instant::now();
            for event in page {
                // An anomaly is the fold's to report, not this example's: it skips the event as the runner does.
                let _ = fold.apply(&mut state, event);
            }
            taken += page.len() as u64;
            apply_seconds += start.elapsed().as_secs_f64();
        }),
    );
    let complaints = state.gaps().len();
    println!(
        "library fold alone: {taken} of the events in {seconds:.1} s (apply {apply_seconds:.1} s) = {:.0} log events/s = \
         {:.2}× read_all; {complaints} complaints, {:.1} µs of apply a complaint",
        events as f64 / seconds,
        events as f64 / seconds / read_rate,
        apply_seconds * 1e6 / complaints.max(1) as f64,
    );
    let heap = state.gaps().heap_bytes();
    let per = |bytes: usize| bytes as f64 / complaints.max(1) as f64;
    println!(
        "memory: gap model heap {:.0} bytes a complaint ({:.0} records, {:.0} lists, {:.0} vocabulary of {} terms); \
         RSS grew {:.0} bytes a complaint",
        per(heap.total()),
        per(heap.complaints),
        per(heap.holders),
        per(heap.terms),
        state.gaps().terms(),
        rss_bytes().saturating_sub(before) as f64 / complaints.max(1) as f64,
    );
    // Positions past the log's, for the complaints added while timing.
    time_pages(&fold, &mut state, events + 1, &rt);
}

/// Times `answer-gaps` pages: the first, repeated ones, and each after a new complaint.
fn time_pages(fold: &LibraryFold, state: &mut LibraryState, position: u64, rt: &tokio::runtime::Runtime) {
    let store = rt.block_on(MemoryFoldStores::default().current("library")).expect("a store").1;
    let now = Timestamp::parse("2027-01-01T00:00:00Z").expect("a valid constant");
    let page = |state: &LibraryState| {
        let start = Instant::now();
        let answer = rt.block_on(fold.query(state, &*store, "answer-gaps", &Query::at(now))).expect("answers");
        (start.elapsed().as_secs_f64() * 1e3, answer)
    };
    let (first_ms, answer) = page(state);
    let mut repeated: Vec<f64> = (0..TIMED_PAGES).map(|_| page(state).0).collect();
    repeated.sort_by(f64::total_cmp);
    let mut changed = Vec::with_capacity(TIMED_PAGES);
    for n in 0..TIMED_PAGES {
        let id = format!("S-late-{n}");
        let data = EventData::ComplaintReceived(ComplaintReceived {
            complaint_id: id.clone(),
            customer_id: "K-1".into(),
            channel: Channel::Web,
            category: "delivery".into(),
            severity: Severity::Normal,
            description: format!("快递三天了还没到，第{n}次催"),
            product: None,
            customer_tier: None,
        });
        fold.apply(state, &complaint_event(position + n as u64, &id, data)).expect("applies");
        changed.push(page(state).0);
    }
    changed.sort_by(f64::total_cmp);
    println!(
        "answer-gaps page of 100 over {} complaints ({} uncovered, {} themes): first {first_ms:.1} ms; \
         repeated p50 {:.2} ms, p99 {:.2} ms; after a new complaint each time p50 {:.1} ms, p99 {:.1} ms",
        answer["complaints_considered"],
        answer["uncovered_complaints"],
        answer["count"],
        percentile(&repeated, 0.5),
        percentile(&repeated, 0.99),
        percentile(&changed, 0.5),
        percentile(&changed, 0.99),
    );
    if std::env::var_os("SHOW_GAPS").is_some() {
        let shown = answer["gaps"].as_array().map(|g| &g[..g.len().min(5)]);
        println!("{}", serde_json::to_string_pretty(&shown).unwrap_or_default());
    }
}

fn complaint_event(position: u64, id: &str, data: EventData) -> RecordedEvent {
    recorded(position, StreamName::complaint(id).expect("valid id"), data)
}

/// The library fold's own figures over `count` synthetic complaints (see the module doc).
fn gaps_figures(answers: &[AnswerLine], cases: &[Case], count: usize) {
    let fold = LibraryFold::default();
    let mut state = state_of(answers);
    let mut position = answers.len() as u64;
    let mut rng = Rng::new(0x2545_F491_4F6C_DD1D);
    let chars: Vec<char> = cases.iter().flat_map(|c| c.text.chars()).filter(|c| !c.is_ascii()).collect();
    let clauses: Vec<&str> =
        cases.iter().flat_map(|c| c.text.split(['，', '。', ','])).filter(|s| !s.is_empty()).collect();
    // Made-up words from a fixed pool, the first ones far more often (as words are used): the vocabulary
    // grows quickly at first, then slowly, as a real one does.
    let pool: Vec<String> = (0..MADE_UP_WORDS).map(|_| (0..2).map(|_| *rng.pick(&chars)).collect()).collect();
    let mut events = Vec::with_capacity(count * 2);
    for n in 0..count {
        let case = rng.pick(cases);
        let skewed = (rng.next_u64() % MADE_UP_WORDS as u64) * (rng.next_u64() % MADE_UP_WORDS as u64);
        let made_up = &pool[skewed as usize / MADE_UP_WORDS];
        let id = format!("S-{n:07}");
        let description = format!("{}，{}{made_up}", case.text, rng.pick(&clauses));
        let data = EventData::ComplaintReceived(ComplaintReceived {
            complaint_id: id.clone(),
            customer_id: format!("K-{}", n % 30_000),
            channel: Channel::Web,
            category: case.category.clone().unwrap_or_else(|| "other".into()),
            severity: Severity::Normal,
            description,
            product: None,
            customer_tier: None,
        });
        events.push(complaint_event(position, &id, data));
        position += 1;
        if rng.next_u64() % 5 < 2 {
            let used = EventData::StandardAnswerUsed(StandardAnswerUsed { answer_id: case.expected_answer_id.clone() });
            events.push(complaint_event(position, &id, used));
            let confirmed = EventData::ResolutionConfirmed(ResolutionConfirmed {
                satisfied: !rng.next_u64().is_multiple_of(4),
                comment: None,
                via: None,
            });
            events.push(complaint_event(position + 1, &id, confirmed));
            position += 2;
        }
    }
    // The baseline of the same run: cutting the same texts and nothing else (jieba words and bigrams,
    // what the fold does once per complaint), the floor of a one-thread fold.
    let texts: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::ComplaintReceived(received) => Some(received.description.as_str()),
            _ => None,
        })
        .collect();
    let start = Instant::now();
    let mut cut_terms = 0usize;
    for text in &texts {
        cut_terms += redress_projections::text::words_and_bigrams(text).len();
    }
    let cut_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    for event in &events {
        fold.apply(&mut state, event).expect("applies");
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "baseline, the cut alone: {:.1} µs a complaint ({cut_terms} terms); the fold takes {:.2}× the cut",
        cut_seconds * 1e6 / texts.len() as f64,
        seconds / cut_seconds
    );
    let heap = state.gaps().heap_bytes();
    let per = |bytes: usize| bytes as f64 / count as f64;
    println!(
        "library fold over {count} synthetic complaints ({} events): applied at {:.0} events/s, {:.0} complaints/s \
         ({:.1} µs a complaint); gap model heap {:.0} bytes a complaint ({:.1} MB): {:.0} complaint records, {:.0} \
         (category, word) lists, {:.0} vocabulary ({} terms)",
        events.len(),
        events.len() as f64 / seconds,
        count as f64 / seconds,
        seconds * 1e6 / count as f64,
        per(heap.total()),
        heap.total() as f64 / 1e6,
        per(heap.complaints),
        per(heap.holders),
        per(heap.terms),
        state.gaps().terms(),
    );

    let evidence = state.answers().evidence();
    println!("learned evidence: {} (answer, term) pairs, {} refused", evidence.pairs(), evidence.pairs_refused());
    time_queries(&format!("{} answers, {count} complaints of history", answers.len()), &state, cases);

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let store = rt.block_on(MemoryFoldStores::default().current("library")).expect("a store").1;
    let bytes = |changes: &[(Vec<u8>, Option<Vec<u8>>)]| -> usize {
        changes.iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len)).sum()
    };
    let start = Instant::now();
    let first = fold.take_changes(&mut state).expect("encodes");
    let first_seconds = start.elapsed().as_secs_f64();
    let first_bytes = bytes(&first);
    rt.block_on(store.commit(first, redress_projections::Checkpoint { version: 1, next_position: position }))
        .expect("commits");
    let one = complaint_event(
        position,
        "S-new",
        EventData::ComplaintReceived(ComplaintReceived {
            complaint_id: "S-new".into(),
            customer_id: "K-1".into(),
            channel: Channel::Web,
            category: "delivery".into(),
            severity: Severity::Normal,
            description: "快递三天了还没到".into(),
            product: None,
            customer_tier: None,
        }),
    );
    fold.apply(&mut state, &one).expect("applies");
    let second = fold.take_changes(&mut state).expect("encodes");
    println!(
        "checkpoints: the first writes {:.1} MB in {} keys ({:.2} s to encode), one more complaint then writes {} bytes in {} keys",
        first_bytes as f64 / 1e6,
        rt.block_on(store.scan(b"", None, usize::MAX)).map_or(0, |v| v.len()),
        first_seconds,
        bytes(&second),
        second.len(),
    );
    let start = Instant::now();
    let reopened = rt.block_on(fold.open(&*store)).expect("opens");
    println!("reopening from the store: {:.2} s", start.elapsed().as_secs_f64());
    drop(reopened);

    time_pages(&fold, &mut state, position + 1, &rt);
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut complaints = COMPLAINTS_DEFAULT;
    if let Some(i) = args.iter().position(|a| a == "--complaints") {
        complaints = args.get(i + 1).and_then(|n| n.parse().ok()).expect("--complaints N");
        args.drain(i..i + 2);
    }
    let mut log = None;
    if let Some(i) = args.iter().position(|a| a == "--log") {
        log = Some(PathBuf::from(args.get(i + 1).expect("--log DIR")));
        args.drain(i..i + 2);
    }
    let answers_path = args.first().map_or_else(|| shared("qa-standard-answers.jsonl"), PathBuf::from);
    let cases_path = args.get(1).map_or_else(|| shared("qa-eval-dev.jsonl"), PathBuf::from);
    let answers: Vec<AnswerLine> = read_jsonl(&answers_path);
    let cases: Vec<Case> = read_jsonl(&cases_path);
    let before = rss_bytes();
    redress_projections::text::warm_up();
    println!(
        "the segmentation dictionary: {:.0} MB of RSS, loaded once per process (the server loads it at start)",
        rss_bytes().saturating_sub(before) as f64 / 1e6
    );

    let state = state_of(&answers);
    println!("answers: {}, cases: {}", answers.len(), cases.len());
    for (label, use_category) in [("with the case's category", true), ("text only", false)] {
        let (mut top1, mut top3) = (0usize, 0usize);
        let mut misses = Vec::new();
        for case in &cases {
            let category = case.category.as_deref().filter(|_| use_category);
            let suggestions = state.answers().suggest(&case.text, category, 3);
            let ids: Vec<&str> = suggestions.iter().map(|s| s.answer_id.as_str()).collect();
            if ids.first() == Some(&case.expected_answer_id.as_str()) {
                top1 += 1;
            } else {
                let why = suggestions.first().map_or("", |s| s.why.as_str());
                misses.push(format!("  {} expected {} got {ids:?} — {why}", case.case_id, case.expected_answer_id));
            }
            top3 += usize::from(ids.contains(&case.expected_answer_id.as_str()));
        }
        let n = cases.len().max(1) as f64;
        println!(
            "{label}: top-1 {:.3} ({top1}/{}), recall@3 {:.3} ({top3}/{})",
            top1 as f64 / n,
            cases.len(),
            top3 as f64 / n,
            cases.len()
        );
        if use_category && std::env::var_os("SHOW_MISSES").is_some() {
            println!("top-1 misses:\n{}", misses.join("\n"));
        }
    }

    time_queries(&format!("{} answers", answers.len()), &state, &cases);
    let mut large = state_of(&large_library(&answers));
    time_queries(&format!("{LARGE_LIBRARY_ANSWERS} answers"), &large, &cases);
    // One answer revised: the next query rebuilds the index but re-cuts only that answer.
    let revision = StandardAnswerRevised {
        title: None,
        answer: Some("非常抱歉，我们会尽快处理。".into()),
        keywords: None,
        category: None,
        translations: None,
    };
    let stream = StreamName::standard_answer(&answers[0].answer_id).expect("answer ids name streams");
    let revised = recorded(LARGE_LIBRARY_ANSWERS as u64, stream, EventData::StandardAnswerRevised(revision));
    LibraryFold::default().apply(&mut large, &revised).expect("revising applies");
    let start = Instant::now();
    let _ = large.answers().suggest(&cases[0].text, cases[0].category.as_deref(), 3);
    println!(
        "first query after one of {LARGE_LIBRARY_ANSWERS} answers is revised (index rebuilt): {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    match log {
        Some(dir) => log_figures(&dir),
        // The 1,000-answer library, so the suggestion latency below is the issue's setting: 1,000
        // answers and the synthetic complaints as history (two in five answered and judged).
        None => gaps_figures(&large_library(&answers), &cases, complaints),
    }
}
