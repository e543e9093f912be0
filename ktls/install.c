/* SPDX-License-Identifier: MIT */
/* Hands a verified session's record layer to the kernel, one direction at
 * a time, so that either can stay in GnuTLS when the kernel refuses it. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gnutls/socket.h>

#include "ktls_int.h"

static ssize_t refuse_push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
	errno = EPERM;
	return -1;
}

static ssize_t refuse_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	errno = EPERM;
	return -1;
}

/* Once the kernel owns TX, a record GnuTLS wrote on its own (a KeyUpdate
 * answer, an alert from gnutls_deinit paths) would be encrypted with keys
 * and sequence numbers the kernel no longer shares: refuse every write.
 * Setting a plain push function also clears GnuTLS's vectored one. */
void ktl_ktls_guard_tx(gnutls_session_t s)
{
	gnutls_transport_set_push_function(s, refuse_push);
}

/* Likewise a GnuTLS read would steal ciphertext from the kernel's stream. */
void ktl_ktls_guard_rx(gnutls_session_t s)
{
	gnutls_transport_set_pull_function(s, refuse_pull);
}

static const char *proto_name(gnutls_session_t s)
{
	const char *n = gnutls_protocol_get_name(gnutls_protocol_get_version(s));

	return n ? n : "?";
}

static const char *cipher_name(gnutls_session_t s)
{
	const char *n = gnutls_cipher_get_name(gnutls_cipher_get(s));

	return n ? n : "?";
}

/* The next bytes in the TCP queue must start a record: GnuTLS's default
 * pull reads exactly one header and then one body, but anything that read
 * ahead (a custom pull function, a peek by the application) would leave the
 * kernel parsing from the middle of a record.  An empty queue is fine. */
