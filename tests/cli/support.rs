//! A fixture project in a temp dir, and the real `winebuild` binary run on it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_winebuild");

/// A project folder that lives as long as the test.
pub(crate) struct Project {
    pub dir: tempfile::TempDir,
}

/// What one run of the binary showed.
pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: &Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Exit code, stdout and stderr together, as a user sees them.
    pub(crate) fn shown(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.shown()))
    }

    /// `stage → action` of a `build` or `plan` run with `--format json`.
    pub(crate) fn actions(&self) -> Vec<(String, String)> {
        pairs(&self.json()["stages"], "stage", "action")
    }

    /// Stages of a `build --format json` run with the given action, in build order.
    pub(crate) fn with_action(&self, action: &str) -> Vec<String> {
        self.field_where(action, "stage")
    }

    /// `field` of every stage with the given action (`ran`, `run`, …), in report order.
    pub(crate) fn field_where(&self, action: &str, field: &str) -> Vec<String> {
        pairs(&self.json()["stages"], "action", field)
            .into_iter()
            .filter(|(a, _)| a == action)
            .map(|(_, value)| value)
            .collect()
    }
}

/// One stage of a build or plan report.
pub(crate) fn stage<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["stages"]
        .as_array()
        .expect("a report has stages")
        .iter()
        .find(|s| s["stage"] == name)
        .unwrap_or_else(|| panic!("no stage `{name}` in the report"))
}

/// `(a, b)` of every object in a JSON array, as text.
pub(crate) fn pairs(list: &Value, a: &str, b: &str) -> Vec<(String, String)> {
    let text = |value: &Value| match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|item| (text(&item[a]), text(&item[b])))
        .collect()
}

