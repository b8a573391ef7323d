//! The build: for each stage in dependency order, compute its key, reuse its output or run it.
//!
//! Owns scheduling, the hit/miss decision, the month state and the run record. Rules it keeps:
//! - a stage's key is decided from its definition and the *content* hashes of its inputs (files,
//!   upstream objects), so a stage that reruns with identical output leaves its dependents reused
//!   (early cutoff);
//! - a no-op build parses no workbook and runs no query: sources are hashed through the stat cache
//!   and every stage is a store hit;
//! - a failed stage records nothing reusable; its dependents are skipped; unrelated stages go on;
//! - each stage starts as soon as its inputs' outputs are stored, in parallel with whatever else
//!   can run, even while those inputs' checks still run; a stage built on an output that then
//!   fails a check ends skipped, and exports wait for every check upstream ([`run_stages`]);
//! - outcomes are reported level by level, in name order, so output and run records are
//!   deterministic however the stages ran;
//! - `plan` walks the same decisions without running anything or writing the store.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::archive::{self, ArchiveError, Archived, ArchivedStage, BuildToArchive, SourceFile};
use crate::checks::{self, CheckEnv, CheckResult, CheckStatus, ExpectError, Expectations};
use crate::engine::{self, EngineError};
use crate::export::{self, ExportError};
use crate::graph::{Graph, GraphError, StageKind};
use crate::project::{Project, closest};
pub use crate::project::{is_month, relative};
use crate::sources::{self, SourceError};
use crate::store::statcache::{FileStat, hash_bytes, now_ns};
use crate::store::{Corruption, Fingerprint, MonthEntry, StageRecord, Store, StoreError};
use crate::table::{ColumnInfo, Table};

/// Why a stage outside `--select` with no up-to-date output was skipped.
const NOT_SELECTED: &str = "not selected, and out of date";

/// The pause before the second read of a source; doubled before the third.
const RETRY_BACKOFF: std::time::Duration = std::time::Duration::from_millis(200);

/// How many times a source is read when it changes while being read or cannot be opened.
const READ_ATTEMPTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no month folder found under `{dir}`")]
    NoMonths { dir: PathBuf },
    #[error("`{month}` is not a month; months are written YYYY-MM")]
    BadMonth { month: String },
    #[error("no data for month `{month}`: `{dir}` does not exist")]
    MonthNotFound {
        month: String,
        dir: PathBuf,
        available: Vec<String>,
    },
    #[error("`{stage}` has no output for {month} yet")]
    NotBuilt { stage: String, month: String },
    #[error("no stage is named `{stage}`")]
    UnknownStage {
        stage: String,
        suggestion: Option<String>,
    },
    #[error("cannot read the output of `{stage}`: {message}")]
    Output { stage: String, message: String },
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Expect(#[from] ExpectError),
    #[error(transparent)]
    Check(#[from] EngineError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

impl BuildError {
    pub fn hint(&self) -> Option<String> {
        match self {
            BuildError::NoMonths { .. } => Some(
                "put each month's files in a folder named YYYY-MM (see `data` in winebuild.toml)"
                    .into(),
            ),
            BuildError::BadMonth { .. } => {
                Some("for example: --month 2026-10, or --month previous".into())
            }
            BuildError::MonthNotFound { available, .. } if !available.is_empty() => {
                Some(format!("months with data: {}", available.join(", ")))
            }
            BuildError::MonthNotFound { .. } => None,
            BuildError::NotBuilt { month, .. } => {
                Some(format!("run `winebuild build --month {month}` first"))
            }
            BuildError::UnknownStage { suggestion, .. } => Some(match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => "`winebuild plan` lists every stage".into(),
            }),
            BuildError::Output { .. } => {
                Some("build the month again: a damaged object is rebuilt".into())
            }
            BuildError::Graph(e) => e.hint(),
            BuildError::Store(e) => e.hint(),
            BuildError::Expect(e) => e.hint(),
            BuildError::Check(e) => e.hint(),
            BuildError::Archive(e) => e.hint(),
        }
    }
}

/// Why one stage could not produce its output.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("`{file}` kept changing while it was read ({READ_ATTEMPTS} attempts)")]
    Unstable { file: String },
    #[error("stored output `{object}` of `{stage}` is corrupt")]
    CorruptInput { stage: String, object: String },
    #[error("`{stage}` is not selected and has no up-to-date output for {month}")]
    NotSelected { stage: String, month: String },
    #[error("internal error while building `{stage}`: {message}")]
    Internal { stage: String, message: String },
}

impl StageError {
    pub fn hint(&self) -> Option<String> {
        match self {
            StageError::Source(e) => e.hint(),
            StageError::Engine(e) => e.hint(),
            StageError::Export(e) => e.hint(),
            StageError::Store(e) => e.hint(),
            StageError::Unstable { .. } => {
                Some("wait until the file is completely written, then build again".into())
            }
            StageError::CorruptInput { .. } => {
                Some("build again: the corrupt object was removed and will be rebuilt".into())
            }
            StageError::NotSelected { .. } => Some(
                "`--select +<model>` also builds everything <model> reads; or build without --select"
                    .into(),
            ),
            StageError::Internal { .. } => Some(
                "this is a bug in winebuild; the store is intact and nothing of this stage was kept"
                    .into(),
            ),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub month: Option<String>,
    pub select: Vec<String>,
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Ran,
    Reused,
    Failed,
    Skipped,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::Ran => "ran",
            Action::Reused => "reused",
            Action::Failed => "failed",
            Action::Skipped => "skipped",
        })
    }
}

/// What happened to one stage in one build.
#[derive(Debug, Clone, Serialize)]
pub struct StageOutcome {
    pub stage: String,
    pub kind: StageKind,
    pub action: Action,
    /// Why it ran, or why it failed or was skipped; `unchanged` when reused.
    pub reason: String,
    pub key: Option<String>,
    pub object: Option<String>,
    pub rows: Option<u64>,
    /// When the stage started, from the start of the build.
    pub started_ms: f64,
    pub duration_ms: f64,
    pub warnings: Vec<String>,
    /// The output's columns and their Arrow types (sources and models).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ColumnInfo>,
    /// For an export that ran or was restored: the file written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrote: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The model's checks, run or read from the check cache.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckResult>,
    #[serde(skip)]
    pub fingerprint: Option<Fingerprint>,
    /// The store record of the output, kept in the month's state for the next build.
    #[serde(skip)]
    pub record: Option<StageRecord>,
    /// The checks' results by check key, kept in the month's state for the next build.
    #[serde(skip)]
    pub check_keys: BTreeMap<String, CheckResult>,
}

/// The result of a build.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub run_id: String,
    pub month: String,
    pub started_at: String,
    pub status: String,
    pub duration_ms: f64,
    pub stages: Vec<StageOutcome>,
    /// The archive revision this build created or matched; none for a failed or partial build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived: Option<Archived>,
}

impl BuildReport {
    pub fn count(&self, action: Action) -> usize {
        self.stages.iter().filter(|s| s.action == action).count()
    }

