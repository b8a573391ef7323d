//! `winebuild show`: a stage's current output, as csv (JSON rows with `--format json`).

use crate::build::{self, ExitStatus};
use crate::cli::Error;
use crate::cli::args::ShowArgs;
use crate::cli::printer::Printer;
use crate::project::Project;

pub(crate) fn run(
    project: &Project,
    args: &ShowArgs,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let (month, table) = build::current_output(project, args.month.as_deref(), &args.stage)?;
    let options = build::BuildOptions {
        month: Some(month.to_string()),
        ..build::BuildOptions::default()
    };
    let stale = build::stale_stages(project, &options)?;
    if let Some(stale) = stale.iter().find(|s| s.stage == args.stage) {
        printer.warning(&super::stale_words(stale, month));
    }
    let output_error = |message: String| Error::Output {
        stage: args.stage.clone(),
        message,
    };
    let mut batch = table.concat().map_err(|e| output_error(e.to_string()))?;
    if let Some(limit) = args.limit {
        batch = batch.slice(0, limit.min(batch.num_rows()));
    }
    if printer.json {
        // Arrow writes each row's columns in the table's order (a JSON value would sort them),
        // nulls included, so every row has every column.
        let mut writer = arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow::json::writer::LineDelimited>(Vec::new());
        writer
            .write(&batch)
            .and_then(|()| writer.finish())
            .map_err(|e| output_error(e.to_string()))?;
        let lines = String::from_utf8_lossy(&writer.into_inner()).into_owned();
        let rows: Vec<&str> = lines.lines().collect();
        if rows.is_empty() {
            printer.result_line("[]");
        } else {
            printer.result(&format!("[\n  {}\n]\n", rows.join(",\n  ")));
        }
    } else {
        let csv = crate::export::render_csv(&batch).map_err(|e| output_error(e.to_string()))?;
        printer.result(&String::from_utf8_lossy(&csv));
    }
    Ok(ExitStatus::Success)
}
