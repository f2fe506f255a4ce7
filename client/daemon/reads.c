/*
 * daemon/reads.c: the requests that read (stat, access, readdir,
 * readlink, statfs) and open: directory listings into the mirror,
 * whole-file fetch into the mirror with the cache's LRU cap, and OPEN
 * itself, including O_CREAT (CREATE on the server) and opens for writing
 * (which mark the entry dirty in the write-back journal, daemon/writeback.c).
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
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/daemon/internal.h"
#include "client/log.h"
#include "client/path.h"

#define MAX_FETCH_ATTEMPTS 4

/*
 * j->rel is a symlink the request follows (stat): followed on the client's
 * side like one above the name (spn_path_gate), never by the server: the
 * request starts over on the target, or the client hears a redirect.
 */

static void
follow_last(struct spn_job *j)
{
	char target[SPN_PATH_MAX];
	int n = snprintf(j->gate_rel, sizeof(j->gate_rel), "%s/", j->rel);

	if (n < 0 || (size_t)n >= sizeof(j->gate_rel)) {
		spn_job_reply(j, -ENAMETOOLONG);
		return;
	}
	j->gating = 1;
	if (spn_consist_content_valid(&j->e) && !spn_mirror_is_stub(j->m, j->rel) &&
	    spn_mirror_readlink(j->m, j->rel, target, sizeof(target)) > 0) {
		spn_gate_follow(j, target);
		return;
	}
	spn_gate_readlink_issue(j);
}

int
spn_resolved_follow(struct spn_job *j)
{
	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return 1;
	}
	if (j->e.attr.type == S_IFLNK && !(j->req.flags & SPN_F_NOFOLLOW)) {
		follow_last(j);
		return 1;
	}
	return 0;
}

void
spn_stat_resolved(struct spn_job *j)
{
	if (spn_resolved_follow(j))
		return;
	j->rep.attr = j->e.attr;
	if (j->e.flags & SPN_EF_DIRTY) /* writes not yet stored: as they will be */
		spn_wb_attr(j, &j->rep.attr);
	spn_job_reply(j, 0);
}

static int
in_groups(pid_t pid, gid_t want)
{
	char path[64], line[1024];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p, *end;

		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		for (p = line + 7;; p = end) {
			unsigned long g = strtoul(p, &end, 10);

			if (end == p)
				break;
			if (g == want)
				found = 1;
		}
		break;
	}
	fclose(f);
	return found;
}

/* access(2) from the (fresh) attributes, with the caller's credentials as
 * the kernel saw them (SO_PEERCRED). The server still has the last word on
 * every real operation. */
void
spn_access_resolved(struct spn_job *j)
{
	uint32_t mode = j->e.attr.mode, want = j->req.mode & 7, have;
	const struct spn_client *cl = j->cl;

	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	if (want == 0) {
		spn_job_reply(j, 0);
		return;
	}
	if (j->cred.foreign > 0) {
		/* The server answered already, with the caller's ids
		 * (cred_check_done); this is never reached. */
		spn_job_reply(j, 0);
		return;
	}
	if (cl == NULL || cl->uid == 0) {
		/* root: everything but X needs some x bit (or a directory). */
		have = 6 | ((mode & 0111) || j->e.attr.type == S_IFDIR ? 1 : 0);
	} else if (cl->uid == j->e.attr.uid) {
		have = (mode >> 6) & 7;
	} else if (cl->gid == j->e.attr.gid || in_groups(cl->pid, j->e.attr.gid)) {
		have = (mode >> 3) & 7;
	} else {
		have = mode & 7;
	}
	spn_job_reply(j, (want & ~have) ? -EACCES : 0);
}

/* ------------------------------------------------------------ readdir */

struct listing {
	struct spn_job *j;
	struct spn_nfs_res *res;
	char **stale; /* index children the server no longer lists */
	size_t nstale, cap;
};

