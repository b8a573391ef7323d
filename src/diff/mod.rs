//! `winebuild diff`: one month against another, model by model, with a business summary first.
//!
//! Owns how two outputs of a model are matched and compared, and how the result is worded.
//! Rules it keeps:
//! - rows are matched on the model's key with a DataFusion full outer join over the two outputs
//!   (keys compared as text, nulls equal to nulls, so a key Excel stored as a number still matches
//!   its text form); a model without a key, or whose key is not unique, is compared as a multiset
//!   of whole rows;
//! - floats are equal within a tolerance; two outputs with the same hash are unchanged without a
//!   query;
//! - the archive is only read: a side is an archived revision, or the current build of a month.

mod compare;
mod sides;
mod summary;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use rayon::prelude::*;

use serde::Serialize;

use crate::archive::ArchiveError;
use crate::engine::EngineError;
use crate::error::{Hint, closest, suggestion};
use crate::month::Month;
use crate::project::{MonthError, Project};
use crate::store::StoreError;
use crate::table::{ColumnInfo, Table};
use sides::{ModelInfo, sides};

/// How many examples a model diff keeps per kind (changed values, added rows, removed rows).
const EXAMPLES: usize = 5;
/// Example values longer than this are cut (web excerpts run to hundreds of characters).
const EXAMPLE_CHARS: usize = 60;

#[derive(Debug, thiserror::Error)]
pub(crate) enum DiffError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("diff of `{model}`: {message}")]
    Query { model: String, message: String },
    #[error("the archive holds only {count} month(s); `winebuild diff` needs two")]
    NotEnoughMonths { count: usize },
    #[error("[summary] `{label}`: model `{model}` has no column `{column}`")]
    SummaryColumn {
        label: String,
        model: String,
        column: String,
        suggestion: String,
    },
    #[error("{month} is the first archived month: there is no month before it to compare with")]
    NothingBefore { month: Month, later: Option<Month> },
    #[error("no model `{model}` in either month")]
    UnknownModel {
        model: String,
        suggestion: Option<String>,
    },
    #[error("month `{month}` has no current build")]
    NotBuilt { month: Month },
    #[error(transparent)]
    Month(#[from] MonthError),
    #[error("`{given}` is not a month (YYYY-MM) or an archived revision (YYYY-MM@rN)")]
    BadSide { given: String },
}

impl Hint for DiffError {
    fn hint(&self) -> Option<String> {
        match self {
            DiffError::Archive(e) => e.hint(),
            DiffError::Store(e) => e.hint(),
            DiffError::Query { .. } => None,
            DiffError::NotEnoughMonths { .. } => Some(
                "build another month (`winebuild build --month M`), or compare two months: `winebuild diff 2026-09 2026-10`"
                    .into(),
            ),
            DiffError::SummaryColumn { suggestion, .. } => {
                Some(format!("{suggestion}; fix [summary] in winebuild.toml"))
            }
            DiffError::NothingBefore {
                month,
                later: Some(later),
            } => Some(format!(
                "compare it with a later month: `winebuild diff {month} {later}`"
            )),
            DiffError::NothingBefore { month, .. } => Some(format!(
                "build and archive the month before ({}), then diff again",
                month.previous()
            )),
            DiffError::UnknownModel {
                suggestion: Some(s),
                ..
            } => Some(suggestion(s)),
            DiffError::UnknownModel { .. } => {
                Some("`winebuild archive show <month>` lists the archived models".into())
            }
            DiffError::NotBuilt { month } => {
                Some(format!("run `winebuild build --month {month}` first"))
            }
            DiffError::BadSide { .. } => Some("for example: 2026-10, or 2026-10@r2".into()),
            DiffError::Month(e) => e.hint(),
        }
    }
}

impl From<EngineError> for DiffError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Check { model, message, .. } => DiffError::Query { model, message },
            other => DiffError::Query {
                model: String::new(),
                message: other.to_string(),
            },
        }
    }
}

