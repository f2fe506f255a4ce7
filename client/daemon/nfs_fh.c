/*
 * daemon/nfs_fh.c: the NFSv3 calls by file handle (see daemon/nfs.h,
 * spn_nfs_*_fh), through libnfs's raw RPC API; the session and op
 * plumbing are daemon/nfs.c's (daemon/nfs_op.h).
 *
 * libnfs resolves every path from the export root, one LOOKUP per
 * component, and remembers nothing. With NFSv3 the daemon can do better:
 * it keeps each entry's file handle in the index and asks the server by
 * handle -- one RPC for a GETATTR, one LOOKUP for a name in a known
 * directory, one READDIRPLUS for a listing that also hands out every
 * child's handle. NFSv4 uses the calls by path (daemon/nfs.c).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "client/daemon/nfs_op.h"

/* libnfs 4.0's nfs_get_fh()/nfs_get_rootfh() return this private struct;
 * its layout is part of what those exported functions promise. */
struct spn_libnfs_fh {
	int len;
	char *val;
};
/* Exported by libnfs 4.0 but declared only in its private header. */
const struct nfs_fh *nfs_get_rootfh(struct nfs_context *nfs);

int
spn_nfs3_err(int status)
{
	switch (status) {
	case NFS3ERR_NAMETOOLONG: return -ENAMETOOLONG;
	case NFS3ERR_NOTEMPTY: return -ENOTEMPTY;
	case NFS3ERR_DQUOT: return -EDQUOT;
	case NFS3ERR_STALE:
	case NFS3ERR_BADHANDLE: return -ESTALE;
	case NFS3ERR_REMOTE: return -EREMOTE;
	case NFS3ERR_NOTSUPP: return -EOPNOTSUPP;
	case NFS3ERR_JUKEBOX: return -EAGAIN;
	default:
		return status > 0 && status < 1000 ? -status : -EIO;
	}
}

int
spn_nfs3_rpc_err(int status)
{
	switch (status) {
	case RPC_STATUS_SUCCESS: return 0;
	case RPC_STATUS_CANCEL:
	case RPC_STATUS_TIMEOUT: return -EINTR;
	default: return -EFAULT;
	}
}

uint32_t
spn_nfs3_type(uint32_t ftype3)
{
	static const uint32_t types[] = { 0, S_IFREG, S_IFDIR, S_IFBLK, S_IFCHR,
					  S_IFLNK, S_IFSOCK, S_IFIFO };

	return ftype3 < 8 ? types[ftype3] : 0;
}

static void
attr_from_fattr3(struct spn_attr *a, const fattr3 *f)
{
	memset(a, 0, sizeof(*a));
	a->type = spn_nfs3_type((uint32_t)f->type);
	a->mode = f->mode & 07777;
	a->nlink = f->nlink;
	a->uid = f->uid;
	a->gid = f->gid;
	a->size = f->size;
	a->used = f->used;
	a->rdev = makedev(f->rdev.specdata1, f->rdev.specdata2);
	a->fsid = f->fsid;
	a->fileid = f->fileid;
	a->atime.sec = f->atime.seconds;
	a->atime.nsec = f->atime.nseconds;
	a->mtime.sec = f->mtime.seconds;
	a->mtime.nsec = f->mtime.nseconds;
	a->ctime.sec = f->ctime.seconds;
	a->ctime.nsec = f->ctime.nseconds;
	spn_nfsop_attr_fix(a);
}

int
spn_nfs_has_fh(const struct spn_nfs *n)
{
	return n->version == 3 && n->state == SPN_NFS_UP && n->nfs != NULL;
}

int
spn_nfs_root_fh(const struct spn_nfs *n, uint8_t *fh, uint8_t *len)
{
	const struct spn_libnfs_fh *r;

	if (!spn_nfs_has_fh(n))
		return -ENOTCONN;
	r = (const struct spn_libnfs_fh *)nfs_get_rootfh(n->nfs);
	if (r == NULL || r->len <= 0 || r->len > SPN_FH_MAX)
		return -EINVAL;
	memcpy(fh, r->val, (size_t)r->len);
	*len = (uint8_t)r->len;
	return 0;
}

void
spn_nfs3_fh_arg(nfs_fh3 *dst, const uint8_t *fh, uint8_t len)
{
	dst->data.data_len = len;
	dst->data.data_val = (char *)fh;
}

/* The common start of a raw NFSv3 callback (every *3res begins with its
 * nfsstat3): 1 to go on with a good reply, 0 when the op is finished. */
static int
rpc3_ok(struct spn_nfs_op *op, int status, void *data)
{
	int err = spn_nfs3_rpc_err(status);

	if (err == 0 && *(const nfsstat3 *)data != NFS3_OK)
		err = spn_nfs3_err(*(const nfsstat3 *)data);
	return spn_nfsop_ok(op, err, err < 0 && status != RPC_STATUS_SUCCESS ? data : NULL);
}

