#!/bin/bash
# Runs inside `unshare -m`: an overlay on /etc gives this test its own
# /etc/outbox/outbox.conf and `outbox` group without touching the host. Installs the
# drop helper setgid into a temporary prefix, then submits as `nobody` with a hostile
# environment. Prints "RESULT name=value" lines for the Swift test to check.
set -u
BIN=$1 W=$2
mkdir -p "$W/ov/upper" "$W/ov/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$W/ov/upper,workdir=$W/ov/work" /etc || { echo "RESULT setup=overlay-failed"; exit 1; }
getent group outbox >/dev/null || groupadd --system outbox
getent group outboxdrop >/dev/null || groupadd --system outboxdrop
mkdir -p /etc/outbox "$W/prefix/sbin" "$W/spool/maildrop/tmp" "$W/spool/maildrop/new" "$W/spool/queue/msg" "$W/evil"
chmod 755 "$W" "$W/prefix" "$W/prefix/sbin" "$W/spool" "$W/spool/maildrop" "$W/evil"
chgrp outboxdrop "$W/spool/maildrop/tmp" "$W/spool/maildrop/new"
chmod 1730 "$W/spool/maildrop/tmp"
chmod 1770 "$W/spool/maildrop/new"
chmod 700 "$W/spool/queue"
cp "$BIN/sendmail" "$BIN/outboxdrop" "$W/prefix/sbin/"
chgrp outboxdrop "$W/prefix/sbin/outboxdrop"
chmod 2755 "$W/prefix/sbin/outboxdrop"
# The secrets outboxd reads, with the modes the package gives them.
echo secret > /etc/outbox/password; chgrp outbox /etc/outbox/password; chmod 640 /etc/outbox/password
echo refresh > /etc/outbox/oauth-refresh-token; chgrp outbox /etc/outbox/oauth-refresh-token; chmod 640 /etc/outbox/oauth-refresh-token
echo queued > "$W/spool/queue/msg/M0000000000000"
printf 'spool_directory = %s/spool\ndomain = example.org\nadmin_address = admin@example.net\naliases_file = %s/aliases\n' "$W" "$W" > /etc/outbox/outbox.conf
: > "$W/aliases"
printf 'spool_directory = %s/evil/spool\ndomain = evil.test\n' "$W" > "$W/evil/outbox.conf"
chmod 644 /etc/outbox/outbox.conf "$W/evil/outbox.conf" "$W/aliases"

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
as_daemon() { setpriv --reuid=daemon --regid=daemon --clear-groups "$@"; }

printf 'Subject: from nobody\n\nhello\n' | as_nobody env -i PATH=/usr/bin:/bin \
    OUTBOX_CONFIG="$W/evil/outbox.conf" TMPDIR="$W/evil" LANG=xx_XX.UTF-8 LC_ALL=xx_XX \
    SWIFT_DEBUG_ENABLE_MALLOC_SCRIBBLE=1 SWIFT_BACKTRACE=enable=yes ICU_DATA="$W/evil" \
    LD_LIBRARY_PATH="$W/evil" "$W/prefix/sbin/sendmail" -i someone@x.test
