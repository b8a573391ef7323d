//! `winebuild build --check`: every stage rerun in memory and compared byte for byte with the
//! store, changing nothing; a nondeterministic model is named with the rows that differ.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::Project;

/// Every file under the project with its content, `.winebuild/`, `archive/` and `out/` included.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, root: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, files);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                files.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(root, root, &mut files);
    files
}

#[test]
fn the_sample_month_is_reproducible_and_checking_changes_nothing() {
    let project = Project::sample();
    project.build_json(&["2026-09"], 0);
    let before = tree(project.path());
    let run = project.run(&["build", "2026-09", "--check", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    let stages = run.json()["stages"].as_array().unwrap().clone();
    assert_eq!(stages.len(), 16);
    assert!(
        stages.iter().all(|s| s["verdict"] == "reproducible"),
        "{}",
        run.shown()
    );
    let text = project.run(&["build", "2026-09", "--check"]);
    assert_eq!(text.code, 0, "{}", text.shown());
    assert_eq!(text.stderr, "2026-09: 16 reproducible\n");
    assert!(
        text.stdout.starts_with("reproducible  erp"),
        "{}",
        text.shown()
    );
    assert_eq!(tree(project.path()), before, "--check changed a file");
}

#[test]
fn a_nondeterministic_model_is_named_with_the_rows_that_differ() {
    let project = Project::sample();
    project.write(
        "models/tirage.sql",
        "-- inputs = [\"ca_total\"]\nSELECT ca_total, random() AS draw FROM ca_total\n",
    );
    project.build_json(&["2026-09"], 0);
    let run = project.run(&[
        "build", "2026-09", "--check", "--select", "+tirage", "--format", "json",
    ]);
    assert_eq!(run.code, 1, "{}", run.shown());
    let json = run.json();
    let verdicts: Vec<(String, String)> = json["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_string(),
                s["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(verdicts.len(), 11, "{verdicts:?}");
    for (stage, verdict) in &verdicts {
        let expected = if stage == "tirage" {
            "differs"
        } else {
            "reproducible"
        };
        assert_eq!(verdict, expected, "{stage}");
    }
    let tirage = json["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "tirage")
        .unwrap();
    assert_eq!(tirage["diff"]["added"], 1);
    assert_eq!(tirage["diff"]["removed"], 1);
    let text = project.run(&["build", "2026-09", "--check", "--select", "tirage"]);
    assert_eq!(text.code, 1);
    assert!(
        text.stdout.contains("     differs  tirage"),
        "{}",
        text.shown()
    );
    assert!(
        text.stdout
            .contains("stored → rerun: 1 row; 1 added, 1 removed"),
        "{}",
        text.shown()
    );
}

#[test]
fn an_out_of_date_output_is_not_compared() {
    let project = Project::sample();
    project.build_json(&["2026-09"], 0);
    let ca = project
        .read("models/ca.sql")
        .replace(", 2) AS ca", ", 1) AS ca");
    project.write("models/ca.sql", &ca);
    let run = project.run(&["build", "2026-09", "--check", "--select", "ca"]);
    assert_eq!(run.code, 2, "{}", run.shown());
    assert_eq!(
        run.stdout,
        " not current  ca\n              its stored output is out of date\n"
    );
    assert_eq!(
        run.stderr,
        "2026-09: 0 reproducible, 1 not current\nerror: some stages have no current output to compare with\nhint: run `winebuild build 2026-09` first\n"
    );
}
