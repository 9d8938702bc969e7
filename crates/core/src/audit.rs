//! The tamper-evident audit chain (DESIGN §8, invariant 5).
//!
//! Each event's `hash` is SHA-256 over the canonical JSON of every other field,
//! `prev_hash` included, so editing, deleting, inserting or reordering any event
//! breaks the chain at that point.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::canonical;
use crate::{ActionKind, Decision, Effect};

/// Formats an audit timestamp: UTC, fixed width, so text order is time order.
pub fn timestamp(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    // Written digit by digit: every audit event takes one, and `format!`
    // with padding was a visible share of a statement's cost.
    let mut out = String::with_capacity(27);
    let mut digits = |n: u32, width: u32, sep: char| {
        for place in (0..width).rev() {
            out.push(char::from(b'0' + (n / 10u32.pow(place) % 10) as u8));
        }
        out.push(sep);
    };
    digits(t.year().clamp(0, 9999) as u32, 4, '-');
    digits(u32::from(t.month() as u8), 2, '-');
    digits(u32::from(t.day()), 2, 'T');
    digits(u32::from(t.hour()), 2, ':');
    digits(u32::from(t.minute()), 2, ':');
    digits(u32::from(t.second()), 2, '.');
    digits(t.microsecond(), 6, 'Z');
    out
}

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditKind {
    /// An action was requested and decided (one event: both happen atomically).
    #[serde(rename = "action.decided")]
    ActionDecided,
    #[serde(rename = "request.created")]
    RequestCreated,
    #[serde(rename = "review.submitted")]
    ReviewSubmitted,
    /// A review that the rules refused (self-approval, agent, not a reviewer, …).
    #[serde(rename = "review.refused")]
    ReviewRefused,
    /// Approved, denied, expired or cancelled.
    #[serde(rename = "request.resolved")]
    RequestResolved,
    #[serde(rename = "grant.consumed")]
    GrantConsumed,
    /// The execution outcome reported by the front door.
    #[serde(rename = "action.executed")]
    ActionExecuted,
    #[serde(rename = "auth.failed")]
    AuthFailed,
    /// Policy and config loaded at start.
    #[serde(rename = "gateway.started")]
    GatewayStarted,
    #[serde(rename = "key.created")]
    KeyCreated,
    #[serde(rename = "key.revoked")]
    KeyRevoked,
    /// Allowed reads of one caller on one target, decided and run close
    /// together, written as one event: each read's decided event, outcome
    /// included, is an entry of `details.reads` (see [`batch_reads`]).
    #[serde(rename = "reads.batched")]
    ReadsBatched,
}

