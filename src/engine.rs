//! The SQL engine: runs one model's query with DataFusion over its declared inputs only.
//!
//! Rules it keeps:
//! - a fresh session per model, holding only the model's declared inputs as in-memory tables: no
//!   catalog, no information schema, no file-reading table functions;
//! - every table the query reads must be a declared input; reading another is an error naming it;
//! - one SELECT statement only: DDL, DML (INSERT, COPY) and statements (SET, …) are refused before
//!   planning (and DataFusion's `SQLOptions` would refuse them too), so a
//!   model cannot create, write or read files;
//! - one partition per query: results keep a deterministic row order, so equal inputs give
//!   byte-identical outputs (the store relies on it for early cutoff). Parallelism comes from
//!   running independent stages at once.

use crate::error::Hint;
use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::catalog::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as ParsedStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;

use crate::error::{closest, suggestion};
use crate::project::ModelDef;
use crate::table::Table;

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

/// Runs `model`'s query over `inputs` (declared name → table). `stage_names` are every stage of the
/// project, used to tell an undeclared input from an unknown table.
pub(crate) fn run_model(
    model: &ModelDef,
    inputs: &[(String, Arc<Table>)],
    stage_names: &BTreeSet<String>,
) -> Result<Table, EngineError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| EngineError::Forbidden {
            model: model.name.clone(),
            message: format!("cannot start the query runtime: {e}"),
        })?;
    runtime.block_on(run_model_async(model, inputs, stage_names))
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
) -> Result<Table, EngineError> {
    let error = |message: String| EngineError::Check {
        model: model.to_string(),
        check: check.to_string(),
        message,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| error(format!("cannot start the query runtime: {e}")))?;
    runtime.block_on(async {
        let ctx = session();
        for (name, table) in tables {
            let provider = MemTable::try_new(table.schema.clone(), vec![table.batches.clone()])
                .map_err(|e| error(e.strip_backtrace()))?;
            ctx.register_table(name.as_str(), Arc::new(provider))
                .map_err(|e| error(e.strip_backtrace()))?;
        }
        let frame = ctx
            .sql_with_options(sql, read_only())
            .await
            .map_err(|e| error(tidy_parser_message(&e.strip_backtrace())))?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame
            .collect()
            .await
            .map_err(|e| error(e.strip_backtrace()))?;
        Ok(Table::new(schema, batches))
    })
}

fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

fn session() -> SessionContext {
    let mut config = SessionConfig::new()
        .with_target_partitions(1)
        .with_information_schema(false);
    config.options_mut().sql_parser.collect_spans = true;
    // One optimizer pass instead of up to three: rewrites never change a result, and on these
    // small queries further passes found nothing worth their 0.3–1 ms per query (a cold sample
    // build: 150 instead of 175 ms of CPU; the 100x month's stages took as long as before).
    config.options_mut().optimizer.max_passes = 1;
    SessionContext::new_with_config(config)
}

async fn run_model_async(
    model: &ModelDef,
    inputs: &[(String, Arc<Table>)],
    stage_names: &BTreeSet<String>,
) -> Result<Table, EngineError> {
    let ctx = session();
    check_table_references(&ctx, model, inputs, stage_names)?;
    for (name, table) in inputs {
        let provider = MemTable::try_new(table.schema.clone(), vec![table.batches.clone()])
            .map_err(|e| sql_error(model, &e))?;
        ctx.register_table(name.as_str(), Arc::new(provider))
            .map_err(|e| sql_error(model, &e))?;
    }
    let frame = ctx
        .sql_with_options(&model.sql, read_only())
        .await
        .map_err(|e| sql_error(model, &e))?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await.map_err(|e| sql_error(model, &e))?;
    Ok(Table::new(schema, batches))
}

