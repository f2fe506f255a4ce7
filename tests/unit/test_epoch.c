/*
 * test_epoch.c: the shim's speculation rules (client/spec/epoch.c): the
 * classification of requests, the barriers, and the epoch state machine.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "client/proto.h"
#include "client/spec/epoch.h"
#include "policy/policy.h"

#define READS (SPN_SPEC_OP_OPEN | SPN_SPEC_OP_STAT | SPN_SPEC_OP_LOOKUP | SPN_SPEC_OP_READDIR)
#define WRITES (SPN_SPEC_OP_CLOSE | SPN_SPEC_OP_MUTATE)

static struct spn_epoch
epoch_with(uint32_t speculate)
{
	struct spn_epoch ep = {
		.speculate = speculate,
		.max_predictions = 4,
		.max_epoch_ms = 100,
	};

	return ep;
}

static void
test_kinds(void **state)
{
	uint32_t bits;

	(void)state;
	assert_int_equal(spn_spec_kind(SPN_OP_STAT, 0, &bits), SPN_SK_READ);
	assert_true(bits & SPN_SPEC_OP_STAT);
	assert_int_equal(spn_spec_kind(SPN_OP_READDIR, 0, &bits), SPN_SK_READ);
	assert_int_equal(bits, SPN_SPEC_OP_READDIR);
	assert_int_equal(spn_spec_kind(SPN_OP_OPEN, O_RDONLY, &bits), SPN_SK_READ);
	assert_int_equal(bits, SPN_SPEC_OP_OPEN);
	/* A rewrite may be redone after a rollback; an append may not. */
	assert_int_equal(spn_spec_kind(SPN_OP_OPEN, O_WRONLY | O_CREAT | O_TRUNC, &bits),
			 SPN_SK_REDO);
	assert_int_equal(bits, SPN_SPEC_OP_MUTATE);
	assert_int_equal(spn_spec_kind(SPN_OP_OPEN, O_WRONLY | O_CREAT | O_APPEND, &bits),
			 SPN_SK_OTHER);
	assert_int_equal(bits, 0);
	assert_int_equal(spn_spec_kind(SPN_OP_OPEN, O_WRONLY | O_CREAT, NULL), SPN_SK_OTHER);
	assert_int_equal(spn_spec_kind(SPN_OP_OPEN, O_RDWR | O_CREAT | O_TRUNC | O_EXCL, NULL),
			 SPN_SK_OTHER);
	assert_int_equal(spn_spec_kind(SPN_OP_OPEN, O_RDONLY | O_TRUNC, NULL), SPN_SK_OTHER);
	assert_int_equal(spn_spec_kind(SPN_OP_CLOSE, SPN_F_WRITTEN, &bits), SPN_SK_REDO);
	assert_int_equal(bits, SPN_SPEC_OP_CLOSE);
	assert_int_equal(spn_spec_kind(SPN_OP_CLOSE, 0, &bits), SPN_SK_OTHER);
	assert_int_equal(spn_spec_kind(SPN_OP_MKDIR, 0, &bits), SPN_SK_ONCE);
	assert_int_equal(bits, SPN_SPEC_OP_MUTATE);
	assert_int_equal(spn_spec_kind(SPN_OP_RMDIR, 0, NULL), SPN_SK_ONCE);
	assert_int_equal(spn_spec_kind(SPN_OP_UNLINK, 0, NULL), SPN_SK_ONCE);
	assert_int_equal(spn_spec_kind(SPN_OP_RENAME, 0, NULL), SPN_SK_ONCE);
	/* Never predicted. */
	assert_int_equal(spn_spec_kind(SPN_OP_LINK, 0, &bits), SPN_SK_OTHER);
	assert_int_equal(bits, 0);
	assert_int_equal(spn_spec_kind(SPN_OP_SYMLINK, 0, NULL), SPN_SK_OTHER);
	assert_int_equal(spn_spec_kind(SPN_OP_SETATTR, 0, NULL), SPN_SK_OTHER);
	assert_int_equal(spn_spec_kind(SPN_OP_FSYNC, 0, NULL), SPN_SK_OTHER);
	assert_int_equal(spn_spec_kind(SPN_OP_STATFS, 0, NULL), SPN_SK_OTHER);
}