impl AuditKind {
    pub const ALL: [AuditKind; 12] = [
        AuditKind::ActionDecided,
        AuditKind::RequestCreated,
        AuditKind::ReviewSubmitted,
        AuditKind::ReviewRefused,
        AuditKind::RequestResolved,
        AuditKind::GrantConsumed,
        AuditKind::ActionExecuted,
        AuditKind::AuthFailed,
        AuditKind::GatewayStarted,
        AuditKind::KeyCreated,
        AuditKind::KeyRevoked,
        AuditKind::ReadsBatched,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::ActionDecided => "action.decided",
            AuditKind::RequestCreated => "request.created",
            AuditKind::ReviewSubmitted => "review.submitted",
            AuditKind::ReviewRefused => "review.refused",
            AuditKind::RequestResolved => "request.resolved",
            AuditKind::GrantConsumed => "grant.consumed",
            AuditKind::ActionExecuted => "action.executed",
            AuditKind::AuthFailed => "auth.failed",
            AuditKind::GatewayStarted => "gateway.started",
            AuditKind::KeyCreated => "key.created",
            AuditKind::KeyRevoked => "key.revoked",
            AuditKind::ReadsBatched => "reads.batched",
        }
    }

    pub fn parse(text: &str) -> Option<AuditKind> {
        AuditKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit event. `seq`, `prev_hash` and `hash` are set by [`AuditEvent::seal`]
/// when the store appends it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub seq: i64,
    pub id: Uuid,
    /// RFC 3339, UTC. Kept as text so the hash covers exactly what is stored.
    pub at: String,
    pub kind: AuditKind,
    /// The principal that caused the event, or `system`.
    pub actor: String,
    pub on_behalf_of: Option<String>,
    pub target: Option<String>,
    pub action_id: Option<Uuid>,
    pub approval_id: Option<Uuid>,
    pub fingerprint: Option<String>,
    pub reason: Option<String>,
    /// The action payload, masked.
    pub payload: Value,
    /// Kind-specific details: decision, policies, verdict, outcome, …
    pub details: Value,
    pub trace_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEvent {
    pub fn new(kind: AuditKind, actor: impl Into<String>, at: String) -> AuditEvent {
        AuditEvent {
            seq: 0,
            id: Uuid::now_v7(),
            at,
            kind,
            actor: actor.into(),
            on_behalf_of: None,
            target: None,
            action_id: None,
            approval_id: None,
            fingerprint: None,
            reason: None,
            payload: Value::Null,
            details: Value::Null,
            trace_id: None,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    /// The canonical form the hash covers: every field but `hash`.
    pub fn hashed_form(&self) -> Value {
        json!({
            "seq": self.seq,
            "id": self.id.to_string(),
            "at": self.at,
            "kind": self.kind.as_str(),
            "actor": self.actor,
            "on_behalf_of": self.on_behalf_of,
            "target": self.target,
            "action_id": self.action_id.map(|u| u.to_string()),
            "approval_id": self.approval_id.map(|u| u.to_string()),
            "fingerprint": self.fingerprint,
            "reason": self.reason,
            "payload": self.payload,
            "details": self.details,
            "trace_id": self.trace_id,
            "prev_hash": self.prev_hash,
        })
    }

    pub fn compute_hash(&self) -> String {
        let (payload, details) = (self.payload_text(), self.details_text());
        self.hash_with(&payload, &details)
    }

    /// The canonical text of `payload`, as the store keeps it.
    pub fn payload_text(&self) -> String {
        canonical::to_string(&self.payload)
    }

    /// The canonical text of `details`, as the store keeps it.
    pub fn details_text(&self) -> String {
        canonical::to_string(&self.details)
    }

    /// The hash over [`AuditEvent::hashed_form`], written straight from the
    /// fields with `payload` and `details` already in canonical text: the
    /// same bytes, without building the form (the test
    /// `streamed_form_is_the_hashed_form` holds the two equal).
    fn hash_with(&self, payload: &str, details: &str) -> String {
        use canonical::write_str;
        let mut out: Vec<u8> = Vec::with_capacity(256 + payload.len() + details.len());
        let opt = |v: Option<&str>, out: &mut Vec<u8>| match v {
            Some(s) => write_str(s, out),
            None => out.extend_from_slice(b"null"),
        };
        let uuid = |v: Option<Uuid>, out: &mut Vec<u8>| match v {
            Some(u) => write_str(u.hyphenated().encode_lower(&mut Uuid::encode_buffer()), out),
            None => out.extend_from_slice(b"null"),
        };
        // Keys in byte order, as canonical JSON sorts them.
        out.extend_from_slice(b"{\"action_id\":");
        uuid(self.action_id, &mut out);
        out.extend_from_slice(b",\"actor\":");
        write_str(&self.actor, &mut out);
        out.extend_from_slice(b",\"approval_id\":");
        uuid(self.approval_id, &mut out);
        out.extend_from_slice(b",\"at\":");
        write_str(&self.at, &mut out);
        out.extend_from_slice(b",\"details\":");
        out.extend_from_slice(details.as_bytes());
        out.extend_from_slice(b",\"fingerprint\":");
        opt(self.fingerprint.as_deref(), &mut out);
        out.extend_from_slice(b",\"id\":");
        uuid(Some(self.id), &mut out);
        out.extend_from_slice(b",\"kind\":");
        write_str(self.kind.as_str(), &mut out);
        out.extend_from_slice(b",\"on_behalf_of\":");
        opt(self.on_behalf_of.as_deref(), &mut out);
        out.extend_from_slice(b",\"payload\":");
        out.extend_from_slice(payload.as_bytes());
        out.extend_from_slice(b",\"prev_hash\":");
        write_str(&self.prev_hash, &mut out);
        out.extend_from_slice(b",\"reason\":");
        opt(self.reason.as_deref(), &mut out);
        out.extend_from_slice(b",\"seq\":");
        out.extend_from_slice(self.seq.to_string().as_bytes());
        out.extend_from_slice(b",\"target\":");
        opt(self.target.as_deref(), &mut out);
        out.extend_from_slice(b",\"trace_id\":");
        opt(self.trace_id.as_deref(), &mut out);
        out.push(b'}');
        canonical::sha256_hex_of(&out)
    }

    /// Places the event in the chain after an event with `prev_hash`.
    pub fn seal(&mut self, seq: i64, prev_hash: &str) {
        self.seal_texts(seq, prev_hash);
    }

    /// [`AuditEvent::seal`], returning the canonical texts of `payload` and
    /// `details` the hash was computed over, for the store to keep.
    pub fn seal_texts(&mut self, seq: i64, prev_hash: &str) -> (String, String) {
        let details = self.details_text();
        self.seal_rendered(seq, prev_hash, details)
    }

    /// [`AuditEvent::seal_texts`] for an event whose details are given as
    /// canonical text (see [`render_batch`]); its own `details` is ignored.
    pub fn seal_rendered(
        &mut self,
        seq: i64,
        prev_hash: &str,
        details: String,
    ) -> (String, String) {
        self.seq = seq;
        self.prev_hash = prev_hash.to_owned();
        let payload = self.payload_text();
        self.hash = self.hash_with(&payload, &details);
        (payload, details)
    }
}

/// Whether two events may share one `reads.batched` event: same caller,
/// same human, same target.
pub fn same_batch(a: &AuditEvent, b: &AuditEvent) -> bool {
    a.actor == b.actor && a.on_behalf_of == b.on_behalf_of && a.target == b.target
}

/// An `action.decided` event's details: the decision, what the action does,
/// its kind and summary, and for a read written with its outcome
/// ([`ReadRecord`]), that outcome.
pub fn decided_details(
    decision: &Decision,
    effects: &BTreeSet<Effect>,
    kind: ActionKind,
    summary: String,
    outcome: Option<ExecutionOutcome>,
) -> Value {
    // Keys in byte order, so the canonical encoding need not sort them; room
    // for a `grant` added later, so the map never grows.
    let mut details = serde_json::Map::with_capacity(5);
    details.insert("decision".into(), json!(decision));
    details.insert("effects".into(), json!(effects));
    details.insert("kind".into(), kind.as_str().into());
    if let Some(outcome) = outcome {
        details.insert("outcome".into(), outcome.into_value());
    }
    details.insert("summary".into(), summary.into());
    Value::Object(details)
}

/// How an action went, as reported by the front door that ran it.
#[derive(Clone, Debug)]
pub struct ExecutionOutcome {
    pub succeeded: bool,
    pub exit_code: Option<i32>,
    pub duration_ms: Option<u64>,
    pub detail: Option<String>,
}

impl ExecutionOutcome {
    /// The outcome as an event's `details.outcome` (or an `action.executed`
    /// event's `details`): every field, empty ones as null.
    pub fn into_value(self) -> Value {
        // Keys in byte order, so the canonical encoding need not sort them.
        object([
            ("detail", self.detail.map_or(Value::Null, Value::String)),
            ("duration_ms", self.duration_ms.into()),
            ("exit_code", self.exit_code.into()),
            ("succeeded", self.succeeded.into()),
        ])
    }
}

/// An allowed pure read whose decision is written with its outcome (the
/// gateway's `AuditTiming::ReadsQueued`): the decided event, its `details`
/// left null, and what those details hold, typed. So neither the gate nor
/// the store writer builds or walks a JSON map per read.
#[derive(Clone, Debug)]
pub struct AllowedRead {
    /// `details` is ignored: [`ReadRecord::into_event`] fills it.
    pub event: AuditEvent,
    /// The policies that allowed it.
    pub policies: Vec<String>,
    pub effects: BTreeSet<Effect>,
    pub kind: ActionKind,
    /// Masked when the target's audit is.
    pub summary: String,
}

/// An [`AllowedRead`] and how it went: what the store writer queues.
#[derive(Clone, Debug)]
pub struct ReadRecord {
    pub read: AllowedRead,
    pub outcome: ExecutionOutcome,
}

impl ReadRecord {
    /// The plain `action.decided` event, as a lone read is written and as
    /// [`batch_reads`] takes it.
    pub fn into_event(self) -> AuditEvent {
        let ReadRecord { read, outcome } = self;
        let decision = Decision::Allow {
            policies: read.policies,
        };
        let mut e = read.event;
        e.details = decided_details(
            &decision,
            &read.effects,
            read.kind,
            read.summary,
            Some(outcome),
        );
        e
    }

    /// The canonical text of `entry(self.into_event())`, a batch's entry:
    /// keys in byte order, empty fields left out.
    fn write_entry(&self, out: &mut Vec<u8>) {
        let e = &self.read.event;
        // INVARIANT: `at`, `id` and `kind` are always written, so the opening
        // brace always is.
        let mut w = EntryWriter { out, first: true };
        w.uuid("action_id", e.action_id);
        w.uuid("approval_id", e.approval_id);
        w.text("at", Some(&e.at));
        w.key("details");
        self.write_details(w.out);
        w.text("fingerprint", e.fingerprint.as_deref());
        w.uuid("id", Some(e.id));
        w.text("kind", Some(e.kind.as_str()));
        w.value("payload", &e.payload);
        w.text("reason", e.reason.as_deref());
        w.text("trace_id", e.trace_id.as_deref());
        w.out.push(b'}');
    }

    /// The canonical text of `into_event()`'s `details`, with the outcome's
    /// empty fields left out as in a batch entry.
    fn write_details(&self, out: &mut Vec<u8>) {
        use canonical::write_str;
        let (read, outcome) = (&self.read, &self.outcome);
        // INVARIANT: keys in byte order at every level (canonical form).
        out.extend_from_slice(b"{\"decision\":{\"decision\":\"allow\",\"policies\":[");
        for (i, p) in read.policies.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(p, out);
        }
        out.extend_from_slice(b"]},\"effects\":[");
        for (i, f) in read.effects.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(f.as_str(), out);
        }
        out.extend_from_slice(b"],\"kind\":");
        write_str(read.kind.as_str(), out);
        out.extend_from_slice(b",\"outcome\":{");
        if let Some(detail) = &outcome.detail {
            out.extend_from_slice(b"\"detail\":");
            write_str(detail, out);
            out.push(b',');
        }
        // INVARIANT: writing JSON to a Vec cannot fail; numbers as serde_json
        // writes them, which is what `canonical::write` does.
        if let Some(ms) = outcome.duration_ms {
            out.extend_from_slice(b"\"duration_ms\":");
            let _ = serde_json::to_writer(&mut *out, &ms);
            out.push(b',');
        }
        if let Some(code) = outcome.exit_code {
            out.extend_from_slice(b"\"exit_code\":");
            let _ = serde_json::to_writer(&mut *out, &code);
            out.push(b',');
        }
        out.extend_from_slice(b"\"succeeded\":");
        out.extend_from_slice(if outcome.succeeded { b"true" } else { b"false" });
        out.extend_from_slice(b"},\"summary\":");
        write_str(&read.summary, out);
        out.push(b'}');
    }
}

/// One `reads.batched` event holding `reads` (decided events for which
/// [`same_batch`] holds pairwise; at least one). The chain then covers each
/// read through the batch's hash, at the cost of one row for all of them.
/// Each entry keeps every field of its event except the ones the batch
/// states once (actor, human, target), the sealing fields, and its empty
/// fields (see `entry`).
pub fn batch_reads(reads: Vec<AuditEvent>) -> AuditEvent {
    let mut batch = batch_event(reads.first());
    let until = reads.last().map(|e| e.at.clone());
    // Built by moving each event's values in: a deep copy through `json!`
    // was most of the writer's time per read.
    let entries: Vec<Value> = reads.into_iter().map(entry).collect();
    batch.details = object([
        ("count", Value::from(entries.len())),
        ("until", until.map_or(Value::Null, Value::String)),
        ("reads", Value::Array(entries)),
    ]);
    batch
}

/// [`batch_reads`] of the reads' events, as the store writes it: the batch
/// event with `details` left null, and the canonical text of the details it
/// would have, written straight from the typed records without building
/// them as JSON values first (the test `rendered_batch_is_the_batch_form`
/// holds the two equal).
pub fn render_batch(reads: &[ReadRecord]) -> (AuditEvent, String) {
    use canonical::write_str;
    let batch = batch_event(reads.first().map(|r| &r.read.event));
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"count\":");
    out.extend_from_slice(reads.len().to_string().as_bytes());
    out.extend_from_slice(b",\"reads\":[");
    for (i, r) in reads.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let start = out.len();
        r.write_entry(&mut out);
        if i == 0 {
            // Reads in a batch are alike: room for the rest at the first's
            // size, so the buffer is not regrown (and copied) as it fills.
            let rest = reads.len() - 1;
            out.reserve((out.len() - start + 64) * rest + 64);
        }
    }
    out.extend_from_slice(b"],\"until\":");
    match reads.last() {
        Some(r) => write_str(&r.read.event.at, &mut out),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
    (batch, canonical::into_string(out))
}

