//! Model unit tests: a model's query run over fixture rows, in memory, and its result compared
//! with the rows it must return, by the diff engine (on the model's key when the expected rows
//! hold it, else as a multiset of rows).
//!
//! Rules it keeps:
//! - a test touches neither the month's data nor any stored output: its inputs are its fixtures;
//! - fixtures in CSV are read by the csv source reader (the same inference as a csv source, and
//!   a source input's declared column types);
//!   fixtures in TOML keep the types they are written with;
//! - only the columns `expect` names are compared, each expected value read as the output
//!   column's type (a value that cannot be is the test's error, naming the column);
//! - a result is cached under the model's definition, the test's and the declared types of the
//!   sources its fixtures stand for (`key = model SQL + fixtures`), so an unchanged project reruns
//!   no test; a cached result says so.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::diff::ModelDiff;
use crate::project::unit_file::{Rows, UnitTest};
use crate::project::{ColumnType, ModelDef, Project, SourceDef};
use crate::store::{CheckKey, Store};
use crate::table::Table;

/// How a unit test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum UnitStatus {
    Pass,
    /// The model returned other rows than expected.
    Fail,
    /// The test could not run: a fixture that does not read, a SQL error, an expected column the
    /// output lacks.
    Error,
}

impl std::fmt::Display for UnitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UnitStatus::Pass => "pass",
            UnitStatus::Fail => "fail",
            UnitStatus::Error => "error",
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UnitResult {
    pub(crate) model: String,
    pub(crate) test: String,
    pub(crate) status: UnitStatus,
    /// The rows the model returned.
    pub(crate) rows: u64,
    /// Why the test could not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// Expected rows → returned rows, for a failed test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) diff: Option<ModelDiff>,
    pub(crate) duration_ms: f64,
    /// Read from the cache rather than run now.
    #[serde(default)]
    pub(crate) cached: bool,
}

/// The unit tests of the selected models, in model then test order.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct UnitReport {
    pub(crate) results: Vec<UnitResult>,
}

impl UnitReport {
    pub(crate) fn count(&self, status: UnitStatus) -> usize {
        self.results.iter().filter(|r| r.status == status).count()
    }
}

/// Runs the unit tests of `models` (cached results when the store has them), in parallel.
pub(crate) fn run_unit_tests(
    project: &Project,
    models: &[&ModelDef],
    store: Option<&Store>,
) -> UnitReport {
    let stage_names: BTreeSet<String> = project.stage_names().cloned().collect();
    let tests: Vec<(&ModelDef, &UnitTest)> = models
        .iter()
        .flat_map(|model| model.unit_tests.iter().map(move |test| (*model, test)))
        .collect();
    let results = tests
        .par_iter()
        .map(|(model, test)| {
            let key = cache_key(project, model, test);
            if let Some(mut cached) = store.and_then(|s| s.unit_result::<UnitResult>(&key)) {
                cached.cached = true;
                return cached;
            }
            let result = run_one(project, model, test, &stage_names);
            if let Some(store) = store {
                // A cache that cannot be written costs the next run time, not correctness.
                let _ = store.put_unit_result(&key, &result);
            }
            result
        })
        .collect();
    UnitReport { results }
}

/// What decides a test's result: the model, the test, and the declared types of the sources its
/// CSV fixtures stand for.
fn cache_key(project: &Project, model: &ModelDef, test: &UnitTest) -> CheckKey {
    let declared: BTreeMap<&String, &BTreeMap<String, ColumnType>> = test
        .given
        .keys()
        .filter_map(|input| Some((input, &project.sources.get(input)?.columns)))
        .collect();
    let definition = serde_json::json!({
        "kind": "unit_test",
        "tool_version": env!("CARGO_PKG_VERSION"),
        "model": model.definition(),
        "test": test.definition(),
        "declared": declared,
    });
    CheckKey::of_encoded(definition.to_string().as_bytes())
}

fn run_one(
    project: &Project,
    model: &ModelDef,
    test: &UnitTest,
    stage_names: &BTreeSet<String>,
) -> UnitResult {
    let started = Instant::now();
    let mut result = UnitResult {
        model: model.name.clone(),
        test: test.name.clone(),
        status: UnitStatus::Pass,
        rows: 0,
        error: None,
        diff: None,
        duration_ms: 0.0,
        cached: false,
    };
    match outcome(project, model, test, stage_names) {
        Ok((rows, diff)) => {
            result.rows = rows;
            if diff.added + diff.removed + diff.changed > 0 {
                result.status = UnitStatus::Fail;
                result.diff = Some(diff);
            }
        }
        Err(error) => {
            result.status = UnitStatus::Error;
            result.error = Some(error);
        }
    }
    result.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    result
}

