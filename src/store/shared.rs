//! The store's second level: what a local miss may find on the remote, and what a build shares.
//!
//! Rules it keeps:
//! - the remote mirrors the local layout under `v<format>/`, so a name means the same thing on
//!   both levels, except check results: one record each there (`checks/<key>.json`, written once,
//!   never replaced), kept with their stage's record here;
//! - a fetched object is verified against its name before it is stored locally, and a fetched
//!   record is used only once its object is local and verified: a poisoned or damaged remote
//!   costs a rebuild, never a wrong output;
//! - a build shares an object before the record naming it, both with put-if-absent, so a reader
//!   never finds a record whose object is not there, and two machines building the same stage
//!   both succeed;
//! - nothing here fails a build: a remote fault is the remote's to report, once.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;

use super::statcache::{self, FileStat};
use super::{CheckKey, MonthState, ObjectHash, ObjectState, StageKey, StageRecord, Store, Watched};
use crate::blobs::Backend;
use crate::error::IoError;
use crate::month::Month;
use crate::remote::{Mode, Remote, Upload};

/// A store name as the remote holds it: under the format version, as in `.winebuild/`.
pub(crate) fn remote_name(name: &str) -> String {
    format!("v{}/{name}", super::STORE_FORMAT)
}

impl Store {
    /// Gives the store a second level.
    pub(crate) fn set_remote(&mut self, remote: Arc<Remote>) {
        self.remote = Some(remote);
    }

    pub(crate) fn remote(&self) -> Option<&Arc<Remote>> {
        self.remote.as_ref()
    }

    /// The record of `key` from the remote, with its object fetched, verified and stored
    /// locally; `None` on a miss (or when the remote is off).
    pub(crate) fn fetch_stage(&self, key: &StageKey) -> Option<StageRecord> {
        let remote = self.remote.as_ref()?;
        let name = format!("stages/{key}.json");
        let body = remote.read_record(&remote_name(&name)).ok()??;
        let record: StageRecord = serde_json::from_slice(&body).ok()?;
        if record.key != *key {
            return None;
        }
        self.fetch_object(remote, &record.object).ok()?;
        // Local copies, so the next build finds them without the network.
        if self.writable {
            let _ = super::write_json(&self.local, &name, &record);
        }
        Some(record)
    }

    /// Makes `object` local: fetched from the remote unless the local store has it intact.
    pub(crate) fn fetch_object(&self, remote: &Remote, object: &ObjectHash) -> Result<(), ()> {
        if self.check_object(object) == ObjectState::Intact {
            return Ok(());
        }
        let name = remote_name(&Store::shared_object_name(object));
        let bytes = remote.read(&name).ok().flatten().ok_or(())?;
        if ObjectHash::of(&bytes) != *object {
            return Err(());
        }
        remote.count_fetch(bytes.len() as u64);
        self.store_fetched(object, &bytes).map_err(|_| ())
    }

    fn store_fetched(&self, object: &ObjectHash, bytes: &[u8]) -> Result<(), IoError> {
        if !self.writable {
            return Ok(());
        }
        let name = Store::local_object_name(object);
        self.local.write_if_absent(&name, bytes)?;
        let path = self.local.path(&name);
        let stat = FileStat::of(&path).map_err(|e| IoError::read(&path, e))?;
        self.remember_hash(Watched::Object(object), stat, object, statcache::now_ns());
        Ok(())
    }

    /// Shares a stage that just ran: its object, then its record, in the background.
    pub(crate) fn share_stage(&self, record: &StageRecord, bytes: Bytes) {
        let Some(remote) = &self.remote else { return };
        let body = serde_json::to_vec_pretty(record).unwrap_or_default();
        remote.upload_later(vec![
            Upload {
                name: remote_name(&Store::shared_object_name(&record.object)),
                bytes,
                mode: Mode::Create,
            },
            remote.record_upload(
                remote_name(&format!("stages/{}.json", record.key)),
                &body,
                Mode::Create,
            ),
        ]);
    }

