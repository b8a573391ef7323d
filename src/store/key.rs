//! Stage keys: blake3 over a serialized [`Fingerprint`] of everything that decides a stage's output.
//!
//! The fingerprint is a `#[derive(Serialize)]` struct written as JSON: field names, string escaping
//! and (sorted) maps make the encoding unambiguous, so two different definitions can never encode to
//! the same bytes, which plain concatenation could not promise. The fingerprint is also kept per
//! month so `plan` can say *which* part changed ([`Change`]).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::hash::{ObjectHash, StageKey};
use crate::graph::StageKind;

/// Bumped whenever the store layout or the meaning of a fingerprint changes.
pub(crate) const STORE_FORMAT: u32 = 1;

/// The version of this build of winebuild; part of every key.
pub(crate) const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything that decides a stage's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Fingerprint {
    pub(crate) store_format: u32,
    pub(crate) tool_version: String,
    pub(crate) stage: String,
    pub(crate) kind: StageKind,
    /// The stage's own definition (SQL text, settings, source options) as named fields.
    pub(crate) definition: serde_json::Value,
    /// Content hash of each input: a source's file, or an upstream stage's output object.
    pub(crate) inputs: BTreeMap<String, ObjectHash>,
}

/// One way a fingerprint differs from the previous one, as `plan` and the build lines say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    ToolVersion { from: String, to: String },
    Sql,
    Setting(String),
    File(String),
    Upstream(String),
    NewInput(String),
    InputRemoved(String),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::ToolVersion { from, to } => {
                write!(f, "winebuild version changed ({from} → {to})")
            }
            Change::Sql => f.write_str("model SQL changed"),
            Change::Setting(name) => write!(f, "setting `{name}` changed"),
            Change::File(name) => write!(f, "file `{name}` changed"),
            Change::Upstream(name) => write!(f, "upstream `{name}` changed"),
            Change::NewInput(name) => write!(f, "new input `{name}`"),
            Change::InputRemoved(name) => write!(f, "input `{name}` removed"),
        }
    }
}

impl Fingerprint {
    pub(crate) fn new(
        stage: &str,
        kind: StageKind,
        definition: serde_json::Value,
        inputs: BTreeMap<String, ObjectHash>,
    ) -> Fingerprint {
        Fingerprint {
            store_format: STORE_FORMAT,
            tool_version: TOOL_VERSION.to_string(),
            stage: stage.to_string(),
            kind,
            definition,
            inputs,
        }
    }

    pub(crate) fn key(&self) -> StageKey {
        let encoded = serde_json::to_vec(self).unwrap_or_default();
        StageKey::of_encoded(&encoded)
    }

    /// How `self` differs from `previous`, most decisive first.
    pub(crate) fn changes_since(&self, previous: &Fingerprint) -> Vec<Change> {
        let mut changes = Vec::new();
        if self.store_format != previous.store_format || self.tool_version != previous.tool_version
        {
            changes.push(Change::ToolVersion {
                from: previous.tool_version.clone(),
                to: self.tool_version.clone(),
            });
        }
        changes.extend(definition_changes(&previous.definition, &self.definition));
        for (name, hash) in &self.inputs {
            match previous.inputs.get(name) {
                None => changes.push(Change::NewInput(name.clone())),
                Some(old) if old != hash => changes.push(match self.kind {
                    StageKind::Source => Change::File(name.clone()),
                    _ => Change::Upstream(name.clone()),
                }),
                Some(_) => {}
            }
        }
        for name in previous.inputs.keys() {
            if !self.inputs.contains_key(name) {
                changes.push(Change::InputRemoved(name.clone()));
            }
        }
        changes
    }
}

fn definition_changes(old: &serde_json::Value, new: &serde_json::Value) -> Vec<Change> {
    let empty = serde_json::Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let mut fields: Vec<&String> = old.keys().chain(new.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter(|field| old.get(*field) != new.get(*field))
        .map(|field| match field.as_str() {
            "sql" => Change::Sql,
            other => Change::Setting(other.to_string()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hash(text: &str) -> ObjectHash {
        ObjectHash::of(text.as_bytes())
    }

    fn fingerprint(definition: serde_json::Value, inputs: &[(&str, &str)]) -> Fingerprint {
        let inputs = inputs
            .iter()
            .map(|(a, b)| (a.to_string(), hash(b)))
            .collect();
        Fingerprint::new("m", StageKind::Model, definition, inputs)
    }

    #[test]
    fn moving_text_between_fields_changes_the_key() {
        // With plain concatenation "ab" + "c" and "a" + "bc" would collide.
        let a = fingerprint(json!({"sql": "ab", "key": ["c"]}), &[]);
        let b = fingerprint(json!({"sql": "a", "key": ["bc"]}), &[]);
        assert_ne!(a.key(), b.key());
        let c = fingerprint(json!({"sql": "x"}), &[("a", "bc")]);
        let d = fingerprint(json!({"sql": "x"}), &[("ab", "c")]);
        assert_ne!(c.key(), d.key());
    }

    #[test]
    fn a_new_winebuild_version_changes_every_key_and_says_so() {
        let new = fingerprint(json!({"sql": "a"}), &[]);
        let mut old = new.clone();
        old.tool_version = "0.0.1".into();
        assert_ne!(new.key(), old.key());
        assert_eq!(
            new.changes_since(&old)[0].to_string(),
            format!("winebuild version changed (0.0.1 → {TOOL_VERSION})")
        );
    }

    #[test]
    fn changes_name_the_field_and_the_input() {
        let old = fingerprint(json!({"sql": "a", "key": []}), &[("erp", "1")]);
        let new = fingerprint(json!({"sql": "b", "key": ["id"]}), &[("erp", "2")]);
        let words: Vec<String> = new
            .changes_since(&old)
            .iter()
            .map(Change::to_string)
            .collect();
        assert_eq!(
            words,
            vec![
                "setting `key` changed",
                "model SQL changed",
                "upstream `erp` changed"
            ]
        );
    }
}
