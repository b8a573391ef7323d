//! Spreadsheet cells to Arrow columns: the type inference and conversion rules of the README.
//!
//! Rules it keeps (they decide what every model sees, so they are pinned by tests):
//! - a declared column type always wins; a cell that cannot be converted is an error naming the cell;
//! - undeclared: numbers → int64 when every value is whole, else float64; Excel date-times →
//!   timestamp (µs); booleans → bool; text → string; any mix of kinds → string;
//! - in a string column, whole numbers are written without a decimal part (15298 → "15298");
//! - empty cells → null; a column with no value at all → string (all null);
//! - error cells (#N/A, #DIV/0!) → null with a warning naming the cell, an error if declared.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime};

use crate::project::ColumnType;

/// One cell value as read from a workbook. Text borrows the workbook's shared strings where it
/// can: a web export repeats the same long texts on thousands of rows, and a copy per cell
/// doubled what reading it held.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    Empty,
    Number(f64),
    Text(Cow<'a, str>),
    Bool(bool),
    /// A date-time, already converted from the workbook's epoch.
    DateTime(NaiveDateTime),
    /// An error value such as `#N/A`.
    Error(String),
    /// A formula whose value the workbook does not hold (saved by a program that does not
    /// compute formulas).
    Uncached,
}

/// The value of every cell the sheet does not list.
static EMPTY: Cell<'static> = Cell::Empty;

/// A cell that cannot become a value of its column's declared type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CellError {
    pub(crate) cell: String,
    pub(crate) message: String,
}

/// The values of one column, with the header it came from.
#[derive(Debug, Default)]
pub(crate) struct ColumnCells<'a> {
    pub(crate) name: String,
    /// 0-based column index in the sheet, for cell addresses.
    pub(crate) index: u32,
    /// The row of each cell in `cells`, in increasing order, counted from the first data row
    /// (sheet row `first_row`); the rows between hold nothing. Kept apart from the cells: a row
    /// beside its cell takes 32 bytes where the two lists take 28, and a 150,000-row web export
    /// holds four million cells.
    pub(crate) rows: Vec<u32>,
    /// The cells with a value.
    pub(crate) cells: Vec<Cell<'a>>,
}

#[cfg(test)]
impl<'a> ColumnCells<'a> {
    /// A column whose cells are given row after row, from the first data row.
    pub(crate) fn dense(name: &str, index: u32, cells: Vec<Cell<'a>>) -> ColumnCells<'a> {
        ColumnCells {
            name: name.to_string(),
            index,
            rows: (0u32..).take(cells.len()).collect(),
            cells,
        }
    }
}

/// Every row's cell, `rows` of them: the listed cells, and [`EMPTY`] between them.
fn dense<'c, 'a>(
    column: &'c ColumnCells<'a>,
    rows: usize,
) -> impl Iterator<Item = &'c Cell<'a>> + Clone {
    let mut listed = column.rows.iter().zip(&column.cells).peekable();
    (0..rows as u32).map(move |row| match listed.peek() {
        Some(&(&at, cell)) if at == row => {
            listed.next();
            cell
        }
        _ => &EMPTY,
    })
}

/// Excel-style column letters: 0 → A, 25 → Z, 26 → AA.
pub(crate) fn column_letters(index: u32) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push((b'A' + rem) as char);
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// The address of a cell, such as `C17` (row is 0-based in the sheet).
pub(crate) fn cell_address(column: u32, row: u32) -> String {
    format!("{}{}", column_letters(column), row + 1)
}

/// The type an undeclared column gets from its values.
pub(crate) fn infer_type<'c, 'a: 'c>(cells: impl IntoIterator<Item = &'c Cell<'a>>) -> ColumnType {
    let mut numbers = false;
    let mut fractional = false;
    let mut texts = false;
    let mut bools = false;
    let mut dates = false;
    for cell in cells {
        match cell {
            Cell::Number(n) => {
                numbers = true;
                fractional |= !is_whole(*n);
            }
            Cell::Text(_) => texts = true,
            Cell::Bool(_) => bools = true,
            Cell::DateTime(_) => dates = true,
            Cell::Empty | Cell::Error(_) | Cell::Uncached => {}
        }
    }
    match (numbers, texts, bools, dates) {
        (true, false, false, false) if fractional => ColumnType::Float64,
        (true, false, false, false) => ColumnType::Int64,
        (false, false, true, false) => ColumnType::Bool,
        (false, false, false, true) => ColumnType::Timestamp,
        _ => ColumnType::String,
    }
}

