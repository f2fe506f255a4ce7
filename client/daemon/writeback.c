/*
 * daemon/writeback.c: write-back. A file written through the mirror is
 * stored on the server (WRITE of the whole content, COMMIT) at its last
 * close or fsync (CLOSE/FSYNC requests, or inotify for a close the shim
 * did not see); one struct spn_wb per path coalesces them. The dirty set
 * in the index is the journal: spn_wb_replay() stores what a crash left
 * dirty at start-up.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/daemon/internal.h"
#include "client/log.h"
#include "client/path.h"

/* The write-back of (m, rel): the one its name has, or a detached one. */
static struct spn_wb *
wb_lookup(struct spn_daemon *d, const struct spn_mount *m, const char *rel, int detached)
{
	struct spn_wb *wb;

	for (wb = d->wbs; wb != NULL; wb = wb->next)
		if (wb->m == m && wb->detached == detached && strcmp(wb->rel, rel) == 0)
			return wb;
	return NULL;
}

struct spn_wb *
spn_wb_find(struct spn_daemon *d, struct spn_mount *m, const char *rel, int create)
{
	struct spn_wb *wb = wb_lookup(d, m, rel, 0);

	if (wb != NULL || !create)
		return wb;
	wb = calloc(1, sizeof(*wb));
	if (wb == NULL)
		return NULL;
	wb->m = m;
	wb->wd = -1;
	wb->srcfd = -1;
	snprintf(wb->rel, sizeof(wb->rel), "%s", rel);
	wb->next = d->wbs;
	d->wbs = wb;
	return wb;
}

void
spn_wb_forget(struct spn_daemon *d, struct spn_wb *wb)
{
	struct spn_wb **pp;

	if (wb->writers > 0 || wb->elsewhere || wb->running || wb->waiters != NULL ||
	    wb->due_ns != 0)
		return;
	for (pp = &d->wbs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == wb) {
			*pp = wb->next;
			break;
		}
	}
	if (wb->wd >= 0 && d->ino_fd >= 0)
		inotify_rm_watch(d->ino_fd, wb->wd);
	if (wb->srcfd >= 0)
		close(wb->srcfd);
	free(wb);
}

struct spn_wb *
spn_wb_find_detached(struct spn_daemon *d, const struct spn_mount *m, const char *rel)
{
	return wb_lookup(d, m, rel, 1);
}

int
spn_wb_detach(struct spn_job *j, struct spn_wb *wb)
{
	int fd;

	if (wb->writers > 0 || wb->elsewhere)
		return -EBUSY; /* still written through: its content is not final */
	fd = spn_mirror_open(j->m, j->rel, O_RDONLY, 0);
	if (fd < 0)
		return fd;
	wb->srcfd = fd;
	wb->detached = 1;
	wb->gone = j->e;
	wb->due_ns = 0;
	if (!wb->running) {
		/* Nothing on its way (a close seen by inotify had only made
		 * it due): store now what the server lacks, from the fd,
		 * before the held removal goes; else nothing is left to do. */
		if (j->e.flags & SPN_EF_DIRTY)
			spn_wb_kick(j->d, wb);
		else
			spn_wb_forget(j->d, wb);
	}
	return 0;
}

/* The daemon's own job that stores one file; answers wb->waiters. */
static void store_issue(struct spn_job *j);

static void
wb_answer(struct spn_daemon *d, struct spn_wb *wb, int status, const struct spn_attr *a)
{
	struct spn_job *w = wb->waiters;

	wb->waiters = NULL;
	while (w != NULL) {
		struct spn_job *next = w->next;

		w->next = NULL;
		if (a != NULL)
			w->rep.attr = *a;
		w->wb = NULL;
		w->remote = 1; /* it waited for the server's store */
		w->join_ok = status == 0; /* a store joined to a sealed epoch */
		/* A prediction's (its own, or joined behind a held create):
		 * refuted, and not predicted again for a while (no livelock
		 * of re-executions whose store fails). */
		if ((w->owner != NULL || w->join != 0) && status < 0)
			spn_spec_refuted(w, status);
		spn_job_reply(w, status);
		w = next;
	}
}

static int
wb_permanent(int err)
{
	switch (-err) {
	case EACCES:
	case EPERM:
	case EROFS:
	case ENOENT:
	case ESTALE:
	case EISDIR:
	case EFBIG:
	case EINVAL:
		return 1;
	}
	return 0;
}

