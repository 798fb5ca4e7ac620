import COutboxSys
import Glibc
import OutboxConfig
import OutboxCore
import OutboxDrop
import OutboxMessage
import OutboxSpool

/// `sendmail`, `mailq` and `newaliases`: runs one invocation and returns its exit code.
/// Silent on success; on failure one line on stderr (never in -bs mode).
public enum SendmailCommand {
    public static func run(_ argv: [String]) -> Int32 {
        // A caller that closed our stdout/stderr pipe must not kill us with SIGPIPE.
        coutbox_signal_ignore(SIGPIPE)
        // An ignored SIGCHLD survives exec, and with it the kernel reaps our children
        // itself: waitpid would find no helper to report its failure (ECHILD).
        coutbox_signal_default(SIGCHLD)
        // First, while the caller is surely still there (`cmd | sendmail &` may not wait);
        // read on a thread of its own while the drop helper starts.
        let origin = SubmissionOrigin.pin()
        let invokedAs = argv.first.map { String($0.split(separator: "/").last ?? Substring($0)) } ?? "sendmail"
        var options = SendmailOptions()
        do throws(SubmissionError) {
            do throws(UsageError) {
                options = try SendmailArguments.parse(Array(argv.dropFirst()), invokedAs: invokedAs)
            } catch {
                throw SubmissionError(error)
            }
            // A submission starts the drop helper first, so that its exec and start-up run on
            // the other core while this process loads the configuration. Its failure to
            // start is reported where it was before, after the configuration's. A failure
            // before `deliver` takes it drops it here: its deinit aborts the helper, which
            // removes its unfinished file.
            // Just before, ORIGIN's /proc reads start on a thread of its own, with the time
            // zone (open, map and parse /etc/localtime: 12-18 us) that the Date and
            // Message-ID need (tzset is thread-safe): they run while the helper's vfork
            // waits for its exec (started after it, the thread competed with the exec and
            // was slower than none). Should the thread take the last task RLIMIT_NPROC or
            // TasksMax leaves, the helper's start ends it and tries again (helper-17).
            if options.mode == .deliver { origin.readInBackground(then: { tzset() }) }
            let helper = options.mode == .deliver ? startHelper(options, freeingTasks: { _ = origin.read() }) : nil
            let config: Config
            do throws(ConfigError) {
                config = try ConfigLoader.load(try ConfigLoader.source(commandLine: options.configPath))
            } catch {
                throw SubmissionError(error)
            }
            switch options.mode {
            case .listQueue:
                try QueueListing.write(SpoolLayout(root: config.spoolDirectory), config: config, to: FileDescriptor.standardOutput)
            case .initAliases:
                let table = AliasTable.load(path: config.aliasesFile)
                for w in table.warnings { warn(invokedAs, "warning: \(w)") }
            case .verify:
                return try verify(options, config: config).rawValue
            case .flush:
                let helper = try DropHelperClient(configPath: options.configPath)
                try helper.send(.flush)
                _ = try helper.finish()
                // Whoever may list maildrop/tmp (root, the spool owner) also sweeps files
                // abandoned by killed writers; for everyone else this is a no-op.
                _ = try? SpoolLayout(root: config.spoolDirectory).removeStaleTemporaryFiles()
            case .smtp:
                var context = SubmissionContext(config: config)
                context.origin = origin.read()
                let session = SMTPServerSession(context: context, input: .standardInput, output: .standardOutput) { () throws(SubmissionError) in
                    try DropHelperClient(configPath: options.configPath)
                }
                return session.run().rawValue
            case .deliver:
                let id = try deliver(options, config: config, origin: origin, helper: helper ?? startHelper(options))
                if options.verbose { try? FileDescriptor.standardOutput.writeAll("\(invokedAs): queued as \(id)\n") }
            }
            return 0
        } catch {
            // In -bs mode stderr is part of the protocol contract: stay silent.
            if options.mode != .smtp { warn(invokedAs, error.description) }
            return error.exitCode.rawValue
        }
    }

    /// Why this user may not queue more now: outboxd listed its uid in public/overlimit.
    static func queueLimitProblem(_ config: Config) -> String? {
        let uid = Int(getuid())
        guard let usage = UserQueueUsage.listed(uid, layout: SpoolLayout(root: config.spoolDirectory)) else { return nil }
        return "queue limit reached: uid \(uid) has \(usage.messages) messages (\(usage.bytes) bytes) waiting "
            + "(user_queue_limit \(config.userQueueLimit), user_queue_size_limit \(config.userQueueSizeLimit)); try again later"
    }

