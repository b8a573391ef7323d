//! The wine pipeline on the sample months: the reference figures, every model output and export
//! pinned as snapshots, and the quirks of the real files on generated workbooks.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use calamine::{Data, Reader, Xlsx};
use serde_json::Value;

use crate::support::{Project, snapshot_settings, stage};

const MODELS: [&str; 10] = [
    "erp_clean",
    "liaison_clean",
    "web_clean",
    "web_dedup",
    "fusion",
    "ca",
    "ca_total",
    "price_zscore",
    "premium",
    "ordinaires",
];

/// The web tables are wide (long French excerpts): their snapshots keep the columns that matter.
const WEB_COLUMNS: [&str; 5] = ["sku", "post_type", "total_sales", "post_title", "post_date"];

fn rows_of(build: &Value, name: &str) -> u64 {
    stage(build, name)["rows"].as_u64().unwrap()
}

#[test]
fn the_reference_month_gives_the_seven_reference_figures() {
    let project = Project::sample();
    let build = project.build_json(&["--month", "2026-09"], 0).json();
    assert_eq!(rows_of(&build, "erp_clean"), 825);
    assert_eq!(rows_of(&build, "liaison_clean"), 825);
    assert_eq!(rows_of(&build, "web_clean"), 1428);
    assert_eq!(rows_of(&build, "web_dedup"), 714);
    assert_eq!(rows_of(&build, "fusion"), 714);
    assert_eq!(rows_of(&build, "premium"), 30);
    assert_eq!(rows_of(&build, "ordinaires"), 684);
    let ca_total = project.show("ca_total", "2026-09");
    assert!(
        ca_total.starts_with("ca_total,products,bottles_sold\n70568.6,714,"),
        "{ca_total}"
    );
    // The web export's real quirks survive the read.
    assert_eq!(rows_of(&build, "web"), 1513);
    assert_eq!(rows_of(&build, "erp"), 825);
}

#[test]
fn web_dedup_keeps_the_larger_total_sales_of_a_pair() {
    let project = Project::sample();
    project.build_json(&["--month", "2026-09"], 0);
    let clean = json_rows(&project, "web_clean", "2026-09");
    let dedup = json_rows(&project, "web_dedup", "2026-09");
    let mut by_sku: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for row in &clean {
        by_sku
            .entry(row["sku"].as_str().unwrap().to_string())
            .or_default()
            .push(row["total_sales"].as_i64().unwrap());
    }
    let differing: Vec<(i64, i64)> = by_sku
        .values()
        .filter(|sales| sales[0] != sales[1])
        .map(|sales| (*sales.iter().min().unwrap(), *sales.iter().max().unwrap()))
        .collect();
    assert_eq!(
        differing.len(),
        3,
        "three skus disagree in the reference month"
    );
    for row in &dedup {
        let sku = row["sku"].as_str().unwrap();
        let max = *by_sku[sku].iter().max().unwrap();
        assert_eq!(row["total_sales"].as_i64().unwrap(), max, "sku {sku}");
    }
    let mut pairs: Vec<(i64, i64)> = differing;
    pairs.sort_unstable();
    assert_eq!(pairs, vec![(2, 62), (6, 96), (7, 87)]);
}

#[test]
fn keys_match_whether_excel_stored_them_as_numbers_or_text() {
    let project = Project::sample();
    project.remove("data/2026-08");
    project.remove("data/2026-09");
    project.remove("data/2026-10");
    write_tiny_month(&project, "2030-01");
    let build = project.build_json(&[], 0).json();
    assert_eq!(rows_of(&build, "fusion"), 4);
    assert_eq!(
        project
            .show("fusion", "2030-01")
            .lines()
            .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>(),
        vec![
            "product_id,sku",
            "1001,15298",
            "1002,15299",
            "1003,13127-1",
            "1004,bon-cadeau-25-euros"
        ]
    );
}