static void
getattr_fh_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;
	GETATTR3res *res = data;

	if (!rpc3_ok(op, status, data))
		return;
	attr_from_fattr3(&op->res.attr, &res->GETATTR3res_u.resok.obj_attributes);
	spn_nfsop_finish(op, 0);
}

int
spn_nfs_getattr_fh(struct spn_nfs *n, const uint8_t *fh, uint8_t len, spn_nfs_cb cb, void *arg)
{
	struct spn_nfs_op *op = spn_nfsop_new(n, SPN_CALL_GETATTR, cb, arg);
	GETATTR3args args;

	if (op == NULL)
		return -ENOMEM;
	memset(&args, 0, sizeof(args));
	spn_nfs3_fh_arg(&args.object, fh, len);
	START(op, rpc_nfs3_getattr_async(nfs_get_rpc_context(n->nfs), getattr_fh_cb, &args, op));
}

static void
lookup_fh_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;
	LOOKUP3res *res = data;
	LOOKUP3resok *ok;

	if (!rpc3_ok(op, status, data))
		return;
	ok = &res->LOOKUP3res_u.resok;
	if (!ok->obj_attributes.attributes_follow || ok->object.data.data_len > SPN_FH_MAX) {
		/* No attributes with the handle: rare; the caller uses paths. */
		spn_nfsop_finish(op, -EREMOTEIO);
		return;
	}
	attr_from_fattr3(&op->res.attr, &ok->obj_attributes.post_op_attr_u.attributes);
	memcpy(op->res.fh, ok->object.data.data_val, ok->object.data.data_len);
	op->res.fh_len = (uint8_t)ok->object.data.data_len;
	spn_nfsop_finish(op, 0);
}

/* An op on a name in the directory with handle dirfh: where is the
 * call's diropargs3 (in arguments the caller has zeroed). */
static struct spn_nfs_op *
dirop_new(struct spn_nfs *n, enum spn_nfs_call kind, diropargs3 *where, const uint8_t *dirfh,
	  uint8_t len, const char *name, spn_nfs_cb cb, void *arg)
{
	struct spn_nfs_op *op = spn_nfsop_new(n, kind, cb, arg);

	if (op != NULL) {
		spn_nfs3_fh_arg(&where->dir, dirfh, len);
		where->name = (char *)name;
	}
	return op;
}

int
spn_nfs_lookup_fh(struct spn_nfs *n, const uint8_t *dirfh, uint8_t len, const char *name,
		  spn_nfs_cb cb, void *arg)
{
	struct spn_nfs_op *op;
	LOOKUP3args args;

	memset(&args, 0, sizeof(args));
	op = dirop_new(n, SPN_CALL_LOOKUP, &args.what, dirfh, len, name, cb, arg);
	if (op == NULL)
		return -ENOMEM;
	START(op, rpc_nfs3_lookup_async(nfs_get_rpc_context(n->nfs), lookup_fh_cb, &args, op));
}

/* The reply to a CREATE or MKDIR by handle: the new object's handle and
 * attributes, or -EREMOTEIO if the reply lacks them (it was made; the
 * caller looks it up). */
static void
new_object_done(struct spn_nfs_op *op, const post_op_fh3 *obj, const post_op_attr *attrs)
{
	if (!obj->handle_follows || !attrs->attributes_follow ||
	    obj->post_op_fh3_u.handle.data.data_len > SPN_FH_MAX) {
		spn_nfsop_finish(op, -EREMOTEIO);
		return;
	}
	attr_from_fattr3(&op->res.attr, &attrs->post_op_attr_u.attributes);
	memcpy(op->res.fh, obj->post_op_fh3_u.handle.data.data_val,
	       obj->post_op_fh3_u.handle.data.data_len);
	op->res.fh_len = (uint8_t)obj->post_op_fh3_u.handle.data.data_len;
	spn_nfsop_finish(op, 0);
}

/* The directory's wcc_data of a CREATE or MKDIR into op->res. */
static void
dir_wcc_from(struct spn_nfs_op *op, const wcc_data *w)
{
	struct spn_nfs_wcc *o = &op->res.dir_wcc;

	if (w->before.attributes_follow) {
		const wcc_attr *b = &w->before.pre_op_attr_u.attributes;

		o->have_before = 1;
		o->size_before = b->size;
		o->mtime_before = (struct spn_time){ b->mtime.seconds, b->mtime.nseconds };
		o->ctime_before = (struct spn_time){ b->ctime.seconds, b->ctime.nseconds };
	}
	if (w->after.attributes_follow) {
		o->have_after = 1;
		attr_from_fattr3(&o->after, &w->after.post_op_attr_u.attributes);
	}
}

static void setattr_fh_cb(struct rpc_context *rpc, int status, void *data, void *priv);

/* CREATE in a directory known by handle: one round trip (EXCLUSIVE: and
 * a SETATTR of the mode and times by the new handle). */
