// outboxd(8): relays the outbox queue to the smarthost. Runs as user outbox under systemd
// (foreground, no self-daemonising); `--once` delivers what is due and exits. The
// installed outboxd is the multi-call outboxctl binary (see Package.swift); this target
// is the same program on its own, for development and the tests.
import OutboxDelivery

DaemonProgram.main(CommandLine.arguments)