/*
 * The count of writers says none is left: clear the dirty flag unless the
 * file is still open for writing after all. Every process holding an
 * inherited fd reports its own close (shim/fd.c), so the count reaches
 * zero while the shell of `exec 5>>config.log` still writes through fd 5:
 * what it writes next goes to the mirror, and a stat asked of the server
 * would say the size of the last store (a kernel NFS client flushes before
 * it answers).
 */
static void
still_written(struct spn_job *j, struct spn_wb *wb, struct spn_entry *e)
{
	if (spn_mirror_written(j->m, j->rel) == 1) {
		wb->elsewhere = 1;
		spn_wb_watch(j, wb);
		return;
	}
	wb->elsewhere = 0;
	e->flags &= (uint8_t)~SPN_EF_DIRTY;
}

static void
store_done(struct spn_job *j)
{
	struct spn_daemon *d = j->d;
	struct spn_wb *wb = j->wb;
	struct spn_entry e;
	int status = j->err;

	close(j->tmpfd);
	j->tmpfd = -1;
	wb->running = 0;
	wb->clean = 0;
	if (status == -ESTALE && !j->store_by_path) {
		/* The handle we knew is gone (the name may be another file
		 * now): store by name, as a fresh open would. */
		j->store_by_path = 1;
		store_issue(j);
		return;
	}
	if (status == 0) {
		d->stores++;
		spn_wb_ino_drain(d); /* every write made before now is seen */
		wb->clean = wb->watched && !wb->mod_seen && !wb->again && !wb->has_times;
		wb->has_times = 0;
		if (!wb->detached && spn_job_index_get(j, j->rel, &e) == 0) {
			e.attr = j->res->attr;
			e.state = SPN_ENT_CACHED;
			/* Our own write must not look like someone else's. */
			spn_consist_set_content(&e);
			e.validated_ns = spn_now_ns();
			if (e.dirty_gen == wb->gen && wb->writers == 0 && !wb->again)
				still_written(j, wb, &e);
			spn_job_index_put(j, j->rel, &e);
		}
		/* WRITE and SETATTR by handle leave the directory as it
		 * was; a store by path may have made the file. */
		if (!j->stored_by_fh)
			spn_invalidate_parent(j, j->rel);
		spn_debug("stored %s (%llu bytes)", j->rel, (unsigned long long)j->res->bytes);
	} else {
		spn_err("write-back of %s%s failed: %s", j->m->prefix, j->rel,
			j->res && j->res->errmsg ? j->res->errmsg : strerror(-status));
		if (wb_permanent(status) && wb->waiters != NULL && !wb->detached &&
		    spn_job_index_get(j, j->rel, &e) == 0 && wb->writers == 0) {
			/* The server refuses this content for good and the
			 * writer hears it from close() (or rolls back):
			 * retrying forever helps no one. With nobody to tell
			 * (a journal replay, a close seen only by inotify) it
			 * stays dirty: `specnfs status` lists it, the next
			 * daemon tries again. */
			e.flags &= (uint8_t)~SPN_EF_DIRTY;
			spn_job_index_put(j, j->rel, &e);
		}
	}
	if (wb->again && status == 0) {
		wb->again = 0;
		store_issue(j);
		return;
	}
	wb_answer(d, wb, status, status == 0 ? &j->res->attr : NULL);
	j->wb = NULL;
	if (status < 0 && !wb_permanent(status) && !d->stopping)
		wb->due_ns = spn_mono_ns() + 5 * 1000000000LL; /* still dirty: again soon */
	spn_wb_forget(d, wb);
	spn_job_free(j);
}

/*
 * A file in the journal that the server has never seen: its create was
 * predicted (policy full) and the daemon died before the CREATE went out.
 * The store makes it first -- every directory above it that was predicted
 * made and is not made yet (mkdir -p), then the file -- so that its
 * content is never refused as "no such file" because our own create had
 * not happened. Both calls are harmless to repeat (EEXIST of a directory
 * is success, the CREATE is not exclusive), so after a lost session they
 * are simply sent again, like the store. The index says what is missing:
 * SPN_EF_CREATED_LOCALLY, with the type and mode in the attributes.
 */
static void store_make_issue(struct spn_job *j);

