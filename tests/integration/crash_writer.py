#!/usr/bin/env python3
# crash_writer.py DIR COUNT LOG: writes COUNT files of ~23 KB in DIR, one
# after the other, and after each successful close appends the file's name
# to LOG (a local file, outside the NFS tree). Under speculation that line
# is output held until the epoch commits: a name in LOG is a close the
# outside world has seen acknowledged. Errors go to stderr; it goes on.
# crash_writer.py --check DIR LOG: prints each logged name whose file in DIR
# is missing or has the wrong content (DIR: the server's export directory).
import os
import sys


def content(name):
    return "".join("%s %05d %s\n" % (name, k, "abcdefghij" * 4) for k in range(400))


def write(d, count, log):
    errors = 0
    os.makedirs(d, exist_ok=True)
    with open(log, "a") as lf:
        for i in range(count):
            if i % 25 == 0:
                os.listdir(d)  # a listing: later creates can be predicted
            name = "f%04d" % i
            try:
                with open(os.path.join(d, name), "w") as f:
                    f.write(content(name))
            except OSError as e:
                errors += 1
                print("crash_writer: %s: %s" % (name, e), file=sys.stderr)
                continue
            lf.write(name + "\n")
            lf.flush()
    return 0 if errors == 0 else 3


def check(d, log):
    lost = 0
    with open(log) as lf:
        for name in lf.read().split():
            p = os.path.join(d, name)
            try:
                with open(p) as f:
                    ok = f.read() == content(name)
            except OSError:
                ok = False
            if not ok:
                lost += 1
                print("lost: %s" % p)
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    if sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    sys.exit(write(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
