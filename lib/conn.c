/* SPDX-License-Identifier: MIT */
/* Connection set-up: sockets, the mutual-auth handshake, and the checks
 * that what was negotiated is what ktlink allows. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

static void peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(buf, len, "fd %d", fd);
		return;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
		snprintf(buf, len, "%s:%u", host, port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		port = ntohs(a->sin6_port);
		/* An IPv4 peer on the dual-stack listener reads as IPv4. */
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
			inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], host, sizeof(host));
			snprintf(buf, len, "%s:%u", host, port);
		} else {
			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			snprintf(buf, len, "[%s]:%u", host, port);
		}
	} else {
		snprintf(buf, len, "fd %d", fd);
	}
}

static int verify_cb(gnutls_session_t s)
{
	return ktl_verify_peer(s);
}

/* Alerts that mean the peer refused our chain. */
static bool cert_alert(gnutls_alert_description_t a)
{
	switch (a) {
	case GNUTLS_A_BAD_CERTIFICATE:
	case GNUTLS_A_UNSUPPORTED_CERTIFICATE:
	case GNUTLS_A_CERTIFICATE_REVOKED:
	case GNUTLS_A_CERTIFICATE_EXPIRED:
	case GNUTLS_A_CERTIFICATE_UNKNOWN:
	case GNUTLS_A_UNKNOWN_CA:
	case GNUTLS_A_ACCESS_DENIED:
	case GNUTLS_A_CERTIFICATE_REQUIRED:
		return true;
	default:
		return false;
	}
}

/* A fatal alert from the peer, however it arrived (GnuTLS or a kTLS
 * control record): the same code and words on every path. */
int ktl_conn_alert(struct ktl_conn *c, int alert, const char *during)
{
	gnutls_alert_description_t a = (gnutls_alert_description_t)alert;
	const char *name = gnutls_alert_get_name(a) ? gnutls_alert_get_name(a) : "unknown";

	if (cert_alert(a))
		return ktl_err(KTL_E_PEER_REJECTED_US, "peer %s rejected our certificate %s (alert: %s)", c->peer,
			       during, name);
	if (a == GNUTLS_A_PROTOCOL_VERSION)
		return ktl_err(KTL_E_PROTOCOL_VERSION, "peer %s: no common TLS version %s (alert: %s)", c->peer,
			       during, name);
	/* TLS 1.2 and 1.3 suites are disjoint: a peer limited to the other
	 * version fails here too, so say which this side allows. */
	if (a == GNUTLS_A_HANDSHAKE_FAILURE || a == GNUTLS_A_INSUFFICIENT_SECURITY)
		return ktl_err(KTL_E_NO_SHARED_CIPHER,
			       "peer %s: no common ECDHE AEAD cipher suite%s %s (alert: %s)", c->peer,
			       c->cfg->protocols == KTL_TLS12	? " (this side allows only TLS 1.2; the peer may not)"
			       : c->cfg->protocols == KTL_TLS13 ? " (this side allows only TLS 1.3; the peer may not)"
								: "",
			       during, name);
	return ktl_err(KTL_E_PEER_ALERT, "peer %s sent alert '%s' %s", c->peer, name, during);
}

/* Turns a failed GnuTLS call during or after the handshake into our code
 * and a message naming the peer. */
int ktl_conn_fail(struct ktl_conn *c, int gerr, const char *during)
{
	if (c->verify_code)
		return ktl_err_msg(c->verify_code, c->verify_msg);
	/* A TLS 1.2 server that requires a certificate reports a client's
	 * alert in place of its Certificate as "no certificate found". */
	if (gerr == GNUTLS_E_FATAL_ALERT_RECEIVED || gerr == GNUTLS_E_WARNING_ALERT_RECEIVED ||
	    (gerr == GNUTLS_E_NO_CERTIFICATE_FOUND && cert_alert(gnutls_alert_get(c->s)))) {
		return ktl_conn_alert(c, gnutls_alert_get(c->s), during);
	}
	int code = ktl_code_from_gnutls(gerr);

	switch (code) {
	case KTL_E_PROTOCOL_VERSION:
		return ktl_err(code, "peer %s: offered no TLS 1.2 or 1.3 %s (%s)", c->peer, during,
			       gnutls_strerror(gerr));
	case KTL_E_NO_SHARED_CIPHER:
		/* TLS 1.2 and 1.3 suites are disjoint: a one-version side sees a
		 * peer of the other version as "no common suite". */
		return ktl_err(code,
			       "peer %s: no common cipher suite %s; ktlink allows only ECDHE with "
			       "AES-128-GCM, AES-256-GCM or CHACHA20-POLY1305%s (%s)", c->peer, during,
			       c->cfg->protocols == KTL_TLS12   ? ", and this side only TLS 1.2"
			       : c->cfg->protocols == KTL_TLS13 ? ", and this side only TLS 1.3"
								  : "",
			       gnutls_strerror(gerr));
	case KTL_E_NO_PEER_CERT:
		return ktl_err(code, "peer %s sent no certificate %s", c->peer, during);
	case KTL_E_HANDSHAKE_TIMEOUT:
		return ktl_err(code, "peer %s: handshake not complete after %u ms", c->peer, c->cfg->hs_timeout_ms);
	case KTL_E_TRUNCATED:
	case EIO:
		if (strstr(during, "handshake"))
			return ktl_err(KTL_E_HANDSHAKE, "peer %s closed the connection %s (%s)", c->peer, during,
				       gnutls_strerror(gerr));
		/* After the handshake a push error is a peer that went away. */
		return ktl_err(gerr == GNUTLS_E_PUSH_ERROR ? EPIPE : KTL_E_TRUNCATED,
			       "peer %s: connection lost %s (%s)", c->peer, during, gnutls_strerror(gerr));
	default:
		return ktl_err(code, "peer %s: TLS failure %s: %s", c->peer, during, gnutls_strerror(gerr));
	}
}

