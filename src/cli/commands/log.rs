//! `winebuild log [run]`: past builds, or one in full.

use crate::build::ExitStatus;
use crate::cli::Error;
use crate::cli::args::LogArgs;
use crate::cli::printer::Printer;
use crate::project::Project;
use crate::render;
use crate::runs;

pub(crate) fn run(
    project: &Project,
    args: &LogArgs,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let (all, unreadable) = runs::read_runs(project)?;
    if unreadable > 0 {
        printer.warning(&format!(
            "{unreadable} line(s) of the run log could not be read and are skipped"
        ));
    }
    if let Some(selector) = &args.run {
        let run = runs::find_run(&all, selector)?;
        if printer.json {
            printer.json(run);
        } else {
            printer.result(&render::log::run(run));
        }
        return Ok(ExitStatus::Success);
    }
    let lines: Vec<runs::RunLine> = all
        .iter()
        .enumerate()
        .map(|(i, run)| runs::summarize(i + 1, run))
        .collect();
    let shown = &lines[lines.len().saturating_sub(args.limit)..];
    if printer.json {
        printer.json(&shown);
        return Ok(ExitStatus::Success);
    }
    if shown.is_empty() {
        printer.log_line("no build recorded yet");
    }
    for line in shown {
        printer.result_line(&render::log::line(line));
    }
    Ok(ExitStatus::Success)
}
