#!/bin/bash
# Crash soak: MESSAGES messages submitted in parallel by four local users through the
# setgid drop helper, while outboxd is SIGKILLed DAEMON_KILLS times at random moments and
# restarted, SENDMAIL_KILLS submissions are SIGKILLed half-way through their input, and
# the smarthost (a private Postfix) cycles through 451 on RCPT, 421 on RCPT and 421 after
# DATA for the first half of the run. At the end, every accepted message (exit 0) must
# have arrived at least once, no killed submission may have arrived, and duplicates must
# not exceed the daemon kills (one connection: at most one message in flight per kill).
#
#   soak.sh BIN [MESSAGES [DAEMON_KILLS [SENDMAIL_KILLS]]]     (defaults 10000 50 20)
#
# Needs root (unshare -m gives it a private /etc with an `outbox` group and the helper's
# configuration), postfix and sasl2-bin. Prints "RESULT key=value" lines and a summary;
# exits 1 when a promise was broken. `make soak` runs the full size; the test suite runs
# a small one (IntegrationTests/SoakTests).
set -uo pipefail
if [ -z "${SOAK_IN_NAMESPACE:-}" ]; then
    SOAK_IN_NAMESPACE=1 exec unshare -m --propagation private "$0" "$@"
fi
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "$1" && pwd); MESSAGES=${2:-10000}; DAEMON_KILLS=${3:-50}; SENDMAIL_KILLS=${4:-20}
W=$(mktemp -d /var/tmp/outbox-soak.XXXXXX); chmod 755 "$W"
PORT=${PORT:-$((16000 + $$ % 400 * 10))}
RUN=soak-$$-$RANDOM
START=$(date +%s)
cleanup() {
    [ -f "$W/outboxd.pid" ] && kill -9 "$(cat "$W/outboxd.pid")" 2>/dev/null
    [ -n "${FAULTS_PID:-}" ] && kill "$FAULTS_PID" 2>/dev/null
    bash "$REPO/Tests/Scripts/smarthost.sh" stop "$W/smarthost" >/dev/null 2>&1
    [ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT

# A private /etc: the outbox group and /etc/outbox/outbox.conf for the set-id helper.
mkdir -p "$W/ov/upper" "$W/ov/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$W/ov/upper,workdir=$W/ov/work" /etc || { echo "soak: overlay mount failed" >&2; exit 1; }
getent group outbox >/dev/null || groupadd --system outbox
getent group outboxdrop >/dev/null || groupadd --system outboxdrop
mkdir -p /etc/outbox "$W/sbin" "$W/spool/maildrop/tmp" "$W/spool/maildrop/new" "$W/submit"
chmod 755 "$W/sbin" "$W/spool" "$W/spool/maildrop"
chgrp outboxdrop "$W/spool/maildrop/tmp" "$W/spool/maildrop/new"
chmod 1730 "$W/spool/maildrop/tmp"; chmod 1770 "$W/spool/maildrop/new"
cp "$BIN/sendmail" "$BIN/outboxdrop" "$W/sbin/"
chgrp outboxdrop "$W/sbin/outboxdrop"; chmod 2755 "$W/sbin/outboxdrop"
bash "$REPO/Tests/Scripts/smarthost.sh" start "$W/smarthost" "$PORT" >"$W/smarthost.log" 2>&1 || { cat "$W/smarthost.log"; exit 1; }
echo secret > "$W/password"; chmod 600 "$W/password"
: > "$W/aliases"
cat > /etc/outbox/outbox.conf <<CONF
spool_directory = $W/spool
domain = soak.test
admin_address = admin@remote.test
aliases_file = $W/aliases
smarthost = smtp://127.0.0.1:$PORT
tls_ca_file = $W/smarthost/ca.pem
auth_username = user@smarthost.test
auth_password_file = $W/password
max_connections = 1
connect_timeout = 5s
command_timeout = 30s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
queue_scan_interval = 2s
CONF
chmod 644 /etc/outbox/outbox.conf "$W/aliases"
export OUTBOX_CONFIG=/etc/outbox/outbox.conf

# Submitters: four users, eight at a time; each records its exit code.
cat > "$W/submit.sh" <<'SUB'
#!/bin/bash
i=$1; users=(nobody daemon bin sys)
u=${users[$((i % 4))]}
printf 'To: rcpt@remote.test\nSubject: %s #%d#\n\nmessage %d from %s\n' "$RUN" "$i" "$i" "$u" |
    setpriv --reuid="$u" --regid=nogroup --clear-groups "$W/sbin/sendmail" -i -f "$u@soak.test" rcpt@remote.test 2>>"$W/submit.err"
echo "$i $?" >> "$W/submit/$((i % 8))"
SUB
chmod 755 "$W/submit.sh"
export W RUN
seq 0 $((MESSAGES - 1)) | xargs -P 8 -n 1 "$W/submit.sh" &
SUBMIT_PID=$!

# Smarthost faults for the first part of the run.
(
    for round in $(seq 1 200); do
        case $((round % 4)) in
            1) printf 'rcpt@remote.test 451 4.7.1 soak tempfail\n' > "$W/smarthost/etc/recipient_access"; : > "$W/smarthost/etc/data_access" ;;
            2) printf 'rcpt@remote.test 421 4.7.0 soak disconnect\n' > "$W/smarthost/etc/recipient_access" ;;
            3) : > "$W/smarthost/etc/recipient_access"; printf '%s 421 4.7.0 soak disconnect after DATA\n' nobody@soak.test daemon@soak.test > "$W/smarthost/etc/data_access" ;;
            0) : > "$W/smarthost/etc/recipient_access"; : > "$W/smarthost/etc/data_access" ;;
        esac
        postfix -c "$W/smarthost/etc" reload >/dev/null 2>&1
        sleep 3
        [ -f "$W/faults.stop" ] && break
    done
    : > "$W/smarthost/etc/recipient_access"; : > "$W/smarthost/etc/data_access"
    postfix -c "$W/smarthost/etc" reload >/dev/null 2>&1
) &
FAULTS_PID=$!

