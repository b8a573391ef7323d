//! `winebuild remote status | push`, and what every archive-reading command does first: copy
//! the revisions the shared store holds and this machine lacks into `archive/`.

use std::fmt::Write as _;
use std::time::Duration;

use crate::archive::shared as shared_archive;
use crate::build::ExitStatus;
use crate::cli::Error;
use crate::cli::args::RemoteCommand;
use crate::cli::printer::Printer;
use crate::month::Month;
use crate::project::{MonthError, Project};
use crate::remote::Remote;
use crate::store::Store;
use crate::text::{bytes, plural};

pub(crate) fn run(
    project: &Project,
    command: &RemoteCommand,
    lock_timeout: Option<Duration>,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let remote = connected(project)?;
    match command {
        RemoteCommand::Status(_) => status(&remote, printer),
        RemoteCommand::Push { month, .. } => {
            let month = month
                .as_deref()
                .map(Month::parse)
                .transpose()
                .map_err(MonthError::from)?;
            push(project, &remote, month, lock_timeout, printer)
        }
    }
}

/// The project's remote, answering: an error naming the URL when there is none or it fails.
pub(crate) fn connected(project: &Project) -> Result<Remote, Error> {
    let Some(settings) = project.remote.clone() else {
        return Err(Error::Remote {
            message: "this project has no remote store".into(),
            hint: "set `url` under [remote] in winebuild.toml, or WINEBUILD_REMOTE (s3://bucket/prefix, gs://…, az://…, file:///…)".into(),
        });
    };
    let remote = Remote::new(settings);
    if let Some(fault) = (!remote.is_up()).then(|| remote.fault()).flatten() {
        return Err(Error::Remote {
            message: fault.to_string(),
            hint: fault.hint(),
        });
    }
    Ok(remote)
}

fn status(remote: &Remote, printer: &Printer) -> Result<ExitStatus, Error> {
    let failed = |e: crate::error::IoError| Error::Remote {
        message: e.to_string(),
        hint: "`winebuild remote status` again; the remote answered, then failed".into(),
    };
    let contents = crate::store::remote_contents(remote).map_err(failed)?;
    let archive = shared_archive::remote_archive(remote);
    if printer.json {
        printer.json(&serde_json::json!({
            "url": remote.url().to_string(),
            "reachable": true,
            "write": remote.writable(),
            "sealed": remote.sealed(),
            "contents": contents,
            "archive": archive.iter().map(|(m, r)| serde_json::json!({"month": m, "revision": r})).collect::<Vec<_>>(),
        }));
        return Ok(ExitStatus::Success);
    }
    let mode = match (remote.writable(), remote.sealed()) {
        (true, true) => "read-write, records sealed",
        (true, false) => "read-write",
        (false, true) => "read-only, records sealed",
        (false, false) => "read-only",
    };
    let months: Vec<String> = contents.months.iter().map(ToString::to_string).collect();
    let mut archived: Vec<String> = Vec::new();
    for (month, revision) in &archive {
        match archived.last_mut() {
            Some(last) if last.starts_with(&month.to_string()) => {
                let _ = write!(last, " r{revision}");
            }
            _ => archived.push(format!("{month} r{revision}")),
        }
    }
    let none = |list: &[String]| {
        if list.is_empty() {
            "none".to_string()
        } else {
            list.join(", ")
        }
    };
    printer.result(&format!(
        "remote {}: reachable ({mode})\nobjects: {} ({}); stage records: {}; check results: {}\nmonths with a current build: {}\narchived: {}\n",
        remote.url(),
        contents.objects,
        bytes(contents.object_bytes),
        contents.stage_records,
        contents.check_results,
        none(&months),
        none(&archived),
    ));
    Ok(ExitStatus::Success)
}

