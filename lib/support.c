/* SPDX-License-Identifier: MIT */
/* What this system can do, for `ktlink info` and for callers choosing a path. */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "internal.h"

static struct ktl_support cached;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void probe(void)
{
	struct io_uring ring;
	struct utsname u;
	int ret;

	ktl_ktls_probe(&cached);
	ret = io_uring_queue_init(4, &ring, 0);
	if (ret == 0) {
		cached.io_uring = 1;
		io_uring_queue_exit(&ring);
	} else {
		cached.io_uring_err = -ret;
	}
	snprintf(cached.gnutls_version, sizeof(cached.gnutls_version), "%s", gnutls_check_version(NULL));
	if (uname(&u) == 0)
		snprintf(cached.kernel_release, sizeof(cached.kernel_release), "%.64s", u.release);
}

KTL_API int ktl_probe_support(struct ktl_support *out)
{
	pthread_once(&once, probe);
	*out = cached;
	return 0;
}
