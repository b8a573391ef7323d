//! The SQL engine: runs one model's query with DataFusion over its declared inputs only.
//!
//! Rules it keeps:
//! - a fresh session per query (the settings and SQL functions of one built per process; a
//!   thread's next query reuses them with new catalogs and a new memory pool), holding only the
//!   model's declared inputs as in-memory tables: no catalog, no information schema, no
//!   file-reading table functions;
//! - every table the query reads must be a declared input; reading another is an error naming it;
//! - one SELECT statement only: DDL, DML (INSERT, COPY) and statements (SET, …) are refused before
//!   planning (and DataFusion's `SQLOptions` would refuse them too), so a
//!   model cannot create, write or read files;
//! - one partition per query: results keep a deterministic row order, so equal inputs give
//!   byte-identical outputs (the store relies on it for early cutoff). Parallelism comes from
//!   running independent stages at once;
//! - on a cluster ([`cluster`]), the same session settings and the same plan: the output is
//!   byte-identical to a local run's, so no key depends on the engine.

pub(crate) mod cluster;
mod located;
mod prepared;
mod query;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;

use crate::error::{Hint, suggestion};
use crate::project::ModelDef;
use crate::table::Table;
use located::{check_statement_references, is_query, sql_error, tidy_parser_message};
pub(crate) use prepared::PreparedQuery;
pub(crate) use query::QueryLimits;
use query::{Failure, Io, session, within_limits};

#[derive(Debug, thiserror::Error)]
pub(crate) enum EngineError {
    #[error("model `{model}` reads `{table}`, which it does not declare in `inputs`")]
    UndeclaredInput {
        model: String,
        table: String,
        known_stage: bool,
        suggestion: Option<String>,
    },
    #[error("model `{model}` ({location}): {message}")]
    Sql {
        model: String,
        location: String,
        message: String,
    },
    #[error("model `{model}`: {message}")]
    Forbidden { model: String, message: String },
    #[error("model `{model}`, check `{check}`: {message}")]
    Check {
        model: String,
        check: String,
        message: String,
    },
    #[error("{query}: it ran longer than the time limit of {}", crate::text::duration(limit.as_secs_f64() * 1000.0))]
    TimedOut { query: String, limit: Duration },
    #[error("{query}: it needs more memory than the limit of {}", crate::text::bytes(*limit as u64))]
    OutOfMemory { query: String, limit: usize },
    #[error("{query}: DataFusion failed on it: {message}")]
    Crashed { query: String, message: String },
    #[error("model `{model}` failed on the cluster {url}: {message}")]
    Cluster {
        model: String,
        url: String,
        message: String,
    },
}

impl Hint for EngineError {
    fn hint(&self) -> Option<String> {
        match self {
            EngineError::UndeclaredInput {
                table,
                known_stage: true,
                ..
            } => Some(format!(
                "add \"{table}\" to the model's `-- inputs = [...]` header"
            )),
            EngineError::UndeclaredInput {
                suggestion: Some(s),
                ..
            } => Some(suggestion(s)),
            EngineError::UndeclaredInput { .. } => {
                Some("a model reads only sources and models declared in its header".into())
            }
            EngineError::Sql { .. } => {
                Some("fix the query; `winebuild build --select <model>` reruns just it".into())
            }
            EngineError::Forbidden { .. } => Some(
                "a model is one SELECT query; winebuild writes its result to the store itself"
                    .into(),
            ),
            EngineError::Check { model, .. } => Some(format!(
                "fix the check in models/{model}.sql; a check reads its model and what the model reads"
            )),
            EngineError::TimedOut { .. } => Some(
                "look for a recursive query that never ends or a join without a condition; \
                 if it only needs longer, raise `stage_timeout` under [build] in winebuild.toml"
                    .into(),
            ),
            EngineError::OutOfMemory { .. } => Some(
                "look for a join without a condition; if the data really needs it, raise \
                 `query_memory_mb` under [build] in winebuild.toml"
                    .into(),
            ),
            EngineError::Cluster { .. } => Some(
                "nothing of this stage was kept; `winebuild cluster status` lists the executors, \
                 and the scheduler's and executors' output says more"
                    .into(),
            ),
            EngineError::Crashed { .. } => Some(
                "a bug in DataFusion, not in your data: the store is intact; writing the query \
                 another way usually avoids it"
                    .into(),
            ),
        }
    }
}

