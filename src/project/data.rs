//! Where each month's input files are: a folder of the project (`data = "data/{month}"`), or
//! object storage (`data = "s3://bucket/exports/{month}"`), read with the same client and the
//! same environment variables as the remote store.
//!
//! Rules it keeps: the rest of winebuild sees an [`InputFile`] it can stat, read and show, never
//! where it lives; an object's version is its size, ETag and last-modified time, which change
//! with every write, so the stat cache trusts them as it trusts a file's stat; data on object
//! storage is only ever read.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::files::FileStat;
use crate::files::names_in;
use crate::month::Month;
use crate::remote::{Remote, RemoteSettings, RemoteUrl, Timeouts};

/// Where the months' folders are.
#[derive(Clone)]
pub(crate) enum DataPlace {
    /// `template` is relative to the project root and holds `{month}`.
    Folder { root: PathBuf, template: String },
    /// `template` is relative to the remote's URL (the part of `data` before `{month}`'s
    /// segment) and starts with `{month}`.
    Remote {
        remote: Arc<Remote>,
        template: String,
    },
}

impl fmt::Debug for DataPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataPlace::Folder { template, .. } => write!(f, "Folder({template})"),
            DataPlace::Remote { remote, template } => {
                write!(f, "Remote({}/{template})", remote.url())
            }
        }
    }
}

/// One input file of a month.
#[derive(Clone)]
pub(crate) enum InputFile {
    Local(PathBuf),
    Object { remote: Arc<Remote>, name: String },
}

impl DataPlace {
    /// The place `data` names: a URL (`s3://…`, `gs://…`, `az://…`, `file://…`) or a folder of
    /// the project. `None` with why when a URL cannot be one.
    pub(crate) fn new(root: &Path, data: &str) -> Result<DataPlace, String> {
        if !data.contains("://") {
            return Ok(DataPlace::Folder {
                root: root.to_path_buf(),
                template: data.to_string(),
            });
        }
        let (before, after) = data
            .split_once("{month}")
            .ok_or_else(|| "it must contain {month}".to_string())?;
        if !before.ends_with('/') || !(after.is_empty() || after.starts_with('/')) {
            return Err(
                "{month} must be a whole path segment of the URL (…/exports/{month})".into(),
            );
        }
        let url = RemoteUrl::parse(before.trim_end_matches('/')).map_err(|e| e.to_string())?;
        let settings = RemoteSettings {
            url,
            write: false,
            seal: None,
            timeouts: Timeouts::default(),
        };
        Ok(DataPlace::Remote {
            remote: Arc::new(Remote::new(settings)),
            template: format!("{{month}}{after}"),
        })
    }

    fn month_part(template: &str, month: Month) -> String {
        template.replace("{month}", &month.to_string())
    }

    /// The month folder as people see it: `data/2026-09` or `s3://bucket/exports/2026-09`.
    pub(crate) fn shown_month(&self, month: Month) -> String {
        match self {
            DataPlace::Folder { template, .. } => Self::month_part(template, month),
            DataPlace::Remote { remote, template } => {
                format!("{}/{}", remote.url(), Self::month_part(template, month))
            }
        }
    }

    /// Where the month folders are, as people see it.
    pub(crate) fn shown_parent(&self) -> String {
        match self {
            DataPlace::Folder { template, .. } => {
                template.split("{month}").next().unwrap_or("").to_string()
            }
            DataPlace::Remote { remote, .. } => remote.url().to_string(),
        }
    }

    /// The local folder of a month (`None` on object storage).
    pub(crate) fn month_dir(&self, month: Month) -> Option<PathBuf> {
        match self {
            DataPlace::Folder { root, template } => {
                Some(root.join(Self::month_part(template, month)))
            }
            DataPlace::Remote { .. } => None,
        }
    }

