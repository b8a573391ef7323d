//! Integration tests: the real `winebuild` binary on fixture projects in temp dirs.
//!
//! Each test says which stages ran and which were reused; what a user sees is pinned as insta
//! snapshots in `snapshots/` (paths, durations and hashes filtered).

use crate::support;

use support::{Project, snapshot_settings, stage};

const MONTH: &str = "2026-01";

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

fn names(list: &[&str]) -> Vec<String> {
    sorted(list.iter().map(std::string::ToString::to_string).collect())
}

// ---------------------------------------------------------------- incremental builds

#[test]
fn first_build_runs_every_stage_and_prints_one_line_each() {
    let project = Project::csv();
    let run = project.run(&["build"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    snapshot_settings(&project).bind(|| insta::assert_snapshot!("csv_first_build", run.shown()));
    assert_eq!(
        project.read("out/2026-01/report.csv"),
        "id,name,price,qty,ca\n1,Pomerol,40.5,2,81.0\n2,Chablis,18.0,5,90.0\n3,Cahors,9.5,10,95.0\n"
    );
}

#[test]
fn noop_rebuild_reuses_everything_and_runs_nothing() {
    let project = Project::csv();
    project.build_json(&[], 0);
    let second = project.build_json(&[], 0);
    assert!(second.with_action("ran").is_empty(), "{}", second.shown());
    assert_eq!(second.with_action("reused").len(), 7);
    let text = project.run(&["build"]);
    snapshot_settings(&project).bind(|| insta::assert_snapshot!("csv_noop_build", text.shown()));
}

#[test]
fn editing_a_source_reruns_only_what_depends_on_it() {
    let project = Project::csv();
    project.build_json(&[], 0);
    project.write("data/2026-01/sales.csv", "id,qty\n1,3\n2,5\n3,10\n");
    let run = project.build_json(&[], 0);
    assert_eq!(
        sorted(run.with_action("ran")),
        names(&["sales", "joined", "total", "sales_count", "report"])
    );
    assert_eq!(
        sorted(run.with_action("reused")),
        names(&["items", "items_clean"])
    );
    assert!(
        project
            .read("out/2026-01/report.csv")
            .contains("1,Pomerol,40.5,3,121.5")
    );
}

#[test]
fn a_stage_that_reruns_with_the_same_output_stops_the_rebuild() {
    let project = Project::csv();
    project.build_json(&[], 0);
    // Same result, different SQL: items_clean reruns, its dependents are reused (early cutoff).
    project.write(
        "models/items_clean.sql",
        "-- inputs = [\"items\"]\n-- key = [\"id\"]\nSELECT DISTINCT id, name, price FROM items WHERE 1 = 1 ORDER BY id\n",
    );
    let run = project.build_json(&[], 0);
    assert_eq!(run.with_action("ran"), vec!["items_clean"]);
    assert_eq!(run.field_where("ran", "reason"), vec!["model SQL changed"]);
}

#[test]
fn a_setting_change_reruns_that_model_only() {
    let project = Project::csv();
    project.build_json(&[], 0);
    project.write(
        "models/joined.sql",
        &project
            .read("models/joined.sql")
            .replace("-- key = [\"id\"]", "-- key = [\"id\", \"name\"]"),
    );
    let plan = project.run(&["plan"]);
    snapshot_settings(&project).bind(|| insta::assert_snapshot!("csv_plan_setting", plan.shown()));
    let run = project.build_json(&[], 0);
    assert_eq!(run.with_action("ran"), vec!["joined"]);
}

#[test]
fn editing_a_model_reruns_it_and_its_dependents() {
    let project = Project::csv();
    project.build_json(&[], 0);
    project.write(
        "models/joined.sql",
        &project
            .read("models/joined.sql")
            .replace("i.price * s.qty", "i.price * s.qty * 2"),
    );
    let plan = project.run(&["plan", "--format", "json"]);
    let actions = plan.actions();
    assert!(actions.contains(&("joined".into(), "run".into())));
    assert!(actions.contains(&("total".into(), "maybe".into())));
    assert!(actions.contains(&("sales_count".into(), "reuse".into())));
    let run = project.build_json(&[], 0);
    assert_eq!(
        sorted(run.with_action("ran")),
        names(&["joined", "total", "report"])
    );
    assert_eq!(project.show("total", MONTH), "ca_total\n532.0\n");
}

#[test]
fn adding_and_removing_a_model_runs_only_the_new_one() {
    let project = Project::csv();
    project.build_json(&[], 0);
    project.write(
        "models/cheap.sql",
        "-- inputs = [\"items_clean\"]\nSELECT * FROM items_clean WHERE price < 10\n",
    );
    let run = project.build_json(&[], 0);
    assert_eq!(run.with_action("ran"), vec!["cheap"]);
    assert_eq!(
        project.show("cheap", MONTH),
        "id,name,price\n3,Cahors,9.5\n"
    );
    project.remove("models/cheap.sql");
    let run = project.build_json(&[], 0);
    assert!(run.with_action("ran").is_empty());
    assert_eq!(run.actions().len(), 7);
}

#[test]
fn force_reruns_every_selected_stage() {
    let project = Project::csv();
    project.build_json(&[], 0);
    let run = project.build_json(&["--force"], 0);
    assert_eq!(run.with_action("ran").len(), 7);
    let run = project.build_json(&["--force", "--select", "total"], 0);
    assert_eq!(run.with_action("ran"), vec!["total"]);
}

#[test]
fn select_follows_dbt_syntax() {
    let project = Project::csv();
    project.build_json(&[], 0);
    let plan = |selector: &str| {
        let run = project.run(&["plan", "--force", "--select", selector, "--format", "json"]);
        assert_eq!(run.code, 0, "{}", run.shown());
        sorted(run.field_where("run", "stage"))
    };
    assert_eq!(plan("joined"), names(&["joined"]));
    assert_eq!(plan("joined+"), names(&["joined", "total", "report"]));
    assert_eq!(
        plan("+joined"),
        names(&["items", "items_clean", "sales", "joined"])
    );
    assert_eq!(
        plan("items_clean sales_count"),
        names(&["items_clean", "sales_count"])
    );
    // A comma intersects, as in dbt.
    assert_eq!(
        plan("items+,+total"),
        names(&["items", "items_clean", "joined", "total"])
    );
}

#[test]
fn a_stale_unselected_input_is_an_error_naming_it() {
    let project = Project::csv();
    project.build_json(&[], 0);
    project.write("data/2026-01/items.csv", "id,name,price\n1,Pomerol,41.5\n");
    let run = project.run(&["build", "--select", "joined"]);
    assert_eq!(run.code, 2);
    snapshot_settings(&project).bind(|| insta::assert_snapshot!("csv_select_stale", run.shown()));
}

#[test]
fn the_latest_month_is_built_by_default() {
    let project = Project::csv();
    project.write("data/2026-02/items.csv", "id,name,price\n1,Pomerol,40.5\n");
    project.write("data/2026-02/sales.csv", "id,qty\n1,1\n");
    project.write("data/notes/readme.txt", "not a month");
    let run = project.build_json(&[], 0);
    assert_eq!(run.json()["month"], "2026-02");
    assert_eq!(project.show("total", "2026-02"), "ca_total\n40.5\n");
}

#[test]
fn each_build_appends_a_run_record() {
    let project = Project::csv();
    project.build_json(&[], 0);
    project.build_json(&[], 0);
    let log = project.read(".winebuild/v1/runs.jsonl");
    let runs: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["month"], MONTH);
    assert_eq!(runs[1]["status"], "success");
    let stage = &runs[0]["stages"][0];
    for field in ["stage", "key", "action", "reason", "rows", "duration_ms"] {
        assert!(!stage[field].is_null(), "run record lacks {field}: {stage}");
    }
    assert_eq!(runs[1]["stages"][0]["action"], "reused");
}

// ---------------------------------------------------------------- the store

#[test]
fn a_corrupted_object_is_detected_and_rebuilt() {
    let project = Project::csv();
    let first = project.build_json(&[], 0);
    let total_object = stage(&first.json(), "joined")["object"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!(".winebuild/v1/objects/{total_object}");
    let mut bytes = std::fs::read(project.file(&path)).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    project.write_bytes(&path, &bytes);
    let run = project.build_json(&[], 0);
    assert_eq!(run.with_action("ran"), vec!["joined"]);
    let reason = stage(&run.json(), "joined")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("was corrupt"), "{reason}");
    let text = project.run(&["build", "--select", "joined", "--force"]);
    assert_eq!(text.code, 0);
    let corrupt = project.file(&path);
    let mut bytes = std::fs::read(&corrupt).unwrap();
    bytes[middle] ^= 0xff;
    std::fs::write(&corrupt, &bytes).unwrap();
    let warned = project.run(&["build"]);
    assert!(
        warned.stderr.contains(&format!(
            "warning: joined: stored output {total_object} did not match its hash; deleted and rebuilt"
        )),
        "{}",
        warned.shown()
    );
    assert_eq!(
        std::fs::read(project.file(&path)).unwrap().len(),
        bytes.len()
    );
    assert_eq!(project.show("total", MONTH), "ca_total\n266.0\n");
}

/// `total` runs its query on `joined`'s draft while `joined`'s output is being stored; when
/// storing it fails, `joined` fails naming the path, and `total` is skipped, never built on an
/// output the store does not hold, and never left waiting.
#[test]
fn a_model_that_ran_ahead_on_an_output_the_store_then_refused_is_skipped() {
    let project = Project::csv();
    let first = project.build_json(&[], 0);
    let joined = stage(&first.json(), "joined")["object"]
        .as_str()
        .unwrap()
        .to_string();
    project.remove(".winebuild");
    // A folder where the object should be: no store can write there, root or not.
    let blocked = format!(".winebuild/v1/objects/{joined}");
    std::fs::create_dir_all(project.file(&blocked)).unwrap();
    let run = project.build_json(&[], 2);
    let json = run.json();
    assert_eq!(
        stage(&json, "joined")["action"],
        "failed",
        "{}",
        run.shown()
    );
    let error = stage(&json, "joined")["error"].to_string();
    assert!(error.contains(&blocked), "{error}");
    assert_eq!(
        stage(&json, "total")["action"],
        "skipped",
        "{}",
        run.shown()
    );
    assert_eq!(
        stage(&json, "total")["reason"],
        "upstream `joined` failed",
        "{}",
        run.shown()
    );
    assert_eq!(stage(&json, "sales_count")["action"], "ran");
    project.remove(&blocked);
    let rebuilt = project.build_json(&[], 0);
    assert_eq!(
        rebuilt.with_action("ran"),
        vec!["joined", "report", "total"]
    );
}

/// Every file under `dir` with its bytes, to tell whether anything was written or deleted.
fn snapshot_of(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn plan_writes_nothing_and_reports_a_corrupt_object_without_deleting_it() {
    let project = Project::csv();
    let before_any_build = project.run(&["plan"]);
    assert_eq!(before_any_build.code, 0, "{}", before_any_build.shown());
    assert!(
        !project.file(".winebuild").exists(),
        "plan created the store"
    );
    let first = project.build_json(&[], 0);
    let object = stage(&first.json(), "joined")["object"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!(".winebuild/v1/objects/{object}");
    let mut bytes = std::fs::read(project.file(&path)).unwrap();
    bytes[10] ^= 0xff;
    project.write_bytes(&path, &bytes);
    let store = snapshot_of(&project.file(".winebuild"));
    let plan = project.run(&["plan", "--format", "json"]);
    assert_eq!(plan.code, 0, "{}", plan.shown());
    let joined = stage(&plan.json(), "joined").clone();
    assert_eq!(joined["action"], "run");
    assert!(
        joined["reason"].as_str().unwrap().contains("was corrupt"),
        "{joined}"
    );
    assert_eq!(
        snapshot_of(&project.file(".winebuild")),
        store,
        "plan changed the store"
    );
}

/// Earlier versions kept each object in a folder named by its hash's first two digits.
#[test]
fn objects_kept_in_fan_out_folders_by_an_earlier_version_are_reused_and_moved() {
    let project = Project::csv();
    project.build_json(&[], 0);
    let objects = project.file(".winebuild/v1/objects");
    let names: Vec<String> = std::fs::read_dir(&objects)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 7, "{names:?}");
    for name in &names {
        let folder = objects.join(&name[..2]);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::rename(objects.join(name), folder.join(name)).unwrap();
    }
    // `plan` reads them where they are and moves nothing.
    let plan = project.run(&["plan", "--format", "json"]);
    assert_eq!(plan.code, 0, "{}", plan.shown());
    let json = plan.json();
    let to_run: Vec<&serde_json::Value> = json["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "reuse")
        .collect();
    assert!(to_run.is_empty(), "{to_run:?}");
    assert!(!objects.join(&names[0]).exists());
    let run = project.build_json(&[], 0);
    assert!(run.with_action("ran").is_empty(), "{}", run.shown());
    for name in &names {
        assert!(objects.join(name).is_file(), "{name} not moved");
        assert!(!objects.join(&name[..2]).join(name).exists());
    }
    assert_eq!(project.run(&["gc"]).code, 0);
    let left: Vec<String> = std::fs::read_dir(&objects)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left.len(), 7, "{left:?}");
}

#[test]
fn each_command_takes_only_the_formats_it_can_print() {
    let project = Project::csv();
    for args in [
        &["dag", "--format", "markdown"][..],
        &["build", "--format", "mermaid"],
        &["plan", "--format", "dot"],
        &["show", "total", "--format", "markdown"],
    ] {
        let run = project.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.shown());
        assert!(
            run.stderr.contains("invalid value"),
            "{args:?}: {}",
            run.shown()
        );
    }
    let dot = project.run(&["dag", "--format", "dot"]);
    assert_eq!(dot.code, 0, "{}", dot.shown());
    assert!(dot.stdout.starts_with("digraph winebuild {"));
}

#[test]
fn a_same_size_rewrite_within_the_same_tick_is_caught() {
    let project = Project::csv();
    project.build_json(&[], 0);
    let path = project.file("data/2026-01/sales.csv");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    // Same size, same mtime: only the content tells.
    project.write("data/2026-01/sales.csv", "id,qty\n1,9\n2,5\n3,10\n");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let run = project.build_json(&[], 0);
    assert!(
        run.with_action("ran").contains(&"sales".to_string()),
        "{}",
        run.shown()
    );
    assert!(
        project
            .read("out/2026-01/report.csv")
            .contains("1,Pomerol,40.5,9,364.5")
    );
}

#[test]
fn a_deleted_export_is_restored_from_the_store() {
    let project = Project::csv();
    project.build_json(&[], 0);
    let original = project.read("out/2026-01/report.csv");
    project.remove("out/2026-01/report.csv");
    let run = project.run(&["build"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stderr.contains("restored out/2026-01/report.csv"),
        "{}",
        run.shown()
    );
    assert_eq!(project.read("out/2026-01/report.csv"), original);
}

#[test]
fn clean_empties_the_store_and_gc_keeps_current_objects() {
    let project = Project::csv();
    project.build_json(&[], 0);
    project.write("data/2026-01/sales.csv", "id,qty\n1,3\n2,5\n3,10\n");
    project.build_json(&[], 0);
    // Both builds were archived: gc keeps what the archive holds.
    let gc = project.run(&["gc", "--format", "json"]);
    assert_eq!(gc.code, 0, "{}", gc.shown());
    assert_eq!(gc.json()["removed"], 0);
    // Once the first revision is deleted, the first build's outputs of sales, joined, total,
    // sales_count and report are garbage.
    project.remove("archive/2026-01/r1");
    let gc = project.run(&["gc", "--format", "json"]);
    assert_eq!(gc.json()["removed"], 5);
    let run = project.build_json(&[], 0);
    assert!(
        run.with_action("ran").is_empty(),
        "gc removed a live object: {}",
        run.shown()
    );
    let clean = project.run(&["clean"]);
    assert_eq!(clean.code, 0);
    let run = project.build_json(&[], 0);
    assert_eq!(run.with_action("ran").len(), 7);
}

#[test]
fn a_second_build_waits_for_the_lock_and_says_so() {
    let project = Project::csv();
    project.build_json(&[], 0);
    let lock = std::fs::File::options()
        .write(true)
        .open(project.file(".winebuild/lock"))
        .unwrap();
    lock.lock().unwrap();
    let mut child = project
        .command(&["build"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the build did not wait for the lock"
    );
    lock.unlock().unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.starts_with("waiting for another build of this project"),
        "{stderr}"
    );
}

/// When to kill a build, in ms after it starts: five moments across a sample build, or, with
/// `WINEBUILD_KILL_POINTS=N`, N moments spread over 10–600 ms in a fixed pseudo-random order.
fn kill_delays() -> Vec<u64> {
    let points = crate::properties::from_env("WINEBUILD_KILL_POINTS", 0);
    if points == 0 {
        return vec![30, 80, 150, 250, 400];
    }
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..points)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            10 + state % 591
        })
        .collect()
}

