//! Operations: the run history, the HTML report (rendered in headless Chromium), the DAG for
//! documentation, notifications with retries, source read retries, the schedule, and progress.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::{Project, TestServer, snapshot_settings};

/// Snapshot settings that also hide run ids and timestamps.
fn history_settings(project: &Project) -> insta::Settings {
    let mut settings = snapshot_settings(project);
    settings.add_filter(r"\d{8}T\d{6}\.\d{6}Z", "[run]");
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", "[timestamp]");
    settings
}

#[test]
fn log_lists_runs_and_shows_one_in_full() {
    let project = Project::csv();
    project.build_json(&[], 0);
    project.write("data/2026-01/sales.csv", "id,qty\n1,3\n2,5\n3,10\n");
    project.build_json(&[], 0);
    let list = project.run(&["log"]);
    assert_eq!(list.code, 0, "{}", list.shown());
    assert_eq!(list.stdout.lines().count(), 2);
    let json = project.run(&["log", "--format", "json"]).json();
    assert_eq!(json[0]["ran"], 7);
    assert_eq!(json[1]["ran"], 5);
    assert_eq!(json[1]["reused"], 2);
    let last = project.run(&["log", "last"]);
    assert_eq!(last.code, 0);
    assert!(
        last.stdout.contains("file `sales.csv` changed"),
        "{}",
        last.stdout
    );
    let by_number = project.run(&["log", "2"]);
    assert_eq!(by_number.stdout, last.stdout);
    let missing = project.run(&["log", "9"]);
    assert_eq!(missing.code, 2);
    history_settings(&project).bind(|| {
        insta::assert_snapshot!("log_list", list.stdout);
        insta::assert_snapshot!("log_last", last.stdout);
        insta::assert_snapshot!("log_missing", missing.stderr);
    });
}

#[test]
fn dag_prints_mermaid_and_dot() {
    let project = Project::sample();
    let mermaid = project.run(&["dag"]);
    let dot = project.run(&["dag", "--format", "dot"]);
    assert_eq!((mermaid.code, dot.code), (0, 0));
    assert!(mermaid.stdout.contains("    fusion --> ca\n"));
    assert!(dot.stdout.contains("    \"erp\" [shape=cylinder];\n"));
    insta::with_settings!({snapshot_path => "../../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("dag_mermaid", mermaid.stdout);
        insta::assert_snapshot!("dag_dot", dot.stdout);
    });
}

/// Debian's Chromium, when installed (`.ci/run` installs it and requires this test to use it).
fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    assert!(
        !(found.is_none() && std::env::var_os("WINEBUILD_REQUIRE_CHROMIUM").is_some()),
        "WINEBUILD_REQUIRE_CHROMIUM is set but Chromium is not installed"
    );
    found
}

