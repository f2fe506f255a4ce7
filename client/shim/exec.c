/*
 * shim/exec.c: starting programs -- the exec family, posix_spawn(p) and its
 * file actions, dlopen.
 *
 * A program on NFS is started from its mirror copy: the daemon fetches it
 * (SPN_OP_OPEN), and the real execve runs the mirror path. The kernel would
 * hand a "#!" script's path to its interpreter, which for a mirror path
 * means the script runs as "<cache>/m0/bin/x" without asking the daemon
 * again; so the shim reads the "#!" line itself and starts the interpreter
 * with the script's NFS path, as the kernel would have (the interpreter
 * runs under the shim and opens that path through it).
 *
 * glibc searches PATH with its internal execve, which we cannot see: the
 * shim searches PATH itself, in glibc's order and with glibc's errors.
 *
 * Programs that build their own environment (env -i, sudo, make's exports)
 * would drop LD_PRELOAD and the SPECNFS_* settings, and their children would
 * see /nfs vanish: every exec and spawn puts back what this process started
 * with.
 *
 * Everything on the exec path may run in a vfork child (gcc's pex uses
 * vfork + execv, Python's subprocess vfork + execve) that shares our memory
 * with a suspended parent: no malloc, no stdio, no locks held across the
 * exec, no global writes, the guard never left raised; the new environment
 * and argument vectors live on the stack. posix_spawn itself is wrapped in
 * the parent, so glibc's spawn child never runs this code.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client/shim/internal.h"

extern char **environ;

/* What the kernel reads of a "#!" line (BINPRM_BUF_SIZE). */
#define HEAD_MAX 256
/* glibc's execvp default when PATH is unset (_CS_PATH). */
#define DEFAULT_PATH "/bin:/usr/bin"
#define BIN_SH "/bin/sh"

/* ------------------------------------------------------------ real functions */

/* The exec family's real functions, found in the constructor and on every
 * exec (a no-op once found): a vfork child must never run dlsym. */
static void
resolve_all(void)
{
	(void)REAL(execve);
	(void)REAL(execveat);
	(void)REAL(fexecve);
	(void)REAL(execvpe);
	(void)REAL(posix_spawn);
	(void)REAL(posix_spawnp);
	(void)REAL(posix_spawn_file_actions_addopen);
	(void)REAL(posix_spawn_file_actions_addchdir_np);
	(void)REAL(dlopen);
	(void)REAL(dlmopen);
}

/* ------------------------------------------------------------ environment */

/*
 * What every child must inherit: the SPECNFS_* variables and LD_PRELOAD as
 * this process started with them (copied once, in the constructor), and the
 * path of this library.
 */
#define KEEP_MAX 64
static char keep_buf[16384];
static const char *keep_vars[KEEP_MAX]; /* "SPECNFS_X=value" */
static int keep_n;
static const char *keep_preload; /* "LD_PRELOAD=..." for an envp without one */
static char self_path[PATH_MAX];
static int keep_ready;

static const char *
base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s != NULL ? s + 1 : p;
}

/* Does the LD_PRELOAD value list this library? (ld.so separates the names
 * with ':' or spaces.) */
static int
preload_has_self(const char *v)
{
	const char *self_base = base_name(self_path);
	size_t sl = strlen(self_path), bl = strlen(self_base);

	while (*v != '\0') {
		const char *s, *b;
		size_t n;

		while (*v == ':' || *v == ' ' || *v == '\t')
			v++;
		s = v;
		while (*v != '\0' && *v != ':' && *v != ' ' && *v != '\t')
			v++;
		n = (size_t)(v - s);
		if (n == 0)
			continue;
		if (n == sl && memcmp(s, self_path, n) == 0)
			return 1;
		for (b = s + n; b > s && b[-1] != '/'; b--)
			;
		if ((size_t)(s + n - b) == bl && memcmp(b, self_base, bl) == 0)
			return 1;
	}
	return 0;
}

static char *
keep_copy(size_t *used, const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	char *p = keep_buf + *used;

	if (*used + na + nb + 1 > sizeof(keep_buf))
		return NULL;
	memcpy(p, a, na);
	memcpy(p + na, b, nb + 1);
	*used += na + nb + 1;
	return p;
}