/// What to compare.
#[derive(Debug, Clone, Default)]
pub(crate) struct DiffOptions {
    /// `[from, to]` months (or `M@rN`); none: the two latest archived months.
    pub(crate) months: Vec<String>,
    /// Compare the current build of the latest month (or `current_month`) with this archived one.
    pub(crate) against: Option<String>,
    pub(crate) current_month: Option<String>,
    /// Only these models (all when empty).
    pub(crate) models: Vec<String>,
    /// Floats closer than this are equal.
    pub(crate) tolerance: f64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct DiffReport {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) summary: Summary,
    pub(crate) models: Vec<ModelDiff>,
    pub(crate) duration_ms: f64,
    /// An archived side that no longer verifies: what is damaged (the models compared were
    /// verified as they were read).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Summary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) total: Option<TotalChange>,
    pub(crate) lists: Vec<ListChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) movers: Option<Movers>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct TotalChange {
    pub(crate) label: String,
    pub(crate) before: Option<f64>,
    pub(crate) after: Option<f64>,
    pub(crate) change: Option<f64>,
    pub(crate) percent: Option<f64>,
    #[serde(skip)]
    pub(crate) money: bool,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ListChange {
    pub(crate) label: String,
    pub(crate) entering: Vec<String>,
    pub(crate) leaving: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Movers {
    pub(crate) label: String,
    pub(crate) rows: Vec<Mover>,
    #[serde(skip)]
    pub(crate) money: bool,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Mover {
    pub(crate) name: String,
    pub(crate) before: f64,
    pub(crate) after: f64,
    pub(crate) change: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ModelStatus {
    Unchanged,
    Changed,
    /// Only in the newer side.
    Added,
    /// Only in the older side.
    Removed,
}

impl std::fmt::Display for ModelStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelStatus::Unchanged => "unchanged",
            ModelStatus::Changed => "changed",
            ModelStatus::Added => "added",
            ModelStatus::Removed => "removed",
        })
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) struct ModelDiff {
    pub(crate) model: String,
    pub(crate) status: ModelStatus,
    /// The key rows were matched on; empty when compared as a multiset.
    pub(crate) key: Vec<String>,
    pub(crate) compared_as: ComparedAs,
    pub(crate) rows_before: Option<u64>,
    pub(crate) rows_after: Option<u64>,
    pub(crate) added: u64,
    pub(crate) removed: u64,
    pub(crate) changed: u64,
    pub(crate) columns_added: Vec<ColumnInfo>,
    pub(crate) columns_removed: Vec<ColumnInfo>,
    pub(crate) columns_retyped: Vec<Retyped>,
    /// Changed rows per column.
    pub(crate) column_changes: BTreeMap<String, u64>,
    pub(crate) examples: Vec<ChangeExample>,
    pub(crate) added_examples: Vec<String>,
    pub(crate) removed_examples: Vec<String>,
    pub(crate) sums: Vec<SumChange>,
}

/// How rows of a model were matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ComparedAs {
    /// On the model's key.
    Key,
    /// As a multiset of whole rows (no key, or a key that is not unique).
    Multiset,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) struct Retyped {
    pub(crate) column: String,
    pub(crate) before: String,
    pub(crate) after: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) struct ChangeExample {
    pub(crate) key: String,
    pub(crate) column: String,
    pub(crate) before: String,
    pub(crate) after: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) struct SumChange {
    pub(crate) column: String,
    pub(crate) before: Option<f64>,
    pub(crate) after: Option<f64>,
}

