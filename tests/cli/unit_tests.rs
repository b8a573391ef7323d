//! Model unit tests through the real binary: the wine models' own tests pass, a broken model fails
//! with the rows that differ, results are cached, no month data is read, and mistakes in a
//! `.tests.toml` name the file, the test and the field.

use std::fmt::Write as _;

use crate::support;

use serde_json::Value;
use support::{Project, snapshot_settings};

fn statuses(run: &support::Run) -> Vec<(String, String, bool)> {
    run.json()["unit_tests"]
        .as_array()
        .expect("unit_tests in the JSON")
        .iter()
        .map(|t| {
            (
                format!(
                    "{}/{}",
                    t["model"].as_str().unwrap(),
                    t["test"].as_str().unwrap()
                ),
                t["status"].as_str().unwrap().to_string(),
                t["cached"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_wine_models_ship_unit_tests_that_pass_and_are_cached() {
    let project = Project::sample();
    let first = project.run(&["test", "--unit", "--format", "json"]);
    assert_eq!(first.code, 0, "{}", first.shown());
    let tests = statuses(&first);
    assert_eq!(tests.len(), 7, "{tests:?}");
    for (name, status, cached) in &tests {
        assert_eq!((status.as_str(), *cached), ("pass", false), "{name}");
    }
    assert!(
        tests
            .iter()
            .any(|t| t.0 == "price_zscore/z-score-uses-the-sample-standard-deviation"),
        "{tests:?}"
    );
    // Nothing changed: nothing reruns.
    let again = project.run(&["test", "--unit", "--format", "json"]);
    assert!(statuses(&again).iter().all(|t| t.2), "{}", again.shown());
    // Editing a model reruns its tests only.
    let ca = project
        .read("models/ca.sql")
        .replace("ORDER BY ca DESC", "ORDER BY ca DESC NULLS LAST");
    project.write("models/ca.sql", &ca);
    let edited = project.run(&["test", "--unit", "--format", "json"]);
    let fresh: Vec<String> = statuses(&edited)
        .into_iter()
        .filter(|t| !t.2)
        .map(|t| t.0)
        .collect();
    assert_eq!(
        fresh,
        vec!["ca/ca-is-price-times-sales-rounded-to-cents".to_string()]
    );
    // A source's declared types shape its CSV fixtures: changing them reruns what reads it.
    let toml = project.read("winebuild.toml").replace(
        "columns = { sku = \"string\", total_sales = \"int64\" }",
        "columns = { sku = \"string\" }",
    );
    project.write("winebuild.toml", &toml);
    let retyped = project.run(&["test", "--unit", "--format", "json"]);
    let fresh: Vec<String> = statuses(&retyped)
        .into_iter()
        .filter(|t| !t.2)
        .map(|t| t.0)
        .collect();
    assert_eq!(fresh, vec!["web_clean/drops-rows-without-sku".to_string()]);
}

#[test]
fn a_broken_model_fails_its_test_with_the_rows_that_differ() {
    let project = Project::sample();
    let premium = project
        .read("models/premium.sql")
        .replace("z_score > 2", "z_score >= 2");
    project.write("models/premium.sql", &premium);
    let dedup = project
        .read("models/web_dedup.sql")
        .replace("total_sales DESC NULLS LAST", "total_sales ASC NULLS LAST");
    project.write("models/web_dedup.sql", &dedup);
    let run = project.run(&["test", "--unit", "--select", "premium web_dedup"]);
    assert_eq!(run.code, 1, "{}", run.shown());
    snapshot_settings(&project).bind(|| insta::assert_snapshot!("unit_test_failures", run.shown()));
}

#[test]
fn unit_tests_read_no_month_data_and_run_before_the_data_checks() {
    let project = Project::sample();
    // No month folder at all: unit tests still run.
    std::fs::remove_dir_all(project.file("data")).unwrap();
    let run = project.run(&["test", "--unit", "--select", "ca"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    assert!(run.stdout.contains("pass  ca"), "{}", run.shown());
    // `test` alone goes on to the data checks, which need the month.
    let both = project.run(&["test"]);
    assert_eq!(both.code, 2, "{}", both.shown());
    assert!(both.stdout.contains("pass  web_clean"), "{}", both.shown());
    assert!(
        both.stderr.contains("error: no month folder"),
        "{}",
        both.shown()
    );
}

#[test]
fn data_alone_runs_no_unit_test() {
    let project = Project::sample();
    project.build_json(&["2026-09"], 0);
    let run = project.run(&[
        "test", "2026-09", "--data", "--select", "ca", "--format", "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.shown());
    let json: Value = run.json();
    assert!(json.get("unit_tests").is_none(), "{}", run.shown());
    assert!(
        json["checks"].as_array().is_some_and(|c| !c.is_empty()),
        "{}",
        run.shown()
    );
}

#[test]
fn mistakes_in_a_tests_file_name_the_file_the_test_and_the_field() {
    let project = Project::csv();
    let mut shown = String::new();
    let cases = [
        (
            "models/total.tests.toml",
            "[[tests]]\nname = \"sums\"\ngiven.joind = \"ca\\n1\"\nexpect = \"ca_total\\n1\"\n",
        ),
        (
            "models/total.tests.toml",
            "[[tests]]\nname = \"sums\"\nexpect = \"ca_total\\n1\"\n",
        ),
        (
            "models/total.tests.toml",
            "[[tests]]\nname = \"sums\"\ngiven.joined = 3\nexpect = \"ca_total\\n1\"\n",
        ),
        ("models/total.tests.toml", "[[test]]\nname = \"sums\"\n"),
        ("models/totl.tests.toml", "[[tests]]\n"),
    ];
    for (file, text) in cases {
        project.write(file, text);
        let run = project.run(&["test", "--unit"]);
        assert_eq!(run.code, 2, "{}", run.shown());
        let _ = write!(shown, "--- {file}\n{text}{}", run.stderr);
        project.remove(file);
    }
    // A test that runs but cannot compare: an expected column the output lacks, a value that
    // is not of the column's type, a SQL error.
    project.write(
        "models/total.tests.toml",
        r#"[[tests]]
name = "unknown-column"
given.joined = "ca\n1.5\n2"
expect = "ca_totl\n3.5"

[[tests]]
name = "not-a-number"
given.joined = "ca\n1.5\n2"
expect = [{ ca_total = "lots" }]

[[tests]]
name = "right"
given.joined = [{ ca = 1.5 }, { ca = 2 }]
expect = [{ ca_total = 3.5 }]
"#,
    );
    let run = project.run(&["test", "--unit"]);
    assert_eq!(run.code, 2, "{}", run.shown());
    let _ = write!(shown, "--- running\n{}", run.shown());
    snapshot_settings(&project).bind(|| insta::assert_snapshot!("unit_test_mistakes", shown));
}