/// The batch event for reads starting with `first`, without its details: it
/// states once what every read shares (actor, human, target) and starts when
/// the first did.
fn batch_event(first: Option<&AuditEvent>) -> AuditEvent {
    let mut batch = AuditEvent::new(
        AuditKind::ReadsBatched,
        first.map(|e| e.actor.clone()).unwrap_or_default(),
        first.map(|e| e.at.clone()).unwrap_or_default(),
    );
    batch.on_behalf_of = first.and_then(|e| e.on_behalf_of.clone());
    batch.target = first.and_then(|e| e.target.clone());
    batch
}

fn drop_empty_outcome_fields(e: &mut AuditEvent) {
    if let Some(Value::Object(outcome)) = e.details.get_mut("outcome") {
        outcome.retain(|_, v| !v.is_null());
    }
}

struct EntryWriter<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl EntryWriter<'_> {
    fn key(&mut self, k: &str) {
        self.out.push(if self.first { b'{' } else { b',' });
        self.first = false;
        canonical::write_str(k, self.out);
        self.out.push(b':');
    }

    fn text(&mut self, k: &str, t: Option<&str>) {
        if let Some(t) = t {
            self.key(k);
            canonical::write_str(t, self.out);
        }
    }

    fn uuid(&mut self, k: &str, u: Option<Uuid>) {
        if let Some(u) = u {
            self.text(
                k,
                Some(u.hyphenated().encode_lower(&mut Uuid::encode_buffer())),
            );
        }
    }

    fn value(&mut self, k: &str, v: &Value) {
        if !v.is_null() {
            self.key(k);
            canonical::write(v, self.out);
        }
    }
}

