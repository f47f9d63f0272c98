//! Complaint and answer text as terms: what the suggestion and answer-gap read models match on.
//!
//! Texts come in simplified and traditional Chinese, English, or a mix, typed on phones and PCs with
//! full-width letters. [`normalize`] folds those variants onto one form (half-width, lower case, simplified);
//! [`terms`] then cuts the text three ways, because no single cut is reliable on short complaints:
//! - words: jieba's search-mode cut for Chinese (precise when the dictionary knows the word), and
//!   lower-cased, lightly stemmed English words;
//! - character bigrams: robust where jieba splits an unknown compound differently in two texts;
//! - single characters: a weak signal for paraphrases that share only one character (夹纸/卡纸).
//!
//! Architecture invariant: pure functions, no I/O; the jieba dictionary is compiled into the binary.

use foldhash::HashSet;
use jieba_rs::Jieba;
use std::sync::OnceLock;

/// What kind of cut a term comes from; the scorers weigh the kinds differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TermKind {
    /// A Chinese word of two or more characters, or an English word.
    Word,
    /// Two adjacent Chinese characters.
    Bigram,
    /// One Chinese character.
    Char,
}

/// One term of a text: its kind and its normalised text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Term {
    pub kind: TermKind,
    pub text: String,
}

impl Term {
    fn new(kind: TermKind, text: impl Into<String>) -> Term {
        Term { kind, text: text.into() }
    }
}

/// Chinese function words: frequent in every complaint, they say nothing about its subject.
const STOP_WORDS_ZH: &[&str] = &[
    "我们",
    "你们",
    "他们",
    "她们",
    "它们",
    "我的",
    "你的",
    "这个",
    "那个",
    "这些",
    "那些",
    "什么",
    "怎么",
    "为什么",
    "已经",
    "还是",
    "但是",
    "因为",
    "所以",
    "如果",
    "就是",
    "一个",
    "一下",
    "一直",
    "可以",
    "不是",
    "现在",
    "时候",
    "这样",
    "那样",
    "自己",
    "然后",
    "结果",
    "而且",
    "或者",
    "还有",
    "非常",
    "真的",
    "请问",
    "你好",
    "您好",
    "麻烦",
    "谢谢",
    "一些",
    "这么",
    "那么",
    "怎么办",
    "到底",
    "为了",
    "以及",
    "并且",
    "您的",
];

/// Characters that carry no subject on their own (skipped as single-character terms, and as bigrams when
/// both characters are such).
const STOP_CHARS_ZH: &str =
    "的了是我你他她它们在和与就都也还吗呢吧啊呀这那有个着把被给说要会能对让很又才得地之其及或而";

/// English function words.
const STOP_WORDS_EN: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "at", "for", "from", "by", "with", "is", "are",
    "was", "were", "be", "been", "am", "it", "its", "this", "that", "these", "those", "my", "me", "we", "our", "you",
    "your", "he", "she", "they", "them", "his", "her", "i", "im", "as", "so", "if", "not", "no", "do", "does", "did",
    "have", "has", "had", "can", "could", "would", "will", "should", "please", "hi", "hello", "there", "here", "what",
    "when", "which", "who", "why", "how", "all", "any", "some", "just", "very",
];

