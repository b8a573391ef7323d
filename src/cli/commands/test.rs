//! `winebuild test`: the models' unit tests (in memory, no month data), then the checks of the
//! month's current outputs; `--unit` or `--data` for one of them. Exit 1 when a test or an
//! error-severity check fails, 2 when one could not run.

use serde::Serialize;

use crate::build::{self, BuildOptions, ExitStatus, TestReport};
use crate::cli::Error;
use crate::cli::args::TestArgs;
use crate::cli::printer::Printer;
use crate::project::Project;
use crate::render;
use crate::store::Store;
use crate::unit::{self, UnitReport, UnitResult, UnitStatus};

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
    let width = render::build::name_width(project);
    let unit = if args.data {
        None
    } else {
        Some(unit_tests(project, &options, printer, width, args.unit)?)
    };
    let data = if args.unit {
        None
    } else {
        Some(data_checks(project, &options, printer, width)?)
    };
    if printer.json {
        printer.json(&TestOutput {
            unit_tests: unit.as_ref().map(|u| &u.results),
            data: data.as_ref(),
        });
    }
    let unit_status = unit.as_ref().map_or(ExitStatus::Success, unit_exit_status);
    let data_status = data
        .as_ref()
        .map_or(ExitStatus::Success, TestReport::exit_status);
    Ok(unit_status.worst(data_status))
}

/// What `test --format json` prints: the unit tests, then the data checks' report.
#[derive(Serialize)]
struct TestOutput<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    unit_tests: Option<&'a Vec<UnitResult>>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    data: Option<&'a TestReport>,
}

fn unit_exit_status(report: &UnitReport) -> ExitStatus {
    if report.count(UnitStatus::Error) > 0 {
        ExitStatus::Error
    } else if report.count(UnitStatus::Fail) > 0 {
        ExitStatus::Problems
    } else {
        ExitStatus::Success
    }
}

/// The selected models' unit tests, printed.
fn unit_tests(
    project: &Project,
    options: &BuildOptions,
    printer: &Printer,
    width: usize,
    asked: bool,
) -> Result<UnitReport, Error> {
    let models = build::selected_models(project, options)?;
    // The cache is a convenience: a store that cannot be opened only means every test runs.
    let store = Store::open(&project.root).ok();
    let report = unit::run_unit_tests(project, &models, store.as_ref());
    if printer.json {
        return Ok(report);
    }
    if !printer.quiet {
        printer.result(&render::build::unit_results(
            &report,
            width,
            printer.verbose,
        ));
    }
    let tally = match render::build::unit_tally(&report) {
        Some(tally) => tally,
        // Said only to whoever asked for unit tests: a project without any is common.
        None if !asked => return Ok(report),
        None if options.select.is_empty() && options.exclude.is_empty() => {
            "unit tests: none (a model's tests go in models/<name>.tests.toml)".to_string()
        }
        None => "unit tests: none in the selection".to_string(),
    };
    printer.log_line(&tally);
    Ok(report)
}

/// The checks of the month's current outputs, printed.
fn data_checks(
    project: &Project,
    options: &BuildOptions,
    printer: &Printer,
    width: usize,
) -> Result<TestReport, Error> {
    let report = build::test(project, options)?;
    for stale in &report.stale {
        printer.warning(&super::stale_words(stale, report.month));
    }
    if printer.json {
        return Ok(report);
    }
    if !printer.quiet {
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
    Ok(report)
}