/// Four products: sku 15298 a number in web and text in liaison, 15299 the reverse, and two text
/// skus; plus a web row without sku that carries sales.
fn write_tiny_month(project: &Project, month: &str) {
    use rust_xlsxwriter::Workbook;
    let dir = format!("data/{month}");
    let mut erp = Workbook::new();
    let sheet = erp.add_worksheet();
    for (col, name) in [
        "product_id",
        "onsale_web",
        "price",
        "stock_quantity",
        "stock_status",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(0, col as u16, *name).unwrap();
    }
    for (i, price) in [24.2, 34.3, 12.0, 25.0].iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_number(row, 0, 1001.0 + i as f64).unwrap();
        sheet.write_number(row, 1, 1.0).unwrap();
        sheet.write_number(row, 2, *price).unwrap();
        sheet.write_number(row, 3, 3.0).unwrap();
        sheet.write_string(row, 4, "instock").unwrap();
    }
    project.write_bytes(&format!("{dir}/erp.xlsx"), &erp.save_to_buffer().unwrap());

    let mut liaison = Workbook::new();
    let sheet = liaison.add_worksheet();
    sheet.write_string(0, 0, "product_id").unwrap();
    sheet.write_string(0, 1, "id_web").unwrap();
    sheet.write_number(1, 0, 1001.0).unwrap();
    sheet.write_string(1, 1, "15298").unwrap();
    sheet.write_number(2, 0, 1002.0).unwrap();
    sheet.write_number(2, 1, 15299.0).unwrap();
    sheet.write_number(3, 0, 1003.0).unwrap();
    sheet.write_string(3, 1, "13127-1").unwrap();
    sheet.write_number(4, 0, 1004.0).unwrap();
    sheet.write_string(4, 1, "bon-cadeau-25-euros").unwrap();
    project.write_bytes(
        &format!("{dir}/liaison.xlsx"),
        &liaison.save_to_buffer().unwrap(),
    );

    let mut web = Workbook::new();
    let sheet = web.add_worksheet();
    for (col, name) in ["sku", "total_sales", "post_title", "post_type", "guid"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, col as u16, *name).unwrap();
    }
    let mut row = 1;
    for post_type in ["product", "attachment"] {
        sheet.write_number(row, 0, 15298.0).unwrap();
        sheet.write_string(row + 1, 0, "15299").unwrap();
        sheet.write_string(row + 2, 0, "13127-1").unwrap();
        sheet
            .write_string(row + 3, 0, "bon-cadeau-25-euros")
            .unwrap();
        for k in 0..4 {
            sheet.write_number(row + k, 1, 5.0).unwrap();
            sheet.write_string(row + k, 2, format!("Vin {k}")).unwrap();
            sheet.write_string(row + k, 3, post_type).unwrap();
            sheet
                .write_string(row + k, 4, format!("https://shop.example/?p={}", row + k))
                .unwrap();
        }
        row += 4;
    }
    sheet.write_number(row, 1, 7.0).unwrap();
    sheet.write_string(row, 2, "Produit sans sku").unwrap();
    project.write_bytes(&format!("{dir}/web.xlsx"), &web.save_to_buffer().unwrap());
}

