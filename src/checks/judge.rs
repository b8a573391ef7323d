//! How a check's answer becomes a [`CheckResult`]: pass or fail, the figures, a few failing rows,
//! and the alert in the check's own words.
//!
//! Rules it keeps: a figure is shown as people write it (`825`, not `825.0`; no float noise);
//! a failing row is shown as `column=value, …`, cut at 200 characters; a message placeholder that
//! is not known stays as written, so a typo shows instead of vanishing.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::Value;

use super::expect::{Expectations, Pinned};
use super::{CheckResult, CheckStatus, Output};
use crate::project::{CheckRule, CheckSpec, Expected, RowCount, Severity};
use crate::table::Table;
use crate::text::{french_money, truncate};

/// How many failing rows a result keeps as examples.
const EXAMPLES: usize = 5;

/// A result before its model, timing and alert are filled in.
pub(super) fn result(
    check: &CheckSpec,
    passed: bool,
    actual: Value,
    expected: Value,
) -> CheckResult {
    let status = match (passed, check.severity) {
        (true, _) => CheckStatus::Pass,
        (false, Severity::Error) => CheckStatus::Fail,
        (false, Severity::Warn) => CheckStatus::Warn,
    };
    CheckResult {
        check: check.name.clone(),
        model: String::new(),
        kind: check.kind(),
        severity: check.severity,
        status,
        message: passed_message(check, &actual),
        actual,
        expected,
        failing: None,
        examples: Vec::new(),
        duration_ms: 0.0,
        pinned: check.is_pinned(),
        cached: false,
    }
}

fn passed_message(check: &CheckSpec, actual: &Value) -> String {
    match &check.rule {
        CheckRule::RowCount(_) => format!("{actual} rows"),
        CheckRule::Unique { columns } => format!("{} unique", columns.join(", ")),
        CheckRule::NotNull { columns } => format!("no null in {}", columns.join(", ")),
        CheckRule::AcceptedValues { .. } => "every value accepted".into(),
        CheckRule::Relationships { .. } => "every value found".into(),
        CheckRule::Assert { .. } => "holds".into(),
        CheckRule::Compare { .. } => display_number(actual),
        CheckRule::Sql { .. } => "no failing row".into(),
    }
}

pub(super) fn skipped(check: &CheckSpec, expectations: &Expectations) -> CheckResult {
    let mut skipped = result(check, true, Value::Null, Value::Null);
    skipped.status = CheckStatus::Skipped;
    skipped.message = format!(
        "no figure pinned for `{}` in {}",
        check.name,
        expectations.file.display()
    );
    skipped
}

/// The result of a check whose model has no output for the month.
pub(crate) fn not_built(check: &CheckSpec, model: &str, month: &str) -> CheckResult {
    let mut result = result(check, true, Value::Null, Value::Null);
    result.model = model.to_string();
    result.status = CheckStatus::Skipped;
    result.message = format!("`{model}` has no output for {month}: build it first");
    result
}

pub(super) fn row_count(
    check: &CheckSpec,
    rule: &RowCount,
    pinned: Option<Pinned>,
    objects: &BTreeMap<String, Output>,
    model: &str,
    expectations: &Expectations,
) -> CheckResult {
    let actual = objects[model].rows;
    let (passed, expected) = match rule {
        RowCount::SameAs(other) => {
            let expected = objects[other].rows;
            (actual == expected, Value::from(expected))
        }
        RowCount::Equals(equals) => (actual == *equals, Value::from(*equals)),
        RowCount::Between { min, max } => {
            let passed = min.is_none_or(|min| actual >= min) && max.is_none_or(|max| actual <= max);
            let expected = match (min, max) {
                (Some(min), Some(max)) => format!("between {min} and {max}"),
                (Some(min), None) => format!("≥ {min}"),
                (None, Some(max)) => format!("≤ {max}"),
                (None, None) => "any".into(),
            };
            (passed, Value::from(expected))
        }
        RowCount::Pinned => match pinned {
            Some(pinned) => {
                let expected = pinned.value as u64;
                (actual == expected, Value::from(expected))
            }
            None => return skipped(check, expectations),
        },
    };
    result(check, passed, Value::from(actual), expected)
}

