//! The `winebuild` command: parse arguments, run, exit with 0 (ok), 1 (a check or an archive
//! verification failed) or 2 (an error).

/// mimalloc: parsing a workbook allocates millions of small strings from several threads, where
/// it is faster and steadier than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if compares_months(&args) {
        set_huge_pages_disabled(false);
    }
    if !serves_a_cluster(&args) {
        restore_sigpipe();
    }
    exit_without_clean_up(winebuild::cli::main());
}

/// Ends the process once its output is flushed, without the clean-up `exit` runs: mimalloc's
/// handler at exit hands every page it holds back to the kernel, one `madvise` at a time (about
/// 250 after a cold build of the sample month; the no-op build went from 3.90 to 3.62 ms), which
/// the kernel does anyway as the process ends. Everything else is done by then: files are written
/// and closed, threads joined.
#[expect(
    unsafe_code,
    reason = "_exit has no safe wrapper; std::process::exit runs the allocator's exit handler"
)]
fn exit_without_clean_up(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    #[cfg(unix)]
    // SAFETY: `_exit` only ends the process; what Rust would flush at exit is flushed above.
    unsafe {
        libc::_exit(code)
    }
    #[cfg(not(unix))]
    std::process::exit(code)
}

/// Whether this process is a cluster's scheduler or executor: a server that writes to sockets
/// its peers may close at any moment (vectored writes raise SIGPIPE), and must live on.
fn serves_a_cluster(args: &[String]) -> bool {
    args.windows(2)
        .any(|pair| pair[0] == "cluster" && matches!(pair[1].as_str(), "scheduler" | "executor"))
}

/// Whether this process is `winebuild diff`, which holds two months' outputs at once, one large
/// array after another: transparent huge pages serve it well (a diff of two 100x months: 2,000
/// page faults instead of 117,000, 0.40 instead of 0.50 s). A folder named `diff` matches too;
/// it only changes the page size.
fn compares_months(args: &[String]) -> bool {
    args.iter().any(|arg| arg == "diff")
}

/// Turns transparent huge pages off before anything in the process allocates (see
/// [`set_huge_pages_disabled`]): the runtime's first allocations, before `main`, used to fault in
/// two 2 MiB pages of mimalloc's arena, zeroed whole, in every command, `--version` included.
#[cfg(target_os = "linux")]
#[expect(
    unsafe_code,
    reason = "a constructor is the only code that runs before the Rust runtime's first allocation"
)]
#[used]
// SAFETY: `.init_array` holds `extern "C" fn()` pointers the C runtime calls once, before
// `main`, on the main thread; this one only makes a system call.
#[unsafe(link_section = ".init_array")]
static SMALL_PAGES_FROM_THE_START: extern "C" fn() = {
    extern "C" fn small_pages_from_the_start() {
        set_huge_pages_disabled(true);
    }
    small_pages_from_the_start
};

/// Turns transparent huge pages off (or back on) for this process. mimalloc asks for them on its
/// arena, where each 2 MiB region a thread touches is then faulted in and zeroed whole: a cold
/// build of the sample month held 56 MiB of heap for 14 MiB used (peak 130 MiB instead of 88),
/// and the 100x month took 1.49 instead of 1.27 times the parse floor. Only `winebuild diff`
/// turns them back on.
#[expect(
    unsafe_code,
    reason = "prctl has no safe wrapper; PR_SET_THP_DISABLE only changes this process's page size"
)]
fn set_huge_pages_disabled(disabled: bool) {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments and touches no memory of ours;
    // if the kernel refuses it, pages stay as they were.
    unsafe {
        libc::prctl(
            libc::PR_SET_THP_DISABLE,
            libc::c_ulong::from(disabled),
            0,
            0,
            0,
        );
    }
    #[cfg(not(target_os = "linux"))]
    let _ = disabled;
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`winebuild diff | head`) would panic;
/// the default action ends the process quietly, as every Unix tool does.
#[expect(unsafe_code, reason = "libc::signal has no safe wrapper")]
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
