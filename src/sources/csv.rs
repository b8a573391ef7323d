//! csv files → Arrow with arrow-csv: a header row, inferred types for undeclared columns;
//! declared columns are read as text, then cast exactly ([`super::cast`]), so a value that does
//! not fit names its column, its line and itself.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;

use arrow::csv::ReaderBuilder;
use arrow::csv::reader::Format;
use arrow::datatypes::{DataType, Field, Schema};

use super::cast::apply_declared;
use super::{SourceError, SourceRead};
use crate::project::ColumnType;
use crate::table::Table;

pub(crate) fn read_csv(
    file: &str,
    bytes: Vec<u8>,
    declared: &BTreeMap<String, ColumnType>,
) -> Result<SourceRead, SourceError> {
    let parse_error = |e: arrow::error::ArrowError| SourceError::Parse {
        file: file.to_string(),
        message: e.to_string(),
    };
    let format = Format::default().with_header(true);
    let (inferred, _) = format
        .infer_schema(Cursor::new(&bytes), None)
        .map_err(parse_error)?;
    let names: Vec<String> = inferred.fields().iter().map(|f| f.name().clone()).collect();
    super::check_declared_columns(file, None, declared, names.iter())?;
    let fields: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| match declared.get(f.name()) {
            Some(_) => Field::new(f.name(), DataType::Utf8, true),
            None => f.as_ref().clone().with_nullable(true),
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let reader = ReaderBuilder::new(schema.clone())
        .with_format(format)
        .build(Cursor::new(bytes))
        .map_err(parse_error)?;
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(parse_error)?;
    let table = apply_declared(Table::new(schema, batches), declared).map_err(|e| {
        SourceError::Parse {
            file: file.to_string(),
            // Line 1 is the header.
            message: format!(
                "line {}: column `{}`: the value {:?} cannot be read as {} without changing it",
                e.row + 2,
                e.column,
                e.value,
                e.to
            ),
        }
    })?;
    Ok(SourceRead {
        table,
        warnings: Vec::new(),
    })
}
