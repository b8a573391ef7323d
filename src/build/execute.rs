//! Executing one stage: reuse what the store holds, or read a source, run a model's query, render
//! an export; store the output; run the model's checks.
//!
//! Rules it keeps:
//! - the bytes a source is parsed from are the bytes its key was decided from: if the file
//!   changed in between, the stage is decided again ([`RunError::SourceChanged`]);
//! - objects are stored before the records that name them, and only for a stage that succeeded;
//! - a reused export whose file was deleted or edited is written again from the store;
//! - a failing error-check fails the stage (its output stays the month's current one, so `test`
//!   and `show` see what failed); its dependents are the scheduler's business.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::check_env::{BuildEnv, Used};
use super::context::{CheckIndex, Context};
use super::decide::{Decision, InputView, Reason};
use super::draft::{Draft, DraftGuard};
use super::outcome::Action;
use super::placement::Ran;
use super::{Built, StageError, StageState, check_index_json};
use crate::checks::{self, CheckStatus};
use crate::cluster::Engine;
use crate::export;
use crate::files::write_atomic;
use crate::graph::{StageId, StageKind};
use crate::sources::{self, SourceError};
use crate::store::statcache::{FileStat, now_ns};
use crate::store::{ObjectHash, StageRecord, StoreError, Watched};
use crate::table::{ColumnInfo, Table};
use crate::text::quoted_list;

/// Why running a stage did not give an output.
pub(super) enum RunError {
    /// The file changed between its hashing and its reading: decide again.
    SourceChanged,
    /// The file exists but could not be read (locked, permissions): worth another try.
    Unreadable(SourceError),
    Stage(StageError),
}

impl From<StageError> for RunError {
    fn from(error: StageError) -> Self {
        RunError::Stage(error)
    }
}

/// What running a stage produced, before it is stored.
struct Produced {
    output: Output,
    rows: u64,
    columns: Vec<ColumnInfo>,
    wrote: Option<String>,
    warnings: Vec<String>,
    /// What this run alone warns about (a cluster that was down): said now, never replayed.
    notes: Vec<String>,
    engine: Engine,
}

/// A stage's output before it is stored.
enum Output {
    /// A source's or a model's table: encoded as Parquet to be stored, and kept in memory for
    /// dependents.
    Table(Table),
    /// An export's file, as written.
    File(Vec<u8>),
}