/// An event as an entry of `reads.batched`. Fields without a value, and
/// those of its outcome, are left out: they are much of an entry, one of
/// thousands in a row, and a reader sees them as null anyway.
fn entry(mut e: AuditEvent) -> Value {
    drop_empty_outcome_fields(&mut e);
    // Inserted in key order, so sealing the batch need not sort them.
    let mut fields = serde_json::Map::with_capacity(10);
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            fields.insert(k.to_owned(), v);
        }
    };
    let uuid = |u: Option<Uuid>| u.map_or(Value::Null, |u| Value::String(u.to_string()));
    let text = |t: Option<String>| t.map_or(Value::Null, Value::String);
    put("action_id", uuid(e.action_id));
    put("approval_id", uuid(e.approval_id));
    put("at", Value::String(e.at));
    put("details", e.details);
    put("fingerprint", text(e.fingerprint));
    put("id", Value::String(e.id.to_string()));
    put("kind", Value::String(e.kind.as_str().to_owned()));
    put("payload", e.payload);
    put("reason", text(e.reason));
    put("trace_id", text(e.trace_id));
    Value::Object(fields)
}

/// A JSON object of owned values, moved in.
fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// Where and how a chain is broken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("event #{seq} ({id}) does not match its hash: it was edited or moved")]
    Edited { seq: i64, id: String },
    #[error("event #{seq} ({id}) does not link to event #{prev_seq}: an event between them was deleted, inserted or reordered")]
    Unlinked { seq: i64, id: String, prev_seq: i64 },
    #[error("event #{seq} ({id}) follows event #{prev_seq}: sequence numbers skip or repeat, so an event was deleted, inserted or reordered")]
    OutOfSequence { seq: i64, id: String, prev_seq: i64 },
    #[error("the log starts at event #{seq} ({id}) instead of #1: earlier events were deleted")]
    MissingStart { seq: i64, id: String },
}

