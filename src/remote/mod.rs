//! The shared store: a second level of the store on object storage (S3, GCS, Azure, or a shared
//! folder), which CI writes and every machine reads, and where archives live for the team.
//!
//! [`Remote`] is a [`Backend`](crate::blobs::Backend) like the local folder, so the
//! store's rules are written once: objects are named by the blake3 of their bytes and verified on
//! every fetch, records are written after the objects they name, and what is shared is written
//! with put-if-absent (already there is success). The remote adds what a network needs:
//! - it connects lazily (a no-op build never talks to it) and bounds every request (timeouts,
//!   a few retries with backoff);
//! - its first fault (unreachable, denied, no bucket) turns it off for the rest of the command,
//!   with one warning: a build always finishes with the local store and its normal exit code;
//! - uploads run in the background while stages still run, and the command waits for them at
//!   its end;
//! - read-only mode never writes; with a seal key, records are sealed and checked ([`seal`]).

pub(crate) mod fault;
pub(crate) mod location;
pub(crate) mod seal;
mod settings;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use futures::StreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::blobs::{Backend, Listed, Written};
use crate::error::{IoAction, IoError};
pub(crate) use fault::{Fault, FaultKind};
pub(crate) use location::{RemoteUrl, Timeouts};
use seal::SealKey;
pub(crate) use settings::{RemoteDef, RemoteSettings, SettingsError};

/// A connected client: the object store and the runtime its requests run on.
struct Client {
    runtime: tokio::runtime::Runtime,
    store: Arc<dyn ObjectStore>,
}

/// How a blob is written remotely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Put-if-absent: what is there stays (objects, records, archive manifests).
    Create,
    /// Replace (a month's current state).
    Overwrite,
}

/// One blob to upload.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    pub(crate) name: String,
    pub(crate) bytes: Bytes,
    pub(crate) mode: Mode,
}

/// What crossed the network, for the build's summary and the run record.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) fetched: AtomicU64,
    pub(crate) fetched_bytes: AtomicU64,
    pub(crate) uploaded: AtomicU64,
    pub(crate) uploaded_bytes: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Traffic {
    pub(crate) fetched: u64,
    pub(crate) fetched_bytes: u64,
    pub(crate) uploaded: u64,
    pub(crate) uploaded_bytes: u64,
}

/// What a command did with the remote, for people and the run record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct RemoteReport {
    pub(crate) url: String,
    #[serde(flatten)]
    pub(crate) traffic: Traffic,
    /// The fault that turned the remote off, and what to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fault: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) hint: Option<String>,
    /// Records refused by their seal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) warnings: Vec<String>,
}

pub(crate) struct Remote {
    url: RemoteUrl,
    writable: bool,
    seal: Option<SealKey>,
    timeouts: Timeouts,
    client: OnceLock<Result<Client, Fault>>,
    /// The first fault met after connecting; once set, the remote is off.
    fault: Mutex<Option<Fault>>,
    /// Records refused by their seal, and other things worth a warning.
    warnings: Mutex<Vec<String>>,
    uploads: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    counters: Counters,
    /// Blobs this command wrote or found written with put-if-absent: known to be there, so an
    /// archive claim need not ask again.
    present: Mutex<std::collections::HashSet<String>>,
}

impl Remote {
    pub(crate) fn new(settings: RemoteSettings) -> Remote {
        Remote {
            url: settings.url,
            writable: settings.write,
            seal: settings.seal,
            timeouts: settings.timeouts,
            client: OnceLock::new(),
            fault: Mutex::new(None),
            warnings: Mutex::new(Vec::new()),
            uploads: Mutex::new(Vec::new()),
            counters: Counters::default(),
            present: Mutex::new(std::collections::HashSet::new()),
        }
    }

    pub(crate) fn url(&self) -> &RemoteUrl {
        &self.url
    }

    pub(crate) fn writable(&self) -> bool {
        self.writable
    }

    pub(crate) fn sealed(&self) -> bool {
        self.seal.is_some()
    }

    /// The client, connecting on first use: `None` once the remote has failed.
    fn client(&self) -> Option<&Client> {
        if self.fault().is_some() {
            return None;
        }
        self.client.get_or_init(|| self.connect()).as_ref().ok()
    }