pub(super) fn rows(
    check: &CheckSpec,
    table: &Table,
    sum_column: Option<&str>,
) -> Result<CheckResult, String> {
    let batch = table.concat().map_err(|e| e.to_string())?;
    let failing = match sum_column {
        Some(column) => sum_integers(&batch, column)?,
        None => batch.num_rows() as u64,
    };
    let mut result = result(check, failing == 0, Value::from(failing), Value::from(0));
    result.failing = Some(failing);
    result.examples = examples(&batch)?;
    Ok(result)
}

fn sum_integers(batch: &RecordBatch, column: &str) -> Result<u64, String> {
    let array = batch
        .column_by_name(column)
        .ok_or_else(|| format!("no column `{column}`"))?;
    let array = arrow::compute::cast(array, &DataType::Int64).map_err(|e| e.to_string())?;
    let values = array.as_primitive::<Int64Type>();
    Ok(values.iter().flatten().map(|v| v.max(0) as u64).sum())
}

/// The first failing rows as `column=value, …`, each at most 200 characters.
fn examples(batch: &RecordBatch) -> Result<Vec<String>, String> {
    let options = FormatOptions::default().with_null("null");
    let formatters: Vec<ArrayFormatter> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let names: Vec<&String> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name())
        .collect();
    Ok((0..batch.num_rows().min(EXAMPLES))
        .map(|row| {
            let line = names
                .iter()
                .zip(&formatters)
                .map(|(name, f)| format!("{name}={}", f.value(row)))
                .collect::<Vec<_>>()
                .join(", ");
            truncate(&line, 200)
        })
        .collect())
}

fn single_row(table: &Table, what: &str) -> Result<RecordBatch, String> {
    let batch = table.concat().map_err(|e| e.to_string())?;
    if batch.num_rows() != 1 {
        return Err(format!(
            "`{what}` must give one value (an aggregate such as SUM(ca) or COUNT(*)), it gave {} rows",
            batch.num_rows()
        ));
    }
    Ok(batch)
}

pub(super) fn assert(check: &CheckSpec, table: &Table) -> Result<CheckResult, String> {
    let batch = single_row(table, "assert")?;
    let column = batch.column(0).as_boolean();
    let holds = column.is_valid(0) && column.value(0);
    let actual = if column.is_valid(0) {
        Value::from(column.value(0))
    } else {
        Value::Null
    };
    Ok(result(check, holds, actual, Value::from(true)))
}

fn float_at(batch: &RecordBatch, column: &str) -> Option<f64> {
    let array = batch.column_by_name(column)?.as_primitive::<Float64Type>();
    array.is_valid(0).then(|| array.value(0))
}

pub(super) fn compare(
    check: &CheckSpec,
    expected_from: &Expected,
    tolerance: Option<f64>,
    table: &Table,
    pinned: Option<Pinned>,
    expectations: &Expectations,
) -> Result<CheckResult, String> {
    let batch = single_row(table, "actual")?;
    let actual = float_at(&batch, "actual");
    let (expected, tolerance) = match (expected_from, pinned) {
        (Expected::Sql(_), _) => (float_at(&batch, "expected"), tolerance),
        (Expected::Pinned, Some(pinned)) => (Some(pinned.value), pinned.tolerance.or(tolerance)),
        (Expected::Pinned, None) => return Ok(skipped(check, expectations)),
    };
    let tolerance = tolerance.unwrap_or(0.0);
    let passed = match (actual, expected) {
        (Some(a), Some(e)) => (a - e).abs() <= tolerance + 1e-9 * e.abs().max(1.0),
        _ => false,
    };
    Ok(result(check, passed, number(actual), number(expected)))
}

