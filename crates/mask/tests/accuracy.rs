//! Precision and recall per detector on the labelled corpus
//! (`tests/corpus/corpus.tsv`, made by `generate.py`). Fails below 0.95
//! overall for either.

use std::collections::BTreeMap;

use signoff_mask::{MaskConfig, Masker, Report};

#[derive(Default)]
struct Score {
    tp: u32,
    fp: u32,
    fn_: u32,
}

#[test]
fn precision_and_recall_on_the_labelled_corpus() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/corpus/corpus.tsv"
    ))
    .unwrap();
    let masker = Masker::new(&MaskConfig::default()).unwrap();
    let mut scores: BTreeMap<String, Score> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut lines = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (label, input) = line.split_once('\t').unwrap();
        lines += 1;
        let mut found = Report::new();
        masker.mask_counting(input, Some(&mut found));
        if label != "none" {
            let s = scores.entry(label.to_owned()).or_default();
            if found.contains_key(label) {
                s.tp += 1;
            } else {
                s.fn_ += 1;
                misses.push(format!("missed {label}: {input}"));
            }
        }
        for detector in found.keys().filter(|d| *d != label) {
            scores.entry(detector.clone()).or_default().fp += 1;
            misses.push(format!("false {detector} on `{label}` line: {input}"));
        }
    }
    assert!(lines >= 300, "the corpus has only {lines} lines");
    let ratio = |a: u32, b: u32| {
        if a + b == 0 {
            1.0
        } else {
            a as f64 / (a + b) as f64
        }
    };
    println!(
        "{:<20} {:>5} {:>5} {:>5} {:>9} {:>7}",
        "detector", "tp", "fp", "fn", "precision", "recall"
    );
    let mut total = Score::default();
    for (d, s) in &scores {
        println!(
            "{d:<20} {:>5} {:>5} {:>5} {:>9.3} {:>7.3}",
            s.tp,
            s.fp,
            s.fn_,
            ratio(s.tp, s.fp),
            ratio(s.tp, s.fn_)
        );
        total.tp += s.tp;
        total.fp += s.fp;
        total.fn_ += s.fn_;
    }
    let (p, r) = (ratio(total.tp, total.fp), ratio(total.tp, total.fn_));
    println!(
        "{:<20} {:>5} {:>5} {:>5} {:>9.3} {:>7.3}",
        "overall", total.tp, total.fp, total.fn_, p, r
    );
    for m in &misses {
        println!("  {m}");
    }
    assert!(
        p >= 0.95 && r >= 0.95,
        "overall precision {p:.3} / recall {r:.3} below 0.95"
    );
}
