//! Where a model's SQL went wrong, in the model file's own lines, and which tables it reads.

use std::collections::BTreeSet;

use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionContext;
use datafusion::execution::session_state::SessionState;
use datafusion::sql::parser::Statement as ParsedStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;

use super::EngineError;
use crate::error::closest;
use crate::project::ModelDef;

/// Refuses a model whose SQL is not one SELECT, or reads a table it does not declare.
pub(super) fn check_table_references(
    ctx: &SessionContext,
    model: &ModelDef,
    inputs: &[&str],
    stage_names: &BTreeSet<String>,
) -> Result<(), EngineError> {
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let statement = state
        .sql_to_statement(&model.sql, &dialect)
        .map_err(|e| sql_error(model, &e))?;
    check_statement_references(&state, &statement, model, inputs, stage_names)
}

/// [`check_table_references`] on a model's SQL already parsed.
pub(super) fn check_statement_references(
    state: &SessionState,
    statement: &ParsedStatement,
    model: &ModelDef,
    inputs: &[&str],
    stage_names: &BTreeSet<String>,
) -> Result<(), EngineError> {
    if !is_query(statement) {
        return Err(EngineError::Forbidden {
            model: model.name.clone(),
            message: "only one SELECT query is allowed (no CREATE, COPY, INSERT, SET or EXPLAIN)"
                .into(),
        });
    }
    let references = state
        .resolve_table_references(statement)
        .map_err(|e| sql_error(model, &e))?;
    for reference in references {
        let table = reference.table().to_string();
        let qualified = reference.schema().is_some();
        if !qualified && inputs.contains(&table.as_str()) {
            continue;
        }
        return Err(EngineError::UndeclaredInput {
            model: model.name.clone(),
            table: reference.to_string(),
            known_stage: !qualified && stage_names.contains(&table),
            suggestion: closest(&table, inputs.iter()),
        });
    }
    Ok(())
}

pub(super) fn is_query(statement: &ParsedStatement) -> bool {
    matches!(statement, ParsedStatement::Statement(inner) if matches!(**inner, SqlStatement::Query(_)))
}

/// A SQL error, located in the model file: DataFusion's span when it has one, else the
/// `Line: L, Column: C` of a parser message, shifted past the model's header.
pub(super) fn sql_error(model: &ModelDef, error: &DataFusionError) -> EngineError {
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
pub(super) fn tidy_parser_message(message: &str) -> String {
    let inner = message
        .strip_prefix("SQL error: ParserError(\"")
        .and_then(|m| m.strip_suffix("\")"))
        .unwrap_or(message);
    match inner.find(" at Line: ") {
        Some(at) => format!("syntax error: {}", &inner[..at]),
        None => inner.to_string(),
    }
}

pub(super) fn parser_position(message: &str) -> Option<(u64, u64)> {
    let rest = &message[message.find("Line: ")? + 6..];
    let line: u64 = rest.split(',').next()?.trim().parse().ok()?;
    let rest = &rest[rest.find("Column: ")? + 8..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((line, digits.parse().ok()?))
}