__attribute__((constructor)) static void
exec_ctor(void)
{
	const char *pre = NULL;
	char **e;
	size_t used = 0;
	Dl_info info;

	spn_shim_busy++;
	/* The real exec functions are looked up at the first exec or spawn:
	 * most processes (cc1, as) never start another. */
	if (dladdr((void *)exec_ctor, &info) != 0 && info.dli_fname != NULL) {
		/* The name as loaded; a relative one would not work from
		 * the children's working directories. */
		if (info.dli_fname[0] == '/' ||
		    REAL(realpath)(info.dli_fname, self_path) == NULL)
			snprintf(self_path, sizeof(self_path), "%s", info.dli_fname);
	}
	for (e = environ; e != NULL && *e != NULL; e++) {
		if (strncmp(*e, "SPECNFS_", 8) == 0 && strncmp(*e, "SPECNFS_BIRTH=", 14) != 0 &&
		    keep_n < KEEP_MAX) {
			const char *c = keep_copy(&used, *e, "");

			if (c != NULL)
				keep_vars[keep_n++] = c;
		} else if (strncmp(*e, "LD_PRELOAD=", 11) == 0 && pre == NULL) {
			pre = *e + 11;
		}
	}
	if (self_path[0] != '\0') {
		if (pre != NULL && preload_has_self(pre))
			keep_preload = keep_copy(&used, "LD_PRELOAD=", pre);
		if (keep_preload == NULL)
			keep_preload = keep_copy(&used, "LD_PRELOAD=", self_path);
	}
	keep_ready = 1;
	spn_shim_busy--;
	/*
	 * The settings must be the ones this process started with: a
	 * program that empties its environment (env -i) before its first
	 * NFS call would otherwise load none, and not find /nfs/bin/x.
	 */
	spn_shim_ready();
}

/* The daemon serves the shim and must never run under it (its own start
 * in conn.c takes LD_PRELOAD out on purpose). */
static int
env_wanted(const char *target)
{
	return keep_ready && target != NULL && strcmp(base_name(target), "specnfsd") != 0;
}

static size_t
vec_len(char *const v[])
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

/* envp's entry for NAME= (name includes the '='), or NULL. */
static const char *
env_find(char *const envp[], const char *name, size_t n)
{
	size_t i;

	for (i = 0; envp != NULL && envp[i] != NULL; i++)
		if (strncmp(envp[i], name, n) == 0)
			return envp[i];
	return NULL;
}

/* Sizes of the vector and string space env_fix() needs. */
static void
env_sizes(char *const envp[], size_t *nvec, size_t *nstr)
{
	const char *pre = env_find(envp, "LD_PRELOAD=", 11);

	*nvec = vec_len(envp) + (size_t)keep_n + 3;
	*nstr = 1;
	if (pre != NULL && !preload_has_self(pre + 11))
		*nstr = strlen(pre) + strlen(self_path) + 2;
	/* Room for SPECNFS_FDS after it. */
	*nstr += spn_fd_env(NULL, 0);
}

/* envp with whatever of ours it lacks, in vec (and str for a longer
 * LD_PRELOAD). */
static char *const *
env_fix(char *const envp[], char **vec, char *str)
{
	size_t n = 0, i;
	int have_pre = 0, k;

	char *fds;
	size_t fdn;

	str[0] = '\0';
	for (i = 0; envp != NULL && envp[i] != NULL; i++) {
		if (strncmp(envp[i], "SPECNFS_FDS=", 12) == 0)
			continue; /* ours is built below, as of now */
		if (strncmp(envp[i], "LD_PRELOAD=", 11) == 0 && !have_pre) {
			have_pre = 1;
			if (self_path[0] != '\0' && !preload_has_self(envp[i] + 11)) {
				/* Ours first, like DMTCP: it must see the
				 * calls before other preloads pass them on. */
				size_t sl = strlen(self_path);

				memcpy(str, "LD_PRELOAD=", 11);
				memcpy(str + 11, self_path, sl);
				str[11 + sl] = envp[i][11] != '\0' ? ':' : '\0';
				memcpy(str + 12 + sl, envp[i] + 11, strlen(envp[i] + 11) + 1);
				vec[n++] = str;
				continue;
			}
		}
		vec[n++] = envp[i];
	}
	if (!have_pre && keep_preload != NULL)
		vec[n++] = (char *)keep_preload;
	for (k = 0; k < keep_n; k++) {
		const char *eq = strchr(keep_vars[k], '=');

		if (strncmp(keep_vars[k], "SPECNFS_FDS=", 12) == 0)
			continue;
		if (eq != NULL &&
		    env_find(envp, keep_vars[k], (size_t)(eq - keep_vars[k]) + 1) == NULL)
			vec[n++] = (char *)keep_vars[k];
	}
	/* The rewritten LD_PRELOAD (if any) sits at str; the fd list after
	 * it, in the room env_sizes() counted. */
	if (have_pre && str[0] != '\0')
		fds = str + strlen(str) + 1;
	else
		fds = str;
	fdn = spn_fd_env(fds, (size_t)-1 / 2);
	if (fdn > sizeof("SPECNFS_FDS=") && fds[12] != '\0')
		vec[n++] = fds;
	vec[n] = NULL;
	return vec;
}

