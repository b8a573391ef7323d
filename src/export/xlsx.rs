//! xlsx exports: one sheet per model, money columns in euros, an optional Total row, widths
//! fitted to the data; streamed row by row in `rust_xlsxwriter`'s constant-memory mode.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Worksheet};

use crate::project::SheetDef;

const MONEY_FORMAT: &str = "#,##0.00 \"€\"";
const MAX_COLUMN_WIDTH: usize = 60;

pub(super) fn write_sheet(
    worksheet: &mut Worksheet,
    sheet: &SheetDef,
    batch: &RecordBatch,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    worksheet.set_name(&sheet.name)?;
    let header_format = Format::new().set_bold();
    let schema = batch.schema();
    let mut widths: Vec<usize> = schema
        .fields()
        .iter()
        .map(|f| f.name().chars().count())
        .collect();
    for (col, field) in schema.fields().iter().enumerate() {
        worksheet.write_string_with_format(0, col as u16, field.name(), &header_format)?;
    }
    let options = FormatOptions::default();
    let formatters = batch
        .columns()
        .iter()
        .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| rust_xlsxwriter::XlsxError::ParameterError(e.to_string()))?;
    let is_money: Vec<bool> = schema
        .fields()
        .iter()
        .map(|f| sheet.money.contains(f.name()))
        .collect();
    let formats = CellFormats {
        money: Format::new().set_num_format(MONEY_FORMAT),
        date: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
    };
    // Row by row: the worksheet streams in constant-memory mode, which only accepts rows in order.
    for row in 0..batch.num_rows() {
        for (col, column) in batch.columns().iter().enumerate() {
            if column.is_null(row) {
                continue;
            }
            let cell = Cell {
                row: row as u32 + 1,
                col: col as u16,
                money: is_money[col],
            };
            let shown = || formatters[col].value(row).to_string();
            let width = write_cell(worksheet, &formats, cell, column.as_ref(), row, shown)?;
            widths[col] = widths[col].max(width);
        }
    }
    let rows = batch.num_rows() as u32;
    if let Some(total_column) = &sheet.total {
        write_total_row(worksheet, sheet, batch, total_column, &header_format)?;
    }
    for (col, width) in widths.iter().enumerate() {
        worksheet.set_column_width(col as u16, (*width).clamp(8, MAX_COLUMN_WIDTH) as f64 + 2.0)?;
    }
    worksheet.set_freeze_panes(1, 0)?;
    if batch.num_columns() > 0 {
        worksheet.autofilter(0, 0, rows.max(1), batch.num_columns() as u16 - 1)?;
    }
    Ok(())
}

/// The formats cells are written with.
struct CellFormats {
    money: Format,
    date: Format,
}

/// Where a cell goes, and whether its column is money.
#[derive(Clone, Copy)]
struct Cell {
    row: u32,
    col: u16,
    money: bool,
}

/// Writes one non-null value: numbers as numbers (money in euros), date-times as dates,
/// booleans as booleans, anything else as a string cell (never a formula). Returns the width
/// its text takes, for the column's width.
fn write_cell(
    worksheet: &mut Worksheet,
    formats: &CellFormats,
    cell: Cell,
    column: &dyn Array,
    row: usize,
    shown: impl Fn() -> String,
) -> Result<usize, rust_xlsxwriter::XlsxError> {
    let Cell {
        row: at,
        col,
        money,
    } = cell;
    if let Some(value) = number_at(column, row) {
        if money {
            worksheet.write_number_with_format(at, col, value, &formats.money)?;
            // Digits, a thousands separator per three digits, two decimals, " €".
            let digits = integer_digits(value);
            return Ok(digits + (digits - 1) / 3 + 3 + 2 + 3);
        }
        worksheet.write_number(at, col, value)?;
        return Ok(shown().len());
    }
    if let Some(datetime) = datetime_at(column, row) {
        worksheet.write_datetime_with_format(at, col, &datetime, &formats.date)?;
        return Ok(19);
    }
    let text = shown();
    match bool_at(column, row) {
        Some(flag) => worksheet.write_boolean(at, col, flag)?,
        // Strings are always string cells: never parsed as a formula.
        None => worksheet.write_string(at, col, &text)?,
    };
    Ok(text.chars().count())
}

