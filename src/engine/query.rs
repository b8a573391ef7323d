//! One query in a fresh session, within its limits: a memory pool for DataFusion's operators and
//! for the result it collects, a time limit, and a panic inside DataFusion caught as an error.
//!
//! A session's settings and function registry are built once per process ([`template`]) and
//! cloned for each query, with empty catalogs of its own: registering every SQL function cost a
//! small model more than planning it.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
    MemorySchemaProvider, TableProvider,
};
use datafusion::common::TableReference;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use futures::StreamExt;

use crate::table::Table;

/// What one query may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueryLimits {
    /// Memory for the query's operators and for its result.
    pub(crate) memory_bytes: usize,
    pub(crate) timeout: Duration,
}

impl Default for QueryLimits {
    fn default() -> QueryLimits {
        QueryLimits {
            memory_bytes: 4 << 30,
            timeout: Duration::from_mins(30),
        }
    }
}

/// Why a query gave no result.
pub(super) enum Failure {
    /// DataFusion refused the query or failed while running it.
    DataFusion(DataFusionError),
    /// It ran longer than the time limit.
    TimedOut(Duration),
    /// It needed more memory than the limit.
    OutOfMemory(usize),
    /// DataFusion panicked: a bug in it, caught.
    Crashed(String),
    /// winebuild refused the query before running it (it reads an undeclared table, or is not
    /// a SELECT).
    Refused(Box<super::EngineError>),
}

pub(super) fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// A local query's session state, and the runtime (with its memory pool) its operators run in.
/// The state is used as it is, without a `SessionContext`, whose every use copies it.
pub(super) struct Session {
    pub(super) state: SessionState,
    pub(super) runtime: Arc<RuntimeEnv>,
}

impl Session {
    /// Registers `provider` as the table `name`, as `SessionContext::register_table` does.
    pub(super) fn register_table(
        &self,
        name: &str,
        provider: Arc<dyn TableProvider>,
    ) -> Result<(), DataFusionError> {
        let reference = TableReference::from(name);
        let table = reference.table().to_owned();
        self.state
            .schema_for_ref(reference)?
            .register_table(table, provider)?;
        Ok(())
    }
}

thread_local! {
    /// The state of this thread's last query, once it ended, for its next query (see
    /// [`recycle`]).
    static SPARE_STATE: RefCell<Option<SessionState>> = const { RefCell::new(None) };
    /// The task context this thread's last query ran in, for its next query.
    static SPARE_TASK: RefCell<Option<TaskContext>> = const { RefCell::new(None) };
}

/// A session with empty catalogs and no information schema, one partition, and a memory pool of
/// its own.
pub(super) fn session(limits: &QueryLimits) -> Result<Session, DataFusionError> {
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(limits.memory_bytes, 1.0)
        .build_arc()?;
    let spare = SPARE_STATE.with_borrow_mut(Option::take);
    let mut state = spare.unwrap_or_else(|| template().clone());
    state.register_catalog_list(empty_catalogs(&state)?);
    // What `SessionContext::state` does: the query's `now()` is this moment.
    state.mark_start_execution();
    Ok(Session { state, runtime })
}

/// The context a query planned on `state` runs in, with `runtime`: this thread's last one with
/// the runtime replaced, else one made from the state, which copies its function registry. Every
/// state is the template's settings and functions, so the contexts made from them are alike.
pub(super) fn task_context(state: &SessionState, runtime: Arc<RuntimeEnv>) -> TaskContext {
    match SPARE_TASK.with_borrow_mut(Option::take) {
        Some(task) => task.with_runtime(runtime),
        None => TaskContext::from(state).with_runtime(runtime),
    }
}

