/* log.c: timestamped, errno-preserving log lines to stderr or a file. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/log.h"

int spn_log_level = 1;
static int spn_log_fd = 2;
static const char *spn_log_ident = "specnfs";

void
spn_log_open(const char *ident, int level, const char *file)
{
	spn_log_ident = ident;
	spn_log_level = level;
	if (file != NULL && file[0] != '\0') {
		int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd >= 0)
			spn_log_fd = fd;
	}
}

void
spn_log_write(int level, const char *func, const char *fmt, ...)
{
	static const char *names[] = { "", "error", "info", "debug", "trace" };
	char buf[2048];
	struct timespec ts;
	struct tm tm;
	int saved = errno, n, m;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03ld %s[%d] %s: ",
		     tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		     spn_log_ident, (int)getpid(),
		     level >= 1 && level <= 4 ? names[level] : "?");
	if (level >= SPN_LOG_DEBUG && n > 0 && (size_t)n < sizeof(buf))
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s: ", func);
	va_start(ap, fmt);
	m = n > 0 && (size_t)n < sizeof(buf)
		    ? vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap)
		    : 0;
	va_end(ap);
	n += m > 0 ? m : 0;
	if ((size_t)n >= sizeof(buf) - 1)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(spn_log_fd, buf, (size_t)n) < 0) {
		/* Nowhere left to report a failed log write. */
	}
	errno = saved;
}

void
spn_appendf(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *used, *used < len ? len - *used : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used += (size_t)n;
}
