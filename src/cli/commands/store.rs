//! `winebuild clean` and `winebuild gc`: empty the store, or drop what nothing references.

use std::time::Duration;

use crate::build::ExitStatus;
use crate::cli::Error;
use crate::cli::args::GcArgs;
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
    args: &GcArgs,
    lock_timeout: Option<Duration>,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let store = Store::open(&project.root)?;
    let _lock = store.lock(lock_timeout, |holder| super::waiting(printer, holder))?;
    let (removed, freed) = store.gc(&crate::archive::pinned_objects(project))?;
    let remote = if args.remote {
        Some(gc_remote(project, Duration::from_secs(args.grace))?)
    } else {
        None
    };
    if printer.json {
        printer.json(&serde_json::json!({
            "status": "ok", "removed": removed, "freed_bytes": freed, "remote": remote,
        }));
    } else {
        printer.log_line(&format!(
            "removed {removed} unreferenced object(s), {} freed",
            bytes(freed)
        ));
        if let Some(remote) = remote {
            printer.log_line(&format!(
                "remote: removed {} unreferenced object(s), {} freed, and {} stage record(s); kept {} younger than {} s",
                remote.objects,
                bytes(remote.bytes),
                remote.records,
                remote.kept_young,
                args.grace
            ));
        }
    }
    Ok(ExitStatus::Success)
}

/// `gc --remote`: what no month state and no archive on the remote references.
fn gc_remote(project: &Project, grace: Duration) -> Result<crate::store::RemoteGc, Error> {
    let remote = super::remote::connected(project)?;
    if !remote.writable() {
        return Err(Error::Remote {
            message: format!("remote `{}` is read-only here", remote.url()),
            hint: "gc --remote deletes; run it where the remote is writable".into(),
        });
    }
    let failed = |e: crate::error::IoError| {
        Error::Remote {
        message: e.to_string(),
        hint: "nothing referenced was deleted; fix what is named and run `winebuild gc --remote` again".into(),
    }
    };
    let mut pinned = std::collections::BTreeSet::new();
    for (month, revision) in crate::archive::shared::remote_archive(&remote) {
        // A manifest that cannot be read may name anything: delete nothing.
        let manifest = crate::archive::shared::remote_manifest(&remote, month, revision).ok_or_else(|| Error::Remote {
            message: format!("the remote's manifest of {month} r{revision} cannot be read (or its seal is refused)"),
            hint: "nothing was deleted on the remote; `winebuild remote status` checks it".into(),
        })?;
        pinned.extend(manifest.files.into_values().map(|f| f.blake3));
        pinned.extend(manifest.stages.into_iter().map(|s| s.output));
    }
    // Younger objects are kept: a build on another machine may have uploaded them and not yet
    // written the month state naming them.
    crate::store::gc_remote(&remote, &pinned, grace).map_err(failed)
}