static int
listing_find(const struct spn_nfs_res *res, const char *name)
{
	size_t i;

	/* Listings are small next to a round trip; a hash would not show. */
	for (i = 0; i < res->nents; i++)
		if (strcmp(res->ents[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int
listing_collect_stale(const char *name, const struct spn_entry *e, void *arg)
{
	struct listing *l = arg;

	if (listing_find(l->res, name) >= 0 || (e->flags & SPN_EF_DIRTY))
		return 0;
	if (l->nstale == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		char **p = realloc(l->stale, ncap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		l->stale = p;
		l->cap = ncap;
	}
	l->stale[l->nstale] = strdup(name);
	if (l->stale[l->nstale] == NULL)
		return -ENOMEM;
	l->nstale++;
	return 0;
}

static int
child_path(const char *dir, const char *name, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Bring the mirror directory and the index in line with a listing. */
static int
apply_listing(struct spn_job *j, struct spn_nfs_res *res)
{
	struct spn_daemon *d = j->d;
	struct listing l = { .j = j, .res = res };
	int64_t now = spn_now_ns();
	char crel[SPN_PATH_MAX];
	struct stat dst;
	size_t i;
	int rc;

	if (strcmp(j->rel, "/") != 0) {
		rc = spn_mirror_mkdir(j->m, j->rel);
		if (rc == -ENOENT) {
			rc = spn_mirror_mkdirs(j->m, j->rel);
			if (rc == 0)
				rc = spn_mirror_mkdir(j->m, j->rel);
		}
		if (rc < 0 && rc != -EEXIST)
			return rc;
		/* A stub or file left where the directory now is: replace. */
		if (spn_mirror_lstat(j->m, j->rel, &dst) == 0 && !S_ISDIR(dst.st_mode)) {
			spn_mirror_remove(j->m, j->rel);
			rc = spn_mirror_mkdir(j->m, j->rel);
			if (rc < 0)
				return rc;
		}
	}
	rc = spn_index_foreach_child(d->idx, (uint16_t)j->m->id, j->rel, listing_collect_stale, &l);
	if (rc < 0)
		goto out;
	rc = spn_index_begin(d->idx);
	if (rc < 0)
		goto out;
	for (i = 0; i < l.nstale; i++) {
		if (child_path(j->rel, l.stale[i], crel, sizeof(crel)) < 0)
			continue;
		spn_debug("listing %s: %s is gone", j->rel, l.stale[i]);
		spn_index_del_tree(d->idx, (uint16_t)j->m->id, crel);
		spn_mirror_remove(j->m, crel);
	}
	for (i = 0; i < res->nents; i++) {
		const struct spn_nfs_dirent *de = &res->ents[i];
		struct spn_entry ce;
		struct stat st;
		int have;

		if (child_path(j->rel, de->name, crel, sizeof(crel)) < 0 ||
		    strlen(de->name) > NAME_MAX || strchr(de->name, '/') != NULL ||
		    strcmp(de->name, ".") == 0 || strcmp(de->name, "..") == 0)
			continue;
		have = spn_index_get(d->idx, (uint16_t)j->m->id, crel, &ce) == 0;
		if (de->attr.type == 0)
			continue; /* no attributes came with it */
		if (have && de->attr.fileid == 0) {
			/* A listing without fileids (NFSv4 through libnfs 4.0):
			 * keep the one a GETATTR told us. */
			struct spn_nfs_dirent *w = (struct spn_nfs_dirent *)de;

			w->attr.fileid = ce.attr.fileid;
		}
		if (have && ce.attr.fileid == de->attr.fileid && ce.attr.type == de->attr.type) {
			if (ce.flags & SPN_EF_DIRTY)
				continue;
			/* READDIRPLUS attributes are as good as a GETATTR. */
			spn_consist_after_revalidate(&d->ac, &ce, &de->attr, now);
			if (de->fh_len > 0) {
				ce.fh_len = de->fh_len;
				memcpy(ce.fh, de->fh, de->fh_len);
			}
			/* Known from a lookup but never materialised (or lost
			 * from the mirror): the listing must show it. */
			if (spn_mirror_lstat(j->m, crel, &st) < 0) {
				if (de->attr.type == S_IFDIR)
					spn_mirror_mkdir(j->m, crel);
				else
					spn_mirror_stub(j->m, d->tmpdir, crel, de->attr.type);
				if (ce.state == SPN_ENT_CACHED && de->attr.type != S_IFDIR)
					ce.state = SPN_ENT_STUB;
			}
			spn_index_put(d->idx, (uint16_t)j->m->id, crel, &ce);
			continue;
		}
		if (have) {
			if (ce.flags & SPN_EF_DIRTY)
				continue;
			/* Another object under this name: drop the old subtree. */
			spn_debug("listing %s: %s is another object", j->rel, crel);
			spn_index_del_tree(d->idx, (uint16_t)j->m->id, crel);
			if (ce.attr.type == S_IFDIR)
				spn_mirror_remove(j->m, crel);
		}
		spn_entry_from_attr(&ce, &de->attr, now, &d->ac);
		ce.fh_len = de->fh_len;
		memcpy(ce.fh, de->fh, de->fh_len);
		if (de->attr.type == S_IFDIR) {
			if (spn_mirror_lstat(j->m, crel, &st) == 0 && !S_ISDIR(st.st_mode))
				spn_mirror_remove(j->m, crel);
			rc = spn_mirror_mkdir(j->m, crel);
			if (rc < 0 && rc != -EEXIST)
				continue;
		} else if (spn_mirror_stub(j->m, d->tmpdir, crel, de->attr.type) < 0) {
			continue;
		}
		rc = spn_index_put(d->idx, (uint16_t)j->m->id, crel, &ce);
		if (rc < 0)
			spn_err("index: cannot record %s: %s", crel, strerror(-rc));
	}
	/* The listing is complete as of the directory's attributes in j->e
	 * (taken just before it): a change since shows as a new mtime. */
	j->e.state = SPN_ENT_CACHED;
	j->e.flags |= SPN_EF_DIR_COMPLETE;
	spn_consist_set_content(&j->e);
	spn_index_put(d->idx, (uint16_t)j->m->id, j->rel, &j->e);
	rc = spn_index_commit(d->idx);
out:
	for (i = 0; i < l.nstale; i++)
		free(l.stale[i]);
	free(l.stale);
	return rc;
}

static void readdir_issue(struct spn_job *j);

static void
readdir_done(struct spn_job *j)
{
	int rc;

	if (j->err == -ESTALE && j->attempts++ == 0) {
		readdir_issue(j); /* by path this time */
		return;
	}
	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	rc = apply_listing(j, j->res);
	if (rc < 0) {
		spn_err("readdir %s: cannot update the mirror: %s", j->req.path, strerror(-rc));
		spn_job_reply(j, -EIO);
		return;
	}
	j->then(j);
}

static void
readdir_issue(struct spn_job *j)
{
	uint8_t fh[SPN_FH_MAX], len;

	if (spn_job_call(j, readdir_issue, readdir_done, 0))
		return;
	if (spn_nfs_has_fh(j->m->nfs) && j->attempts == 0) {
		if (strcmp(j->rel, "/") == 0 && spn_nfs_root_fh(j->m->nfs, fh, &len) == 0) {
			spn_nfs_readdir_fh(j->m->nfs, fh, len, spn_job_cb, j);
			return;
		}
		if (j->e.fh_len > 0) {
			spn_nfs_readdir_fh(j->m->nfs, j->e.fh, j->e.fh_len, spn_job_cb, j);
			return;
		}
	}
	spn_nfs_readdir(j->m->nfs, j->rel, spn_job_cb, j);
}

int
spn_dir_listing_valid(struct spn_job *j)
{
	const struct spn_entry *e = &j->e;

	return (e->flags & SPN_EF_DIR_COMPLETE) &&
	       spn_consist_stamp_equal(&e->content_mtime, &e->content_ctime, e->content_fileid,
				       &e->attr);
}

void
spn_reply_mirror(struct spn_job *j)
{
	int rc = spn_mirror_path(j->m, j->rel, j->rep.path, sizeof(j->rep.path));

	if (rc < 0) {
		spn_job_reply(j, rc);
		return;
	}
	j->rep.attr = j->e.attr;
	spn_job_reply(j, 0);
}

/* j->e is fresh: make sure its listing is in the mirror, then j->then. */
void
spn_ensure_listing(struct spn_job *j, spn_job_fn then)
{
	struct stat st;

	j->then = then;
	if (spn_dir_listing_valid(j) && spn_mirror_lstat(j->m, j->rel, &st) == 0 &&
	    S_ISDIR(st.st_mode)) {
		j->d->cache_hits++;
		then(j);
		return;
	}
	readdir_issue(j);
}

void
spn_readdir_resolved(struct spn_job *j)
{
	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	if (j->e.attr.type != S_IFDIR) {
		spn_job_reply(j, -ENOTDIR);
		return;
	}
	spn_ensure_listing(j, spn_reply_mirror);
}

/* ------------------------------------------------------------ readlink */

static void
readlink_done(struct spn_job *j)
{
	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	if (j->res->target == NULL || j->res->target[0] == '\0' ||
	    strlen(j->res->target) >= sizeof(j->rep.path)) {
		spn_job_reply(j, j->res->target == NULL || j->res->target[0] == '\0' ? -EIO
										   : -ENAMETOOLONG);
		return;
	}
	snprintf(j->rep.path, sizeof(j->rep.path), "%s", j->res->target);
	/* Keep the target in the mirror: the kernel can follow it there. */
	if (spn_mirror_symlink(j->m, j->d->tmpdir, j->rel, j->res->target) == 0) {
		j->e.state = SPN_ENT_CACHED;
		spn_consist_set_content(&j->e);
		spn_job_index_put(j, j->rel, &j->e);
	}
	spn_job_reply(j, 0);
}

void
spn_readlink_resolved(struct spn_job *j)
{
	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	if (j->e.attr.type != S_IFLNK) {
		spn_job_reply(j, -EINVAL);
		return;
	}
	if (spn_consist_content_valid(&j->e) && !spn_mirror_is_stub(j->m, j->rel) &&
	    spn_mirror_readlink(j->m, j->rel, j->rep.path, sizeof(j->rep.path)) > 0) {
		j->d->cache_hits++;
		spn_job_reply(j, 0);
		return;
	}
	spn_job_readlink(j, readlink_done);
}

/* ------------------------------------------------------------ fetch */

static void fetch_issue(struct spn_job *j);

static int
evict_one(uint16_t mount, const char *path, const struct spn_entry *e, void *arg)
{
	struct spn_daemon *d = arg;
	struct spn_wb *wb;

	if (mount >= d->nmounts)
		return SPN_INDEX_KEEP;
	wb = spn_wb_find(d, &d->mounts[mount], path, 0);
	if (wb != NULL)
		return SPN_INDEX_KEEP;
	if (spn_mirror_stub(&d->mounts[mount], d->tmpdir, path, e->attr.type) < 0)
		return SPN_INDEX_KEEP;
	return SPN_INDEX_EVICTED;
}

static void
enforce_cache_cap(struct spn_daemon *d)
{
	uint64_t entries, bytes, dirty, freed = 0;

	if (spn_index_stats(d->idx, &entries, &bytes, &dirty) < 0 || bytes <= d->pol.cache_max)
		return;
	/* Free down to 90% so that eviction does not run at every fetch. */
	spn_index_lru(d->idx, bytes - d->pol.cache_max + d->pol.cache_max / 10, &freed, evict_one,
		      d);
	spn_info("cache over %llu bytes: evicted %llu bytes",
		 (unsigned long long)d->pol.cache_max, (unsigned long long)freed);
}

static void
fetch_done(struct spn_job *j)
{
	const struct spn_attr *post;
	int rc = 0;

	close(j->tmpfd);
	j->tmpfd = -1;
	if ((j->err == -ESTALE && !j->fetch_by_path) ||
	    (j->err == -EAGAIN && ++j->attempts < MAX_FETCH_ATTEMPTS)) {
		/* Again, by path: the handle we knew is gone (the name may be
		 * another file now), or the file changed while read (a fetch
		 * by handle reads up to the size we knew, which may be the
		 * old one; by path the size is asked first). */
		j->fetch_by_path = 1;
		unlink(j->tmp);
		j->tmp[0] = '\0';
		fetch_issue(j);
		return;
	}
	if (j->err < 0) {
		unlink(j->tmp);
		j->tmp[0] = '\0';
		j->then(j);
		return;
	}
	post = &j->res->attr;
	/* Changed while we read it: the copy may mix two versions. */
	if ((post->mtime.sec != j->e.attr.mtime.sec || post->mtime.nsec != j->e.attr.mtime.nsec ||
	     post->size != j->e.attr.size || post->fileid != j->e.attr.fileid)) {
		spn_consist_after_revalidate(&j->d->ac, &j->e, post, spn_now_ns());
		if (++j->attempts < MAX_FETCH_ATTEMPTS) {
			unlink(j->tmp);
			j->tmp[0] = '\0';
			fetch_issue(j);
			return;
		}
	}
	{
		/* Opened for writing by another process while we read: its
		 * copy is open and being written. Installing ours would
		 * replace that inode under it (its writes lost): keep it. */
		struct spn_entry cur;

		if (spn_job_index_get(j, j->rel, &cur) == 0 && (cur.flags & SPN_EF_DIRTY)) {
			unlink(j->tmp);
			j->tmp[0] = '\0';
			j->e = cur;
			j->err = 0;
			j->then(j);
			return;
		}
	}
	if (chmod(j->tmp, (mode_t)spn_mirror_mode(post->mode)) < 0)
		rc = -errno;
	if (rc == 0)
		rc = spn_mirror_install(j->m, j->tmp, j->rel);
	if (rc < 0) {
		spn_err("fetch %s: cannot install %s: %s", j->req.path, j->rel, strerror(-rc));
		j->err = -EIO;
		j->then(j);
		return;
	}
	j->tmp[0] = '\0';
	j->d->fetches++;
	j->e.attr = *post;
	j->e.state = SPN_ENT_CACHED;
	spn_consist_set_content(&j->e);
	j->e.cached_bytes = j->res->bytes;
	j->e.validated_ns = spn_now_ns();
	if (j->res->fh_len > 0) {
		j->e.fh_len = j->res->fh_len;
		memcpy(j->e.fh, j->res->fh, j->res->fh_len);
	}
	spn_job_index_put(j, j->rel, &j->e);
	enforce_cache_cap(j->d);
	j->err = 0;
	j->then(j);
}

static void
fetch_issue(struct spn_job *j)
{
	if (spn_job_call(j, fetch_issue, fetch_done, 0))
		return;
	if (j->tmpfd < 0) {
		if (j->tmp[0] != '\0')
			unlink(j->tmp);
		j->tmpfd = spn_mirror_tmpfile(j->d->tmpdir, j->tmp, sizeof(j->tmp));
		if (j->tmpfd < 0) {
			spn_err("fetch %s: cannot create a cache file: %s", j->req.path,
				strerror(-j->tmpfd));
			j->err = j->tmpfd == -ENOSPC ? -ENOSPC : -EIO;
			j->tmpfd = -1;
			j->tmp[0] = '\0';
			j->then(j);
			return;
		}
	} else if (ftruncate(j->tmpfd, 0) < 0) {
		j->err = -errno;
		j->then(j);
		return;
	}
	if (spn_nfs_has_fh(j->m->nfs) && j->e.fh_len > 0 &&
	    !(j->e.flags & SPN_EF_CREATED_LOCALLY) && !j->fetch_by_path)
		spn_nfs_fetch_fh(j->m->nfs, j->e.fh, j->e.fh_len, j->e.attr.size, j->tmpfd,
				 spn_job_cb, j);
	else
		spn_nfs_fetch(j->m->nfs, j->rel, j->tmpfd, spn_job_cb, j);
}

/* j->e is fresh: make sure the mirror holds its content, then j->then. */
static void
ensure_content(struct spn_job *j, spn_job_fn then)
{
	struct stat st;

	j->then = then;
	if ((j->e.flags & SPN_EF_DIRTY) ||
	    (spn_consist_content_valid(&j->e) && spn_mirror_lstat(j->m, j->rel, &st) == 0 &&
	     S_ISREG(st.st_mode))) {
		j->d->cache_hits++;
		then(j);
		return;
	}
	j->attempts = 0;
	fetch_issue(j);
}

/* ------------------------------------------------------------ open */

static void create_issue(struct spn_job *j);

/*
 * Mark an entry dirty in the journal before the client may write. The
 * mark is committed (a daemon killed now leaves it for the next one), and
 * reaches the disk a few ms later, off the reply's path (it cost 1.3-3.8
 * ms per create here: configure and every compile make files). An OS
 * crash in those ms could lose the mark -- but it would lose the client's
 * writes with it: they are in the page cache of the mirror file, which is
 * never synced before the store either. What an OS crash cannot lose is
 * only what reached the server (close under off and cto, fsync).
 */
int
spn_open_for_write(struct spn_job *j)
{
	struct spn_wb *wb = spn_wb_find(j->d, j->m, j->rel, 1);
	int rc;

	if (wb == NULL)
		return -ENOMEM;
	if (j->req.flags & O_TRUNC) {
		rc = spn_mirror_truncate(j->m, j->rel, 0);
		if (rc < 0)
			return rc;
	}
	j->e.flags |= SPN_EF_DIRTY;
	j->e.dirty_gen++;
	rc = spn_job_index_put(j, j->rel, &j->e);
	if (rc == 0)
		rc = spn_index_sync_soon(j->d->idx);
	if (rc < 0)
		return rc;
	wb->writers++;
	/* A foreign writer's data goes to the server with its ids. */
	wb->cred = j->cred;
	wb->clean = 0;
	spn_wb_watch(j, wb);
	return 0;
}

static void
open_ready(struct spn_job *j)
{
	int rc;

	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	if ((j->req.flags & O_ACCMODE) != O_RDONLY || (j->req.flags & O_TRUNC)) {
		rc = spn_open_for_write(j);
		if (rc < 0) {
			spn_err("open %s for writing: %s", j->req.path, strerror(-rc));
			spn_job_reply(j, rc == -ENOSPC ? rc : -EIO);
			return;
		}
	}
	spn_reply_mirror(j);
}

/* Follow a symlink on the server's side of the mount: j->rel becomes the
 * target (when it stays on this mount) and the open starts over. */
static void
open_follow_done(struct spn_job *j)
{
	char link[SPN_PATH_MAX * 2], dest[SPN_PATH_MAX];
	struct spn_mount *m;
	int rc;

	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	/* Where the kernel would go on: composed in the client's name space,
	 * so that a target leaving the mount leaves it here too. */
	snprintf(link, sizeof(link), "%s%s", j->m->prefix, strcmp(j->rel, "/") == 0 ? "" : j->rel);
	rc = spn_link_compose(link, j->res->target, "", dest, sizeof(dest));
	if (rc < 0) {
		spn_job_reply(j, rc);
		return;
	}
	m = spn_find_mount(j->d, dest, j->rel, sizeof(j->rel), &rc);
	if (m == NULL) {
		/* Outside NFS: the client opens that path itself. */
		snprintf(j->rep.path, sizeof(j->rep.path), "%s", dest);
		j->rep.spec |= SPN_SPEC_REDIRECT;
		spn_job_reply(j, -EXDEV);
		return;
	}
	j->m = m;
	spn_resolve(j, 1, spn_open_resolved);
}

/*
 * Several opens with O_CREAT of one new name race (8 processes appending
 * to one log): each saw ENOENT and sent its CREATE (not exclusive, so all
 * succeed). The first to get here made the mirror copy, and its process
 * may be writing already; the others must open that same copy -- never
 * truncate or replace it, or what was written so far is lost. 1 if j was
 * answered that way.
 */
static int
create_shared(struct spn_job *j)
{
	struct spn_entry cur;
	struct stat st;

	if (spn_job_index_get(j, j->rel, &cur) < 0 || !(cur.flags & SPN_EF_DIRTY) ||
	    cur.attr.type != S_IFREG || spn_mirror_lstat(j->m, j->rel, &st) < 0 ||
	    !S_ISREG(st.st_mode))
		return 0;
	j->e = cur;
	if (j->res->fh_len > 0 && j->e.fh_len > 0 &&
	    (j->e.fh_len != j->res->fh_len || memcmp(j->e.fh, j->res->fh, j->res->fh_len) != 0)) {
		/* The name's file on the server is the one CREATE answered
		 * with: a handle we kept from before is another file's (one
		 * removed behind our back, whose inode the server may still
		 * write into), and the store must not go there. */
		j->e.fh_len = j->res->fh_len;
		memcpy(j->e.fh, j->res->fh, j->res->fh_len);
		j->e.attr.fileid = j->res->attr.fileid;
		spn_job_index_put(j, j->rel, &j->e);
	} else if (j->e.fh_len == 0 && !(j->e.flags & SPN_EF_CREATED_LOCALLY)) {
		j->e.fh_len = j->res->fh_len;
		memcpy(j->e.fh, j->res->fh, j->res->fh_len);
	}
	j->have_e = 1;
	j->err = 0;
	open_ready(j);
	return 1;
}

static void
create_done(struct spn_job *j)
{
	int fd, rc;

	if (j->lost && (j->req.flags & O_EXCL) && j->verf != 0 && !j->store_by_path) {
		/* EXCLUSIVE: the same call again tells whether the file is
		 * the one it made (existence alone would not: O_EXCL). */
		j->lost = 0;
		create_issue(j);
		return;
	}
	if (j->lost) {
		/* Did the CREATE happen before the session was lost? Look. */
		j->lost = 0;
		spn_resolve(j, 1, spn_open_resolved);
		return;
	}
	if (j->err == -EOPNOTSUPP && j->verf != 0) {
		/* A server without EXCLUSIVE: GUARDED. */
		j->verf = 0;
		j->err = 0;
		create_issue(j);
		return;
	}
	if (spn_create_by_path_again(j)) {
		create_issue(j);
		return;
	}
	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	if (create_shared(j))
		return;
	spn_entry_from_attr(&j->e, &j->res->attr, spn_now_ns(), &j->d->ac);
	j->e.fh_len = j->res->fh_len;
	memcpy(j->e.fh, j->res->fh, j->res->fh_len);
	j->have_e = 1;
	rc = spn_mirror_mkdirs(j->m, j->rel);
	if (rc == 0) {
		fd = spn_mirror_create(j->m, j->rel, spn_mirror_mode(j->e.attr.mode));
		if (fd < 0)
			rc = fd;
		else
			close(fd);
	}
	if (rc < 0) {
		spn_err("create %s: cannot make the mirror file: %s", j->req.path, strerror(-rc));
		spn_job_reply(j, -EIO);
		return;
	}
	j->e.state = SPN_ENT_CACHED;
	spn_consist_set_content(&j->e);
	spn_job_index_put(j, j->rel, &j->e);
	spn_parent_after_own(j, j->rel, j->res);
	j->err = 0;
	open_ready(j);
}

/* CREATE: by the parent's handle when we know it (NFSv3: one round
 * trip), else by path (a LOOKUP per component first). */
/* NFSv3: the handle of j->rel's parent (on the server already) and the
 * last name, for a call by handle; NULL if it must go by path. */
const char *
spn_parent_handle(struct spn_job *j, struct spn_entry *pe)
{
	char parent[SPN_PATH_MAX];
	const char *name = strrchr(j->rel, '/');

	if (j->store_by_path || !spn_nfs_has_fh(j->m->nfs) || name == NULL || name[1] == '\0')
		return NULL;
	spn_parent_of(j->rel, parent, sizeof(parent));
	if (spn_job_index_get(j, parent, pe) < 0)
		memset(pe, 0, sizeof(*pe));
	/* The export's root: the session knows its handle (a path walk
	 * from it costs round trips of its own). */
	if (pe->fh_len == 0 && strcmp(parent, "/") == 0 &&
	    spn_nfs_root_fh(j->m->nfs, pe->fh, &pe->fh_len) < 0)
		pe->fh_len = 0;
	if (pe->fh_len == 0 || (pe->flags & SPN_EF_CREATED_LOCALLY))
		return NULL;
	return name + 1;
}

void
spn_send_create(struct spn_job *j, int excl)
{
	struct spn_entry pe;
	const char *name = spn_parent_handle(j, &pe);

	if (name != NULL) {
		if (excl && !j->verf_set) {
			/* Random, so that no other client's is the same. */
			if (getrandom(&j->verf, sizeof(j->verf), GRND_NONBLOCK) !=
			    (ssize_t)sizeof(j->verf))
				j->verf = (uint64_t)spn_now_ns() ^ (uint64_t)(uintptr_t)j;
			j->verf |= 1; /* never 0 */
			j->verf_set = 1;
		}
		spn_nfs_create_fh(j->m->nfs, pe.fh, pe.fh_len, name, (int)(j->req.mode & 07777),
				  excl, j->verf, spn_job_cb, j);
		return;
	}
	spn_nfs_create(j->m->nfs, j->rel, (int)(j->req.mode & 07777), excl, spn_job_cb, j);
}

/* The create by handle could not finish: by path. (-EREMOTEIO: it was
 * made, but the reply lacked its handle; it is ours, so not exclusive.) */
int
spn_create_by_path_again(struct spn_job *j)
{
	if (j->store_by_path || (j->err != -ESTALE && j->err != -EREMOTEIO))
		return 0;
	j->store_by_path = 1;
	if (j->err == -EREMOTEIO)
		j->req.flags &= ~(uint32_t)O_EXCL;
	j->err = 0;
	return 1;
}

static void
create_issue(struct spn_job *j)
{
	if (spn_job_call(j, create_issue, create_done, 1))
		return;
	spn_send_create(j, !!(j->req.flags & O_EXCL));
}

/* A FIFO on NFS is local to this machine, as on a kernel mount: the
 * mirror holds a real FIFO that the program opens (and may block on, as
 * it would locally). The daemon makes it and never opens it. */
static void
open_fifo(struct spn_job *j)
{
	struct stat st;
	int rc = 0;

	if (spn_mirror_lstat(j->m, j->rel, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		rc = spn_mirror_mkdirs(j->m, j->rel);
		if (rc == 0)
			rc = spn_mirror_mkfifo(j->m, j->d->tmpdir, j->rel);
	}
	if (rc < 0) {
		spn_err("open %s: cannot make the FIFO: %s", j->req.path, strerror(-rc));
		spn_job_reply(j, -EIO);
		return;
	}
	spn_reply_mirror(j);
}

void
spn_open_resolved(struct spn_job *j)
{
	uint32_t acc = j->req.flags & O_ACCMODE;

	if (j->err == -ENOENT && (j->req.flags & O_CREAT)) {
		create_issue(j);
		return;
	}
	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	if ((j->req.flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) {
		spn_job_reply(j, -EEXIST);
		return;
	}
	switch (j->e.attr.type) {
	case S_IFLNK:
		if (j->req.flags & O_NOFOLLOW) {
			spn_job_reply(j, -ELOOP);
			return;
		}
		if (++j->hops > SPN_MAX_SYMLINK_HOPS) {
			spn_job_reply(j, -ELOOP);
			return;
		}
		spn_job_readlink(j, open_follow_done);
		return;
	case S_IFDIR:
		if (acc != O_RDONLY || (j->req.flags & O_CREAT)) {
			spn_job_reply(j, -EISDIR);
			return;
		}
		spn_ensure_listing(j, spn_reply_mirror);
		return;
	case S_IFREG:
		break;
	case S_IFIFO:
		open_fifo(j);
		return;
	default:
		/* Devices and sockets on NFS: not opened through the mirror
		 * (a socket is ENXIO locally too; devices as on a nodev mount). */
		spn_job_reply(j, -ENXIO);
		return;
	}
	if (j->req.flags & O_DIRECTORY) {
		spn_job_reply(j, -ENOTDIR);
		return;
	}
	if ((j->req.flags & O_TRUNC) && acc != O_RDONLY) {
		/* The content is about to go: no need to fetch it. */
		int fd;

		if (spn_mirror_mkdirs(j->m, j->rel) == 0) {
			fd = spn_mirror_create(j->m, j->rel, spn_mirror_mode(j->e.attr.mode));
			if (fd >= 0) {
				close(fd);
				j->e.state = SPN_ENT_CACHED;
				open_ready(j);
				return;
			}
		}
		spn_job_reply(j, -EIO);
		return;
	}
	ensure_content(j, open_ready);
}

/* ------------------------------------------------------------ statfs */

static void
statfs_done(struct spn_job *j)
{
	const struct spn_nfs_statfs *s;

	if (j->err < 0) {
		spn_job_reply(j, j->err);
		return;
	}
	s = &j->res->sfs;
	j->rep.sfs.bsize = s->bsize;
	j->rep.sfs.blocks = s->blocks;
	j->rep.sfs.bfree = s->bfree;
	j->rep.sfs.bavail = s->bavail;
	j->rep.sfs.files = s->files;
	j->rep.sfs.ffree = s->ffree;
	j->rep.sfs.favail = s->ffree;
	j->rep.sfs.namemax = s->namemax;
	spn_job_reply(j, 0);
}

void
spn_statfs_issue(struct spn_job *j)
{
	if (spn_job_call(j, spn_statfs_issue, statfs_done, 0))
		return;
	spn_nfs_statfs(j->m->nfs, j->rel, spn_job_cb, j);
}
