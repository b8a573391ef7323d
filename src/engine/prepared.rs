//! A model's query planned from its inputs' schemas alone, and run later on their tables.
//!
//! On a small month, planning a query (SQL → logical plan → optimised → physical plan) costs
//! more than running it, and a chain of models plans one query after another, each waiting for
//! the last one's rows. The logical half needs no rows, only schemas: so a model's query can be
//! parsed, resolved and optimised as soon as its inputs' schemas are known (`build::foresight`
//! does it on a core that would be idle), and only its physical plan waits for the tables.
//! Every local query goes this way, checks' included: one parse and one copy of the session's
//! state per query.
//!
//! Rules it keeps:
//! - the plan that runs is the one a query planned at the last moment gets: the logical plan
//!   depends on the SQL and the schemas alone, and the physical plan is made once the tables
//!   are there, over the very in-memory tables (with their statistics) a direct run registers;
//! - a query runs only on tables of exactly the schemas it was planned for; any other table is
//!   refused before a row is read;
//! - a query runs once, in the session (memory pool, settings) it was planned in.

use std::fmt;
use std::sync::{Arc, OnceLock};

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{MemTable, Session as CatalogSession, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::sql::parser::Statement;

use super::query::{Failure, Session, gather, read_only, recycle, task_context};
use crate::table::Table;

/// Where an input's table is put before the physical plan is made.
type Slot = Arc<OnceLock<Arc<Table>>>;

/// A query parsed and optimised over its inputs' schemas, waiting for their tables.
pub(crate) struct PreparedQuery {
    /// The runtime (memory pool) of the session the query was planned in.
    runtime: Arc<RuntimeEnv>,
    /// The session's state as the query was planned in it.
    state: SessionState,
    plan: LogicalPlan,
    /// Each input by name, with the schema it was planned for and where its table goes.
    inputs: Vec<(String, SchemaRef, Slot)>,
    schema: SchemaRef,
}

impl fmt::Debug for PreparedQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedQuery")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PreparedQuery {
    /// The schema of the query's result.
    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Whether this query was planned for inputs of exactly these schemas, by name.
    pub(crate) fn fits(&self, schemas: &[(String, SchemaRef)]) -> bool {
        self.inputs.len() == schemas.len()
            && self.inputs.iter().all(|(name, planned, _)| {
                schemas
                    .iter()
                    .any(|(given, schema)| given == name && schema == planned)
            })
    }
}

/// Plans `sql` in `session` over inputs of the given schemas, registered under their names;
/// `vet` sees the parsed statement first, and may refuse it.
pub(super) async fn prepare(
    session: Session,
    sql: &str,
    schemas: &[(String, SchemaRef)],
    vet: impl FnOnce(&SessionState, &Statement) -> Result<(), Failure>,
) -> Result<PreparedQuery, Failure> {
    let mut inputs = Vec::with_capacity(schemas.len());
    for (name, schema) in schemas {
        let slot = Slot::default();
        let table = InputTable {
            schema: schema.clone(),
            slot: slot.clone(),
        };
        session
            .register_table(name, Arc::new(table))
            .map_err(Failure::DataFusion)?;
        inputs.push((name.clone(), schema.clone(), slot));
    }
    // What `SessionContext::sql` does, on the session's own state where it copies the state
    // (and its registry of functions) three times, and with the statement parsed once for
    // `vet` and the planner.
    let Session { state, runtime } = session;
    let dialect = state.config().options().sql_parser.dialect;
    let statement = state
        .sql_to_statement(sql, &dialect)
        .map_err(Failure::DataFusion)?;
    vet(&state, &statement)?;
    let plan = state
        .statement_to_plan(statement)
        .await
        .map_err(Failure::DataFusion)?;
    read_only()
        .verify_plan(&plan)
        .map_err(Failure::DataFusion)?;
    let schema = Arc::new(plan.schema().as_arrow().clone());
    let plan = state.optimize(&plan).map_err(Failure::DataFusion)?;
    Ok(PreparedQuery {
        runtime,
        state,
        plan,
        inputs,
        schema,
    })
}

/// Runs `prepared` on `tables` (name → table), which must have the schemas it was planned for.
pub(super) async fn run(
    prepared: PreparedQuery,
    tables: &[(String, Arc<Table>)],
    limits: &super::QueryLimits,
) -> Result<Table, Failure> {
    for (name, planned, slot) in &prepared.inputs {
        let table = tables
            .iter()
            .find(|(given, _)| given == name)
            .map(|(_, table)| table)
            .filter(|table| &table.schema == planned)
            .ok_or_else(|| {
                Failure::DataFusion(DataFusionError::Internal(format!(
                    "the query was planned for another table `{name}`"
                )))
            })?;
        let _ = slot.set(table.clone());
    }
    let failure = |e| Failure::of(e, limits);
    let PreparedQuery {
        runtime,
        state,
        plan,
        schema,
        ..
    } = prepared;
    let plan = state
        .query_planner()
        .create_physical_plan(&plan, &state)
        .await
        .map_err(failure)?;
    let task = Arc::new(task_context(&state, runtime));
    let stream =
        datafusion::physical_plan::execute_stream(plan, Arc::clone(&task)).map_err(failure)?;
    let gathered = gather(schema, stream, limits).await;
    recycle(state, task);
    gathered
}

/// An input whose table is given once the logical plan is made: the physical plan then scans it
/// as the in-memory table a direct run registers.
#[derive(Debug)]
struct InputTable {
    schema: SchemaRef,
    slot: Slot,
}

#[async_trait]
impl TableProvider for InputTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn CatalogSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>, DataFusionError> {
        let table = self.slot.get().ok_or_else(|| {
            DataFusionError::Internal("an input was scanned before its table was given".into())
        })?;
        MemTable::try_new(self.schema.clone(), vec![table.batches.clone()])?
            .scan(state, projection, filters, limit)
            .await
    }
}
