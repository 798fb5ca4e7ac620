// outboxdrop: the setgid drop helper (Postfix's postdrop). See outboxdrop(8).
//
// SECURITY
// This program runs with the spool group's rights on behalf of any local user. It trusts
// nothing its caller controls:
// - the environment: emptied before the Swift runtime starts (COutboxSys constructor) when
//   the kernel reports set-id execution; OUTBOX_CONFIG is then never consulted;
// - the command line: only `-C FILE`, and only when the real uid is root or we are not
//   set-id; anything else is a usage error;
// - descriptors: 0-2 are reopened on /dev/null when closed; every other inherited one is
//   closed; signal mask and dispositions are reset; umask is set;
// - the input: a record stream that is checked against a fixed grammar and size limits,
//   and its envelope records against outboxd's envelope validator (EnvelopeSyntax: plain
//   byte checks); the message itself is never parsed (all RFC 5322 work happens in the
//   unprivileged sendmail). Records claiming a uid, time, queue ID or version are
//   refused: this program stamps them itself.
// It writes exactly one file, in maildrop/tmp, and renames it into maildrop/new only after
// fsync; on a signal or any error the unfinished file is removed.
import Glibc
import OutboxConfig
import OutboxCore
import OutboxSpool

/// Reports an error line to sendmail (our stdout is its pipe) and exits.
func fail(_ error: any Error) -> Never {
    let admin = error as? any AdminError
    let text = admin.map { "\($0)" } ?? "\(error)"
    try? FileDescriptor.standardOutput.writeAll("E \(text)\n")
    exit((admin?.exitCode ?? .software).rawValue)
}

resetSignals()
umask(0o027)
Privilege.closeInheritedDescriptors()

var configOption: String?
var args = CommandLine.arguments.dropFirst()
while let arg = args.popFirst() {
    if arg == "-C", let value = args.popFirst() {
        configOption = value
    } else {
        try? FileDescriptor.standardOutput.writeAll("E usage: outboxdrop [-C config] < records\n")
        exit(ExitCode.usage.rawValue)
    }
}

let writer: DropWriter
do {
    let config = try ConfigLoader.load(try ConfigLoader.source(commandLine: configOption))
    let layout = SpoolLayout(root: config.spoolDirectory)
    if !Privilege.isSetID { try layout.createDropDirectories(groupWritable: false) }
    writer = try DropWriter(layout: layout)
} catch {
    fail(error)
}
installCleanup(for: writer.temporaryPath)

do {
    // The effective uid: it owns the file this program creates, which is what outboxd
    // checks the stamp against (a set-uid caller that kept its real uid had its mail
    // refused later; found by review).
    for record in DropFile.header(queueID: writer.queueID.text, uid: geteuid(), time: MailDate.now()) {
        try writer.append(record)
    }
    // sendmail needs the ID early, for the Received: and Message-ID: headers.
    try FileDescriptor.standardOutput.writeAll("I \(writer.queueID.text)\n")

    var grammar = DropStreamGrammar()
    var reader = RecordReader()
    let input = FileDescriptor.standardInput
    var envelopeBytes = 0
    var totalBytes = 0
    // The envelope is checked with the validator outboxd uses (no message parsing), so
    // that exit 0 means "outboxd will take it" also for a caller that bypasses sendmail.
    var envelope = DropFile()
    var envelopeChecked = false
    while try reader.next(from: input, { type, payload in
        try grammar.accept(type)
        if type != .content {
            envelopeBytes += payload.count + RecordLimits.headerSize
            guard envelopeBytes <= RecordLimits.maxEnvelopeBytes else { throw RecordError.envelopeTooLarge(limit: RecordLimits.maxEnvelopeBytes) }
        } else if !envelopeChecked {
            envelopeChecked = true
            if let problem = envelope.envelopeProblem { throw RecordError.badEnvelope(problem) }
        }
        envelope.absorb(type, payload)
        // outboxd refuses larger files: refuse them here, before exit 0 says "queued".
        totalBytes += payload.count + RecordLimits.headerSize
        guard totalBytes <= RecordLimits.maxFileSize else { throw RecordError.oversized(type: .content, length: totalBytes) }
        try writer.append(type, payload)
    }) {
        if grammar.isComplete { break }
    }
    guard grammar.isComplete else { throw RecordError.truncated(offset: reader.offset) }
    if let problem = envelope.envelopeProblem { throw RecordError.badEnvelope(problem) }
    blockTerminatingSignals()
    try writer.commit()
} catch {
    writer.abandon()
    fail(error)
}
exit(0)