static gnutls_alert_description_t verify_alert(int code)
{
	switch (code) {
	case KTL_E_CERT_EXPIRED:
	case KTL_E_CERT_NOT_YET_VALID:
		return GNUTLS_A_CERTIFICATE_EXPIRED;
	case KTL_E_CERT_REVOKED:
		return GNUTLS_A_CERTIFICATE_REVOKED;
	case KTL_E_CERT_UNKNOWN_ISSUER:
	case KTL_E_CHAIN_INCOMPLETE:
		return GNUTLS_A_UNKNOWN_CA;
	case KTL_E_NODE_NOT_ALLOWED:
		return GNUTLS_A_ACCESS_DENIED;
	case KTL_E_NO_PEER_CERT:
		return GNUTLS_A_CERTIFICATE_REQUIRED;
	case KTL_E_UNSUPPORTED_KEY:
		return GNUTLS_A_UNSUPPORTED_CERTIFICATE;
	default:
		return GNUTLS_A_BAD_CERTIFICATE;
	}
}

/* A custom priority string may allow more than ktlink does; refuse the
 * link rather than run it on terms the kernel offload cannot keep. */
static int check_negotiated(struct ktl_conn *c)
{
	gnutls_protocol_t v = gnutls_protocol_get_version(c->s);
	gnutls_cipher_algorithm_t ci = gnutls_cipher_get(c->s);
	const char *why = NULL;

	if (v != GNUTLS_TLS1_2 && v != GNUTLS_TLS1_3)
		why = "protocol";
	else if (ci != GNUTLS_CIPHER_AES_128_GCM && ci != GNUTLS_CIPHER_AES_256_GCM &&
		 ci != GNUTLS_CIPHER_CHACHA20_POLY1305)
		why = "cipher";
	else if (v == GNUTLS_TLS1_2) {
		gnutls_kx_algorithm_t kx = gnutls_kx_get(c->s);

		if (kx != GNUTLS_KX_ECDHE_ECDSA && kx != GNUTLS_KX_ECDHE_RSA)
			why = "key exchange";
	}
	if (!why) {
		gnutls_group_t g = gnutls_group_get(c->s);

		if (g != GNUTLS_GROUP_X25519 && g != GNUTLS_GROUP_SECP256R1 && g != GNUTLS_GROUP_SECP384R1 &&
		    g != GNUTLS_GROUP_SECP521R1 && g != GNUTLS_GROUP_X448)
			why = "key exchange group";
	}
	if (!why)
		return 0;
	gnutls_alert_send(c->s, GNUTLS_AL_FATAL, GNUTLS_A_INSUFFICIENT_SECURITY);
	return ktl_err(KTL_E_NO_SHARED_CIPHER, "peer %s: negotiated %s %s/%s/%s is not allowed by ktlink",
		       c->peer, why, gnutls_protocol_get_name(v) ? gnutls_protocol_get_name(v) : "?",
		       gnutls_cipher_get_name(ci) ? gnutls_cipher_get_name(ci) : "?",
		       gnutls_group_get_name(gnutls_group_get(c->s)) ? gnutls_group_get_name(gnutls_group_get(c->s))
								      : "no ECDHE group");
}

