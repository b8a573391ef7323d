//! xlsx workbooks → Arrow, streaming the sheet's cells with calamine.
//!
//! The sheet is read cell by cell (`worksheet_cells_reader`), so only one copy of the values is held
//! (as [`Cell`]s) before each column is turned into Arrow and dropped. The first non-empty row is the
//! header; cells under no header are ignored with a warning; trailing empty rows are dropped.

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use calamine::{DataRef, Reader, Xlsx};
use rayon::prelude::*;

use super::cells::{Cell, ColumnCells, cell_address, column_letters, format_number, to_array};
use super::{SourceError, SourceRead};
use crate::project::ColumnType;
use crate::table::{PARALLEL_FROM_ROWS, Table};

/// Reads one sheet (the first when `sheet` is `None`) of an xlsx file held in memory.
pub(crate) fn read_xlsx(
    file: &str,
    bytes: Vec<u8>,
    sheet: Option<&str>,
    declared: &BTreeMap<String, ColumnType>,
) -> Result<SourceRead, SourceError> {
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(|e| SourceError::Open {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    let sheet_names = workbook.sheet_names();
    let sheet_name = match sheet {
        Some(name) if sheet_names.iter().any(|s| s == name) => name.to_string(),
        Some(name) => {
            return Err(SourceError::SheetNotFound {
                file: file.to_string(),
                sheet: name.to_string(),
                available: sheet_names,
            });
        }
        None => sheet_names
            .first()
            .cloned()
            .ok_or_else(|| SourceError::Open {
                file: file.to_string(),
                message: "the workbook has no worksheet".into(),
            })?,
    };
    let located = |e: calamine::XlsxError| SourceError::Open {
        file: format!("{file}[{sheet_name}]"),
        message: e.to_string(),
    };
    let mut reader = workbook
        .worksheet_cells_reader(&sheet_name)
        .map_err(located)?;
    let mut sheet_reader = SheetReader::default();
    while let Some(cell) = reader.next_cell().map_err(located)? {
        let (row, column) = cell.get_position();
        sheet_reader
            .push(row, column, to_cell(cell.get_value()))
            .map_err(|message| SourceError::Header {
                file: file.to_string(),
                sheet: sheet_name.clone(),
                message,
            })?;
    }
    drop(reader);
    sheet_reader.into_table(file, &sheet_name, declared)
}

fn to_cell(value: &DataRef<'_>) -> Cell {
    match value {
        DataRef::Empty => Cell::Empty,
        DataRef::Int(i) => Cell::Number(*i as f64),
        DataRef::Float(f) => Cell::Number(*f),
        DataRef::String(s) => text_cell(s),
        DataRef::SharedString(s) => text_cell(s),
        DataRef::Bool(b) => Cell::Bool(*b),
        DataRef::DateTime(d) => match d.as_datetime() {
            Some(datetime) if d.is_datetime() => Cell::DateTime(datetime),
            _ => Cell::Number(d.as_f64()),
        },
        DataRef::DateTimeIso(s) => match super::cells::parse_datetime_text(s) {
            Some(datetime) => Cell::DateTime(datetime),
            None => Cell::Text(s.clone()),
        },
        DataRef::DurationIso(s) => Cell::Text(s.clone()),
        DataRef::Error(e) => Cell::Error(e.to_string()),
    }
}

/// An empty string cell is an empty cell: Excel shows no difference, and pandas reads both as NaN.
fn text_cell(text: &str) -> Cell {
    if text.is_empty() {
        Cell::Empty
    } else {
        Cell::Text(text.to_string())
    }
}

/// Collects cells in sheet order into columns.
#[derive(Default)]
struct SheetReader {
    header_row: Option<u32>,
    columns: Vec<ColumnCells>,
    slot_of_column: HashMap<u32, usize>,
    /// Sheet row of the last row holding a value.
    last_value_row: Option<u32>,
    ignored: BTreeMap<u32, u32>,
}

impl SheetReader {
    fn push(&mut self, row: u32, column: u32, cell: Cell) -> Result<(), String> {
        if cell == Cell::Empty {
            return Ok(());
        }
        let header_row = *self.header_row.get_or_insert(row);
        if row == header_row {
            return self.push_header(column, cell);
        }
        let Some(&slot) = self.slot_of_column.get(&column) else {
            *self.ignored.entry(column).or_default() += 1;
            return Ok(());
        };
        let index = (row - header_row - 1) as usize;
        let cells = &mut self.columns[slot].cells;
        if cells.len() < index {
            cells.resize(index, Cell::Empty);
        }
        cells.push(cell);
        self.last_value_row = Some(self.last_value_row.map_or(row, |r| r.max(row)));
        Ok(())
    }

    fn push_header(&mut self, column: u32, cell: Cell) -> Result<(), String> {
        let name = match cell {
            Cell::Text(t) => t.trim().to_string(),
            Cell::Number(n) => format_number(n),
            other => {
                return Err(format!(
                    "header cell {} is {other:?}; headers must be text",
                    cell_address(column, self.header_row.unwrap_or(0))
                ));
            }
        };
        if let Some(existing) = self.columns.iter().find(|c| c.name == name) {
            return Err(format!(
                "columns {} and {} are both named `{name}`",
                column_letters(existing.index),
                column_letters(column)
            ));
        }
        self.slot_of_column.insert(column, self.columns.len());
        self.columns.push(ColumnCells {
            name,
            index: column,
            cells: Vec::new(),
        });
        Ok(())
    }

    fn into_table(
        self,
        file: &str,
        sheet: &str,
        declared: &BTreeMap<String, ColumnType>,
    ) -> Result<SourceRead, SourceError> {
        let Some(header_row) = self.header_row else {
            return Err(SourceError::EmptySheet {
                file: file.to_string(),
                sheet: sheet.to_string(),
            });
        };
        super::check_declared_columns(
            file,
            Some(sheet),
            declared,
            self.columns.iter().map(|c| &c.name),
        )?;
        let rows = self
            .last_value_row
            .map_or(0, |last| (last - header_row) as usize);
        let mut warnings: Vec<String> = self
            .ignored
            .iter()
            .map(|(column, count)| {
                format!(
                    "column {} has {count} value(s) but no header; ignored",
                    column_letters(*column)
                )
            })
            .collect();
        // Columns convert independently (in parallel for big sheets), each with its own warnings,
        // gathered back in column order so messages stay deterministic.
        let convert = |mut column: ColumnCells| {
            column.cells.resize(rows, Cell::Empty);
            let declared_type = declared.get(&column.name).copied();
            let mut column_warnings = Vec::new();
            to_array(column, declared_type, header_row + 1, &mut column_warnings)
                .map(|converted| (converted, column_warnings))
        };
        let converted: Vec<_> = if rows >= PARALLEL_FROM_ROWS {
            self.columns.into_par_iter().map(convert).collect()
        } else {
            self.columns.into_iter().map(convert).collect()
        };
        let mut fields = Vec::with_capacity(converted.len());
        let mut arrays = Vec::with_capacity(converted.len());
        for result in converted {
            let ((field, array), column_warnings) = result.map_err(|e| SourceError::Cell {
                file: file.to_string(),
                sheet: sheet.to_string(),
                cell: e.cell,
                message: e.message,
            })?;
            warnings.extend(column_warnings);
            fields.push(field);
            arrays.push(array);
        }
        let schema = std::sync::Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new_with_options(
            schema.clone(),
            arrays,
            &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| SourceError::Open {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        Ok(SourceRead {
            table: Table::new(schema, vec![batch]),
            warnings,
        })
    }
}
