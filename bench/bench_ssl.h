/* SPDX-License-Identifier: MIT */
/* OpenSSL set-up shared by the `openssl` path and the handshake run.
 * void * keeps OpenSSL's headers out of the other modules. */
#ifndef KTL_BENCH_SSL_H
#define KTL_BENCH_SSL_H

#include <stdbool.h>
#include <stddef.h>

struct bench_run;

/* An SSL_CTX for one side with the same files, protocol and cipher as
 * the ktlink side, peer verification required; NULL with why filled. */
void *bench_ssl_ctx(const struct bench_run *run, bool server, char *why, size_t len);
/* An SSL * after a complete handshake on fd; NULL (and fd closed) on failure. */
void *bench_ssl_handshake(void *ctx, int fd, bool server, char *why, size_t len);

#endif