/* ------------------------------------------------------------ starting */

/* How a found program is started: exec (replace this process) or spawn. */
struct launch {
	int spawn;
	pid_t *pid;
	const posix_spawn_file_actions_t *fa;
	const posix_spawnattr_t *attr;
};

/* execve of (dirfd, path) with execveat's flags: execveat only where
 * execve cannot say it, and the raw syscall where libc lacks execveat.
 * Returns only on failure: -1 with errno. */
static int
exec_at(int dirfd, const char *path, int flags, char *const argv[], char *const envp[])
{
	if (dirfd == AT_FDCWD && flags == 0)
		return REAL(execve)(path, argv, envp);
	if (REAL_FOUND(execveat))
		return REAL(execveat)(dirfd, path, argv, envp, flags);
	return (int)syscall(SYS_execveat, dirfd, path, argv, envp, flags);
}

/*
 * Will the program at (dirfd, path) run with this shim loaded? A script
 * (its interpreter is started through the dynamic loader), or a 64-bit
 * x86-64 ELF with a PT_INTERP; not a set-uid or set-gid file (the loader
 * ignores LD_PRELOAD there). Used before a speculative process starts a
 * program that must hold its output like its parent did.
 */
int
spn_image_takes_shim(int dirfd, const char *path)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	struct stat st;
	int fd, i, ok = 0;

	fd = (int)syscall(SYS_openat, dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return 0;
	if (syscall(SYS_fstat, fd, &st) < 0 || (st.st_mode & (S_ISUID | S_ISGID)) ||
	    syscall(SYS_pread64, fd, &eh, sizeof(eh), 0) < 2)
		goto out;
	if (memcmp(&eh, "#!", 2) == 0) {
		ok = 1;
		goto out;
	}
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_machine != EM_X86_64 || eh.e_phentsize != sizeof(ph) || eh.e_phnum > 256)
		goto out;
	for (i = 0; i < eh.e_phnum && !ok; i++) {
		if (syscall(SYS_pread64, fd, &ph, sizeof(ph),
			    (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) != (long)sizeof(ph))
			break;
		ok = ph.p_type == PT_INTERP;
	}
out:
	syscall(SYS_close, fd);
	return ok;
}

/*
 * Spawns whose file actions open a file for writing (posix_spawn_file_
 * actions_addopen below): the child truncates or creates it before the
 * program runs, where no output commit holds it. Such a spawn from a
 * speculative process resolves first. A small ring of the action lists
 * seen; a stale entry only costs a resolve.
 */
#define FA_WRITERS 16
static const posix_spawn_file_actions_t *fa_writers[FA_WRITERS];
static unsigned fa_next;

static void
fa_note(const posix_spawn_file_actions_t *fa, int oflag)
{
	if ((oflag & O_ACCMODE) != O_RDONLY || (oflag & (O_CREAT | O_TRUNC | O_APPEND)))
		fa_writers[fa_next++ % FA_WRITERS] = fa;
}

static int
fa_writes(const posix_spawn_file_actions_t *fa)
{
	int i;

	for (i = 0; fa != NULL && i < FA_WRITERS; i++)
		if (fa_writers[i] == fa)
			return 1;
	return 0;
}

/*
 * Returns -errno (an exec that returns failed), or 0 for a started spawn.
 * A speculative process passes what the program depends on in
 * SPECNFS_BIRTH (spec/speculate.c); any other copy of it is dropped.
 */
