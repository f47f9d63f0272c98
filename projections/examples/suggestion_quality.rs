//! Quality and latency of the `suggestions` read model on the shared Q&A data, and the cost of an
//! `answer-gaps` query.
//!
//! Builds the state the way the server does — by applying `standard_answer_published` events made from
//! `qa-standard-answers.jsonl` — then asks for each case of `qa-eval-dev.jsonl` and reports top-1 accuracy
//! and recall@3, with the case's category and on the text alone (`SHOW_MISSES=1` lists the top-1 misses);
//! then times queries with the 24 answers and with 1,000 (the 24 plus synthetic ones made from their
//! sentences and keywords), the rebuild after one answer is revised, and one `answer-gaps` query over a
//! full window of complaints.
//!
//! ```text
//! cargo run --release -p redress-projections --example suggestion_quality [answers.jsonl] [cases.jsonl]
//! ```

use redress_projections::answer_gaps::{AnswerGaps, AnswerGapsState, GAP_COMPLAINTS_MAX};
use redress_projections::suggestions::{Suggestions, SuggestionsState};
use redress_projections::Projection;
use redress_schemas::{
    Channel, ComplaintReceived, EventData, EventId, Hash, Metadata, Position, RecordedEvent, Severity,
    StandardAnswerPublished, StandardAnswerRevised, StreamName, Timestamp,
};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Instant;

/// Timed queries per setting (the dev cases, cycled).
const TIMED_QUERIES: usize = 5_000;
/// Answers in the large setting.
const LARGE_LIBRARY_ANSWERS: usize = 1_000;

#[derive(Deserialize)]
struct AnswerLine {
    answer_id: String,
    category: String,
    title_zh: String,
    #[serde(default)]
    title_en: Option<String>,
    answer_zh: String,
    #[serde(default)]
    keywords_zh: Vec<String>,
}

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

fn recorded(position: u64, stream: StreamName, data: EventData) -> RecordedEvent {
    let at = Timestamp::parse("2026-01-01T00:00:00Z").expect("a valid constant");
    RecordedEvent {
        event_id: EventId::new_v7(),
        stream,
        version: 0,
        position: Position(position),
        schema_version: 1,
        occurred_at: at,
        recorded_at: at,
        metadata: Metadata::default(),
        data,
        hash: Hash::GENESIS,
    }
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
    });
    recorded(position, StreamName::standard_answer(&line.answer_id).expect("answer ids name streams"), data)
}

fn state_of(lines: &[AnswerLine]) -> SuggestionsState {
    let mut state = SuggestionsState::default();
    for (i, line) in lines.iter().enumerate() {
        Suggestions.apply(&mut state, &published(i as u64, line)).expect("publishing applies");
    }
    state
}

/// A small deterministic generator (xorshift64*), so every run times the same library.
///
/// Not `redress_adapters::demo::rng::Rng`, the code base's one seedable generator, for two reasons: an example
/// of `redress-projections` cannot depend on `redress-adapters` (dependencies point schemas ← engine ←
/// projections ← adapters), and the synthetic library BENCHMARKS.md's latency figures were measured on is
/// this generator's draws: another generator would time another library.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// `LARGE_LIBRARY_ANSWERS` answers: the real ones, then synthetic ones whose titles, keywords and texts
/// recombine the real answers' keywords and sentences with made-up words (so the vocabulary grows too).
fn large_library(real: &[AnswerLine]) -> Vec<AnswerLine> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let sentences: Vec<&str> =
        real.iter().flat_map(|a| a.answer_zh.split_inclusive('。')).filter(|s| !s.trim().is_empty()).collect();
    let keywords: Vec<&str> = real.iter().flat_map(|a| a.keywords_zh.iter().map(String::as_str)).collect();
    let chars: Vec<char> = real.iter().flat_map(|a| a.answer_zh.chars()).filter(|c| !c.is_ascii()).collect();
    let categories: Vec<&str> = real.iter().map(|a| a.category.as_str()).collect();
    let made_up_word = |rng: &mut Rng| -> String { (0..2 + rng.next() % 2).map(|_| *rng.pick(&chars)).collect() };
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

fn time_queries(label: &str, state: &SuggestionsState, cases: &[Case]) {
    let first = Instant::now();
    let _ = state.suggest(&cases[0].text, cases[0].category.as_deref(), 3);
    let build = first.elapsed();
    let mut micros = Vec::with_capacity(TIMED_QUERIES);
    for case in cases.iter().cycle().take(TIMED_QUERIES) {
        let start = Instant::now();
        let suggestions = state.suggest(&case.text, case.category.as_deref(), 3);
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

/// Times one `answer-gaps` query over a full window of complaints: the dev texts, cycled, each with a
/// number appended so no two are the same.
fn time_gaps(answers: &[AnswerLine], cases: &[Case]) {
    let mut state = AnswerGapsState::default();
    let mut position = 0u64;
    for line in answers {
        AnswerGaps.apply(&mut state, &published(position, line)).expect("publishing applies");
        position += 1;
    }
    for (n, case) in cases.iter().cycle().take(GAP_COMPLAINTS_MAX).enumerate() {
        let id = format!("G-{n}");
        let data = EventData::ComplaintReceived(ComplaintReceived {
            complaint_id: id.clone(),
            customer_id: "K-1".into(),
            channel: Channel::Web,
            category: case.category.clone().unwrap_or_else(|| "other".into()),
            severity: Severity::Normal,
            description: format!("{} #{n}", case.text),
            product: None,
            customer_tier: None,
        });
        let event = recorded(position, StreamName::complaint(&id).expect("valid id"), data);
        AnswerGaps.apply(&mut state, &event).expect("complaints apply");
        position += 1;
    }
    let start = Instant::now();
    let themes = state.gaps(3, None, 20);
    println!(
        "answer-gaps over {GAP_COMPLAINTS_MAX} complaints (the 72 dev texts, cycled): {} themes in {:.0} ms",
        themes.len(),
        start.elapsed().as_secs_f64() * 1e3
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let answers_path = args.first().map_or_else(|| shared("qa-standard-answers.jsonl"), PathBuf::from);
    let cases_path = args.get(1).map_or_else(|| shared("qa-eval-dev.jsonl"), PathBuf::from);
    let answers: Vec<AnswerLine> = read_jsonl(&answers_path);
    let cases: Vec<Case> = read_jsonl(&cases_path);
    redress_projections::text::warm_up();

    let state = state_of(&answers);
    println!("answers: {}, cases: {}", answers.len(), cases.len());
    for (label, use_category) in [("with the case's category", true), ("text only", false)] {
        let (mut top1, mut top3) = (0usize, 0usize);
        let mut misses = Vec::new();
        for case in &cases {
            let category = case.category.as_deref().filter(|_| use_category);
            let suggestions = state.suggest(&case.text, category, 3);
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
    };
    let stream = StreamName::standard_answer(&answers[0].answer_id).expect("answer ids name streams");
    let revised = recorded(LARGE_LIBRARY_ANSWERS as u64, stream, EventData::StandardAnswerRevised(revision));
    Suggestions.apply(&mut large, &revised).expect("revising applies");
    let start = Instant::now();
    let _ = large.suggest(&cases[0].text, cases[0].category.as_deref(), 3);
    println!(
        "first query after one of {LARGE_LIBRARY_ANSWERS} answers is revised (index rebuilt): {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    time_gaps(&answers, &cases);
}
