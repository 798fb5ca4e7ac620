#!/bin/bash
# The Debian package, tested the way an admin meets it: build the .deb, lint it, install it
# into a fresh Debian 12 chroot (debootstrap), install bsd-mailx, cron and php-cli there
# (none may pull in another MTA), then send through mail(1), PHP's mail() and a cron job's
# output to a private Postfix smarthost on loopback and check that all three arrive; also
# newaliases, mailq, outboxctl check, the hardened unit's exposure score, that outboxd's
# real system calls pass the unit's SystemCallFilter, and that purge removes what the
# install made.
#
#   package-test.sh            needs root, debootstrap, dpkg-dev, debhelper, lintian, postfix,
#                              sasl2-bin, systemd (systemd-analyze), strace and Debian's mirror
#   KEEP=1 package-test.sh     keep the work directory for a look afterwards
#
# Downloaded packages are cached in /var/cache/outbox-pkgtest (debootstrap and apt), so a
# second run on the same machine does not fetch them again.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
if [ "$(id -u)" != 0 ]; then echo "package-test: skipped (needs root for debootstrap and chroot)"; exit 0; fi
for tool in debootstrap dpkg-buildpackage dh lintian postfix saslpasswd2 systemd-analyze strace; do
    command -v $tool >/dev/null || { echo "package-test: $tool is missing (see .ci/run for the packages)" >&2; exit 1; }
done
say() { echo "package-test: $*"; }
die() { echo "package-test: FAILED: $*" >&2; exit 1; }
START=$(date +%s)
WORK=$(mktemp -d /var/tmp/outbox-pkgtest.XXXXXX)
chmod 755 "$WORK"
ROOT=$WORK/root
CACHE=/var/cache/outbox-pkgtest
PORT=${PORT:-$((14000 + $$ % 500 * 10))}
SMARTHOST=$WORK/smarthost
MIRROR=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
TOKEN=pkgtest-$$-$(date +%s)

