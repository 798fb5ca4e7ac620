#!/usr/bin/python3
"""The power-cut test: boot the VM, let it queue mail, cut the power at a random moment,
boot again from the same disk and check that every acknowledged message is there, whole
and once. Cuts accumulate, as in real life.

    powercut.py IMAGE_DIR --cuts N --level a|b [--seed S] [--work DIR]

Level a: the guest's page cache is lost, the disk keeps every write QEMU gave it
(cache=directsync on the image). Level b: the disk also loses every write not covered by
a completed FLUSH, or keeps a random part of them in random order, as a drive's volatile
cache does (nbd_volatile.py as the disk).

Ends with one line in this shape (the project's monitoring reads it):
    powercut: N cuts (level b), M acknowledged, L lost, P partial, D duplicates
Exit status 0 only when nothing was lost, partial, duplicated or broken.
"""

import argparse
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BOOT_TIMEOUT = 180.0


class Guest:
    """One boot of the VM; its console lines as they come."""

    def __init__(self, image_dir, disk_args, base, phase, log, accel, extra=""):
        append = f"root=/dev/vda rw console=ttyS0 init=/powercut/init quiet panic=-1 powercut.base={base} powercut.phase={phase} {extra}"
        command = [
            "qemu-system-x86_64", "-accel", "kvm" if accel == "kvm" else "tcg,thread=multi", "-m", "768", "-smp", "2",
            "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot", "-nic", "none",
            "-kernel", os.path.join(image_dir, "vmlinuz"), "-initrd", os.path.join(image_dir, "initrd.img"),
            "-append", append,
        ] + disk_args
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.buffer = b""
        self.log = log

    def lines(self, until):
        """Console lines until the deadline `until` (monotonic; or a function giving it,
        asked again after each line) or the guest's end."""
        fd = self.process.stdout.fileno()
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                text = line.decode("utf-8", "replace").rstrip("\r")
                self.log.write(text + "\n")
                yield text
            remaining = (until() if callable(until) else until) - time.monotonic()
            if remaining <= 0:
                return
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            self.buffer += chunk

    def cut(self):
        """The power goes: SIGKILL, nothing else runs. A half-sent line is discarded."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.buffer = b""


class Tally:
    def __init__(self):
        self.acknowledged = set()
        self.lost = set()
        self.partial = 0
        self.bad = 0
        self.duplicates = set()
        self.problems = []

    def check(self, have, partial, bad, problems, cut):
        """What a boot's check saw, against everything acknowledged so far."""
        missing = self.acknowledged - set(have)
        for n in sorted(missing - self.lost):
            self.problems.append(f"cut {cut}: acknowledged message {n} is missing")
        self.lost |= missing
        self.partial += len(partial)
        self.bad += len(bad)
        for n, ids in have.items():
            if len(set(ids)) > 1 and n not in self.duplicates:
                self.duplicates.add(n)
                self.problems.append(f"cut {cut}: message {n} is queued {len(set(ids))} times: {sorted(set(ids))}")
        for p in partial + bad + problems:
            self.problems.append(f"cut {cut}: {p}")


