/*
 * loader.c, a program for test_shim_exec.sh.
 * loader LIB...: dlopen each LIB and call its plug(). Linked with a
 * RUNPATH of $ORIGIN/rp, for a bare name found through the caller's RUNPATH.
 */
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		void *h = dlopen(argv[i], RTLD_NOW);
		int (*f)(void) = h ? (int (*)(void))dlsym(h, "plug") : NULL;
		if (f == NULL) {
			printf("%s: %s\n", argv[i], dlerror());
			return 1;
		}
		printf("%s: plug=%d\n", argv[i], f());
	}
	return 0;
}
