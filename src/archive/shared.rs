//! Archives on the remote store, so the team shares one history: CI archives, a laptop diffs.
//!
//! Layout on the remote (under the store's format folder):
//! ```text
//! v1/archive/2026-09/r1.json      the revision's manifest (sealed with a key)
//! v1/objects/ab/abcd…             its files: every archived file is a stage output, so the
//!                                 manifest's blake3 of each file is the name of its object
//! ```
//! Rules it keeps:
//! - a revision is claimed with put-if-absent on its manifest, after its objects are there: two
//!   machines archiving different data for one month get r1 and r2, never one over the other,
//!   and a reader never meets a manifest whose files are missing;
//! - a revision the remote has and this machine lacks is mirrored into `archive/` before a
//!   command reads it, every file verified against the manifest, written in a temp folder and
//!   renamed, as a local revision is;
//! - a local revision is never replaced: when the remote's revision of the same number holds
//!   another build (archived while the remote was unreachable), the local one stays, and
//!   `remote push` uploads it under the next free number.

use std::collections::BTreeSet;
use std::path::Path;

use super::{
    ArchiveError, MANIFEST, Manifest, is_plain_relative, month_dir, read_manifest, revision_dir,
    revisions, sweep_temp_dirs,
};
use crate::blobs::{Backend, Written};
use crate::month::Month;
use crate::project::Project;
use crate::remote::Remote;
use crate::store::{ObjectHash, remote_name};

/// How many numbers a claim tries before giving up (each try follows a fresh listing).
const CLAIM_TRIES: usize = 20;

fn manifest_name(month: Month, revision: u32) -> String {
    remote_name(&format!("archive/{month}/r{revision}.json"))
}

fn object_name(object: &ObjectHash) -> String {
    let prefix = object.as_str().get(..2).unwrap_or("xx");
    remote_name(&format!("objects/{prefix}/{object}"))
}

/// The remote's revision numbers of `month`, oldest first (none when it is unreachable).
pub(crate) fn remote_revisions(remote: &Remote, month: Month) -> Vec<u32> {
    let prefix = remote_name(&format!("archive/{month}/"));
    let mut revisions: Vec<u32> = remote
        .list(&prefix)
        .unwrap_or_default()
        .iter()
        .filter_map(|listed| {
            let file = listed.name.rsplit('/').next()?;
            file.strip_prefix('r')?.strip_suffix(".json")?.parse().ok()
        })
        .collect();
    revisions.sort_unstable();
    revisions.dedup();
    revisions
}

/// Every (month, revision) the remote holds.
pub(crate) fn remote_archive(remote: &Remote) -> Vec<(Month, u32)> {
    let mut found: Vec<(Month, u32)> = remote
        .list(&remote_name("archive/"))
        .unwrap_or_default()
        .iter()
        .filter_map(|listed| {
            let mut parts = listed.name.rsplit('/');
            let file = parts.next()?;
            let month = Month::parse(parts.next()?).ok()?;
            let revision = file
                .strip_prefix('r')?
                .strip_suffix(".json")?
                .parse()
                .ok()?;
            Some((month, revision))
        })
        .collect();
    found.sort_unstable();
    found
}

/// The remote's manifest of a revision, checked against its seal and its own claims.
pub(crate) fn remote_manifest(remote: &Remote, month: Month, revision: u32) -> Option<Manifest> {
    remote_manifest_bytes(remote, month, revision).map(|(manifest, _)| manifest)
}

/// [`remote_manifest`] and the manifest's own bytes (kept as they are: a mirror is a copy).
fn remote_manifest_bytes(
    remote: &Remote,
    month: Month,
    revision: u32,
) -> Option<(Manifest, Vec<u8>)> {
    let body = remote.read_record(&manifest_name(month, revision)).ok()??;
    let manifest: Manifest = serde_json::from_slice(&body).ok()?;
    (manifest.month == month
        && manifest.revision == revision
        && manifest.files.keys().all(|f| is_plain_relative(f)))
    .then_some((manifest, body))
}

/// Uploads the revision whose files are in `dir` and claims a number for it on the remote: its
/// manifest's number if free, else the next free one (`manifest.revision` is set to it).
/// Returns the number claimed, or `None` when the remote could not take it.
pub(crate) fn claim(remote: &Remote, manifest: &mut Manifest, dir: &Path) -> Option<u32> {
    if !remote.writable() || !remote.is_up() {
        return None;
    }
    // The build's own stage uploads may still be on their way: let them land first.
    remote.wait_uploads();
    for (file, entry) in &manifest.files {
        let name = object_name(&entry.blake3);
        if remote.exists(&name).ok()? {
            continue;
        }
        let bytes = std::fs::read(dir.join(file)).ok()?;
        remote.write_if_absent(&name, &bytes).ok()?;
    }
    for _ in 0..CLAIM_TRIES {
        let body = serde_json::to_vec_pretty(&*manifest).unwrap_or_default();
        match remote
            .create_record(&manifest_name(manifest.month, manifest.revision), &body)
            .ok()?
        {
            Written::Created => return Some(manifest.revision),
            Written::AlreadyThere => {
                let taken = remote_revisions(remote, manifest.month);
                manifest.revision = taken
                    .last()
                    .map_or(manifest.revision, |r| r + 1)
                    .max(manifest.revision + 1);
            }
        }
    }
    None
}

