//! The content-addressed store in `.winebuild/` at the project root.
//!
//! Layout (the format version is in the path, so an incompatible winebuild never misreads it):
//! ```text
//! .winebuild/lock                      held by the running build
//! .winebuild/v1/objects/ab/abcd…       stage outputs, named by the blake3 of their bytes
//! .winebuild/v1/stages/<key>.json      stage key → object, rows, columns, duration, warnings
//! .winebuild/v1/months/<month>.json    each stage's current key, fingerprint and record, and its
//!                                      checks' results: the index a no-op build reads instead of
//!                                      one record and one result file per stage and check
//! .winebuild/v1/checks/<key>.json      check key → check result
//! .winebuild/v1/statcache.json         path → (size, mtime, inode, hash)
//! .winebuild/v1/runs.jsonl             one run record per build, appended
//! .winebuild/v1/tmp/                   files being written
//! ```
//! Rules it keeps:
//! - every file is written to `tmp/` and renamed into place, objects before the records naming
//!   them: a killed build leaves at most stray temp files, never a half object a build would trust
//!   (files are not fsynced: what a power cut could truncate fails verification and is rebuilt);
//! - an object is trusted only if its bytes hash to its name ([`Store::read_object`]), or its stat
//!   matches the one recorded when it was last verified; a corrupt object is deleted and reported;
//! - records are written only for stages that succeeded, so failures are never reused.

pub mod key;
pub mod lock;
pub mod statcache;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::graph::StageKind;
use crate::table::ColumnInfo;
pub use key::{Fingerprint, STORE_FORMAT, TOOL_VERSION};
pub use lock::BuildLock;
use statcache::{FileStat, StatCache};

/// The store folder at the project root.
pub const STORE_DIR: &str = ".winebuild";

