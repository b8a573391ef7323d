//! `winebuild build`: build a month, one line per stage as levels finish, then the files written,
//! the archive revision, the checks and the errors; notifications last.

use crate::build::{self, BuildEvent, BuildOptions, BuildReport, ExitStatus};
use crate::cli::Error;
use crate::cli::args::BuildArgs;
use crate::cli::printer::Printer;
use crate::error::Hint;
use crate::notify::{self, Delivery};
use crate::project::Project;
use crate::render;

pub(crate) fn options(args: &BuildArgs) -> BuildOptions {
    BuildOptions {
        month: args.month(),
        select: args.selection.select.clone(),
        exclude: args.selection.exclude.clone(),
        state: args.selection.state.clone(),
        force: args.force,
        lock_timeout: None,
    }
}

pub(crate) fn run(
    project: &Project,
    args: &BuildArgs,
    lock_timeout: Option<std::time::Duration>,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let width = render::build::name_width(project);
    if args.check {
        return check(project, &options(args), printer, width);
    }
    let bar = progress_bar(printer);
    let options = BuildOptions {
        lock_timeout,
        ..options(args)
    };
    let built = build::build(
        project,
        &options,
        |holder| super::waiting(printer, holder),
        |event| match event {
            BuildEvent::Started { stages, selected } => {
                if selected == 0 {
                    printer.warning_with_hint(
                        "the selection matches no stage: nothing is built",
                        "`winebuild plan --select …` shows what a selection takes",
                    );
                }
                if let Some(bar) = &bar {
                    bar.set_length(stages as u64);
                }
            }
            BuildEvent::StagesStarted(names) => {
                if let Some(bar) = &bar {
                    bar.set_message(names.join(", "));
                }
            }
            BuildEvent::LevelFinished(outcomes) => {
                let print = || {
                    for outcome in outcomes {
                        printer.log(&render::build::stage(outcome, width, printer.verbose));
                    }
                };
                match &bar {
                    Some(bar) => {
                        bar.suspend(print);
                        bar.inc(outcomes.len() as u64);
                    }
                    None => print(),
                }
            }
        },
    );
    let report = match built {
        Ok(report) => report,
        Err(error) => {
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            let deliveries = notify::notify_error(
                &project.name,
                &project.notify,
                options.month.as_deref(),
                &error.to_string(),
                error.hint().as_deref(),
            );
            print_deliveries(printer, &deliveries);
            return Err(error.into());
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    // For other tools, as dbt's target/: never a reason to change the build's result.
    if let Err(error) = crate::artifacts::write(project, &report) {
        printer.warning(&format!(
            "cannot write {}/: {error}",
            crate::artifacts::ARTIFACTS_DIR
        ));
    }
    let deliveries = if project.notify.is_empty() {
        Vec::new()
    } else {
        notify::notify(project, &report)
    };
    if printer.text() {
        print_summary(printer, project, &report);
        print_deliveries(printer, &deliveries);
    } else {
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        if !deliveries.is_empty() {
            value["notifications"] = serde_json::to_value(&deliveries).unwrap_or_default();
        }
        printer.json(&value);
    }
    Ok(report.exit_status())
}

/// A progress bar on stderr while stages run: only for people at a terminal, never in logs,
/// pipes or `--format json`.
fn progress_bar(printer: &Printer) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !printer.text() || printer.quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} [{bar:30}] {pos}/{len} stages  {elapsed}  {wide_msg}",
    )
    .map_or_else(
        |_| indicatif::ProgressStyle::default_bar(),
        |s| s.progress_chars("=> "),
    );
    bar.set_style(style);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}

fn print_summary(printer: &Printer, project: &Project, report: &BuildReport) {
    printer.log_line(&render::build::summary_line(report));
    if let Some(remote) = &report.remote {
        super::print_remote(printer, remote);
    }
    for removed in &report.removed {
        printer.warning(&format!(
            "removed {removed}: it is not current; see {}",
            crate::build::out_note(project, report.month)
        ));
    }
    for stage in &report.stages {
        if let Some(wrote) = &stage.wrote {
            printer.info(&format!("wrote {wrote}"));
        }
    }
    match &report.archived {
        Some(crate::archive::Archived::Created { path, repairs, .. }) => {
            printer.info(&format!("archived {path}"));
            if let Some(damaged) = repairs {
                printer.warning(&format!(
                    "r{damaged} of {} no longer verified: {path} holds the build afresh, r{damaged} stays as evidence",
                    report.month
                ));
            }
        }
        Some(crate::archive::Archived::Unchanged { path, .. }) if printer.verbose => {
            printer.log_line(&format!(
                "{path} already holds this build: nothing archived"
            ));
        }
        _ => {}
    }
    if let Some(tally) = render::build::checks_tally(report.checks()) {
        printer.log_line(&tally);
    }
    let expect = super::expect_file(project, report.month);
    printer.problem(&render::build::failed_checks(
        report.checks(),
        report.month,
        &expect,
    ));
    for stage in report.stages.iter().filter(|s| s.error.is_some()) {
        let message = stage.error.as_deref().unwrap_or("failed");
        printer.problem(&render::build::error(message, stage.hint.as_deref()));
    }
}

/// A project that does not load fails its build before it starts: its notifications are read
/// from `winebuild.toml` alone, when they can be, and told.
pub(crate) fn notify_unloaded(
    root: &std::path::Path,
    args: &BuildArgs,
    error: &crate::project::ProjectError,
    printer: &Printer,
) {
    let Some((name, targets)) = crate::project::notify_settings(root) else {
        return;
    };
    let deliveries = notify::notify_error(
        &name,
        &targets,
        args.month().as_deref(),
        &error.to_string(),
        error.hint().as_deref(),
    );
    print_deliveries(printer, &deliveries);
}

fn print_deliveries(printer: &Printer, deliveries: &[Delivery]) {
    for delivery in deliveries {
        match &delivery.error {
            None => printer.log_line(&format!(
                "notified {} (attempt {})",
                delivery.target, delivery.attempts
            )),
            Some(error) => printer.warning(&format!(
                "notification to {} failed after {} attempt(s): {error}",
                delivery.target, delivery.attempts
            )),
        }
    }
}

/// `build --check`: rerun the selected stages in memory, compare with the store, change nothing.
fn check(
    project: &Project,
    options: &BuildOptions,
    printer: &Printer,
    width: usize,
) -> Result<ExitStatus, Error> {
    let report = build::check_reproducible(project, options)?;
    if printer.json {
        printer.json(&report);
        return Ok(report.exit_status());
    }
    if !printer.quiet {
        printer.result(&render::build::reproduction(&report, width));
    }
    printer.log_line(&render::build::reproduction_tally(&report));
    if report.count(build::Verdict::NotBuilt) > 0 {
        printer.problem(&format!(
            "error: some stages have no current output to compare with\nhint: run `winebuild build {}` first\n",
            report.month
        ));
    }
    Ok(report.exit_status())
}
