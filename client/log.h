/*
 * log.h: one logging macro for the shim, the daemon and the tool.
 *
 * SPN_LOG costs one branch when the level is off and preserves errno, so it
 * can sit in any wrapper. Levels: 0 off, 1 error, 2 warning/info, 3 debug,
 * 4 trace (SPECNFS_LOG). spn_appendf builds the multi-line reports
 * (`specnfs status`, `specnfs config`) in a caller's buffer.
 */
#ifndef SPECNFS_LOG_H
#define SPECNFS_LOG_H

#include <stddef.h>

#define SPN_LOG_ERR 1
#define SPN_LOG_INFO 2
#define SPN_LOG_DEBUG 3
#define SPN_LOG_TRACE 4

extern int spn_log_level;

void spn_log_open(const char *ident, int level, const char *file);
void spn_log_write(int level, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* printf at buf + *used, never past len; *used grows by what the text
 * needed (it may pass len: the caller sees the report did not fit). */
void spn_appendf(char *buf, size_t len, size_t *used, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define SPN_LOG(level, ...)                                                   \
	do {                                                                  \
		if (__builtin_expect(spn_log_level >= (level), 0))            \
			spn_log_write((level), __func__, __VA_ARGS__);        \
	} while (0)

#define spn_err(...) SPN_LOG(SPN_LOG_ERR, __VA_ARGS__)
#define spn_info(...) SPN_LOG(SPN_LOG_INFO, __VA_ARGS__)
#define spn_debug(...) SPN_LOG(SPN_LOG_DEBUG, __VA_ARGS__)
#define spn_trace(...) SPN_LOG(SPN_LOG_TRACE, __VA_ARGS__)

#endif
