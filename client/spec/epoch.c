/*
 * spec/epoch.c: speculation rules (see spec/epoch.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <fcntl.h>

#include "policy/policy.h"
#include "client/proto.h"
#include "client/spec/epoch.h"

enum spn_spec_kind
spn_spec_kind(uint16_t op, uint32_t flags, uint32_t *bits)
{
	uint32_t b = 0;
	enum spn_spec_kind k = SPN_SK_OTHER;

	switch (op) {
	case SPN_OP_STAT:
	case SPN_OP_ACCESS:
	case SPN_OP_READLINK:
		b = SPN_SPEC_OP_STAT | SPN_SPEC_OP_LOOKUP;
		k = SPN_SK_READ;
		break;
	case SPN_OP_READDIR:
		b = SPN_SPEC_OP_READDIR;
		k = SPN_SK_READ;
		break;
	case SPN_OP_OPEN:
		if ((flags & O_ACCMODE) == O_RDONLY && !(flags & (O_CREAT | O_TRUNC))) {
			b = SPN_SPEC_OP_OPEN;
			k = SPN_SK_READ;
		} else if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY &&
			   !(flags & (O_EXCL | O_APPEND))) {
			/* Truncating for a rewrite: done again after a
			 * rollback, the same writes follow and the result is
			 * the same. (Without O_TRUNC, appends would repeat.) */
			b = SPN_SPEC_OP_MUTATE;
			k = SPN_SK_REDO;
		}
		break;
	case SPN_OP_CLOSE:
		if (flags & SPN_F_WRITTEN) {
			b = SPN_SPEC_OP_CLOSE;
			k = SPN_SK_REDO;
		}
		break;
	case SPN_OP_MKDIR:
	case SPN_OP_RMDIR:
	case SPN_OP_UNLINK:
	case SPN_OP_RENAME:
		b = SPN_SPEC_OP_MUTATE;
		k = SPN_SK_ONCE;
		break;
	default:
		break;
	}
	if (bits != NULL)
		*bits = b;
	return k;
}

int
spn_spec_mutates(uint16_t op, uint32_t flags)
{
	switch (op) {
	case SPN_OP_HELLO:
	case SPN_OP_STAT:
	case SPN_OP_ACCESS:
	case SPN_OP_READLINK:
	case SPN_OP_READDIR:
	case SPN_OP_STATFS:
	case SPN_OP_STATUS:
	case SPN_OP_CONFIG:
	case SPN_OP_RESOLVE:
	case SPN_OP_SEAL:
	case SPN_OP_REAP:
		return 0;
	case SPN_OP_OPEN:
		return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC));
	case SPN_OP_CLOSE:
		return !!(flags & SPN_F_WRITTEN);
	default:
		return 1; /* fsync, mkdir, rename, setattr, shutdown ... */
	}
}

/* The policy lets this request be predicted. */
static int
allowed(const struct spn_epoch *ep, uint16_t op, uint32_t flags, enum spn_spec_kind *kind)
{
	uint32_t bits;

	*kind = spn_spec_kind(op, flags, &bits);
	return *kind != SPN_SK_OTHER && (ep->speculate & bits) != 0;
}

int
spn_epoch_must_resolve(const struct spn_epoch *ep, uint16_t op, uint32_t flags, int64_t now_us)
{
	enum spn_spec_kind kind;
	int ok = allowed(ep, op, flags, &kind);

	if (!ep->open)
		return 0;
	if (ep->predictions >= ep->max_predictions)
		return 1;
	if (now_us - ep->opened_us >= (int64_t)ep->max_epoch_ms * 1000)
		return 1;
	if (spn_spec_mutates(op, flags) && !ok)
		return 1; /* a change others see, not speculated */
	if (ok && kind == SPN_SK_ONCE)
		return 1; /* must open its own epoch */
	return 0;
}

int
spn_epoch_may_predict(const struct spn_epoch *ep, uint16_t op, uint32_t flags)
{
	enum spn_spec_kind kind;

	return allowed(ep, op, flags, &kind);
}

enum spn_epoch_step
spn_epoch_predicted(struct spn_epoch *ep, int predicted)
{
	if (!predicted)
		return SPN_EP_NOTHING;
	if (!ep->open)
		return SPN_EP_BEGIN;
	ep->predictions++;
	return SPN_EP_JOINED;
}

void
spn_epoch_opened(struct spn_epoch *ep, int64_t now_us)
{
	ep->open = 1;
	ep->predictions = 1;
	ep->opened_us = now_us;
}

void
spn_epoch_closed(struct spn_epoch *ep)
{
	ep->open = 0;
	ep->predictions = 0;
}
