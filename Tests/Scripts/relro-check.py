#!/usr/bin/python3
"""relro-check.py ELF -- COMMAND...: runs COMMAND (which runs ELF, possibly through chroot)
with a pipe on its stdin, waits for its first line of output (it is then running its own
code), and checks in /proc/PID/maps that the page where ELF's PT_GNU_RELRO segment starts
is not writable. Exits 0 and prints one line if it is read-only, 1 otherwise.

musl's static start-up leaves RELRO writable; guard.c protects it (package-test)."""
import os
import struct
import subprocess
import sys

PT_LOAD, PT_GNU_RELRO = 1, 0x6474E552


def segments(path):
    """(RELRO's start, RELRO's end, the end of the writable PT_LOAD that holds it), relative
    to the load base (a PIE's first PT_LOAD is at 0)."""
    with open(path, "rb") as f:
        elf = f.read()
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        sys.exit(f"relro-check: {path} is not a 64-bit ELF file")
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    loads, relro = [], None
    for i in range(phnum):
        p_type, p_flags, _, p_vaddr, _, _, p_memsz = struct.unpack_from("<IIQQQQQ", elf, phoff + i * phentsize)
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_vaddr + p_memsz, p_flags))
        if p_type == PT_GNU_RELRO:
            relro = (p_vaddr, p_vaddr + p_memsz)
    if relro is None or not loads:
        sys.exit(f"relro-check: {path} has no PT_GNU_RELRO segment")
    base = loads[0][0]
    holder = [end for start, end, flags in loads if start <= relro[0] < end and flags & 2]
    if not holder:
        sys.exit(f"relro-check: {path}: RELRO is not in a writable PT_LOAD")
    return relro[0] - base, relro[1] - base, holder[0] - base


def main():
    path, command = sys.argv[1], sys.argv[3:]
    start, end, writable_end = segments(path)
    page = os.sysconf("SC_PAGE_SIZE")
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        first = child.stdout.readline()
        if not first:
            sys.exit(f"relro-check: {' '.join(command)} said nothing")
        maps = [line.split() for line in open(f"/proc/{child.pid}/maps")]
        name = os.path.basename(path)
        # The load base: the mapping of the file at offset 0.
        bases = [int(m[0].split("-")[0], 16) for m in maps if len(m) >= 6 and m[5].endswith("/" + name) and int(m[2], 16) == 0]
        if not bases:
            sys.exit(f"relro-check: no mapping of {name} at offset 0 in /proc/{child.pid}/maps")

        def permissions(address):
            for m in maps:
                low, high = (int(x, 16) for x in m[0].split("-"))
                if low <= address < high:
                    return m[1]
            sys.exit(f"relro-check: {name}: no mapping holds {address:#x}")

        # Every whole page of RELRO (as ld.so protects it: both ends rounded down).
        first_page, end_page = (bases[0] + start) // page * page, (bases[0] + end) // page * page
        for address in range(first_page, end_page, page):
            if "w" in permissions(address):
                print(f"relro-check: {name}: RELRO page {address:#x} is mapped {permissions(address)}: writable")
                return 1
        # The control: the segment's writable rest (.data) is writable, so the probe can tell.
        if bases[0] + writable_end > end_page and "w" not in permissions(end_page):
            sys.exit(f"relro-check: {name}: the page after RELRO ({end_page:#x}) is not writable either: the probe is wrong")
        print(f"relro-check: {name}: RELRO's {(end_page - first_page) // page} pages from {first_page:#x} are read-only, the data after them writable")
        return 0
    finally:
        # End of input: the helper gives up on a truncated stream and removes its file,
        # sendmail -bs ends its session.
        child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


if __name__ == "__main__":
    sys.exit(main())
