//! The content-addressed store in `.winebuild/` at the project root.
//!
//! Layout (the format version is in the path, so an incompatible winebuild never misreads it):
//! ```text
//! .winebuild/lock                      held by the running build
//! .winebuild/v1/objects/abcd…          stage outputs, named by the blake3 of their bytes (earlier
//!                                      versions kept them in `objects/ab/`: each is moved to its
//!                                      flat name when a build first looks it up)
//! .winebuild/v1/stages/<key>.json      stage key → object, rows, columns, duration, warnings, and
//!                                      its checks' results on that output, by check key
//! .winebuild/v1/months/<month>.json    each stage's current key, fingerprint and record, and its
//!                                      checks' results: the index a no-op build reads instead of
//!                                      one record per stage
//! .winebuild/v1/checks/<key>.json      check key → result of a model's unit test (`unit`)
//! .winebuild/v1/statcache.json         path → (size, mtime, inode, hash)
//! .winebuild/v1/runs.jsonl             one run record per build, appended
//! .winebuild/v1/tmp/                   files being written
//! ```
//! Rules it keeps:
//! - every file is written to `tmp/` and renamed into place, objects before the records naming
//!   them: a killed build leaves at most stray temp files, never a half object a build would trust
//!   (files are not fsynced: what a power cut could truncate fails verification and is rebuilt);
//! - an object is trusted only if its bytes hash to its name ([`Store::read_object`]), or its stat
//!   matches the one recorded when it was last verified; a corrupt object is deleted and reported
//!   (a read-only store, as `plan` opens it, reports it and deletes nothing);
//! - records are written only for stages that succeeded, so failures are never reused;
//! - the store is shared by the build's threads without a store-wide lock: the stat cache has its
//!   own, held only to look up or record an entry, never while a file is read or hashed.

pub(crate) mod hash;
pub(crate) mod key;
pub(crate) mod lock;
mod shared;
pub(crate) mod statcache;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::blobs::{Backend, LocalDir};
use crate::error::{Hint, IoAction, IoError};
use crate::files::dir_size;
use crate::graph::StageKind;
use crate::month::Month;
use crate::table::ColumnInfo;
pub(crate) use hash::{CheckKey, ObjectHash, StageKey};
pub(crate) use key::{Change, Fingerprint, STORE_FORMAT, TOOL_VERSION};
pub(crate) use lock::BuildLock;
pub(crate) use shared::{RemoteGc, gc_remote, remote_contents, remote_name};
use statcache::{FileStat, StatCache};

/// The store folder at the project root.
pub(crate) const STORE_DIR: &str = ".winebuild";

/// The folders of a store version.
const SUBDIRS: [&str; 5] = ["objects", "stages", "months", "checks", "tmp"];
/// The folders a build writes in, made when the store is opened (`checks/`, which only `test`
/// writes in, is made when first needed: a new folder costs as much as a new file).
const BUILD_DIRS: [&str; 4] = ["objects", "stages", "months", "tmp"];
const STATCACHE: &str = "statcache.json";
const RUNS: &str = "runs.jsonl";

#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("store: {0}")]
    Io(#[from] IoError),
    #[error("store: cannot encode an output as Parquet: {0}")]
    Encode(String),
    #[error(transparent)]
    Lock(#[from] lock::LockError),
}

impl Hint for StoreError {
    fn hint(&self) -> Option<String> {
        match self {
            StoreError::Lock(lock::LockError::TimedOut { holder, .. }) => Some(format!(
                "a build that is killed releases the lock by itself, so this one is still running{}; \
                 wait for it, or give it longer with --lock-timeout",
                holder
                    .as_ref()
                    .map(|h| format!(" (`ps -p {}` shows it)", h.pid))
                    .unwrap_or_default()
            )),
            _ => Some(format!(
                "check the permissions and free space of `{STORE_DIR}`; `winebuild clean` starts it afresh"
            )),
        }
    }
}

/// What the store knows of one successful stage run, under its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StageRecord {
    pub(crate) stage: String,
    pub(crate) kind: StageKind,
    pub(crate) key: StageKey,
    pub(crate) object: ObjectHash,
    pub(crate) bytes: u64,
    pub(crate) rows: u64,
    pub(crate) columns: Vec<ColumnInfo>,
    pub(crate) duration_ms: f64,
    #[serde(default)]
    pub(crate) warnings: Vec<String>,
    /// Where it ran (absent: here). Not part of the key: both engines give the same bytes.
    #[serde(default, skip_serializing_if = "crate::cluster::Engine::is_local")]
    pub(crate) engine: crate::cluster::Engine,
    /// The results of the model's checks on this output, by check key (kept as JSON: checks
    /// are a later stage of the build than the store). With the record rather than a file each:
    /// a new file costs the file system more than its bytes do.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) checks: BTreeMap<CheckKey, serde_json::Value>,
}

