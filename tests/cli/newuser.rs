//! Regression tests for what a new user tripped on: work lost, failures left silent, messages
//! that leaked internals. Each test is named after what went wrong.

use serde_json::Value;

use crate::support::{Project, TestServer, stage};

#[test]
fn sample_never_replaces_a_project_without_force() {
    let project = Project::csv();
    let refused = project.run(&["sample", "."]);
    assert_eq!(refused.code, 2, "{}", refused.shown());
    assert!(
        refused.stderr.starts_with("error: `.` is not empty"),
        "{}",
        refused.shown()
    );
    assert!(project.read("winebuild.toml").contains("name = \"shop\""));
    let forced = project.run(&["sample", ".", "--force", "-q"]);
    assert_eq!(forced.code, 0, "{}", forced.shown());
    assert!(project.read("winebuild.toml").contains("name = \"cave\""));
    // Data only: new months are welcome, an existing one is not replaced.
    let month = project.run(&["sample", ".", "--data-only", "--month", "2026-09"]);
    assert_eq!(month.code, 2, "{}", month.shown());
    assert!(
        month.stderr.contains("data/2026-09` exists"),
        "{}",
        month.shown()
    );
}

/// A project whose webhook is a local server, and that server.
fn notified_project() -> (Project, TestServer) {
    let server = TestServer::start(&[200]);
    let project = Project::csv();
    project.write(
        "winebuild.toml",
        &format!(
            "{}\n[notify]\nkind = \"webhook\"\nurl = \"{}\"\n",
            project.read("winebuild.toml"),
            server.url
        ),
    );
    (project, server)
}

