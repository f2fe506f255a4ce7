/*
 * shim/dir.c: reading directories on NFS paths -- opendir, fdopendir,
 * readdir, scandir, glob -- and the locations (struct spn_where) they and
 * the walkers (shim/nftw.c, shim/fts.c) work on.
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
 * therefore done on top of the wrapped calls: scandir here and nftw/ftw/fts
 * in their own files are our own walks (same visiting order, typeflags,
 * FTW/FTSENT fields as glibc 2.36), glob is glibc's own run with
 * GLOB_ALTDIRFUNC and callbacks that go through the shim. Other paths pass
 * straight through.
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
#include <glob.h>
#include <pthread.h>
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

/* ------------------------------------------------------------ our streams */

/*
 * The streams the shim made, told from libc's: DIR streams on mirror
 * directories, with the NFS path each one lists, and shim/fts.c's fts
 * streams (nfs ""). readdir looks a DIR up only for a DT_LNK entry while
 * at least one is registered: other streams pay nothing.
 */
struct spn_stream {
	const void *sp;
	struct spn_stream *next;
	char nfs[];
};

#define STREAM_BUCKETS 64
static struct spn_stream *stream_tab[STREAM_BUCKETS];
static int stream_count;
static pthread_mutex_t stream_lock = PTHREAD_MUTEX_INITIALIZER;

/* A fork while another thread holds the table lock must not leave the
 * child with it locked. */
static void
stream_atfork_prepare(void)
{
	pthread_mutex_lock(&stream_lock);
}

static void
stream_atfork_release(void)
{
	pthread_mutex_unlock(&stream_lock);
}

__attribute__((constructor)) static void
dir_ctor(void)
{
	pthread_atfork(stream_atfork_prepare, stream_atfork_release, stream_atfork_release);
}

static size_t
stream_hash(const void *sp)
{
	return ((uintptr_t)sp >> 4) % STREAM_BUCKETS;
}

struct spn_stream *
spn_stream_new(const char *nfs)
{
	size_t n = strlen(nfs) + 1;
	struct spn_stream *m = malloc(sizeof(*m) + n);

	if (m != NULL)
		memcpy(m->nfs, nfs, n);
	return m;
}

void
spn_stream_add(struct spn_stream *m, const void *sp)
{
	m->sp = sp;
	pthread_mutex_lock(&stream_lock);
	m->next = stream_tab[stream_hash(sp)];
	stream_tab[stream_hash(sp)] = m;
	__atomic_add_fetch(&stream_count, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&stream_lock);
}

void
spn_stream_del(const void *sp)
{
	struct spn_stream **pp, *m = NULL;

	if (__atomic_load_n(&stream_count, __ATOMIC_ACQUIRE) == 0)
		return;
	pthread_mutex_lock(&stream_lock);
	for (pp = &stream_tab[stream_hash(sp)]; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->sp == sp) {
			m = *pp;
			*pp = m->next;
			__atomic_sub_fetch(&stream_count, 1, __ATOMIC_RELEASE);
			break;
		}
	}
	pthread_mutex_unlock(&stream_lock);
	free(m);
}

int
spn_stream_find(const void *sp, char *nfs, size_t len)
{
	struct spn_stream *m;
	int found = 0;

	if (__atomic_load_n(&stream_count, __ATOMIC_ACQUIRE) == 0)
		return 0;
	pthread_mutex_lock(&stream_lock);
	for (m = stream_tab[stream_hash(sp)]; m != NULL; m = m->next) {
		if (m->sp == sp) {
			found = 1;
			if (nfs != NULL)
				snprintf(nfs, len, "%s", m->nfs);
			break;
		}
	}
	pthread_mutex_unlock(&stream_lock);
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

/*
 * Classify (dirfd, path). A relative path that leaves the NFS tree from a
 * cwd (or dirfd) in the mirror becomes the absolute local path it means:
 * the kernel would resolve it from the mirror directory instead.
 */
int
spn_locate(int dirfd, const char *path, struct spn_where *w)
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
int
spn_join(const char *dir, const char *name, char *out, size_t len)
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
int
spn_listing(const char *nfs, char *mirror, size_t len)
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
int
spn_where_lstat(const struct spn_where *w, struct stat *st)
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
follow_link(struct spn_where *w)
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
	return spn_locate(AT_FDCWD, joined, w);
}

