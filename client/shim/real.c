/*
 * shim/real.c: the loader of the real-function table (shim/real.h): the
 * pointers, their loaders and the ENOSYS stand-ins, all made from the one
 * list.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dlfcn.h>
#include <errno.h>

#include "client/shim/internal.h"

void *
spn_real_lookup(const char *name)
{
	void *p;

	/* dlsym may call wrapped functions (malloc's own needs): pass them. */
	spn_shim_busy++;
	p = dlsym(RTLD_NEXT, name);
	spn_shim_busy--;
	return p;
}

/* A stand-in is called with the real function's arguments, which it
 * ignores (harmless in the x86-64 and aarch64 calling conventions). */
#define SPN_REAL_DEF(ret, name, params, failval)                                          \
	ret(*spn_real_##name) params;                                                     \
                                                                                          \
	ret spn_real_enosys_##name(void)                                                  \
	{                                                                                 \
		errno = ENOSYS;                                                           \
		return failval;                                                           \
	}                                                                                 \
                                                                                          \
	__attribute__((cold, noinline)) __typeof__(spn_real_##name)                       \
	spn_real_load_##name(void)                                                        \
	{                                                                                 \
		void *p = spn_real_lookup(#name);                                         \
                                                                                          \
		if (p == NULL)                                                            \
			p = (void *)spn_real_enosys_##name;                               \
		spn_real_##name = (__typeof__(spn_real_##name))p;                         \
		return spn_real_##name;                                                   \
	}
SPN_REAL_FUNCS(SPN_REAL_DEF)
#undef SPN_REAL_DEF