static void
create_fh_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;
	CREATE3res *res = data;
	const post_op_fh3 *obj = &res->CREATE3res_u.resok.obj;
	SETATTR3args args;

	(void)rpc;
	if (!rpc3_ok(op, status, data))
		return;
	dir_wcc_from(op, &res->CREATE3res_u.resok.dir_wcc);
	if (op->step != 1) {
		new_object_done(op, obj, &res->CREATE3res_u.resok.obj_attributes);
		return;
	}
	if (!obj->handle_follows || obj->post_op_fh3_u.handle.data.data_len > SPN_FH_MAX) {
		spn_nfsop_finish(op, -EREMOTEIO);
		return;
	}
	memcpy(op->res.fh, obj->post_op_fh3_u.handle.data.data_val,
	       obj->post_op_fh3_u.handle.data.data_len);
	op->res.fh_len = (uint8_t)obj->post_op_fh3_u.handle.data.data_len;
	memset(&args, 0, sizeof(args));
	spn_nfs3_fh_arg(&args.object, op->res.fh, op->res.fh_len);
	spn_nfs3_sattr_from(&args.new_attributes, &op->sa);
	op->kind = SPN_CALL_SETATTR;
	if (QUEUE(op, rpc_nfs3_setattr_async(nfs_get_rpc_context(op->n->nfs), setattr_fh_cb, &args,
					     op)) < 0)
		spn_nfsop_finish(op, -ENOTCONN);
}

/* MKDIR in a directory known by handle: one round trip. */
static void
mkdir_fh_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;
	MKDIR3res *res = data;

	(void)rpc;
	if (!rpc3_ok(op, status, data))
		return;
	if (res->MKDIR3res_u.resok.obj_attributes.attributes_follow) {
		/* A new directory: its mtime is the server's now. */
		const nfstime3 *t =
		    &res->MKDIR3res_u.resok.obj_attributes.post_op_attr_u.attributes.mtime;
		struct spn_time st = { t->seconds, t->nseconds };

		spn_nfsop_clock_sample(op->n, &st, op->sent_ns);
	}
	dir_wcc_from(op, &res->MKDIR3res_u.resok.dir_wcc);
	new_object_done(op, &res->MKDIR3res_u.resok.obj, &res->MKDIR3res_u.resok.obj_attributes);
}

int
spn_nfs_mkdir_fh(struct spn_nfs *n, const uint8_t *dirfh, uint8_t len, const char *name, int mode,
		 spn_nfs_cb cb, void *arg)
{
	struct spn_nfs_op *op;
	MKDIR3args args;

	memset(&args, 0, sizeof(args));
	op = dirop_new(n, SPN_CALL_MKDIR, &args.where, dirfh, len, name, cb, arg);
	if (op == NULL)
		return -ENOMEM;
	args.attributes.mode.set_it = 1;
	args.attributes.mode.set_mode3_u.mode = (mode3)(mode & 07777);
	START(op, rpc_nfs3_mkdir_async(nfs_get_rpc_context(n->nfs), mkdir_fh_cb, &args, op));
}

/* SYMLINK in a directory known by handle: one round trip (by path: a
 * LOOKUP per component, the SYMLINK, and as many again for its
 * attributes). */
static void
symlink_fh_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;
	SYMLINK3res *res = data;

	(void)rpc;
	if (!rpc3_ok(op, status, data))
		return;
	dir_wcc_from(op, &res->SYMLINK3res_u.resok.dir_wcc);
	new_object_done(op, &res->SYMLINK3res_u.resok.obj,
			&res->SYMLINK3res_u.resok.obj_attributes);
}

int
spn_nfs_symlink_fh(struct spn_nfs *n, const uint8_t *dirfh, uint8_t len, const char *name,
		   const char *target, spn_nfs_cb cb, void *arg)
{
	struct spn_nfs_op *op;
	SYMLINK3args args;

	memset(&args, 0, sizeof(args));
	op = dirop_new(n, SPN_CALL_SYMLINK, &args.where, dirfh, len, name, cb, arg);
	if (op == NULL)
		return -ENOMEM;
	args.symlink.symlink_attributes.mode.set_it = 1;
	args.symlink.symlink_attributes.mode.set_mode3_u.mode = 0777; /* as symlink(2) */
	args.symlink.symlink_data = (char *)target;
	START(op, rpc_nfs3_symlink_async(nfs_get_rpc_context(n->nfs), symlink_fh_cb, &args, op));
}

int
spn_nfs_create_fh(struct spn_nfs *n, const uint8_t *dirfh, uint8_t len, const char *name, int mode,
		  int excl, uint64_t verf, spn_nfs_cb cb, void *arg)
{
	struct spn_nfs_op *op;
	CREATE3args args;
	sattr3 *sa;

	memset(&args, 0, sizeof(args));
	op = dirop_new(n, SPN_CALL_CREATE, &args.where, dirfh, len, name, cb, arg);
	if (op == NULL)
		return -ENOMEM;
	if (excl && verf != 0) {
		/* EEXIST unless the file is there with our verifier. */
		args.how.mode = EXCLUSIVE;
		memcpy(args.how.createhow3_u.verf, &verf, sizeof(args.how.createhow3_u.verf));
		op->step = 1;
		/* For the SETATTR after it: the server keeps the verifier in
		 * the times. */
		op->sa.mask = SPN_NSA_MODE | SPN_NSA_ATIME_NOW | SPN_NSA_MTIME_NOW;
		op->sa.mode = (uint32_t)(mode & 07777);
		START(op, rpc_nfs3_create_async(nfs_get_rpc_context(n->nfs), create_fh_cb, &args,
						op));
	}
	/* GUARDED fails with EEXIST, as O_EXCL must; UNCHECKED opens what
	 * is there (the daemon truncates its own copy for O_TRUNC). */
	args.how.mode = excl ? GUARDED : UNCHECKED;
	sa = &args.how.createhow3_u.obj_attributes;
	sa->mode.set_it = 1;
	sa->mode.set_mode3_u.mode = (mode3)(mode & 07777);
	START(op, rpc_nfs3_create_async(nfs_get_rpc_context(n->nfs), create_fh_cb, &args, op));
}

