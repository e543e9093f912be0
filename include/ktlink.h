/* SPDX-License-Identifier: MIT */
/*
 * ktlink: mutually authenticated node-to-node TLS links whose records run in
 * the kernel (kTLS) when it can, and in GnuTLS in user space when it cannot.
 *
 * Conventions, everywhere:
 *  - every call that can fail returns 0 (or a byte count) on success and a
 *    negative code on failure: -errno for system errors, -KTL_E_* for TLS and
 *    certificate errors;
 *  - ktl_last_error() returns a one-line message for the most recent failure
 *    on the calling thread, naming the file, peer or certificate and why;
 *  - the library never prints and never exits.
 */
#ifndef KTLINK_H
#define KTLINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KTL_VERSION "0.1.0"

/* Library error codes, returned negated.  Values are above any errno. */
enum ktl_error {
	KTL_E_BASE = 4096,
	KTL_E_CERT_EXPIRED,          /* a certificate in the peer's chain has expired */
	KTL_E_CERT_NOT_YET_VALID,    /* ... is not valid yet */
	KTL_E_CERT_UNKNOWN_ISSUER,   /* chain does not lead to the loaded root */
	KTL_E_CERT_NOT_CA,           /* the issuer lacks CA:TRUE */
	KTL_E_CERT_REVOKED,          /* listed in a loaded CRL */
	KTL_E_CERT_KEY_USAGE,        /* wrong key usage or extended key usage */
	KTL_E_CERT_SIGNATURE,        /* a signature in the chain does not verify */
	KTL_E_CERT_INSECURE,         /* weak algorithm or key in the chain */
	KTL_E_CHAIN_INCOMPLETE,      /* peer sent its leaf without the agency */
	KTL_E_NO_PEER_CERT,          /* peer sent no certificate */
	KTL_E_NODE_NOT_ALLOWED,      /* node ID denied or not in the allow list */
	KTL_E_CERT_REJECTED,         /* other chain failure (message says which) */
	KTL_E_PEER_REJECTED_US,      /* peer refused our certificate (alert) */
	KTL_E_UNSUPPORTED_KEY,       /* key or certificate GnuTLS cannot use */
	KTL_E_BAD_FILE,              /* a file that is not what it should be */
	KTL_E_PROTOCOL_VERSION,      /* no TLS 1.2/1.3 in common */
	KTL_E_NO_SHARED_CIPHER,      /* no AEAD ECDHE suite in common */
	KTL_E_HANDSHAKE,             /* other handshake failure */
	KTL_E_HANDSHAKE_TIMEOUT,     /* handshake took longer than configured */
	KTL_E_TRUNCATED,             /* peer closed without close_notify */
	KTL_E_PEER_ALERT,            /* peer sent a fatal alert */
	KTL_E_BAD_RECORD,            /* a record failed authentication */
	KTL_E_KEY_UPDATE,            /* peer updated keys the kernel cannot take */
	KTL_E_KTLS_UNAVAILABLE,      /* kTLS was required and cannot be used */
	KTL_E_MAX
};

/* Generic text for a code (negative or positive); never NULL. */
const char *ktl_strerror(int code);
/* One-line detail of the last failure on this thread; "" if none. */
const char *ktl_last_error(void);

/* ---- configuration ------------------------------------------------------ */

struct ktl_config;

enum ktl_ktls_mode {
	KTL_KTLS_AUTO = 0,   /* use kTLS per direction where the kernel takes it */
	KTL_KTLS_OFF,        /* always keep records in user space */
	KTL_KTLS_REQUIRE,    /* fail the link if either direction cannot go to the kernel */
};

/* Protocol and cipher masks for ktl_config_restrict(); 0 means "all". */
#define KTL_TLS12 0x1u
#define KTL_TLS13 0x2u
#define KTL_AES_128_GCM 0x1u
#define KTL_AES_256_GCM 0x2u
#define KTL_CHACHA20_POLY1305 0x4u

#define KTL_NODE_ID_MAX 128  /* hex characters, without the terminator */

int ktl_config_new(struct ktl_config **out);
/* Drops the caller's reference; connections keep their own. */
void ktl_config_free(struct ktl_config *cfg);

/* Each loader reads and checks its file now, so errors name the file. */
int ktl_config_set_ca(struct ktl_config *cfg, const char *ca_path);
/* chain_path holds the node certificate followed by its agency's. */
int ktl_config_set_cert_key(struct ktl_config *cfg, const char *chain_path, const char *key_path);
int ktl_config_add_crl(struct ktl_config *cfg, const char *crl_path);
/* Peer node IDs (hex, case-insensitive).  Deny wins over allow; an empty
 * allow list allows every node the chain check accepts. */
