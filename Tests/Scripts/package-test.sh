#!/bin/bash
# The Debian package, tested the way an admin meets it: build the .deb, lint it, score the
# unit, install it into a fresh Debian 12 chroot (debootstrap) together with programs that
# send mail (bsd-mailx, mailutils, s-nail, mutt, cron, at, php-cli with Symfony Mailer, git
# send-email, sudo, logwatch; none may pull in another MTA), check what the install made and
# what an ordinary user can reach, check outboxd's real system calls against the unit's filter,
# then boot the chroot with systemd (systemd-nspawn) so that outboxd runs as the installed
# outbox.service, send through every one of those programs to a private Postfix smarthost
# on loopback and check that each message reached exactly its envelope recipients; upgrade
# in place with mail waiting; finally purge and check that nothing the install made is left.
#
#   package-test.sh            needs root, debootstrap, dpkg-dev, debhelper, lintian, postfix,
#                              sasl2-bin, systemd (systemd-analyze), systemd-container
#                              (systemd-nspawn), strace and Debian's mirror
#   KEEP=1 package-test.sh     keep the work directory for a look afterwards
#
# Downloaded packages are cached in /var/cache/outbox-pkgtest (debootstrap and apt), so a
# second run on the same machine does not fetch them again.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
if [ "$(id -u)" != 0 ]; then echo "package-test: skipped (needs root for debootstrap and chroot)"; exit 0; fi
for tool in debootstrap dpkg-buildpackage dh lintian postfix saslpasswd2 systemd-analyze systemd-nspawn nsenter strace; do
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
    if [ -n "${NSPAWN_PID:-}" ]; then
        kill -TERM "$NSPAWN_PID" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$NSPAWN_PID" 2>/dev/null
    fi
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
# The same files under a higher version, for the upgrade test.
UPGRADE_VERSION=$VERSION+pkgtest1
dpkg-deb -R "$DEB" "$WORK/upgrade"
sed -i "s/^Version: .*/Version: $UPGRADE_VERSION/" "$WORK/upgrade/DEBIAN/control"
dpkg-deb -b "$WORK/upgrade" "$WORK/outbox-upgrade.deb" >/dev/null
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

# 3. A fresh Debian 12 with the package, systemd, and programs that send mail.
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
CLIENTS="bsd-mailx mailutils s-nail mutt cron at php-cli php-symfony-mailer git git-email sudo logwatch"
in_root apt-get install -y -q systemd-sysv $CLIENTS >>"$WORK/apt.log" 2>&1 || { tail -30 "$WORK/apt.log"; die "installing systemd-sysv $CLIENTS"; }
[ -n "${CACHE_MOUNTED:-}" ] && umount "$ROOT/var/cache/apt/archives"
MTAS=$(in_root dpkg-query -W -f='${db:Status-Abbrev} ${Package}: ${Provides}\n' | awk '$1 == "ii" && /mail-transport-agent/ { print $2 }' | tr -d : | xargs)
[ "$MTAS" = outbox ] || die "mail-transport-agent providers installed: '$MTAS' (only outbox expected)"
say "installed systemd-sysv $CLIENTS; the only MTA is outbox"

