//! The built-in detectors: a pattern, which capture group is the sensitive
//! value, and a validator that rejects look-alikes (Luhn, mod-97, SSN ranges).

use crate::Detector;

pub(crate) struct Spec {
    pub detector: Detector,
    pub pattern: &'static str,
    /// The capture group holding the value to mask (0: the whole match).
    pub group: usize,
    pub validate: fn(&str) -> bool,
    /// Higher wins when two detectors claim overlapping text.
    pub priority: u8,
    /// Runs alone rather than in the shared scan, and only on text holding
    /// this literal: for open-ended patterns (see the invariant below).
    pub own_pass: Option<&'static str>,
}

fn any(_: &str) -> bool {
    true
}

// INVARIANT: a shared pattern can only stay unmatched for a bounded stretch
// of text once started (a JWT header is at most 512 bytes); past that it has
// matched or died. Otherwise a search would read to the end of the input
// after every match and masking would be quadratic. Open-ended patterns (a
// PEM body, an e-mail's local part) set `own_pass` instead.
pub(crate) const SPECS: &[Spec] = &[
    Spec {
        detector: Detector::PemPrivateKey,
        pattern: r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----",
        group: 0,
        validate: any,
        priority: 100,
        own_pass: Some("-----BEGIN "),
    },
    Spec {
        detector: Detector::Jwt,
        pattern: r"\beyJ[A-Za-z0-9_-]{5,512}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}",
        group: 0,
        validate: any,
        priority: 90,
        own_pass: None,
    },
    Spec {
        detector: Detector::AnthropicKey,
        pattern: r"\bsk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_-]{20,}",
        group: 0,
        validate: any,
        priority: 90,
        own_pass: None,
    },
    Spec {
        detector: Detector::OpenAiKey,
        pattern: r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
        group: 0,
        // Anthropic keys start `sk-ant-` too; that detector's higher
        // priority claims them first.
        validate: any,
        priority: 85,
        own_pass: None,
    },
    Spec {
        detector: Detector::GithubToken,
        pattern: r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})",
        group: 0,
        validate: any,
        priority: 90,
        own_pass: None,
    },
    Spec {
        detector: Detector::GitlabToken,
        pattern: r"\bglpat-[A-Za-z0-9_-]{20,}",
        group: 0,
        validate: any,
        priority: 90,
        own_pass: None,
    },
    Spec {
        detector: Detector::SlackToken,
        pattern: r"\bxox[abposre]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+",
        group: 0,
        validate: any,
        priority: 90,
        own_pass: None,
    },
    Spec {
        detector: Detector::StripeKey,
        pattern: r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}",
        group: 0,
        validate: any,
        priority: 90,
        own_pass: None,
    },
    Spec {
        detector: Detector::AwsAccessKeyId,
        pattern: r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",
        group: 0,
        validate: any,
        priority: 90,
        own_pass: None,
    },
    Spec {
        detector: Detector::AwsSecretKey,
        pattern: r#"(?i)aws[a-z0-9_.-]{0,20}(?:secret|sk)[a-z0-9_.-]{0,20}["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})\b"#,
        group: 1,
        validate: any,
        priority: 95,
        own_pass: None,
    },
    Spec {
        detector: Detector::UrlPassword,
        // Anchored on `://`: the scheme is not masked, and a counted scheme
        // prefix would multiply the automaton's states on every word.
        pattern: r"://[^\s:/@]+:([^\s@/]+)@",
        group: 1,
        validate: any,
        priority: 80,
        own_pass: None,
    },
    Spec {
        detector: Detector::SecretAssignment,
        pattern: r#"(?i)\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret|private[_-]?key)["']?\s*[:=]\s*["']?([^\s"',;&]+)"#,
        group: 1,
        validate: any,
        priority: 70,
        own_pass: None,
    },
    Spec {
        detector: Detector::Email,
        pattern: r"(?i)\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b",
        group: 0,
        validate: any,
        priority: 60,
        own_pass: Some("@"),
    },
    Spec {
        detector: Detector::CreditCard,
        pattern: r"\b\d(?:[ -]?\d){12,18}\b",
        group: 0,
        validate: credit_card,
        priority: 50,
        own_pass: None,
    },
    Spec {
        detector: Detector::Iban,
        pattern: r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
        group: 0,
        validate: iban,
        priority: 50,
        own_pass: None,
    },
    Spec {
        detector: Detector::UsSsn,
        pattern: r"\b\d{3}-\d{2}-\d{4}\b",
        group: 0,
        validate: ssn,
        priority: 45,
        own_pass: None,
    },
    Spec {
        detector: Detector::Phone,
        pattern: r"\+[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,3}\b|(?:\(\d{3}\) ?|\b\d{3}[.-])\d{3}[ .-]\d{4}\b|\b0\d{2,4}[ .-]\d{3,4}[ .-]?\d{3,4}\b",
        group: 0,
        validate: phone,
        priority: 40,
        own_pass: None,
    },
    Spec {
        detector: Detector::Ipv4,
        pattern: r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
        group: 0,
        validate: ipv4,
        priority: 30,
        own_pass: None,
    },
    Spec {
        detector: Detector::Ipv6,
        // Full form, or compressed around `::`; `12:30:45` is neither.
        pattern: r"(?i)\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b|(?:\b[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6}|\B)::(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6}\b)?",
        group: 0,
        validate: ipv6,
        priority: 30,
        own_pass: None,
    },
];

