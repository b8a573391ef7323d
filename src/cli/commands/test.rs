//! `winebuild test`: the checks of the month's current outputs; exit 1 when one fails.

use crate::build::{self, BuildOptions, ExitStatus};
use crate::cli::Error;
use crate::cli::args::TestArgs;
use crate::cli::printer::Printer;
use crate::project::Project;
use crate::render;

pub(crate) fn run(
    project: &Project,
    args: &TestArgs,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let options = BuildOptions {
        month: args.month(),
        select: args.selection.select.clone(),
        exclude: args.selection.exclude.clone(),
        state: args.selection.state.clone(),
        force: false,
        lock_timeout: None,
    };
    let report = build::test(project, &options)?;
    for stale in &report.stale {
        printer.warning(&super::stale_words(stale, report.month));
    }
    if printer.json {
        printer.json(&report);
        return Ok(report.exit_status());
    }
    if !printer.quiet {
        let width = render::build::name_width(project);
        printer.result(&render::build::test_results(
            &report,
            width,
            printer.verbose,
        ));
    }
    if let Some(tally) = render::build::checks_tally(report.checks.iter()) {
        printer.log_line(&format!("{}: {tally}", report.month));
    }
    let expect = super::expect_file(project, report.month);
    printer.problem(&render::build::failed_checks(
        report.checks.iter(),
        report.month,
        &expect,
    ));
    Ok(report.exit_status())
}
