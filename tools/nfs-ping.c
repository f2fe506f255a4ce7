/*
 * nfs-ping: time single NFS round trips (GETATTR of one file) with libnfs.
 *
 * Used by the test bed checks and the benchmarks to show what one round
 * trip costs on a link: mount the export, open FILE, then issue COUNT
 * fstat calls one after another. Each is exactly one RPC (NFSv3 GETATTR,
 * NFSv4 COMPOUND{PUTFH,GETATTR}): libnfs keeps no attribute cache.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcntl.h>
#include <nfsc/libnfs.h>

static const char usage[] =
	"usage: nfs-ping [-c COUNT] [-s] [-q] URL FILE\n"
	"\n"
	"Mount the NFS export URL (nfs://HOST/EXPORT?nfsport=..&mountport=..\n"
	"or ?version=4&nfsport=..), open FILE (a path inside the export) and\n"
	"time COUNT GETATTR round trips, one at a time.\n"
	"\n"
	"  -c, --count N    round trips to time (default 20)\n"
	"  -s, --summary    print only the summary line\n"
	"  -q, --quiet      print nothing; exit status only\n"
	"  -h, --help       this text\n"
	"\n"
	"Output: one line per round trip ('getattr 3: 40.112 ms'), then\n"
	"'count=N min_ms=X median_ms=X max_ms=X mean_ms=X'.\n"
	"Exit status: 0 on success, 1 on an NFS error, 2 on bad usage.\n";

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
parse_count(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 1000000)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "summary", no_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nfs_context *nfs = NULL;
	struct nfs_url *url = NULL;
	struct nfsfh *fh = NULL;
	struct nfs_stat_64 st;
	int count = 20, summary = 0, quiet = 0, c, i, rc = 1;
	double *ms = NULL, sum = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:sqh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (parse_count(optarg, &count) != 0) {
				fprintf(stderr, "nfs-ping: --count: want a number "
						"from 1 to 1000000, got '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 's':
			summary = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fprintf(stderr, "nfs-ping: unknown option '%s' (see "
					"--help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "nfs-ping: want URL and FILE (see --help)\n");
		return 2;
	}

	nfs = nfs_init_context();
	ms = calloc((size_t)count, sizeof(*ms));
	if (nfs == NULL || ms == NULL) {
		fprintf(stderr, "nfs-ping: out of memory\n");
		goto out;
	}
	nfs_set_timeout(nfs, 10000);
	url = nfs_parse_url_dir(nfs, argv[optind]);
	if (url == NULL) {
		fprintf(stderr, "nfs-ping: bad URL '%s': %s\n", argv[optind],
			nfs_get_error(nfs));
		goto out;
	}
	if (nfs_mount(nfs, url->server, url->path) != 0) {
		fprintf(stderr, "nfs-ping: cannot mount %s: %s\n",
			argv[optind], nfs_get_error(nfs));
		goto out;
	}
	if (nfs_open(nfs, argv[optind + 1], O_RDONLY, &fh) != 0) {
		fprintf(stderr, "nfs-ping: cannot open %s: %s\n",
			argv[optind + 1], nfs_get_error(nfs));
		goto out;
	}
	for (i = 0; i < count; i++) {
		double t0 = now_ms();

		if (nfs_fstat64(nfs, fh, &st) != 0) {
			fprintf(stderr, "nfs-ping: getattr %s: %s\n",
				argv[optind + 1], nfs_get_error(nfs));
			goto out;
		}
		ms[i] = now_ms() - t0;
		sum += ms[i];
		if (!quiet && !summary)
			printf("getattr %d: %.3f ms\n", i + 1, ms[i]);
	}
	qsort(ms, (size_t)count, sizeof(*ms), cmp_double);
	if (!quiet)
		printf("count=%d min_ms=%.3f median_ms=%.3f max_ms=%.3f "
		       "mean_ms=%.3f\n",
		       count, ms[0],
		       count % 2 ? ms[count / 2]
				 : (ms[count / 2 - 1] + ms[count / 2]) / 2,
		       ms[count - 1], sum / count);
	rc = 0;
out:
	if (fh != NULL)
		nfs_close(nfs, fh);
	if (url != NULL)
		nfs_destroy_url(url);
	if (nfs != NULL)
		nfs_destroy_context(nfs);
	free(ms);
	return rc;
}
