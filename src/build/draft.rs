//! A stage's output between its query and its stored object: published as a *draft*, so that
//! dependents run their queries on the table while its Parquet bytes are encoded and stored.
//!
//! On the sample month, encoding and storing a stage's output took a fifth of the chain of
//! queries from `web` to the reports (half a millisecond to three per stage); with drafts, the
//! next query runs meanwhile, on the other core.
//!
//! Rules it keeps:
//! - a draft settles exactly once, as stored (with its object's hash) or abandoned, even when
//!   its stage fails or panics ([`DraftGuard`]): a stage waiting for it never waits forever;
//! - a dependent only *runs ahead* on a draft: its key is still decided from the stored object's
//!   hash, after the draft settles, and a store hit then wins over what it ran; so keys, stored
//!   objects and reports are those of a build without drafts;
//! - a stage drafts only once its own key is decided and is a miss: the table it drafts is the
//!   one it stores, never one the store replaces;
//! - a table large enough to be encoded on every core is not drafted: no core would be left to
//!   run ahead on, and a dependent that turns out reused (its input reran with the same output)
//!   would hold up the build for a query it no longer needs, which on a small table costs
//!   milliseconds at most;
//! - once stored, the draft lets its table go: the build's table cache holds it from then on,
//!   and frees it when its last reader settles.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::store::ObjectHash;
use crate::table::Table;

/// A stage's output table, on its way to the store.
pub(crate) struct Draft {
    state: Mutex<State>,
    settled: Condvar,
}

enum State {
    /// Being encoded and stored.
    Pending(Arc<Table>),
    Stored(ObjectHash),
    /// Its stage failed before storing it.
    Abandoned,
}

impl std::fmt::Debug for Draft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &*self.lock() {
            State::Pending(_) => "pending".to_string(),
            State::Stored(object) => format!("stored as {}", object.short()),
            State::Abandoned => "abandoned".to_string(),
        };
        write!(f, "Draft({state})")
    }
}

impl Draft {
    /// A pending draft of `table`, and the guard its stage settles it with.
    pub(super) fn new(table: Arc<Table>) -> (Arc<Draft>, DraftGuard) {
        let draft = Arc::new(Draft {
            state: Mutex::new(State::Pending(table)),
            settled: Condvar::new(),
        });
        (draft.clone(), DraftGuard(draft))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The table, while it is not stored yet.
    pub(super) fn table(&self) -> Option<Arc<Table>> {
        match &*self.lock() {
            State::Pending(table) => Some(table.clone()),
            State::Stored(_) | State::Abandoned => None,
        }
    }

    pub(super) fn is_pending(&self) -> bool {
        matches!(&*self.lock(), State::Pending(_))
    }

    /// The stored object, once it is stored.
    pub(super) fn object(&self) -> Option<ObjectHash> {
        match &*self.lock() {
            State::Stored(object) => Some(object.clone()),
            State::Pending(_) | State::Abandoned => None,
        }
    }

    /// Waits until the draft settles; returns its object if it was stored.
    pub(super) fn wait(&self) -> Option<ObjectHash> {
        let state = self
            .settled
            .wait_while(self.lock(), |state| matches!(state, State::Pending(_)))
            .unwrap_or_else(PoisonError::into_inner);
        match &*state {
            State::Stored(object) => Some(object.clone()),
            State::Pending(_) | State::Abandoned => None,
        }
    }

    fn settle(&self, outcome: State) {
        let mut state = self.lock();
        if matches!(*state, State::Pending(_)) {
            *state = outcome;
            self.settled.notify_all();
        }
    }
}

/// What a stage that drafted its output settles the draft with. Dropped without
/// [`DraftGuard::stored`] (an error, a panic), it abandons the draft.
pub(super) struct DraftGuard(Arc<Draft>);

impl DraftGuard {
    pub(super) fn stored(self, object: ObjectHash) {
        self.0.settle(State::Stored(object));
    }
}

impl Drop for DraftGuard {
    fn drop(&mut self) {
        self.0.settle(State::Abandoned);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use arrow::datatypes::{DataType, Field, Schema};

    use super::Draft;
    use crate::store::ObjectHash;
    use crate::table::Table;

    fn table() -> Arc<Table> {
        Arc::new(Table::empty(Schema::new(vec![Field::new(
            "id",
            DataType::Int64,
            false,
        )])))
    }

    #[test]
    fn a_waiting_stage_gets_the_object_once_stored_and_the_table_is_let_go() {
        let (draft, guard) = Draft::new(table());
        assert!(draft.is_pending());
        assert!(draft.table().is_some());
        let object = ObjectHash::of(b"bytes");
        let waiter = {
            let draft = draft.clone();
            std::thread::spawn(move || draft.wait())
        };
        std::thread::sleep(Duration::from_millis(20));
        guard.stored(object.clone());
        assert_eq!(waiter.join().unwrap(), Some(object.clone()));
        assert_eq!(draft.object(), Some(object));
        assert!(draft.table().is_none());
        assert!(!draft.is_pending());
    }

    #[test]
    fn a_stage_that_fails_or_panics_abandons_its_draft_and_never_leaves_a_waiter_hanging() {
        let (draft, guard) = Draft::new(table());
        let waiter = {
            let draft = draft.clone();
            std::thread::spawn(move || draft.wait())
        };
        let panicked = std::thread::spawn(move || {
            let _guard = guard;
            panic!("the stage failed while encoding");
        })
        .join();
        assert!(panicked.is_err());
        assert_eq!(waiter.join().unwrap(), None);
        assert_eq!(draft.object(), None);
        assert!(draft.table().is_none());
    }
}
