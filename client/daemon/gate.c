/*
 * daemon/gate.c: symbolic links in a request's path. Every directory above
 * the request's name must be known to be a directory before the request
 * runs; a symlink among them is followed on the client's side, never by
 * the server or libnfs.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "client/daemon/internal.h"
#include "client/log.h"
#include "client/path.h"
#include "client/spec/epoch.h"

/*
 * spn_path_gate: a symbolic link above a request's last name is the client's
 * to follow (see daemon/mirror.c). Before a request runs, every directory
 * above its name (and above RENAME/LINK's second name) must be known to be
 * a directory; one not in the index is looked up first (lstat semantics:
 * its own ancestors are directories by then, so neither the server nor
 * libnfs ever follows a link for us). A symlink among them is read and the
 * path recomposed: on a mount, the request goes on as that path; off every
 * mount, the client hears a redirect. A name below a non-directory is
 * ENOTDIR, as locally.
 */

static char *
gate_target(struct spn_job *j)
{
	return j->gating == 2 ? j->rel2 : j->rel;
}

/*
 * An ancestor anc of a request's path is not in the index. If the request
 * is a read the daemon may predict (a prediction asked for, and a read by
 * the speculation rules of spec/epoch.c) and the directory above anc is listed
 * completely, anc is known to be absent: the request's answer is ENOENT,
 * which spn_predict() gives from the same listing and the validation
 * checks on the server. Looking anc up first would make every include
 * probe through a missing directory (gcc tries inc/bits/x.h in each -I
 * directory) wait a round trip.
 */
static int
gate_known_absent(struct spn_job *j, const char *anc)
{
	char parent[SPN_PATH_MAX];
	struct spn_entry pe;

	if (!(j->req.spec & SPN_SPEC_PREDICT) ||
	    spn_spec_kind(j->req.op, j->req.flags, NULL) != SPN_SK_READ)
		return 0;
	spn_parent_of(anc, parent, sizeof(parent));
	return spn_job_index_get(j, parent, &pe) == 0 && pe.attr.type == S_IFDIR &&
	       (pe.flags & SPN_EF_DIR_COMPLETE);
}

/* The ancestor of rel that needs work: 0 all directories (or one known
 * absent), 1 unknown, 2 a symlink (its entry in *e), or -ENOTDIR. Its path
 * into anc. */