fn push(
    project: &Project,
    remote: &Remote,
    month: Option<Month>,
    lock_timeout: Option<Duration>,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    if !remote.writable() {
        return Err(Error::Remote {
            message: format!("remote `{}` is read-only here", remote.url()),
            hint: "unset WINEBUILD_REMOTE_WRITE=0, or set `write = true` under [remote], to upload from this machine".into(),
        });
    }
    let store = Store::open(&project.root)?;
    let _lock = store.lock(lock_timeout, |holder| super::waiting(printer, holder))?;
    let months = month.map(|m| vec![m]);
    let failed = |e: crate::error::IoError| Error::Remote {
        message: e.to_string(),
        hint: remote.fault().map_or_else(
            || "run `winebuild remote push` again: what is there is kept".into(),
            |f| f.hint(),
        ),
    };
    let stored = store.push_to(remote, month).map_err(failed)?;
    let archived = shared_archive::push(project, remote, months.as_deref());
    if printer.json {
        printer.json(&serde_json::json!({
            "status": if archived.failed.is_empty() { "ok" } else { "incomplete" },
            "stages": stored.stages, "already": stored.already, "checks": stored.checks,
            "months": stored.months,
            "archive": archived.uploaded.iter().map(|(m, ours, theirs)| serde_json::json!({"month": m, "revision": ours, "remote_revision": theirs})).collect::<Vec<_>>(),
            "failed": archived.failed.iter().map(|(m, r)| serde_json::json!({"month": m, "revision": r})).collect::<Vec<_>>(),
        }));
    } else {
        printer.log_line(&format!(
            "pushed {} ({} already there), {}, {} to {}",
            plural(stored.stages as u64, "stage output"),
            stored.already,
            plural(stored.checks as u64, "check result"),
            plural(stored.months as u64, "month state"),
            remote.url()
        ));
        for (month, ours, theirs) in &archived.uploaded {
            if ours == theirs {
                printer.info(&format!("archived {month} r{ours} on the remote"));
            } else {
                printer.info(&format!(
                    "archived {month} r{ours} on the remote as r{theirs}: r{ours} there holds another build"
                ));
            }
        }
        for (month, revision) in &archived.failed {
            printer.warning(&format!(
                "{month} r{revision} was not uploaded (unreadable here, or the remote failed)"
            ));
        }
    }
    if let Some(fault) = remote.fault() {
        return Err(Error::Remote {
            message: fault.to_string(),
            hint: fault.hint(),
        });
    }
    Ok(if archived.failed.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Error
    })
}

/// Copies the remote's archive revisions this machine lacks into `archive/`, under the lock,
/// before a command reads the archive. A remote that fails is a warning: the local archive is
/// still worth reading.
pub(crate) fn fetch_archive(
    project: &Project,
    lock_timeout: Option<Duration>,
    printer: &Printer,
) -> Result<(), Error> {
    let Some(settings) = project.remote.clone() else {
        return Ok(());
    };
    let remote = Remote::new(settings);
    let store = Store::open(&project.root)?;
    let _lock = store.lock(lock_timeout, |holder| super::waiting(printer, holder))?;
    let mirrored = shared_archive::mirror(project, &remote, None);
    for (month, revision) in &mirrored.revisions {
        printer.log_line(&format!(
            "fetched archive/{month}/r{revision} from {}",
            remote.url()
        ));
    }
    for (month, revision) in &mirrored.conflicts {
        printer.warning(&format!(
            "archive/{month}/r{revision} holds another build here than r{revision} on {}; `winebuild remote push` uploads this one under a new number",
            remote.url()
        ));
    }
    for (month, revision) in &mirrored.incomplete {
        printer.warning(&format!(
            "{month} r{revision} on {} is incomplete (a file is missing or damaged there); it was not copied",
            remote.url()
        ));
    }
    if let Some(fault) = remote.fault() {
        printer.warning_with_hint(
            &format!("{fault}; reading the local archive only"),
            &fault.hint(),
        );
    }
    for warning in remote.take_warnings() {
        printer.warning(&warning);
    }
    Ok(())
}
