//! parquet files → Arrow as they are, with declared column types applied exactly ([`super::cast`]).

use std::collections::BTreeMap;

use super::cast::apply_declared;
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
    let table = apply_declared(table, declared).map_err(|e| {
        parse_error(format!(
            "column `{}`: the value {:?} in row {} cannot be read as {} without changing it",
            e.column,
            e.value,
            e.row + 1,
            e.to
        ))
    })?;
    Ok(SourceRead {
        table,
        warnings: Vec::new(),
    })
}
