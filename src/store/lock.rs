//! One build at a time per project: an exclusive lock on `.winebuild/lock`.
//!
//! The operating system releases the lock when the process ends, however it ends, so a killed build
//! never leaves a stale lock behind. A second build says it is waiting, then waits.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::error::{IoAction, IoError};

/// Held for the duration of a build; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct BuildLock {
    _file: File,
}

impl BuildLock {
    pub(crate) fn acquire(path: &Path, on_wait: impl FnOnce()) -> Result<BuildLock, IoError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| IoError::new(IoAction::Create, path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                on_wait();
                file.lock()
                    .map_err(|e| IoError::new(IoAction::Lock, path, e))?;
            }
            Err(TryLockError::Error(e)) => return Err(IoError::new(IoAction::Lock, path, e)),
        }
        Ok(BuildLock { _file: file })
    }
}