impl Context<'_> {
    /// A stage the store serves. A reused export whose file is missing or edited is restored.
    pub(crate) fn reuse(
        &self,
        id: StageId,
        decision: &Decision,
        record: &StageRecord,
        started_ms: f64,
    ) -> Built {
        let mut outcome = self.outcome(id, Action::Reused, Reason::Unchanged.to_string());
        outcome.started_ms = started_ms;
        outcome.key = Some(decision.key.clone());
        outcome.object = Some(record.object.clone());
        outcome.rows = Some(record.rows);
        outcome.columns.clone_from(&record.columns);
        // As cargo replays a crate's warnings: what the data warned about is said every build.
        outcome.warnings.clone_from(&record.warnings);
        outcome.engine = record.engine;
        if self.kind(id) == StageKind::Export {
            match self.restore_export(id, &record.object) {
                Ok(Some(wrote)) => {
                    outcome.reason = format!("restored {wrote}");
                    outcome.wrote = Some(wrote);
                }
                Ok(None) => {}
                Err(error) => return self.failure(id, &error, started_ms),
            }
        }
        outcome.duration_ms = self.elapsed_ms() - started_ms;
        Built {
            outcome,
            state: Some(Box::new(StageState {
                fingerprint: decision.fingerprint.clone(),
                record: record.clone(),
                checks: CheckIndex::new(),
            })),
            draft: None,
        }
    }

    /// Runs a stage whose key is decided, stores its output and its record. A table is first
    /// published as a draft (see [`Context::publish_draft`]); `ahead` is the model's query
    /// already run on its inputs' drafts.
    pub(crate) fn run(
        &self,
        id: StageId,
        decision: &Decision,
        view: &dyn InputView,
        started_ms: f64,
        publish: &dyn Fn(&Built) -> bool,
        ahead: Option<Result<Ran, StageError>>,
    ) -> Result<Built, RunError> {
        let produced = match self.kind(id) {
            StageKind::Source => self.produce_source(id, decision)?,
            StageKind::Model => self.produce_model(id, view, ahead)?,
            StageKind::Export => self.produce_export(id, view)?,
        };
        // What the data warned about is kept with the output and said again whenever it is
        // reused; a corrupt object found on the way concerns this run only.
        let warnings = produced.warnings;
        let mut said: Vec<String> = decision
            .corrupt
            .iter()
            .map(|object| {
                format!("stored output {object} did not match its hash; deleted and rebuilt")
            })
            .collect();
        said.extend(produced.notes);
        said.extend(warnings.iter().cloned());
        let (bytes, table, draft) = match produced.output {
            Output::File(bytes) => (bytes, None, None),
            Output::Table(table) => {
                let table = Arc::new(table);
                let draft = self.publish_draft(id, decision, &table, started_ms, publish);
                let bytes = table.to_parquet().map_err(|e| encode_error(&e))?;
                (bytes, Some(table), draft)
            }
        };
        let object = self.store.put_object(&bytes).map_err(StageError::from)?;
        if let Some(table) = table {
            // Dependents in this build read the table from memory, not back from the store.
            self.tables.insert(&object, table);
        }
        if let Some(draft) = draft {
            draft.stored(object.clone());
        }
        let duration_ms = self.elapsed_ms() - started_ms;
        let record = StageRecord {
            stage: self.name(id).to_string(),
            kind: self.kind(id),
            key: decision.key.clone(),
            object: object.clone(),
            bytes: bytes.len() as u64,
            rows: produced.rows,
            columns: produced.columns.clone(),
            duration_ms,
            warnings: warnings.clone(),
            engine: produced.engine,
            checks: BTreeMap::new(),
        };
        // A model with checks stores its record once they have run, with their results
        // (`with_checks`): one file rather than one more per check.
        if self.checked_model(id).is_none() {
            self.store
                .put_stage_record(&record)
                .map_err(StageError::from)?;
        }
        // Shared in the background while the build goes on; the remote reports its own faults.
        self.store.share_stage(&record, bytes::Bytes::from(bytes));
        let mut outcome = self.outcome(id, Action::Ran, decision.reason.to_string());
        outcome.started_ms = started_ms;
        outcome.duration_ms = duration_ms;
        outcome.key = Some(decision.key.clone());
        outcome.object = Some(object);
        outcome.rows = Some(produced.rows);
        outcome.warnings = said;
        outcome.engine = produced.engine;
        outcome.columns = produced.columns;
        outcome.wrote = produced.wrote;
        Ok(Built {
            outcome,
            state: Some(Box::new(StageState {
                fingerprint: decision.fingerprint.clone(),
                record,
                checks: CheckIndex::new(),
            })),
            draft: None,
        })
    }

    /// Publishes `table`, the output of `id` about to be encoded and stored, as a draft: a model
    /// that reads it runs its query on it meanwhile, on the core the encoding leaves free.
    /// Returns what settles the draft, or `None` when no model reads the stage, when the project
    /// has a cluster (a model that runs there reads its inputs' stored objects), or when the table
    /// is large enough to be encoded on every core: no core is left, and a dependent that turns
    /// out reused only slows the encoding down (the 100x rebuild after `web.xlsx` changed, where
    /// `web_dedup` is reused every other time, took 1,627 ms with drafts of every size and 1,544
    /// without drafts of large tables).
    fn publish_draft(
        &self,
        id: StageId,
        decision: &Decision,
        table: &Arc<Table>,
        started_ms: f64,
        publish: &dyn Fn(&Built) -> bool,
    ) -> Option<DraftGuard> {
        if self.project.cluster.is_some()
            || table.num_rows() >= crate::table::PARALLEL_FROM_ROWS
            || !self.read_by_a_model(id)
        {
            return None;
        }
        let (draft, guard) = Draft::new(table.clone());
        let mut outcome = self.outcome(id, Action::Ran, decision.reason.to_string());
        outcome.started_ms = started_ms;
        outcome.key = Some(decision.key.clone());
        outcome.rows = Some(table.num_rows() as u64);
        outcome.columns = table.columns();
        // Whether the stage is still wanted is asked again when it publishes its stored output.
        let _wanted = publish(&Built {
            outcome,
            state: None,
            draft: Some(draft),
        });
        Some(guard)
    }

    fn read_by_a_model(&self, id: StageId) -> bool {
        self.graph
            .ids()
            .any(|d| self.kind(d) == StageKind::Model && self.graph.node(d).inputs.contains(&id))
    }

    fn produce_source(&self, id: StageId, decision: &Decision) -> Result<Produced, RunError> {
        let read = self.read_source(id, decision)?;
        self.foresight().made(id, &read.table.schema);
        Ok(Produced {
            rows: read.table.num_rows() as u64,
            columns: read.table.columns(),
            output: Output::Table(read.table),
            wrote: None,
            warnings: read.warnings,
            notes: Vec::new(),
            engine: Engine::Local,
        })
    }

    fn produce_model(
        &self,
        id: StageId,
        view: &dyn InputView,
        ahead: Option<Result<Ran, StageError>>,
    ) -> Result<Produced, RunError> {
        let model = &self.project.models[self.name(id)];
        let ran = match ahead {
            Some(ran) => ran?,
            None => self.run_model_query(id, model, view)?,
        };
        let table = ran.table;
        let columns = table.columns();
        let names: Vec<&String> = columns.iter().map(|c| &c.name).collect();
        if let Some(missing) = model.key_columns.iter().find(|k| !names.contains(k)) {
            return Err(StageError::KeyColumn {
                model: model.name.clone(),
                column: missing.clone(),
                suggestion: crate::error::did_you_mean(
                    missing,
                    names.iter().copied(),
                    format!("its columns: {}", crate::text::quoted_list(&names)),
                ),
            }
            .into());
        }
        Ok(Produced {
            rows: table.num_rows() as u64,
            columns,
            output: Output::Table(table),
            wrote: None,
            warnings: Vec::new(),
            notes: ran.notes,
            engine: ran.engine,
        })
    }

    fn produce_export(&self, id: StageId, view: &dyn InputView) -> Result<Produced, RunError> {
        let name = self.name(id);
        let spec = &self.project.exports[name];
        let inputs = self.input_tables(id, view)?;
        let rendered = export::render(name, spec, &inputs).map_err(StageError::from)?;
        let wrote = self.write_export_file(spec.file(), &rendered.bytes)?;
        Ok(Produced {
            rows: rendered.rows,
            columns: Vec::new(),
            output: Output::File(rendered.bytes),
            wrote: Some(wrote),
            warnings: Vec::new(),
            notes: Vec::new(),
            engine: Engine::Local,
        })
    }

    /// Reads a source whose key was decided from the hash `decision` holds; if the bytes read no
    /// longer have that hash, the file changed in between and the decision must be made again.
    fn read_source(
        &self,
        id: StageId,
        decision: &Decision,
    ) -> Result<sources::SourceRead, RunError> {
        let def = &self.project.sources[self.name(id)];
        let input = self.source_file(&def.file);
        let stat = input
            .stat()
            .map_err(|_| StageError::from(self.missing_source(&def.file)))?;
        let started = now_ns();
        let bytes = input.read().map_err(|e| {
            RunError::Unreadable(SourceError::Io {
                file: def.file.clone(),
                message: e.to_string(),
            })
        })?;
        let hash = ObjectHash::of(&bytes);
        if decision.fingerprint.inputs.get(&def.file) != Some(&hash)
            || input.stat().ok() != Some(stat)
        {
            return Err(RunError::SourceChanged);
        }
        self.store
            .remember_hash(Watched::Input(&input), stat, &hash, started);
        let display = input.shown(&self.project.root);
        let foresee = |schema| self.foresight().guessed(id, &schema);
        match sources::read_source_foreseen(def, &display, bytes, &self.project.limits, &foresee) {
            Ok(read) => Ok(read),
            // A file written moments ago that is not a whole workbook yet may still be being
            // copied: worth another try, as a file that cannot be opened is.
            Err(error @ SourceError::Open { .. }) if just_written(stat) => {
                Err(RunError::Unreadable(error))
            }
            Err(error) => Err(StageError::from(error).into()),
        }
    }

    /// The output object of each input of `id`, by the input's name.
    pub(super) fn input_objects(
        &self,
        id: StageId,
        view: &dyn InputView,
    ) -> Result<Vec<(String, ObjectHash)>, StageError> {
        let node = self.graph.node(id);
        node.inputs
            .iter()
            .map(|&input| {
                let name = self.name(input).to_string();
                view.input(input)
                    .and_then(Built::object)
                    .map(|object| (name.clone(), object))
                    .ok_or(StageError::NotSelected {
                        stage: name,
                        month: self.month,
                    })
            })
            .collect()
    }

    /// The decoded output of each input of `id`: a draft's table while it is being stored, else
    /// the stored object's, read from the store when not already in memory.
    pub(super) fn input_tables(
        &self,
        id: StageId,
        view: &dyn InputView,
    ) -> Result<Vec<(String, Arc<Table>)>, StageError> {
        let node = self.graph.node(id);
        node.inputs
            .iter()
            .map(|&input| {
                let name = self.name(input).to_string();
                let built = view.input(input);
                if let Some(table) = built.and_then(|b| b.draft.as_ref()?.table()) {
                    return Ok((name, table));
                }
                match built.and_then(Built::object) {
                    Some(object) => {
                        let table = self.load_table(&name, &object)?;
                        Ok((name, table))
                    }
                    None => Err(StageError::NotSelected {
                        stage: name,
                        month: self.month,
                    }),
                }
            })
            .collect()
    }

    fn write_export_file(&self, file: &str, bytes: &[u8]) -> Result<String, StageError> {
        let path = self.out_path(file);
        write_atomic(&path, bytes).map_err(StageError::WriteOutput)?;
        Ok(self.project.relative(&path).display().to_string())
    }

    /// Puts a reused export's file back when it is missing or was edited. Returns the path
    /// written, if any.
    fn restore_export(
        &self,
        id: StageId,
        object: &ObjectHash,
    ) -> Result<Option<String>, StageError> {
        let file = self.project.exports[self.name(id)].file();
        let path = self.out_path(file);
        let current = self.store.hash_file(Watched::Export(&path), &path).ok();
        if current.is_some_and(|(hash, _)| hash == *object) {
            return Ok(None);
        }
        let bytes = self
            .store
            .read_object(object)
            .map_err(|_| StageError::CorruptInput {
                stage: file.to_string(),
                object: object.clone(),
            })?;
        self.write_export_file(file, &bytes).map(Some)
    }

    /// Runs a model's checks on the output it just produced or reused. A failing error-check
    /// fails the stage, so its dependents do not run.
    pub(crate) fn with_checks(&self, id: StageId, view: &dyn InputView, mut built: Built) -> Built {
        let Some(model) = self.checked_model(id) else {
            return built;
        };
        if built.outcome.action == Action::Failed {
            return built;
        }
        let ran = built.outcome.action == Action::Ran;
        let started_ms = built.outcome.started_ms;
        let Some(state) = built.state.as_mut() else {
            return built;
        };
        let env = BuildEnv::new(self, view, &built.outcome, &state.record.checks);
        let checked = checks::run_checks(self.project, model, &self.expectations, &env);
        let used = env.into_used();
        if let Err(error) = self.store_checked_record(&mut state.record, ran, &used) {
            return self.failure(id, &error, started_ms);
        }
        state.checks = used.seen;
        match checked {
            Err(error) => self.failure(id, &StageError::from(error), started_ms),
            Ok(checked) => {
                let failed: Vec<&str> = checked
                    .iter()
                    .filter(|c| c.status == CheckStatus::Fail)
                    .map(|c| c.check.as_str())
                    .collect();
                let outcome = &mut built.outcome;
                if !failed.is_empty() {
                    outcome.action = Action::Failed;
                    outcome.reason = format!(
                        "check{} {} failed",
                        if failed.len() == 1 { "" } else { "s" },
                        quoted_list(&failed)
                    );
                }
                outcome.checks = checked;
                outcome.duration_ms = self.elapsed_ms() - outcome.started_ms;
                built
            }
        }
    }

    /// The stage's model, when it is one with checks.
    fn checked_model(&self, id: StageId) -> Option<&crate::project::ModelDef> {
        self.project
            .models
            .get(self.name(id))
            .filter(|model| !model.checks.is_empty())
    }

    /// Stores the record of a stage with checks: once they have run when the stage ran (`run`
    /// left it to here), again when they found results it lacks. A check's failure is a result
    /// like any other: it depends only on the output and the check, and is found again.
    fn store_checked_record(
        &self,
        record: &mut StageRecord,
        ran: bool,
        used: &Used,
    ) -> Result<(), StageError> {
        if ran {
            // Every result this build used: the stage had no record yet.
            record.checks = check_index_json(&used.seen);
        } else if used.fresh.is_empty() {
            return Ok(());
        } else {
            // The month state's copy of the record leaves its results out: the file has them.
            if let Some(stored) = self.store.stage_record(&record.key) {
                record.checks = stored.checks;
            }
            record.checks.extend(check_index_json(&used.fresh));
        }
        self.store
            .put_stage_record(record)
            .map_err(StageError::from)
    }
}

/// How recently a file must have changed to be taken for one still being written.
const STILL_WRITING: i128 = 10_000_000_000;

fn just_written(stat: FileStat) -> bool {
    now_ns() - stat.mtime_ns.max(stat.ctime_ns) < STILL_WRITING
}

fn encode_error(error: &parquet::errors::ParquetError) -> StageError {
    StageError::Store(StoreError::Encode(error.to_string()))
}
