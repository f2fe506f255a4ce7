/*
 * spec/epoch.h: the shim's speculation rules as pure functions -- which
 * requests may be predicted, which are barriers, and the epoch state
 * machine. No I/O, no globals: spec/speculate.c drives it with the real
 * checkpoint and output-commit machinery; tests/unit/test_epoch.c drives it
 * with a clock and a table.
 *
 * Kinds of request:
 *   READ   stat/access/readlink/readdir and read-only opens: idempotent,
 *          predicted answers join any open epoch.
 *   REDO   write-back that may safely be done again after a rollback:
 *          close of a written file (the store sends the whole file), an
 *          open with O_TRUNC for writing (creating or not; no O_EXCL, no
 *          O_APPEND). May join an epoch.
 *   ONCE   mutations that must not happen twice: mkdir, rmdir, unlink,
 *          rename. Predicted only as the first prediction of an epoch
 *          (the epoch resolves before them), so that a rollback returns to
 *          just after them and asks the daemon for their outcome
 *          (SPN_SPEC_REPLAY) instead of doing them again.
 *   OTHER  everything else (link, symlink, setattr, fsync, statfs ...):
 *          never predicted; a barrier if it changes the server.
 */
#ifndef SPN_SPEC_EPOCH_H
#define SPN_SPEC_EPOCH_H

#include <stdint.h>

enum spn_spec_kind {
	SPN_SK_OTHER = 0,
	SPN_SK_READ,
	SPN_SK_REDO,
	SPN_SK_ONCE,
};

/* What a request is, and the SPECNFS_SPECULATE bit(s) that allow
 * predicting it (0: never). flags are the request's flags (open(2) flags
 * for OPEN, SPN_F_* otherwise). */
enum spn_spec_kind spn_spec_kind(uint16_t op, uint32_t flags, uint32_t *bits);

/* 1 if the request changes what others can see (the server's tree). */
int spn_spec_mutates(uint16_t op, uint32_t flags);

struct spn_epoch {
	/* settings */
	uint32_t speculate; /* SPN_SPEC_OP_* allowed by the policy */
	uint32_t max_predictions;
	uint32_t max_epoch_ms;
	/* state */
	int open;
	uint32_t predictions;
	int64_t opened_us;
};

/* Before sending a request while an epoch may be open: 1 if the epoch
 * must resolve first (a barrier, an ONCE mutation, a limit reached). */
int spn_epoch_must_resolve(const struct spn_epoch *ep, uint16_t op, uint32_t flags,
			   int64_t now_us);

/* 1 if the request should ask for a prediction (SPN_SPEC_PREDICT). */
int spn_epoch_may_predict(const struct spn_epoch *ep, uint16_t op, uint32_t flags);

enum spn_epoch_step {
	SPN_EP_NOTHING, /* not predicted: nothing to do */
	SPN_EP_BEGIN,   /* first prediction: take a checkpoint, open an epoch */
	SPN_EP_JOINED,  /* joined the open epoch */
};

/* After the reply: was it a prediction, and what now. */
enum spn_epoch_step spn_epoch_predicted(struct spn_epoch *ep, int predicted);

/* The checkpoint was taken: the epoch is open from now_us. */
void spn_epoch_opened(struct spn_epoch *ep, int64_t now_us);

/* The epoch resolved (committed or rolled back) or could not open. */
void spn_epoch_closed(struct spn_epoch *ep);

#endif /* SPN_SPEC_EPOCH_H */