/// An identifier quoted for SQL: `ca total` → `"ca total"`, `a"b` → `"a""b"`.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Identifiers quoted and joined with commas, for a column list.
pub(crate) fn quote_idents<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| quote_ident(n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `model`'s query over `inputs` (declared name → table), within `limits`. `stage_names`
/// are every stage of the project, used to tell an undeclared input from an unknown table.
pub(crate) fn run_model(
    model: &ModelDef,
    inputs: &[(String, Arc<Table>)],
    stage_names: &BTreeSet<String>,
    limits: &QueryLimits,
) -> Result<Table, EngineError> {
    let prepared = prepare_model(model, &schemas_of(inputs), stage_names, limits)?;
    run_prepared(model, prepared, inputs, limits)
}

/// Each table's schema, by name.
pub(crate) fn schemas_of(tables: &[(String, Arc<Table>)]) -> Vec<(String, SchemaRef)> {
    tables
        .iter()
        .map(|(name, table)| (name.clone(), table.schema.clone()))
        .collect()
}

/// Plans `model`'s query over inputs of these schemas (declared name → schema), to run later
/// with [`run_prepared`]: the plan is the one [`run_model`] would make on tables of the same
/// schemas.
pub(crate) fn prepare_model(
    model: &ModelDef,
    schemas: &[(String, SchemaRef)],
    stage_names: &BTreeSet<String>,
    limits: &QueryLimits,
) -> Result<PreparedQuery, EngineError> {
    let prepared = within_limits(limits, Io::None, async {
        let session = session(limits).map_err(Failure::DataFusion)?;
        let names: Vec<&str> = schemas.iter().map(|(name, _)| name.as_str()).collect();
        let vet = |state: &_, statement: &_| {
            check_statement_references(state, statement, model, &names, stage_names)
                .map_err(|e| Failure::Refused(Box::new(e)))
        };
        prepared::prepare(session, &model.sql, schemas, vet).await
    });
    prepared.map_err(|failure| model_failure(model, failure))
}

/// Runs `model`'s query planned by [`prepare_model`] on `inputs`, which must have the schemas
/// it was planned for.
pub(crate) fn run_prepared(
    model: &ModelDef,
    prepared: PreparedQuery,
    inputs: &[(String, Arc<Table>)],
    limits: &QueryLimits,
) -> Result<Table, EngineError> {
    within_limits(limits, Io::None, prepared::run(prepared, inputs, limits))
        .map_err(|failure| model_failure(model, failure))
}

fn model_failure(model: &ModelDef, failure: Failure) -> EngineError {
    match failure {
        Failure::DataFusion(error) => sql_error(model, &error),
        other => stopped(format!("model `{}`", model.name), other),
    }
}

/// The tables a check's query reads, by name, so its cache key can include their contents before
/// it runs. Qualified names (`a.b`) are returned whole and rejected later.
pub(crate) fn referenced_tables(sql: &str) -> Result<Vec<String>, String> {
    // Parsed without a session: building one registers every SQL function, which would cost a
    // no-op build a millisecond per check.
    let mut statements = datafusion::sql::parser::DFParser::parse_sql(sql)
        .map_err(|e| tidy_parser_message(&e.strip_backtrace()))?;
    let statement = match (statements.pop_front(), statements.is_empty()) {
        (Some(statement), true) if is_query(&statement) => statement,
        _ => return Err("a check's query must be one SELECT".into()),
    };
    let (references, _ctes) = datafusion::sql::resolve::resolve_table_references(&statement, true)
        .map_err(|e| e.strip_backtrace())?;
    let mut names: Vec<String> = references
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Runs one query of `model`'s check `check` over `tables`, which must hold every table it reads.
pub(crate) fn run_check_query(
    model: &str,
    check: &str,
    sql: &str,
    tables: &[(String, Arc<Table>)],
    limits: &QueryLimits,
) -> Result<Table, EngineError> {
    let ran = within_limits(limits, Io::None, async {
        let session = session(limits).map_err(Failure::DataFusion)?;
        let prepared = prepared::prepare(session, sql, &schemas_of(tables), |_, _| Ok(())).await?;
        prepared::run(prepared, tables, limits).await
    });
    ran.map_err(|failure| check_failure(model, check, failure))
}

fn check_failure(model: &str, check: &str, failure: Failure) -> EngineError {
    match failure {
        Failure::DataFusion(error) => EngineError::Check {
            model: model.to_string(),
            check: check.to_string(),
            message: tidy_parser_message(&error.strip_backtrace()),
        },
        other => stopped(format!("model `{model}`, check `{check}`"), other),
    }
}

/// A query stopped by a limit, or by a crash inside DataFusion.
fn stopped(query: String, failure: Failure) -> EngineError {
    match failure {
        Failure::TimedOut(limit) => EngineError::TimedOut { query, limit },
        Failure::OutOfMemory(limit) => EngineError::OutOfMemory { query, limit },
        Failure::Crashed(message) => EngineError::Crashed { query, message },
        Failure::Refused(error) => *error,
        Failure::DataFusion(error) => EngineError::Crashed {
            query,
            message: error.strip_backtrace(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::located::parser_position;
    use super::*;

    #[test]
    fn parser_positions_are_read_from_messages() {
        let message = "SQL error: ParserError(\"Expected: end of statement, found: FORM at Line: 2, Column: 10\")";
        assert_eq!(parser_position(message), Some((2, 10)));
        assert_eq!(parser_position("no position"), None);
    }

    /// A query planned from schemas alone runs on tables of those schemas, with the result a
    /// direct run gives, and refuses a table of another schema before reading a row.
    #[test]
    fn a_query_planned_ahead_runs_only_on_tables_of_the_schemas_it_was_planned_for() {
        use arrow::array::{Int64Array, RecordBatch};
        use arrow::datatypes::{DataType, Field, Schema};
        let table = |ty: DataType| {
            let schema = Arc::new(Schema::new(vec![Field::new("n", ty, true)]));
            let column = arrow::compute::cast(
                &Int64Array::from(vec![3, 1, 2]),
                schema.field(0).data_type(),
            )
            .unwrap();
            let batch = RecordBatch::try_new(schema.clone(), vec![column]).unwrap();
            Arc::new(Table::new(schema, vec![batch]))
        };
        let mut m = model("SELECT n * 2 AS twice FROM t ORDER BY n");
        m.inputs = vec!["t".into()];
        let names: BTreeSet<String> = ["t".to_string(), "m".to_string()].into();
        let limits = QueryLimits::default();
        let inputs = vec![("t".to_string(), table(DataType::Int64))];
        let direct = run_model(&m, &inputs, &names, &limits).unwrap();
        let prepared = prepare_model(&m, &schemas_of(&inputs), &names, &limits).unwrap();
        assert_eq!(prepared.schema(), &direct.schema);
        let ahead = run_prepared(&m, prepared, &inputs, &limits).unwrap();
        assert_eq!(ahead.concat().unwrap(), direct.concat().unwrap());

        let prepared = prepare_model(&m, &schemas_of(&inputs), &names, &limits).unwrap();
        let other = vec![("t".to_string(), table(DataType::Float64))];
        assert!(!prepared.fits(&schemas_of(&other)));
        let refused = run_prepared(&m, prepared, &other, &limits).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("planned for another table `t`"),
            "{refused}"
        );
    }

    fn model(sql: &str) -> ModelDef {
        ModelDef::in_test("m", &[], sql, 3)
    }

    #[test]
    fn writes_and_file_reads_are_rejected() {
        let names = BTreeSet::new();
        for sql in [
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
            "COPY (SELECT 1) TO '/tmp/x.csv'",
            "CREATE TABLE t AS SELECT 1",
            "SET datafusion.execution.batch_size = 1",
        ] {
            let err = run_model(&model(sql), &[], &names, &QueryLimits::default()).unwrap_err();
            assert!(matches!(err, EngineError::Forbidden { .. }), "{sql}: {err}");
        }
    }

    #[test]
    fn undeclared_tables_are_named() {
        let names: BTreeSet<String> = ["erp".to_string()].into();
        let err = run_model(
            &model("SELECT * FROM erp"),
            &[],
            &names,
            &QueryLimits::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "model `m` reads `erp`, which it does not declare in `inputs`"
        );
    }

    #[test]
    fn syntax_errors_point_into_the_model_file() {
        let err = run_model(
            &model("SELECT 1\nFORM x"),
            &[],
            &BTreeSet::new(),
            &QueryLimits::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("models/m.sql:4:"), "{err}");
    }
}
