#!/usr/bin/env python3
"""posix_ops.py ROOT: a fixed list of file-system calls, one line each.

tools/specnfs-faults runs it once in a local temporary directory and once
under /nfs through `specnfs run`, and diffs the two outputs. Every call runs
relative to ROOT (after chdir), and ROOT is printed as "ROOT", so the two
runs print the same lines when the semantics agree. Each line is
"NAME: ok[ DETAILS]" or "NAME: ERRNO_NAME".

What NFS itself changes, and so is masked here (not printed) -- a kernel
NFS mount differs from a local file system the same way:
  - st_dev and st_ino (the server's numbers), st_blksize and st_blocks
    (the server's allocation), st_atime (servers and clients update it
    lazily), st_ctime (set by the server at its own clock) and st_mtime
    of a file or directory the program did not set explicitly (the
    server's clock); times set with utimensat() are kept and printed
  - the order of readdir() entries (sorted here)
  - the owner of new files is the server's mapping of the caller's uid;
    the test bed does no squashing, so owners are printed
Nothing else may differ: open flags, errno values, modes, sizes, link
counts, symlink targets, special files' types and device numbers.
"""
import ctypes
import errno
import os
import stat
import sys

ROOT = None
libc = ctypes.CDLL(None, use_errno=True)
libc.realpath.restype = ctypes.c_char_p
libc.realpath.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


def show(v):
    if isinstance(v, str) and ROOT:
        v = v.replace(ROOT, "ROOT")
    return v


