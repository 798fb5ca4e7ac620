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
import OutboxCore
import OutboxDrop

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

/// A configuration problem: exit 78, as the full parser's.
struct ConfigurationError: AdminError {
    let description: String
    var exitCode: ExitCode { .config }
}

/// spool_directory from the configuration the privilege rules allow (DESIGN): `-C` only
/// from root under set-id, OUTBOX_CONFIG only when not set-id, else the installed file (a
/// missing one means the built-in spool). Nothing else in the file matters here.
func spoolDirectory(option: String?) throws(ConfigurationError) -> String {
    var path = InstalledPaths.configuration
    if let option {
        guard !Privilege.isSetID || Privilege.realUID == 0 else {
            throw ConfigurationError(description: "\(option): alternate configuration is allowed only for root")
        }
        path = option
    } else if let variable = Privilege.trustedEnvironment("OUTBOX_CONFIG"), !variable.isEmpty {
        path = variable
    }
    let text: String
    do {
        text = String(decoding: try FileDescriptor.open(path, flags: O_RDONLY).readToEnd(limit: 1 << 20), as: UTF8.self)
    } catch {
        if error.errno == ENOENT && path == InstalledPaths.configuration && option == nil { return InstalledPaths.spoolDirectory }
        throw ConfigurationError(description: "\(path): cannot read: \(String(cString: strerror(error.errno)))")
    }
    switch SpoolDirectorySetting.parse(text) {
    case .success(let spool): return spool
    case .failure(let bad): throw ConfigurationError(description: "\(path):\(bad.line): spool_directory: must be an absolute path")
    }
}

let writer: DropWriter
do {
    let layout = SpoolLayout(root: try spoolDirectory(option: configOption))
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
    var totalBytes = 0
    // The stream and its envelope get outboxd's own checks (no message parsing), so that
    // exit 0 means "outboxd will take it" also for a caller that bypasses sendmail.
    var envelope = DropFile()
    while try reader.next(
        from: input,
        { type, payload in
            try grammar.accept(type, payload, into: &envelope)
            // outboxd refuses larger files: refuse them here, before exit 0 says "queued".
            totalBytes += payload.count + RecordLimits.headerSize
            guard totalBytes <= RecordLimits.maxFileSize else { throw RecordError.oversized(type: .content, length: totalBytes) }
            try writer.append(type, payload)
        })
    {
        if grammar.isComplete { break }
    }
    try grammar.finish(envelope, offset: reader.offset)
    blockTerminatingSignals()
    try writer.commit()
} catch {
    writer.abandon()
    fail(error)
}
exit(0)
