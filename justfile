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

# Benchmarks against the parse floor (calamine reading every cell of the month's workbooks on one
# thread, nothing else: the program of ../shared/bench/parse-floor, built here from the same
# source): cold build, no-op rebuild, rebuild after web.xlsx changed, peak memory, and diff of two
# archived months; on the sample month and on a 100x larger one.
bench:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release --quiet
    bin="$PWD/target/release/winebuild"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    floor_dir="${TMPDIR:-/tmp}/winebuild-parse-floor"
    mkdir -p "$floor_dir/src"
    printf '%s\n' '[package]' 'name = "parse-floor"' 'version = "0.1.0"' 'edition = "2024"' \
        'publish = false' '[dependencies]' 'calamine = "=0.38.0"' '[profile.release]' 'debug = false' \
        > "$floor_dir/Cargo.toml"
    cat > "$floor_dir/src/main.rs" <<'FLOOR'
    use calamine::{DataType, Reader, open_workbook_auto};
    fn main() {
        let mut cells = 0usize;
        for path in std::env::args().skip(1) {
            let mut workbook = open_workbook_auto(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let sheet = workbook.sheet_names()[0].clone();
            let range = workbook.worksheet_range(&sheet).unwrap_or_else(|e| panic!("{path}: {e}"));
            cells += range.cells().filter(|(_, _, c)| !c.is_empty()).count();
        }
        println!("{cells} non-empty cells");
    }
    FLOOR
    cargo build --release --quiet --manifest-path "$floor_dir/Cargo.toml"
    floor="$floor_dir/target/release/parse-floor"
    ratio() { awk -v a="${1% ms}" -v b="${2% ms}" 'BEGIN {printf "%.2fx", a / b}'; }
    # Times `measured` N times, running `prepare` (untimed) before each; prints the median.
    median() {
        local n=$1 prepare=$2 measured=$3
        local times=()
        for _ in $(seq "$n"); do
            eval "$prepare" > /dev/null 2>&1
            # $EPOCHREALTIME needs no process: `date` would add its own start-up to every figure.
            local start=${EPOCHREALTIME/./}
            eval "$measured" > /dev/null 2>&1
            local end=${EPOCHREALTIME/./}
            times+=($(( end - start )))
        done
        printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f ms", a[int((NR+1)/2)]/1000}'
    }
    bench_project() {
        local label=$1 dir=$2 month=$3 runs=$4 scale=$5
        local build="'$bin' -C '$dir' build -q --month $month"
        local files="$dir/data/$month/erp.xlsx $dir/data/$month/liaison.xlsx $dir/data/$month/web.xlsx"
        echo "== $label ($month)"
        local floor_all floor_web cold
        floor_all=$(median "$runs" true "'$floor' $files")
        floor_web=$(median "$runs" true "'$floor' '$dir/data/$month/web.xlsx'")
        cold=$(median "$runs" "'$bin' -C '$dir' clean" "$build")
        echo "parse floor:             $floor_all (web.xlsx alone: $floor_web)"
        echo "cold build:              $cold ($(ratio "$cold" "$floor_all") the floor)"
        "$bin" -C "$dir" clean -q
        /usr/bin/time -f "peak memory (cold):      %M KiB" "$bin" -C "$dir" build -q --month "$month" 2>&1 | tail -1
        sleep 2.1 # past the stat cache's racy window, as for files that were not just written
        "$bin" -C "$dir" build -q --month "$month"
        echo "no-op rebuild:           $(median 21 true "$build")"
        # Alternate web.xlsx between this month's and next month's export; gc drops the other
        # version's outputs so every rebuild really reparses and reruns what depends on web.
        # Next month's export fails this month's pinned web row count: every other rebuild ends
        # at web_clean's check, as a month with bad data would.
        cp "$dir/data/$month/web.xlsx" "$work/web.a"
        "$bin" sample "$work/other" --data-only --scale "$scale" --month 2026-10 -q
        cp "$work/other/data/2026-10/web.xlsx" "$work/web.b"
        cat > "$work/swap" <<SWAP
    if cmp -s "$dir/data/$month/web.xlsx" "$work/web.a"; then cp "$work/web.b" "$dir/data/$month/web.xlsx"; else cp "$work/web.a" "$dir/data/$month/web.xlsx"; fi
    rm -rf '$dir/archive'
    '$bin' -C '$dir' gc -q
    SWAP
        local rebuild
        rebuild=$(median "$runs" "bash '$work/swap'" "$build")
        echo "rebuild after web.xlsx:  $rebuild ($(ratio "$rebuild" "$floor_web") the floor on web.xlsx)"
        cp "$work/web.a" "$dir/data/$month/web.xlsx"
        rm -rf "$work/other"
    }
    # Builds (and so archives) 2026-09 and 2026-10, then times `winebuild diff` between them.
    bench_diff() {
        local dir=$1 runs=$2
        "$bin" -C "$dir" build -q --month 2026-09
        "$bin" -C "$dir" build -q --month 2026-10
        echo "diff 2026-09 → 2026-10:  $(median "$runs" true "'$bin' -C '$dir' diff 2026-09 2026-10")"
    }
    "$bin" sample "$work/x1" -q
    bench_project "sample month, scale 1" "$work/x1" 2026-09 11 1
    bench_diff "$work/x1" 11
    "$bin" sample "$work/x100" --scale 100 --month 2026-09 -q
    bench_project "100x month, scale 100" "$work/x100" 2026-09 3 100
    "$bin" sample "$work/x100" --scale 100 --month 2026-10 --data-only -q
    bench_diff "$work/x100" 5

# The shared store's cost, against a local SeaweedFS (`weed` on the PATH, or WINEBUILD_WEED), in
# interleaved triples on the sample month and the 100x month: a cold build without a remote, a
# cold build that uploads everything (a new prefix each time), and a second machine's cold build
# that fetches everything. Prints medians and the median per-triple ratios.
bench-remote:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release --quiet
    bin="$PWD/target/release/winebuild"
    weed="${WINEBUILD_WEED:-$(command -v weed)}"
    work="$(mktemp -d)"
    port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
    s3=$(port) filer=$(port)
    "$weed" server -dir="$work" -ip=127.0.0.1 -master.telemetry=false -s3 -s3.port="$s3" \
        -s3.port.iceberg=0 -s3.port.lance=0 -master.port="$(port)" -master.port.grpc="$(port)" \
        -volume.port="$(port)" -volume.port.grpc="$(port)" -filer.port="$filer" \
        -filer.port.grpc="$(port)" > "$work/weed.log" 2>&1 &
    weed_pid=$!
    trap 'kill $weed_pid; rm -rf "$work"' EXIT
    until curl -s -o /dev/null "http://127.0.0.1:$s3/"; do sleep 0.2; done
    curl -s -X PUT "http://127.0.0.1:$s3/bench" -o /dev/null
    until [ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary x "http://127.0.0.1:$s3/bench/ready")" = 200 ]; do sleep 0.2; done
    export AWS_ENDPOINT_URL="http://127.0.0.1:$s3" AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=bench \
        AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
    cold() { rm -rf "$1/.winebuild" "$1/archive" "$1/out"; }
    timed() { local s=${EPOCHREALTIME/./}; "$@" > /dev/null 2>&1; local e=${EPOCHREALTIME/./}; echo $((e - s)); }
    median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    bench() {
        local label=$1 dir=$2 month=$3 runs=$4
        local local_times=() upload_times=() fetch_times=() up_ratios=() fetch_ratios=()
        for i in $(seq "$runs"); do
            cold "$dir"; l=$(timed "$bin" -C "$dir" build -q --month "$month")
            cold "$dir"; u=$(WINEBUILD_REMOTE="s3://bench/$label-$i" timed "$bin" -C "$dir" build -q --month "$month")
            cold "$dir"; f=$(WINEBUILD_REMOTE="s3://bench/$label-$i" timed "$bin" -C "$dir" build -q --month "$month")
            local_times+=("$l"); upload_times+=("$u"); fetch_times+=("$f")
            up_ratios+=("$(awk -v a="$u" -v b="$l" 'BEGIN {printf "%.3f", a / b}')")
            fetch_ratios+=("$(awk -v a="$f" -v b="$l" 'BEGIN {printf "%.3f", a / b}')")
        done
        echo "== $label ($month), $runs triples"
        echo "cold build, no remote:      $(printf '%s\n' "${local_times[@]}" | median) us"
        echo "cold build, uploading:      $(printf '%s\n' "${upload_times[@]}" | median) us  (median ratio $(printf '%s\n' "${up_ratios[@]}" | median))"
        echo "second machine, fetching:   $(printf '%s\n' "${fetch_times[@]}" | median) us  (median ratio $(printf '%s\n' "${fetch_ratios[@]}" | median))"
    }
    "$bin" sample "$work/x1" --month 2026-09 -q
    bench x1 "$work/x1" 2026-09 15
    "$bin" sample "$work/x100" --scale 100 --month 2026-09 -q
    bench x100 "$work/x100" 2026-09 5

# Writes src/link_order.txt: the functions a release build runs, hottest first, which the release
# link places together (see src/link_args.rs). Profiles a cold build, a no-op and a diff of the
# sample months and a cold build of a 10x month under callgrind; needs valgrind and python3. Run
# it after a toolchain or dependency update or a change to code builds run, before measuring: a
# stale list shows as a higher peak memory in `just bench`.
link-order:
    #!/usr/bin/env bash
    set -euo pipefail
    for tool in valgrind python3; do
        command -v "$tool" > /dev/null || {
            echo "error: just link-order needs $tool" >&2
            echo "hint: on Debian, apt install $tool" >&2
            exit 2
        }
    done
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    # The map names what sits at each address; the profile must be the release one, unchanged,
    # since the profile's settings are part of every function's name.
    WINEBUILD_LINK_MAP="$work/map" cargo build --release --quiet
    bin="$PWD/target/release/winebuild"
    profile() {
        local name=$1; shift
        valgrind --tool=callgrind --dump-instr=yes --compress-strings=no --compress-pos=no \
            --callgrind-out-file="$work/$name.callgrind" "$bin" "$@" > /dev/null 2> "$work/$name.log" \
            || { cat "$work/$name.log" >&2; exit 1; }
    }
    "$bin" sample "$work/x1" -q
    profile version --version
    profile cold -C "$work/x1" build -q --month 2026-09
    profile noop -C "$work/x1" build -q --month 2026-09
    "$bin" -C "$work/x1" build -q --month 2026-10
    profile diff -C "$work/x1" diff 2026-09 2026-10
    "$bin" sample "$work/x10" --scale 10 --month 2026-09 -q
    profile cold10 -C "$work/x10" build -q --month 2026-09
    python3 - "$work/map" "$bin" src/link_order.txt "$work"/*.callgrind > "$work/order" <<'PY'
    """Prints the code sections the profiles ran, hottest first, by the symbol LLD orders them by."""
    import bisect, collections, os, re, sys
    map_path, binary, previous_path, *profiles = sys.argv[1:]
    binary = os.path.realpath(binary)
    # LLD's map: an output section at column 0 of the last field, input sections 8 spaces in,
    # symbols 16; `-ffunction-sections` names a function's section after its mangled symbol.
    row = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ (\s*)(.*)$")
    sections, output = [], None  # [start, size, symbol]
    with open(map_path) as lines:
        next(lines)
        for line in lines:
            m = row.match(line)
            if not m:
                continue
            start, size, indent, name = int(m[1], 16), int(m[2], 16), len(m[3]), m[4]
            if indent == 0:
                output = name
            elif output == ".text" and indent <= 8:
                own = re.search(r":\(\.text(?:\.unlikely|\.hot|\.startup)?\.(.+)\)$", name)
                sections.append([start, size, own[1] if own else None])
            elif output == ".text" and sections and sections[-1][2] is None:
                sections[-1][2] = name  # a whole object's .text (C, assembly): unmangled names
    sections.sort()
    starts = [s[0] for s in sections]
    heat = collections.Counter()
    for path in profiles:
        obj, after_call = None, False
        with open(path) as lines:
            for line in lines:
                if line.startswith("ob="):
                    obj = os.path.realpath(line[3:].strip())
                elif line.startswith("calls="):
                    after_call = True
                elif line.startswith("0x"):
                    if obj == binary:
                        address, *_, cost = line.split()
                        address = int(address, 16)
                        i = bisect.bisect_right(starts, address) - 1
                        if i >= 0 and address < starts[i] + max(sections[i][1], 1):
                            # After `calls=` the cost is the callee's too: count the call once.
                            heat[i] += 1 if after_call else int(cost)
                    after_call = False
    order = list(dict.fromkeys(sections[i][2] for i, _ in heat.most_common() if sections[i][2]))
    print("\n".join(order))
    run = sum(sections[i][1] for i in heat) / 2**20
    total = sum(s[1] for s in sections) / 2**20
    known = {s[2] for s in sections}
    previous = open(previous_path).read().split() if os.path.exists(previous_path) else []
    still = sum(name in known for name in previous)
    print(f"link order: {len(order)} functions, {run:.1f} MiB of the {total:.1f} MiB of code;"
          f" {still} of the {len(previous)} listed before were still in the binary", file=sys.stderr)
    PY
    mv "$work/order" src/link_order.txt
    cargo build --release --quiet
