#!/bin/bash
# The main job, end to end, as far as it exists today: build the release binaries,
# queue messages into a throwaway spool the way cron and PHP do, and show them with
# mailq. (Delivery by outboxd to a smarthost arrives with the delivery work.)
set -euo pipefail
cd "$(dirname "$0")/../.."
make build >/dev/null
BIN=$PWD/.build/release
DEMO=$(mktemp -d /tmp/outbox-demo.XXXXXX)
cat > "$DEMO/outbox.conf" <<CONF
spool_directory = $DEMO/spool
domain = example.org
admin_address = admin@example.net
aliases_file = $DEMO/aliases
CONF
printf 'postmaster: root\n' > "$DEMO/aliases"
export OUTBOX_CONFIG=$DEMO/outbox.conf
echo "== cron-style: sendmail -FCronDaemon -i -B8BITMIME -oem root"
printf 'Subject: Cron <root@host> backup\n\nbackup finished\n' | "$BIN/sendmail" -FCronDaemon -i -B8BITMIME -oem root
echo "== PHP mail()-style: sendmail -t -i"
printf 'To: Someone <someone@example.com>\nBcc: hidden@example.com\nSubject: hello\n\nfrom PHP\n' | "$BIN/sendmail" -t -i
echo "== mailq"
ln -sf "$BIN/sendmail" "$DEMO/mailq"
"$DEMO/mailq"
echo "== stored message (Bcc removed, headers added, CRLF):"
f=$(ls "$DEMO/spool/maildrop/new" | tail -1)
python3 - "$DEMO/spool/maildrop/new/$f" <<'PY'
import struct, sys
data = open(sys.argv[1], 'rb').read(); i = 0
while i < len(data):
    t = chr(data[i]); n = struct.unpack('>I', data[i+1:i+5])[0]; p = data[i+5:i+5+n]; i += 5 + n
    if t == 'M': sys.stdout.write(p.decode('utf-8', 'replace').replace('\r\n', '\n'))
    elif t != 'E': print(f"[{t}] {p.decode('utf-8', 'replace')!r}")
PY
rm -rf "$DEMO"
