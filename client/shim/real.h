/*
 * shim/real.h: the libc functions behind the shim's wrappers -- one table,
 * one loader (shim/real.c), one way to call them: REAL(name)(args).
 *
 * Every real function the shim calls is one line of SPN_REAL_FUNCS:
 * X(return type, name, parameter types, value on failure). The pointer
 * spn_real_<name> is found with dlsym(RTLD_NEXT) on its first use, not in
 * a constructor, because wrapped calls arrive before constructors run
 * (from other libraries' constructors); shim/exec.c resolves the exec
 * family in its constructor, so that a vfork child never runs dlsym. After
 * that a call costs one load and one compare, as a plain pointer would.
 *
 * A function this libc lacks resolves to a stand-in that fails the call
 * with ENOSYS (and the table's failure value): nothing calls a NULL
 * pointer. REAL_FOUND(name) tells a present function from a stand-in, for
 * callers that have a fallback (execveat -> the raw syscall).
 */
#ifndef SPECNFS_SHIM_REAL_H
#define SPECNFS_SHIM_REAL_H

#include <dirent.h>
#include <dlfcn.h>
#include <fts.h>
#include <ftw.h>
#include <glob.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

struct statx;
struct statfs;
struct statvfs;

/* Callback types of the directory walkers (scandir, glob, ftw, fts). */
typedef int (*scan_filter_fn)(const struct dirent *);
typedef int (*scan_compar_fn)(const struct dirent **, const struct dirent **);
typedef int (*scan_filter64_fn)(const struct dirent64 *);
typedef int (*scan_compar64_fn)(const struct dirent64 **, const struct dirent64 **);
typedef int (*glob_err_fn)(const char *, int);
typedef int (*ftw_fn)(const char *, const struct stat *, int);
typedef int (*ftw64_fn)(const char *, const struct stat64 *, int);
typedef int (*nftw_fn)(const char *, const struct stat *, int, struct FTW *);
typedef int (*nftw64_fn)(const char *, const struct stat64 *, int, struct FTW *);
typedef int (*fts_compar_fn)(const FTSENT **, const FTSENT **);
typedef posix_spawn_file_actions_t spn_spawn_fa;

