//! A build, a plan and a test as people read them: one line per stage (`ran  erp  825 rows
//! 21 ms  first build of 2026-10`), check results indented under their stage, a summary line,
//! and each failed check as an `error:` with its alert, a few failing rows and a `hint:`.

use std::fmt::Write as _;

use crate::build::{
    Action, BuildReport, PlanAction, PlanReport, Reproduction, StageOutcome, TestReport, Verdict,
};
use crate::checks::{CheckResult, CheckStatus};
use crate::month::Month;
use crate::project::Project;
use crate::text::{duration, plural};
use crate::unit::{UnitReport, UnitStatus};

/// How many warnings of a stage are shown without `-v`.
const WARNINGS_SHOWN: usize = 5;

/// The width of the stage-name column: the longest name, at least 8.
pub(crate) fn name_width(project: &Project) -> usize {
    project
        .stage_names()
        .map(String::len)
        .max()
        .unwrap_or(8)
        .max(8)
}

/// ` [cluster]` after a stage a cluster built; nothing for one built here, the usual case.
pub(crate) fn engine_tag(engine: crate::cluster::Engine) -> &'static str {
    match engine {
        crate::cluster::Engine::Cluster => " [cluster]",
        crate::cluster::Engine::Local => "",
    }
}

/// `error: …` and `hint: …` lines.
pub(crate) fn error(message: &str, hint: Option<&str>) -> String {
    let mut out = format!("error: {message}\n");
    if let Some(hint) = hint {
        let _ = writeln!(out, "hint: {hint}");
    }
    out
}

/// One stage of a build: its line, its failed or warned checks (every check with `verbose`), a
/// warned check's failing rows, and its warnings.
pub(crate) fn stage(outcome: &StageOutcome, width: usize, verbose: bool) -> String {
    let rows = outcome.rows.map(|r| plural(r, "row")).unwrap_or_default();
    let time = match outcome.action {
        Action::Ran | Action::Fetched => duration(outcome.duration_ms),
        _ => String::new(),
    };
    let reason = match outcome.action {
        Action::Reused | Action::Fetched if !verbose && outcome.wrote.is_none() => "",
        // The whole error is printed after the summary; its first line is enough here.
        Action::Failed => outcome.reason.lines().next().unwrap_or_default(),
        _ => outcome.reason.as_str(),
    };
    let line = format!(
        "{:>7}  {:<width$}  {:>11}  {:>7}  {}{}",
        outcome.action.to_string(),
        outcome.stage,
        rows,
        time,
        reason,
        engine_tag(outcome.engine),
    );
    let mut out = format!("{}\n", line.trim_end());
    for check in &outcome.checks {
        if verbose || matches!(check.status, CheckStatus::Fail | CheckStatus::Warn) {
            let _ = writeln!(out, "{}", check_line(check));
        }
        if check.status == CheckStatus::Warn {
            for example in &check.examples {
                let _ = writeln!(out, "{:>15}{example}", "");
            }
        }
    }
    let shown = if verbose { usize::MAX } else { WARNINGS_SHOWN };
    for warning in outcome.warnings.iter().take(shown) {
        let _ = writeln!(out, "warning: {}: {warning}", outcome.stage);
    }
    if outcome.warnings.len() > shown {
        let _ = writeln!(
            out,
            "warning: {}: … and {} more (-v shows all)",
            outcome.stage,
            outcome.warnings.len() - shown
        );
    }
    out
}

/// One check, indented under its stage: `fail  test-nettoyage-erp  ERP: 824 lignes au lieu de 825`.
fn check_line(check: &CheckResult) -> String {
    format!(
        "{:>13}  {}  {}{}",
        check.status.to_string(),
        check.check,
        check.message,
        if check.cached { " (cached)" } else { "" }
    )
}