static void remember_negotiated(struct ktl_conn *c)
{
	gnutls_protocol_t v = gnutls_protocol_get_version(c->s);
	const char *name;

	c->version = v == GNUTLS_TLS1_3 ? 0x0304 : v == GNUTLS_TLS1_2 ? 0x0303 : 0;
	name = gnutls_protocol_get_name(v);
	snprintf(c->protocol, sizeof(c->protocol), "%s", name ? name : "?");
	name = gnutls_cipher_get_name(gnutls_cipher_get(c->s));
	snprintf(c->cipher, sizeof(c->cipher), "%s", name ? name : "?");
	if (v == GNUTLS_TLS1_3)
		name = gnutls_group_get_name(gnutls_group_get(c->s));
	else
		name = gnutls_kx_get_name(gnutls_kx_get(c->s));
	snprintf(c->kx, sizeof(c->kx), "%s", name ? name : "?");
}

static int start(struct ktl_conn *c)
{
	struct ktl_config *cfg = c->cfg;
	/* A client offers one TLS 1.3 key share (X25519, first in the
	 * priority) instead of GnuTLS's default two: every handshake then
	 * costs one key generation less.  A server without X25519 answers
	 * with a HelloRetryRequest and the link still comes up. */
	unsigned flags = c->role == KTL_SERVER ? GNUTLS_SERVER : (GNUTLS_CLIENT | GNUTLS_KEY_SHARE_TOP);
	flags |= GNUTLS_NO_SIGNAL | GNUTLS_NO_TICKETS;
	int one = 1, ret = ktl_config_check(cfg);

	if (ret < 0)
		return ret;
	ret = gnutls_init(&c->s, flags);
	if (ret < 0)
		return ktl_err(ENOMEM, "peer %s: %s", c->peer, gnutls_strerror(ret));
	gnutls_session_set_ptr(c->s, c);
	if ((ret = gnutls_priority_set(c->s, cfg->prio)) < 0 ||
	    (ret = gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, cfg->cred)) < 0)
		return ktl_err(EINVAL, "peer %s: %s", c->peer, gnutls_strerror(ret));
	if (c->role == KTL_SERVER) {
		gnutls_certificate_server_set_request(c->s, GNUTLS_CERT_REQUIRE);
		/* Without a list of acceptable CAs a client sends its chain
		 * whatever its root, so a wrong root is reported as such rather
		 * than as "no certificate". */
		gnutls_certificate_send_x509_rdn_sequence(c->s, 1);
	}
	gnutls_session_set_verify_function(c->s, verify_cb);
	gnutls_transport_set_int(c->s, c->fd);
	gnutls_handshake_set_timeout(c->s, cfg->hs_timeout_ms);
	/* Handshake flights are small and latency-bound. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	do {
		ret = gnutls_handshake(c->s);
	} while (ret < 0 && !gnutls_error_is_fatal(ret));
	if (ret < 0) {
		/* GnuTLS sends no alert when our verify callback refuses, so
		 * tell the peer ourselves: it can then report its rejection. */
		if (c->verify_code)
			gnutls_alert_send(c->s, GNUTLS_AL_FATAL, verify_alert(c->verify_code));
		else if (ret != GNUTLS_E_FATAL_ALERT_RECEIVED && ret != GNUTLS_E_TIMEDOUT)
			gnutls_alert_send_appropriate(c->s, ret);
		return ktl_conn_fail(c, ret, "during the handshake");
	}
	/* A server that offers no certificate request would skip the
	 * callback; never accept a link whose peer was not verified. */
	if (!c->peer_node_id[0])
		return ktl_err(KTL_E_NO_PEER_CERT, "peer %s sent no certificate", c->peer);
	if ((ret = check_negotiated(c)) < 0)
		return ret;

	if (cfg->ktls_mode == KTL_KTLS_OFF) {
		snprintf(c->tx_reason, sizeof(c->tx_reason), "user space: kTLS disabled by configuration");
		snprintf(c->rx_reason, sizeof(c->rx_reason), "user space: kTLS disabled by configuration");
	} else if ((ret = ktl_ktls_offload(c)) < 0) {
		return ret;
	}
	remember_negotiated(c);
	if (c->tx_kernel && c->rx_kernel) {
		/* Nothing left for GnuTLS to do: the kernel holds the keys, and
		 * control records are parsed by ktls/.  Its session (tens of KiB)
		 * would be most of an idle link's memory. */
		gnutls_deinit(c->s);
		c->s = NULL;
		return 0;
	}
	ktl_io_user_transport(c);
	return 0;
}

static void conn_free(struct ktl_conn *c)
{
	if (c->s)
		gnutls_deinit(c->s);
	if (c->fd >= 0)
		close(c->fd);
	free(c->rx_carry);
	free(c->rx_cbuf);
	ktl_config_free(c->cfg);
	free(c);
}

