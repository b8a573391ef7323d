//! Data checks: every kind passing and failing, the seven checks of the earlier pipeline on the
//! reference month and their alerts when the data is altered, what a failing check stops, and
//! the check cache.

use calamine::Data;
use serde_json::Value;

use crate::support::{Project, edit_xlsx, snapshot_settings, stage};

/// `check → (status, actual)` of every check in a build or test report.
fn check_results(report: &Value) -> Vec<(String, String, Value)> {
    let checks: Vec<&Value> = match report.get("checks") {
        Some(list) => list.as_array().unwrap().iter().collect(),
        None => report["stages"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["checks"].as_array().into_iter().flatten())
            .collect(),
    };
    checks
        .into_iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
                c["actual"].clone(),
            )
        })
        .collect()
}

fn status_of(report: &Value, check: &str) -> String {
    check_results(report)
        .into_iter()
        .find(|(name, _, _)| name == check)
        .unwrap_or_else(|| panic!("no check `{check}` in the report"))
        .1
}

fn message_of(report: &Value, check: &str) -> String {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().into_iter().flatten())
        .find(|c| c["check"] == check)
        .unwrap_or_else(|| panic!("no check `{check}`"))["message"]
        .as_str()
        .unwrap()
        .to_string()
}

const SEVEN: [(&str, f64); 7] = [
    ("test-nettoyage-erp", 825.0),
    ("test-nettoyage-liaison", 825.0),
    ("test-nettoyage-web-clean", 1428.0),
    ("test-nettoyage-web-dedup", 714.0),
    ("test-fusion", 714.0),
    ("test-ca", 70568.6),
    ("test-premium", 30.0),
];

#[test]
fn the_seven_checks_pass_on_the_reference_month() {
    let project = Project::sample();
    let build = project.build_json(&["--month", "2026-09"], 0).json();
    assert_eq!(build["status"], "success");
    let results = check_results(&build);
    for (name, figure) in SEVEN {
        let (_, status, actual) = results.iter().find(|(n, _, _)| n == name).unwrap();
        assert_eq!(status, "pass", "{name}");
        assert_eq!(actual.as_f64(), Some(figure), "{name}");
    }
    // The merchant's monthly warnings: two web rows with sales but no sku, three wines on sale
    // in the ERP that the web export lacks.
    assert_eq!(status_of(&build, "web-ventes-sans-sku"), "warn");
    assert_eq!(status_of(&build, "en-vente-absent-du-web"), "warn");
    let test = project.run(&["test", "--month", "2026-09"]);
    assert_eq!(test.code, 0, "{}", test.shown());
    snapshot_settings(&project)
        .bind(|| insta::assert_snapshot!("checks_reference_month", test.shown()));
}

#[test]
fn every_sample_month_passes_its_pinned_figures() {
    let project = Project::sample();
    for month in ["2026-08", "2026-10"] {
        let build = project.build_json(&["--month", month], 0).json();
        for (name, _) in SEVEN {
            assert_eq!(status_of(&build, name), "pass", "{month} {name}");
        }
    }
    // 2026-10 carries negative prices and stocks: the warning names them.
    let build = project.build_json(&["--month", "2026-10"], 0).json();
    assert_eq!(status_of(&build, "erp-prix-ou-stock-negatif"), "warn");
}

/// Column index of `name` in a sheet's header row.
fn column(rows: &[Vec<Data>], name: &str) -> usize {
    rows[0]
        .iter()
        .position(|c| matches!(c, Data::String(s) if s == name))
        .unwrap_or_else(|| panic!("no column {name}"))
}

