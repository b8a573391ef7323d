//! The run history: `.winebuild/v1/runs.jsonl`, one [`RunRecord`] per line, read back for
//! `winebuild log`, the HTML report and `diff`.
//!
//! Rules it keeps: the log is append-only and never rewritten here; a line that does not parse
//! (a build killed mid-append, a future format, bytes that are not UTF-8) is skipped and counted,
//! never fatal; a record is the build's own report type, so what is written is what is read.

use serde::Serialize;

use crate::build::{Action, BuildReport};
use crate::checks::CheckStatus;
use crate::error::Hint;
use crate::month::Month;
use crate::project::Project;
use crate::store::{Store, StoreError};

/// One build, as the run log keeps it.
pub(crate) type RunRecord = BuildReport;

#[derive(Debug, thiserror::Error)]
pub(crate) enum RunsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no run matches `{selector}`")]
    NoRun { selector: String },
    #[error("no build of {month} is recorded")]
    NoBuild { month: Month },
}

impl Hint for RunsError {
    fn hint(&self) -> Option<String> {
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
pub(crate) fn read_runs(project: &Project) -> Result<(Vec<RunRecord>, usize), RunsError> {
    let store = Store::open_read_only(&project.root);
    let bytes = store.run_log()?;
    let mut runs = Vec::new();
    let mut unreadable = 0;
    for line in bytes.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<RunRecord>(line) {
            Ok(run) => runs.push(run),
            Err(_) => unreadable += 1,
        }
    }
    Ok((runs, unreadable))
}

/// A run by its number in `winebuild log` (1 is the oldest), `last`, or its id (or a prefix).
pub(crate) fn find_run<'a>(
    runs: &'a [RunRecord],
    selector: &str,
) -> Result<&'a RunRecord, RunsError> {
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
    let matching: Vec<&RunRecord> = runs
        .iter()
        .filter(|r| r.run_id.starts_with(selector))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one),
        _ => Err(not_found()),
    }
}

/// The latest recorded build of `month`.
pub(crate) fn latest_build_of(project: &Project, month: Month) -> Result<RunRecord, RunsError> {
    let (runs, _) = read_runs(project)?;
    runs.into_iter()
        .rev()
        .find(|r| r.month == month)
        .ok_or(RunsError::NoBuild { month })
}

/// One line of `winebuild log`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunLine {
    pub(crate) number: usize,
    pub(crate) run_id: String,
    pub(crate) started_at: String,
    pub(crate) month: Month,
    pub(crate) status: crate::build::BuildStatus,
    pub(crate) ran: usize,
    pub(crate) reused: usize,
    pub(crate) failed: usize,
    pub(crate) skipped: usize,
    pub(crate) failed_checks: usize,
    pub(crate) duration_ms: f64,
}

pub(crate) fn summarize(number: usize, run: &RunRecord) -> RunLine {
    RunLine {
        number,
        run_id: run.run_id.clone(),
        started_at: run.started_at.clone(),
        month: run.month,
        status: run.status,
        ran: run.count(Action::Ran),
        reused: run.count(Action::Reused) + run.count(Action::Fetched),
        failed: run.count(Action::Failed),
        skipped: run.count(Action::Skipped),
        failed_checks: run
            .checks()
            .filter(|c| c.status == CheckStatus::Fail)
            .count(),
        duration_ms: run.duration_ms,
    }
}

#[cfg(test)]
mod tests {
    /// A line `winebuild` 0.1.0 wrote before run records were typed: it must still read.
    const EARLIER_LINE: &str = r#"{"run_id":"20261130T001209.622735Z","month":"2026-01","started_at":"2026-11-30T00:12:09.622Z","status":"checks_failed","duration_ms":30.5,"stages":[{"stage":"items","kind":"source","action":"reused","reason":"unchanged","key":"5b6a2a1d7e8cd9c2f0b0c4b7d26b0a4e0b39a0f7c6f9b6b3c3a1e2d4f5a6b7c8","object":"0b6a2a1d7e8cd9c2f0b0c4b7d26b0a4e0b39a0f7c6f9b6b3c3a1e2d4f5a6b7c8","rows":4,"started_ms":1.2,"duration_ms":0.4,"warnings":[],"columns":[{"name":"id","type":"Int64"}]},{"stage":"total","kind":"model","action":"failed","reason":"check `t` failed","key":null,"object":null,"rows":null,"started_ms":2.0,"duration_ms":1.0,"warnings":[],"checks":[{"check":"t","model":"total","kind":"row_count","severity":"error","status":"fail","actual":2,"expected":3,"message":"total: 2 rows instead of 3","duration_ms":0.1,"pinned":false,"cached":false}]},{"stage":"report","kind":"export","action":"skipped","reason":"upstream `total` failed","key":null,"object":null,"rows":null,"started_ms":3.0,"duration_ms":0.0,"warnings":[]}],"archived":{"archive":"created","path":"archive/2026-01/r1","revision":1}}"#;

    #[test]
    fn records_written_by_earlier_versions_still_read() {
        let run: super::RunRecord = serde_json::from_str(EARLIER_LINE).unwrap();
        let line = super::summarize(1, &run);
        assert_eq!(line.month.to_string(), "2026-01");
        assert_eq!((line.reused, line.failed, line.skipped), (1, 1, 1));
        assert_eq!(line.failed_checks, 1);
        assert!(run.archived.is_some());
        // Written back, it reads the same.
        let again: super::RunRecord =
            serde_json::from_str(&serde_json::to_string(&run).unwrap()).unwrap();
        assert_eq!(again.stages.len(), 3);
    }
}
