//! Data checks: each model's `[[checks]]`, the month's pinned figures (`expect.toml`), and their
//! results.
//!
//! Owns how a check turns into a query, how its result is judged and worded, and its cache key.
//! Rules it keeps:
//! - a check reads only its model and what that model reads (directly or not), so its inputs are
//!   always built before it runs and its key can name their contents;
//! - a check's key covers its definition, its expected figure and the content of every table it
//!   reads: an unchanged stage with an unchanged `expect.toml` never reruns its checks;
//! - a check whose query cannot run is an error (the project is wrong), never a silent pass;
//! - a pinned check without a figure for the month is `skipped`, and says which file it looked in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::{self, EngineError};
use crate::project::{CheckDef, CheckKind, ModelDef, Project, Severity, closest};
use crate::store::{STORE_FORMAT, TOOL_VERSION};
use crate::table::{PARALLEL_FROM_ROWS, Table};

/// The file in a month's folder that pins that month's figures.
pub const EXPECT_FILE: &str = "expect.toml";

/// How many failing rows a result keeps as examples.
const EXAMPLES: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum ExpectError {
    #[error("`{file}` is not valid: {message}")]
    Invalid { file: PathBuf, message: String },
    #[error("`{file}` pins `{name}`, but no model declares a check with that name")]
    UnknownCheck {
        file: PathBuf,
        name: String,
        suggestion: Option<String>,
    },
    #[error("`{file}` pins `{name}`, a `{kind}` check: {message}")]
    NotPinnable {
        file: PathBuf,
        name: String,
        kind: CheckKind,
        message: String,
    },
}

impl ExpectError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ExpectError::Invalid { .. } => Some(
                "each line is `check-name = 825` or `check-name = { value = 70568.60, tolerance = 0.01 }`"
                    .into(),
            ),
            ExpectError::UnknownCheck { suggestion, .. } => Some(match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => "`winebuild test` lists every check".into(),
            }),
            ExpectError::NotPinnable { .. } => Some(
                "only `row_count` checks without bounds and `expression` checks with `actual` and no `expected` take a pinned figure"
                    .into(),
            ),
        }
    }
}

/// A figure pinned for one month.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pinned {
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PinnedEntry {
    Value(f64),
    Full(PinnedFull),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinnedFull {
    value: f64,
    tolerance: Option<f64>,
}

/// The month's `expect.toml`: check name → pinned figure. Empty when the file does not exist.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    /// The file, relative to the project root, for messages.
    pub file: PathBuf,
    pub pinned: BTreeMap<String, Pinned>,
}

impl Expectations {
    /// Reads `expect.toml` from `month_dir` and checks every name against the project's checks.
    pub fn load(project: &Project, month_dir: &Path) -> Result<Expectations, ExpectError> {
        let path = month_dir.join(EXPECT_FILE);
        let file = path
            .strip_prefix(&project.root)
            .unwrap_or(&path)
            .to_path_buf();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Expectations {
                    file,
                    pinned: BTreeMap::new(),
                });
            }
            Err(e) => {
                return Err(ExpectError::Invalid {
                    file,
                    message: e.to_string(),
                });
            }
        };
        let entries: BTreeMap<String, PinnedEntry> =
            toml::from_str(&text).map_err(|e| ExpectError::Invalid {
                file: file.clone(),
                message: match e.span() {
                    Some(span) => format!(
                        "{} (line {})",
                        e.message(),
                        text[..span.start.min(text.len())].matches('\n').count() + 1
                    ),
                    None => e.message().to_string(),
                },
            })?;
        let checks: BTreeMap<&String, &CheckDef> = project
            .models
            .values()
            .flat_map(|m| m.settings.checks.iter().map(|c| (&c.name, c)))
            .collect();
        let mut pinned = BTreeMap::new();
        for (name, entry) in entries {
            let Some(check) = checks.get(&name) else {
                return Err(ExpectError::UnknownCheck {
                    suggestion: closest(&name, checks.keys().copied()),
                    file,
                    name,
                });
            };
            let value = match entry {
                PinnedEntry::Value(value) => Pinned {
                    value,
                    tolerance: None,
                },
                PinnedEntry::Full(full) => Pinned {
                    value: full.value,
                    tolerance: full.tolerance,
                },
            };
            let not_pinnable = |message: &str| ExpectError::NotPinnable {
                file: file.clone(),
                name: name.clone(),
                kind: check.kind,
                message: message.to_string(),
            };
            if !check.is_pinned() {
                return Err(not_pinnable(
                    "it states its own expectation in its model, so a pinned figure would be ignored",
                ));
            }
            if check.kind == CheckKind::RowCount
                && (value.value.fract() != 0.0 || value.value < 0.0 || value.tolerance.is_some())
            {
                return Err(not_pinnable(
                    "a row count is a whole number, without tolerance",
                ));
            }
            pinned.insert(name, value);
        }
        Ok(Expectations { file, pinned })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    /// An error-severity check failed: its model fails.
    Fail,
    /// A warn-severity check failed: reported, nothing stops.
    Warn,
    /// A pinned check with no figure for this month.
    Skipped,
}

