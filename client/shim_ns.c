/* shim_ns.c: (being written) */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "shim_internal.h"