static void
test_mutates(void **state)
{
	(void)state;
	assert_false(spn_spec_mutates(SPN_OP_STAT, 0));
	assert_false(spn_spec_mutates(SPN_OP_ACCESS, 0));
	assert_false(spn_spec_mutates(SPN_OP_READDIR, 0));
	assert_false(spn_spec_mutates(SPN_OP_READLINK, 0));
	assert_false(spn_spec_mutates(SPN_OP_STATFS, 0));
	assert_false(spn_spec_mutates(SPN_OP_RESOLVE, 0));
	assert_false(spn_spec_mutates(SPN_OP_OPEN, O_RDONLY));
	assert_false(spn_spec_mutates(SPN_OP_CLOSE, 0));
	assert_true(spn_spec_mutates(SPN_OP_OPEN, O_WRONLY));
	assert_true(spn_spec_mutates(SPN_OP_OPEN, O_RDONLY | O_CREAT));
	assert_true(spn_spec_mutates(SPN_OP_CLOSE, SPN_F_WRITTEN));
	assert_true(spn_spec_mutates(SPN_OP_FSYNC, 0));
	assert_true(spn_spec_mutates(SPN_OP_MKDIR, 0));
	assert_true(spn_spec_mutates(SPN_OP_RENAME, 0));
	assert_true(spn_spec_mutates(SPN_OP_LINK, 0));
	assert_true(spn_spec_mutates(SPN_OP_SYMLINK, 0));
	assert_true(spn_spec_mutates(SPN_OP_SETATTR, 0));
}

static void
test_policy_gates_prediction(void **state)
{
	struct spn_epoch off = epoch_with(0), cto = epoch_with(READS);
	struct spn_epoch full = epoch_with(READS | WRITES);

	(void)state;
	assert_false(spn_epoch_may_predict(&off, SPN_OP_STAT, 0));
	assert_false(spn_epoch_may_predict(&off, SPN_OP_OPEN, O_RDONLY));
	assert_true(spn_epoch_may_predict(&cto, SPN_OP_STAT, 0));
	assert_true(spn_epoch_may_predict(&cto, SPN_OP_OPEN, O_RDONLY));
	assert_false(spn_epoch_may_predict(&cto, SPN_OP_CLOSE, SPN_F_WRITTEN));
	assert_false(spn_epoch_may_predict(&cto, SPN_OP_MKDIR, 0));
	assert_true(spn_epoch_may_predict(&full, SPN_OP_CLOSE, SPN_F_WRITTEN));
	assert_true(spn_epoch_may_predict(&full, SPN_OP_MKDIR, 0));
	assert_true(spn_epoch_may_predict(&full, SPN_OP_OPEN, O_WRONLY | O_CREAT | O_TRUNC));
	assert_false(spn_epoch_may_predict(&full, SPN_OP_LINK, 0));
	/* Per-operation overrides: stat alone. */
	{
		struct spn_epoch only_stat = epoch_with(SPN_SPEC_OP_STAT);

		assert_true(spn_epoch_may_predict(&only_stat, SPN_OP_STAT, 0));
		assert_false(spn_epoch_may_predict(&only_stat, SPN_OP_OPEN, O_RDONLY));
		assert_false(spn_epoch_may_predict(&only_stat, SPN_OP_READDIR, 0));
	}
}

static void
test_no_epoch_no_barrier(void **state)
{
	struct spn_epoch ep = epoch_with(READS);

	(void)state;
	assert_false(spn_epoch_must_resolve(&ep, SPN_OP_MKDIR, 0, 0));
	assert_false(spn_epoch_must_resolve(&ep, SPN_OP_CLOSE, SPN_F_WRITTEN, 0));
	assert_false(spn_epoch_must_resolve(&ep, SPN_OP_STAT, 0, 1000000000));
}

static void
test_barriers_cto(void **state)
{
	struct spn_epoch ep = epoch_with(READS);

	(void)state;
	spn_epoch_opened(&ep, 1000);
	/* Reads join; anything the server would show others waits. */
	assert_false(spn_epoch_must_resolve(&ep, SPN_OP_STAT, 0, 1001));
	assert_false(spn_epoch_must_resolve(&ep, SPN_OP_OPEN, O_RDONLY, 1001));
	assert_false(spn_epoch_must_resolve(&ep, SPN_OP_READDIR, 0, 1001));
	assert_false(spn_epoch_must_resolve(&ep, SPN_OP_CLOSE, 0, 1001));
	assert_true(spn_epoch_must_resolve(&ep, SPN_OP_CLOSE, SPN_F_WRITTEN, 1001));
	assert_true(spn_epoch_must_resolve(&ep, SPN_OP_OPEN, O_WRONLY | O_CREAT | O_TRUNC, 1001));
	assert_true(spn_epoch_must_resolve(&ep, SPN_OP_MKDIR, 0, 1001));
	assert_true(spn_epoch_must_resolve(&ep, SPN_OP_RENAME, 0, 1001));
	assert_true(spn_epoch_must_resolve(&ep, SPN_OP_SETATTR, 0, 1001));
	assert_true(spn_epoch_must_resolve(&ep, SPN_OP_FSYNC, 0, 1001));
}

