# outbox — build, test, install, benchmark.
#   make            release binaries (sendmail and the set-id helper as Embedded Swift)
#   make check      every test (the command README and CI run): the format check, unit,
#                   integration (the sendmail suites also against the installed, Embedded
#                   build: embedded-test), and the Debian package installed into a fresh
#                   chroot (package-test)
#   make format     reformat the Swift sources with swift-format (.swift-format)
#   make package    the .deb in .build/deb/ (dpkg-buildpackage -b -us -uc)
#   make install    PREFIX=/usr DESTDIR= ; as root also creates the outbox user/group,
#                   the spool with its modes, and the drop helper's setgid bit
#   make bench      submission latency, drain, memory and local-abuse benchmarks (not part of check)
#   make soak       the crash soak at full size (root; a small one runs in check)
#   make fuzz       each libFuzzer target for FUZZ_SECONDS (a short run is in check)
# The configuration is always /etc/outbox/outbox.conf (the set-id helper accepts no other);
# a SPOOL other than /var/spool/outbox must also be set as spool_directory there.

PREFIX   ?= /usr/local
DESTDIR  ?=
SBINDIR  ?= $(PREFIX)/sbin
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
LIBDIR   ?= $(PREFIX)/lib
UNITDIR  ?= /lib/systemd/system
SPOOL    ?= /var/spool/outbox
SWIFT    ?= swift
RELEASE  := .build/release
# The release build of outboxctl (installed once, also as outboxd). sendmail and the
# set-id helper are installed as Embedded Swift builds (EMBEDDED below); SwiftPM's release
# builds of them link as fully static executables (Package.swift), for comparison.
# outboxd links Debian's libssl and libsasl2 (which loads its plugins with dlopen), so it
# keeps the dynamic libc, with the Swift runtime linked in statically.
# -disable-concrete-type-metadata-mangled-name-accessors: our code reaches generic type
# metadata through accessor functions instead of demangling a type name at its first use,
# which the static runtime did hundreds of times at each start (Demangler and TypeDecoder
# were about 11 % of the static sendmail's samples; sendmail -bv 1.27 ms vs 1.54-1.63 ms;
# outboxctl config KEY 4.5-4.7 ms vs 5.0 ms).
# -function-sections: each function in its own section, so the linker's --gc-sections
# (SwiftPM's default) drops what is never called: outboxctl 9.52 MB instead of 9.69 MB
# stripped, `outboxctl config KEY` 3.34-3.70 ms vs 3.51-3.91 ms.
SWIFTFLAGS := -c release --static-swift-stdlib -Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors \
    -Xswiftc -Xfrontend -Xswiftc -function-sections

