//! `winebuild plan`: what the next build would do and why, running nothing.

use crate::build::{self, ExitStatus};
use crate::cli::Error;
use crate::cli::args::BuildArgs;
use crate::cli::printer::Printer;
use crate::project::Project;
use crate::render;

pub(crate) fn run(
    project: &Project,
    args: &BuildArgs,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let plan = build::plan(project, &super::build::options(args))?;
    if printer.json {
        printer.json(&plan);
    } else {
        let width = render::build::name_width(project);
        printer.result(&render::build::plan(&plan, width, printer.verbose));
    }
    Ok(ExitStatus::Success)
}
