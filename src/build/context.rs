//! The state one build (or plan, or test) shares between its stages: the project, the graph,
//! the month and what was built for it last, the store, and the tables decoded so far.
//!
//! Rules it keeps: nothing here is mutable but the table cache and the store's own caches, so
//! stage threads share a `&Context` without a lock around it; each object is decoded at most
//! once per build, even when two stages ask for it at the same moment ([`TableCache`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use super::outcome::{Action, SkipReason, StageOutcome};
use super::{BuildError, BuildOptions, Built, StageError};
use crate::checks::Expectations;
use crate::graph::{Graph, StageId, StageKind};
use crate::month::{Month, MonthChoice};
use crate::project::Project;
use crate::sources::SourceError;
use crate::store::{MonthState, ObjectHash, Store};
use crate::table::Table;

/// One object's decoded table, or why it could not be decoded, set once.
type TableSlot = Arc<OnceLock<Result<Arc<Table>, String>>>;

/// Decoded tables by object, each decoded once: the first stage to ask decodes it while the
/// others wait for that result instead of decoding it again.
#[derive(Default)]
pub(super) struct TableCache {
    slots: Mutex<HashMap<ObjectHash, TableSlot>>,
}

impl TableCache {
    /// The table of `object`, decoded by `load` unless another stage did or is doing it.
    pub(crate) fn get_or_load(
        &self,
        object: &ObjectHash,
        load: impl FnOnce() -> Result<Table, String>,
    ) -> Result<Arc<Table>, String> {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(object.clone())
            .or_default()
            .clone();
        // The map's lock is released: decoding one object never holds up another.
        slot.get_or_init(|| load().map(Arc::new)).clone()
    }

    /// Forgets `object`'s table: its last reader has it (or never will). A stage still holding it
    /// keeps it alive; one that asks again decodes it from the store.
    pub(crate) fn remove(&self, object: &ObjectHash) {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(object);
    }

    /// Keeps a table a stage just produced, so dependents read it from memory.
    pub(crate) fn insert(&self, object: &ObjectHash, table: Arc<Table>) {
        let slot = Arc::new(OnceLock::new());
        let _ = slot.set(Ok(table));
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(object.clone(), slot);
    }
}

