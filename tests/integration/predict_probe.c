/*
 * predict_probe: drive specnfsd's predictions directly, as the speculating
 * shim will: send requests with SPN_SPEC_PREDICT, time each answer, then
 * RESOLVE and report how many predictions the server refuted.
 *
 * usage: predict_probe OP PATH [OP PATH ...]   (OP: stat, open, readdir,
 *        stat-nopredict); then one RESOLVE. Output, one line per request:
 *        "stat /nfs/x status=0 predicted=1 size=N mtime=S.N us=T", then
 *        "resolve refuted=N us=T".
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/conn.h"

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int
main(int argc, char **argv)
{
	struct spn_policy pol;
	struct spn_conn c = { .fd = -1 };
	struct spn_req req;
	struct spn_reply rep;
	char err[1024];
	double t0;
	int i, rc;

	if (argc < 3 || argc % 2 != 1) {
		fprintf(stderr, "usage: predict_probe OP PATH [OP PATH ...]\n");
		return 2;
	}
	if (spn_policy_load(&pol, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "predict_probe: %s\n", err);
		return 2;
	}
	if (spn_conn_open(&c, &pol, 1, err, sizeof(err)) < 0) {
		fprintf(stderr, "predict_probe: %s\n", err);
		return 1;
	}
	for (i = 1; i < argc; i += 2) {
		const char *op = argv[i];

		memset(&req, 0, sizeof(req));
		snprintf(req.path, sizeof(req.path), "%s", argv[i + 1]);
		req.spec = SPN_SPEC_PREDICT;
		if (strcmp(op, "stat") == 0) {
			req.op = SPN_OP_STAT;
			req.flags = SPN_F_NOFOLLOW;
		} else if (strcmp(op, "stat-nopredict") == 0) {
			req.op = SPN_OP_STAT;
			req.flags = SPN_F_NOFOLLOW;
			req.spec = 0;
		} else if (strcmp(op, "open") == 0) {
			req.op = SPN_OP_OPEN;
			req.flags = O_RDONLY;
		} else if (strcmp(op, "readdir") == 0) {
			req.op = SPN_OP_READDIR;
		} else {
			fprintf(stderr, "predict_probe: unknown op '%s'\n", op);
			return 2;
		}
		t0 = now_us();
		rc = spn_conn_call(&c, &req, &rep);
		if (rc < 0) {
			fprintf(stderr, "predict_probe: %s\n", strerror(-rc));
			return 1;
		}
		printf("%s %s status=%d predicted=%d size=%llu mtime=%lld.%09u us=%.0f\n", op,
		       req.path, rep.status, !!(rep.spec & SPN_SPEC_PREDICTED),
		       (unsigned long long)rep.attr.size, (long long)rep.attr.mtime.sec,
		       rep.attr.mtime.nsec, now_us() - t0);
	}
	memset(&req, 0, sizeof(req));
	req.op = SPN_OP_RESOLVE;
	t0 = now_us();
	rc = spn_conn_call(&c, &req, &rep);
	if (rc < 0 || rep.status < 0) {
		fprintf(stderr, "predict_probe: resolve: %s\n",
			strerror(rc < 0 ? -rc : -rep.status));
		return 1;
	}
	printf("resolve refuted=%u us=%.0f\n", rep.refuted, now_us() - t0);
	spn_conn_close(&c);
	return 0;
}