#[test]
fn a_duplicated_erp_product_fails_the_erp_check_and_stops_its_dependents() {
    let project = Project::sample();
    edit_xlsx(&project.file("data/2026-09/erp.xlsx"), |rows| {
        let stock = column(rows, "stock_quantity");
        let mut twin = rows[1].clone();
        // The same product exported twice with different stock: DISTINCT cannot merge them.
        twin[stock] = Data::Float(99.0);
        rows.push(twin);
    });
    let run = project.build_json(&["--month", "2026-09"], 1);
    let build = run.json();
    assert_eq!(build["status"], "checks_failed");
    assert_eq!(
        message_of(&build, "test-nettoyage-erp"),
        "ERP: 826 lignes au lieu de 825"
    );
    assert_eq!(status_of(&build, "erp-product-id-unique"), "fail");
    // erp_clean fails; everything reading it is skipped; the rest runs.
    assert_eq!(stage(&build, "erp_clean")["action"], "failed");
    for skipped in ["fusion", "ca", "ca_total", "premium", "rapport_ca"] {
        assert_eq!(stage(&build, skipped)["action"], "skipped", "{skipped}");
    }
    for ran in ["liaison_clean", "web_clean", "web_dedup"] {
        assert_eq!(stage(&build, ran)["action"], "ran", "{ran}");
    }
    // Whatever was built on erp_clean's output while its checks ran is not the month's: no export
    // was written, and `show` has nothing for the stages that read it.
    assert!(!project.file("out/2026-09/rapport_ca.xlsx").exists());
    assert_eq!(
        project.run(&["show", "fusion", "--month", "2026-09"]).code,
        2
    );
    let text = project.run(&["build", "--month", "2026-09"]);
    assert_eq!(text.code, 1);
    snapshot_settings(&project)
        .bind(|| insta::assert_snapshot!("checks_duplicated_erp_row", text.shown()));
    // The failure is not reused as a success: the next build fails the same way, from cache.
    let again = project.build_json(&["--month", "2026-09"], 1).json();
    assert_eq!(stage(&again, "erp_clean")["action"], "failed");
    assert!(project.run(&["test", "--month", "2026-09"]).code == 1);
}

#[test]
fn a_removed_web_row_fails_the_web_check() {
    let project = Project::sample();
    edit_xlsx(&project.file("data/2026-09/web.xlsx"), |rows| {
        let sku = column(rows, "sku");
        let at = rows
            .iter()
            .position(|r| !matches!(r[sku], Data::Empty) && r != &rows[0])
            .unwrap();
        rows.remove(at);
    });
    let build = project.build_json(&["--month", "2026-09"], 1).json();
    assert_eq!(
        message_of(&build, "test-nettoyage-web-clean"),
        "WEB: 1427 lignes au lieu de 1428"
    );
    assert_eq!(stage(&build, "web_clean")["action"], "failed");
    assert_eq!(stage(&build, "erp_clean")["action"], "ran");
    assert_eq!(stage(&build, "web_dedup")["action"], "skipped");
}

#[test]
fn a_changed_price_fails_the_ca_check_with_french_figures() {
    let project = Project::sample();
    project.build_json(&["--month", "2026-09"], 0);
    let top = project.run(&["show", "ca", "--month", "2026-09", "--limit", "1"]);
    let line = top.stdout.lines().nth(1).unwrap().to_string();
    let product_id: f64 = line.split(',').next().unwrap().parse().unwrap();
    edit_xlsx(&project.file("data/2026-09/erp.xlsx"), |rows| {
        let (id, price) = (column(rows, "product_id"), column(rows, "price"));
        let row = rows
            .iter_mut()
            .find(|r| r[id] == Data::Float(product_id))
            .unwrap();
        let Data::Float(old) = row[price] else {
            panic!("a numeric price")
        };
        row[price] = Data::Float(old + 1.0);
    });
    let build = project.build_json(&["--month", "2026-09"], 1).json();
    let message = message_of(&build, "test-ca");
    assert!(
        message.starts_with("CA: 70 ") && message.ends_with("€ au lieu de 70 568,60€"),
        "{message}"
    );
    assert_ne!(message, "CA: 70 568,60€ au lieu de 70 568,60€");
    // Recomputed independently from the fusion rows, the total still agrees with the ca model.
    assert_eq!(status_of(&build, "ca-recalcule"), "pass");
    assert_eq!(stage(&build, "ca_total")["action"], "failed");
    // premium does not read ca_total: it still runs, and so does its csv export.
    assert_eq!(stage(&build, "vins_premium")["action"], "ran");
    assert_eq!(stage(&build, "rapport_ca")["action"], "ran");
}

