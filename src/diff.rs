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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::Serialize;

use crate::archive::{self, ArchiveError, Manifest};
use crate::checks::french_money;
use crate::engine::{self, EngineError};
use crate::project::{Project, closest};
use crate::store::{MonthState, Store, StoreError};
use crate::table::{ColumnInfo, Table};

/// How many examples a model diff keeps per kind (changed values, added rows, removed rows).
const EXAMPLES: usize = 5;
/// Example values longer than this are cut (web excerpts run to hundreds of characters).
const EXAMPLE_CHARS: usize = 60;

fn cut(text: &str) -> String {
    match text.char_indices().nth(EXAMPLE_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("diff of `{model}`: {message}")]
    Query { model: String, message: String },
    #[error("the archive holds only {count} month(s); `winebuild diff` needs two")]
    NotEnoughMonths { count: usize },
    #[error("no model `{model}` in either month")]
    UnknownModel {
        model: String,
        suggestion: Option<String>,
    },
    #[error("month `{month}` has no current build")]
    NotBuilt { month: String },
    #[error("`{given}` is not a month (YYYY-MM) or an archived revision (YYYY-MM@rN)")]
    BadSide { given: String },
}

impl DiffError {
    pub fn hint(&self) -> Option<String> {
        match self {
            DiffError::Archive(e) => e.hint(),
            DiffError::Store(e) => e.hint(),
            DiffError::Query { .. } => None,
            DiffError::NotEnoughMonths { .. } => Some(
                "build another month (`winebuild build --month M`), or compare two months: `winebuild diff 2026-09 2026-10`"
                    .into(),
            ),
            DiffError::UnknownModel { suggestion, .. } => Some(match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => "`winebuild archive show <month>` lists the archived models".into(),
            }),
            DiffError::NotBuilt { month } => {
                Some(format!("run `winebuild build --month {month}` first"))
            }
            DiffError::BadSide { .. } => Some("for example: 2026-10, or 2026-10@r2".into()),
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
pub struct DiffOptions {
    /// `[from, to]` months (or `M@rN`); none: the two latest archived months.
    pub months: Vec<String>,
    /// Compare the current build of the latest month (or `current_month`) with this archived one.
    pub against: Option<String>,
    pub current_month: Option<String>,
    /// Only these models (all when empty).
    pub models: Vec<String>,
    /// Floats closer than this are equal.
    pub tolerance: f64,
}

/// One side of a diff: an archived revision or a month's current build.
enum Side {
    Archived(Manifest),
    Current {
        month: String,
        state: MonthState,
        store: Box<Store>,
    },
}

/// What a side knows of one model without reading it.
struct ModelInfo {
    output: String,
    rows: u64,
    columns: Vec<ColumnInfo>,
    key: Vec<String>,
}

impl Side {
    fn label(&self) -> String {
        match self {
            Side::Archived(m) => format!("{} r{}", m.month, m.revision),
            Side::Current { month, .. } => format!("{month} (current build)"),
        }
    }

    fn models(&self, project: &Project) -> BTreeMap<String, ModelInfo> {
        match self {
            Side::Archived(manifest) => manifest
                .models()
                .map(|s| {
                    (
                        s.stage.clone(),
                        ModelInfo {
                            output: s.output.clone(),
                            rows: s.rows,
                            columns: s.columns.clone(),
                            key: s.key_columns.clone(),
                        },
                    )
                })
                .collect(),
            Side::Current { state, store, .. } => state
                .iter()
                .filter_map(|(name, entry)| {
                    let model = project.models.get(name)?;
                    Some((
                        name.clone(),
                        ModelInfo {
                            output: entry.object.clone(),
                            rows: entry.rows,
                            columns: store
                                .stage_record(&entry.key)
                                .map(|r| r.columns)
                                .unwrap_or_default(),
                            key: model.settings.key.clone(),
                        },
                    ))
                })
                .collect(),
        }
    }

    fn table(&self, project: &Project, model: &str) -> Result<Table, DiffError> {
        match self {
            Side::Archived(manifest) => Ok(archive::read_model(project, manifest, model)?),
            Side::Current { state, store, .. } => {
                let unreadable = |message: String| DiffError::Query {
                    model: model.to_string(),
                    message,
                };
                let entry = state
                    .get(model)
                    .ok_or_else(|| unreadable("no current output".into()))?;
                let bytes = store.read_object(&entry.object).map_err(|_| {
                    unreadable(
                        "its stored output is missing or corrupt; build the month again".into(),
                    )
                })?;
                Table::from_parquet(bytes).map_err(|e| unreadable(e.to_string()))
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub from: String,
    pub to: String,
    pub summary: Summary,
    pub models: Vec<ModelDiff>,
    pub duration_ms: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<TotalChange>,
    pub lists: Vec<ListChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub movers: Option<Movers>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TotalChange {
    pub label: String,
    pub before: Option<f64>,
    pub after: Option<f64>,
    pub change: Option<f64>,
    pub percent: Option<f64>,
    #[serde(skip)]
    money: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListChange {
    pub label: String,
    pub entering: Vec<String>,
    pub leaving: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Movers {
    pub label: String,
    pub rows: Vec<Mover>,
    #[serde(skip)]
    money: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mover {
    pub name: String,
    pub before: f64,
    pub after: f64,
    pub change: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelStatus {
    Unchanged,
    Changed,
    /// Only in the newer side.
    Added,
    /// Only in the older side.
    Removed,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelDiff {
    pub model: String,
    pub status: ModelStatus,
    /// The key rows were matched on; empty when compared as a multiset.
    pub key: Vec<String>,
    pub compared_as: &'static str,
    pub rows_before: Option<u64>,
    pub rows_after: Option<u64>,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub columns_added: Vec<ColumnInfo>,
    pub columns_removed: Vec<ColumnInfo>,
    pub columns_retyped: Vec<Retyped>,
    /// Changed rows per column.
    pub column_changes: BTreeMap<String, u64>,
    pub examples: Vec<ChangeExample>,
    pub added_examples: Vec<String>,
    pub removed_examples: Vec<String>,
    pub sums: Vec<SumChange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Retyped {
    pub column: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangeExample {
    pub key: String,
    pub column: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SumChange {
    pub column: String,
    pub before: Option<f64>,
    pub after: Option<f64>,
}

/// Parses `2026-10` or `2026-10@r2`.
fn parse_side(given: &str) -> Result<(String, Option<u32>), DiffError> {
    let bad = || DiffError::BadSide {
        given: given.to_string(),
    };
    let (month, revision) = match given.split_once('@') {
        Some((month, revision)) => {
            let number = revision
                .trim_start_matches('r')
                .parse()
                .map_err(|_| bad())?;
            (month, Some(number))
        }
        None => (given, None),
    };
    if !crate::project::is_month(month) {
        return Err(bad());
    }
    Ok((month.to_string(), revision))
}

fn archived(project: &Project, given: &str) -> Result<Side, DiffError> {
    let (month, revision) = parse_side(given)?;
    Ok(Side::Archived(archive::manifest(
        project, &month, revision,
    )?))
}

fn sides(project: &Project, options: &DiffOptions) -> Result<(Side, Side), DiffError> {
    if let Some(against) = &options.against {
        let before = archived(project, against)?;
        let month = match &options.current_month {
            Some(month) => month.clone(),
            None => {
                crate::build::resolve_month(project, None).map_err(|_| DiffError::NotBuilt {
                    month: "latest".into(),
                })?
            }
        };
        let store = Store::open(&project.root)?;
        let state = store.month_state(&month);
        if state.is_empty() {
            return Err(DiffError::NotBuilt { month });
        }
        let current = Side::Current {
            month,
            state,
            store: Box::new(store),
        };
        return Ok((before, current));
    }
    match options.months.as_slice() {
        [from, to] => Ok((archived(project, from)?, archived(project, to)?)),
        [to] => {
            let (month, _) = parse_side(to)?;
            let months = archive::months(project);
            let previous =
                months
                    .iter()
                    .rev()
                    .find(|m| **m < month)
                    .ok_or(DiffError::NotEnoughMonths {
                        count: months.len(),
                    })?;
            Ok((archived(project, previous)?, archived(project, to)?))
        }
        _ => {
            let months = archive::months(project);
            if months.len() < 2 {
                return Err(DiffError::NotEnoughMonths {
                    count: months.len(),
                });
            }
            let n = months.len();
            Ok((
                archived(project, &months[n - 2])?,
                archived(project, &months[n - 1])?,
            ))
        }
    }
}

/// Compares two months (see [`DiffOptions`]).
pub fn diff(project: &Project, options: &DiffOptions) -> Result<DiffReport, DiffError> {
    let started = std::time::Instant::now();
    let (before, after) = sides(project, options)?;
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
    let mut tables: HashMap<(bool, String), Arc<Table>> = HashMap::new();
    let mut load = |newer: bool, model: &str| -> Result<Arc<Table>, DiffError> {
        if let Some(table) = tables.get(&(newer, model.to_string())) {
            return Ok(table.clone());
        }
        let side = if newer { &after } else { &before };
        let table = Arc::new(side.table(project, model)?);
        tables.insert((newer, model.to_string()), table.clone());
        Ok(table)
    };
    let mut models = Vec::new();
    for name in all {
        if !options.models.is_empty() && !options.models.contains(name) {
            continue;
        }
        let diff = match (before_models.get(name), after_models.get(name)) {
            (Some(old), Some(new)) if old.output == new.output => unchanged(name, old, new),
            (Some(old), Some(new)) => {
                let old_table = load(false, name)?;
                let new_table = load(true, name)?;
                compare(name, old, new, &old_table, &new_table, options.tolerance)?
            }
            (Some(old), None) => one_sided(name, old, ModelStatus::Removed),
            (None, Some(new)) => one_sided(name, new, ModelStatus::Added),
            (None, None) => unreachable!("the name comes from one side"),
        };
        models.push(diff);
    }
    let summary = summary(project, &before_models, &after_models, &mut load)?;
    Ok(DiffReport {
        from: before.label(),
        to: after.label(),
        summary,
        models,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

fn empty_diff(name: &str, status: ModelStatus) -> ModelDiff {
    ModelDiff {
        model: name.to_string(),
        status,
        key: Vec::new(),
        compared_as: "key",
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
    diff.key = new.key.clone();
    diff.rows_before = Some(old.rows);
    diff.rows_after = Some(new.rows);
    diff
}

fn one_sided(name: &str, info: &ModelInfo, status: ModelStatus) -> ModelDiff {
    let mut diff = empty_diff(name, status);
    diff.key = info.key.clone();
    match status {
        ModelStatus::Added => {
            diff.rows_after = Some(info.rows);
            diff.added = info.rows;
            diff.columns_added = info.columns.clone();
        }
        _ => {
            diff.rows_before = Some(info.rows);
            diff.removed = info.rows;
            diff.columns_removed = info.columns.clone();
        }
    }
    diff
}

fn schema_changes(diff: &mut ModelDiff, old: &Table, new: &Table) {
    let old_columns = old.columns();
    let new_columns = new.columns();
    for column in &new_columns {
        match old_columns.iter().find(|c| c.name == column.name) {
            None => diff.columns_added.push(column.clone()),
            Some(before) if before.data_type != column.data_type => {
                diff.columns_retyped.push(Retyped {
                    column: column.name.clone(),
                    before: before.data_type.clone(),
                    after: column.data_type.clone(),
                })
            }
            Some(_) => {}
        }
    }
    for column in &old_columns {
        if !new_columns.iter().any(|c| c.name == column.name) {
            diff.columns_removed.push(column.clone());
        }
    }
}

fn compare(
    name: &str,
    old_info: &ModelInfo,
    new_info: &ModelInfo,
    old: &Table,
    new: &Table,
    tolerance: f64,
) -> Result<ModelDiff, DiffError> {
    let mut diff = empty_diff(name, ModelStatus::Changed);
    diff.rows_before = Some(old_info.rows);
    diff.rows_after = Some(new_info.rows);
    schema_changes(&mut diff, old, new);
    let key = new_info.key.clone();
    diff.sums = sums(old, new, &key);
    let has_key = |t: &Table| {
        !key.is_empty()
            && key
                .iter()
                .all(|k| t.schema.fields().iter().any(|f| f.name() == k))
    };
    let keyed =
        has_key(old) && has_key(new) && compare_by_key(&mut diff, name, old, new, &key, tolerance)?;
    if keyed {
        diff.key = key.clone();
    } else {
        diff.compared_as = "multiset";
        compare_as_multiset(&mut diff, old, new, tolerance)?;
    }
    let schema_changed = !diff.columns_added.is_empty()
        || !diff.columns_removed.is_empty()
        || !diff.columns_retyped.is_empty();
    if diff.added == 0 && diff.removed == 0 && diff.changed == 0 && !schema_changed {
        diff.status = ModelStatus::Unchanged;
    }
    Ok(diff)
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn run(model: &str, sql: &str, tables: &[(&str, &Table)]) -> Result<RecordBatch, DiffError> {
    let tables: Vec<(String, Arc<Table>)> = tables
        .iter()
        .map(|(name, table)| (name.to_string(), Arc::new((*table).clone())))
        .collect();
    let table = engine::run_check_query(model, "diff", sql, &tables)?;
    table.concat().map_err(|e| DiffError::Query {
        model: model.to_string(),
        message: e.to_string(),
    })
}

fn formatter<'a>(array: &'a dyn Array, options: &'a FormatOptions<'a>) -> ArrayFormatter<'a> {
    ArrayFormatter::try_new(array, options).expect("every Arrow type can be displayed")
}

/// Matches rows on `key` and counts what changed. Returns false, having changed nothing, when
/// the key turned out not to be unique on a side (the join gave more rows than the side has):
/// the caller then compares the model as a multiset.
///
/// The join runs on the key columns and a row number only; the other columns are then compared
/// in place, row number to row number, so wide tables are never copied.
fn compare_by_key(
    diff: &mut ModelDiff,
    model: &str,
    old: &Table,
    new: &Table,
    key: &[String],
    tolerance: f64,
) -> Result<bool, DiffError> {
    let arrow_error = |e: arrow::error::ArrowError| DiffError::Query {
        model: model.to_string(),
        message: e.to_string(),
    };
    let old_all = old.concat().map_err(arrow_error)?;
    let new_all = new.concat().map_err(arrow_error)?;
    let narrow_old = keys_and_row_numbers(&old_all, key).map_err(arrow_error)?;
    let narrow_new = keys_and_row_numbers(&new_all, key).map_err(arrow_error)?;
    let on = key
        .iter()
        .map(|k| {
            let same_type = old.schema.field_with_name(k).ok().map(|f| f.data_type())
                == new.schema.field_with_name(k).ok().map(|f| f.data_type());
            let k = ident(k);
            if same_type {
                format!("(o.{k} IS NOT DISTINCT FROM n.{k})")
            } else {
                // A key Excel stored as a number one month and as text the next still matches.
                format!("(CAST(o.{k} AS VARCHAR) IS NOT DISTINCT FROM CAST(n.{k} AS VARCHAR))")
            }
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    let sql = format!(
        "SELECT o.__row AS old_row, n.__row AS new_row FROM old AS o FULL OUTER JOIN new AS n ON {on}"
    );
    let joined = run(model, &sql, &[("old", &narrow_old), ("new", &narrow_new)])?;
    let old_rows = joined
        .column(0)
        .as_primitive::<arrow::datatypes::UInt32Type>()
        .clone();
    let new_rows = joined
        .column(1)
        .as_primitive::<arrow::datatypes::UInt32Type>()
        .clone();
    let matched_old = old_rows.len() - old_rows.null_count();
    let matched_new = new_rows.len() - new_rows.null_count();
    if matched_old != old_all.num_rows() || matched_new != new_all.num_rows() {
        return Ok(false);
    }
    let options = FormatOptions::default().with_null("null");
    let key_text = |batch: &RecordBatch, row: usize| -> String {
        key.iter()
            .map(|k| {
                let array = batch.column_by_name(k).expect("key checked");
                format!("{k}={}", formatter(array.as_ref(), &options).value(row))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let compared: Vec<(String, ArrayRef, ArrayRef, RowDiffer)> = new_all
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|c| !key.contains(c))
        .filter_map(|c| {
            let o = old_all.column_by_name(&c)?.clone();
            let n = new_all.column_by_name(&c).expect("a new column").clone();
            Some(RowDiffer::new(&o, &n, tolerance).map(|d| (c, o, n, d)))
        })
        .collect::<Result<_, _>>()
        .map_err(arrow_error)?;
    let mut added = Vec::new();
    let mut removed = Vec::new();
    for i in 0..joined.num_rows() {
        match (old_rows.is_valid(i), new_rows.is_valid(i)) {
            (false, true) => added.push(new_rows.value(i) as usize),
            (true, false) => removed.push(old_rows.value(i) as usize),
            _ => {
                let (o, n) = (old_rows.value(i) as usize, new_rows.value(i) as usize);
                let mut row_changed = false;
                for (name, old_array, new_array, differ) in &compared {
                    if !differ.differs(o, n) {
                        continue;
                    }
                    row_changed = true;
                    *diff.column_changes.entry(name.clone()).or_default() += 1;
                    let per_column = diff.examples.iter().filter(|e| &e.column == name).count();
                    if per_column < 2 && diff.examples.len() < EXAMPLES {
                        let shown = |array: &ArrayRef, row: usize| {
                            cut(&formatter(array.as_ref(), &options).value(row).to_string())
                        };
                        diff.examples.push(ChangeExample {
                            key: key_text(&new_all, n),
                            column: name.clone(),
                            before: shown(old_array, o),
                            after: shown(new_array, n),
                        });
                    }
                }
                if row_changed {
                    diff.changed += 1;
                }
            }
        }
    }
    // Examples in each side's own row order, which models usually sort by key.
    added.sort_unstable();
    removed.sort_unstable();
    diff.added = added.len() as u64;
    diff.removed = removed.len() as u64;
    diff.added_examples = added
        .iter()
        .take(EXAMPLES)
        .map(|&r| key_text(&new_all, r))
        .collect();
    diff.removed_examples = removed
        .iter()
        .take(EXAMPLES)
        .map(|&r| key_text(&old_all, r))
        .collect();
    Ok(true)
}

/// The key columns of `batch` and a `__row` column numbering its rows: all the join needs.
fn keys_and_row_numbers(
    batch: &RecordBatch,
    key: &[String],
) -> Result<Table, arrow::error::ArrowError> {
    let mut fields = Vec::with_capacity(key.len() + 1);
    let mut columns = Vec::with_capacity(key.len() + 1);
    for k in key {
        let index = batch.schema().index_of(k)?;
        fields.push(batch.schema().field(index).clone());
        columns.push(batch.column(index).clone());
    }
    fields.push(arrow::datatypes::Field::new(
        "__row",
        DataType::UInt32,
        false,
    ));
    columns.push(Arc::new(arrow::array::UInt32Array::from_iter_values(
        0..batch.num_rows() as u32,
    )) as ArrayRef);
    let schema = Arc::new(arrow::datatypes::Schema::new(fields));
    let narrow = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(Table::new(schema, vec![narrow]))
}

/// Compares row `i` of one column's old side with row `j` of its new side: floats within a
/// tolerance, everything else exactly (null equals null), text when the types differ.
enum RowDiffer {
    Floats(arrow::array::Float64Array, arrow::array::Float64Array, f64),
    Exact(arrow::array::DynComparator),
}

impl RowDiffer {
    fn new(
        old: &ArrayRef,
        new: &ArrayRef,
        tolerance: f64,
    ) -> Result<RowDiffer, arrow::error::ArrowError> {
        let numeric = old.data_type().is_numeric() && new.data_type().is_numeric();
        let floating = old.data_type().is_floating() || new.data_type().is_floating();
        if numeric && (floating || old.data_type() != new.data_type()) {
            let as_floats =
                |a: &ArrayRef| -> Result<arrow::array::Float64Array, arrow::error::ArrowError> {
                    Ok(arrow::compute::cast(a, &DataType::Float64)?
                        .as_primitive::<Float64Type>()
                        .clone())
                };
            return Ok(RowDiffer::Floats(
                as_floats(old)?,
                as_floats(new)?,
                tolerance,
            ));
        }
        let options = arrow::compute::SortOptions::default();
        if old.data_type() == new.data_type() {
            return Ok(RowDiffer::Exact(arrow::array::make_comparator(
                old.as_ref(),
                new.as_ref(),
                options,
            )?));
        }
        let old = arrow::compute::cast(old, &DataType::Utf8)?;
        let new = arrow::compute::cast(new, &DataType::Utf8)?;
        Ok(RowDiffer::Exact(arrow::array::make_comparator(
            old.as_ref(),
            new.as_ref(),
            options,
        )?))
    }

    fn differs(&self, i: usize, j: usize) -> bool {
        match self {
            RowDiffer::Floats(old, new, tolerance) => match (old.is_valid(i), new.is_valid(j)) {
                (true, true) => {
                    let (a, b) = (old.value(i), new.value(j));
                    !(a == b || (a - b).abs() <= *tolerance || (a.is_nan() && b.is_nan()))
                }
                (a, b) => a != b,
            },
            RowDiffer::Exact(compare) => compare(i, j).is_ne(),
        }
    }
}

/// Rows as text over the columns both sides share, counted; floats rounded to the tolerance.
fn compare_as_multiset(
    diff: &mut ModelDiff,
    old: &Table,
    new: &Table,
    tolerance: f64,
) -> Result<(), DiffError> {
    let common: Vec<String> = new
        .columns()
        .into_iter()
        .map(|c| c.name)
        .filter(|c| old.schema.fields().iter().any(|f| f.name() == c))
        .collect();
    // Rows are counted by an identity where floats are rounded to the tolerance, and shown as
    // they were.
    let counts = |table: &Table| -> Result<BTreeMap<String, (i64, String)>, DiffError> {
        let batch = table.concat().map_err(|e| DiffError::Query {
            model: diff.model.clone(),
            message: e.to_string(),
        })?;
        let options = FormatOptions::default().with_null("null");
        let arrays: Vec<ArrayRef> = common
            .iter()
            .map(|c| {
                let array = batch.column_by_name(c).expect("common column").clone();
                if array.data_type().is_floating() && tolerance > 0.0 {
                    let floats = arrow::compute::cast(&array, &DataType::Float64).expect("float");
                    let rounded: arrow::array::Float64Array = floats
                        .as_primitive::<Float64Type>()
                        .iter()
                        .map(|v| v.map(|v| (v / tolerance).round() * tolerance))
                        .collect();
                    Arc::new(rounded) as ArrayRef
                } else {
                    array
                }
            })
            .collect();
        let formatters: Vec<ArrayFormatter> = arrays
            .iter()
            .map(|a| formatter(a.as_ref(), &options))
            .collect();
        let originals: Vec<ArrayFormatter> = common
            .iter()
            .map(|c| {
                formatter(
                    batch.column_by_name(c).expect("common column").as_ref(),
                    &options,
                )
            })
            .collect();
        let line = |formatters: &[ArrayFormatter], row: usize| {
            common
                .iter()
                .zip(formatters)
                .map(|(c, f)| format!("{c}={}", f.value(row)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut counts: BTreeMap<String, (i64, String)> = BTreeMap::new();
        for row in 0..batch.num_rows() {
            let entry = counts
                .entry(line(&formatters, row))
                .or_insert_with(|| (0, cut(&line(&originals, row))));
            entry.0 += 1;
        }
        Ok(counts)
    };
    let before = counts(old)?;
    let after = counts(new)?;
    for (row, (n, shown)) in &after {
        let extra = n - before.get(row).map_or(0, |e| e.0);
        if extra > 0 {
            diff.added += extra as u64;
            if diff.added_examples.len() < EXAMPLES {
                diff.added_examples.push(shown.clone());
            }
        }
    }
    for (row, (n, shown)) in &before {
        let missing = n - after.get(row).map_or(0, |e| e.0);
        if missing > 0 {
            diff.removed += missing as u64;
            if diff.removed_examples.len() < EXAMPLES {
                diff.removed_examples.push(shown.clone());
            }
        }
    }
    Ok(())
}

fn column_sum(table: &Table, column: &str) -> Option<f64> {
    let index = table.schema.index_of(column).ok()?;
    let mut total = 0.0;
    for batch in &table.batches {
        let floats = arrow::compute::cast(batch.column(index), &DataType::Float64).ok()?;
        total += arrow::compute::sum(floats.as_primitive::<Float64Type>()).unwrap_or(0.0);
    }
    Some(total)
}

/// Sums of the numeric columns that are not part of the key (summing ids means nothing).
fn sums(old: &Table, new: &Table, key: &[String]) -> Vec<SumChange> {
    let mut names: Vec<String> = Vec::new();
    for table in [new, old] {
        for field in table.schema.fields() {
            if field.data_type().is_numeric()
                && !key.contains(field.name())
                && !names.contains(field.name())
            {
                names.push(field.name().clone());
            }
        }
    }
    names
        .into_iter()
        .map(|column| SumChange {
            before: column_sum(old, &column).map(round6),
            after: column_sum(new, &column).map(round6),
            column,
        })
        .collect()
}

/// Sums of floats carry noise in their last digits; six decimals are plenty for people.
fn round6(value: f64) -> f64 {
    let rounded = (value * 1e6).round() / 1e6;
    if rounded == 0.0 { 0.0 } else { rounded }
}

fn summary(
    project: &Project,
    before: &BTreeMap<String, ModelInfo>,
    after: &BTreeMap<String, ModelInfo>,
    load: &mut impl FnMut(bool, &str) -> Result<Arc<Table>, DiffError>,
) -> Result<Summary, DiffError> {
    let def = &project.summary;
    let both = |model: &str| before.contains_key(model) && after.contains_key(model);
    let mut summary = Summary::default();
    if let Some(total) = &def.total
        && both(&total.model)
    {
        let value = |table: &Table| -> Option<f64> {
            let index = table.schema.index_of(&total.column).ok()?;
            let batch = table.batches.iter().find(|b| b.num_rows() > 0)?;
            let floats = arrow::compute::cast(batch.column(index), &DataType::Float64).ok()?;
            let floats = floats.as_primitive::<Float64Type>();
            floats.is_valid(0).then(|| floats.value(0))
        };
        let before = value(load(false, &total.model)?.as_ref());
        let after = value(load(true, &total.model)?.as_ref());
        let change = before.zip(after).map(|(b, a)| a - b);
        summary.total = Some(TotalChange {
            label: total.label.clone(),
            before,
            after,
            change,
            percent: before
                .zip(change)
                .filter(|(b, _)| *b != 0.0)
                .map(|(b, c)| 100.0 * c / b),
            money: total.money,
        });
    }
    for list in &def.lists {
        if !both(&list.model) {
            continue;
        }
        let key = &after[&list.model].key;
        let old = load(false, &list.model)?;
        let new = load(true, &list.model)?;
        let (entering, leaving) = membership(&list.model, &old, &new, key, &list.name, &list.show)?;
        summary.lists.push(ListChange {
            label: list.label.clone(),
            entering,
            leaving,
        });
    }
    if let Some(movers) = &def.movers
        && both(&movers.model)
    {
        let key = &after[&movers.model].key;
        let old = load(false, &movers.model)?;
        let new = load(true, &movers.model)?;
        summary.movers = Some(Movers {
            label: movers.label.clone(),
            rows: top_movers(
                &movers.model,
                &old,
                &new,
                key,
                &movers.name,
                &movers.column,
                movers.top,
            )?,
            money: movers.money,
        });
    }
    Ok(summary)
}

/// Joins the two sides on `key`, keeping `columns` of each side (`o_<i>`, `n_<i>`).
fn joined_columns(
    model: &str,
    old: &Table,
    new: &Table,
    key: &[String],
    columns: &[&str],
) -> Result<RecordBatch, DiffError> {
    let on = key
        .iter()
        .map(|k| {
            format!(
                "(CAST(o.{k} AS VARCHAR) IS NOT DISTINCT FROM CAST(n.{k} AS VARCHAR))",
                k = ident(k)
            )
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    let mut select = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        select.push(format!("o.{} AS o_{i}", ident(c)));
        select.push(format!("n.{} AS n_{i}", ident(c)));
    }
    let sql = format!(
        "SELECT {}, o.__row IS NOT NULL AS in_old, n.__row IS NOT NULL AS in_new \
         FROM (SELECT *, 1 AS __row FROM old) AS o FULL OUTER JOIN (SELECT *, 1 AS __row FROM new) AS n ON {on} \
         ORDER BY 1, 2",
        select.join(", ")
    );
    run(model, &sql, &[("old", old), ("new", new)])
}

fn membership(
    model: &str,
    old: &Table,
    new: &Table,
    key: &[String],
    name: &str,
    show: &[String],
) -> Result<(Vec<String>, Vec<String>), DiffError> {
    let mut columns: Vec<&str> = vec![name];
    columns.extend(show.iter().map(String::as_str));
    let joined = joined_columns(model, old, new, key, &columns)?;
    let options = FormatOptions::default().with_null("null");
    let in_old = joined
        .column_by_name("in_old")
        .expect("selected")
        .as_boolean()
        .clone();
    let in_new = joined
        .column_by_name("in_new")
        .expect("selected")
        .as_boolean()
        .clone();
    let describe = |row: usize, side: &str| -> String {
        let value = |i: usize| {
            let array = joined
                .column_by_name(&format!("{side}_{i}"))
                .expect("selected");
            formatter(array.as_ref(), &options).value(row).to_string()
        };
        let details: Vec<String> = show
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} {}", value(i + 1)))
            .collect();
        if details.is_empty() {
            value(0)
        } else {
            format!("{} ({})", value(0), details.join(", "))
        }
    };
    let mut entering = Vec::new();
    let mut leaving = Vec::new();
    for row in 0..joined.num_rows() {
        match (in_old.value(row), in_new.value(row)) {
            (false, true) => entering.push(describe(row, "n")),
            (true, false) => leaving.push(describe(row, "o")),
            _ => {}
        }
    }
    entering.sort();
    leaving.sort();
    Ok((entering, leaving))
}

fn top_movers(
    model: &str,
    old: &Table,
    new: &Table,
    key: &[String],
    name: &str,
    column: &str,
    top: usize,
) -> Result<Vec<Mover>, DiffError> {
    let joined = joined_columns(model, old, new, key, &[name, column])?;
    let options = FormatOptions::default().with_null("null");
    let floats = |c: &str| -> Result<ArrayRef, DiffError> {
        arrow::compute::cast(
            joined.column_by_name(c).expect("selected"),
            &DataType::Float64,
        )
        .map_err(|e| DiffError::Query {
            model: model.to_string(),
            message: e.to_string(),
        })
    };
    let (before, after) = (floats("o_1")?, floats("n_1")?);
    let (before, after) = (
        before.as_primitive::<Float64Type>(),
        after.as_primitive::<Float64Type>(),
    );
    let (old_name, new_name) = (
        joined.column_by_name("o_0").expect("selected"),
        joined.column_by_name("n_0").expect("selected"),
    );
    let (old_name, new_name) = (
        formatter(old_name.as_ref(), &options),
        formatter(new_name.as_ref(), &options),
    );
    let mut movers: Vec<Mover> = (0..joined.num_rows())
        .map(|row| {
            let b = if before.is_valid(row) {
                before.value(row)
            } else {
                0.0
            };
            let a = if after.is_valid(row) {
                after.value(row)
            } else {
                0.0
            };
            let name = if new_name.value(row).to_string() != "null" {
                new_name.value(row).to_string()
            } else {
                old_name.value(row).to_string()
            };
            Mover {
                name,
                before: b,
                after: a,
                change: a - b,
            }
        })
        .filter(|m| m.change != 0.0)
        .collect();
    movers.sort_by(|a, b| {
        b.change
            .abs()
            .total_cmp(&a.change.abs())
            .then_with(|| a.name.cmp(&b.name))
    });
    movers.truncate(top);
    Ok(movers)
}

/// A figure for people: French money when `money`, else as short as exact.
fn figure(value: f64, money: bool) -> String {
    if money {
        format!("{} €", french_money(value))
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{}", round6(value))
    }
}

fn signed(value: f64, money: bool) -> String {
    if value > 0.0 {
        format!("+{}", figure(value, money))
    } else {
        figure(value, money)
    }
}

fn optional(value: Option<f64>, money: bool) -> String {
    value.map_or("—".into(), |v| figure(v, money))
}

impl ModelDiff {
    fn rows_text(&self) -> String {
        match (self.rows_before, self.rows_after) {
            (Some(b), Some(a)) if b == a => plural(a, "row"),
            (Some(b), Some(a)) => format!("{b} → {a} rows"),
            (Some(b), None) => plural(b, "row"),
            (None, Some(a)) => plural(a, "row"),
            (None, None) => String::new(),
        }
    }

    fn headline(&self) -> String {
        let matched = if self.compared_as == "multiset" {
            "as a multiset of rows".to_string()
        } else {
            format!("by {}", self.key.join(", "))
        };
        match self.status {
            ModelStatus::Unchanged => format!("unchanged, {}", self.rows_text()),
            ModelStatus::Added => format!("new model, {}", self.rows_text()),
            ModelStatus::Removed => format!("model gone, it had {}", self.rows_text()),
            ModelStatus::Changed => format!(
                "{}; {} added, {} removed, {} changed ({matched})",
                self.rows_text(),
                self.added,
                self.removed,
                self.changed
            ),
        }
    }

    fn schema_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for c in &self.columns_added {
            if self.status == ModelStatus::Changed {
                lines.push(format!("+ column {} ({})", c.name, c.data_type));
            }
        }
        for c in &self.columns_removed {
            if self.status == ModelStatus::Changed {
                lines.push(format!("- column {} ({})", c.name, c.data_type));
            }
        }
        for r in &self.columns_retyped {
            lines.push(format!("~ column {}: {} → {}", r.column, r.before, r.after));
        }
        lines
    }

    fn sums_text(&self) -> Option<String> {
        let moved: Vec<String> = self
            .sums
            .iter()
            .filter(|s| s.before != s.after)
            .map(|s| {
                format!(
                    "{} {} → {}",
                    s.column,
                    optional(s.before, false),
                    optional(s.after, false)
                )
            })
            .collect();
        (!moved.is_empty()).then(|| moved.join("; "))
    }
}

impl TotalChange {
    /// `70 568,60 € → 108 816,90 € (+38 248,30 €, +54.2 %)`, as every format shows it.
    pub fn figures(&self) -> String {
        let mut text = format!(
            "{} → {}",
            optional(self.before, self.money),
            optional(self.after, self.money)
        );
        if let Some(change) = self.change {
            text.push_str(&format!(" ({}", signed(change, self.money)));
            if let Some(percent) = self.percent {
                text.push_str(&format!(", {percent:+.1} %"));
            }
            text.push(')');
        }
        text
    }
}

/// The report as text for a terminal.
pub fn render_table(report: &DiffReport) -> String {
    let mut out = format!("{} → {}\n", report.from, report.to);
    let summary = &report.summary;
    if let Some(total) = &summary.total {
        out.push_str(&format!("\n{}: {}\n", total.label, total.figures()));
    }
    for list in &summary.lists {
        out.push_str(&format!(
            "{}: {} in, {} out\n",
            list.label,
            list.entering.len(),
            list.leaving.len()
        ));
        for name in &list.entering {
            out.push_str(&format!("  + {name}\n"));
        }
        for name in &list.leaving {
            out.push_str(&format!("  - {name}\n"));
        }
    }
    if let Some(movers) = &summary.movers
        && !movers.rows.is_empty()
    {
        out.push_str(&format!("{}:\n", movers.label));
        for m in &movers.rows {
            out.push_str(&format!(
                "  {}: {} → {} ({})\n",
                m.name,
                figure(m.before, movers.money),
                figure(m.after, movers.money),
                signed(m.change, movers.money)
            ));
        }
    }
    out.push_str("\nmodels:\n");
    let width = report
        .models
        .iter()
        .map(|m| m.model.len())
        .max()
        .unwrap_or(0);
    for model in &report.models {
        out.push_str(&format!(
            "  {:<width$}  {}\n",
            model.model,
            model.headline()
        ));
        let indent = " ".repeat(width + 4);
        for line in model.schema_lines() {
            out.push_str(&format!("{indent}{line}\n"));
        }
        if !model.column_changes.is_empty() {
            let columns: Vec<String> = model
                .column_changes
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            out.push_str(&format!("{indent}changed values: {}\n", columns.join(", ")));
        }
        for e in &model.examples {
            out.push_str(&format!(
                "{indent}  {}  {}: {} → {}\n",
                e.key, e.column, e.before, e.after
            ));
        }
        for added in &model.added_examples {
            out.push_str(&format!("{indent}  + {added}\n"));
        }
        for removed in &model.removed_examples {
            out.push_str(&format!("{indent}  - {removed}\n"));
        }
        if let Some(sums) = model.sums_text() {
            out.push_str(&format!("{indent}sums: {sums}\n"));
        }
    }
    out
}

fn md_escape(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The report as Markdown, for a pull request or an e-mail.
pub fn render_markdown(report: &DiffReport) -> String {
    let mut out = format!("# {} → {}\n\n", report.from, report.to);
    let summary = &report.summary;
    if summary.total.is_some() || !summary.lists.is_empty() || summary.movers.is_some() {
        out.push_str("## Summary\n\n");
    }
    if let Some(total) = &summary.total {
        out.push_str(&format!("**{}**: {}\n\n", total.label, total.figures()));
    }
    for list in &summary.lists {
        out.push_str(&format!(
            "**{}**: {} in, {} out\n\n",
            list.label,
            list.entering.len(),
            list.leaving.len()
        ));
        for name in &list.entering {
            out.push_str(&format!("- ➕ {}\n", md_escape(name)));
        }
        for name in &list.leaving {
            out.push_str(&format!("- ➖ {}\n", md_escape(name)));
        }
        if !list.entering.is_empty() || !list.leaving.is_empty() {
            out.push('\n');
        }
    }
    if let Some(movers) = &summary.movers
        && !movers.rows.is_empty()
    {
        out.push_str(&format!(
            "**{}**\n\n| | before | after | change |\n|---|---:|---:|---:|\n",
            movers.label
        ));
        for m in &movers.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                md_escape(&m.name),
                figure(m.before, movers.money),
                figure(m.after, movers.money),
                signed(m.change, movers.money)
            ));
        }
        out.push('\n');
    }
    out.push_str("## Models\n\n| model | status | rows before | rows after | added | removed | changed |\n|---|---|---:|---:|---:|---:|---:|\n");
    let count = |v: Option<u64>| v.map_or("—".to_string(), |v| v.to_string());
    for m in &report.models {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            m.model,
            serde_json::to_value(m.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            count(m.rows_before),
            count(m.rows_after),
            m.added,
            m.removed,
            m.changed
        ));
    }
    for m in report
        .models
        .iter()
        .filter(|m| m.status == ModelStatus::Changed)
    {
        out.push_str(&format!("\n### {}\n\n{}\n", m.model, m.headline()));
        let schema = m.schema_lines();
        if !schema.is_empty() {
            out.push('\n');
            for line in schema {
                out.push_str(&format!("- `{line}`\n"));
            }
        }
        if !m.examples.is_empty() {
            out.push_str("\n| row | column | before | after |\n|---|---|---|---|\n");
            for e in &m.examples {
                out.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    md_escape(&e.key),
                    e.column,
                    md_escape(&e.before),
                    md_escape(&e.after)
                ));
            }
        }
        if let Some(sums) = m.sums_text() {
            out.push_str(&format!("\nSums: {}\n", md_escape(&sums)));
        }
    }
    out
}

fn plural(count: u64, word: &str) -> String {
    format!("{count} {word}{}", if count == 1 { "" } else { "s" })
}