fn digits(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

pub(crate) fn luhn(d: &[u32]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 {
                    y - 9
                } else {
                    y
                }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// 13–19 digits, a known issuer prefix, and a valid Luhn check digit.
fn credit_card(s: &str) -> bool {
    let d = digits(s);
    if !(13..=19).contains(&d.len()) || !luhn(&d) {
        return false;
    }
    let prefix = |n: usize| d.iter().take(n).fold(0u32, |a, x| a * 10 + x);
    matches!(d[0], 4)
        || (51..=55).contains(&prefix(2))
        || (2221..=2720).contains(&prefix(4))
        || matches!(prefix(2), 34 | 37 | 36 | 38 | 35 | 62)
        || prefix(4) == 6011
        || prefix(2) == 65
        || (300..=305).contains(&prefix(3))
}

/// ISO 13616 mod-97 check.
fn iban(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let rearranged = format!("{}{}", &compact[4..], &compact[..4]);
    let mut rem: u32 = 0;
    for c in rearranged.chars() {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Area 001–899 except 666, group 01–99, serial 0001–9999.
fn ssn(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [area, group, serial] = parts.as_slice() else {
        return false;
    };
    let (Ok(a), Ok(g), Ok(n)) = (
        area.parse::<u32>(),
        group.parse::<u32>(),
        serial.parse::<u32>(),
    ) else {
        return false;
    };
    a != 0 && a != 666 && a < 900 && g != 0 && n != 0
}

fn phone(s: &str) -> bool {
    let n = digits(s).len();
    (8..=15).contains(&n) && !looks_like_date_or_time(s)
}

fn looks_like_date_or_time(s: &str) -> bool {
    // 2026-11-22 and 12.30.45 shapes are dates and times, not phone numbers.
    let groups: Vec<&str> = s.split(['-', '.', ' ']).collect();
    groups.len() == 3 && groups[0].len() == 4 && groups[1].len() <= 2
}

fn ipv4(s: &str) -> bool {
    s.split('.')
        .all(|o| o.parse::<u16>().is_ok_and(|v| v <= 255) && (o.len() == 1 || !o.starts_with('0')))
}

fn ipv6(s: &str) -> bool {
    s.matches(':').count() >= 2
        && s.parse::<std::net::Ipv6Addr>().is_ok()
        && s.chars().any(|c| c.is_ascii_hexdigit())
}