    /// Puts `object` on the remote now unless it is there already (a cluster's executors are
    /// about to read it from there), and gives its URL on the remote.
    pub(crate) fn object_on_remote(&self, object: &ObjectHash) -> Result<String, IoError> {
        let name = remote_name(&Store::shared_object_name(object));
        let Some(remote) = &self.remote else {
            return Err(IoError::new(
                crate::error::IoAction::Write,
                std::path::Path::new(&name),
                std::io::Error::other("the project has no shared store"),
            ));
        };
        if !remote.exists(&name)? {
            // The build shares every output in the background: wait for that rather than upload
            // the object a second time.
            remote.wait_uploads();
            if !remote.exists(&name)? {
                let bytes = self.read_object(object).map_err(|_| {
                    let damaged = std::io::Error::other("damaged or missing");
                    IoError::read(&self.object_path(object), damaged)
                })?;
                remote.write_if_absent(&name, &bytes)?;
            }
        }
        Ok(remote.url().object_url(&name))
    }

    /// A check result the remote holds under `key` (the build keeps it with the stage's record).
    pub(crate) fn fetch_check_result(&self, key: &CheckKey) -> Option<Vec<u8>> {
        let remote = self.remote.as_ref()?;
        remote
            .read_record(&remote_name(&format!("checks/{key}.json")))
            .ok()?
    }

    /// Shares a check result, in the background.
    pub(crate) fn share_check_result(&self, key: &CheckKey, result: &impl Serialize) {
        let Some(remote) = &self.remote else { return };
        let body = serde_json::to_vec_pretty(result).unwrap_or_default();
        remote.upload_later(vec![remote.record_upload(
            remote_name(&format!("checks/{key}.json")),
            &body,
            Mode::Create,
        )]);
    }

    /// Shares the month's current state (what `gc --remote` keeps, and what the last build of
    /// the month on any machine left), replacing the remote's.
    pub(crate) fn share_month_state(
        &self,
        month: Month,
        state: &MonthState,
        previous: &MonthState,
    ) {
        // A no-op build has nothing new to say, and never wakes the network.
        let Some(remote) = self.remote.as_ref().filter(|_| state != previous) else {
            return;
        };
        let body = serde_json::to_vec_pretty(state).unwrap_or_default();
        remote.upload_later(vec![remote.record_upload(
            remote_name(&format!("months/{month}.json")),
            &body,
            Mode::Overwrite,
        )]);
    }
}

/// What `remote push` uploaded of the store.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub(crate) struct PushedStore {
    pub(crate) stages: usize,
    pub(crate) already: usize,
    pub(crate) checks: usize,
    pub(crate) months: usize,
}

/// What the remote holds, for `remote status`.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub(crate) struct RemoteContents {
    pub(crate) objects: usize,
    pub(crate) object_bytes: u64,
    pub(crate) stage_records: usize,
    pub(crate) check_results: usize,
    pub(crate) months: Vec<Month>,
}

/// What `gc --remote` removed.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub(crate) struct RemoteGc {
    pub(crate) objects: usize,
    pub(crate) bytes: u64,
    pub(crate) records: usize,
    /// Unreferenced objects kept because they are younger than the grace period: a build
    /// elsewhere may be about to name them.
    pub(crate) kept_young: usize,
}

impl Store {
    /// Uploads the stage records (with their objects), check results and month states this
    /// store holds and the remote lacks: all of them, or those of `month`'s current build.
    pub(crate) fn push_to(
        &self,
        remote: &Remote,
        month: Option<Month>,
    ) -> Result<PushedStore, IoError> {
        let mut pushed = PushedStore::default();
        let states: Vec<(Month, MonthState)> = match month {
            Some(month) => vec![(month, self.month_state(month))],
            None => self
                .local
                .list("months/")?
                .iter()
                .filter_map(|listed| {
                    let month =
                        Month::parse(listed.name.rsplit('/').next()?.strip_suffix(".json")?)
                            .ok()?;
                    Some((month, self.month_state(month)))
                })
                .collect(),
        };
        let keys: Vec<StageKey> = match month {
            Some(_) => states
                .iter()
                .flat_map(|(_, s)| s.values().map(|e| e.key.clone()))
                .collect(),
            None => self
                .local
                .list("stages/")?
                .iter()
                .filter_map(|l| StageKey::parse(l.name.rsplit('/').next()?.strip_suffix(".json")?))
                .collect(),
        };
        for key in keys {
            let name = remote_name(&format!("stages/{key}.json"));
            if remote.exists(&name)? {
                pushed.already += 1;
                continue;
            }
            let Some(record) = self.stage_record(&key) else {
                continue;
            };
            let Ok(bytes) = self.read_object(&record.object) else {
                continue;
            };
            let object = remote_name(&Store::shared_object_name(&record.object));
            if !remote.exists(&object)? {
                remote.write_if_absent(&object, &bytes)?;
            }
            let body = serde_json::to_vec_pretty(&record).unwrap_or_default();
            remote.create_record(&name, &body)?;
            pushed.stages += 1;
        }
        // Check results live with the month states (the current ones) and the stage records.
        let mut checks: BTreeMap<CheckKey, serde_json::Value> = states
            .iter()
            .flat_map(|(_, s)| s.values().flat_map(|e| e.checks.clone()))
            .collect();
        if month.is_none() {
            for listed in self.local.list("stages/")? {
                if let Some(record) = super::read_json::<StageRecord>(&self.local, &listed.name) {
                    checks.extend(record.checks);
                }
            }
        }
        for (key, result) in checks {
            let name = remote_name(&format!("checks/{key}.json"));
            let body = serde_json::to_vec_pretty(&result).unwrap_or_default();
            if remote.create_record(&name, &body)? == crate::blobs::Written::Created {
                pushed.checks += 1;
            }
        }
        for (month, state) in states {
            if state.is_empty() {
                continue;
            }
            let name = remote_name(&format!("months/{month}.json"));
            let body = serde_json::to_vec_pretty(&state).unwrap_or_default();
            let upload = remote.record_upload(name.clone(), &body, Mode::Overwrite);
            remote.write(&name, &upload.bytes)?;
            pushed.months += 1;
        }
        Ok(pushed)
    }
}