#[cfg(unix)]
#[test]
fn a_build_killed_midway_then_rebuilt_equals_a_clean_build() {
    let clean = Project::sample();
    clean.build_json(&["--month", "2026-09"], 0);
    let expected: Vec<Vec<String>> = ["web_dedup", "fusion", "ca", "premium"]
        .iter()
        .map(|m| clean.sorted_rows(m, "2026-09"))
        .collect();
    let expected_report = std::fs::read(clean.file("out/2026-09/rapport_ca.xlsx")).unwrap();
    for delay_ms in kill_delays() {
        let project = Project::sample();
        let mut child = project
            .command(&["build", "--month", "2026-09", "-q"])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        project.build_json(&["--month", "2026-09"], 0);
        for (model, rows) in ["web_dedup", "fusion", "ca", "premium"]
            .iter()
            .zip(&expected)
        {
            assert_eq!(
                &project.sorted_rows(model, "2026-09"),
                rows,
                "{model} after kill at {delay_ms} ms"
            );
        }
        let report = std::fs::read(project.file("out/2026-09/rapport_ca.xlsx")).unwrap();
        assert!(
            report == expected_report,
            "report differs after kill at {delay_ms} ms"
        );
        let tmp = std::fs::read_dir(project.file(".winebuild/v1/tmp"))
            .unwrap()
            .count();
        assert_eq!(tmp, 0, "temp files left after the rebuild");
    }
}

