//! `winebuild archive list | show | verify`.

use crate::archive;
use crate::build::ExitStatus;
use crate::cli::Error;
use crate::cli::args::ArchiveCommand;
use crate::cli::printer::Printer;
use crate::month::Month;
use crate::project::{MonthError, Project};
use crate::render;

pub(crate) fn run(
    project: &Project,
    command: &ArchiveCommand,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    match command {
        ArchiveCommand::List(_) => list(project, printer),
        ArchiveCommand::Show {
            month, revision, ..
        } => {
            let month = Month::parse(month).map_err(MonthError::from)?;
            let manifest = archive::manifest(project, month, *revision)?;
            if printer.json {
                printer.json(&manifest);
            } else {
                let revisions = archive::revisions(project, month);
                printer.result(&render::archive::show(&manifest, &revisions));
            }
            Ok(ExitStatus::Success)
        }
        ArchiveCommand::Verify { month, .. } => {
            let month = month
                .as_deref()
                .map(Month::parse)
                .transpose()
                .map_err(MonthError::from)?;
            verify(project, month, printer)
        }
    }
}

fn list(project: &Project, printer: &Printer) -> Result<ExitStatus, Error> {
    let mut listed = Vec::new();
    for month in archive::months(project) {
        for revision in archive::revisions(project, month) {
            listed.push(archive::read_manifest(project, month, revision)?);
        }
    }
    if printer.json {
        let rows: Vec<serde_json::Value> = listed
            .iter()
            .map(|m| {
                serde_json::json!({
                    "month": m.month, "revision": m.revision, "built_at": m.built_at,
                    "winebuild_version": m.winebuild_version, "files": m.files.len(),
                    "bytes": m.files.values().map(|f| f.bytes).sum::<u64>(),
                })
            })
            .collect();
        printer.json(&rows);
        return Ok(ExitStatus::Success);
    }
    if listed.is_empty() {
        printer.log_line("the archive is empty: a successful `winebuild build` archives its month");
    }
    for manifest in &listed {
        printer.result_line(&render::archive::list_line(manifest));
    }
    Ok(ExitStatus::Success)
}

fn verify(project: &Project, month: Option<Month>, printer: &Printer) -> Result<ExitStatus, Error> {
    let report = archive::verify(project, month)?;
    let status = if report.problems.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Problems
    };
    if printer.json {
        printer.json(&report);
        return Ok(status);
    }
    for problem in &report.problems {
        printer.problem(&format!("{}\n", render::archive::problem(problem)));
    }
    if !report.problems.is_empty() {
        printer.problem(
            "hint: rebuild the month to archive a fresh revision; the damaged one stays as evidence\n",
        );
    }
    printer.log_line(&render::archive::verified(
        report.files,
        report.revisions,
        report.problems.len(),
    ));
    Ok(status)
}
