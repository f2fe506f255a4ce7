/*
 * shim/init.c: the shim's start -- the re-entrancy guard, the configuration
 * (loaded on first use, re-entrancy safe), what it says on stderr, and the
 * constructor. A map of the shim's files is in shim/README.md.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client/shim/internal.h"

__thread int spn_shim_busy;

/* ------------------------------------------------------------ configuration */

static struct spn_policy shim_pol;
static char shim_base[PATH_MAX];
static char shim_sock[108];
static int shim_state; /* 0 not loaded, 1 ready, -1 disabled */
static dev_t shim_mirror_dev;
static int shim_have_dev;
static pthread_mutex_t shim_lock = PTHREAD_MUTEX_INITIALIZER;

/* Write to stderr without stdio (safe anywhere, keeps errno). */
void
spn_shim_say(const char *a, const char *b, const char *c)
{
	int saved = errno;
	const char *parts[] = { "specnfs: ", a, b, c, "\n" };
	size_t i;

	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (parts[i] != NULL && syscall(SYS_write, 2, parts[i], strlen(parts[i])) < 0)
			break;
	errno = saved;
}

/*
 * Loaded on first use, not in a constructor: wrapped calls arrive before
 * constructors run (from other libraries' constructors). Re-entrancy: the
 * loader runs with the guard up, so the libc calls it makes (fopen of the
 * config file, getenv) pass straight through.
 */
static void
load_config(void)
{
	char err[512];

	spn_shim_busy++;
	if (spn_policy_load(&shim_pol, NULL, err, sizeof(err)) < 0) {
		spn_shim_say("bad configuration, NFS paths are not served: ", err, NULL);
		shim_state = -1;
	} else if (shim_pol.nmounts == 0) {
		shim_state = -1;
	} else {
		snprintf(shim_base, sizeof(shim_base), "%s/%016llx", shim_pol.cache_dir,
			 (unsigned long long)spn_policy_hash(&shim_pol));
		spn_policy_socket_path(&shim_pol, shim_sock, sizeof(shim_sock));
		shim_state = 1;
		{
			struct stat st;

			/* The cache directory may not exist yet: then the
			 * daemon makes it, and we look again later. */
			if (REAL(fstatat)(AT_FDCWD, shim_pol.cache_dir, &st, 0) == 0) {
				shim_mirror_dev = st.st_dev;
				shim_have_dev = 1;
			}
		}
	}
	spn_shim_busy--;
}

int
spn_shim_ready(void)
{
	if (__builtin_expect(shim_state == 0, 0)) {
		pthread_mutex_lock(&shim_lock);
		if (shim_state == 0)
			load_config();
		pthread_mutex_unlock(&shim_lock);
	}
	return shim_state > 0;
}

int
spn_shim_maybe_mirror(const struct stat *st)
{
	long euid;

	if (!spn_spec_direct(SYS_geteuid, 0, 0, 0, 0, &euid))
		euid = (long)geteuid();
	if ((st->st_mode & 077) != 0 || st->st_uid != (uid_t)euid || !spn_shim_ready())
		return 0;
	if (!shim_have_dev) {
		struct stat c;

		if (REAL(fstatat)(AT_FDCWD, shim_pol.cache_dir, &c, 0) < 0)
			return 0;
		shim_mirror_dev = c.st_dev;
		shim_have_dev = 1;
	}
	return st->st_dev == shim_mirror_dev;
}

const struct spn_policy *
spn_shim_policy(void)
{
	return &shim_pol;
}

const char *
spn_shim_mirror_base(void)
{
	return shim_base;
}

void
spn_shim_complain(const char *what, int err)
{
	static int said;

	if (said++)
		return;
	spn_shim_say(what, ": ", strerror(-err));
}

const char *
spn_shim_socket(void)
{
	return shim_sock;
}

/*
 * The constructor: a fork() child opens its own daemon connection
 * (shim/call.c), and a program started by exec takes over the files open
 * for writing it inherits (shim/fd.c). Nothing else is done here: calls
 * arrive before constructors run, so everything loads on first use.
 */
__attribute__((constructor)) static void
shim_ctor(void)
{
	pthread_atfork(NULL, NULL, spn_call_atfork_child);
	spn_fd_import();
	spn_spec_ctor();
}
