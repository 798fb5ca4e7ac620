#!/bin/bash
# The local-abuse scenarios of issue 10 (finding 8), measured: what a local user's largest
# envelopes cost outboxd in memory and in public/mailq, and how many bytes outboxd reads
# when small mail arrives while a 100 MB message waits. Also adoption throughput (every
# drop file is copied, validated and fsync'd). Run by bench/run.sh; BIN = release binaries.
set -euo pipefail
BIN=${1:?release binary directory}
OUT=${2:?scratch directory}
. "$(dirname "$0")/unreachable-spool.sh"; unreachable_spool
"$BIN/sendmail" -q

# Record streams written straight to the drop helper, as a local user can.
python3 - "$OUT" <<'PY'
import struct, sys
out = sys.argv[1]
def rec(t, payload):
    if isinstance(payload, str): payload = payload.encode()
    return t.encode() + struct.pack(">I", len(payload)) + payload
domain = ".".join(["d" * 60] * 3) + ".test"
# The largest envelope the 1 MiB cap lets through: ~1 KB addresses, as many as fit.
big = rec("S", "u@example.org")
size = len(big)
i = 0
while True:
    r = rec("R", f"{'a' * 250}{i:06d}@{domain}" + "\0" + ("o" * 550))
    if size + len(r) > (1 << 20) - 64: break
    big += r; size += len(r); i += 1
big += rec("M", "Subject: many\r\n\r\nb\r\n") + rec("E", "")
open(f"{out}/big-envelope.rec", "wb").write(big)
print(f"largest envelope accepted: {i} recipients, {size} bytes")
# A 100 MB message.
with open(f"{out}/100m.rec", "wb") as f:
    f.write(rec("S", "u@example.org") + rec("R", "r@remote.test"))
    chunk = (b"x" * 998 + b"\r\n") * 65
    f.write(rec("M", b"Subject: huge\r\n\r\n"))
    for _ in range(100 * 1024 * 1024 // len(chunk)):
        f.write(rec("M", chunk))
    f.write(rec("E", b""))
small = rec("S", "u@example.org") + rec("R", "r@remote.test") + rec("M", "Subject: small\r\n\r\nb\r\n") + rec("E", "")
open(f"{out}/small.rec", "wb").write(small)
PY

echo "== local abuse: five messages with the largest envelope allowed (issue 10: was 5 x 10 000 x 1 KB = 206 MB RSS, 52 MB public/mailq)"
for _ in 1 2 3 4 5; do "$BIN/outboxdrop" < "$OUT/big-envelope.rec" >/dev/null; done
/usr/bin/time -f "outboxd --once over them: wall %e s, peak RSS %M KiB" "$BIN/outboxd" --once --no-syslog 2>&1 >/dev/null | grep -E "^outboxd --once|error" || true
"$BIN/outboxd" --no-syslog 2>/dev/null & PID=$!
sleep 2
echo "running outboxd holding them: RSS $(awk '/VmRSS/ {print $2}' /proc/$PID/status) KiB; public/mailq $(stat -c %s "$OUT/spool/public/mailq") bytes"
kill $PID; wait $PID 2>/dev/null || true
rm -rf "$OUT/spool"; "$BIN/sendmail" -q

echo "== a 100 MB message waits; ten small submissions arrive (issue 10: 1.36 GB read)"
"$BIN/outboxdrop" < "$OUT/100m.rec" >/dev/null
"$BIN/outboxd" --no-syslog 2>/dev/null & PID=$!
sleep 3
before=$(awk '/^rchar/ {print $2}' /proc/$PID/io)
for _ in $(seq 1 10); do "$BIN/outboxdrop" < "$OUT/small.rec" >/dev/null; sleep 0.3; done
sleep 2
after=$(awk '/^rchar/ {print $2}' /proc/$PID/io)
echo "outboxd read $(( (after - before) / 1024 )) KiB for ten small submissions; RSS $(awk '/VmRSS/ {print $2}' /proc/$PID/status) KiB"
kill $PID; wait $PID 2>/dev/null || true
rm -rf "$OUT/spool"; "$BIN/sendmail" -q

N=${ADOPT_N:-2000}
echo "== adoption: $N drop files copied in, validated, fsync'd (smarthost unreachable)"
for _ in $(seq 1 "$N"); do "$BIN/outboxdrop" < "$OUT/small.rec" >/dev/null; done
/usr/bin/time -f "outboxd --once: wall %e s, peak RSS %M KiB" "$BIN/outboxd" --once --no-syslog 2>&1 >/dev/null | grep -E "^outboxd --once" || true
echo "queued after: $(ls "$OUT/spool/queue/msg" | wc -l)"
