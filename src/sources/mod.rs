//! Sources: a month's input files (xlsx, csv, parquet) read into Arrow tables.
//!
//! Owns reading and typing, nothing else: hashing and caching are the store's, scheduling is the
//! build's. Rules it keeps:
//! - the bytes read are the bytes hashed: callers pass the file's content, never a path, so a
//!   stage's key always describes exactly what was parsed;
//! - declared column types win over inference (see [`cells`]); a declared column that is missing is
//!   an error naming the file, the sheet and the columns that do exist;
//! - every error names the file (and sheet, cell or column) it concerns.

mod cast;
pub(crate) mod cells;
mod csv;
#[cfg(test)]
mod fuzz;
pub(crate) mod limits;
mod parquet_file;
mod xlsx;

use crate::error::Hint;
use std::collections::BTreeMap;

use arrow::datatypes::SchemaRef;

use crate::project::{ColumnType, SourceDef, SourceFormat};
use crate::table::Table;

pub(crate) use limits::Limits;
pub(crate) use xlsx::read_xlsx;

#[derive(Debug, thiserror::Error)]
pub(crate) enum SourceError {
    #[error("`{file}` does not exist")]
    Missing {
        file: String,
        available: Vec<String>,
    },
    #[error("cannot read `{file}`: {message}")]
    Io { file: String, message: String },
    #[error("cannot open `{file}` as a workbook: {message}")]
    Open { file: String, message: String },
    #[error("`{file}` has no sheet named `{sheet}`")]
    SheetNotFound {
        file: String,
        sheet: String,
        available: Vec<String>,
    },
    #[error("`{file}` sheet `{sheet}` is empty")]
    EmptySheet { file: String, sheet: String },
    #[error("`{file}` sheet `{sheet}`: {message}")]
    Header {
        file: String,
        sheet: String,
        message: String,
    },
    #[error("`{file}`{}: no column `{column}`", sheet.as_ref().map(|s| format!(" sheet `{s}`")).unwrap_or_default())]
    MissingColumn {
        file: String,
        sheet: Option<String>,
        column: String,
        available: Vec<String>,
    },
    #[error("`{file}` sheet `{sheet}` cell {cell}: {message}")]
    Cell {
        file: String,
        sheet: String,
        cell: String,
        message: String,
    },
    #[error("`{file}`: {message}")]
    Parse { file: String, message: String },
    #[error("`{file}` could not be read: the reader failed on it ({message})")]
    ReaderFailed { file: String, message: String },
    #[error("`{file}` is too big to read: {found}, over the limit of {allowed}")]
    TooBig {
        file: String,
        limit: limits::Limit,
        found: String,
        allowed: String,
    },
}

impl Hint for SourceError {
    fn hint(&self) -> Option<String> {
        match self {
            SourceError::Missing { available, .. } if available.is_empty() => {
                Some("the month folder is empty or missing; check `data` in winebuild.toml".into())
            }
            SourceError::Missing { available, .. } => Some(format!(
                "the month folder holds: {}; check `file` in winebuild.toml",
                available.join(", ")
            )),
            SourceError::Open { .. } => Some(
                "is it a real .xlsx workbook (not .xls, nor a renamed csv)? Export it again from Excel"
                    .into(),
            ),
            SourceError::SheetNotFound { available, .. } => Some(format!(
                "its sheets are: {}; set `sheet` in winebuild.toml",
                available.join(", ")
            )),
            SourceError::MissingColumn { available, .. } => Some(format!(
                "its columns are: {}; fix `columns` in winebuild.toml or the export",
                available.join(", ")
            )),
            SourceError::Cell { .. } => Some(
                "fix the cell, or change the column's declared type in winebuild.toml".into(),
            ),
            SourceError::ReaderFailed { .. } => Some(
                "the file is probably damaged: export it again. If it opens in Excel, it is a \
                 bug in the reader (calamine, arrow or parquet): please report it"
                    .into(),
            ),
            SourceError::TooBig { limit, .. } => Some(format!(
                "if the file is right, raise `{}` under [limits] in winebuild.toml",
                limit.setting()
            )),
            _ => None,
        }
    }
}

/// What reading a source gives: its table, and warnings about cells read as null.
#[derive(Debug)]
pub(crate) struct SourceRead {
    pub(crate) table: Table,
    pub(crate) warnings: Vec<String>,
}

/// Parses a source file's content. `file` is the name used in messages.
pub(crate) fn read_source(
    def: &SourceDef,
    file: &str,
    bytes: Vec<u8>,
    limits: &Limits,
) -> Result<SourceRead, SourceError> {
    read_source_foreseen(def, file, bytes, limits, &|_| {})
}

/// [`read_source`], telling `foresee` the table's likely schema as soon as a reader can guess
/// it (a workbook's header and first rows), before the whole file is read. The guess may be
/// wrong: the table's own schema is what counts.
pub(crate) fn read_source_foreseen(
    def: &SourceDef,
    file: &str,
    bytes: Vec<u8>,
    limits: &Limits,
    foresee: &dyn Fn(SchemaRef),
) -> Result<SourceRead, SourceError> {
    // The readers are other people's code fed bytes from anywhere: a damaged file that makes one
    // panic is an error naming the file, not a crash.
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_format(def, file, bytes, limits, foresee)
    }));
    read.unwrap_or_else(|panic| {
        Err(SourceError::ReaderFailed {
            file: file.to_string(),
            message: crate::error::panic_message(&*panic),
        })
    })
}

fn read_format(
    def: &SourceDef,
    file: &str,
    bytes: Vec<u8>,
    limits: &Limits,
    foresee: &dyn Fn(SchemaRef),
) -> Result<SourceRead, SourceError> {
    match def.format() {
        Some(SourceFormat::Xlsx) => {
            let sheet = def.sheet.as_deref();
            read_xlsx(file, bytes, sheet, &def.columns, limits, foresee)
        }
        Some(SourceFormat::Csv) => csv::read_csv(file, bytes, &def.columns),
        Some(SourceFormat::Parquet) => parquet_file::read_parquet(file, bytes, &def.columns),
        None => Err(SourceError::Parse {
            file: file.to_string(),
            message: "unknown file format".into(),
        }),
    }
}

/// Every declared column must exist in the file.
fn check_declared_columns<'a>(
    file: &str,
    sheet: Option<&str>,
    declared: &BTreeMap<String, ColumnType>,
    present: impl Iterator<Item = &'a String> + Clone,
) -> Result<(), SourceError> {
    for column in declared.keys() {
        if !present.clone().any(|p| p == column) {
            return Err(SourceError::MissingColumn {
                file: file.to_string(),
                sheet: sheet.map(str::to_string),
                column: column.clone(),
                available: present.cloned().collect(),
            });
        }
    }
    Ok(())
}