/// A JSON number that shows whole values without a decimal part.
fn number(value: Option<f64>) -> Value {
    match value {
        Some(v) if v.fract() == 0.0 && v.abs() < 9e15 => Value::from(v as i64),
        // Sums of floats carry noise in their last digits (108816.89999999997): nine decimals
        // are far below any tolerance a check uses.
        Some(v) => Value::from((v * 1e9).round() / 1e9),
        None => Value::Null,
    }
}

fn display_number(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

fn default_message(check: &CheckSpec) -> String {
    match &check.rule {
        CheckRule::RowCount(_) => "{model}: {actual} rows instead of {expected}".into(),
        CheckRule::Unique { columns } => format!(
            "{{model}}: {{failing}} value(s) of ({}) appear more than once",
            columns.join(", ")
        ),
        CheckRule::NotNull { columns } => format!(
            "{{model}}: {{failing}} row(s) with a null in ({})",
            columns.join(", ")
        ),
        CheckRule::AcceptedValues { column, .. } => format!(
            "{{model}}: {{failing}} row(s) with a value of `{column}` outside the accepted values"
        ),
        CheckRule::Relationships {
            column, to, field, ..
        } => format!("{{model}}: {{failing}} row(s) whose `{column}` is not in `{to}`.`{field}`"),
        CheckRule::Assert { condition } => format!("{{model}}: `{condition}` does not hold"),
        CheckRule::Compare { .. } => "{model}: {actual} instead of {expected}".into(),
        CheckRule::Sql { .. } => "{model}: {failing} failing row(s)".into(),
    }
}

/// Fills a message template: `{actual}`, `{expected}`, `{failing}`, `{model}`, `{check}`, and
/// `{actual:fr}` / `{expected:fr}` in French money format. Unknown placeholders stay as written.
pub(crate) fn render_message(check: &CheckSpec, result: &CheckResult) -> String {
    let template = check
        .message
        .clone()
        .unwrap_or_else(|| default_message(check));
    let failing = result.failing.map(|f| f.to_string()).unwrap_or_default();
    let mut out = String::with_capacity(template.len());
    let mut rest = template.as_str();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let value = match &after[..close] {
            "actual" => Some(display_number(&result.actual)),
            "expected" => Some(display_number(&result.expected)),
            "actual:fr" => Some(french_or_plain(&result.actual)),
            "expected:fr" => Some(french_or_plain(&result.expected)),
            "failing" => Some(failing.clone()),
            "model" => Some(result.model.clone()),
            "check" => Some(result.check.clone()),
            _ => None,
        };
        match value {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[open..open + close + 2]),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

fn french_or_plain(value: &Value) -> String {
    match value.as_f64() {
        Some(number) => french_money(number),
        None => display_number(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(message: &str) -> CheckSpec {
        let def: crate::project::raw::CheckDef = toml::from_str(&format!(
            "name = \"test-ca\"\nkind = \"expression\"\nactual = \"SUM(ca)\"\nmessage = \"{message}\""
        ))
        .unwrap();
        CheckSpec::try_from(def).unwrap()
    }

    #[test]
    fn messages_fill_placeholders_and_keep_unknown_ones() {
        let check = check("CA: {actual:fr}€ au lieu de {expected:fr}€ {unknown} {");
        let mut result = result(&check, false, Value::from(70000.5), Value::from(70568.6));
        result.model = "ca_total".into();
        assert_eq!(
            render_message(&check, &result),
            "CA: 70 000,50€ au lieu de 70 568,60€ {unknown} {"
        );
    }

    #[test]
    fn whole_numbers_show_without_decimals() {
        assert_eq!(display_number(&number(Some(825.0))), "825");
        assert_eq!(display_number(&number(Some(70568.6))), "70568.6");
    }
}
