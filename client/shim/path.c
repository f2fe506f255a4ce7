/*
 * shim/path.c: which paths are NFS paths -- (dirfd, path) classified as
 * the kernel would resolve it, with the cwd tracked while it is in the
 * mirror -- the mirror <-> NFS mapping, and the tail a normalised path
 * loses ("x/", ".", ".."). The normaliser itself is client/path.c.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client/path.h"
#include "client/shim/internal.h"

/* The cwd as an NFS path while it is inside the mirror. */
static char cwd_nfs[PATH_MAX];
static int cwd_state; /* 0 unknown, 1 in the mirror, -1 elsewhere */
static pthread_mutex_t cwd_lock = PTHREAD_MUTEX_INITIALIZER;

/* Is the normalised absolute path on one of the prefixes? */
static int
on_prefix(const char *norm)
{
	const struct spn_policy *p = spn_shim_policy();
	int i;

	for (i = 0; i < p->nmounts; i++) {
		size_t n = strlen(p->mounts[i].prefix);

		if (strncmp(norm, p->mounts[i].prefix, n) == 0 &&
		    (norm[n] == '/' || norm[n] == '\0'))
			return 1;
	}
	return 0;
}

int
spn_mirror_to_nfs(const char *mirror, char *nfs, size_t len)
{
	const char *base = spn_shim_mirror_base();
	size_t bl = strlen(base);
	const char *rest;
	char *end;
	unsigned long id;
	int n;

	if (bl == 0 || strncmp(mirror, base, bl) != 0 || mirror[bl] != '/' || mirror[bl + 1] != 'm')
		return 0;
	id = strtoul(mirror + bl + 2, &end, 10);
	if (end == mirror + bl + 2 || (*end != '/' && *end != '\0') ||
	    id >= (unsigned long)spn_shim_policy()->nmounts)
		return 0;
	rest = end;
	n = snprintf(nfs, len, "%s%s", spn_shim_policy()->mounts[id].prefix, rest);
	return n > 0 && (size_t)n < len ? 1 : -ENAMETOOLONG;
}

int
spn_nfs_to_mirror(const char *nfs, char *mirror, size_t len)
{
	const struct spn_policy *p = spn_shim_policy();
	const char *base = spn_shim_mirror_base();
	size_t best = 0;
	int i, id = -1, n;

	for (i = 0; i < p->nmounts; i++) {
		size_t pl = strlen(p->mounts[i].prefix);

		if (pl > best && strncmp(nfs, p->mounts[i].prefix, pl) == 0 &&
		    (nfs[pl] == '/' || nfs[pl] == '\0')) {
			best = pl;
			id = i;
		}
	}
	if (id < 0 || base[0] == '\0')
		return 0;
	n = snprintf(mirror, len, "%s/m%d%s", base, id, nfs + best);
	return n > 0 && (size_t)n < len ? 1 : -ENAMETOOLONG;
}

int
spn_mirror_dir_above(const char *nfs, char *dir, size_t len)
{
	char mirror[PATH_MAX];
	size_t n = strlen(nfs), mn;
	struct stat st;

	if (spn_nfs_to_mirror(nfs, mirror, sizeof(mirror)) <= 0)
		return 0;
	mn = strlen(mirror);
	for (;;) {
		while (n > 0 && nfs[n - 1] != '/')
			n--, mn--;
		if (n <= 1)
			return 0;
		n--, mn--; /* the slash */
		mirror[mn] = '\0';
		if (syscall(SYS_newfstatat, AT_FDCWD, mirror, &st, AT_SYMLINK_NOFOLLOW) == 0)
			break;
		if (errno != ENOENT)
			return 0;
	}
	if (!S_ISDIR(st.st_mode) || n >= len)
		return 0;
	memcpy(dir, nfs, n);
	dir[n] = '\0';
	return 1;
}

int
spn_local_path(const char *path, char *out, size_t len)
{
	char norm[PATH_MAX];
	const struct spn_policy *p = spn_shim_policy();
	int i;

	if (path == NULL || path[0] != '/' || !spn_shim_ready())
		return 0;
	for (i = 0; i < p->nmounts; i++) {
		size_t n = strlen(p->mounts[i].prefix);

		if (strncmp(path, p->mounts[i].prefix, n) == 0 && path[n] == '/')
			break;
	}
	if (i == p->nmounts || spn_path_normalize(path, norm, sizeof(norm)) < 0 ||
	    on_prefix(norm) || strlen(norm) >= len)
		return 0;
	memcpy(out, norm, strlen(norm) + 1);
	return 1;
}

int
spn_in_mirror(const char *path)
{
	const char *base = spn_shim_mirror_base();
	size_t bl = strlen(base);

	return bl > 0 && strncmp(path, base, bl) == 0 && path[bl] == '/';
}

void
spn_cwd_changed(void)
{
	char buf[PATH_MAX];

	spn_shim_busy++;
	pthread_mutex_lock(&cwd_lock);
	if (REAL(getcwd)(buf, sizeof(buf)) != NULL &&
	    spn_mirror_to_nfs(buf, cwd_nfs, sizeof(cwd_nfs)) == 1)
		cwd_state = 1;
	else
		cwd_state = -1;
	pthread_mutex_unlock(&cwd_lock);
	spn_shim_busy--;
}

int
spn_nfs_path(int dirfd, const char *path, char *nfs, size_t len)
{
	char joined[PATH_MAX * 2], base[PATH_MAX];
	int rc;

	if (path == NULL || !spn_shim_ready())
		return 0;
	if (path[0] == '/') {
		rc = spn_path_normalize(path, nfs, len);
		if (rc < 0)
			return rc;
		if (on_prefix(nfs))
			return 1;
		/* A mirror path that reached the program (a link read
		 * through libc internals): the daemon must validate it too. */
		if (strncmp(path, spn_shim_mirror_base(), strlen(spn_shim_mirror_base())) == 0) {
			snprintf(base, sizeof(base), "%s", nfs);
			return spn_mirror_to_nfs(base, nfs, len) == 1;
		}
		return 0;
	}
	if (dirfd == AT_FDCWD) {
		if (cwd_state == 0)
			spn_cwd_changed();
		if (cwd_state < 0)
			return 0;
		pthread_mutex_lock(&cwd_lock);
		snprintf(base, sizeof(base), "%s", cwd_nfs);
		pthread_mutex_unlock(&cwd_lock);
	} else if (spn_fd_nfs_path(dirfd, base, sizeof(base)) != 1) {
		return 0;
	}
	if (path[0] == '\0') {
		/* AT_EMPTY_PATH: the directory itself. */
		snprintf(joined, sizeof(joined), "%s", base);
	} else {
		snprintf(joined, sizeof(joined), "%s/%s", base, path);
	}
	rc = spn_path_normalize(joined, nfs, len);
	if (rc < 0)
		return rc;
	return on_prefix(nfs) ? 1 : 0;
}

int
spn_path_tail(const char *path)
{
	size_t n = strlen(path);
	const char *last;

	while (n > 1 && path[n - 1] == '/' && path[n - 2] == '/')
		n--;
	if (n > 1 && path[n - 1] == '/')
		return SPN_TAIL_SLASH;
	last = path + n;
	while (last > path && last[-1] != '/')
		last--;
	if (path + n - last == 1 && last[0] == '.')
		return SPN_TAIL_DOT;
	if (path + n - last == 2 && last[0] == '.' && last[1] == '.')
		return SPN_TAIL_DOTDOT;
	return SPN_TAIL_NONE;
}
