#!/bin/bash
# Issue 15: what a large backlog costs. N valid drop files are written fast (copies of one
# the real helper wrote, each with its own queue ID), the smarthost refuses connections,
# and we measure: submission latency with them waiting, root's mailq over the maildrop and
# over the queue, outboxd --once over them (wall, peak RSS), a running daemon's RSS, and
# the size of public/mailq. Run by bench/run.sh; BIN = release binaries. BACKLOG_N sets N.
set -euo pipefail
BIN=${1:?release binary directory}
OUT=${2:?scratch directory}
N=${BACKLOG_N:-100000}
. "$(dirname "$0")/unreachable-spool.sh"; unreachable_spool "user_queue_limit = 0"
"$BIN/sendmail" -q
find "$OUT/spool/maildrop/new" -type f -delete
LATENCY=$(dirname "$0")/out/latency
printf 'From: bench@example.org\nTo: rcpt@example.net\nSubject: backlog\n\nbody\n' > "$OUT/1k.eml"

echo "== backlog: $N messages (issue 15)"
"$LATENCY" "submit, empty maildrop" 300 "$OUT/1k.eml" "$BIN/sendmail" -i rcpt@example.net
find "$OUT/spool/maildrop/new" -type f -delete
# clone DIR [STATEDIR]: N-1 copies of the one file in DIR (and its delivery state), each
# under its own queue ID (oldest first in ID order), owner and mode kept.
clone() {
    python3 - "$N" "$@" <<'PY'
import os, struct, sys, time
n, directory = int(sys.argv[1]), sys.argv[2]
states = sys.argv[3] if len(sys.argv) > 3 else None
[template] = os.listdir(directory)
data = open(f"{directory}/{template}", "rb").read()
st = os.stat(f"{directory}/{template}")
import re
# Due at once: every copy is tried as soon as outboxd starts.
state = re.sub(rb"(?m)^next [0-9]+$", b"next 0", open(f"{states}/{template}", "rb").read()) if states else None
marker = b"I" + struct.pack(">I", 14) + template.encode()
assert data.count(marker) == 1
alphabet = "0123456789BCDFGHJKLMNPQRSTVWXYZa"
base = int(time.time() * 1_000_000) - n * 1000
start = time.time()
for i in range(1, n):
    v, digits = base + i * 1000, []
    for _ in range(10):
        digits.append(alphabet[v & 31]); v >>= 5
    qid = "".join(reversed(digits)) + "0000"
    for where, text in [(directory, data.replace(marker, b"I" + struct.pack(">I", 14) + qid.encode())), (states, state)]:
        if where is None: continue
        with open(f"{where}/{qid}", "wb") as f: f.write(text)
        os.chown(f"{where}/{qid}", st.st_uid, st.st_gid)
        os.chmod(f"{where}/{qid}", st.st_mode & 0o7777)
print(f"wrote {n - 1} copies of {directory}/{template} in {time.time() - start:.1f} s")
PY
}
# Above 200 000 (BACKLOG_N=1000000) only the running daemon over the queue is measured:
# the maildrop steps and a full --once would take most of an hour (BACKLOG_LISTINGS=1
# adds mailq and outboxctl queue).
LARGE=$(( N > 200000 ))
if [ $LARGE = 0 ]; then
printf 'Subject: template\n\nb\n' | "$BIN/sendmail" -i rcpt@example.net
clone "$OUT/spool/maildrop/new"
"$LATENCY" "submit, $N drop files waiting" 300 "$OUT/1k.eml" "$BIN/sendmail" -i rcpt@example.net
/usr/bin/time -f "root mailq over $N drop files: wall %e s, peak RSS %M KiB" "$BIN/sendmail" -bp 2>&1 >/dev/null | tail -1
fi
# The queue: one message adopted and tried by outboxd, then copied.
find "$OUT/spool/maildrop/new" -type f -delete
printf 'Subject: template\n\nb\n' | "$BIN/sendmail" -i rcpt@example.net
"$BIN/outboxd" --once --no-syslog 2>/dev/null
clone "$OUT/spool/queue/msg" "$OUT/spool/queue/state"
if [ $LARGE = 0 ] || [ -n "${BACKLOG_LISTINGS:-}" ]; then
/usr/bin/time -f "root mailq over $N queued: wall %e s, peak RSS %M KiB" "$BIN/sendmail" -bp 2>&1 >"$OUT/mailq.txt" | tail -1
tail -1 "$OUT/mailq.txt"
/usr/bin/time -f "outboxctl queue --json over $N queued: wall %e s, peak RSS %M KiB" "$BIN/outboxctl" queue --json 2>&1 >/dev/null | tail -1
fi
started=$(date +%s.%N)
"$BIN/outboxd" --no-syslog 2>"$OUT/daemon.log" & PID=$!
for _ in $(seq 1 300); do grep -q 'status=deferred' "$OUT/daemon.log" && break; sleep 0.05; done
echo "running outboxd: first delivery attempt $(python3 -c "import time; print(f'{time.time() - $started:.2f}')") s after start"
sleep 20
echo "running outboxd holding them, after 20 s: RSS $(awk '/VmRSS/ {print $2}' /proc/$PID/status) KiB, peak $(awk '/VmHWM/ {print $2}' /proc/$PID/status) KiB; public/mailq $(stat -c %s "$OUT/spool/public/mailq" 2>/dev/null || echo 0) bytes"
kill $PID; wait $PID 2>/dev/null || true
[ $LARGE = 1 ] || /usr/bin/time -f "outboxd --once over $N queued, those not yet tried (smarthost refusing): wall %e s, peak RSS %M KiB" "$BIN/outboxd" --once --no-syslog 2>&1 >/dev/null | grep -E "^outboxd --once" || true
[ -n "${KEEP_SPOOL:-}" ] || rm -rf "$OUT/spool"
