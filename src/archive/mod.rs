//! Monthly archives: `archive/<month>/r<N>/`, one immutable revision per distinct successful build.
//!
//! Layout of a revision:
//! ```text
//! archive/2026-09/r1/manifest.json        what was built, from what, with which checks
//! archive/2026-09/r1/models/<model>.parquet
//! archive/2026-09/r1/exports/<file>       rapport_ca.xlsx, vins_premium.csv, …
//! ```
//! Rules it keeps:
//! - self-contained: a revision holds its outputs' files (hard links to the store's objects where
//!   the file system allows, which are never written in place; copies elsewhere), so deleting
//!   `.winebuild/` loses nothing archived; the manifest lists every file with its size and blake3
//!   for `verify`;
//! - immutable: a revision is written in a temp folder and renamed into place under a new number;
//!   nothing ever writes into an existing revision, so a rebuild never overwrites history;
//! - a build whose sources and outputs equal the latest revision's creates nothing;
//! - only a complete, successful build is archived (the caller decides; see `build`).

pub(crate) mod shared;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checks::CheckResult;
use crate::error::Hint;
use crate::files::{files_under, names_in};
use crate::graph::StageKind;
use crate::month::Month;
use crate::project::{Project, join_months};
use crate::store::{LinkError, ObjectHash, StageKey, Store, TOOL_VERSION};
use crate::table::{ColumnInfo, Table};

/// The archive folder at the project root.
pub(crate) const ARCHIVE_DIR: &str = "archive";
const MANIFEST: &str = "manifest.json";

#[derive(Debug, thiserror::Error)]
pub(crate) enum ArchiveError {
    #[error("archive: cannot write `{path}`: {message}")]
    Write { path: PathBuf, message: String },
    #[error("no archived month `{month}`")]
    NoMonth { month: Month, available: Vec<Month> },
    #[error("month `{month}` has no revision r{revision}")]
    NoRevision { month: Month, revision: u32 },
    #[error("`{path}` is not a readable manifest: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("archived file `{path}` is missing or changed since it was archived")]
    Tampered { path: PathBuf },
    #[error("archived model `{model}` of {month} r{revision} cannot be read: {message}")]
    Unreadable {
        model: String,
        month: Month,
        revision: u32,
        message: String,
    },
    #[error(
        "stored output `{object}` of `{stage}` is missing or corrupt, so it cannot be archived"
    )]
    MissingObject { stage: String, object: ObjectHash },
}

impl Hint for ArchiveError {
    fn hint(&self) -> Option<String> {
        match self {
            ArchiveError::Write { .. } => {
                Some("check the permissions and free space of the archive folder".into())
            }
            ArchiveError::NoMonth { available, .. } if !available.is_empty() => {
                Some(format!("archived months: {}", join_months(available)))
            }
            ArchiveError::NoMonth { .. } => Some(
                "a successful `winebuild build` archives its month; `winebuild archive list` shows them"
                    .into(),
            ),
            ArchiveError::NoRevision { month, .. } => {
                Some(format!("`winebuild archive show {month}` lists its revisions"))
            }
            ArchiveError::Manifest { .. } | ArchiveError::Tampered { .. } => Some(
                "`winebuild archive verify` names every changed file; rebuild the month to archive a fresh revision"
                    .into(),
            ),
            ArchiveError::Unreadable { .. } => {
                Some("`winebuild archive verify` checks every archived file".into())
            }
            ArchiveError::MissingObject { .. } => {
                Some("build the month again: a damaged object is rebuilt".into())
            }
        }
    }
}

/// One input file of the archived build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SourceFile {
    pub(crate) source: String,
    pub(crate) file: String,
    pub(crate) bytes: u64,
    pub(crate) blake3: ObjectHash,
}

/// One stage of the archived build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ArchivedStage {
    pub(crate) stage: String,
    pub(crate) kind: StageKind,
    pub(crate) key: StageKey,
    /// blake3 of the stage's output object.
    pub(crate) output: ObjectHash,
    pub(crate) rows: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) columns: Vec<ColumnInfo>,
    /// The model's key columns when it was built (used by `diff`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) key_columns: Vec<String>,
    /// The file holding the output in the revision (models and exports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) file: Option<String>,
}