/* REMOVE or RMDIR by the directory's handle: the directory's wcc. */
static void
remove_fh_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;

	(void)rpc;
	if (!rpc3_ok(op, status, data))
		return;
	if (op->kind == SPN_CALL_RMDIR)
		dir_wcc_from(op, &((RMDIR3res *)data)->RMDIR3res_u.resok.dir_wcc);
	else
		dir_wcc_from(op, &((REMOVE3res *)data)->REMOVE3res_u.resok.dir_wcc);
	spn_nfsop_finish(op, 0);
}

int
spn_nfs_remove_fh(struct spn_nfs *n, const uint8_t *dirfh, uint8_t len, const char *name,
		  int rmdir, spn_nfs_cb cb, void *arg)
{
	struct spn_nfs_op *op;

	if (rmdir) {
		RMDIR3args args;

		memset(&args, 0, sizeof(args));
		op = dirop_new(n, SPN_CALL_RMDIR, &args.object, dirfh, len, name, cb, arg);
		if (op == NULL)
			return -ENOMEM;
		START(op, rpc_nfs3_rmdir_async(nfs_get_rpc_context(n->nfs), remove_fh_cb, &args,
					       op));
	} else {
		REMOVE3args args;

		memset(&args, 0, sizeof(args));
		op = dirop_new(n, SPN_CALL_REMOVE, &args.object, dirfh, len, name, cb, arg);
		if (op == NULL)
			return -ENOMEM;
		START(op, rpc_nfs3_remove_async(nfs_get_rpc_context(n->nfs), remove_fh_cb, &args,
						op));
	}
}

/* RENAME within one directory by its handle: before from the source's
 * wcc, after from the target's (the same directory). */
static void
rename_fh_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;
	RENAME3res *res = data;
	struct spn_nfs_wcc before;

	(void)rpc;
	if (!rpc3_ok(op, status, data))
		return;
	dir_wcc_from(op, &res->RENAME3res_u.resok.fromdir_wcc);
	before = op->res.dir_wcc;
	memset(&op->res.dir_wcc, 0, sizeof(op->res.dir_wcc));
	dir_wcc_from(op, &res->RENAME3res_u.resok.todir_wcc);
	op->res.dir_wcc.have_before = before.have_before;
	op->res.dir_wcc.size_before = before.size_before;
	op->res.dir_wcc.mtime_before = before.mtime_before;
	op->res.dir_wcc.ctime_before = before.ctime_before;
	spn_nfsop_finish(op, 0);
}

int
spn_nfs_rename_fh(struct spn_nfs *n, const uint8_t *dirfh, uint8_t len, const char *from,
		  const char *to, spn_nfs_cb cb, void *arg)
{
	struct spn_nfs_op *op;
	RENAME3args args;

	memset(&args, 0, sizeof(args));
	op = dirop_new(n, SPN_CALL_RENAME, &args.from, dirfh, len, from, cb, arg);
	if (op == NULL)
		return -ENOMEM;
	args.to.dir = args.from.dir;
	args.to.name = (char *)to;
	START(op, rpc_nfs3_rename_async(nfs_get_rpc_context(n->nfs), rename_fh_cb, &args, op));
}

static int readdir_fh_send(struct spn_nfs_op *op, uint64_t cookie, const char *verf);

