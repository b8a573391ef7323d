//! Exports: the files the merchant receives, rendered from model outputs (xlsx with
//! rust_xlsxwriter, csv by hand).
//!
//! Rules it keeps:
//! - rendering is pure: tables in, bytes out. The build stores the bytes as an object and writes the
//!   file, so an export is cached and reused like any stage;
//! - deterministic bytes: the xlsx document date is fixed and the zip entries carry no time, so the
//!   same data always gives the same file;
//! - text starting with `=`, `+`, `-`, `@`, tab or carriage return can never run as a formula: xlsx
//!   cells are always written as strings, never formulas, and csv fields get a leading `'`;
//! - rows keep the model's order (a report sorted by CA is sorted by its model's ORDER BY).

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Formula, Workbook, Worksheet};

use crate::project::{ExportDef, ExportFormat, SheetDef};
use crate::table::Table;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
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

impl ExportError {
    pub fn hint(&self) -> Option<String> {
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
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub rows: u64,
}

/// Renders export `name` from its input tables (model name → table).
pub fn render(
    name: &str,
    def: &ExportDef,
    inputs: &[(String, Arc<Table>)],
) -> Result<Rendered, ExportError> {
    let table_of = |model: &str| {
        inputs
            .iter()
            .find(|(n, _)| n == model)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| ExportError::Render {
                export: name.to_string(),
                message: format!("input `{model}` is missing"),
            })
    };
    let render_error = |e: &dyn std::fmt::Display| ExportError::Render {
        export: name.to_string(),
        message: e.to_string(),
    };
    match def.format() {
        Some(ExportFormat::Csv) => {
            let model = def.model.as_deref().unwrap_or_default();
            let table = table_of(model)?;
            let batch = table.concat().map_err(|e| render_error(&e))?;
            Ok(Rendered {
                bytes: render_csv(&batch).map_err(|e| render_error(&e))?,
                rows: batch.num_rows() as u64,
            })
        }
        Some(ExportFormat::Xlsx) => {
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
            for sheet in &def.sheets {
                let table = table_of(&sheet.model)?;
                let batch = table.concat().map_err(|e| render_error(&e))?;
                check_sheet_columns(name, sheet, &batch)?;
                let worksheet = workbook
                    .add_worksheet_with_constant_memory()
                    .map_err(|e| render_error(&e))?;
                write_sheet(worksheet, sheet, &batch).map_err(|e| render_error(&e))?;
                rows += batch.num_rows() as u64;
            }
            let bytes = workbook.save_to_buffer().map_err(|e| render_error(&e))?;
            Ok(Rendered { bytes, rows })
        }
        None => Err(render_error(&"unknown export format")),
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

/// True for text a spreadsheet could take for a formula.
pub fn looks_like_formula(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// RFC 4180 csv with a header row; formula-like text is prefixed with `'`.
pub fn render_csv(batch: &RecordBatch) -> Result<Vec<u8>, arrow::error::ArrowError> {
    let mut out = String::new();
    let schema = batch.schema();
    let header: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| csv_field(f.name(), true))
        .collect();
    out.push_str(&header.join(","));
    out.push('\n');
    let options = FormatOptions::default().with_display_error(true);
    let formatters = batch
        .columns()
        .iter()
        .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()?;
    for row in 0..batch.num_rows() {
        let fields: Vec<String> = batch
            .columns()
            .iter()
            .zip(&formatters)
            .map(|(column, formatter)| {
                if column.is_null(row) {
                    String::new()
                } else {
                    let is_text = matches!(
                        column.data_type(),
                        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                    );
                    csv_field(&formatter.value(row).to_string(), is_text)
                }
            })
            .collect();
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    Ok(out.into_bytes())
}

fn csv_field(value: &str, is_text: bool) -> String {
    let value = if is_text && looks_like_formula(value) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

const MONEY_FORMAT: &str = "#,##0.00 \"€\"";
const MAX_COLUMN_WIDTH: usize = 60;

fn write_sheet(
    worksheet: &mut Worksheet,
    sheet: &SheetDef,
    batch: &RecordBatch,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    worksheet.set_name(&sheet.name)?;
    let header_format = Format::new().set_bold();
    let money = Format::new().set_num_format(MONEY_FORMAT);
    let date_format = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
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
    // Row by row: the worksheet streams in constant-memory mode, which only accepts rows in order.
    for row in 0..batch.num_rows() {
        let excel_row = row as u32 + 1;
        for (col, column) in batch.columns().iter().enumerate() {
            if column.is_null(row) {
                continue;
            }
            let col16 = col as u16;
            let width = match number_at(column.as_ref(), row) {
                Some(value) if is_money[col] => {
                    worksheet.write_number_with_format(excel_row, col16, value, &money)?;
                    // Digits, a thousands separator per three digits, two decimals, " €".
                    let digits = integer_digits(value);
                    digits + (digits - 1) / 3 + 3 + 2 + 3
                }
                Some(value) => {
                    worksheet.write_number(excel_row, col16, value)?;
                    formatters[col].value(row).to_string().len()
                }
                None => match datetime_at(column.as_ref(), row) {
                    Some(datetime) => {
                        worksheet.write_datetime_with_format(
                            excel_row,
                            col16,
                            &datetime,
                            &date_format,
                        )?;
                        19
                    }
                    None => {
                        let shown = formatters[col].value(row).to_string();
                        if let Some(flag) = bool_at(column.as_ref(), row) {
                            worksheet.write_boolean(excel_row, col16, flag)?;
                        } else {
                            // Strings are always string cells: never parsed as a formula.
                            worksheet.write_string(excel_row, col16, &shown)?;
                        }
                        shown.chars().count()
                    }
                },
            };
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
    use arrow::datatypes::*;
    Some(match column.data_type() {
        DataType::Float64 => column.as_primitive::<Float64Type>().value(row),
        DataType::Float32 => column.as_primitive::<Float32Type>().value(row) as f64,
        DataType::Int64 => column.as_primitive::<Int64Type>().value(row) as f64,
        DataType::Int32 => column.as_primitive::<Int32Type>().value(row) as f64,
        DataType::Int16 => column.as_primitive::<Int16Type>().value(row) as f64,
        DataType::Int8 => column.as_primitive::<Int8Type>().value(row) as f64,
        DataType::UInt64 => column.as_primitive::<UInt64Type>().value(row) as f64,
        DataType::UInt32 => column.as_primitive::<UInt32Type>().value(row) as f64,
        DataType::Decimal128(_, scale) => {
            column.as_primitive::<Decimal128Type>().value(row) as f64 / 10f64.powi(*scale as i32)
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
    use arrow::datatypes::*;
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
        DataType::Date32 => column.as_primitive::<Date32Type>().value(row) as i64 * 86_400,
        _ => return None,
    };
    ExcelDateTime::from_timestamp(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("price", DataType::Float64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![
                    Some("=HYPERLINK(\"x\")"),
                    Some("a, \"b\""),
                    None,
                    Some("-2"),
                ])),
                Arc::new(Float64Array::from(vec![
                    Some(24.2),
                    Some(-8.0),
                    Some(1.5),
                    None,
                ])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn csv_neutralises_formulas_and_quotes_fields() {
        let csv = String::from_utf8(render_csv(&batch()).unwrap()).unwrap();
        assert_eq!(
            csv,
            "name,price\n\"'=HYPERLINK(\"\"x\"\")\",24.2\n\"a, \"\"b\"\"\",-8.0\n,1.5\n'-2,\n"
        );
    }

    #[test]
    fn formula_like_text_is_detected() {
        for text in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(looks_like_formula(text), "{text:?}");
        }
        assert!(!looks_like_formula("Château"));
    }
}