int ktl_config_allow_node(struct ktl_config *cfg, const char *node_id);
int ktl_config_deny_node(struct ktl_config *cfg, const char *node_id);
/* A GnuTLS priority string used as is; the handshake result is still
 * checked against TLS 1.2/1.3, ECDHE and the three AEAD ciphers. */
int ktl_config_set_priority(struct ktl_config *cfg, const char *priority);
/* Narrow the default priority to these protocols and ciphers. */
int ktl_config_restrict(struct ktl_config *cfg, unsigned protocols, unsigned ciphers);
int ktl_config_set_handshake_timeout(struct ktl_config *cfg, unsigned timeout_ms);
/* Whether links can be made with cfg as it stands (a root, a node
 * certificate and key, a key the allowed protocols can use): 0 or the
 * code every handshake would fail with.  Call it before listening. */
int ktl_config_check(const struct ktl_config *cfg);
int ktl_config_set_ktls(struct ktl_config *cfg, enum ktl_ktls_mode mode);

/* FISCO BCOS layouts.  A directory with ca.crt + node.crt + node.key (2.x) or
 * ca.crt + ssl.crt + ssl.key (3.x), and an optional crl/ folder of *.crl. */
int ktl_config_load_dir(struct ktl_config *cfg, const char *dir);
/* A node's config.ini: [network_security] (2.x) or [cert] (3.x) for the
 * files, [certificate_blacklist] / [certificate_whitelist] for node IDs. */
int ktl_config_load_ini(struct ktl_config *cfg, const char *ini_path);

/* ---- connections -------------------------------------------------------- */

struct ktl_conn;

enum ktl_role { KTL_CLIENT = 0, KTL_SERVER = 1 };

/* Returns a listening TCP socket fd, or a negative code. */
int ktl_listen(const char *host, const char *port, int backlog);
/* Each returns 0 with *out set after a complete, verified handshake. */
int ktl_connect(struct ktl_conn **out, struct ktl_config *cfg, const char *host, const char *port);
int ktl_accept(struct ktl_conn **out, struct ktl_config *cfg, int listen_fd);
/* Takes ownership of a connected socket fd, also when it fails. */
int ktl_wrap_fd(struct ktl_conn **out, struct ktl_config *cfg, int fd, enum ktl_role role);

/* Writes all of buf; returns len or a negative code. */
ssize_t ktl_send(struct ktl_conn *c, const void *buf, size_t len);
/* Returns bytes read (>0), 0 at the peer's close_notify, or a negative
 * code: -KTL_E_TRUNCATED when the peer vanished without close_notify. */
ssize_t ktl_recv(struct ktl_conn *c, void *buf, size_t len);
/* Sends close_notify and shuts the write side; the link can still read. */
int ktl_shutdown(struct ktl_conn *c);
/* ktl_shutdown() if not done, then releases everything; returns the
 * shutdown's result.  Accepts NULL. */
int ktl_close(struct ktl_conn *c);
/* The socket.  Usable with read/write/sendfile/splice only when
 * ktl_info.tx_kernel and rx_kernel say the records run in the kernel. */
int ktl_fd(const struct ktl_conn *c);

struct ktl_info {
	uint16_t version;             /* 0x0303 TLS 1.2, 0x0304 TLS 1.3 */
	char protocol[16];            /* "TLS1.3" */
	char cipher[32];              /* "AES-128-GCM" */
	char kx[32];                  /* "ECDHE-ECDSA", or the group for TLS 1.3 */
	char peer_subject[256];       /* peer node certificate's DN */
	char peer_issuer[256];        /* its agency's DN */
	char peer_node_id[KTL_NODE_ID_MAX + 1];
	int tx_kernel;                /* 1 when encryption runs in the kernel */
	int rx_kernel;                /* 1 when decryption runs in the kernel */
	char tx_reason[128];          /* why TX is where it is */
	char rx_reason[128];
};
int ktl_get_info(const struct ktl_conn *c, struct ktl_info *info);

/* Sends len bytes of file_fd from *offset (advanced by what was sent):
 * sendfile(2) when TX runs in the kernel, read + encrypt otherwise.
 * Returns bytes sent or a negative code. */
ssize_t ktl_sendfile(struct ktl_conn *c, int file_fd, off_t *offset, size_t len);

/* ---- io_uring engine ------------------------------------------------------
 * One ring per thread drives many established links.  Where a direction
 * runs in the kernel the ring moves plaintext to and from the kTLS socket;
 * otherwise GnuTLS encrypts into and decrypts from the ring's buffers.
 * Callbacks run inside ktl_ring_run() on the calling thread. */

struct ktl_ring;

