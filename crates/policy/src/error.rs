use miette::Diagnostic;
pub use signoff_core::Location;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },
    #[error("{at}: {message}")]
    Annotation { at: Location, message: String },
    #[error("policy id `{id}` is used in both `{first}` and `{second}`; ids must be unique")]
    DuplicateId {
        id: String,
        first: String,
        second: String,
    },
    #[error("no `*.cedar` files in `{0}`; run `signoff init` to write starter policies")]
    NoPolicies(String),
    #[error("cannot read `{path}`: {message}")]
    Io { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// Turns a Cedar diagnostic (parse or validation error) into a located error.
pub(crate) fn from_diagnostic(file: &str, text: &str, d: &dyn Diagnostic) -> PolicyError {
    let mut message = d.to_string();
    if let Some(help) = d.help() {
        message.push_str(&format!(" ({help})"));
    }
    // Parse errors nest the detail in `related`.
    if let Some(first) = d.related().and_then(|mut r| r.next()) {
        if let Some(inner) = first.labels().and_then(|mut l| l.next()) {
            let mut inner_msg = first.to_string();
            if let Some(help) = first.help() {
                inner_msg.push_str(&format!(" ({help})"));
            }
            return PolicyError::Syntax {
                at: Location::at_offset(file, text, inner.offset()),
                message: inner_msg,
            };
        }
    }
    let offset = d
        .labels()
        .and_then(|mut l| l.next())
        .map(|l| l.offset())
        .unwrap_or(0);
    PolicyError::Syntax {
        at: Location::at_offset(file, text, offset),
        message,
    }
}
