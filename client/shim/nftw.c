/*
 * shim/nftw.c: nftw and ftw (and their 64-bit names) for walks that start
 * on NFS -- glibc's walk, run on the shim's locations (shim/dir.c).
 *
 * glibc's nftw calls its internal opendir, readdir and stat, which no
 * preload library sees: for a root on NFS (or a relative root that leaves
 * the NFS tree from a mirror cwd) the walk is done here. Other walks pass
 * straight through to glibc.
 *
 * glibc 2.36's ftw_startup/ftw_dir/process_entry, step for step, on
 * locations instead of paths: the path the callback sees is built from
 * what the program gave, while stat and listings go to the daemon for NFS
 * names (and to the kernel for local names reached through a link). A
 * directory's names are read into memory after its FTW_D callback, so at
 * most one stream is open at a time whatever nopenfd is.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <search.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/shim/internal.h"

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
	struct spn_where loc;  /* the directory */
	char cd[PATH_MAX]; /* what its stream read: where FTW_CHDIR goes */
	struct spn_where child;
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

/* chdir to dir (or, dir NULL, fchdir to fd), keeping the shim's idea of
 * the cwd right. */
static int
walk_cd(int fd, const char *dir)
{
	if ((dir != NULL ? REAL(chdir)(dir) : REAL(fchdir)(fd)) < 0)
		return -1;
	spn_cwd_changed();
	return 0;
}

/* chdir to a path from the program (an NFS directory means its mirror). */
static int
walk_chdir_path(const char *path)
{
	char mirror[PATH_MAX];
	struct spn_where w;
	int rc;

	rc = spn_locate(AT_FDCWD, path, &w);
	if (rc == 0 && w.nfs)
		rc = spn_listing(w.path, mirror, sizeof(mirror));
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return walk_cd(-1, w.nfs ? mirror : w.path);
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

static int walk_dir(struct walk *w, const struct stat *st, const struct spn_where *loc,
		    const char *parent_cd);

static int
walk_entry(struct walk *w, struct level *lv, const char *name)
{
	struct spn_where *c = &lv->child;
	size_t nl = strlen(name);
	struct stat st;
	int result = 0, flag = FTW_NS, rc;

	if (walk_room(w, (size_t)w->ftw.base + nl + 2) < 0)
		return -1;
	memcpy(w->buf + w->ftw.base, name, nl + 1);
	memset(&st, 0, sizeof(st));
	c->nfs = lv->loc.nfs;
	rc = spn_join(lv->loc.path, name, c->path, sizeof(c->path));
	if (rc == 0)
		rc = spn_where_stat(c, &st, !(w->flags & FTW_PHYS));
	if (rc < 0) {
		if (rc != -EACCES && rc != -ENOENT) {
			result = -1;
		} else if (!(w->flags & FTW_PHYS)) {
			/* Dangling link: tell it as one, with the link's data. */
			c->nfs = lv->loc.nfs;
			if (spn_join(lv->loc.path, name, c->path, sizeof(c->path)) == 0 &&
			    spn_where_lstat(c, &st) == 0 && S_ISLNK(st.st_mode))
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
walk_dir(struct walk *w, const struct stat *st, const struct spn_where *loc, const char *parent_cd)
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
	d = spn_open_where(loc, &lv->loc, lv->cd, sizeof(lv->cd));
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
	if ((w->flags & FTW_CHDIR) && walk_cd(dirfd(d), NULL) < 0) {
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
	    walk_cd(-1, parent_cd) < 0)
		result = -1;
out:
	saved = errno;
	free(names);
	free(lv);
	errno = saved;
	return result;
}

static int
walk_start(const char *dir, const struct spn_where *root, nftw_fn nfn, ftw_fn ffn, int flags)
{
	struct walk w;
	struct spn_where *loc;
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
			result = walk_cd(-1, "/");
		} else if (w.ftw.base > 1) {
			char ch = w.buf[w.ftw.base - 1];

			w.buf[w.ftw.base - 1] = '\0';
			result = walk_chdir_path(w.buf);
			w.buf[w.ftw.base - 1] = ch;
		}
	}

	if (result == 0) {
		memset(&st, 0, sizeof(st));
		rc = spn_where_stat(loc, &st, !(flags & FTW_PHYS));
		if (rc < 0) {
			*loc = *root;
			if (!(flags & FTW_PHYS) && rc == -ENOENT &&
			    spn_where_lstat(loc, &st) == 0 && S_ISLNK(st.st_mode)) {
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
		walk_cd(cwdfd, NULL);
		REAL(close)(cwdfd);
	} else if (cwd != NULL) {
		walk_cd(-1, cwd);
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

#define NFTW_FLAGS (FTW_PHYS | FTW_MOUNT | FTW_CHDIR | FTW_DEPTH | FTW_ACTIONRETVAL)

/* nftw and nftw64 (struct stat64 is struct stat on x86-64). */
static int
nftw_common(const char *dir, nftw_fn fn, int nopenfd, int flags, int is64)
{
	struct spn_where w;

	if (!spn_walk_root(dir, &w))
		return is64 ? REAL(nftw64)(dir, (nftw64_fn)fn, nopenfd, flags)
			    : REAL(nftw)(dir, fn, nopenfd, flags);
	if (flags & ~NFTW_FLAGS) {
		errno = EINVAL;
		return -1;
	}
	return walk_start(dir, &w, fn, NULL, flags);
}

SPN_EXPORT int
nftw(const char *dir, nftw_fn fn, int nopenfd, int flags)
{
	return nftw_common(dir, fn, nopenfd, flags, 0);
}

SPN_EXPORT int
nftw64(const char *dir, nftw64_fn fn, int nopenfd, int flags)
{
	return nftw_common(dir, (nftw_fn)fn, nopenfd, flags, 1);
}

SPN_EXPORT int
ftw(const char *dir, ftw_fn fn, int nopenfd)
{
	struct spn_where w;

	if (!spn_walk_root(dir, &w))
		return REAL(ftw)(dir, fn, nopenfd);
	return walk_start(dir, &w, NULL, fn, 0);
}

SPN_EXPORT int
ftw64(const char *dir, ftw64_fn fn, int nopenfd)
{
	struct spn_where w;

	if (!spn_walk_root(dir, &w))
		return REAL(ftw64)(dir, fn, nopenfd);
	return walk_start(dir, &w, NULL, (ftw_fn)fn, 0);
}

