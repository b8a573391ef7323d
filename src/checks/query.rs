//! What a check runs: no query for a row count, else one SQL query over its model (and the
//! models it names) and how its answer is judged.
//!
//! Rules it keeps: every identifier a user wrote is quoted ([`quote_ident`]) and every value a
//! literal, so a column named `select` or a value with a quote cannot change the query; queries
//! that find rows return the failing rows themselves, so a result can show examples.

use crate::engine::{quote_ident, quote_idents};
use crate::project::CheckRule;
use crate::project::{CheckSpec, Expected, ModelDef, RowCount};

use super::shortcut::Shortcut;

/// A check turned into what it runs.
pub(super) enum Plan {
    RowCount(RowCount),
    /// The query returns failing rows; `sum_column` counts rows grouped by value, when set.
    /// With a `shortcut`, the query runs only when the shortcut cannot prove that none fails.
    Rows {
        sql: String,
        sum_column: Option<&'static str>,
        shortcut: Option<Shortcut>,
    },
    /// The query returns one boolean, `ok`.
    Assert {
        sql: String,
    },
    /// The query returns `actual` (and `expected`, unless it is pinned).
    Compare {
        sql: String,
        expected: Expected,
        tolerance: Option<f64>,
    },
}

impl Plan {
    pub(super) fn sql(&self) -> Option<&str> {
        match self {
            Plan::RowCount(_) => None,
            Plan::Rows { sql, .. } | Plan::Assert { sql } | Plan::Compare { sql, .. } => Some(sql),
        }
    }
}

fn literal(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => other.to_string(),
    }
}

/// The query of each kind of check. One arm per kind, each holding its whole SQL: a little over
/// 80 lines, kept together so every query a check can run is read in one place.
pub(super) fn plan(model: &ModelDef, check: &CheckSpec) -> Plan {
    let table = quote_ident(&model.name);
    let rows = |sql: String, shortcut: Option<Shortcut>| Plan::Rows {
        sql,
        sum_column: None,
        shortcut,
    };
    match &check.rule {
        CheckRule::RowCount(rule) => Plan::RowCount(rule.clone()),
        CheckRule::Unique { columns } => {
            let shortcut = Shortcut::Distinct(columns.clone());
            let columns = quote_idents(columns);
            rows(
                format!(
                    "SELECT {columns}, COUNT(*) AS occurrences FROM {table} GROUP BY {columns} \
                     HAVING COUNT(*) > 1 ORDER BY occurrences DESC, {columns}"
                ),
                Some(shortcut),
            )
        }
        CheckRule::NotNull { columns } => {
            let mut shown = model.key_columns.clone();
            for column in columns {
                if !shown.contains(column) {
                    shown.push(column.clone());
                }
            }
            let condition = columns
                .iter()
                .map(|c| format!("{} IS NULL", quote_ident(c)))
                .collect::<Vec<_>>()
                .join(" OR ");
            rows(
                format!(
                    "SELECT {} FROM {table} WHERE {condition}",
                    quote_idents(&shown)
                ),
                Some(Shortcut::NoNulls(columns.clone())),
            )
        }
        CheckRule::AcceptedValues { column, values } => {
            let shortcut = Shortcut::Among {
                column: column.clone(),
                values: values.clone(),
            };
            let column = quote_ident(column);
            let values = values.iter().map(literal).collect::<Vec<_>>().join(", ");
            Plan::Rows {
                sql: format!(
                    "SELECT {column} AS value, COUNT(*) AS occurrences FROM {table} \
                     WHERE {column} IS NOT NULL AND {column} NOT IN ({values}) \
                     GROUP BY {column} ORDER BY occurrences DESC, value"
                ),
                sum_column: Some("occurrences"),
                shortcut: Some(shortcut),
            }
        }
        CheckRule::Relationships {
            column, to, field, ..
        } => {
            let shortcut = Shortcut::FoundIn {
                column: column.clone(),
                to: to.clone(),
                field: field.clone(),
            };
            let (column, to, field) = (quote_ident(column), quote_ident(to), quote_ident(field));
            Plan::Rows {
                sql: format!(
                    "SELECT m.{column}, COUNT(*) AS occurrences FROM {table} AS m \
                     LEFT JOIN (SELECT DISTINCT {field} AS k FROM {to}) AS t ON m.{column} = t.k \
                     WHERE m.{column} IS NOT NULL AND t.k IS NULL \
                     GROUP BY m.{column} ORDER BY m.{column}"
                ),
                sum_column: Some("occurrences"),
                shortcut: Some(shortcut),
            }
        }
        CheckRule::Assert { condition } => Plan::Assert {
            sql: format!("SELECT CAST(({condition}) AS BOOLEAN) AS ok FROM {table}"),
        },
        CheckRule::Compare {
            actual,
            expected,
            tolerance,
        } => {
            let expected_column = match expected {
                Expected::Sql(expected) => format!(", CAST(({expected}) AS DOUBLE) AS expected"),
                Expected::Pinned => String::new(),
            };
            Plan::Compare {
                sql: format!(
                    "SELECT CAST(({actual}) AS DOUBLE) AS actual{expected_column} FROM {table}"
                ),
                expected: expected.clone(),
                tolerance: *tolerance,
            }
        }
        CheckRule::Sql { sql } => rows(sql.clone(), None),
    }
}
