/* SPDX-License-Identifier: MIT */
/* Helpers shared by the cmocka tests: fixtures, loopback pairs, a peer
 * running in a thread.  Every helper fails the calling test on error. */
#ifndef KTL_TESTUTIL_H
#define KTL_TESTUTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ktlink.h"

/* $KTL_FIXTURES/rel (default build/fixtures), in a static ring of buffers. */
const char *tu_fixture(const char *rel);
/* Whether the test run demands kTLS (KTL_REQUIRE_KTLS=1, set inside the VM):
 * tests that need kTLS then fail instead of skipping. */
int tu_require_ktls(void);
/* Loads a FISCO 2.x node dir under the fixtures (e.g. "ecdsa/agency0/node0"). */
struct ktl_config *tu_config(const char *node_dir);
/* A connected TCP pair over 127.0.0.1: *client connected to *server. */
void tu_tcp_pair(int *client, int *server);
/* Listening socket on 127.0.0.1 with an ephemeral port; *port receives it. */
int tu_listen(uint16_t *port);

/* The server side of a link in a thread: wraps fd as KTL_SERVER with cfg,
 * stores the result code and ktl_last_error() text; then runs fn (if any)
 * on the connection and ktl_close()s it. */
struct tu_peer {
	pthread_t thread;
	struct ktl_config *cfg;
	int fd;
	enum ktl_role role;
	void (*fn)(struct tu_peer *p, struct ktl_conn *c);
	void *arg;
	int rc;                    /* handshake result */
	char err[512];             /* ktl_last_error() after a failed handshake */
	int fn_rc;                 /* free for fn to report */
};
void tu_peer_start(struct tu_peer *p);
void tu_peer_join(struct tu_peer *p);

/* Deterministic test data: byte i of stream `seed` is a function of (seed, i). */
void tu_fill(uint8_t *buf, size_t len, uint64_t offset, uint32_t seed);
/* Index of the first byte that differs from tu_fill's stream, or -1. */
long tu_check(const uint8_t *buf, size_t len, uint64_t offset, uint32_t seed);

#endif
