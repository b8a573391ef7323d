//! Monthly archives and `winebuild diff`: one immutable revision per distinct successful build,
//! verification, and month-over-month comparison in every format.

use serde_json::Value;
use std::fmt::Write as _;

use crate::support::{Project, edit_xlsx, snapshot_settings};

fn archived(build: &Value) -> (String, u64) {
    let archived = &build["archived"];
    (
        archived["archive"].as_str().unwrap_or("none").to_string(),
        archived["revision"].as_u64().unwrap_or(0),
    )
}

/// The sample project with its three months built (and so archived).
fn three_archived_months() -> Project {
    let project = Project::sample();
    for month in ["2026-08", "2026-09", "2026-10"] {
        project.build_json(&["--month", month], 0);
    }
    project
}

#[test]
fn a_month_is_archived_once_and_a_changed_month_gets_a_new_revision() {
    let project = Project::sample();
    let first = project.build_json(&["--month", "2026-09"], 0).json();
    assert_eq!(archived(&first), ("created".into(), 1));
    for file in [
        "manifest.json",
        "models/ca.parquet",
        "models/premium.parquet",
        "exports/rapport_ca.xlsx",
        "exports/vins_premium.csv",
    ] {
        assert!(
            project
                .file(&format!("archive/2026-09/r1/{file}"))
                .is_file(),
            "{file}"
        );
    }
    // Unchanged data: nothing new, even when every stage reruns.
    let again = project
        .build_json(&["--month", "2026-09", "--force"], 0)
        .json();
    assert_eq!(archived(&again), ("unchanged".into(), 1));
    assert!(!project.file("archive/2026-09/r2").exists());
    // Changed data: a second revision, the first one kept as it was.
    let r1_manifest = project.read("archive/2026-09/r1/manifest.json");
    let top = project.run(&["show", "ca", "--month", "2026-09", "--limit", "1"]);
    let product_id: f64 = top
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    edit_xlsx(&project.file("data/2026-09/erp.xlsx"), |rows| {
        let row = rows
            .iter_mut()
            .find(|r| r[0] == calamine::Data::Float(product_id))
            .unwrap();
        let calamine::Data::Float(old) = row[2] else {
            panic!("a numeric price")
        };
        row[2] = calamine::Data::Float(old + 1.0);
    });
    let changed = project.build_json(&["--month", "2026-09"], 1).json();
    assert_eq!(changed["status"], "checks_failed");
    assert!(
        changed.get("archived").is_none(),
        "a failed build is not archived"
    );
    let expect = project.read("data/2026-09/expect.toml");
    let ca = project.show("ca_total", "2026-09");
    let total = ca
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    project.write(
        "data/2026-09/expect.toml",
        &expect.replace("value = 70568.60", &format!("value = {total}")),
    );
    let passing = project.build_json(&["--month", "2026-09"], 0).json();
    assert_eq!(archived(&passing), ("created".into(), 2));
    assert_eq!(
        project.read("archive/2026-09/r1/manifest.json"),
        r1_manifest
    );
    let list = project.run(&["archive", "list", "--format", "json"]).json();
    let revisions: Vec<(String, u64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["month"].as_str().unwrap().to_string(),
                r["revision"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(revisions, [("2026-09".into(), 1), ("2026-09".into(), 2)]);
    // The two revisions differ only by that price.
    let diff = project
        .run(&[
            "diff",
            "2026-09@r1",
            "2026-09@r2",
            "--model",
            "erp_clean",
            "--format",
            "json",
        ])
        .json();
    let erp = &diff["models"][0];
    assert_eq!(erp["changed"], 1);
    assert_eq!(erp["column_changes"]["price"], 1);
}

#[test]
fn a_partial_build_is_not_archived() {
    let project = Project::sample();
    let build = project
        .build_json(&["--month", "2026-09", "--select", "+fusion"], 0)
        .json();
    assert!(build.get("archived").is_none());
    assert!(!project.file("archive").exists());
}

#[test]
fn archives_are_self_contained_and_verified() {
    let project = three_archived_months();
    let before = project.run(&["diff"]).stdout;
    // Without the store, nothing archived is lost.
    assert_eq!(project.run(&["clean"]).code, 0);
    let verify = project.run(&["archive", "verify"]);
    assert_eq!(verify.code, 0, "{}", verify.shown());
    assert_eq!(project.run(&["diff"]).stdout, before);
    // gc keeps what archives hold.
    project.build_json(&["--month", "2026-10"], 0);
    assert_eq!(project.run(&["gc"]).code, 0);
    let manifest: Value =
        serde_json::from_str(&project.read("archive/2026-10/r1/manifest.json")).unwrap();
    for stage in manifest["stages"].as_array().unwrap() {
        let object = stage["output"].as_str().unwrap();
        let path = format!(".winebuild/v1/objects/{object}");
        assert!(project.file(&path).is_file(), "{path}");
    }
    // One changed byte is reported with the file's name, and exit 1.
    let target = project.file("archive/2026-09/r1/exports/vins_premium.csv");
    let mut bytes = std::fs::read(&target).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&target, bytes).unwrap();
    let verify = project.run(&["archive", "verify"]);
    assert_eq!(verify.code, 1);
    snapshot_settings(&project)
        .bind(|| insta::assert_snapshot!("archive_verify_failure", verify.shown()));
    let show = project.run(&["archive", "show", "2026-09"]);
    assert_eq!(show.code, 0);
    snapshot_settings(&project).bind(|| {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", "[timestamp]");
        settings.bind(|| insta::assert_snapshot!("archive_show", show.shown()));
    });
}

#[cfg(unix)]
#[test]
fn archived_files_are_the_stores_objects_and_an_edit_in_place_is_caught_by_both() {
    use std::os::unix::fs::MetadataExt;
    let project = Project::sample();
    let build = project.build_json(&["--month", "2026-09"], 0).json();
    let premium = build["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "vins_premium")
        .unwrap();
    let object = premium["object"].as_str().unwrap();
    let stored = project.file(&format!(".winebuild/v1/objects/{object}"));
    let archived_file = project.file("archive/2026-09/r1/exports/vins_premium.csv");
    let inode = |path: &std::path::Path| std::fs::metadata(path).unwrap().ino();
    assert_eq!(inode(&archived_file), inode(&stored), "not a hard link");
    // An editor that writes the archived file in place changes the object too: verify names the
    // file, and the next build rebuilds the object instead of reusing it.
    let mut bytes = std::fs::read(&archived_file).unwrap();
    bytes.extend_from_slice(b"1,forged\n");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&archived_file)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &bytes))
        .unwrap();
    assert_eq!(inode(&archived_file), inode(&stored));
    let verify = project.run(&["archive", "verify", "2026-09", "--format", "json"]);
    assert_eq!(verify.code, 1, "{}", verify.shown());
    assert_eq!(
        verify.json()["problems"][0]["file"],
        "exports/vins_premium.csv",
        "{}",
        verify.shown()
    );
    let rebuilt = project.build_json(&["--month", "2026-09"], 0).json();
    let premium = rebuilt["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "vins_premium")
        .unwrap();
    assert_eq!(premium["action"], "ran", "{premium}");
    assert_eq!(premium["object"].as_str(), Some(object));
    assert_eq!(archived(&rebuilt), ("created".into(), 2));
    let verify = project.run(&["archive", "verify", "2026-09", "--format", "json"]);
    assert_eq!(verify.json()["problems"].as_array().unwrap().len(), 1);
    assert_eq!(verify.json()["problems"][0]["revision"], 1);
}

