/*
 * plug.c, a library for test_shim_exec.sh.
 * libplug.so: the library test_shim_exec.sh dlopens (plug() returns 42).
 */
/* Exported whatever the build's default visibility. */
__attribute__((visibility("default"))) int plug(void);

int
plug(void)
{
	return 42;
}
