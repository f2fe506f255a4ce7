/*
 * daemon/status.c: `specnfs status` -- the daemon's counters, its mounts'
 * state, and the write-backs stuck because the server refused them.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/daemon/internal.h"
#include "client/log.h"

int
spn_daemon_busy(const struct spn_daemon *d)
{
	return d->njobs > 0 || d->wbs != NULL;
}

/* Dirty entries no write-back is working on: the server refused them
 * and nobody could be told. Listed by `specnfs status`. */
struct stuck_list {
	struct spn_daemon *d;
	char *buf;
	size_t len, used;
	unsigned n;
};

static int
stuck_one(uint16_t mount, const char *path, const struct spn_entry *e, void *arg)
{
	struct stuck_list *l = arg;
	struct spn_wb *wb;

	if (mount >= l->d->nmounts || !(e->flags & SPN_EF_DIRTY))
		return 0;
	for (wb = l->d->wbs; wb != NULL; wb = wb->next)
		if (wb->m == &l->d->mounts[mount] && strcmp(wb->rel, path) == 0)
			return 0;
	if (l->n++ < 10) {
		spn_appendf(l->buf, l->len, &l->used,
			    "journal: %s%s is not written back (the server refused it: see the "
			    "log; the next daemon tries again)\n",
			    l->d->mounts[mount].prefix, path);
	}
	return 0;
}

int
spn_status_text(struct spn_daemon *d, char *buf, size_t len)
{
	uint64_t entries = 0, bytes = 0, dirty = 0;
	size_t used = 0;
	int i, c;

#define OUT(...) spn_appendf(buf, len, &used, __VA_ARGS__)

	spn_index_stats(d->idx, &entries, &bytes, &dirty);
	OUT("daemon: pid %d, up %lld s, %d client(s), %d job(s) in progress\n", (int)getpid(),
	    (long long)((spn_mono_ns() - d->started_ns) / 1000000000LL), d->nclients, d->njobs);
	OUT("cache: %s\n", d->base);
	OUT("cache: %llu entries, %llu bytes cached (cap %llu), %llu dirty\n",
	    (unsigned long long)entries, (unsigned long long)bytes,
	    (unsigned long long)d->pol.cache_max, (unsigned long long)dirty);
	if (dirty > 0) {
		struct stuck_list sl = { d, buf, len, used, 0 };

		spn_index_foreach_dirty(d->idx, stuck_one, &sl);
		used = sl.used;
		if (sl.n > 10)
			OUT("journal: ... and %u more not written back\n", sl.n - 10);
	}
	OUT("predictions: %llu made, %llu refuted\n", (unsigned long long)d->predictions,
	    (unsigned long long)d->refutations);
	if (d->lag_n > 0) {
		uint64_t seen = 0, p50 = 0, p90 = 0;
		int k, have50 = 0;

		for (k = 0; k <= SPN_LAG_MS; k++) {
			seen += d->lag_ms[k];
			if (!have50 && seen * 2 >= d->lag_n) {
				p50 = (uint64_t)k;
				have50 = 1;
			}
			if (seen * 10 >= d->lag_n * 9) {
				p90 = (uint64_t)k;
				break;
			}
		}
		OUT("validations: %llu answered, median %llu ms, 90%% %llu ms, max %llu ms after "
		    "their prediction\n",
		    (unsigned long long)d->lag_n, (unsigned long long)p50, (unsigned long long)p90,
		    (unsigned long long)d->lag_max_ms);
		OUT("  lags (ms=count):");
		for (k = 0; k <= SPN_LAG_MS; k++)
			if (d->lag_ms[k] > 0)
				OUT(" %d=%llu", k, (unsigned long long)d->lag_ms[k]);
		OUT("\n");
	}
	OUT("held mutations: %llu held, %llu dropped, %llu ms held in all\n",
	    (unsigned long long)d->n_held, (unsigned long long)d->n_dropped,
	    (unsigned long long)d->held_us / 1000);
	OUT("answers: %llu from cache, %llu negative from cache, %llu revalidations, %llu fetches, "
	    "%llu write-backs (%llu closes had nothing new to write back)\n",
	    (unsigned long long)d->cache_hits, (unsigned long long)d->negative_hits,
	    (unsigned long long)d->revalidations, (unsigned long long)d->fetches,
	    (unsigned long long)d->stores, (unsigned long long)d->stores_saved);
	OUT("directory checks: %llu predicted misses answered by %llu GETATTRs of their "
	    "directories\n",
	    (unsigned long long)d->dircheck_answers, (unsigned long long)d->dirchecks);
	OUT("misses answered by clients: %llu, %llu of them wrong\n", (unsigned long long)d->notes,
	    (unsigned long long)d->notes_failed);
	for (i = 0; i < d->nmounts; i++) {
		struct spn_mount *m = &d->mounts[i];
		const struct spn_nfs_stats *st = spn_nfs_stats(m->nfs);
		enum spn_nfs_state s = spn_nfs_state(m->nfs);
		uint64_t dirty_bytes = 0;
		struct spn_wb *wb;

		for (wb = d->wbs; wb != NULL; wb = wb->next) {
			struct stat sb;

			if (wb->m == m && spn_mirror_lstat(m, wb->rel, &sb) == 0)
				dirty_bytes += (uint64_t)sb.st_size;
		}
		OUT("mount %s = %s (NFSv%d): %s%s%s\n", m->prefix, m->url, spn_nfs_version(m->nfs),
		    s != SPN_NFS_UP ? (s == SPN_NFS_CONNECTING ? "connecting" : "down")
		    : spn_mount_unresponsive(d, m, spn_mono_ns()) ? "up, not responding"
								  : "up",
		    s != SPN_NFS_UP && spn_nfs_error(m->nfs)[0] ? ": " : "",
		    s != SPN_NFS_UP && spn_nfs_error(m->nfs)[0] ? spn_mount_down_reason(m) : "");
		OUT("  in flight: %d, reconnects: %llu, read %llu bytes, written %llu bytes, "
		    "dirty %llu bytes\n",
		    st->inflight, (unsigned long long)st->reconnects,
		    (unsigned long long)st->bytes_read, (unsigned long long)st->bytes_written,
		    (unsigned long long)dirty_bytes);
		if (st->stores_pipelined + st->stores_reset > 0)
			OUT("  stores in one round trip: %llu, times set again: %llu\n",
			    (unsigned long long)st->stores_pipelined,
			    (unsigned long long)st->stores_reset);
		OUT("  calls:");
		for (c = 0; c < SPN_CALL_NTYPES; c++)
			if (st->calls[c] > 0)
				OUT(" %s=%llu", spn_nfs_call_name((enum spn_nfs_call)c),
				    (unsigned long long)st->calls[c]);
		OUT("\n");
	}
	OUT("requests:");
	for (i = 1; i <= SPN_OP_MAX; i++)
		if (d->requests[i] > 0)
			OUT(" %s=%llu", spn_proto_op_name((uint16_t)i),
			    (unsigned long long)d->requests[i]);
	OUT("\n");
#undef OUT
	if (used >= len)
		used = len - 1;
	return (int)used;
}