/// Keeps the state and task context of a query that ended for this thread's next query, its
/// catalogs (and the tables in them) dropped now. A query's state is the template's settings
/// and function registry, which no query changes, and copying it for every query took about
/// 1 ms off a cold sample build. What a query sets in it, [`session`] sets again: its catalogs,
/// and the start of its execution (its `now()`, and the names it makes up for expressions).
/// A context still held elsewhere (by a task the query left behind) is not kept.
pub(super) fn recycle(mut state: SessionState, task: Arc<TaskContext>) {
    state.register_catalog_list(Arc::new(MemoryCatalogProviderList::new()));
    SPARE_STATE.with_borrow_mut(|spare| *spare = Some(state));
    if let Ok(task) = Arc::try_unwrap(task) {
        SPARE_TASK.with_borrow_mut(|spare| *spare = Some(task));
    }
}

/// The settings and function registry every local query starts from, built on first use.
fn template() -> &'static SessionState {
    static TEMPLATE: OnceLock<SessionState> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let mut config = SessionConfig::new()
            .with_target_partitions(1)
            .with_information_schema(false);
        config.options_mut().sql_parser.collect_spans = true;
        // One optimizer pass instead of up to three: rewrites never change a result, and on
        // these small queries further passes found nothing worth their 0.3–1 ms per query (a
        // cold sample build: 150 instead of 175 ms of CPU; the 100x month's stages took as long
        // as before).
        config.options_mut().optimizer.max_passes = 1;
        SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .build()
    })
}

/// A catalog list holding only the default catalog and schema, empty: what a query may read is
/// registered there, and nothing is shared with another query.
fn empty_catalogs(state: &SessionState) -> Result<Arc<dyn CatalogProviderList>, DataFusionError> {
    let names = &state.config().options().catalog;
    let catalog = MemoryCatalogProvider::new();
    catalog.register_schema(&names.default_schema, Arc::new(MemorySchemaProvider::new()))?;
    let catalogs = MemoryCatalogProviderList::new();
    catalogs.register_catalog(names.default_catalog.clone(), Arc::new(catalog));
    Ok(Arc::new(catalogs))
}

/// Whether a query's runtime talks to the network (a cluster's scheduler and executors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Io {
    None,
    Network,
}

/// Runs `run` on a runtime of its own, within the time limit; a panic inside is caught.
pub(super) fn within_limits<F, T>(limits: &QueryLimits, io: Io, run: F) -> Result<T, Failure>
where
    F: Future<Output = Result<T, Failure>>,
{
    let mut builder = tokio::runtime::Builder::new_current_thread();
    match io {
        Io::None => builder.enable_time(),
        Io::Network => builder.enable_all(),
    };
    let runtime = builder
        .build()
        .map_err(|e| Failure::DataFusion(DataFusionError::External(Box::new(e))))?;
    let timeout = limits.timeout;
    let ran = catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async move {
            tokio::time::timeout(timeout, run)
                .await
                .unwrap_or(Err(Failure::TimedOut(timeout)))
        })
    }));
    ran.unwrap_or_else(|panic| Err(Failure::Crashed(crate::error::panic_message(&*panic))))
}

/// Plans `sql` in `ctx` and collects its result. With `runtime`, the operators run in it (a local
/// query's own memory pool); without, as `ctx` runs them (a cluster client's session: on the
/// executors).
pub(super) async fn collect(
    ctx: &SessionContext,
    sql: &str,
    limits: &QueryLimits,
    runtime: Option<&Arc<RuntimeEnv>>,
) -> Result<Table, Failure> {
    let failure = |e| Failure::of(e, limits);
    let frame = ctx
        .sql_with_options(sql, read_only())
        .await
        .map_err(failure)?;
    let mut task = frame.task_ctx();
    if let Some(runtime) = runtime {
        task = task.with_runtime(runtime.clone());
    }
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let plan = frame.create_physical_plan().await.map_err(failure)?;
    let stream =
        datafusion::physical_plan::execute_stream(plan, Arc::new(task)).map_err(failure)?;
    gather(schema, stream, limits).await
}

/// Reads a result stream into a table, stopping when the result outgrows the memory limit
/// (DataFusion's pool counts its operators' memory, not the batches handed out).
pub(super) async fn gather(
    schema: arrow::datatypes::SchemaRef,
    mut stream: datafusion::execution::SendableRecordBatchStream,
    limits: &QueryLimits,
) -> Result<Table, Failure> {
    let failure = |e| Failure::of(e, limits);
    let mut batches = Vec::new();
    let mut held = 0usize;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(failure)?;
        held = held.saturating_add(held_bytes(&batch));
        if held > limits.memory_bytes {
            return Err(Failure::OutOfMemory(limits.memory_bytes));
        }
        batches.push(batch);
    }
    Ok(Table::new(schema, batches))
}