struct ktl_ring_ops {
	/* Plaintext from the peer; buf is valid only during the call. */
	void (*on_data)(struct ktl_conn *c, void *user, const void *buf, size_t len);
	/* An earlier ktl_ring_send/ktl_ring_sendfile finished: len bytes. */
	void (*on_sent)(struct ktl_conn *c, void *user, size_t len);
	/* The link ended: 0 at the peer's close_notify, else a negative code
	 * (ktl_last_error() holds the detail during the call).  The conn is
	 * already detached from the ring; the callee owns closing it. */
	void (*on_close)(struct ktl_conn *c, void *user, int code);
};

/* ktl_ring_params.flags */
#define KTL_RING_SINGLE_SHOT 0x1u /* no shared buffer ring / multishot receive:
				     one receive buffer per link (the fallback
				     older kernels get; for tests and benches) */

#define KTL_RING_BUF_MAX (16u << 20)

struct ktl_ring_params {
	unsigned entries;    /* SQ size; 0: 256 */
	unsigned buf_size;   /* receive buffer size, 4 KiB to KTL_RING_BUF_MAX; 0: 64 KiB */
	unsigned n_bufs;     /* receive buffers shared by all links; 0: 64 */
	unsigned flags;      /* KTL_RING_* */
};

struct ktl_ring_stats {
	uint64_t submits;        /* io_uring_submit calls */
	uint64_t sqes;           /* SQEs submitted */
	uint64_t cqes;           /* completions reaped */
	uint64_t short_sends;    /* sends resumed after a partial completion */
	uint64_t recv_multishot; /* 1 when multishot receive is in use */
	uint64_t buf_ring;       /* 1 when a provided-buffer ring is in use */
	uint64_t batched_sends;  /* kTLS: SENDMSGs that carried several queued sends */
	uint64_t registered_ring; /* 1 when io_uring_enter uses the registered ring fd */
};

/* Create the ring on the thread that will run it. */
int ktl_ring_new(struct ktl_ring **out, const struct ktl_ring_params *params);
/* Links still attached are detached (not closed), as by ktl_ring_remove.
 * From inside a callback the ring is freed when ktl_ring_run returns; no
 * callback runs after it, and data already received is kept for ktl_recv. */
void ktl_ring_free(struct ktl_ring *r);
/* ops->on_data is required.  A conn is on one ring at a time (-EBUSY). */
int ktl_ring_add(struct ktl_ring *r, struct ktl_conn *c, const struct ktl_ring_ops *ops, void *user);
/* Takes c off the ring without closing it: waits for its I/O in flight,
 * writes out sends still queued (blocking; no on_sent), and keeps data
 * already received for ktl_recv.  Not from c's own callback (-EBUSY). */
int ktl_ring_remove(struct ktl_ring *r, struct ktl_conn *c);
/* Queues buf for sending; buf must stay untouched until on_sent. */
int ktl_ring_send(struct ktl_ring *r, struct ktl_conn *c, const void *buf, size_t len);
/* File to link; kTLS TX only (splice through a pipe), else -EOPNOTSUPP. */
int ktl_ring_sendfile(struct ktl_ring *r, struct ktl_conn *c, int file_fd, off_t offset, size_t len);
/* Queues close_notify after any queued sends. */
int ktl_ring_shutdown(struct ktl_ring *r, struct ktl_conn *c);
/* Submits, waits up to timeout_ms (-1: forever) for at least one
 * completion, runs the callbacks; returns completions handled. */
int ktl_ring_run(struct ktl_ring *r, int timeout_ms);
/* Links still attached. */
unsigned ktl_ring_count(const struct ktl_ring *r);
void ktl_ring_get_stats(const struct ktl_ring *r, struct ktl_ring_stats *out);

/* ---- node IDs and certificates ------------------------------------------ */

/* The FISCO BCOS node ID of the first certificate in a PEM file:
 * EC: X||Y of the public point, Ed25519: the raw key, RSA: SHA-256 of the
 * SubjectPublicKeyInfo; lower-case hex into out (KTL_NODE_ID_MAX + 1). */
int ktl_node_id_from_file(const char *cert_path, char *out, size_t out_len);

/* ---- what this system can do --------------------------------------------- */

struct ktl_support {
	int ktls_ulp;                 /* TCP_ULP "tls" accepted */
	int ktls_ulp_err;             /* errno when not (ENOENT: no tls module) */
	unsigned ktls_tls12_ciphers;  /* KTL_AES_* masks the kernel took */
	unsigned ktls_tls13_ciphers;
	int io_uring;                 /* io_uring_queue_init works */
	int io_uring_err;
	char gnutls_version[32];
	char kernel_release[72];
};
/* Probes once per process; later calls return the cached result. */
int ktl_probe_support(struct ktl_support *out);

#ifdef __cplusplus
}
#endif
#endif
