//! In-process masking of PII and secrets (DESIGN invariant 6).
//!
//! One leftmost-first scan over a multi-pattern automaton finds the next
//! candidate of every detector at once; validators (Luhn, mod-97, SSN ranges,
//! address parsing) reject look-alikes. Open-ended detectors run in their own
//! passes. See [`Masker::mask_counting`] for the worst case.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod detectors;
mod lines;

pub use lines::{LineFormat, LineMasker};

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use hmac::{Hmac, Mac};
use memchr::memmem;
use regex_automata::{meta, Anchored, Input};
use regex_syntax::hir::Hir;
use serde_json::Value;
use sha2::Sha256;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Detector {
    Email,
    Phone,
    CreditCard,
    Iban,
    UsSsn,
    Ipv4,
    Ipv6,
    AwsAccessKeyId,
    AwsSecretKey,
    GithubToken,
    GitlabToken,
    SlackToken,
    StripeKey,
    OpenAiKey,
    AnthropicKey,
    Jwt,
    PemPrivateKey,
    UrlPassword,
    SecretAssignment,
    /// A regex from config, by name.
    Custom(String),
    /// A word from the config's deny list.
    DenyWord,
}

impl Detector {
    pub const BUILT_IN: [Detector; 19] = [
        Detector::Email,
        Detector::Phone,
        Detector::CreditCard,
        Detector::Iban,
        Detector::UsSsn,
        Detector::Ipv4,
        Detector::Ipv6,
        Detector::AwsAccessKeyId,
        Detector::AwsSecretKey,
        Detector::GithubToken,
        Detector::GitlabToken,
        Detector::SlackToken,
        Detector::StripeKey,
        Detector::OpenAiKey,
        Detector::AnthropicKey,
        Detector::Jwt,
        Detector::PemPrivateKey,
        Detector::UrlPassword,
        Detector::SecretAssignment,
    ];

    /// The name used in config, reports and redaction labels.
    pub fn name(&self) -> Cow<'_, str> {
        Cow::Borrowed(match self {
            Detector::Email => "email",
            Detector::Phone => "phone",
            Detector::CreditCard => "credit_card",
            Detector::Iban => "iban",
            Detector::UsSsn => "us_ssn",
            Detector::Ipv4 => "ipv4",
            Detector::Ipv6 => "ipv6",
            Detector::AwsAccessKeyId => "aws_access_key_id",
            Detector::AwsSecretKey => "aws_secret_key",
            Detector::GithubToken => "github_token",
            Detector::GitlabToken => "gitlab_token",
            Detector::SlackToken => "slack_token",
            Detector::StripeKey => "stripe_key",
            Detector::OpenAiKey => "openai_key",
            Detector::AnthropicKey => "anthropic_key",
            Detector::Jwt => "jwt",
            Detector::PemPrivateKey => "private_key",
            Detector::UrlPassword => "url_password",
            Detector::SecretAssignment => "secret",
            Detector::Custom(name) => return Cow::Owned(name.clone()),
            Detector::DenyWord => "denied_word",
        })
    }

    pub fn parse(name: &str) -> Option<Detector> {
        Detector::BUILT_IN.into_iter().find(|d| d.name() == name)
    }
}

impl fmt::Display for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// How a detected value is replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `[EMAIL]`
    Redact,
    /// `[EMAIL …m.com]`: the last 4 characters stay.
    Partial,
    /// `[EMAIL 3f2a9c1b7e4d]`: a keyed hash, so equal values stay joinable.
    Hash,
}

#[derive(Clone, Debug)]
pub struct MaskConfig {
    /// Built-in detectors to run.
    pub detectors: Vec<Detector>,
    pub style: Style,
    /// The HMAC key for [`Style::Hash`].
    pub hash_key: Vec<u8>,
    /// (name, regex) pairs; the whole match, or its first group if it has one, is masked.
    pub custom: Vec<(String, String)>,
    /// Words masked wherever they appear as whole words, case-insensitively.
    pub deny_words: Vec<String>,
}