/// English words that may be matched on but never name a theme: function words beyond
/// [`STOP_WORDS_EN`], adverbs of degree, time and frequency, light verbs and nouns that fit any
/// complaint. General English, not chosen from any complaint set; compared by stem, as terms are kept.
const FILLER_WORDS_EN: &[&str] = &[
    "about",
    "above",
    "after",
    "again",
    "against",
    "ago",
    "already",
    "also",
    "although",
    "always",
    "among",
    "another",
    "anyone",
    "anything",
    "around",
    "away",
    "back",
    "because",
    "before",
    "behind",
    "below",
    "between",
    "both",
    "came",
    "come",
    "coming",
    "day",
    "days",
    "despite",
    "done",
    "down",
    "during",
    "each",
    "either",
    "else",
    "enough",
    "even",
    "ever",
    "every",
    "everything",
    "extremely",
    "few",
    "finally",
    "first",
    "get",
    "getting",
    "give",
    "given",
    "go",
    "going",
    "gone",
    "got",
    "happen",
    "happened",
    "hardly",
    "however",
    "instead",
    "into",
    "issue",
    "keep",
    "kept",
    "know",
    "last",
    "later",
    "latest",
    "least",
    "less",
    "let",
    "like",
    "made",
    "make",
    "many",
    "may",
    "maybe",
    "might",
    "more",
    "most",
    "much",
    "must",
    "need",
    "needed",
    "never",
    "new",
    "next",
    "nobody",
    "none",
    "nothing",
    "now",
    "often",
    "once",
    "one",
    "only",
    "other",
    "others",
    "out",
    "over",
    "own",
    "per",
    "perhaps",
    "problem",
    "quite",
    "rather",
    "really",
    "said",
    "same",
    "say",
    "second",
    "see",
    "seem",
    "several",
    "since",
    "someone",
    "something",
    "soon",
    "still",
    "such",
    "sure",
    "take",
    "taken",
    "tell",
    "than",
    "then",
    "thing",
    "things",
    "think",
    "though",
    "through",
    "time",
    "times",
    "today",
    "told",
    "too",
    "took",
    "totally",
    "two",
    "under",
    "until",
    "up",
    "upon",
    "us",
    "usually",
    "want",
    "wanted",
    "way",
    "week",
    "weeks",
    "well",
    "went",
    "where",
    "whether",
    "while",
    "without",
    "yes",
    "yet",
    "yesterday",
    "able",
    "bit",
    "bring",
    "brings",
    "couple",
    "half",
    "lot",
    "little",
    "whole",
    "hasn",
    "haven",
    "isn",
    "aren",
    "wasn",
    "weren",
    "doesn",
    "didn",
    "don",
    "won",
    "wouldn",
    "couldn",
    "shouldn",
    "can",
    "cannot",
    "ll",
    "ve",
    "re",
];

/// Chinese words that fit any complaint (jieba tags them as nouns or verbs, but they name nothing).
const FILLER_WORDS_ZH: &[&str] = &[
    "问题", "情况", "办法", "事情", "东西", "地方", "方面", "方式", "时间", "结果", "原因", "感觉", "部分", "样子",
    "过程", "消息", "发现", "开始", "希望", "觉得", "知道", "出现", "发生", "表示", "反映", "需要", "进行", "没有",
    "不用", "只是", "还要", "等于", "之后", "之前", "以后", "以前", "上次", "下次", "每次", "全都", "根本", "对方",
    "一样", "其他", "别人", "有人", "本来", "居然", "竟然", "完全", "才能", "每隔", "不能", "容易", "不容", "准备",
    "明显", "用户", "说法",
];

/// jieba's part-of-speech classes that carry no subject: conjunctions, adverbs, interjections, locality
/// and time words, numerals and measure words, onomatopoeia, prepositions, pronouns, particles, modal
/// particles, place words, state words and unknown strings.
fn is_function_class(tag: &str) -> bool {
    matches!(
        tag,
        "c" | "d"
            | "df"
            | "dg"
            | "e"
            | "f"
            | "m"
            | "mg"
            | "mq"
            | "o"
            | "p"
            | "q"
            | "r"
            | "rg"
            | "rr"
            | "rz"
            | "s"
            | "t"
            | "tg"
            | "u"
            | "ud"
            | "ug"
            | "uj"
            | "ul"
            | "uv"
            | "uz"
            | "y"
            | "z"
            | "zg"
            | "x"
    )
}

/// Whether a word (a term's text: normalised, English stemmed) may be matched on but must not name a
/// theme: a word of a function class, or one that fits any complaint. Chinese words are looked up in
/// jieba's tagged dictionary, and one it splits is a filler when any piece is ("一两", "就断").
pub fn is_filler_word(word: &str) -> bool {
    if word.chars().any(is_han) {
        let lists = stop_lists();
        return lists.fillers_zh.contains(word)
            || jieba().tag(word, false).iter().any(|tag| is_function_class(tag.tag));
    }
    stop_lists().filler_stems_en.contains(word)
}

/// Folds the forms one text may be typed in onto one: full-width ASCII to half-width, the ideographic
/// space to a space, upper to lower case, traditional Chinese characters to simplified.
pub fn normalize(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars() {
        let c = match c {
            '\u{3000}' => ' ',
            // Full-width forms of ASCII 0x21..=0x7E sit at a fixed offset.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        match c {
            // Most characters of a complaint are Chinese or ASCII: neither needs the Unicode tables.
            _ if c.is_ascii() => folded.push(c.to_ascii_lowercase()),
            _ if is_han(c) => folded.push(c),
            _ => folded.extend(c.to_lowercase()),
        }
    }
    fast2s::convert(&folded)
}

/// Whether `c` is a Chinese character (CJK unified ideographs and their extensions A and B..).
pub fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{3134F}')
}

fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// Loads the segmentation dictionary now rather than on the first text (it takes a few hundred
/// milliseconds once per process).
pub fn warm_up() {
    let _ = jieba();
    let _ = stop_lists();
}

/// The terms of `text` (normalised first), in text order, repeats kept (they are term frequencies).
pub fn terms(text: &str) -> Vec<Term> {
    let mut out = Vec::new();
    cut(text, true, &mut |kind, term, _| out.push(Term::new(kind, term)));
    out
}

/// [`terms`], each English word with the word as written where it differs from the term (lower case,
/// before stemming): a reason shows "arrived", never the stem "arriv".
pub fn terms_as_written(text: &str) -> Vec<(Term, Option<String>)> {
    let mut out = Vec::new();
    cut(text, true, &mut |kind, term, written| out.push((Term::new(kind, term), written.map(str::to_owned))));
    out
}

/// The words and bigrams of `text`, without single characters: what the answer-gap model keeps of a
/// complaint (single characters are too weak to judge coverage or name a theme, and a third of the terms).
pub fn words_and_bigrams(text: &str) -> Vec<Term> {
    let mut out = Vec::new();
    cut(text, false, &mut |kind, term, _| out.push(Term::new(kind, term)));
    out
}

/// [`words_and_bigrams`], each English word with the word as written (lower case, before stemming):
/// a label shows "firmware", never the stem "firmwar". `None` where the term is the word as written.
pub fn words_and_bigrams_as_written(text: &str) -> Vec<(Term, Option<String>)> {
    let mut out = Vec::new();
    for_each_word_and_bigram(text, &mut |kind, term, written| {
        out.push((Term::new(kind, term), written.map(str::to_owned)))
    });
    out
}

/// [`words_and_bigrams_as_written`] without building a term: each (kind, text, the word as written
/// where it differs from the text) is handed to `emit` and borrowed only for the call. What the fold
/// uses: a complaint's terms are looked up in the term table, and only new ones are ever copied.
pub(crate) fn for_each_word_and_bigram(text: &str, emit: &mut dyn FnMut(TermKind, &str, Option<&str>)) {
    cut(text, false, emit)
}

/// Cuts `text` and hands each term to `emit`, with the word as written for an English word whose term
/// differs from it (a stem).
fn cut(text: &str, with_chars: bool, emit: &mut dyn FnMut(TermKind, &str, Option<&str>)) {
    let normalized = normalize(text);
    // Runs of Chinese characters and runs of other letters and digits, as slices of the text.
    let mut run: Option<(usize, bool)> = None;
    let mut flush = |text: &str, han: bool| {
        if han {
            han_terms(text, with_chars, &mut |kind, term| emit(kind, term, None));
        } else if let Some(term) = latin_term(text) {
            emit(TermKind::Word, &term, (term != text).then_some(text));
        }
    };
    for (at, c) in normalized.char_indices() {
        let han = is_han(c);
        let letter = han || c.is_alphanumeric();
        match run {
            Some((_, run_han)) if letter && run_han == han => {}
            Some((start, run_han)) => {
                flush(&normalized[start..at], run_han);
                run = letter.then_some((at, han));
            }
            None => run = letter.then_some((at, han)),
        }
    }
    if let Some((start, han)) = run {
        flush(&normalized[start..], han);
    }
}

/// The stop lists as sets, built on first use (a text's every token and character is looked up).
struct StopLists {
    words_zh: HashSet<&'static str>,
    words_en: HashSet<&'static str>,
    fillers_zh: HashSet<&'static str>,
    /// [`FILLER_WORDS_EN`] as terms keep them.
    filler_stems_en: HashSet<String>,
    /// Sorted, for a binary search.
    chars_zh: Vec<char>,
}

fn stop_lists() -> &'static StopLists {
    static LISTS: OnceLock<StopLists> = OnceLock::new();
    LISTS.get_or_init(|| {
        let mut chars_zh: Vec<char> = STOP_CHARS_ZH.chars().collect();
        chars_zh.sort_unstable();
        StopLists {
            words_zh: STOP_WORDS_ZH.iter().copied().collect(),
            words_en: STOP_WORDS_EN.iter().copied().collect(),
            fillers_zh: FILLER_WORDS_ZH.iter().copied().collect(),
            filler_stems_en: FILLER_WORDS_EN.iter().map(|w| stem(w)).collect(),
            chars_zh,
        }
    })
}

fn is_stop_char(c: char) -> bool {
    stop_lists().chars_zh.binary_search(&c).is_ok()
}

