//! Fuzzing the readers of bytes a user controls: generated hostile workbooks (cells anywhere,
//! listed in any order or twice, every kind of value, formulas without values, truncated XML,
//! damaged zips) and damaged csv and parquet files. Every case must end in a table or an error,
//! never a panic, and hold no more memory than its limits allow.
//!
//! The number of cases comes from `WINEBUILD_FUZZ_CASES` (default 500: about a second, what CI
//! runs); a long run is `WINEBUILD_FUZZ_CASES=20000 cargo test --lib fuzz`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;

use proptest::prelude::*;

use super::Limits;
use super::cells::column_letters;
use crate::project::{ColumnType, SourceDef};

/// Limits lowered so that a case that reaches them is quick to build and to refuse.
const LIMITS: Limits = Limits {
    rows: 50_000,
    columns: 300,
    cells: 400_000,
    inflated_bytes: 8 << 20,
    ratio: 100,
};

/// What a case may hold at once, at most, with [`LIMITS`]: the table of 400,000 cells as Arrow
/// and as cells, with room to spare.
const MEMORY_BOUND: usize = 96 << 20;

fn cases() -> u32 {
    std::env::var("WINEBUILD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

#[derive(Debug, Clone)]
enum Value {
    Text(String),
    Number(String),
    Bool(bool),
    Error(&'static str),
    FormulaOnly,
    FormulaCached(f64),
    Empty,
}

#[derive(Debug, Clone)]
struct FuzzCell {
    row: u32,
    column: u32,
    value: Value,
    /// Whether the cell says where it is (`r="B7"`): without it, the reader counts.
    addressed: bool,
}

#[derive(Debug, Clone)]
enum Damage {
    None,
    /// The sheet's XML cut short at this fraction of its length.
    Truncated(f64),
    /// These bytes of the zip flipped.
    Flipped(Vec<(f64, u8)>),
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-zA-Zé0-9 <>&'\"=+-]{0,12}".prop_map(Value::Text),
        prop_oneof![
            any::<i32>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| f.to_string()),
            Just("1e999".to_string()),
            Just("-0".to_string()),
            Just("abc".to_string()),
        ]
        .prop_map(Value::Number),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![Just("#N/A"), Just("#DIV/0!"), Just("#VALUE!")].prop_map(Value::Error),
        Just(Value::FormulaOnly),
        any::<f64>().prop_map(Value::FormulaCached),
        Just(Value::Empty),
    ]
}

/// Rows and columns mostly small, sometimes anywhere up to beyond every limit.
fn position() -> impl Strategy<Value = (u32, u32)> {
    let row = prop_oneof![8 => 0..40u32, 1 => 0..2_000_000u32, 1 => Just(u32::MAX - 1)];
    let column = prop_oneof![8 => 0..6u32, 1 => 0..20_000u32];
    (row, column)
}

fn cell() -> impl Strategy<Value = FuzzCell> {
    (position(), value(), prop::bool::weighted(0.9)).prop_map(
        |((row, column), value, addressed)| FuzzCell {
            row,
            column,
            value,
            addressed,
        },
    )
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        6 => Just(Damage::None),
        1 => (0.0..1.0f64).prop_map(Damage::Truncated),
        1 => prop::collection::vec((0.0..1.0f64, any::<u8>()), 1..4).prop_map(Damage::Flipped),
    ]
}

fn cell_xml(cell: &FuzzCell) -> String {
    let at = if cell.addressed {
        format!(
            " r=\"{}{}\"",
            column_letters(cell.column),
            u64::from(cell.row) + 1
        )
    } else {
        String::new()
    };
    match &cell.value {
        Value::Text(t) => {
            let escaped = t
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;");
            format!("<c{at} t=\"inlineStr\"><is><t>{escaped}</t></is></c>")
        }
        Value::Number(n) => format!("<c{at}><v>{n}</v></c>"),
        Value::Bool(b) => format!("<c{at} t=\"b\"><v>{}</v></c>", u8::from(*b)),
        Value::Error(e) => format!("<c{at} t=\"e\"><v>{e}</v></c>"),
        Value::FormulaOnly => format!("<c{at}><f>1+1</f></c>"),
        Value::FormulaCached(v) => format!("<c{at}><f>1+1</f><v>{v}</v></c>"),
        Value::Empty => format!("<c{at}/>"),
    }
}

/// The cells as a sheet: grouped in `<row>` elements by row, the rows in the order given.
fn sheet_xml(cells: &[FuzzCell]) -> String {
    let mut rows: Vec<(u32, Vec<String>)> = Vec::new();
    for cell in cells {
        match rows.iter_mut().find(|(row, _)| *row == cell.row) {
            Some((_, xml)) => xml.push(cell_xml(cell)),
            None => rows.push((cell.row, vec![cell_xml(cell)])),
        }
    }
    let rows = rows.iter().fold(String::new(), |mut text, (row, xml)| {
        let _ = write!(
            text,
            "<row r=\"{}\">{}</row>",
            u64::from(*row) + 1,
            xml.concat()
        );
        text
    });
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>{rows}</sheetData></worksheet>"
    )
}

