/* SPDX-License-Identifier: MIT */
/* Private to ktls/: the pieces of the kernel offload and what they share. */
#ifndef KTL_KTLS_INT_H
#define KTL_KTLS_INT_H

#include <gnutls/gnutls.h>
#include <linux/tls.h>
#include <stdint.h>
#include <sys/socket.h>

#include "internal.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

/* TLS content types seen on the wire and in TLS_GET_RECORD_TYPE. */
enum {
	KTL_CT_CCS = 20,
	KTL_CT_ALERT = 21,
	KTL_CT_HANDSHAKE = 22,
	KTL_CT_DATA = 23,
};

/* One kernel crypto_info, sized for whichever cipher it holds. */
struct ktl_crypto_info {
	union {
		struct tls_crypto_info info;
		struct tls12_crypto_info_aes_gcm_128 gcm128;
		struct tls12_crypto_info_aes_gcm_256 gcm256;
		struct tls12_crypto_info_chacha20_poly1305 chacha;
	} u;
	socklen_t len;                /* what setsockopt must be told */
};

/* crypto_info.c: the kernel's view of one direction's record state.  Pure;
 * iv is GnuTLS's IV datum (4 bytes for TLS 1.2 GCM, 12 otherwise), seq the
 * big-endian sequence number of the next record.  Returns 0, -EINVAL for a
 * malformed state, or -EPROTONOSUPPORT for a protocol/cipher the kernel
 * interface has no layout for. */
int ktl_crypto_info_build(struct ktl_crypto_info *out, gnutls_protocol_t proto,
			  gnutls_cipher_algorithm_t cipher, const gnutls_datum_t *key,
			  const gnutls_datum_t *iv, const unsigned char seq[8]);
/* Same, from the session's current read (read=1) or write (read=0) epoch. */
int ktl_crypto_info_from_session(struct ktl_crypto_info *out, gnutls_session_t s, int read);
/* Key material must not outlive its use. */
void ktl_crypto_info_wipe(struct ktl_crypto_info *ci);
/* KTL_AES_* mask bit for a GnuTLS cipher, 0 if none. */
unsigned ktl_cipher_mask(gnutls_cipher_algorithm_t cipher);

/* probe.c: a connected loopback TCP pair for probing; 0 or -errno. */
int ktl_probe_pair(int *a, int *b);

/* install.c, for tests only: refuse TLS_TX / TLS_RX as a kernel might, to
 * exercise one direction in the kernel and the other in GnuTLS. */
#define KTL_FAULT_TX 1u
#define KTL_FAULT_RX 2u
extern unsigned ktl_ktls_fault;

/* install.c: make GnuTLS unable to touch a direction the kernel owns. */
void ktl_ktls_guard_tx(gnutls_session_t s);
void ktl_ktls_guard_rx(gnutls_session_t s);

/* record.c: one recvmsg with room for the record-type cmsg.  Returns bytes,
 * 0 at TCP EOF, or -errno; *type gets the record's content type. */
ssize_t ktl_record_recv(int fd, void *buf, size_t len, int flags, unsigned char *type);
/* One sendmsg of a record of the given content type; bytes or -errno. */
ssize_t ktl_record_send(int fd, const void *buf, size_t len, unsigned char type);

/* record.c: control records (alert, handshake) on a kTLS RX socket.  A
 * message may span records, so the parse state lives with the reader. */
struct ktl_ctl_state {
	unsigned char hs_hdr[4];
	size_t hs_hdr_len;
	size_t hs_skip;               /* body bytes of the current message left */
	unsigned char alert[2];
	size_t alert_len;
};
/* Consumes n bytes of a record of content type `type` (not data):
 * 1 keep reading, 0 close_notify (rd_eof set), <0 the link ends with that
 * code (message set; c->fatal is the caller's to set). */
int ktl_ktls_ctl_feed(struct ktl_conn *c, struct ktl_ctl_state *st, unsigned type, const unsigned char *p,
		      size_t n);
/* An errno from a kTLS receive as ktlink's code and message. */
int ktl_ktls_rx_code(struct ktl_conn *c, int e);

#endif
