//! Data checks: each model's checks, the month's pinned figures (`expect.toml`), and their
//! results.
//!
//! Owns how a check turns into a query ([`query`]), how its answer is judged and worded
//! ([`judge`]), and its cache key. Rules it keeps:
//! - a check reads only its model and what that model reads (directly or not), so its inputs are
//!   always built before it runs and its key can name their contents;
//! - a check's key covers its definition, its expected figure and the content of every table it
//!   reads: an unchanged stage with an unchanged `expect.toml` never reruns its checks;
//! - a check whose query cannot run is an error (the project is wrong), never a silent pass;
//! - a pinned check without a figure for the month is `skipped`, and says which file it looked in;
//! - where it runs is not its concern: [`CheckEnv`] hands it the outputs and keeps its results.

mod expect;
mod judge;
mod query;
mod shortcut;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::{self, EngineError};
use crate::error::did_you_mean;
use crate::project::{CheckKind, CheckSpec, ModelDef, Project, Severity};
use crate::store::{CheckKey, ObjectHash, STORE_FORMAT, TOOL_VERSION};
use crate::table::{PARALLEL_FROM_ROWS, Table};
pub(crate) use expect::{EXPECT_FILE, ExpectError, Expectations, Pinned};
pub(crate) use judge::{not_built, render_message};
use query::Plan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CheckStatus {
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
pub(crate) struct CheckResult {
    pub(crate) check: String,
    pub(crate) model: String,
    pub(crate) kind: CheckKind,
    pub(crate) severity: Severity,
    pub(crate) status: CheckStatus,
    /// The measured figure (a count, a sum, a boolean).
    pub(crate) actual: Value,
    /// What was expected, as a number or in words (`0`, `≥ 10`, `true`).
    pub(crate) expected: Value,
    /// The alert when the check failed; what was verified when it passed.
    pub(crate) message: String,
    /// Failing rows (or groups of rows) the check found, for kinds that find rows.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) failing: Option<u64>,
    /// A few failing rows, as `column=value` lists.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub(crate) examples: Vec<String>,
    pub(crate) duration_ms: f64,
    /// True when the expected figure came from the month's `expect.toml`.
    #[serde(default)]
    pub(crate) pinned: bool,
    /// True when this result was read from the cache rather than computed in this run.
    #[serde(default)]
    pub(crate) cached: bool,
}

/// One stage output a check can read.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    pub(crate) object: ObjectHash,
    pub(crate) rows: u64,
    pub(crate) columns: Vec<String>,
}

/// What a check needs from the build or test that runs it.
pub(crate) trait CheckEnv {
    /// The output of `stage` in this build, if it has one.
    fn output(&self, stage: &str) -> Option<Output>;
    /// The decoded table of `stage`'s output object.
    fn table(&self, stage: &str, object: &ObjectHash) -> Result<Arc<Table>, String>;
    /// A result stored under `key` by an earlier run.
    fn cached(&self, key: &CheckKey) -> Option<CheckResult>;
    /// Stores a result under `key`.
    fn remember(&self, key: &CheckKey, result: &CheckResult);
    /// What one check query may take.
    fn query_limits(&self) -> engine::QueryLimits;
}

/// Runs (or reads from the cache) every check of `model`, whose output `env` knows.
pub(crate) fn run_checks(
    project: &Project,
    model: &ModelDef,
    expectations: &Expectations,
    env: &(impl CheckEnv + Sync),
) -> Result<Vec<CheckResult>, EngineError> {
    use rayon::prelude::*;
    // Keys and cached results first, in order and on this thread: a no-op build runs no query and
    // needs no thread pool.
    let looked_up: Vec<LookedUp> = model
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
        LookedUp::Cached(result) => Ok(*result),
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
    Cached(Box<CheckResult>),
    ToRun(Pending<'p>),
}

struct Pending<'p> {
    check: &'p CheckSpec,
    plan: Plan,
    key: CheckKey,
    pinned: Option<Pinned>,
    objects: BTreeMap<String, Output>,
}

fn check_error(model: &ModelDef, check: &CheckSpec, message: String) -> EngineError {
    EngineError::Check {
        model: model.name.clone(),
        check: check.name.clone(),
        message,
    }
}

