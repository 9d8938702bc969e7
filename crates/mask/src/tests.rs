use serde_json::json;

use super::*;

fn masker() -> Masker {
    Masker::new(&MaskConfig::default()).unwrap()
}

/// (input, expected output) with redaction.
const CASES: &[(&str, &str)] = &[
    ("mail alice@example.com now", "mail [EMAIL] now"),
    (
        "call +14155552671 or (415) 555-2671",
        "call [PHONE] or [PHONE]",
    ),
    (
        "ring +44 20 7946 0958 / 020 7946 0958 / 415-555-2671",
        "ring [PHONE] / [PHONE] / [PHONE]",
    ),
    ("card 4111 1111 1111 1111 ok", "card [CREDIT_CARD] ok"),
    ("card 5500-0000-0000-0004", "card [CREDIT_CARD]"),
    ("iban GB82 WEST 1234 5698 7654 32", "iban [IBAN]"),
    ("ssn 123-45-6789", "ssn [US_SSN]"),
    ("from 10.0.0.1 to 2001:db8::1", "from [IPV4] to [IPV6]"),
    ("AKIAIOSFODNN7EXAMPLE", "[AWS_ACCESS_KEY_ID]"),
    (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = [AWS_SECRET_KEY]",
    ),
    (
        "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "token [GITHUB_TOKEN]",
    ),
    ("glpat-abcdefghij1234567890", "[GITLAB_TOKEN]"),
    ("xoxb-1234567890-abcdefghij", "[SLACK_TOKEN]"),
    ("sk_live_abcdefghijklmnop1234", "[STRIPE_KEY]"),
    ("sk-proj-abcdefghijklmnopqrstuvwx", "[OPENAI_KEY]"),
    ("sk-ant-api03-abcdefghijklmnopqrstuvwx", "[ANTHROPIC_KEY]"),
    (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "[JWT]",
    ),
    (
        "postgres://app:s3cr3t@db:5432/prod",
        "postgres://app:[URL_PASSWORD]@db:5432/prod",
    ),
    ("password=hunter22 user=bob", "password=[SECRET] user=bob"),
    ("secret: \"abc123xyz\"", "secret: \"[SECRET]\""),
];

/// Look-alikes that must stay untouched.
const NEGATIVES: &[&str] = &[
    "order 4111 1111 1111 1112 shipped", // fails Luhn
    "invoice 2024 1187 3321 9950",
    "id 1234567890123",           // no issuer, fails Luhn
    "at 2026-11-22 03:59:53 UTC", // timestamp
    "uuid 550e8400-e29b-41d4-a716-446655440000",
    "version 1.2.3 and v10.4.22",
    "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "ssn 000-12-3456 and 666-12-3456 and 900-12-3456",
    "ip 999.1.1.1",
    "time 12:30:45",
    "GB82 WEST 1234 5698 7654 33", // fails mod-97
    "user bob@localhost logged in",
];

#[test]
fn detects_each_built_in() {
    let m = masker();
    for (input, want) in CASES {
        assert_eq!(m.mask(input), *want, "input `{input}`");
    }
}

#[test]
fn leaves_look_alikes_alone() {
    let m = masker();
    for input in NEGATIVES {
        assert_eq!(m.mask(input), *input);
    }
}

#[test]
fn pem_keys_are_masked_whole_across_lines() {
    let m = masker();
    let text = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAKC\n-----END RSA PRIVATE KEY-----\nafter";
    assert_eq!(m.mask(text), "key:\n[PRIVATE_KEY]\nafter");
}

