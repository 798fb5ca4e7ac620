import Glibc
import OutboxCore
import OutboxDrop
import OutboxSpool

/// The census of queue/msg for user_queue_limit, in steps: every message's submitter, from
/// its envelope (the file size as its bytes). It reads every envelope, 30 s for 1 000 000
/// messages here, so outboxd takes it a slice at a time between its other work (found
/// measuring the backlog: run whole, it kept outboxd's main loop from collecting results
/// and writing public/mailq for the first half minute after a start).
final class UsageCensus {
    private let directory: String
    private let names: DirectoryNames
    private(set) var table: [Int: UserQueueUsage] = [:]

    /// nil when queue/msg cannot be opened.
    init?(directory: String) {
        guard let names = try? DirectoryNames(directory) else { return nil }
        self.directory = directory
        self.names = names
    }

    /// Reads envelopes until `deadline` (MailDate.precise()) or the end of the directory;
    /// true when the census is complete. `skipping`: names not to count (messages adopted
    /// since the census started, which the caller adds itself). `counts`: whether a
    /// message counts against its submitter.
    func step(until deadline: Double, skipping: (String) -> Bool, counts: (DropFile) -> Bool) -> Bool {
        var read = 0
        while let name = names.next() {
            guard name.first != ".", !skipping(name) else { continue }
            if let (file, size) = try? DropFile.readEnvelope(path: directory + "/" + name), counts(file) {
                table.record(uid: file.uid, bytes: size)
            }
            read += 1
            // The clock is read every 16 envelopes (a cold cache makes each one slow).
            if read % 16 == 0 && MailDate.precise() >= deadline { return false }
        }
        return true
    }
}