fn is_whole(n: f64) -> bool {
    n.fract() == 0.0 && n.abs() < 9.0e15
}

/// The Arrow field a column of this type becomes.
pub(crate) fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::String => DataType::Utf8,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Date => DataType::Date32,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
    }
}

/// Converts a column's cells to an Arrow array of `rows` rows. `first_row` is the sheet row of
/// the first data row (0-based), for addresses; warnings for error cells and formulas without a
/// value are pushed to `warnings`.
pub(crate) fn to_array(
    column: ColumnCells,
    rows: usize,
    declared: Option<ColumnType>,
    first_row: u32,
    warnings: &mut Vec<String>,
) -> Result<(Field, ArrayRef), CellError> {
    let ty = declared.unwrap_or_else(|| infer_type(&column.cells));
    let address = |row: u32| cell_address(column.index, first_row + row);
    let mut uncached = Vec::new();
    for (row, cell) in column.rows.iter().zip(&column.cells) {
        let problem = match cell {
            Cell::Error(value) => format!("holds the error value `{value}`"),
            Cell::Uncached => "is a formula whose value the workbook does not hold".into(),
            _ => continue,
        };
        if declared.is_some() {
            return Err(CellError {
                cell: address(*row),
                message: format!("{problem} in column `{}` declared {ty}", column.name),
            });
        }
        match cell {
            Cell::Error(value) => warnings.push(format!(
                "cell {} (column `{}`) holds `{value}`; read as null",
                address(*row),
                column.name
            )),
            _ => uncached.push(address(*row)),
        }
    }
    if !uncached.is_empty() {
        warnings.push(uncached_warning(&column.name, &uncached));
    }
    let convert_error = |i: usize, cell: &Cell| CellError {
        cell: address(i as u32),
        message: format!(
            "{} cannot be read as {ty} (column `{}`)",
            describe(cell),
            column.name
        ),
    };
    let cells = dense(&column, rows);
    let array: ArrayRef = match ty {
        ColumnType::String => Arc::new(text_array(cells, rows)),
        ColumnType::Int64 => convert::<Int64Array, _>(cells, as_int, convert_error)?,
        ColumnType::Float64 => convert::<Float64Array, _>(cells, as_float, convert_error)?,
        ColumnType::Bool => convert::<BooleanArray, _>(cells, as_bool, convert_error)?,
        ColumnType::Date => convert::<Date32Array, _>(
            cells,
            |cell| as_datetime(cell).map(|d| d.map(|d| days_since_epoch(d.date()))),
            convert_error,
        )?,
        ColumnType::Timestamp => convert::<TimestampMicrosecondArray, _>(
            cells,
            |cell| as_datetime(cell).map(|d| d.map(|d| d.and_utc().timestamp_micros())),
            convert_error,
        )?,
    };
    let ColumnCells { name, cells, .. } = column;
    release(cells);
    Ok((Field::new(name, arrow_type(ty), true), array))
}

/// `column `total`: 3 formula cell(s) without a value, read as null: C4, C5, C9`.
fn uncached_warning(column: &str, cells: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut listed = cells[..cells.len().min(SHOWN)].join(", ");
    if cells.len() > SHOWN {
        listed.push_str(", …");
    }
    format!(
        "column `{column}`: {} formula cell(s) whose value the workbook does not hold, read as null \
         ({listed}); open and save the workbook in Excel or LibreOffice to compute them",
        cells.len()
    )
}

