//! xlsx workbooks → Arrow, streaming the sheet's cells with calamine.
//!
//! Rules it keeps:
//! - every cell is placed by its own reference (`r="B7"`), whatever order the sheet's XML lists
//!   rows in; the header is the sheet's first row holding a value, wherever the XML puts it;
//! - nothing is stored for a cell that is not there: each column keeps a list of its values and
//!   one of their rows, so a sheet whose used range is far larger than its cells costs only its
//!   cells; room for the range a sheet declares is made up front only when its XML could hold
//!   that many cells, and room never written to is never resident;
//! - the workbook's limits ([`Limits`]) are checked before the cost: the zip's sizes before
//!   inflating, each cell's position as it is read, the table's size before it is built;
//! - a formula cell without a cached value (a workbook written by a script, never opened in
//!   Excel) is an error in a declared column and a warning naming the cells otherwise, never a
//!   silent null; cells under no header are ignored with a warning.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Cursor;

use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use calamine::{DataRef, Dimensions, Reader, Xlsx};
use rayon::prelude::*;

use super::cells::{
    Cell, ColumnCells, arrow_type, cell_address, column_letters, format_number, infer_type,
    to_array,
};
use super::limits::{Limit, Limits, check_zip};
use super::{SourceError, SourceRead};
use crate::project::ColumnType;
use crate::table::{PARALLEL_FROM_ROWS, Table};