static void
readdir_fh_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;
	READDIRPLUS3res *res = data;
	READDIRPLUS3resok *ok;
	entryplus3 *e;
	uint64_t cookie = 0;

	if (!rpc3_ok(op, status, data))
		return;
	ok = &res->READDIRPLUS3res_u.resok;
	for (e = ok->reply.entries; e != NULL; e = e->nextentry) {
		struct spn_nfs_dirent *de;

		cookie = e->cookie;
		if (strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0)
			continue;
		if (op->res.nents == op->size) {
			size_t ncap = op->size ? op->size * 2 : 64;
			void *p = realloc(op->res.ents, ncap * sizeof(*op->res.ents));

			if (p == NULL) {
				spn_nfsop_finish(op, -ENOMEM);
				return;
			}
			op->res.ents = p;
			op->size = ncap;
		}
		de = &op->res.ents[op->res.nents];
		memset(de, 0, sizeof(*de));
		de->name = strdup(e->name);
		if (de->name == NULL) {
			spn_nfsop_finish(op, -ENOMEM);
			return;
		}
		op->res.nents++;
		if (e->name_attributes.attributes_follow) {
			attr_from_fattr3(&de->attr, &e->name_attributes.post_op_attr_u.attributes);
		} else {
			/* Without attributes we cannot judge the entry: the
			 * caller asks for it by name. */
			de->attr.fileid = e->fileid;
		}
		if (e->name_handle.handle_follows &&
		    e->name_handle.post_op_fh3_u.handle.data.data_len <= SPN_FH_MAX) {
			de->fh_len = (uint8_t)e->name_handle.post_op_fh3_u.handle.data.data_len;
			memcpy(de->fh, e->name_handle.post_op_fh3_u.handle.data.data_val,
			       de->fh_len);
		}
	}
	if (ok->dir_attributes.attributes_follow) {
		attr_from_fattr3(&op->res.attr, &ok->dir_attributes.post_op_attr_u.attributes);
		op->eof = 2; /* have dir attributes */
	}
	if (!ok->reply.eof) {
		if (readdir_fh_send(op, cookie, ok->cookieverf) < 0)
			spn_nfsop_finish(op, -ENOTCONN);
		return;
	}
	spn_nfsop_finish(op, 0);
}

static int
readdir_fh_send(struct spn_nfs_op *op, uint64_t cookie, const char *verf)
{
	READDIRPLUS3args args;

	memset(&args, 0, sizeof(args));
	spn_nfs3_fh_arg(&args.dir, op->res.fh, op->res.fh_len);
	args.cookie = cookie;
	if (verf != NULL)
		memcpy(args.cookieverf, verf, sizeof(args.cookieverf));
	args.dircount = 65536;
	args.maxcount = 1 << 20;
	return QUEUE(op, rpc_nfs3_readdirplus_async(nfs_get_rpc_context(op->n->nfs), readdir_fh_cb,
						    &args, op)) < 0 ? -ENOTCONN : 0;
}

int
spn_nfs_readdir_fh(struct spn_nfs *n, const uint8_t *dirfh, uint8_t len, spn_nfs_cb cb, void *arg)
{
	struct spn_nfs_op *op = spn_nfsop_new(n, SPN_CALL_READDIR, cb, arg);

	if (op == NULL)
		return -ENOMEM;
	if (n->nfs == NULL || n->state != SPN_NFS_UP) {
		spn_nfsop_finish(op, -ENOTCONN);
		return 0;
	}
	memcpy(op->res.fh, dirfh, len);
	op->res.fh_len = len;
	if (readdir_fh_send(op, 0, NULL) < 0)
		spn_nfsop_finish(op, -ENOTCONN);
	return 0;
}

/* The handle of an open libnfs file, for the index. */
void
spn_nfsop_res_fh(struct spn_nfs_op *op)
{
	const struct spn_libnfs_fh *f;

	if (op->n->version != 3 || op->fh == NULL)
		return;
	f = (const struct spn_libnfs_fh *)nfs_get_fh(op->fh);
	if (f != NULL && f->len > 0 && f->len <= SPN_FH_MAX) {
		memcpy(op->res.fh, f->val, (size_t)f->len);
		op->res.fh_len = (uint8_t)f->len;
	}
}

void
spn_nfs3_sattr_from(sattr3 *s, const struct spn_nfs_sattr *sa)
{
	memset(s, 0, sizeof(*s));
	if (sa->mask & SPN_NSA_MODE) {
		s->mode.set_it = 1;
		s->mode.set_mode3_u.mode = sa->mode & 07777;
	}
	if (sa->mask & SPN_NSA_UID) {
		s->uid.set_it = 1;
		s->uid.set_uid3_u.uid = sa->uid;
	}
	if (sa->mask & SPN_NSA_GID) {
		s->gid.set_it = 1;
		s->gid.set_gid3_u.gid = sa->gid;
	}
	if (sa->mask & SPN_NSA_SIZE) {
		s->size.set_it = 1;
		s->size.set_size3_u.size = sa->size;
	}
	if (sa->mask & (SPN_NSA_ATIME_NOW)) {
		s->atime.set_it = SET_TO_SERVER_TIME;
	} else if (sa->mask & (SPN_NSA_ATIME | SPN_NSA_TIMES)) {
		s->atime.set_it = SET_TO_CLIENT_TIME;
		s->atime.set_atime_u.atime.seconds = (u_int)sa->atime.sec;
		s->atime.set_atime_u.atime.nseconds = sa->atime.nsec;
	}
	if (sa->mask & (SPN_NSA_MTIME_NOW)) {
		s->mtime.set_it = SET_TO_SERVER_TIME;
	} else if (sa->mask & (SPN_NSA_MTIME | SPN_NSA_TIMES)) {
		s->mtime.set_it = SET_TO_CLIENT_TIME;
		s->mtime.set_mtime_u.mtime.seconds = (u_int)sa->mtime.sec;
		s->mtime.set_mtime_u.mtime.nseconds = sa->mtime.nsec;
	}
}