/// Words, bigrams and (when asked) single characters of a run of Chinese characters, each borrowed from
/// the run for the call (no allocation per term).
fn han_terms(run: &str, with_chars: bool, out: &mut dyn FnMut(TermKind, &str)) {
    let lists = stop_lists();
    for token in jieba().cut_for_search(run, true) {
        if token.word.chars().nth(1).is_some() && !lists.words_zh.contains(token.word) {
            out(TermKind::Word, token.word);
        }
    }
    // A bigram is two adjacent characters of the run, a character one: slices of the run itself.
    let mut previous: Option<(usize, bool)> = None;
    for (at, c) in run.char_indices() {
        let (end, stop) = (at + c.len_utf8(), is_stop_char(c));
        if let Some((start, previous_stop)) = previous {
            if !(previous_stop && stop) {
                out(TermKind::Bigram, &run[start..end]);
            }
        }
        previous = Some((at, stop));
    }
    if with_chars {
        for (at, c) in run.char_indices().filter(|(_, c)| !is_stop_char(*c)) {
            out(TermKind::Char, &run[at..at + c.len_utf8()]);
        }
    }
}

/// One English (or other alphabetic) word, as the term keeps it: stop words and bare numbers dropped,
/// plurals folded.
fn latin_term(word: &str) -> Option<String> {
    if word.chars().count() < 2 || word.chars().all(|c| c.is_ascii_digit()) || stop_lists().words_en.contains(word) {
        return None;
    }
    Some(stem(word))
}

