//! The seam between the store's logic and where its bytes live.
//!
//! [`Backend`] is a flat namespace of named blobs (`objects/abcd…`, `stages/<key>.json`): read,
//! write (replace), write if absent, remove, list. The store's rules (objects named by their hash,
//! records written after their objects, put-if-absent for what is shared) are written once against
//! it, so a second level on object storage is another implementation, not another store.
//! [`LocalDir`] is the one in `.winebuild/v1/`; `remote::Remote` is the one on object storage.
//!
//! Rules every implementation keeps: a reader sees a whole blob or none (never half of one); a
//! name is a relative path of `/`-separated parts that the store made itself, never one read from
//! a user; [`Backend::write_if_absent`] never replaces what is there.

use std::path::{Path, PathBuf};

use crate::error::{IoAction, IoError};
use crate::files::{names_in, write_atomic_via};

/// What [`Backend::write_if_absent`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    Created,
    /// Something was already stored under that name; it was left as it was.
    AlreadyThere,
}

/// One blob of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub(crate) name: String,
    pub(crate) bytes: u64,
    /// When it was last written, when the backend knows.
    pub(crate) modified: Option<std::time::SystemTime>,
}

/// Where a store keeps its blobs.
pub(crate) trait Backend: Send + Sync {
    /// The blob's bytes, or `None` when there is none.
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, IoError>;
    /// Stores `bytes` under `name`, replacing what was there, atomically.
    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), IoError>;
    /// Stores `bytes` under `name` unless something is already there.
    fn write_if_absent(&self, name: &str, bytes: &[u8]) -> Result<Written, IoError>;
    /// Removes the blob; removing a missing one is not an error.
    fn remove(&self, name: &str) -> Result<(), IoError>;
    /// Every blob whose name starts with `prefix` (a folder, ending in `/`), sorted by name.
    fn list(&self, prefix: &str) -> Result<Vec<Listed>, IoError>;
}

/// A folder on the local file system: each blob a file, written through `tmp/` and renamed.
#[derive(Debug, Clone)]
pub(crate) struct LocalDir {
    dir: PathBuf,
    tmp: PathBuf,
}

impl LocalDir {
    pub(crate) fn new(dir: PathBuf) -> LocalDir {
        let tmp = dir.join("tmp");
        LocalDir { dir, tmp }
    }

    /// The file holding blob `name`.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The folder temp files are written in before their rename.
    pub(crate) fn tmp(&self) -> &Path {
        &self.tmp
    }

    fn ensure_parent(path: &Path) -> Result<(), IoError> {
        match path.parent() {
            Some(parent) => std::fs::create_dir_all(parent)
                .map_err(|e| IoError::new(IoAction::Create, parent, e)),
            None => Ok(()),
        }
    }
}

impl Backend for LocalDir {
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, IoError> {
        let path = self.path(name);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(IoError::read(&path, e)),
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), IoError> {
        let path = self.path(name);
        LocalDir::ensure_parent(&path)?;
        write_atomic_via(&self.tmp, &path, bytes)
    }

    fn write_if_absent(&self, name: &str, bytes: &[u8]) -> Result<Written, IoError> {
        let path = self.path(name);
        if already_there(&path)? {
            return Ok(Written::AlreadyThere);
        }
        LocalDir::ensure_parent(&path)?;
        let mut temp = crate::files::temp_builder()
            .tempfile_in(&self.tmp)
            .map_err(|e| IoError::new(IoAction::Create, &self.tmp, e))?;
        std::io::Write::write_all(&mut temp, bytes).map_err(|e| IoError::write(temp.path(), e))?;
        // A hard link fails when the name exists: two writers never replace each other.
        match temp.persist_noclobber(&path) {
            Ok(_) => Ok(Written::Created),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                already_there(&path)?;
                Ok(Written::AlreadyThere)
            }
            Err(e) => Err(IoError::write(&path, e.error)),
        }
    }

    fn remove(&self, name: &str) -> Result<(), IoError> {
        let path = self.path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(IoError::new(IoAction::Remove, &path, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<Listed>, IoError> {
        let mut listed = Vec::new();
        let folder = self.path(prefix.trim_end_matches('/'));
        if !folder.is_dir() {
            return Ok(listed);
        }
        let mut stack = vec![(folder, prefix.trim_end_matches('/').to_string())];
        while let Some((dir, name)) = stack.pop() {
            for entry in names_in(&dir, |_| true) {
                let path = dir.join(&entry);
                let child = format!("{name}/{entry}");
                match std::fs::metadata(&path) {
                    Ok(m) if m.is_dir() => stack.push((path, child)),
                    Ok(m) => listed.push(Listed {
                        name: child,
                        bytes: m.len(),
                        modified: m.modified().ok(),
                    }),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(IoError::read(&path, e)),
                }
            }
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }
}

/// Whether a file is at `path`; a folder (or anything but a file) there is an error: it is not
/// the blob, and nothing can be written in its place.
fn already_there(path: &Path) -> Result<bool, IoError> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_file() => Ok(true),
        Ok(_) => Err(IoError::write(
            path,
            std::io::Error::other("something other than a file is in its place"),
        )),
        Err(_) => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> (tempfile::TempDir, LocalDir) {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalDir::new(dir.path().join("v1"));
        std::fs::create_dir_all(local.tmp()).unwrap();
        (dir, local)
    }

    #[test]
    fn blobs_are_written_read_listed_and_removed() {
        let (_dir, local) = local();
        assert_eq!(local.read("stages/a.json").unwrap(), None);
        local.write("stages/a.json", b"1").unwrap();
        local.write("stages/a.json", b"2").unwrap();
        local.write("objects/ab/abc", b"xyz").unwrap();
        assert_eq!(local.read("stages/a.json").unwrap(), Some(b"2".to_vec()));
        let names: Vec<(String, u64)> = local
            .list("objects/")
            .unwrap()
            .into_iter()
            .map(|l| (l.name, l.bytes))
            .collect();
        assert_eq!(names, [("objects/ab/abc".to_string(), 3)]);
        local.remove("stages/a.json").unwrap();
        local.remove("stages/a.json").unwrap();
        assert_eq!(local.read("stages/a.json").unwrap(), None);
    }

    #[test]
    fn write_if_absent_never_replaces() {
        let (_dir, local) = local();
        assert_eq!(
            local.write_if_absent("archive/m.json", b"first").unwrap(),
            Written::Created
        );
        assert_eq!(
            local.write_if_absent("archive/m.json", b"second").unwrap(),
            Written::AlreadyThere
        );
        assert_eq!(
            local.read("archive/m.json").unwrap(),
            Some(b"first".to_vec())
        );
        // A folder where the blob should be is not the blob: an error naming it.
        std::fs::create_dir_all(local.path("objects/abc")).unwrap();
        let error = local.write_if_absent("objects/abc", b"xyz").unwrap_err();
        assert!(error.to_string().contains("abc"), "{error}");
        assert!(local.path("objects/abc").is_dir());
    }
}