/// `2026-10: 16 ran, 0 reused in 301 ms` (failed and skipped counts when there are some).
pub(crate) fn summary_line(report: &BuildReport) -> String {
    let count = |action, word: &str| match report.count(action) {
        0 => String::new(),
        n => format!(", {n} {word}"),
    };
    format!(
        "{}: {} ran, {} reused{}{}{} in {}",
        report.month,
        report.count(Action::Ran),
        report.count(Action::Reused),
        count(Action::Fetched, "fetched"),
        count(Action::Failed, "failed"),
        count(Action::Skipped, "skipped"),
        duration(report.duration_ms)
    )
}

/// `remote s3://team/cave: fetched 16 object(s) (1.1 MiB), uploaded 2 (3.4 KiB)`.
pub(crate) fn remote_line(remote: &crate::remote::RemoteReport) -> String {
    let t = remote.traffic;
    format!(
        "remote {}: fetched {} ({}), uploaded {} ({})",
        remote.url,
        crate::text::plural(t.fetched, "object"),
        crate::text::bytes(t.fetched_bytes),
        crate::text::plural(t.uploaded, "blob"),
        crate::text::bytes(t.uploaded_bytes),
    )
}

/// `checks: 20 passed, 1 failed, 2 warning(s)` (only the counts that are not zero, passed always).
pub(crate) fn checks_tally<'a>(checks: impl Iterator<Item = &'a CheckResult>) -> Option<String> {
    let mut counts = [0usize; 4];
    let mut any = false;
    for check in checks {
        any = true;
        counts[match check.status {
            CheckStatus::Pass => 0,
            CheckStatus::Fail => 1,
            CheckStatus::Warn => 2,
            CheckStatus::Skipped => 3,
        }] += 1;
    }
    if !any {
        return None;
    }
    let mut parts = vec![format!("{} passed", counts[0])];
    for (count, word) in counts[1..].iter().zip(["failed", "warning(s)", "skipped"]) {
        if *count > 0 {
            parts.push(format!("{count} {word}"));
        }
    }
    Some(format!("checks: {}", parts.join(", ")))
}

/// Each failed check with its alert, a few failing rows and what to do, as `error:` lines.
pub(crate) fn failed_checks<'a>(
    checks: impl Iterator<Item = &'a CheckResult>,
    month: Month,
    month_expect: &str,
) -> String {
    let mut out = String::new();
    for check in checks.filter(|c| c.status == CheckStatus::Fail) {
        let _ = writeln!(
            out,
            "error: check `{}` of `{}` failed: {}",
            check.check, check.model, check.message
        );
        for example in &check.examples {
            let _ = writeln!(out, "  {example}");
        }
        if let Some(failing) = check.failing
            && failing as usize > check.examples.len()
            && !check.examples.is_empty()
        {
            let _ = writeln!(out, "  … {failing} in all");
        }
        let hint = if check.pinned {
            format!("if the data is right and the figure really changed, update {month_expect}")
        } else {
            format!(
                "`winebuild show {} --month {month}` prints the output that failed",
                check.model
            )
        };
        let _ = writeln!(out, "hint: {hint}");
    }
    out
}