impl std::fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Fail => "fail",
            CheckStatus::Warn => "warn",
            CheckStatus::Skipped => "skipped",
        })
    }
}

/// The result of one check on one output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub check: String,
    pub model: String,
    pub kind: CheckKind,
    pub severity: Severity,
    pub status: CheckStatus,
    /// The measured figure (a count, a sum, a boolean).
    pub actual: Value,
    /// What was expected, as a number or in words (`0`, `≥ 10`, `true`).
    pub expected: Value,
    /// The alert when the check failed; what was verified when it passed.
    pub message: String,
    /// Failing rows (or groups of rows) the check found, for kinds that find rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing: Option<u64>,
    /// A few failing rows, as `column=value` lists.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub examples: Vec<String>,
    pub duration_ms: f64,
    /// True when the expected figure came from the month's `expect.toml`.
    #[serde(default)]
    pub pinned: bool,
    /// True when this result was read from the cache rather than computed in this run.
    #[serde(default)]
    pub cached: bool,
}

/// One stage output a check can read.
#[derive(Debug, Clone)]
pub struct Output {
    pub object: String,
    pub rows: u64,
    pub columns: Vec<String>,
}

/// What a check needs from the build or test that runs it.
pub trait CheckEnv {
    /// The output of `stage` in this build, if it has one.
    fn output(&self, stage: &str) -> Option<Output>;
    /// The decoded table of `stage`'s output object.
    fn table(&self, stage: &str, object: &str) -> Result<Arc<Table>, String>;
    /// A result stored under `key` by an earlier run.
    fn cached(&self, key: &str) -> Option<CheckResult>;
    /// Stores a result under `key`.
    fn remember(&self, key: &str, result: &CheckResult);
}

/// Runs (or reads from the cache) every check of `model`, whose output `env` knows.
pub fn run_checks(
    project: &Project,
    model: &ModelDef,
    expectations: &Expectations,
    env: &(impl CheckEnv + Sync),
) -> Result<Vec<CheckResult>, EngineError> {
    use rayon::prelude::*;
    // Keys and cached results first, in order and on this thread: a no-op build runs no query and
    // needs no thread pool.
    let looked_up: Vec<LookedUp> = model
        .settings
        .checks
        .iter()
        .map(|check| look_up(project, model, check, expectations, env))
        .collect::<Result<_, _>>()?;
    // Independent queries over the same tables: on a big output they run in parallel (results
    // keep their order); on a small one, here, while other stages use the other cores.
    let to_run = looked_up
        .iter()
        .filter(|l| matches!(l, LookedUp::ToRun(_)))
        .count();
    let finish = |looked_up: LookedUp| match looked_up {
        LookedUp::Cached(result) => Ok(result),
        LookedUp::ToRun(pending) => run_check(model, pending, expectations, env),
    };
    let rows = env.output(&model.name).map_or(0, |output| output.rows);
    if to_run > 1 && rows >= PARALLEL_FROM_ROWS as u64 {
        looked_up.into_par_iter().map(finish).collect()
    } else {
        looked_up.into_iter().map(finish).collect()
    }
}

