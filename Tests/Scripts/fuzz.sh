#!/bin/bash
# fuzz.sh [SECONDS [TARGET...]]: builds the libFuzzer targets in Fuzz/ (AddressSanitizer +
# coverage) and runs each (or the named ones) for SECONDS seconds (default 10) from the seeds in Fuzz/Corpus, printing executions per
# target; exits 1 on any crash, leak or failed invariant (the input is kept in
# .build-fuzz/artifacts/). `make fuzz` runs it for FUZZ_SECONDS each; make check for 10.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-10}
shift || true
TARGETS=${*:-FuzzArguments FuzzHeaders FuzzRecords FuzzSMTPReply FuzzConfig FuzzSMTPServer FuzzTokenEndpoint}
SCRATCH=$PWD/.build-fuzz
mkdir -p "$SCRATCH/artifacts" "$SCRATCH/corpus"
# -sanitize=fuzzer would link libFuzzer's own main, which SwiftPM's per-executable main
# replaces; so: address sanitizer + libFuzzer's coverage instrumentation, and the driver
# library without main (each target's main.swift calls LLVMFuzzerRunDriver).
RUNTIME=$(ls "$(dirname "$(readlink -f "$(command -v swift)")")"/../lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a | head -1)
swift build --package-path Fuzz --scratch-path "$SCRATCH" -c debug \
    -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table \
    -Xlinker "$RUNTIME" -Xlinker -lstdc++ >"$SCRATCH/build.log" 2>&1 \
    || { tail -30 "$SCRATCH/build.log"; echo "fuzz: build failed" >&2; exit 1; }
status=0
for target in $TARGETS; do
    corpus=$SCRATCH/corpus/$target
    mkdir -p "$corpus"
    log=$SCRATCH/$target.log
    # The Swift runtime's own crash backtracer trips AddressSanitizer after a real failure
    # and buries it: off, so the log shows the failure itself.
    if SWIFT_BACKTRACE=enable=no "$SCRATCH/debug/$target" "$corpus" "Fuzz/Corpus/$target" -max_total_time="$SECONDS_EACH" -max_len=4096 \
        -artifact_prefix="$SCRATCH/artifacts/$target-" -print_final_stats=1 >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "fuzz: $target: $runs executions in ${SECONDS_EACH}s, no crash"
    else
        status=1
        echo "fuzz: $target: FAILED"; grep -E "ERROR|Fatal error|precondition|Test unit written" "$log" | head -5
    fi
done
exit $status