    /// Months that have a folder, oldest first.
    pub(crate) fn months(&self) -> Vec<Month> {
        match self {
            DataPlace::Folder { root, template } => {
                let parent = root.join(template.split("{month}").next().unwrap_or(""));
                names_in(&parent, |_| true)
                    .iter()
                    .filter_map(|name| Month::parse(name).ok())
                    .filter(|month| self.has_month(*month))
                    .collect()
            }
            DataPlace::Remote { remote, template } => {
                use crate::blobs::Backend;
                let suffix = template.trim_start_matches("{month}");
                let mut months: Vec<Month> = remote
                    .list("")
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|listed| {
                        let (first, rest) = listed.name.split_once('/')?;
                        let month = Month::parse(first).ok()?;
                        format!("/{rest}")
                            .starts_with(&format!("{suffix}/"))
                            .then_some(month)
                    })
                    .collect();
                months.dedup();
                months
            }
        }
    }

    /// Whether the month has a folder (on object storage: at least one object under it).
    pub(crate) fn has_month(&self, month: Month) -> bool {
        match self {
            DataPlace::Folder { .. } => self.month_dir(month).is_some_and(|dir| dir.is_dir()),
            DataPlace::Remote { .. } => !self.files_of(month).is_empty(),
        }
    }

    /// The names of the files in the month's folder, sorted.
    pub(crate) fn files_of(&self, month: Month) -> Vec<String> {
        match self {
            DataPlace::Folder { .. } => self
                .month_dir(month)
                .map(|dir| names_in(&dir, |_| true))
                .unwrap_or_default(),
            DataPlace::Remote { remote, template } => {
                use crate::blobs::Backend;
                let prefix = format!("{}/", Self::month_part(template, month));
                remote
                    .list(&prefix)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|l| Some(l.name.strip_prefix(&prefix)?.to_string()))
                    .filter(|name| !name.contains('/'))
                    .collect()
            }
        }
    }

    /// A file of the month.
    pub(crate) fn file(&self, month: Month, file: &str) -> InputFile {
        match self {
            DataPlace::Folder { .. } => {
                InputFile::Local(self.month_dir(month).unwrap_or_default().join(file))
            }
            DataPlace::Remote { remote, template } => InputFile::Object {
                remote: Arc::clone(remote),
                name: format!("{}/{file}", Self::month_part(template, month)),
            },
        }
    }
}

impl fmt::Debug for InputFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cache_key())
    }
}

impl InputFile {
    /// The local path, when the file is local.
    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            InputFile::Local(path) => Some(path),
            InputFile::Object { .. } => None,
        }
    }

    /// What identifies this version of the file without reading it. For an object: its size,
    /// its last-modified time as both times, and its ETag's hash in place of the inode.
    pub(crate) fn stat(&self) -> std::io::Result<FileStat> {
        match self {
            InputFile::Local(path) => FileStat::of(path),
            InputFile::Object { remote, name } => {
                let meta = remote
                    .head(name)
                    .map_err(|e| std::io::Error::other(e.to_string()))?
                    .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
                let modified_ns = meta
                    .last_modified
                    .timestamp_nanos_opt()
                    .map_or(0, i128::from);
                let etag = meta.e_tag.unwrap_or_default();
                let identity = blake3::hash(etag.as_bytes());
                let mut inode = [0u8; 8];
                inode.copy_from_slice(&identity.as_bytes()[..8]);
                Ok(FileStat {
                    size: meta.size,
                    mtime_ns: modified_ns,
                    ctime_ns: modified_ns,
                    inode: u64::from_le_bytes(inode),
                })
            }
        }
    }

    /// The file's bytes.
    pub(crate) fn read(&self) -> std::io::Result<Vec<u8>> {
        match self {
            InputFile::Local(path) => std::fs::read(path),
            InputFile::Object { remote, name } => {
                use crate::blobs::Backend;
                remote
                    .read(name)
                    .map_err(|e| std::io::Error::other(e.to_string()))?
                    .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
            }
        }
    }

    /// The key the stat cache knows it by.
    pub(crate) fn cache_key(&self) -> String {
        match self {
            InputFile::Local(path) => format!("source:{}", path.display()),
            InputFile::Object { remote, name } => format!("source:{}/{name}", remote.url()),
        }
    }

    /// How people see it: relative to the project, or its URL.
    pub(crate) fn shown(&self, root: &Path) -> String {
        match self {
            InputFile::Local(path) => crate::files::relative(root, path).display().to_string(),
            InputFile::Object { remote, name } => format!("{}/{name}", remote.url()),
        }
    }
}