/// A check whose result was found in the cache, or what it takes to compute it.
enum LookedUp<'p> {
    Cached(CheckResult),
    ToRun(Pending<'p>),
}

struct Pending<'p> {
    check: &'p CheckDef,
    plan: Plan,
    key: String,
    pinned: Option<Pinned>,
    objects: BTreeMap<String, Output>,
}

/// A check turned into what it runs: no query (a row count), or a query and how to judge it.
enum Plan {
    RowCount,
    Rows {
        sql: String,
        sum_column: Option<String>,
    },
    Assert {
        sql: String,
    },
    Compare {
        sql: String,
    },
}

/// Validates `check` against the build's outputs and computes its key: the cached result when
/// there is one, else what [`run_check`] needs.
fn look_up<'p>(
    project: &Project,
    model: &ModelDef,
    check: &'p CheckDef,
    expectations: &Expectations,
    env: &impl CheckEnv,
) -> Result<LookedUp<'p>, EngineError> {
    let error = |message: String| EngineError::Check {
        model: model.name.clone(),
        check: check.name.clone(),
        message,
    };
    let own = env
        .output(&model.name)
        .ok_or_else(|| error("the model has no output to check".into()))?;
    check_columns(check, &own.columns, &model.name).map_err(&error)?;
    let pinned = check
        .is_pinned()
        .then(|| expectations.pinned.get(&check.name).copied())
        .flatten();
    let plan = plan(model, check);
    let mut reads = vec![model.name.clone()];
    reads.extend(check.named_models().into_iter().cloned());
    // A generated query reads the model and the models the check names; only SQL written by
    // people (a `sql` check, an expression) must be parsed to learn what it reads.
    let written_by_people = matches!(check.kind, CheckKind::Sql | CheckKind::Expression);
    if let (Some(sql), true) = (plan.sql(), written_by_people) {
        reads.extend(engine::referenced_tables(sql).map_err(&error)?);
    }
    reads.sort();
    reads.dedup();
    let upstream = project.upstream_of(&model.name);
    let mut objects = BTreeMap::new();
    for name in &reads {
        if *name != model.name && !upstream.contains(name.as_str()) {
            return Err(error(format!(
                "it reads `{name}`, which is neither `{}` nor a source or model it reads",
                model.name
            )));
        }
        let output = env
            .output(name)
            .ok_or_else(|| error(format!("`{name}` has no output in this build")))?;
        objects.insert(name.clone(), output);
    }
    let key = check_key(model, check, pinned, &objects);
    if let Some(mut result) = env.cached(&key) {
        result.cached = true;
        return Ok(LookedUp::Cached(result));
    }
    Ok(LookedUp::ToRun(Pending {
        check,
        plan,
        key,
        pinned,
        objects,
    }))
}

fn run_check(
    model: &ModelDef,
    pending: Pending<'_>,
    expectations: &Expectations,
    env: &impl CheckEnv,
) -> Result<CheckResult, EngineError> {
    let Pending {
        check,
        plan,
        key,
        pinned,
        objects,
    } = pending;
    let error = |message: String| EngineError::Check {
        model: model.name.clone(),
        check: check.name.clone(),
        message,
    };
    let started = Instant::now();
    let mut result = match plan {
        Plan::RowCount => judge_row_count(check, pinned, &objects, &model.name, expectations),
        Plan::Rows { sql, sum_column } => {
            let table = query(model, check, &sql, &objects, env)?;
            judge_rows(check, &table, sum_column.as_deref()).map_err(&error)?
        }
        Plan::Assert { sql } => {
            let table = query(model, check, &sql, &objects, env)?;
            judge_assert(check, &table).map_err(&error)?
        }
        Plan::Compare { sql } => {
            let table = query(model, check, &sql, &objects, env)?;
            judge_compare(check, &table, pinned, expectations).map_err(&error)?
        }
    };
    result.model = model.name.clone();
    result.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    result.message = match result.status {
        CheckStatus::Fail | CheckStatus::Warn => render_message(check, &result),
        _ => result.message,
    };
    env.remember(&key, &result);
    Ok(result)
}

