/*
 * spec/sud_buffer.c - the output an epoch holds back, and what the
 * handler knows about the program's fds during the epoch.
 *
 * The output buffer is one mmap'd region (MAP_NORESERVE, never malloc: the
 * handler may run inside malloc), a sequence of chunks in call order, each
 * naming a duplicate (F_DUPFD_CLOEXEC, high numbers) of the program's fd
 * taken at its first buffered write in the epoch: the duplicate keeps the
 * open file description (offset, pipe end) alive if the program closes or
 * reuses the number, and a pipe reader sees EOF only after commit. Regular
 * files outside the mirror are written at commit through the shared
 * offset; until then anything that could observe such a file (read, lseek,
 * fstat, mmap, stat/open by path, ...) is a barrier (spec/sud_rules.c asks
 * sud_dirty_has()).
 *
 * The fd cache (sud_fd_get) remembers each fd's type for the current
 * epoch generation, so that a stream of writes costs one fstat per fd.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "client/spec/sud_internal.h"

#define SUD_MAX_DUPS 256    /* fds with buffered output per epoch */
#define SUD_MAX_DIRTY 64    /* regular files with buffered output per epoch */
#define SUD_MAX_RW 0x7ffff000L /* the kernel's MAX_RW_COUNT */
#define SUD_IOV_MAX 1024

/* A buffered call; its data follows, the next chunk is 8-aligned. */
struct sud_chunk {
	uint32_t len;
	int32_t fd; /* our duplicate */
	uint8_t kind;
	uint8_t merge; /* may be gathered with same-fd neighbours (not sockets) */
	uint16_t pad;
	int32_t flags; /* send flags */
	int64_t off;   /* pwrite offset */
};

/* ------------------------------------------------------------ the buffer */

/* Under sud_lock: */
static char *sud_arena;
static size_t sud_arena_max;
static size_t sud_used;       /* bytes of arena in use (chunks) */
static size_t sud_data_bytes; /* output bytes waiting */
static struct sud_fd sud_fds[SUD_FD_MAX];
static int sud_dups[SUD_MAX_DUPS];
static int sud_ndups;
static struct sud_file_id sud_dirty[SUD_MAX_DIRTY];
static int sud_ndirty;