static void
test_barriers_full(void **state)
{
	struct spn_epoch ep = epoch_with(READS | WRITES);

	(void)state;
	spn_epoch_opened(&ep, 1000);
	/* Redoable write-back joins the epoch ... */
	assert_false(spn_epoch_must_resolve(&ep, SPN_OP_CLOSE, SPN_F_WRITTEN, 1001));
	assert_false(spn_epoch_must_resolve(&ep, SPN_OP_OPEN, O_WRONLY | O_CREAT | O_TRUNC, 1001));
	/* ... a mutation that must not happen twice opens its own ... */
	assert_true(spn_epoch_must_resolve(&ep, SPN_OP_MKDIR, 0, 1001));
	assert_true(spn_epoch_must_resolve(&ep, SPN_OP_UNLINK, 0, 1001));
	assert_true(spn_epoch_must_resolve(&ep, SPN_OP_RENAME, 0, 1001));
	/* ... and what is never speculated is a barrier. */
	assert_true(spn_epoch_must_resolve(&ep, SPN_OP_OPEN, O_WRONLY | O_APPEND, 1001));
	assert_true(spn_epoch_must_resolve(&ep, SPN_OP_LINK, 0, 1001));
	assert_true(spn_epoch_must_resolve(&ep, SPN_OP_SETATTR, 0, 1001));
}

static void
test_limits(void **state)
{
	struct spn_epoch ep = epoch_with(READS);

	(void)state;
	spn_epoch_opened(&ep, 1000);
	assert_int_equal(ep.predictions, 1);
	assert_int_equal(spn_epoch_predicted(&ep, 1), SPN_EP_JOINED);
	assert_int_equal(spn_epoch_predicted(&ep, 1), SPN_EP_JOINED);
	assert_false(spn_epoch_must_resolve(&ep, SPN_OP_STAT, 0, 1001));
	assert_int_equal(spn_epoch_predicted(&ep, 1), SPN_EP_JOINED);
	/* max_predictions = 4 reached. */
	assert_true(spn_epoch_must_resolve(&ep, SPN_OP_STAT, 0, 1001));
	spn_epoch_closed(&ep);
	/* max_epoch_ms = 100: 100 ms after opening, not before. */
	spn_epoch_opened(&ep, 5000);
	assert_false(spn_epoch_must_resolve(&ep, SPN_OP_STAT, 0, 5000 + 99999));
	assert_true(spn_epoch_must_resolve(&ep, SPN_OP_STAT, 0, 5000 + 100000));
}

static void
test_state_machine(void **state)
{
	struct spn_epoch ep = epoch_with(READS | WRITES);

	(void)state;
	assert_false(ep.open);
	/* Not predicted: nothing happens, open or not. */
	assert_int_equal(spn_epoch_predicted(&ep, 0), SPN_EP_NOTHING);
	assert_false(ep.open);
	/* First prediction: a checkpoint is due; opened once it is taken. */
	assert_int_equal(spn_epoch_predicted(&ep, 1), SPN_EP_BEGIN);
	assert_false(ep.open);
	spn_epoch_opened(&ep, 10);
	assert_true(ep.open);
	assert_int_equal(ep.opened_us, 10);
	assert_int_equal(spn_epoch_predicted(&ep, 0), SPN_EP_NOTHING);
	assert_int_equal(ep.predictions, 1);
	assert_int_equal(spn_epoch_predicted(&ep, 1), SPN_EP_JOINED);
	assert_int_equal(ep.predictions, 2);
	/* Resolved: the next prediction begins a new epoch. */
	spn_epoch_closed(&ep);
	assert_false(ep.open);
	assert_int_equal(ep.predictions, 0);
	assert_false(spn_epoch_must_resolve(&ep, SPN_OP_MKDIR, 0, 20));
	assert_int_equal(spn_epoch_predicted(&ep, 1), SPN_EP_BEGIN);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_mutates),
		cmocka_unit_test(test_policy_gates_prediction),
		cmocka_unit_test(test_no_epoch_no_barrier),
		cmocka_unit_test(test_barriers_cto),
		cmocka_unit_test(test_barriers_full),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_state_machine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
