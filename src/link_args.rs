//! Build script (see `build` in Cargo.toml): links the `winebuild` executable as a non-PIE binary
//! on Linux.
//!
//! Why: the binary carries DataFusion, and as a position-independent executable the dynamic
//! loader applies ~200,000 relocations at every start, 7 ms of the 10 ms `winebuild --version`
//! took. A fixed-address executable has none (2.5 ms), which is what lets a no-op build finish
//! in under 10 ms. Only the executable is affected: the library and its tests are unchanged.

fn main() {
    println!("cargo:rerun-if-changed=src/link_args.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