/// The rows the model returned, and how they differ from the expected ones.
fn outcome(
    project: &Project,
    model: &ModelDef,
    test: &UnitTest,
    stage_names: &BTreeSet<String>,
) -> Result<(u64, ModelDiff), String> {
    let mut inputs = Vec::with_capacity(test.given.len());
    for (input, rows) in &test.given {
        // A source's declared types apply to its CSV fixture, as to its real file.
        let declared = project.sources.get(input).map(|s| &s.columns);
        let table = table_of(rows, declared, &format!("given.{input}"))?;
        inputs.push((input.clone(), Arc::new(table)));
    }
    let actual = crate::engine::run_model(model, &inputs, stage_names, &project.query_limits)
        .map_err(|e| e.to_string())?;
    let expected = table_of(&test.expect, None, "expect")?;
    let (expected, actual_compared) = comparable(&expected, &actual)?;
    let key: Vec<String> = if model
        .key_columns
        .iter()
        .all(|k| expected.schema.fields().iter().any(|f| f.name() == k))
    {
        model.key_columns.clone()
    } else {
        Vec::new()
    };
    let diff = crate::diff::compare_tables(&model.name, &key, &expected, &actual_compared)
        .map_err(|e| e.to_string())?;
    Ok((actual.num_rows() as u64, diff))
}

/// The expected rows, each column read as the output's type, and the output's columns that
/// `expect` names, in its order.
fn comparable(expected: &Table, actual: &Table) -> Result<(Table, Table), String> {
    let expected = expected.concat().map_err(|e| e.to_string())?;
    let actual = actual.concat().map_err(|e| e.to_string())?;
    let mut fields = Vec::new();
    let mut expected_columns: Vec<ArrayRef> = Vec::new();
    let mut actual_columns: Vec<ArrayRef> = Vec::new();
    for field in expected.schema().fields() {
        let name = field.name();
        let Some(column) = actual.column_by_name(name) else {
            let available: Vec<String> = actual
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            return Err(format!(
                "`expect` names the column `{name}`, which the output does not have ({}); {}",
                available.join(", "),
                crate::error::did_you_mean(name, available.iter(), "expect a subset of them")
            ));
        };
        let wanted = column.data_type();
        let options = arrow::compute::CastOptions {
            safe: false,
            ..Default::default()
        };
        let cast = arrow::compute::cast_with_options(
            expected.column_by_name(name).expect("a field of the batch"),
            wanted,
            &options,
        )
        .map_err(|e| format!("`expect`: column `{name}` cannot be read as {wanted}: {e}"))?;
        fields.push(Field::new(name, wanted.clone(), true));
        expected_columns.push(cast);
        actual_columns.push(column.clone());
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = |columns| {
        RecordBatch::try_new(schema.clone(), columns)
            .map(|b| Table::new(schema.clone(), vec![b]))
            .map_err(|e| e.to_string())
    };
    Ok((batch(expected_columns)?, batch(actual_columns)?))
}

/// A fixture's rows as a table; `declared`: the source's declared column types, if it is one.
fn table_of(
    rows: &Rows,
    declared: Option<&BTreeMap<String, ColumnType>>,
    field: &str,
) -> Result<Table, String> {
    match rows {
        Rows::Csv(text) => csv_table(text, declared).map_err(|e| format!("`{field}`: {e}")),
        Rows::Toml(rows) => toml_table(rows).map_err(|e| format!("`{field}`: {e}")),
    }
}

/// Inline CSV, each line trimmed (the text is indented in its TOML file), read as a csv source
/// with the declared types of the columns it has.
fn csv_table(text: &str, declared: Option<&BTreeMap<String, ColumnType>>) -> Result<Table, String> {
    let mut csv = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        csv.push_str(line);
        csv.push('\n');
    }
    let header: Vec<&str> = csv.lines().next().unwrap_or_default().split(',').collect();
    let columns = declared
        .into_iter()
        .flatten()
        .filter(|(name, _)| header.contains(&name.as_str()))
        .map(|(name, ty)| (name.clone(), *ty))
        .collect();
    let def = SourceDef {
        file: "fixture.csv".into(),
        sheet: None,
        columns,
        tags: Vec::new(),
        description: None,
    };
    crate::sources::read_source(
        &def,
        "fixture",
        csv.into_bytes(),
        &crate::sources::Limits::default(),
    )
    .map(|read| read.table)
    .map_err(|e| e.to_string())
}