static int
start_image(const struct launch *l, int dirfd, const char *path, int flags, char *const argv[],
	    char *const envp[])
{
	uint64_t id = spn_spec_launch(l->spawn, dirfd, path, l->spawn && fa_writes(l->fa));
	pid_t waiter = spn_spec_waiter(l->spawn);
	size_t n = vec_len(envp), i, k = 0;
	char *vec[n + 4], birth[48], wait_env[48], pipes[800];
	int rc;

	for (i = 0; i < n; i++)
		if (strncmp(envp[i], "SPECNFS_BIRTH=", 14) != 0 &&
		    strncmp(envp[i], "SPECNFS_WAITER=", 15) != 0 &&
		    strncmp(envp[i], "SPECNFS_PIPES=", 14) != 0)
			vec[k++] = envp[i];
	if (id != 0) {
		snprintf(birth, sizeof(birth), "SPECNFS_BIRTH=%llx", (unsigned long long)id);
		vec[k++] = birth;
		memcpy(pipes, "SPECNFS_PIPES=", 14);
		if (spn_spec_pipes(pipes + 14, sizeof(pipes) - 14) > 0)
			vec[k++] = pipes;
	}
	if (waiter > 0) {
		snprintf(wait_env, sizeof(wait_env), "SPECNFS_WAITER=%d", (int)waiter);
		vec[k++] = wait_env;
	}
	vec[k] = NULL;
	if (id != 0)
		spn_spec_hold(1); /* the real call runs natively, not as a barrier */
	if (l->spawn) {
		rc = -REAL(posix_spawn)(l->pid, path, l->fa, l->attr, argv, vec);
	} else {
		exec_at(dirfd, path, flags, argv, vec);
		rc = -errno;
	}
	if (id != 0) {
		spn_spec_hold(0);
		spn_spec_launched(l->spawn, l->spawn && rc == 0 ? *l->pid : -1, id);
	}
	return rc;
}

