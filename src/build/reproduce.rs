//! `winebuild build --check`: is the month's build reproducible? Every selected stage is run
//! again apart from the cache, in memory (the scratch area: nothing is written anywhere), over
//! the stored outputs of its inputs, and its bytes are compared with the stored output's.
//!
//! Rules it keeps:
//! - the store (opened read-only), the month state, the stat cache, the archive and `out/` are
//!   not changed;
//! - a stage is checked only against an output that is current for its key as the project and
//!   its files stand now: an out-of-date or missing output is said so (build first), never
//!   compared;
//! - each stage reruns over its inputs' *stored* outputs, so a difference is that stage's own,
//!   not one carried from upstream;
//! - a stage whose bytes differ is shown with its first differing rows, as `diff` shows them.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::context::Context;
use super::{BuildError, BuildOptions};
use crate::diff::ModelDiff;
use crate::graph::{StageId, StageKind};
use crate::month::Month;
use crate::project::Project;
use crate::store::{MonthEntry, ObjectHash, Store};
use crate::table::Table;

/// What rerunning a stage showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    /// Rerun, same bytes.
    Reproducible,
    /// Rerun, other bytes.
    Differs,
    /// No output is current for the stage: it cannot be compared until it is built.
    NotBuilt,
    /// Rerunning failed (a source gone, a query error).
    Error,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Reproducible => "reproducible",
            Verdict::Differs => "differs",
            Verdict::NotBuilt => "not current",
            Verdict::Error => "error",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct StageCheck {
    pub(crate) stage: String,
    pub(crate) kind: StageKind,
    pub(crate) verdict: Verdict,
    pub(crate) rows: Option<u64>,
    /// Why it could not be compared, or how an export's bytes differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) detail: Option<String>,
    /// Stored output → rerun output, for a source or model that differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) diff: Option<ModelDiff>,
    pub(crate) duration_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Reproduction {
    pub(crate) month: Month,
    pub(crate) stages: Vec<StageCheck>,
}

impl Reproduction {
    pub(crate) fn count(&self, verdict: Verdict) -> usize {
        self.stages.iter().filter(|s| s.verdict == verdict).count()
    }

    pub(crate) fn exit_status(&self) -> super::ExitStatus {
        if self.count(Verdict::Error) + self.count(Verdict::NotBuilt) > 0 {
            super::ExitStatus::Error
        } else if self.count(Verdict::Differs) > 0 {
            super::ExitStatus::Problems
        } else {
            super::ExitStatus::Success
        }
    }
}

/// Reruns the selected stages of the month's build and compares their bytes with the store's.
pub(crate) fn check_reproducible(
    project: &Project,
    options: &BuildOptions,
) -> Result<Reproduction, BuildError> {
    let store = Store::open_read_only(&project.root);
    let ctx = Context::new(project, options, &store)?;
    let stages = ctx
        .graph
        .in_order()
        .into_iter()
        .filter(|id| ctx.selected.contains(id))
        .map(|id| ctx.reproduce(id))
        .collect();
    Ok(Reproduction {
        month: ctx.month,
        stages,
    })
}

/// Why a stage was not compared, or rerunning it failed.
struct NotCompared(Verdict, String);

impl Context<'_> {
    fn reproduce(&self, id: StageId) -> StageCheck {
        let started = Instant::now();
        let mut check = StageCheck {
            stage: self.name(id).to_string(),
            kind: self.kind(id),
            verdict: Verdict::Reproducible,
            rows: None,
            detail: None,
            diff: None,
            duration_ms: 0.0,
        };
        match self
            .current_entry(id)
            .and_then(|entry| self.compare_rerun(id, entry, &mut check))
        {
            Ok(()) => {}
            Err(NotCompared(verdict, detail)) => {
                check.verdict = verdict;
                check.detail = Some(detail);
            }
        }
        check.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        check
    }

    /// The month state's entry for `id`, if its output is current for the project as it stands.
    fn current_entry(&self, id: StageId) -> Result<&MonthEntry, NotCompared> {
        let name = self.name(id);
        let not_built = |why: String| NotCompared(Verdict::NotBuilt, why);
        let entry = self
            .previous
            .get(name)
            .ok_or_else(|| not_built(format!("no build of {} has an output for it", self.month)))?;
        let inputs = match self.kind(id) {
            StageKind::Source => self
                .source_input(id)
                .map_err(|e| NotCompared(Verdict::Error, e.to_string()))?,
            _ => self
                .graph
                .node(id)
                .inputs
                .iter()
                .map(|&input| {
                    let input = self.name(input);
                    self.previous
                        .get(input)
                        .map(|e| (input.to_string(), e.object.clone()))
                        .ok_or_else(|| not_built(format!("its input `{input}` has no output")))
                })
                .collect::<Result<_, _>>()?,
        };
        if self.key_over(id, inputs) != entry.key {
            return Err(not_built("its stored output is out of date".into()));
        }
        Ok(entry)
    }

    /// Reruns `id` over its inputs' stored outputs and compares the bytes with `entry`'s.
    fn compare_rerun(
        &self,
        id: StageId,
        entry: &MonthEntry,
        check: &mut StageCheck,
    ) -> Result<(), NotCompared> {
        let failed = |message: String| NotCompared(Verdict::Error, message);
        let stored = self
            .store
            .read_object(&entry.object)
            .map_err(|_| failed("its stored output is missing or corrupt: build again".into()))?;
        let name = self.name(id);
        let (bytes, table) = match self.kind(id) {
            StageKind::Source => {
                let def = &self.project.sources[name];
                let input = self.source_file(&def.file);
                let read = input.read().map_err(|e| failed(e.to_string()))?;
                if entry.fingerprint.inputs.get(&def.file) != Some(&ObjectHash::of(&read)) {
                    return Err(NotCompared(
                        Verdict::NotBuilt,
                        "its file changed while it was checked".into(),
                    ));
                }
                let shown = input.shown(&self.project.root);
                let table = crate::sources::read_source(def, &shown, read, &self.project.limits)
                    .map_err(|e| failed(e.to_string()))?
                    .table;
                (encode(&table).map_err(failed)?, Some(table))
            }
            StageKind::Model => {
                let table = crate::engine::run_model(
                    &self.project.models[name],
                    &self.stored_inputs(id).map_err(failed)?,
                    &self.stage_names,
                    &self.project.query_limits,
                )
                .map_err(|e| failed(e.to_string()))?;
                (encode(&table).map_err(failed)?, Some(table))
            }
            StageKind::Export => {
                let rendered = crate::export::render(
                    name,
                    &self.project.exports[name],
                    &self.stored_inputs(id).map_err(failed)?,
                )
                .map_err(|e| failed(e.to_string()))?;
                (rendered.bytes, None)
            }
        };
        check.rows = Some(entry.rows);
        if bytes == stored {
            return Ok(());
        }
        check.verdict = Verdict::Differs;
        match table {
            Some(rerun) => {
                let before = Table::from_parquet(stored).map_err(|e| failed(e.to_string()))?;
                let key = self
                    .project
                    .models
                    .get(name)
                    .map(|m| m.key_columns.clone())
                    .unwrap_or_default();
                check.diff = Some(
                    crate::diff::compare_tables(name, &key, &before, &rerun)
                        .map_err(|e| failed(e.to_string()))?,
                );
            }
            None => check.detail = Some(first_difference(&stored, &bytes)),
        }
        Ok(())
    }

    /// The stored outputs of `id`'s inputs, decoded.
    fn stored_inputs(&self, id: StageId) -> Result<Vec<(String, Arc<Table>)>, String> {
        self.graph
            .node(id)
            .inputs
            .iter()
            .map(|&input| {
                let name = self.name(input);
                let object = &self.previous[name].object;
                self.load_table(name, object)
                    .map(|table| (name.to_string(), table))
                    .map_err(|e| e.to_string())
            })
            .collect()
    }
}

fn encode(table: &Table) -> Result<Vec<u8>, String> {
    table
        .to_parquet()
        .map_err(|e| format!("cannot encode the output: {e}"))
}

/// Where two renderings of an export part: the first differing line of a text file, else the
/// first differing byte.
fn first_difference(stored: &[u8], rerun: &[u8]) -> String {
    if let (Ok(before), Ok(after)) = (std::str::from_utf8(stored), std::str::from_utf8(rerun)) {
        let mut lines = before.lines().zip(after.lines()).enumerate();
        if let Some((number, (was, now))) = lines.find(|(_, (a, b))| a != b) {
            return format!("line {}: `{was}` → `{now}`", number + 1);
        }
        return format!(
            "{} lines → {} lines",
            before.lines().count(),
            after.lines().count()
        );
    }
    let at = stored
        .iter()
        .zip(rerun)
        .position(|(a, b)| a != b)
        .unwrap_or(stored.len().min(rerun.len()));
    format!(
        "{} bytes → {} bytes, first difference at byte {at}",
        stored.len(),
        rerun.len()
    )
}