/* A reply that should have carried op's file's attributes did not: one
 * GETATTR by its handle finishes op with them. */
static void
getattr_after(struct spn_nfs_op *op)
{
	GETATTR3args args;

	memset(&args, 0, sizeof(args));
	spn_nfs3_fh_arg(&args.object, op->res.fh, op->res.fh_len);
	op->kind = SPN_CALL_GETATTR;
	if (QUEUE(op, rpc_nfs3_getattr_async(nfs_get_rpc_context(op->n->nfs), getattr_fh_cb, &args,
					     op)) < 0)
		spn_nfsop_finish(op, -ENOTCONN);
}

/* After a transfer's pump (which holds a reference): drop it. 1 when
 * every call is back and none failed, so that the transfer's next step
 * may run; 0 when op is gone, finished (its error too) or still waiting. */
static int
pump_settled(struct spn_nfs_op *op)
{
	if (--op->refs == 0 && op->finished) {
		spn_nfsop_free(op);
		return 0;
	}
	if (op->finished || op->pending > 0)
		return 0;
	if (op->err != 0) {
		spn_nfsop_finish(op, op->err);
		return 0;
	}
	return 1;
}

/* Start a transfer by handle: pump's first calls go out (op may be
 * finished and freed by the time it returns). */
static void
xfer_fh_run(struct spn_nfs_op *op, void (*pump)(struct spn_nfs_op *op))
{
	op->refs++; /* pump may finish it */
	pump(op);
	if (--op->refs == 0 && op->finished)
		spn_nfsop_free(op);
}

static void
setattr_fh_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;
	SETATTR3res *res = data;

	if (!rpc3_ok(op, status, data))
		return;
	if (res->SETATTR3res_u.resok.obj_wcc.after.attributes_follow) {
		attr_from_fattr3(&op->res.attr,
				 &res->SETATTR3res_u.resok.obj_wcc.after.post_op_attr_u.attributes);
		spn_nfsop_finish(op, 0);
		return;
	}
	getattr_after(op); /* no post-op attributes: ask for them */
}

/*
 * Store by handle (NFSv3): WRITEs with FILE_SYNC, XFER_WINDOW in flight,
 * and one SETATTR that sets the size (cutting whatever was beyond it) and
 * the times asked for, whose post-op attributes are the result (a time
 * set with the size makes the file's mtime known before the store ends).
 * The SETATTR goes right behind the last WRITE, without waiting for the
 * WRITEs' replies: a small file is stored in one round trip. The server
 * may run them in another order; a WRITE after the SETATTR moves mtime to
 * the server's now. The ctimes tell: the SETATTR's post-op ctime must be
 * later than every WRITE's, else (or if a reply lacks attributes) one
 * more SETATTR sets the times again. The path API costs a LOOKUP per
 * component, a truncating SETATTR, the WRITEs, a COMMIT and a GETATTR.
 */
static void store_fh_pump(struct spn_nfs_op *op);

static void
store_fh_write_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct spn_nfs_chunk *c = priv;
	struct spn_nfs_op *op = c->op;
	WRITE3res *res = data;
	size_t len = c->len;
	int err = spn_nfs3_rpc_err(status);

	(void)rpc;
	if (err == 0 && res->status != NFS3_OK)
		err = spn_nfs3_err(res->status);
	if (err == 0 && res->WRITE3res_u.resok.count != len)
		err = -EIO; /* a short write: the caller stores again */
	if (err == 0 && res->WRITE3res_u.resok.file_wcc.after.attributes_follow) {
		/* A write moves mtime to the server's now. */
		const fattr3 *a = &res->WRITE3res_u.resok.file_wcc.after.post_op_attr_u.attributes;
		struct spn_time st = { a->mtime.seconds, a->mtime.nseconds };
		struct spn_time ct = { a->ctime.seconds, a->ctime.nseconds };

		spn_nfsop_clock_sample(op->n, &st, c->sent_ns);
		if (spn_time_later(&ct, &op->write_ctime)) {
			op->write_ctime = ct;
			op->write_mtime = st;
		}
	} else if (err == 0) {
		op->write_ctime_unknown = 1;
	}
	free(c->buf);
	free(c);
	if (!spn_nfsop_part_done(op, err, err < 0 && status != RPC_STATUS_SUCCESS ? data : NULL))
		return;
	if (err == 0) {
		op->bytes += len;
		op->n->stats.bytes_written += len;
	}
	store_fh_pump(op);
}

/* The last WRITE's reply shows the state after the SETATTR (the server
 * read the attributes once both were done): same ctime, and the mtime
 * the SETATTR set, which a WRITE after it would have moved. */
static int
setattr_shown_last(const struct spn_nfs_op *op)
{
	const struct spn_time *m = &op->res.attr.mtime;

	return spn_time_eq(&op->write_ctime, &op->res.attr.ctime) &&
	       spn_time_eq(&op->write_mtime, m) &&
	       (op->sa.mask & (SPN_NSA_MTIME | SPN_NSA_TIMES)) && spn_time_eq(&op->sa.mtime, m);
}