/// A file of the revision, for `verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FileEntry {
    pub(crate) bytes: u64,
    pub(crate) blake3: ObjectHash,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) project: String,
    pub(crate) month: Month,
    pub(crate) revision: u32,
    pub(crate) winebuild_version: String,
    pub(crate) built_at: String,
    pub(crate) run_id: String,
    /// blake3 over the sources' hashes and the stages' outputs: equal content, equal hash.
    pub(crate) content: ObjectHash,
    pub(crate) sources: Vec<SourceFile>,
    pub(crate) stages: Vec<ArchivedStage>,
    pub(crate) checks: Vec<CheckResult>,
    /// Every file of the revision but the manifest, by path relative to the revision folder.
    pub(crate) files: BTreeMap<String, FileEntry>,
}

impl Manifest {
    pub(crate) fn stage(&self, name: &str) -> Option<&ArchivedStage> {
        self.stages.iter().find(|s| s.stage == name)
    }

    pub(crate) fn models(&self) -> impl Iterator<Item = &ArchivedStage> {
        self.stages.iter().filter(|s| s.kind == StageKind::Model)
    }
}

/// What a successful build hands over to be archived.
pub(crate) struct BuildToArchive<'a> {
    pub(crate) month: Month,
    pub(crate) run_id: &'a str,
    pub(crate) built_at: &'a str,
    pub(crate) sources: Vec<SourceFile>,
    pub(crate) stages: Vec<ArchivedStage>,
    pub(crate) checks: Vec<CheckResult>,
}

/// What archiving did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "archive", rename_all = "lowercase")]
pub(crate) enum Archived {
    /// A new revision was written; `repairs` names the revision it replaces when that one held
    /// the same build but no longer verified.
    Created {
        path: String,
        revision: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repairs: Option<u32>,
    },
    /// The latest revision already holds exactly this build.
    Unchanged { path: String, revision: u32 },
}

impl Archived {
    /// The revision's folder, relative to the project.
    pub(crate) fn path(&self) -> &str {
        match self {
            Archived::Created { path, .. } | Archived::Unchanged { path, .. } => path,
        }
    }

    /// `created` or `unchanged`, as the run record says it.
    pub(crate) fn word(&self) -> &'static str {
        match self {
            Archived::Created { .. } => "created",
            Archived::Unchanged { .. } => "unchanged",
        }
    }
}

pub(crate) fn archive_root(project: &Project) -> PathBuf {
    project.root.join(ARCHIVE_DIR)
}

fn month_dir(project: &Project, month: Month) -> PathBuf {
    archive_root(project).join(month.to_string())
}

fn revision_dir(project: &Project, month: Month, revision: u32) -> PathBuf {
    month_dir(project, month).join(format!("r{revision}"))
}

fn content_hash(sources: &[SourceFile], stages: &[ArchivedStage]) -> ObjectHash {
    let sources: BTreeMap<&str, &ObjectHash> = sources
        .iter()
        .map(|s| (s.file.as_str(), &s.blake3))
        .collect();
    let stages: BTreeMap<&str, &ObjectHash> = stages
        .iter()
        .map(|s| (s.stage.as_str(), &s.output))
        .collect();
    let encoded = serde_json::to_vec(&serde_json::json!({"sources": sources, "stages": stages}))
        .unwrap_or_default();
    ObjectHash::of(&encoded)
}