/* The first name on j->rel's path the server does not have yet, into
 * j->walk: 1, or 0 if there is none. */
static int
store_missing(struct spn_job *j)
{
	const char *p = j->rel;
	struct spn_entry e;

	for (;;) {
		p = strchr(p + 1, '/');
		snprintf(j->walk, sizeof(j->walk), "%.*s",
			 (int)(p != NULL ? (size_t)(p - j->rel) : strlen(j->rel)), j->rel);
		if (spn_job_index_get(j, j->walk, &e) == 0 && (e.flags & SPN_EF_CREATED_LOCALLY))
			return 1;
		if (p == NULL)
			return 0;
	}
}

static void
store_make_done(struct spn_job *j)
{
	int was_mkdir = j->req.op == SPN_OP_MKDIR;
	struct spn_entry e;

	j->req.op = SPN_OP_FSYNC;
	if (j->err == -EEXIST && was_mkdir)
		j->err = 0; /* made already (by us before a crash, or another client) */
	if (j->err < 0) {
		spn_err("write-back of %s%s: cannot make %s%s on the server: %s", j->m->prefix,
			j->rel, j->m->prefix, j->walk, strerror(-j->err));
		j->res = NULL;
		spn_predict_own_change_done(j->d);
		store_done(j);
		return;
	}
	if (spn_job_index_get(j, j->walk, &e) == 0) {
		if (j->res != NULL && j->res->fh_len > 0) {
			e.fh_len = j->res->fh_len;
			memcpy(e.fh, j->res->fh, j->res->fh_len);
		}
		e.flags &= (uint8_t)~SPN_EF_CREATED_LOCALLY;
		spn_job_index_put(j, j->walk, &e);
	}
	spn_invalidate_parent(j, j->walk); /* a name made by path: no wcc */
	spn_info("journal: made %s%s on the server", j->m->prefix, j->walk);
	spn_predict_own_change_done(j->d);
	store_issue(j);
}

static void
store_make_issue(struct spn_job *j)
{
	struct spn_entry e;
	int mode;

	if (spn_job_index_get(j, j->walk, &e) < 0) {
		j->err = -ENOENT;
		j->res = NULL;
		store_done(j);
		return;
	}
	/* req.op says which call is on the wire, for store_make_done and
	 * for the ordered line (a name is made). */
	j->req.op = e.attr.type == S_IFDIR ? SPN_OP_MKDIR : SPN_OP_OPEN;
	if (spn_job_call(j, store_make_issue, store_make_done, 0))
		return;
	mode = (int)(e.attr.mode & 07777);
	if (e.attr.type == S_IFDIR)
		spn_nfs_mkdir(j->m->nfs, j->walk, mode != 0 ? mode : 0755, spn_job_cb, j);
	else
		spn_nfs_create(j->m->nfs, j->walk, mode, 0, spn_job_cb, j);
}

/*
 * The mtime a store gives the file. The server would set its own clock's
 * time at the WRITE, which no one knows before the store ends; so a store
 * by handle sets the mirror copy's mtime (the time of the client's last
 * write) in the server's clock (spn_nfs_clock_offset) with the SETATTR
 * that sets the size, and a stat of a file whose write-back is in flight
 * is answered from the mirror exactly (spn_wb_attr), without waiting.
 * Times the client set (utimes while dirty) are stored as they are. A
 * store by path (NFSv4, or a handle gone stale) leaves mtime to the
 * server: setting it there costs a round trip more, and the answer
 * before the store ends is then the client's time, not the server's.
 */
static int
store_mtime(struct spn_mount *m, const struct timespec *written, struct spn_time *t)
{
	int64_t off, ns;

	if (!spn_nfs_has_fh(m->nfs) || spn_nfs_clock_offset(m->nfs, &off) < 0)
		return 0;
	ns = (int64_t)written->tv_sec * 1000000000LL + written->tv_nsec + off;
	t->sec = ns / 1000000000LL;
	t->nsec = (uint32_t)(ns % 1000000000LL);
	return 1;
}

