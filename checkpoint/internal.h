/*
 * checkpoint/internal.h: what the checkpoint back-ends share with the
 * dispatcher.
 *
 * checkpoint/checkpoint.c holds the table of back-ends and the public
 * entry points that dispatch through it; each back-end lives in its own
 * file (fork.c, none.c) and starts its struct ckpt with a struct
 * ckpt__head.
 */
#ifndef SPECNFS_CKPT_INTERNAL_H
#define SPECNFS_CKPT_INTERNAL_H

#include "checkpoint/checkpoint.h"

struct ckpt__backend {
	const char *name;
	int (*available)(void);
	/* NULL: this back-end takes nothing; ckpt_take() says available() */
	int (*take)(unsigned flags, struct ckpt **out, uint64_t *value);
	int (*commit)(struct ckpt *c);
	void (*rollback)(struct ckpt *c, uint64_t value) __attribute__((noreturn));
	int (*detach)(struct ckpt *c, pid_t ppid);
	void (*release)(struct ckpt *c, int resume, uint64_t value);
};

/* Every open checkpoint starts with this: which backend made it. */
struct ckpt__head {
	enum ckpt_backend backend;
};

/*
 * checkpoint/fork.c. It also defines ckpt_getpid(), ckpt_getppid(), ckpt_reap()
 * and ckpt_copy_pid(), which only mean something for fork checkpoints.
 */
extern const struct ckpt__backend ckpt__fork_backend;

/* checkpoint/none.c. */
extern const struct ckpt__backend ckpt__none_backend;

#endif
