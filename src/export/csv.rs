//! csv exports: RFC 4180 with a header row; formula-like text gets a leading `'`.

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// True for text a spreadsheet could take for a formula.
pub(crate) fn looks_like_formula(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// RFC 4180 csv with a header row; formula-like text is prefixed with `'`.
pub(crate) fn render_csv(batch: &RecordBatch) -> Result<Vec<u8>, arrow::error::ArrowError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

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