def fmt_stat(st, times=False):
    t = stat.S_IFMT(st.st_mode)
    kind = {stat.S_IFREG: "reg", stat.S_IFDIR: "dir", stat.S_IFLNK: "lnk", stat.S_IFIFO: "fifo",
            stat.S_IFCHR: "chr", stat.S_IFBLK: "blk", stat.S_IFSOCK: "sock"}.get(t, "?")
    s = "type=%s mode=%04o uid=%d gid=%d" % (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    if kind in ("reg", "lnk"):
        s += " size=%d nlink=%d" % (st.st_size, st.st_nlink)
    if kind in ("chr", "blk"):
        s += " rdev=%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
    if times:
        s += " mtime=%d" % st.st_mtime_ns
    return s


def op(name, fn, *args, **kw):
    try:
        r = fn(*args, **kw)
    except OSError as e:
        print("%s: %s" % (name, errno.errorcode.get(e.errno, str(e.errno))))
        return None
    if r is None:
        print("%s: ok" % name)
    elif isinstance(r, os.stat_result):
        print("%s: ok %s" % (name, fmt_stat(r)))
    else:
        print("%s: ok %s" % (name, show(r)))
    return r


def opened(path, flags, mode=0o644, data=None):
    """open, optionally write data, then fstat; returns the fstat line"""
    fd = os.open(path, flags, mode)
    try:
        if data is not None:
            os.write(fd, data)
        return fmt_stat(os.fstat(fd))
    finally:
        os.close(fd)


def read(path, flags=os.O_RDONLY):
    fd = os.open(path, flags)
    try:
        return repr(os.read(fd, 1 << 16))
    finally:
        os.close(fd)


def realpath(p):
    ctypes.set_errno(0)
    r = libc.realpath(p.encode(), None)
    if r is None:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r.decode()


def listing(d):
    return " ".join(sorted(os.listdir(d)))


def chdir_cwd(d):
    os.chdir(d)
    return os.getcwd()


def main():
    global ROOT
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    os.umask(0o022)
    os.makedirs(sys.argv[1], exist_ok=True)
    os.chdir(sys.argv[1])
    ROOT = os.getcwd()
    W, C, X, T, A = os.O_WRONLY, os.O_CREAT, os.O_EXCL, os.O_TRUNC, os.O_APPEND
    op("open creat excl", opened, "f", W | C | X, 0o644, b"hello")
    op("open creat excl existing", opened, "f", W | C | X)
    op("open trunc", opened, "f", W | T, 0o644, b"abc")
    op("open append", opened, "f", W | A, 0o644, b"def")
    op("read back", read, "f")
    op("open rdwr creat existing keeps", opened, "f", os.O_RDWR | C, 0o600)
    op("open directory flag on file", opened, "f", os.O_RDONLY | os.O_DIRECTORY)
    op("open missing", opened, "nope", os.O_RDONLY)
    op("open creat in missing dir", opened, "nope/x", W | C)
    op("open creat under a file", opened, "f/x", W | C)
    op("mkdir d", os.mkdir, "d", 0o755)
    op("open dir O_DIRECTORY", opened, "d", os.O_RDONLY | os.O_DIRECTORY)
    op("open dir for writing", opened, "d", W)
    op("open dir creat", opened, "d", W | C)
    op("symlink l -> f", os.symlink, "f", "l")
    op("open symlink O_NOFOLLOW", opened, "l", os.O_RDONLY | os.O_NOFOLLOW)
    op("open symlink follows", read, "l")
    op("open creat excl on symlink", opened, "l", W | C | X)
    op("symlink dangling -> newtarget", os.symlink, "newtarget", "dang")
    op("open creat through dangling symlink", opened, "dang", W | C, 0o644, b"via")
    op("stat newtarget", os.stat, "newtarget")
    op("stat l", os.stat, "l")
    op("lstat l", os.lstat, "l")
    op("stat f", os.stat, "f")
    op("stat missing", os.stat, "nope")
    op("stat under a file", os.stat, "f/x")
    op("stat trailing slash on file", os.stat, "f/")
    op("stat d", os.stat, "d")
    dfd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    op("fstatat f", lambda: os.stat("f", dir_fd=dfd))
    op("fstatat l nofollow", lambda: os.stat("l", dir_fd=dfd, follow_symlinks=False))
    op("openat creat", lambda: opened("at", W | C))
    os.close(dfd)
    op("access f rw", os.access, "f", os.R_OK | os.W_OK)
    op("access f x", os.access, "f", os.X_OK)
    op("access missing", lambda: None if os.access("nope", os.F_OK) else (_ for _ in ()).throw(
        OSError(errno.ENOENT, "")))
    op("readlink l", os.readlink, "l")
    op("readlink f", os.readlink, "f")
    op("readlink missing", os.readlink, "nope")
    op("mkdir existing", os.mkdir, "d")
    op("mkdir over file", os.mkdir, "f")
    op("mkdir in missing", os.mkdir, "nope/x")
    op("mkdir under file", os.mkdir, "f/x")
    op("mkdir d/inner", os.mkdir, "d/inner")
    op("rmdir non-empty", os.rmdir, "d")
    op("rmdir file", os.rmdir, "f")
    op("rmdir missing", os.rmdir, "nope")
    op("rmdir dot", os.rmdir, "d/inner/.")
    op("unlink dir", os.unlink, "d")
    op("unlink missing", os.unlink, "nope")
    op("write g", opened, "g", W | C, 0o644, b"gee")
    op("rename file to new", os.rename, "g", "g2")
    op("rename file over file", os.rename, "g2", "f")
    op("read f after rename", read, "f")
    op("stat g2 gone", os.stat, "g2")
    op("mkdir e", os.mkdir, "e")
    op("rename file over dir", os.rename, "f", "e")
    op("rename dir over file", os.rename, "e", "f")
    op("rename dir over empty dir", os.rename, "e", "d/inner")
    op("mkdir e2", os.mkdir, "e2")
    op("rename dir over non-empty dir", os.rename, "e2", "d")
    op("rename dir into itself", os.rename, "d", "d/inner/sub")
    op("rename missing", os.rename, "nope", "x")
    op("rename onto itself", os.rename, "f", "f")
    op("listing d", listing, "d")
    op("link f h", os.link, "f", "h")
    op("stat f nlink 2", os.stat, "f")
    op("link existing", os.link, "f", "h")
    op("link dir", os.link, "d", "dl")
    op("link missing", os.link, "nope", "x")
    op("unlink h", os.unlink, "h")
    op("stat f nlink 1", os.stat, "f")
    op("symlink existing", os.symlink, "x", "l")
    op("truncate shrink", os.truncate, "f", 2)
    op("stat after shrink", os.stat, "f")
    op("truncate grow", os.truncate, "f", 10000)
    op("stat after grow", os.stat, "f")
    op("truncate dir", os.truncate, "d", 0)
    op("truncate missing", os.truncate, "nope", 0)
    op("chmod 600", os.chmod, "f", 0o600)
    op("stat after chmod", os.stat, "f")
    op("chmod through symlink", os.chmod, "l", 0o640)
    op("stat f after chmod via l", os.stat, "f")
    op("chmod missing", os.chmod, "nope", 0o600)
    op("utimensat", os.utime, "f", ns=(1000000000123456789, 1100000000987654321))
    op("stat after utimensat", lambda: fmt_stat(os.stat("f"), times=True))
    op("utimensat missing", os.utime, "nope", ns=(1, 1))
    op("mkfifo p", os.mkfifo, "p", 0o644)
    op("lstat p", os.lstat, "p")
    op("open fifo nonblock", opened, "p", os.O_RDONLY | os.O_NONBLOCK)
    op("mknod regular", os.mknod, "nreg", 0o644 | stat.S_IFREG)
    op("lstat nreg", os.lstat, "nreg")
    op("mknod fifo", os.mknod, "nfifo", 0o600 | stat.S_IFIFO)
    op("lstat nfifo", os.lstat, "nfifo")
    op("mknod chr 1,3", os.mknod, "nchr", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    op("lstat nchr", os.lstat, "nchr")
    op("mknod existing", os.mknod, "f", 0o644 | stat.S_IFREG)
    op("unlink p", os.unlink, "p")
    op("listing .", listing, ".")
    op("chdir d", chdir_cwd, "d")
    op("stat .. from d", os.stat, "../f")
    op("chdir ..", chdir_cwd, "..")
    op("chdir file", chdir_cwd, "f")
    op("chdir missing", chdir_cwd, "nope")
    op("realpath l", realpath, "l")
    op("realpath d/inner/..", realpath, "d/inner/..")
    op("realpath missing", realpath, "nope")
    op("name too long open", opened, "n" * 256, W | C)
    op("name too long stat", os.stat, "n" * 256)
    op("name too long mkdir", os.mkdir, "n" * 256)
    op("name 255 bytes", opened, "m" * 255, W | C)
    op("path too long", os.stat, "d/" * 2100 + "x")
    op("symlink loop1 -> loop2", os.symlink, "loop2", "loop1")
    op("symlink loop2 -> loop1", os.symlink, "loop1", "loop2")
    op("open loop", opened, "loop1", os.O_RDONLY)
    op("stat loop", os.stat, "loop1")
    op("lstat loop", os.lstat, "loop1")
    op("open creat loop", opened, "loop1", W | C)
    op("stat through file as dir", os.stat, "f/.")
    op("opendir file", os.listdir, "f")
    op("opendir missing", os.listdir, "nope")
    op("remove everything", lambda: [os.unlink(n) for n in os.listdir(".")
                                     if not stat.S_ISDIR(os.lstat(n).st_mode)] and None)
    op("listing at end", listing, ".")
    return 0


if __name__ == "__main__":
    sys.exit(main())
