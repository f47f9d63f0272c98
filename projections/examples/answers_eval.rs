//! The standard-answer targets of issue 11, measured with the library fold's own evaluation
//! ([`redress_projections::library::eval`], what `redress suggest --eval` runs):
//!
//! - the dev set (`qa-eval-dev.jsonl`) without history, and in 6-fold cross-validation with the other
//!   five folds recorded as history (case `i` is in fold `i % 6`);
//! - the English and mixed cases (`projections/data/eval-english.jsonl`, plus the dev set's own), without
//!   and with the whole dev set as history;
//! - the off-topic texts (`projections/data/off-topic.jsonl`): the share that gets any suggestion;
//! - with `FEATURES=path`, one JSON line per suggestion (up to 20 a query, no minimum) with the inputs of
//!   `confidence` and whether it was the expected answer, for the calibration fit.
//!
//! ```text
//! cargo run -p redress-projections --example answers_eval [-- --min 0.3] [--untranslated]
//! ```

use redress_projections::library::eval::{
    evaluate, learn_history, parse_cases, published_library, EvalCase, EvalReport,
};
use redress_projections::library::{LibraryFold, LibraryState};
use redress_projections::suggestions::{SuggestOptions, CONFIDENCE_MIN_DEFAULT};
use redress_projections::Fold;
use std::io::Write;
use std::path::PathBuf;

const FOLDS: usize = 6;

fn path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    let p = path(relative);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The shared library as the demo publishes it: with the demo's English translations, unless
/// `--untranslated` is given (the Chinese text alone).
fn library() -> LibraryState {
    let fold = LibraryFold::default();
    let mut state = LibraryState::default();
    let untranslated = std::env::args().any(|a| a == "--untranslated");
    let english = (!untranslated).then(|| read("../adapters/src/demo/answers-en.jsonl"));
    let shared = read("../../shared/data/qa-standard-answers.jsonl");
    let events = published_library(&shared, english.as_deref()).expect("a library");
    for event in &events {
        fold.apply(&mut state, event).expect("publishing applies");
    }
    state
}

fn with_history(history: &[EvalCase]) -> LibraryState {
    let mut state = library();
    learn_history(&LibraryFold::default(), &mut state, history).expect("history applies");
    state
}

fn print(label: &str, report: &EvalReport) {
    if report.cases > 0 {
        println!(
            "{label:<48} cases {:>3}  top-1 {:.3}  recall@3 {:.3}  MRR {:.3}",
            report.cases, report.top1, report.recall_at_3, report.mrr
        );
    }
    if report.off_topic > 0 {
        println!("{label:<48} off-topic {:>3}  answered {:.3}", report.off_topic, report.off_topic_answered);
    }
    if std::env::var_os("SHOW_MISSES").is_some() {
        for miss in &report.misses {
            println!(
                "    miss {:?} expected {:?} rank {:?} got {:?}",
                miss.case_id, miss.expected_answer_id, miss.rank, miss.suggested
            );
        }
    }
}

/// Adds to `out` a line per suggestion: its confidence inputs and whether it is right.
fn features(state: &LibraryState, cases: &[EvalCase], set: &str, out: &mut Vec<String>) {
    for case in cases {
        let lang = redress_projections::suggestions::detect_lang(&case.text);
        let options = SuggestOptions { category: case.category.as_deref(), k: 20, confidence_min: 0.0, lang };
        for (rank, s) in state.answers().suggest_with(&case.text, options).iter().enumerate() {
            let right = case.expected_answer_id.as_deref() == Some(s.answer_id.as_str());
            out.push(format!(
                "{{\"set\":\"{set}\",\"rank\":{rank},\"matched\":{},\"named\":{},\"relative\":{},\"right\":{},\"case\":{:?}}}",
                s.matched,
                s.named,
                s.relative,
                u8::from(right),
                case.case_id.as_deref().unwrap_or_default()
            ));
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let min = args
        .iter()
        .position(|a| a == "--min")
        .and_then(|i| args.get(i + 1))
        .map_or(CONFIDENCE_MIN_DEFAULT, |v| v.parse().expect("--min is a number"));
    let dev = parse_cases(&read("../../shared/data/qa-eval-dev.jsonl"), true).expect("dev cases");
    let english_own = parse_cases(&read("data/eval-english.jsonl"), true).expect("English cases");
    let off_topic = parse_cases(&read("data/off-topic.jsonl"), false).expect("off-topic cases");
    let latin = |c: &&EvalCase| c.text.chars().filter(|c| c.is_ascii_alphabetic()).count() >= 8;
    let mut english: Vec<EvalCase> = english_own.clone();
    english.extend(dev.iter().filter(latin).cloned());
    let mut lines = Vec::new();
    println!("minimum confidence {min}");

    let plain = library();
    print("dev, no history", &evaluate(&plain, &dev, min));
    print("dev, no history, no minimum", &evaluate(&plain, &dev, 0.0));
    let text_only: Vec<EvalCase> = dev.iter().map(|c| EvalCase { category: None, ..c.clone() }).collect();
    print("dev, no history, no category", &evaluate(&plain, &text_only, min));

    let (mut top1, mut top3, mut rr, mut n) = (0.0, 0.0, 0.0, 0.0);
    for fold in 0..FOLDS {
        let test: Vec<EvalCase> =
            dev.iter().enumerate().filter(|(i, _)| i % FOLDS == fold).map(|(_, c)| c.clone()).collect();
        let history: Vec<EvalCase> =
            dev.iter().enumerate().filter(|(i, _)| i % FOLDS != fold).map(|(_, c)| c.clone()).collect();
        let state = with_history(&history);
        let report = evaluate(&state, &test, min);
        let cases = report.cases as f64;
        top1 += report.top1 * cases;
        top3 += report.recall_at_3 * cases;
        rr += report.mrr * cases;
        n += cases;
        if std::env::var_os("SHOW_MISSES").is_some() {
            print(&format!("  fold {fold}"), &report);
        }
        features(&state, &test, "dev-cv", &mut lines);
        features(&state, &off_topic, "off-topic-cv", &mut lines);
    }
    println!(
        "{:<48} cases {:>3}  top-1 {:.3}  recall@3 {:.3}  MRR {:.3}",
        "dev, 6-fold CV, other folds as history",
        n as usize,
        top1 / n,
        top3 / n,
        rr / n
    );
    features(&plain, &dev, "dev", &mut lines);

    print("English and mixed, no history", &evaluate(&plain, &english, min));
    let dev_zh: Vec<EvalCase> = dev.iter().filter(|c| !latin(c)).cloned().collect();
    let learned = with_history(&dev_zh);
    print("English and mixed, Chinese dev cases as history", &evaluate(&learned, &english, min));
    features(&plain, &english_own, "english", &mut lines);

    print("off-topic, no history", &evaluate(&plain, &off_topic, min));
    print("off-topic, dev set as history", &evaluate(&with_history(&dev), &off_topic, min));
    features(&plain, &off_topic, "off-topic", &mut lines);

    if let Some(out) = std::env::var_os("FEATURES") {
        let mut file = std::fs::File::create(&out).expect("FEATURES is writable");
        for line in lines {
            writeln!(file, "{line}").expect("written");
        }
    }
}
