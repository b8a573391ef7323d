//! The build: for each stage, decide its key, reuse its output or run it, check it, and record
//! what the month now holds.
//!
//! The parts, in the order a stage meets them:
//! - [`context`]: what one build shares (project, graph, month, store, decoded tables);
//! - [`decide`]: inputs → fingerprint → key → hit or miss, and the reason it runs;
//! - [`execute`]: reuse, or read a source / run a model / render an export, then its checks;
//! - [`draft`]: a stage's table published before its object is stored, for dependents to run
//!   ahead on;
//! - [`runner`] + [`scheduler`]: a generic DAG runner, and the build's stages as it sees them;
//! - [`outcome`]: what the user sees of each stage and of the build (also the run record);
//! - [`month_state`]: what the next build and `plan` compare with; [`plan`] and [`inspect`]
//!   (`show`, `test`): the same decisions, read-only.
//!
//! Rules it keeps:
//! - a stage's key is decided from its definition and the *content* hashes of its inputs, so a
//!   stage that reruns with identical output leaves its dependents reused (early cutoff);
//! - a no-op build parses no workbook and runs no query: sources are hashed through the stat
//!   cache and every stage is a store hit;
//! - a failed stage records nothing reusable; its dependents are skipped; unrelated stages go on;
//! - each stage starts as soon as its inputs' outputs are stored, even while those inputs' checks
//!   still run, and a model runs its query ahead on an input's draft while that input's output
//!   is being stored (its key waits for the stored object); a stage built on an output that then
//!   fails a check ends skipped, and exports wait for every check upstream;
//! - outcomes are reported level by level, in name order, so output and run records are
//!   deterministic however the stages ran.

mod check_env;
mod context;
mod decide;
mod draft;
mod execute;
mod foresight;
mod inspect;
mod month_state;
mod out_folder;
mod outcome;
mod placement;
mod plan;
mod reproduce;
mod runner;
pub(crate) mod scheduler;
mod selection;

use std::collections::BTreeMap;

use crate::archive::{self, ArchiveError, ArchivedStage, BuildToArchive, SourceFile};
use crate::checks::{CheckResult, ExpectError};
use crate::engine::EngineError;
use crate::error::{Hint, IoError};
use crate::export::ExportError;
use crate::graph::{GraphError, StageId, StageKind};
use crate::month::Month;
use crate::project::{MonthError, Project};
use crate::sources::SourceError;
use crate::store::{Fingerprint, ObjectHash, StageRecord, Store, StoreError};
use context::{CheckIndex, Context};
pub(crate) use inspect::{Stale, TestReport, current_output, stale_stages, test};
pub(crate) use outcome::{Action, BuildReport, BuildStatus, ExitStatus, StageOutcome};
pub(crate) use plan::{PlanAction, PlanReport, plan};
pub(crate) use reproduce::{Reproduction, Verdict, check_reproducible};
use runner::READ_ATTEMPTS;
pub(crate) use selection::selected_models;

