//! One build at a time per project: an exclusive lock on `.winebuild/lock`.
//!
//! Rules it keeps: the operating system releases the lock when the process ends, however it ends,
//! so a killed build never leaves a stale lock behind; the holder writes who it is (process,
//! command, since when) into the file, so a second build can say whom it waits for; a waiter
//! gives up after `--lock-timeout` if one is set, else waits as long as it takes.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{IoAction, IoError};

/// How often a waiter with a time limit tries the lock again.
const POLL: Duration = Duration::from_millis(100);

/// Held for the duration of a build; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct BuildLock {
    _file: File,
}

/// Who holds the lock, as the holder wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Holder {
    pub(crate) pid: u32,
    pub(crate) command: String,
    pub(crate) since: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {}, `{}`, since {}",
            self.pid, self.command, self.since
        )
    }
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LockError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(
        "another run of winebuild still holds `{}` after {}{}",
        path.display(),
        crate::text::duration(waited.as_secs_f64() * 1000.0),
        holder.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    TimedOut {
        path: PathBuf,
        waited: Duration,
        holder: Option<Holder>,
    },
}

impl BuildLock {
    /// Takes the lock, waiting for it when another process holds it: `on_wait` hears who holds
    /// it (when known) before the wait starts; `timeout` bounds the wait.
    pub(crate) fn acquire(
        path: &Path,
        timeout: Option<Duration>,
        on_wait: impl FnOnce(Option<&Holder>),
    ) -> Result<BuildLock, LockError> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| IoError::new(IoAction::Create, path, e))?;
        let locked = |e: std::io::Error| IoError::new(IoAction::Lock, path, e);
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = read_holder(&mut file);
                on_wait(holder.as_ref());
                match timeout {
                    None => file.lock().map_err(locked)?,
                    Some(timeout) => wait_for(&file, path, timeout, holder)?,
                }
            }
            Err(TryLockError::Error(e)) => return Err(locked(e).into()),
        }
        write_holder(&mut file);
        Ok(BuildLock { _file: file })
    }
}

fn wait_for(
    file: &File,
    path: &Path,
    timeout: Duration,
    holder: Option<Holder>,
) -> Result<(), LockError> {
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) if started.elapsed() < timeout => {
                std::thread::sleep(POLL.min(timeout.saturating_sub(started.elapsed())));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::TimedOut {
                    path: path.to_path_buf(),
                    waited: timeout,
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => {
                return Err(IoError::new(IoAction::Lock, path, e).into());
            }
        }
    }
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

/// Says who holds the lock; a lock whose holder cannot be written is still a lock.
fn write_holder(file: &mut File) {
    let holder = Holder {
        pid: std::process::id(),
        command: std::env::args()
            .map(|arg| {
                if arg.contains(' ') {
                    format!("'{arg}'")
                } else {
                    arg
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
        since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let Ok(json) = serde_json::to_string(&holder) else {
        return;
    };
    let line = format!("{json}\n");
    // Written over the last holder, then cut to length: truncating to zero first would make ext4
    // write the file out when it is closed (its guard for files rewritten from empty), a wait in
    // every build. A reader in between sees a line it cannot parse, as it would an empty file.
    let _ = file
        .rewind()
        .and_then(|()| file.write_all(line.as_bytes()))
        .and_then(|()| file.set_len(line.len() as u64));
}