void
spn_wb_attr(struct spn_job *j, struct spn_attr *a)
{
	struct spn_wb *wb = spn_wb_find(j->d, j->m, j->rel, 0);
	struct stat st;

	if (spn_mirror_lstat(j->m, j->rel, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	a->size = (uint64_t)st.st_size;
	if ((wb != NULL && wb->has_times) || !store_mtime(j->m, &st.st_mtim, &a->mtime)) {
		a->mtime.sec = st.st_mtim.tv_sec;
		a->mtime.nsec = (uint32_t)st.st_mtim.tv_nsec;
	}
}

static void
store_issue(struct spn_job *j)
{
	struct spn_wb *wb = j->wb;
	struct spn_nfs_sattr written;
	struct spn_entry e;
	struct stat st;

	if (spn_job_call(j, store_issue, store_done, 0))
		return;
	if (store_missing(j)) {
		store_make_issue(j);
		return;
	}
	if (j->tmpfd >= 0)
		close(j->tmpfd);
	if (wb->srcfd >= 0) {
		j->tmpfd = fcntl(wb->srcfd, F_DUPFD_CLOEXEC, 0);
		if (j->tmpfd < 0)
			j->tmpfd = -errno;
		else
			lseek(j->tmpfd, 0, SEEK_SET);
	} else {
		j->tmpfd = spn_mirror_open(j->m, j->rel, O_RDONLY, 0);
	}
	if (j->tmpfd < 0) {
		int gone = j->tmpfd == -ENOENT;

		j->err = gone ? -ENOENT : -EIO;
		j->tmpfd = -1;
		if (gone && spn_job_index_get(j, j->rel, &e) == 0 && (e.flags & SPN_EF_DIRTY)) {
			/* Nothing left to write back: say so, and stop. */
			spn_err("write-back of %s%s: the mirror copy is gone", j->m->prefix,
				j->rel);
			e.flags &= (uint8_t)~SPN_EF_DIRTY;
			spn_job_index_put(j, j->rel, &e);
		}
		j->res = NULL;
		store_done(j);
		return;
	}
	wb->running = 1;
	wb->again = 0;
	wb->mod_seen = 0;
	wb->watched = wb->wd >= 0 && !wb->detached;
	if (wb->detached)
		e = wb->gone;
	else if (spn_job_index_get(j, j->rel, &e) < 0)
		memset(&e, 0, sizeof(e));
	wb->gen = e.dirty_gen;
	memset(&written, 0, sizeof(written));
	if (!wb->has_times && fstat(j->tmpfd, &st) == 0 &&
	    store_mtime(j->m, &st.st_mtim, &written.mtime))
		written.mask = SPN_NSA_MTIME;
	j->stored_by_fh = spn_nfs_has_fh(j->m->nfs) && e.fh_len > 0 &&
			  !(e.flags & SPN_EF_CREATED_LOCALLY) && !j->store_by_path;
	if (j->stored_by_fh)
		spn_nfs_store_fh(j->m->nfs, e.fh, e.fh_len, j->tmpfd,
				 wb->has_times ? &wb->times : &written, spn_job_cb, j);
	else
		spn_nfs_store(j->m->nfs, j->rel, j->tmpfd, wb->has_times ? &wb->times : NULL,
			      spn_job_cb, j);
}

/* Write back wb's file now, or once more after the store in flight. */
void
spn_wb_kick(struct spn_daemon *d, struct spn_wb *wb)
{
	struct spn_job *j;

	wb->due_ns = 0;
	if (wb->running) {
		wb->again = 1;
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		spn_err("write-back of %s: out of memory", wb->rel);
		wb_answer(d, wb, -ENOMEM, NULL);
		return;
	}
	j->d = d;
	j->tmpfd = -1;
	j->m = wb->m;
	j->wb = wb;
	j->cred = wb->cred;
	/* libnfs 4.0's NFSv4 open checks ACCESS MODIFY on the *directory*
	 * (nfs4_populate_open), so a caller allowed to write a 0666 file in
	 * a 0755 directory would be refused its store. The server said yes
	 * to writing this file at the open (spn_cred_check_what); the daemon
	 * carries the store out with its own ids there. */
	if (spn_nfs_version(wb->m->nfs) == 4)
		j->cred.foreign = 0;
	j->req.op = SPN_OP_FSYNC;
	snprintf(j->rel, sizeof(j->rel), "%s", wb->rel);
	snprintf(j->req.path, sizeof(j->req.path), "%s%s", wb->m->prefix, wb->rel);
	d->njobs++;
	wb->running = 1; /* until store_issue opens the file */
	store_issue(j);
}

void
spn_wb_on_close_write(struct spn_daemon *d, int wd)
{
	struct spn_wb *wb;

	for (wb = d->wbs; wb != NULL; wb = wb->next)
		if (wb->wd == wd)
			break;
	if (wb == NULL)
		return;
	/* A close the client may not tell us about (exit, fclose inside
	 * libc): store the content soon -- unless the client's own CLOSE
	 * arrives first, which stores it at once (no double write). */
	if (wb->due_ns == 0)
		wb->due_ns = spn_mono_ns() + 200 * 1000000LL;
}

/* Watch rel's mirror copy for closes after writing and for writes. */
int
spn_wb_watch(struct spn_job *j, struct spn_wb *wb)
{
	struct stat st;

	if (wb->wd >= 0 || j->d->ino_fd < 0)
		return wb->wd;
	if (spn_mirror_lstat(j->m, j->rel, &st) < 0)
		return -1;
	wb->wd = spn_mirror_watch(j->m, j->rel, j->d->ino_fd, IN_CLOSE_WRITE | IN_MODIFY);
	if (wb->wd < 0) {
		wb->wd = -1;
		return -1;
	}
	wb->ino = st.st_ino;
	return wb->wd;
}

/* Every inotify event queued so far. A write queues its IN_MODIFY before
 * it returns, so a CLOSE that follows finds it here. */
void
spn_wb_ino_drain(struct spn_daemon *d)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t len;

	if (d->ino_fd < 0)
		return;
	while ((len = read(d->ino_fd, buf, sizeof(buf))) > 0) {
		char *p;

		for (p = buf; p < buf + len;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			struct spn_wb *wb;

			if (ev->mask & IN_Q_OVERFLOW) {
				/* Events lost: nothing is known clean. */
				for (wb = d->wbs; wb != NULL; wb = wb->next) {
					wb->clean = 0;
					wb->mod_seen = 1;
				}
			}
			if (ev->mask & (IN_MODIFY | IN_IGNORED)) {
				for (wb = d->wbs; wb != NULL; wb = wb->next) {
					if (wb->wd == ev->wd) {
						wb->clean = 0;
						wb->mod_seen = 1;
						if (ev->mask & IN_IGNORED)
							wb->wd = -1;
					}
				}
			}
			if (ev->mask & IN_CLOSE_WRITE)
				spn_wb_on_close_write(d, ev->wd);
			p += sizeof(*ev) + ev->len;
		}
	}
}

/* The mirror copy at j's name is still the file wb's watch is on (not
 * replaced by a rename over it). */
static int
watched_copy(const struct spn_job *j, const struct spn_wb *wb)
{
	struct stat st;

	return spn_mirror_lstat(j->m, j->rel, &st) == 0 && st.st_ino == wb->ino;
}

/*
 * A CLOSE that need not store: the client says it could not have written
 * through a mapping (SPN_F_UNMAPPED: its fds of the file are write-only,
 * which mmap refuses), and the server has the mirror copy as it is now.
 */
int
spn_wb_close_clean(struct spn_job *j, struct spn_wb *wb)
{
	if (!(j->req.flags & SPN_F_UNMAPPED) || wb == NULL || !wb->clean || wb->running ||
	    wb->waiters != NULL || wb->has_times || wb->detached || wb->wd < 0)
		return 0;
	spn_wb_ino_drain(j->d);
	return wb->clean && watched_copy(j, wb);
}

/*
 * The store in flight already has everything a CLOSE's process wrote: it
 * began under the watch and the copy has not been written since (no
 * IN_MODIFY), and the closer wrote only through write(2) (SPN_F_UNMAPPED).
 * Configure's children close config.log one after another: one store
 * serves them all.
 */
static int
close_covered(struct spn_job *j, struct spn_wb *wb)
{
	if (j->req.op != SPN_OP_CLOSE || !(j->req.flags & SPN_F_UNMAPPED) || !wb->running ||
	    !wb->watched || wb->again || wb->has_times || wb->detached || wb->wd < 0)
		return 0;
	spn_wb_ino_drain(j->d);
	return !wb->mod_seen && !wb->again && watched_copy(j, wb);
}

/* j waits among wb's waiters for a store that has its writes: the one in
 * flight if it has them all, else one more. */
void
spn_wb_wait_store(struct spn_job *j, struct spn_wb *wb)
{
	j->wb = wb;
	j->next = wb->waiters;
	wb->waiters = j;
	if (close_covered(j, wb)) {
		j->d->stores_saved++;
		return;
	}
	spn_wb_kick(j->d, wb);
}

void
spn_wb_tick(struct spn_daemon *d)
{
	struct spn_wb *wb, *next;
	int64_t now = spn_mono_ns();

	for (wb = d->wbs; wb != NULL; wb = next) {
		struct spn_entry e;

		next = wb->next;
		if (wb->due_ns == 0 || now < wb->due_ns)
			continue;
		wb->due_ns = 0;
		/* The client's own CLOSE may have stored it meanwhile (its
		 * inotify event arrived during that store): storing again
		 * would move the server's mtime after a utimes (cp -a). */
		if (!wb->running && wb->writers == 0 &&
		    spn_index_get(d->idx, (uint16_t)wb->m->id, wb->rel, &e) == 0 &&
		    !(e.flags & SPN_EF_DIRTY)) {
			spn_wb_forget(d, wb);
			continue;
		}
		spn_wb_kick(d, wb);
	}
}

/*
 * At start-up: write back what an earlier daemon left in the journal.
 * Dirty files are stored (made on the server first if their create never
 * went out: store_missing). An entry created locally but never written
 * (a directory whose predicted mkdir did not reach the server) is made
 * only if something kept lies below it -- the store makes it then --
 * and is otherwise forgotten: its process was rolled back when the old
 * daemon died (spec/speculate.c) and does it again if it still means to, where
 * a directory made for it now would turn its mkdir into EEXIST.
 */
struct replay_item {
	uint16_t mount;
	uint8_t flags;
	int8_t act; /* REPLAY_* */
	char *path;
};
enum { REPLAY_FORGET, REPLAY_STORE, REPLAY_BELOW, REPLAY_SKIP };

struct replay_list {
	struct replay_item *v;
	size_t n, cap;
};

static int
replay_collect(uint16_t mount, const char *path, const struct spn_entry *e, void *arg)
{
	struct replay_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct replay_item *v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].mount = mount;
	l->v[l->n].flags = e->flags;
	l->v[l->n].act = (e->flags & SPN_EF_DIRTY) ? REPLAY_STORE : REPLAY_FORGET;
	l->v[l->n].path = strdup(path);
	if (l->v[l->n].path == NULL)
		return -ENOMEM;
	l->n++;
	return 0;
}

