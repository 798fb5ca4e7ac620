#!/usr/bin/env python3
"""Writes the submission fixtures: NAME.input (raw bytes piped to sendmail) and NAME.expect
(arguments, exit code, envelope, and the exact stored message; LF in the message part stands
for CRLF). Placeholders: {USER} {UID} {HOST} {ID} {DATE} {COMPACT}, and {FROM} for the
From: sendmail adds for the caller ("GECOS <user@example.org>", or the bare address). Run from this directory."""
import os

HDR_ADDED = "From: {FROM}\nDate: {DATE}\nMessage-ID: <{COMPACT}.{ID}@example.org>\n"
RECEIVED = "Received: by {HOST} (outbox, from userid {UID})\n\tid {ID}; {DATE}\n"

def case(name, data, args, envelope, message, exit_code=0):
    os.makedirs("submit", exist_ok=True)
    with open(f"submit/{name}.input", "wb") as f:
        f.write(data)
    lines = [f"args: {args}", f"exit: {exit_code}"] + envelope
    if message is not None:
        lines += ["message:"]
    text = "\n".join(lines) + "\n" + (message or "")
    with open(f"submit/{name}.expect", "w", encoding="utf-8") as f:
        f.write(text)

S = "sender: {USER}@example.org"

case("line-ending-mix", b"Subject: mix\r\nTo: a@x.test\n\rbody1\rbody2\r\nbody3\n", "a@x.test",
     [S, "rcpt: a@x.test"],
     RECEIVED + "Subject: mix\nTo: a@x.test\n" + HDR_ADDED + "\nbody1\nbody2\nbody3\n")
case("lone-dot-ends-input", b"Subject: d\n\nbefore\n.\nafter\n", "a@x.test",
     [S, "rcpt: a@x.test"], RECEIVED + "Subject: d\n" + HDR_ADDED + "\nbefore\n")
case("lone-dot-crlf-ends-input", b"Subject: d\r\n\r\nbefore\r\n.\r\nafter\r\n", "a@x.test",
     [S, "rcpt: a@x.test"], RECEIVED + "Subject: d\n" + HDR_ADDED + "\nbefore\n")
case("lone-dot-with-i", b"Subject: d\n\nbefore\n.\n..\nafter\n", "-i a@x.test",
     [S, "rcpt: a@x.test"], RECEIVED + "Subject: d\n" + HDR_ADDED + "\nbefore\n.\n..\nafter\n")
case("lone-dot-with-oi", b"Subject: d\n\n.\nafter", "-oi a@x.test",
     [S, "rcpt: a@x.test"], RECEIVED + "Subject: d\n" + HDR_ADDED + "\n.\nafter\n")
case("eight-bit", "Subject: café\n\nnaïve\n".encode(), "a@x.test",
     [S, "rcpt: a@x.test", "param: BODY=8BITMIME"], RECEIVED + "Subject: café\n" + HDR_ADDED + "\nnaïve\n")
case("nul-removed", b"Subject: n\n\na\x00b\x00\nc\n", "a@x.test",
     [S, "rcpt: a@x.test"], RECEIVED + "Subject: n\n" + HDR_ADDED + "\nab\nc\n")
long_body = "x" * 2000
case("long-body-line", ("Subject: l\n\n" + long_body + "\nshort\n").encode(), "a@x.test",
     [S, "rcpt: a@x.test", "param: LONGLINES=2000"], RECEIVED + "Subject: l\n" + HDR_ADDED + "\n" + long_body + "\nshort\n")
words = " ".join(f"w{i:03d}" for i in range(400))  # 1599 octets
case("long-header-folded", (f"X-Long: {words}\nSubject: h\n\nb\n").encode(), "a@x.test",
     [S, "rcpt: a@x.test"],
     RECEIVED + "X-Long: " + " ".join(f"w{i:03d}" for i in range(198)) + "\n " + " ".join(f"w{i:03d}" for i in range(198, 397))
     + "\n " + " ".join(f"w{i:03d}" for i in range(397, 400))
     + "\nSubject: h\n" + HDR_ADDED + "\nb\n")
