#!/bin/bash
# A private Postfix smarthost on 127.0.0.1 for tests, benchmarks and the demo: TLS with a
# throwaway CA, Cyrus SASL with a sasldb, fault injection through access maps, and every
# delivered message captured as a file with its envelope.
#
#   smarthost.sh start DIR PORT   ports: PORT   submission, STARTTLS required, AUTH
#                                        PORT+1 implicit TLS (wrapper mode), AUTH
#                                        PORT+2 no TLS offered at all, AUTH offered
#                                        PORT+3 STARTTLS with a certificate for another host
#                                        PORT+4 STARTTLS with a self-signed certificate
#                                        PORT+5 STARTTLS with an expired certificate
#                                        PORT+6 greeting delayed by 4 seconds
#                                        PORT+7 STARTTLS, AUTH, SIZE limit 20000
#                                        PORT+8 STARTTLS, AUTH, at most 2 recipients per transaction (452)
#                                        PORT+9 STARTTLS, AUTH through Dovecot (XOAUTH2, OAUTHBEARER)
#                                        PORT+10 implicit TLS, AUTH through Dovecot
#                                        PORT+12 STARTTLS, AUTH, at most 2 connections at once from
#                                                a client, loopback included (anvil: 421 4.7.0 too many connections)
#   smarthost.sh oauth DIR PORT   starts Dovecot's auth service (oauth2 passdb) for PORT+9
#                                 and PORT+10 and the token endpoint emulator on
#                                 https://127.0.0.1:PORT+11 (Tests/Scripts/oauth-emulator.py;
#                                 its files in DIR/oauth)
#   smarthost.sh stop DIR
#   smarthost.sh reload DIR       after editing DIR/etc/{recipient,sender,data}_access
#
# Users: "user@smarthost.test" / "secret" and "app@smarthost.test" / 'p@ss wörd:"%;#=&\$x' in DIR/sasldb2. Captured mail:
# DIR/mail/<queueid>-<n>.eml (LF line endings, as Postfix's pipe hands it over) and
# DIR/mail/<queueid>-<n>.env ("sender\nrecipient\n"). CA: DIR/ca.pem.
set -euo pipefail
cmd=$1 DIR=$2
HERE=$(cd "$(dirname "$0")" && pwd)
stop() {
    if [ -f "$DIR/queue/pid/master.pid" ]; then
        pid=$(tr -d ' ' < "$DIR/queue/pid/master.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
}
# Starts a long-running helper detached from the caller: its own session, no inherited
# descriptor (Foundation's Process.waitUntilExit in the test runner waits until every
# holder of its descriptors is gone) and an empty signal mask (the test runner blocks
# SIGTERM in the threads that start us, and a blocked mask is inherited).
spawn() {
    local log=$1; shift
    /usr/bin/python3 -c 'import signal, subprocess, sys
signal.pthread_sigmask(signal.SIG_SETMASK, [])
subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=open(sys.argv[1], "ab"), stderr=subprocess.STDOUT, start_new_session=True)' "$log" "$@"
}
stop_oauth() {
    for f in "$DIR/dovecot/run/master.pid" "$DIR/oauth/emulator.pid"; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    done
}
oauth() {
    mkdir -p "$DIR"/oauth "$DIR"/dovecot/run "$DIR"/dovecot/state
    chmod 755 "$DIR/dovecot"
    cd "$DIR/tls"
    if [ ! -f token.pem ]; then
        openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout token.key -out token.csr 2>/dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > token.ext
        openssl x509 -req -in token.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile token.ext -out token.pem 2>/dev/null
        chmod 644 token.pem; chmod 600 token.key
    fi
    cat > "$DIR/dovecot/oauth2.conf.ext" <<CONF
introspection_mode = post
introspection_url = https://127.0.0.1:$((PORT+11))/introspect
username_attribute = username
active_attribute = active
active_value = true
force_introspection = yes
tls_ca_cert_file = $DIR/tls/ca.pem
timeout_msecs = 5000
CONF
    cat > "$DIR/dovecot/dovecot.conf" <<CONF
base_dir = $DIR/dovecot/run
state_dir = $DIR/dovecot/state
instance_name = outbox-test-$PORT
protocols =
ssl = no
log_path = $DIR/dovecot/dovecot.log
default_internal_user = dovecot
default_login_user = dovenull
auth_mechanisms = xoauth2 oauthbearer plain login
auth_username_format = %Lu
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $DIR/dovecot/oauth2.conf.ext
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener $DIR/queue/private/dovecot-auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service anvil {
  chroot =
}
CONF
    stop_oauth
    spawn "$DIR/oauth/emulator.err" /usr/bin/python3 "$HERE/oauth-emulator.py" "$DIR/oauth" $((PORT+11)) "$DIR/tls/token.pem" "$DIR/tls/token.key"
    spawn "$DIR/dovecot/start.log" dovecot -c "$DIR/dovecot/dovecot.conf"
    for _ in $(seq 1 100); do
        [ -S "$DIR/queue/private/dovecot-auth" ] && (exec 3<>/dev/tcp/127.0.0.1/$((PORT+11))) 2>/dev/null && break
        sleep 0.05
    done
    [ -S "$DIR/queue/private/dovecot-auth" ] || { echo "dovecot did not start: $(tail -3 "$DIR/dovecot/dovecot.log")" >&2; exit 1; }
    (exec 3<>/dev/tcp/127.0.0.1/$((PORT+11))) 2>/dev/null || { echo "token emulator did not start: $(tail -3 "$DIR/oauth/emulator.err")" >&2; exit 1; }
    echo "oauth ready: Postfix+Dovecot on 127.0.0.1:$((PORT+9)) (STARTTLS) $((PORT+10)) (TLS); token endpoint https://127.0.0.1:$((PORT+11))"
}
case $cmd in
stop)
    stop_oauth; stop; exit 0 ;;