static int
gate_scan(struct spn_job *j, const char *rel, char *anc, size_t len, struct spn_entry *e)
{
	const char *p;

	for (p = strchr(rel + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
		snprintf(anc, len, "%.*s", (int)(p - rel), rel);
		if (spn_job_index_get(j, anc, e) < 0)
			return gate_known_absent(j, anc) ? 0 : 1;
		if (e->attr.type == S_IFDIR)
			continue;
		return e->attr.type == S_IFLNK ? 2 : -ENOTDIR;
	}
	return 0;
}

/* Put the request's paths back after work on an ancestor in j->rel. */
void
spn_gate_restore(struct spn_job *j)
{
	if (j->gating == 2) {
		snprintf(j->rel2, sizeof(j->rel2), "%s", j->gate_rel);
		snprintf(j->rel, sizeof(j->rel), "%s", j->child);
		j->child[0] = '\0';
	} else {
		snprintf(j->rel, sizeof(j->rel), "%s", j->gate_rel);
	}
	j->gating = 0;
	j->have_e = 0;
}

/* The link at j->rel (an ancestor of gate_rel) points at target: go on. */
void
spn_gate_follow(struct spn_job *j, const char *target)
{
	char link[SPN_PATH_MAX + 64], out[SPN_PATH_MAX], rel[SPN_PATH_MAX];
	struct spn_mount *m;
	size_t al = strlen(j->rel);
	int rc, which = j->gating;

	snprintf(link, sizeof(link), "%s%s", j->m->prefix, j->rel);
	rc = spn_link_compose(link, target, j->gate_rel + al + 1, out, sizeof(out));
	spn_gate_restore(j);
	if (rc == 0 && ++j->hops > SPN_MAX_SYMLINK_HOPS)
		rc = -ELOOP;
	if (rc < 0) {
		spn_job_reply(j, rc);
		return;
	}
	m = spn_find_mount(j->d, out, rel, sizeof(rel), &rc);
	if (m == NULL || (which == 2 && m != j->m)) {
		/* Off NFS (or RENAME/LINK across mounts): the client's. */
		spn_debug("%s crosses a symlink to %s", j->req.path, out);
		if (which == 2) {
			spn_job_reply(j, -EXDEV);
			return;
		}
		snprintf(j->rep.path, sizeof(j->rep.path), "%s", out);
		j->rep.spec |= SPN_SPEC_REDIRECT;
		spn_job_reply(j, -EXDEV);
		return;
	}
	if (which == 2) {
		snprintf(j->rel2, sizeof(j->rel2), "%s", rel);
	} else {
		if (m != j->m && (j->req.op == SPN_OP_RENAME || j->req.op == SPN_OP_LINK)) {
			spn_job_reply(j, -EXDEV);
			return;
		}
		j->m = m;
		snprintf(j->rel, sizeof(j->rel), "%s", rel);
	}
	spn_path_gate(j);
}

static void
gate_readlink_done(struct spn_job *j)
{
	char target[SPN_PATH_MAX];

	if (j->err < 0 || j->res->target == NULL || j->res->target[0] == '\0' ||
	    strlen(j->res->target) >= sizeof(target)) {
		int err = j->err < 0 ? j->err : -EIO;

		spn_gate_restore(j);
		spn_job_reply(j, err);
		return;
	}
	snprintf(target, sizeof(target), "%s", j->res->target);
	if (spn_mirror_symlink(j->m, j->d->tmpdir, j->rel, target) == 0 &&
	    spn_job_index_get(j, j->rel, &j->e) == 0) {
		j->e.state = SPN_ENT_CACHED;
		spn_consist_set_content(&j->e);
		spn_job_index_put(j, j->rel, &j->e);
	}
	spn_gate_follow(j, target);
}

void
spn_gate_readlink_issue(struct spn_job *j)
{
	spn_job_readlink(j, gate_readlink_done);
}

/* An ancestor was looked up: scan again (or fail as the lookup did). */
static void
gate_resolved(struct spn_job *j)
{
	int err = j->err;

	spn_gate_restore(j);
	j->err = 0;
	if (err < 0) {
		spn_job_reply(j, err);
		return;
	}
	spn_path_gate(j);
}

void
spn_path_gate(struct spn_job *j)
{
	char anc[SPN_PATH_MAX], target[SPN_PATH_MAX];
	struct spn_entry e;
	int which, rc = 0;

	for (which = 1; which <= 2; which++) {
		if (which == 2 && j->req.op != SPN_OP_RENAME && j->req.op != SPN_OP_LINK)
			break;
		j->gating = which;
		rc = gate_scan(j, gate_target(j), anc, sizeof(anc), &e);
		if (rc != 0)
			break;
	}
	if (rc == 0) {
		j->gating = 0;
		spn_job_begin(j);
		return;
	}
	if (rc < 0) {
		j->gating = 0;
		spn_job_reply(j, rc);
		return;
	}
	/* Work on the ancestor in j->rel; the request's path waits in
	 * gate_rel (and, for the second name, rel in child). */
	snprintf(j->gate_rel, sizeof(j->gate_rel), "%s", gate_target(j));
	if (j->gating == 2)
		snprintf(j->child, sizeof(j->child), "%s", j->rel);
	snprintf(j->rel, sizeof(j->rel), "%s", anc);
	if (rc == 1) {
		spn_resolve(j, 0, gate_resolved);
		return;
	}
	if (spn_consist_content_valid(&e) && !spn_mirror_is_stub(j->m, j->rel) &&
	    spn_mirror_readlink(j->m, j->rel, target, sizeof(target)) > 0) {
		spn_gate_follow(j, target);
		return;
	}
	spn_gate_readlink_issue(j);
}
