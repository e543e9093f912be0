/* SPDX-License-Identifier: MIT */
/* The table of measured paths, indexed by enum bench_path_id. */
#include "bench.h"

static const struct bench_path *const paths[BP_COUNT] = {
	[BP_TCP] = &bench_path_tcp,
	[BP_GNUTLS] = &bench_path_gnutls,
	[BP_OPENSSL] = &bench_path_openssl,
	[BP_KTLS] = &bench_path_ktls,
	[BP_KTLS_URING] = &bench_path_ktls_uring,
	[BP_KTLS_SENDFILE] = &bench_path_ktls_sendfile,
	[BP_URING] = &bench_path_uring,
};

const struct bench_path *bench_path_get(enum bench_path_id id)
{
	return paths[id];
}