    static func warn(_ program: String, _ text: String) {
        try? FileDescriptor.standardError.writeAll("\(program): \(text)\n")
    }

    /// Parses every recipient argument; the first malformed one fails the submission.
    static func recipientArguments(_ options: SendmailOptions) throws(SubmissionError) -> [Mailbox] {
        var out: [Mailbox] = []
        for arg in options.recipients {
            do throws(AddressError) {
                out += try EnvelopeAddress.parseArgument(arg)
            } catch {
                throw SubmissionError(.noUser, "\(error)")
            }
        }
        return out
    }

    /// The drop helper, started; a failure to start is thrown where `deliver` takes it.
    static func startHelper(_ options: SendmailOptions, freeingTasks: (() -> Void)? = nil) -> Result<DropHelperClient, SubmissionError> {
        Result { () throws(SubmissionError) in try DropHelperClient(configPath: options.configPath, freeingTasks: freeingTasks) }
    }

    /// Queues the message on standard input through the helper `started` by the caller (an
    /// unfinished helper removes its file when it goes).
    static func deliver(
        _ options: SendmailOptions, config: Config, origin: SubmissionOrigin.Pin? = nil, helper started: Result<DropHelperClient, SubmissionError>
    ) throws(SubmissionError) -> String {
        if options.recipients.isEmpty && !options.extractRecipients {
            throw SubmissionError(.usage, "no recipients given (name them as arguments, or use -t to read them from the headers)")
        }
        if let problem = queueLimitProblem(config) { throw SubmissionError(.tempFail, problem) }
        let helper = try started.get()
        let composer: MessageComposer
        do throws(SubmissionError) {
            var context = SubmissionContext(config: config)
            context.origin = origin?.read()
            let sender: String
            do throws(AddressError) {
                sender = try context.envelopeSender(options.sender)
            } catch {
                throw SubmissionError(.usage, "-f: \(error)")
            }
            let recipients = context.resolver.resolveAll(try recipientArguments(options))
            var parameters: [String] = []
            if let n = options.dsnNotify { parameters.append("NOTIFY=\(n)") }
            if let r = options.dsnReturn { parameters.append("RET=\(r)") }
            if let v = options.envelopeID { parameters.append("ENVID=\(v)") }
            composer = MessageComposer(
                context: context,
                envelope: EnvelopeInput(
                    sender: sender, recipients: recipients, extractFromHeaders: options.extractRecipients,
                    parameters: parameters, declaredBodyType: options.bodyType, fullName: options.fullName),
                helper: helper)
        } catch {
            helper.abort()
            throw error
        }
        var normalizer = LineEndingNormalizer(dotEndsInput: !options.ignoreDots)
        var chunk = [UInt8].unfilled(1 << 16)
        var normalized: [UInt8] = []
        normalized.reserveCapacity(1 << 17 + 1 << 12)
        while true {
            let n: Int
            do throws(SystemError) {
                n = try FileDescriptor.standardInput.read(into: &chunk)
            } catch {
                helper.abort()
                throw SubmissionError(.ioError, "reading the message: \(error)")
            }
            normalized.removeAll(keepingCapacity: true)
            if n == 0 {
                normalizer.finish(into: &normalized)
            } else {
                chunk.withUnsafeBytes { raw in
                    _ = normalizer.feed(UnsafeRawBufferPointer(rebasing: raw[0..<n]), into: &normalized)
                }
            }
            do throws(SubmissionError) { try composer.consume(normalized) } catch {
                helper.abort()
                throw error
            }
            if n == 0 || normalizer.ended { break }
        }
        if !normalizer.ended {
            normalized.removeAll(keepingCapacity: true)
            normalizer.finish(into: &normalized)
            try composer.consume(normalized)
        }
        return try composer.finish()
    }

    static func verify(_ options: SendmailOptions, config: Config) throws(SubmissionError) -> ExitCode {
        let context = SubmissionContext(config: config)
        var code = ExitCode.ok
        var out = ""
        for arg in options.recipients {
            do throws(AddressError) {
                for m in try EnvelopeAddress.parseArgument(arg) {
                    for r in context.resolver.resolve(m) {
                        out += "\(m.address)... deliverable: \(r.explanation), relay to <\(r.address)> via smarthost\n"
                    }
                }
            } catch {
                out += "\(arg)... undeliverable: \(error)\n"
                code = .noUser
            }
        }
        if options.recipients.isEmpty { throw SubmissionError(.usage, "-bv needs recipient arguments") }
        do throws(SystemError) { try FileDescriptor.standardOutput.writeAll(out) } catch { throw SubmissionError(error) }
        return code
    }
}
