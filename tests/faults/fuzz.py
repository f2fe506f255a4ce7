#!/usr/bin/env python3
"""fuzz.py SOCK SEED NFRAMES CANARY_PATH: send hostile frames to a specnfsd.

Garbage, short headers, length 0xffffffff, bad magic/version/op, NUL in
paths, 5,000-byte paths, '..' paths aimed at CANARY_PATH, and NFRAMES
random frames, each on its own connection or a few per connection. Prints
'frames=N conns=N'; the caller checks that the daemon still answers and
that nothing outside its mirror changed. Exit 0 unless the socket cannot be
reached at all.
"""
import random
import socket
import struct
import sys

MAGIC = 0x464E5053
OP_STAT, OP_OPEN, OP_READDIR, OP_READLINK, OP_UNLINK, OP_RENAME = 2, 4, 7, 8, 11, 12


def hdr(op, seq, ln, magic=MAGIC, version=3):
    return struct.pack("<IHHII", magic, version, op, seq, ln)


def string(b):
    return struct.pack("<I", len(b)) + b


def frame(op, payload, version=3, seq=1):
    return hdr(op, seq, len(payload), version=version) + payload


class Sender:
    def __init__(self, path):
        self.path, self.s, self.frames, self.conns = path, None, 0, 0

    def send(self, data, close=False):
        for _ in range(2):
            try:
                if self.s is None:
                    self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self.s.settimeout(1)
                    self.s.connect(self.path)
                    self.s.settimeout(0.02)
                    self.conns += 1
                self.s.sendall(data)
                self.frames += 1
                try:
                    self.s.recv(65536)
                except (socket.timeout, OSError):
                    pass
                break
            except OSError:
                self.reset()
        if close:
            self.reset()

    def reset(self):
        if self.s is not None:
            try:
                self.s.close()
            except OSError:
                pass
        self.s = None


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    sock, seed, n, canary = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rnd = random.Random(seed)
    s = Sender(sock)
    try:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(sock)
        probe.close()
    except OSError as e:
        print("cannot connect to %s: %s" % (sock, e), file=sys.stderr)
        return 1
    esc = ("/nfs" + "/.." * 12 + canary).encode()
    for v in (3, 4):
        # Well-formed requests with hostile paths: '..' out of the mount,
        # NUL inside, 5,000 bytes, relative.
        for p in (esc, b"/nfs/fuzz/../../.." + canary.encode(), b"/nfs/a\0b",
                  b"/nfs/" + b"x" * 5000, b"relative/path", b"", b"/nfs/" + b"../" * 1500):
            s.send(frame(OP_STAT, string(p) + struct.pack("<II", 0, 0), v))
            s.send(frame(OP_OPEN, string(p) + struct.pack("<IIIQ", 0o1102, 0o644, 0, 0), v))
            s.send(frame(OP_READDIR, string(p) + struct.pack("<I", 0), v))
            s.send(frame(OP_UNLINK, string(p) + struct.pack("<IQ", 0, 0), v))
            s.send(frame(OP_RENAME, string(p) + string(esc) + struct.pack("<IQ", 0, 0), v))
        s.send(frame(OP_STAT, struct.pack("<I", 0xFFFFFFFF) + b"/nfs", v), close=True)
    s.send(b"", close=True)
    s.send(b"\x00" * 3, close=True)                                  # short header
    s.send(hdr(OP_STAT, 1, 0xFFFFFFFF), close=True)                  # huge length
    s.send(hdr(OP_STAT, 1, 20, magic=0xDEADBEEF) + b"x" * 20, close=True)  # bad magic
    s.send(hdr(OP_STAT, 1, 0, version=0xFFFF), close=True)           # bad version
    s.send(hdr(0x7FFF, 1, 0), close=True)                            # bad op
    s.send(hdr(0, 1, 0), close=True)
    s.send(hdr(OP_STAT, 1, 70000) + b"y" * 70000, close=True)        # too long a frame
    for i in range(n):
        kind = rnd.randrange(5)
        if kind == 0:
            data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 64)))
        elif kind == 1:
            data = hdr(rnd.randrange(0, 40), i, rnd.randrange(0, 200),
                       version=rnd.choice((3, 4))) + \
                bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 200)))
        elif kind == 2:
            p = b"/nfs/" + bytes(rnd.choice(b"./ab\0\n") for _ in range(rnd.randrange(1, 300)))
            data = frame(rnd.choice((OP_STAT, OP_OPEN, OP_READLINK, OP_READDIR)),
                         string(p) + bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 24))),
                         rnd.choice((3, 4)), i)
        elif kind == 3:
            data = hdr(rnd.randrange(1, 21), i, 0xFFFFFFFF - rnd.randrange(3))
        else:
            data = frame(OP_OPEN,
                         string(esc) + struct.pack("<IIIQ", rnd.choice((0, 1, 2, 0o1101, 0o102)),
                                                   0o600, rnd.randrange(3), rnd.randrange(1 << 40)),
                         rnd.choice((3, 4)), i)
        s.send(data, close=rnd.random() < 0.3)
    s.reset()
    print("frames=%d conns=%d" % (s.frames, s.conns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