    /// Stages that could not run (an error, not a failed check).
    pub fn errors(&self) -> usize {
        self.stages.iter().filter(|s| s.error.is_some()).count()
    }

    /// Every check result of the build, in stage order.
    pub fn checks(&self) -> impl Iterator<Item = &CheckResult> {
        self.stages.iter().flat_map(|s| s.checks.iter())
    }

    /// 0 when everything passed, 1 when only checks failed, 2 when a stage could not run.
    pub fn exit_code(&self) -> i32 {
        exit_code(self.errors() > 0, self.checks())
    }
}

/// 2 when something could not run, 1 when an error-severity check failed, else 0.
pub fn exit_code<'a>(errors: bool, mut checks: impl Iterator<Item = &'a CheckResult>) -> i32 {
    if errors {
        2
    } else if checks.any(|c| c.status == CheckStatus::Fail) {
        1
    } else {
        0
    }
}

fn status_word(code: i32) -> &'static str {
    match code {
        0 => "success",
        1 => "checks_failed",
        _ => "failed",
    }
}

/// `--month previous`: the calendar month before today's, what a schedule on the 15th builds.
pub const PREVIOUS_MONTH: &str = "previous";

/// The month before today's, as `YYYY-MM` (local time).
pub fn month_before_today() -> String {
    use chrono::Datelike;
    let today = chrono::Local::now().date_naive();
    let (year, month) = if today.month() == 1 {
        (today.year() - 1, 12)
    } else {
        (today.year(), today.month() - 1)
    };
    format!("{year:04}-{month:02}")
}

/// Resolves `--month` (`YYYY-MM`, or `previous`), or the latest month folder when absent.
pub fn resolve_month(project: &Project, month: Option<&str>) -> Result<String, BuildError> {
    let available = available_months(project);
    let previous = month
        .filter(|m| *m == PREVIOUS_MONTH)
        .map(|_| month_before_today());
    let month = previous.as_deref().or(month);
    match month {
        Some(month) if !is_month(month) => Err(BuildError::BadMonth {
            month: month.to_string(),
        }),
        Some(month) => {
            let dir = project.month_dir(month);
            if dir.is_dir() {
                Ok(month.to_string())
            } else {
                Err(BuildError::MonthNotFound {
                    month: month.to_string(),
                    dir: relative(&project.root, &dir),
                    available,
                })
            }
        }
        None => available
            .last()
            .cloned()
            .ok_or_else(|| BuildError::NoMonths {
                dir: relative(&project.root, &project.months_parent()),
            }),
    }
}

/// Month folders that exist, oldest first.
pub fn available_months(project: &Project) -> Vec<String> {
    let mut months: Vec<String> = std::fs::read_dir(project.months_parent())
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|name| is_month(name))
                .filter(|name| project.month_dir(name).is_dir())
                .collect()
        })
        .unwrap_or_default();
    months.sort();
    months
}

/// Shared state of one build or plan.
struct Context<'a> {
    project: &'a Project,
    graph: Graph,
    month: String,
    selected: BTreeSet<usize>,
    force: bool,
    previous: BTreeMap<String, MonthEntry>,
    store: Mutex<Store>,
    /// Decoded tables by object name, so each object is read at most once per build.
    tables: Mutex<HashMap<String, Arc<Table>>>,
    stage_names: BTreeSet<String>,
    /// The month's pinned figures (`expect.toml`).
    expectations: Expectations,
    started: Instant,
}

/// Each stage's outcome, by stage id, set once when the stage is done: stages running in parallel
/// read the outcomes of their (finished) inputs while the scheduler records others.
type Results = [OnceLock<StageOutcome>];

fn no_outcomes(stages: usize) -> Vec<OnceLock<StageOutcome>> {
    (0..stages).map(|_| OnceLock::new()).collect()
}

/// What a stage's inputs resolved to.
enum Inputs {
    Ready(BTreeMap<String, String>),
    /// A source whose file cannot be hashed (missing, unreadable).
    Unreadable(SourceError),
    /// An upstream stage failed or was skipped.
    Blocked(String),
    /// Plan only: an upstream stage would run, so this stage's inputs are not known yet.
    Pending(Vec<String>),
}

/// A stage's decided key, and the record to reuse when the store has one.
struct Decision {
    fingerprint: Fingerprint,
    key: String,
    hit: Option<StageRecord>,
    reason: String,
    /// A stored output for this key that failed verification (and was deleted).
    corrupt: Option<String>,
}