/* The first HEAD_MAX bytes of a file, NUL-terminated: length or -errno. */
static ssize_t
read_head(int dirfd, const char *path, char *buf)
{
	ssize_t n;
	int fd;

	fd = (int)syscall(SYS_openat, dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	do
		n = syscall(SYS_read, fd, buf, HEAD_MAX);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		n = -errno;
	syscall(SYS_close, fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/*
 * Parse a "#!" line as the kernel does (binfmt_script): the interpreter is
 * the first word, the rest of the line (trimmed) one optional argument.
 * Returns 1 with *interp and *arg pointing into buf (which is cut up), 0 if not
 * a script, -ENOEXEC for a "#!" line the kernel would refuse.
 */
static int
parse_shebang(char *buf, size_t n, char **interp, char **arg)
{
	char *p, *end, *nl;

	if (n < 2 || buf[0] != '#' || buf[1] != '!')
		return 0;
	nl = memchr(buf, '\n', n);
	end = nl != NULL ? nl : buf + n;
	*end = '\0';
	while (end > buf + 2 && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	for (p = buf + 2; *p == ' ' || *p == '\t'; p++)
		;
	if (*p == '\0')
		return -ENOEXEC;
	*interp = p;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	/* An interpreter name cut by the buffer's end: the kernel refuses. */
	if (*p == '\0' && nl == NULL && n >= HEAD_MAX)
		return -ENOEXEC;
	*arg = NULL;
	if (*p != '\0') {
		*p++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '\0')
			*arg = p;
	}
	return 1;
}

static int launch_path(const struct launch *l, int dirfd, const char *path, int flags,
		       char *const argv[], char *const envp[], int depth);

/* Start a script's interpreter as the kernel would: interp [arg] script
 * argv[1]... -- script being the path as the caller named it. */
static int
run_interpreter(const struct launch *l, const char *interp, const char *arg, const char *script,
		char *const argv[], char *const envp[], int depth)
{
	size_t argc = vec_len(argv), i, k = 0;
	char *nargv[argc + 4];

	nargv[k++] = (char *)interp;
	if (arg != NULL)
		nargv[k++] = (char *)arg;
	nargv[k++] = (char *)script;
	for (i = 1; i < argc; i++)
		nargv[k++] = argv[i];
	nargv[k] = NULL;
	return launch_path(l, AT_FDCWD, interp, 0, nargv, envp, depth + 1);
}

/*
 * A local script whose "#!" interpreter is on NFS: the kernel said ENOENT
 * (it cannot see the interpreter). Returns the result of running it
 * ourselves, or rc when that is not the case.
 */
static int
local_script(const struct launch *l, int dirfd, const char *path, char *const argv[],
	     char *const envp[], int depth, int rc)
{
	char head[HEAD_MAX + 1], nfs[SPN_PATH_MAX], *interp, *arg;
	ssize_t n;

	if (depth > 0 || (dirfd != AT_FDCWD && path[0] != '/') || !spn_shim_ready())
		return rc;
	n = read_head(AT_FDCWD, path, head);
	if (n <= 0 || parse_shebang(head, (size_t)n, &interp, &arg) != 1 ||
	    spn_nfs_path(AT_FDCWD, interp, nfs, sizeof(nfs)) != 1)
		return rc;
	return run_interpreter(l, interp, arg, path, argv, envp, depth);
}

/*
 * May the caller execute this NFS file? The mirror copy has x bits when
 * the server's mode has any (what root needs); others are asked of the
 * daemon, which knows the owner and groups.
 */
static int
may_exec(const char *nfs, const char *mirror)
{
	struct spn_reply rep;

	if (syscall(SYS_faccessat, AT_FDCWD, mirror, X_OK) < 0)
		return -errno;
	if (geteuid() == 0)
		return 0;
	return spn_call_path(SPN_OP_ACCESS, nfs, 0, X_OK, &rep);
}

/*
 * Start the program at (dirfd, path): one code path for every exec and
 * spawn. depth counts interpreters already substituted for a script.
 */
static int
launch_path(const struct launch *l, int dirfd, const char *path, int flags, char *const argv[],
	    char *const envp[], int depth)
{
	char nfs[SPN_PATH_MAX], head[HEAD_MAX + 1], *interp, *arg;
	struct spn_reply rep;
	ssize_t n;
	int rc;

	rc = spn_nfs_path(dirfd, path, nfs, sizeof(nfs));
	if (rc < 0)
		return rc;
	if (rc == 0) {
		/* A name that does not exist fails here as in the kernel:
		 * no spawn that cannot work, and no resolve before an exec
		 * that cannot happen (execvp tries every PATH entry; each
		 * miss was a barrier of a speculative process). */
		if (syscall(SYS_faccessat, dirfd, path, F_OK) < 0 &&
		    (errno == ENOENT || errno == ENOTDIR))
			return -errno;
		rc = start_image(l, dirfd, path, flags, argv, envp);
		if (rc == -ENOENT)
			rc = local_script(l, dirfd, path, argv, envp, depth, rc);
		return rc;
	}

	rc = spn_call_path(SPN_OP_OPEN, nfs,
			   O_RDONLY | ((flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0), 0, &rep);
	if (rc < 0)
		return rc;
	if (rep.attr.type != S_IFREG)
		return -EACCES; /* what execve says of a directory */
	rc = may_exec(nfs, rep.path);
	if (rc < 0)
		return rc;
	n = read_head(AT_FDCWD, rep.path, head);
	if (n < 0)
		return (int)n;
	rc = parse_shebang(head, (size_t)n, &interp, &arg);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return start_image(l, AT_FDCWD, rep.path, 0, argv, envp);
	/* One interpreter on NFS is enough: refuse a script for one. */
	if (depth > 0)
		return -ELOOP;
	return run_interpreter(l, interp, arg, path, argv, envp, depth);
}

/* glibc's fallback for a file execve refuses: "/bin/sh file args". */
static int
run_with_sh(const struct launch *l, const char *file, char *const argv[], char *const envp[])
{
	size_t argc = vec_len(argv), i, k = 0;
	char *nargv[argc + 2];

	nargv[k++] = (char *)BIN_SH;
	nargv[k++] = (char *)file;
	for (i = 1; i < argc; i++)
		nargv[k++] = argv[i];
	nargv[k] = NULL;
	return launch_path(l, AT_FDCWD, BIN_SH, 0, nargv, envp, 1);
}

/*
 * execvpe's search, as glibc does it (posix/execvpe.c): a name with '/' is
 * not searched; an empty PATH entry is the working directory; EACCES from
 * any entry is remembered; errors other than "not here" stop the search;
 * with sh_fallback, ENOEXEC runs the file with /bin/sh.
 */
static int
search_path(const struct launch *l, const char *file, char *const argv[], char *const envp[],
	    int sh_fallback)
{
	const char *path, *p, *end;
	size_t flen = strlen(file), plen;
	int rc = -ENOENT, eacces = 0;

	if (flen == 0)
		return -ENOENT;
	if (strchr(file, '/') != NULL) {
		rc = launch_path(l, AT_FDCWD, file, 0, argv, envp, 0);
		if (rc == -ENOEXEC && sh_fallback)
			rc = run_with_sh(l, file, argv, envp);
		return rc;
	}
	if (flen > NAME_MAX)
		return -ENAMETOOLONG;
	path = getenv("PATH");
	if (path == NULL)
		path = DEFAULT_PATH;
	plen = strlen(path);
	{
		char buf[plen + flen + 2];

		for (p = path;; p = end + 1) {
			size_t dl;

			end = strchrnul(p, ':');
			dl = (size_t)(end - p);
			memcpy(buf, p, dl);
			if (dl > 0)
				buf[dl++] = '/';
			memcpy(buf + dl, file, flen + 1);
			rc = launch_path(l, AT_FDCWD, buf, 0, argv, envp, 0);
			if (rc == -ENOEXEC && sh_fallback)
				rc = run_with_sh(l, buf, argv, envp);
			switch (rc) {
			case -EACCES:
				eacces = 1;
				break;
			case -ENOENT:
			case -ESTALE:
			case -ENOTDIR:
			case -ENODEV:
			case -ETIMEDOUT:
				break;
			default:
				return rc; /* started (spawn), or a real failure */
			}
			if (*end == '\0')
				break;
		}
	}
	return eacces ? -EACCES : rc;
}

enum how { HOW_PATH, HOW_SEARCH, HOW_FD };

/*
 * Every exec and spawn ends here: the environment made whole (on this
 * stack frame, alive until the exec), then the program found (a PATH
 * search for HOW_SEARCH, with glibc's /bin/sh fallback if sh_fallback) and
 * started. dirfd is fexecve's fd for HOW_FD.
 */
static int
exec_common(const struct launch *l, enum how how, int dirfd, const char *path, int flags,
	    char *const argv[], char *const envp[], int sh_fallback)
{
	size_t nvec = 1, nstr = 1;
	int fix = env_wanted(how == HOW_FD ? "" : path);
	char *const *env = envp;

	if (fix)
		env_sizes(envp, &nvec, &nstr);
	{
		char *vec[nvec], str[nstr];

		if (fix)
			env = env_fix(envp, vec, str);
		switch (how) {
		case HOW_FD:
			REAL(fexecve)(dirfd, argv, env);
			return -errno;
		case HOW_SEARCH:
			return search_path(l, path, argv, env, sh_fallback);
		case HOW_PATH:
		default:
			if ((flags & AT_EMPTY_PATH) && path[0] == '\0')
				return start_image(l, dirfd, path, flags, argv, env);
			return launch_path(l, dirfd, path, flags, argv, env, 0);
		}
	}
}

static const struct launch exec_launch = { .spawn = 0 };

/* ------------------------------------------------------------ exec family */

/*
 * The exec family: through exec_common, or straight to libc while the
 * shim itself is working (execveat as the flags need: see exec_at).
 * Returns only on failure: -1 with errno.
 */
static int
exec_wrap(enum how how, int dirfd, const char *path, int flags, char *const argv[],
	  char *const envp[])
{
	resolve_all();
	if (spn_shim_busy && how == HOW_FD)
		return REAL(fexecve)(dirfd, argv, envp);
	if (spn_shim_busy && how == HOW_SEARCH)
		return REAL(execvpe)(path, argv, envp);
	if (spn_shim_busy)
		return exec_at(dirfd, path, flags, argv, envp);
	return spn_fail(exec_common(&exec_launch, how, dirfd, path, flags, argv, envp,
				    how == HOW_SEARCH));
}

SPN_EXPORT int
execve(const char *path, char *const argv[], char *const envp[])
{
	return exec_wrap(HOW_PATH, AT_FDCWD, path, 0, argv, envp);
}

SPN_EXPORT int
execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	return exec_wrap(HOW_PATH, dirfd, path, flags, argv, envp);
}

SPN_EXPORT int
fexecve(int fd, char *const argv[], char *const envp[])
{
	return exec_wrap(HOW_FD, fd, NULL, 0, argv, envp);
}

SPN_EXPORT int
execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

SPN_EXPORT int
execvpe(const char *file, char *const argv[], char *const envp[])
{
	return exec_wrap(HOW_SEARCH, AT_FDCWD, file, 0, argv, envp);
}

SPN_EXPORT int
execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

/* The execl* forms: their arguments, on the stack, into execve/execvpe. */
#define COLLECT_ARGS(arg0, ap, after)                                                     \
	size_t argc = 1;                                                                  \
	va_list ap;                                                                       \
	va_start(ap, arg0);                                                               \
	while (va_arg(ap, char *) != NULL)                                                \
		argc++;                                                                   \
	va_end(ap);                                                                       \
	char *argv[argc + 1];                                                             \
	argv[0] = (char *)arg0;                                                           \
	va_start(ap, arg0);                                                               \
	for (size_t i_ = 1; i_ <= argc; i_++)                                             \
		argv[i_] = va_arg(ap, char *);                                            \
	after;                                                                            \
	va_end(ap)

SPN_EXPORT int
execl(const char *path, const char *arg, ...)
{
	COLLECT_ARGS(arg, ap, (void)0);
	return execve(path, argv, environ);
}

SPN_EXPORT int
execlp(const char *file, const char *arg, ...)
{
	COLLECT_ARGS(arg, ap, (void)0);
	return execvpe(file, argv, environ);
}

SPN_EXPORT int
execle(const char *path, const char *arg, ...)
{
	char *const *envp;

	COLLECT_ARGS(arg, ap, envp = va_arg(ap, char *const *));
	return execve(path, argv, envp);
}

/* ------------------------------------------------------------ posix_spawn */

/* posix_spawn (search 0) and posix_spawnp (search 1): they return the
 * error number itself. */
static int
spawn_common(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
	     const posix_spawnattr_t *attr, char *const argv[], char *const envp[], int search)
{
	const struct launch l = { .spawn = 1, .pid = pid, .fa = fa, .attr = attr };

	resolve_all();
	if (spn_shim_busy && search)
		return REAL(posix_spawnp)(pid, file, fa, attr, argv, envp);
	if (spn_shim_busy)
		return REAL(posix_spawn)(pid, file, fa, attr, argv, envp);
	return -exec_common(&l, search ? HOW_SEARCH : HOW_PATH, AT_FDCWD, file, 0, argv, envp, 0);
}

SPN_EXPORT int
posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
	    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return spawn_common(pid, path, fa, attr, argv, envp, 0);
}

SPN_EXPORT int
posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
	     const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return spawn_common(pid, file, fa, attr, argv, envp, 1);
}

static int
creates(int oflag)
{
	return (oflag & O_CREAT) || (oflag & O_TMPFILE) == O_TMPFILE;
}

/*
 * File actions name paths the child opens with glibc's internal calls:
 * translate them now. A file opened for writing this way is written back
 * by the daemon when the child closes it (inotify).
 */
SPN_EXPORT int
posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *fa, int fd, const char *path,
				 int oflag, mode_t mode)
{
	resolve_all();
	char nfs[SPN_PATH_MAX];
	struct spn_reply rep;
	int rc;

	fa_note(fa, oflag);
	if (spn_shim_busy)
		return REAL(posix_spawn_file_actions_addopen)(fa, fd, path, oflag, mode);
	rc = spn_nfs_path(AT_FDCWD, path, nfs, sizeof(nfs));
	if (rc < 0)
		return -rc;
	if (rc == 0)
		return REAL(posix_spawn_file_actions_addopen)(fa, fd, path, oflag, mode);
	rc = spn_call_path(SPN_OP_OPEN, nfs, (uint32_t)oflag,
			   creates(oflag) ? (uint32_t)(mode & 07777) : 0, &rep);
	if (rc < 0)
		return -rc;
	/* The daemon created it if it had to; O_EXCL was its business. */
	return REAL(posix_spawn_file_actions_addopen)(fa, fd, rep.path, oflag & ~O_EXCL, mode);
}