#[test]
fn styles() {
    let partial = Masker::new(&MaskConfig {
        style: Style::Partial,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        partial.mask("card 4111111111111111"),
        "card [CREDIT_CARD …1111]"
    );
    let key = b"0123456789abcdef0123".to_vec();
    let hashed = Masker::new(&MaskConfig {
        style: Style::Hash,
        hash_key: key.clone(),
        ..Default::default()
    })
    .unwrap();
    let a = hashed.mask("a alice@example.com");
    assert_eq!(
        a,
        hashed.mask("a alice@example.com"),
        "equal values stay joinable"
    );
    assert_ne!(a, hashed.mask("a bob@example.com"));
    assert!(!a.contains("alice"));
    let other_key = Masker::new(&MaskConfig {
        style: Style::Hash,
        hash_key: b"another-key-of-16+".to_vec(),
        ..Default::default()
    })
    .unwrap();
    assert_ne!(
        a,
        other_key.mask("a alice@example.com"),
        "the hash is keyed"
    );
    assert!(matches!(
        Masker::new(&MaskConfig {
            style: Style::Hash,
            ..Default::default()
        }),
        Err(MaskError::WeakHashKey)
    ));
}

#[test]
fn detectors_switch_off() {
    let m = Masker::new(&MaskConfig {
        detectors: vec![Detector::Email],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(m.mask("a@b.io 10.0.0.1"), "[EMAIL] 10.0.0.1");
}

#[test]
fn custom_patterns_and_deny_words() {
    let m = Masker::new(&MaskConfig {
        custom: vec![("employee_id".into(), r"\bEMP-(\d{6})\b".into())],
        deny_words: vec!["Project Falcon".into()],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        m.mask("EMP-123456 on project falcon"),
        "EMP-[EMPLOYEE_ID] on [DENIED_WORD]"
    );
    assert!(matches!(
        Masker::new(&MaskConfig {
            custom: vec![("bad".into(), "(".into())],
            ..Default::default()
        }),
        Err(MaskError::BadPattern { .. })
    ));
}

#[test]
fn json_mode_keeps_valid_json_and_masks_secret_keys() {
    let m = masker();
    let doc = json!({
        "sql": "SELECT * FROM users WHERE email = 'alice@example.com'",
        "card": 4111111111111111u64,
        "count": 42,
        "auth": { "api_key": "zzzz", "password": 12345678 },
        "list": ["10.0.0.1", null, true]
    });
    let out = m.mask_json(&doc);
    assert_eq!(out["sql"], "SELECT * FROM users WHERE email = '[EMAIL]'");
    assert_eq!(out["card"], "[CREDIT_CARD]");
    assert_eq!(out["count"], 42);
    assert_eq!(out["auth"]["api_key"], "[SECRET]");
    assert_eq!(out["auth"]["password"], "[SECRET]");
    assert_eq!(out["list"], json!(["[IPV4]", null, true]));
    serde_json::from_str::<Value>(&out.to_string()).unwrap();
}

#[test]
fn masking_in_place_is_masking_a_copy() {
    let m = masker();
    let docs = [
        json!({
            "sql": "SELECT * FROM users WHERE email = 'alice@example.com'",
            "card": 4111111111111111u64,
            "count": 42,
            "auth": { "api_key": "zzzz", "password": 12345678, "token": { "inner": "a@b.io" } },
            "list": ["10.0.0.1", null, true, [1.5, "sk-ant-api03-abcdefghijklmnopqrstu"]]
        }),
        json!("plain text with no secrets"),
        json!(4111111111111111u64),
        json!([]),
        Value::Null,
    ];
    for doc in docs {
        assert_eq!(m.mask_json_owned(doc.clone()), m.mask_json(&doc), "{doc}");
    }
}

#[test]
fn reports_count_per_detector() {
    let m = masker();
    let mut report = Report::new();
    m.mask_counting("a@b.io c@d.io 10.0.0.1", Some(&mut report));
    assert_eq!(report.get("email"), Some(&2));
    assert_eq!(report.get("ipv4"), Some(&1));
}

#[test]
fn hostile_input_is_handled_in_linear_passes() {
    // Inputs built to make backtracking engines blow up: long runs that almost
    // match. The regex crate's automata are linear; this must simply finish.
    let m = masker();
    for h in crate::testing::hostile_inputs(1 << 20) {
        let out = m.mask(&h);
        assert!(out.len() <= h.len() + 64 || out.contains('['));
    }
}
