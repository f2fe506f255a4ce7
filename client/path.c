/*
 * path.c: lexical path work for symbolic links followed on the
 * client's side (see path.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "client/path.h"

int
spn_path_normalize(const char *in, char *out, size_t len)
{
	size_t o = 1;
	const char *p = in;

	if (in[0] != '/' || len < 2)
		return -EINVAL;
	out[0] = '/';
	while (*p != '\0') {
		size_t n;
		const char *s = spn_path_next(&p, &n);

		if (n == 0 || (n == 1 && s[0] == '.'))
			continue;
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 1 && out[o - 1] != '/')
				o--;
			if (o > 1)
				o--;
			continue;
		}
		if (o > 1)
			out[o++] = '/';
		if (o + n + 1 > len)
			return -ENAMETOOLONG;
		memcpy(out + o, s, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

int
spn_link_compose(const char *link, const char *target, const char *rest, char *out, size_t len)
{
	/* Lexical work may briefly need more than PATH_MAX ("a/../b"). */
	char joined[3 * PATH_MAX + 4];
	const char *slash = strrchr(link, '/');
	int n;

	if (target[0] == '\0')
		return -ENOENT;
	if (strlen(link) >= PATH_MAX || strlen(target) >= PATH_MAX || strlen(rest) >= PATH_MAX)
		return -ENAMETOOLONG;
	if (target[0] == '/')
		n = snprintf(joined, sizeof(joined), "%s/%s", target, rest);
	else
		n = snprintf(joined, sizeof(joined), "%.*s/%s/%s",
			     slash == NULL ? 0 : (int)(slash - link), link, target, rest);
	if (n < 0 || (size_t)n >= sizeof(joined))
		return -ENAMETOOLONG;
	return spn_path_normalize(joined, out, len);
}