fn json_rows(project: &Project, stage: &str, month: &str) -> Vec<Value> {
    let run = project.run(&["show", stage, "--month", month, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    run.json().as_array().unwrap().clone()
}

/// A model's output as text for a snapshot: csv, or chosen columns for the wide web tables.
fn model_text(project: &Project, model: &str, month: &str) -> String {
    if !model.starts_with("web") {
        return project.show(model, month);
    }
    let mut text = WEB_COLUMNS.join("\t") + "\n";
    let mut lines: Vec<String> = json_rows(project, model, month)
        .iter()
        .map(|row| {
            WEB_COLUMNS
                .iter()
                .map(|c| match &row[*c] {
                    Value::Null => String::new(),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect();
    // web_clean keeps the file's order, which one month ships shuffled: sort for a stable diff.
    if model == "web_clean" {
        lines.sort();
    }
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// Every sheet of an xlsx export as tab-separated text; formulas show their cached value.
fn xlsx_text(path: &std::path::Path) -> String {
    let mut workbook: Xlsx<_> = calamine::open_workbook(path).unwrap();
    let mut text = String::new();
    for name in workbook.sheet_names() {
        let _ = writeln!(text, "## sheet {name}");
        let range = workbook.worksheet_range(&name).unwrap();
        for row in range.rows() {
            let cells: Vec<String> = row
                .iter()
                .map(|cell| match cell {
                    Data::Empty => String::new(),
                    Data::Float(f) => format!("{f}"),
                    other => other.to_string(),
                })
                .collect();
            text.push_str(cells.join("\t").trim_end());
            text.push('\n');
        }
        let formulas = workbook.worksheet_formula(&name).unwrap();
        let (first_row, first_col) = formulas.start().unwrap_or((0, 0));
        for (row, col, formula) in formulas.used_cells() {
            if !formula.is_empty() {
                let (row, col) = (first_row as usize + row + 1, first_col as usize + col + 1);
                let _ = writeln!(text, "formula at row {row} col {col}: ={formula}");
            }
        }
    }
    text
}

#[test]
fn every_sample_month_output_is_pinned() {
    let project = Project::sample();
    for month in ["2026-08", "2026-09", "2026-10"] {
        let run = project.run(&["build", "--month", month]);
        assert_eq!(run.code, 0, "{}", run.shown());
        let settings = snapshot_settings(&project);
        settings.bind(|| {
            insta::assert_snapshot!(format!("sample_{month}_build"), run.shown());
            for model in MODELS {
                insta::assert_snapshot!(
                    format!("sample_{month}_{model}"),
                    model_text(&project, model, month)
                );
            }
            for csv in ["vins_premium.csv", "vins_ordinaires.csv"] {
                insta::assert_snapshot!(
                    format!("sample_{month}_{csv}"),
                    project.read(&format!("out/{month}/{csv}"))
                );
            }
            insta::assert_snapshot!(
                format!("sample_{month}_rapport_ca.xlsx"),
                xlsx_text(&project.file(&format!("out/{month}/rapport_ca.xlsx")))
            );
        });
    }
}

#[test]
fn the_repository_data_is_the_generator_output() {
    let generated = Project::empty();
    let run = generated.run(&["sample", ".", "--data-only"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for month in ["2026-08", "2026-09", "2026-10"] {
        for file in ["erp.xlsx", "liaison.xlsx", "web.xlsx", "expect.toml"] {
            let relative = format!("data/{month}/{file}");
            let ours = std::fs::read(generated.file(&relative)).unwrap();
            let committed = std::fs::read(repo.join(&relative)).unwrap();
            assert!(
                ours == committed,
                "{relative} differs from `winebuild sample . --data-only`"
            );
        }
    }
    for model in ["ca", "fusion", "web_dedup"] {
        let file = format!("models/{model}.sql");
        let shipped = std::fs::read_to_string(repo.join(&file)).unwrap();
        let sample = Project::sample();
        assert_eq!(sample.read(&file), shipped);
    }
}

#[test]
fn exports_never_let_text_run_as_a_formula() {
    let project = Project::csv();
    project.write(
        "data/2026-01/items.csv",
        "id,name,price\n1,=HYPERLINK(\"http://x\"),40.5\n2,+33 cuvée,18.0\n3,@SUM(A1),9.5\n",
    );
    project.write(
        "winebuild.toml",
        &(project.read("winebuild.toml")
            + "\n[exports.book]\nfile = \"book.xlsx\"\n\n[[exports.book.sheets]]\nname = \"Ventes\"\nmodel = \"joined\"\ntotal = \"ca\"\nmoney = [\"price\", \"ca\"]\n"),
    );
    project.build_json(&[], 0);
    assert_eq!(
        project.read("out/2026-01/report.csv"),
        "id,name,price,qty,ca\n1,\"'=HYPERLINK(\"\"http://x\"\")\",40.5,2,81.0\n2,'+33 cuvée,18.0,5,90.0\n3,'@SUM(A1),9.5,10,95.0\n"
    );
    let text = xlsx_text(&project.file("out/2026-01/book.xlsx"));
    snapshot_settings(&project).bind(|| insta::assert_snapshot!("formula_injection_xlsx", text));
    // The only formula is the total row's SUM: the names are plain strings.
    assert_eq!(text.matches("formula at").count(), 1, "{text}");
}

#[test]
fn exports_are_byte_identical_when_rebuilt() {
    let a = Project::sample();
    let b = Project::sample();
    a.build_json(&["--month", "2026-10"], 0);
    b.build_json(&["--month", "2026-10", "--force"], 0);
    for file in ["rapport_ca.xlsx", "vins_premium.csv", "vins_ordinaires.csv"] {
        let path = format!("out/2026-10/{file}");
        assert!(
            std::fs::read(a.file(&path)).unwrap() == std::fs::read(b.file(&path)).unwrap(),
            "{file} differs between two builds"
        );
    }
}
