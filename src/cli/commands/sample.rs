//! `winebuild sample DIR`: writes the sample project.

use crate::build::ExitStatus;
use crate::cli::Error;
use crate::cli::args::SampleArgs;
use crate::cli::printer::Printer;
use crate::sample::{self, SampleOptions};

pub(crate) fn run(args: &SampleArgs, printer: &Printer) -> Result<ExitStatus, Error> {
    let options = SampleOptions {
        scale: args.scale,
        data_only: args.data_only,
        month: args.month.clone(),
        force: args.force,
    };
    let written = sample::write_sample(&args.dir, &options)?;
    if printer.json {
        printer.json(&serde_json::json!({"status": "ok", "written": written}));
    } else {
        // The files written are what the command produces: stdout, as `build`'s are.
        for path in &written {
            printer.info(&format!("wrote {}", path.display()));
        }
    }
    Ok(ExitStatus::Success)
}