impl Plan {
    fn sql(&self) -> Option<&str> {
        match self {
            Plan::RowCount => None,
            Plan::Rows { sql, .. } | Plan::Assert { sql } | Plan::Compare { sql } => Some(sql),
        }
    }
}

/// Quotes an identifier for SQL.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn idents(names: &[String]) -> String {
    names
        .iter()
        .map(|n| ident(n))
        .collect::<Vec<_>>()
        .join(", ")
}

fn literal(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => other.to_string(),
    }
}

fn plan(model: &ModelDef, check: &CheckDef) -> Plan {
    let table = ident(&model.name);
    let rows = |sql: String| Plan::Rows {
        sql,
        sum_column: None,
    };
    match check.kind {
        CheckKind::RowCount => Plan::RowCount,
        CheckKind::Unique => {
            let columns = idents(&check.columns);
            rows(format!(
                "SELECT {columns}, COUNT(*) AS occurrences FROM {table} GROUP BY {columns} \
                 HAVING COUNT(*) > 1 ORDER BY occurrences DESC, {columns}"
            ))
        }
        CheckKind::NotNull => {
            let mut shown = model.settings.key.clone();
            for column in &check.columns {
                if !shown.contains(column) {
                    shown.push(column.clone());
                }
            }
            let condition = check
                .columns
                .iter()
                .map(|c| format!("{} IS NULL", ident(c)))
                .collect::<Vec<_>>()
                .join(" OR ");
            rows(format!(
                "SELECT {} FROM {table} WHERE {condition}",
                idents(&shown)
            ))
        }
        CheckKind::AcceptedValues => {
            let column = ident(check.column.as_deref().unwrap_or_default());
            let values = check
                .values
                .iter()
                .map(literal)
                .collect::<Vec<_>>()
                .join(", ");
            Plan::Rows {
                sql: format!(
                    "SELECT {column} AS value, COUNT(*) AS occurrences FROM {table} \
                     WHERE {column} IS NOT NULL AND {column} NOT IN ({values}) \
                     GROUP BY {column} ORDER BY occurrences DESC, value"
                ),
                sum_column: Some("occurrences".into()),
            }
        }
        CheckKind::Relationships => {
            let column = check.column.clone().unwrap_or_default();
            let field = ident(check.field.as_deref().unwrap_or(&column));
            let to = ident(check.to.as_deref().unwrap_or_default());
            let column = ident(&column);
            Plan::Rows {
                sql: format!(
                    "SELECT m.{column}, COUNT(*) AS occurrences FROM {table} AS m \
                     LEFT JOIN (SELECT DISTINCT {field} AS k FROM {to}) AS t ON m.{column} = t.k \
                     WHERE m.{column} IS NOT NULL AND t.k IS NULL \
                     GROUP BY m.{column} ORDER BY m.{column}"
                ),
                sum_column: Some("occurrences".into()),
            }
        }
        CheckKind::Expression => match (&check.assert, &check.actual) {
            (Some(assert), _) => Plan::Assert {
                sql: format!("SELECT CAST(({assert}) AS BOOLEAN) AS ok FROM {table}"),
            },
            (None, actual) => {
                let actual = actual.as_deref().unwrap_or("NULL");
                let expected = match &check.expected {
                    Some(expected) => format!(", CAST(({expected}) AS DOUBLE) AS expected"),
                    None => String::new(),
                };
                Plan::Compare {
                    sql: format!(
                        "SELECT CAST(({actual}) AS DOUBLE) AS actual{expected} FROM {table}"
                    ),
                }
            }
        },
        CheckKind::Sql => rows(check.sql.clone().unwrap_or_default()),
    }
}

