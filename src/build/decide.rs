//! Deciding a stage: its inputs' content hashes → its fingerprint → its key → a store hit or a
//! miss, with the [`Reason`] it must run.
//!
//! Rules it keeps: a key is decided from the *content* of the inputs (a file's hash, an upstream
//! object's name), never from timestamps, so a stage that reruns with identical output leaves its
//! dependents reused (early cutoff); a source is hashed through the stat cache, so a no-op build
//! reads no workbook; the month state's copy of a record saves opening it; deciding writes
//! nothing but the stat cache (and deletes a corrupt object, unless the store is read-only).

use std::collections::BTreeMap;
use std::fmt;

use super::Built;
use super::context::Context;
use super::outcome::SkipReason;
use crate::graph::{StageId, StageKind};
use crate::month::Month;
use crate::sources::SourceError;
use crate::store::{Change, Fingerprint, ObjectHash, ObjectState, StageKey, StageRecord};

/// What one input of a stage stands as, for deciding the stage.
pub(super) enum InputState {
    /// Built (ran or reused) with this output.
    Usable(ObjectHash),
    /// Plan only: it would run, so its output is not known yet.
    WouldRun,
    /// Build only: it ran and published a draft of its output, not stored yet.
    Drafted,
    /// It failed or was skipped.
    Unusable(super::Action),
    /// It has no outcome at all.
    Missing,
}

/// What a stage's inputs resolved to.
pub(super) enum Inputs {
    Ready(BTreeMap<String, ObjectHash>),
    /// A source whose file cannot be hashed (missing, unreadable).
    Unreadable(SourceError),
    /// An upstream stage failed or was skipped.
    Blocked(SkipReason),
    /// Plan only: an upstream stage would run, so this stage's inputs are not known yet.
    Pending(Vec<String>),
    /// Build only: an upstream stage's output is a draft, being stored ([`super::draft`]).
    Drafted,
}

/// Why a stage must run (or, for a hit, `Unchanged`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reason {
    Unchanged,
    FirstBuild(Month),
    Changed(Vec<Change>),
    /// The key differs, but no field of the fingerprint says why (an older store format).
    DefinitionChanged,
    OutputMissing,
    CorruptOutput(ObjectHash),
    Forced,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Unchanged => f.write_str("unchanged"),
            Reason::FirstBuild(month) => write!(f, "first build of {month}"),
            Reason::Changed(changes) => {
                let words: Vec<String> = changes.iter().map(Change::to_string).collect();
                f.write_str(&words.join(", "))
            }
            Reason::DefinitionChanged => f.write_str("definition changed"),
            Reason::OutputMissing => f.write_str("output missing from the store"),
            Reason::CorruptOutput(object) => {
                write!(f, "stored output {} was corrupt", object.short())
            }
            Reason::Forced => f.write_str("--force"),
        }
    }
}

/// A stage's decided key, and the record to reuse when the store has one.
pub(super) struct Decision {
    pub(crate) fingerprint: Fingerprint,
    pub(crate) key: StageKey,
    pub(crate) hit: Option<StageRecord>,
    pub(crate) reason: Reason,
    /// A stored output for this key that failed verification (and was deleted).
    pub(crate) corrupt: Option<ObjectHash>,
}

/// What an input looks like to a stage that reads it.
pub(super) trait InputView: Sync {
    fn input(&self, id: StageId) -> Option<&Built>;
}

impl InputView for super::scheduler::View<'_, Built> {
    fn input(&self, id: StageId) -> Option<&Built> {
        self.get(id)
    }
}