case("folded-repeated-quoted", b'To: a@x.test,\n  b@x.test\nTo: c@x.test\nCc: "Doe, John" <d@x.test>, e (comment, with comma)\nSubject: s\n\nb\n', "-t",
     [S, "rcpt: a@x.test", "rcpt: b@x.test", "rcpt: c@x.test", "rcpt: d@x.test", "rcpt: admin@example.net orig=e"],
     RECEIVED + 'To: a@x.test,\n  b@x.test\nTo: c@x.test\nCc: "Doe, John" <d@x.test>, e@example.org (comment, with comma)\nSubject: s\n' + HDR_ADDED + "\nb\n")
case("group-syntax", b"To: team: a@x.test, b@x.test;, undisclosed-recipients:;\nSubject: g\n\nb\n", "-t",
     [S, "rcpt: a@x.test", "rcpt: b@x.test"],
     RECEIVED + "To: team: a@x.test, b@x.test;, undisclosed-recipients:;\nSubject: g\n" + HDR_ADDED + "\nb\n")
case("resent-headers", b"Resent-To: r@x.test\nResent-Bcc: rb@x.test\nTo: orig@x.test\nFrom: o@x.test\nSubject: r\n\nb\n", "-t",
     [S, "rcpt: r@x.test", "rcpt: rb@x.test"],
     RECEIVED + "Resent-To: r@x.test\nTo: orig@x.test\nFrom: o@x.test\nSubject: r\nDate: {DATE}\nMessage-ID: <{COMPACT}.{ID}@example.org>\n\nb\n")
case("t-union-with-arguments", b"To: a@x.test, b@x.test\nSubject: u\n\nb\n", "-t b@x.test c@x.test",
     [S, "rcpt: b@x.test", "rcpt: c@x.test", "rcpt: a@x.test"],
     RECEIVED + "To: a@x.test, b@x.test\nSubject: u\n" + HDR_ADDED + "\nb\n")
case("empty-input", b"", "a@x.test", [S, "rcpt: a@x.test"], RECEIVED + HDR_ADDED + "\n")
case("body-only", b"just a body line\nsecond: not a header\n", "a@x.test",
     [S, "rcpt: a@x.test"], RECEIVED + HDR_ADDED + "\njust a body line\nsecond: not a header\n")
case("mbox-from-line", b"From someone@x.test Mon Jan  1 00:00:00 2024\nSubject: m\n\nFrom the body\n", "a@x.test",
     [S, "rcpt: a@x.test"], RECEIVED + "Subject: m\n" + HDR_ADDED + "\nFrom the body\n")
case("bcc-removed-without-t", b"To: a@x.test\nBcc: hidden@x.test\nReturn-Path: <x@y>\nContent-Length: 3\nSubject: b\n\nb\n", "a@x.test",
     [S, "rcpt: a@x.test"], RECEIVED + "To: a@x.test\nSubject: b\n" + HDR_ADDED + "\nb\n")
case("qualify-bare-names", b'From: Cron Daemon <root>\nTo: bob (Bob), "X Y" <joe>\nReply-To: ops\nSubject: q\n\nb\n', "x@y.test",
     [S, "rcpt: x@y.test"],
     RECEIVED + 'From: Cron Daemon <root@example.org>\nTo: bob@example.org (Bob), "X Y" <joe@example.org>\nReply-To: ops@example.org\nSubject: q\nDate: {DATE}\nMessage-ID: <{COMPACT}.{ID}@example.org>\n\nb\n')
case("null-sender", b"Subject: n\n\nb\n", "-f <> a@x.test", ["sender: ", "rcpt: a@x.test"],
     RECEIVED + "Subject: n\n" + HDR_ADDED + "\nb\n")
case("sender-with-name", b"Subject: n\n\nb\n", "-f Some.One<so@x.test> -F Some_One a@x.test",
     ["sender: so@x.test", "rcpt: a@x.test"],
     RECEIVED + "Subject: n\nFrom: Some_One <so@x.test>\nDate: {DATE}\nMessage-ID: <{COMPACT}.{ID}@example.org>\n\nb\n")