echo "RESULT nobody_exit=$?"
f=$(ls "$W/spool/maildrop/new" | head -1)
echo "RESULT queued_count=$(ls "$W/spool/maildrop/new" | wc -l)"
echo "RESULT evil_spool_exists=$([ -e "$W/evil/spool" ] && echo yes || echo no)"
echo "RESULT file_owner=$(stat -c '%U:%G:%a' "$W/spool/maildrop/new/$f")"
echo "RESULT tmp_left=$(ls "$W/spool/maildrop/tmp" | wc -l)"
as_daemon cat "$W/spool/maildrop/new/$f" >/dev/null 2>&1; echo "RESULT other_user_read_exit=$?"
as_daemon ls "$W/spool/maildrop/new" >/dev/null 2>&1; echo "RESULT other_user_list_exit=$?"
as_nobody ls "$W/spool/maildrop/new" >/dev/null 2>&1; echo "RESULT nobody_list_exit=$?"
# Exactly the helper's credentials (another user, effective and real gid outboxdrop):
# no secret, no queue, and not another user's pending message.
as_helper() { setpriv --reuid=daemon --regid=outboxdrop --clear-groups "$@"; }
as_helper cat /etc/outbox/password >/dev/null 2>&1; echo "RESULT helper_password_exit=$?"
as_helper cat /etc/outbox/oauth-refresh-token >/dev/null 2>&1; echo "RESULT helper_oauth_exit=$?"
as_helper ls "$W/spool/queue" >/dev/null 2>&1; echo "RESULT helper_queue_list_exit=$?"
as_helper cat "$W/spool/queue/msg/M0000000000000" >/dev/null 2>&1; echo "RESULT helper_queue_read_exit=$?"
as_helper cat "$W/spool/maildrop/new/$f" >/dev/null 2>&1; echo "RESULT helper_drop_read_exit=$?"
# Control: the submitter reads its own file (so the probe can succeed).
setpriv --reuid=nobody --regid=outboxdrop --clear-groups cat "$W/spool/maildrop/new/$f" >/dev/null 2>&1; echo "RESULT owner_drop_read_exit=$?"
# -C from a non-root caller is refused by the set-id helper.
printf 'Subject: x\n\nb\n' | as_nobody "$W/prefix/sbin/sendmail" -C "$W/evil/outbox.conf" -i someone@x.test 2>"$W/c.err"
echo "RESULT alternate_config_exit=$?"
echo "RESULT alternate_config_message=$(cat "$W/c.err")"
# Forged helper-only records (a uid) straight into the helper are refused.
printf 'U\0\0\0\x010S\0\0\0\x03a@bR\0\0\0\x03c@dE\0\0\0\0' | as_nobody "$W/prefix/sbin/outboxdrop" > "$W/forge.out"
echo "RESULT forged_uid_exit=$?"
echo "RESULT queued_after=$(ls "$W/spool/maildrop/new" | wc -l)"
echo "RESULT tmp_after=$(ls "$W/spool/maildrop/tmp" | wc -l)"
# The Swift runtime prints its variable list when SWIFT_DEBUG_HELP is set. The set-id
# helper must be silent (environment emptied before the runtime starts); the same binary
# without set-id is the control that shows the probe works.
as_nobody env SWIFT_DEBUG_HELP=YES "$W/prefix/sbin/outboxdrop" -x </dev/null >/dev/null 2>"$W/setgid.err"
echo "RESULT setgid_runtime_stderr_bytes=$(wc -c < "$W/setgid.err")"
cp "$W/prefix/sbin/outboxdrop" "$W/prefix/sbin/plain"; chmod 755 "$W/prefix/sbin/plain"
as_nobody env SWIFT_DEBUG_HELP=YES "$W/prefix/sbin/plain" -x </dev/null >/dev/null 2>"$W/plain.err"
echo "RESULT plain_runtime_stderr_bytes=$(wc -c < "$W/plain.err")"

