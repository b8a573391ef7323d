//! `winebuild parse-only` (hidden): reads every cell of each workbook's first sheet with
//! calamine and nothing else, the floor a cold build is compared with.

use std::path::PathBuf;

use crate::build::ExitStatus;
use crate::cli::Error;
use crate::cli::printer::Printer;
use crate::text::duration;

#[expect(
    clippy::unnecessary_wraps,
    reason = "every command returns a Result; this one cannot fail"
)]
pub(crate) fn run(files: &[PathBuf], printer: &Printer) -> Result<ExitStatus, Error> {
    use calamine::Reader;
    use rayon::prelude::*;
    let started = std::time::Instant::now();
    let cells: Vec<usize> = files
        .par_iter()
        .map(|file| {
            let mut workbook = calamine::open_workbook_auto(file).ok()?;
            let sheet = workbook.sheet_names().first()?.clone();
            let range = workbook.worksheet_range(&sheet).ok()?;
            Some(range.used_cells().count())
        })
        .map(|count| count.unwrap_or(0))
        .collect();
    printer.result_line(&format!(
        "parsed {} cells in {}",
        cells.iter().sum::<usize>(),
        duration(started.elapsed().as_secs_f64() * 1000.0)
    ));
    Ok(ExitStatus::Success)
}
