/* SPDX-License-Identifier: MIT */
/* `ktlink bench`: the types shared by the benchmark's modules.  Each module
 * has one job: opts.c parses, pattern.c makes and checks the data, pair.c
 * opens loopback links, path_*.c move bytes one way, stream.c times a path,
 * handshake.c and scale.c the set-up costs, report.c/json.c/plot.c print. */
#ifndef KTL_BENCH_H
#define KTL_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* The measured paths, in the order they are run and printed. */
enum bench_path_id {
	BP_TCP = 0,
	BP_GNUTLS,
	BP_OPENSSL,
	BP_KTLS,
	BP_KTLS_URING,
	BP_KTLS_SENDFILE,
	BP_URING,
	BP_COUNT
};

extern const char *const bench_path_names[BP_COUNT];

#define BENCH_MAX_SIZES 16
#define BENCH_MAX_INTERVALS 4096
#define BENCH_MAX_REPEAT 100

enum bench_dir { DIR_ONE_WAY = 0, DIR_BOTH };
enum bench_cipher { CIPHER_AES128GCM = 0, CIPHER_AES256GCM, CIPHER_CHACHA20 };

struct bench_opts {
	unsigned paths;                 /* bit per enum bench_path_id */
	double time_s;                  /* per path */
	size_t sizes[BENCH_MAX_SIZES];  /* message sizes; one unless --sweep */
	unsigned n_sizes;
	unsigned links;
	int tls13;                      /* 1: TLS 1.3, 0: TLS 1.2 */
	enum bench_cipher cipher;
	enum bench_dir direction;
	unsigned repeat;
	double interval_s;
	const char *json;
	const char *plot;
	const char *certs;
	bool handshakes;
	unsigned scale;                 /* 0: no --scale run */
	bool help;
};

/* Parses argv (argv[0] is "bench").  Returns 0, or 2 after printing a
 * usage error to stderr; sets o->help for --help. */
int bench_parse_args(struct bench_opts *o, int argc, char **argv);
void bench_usage(FILE *f);
/* "16384", "16k", "1m", "1g" (powers of 1024).  0 or -1 on error. */
int bench_parse_size(const char *s, size_t *out);
/* Comma-separated sizes into out[max]; returns the count or -1. */
int bench_parse_size_list(const char *s, size_t *out, unsigned max);
/* Comma-separated path names ("all" allowed) into a bit mask, or -1 with
 * the offending name in *bad. */
int bench_parse_paths(const char *s, unsigned *mask, const char **bad);

/* ---- one measured run of one path --------------------------------------- */

struct bench_interval {
	double start, end;     /* seconds since the path started */
	uint64_t bytes;        /* received and verified in the interval */
};

struct bench_result {
	enum bench_path_id id;
	size_t size;
	bool available;
	bool failed;                  /* ran but stopped on an error */
	char reason[256];             /* why unavailable, or the error */
	char detail[160];             /* negotiated protocol/cipher, record path */
	double seconds;
	uint64_t bytes;               /* received, all directions */
	uint64_t verified;            /* of which checked against the pattern */
	double cpu_client, cpu_server;
	double gbit_s, mb_s;
	double ratio_tcp, ratio_openssl;  /* < 0: not known */
	unsigned runs;                /* --repeat: how many went into the mean */
	double gbit_min, gbit_max;
	struct bench_interval *iv;
	unsigned n_iv;
};

/* Handshake and scale runs, reported beside the paths. */
struct bench_hs_result {
	bool ran;
	char reason[256];
	char lib[16];
	unsigned client_threads, server_threads;
	uint64_t handshakes, failures;
	double seconds, per_s, cpu_client, cpu_server;
};

struct bench_scale_result {
	bool ran;
	char reason[256];
	char path[16];
	unsigned links;
	double setup_s, hs_per_s;
	long rss_before_kb, rss_links_kb, rss_ring_kb;
	double kib_per_link_end, kib_per_link_end_ring;
	double seconds, gbit_s, cpu_client, cpu_server;
	uint64_t bytes;
};

struct bench_run {
	const struct bench_opts *o;
	char client_dir[4096], server_dir[4096];
	char kernel[128], cpu_model[128];
	long nproc;
	struct bench_result *res;     /* n_res entries, paths × sizes */
	unsigned n_res;
	struct bench_hs_result hs[2]; /* ktlink (GnuTLS), OpenSSL */
	struct bench_scale_result scale;
};

/* ---- links ---------------------------------------------------------------
 * One side of one link as the path code sees it. */
struct bench_end {
	int fd;
	void *tls;              /* struct ktl_conn * or SSL * */
	void *ctx;              /* SSL_CTX * for OpenSSL */
};

struct bench_worker;

/* What a path does.  open() makes a connected, verified pair; send/recv
 * move bytes with blocking semantics.  A path may instead drive a whole
 * side itself with run() (io_uring, sendfile). */
struct bench_path {
	enum bench_path_id id;
	const char *desc;
	/* 0: can run; else fills why not (e.g. the kernel lacks kTLS). */
	int (*probe)(const struct bench_run *run, char *why, size_t len);
	/* 0 ok; 1 unavailable (why says so); -1 error (why says so). */
	int (*open)(const struct bench_run *run, struct bench_end *cli, struct bench_end *srv,
		    char *why, size_t len);
	ssize_t (*send)(struct bench_end *e, const void *buf, size_t len);
	ssize_t (*recv)(struct bench_end *e, void *buf, size_t len);
	void (*shut)(struct bench_end *e);
	void (*close)(struct bench_end *e);
	/* Optional: replaces the generic sender thread. */
	int (*sender)(struct bench_worker *w);
	/* Optional: one thread per side doing both directions (rings). */
	int (*duplex)(struct bench_worker *w);
	/* Optional: the same, only for --direction both (a library whose
	 * session takes no reads and writes from two threads at once). */
	int (*both)(struct bench_worker *w);
	/* What was negotiated, for the detail column. */
	void (*describe)(struct bench_end *e, char *buf, size_t len);
};

