/*
 * shim/fts.c: fts_open, fts_read, fts_children, fts_set, fts_close (and
 * their 64-bit names) for roots on NFS.
 *
 * glibc 2.36's fts (4.4BSD's), ported to run on the shim: directories are
 * read with the shim's opendir/readdir and entries stat'ed with NFS
 * attributes. It always runs as with FTS_NOCHDIR (fts_accpath is the
 * whole path, valid from the unchanged cwd, as fts(3) allows), so that
 * nothing has to chdir into the mirror and back. Used when a root is on
 * NFS; the streams it makes are remembered, so that fts_read & co. tell
 * them from glibc's.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/shim/internal.h"

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
		if (spn_path_stat(p->fts_accpath, sbp, 1) < 0) {
			saved = errno;
			if (spn_path_stat(p->fts_accpath, sbp, 0) == 0) {
				errno = 0;
				return FTS_SLNONE;
			}
			p->fts_errno = saved;
			memset(sbp, 0, sizeof(*sbp));
			return FTS_NS;
		}
	} else if (spn_path_stat(p->fts_accpath, sbp, 0) < 0) {
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

	dirp = spn_opendir(cur->fts_accpath);
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
	for (head = tail = NULL, nitems = 0; (dp = spn_dir_read(dirp)) != NULL;) {
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
				spn_dir_close(dirp);
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
			errno = ENAMETOOLONG;
			goto mem1;
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
	spn_dir_close(dirp);
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
	struct spn_stream *m;
	size_t maxarglen = 0;
	char *const *a;
	int nitems;
	FTS *sp;

	if (options & ~FTS_OPTIONMASK) {
		errno = EINVAL;
		return NULL;
	}
	m = spn_stream_new("");
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
	spn_stream_add(m, sp);
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

	spn_stream_del(sp);
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
	struct spn_where w;

	if (spn_shim_busy || argv == NULL)
		return 0;
	for (; *argv != NULL; argv++)
		if (spn_walk_root(*argv, &w))
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
	return spn_stream_find(sp, NULL, 0) ? f_read(sp) : REAL(fts_read)(sp);
}

SPN_EXPORT FTSENT *
fts_children(FTS *sp, int instr)
{
	return spn_stream_find(sp, NULL, 0) ? f_children(sp, instr) : REAL(fts_children)(sp, instr);
}

SPN_EXPORT int
fts_set(FTS *sp, FTSENT *p, int instr)
{
	return spn_stream_find(sp, NULL, 0) ? f_set(p, instr) : REAL(fts_set)(sp, p, instr);
}

SPN_EXPORT int
fts_close(FTS *sp)
{
	return spn_stream_find(sp, NULL, 0) ? f_close(sp) : REAL(fts_close)(sp);
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

	return (FTSENT64 *)(spn_stream_find(s, NULL, 0) ? f_read(s) : REAL(fts64_read)(s));
}

SPN_EXPORT FTSENT64 *
fts64_children(FTS64 *sp, int instr)
{
	FTS *s = (FTS *)sp;

	return (FTSENT64 *)(spn_stream_find(s, NULL, 0) ? f_children(s, instr)
							 : REAL(fts64_children)(s, instr));
}

SPN_EXPORT int
fts64_set(FTS64 *sp, FTSENT64 *p, int instr)
{
	FTS *s = (FTS *)sp;

	return spn_stream_find(s, NULL, 0) ? f_set((FTSENT *)p, instr)
					   : REAL(fts64_set)(s, (FTSENT *)p, instr);
}

SPN_EXPORT int
fts64_close(FTS64 *sp)
{
	FTS *s = (FTS *)sp;

	return spn_stream_find(s, NULL, 0) ? f_close(s) : REAL(fts64_close)(s);
}
