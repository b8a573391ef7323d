//! csv files → Arrow with arrow-csv: a header row, inferred types, declared types applied first.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;

use arrow::csv::ReaderBuilder;
use arrow::csv::reader::Format;
use arrow::datatypes::{Field, Schema};

use super::cells::arrow_type;
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
            Some(ty) => Field::new(f.name(), arrow_type(*ty), true),
            None => f.as_ref().clone().with_nullable(true),
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let reader = ReaderBuilder::new(schema.clone())
        .with_format(format)
        .build(Cursor::new(bytes))
        .map_err(parse_error)?;
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(parse_error)?;
    Ok(SourceRead {
        table: Table::new(schema, batches),
        warnings: Vec::new(),
    })
}
