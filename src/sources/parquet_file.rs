//! parquet files → Arrow as they are, with declared column types applied by casting.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema};

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
    for batch in &table.batches {
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (column, field) in batch.columns().iter().zip(schema.fields()) {
            let cast = arrow::compute::cast(column, field.data_type())
                .map_err(|e| parse_error(format!("column `{}`: {e}", field.name())))?;
            columns.push(cast);
        }
        batches.push(
            arrow::record_batch::RecordBatch::try_new(schema.clone(), columns)
                .map_err(|e| parse_error(e.to_string()))?,
        );
    }
    Ok(SourceRead {
        table: Table::new(schema, batches),
        warnings: Vec::new(),
    })
}