/* The SETATTR sent behind the WRITEs is back. */
static void
store_fh_setattr_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct spn_nfs_op *op = priv;
	SETATTR3res *res = data;
	int err = spn_nfs3_rpc_err(status);

	(void)rpc;
	if (err == 0 && res->status != NFS3_OK)
		err = spn_nfs3_err(res->status);
	if (err == 0 && res->SETATTR3res_u.resok.obj_wcc.after.attributes_follow) {
		attr_from_fattr3(&op->res.attr,
				 &res->SETATTR3res_u.resok.obj_wcc.after.post_op_attr_u.attributes);
		op->setattr_back = 1;
	}
	if (!spn_nfsop_part_done(op, err, err < 0 && status != RPC_STATUS_SUCCESS ? data : NULL))
		return;
	store_fh_pump(op);
}

static int
store_fh_send(struct spn_nfs_op *op, struct spn_nfs_chunk *c)
{
	WRITE3args args;

	memset(&args, 0, sizeof(args));
	spn_nfs3_fh_arg(&args.file, op->res.fh, op->res.fh_len);
	args.offset = c->off;
	args.count = (count3)c->len;
	args.stable = FILE_SYNC;
	args.data.data_len = (u_int)c->len;
	args.data.data_val = c->buf;
	c->sent_ns = spn_now_ns();
	op->kind = SPN_CALL_WRITE;
	return rpc_nfs3_write_async(nfs_get_rpc_context(op->n->nfs), store_fh_write_cb, &args, c);
}

/* The SETATTR of the size and times; fin: the one that finishes op. */
static int
store_fh_setattr(struct spn_nfs_op *op, int fin)
{
	SETATTR3args sargs;

	memset(&sargs, 0, sizeof(sargs));
	spn_nfs3_fh_arg(&sargs.object, op->res.fh, op->res.fh_len);
	spn_nfs3_sattr_from(&sargs.new_attributes, &op->sa);
	sargs.new_attributes.size.set_it = 1;
	sargs.new_attributes.size.set_size3_u.size = op->size;
	op->kind = SPN_CALL_SETATTR;
	return QUEUE(op, rpc_nfs3_setattr_async(nfs_get_rpc_context(op->n->nfs),
						 fin ? setattr_fh_cb : store_fh_setattr_cb,
						 &sargs, op));
}

static void
store_fh_pump(struct spn_nfs_op *op)
{
	op->refs++; /* a call completed inside libnfs must not free op here */
	spn_nfsop_pump(op, 1, store_fh_send);
	if (!op->finished && op->step == 0 && op->err == 0 && op->next_off >= op->size) {
		op->step = 1; /* every WRITE is out: the SETATTR behind them */
		if (store_fh_setattr(op, 0) < 0)
			spn_nfsop_set_error(op, -ENOTCONN, NULL);
	}
	if (!pump_settled(op))
		return;
	op->res.bytes = op->bytes;
	if (op->setattr_back && !op->write_ctime_unknown &&
	    (spn_time_later(&op->res.attr.ctime, &op->write_ctime) || setattr_shown_last(op))) {
		op->n->stats.stores_pipelined++;
		spn_nfsop_finish(op, 0); /* the SETATTR came last */
		return;
	}
	op->n->stats.stores_reset++;
	op->step = 2; /* a WRITE came after it, or we cannot tell: again */
	if (store_fh_setattr(op, 1) < 0)
		spn_nfsop_finish(op, -ENOTCONN);
}

int
spn_nfs_store_fh(struct spn_nfs *n, const uint8_t *fh, uint8_t len, int fd,
		 const struct spn_nfs_sattr *after, spn_nfs_cb cb, void *arg)
{
	struct spn_nfs_op *op = spn_nfsop_new(n, SPN_CALL_WRITE, cb, arg);
	struct stat st;

	if (op == NULL)
		return -ENOMEM;
	memcpy(op->res.fh, fh, len);
	op->res.fh_len = len;
	op->fd = fd;
	if (after != NULL) {
		op->sa.mask = after->mask & (SPN_NSA_TIMES | SPN_NSA_MTIME);
		op->sa.atime = after->atime;
		op->sa.mtime = after->mtime;
	}
	if (spn_nfsop_down(op))
		return 0;
	if (fstat(fd, &st) < 0) {
		spn_nfsop_finish(op, -errno);
		return 0;
	}
	op->size = (uint64_t)st.st_size;
	xfer_fh_run(op, store_fh_pump);
	return 0;
}

/*
 * Fetch by handle (NFSv3): READs from offset 0, XFER_WINDOW in flight, up
 * to one chunk past the size the caller knows (the file may have grown; a
 * short read or the server's eof says where it ends). Every READ reply
 * carries the file's attributes: they are the result, and replies that
 * disagree (the file changed while it was read) fail the fetch with
 * EAGAIN, for the caller to fetch again. A small file comes in one round
 * trip; the path API costs a LOOKUP per component, a GETATTR, the READs
 * and a final GETATTR (7 round trips for src/Makefile).
 */
