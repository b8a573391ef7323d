//! parquet files → Arrow as they are, with declared column types applied by casting.
//!
//! Rules it keeps: a cast is exact or an error naming the column, the row and the value: text
//! that is not a number, a fraction read as an integer, or a value out of range never becomes a
//! null or a rounded number without a word.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::cells::arrow_type;
use super::{SourceError, SourceRead};
use crate::project::ColumnType;
use crate::table::Table;

pub(crate) fn read_parquet(
    file: &str,
    bytes: Vec<u8>,
    declared: &BTreeMap<String, ColumnType>,
) -> Result<SourceRead, SourceError> {
    let parse_error = |message: String| SourceError::Parse {
        file: file.to_string(),
        message,
    };
    let table = Table::from_parquet(bytes).map_err(|e| parse_error(e.to_string()))?;
    let names: Vec<String> = table
        .schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    super::check_declared_columns(file, None, declared, names.iter())?;
    if declared.is_empty() {
        return Ok(SourceRead {
            table,
            warnings: Vec::new(),
        });
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
            let cast = cast_exactly(column, field.data_type(), first_row)
                .map_err(|e| parse_error(format!("column `{}`: {e}", field.name())))?;
            columns.push(cast);
        }
        batches.push(
            arrow::record_batch::RecordBatch::try_new(schema.clone(), columns)
                .map_err(|e| parse_error(e.to_string()))?,
        );
        first_row += batch.num_rows();
    }
    Ok(SourceRead {
        table: Table::new(schema, batches),
        warnings: Vec::new(),
    })
}

/// `column` as `to`, or why one of its values cannot be: a value the cast turned into a null,
/// or a fraction it would truncate.
/// `first_row` numbers the column's rows in the file, for the message.
fn cast_exactly(column: &ArrayRef, to: &DataType, first_row: usize) -> Result<ArrayRef, String> {
    if column.data_type() == to {
        return Ok(column.clone());
    }
    let cast = arrow::compute::cast(column, to).map_err(|e| e.to_string())?;
    let floats = (to.is_integer() && column.data_type().is_floating())
        .then(|| arrow::compute::cast(column, &DataType::Float64))
        .transpose()
        .map_err(|e| e.to_string())?;
    let truncated = |row: usize| {
        floats
            .as_ref()
            .is_some_and(|f| f.as_primitive::<Float64Type>().value(row).fract() != 0.0)
    };
    let lost = (0..column.len())
        .find(|&row| column.is_valid(row) && (cast.is_null(row) || truncated(row)));
    match lost {
        None => Ok(cast),
        Some(row) => {
            let options = FormatOptions::default();
            let value = ArrayFormatter::try_new(column.as_ref(), &options)
                .map(|f| f.value(row).to_string())
                .unwrap_or_default();
            Err(format!(
                "the value {value:?} in row {} cannot be read as {to} without changing it",
                first_row + row + 1
            ))
        }
    }
}
