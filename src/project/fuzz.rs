//! Fuzzing the two formats a user writes: generated `winebuild.toml` files and model headers,
//! from every key the formats know (and some they do not) with values of every type and odd
//! text. Loading must end in a project or an error, never a panic; a loaded project must give a
//! graph or an error.
//!
//! Cases: `WINEBUILD_FUZZ_CASES` (default 500), as for the readers' fuzzing.

use proptest::prelude::*;
use std::fmt::Write as _;

use super::Project;

fn cases() -> u32 {
    std::env::var("WINEBUILD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

/// A TOML value of any type, with text that is odd for a name, a path or SQL.
fn value() -> impl Strategy<Value = String> {
    let text = prop_oneof![
        "[a-z_]{1,8}".prop_map(|s| format!("\"{s}\"")),
        "[a-zA-Z0-9 {}/.\\\\'\"\n\té-]{0,16}".prop_map(|s| format!("{s:?}")),
        Just("\"data/{month}\"".to_string()),
        Just("\"../{month}\"".to_string()),
        Just("\"/tmp/{month}\"".to_string()),
        Just("\"x.xlsx\"".to_string()),
        Just("\"r.csv\"".to_string()),
        Just("\"SELECT 1\"".to_string()),
        Just("\"s3://bucket/exports/{month}\"".to_string()),
        Just("\"s3://bucket/{month}x\"".to_string()),
        Just("\"file:///tmp/winebuild-fuzz\"".to_string()),
        Just("\"gs://\"".to_string()),
    ];
    let scalar = prop_oneof![
        4 => text,
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:?}")),
        1 => any::<bool>().prop_map(|b| b.to_string()),
    ];
    scalar.prop_recursive(2, 6, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-z_]{1,6}", inner), 0..3).prop_map(|kv| {
                let pairs: Vec<String> = kv.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", pairs.join(", "))
            }),
        ]
    })
}

/// `key = value` lines, the keys mostly ones the section knows.
fn section(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    let key = prop_oneof![
        8 => prop::sample::select(keys).prop_map(str::to_string),
        1 => "[a-z_]{1,6}",
    ];
    prop::collection::vec((key, value()), 0..5).prop_map(|lines| {
        let mut seen = Vec::new();
        lines
            .into_iter()
            // TOML refuses a key given twice; the first one stays.
            .filter(|(k, _)| {
                let new = !seen.contains(k);
                seen.push(k.clone());
                new
            })
            .fold(String::new(), |mut text, (k, v)| {
                let _ = writeln!(text, "{k} = {v}");
                text
            })
    })
}

const PROJECT: &[&str] = &["name", "data", "out", "out_outside_project"];
const SOURCE: &[&str] = &["file", "sheet", "columns"];
const EXPORT: &[&str] = &["file", "model"];
const SHEET: &[&str] = &["name", "model", "total", "money"];
const NOTIFY: &[&str] = &["kind", "url", "on_success", "from", "to", "token_env"];
const LIMITS: &[&str] = &["rows", "columns", "cells", "inflated_mb", "ratio"];
const BUILD: &[&str] = &["stage_timeout", "query_memory_mb"];
const REMOTE: &[&str] = &["url", "write"];
const HEADER: &[&str] = &["inputs", "key", "description"];
const CHECK: &[&str] = &[
    "name",
    "kind",
    "severity",
    "message",
    "columns",
    "column",
    "values",
    "equals",
    "min",
    "max",
    "same_as",
    "to",
    "field",
    "assert",
    "actual",
    "expected",
    "tolerance",
    "sql",
];

fn project_file() -> impl Strategy<Value = String> {
    (
        section(PROJECT),
        prop::collection::vec(("[a-c]{1,2}", section(SOURCE)), 0..3),
        prop::collection::vec(("[a-c]{1,2}", section(EXPORT), section(SHEET)), 0..2),
        prop::option::of(section(NOTIFY)),
        section(LIMITS),
        (section(BUILD), section(REMOTE)),
    )
        .prop_map(
            |(project, sources, exports, notify, limits, (build, remote))| {
                let mut text = format!("[project]\n{project}");
                for (name, body) in sources {
                    let _ = write!(text, "\n[sources.{name}]\n{body}");
                }
                for (name, body, sheet) in exports {
                    let _ = write!(
                        text,
                        "\n[exports.x{name}]\n{body}\n[[exports.x{name}.sheets]]\n{sheet}"
                    );
                }
                if let Some(notify) = notify {
                    let _ = write!(text, "\n[notify]\n{notify}");
                }
                let _ = write!(
                    text,
                    "\n[limits]\n{limits}\n[build]\n{build}\n[remote]\n{remote}"
                );
                text
            },
        )
}

fn model_file() -> impl Strategy<Value = String> {
    (
        section(HEADER),
        prop::collection::vec(section(CHECK), 0..3),
        prop::sample::select(
            &[
                "SELECT 1",
                "SELECT * FROM a",
                "",
                "COPY x TO 'y'",
                "--",
                "SELECT",
            ][..],
        ),
    )
        .prop_map(|(header, checks, sql)| {
            let mut toml = header;
            for check in checks {
                let _ = write!(toml, "\n[[checks]]\n{check}");
            }
            let commented = toml.lines().fold(String::new(), |mut text, line| {
                let _ = writeln!(text, "-- {line}");
                text
            });
            format!("{commented}\n{sql}\n")
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_project_loads_or_says_why(
        toml in project_file(),
        models in prop::collection::vec(("[a-c]{1,2}", model_file()), 0..3),
    ) {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("winebuild.toml"), &toml).expect("written");
        std::fs::create_dir_all(dir.path().join("models")).expect("created");
        for (name, text) in &models {
            std::fs::write(dir.path().join("models").join(format!("{name}.sql")), text)
                .expect("written");
        }
        if let Ok(project) = Project::load(dir.path()) {
            let _ = crate::graph::Graph::new(&project);
        }
    }

    #[test]
    fn any_model_header_parses_or_says_why(text in model_file(), noise in "\\PC{0,40}") {
        let _ = super::parse_model("m", std::path::Path::new("models/m.sql"), &text);
        let _ = super::parse_model("m", std::path::Path::new("models/m.sql"), &format!("{noise}\n{text}"));
    }
}
