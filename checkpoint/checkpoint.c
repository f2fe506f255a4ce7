/*
 * checkpoint/checkpoint.c: the table of back-ends and the public entry
 * points of checkpoint.h, which dispatch through it (and keep errno). Each
 * back-end lives in its own file (checkpoint/README.md): fork.c, none.c.
 * CKPT_CRIU has no back-end in this build: its entry answers -ENOSYS.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stddef.h>

#include "checkpoint/internal.h"

static int
criu_available(void)
{
	return -ENOSYS;
}

static const struct ckpt__backend ckpt__criu_backend = {
	.name = "criu",
	.available = criu_available,
};

static const struct ckpt__backend *const ckpt__backends[] = {
	[CKPT_NONE] = &ckpt__none_backend,
	[CKPT_FORK] = &ckpt__fork_backend,
	[CKPT_CRIU] = &ckpt__criu_backend,
};

static const struct ckpt__backend *
backend(enum ckpt_backend b)
{
	if ((unsigned)b >= sizeof(ckpt__backends) / sizeof(ckpt__backends[0]))
		return NULL;
	return ckpt__backends[b];
}

const char *
ckpt_backend_name(enum ckpt_backend b)
{
	const struct ckpt__backend *be = backend(b);

	return be != NULL ? be->name : NULL;
}

int
ckpt_available(enum ckpt_backend b)
{
	const struct ckpt__backend *be = backend(b);
	int saved = errno, rc;

	rc = be != NULL ? be->available() : -EINVAL;
	errno = saved;
	return rc;
}

int
ckpt_take(enum ckpt_backend b, unsigned flags, struct ckpt **out, uint64_t *value)
{
	const struct ckpt__backend *be = backend(b);
	int saved = errno, rc;

	*out = NULL;
	if (be == NULL)
		return -EINVAL;
	if ((flags & ~(unsigned)CKPT_DEFER_SIGNALS) != 0)
		return -EINVAL;
	/* a back-end that takes nothing says why with available() */
	rc = be->take != NULL ? be->take(flags, out, value) : be->available();
	errno = saved;
	return rc;
}

/* Only backends that take checkpoints get here: they have commit and
 * rollback. */
int
ckpt_commit(struct ckpt *c)
{
	const struct ckpt__backend *be;
	int saved = errno, rc;

	if (c == NULL || (be = backend(((struct ckpt__head *)c)->backend)) == NULL ||
	    be->commit == NULL)
		return -EINVAL;
	rc = be->commit(c);
	errno = saved;
	return rc;
}

void
ckpt_rollback(struct ckpt *c, uint64_t value)
{
	const struct ckpt__backend *be = NULL;

	if (c != NULL)
		be = backend(((struct ckpt__head *)c)->backend);
	if (be == NULL || be->rollback == NULL)
		be = &ckpt__fork_backend; /* it reports the misuse and ends */
	be->rollback(c, value);
}

int
ckpt_detach(struct ckpt *c, pid_t ppid)
{
	const struct ckpt__backend *be;
	int saved = errno, rc;

	if (c == NULL || (be = backend(((struct ckpt__head *)c)->backend)) == NULL ||
	    be->detach == NULL)
		return -EINVAL;
	rc = be->detach(c, ppid);
	errno = saved;
	return rc;
}

void
ckpt_release(struct ckpt *c, int resume, uint64_t value)
{
	const struct ckpt__backend *be;
	int saved = errno;

	if (c == NULL || (be = backend(((struct ckpt__head *)c)->backend)) == NULL ||
	    be->release == NULL)
		return;
	be->release(c, resume, value);
	errno = saved;
}