/// A csv project whose models carry one check of every kind.
fn kinds_project(items: &str) -> Project {
    let project = Project::empty();
    project.write(
        "winebuild.toml",
        "[project]\nname = \"kinds\"\n\n[sources.items]\nfile = \"items.csv\"\n\n[sources.colours]\nfile = \"colours.csv\"\n",
    );
    project.write("data/2026-01/colours.csv", "colour\nrouge\nblanc\nrosé\n");
    project.write("data/2026-01/items.csv", items);
    project.write(
        "models/clean.sql",
        r#"-- inputs = ["items", "colours"]
-- key = ["id"]
--
-- [[checks]]
-- name = "count-exact"
-- kind = "row_count"
-- equals = 3
--
-- [[checks]]
-- name = "count-range"
-- kind = "row_count"
-- min = 2
-- max = 3
--
-- [[checks]]
-- name = "count-same-as-items"
-- kind = "row_count"
-- same_as = "items"
--
-- [[checks]]
-- name = "id-unique"
-- kind = "unique"
-- columns = ["id"]
--
-- [[checks]]
-- name = "name-present"
-- kind = "not_null"
-- columns = ["name"]
--
-- [[checks]]
-- name = "colour-known"
-- kind = "accepted_values"
-- column = "colour"
-- values = ["rouge", "blanc", "rosé"]
--
-- [[checks]]
-- name = "colour-in-colours"
-- kind = "relationships"
-- column = "colour"
-- to = "colours"
--
-- [[checks]]
-- name = "prices-positive"
-- kind = "expression"
-- assert = "MIN(price) > 0"
--
-- [[checks]]
-- name = "total-recomputed"
-- kind = "expression"
-- actual = "SUM(price)"
-- expected = "(SELECT SUM(price) FROM items WHERE price > 0)"
-- tolerance = 0.01
-- message = "total {actual:fr} € au lieu de {expected:fr} €"
--
-- [[checks]]
-- name = "no-free-wine"
-- kind = "sql"
-- sql = "SELECT id, name FROM clean WHERE price = 0"
-- severity = "warn"
-- message = "{failing} vin(s) gratuit(s)"
SELECT id, name, colour, price FROM items
"#,
    );
    project
}

#[test]
fn every_kind_of_check_passes_on_good_data() {
    let project = kinds_project(
        "id,name,colour,price\n1,Pomerol,rouge,40.5\n2,Chablis,blanc,18\n3,Tavel,rosé,9.5\n",
    );
    let build = project.build_json(&[], 0).json();
    let results = check_results(&build);
    assert_eq!(results.len(), 10);
    for (name, status, _) in &results {
        assert_eq!(status, "pass", "{name}");
    }
}

#[test]
fn every_kind_of_check_fails_with_its_alert() {
    let project = kinds_project(
        "id,name,colour,price\n1,Pomerol,rouge,40.5\n1,,vert,0\n2,Chablis,blanc,-18\n3,Tavel,bleu,9.5\n",
    );
    let build = project.build_json(&[], 1).json();
    let results = check_results(&build);
    for (name, status, _) in &results {
        let expected = match name.as_str() {
            "count-same-as-items" => "pass",
            "no-free-wine" => "warn",
            _ => "fail",
        };
        assert_eq!(status, expected, "{name}");
    }
    let text = project.run(&["build"]);
    assert_eq!(text.code, 1);
    snapshot_settings(&project)
        .bind(|| insta::assert_snapshot!("checks_every_kind_failing", text.shown()));
}

/// The check results of a build report that were not read from the cache.
fn uncached_checks(report: &Value) -> Vec<&Value> {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().into_iter().flatten())
        .filter(|c| c["cached"] != true)
        .collect()
}

