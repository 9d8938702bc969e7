//! In-process masking of PII and secrets (DESIGN invariant 6).
//!
//! One scan finds every detector that can match (a `RegexSet`, a single
//! automaton over the text); only those detectors then locate their matches,
//! and validators (Luhn, mod-97, SSN ranges, address parsing) reject
//! look-alikes. The `regex` crate's automata run in time linear in the input,
//! so hostile input costs at most (1 + number of detectors) linear passes.

mod detectors;
mod lines;

pub use lines::LineMasker;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use hmac::{Hmac, Mac};
use regex::{Regex, RegexSet};
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
    regex: Regex,
    group: usize,
    validate: fn(&str) -> bool,
    priority: u8,
}

/// Counts per detector, for reports.
pub type Report = BTreeMap<String, u64>;

pub struct Masker {
    set: RegexSet,
    compiled: Vec<Compiled>,
    style: Style,
    hash_key: Vec<u8>,
}

/// A match to replace: byte range, detector index.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    end: usize,
    idx: usize,
}

impl Masker {
    pub fn new(config: &MaskConfig) -> Result<Masker, MaskError> {
        if config.style == Style::Hash && config.hash_key.len() < 16 {
            return Err(MaskError::WeakHashKey);
        }
        let mut compiled = Vec::new();
        for spec in detectors::SPECS
            .iter()
            .filter(|s| config.detectors.contains(&s.detector))
        {
            // INVARIANT: built-in patterns are tested to compile.
            let regex = Regex::new(spec.pattern).map_err(|e| MaskError::BadPattern {
                name: spec.detector.to_string(),
                message: e.to_string(),
            })?;
            compiled.push(Compiled {
                detector: spec.detector.clone(),
                regex,
                group: spec.group,
                validate: spec.validate,
                priority: spec.priority,
            });
        }
        for (name, pattern) in &config.custom {
            let regex = Regex::new(pattern).map_err(|e| MaskError::BadPattern {
                name: name.clone(),
                message: e.to_string(),
            })?;
            let group = usize::from(regex.captures_len() > 1);
            compiled.push(Compiled {
                detector: Detector::Custom(name.clone()),
                regex,
                group,
                validate: |_| true,
                priority: 110,
            });
        }
        if !config.deny_words.is_empty() {
            let words: Vec<String> = config.deny_words.iter().map(|w| regex::escape(w)).collect();
            let regex = Regex::new(&format!(r"(?i)\b(?:{})\b", words.join("|"))).map_err(|e| {
                MaskError::BadPattern {
                    name: "deny_words".into(),
                    message: e.to_string(),
                }
            })?;
            compiled.push(Compiled {
                detector: Detector::DenyWord,
                regex,
                group: 0,
                validate: |_| true,
                priority: 105,
            });
        }
        let set = RegexSet::new(compiled.iter().map(|c| c.regex.as_str())).map_err(|e| {
            MaskError::BadPattern {
                name: "set".into(),
                message: e.to_string(),
            }
        })?;
        Ok(Masker {
            set,
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
    pub fn mask_counting<'t>(
        &self,
        text: &'t str,
        mut report: Option<&mut Report>,
    ) -> Cow<'t, str> {
        let hits = self.set.matches(text);
        if !hits.matched_any() {
            return Cow::Borrowed(text);
        }
        let mut spans: Vec<Span> = Vec::new();
        for idx in hits.iter() {
            let c = &self.compiled[idx];
            for caps in c.regex.captures_iter(text) {
                let Some(m) = caps.get(c.group) else { continue };
                if (c.validate)(m.as_str()) {
                    spans.push(Span {
                        start: m.start(),
                        end: m.end(),
                        idx,
                    });
                }
            }
        }
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        // Overlaps: higher priority first, then longer; keep the non-overlapping best.
        spans.sort_by(|a, b| {
            let (pa, pb) = (self.compiled[a.idx].priority, self.compiled[b.idx].priority);
            pb.cmp(&pa)
                .then((b.end - b.start).cmp(&(a.end - a.start)))
                .then(a.start.cmp(&b.start))
        });
        let mut kept: Vec<Span> = Vec::with_capacity(spans.len());
        for s in spans {
            if kept.iter().all(|k| s.end <= k.start || s.start >= k.end) {
                kept.push(s);
            }
        }
        kept.sort_by_key(|s| s.start);
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for s in kept {
            out.push_str(&text[last..s.start]);
            let detector = &self.compiled[s.idx].detector;
            self.replace(detector, &text[s.start..s.end], &mut out);
            if let Some(r) = report.as_deref_mut() {
                *r.entry(detector.to_string()).or_default() += 1;
            }
            last = s.end;
        }
        out.push_str(&text[last..]);
        Cow::Owned(out)
    }

    fn replace(&self, detector: &Detector, value: &str, out: &mut String) {
        let label = detector.name().to_uppercase();
        match self.style {
            Style::Redact => {
                out.push('[');
                out.push_str(&label);
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

    /// Masks a JSON document's values, keeping it valid JSON. Values under keys
    /// that name a secret (`password`, `token`, …) are masked whole.
    pub fn mask_json(&self, value: &Value) -> Value {
        self.mask_json_counting(value, None)
    }

    pub fn mask_json_counting(&self, value: &Value, mut report: Option<&mut Report>) -> Value {
        match value {
            Value::String(s) => Value::String(self.mask_counting(s, report).into_owned()),
            Value::Number(n) => {
                let text = n.to_string();
                match self.mask_counting(&text, report) {
                    Cow::Borrowed(_) => value.clone(),
                    Cow::Owned(masked) => Value::String(masked),
                }
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.mask_json_counting(v, report.as_deref_mut()))
                    .collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let masked =
                            if secret_key(k) && !v.is_null() && !v.is_object() && !v.is_array() {
                                if let Some(r) = report.as_deref_mut() {
                                    *r.entry(Detector::SecretAssignment.to_string())
                                        .or_default() += 1;
                                }
                                let mut out = String::new();
                                self.replace(&Detector::SecretAssignment, &v.to_string(), &mut out);
                                Value::String(out)
                            } else {
                                self.mask_json_counting(v, report.as_deref_mut())
                            };
                        (k.clone(), masked)
                    })
                    .collect(),
            ),
            other => other.clone(),
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

#[cfg(test)]
mod tests;
