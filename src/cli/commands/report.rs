//! `winebuild report`: writes `out/<month>/report.html` from the month's last run record, the
//! graph, and the diff against the previous archived month.

use crate::build::ExitStatus;
use crate::cli::Error;
use crate::cli::args::ReportArgs;
use crate::cli::printer::Printer;
use crate::diff::{DiffOptions, DiffReport};
use crate::error::Hint;
use crate::files::write_atomic;
use crate::graph::Graph;
use crate::month::{Month, MonthChoice};
use crate::project::{MonthError, Project};
use crate::render;
use crate::runs;

pub(crate) fn run(
    project: &Project,
    args: &ReportArgs,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let choice = MonthChoice::parse(args.month().as_deref()).map_err(MonthError::from)?;
    let month = project.resolve_month(choice)?;
    let run = runs::latest_build_of(project, month)?;
    let graph = Graph::new(project)?;
    let diff = previous_month_diff(project, month);
    let html = render::html::render(project, &graph, &run, diff.as_ref());
    let path = project.out_dir(month).join("report.html");
    write_atomic(&path, html.as_bytes()).map_err(Error::Write)?;
    let shown = project.relative(&path);
    if printer.json {
        printer.json(&serde_json::json!({"status": "ok", "wrote": shown}));
    } else {
        printer.info(&format!("wrote {}", shown.display()));
    }
    Ok(ExitStatus::Success)
}

/// The month's current build against the latest archived month before it, when there is one;
/// why not, when that comparison fails (a damaged archive is worth seeing in the report).
fn previous_month_diff(project: &Project, month: Month) -> Option<Result<DiffReport, String>> {
    let previous = crate::archive::months(project)
        .into_iter()
        .rev()
        .find(|m| *m < month)?;
    let options = DiffOptions {
        against: Some(previous.to_string()),
        current_month: Some(month.to_string()),
        tolerance: 1e-9,
        ..DiffOptions::default()
    };
    Some(
        crate::diff::diff(project, &options).map_err(|e| match e.hint() {
            Some(hint) => format!("{e} ({hint})"),
            None => e.to_string(),
        }),
    )
}