    /// Builds the client and asks the bucket for a listing, so a missing bucket or wrong
    /// credentials are found once, at the start, with words for them.
    fn connect(&self) -> Result<Client, Fault> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("winebuild-remote")
            .enable_all()
            .build()
            .map_err(|e| Fault::new(&self.url, FaultKind::Failed, e.to_string()))?;
        let store = self
            .url
            .client(self.timeouts)
            .map_err(|e| Fault::of(&self.url, &e, false))?;
        runtime.block_on(self.probe(store.as_ref()))?;
        Ok(Client { runtime, store })
    }

    /// Asks for an object that is never there: "not found" means the remote answers and takes
    /// the credentials; then a listing tells an existing bucket from a missing one (object
    /// stores answer 404 to both on a HEAD).
    async fn probe(&self, store: &dyn ObjectStore) -> Result<(), Fault> {
        let probe = self.url.path("v1/.winebuild-probe");
        match store.head(&probe).await {
            Ok(_) => return Ok(()),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(Fault::of(&self.url, &e, false)),
        }
        let folder = self.url.path("v1");
        match store.list_with_delimiter(Some(&folder)).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let fault = Fault::of(&self.url, &e, true);
                Err(match fault.kind {
                    FaultKind::Failed => Fault::new(
                        &self.url,
                        FaultKind::NoBucket,
                        format!("no bucket `{}` there", self.url.bucket()),
                    ),
                    _ => fault,
                })
            }
        }
    }

    /// The first fault met, if any (including failing to connect).
    pub(crate) fn fault(&self) -> Option<Fault> {
        if let Some(Err(fault)) = self.client.get() {
            return Some(fault.clone());
        }
        self.fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether the remote answered (connecting if needed) and has not failed since.
    pub(crate) fn is_up(&self) -> bool {
        self.client().is_some()
    }

    fn record_fault(&self, fault: Fault) {
        let mut slot = self
            .fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(fault);
        }
    }

    fn warn(&self, message: String) {
        self.warnings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(message);
    }

    /// The warnings gathered so far (seal refusals), emptied.
    pub(crate) fn take_warnings(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .warnings
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    pub(crate) fn traffic(&self) -> Traffic {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Traffic {
            fetched: load(&self.counters.fetched),
            fetched_bytes: load(&self.counters.fetched_bytes),
            uploaded: load(&self.counters.uploaded),
            uploaded_bytes: load(&self.counters.uploaded_bytes),
        }
    }

    /// Waits for the uploads, then says what crossed the network and what went wrong.
    pub(crate) fn finish(&self) -> RemoteReport {
        self.wait_uploads();
        let fault = self.fault();
        RemoteReport {
            url: self.url.to_string(),
            traffic: self.traffic(),
            hint: fault.as_ref().map(Fault::hint),
            fault: fault.map(|f| f.to_string()),
            warnings: self.take_warnings(),
        }
    }

    /// Counts an object fetched (records are not counted: they are small and many).
    pub(crate) fn count_fetch(&self, bytes: u64) {
        self.counters.fetched.fetch_add(1, Ordering::Relaxed);
        self.counters
            .fetched_bytes
            .fetch_add(bytes, Ordering::Relaxed);
    }

    /// The path shown for a blob in errors.
    fn shown(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("{}/{name}", self.url))
    }

    /// Runs `request` on the client; a failure other than "not found" turns the remote off.
    fn call<T>(
        &self,
        name: &str,
        action: IoAction,
        request: impl AsyncFnOnce(&dyn ObjectStore) -> object_store::Result<T>,
    ) -> Result<Option<T>, IoError> {
        let Some(client) = self.client() else {
            return Err(self.off_error(name, action));
        };
        match client.runtime.block_on(request(client.store.as_ref())) {
            Ok(value) => Ok(Some(value)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => {
                let fault = Fault::of(&self.url, &e, false);
                let error = IoError::new(
                    action,
                    &self.shown(name),
                    std::io::Error::other(fault.to_string()),
                );
                self.record_fault(fault);
                Err(error)
            }
        }
    }

    fn off_error(&self, name: &str, action: IoAction) -> IoError {
        let why = self
            .fault()
            .map_or_else(|| "the remote is off".to_string(), |f| f.to_string());
        IoError::new(action, &self.shown(name), std::io::Error::other(why))
    }

    /// A record's bytes: unsealed, or `None` (with a warning) when its seal is refused.
    pub(crate) fn read_record(&self, name: &str) -> Result<Option<Vec<u8>>, IoError> {
        let Some(blob) = self.read(name)? else {
            return Ok(None);
        };
        match &self.seal {
            None => Ok(Some(seal::body(&blob).to_vec())),
            Some(key) => match key.open(name, &blob) {
                Ok(body) => Ok(Some(body.to_vec())),
                Err(problem) => {
                    self.warn(format!(
                        "remote record `{}` ignored: {problem} (WINEBUILD_REMOTE_KEY is set)",
                        self.shown(name).display()
                    ));
                    Ok(None)
                }
            },
        }
    }

    /// A record as it is uploaded: sealed when a key is set.
    pub(crate) fn record_upload(&self, name: String, body: &[u8], mode: Mode) -> Upload {
        let bytes = match &self.seal {
            Some(key) => key.seal(&name, body),
            None => body.to_vec(),
        };
        Upload {
            name,
            bytes: Bytes::from(bytes),
            mode,
        }
    }

    /// Uploads `blobs` in order in the background (objects first, then the records naming
    /// them); nothing if the remote is read-only or off. [`Remote::wait_uploads`] waits.
    pub(crate) fn upload_later(self: &Arc<Self>, blobs: Vec<Upload>) {
        if !self.writable || blobs.is_empty() {
            return;
        }
        let Some(client) = self.client() else { return };
        let remote = Arc::clone(self);
        let handle = client.runtime.spawn(async move {
            for blob in blobs {
                if remote.fault().is_some() {
                    return;
                }
                if let Err(fault) = remote.put(&blob).await {
                    remote.record_fault(fault);
                    return;
                }
            }
        });
        self.uploads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(handle);
    }

    async fn put(&self, blob: &Upload) -> Result<Written, Fault> {
        let Some(Ok(client)) = self.client.get() else {
            return Err(Fault::new(&self.url, FaultKind::Failed, "not connected"));
        };
        let path = self.url.path(&blob.name);
        let mode = match blob.mode {
            Mode::Create => PutMode::Create,
            Mode::Overwrite => PutMode::Overwrite,
        };
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        let payload = PutPayload::from_bytes(blob.bytes.clone());
        let written = client.store.put_opts(&path, payload, options).await;
        if matches!(
            written,
            Ok(_)
                | Err(object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. })
        ) && blob.mode == Mode::Create
        {
            self.present
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(blob.name.clone());
        }
        match written {
            Ok(_) => {
                self.counters.uploaded.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .uploaded_bytes
                    .fetch_add(blob.bytes.len() as u64, Ordering::Relaxed);
                Ok(Written::Created)
            }
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(Written::AlreadyThere),
            Err(e) => Err(Fault::of(&self.url, &e, false)),
        }
    }

    /// Waits for every background upload; each request is bounded, so this is too.
    pub(crate) fn wait_uploads(&self) {
        let handles = std::mem::take(
            &mut *self
                .uploads
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let Some(Ok(client)) = self.client.get() else {
            return;
        };
        client.runtime.block_on(async {
            for handle in handles {
                let _ = handle.await;
            }
        });
    }
}