/// Reads one sheet (the first when `sheet` is `None`) of an xlsx file held in memory.
pub(crate) fn read_xlsx(
    file: &str,
    bytes: Vec<u8>,
    sheet: Option<&str>,
    declared: &BTreeMap<String, ColumnType>,
    limits: &Limits,
    foresee: &dyn Fn(SchemaRef),
) -> Result<SourceRead, SourceError> {
    let inflated = check_zip(file, &bytes, limits)?;
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(|e| SourceError::Open {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    let sheet_name = sheet_to_read(file, &workbook.sheet_names(), sheet)?;
    let located = |e: calamine::XlsxError| SourceError::Open {
        file: format!("{file}[{sheet_name}]"),
        message: e.to_string(),
    };
    let mut reader = workbook
        .worksheet_cells_reader(&sheet_name)
        .map_err(located)?;
    let mut cells = SparseSheet::with_room(room_for(reader.dimensions(), inflated, limits));
    let mut foreseen = false;
    while let Some(record) = reader.next_cell_with_formula_metadata().map_err(located)? {
        let (row, column) = record.pos;
        let cell = match to_cell(record.value) {
            Cell::Empty if record.formula.is_some() => Cell::Uncached,
            Cell::Empty => continue,
            cell => cell,
        };
        check_position(file, row, column, limits)?;
        cells.push(row, column, cell);
        if !foreseen
            && cells
                .first_row
                .is_some_and(|first| row > first + FORESEE_AFTER_ROWS)
        {
            foreseen = true;
            if let Some(schema) = cells.likely_schema(declared) {
                foresee(schema);
            }
        }
    }
    drop(reader);
    let read = cells.into_table(file, &sheet_name, declared, limits);
    // The shared strings the cells borrowed go with the workbook: a big workbook's are freed off
    // the build's path, on a thread of their own; a small one's here, quicker than starting it.
    if inflated >= DROP_APART_FROM_BYTES {
        std::thread::spawn(move || drop(workbook));
    } else {
        drop(workbook);
    }
    read
}

fn sheet_to_read(
    file: &str,
    names: &[String],
    wanted: Option<&str>,
) -> Result<String, SourceError> {
    match wanted {
        Some(name) if names.iter().any(|s| s == name) => Ok(name.to_string()),
        Some(name) => Err(SourceError::SheetNotFound {
            file: file.to_string(),
            sheet: name.to_string(),
            available: names.to_vec(),
        }),
        None => names.first().cloned().ok_or_else(|| SourceError::Open {
            file: file.to_string(),
            message: "the workbook has no worksheet".into(),
        }),
    }
}

/// After how many rows below the header a sheet's schema is guessed (see
/// [`SparseSheet::likely_schema`]).
const FORESEE_AFTER_ROWS: u32 = 64;

/// From how many inflated bytes a workbook is freed on a thread of its own (the sample's web
/// export inflates to 1.6 MB, the 100x one to 160 MB).
const DROP_APART_FROM_BYTES: u64 = 16 << 20;

/// The least XML a cell with a value takes (`<c><v>1</v></c>`): a workbook cannot hold more
/// valued cells than the bytes it inflates to divided by this.
const LEAST_CELL_XML_BYTES: u64 = 15;

/// How many columns, and cells in each, to make room for before reading: the range the sheet
/// declares (its `<dimension>`), so a 150,000-row column is allocated once instead of grown by
/// doubling (which held up to twice its cells: 100 MB more on a 150,000-row web export). The
/// declaration is only a hint, and one that could not be true (more cells than the workbook's
/// XML could hold, or than `[limits]` allow) gets no room at all.
fn room_for(dimensions: Dimensions, inflated: u64, limits: &Limits) -> Room {
    let (first_row, first_column) = dimensions.start;
    let (last_row, last_column) = dimensions.end;
    let rows = u64::from(last_row.saturating_sub(first_row)) + 1;
    let columns = u64::from(last_column.saturating_sub(first_column)) + 1;
    let cells = rows.saturating_mul(columns);
    let plausible = u64::from(last_row) < u64::from(limits.rows)
        && u64::from(last_column) < u64::from(limits.columns)
        && cells <= limits.cells
        && cells <= inflated / LEAST_CELL_XML_BYTES;
    if plausible {
        Room {
            first_column: first_column as usize,
            columns: last_column as usize + 1,
            rows: rows as usize,
        }
    } else {
        Room::default()
    }
}

/// Room to make before reading a sheet's cells: `rows` cells in each column from `first_column`
/// to `columns` (excluded).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Room {
    first_column: usize,
    columns: usize,
    rows: usize,
}

/// Refuses a cell beyond the last row or column a sheet may have.
fn check_position(file: &str, row: u32, column: u32, limits: &Limits) -> Result<(), SourceError> {
    let (limit, allowed) = if row >= limits.rows {
        (Limit::Rows, format!("{} rows", limits.rows))
    } else if column >= limits.columns {
        (Limit::Columns, format!("{} columns", limits.columns))
    } else {
        return Ok(());
    };
    Err(SourceError::TooBig {
        file: file.to_string(),
        limit,
        found: format!("it has a cell at {}", cell_address(column, row)),
        allowed,
    })
}

/// The cell of a value: shared strings stay borrowed from the workbook, inline ones are moved.
fn to_cell(value: DataRef<'_>) -> Cell<'_> {
    match value {
        DataRef::Empty => Cell::Empty,
        DataRef::Int(i) => Cell::Number(i as f64),
        DataRef::Float(f) => Cell::Number(f),
        DataRef::String(s) => text_cell(Cow::Owned(s)),
        DataRef::SharedString(s) => text_cell(Cow::Borrowed(s)),
        DataRef::Bool(b) => Cell::Bool(b),
        DataRef::DateTime(d) => match d.as_datetime() {
            Some(datetime) if d.is_datetime() => Cell::DateTime(datetime),
            _ => Cell::Number(d.as_f64()),
        },
        DataRef::DateTimeIso(s) => match super::cells::parse_datetime_text(&s) {
            Some(datetime) => Cell::DateTime(datetime),
            None => Cell::Text(Cow::Owned(s)),
        },
        DataRef::DurationIso(s) => Cell::Text(Cow::Owned(s)),
        DataRef::Error(e) => Cell::Error(e.to_string()),
    }
}

/// An empty string cell is an empty cell: Excel shows no difference, and pandas reads both as NaN.
fn text_cell(text: Cow<'_, str>) -> Cell<'_> {
    if text.is_empty() {
        Cell::Empty
    } else {
        Cell::Text(text)
    }
}

/// The sheet's cells with a value, by column, each with its row, in the order the XML gave them.
struct SparseSheet<'a> {
    /// Indexed by column number (at most [`Limits::columns`] of them).
    columns: Vec<Listed<'a>>,
    /// The first row holding a value: the header.
    first_row: Option<u32>,
}

/// One column's cells with a value and the row of each, in the order the XML gave them (two
/// lists, as in [`ColumnCells`]).
#[derive(Default)]
struct Listed<'a> {
    rows: Vec<u32>,
    cells: Vec<Cell<'a>>,
}

impl Listed<'_> {
    fn with_capacity(cells: usize) -> Self {
        Listed {
            rows: Vec::with_capacity(cells),
            cells: Vec::with_capacity(cells),
        }
    }
}

