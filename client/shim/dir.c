/*
 * shim/dir.c: reading directories on NFS paths -- opendir, fdopendir,
 * readdir, scandir, glob, nftw/ftw and fts.
 *
 * A directory on NFS is read from its mirror directory, after the daemon
 * has made the mirror's listing complete and valid (READDIR). Two things
 * then differ from the NFS view, and this file hides both:
 * - entries whose content is not fetched are stubs, dangling symlinks to
 *   /proc/specnfs-unfetched/<kind>: readdir on a mirror DIR reports the
 *   kind as d_type (a stub of a regular file is DT_REG, not DT_LNK);
 * - stat data: the walkers (nftw, fts, glob's GLOB_MARK/ONLYDIR checks)
 *   give the NFS attributes from the daemon, never the mirror's.
 *
 * glibc's scandir, glob, nftw/ftw and fts call its internal opendir,
 * readdir and stat, which no preload library sees. For NFS paths they are
 * therefore done here on top of the wrapped calls: scandir and nftw/ftw/fts
 * are our own walks (same visiting order, typeflags, FTW/FTSENT fields as
 * glibc 2.36), glob is glibc's own run with GLOB_ALTDIRFUNC and callbacks
 * that go through the shim. Other paths pass straight through.
 *
 * Symbolic links are resolved here, one hop at a time (READLINK), so that
 * an absolute link target means the client's namespace as the kernel would
 * have it, and a link to a directory can be walked into.
 *
 * Known limit: d_ino in a mirror listing is the mirror's inode number, not
 * the NFS fileid that stat reports (the mirror cannot carry it, and a STAT
 * per entry would cost a daemon call per name).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <ftw.h>
#include <glob.h>
#include <pthread.h>
#include <search.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/shim/internal.h"

#define STUB_PREFIX "/proc/specnfs-unfetched/"
#define STUB_PREFIX_LEN (sizeof(STUB_PREFIX) - 1)
#define MAX_LINK_HOPS 40

_Static_assert(sizeof(struct dirent) == sizeof(struct dirent64), "dirent64 layout");
_Static_assert(sizeof(struct stat) == sizeof(struct stat64), "stat64 layout");

/* ------------------------------------------------------------ mirror DIRs */

/*
 * The DIR streams open on mirror directories, with the NFS path each one
 * lists. readdir looks a DIR up only for a DT_LNK entry while at least one
 * is registered: other streams pay nothing.
 */
struct mdir {
	DIR *dir;
	struct mdir *next;
	char nfs[];
};

#define MDIR_BUCKETS 64
static struct mdir *mdir_tab[MDIR_BUCKETS];
static int mdir_count;
static pthread_mutex_t mdir_lock = PTHREAD_MUTEX_INITIALIZER;

/* The fts streams made here (see fts below), told from glibc's. */
struct fts_mine {
	FTS *sp;
	struct fts_mine *next;
};
static struct fts_mine *fts_list;
static int fts_count;
static pthread_mutex_t fts_lock = PTHREAD_MUTEX_INITIALIZER;

/* A fork while another thread holds a table lock must not leave the child
 * with it locked. */
static void
dir_atfork_prepare(void)
{
	pthread_mutex_lock(&mdir_lock);
	pthread_mutex_lock(&fts_lock);
}

static void
dir_atfork_release(void)
{
	pthread_mutex_unlock(&fts_lock);
	pthread_mutex_unlock(&mdir_lock);
}

__attribute__((constructor)) static void
dir_ctor(void)
{
	pthread_atfork(dir_atfork_prepare, dir_atfork_release, dir_atfork_release);
}

static size_t
mdir_hash(const DIR *d)
{
	return ((uintptr_t)d >> 4) % MDIR_BUCKETS;
}

/* A table node for a stream on nfs, allocated before the stream is opened
 * so that registering it cannot fail once the stream exists. */
static struct mdir *
mdir_new(const char *nfs)
{
	size_t n = strlen(nfs) + 1;
	struct mdir *m = malloc(sizeof(*m) + n);

	if (m != NULL)
		memcpy(m->nfs, nfs, n);
	return m;
}

static void
mdir_insert(struct mdir *m, DIR *d)
{
	m->dir = d;
	pthread_mutex_lock(&mdir_lock);
	m->next = mdir_tab[mdir_hash(d)];
	mdir_tab[mdir_hash(d)] = m;
	__atomic_add_fetch(&mdir_count, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&mdir_lock);
}

static void
mdir_del(DIR *d)
{
	struct mdir **pp, *m = NULL;

	pthread_mutex_lock(&mdir_lock);
	for (pp = &mdir_tab[mdir_hash(d)]; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->dir == d) {
			m = *pp;
			*pp = m->next;
			__atomic_sub_fetch(&mdir_count, 1, __ATOMIC_RELEASE);
			break;
		}
	}
	pthread_mutex_unlock(&mdir_lock);
	free(m);
}

/* 1 and the NFS path (if nfs != NULL) when d lists a mirror directory. */
static int
mdir_find(DIR *d, char *nfs, size_t len)
{
	struct mdir *m;
	int found = 0;

	if (__atomic_load_n(&mdir_count, __ATOMIC_ACQUIRE) == 0)
		return 0;
	pthread_mutex_lock(&mdir_lock);
	for (m = mdir_tab[mdir_hash(d)]; m != NULL; m = m->next) {
		if (m->dir == d) {
			found = 1;
			if (nfs != NULL)
				snprintf(nfs, len, "%s", m->nfs);
			break;
		}
	}
	pthread_mutex_unlock(&mdir_lock);
	return found;
}

/* ------------------------------------------------------------ stubs */

/* The d_type of a DT_LNK entry of a mirror directory: the stub's kind. */
static unsigned char
stub_type(int dfd, const char *name)
{
	static const struct {
		const char *kind;
		unsigned char type;
	} kinds[] = {
		{ "reg", DT_REG },   { "lnk", DT_LNK },   { "chr", DT_CHR },	 { "blk", DT_BLK },
		{ "fifo", DT_FIFO }, { "sock", DT_SOCK }, { "unknown", DT_UNKNOWN },
	};
	char buf[64];
	ssize_t n;
	size_t i;
	int saved = errno;

	n = REAL(readlinkat)(dfd, name, buf, sizeof(buf) - 1);
	errno = saved;
	if (n < (ssize_t)STUB_PREFIX_LEN || memcmp(buf, STUB_PREFIX, STUB_PREFIX_LEN) != 0)
		return DT_LNK;
	buf[n] = '\0';
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(buf + STUB_PREFIX_LEN, kinds[i].kind) == 0)
			return kinds[i].type;
	return DT_UNKNOWN;
}

/* ------------------------------------------------------------ locations */

/* Where a name really is: on NFS (an NFS path for the daemon), or local. */
struct where {
	int nfs;
	char path[PATH_MAX];
};

/*
 * Classify (dirfd, path). A relative path that leaves the NFS tree from a
 * cwd (or dirfd) in the mirror becomes the absolute local path it means:
 * the kernel would resolve it from the mirror directory instead.
 */
static int
locate(int dirfd, const char *path, struct where *w)
{
	int rc;

	w->path[0] = '\0';
	rc = spn_nfs_path(dirfd, path, w->path, sizeof(w->path));
	if (rc < 0)
		return rc;
	w->nfs = rc;
	if (rc == 0 && spn_local_path(path, w->path, sizeof(w->path)))
		return 0;
	if (rc == 0 && (path[0] == '/' || w->path[0] != '/')) {
		size_t n = strlen(path);

		if (n >= sizeof(w->path))
			return -ENAMETOOLONG;
		memcpy(w->path, path, n + 1);
	}
	return 0;
}