impl<'a> Context<'a> {
    fn new(project: &'a Project, options: &BuildOptions, store: Store) -> Result<Self, BuildError> {
        let month = resolve_month(project, options.month.as_deref())?;
        let graph = Graph::new(project)?;
        let selected = graph.select(&options.select)?;
        let previous = store.month_state(&month);
        let expectations = Expectations::load(project, &project.month_dir(&month))?;
        Ok(Context {
            expectations,
            project,
            month,
            selected,
            force: options.force,
            previous,
            store: Mutex::new(store),
            tables: Mutex::new(HashMap::new()),
            stage_names: project.stage_names().cloned().collect(),
            graph,
            started: Instant::now(),
        })
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn source_path(&self, file: &str) -> PathBuf {
        self.project.month_dir(&self.month).join(file)
    }

    fn month_files(&self) -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(self.project.month_dir(&self.month))
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    fn missing_source(&self, file: &str) -> SourceError {
        SourceError::Missing {
            file: relative(&self.project.root, &self.source_path(file))
                .display()
                .to_string(),
            available: self.month_files(),
        }
    }

    /// The stage's own definition, as named fields (see [`Fingerprint::changes_since`]).
    fn definition(&self, id: usize) -> serde_json::Value {
        let node = self.graph.node(id);
        let value = match node.kind {
            StageKind::Source => serde_json::to_value(&self.project.sources[&node.name]),
            StageKind::Model => {
                let model = &self.project.models[&node.name];
                Ok(serde_json::json!({
                    "sql": model.sql,
                    "inputs": model.settings.inputs,
                    "key": model.settings.key,
                }))
            }
            StageKind::Export => serde_json::to_value(&self.project.exports[&node.name]),
        };
        value.expect("definitions always serialize")
    }

    /// The content hash of a source's file, through the stat cache.
    fn source_hash(&self, file: &str) -> Result<String, SourceError> {
        let path = self.source_path(file);
        let stat = FileStat::of(&path).map_err(|_| self.missing_source(file))?;
        let cache_key = format!("source:{}", path.display());
        if let Some(hash) = self.store().statcache.trusted_hash(&cache_key, &stat) {
            return Ok(hash.to_string());
        }
        let started = now_ns();
        let hash = crate::store::statcache::hash_file(&path).map_err(|e| SourceError::Io {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        if FileStat::of(&path).ok() == Some(stat) {
            self.store()
                .statcache
                .record(&cache_key, stat, &hash, started);
        }
        Ok(hash)
    }

    fn resolve_inputs(&self, id: usize, results: &Results, plan: bool) -> Inputs {
        let node = self.graph.node(id);
        if node.kind == StageKind::Source {
            let file = &self.project.sources[&node.name].file;
            return match self.source_hash(file) {
                Ok(hash) => Inputs::Ready(BTreeMap::from([(file.clone(), hash)])),
                Err(e) => Inputs::Unreadable(e),
            };
        }
        let mut hashes = BTreeMap::new();
        let mut pending = Vec::new();
        for &input in &node.inputs {
            let name = &self.graph.node(input).name;
            let Some(outcome) = results[input].get() else {
                return Inputs::Blocked(format!("upstream `{name}` was not built"));
            };
            match (&outcome.object, outcome.action) {
                (Some(object), Action::Reused) | (Some(object), Action::Ran) => {
                    hashes.insert(name.clone(), object.clone());
                }
                _ if plan && outcome.action == Action::Ran => pending.push(name.clone()),
                _ => return Inputs::Blocked(format!("upstream `{name}` {}", outcome.action)),
            }
        }
        if pending.is_empty() {
            Inputs::Ready(hashes)
        } else {
            Inputs::Pending(pending)
        }
    }

    /// Decides the stage's key and whether the store can serve it.
    fn decide(&self, id: usize, inputs: BTreeMap<String, String>) -> Decision {
        let node = self.graph.node(id);
        let fingerprint = Fingerprint::new(&node.name, node.kind, self.definition(id), inputs);
        let key = fingerprint.key();
        let mut reason = self.reason(&node.name, &fingerprint, &key);
        let mut hit = None;
        let mut corrupt = None;
        // The month's state holds a copy of the current record: a no-op opens no record file.
        let record = match self.previous.get(&node.name) {
            Some(entry) if entry.key == key && entry.record.is_some() => entry.record.clone(),
            _ => self.store().stage_record(&key),
        };
        if let Some(record) = record {
            let checked = self.store().check_object(&record.object);
            match checked {
                Ok(true) => hit = Some(record),
                Ok(false) => reason = "output missing from the store".into(),
                Err(Corruption { object }) => {
                    reason = format!("stored output {} was corrupt", short(&object));
                    corrupt = Some(object);
                }
            }
        }
        if self.force && self.selected.contains(&id) {
            hit = None;
            reason = "--force".into();
        }
        Decision {
            fingerprint,
            key,
            hit,
            reason,
            corrupt,
        }
    }

    fn reason(&self, stage: &str, fingerprint: &Fingerprint, key: &str) -> String {
        match self.previous.get(stage) {
            None => format!("first build of {}", self.month),
            Some(previous) if previous.key == key => "output missing from the store".into(),
            Some(previous) => {
                let changes = fingerprint.changes_since(&previous.fingerprint);
                if changes.is_empty() {
                    "definition changed".into()
                } else {
                    changes.join(", ")
                }
            }
        }
    }

    fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    fn outcome(&self, id: usize, action: Action, reason: String) -> StageOutcome {
        let node = self.graph.node(id);
        StageOutcome {
            stage: node.name.clone(),
            kind: node.kind,
            action,
            reason,
            key: None,
            object: None,
            rows: None,
            started_ms: self.elapsed_ms(),
            duration_ms: 0.0,
            warnings: Vec::new(),
            columns: Vec::new(),
            wrote: None,
            error: None,
            hint: None,
            checks: Vec::new(),
            fingerprint: None,
            record: None,
            check_keys: BTreeMap::new(),
        }
    }

    fn failure(&self, id: usize, error: StageError, started_ms: f64) -> StageOutcome {
        let mut outcome = self.outcome(id, Action::Failed, error.to_string());
        outcome.started_ms = started_ms;
        outcome.duration_ms = self.elapsed_ms() - started_ms;
        outcome.hint = error.hint();
        outcome.error = Some(error.to_string());
        outcome
    }

    /// Stages ready to start, the likely slowest first: they take the free cores first, so a big
    /// workbook never waits behind small ones. Sources are ranked by file size, other stages by
    /// the rows they read.
    fn longest_first(&self, ready: &[usize], results: &Results) -> Vec<usize> {
        let cost = |id: usize| -> u64 {
            let node = self.graph.node(id);
            match node.kind {
                StageKind::Source => {
                    std::fs::metadata(self.source_path(&self.project.sources[&node.name].file))
                        .map(|m| m.len())
                        .unwrap_or(0)
                }
                // The rows it reads, known from the levels already built.
                _ => node
                    .inputs
                    .iter()
                    .filter_map(|&input| results[input].get()?.rows)
                    .sum(),
            }
        };
        let mut ordered: Vec<(u64, usize)> = ready.iter().map(|&id| (cost(id), id)).collect();
        ordered.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        ordered.into_iter().map(|(_, id)| id).collect()
    }

    /// An input of `id` left out of date because it was not selected: a selected stage cannot
    /// be built on it, and the user should hear which one.
    fn stale_unselected_input(&self, id: usize, results: &Results) -> Option<String> {
        self.graph.node(id).inputs.iter().find_map(|&input| {
            let outcome = results[input].get()?;
            (outcome.action == Action::Skipped && outcome.reason == NOT_SELECTED)
                .then(|| outcome.stage.clone())
        })
    }

    /// The cheap part of building a stage: its inputs, its key and the store's answer. A stage
    /// the store serves, or that cannot run, is finished here; one that must run comes back as
    /// [`Attempt::Run`] for a worker thread ([`Context::finish_stage`]).
    fn prepare_stage(&self, id: usize, results: &Results) -> Attempt {
        let started_ms = self.elapsed_ms();
        if let Some(stale) = self.stale_unselected_input(id, results) {
            if !self.selected.contains(&id) {
                return Attempt::done(self.outcome(id, Action::Skipped, NOT_SELECTED.into()));
            }
            let error = StageError::NotSelected {
                stage: stale,
                month: self.month.clone(),
            };
            return Attempt::done(self.failure(id, error, started_ms));
        }
        self.attempt(id, results, started_ms)
    }

    /// Resolves the stage's inputs and decides its key once.
    fn attempt(&self, id: usize, results: &Results, started_ms: f64) -> Attempt {
        let inputs = match self.resolve_inputs(id, results, false) {
            Inputs::Ready(inputs) => inputs,
            Inputs::Unreadable(error @ SourceError::Io { .. }) => return Attempt::Retry(error),
            Inputs::Unreadable(error) => {
                let failure = self.failure(id, StageError::Source(error), started_ms);
                return Attempt::done(failure);
            }
            Inputs::Blocked(why) => {
                return Attempt::done(self.outcome(id, Action::Skipped, why));
            }
            Inputs::Pending(_) => unreachable!("only plans have pending inputs"),
        };
        let decision = self.decide(id, inputs);
        if let Some(record) = &decision.hit {
            let outcome = self.reuse(id, &decision, record, started_ms);
            return Attempt::done(self.with_checks(id, results, outcome));
        }
        if !self.selected.contains(&id) {
            // Outside the selection and out of date: left alone, as dbt leaves it.
            return Attempt::done(self.outcome(id, Action::Skipped, NOT_SELECTED.into()));
        }
        Attempt::Run(Box::new(decision))
    }

    /// Runs a prepared stage, with at most [`READ_ATTEMPTS`] tries for a source that cannot be
    /// read or changes while it is read. `on_output` hears of the output as soon as it is
    /// stored, before the checks run: dependents can start on it meanwhile. When it answers
    /// `false`, the stage is no longer wanted (an input failed a check meanwhile): its checks
    /// are not run.
    fn finish_stage(
        &self,
        id: usize,
        results: &Results,
        mut attempt: Attempt,
        started_ms: f64,
        on_output: impl FnOnce(&StageOutcome) -> bool,
    ) -> StageOutcome {
        let mut unreadable = None;
        for tried in 1..=READ_ATTEMPTS {
            match attempt {
                Attempt::Done(outcome) => return *outcome,
                Attempt::Retry(error) => unreadable = Some(error),
                Attempt::Run(decision) => match self.run(id, &decision, results, started_ms) {
                    Err(RunError::SourceChanged) => unreadable = None,
                    Err(RunError::Unreadable(error)) => unreadable = Some(error),
                    Err(RunError::Stage(error)) => return self.failure(id, error, started_ms),
                    Ok(outcome) if on_output(&outcome) => {
                        return self.with_checks(id, results, outcome);
                    }
                    Ok(unwanted) => return unwanted,
                },
            }
            if tried == READ_ATTEMPTS {
                break;
            }
            // A file still being written, or held by another program: give it a moment.
            std::thread::sleep(RETRY_BACKOFF * (1 << (tried - 1)));
            attempt = self.attempt(id, results, started_ms);
        }
        let file = self.project.sources[&self.graph.node(id).name].file.clone();
        let error = match unreadable {
            Some(SourceError::Io { file, message }) => StageError::Source(SourceError::Io {
                file,
                message: format!("{message} (tried {READ_ATTEMPTS} times)"),
            }),
            _ => StageError::Unstable { file },
        };
        self.failure(id, error, started_ms)
    }

    /// Runs a model's checks on the output it just produced or reused. A failing error-check
    /// fails the stage, so its dependents do not run; its output stays the month's current one,
    /// so `winebuild test` and `show` see what failed.
    fn with_checks(&self, id: usize, results: &Results, mut outcome: StageOutcome) -> StageOutcome {
        let node = self.graph.node(id);
        let Some(model) = self.project.models.get(&node.name) else {
            return outcome;
        };
        if model.settings.checks.is_empty() || outcome.action == Action::Failed {
            return outcome;
        }
        let env = BuildEnv {
            ctx: self,
            results,
            own: &outcome,
            seen: Mutex::new(BTreeMap::new()),
        };
        let checked = checks::run_checks(self.project, model, &self.expectations, &env);
        let seen = env.seen.into_inner().unwrap_or_else(|p| p.into_inner());
        match checked {
            Err(error) => self.failure(id, StageError::from(error), outcome.started_ms),
            Ok(checked) => {
                let failed: Vec<String> = checked
                    .iter()
                    .filter(|c| c.status == CheckStatus::Fail)
                    .map(|c| format!("`{}`", c.check))
                    .collect();
                if !failed.is_empty() {
                    outcome.action = Action::Failed;
                    outcome.reason = format!(
                        "check{} {} failed",
                        if failed.len() == 1 { "" } else { "s" },
                        failed.join(", ")
                    );
                }
                outcome.checks = checked;
                outcome.check_keys = seen;
                outcome.duration_ms = self.elapsed_ms() - outcome.started_ms;
                outcome
            }
        }
    }

    fn reuse(
        &self,
        id: usize,
        decision: &Decision,
        record: &StageRecord,
        started_ms: f64,
    ) -> StageOutcome {
        let mut outcome = self.outcome(id, Action::Reused, "unchanged".into());
        outcome.started_ms = started_ms;
        outcome.key = Some(decision.key.clone());
        outcome.fingerprint = Some(decision.fingerprint.clone());
        outcome.object = Some(record.object.clone());
        outcome.rows = Some(record.rows);
        outcome.columns = record.columns.clone();
        outcome.record = Some(record.clone());
        if self.graph.node(id).kind == StageKind::Export {
            match self.restore_export(id, &record.object) {
                Ok(Some(wrote)) => {
                    outcome.reason = format!("restored {wrote}");
                    outcome.wrote = Some(wrote);
                }
                Ok(None) => {}
                Err(error) => return self.failure(id, error, started_ms),
            }
        }
        outcome.duration_ms = self.elapsed_ms() - started_ms;
        outcome
    }

    fn run(
        &self,
        id: usize,
        decision: &Decision,
        results: &Results,
        started_ms: f64,
    ) -> Result<StageOutcome, RunError> {
        let node = self.graph.node(id);
        let mut warnings: Vec<String> = decision
            .corrupt
            .iter()
            .map(|object| {
                format!("stored output {object} did not match its hash; deleted and rebuilt")
            })
            .collect();
        let (bytes, rows, columns, wrote, table) = match node.kind {
            StageKind::Source => {
                let read = self.read_source(&node.name, decision)?;
                warnings.extend(read.warnings);
                let bytes = read.table.to_parquet().map_err(store_encode_error)?;
                let rows = read.table.num_rows() as u64;
                let columns = read.table.columns();
                (bytes, rows, columns, None, Some(read.table))
            }
            StageKind::Model => {
                let model = &self.project.models[&node.name];
                let inputs = self.input_tables(id, results)?;
                let table = engine::run_model(model, &inputs, &self.stage_names)
                    .map_err(StageError::from)?;
                let bytes = table.to_parquet().map_err(store_encode_error)?;
                let rows = table.num_rows() as u64;
                let columns = table.columns();
                (bytes, rows, columns, None, Some(table))
            }
            StageKind::Export => {
                let def = &self.project.exports[&node.name];
                let inputs = self.input_tables(id, results)?;
                let written = export::render(&node.name, def, &inputs).map_err(StageError::from)?;
                let wrote = self.write_export_file(&def.file, &written.bytes)?;
                (written.bytes, written.rows, Vec::new(), Some(wrote), None)
            }
        };
        let object = self.store().put_object(&bytes).map_err(StageError::from)?;
        if let Some(table) = table {
            // Dependents in this build read the table from memory, not back from the store.
            self.remember_table(&object, table);
        }
        let duration_ms = self.elapsed_ms() - started_ms;
        let record = StageRecord {
            stage: node.name.clone(),
            kind: node.kind,
            key: decision.key.clone(),
            object: object.clone(),
            bytes: bytes.len() as u64,
            rows,
            columns: columns.clone(),
            duration_ms,
            warnings: warnings.clone(),
        };
        self.store()
            .put_stage_record(&record)
            .map_err(StageError::from)?;
        let mut outcome = self.outcome(id, Action::Ran, decision.reason.clone());
        outcome.started_ms = started_ms;
        outcome.duration_ms = duration_ms;
        outcome.key = Some(decision.key.clone());
        outcome.fingerprint = Some(decision.fingerprint.clone());
        outcome.object = Some(object);
        outcome.rows = Some(rows);
        outcome.warnings = warnings;
        outcome.columns = columns;
        outcome.wrote = wrote;
        outcome.record = Some(record);
        Ok(outcome)
    }

    /// Reads a source whose key was decided from the hash `decision` holds; if the bytes read no
    /// longer have that hash, the file changed in between and the decision must be made again.
    fn read_source(
        &self,
        name: &str,
        decision: &Decision,
    ) -> Result<sources::SourceRead, RunError> {
        let def = &self.project.sources[name];
        let path = self.source_path(&def.file);
        let stat =
            FileStat::of(&path).map_err(|_| StageError::from(self.missing_source(&def.file)))?;
        let started = now_ns();
        let bytes = std::fs::read(&path).map_err(|e| {
            RunError::Unreadable(SourceError::Io {
                file: def.file.clone(),
                message: e.to_string(),
            })
        })?;
        let hash = hash_bytes(&bytes);
        if decision.fingerprint.inputs.get(&def.file) != Some(&hash)
            || FileStat::of(&path).ok() != Some(stat)
        {
            return Err(RunError::SourceChanged);
        }
        self.store()
            .statcache
            .record(&format!("source:{}", path.display()), stat, &hash, started);
        let display = relative(&self.project.root, &path).display().to_string();
        Ok(sources::read_source(def, &display, bytes).map_err(StageError::from)?)
    }

    fn remember_table(&self, object: &str, table: Table) {
        self.tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(object.to_string(), Arc::new(table));
    }

    /// The decoded output of each input of `id`, read from the store when not already in memory.
    fn input_tables(
        &self,
        id: usize,
        results: &Results,
    ) -> Result<Vec<(String, Arc<Table>)>, StageError> {
        let node = self.graph.node(id);
        let mut tables = Vec::with_capacity(node.inputs.len());
        for &input in &node.inputs {
            let name = self.graph.node(input).name.clone();
            let object = results[input]
                .get()
                .and_then(|outcome| outcome.object.clone())
                .ok_or_else(|| StageError::NotSelected {
                    stage: name.clone(),
                    month: self.month.clone(),
                })?;
            tables.push((name.clone(), self.load_table(&name, &object)?));
        }
        Ok(tables)
    }

    fn load_table(&self, stage: &str, object: &str) -> Result<Arc<Table>, StageError> {
        if let Some(table) = self
            .tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(object)
        {
            return Ok(table.clone());
        }
        let corrupt = || StageError::CorruptInput {
            stage: stage.to_string(),
            object: object.to_string(),
        };
        let bytes = self.store().read_object(object).map_err(|_| corrupt())?;
        let table = Arc::new(Table::from_parquet(bytes).map_err(|_| corrupt())?);
        self.tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(object.to_string(), table.clone());
        Ok(table)
    }

    fn out_path(&self, file: &str) -> PathBuf {
        self.project.out_dir(&self.month).join(file)
    }

    fn write_export_file(&self, file: &str, bytes: &[u8]) -> Result<String, StageError> {
        let path = self.out_path(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
        }
        self.store().write_atomic(&path, bytes)?;
        Ok(relative(&self.project.root, &path).display().to_string())
    }

    /// Puts a reused export's file back when it is missing or was edited. Returns the path
    /// written, if any.
    fn restore_export(&self, id: usize, object: &str) -> Result<Option<String>, StageError> {
        let def = &self.project.exports[&self.graph.node(id).name];
        let path = self.out_path(&def.file);
        let cache_key = format!("export:{}", path.display());
        let current = self.store().statcache.hash(&cache_key, &path).ok();
        if current.is_some_and(|(hash, _)| hash == object) {
            return Ok(None);
        }
        let bytes = self
            .store()
            .read_object(object)
            .map_err(|_| StageError::CorruptInput {
                stage: def.file.clone(),
                object: object.to_string(),
            })?;
        self.write_export_file(&def.file, &bytes).map(Some)
    }
}

/// What checks see of a build: the outputs built so far, and the one being checked.
struct BuildEnv<'c, 'p> {
    ctx: &'c Context<'p>,
    results: &'c Results,
    own: &'c StageOutcome,
    /// Every result used, by check key, for the month's state.
    seen: Mutex<BTreeMap<String, CheckResult>>,
}

impl BuildEnv<'_, '_> {
    fn see(&self, key: &str, result: &CheckResult) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), result.clone());
    }
}

