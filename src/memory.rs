//! Giving freed memory back to the operating system at the points where a build has just let go
//! of a lot of it.
//!
//! mimalloc keeps freed pages for a second before it returns them, so that memory freed and
//! allocated again soon is not faulted in twice. That delay serves the many small frees of a
//! stage, but after a big sheet is read, the cells it was parsed into (over a hundred megabytes
//! for a 150,000-row web export) stayed resident for the rest of the build, on top of everything
//! allocated after them. Returning every pending page costs a system call per freed range, so it
//! is done only after big reads.

/// Returns the pages freed so far, process-wide, to the operating system now.
#[expect(
    unsafe_code,
    reason = "mi_collect is a C function with no safe wrapper"
)]
pub(crate) fn return_freed_pages() {
    // SAFETY: mi_collect takes a plain bool, may be called from any thread at any time, and only
    // releases memory nothing points to any more. In tests the global allocator is the system's
    // and mimalloc's pools are empty: the call then has nothing to do.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