static int
replay_one(struct spn_daemon *d, const struct replay_item *it)
{
	struct spn_wb *wb;

	if (it->act == REPLAY_FORGET) {
		spn_info("journal: %s%s was predicted made, not confirmed: forgotten",
			 d->mounts[it->mount].prefix, it->path);
		spn_index_del_tree(d->idx, it->mount, it->path);
		spn_mirror_remove(&d->mounts[it->mount], it->path);
		return 0;
	}
	wb = spn_wb_find(d, &d->mounts[it->mount], it->path, 1);
	if (wb == NULL)
		return -ENOMEM;
	spn_info("journal: writing back %s%s left dirty by an earlier daemon%s",
		 d->mounts[it->mount].prefix, it->path,
		 it->flags & SPN_EF_CREATED_LOCALLY ? " (not created on the server yet)" : "");
	spn_wb_kick(d, wb);
	return 0;
}

int
spn_wb_replay(struct spn_daemon *d)
{
	struct replay_list l = { NULL, 0, 0 };
	const struct replay_item *kept = NULL;
	size_t i;
	int rc;

	rc = spn_index_foreach_dirty(d->idx, replay_collect, &l);
	/* Backwards, deciding what stays: everything below a path comes
	 * right after it in this order, so a directory is needed exactly
	 * when the nearest kept entry after it lies below it. */
	for (i = l.n; rc == 0 && i-- > 0;) {
		struct replay_item *it = &l.v[i];

		if (it->mount >= d->nmounts) {
			spn_err("journal: dirty %s on unknown mount %u: left alone", it->path,
				it->mount);
			it->act = REPLAY_SKIP;
			continue;
		}
		if (it->act == REPLAY_FORGET && kept != NULL && kept->mount == it->mount &&
		    spn_path_beneath(kept->path, it->path)) {
			/* Made by the store of what lies below it. */
			spn_info("journal: %s%s will be made on the server for what it holds",
				 d->mounts[it->mount].prefix, it->path);
			it->act = REPLAY_BELOW;
		}
		if (it->act != REPLAY_FORGET)
			kept = it;
	}
	for (i = 0; rc == 0 && i < l.n; i++)
		if (l.v[i].act == REPLAY_FORGET || l.v[i].act == REPLAY_STORE)
			rc = replay_one(d, &l.v[i]);
	for (i = 0; i < l.n; i++)
		free(l.v[i].path);
	free(l.v);
	return rc;
}