impl CheckEnv for BuildEnv<'_, '_> {
    fn output(&self, stage: &str) -> Option<checks::Output> {
        let outcome = if stage == self.own.stage {
            self.own
        } else {
            self.results[self.ctx.graph.id(stage)?].get()?
        };
        let object = outcome.object.clone()?;
        let columns = if outcome.columns.is_empty() {
            self.ctx
                .load_table(stage, &object)
                .ok()?
                .columns()
                .into_iter()
                .map(|c| c.name)
                .collect()
        } else {
            outcome.columns.iter().map(|c| c.name.clone()).collect()
        };
        Some(checks::Output {
            object,
            rows: outcome.rows.unwrap_or(0),
            columns,
        })
    }

    fn table(&self, stage: &str, object: &str) -> Result<Arc<Table>, String> {
        self.ctx
            .load_table(stage, object)
            .map_err(|e| e.to_string())
    }

    fn cached(&self, key: &str) -> Option<CheckResult> {
        let forced = self.ctx.force
            && self
                .ctx
                .graph
                .id(&self.own.stage)
                .is_some_and(|id| self.ctx.selected.contains(&id));
        if forced {
            return None;
        }
        // The month's state keeps the results of the current build: a no-op opens no file.
        let indexed = self
            .ctx
            .previous
            .get(&self.own.stage)
            .and_then(|entry| entry.checks.get(key))
            .and_then(|value| CheckResult::deserialize(value).ok());
        let result = indexed.or_else(|| self.ctx.store().check_result(key))?;
        self.see(key, &result);
        Some(result)
    }

