// sendmail(8), mailq(1), newaliases(1): the unprivileged submission program. All parsing
// happens here; the setgid outboxdrop(8) only writes what this program hands it.
import Glibc
import OutboxCore
import OutboxSubmit

exit(SendmailCommand.run(ProgramArguments.all))
