#!/usr/bin/python3
"""A disk with a volatile write cache, for the power-cut test's level (b).

An NBD server (fixed newstyle, the subset QEMU uses) over a raw image file. Writes since
the last FLUSH stay in memory, as in a drive's volatile cache: reads see them, a FLUSH
(or a write with FUA) makes them durable in the image. When the power is cut (QEMU is
killed: the connection drops without NBD_CMD_DISC), the writes not covered by a
completed FLUSH are lost: all of them, or, with --keep-random, a random subset of their
4 KiB pages, applied in random order (a drive may have written some back on its own, in
any order). A clean disconnect (the guest powered off) keeps nothing either: only what
was flushed is on the disk, as after any power loss.

    nbd_volatile.py IMAGE SOCKET [--keep-random] [--seed N]

Serves one connection after another until killed; prints one line per connection to
stderr: how many writes were pending at the cut and how many pages were kept.
"""

import os
import random
import socket
import struct
import sys

NBDMAGIC = b"NBDMAGIC"
IHAVEOPT = b"IHAVEOPT"
OPT_REPLY_MAGIC = 0x3E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698
OPT_EXPORT_NAME, OPT_ABORT, OPT_GO, OPT_INFO = 1, 2, 7, 6
REP_ACK, REP_INFO, REP_ERR_UNSUP = 1, 3, 0x80000001
INFO_EXPORT = 0
FLAG_HAS_FLAGS, FLAG_SEND_FLUSH, FLAG_SEND_FUA = 1, 4, 8
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH = 0, 1, 2, 3
CMD_FLAG_FUA = 1
EINVAL = 22
PAGE = 4096


def recv_exact(conn, n):
    data = bytearray()
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return bytes(data)


class VolatileDisk:
    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR)
        self.size = os.fstat(self.fd).st_size
        self.cache = {}  # page number -> bytes (PAGE long): written, not yet flushed
        self.order = []  # page numbers in the order they were first dirtied

    def page(self, number):
        cached = self.cache.get(number)
        if cached is not None:
            return cached
        data = os.pread(self.fd, PAGE, number * PAGE)
        return data + bytes(PAGE - len(data))

    def read(self, offset, length):
        out = bytearray()
        while length > 0:
            number, within = divmod(offset, PAGE)
            take = min(length, PAGE - within)
            out += self.page(number)[within:within + take]
            offset += take
            length -= take
        return bytes(out)

    def write(self, offset, data):
        position = 0
        while position < len(data):
            number, within = divmod(offset + position, PAGE)
            take = min(len(data) - position, PAGE - within)
            page = bytearray(self.page(number))
            page[within:within + take] = data[position:position + take]
            if number not in self.cache:
                self.order.append(number)
            self.cache[number] = bytes(page)
            position += take

    def flush(self):
        for number in self.order:
            os.pwrite(self.fd, self.cache[number][: max(0, min(PAGE, self.size - number * PAGE))], number * PAGE)
        os.fsync(self.fd)
        self.cache.clear()
        self.order.clear()

    def cut(self, keep_random, rng):
        """The power goes: the cache is lost, or a random part of it reaches the disk."""
        pending = len(self.order)
        kept = 0
        if keep_random and pending:
            chosen = [n for n in self.order if rng.random() < 0.5]
            rng.shuffle(chosen)
            for number in chosen:
                os.pwrite(self.fd, self.cache[number][: max(0, min(PAGE, self.size - number * PAGE))], number * PAGE)
            kept = len(chosen)
            os.fsync(self.fd)
        self.cache.clear()
        self.order.clear()
        return pending, kept


def option_reply(conn, option, kind, data=b""):
    conn.sendall(struct.pack(">QIII", OPT_REPLY_MAGIC, option, kind, len(data)) + data)


def negotiate(conn, disk):
    """Fixed newstyle handshake; True when the client chose the export."""
    conn.sendall(NBDMAGIC + IHAVEOPT + struct.pack(">H", 1 | 2))  # FIXED_NEWSTYLE, NO_ZEROES
    (client_flags,) = struct.unpack(">I", recv_exact(conn, 4))
    transmission = FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_FUA
    while True:
        magic, option, length = struct.unpack(">8sII", recv_exact(conn, 16))
        if magic != IHAVEOPT:
            return False
        data = recv_exact(conn, length)
        if option == OPT_EXPORT_NAME:
            conn.sendall(struct.pack(">QH", disk.size, transmission) + (b"" if client_flags & 2 else bytes(124)))
            return True
        if option in (OPT_GO, OPT_INFO):
            option_reply(conn, option, REP_INFO, struct.pack(">HQH", INFO_EXPORT, disk.size, transmission))
            option_reply(conn, option, REP_ACK)
            if option == OPT_GO:
                return True
            continue
        if option == OPT_ABORT:
            option_reply(conn, option, REP_ACK)
            return False
        option_reply(conn, option, REP_ERR_UNSUP)


def serve(conn, disk):
    """Transmission until the client goes; True when it said goodbye (NBD_CMD_DISC)."""
    while True:
        try:
            header = recv_exact(conn, 28)
        except (EOFError, ConnectionError):
            return False
        magic, flags, command, handle, offset, length = struct.unpack(">IHHQQI", header)
        if magic != REQUEST_MAGIC:
            return False
        error = 0
        payload = b""
        if command == CMD_WRITE:
            try:
                data = recv_exact(conn, length)
            except (EOFError, ConnectionError):
                return False
            if offset + length > disk.size:
                error = EINVAL
            else:
                disk.write(offset, data)
                if flags & CMD_FLAG_FUA:
                    disk.flush()
        elif command == CMD_READ:
            if offset + length > disk.size:
                error = EINVAL
            else:
                payload = disk.read(offset, length)
        elif command == CMD_FLUSH:
            disk.flush()
        elif command == CMD_DISC:
            return True
        else:
            error = EINVAL
        try:
            conn.sendall(struct.pack(">IIQ", SIMPLE_REPLY_MAGIC, error, handle) + (payload if not error else b""))
        except (BrokenPipeError, ConnectionError):
            return False


def main():
    args = sys.argv[1:]
    keep_random = "--keep-random" in args
    seed = None
    if "--seed" in args:
        seed = int(args[args.index("--seed") + 1])
    image, path = [a for a in args if not a.startswith("--") and not a.isdigit()][:2]
    rng = random.Random(seed)
    disk = VolatileDisk(image)
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    while True:
        conn, _ = listener.accept()
        with conn:
            if negotiate(conn, disk):
                serve(conn, disk)
        # Whether the guest said goodbye or was killed, what was not flushed is gone.
        pending, kept = disk.cut(keep_random, rng)
        print(f"nbd_volatile: connection ended: {pending} unflushed pages, {kept} of them kept", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
