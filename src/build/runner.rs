//! The build's stages as the scheduler sees them ([`Stages`] for [`Context`]): what is cheap is
//! decided on the scheduler's thread (hashing through the stat cache, store lookups, cached
//! checks), so a no-op build starts no thread; what must run goes to a worker thread, with up to
//! [`READ_ATTEMPTS`] tries for a source file that is still being written.

use std::time::Duration;

use super::context::Context;
use super::decide::{Decision, InputView, Inputs, Reason};
use super::execute::RunError;
use super::outcome::SkipReason;
use super::placement::Ran;
use super::scheduler::{Gate, Prepared, Stages, View};
use super::{Built, StageError};
use crate::graph::{StageId, StageKind};
use crate::project::ExportSpec;
use crate::sources::SourceError;

/// The pause before the second read of a source; doubled before the third.
const RETRY_BACKOFF: Duration = Duration::from_millis(200);

/// The reason shown for a stage another machine built.
pub(super) const FETCHED: &str = "fetched from the remote store";

/// How many times a source is read when it changes while being read or cannot be opened.
pub(super) const READ_ATTEMPTS: usize = 3;

/// Where building a stage stands after deciding its key.
pub(super) enum Attempt {
    /// It must run.
    Run(Box<Decision>),
    /// Its source could not be read: worth another try.
    Retry(SourceError),
    /// An input published a draft and is being stored: run ahead on the draft, then decide.
    AwaitDrafts,
}

impl Context<'_> {
    /// An input of `id` left out of date because it was not selected: a selected stage cannot
    /// be built on it, and the user should hear which one.
    fn stale_unselected_input(&self, id: StageId, view: &dyn InputView) -> Option<String> {
        self.graph.node(id).inputs.iter().find_map(|&input| {
            let built = view.input(input)?;
            (built.outcome.skipped == Some(SkipReason::NotSelected))
                .then(|| built.outcome.stage.clone())
        })
    }

    /// Resolves the stage's inputs and decides its key: done (reused, skipped, failed), or an
    /// attempt to run.
    fn attempt(
        &self,
        id: StageId,
        view: &dyn InputView,
        started_ms: f64,
    ) -> Prepared<Attempt, Built> {
        let inputs = match self.resolve_inputs(id, &|input| Context::built_input(view, input)) {
            Inputs::Ready(inputs) => inputs,
            Inputs::Unreadable(error @ SourceError::Io { .. }) => {
                return Prepared::Run(Attempt::Retry(error));
            }
            Inputs::Unreadable(error) => {
                return Prepared::Done(self.failure(id, &StageError::Source(error), started_ms));
            }
            Inputs::Blocked(why) => return Prepared::Done(self.skipped(id, why)),
            Inputs::Drafted => return Prepared::Run(Attempt::AwaitDrafts),
            Inputs::Pending(_) => {
                let error = StageError::Internal {
                    stage: self.name(id).to_string(),
                    message: "a build met an input only a plan can leave pending".into(),
                };
                return Prepared::Done(self.failure(id, &error, started_ms));
            }
        };
        let decision = self.decide(id, inputs);
        if let Some(record) = &decision.hit {
            let reused = self.reuse(id, &decision, record, started_ms);
            return Prepared::Done(self.with_checks(id, view, reused));
        }
        if !self.selected.contains(&id) {
            // Outside the selection and out of date: left alone, as dbt leaves it.
            return Prepared::Done(self.skipped(id, SkipReason::NotSelected));
        }
        Prepared::Run(Attempt::Run(Box::new(decision)))
    }

    /// The stage from the shared store, when it has this key: a local miss that another
    /// machine built. Never for `--force`, which asks for a rerun.
    fn fetch(&self, id: StageId, decision: &Decision, started_ms: f64) -> Option<Built> {
        if decision.reason == Reason::Forced {
            return None;
        }
        let record = self.store.fetch_stage(&decision.key)?;
        let mut fetched = self.reuse(id, decision, &record, started_ms);
        if fetched.outcome.action == super::Action::Reused {
            fetched.outcome.action = super::Action::Fetched;
            if fetched.outcome.wrote.is_none() {
                fetched.outcome.reason = FETCHED.to_string();
            }
        }
        Some(fetched)
    }

    /// A selected model's query, run on its inputs' drafts while they are being stored: its key
    /// is decided once they are, and the result is used only if the store has no output for it.
    /// `None` for a stage that does not run ahead: not a model, not selected (it runs only if
    /// the store has its output), or in a project with a cluster (its models read stored objects).
    fn run_ahead(&self, id: StageId, view: &dyn InputView) -> Option<Result<Ran, StageError>> {
        if self.kind(id) != StageKind::Model
            || !self.selected.contains(&id)
            || self.project.cluster.is_some()
        {
            return None;
        }
        let model = &self.project.models[self.name(id)];
        Some(self.run_model_query(id, model, view))
    }

    /// Waits until every input's draft is stored or abandoned.
    fn await_drafts(&self, id: StageId, view: &dyn InputView) {
        for &input in &self.graph.node(id).inputs {
            if let Some(draft) = view.input(input).and_then(|built| built.draft.as_ref()) {
                draft.wait();
            }
        }
    }

    /// Runs a prepared stage, trying a source that cannot be read or changes while it is read
    /// again, up to [`READ_ATTEMPTS`] times in all.
    fn finish(
        &self,
        id: StageId,
        view: &dyn InputView,
        mut attempt: Attempt,
        publish: &dyn Fn(&Built) -> bool,
    ) -> Built {
        let started_ms = self.elapsed_ms();
        let mut ahead = None;
        if matches!(attempt, Attempt::AwaitDrafts) {
            ahead = self.run_ahead(id, view);
            self.await_drafts(id, view);
            attempt = match self.attempt(id, view, started_ms) {
                Prepared::Done(built) => return built,
                Prepared::Run(next) => next,
            };
        }
        if let Attempt::Run(decision) = &attempt
            && let Some(fetched) = self.fetch(id, decision, started_ms)
        {
            return if publish(&fetched) {
                self.with_checks(id, view, fetched)
            } else {
                fetched
            };
        }
        let mut unreadable = None;
        for tried in 1..=READ_ATTEMPTS {
            match attempt {
                Attempt::Retry(error) => unreadable = Some(error),
                Attempt::AwaitDrafts => {
                    let error = StageError::Internal {
                        stage: self.name(id).to_string(),
                        message: "an input was still being stored after it was waited for".into(),
                    };
                    return self.failure(id, &error, started_ms);
                }
                Attempt::Run(decision) => {
                    match self.run(id, &decision, view, started_ms, publish, ahead.take()) {
                        Err(RunError::SourceChanged) => unreadable = None,
                        Err(RunError::Unreadable(error)) => unreadable = Some(error),
                        Err(RunError::Stage(error)) => return self.failure(id, &error, started_ms),
                        // Its checks run only while it is still wanted.
                        Ok(built) if publish(&built) => return self.with_checks(id, view, built),
                        Ok(unwanted) => return unwanted,
                    }
                }
            }
            if tried == READ_ATTEMPTS {
                break;
            }
            // A file still being written, or held by another program: give it a moment.
            std::thread::sleep(RETRY_BACKOFF * (1 << (tried - 1)));
            attempt = match self.attempt(id, view, started_ms) {
                Prepared::Done(built) => return built,
                Prepared::Run(next) => next,
            };
        }
        let file = self.project.sources[self.name(id)].file.clone();
        let tried = |message: String| format!("{message} (tried {READ_ATTEMPTS} times)");
        let error = match unreadable {
            Some(SourceError::Io { file, message }) => StageError::Source(SourceError::Io {
                file,
                message: tried(message),
            }),
            Some(SourceError::Open { file, message }) => StageError::Source(SourceError::Open {
                file,
                message: tried(message),
            }),
            Some(other) => StageError::Source(other),
            None => StageError::Unstable { file },
        };
        self.failure(id, &error, started_ms)
    }
}