/// Validates `check` against the build's outputs and computes its key: the cached result when
/// there is one, else what [`run_check`] needs.
fn look_up<'p>(
    project: &Project,
    model: &ModelDef,
    check: &'p CheckSpec,
    expectations: &Expectations,
    env: &impl CheckEnv,
) -> Result<LookedUp<'p>, EngineError> {
    let error = |message: String| check_error(model, check, message);
    let own = env
        .output(&model.name)
        .ok_or_else(|| error("the model has no output to check".into()))?;
    check_columns(check, &own.columns, &model.name).map_err(&error)?;
    let pinned = check
        .is_pinned()
        .then(|| expectations.pinned.get(&check.name).copied())
        .flatten();
    let plan = query::plan(model, check);
    let mut reads = vec![model.name.clone()];
    reads.extend(check.named_models().into_iter().cloned());
    // A generated query reads the model and the models the check names; only SQL written by
    // people (a `sql` check, an expression) must be parsed to learn what it reads.
    let written_by_people = matches!(check.kind(), CheckKind::Sql | CheckKind::Expression);
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
        return Ok(LookedUp::Cached(Box::new(result)));
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
    let error = |message: String| check_error(model, check, message);
    let started = Instant::now();
    let mut result = match &plan {
        Plan::RowCount(rule) => {
            judge::row_count(check, rule, pinned, &objects, &model.name, expectations)
        }
        Plan::Rows {
            sql,
            sum_column,
            shortcut,
        } => {
            let table = match shortcut {
                Some(shortcut) if proven_clean(model, shortcut, &objects, env) => {
                    // What the query answers when no row fails: no row, and the column counted.
                    let fields = sum_column.map(|column| {
                        arrow::datatypes::Field::new(
                            column,
                            arrow::datatypes::DataType::Int64,
                            true,
                        )
                    });
                    let schema =
                        arrow::datatypes::Schema::new(fields.into_iter().collect::<Vec<_>>());
                    Table::new(Arc::new(schema), Vec::new())
                }
                _ => query(model, check, sql, &objects, env)?,
            };
            judge::rows(check, &table, *sum_column).map_err(&error)?
        }
        Plan::Assert { sql } => {
            let table = query(model, check, sql, &objects, env)?;
            judge::assert(check, &table).map_err(&error)?
        }
        Plan::Compare {
            sql,
            expected,
            tolerance,
        } => {
            let table = query(model, check, sql, &objects, env)?;
            judge::compare(check, expected, *tolerance, &table, pinned, expectations)
                .map_err(&error)?
        }
    };
    result.model.clone_from(&model.name);
    result.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    result.message = match result.status {
        CheckStatus::Fail | CheckStatus::Warn => render_message(check, &result),
        _ => result.message,
    };
    env.remember(&key, &result);
    Ok(result)
}

/// A column a check names that the output lacks, as a message listing the columns it has.
fn check_columns(check: &CheckSpec, columns: &[String], model: &str) -> Result<(), String> {
    for name in check.columns() {
        if !columns.contains(name) {
            let suggestion = match did_you_mean(name, columns, "") {
                s if s.is_empty() => String::new(),
                s => format!(" ({s})"),
            };
            return Err(format!(
                "`{model}` has no column `{name}`{suggestion}; its columns: {}",
                columns.join(", ")
            ));
        }
    }
    Ok(())
}

/// Whether `shortcut` proves `model`'s output free of failing rows; false whenever it cannot tell,
/// the output included (the query then runs and reports why).
fn proven_clean(
    model: &ModelDef,
    shortcut: &shortcut::Shortcut,
    objects: &BTreeMap<String, Output>,
    env: &impl CheckEnv,
) -> bool {
    let table = |name: &str| env.table(name, &objects.get(name)?.object).ok();
    table(&model.name).is_some_and(|own| shortcut.proves_clean(&own, table))
}

fn query(
    model: &ModelDef,
    check: &CheckSpec,
    sql: &str,
    objects: &BTreeMap<String, Output>,
    env: &impl CheckEnv,
) -> Result<Table, EngineError> {
    let mut tables = Vec::with_capacity(objects.len());
    for (name, output) in objects {
        let table = env
            .table(name, &output.object)
            .map_err(|message| check_error(model, check, message))?;
        tables.push((name.clone(), table));
    }
    engine::run_check_query(&model.name, &check.name, sql, &tables, &env.query_limits())
}

fn check_key(
    model: &ModelDef,
    check: &CheckSpec,
    pinned: Option<Pinned>,
    objects: &BTreeMap<String, Output>,
) -> CheckKey {
    let reads: BTreeMap<&String, &ObjectHash> =
        objects.iter().map(|(n, o)| (n, &o.object)).collect();
    let encoded = serde_json::to_vec(&serde_json::json!({
        "store_format": STORE_FORMAT,
        "tool_version": TOOL_VERSION,
        "model": model.name,
        "key": model.key_columns,
        "check": check.definition(),
        "pinned": pinned,
        "reads": reads,
    }))
    .unwrap_or_default();
    CheckKey::of_encoded(&encoded)
}