/* The shutdown's error: each record still there, and why. */
void
spn_wb_log_pending(struct spn_daemon *d)
{
	struct spn_wb *wb;

	for (wb = d->wbs; wb != NULL; wb = wb->next)
		spn_err("  %s%s: %d writer(s)%s%s%s%s%s", wb->m->prefix, wb->rel, wb->writers,
			wb->elsewhere ? ", open elsewhere" : "", wb->running ? ", storing" : "",
			wb->due_ns != 0 ? ", store due" : "",
			wb->waiters != NULL ? ", waited for" : "",
			wb->detached ? ", its name removed" : "");
}

/*
 * Writers that will never report their close: a process killed by a
 * signal (SIGKILL, ^C's default action, a rollback's discarded execution)
 * runs no destructor. Its count would keep the file dirty for good --
 * every stat answered from the mirror, another client's change never
 * seen -- and the daemon from exiting. With no client connected, no
 * process is between its OPEN and the open(2) of the mirror copy, so the
 * kernel knows who still writes (spn_mirror_written): store what the
 * others left and forget the record.
 */
void
spn_wb_sweep(struct spn_daemon *d)
{
	struct spn_wb *wb, *next;

	if (d->nclients > 0)
		return;
	for (wb = d->wbs; wb != NULL; wb = next) {
		struct spn_entry e;
		int w;

		next = wb->next;
		if (wb->running || wb->detached || wb->due_ns != 0 || wb->waiters != NULL ||
		    (wb->writers == 0 && !wb->elsewhere))
			continue;
		w = spn_mirror_written(wb->m, wb->rel);
		if (w == 1 || (w < 0 && w != -ENOENT))
			continue;
		spn_info("%s%s: %d writer(s) gone without a close", wb->m->prefix, wb->rel,
			 wb->writers);
		wb->writers = 0;
		wb->elsewhere = 0;
		if (w == 0 && spn_index_get(d->idx, (uint16_t)wb->m->id, wb->rel, &e) == 0 &&
		    (e.flags & SPN_EF_DIRTY))
			spn_wb_kick(d, wb);
		else
			spn_wb_forget(d, wb);
	}
}