/// A workbook of one sheet holding `sheet`.
fn workbook(sheet: &str) -> Vec<u8> {
    const TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
    const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
    const BOOK: &str = r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
    const BOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in [
        ("[Content_Types].xml", TYPES),
        ("_rels/.rels", RELS),
        ("xl/workbook.xml", BOOK),
        ("xl/_rels/workbook.xml.rels", BOOK_RELS),
        ("xl/worksheets/sheet1.xml", sheet),
    ] {
        writer.start_file(name, options).expect("zip in memory");
        writer.write_all(text.as_bytes()).expect("zip in memory");
    }
    writer.finish().expect("zip in memory").into_inner()
}

fn damaged(mut bytes: Vec<u8>, damage: &Damage) -> Vec<u8> {
    if let Damage::Flipped(flips) = damage {
        for (at, byte) in flips {
            let index = ((bytes.len() as f64) * at) as usize % bytes.len().max(1);
            if let Some(b) = bytes.get_mut(index) {
                *b ^= byte | 1;
            }
        }
    }
    bytes
}

fn declared() -> impl Strategy<Value = BTreeMap<String, ColumnType>> {
    let ty = prop_oneof![
        Just(ColumnType::String),
        Just(ColumnType::Int64),
        Just(ColumnType::Float64),
        Just(ColumnType::Bool),
        Just(ColumnType::Date),
        Just(ColumnType::Timestamp),
    ];
    prop::collection::btree_map("[a-c]{1,2}", ty, 0..3)
}

/// Reads `bytes` as `file` with [`LIMITS`]; asserts it held at most [`MEMORY_BOUND`].
fn read_within_bound(file: &str, bytes: Vec<u8>, declared: BTreeMap<String, ColumnType>) {
    let def = SourceDef {
        file: file.to_string(),
        sheet: None,
        columns: declared,
        tags: Vec::new(),
        description: None,
    };
    let (_result, peak) = crate::alloc_meter::measure(|| {
        super::read_source(&def, file, bytes, &LIMITS).map(|read| read.table.num_rows())
    });
    assert!(
        peak <= MEMORY_BOUND,
        "reading held {peak} bytes at once, over {MEMORY_BOUND}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_workbook_ends_in_a_table_or_an_error_within_its_memory(
        cells in prop::collection::vec(cell(), 0..60),
        damage in damage(),
        declared in declared(),
    ) {
        let mut sheet = sheet_xml(&cells);
        if let Damage::Truncated(at) = damage {
            let mut end = ((sheet.len() as f64) * at) as usize;
            while !sheet.is_char_boundary(end) {
                end -= 1;
            }
            sheet.truncate(end);
        }
        let bytes = damaged(workbook(&sheet), &damage);
        read_within_bound("fuzz.xlsx", bytes, declared);
    }

    #[test]
    fn any_csv_ends_in_a_table_or_an_error(
        text in "[a-c0-9,\"\\n.é-]{0,200}",
        declared in declared(),
    ) {
        read_within_bound("fuzz.csv", text.into_bytes(), declared);
    }

    #[test]
    fn any_damaged_parquet_ends_in_a_table_or_an_error(
        flips in prop::collection::vec((0.0..1.0f64, any::<u8>()), 0..6),
        declared in declared(),
    ) {
        let bytes = damaged(sample_parquet(), &Damage::Flipped(flips));
        read_within_bound("fuzz.parquet", bytes, declared);
    }
}

/// A small parquet file of three columns, to damage.
fn sample_parquet() -> Vec<u8> {
    use std::sync::Arc;
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("a", arrow::datatypes::DataType::Int64, true),
        arrow::datatypes::Field::new("b", arrow::datatypes::DataType::Utf8, true),
        arrow::datatypes::Field::new("c", arrow::datatypes::DataType::Float64, true),
    ]));
    let batch = arrow::array::RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(arrow::array::Int64Array::from(vec![Some(1), None, Some(3)])),
            Arc::new(arrow::array::StringArray::from(vec!["x", "1", "2.5"])),
            Arc::new(arrow::array::Float64Array::from(vec![1.0, 2.5, -0.0])),
        ],
    )
    .expect("a valid batch");
    crate::table::Table::new(schema, vec![batch])
        .to_parquet()
        .expect("a valid table")
}

/// Regression: a parquet file damaged in its embedded Arrow schema made arrow-ipc panic
/// (`Type <UNKNOWN 95> not supported`). Every one-byte damage of a small file, each position.
#[test]
fn every_one_byte_damage_of_a_parquet_file_is_an_error_not_a_panic() {
    let original = sample_parquet();
    let def = SourceDef {
        file: "items.parquet".into(),
        sheet: None,
        columns: BTreeMap::new(),
        tags: Vec::new(),
        description: None,
    };
    let mut failed_reading = 0;
    for at in 0..original.len() {
        for flip in [0x01, 0x10, 0x5a, 0xff] {
            let mut bytes = original.clone();
            bytes[at] ^= flip;
            if let Err(super::SourceError::ReaderFailed { .. }) =
                super::read_source(&def, "items.parquet", bytes, &LIMITS)
            {
                failed_reading += 1;
            }
        }
    }
    // Some damages do reach a reader's panic; each was turned into an error naming the file.
    assert!(
        failed_reading > 0,
        "no damage reached a reader's panic any more"
    );
}