/* Reserve the arena (at init; never malloc). 0 or -errno. */
int
sud_buf_init(size_t max)
{
	void *p = (void *)SYS6(SYS_mmap, 0, max, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if ((unsigned long)p > -4096UL)
		return (int)(long)p;
	sud_arena = p;
	sud_arena_max = max;
	return 0;
}

size_t
sud_buf_bytes(void)
{
	return __atomic_load_n(&sud_data_bytes, __ATOMIC_SEQ_CST);
}

static size_t
sud_chunk_size(size_t len)
{
	return (sizeof(struct sud_chunk) + len + 7) & ~(size_t)7;
}

/* 1 if one of our duplicates is in [lo, hi]. */
int
sud_dup_in_range(long lo, long hi)
{
	int i, r = 0;

	if (sud_load(&sud_ndups) == 0)
		return 0;
	sud_lock();
	for (i = 0; i < sud_ndups; i++)
		if (sud_dups[i] >= lo && sud_dups[i] <= hi)
			r = 1;
	sud_unlock();
	return r;
}

static int
sud_dirty_find_locked(uint64_t dev, uint64_t ino)
{
	return sud_file_in(sud_dirty, sud_ndirty, dev, ino);
}

/* 1 if some regular file has buffered output (no lock: a hint). */
int
sud_dirty_any(void)
{
	return sud_load(&sud_ndirty) != 0;
}

int
sud_dirty_has(uint64_t dev, uint64_t ino)
{
	int r;

	if (!sud_dirty_any())
		return 0;
	sud_lock();
	r = sud_dirty_find_locked(dev, ino);
	sud_unlock();
	return r;
}

/* Forget buffered output and the epoch's fd state (under sud_lock). */
void
sud_reset_locked(void)
{
	int i;

	for (i = 0; i < sud_ndups; i++)
		SYS1(SYS_close, sud_dups[i]);
	__atomic_store_n(&sud_ndups, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&sud_ndirty, 0, __ATOMIC_SEQ_CST);
	sud_used = 0;
	__atomic_store_n(&sud_data_bytes, 0, __ATOMIC_SEQ_CST);
}

/* Write iov[0..n) to fd completely (EINTR retried, EAGAIN waited for). */
static long
sud_write_all(int fd, struct iovec *iov, int n, int kind, int64_t off, int flags)
{
	long r;
	struct pollfd p;

	while (n > 0) {
		if (iov->iov_len == 0) {
			iov++;
			n--;
			continue;
		}
		if (kind == CK_PWRITE)
			r = SYS4(SYS_pwrite64, fd, iov->iov_base, iov->iov_len, off);
		else if (kind == CK_SEND)
			r = SYS6(SYS_sendto, fd, iov->iov_base, iov->iov_len, flags, 0, 0);
		else
			r = SYS3(SYS_writev, fd, iov, n);
		if (r == -EINTR)
			continue;
		if (r == -EAGAIN) {
			p.fd = fd;
			p.events = POLLOUT;
			p.revents = 0;
			SYS3(SYS_poll, &p, 1, -1);
			continue;
		}
		if (r < 0)
			return r;
		if (r == 0)
			return -EIO;
		off += r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (long)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/* Write out every chunk in order (under sud_lock). First -errno or 0. */
int
sud_flush_locked(void)
{
	struct iovec iov[SUD_IOV_BATCH];
	size_t off = 0, o;
	long r;
	int err = 0, n;

	while (off < sud_used) {
		struct sud_chunk *c = (struct sud_chunk *)(sud_arena + off);

		n = 0;
		o = off;
		do {
			struct sud_chunk *d = (struct sud_chunk *)(sud_arena + o);

			if (n > 0 && !(c->merge && d->merge && d->kind == CK_WRITE &&
				       d->fd == c->fd))
				break;
			iov[n].iov_base = d + 1;
			iov[n].iov_len = d->len;
			n++;
			o += sud_chunk_size(d->len);
		} while (c->merge && o < sud_used && n < SUD_IOV_BATCH);
		r = sud_write_all(c->fd, iov, n, c->kind, c->off, c->flags);
		if (r < 0 && err == 0)
			err = (int)r;
		off = o;
	}
	return err;
}

/* ------------------------------------------------------------ the fd cache */

int
sud_nulldev(uint64_t rdev)
{
	/* /dev/null, zero, full, random, urandom: no one sees these bytes */
	if (major(rdev) != 1)
		return 0;
	switch (minor(rdev)) {
	case 3:
	case 5:
	case 7:
	case 8:
	case 9:
		return 1;
	}
	return 0;
}

/* An anon inode (eventfd, timerfd, signalfd, epoll, pidfd ...): no type
 * bits on this kernel; older/newer ones may use S_IFREG on anon_inodefs. */
int
sud_anon(const struct sud_fd *f)
{
	return (f->mode & S_IFMT) == 0 || (sud_have_anon_dev && f->dev == sud_anon_dev);
}

long
sud_fd_get(int fd, struct sud_fd *out)
{
	struct stat st;
	uint32_t gen = __atomic_load_n(&sud_gen, __ATOMIC_SEQ_CST);
	long r, fl;

	if (fd >= 0 && fd < SUD_FD_MAX) {
		sud_lock();
		if (sud_fds[fd].gen == gen) {
			*out = sud_fds[fd];
			sud_unlock();
			return 0;
		}
		sud_unlock();
	}
	r = SYS2(SYS_fstat, fd, &st);
	if (r < 0)
		return r;
	fl = SYS2(SYS_fcntl, fd, F_GETFL);
	if (fl < 0)
		return fl;
	memset(out, 0, sizeof(*out));
	out->gen = gen;
	out->mode = st.st_mode;
	out->dev = st.st_dev;
	out->ino = st.st_ino;
	out->rdev = st.st_rdev;
	out->flags = (int)fl;
	out->dupfd = -1;
	out->mirror = -1;
	if (fd >= 0 && fd < SUD_FD_MAX) {
		sud_lock();
		if (sud_fds[fd].gen != gen && __atomic_load_n(&sud_gen, __ATOMIC_SEQ_CST) == gen)
			sud_fds[fd] = *out;
		else if (sud_fds[fd].gen == gen)
			*out = sud_fds[fd];
		sud_unlock();
	}
	return 0;
}

int
sud_fd_mirror(int fd, struct sud_fd *f)
{
	if (f->mirror < 0) {
		f->mirror = (signed char)(sud_ops.is_mirror_fd != NULL &&
					  sud_ops.is_mirror_fd(sud_ops.ctx, fd) > 0);
		if (fd >= 0 && fd < SUD_FD_MAX) {
			sud_lock();
			if (sud_fds[fd].gen == f->gen)
				sud_fds[fd].mirror = f->mirror;
			sud_unlock();
		}
	}
	return f->mirror;
}

void
sud_fd_forget(long first, long last)
{
	long i;

	if (first < 0)
		return;
	if (last >= SUD_FD_MAX)
		last = SUD_FD_MAX - 1;
	sud_lock();
	for (i = first; i <= last; i++)
		sud_fds[i].gen = 0;
	sud_unlock();
}

/* Total length of the program's iovec array; -errno as writev would. */
static long
sud_iov_total(const struct iovec *uiov, long cnt, size_t *total)
{
	struct iovec tmp[SUD_IOV_BATCH];
	size_t sum = 0;
	long i, j, n, r;

	if (cnt < 0 || cnt > SUD_IOV_MAX)
		return -EINVAL;
	for (i = 0; i < cnt; i += n) {
		n = cnt - i < SUD_IOV_BATCH ? cnt - i : SUD_IOV_BATCH;
		r = sud_peek(tmp, uiov + i, (size_t)n * sizeof(tmp[0]));
		if (r < 0)
			return r;
		for (j = 0; j < n; j++) {
			if ((ssize_t)tmp[j].iov_len < 0 || sum + tmp[j].iov_len > (size_t)SSIZE_MAX)
				return -EINVAL;
			sum += tmp[j].iov_len;
		}
	}
	*total = sum;
	return 0;
}

/* Copy up to len bytes of the call's data to dst; bytes copied or -EFAULT. */
static long
sud_copy_in(char *dst, size_t len, const struct sud_src *src)
{
	struct iovec l = { dst, len }, r;
	long got, i;
	size_t done = 0, n;

	if (!sud_no_pvm) {
		if (src->uiov != NULL) {
			got = SYS6(SYS_process_vm_readv, sud_pid, &l, 1, src->uiov, src->cnt, 0);
		} else {
			r.iov_base = (void *)src->buf;
			r.iov_len = len;
			got = SYS6(SYS_process_vm_readv, sud_pid, &l, 1, &r, 1, 0);
		}
		if (got == 0 && len > 0)
			return -EFAULT;
		return got;
	}
	if (src->uiov == NULL) {
		memcpy(dst, src->buf, len);
		return (long)len;
	}
	for (i = 0; i < src->cnt && done < len; i++) {
		n = src->uiov[i].iov_len;
		if (n > len - done)
			n = len - done;
		memcpy(dst + done, src->uiov[i].iov_base, n);
		done += n;
	}
	return (long)done;
}

static int
sud_peer_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT, .revents = 0 };

	return SYS3(SYS_poll, &p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP));
}