# The installed set-id helper and sendmail are Embedded Swift: each program's sources
# compiled as one module with no Swift runtime, linked statically with musl (Debian's
# musl-dev) as static PIEs, each function in its own section so that the linker drops
# what the program never calls.
#   Why musl: glibc's start-up (CPU feature probing; its CPUID instructions trap to the
#     hypervisor on a VM) and, when dynamic, its loader are most of a short program's
#     cost. Exec of a static no-op: musl 0.13-0.16 ms, glibc 0.41-0.51 ms, dynamic glibc
#     0.52-0.63 ms. A submission, taking turns with the one-exec floor (bench/run.sh):
#     1.14-1.97x the floor (median 1.38 over 12 rounds) vs 1.71-2.52x with both on glibc
#     (sendmail static, the helper dynamic); with only the helper on musl, 1.34-1.45x
#     where both on musl gave 1.25-1.36x. With sendmail's own arenas (arena.c), the
#     helper started by vfork, /etc/passwd read without the C heap and ORIGIN read on a
#     second thread: 1.23-1.30x over 12 rounds.
#   What musl lacks and the code makes up for: it calls constructors without argc/argv
#     (guard.c's main keeps them: Swift's entry point is renamed coutbox_swift_main), it
#     has no arc4random_buf (guard.c, from getrandom), its pthread_t is a pointer and
#     SOCK_STREAM a macro (OUTBOX_MUSL), and its getpwuid reads only /etc/passwd and nscd
#     (sendmail reads /etc/passwd itself, then asks getent(1) for a uid not found there:
#     LDAP and sssd users).
#   outboxdrop: OutboxCore, OutboxDrop, outboxdrop; -Osize. 208 KB stripped (196 KB with
#     the dynamic glibc, 7.0 MB as an ordinary static Swift program); no dynamic loader,
#     so no LD_* to distrust, and nothing in it reads the environment before main.
#   sendmail: those libraries and OutboxSupport, OutboxSpool, OutboxConfig, OutboxMessage,
#     OutboxSMTP, OutboxSubmit; -O. 0.84 MB stripped (1.8 MB static with glibc, 8.0 MB as a
#     static Swift program), no runtime to start, mailq 6 MB instead of 9 MB. At -Osize
#     (with glibc) it was 0.13 MB smaller but a 50 MB message took 0.15-0.22 s instead of
#     0.08-0.10 s.
# Their `import OutboxCore` and the like find empty modules of those names
# ($(EMBEDDED)/modules), so the sources are the ones SwiftPM builds as separate modules.
# SwiftPM builds the same sources the usual way for the tests (.build/debug); `make check`
# also runs the integration tests that drive sendmail against this build of it
# (embedded-test), and package-test runs the installed helper's error paths (Swift 6.3.1
# once miscompiled them at -O: see fail() in Sources/outboxdrop/main.swift).
EMBEDDED := .build/embedded
SWIFTC ?= $(SWIFT)c
EMBEDDED_TARGET := $(shell uname -m)-unknown-linux-gnu
HELPER_MODULES := OutboxCore OutboxDrop
SENDMAIL_MODULES := $(HELPER_MODULES) OutboxSupport OutboxSpool OutboxConfig OutboxMessage OutboxSMTP OutboxSubmit
HELPER_SOURCES := $(foreach m,$(HELPER_MODULES),$(wildcard Sources/$(m)/*.swift)) $(wildcard Sources/outboxdrop/*.swift)
SENDMAIL_SOURCES := $(foreach m,$(SENDMAIL_MODULES),$(wildcard Sources/$(m)/*.swift)) $(wildcard Sources/sendmail/*.swift)
# What every Embedded object depends on besides its sources: the C headers its Swift
# imports, these rules and the compiler.
EMBEDDED_DEPS := Sources/COutboxSys/include/COutboxSys.h Sources/Embedded/module.modulemap Sources/Embedded/libc.h \
    Makefile $(shell readlink -f "$$(command -v $(SWIFTC))")
# musl's headers replace the system's (-nostdlibinc; the driver then warns "libc not
# found", meaning glibc's module map, which these builds do not use), in a module cache
# of their own: clang's shared cache would mix in modules built from glibc's headers.
MUSL_ARCH := $(shell uname -m)-linux-musl
MUSL_INCLUDE := /usr/include/$(MUSL_ARCH)
MUSL_LIB := /usr/lib/$(MUSL_ARCH)
EMBEDDED_SWIFTC := $(SWIFTC) -target $(EMBEDDED_TARGET) -swift-version 6 -enable-experimental-feature Embedded -wmo -g \
    -Xfrontend -function-sections -Xfrontend -entry-point-function-name -Xfrontend coutbox_swift_main -D OUTBOX_MUSL \
    -module-cache-path $(EMBEDDED)/module-cache -Xcc -nostdlibinc -Xcc -isystem -Xcc $(MUSL_INCLUDE) \
    -I Sources/Embedded -I $(EMBEDDED)/modules
# A static PIE from musl's start files, as musl-gcc would link it if it knew -static-pie.
GCC_LIBDIR = $(shell dirname "$$(cc -print-libgcc-file-name)")
# guard.c makes the RELRO segment read-only at start (musl's start-up does not).
EMBEDDED_LINK = cc -static-pie -nostdlib -nostartfiles -Wl,-z,relro,-z,now -Wl,--gc-sections \
    $(MUSL_LIB)/rcrt1.o $(MUSL_LIB)/crti.o $(GCC_LIBDIR)/crtbeginS.o
# sendmail's Swift allocations come from Sources/Embedded/arena.c first (why: there).
ARENA = -Wl,--wrap=posix_memalign -Wl,--wrap=free $(EMBEDDED)/arena.o
EMBEDDED_LIBS = $(EMBEDDED)/guard.o \
    "$$(dirname "$$(command -v $(SWIFTC))")/../lib/swift/embedded/$(EMBEDDED_TARGET)/libswiftUnicodeDataTables.a" \
    -L$(MUSL_LIB) -lc $(GCC_LIBDIR)/libgcc.a $(GCC_LIBDIR)/crtendS.o $(MUSL_LIB)/crtn.o

.PHONY: all build check test install install-files uninstall bench demo clean package package-test powercut soak fuzz format lint embedded-test

all: build

# One executable is outboxctl and outboxd (it runs as the daemon under that name):
# installed once, it saves a second Swift runtime and copy of the delivery code.
# install-files installs the outboxctl product; the copy named outboxd is for the bench
# scripts (a later `swift build -c release` may replace it with the standalone daemon).
build: $(EMBEDDED)/outboxdrop $(EMBEDDED)/sendmail
	$(SWIFT) build $(SWIFTFLAGS) --product outboxctl
	cp $(EMBEDDED)/outboxdrop $(RELEASE)/outboxdrop
	cp $(EMBEDDED)/sendmail $(RELEASE)/sendmail
	cp $(RELEASE)/outboxctl $(RELEASE)/outboxd

$(EMBEDDED)/guard.o: Sources/COutboxSys/guard.c $(EMBEDDED_DEPS)
	mkdir -p $(EMBEDDED)
	musl-gcc -DCOUTBOX_C_MAIN -O2 -g -fPIE -fstack-protector-strong -Wall -ffunction-sections -I Sources/COutboxSys/include \
	    -c Sources/COutboxSys/guard.c -o $@

$(EMBEDDED)/arena.o: Sources/Embedded/arena.c Makefile
	mkdir -p $(EMBEDDED)
	musl-gcc -O2 -g -fPIE -fstack-protector-strong -Wall -Wextra -ffunction-sections -c $< -o $@

# Empty modules named like the libraries (see above).
$(EMBEDDED)/modules/.built: $(EMBEDDED_DEPS)
	mkdir -p $(EMBEDDED)/modules
	: > $(EMBEDDED)/modules/empty.swift
	for m in $(SENDMAIL_MODULES); do \
	    $(SWIFTC) -target $(EMBEDDED_TARGET) -enable-experimental-feature Embedded -wmo -parse-as-library -emit-module \
	        -module-name $$m -emit-module-path $(EMBEDDED)/modules/$$m.swiftmodule $(EMBEDDED)/modules/empty.swift || exit 1; \
	done
	touch $@

$(EMBEDDED)/outboxdrop: $(HELPER_SOURCES) $(EMBEDDED)/guard.o $(EMBEDDED)/modules/.built $(EMBEDDED_DEPS)
	$(EMBEDDED_SWIFTC) -Osize -module-name outboxdrop -c $(HELPER_SOURCES) -o $(EMBEDDED)/outboxdrop.o
	$(EMBEDDED_LINK) -o $@ $(EMBEDDED)/outboxdrop.o $(EMBEDDED_LIBS)

$(EMBEDDED)/sendmail: $(SENDMAIL_SOURCES) $(EMBEDDED)/guard.o $(EMBEDDED)/arena.o $(EMBEDDED)/modules/.built $(EMBEDDED_DEPS)
	$(EMBEDDED_SWIFTC) -O -module-name sendmail -c $(SENDMAIL_SOURCES) -o $(EMBEDDED)/sendmail.o
	$(EMBEDDED_LINK) -o $@ $(EMBEDDED)/sendmail.o $(ARENA) $(EMBEDDED_LIBS)

# swift-format ships with the toolchain; .swift-format holds the style (4 spaces, 150 columns).
FORMATTED := Sources Tests Fuzz/Sources Package.swift Fuzz/Package.swift

lint:
	$(SWIFT) format lint --strict --recursive $(FORMATTED)

format:
	$(SWIFT) format --in-place --recursive $(FORMATTED)

check: lint
	$(SWIFT) build --build-tests
	$(SWIFT) test
	$(MAKE) embedded-test
	bash Tests/Scripts/fuzz.sh 10
	bash Tests/Scripts/package-test.sh
	POWERCUT_CUTS=2 bash Tests/Scripts/powercut.sh

# The integration suites about sendmail again, with sendmail as it is installed (Embedded
# Swift) and the other programs from the debug build beside it: the Embedded build has its
# own standard library (no any Error, no key paths, its own String search), so it is tested
# as shipped. The suites about outboxd (delivery, OAuth2, routes, limits, observability,
# outboxctl, crash safety) submit through it too but test the daemon; they run once, above.
# First, sendmail's arena on its own (Tests/Embedded/arena-test.c).
EMBEDDED_SUITES := ModeTests FreshSpoolTests SubmissionFixtureTests SMTPDialogueTests InterruptionTests \
    FullFilesystemTests StorageFaultTests SpoolFilesystemTests TrustBoundaryTests OriginTests PrivilegeTests
embedded-test: $(EMBEDDED)/sendmail
	musl-gcc -O2 -g -static -Wall -Wextra -Wl,--wrap=posix_memalign -Wl,--wrap=free -o $(EMBEDDED)/arena-test \
	    Tests/Embedded/arena-test.c Sources/Embedded/arena.c -lpthread
	$(EMBEDDED)/arena-test
	$(SWIFT) build --build-tests
	rm -rf .build/embedded-bin
	mkdir -p .build/embedded-bin
	for p in outboxd outboxctl outboxdrop; do ln -s "$$PWD/.build/debug/$$p" .build/embedded-bin/$$p; done
	cp $(EMBEDDED)/sendmail .build/embedded-bin/sendmail
	OUTBOX_BIN_DIR="$$PWD/.build/embedded-bin" $(SWIFT) test --skip-build \
	    --filter "IntegrationTests\.($$(echo $(EMBEDDED_SUITES) | tr ' ' '|'))/" >.build/embedded-test.log 2>&1; \
	    status=$$?; cat .build/embedded-test.log; [ $$status = 0 ] || exit $$status; \
	    grep -q "in $(words $(EMBEDDED_SUITES)) suites passed" .build/embedded-test.log || \
	    { echo "embedded-test: not all $(words $(EMBEDDED_SUITES)) suites ran (a suite renamed?)"; exit 1; }

# The .deb (and its -dbgsym, .buildinfo, .changes) in .build/deb/.
package:
	dpkg-buildpackage -b -us -uc
	mkdir -p .build/deb
	v=$$(dpkg-parsechangelog -S Version); a=$$(dpkg --print-architecture); \
	    mv -f ../outbox_$${v}_$$a.deb ../outbox-dbgsym_$${v}_$$a.deb ../outbox_$${v}_$$a.buildinfo ../outbox_$${v}_$$a.changes .build/deb/

# Build the .deb, install it into a fresh Debian 12 chroot and send mail through it (root).
package-test:
	bash Tests/Scripts/package-test.sh

# Power cuts in a VM (root, /dev/kvm): POWERCUT_CUTS (default 200) at POWERCUT_LEVEL (b).
powercut:
	bash Tests/Scripts/powercut.sh

test: check

# install-files copies everything below DESTDIR and needs no privileges (the Debian package
# uses it); install adds, when run as root without DESTDIR, the user, group and spool
# (etc/setup-spool) and the helper's setgid bit.
install-files:
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)/etc/outbox $(DESTDIR)$(LIBDIR)/outbox $(DESTDIR)$(UNITDIR)
	install -m 0755 $(RELEASE)/sendmail $(DESTDIR)$(SBINDIR)/sendmail
	install -m 0755 $(RELEASE)/outboxdrop $(DESTDIR)$(SBINDIR)/outboxdrop
	install -m 0755 $(RELEASE)/outboxctl $(DESTDIR)$(SBINDIR)/outboxd
	ln -sf outboxd $(DESTDIR)$(SBINDIR)/outboxctl
	install -m 0755 etc/setup-spool $(DESTDIR)$(LIBDIR)/outbox/setup-spool
	ln -sf $(SBINDIR)/sendmail $(DESTDIR)$(BINDIR)/mailq
	ln -sf $(SBINDIR)/sendmail $(DESTDIR)$(BINDIR)/newaliases
	if [ "$(PREFIX)" = /usr ]; then install -d $(DESTDIR)/usr/lib && ln -sf ../sbin/sendmail $(DESTDIR)/usr/lib/sendmail; fi
	install -m 0644 man/sendmail.8 man/outboxdrop.8 man/outboxd.8 man/outboxctl.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 man/outbox.conf.5 man/outbox-spool.5 $(DESTDIR)$(MANDIR)/man5/
	install -d $(DESTDIR)$(MANDIR)/man1
	ln -sf ../man8/sendmail.8 $(DESTDIR)$(MANDIR)/man1/mailq.1
	ln -sf ../man8/sendmail.8 $(DESTDIR)$(MANDIR)/man1/newaliases.1
	install -m 0644 etc/outbox.service $(DESTDIR)$(UNITDIR)/outbox.service
	[ -e $(DESTDIR)/etc/outbox/outbox.conf ] || install -m 0644 etc/outbox.conf $(DESTDIR)/etc/outbox/outbox.conf
	[ -e $(DESTDIR)/etc/outbox/password ] || install -m 0640 /dev/null $(DESTDIR)/etc/outbox/password

install: build install-files
	@if [ "$$(id -u)" = 0 ] && [ -z "$(DESTDIR)" ]; then \
	    etc/setup-spool $(SPOOL); \
	    chown root:outboxdrop $(SBINDIR)/outboxdrop; chown root:outbox /etc/outbox/password; chmod 2755 $(SBINDIR)/outboxdrop; chmod 0640 /etc/outbox/password; \
	    echo "installed: $(SBINDIR)/outboxdrop setgid outboxdrop, spool $(SPOOL)"; \
	else \
	    echo "not root (or DESTDIR set): skipped user/group creation, the spool, ownership and the setgid bit"; \
	fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/sendmail $(DESTDIR)$(SBINDIR)/outboxdrop $(DESTDIR)$(SBINDIR)/outboxd $(DESTDIR)$(SBINDIR)/outboxctl $(DESTDIR)$(BINDIR)/mailq $(DESTDIR)$(BINDIR)/newaliases
	rm -f $(DESTDIR)$(LIBDIR)/outbox/setup-spool $(DESTDIR)$(UNITDIR)/outbox.service $(DESTDIR)$(MANDIR)/man1/mailq.1 $(DESTDIR)$(MANDIR)/man1/newaliases.1
	rm -f $(DESTDIR)$(MANDIR)/man8/sendmail.8 $(DESTDIR)$(MANDIR)/man8/outboxdrop.8 $(DESTDIR)$(MANDIR)/man8/outboxd.8 $(DESTDIR)$(MANDIR)/man8/outboxctl.8 $(DESTDIR)$(MANDIR)/man5/outbox.conf.5 $(DESTDIR)$(MANDIR)/man5/outbox-spool.5

# The crash soak at full size (root): 10 000 messages from four users, 50 outboxd SIGKILLs,
# 20 sendmail SIGKILLs, a smarthost answering 451/421 for part of the run.
SOAK_MESSAGES ?= 10000
SOAK_DAEMON_KILLS ?= 50
SOAK_SENDMAIL_KILLS ?= 20
soak: build
	bash Tests/Scripts/soak.sh $(RELEASE) $(SOAK_MESSAGES) $(SOAK_DAEMON_KILLS) $(SOAK_SENDMAIL_KILLS)

# Each libFuzzer target (Fuzz/) for FUZZ_SECONDS; the corpus grows in .build-fuzz/corpus.
FUZZ_SECONDS ?= 300
fuzz:
	bash Tests/Scripts/fuzz.sh $(FUZZ_SECONDS)

bench: build
	bash bench/run.sh

clean:
	rm -rf .build .build-fuzz bench/out

demo:
	bash Tests/Scripts/demo.sh