def run_check(guest, tally, cut, deadline, boot_deadline=None):
    """Reads a boot's check lines up to CHECKED; False when the boot never got there,
    None when it did not reach init before `boot_deadline` (the KVM probe)."""
    have, partial, bad, problems = {}, [], [], []
    booted = False
    for line in guest.lines(lambda: deadline if booted or boot_deadline is None else boot_deadline):
        if not line.startswith("POWERCUT "):
            continue
        words = line.split()
        kind = words[1]
        if kind == "BOOT":
            booted = True
        elif kind == "HAVE":
            have.setdefault(int(words[2]), []).append(words[3])
        elif kind == "PARTIAL":
            partial.append("partial or unreadable file: " + " ".join(words[2:]))
        elif kind == "BAD":
            bad.append("message " + words[2] + " has other bytes than were submitted: " + " ".join(words[3:]))
        elif kind in ("CORRUPT", "PROBLEM"):
            problems.append(" ".join(words[1:]))
        elif kind == "CHECKED":
            tally.check(have, partial, bad, problems, cut)
            return True
    if boot_deadline is not None and not booted:
        return None
    tally.problems.append(f"cut {cut}: the guest did not finish its check ({'booted' if booted else 'did not boot'})")
    return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("image")
    parser.add_argument("--cuts", type=int, default=10)
    parser.add_argument("--level", choices=["a", "b"], default="b")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--work", default=None)
    parser.add_argument(
        "--self-test", action="store_true",
        help="seed a durability bug (ext4 mounted with barrier=0: no FLUSH ever reaches the disk) and cut once; "
        "succeeds only when the check catches the loss (a harness that cannot fail proves nothing)")
    options = parser.parse_args()
    if options.self_test:
        options.level, options.cuts = "b", 1
    extra = "rootflags=barrier=0" if options.self_test else ""
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(1 << 31)
    rng = random.Random(seed)
    work = options.work or os.path.join("/var/tmp", f"outbox-powercut-{os.getpid()}")
    os.makedirs(work, exist_ok=True)
    disk = os.path.join(work, "disk.img")
    subprocess.run(["cp", "--sparse=always", os.path.join(options.image, "rootfs.img"), disk], check=True)
    log = open(os.path.join(work, "console.log"), "w")
    server = None
    if options.level == "b":
        socket_path = os.path.join(work, "nbd.sock")
        server = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "nbd_volatile.py"), disk, socket_path, "--seed", str(seed)]
            + ([] if options.self_test else ["--keep-random"]),
            stderr=open(os.path.join(work, "nbd.log"), "w"))
        for _ in range(100):
            if os.path.exists(socket_path):
                break
            time.sleep(0.05)
        disk_args = ["-drive", f"file=nbd:unix:{socket_path},format=raw,if=virtio,cache=writeback"]
    else:
        disk_args = ["-drive", f"file={disk},format=raw,if=virtio,cache=directsync"]
    # KVM when it works; some nested hosts hang the guest kernel early, and software
    # emulation (TCG) is the same machine, only slower.
    accel = os.environ.get("POWERCUT_ACCEL", "auto")
    # A probe that failed on this machine is remembered beside the images.
    remembered = os.path.join(os.path.dirname(os.path.abspath(options.image)), "kvm-does-not-boot")
    if accel == "auto" and os.path.exists(remembered):
        accel = "tcg"
    if accel == "auto":
        accel = "kvm" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "tcg"
        probing = accel == "kvm"
    else:
        probing = False
    print(f"powercut: level {options.level}, {options.cuts} cuts, seed {seed}, work {work}", flush=True)
    tally = Tally()
    boot_times = []
    guest = None
    # A stopped harness (SIGTERM) stops its guest and disk, and reports the cuts so far.
    class Stopped(Exception):
        pass

    def stop(*_):
        raise Stopped()

    signal.signal(signal.SIGTERM, stop)
    stopped = False
    try:
        for cut in range(options.cuts + 1):
            final = cut == options.cuts
            started = time.monotonic()
            guest = Guest(options.image, disk_args, base=(cut + 1) * 100000, phase="check" if final else "run", log=log, accel=accel, extra=extra)
            log.write(f"=== boot {cut} ({accel}) ===\n")
            ok = run_check(guest, tally, cut, started + BOOT_TIMEOUT, boot_deadline=started + 20 if probing else None)
            if ok is None:
                # The first boot, before any workload: nothing to lose by booting again.
                guest.cut()
                print("powercut: the guest does not boot under KVM here; using software emulation (TCG)", flush=True)
                open(remembered, "w").close()
                accel, probing = "tcg", False
                started = time.monotonic()
                guest = Guest(options.image, disk_args, base=(cut + 1) * 100000, phase="check" if final else "run", log=log, accel=accel, extra=extra)
                ok = run_check(guest, tally, cut, started + BOOT_TIMEOUT)
            probing = False
            boot_times.append(time.monotonic() - started)
            if final or not ok:
                guest.cut()
                if not ok:
                    break
                continue
            # The power goes at a random moment of the workload (outboxd adopting,
            # submitters writing and renaming).
            until = time.monotonic() + (120 if options.self_test else rng.uniform(0.2, 6.0))
            acknowledged = 0
            for line in guest.lines(until):
                if line.startswith("POWERCUT ACK "):
                    tally.acknowledged.add(int(line.split()[2]))
                    acknowledged += 1
                    if options.self_test and acknowledged >= 3:
                        break
            guest.cut()
            print(f"powercut: cut {cut + 1}: {acknowledged} acknowledged, boot and check {boot_times[-1]:.1f} s ({accel})", flush=True)
    except Stopped:
        stopped = True
        print("powercut: stopped (SIGTERM); the last cut was not checked", flush=True)
    finally:
        if guest is not None:
            guest.cut()
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait()
        log.close()
    for problem in tally.problems[:50]:
        print("powercut: " + problem, flush=True)
    cuts = max(0, min(options.cuts, len(boot_times) - 1))
    if boot_times:
        print(f"powercut: boot and check {min(boot_times):.1f}-{max(boot_times):.1f} s (median {sorted(boot_times)[len(boot_times) // 2]:.1f} s); console log in {work}")
    print(
        f"powercut: {cuts} cuts (level {options.level}), {len(tally.acknowledged)} acknowledged, {len(tally.lost)} lost, "
        f"{tally.partial + tally.bad} partial, {len(tally.duplicates)} duplicates", flush=True)
    if options.self_test:
        caught = bool(tally.lost or tally.partial or tally.bad or tally.problems)
        print(f"powercut: self-test: the seeded loss was {'caught' if caught else 'NOT caught'}", flush=True)
        sys.exit(0 if caught and tally.acknowledged else 1)
    if tally.problems or stopped:
        sys.exit(1)
    os.unlink(disk)
    shutil.rmtree(work, ignore_errors=True) if not os.environ.get("KEEP") else None


if __name__ == "__main__":
    main()