    fn remember(&self, key: &str, result: &CheckResult) {
        self.see(key, result);
        // A result that cannot be cached is computed again next time; never worth failing for.
        let _ = self.ctx.store().put_check_result(key, result);
    }
}

/// Where building a stage stands after deciding its key.
enum Attempt {
    /// Reused, skipped or failed: nothing left to do.
    Done(Box<StageOutcome>),
    /// It must run.
    Run(Box<Decision>),
    /// Its source could not be read: worth another try.
    Retry(SourceError),
}

impl Attempt {
    fn done(outcome: StageOutcome) -> Attempt {
        Attempt::Done(Box::new(outcome))
    }
}

enum RunError {
    /// The file changed between its hashing and its reading.
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

fn store_encode_error(error: parquet::errors::ParquetError) -> StageError {
    StageError::Store(StoreError::io(
        Path::new("<parquet encoder>"),
        std::io::Error::other(error.to_string()),
    ))
}

pub fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// What a build reports while it runs, for progress displays.
pub enum BuildEvent<'a> {
    /// The build holds the lock and is about to build this many stages.
    Started { stages: usize },
    /// These stages must run, and start now (in parallel, as threads free up).
    StagesStarted(&'a [&'a str]),
    /// The outcomes of one level of the graph (stages independent of one another), in name
    /// order, once all of them are done: output stays in the same order however stages ran.
    LevelFinished(&'a [StageOutcome]),
}