impl Default for MaskConfig {
    fn default() -> Self {
        MaskConfig {
            detectors: Detector::BUILT_IN.to_vec(),
            style: Style::Redact,
            hash_key: Vec::new(),
            custom: Vec::new(),
            deny_words: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaskError {
    #[error("custom detector `{name}` has an invalid regex: {message}")]
    BadPattern { name: String, message: String },
    #[error("`style = hash` needs a `hash_key` of at least 16 bytes")]
    WeakHashKey,
}

struct Compiled {
    detector: Detector,
    /// `[LABEL]` in replacements.
    label: String,
    /// The capture group holding the value (0: the whole match).
    group: usize,
    /// Locates `group` inside a match; only detectors with a group need it.
    capture: Option<meta::Regex>,
    validate: fn(&str) -> bool,
    /// Wins overlaps with lower ones.
    priority: u8,
}

/// A detector that runs alone, on text that holds its literal.
struct OwnPass {
    literal: memmem::Finder<'static>,
    regex: meta::Regex,
    idx: usize,
}

/// A value to replace: bytes `start..end`, found by `compiled[idx]`.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    end: usize,
    idx: usize,
}

/// Counts per detector, for reports.
pub type Report = BTreeMap<String, u64>;

pub struct Masker {
    /// The shared scan: every enabled detector but blocks, as one
    /// multi-pattern automaton in priority order. Pattern `i` is
    /// `compiled[shared[i]]`.
    full: meta::Regex,
    shared: Vec<usize>,
    /// Detectors that run alone (see `Spec::own_pass`), with their index
    /// in `compiled`.
    own_passes: Vec<OwnPass>,
    compiled: Vec<Compiled>,
    style: Style,
    hash_key: Vec<u8>,
}

/// One detector's pattern before compilation.
struct Entry {
    detector: Detector,
    own_pass: Option<&'static str>,
    hir: Hir,
    group: usize,
    validate: fn(&str) -> bool,
    priority: u8,
}

fn parse(name: &str, pattern: &str, unicode: bool) -> Result<Hir, MaskError> {
    // Built-in patterns are ASCII by design (`\b`, `\d`, `(?i)` stay ASCII),
    // which keeps the automaton small and fast; custom ones keep Unicode.
    regex_syntax::ParserBuilder::new()
        .unicode(unicode)
        .utf8(unicode)
        .build()
        .parse(pattern)
        .map_err(|e| MaskError::BadPattern {
            name: name.to_owned(),
            message: e.to_string(),
        })
}

fn build(name: &str, hirs: &[Hir]) -> Result<meta::Regex, MaskError> {
    meta::Builder::new()
        .build_many_from_hir(hirs)
        .map_err(|e| MaskError::BadPattern {
            name: name.to_owned(),
            message: e.to_string(),
        })
}

impl Masker {
    pub fn new(config: &MaskConfig) -> Result<Masker, MaskError> {
        if config.style == Style::Hash && config.hash_key.len() < 16 {
            return Err(MaskError::WeakHashKey);
        }
        let mut entries = Vec::new();
        for spec in detectors::SPECS
            .iter()
            .filter(|s| config.detectors.contains(&s.detector))
        {
            entries.push(Entry {
                detector: spec.detector.clone(),
                own_pass: spec.own_pass,
                hir: parse(&spec.detector.name(), spec.pattern, false)?,
                group: spec.group,
                validate: spec.validate,
                priority: spec.priority,
            });
        }
        for (name, pattern) in &config.custom {
            let hir = parse(name, pattern, true)?;
            let group = usize::from(hir.properties().explicit_captures_len() > 0);
            entries.push(Entry {
                detector: Detector::Custom(name.clone()),
                own_pass: None,
                hir,
                group,
                validate: |_| true,
                priority: 110,
            });
        }
        if !config.deny_words.is_empty() {
            let words: Vec<String> = config
                .deny_words
                .iter()
                .map(|w| regex_syntax::escape(w))
                .collect();
            entries.push(Entry {
                detector: Detector::DenyWord,
                own_pass: None,
                hir: parse(
                    "deny_words",
                    &format!(r"(?i)\b(?:{})\b", words.join("|")),
                    true,
                )?,
                group: 0,
                validate: |_| true,
                priority: 105,
            });
        }
        // INVARIANT: leftmost-first search prefers lower pattern ids, so among
        // matches starting at the same byte the highest priority wins.
        entries.sort_by_key(|e| std::cmp::Reverse(e.priority));
        let shared: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].own_pass.is_none())
            .collect();
        let hirs: Vec<Hir> = shared.iter().map(|&i| entries[i].hir.clone()).collect();
        let full = build("detectors", &hirs)?;
        let own_passes = (0..entries.len())
            .filter_map(|idx| {
                let e = &entries[idx];
                let literal = memmem::Finder::new(e.own_pass?);
                let regex = build(&e.detector.name(), std::slice::from_ref(&e.hir));
                Some(regex.map(|regex| OwnPass {
                    literal,
                    regex,
                    idx,
                }))
            })
            .collect::<Result<_, MaskError>>()?;
        let compiled = entries
            .into_iter()
            .map(|e| {
                let capture = match e.group {
                    0 => None,
                    _ => Some(build(&e.detector.name(), std::slice::from_ref(&e.hir))?),
                };
                Ok(Compiled {
                    priority: e.priority,
                    label: e.detector.name().to_uppercase(),
                    detector: e.detector,
                    group: e.group,
                    capture,
                    validate: e.validate,
                })
            })
            .collect::<Result<_, MaskError>>()?;
        Ok(Masker {
            full,
            shared,
            own_passes,
            compiled,
            style: config.style,
            hash_key: config.hash_key.clone(),
        })
    }