#[test]
fn a_noop_build_reads_records_and_check_results_from_the_month_state() {
    let project = Project::sample();
    project.build_json(&["--month", "2026-09"], 0);
    // Without the stage records (which keep the check results too), the month's state is
    // enough to reuse all.
    std::fs::remove_dir_all(project.file(".winebuild/v1/stages")).unwrap();
    let again = project.build_json(&["--month", "2026-09"], 0);
    assert!(again.with_action("ran").is_empty(), "{}", again.shown());
    assert_eq!(again.with_action("reused").len(), 16);
    let report = again.json();
    let not_cached = uncached_checks(&report);
    assert_eq!(check_results(&report).len(), 21);
    assert!(not_cached.is_empty(), "{not_cached:?}");
}

#[test]
fn without_the_month_state_stage_records_give_back_every_check_result() {
    let project = Project::sample();
    project.build_json(&["--month", "2026-09"], 0);
    // As when a month's earlier version comes back: only the records know its outputs.
    std::fs::remove_dir_all(project.file(".winebuild/v1/months")).unwrap();
    let again = project.build_json(&["--month", "2026-09"], 0);
    assert!(again.with_action("ran").is_empty(), "{}", again.shown());
    let report = again.json();
    let results = check_results(&report);
    assert_eq!(results.len(), 21);
    let not_cached = uncached_checks(&report);
    assert!(not_cached.is_empty(), "{not_cached:?}");
    // Twenty-one results, and not one file for each.
    assert!(!project.file(".winebuild/v1/checks").exists());
}