# Killed submissions: half a message in, then SIGKILL; the helper must drop it.
for k in $(seq 1 "$SENDMAIL_KILLS"); do
    mkfifo "$W/fifo$k"
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$W/sbin/sendmail" -i rcpt@remote.test < "$W/fifo$k" 2>/dev/null &
    pid=$!
    exec 7>"$W/fifo$k"
    printf 'Subject: %s killed #%d#\n\nfirst half of killed %d\n' "$RUN" "$k" "$k" >&7
    sleep 0.$((RANDOM % 3 + 1))
    kill -9 $pid 2>/dev/null
    exec 7>&-
    wait $pid 2>/dev/null
done

# The daemon: killed at random moments while submissions and faults go on.
start_daemon() { "$BIN/outboxd" --no-syslog >>"$W/outboxd.log" 2>&1 & echo $! > "$W/outboxd.pid"; }
for k in $(seq 1 "$DAEMON_KILLS"); do
    start_daemon
    sleep "$((RANDOM % 2)).$((RANDOM % 10))$((RANDOM % 10))"
    kill -9 "$(cat "$W/outboxd.pid")"; wait "$(cat "$W/outboxd.pid")" 2>/dev/null
done
wait $SUBMIT_PID
# The smarthost's faults must actually have been met (on a loaded machine the killed
# daemons may not have reached a delivery during them): a daemon runs on while they go on,
# until a deferral is logged (at most a minute), then stops cleanly (no extra duplicate).
if ! grep -q 'status=deferred' "$W/outboxd.log"; then
    start_daemon
    for _ in $(seq 1 120); do
        grep -q 'status=deferred' "$W/outboxd.log" && break
        "$W/sbin/sendmail" -q 2>/dev/null || true
        sleep 0.5
    done
    kill -TERM "$(cat "$W/outboxd.pid")"; wait "$(cat "$W/outboxd.pid")" 2>/dev/null