/// What the remote holds: objects and their bytes, records, months with a current state.
pub(crate) fn remote_contents(remote: &Remote) -> Result<RemoteContents, IoError> {
    let objects = remote.list(&remote_name("objects/"))?;
    let months = remote
        .list(&remote_name("months/"))?
        .iter()
        .filter_map(|l| Month::parse(l.name.rsplit('/').next()?.strip_suffix(".json")?).ok())
        .collect();
    Ok(RemoteContents {
        objects: objects.len(),
        object_bytes: objects.iter().map(|l| l.bytes).sum(),
        stage_records: remote.list(&remote_name("stages/"))?.len(),
        check_results: remote.list(&remote_name("checks/"))?.len(),
        months,
    })
}

/// Deletes the remote objects (and the stage records naming them) that no remote month state
/// and no remote archive manifest references, unless younger than `grace`. Stops, deleting
/// nothing, if any state or manifest cannot be read: what it names is unknown.
pub(crate) fn gc_remote(
    remote: &Remote,
    pinned: &std::collections::BTreeSet<ObjectHash>,
    grace: std::time::Duration,
) -> Result<RemoteGc, IoError> {
    let unreadable = |name: &str| {
        IoError::new(
            crate::error::IoAction::Read,
            std::path::Path::new(&format!("{}/{name}", remote.url())),
            std::io::Error::other("unreadable or refused by its seal, so gc deletes nothing"),
        )
    };
    let mut live = pinned.clone();
    for listed in remote.list(&remote_name("months/"))? {
        let body = remote
            .read_record(&listed.name)?
            .ok_or_else(|| unreadable(&listed.name))?;
        let state: MonthState =
            serde_json::from_slice(&body).map_err(|_| unreadable(&listed.name))?;
        live.extend(state.into_values().map(|entry| entry.object));
    }
    let now = std::time::SystemTime::now();
    let young = |listed: &crate::blobs::Listed| {
        listed
            .modified
            .is_none_or(|at| now.duration_since(at).unwrap_or_default() < grace)
    };
    let mut gc = RemoteGc::default();
    for listed in remote.list(&remote_name("objects/"))? {
        let object = listed.name.rsplit('/').next().and_then(ObjectHash::parse);
        if object.as_ref().is_some_and(|o| live.contains(o)) {
            continue;
        }
        if young(&listed) {
            gc.kept_young += 1;
            continue;
        }
        remote.remove(&listed.name)?;
        gc.objects += 1;
        gc.bytes += listed.bytes;
    }
    for listed in remote.list(&remote_name("stages/"))? {
        let Some(body) = remote.read_record(&listed.name)? else {
            continue;
        };
        let keep =
            serde_json::from_slice::<StageRecord>(&body).is_ok_and(|r| live.contains(&r.object));
        if !keep && !young(&listed) {
            remote.remove(&listed.name)?;
            gc.records += 1;
        }
    }
    Ok(gc)
}
