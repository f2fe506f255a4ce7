/*
 * checkpoint/none.c: the `none' back-end (CKPT_NONE). It takes no
 * checkpoints: ckpt_available() and ckpt_take() say -ENOTSUP, and the
 * caller does not speculate.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>

#include "checkpoint/internal.h"

static int
none_available(void)
{
	return -ENOTSUP;
}

/* No take: checkpoint.c answers ckpt_take() with available(). */
const struct ckpt__backend ckpt__none_backend = {
	.name = "none",
	.available = none_available,
};
