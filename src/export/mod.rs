//! Exports: the files the merchant receives, rendered from model outputs (xlsx with
//! `rust_xlsxwriter`, csv by hand).
//!
//! Rules it keeps:
//! - rendering is pure: tables in, bytes out. The build stores the bytes as an object and writes the
//!   file, so an export is cached and reused like any stage;
//! - deterministic bytes: the xlsx document date is fixed and the zip entries carry no time, so the
//!   same data always gives the same file;
//! - text starting with `=`, `+`, `-`, `@`, tab or carriage return can never run as a formula: xlsx
//!   cells are always written as strings, never formulas, and csv fields get a leading `'`;
//! - rows keep the model's order (a report sorted by CA is sorted by its model's ORDER BY).

mod csv;
mod xlsx;

use std::sync::Arc;

use arrow::array::RecordBatch;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Workbook};

use crate::error::Hint;
use crate::project::{ExportSpec, SheetDef};
use crate::table::Table;
pub(crate) use csv::render_csv;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ExportError {
    #[error("export `{export}`: model `{model}` has no column `{column}`")]
    MissingColumn {
        export: String,
        model: String,
        column: String,
        available: Vec<String>,
    },
    #[error("export `{export}`: {message}")]
    Render { export: String, message: String },
}

impl Hint for ExportError {
    fn hint(&self) -> Option<String> {
        match self {
            ExportError::MissingColumn { available, .. } => Some(format!(
                "its columns are: {}; fix `total`/`money` in winebuild.toml",
                available.join(", ")
            )),
            ExportError::Render { .. } => None,
        }
    }
}

/// A rendered export: the file's bytes and the number of data rows written.
pub(crate) struct Rendered {
    pub(crate) bytes: Vec<u8>,
    pub(crate) rows: u64,
}

/// Renders export `name` from its input tables (model name → table).
pub(crate) fn render(
    name: &str,
    spec: &ExportSpec,
    inputs: &[(String, Arc<Table>)],
) -> Result<Rendered, ExportError> {
    let render_error = |e: &dyn std::fmt::Display| ExportError::Render {
        export: name.to_string(),
        message: e.to_string(),
    };
    let batch_of = |model: &str| -> Result<RecordBatch, ExportError> {
        let (_, table) = inputs
            .iter()
            .find(|(n, _)| n == model)
            .ok_or_else(|| render_error(&format!("input `{model}` is missing")))?;
        table.concat().map_err(|e| render_error(&e))
    };
    match spec {
        ExportSpec::Csv { model, .. } => {
            let batch = batch_of(model)?;
            Ok(Rendered {
                bytes: render_csv(&batch).map_err(|e| render_error(&e))?,
                rows: batch.num_rows() as u64,
            })
        }
        ExportSpec::Xlsx { sheets, .. } => {
            let mut workbook = Workbook::new();
            let properties = DocProperties::new()
                .set_creation_datetime(
                    &ExcelDateTime::from_ymd(2000, 1, 1).map_err(|e| render_error(&e))?,
                )
                .set_author("winebuild");
            workbook.set_properties(&properties);
            // Level 1 deflates several times faster than the default 6 for a file a little
            // larger: on a 70,000-row report, the difference is most of a second.
            workbook.set_zip_compression_level(1);
            let mut rows = 0;
            for sheet in sheets {
                let batch = batch_of(&sheet.model)?;
                check_sheet_columns(name, sheet, &batch)?;
                let worksheet = workbook
                    .add_worksheet_with_constant_memory()
                    .map_err(|e| render_error(&e))?;
                xlsx::write_sheet(worksheet, sheet, &batch).map_err(|e| render_error(&e))?;
                rows += batch.num_rows() as u64;
            }
            let bytes = workbook.save_to_buffer().map_err(|e| render_error(&e))?;
            Ok(Rendered { bytes, rows })
        }
    }
}

fn check_sheet_columns(
    export: &str,
    sheet: &SheetDef,
    batch: &RecordBatch,
) -> Result<(), ExportError> {
    let schema = batch.schema();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    for column in sheet.total.iter().chain(&sheet.money) {
        if !names.contains(column) {
            return Err(ExportError::MissingColumn {
                export: export.to_string(),
                model: sheet.model.clone(),
                column: column.clone(),
                available: names,
            });
        }
    }
    Ok(())
}