const struct bench_path *bench_path_get(enum bench_path_id id);
/* path_*.c */
extern const struct bench_path bench_path_tcp, bench_path_gnutls, bench_path_openssl,
	bench_path_ktls, bench_path_ktls_uring, bench_path_ktls_sendfile, bench_path_uring;

/* Shared state of one timed run of one path. */
struct bench_stream {
	const struct bench_run *run;
	const struct bench_path *path;
	size_t size;
	atomic_bool stop;
	/* Workers wait for go, so the clock starts once every thread exists:
	 * creating hundreds of threads while the first ones already run would
	 * otherwise eat the run's time and skew the links against each other. */
	pthread_mutex_t go_lock;
	pthread_cond_t go_cond;
	bool go;
	int file_fd;                /* sendfile source, or -1 */
	uint64_t file_len;          /* pattern period for sendfile; 0: none */
};

struct bench_worker {
	struct bench_stream *st;
	struct bench_end *e;
	bool is_client;
	bool do_send, do_recv;
	uint64_t tx_seed, rx_seed;
	int tx_stream, rx_stream;   /* stream ids, -1: none; matched at the end */
	_Atomic uint64_t rx_bytes;  /* received and verified so far */
	uint64_t tx_bytes;
	double cpu_s;
	int failed;
	char err[256];
};

/* stream.c: the generic loops, usable by path code. */
int bench_send_loop(struct bench_worker *w);
int bench_recv_loop(struct bench_worker *w);
/* Records a failure once and stops the run. */
int bench_fail(struct bench_worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Checks n received bytes at stream offset `at`; 0, or fails the worker. */
int bench_check(struct bench_worker *w, const void *buf, size_t n, uint64_t at);
/* The same against a given seed (one per link where a worker has many). */
int bench_check_seed(struct bench_worker *w, uint64_t seed, const void *buf, size_t n, uint64_t at);
double bench_thread_cpu(void);
double bench_now(void);

/* Runs one path at one size for o->time_s; fills *r. */
void bench_stream_run(const struct bench_run *run, enum bench_path_id id, size_t size,
		      struct bench_result *r);

/* path_tcp.c: write() until all of buf is out; len or -errno.  The kTLS
 * path uses it too, its fd taking plain writes. */
ssize_t bench_fd_write_all(int fd, const void *buf, size_t len);

/* path_ktl.c: the ktlink link set-up, shared with the ring paths. */
int bench_gnutls_open(const struct bench_run *run, struct bench_end *cli, struct bench_end *srv,
		      char *why, size_t len);
int bench_ktls_probe(const struct bench_run *run, char *why, size_t len);
int bench_ktls_open(const struct bench_run *run, struct bench_end *cli, struct bench_end *srv,
		    char *why, size_t len);
void bench_ktl_close(struct bench_end *e);
void bench_ktl_describe(struct bench_end *e, char *buf, size_t len);

/* pair.c: loopback TCP pairs and ktlink configurations. */
int bench_tcp_pair(int *cli, int *srv, char *why, size_t len);
/* A ktlink pair in the given kTLS mode (enum ktl_ktls_mode); cfgs cached. */
int bench_ktl_pair(const struct bench_run *run, int ktls_mode, struct bench_end *cli,
		   struct bench_end *srv, char *why, size_t len);
/* A fresh ktlink configuration for one side. */
struct ktl_config *bench_ktl_config(const struct bench_run *run, bool server, int ktls_mode,
				    char *why, size_t len);
/* Why this kernel has no kTLS, or NULL when it has. */
const char *bench_ktls_missing(void);

/* combine.c: --repeat.  The median of n values (-1 when n is 0). */
double bench_median(const double *v, unsigned n);
/* n runs of one path into *out: median Gbit/s, range, summed bytes and
 * seconds, CPU per run; a failed or unavailable run makes the path so. */
void bench_combine(const struct bench_result *runs, unsigned n, struct bench_result *out);
/* Median over rounds of a[k] / base[k] (run k of both in one round), or
 * -1 when any round of either is unusable. */
double bench_paired_ratio(const struct bench_result *a, const struct bench_result *base, unsigned n);

/* handshake.c, scale.c */
void bench_handshakes(struct bench_run *run);
void bench_scale(struct bench_run *run);
/* Before anything runs: can this process hold --scale's links (open
 * files)?  Raises the soft limit as needed; 0, or -1 with why filled. */
int bench_scale_check(const struct bench_opts *o, char *why, size_t len);

/* report.c, json.c, plot.c */
void bench_print_interval(const char *name, double t0, double t1, uint64_t bytes);
void bench_print_summary(const struct bench_run *run, size_t size);
void bench_print_setup(const struct bench_run *run);
int bench_write_json(const struct bench_run *run, const char *path);
int bench_plot(const struct bench_run *run, const char *png);
/* "1.23 GBytes" in iperf3's style. */
void bench_fmt_bytes(char *buf, size_t len, double bytes);

#endif