impl Context<'_> {
    /// The content hash of a source's file, through the stat cache.
    pub(crate) fn source_hash(&self, file: &str) -> Result<ObjectHash, SourceError> {
        let input = self.source_file(file);
        match self.store.hash_input(&input) {
            Ok((hash, _)) => Ok(hash),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(self.missing_source(file)),
            Err(e) => Err(SourceError::Io {
                file: file.to_string(),
                message: e.to_string(),
            }),
        }
    }

    /// A source's one input: its file and the file's content hash, through the stat cache.
    pub(crate) fn source_input(
        &self,
        id: StageId,
    ) -> Result<BTreeMap<String, ObjectHash>, SourceError> {
        let file = &self.project.sources[self.name(id)].file;
        Ok(BTreeMap::from([(file.clone(), self.source_hash(file)?)]))
    }

    /// The key `id` has over `inputs` with its definition as the project states it now.
    pub(crate) fn key_over(&self, id: StageId, inputs: BTreeMap<String, ObjectHash>) -> StageKey {
        Fingerprint::new(self.name(id), self.kind(id), self.definition(id), inputs).key()
    }

    /// The content hashes of `id`'s inputs, each input's state given by `state_of`.
    pub(crate) fn resolve_inputs(
        &self,
        id: StageId,
        state_of: &dyn Fn(StageId) -> InputState,
    ) -> Inputs {
        let node = self.graph.node(id);
        if node.kind == StageKind::Source {
            return match self.source_input(id) {
                Ok(inputs) => Inputs::Ready(inputs),
                Err(e) => Inputs::Unreadable(e),
            };
        }
        let mut hashes = BTreeMap::new();
        let mut pending = Vec::new();
        let mut drafted = false;
        for &input in &node.inputs {
            let stage = self.name(input).to_string();
            match state_of(input) {
                InputState::Usable(object) => {
                    hashes.insert(stage, object);
                }
                InputState::WouldRun => pending.push(stage),
                InputState::Drafted => drafted = true,
                InputState::Unusable(action) => {
                    return Inputs::Blocked(SkipReason::Upstream { stage, action });
                }
                InputState::Missing => {
                    return Inputs::Blocked(SkipReason::UpstreamMissing { stage });
                }
            }
        }
        if drafted {
            Inputs::Drafted
        } else if pending.is_empty() {
            Inputs::Ready(hashes)
        } else {
            Inputs::Pending(pending)
        }
    }

    /// The state of each input in a build: what the scheduler holds of it.
    pub(crate) fn built_input(view: &dyn InputView, input: StageId) -> InputState {
        match view.input(input) {
            None => InputState::Missing,
            Some(built) => match (built.object(), built.outcome.action.is_usable()) {
                (Some(object), true) => InputState::Usable(object),
                (None, true) if built.draft.as_ref().is_some_and(|d| d.is_pending()) => {
                    InputState::Drafted
                }
                _ => InputState::Unusable(built.outcome.action),
            },
        }
    }

    /// Decides the stage's key and whether the store can serve it.
    pub(crate) fn decide(&self, id: StageId, inputs: BTreeMap<String, ObjectHash>) -> Decision {
        let name = self.name(id);
        let fingerprint = Fingerprint::new(name, self.kind(id), self.definition(id), inputs);
        let key = fingerprint.key();
        let mut reason = self.reason(name, &fingerprint, &key);
        let mut hit = None;
        let mut corrupt = None;
        // The month's state holds a copy of the current record: a no-op opens no record file.
        let record = match self.previous.get(name) {
            Some(entry) if entry.key == key && entry.record.is_some() => entry.record.clone(),
            _ => self.store.stage_record(&key),
        };
        if let Some(record) = record {
            match self.store.check_object(&record.object) {
                ObjectState::Intact => hit = Some(record),
                ObjectState::Missing => reason = Reason::OutputMissing,
                ObjectState::Corrupt => {
                    reason = Reason::CorruptOutput(record.object.clone());
                    corrupt = Some(record.object);
                }
            }
        }
        if self.force && self.selected.contains(&id) {
            hit = None;
            reason = Reason::Forced;
        }
        Decision {
            fingerprint,
            key,
            hit,
            reason,
            corrupt,
        }
    }

    fn reason(&self, stage: &str, fingerprint: &Fingerprint, key: &StageKey) -> Reason {
        match self.previous.get(stage) {
            None => Reason::FirstBuild(self.month),
            Some(previous) if previous.key == *key => Reason::OutputMissing,
            Some(previous) => {
                let changes = fingerprint.changes_since(&previous.fingerprint);
                if changes.is_empty() {
                    Reason::DefinitionChanged
                } else {
                    Reason::Changed(changes)
                }
            }
        }
    }
}
