//! `winebuild diff`: two months compared, as a table, Markdown or JSON.

use crate::build::ExitStatus;
use crate::cli::Error;
use crate::cli::args::{DiffArgs, DiffFormat};
use crate::cli::printer::Printer;
use crate::diff::{self, DiffOptions};
use crate::project::Project;
use crate::render;

pub(crate) fn run(
    project: &Project,
    args: &DiffArgs,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let options = DiffOptions {
        months: args.months.clone(),
        against: args.against.clone(),
        current_month: args.month.clone(),
        models: args.model.clone(),
        tolerance: args.tolerance,
    };
    let report = diff::diff(project, &options)?;
    if printer.text() {
        for warning in &report.warnings {
            printer.warning(warning);
        }
    }
    match args.format {
        DiffFormat::Json => printer.json(&report),
        DiffFormat::Markdown => printer.result(&render::diff::markdown(&report)),
        DiffFormat::Table => printer.result(&render::diff::table(&report)),
    }
    Ok(ExitStatus::Success)
}
