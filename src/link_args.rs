//! Build script (see `build` in Cargo.toml): how the `winebuild` executable is linked on Linux.
//! Only the executable is affected: the library and its tests are linked as cargo would.
//!
//! **Without PIE.** The binary carries DataFusion, and as a position-independent executable the
//! dynamic loader applies ~200,000 relocations at every start, 7 ms of the 10 ms
//! `winebuild --version` took. A fixed-address executable has none (2.5 ms), which is what lets
//! a no-op build finish in under 10 ms.
//!
//! **The functions a build runs, placed together** (release builds linked by LLD, the default
//! linker of x86_64-unknown-linux-gnu). The binary holds 115 MiB of code, mostly DataFusion's and
//! Ballista's, and a sample month's build runs 10 MiB of it, scattered: every page it touches
//! maps its neighbours too, so a build kept 75–90 MiB of code resident, most of its peak
//! memory. `src/link_order.txt` lists the functions that builds, no-ops and diffs run, hottest
//! first (`just link-order` writes it from a callgrind profile), and LLD's
//! `--symbol-ordering-file` puts them at the start of the code. Names carry hashes of the
//! toolchain, the dependency versions and the profile: after an update, names no longer found
//! are skipped silently and the layout falls back to LLD's own, bigger but correct, until the
//! list is written again. Editing winebuild's own code renames some of its functions too: LLVM
//! names those that one codegen unit shares with another after a hash of the unit's code (one
//! unit for the crate would keep them, but made the 100× build 3–8 % slower). An edit on the
//! build's path can cost a few MiB of peak memory until `just link-order` runs again.
//!
//! `WINEBUILD_LINK_MAP=PATH` also writes LLD's map of the executable to PATH, which is how
//! `just link-order` turns profiled addresses into function names.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=src/link_args.rs");
    println!("cargo:rerun-if-changed=src/link_order.txt");
    println!("cargo:rerun-if-env-changed=WINEBUILD_LINK_MAP");
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" || target_env != "gnu" {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-no-pie");
    if !linked_by_default_lld() {
        return;
    }
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let order = std::path::Path::new(&manifest_dir).join("src/link_order.txt");
    // Without the list (a trimmed checkout), LLD lays the code out its own way.
    if env::var("PROFILE").as_deref() == Ok("release") && order.is_file() {
        link_arg(&format!("--symbol-ordering-file={}", order.display()));
        link_arg("--no-warn-symbol-ordering");
    }
    if let Ok(map) = env::var("WINEBUILD_LINK_MAP") {
        link_arg(&format!("-Map={map}"));
    }
}

/// Whether the executable is linked by rustc's own LLD: the default on 64-bit x86 Linux since Rust
/// 1.90, unless a linker is configured (GNU ld would reject LLD's options).
fn linked_by_default_lld() -> bool {
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let linker_chosen = env::var_os("RUSTC_LINKER").is_some()
        || ["linker", "link-self-contained", "fuse-ld"]
            .iter()
            .any(|option| flags.contains(option));
    env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") && !linker_chosen
}

/// One argument for the linker, through the C compiler driver: `-Xlinker` passes it whole, where
/// `-Wl,` would split a path at its commas.
fn link_arg(arg: &str) {
    println!("cargo:rustc-link-arg-bins=-Xlinker");
    println!("cargo:rustc-link-arg-bins={arg}");
}