// ---------------------------------------------------------------- errors

/// Replaces the `total` model of the csv fixture.
fn write_total(project: &Project, text: &str) {
    project.write("models/total.sql", text);
}

/// Writes `models/<model>.sql` into the csv fixture and pins the error a build then shows.
fn assert_model_error(model: &str, text: &str, snapshot: &str) {
    let project = Project::csv();
    project.write(&format!("models/{model}.sql"), text);
    assert_error_snapshot(&project, snapshot, &["build"]);
}

/// The csv fixture with its `total` model replaced.
fn project_with_total(text: &str) -> Project {
    let project = Project::csv();
    write_total(&project, text);
    project
}

fn assert_error_snapshot(project: &Project, name: &str, args: &[&str]) {
    let run = project.run(args);
    assert_eq!(run.code, 2, "{}", run.shown());
    assert!(run.stderr.contains("error: "), "{}", run.shown());
    assert!(run.stderr.contains("hint: "), "{}", run.shown());
    snapshot_settings(project).bind(|| insta::assert_snapshot!(name, run.shown()));
}

#[test]
fn error_missing_source_file() {
    let project = Project::csv();
    project.remove("data/2026-01/sales.csv");
    assert_error_snapshot(&project, "error_missing_file", &["build"]);
}

#[test]
fn error_sql_syntax_points_into_the_model() {
    let project =
        project_with_total("-- inputs = [\"joined\"]\nSELECT SUM(ca) AS ca_total\nFORM joined\n");
    assert_error_snapshot(&project, "error_sql_syntax", &["build"]);
}