fi
touch "$W/faults.stop"; wait $FAULTS_PID; FAULTS_PID=

# Drain what is left with the faults lifted.
start_daemon
"$W/sbin/sendmail" -q
for _ in $(seq 1 $((60 + MESSAGES / 20))); do
    [ -z "$(ls "$W/spool/maildrop/new")" ] && [ -z "$(ls "$W/spool/queue/msg" 2>/dev/null)" ] && break
    sleep 1
done
kill -TERM "$(cat "$W/outboxd.pid")"; wait "$(cat "$W/outboxd.pid")" 2>/dev/null; rm -f "$W/outboxd.pid"
LEFT=$(( $(ls "$W/spool/maildrop/new" | wc -l) + $(ls "$W/spool/queue/msg" 2>/dev/null | wc -l) ))
sleep 2   # Postfix's pipe deliveries still on their way

# Tally.
cat "$W"/submit/* | sort -n > "$W/codes"
ACCEPTED=$(awk '$2 == 0' "$W/codes" | wc -l)
REFUSED=$(awk '$2 != 0' "$W/codes" | wc -l)
find "$W/smarthost/mail" -name '*.eml' -print0 | xargs -0 -r grep -ho "$RUN #[0-9]*#" | sed 's/.*#\([0-9]*\)#/\1/' | sort -n | uniq -c > "$W/arrivals"
awk '$2 == 0 { print $1 }' "$W/codes" | sort -n > "$W/accepted"
awk '{ print $2 }' "$W/arrivals" | sort -n > "$W/arrived"
LOST=$(comm -23 <(sort "$W/accepted") <(sort "$W/arrived") | wc -l)
DUPLICATES=$(awk '$1 > 1 { d += $1 - 1 } END { print d + 0 }' "$W/arrivals")
KILLED_ARRIVED=$(find "$W/smarthost/mail" -name '*.eml' -print0 | xargs -0 -r grep -l "$RUN killed #" | wc -l)
TMP_LEFT=$(find "$W/spool/maildrop/tmp" -type f | wc -l)
DEFERRALS=$(grep -c 'status=deferred' "$W/outboxd.log" || true)
STARTS=$(grep -c 'daemon started' "$W/outboxd.log" || true)
SECONDS_TAKEN=$(( $(date +%s) - START ))
for kv in messages=$MESSAGES accepted=$ACCEPTED refused=$REFUSED daemon_kills=$DAEMON_KILLS sendmail_kills=$SENDMAIL_KILLS \
          lost=$LOST duplicates=$DUPLICATES killed_arrived=$KILLED_ARRIVED queue_left=$LEFT tmp_left=$TMP_LEFT deferrals=$DEFERRALS \
          daemon_starts=$STARTS seconds=$SECONDS_TAKEN; do
    echo "RESULT $kv"
done
echo "soak: $MESSAGES messages from 4 users, $ACCEPTED accepted ($REFUSED refused), outboxd SIGKILLed $DAEMON_KILLS times," \
     "$SENDMAIL_KILLS sendmail SIGKILLed mid-input, smarthost 451/421/421-after-DATA for part of the run:" \
     "$LOST lost, $DUPLICATES duplicates (bound $DAEMON_KILLS), $KILLED_ARRIVED killed submissions arrived, $LEFT left queued;" \
     "$DEFERRALS deferrals logged, ${SECONDS_TAKEN}s"
[ -s "$W/submit.err" ] && { echo "soak: submission errors:"; sort "$W/submit.err" | uniq -c | head; }
[ "$LOST" = 0 ] && [ "$KILLED_ARRIVED" = 0 ] && [ "$DUPLICATES" -le "$DAEMON_KILLS" ] && [ "$LEFT" = 0 ] && [ "$REFUSED" = 0 ]