SPN_EXPORT int
posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *fa, const char *path)
{
	resolve_all();
	char nfs[SPN_PATH_MAX];
	struct spn_reply rep;
	int rc;

	if (spn_shim_busy)
		return REAL(posix_spawn_file_actions_addchdir_np)(fa, path);
	rc = spn_nfs_path(AT_FDCWD, path, nfs, sizeof(nfs));
	if (rc < 0)
		return -rc;
	if (rc == 0)
		return REAL(posix_spawn_file_actions_addchdir_np)(fa, path);
	rc = spn_call_path(SPN_OP_READDIR, nfs, 0, 0, &rep);
	if (rc < 0)
		return -rc;
	return REAL(posix_spawn_file_actions_addchdir_np)(fa, rep.path);
}

/* ------------------------------------------------------------ dlopen */

/*
 * Mirror paths handed to the real dlopen, kept for good: the loader keeps
 * the name, and the set is as small as the set of NFS libraries loaded.
 */
struct dl_name {
	struct dl_name *next;
	char path[];
};
static struct dl_name *dl_names;
static pthread_mutex_t dl_lock = PTHREAD_MUTEX_INITIALIZER;

const char *spn_dl_translate(const char *file);

/*
 * The name the real dlopen should load: the mirror path for a path on NFS,
 * else file itself. On a daemon error, file itself: the real dlopen then
 * fails with its usual message.
 */