impl Stages for Context<'_> {
    type Work = Attempt;
    type Outcome = Built;

    fn count(&self) -> usize {
        self.graph.len()
    }

    fn inputs(&self, id: StageId) -> &[StageId] {
        &self.graph.node(id).inputs
    }

    /// Exports wait for every check upstream: no file is written from data that failed one.
    fn gate(&self, id: StageId) -> Gate {
        match self.kind(id) {
            StageKind::Export => Gate::Settled,
            _ => Gate::Published,
        }
    }

    /// Sources by file size, other stages by the rows they read: the big workbook starts first.
    fn cost(&self, id: StageId, inputs: &View<'_, Built>) -> u64 {
        let node = self.graph.node(id);
        match node.kind {
            StageKind::Source => {
                let file = &self.project.sources[&node.name].file;
                // Local files only: asking object storage would cost a request per source.
                let input = self.source_file(file);
                input
                    .path()
                    .and_then(|path| std::fs::metadata(path).ok())
                    .map_or(0, |m| m.len())
            }
            StageKind::Model => node
                .inputs
                .iter()
                .filter_map(|&input| inputs.get(input)?.outcome.rows)
                .sum(),
            StageKind::Export => {
                // An export writes every cell of its models, an xlsx cell (XML, then deflate) a
                // few times dearer than a csv one: on the sample month the xlsx report takes 2.3
                // ms, the csv of about as many cells 0.6.
                let cells: u64 = node
                    .inputs
                    .iter()
                    .filter_map(|&input| {
                        let outcome = &inputs.get(input)?.outcome;
                        Some(outcome.rows? * outcome.columns.len().max(1) as u64)
                    })
                    .sum();
                match self.project.exports.get(&node.name) {
                    Some(ExportSpec::Xlsx { .. }) => cells * 4,
                    _ => cells,
                }
            }
        }
    }

    fn prepare(&self, id: StageId, inputs: &View<'_, Built>) -> Prepared<Attempt, Built> {
        let started_ms = self.elapsed_ms();
        if let Some(stale) = self.stale_unselected_input(id, inputs) {
            if !self.selected.contains(&id) {
                return Prepared::Done(self.skipped(id, SkipReason::NotSelected));
            }
            let error = StageError::NotSelected {
                stage: stale,
                month: self.month,
            };
            return Prepared::Done(self.failure(id, &error, started_ms));
        }
        self.attempt(id, inputs, started_ms)
    }

    fn run(
        &self,
        id: StageId,
        work: Attempt,
        inputs: &View<'_, Built>,
        publish: &dyn Fn(&Built) -> bool,
    ) -> Built {
        self.finish(id, inputs, work, publish)
    }

    fn is_usable(&self, built: &Built) -> bool {
        built.outcome.action.is_usable()
    }

    fn skipped(&self, id: StageId, input: StageId, settled: &Built) -> Built {
        let why = SkipReason::Upstream {
            stage: self.name(input).to_string(),
            action: settled.outcome.action,
        };
        Context::skipped(self, id, why)
    }

    fn has_spare_work(&self) -> bool {
        self.foresight().has_work()
    }

    fn spare_work(&self) {
        self.foresight().plan_next();
    }

    fn internal_error(&self, id: StageId, message: String) -> Built {
        let error = StageError::Internal {
            stage: self.name(id).to_string(),
            message,
        };
        self.failure(id, &error, self.elapsed_ms())
    }
}
