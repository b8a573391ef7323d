//! The run history as people read it: `winebuild log` (one line per build) and `log <run>` (one
//! build stage by stage, with its checks).

use std::fmt::Write as _;

use crate::runs::{RunLine, RunRecord};
use crate::text::{duration, plural};

/// `   1  2026-11-29T23:48:24.822Z  2026-08  success   16 ran   0 reused  354 ms`.
pub(crate) fn line(line: &RunLine) -> String {
    let failed = if line.failed > 0 {
        format!("  {} failed", line.failed)
    } else {
        String::new()
    };
    let failed_checks = if line.failed_checks > 0 {
        format!("  {} check(s) failed", line.failed_checks)
    } else {
        String::new()
    };
    format!(
        "{:>4}  {}  {}  {:<13}  {:>2} ran  {:>2} reused{failed}{failed_checks}  {:>8}",
        line.number,
        line.started_at,
        line.month,
        line.status.to_string(),
        line.ran,
        line.reused,
        duration(line.duration_ms)
    )
}

/// One run in full: each stage, why it ran, its timing and its checks.
pub(crate) fn run(run: &RunRecord) -> String {
    let mut out = format!(
        "run {}  month {}  {}  started {}  took {}\n",
        run.run_id,
        run.month,
        run.status,
        run.started_at,
        duration(run.duration_ms)
    );
    for stage in &run.stages {
        let rows = stage.rows.map(|r| plural(r, "row")).unwrap_or_default();
        let line = format!(
            "{:>7}  {:<16}  {:>11}  at {:>7}  {:>7}  {}{}",
            stage.action.to_string(),
            stage.stage,
            rows,
            duration(stage.started_ms),
            duration(stage.duration_ms),
            stage.reason,
            super::build::engine_tag(stage.engine),
        );
        let _ = writeln!(out, "{}", line.trim_end());
        for check in &stage.checks {
            let _ = writeln!(
                out,
                "{:>13}  {}  {}",
                check.status.to_string(),
                check.check,
                check.message
            );
        }
    }
    if let Some(archived) = &run.archived {
        let _ = writeln!(out, "archive: {} ({})", archived.path(), archived.word());
    }
    out
}