KTL_API int ktl_wrap_fd(struct ktl_conn **out, struct ktl_config *cfg, int fd, enum ktl_role role)
{
	struct ktl_conn *c;
	int ret;

	*out = NULL;
	if (fd < 0)
		return ktl_err(EBADF, "wrap: invalid fd %d", fd);
	if (role != KTL_CLIENT && role != KTL_SERVER) {
		close(fd);
		return ktl_err(EINVAL, "wrap: unknown role %d", (int)role);
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return ktl_err(ENOMEM, "wrap: out of memory");
	}
	c->fd = fd;
	c->role = role;
	ktl_config_ref(cfg);
	c->cfg = cfg;
	peer_name(fd, c->peer, sizeof(c->peer));
	ret = start(c);
	if (ret < 0) {
		conn_free(c);
		return ret;
	}
	*out = c;
	return 0;
}

/* getaddrinfo takes "70000" and wraps it to 4464; ports are checked here. */
static int check_port(const char *host, const char *port, int allow_zero)
{
	char *end;
	unsigned long v;

	if (!port || !*port)
		return ktl_err(EINVAL, "%s: no port given", host ? host : "*");
	v = strtoul(port, &end, 10);
	if (*end == '\0' && port[0] >= '0' && port[0] <= '9') {
		if (v > 65535 || (v == 0 && !allow_zero))
			return ktl_err(EINVAL, "port %s: out of range (1-65535)", port);
	}
	return 0;
}

static int resolve(const char *host, const char *port, int passive, struct addrinfo **res)
{
	/* Listening on "all" means both families: one IPv6 socket that also
	 * takes IPv4 (v4-mapped), where the host has IPv6. */
	struct addrinfo hints = { .ai_family = passive && !host ? AF_INET6 : AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0 };
	int ret = check_port(host, port, passive);

	if (ret < 0)
		return ret;
	ret = getaddrinfo(host, port, &hints, res);
	if (ret && passive && !host) {
		hints.ai_family = AF_UNSPEC;
		ret = getaddrinfo(host, port, &hints, res);
	}

	if (ret)
		return ktl_err(ret == EAI_SYSTEM ? errno : EHOSTUNREACH, "%s:%s: %s", host ? host : "*",
			       port, gai_strerror(ret));
	return 0;
}

KTL_API int ktl_connect(struct ktl_conn **out, struct ktl_config *cfg, const char *host, const char *port)
{
	struct addrinfo *res, *ai;
	int fd = -1, err = 0, ret;

	*out = NULL;
	ret = resolve(host, port, 0, &res);
	if (ret < 0)
		return ret;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return ktl_err(err, "connect %s:%s: %s", host, port, strerror(err));
	return ktl_wrap_fd(out, cfg, fd, KTL_CLIENT);
}

KTL_API int ktl_listen(const char *host, const char *port, int backlog)
{
	struct addrinfo *res, *ai;
	int fd = -1, err = 0, one = 1, ret;

	ret = resolve(host, port, 1, &res);
	if (ret < 0)
		return ret;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6 && !host) {
			int zero = 0;

			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		}
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog > 0 ? backlog : 128) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return ktl_err(err, "listen %s:%s: %s", host ? host : "*", port, strerror(err));
	return fd;
}

KTL_API int ktl_accept(struct ktl_conn **out, struct ktl_config *cfg, int listen_fd)
{
	int fd;

	*out = NULL;
	do {
		fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	} while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
	if (fd < 0)
		return ktl_err(errno, "accept on fd %d: %s", listen_fd, strerror(errno));
	return ktl_wrap_fd(out, cfg, fd, KTL_SERVER);
}

KTL_API int ktl_close(struct ktl_conn *c)
{
	int ret = 0;

	if (!c)
		return 0;
	if (!c->wr_shut && !c->fatal && !c->tx_fatal)
		ret = ktl_shutdown(c);
	conn_free(c);
	return ret;
}

KTL_API int ktl_fd(const struct ktl_conn *c)
{
	return c->fd;
}

KTL_API int ktl_get_info(const struct ktl_conn *c, struct ktl_info *info)
{
	memset(info, 0, sizeof(*info));
	info->version = c->version;
	snprintf(info->protocol, sizeof(info->protocol), "%s", c->protocol);
	snprintf(info->cipher, sizeof(info->cipher), "%s", c->cipher);
	snprintf(info->kx, sizeof(info->kx), "%s", c->kx);
	snprintf(info->peer_subject, sizeof(info->peer_subject), "%s", c->peer_subject);
	snprintf(info->peer_issuer, sizeof(info->peer_issuer), "%s", c->peer_issuer);
	snprintf(info->peer_node_id, sizeof(info->peer_node_id), "%s", c->peer_node_id);
	info->tx_kernel = c->tx_kernel;
	info->rx_kernel = c->rx_kernel;
	snprintf(info->tx_reason, sizeof(info->tx_reason), "%s", c->tx_reason);
	snprintf(info->rx_reason, sizeof(info->rx_reason), "%s", c->rx_reason);
	return 0;
}