impl<'a> SparseSheet<'a> {
    fn with_room(room: Room) -> SparseSheet<'a> {
        let columns = (0..room.columns)
            .map(|column| {
                if column >= room.first_column {
                    Listed::with_capacity(room.rows)
                } else {
                    Listed::default()
                }
            })
            .collect();
        SparseSheet {
            columns,
            first_row: None,
        }
    }

    fn push(&mut self, row: u32, column: u32, cell: Cell<'a>) {
        let column = column as usize;
        if self.columns.len() <= column {
            self.columns.resize_with(column + 1, Listed::default);
        }
        let listed = &mut self.columns[column];
        listed.rows.push(row);
        listed.cells.push(cell);
        self.first_row = Some(self.first_row.map_or(row, |first| first.min(row)));
    }

    /// The schema the table will most likely have, from the cells read so far: the header's
    /// names, each column's declared type or the type its values so far would give. `None`
    /// when the header as read so far would not make a table.
    fn likely_schema(&self, declared: &BTreeMap<String, ColumnType>) -> Option<SchemaRef> {
        let header_row = self.first_row?;
        let mut fields: Vec<Field> = Vec::new();
        for listed in &self.columns {
            if listed.rows.first() != Some(&header_row) {
                continue;
            }
            let name = match &listed.cells[0] {
                Cell::Text(text) => text.trim().to_string(),
                Cell::Number(n) => format_number(*n),
                _ => return None,
            };
            if fields.iter().any(|field| field.name() == &name) {
                return None;
            }
            let ty = declared
                .get(&name)
                .copied()
                .unwrap_or_else(|| infer_type(&listed.cells[1..]));
            fields.push(Field::new(name, arrow_type(ty), true));
        }
        Some(std::sync::Arc::new(Schema::new(fields)))
    }

    fn into_table(
        self,
        file: &str,
        sheet: &str,
        declared: &BTreeMap<String, ColumnType>,
        limits: &Limits,
    ) -> Result<SourceRead, SourceError> {
        let Some(header_row) = self.first_row else {
            return Err(SourceError::EmptySheet {
                file: file.to_string(),
                sheet: sheet.to_string(),
            });
        };
        let located = |message: String| SourceError::Header {
            file: file.to_string(),
            sheet: sheet.to_string(),
            message,
        };
        let (columns, mut warnings) = headed_columns(self.columns, header_row).map_err(located)?;
        super::check_declared_columns(
            file,
            Some(sheet),
            declared,
            columns.iter().map(|c| &c.name),
        )?;
        let rows = columns
            .iter()
            .filter_map(|c| c.rows.last().map(|row| *row as usize + 1))
            .max()
            .unwrap_or(0);
        check_table_size(file, sheet, rows, columns.len(), limits)?;
        // Columns convert independently (in parallel for big sheets), each with its own warnings,
        // gathered back in column order so messages stay deterministic.
        let convert = |column: ColumnCells| {
            let declared_type = declared.get(&column.name).copied();
            let mut column_warnings = Vec::new();
            to_array(
                column,
                rows,
                declared_type,
                header_row + 1,
                &mut column_warnings,
            )
            .map(|converted| (converted, column_warnings))
        };
        let converted: Vec<_> = if rows >= PARALLEL_FROM_ROWS {
            columns.into_par_iter().map(convert).collect()
        } else {
            columns.into_iter().map(convert).collect()
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

/// Refuses a sheet whose table (its last row × its columns) would hold more cells than
/// `[limits] cells`, before the table is built.
fn check_table_size(
    file: &str,
    sheet: &str,
    rows: usize,
    columns: usize,
    limits: &Limits,
) -> Result<(), SourceError> {
    if rows as u64 * columns as u64 > limits.cells {
        return Err(SourceError::TooBig {
            file: file.to_string(),
            limit: Limit::Cells,
            found: format!("sheet `{sheet}` makes a table of {rows} rows × {columns} columns"),
            allowed: format!("{} cells", limits.cells),
        });
    }
    Ok(())
}

/// The columns with a header cell, named by it, their cells sorted by row and numbered from the
/// first data row; and a warning for each column with values but no header.
fn headed_columns(
    columns: Vec<Listed>,
    header_row: u32,
) -> Result<(Vec<ColumnCells>, Vec<String>), String> {
    let mut headed: Vec<ColumnCells> = Vec::new();
    let mut warnings = Vec::new();
    for (
        index,
        Listed {
            mut rows,
            mut cells,
        },
    ) in columns.into_iter().enumerate()
    {
        let index = index as u32;
        if cells.is_empty() {
            continue;
        }
        if !rows.is_sorted() {
            (rows, cells) = sorted_by_row(rows, cells);
        }
        if let Some(pair) = rows.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(format!(
                "cell {} appears twice in the sheet",
                cell_address(index, pair[0])
            ));
        }
        if rows[0] != header_row {
            warnings.push(format!(
                "column {} has {} value(s) but no header; ignored",
                column_letters(index),
                cells.len()
            ));
            continue;
        }
        let header = cells.remove(0);
        let name = header_name(header, index, header_row)?;
        if let Some(existing) = headed.iter().find(|c| c.name == name) {
            return Err(format!(
                "columns {} and {} are both named `{name}`",
                column_letters(existing.index),
                column_letters(index)
            ));
        }
        // The header's row leaves too, and the others count from the first data row: one pass.
        let rows = rows[1..].iter().map(|row| row - (header_row + 1)).collect();
        headed.push(ColumnCells {
            name,
            index,
            rows,
            cells,
        });
    }
    Ok((headed, warnings))
}

/// A column's cells in row order, cells of the same row kept in the order the XML gave them.
fn sorted_by_row<'a>(rows: Vec<u32>, cells: Vec<Cell<'a>>) -> (Vec<u32>, Vec<Cell<'a>>) {
    let mut pairs: Vec<(u32, Cell<'a>)> = rows.into_iter().zip(cells).collect();
    pairs.sort_by_key(|(row, _)| *row);
    pairs.into_iter().unzip()
}

fn header_name(header: Cell, column: u32, header_row: u32) -> Result<String, String> {
    match header {
        Cell::Text(t) => Ok(t.trim().to_string()),
        Cell::Number(n) => Ok(format_number(n)),
        other => Err(format!(
            "header cell {} is {other:?}; headers must be text",
            cell_address(column, header_row)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::limits::{EXCEL_COLUMNS, EXCEL_ROWS};
    use super::*;

    fn range(start: (u32, u32), end: (u32, u32)) -> Dimensions {
        Dimensions { start, end }
    }

    #[test]
    fn room_is_made_for_the_declared_range_when_the_workbook_could_hold_it() {
        // A1:AB151301, the 100x web export: 28 columns, 151,301 rows, 154 MB of XML.
        let room = room_for(
            range((0, 0), (151_300, 27)),
            154_000_000,
            &Limits::default(),
        );
        assert_eq!(
            room,
            Room {
                first_column: 0,
                columns: 28,
                rows: 151_301
            }
        );
        // C5:D9: columns A and B get no room.
        let room = room_for(range((4, 2), (8, 3)), 10_000, &Limits::default());
        assert_eq!(
            room,
            Room {
                first_column: 2,
                columns: 4,
                rows: 5
            }
        );
    }

    #[test]
    fn a_declared_range_that_cannot_be_true_gets_no_room() {
        let none = Room::default();
        // A1:XFD1048576 declared by a 10 KB workbook.
        let whole_sheet = range((0, 0), (EXCEL_ROWS - 1, EXCEL_COLUMNS - 1));
        assert_eq!(room_for(whole_sheet, 10_000, &Limits::default()), none);
        // Plausible for the XML, but past `[limits] rows`.
        let limits = Limits {
            rows: 100,
            ..Limits::default()
        };
        assert_eq!(room_for(range((0, 0), (100, 1)), 1 << 30, &limits), none);
        // Past `[limits] cells`.
        let limits = Limits {
            cells: 1_000,
            ..Limits::default()
        };
        assert_eq!(room_for(range((0, 0), (999, 1)), 1 << 30, &limits), none);
        // Ends before it starts, or at the last u32: no overflow, no room.
        assert_eq!(
            room_for(range((10, 5), (2, 1)), 1 << 30, &Limits::default()).rows,
            1
        );
        assert_eq!(
            room_for(
                range((0, 0), (u32::MAX, u32::MAX)),
                u64::MAX,
                &Limits::default()
            ),
            none
        );
        // Not a zip: nothing inflated, nothing reserved.
        assert_eq!(room_for(range((0, 0), (9, 9)), 0, &Limits::default()), none);
    }
}

#[cfg(test)]
mod foresee_tests {
    use std::cell::RefCell;

    use super::*;

    /// A workbook whose sheet has a header and `rows` rows: an id, a price that turns
    /// fractional at `fraction_at`, a name, and a column left empty.
    fn workbook(rows: u32, fraction_at: u32) -> Vec<u8> {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (column, name) in ["id", "price", "name", "note"].into_iter().enumerate() {
            sheet.write_string(0, column as u16, name).unwrap();
        }
        for row in 1..=rows {
            let price = if row == fraction_at { 9.5 } else { 10.0 };
            sheet.write_number(row, 0, f64::from(row)).unwrap();
            sheet.write_number(row, 1, price).unwrap();
            sheet.write_string(row, 2, format!("vin {row}")).unwrap();
        }
        book.save_to_buffer().unwrap()
    }

    /// The schema `read_xlsx` guessed (if any) and the table's own.
    fn guessed_and_read(bytes: Vec<u8>) -> (Option<SchemaRef>, SchemaRef) {
        let guessed = RefCell::new(None);
        let foresee = |schema| *guessed.borrow_mut() = Some(schema);
        let declared = BTreeMap::from([("name".to_string(), ColumnType::String)]);
        let read = read_xlsx(
            "w.xlsx",
            bytes,
            None,
            &declared,
            &Limits::default(),
            &foresee,
        );
        (guessed.into_inner(), read.unwrap().table.schema)
    }

    #[test]
    fn the_schema_guessed_from_the_first_rows_is_the_tables_when_later_rows_agree() {
        let (guessed, read) = guessed_and_read(workbook(200, 0));
        assert_eq!(guessed, Some(read.clone()));
        let types: Vec<String> = read
            .fields()
            .iter()
            .map(|f| f.data_type().to_string())
            .collect();
        assert_eq!(types, ["Int64", "Int64", "Utf8", "Utf8"]);
    }

    #[test]
    fn a_later_row_can_prove_the_guess_wrong_and_the_table_says_what_it_is() {
        let (guessed, read) = guessed_and_read(workbook(200, 150));
        let guessed = guessed.expect("a guess after 64 rows");
        assert_eq!(guessed.field(1).data_type().to_string(), "Int64");
        assert_eq!(read.field(1).data_type().to_string(), "Float64");
    }

    #[test]
    fn a_short_sheet_is_read_before_anything_is_guessed() {
        let (guessed, _) = guessed_and_read(workbook(20, 0));
        assert_eq!(guessed, None);
    }
}