#[test]
fn check_results_are_cached_with_the_stage_key() {
    let project = Project::sample();
    project.build_json(&["--month", "2026-09"], 0);
    let test = project.run(&["test", "--month", "2026-09", "--format", "json"]);
    let cached: Vec<bool> = test.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cached"].as_bool().unwrap())
        .collect();
    assert!(cached.iter().all(|c| *c), "{cached:?}");
    // A new pinned figure reruns exactly the check that reads it; no stage reruns.
    let expect = project.read("data/2026-09/expect.toml");
    project.write(
        "data/2026-09/expect.toml",
        &expect.replace("test-premium = 30", "test-premium = 31"),
    );
    let build = project.build_json(&["--month", "2026-09"], 1).json();
    assert!(
        build["stages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["action"] != "ran")
    );
    let fresh: Vec<String> = build["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().into_iter().flatten())
        .filter(|c| c["cached"] == false)
        .map(|c| c["check"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fresh, ["test-premium"]);
    assert_eq!(
        message_of(&build, "test-premium"),
        "PREMIUM: 30 vins au lieu de 31"
    );
    // The run record keeps every check with its status, actual and expected values.
    let runs = std::fs::read_to_string(project.file(".winebuild/v1/runs.jsonl")).unwrap();
    let last: Value = serde_json::from_str(runs.lines().last().unwrap()).unwrap();
    assert_eq!(last["status"], "checks_failed");
    let premium = stage(&last, "premium")["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "test-premium")
        .unwrap()
        .clone();
    assert_eq!(
        (premium["actual"].as_u64(), premium["expected"].as_u64()),
        (Some(30), Some(31))
    );
}

#[test]
fn check_mistakes_are_errors_that_name_the_check() {
    let project = kinds_project("id,name,colour,price\n1,Pomerol,rouge,40.5\n");
    let cases: [(&str, &str, &str); 4] = [
        (
            "models/clean.sql",
            "columns = [\"name\"]",
            "columns = [\"nom\"]",
        ),
        ("models/clean.sql", "to = \"colours\"", "to = \"colour\""),
        (
            "models/clean.sql",
            "kind = \"unique\"",
            "kind = \"unique\"\n-- column = \"id\"",
        ),
        (
            "models/clean.sql",
            "FROM clean WHERE",
            "FROM clean JOIN nowhere ON 1 = 1 WHERE",
        ),
    ];
    let original = project.read("models/clean.sql");
    let mut shown = String::new();
    for (file, from, to) in cases {
        project.write(file, &original.replacen(from, to, 1));
        let run = project.run(&["build"]);
        assert_eq!(run.code, 2, "{}", run.shown());
        shown.push_str(
            &run.stderr
                .lines()
                .filter(|l| l.starts_with("error") || l.starts_with("hint"))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        shown.push('\n');
    }
    project.write("models/clean.sql", &original);
    project.write("data/2026-01/expect.toml", "count-exat = 3\n");
    let run = project.run(&["build"]);
    assert_eq!(run.code, 2, "{}", run.shown());
    shown.push_str(&run.stderr);
    project.write("data/2026-01/expect.toml", "id-unique = 3\n");
    shown.push_str(&project.run(&["build"]).stderr);
    snapshot_settings(&project).bind(|| insta::assert_snapshot!("checks_mistakes", shown));
}

/// The reference month, with one workbook altered by `edit`, built: the report.
fn altered_reference_month(file: &str, edit: impl FnOnce(&mut Vec<Vec<Data>>)) -> Value {
    let project = Project::sample();
    edit_xlsx(&project.file(&format!("data/2026-09/{file}")), edit);
    project.build_json(&["--month", "2026-09"], 1).json()
}

#[test]
fn a_duplicated_liaison_product_fails_the_liaison_check() {
    let build = altered_reference_month("liaison.xlsx", |rows| {
        let mut twin = rows[1].clone();
        twin[1] = Data::String("99999-9".into());
        rows.push(twin);
    });
    assert_eq!(
        message_of(&build, "test-nettoyage-liaison"),
        "LIAISON: 826 lignes au lieu de 825"
    );
}

#[test]
fn an_image_row_under_a_new_sku_fails_the_dedup_check() {
    let build = altered_reference_month("web.xlsx", |rows| {
        let (sku, post_type) = (column(rows, "sku"), column(rows, "post_type"));
        let image = rows
            .iter_mut()
            .find(|r| r[post_type] == Data::String("attachment".into()) && r[sku] != Data::Empty)
            .unwrap();
        image[sku] = Data::String("sku-orphelin".into());
    });
    assert_eq!(status_of(&build, "test-nettoyage-web-clean"), "pass");
    assert_eq!(
        message_of(&build, "test-nettoyage-web-dedup"),
        "WEB DEDUP: 715 lignes au lieu de 714"
    );
    assert_eq!(stage(&build, "fusion")["action"], "skipped");
}

#[test]
fn a_mapping_to_an_unknown_sku_fails_the_fusion_checks() {
    let build = altered_reference_month("liaison.xlsx", |rows| {
        let id_web = column(rows, "id_web");
        let mapped = rows
            .iter_mut()
            .skip(1)
            .find(|r| matches!(r[id_web], Data::Float(_)))
            .unwrap();
        mapped[id_web] = Data::Float(1.0);
    });
    assert_eq!(
        message_of(&build, "test-fusion"),
        "FUSION: 713 lignes au lieu de 714"
    );
    assert_eq!(
        message_of(&build, "fusion-egale-web-dedup"),
        "FUSION: 713 lignes mais WEB DEDUP en a 714: des sku web sont sans correspondance"
    );
}

#[test]
fn a_premium_wine_sold_cheap_fails_the_premium_check() {
    let project = Project::sample();
    project.build_json(&["--month", "2026-09"], 0);
    let premium = project.run(&["show", "premium", "--month", "2026-09"]);
    let cheapest: f64 = premium
        .stdout
        .lines()
        .last()
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    edit_xlsx(&project.file("data/2026-09/erp.xlsx"), |rows| {
        let (id, price) = (column(rows, "product_id"), column(rows, "price"));
        let row = rows
            .iter_mut()
            .find(|r| r[id] == Data::Float(cheapest))
            .unwrap();
        row[price] = Data::Float(20.0);
    });
    let build = project.build_json(&["--month", "2026-09"], 1).json();
    let message = message_of(&build, "test-premium");
    assert!(
        message.starts_with("PREMIUM: ") && message.ends_with(" vins au lieu de 30"),
        "{message}"
    );
    assert_ne!(message, "PREMIUM: 30 vins au lieu de 30");
    // Recomputed from the prices, the premium list still agrees with the model.
    assert_eq!(status_of(&build, "premium-recalcule"), "pass");
}