/// The type of a TOML column: integers, floats (integers among them widen), text or booleans.
fn column_type(column: &str, values: &[Option<&toml::Value>]) -> Result<DataType, String> {
    let mut found: Option<DataType> = None;
    for value in values.iter().flatten() {
        let this = match value {
            toml::Value::Integer(_) => DataType::Int64,
            toml::Value::Float(_) => DataType::Float64,
            toml::Value::Boolean(_) => DataType::Boolean,
            toml::Value::String(_) | toml::Value::Datetime(_) => DataType::Utf8,
            other => {
                return Err(format!(
                    "column `{column}` holds a {}; values are numbers, text or booleans",
                    other.type_str()
                ));
            }
        };
        found = Some(match (found, this) {
            (None, t) => t,
            (Some(a), b) if a == b => a,
            (Some(DataType::Int64 | DataType::Float64), DataType::Int64 | DataType::Float64) => {
                DataType::Float64
            }
            (Some(a), b) => {
                return Err(format!(
                    "column `{column}` mixes {a} and {b} values; quote numbers meant as text"
                ));
            }
        });
    }
    Ok(found.unwrap_or(DataType::Utf8))
}

/// TOML rows: columns in order of first appearance, a missing key is null.
fn toml_table(rows: &[toml::Table]) -> Result<Table, String> {
    let mut names: Vec<&String> = Vec::new();
    for row in rows {
        for name in row.keys() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let mut fields = Vec::with_capacity(names.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(names.len());
    for name in names {
        let values: Vec<Option<&toml::Value>> = rows.iter().map(|r| r.get(name)).collect();
        let data_type = column_type(name, &values)?;
        columns.push(toml_column(&data_type, &values));
        fields.push(Field::new(name, data_type, true));
    }
    let schema = Arc::new(Schema::new(fields));
    if columns.is_empty() {
        return Ok(Table::new(schema, Vec::new()));
    }
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())?;
    Ok(Table::new(schema, vec![batch]))
}

fn toml_column(data_type: &DataType, values: &[Option<&toml::Value>]) -> ArrayRef {
    match data_type {
        DataType::Int64 => {
            let mut b = Int64Builder::new();
            for v in values {
                b.append_option(v.and_then(toml::Value::as_integer));
            }
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::new();
            for v in values {
                #[allow(clippy::cast_precision_loss, reason = "fixture integers are small")]
                b.append_option(v.and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64))));
            }
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::new();
            for v in values {
                b.append_option(v.and_then(toml::Value::as_bool));
            }
            Arc::new(b.finish())
        }
        _ => {
            let mut b = StringBuilder::new();
            for v in values {
                match v {
                    Some(toml::Value::String(s)) => b.append_value(s),
                    Some(other) => b.append_value(other.to_string()),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types_of(table: &Table) -> Vec<String> {
        table.columns().into_iter().map(|c| c.data_type).collect()
    }

    #[test]
    fn toml_rows_keep_their_types_and_widen_integers_among_floats() {
        let rows: Vec<toml::Table> = toml::from_str::<toml::Table>(
            "rows = [{ id = 1, price = 2, name = \"a\" }, { id = \"2\", price = 2.5 }]",
        )
        .unwrap()["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_table().unwrap().clone())
            .collect();
        let err = toml_table(&rows).unwrap_err();
        assert_eq!(
            err,
            "column `id` mixes Int64 and Utf8 values; quote numbers meant as text"
        );
        let table = toml_table(&rows[1..]).unwrap();
        let types = types_of(&table);
        assert_eq!(types, vec!["Utf8", "Float64"]);
    }

    #[test]
    fn csv_fixtures_are_dedented_and_read_as_csv_sources() {
        let table = csv_table("\n    sku,total_sales\n    A1,3\n    ,5\n", None).unwrap();
        assert_eq!(table.num_rows(), 2);
        let types = types_of(&table);
        assert_eq!(types, vec!["Utf8", "Int64"]);
    }

    #[test]
    fn a_sources_declared_types_apply_to_its_csv_fixture() {
        let declared = BTreeMap::from([
            ("sku".to_string(), ColumnType::String),
            ("absent".to_string(), ColumnType::Int64),
        ]);
        let table = csv_table("sku,total_sales\n15298,3\n", Some(&declared)).unwrap();
        let types = types_of(&table);
        assert_eq!(types, vec!["Utf8", "Int64"]);
    }
}
