//! The `winebuild` command: parse arguments, run, exit with 0 (ok), 1 (a check or an archive
//! verification failed) or 2 (an error).

/// mimalloc: parsing a workbook allocates millions of small strings from several threads, where
/// it is faster and steadier than the system allocator. Built without transparent huge pages
/// (Cargo.toml says why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if !serves_a_cluster() {
        restore_sigpipe();
    }
    std::process::exit(winebuild::cli::main());
}

/// Whether this process is a cluster's scheduler or executor: a server that writes to sockets
/// its peers may close at any moment (vectored writes raise SIGPIPE), and must live on.
fn serves_a_cluster() -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    args.windows(2)
        .any(|pair| pair[0] == "cluster" && matches!(pair[1].as_str(), "scheduler" | "executor"))
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`winebuild diff | head`) would panic;
/// the default action ends the process quietly, as every Unix tool does.
#[expect(
    unsafe_code,
    reason = "libc::signal has no safe wrapper; this is the crate's one unsafe block"
)]
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
