//! Declared column types applied to a table read with other types (a parquet file's own, or a
//! csv column read as text): exactly, or an error naming the column, the value and where it is.
//!
//! Rules it keeps: text that is not a number, a fraction read as an integer, or a value out of
//! range never becomes a null or a rounded number without a word.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::cells::arrow_type;
use crate::project::ColumnType;
use crate::table::Table;

/// A value that a declared type cannot hold: its column, its row (0-based, over the whole
/// table), its text and the type.
pub(super) struct Inexact {
    pub(super) column: String,
    pub(super) row: usize,
    pub(super) value: String,
    pub(super) to: DataType,
}

/// `table` with each declared column cast to its type; other columns as they are.
pub(super) fn apply_declared(
    table: Table,
    declared: &BTreeMap<String, ColumnType>,
) -> Result<Table, Inexact> {
    if declared.is_empty() {
        return Ok(table);
    }
    let fields: Vec<Field> = table
        .schema
        .fields()
        .iter()
        .map(|f| match declared.get(f.name()) {
            Some(ty) => Field::new(f.name(), arrow_type(*ty), true),
            None => f.as_ref().clone(),
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let mut batches = Vec::with_capacity(table.batches.len());
    let mut first_row = 0;
    for batch in &table.batches {
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (column, field) in batch.columns().iter().zip(schema.fields()) {
            let cast = cast_exactly(column, field.data_type()).map_err(|(row, value)| Inexact {
                column: field.name().clone(),
                row: first_row + row,
                value,
                to: field.data_type().clone(),
            })?;
            columns.push(cast);
        }
        // The columns match the schema they were cast to: this cannot fail.
        if let Ok(batch) = RecordBatch::try_new(schema.clone(), columns) {
            batches.push(batch);
        }
        first_row += batch.num_rows();
    }
    Ok(Table::new(schema, batches))
}

/// `column` as `to`, or the first row whose value the cast would lose (turned into a null, or a
/// fraction truncated) with that value as text.
fn cast_exactly(column: &ArrayRef, to: &DataType) -> Result<ArrayRef, (usize, String)> {
    if column.data_type() == to {
        return Ok(column.clone());
    }
    let shown = |row: usize| {
        let options = FormatOptions::default();
        ArrayFormatter::try_new(column.as_ref(), &options)
            .map(|f| f.value(row).to_string())
            .unwrap_or_default()
    };
    let cast = arrow::compute::cast(column, to).map_err(|e| (0, e.to_string()))?;
    let floats = (to.is_integer() && column.data_type().is_floating())
        .then(|| arrow::compute::cast(column, &DataType::Float64))
        .transpose()
        .map_err(|e| (0, e.to_string()))?;
    let truncated = |row: usize| {
        floats
            .as_ref()
            .is_some_and(|f| f.as_primitive::<Float64Type>().value(row).fract() != 0.0)
    };
    let lost = (0..column.len())
        .find(|&row| column.is_valid(row) && (cast.is_null(row) || truncated(row)));
    match lost {
        None => Ok(cast),
        Some(row) => Err((row, shown(row))),
    }
}
