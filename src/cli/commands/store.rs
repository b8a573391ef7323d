//! `winebuild clean` and `winebuild gc`: empty the store, or drop what nothing references.

use std::time::Duration;

use crate::build::ExitStatus;
use crate::cli::Error;
use crate::cli::printer::Printer;
use crate::project::Project;
use crate::store::Store;
use crate::text::bytes;

pub(crate) fn clean(
    project: &Project,
    lock_timeout: Option<Duration>,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let store = Store::open(&project.root)?;
    let _lock = store.lock(lock_timeout, |holder| super::waiting(printer, holder))?;
    let freed = store.clean()?;
    if printer.json {
        printer.json(&serde_json::json!({"status": "ok", "freed_bytes": freed}));
    } else {
        printer.log_line(&format!("removed the store ({})", bytes(freed)));
    }
    Ok(ExitStatus::Success)
}

pub(crate) fn gc(
    project: &Project,
    lock_timeout: Option<Duration>,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let store = Store::open(&project.root)?;
    let _lock = store.lock(lock_timeout, |holder| super::waiting(printer, holder))?;
    let (removed, freed) = store.gc(&crate::archive::pinned_objects(project))?;
    if printer.json {
        printer
            .json(&serde_json::json!({"status": "ok", "removed": removed, "freed_bytes": freed}));
    } else {
        printer.log_line(&format!(
            "removed {removed} unreferenced object(s), {} freed",
            bytes(freed)
        ));
    }
    Ok(ExitStatus::Success)
}
