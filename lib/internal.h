/* SPDX-License-Identifier: MIT */
/* Library-private structures shared by lib/ and ktls/.  Not installed. */
#ifndef KTL_INTERNAL_H
#define KTL_INTERNAL_H

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "ktlink.h"

/* Public entry points; everything else stays hidden in libktlink.so. */
#define KTL_API __attribute__((visibility("default")))

#define KTL_MSG_MAX 512
#define KTL_PEER_MAX 128

/* error.c: record the detail of a failure and return -code.  code is a
 * positive errno or KTL_E_* value. */
int ktl_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, but the message is already formatted. */
int ktl_err_msg(int code, const char *msg);
/* Maps a GnuTLS error to a KTL code (positive) for handshake/record failures. */
int ktl_code_from_gnutls(int gnutls_err);

struct ktl_config {
	atomic_int refs;
	gnutls_certificate_credentials_t cred;
	char ca_path[256];
	gnutls_x509_crt_t *ca;        /* the roots, kept to explain failures */
	unsigned n_ca;
	gnutls_x509_crl_t *crls;      /* kept to name the revoking CRL */
	unsigned n_crls;
	bool have_cert;
	int own_pk;                   /* gnutls_pk_algorithm_t of our key */
	char **allow;
	size_t n_allow;
	char **deny;
	size_t n_deny;
	char *priority;               /* NULL: the default built from masks */
	unsigned protocols, ciphers;  /* KTL_TLS1x / KTL_AES_* masks */
	gnutls_priority_t prio;       /* compiled when set, shared by sessions */
	unsigned hs_timeout_ms;
	enum ktl_ktls_mode ktls_mode;

	/* Peer chains (node and agency DER, and our role) whose signatures
	 * GnuTLS verified against our root: the same nodes reconnect, and the
	 * two signature checks are most of a handshake's verification cost.
	 * Dates, usage, CRLs and node IDs are still checked every time. */
	pthread_mutex_t chain_lock;
	unsigned char chain_seen[64][32];
	unsigned chain_n, chain_next;
};

void ktl_config_ref(struct ktl_config *cfg);
/* config.c: the default priority for these masks, into buf. */
int ktl_priority_string(unsigned protocols, unsigned ciphers, char *buf, size_t len);

struct ktl_conn {
	struct ktl_config *cfg;       /* one reference, released by ktl_close */
	gnutls_session_t s;
	int fd;                       /* owned; closed by ktl_close */
	enum ktl_role role;
	char peer[KTL_PEER_MAX];      /* "host:port" for messages */

	/* Filled by the verify callback (verify.c). */
	int verify_code;              /* positive KTL_E_* or 0 */
	char verify_msg[KTL_MSG_MAX];
	char peer_node_id[KTL_NODE_ID_MAX + 1];
	char peer_subject[256];
	char peer_issuer[256];

	/* What was negotiated, kept apart from the session: a link whose
	 * records both run in the kernel frees its GnuTLS session. */
	uint16_t version;
	char protocol[16], cipher[32], kx[32];

	/* Where each direction's records are processed (ktls/ fills these). */
	bool tx_kernel, rx_kernel;
	char tx_reason[128], rx_reason[128];

	/* Plaintext GnuTLS had decrypted before RX moved to the kernel; it is
	 * handed out before anything the kernel decrypts. */
	unsigned char *rx_carry;
	size_t rx_carry_len, rx_carry_off;

	/* Ciphertext read ahead for GnuTLS when RX stays in user space: one
	 * recvmsg per record or per buffer of small records, not two per
	 * record (header, then body).
	 * Only after the handshake, so the kTLS hand-off never has bytes
	 * hidden in user space. */
	unsigned char *rx_cbuf;
	size_t rx_cbuf_len, rx_cbuf_off;
	bool rx_big;                  /* the last record body read was large */

	struct ktl_ring *ring;        /* the io_uring engine driving it, or NULL */
	bool wr_shut;                 /* close_notify sent */
	bool rd_eof;                  /* close_notify received */
	/* First error that broke the link (negative), sticky.  Receive
	 * failures go here and stop both directions; a failed send stops only
	 * sending (tx_fatal), so the receive side can still say why.  Atomic:
	 * a sender thread and a receiver thread may share one link. */
	atomic_int fatal;
	atomic_int tx_fatal;
};

/* conn.c: maps a failed GnuTLS call to a code and a message naming the
 * peer; `during` reads like "during the handshake". */
int ktl_conn_fail(struct ktl_conn *c, int gnutls_err, const char *during);
/* conn.c: a fatal alert (description) received from the peer. */
int ktl_conn_alert(struct ktl_conn *c, int alert, const char *during);

/* Copies up to len bytes of src[*off..src_len) out and advances *off:
 * the one way buffered bytes (carry, read-ahead) are handed out. */
static inline size_t ktl_take(const unsigned char *src, size_t src_len, size_t *off, void *buf, size_t len)
{
	size_t n = src_len - *off;

	if (n > len)
		n = len;
	memcpy(buf, src + *off, n);
	*off += n;
	return n;
}

/* io.c: the socket transport for a session whose RX runs in GnuTLS
 * (buffered reads); also restores it when a ring lets go of a link. */
void ktl_io_user_transport(struct ktl_conn *c);
/* Takes up to len bytes of read-ahead ciphertext; 0 when none. */
size_t ktl_io_take_cbuf(struct ktl_conn *c, void *buf, size_t len);

/* verify.c: installed on every session; fills verify_* and peer_* fields. */
int ktl_verify_peer(gnutls_session_t s);
/* nodeid.c */
int ktl_node_id_from_crt(gnutls_x509_crt_t crt, char *out, size_t out_len);
/* Canonical form of a user-given node ID (lower case hex, checked). */
int ktl_node_id_normalize(const char *in, char *out, size_t out_len);

/* ktls/: the kernel offload.  All return 0 or a negative code. */
/* Fills the kTLS fields of *out; cached after the first call. */
void ktl_ktls_probe(struct ktl_support *out);
/* After a verified handshake: moves each direction into the kernel where
 * possible and records why not.  Fails only in KTL_KTLS_REQUIRE mode or
 * when the socket is left unusable. */
int ktl_ktls_offload(struct ktl_conn *c);
/* Record I/O on a direction that runs in the kernel. */
ssize_t ktl_ktls_send(struct ktl_conn *c, const void *buf, size_t len);
/* ktl_ktls_recv: only from ktl_recv, which has already handed out the
 * carry and handled a failed link, end of stream and len 0. */
ssize_t ktl_ktls_recv(struct ktl_conn *c, void *buf, size_t len);
int ktl_ktls_send_close_notify(struct ktl_conn *c);

#endif
