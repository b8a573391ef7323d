//! The `winebuild` command: parse arguments, run, exit with 0 (ok), 1 (checks or diffs found
//! problems) or 2 (an error).

fn main() {
    std::process::exit(winebuild::cli::main());
}