/// What a stage's thread tells the scheduler.
enum Progress {
    /// The stage's output is stored; its checks are running.
    Output(usize, StageOutcome),
    /// The stage is done, checks included.
    Checked(usize, StageOutcome),
}

/// Builds every stage as soon as what it needs is there, not level by level:
/// - a model starts as soon as its inputs' outputs are stored, while their checks still run
///   (checks are off the critical path); if a check then fails, the stages built on that output
///   end as skipped, as if they had waited (their outputs stay in the store, valid for their key,
///   but are not the month's: nothing is exported or archived from them);
/// - an export starts only once its inputs and everything upstream passed their checks, so no
///   file is written from data that failed one.
///
/// Deciding (hashing, store lookups, cached checks) happens on this thread, so a no-op build
/// starts no thread. Stages that must run get a thread each, at most one per core at a time (a
/// stage still running its checks counts), the likely slowest first. Only big outputs split their
/// own work (checks, encoding) across the rayon pool, which never holds a whole stage, so a
/// short task never waits behind one. Outcomes are reported level by level, in name order.
fn run_stages(
    ctx: &Context<'_>,
    results: &Results,
    levels: &[Vec<usize>],
    on_event: &mut impl FnMut(BuildEvent<'_>),
) {
    let count = ctx.graph.nodes.len();
    let is_export = |id: usize| ctx.graph.node(id).kind == StageKind::Export;
    // Outputs as soon as they are stored, before their checks: what models start from. An
    // export reads settled outcomes instead: an input that then failed a check blocks it.
    let outputs = no_outcomes(count);
    let view_of = |id: usize| -> &Results { if is_export(id) { results } else { &outputs } };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut checked: Vec<Option<StageOutcome>> = vec![None; count];
    let mut waiting: Vec<usize> = (0..count)
        .map(|id| ctx.graph.node(id).inputs.len())
        .collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); count];
    for id in 0..count {
        for &input in &ctx.graph.node(id).inputs {
            dependents[input].push(id);
        }
    }
    let mut ready: Vec<usize> = (0..count).filter(|&id| waiting[id] == 0).collect();
    let mut to_run: std::collections::VecDeque<(usize, Attempt)> = Default::default();
    let mut done_here: Vec<Progress> = Vec::new();
    let (sender, progress) = std::sync::mpsc::channel::<Progress>();
    let (mut running, mut reported_levels) = (0, 0);
    let mut on_thread = vec![false; count];
    // Set for a stage settled as skipped while its thread still works: it skips its checks.
    let cancelled: Vec<std::sync::atomic::AtomicBool> =
        (0..count).map(|_| Default::default()).collect();
    let cancelled = &cancelled;
    std::thread::scope(|scope| {
        while results.iter().any(|r| r.get().is_none()) {
            // A stage may have been settled as skipped (an input failed a check) before it started.
            ready.retain(|&id| results[id].get().is_none());
            to_run.retain(|(id, _)| results[*id].get().is_none());
            for id in ctx.longest_first(&ready, &outputs) {
                if let Some(why) = failed_input(ctx, id, &outputs, results) {
                    // Already known: no need to build on it.
                    let skipped = ctx.outcome(id, Action::Skipped, why);
                    done_here.push(Progress::Checked(id, skipped));
                    continue;
                }
                match ctx.prepare_stage(id, view_of(id)) {
                    Attempt::Done(outcome) => done_here.push(Progress::Checked(id, *outcome)),
                    attempt => to_run.push_back((id, attempt)),
                }
            }
            ready.clear();
            let mut started = Vec::new();
            while running < threads
                && let Some((id, attempt)) = to_run.pop_front()
            {
                started.push(ctx.graph.node(id).name.as_str());
                running += 1;
                on_thread[id] = true;
                let sender = sender.clone();
                let view = view_of(id);
                scope.spawn(move || {
                    let tell = |outcome: &StageOutcome| {
                        let _ = sender.send(Progress::Output(id, outcome.clone()));
                        !cancelled[id].load(std::sync::atomic::Ordering::Relaxed)
                    };
                    let started_ms = ctx.elapsed_ms();
                    let finished = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        ctx.finish_stage(id, view, attempt, started_ms, tell)
                    }));
                    // A bug must fail its stage, not leave the scheduler waiting for it forever.
                    let outcome = finished.unwrap_or_else(|panic| {
                        let message = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "it panicked".into());
                        let stage = ctx.graph.node(id).name.clone();
                        ctx.failure(id, StageError::Internal { stage, message }, started_ms)
                    });
                    // The receiver outlives the scope: sending cannot fail.
                    let _ = sender.send(Progress::Checked(id, outcome));
                });
            }
            if !started.is_empty() {
                on_event(BuildEvent::StagesStarted(&started));
            }
            let message = match done_here.pop() {
                Some(message) => message,
                None => progress.recv().expect("a running stage always reports"),
            };
            let (id, outcome, final_) = match message {
                Progress::Output(id, outcome) => (id, outcome, false),
                Progress::Checked(id, outcome) => (id, outcome, true),
            };
            if final_ && std::mem::take(&mut on_thread[id]) {
                // Checks run on the stage's thread: it holds its core until they are done.
                running -= 1;
            }
            if outputs[id].get().is_none() {
                let _ = outputs[id].set(outcome.clone());
                for &dependent in &dependents[id] {
                    if !is_export(dependent) {
                        waiting[dependent] -= 1;
                        if waiting[dependent] == 0 {
                            ready.push(dependent);
                        }
                    }
                }
            }
            if final_ {
                checked[id] = Some(outcome);
                let settled = Settled {
                    checked: &mut checked,
                    outputs: &outputs,
                    results,
                    dependents: &dependents,
                    cancelled,
                };
                finalize(ctx, id, settled, &mut |export| {
                    waiting[export] -= 1;
                    if waiting[export] == 0 {
                        ready.push(export);
                    }
                });
            }
            while let Some(level) = levels.get(reported_levels)
                && level.iter().all(|&id| results[id].get().is_some())
            {
                let outcomes: Vec<StageOutcome> = level
                    .iter()
                    .filter_map(|&id| results[id].get().cloned())
                    .collect();
                on_event(BuildEvent::LevelFinished(&outcomes));
                reported_levels += 1;
            }
        }
    });
}

