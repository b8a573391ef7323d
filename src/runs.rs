//! The run history: `.winebuild/v1/runs.jsonl`, one JSON build report per line, read back for
//! `winebuild log` and the HTML report.
//!
//! Rules it keeps: the log is append-only and never rewritten here; a line that does not parse
//! (a build killed mid-append, a future format) is skipped and counted, never fatal; records
//! are read as JSON values, so older records stay readable when the report gains fields.

use serde::Serialize;
use serde_json::Value;

use crate::project::Project;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no run matches `{selector}`")]
    NoRun { selector: String },
    #[error("no build of {month} is recorded")]
    NoBuild { month: String },
}

impl RunsError {
    pub fn hint(&self) -> Option<String> {
        match self {
            RunsError::Store(e) => e.hint(),
            RunsError::NoRun { .. } => Some(
                "`winebuild log` lists the runs: use a number from its first column, `last`, or a run id"
                    .into(),
            ),
            RunsError::NoBuild { month } => {
                Some(format!("run `winebuild build --month {month}` first"))
            }
        }
    }
}

/// Every recorded run, oldest first, and how many lines could not be read.
pub fn read_runs(project: &Project) -> Result<(Vec<Value>, usize), RunsError> {
    let store = Store::open(&project.root)?;
    let path = store.runs_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(StoreError::io(&path, e).into()),
    };
    let mut runs = Vec::new();
    let mut unreadable = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Value>(line) {
            Ok(run) if run.get("stages").is_some() => runs.push(run),
            _ => unreadable += 1,
        }
    }
    Ok((runs, unreadable))
}

/// A run by its number in `winebuild log` (1 is the oldest), `last`, or its id (or a prefix).
pub fn find_run<'a>(runs: &'a [Value], selector: &str) -> Result<&'a Value, RunsError> {
    let not_found = || RunsError::NoRun {
        selector: selector.to_string(),
    };
    if selector == "last" {
        return runs.last().ok_or_else(not_found);
    }
    if let Ok(number) = selector.parse::<usize>()
        && number >= 1
        && number <= runs.len()
    {
        return Ok(&runs[number - 1]);
    }
    let matching: Vec<&Value> = runs
        .iter()
        .filter(|r| {
            r["run_id"]
                .as_str()
                .is_some_and(|id| id.starts_with(selector))
        })
        .collect();
    match matching.as_slice() {
        [one] => Ok(one),
        _ => Err(not_found()),
    }
}

/// The latest recorded build of `month`.
pub fn latest_build_of(project: &Project, month: &str) -> Result<Value, RunsError> {
    let (runs, _) = read_runs(project)?;
    runs.into_iter()
        .rev()
        .find(|r| r["month"] == month)
        .ok_or_else(|| RunsError::NoBuild {
            month: month.to_string(),
        })
}

/// One line of `winebuild log`.
#[derive(Debug, Clone, Serialize)]
pub struct RunLine {
    pub number: usize,
    pub run_id: String,
    pub started_at: String,
    pub month: String,
    pub status: String,
    pub ran: usize,
    pub reused: usize,
    pub failed: usize,
    pub skipped: usize,
    pub failed_checks: usize,
    pub duration_ms: f64,
}

fn count(run: &Value, action: &str) -> usize {
    stages(run).iter().filter(|s| s["action"] == action).count()
}

/// The stages of a run record.
pub fn stages(run: &Value) -> Vec<&Value> {
    run["stages"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// The check results of a run record, in stage order.
pub fn checks(run: &Value) -> Vec<&Value> {
    stages(run)
        .into_iter()
        .flat_map(|s| s["checks"].as_array().into_iter().flatten())
        .collect()
}

pub fn summarize(number: usize, run: &Value) -> RunLine {
    let text = |field: &str| run[field].as_str().unwrap_or_default().to_string();
    RunLine {
        number,
        run_id: text("run_id"),
        started_at: text("started_at"),
        month: text("month"),
        status: text("status"),
        ran: count(run, "ran"),
        reused: count(run, "reused"),
        failed: count(run, "failed"),
        skipped: count(run, "skipped"),
        failed_checks: checks(run).iter().filter(|c| c["status"] == "fail").count(),
        duration_ms: run["duration_ms"].as_f64().unwrap_or(0.0),
    }
}

/// `12 ms`, `3.40 s`: durations as every command and the report show them.
pub fn format_duration(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}