#[test]
fn diff_of_consecutive_sample_months_in_every_format() {
    let project = three_archived_months();
    let table = project.run(&["diff"]);
    assert_eq!(table.code, 0, "{}", table.shown());
    assert!(table.stdout.starts_with("2026-09 r1 → 2026-10 r1\n"));
    let markdown = project.run(&["diff", "2026-08", "2026-09", "--format", "markdown"]);
    let mut json = project.run(&["diff", "2026-09", "--format", "json"]).json();
    json.as_object_mut().unwrap().remove("duration_ms");
    // The business summary agrees with the reference figures.
    assert_eq!(json["from"], "2026-08 r1");
    assert_eq!(json["summary"]["total"]["after"].as_f64(), Some(70568.6));
    let settings = snapshot_settings(&project);
    settings.bind(|| {
        insta::assert_snapshot!("diff_2026-09_2026-10_table", table.stdout);
        insta::assert_snapshot!("diff_2026-08_2026-09_markdown", markdown.stdout);
        insta::assert_json_snapshot!("diff_2026-08_2026-09_json", json);
    });
}

#[test]
fn a_month_compared_with_itself_is_an_empty_diff() {
    let project = three_archived_months();
    let json = project
        .run(&["diff", "2026-09", "2026-09", "--format", "json"])
        .json();
    for model in json["models"].as_array().unwrap() {
        assert_eq!(model["status"], "unchanged", "{}", model["model"]);
    }
    assert_eq!(json["summary"]["total"]["change"].as_f64(), Some(0.0));
    assert!(
        json["summary"]["lists"][0]["entering"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The current build of 2026-10 against its own archive: nothing moved either.
    let against = project
        .run(&["diff", "--against", "2026-10", "--format", "json"])
        .json();
    assert_eq!(against["to"], "2026-10 (current build)");
    assert!(
        against["models"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["status"] == "unchanged")
    );
}

#[test]
fn diff_shows_models_and_columns_that_appear_or_disappear() {
    let project = Project::csv();
    project.build_json(&[], 0);
    // Next month: `joined` loses `name`, gains `label`; `total` is gone; `cheap` is new; one
    // price moves; `sales_count` has no key and is compared as a multiset.
    project.write(
        "data/2026-02/items.csv",
        "id,name,price\n1,Pomerol,40.5\n2,Chablis,19.0\n3,Cahors,9.5\n4,Tavel,12.0\n",
    );
    project.write("data/2026-02/sales.csv", "id,qty\n1,2\n2,5\n3,10\n4,1\n");
    project.write(
        "models/joined.sql",
        "-- inputs = [\"items_clean\", \"sales\"]\n-- key = [\"id\"]\nSELECT i.id, upper(i.name) AS label, i.price, s.qty, i.price * s.qty AS ca\nFROM items_clean i JOIN sales s ON s.id = i.id\nORDER BY i.id\n",
    );
    project.remove("models/total.sql");
    project.write(
        "models/cheap.sql",
        "-- inputs = [\"items_clean\"]\n-- key = [\"id\"]\nSELECT id FROM items_clean WHERE price < 15\n",
    );
    project.build_json(&["--month", "2026-02"], 0);
    let run = project.run(&["diff"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    snapshot_settings(&project)
        .bind(|| insta::assert_snapshot!("diff_models_and_columns_come_and_go", run.stdout));
    let json = project.run(&["diff", "--format", "json"]).json();
    let status = |model: &str| {
        json["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["model"] == model)
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("cheap"), "added");
    assert_eq!(status("total"), "removed");
    assert_eq!(status("joined"), "changed");
}

#[test]
fn diff_errors_name_what_is_missing() {
    let project = Project::sample();
    project.build_json(&["--month", "2026-09"], 0);
    let mut shown = String::new();
    for args in [
        vec!["diff"],
        vec!["diff", "2026-07", "2026-09"],
        vec!["diff", "2026-09", "2026-09", "--model", "premuim"],
        vec!["diff", "09-2026"],
    ] {
        let run = project.run(&args);
        assert_eq!(run.code, 2, "{}", run.shown());
        let _ = write!(shown, "$ winebuild {}\n{}", args.join(" "), run.stderr);
    }
    snapshot_settings(&project).bind(|| insta::assert_snapshot!("diff_errors", shown));
}

#[test]
fn a_month_that_cannot_be_archived_is_an_error_but_the_build_is_recorded() {
    let project = Project::csv();
    // A file where the archive folder should be: nothing can be written under it.
    project.write("archive", "not a folder");
    let run = project.run(&["build"]);
    assert_eq!(run.code, 2, "{}", run.shown());
    assert!(
        run.stderr
            .contains("error: archive: cannot write `archive/2026-01`"),
        "{}",
        run.shown()
    );
    assert_eq!(project.read("archive"), "not a folder");
    let log = project.run(&["log", "--format", "json"]).json();
    assert_eq!(log[0]["status"], "failed");
    assert_eq!(log[0]["ran"], 7);
    // Once the folder can be written, the unchanged build is archived without rerunning.
    project.remove("archive");
    let build = project.build_json(&[], 0).json();
    assert_eq!(archived(&build), ("created".into(), 1));
    assert_eq!(
        project.run(&["log", "--format", "json"]).json()[1]["ran"],
        0
    );
}
