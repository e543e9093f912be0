/* SPDX-License-Identifier: MIT */
/* Private to the io_uring engine (lib/ring*.c): the ring, the per-link
 * state, and what the TX and RX halves share. */
#ifndef KTL_RING_INT_H
#define KTL_RING_INT_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "internal.h"
#include "ktls_int.h"

/* What a CQE belongs to: the low bits of user_data; the rest is the link. */
enum ring_op {
	OP_IGNORE = 0,                /* cancels: their CQEs carry nothing */
	OP_RECV = 1,
	OP_SEND = 2,
	OP_SPLICE_IN = 3,             /* file -> pipe */
	OP_SPLICE_OUT = 4,            /* pipe -> kTLS socket */
};
#define OP_MASK 7u

/* Largest TLS record on the wire: 2^14 plaintext plus the worst AEAD
 * overhead (TLS 1.2 GCM: 5 header + 8 explicit nonce + 16 tag) with room. */
#define RING_RECORD_MAX (16384 + 256)
/* Each of the two ciphertext buffers of a user-space TX link. */
#define RING_OUT_RECORDS 8
#define RING_OUT_CAP (RING_OUT_RECORDS * RING_RECORD_MAX)
/* Plaintext of one record. */
#define RING_PT_CAP 16384
/* kTLS TX: queued sends that go to the kernel in one SENDMSG, so it
 * builds several records per call instead of one per 16 KiB send. */
#define RING_TX_IOV_MAX 16
#define RING_TX_BATCH_MAX (256u * 1024)

enum send_kind { SEND_DATA, SEND_FILE, SEND_BYE };

/* One ktl_ring_send / ktl_ring_sendfile / ktl_ring_shutdown, in order.
 * The caller's buffer is referenced, never copied, until on_sent. */
struct ring_send {
	struct ring_send *next;
	enum send_kind kind;
	const unsigned char *buf;
	size_t len;
	size_t off;                   /* bytes encrypted (user space) or sent (kTLS) */
	uint64_t ct_end;              /* user space: ciphertext total once fully encrypted */
	int file_fd;
	off_t file_off;
};

/* Ciphertext of a user-space TX link.  One buffer is in flight (pinned
 * until its SEND completes), GnuTLS's push fills the other. */
struct ring_out {
	unsigned char *p;
	size_t len, sent;
};

/* Control-record parse state of a kTLS RX link; post-handshake messages
 * may span records, so it lives across completions. */

struct ring_link {
	struct ktl_ring *r;
	struct ktl_conn *c;
	const struct ktl_ring_ops *ops;
	void *user;
	struct ring_link *hnext;      /* conn -> link map bucket chain */
	struct ring_link *lnext, *lprev; /* all links */
	struct ring_link *dnext;      /* dirty list */
	bool dirty;

	unsigned inflight;            /* ops whose last CQE has not been reaped */
	bool rx_armed;
	bool tx_busy;                 /* a SEND or SPLICE is in flight */
	bool tx_inline;               /* ... and its CQE is already in the CQ */
	bool kicked;                  /* the first flush ran */
	bool detaching;               /* draining: completions only account */
	bool absorb;                  /* while draining, keep what arrives for ktl_recv */
	int cb_depth;                 /* > 0 while a callback for this link runs */
	bool ending;
	int end_code;                 /* 0 or negative, for on_close */
	char end_msg[KTL_MSG_MAX];

	/* TX queue: head is the oldest unfinished entry, cur the first not
	 * fully encrypted (user space) or being sent (kTLS). */
	struct ring_send *head, *cur, *tail;

	/* user-space TX */
	struct ring_out out[2];
	int fill;                     /* index GnuTLS pushes into */
	uint64_t ct_total, ct_sent;   /* ciphertext pushed / on the wire */
	size_t again_len;             /* gnutls_record_send returned AGAIN for this */
	size_t batch;                 /* records per SEND while the wire is idle */

	/* kTLS TX: the SENDMSG in flight (kernel reads it until its CQE) */
	struct msghdr tx_msg;
	struct iovec tx_iov[RING_TX_IOV_MAX];
	size_t tx_req;                /* bytes it asked for */

	/* kTLS TX sendfile */
	int pipe[2];
	size_t pipe_cap, pipe_fill;

	/* RX: user-space ciphertext being fed to GnuTLS */
	const unsigned char *rx_src;
	size_t rx_len, rx_off;
	/* RX without shared buffers: one buffer per link, single shot */
	unsigned char *inbuf;
	struct msghdr msg;
	struct iovec iov;
	union {
		char buf[CMSG_SPACE(sizeof(unsigned char))];
		struct cmsghdr align;
	} cbuf;
	struct ktl_ctl_state ctl;     /* control-record parse, across CQEs */
};

struct ring_cqe {
	uint64_t ud;
	int32_t res;
	uint32_t flags;
};

struct ktl_ring {
	struct io_uring ring;
	unsigned entries;
	unsigned buf_size;
	unsigned n_bufs;
	unsigned flags;               /* KTL_RING_* from the params */
	bool in_run;
	bool free_asked;              /* ktl_ring_free from a callback: freed when the run ends */

	/* shared receive buffers (provided-buffer ring) */
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	unsigned char *bufs;
	size_t bufs_bytes;
	bool use_br;                  /* multishot + buffer ring in use */
	bool ring_fd_registered;      /* io_uring_enter by index, no fd lookup */
	bool mshot_seen;              /* a multishot CQE with F_MORE arrived */
	struct msghdr mshot_msg;      /* recvmsg multishot template */

	struct ring_link **map;
	unsigned map_size;
	struct ring_link *links;
	unsigned count;
	struct ring_link *dirty;
	unsigned inflight;

	/* Reaped completions not yet handled, oldest first. */
	struct ring_cqe *q;
	size_t q_head, q_len, q_cap;

	struct ring_send *free_sends;
	struct ktl_ring_stats st;
};

#define RING_BGID 0x6b74

/* ring.c */
struct io_uring_sqe *ring_sqe(struct ktl_ring *r);
void ring_op_start(struct ring_link *l, struct io_uring_sqe *sqe, enum ring_op op);
bool ring_submit_now(struct ring_link *l, enum ring_op op);
void ring_mark_dirty(struct ring_link *l);
/* Marks the link failed with code (negative; the message is the current
 * ktl_last_error()); it is detached and on_close'd by the caller's loop. */
int ring_link_fail(struct ring_link *l, int code);
void ring_recycle(struct ktl_ring *r, unsigned bid);

/* ring_tx.c */
void ring_tx_attach(struct ring_link *l);
void ring_tx_restore(struct ring_link *l);
int ring_tx_flush(struct ring_link *l);
void ring_tx_complete(struct ring_link *l, enum ring_op op, int res);
bool ring_tx_idle(const struct ring_link *l);
/* Graceful detach: writes out what the ring still held, blocking. */
int ring_tx_finish(struct ring_link *l);
void ring_tx_release(struct ring_link *l);
struct ring_send *ring_send_alloc(struct ktl_ring *r);
void ring_send_free(struct ktl_ring *r, struct ring_send *s);

/* ring_rx.c */
void ring_rx_attach(struct ring_link *l);
void ring_rx_restore(struct ring_link *l);
void ring_rx_kick(struct ring_link *l);
void ring_rx_arm(struct ring_link *l);
void ring_rx_complete(struct ring_link *l, int res, uint32_t flags);
void ring_rx_release(struct ring_link *l);

#endif