/// A column a check names that the output lacks, as a message listing the columns it has.
fn check_columns(check: &CheckDef, columns: &[String], model: &str) -> Result<(), String> {
    let named = check.columns.iter().chain(check.column.iter());
    for name in named {
        if !columns.contains(name) {
            let suggestion = match closest(name, columns.iter()) {
                Some(s) => format!(" (did you mean `{s}`?)"),
                None => String::new(),
            };
            return Err(format!(
                "`{model}` has no column `{name}`{suggestion}; its columns: {}",
                columns.join(", ")
            ));
        }
    }
    Ok(())
}

fn query(
    model: &ModelDef,
    check: &CheckDef,
    sql: &str,
    objects: &BTreeMap<String, Output>,
    env: &impl CheckEnv,
) -> Result<Table, EngineError> {
    let mut tables = Vec::with_capacity(objects.len());
    for (name, output) in objects {
        let table = env
            .table(name, &output.object)
            .map_err(|message| EngineError::Check {
                model: model.name.clone(),
                check: check.name.clone(),
                message,
            })?;
        tables.push((name.clone(), table));
    }
    engine::run_check_query(&model.name, &check.name, sql, &tables)
}

fn check_key(
    model: &ModelDef,
    check: &CheckDef,
    pinned: Option<Pinned>,
    objects: &BTreeMap<String, Output>,
) -> String {
    let reads: BTreeMap<&String, &String> = objects.iter().map(|(n, o)| (n, &o.object)).collect();
    let encoded = serde_json::to_vec(&serde_json::json!({
        "store_format": STORE_FORMAT,
        "tool_version": TOOL_VERSION,
        "model": model.name,
        "key": model.settings.key,
        "check": check,
        "pinned": pinned,
        "reads": reads,
    }))
    .expect("a check key always serializes");
    blake3::hash(&encoded).to_hex().to_string()
}

