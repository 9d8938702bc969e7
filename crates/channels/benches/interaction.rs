//! The synchronous part of answering Slack (verify the signature, check the
//! replay guard, parse the payload) and building a Teams card for a large
//! payload. Slack wants an answer within 3 s; Teams refuses messages over 28 KB.

use criterion::{criterion_group, criterion_main, Criterion};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use signoff_channels::slack::{verify, Interaction, ReplayGuard};
use signoff_channels::{teams, RequestView};
use signoff_core::ApprovalStatus;

const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";

fn click(i: usize) -> (String, String) {
    let payload = serde_json::json!({
        "type": "block_actions", "user": { "id": "U_RITA", "team_id": "T" }, "trigger_id": format!("t{i}"),
        "response_url": "https://hooks.slack.com/actions/T/1/x",
        "actions": [{ "action_id": "signoff_approve", "value": "0190e5b2-7c1a-7000-8000-000000000001" }],
    });
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(format!("v0:1700000000:{body}").as_bytes());
    (
        body,
        format!("v0={}", hex::encode(mac.finalize().into_bytes())),
    )
}

fn bench(c: &mut Criterion) {
    let clicks: Vec<_> = (0..100_000).map(click).collect();
    let guard = ReplayGuard::default();
    let mut i = 0;
    c.bench_function("slack_ack/verify_replay_parse", |b| {
        b.iter(|| {
            let (body, sig) = &clicks[i % clicks.len()];
            i += 1;
            let ts = verify(
                SECRET,
                Some("1700000000"),
                Some(sig),
                body.as_bytes(),
                1_700_000_010,
            )
            .unwrap();
            guard.first_time(sig, ts, 1_700_000_010);
            Interaction::parse(body.as_bytes()).unwrap()
        })
    });
    let view = RequestView {
        id: "0190e5b2-7c1a-7000-8000-000000000001".into(),
        status: ApprovalStatus::Pending,
        who: "`agent:bot` on behalf of `olivia`".into(),
        what: "INSERT INTO t VALUES ('x');\n".repeat(4000),
        summary: "INSERT on t".into(),
        effects: vec!["write".into()],
        target: "prod-db".into(),
        labels: "env=prod".into(),
        why: "backfill".into(),
        annotations: String::new(),
        rules: "changes-need-approval".into(),
        approvals: "0 of 1 (from reviewers)".into(),
        expires: "2026-11-22T12:00:00Z".into(),
        reviews: vec![],
        link: "https://signoff.example.com/ui/requests/0190e5b2-7c1a-7000-8000-000000000001".into(),
    };
    c.bench_function("teams_card/112kb_payload", |b| {
        b.iter(|| {
            let m = teams::message(&view, true);
            assert!(m.len() <= teams::MAX_BYTES);
            m
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