/// Compares two months (see [`DiffOptions`]).
pub(crate) fn diff(project: &Project, options: &DiffOptions) -> Result<DiffReport, DiffError> {
    let started = std::time::Instant::now();
    let (before, after) = sides(project, options)?;
    let warnings = [&before, &after]
        .into_iter()
        .filter_map(|side| side.damage(project))
        .collect();
    let before_models = before.models(project);
    let after_models = after.models(project);
    let all: BTreeSet<&String> = before_models.keys().chain(after_models.keys()).collect();
    for wanted in &options.models {
        if !all.contains(wanted) {
            return Err(DiffError::UnknownModel {
                model: wanted.clone(),
                suggestion: closest(wanted, all.iter().copied()),
            });
        }
    }
    // Decoded once, whichever model comparison or summary line asks first.
    let tables: Mutex<HashMap<(bool, String), Arc<Table>>> = Mutex::default();
    let load = |newer: bool, model: &str| -> Result<Arc<Table>, DiffError> {
        let key = (newer, model.to_string());
        if let Some(table) = tables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(table.clone());
        }
        let side = if newer { &after } else { &before };
        let table = Arc::new(side.table(project, model)?);
        tables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, table.clone());
        Ok(table)
    };
    let names: Vec<&String> = all
        .into_iter()
        .filter(|name| options.models.is_empty() || options.models.contains(*name))
        .collect();
    // Models are compared side by side: each is a few DataFusion queries over its own tables.
    let compared: Vec<Result<Option<ModelDiff>, DiffError>> = names
        .par_iter()
        .map(|name| {
            Ok(Some(
                match (before_models.get(*name), after_models.get(*name)) {
                    (Some(old), Some(new)) if old.output == new.output => unchanged(name, old, new),
                    (Some(old), Some(new)) => {
                        let old_table = load(false, name)?;
                        let new_table = load(true, name)?;
                        compare::compare(name, old, new, &old_table, &new_table, options.tolerance)?
                    }
                    (Some(old), None) => one_sided(name, old, ModelStatus::Removed),
                    (None, Some(new)) => one_sided(name, new, ModelStatus::Added),
                    (None, None) => return Ok(None),
                },
            ))
        })
        .collect();
    let mut models = Vec::with_capacity(compared.len());
    for diff in compared {
        models.extend(diff?);
    }
    let summary = summary::summary(project, &before_models, &after_models, &mut |n, m| {
        load(n, m)
    })?;
    Ok(DiffReport {
        from: before.label(),
        to: after.label(),
        summary,
        models,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        warnings,
    })
}

/// Compares two tables of one model as `diff` compares two builds of it: on `key` when it is
/// unique on both sides (and not empty), else as multisets of rows. `before` is the expected side.
pub(crate) fn compare_tables(
    model: &str,
    key: &[String],
    before: &Table,
    after: &Table,
) -> Result<ModelDiff, DiffError> {
    let info = |table: &Table| sides::ModelInfo {
        output: crate::store::ObjectHash::of(b""),
        rows: table.num_rows() as u64,
        columns: table.columns(),
        key_columns: key.to_vec(),
    };
    compare::compare(
        model,
        &info(before),
        &info(after),
        before,
        after,
        UNIT_TOLERANCE,
    )
}

/// Floats closer than this are equal in a unit test: results of the same arithmetic in another
/// order, not a different figure.
const UNIT_TOLERANCE: f64 = 1e-9;

pub(crate) fn empty_diff(name: &str, status: ModelStatus) -> ModelDiff {
    ModelDiff {
        model: name.to_string(),
        status,
        key: Vec::new(),
        compared_as: ComparedAs::Key,
        rows_before: None,
        rows_after: None,
        added: 0,
        removed: 0,
        changed: 0,
        columns_added: Vec::new(),
        columns_removed: Vec::new(),
        columns_retyped: Vec::new(),
        column_changes: BTreeMap::new(),
        examples: Vec::new(),
        added_examples: Vec::new(),
        removed_examples: Vec::new(),
        sums: Vec::new(),
    }
}

fn unchanged(name: &str, old: &ModelInfo, new: &ModelInfo) -> ModelDiff {
    let mut diff = empty_diff(name, ModelStatus::Unchanged);
    diff.key.clone_from(&new.key_columns);
    diff.rows_before = Some(old.rows);
    diff.rows_after = Some(new.rows);
    diff
}

fn one_sided(name: &str, info: &ModelInfo, status: ModelStatus) -> ModelDiff {
    let mut diff = empty_diff(name, status);
    diff.key.clone_from(&info.key_columns);
    if status == ModelStatus::Added {
        diff.rows_after = Some(info.rows);
        diff.added = info.rows;
        diff.columns_added.clone_from(&info.columns);
    } else {
        diff.rows_before = Some(info.rows);
        diff.removed = info.rows;
        diff.columns_removed.clone_from(&info.columns);
    }
    diff
}
