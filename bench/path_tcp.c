/* SPDX-License-Identifier: MIT */
/* `tcp`: plain TCP with read/write, the ceiling every TLS path is held to. */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

static int tcp_open(const struct bench_run *run, struct bench_end *cli, struct bench_end *srv,
		    char *why, size_t len)
{
	int c, s;

	if (bench_tcp_pair(&c, &s, why, len) < 0)
		return -1;
	*cli = (struct bench_end){ .fd = c };
	*srv = (struct bench_end){ .fd = s };
	return 0;
}

ssize_t bench_fd_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return (ssize_t)len;
}

static ssize_t tcp_send(struct bench_end *e, const void *buf, size_t len)
{
	return bench_fd_write_all(e->fd, buf, len);
}

static ssize_t tcp_recv(struct bench_end *e, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = read(e->fd, buf, len);

		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
	}
}

static void tcp_shut(struct bench_end *e)
{
	shutdown(e->fd, SHUT_WR);
}

static void tcp_close(struct bench_end *e)
{
	if (e->fd >= 0)
		close(e->fd);
	e->fd = -1;
}

static void tcp_describe(struct bench_end *e, char *buf, size_t len)
{
	snprintf(buf, len, "TCP, no encryption");
}

const struct bench_path bench_path_tcp = {
	.id = BP_TCP,
	.desc = "plain TCP read/write",
	.open = tcp_open,
	.send = tcp_send,
	.recv = tcp_recv,
	.shut = tcp_shut,
	.close = tcp_close,
	.describe = tcp_describe,
};
