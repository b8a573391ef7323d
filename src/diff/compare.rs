//! Comparing two outputs of one model: rows matched on the model's key by a DataFusion full
//! outer join (keys compared as text when their types differ), or counted as a multiset of whole
//! rows; changed values per column with examples; sums of numeric columns.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::sides::ModelInfo;
use super::{
    ChangeExample, ComparedAs, DiffError, EXAMPLE_CHARS, EXAMPLES, ModelDiff, ModelStatus, Retyped,
    SumChange, empty_diff,
};
use crate::engine::{self, quote_ident};
use crate::table::Table;
use crate::text::{round6, truncate};

fn cut(text: &str) -> String {
    truncate(text, EXAMPLE_CHARS)
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
                });
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

pub(super) fn compare(
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
    let key = new_info.key_columns.clone();
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
        diff.key.clone_from(&key);
    } else {
        diff.compared_as = ComparedAs::Multiset;
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

pub(super) fn run(
    model: &str,
    sql: &str,
    tables: &[(&str, &Table)],
) -> Result<RecordBatch, DiffError> {
    let tables: Vec<(String, Arc<Table>)> = tables
        .iter()
        .map(|(name, table)| (name.to_string(), Arc::new((*table).clone())))
        .collect();
    let table =
        engine::run_check_query(model, "diff", sql, &tables, &engine::QueryLimits::default())?;
    table.concat().map_err(|e| DiffError::Query {
        model: model.to_string(),
        message: e.to_string(),
    })
}

pub(super) fn formatter<'a>(
    array: &'a dyn Array,
    options: &'a FormatOptions<'a>,
) -> ArrayFormatter<'a> {
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
    let Some(pairs) = match_rows(model, &old_all, &new_all, key)? else {
        return Ok(false);
    };
    let sides = Sides {
        old: &old_all,
        new: &new_all,
        key,
    };
    let compared = sides.compared_columns(tolerance).map_err(arrow_error)?;
    let mut added = Vec::new();
    let mut removed = Vec::new();
    for (old_row, new_row) in pairs {
        match (old_row, new_row) {
            (None, Some(n)) => added.push(n),
            (Some(o), None) => removed.push(o),
            (Some(o), Some(n)) => sides.compare_row(diff, &compared, o, n),
            (None, None) => {}
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
        .map(|&r| sides.key_text(sides.new, r))
        .collect();
    diff.removed_examples = removed
        .iter()
        .take(EXAMPLES)
        .map(|&r| sides.key_text(sides.old, r))
        .collect();
    Ok(true)
}

/// A row of the old side and the row of the new side with the same key, `None` where a side
/// has no row with that key.
type RowPair = (Option<usize>, Option<usize>);

/// The rows of the two sides that share a key, by a full outer join on the key columns: one
/// `(old row, new row)` pair per joined row, `None` where a side has no such key. `None` in all
/// when the key is not unique on a side.
fn match_rows(
    model: &str,
    old: &RecordBatch,
    new: &RecordBatch,
    key: &[String],
) -> Result<Option<Vec<RowPair>>, DiffError> {
    let arrow_error = |e: arrow::error::ArrowError| DiffError::Query {
        model: model.to_string(),
        message: e.to_string(),
    };
    let narrow_old = keys_and_row_numbers(old, key).map_err(arrow_error)?;
    let narrow_new = keys_and_row_numbers(new, key).map_err(arrow_error)?;
    let on = key
        .iter()
        .map(|k| {
            let type_of = |b: &RecordBatch| {
                b.schema()
                    .field_with_name(k)
                    .ok()
                    .map(|f| f.data_type().clone())
            };
            let k = quote_ident(k);
            if type_of(old) == type_of(new) {
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
    let rows = |i: usize| {
        joined
            .column(i)
            .as_primitive::<arrow::datatypes::UInt32Type>()
            .clone()
    };
    let (old_rows, new_rows) = (rows(0), rows(1));
    let matched_old = old_rows.len() - old_rows.null_count();
    let matched_new = new_rows.len() - new_rows.null_count();
    if matched_old != old.num_rows() || matched_new != new.num_rows() {
        return Ok(None);
    }
    let row = |rows: &arrow::array::UInt32Array, i: usize| {
        rows.is_valid(i).then(|| rows.value(i) as usize)
    };
    Ok(Some(
        (0..joined.num_rows())
            .map(|i| (row(&old_rows, i), row(&new_rows, i)))
            .collect(),
    ))
}

/// A column both sides have, outside the key, and how to tell its values apart.
type Compared = (String, ArrayRef, ArrayRef, RowDiffer);

/// The two sides of a keyed comparison, whole.
struct Sides<'a> {
    old: &'a RecordBatch,
    new: &'a RecordBatch,
    key: &'a [String],
}

impl Sides<'_> {
    /// `product_id=1006`: a row named by its key.
    fn key_text(&self, batch: &RecordBatch, row: usize) -> String {
        let options = FormatOptions::default().with_null("null");
        self.key
            .iter()
            .filter_map(|k| {
                let array = batch.column_by_name(k)?;
                Some(format!(
                    "{k}={}",
                    formatter(array.as_ref(), &options).value(row)
                ))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The columns of the new side, outside the key, that the old side has too.
    fn compared_columns(&self, tolerance: f64) -> Result<Vec<Compared>, arrow::error::ArrowError> {
        self.new
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|c| !self.key.contains(c))
            .filter_map(|c| {
                let o = self.old.column_by_name(&c)?.clone();
                let n = self.new.column_by_name(&c)?.clone();
                Some(RowDiffer::new(&o, &n, tolerance).map(|d| (c, o, n, d)))
            })
            .collect()
    }

    /// Counts the columns where old row `o` and new row `n` differ, keeping a few examples.
    fn compare_row(&self, diff: &mut ModelDiff, compared: &[Compared], o: usize, n: usize) {
        let options = FormatOptions::default().with_null("null");
        let mut row_changed = false;
        for (name, old_array, new_array, differ) in compared {
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
                    key: self.key_text(self.new, n),
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
                    #[expect(
                        clippy::float_cmp,
                        reason = "equal values are equal whatever the tolerance"
                    )]
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
    let counts = |table: &Table| {
        row_counts(table, &common, tolerance).map_err(|e| DiffError::Query {
            model: diff.model.clone(),
            message: e.to_string(),
        })
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

/// Each distinct row of `table` over `common` columns: how often it occurs, and how it reads.
/// Rows are told apart by an identity where floats are rounded to the tolerance, and shown as
/// they were.
fn row_counts(
    table: &Table,
    common: &[String],
    tolerance: f64,
) -> Result<BTreeMap<String, (i64, String)>, arrow::error::ArrowError> {
    let batch = table.concat()?;
    let options = FormatOptions::default().with_null("null");
    let mut originals = Vec::with_capacity(common.len());
    let mut rounded = Vec::with_capacity(common.len());
    for column in common {
        let Some(array) = batch.column_by_name(column) else {
            continue;
        };
        originals.push(array.clone());
        rounded.push(if array.data_type().is_floating() && tolerance > 0.0 {
            let floats = arrow::compute::cast(array, &DataType::Float64)?;
            let values: arrow::array::Float64Array = floats
                .as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.map(|v| (v / tolerance).round() * tolerance))
                .collect();
            Arc::new(values) as ArrayRef
        } else {
            array.clone()
        });
    }
    let identity: Vec<ArrayFormatter> = rounded
        .iter()
        .map(|a| formatter(a.as_ref(), &options))
        .collect();
    let shown: Vec<ArrayFormatter> = originals
        .iter()
        .map(|a| formatter(a.as_ref(), &options))
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
            .entry(line(&identity, row))
            .or_insert_with(|| (0, cut(&line(&shown, row))));
        entry.0 += 1;
    }
    Ok(counts)
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