# Issue 10, findings 3 and 4, with a real member of the drop group (exactly the helper's
# credentials). outboxd (root's, on this root-owned spool) adopts nobody's message; the
# smarthost is a closed port, so it stays queued.
rm -f "$W/spool/queue/msg/M0000000000000"
printf 'smarthost = smtp://127.0.0.1:1\nconnect_timeout = 2s\n' >> /etc/outbox/outbox.conf
"$BIN/outboxd" --once --no-syslog > "$W/d1.log" 2>&1
Q=$(ls "$W/spool/queue/msg" | head -1)
echo "RESULT first_adopted=$(ls "$W/spool/queue/msg" | wc -l)"
# A drop file named after that public queue ID, with a matching ID record, written by the
# group member straight into maildrop/new.
rec() {
    local n=${#2}
    printf '%s' "$1"
    printf "\\x$(printf %02x $((n >> 24 & 255)))\\x$(printf %02x $((n >> 16 & 255)))\\x$(printf %02x $((n >> 8 & 255)))\\x$(printf %02x $((n & 255)))"
    printf '%s' "$2"
}
DAEMON_UID=$(id -u daemon)
{ rec V "outbox-drop 1"; rec I "$Q"; rec U "$DAEMON_UID"; rec T "$(date +%s)"; rec S "daemon@example.org"
  rec R "forged@x.test"; rec M "$(printf 'Subject: forged replacement\r\n\r\nforged\r\n')"; rec E ""; } > "$W/forged.rec"
as_helper sh -c "cat '$W/forged.rec' > '$W/spool/maildrop/new/.forged' && mv '$W/spool/maildrop/new/.forged' '$W/spool/maildrop/new/$Q'"
echo "RESULT forged_placed=$([ -f "$W/spool/maildrop/new/$Q" ] && echo yes || echo no)"
"$BIN/outboxd" --once --no-syslog > "$W/d2.log" 2>&1
echo "RESULT queue_count=$(ls "$W/spool/queue/msg" | wc -l)"
echo "RESULT original_intact=$(grep -q 'from nobody' "$W/spool/queue/msg/$Q" && ! grep -q forged "$W/spool/queue/msg/$Q" && echo yes || echo no)"
echo "RESULT renamed_logged=$(grep -q "queue ID already in use" "$W/d2.log" && echo yes || echo no)"
# The group member keeps its own drop file open across adoption and writes through it.
printf 'Subject: daemon original\n\nbody\n' | as_daemon "$W/prefix/sbin/sendmail" -i someone@x.test
D=$(ls "$W/spool/maildrop/new" | head -1)
as_helper bash -c 'exec 3<>"$1"; sleep 3; printf "FORGED-REWRITE" >&3' _ "$W/spool/maildrop/new/$D" &
HOLDER=$!
sleep 1
"$BIN/outboxd" --once --no-syslog > "$W/d3.log" 2>&1
wait $HOLDER
echo "RESULT rewrite_adopted=$([ -f "$W/spool/queue/msg/$D" ] && echo yes || echo no)"
echo "RESULT rewrite_blocked=$(grep -q 'daemon original' "$W/spool/queue/msg/$D" && ! grep -q FORGED-REWRITE "$W/spool/queue/msg/$D" && echo yes || echo no)"

# Callers whose passwd entry the C library's own files do not hold. The installed sendmail
# (musl) reads /etc/passwd and nscd, then asks getent(1), which asks every NSS source. The
# static glibc sendmail before it died of SIGSEGV here: its getpwuid loaded an NSS module
# (nss_systemd, nss_extrausers) into a static program.
as_uid() { local id=$1; shift; setpriv --reuid="$id" --regid="$id" --clear-groups "$@"; }
drops_with() { grep -l -a -F -e "$1" "$W"/spool/maildrop/new/* 2>/dev/null | wc -l; }
printf 'Subject: unlisted\n\nbody\n' | as_uid 4242 "$W/prefix/sbin/sendmail" -i someone@x.test
echo "RESULT unlisted_exit=$?"
echo "RESULT unlisted_sender=$(drops_with '#4242@example.org')"
# A user one task below RLIMIT_NPROC (a cron job near its nproc limit): the task left goes
# to the drop helper, not to sendmail's ORIGIN thread (review, helper-17).
printf 'Subject: nproc\n\nbody\n' | as_uid 4244 prlimit --nproc=2 -- "$W/prefix/sbin/sendmail" -i someone@x.test
echo "RESULT nproc_exit=$?"
echo "RESULT nproc_sender=$(drops_with '#4244@example.org')"
# libnss-extrausers stands in for LDAP or sssd: a user only an NSS module knows, in this
# namespace's own /var/lib and nsswitch.conf.
if ldconfig -p | grep -q libnss_extrausers.so.2; then
    mkdir -p "$W/var/upper" "$W/var/work"
    mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$W/var/upper,workdir=$W/var/work" /var/lib
    mkdir -p /var/lib/extrausers
    echo 'ldapuser:x:4243:4243:Lena Dap,Room 5,,:/home/ldapuser:/bin/sh' > /var/lib/extrausers/passwd
    : > /var/lib/extrausers/group
    sed -i 's/^passwd:.*/passwd: files extrausers/' /etc/nsswitch.conf
    echo "RESULT nss_user_getent=$(getent passwd 4243 | cut -d: -f1)"
    printf 'Subject: nss\n\nbody\n' | as_uid 4243 "$W/prefix/sbin/sendmail" -i someone@x.test
    echo "RESULT nss_user_exit=$?"
    echo "RESULT nss_user_sender=$(drops_with 'ldapuser@example.org')"
    echo "RESULT nss_user_from=$(drops_with 'From: Lena Dap <ldapuser@example.org>')"
else
    echo "RESULT nss_user_getent=libnss-extrausers-missing"
fi
