#!/usr/bin/env python3
"""writer.py: the acknowledged-close writer of tools/specnfs-faults.

  writer.py write DIR N SIZE LOG TAG   write DIR/fNNNN (N files of about SIZE
        bytes, content a function of TAG and the name), and after each
        successful close append "NAME SHA256" to LOG (a file outside /nfs,
        fsync'ed) and print "closed NAME" on stdout. Stops at the first error
        (exit 1); what was logged is what was acknowledged.
  writer.py check DIR LOG TAG [STDOUT]  compare LOG with DIR (the server's
        export): prints one line 'acked=A lost=L discarded=D' and then one
        line per problem. lost: a logged file missing or with other content
        on the server. discarded: a line of LOG or STDOUT repeated or out of
        order (output of an execution that was thrown away). Exit 1 if L or
        D is not 0.
"""
import hashlib
import os
import sys


def content(tag, name, size):
    seed = hashlib.sha256(("%s/%s" % (tag, name)).encode()).hexdigest()
    line = ("%s %s %s\n" % (tag, name, seed)).encode()
    reps = max(1, size // len(line))
    return line * reps


def write(d, n, size, log, tag):
    os.makedirs(d, exist_ok=True)
    with open(log, "a") as lf:
        for i in range(n):
            name = "f%04d" % i
            data = content(tag, name, size)
            try:
                fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                off = 0
                while off < len(data):
                    off += os.write(fd, data[off:])
                os.close(fd)
            except OSError as e:
                print("error %s: %s" % (name, e), file=sys.stderr)
                return 1
            lf.write("%s %s\n" % (name, hashlib.sha256(data).hexdigest()))
            lf.flush()
            os.fsync(lf.fileno())
            print("closed %s" % name, flush=True)
    return 0


def order_problems(what, names):
    probs = []
    seen = set()
    last = -1
    for nm in names:
        if nm in seen:
            probs.append("%s: %s appears twice" % (what, nm))
        seen.add(nm)
        i = int(nm[1:]) if nm[1:].isdigit() else -1
        if i <= last:
            probs.append("%s: %s out of order" % (what, nm))
        last = i
    return probs


def check(d, log, tag, out=None):
    acked = []
    try:
        with open(log) as lf:
            for line in lf:
                parts = line.split()
                if len(parts) == 2:
                    acked.append(parts)
    except FileNotFoundError:
        pass
    probs = []
    lost = []
    for name, sha in dict(acked).items():
        p = os.path.join(d, name)
        try:
            with open(p, "rb") as f:
                got = hashlib.sha256(f.read()).hexdigest()
        except OSError as e:
            lost.append("%s (%s on the server)" % (name, e.strerror))
            continue
        if got != sha:
            lost.append("%s (other content on the server: %d bytes)" % (name, os.path.getsize(p)))
    disc = order_problems("log", [a[0] for a in acked])
    if out is not None:
        with open(out, errors="replace") as f:
            names = [l.split()[1] for l in f if l.startswith("closed ")]
        disc += order_problems("stdout", names)
        if names != [a[0] for a in acked][:len(names)] and not disc:
            disc.append("stdout and log disagree")
    print("acked=%d lost=%d discarded=%d" % (len(set(a[0] for a in acked)), len(lost), len(disc)))
    if lost:
        print("lost %d acknowledged file(s): %s%s" % (len(lost), " ".join(lost[:8]),
                                                     " ..." if len(lost) > 8 else ""))
    for p in disc[:8]:
        print("discarded output: %s" % p)
    return 1 if lost or disc else 0


def main(a):
    if len(a) >= 6 and a[0] == "write":
        return write(a[1], int(a[2]), int(a[3]), a[4], a[5])
    if len(a) in (4, 5) and a[0] == "check":
        return check(a[1], a[2], a[3], a[4] if len(a) == 5 else None)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