/* stat (follow) or lstat of w; with follow, w becomes the final target. */
int
spn_where_stat(struct spn_where *w, struct stat *st, int follow)
{
	int hops, rc;

	for (hops = 0;; hops++) {
		rc = spn_where_lstat(w, st);
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
	struct spn_where w;
	int rc = spn_locate(dirfd, path, &w);

	return rc < 0 ? rc : spn_where_stat(&w, st, 1);
}

/* stat/lstat for a path from the program: NFS attributes for NFS names. */
int
spn_path_stat(const char *path, struct stat *st, int follow)
{
	struct spn_where w;
	int rc;

	if (path == NULL || path[0] == '\0') {
		errno = ENOENT;
		return -1;
	}
	rc = spn_locate(AT_FDCWD, path, &w);
	if (rc == 0)
		rc = spn_where_stat(&w, st, follow);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}

/* 1 when the walk from dir is ours: an NFS start, or a relative one that
 * leaves the NFS tree from a mirror cwd. */
int
spn_walk_root(const char *dir, struct spn_where *w)
{
	if (spn_shim_busy || dir == NULL || dir[0] == '\0' || spn_locate(AT_FDCWD, dir, w) < 0)
		return 0;
	return w->nfs || (dir[0] != '/' && w->path[0] == '/');
}

/*
 * Open a directory stream on w: the mirror directory (listing made valid
 * first) for an NFS name, the directory itself for a local one. A symbolic
 * link to a directory is followed. Returns the stream with *at the final
 * location and cd the directory the stream reads (mirror or local path),
 * or NULL with errno.
 */
DIR *
spn_open_where(const struct spn_where *w, struct spn_where *at, char *cd, size_t cdlen)
{
	struct stat st;
	int hops, rc;

	*at = *w;
	for (hops = 0;; hops++) {
		if (!at->nfs) {
			snprintf(cd, cdlen, "%s", at->path);
			return REAL(opendir)(at->path);
		}
		rc = spn_listing(at->path, cd, cdlen);
		if (spn_take_redirect(rc, cd, cdlen)) {
			at->nfs = 0;
			snprintf(at->path, sizeof(at->path), "%s", cd);
			continue;
		}
		if (rc == -ENOTDIR && hops < MAX_LINK_HOPS && spn_where_lstat(at, &st) == 0 &&
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
dir_open(const struct spn_where *w)
{
	char cd[PATH_MAX];
	struct spn_where at;
	struct spn_stream *m;
	DIR *d;

	d = spn_open_where(w, &at, cd, sizeof(cd));
	if (d == NULL || !at.nfs)
		return d;
	m = spn_stream_new(at.path);
	if (m == NULL) {
		REAL(closedir)(d);
		errno = ENOMEM;
		return NULL;
	}
	spn_stream_add(m, d);
	return d;
}

/* ------------------------------------------------------------ opendir, readdir */

/* opendir(path) through the shim, for our own callers (guard not checked). */
DIR *
spn_opendir(const char *path)
{
	struct spn_where w;
	int rc;

	if (path == NULL || path[0] == '\0')
		return REAL(opendir)(path);
	rc = spn_locate(AT_FDCWD, path, &w);
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
	return spn_opendir(path);
}

SPN_EXPORT DIR *
fdopendir(int fd)
{
	char nfs[PATH_MAX], mirror[PATH_MAX];
	struct stat st;
	struct spn_stream *m;
	DIR *d;
	int rc;

	/* Only a directory of the mirror can be an NFS directory. */
	if (spn_shim_busy || REAL(fstat)(fd, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    !spn_shim_maybe_mirror(&st) || spn_fd_nfs_path(fd, nfs, sizeof(nfs)) != 1)
		return REAL(fdopendir)(fd);
	/* The fd is a mirror directory: make its listing valid first. */
	rc = spn_listing(nfs, mirror, sizeof(mirror));
	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	m = spn_stream_new(nfs);
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
	spn_stream_add(m, d);
	return d;
}

/* e (may be NULL) was read from d: a DT_LNK entry of a mirror stream
 * gets its stub's kind. */
static void
fix_type(DIR *d, struct dirent *e)
{
	if (e != NULL && e->d_type == DT_LNK && spn_stream_find(d, NULL, 0))
		e->d_type = stub_type(dirfd(d), e->d_name);
}

/* readdir on any stream, with stub types fixed on mirror streams. */
struct dirent *
spn_dir_read(DIR *d)
{
	struct dirent *e = REAL(readdir)(d);

	fix_type(d, e);
	return e;
}

static struct dirent64 *
dir_read64(DIR *d)
{
	struct dirent64 *e = REAL(readdir64)(d);

	fix_type(d, (struct dirent *)e);
	return e;
}

/* closedir on any stream, forgetting mirror streams. */
int
spn_dir_close(DIR *d)
{
	spn_stream_del(d);
	return REAL(closedir)(d);
}

SPN_EXPORT int
closedir(DIR *d)
{
	return spn_dir_close(d);
}

SPN_EXPORT struct dirent *
readdir(DIR *d)
{
	return spn_shim_busy ? REAL(readdir)(d) : spn_dir_read(d);
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

	if (rc == 0 && !spn_shim_busy)
		fix_type(d, *result);
	return rc;
}

SPN_EXPORT int
readdir64_r(DIR *d, struct dirent64 *entry, struct dirent64 **result)
{
	int rc = REAL(readdir64_r)(d, entry, result);

	if (rc == 0 && !spn_shim_busy)
		fix_type(d, (struct dirent *)*result);
	return rc;
}

/* rewinddir: the stream shows the directory as it is now (a new listing). */
SPN_EXPORT void
rewinddir(DIR *d)
{
	char nfs[PATH_MAX], mirror[PATH_MAX];
	int saved = errno;

	if (!spn_shim_busy && spn_stream_find(d, nfs, sizeof(nfs)))
		(void)spn_listing(nfs, mirror, sizeof(mirror));
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
	while ((e = spn_dir_read(d)) != NULL) {
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
		spn_dir_close(d);
		errno = err;
		return -1;
	}
	spn_dir_close(d);
	if (compar != NULL)
		qsort(v, n, sizeof(*v), (int (*)(const void *, const void *))compar);
	*list = v;
	errno = saved;
	return (int)n;
}

/* Which of scandir's names: on LP64 glibc, dirent64 is dirent, and the
 * 64 variants differ only in their types. */
enum scan_name { SCAN_DIR, SCAN_DIRAT, SCAN_DIR64, SCAN_DIRAT64 };

static int
scan_common(enum scan_name name, int dfd, const char *dir, struct dirent ***list,
	    scan_filter_fn filter, scan_compar_fn compar)
{
	struct spn_where w;
	int rc;

	w.path[0] = '\0';
	if (!spn_shim_busy && dir != NULL && dir[0] != '\0') {
		rc = spn_locate(dfd, dir, &w);
		if (rc < 0)
			return spn_fail(rc);
		if (w.nfs)
			return scan_stream(dir_open(&w), list, filter, compar);
		/* A local path reached from the NFS tree: give libc that. */
		if (w.path[0] != '\0')
			dir = w.path;
	}
	switch (name) {
	case SCAN_DIRAT:
		return REAL(scandirat)(dfd, dir, list, filter, compar);
	case SCAN_DIR64:
		return REAL(scandir64)(dir, (struct dirent64 ***)list, (scan_filter64_fn)filter,
				       (scan_compar64_fn)compar);
	case SCAN_DIRAT64:
		return REAL(scandirat64)(dfd, dir, (struct dirent64 ***)list,
					 (scan_filter64_fn)filter, (scan_compar64_fn)compar);
	case SCAN_DIR:
	default:
		return REAL(scandir)(dir, list, filter, compar);
	}
}

SPN_EXPORT int
scandirat(int dfd, const char *dir, struct dirent ***list, scan_filter_fn filter,
	  scan_compar_fn compar)
{
	return scan_common(SCAN_DIRAT, dfd, dir, list, filter, compar);
}

SPN_EXPORT int
scandir(const char *dir, struct dirent ***list, scan_filter_fn filter, scan_compar_fn compar)
{
	return scan_common(SCAN_DIR, AT_FDCWD, dir, list, filter, compar);
}

SPN_EXPORT int
scandirat64(int dfd, const char *dir, struct dirent64 ***list, scan_filter64_fn filter,
	    scan_compar64_fn compar)
{
	return scan_common(SCAN_DIRAT64, dfd, dir, (struct dirent ***)list, (scan_filter_fn)filter,
			   (scan_compar_fn)compar);
}

SPN_EXPORT int
scandir64(const char *dir, struct dirent64 ***list, scan_filter64_fn filter,
	  scan_compar64_fn compar)
{
	return scan_common(SCAN_DIR64, AT_FDCWD, dir, (struct dirent ***)list,
			   (scan_filter_fn)filter, (scan_compar_fn)compar);
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
	return spn_opendir(path);
}

static struct dirent *
glob_readdir(void *d)
{
	return spn_dir_read(d);
}

static void
glob_closedir(void *d)
{
	spn_dir_close(d);
}

static int
glob_stat(const char *path, struct stat *st)
{
	return spn_path_stat(path, st, 1);
}

static int
glob_lstat(const char *path, struct stat *st)
{
	return spn_path_stat(path, st, 0);
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
	struct spn_where w;
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
	if (spn_locate(AT_FDCWD, dir, &w) < 0)
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

/* glob and glob64: glob64_t is glob_t, its callbacks taking dirent64 and
 * stat64, which are dirent and stat (asserted at the top). */
_Static_assert(sizeof(glob64_t) == sizeof(glob_t), "glob64 layout");

static int
glob_real(const char *pattern, int flags, glob_err_fn errfunc, glob_t *pglob, int is64)
{
	if (is64)
		return REAL(glob64)(pattern, flags, errfunc, (glob64_t *)pglob);
	return REAL(glob)(pattern, flags, errfunc, pglob);
}

static int
glob_common(const char *pattern, int flags, glob_err_fn errfunc, glob_t *pglob, int is64)
{
	glob_t saved;
	int rc;

	if (spn_shim_busy || pattern == NULL || pglob == NULL || (flags & GLOB_ALTDIRFUNC) ||
	    !glob_needs_shim(pattern, flags))
		return glob_real(pattern, flags, errfunc, pglob, is64);
	saved = *pglob;
	pglob->gl_opendir = glob_opendir;
	pglob->gl_readdir = glob_readdir;
	pglob->gl_closedir = glob_closedir;
	pglob->gl_stat = glob_stat;
	pglob->gl_lstat = glob_lstat;
	rc = glob_real(pattern, flags | GLOB_ALTDIRFUNC, errfunc, pglob, is64);
	pglob->gl_opendir = saved.gl_opendir;
	pglob->gl_readdir = saved.gl_readdir;
	pglob->gl_closedir = saved.gl_closedir;
	pglob->gl_stat = saved.gl_stat;
	pglob->gl_lstat = saved.gl_lstat;
	pglob->gl_flags &= ~GLOB_ALTDIRFUNC;
	return rc;
}

SPN_EXPORT int
glob(const char *pattern, int flags, glob_err_fn errfunc, glob_t *pglob)
{
	return glob_common(pattern, flags, errfunc, pglob, 0);
}

SPN_EXPORT int
glob64(const char *pattern, int flags, glob_err_fn errfunc, glob64_t *pglob)
{
	return glob_common(pattern, flags, errfunc, (glob_t *)pglob, 1);
}
