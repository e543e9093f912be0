/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

const char *tu_fixture(const char *rel)
{
	static char bufs[8][512];
	static int next;
	const char *root = getenv("KTL_FIXTURES");
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", root && *root ? root : "build/fixtures", rel);
	return b;
}

int tu_require_ktls(void)
{
	const char *v = getenv("KTL_REQUIRE_KTLS");

	return v && strcmp(v, "1") == 0;
}

struct ktl_config *tu_config(const char *node_dir)
{
	struct ktl_config *cfg = NULL;
	char path[512];

	assert_int_equal(ktl_config_new(&cfg), 0);
	snprintf(path, sizeof(path), "%s/ca.crt", tu_fixture(node_dir));
	if (ktl_config_set_ca(cfg, path) != 0)
		fail_msg("%s", ktl_last_error());
	char crt[512], key[512];

	snprintf(crt, sizeof(crt), "%s/node.crt", tu_fixture(node_dir));
	snprintf(key, sizeof(key), "%s/node.key", tu_fixture(node_dir));
	if (ktl_config_set_cert_key(cfg, crt, key) != 0)
		fail_msg("%s", ktl_last_error());
	return cfg;
}

int tu_listen(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

void tu_tcp_pair(int *client, int *server)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint16_t port;
	int lfd = tu_listen(&port);

	a.sin_port = htons(port);
	*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*client >= 0);
	assert_int_equal(connect(*client, (struct sockaddr *)&a, sizeof(a)), 0);
	*server = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*server >= 0);
	close(lfd);
}

static void *peer_main(void *arg)
{
	struct tu_peer *p = arg;
	struct ktl_conn *c = NULL;

	p->rc = ktl_wrap_fd(&c, p->cfg, p->fd, p->role);
	if (p->rc != 0) {
		snprintf(p->err, sizeof(p->err), "%s", ktl_last_error());
		return NULL;
	}
	if (p->fn)
		p->fn(p, c);
	ktl_close(c);
	return NULL;
}

void tu_peer_start(struct tu_peer *p)
{
	p->rc = -1;
	p->err[0] = '\0';
	assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
}

void tu_peer_join(struct tu_peer *p)
{
	assert_int_equal(pthread_join(p->thread, NULL), 0);
}

/* splitmix64 of (seed, 8-byte block index): any offset can be checked
 * without replaying the stream. */
static uint64_t block(uint32_t seed, uint64_t idx)
{
	uint64_t z = idx * 0x9e3779b97f4a7c15ull + ((uint64_t)seed << 32 | seed);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint8_t byte_at(uint32_t seed, uint64_t off)
{
	return (uint8_t)(block(seed, off / 8) >> (8 * (off % 8)));
}

void tu_fill(uint8_t *buf, size_t len, uint64_t offset, uint32_t seed)
{
	size_t i = 0;

	while (i < len && (offset + i) % 8)
		buf[i] = byte_at(seed, offset + i), i++;
	for (; i + 8 <= len; i += 8) {
		uint64_t v = block(seed, (offset + i) / 8);

		memcpy(buf + i, &v, 8); /* little-endian, as byte_at */
	}
	for (; i < len; i++)
		buf[i] = byte_at(seed, offset + i);
}

long tu_check(const uint8_t *buf, size_t len, uint64_t offset, uint32_t seed)
{
	uint8_t tmp[4096];

	for (size_t done = 0; done < len;) {
		size_t n = len - done < sizeof(tmp) ? len - done : sizeof(tmp);

		tu_fill(tmp, n, offset + done, seed);
		if (memcmp(tmp, buf + done, n) != 0) {
			for (size_t i = 0; i < n; i++)
				if (tmp[i] != buf[done + i])
					return (long)(done + i);
		}
		done += n;
	}
	return -1;
}