static int at_record_boundary(int fd)
{
	unsigned char h[5];
	ssize_t n;

	do {
		n = recv(fd, h, sizeof(h), MSG_PEEK | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n <= 0)
		return 1;
	if (h[0] < KTL_CT_CCS || h[0] > KTL_CT_DATA)
		return 0;
	if (n >= 3 && (h[1] != 3 || h[2] != 3))
		return 0;
	if (n >= 5 && (((size_t)h[3] << 8) | h[4]) > 16384 + 256)
		return 0;
	return 1;
}

/* Plaintext GnuTLS has decrypted but not handed out goes to rx_carry, which
 * is delivered before anything the kernel decrypts. */
static int drain_pending(struct ktl_conn *c)
{
	size_t pending;

	while ((pending = gnutls_record_check_pending(c->s)) > 0) {
		size_t have = c->rx_carry_len - c->rx_carry_off;
		unsigned char *nb = malloc(have + pending);
		ssize_t n;

		if (!nb)
			return -ENOMEM;
		if (have)
			memcpy(nb, c->rx_carry + c->rx_carry_off, have);
		n = gnutls_record_recv(c->s, nb + have, pending);
		if (n <= 0) {
			free(nb);
			return -EPROTO;
		}
		free(c->rx_carry);
		c->rx_carry = nb;
		c->rx_carry_off = 0;
		c->rx_carry_len = have + (size_t)n;
	}
	return 0;
}

static void set_both(struct ktl_conn *c, const char *msg)
{
	snprintf(c->tx_reason, sizeof(c->tx_reason), "%s", msg);
	snprintf(c->rx_reason, sizeof(c->rx_reason), "%s", msg);
}

unsigned ktl_ktls_fault;

static int install_dir(struct ktl_conn *c, int read)
{
	struct ktl_crypto_info ci;
	int ret;

	if (ktl_ktls_fault & (read ? KTL_FAULT_RX : KTL_FAULT_TX))
		return -ENOPROTOOPT;

	ret = ktl_crypto_info_from_session(&ci, c->s, read);
	if (ret < 0)
		return ret;
	ret = setsockopt(c->fd, SOL_TLS, read ? TLS_RX : TLS_TX, &ci, ci.len) == 0 ? 0 : -errno;
	ktl_crypto_info_wipe(&ci);
	return ret;
}

/* In AUTO mode a refusal is not an error: the link runs in user space. */
static int done(struct ktl_conn *c)
{
	if (c->cfg->ktls_mode != KTL_KTLS_REQUIRE || (c->tx_kernel && c->rx_kernel))
		return 0;
	return ktl_err(KTL_E_KTLS_UNAVAILABLE, "peer %s: kTLS required but TX %s; RX %s", c->peer,
		       c->tx_kernel ? "in kernel" : c->tx_reason, c->rx_kernel ? "in kernel" : c->rx_reason);
}

/* TLS 1.3 hides the record type at the end of the padded plaintext, so by
 * default the kernel decrypts into its own buffer, then copies.  Our peers
 * are authenticated nodes that do not pad, so let it decrypt straight into
 * the reader's buffer; a padded or control record is still handled, only
 * decrypted twice (the "doubling" cost falls on an authenticated peer).
 * Kernels before 6.0 lack the option: that is no error. */
static bool expect_no_pad(struct ktl_conn *c)
{
#ifdef TLS_RX_EXPECT_NO_PAD
	int one = 1;

	return gnutls_protocol_get_version(c->s) == GNUTLS_TLS1_3 &&
	       setsockopt(c->fd, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &one, sizeof(one)) == 0;
#else
	(void)c;
	return false;
#endif
}

int ktl_ktls_offload(struct ktl_conn *c)
{
	struct ktl_support sup;
	gnutls_protocol_t proto = gnutls_protocol_get_version(c->s);
	unsigned mask, bit = ktl_cipher_mask(gnutls_cipher_get(c->s));
	char msg[sizeof(c->tx_reason)];
	int ret, rx_ok = 1;

	c->tx_kernel = c->rx_kernel = false;
	if (c->cfg->ktls_mode == KTL_KTLS_OFF) {
		set_both(c, "user space: kTLS disabled by configuration");
		return 0;
	}
	ktl_ktls_probe(&sup);
	if (!sup.ktls_ulp) {
		snprintf(msg, sizeof(msg), "user space: kernel has no kTLS (TCP_ULP tls: %s)",
			 strerror(sup.ktls_ulp_err));
		set_both(c, msg);
		return done(c);
	}
	if (gnutls_transport_is_ktls_enabled(c->s)) {
		set_both(c, "user space: GnuTLS enabled kTLS on its own");
		return done(c);
	}
	mask = proto == GNUTLS_TLS1_3 ? sup.ktls_tls13_ciphers
	     : proto == GNUTLS_TLS1_2 ? sup.ktls_tls12_ciphers : 0;
	if (!bit || !(mask & bit)) {
		snprintf(msg, sizeof(msg), "user space: kernel kTLS does not take %s %s", proto_name(c->s),
			 cipher_name(c->s));
		set_both(c, msg);
		return done(c);
	}

	/* Everything that decides whether RX can move happens before the ULP
	 * goes on, while GnuTLS may still read the socket. */
	ret = drain_pending(c);
	if (ret < 0) {
		snprintf(c->rx_reason, sizeof(c->rx_reason), "user space: could not drain GnuTLS (%s)",
			 strerror(-ret));
		rx_ok = 0;
	} else if (!at_record_boundary(c->fd)) {
		snprintf(c->rx_reason, sizeof(c->rx_reason),
			 "user space: socket not at a TLS record boundary after the handshake");
		rx_ok = 0;
	}

	if (setsockopt(c->fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) < 0) {
		snprintf(msg, sizeof(msg), "user space: TCP_ULP tls refused: %s", strerror(errno));
		set_both(c, msg);
		return done(c);
	}

	ret = install_dir(c, 0);
	if (ret == 0) {
		c->tx_kernel = true;
		ktl_ktls_guard_tx(c->s);
		snprintf(c->tx_reason, sizeof(c->tx_reason), "kernel: kTLS %s %s", proto_name(c->s),
			 cipher_name(c->s));
	} else {
		snprintf(c->tx_reason, sizeof(c->tx_reason), "user space: kernel refused TLS_TX: %s",
			 strerror(-ret));
	}
	if (rx_ok) {
		ret = install_dir(c, 1);
		if (ret == 0) {
			c->rx_kernel = true;
			ktl_ktls_guard_rx(c->s);
			snprintf(c->rx_reason, sizeof(c->rx_reason), "kernel: kTLS %s %s%s", proto_name(c->s),
				 cipher_name(c->s), expect_no_pad(c) ? ", no-pad zero-copy" : "");
		} else {
			snprintf(c->rx_reason, sizeof(c->rx_reason), "user space: kernel refused TLS_RX: %s",
				 strerror(-ret));
		}
	}
	return done(c);
}
