//! Content hashes of files without rereading them: a stat cache, as git's index.
//!
//! An entry maps a path to (size, mtime, ctime, inode) and the blake3 of the content seen then,
//! with the time the file was hashed. It is trusted only when the stat still matches *and* the
//! file's mtime and ctime are clearly older than the moment it was hashed: a file modified in the
//! same clock tick as its hashing could have changed after we read it without changing its stat
//! ("racy" entries in git), so such an entry is always rehashed.
//!
//! The ctime (the inode's change time) is what catches a rewrite that keeps the size and sets the
//! mtime back: user space can set a file's mtime, never its ctime, which every write moves.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::hash::ObjectHash;
pub(crate) use crate::files::FileStat;

/// How close to its hashing time a file's mtime must be to be distrusted. Generous: file systems
/// round mtimes (ext4 to a jiffy, FAT to 2 s), and a rehash is cheap next to a wrong build.
const RACY_WINDOW_NS: i128 = 2_000_000_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StatEntry {
    pub(crate) size: u64,
    pub(crate) mtime_ns: i128,
    /// Absent in entries written before ctimes were kept: such an entry never matches.
    #[serde(default)]
    pub(crate) ctime_ns: i128,
    pub(crate) inode: u64,
    pub(crate) hash: ObjectHash,
    pub(crate) hashed_at_ns: i128,
}

pub(crate) fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct StatCache {
    entries: BTreeMap<String, StatEntry>,
    #[serde(skip)]
    dirty: bool,
}

impl StatCache {
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// The cached hash of `path`, if its entry can be trusted for `stat`.
    pub(crate) fn trusted_hash(&self, key: &str, stat: &FileStat) -> Option<&ObjectHash> {
        let entry = self.entries.get(key)?;
        let same_stat = entry.size == stat.size
            && entry.mtime_ns == stat.mtime_ns
            && entry.ctime_ns == stat.ctime_ns
            && entry.inode == stat.inode;
        let changed_at = entry.mtime_ns.max(entry.ctime_ns);
        let racy = changed_at + RACY_WINDOW_NS >= entry.hashed_at_ns;
        (same_stat && !racy).then_some(&entry.hash)
    }

    /// Records that `key` had `stat` and content `hash`, as read starting at `hashed_at_ns`.
    pub(crate) fn record(
        &mut self,
        key: &str,
        stat: FileStat,
        hash: &ObjectHash,
        hashed_at_ns: i128,
    ) {
        let entry = StatEntry {
            size: stat.size,
            mtime_ns: stat.mtime_ns,
            ctime_ns: stat.ctime_ns,
            inode: stat.inode,
            hash: hash.clone(),
            hashed_at_ns,
        };
        if self.entries.get(key) != Some(&entry) {
            self.entries.insert(key.to_string(), entry);
            self.dirty = true;
        }
    }

    pub(crate) fn forget(&mut self, key: &str) {
        if self.entries.remove(key).is_some() {
            self.dirty = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_hashed_in_the_same_tick_as_its_mtime_is_not_trusted() {
        let mut cache = StatCache::default();
        let stat = FileStat {
            size: 10,
            mtime_ns: 1_000,
            ctime_ns: 1_000,
            inode: 7,
        };
        let h = ObjectHash::of(b"h");
        cache.record("f", stat, &h, 1_000);
        assert_eq!(cache.trusted_hash("f", &stat), None);
        cache.record("f", stat, &h, 1_000 + RACY_WINDOW_NS + 1);
        assert_eq!(cache.trusted_hash("f", &stat), Some(&h));
        let touched = FileStat {
            mtime_ns: 2_000,
            ..stat
        };
        assert_eq!(cache.trusted_hash("f", &touched), None);
        // Rewritten with its size and mtime kept: only the ctime moved.
        let rewritten = FileStat {
            ctime_ns: 3_000,
            ..stat
        };
        assert_eq!(cache.trusted_hash("f", &rewritten), None);
    }
}