/// The last successful state of one stage for one month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MonthEntry {
    pub(crate) key: StageKey,
    pub(crate) fingerprint: Fingerprint,
    pub(crate) object: ObjectHash,
    pub(crate) rows: u64,
    /// A copy of the stage record under `key`, so a no-op build need not open it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) record: Option<StageRecord>,
    /// The stage's check results by check key, copies of the check cache's files for the same
    /// reason (kept as JSON: checks are a later stage of the build than the store).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) checks: BTreeMap<CheckKey, serde_json::Value>,
}

pub(crate) type MonthState = BTreeMap<String, MonthEntry>;

/// What [`Store::check_object`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObjectState {
    Intact,
    Missing,
    /// Its bytes do not hash to its name (deleted, unless the store is read-only).
    Corrupt,
}

/// An object that is missing or whose bytes do not match its name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("object {} is missing or corrupt", object.short())]
pub(crate) struct Unusable {
    pub(crate) object: ObjectHash,
}

/// Why [`Store::link_object`] put nothing at its destination.
#[derive(Debug)]
pub(crate) enum LinkError {
    /// The object is missing or corrupt.
    Unusable,
    /// The destination could not be written.
    Write(std::io::Error),
}

/// Where the stat cache looks a file up: a month's source, an export written to `out/`, or an
/// object of the store.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Watched<'a> {
    Input(&'a crate::project::InputFile),
    Export(&'a Path),
    Archived(&'a Path),
    Object(&'a ObjectHash),
}

impl Watched<'_> {
    fn cache_key(&self) -> String {
        match self {
            Watched::Input(input) => input.cache_key(),
            Watched::Export(path) => format!("export:{}", path.display()),
            Watched::Archived(path) => format!("archive:{}", path.display()),
            Watched::Object(object) => format!("object:{object}"),
        }
    }
}

pub(crate) struct Store {
    root: PathBuf,
    local: LocalDir,
    statcache: Mutex<StatCache>,
    writable: bool,
    /// The shared second level, when the project has one ([`shared`]).
    remote: Option<std::sync::Arc<crate::remote::Remote>>,
}

impl Store {
    /// Opens (creating if needed) the store of the project at `project_root`.
    pub(crate) fn open(project_root: &Path) -> Result<Store, StoreError> {
        let store = Store::at(project_root, true);
        for sub in BUILD_DIRS {
            let path = store.local.path(sub);
            std::fs::create_dir_all(&path).map_err(|e| IoError::new(IoAction::Create, &path, e))?;
        }
        Ok(store)
    }

    /// Opens the store to read it only: nothing is created, deleted or saved, and a missing store
    /// reads as an empty one.
    pub(crate) fn open_read_only(project_root: &Path) -> Store {
        Store::at(project_root, false)
    }

    fn at(project_root: &Path, writable: bool) -> Store {
        let root = project_root.join(STORE_DIR);
        let local = LocalDir::new(root.join(format!("v{STORE_FORMAT}")));
        let statcache = read_json(&local, STATCACHE).unwrap_or_default();
        Store {
            root,
            local,
            statcache: Mutex::new(statcache),
            writable,
            remote: None,
        }
    }

    /// Takes the project's lock, waiting at most `timeout` (forever when `None`); `on_wait` hears
    /// who holds it before the wait starts.
    pub(crate) fn lock(
        &self,
        timeout: Option<std::time::Duration>,
        on_wait: impl FnOnce(Option<&lock::Holder>),
    ) -> Result<BuildLock, StoreError> {
        Ok(BuildLock::acquire(
            &self.root.join("lock"),
            timeout,
            on_wait,
        )?)
    }

    fn statcache(&self) -> MutexGuard<'_, StatCache> {
        self.statcache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The content hash of a file, through the stat cache: rehashed (outside any lock) unless its
    /// entry can be trusted. Returns the stat seen before hashing.
    pub(crate) fn hash_file(
        &self,
        watched: Watched<'_>,
        path: &Path,
    ) -> std::io::Result<(ObjectHash, FileStat)> {
        let stat = FileStat::of(path)?;
        let cache_key = watched.cache_key();
        if let Some(hash) = self.statcache().trusted_hash(&cache_key, &stat) {
            return Ok((hash.clone(), stat));
        }
        let started = statcache::now_ns();
        let hash = ObjectHash::of_file(path)?;
        if FileStat::of(path)? == stat {
            self.statcache().record(&cache_key, stat, &hash, started);
        }
        Ok((hash, stat))
    }

    /// The content hash of a month's input file (on disk or object storage), through the stat
    /// cache: read and hashed only when its stat changed. Returns the stat seen before hashing.
    pub(crate) fn hash_input(
        &self,
        input: &crate::project::InputFile,
    ) -> std::io::Result<(ObjectHash, FileStat)> {
        let Some(path) = input.path() else {
            let stat = input.stat()?;
            let cache_key = input.cache_key();
            if let Some(hash) = self.statcache().trusted_hash(&cache_key, &stat) {
                return Ok((hash.clone(), stat));
            }
            let started = statcache::now_ns();
            let hash = ObjectHash::of(&input.read()?);
            if input.stat()? == stat {
                self.statcache().record(&cache_key, stat, &hash, started);
            }
            return Ok((hash, stat));
        };
        self.hash_file(Watched::Input(input), path)
    }

    /// An archived file's size and hash, through the stat cache (for [`crate::archive::HashFile`]).
    pub(crate) fn hash_archived(&self, path: &Path) -> std::io::Result<(u64, ObjectHash)> {
        let (hash, stat) = self.hash_file(Watched::Archived(path), path)?;
        Ok((stat.size, hash))
    }

    /// Records that a file had `stat` and content `hash`, as read starting at `started_ns`.
    pub(crate) fn remember_hash(
        &self,
        watched: Watched<'_>,
        stat: FileStat,
        hash: &ObjectHash,
        started_ns: i128,
    ) {
        self.statcache()
            .record(&watched.cache_key(), stat, hash, started_ns);
    }

    /// An object's name on the remote, and in local stores written before objects were flat: in
    /// a folder named by the first two hex digits of its hash, as git keeps them.
    fn shared_object_name(object: &ObjectHash) -> String {
        let prefix = object.as_str().get(..2).unwrap_or("xx");
        format!("objects/{prefix}/{object}")
    }

    /// An object's name in the local store: one folder holds them all. A folder per two hex
    /// digits cost a cold build a new folder for most of its objects, and ext4 a new inode for
    /// each, as dear as a file; one folder of many thousand names is what ext4's hashed
    /// directories are for.
    fn local_object_name(object: &ObjectHash) -> String {
        format!("objects/{object}")
    }

    /// Where `object` is in the local store, to read a part of it (a Parquet footer).
    pub(crate) fn object_path(&self, object: &ObjectHash) -> PathBuf {
        self.local.path(&Store::local_object_name(object))
    }

    /// Stores `bytes` as an object named by their hash; returns the name.
    pub(crate) fn put_object(&self, bytes: &[u8]) -> Result<ObjectHash, StoreError> {
        let object = ObjectHash::of(bytes);
        if self.check_object(&object) != ObjectState::Intact {
            let name = Store::local_object_name(&object);
            // Named by its content: what another writer put there first is the same bytes.
            self.local.write_if_absent(&name, bytes)?;
            let path = self.local.path(&name);
            let stat = FileStat::of(&path).map_err(|e| IoError::read(&path, e))?;
            self.remember_hash(Watched::Object(&object), stat, &object, statcache::now_ns());
        }
        Ok(object)
    }

    /// Whether the object exists and its bytes hash to its name, trusting the stat cache when it
    /// can. A corrupt object is deleted (when the store is writable), so it is rebuilt, never read.
    pub(crate) fn check_object(&self, object: &ObjectHash) -> ObjectState {
        let path = self.object_path(object);
        let hashed = self
            .hash_file(Watched::Object(object), &path)
            .or_else(|missing| {
                // A store written before objects were flat keeps it in a fan-out folder: moved to
                // its flat name (a rename, no copy), or read where it is by a read-only store.
                let fanned_out = self.local.path(&Store::shared_object_name(object));
                if !self.writable {
                    return self.hash_file(Watched::Object(object), &fanned_out);
                }
                std::fs::rename(&fanned_out, &path).map_err(|_| missing)?;
                self.hash_file(Watched::Object(object), &path)
            });
        match hashed {
            Ok((hash, _)) if hash == *object => ObjectState::Intact,
            Ok(_) => {
                self.discard(object);
                ObjectState::Corrupt
            }
            Err(_) => ObjectState::Missing,
        }
    }

    /// Deletes a corrupt object and forgets its stat (a read-only store keeps both).
    fn discard(&self, object: &ObjectHash) {
        if self.writable {
            let _ = self.local.remove(&Store::local_object_name(object));
            self.statcache()
                .forget(&Watched::Object(object).cache_key());
        }
    }

    /// The object's bytes, verified against its name.
    pub(crate) fn read_object(&self, object: &ObjectHash) -> Result<Vec<u8>, Unusable> {
        let unusable = || Unusable {
            object: object.clone(),
        };
        let bytes = self
            .local
            .read(&Store::local_object_name(object))
            .ok()
            .flatten()
            .ok_or_else(unusable)?;
        if ObjectHash::of(&bytes) != *object {
            self.discard(object);
            return Err(unusable());
        }
        Ok(bytes)
    }

    /// Puts the object's bytes at `dest` (a new file), verified against its name; returns their
    /// size. A hard link where the file system allows one: objects are never written in place
    /// (only created and removed), so the link is as immutable as a copy, and a new file costs
    /// the file system more than its bytes do. Elsewhere (another file system), a copy.
    pub(crate) fn link_object(&self, object: &ObjectHash, dest: &Path) -> Result<u64, LinkError> {
        if self.check_object(object) != ObjectState::Intact {
            return Err(LinkError::Unusable);
        }
        let source = self.object_path(object);
        if std::fs::hard_link(&source, dest).is_ok() {
            // The link moved the object's ctime: its stat is recorded again, so the next build
            // trusts it without rehashing once the racy window has passed.
            if let Ok(stat) = FileStat::of(&source) {
                let now = statcache::now_ns();
                self.remember_hash(Watched::Object(object), stat, object, now);
            }
            return std::fs::metadata(dest)
                .map(|m| m.len())
                .map_err(LinkError::Write);
        }
        let bytes = self.read_object(object).map_err(|_| LinkError::Unusable)?;
        std::fs::write(dest, &bytes).map_err(LinkError::Write)?;
        Ok(bytes.len() as u64)
    }

    pub(crate) fn stage_record(&self, key: &StageKey) -> Option<StageRecord> {
        read_json(&self.local, &format!("stages/{key}.json"))
    }

    pub(crate) fn put_stage_record(&self, record: &StageRecord) -> Result<(), StoreError> {
        write_json(&self.local, &format!("stages/{}.json", record.key), record)
    }

    /// A unit test's result stored under its key.
    pub(crate) fn unit_result<T: for<'de> Deserialize<'de>>(&self, key: &CheckKey) -> Option<T> {
        read_json(&self.local, &format!("checks/{key}.json"))
    }

    pub(crate) fn put_unit_result(
        &self,
        key: &CheckKey,
        result: &impl Serialize,
    ) -> Result<(), StoreError> {
        write_json(&self.local, &format!("checks/{key}.json"), result)
    }

    pub(crate) fn month_state(&self, month: Month) -> MonthState {
        read_json(&self.local, &format!("months/{month}.json")).unwrap_or_default()
    }

    /// Writes the month's state; `previous` is the state read at the start of the build, so an
    /// unchanged state is not written again.
    pub(crate) fn put_month_state(
        &self,
        month: Month,
        state: &MonthState,
        previous: &MonthState,
    ) -> Result<(), StoreError> {
        let name = format!("months/{month}.json");
        if state == previous && self.local.path(&name).exists() {
            return Ok(());
        }
        write_json(&self.local, &name, state)
    }

    /// Saves the stat cache if it changed (never for a read-only store).
    pub(crate) fn save_statcache(&self) -> Result<(), StoreError> {
        let statcache = self.statcache();
        if !self.writable || !statcache.is_dirty() {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&*statcache).unwrap_or_default();
        Ok(self.local.write(STATCACHE, &bytes)?)
    }

    /// Appends one line to the run log.
    pub(crate) fn append_run(&self, json: &str) -> Result<(), StoreError> {
        let path = self.local.path(RUNS);
        let mut line = json.as_bytes().to_vec();
        line.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| IoError::write(&path, e))?;
        file.write_all(&line)
            .map_err(|e| IoError::write(&path, e))?;
        Ok(())
    }

    /// The run log's bytes (none when no build ran yet).
    pub(crate) fn run_log(&self) -> Result<Vec<u8>, StoreError> {
        Ok(self.local.read(RUNS)?.unwrap_or_default())
    }

    /// Removes files left in `tmp/` by a build that was killed. Call with the lock held.
    pub(crate) fn sweep_tmp(&self) {
        for path in crate::files::paths_in(self.local.tmp(), |_| true) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Every object referenced by a month state, and every extra root given.
    fn live_objects(
        &self,
        extra_roots: &BTreeSet<ObjectHash>,
    ) -> Result<BTreeSet<ObjectHash>, StoreError> {
        let mut live = extra_roots.clone();
        for listed in self.local.list("months/")? {
            if let Some(state) = read_json::<MonthState>(&self.local, &listed.name) {
                live.extend(state.into_values().map(|entry| entry.object));
            }
        }
        Ok(live)
    }

    /// Deletes objects (and the stage records naming them) that no month state references nor
    /// `extra_roots` lists. Returns (objects removed, bytes freed). Call with the lock held.
    pub(crate) fn gc(
        &self,
        extra_roots: &BTreeSet<ObjectHash>,
    ) -> Result<(usize, u64), StoreError> {
        self.sweep_tmp();
        let live = self.live_objects(extra_roots)?;
        let mut removed = 0;
        let mut freed = 0;
        for listed in self.local.list("objects/")? {
            let object = listed.name.rsplit('/').next().and_then(ObjectHash::parse);
            if object.as_ref().is_some_and(|o| live.contains(o)) {
                continue;
            }
            self.local.remove(&listed.name)?;
            if let Some(object) = &object {
                self.statcache()
                    .forget(&Watched::Object(object).cache_key());
            }
            freed += listed.bytes;
            removed += 1;
        }
        for folder in crate::files::paths_in(&self.local.path("objects"), std::path::Path::is_dir) {
            let _ = std::fs::remove_dir(folder);
        }
        for listed in self.local.list("stages/")? {
            let keep = read_json::<StageRecord>(&self.local, &listed.name)
                .is_some_and(|r| live.contains(&r.object));
            if !keep {
                self.local.remove(&listed.name)?;
            }
        }
        self.save_statcache()?;
        Ok((removed, freed))
    }

    /// Empties the store: objects, records, month states and the stat cache. The run log is history,
    /// not cache, and is kept. Call with the lock held.
    pub(crate) fn clean(&self) -> Result<u64, StoreError> {
        let mut freed = 0;
        for sub in SUBDIRS {
            let path = self.local.path(sub);
            freed += dir_size(&path);
            match std::fs::remove_dir_all(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(IoError::new(IoAction::Remove, &path, e).into());
                }
                _ => {}
            }
        }
        for sub in BUILD_DIRS {
            let path = self.local.path(sub);
            std::fs::create_dir_all(&path).map_err(|e| IoError::new(IoAction::Create, &path, e))?;
        }
        self.local.remove(STATCACHE)?;
        *self.statcache() = StatCache::default();
        Ok(freed)
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(backend: &dyn Backend, name: &str) -> Option<T> {
    let bytes = backend.read(name).ok()??;
    serde_json::from_slice(&bytes).ok()
}

fn write_json(backend: &dyn Backend, name: &str, value: &impl Serialize) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    Ok(backend.write(name, &bytes)?)
}
