//! What an upstream's tools say of themselves: the `annotations` of its
//! `tools/list` answers (`destructiveHint`, `readOnlyHint`, `title`, …),
//! kept per target so a held call's reviewers can read them.
//!
//! INVARIANT: annotations never reach a decision or a fingerprint. The
//! upstream wrote them and nothing vouches for them; they are shown, labelled
//! as the tool's own claim, and that is all.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

/// Tools remembered per target; an upstream listing more is not remembered
/// past this (its calls are still gated, their reviewers see no annotations).
const MAX_TOOLS: usize = 4096;
/// A tool's annotations larger than this, as JSON, are not kept.
const MAX_BYTES: usize = 4096;

/// The annotations an upstream last declared, by tool name; shared by every
/// session to one target. Every `tools/call` looks its tool up, so a lookup
/// is a read lock and a reference count, not a copy: only a held call's
/// request copies them.
#[derive(Clone, Default)]
pub struct KnownAnnotations(Arc<RwLock<HashMap<String, Arc<Value>>>>);

impl KnownAnnotations {
    /// Remembers what one `tools/list` page says: each tool's annotations
    /// replace what was known of it, and a tool listed without them is
    /// forgotten.
    pub fn learn<'a>(&self, tools: impl IntoIterator<Item = (&'a str, Option<Value>)>) {
        let Ok(mut known) = self.0.write() else {
            return;
        };
        for (name, annotations) in tools {
            let kept = annotations.filter(|a| {
                a.as_object().is_some_and(|o| !o.is_empty())
                    && serde_json::to_string(a).is_ok_and(|s| s.len() <= MAX_BYTES)
            });
            match kept {
                Some(a) if known.contains_key(name) || known.len() < MAX_TOOLS => {
                    known.insert(name.to_owned(), Arc::new(a));
                }
                Some(_) => {}
                None => {
                    known.remove(name);
                }
            }
        }
    }

    /// Remembers the tools of a raw `tools/list` result.
    pub fn learn_json(&self, tools: &[Value]) {
        self.learn(tools.iter().filter_map(|t| {
            let name = t.get("name")?.as_str()?;
            Some((name, t.get("annotations").cloned()))
        }));
    }

    /// What `tool` last said of itself, if anything.
    pub fn of(&self, tool: &str) -> Option<Arc<Value>> {
        self.0.read().ok()?.get(tool).cloned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// What `known` says of `tool`, as a value.
    fn said(known: &KnownAnnotations, tool: &str) -> Option<Value> {
        known.of(tool).map(Arc::unwrap_or_clone)
    }

    #[test]
    fn the_latest_list_is_what_is_known() {
        let known = KnownAnnotations::default();
        known.learn_json(&[
            json!({ "name": "delete", "annotations": { "destructiveHint": true } }),
            json!({ "name": "echo", "annotations": { "readOnlyHint": true } }),
            json!({ "name": "plain" }),
            json!({ "annotations": { "destructiveHint": false } }),
        ]);
        assert_eq!(
            said(&known, "delete"),
            Some(json!({ "destructiveHint": true }))
        );
        assert_eq!(said(&known, "echo"), Some(json!({ "readOnlyHint": true })));
        assert_eq!(said(&known, "plain"), None);
        // A later list changes one tool and drops another's annotations.
        known.learn_json(&[
            json!({ "name": "delete", "annotations": { "destructiveHint": false } }),
            json!({ "name": "echo", "annotations": {} }),
        ]);
        assert_eq!(
            said(&known, "delete"),
            Some(json!({ "destructiveHint": false }))
        );
        assert_eq!(said(&known, "echo"), None);
    }

    #[test]
    fn hostile_lists_are_bounded() {
        let known = KnownAnnotations::default();
        let huge = "x".repeat(MAX_BYTES);
        known.learn_json(&[
            json!({ "name": "big", "annotations": { "title": huge } }),
            json!({ "name": "odd", "annotations": "destructive" }),
        ]);
        assert_eq!(said(&known, "big"), None);
        assert_eq!(said(&known, "odd"), None);
        let many: Vec<Value> = (0..MAX_TOOLS + 10)
            .map(|i| json!({ "name": format!("t{i}"), "annotations": { "readOnlyHint": true } }))
            .collect();
        known.learn_json(&many);
        assert!(said(&known, "t0").is_some());
        assert_eq!(said(&known, &format!("t{}", MAX_TOOLS + 5)), None);
        // A tool already known is still updated when the map is full.
        known.learn_json(&[json!({ "name": "t0", "annotations": { "readOnlyHint": false } })]);
        assert_eq!(said(&known, "t0"), Some(json!({ "readOnlyHint": false })));
    }
}