/// `plan for 2026-10:`, one line per stage, then the counts.
pub(crate) fn plan(plan: &PlanReport, width: usize, verbose: bool) -> String {
    let mut out = format!("plan for {}:\n", plan.month);
    for stage in &plan.stages {
        let reason = if stage.action == PlanAction::Reuse && !verbose {
            ""
        } else {
            &stage.reason
        };
        let line = format!(
            "{:>7}  {:<width$}  {reason}",
            stage.action.to_string(),
            stage.stage
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let count = |a| plan.stages.iter().filter(|s| s.action == a).count();
    let _ = writeln!(
        out,
        "{} to run, {} maybe, {} to reuse, {} blocked",
        count(PlanAction::Run),
        count(PlanAction::Maybe),
        count(PlanAction::Reuse),
        count(PlanAction::Blocked)
    );
    out
}

/// One line per check of `winebuild test`, with a warned check's failing rows under it.
pub(crate) fn test_results(report: &TestReport, model_width: usize, verbose: bool) -> String {
    let width = report
        .checks
        .iter()
        .map(|c| c.check.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for check in &report.checks {
        let line = format!(
            "{:>7}  {:<model_width$}  {:<width$}  {}{}",
            check.status.to_string(),
            check.model,
            check.check,
            check.message,
            if check.cached && verbose {
                " (cached)"
            } else {
                ""
            }
        );
        let _ = writeln!(out, "{}", line.trim_end());
        if check.status == CheckStatus::Warn {
            for example in &check.examples {
                let _ = writeln!(out, "{:>9}{example}", "");
            }
        }
    }
    out
}

/// `winebuild test --unit`: a line per unit test; below a failed one, how the returned rows
/// differ from the expected ones, as `diff` words it; below an errored one, why.
pub(crate) fn unit_results(report: &UnitReport, model_width: usize, verbose: bool) -> String {
    let width = report
        .results
        .iter()
        .map(|r| r.test.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for result in &report.results {
        let figure = match result.status {
            UnitStatus::Error => String::new(),
            _ => plural(result.rows, "row"),
        };
        let cached = if result.cached && verbose {
            " (cached)"
        } else {
            ""
        };
        let line = format!(
            "{:>7}  {:<model_width$}  {:<width$}  {figure}{cached}",
            result.status.to_string(),
            result.model,
            result.test,
        );
        let _ = writeln!(out, "{}", line.trim_end());
        if let Some(error) = &result.error {
            let _ = writeln!(out, "{:>9}{error}", "");
        }
        if let Some(diff) = &result.diff {
            write_diff(&mut out, 9, "expected → returned", diff);
        }
    }
    out
}

/// Two versions of a table's rows as `diff` words them: `label: headline`, then the details,
/// each line indented by `indent`.
fn write_diff(out: &mut String, indent: usize, label: &str, diff: &crate::diff::ModelDiff) {
    let pad = " ".repeat(indent);
    let _ = writeln!(out, "{pad}{label}: {}", diff.headline());
    for line in diff.details() {
        let _ = writeln!(out, "{pad}{line}");
    }
}

/// `unit tests: 9 passed, 1 failed`, or nothing when no test ran.
pub(crate) fn unit_tally(report: &UnitReport) -> Option<String> {
    if report.results.is_empty() {
        return None;
    }
    let mut parts = vec![format!("{} passed", report.count(UnitStatus::Pass))];
    for (status, word) in [
        (UnitStatus::Fail, "failed"),
        (UnitStatus::Error, "could not run"),
    ] {
        let count = report.count(status);
        if count > 0 {
            parts.push(format!("{count} {word}"));
        }
    }
    Some(format!("unit tests: {}", parts.join(", ")))
}

/// `winebuild build --check`: a line per stage; below one that differs, how.
pub(crate) fn reproduction(report: &Reproduction, width: usize) -> String {
    let mut out = String::new();
    for stage in &report.stages {
        let rows = stage.rows.map(|r| plural(r, "row")).unwrap_or_default();
        let line = format!(
            "{:>12}  {:<width$}  {rows}",
            stage.verdict.to_string(),
            stage.stage
        );
        let _ = writeln!(out, "{}", line.trim_end());
        if let Some(detail) = &stage.detail {
            let _ = writeln!(out, "{:>14}{detail}", "");
        }
        if let Some(diff) = &stage.diff {
            write_diff(&mut out, 14, "stored → rerun", diff);
        }
    }
    out
}

/// `2026-09: 15 reproducible, 1 differs`.
pub(crate) fn reproduction_tally(report: &Reproduction) -> String {
    let mut parts = vec![format!(
        "{} reproducible",
        report.count(Verdict::Reproducible)
    )];
    for verdict in [Verdict::Differs, Verdict::NotBuilt, Verdict::Error] {
        let count = report.count(verdict);
        if count > 0 {
            parts.push(format!("{count} {verdict}"));
        }
    }
    format!("{}: {}", report.month, parts.join(", "))
}