/* X(ret, name, params, failval), grouped by the file that wraps them. */
#define SPN_REAL_FUNCS(X)                                                                 \
	/* open.c */                                                                      \
	X(int, open, (const char *, int, ...), -1)                                        \
	X(int, openat, (int, const char *, int, ...), -1)                                 \
	X(int, close, (int), -1)                                                          \
	X(int, fsync, (int), -1)                                                          \
	X(int, fdatasync, (int), -1)                                                      \
	X(FILE *, fopen, (const char *, const char *), NULL)                              \
	X(FILE *, freopen, (const char *, const char *, FILE *), NULL)                    \
	X(int, fclose, (FILE *), -1)                                                      \
	X(int, mkstemp, (char *), -1)                                                     \
	X(int, mkstemp64, (char *), -1)                                                   \
	X(int, mkostemp, (char *, int), -1)                                               \
	X(int, mkostemp64, (char *, int), -1)                                             \
	X(int, mkstemps, (char *, int), -1)                                               \
	X(int, mkstemps64, (char *, int), -1)                                             \
	X(int, mkostemps, (char *, int, int), -1)                                         \
	X(int, mkostemps64, (char *, int, int), -1)                                       \
	X(char *, mkdtemp, (char *), NULL)                                                \
	X(int, dup, (int), -1)                                                            \
	X(int, dup2, (int, int), -1)                                                      \
	X(int, dup3, (int, int, int), -1)                                                 \
	X(int, fcntl, (int, int, ...), -1)                                                \
	/* stat.c */                                                                      \
	X(int, fstatat, (int, const char *, struct stat *, int), -1)                      \
	X(int, fstat, (int, struct stat *), -1)                                           \
	X(int, statx, (int, const char *, int, unsigned, struct statx *), -1)             \
	X(int, faccessat, (int, const char *, int, int), -1)                              \
	X(ssize_t, readlinkat, (int, const char *, char *, size_t), -1)                   \
	X(int, statfs, (const char *, struct statfs *), -1)                               \
	X(int, statvfs, (const char *, struct statvfs *), -1)                             \
	X(long, pathconf, (const char *, int), -1)                                        \
	X(ssize_t, getxattr, (const char *, const char *, void *, size_t), -1)            \
	X(ssize_t, lgetxattr, (const char *, const char *, void *, size_t), -1)           \
	X(ssize_t, fgetxattr, (int, const char *, void *, size_t), -1)                    \
	X(int, setxattr, (const char *, const char *, const void *, size_t, int), -1)     \
	X(int, lsetxattr, (const char *, const char *, const void *, size_t, int), -1)    \
	X(int, fsetxattr, (int, const char *, const void *, size_t, int), -1)             \
	X(ssize_t, listxattr, (const char *, char *, size_t), -1)                         \
	X(ssize_t, llistxattr, (const char *, char *, size_t), -1)                        \
	X(ssize_t, flistxattr, (int, char *, size_t), -1)                                 \
	X(int, removexattr, (const char *, const char *), -1)                             \
	X(int, lremovexattr, (const char *, const char *), -1)                            \
	X(int, fremovexattr, (int, const char *), -1)                                     \
	/* ns.c */                                                                        \
	X(int, mkdirat, (int, const char *, mode_t), -1)                                  \
	X(int, unlinkat, (int, const char *, int), -1)                                    \
	X(int, renameat2, (int, const char *, int, const char *, unsigned), -1)           \
	X(int, linkat, (int, const char *, int, const char *, int), -1)                   \
	X(int, symlinkat, (const char *, int, const char *), -1)                          \
	X(int, mknodat, (int, const char *, mode_t, dev_t), -1)                           \
	X(int, fchmodat, (int, const char *, mode_t, int), -1)                            \
	X(int, fchmod, (int, mode_t), -1)                                                 \
	X(int, fchownat, (int, const char *, uid_t, gid_t, int), -1)                      \
	X(int, fchown, (int, uid_t, gid_t), -1)                                           \
	X(int, utimensat, (int, const char *, const struct timespec *, int), -1)          \
	X(int, truncate, (const char *, off_t), -1)                                       \
	X(int, chdir, (const char *), -1)                                                 \
	X(int, fchdir, (int), -1)                                                         \
	X(char *, getcwd, (char *, size_t), NULL)                                         \
	X(char *, realpath, (const char *, char *), NULL)                                 \
	/* dir.c, walk.c */                                                               \
	X(DIR *, opendir, (const char *), NULL)                                           \
	X(DIR *, fdopendir, (int), NULL)                                                  \
	X(int, closedir, (DIR *), -1)                                                     \
	X(struct dirent *, readdir, (DIR *), NULL)                                        \
	X(struct dirent64 *, readdir64, (DIR *), NULL)                                    \
	X(int, readdir_r, (DIR *, struct dirent *, struct dirent **), ENOSYS)             \
	X(int, readdir64_r, (DIR *, struct dirent64 *, struct dirent64 **), ENOSYS)       \
	X(void, rewinddir, (DIR *), )                                                     \
	X(int, scandir, (const char *, struct dirent ***, scan_filter_fn, scan_compar_fn), \
	  -1)                                                                             \
	X(int, scandir64,                                                                 \
	  (const char *, struct dirent64 ***, scan_filter64_fn, scan_compar64_fn), -1)    \
	X(int, scandirat,                                                                 \
	  (int, const char *, struct dirent ***, scan_filter_fn, scan_compar_fn), -1)     \
	X(int, scandirat64,                                                               \
	  (int, const char *, struct dirent64 ***, scan_filter64_fn, scan_compar64_fn),   \
	  -1)                                                                             \
	X(int, glob, (const char *, int, glob_err_fn, glob_t *), GLOB_ABORTED)            \
	X(int, glob64, (const char *, int, glob_err_fn, glob64_t *), GLOB_ABORTED)        \
	X(int, ftw, (const char *, ftw_fn, int), -1)                                      \
	X(int, ftw64, (const char *, ftw64_fn, int), -1)                                  \
	X(int, nftw, (const char *, nftw_fn, int, int), -1)                               \
	X(int, nftw64, (const char *, nftw64_fn, int, int), -1)                           \
	X(FTS *, fts_open, (char *const *, int, fts_compar_fn), NULL)                     \
	X(FTSENT *, fts_read, (FTS *), NULL)                                              \
	X(FTSENT *, fts_children, (FTS *, int), NULL)                                     \
	X(int, fts_set, (FTS *, FTSENT *, int), -1)                                       \
	X(int, fts_close, (FTS *), -1)                                                    \
	X(FTS *, fts64_open, (char *const *, int, fts_compar_fn), NULL)                   \
	X(FTSENT *, fts64_read, (FTS *), NULL)                                            \
	X(FTSENT *, fts64_children, (FTS *, int), NULL)                                   \
	X(int, fts64_set, (FTS *, FTSENT *, int), -1)                                     \
	X(int, fts64_close, (FTS *), -1)                                                  \
	/* exec.c (posix_spawn* return the error number itself) */                        \
	X(int, execve, (const char *, char *const[], char *const[]), -1)                  \
	X(int, execveat, (int, const char *, char *const[], char *const[], int), -1)      \
	X(int, fexecve, (int, char *const[], char *const[]), -1)                          \
	X(int, execvpe, (const char *, char *const[], char *const[]), -1)                 \
	X(int, posix_spawn,                                                               \
	  (pid_t *, const char *, const spn_spawn_fa *, const posix_spawnattr_t *,        \
	   char *const[], char *const[]),                                                 \
	  ENOSYS)                                                                         \
	X(int, posix_spawnp,                                                              \
	  (pid_t *, const char *, const spn_spawn_fa *, const posix_spawnattr_t *,        \
	   char *const[], char *const[]),                                                 \
	  ENOSYS)                                                                         \
	X(int, posix_spawn_file_actions_addopen,                                          \
	  (spn_spawn_fa *, int, const char *, int, mode_t), ENOSYS)                       \
	X(int, posix_spawn_file_actions_addchdir_np, (spn_spawn_fa *, const char *),      \
	  ENOSYS)                                                                         \
	X(void *, dlopen, (const char *, int), NULL)                                      \
	X(void *, dlmopen, (Lmid_t, const char *, int), NULL)                             \
	/* cred.c */                                                                      \
	X(int, setuid, (uid_t), -1)                                                       \
	X(int, setgid, (gid_t), -1)                                                       \
	X(int, seteuid, (uid_t), -1)                                                      \
	X(int, setegid, (gid_t), -1)                                                      \
	X(int, setreuid, (uid_t, uid_t), -1)                                              \
	X(int, setregid, (gid_t, gid_t), -1)                                              \
	X(int, setresuid, (uid_t, uid_t, uid_t), -1)                                      \
	X(int, setresgid, (gid_t, gid_t, gid_t), -1)                                      \
	X(int, setgroups, (size_t, const gid_t *), -1)                                    \
	X(int, initgroups, (const char *, gid_t), -1)                                     \
	X(int, setfsuid, (uid_t), -1)                                                     \
	X(int, setfsgid, (gid_t), -1)

/*
 * For each entry: the pointer (NULL until first use), its loader (dlsym,
 * else the stand-in; cold, out of line) and the stand-in, which sets
 * errno to ENOSYS and returns failval.
 */
#define SPN_REAL_DECL(ret, name, params, failval)                                        \
	extern ret(*spn_real_##name) params;                                              \
	__typeof__(spn_real_##name) spn_real_load_##name(void);                           \
	ret spn_real_enosys_##name(void);
SPN_REAL_FUNCS(SPN_REAL_DECL)
#undef SPN_REAL_DECL

/* Resolve one real function by name (dlsym RTLD_NEXT, guard up); NULL if absent. */
void *spn_real_lookup(const char *name);

#define REAL(name)                                                                        \
	(__builtin_expect(spn_real_##name != NULL, 1) ? spn_real_##name                  \
						      : spn_real_load_##name())
#define REAL_FOUND(name) ((void *)REAL(name) != (void *)spn_real_enosys_##name)

#endif