#[test]
fn a_build_that_cannot_start_is_notified_too() {
    let (project, server) = notified_project();
    // The month's folder has not arrived: the most likely failure of a scheduled build.
    let run = project.run(&["build", "--month", "2026-02"]);
    assert_eq!(run.code, 2, "{}", run.shown());
    let body: Value = serde_json::from_str(&server.requests()[0].body).unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(body["month"], "2026-02");
    assert_eq!(
        body["errors"][0]["error"],
        "no data for month `2026-02`: `data/2026-02` does not exist"
    );
    assert_eq!(
        body["subject"],
        "winebuild shop 2026-02: the build could not run"
    );
    // A project that does not load: its notifications are still read from winebuild.toml.
    project.write("models/total.sql", "-- input = [\"joined\"]\nSELECT 1\n");
    let run = project.run(&["build"]);
    assert_eq!(run.code, 2, "{}", run.shown());
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{}", run.shown());
    let body: Value = serde_json::from_str(&requests[1].body).unwrap();
    assert!(
        body["errors"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("model `total` (models/total.sql): its header is not valid TOML"),
        "{body}"
    );
}

#[test]
fn configuration_mistakes_name_the_field_and_what_it_takes() {
    let project = Project::csv();
    let toml = project.read("winebuild.toml");
    let mistakes = [
        "[notify]\nkinds = \"webhook\"\nurl = \"https://example.com\"\n",
        "[[notify]]\nkind = \"webhook\"\nurl = \"hooks.example.com/x\"\n",
        "notify = \"https://example.com\"\n",
    ];
    let mut shown = Vec::new();
    for mistake in mistakes {
        let (head, tail) = if mistake.starts_with("notify =") {
            (format!("{mistake}{toml}"), String::new())
        } else {
            (toml.clone(), mistake.to_string())
        };
        project.write("winebuild.toml", &format!("{head}\n{tail}"));
        let run = project.run(&["build"]);
        assert_eq!(run.code, 2, "{}", run.shown());
        assert!(!run.stderr.contains("variant"), "{}", run.stderr);
        shown.push(run.stderr.lines().next().unwrap_or_default().to_string());
    }
    assert_eq!(
        shown,
        [
            "error: [notify]: [notify]: unknown field `kinds`, expected one of `kind`, `url`, `on_success`, `from`, `to`, `token_env`",
            "error: [notify]: `url` must be an http:// or https:// address with a host, not `hooks.example.com/x`",
            "error: [notify]: `notify` is a string; write it as a [notify] table, or [[notify]] tables for several",
        ]
    );
    project.write("winebuild.toml", &toml);
    for (expect, error) in [
        (
            "total-rows = \"trois\"\n",
            "`total-rows` is a string, not a figure",
        ),
        (
            "total-rows = { valeur = 3 }\n",
            "`total-rows`: unknown field `valeur`, expected `value` or `tolerance`",
        ),
    ] {
        project.write(
            "models/total.sql",
            "-- inputs = [\"joined\"]\n-- [[checks]]\n-- name = \"total-rows\"\n-- kind = \"row_count\"\n\nSELECT SUM(ca) AS ca_total FROM joined\n",
        );
        project.write("data/2026-01/expect.toml", expect);
        let run = project.run(&["build"]);
        assert_eq!(run.code, 2, "{}", run.shown());
        assert!(
            run.stderr.starts_with(&format!(
                "error: `data/2026-01/expect.toml` is not valid: {error}\n"
            )),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_misspelt_key_column_is_an_error_and_the_archive_follows_its_fix() {
    let project = Project::csv();
    project.build_json(&[], 0);
    let joined = project.read("models/joined.sql");
    project.write(
        "models/joined.sql",
        &joined.replace("-- key = [\"id\"]", "-- key = [\"idd\"]"),
    );
    let run = project.run(&["build"]);
    assert_eq!(run.code, 2, "{}", run.shown());
    assert!(
        run.stderr.contains(
            "error: model `joined` declares the key column `idd`, which its output does not have\nhint: did you mean `id`?; fix `key = [...]` in models/joined.sql"
        ),
        "{}",
        run.shown()
    );
    // A key changes how `diff` matches rows: a fixed key is a new revision.
    project.write(
        "models/joined.sql",
        &joined.replace("-- key = [\"id\"]", "-- key = [\"id\", \"name\"]"),
    );
    let fixed = project.build_json(&[], 0).json();
    assert_eq!(fixed["archived"]["archive"], "created");
    assert_eq!(fixed["archived"]["revision"], 2);
}

#[test]
fn test_and_show_say_when_the_output_they_read_is_out_of_date() {
    let project = Project::csv();
    project.build_json(&[], 0);
    project.write(
        "models/total.sql",
        "-- inputs = [\"joined\"]\n-- [[checks]]\n-- name = \"one-row\"\n-- kind = \"row_count\"\n-- equals = 1\n\nSELECT SUM(ca) * 2 AS ca_total FROM joined\n",
    );
    let warning = "warning: `total` is out of date for 2026-01 (model SQL changed): this is its output from the last build; `winebuild build 2026-01` rebuilds it\n";
    let show = project.run(&["show", "total"]);
    assert_eq!(show.code, 0, "{}", show.shown());
    assert_eq!(show.stderr, warning);
    assert_eq!(show.stdout, "ca_total\n266.0\n");
    project.build_json(&[], 0);
    project.write(
        "models/total.sql",
        &project.read("models/total.sql").replace("* 2", "* 3"),
    );
    let test = project.run(&["test", "--format", "json"]);
    assert_eq!(test.code, 0, "{}", test.shown());
    assert_eq!(test.json()["stale"][0]["stage"], "total");
    assert_eq!(test.json()["stale"][0]["reason"], "model SQL changed");
    let text = project.run(&["test"]);
    assert!(
        text.stderr.starts_with("warning: `total` is out of date"),
        "{}",
        text.shown()
    );
}

#[test]
fn a_source_warning_is_said_again_on_every_build_that_uses_it() {
    let project = Project::sample();
    // rating_count is not declared: an error value there is a null and a warning.
    crate::workbooks::rewrite_part(
        &project.file("data/2026-09/web.xlsx"),
        "xl/worksheets/sheet1.xml",
        |xml| {
            xml.replacen(
                r#"<c r="D6"><v>0.0</v></c>"#,
                r#"<c r="D6" t="e"><v>#N/A</v></c>"#,
                1,
            )
        },
    );
    let first = project.build_json(&["--month", "2026-09"], 0);
    let warned = |run: &crate::support::Run| stage(&run.json(), "web")["warnings"].clone();
    assert_eq!(
        warned(&first)[0],
        "cell D6 (column `rating_count`) holds `#N/A`; read as null"
    );
    let again = project.build_json(&["--month", "2026-09"], 0);
    assert_eq!(stage(&again.json(), "web")["action"], "reused");
    assert_eq!(warned(&again), warned(&first));
    let text = project.run(&["build", "--month", "2026-09"]);
    assert!(
        text.stderr
            .contains("warning: web: cell D6 (column `rating_count`) holds `#N/A`; read as null"),
        "{}",
        text.shown()
    );
}

#[test]
fn a_failed_build_leaves_no_stale_report_looking_current() {
    let project = Project::csv();
    project.build_json(&[], 0);
    assert!(project.file("out/2026-01/report.csv").exists());
    project.write(
        "models/joined.sql",
        "-- inputs = [\"items_clean\", \"sales\"]\nSELECT nonsense FROM items_clean\n",
    );
    let run = project.run(&["build"]);
    assert_eq!(run.code, 2, "{}", run.shown());
    assert!(!project.file("out/2026-01/report.csv").exists());
    let note = project.read("out/2026-01/NOT-CURRENT.txt");
    assert!(
        note.contains("  report.csv: upstream `joined` failed\n"),
        "{note}"
    );
    // A clean build of the same project leaves the same folder.
    let clean = Project::csv();
    clean.write("models/joined.sql", &project.read("models/joined.sql"));
    let _ = clean.run(&["build"]);
    assert!(!clean.file("out/2026-01/report.csv").exists());
    // Fixed, the reports are back and the note is gone.
    project.write(
        "models/joined.sql",
        &Project::csv().read("models/joined.sql"),
    );
    project.build_json(&[], 0);
    assert!(project.file("out/2026-01/report.csv").exists());
    assert!(!project.file("out/2026-01/NOT-CURRENT.txt").exists());
}

#[test]
fn a_workbook_still_being_copied_is_tried_again() {
    let project = Project::sample();
    let path = project.file("data/2026-09/liaison.xlsx");
    let whole = std::fs::read(&path).unwrap();
    // The copy has written half the file when the build starts, and ends a moment later.
    std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();
    let child = project
        .command(&["build", "--month", "2026-09", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::fs::write(&path, &whole).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn errors_and_warnings_are_coloured_unless_no_color() {
    let project = Project::csv();
    let coloured = project
        .command(&["build", "--month", "2025-12"])
        .env("CLICOLOR_FORCE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&coloured.stderr);
    assert!(
        stderr.starts_with("\u{1b}[1;31merror:\u{1b}[0m no data for month `2025-12`"),
        "{stderr:?}"
    );
    let plain = project
        .command(&["build", "--month", "2025-12"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&plain.stderr).starts_with("error: no data for month"),
        "piped, or NO_COLOR: no colour"
    );
}
