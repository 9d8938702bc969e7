#![no_main]
//! The audit's read batches: what the store writer renders straight from
//! typed reads (`render_batch`) must be, byte for byte, the documented form
//! (`batch_reads` of the reads' events). `audit verify` recomputes each hash
//! from the stored text, so any difference would read as tampering.
//!
//! Input: fields separated by 0xFF, four per read (flags, summary, detail,
//! SQL); the flags' bytes choose which optional fields are set.
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use signoff_core::audit::{batch_reads, render_batch};
use signoff_core::{
    canonical, ActionKind, AllowedRead, AuditEvent, AuditKind, Effect, ExecutionOutcome, ReadRecord,
};
use uuid::Uuid;

const EFFECTS: [Effect; 11] = [
    Effect::Read,
    Effect::Write,
    Effect::Delete,
    Effect::UnboundedWrite,
    Effect::Ddl,
    Effect::Destructive,
    Effect::Privilege,
    Effect::Export,
    Effect::Opaque,
    Effect::RunsProgram,
    Effect::Unknown,
];

fn read(i: usize, flags: &str, summary: String, detail: String, sql: String) -> ReadRecord {
    let f = flags
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let bit = |n: u32| f >> n & 1 == 1;
    let mut e = AuditEvent::new(
        AuditKind::ActionDecided,
        "agent:fuzz",
        format!("2026-12-07T00:00:{:02}.000000Z", i % 60),
    );
    e.on_behalf_of = Some("rita".into());
    e.target = Some("db".into());
    e.action_id = bit(0).then(|| Uuid::from_u64_pair(f, 1));
    e.approval_id = bit(1).then(|| Uuid::from_u64_pair(f, 2));
    e.fingerprint = bit(2).then(|| flags.to_owned());
    e.reason = bit(3).then(|| detail.clone());
    e.trace_id = bit(4).then(|| summary.clone());
    e.payload = match f >> 5 & 3 {
        0 => Value::Null,
        1 => json!({ "sql": sql }),
        2 => json!({ "sql": sql, "params": [f, -((f >> 3) as i64), null, detail, 0.5] }),
        _ => serde_json::from_str(&sql).unwrap_or(Value::Null),
    };
    let policies = match bit(7) {
        true => summary.split(',').map(str::to_owned).collect(),
        false => vec!["reads-allowed".to_owned()],
    };
    let effects = EFFECTS
        .iter()
        .enumerate()
        .filter(|(n, _)| f >> (8 + n) & 1 == 1)
        .map(|(_, e)| *e)
        .collect();
    let outcome = ExecutionOutcome {
        succeeded: bit(20),
        exit_code: bit(21).then(|| (f >> 32) as i32),
        duration_ms: bit(22).then(|| f.rotate_left(7)),
        detail: bit(23).then(|| detail.clone()),
    };
    ReadRecord {
        read: AllowedRead {
            event: e,
            policies,
            effects,
            kind: ActionKind::ALL[(f >> 24) as usize % ActionKind::ALL.len()],
            summary,
        },
        outcome,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut fields = data
        .split(|b| *b == 0xff)
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let mut reads = Vec::new();
    while reads.len() < 16 {
        let (Some(flags), Some(summary), Some(detail), Some(sql)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            break;
        };
        reads.push(read(reads.len(), &flags, summary, detail, sql));
    }
    if reads.is_empty() {
        return;
    }
    let documented = batch_reads(reads.iter().cloned().map(ReadRecord::into_event).collect());
    let (_, text) = render_batch(&reads);
    assert_eq!(text, canonical::to_string(&documented.details));
});