# 4. What the install made.
check_stat() { local got; got=$(in_root stat -c "%a %U:%G" "$1"); [ "$got" = "$2" ] || die "$1 is '$got', expected '$2'"; }
check_stat /usr/sbin/outboxdrop "2755 root:outboxdrop"
check_stat /etc/outbox/password "640 root:outbox"
check_stat /var/spool/outbox "755 outbox:outbox"
check_stat /var/spool/outbox/maildrop/tmp "1730 outbox:outboxdrop"
check_stat /var/spool/outbox/maildrop/new "1770 outbox:outboxdrop"
check_stat /var/spool/outbox/queue "700 outbox:outbox"
[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/outbox.service" ] || die "outbox.service is not enabled"
for link in /usr/lib/sendmail /usr/bin/mailq /usr/bin/newaliases; do
    [ "$(readlink -f "$ROOT$link")" = "$ROOT/usr/sbin/sendmail" ] || die "$link does not lead to /usr/sbin/sendmail"
done
say "setgid helper, password file, spool modes, links and the enabled unit are as outbox-spool(5) says"

# 5. Configure it against a private smarthost.
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
# A process with exactly the drop helper's credentials (alice with group outboxdrop, as
# a compromised helper would run) reads no secret, no queue, no other user's message.
as_helper() { chroot --userspec=alice:outboxdrop "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin "$@"; }
for attempt in "cat /etc/outbox/password" "cat /var/spool/outbox/maildrop/new/$BOB_ID" "ls /var/spool/outbox/queue"; do
    if as_helper $attempt >/dev/null 2>&1; then die "the helper's group could run: $attempt"; fi
done
as_helper ls /var/spool/outbox/maildrop/new >/dev/null 2>&1 || die "control: the helper's group lists maildrop/new (it fsyncs it)"
say "the helper's group (outboxdrop) cannot read the password, the queue, or another user's pending message"
# The installed helper's error paths. It is the Embedded -Osize build, which the unit and
# integration tests do not run (they use SwiftPM's); Swift 6.3.1 once compiled every one
# of these into a crash (exit 139) with the file left in maildrop/tmp.
helper_refuses() {  # CODE TEXT ARGS... (the record stream on stdin)
    local code=$1 text=$2 out rc=0
    shift 2
    out=$(as_alice /usr/sbin/outboxdrop "$@" 2>&1) || rc=$?
    [ "$rc" = "$code" ] || die "outboxdrop $* exited $rc, not $code: $out"
    [ "$(printf '%s\n' "$out" | grep -c '^E ')" = 1 ] && printf '%s\n' "$out" | grep -q "^E .*$text" \
        || die "outboxdrop $*: no single 'E ...$text' line: $out"
}
helper_refuses 65 "truncated" </dev/null
printf 'U\000\000\000\0010' | helper_refuses 65 "unexpected record 'U' at the start"
# A storage failure (the file size limit: EFBIG, SIGXFSZ ignored) at commit: 75.
python3 -c '
import struct, sys
rec = lambda t, p: t + struct.pack(">I", len(p)) + p
sys.stdout.buffer.write(rec(b"S", b"a@example.org") + rec(b"R", b"b@example.org") + rec(b"M", b"x" * 4000) + rec(b"E", b""))' \
    > "$WORK/big.records"
(ulimit -f 1; helper_refuses 75 "write" < "$WORK/big.records")
helper_refuses 78 "alternate configuration is allowed only for root" -C /tmp/other.conf </dev/null
helper_refuses 64 "usage" --bogus </dev/null
[ -z "$(ls "$ROOT/var/spool/outbox/maildrop/tmp")" ] || die "the helper's refusals left files in maildrop/tmp"
[ "$(ls "$ROOT/var/spool/outbox/maildrop/new")" = "$BOB_ID" ] || die "the helper's refusals queued something"
say "the installed helper refuses a truncated stream, a forged uid, a write over the file size limit, -C and an unknown option with one line and sysexits 65/65/75/78/64, leaving nothing"
# Both are static musl programs: musl's start-up leaves the RELRO segment (GOT, init and
# fini arrays, Swift's read-only tables) writable, and guard.c makes it read-only.
for program in "sendmail -bs" outboxdrop; do
    python3 Tests/Scripts/relro-check.py "$ROOT/usr/sbin/${program%% *}" -- chroot "$ROOT" /usr/sbin/$program >"$WORK/relro.log" 2>&1 \
        || die "$(cat "$WORK/relro.log")"
done
[ -z "$(ls "$ROOT/var/spool/outbox/maildrop/tmp")" ] || die "the RELRO check left files in maildrop/tmp"
say "sendmail's and the helper's RELRO segments are read-only while they run"

# 6. Under strace: the unit's SystemCallFilter and MemoryDenyWriteExecute are checked
# against every system call outboxd really makes while it delivers bob's message, answers
# the control socket, reloads and stops.
strace -f -qq -o "$WORK/outboxd.trace" chroot --userspec=outbox:outbox "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin \
    /usr/sbin/outboxd --no-syslog >"$WORK/outboxd.log" 2>&1 &
STRACE_PID=$!
for _ in $(seq 1 50); do OUTBOXD_PID=$(pgrep -P $STRACE_PID || true); [ -n "$OUTBOXD_PID" ] && break; sleep 0.1; done
[ -n "$OUTBOXD_PID" ] || die "outboxd did not start"
echo "$OUTBOXD_PID" > "$WORK/outboxd.pid"
delivered() { grep -l -- "$1" "$SMARTHOST"/mail/*.eml 2>/dev/null | head -1; }
for _ in $(seq 1 30); do [ -n "$(delivered "bob private $TOKEN")" ] && break; sleep 0.5; done
[ -n "$(delivered "bob private $TOKEN")" ] || { cat "$WORK/outboxd.log"; die "bob's queued message did not arrive"; }
in_root outboxctl hold ALL >/dev/null || die "outboxctl hold ALL (through outboxd's control socket)"
kill -HUP "$OUTBOXD_PID" || { cat "$WORK/outboxd.log"; tail -20 "$WORK/outboxd.trace"; die "outboxd exited before its SIGHUP"; }
sleep 0.5
kill -TERM "$OUTBOXD_PID"; wait $STRACE_PID || true; rm -f "$WORK/outboxd.pid"; STRACE_PID=
grep -q "daemon stopped" "$WORK/outboxd.log" || { cat "$WORK/outboxd.log"; die "outboxd did not stop cleanly"; }
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
in_root outboxctl release ALL >/dev/null || die "outboxctl release ALL"

# 7. Boot the chroot with systemd (systemd-nspawn, sharing the host's loopback) so that
# outboxd runs as the installed, enabled, hardened outbox.service, and send mail the way
# real programs do, each as it is installed, through /usr/sbin/sendmail.
for m in dev/pts dev proc; do mountpoint -q "$ROOT/$m" && umount "$ROOT/$m"; done
rm -f "$ROOT/usr/sbin/policy-rc.d"
echo "127.0.1.1 $(cat "$ROOT/etc/hostname" 2>/dev/null) outbox-pkgtest" >> "$ROOT/etc/hosts"
printf 'Defaults mail_always\nDefaults mailto="root"\nalice ALL=(ALL) NOPASSWD: ALL\n' > "$ROOT/etc/sudoers.d/pkgtest"
chmod 440 "$ROOT/etc/sudoers.d/pkgtest"
cat > "$ROOT/home/alice/symfony.php" <<'PHP'
<?php
// Symfony Mailer's SendmailTransport with the command line given, as Symfony and Laravel apps
// configure it; two messages through one mailer (with -bs: one sendmail process, two transactions).
require '/usr/share/php/Symfony/Component/Mailer/autoload.php';
require '/usr/share/php/Symfony/Component/Mime/autoload.php';
$mailer = new Symfony\Component\Mailer\Mailer(new Symfony\Component\Mailer\Transport\SendmailTransport($argv[1]));
foreach (['#1', '#2'] as $n) {
    $mailer->send((new Symfony\Component\Mime\Email())->from('App <app@pkgtest.example>')->to('rcpt@remote.test')
        ->bcc('hidden@remote.test')->subject("$argv[2] $n")->text("text part\n.\nafter a lone dot\n")->html('<p>html part</p>'));
}
PHP
systemd-nspawn -D "$ROOT" --boot --register=no --keep-unit -M outbox-pkgtest >"$WORK/nspawn.log" 2>&1 &
NSPAWN_PID=$!
# The container's init is the nspawn child named systemd (nspawn forks helpers that exit
# while it sets up, so "any child" can be gone a moment later).
for _ in $(seq 1 100); do LEADER=$(pgrep -P $NSPAWN_PID -x systemd || true); [ -n "$LEADER" ] && break; sleep 0.1; done
[ -n "$LEADER" ] || { cat "$WORK/nspawn.log"; die "systemd-nspawn did not start the container"; }
in_box() { nsenter -t "$LEADER" -a /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
as_user() { local u=$1; shift; nsenter -t "$LEADER" -a setpriv --reuid="$u" --regid="$u" --init-groups \
    /usr/bin/env -i -C "/home/$u" PATH=/usr/bin:/bin HOME="/home/$u" USER="$u" LOGNAME="$u" LANG=C.UTF-8 "$@"; }
for _ in $(seq 1 60); do [ "$(in_box systemctl is-active outbox.service 2>/dev/null)" = active ] && break; sleep 0.5; done
[ "$(in_box systemctl is-active outbox.service 2>/dev/null)" = active ] || { tail -30 "$WORK/nspawn.log"; in_box journalctl -u outbox --no-pager || true; die "outbox.service is not active after boot"; }
# Type=notify: active means outboxd said READY=1; its STATUS= is the outboxctl status line.
STATUS_TEXT=$(in_box systemctl show -p StatusText --value outbox.service)
case "$STATUS_TEXT" in "OUTBOX OK - "*) ;; *) die "systemctl status does not show outboxd's status line: '$STATUS_TEXT'" ;; esac
in_box systemctl status outbox.service --no-pager > "$WORK/status.txt" 2>&1 || true
grep -q "Status: \"OUTBOX OK - " "$WORK/status.txt" || { cat "$WORK/status.txt"; die "no Status: line in systemctl status"; }
echo "systemd shows: $STATUS_TEXT"
[ "$(in_box systemctl show -p User --value outbox.service)" = outbox ] || die "outbox.service does not run as user outbox"
say "booted the chroot with systemd: outbox.service is enabled and active as user outbox"

echo "* * * * * echo cron output $TOKEN" | as_user alice crontab - || die "crontab"
echo "echo at output $TOKEN" | as_user alice at now >/dev/null 2>&1 || die "at"
echo "mailx body" | as_user alice bsd-mailx -s "bsd-mailx $TOKEN" rcpt@remote.test || die "bsd-mailx exited $?"
echo "mailutils body" | as_user alice mail.mailutils -s "mailutils $TOKEN" rcpt@remote.test || die "mailutils mail exited $?"
echo "s-nail body" | as_user alice s-nail -s "s-nail $TOKEN" rcpt@remote.test || die "s-nail exited $?"
echo "mutt body" | as_user alice mutt -s "mutt $TOKEN" -c cc@remote.test -b bcc@remote.test rcpt@remote.test || die "mutt exited $?"
as_user alice php -r "exit(mail('rcpt@remote.test', 'php $TOKEN', 'php body') ? 0 : 1);" || die "PHP mail() returned false"
for cmd in "/usr/sbin/sendmail -bs" "/usr/sbin/sendmail -t -i" "/usr/sbin/sendmail -bs -i"; do
    as_user alice php /home/alice/symfony.php "$cmd" "symfony '$cmd' $TOKEN" || die "Symfony Mailer with '$cmd' failed"
done
as_user alice sh -c "git init -q repo && cd repo && git config user.email alice@remote.test && git config user.name 'Alice A' \
    && echo hi > f && git add f && git commit -qm 'git $TOKEN' && git format-patch -q -1 -o ../patches \
    && git send-email -q --confirm=never --to=rcpt@remote.test ../patches/*.patch" >"$WORK/git.log" 2>&1 \
    || { cat "$WORK/git.log"; die "git send-email failed"; }
# One word, as sudo's mail wraps its log line at blanks.
SUDO_WORD=sudo-$TOKEN
as_user alice sudo -n /bin/echo "$SUDO_WORD" >/dev/null || die "sudo"
echo "root body" | in_box bsd-mailx -s "root mailx $TOKEN" root || die "root's mail exited $?"
in_box logwatch --output mail --mailto root --range today --detail low >"$WORK/logwatch.log" 2>&1 || { cat "$WORK/logwatch.log"; die "logwatch"; }
in_box newaliases || die "newaliases exited $?"
say "queued through bsd-mailx, mailutils, s-nail, mutt, PHP mail(), Symfony Mailer (-bs, -t -i, -bs -i), git send-email, sudo, root's mail, logwatch and an at job; waiting for cron's next minute"

# The message with this text reached exactly these envelope recipients (duplicates are the
# crash soak's business), without Bcc:.
arrived() {
    local subject=$1 want got files; shift
    want=$(printf '%s\n' "$@" | sort | xargs)
    files=$(grep -l -F -- "$subject" "$SMARTHOST"/mail/*.eml 2>/dev/null || true)
    got=$(for f in $files; do sed -n 2p "${f%.eml}.env"; done | sort -u | xargs)
    [ "$got" = "$want" ] || return 1
    for f in $files; do grep -qi '^Bcc:' "$f" && die "'$subject' arrived with its Bcc: header"; done
    return 0
}
EXPECT=(
    "bsd-mailx $TOKEN|rcpt@remote.test"
    "mailutils $TOKEN|rcpt@remote.test"
    "s-nail $TOKEN|rcpt@remote.test"
    "mutt $TOKEN|rcpt@remote.test cc@remote.test bcc@remote.test"
    "php $TOKEN|rcpt@remote.test"
    "symfony '/usr/sbin/sendmail -bs' $TOKEN #1|rcpt@remote.test hidden@remote.test"
    "symfony '/usr/sbin/sendmail -bs' $TOKEN #2|rcpt@remote.test hidden@remote.test"
    "symfony '/usr/sbin/sendmail -t -i' $TOKEN #1|rcpt@remote.test hidden@remote.test"
    "symfony '/usr/sbin/sendmail -t -i' $TOKEN #2|rcpt@remote.test hidden@remote.test"
    "symfony '/usr/sbin/sendmail -bs -i' $TOKEN #1|rcpt@remote.test hidden@remote.test"
    "symfony '/usr/sbin/sendmail -bs -i' $TOKEN #2|rcpt@remote.test hidden@remote.test"
    "git $TOKEN|rcpt@remote.test alice@remote.test"
    "$SUDO_WORD|admin@remote.test"
    "root mailx $TOKEN|admin@remote.test"
    "Logwatch for |admin@remote.test"
    "cron output $TOKEN|admin@remote.test"
    "at output $TOKEN|admin@remote.test"
)
all_arrived() { local e; for e in "${EXPECT[@]}"; do arrived "${e%%|*}" ${e##*|} || return 1; done; }
for _ in $(seq 1 90); do all_arrived && break; sleep 1; done
for e in "${EXPECT[@]}"; do
    arrived "${e%%|*}" ${e##*|} || { in_box journalctl -u outbox --no-pager | tail -30 || true; die "'${e%%|*}' did not arrive for exactly <${e##*|}>"; }
done
for f in $(grep -l -F -- "symfony '" "$SMARTHOST"/mail/*.eml); do
    grep -q '^after a lone dot' "$f" || die "Symfony's text after a lone '.' line was lost"
    [ "$(sed -n 1p "${f%.eml}.env")" = app@pkgtest.example ] || die "Symfony's envelope sender is not app@pkgtest.example"
done
say "all arrived: ${#EXPECT[@]} messages to exactly their envelope recipients (Bcc: removed, lone dots kept); root, sudo, logwatch, cron and at mail went to admin_address"
for _ in $(seq 1 20); do [ "$(as_user alice mailq 2>&1)" = "Mail queue is empty" ] && break; sleep 0.5; done
[ "$(as_user alice mailq 2>&1)" = "Mail queue is empty" ] || die "mailq as alice: $(as_user alice mailq 2>&1)"
say "newaliases exits 0; mailq as an ordinary user prints 'Mail queue is empty'"

# An upgrade in place: the running service is restarted by the new package, a message
# queued while it was stopped survives and is delivered, the admin's configuration and
# password file, the setgid override and the outbox user are kept.
SUM_BEFORE=$(in_box sha256sum /etc/outbox/outbox.conf /etc/outbox/password)
UID_BEFORE=$(in_box id -u outbox)
in_box systemctl stop outbox.service || die "systemctl stop outbox (before the upgrade)"
printf 'Subject: upgrade %s\n\nqueued before the upgrade\n' "$TOKEN" | as_user bob /usr/sbin/sendmail -i rcpt@remote.test || die "bob's sendmail before the upgrade"
cp "$WORK/outbox-upgrade.deb" "$ROOT/root/outbox-upgrade.deb"
in_box apt-get install -y -q /root/outbox-upgrade.deb >>"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; die "upgrading to $UPGRADE_VERSION"; }
[ "$(in_box dpkg-query -W -f='${Version}' outbox)" = "$UPGRADE_VERSION" ] || die "the upgrade did not install $UPGRADE_VERSION"
for _ in $(seq 1 30); do arrived "upgrade $TOKEN" rcpt@remote.test && break; sleep 0.5; done
arrived "upgrade $TOKEN" rcpt@remote.test || { in_box journalctl -u outbox --no-pager | tail || true; die "the message queued before the upgrade did not arrive"; }
[ "$(in_box systemctl is-active outbox.service)" = active ] || die "outbox.service is not running after the upgrade"
[ "$(in_box sha256sum /etc/outbox/outbox.conf /etc/outbox/password)" = "$SUM_BEFORE" ] || die "the upgrade changed outbox.conf or the password file"
[ "$(in_box id -u outbox)" = "$UID_BEFORE" ] || die "the upgrade changed the outbox user's uid"
check_stat /usr/sbin/outboxdrop "2755 root:outboxdrop"
check_stat /etc/outbox/password "640 root:outbox"
check_stat /var/spool/outbox/maildrop/tmp "1730 outbox:outboxdrop"
say "upgrade to $UPGRADE_VERSION: the service was started again, mail queued before it was delivered, configuration, password, setgid helper and user kept"

# Upgrading under a running service stops it before the new files are unpacked (preinst),
# so an old outboxd never adopts what the new sendmail writes: outboxd's "daemon stopped"
# comes before the new /usr/sbin/outboxd is in place, not only at postinst's restart.
[ "$(in_box systemctl is-active outbox.service)" = active ] || die "outbox.service is not running before the second upgrade"
SINCE=$(date +%s)
in_box apt-get install --reinstall -y -q /root/outbox-upgrade.deb >>"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; die "reinstalling $UPGRADE_VERSION over the running service"; }
UNPACKED=$(in_box stat -c %.9Z /usr/sbin/outboxd)
STOPPED=$(in_box journalctl -u outbox.service --no-pager -o short-unix --since "@$((SINCE - 1))" | awk '/daemon stopped/ { print $1; exit }')
awk -v s="$STOPPED" -v u="$UNPACKED" 'BEGIN { exit !(s != "" && s + 0 < u + 0) }' \
    || die "outboxd was not stopped before the upgrade unpacked (stopped at '$STOPPED', new outboxd at $UNPACKED)"
for _ in $(seq 1 30); do [ "$(in_box systemctl is-active outbox.service)" = active ] && break; sleep 0.5; done
[ "$(in_box systemctl is-active outbox.service)" = active ] || die "outbox.service is not running after the upgrade over it"
say "upgrading over the running service: outboxd stopped before the new files were unpacked ($STOPPED < $UNPACKED), and runs again after"

# (The journal is read into a file before grep: with pipefail, grep -q closing the pipe
# early would fail the pipeline through journalctl's SIGPIPE.)
journal() { in_box journalctl -u outbox.service --no-pager -o cat > "$WORK/journal.log" 2>&1 || true; }
count() { journal; grep -c -- "$1" "$WORK/journal.log" || true; }
unit_state() { in_box systemctl status outbox.service --no-pager -l || true; in_box journalctl -u outbox.service --no-pager -o short-precise | tail -30 || true; }
journal
if grep -q "rejected\|corrupt" "$WORK/journal.log"; then cat "$WORK/journal.log"; die "outbox.service rejected a submission"; fi
grep -q "status=sent" "$WORK/journal.log" || die "no delivery lines in the journal"
RELOADS=$(count "^reloaded")
in_box systemctl reload outbox.service || { unit_state; die "systemctl reload outbox"; }
for _ in $(seq 1 20); do [ "$(count "^reloaded")" -gt "$RELOADS" ] && break; sleep 0.25; done
[ "$(count "^reloaded")" -gt "$RELOADS" ] || { unit_state; die "systemctl reload did not reload outboxd"; }
STOPS=$(count "^daemon stopped")
in_box systemctl stop outbox.service || { unit_state; die "systemctl stop outbox"; }
[ "$(in_box systemctl show -p Result --value outbox.service)" = success ] || { unit_state; die "outbox.service did not stop with result success"; }
[ "$(in_box systemctl show -p NRestarts --value outbox.service)" = 0 ] || { unit_state; die "outbox.service restarted"; }
# journald takes the last stdout line asynchronously: give it a moment.
for _ in $(seq 1 20); do [ "$(count "^daemon stopped")" -gt "$STOPS" ] && break; sleep 0.25; done
[ "$(count "^daemon stopped")" -gt "$STOPS" ] || { unit_state; die "no 'daemon stopped' in the journal after systemctl stop"; }
# A broken configuration: the service fails once (exit 78) and stays failed, no restart loop.
cp "$ROOT/etc/outbox/outbox.conf" "$WORK/outbox.conf.good"
echo "smarthost = smtp://" >> "$ROOT/etc/outbox/outbox.conf"
in_box systemctl start outbox.service >/dev/null 2>&1 || true
sleep 7  # longer than RestartSec=5s
[ "$(in_box systemctl show -p ExecMainStatus --value outbox.service)" = 78 ] || { unit_state; die "a broken outbox.conf did not exit 78"; }
[ "$(in_box systemctl is-active outbox.service || true)" = failed ] || { unit_state; die "outbox.service with a broken outbox.conf is not 'failed'"; }
[ "$(in_box systemctl show -p NRestarts --value outbox.service)" = 0 ] || { unit_state; die "outbox.service restarts in a loop on a configuration error"; }
cp "$WORK/outbox.conf.good" "$ROOT/etc/outbox/outbox.conf"
say "under systemd: deliveries logged to the journal, systemctl reload and stop work, no restarts, result success; a broken outbox.conf leaves the unit failed (78) without a restart loop"
kill -TERM $NSPAWN_PID
for _ in $(seq 1 100); do kill -0 $NSPAWN_PID 2>/dev/null || break; sleep 0.2; done
kill -0 $NSPAWN_PID 2>/dev/null && die "the container did not power off"
NSPAWN_PID=
mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"

# 8. Purge removes what the install made.
in_root apt-get purge -y -q outbox >>"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; die "apt-get purge outbox"; }
for path in /etc/outbox /var/spool/outbox /usr/sbin/sendmail /usr/sbin/outboxdrop /lib/systemd/system/outbox.service; do
    [ ! -e "$ROOT$path" ] || die "$path is still there after purge"
done
in_root getent passwd outbox >/dev/null && die "user outbox is still there after purge"
in_root getent group outbox >/dev/null && die "group outbox is still there after purge"
in_root getent group outboxdrop >/dev/null && die "group outboxdrop is still there after purge"
[ -z "$(in_root dpkg-statoverride --list | grep outbox || true)" ] || die "statoverrides left after purge"
say "purge removed the spool, /etc/outbox, the statoverrides, the user and the group"
say "passed in $(( $(date +%s) - START ))s"