#[test]
fn error_sql_unknown_column() {
    let project = project_with_total(
        "-- inputs = [\"joined\"]\nSELECT SUM(revenue) AS ca_total FROM joined\n",
    );
    let run = project.build_json(&[], 2);
    // A failed model stops its dependents, not unrelated stages.
    assert_eq!(run.with_action("failed"), vec!["total"]);
    assert_eq!(run.with_action("ran").len(), 6);
    assert_error_snapshot(&project, "error_sql_unknown_column", &["build"]);
}

#[test]
fn failures_are_never_cached() {
    let project = project_with_total(
        "-- inputs = [\"joined\"]\nSELECT SUM(revenue) AS ca_total FROM joined\n",
    );
    project.build_json(&[], 2);
    let again = project.build_json(&[], 2);
    assert_eq!(again.with_action("failed"), vec!["total"]);
    write_total(
        &project,
        "-- inputs = [\"joined\"]\nSELECT SUM(ca) AS ca_total FROM joined\n",
    );
    let fixed = project.build_json(&[], 0);
    assert_eq!(fixed.with_action("ran"), vec!["total"]);
}

#[test]
fn error_reading_an_undeclared_table() {
    let project = project_with_total(
        "-- inputs = [\"joined\"]\nSELECT SUM(ca) AS ca_total FROM joined JOIN sales USING (id)\n",
    );
    assert_error_snapshot(&project, "error_undeclared_input", &["build"]);
}