    /// Masks `text`; borrows it unchanged when nothing is found.
    pub fn mask<'t>(&self, text: &'t str) -> Cow<'t, str> {
        self.mask_counting(text, None)
    }

    /// Like [`Masker::mask`], adding what was found to `report`.
    ///
    /// Detectors with their own pass run first; then one leftmost-first
    /// scan finds the next candidate of every other detector at once. A
    /// candidate its validator rejects (a number failing Luhn) is retried one
    /// character later, so a detector behind a look-alike is still found.
    /// Where an own-pass value and a scanned one overlap, the higher
    /// priority wins.
    ///
    /// Worst case: a search reads on past a match only while a preferred
    /// pattern could still match, and a retry rereads the rejected
    /// candidate. Shared patterns are bounded until they first match (see
    /// `detectors::SPECS`), so both stay under 600 bytes or so per match:
    /// linear in the input, measured on hostile input by the `mask_hostile`
    /// bench.
    pub fn mask_counting<'t>(&self, text: &'t str, report: Option<&mut Report>) -> Cow<'t, str> {
        let mut spans = Vec::new();
        for pass in &self.own_passes {
            if pass.literal.find(text.as_bytes()).is_none() {
                continue;
            }
            let c = &self.compiled[pass.idx];
            for m in pass.regex.find_iter(text) {
                if let Some((start, end)) = self.validated(c, text, m.start(), m.end()) {
                    spans.push(Span {
                        start,
                        end,
                        idx: pass.idx,
                    });
                }
            }
        }
        let own = spans.len();
        self.scan(text, &mut spans);
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        if own > 0 {
            spans = self.resolve_overlaps(spans);
        }
        Cow::Owned(self.render(text, &spans, report))
    }

    /// Adds what the shared scan finds, in order and without overlaps.
    fn scan(&self, text: &str, spans: &mut Vec<Span>) {
        let mut at = 0;
        while at < text.len() {
            let Some(m) = self.full.search(&Input::new(text).range(at..)) else {
                break;
            };
            let idx = self.shared[m.pattern().as_usize()];
            let Some((start, end)) = self.validated(&self.compiled[idx], text, m.start(), m.end())
            else {
                at = next_char(text, m.start());
                continue;
            };
            spans.push(Span { start, end, idx });
            at = if m.end() > m.start() {
                m.end().max(end)
            } else {
                next_char(text, m.start())
            };
        }
    }

    /// Keeps, of overlapping spans, the higher priority, then the longer.
    fn resolve_overlaps(&self, mut spans: Vec<Span>) -> Vec<Span> {
        spans.sort_by(|a, b| {
            let (pa, pb) = (self.compiled[a.idx].priority, self.compiled[b.idx].priority);
            pb.cmp(&pa)
                .then((b.end - b.start).cmp(&(a.end - a.start)))
                .then(a.start.cmp(&b.start))
        });
        // Kept spans by start; they never overlap, so only the neighbours
        // on either side of a new span can.
        let mut kept: BTreeMap<usize, Span> = BTreeMap::new();
        for s in spans {
            let before = kept
                .range(..s.end)
                .next_back()
                .is_some_and(|(_, k)| k.end > s.start);
            if !before {
                kept.insert(s.start, s);
            }
        }
        kept.into_values().collect()
    }

    fn render(&self, text: &str, spans: &[Span], mut report: Option<&mut Report>) -> String {
        let mut out = String::with_capacity(text.len() + 16);
        let mut last = 0;
        for s in spans {
            let c = &self.compiled[s.idx];
            out.push_str(&text[last..s.start]);
            self.replace(&c.label, &text[s.start..s.end], &mut out);
            if let Some(r) = report.as_deref_mut() {
                *r.entry(c.detector.to_string()).or_default() += 1;
            }
            last = s.end;
        }
        out.push_str(&text[last..]);
        out
    }

    /// The value to mask inside a match, widened to whole characters (ASCII
    /// patterns can stop inside a multi-byte one), if its validator accepts it.
    fn validated(
        &self,
        c: &Compiled,
        text: &str,
        start: usize,
        end: usize,
    ) -> Option<(usize, usize)> {
        let (s, e) = match &c.capture {
            None => (start, end),
            Some(re) => {
                let input = Input::new(text).range(start..end).anchored(Anchored::Yes);
                let mut caps = re.create_captures();
                re.search_captures(&input, &mut caps);
                let span = caps.get_group(c.group)?;
                (span.start, span.end)
            }
        };
        if s >= e {
            return None;
        }
        let (s, e) = (char_floor(text, s), char_ceil(text, e));
        (c.validate)(&text[s..e]).then_some((s, e))
    }

    /// Writes the replacement for `value`; `label` is the detector's name in capitals.
    fn replace(&self, label: &str, value: &str, out: &mut String) {
        match self.style {
            Style::Redact => {
                out.push('[');
                out.push_str(label);
                out.push(']');
            }
            Style::Partial => {
                let tail: String = value
                    .chars()
                    .rev()
                    .take(4)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                // Short values would be revealed whole; redact those.
                if value.chars().count() <= 8 {
                    out.push_str(&format!("[{label}]"));
                } else {
                    out.push_str(&format!("[{label} …{tail}]"));
                }
            }
            Style::Hash => {
                let mut mac = match Hmac::<Sha256>::new_from_slice(&self.hash_key) {
                    Ok(m) => m,
                    Err(_) => {
                        out.push_str(&format!("[{label}]"));
                        return;
                    }
                };
                mac.update(value.as_bytes());
                let digest = hex::encode(mac.finalize().into_bytes());
                out.push_str(&format!("[{label} {}]", &digest[..12]));
            }
        }
    }

    /// Masks all of `value` in the configured style under `label` (`COLUMN`
    /// for a column configured to be masked whatever it holds).
    pub fn mask_whole(&self, label: &str, value: &str) -> String {
        let mut out = String::new();
        self.replace(label, value, &mut out);
        out
    }

    /// Masks a JSON document's values, keeping it valid JSON. Values under keys
    /// that name a secret (`password`, `token`, …) are masked whole.
    pub fn mask_json(&self, value: &Value) -> Value {
        self.mask_json_owned(value.clone())
    }

    /// [`Masker::mask_json`] on a value the caller gives up: masked in
    /// place, so only the values that change are copied.
    pub fn mask_json_owned(&self, value: Value) -> Value {
        self.mask_json_counting(value, None)
    }

    /// [`Masker::mask_json_owned`], counting what each detector found.
    pub fn mask_json_counting(&self, mut value: Value, report: Option<&mut Report>) -> Value {
        self.mask_in_place(&mut value, report);
        value
    }

    fn mask_in_place(&self, value: &mut Value, mut report: Option<&mut Report>) {
        match value {
            Value::String(s) => {
                if let Cow::Owned(masked) = self.mask_counting(s, report) {
                    *s = masked;
                }
            }
            Value::Number(n) => {
                if let Cow::Owned(masked) = self.mask_counting(&n.to_string(), report) {
                    *value = Value::String(masked);
                }
            }
            Value::Array(items) => {
                for v in items {
                    self.mask_in_place(v, report.as_deref_mut());
                }
            }
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if secret_key(k) && !v.is_null() && !v.is_object() && !v.is_array() {
                        if let Some(r) = report.as_deref_mut() {
                            *r.entry(Detector::SecretAssignment.to_string()).or_default() += 1;
                        }
                        let mut out = String::new();
                        self.replace(
                            &Detector::SecretAssignment.name().to_uppercase(),
                            &v.to_string(),
                            &mut out,
                        );
                        *v = Value::String(out);
                    } else {
                        self.mask_in_place(v, report.as_deref_mut());
                    }
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }
}