/// Why `id` cannot keep what it built (or would build) from its inputs' outputs: an input that
/// was usable when stored, or not stored yet, but then failed a check, or was skipped for an
/// upstream's failure.
fn failed_input(
    ctx: &Context<'_>,
    id: usize,
    outputs: &Results,
    results: &Results,
) -> Option<String> {
    ctx.graph.node(id).inputs.iter().find_map(|&input| {
        let settled = results[input].get()?;
        let usable = |action| matches!(action, Action::Ran | Action::Reused);
        let started_usable = outputs[input].get().is_none_or(|o| usable(o.action));
        (started_usable && !usable(settled.action)).then(|| {
            let name = &ctx.graph.node(input).name;
            format!("upstream `{name}` {}", settled.action)
        })
    })
}

/// What [`finalize`] reads and settles.
struct Settled<'a> {
    /// Outcomes with their checks, not yet settled.
    checked: &'a mut [Option<StageOutcome>],
    outputs: &'a Results,
    results: &'a Results,
    dependents: &'a [Vec<usize>],
    cancelled: &'a [std::sync::atomic::AtomicBool],
}

/// Settles the outcome of `id` once its checks are done and all its inputs are settled, then
/// of its dependents that were waiting for it; `export_input_settled` hears of each export input
/// settled. A stage whose input ran or was reused but then failed a check (or was skipped for an
/// upstream's) ends as skipped, whatever it did meanwhile.
fn finalize(
    ctx: &Context<'_>,
    id: usize,
    settled: Settled<'_>,
    export_input_settled: &mut impl FnMut(usize),
) {
    let Settled {
        checked,
        outputs,
        results,
        dependents,
        cancelled,
    } = settled;
    let mut pending = vec![id];
    while let Some(id) = pending.pop() {
        let node = ctx.graph.node(id);
        let inputs_settled = node.inputs.iter().all(|&i| results[i].get().is_some());
        if results[id].get().is_some() || !inputs_settled {
            continue;
        }
        let outcome = match (failed_input(ctx, id, outputs, results), checked[id].take()) {
            (Some(why), _) => {
                // Whatever it is still doing is wasted: skip its checks, at least.
                cancelled[id].store(true, std::sync::atomic::Ordering::Relaxed);
                ctx.outcome(id, Action::Skipped, why)
            }
            (None, Some(checked)) => checked,
            (None, None) => continue,
        };
        let _ = results[id].set(outcome);
        for &dependent in &dependents[id] {
            if ctx.graph.node(dependent).kind == StageKind::Export {
                export_input_settled(dependent);
            }
            pending.push(dependent);
        }
    }
}