/// A result before its model, timing and alert are filled in.
fn result(check: &CheckDef, passed: bool, actual: Value, expected: Value) -> CheckResult {
    let status = match (passed, check.severity) {
        (true, _) => CheckStatus::Pass,
        (false, Severity::Error) => CheckStatus::Fail,
        (false, Severity::Warn) => CheckStatus::Warn,
    };
    CheckResult {
        check: check.name.clone(),
        model: String::new(),
        kind: check.kind,
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

fn passed_message(check: &CheckDef, actual: &Value) -> String {
    match check.kind {
        CheckKind::RowCount => format!("{actual} rows"),
        CheckKind::Unique => format!("{} unique", check.columns.join(", ")),
        CheckKind::NotNull => format!("no null in {}", check.columns.join(", ")),
        CheckKind::AcceptedValues => "every value accepted".into(),
        CheckKind::Relationships => "every value found".into(),
        CheckKind::Expression if check.assert.is_some() => "holds".into(),
        CheckKind::Expression => display_number(actual),
        CheckKind::Sql => "no failing row".into(),
    }
}

fn skipped(check: &CheckDef, expectations: &Expectations) -> CheckResult {
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
pub fn not_built(check: &CheckDef, model: &str, month: &str) -> CheckResult {
    let mut result = result(check, true, Value::Null, Value::Null);
    result.model = model.to_string();
    result.status = CheckStatus::Skipped;
    result.message = format!("`{model}` has no output for {month}: build it first");
    result
}

fn judge_row_count(
    check: &CheckDef,
    pinned: Option<Pinned>,
    objects: &BTreeMap<String, Output>,
    model: &str,
    expectations: &Expectations,
) -> CheckResult {
    let actual = objects[model].rows;
    let (passed, expected) = if let Some(other) = &check.same_as {
        let expected = objects[other].rows;
        (actual == expected, Value::from(expected))
    } else if let Some(equals) = check.equals {
        (actual == equals, Value::from(equals))
    } else if check.min.is_some() || check.max.is_some() {
        let passed =
            check.min.is_none_or(|min| actual >= min) && check.max.is_none_or(|max| actual <= max);
        let expected = match (check.min, check.max) {
            (Some(min), Some(max)) => format!("between {min} and {max}"),
            (Some(min), None) => format!("≥ {min}"),
            (None, Some(max)) => format!("≤ {max}"),
            (None, None) => unreachable!("one bound is set"),
        };
        (passed, Value::from(expected))
    } else if let Some(pinned) = pinned {
        let expected = pinned.value as u64;
        (actual == expected, Value::from(expected))
    } else {
        return skipped(check, expectations);
    };
    result(check, passed, Value::from(actual), expected)
}

fn judge_rows(
    check: &CheckDef,
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

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
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

fn judge_assert(check: &CheckDef, table: &Table) -> Result<CheckResult, String> {
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

fn judge_compare(
    check: &CheckDef,
    table: &Table,
    pinned: Option<Pinned>,
    expectations: &Expectations,
) -> Result<CheckResult, String> {
    let batch = single_row(table, "actual")?;
    let actual = float_at(&batch, "actual");
    let (expected, tolerance) = match (&check.expected, pinned) {
        (Some(_), _) => (float_at(&batch, "expected"), check.tolerance),
        (None, Some(pinned)) => (Some(pinned.value), pinned.tolerance.or(check.tolerance)),
        (None, None) => return Ok(skipped(check, expectations)),
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

fn default_message(check: &CheckDef) -> String {
    match check.kind {
        CheckKind::RowCount => "{model}: {actual} rows instead of {expected}".into(),
        CheckKind::Unique => format!(
            "{{model}}: {{failing}} value(s) of ({}) appear more than once",
            check.columns.join(", ")
        ),
        CheckKind::NotNull => format!(
            "{{model}}: {{failing}} row(s) with a null in ({})",
            check.columns.join(", ")
        ),
        CheckKind::AcceptedValues => format!(
            "{{model}}: {{failing}} row(s) with a value of `{}` outside the accepted values",
            check.column.as_deref().unwrap_or_default()
        ),
        CheckKind::Relationships => {
            let column = check.column.as_deref().unwrap_or_default();
            format!(
                "{{model}}: {{failing}} row(s) whose `{column}` is not in `{}`.`{}`",
                check.to.as_deref().unwrap_or_default(),
                check.field.as_deref().unwrap_or(column)
            )
        }
        CheckKind::Expression => match &check.assert {
            Some(assert) => format!("{{model}}: `{assert}` does not hold"),
            None => "{model}: {actual} instead of {expected}".into(),
        },
        CheckKind::Sql => "{model}: {failing} failing row(s)".into(),
    }
}

/// Fills a message template: `{actual}`, `{expected}`, `{failing}`, `{model}`, `{check}`, and
/// `{actual:fr}` / `{expected:fr}` in French money format. Unknown placeholders stay as written.
pub fn render_message(check: &CheckDef, result: &CheckResult) -> String {
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
        let placeholder = &after[..close];
        let value = match placeholder {
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

/// `70568.6` → `70 568,60`: two decimals, a comma, thousands grouped by spaces.
pub fn french_money(value: f64) -> String {
    let cents = (value.abs() * 100.0).round() as u128;
    let (units, cents) = (cents / 100, cents % 100);
    let digits = units.to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(' ');
        }
        grouped.push(digit);
    }
    let sign = if value < 0.0 && (units > 0 || cents > 0) {
        "-"
    } else {
        ""
    };
    format!("{sign}{grouped},{cents:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_money_groups_thousands_and_uses_a_comma() {
        assert_eq!(french_money(70568.6), "70 568,60");
        assert_eq!(french_money(0.0), "0,00");
        assert_eq!(french_money(1234567.891), "1 234 567,89");
        assert_eq!(french_money(-8.0), "-8,00");
        assert_eq!(french_money(999.999), "1 000,00");
    }

    fn check(message: &str) -> CheckDef {
        toml::from_str(&format!(
            "name = \"test-ca\"\nkind = \"expression\"\nactual = \"SUM(ca)\"\nmessage = \"{message}\""
        ))
        .unwrap()
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