/// Shared state of one build, plan or test.
pub(super) struct Context<'a> {
    pub(crate) project: &'a Project,
    pub(crate) graph: Graph,
    pub(crate) month: Month,
    pub(crate) selected: BTreeSet<StageId>,
    pub(crate) force: bool,
    /// What the last build of the month left: each stage's key, record and check results.
    pub(crate) previous: MonthState,
    pub(crate) store: &'a Store,
    pub(crate) tables: TableCache,
    /// Every stage name, to tell an undeclared input from an unknown table in SQL errors.
    pub(crate) stage_names: BTreeSet<String>,
    /// The month's pinned figures (`expect.toml`).
    pub(crate) expectations: Expectations,
    pub(crate) started: Instant,
    /// Whether the project's cluster can take work, asked once per build.
    pub(crate) cluster: super::placement::ClusterCheck,
    /// Schemas known so far and the models' queries planned ahead from them: made when a stage
    /// first runs ([`Context::foresight`]), so a build that runs nothing copies no model.
    foresight: OnceLock<super::foresight::Foresight>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(
        project: &'a Project,
        options: &BuildOptions,
        store: &'a Store,
    ) -> Result<Context<'a>, BuildError> {
        let choice = MonthChoice::parse(options.month.as_deref())
            .map_err(|e| BuildError::Month(e.into()))?;
        let month = project.resolve_month(choice)?;
        let graph = Graph::new(project)?;
        let previous = store.month_state(month);
        let expectations = Expectations::load(project, month)?;
        let mut ctx = Context {
            expectations,
            project,
            month,
            selected: BTreeSet::new(),
            force: options.force,
            previous,
            store,
            tables: TableCache::default(),
            stage_names: project.stage_names().cloned().collect(),
            graph,
            started: Instant::now(),
            cluster: super::placement::ClusterCheck::default(),
            foresight: OnceLock::new(),
        };
        ctx.selected = super::selection::selected(&ctx, options)?;
        Ok(ctx)
    }

    /// The build's planning ahead ([`super::foresight`]).
    pub(crate) fn foresight(&self) -> &super::foresight::Foresight {
        self.foresight
            .get_or_init(|| super::foresight::Foresight::new(self))
    }

    pub(crate) fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    pub(crate) fn name(&self, id: StageId) -> &str {
        self.graph.name(id)
    }

    pub(crate) fn kind(&self, id: StageId) -> StageKind {
        self.graph.node(id).kind
    }

    /// A source file of the month, on disk or on object storage.
    pub(crate) fn source_file(&self, file: &str) -> crate::project::InputFile {
        self.project.input_file(self.month, file)
    }

    /// The path of an export file of the month.
    pub(crate) fn out_path(&self, file: &str) -> PathBuf {
        self.project.out_dir(self.month).join(file)
    }

    /// The error for a source file that does not exist, listing what the month folder holds.
    pub(crate) fn missing_source(&self, file: &str) -> SourceError {
        SourceError::Missing {
            file: self.source_file(file).shown(&self.project.root),
            available: self.project.data.files_of(self.month),
        }
    }

    /// The stage's own definition, as named fields (see [`crate::store::Fingerprint::changes_since`]).
    pub(crate) fn definition(&self, id: StageId) -> serde_json::Value {
        let name = self.name(id);
        match self.kind(id) {
            StageKind::Source => {
                serde_json::to_value(&self.project.sources[name]).unwrap_or_default()
            }
            StageKind::Model => self.project.models[name].definition(),
            StageKind::Export => self.project.exports[name].definition(),
        }
    }

    /// A bare outcome of `id`, started now.
    pub(crate) fn outcome(&self, id: StageId, action: Action, reason: String) -> StageOutcome {
        let mut outcome = StageOutcome::new(self.name(id), self.kind(id), action, reason);
        outcome.started_ms = self.elapsed_ms();
        outcome
    }

    /// `id` skipped, and why.
    pub(crate) fn skipped(&self, id: StageId, why: SkipReason) -> Built {
        let mut outcome = self.outcome(id, Action::Skipped, why.to_string());
        outcome.skipped = Some(why);
        Built::bare(outcome)
    }

    /// `id` failed with `error`, having started at `started_ms`.
    pub(crate) fn failure(&self, id: StageId, error: &StageError, started_ms: f64) -> Built {
        let mut outcome = self.outcome(id, Action::Failed, error.to_string());
        outcome.started_ms = started_ms;
        outcome.duration_ms = self.elapsed_ms() - started_ms;
        outcome.hint = crate::error::Hint::hint(error);
        outcome.error = Some(error.to_string());
        Built::bare(outcome)
    }

    /// The decoded output of `stage`, from memory or read from the store.
    pub(crate) fn load_table(
        &self,
        stage: &str,
        object: &ObjectHash,
    ) -> Result<Arc<Table>, StageError> {
        self.tables
            .get_or_load(object, || {
                let bytes = self.store.read_object(object).map_err(|e| e.to_string())?;
                Table::from_parquet(bytes).map_err(|e| e.to_string())
            })
            .map_err(|_| StageError::CorruptInput {
                stage: stage.to_string(),
                object: object.clone(),
            })
    }
}

/// Check results by check key, as the month state keeps them.
pub(super) type CheckIndex = BTreeMap<crate::store::CheckKey, crate::checks::CheckResult>;

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn an_object_is_decoded_once_when_stages_ask_for_it_at_the_same_moment() {
        let cache = TableCache::default();
        let object = ObjectHash::of(b"a table");
        let decoded = AtomicUsize::new(0);
        let schema = arrow::datatypes::Schema::new(vec![arrow::datatypes::Field::new(
            "id",
            arrow::datatypes::DataType::Int64,
            false,
        )]);
        let barrier = std::sync::Barrier::new(4);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    barrier.wait();
                    let table = cache.get_or_load(&object, || {
                        decoded.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(30));
                        Ok(Table::empty(schema.clone()))
                    });
                    assert!(table.is_ok());
                });
            }
        });
        assert_eq!(decoded.load(Ordering::SeqCst), 1);
        let failed = ObjectHash::of(b"a damaged object");
        let first = cache.get_or_load(&failed, || Err("corrupt".into()));
        let again = cache.get_or_load(&failed, || Ok(Table::empty(schema.clone())));
        assert_eq!(first.unwrap_err(), "corrupt");
        assert_eq!(
            again.unwrap_err(),
            "corrupt",
            "a failure is remembered for the build"
        );
    }
}