/// A light English stemmer: folds plurals, the commonest verb endings and a final e or y, so that
/// "charge", "charges" and "charged" meet, and so do "delivery" and "delivered".
pub(crate) fn stem(word: &str) -> String {
    if !word.is_ascii() {
        return word.to_owned();
    }
    let mut stem = word;
    if word.ends_with("ss") || word.ends_with("us") {
        return word.to_owned();
    }
    for (suffix, min_stem) in [("ies", 3), ("ing", 4), ("ed", 4), ("es", 4), ("s", 3)] {
        if let Some(s) = word.strip_suffix(suffix).filter(|s| s.len() >= min_stem) {
            stem = s;
            // jamming, jammed -> jam
            let bytes = s.as_bytes();
            let last = bytes[bytes.len() - 1];
            if matches!(suffix, "ing" | "ed") && last == bytes[bytes.len() - 2] && !b"aeioulsz".contains(&last) {
                stem = &s[..s.len() - 1];
            }
            break;
        }
    }
    match stem.strip_suffix(['e', 'y']) {
        Some(s) if s.len() >= 4 => s.to_owned(),
        _ => stem.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of_kind(text: &str, kind: TermKind) -> Vec<String> {
        terms(text).into_iter().filter(|t| t.kind == kind).map(|t| t.text).collect()
    }

    #[test]
    fn full_width_and_case_fold_to_half_width_lower_case() {
        assert_eq!(normalize("ＯＦＦＩＣＥ\u{3000}２０２３！"), "office 2023!");
    }

    #[test]
    fn traditional_folds_to_simplified() {
        assert_eq!(normalize("電話裡態度"), "电话里态度");
        assert_eq!(terms("發票"), terms("发票"));
    }

    #[test]
    fn chinese_is_cut_into_words_bigrams_and_characters() {
        let words = of_kind("打印机频繁卡纸", TermKind::Word);
        assert!(words.contains(&"打印机".to_owned()), "{words:?}");
        assert_eq!(of_kind("卡纸了", TermKind::Bigram), ["卡纸", "纸了"]);
        assert_eq!(of_kind("卡纸了", TermKind::Char), ["卡", "纸"]);
    }

    #[test]
    fn function_words_are_dropped() {
        assert!(of_kind("我们的", TermKind::Word).is_empty());
        assert!(of_kind("我们", TermKind::Bigram).is_empty());
        assert_eq!(of_kind("The monitors were broken", TermKind::Word), ["monitor", "broken"]);
    }

    #[test]
    fn mixed_text_keeps_both_scripts_apart() {
        let words = of_kind("Office激活失败，提示product key is invalid", TermKind::Word);
        for expected in ["offic", "激活", "product", "key", "invalid"] {
            assert!(words.contains(&expected.to_owned()), "{expected} missing from {words:?}");
        }
        assert!(!of_kind("i7/16G 配置", TermKind::Word).contains(&"16".to_owned()));
    }

    #[test]
    fn words_and_bigrams_are_the_terms_without_single_characters() {
        let text = "打印机频繁卡纸 printer jams";
        let all: Vec<Term> = terms(text).into_iter().filter(|t| t.kind != TermKind::Char).collect();
        assert_eq!(words_and_bigrams(text), all);
    }

    #[test]
    fn english_words_keep_the_form_they_were_written_in() {
        let cut = words_and_bigrams_as_written("The firmware updates FAILED");
        let words: Vec<(&str, Option<&str>)> = cut.iter().map(|(t, w)| (t.text.as_str(), w.as_deref())).collect();
        assert_eq!(words, [("firmwar", Some("firmware")), ("updat", Some("updates")), ("fail", Some("failed"))]);
        let terms: Vec<Term> = cut.into_iter().map(|(t, _)| t).collect();
        assert_eq!(terms, words_and_bigrams("The firmware updates FAILED"));
        assert!(words_and_bigrams_as_written("路由器").iter().all(|(_, written)| written.is_none()));
    }

    #[test]
    fn fillers_are_function_classes_and_words_that_fit_any_complaint() {
        for filler in ["一两", "几十", "第二", "必须", "全都", "这里", "之后", "情况", "一跑"] {
            assert!(is_filler_word(filler), "{filler}");
        }
        for subject in ["固件", "路由器", "打印机", "卡纸", "退款", "掉线", "过热", "以旧换新"] {
            assert!(!is_filler_word(subject), "{subject}");
        }
        let stemmed = |w: &str| words_and_bigrams(w).remove(0).text;
        for filler in ["extremely", "before", "several", "latest", "although", "went"] {
            assert!(is_filler_word(&stemmed(filler)), "{filler}");
        }
        for subject in ["firmware", "router", "overheating", "refund", "loud"] {
            assert!(!is_filler_word(&stemmed(subject)), "{subject}");
        }
    }

    #[test]
    fn stemming_folds_plurals_and_endings() {
        for word in ["charge", "charges", "charged", "charging"] {
            assert_eq!(stem(word), "charg", "{word}");
        }
        assert_eq!(stem("delivery"), stem("delivered"));
        assert_eq!(stem("items"), "item");
        assert_eq!(stem("jamming"), stem("jams"));
        assert_eq!(stem("batteries"), stem("battery"));
        assert_eq!(stem("address"), "address");
        assert_eq!(stem("bus"), "bus");
    }

    proptest::proptest! {
        /// The cut hands out borrowed slices and stack-encoded bigrams: whatever the mix of scripts, the
        /// bigrams are every adjacent pair of a Chinese run (not both stop characters), in order, and
        /// the English words are the run's stems with the word as written beside them.
        #[test]
        fn bigrams_and_english_words_are_those_of_the_runs(
            text in proptest::collection::vec(proptest::sample::select(vec![
                "打", "印", "机", "的", "了", "卡", "纸", "發", "票", "ａ", "B", "z", "7", " ", "，", "-", "é", "jammed",
            ]), 0..40)
        ) {
            let text: String = text.concat();
            let normalized = normalize(&text);
            let mut expected_bigrams = Vec::new();
            let mut expected_words = Vec::new();
            let chars: Vec<char> = normalized.chars().collect();
            let mut at = 0;
            while at < chars.len() {
                let han = is_han(chars[at]);
                if !(han || chars[at].is_alphanumeric()) {
                    at += 1;
                    continue;
                }
                let mut end = at + 1;
                while end < chars.len() && is_han(chars[end]) == han && (han || chars[end].is_alphanumeric()) {
                    end += 1;
                }
                let run = &chars[at..end];
                if han {
                    for pair in run.windows(2).filter(|p| !(is_stop_char(p[0]) && is_stop_char(p[1]))) {
                        expected_bigrams.push(pair.iter().collect::<String>());
                    }
                } else {
                    let word: String = run.iter().collect();
                    if let Some(term) = latin_term(&word) {
                        let written = (term != word).then_some(word);
                        expected_words.push((term, written));
                    }
                }
                at = end;
            }
            let cut = words_and_bigrams_as_written(&text);
            let bigrams: Vec<String> =
                cut.iter().filter(|(t, _)| t.kind == TermKind::Bigram).map(|(t, _)| t.text.clone()).collect();
            let words: Vec<(String, Option<String>)> = cut
                .into_iter()
                .filter(|(t, _)| t.kind == TermKind::Word && !t.text.chars().any(is_han))
                .map(|(t, w)| (t.text, w))
                .collect();
            proptest::prop_assert_eq!(bigrams, expected_bigrams);
            proptest::prop_assert_eq!(words, expected_words);
        }
    }
}