fn check_table_references(
    ctx: &SessionContext,
    model: &ModelDef,
    inputs: &[(String, Arc<Table>)],
    stage_names: &BTreeSet<String>,
) -> Result<(), EngineError> {
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let statement = state
        .sql_to_statement(&model.sql, &dialect)
        .map_err(|e| sql_error(model, &e))?;
    if !is_query(&statement) {
        return Err(EngineError::Forbidden {
            model: model.name.clone(),
            message: "only one SELECT query is allowed (no CREATE, COPY, INSERT, SET or EXPLAIN)"
                .into(),
        });
    }
    let references = state
        .resolve_table_references(&statement)
        .map_err(|e| sql_error(model, &e))?;
    for reference in references {
        let table = reference.table().to_string();
        let qualified = reference.schema().is_some();
        if !qualified && inputs.iter().any(|(name, _)| *name == table) {
            continue;
        }
        return Err(EngineError::UndeclaredInput {
            model: model.name.clone(),
            table: reference.to_string(),
            known_stage: !qualified && stage_names.contains(&table),
            suggestion: closest(&table, inputs.iter().map(|(name, _)| name)),
        });
    }
    Ok(())
}

fn is_query(statement: &ParsedStatement) -> bool {
    matches!(statement, ParsedStatement::Statement(inner) if matches!(**inner, SqlStatement::Query(_)))
}

/// A SQL error, located in the model file: DataFusion's span when it has one, else the
/// `Line: L, Column: C` of a parser message, shifted past the model's header.
fn sql_error(model: &ModelDef, error: &DataFusionError) -> EngineError {
    let span = error
        .diagnostic()
        .and_then(|d| d.span)
        .map(|s| (s.start.line, s.start.column))
        .filter(|(line, _)| *line > 0);
    let message = error.strip_backtrace();
    let position = span.or_else(|| parser_position(&message));
    let message = tidy_parser_message(&message);
    let location = match position {
        Some((line, column)) => format!(
            "{}:{}:{}",
            model.path.display(),
            line as usize + model.sql_first_line - 1,
            column
        ),
        None => model.path.display().to_string(),
    };
    EngineError::Sql {
        model: model.name.clone(),
        location,
        message,
    }
}

/// `SQL error: ParserError("Expected: …, found: FORM at Line: 2, Column: 1")` → `Expected: …,
/// found: FORM`: the position is already given, in the model file's own lines.
fn tidy_parser_message(message: &str) -> String {
    let inner = message
        .strip_prefix("SQL error: ParserError(\"")
        .and_then(|m| m.strip_suffix("\")"))
        .unwrap_or(message);
    match inner.find(" at Line: ") {
        Some(at) => format!("syntax error: {}", &inner[..at]),
        None => inner.to_string(),
    }
}

fn parser_position(message: &str) -> Option<(u64, u64)> {
    let rest = &message[message.find("Line: ")? + 6..];
    let line: u64 = rest.split(',').next()?.trim().parse().ok()?;
    let rest = &rest[rest.find("Column: ")? + 8..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((line, digits.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn parser_positions_are_read_from_messages() {
        let message = "SQL error: ParserError(\"Expected: end of statement, found: FORM at Line: 2, Column: 10\")";
        assert_eq!(parser_position(message), Some((2, 10)));
        assert_eq!(parser_position("no position"), None);
    }

    fn model(sql: &str) -> ModelDef {
        ModelDef {
            name: "m".into(),
            path: PathBuf::from("models/m.sql"),
            inputs: Vec::new(),
            key_columns: Vec::new(),
            description: None,
            checks: Vec::new(),
            sql: sql.into(),
            sql_first_line: 3,
        }
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
            let err = run_model(&model(sql), &[], &names).unwrap_err();
            assert!(matches!(err, EngineError::Forbidden { .. }), "{sql}: {err}");
        }
    }

    #[test]
    fn undeclared_tables_are_named() {
        let names: BTreeSet<String> = ["erp".to_string()].into();
        let err = run_model(&model("SELECT * FROM erp"), &[], &names).unwrap_err();
        assert_eq!(
            err.to_string(),
            "model `m` reads `erp`, which it does not declare in `inputs`"
        );
    }

    #[test]
    fn syntax_errors_point_into_the_model_file() {
        let err = run_model(&model("SELECT 1\nFORM x"), &[], &BTreeSet::new()).unwrap_err();
        assert!(err.to_string().contains("models/m.sql:4:"), "{err}");
    }
}