case("debian-cron", b"Subject: Cron <u@h> true\nContent-Type: text/plain; charset=UTF-8\n\noutput\n", "-FCronDaemon -i -B8BITMIME -oem root",
     [S, "param: BODY=8BITMIME", "rcpt: admin@example.net orig=root"],
     RECEIVED + "Subject: Cron <u@h> true\nContent-Type: text/plain; charset=UTF-8\nFrom: CronDaemon <{USER}@example.org>\nDate: {DATE}\nMessage-ID: <{COMPACT}.{ID}@example.org>\n\noutput\n")
case("cronie", b"To: root\nSubject: c\n\nout\n", "-FCronDaemon -i -odi -oem -oi -t -f root",
     ["sender: root@example.org", "rcpt: admin@example.net orig=root"],
     RECEIVED + "To: root@example.org\nSubject: c\nFrom: CronDaemon <root@example.org>\nDate: {DATE}\nMessage-ID: <{COMPACT}.{ID}@example.org>\n\nout\n")
case("anacron-comma-list", b"Subject: a\n\nb\n", "-FAnacron -odi a@x.test,b@x.test",
     [S, "rcpt: a@x.test", "rcpt: b@x.test"],
     RECEIVED + "Subject: a\nFrom: Anacron <{USER}@example.org>\nDate: {DATE}\nMessage-ID: <{COMPACT}.{ID}@example.org>\n\nb\n")
case("phpmailer-duplicates", b"To: a@x.test\nFrom: site@x.test\nSubject: p\n\nb\n", "-t -i -oi -fsite@x.test -t",
     ["sender: site@x.test", "rcpt: a@x.test"],
     RECEIVED + "To: a@x.test\nFrom: site@x.test\nSubject: p\nDate: {DATE}\nMessage-ID: <{COMPACT}.{ID}@example.org>\n\nb\n")
case("mutt-dsn", b"From: me@x.test\nSubject: m\n\nb\n", "-oem -oi -N failure,delay -R hdrs -V env123 -f me@x.test -- a@x.test",
     ["sender: me@x.test", "param: NOTIFY=FAILURE,DELAY", "param: RET=HDRS", "param: ENVID=env123", "rcpt: a@x.test"],
     RECEIVED + "From: me@x.test\nSubject: m\nDate: {DATE}\nMessage-ID: <{COMPACT}.{ID}@example.org>\n\nb\n")
case("alias-recursion", b"Subject: a\n\nb\n", "team",
     [S, "rcpt: ops@remote.test orig=team", "rcpt: admin@example.net orig=team"],
     RECEIVED + "Subject: a\n" + HDR_ADDED + "\nb\n")
case("fail2ban-no-i", b"Subject: [Fail2Ban] x\nFrom: Fail2Ban <fail2ban>\nTo: root\n\nbanned\n.\n", "-f fail2ban root",
     ["sender: fail2ban@example.org", "rcpt: admin@example.net orig=root"],
     RECEIVED + "Subject: [Fail2Ban] x\nFrom: Fail2Ban <fail2ban@example.org>\nTo: root@example.org\nDate: {DATE}\nMessage-ID: <{COMPACT}.{ID}@example.org>\n\nbanned\n")
# Refused submissions: nothing may be queued.
for name, args, code in [
    ("reject-double-at", "a@@b.test", 67), ("reject-null-recipient", "<>", 67),
    ("reject-space-local", "'john doe@x.test'", 67), ("reject-shell-meta", "'a@x.test;rm'", 67),
    ("reject-pipe", "'|cmd@x.test'", 67), ("reject-unknown-option", "-d a@x.test", 64),
    ("reject-no-recipients", "", 64), ("reject-bad-body-type", "-B binary a@x.test", 64),
    ("reject-daemon-mode", "-bd", 64)]:
    case(name, b"Subject: x\n\nb\n", args, [], None, code)
case("reject-t-without-recipients", b"Subject: x\n\nb\n", "-t", [], None, 67)
case("reject-t-bad-header-address", b"To: a@@x.test\n\nb\n", "-t", [], None, 65)