/* dir + "/" + name into out. */
static int
join(const char *dir, const char *name, char *out, size_t len)
{
	size_t dl = strlen(dir);
	int n;

	if (dl > 0 && dir[dl - 1] == '/')
		n = snprintf(out, len, "%s%s", dir, name);
	else
		n = snprintf(out, len, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* READDIR: the listing of nfs is complete and valid in the mirror; the
 * mirror directory's path into mirror. */
static int
listing(const char *nfs, char *mirror, size_t len)
{
	struct spn_reply rep;
	int rc = spn_call_path(SPN_OP_READDIR, nfs, 0, 0, &rep);

	if (rc < 0)
		return rc;
	if (strlen(rep.path) >= len)
		return -ENAMETOOLONG;
	memcpy(mirror, rep.path, strlen(rep.path) + 1);
	return 0;
}

/* lstat of the object at w, NFS attributes for NFS names. */
static int
where_lstat(const struct where *w, struct stat *st)
{
	struct spn_reply rep;
	int rc;

	if (!w->nfs)
		return REAL(fstatat)(AT_FDCWD, w->path, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	rc = spn_call_path(SPN_OP_STAT, w->path, SPN_F_NOFOLLOW, 0, &rep);
	if (spn_take_redirect(rc, rep.path, sizeof(rep.path)))
		return REAL(fstatat)(AT_FDCWD, rep.path, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	if (rc < 0)
		return rc;
	spn_attr_to_stat(&rep.attr, st);
	return 0;
}

/* w is a symbolic link: replace it by its target's location. */
static int
follow_link(struct where *w)
{
	char target[PATH_MAX], joined[PATH_MAX * 2];
	char *slash;
	ssize_t n;
	int rc;

	if (w->nfs) {
		struct spn_reply rep;

		rc = spn_call_path(SPN_OP_READLINK, w->path, 0, 0, &rep);
		if (spn_take_redirect(rc, target, sizeof(target))) {
			/* The link itself lies off NFS: follow it there. */
			w->nfs = 0;
			snprintf(w->path, sizeof(w->path), "%s", target);
			return follow_link(w);
		}
		if (rc < 0)
			return rc;
		if (strlen(rep.path) >= sizeof(target))
			return -ENAMETOOLONG;
		memcpy(target, rep.path, strlen(rep.path) + 1);
	} else {
		n = REAL(readlinkat)(AT_FDCWD, w->path, target, sizeof(target) - 1);
		if (n < 0)
			return -errno;
		target[n] = '\0';
	}
	if (target[0] == '/') {
		snprintf(joined, sizeof(joined), "%s", target);
	} else {
		slash = strrchr(w->path, '/');
		if (slash == NULL)
			snprintf(joined, sizeof(joined), "%s", target);
		else
			snprintf(joined, sizeof(joined), "%.*s/%s", (int)(slash - w->path), w->path,
				 target);
	}
	if (strlen(joined) >= PATH_MAX)
		return -ENAMETOOLONG;
	return locate(AT_FDCWD, joined, w);
}

/* stat (follow) or lstat of w; with follow, w becomes the final target. */
static int
where_stat(struct where *w, struct stat *st, int follow)
{
	int hops, rc;

	for (hops = 0;; hops++) {
		rc = where_lstat(w, st);
		if (rc < 0 || !follow || !S_ISLNK(st->st_mode))
			return rc;
		if (hops == MAX_LINK_HOPS)
			return -ELOOP;
		rc = follow_link(w);
		if (rc < 0)
			return rc;
	}
}

/*
 * stat() of (dirfd, path) through symlinks resolved in the client's
 * namespace (an absolute target means this machine's path, which may be
 * off NFS): shared with shim/stat.c. 0 or -errno.
 */
int
spn_stat_follow(int dirfd, const char *path, struct stat *st)
{
	struct where w;
	int rc = locate(dirfd, path, &w);

	return rc < 0 ? rc : where_stat(&w, st, 1);
}

/* stat/lstat for a path from the program: NFS attributes for NFS names. */
static int
path_stat(const char *path, struct stat *st, int follow)
{
	struct where w;
	int rc;

	if (path == NULL || path[0] == '\0') {
		errno = ENOENT;
		return -1;
	}
	rc = locate(AT_FDCWD, path, &w);
	if (rc == 0)
		rc = where_stat(&w, st, follow);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}

/*
 * Open a directory stream on w: the mirror directory (listing made valid
 * first) for an NFS name, the directory itself for a local one. A symbolic
 * link to a directory is followed. Returns the stream with *at the final
 * location and cd the directory the stream reads (mirror or local path),
 * or NULL with errno.
 */
static DIR *
open_where(const struct where *w, struct where *at, char *cd, size_t cdlen)
{
	struct stat st;
	int hops, rc;

	*at = *w;
	for (hops = 0;; hops++) {
		if (!at->nfs) {
			snprintf(cd, cdlen, "%s", at->path);
			return REAL(opendir)(at->path);
		}
		rc = listing(at->path, cd, cdlen);
		if (spn_take_redirect(rc, cd, cdlen)) {
			at->nfs = 0;
			snprintf(at->path, sizeof(at->path), "%s", cd);
			continue;
		}
		if (rc == -ENOTDIR && hops < MAX_LINK_HOPS && where_lstat(at, &st) == 0 &&
		    S_ISLNK(st.st_mode)) {
			rc = follow_link(at);
			if (rc == 0)
				continue;
		}
		if (rc < 0) {
			errno = -rc;
			return NULL;
		}
		{
			/* A caller that cannot open the daemon's mirror got
			 * the directory open from the daemon (shim/cred.c). */
			int pfd = spn_cred_take_fd(O_CLOEXEC);

			if (pfd >= 0) {
				DIR *d = REAL(fdopendir)(pfd);

				if (d == NULL)
					REAL(close)(pfd);
				return d;
			}
		}
		return REAL(opendir)(cd);
	}
}

/* opendir for a location: mirror streams are registered for readdir. */
static DIR *
dir_open(const struct where *w)
{
	char cd[PATH_MAX];
	struct where at;
	struct mdir *m;
	DIR *d;

	d = open_where(w, &at, cd, sizeof(cd));
	if (d == NULL || !at.nfs)
		return d;
	m = mdir_new(at.path);
	if (m == NULL) {
		REAL(closedir)(d);
		errno = ENOMEM;
		return NULL;
	}
	mdir_insert(m, d);
	return d;
}

/* ------------------------------------------------------------ opendir, readdir */

/* opendir(path) through the shim, for our own callers (guard not checked). */
static DIR *
shim_opendir(const char *path)
{
	struct where w;
	int rc;

	if (path == NULL || path[0] == '\0')
		return REAL(opendir)(path);
	rc = locate(AT_FDCWD, path, &w);
	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	if (!w.nfs)
		return REAL(opendir)(w.path);
	return dir_open(&w);
}

SPN_EXPORT DIR *
opendir(const char *path)
{
	if (spn_shim_busy)
		return REAL(opendir)(path);
	return shim_opendir(path);
}

SPN_EXPORT DIR *
fdopendir(int fd)
{
	char nfs[PATH_MAX], mirror[PATH_MAX];
	struct stat st;
	struct mdir *m;
	DIR *d;
	int rc;

	/* Only a directory of the mirror can be an NFS directory. */
	if (spn_shim_busy || REAL(fstat)(fd, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    !spn_shim_maybe_mirror(&st) || spn_fd_nfs_path(fd, nfs, sizeof(nfs)) != 1)
		return REAL(fdopendir)(fd);
	/* The fd is a mirror directory: make its listing valid first. */
	rc = listing(nfs, mirror, sizeof(mirror));
	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	m = mdir_new(nfs);
	if (m == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	d = REAL(fdopendir)(fd);
	if (d == NULL) {
		int saved = errno;

		free(m);
		errno = saved;
		return NULL;
	}
	mdir_insert(m, d);
	return d;
}

/* readdir on any stream, with stub types fixed on mirror streams. */
static struct dirent *
dir_read(DIR *d)
{
	struct dirent *e = REAL(readdir)(d);

	if (e != NULL && e->d_type == DT_LNK && mdir_find(d, NULL, 0))
		e->d_type = stub_type(dirfd(d), e->d_name);
	return e;
}

static struct dirent64 *
dir_read64(DIR *d)
{
	struct dirent64 *e = REAL(readdir64)(d);

	if (e != NULL && e->d_type == DT_LNK && mdir_find(d, NULL, 0))
		e->d_type = stub_type(dirfd(d), e->d_name);
	return e;
}

/* closedir on any stream, forgetting mirror streams. */
static int
dir_close(DIR *d)
{
	if (__atomic_load_n(&mdir_count, __ATOMIC_ACQUIRE) > 0)
		mdir_del(d);
	return REAL(closedir)(d);
}

SPN_EXPORT int
closedir(DIR *d)
{
	return dir_close(d);
}

SPN_EXPORT struct dirent *
readdir(DIR *d)
{
	return spn_shim_busy ? REAL(readdir)(d) : dir_read(d);
}

SPN_EXPORT struct dirent64 *
readdir64(DIR *d)
{
	return spn_shim_busy ? REAL(readdir64)(d) : dir_read64(d);
}

SPN_EXPORT int
readdir_r(DIR *d, struct dirent *entry, struct dirent **result)
{
	int rc = REAL(readdir_r)(d, entry, result);

	if (rc == 0 && *result != NULL && (*result)->d_type == DT_LNK && !spn_shim_busy &&
	    mdir_find(d, NULL, 0))
		(*result)->d_type = stub_type(dirfd(d), (*result)->d_name);
	return rc;
}

SPN_EXPORT int
readdir64_r(DIR *d, struct dirent64 *entry, struct dirent64 **result)
{
	int rc = REAL(readdir64_r)(d, entry, result);

	if (rc == 0 && *result != NULL && (*result)->d_type == DT_LNK && !spn_shim_busy &&
	    mdir_find(d, NULL, 0))
		(*result)->d_type = stub_type(dirfd(d), (*result)->d_name);
	return rc;
}

/* rewinddir: the stream shows the directory as it is now (a new listing). */
SPN_EXPORT void
rewinddir(DIR *d)
{
	char nfs[PATH_MAX], mirror[PATH_MAX];
	int saved = errno;

	if (!spn_shim_busy && mdir_find(d, nfs, sizeof(nfs)))
		(void)listing(nfs, mirror, sizeof(mirror));
	errno = saved;
	REAL(rewinddir)(d);
}

/* ------------------------------------------------------------ scandir */

/* glibc's scandir tail on a stream that readdir (ours) reads. */
static int
scan_stream(DIR *d, struct dirent ***list, scan_filter_fn filter, scan_compar_fn compar)
{
	struct dirent **v = NULL, *e;
	size_t n = 0, cap = 0, i;
	int saved = errno;

	if (d == NULL)
		return -1;
	errno = 0;
	while ((e = dir_read(d)) != NULL) {
		struct dirent *copy;
		size_t size;

		if (filter != NULL) {
			int keep = filter(e);

			errno = 0;
			if (!keep)
				continue;
		}
		if (n == cap) {
			struct dirent **nv;

			cap = cap == 0 ? 10 : cap * 2;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL)
				break;
			v = nv;
		}
		size = offsetof(struct dirent, d_name) + strlen(e->d_name) + 1;
		if (size < e->d_reclen)
			size = e->d_reclen;
		copy = malloc(size);
		if (copy == NULL)
			break;
		v[n++] = memcpy(copy, e, size);
		errno = 0;
	}
	if (errno != 0) {
		int err = errno;

		for (i = 0; i < n; i++)
			free(v[i]);
		free(v);
		dir_close(d);
		errno = err;
		return -1;
	}
	dir_close(d);
	if (compar != NULL)
		qsort(v, n, sizeof(*v), (int (*)(const void *, const void *))compar);
	*list = v;
	errno = saved;
	return (int)n;
}

/* 1 and the result when (dfd, dir) is on NFS; 0 to pass through, with
 * w->path (if set) the path to give libc. */
static int
scan_at(int dfd, const char *dir, struct dirent ***list, scan_filter_fn filter,
	scan_compar_fn compar, int *result, struct where *w)
{
	int rc;

	if (spn_shim_busy || dir == NULL || dir[0] == '\0')
		return 0;
	rc = locate(dfd, dir, w);
	if (rc < 0) {
		errno = -rc;
		*result = -1;
		return 1;
	}
	if (!w->nfs)
		return 0;
	*result = scan_stream(dir_open(w), list, filter, compar);
	return 1;
}

SPN_EXPORT int
scandirat(int dfd, const char *dir, struct dirent ***list, scan_filter_fn filter,
	  scan_compar_fn compar)
{
	struct where w;
	int result;

	w.path[0] = '\0';
	if (scan_at(dfd, dir, list, filter, compar, &result, &w))
		return result;
	return REAL(scandirat)(dfd, w.path[0] != '\0' ? w.path : dir, list, filter, compar);
}

SPN_EXPORT int
scandir(const char *dir, struct dirent ***list, scan_filter_fn filter, scan_compar_fn compar)
{
	struct where w;
	int result;

	w.path[0] = '\0';
	if (scan_at(AT_FDCWD, dir, list, filter, compar, &result, &w))
		return result;
	return REAL(scandir)(w.path[0] != '\0' ? w.path : dir, list, filter, compar);
}

/* The 64 variants: on LP64 glibc, dirent64 is dirent. */
SPN_EXPORT int
scandirat64(int dfd, const char *dir, struct dirent64 ***list, scan_filter64_fn filter,
	    scan_compar64_fn compar)
{
	struct where w;
	int result;

	w.path[0] = '\0';
	if (scan_at(dfd, dir, (struct dirent ***)list, (scan_filter_fn)filter,
		    (scan_compar_fn)compar, &result, &w))
		return result;
	return REAL(scandirat64)(dfd, w.path[0] != '\0' ? w.path : dir, list, filter, compar);
}

SPN_EXPORT int
scandir64(const char *dir, struct dirent64 ***list, scan_filter64_fn filter,
	  scan_compar64_fn compar)
{
	struct where w;
	int result;

	w.path[0] = '\0';
	if (scan_at(AT_FDCWD, dir, (struct dirent ***)list, (scan_filter_fn)filter,
		    (scan_compar_fn)compar, &result, &w))
		return result;
	return REAL(scandir64)(w.path[0] != '\0' ? w.path : dir, list, filter, compar);
}

/* ------------------------------------------------------------ glob */

/*
 * glibc's glob with GLOB_ALTDIRFUNC, its directory and stat calls pointed
 * at the shim: it matches NFS names natively and returns the names it was
 * given (NFS paths), with NFS attributes behind GLOB_MARK and GLOB_ONLYDIR.
 */
static void *
glob_opendir(const char *path)
{
	return shim_opendir(path);
}

static struct dirent *
glob_readdir(void *d)
{
	return dir_read(d);
}

static struct dirent64 *
glob_readdir64(void *d)
{
	return dir_read64(d);
}

static void
glob_closedir(void *d)
{
	dir_close(d);
}

static int
glob_stat(const char *path, struct stat *st)
{
	return path_stat(path, st, 1);
}

static int
glob_lstat(const char *path, struct stat *st)
{
	return path_stat(path, st, 0);
}

static int
glob_stat64(const char *path, struct stat64 *st)
{
	return path_stat(path, (struct stat *)st, 1);
}

static int
glob_lstat64(const char *path, struct stat64 *st)
{
	return path_stat(path, (struct stat *)st, 0);
}

/*
 * Does the pattern need the shim? When the directory it starts reading
 * (the part before the first wildcard) is on NFS or leaves it relatively
 * from a mirror cwd, or lies above a mount point (a wildcard may match the
 * mount), or when braces or a tilde make the directory unknown here.
 */
static int
glob_needs_shim(const char *pattern, int flags)
{
	const struct spn_policy *pol;
	char dir[PATH_MAX];
	struct where w;
	size_t i, n, o = 0, slash = SIZE_MAX;
	int m;

	if (!spn_shim_ready())
		return 0;
	if ((flags & GLOB_BRACE) && strchr(pattern, '{') != NULL)
		return 1;
	if ((flags & (GLOB_TILDE | GLOB_TILDE_CHECK)) && pattern[0] == '~')
		return 1;
	/* Copy up to the first wildcard, unescaping, noting the last '/'. */
	for (i = 0; pattern[i] != '\0' && o < sizeof(dir) - 1; i++) {
		char c = pattern[i];

		if (c == '*' || c == '?' || c == '[')
			break;
		if (c == '\\' && !(flags & GLOB_NOESCAPE) && pattern[i + 1] != '\0')
			c = pattern[++i];
		else if (c == '/')
			slash = o;
		dir[o++] = c;
	}
	if (slash == SIZE_MAX)
		snprintf(dir, sizeof(dir), ".");
	else
		dir[slash == 0 ? 1 : slash] = '\0';
	if (locate(AT_FDCWD, dir, &w) < 0)
		return 1; /* the shim's calls will report it */
	if (w.nfs || (dir[0] != '/' && w.path[0] == '/'))
		return 1;
	if (dir[0] != '/' || spn_nfs_path(AT_FDCWD, dir, w.path, sizeof(w.path)) < 0)
		return 0;
	/* Above a mount point: "/n*" may match "/nfs". */
	pol = spn_shim_policy();
	n = strlen(w.path);
	for (m = 0; m < pol->nmounts; m++) {
		const char *pre = pol->mounts[m].prefix;

		if (strncmp(pre, w.path, n) == 0 && (pre[n] == '/' || n == 1))
			return 1;
	}
	return 0;
}

SPN_EXPORT int
glob(const char *pattern, int flags, glob_err_fn errfunc, glob_t *pglob)
{
	glob_t saved;
	int rc;

	if (spn_shim_busy || pattern == NULL || pglob == NULL || (flags & GLOB_ALTDIRFUNC) ||
	    !glob_needs_shim(pattern, flags))
		return REAL(glob)(pattern, flags, errfunc, pglob);
	saved = *pglob;
	pglob->gl_opendir = glob_opendir;
	pglob->gl_readdir = glob_readdir;
	pglob->gl_closedir = glob_closedir;
	pglob->gl_stat = glob_stat;
	pglob->gl_lstat = glob_lstat;
	rc = REAL(glob)(pattern, flags | GLOB_ALTDIRFUNC, errfunc, pglob);
	pglob->gl_opendir = saved.gl_opendir;
	pglob->gl_readdir = saved.gl_readdir;
	pglob->gl_closedir = saved.gl_closedir;
	pglob->gl_stat = saved.gl_stat;
	pglob->gl_lstat = saved.gl_lstat;
	pglob->gl_flags &= ~GLOB_ALTDIRFUNC;
	return rc;
}

SPN_EXPORT int
glob64(const char *pattern, int flags, glob_err_fn errfunc, glob64_t *pglob)
{
	glob64_t saved;
	int rc;

	if (spn_shim_busy || pattern == NULL || pglob == NULL || (flags & GLOB_ALTDIRFUNC) ||
	    !glob_needs_shim(pattern, flags))
		return REAL(glob64)(pattern, flags, errfunc, pglob);
	saved = *pglob;
	pglob->gl_opendir = glob_opendir;
	pglob->gl_readdir = glob_readdir64;
	pglob->gl_closedir = glob_closedir;
	pglob->gl_stat = glob_stat64;
	pglob->gl_lstat = glob_lstat64;
	rc = REAL(glob64)(pattern, flags | GLOB_ALTDIRFUNC, errfunc, pglob);
	pglob->gl_opendir = saved.gl_opendir;
	pglob->gl_readdir = saved.gl_readdir;
	pglob->gl_closedir = saved.gl_closedir;
	pglob->gl_stat = saved.gl_stat;
	pglob->gl_lstat = saved.gl_lstat;
	pglob->gl_flags &= ~GLOB_ALTDIRFUNC;
	return rc;
}

/* ------------------------------------------------------------ nftw, ftw */

/*
 * glibc 2.36's ftw_startup/ftw_dir/process_entry, step for step, on
 * locations instead of paths: the path the callback sees is built from
 * what the program gave, while stat and listings go to the daemon for NFS
 * names (and to the kernel for local names reached through a link). A
 * directory's names are read into memory after its FTW_D callback, so at
 * most one stream is open at a time whatever nopenfd is.
 */
struct walk {
	int flags;
	int is_nftw;
	union {
		ftw_fn f;
		nftw_fn n;
	} fn;
	char *buf; /* the path the callback sees */
	size_t cap;
	struct FTW ftw;
	dev_t dev;
	void *known; /* tsearch tree: directories seen (without FTW_PHYS) */
};

/* One directory level, on the heap (trees can be deep). */
struct level {
	struct where loc;  /* the directory */
	char cd[PATH_MAX]; /* what its stream read: where FTW_CHDIR goes */
	struct where child;
};

struct devino {
	dev_t dev;
	ino_t ino;
};

static int
devino_cmp(const void *a, const void *b)
{
	const struct devino *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return 0;
}

static int
walk_known(struct walk *w, const struct stat *st)
{
	struct devino k = { st->st_dev, st->st_ino };

	return tfind(&k, &w->known, devino_cmp) != NULL;
}

static int
walk_remember(struct walk *w, const struct stat *st)
{
	struct devino *k = malloc(sizeof(*k));

	if (k == NULL)
		return -1;
	k->dev = st->st_dev;
	k->ino = st->st_ino;
	if (tsearch(k, &w->known, devino_cmp) == NULL) {
		free(k);
		return -1;
	}
	return 0;
}

static const int ftw_flag_for_ftw[] = {
	[FTW_F] = FTW_F,   [FTW_D] = FTW_D,  [FTW_DNR] = FTW_DNR, [FTW_NS] = FTW_NS,
	[FTW_SL] = FTW_F,  [FTW_DP] = FTW_D, [FTW_SLN] = FTW_NS,
};

static int
walk_call(struct walk *w, const struct stat *st, int flag)
{
	if (w->is_nftw)
		return w->fn.n(w->buf, st, flag, &w->ftw);
	return w->fn.f(w->buf, st, ftw_flag_for_ftw[flag]);
}

static int
walk_room(struct walk *w, size_t need)
{
	char *p;

	if (need <= w->cap)
		return 0;
	p = realloc(w->buf, need * 2);
	if (p == NULL)
		return -1;
	w->buf = p;
	w->cap = need * 2;
	return 0;
}

/* chdir, keeping the shim's idea of the cwd right. */
static int
walk_fchdir(int fd)
{
	if (REAL(fchdir)(fd) < 0)
		return -1;
	spn_cwd_changed();
	return 0;
}

static int
walk_chdir(const char *dir)
{
	if (REAL(chdir)(dir) < 0)
		return -1;
	spn_cwd_changed();
	return 0;
}

/* chdir to a path from the program (an NFS directory means its mirror). */
static int
walk_chdir_path(const char *path)
{
	char mirror[PATH_MAX];
	struct where w;
	int rc;

	rc = locate(AT_FDCWD, path, &w);
	if (rc == 0 && w.nfs)
		rc = listing(w.path, mirror, sizeof(mirror));
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return walk_chdir(w.nfs ? mirror : w.path);
}

/* The names of a directory stream but "." and "..", each NUL-terminated,
 * an empty name last; the stream is closed. NULL on ENOMEM. */
static char *
read_names(DIR *d)
{
	struct dirent64 *e;
	size_t len = 0, cap = 4096;
	char *names = malloc(cap), *p;
	int saved;

	while (names != NULL && (e = REAL(readdir64)(d)) != NULL) {
		size_t n = strlen(e->d_name) + 1;

		if (e->d_name[0] == '.' &&
		    (e->d_name[1] == '\0' || (e->d_name[1] == '.' && e->d_name[2] == '\0')))
			continue;
		if (len + n + 1 > cap) {
			p = realloc(names, cap * 2 + n);
			if (p == NULL) {
				free(names);
				names = NULL;
				break;
			}
			names = p;
			cap = cap * 2 + n;
		}
		memcpy(names + len, e->d_name, n);
		len += n;
	}
	saved = errno;
	REAL(closedir)(d);
	errno = saved;
	if (names != NULL)
		names[len] = '\0';
	return names;
}

static int walk_dir(struct walk *w, const struct stat *st, const struct where *loc,
		    const char *parent_cd);

static int
walk_entry(struct walk *w, struct level *lv, const char *name)
{
	struct where *c = &lv->child;
	size_t nl = strlen(name);
	struct stat st;
	int result = 0, flag = FTW_NS, rc;

	if (walk_room(w, (size_t)w->ftw.base + nl + 2) < 0)
		return -1;
	memcpy(w->buf + w->ftw.base, name, nl + 1);
	memset(&st, 0, sizeof(st));
	c->nfs = lv->loc.nfs;
	rc = join(lv->loc.path, name, c->path, sizeof(c->path));
	if (rc == 0)
		rc = where_stat(c, &st, !(w->flags & FTW_PHYS));
	if (rc < 0) {
		if (rc != -EACCES && rc != -ENOENT) {
			result = -1;
		} else if (!(w->flags & FTW_PHYS)) {
			/* Dangling link: tell it as one, with the link's data. */
			c->nfs = lv->loc.nfs;
			if (join(lv->loc.path, name, c->path, sizeof(c->path)) == 0 &&
			    where_lstat(c, &st) == 0 && S_ISLNK(st.st_mode))
				flag = FTW_SLN;
		}
		errno = -rc;
	} else if (S_ISDIR(st.st_mode)) {
		flag = FTW_D;
	} else {
		flag = S_ISLNK(st.st_mode) ? FTW_SL : FTW_F;
	}
	if (result == 0 && (flag == FTW_NS || !(w->flags & FTW_MOUNT) || st.st_dev == w->dev)) {
		if (flag == FTW_D) {
			if ((w->flags & FTW_PHYS) ||
			    (!walk_known(w, &st) && (result = walk_remember(w, &st)) == 0))
				result = walk_dir(w, &st, c, lv->cd);
		} else {
			result = walk_call(w, &st, flag);
		}
	}
	if ((w->flags & FTW_ACTIONRETVAL) && result == FTW_SKIP_SUBTREE)
		result = 0;
	return result;
}

static int
walk_dir(struct walk *w, const struct stat *st, const struct where *loc, const char *parent_cd)
{
	int previous_base = w->ftw.base;
	char *names = NULL, *p;
	struct level *lv;
	int result, saved;
	size_t len;
	DIR *d;

	lv = malloc(sizeof(*lv));
	if (lv == NULL)
		return -1;
	d = open_where(loc, &lv->loc, lv->cd, sizeof(lv->cd));
	if (d == NULL) {
		result = errno == EACCES ? walk_call(w, st, FTW_DNR) : -1;
		goto out;
	}
	if (!(w->flags & FTW_DEPTH)) {
		result = walk_call(w, st, FTW_D);
		if (result != 0) {
			saved = errno;
			REAL(closedir)(d);
			errno = saved;
			goto out;
		}
	}
	if ((w->flags & FTW_CHDIR) && walk_fchdir(dirfd(d)) < 0) {
		saved = errno;
		REAL(closedir)(d);
		errno = saved;
		result = -1;
		goto out;
	}
	names = read_names(d);
	if (names == NULL) {
		result = -1;
		goto out;
	}

	++w->ftw.level;
	len = strlen(w->buf);
	if (walk_room(w, len + 2) < 0) {
		result = -1;
		goto out;
	}
	if (w->buf[len - 1] != '/') {
		w->buf[len++] = '/';
		w->buf[len] = '\0';
	}
	w->ftw.base = (int)len;
	result = 0;
	for (p = names; *p != '\0'; p += strlen(p) + 1) {
		result = walk_entry(w, lv, p);
		if (result != 0)
			break;
	}
	if ((w->flags & FTW_ACTIONRETVAL) && result == FTW_SKIP_SIBLINGS)
		result = 0;
	w->buf[w->ftw.base - 1] = '\0';
	--w->ftw.level;
	w->ftw.base = previous_base;

	if (result == 0 && (w->flags & FTW_DEPTH))
		result = walk_call(w, st, FTW_DP);
	if (parent_cd != NULL && (w->flags & FTW_CHDIR) &&
	    (result == 0 ||
	     ((w->flags & FTW_ACTIONRETVAL) && result != -1 && result != FTW_STOP)) &&
	    walk_chdir(parent_cd) < 0)
		result = -1;
out:
	saved = errno;
	free(names);
	free(lv);
	errno = saved;
	return result;
}

static int
walk_start(const char *dir, const struct where *root, nftw_fn nfn, ftw_fn ffn, int flags)
{
	struct walk w;
	struct where *loc;
	struct stat st;
	char *cp, *cwd = NULL;
	int result = 0, cwdfd = -1, rc, saved;
	size_t len = strlen(dir);

	memset(&w, 0, sizeof(w));
	w.flags = flags;
	w.is_nftw = nfn != NULL;
	if (nfn != NULL)
		w.fn.n = nfn;
	else
		w.fn.f = ffn;
	w.cap = (2 * len > PATH_MAX ? 2 * len : PATH_MAX) + 2;
	w.buf = malloc(w.cap);
	loc = malloc(sizeof(*loc));
	if (w.buf == NULL || loc == NULL) {
		free(w.buf);
		free(loc);
		return -1;
	}
	*loc = *root;
	cp = stpcpy(w.buf, dir);
	while (cp > w.buf + 1 && cp[-1] == '/')
		--cp;
	*cp = '\0';
	while (cp > w.buf && cp[-1] != '/')
		--cp;
	w.ftw.base = (int)(cp - w.buf);

	if (flags & FTW_CHDIR) {
		cwdfd = REAL(open)(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cwdfd < 0) {
			if (errno == EACCES)
				cwd = REAL(getcwd)(NULL, 0);
			if (cwd == NULL) {
				result = -1;
				goto out;
			}
		}
		if (w.ftw.base == 1) {
			result = walk_chdir("/");
		} else if (w.ftw.base > 1) {
			char ch = w.buf[w.ftw.base - 1];

			w.buf[w.ftw.base - 1] = '\0';
			result = walk_chdir_path(w.buf);
			w.buf[w.ftw.base - 1] = ch;
		}
	}

	if (result == 0) {
		memset(&st, 0, sizeof(st));
		rc = where_stat(loc, &st, !(flags & FTW_PHYS));
		if (rc < 0) {
			*loc = *root;
			if (!(flags & FTW_PHYS) && rc == -ENOENT && where_lstat(loc, &st) == 0 &&
			    S_ISLNK(st.st_mode)) {
				errno = ENOENT;
				result = walk_call(&w, &st, FTW_SLN);
			} else {
				errno = -rc;
				result = -1;
			}
		} else if (S_ISDIR(st.st_mode)) {
			w.dev = st.st_dev;
			if (!(flags & FTW_PHYS))
				result = walk_remember(&w, &st);
			if (result == 0)
				result = walk_dir(&w, &st, loc, NULL);
		} else {
			result = walk_call(&w, &st, S_ISLNK(st.st_mode) ? FTW_SL : FTW_F);
		}
		if ((flags & FTW_ACTIONRETVAL) &&
		    (result == FTW_SKIP_SUBTREE || result == FTW_SKIP_SIBLINGS))
			result = 0;
	}

	saved = errno;
	if (cwdfd >= 0) {
		walk_fchdir(cwdfd);
		REAL(close)(cwdfd);
	} else if (cwd != NULL) {
		walk_chdir(cwd);
	}
	errno = saved;
out:
	saved = errno;
	free(cwd);
	tdestroy(w.known, free);
	free(w.buf);
	free(loc);
	errno = saved;
	return result;
}

/* 1 when the walk from dir is ours: an NFS start, or a relative one that
 * leaves the NFS tree from a mirror cwd. */
static int
walk_root(const char *dir, struct where *w)
{
	if (spn_shim_busy || dir == NULL || dir[0] == '\0' || locate(AT_FDCWD, dir, w) < 0)
		return 0;
	return w->nfs || (dir[0] != '/' && w->path[0] == '/');
}

#define NFTW_FLAGS (FTW_PHYS | FTW_MOUNT | FTW_CHDIR | FTW_DEPTH | FTW_ACTIONRETVAL)

SPN_EXPORT int
nftw(const char *dir, nftw_fn fn, int nopenfd, int flags)
{
	struct where w;

	if (!walk_root(dir, &w))
		return REAL(nftw)(dir, fn, nopenfd, flags);
	if (flags & ~NFTW_FLAGS) {
		errno = EINVAL;
		return -1;
	}
	return walk_start(dir, &w, fn, NULL, flags);
}

SPN_EXPORT int
nftw64(const char *dir, nftw64_fn fn, int nopenfd, int flags)
{
	struct where w;

	if (!walk_root(dir, &w))
		return REAL(nftw64)(dir, fn, nopenfd, flags);
	if (flags & ~NFTW_FLAGS) {
		errno = EINVAL;
		return -1;
	}
	return walk_start(dir, &w, (nftw_fn)fn, NULL, flags);
}

SPN_EXPORT int
ftw(const char *dir, ftw_fn fn, int nopenfd)
{
	struct where w;

	if (!walk_root(dir, &w))
		return REAL(ftw)(dir, fn, nopenfd);
	return walk_start(dir, &w, NULL, fn, 0);
}

SPN_EXPORT int
ftw64(const char *dir, ftw64_fn fn, int nopenfd)
{
	struct where w;

	if (!walk_root(dir, &w))
		return REAL(ftw64)(dir, fn, nopenfd);
	return walk_start(dir, &w, NULL, (ftw_fn)fn, 0);
}

/* ------------------------------------------------------------ fts */

/*
 * glibc 2.36's fts (4.4BSD's), ported to run on the shim: directories are
 * read with the shim's opendir/readdir and entries stat'ed with NFS
 * attributes. It always runs as with FTS_NOCHDIR (fts_accpath is the
 * whole path, valid from the unchanged cwd, as fts(3) allows), so that
 * nothing has to chdir into the mirror and back. Used when a root is on
 * NFS; the streams it makes are remembered, so that fts_read & co. tell
 * them from glibc's.
 */
_Static_assert(sizeof(FTS) == sizeof(FTS64) && sizeof(FTSENT) == sizeof(FTSENT64),
	       "fts64 layout");

#define F_ISDOT(a) ((a)[0] == '.' && (!(a)[1] || ((a)[1] == '.' && !(a)[2])))
#define F_ISSET(sp, opt) ((sp)->fts_options & (opt))
#define F_SET(sp, opt) ((sp)->fts_options |= (opt))
#define F_CLR(sp, opt) ((sp)->fts_options &= ~(opt))
#define F_ALIGNBYTES (__alignof__(long double) - 1)
#define F_ALIGN(p) (((unsigned long)(p) + F_ALIGNBYTES) & ~(unsigned long)F_ALIGNBYTES)
/* Where a child's name goes after p's path ("/" is not doubled). */
#define F_NAPPEND(p)                                                                       \
	((p)->fts_path[(p)->fts_pathlen - 1] == '/' ? (p)->fts_pathlen - 1 : (p)->fts_pathlen)
#define F_BCHILD 1 /* fts_children */
#define F_BNAMES 2 /* fts_children, names only */
#define F_BREAD 3  /* fts_read */

static int
f_is_mine(FTS *sp)
{
	struct fts_mine *m;
	int found = 0;

	if (__atomic_load_n(&fts_count, __ATOMIC_ACQUIRE) == 0)
		return 0;
	pthread_mutex_lock(&fts_lock);
	for (m = fts_list; m != NULL && !found; m = m->next)
		found = m->sp == sp;
	pthread_mutex_unlock(&fts_lock);
	return found;
}

static void
f_forget(FTS *sp)
{
	struct fts_mine **pp, *m = NULL;

	pthread_mutex_lock(&fts_lock);
	for (pp = &fts_list; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->sp == sp) {
			m = *pp;
			*pp = m->next;
			__atomic_sub_fetch(&fts_count, 1, __ATOMIC_RELEASE);
			break;
		}
	}
	pthread_mutex_unlock(&fts_lock);
	free(m);
}

static FTSENT *
f_alloc(FTS *sp, const char *name, size_t namelen)
{
	size_t len = sizeof(FTSENT) + namelen;
	FTSENT *p;

	if (!F_ISSET(sp, FTS_NOSTAT))
		len += sizeof(struct stat) + F_ALIGNBYTES;
	p = malloc(len);
	if (p == NULL)
		return NULL;
	memset(p, 0, sizeof(*p));
	memcpy(p->fts_name, name, namelen);
	p->fts_name[namelen] = '\0';
	if (!F_ISSET(sp, FTS_NOSTAT))
		p->fts_statp = (struct stat *)F_ALIGN(p->fts_name + namelen + 2);
	p->fts_namelen = (unsigned short)namelen;
	p->fts_path = sp->fts_path;
	p->fts_instr = FTS_NOINSTR;
	return p;
}

static void
f_lfree(FTSENT *head)
{
	FTSENT *p;

	while ((p = head) != NULL) {
		head = head->fts_link;
		free(p);
	}
}

static int
f_palloc(FTS *sp, size_t more)
{
	char *p;

	sp->fts_pathlen += (int)more + 256;
	if (sp->fts_pathlen < 0 || sp->fts_pathlen >= USHRT_MAX) {
		free(sp->fts_path);
		sp->fts_path = NULL;
		errno = ENAMETOOLONG;
		return 1;
	}
	p = realloc(sp->fts_path, (size_t)sp->fts_pathlen);
	if (p == NULL) {
		free(sp->fts_path);
		sp->fts_path = NULL;
		return 1;
	}
	sp->fts_path = p;
	return 0;
}

/* The path buffer moved: fix the entries already handed out. */
static void
f_padjust(FTS *sp, FTSENT *head)
{
	char *addr = sp->fts_path;
	FTSENT *p;

#define F_ADJUST(p)                                                                        \
	do {                                                                               \
		if ((p)->fts_accpath != (p)->fts_name)                                     \
			(p)->fts_accpath = addr + ((p)->fts_accpath - (p)->fts_path);      \
		(p)->fts_path = addr;                                                      \
	} while (0)
	for (p = sp->fts_child; p != NULL; p = p->fts_link)
		F_ADJUST(p);
	for (p = head; p->fts_level >= FTS_ROOTLEVEL;) {
		F_ADJUST(p);
		p = p->fts_link != NULL ? p->fts_link : p->fts_parent;
	}
#undef F_ADJUST
}

static unsigned short
f_stat(FTS *sp, FTSENT *p, int follow)
{
	struct stat sb, *sbp = F_ISSET(sp, FTS_NOSTAT) ? &sb : p->fts_statp;
	FTSENT *t;
	int saved;

	if (F_ISSET(sp, FTS_LOGICAL) || follow) {
		if (path_stat(p->fts_accpath, sbp, 1) < 0) {
			saved = errno;
			if (path_stat(p->fts_accpath, sbp, 0) == 0) {
				errno = 0;
				return FTS_SLNONE;
			}
			p->fts_errno = saved;
			memset(sbp, 0, sizeof(*sbp));
			return FTS_NS;
		}
	} else if (path_stat(p->fts_accpath, sbp, 0) < 0) {
		p->fts_errno = errno;
		memset(sbp, 0, sizeof(*sbp));
		return FTS_NS;
	}
	if (S_ISDIR(sbp->st_mode)) {
		p->fts_dev = sbp->st_dev;
		p->fts_ino = sbp->st_ino;
		p->fts_nlink = sbp->st_nlink;
		if (F_ISDOT(p->fts_name))
			return FTS_DOT;
		for (t = p->fts_parent; t->fts_level >= FTS_ROOTLEVEL; t = t->fts_parent) {
			if (p->fts_ino == t->fts_ino && p->fts_dev == t->fts_dev) {
				p->fts_cycle = t;
				return FTS_DC;
			}
		}
		return FTS_D;
	}
	if (S_ISLNK(sbp->st_mode))
		return FTS_SL;
	if (S_ISREG(sbp->st_mode))
		return FTS_F;
	return FTS_DEFAULT;
}

static FTSENT *
f_sort(FTS *sp, FTSENT *head, int nitems)
{
	FTSENT **ap, *p;

	if (nitems > sp->fts_nitems) {
		FTSENT **a;

		sp->fts_nitems = nitems + 40;
		a = realloc(sp->fts_array, (size_t)sp->fts_nitems * sizeof(FTSENT *));
		if (a == NULL) {
			free(sp->fts_array);
			sp->fts_array = NULL;
			sp->fts_nitems = 0;
			return head;
		}
		sp->fts_array = a;
	}
	for (ap = sp->fts_array, p = head; p != NULL; p = p->fts_link)
		*ap++ = p;
	qsort(sp->fts_array, (size_t)nitems, sizeof(FTSENT *), sp->fts_compar);
	for (head = *(ap = sp->fts_array); --nitems; ++ap)
		ap[0]->fts_link = ap[1];
	ap[0]->fts_link = NULL;
	return head;
}

/* The children of sp->fts_cur, in directory order (or sorted). */
static FTSENT *
f_build(FTS *sp, int type)
{
	FTSENT *p, *head, *tail, *cur = sp->fts_cur;
	int nitems, level, nlinks, nostat, doadjust, saved;
	size_t len, maxlen, namlen;
	struct dirent *dp;
	void *oldaddr;
	char *cp;
	DIR *dirp;

	dirp = shim_opendir(cur->fts_accpath);
	if (dirp == NULL) {
		if (type == F_BREAD) {
			cur->fts_info = FTS_DNR;
			cur->fts_errno = errno;
		}
		return NULL;
	}
	if (type == F_BNAMES) {
		nlinks = 0;
		nostat = 0;
	} else if (F_ISSET(sp, FTS_NOSTAT) && F_ISSET(sp, FTS_PHYSICAL)) {
		nlinks = (int)cur->fts_nlink - (F_ISSET(sp, FTS_SEEDOT) ? 0 : 2);
		nostat = 1;
	} else {
		nlinks = -1;
		nostat = 0;
	}

	len = F_NAPPEND(cur);
	cp = sp->fts_path + len;
	*cp++ = '/';
	len++;
	maxlen = (size_t)sp->fts_pathlen - len;
	level = cur->fts_level + 1;

	doadjust = 0;
	for (head = tail = NULL, nitems = 0; (dp = dir_read(dirp)) != NULL;) {
		if (!F_ISSET(sp, FTS_SEEDOT) && F_ISDOT(dp->d_name))
			continue;
		namlen = strlen(dp->d_name);
		p = f_alloc(sp, dp->d_name, namlen);
		if (p == NULL)
			goto mem1;
		if (namlen >= maxlen) {
			oldaddr = sp->fts_path;
			if (f_palloc(sp, namlen + len + 1)) {
			mem1:
				saved = errno;
				free(p);
				f_lfree(head);
				dir_close(dirp);
				cur->fts_info = FTS_ERR;
				F_SET(sp, FTS_STOP);
				errno = saved;
				return NULL;
			}
			if (oldaddr != sp->fts_path) {
				doadjust = 1;
				cp = sp->fts_path + len;
			}
			maxlen = (size_t)sp->fts_pathlen - len;
		}
		if (len + namlen >= USHRT_MAX) {
			free(p);
			f_lfree(head);
			dir_close(dirp);
			cur->fts_info = FTS_ERR;
			F_SET(sp, FTS_STOP);
			errno = ENAMETOOLONG;
			return NULL;
		}
		p->fts_level = (short)level;
		p->fts_parent = sp->fts_cur;
		p->fts_pathlen = (unsigned short)(len + namlen);
		if (nlinks == 0 ||
		    (nostat && dp->d_type != DT_DIR && dp->d_type != DT_UNKNOWN)) {
			p->fts_accpath = p->fts_path;
			p->fts_info = FTS_NSOK;
		} else {
			p->fts_accpath = p->fts_path;
			memmove(cp, p->fts_name, (size_t)p->fts_namelen + 1);
			p->fts_info = f_stat(sp, p, 0);
			if (nlinks > 0 && (p->fts_info == FTS_D || p->fts_info == FTS_DC ||
					   p->fts_info == FTS_DOT))
				--nlinks;
		}
		p->fts_link = NULL;
		if (head == NULL)
			head = tail = p;
		else
			tail = tail->fts_link = p;
		++nitems;
	}
	dir_close(dirp);
	if (doadjust)
		f_padjust(sp, head);
	if (len == (size_t)sp->fts_pathlen || nitems == 0)
		--cp;
	*cp = '\0';
	if (nitems == 0) {
		if (type == F_BREAD)
			cur->fts_info = FTS_DP;
		f_lfree(head);
		return NULL;
	}
	if (sp->fts_compar != NULL && nitems > 1)
		head = f_sort(sp, head, nitems);
	return head;
}

static void
f_load(FTS *sp, FTSENT *p)
{
	size_t len;
	char *cp;

	len = p->fts_pathlen = p->fts_namelen;
	memmove(sp->fts_path, p->fts_name, len + 1);
	if ((cp = strrchr(p->fts_name, '/')) != NULL && (cp != p->fts_name || cp[1])) {
		len = strlen(++cp);
		memmove(p->fts_name, cp, len + 1);
		p->fts_namelen = (unsigned short)len;
	}
	p->fts_accpath = p->fts_path = sp->fts_path;
	sp->fts_dev = p->fts_dev;
}

static FTS *
f_open(char *const *argv, int options, fts_compar_fn compar)
{
	FTSENT *p, *root, *parent = NULL, *tmp = NULL;
	struct fts_mine *m;
	size_t maxarglen = 0;
	char *const *a;
	int nitems;
	FTS *sp;

	if (options & ~FTS_OPTIONMASK) {
		errno = EINVAL;
		return NULL;
	}
	m = malloc(sizeof(*m));
	sp = calloc(1, sizeof(*sp));
	if (m == NULL || sp == NULL) {
		free(m);
		free(sp);
		return NULL;
	}
	sp->fts_compar = (int (*)(const void *, const void *))compar;
	/* Never chdir: fts_accpath is always the whole path. */
	sp->fts_options = options | FTS_NOCHDIR;
	for (a = argv; *a != NULL; a++)
		if (strlen(*a) + 1 > maxarglen)
			maxarglen = strlen(*a) + 1;
	if (f_palloc(sp, maxarglen > PATH_MAX ? maxarglen : PATH_MAX))
		goto mem1;
	if (*argv != NULL) {
		parent = f_alloc(sp, "", 0);
		if (parent == NULL)
			goto mem2;
		parent->fts_level = FTS_ROOTPARENTLEVEL;
	}
	for (root = NULL, nitems = 0; *argv != NULL; ++argv, ++nitems) {
		size_t len = strlen(*argv);

		if (len == 0) {
			errno = ENOENT;
			goto mem3;
		}
		p = f_alloc(sp, *argv, len);
		if (p == NULL)
			goto mem3;
		p->fts_level = FTS_ROOTLEVEL;
		p->fts_parent = parent;
		p->fts_accpath = p->fts_name;
		p->fts_info = f_stat(sp, p, F_ISSET(sp, FTS_COMFOLLOW));
		if (p->fts_info == FTS_DOT)
			p->fts_info = FTS_D;
		if (compar != NULL) {
			p->fts_link = root;
			root = p;
		} else {
			p->fts_link = NULL;
			if (root == NULL)
				tmp = root = p;
			else
				tmp = tmp->fts_link = p;
		}
	}
	if (compar != NULL && nitems > 1)
		root = f_sort(sp, root, nitems);
	sp->fts_cur = f_alloc(sp, "", 0);
	if (sp->fts_cur == NULL)
		goto mem3;
	sp->fts_cur->fts_link = root;
	sp->fts_cur->fts_info = FTS_INIT;
	m->sp = sp;
	pthread_mutex_lock(&fts_lock);
	m->next = fts_list;
	fts_list = m;
	__atomic_add_fetch(&fts_count, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&fts_lock);
	return sp;

mem3:
	f_lfree(root);
	free(parent);
mem2:
	free(sp->fts_path);
mem1:
	free(sp);
	free(m);
	return NULL;
}

static int
f_close(FTS *sp)
{
	FTSENT *freep, *p;

	f_forget(sp);
	if (sp->fts_cur != NULL) {
		for (p = sp->fts_cur; p->fts_level >= FTS_ROOTLEVEL;) {
			freep = p;
			p = p->fts_link != NULL ? p->fts_link : p->fts_parent;
			free(freep);
		}
		free(p);
	}
	if (sp->fts_child != NULL)
		f_lfree(sp->fts_child);
	free(sp->fts_array);
	free(sp->fts_path);
	free(sp);
	return 0;
}

static FTSENT *
f_read(FTS *sp)
{
	FTSENT *p, *tmp;
	int instr;
	char *t;

	if (sp->fts_cur == NULL || F_ISSET(sp, FTS_STOP))
		return NULL;
	p = sp->fts_cur;
	instr = p->fts_instr;
	p->fts_instr = FTS_NOINSTR;

	/* Any type of file may be re-visited; re-stat and re-turn. */
	if (instr == FTS_AGAIN) {
		p->fts_info = f_stat(sp, p, 0);
		return p;
	}
	/* Following a symlink. */
	if (instr == FTS_FOLLOW && (p->fts_info == FTS_SL || p->fts_info == FTS_SLNONE)) {
		p->fts_info = f_stat(sp, p, 1);
		return p;
	}
	/* Directory in pre-order. */
	if (p->fts_info == FTS_D) {
		/* Skipped or crossed mount point: post-order visit. */
		if (instr == FTS_SKIP || (F_ISSET(sp, FTS_XDEV) && p->fts_dev != sp->fts_dev)) {
			if (sp->fts_child != NULL) {
				f_lfree(sp->fts_child);
				sp->fts_child = NULL;
			}
			p->fts_info = FTS_DP;
			return p;
		}
		/* Rebuild if only read the names and now traversing. */
		if (sp->fts_child != NULL && F_ISSET(sp, FTS_NAMEONLY)) {
			F_CLR(sp, FTS_NAMEONLY);
			f_lfree(sp->fts_child);
			sp->fts_child = NULL;
		}
		if (sp->fts_child == NULL && (sp->fts_child = f_build(sp, F_BREAD)) == NULL) {
			if (F_ISSET(sp, FTS_STOP))
				return NULL;
			return p;
		}
		p = sp->fts_child;
		sp->fts_child = NULL;
		sp->fts_cur = p;
		goto name;
	}

	/* Move to the next node on this level. */
next:
	tmp = p;
	if ((p = p->fts_link) != NULL) {
		sp->fts_cur = p;
		free(tmp);
		/* At the top: load the paths for the next root. */
		if (p->fts_level == FTS_ROOTLEVEL) {
			f_load(sp, p);
			return p;
		}
		/* The user may have called fts_set on the node. */
		if (p->fts_instr == FTS_SKIP)
			goto next;
		if (p->fts_instr == FTS_FOLLOW) {
			p->fts_info = f_stat(sp, p, 1);
			p->fts_instr = FTS_NOINSTR;
		}
	name:
		t = sp->fts_path + F_NAPPEND(p->fts_parent);
		*t++ = '/';
		memmove(t, p->fts_name, (size_t)p->fts_namelen + 1);
		return p;
	}

	/* Move up to the parent node. */
	p = tmp->fts_parent;
	sp->fts_cur = p;
	free(tmp);
	if (p->fts_level == FTS_ROOTPARENTLEVEL) {
		/* Done: errno 0 tells the end from an error. */
		free(p);
		errno = 0;
		return sp->fts_cur = NULL;
	}
	sp->fts_path[p->fts_pathlen] = '\0';
	p->fts_info = p->fts_errno ? FTS_ERR : FTS_DP;
	return p;
}

static int
f_set(FTSENT *p, int instr)
{
	if (instr != 0 && instr != FTS_AGAIN && instr != FTS_FOLLOW && instr != FTS_NOINSTR &&
	    instr != FTS_SKIP) {
		errno = EINVAL;
		return 1;
	}
	p->fts_instr = (unsigned short)instr;
	return 0;
}

static FTSENT *
f_children(FTS *sp, int instr)
{
	FTSENT *p;

	if (instr != 0 && instr != FTS_NAMEONLY) {
		errno = EINVAL;
		return NULL;
	}
	p = sp->fts_cur;
	errno = 0;
	if (F_ISSET(sp, FTS_STOP))
		return NULL;
	if (p->fts_info == FTS_INIT)
		return p->fts_link;
	if (p->fts_info != FTS_D)
		return NULL;
	if (sp->fts_child != NULL)
		f_lfree(sp->fts_child);
	if (instr == FTS_NAMEONLY) {
		F_SET(sp, FTS_NAMEONLY);
		instr = F_BNAMES;
	} else {
		instr = F_BCHILD;
	}
	return sp->fts_child = f_build(sp, instr);
}

/* Is any root on NFS (or relative off it from a mirror cwd)? */
static int
f_wanted(char *const *argv)
{
	struct where w;

	if (spn_shim_busy || argv == NULL)
		return 0;
	for (; *argv != NULL; argv++)
		if (walk_root(*argv, &w))
			return 1;
	return 0;
}

SPN_EXPORT FTS *
fts_open(char *const *argv, int options, fts_compar_fn compar)
{
	if (!f_wanted(argv))
		return REAL(fts_open)(argv, options, compar);
	return f_open(argv, options, compar);
}

SPN_EXPORT FTSENT *
fts_read(FTS *sp)
{
	return f_is_mine(sp) ? f_read(sp) : REAL(fts_read)(sp);
}

SPN_EXPORT FTSENT *
fts_children(FTS *sp, int instr)
{
	return f_is_mine(sp) ? f_children(sp, instr) : REAL(fts_children)(sp, instr);
}

SPN_EXPORT int
fts_set(FTS *sp, FTSENT *p, int instr)
{
	return f_is_mine(sp) ? f_set(p, instr) : REAL(fts_set)(sp, p, instr);
}

SPN_EXPORT int
fts_close(FTS *sp)
{
	return f_is_mine(sp) ? f_close(sp) : REAL(fts_close)(sp);
}

/* The fts64 names: on LP64 glibc the same structures. */
SPN_EXPORT FTS64 *
fts64_open(char *const *argv, int options,
	   int (*compar)(const FTSENT64 **, const FTSENT64 **))
{
	if (!f_wanted(argv))
		return (FTS64 *)REAL(fts64_open)(argv, options, (fts_compar_fn)compar);
	return (FTS64 *)f_open(argv, options, (fts_compar_fn)compar);
}

SPN_EXPORT FTSENT64 *
fts64_read(FTS64 *sp)
{
	FTS *s = (FTS *)sp;

	return (FTSENT64 *)(f_is_mine(s) ? f_read(s) : REAL(fts64_read)(s));
}

SPN_EXPORT FTSENT64 *
fts64_children(FTS64 *sp, int instr)
{
	FTS *s = (FTS *)sp;

	return (FTSENT64 *)(f_is_mine(s) ? f_children(s, instr) : REAL(fts64_children)(s, instr));
}

SPN_EXPORT int
fts64_set(FTS64 *sp, FTSENT64 *p, int instr)
{
	FTS *s = (FTS *)sp;

	return f_is_mine(s) ? f_set((FTSENT *)p, instr) : REAL(fts64_set)(s, (FTSENT *)p, instr);
}

SPN_EXPORT int
fts64_close(FTS64 *sp)
{
	FTS *s = (FTS *)sp;

	return f_is_mine(s) ? f_close(s) : REAL(fts64_close)(s);
}