/// Archives a successful build as a new revision of its month, unless the latest revision holds
/// the same content. Call with the build lock held.
pub(crate) fn archive_build(
    project: &Project,
    store: &Store,
    build: BuildToArchive<'_>,
    hash: HashFile<'_>,
) -> Result<Archived, ArchiveError> {
    let content = content_hash(&build.sources, &build.stages);
    let revisions = revisions(project, build.month);
    let shown = |revision: u32| {
        project
            .relative(&revision_dir(project, build.month, revision))
            .display()
            .to_string()
    };
    let mut repairs = None;
    if let Some(&latest) = revisions.last()
        && let Ok(manifest) = read_manifest(project, build.month, latest)
        && manifest.content == content
        && same_keys(&manifest.stages, &build.stages)
    {
        if revision_problems(project, &manifest, hash).is_empty() {
            return Ok(Archived::Unchanged {
                path: shown(latest),
                revision: latest,
            });
        }
        // It holds this build but no longer verifies: a fresh revision takes its place, and the
        // damaged one stays as evidence.
        repairs = Some(latest);
    }
    // The remote's numbers count too, so revisions stay one history across machines; and a
    // build another machine archived already is mirrored, not archived twice.
    let remote = store.remote().filter(|remote| remote.is_up());
    let remote_revisions =
        remote.map_or_else(Vec::new, |r| shared::remote_revisions(r, build.month));
    if let Some(remote) = remote
        && let Some(&theirs) = remote_revisions.last()
        && revisions.last().is_none_or(|&ours| theirs > ours)
        && shared::remote_manifest(remote, build.month, theirs)
            .is_some_and(|m| m.content == content && same_keys(&m.stages, &build.stages))
        && shared::mirror_revision(project, remote, build.month, theirs).is_ok()
    {
        return Ok(Archived::Unchanged {
            path: shown(theirs),
            revision: theirs,
        });
    }
    let mut revision = revisions
        .last()
        .into_iter()
        .chain(remote_revisions.last())
        .max()
        .map_or(1, |r| r + 1);
    let month_dir = month_dir(project, build.month);
    let write_error = |path: &Path, e: std::io::Error| ArchiveError::Write {
        path: project.relative(path),
        message: e.to_string(),
    };
    std::fs::create_dir_all(&month_dir).map_err(|e| write_error(&month_dir, e))?;
    sweep_temp_dirs(&month_dir);
    let temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(&month_dir)
        .map_err(|e| write_error(&month_dir, e))?;
    let files = copy_outputs(store, &build.stages, temp.path(), &write_error)?;
    let stages = build.stages;
    let mut manifest = Manifest {
        project: project.name.clone(),
        month: build.month,
        revision,
        winebuild_version: TOOL_VERSION.to_string(),
        built_at: build.built_at.to_string(),
        run_id: build.run_id.to_string(),
        content,
        sources: build.sources,
        stages,
        checks: build.checks,
        files,
    };
    if let Some(remote) = remote
        && let Some(claimed) = shared::claim(remote, &mut manifest, temp.path())
    {
        revision = claimed;
    }
    let manifest_path = temp.path().join(MANIFEST);
    let bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    std::fs::write(&manifest_path, bytes).map_err(|e| write_error(&manifest_path, e))?;
    let dest = revision_dir(project, build.month, revision);
    let temp_path = temp.keep();
    // A rename onto an existing non-empty folder fails: an earlier revision is never replaced.
    if let Err(e) = std::fs::rename(&temp_path, &dest) {
        let _ = std::fs::remove_dir_all(&temp_path);
        return Err(write_error(&dest, e));
    }
    Ok(Archived::Created {
        path: shown(revision),
        revision,
        repairs,
    })
}

/// Copies each stage's output that the revision keeps into `dir`; returns the files written.
fn copy_outputs(
    store: &Store,
    stages: &[ArchivedStage],
    dir: &Path,
    write_error: &(dyn Fn(&Path, std::io::Error) -> ArchiveError + Sync),
) -> Result<BTreeMap<String, FileEntry>, ArchiveError> {
    use rayon::prelude::*;
    let copied: Vec<(&ArchivedStage, &String)> = stages
        .iter()
        .filter_map(|stage| Some((stage, stage.file.as_ref()?)))
        .collect();
    for (_, file) in &copied {
        if let Some(parent) = dir.join(file).parent() {
            std::fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
        }
    }
    // Hard links where the file system allows (see `Store::link_object`), otherwise copies; each
    // object is verified first (hashed, when it was just written). On every core for a big month,
    // where hashing dominates and the build waits for its archive; on this thread for a small
    // one, where starting the thread pool cost more than the work.
    let link = |&(stage, file): &(&ArchivedStage, &String)| {
        let path = dir.join(file);
        let bytes = store
            .link_object(&stage.output, &path)
            .map_err(|e| match e {
                LinkError::Unusable => ArchiveError::MissingObject {
                    stage: stage.stage.clone(),
                    object: stage.output.clone(),
                },
                LinkError::Write(e) => write_error(&path, e),
            })?;
        let entry = FileEntry {
            bytes,
            blake3: stage.output.clone(),
        };
        Ok((file.clone(), entry))
    };
    let rows: u64 = copied.iter().map(|(stage, _)| stage.rows).sum();
    if rows < crate::table::PARALLEL_FROM_ROWS as u64 * 2 {
        return copied.iter().map(link).collect();
    }
    copied.par_iter().map(link).collect()
}

