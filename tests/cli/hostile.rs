//! Regression tests for the reliability issue: odd and hostile inputs, faults and recovery.
//! Each test is named after what went wrong.

use std::os::unix::fs::FileExt;

use crate::support::{Project, snapshot_settings};
use crate::workbooks::{number, rewrite_part, row, split_rows, text, xlsx};

/// A project reading one workbook, `data/2026-01/sheet.xlsx`, and a model over it.
fn sheet_project(rows: &str, columns: &str, limits: &str) -> Project {
    let project = Project::empty();
    project.write(
        "winebuild.toml",
        &format!(
            "[project]\nname = \"odd\"\n\n[sources.sheet]\nfile = \"sheet.xlsx\"\ncolumns = {{ {columns} }}\n{limits}"
        ),
    );
    project.write(
        "models/everything.sql",
        "-- inputs = [\"sheet\"]\nSELECT * FROM sheet\n",
    );
    project.write_bytes("data/2026-01/sheet.xlsx", &xlsx(rows));
    project
}

/// Builds and returns the error lines a user sees.
fn refused(project: &Project) -> String {
    let run = project.run(&["build"]);
    assert_eq!(run.code, 2, "{}", run.shown());
    run.stderr
        .lines()
        .filter(|l| l.starts_with("error") || l.starts_with("hint"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn rows_out_of_order_in_the_sheet_xml_are_placed_by_their_reference() {
    let clean = Project::sample();
    clean.build_json(&["--month", "2026-09"], 0);
    let project = Project::sample();
    rewrite_part(
        &project.file("data/2026-09/web.xlsx"),
        "xl/worksheets/sheet1.xml",
        |xml| {
            let (head, mut rows, tail) = split_rows(&xml);
            // Two data rows swapped, and the last row listed before the header.
            rows.swap(3, 7);
            let last = rows.pop().unwrap();
            rows.insert(0, last);
            format!("{head}{}{tail}", rows.concat())
        },
    );
    project.build_json(&["--month", "2026-09"], 0);
    for model in ["web", "web_clean", "web_dedup", "fusion", "ca", "premium"] {
        assert_eq!(
            project.sorted_rows(model, "2026-09"),
            clean.sorted_rows(model, "2026-09"),
            "{model} differs when the sheet's rows are listed out of order"
        );
    }
}

#[test]
fn a_cell_listed_twice_is_an_error_naming_it() {
    let rows = [
        row(1, &[text("A1", "id")]),
        row(2, &[number("A2", 1.0)]),
        row(2, &[number("A2", 2.0)]),
    ]
    .concat();
    let shown = refused(&sheet_project(&rows, "", ""));
    assert!(
        shown.contains("cell A2 appears twice in the sheet"),
        "{shown}"
    );
}

#[test]
fn a_zip_bomb_is_refused_before_it_is_inflated() {
    // 40 MB of one cell repeated inflates from about 40 KB: a ratio of about 1,000.
    let repeated = number("A2", 1.0).repeat(2_000_000);
    let rows = format!(
        "{}<row r=\"2\">{repeated}</row>",
        row(1, &[text("A1", "id")])
    );
    let shown = refused(&sheet_project(&rows, "", ""));
    assert!(
        shown.starts_with("error: `data/2026-01/sheet.xlsx` is too big to read: `xl/worksheets/sheet1.xml` inflates"),
        "{shown}"
    );
    assert!(
        shown.contains("hint: if the file is right, raise `ratio` under [limits]"),
        "{shown}"
    );
}

#[test]
fn workbooks_over_the_limits_are_refused_naming_the_file_and_the_setting() {
    let header = row(1, &[text("A1", "id"), text("B1", "name")]);
    let project = sheet_project(
        &format!(
            "{header}{}",
            row(4_000_000_000, &[number("A4000000000", 1.0)])
        ),
        "",
        "",
    );
    let far = refused(&project);
    let beyond = format!("{header}{}", row(2, &[number("XFE2", 1.0)]));
    project.write_bytes("data/2026-01/sheet.xlsx", &xlsx(&beyond));
    let wide = refused(&project);
    let sparse = format!("{header}{}", row(500_000, &[number("B500000", 1.0)]));
    project.write_bytes("data/2026-01/sheet.xlsx", &xlsx(&sparse));
    project.write(
        "winebuild.toml",
        &project.read("winebuild.toml").replace(
            "columns = {  }",
            "columns = {  }\n\n[limits]\ncells = 100000\ninflated_mb = 1",
        ),
    );
    let cells = refused(&project);
    let sample = Project::sample();
    sample.write(
        "winebuild.toml",
        &format!(
            "{}\n[limits]\ninflated_mb = 1\n",
            sample.read("winebuild.toml")
        ),
    );
    let run = sample.run(&["build", "--month", "2026-09"]);
    assert_eq!(run.code, 2, "{}", run.shown());
    let inflated = run
        .stderr
        .lines()
        .find(|l| l.starts_with("error") && l.contains("web.xlsx"))
        .unwrap_or_default()
        .to_string();
    snapshot_settings(&project).bind(|| {
        insta::assert_snapshot!(
            "hostile_limits",
            format!("{far}\n{wide}\n{cells}\n{inflated}")
        );
    });
}

#[test]
fn a_formula_without_a_cached_value_is_never_a_silent_null() {
    let formula = |at: &str| format!(r#"<c r="{at}"><f>A{}*2</f></c>"#, &at[1..]);
    let rows = [
        row(1, &[text("A1", "price"), text("B1", "doubled")]),
        row(2, &[number("A2", 1.0), formula("B2")]),
        row(3, &[number("A3", 2.0), formula("B3")]),
    ]
    .concat();
    let project = sheet_project(&rows, "", "");
    let run = project.run(&["build"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    assert!(
        run.stderr.contains(
            "warning: sheet: column `doubled`: 2 formula cell(s) whose value the workbook does not hold, read as null (B2, B3)"
        ),
        "{}",
        run.shown()
    );
    let declared = sheet_project(&rows, "doubled = \"float64\"", "");
    let shown = refused(&declared);
    assert!(
        shown.contains("cell B2: is a formula whose value the workbook does not hold in column `doubled` declared float64"),
        "{shown}"
    );
}

#[test]
fn a_rewrite_that_keeps_the_size_and_the_mtime_is_seen() {
    let project = Project::csv();
    project.build_json(&[], 0);
    // Past the stat cache's racy window, the next build records entries it will trust.
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    project.build_json(&[], 0);
    let path = project.file("data/2026-01/sales.csv");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    // Same size, same mtime, same inode: only the content (and the ctime) tell.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .write_all_at(b"id,qty\n1,9\n2,5\n3,10\n", 0)
        .unwrap();
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
    let forced = project.run(&["build", "--force", "--select", "sales"]);
    assert_eq!(forced.code, 0, "{}", forced.shown());
}

/// A parquet file with one column, `value`, of the given Arrow array.
fn parquet_of(array: arrow::array::ArrayRef) -> Vec<u8> {
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("value", array.data_type().clone(), true),
    ]));
    let batch = arrow::array::RecordBatch::try_new(schema.clone(), vec![array]).unwrap();
    let mut bytes = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    bytes
}

#[test]
fn parquet_sources_never_cast_lossily_without_a_word() {
    use std::sync::Arc;
    let project = Project::empty();
    project.write(
        "winebuild.toml",
        "[project]\nname = \"p\"\n\n[sources.items]\nfile = \"items.parquet\"\ncolumns = { value = \"int64\" }\n",
    );
    project.write(
        "models/all.sql",
        "-- inputs = [\"items\"]\nSELECT * FROM items\n",
    );
    let cases: [(arrow::array::ArrayRef, &str); 3] = [
        (
            Arc::new(arrow::array::StringArray::from(vec![
                Some("1"),
                None,
                Some("abc"),
            ])),
            "the value \"abc\" in row 3 cannot be read as Int64",
        ),
        (
            Arc::new(arrow::array::StringArray::from(vec!["1019.7"])),
            "the value \"1019.7\" in row 1 cannot be read as Int64",
        ),
        (
            Arc::new(arrow::array::Float64Array::from(vec![1.0, 1019.7])),
            "the value \"1019.7\" in row 2 cannot be read as Int64",
        ),
    ];
    for (array, expected) in cases {
        project.write_bytes("data/2026-01/items.parquet", &parquet_of(array));
        let shown = refused(&project);
        assert!(
            shown.contains("`data/2026-01/items.parquet`: column `value`: ")
                && shown.contains(expected),
            "{shown}"
        );
    }
    let whole = Arc::new(arrow::array::Float64Array::from(vec![Some(3.0), None]));
    project.write_bytes("data/2026-01/items.parquet", &parquet_of(whole));
    project.build_json(&[], 0);
    assert_eq!(project.show("all", "2026-01"), "value\n3\n\n");
}

#[test]
fn a_runaway_query_stops_at_the_time_or_memory_limit_naming_its_model() {
    let project = Project::csv();
    project.write(
        "winebuild.toml",
        &format!(
            "{}\n[build]\nstage_timeout = \"2s\"\nquery_memory_mb = 64\n",
            project.read("winebuild.toml")
        ),
    );
    project.write(
        "models/forever.sql",
        "-- inputs = []\nWITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT COUNT(*) AS n FROM t\n",
    );
    project.write(
        "models/huge.sql",
        "-- inputs = []\nWITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 100000)\nSELECT a.n AS a, b.n AS b FROM t a CROSS JOIN t b\n",
    );
    let run = project.build_json(&[], 2);
    let failed = run.with_action("failed");
    assert_eq!(failed, ["forever", "huge"], "{}", run.shown());
    let errors: Vec<String> = run.json()["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["error"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        errors,
        [
            "model `forever`: it ran longer than the time limit of 2.00 s",
            "model `huge`: it needs more memory than the limit of 64.0 MiB",
        ]
    );
    // Everything else was built.
    assert_eq!(run.with_action("ran").len(), 7, "{}", run.shown());
}

#[test]
fn a_build_waiting_on_the_lock_says_who_holds_it_and_can_give_up() {
    let project = Project::csv();
    project.build_json(&[], 0);
    // Another build holds the lock: here, this test, in its name.
    let mut lock = std::fs::File::options()
        .read(true)
        .write(true)
        .open(project.file(".winebuild/lock"))
        .unwrap();
    lock.lock().unwrap();
    lock.set_len(0).unwrap();
    std::io::Write::write_all(
        &mut lock,
        b"{\"pid\":4242,\"command\":\"winebuild build --month 2026-01\",\"since\":\"2026-11-30T10:00:00Z\"}\n",
    )
    .unwrap();
    let run = project.run(&["build", "--lock-timeout", "1"]);
    assert_eq!(run.code, 2, "{}", run.shown());
    assert_eq!(
        run.stderr,
        "waiting for another build of this project to finish (pid 4242, `winebuild build --month 2026-01`, since 2026-11-30T10:00:00Z); lock: .winebuild/lock\n\
         error: another run of winebuild still holds `./.winebuild/lock` after 1.00 s (pid 4242, `winebuild build --month 2026-01`, since 2026-11-30T10:00:00Z)\n\
         hint: a build that is killed releases the lock by itself, so this one is still running (`ps -p 4242` shows it); wait for it, or give it longer with --lock-timeout\n"
    );
    let gc = project.run(&["gc", "--lock-timeout", "0"]);
    assert_eq!(gc.code, 2, "{}", gc.shown());
    lock.unlock().unwrap();
    project.build_json(&["--lock-timeout", "1"], 0);
}

#[test]
fn csv_parse_errors_name_the_line_of_the_file() {
    let project = Project::csv();
    project.write(
        "winebuild.toml",
        &project.read("winebuild.toml").replace(
            "file = \"items.csv\"",
            "file = \"items.csv\"\ncolumns = { price = \"float64\" }",
        ),
    );
    project.write(
        "data/2026-01/items.csv",
        "id,name,price\n1,Pomerol,40.5\n2,Chablis,dix-huit\n",
    );
    let shown = refused(&project);
    assert!(
        shown.starts_with(
            "error: `data/2026-01/items.csv`: line 3: column `price`: the value \"dix-huit\" cannot be read as Float64"
        ),
        "{shown}"
    );
}

#[test]
fn configuration_can_never_make_winebuild_write_over_its_inputs() {
    let project = Project::csv();
    let toml = project.read("winebuild.toml");
    let mut shown = String::new();
    for out in [
        "data/{month}",
        "data/{month}/exports",
        "out",
        "../elsewhere/{month}",
        "/tmp/winebuild-reports/{month}",
        ".winebuild/{month}",
        "archive/{month}",
    ] {
        project.write(
            "winebuild.toml",
            &toml.replace(
                "name = \"shop\"",
                &format!("name = \"shop\"\nout = \"{out}\""),
            ),
        );
        shown.push_str(&refused(&project));
        shown.push('\n');
    }
    // Another disk is allowed when asked for: written through a temp file in its own folder, so
    // a different file system is no problem.
    let elsewhere =
        tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap());
    project.write(
        "winebuild.toml",
        &toml.replace(
            "name = \"shop\"",
            &format!(
                "name = \"shop\"\nout = \"{}/{{month}}\"\nout_outside_project = true",
                elsewhere.path().display()
            ),
        ),
    );
    project.build_json(&[], 0);
    assert!(elsewhere.path().join("2026-01/report.csv").exists());
    snapshot_settings(&project).bind(|| insta::assert_snapshot!("hostile_out", shown));
}

#[test]
fn names_with_line_breaks_never_reach_a_crontab_or_a_unit_file() {
    let project = Project::csv();
    let toml = project.read("winebuild.toml");
    project.write(
        "winebuild.toml",
        &toml.replace(
            "name = \"shop\"",
            "name = \"shop\\nExecStartPre=/bin/rm -rf ~\"",
        ),
    );
    let named = refused(&project);
    assert!(named.contains("holds a line break"), "{named}");
    let parent = tempfile::tempdir().unwrap();
    let folder = parent.path().join("cave\n* * * * * rm -rf ~ #");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("winebuild.toml"),
        "[project]\nname = \"cave\"\n",
    )
    .unwrap();
    let run = std::process::Command::new(crate::support::BIN)
        .arg("-C")
        .arg(&folder)
        .arg("schedule")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(run.stdout.is_empty(), "a crontab line was printed");
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("its path holds a line break"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn excel_sheet_names_are_checked_when_the_project_loads() {
    let project = Project::sample();
    let toml = project.read("winebuild.toml");
    project.write(
        "winebuild.toml",
        &toml.replace("name = \"Premium\"", "name = \"Premium: vins > 2σ\""),
    );
    let shown = refused(&project);
    assert_eq!(
        shown,
        "error: export `rapport_ca`: sheet name `Premium: vins > 2σ` holds one of [ ] : * ? / \\\nhint: see the README's `winebuild.toml` section for what an export takes"
    );
}

#[test]
fn a_bad_line_in_the_run_log_is_skipped_with_a_warning() {
    let project = Project::csv();
    project.build_json(&[], 0);
    let log = project.file(".winebuild/v1/runs.jsonl");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(b"\xff\xfe not a record\n{\"half\": \n");
    std::fs::write(&log, bytes).unwrap();
    project.build_json(&[], 0);
    let run = project.run(&["log"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.shown());
    assert!(
        run.stderr
            .contains("warning: 2 line(s) of the run log could not be read and are skipped"),
        "{}",
        run.shown()
    );
    let report = project.run(&["report"]);
    assert_eq!(report.code, 0, "{}", report.shown());
}

#[test]
fn a_damaged_revision_is_repaired_by_a_rebuild_and_diff_says_it_is_damaged() {
    let project = Project::sample();
    project.build_json(&["--month", "2026-08"], 0);
    project.build_json(&["--month", "2026-09"], 0);
    let csv = "archive/2026-09/r1/exports/vins_premium.csv";
    project.write(csv, &format!("{}1,forged\n", project.read(csv)));
    let diff = project.run(&["diff", "2026-08", "2026-09"]);
    assert_eq!(diff.code, 0, "{}", diff.shown());
    assert!(
        diff.stderr
            .starts_with("warning: archive/2026-09/r1 does not verify (exports/vins_premium.csv: "),
        "{}",
        diff.shown()
    );
    // Building the month again archives it afresh: the damaged revision stays as evidence.
    let rebuilt = project.run(&["build", "--month", "2026-09"]);
    assert_eq!(rebuilt.code, 0, "{}", rebuilt.shown());
    assert!(
        rebuilt.stdout.contains("archived archive/2026-09/r2\n"),
        "{}",
        rebuilt.shown()
    );
    assert!(
        rebuilt.stderr.contains(
            "warning: r1 of 2026-09 no longer verified: archive/2026-09/r2 holds the build afresh, r1 stays as evidence"
        ),
        "{}",
        rebuilt.shown()
    );
    let verify = project.run(&["archive", "verify", "2026-09", "--format", "json"]);
    assert_eq!(verify.code, 1, "{}", verify.shown());
    let problems = verify.json()["problems"].as_array().unwrap().clone();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0]["revision"], 1);
    let again = project.run(&["diff", "2026-08", "2026-09"]);
    assert_eq!(again.code, 0, "{}", again.shown());
    assert!(again.stderr.is_empty(), "{}", again.shown());
    assert_eq!(
        again.stdout,
        diff.stdout.replace("2026-09 r1", "2026-09 r2")
    );
    // A model file diff must read is refused, not compared.
    project.remove("archive/2026-08/r1/models/ca.parquet");
    let refused = project.run(&["diff", "2026-08", "2026-09"]);
    assert_eq!(refused.code, 2, "{}", refused.shown());
}

#[test]
fn a_manifest_naming_a_file_outside_its_revision_is_refused() {
    let project = Project::csv();
    project.build_json(&[], 0);
    let manifest = "archive/2026-01/r1/manifest.json";
    project.write(
        manifest,
        &project
            .read(manifest)
            .replace("models/joined.parquet", "../../../winebuild.toml"),
    );
    let verify = project.run(&["archive", "verify"]);
    assert_eq!(verify.code, 1, "{}", verify.shown());
    assert!(
        verify
            .stderr
            .contains("../../../winebuild.toml: names a file outside the revision"),
        "{}",
        verify.shown()
    );
}