#[test]
fn error_models_cannot_write_or_read_files() {
    let project = project_with_total(
        "-- inputs = [\"joined\"]\nCOPY (SELECT * FROM joined) TO '/tmp/stolen.csv'\n",
    );
    assert_error_snapshot(&project, "error_copy_rejected", &["build"]);
    write_total(
        &project,
        "-- inputs = []\nCREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'\n",
    );
    let run = project.run(&["build"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("only one SELECT query is allowed"),
        "{}",
        run.shown()
    );
}

#[test]
fn error_cycle_names_every_model() {
    assert_model_error(
        "items_clean",
        "-- inputs = [\"total\"]\nSELECT * FROM total\n",
        "error_cycle",
    );
}

#[test]
fn error_unknown_input_suggests_a_name() {
    assert_model_error(
        "total",
        "-- inputs = [\"jioned\"]\nSELECT 1\n",
        "error_unknown_input",
    );
}

#[test]
fn error_duplicate_name() {
    assert_model_error(
        "sales",
        "-- inputs = [\"items\"]\nSELECT 1\n",
        "error_duplicate_name",
    );
}

#[test]
fn error_bad_model_header() {
    assert_model_error(
        "total",
        "-- input = [\"joined\"]\nSELECT 1\n",
        "error_model_header",
    );
}

#[test]
fn error_no_project() {
    let project = Project::empty();
    assert_error_snapshot(&project, "error_no_project", &["build"]);
}

#[test]
fn error_unknown_month() {
    let project = Project::csv();
    assert_error_snapshot(
        &project,
        "error_unknown_month",
        &["build", "--month", "2025-13"],
    );
    assert_error_snapshot(
        &project,
        "error_missing_month",
        &["build", "--month", "2025-12"],
    );
}

#[test]
fn errors_in_json_for_scripts() {
    let project = Project::csv();
    let run = project.run(&["build", "--month", "2025-12", "--format", "json"]);
    assert_eq!(run.code, 2);
    let json = run.json();
    assert_eq!(json["status"], "error");
    assert!(json["error"].as_str().unwrap().contains("2025-12"));
    assert!(json["hint"].as_str().unwrap().contains("2026-01"));
}

// ---------------------------------------------------------------- workbooks

#[test]
fn error_wrong_sheet_missing_column_and_corrupt_workbook() {
    let project = Project::sample();
    let toml = project.read("winebuild.toml");
    project.write(
        "winebuild.toml",
        &toml.replace(
            "file = \"erp.xlsx\"",
            "file = \"erp.xlsx\"\nsheet = \"Feuil1\"",
        ),
    );
    assert_error_snapshot(
        &project,
        "error_wrong_sheet",
        &["build", "--month", "2026-09"],
    );
    project.write(
        "winebuild.toml",
        &toml.replace(
            "id_web = \"string\"",
            "id_web = \"string\", sku = \"string\"",
        ),
    );
    assert_error_snapshot(
        &project,
        "error_missing_column",
        &["build", "--month", "2026-09"],
    );
    project.write("winebuild.toml", &toml);
    project.write("data/2026-09/liaison.xlsx", "product_id;id_web\n1;2\n");
    assert_error_snapshot(
        &project,
        "error_corrupt_workbook",
        &["build", "--month", "2026-09"],
    );
}