/// The folders of a store version.
const SUBDIRS: [&str; 5] = ["objects", "stages", "months", "checks", "tmp"];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: cannot access `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl StoreError {
    pub fn io(path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn hint(&self) -> Option<String> {
        Some(format!(
            "check the permissions and free space of `{STORE_DIR}`; `winebuild clean` starts it afresh"
        ))
    }
}

/// What the store knows of one successful stage run, under its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    pub stage: String,
    pub kind: StageKind,
    pub key: String,
    pub object: String,
    pub bytes: u64,
    pub rows: u64,
    pub columns: Vec<ColumnInfo>,
    pub duration_ms: f64,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// The last successful state of one stage for one month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthEntry {
    pub key: String,
    pub fingerprint: Fingerprint,
    pub object: String,
    pub rows: u64,
    /// A copy of the stage record under `key`, so a no-op build need not open it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<StageRecord>,
    /// The stage's check results by check key, copies of the check cache's files for the same
    /// reason (kept as JSON: checks are a later stage of the build than the store).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, serde_json::Value>,
}

pub type MonthState = BTreeMap<String, MonthEntry>;

/// A corrupt object found while checking the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Corruption {
    pub object: String,
}

pub struct Store {
    root: PathBuf,
    dir: PathBuf,
    pub statcache: StatCache,
}

impl Store {
    /// Opens (creating if needed) the store of the project at `project_root`.
    pub fn open(project_root: &Path) -> Result<Store, StoreError> {
        let root = project_root.join(STORE_DIR);
        let dir = root.join(format!("v{STORE_FORMAT}"));
        for sub in SUBDIRS {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|e| StoreError::io(&path, e))?;
        }
        let statcache = read_json(&dir.join("statcache.json")).unwrap_or_default();
        Ok(Store {
            root,
            dir,
            statcache,
        })
    }

    pub fn lock(&self, on_wait: impl FnOnce()) -> Result<BuildLock, StoreError> {
        BuildLock::acquire(&self.root.join("lock"), on_wait)
    }

    pub fn object_path(&self, object: &str) -> PathBuf {
        let prefix = object.get(..2).unwrap_or("xx");
        self.dir.join("objects").join(prefix).join(object)
    }

    fn stage_path(&self, key: &str) -> PathBuf {
        self.dir.join("stages").join(format!("{key}.json"))
    }

    fn month_path(&self, month: &str) -> PathBuf {
        self.dir.join("months").join(format!("{month}.json"))
    }

    pub fn runs_path(&self) -> PathBuf {
        self.dir.join("runs.jsonl")
    }

    /// Writes `bytes` to `dest` through a temp file and a rename.
    pub fn write_atomic(&self, dest: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        write_atomic(&self.dir.join("tmp"), dest, bytes)
    }

    /// Stores `bytes` as an object named by their hash; returns the name.
    pub fn put_object(&mut self, bytes: &[u8]) -> Result<String, StoreError> {
        let object = statcache::hash_bytes(bytes);
        let path = self.object_path(&object);
        if !self.object_is_intact(&object) {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
            }
            self.write_atomic(&path, bytes)?;
            let stat = FileStat::of(&path).map_err(|e| StoreError::io(&path, e))?;
            self.statcache.record(
                &object_cache_key(&object),
                stat,
                &object,
                statcache::now_ns(),
            );
        }
        Ok(object)
    }

    /// True when the object exists and its bytes hash to its name (trusting the stat cache when it
    /// can). A corrupt object is deleted, so it is rebuilt and never read.
    pub fn object_is_intact(&mut self, object: &str) -> bool {
        self.check_object(object) == Ok(true)
    }

    /// Like [`Store::object_is_intact`], but tells a missing object (`Ok(false)`) from a corrupt
    /// one, which it deletes.
    pub fn check_object(&mut self, object: &str) -> Result<bool, Corruption> {
        let path = self.object_path(object);
        match self.statcache.hash(&object_cache_key(object), &path) {
            Ok((hash, _)) if hash == object => Ok(true),
            Ok(_) => {
                let _ = std::fs::remove_file(&path);
                self.statcache.forget(&object_cache_key(object));
                Err(Corruption {
                    object: object.to_string(),
                })
            }
            Err(_) => Ok(false),
        }
    }

    /// The object's bytes, verified against its name.
    pub fn read_object(&self, object: &str) -> Result<Vec<u8>, Corruption> {
        let bytes = std::fs::read(self.object_path(object)).map_err(|_| Corruption {
            object: object.to_string(),
        })?;
        if statcache::hash_bytes(&bytes) != object {
            let _ = std::fs::remove_file(self.object_path(object));
            return Err(Corruption {
                object: object.to_string(),
            });
        }
        Ok(bytes)
    }

    pub fn stage_record(&self, key: &str) -> Option<StageRecord> {
        read_json(&self.stage_path(key))
    }

    pub fn put_stage_record(&self, record: &StageRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(record).expect("records always serialize");
        self.write_atomic(&self.stage_path(&record.key), &bytes)
    }

    /// A check result stored under its check key.
    pub fn check_result<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Option<T> {
        read_json(&self.dir.join("checks").join(format!("{key}.json")))
    }

    pub fn put_check_result(&self, key: &str, result: &impl Serialize) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(result).expect("results always serialize");
        self.write_atomic(&self.dir.join("checks").join(format!("{key}.json")), &bytes)
    }

    pub fn month_state(&self, month: &str) -> MonthState {
        read_json(&self.month_path(month)).unwrap_or_default()
    }

    /// Writes the month's state; `previous` is the state read at the start of the build, so an
    /// unchanged state is not written again.
    pub fn put_month_state(
        &self,
        month: &str,
        state: &MonthState,
        previous: &MonthState,
    ) -> Result<(), StoreError> {
        if state == previous && self.month_path(month).exists() {
            return Ok(());
        }
        let bytes = serde_json::to_vec_pretty(state).expect("states always serialize");
        self.write_atomic(&self.month_path(month), &bytes)
    }

    /// Saves the stat cache if it changed.
    pub fn save_statcache(&self) -> Result<(), StoreError> {
        if !self.statcache.is_dirty() {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&self.statcache).expect("the stat cache always serializes");
        self.write_atomic(&self.dir.join("statcache.json"), &bytes)
    }

    /// Appends one JSON line to the run log.
    pub fn append_run(&self, run: &serde_json::Value) -> Result<(), StoreError> {
        let path = self.runs_path();
        let mut line = serde_json::to_vec(run).expect("runs always serialize");
        line.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        file.write_all(&line).map_err(|e| StoreError::io(&path, e))
    }

    /// Removes files left in `tmp/` by a build that was killed. Call with the lock held.
    pub fn sweep_tmp(&self) {
        if let Ok(entries) = std::fs::read_dir(self.dir.join("tmp")) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Every object referenced by a month state, and every extra root given.
    fn live_objects(&self, extra_roots: &BTreeSet<String>) -> BTreeSet<String> {
        let mut live = extra_roots.clone();
        for path in list_files(&self.dir.join("months")) {
            if let Some(state) = read_json::<MonthState>(&path) {
                live.extend(state.into_values().map(|entry| entry.object));
            }
        }
        live
    }

    /// Deletes objects (and the stage records naming them) that no month state references nor
    /// `extra_roots` lists. Returns (objects removed, bytes freed). Call with the lock held.
    pub fn gc(&mut self, extra_roots: &BTreeSet<String>) -> Result<(usize, u64), StoreError> {
        self.sweep_tmp();
        let live = self.live_objects(extra_roots);
        let mut removed = 0;
        let mut freed = 0;
        for prefix_dir in list_dirs(&self.dir.join("objects")) {
            for path in list_files(&prefix_dir) {
                let name = file_name(&path);
                if live.contains(&name) {
                    continue;
                }
                freed += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
                self.statcache.forget(&object_cache_key(&name));
                removed += 1;
            }
            let _ = std::fs::remove_dir(&prefix_dir);
        }
        for path in list_files(&self.dir.join("stages")) {
            let keep = read_json::<StageRecord>(&path).is_some_and(|r| live.contains(&r.object));
            if !keep {
                std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
            }
        }
        self.save_statcache()?;
        Ok((removed, freed))
    }

    /// Empties the store: objects, records, month states and the stat cache. The run log is history,
    /// not cache, and is kept. Call with the lock held.
    pub fn clean(&mut self) -> Result<u64, StoreError> {
        let mut freed = 0;
        for sub in SUBDIRS {
            let path = self.dir.join(sub);
            freed += dir_size(&path);
            std::fs::remove_dir_all(&path).map_err(|e| StoreError::io(&path, e))?;
            std::fs::create_dir_all(&path).map_err(|e| StoreError::io(&path, e))?;
        }
        let statcache = self.dir.join("statcache.json");
        let _ = std::fs::remove_file(statcache);
        self.statcache = StatCache::default();
        Ok(freed)
    }
}

fn object_cache_key(object: &str) -> String {
    format!("object:{object}")
}

/// Writes `bytes` to `dest` via a temp file in `tmp_dir` (same file system) and a rename.
pub fn write_atomic(tmp_dir: &Path, dest: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    std::fs::create_dir_all(tmp_dir).map_err(|e| StoreError::io(tmp_dir, e))?;
    let mut temp =
        tempfile::NamedTempFile::new_in(tmp_dir).map_err(|e| StoreError::io(tmp_dir, e))?;
    temp.write_all(bytes)
        .map_err(|e| StoreError::io(temp.path(), e))?;
    // No fsync: a killed process cannot lose written pages, and after a power cut a truncated
    // object fails its size or hash check and is rebuilt, a truncated record fails to parse and
    // counts as missing. Two fsyncs per stage would cost more than most stages take to run.
    temp.persist(dest)
        .map_err(|e| StoreError::io(dest, e.error))?;
    Ok(())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn list_files(dir: &Path) -> Vec<PathBuf> {
    list_entries(dir, Path::is_file)
}

fn list_dirs(dir: &Path) -> Vec<PathBuf> {
    list_entries(dir, Path::is_dir)
}

/// The entries of `dir` that pass `keep`, sorted; none when `dir` cannot be read.
fn list_entries(dir: &Path, keep: fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| keep(p))
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    entries
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string()
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                dir_size(&path)
            } else {
                entry.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}