impl Project {
    pub(crate) fn empty() -> Project {
        Project {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    /// The sample project (`winebuild sample`), all three months.
    pub(crate) fn sample() -> Project {
        let project = Project::empty();
        let run = project.run(&["sample", "."]);
        assert_eq!(run.code, 0, "{}", run.shown());
        project
    }

    /// A small csv project: two sources, four models, one export.
    pub(crate) fn csv() -> Project {
        let project = Project::empty();
        project.write(
            "winebuild.toml",
            r#"[project]
name = "shop"

[sources.items]
file = "items.csv"

[sources.sales]
file = "sales.csv"

[exports.report]
file = "report.csv"
model = "joined"
"#,
        );
        project.write(
            "data/2026-01/items.csv",
            "id,name,price\n1,Pomerol,40.5\n2,Chablis,18.0\n3,Cahors,9.5\n3,Cahors,9.5\n",
        );
        project.write("data/2026-01/sales.csv", "id,qty\n1,2\n2,5\n3,10\n");
        project.write(
            "models/items_clean.sql",
            "-- inputs = [\"items\"]\n-- key = [\"id\"]\nSELECT DISTINCT id, name, price FROM items ORDER BY id\n",
        );
        project.write(
            "models/joined.sql",
            "-- inputs = [\"items_clean\", \"sales\"]\n-- key = [\"id\"]\nSELECT i.id, i.name, i.price, s.qty, i.price * s.qty AS ca\nFROM items_clean i JOIN sales s ON s.id = i.id\nORDER BY i.id\n",
        );
        project.write(
            "models/total.sql",
            "-- inputs = [\"joined\"]\nSELECT SUM(ca) AS ca_total FROM joined\n",
        );
        project.write(
            "models/sales_count.sql",
            "-- inputs = [\"sales\"]\nSELECT COUNT(*) AS n, SUM(qty) AS bottles FROM sales\n",
        );
        project
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn file(&self, relative: &str) -> PathBuf {
        self.path().join(relative)
    }

    pub(crate) fn write(&self, relative: &str, text: &str) {
        self.write_bytes(relative, text.as_bytes());
    }

    pub(crate) fn write_bytes(&self, relative: &str, bytes: &[u8]) {
        let path = self.file(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    pub(crate) fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.file(relative))
            .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
    }

    pub(crate) fn remove(&self, relative: &str) {
        let path = self.file(relative);
        if path.is_dir() {
            std::fs::remove_dir_all(path).unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command.current_dir(self.path()).args(args);
        command.env_remove("RUST_BACKTRACE");
        // What people see, as a pipe sees it: no colour, whatever the environment asks.
        command.env_remove("CLICOLOR_FORCE");
        // No remote store but the one a test sets.
        for name in [
            "WINEBUILD_REMOTE",
            "WINEBUILD_REMOTE_WRITE",
            "WINEBUILD_REMOTE_KEY",
            "WINEBUILD_CLUSTER",
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            command.env_remove(name);
        }
        command
    }

    /// Runs the binary with these environment variables set.
    pub(crate) fn run_env(&self, env: &[(&str, String)], args: &[&str]) -> Run {
        let mut command = self.command(args);
        for (name, value) in env {
            command.env(name, value);
        }
        Run::from(&command.output().expect("winebuild runs"))
    }

    /// Every exported file of a month, by name.
    pub(crate) fn exports(&self, month: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(self.file(&format!("out/{month}")))
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                (
                    entry.file_name().to_string_lossy().into_owned(),
                    std::fs::read(entry.path()).unwrap(),
                )
            })
            .collect()
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        Run::from(&self.command(args).output().expect("winebuild runs"))
    }

    /// `build --format json` with extra arguments; panics unless it exits with `code`.
    pub(crate) fn build_json(&self, extra: &[&str], code: i32) -> Run {
        let mut args = vec!["build", "--format", "json"];
        args.extend_from_slice(extra);
        let run = self.run(&args);
        assert_eq!(run.code, code, "{}", run.shown());
        run
    }

    /// A stage's current output as csv (`winebuild show`).
    pub(crate) fn show(&self, stage: &str, month: &str) -> String {
        let run = self.run(&["show", stage, "--month", month]);
        assert_eq!(run.code, 0, "{}", run.shown());
        run.stdout
    }

    /// A stage's output as sorted rows, to compare builds whatever their row order.
    pub(crate) fn sorted_rows(&self, stage: &str, month: &str) -> Vec<String> {
        let mut rows: Vec<String> = self
            .show(stage, month)
            .lines()
            .map(str::to_string)
            .collect();
        rows.sort();
        rows
    }
}

/// insta settings shared by every CLI snapshot: snapshots live in `snapshots/` at the root, and
/// temp paths, durations and hashes are replaced by placeholders.
pub(crate) fn snapshot_settings(project: &Project) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    let path = project.path().display().to_string();
    settings.add_filter(&regex_escape(&path), "[project]");
    settings.add_filter(r"\s*\b\d+(\.\d+)? m?s\b", " [time]");
    settings.add_filter(r"\b[0-9a-f]{64}\b", "[hash]");
    settings.add_filter(r"\b[0-9a-f]{12}\b", "[hash]");
    settings
}

fn regex_escape(text: &str) -> String {
    let mut escaped = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Rewrites the first sheet of an xlsx file: `edit` gets every row (header first) as calamine
/// cells and may change them; dates keep a date format, so the sheet reads back the same way.
pub(crate) fn edit_xlsx(path: &Path, edit: impl FnOnce(&mut Vec<Vec<calamine::Data>>)) {
    use calamine::{Data, Reader};
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook(path).unwrap();
    let sheet = workbook.sheet_names()[0].clone();
    let range = workbook.worksheet_range(&sheet).unwrap();
    let mut rows: Vec<Vec<Data>> = range.rows().map(<[calamine::Data]>::to_vec).collect();
    edit(&mut rows);
    let mut out = rust_xlsxwriter::Workbook::new();
    let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let worksheet = out.add_worksheet().set_name(&sheet).unwrap();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (r as u32, c as u16);
            match cell {
                Data::Empty => {}
                Data::String(s) => drop(worksheet.write_string(r, c, s).unwrap()),
                Data::Float(f) => drop(worksheet.write_number(r, c, *f).unwrap()),
                Data::Int(i) => drop(worksheet.write_number(r, c, *i as f64).unwrap()),
                Data::Bool(b) => drop(worksheet.write_boolean(r, c, *b).unwrap()),
                Data::DateTime(d) => drop(
                    worksheet
                        .write_number_with_format(r, c, d.as_f64(), &date)
                        .unwrap(),
                ),
                other => drop(worksheet.write_string(r, c, other.to_string()).unwrap()),
            }
        }
    }
    out.save(path).unwrap();
}

/// One HTTP request a [`TestServer`] received.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A local HTTP server answering each request with the next status of a script (the last one
/// repeats), and keeping what it received.
pub(crate) struct TestServer {
    pub url: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<Request>>>,
}

impl TestServer {
    pub(crate) fn start(statuses: &[u16]) -> TestServer {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = received.clone();
        let statuses = statuses.to_vec();
        std::thread::spawn(move || {
            for (i, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or_default().to_string();
                let path = parts.next().unwrap_or_default().to_string();
                let mut headers = Vec::new();
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        headers.push((name.trim().to_string(), value.trim().to_string()));
                    }
                }
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                log.lock().unwrap().push(Request {
                    method,
                    path,
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                let status = statuses[i.min(statuses.len() - 1)];
                let reply = format!(
                    "HTTP/1.1 {status} Status\r\nContent-Length: 2\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{{}}"
                );
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        TestServer { url, received }
    }

    pub(crate) fn requests(&self) -> Vec<Request> {
        self.received.lock().unwrap().clone()
    }
}