#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildError {
    #[error(transparent)]
    Month(#[from] MonthError),
    #[error("`{stage}` has no output for {month} yet")]
    NotBuilt { stage: String, month: Month },
    #[error("no stage is named `{stage}`")]
    UnknownStage { stage: String, suggestion: String },
    #[error("`{stage}` is an export: what it writes is the file `{file}`")]
    ShowExport { stage: String, file: String },
    #[error("cannot read the output of `{stage}`: {message}")]
    Output { stage: String, message: String },
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("{flag}: {source}")]
    Select {
        flag: &'static str,
        source: crate::graph::SelectError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Expect(#[from] ExpectError),
    #[error(transparent)]
    Check(#[from] EngineError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

impl Hint for BuildError {
    fn hint(&self) -> Option<String> {
        match self {
            BuildError::Month(e) => e.hint(),
            BuildError::NotBuilt { month, .. } => {
                Some(format!("run `winebuild build --month {month}` first"))
            }
            BuildError::UnknownStage { suggestion, .. } => Some(suggestion.clone()),
            BuildError::ShowExport { .. } => Some(
                "`winebuild show` prints a source's or a model's rows; open the file itself".into(),
            ),
            BuildError::Output { .. } => {
                Some("build the month again: a damaged object is rebuilt".into())
            }
            BuildError::Graph(e) => e.hint(),
            BuildError::Select { source, .. } => source.hint(),
            BuildError::Store(e) => e.hint(),
            BuildError::Expect(e) => e.hint(),
            BuildError::Check(e) => e.hint(),
            BuildError::Archive(e) => e.hint(),
        }
    }
}

/// Why one stage could not produce its output.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StageError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    WriteOutput(IoError),
    #[error("`{file}` kept changing while it was read ({READ_ATTEMPTS} attempts)")]
    Unstable { file: String },
    #[error("stored output `{object}` of `{stage}` is corrupt")]
    CorruptInput { stage: String, object: ObjectHash },
    #[error("`{stage}` is not selected and has no up-to-date output for {month}")]
    NotSelected { stage: String, month: Month },
    #[error("internal error while building `{stage}`: {message}")]
    Internal { stage: String, message: String },
    #[error("{0}")]
    Cluster(crate::cluster::ClusterFault),
    #[error("model `{model}` declares the key column `{column}`, which its output does not have")]
    KeyColumn {
        model: String,
        column: String,
        suggestion: String,
    },
}

impl Hint for StageError {
    fn hint(&self) -> Option<String> {
        match self {
            StageError::Source(e) => e.hint(),
            StageError::Engine(e) => e.hint(),
            StageError::Export(e) => e.hint(),
            StageError::Store(e) => e.hint(),
            StageError::WriteOutput(_) => {
                Some("check the permissions and free space of the output folder (`out` in winebuild.toml)".into())
            }
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
            StageError::Cluster(fault) => Some(fault.hint()),
            StageError::KeyColumn { suggestion, model, .. } => Some(format!(
                "{suggestion}; fix `key = [...]` in models/{model}.sql"
            )),
            StageError::Internal { .. } => Some(
                "this is a bug in winebuild; the store is intact and nothing of this stage was kept"
                    .into(),
            ),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct BuildOptions {
    /// `--month`: `YYYY-MM`, `previous`, or none for the latest month folder.
    pub(crate) month: Option<String>,
    /// `--select`: dbt's grammar ([`crate::graph::Selector`]); none selects every stage.
    pub(crate) select: Vec<String>,
    /// `--exclude`: the same grammar, taken out of the selection.
    pub(crate) exclude: Vec<String>,
    /// `--state`: the archived build `state:` selectors compare with (`M` or `M@rN`).
    pub(crate) state: Option<String>,
    pub(crate) force: bool,
    /// How long to wait for another build to release the lock (forever when `None`).
    pub(crate) lock_timeout: Option<std::time::Duration>,
}

/// A settled stage: what the user sees, and what the month state keeps of it.
#[derive(Debug, Clone)]
pub(crate) struct Built {
    pub(crate) outcome: StageOutcome,
    /// For a stage with an output (ran or reused, checks passed or not): its fingerprint, record
    /// and check results, for the month state.
    pub(crate) state: Option<Box<StageState>>,
    /// Published before its output is stored: the table dependents may run ahead on, and the
    /// object once stored.
    pub(crate) draft: Option<std::sync::Arc<draft::Draft>>,
}

impl Built {
    fn bare(outcome: StageOutcome) -> Built {
        Built {
            outcome,
            state: None,
            draft: None,
        }
    }

    /// Its output object: the outcome's, or, for a draft, the object once stored.
    pub(crate) fn object(&self) -> Option<crate::store::ObjectHash> {
        self.outcome
            .object
            .clone()
            .or_else(|| self.draft.as_ref()?.object())
    }
}

#[derive(Debug, Clone)]
pub(crate) struct StageState {
    pub(crate) fingerprint: Fingerprint,
    pub(crate) record: StageRecord,
    pub(crate) checks: CheckIndex,
}

/// What a build reports while it runs, for progress displays.
pub(crate) enum BuildEvent<'a> {
    /// The build holds the lock and is about to build this many stages, of which `selected`
    /// are selected.
    Started { stages: usize, selected: usize },
    /// These stages must run, and start now (in parallel, as threads free up).
    StagesStarted(&'a [&'a str]),
    /// The outcomes of one level of the graph (stages independent of one another), in name
    /// order, once all of them are settled: output stays in the same order however stages ran.
    LevelFinished(&'a [StageOutcome]),
}

/// Builds one month. `on_wait` is called if another build holds the lock; `on_event` hears which
/// stages start running, and receives each level's outcomes as soon as all of them are settled.
pub(crate) fn build(
    project: &Project,
    options: &BuildOptions,
    on_wait: impl FnOnce(Option<&crate::store::lock::Holder>),
    mut on_event: impl FnMut(BuildEvent<'_>),
) -> Result<BuildReport, BuildError> {
    let mut store = Store::open(&project.root)?;
    if let Some(settings) = &project.remote {
        store.set_remote(std::sync::Arc::new(crate::remote::Remote::new(
            settings.clone(),
        )));
    }
    let lock = store.lock(options.lock_timeout, on_wait)?;
    store.sweep_tmp();
    let started_at = chrono::Utc::now();
    let ctx = Context::new(project, options, &store)?;
    on_event(BuildEvent::Started {
        stages: ctx.graph.len(),
        selected: ctx.selected.len(),
    });
    let built = run_stages(&ctx, &mut on_event);
    let levels = ctx.graph.in_order();
    let stages: Vec<StageOutcome> = levels
        .iter()
        .map(|&id| built[id.index()].outcome.clone())
        .collect();
    let status = ExitStatus::of(
        stages.iter().any(|s| s.error.is_some()),
        stages.iter().flat_map(|s| s.checks.iter()),
    );
    let mut report = BuildReport {
        run_id: started_at.format("%Y%m%dT%H%M%S%.6fZ").to_string(),
        month: ctx.month,
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        status: status.build_status(),
        duration_ms: ctx.elapsed_ms(),
        stages,
        archived: None,
        removed: Vec::new(),
        remote: None,
    };
    report.removed = out_folder::settle(&ctx, &report.stages, &report.started_at)
        .into_iter()
        .map(|r| format!("{} ({})", r.file, r.why))
        .collect();
    let state = month_state::next(&ctx, &built);
    store.put_month_state(ctx.month, &state, &ctx.previous)?;
    // Only a complete build that passed its checks is history worth keeping. A selection that
    // left nothing out of date (`--select state:modified`) is complete: every stage is current.
    let mut archive_error = None;
    let complete = report.stages.iter().all(|s| s.action.is_usable());
    if report.exit_status() == ExitStatus::Success && complete {
        let to_archive = to_archive(&ctx, &report, &built);
        match archive::archive_build(project, &store, to_archive, &|p| store.hash_archived(p)) {
            Ok(archived) => report.archived = Some(archived),
            Err(error) => {
                // The build itself is recorded either way; the failure to archive is the error.
                report.status = BuildStatus::Failed;
                archive_error = Some(error);
            }
        }
    }
    // After archiving, which hashes the revision's files through the stat cache: saved, the next
    // no-op build trusts those entries instead of reading the revision again.
    store.save_statcache()?;
    if let Some(remote) = store.remote() {
        store.share_month_state(ctx.month, &state, &ctx.previous);
        report.remote = Some(remote.finish());
    }
    store.append_run(&serde_json::to_string(&report).unwrap_or_default())?;
    drop(lock);
    match archive_error {
        Some(error) => Err(error.into()),
        None => Ok(report),
    }
}

/// The note that says which reports of the month's output folder are missing, and why.
pub(crate) fn out_note(project: &Project, month: Month) -> String {
    let note = project.out_dir(month).join(out_folder::NOTE);
    project.relative(&note).display().to_string()
}

/// Runs the scheduler over the build's stages; reports each level once all of it is settled.
fn run_stages(ctx: &Context<'_>, on_event: &mut impl FnMut(BuildEvent<'_>)) -> Vec<Built> {
    let levels = ctx.graph.levels();
    let mut settled: Vec<Option<StageOutcome>> = vec![None; ctx.graph.len()];
    // How many stages have yet to settle before each stage's table can go: itself and its readers.
    let mut readers: Vec<usize> = ctx.graph.dependents().iter().map(|d| d.len() + 1).collect();
    let mut reported = 0;
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    scheduler::run(ctx, threads, &mut |event| match event {
        scheduler::Event::Started(ids) => {
            let names: Vec<&str> = ids.iter().map(|&id| ctx.name(id)).collect();
            on_event(BuildEvent::StagesStarted(&names));
        }
        scheduler::Event::Settled(id, built) => {
            settled[id.index()] = Some(built.outcome.clone());
            // A table is freed once the stage that made it (its checks read it) and every stage
            // that reads it have settled: the 100x month no longer holds web, web_clean and
            // web_dedup all at once.
            for stage in std::iter::once(id).chain(ctx.graph.node(id).inputs.iter().copied()) {
                readers[stage.index()] = readers[stage.index()].saturating_sub(1);
                if readers[stage.index()] == 0
                    && let Some(object) = settled[stage.index()]
                        .as_ref()
                        .and_then(|outcome| outcome.object.as_ref())
                {
                    ctx.tables.remove(object);
                }
            }
            while let Some(level) = levels.get(reported)
                && level.iter().all(|id| settled[id.index()].is_some())
            {
                let outcomes: Vec<StageOutcome> = level
                    .iter()
                    .filter_map(|id| settled[id.index()].clone())
                    .collect();
                on_event(BuildEvent::LevelFinished(&outcomes));
                reported += 1;
            }
        }
    })
}

/// What the archive keeps of a successful build.
fn to_archive<'r>(
    ctx: &Context<'_>,
    report: &'r BuildReport,
    built: &[Built],
) -> BuildToArchive<'r> {
    let mut sources = Vec::new();
    let mut stages = Vec::new();
    for id in ctx.graph.in_order() {
        let Some(state) = &built[id.index()].state else {
            continue;
        };
        let name = ctx.name(id);
        let file = match ctx.kind(id) {
            StageKind::Source => {
                let file = &ctx.project.sources[name].file;
                if let Some(hash) = state.fingerprint.inputs.get(file) {
                    sources.push(SourceFile {
                        source: name.to_string(),
                        file: file.clone(),
                        bytes: ctx.source_file(file).stat().map_or(0, |s| s.size),
                        blake3: hash.clone(),
                    });
                }
                None
            }
            StageKind::Model => Some(format!("models/{name}.parquet")),
            StageKind::Export => Some(format!("exports/{}", ctx.project.exports[name].file())),
        };
        stages.push(archived_stage(ctx, id, state, file));
    }
    BuildToArchive {
        month: report.month,
        run_id: &report.run_id,
        built_at: &report.started_at,
        sources,
        stages,
        checks: report.checks().cloned().collect(),
    }
}

fn archived_stage(
    ctx: &Context<'_>,
    id: StageId,
    state: &StageState,
    file: Option<String>,
) -> ArchivedStage {
    let name = ctx.name(id);
    ArchivedStage {
        stage: name.to_string(),
        kind: ctx.kind(id),
        key: state.record.key.clone(),
        output: state.record.object.clone(),
        rows: state.record.rows,
        columns: state.record.columns.clone(),
        key_columns: ctx
            .project
            .models
            .get(name)
            .map(|m| m.key_columns.clone())
            .unwrap_or_default(),
        file,
    }
}

/// The check results a month state keeps, as JSON by check key.
fn check_index_json(checks: &CheckIndex) -> BTreeMap<crate::store::CheckKey, serde_json::Value> {
    checks
        .iter()
        .map(|(key, result): (_, &CheckResult)| {
            (
                key.clone(),
                serde_json::to_value(result).unwrap_or_default(),
            )
        })
        .collect()
}
