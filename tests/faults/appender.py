#!/usr/bin/env python3
"""appender.py: parallel O_APPEND writers of tools/specnfs-faults.

  appender.py run FILE NWRITERS NLINES   fork NWRITERS processes; each opens
        FILE with O_WRONLY|O_CREAT|O_APPEND (all at about the same moment)
        and writes NLINES lines "wID LINE" with one write(2) each.
        Exit 1 if any writer failed.
  appender.py check FILE NWRITERS NLINES  prints 'lines=N missing=M torn=T'
        and what is missing; exit 1 unless the file holds exactly
        NWRITERS*NLINES whole lines, each writer's all present, in order.
"""
import os
import sys
import time


def run(path, nw, nl):
    start = time.time() + 0.3
    pids = []
    for w in range(nw):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                time.sleep(max(0, start - time.time()))
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                for i in range(nl):
                    os.write(fd, b"w%d %d\n" % (w, i))
                os.close(fd)
            except OSError as e:
                print("writer %d: %s" % (w, e), file=sys.stderr)
                code = 1
            os._exit(code)
        pids.append(pid)
    bad = 0
    for pid in pids:
        _, st = os.waitpid(pid, 0)
        bad |= st != 0
    return 1 if bad else 0


def check(path, nw, nl):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        print("lines=0 missing=%d torn=0\n%s: %s" % (nw * nl, path, e.strerror))
        return 1
    lines = data.split(b"\n")
    torn = 1 if lines and lines[-1] != b"" else 0
    lines = [l for l in lines if l]
    per = {}
    bad = []
    for l in lines:
        parts = l.split()
        if len(parts) != 2 or not parts[0].startswith(b"w"):
            torn += 1
            bad.append(l[:40])
            continue
        per.setdefault(int(parts[0][1:]), []).append(int(parts[1]))
    missing = []
    for w in range(nw):
        got = per.get(w, [])
        if got != list(range(nl)):
            missing.append("w%d has %d of %d lines" % (w, len(got), nl))
    nmiss = sum(nl - len(set(per.get(w, []))) for w in range(nw))
    print("lines=%d missing=%d torn=%d" % (len(lines), nmiss, torn))
    if missing:
        print("; ".join(missing))
    if bad:
        print("torn lines: %r" % bad[:4])
    return 0 if len(lines) == nw * nl and not missing and not torn else 1


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) == 4 and a[0] in ("run", "check"):
        sys.exit((run if a[0] == "run" else check)(a[1], int(a[2]), int(a[3])))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
