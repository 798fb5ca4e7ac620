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


def relro_offset(path):
    """RELRO's address relative to the load base (a PIE's first PT_LOAD is at 0)."""
    with open(path, "rb") as f:
        elf = f.read()
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        sys.exit(f"relro-check: {path} is not a 64-bit ELF file")
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    first_load = relro = None
    for i in range(phnum):
        p_type, _, _, p_vaddr = struct.unpack_from("<IIQQ", elf, phoff + i * phentsize)
        if p_type == PT_LOAD and first_load is None:
            first_load = p_vaddr
        if p_type == PT_GNU_RELRO:
            relro = p_vaddr
    if relro is None:
        sys.exit(f"relro-check: {path} has no PT_GNU_RELRO segment")
    return relro - first_load


def main():
    path, command = sys.argv[1], sys.argv[3:]
    offset = relro_offset(path)
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        first = child.stdout.readline()
        if not first:
            sys.exit(f"relro-check: {' '.join(command)} said nothing")
        maps = [line.split() for line in open(f"/proc/{child.pid}/maps")]
        name = os.path.basename(path)
        # The load base: the mapping of the file at offset 0.
        base = next(int(m[0].split("-")[0], 16) for m in maps if len(m) >= 6 and m[5].endswith("/" + name) and int(m[2], 16) == 0)
        address = base + offset
        for m in maps:
            low, high = (int(x, 16) for x in m[0].split("-"))
            if low <= address < high:
                if "w" in m[1]:
                    print(f"relro-check: {name}: RELRO at {address:#x} is mapped {m[1]}: writable")
                    return 1
                print(f"relro-check: {name}: RELRO at {address:#x} is mapped {m[1]}")
                return 0
        sys.exit(f"relro-check: {name}: no mapping holds {address:#x}")
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