/// Whether every model has the same key columns in both: a fixed `key` changes how `diff`
/// matches rows, so it is a new revision even when no output changed.
fn same_keys(archived: &[ArchivedStage], built: &[ArchivedStage]) -> bool {
    let keys = |stages: &[ArchivedStage]| -> BTreeMap<String, Vec<String>> {
        stages
            .iter()
            .map(|s| (s.stage.clone(), s.key_columns.clone()))
            .collect()
    };
    keys(archived) == keys(built)
}

/// Removes revisions left half-written by a killed build.
fn sweep_temp_dirs(month_dir: &Path) {
    for name in names_in(month_dir, |_| true) {
        if name.starts_with(".tmp-") {
            let _ = std::fs::remove_dir_all(month_dir.join(name));
        }
    }
}

/// Archived months, oldest first.
pub(crate) fn months(project: &Project) -> Vec<Month> {
    names_in(&archive_root(project), std::path::Path::is_dir)
        .iter()
        .filter_map(|name| Month::parse(name).ok())
        .filter(|month| !revisions(project, *month).is_empty())
        .collect()
}

/// A month's revision numbers, oldest first.
pub(crate) fn revisions(project: &Project, month: Month) -> Vec<u32> {
    let mut revisions: Vec<u32> = names_in(&month_dir(project, month), std::path::Path::is_dir)
        .iter()
        .filter_map(|name| name.strip_prefix('r')?.parse().ok())
        .collect();
    revisions.sort_unstable();
    revisions
}

