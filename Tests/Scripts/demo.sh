#!/bin/bash
# The main job, end to end: build the release binaries, start a private Postfix smarthost
# on loopback (TLS with a throwaway CA, Cyrus SASL), queue mail with sendmail the way cron
# and PHP do, let outboxd deliver it, and show the log lines and the delivered message.
# Needs root (Postfix) and the packages README lists.
set -euo pipefail
cd "$(dirname "$0")/../.."
make build >/dev/null
BIN=$PWD/.build/release
DEMO=$(mktemp -d /tmp/outbox-demo.XXXXXX)
chmod 755 "$DEMO"
PORT=${PORT:-12587}
trap 'bash Tests/Scripts/smarthost.sh stop "$DEMO/smarthost"; rm -rf "$DEMO"' EXIT
bash Tests/Scripts/smarthost.sh start "$DEMO/smarthost" "$PORT"
echo secret > "$DEMO/password"; chmod 600 "$DEMO/password"
cat > "$DEMO/outbox.conf" <<CONF
spool_directory = $DEMO/spool
domain = example.org
admin_address = admin@example.net
aliases_file = $DEMO/aliases
smarthost = smtp://127.0.0.1:$PORT
tls_ca_file = $DEMO/smarthost/ca.pem
auth_username = user@smarthost.test
auth_password_file = $DEMO/password
CONF
printf 'postmaster: root\n' > "$DEMO/aliases"
export OUTBOX_CONFIG=$DEMO/outbox.conf
echo "== outboxctl check"
"$BIN/outboxctl" check
echo "== cron-style: sendmail -FCronDaemon -i -B8BITMIME -oem root"
printf 'Subject: Cron <root@host> backup\n\nbackup finished\n' | "$BIN/sendmail" -FCronDaemon -i -B8BITMIME -oem root
echo "== PHP mail()-style: sendmail -t -i"
printf 'To: Someone <someone@example.com>\nBcc: hidden@example.com\nSubject: hello\n\nfrom PHP\n' | "$BIN/sendmail" -t -i
echo "== mailq"
ln -sf "$BIN/sendmail" "$DEMO/mailq"
"$DEMO/mailq"
echo "== outboxd --once"
"$BIN/outboxd" --once --no-syslog
for _ in $(seq 1 50); do [ "$(ls "$DEMO/smarthost/mail" | grep -c eml)" -ge 3 ] && break; sleep 0.2; done
echo "== delivered to the smarthost (envelope, then message as Postfix received it):"
for f in "$DEMO"/smarthost/mail/*.eml; do
    printf -- '--- sender <%s> recipient <%s>\n' $(head -1 "${f%.eml}.env") $(sed -n 2p "${f%.eml}.env")
    cat "$f"
done