impl Backend for Remote {
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, IoError> {
        let path = self.url.path(name);
        self.call(name, IoAction::Read, async |store: &dyn ObjectStore| {
            store.get(&path).await?.bytes().await
        })
        .map(|found| found.map(|bytes| bytes.to_vec()))
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), IoError> {
        self.put_now(name, bytes, Mode::Overwrite).map(|_| ())
    }

    fn write_if_absent(&self, name: &str, bytes: &[u8]) -> Result<Written, IoError> {
        self.put_now(name, bytes, Mode::Create)
    }

    fn remove(&self, name: &str) -> Result<(), IoError> {
        let path = self.url.path(name);
        self.call(name, IoAction::Remove, async |store: &dyn ObjectStore| {
            store.delete(&path).await
        })
        .map(|_| ())
    }

    fn list(&self, prefix: &str) -> Result<Vec<Listed>, IoError> {
        let path = self.url.path(prefix.trim_end_matches('/'));
        let listed = self.call(prefix, IoAction::Read, async |store: &dyn ObjectStore| {
            let mut stream = store.list(Some(&path));
            let mut found = Vec::new();
            while let Some(meta) = stream.next().await {
                found.push(meta?);
            }
            Ok(found)
        })?;
        let mut listed: Vec<Listed> = listed
            .unwrap_or_default()
            .into_iter()
            .filter_map(|meta| {
                let name = self.url.name_of(meta.location.as_ref())?.to_string();
                Some(Listed {
                    name,
                    bytes: meta.size,
                    modified: Some(std::time::SystemTime::from(meta.last_modified)),
                })
            })
            .collect();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }
}

impl Remote {
    /// Whether a blob exists (without fetching it): known when this command wrote it with
    /// put-if-absent, else asked.
    pub(crate) fn exists(&self, name: &str) -> Result<bool, IoError> {
        let known = self
            .present
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(name);
        if known {
            return Ok(true);
        }
        self.head(name).map(|found| found.is_some())
    }

    /// A blob's size, ETag and last-modified time, without fetching it.
    pub(crate) fn head(&self, name: &str) -> Result<Option<object_store::ObjectMeta>, IoError> {
        let path = self.url.path(name);
        self.call(name, IoAction::Read, async |store: &dyn ObjectStore| {
            store.head(&path).await
        })
    }

    /// Writes a record (sealed when a key is set) unless one is already there.
    pub(crate) fn create_record(&self, name: &str, body: &[u8]) -> Result<Written, IoError> {
        let upload = self.record_upload(name.to_string(), body, Mode::Create);
        self.put_now(name, &upload.bytes, Mode::Create)
    }

    fn put_now(&self, name: &str, bytes: &[u8], mode: Mode) -> Result<Written, IoError> {
        if !self.writable {
            return Err(IoError::new(
                IoAction::Write,
                &self.shown(name),
                std::io::Error::other("the remote is read-only here"),
            ));
        }
        let Some(client) = self.client() else {
            return Err(self.off_error(name, IoAction::Write));
        };
        let blob = Upload {
            name: name.to_string(),
            bytes: Bytes::copy_from_slice(bytes),
            mode,
        };
        client.runtime.block_on(self.put(&blob)).map_err(|fault| {
            let error = IoError::new(
                IoAction::Write,
                &self.shown(name),
                std::io::Error::other(fault.to_string()),
            );
            self.record_fault(fault);
            error
        })
    }
}