pub(crate) fn read_manifest(
    project: &Project,
    month: Month,
    revision: u32,
) -> Result<Manifest, ArchiveError> {
    let path = revision_dir(project, month, revision).join(MANIFEST);
    let shown = project.relative(&path);
    let bytes = std::fs::read(&path).map_err(|e| ArchiveError::Manifest {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ArchiveError::Manifest {
        path: shown,
        message: e.to_string(),
    })
}

/// Parses `2026-10` (the latest revision) or `2026-10@r2`.
pub(crate) fn parse_revision_ref(given: &str) -> Option<(Month, Option<u32>)> {
    let (month, revision) = match given.split_once('@') {
        Some((month, revision)) => {
            let number = revision.strip_prefix('r').unwrap_or(revision);
            (month, Some(number.parse().ok()?))
        }
        None => (given, None),
    };
    Some((Month::parse(month).ok()?, revision))
}

/// The manifest of `month`'s latest revision, or of `revision` when given.
pub(crate) fn manifest(
    project: &Project,
    month: Month,
    revision: Option<u32>,
) -> Result<Manifest, ArchiveError> {
    let revisions = revisions(project, month);
    let Some(&latest) = revisions.last() else {
        return Err(ArchiveError::NoMonth {
            month,
            available: months(project),
        });
    };
    let revision = revision.unwrap_or(latest);
    if !revisions.contains(&revision) {
        return Err(ArchiveError::NoRevision { month, revision });
    }
    read_manifest(project, month, revision)
}

/// An archived model's output, verified against the manifest.
pub(crate) fn read_model(
    project: &Project,
    manifest: &Manifest,
    model: &str,
) -> Result<Table, ArchiveError> {
    let unreadable = |message: String| ArchiveError::Unreadable {
        model: model.to_string(),
        month: manifest.month,
        revision: manifest.revision,
        message,
    };
    let stage = manifest
        .stage(model)
        .ok_or_else(|| unreadable("not in the manifest".into()))?;
    let file = stage
        .file
        .as_ref()
        .filter(|file| is_plain_relative(file))
        .ok_or_else(|| unreadable("no archived file inside the revision".into()))?;
    let path = revision_dir(project, manifest.month, manifest.revision).join(file);
    let bytes = std::fs::read(&path).map_err(|e| unreadable(e.to_string()))?;
    if ObjectHash::of(&bytes) != stage.output {
        return Err(ArchiveError::Tampered {
            path: project.relative(&path),
        });
    }
    // Whole columns in one batch: `diff` compares them row by row without copying.
    Table::from_parquet_in_batches_of(bytes, 1 << 22).map_err(|e| unreadable(e.to_string()))
}

/// One problem `verify` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[expect(
    clippy::struct_field_names,
    reason = "`problem` is what the JSON of `archive verify` has always called it"
)]
pub(crate) struct Problem {
    pub(crate) month: Month,
    pub(crate) revision: u32,
    pub(crate) file: String,
    pub(crate) problem: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct VerifyReport {
    pub(crate) revisions: usize,
    pub(crate) files: usize,
    pub(crate) problems: Vec<Problem>,
}

/// Re-hashes every file of every revision of `month` (all months when absent).
pub(crate) fn verify(
    project: &Project,
    month: Option<Month>,
) -> Result<VerifyReport, ArchiveError> {
    let months = match month {
        Some(month) => {
            if revisions(project, month).is_empty() {
                return Err(ArchiveError::NoMonth {
                    month,
                    available: months(project),
                });
            }
            vec![month]
        }
        None => months(project),
    };
    let mut report = VerifyReport {
        revisions: 0,
        files: 0,
        problems: Vec::new(),
    };
    for &month in &months {
        for revision in revisions(project, month) {
            report.revisions += 1;
            let problem = |file: &str, problem: String| Problem {
                month,
                revision,
                file: file.to_string(),
                problem,
            };
            let manifest = match read_manifest(project, month, revision) {
                Ok(manifest) => manifest,
                Err(e) => {
                    report.problems.push(problem(MANIFEST, e.to_string()));
                    continue;
                }
            };
            report.files += manifest.files.len();
            let problems = revision_problems(project, &manifest, &read_and_hash);
            report.problems.extend(
                problems
                    .into_iter()
                    .map(|(file, what)| problem(&file, what)),
            );
        }
    }
    Ok(report)
}

/// A file's size and content hash, however they are found: read whole (`verify`), or through
/// the store's stat cache (a build deciding whether its revision still holds, `diff`).
pub(crate) type HashFile<'a> = &'a dyn Fn(&Path) -> std::io::Result<(u64, ObjectHash)>;

/// Reads a file whole and hashes it.
pub(crate) fn read_and_hash(path: &Path) -> std::io::Result<(u64, ObjectHash)> {
    let bytes = std::fs::read(path)?;
    Ok((bytes.len() as u64, ObjectHash::of(&bytes)))
}

/// What is wrong with a revision's files: each one missing, changed or not listed, with why.
pub(crate) fn revision_problems(
    project: &Project,
    manifest: &Manifest,
    hash: HashFile<'_>,
) -> Vec<(String, String)> {
    let dir = revision_dir(project, manifest.month, manifest.revision);
    let mut problems = Vec::new();
    for (file, entry) in &manifest.files {
        if !is_plain_relative(file) {
            problems.push((file.clone(), "names a file outside the revision".into()));
            continue;
        }
        match hash(&dir.join(file)) {
            Err(_) => problems.push((file.clone(), "missing".into())),
            Ok((bytes, _)) if bytes != entry.bytes => problems.push((
                file.clone(),
                format!("{bytes} bytes, archived with {}", entry.bytes),
            )),
            Ok((_, blake3)) if blake3 != entry.blake3 => {
                problems.push((file.clone(), "content changed (blake3 differs)".into()));
            }
            Ok(_) => {}
        }
    }
    let listed: BTreeSet<&String> = manifest.files.keys().collect();
    for extra in files_under(&dir) {
        if extra != MANIFEST && !listed.contains(&extra) {
            problems.push((extra, "not listed in the manifest".into()));
        }
    }
    problems
}

/// A path inside its folder: relative, with no `..`, no root and no drive.
pub(crate) fn is_plain_relative(file: &str) -> bool {
    let path = Path::new(file);
    !file.is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// Store objects the archive also holds: `gc` keeps them, so an archived month stays cheap to
/// rebuild and to compare against.
pub(crate) fn pinned_objects(project: &Project) -> BTreeSet<ObjectHash> {
    let mut objects = BTreeSet::new();
    for month in months(project) {
        for revision in revisions(project, month) {
            if let Ok(manifest) = read_manifest(project, month, revision) {
                objects.extend(manifest.stages.into_iter().map(|s| s.output));
            }
        }
    }
    objects
}
