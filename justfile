# winebuild's everyday tasks. The README's commands are plain cargo; this is a convenience.

# Build the latest sample month (or `just build 2026-09`) and write its reports.
build month="":
    cargo run -- build {{ if month == "" { "" } else { "--month " + month } }}

# The whole test suite, as CI runs it.
test:
    cargo test

# Formatting and clippy, warnings as errors.
lint:
    cargo fmt --check
    cargo clippy --all-targets -- -D warnings

# Write a sample project to DIR (SCALE 100 gives ~150,000 web rows).
sample dir scale="1":
    cargo run -- sample {{dir}} --scale {{scale}}

# Timings on the sample months and on a 100x month: cold build, no-op rebuild, rebuild after one
# source changed, and the calamine-only parse of the same workbooks; peak memory of the cold build.
bench:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release --quiet
    bin="$PWD/target/release/winebuild"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    # median of N runs of a command, in ms
    median() {
        local n=$1; shift
        local times=()
        for _ in $(seq "$n"); do
            local start=$(date +%s%N)
            "$@" > /dev/null 2>&1
            local end=$(date +%s%N)
            times+=($(( (end - start) / 1000 )))
        done
        printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f ms", a[int((NR+1)/2)]/1000}'
    }
    bench_project() {
        local label=$1 dir=$2 month=$3 runs=$4
        local files="$dir/data/$month/erp.xlsx $dir/data/$month/liaison.xlsx $dir/data/$month/web.xlsx"
        echo "== $label ($month)"
        echo "calamine parse only:     $(median "$runs" "$bin" parse-only $files)"
        echo "cold build:              $(median "$runs" bash -c "'$bin' -C '$dir' clean -q && '$bin' -C '$dir' build -q --month $month")"
        /usr/bin/time -f "peak memory (cold):      %M KiB" bash -c "'$bin' -C '$dir' clean -q && '$bin' -C '$dir' build -q --month $month" 2>&1 >/dev/null | tail -1
        "$bin" -C "$dir" build -q --month "$month"
        sleep 2.1 # let the stat cache trust the files (racy window)
        "$bin" -C "$dir" build -q --month "$month"
        echo "no-op rebuild:           $(median 21 "$bin" -C "$dir" build -q --month "$month")"
        cp "$dir/data/$month/web.xlsx" "$work/web.a"
        "$bin" sample "$work/other" --data-only --scale "$5" --month 2026-10 -q
        cp "$work/other/data/2026-10/web.xlsx" "$work/web.b"
        local flip=0
        swap() { if [ $flip = 0 ]; then cp "$work/web.b" "$dir/data/$month/web.xlsx"; flip=1; else cp "$work/web.a" "$dir/data/$month/web.xlsx"; flip=0; fi; }
        local times=()
        for _ in $(seq "$runs"); do
            swap
            local start=$(date +%s%N)
            "$bin" -C "$dir" build -q --month "$month"
            local end=$(date +%s%N)
            times+=($(( (end - start) / 1000 )))
        done
        echo "rebuild after web.xlsx:  $(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f ms", a[int((NR+1)/2)]/1000}')"
        cp "$work/web.a" "$dir/data/$month/web.xlsx"
        rm -rf "$work/other"
    }
    "$bin" sample "$work/x1" -q
    bench_project "sample month, scale 1" "$work/x1" 2026-09 11 1
    "$bin" sample "$work/x100" --scale 100 --month 2026-09 -q
    bench_project "100x month, scale 100" "$work/x100" 2026-09 3 100