/// The bytes `batch`'s rows take. Not `get_array_memory_size`, which counts a slice's whole
/// buffers: DataFusion hands a big result out as slices of one array, and counting each slice as
/// the whole would take a 1 GB result for a 100 GB one.
fn held_bytes(batch: &arrow::array::RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|column| {
            column
                .to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| column.get_array_memory_size())
        })
        .sum()
}

impl Failure {
    /// DataFusion's error, or the memory limit when it is what the query ran out of.
    pub(super) fn of(error: DataFusionError, limits: &QueryLimits) -> Failure {
        match error.find_root() {
            DataFusionError::ResourcesExhausted(_) => Failure::OutOfMemory(limits.memory_bytes),
            _ => Failure::DataFusion(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::held_bytes;

    #[test]
    fn a_result_handed_out_in_slices_counts_once() {
        let rows = 100_000;
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("text", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(0..rows)),
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("vin {i:>20}")),
                )),
            ],
        )
        .unwrap();
        let whole = held_bytes(&batch);
        let slices: usize = (0..10)
            .map(|i| held_bytes(&batch.slice(i * 10_000, 10_000)))
            .sum();
        assert!(whole > 3_000_000, "{whole}");
        // Each slice counts its own rows (and a few offsets), not the arrays it is cut from.
        assert!(slices <= whole + 1_000, "{slices} for {whole}");
        // What get_array_memory_size says of the same slices: the whole arrays, ten times.
        let counted_whole: usize = (0..10)
            .map(|i| batch.slice(i * 10_000, 10_000).get_array_memory_size())
            .sum();
        assert!(counted_whole > 9 * whole, "{counted_whole} for {whole}");
    }

    /// Each query's operators draw on its own pool, not on the shared template's runtime: a join
    /// over a million rows fails at a 2 MiB limit and passes at 1 GiB; and two sessions share
    /// no table.
    #[test]
    fn each_query_runs_in_its_own_memory_pool_and_catalog() {
        use super::{Failure, Io, QueryLimits, session, within_limits};
        // A hash join's build side cannot spill to disk: it is held in the pool or fails.
        let sql = "SELECT COUNT(*) AS n FROM range(1000000) AS a JOIN range(1000000) AS b \
                   ON a.value = b.value";
        let run = |memory_bytes: usize| {
            let limits = QueryLimits {
                memory_bytes,
                ..QueryLimits::default()
            };
            within_limits(&limits, Io::None, async {
                let session = session(&limits).map_err(Failure::DataFusion)?;
                let prepared =
                    super::super::prepared::prepare(session, sql, &[], |_, _| Ok(())).await?;
                super::super::prepared::run(prepared, &[], &limits).await
            })
        };
        assert!(matches!(run(2 << 20), Err(Failure::OutOfMemory(_))));
        let table = run(1 << 30).unwrap_or_else(|_| panic!("the query failed at 1 GiB"));
        let column = table.batches[0].column(0);
        let counts = column.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(counts.value(0), 1_000_000);

        let limits = QueryLimits::default();
        let first = session(&limits).unwrap_or_else(|_| panic!("no session"));
        let table = Arc::new(crate::table::Table::new(
            Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)])),
            Vec::new(),
        ));
        let private =
            datafusion::catalog::MemTable::try_new(table.schema.clone(), vec![Vec::new()]).unwrap();
        first.register_table("private", Arc::new(private)).unwrap();
        let second = session(&limits).unwrap_or_else(|_| panic!("no session"));
        let exists = |session: &super::Session| {
            let schema = session.state.schema_for_ref("private").unwrap();
            schema.table_exist("private")
        };
        assert!(exists(&first));
        assert!(!exists(&second));
    }
}
