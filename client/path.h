/*
 * path.h: where a client path leads once a symbolic link in it is
 * followed, as the kernel follows it on the client. Pure string work (no
 * file system, no allocation), shared by the daemon, the shim and a unit
 * test.
 */
#ifndef SPECNFS_PATH_COMPOSE_H
#define SPECNFS_PATH_COMPOSE_H

#include <stddef.h>

/* The next name in a path at *p ("a" of "//a/b"): its start, its length
 * in *n (0 at the end), and *p moved past it. */
static inline const char *
spn_path_next(const char **p, size_t *n)
{
	const char *s = *p, *e;

	while (*s == '/')
		s++;
	for (e = s; *e != '\0' && *e != '/'; e++)
		;
	*n = (size_t)(e - s);
	*p = e;
	return s;
}

/* 1 if the normalised absolute path is dir or lies below it ("/" holds
 * everything; "/a" holds "/a/b", not "/ab"). */
static inline int
spn_path_beneath(const char *path, const char *dir)
{
	size_t n = 0;

	while (dir[n] != '\0' && dir[n] == path[n])
		n++;
	if (dir[n] != '\0')
		return 0;
	return path[n] == '/' || path[n] == '\0' || (n == 1 && dir[0] == '/');
}

/*
 * Lexical normalisation of an absolute path: "//", "/./" and "x/.." go;
 * ".." at the root stays at the root ("/.." is "/", as in the kernel).
 * 0, -EINVAL (not absolute) or -ENAMETOOLONG (out holds len bytes).
 */
int spn_path_normalize(const char *in, char *out, size_t len);

/*
 * The link at client path link (absolute, normalised: "/nfs/a/lnk") has
 * target; rest is what followed the link in the path ("f/g", or "" when
 * the link was the last name). out receives the normalised absolute path
 * the kernel would go on with: an absolute target starts over from "/",
 * a relative one from the link's directory. 0, -ENOENT for an empty
 * target, -ENAMETOOLONG.
 */
int spn_link_compose(const char *link, const char *target, const char *rest, char *out,
		     size_t len);

#endif