static void fetch_fh_pump(struct spn_nfs_op *op);

static void
fetch_fh_got(struct spn_nfs_op *op, struct spn_nfs_chunk *c, const READ3resok *ok)
{
	size_t got = ok->count;

	if (got > c->len || ok->data.data_len < got) {
		spn_nfsop_set_error(op, -EIO, "a READ reply longer than asked");
		return;
	}
	if (got > 0 && pwrite(op->fd, ok->data.data_val, got, (off_t)c->off) != (ssize_t)got) {
		spn_nfsop_set_error(op, -errno, "cannot write the cache file");
		return;
	}
	op->bytes += got;
	op->n->stats.bytes_read += got;
	if (c->off + got > op->end)
		op->end = c->off + got;
	if (got < c->len || ok->eof) {
		/* The end only at or past the size we knew; before it, the
		 * file shrank (or a hole would be left): fail, retried. */
		if (c->off + got < op->size)
			spn_nfsop_set_error(op, -EAGAIN, "short read inside the file");
		op->eof = 1;
	}
	if (ok->file_attributes.attributes_follow) {
		struct spn_attr a;

		attr_from_fattr3(&a, &ok->file_attributes.post_op_attr_u.attributes);
		if (op->attr_seen && (!spn_time_eq(&a.mtime, &op->res.attr.mtime) ||
				      !spn_time_eq(&a.ctime, &op->res.attr.ctime) ||
				      a.size != op->res.attr.size))
			spn_nfsop_set_error(op, -EAGAIN, "the file changed while it was read");
		op->res.attr = a;
		op->attr_seen = 1;
	} else {
		op->attr_missing = 1;
	}
}

static void
fetch_fh_read_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct spn_nfs_chunk *c = priv;
	struct spn_nfs_op *op = c->op;
	READ3res *res = data;
	int err = spn_nfs3_rpc_err(status);

	(void)rpc;
	if (err == 0 && res->status != NFS3_OK)
		err = spn_nfs3_err(res->status);
	if (!spn_nfsop_part_done(op, err, err < 0 && status != RPC_STATUS_SUCCESS ? data : NULL)) {
		free(c);
		return;
	}
	if (err == 0)
		fetch_fh_got(op, c, &res->READ3res_u.resok);
	free(c);
	fetch_fh_pump(op);
}

static int
fetch_fh_send(struct spn_nfs_op *op, struct spn_nfs_chunk *c)
{
	READ3args args;

	memset(&args, 0, sizeof(args));
	spn_nfs3_fh_arg(&args.file, op->res.fh, op->res.fh_len);
	args.offset = c->off;
	args.count = (count3)c->len;
	op->kind = SPN_CALL_READ;
	return rpc_nfs3_read_async(nfs_get_rpc_context(op->n->nfs), fetch_fh_read_cb, &args, c);
}

static void
fetch_fh_pump(struct spn_nfs_op *op)
{
	op->refs++; /* a call completed inside libnfs must not free op here */
	spn_nfsop_pump(op, 0, fetch_fh_send);
	if (!pump_settled(op))
		return;
	if (!op->eof) {
		/* The read past the known end came back full: the file
		 * grew; read on until a short read. */
		op->size = op->next_off;
		fetch_fh_pump(op);
		return;
	}
	if (ftruncate(op->fd, (off_t)op->end) < 0) {
		spn_nfsop_finish(op, -errno);
		return;
	}
	op->res.bytes = op->bytes;
	if (op->attr_seen && !op->attr_missing)
		spn_nfsop_finish(op, 0);
	else
		getattr_after(op); /* a reply without attributes */
}

int
spn_nfs_fetch_fh(struct spn_nfs *n, const uint8_t *fh, uint8_t len, uint64_t size, int fd,
		 spn_nfs_cb cb, void *arg)
{
	struct spn_nfs_op *op = spn_nfsop_new(n, SPN_CALL_READ, cb, arg);

	if (op == NULL)
		return -ENOMEM;
	memcpy(op->res.fh, fh, len);
	op->res.fh_len = len;
	op->fd = fd;
	op->size = size;
	if (!spn_nfsop_down(op))
		xfer_fh_run(op, fetch_fh_pump);
	return 0;
}

int
spn_nfs_setattr_fh(struct spn_nfs *n, const uint8_t *fh, uint8_t len,
		   const struct spn_nfs_sattr *sa, spn_nfs_cb cb, void *arg)
{
	struct spn_nfs_op *op = spn_nfsop_new(n, SPN_CALL_SETATTR, cb, arg);
	SETATTR3args args;

	if (op == NULL)
		return -ENOMEM;
	memcpy(op->res.fh, fh, len);
	op->res.fh_len = len;
	memset(&args, 0, sizeof(args));
	spn_nfs3_fh_arg(&args.object, op->res.fh, len);
	spn_nfs3_sattr_from(&args.new_attributes, sa);
	START(op, rpc_nfs3_setattr_async(nfs_get_rpc_context(n->nfs), setattr_fh_cb, &args, op));
}