/*
 * An output call: buffer it, or decide it is local (no one else sees it,
 * or it fails natively without effect) or a barrier.
 */
int
sud_output(struct sud_trap *t, int fd, const struct sud_src *src, int kind, int64_t off,
	   int flags)
{
	struct sud_fd f;
	struct sud_fd *e;
	struct sud_chunk *c;
	size_t total, need;
	long r, got;
	int regular = 0, type, dup;

	if (sud_fd_get(fd, &f) < 0)
		return A_LOCAL;
	type = (int)(f.mode & S_IFMT);
	if (kind == CK_SEND && type != S_IFSOCK)
		return A_LOCAL; /* ENOTSOCK */
	if ((f.flags & O_PATH) || (f.flags & O_ACCMODE) == O_RDONLY)
		return A_LOCAL; /* EBADF */
	if (sud_anon(&f))
		return A_BARRIER; /* eventfd and friends: a signal to someone */
	switch (type) {
	case S_IFDIR:
		return A_LOCAL; /* EISDIR / EBADF */
	case S_IFCHR:
		if (sud_nulldev(f.rdev))
			return A_LOCAL;
		break;
	case S_IFREG:
		if (sud_fd_mirror(fd, &f) || sud_created_through(f.dev, f.ino))
			return A_LOCAL;
		switch (sud_tmp_through(fd, &f, kind, off)) {
		case 1:
			return A_LOCAL;
		case -1:
			return A_BARRIER;
		}
		regular = 1;
		break;
	case S_IFIFO:
		if (sud_pipe_through(f.dev, f.ino))
			return A_LOCAL;
		/* fall through */
	case S_IFSOCK:
		/* no reader left (or a reset connection): natively this write
		 * fails with EPIPE, and `prog | head` relies on it. Commit first,
		 * then let the program's write meet the error itself. */
		if (sud_peer_gone(fd))
			return A_BARRIER;
		break;
	default:
		return A_BARRIER;
	}
	if (kind == CK_PWRITE && (!regular || off < 0))
		return A_LOCAL; /* ESPIPE / EINVAL */
	if (src->uiov != NULL) {
		r = sud_iov_total(src->uiov, src->cnt, &total);
		if (r < 0)
			return A_LOCAL; /* the kernel says the same */
	} else {
		total = src->len;
	}
	if (total == 0)
		return A_LOCAL;
	if (total > (size_t)SUD_MAX_RW)
		total = (size_t)SUD_MAX_RW;
	if (fd < 0 || fd >= SUD_FD_MAX)
		return A_BARRIER;
	need = sud_chunk_size(total);
	if (need > sud_arena_max)
		return A_BARRIER;

	sud_lock();
	if (!sud_same_epoch(t)) {
		sud_unlock();
		return A_RESTART;
	}
	if (sud_used + need > sud_arena_max) {
		sud_unlock();
		return A_BARRIER; /* full: commit early */
	}
	e = &sud_fds[fd];
	if (e->gen != t->gen) {
		*e = f;
		e->gen = t->gen;
	}
	if (e->dupfd < 0) {
		if (sud_ndups >= SUD_MAX_DUPS)
			goto barrier;
		dup = (int)SYS3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, SPEC_SUD_DUP_MIN);
		if (dup == -EINVAL || dup == -EMFILE)
			dup = (int)SYS3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 10);
		if (dup < 0)
			goto barrier;
		sud_dups[sud_ndups] = dup;
		__atomic_store_n(&sud_ndups, sud_ndups + 1, __ATOMIC_SEQ_CST);
		e->dupfd = dup;
	}
	if (regular && !sud_dirty_find_locked(f.dev, f.ino)) {
		if (sud_ndirty >= SUD_MAX_DIRTY)
			goto barrier;
		sud_dirty[sud_ndirty].dev = f.dev;
		sud_dirty[sud_ndirty].ino = f.ino;
		__atomic_store_n(&sud_ndirty, sud_ndirty + 1, __ATOMIC_SEQ_CST);
	}
	c = (struct sud_chunk *)(sud_arena + sud_used);
	got = sud_copy_in((char *)(c + 1), total, src);
	if (got < 0) {
		sud_unlock();
		t->ret = got;
		return A_DONE;
	}
	c->len = (uint32_t)got;
	c->fd = e->dupfd;
	c->kind = (uint8_t)kind;
	c->merge = kind == CK_WRITE && type != S_IFSOCK;
	c->pad = 0;
	c->flags = flags;
	c->off = off;
	sud_used += sud_chunk_size((size_t)got);
	__atomic_store_n(&sud_data_bytes, sud_data_bytes + (size_t)got, __ATOMIC_SEQ_CST);
	sud_unlock();
	STAT_ADD(buffered_bytes, (uint64_t)got);
	t->ret = got;
	return A_DONE;
barrier:
	sud_unlock();
	return A_BARRIER;
}

