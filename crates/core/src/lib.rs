//! signoff's domain core.
//!
//! Everything here is pure: no files, no sockets, no clocks (callers pass `now`).
//! The types are the vocabulary of `DESIGN.md` §2 and the rules are its invariants §3.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod action;
pub mod approval;
pub mod audit;
pub mod canonical;
pub mod classification;
pub mod decision;
pub mod directory;
pub mod duration;
pub mod location;
pub mod principal;
pub mod scram;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use action::{Action, ActionKind, Fingerprint, Payload, TargetName};
pub use approval::{
    ApprovalRequest, ApprovalStatus, CancelError, Grant, GrantError, GrantMode, NewRequest, Review,
    ReviewError, ReviewOutcome, Reviewer, Verdict,
};
pub use audit::{
    AllowedRead, AuditEvent, AuditKind, ChainBreak, ExecutionOutcome, ReadRecord, GENESIS_HASH,
};
pub use classification::{Classification, Effect, Facts};
pub use decision::{ApprovalRequirement, Decision};
pub use directory::{AgentEntry, Directory, TargetEntry, TargetMasking, UserEntry};
pub use location::Location;
pub use principal::{AuthMethod, Caller, Principal, PrincipalParseError};
pub use scram::ScramVerifier;