void
spn_close_start(struct spn_job *j)
{
	struct spn_wb *wb = spn_wb_find(j->d, j->m, j->rel, 0);
	/* fsync stores whatever is dirty; close only what was written. */
	int written = j->req.op == SPN_OP_FSYNC ? wb != NULL : !!(j->req.flags & SPN_F_WRITTEN);

	if (written && j->req.op == SPN_OP_CLOSE && spn_wb_close_clean(j, wb)) {
		written = 0; /* nothing new to store */
		j->d->stores_saved++;
	}

	/* The client wrote: store, even if this daemon never saw the open (it
	 * was re-sent to a new daemon after the old one died). The client
	 * sends FSYNC only for a file it has open for writing. */
	if (j->req.op == SPN_OP_FSYNC && j->cl != NULL)
		written = 1;
	if (wb == NULL && written)
		wb = spn_wb_find(j->d, j->m, j->rel, 1);

	if (wb == NULL || !written) {
		if (wb != NULL && wb->writers > 0 && j->req.op == SPN_OP_CLOSE)
			wb->writers--;
		if (wb != NULL)
			spn_wb_forget(j->d, wb);
		if (spn_job_index_get(j, j->rel, &j->e) == 0)
			j->rep.attr = j->e.attr;
		spn_job_reply(j, 0);
		return;
	}
	if (j->req.op == SPN_OP_CLOSE && wb->writers > 0)
		wb->writers--;
	/* Answer once the content is on the server (close-to-open); on a
	 * soft mount, no later than timeo while the server is silent. */
	j->deadline_ns = spn_mono_ns() + spn_soft_wait_ns(j->d, j->m);
	spn_wb_wait_store(j, wb);
}