oauth) PORT=$3; oauth; exit 0 ;;
reload) postfix -c "$DIR/etc" reload >/dev/null 2>&1; exit 0 ;;
start) ;;
*) echo "usage: $0 start|stop|reload|oauth DIR [PORT]" >&2; exit 64 ;;
esac
PORT=$3
mkdir -p "$DIR"/{etc/sasl,queue,data,mail,tls}
chmod 755 "$DIR"; chmod 1777 "$DIR/mail"
chown postfix "$DIR/data"
cd "$DIR/tls"
if [ ! -f ca.pem ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=outbox test CA" -keyout ca.key -out ca.pem 2>/dev/null
    for name in good:smarthost.test:127.0.0.1 wrong:other.test:192.0.2.1; do
        IFS=: read -r file dns ip <<<"$name"
        openssl req -newkey rsa:2048 -nodes -subj "/CN=$dns" -keyout $file.key -out $file.csr 2>/dev/null
        printf 'subjectAltName=DNS:%s,IP:%s\n' "$dns" "$ip" > $file.ext
        openssl x509 -req -in $file.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile $file.ext -out $file.pem 2>/dev/null
    done
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=smarthost.test" \
        -addext "subjectAltName=DNS:smarthost.test,IP:127.0.0.1" -keyout selfsigned.key -out selfsigned.pem 2>/dev/null
    # An expired certificate needs explicit dates: openssl ca with a throwaway database.
    mkdir -p ca-db && : > ca-db/index.txt && echo 01 > ca-db/serial
    cat > ca-db/ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
certificate = ca.pem
private_key = ca.key
default_md = sha256
policy = any
copy_extensions = copy
[any]
commonName = supplied
CNF
    openssl req -newkey rsa:2048 -nodes -subj "/CN=smarthost.test" -addext "subjectAltName=DNS:smarthost.test,IP:127.0.0.1" \
        -keyout expired.key -out expired.csr 2>/dev/null
    openssl ca -batch -config ca-db/ca.cnf -startdate 20200101000000Z -enddate 20200102000000Z -in expired.csr -out expired.pem >/dev/null 2>&1
    cp ca.pem "$DIR/ca.pem"
fi
chmod 644 *.pem; chmod 600 *.key
# Debian's Postfix reads $config_directory/sasl/smtpd.conf (cyrus_sasl_config_path is not
# consulted by its smtpd), so the file lives there.
cat > "$DIR/etc/sasl/smtpd.conf" <<CONF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $DIR/sasldb2
mech_list: PLAIN LOGIN CRAM-MD5 DIGEST-MD5 SCRAM-SHA-1 SCRAM-SHA-256
CONF
echo secret | saslpasswd2 -p -f "$DIR/sasldb2" -u smarthost.test -c user
# A second account whose password has every character a config or shell could trip on.
printf '%s\n' 'p@ss wörd:"%;#=&\$x' | saslpasswd2 -p -f "$DIR/sasldb2" -u smarthost.test -c app
chown root:postfix "$DIR/sasldb2"; chmod 640 "$DIR/sasldb2"
cat > "$DIR/capture.sh" <<'CAP'
#!/bin/sh
# pipe(8) target: one file per recipient, the envelope beside it.
dir=$(dirname "$0")/mail
n=$(date +%s%N)
cat > "$dir/$1-$n.tmp" && printf '%s\n%s\n' "$2" "$3" > "$dir/$1-$n.env" && mv "$dir/$1-$n.tmp" "$dir/$1-$n.eml"
CAP
chmod 755 "$DIR/capture.sh"
touch "$DIR/etc/recipient_access" "$DIR/etc/sender_access" "$DIR/etc/data_access"
cat > "$DIR/etc/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $DIR/queue
data_directory = $DIR/data
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = smarthost.test
mydomain = smarthost.test
mydestination =
local_recipient_maps =
mynetworks = 127.0.0.0/8
default_transport = capture
capture_destination_recipient_limit = 1
maillog_file = $DIR/maillog
maillog_file_prefixes = $DIR
smtpd_banner = \$myhostname ESMTP test smarthost
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $DIR/etc/sasl
smtpd_sasl_security_options = noanonymous
smtpd_tls_cert_file = $DIR/tls/good.pem
smtpd_tls_key_file = $DIR/tls/good.key
smtpd_tls_security_level = may
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = check_recipient_access texthash:$DIR/etc/recipient_access, permit_sasl_authenticated, reject
smtpd_sender_restrictions = check_sender_access texthash:$DIR/etc/sender_access
smtpd_end_of_data_restrictions = check_sender_access texthash:$DIR/etc/data_access
local_header_rewrite_clients =
smtpd_forbid_bare_newline = reject
smtpd_forbid_bare_newline_exclusions =
strict_rfc821_envelopes = yes
smtpd_forbid_unauth_pipelining = yes
message_size_limit = 10240000
smtpd_client_connection_rate_limit = 0
smtpd_error_sleep_time = 0
CONF
cat > "$DIR/etc/master.cf" <<CONF
$PORT      inet n - n - - smtpd -o smtpd_tls_security_level=encrypt -o smtpd_tls_auth_only=yes
$((PORT+1)) inet n - n - - smtpd -o smtpd_tls_wrappermode=yes
$((PORT+2)) inet n - n - - smtpd -o smtpd_tls_security_level=none
$((PORT+3)) inet n - n - - smtpd -o smtpd_tls_cert_file=$DIR/tls/wrong.pem -o smtpd_tls_key_file=$DIR/tls/wrong.key
$((PORT+4)) inet n - n - - smtpd -o smtpd_tls_cert_file=$DIR/tls/selfsigned.pem -o smtpd_tls_key_file=$DIR/tls/selfsigned.key
$((PORT+5)) inet n - n - - smtpd -o smtpd_tls_cert_file=$DIR/tls/expired.pem -o smtpd_tls_key_file=$DIR/tls/expired.key
$((PORT+6)) inet n - n - - smtpd -o smtpd_delay_reject=no -o smtpd_client_restrictions=sleep,4
$((PORT+7)) inet n - n - - smtpd -o smtpd_tls_security_level=encrypt -o message_size_limit=20000
$((PORT+8)) inet n - n - - smtpd -o smtpd_tls_security_level=encrypt -o smtpd_recipient_limit=2
$((PORT+9)) inet n - n - - smtpd -o smtpd_tls_security_level=encrypt -o smtpd_tls_auth_only=yes -o smtpd_sasl_type=dovecot -o smtpd_sasl_path=private/dovecot-auth -o line_length_limit=8192
$((PORT+10)) inet n - n - - smtpd -o smtpd_tls_wrappermode=yes -o smtpd_sasl_type=dovecot -o smtpd_sasl_path=private/dovecot-auth -o line_length_limit=8192
$((PORT+12)) inet n - n - - smtpd -o smtpd_client_connection_count_limit=2 -o smtpd_client_event_limit_exceptions=
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
capture   unix  - n n - - pipe flags=q null_sender= user=nobody argv=$DIR/capture.sh \${queue_id} \${sender} \${recipient}
CONF
stop
postfix -c "$DIR/etc" check 2>&1 | grep -v 'not owned\|group or other writable' || true
postfix -c "$DIR/etc" start >/dev/null 2>&1 || { tail -5 "$DIR/maillog" 2>/dev/null; exit 1; }
for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
    sleep 0.05
done
echo "smarthost ready: 127.0.0.1:$PORT (STARTTLS) $((PORT+1)) (TLS) $((PORT+2)) (no TLS) $((PORT+3)) (wrong host) $((PORT+4)) (self-signed) $((PORT+5)) (expired) $((PORT+6)) (slow greeting) $((PORT+7)) (SIZE 20000); CA $DIR/ca.pem"