/// Converts every cell with `value`; the first cell it rejects becomes the error.
fn convert<'c, 's: 'c, A, T>(
    cells: impl Iterator<Item = &'c Cell<'s>>,
    value: impl Fn(&Cell<'s>) -> Result<Option<T>, ()>,
    error: impl Fn(usize, &Cell<'s>) -> CellError,
) -> Result<ArrayRef, CellError>
where
    A: FromIterator<Option<T>> + Array + 'static,
{
    let array = cells
        .enumerate()
        .map(|(i, cell)| value(cell).map_err(|()| error(i, cell)))
        .collect::<Result<A, CellError>>()?;
    Ok(Arc::new(array))
}

fn describe(cell: &Cell) -> String {
    match cell {
        Cell::Empty => "an empty cell".into(),
        Cell::Number(n) => format!("the number {}", format_number(*n)),
        Cell::Text(t) => format!("the text {t:?}"),
        Cell::Bool(b) => format!("the boolean {b}"),
        Cell::DateTime(d) => format!("the date {d}"),
        Cell::Error(e) => format!("the error {e}"),
        Cell::Uncached => "a formula without a value".into(),
    }
}

/// Numbers as people write them: whole numbers without `.0`, others in shortest form.
pub(crate) fn format_number(n: f64) -> String {
    if is_whole(n) {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Frees a big column's owned strings on another thread: deallocating millions of strings is work
/// the build need not wait for. Text borrowed from the workbook costs nothing to drop.
fn release(cells: Vec<Cell<'_>>) {
    if cells.len() < 10_000 {
        return;
    }
    let owned: Vec<String> = cells
        .into_iter()
        .filter_map(|cell| match cell {
            Cell::Text(Cow::Owned(text)) | Cell::Error(text) => Some(text),
            _ => None,
        })
        .collect();
    if !owned.is_empty() {
        std::thread::spawn(move || drop(owned));
    }
}

/// A text column, built straight from the cells' strings: no per-cell copy before the one into
/// the array (web exports carry millions of text cells).
fn text_array<'c, 'a: 'c>(
    cells: impl Iterator<Item = &'c Cell<'a>> + Clone,
    rows: usize,
) -> StringArray {
    let bytes: usize = cells
        .clone()
        .map(|cell| match cell {
            Cell::Text(t) => t.len(),
            _ => 0,
        })
        .sum();
    let mut builder = arrow::array::StringBuilder::with_capacity(rows, bytes);
    for cell in cells {
        match cell {
            Cell::Text(t) => builder.append_value(t),
            other => builder.append_option(as_text(other)),
        }
    }
    builder.finish()
}

fn as_text(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Empty | Cell::Error(_) | Cell::Uncached => None,
        Cell::Number(n) => Some(format_number(*n)),
        Cell::Text(t) => Some(t.to_string()),
        Cell::Bool(b) => Some(b.to_string()),
        Cell::DateTime(d) => Some(d.format("%Y-%m-%d %H:%M:%S").to_string()),
    }
}

fn as_int(cell: &Cell) -> Result<Option<i64>, ()> {
    match cell {
        Cell::Empty | Cell::Error(_) | Cell::Uncached => Ok(None),
        Cell::Number(n) if is_whole(*n) => Ok(Some(*n as i64)),
        Cell::Text(t) if t.trim().is_empty() => Ok(None),
        Cell::Text(t) => t.trim().parse().map(Some).map_err(|_| ()),
        Cell::Bool(b) => Ok(Some(i64::from(*b))),
        _ => Err(()),
    }
}

fn as_float(cell: &Cell) -> Result<Option<f64>, ()> {
    match cell {
        Cell::Empty | Cell::Error(_) | Cell::Uncached => Ok(None),
        Cell::Number(n) => Ok(Some(*n)),
        Cell::Text(t) if t.trim().is_empty() => Ok(None),
        Cell::Text(t) => t.trim().replace(',', ".").parse().map(Some).map_err(|_| ()),
        _ => Err(()),
    }
}

fn as_bool(cell: &Cell) -> Result<Option<bool>, ()> {
    match cell {
        Cell::Empty | Cell::Error(_) | Cell::Uncached => Ok(None),
        Cell::Bool(b) => Ok(Some(*b)),
        #[expect(clippy::float_cmp, reason = "a boolean cell holds exactly 0 or 1")]
        Cell::Number(n) if *n == 0.0 || *n == 1.0 => Ok(Some(*n == 1.0)),
        Cell::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" | "1" | "yes" => Ok(Some(true)),
            "false" | "0" | "no" => Ok(Some(false)),
            _ => Err(()),
        },
        _ => Err(()),
    }
}