const char *
spn_dl_translate(const char *file)
{
	char nfs[SPN_PATH_MAX];
	struct spn_reply rep;
	struct dl_name *d;
	const char *out = file;
	size_t n;

	/* Before the trampolines below jump through the pointers. */
	(void)REAL(dlopen);
	(void)REAL(dlmopen);
	if (file == NULL || spn_shim_busy || strchr(file, '/') == NULL)
		return file;
	if (spn_nfs_path(AT_FDCWD, file, nfs, sizeof(nfs)) != 1 ||
	    spn_call_path(SPN_OP_OPEN, nfs, O_RDONLY, 0, &rep) < 0)
		return file;
	spn_shim_busy++;
	pthread_mutex_lock(&dl_lock);
	for (d = dl_names; d != NULL; d = d->next)
		if (strcmp(d->path, rep.path) == 0)
			break;
	if (d == NULL) {
		n = strlen(rep.path) + 1;
		d = malloc(sizeof(*d) + n);
		if (d != NULL) {
			memcpy(d->path, rep.path, n);
			d->next = dl_names;
			dl_names = d;
		}
	}
	if (d != NULL)
		out = d->path;
	pthread_mutex_unlock(&dl_lock);
	spn_shim_busy--;
	return out;
}

/*
 * dlopen looks at its caller (the return address) for the caller's
 * DT_RUNPATH and namespace: a C wrapper would make libspecnfs the caller
 * of every dlopen. On x86-64 the wrappers are trampolines that translate
 * the name and then jump to the real function with the caller's return
 * address untouched.
 */
