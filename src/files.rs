//! Small file-system helpers every module shares: listing a folder, sizing one, writing a file
//! so that readers never see half of it, and showing paths relative to the project.
//!
//! Rules it keeps: listings are sorted, so output and archives never depend on directory order;
//! a folder that cannot be read lists as empty (callers that must tell the difference read it
//! themselves); [`write_atomic`] writes a temp file beside its destination and renames it, so the
//! destination is the old file or the new one, never a mix, whatever file system it is on.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::error::{IoAction, IoError};

/// `path` relative to `root` when it is inside it, for messages.
pub(crate) fn relative(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

/// The names of the entries of `dir` that pass `keep`, sorted; none when `dir` cannot be read.
pub(crate) fn names_in(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| keep(&e.path()))
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The paths of the entries of `dir` that pass `keep`, sorted; none when `dir` cannot be read.
pub(crate) fn paths_in(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    names_in(dir, keep)
        .into_iter()
        .map(|n| dir.join(n))
        .collect()
}

/// Every file under `dir`, as paths relative to it with `/` separators, sorted.
pub(crate) fn files_under(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for name in names_in(dir, |_| true) {
            let relative = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let path = dir.join(&name);
            if path.is_dir() {
                walk(&path, &relative, out);
            } else {
                out.push(relative);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out);
    out.sort();
    out
}

/// The total size of the files under `dir`.
pub(crate) fn dir_size(dir: &Path) -> u64 {
    files_under(dir)
        .iter()
        .filter_map(|file| std::fs::metadata(dir.join(file)).ok())
        .map(|m| m.len())
        .sum()
}

/// Writes `bytes` to `dest` through a temp file in `temp_dir` and a rename; `temp_dir` must be on
/// the same file system as `dest` (the destination's own folder always is).
pub(crate) fn write_atomic_via(temp_dir: &Path, dest: &Path, bytes: &[u8]) -> Result<(), IoError> {
    std::fs::create_dir_all(temp_dir).map_err(|e| IoError::new(IoAction::Create, temp_dir, e))?;
    let mut temp = temp_builder()
        .tempfile_in(temp_dir)
        .map_err(|e| IoError::new(IoAction::Create, temp_dir, e))?;
    temp.write_all(bytes)
        .map_err(|e| IoError::write(temp.path(), e))?;
    // No fsync: a killed process cannot lose written pages, and after a power cut a truncated
    // object fails its hash check and is rebuilt, a truncated record fails to parse and counts
    // as missing. Two fsyncs per stage would cost more than most stages take to run.
    move_into_place(temp, dest)
}

/// Moves a complete temp file to `dest`. A regular file already at `dest` is swapped with it in
/// one step (`renameat2` with `RENAME_EXCHANGE`), and the old content goes with the temp name:
/// renaming over an existing file makes ext4 write the new file's data out before it returns
/// (its `auto_da_alloc` guard, 0.15 ms a file; a no-op build replaces two), a guarantee this
/// store does not rely on (see above). Either way a reader sees the old file or the new one.
fn move_into_place(temp: tempfile::NamedTempFile, dest: &Path) -> Result<(), IoError> {
    #[cfg(target_os = "linux")]
    if std::fs::symlink_metadata(dest).is_ok_and(|m| m.file_type().is_file()) {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        if renameat_with(CWD, temp.path(), CWD, dest, RenameFlags::EXCHANGE).is_ok() {
            // The temp name now holds the old content; dropping the temp file deletes it.
            drop(temp);
            return Ok(());
        }
        // Gone since, or a file system without exchange: a plain rename does the same.
    }
    temp.persist(dest)
        .map_err(|e| IoError::write(dest, e.error))?;
    Ok(())
}

/// A temp file named `.winebuild-…`, created with the mode any new file gets (0666 less the
/// umask, as `std::fs::write` does), not a temp file's private 0600: what is renamed into place
/// is a report people open.
pub(crate) fn temp_builder() -> tempfile::Builder<'static, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".winebuild-");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder
}

/// Writes `bytes` to `dest` through a temp file in the destination's folder (created if needed)
/// and a rename.
pub(crate) fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<(), IoError> {
    let folder = match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    write_atomic_via(folder, dest, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_replace_whole_files_and_leave_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out/2026-09/report.csv");
        write_atomic(&dest, b"a\n").unwrap();
        write_atomic(&dest, b"b\n").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"b\n");
        assert_eq!(
            names_in(&dir.path().join("out/2026-09"), |_| true),
            ["report.csv"]
        );
        assert_eq!(files_under(dir.path()), ["out/2026-09/report.csv"]);
        assert_eq!(dir_size(dir.path()), 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
            assert_ne!(mode, 0o600, "written with a temp file's private mode");
        }
    }

    #[test]
    fn only_a_file_is_replaced_never_a_folder_in_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("report.csv");
        std::fs::create_dir(&dest).unwrap();
        std::fs::write(dest.join("kept.txt"), b"mine").unwrap();
        let err = write_atomic(&dest, b"a\n").unwrap_err();
        assert!(err.to_string().contains("report.csv"), "{err}");
        assert_eq!(std::fs::read(dest.join("kept.txt")).unwrap(), b"mine");
        assert_eq!(names_in(dir.path(), |_| true), ["report.csv"]);
    }
}

/// What identifies one version of a file without reading it, as git's index keeps it: size,
/// mtime, ctime and inode (see `store::statcache` for when it can be trusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStat {
    pub(crate) size: u64,
    pub(crate) mtime_ns: i128,
    pub(crate) ctime_ns: i128,
    pub(crate) inode: u64,
}

impl FileStat {
    pub(crate) fn of(path: &Path) -> std::io::Result<FileStat> {
        let metadata = std::fs::metadata(path)?;
        let mtime_ns = metadata
            .modified()?
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        Ok(FileStat {
            size: metadata.len(),
            mtime_ns,
            ctime_ns: ctime_ns(&metadata),
            inode: inode(&metadata),
        })
    }
}

#[cfg(unix)]
fn inode(metadata: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(metadata)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

#[cfg(unix)]
fn ctime_ns(metadata: &std::fs::Metadata) -> i128 {
    use std::os::unix::fs::MetadataExt;
    i128::from(metadata.ctime()) * 1_000_000_000 + i128::from(metadata.ctime_nsec())
}

/// Without a ctime, the creation time stands in (or nothing): the mtime rule still holds.
#[cfg(not(unix))]
fn ctime_ns(metadata: &std::fs::Metadata) -> i128 {
    metadata
        .created()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128)
}
