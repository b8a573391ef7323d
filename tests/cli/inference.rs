//! Type inference on generated workbooks: mixed numeric/text columns, all-empty columns, dates,
//! booleans and error cells, read through the real binary.

use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};

use crate::support::{Project, pairs, stage};

fn inference_project(declared: &str) -> Project {
    let project = Project::empty();
    project.write(
        "winebuild.toml",
        &format!("[project]\nname = \"t\"\n\n[sources.t]\nfile = \"t.xlsx\"\n{declared}"),
    );
    project.write("models/m.sql", "-- inputs = [\"t\"]\nSELECT * FROM t\n");
    let mut workbook = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let sheet = workbook.add_worksheet();
    let headers = [
        "mixed", "ints", "floats", "empty", "dates", "errors", "flags",
    ];
    for (col, name) in headers.iter().enumerate() {
        sheet.write_string(0, col as u16, *name).unwrap();
    }
    sheet.write_number(1, 0, 15298.0).unwrap();
    sheet.write_string(2, 0, "13127-1").unwrap();
    sheet.write_number(4, 0, 2.5).unwrap();
    for (row, value) in [(1, 1.0), (2, 2.0), (4, -1.0)] {
        sheet.write_number(row, 1, value).unwrap();
    }
    for (row, value) in [(1, 24.2), (2, 2.0), (3, 225.0)] {
        sheet.write_number(row, 2, value).unwrap();
    }
    let when = ExcelDateTime::parse_from_str("2018-06-07 16:27:25").unwrap();
    sheet
        .write_datetime_with_format(1, 4, &when, &date)
        .unwrap();
    sheet
        .write_datetime_with_format(3, 4, &when, &date)
        .unwrap();
    sheet.write_number(1, 5, 3.0).unwrap();
    sheet
        .write_formula(2, 5, Formula::new("=NA()").set_result("#N/A"))
        .unwrap();
    sheet.write_boolean(1, 6, true).unwrap();
    sheet.write_boolean(3, 6, false).unwrap();
    project.write_bytes("data/2026-01/t.xlsx", &workbook.save_to_buffer().unwrap());
    project
}

#[test]
fn undeclared_columns_are_inferred_from_their_cells() {
    let project = inference_project("");
    let build = project.build_json(&[], 0).json();
    let source = stage(&build, "t");
    let types = pairs(&source["columns"], "name", "type");
    let expected = [
        ("mixed", "Utf8"),
        ("ints", "Int64"),
        ("floats", "Float64"),
        ("empty", "Utf8"),
        ("dates", "Timestamp(µs)"),
        ("errors", "Int64"),
        ("flags", "Boolean"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(types, expected);
    assert_eq!(source["rows"], 4);
    assert_eq!(
        source["warnings"],
        serde_json::json!(["cell F3 (column `errors`) holds `#N/A`; read as null"])
    );
    assert_eq!(
        project.show("m", "2026-01"),
        "mixed,ints,floats,empty,dates,errors,flags\n\
         15298,1,24.2,,2018-06-07T16:27:25,3,true\n\
         13127-1,2,2.0,,,,\n\
         ,,225.0,,2018-06-07T16:27:25,,false\n\
         2.5,-1,,,,,\n"
    );
}

#[test]
fn an_error_cell_in_a_declared_column_is_an_error_naming_the_cell() {
    let project = inference_project("columns = { errors = \"int64\" }\n");
    let run = project.run(&["build"]);
    assert_eq!(run.code, 2, "{}", run.shown());
    assert!(
        run.stderr.contains("error: `data/2026-01/t.xlsx` sheet `Sheet1` cell F3: holds the error value `#N/A` in column `errors` declared int64"),
        "{}",
        run.shown()
    );
}

#[test]
fn declared_types_win_over_inference() {
    let project = inference_project(
        "columns = { ints = \"string\", floats = \"float64\", mixed = \"string\" }\n",
    );
    let build = project.build_json(&[], 0).json();
    let columns = &stage(&build, "t")["columns"];
    assert_eq!(columns[1]["type"], "Utf8");
    assert!(project.show("m", "2026-01").contains("\n15298,1,24.2,"));
}

#[test]
fn parquet_sources_keep_their_types_and_take_declared_ones() {
    use std::sync::Arc;

    use arrow::array::{Int32Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    let project = Project::empty();
    project.write(
        "winebuild.toml",
        "[project]\nname = \"p\"\n\n[sources.stock]\nfile = \"stock.parquet\"\ncolumns = { qty = \"int64\" }\n",
    );
    project.write(
        "models/m.sql",
        "-- inputs = [\"stock\"]\nSELECT sku, qty * 2 AS double_qty FROM stock\n",
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("sku", DataType::Utf8, true),
        Field::new("qty", DataType::Int32, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["15298", "13127-1"])),
            Arc::new(Int32Array::from(vec![Some(3), None])),
        ],
    )
    .unwrap();
    let mut bytes = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    project.write_bytes("data/2026-01/stock.parquet", &bytes);
    let build = project.build_json(&[], 0).json();
    let columns = &stage(&build, "stock")["columns"];
    assert_eq!(columns[1]["type"], "Int64");
    assert_eq!(
        project.show("m", "2026-01"),
        "sku,double_qty\n15298,6\n13127-1,\n"
    );
}