fn headless(
    chromium: &PathBuf,
    profile: &std::path::Path,
    extra: &[&str],
    page: &str,
) -> (String, String) {
    let output = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1300,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(page)
        .output()
        .expect("chromium runs");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_html_report_renders_in_headless_chromium() {
    let project = Project::sample();
    project.build_json(&["--month", "2026-09"], 0);
    project.build_json(&["--month", "2026-10"], 0);
    let run = project.run(&["report", "--month", "2026-10"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    assert_eq!(run.stdout, "wrote out/2026-10/report.html\n");
    let html = project.read("out/2026-10/report.html");
    // Self-contained: nothing is fetched.
    for remote in ["http://", "https://", "src=", "@import"] {
        assert!(!html.contains(remote), "the report references `{remote}`");
    }
    assert_eq!(html.matches("<g class=\"node ").count(), 16);
    assert_eq!(html.matches("<g class=\"bar ").count(), 16);
    assert_eq!(html.matches("<circle class=\"check ").count(), 21);
    assert!(html.contains("Compared with 2026-09 r1"));
    assert!(html.contains("CA total</strong>: 70 568,60 € → 108 816,90 €"));
    let Some(chromium) = chromium() else {
        eprintln!("skipped the browser part: Chromium is not installed (apt-get install chromium)");
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let page = format!(
        "file://{}",
        project.file("out/2026-10/report.html").display()
    );
    let (dom, log) = headless(&chromium, profile.path(), &["--dump-dom"], &page);
    assert!(
        dom.contains("data-rendered=\"yes\""),
        "the script did not run:\n{log}"
    );
    assert!(
        dom.contains("data-console-errors=\"0\""),
        "errors in the page:\n{log}"
    );
    assert_eq!(dom.matches("class=\"node ").count(), 16, "{log}");
    assert_eq!(dom.matches("class=\"bar ").count(), 16, "{log}");
    assert!(
        !log.contains("CONSOLE"),
        "the page logged to the console:\n{log}"
    );
    let screenshot = project.file("out/2026-10/report.png");
    let (_, log) = headless(
        &chromium,
        profile.path(),
        &[&format!("--screenshot={}", screenshot.display())],
        &page,
    );
    let png = std::fs::read(&screenshot).unwrap_or_else(|e| panic!("no screenshot ({e}):\n{log}"));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}

/// A csv project whose `total` model checks its figure against `expected`, notifying `url`.
fn notifying_project(expected: u64, notify: &str) -> Project {
    let project = Project::csv();
    let total = project.read("models/total.sql");
    project.write(
        "models/total.sql",
        &total.replace(
            "-- inputs = [\"joined\"]\n",
            &format!(
                "-- inputs = [\"joined\"]\n-- [[checks]]\n-- name = \"total-ca\"\n-- kind = \"expression\"\n-- actual = \"SUM(ca_total)\"\n-- expected = \"{expected}\"\n-- message = \"CA: {{actual:fr}}€ au lieu de {{expected:fr}}€\"\n"
            ),
        ),
    );
    let toml = project.read("winebuild.toml");
    project.write("winebuild.toml", &format!("{toml}\n{notify}"));
    project
}

#[test]
fn a_failed_build_posts_its_alerts_to_the_webhook_retrying_until_accepted() {
    let server = TestServer::start(&[500, 503, 200]);
    let project = notifying_project(
        300,
        &format!("[notify]\nkind = \"webhook\"\nurl = \"{}\"\n", server.url),
    );
    let run = project.run(&["build"]);
    assert_eq!(
        run.code,
        1,
        "the notification changes nothing: {}",
        run.shown()
    );
    assert!(
        run.stderr
            .contains(&format!("notified {} (attempt 3)", server.url)),
        "{}",
        run.shown()
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[2].method, "POST");
    let body: Value = serde_json::from_str(&requests[2].body).unwrap();
    assert_eq!(body["month"], "2026-01");
    assert_eq!(body["status"], "checks_failed");
    assert_eq!(body["failed_checks"][0]["check"], "total-ca");
    assert_eq!(
        body["failed_checks"][0]["message"],
        "CA: 266,00€ au lieu de 300,00€"
    );
    assert_eq!(requests[0].body, requests[2].body);
}

#[test]
fn an_unreachable_webhook_never_fails_the_build() {
    let server = TestServer::start(&[503]);
    let project = notifying_project(
        266,
        &format!(
            "[notify]\nkind = \"webhook\"\nurl = \"{}\"\non_success = true\n",
            server.url
        ),
    );
    let run = project.run(&["build", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    let delivery = &run.json()["notifications"][0];
    assert_eq!(delivery["delivered"], false);
    assert_eq!(delivery["attempts"], 4);
    assert_eq!(server.requests().len(), 4);
    let text = project.run(&["build"]);
    assert_eq!(text.code, 0);
    assert!(
        text.stderr.contains("warning: notification to")
            && text.stderr.contains("after 4 attempt(s)"),
        "{}",
        text.shown()
    );
}

#[test]
fn success_is_not_notified_unless_asked() {
    let server = TestServer::start(&[200]);
    let project = notifying_project(
        266,
        &format!("[notify]\nkind = \"webhook\"\nurl = \"{}\"\n", server.url),
    );
    project.build_json(&[], 0);
    assert!(server.requests().is_empty());
}

#[test]
fn resend_sends_an_email_with_the_token_from_the_environment() {
    let server = TestServer::start(&[200]);
    let notify = format!(
        "[notify]\nkind = \"resend\"\nurl = \"{}\"\nfrom = \"winebuild <rapports@cave.example>\"\nto = [\"caviste@cave.example\"]\ntoken_env = \"WINEBUILD_TEST_RESEND\"\n",
        server.url
    );
    let project = notifying_project(300, &notify);
    let without_token = project.run(&["build"]);
    assert_eq!(without_token.code, 1);
    assert!(
        without_token.stderr.contains(
            "the environment variable WINEBUILD_TEST_RESEND holding the Resend token is not set"
        ),
        "{}",
        without_token.shown()
    );
    assert!(server.requests().is_empty());
    let run = project
        .command(&["build"])
        .env("WINEBUILD_TEST_RESEND", "re_test_secret")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer re_test_secret")
    );
    let email: Value = serde_json::from_str(&requests[0].body).unwrap();
    assert_eq!(email["from"], "winebuild <rapports@cave.example>");
    assert_eq!(email["to"][0], "caviste@cave.example");
    assert_eq!(
        email["subject"],
        "winebuild shop 2026-01: 1 check(s) failed"
    );
    assert!(
        email["text"]
            .as_str()
            .unwrap()
            .contains("✗ total-ca (total): CA: 266,00€ au lieu de 300,00€"),
        "{email}"
    );
    // The token never appears in the project.
    assert!(!project.read("winebuild.toml").contains("re_test_secret"));
}

/// `/proc/self/io` counts the bytes its reader has read, so no two reads of it agree: a file
/// that changes between winebuild's reads, deterministically (a real export still being written
/// races with the reader).
#[cfg(target_os = "linux")]
#[test]
fn a_source_that_changes_while_it_is_read_is_retried_then_reported() {
    let project = Project::csv();
    project.remove("data/2026-01/sales.csv");
    std::os::unix::fs::symlink("/proc/self/io", project.file("data/2026-01/sales.csv")).unwrap();
    let run = project.run(&["build"]);
    assert_eq!(run.code, 2, "{}", run.shown());
    assert!(
        run.stderr
            .contains("error: `sales.csv` kept changing while it was read (3 attempts)"),
        "{}",
        run.shown()
    );
    // The stages that do not read it still ran.
    assert!(run.stderr.contains("ran  items_clean"), "{}", run.shown());
    // Once the file is still, the next build reads it.
    project.remove("data/2026-01/sales.csv");
    project.write("data/2026-01/sales.csv", "id,qty\n1,2\n2,5\n3,10\n");
    project.build_json(&[], 0);
}

#[test]
fn a_source_that_cannot_be_read_is_retried_then_reported() {
    let project = Project::csv();
    // Reading a folder fails the way a locked file does: the file is there, its bytes are not.
    project.remove("data/2026-01/sales.csv");
    std::fs::create_dir(project.file("data/2026-01/sales.csv")).unwrap();
    let run = project.run(&["build"]);
    assert_eq!(run.code, 2, "{}", run.shown());
    assert!(
        run.stderr.contains("error: cannot read `sales.csv`: ")
            && run.stderr.contains("(tried 3 times)"),
        "{}",
        run.shown()
    );
}

#[test]
fn schedule_prints_and_installs_the_monthly_run() {
    let project = Project::csv();
    let cron = project.run(&["schedule"]);
    assert_eq!(cron.code, 0, "{}", cron.shown());
    let root = std::fs::canonicalize(project.path()).unwrap();
    let bin = crate::support::BIN;
    assert_eq!(
        cron.stdout,
        format!(
            "0 9 15 * * cd '{root}' && '{bin}' build --month previous -q >> '{root}/.winebuild/schedule.log' 2>&1 # winebuild: {root}\n",
            root = root.display()
        )
    );
    let config = tempfile::tempdir().unwrap();
    let install = project
        .command(&["schedule", "--systemd", "--install"])
        .env("XDG_CONFIG_HOME", config.path())
        .output()
        .unwrap();
    assert_eq!(install.status.code(), Some(0));
    let units = config.path().join("systemd/user");
    let timer = std::fs::read_to_string(units.join("winebuild-shop.timer")).unwrap();
    assert!(timer.contains("OnCalendar=*-*-15 09:00:00\n"), "{timer}");
    let service = std::fs::read_to_string(units.join("winebuild-shop.service")).unwrap();
    assert!(
        service.contains(&format!("ExecStart={bin} build --month previous\n")),
        "{service}"
    );
}

#[test]
fn month_previous_builds_the_month_just_ended() {
    use chrono::Datelike;
    let today = chrono::Local::now().date_naive();
    let (year, month) = match today.month() {
        1 => (today.year() - 1, 12),
        m => (today.year(), m - 1),
    };
    let previous = format!("{year:04}-{month:02}");
    let project = Project::csv();
    for file in ["items.csv", "sales.csv"] {
        let text = project.read(&format!("data/2026-01/{file}"));
        project.write(&format!("data/{previous}/{file}"), &text);
    }
    let build = project.build_json(&["--month", "previous"], 0).json();
    assert_eq!(build["month"], previous);
}

#[test]
fn progress_is_silent_when_stderr_is_not_a_terminal() {
    let project = Project::csv();
    let run = project.run(&["build"]);
    assert_eq!(run.code, 0);
    assert!(
        !run.stderr.contains('\r') && !run.stderr.contains('\u{1b}'),
        "{:?}",
        run.stderr
    );
    let quiet = project.run(&["build", "-q"]);
    assert_eq!((quiet.stdout.as_str(), quiet.stderr.as_str()), ("", ""));
}