/// What mirroring the remote's archive into `archive/` did.
#[derive(Debug, Default)]
pub(crate) struct Mirrored {
    pub(crate) revisions: Vec<(Month, u32)>,
    /// Revisions whose number holds another build here than on the remote.
    pub(crate) conflicts: Vec<(Month, u32)>,
    /// Revisions the remote lists but could not hand over whole (missing or damaged objects).
    pub(crate) incomplete: Vec<(Month, u32)>,
}

/// Copies every revision the remote holds (of `months`, or all) and this machine lacks into
/// `archive/`, verified. Nothing when there is no remote or it is unreachable.
pub(crate) fn mirror(project: &Project, remote: &Remote, months: Option<&[Month]>) -> Mirrored {
    let mut mirrored = Mirrored::default();
    if !remote.is_up() {
        return mirrored;
    }
    for (month, revision) in remote_archive(remote) {
        if months.is_some_and(|wanted| !wanted.contains(&month)) {
            continue;
        }
        let local: BTreeSet<u32> = revisions(project, month).into_iter().collect();
        if local.contains(&revision) {
            let differs = remote_manifest(remote, month, revision)
                .zip(read_manifest(project, month, revision).ok())
                .is_some_and(|(theirs, ours)| theirs.content != ours.content);
            if differs {
                mirrored.conflicts.push((month, revision));
            }
            continue;
        }
        match mirror_revision(project, remote, month, revision) {
            Ok(()) => mirrored.revisions.push((month, revision)),
            Err(_) => mirrored.incomplete.push((month, revision)),
        }
    }
    mirrored
}

pub(super) fn mirror_revision(
    project: &Project,
    remote: &Remote,
    month: Month,
    revision: u32,
) -> Result<(), ArchiveError> {
    let incomplete = |message: &str| ArchiveError::Write {
        path: project.relative(&revision_dir(project, month, revision)),
        message: message.to_string(),
    };
    let (manifest, body) = remote_manifest_bytes(remote, month, revision)
        .ok_or_else(|| incomplete("no usable manifest"))?;
    let month_dir = month_dir(project, month);
    std::fs::create_dir_all(&month_dir).map_err(|e| incomplete(&e.to_string()))?;
    sweep_temp_dirs(&month_dir);
    let temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(&month_dir)
        .map_err(|e| incomplete(&e.to_string()))?;
    for (file, entry) in &manifest.files {
        let bytes = remote
            .read(&object_name(&entry.blake3))
            .ok()
            .flatten()
            .filter(|bytes| ObjectHash::of(bytes) == entry.blake3)
            .ok_or_else(|| incomplete(&format!("`{file}` is missing or damaged on the remote")))?;
        remote.count_fetch(bytes.len() as u64);
        let path = temp.path().join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| incomplete(&e.to_string()))?;
        }
        std::fs::write(&path, &bytes).map_err(|e| incomplete(&e.to_string()))?;
    }
    std::fs::write(temp.path().join(MANIFEST), body).map_err(|e| incomplete(&e.to_string()))?;
    let temp_path = temp.keep();
    if let Err(e) = std::fs::rename(&temp_path, revision_dir(project, month, revision)) {
        let _ = std::fs::remove_dir_all(&temp_path);
        return Err(incomplete(&e.to_string()));
    }
    Ok(())
}

/// What pushing the local archive did: each revision uploaded, with its number on the remote.
#[derive(Debug, Default)]
pub(crate) struct Pushed {
    pub(crate) uploaded: Vec<(Month, u32, u32)>,
    pub(crate) already: usize,
    pub(crate) failed: Vec<(Month, u32)>,
}

/// Uploads every local revision (of `months`, or all) that the remote lacks.
pub(crate) fn push(project: &Project, remote: &Remote, months: Option<&[Month]>) -> Pushed {
    let mut pushed = Pushed::default();
    for month in super::months(project) {
        if months.is_some_and(|wanted| !wanted.contains(&month)) {
            continue;
        }
        let theirs: Vec<Manifest> = remote_revisions(remote, month)
            .into_iter()
            .filter_map(|r| remote_manifest(remote, month, r))
            .collect();
        for revision in revisions(project, month) {
            let Ok(mut manifest) = read_manifest(project, month, revision) else {
                pushed.failed.push((month, revision));
                continue;
            };
            if theirs
                .iter()
                .any(|m| m.content == manifest.content && m.revision == revision)
            {
                pushed.already += 1;
                continue;
            }
            // The local folder keeps its number and its manifest: a revision is never rewritten.
            let dir = revision_dir(project, month, revision);
            match claim(remote, &mut manifest, &dir) {
                Some(number) => pushed.uploaded.push((month, revision, number)),
                None => pushed.failed.push((month, revision)),
            }
        }
    }
    pushed
}