/// Checks a chain incrementally, event by event in `seq` order.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    last: Option<(i64, String)>,
    pub verified: u64,
}

impl ChainVerifier {
    pub fn push(&mut self, e: &AuditEvent) -> Result<(), ChainBreak> {
        let id = e.id.to_string();
        match &self.last {
            None if e.seq != 1 || e.prev_hash != GENESIS_HASH => {
                return Err(ChainBreak::MissingStart { seq: e.seq, id })
            }
            None => {}
            Some((prev_seq, _)) if e.seq != prev_seq + 1 => {
                return Err(ChainBreak::OutOfSequence {
                    seq: e.seq,
                    id,
                    prev_seq: *prev_seq,
                })
            }
            Some((prev_seq, prev_hash)) if e.prev_hash != *prev_hash => {
                return Err(ChainBreak::Unlinked {
                    seq: e.seq,
                    id,
                    prev_seq: *prev_seq,
                })
            }
            Some(_) => {}
        }
        if e.compute_hash() != e.hash {
            return Err(ChainBreak::Edited { seq: e.seq, id });
        }
        self.last = Some((e.seq, e.hash.clone()));
        self.verified += 1;
        Ok(())
    }

    /// The last verified (seq, hash).
    pub fn head(&self) -> Option<&(i64, String)> {
        self.last.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_fixed_width_utc_with_microseconds() {
        use time::macros::datetime;
        for (t, text) in [
            (
                datetime!(2026-12-02 18:42:39.732721 UTC),
                "2026-12-02T18:42:39.732721Z",
            ),
            (
                datetime!(0999-01-09 00:00:00 UTC),
                "0999-01-09T00:00:00.000000Z",
            ),
            (
                datetime!(2026-07-01 01:02:03.000004 +02:00),
                "2026-06-30T23:02:03.000004Z",
            ),
            (
                datetime!(9999-12-31 23:59:59.999999999 UTC),
                "9999-12-31T23:59:59.999999Z",
            ),
        ] {
            assert_eq!(timestamp(t), text);
        }
    }

    #[test]
    fn batched_reads_leave_out_empty_fields_and_keep_the_rest() {
        let read = |i: usize| {
            let mut e = AuditEvent::new(
                AuditKind::ActionDecided,
                "agent:bot",
                "2026-12-02T00:00:00.000000Z".into(),
            );
            e.fingerprint = Some(format!("f{i}"));
            e.payload = json!({ "sql": format!("SELECT {i}") });
            e.details = json!({
                "decision": "allow",
                "outcome": { "succeeded": true, "exit_code": null, "detail": "SELECT 1" },
            });
            e
        };
        let batch = batch_reads(vec![read(0), read(1)]);
        let entries = batch.details["reads"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        for (i, e) in entries.iter().enumerate() {
            let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(
                keys,
                ["at", "details", "fingerprint", "id", "kind", "payload"]
            );
            assert_eq!(e["fingerprint"], format!("f{i}"));
            assert_eq!(e["payload"]["sql"], format!("SELECT {i}"));
            assert_eq!(
                e["details"]["outcome"],
                json!({ "succeeded": true, "detail": "SELECT 1" })
            );
        }
    }

    /// Allowed reads with every kind of field: set and empty, escaped and
    /// not, in every outcome shape.
    fn records() -> Vec<ReadRecord> {
        use crate::{ActionKind, Effect};
        (0..5)
            .map(|i| {
                let mut e = AuditEvent::new(
                    AuditKind::ActionDecided,
                    "agent:bot",
                    format!("2026-12-02T00:00:0{i}.000000Z"),
                );
                e.on_behalf_of = Some("rita".into());
                e.target = Some("db".into());
                let mut read = AllowedRead {
                    event: e,
                    policies: vec!["reads-allowed".into()],
                    effects: BTreeSet::from([Effect::Read]),
                    kind: ActionKind::Sql,
                    summary: "SELECT on t".into(),
                };
                let mut outcome = ExecutionOutcome {
                    succeeded: true,
                    exit_code: None,
                    duration_ms: Some(3),
                    detail: Some("SELECT 1".into()),
                };
                let e = &mut read.event;
                match i % 4 {
                    0 => {
                        e.action_id = Some(Uuid::now_v7());
                        e.fingerprint = Some(format!("f{i}"));
                        e.payload =
                            json!({ "sql": "SELECT 'é\"\\\n\u{1}'", "params": ["x", null] });
                        read.summary = "SELECT on \"t\"\n".into();
                    }
                    1 => {
                        e.approval_id = Some(Uuid::now_v7());
                        e.reason = Some("ticket \u{2028} 42".into());
                        e.trace_id = Some("00-abc-01".into());
                        read.policies.clear();
                        read.effects.clear();
                        read.kind = ActionKind::Exec;
                        read.summary.clear();
                        outcome = ExecutionOutcome {
                            succeeded: false,
                            exit_code: Some(-1),
                            duration_ms: None,
                            detail: None,
                        };
                    }
                    2 => {
                        read.policies = vec!["a".into(), "b\"c".into()];
                        read.effects = BTreeSet::from([Effect::Write, Effect::Read]);
                        read.kind = ActionKind::Http;
                        outcome.exit_code = Some(0);
                        outcome.duration_ms = Some(u64::MAX);
                        outcome.detail = Some("é\u{1}".into());
                    }
                    _ => {
                        e.payload = json!([1, { "b": 2, "a": [true, false] }]);
                        read.kind = ActionKind::McpTool;
                        outcome = ExecutionOutcome {
                            succeeded: false,
                            exit_code: None,
                            duration_ms: None,
                            detail: None,
                        };
                    }
                }
                ReadRecord { read, outcome }
            })
            .collect()
    }

    /// A lone read is written as its plain event; its details are the
    /// serde forms of the decision, effects and outcome, as the gate built
    /// them before reads were typed.
    #[test]
    fn a_read_record_is_its_decided_event() {
        use crate::Decision;
        for r in records() {
            let expected = json!({
                "decision": Decision::Allow { policies: r.read.policies.clone() },
                "effects": r.read.effects,
                "kind": r.read.kind,
                "outcome": {
                    "detail": r.outcome.detail,
                    "duration_ms": r.outcome.duration_ms,
                    "exit_code": r.outcome.exit_code,
                    "succeeded": r.outcome.succeeded,
                },
                "summary": r.read.summary,
            });
            let event = r.clone().into_event();
            assert_eq!(event.details, expected);
            assert_eq!(
                AuditEvent {
                    details: Value::Null,
                    ..event
                },
                r.read.event
            );
        }
    }

    /// The store writes batches from `render_batch`; readers and `verify`
    /// see them as `batch_reads` documents them. The two must be the same bytes.
    #[test]
    fn rendered_batch_is_the_batch_form() {
        let all = records();
        for n in [2, 3, 5] {
            let reads = &all[..n];
            let events = reads.iter().cloned().map(ReadRecord::into_event);
            let mut documented = batch_reads(events.collect());
            let (mut rendered, text) = render_batch(reads);
            assert_eq!(text, canonical::to_string(&documented.details), "{n} reads");
            assert_eq!(
                (
                    &rendered.actor,
                    &rendered.on_behalf_of,
                    &rendered.target,
                    &rendered.at
                ),
                (
                    &documented.actor,
                    &documented.on_behalf_of,
                    &documented.target,
                    &documented.at
                )
            );
            rendered.id = documented.id;
            documented.seal(7, "prev");
            rendered.seal_rendered(7, "prev", text);
            assert_eq!(rendered.hash, documented.hash);
        }
    }

    fn chain(n: usize) -> Vec<AuditEvent> {
        let mut prev = GENESIS_HASH.to_owned();
        (0..n)
            .map(|i| {
                let mut e = AuditEvent::new(
                    AuditKind::ActionDecided,
                    "agent:bot",
                    format!("2026-01-01T00:00:0{i}Z"),
                );
                e.details = json!({"i": i});
                e.seal(i as i64 + 1, &prev);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn verify(events: &[AuditEvent]) -> Result<u64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for e in events {
            v.push(e)?;
        }
        Ok(v.verified)
    }

    /// The hash is written straight from the fields; it must cover exactly
    /// the bytes of the documented form, or existing logs stop verifying.
    #[test]
    fn streamed_form_is_the_hashed_form() {
        let mut full = AuditEvent::new(
            AuditKind::ReviewSubmitted,
            "user:rité \"q\"",
            "2026-01-01T00:00:00.000001Z".into(),
        );
        full.on_behalf_of = Some("olivia".into());
        full.target = Some("prod-db\n\t\u{1}".into());
        full.action_id = Some(Uuid::now_v7());
        full.approval_id = Some(Uuid::now_v7());
        full.fingerprint = Some("ab".repeat(32));
        full.reason = Some("<script>é😀".into());
        full.payload = json!({"sql": "DELETE FROM t", "params": [1, null, 2.5, "x"], "z": {"b": true, "a": []}});
        full.details = json!({"verdict": "approve", "n": -3, "nested": {"k": "v"}});
        full.trace_id = Some("trace-1".into());
        let bare = AuditEvent::new(AuditKind::GatewayStarted, "system", "t".into());
        for (i, mut e) in [full, bare].into_iter().enumerate() {
            e.seal(i as i64 + 41, "prev");
            let documented = canonical::sha256_hex(&e.hashed_form());
            assert_eq!(e.hash, documented, "event {i}");
            assert_eq!(e.compute_hash(), documented);
        }
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
    }

    #[test]
    fn an_edit_is_named() {
        let mut c = chain(5);
        c[2].actor = "user:mallory".into();
        assert!(matches!(verify(&c), Err(ChainBreak::Edited { seq: 3, .. })));
    }

    #[test]
    fn a_deletion_is_named() {
        let mut c = chain(5);
        c.remove(2);
        assert!(matches!(
            verify(&c),
            Err(ChainBreak::OutOfSequence {
                seq: 4,
                prev_seq: 2,
                ..
            })
        ));
    }

    #[test]
    fn a_resealed_insertion_is_named() {
        let mut c = chain(5);
        let mut forged = c[1].clone();
        forged.details = json!({"forged": true});
        forged.seal(3, &c[1].hash);
        c.insert(2, forged);
        // renumber what follows, as a forger would, without the ability to re-link
        for (i, e) in c.iter_mut().enumerate().skip(3) {
            e.seq = i as i64 + 1;
        }
        assert!(matches!(
            verify(&c),
            Err(ChainBreak::Unlinked { seq: 4, .. })
        ));
    }

    #[test]
    fn a_swap_is_named() {
        let mut c = chain(5);
        c.swap(1, 2);
        assert!(verify(&c).is_err());
    }

    #[test]
    fn a_missing_start_is_named() {
        let c = chain(3);
        assert!(matches!(
            verify(&c[1..]),
            Err(ChainBreak::MissingStart { seq: 2, .. })
        ));
    }
}
