/*
 * cli/run.h: `specnfs run`, programs under the shim.
 */
#ifndef SPECNFS_RUN_H
#define SPECNFS_RUN_H

/*
 * specnfs run [--mount PREFIX=URL]... [--] [COMMAND [ARGS...]]
 * argv[0] is "run". Starts the daemon, then execs COMMAND (default $SHELL)
 * with LD_PRELOAD set to the shim. Returns an exit status only when it
 * could not exec: 2 bad usage or settings, 1 no shim or no daemon, 126/127
 * the command could not be run.
 */
int spn_cmd_run(int argc, char **argv);

#endif