fn secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace(['-', '_'], "");
    [
        "password",
        "passwd",
        "pwd",
        "secret",
        "apikey",
        "token",
        "accesstoken",
        "authtoken",
        "clientsecret",
        "privatekey",
        "authorization",
        "credential",
        "credentials",
    ]
    .iter()
    .any(|s| k == *s || k.ends_with(s))
}

/// Inputs for tests and benches.
#[doc(hidden)]
pub mod testing {
    /// About `size` bytes each of text built against this design: near
    /// misses that every validator rejects (so each candidate is retried),
    /// runs that keep patterns alive, and unterminated blocks.
    pub fn hostile_inputs(size: usize) -> Vec<String> {
        let fill = |unit: &str| unit.repeat(size / unit.len());
        vec![
            fill("a@"),
            fill("1 "),
            fill("4111 1111 1111 1112 "),
            fill("-----BEGIN PRIVATE KEY-----"),
            fill("-----BEGIN PRIVATE KEY----- a@b.io "),
            format!("password={}", "x".repeat(size)),
            fill("1."),
            fill("999.1.1.1 "),
            fill(":"),
            fill("f:"),
            fill("GB82 "),
            fill("sk-ant-"),
            fill("eyJ-123-45-6789-"),
            fill("é1"),
        ]
    }
}

#[cfg(test)]
mod tests;

fn char_floor(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn char_ceil(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// The first character boundary after `i`; past the end when there is none.
fn next_char(text: &str, i: usize) -> usize {
    if i >= text.len() {
        return text.len() + 1;
    }
    char_ceil(text, i + 1)
}