fn as_datetime(cell: &Cell) -> Result<Option<NaiveDateTime>, ()> {
    match cell {
        Cell::Empty | Cell::Error(_) | Cell::Uncached => Ok(None),
        Cell::DateTime(d) => Ok(Some(*d)),
        Cell::Text(t) if t.trim().is_empty() => Ok(None),
        Cell::Text(t) => parse_datetime_text(t.trim()).map(Some).ok_or(()),
        _ => Err(()),
    }
}

/// Parses `2018-06-07`, `2018-06-07 16:27:25` and `2018-06-07T16:27:25`.
pub(crate) fn parse_datetime_text(text: &str) -> Option<NaiveDateTime> {
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(text, format) {
            return Some(d);
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

fn days_since_epoch(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("the Unix epoch is a valid date");
    (date - epoch).num_days() as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    fn column(cells: Vec<Cell>) -> (ColumnCells, usize) {
        let rows = cells.len();
        (ColumnCells::dense("c", 2, cells), rows)
    }

    fn convert_column(
        cells: Vec<Cell>,
        declared: Option<ColumnType>,
        first_row: u32,
        warnings: &mut Vec<String>,
    ) -> Result<(Field, ArrayRef), CellError> {
        let (column, rows) = column(cells);
        to_array(column, rows, declared, first_row, warnings)
    }

    #[test]
    fn mixed_numbers_and_text_become_text_without_decimal_zero() {
        let cells = vec![
            Cell::Number(15298.0),
            Cell::Text("13127-1".into()),
            Cell::Empty,
            Cell::Number(2.5),
        ];
        let mut warnings = Vec::new();
        let (field, array) = convert_column(cells, None, 1, &mut warnings).unwrap();
        assert_eq!(field.data_type(), &DataType::Utf8);
        let strings = array.as_string::<i32>();
        assert_eq!(strings.value(0), "15298");
        assert_eq!(strings.value(1), "13127-1");
        assert!(strings.is_null(2));
        assert_eq!(strings.value(3), "2.5");
    }

    #[test]
    fn whole_numbers_are_int64_and_fractions_float64() {
        assert_eq!(
            infer_type(&[Cell::Number(1.0), Cell::Empty]),
            ColumnType::Int64
        );
        assert_eq!(
            infer_type(&[Cell::Number(1.0), Cell::Number(24.2)]),
            ColumnType::Float64
        );
        assert_eq!(infer_type(&[Cell::Empty, Cell::Empty]), ColumnType::String);
    }

    #[test]
    fn error_cells_warn_with_their_address_or_fail_when_declared() {
        let cells = vec![Cell::Number(1.0), Cell::Error("#N/A".into())];
        let mut warnings = Vec::new();
        let (_, array) = convert_column(cells.clone(), None, 1, &mut warnings).unwrap();
        assert_eq!(array.null_count(), 1);
        assert_eq!(
            warnings,
            vec!["cell C3 (column `c`) holds `#N/A`; read as null"]
        );
        let err = convert_column(cells, Some(ColumnType::Int64), 1, &mut warnings).unwrap_err();
        assert_eq!(err.cell, "C3");
    }

    #[test]
    fn declared_int_rejects_fractions_naming_the_cell() {
        let cells = vec![Cell::Number(1.0), Cell::Number(1.5)];
        let err = convert_column(cells, Some(ColumnType::Int64), 0, &mut Vec::new()).unwrap_err();
        assert_eq!(err.cell, "C2");
        assert!(err.message.contains("the number 1.5"), "{}", err.message);
    }

    #[test]
    fn column_letters_follow_excel() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(27), "AB");
    }
}