/// Builds one month. `on_wait` is called if another build holds the lock; `on_event` hears which
/// stages start running, and receives each level's outcomes as soon as all of them are settled.
pub fn build(
    project: &Project,
    options: &BuildOptions,
    on_wait: impl FnOnce(),
    mut on_event: impl FnMut(BuildEvent<'_>),
) -> Result<BuildReport, BuildError> {
    let store = Store::open(&project.root)?;
    let lock = store.lock(on_wait)?;
    store.sweep_tmp();
    let started_at = chrono::Utc::now();
    let ctx = Context::new(project, options, store)?;
    let levels = ctx.graph.levels();
    on_event(BuildEvent::Started {
        stages: ctx.graph.nodes.len(),
    });
    let results = no_outcomes(ctx.graph.nodes.len());
    run_stages(&ctx, &results, &levels, &mut on_event);
    let mut results: Vec<Option<StageOutcome>> =
        results.into_iter().map(OnceLock::into_inner).collect();
    let stages: Vec<StageOutcome> = levels
        .into_iter()
        .flatten()
        .filter_map(|id| results[id].take())
        .collect();
    let report = BuildReport {
        run_id: started_at.format("%Y%m%dT%H%M%S%.6fZ").to_string(),
        month: ctx.month.clone(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        status: status_word(exit_code(
            stages.iter().any(|s| s.error.is_some()),
            stages.iter().flat_map(|s| s.checks.iter()),
        ))
        .into(),
        duration_ms: ctx.elapsed_ms(),
        stages,
        archived: None,
    };
    let mut report = report;
    let store = ctx.store();
    store.put_month_state(&ctx.month, &next_month_state(&ctx, &report), &ctx.previous)?;
    store.save_statcache()?;
    // Only a complete build that passed its checks is history worth keeping.
    let mut archive_error = None;
    if report.exit_code() == 0 && ctx.selected.len() == ctx.graph.nodes.len() {
        match archive::archive_build(project, &store, to_archive(&ctx, &report)) {
            Ok(archived) => report.archived = Some(archived),
            Err(error) => {
                // The build itself is recorded either way; the failure to archive is the error.
                report.status = "failed".into();
                archive_error = Some(error);
            }
        }
    }
    store.append_run(&serde_json::to_value(&report).expect("reports always serialize"))?;
    drop(store);
    drop(lock);
    match archive_error {
        Some(error) => Err(error.into()),
        None => Ok(report),
    }
}

/// What the archive keeps of a successful build.
fn to_archive<'r>(ctx: &Context<'_>, report: &'r BuildReport) -> BuildToArchive<'r> {
    let mut sources = Vec::new();
    let mut stages = Vec::new();
    for stage in &report.stages {
        let (Some(key), Some(object)) = (&stage.key, &stage.object) else {
            continue;
        };
        let file = match stage.kind {
            StageKind::Source => {
                let file = &ctx.project.sources[&stage.stage].file;
                let hash = stage
                    .fingerprint
                    .as_ref()
                    .and_then(|f| f.inputs.get(file))
                    .cloned()
                    .unwrap_or_default();
                sources.push(SourceFile {
                    source: stage.stage.clone(),
                    file: file.clone(),
                    bytes: std::fs::metadata(ctx.source_path(file))
                        .map(|m| m.len())
                        .unwrap_or(0),
                    blake3: hash,
                });
                None
            }
            StageKind::Model => Some(format!("models/{}.parquet", stage.stage)),
            StageKind::Export => Some(format!(
                "exports/{}",
                ctx.project.exports[&stage.stage].file
            )),
        };
        stages.push(ArchivedStage {
            stage: stage.stage.clone(),
            kind: stage.kind,
            key: key.clone(),
            output: object.clone(),
            rows: stage.rows.unwrap_or(0),
            columns: stage.columns.clone(),
            key_columns: ctx
                .project
                .models
                .get(&stage.stage)
                .map(|m| m.settings.key.clone())
                .unwrap_or_default(),
            file,
        });
    }
    BuildToArchive {
        month: &report.month,
        run_id: &report.run_id,
        built_at: &report.started_at,
        sources,
        stages,
        checks: report.checks().cloned().collect(),
    }
}

/// The month state after a build: the previous one, minus stages that no longer exist, updated
/// with every stage that ran or was reused. A failed stage keeps its last successful entry, which
/// `plan` compares against.
fn next_month_state(ctx: &Context<'_>, report: &BuildReport) -> BTreeMap<String, MonthEntry> {
    let mut state = ctx.previous.clone();
    state.retain(|name, _| ctx.graph.id(name).is_some());
    for stage in &report.stages {
        if let (Some(key), Some(object), Some(fingerprint)) =
            (&stage.key, &stage.object, &stage.fingerprint)
        {
            state.insert(
                stage.stage.clone(),
                MonthEntry {
                    key: key.clone(),
                    fingerprint: fingerprint.clone(),
                    object: object.clone(),
                    rows: stage.rows.unwrap_or(0),
                    record: stage.record.clone(),
                    checks: stage
                        .check_keys
                        .iter()
                        .map(|(key, result)| {
                            let value =
                                serde_json::to_value(result).expect("results always serialize");
                            (key.clone(), value)
                        })
                        .collect(),
                },
            );
        }
    }
    state
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanAction {
    /// Would run.
    Run,
    /// Would run only if an upstream stage that runs produces a different output.
    Maybe,
    /// Would be reused from the store.
    Reuse,
    /// Cannot run (missing file, upstream blocked, not selected).
    Blocked,
}

impl std::fmt::Display for PlanAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PlanAction::Run => "run",
            PlanAction::Maybe => "maybe",
            PlanAction::Reuse => "reuse",
            PlanAction::Blocked => "blocked",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedStage {
    pub stage: String,
    pub kind: StageKind,
    pub action: PlanAction,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub month: String,
    pub stages: Vec<PlannedStage>,
}

/// What the next build would do, stage by stage, and why. Runs nothing and writes nothing.
pub fn plan(project: &Project, options: &BuildOptions) -> Result<PlanReport, BuildError> {
    let store = Store::open(&project.root)?;
    let ctx = Context::new(project, options, store)?;
    let results = no_outcomes(ctx.graph.nodes.len());
    let mut stages = Vec::new();
    for id in ctx.graph.levels().into_iter().flatten() {
        let (action, reason, object) = ctx.plan_stage(id, &results);
        let node = ctx.graph.node(id);
        stages.push(PlannedStage {
            stage: node.name.clone(),
            kind: node.kind,
            action,
            reason: reason.clone(),
        });
        let as_outcome = match action {
            PlanAction::Reuse => Action::Reused,
            PlanAction::Run | PlanAction::Maybe => Action::Ran,
            PlanAction::Blocked => Action::Skipped,
        };
        let mut outcome = ctx.outcome(id, as_outcome, reason);
        outcome.object = object;
        let _ = results[id].set(outcome);
    }
    Ok(PlanReport {
        month: ctx.month.clone(),
        stages,
    })
}

impl Context<'_> {
    fn plan_stage(&self, id: usize, results: &Results) -> (PlanAction, String, Option<String>) {
        let inputs = match self.resolve_inputs(id, results, true) {
            Inputs::Ready(inputs) => inputs,
            Inputs::Unreadable(error) => return (PlanAction::Blocked, error.to_string(), None),
            Inputs::Blocked(why) => return (PlanAction::Blocked, why, None),
            Inputs::Pending(upstream) => {
                let names: Vec<String> = upstream.iter().map(|n| format!("`{n}`")).collect();
                let reason = format!("runs if the output of {} changes", names.join(", "));
                if self.force && self.selected.contains(&id) {
                    return (PlanAction::Run, "--force".into(), None);
                }
                return (PlanAction::Maybe, reason, None);
            }
        };
        let decision = self.decide(id, inputs);
        match decision.hit {
            Some(record) => (PlanAction::Reuse, "unchanged".into(), Some(record.object)),
            None if !self.selected.contains(&id) => (
                PlanAction::Blocked,
                format!("not selected, and out of date ({})", decision.reason),
                None,
            ),
            None => (PlanAction::Run, decision.reason, None),
        }
    }
}

/// The output of `stage` from the last successful build of `month` (default: the latest month).
pub fn current_output(
    project: &Project,
    month: Option<&str>,
    stage: &str,
) -> Result<Table, BuildError> {
    let month = resolve_month(project, month)?;
    if !project.sources.contains_key(stage) && !project.models.contains_key(stage) {
        return Err(BuildError::UnknownStage {
            stage: stage.to_string(),
            suggestion: closest(stage, project.sources.keys().chain(project.models.keys())),
        });
    }
    let store = Store::open(&project.root)?;
    let entry = store
        .month_state(&month)
        .remove(stage)
        .ok_or_else(|| BuildError::NotBuilt {
            stage: stage.to_string(),
            month: month.clone(),
        })?;
    let output_error = |message: String| BuildError::Output {
        stage: stage.to_string(),
        message,
    };
    let bytes = store
        .read_object(&entry.object)
        .map_err(|c| output_error(format!("object {} is missing or corrupt", short(&c.object))))?;
    Table::from_parquet(bytes).map_err(|e| output_error(e.to_string()))
}

/// The result of `winebuild test`: every check of the selected models on the month's current
/// outputs.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    pub month: String,
    pub status: String,
    pub checks: Vec<CheckResult>,
}

impl TestReport {
    pub fn exit_code(&self) -> i32 {
        exit_code(false, self.checks.iter())
    }
}

/// Runs the checks of the selected models on the outputs of the month's last build, reading
/// results from the check cache when their inputs did not change. Builds nothing.
pub fn test(project: &Project, options: &BuildOptions) -> Result<TestReport, BuildError> {
    let store = Store::open(&project.root)?;
    let ctx = Context::new(project, options, store)?;
    let results = no_outcomes(ctx.graph.nodes.len());
    for (name, entry) in &ctx.previous {
        let Some(id) = ctx.graph.id(name) else {
            continue;
        };
        let mut outcome = ctx.outcome(id, Action::Reused, "current output".into());
        outcome.object = Some(entry.object.clone());
        outcome.rows = Some(entry.rows);
        outcome.columns = match &entry.record {
            Some(record) => record.columns.clone(),
            None => ctx
                .store()
                .stage_record(&entry.key)
                .map(|record| record.columns)
                .unwrap_or_default(),
        };
        let _ = results[id].set(outcome);
    }
    let mut checked = Vec::new();
    let mut built_any = false;
    for id in ctx.graph.levels().into_iter().flatten() {
        let node = ctx.graph.node(id);
        let Some(model) = project.models.get(&node.name) else {
            continue;
        };
        if !ctx.selected.contains(&id) || model.settings.checks.is_empty() {
            continue;
        }
        let Some(own) = results[id].get() else {
            checked.extend(
                model
                    .settings
                    .checks
                    .iter()
                    .map(|check| checks::not_built(check, &model.name, &ctx.month)),
            );
            continue;
        };
        built_any = true;
        let env = BuildEnv {
            ctx: &ctx,
            results: &results,
            own,
            seen: Mutex::new(BTreeMap::new()),
        };
        checked.extend(checks::run_checks(project, model, &ctx.expectations, &env)?);
    }
    if !built_any && !checked.is_empty() {
        return Err(BuildError::NotBuilt {
            stage: checked[0].model.clone(),
            month: ctx.month.clone(),
        });
    }
    ctx.store().save_statcache()?;
    let code = exit_code(false, checked.iter());
    Ok(TestReport {
        month: ctx.month.clone(),
        status: status_word(code).into(),
        checks: checked,
    })
}