fn write_total_row(
    worksheet: &mut Worksheet,
    sheet: &SheetDef,
    batch: &RecordBatch,
    total_column: &str,
    bold: &Format,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    let schema = batch.schema();
    let Ok(col) = schema.index_of(total_column) else {
        return Ok(());
    };
    let column = batch.column(col);
    let total: f64 = (0..batch.num_rows())
        .filter_map(|row| number_at(column.as_ref(), row))
        .sum();
    let rows = batch.num_rows() as u32;
    // One row gap after the data, so the autofilter range never sorts the total into the data.
    let total_row = rows + 2;
    worksheet.write_string_with_format(total_row, 0, "Total", bold)?;
    let mut format = Format::new().set_bold();
    if sheet.money.iter().any(|m| m == total_column) {
        format = format.set_num_format(MONEY_FORMAT);
    }
    let letter = crate::sources::cells::column_letters(col as u32);
    let formula = Formula::new(format!("=SUM({letter}2:{letter}{})", rows.max(1) + 1))
        .set_result(format!("{}", round_cents(total)));
    worksheet.write_formula_with_format(total_row, col as u16, formula, &format)?;
    Ok(())
}

/// How many digits the integer part of `value` has (at least one), for column widths.
fn integer_digits(value: f64) -> usize {
    let integer = value.abs().trunc();
    if integer < 1.0 {
        1
    } else {
        integer.log10() as usize + 1
    }
}

fn round_cents(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn number_at(column: &dyn Array, row: usize) -> Option<f64> {
    use arrow::datatypes::{
        DataType, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
        Int64Type, UInt32Type, UInt64Type,
    };
    Some(match column.data_type() {
        DataType::Float64 => column.as_primitive::<Float64Type>().value(row),
        DataType::Float32 => f64::from(column.as_primitive::<Float32Type>().value(row)),
        DataType::Int64 => column.as_primitive::<Int64Type>().value(row) as f64,
        DataType::Int32 => f64::from(column.as_primitive::<Int32Type>().value(row)),
        DataType::Int16 => f64::from(column.as_primitive::<Int16Type>().value(row)),
        DataType::Int8 => f64::from(column.as_primitive::<Int8Type>().value(row)),
        DataType::UInt64 => column.as_primitive::<UInt64Type>().value(row) as f64,
        DataType::UInt32 => f64::from(column.as_primitive::<UInt32Type>().value(row)),
        DataType::Decimal128(_, scale) => {
            column.as_primitive::<Decimal128Type>().value(row) as f64
                / 10f64.powi(i32::from(*scale))
        }
        _ => return None,
    })
}

fn bool_at(column: &dyn Array, row: usize) -> Option<bool> {
    match column.data_type() {
        DataType::Boolean => Some(column.as_boolean().value(row)),
        _ => None,
    }
}

fn datetime_at(column: &dyn Array, row: usize) -> Option<ExcelDateTime> {
    use arrow::datatypes::{
        DataType, Date32Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
        TimestampNanosecondType, TimestampSecondType,
    };
    let seconds = match column.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            column.as_primitive::<TimestampMicrosecondType>().value(row) / 1_000_000
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            column.as_primitive::<TimestampMillisecondType>().value(row) / 1_000
        }
        DataType::Timestamp(TimeUnit::Second, _) => {
            column.as_primitive::<TimestampSecondType>().value(row)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            column.as_primitive::<TimestampNanosecondType>().value(row) / 1_000_000_000
        }
        DataType::Date32 => i64::from(column.as_primitive::<Date32Type>().value(row)) * 86_400,
        _ => return None,
    };
    ExcelDateTime::from_timestamp(seconds).ok()
}
