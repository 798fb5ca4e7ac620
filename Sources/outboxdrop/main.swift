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
//
// The installed helper is built as Embedded Swift (Makefile: EMBEDDED): no Swift runtime,
// only libc, so it is small and starts fast. Its modules are then compiled as one (the
// imports below find empty modules), every error is typed (no `any Error`), and the C
// library comes without Swift's overlay (COutboxSys has errno, openat, the signal
// dispositions, argv).
import Glibc
import OutboxCore
import OutboxDrop

/// Reports an error line to sendmail (our stdout is its pipe) and exits.
func fail(_ error: HelperFailure) -> Never {
    // Not generic, and no caught typed throw before exit(3): Swift 6.3.1 at -O/-Osize
    // dropped the exit after `try?` on a typed-throwing write in the generic version (the
    // Embedded helper ran on into the next function and crashed, exit 139, on every error
    // path), or crashed compiling it. One write(2): the line is far below PIPE_BUF.
    var line = Array("E \(error.description)\n".utf8)
    _ = line.withUnsafeMutableBytes { write(1, $0.baseAddress, $0.count) }
    exit(error.exitCode.rawValue)
}

resetSignals()
umask(0o027)
Privilege.closeInheritedDescriptors()

let configOption = parseArguments()

/// The one option, `-C config`; anything else is a usage error. (A function, not top-level
/// variables: the Embedded build, compiled in Swift 6 mode without the concurrency
/// library, has no main actor to isolate mutable globals to.)
func parseArguments() -> String? {
    var configOption: String?
    var args = ProgramArguments.all.dropFirst()
    while let arg = args.popFirst() {
        if arg == "-C", let value = args.popFirst() {
            configOption = value
        } else {
            try? FileDescriptor.standardOutput.writeAll("E usage: outboxdrop [-C config] < records\n")
            exit(ExitCode.usage.rawValue)
        }
    }
    return configOption
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

/// Everything that ends the helper early, each with its exit code (one type: Embedded
/// Swift has no `any Error`).
enum HelperFailure: AdminError {
    case configuration(ConfigurationError)
    case system(SystemError)
    case record(RecordError)

    init(_ failure: RecordReaderFailure) {
        switch failure {
        case .system(let error): self = .system(error)
        case .record(let error): self = .record(error)
        }
    }

    var description: String {
        switch self {
        case .configuration(let error): error.description
        case .system(let error): error.description
        case .record(let error): error.description
        }
    }

    var exitCode: ExitCode {
        switch self {
        case .configuration(let error): error.exitCode
        case .system(let error): error.exitCode
        case .record(let error): error.exitCode
        }
    }
}

/// Writes the one drop file: everything after the arguments. A function, not top-level
/// code: its locals are released where the optimiser sees fit, but never while used (the
/// Embedded build at -Osize released the top-level `writer` before the error path used
/// it, and crashed).
func queueOneMessage(configOption: String?) -> Never {
    let writer: DropWriter
    do throws(HelperFailure) {
        let root: String
        do throws(ConfigurationError) { root = try spoolDirectory(option: configOption) } catch { throw .configuration(error) }
        let layout = SpoolLayout(root: root)
        do throws(SystemError) {
            if !Privilege.isSetID { try layout.createDropDirectories(groupWritable: false) }
            writer = try DropWriter(layout: layout)
        } catch { throw .system(error) }
    } catch {
        fail(error)
    }
    installCleanup(for: writer.temporaryPath)

    do throws(HelperFailure) {
        // The effective uid: it owns the file this program creates, which is what outboxd
        // checks the stamp against (a set-uid caller that kept its real uid had its mail
        // refused later; found by review).
        do throws(SystemError) {
            for record in DropFile.header(queueID: writer.queueID.text, uid: geteuid(), time: MailDate.now()) {
                try writer.append(record)
            }
            // sendmail needs the ID early, for the Received: and Message-ID: headers.
            try FileDescriptor.standardOutput.writeAll("I \(writer.queueID.text)\n")
        } catch { throw .system(error) }

        var grammar = DropStreamGrammar()
        var reader = RecordReader()
        let input = FileDescriptor.standardInput
        var totalBytes = 0
        // The stream and its envelope get outboxd's own checks (no message parsing), so that
        // exit 0 means "outboxd will take it" also for a caller that bypasses sendmail.
        var envelope = DropFile()
        while try reader.next(
            from: input, failure: HelperFailure.init,
            { (type, payload) throws(HelperFailure) in
                do throws(RecordError) { try grammar.accept(type, payload, into: &envelope) } catch { throw .record(error) }
                // outboxd refuses larger files: refuse them here, before exit 0 says "queued".
                totalBytes += payload.count + RecordLimits.headerSize
                guard totalBytes <= RecordLimits.maxFileSize else { throw .record(.oversized(type: .content, length: totalBytes)) }
                do throws(SystemError) { try writer.append(type, payload) } catch { throw .system(error) }
            })
        {
            if grammar.isComplete { break }
        }
        do throws(RecordError) { try grammar.finish(envelope, offset: reader.offset) } catch { throw .record(error) }
        blockTerminatingSignals()
        do throws(SystemError) { try writer.commit() } catch { throw .system(error) }
    } catch {
        writer.abandon()
        fail(error)
    }
    exit(0)
}

queueOneMessage(configOption: configOption)