cleanup() {
    set +e
    [ -f "$WORK/outboxd.pid" ] && kill "$(cat "$WORK/outboxd.pid")" 2>/dev/null
    [ -n "${STRACE_PID:-}" ] && kill "$STRACE_PID" 2>/dev/null
    [ -f "$ROOT/run/crond.pid" ] && kill "$(cat "$ROOT/run/crond.pid")" 2>/dev/null
    sleep 0.5
    for m in dev/pts dev proc; do mountpoint -q "$ROOT/$m" && umount -l "$ROOT/$m"; done
    bash "$REPO/Tests/Scripts/smarthost.sh" stop "$SMARTHOST" >/dev/null 2>&1
    if [ -n "${KEEP:-}" ]; then echo "package-test: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
as_alice() { chroot --userspec=alice:alice "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/home/alice USER=alice LOGNAME=alice LANG=C.UTF-8 "$@"; }

# 1. Build and lint.
say "building the package (make package: dpkg-buildpackage -b -us -uc)"
make package >"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; die "make package"; }
VERSION=$(dpkg-parsechangelog -S Version)
ARCH=$(dpkg --print-architecture)
DEB=$REPO/.build/deb/outbox_${VERSION}_$ARCH.deb
[ -f "$DEB" ] || die "no $DEB"
lintian --fail-on error "$DEB" >"$WORK/lintian.log" 2>&1 || { cat "$WORK/lintian.log"; die "lintian reports errors"; }
lintian --show-overrides "$DEB" >"$WORK/lintian.log" 2>&1 || true
say "lintian: $(grep -c '^E:' "$WORK/lintian.log" || true) errors, $(grep -c '^W:' "$WORK/lintian.log" || true) warnings, $(grep -c '^O:' "$WORK/lintian.log" || true) overridden (see debian/outbox.lintian-overrides)"

# 2. The unit's exposure score (target <= 2.0).
dpkg-deb -x "$DEB" "$WORK/deb"
EXPOSURE=$(systemd-analyze security --offline=yes --no-pager "$WORK/deb/lib/systemd/system/outbox.service" 2>/dev/null \
    | sed -n 's/.*Overall exposure level for outbox.service: \([0-9.]*\).*/\1/p')
[ -n "$EXPOSURE" ] || die "systemd-analyze security gave no score"
awk -v e="$EXPOSURE" 'BEGIN { exit !(e <= 2.0) }' || die "systemd exposure $EXPOSURE > 2.0"
say "systemd-analyze security --offline=yes: exposure $EXPOSURE"

# 3. A fresh Debian 12 with the package and three programs that send mail.
mkdir -p "$CACHE/debs" "$CACHE/apt"
say "debootstrap bookworm (minbase) from $MIRROR"
debootstrap --variant=minbase --cache-dir="$CACHE/debs" bookworm "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; die "debootstrap"; }
mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# No daemon starts inside the chroot on its own (invoke-rc.d asks policy-rc.d).
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"; chmod 755 "$ROOT/usr/sbin/policy-rc.d"
echo "Dir::Cache::Archives \"/var/cache/apt/archives\";" > "$ROOT/etc/apt/apt.conf.d/90cache"
mkdir -p "$ROOT/var/cache/apt/archives"
mount --bind "$CACHE/apt" "$ROOT/var/cache/apt/archives" 2>/dev/null && CACHE_MOUNTED=1 || true
cp "$DEB" "$ROOT/tmp/outbox.deb"
in_root apt-get update -qq >"$WORK/apt.log" 2>&1 || { tail "$WORK/apt.log"; die "apt-get update"; }
in_root apt-get install -y -q /tmp/outbox.deb >>"$WORK/apt.log" 2>&1 || { tail -30 "$WORK/apt.log"; die "installing outbox"; }
say "installed $(basename "$DEB") into a fresh chroot"
in_root apt-get install -y -q bsd-mailx cron php-cli >>"$WORK/apt.log" 2>&1 || { tail -30 "$WORK/apt.log"; die "installing bsd-mailx cron php-cli"; }
[ -n "${CACHE_MOUNTED:-}" ] && umount "$ROOT/var/cache/apt/archives"
MTAS=$(in_root dpkg-query -W -f='${db:Status-Abbrev} ${Package}: ${Provides}\n' | awk '$1 == "ii" && /mail-transport-agent/ { print $2 }' | tr -d : | xargs)
[ "$MTAS" = outbox ] || die "mail-transport-agent providers installed: '$MTAS' (only outbox expected)"
say "bsd-mailx, cron and php-cli installed; the only MTA is outbox"

# 4. What the install made.
check_stat() { local got; got=$(in_root stat -c "%a %U:%G" "$1"); [ "$got" = "$2" ] || die "$1 is '$got', expected '$2'"; }
check_stat /usr/sbin/outboxdrop "2755 root:outbox"
check_stat /etc/outbox/password "640 root:outbox"
check_stat /var/spool/outbox "755 outbox:outbox"
check_stat /var/spool/outbox/maildrop/tmp "1730 outbox:outbox"
check_stat /var/spool/outbox/maildrop/new "1770 outbox:outbox"
check_stat /var/spool/outbox/queue "700 outbox:outbox"
[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/outbox.service" ] || die "outbox.service is not enabled"
for link in /usr/lib/sendmail /usr/bin/mailq /usr/bin/newaliases; do
    [ "$(readlink -f "$ROOT$link")" = "$ROOT/usr/sbin/sendmail" ] || die "$link does not lead to /usr/sbin/sendmail"
done
say "setgid helper, password file, spool modes, links and the enabled unit are as outbox-spool(5) says"

# 5. Configure it against a private smarthost, start outboxd as user outbox.
bash "$REPO/Tests/Scripts/smarthost.sh" start "$SMARTHOST" "$PORT" >"$WORK/smarthost.log" 2>&1 || { cat "$WORK/smarthost.log"; die "smarthost"; }
cp "$SMARTHOST/ca.pem" "$ROOT/etc/outbox/ca.pem"
cat > "$ROOT/etc/outbox/outbox.conf" <<CONF
smarthost = smtp://127.0.0.1:$PORT
tls_ca_file = /etc/outbox/ca.pem
auth_username = user@smarthost.test
auth_password_file = /etc/outbox/password
domain = pkgtest.example
admin_address = admin@remote.test
CONF
echo secret > "$ROOT/etc/outbox/password"   # keeps its 0640 root:outbox
check_stat /etc/outbox/password "640 root:outbox"
in_root outboxctl check >"$WORK/check.log" 2>&1 || { cat "$WORK/check.log"; die "outboxctl check"; }
say "outboxctl check: $(tail -1 "$WORK/check.log")"
# What an ordinary user can reach: queue mail, nothing else. bob queues a message while
# outboxd is stopped; alice must not read it, list the spool, read the credentials, or
# make outboxctl touch it.
in_root useradd -m -s /bin/sh alice
in_root useradd -m -s /bin/sh bob
printf 'Subject: bob private %s\n\nbob body\n' "$TOKEN" | chroot --userspec=bob:bob "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin \
    HOME=/home/bob /usr/sbin/sendmail -i rcpt@remote.test || die "bob's sendmail"
BOB_ID=$(ls "$ROOT/var/spool/outbox/maildrop/new")
[ -n "$BOB_ID" ] || die "bob's message is not in maildrop/new"
for attempt in "cat /etc/outbox/password" "ls /var/spool/outbox/maildrop/new" "cat /var/spool/outbox/maildrop/new/$BOB_ID" \
               "ls /var/spool/outbox/queue" "ls /var/spool/outbox/maildrop/tmp" "/usr/sbin/outboxctl delete $BOB_ID" \
               "/usr/sbin/outboxctl show $BOB_ID" "/usr/sbin/outboxd --once"; do
    if as_alice $attempt >/dev/null 2>&1; then die "alice could run: $attempt"; fi
done
[ "$(ls "$ROOT/var/spool/outbox/maildrop/new")" = "$BOB_ID" ] || die "bob's message changed after alice's attempts"
say "an ordinary user cannot read the password, list the spool, read another user's queued mail, or run outboxctl/outboxd on it"

# Under strace: the unit's SystemCallFilter and MemoryDenyWriteExecute are checked below
# against every system call outboxd really makes (no systemd runs here to enforce them).
strace -f -qq -o "$WORK/outboxd.trace" chroot --userspec=outbox:outbox "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin \
    /usr/sbin/outboxd --no-syslog >"$WORK/outboxd.log" 2>&1 &
STRACE_PID=$!
for _ in $(seq 1 50); do OUTBOXD_PID=$(pgrep -P $STRACE_PID || true); [ -n "$OUTBOXD_PID" ] && break; sleep 0.1; done
[ -n "$OUTBOXD_PID" ] || die "outboxd did not start"
echo "$OUTBOXD_PID" > "$WORK/outboxd.pid"

# 6. Mail the way these programs send it, as an ordinary user.
in_root /usr/sbin/cron
echo "* * * * * echo cron output $TOKEN" | as_alice crontab - || die "crontab"
echo "mailx body $TOKEN" | as_alice mail -s "mailx $TOKEN" rcpt@remote.test || die "mail(1) exited $?"
as_alice php -r "exit(mail('rcpt@remote.test', 'php $TOKEN', 'php body $TOKEN') ? 0 : 1);" || die "PHP mail() returned false"
in_root newaliases || die "newaliases exited $?"
say "queued through mail(1) and PHP's mail(); waiting for cron's next minute"

delivered() { grep -l "$1" "$SMARTHOST"/mail/*.eml 2>/dev/null | head -1; }
for _ in $(seq 1 90); do
    [ -n "$(delivered "bob private $TOKEN")" ] && [ -n "$(delivered "mailx $TOKEN")" ] && [ -n "$(delivered "php $TOKEN")" ] && [ -n "$(delivered "cron output $TOKEN")" ] && break
    sleep 1
done
for what in "bob private $TOKEN:rcpt@remote.test" "mailx $TOKEN:rcpt@remote.test" "php $TOKEN:rcpt@remote.test" "cron output $TOKEN:admin@remote.test"; do
    f=$(delivered "${what%%:*}")
    [ -n "$f" ] || { cat "$WORK/outboxd.log"; die "'${what%%:*}' did not arrive at the smarthost"; }
    rcpt=$(sed -n 2p "${f%.eml}.env")
    [ "$rcpt" = "${what##*:}" ] || die "'${what%%:*}' went to <$rcpt>, expected <${what##*:}>"
done
say "delivered to the smarthost: bob's queued mail, mailx -> rcpt@remote.test, PHP mail() -> rcpt@remote.test, cron (alice's job) -> admin@remote.test"
for _ in $(seq 1 20); do [ "$(as_alice mailq 2>&1)" = "Mail queue is empty" ] && break; sleep 0.5; done
[ "$(as_alice mailq 2>&1)" = "Mail queue is empty" ] || die "mailq as alice: $(as_alice mailq 2>&1)"
say "newaliases exits 0; mailq as an ordinary user prints 'Mail queue is empty'"

# 7. The control socket and SIGHUP as an admin uses them, then stop; then the system
# calls outboxd made (after it was exec'd) against the unit's filter.
in_root outboxctl hold ALL >/dev/null || die "outboxctl hold ALL (through outboxd's control socket)"
kill -HUP "$OUTBOXD_PID"; sleep 0.5
kill -TERM "$OUTBOXD_PID"; wait $STRACE_PID || true; rm -f "$WORK/outboxd.pid"
grep -q "outboxd stopped" "$WORK/outboxd.log" || { cat "$WORK/outboxd.log"; die "outboxd did not stop cleanly"; }
UNIT=$ROOT/lib/systemd/system/outbox.service
expand() {
    systemd-analyze syscall-filter "$1" | sed -e 's/^ *//' -e '/^#/d' -e '/^$/d' | grep -vx -- "$1" |
        while read -r name; do case $name in @*) expand "$name" ;; *) echo "$name" ;; esac; done
}
for group in $(sed -n 's/^SystemCallFilter=\([^~].*\)/\1/p' "$UNIT"); do expand "$group"; done | sort -u > "$WORK/allowed"
for group in $(sed -n 's/^SystemCallFilter=~\(.*\)/\1/p' "$UNIT"); do expand "$group"; done | sort -u > "$WORK/denied"
awk '/execve\("\/usr\/sbin\/outboxd"/ { on = 1 } on { sub(/^[0-9]+ +/, ""); if (match($0, /^[a-z0-9_]+\(/)) print substr($0, 1, RLENGTH - 1) }' \
    "$WORK/outboxd.trace" | sort -u > "$WORK/used"
[ "$(wc -l < "$WORK/used")" -gt 20 ] || die "the strace of outboxd looks empty"
BAD=$( (comm -23 "$WORK/used" "$WORK/allowed"; comm -12 "$WORK/used" "$WORK/denied") | sort -u | xargs)
[ -z "$BAD" ] || die "outboxd makes system calls outbox.service's SystemCallFilter forbids: $BAD"
if grep -Eq 'PROT_WRITE\|PROT_EXEC|PROT_EXEC\|PROT_WRITE|mprotect\(.*PROT_EXEC' "$WORK/outboxd.trace"; then
    die "outboxd maps memory writable and executable: MemoryDenyWriteExecute=yes would kill it"
fi
say "outboxd's $(wc -l < "$WORK/used") distinct system calls (delivery, TLS, SASL, control socket, SIGHUP, SIGTERM) all pass the unit's SystemCallFilter; no W+X mappings"

# 8. Purge removes what the install made.
kill "$(cat "$ROOT/run/crond.pid")" 2>/dev/null || true
in_root apt-get purge -y -q outbox >>"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; die "apt-get purge outbox"; }
for path in /etc/outbox /var/spool/outbox /usr/sbin/sendmail /usr/sbin/outboxdrop /lib/systemd/system/outbox.service; do
    [ ! -e "$ROOT$path" ] || die "$path is still there after purge"
done
in_root getent passwd outbox >/dev/null && die "user outbox is still there after purge"
in_root getent group outbox >/dev/null && die "group outbox is still there after purge"
[ -z "$(in_root dpkg-statoverride --list | grep outbox || true)" ] || die "statoverrides left after purge"
say "purge removed the spool, /etc/outbox, the statoverrides, the user and the group"
say "passed in $(( $(date +%s) - START ))s"