#if defined(__x86_64__)
__asm__(".text\n"
	".globl dlopen\n"
	".type dlopen, @function\n"
	"dlopen:\n"
	"	.cfi_startproc\n"
	"	endbr64\n"
	"	pushq %rdi\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	pushq %rsi\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	subq $8, %rsp\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	call spn_dl_translate\n"
	"	addq $8, %rsp\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	popq %rsi\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	popq %rdi\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	movq %rax, %rdi\n"
	"	jmp *spn_real_dlopen(%rip)\n"
	"	.cfi_endproc\n"
	".size dlopen, .-dlopen\n"
	"\n"
	".globl dlmopen\n"
	".type dlmopen, @function\n"
	"dlmopen:\n"
	"	.cfi_startproc\n"
	"	endbr64\n"
	"	pushq %rdi\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	pushq %rsi\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	pushq %rdx\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	movq %rsi, %rdi\n"
	"	call spn_dl_translate\n"
	"	popq %rdx\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	popq %rsi\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	popq %rdi\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	movq %rax, %rsi\n"
	"	jmp *spn_real_dlmopen(%rip)\n"
	"	.cfi_endproc\n"
	".size dlmopen, .-dlmopen\n");
#else
SPN_EXPORT void *
dlopen(const char *file, int mode)
{
	const char *p = spn_dl_translate(file);

	return REAL(dlopen)(p, mode);
}

SPN_EXPORT void *
dlmopen(Lmid_t lmid, const char *file, int mode)
{
	const char *p = spn_dl_translate(file);

	return REAL(dlmopen)(lmid, p, mode);
}
#endif
