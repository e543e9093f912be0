/* SPDX-License-Identifier: MIT */
/* `ktlink bench`: runs the chosen paths at each size, then the handshake
 * and scale runs, and reports.  The measuring lives in stream.c,
 * handshake.c and scale.c; this file only sequences and sums up. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"
#include "ktlink.h"
#include "../tools/cmd.h"

static void machine(struct bench_run *run)
{
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(run->kernel, sizeof(run->kernel), "%s", uname(&u) == 0 ? u.release : "?");
	snprintf(run->cpu_model, sizeof(run->cpu_model), "unknown CPU");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && colon) {
			colon += 1 + (colon[1] == ' ');
			colon[strcspn(colon, "\n")] = 0;
			snprintf(run->cpu_model, sizeof(run->cpu_model), "%s", colon);
			break;
		}
	}
	if (f)
		fclose(f);
	run->nproc = sysconf(_SC_NPROCESSORS_ONLN);
}

static int find_certs(struct bench_run *run)
{
	const char *d = run->o->certs;
	struct bench_end c = { .fd = -1 }, s = { .fd = -1 };
	char why[512];
	struct stat sb;

	snprintf(run->client_dir, sizeof(run->client_dir), "%s/agency0/node0", d);
	snprintf(run->server_dir, sizeof(run->server_dir), "%s/agency0/node1", d);
	if (stat(run->client_dir, &sb) < 0 || stat(run->server_dir, &sb) < 0) {
		fprintf(stderr, "ktlink bench: no certificates in %s (need %s/agency0/node0 and node1; "
				"make them with: ktlink certs --out %s)\n", d, d, d);
		return -1;
	}
	/* One real handshake before anything is measured: a broken chain is
	 * the user's to fix, not a path this system "cannot run". */
	if (bench_ktl_pair(run, KTL_KTLS_OFF, &c, &s, why, sizeof(why)) < 0) {
		fprintf(stderr, "ktlink bench: the certificates in %s do not make a link: %s\n", d, why);
		return -1;
	}
	ktl_close(c.tls);
	ktl_close(s.tls);
	return 0;
}

/* Runs round k of every chosen path at one size.  A path that could not
 * run in an earlier round is not tried again. */
static int run_round(struct bench_run *run, struct bench_result *raw, size_t size, unsigned k)
{
	const struct bench_opts *o = run->o;
	int status = 0;

	for (unsigned p = 0; p < BP_COUNT; p++) {
		struct bench_result *r = &raw[p * o->repeat];

		if (!(o->paths & (1u << p)) || (k > 0 && (!r->available || r->failed)))
			continue;
		if (o->repeat > 1)
			printf("\n-- %s (%s), size %zu, round %u of %u --\n", bench_path_names[p],
			       bench_path_get(p)->desc, size, k + 1, o->repeat);
		else
			printf("\n-- %s (%s), size %zu --\n", bench_path_names[p], bench_path_get(p)->desc, size);
		fflush(stdout);
		r += k;
		bench_stream_run(run, p, size, r);
		if (r->failed) {
			printf("[%-13s] FAILED: %s\n", bench_path_names[p], r->reason);
			status = 1;
		} else if (!r->available) {
			printf("[%-13s] unavailable: %s\n", bench_path_names[p], r->reason);
		}
	}
	return status;
}

/* Folds one size's rounds into run->res, with ratios paired per round. */
static void fold_size(struct bench_run *run, struct bench_result *raw)
{
	const struct bench_opts *o = run->o;
	const struct bench_result *tcp = &raw[BP_TCP * o->repeat], *ossl = &raw[BP_OPENSSL * o->repeat];
	bool have_tcp = o->paths & (1u << BP_TCP), have_ossl = o->paths & (1u << BP_OPENSSL);

	for (unsigned p = 0; p < BP_COUNT; p++) {
		const struct bench_result *runs = &raw[p * o->repeat];
		struct bench_result *acc;
		unsigned n;

		if (!(o->paths & (1u << p)))
			continue;
		acc = &run->res[run->n_res++];
		n = runs[0].available && !runs[0].failed ? o->repeat : 1;
		bench_combine(runs, n, acc);
		for (unsigned k = 1; k < n; k++)
			free(runs[k].iv); /* the first run's intervals stand for all */
		if (!acc->available || acc->failed)
			continue;
		acc->ratio_tcp = have_tcp ? bench_paired_ratio(runs, tcp, n) : -1;
		acc->ratio_openssl = have_ossl ? bench_paired_ratio(runs, ossl, n) : -1;
	}
}

int cmd_bench_main(int argc, char **argv)
{
	struct bench_opts o;
	struct bench_run run = { .o = &o };
	struct bench_result *raw;
	unsigned s, k;
	int rc = bench_parse_args(&o, argc, argv), status = 0;

	if (rc)
		return rc;
	if (o.help) {
		bench_usage(stdout);
		return 0;
	}
	/* A peer that vanished must show up as an error, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (find_certs(&run) < 0)
		return 1;
	{
		char why[256];

		if (bench_scale_check(&o, why, sizeof(why)) < 0) {
			fprintf(stderr, "ktlink bench: --scale %u: %s\n", o.scale, why);
			return 1;
		}
	}
	machine(&run);
	bench_print_setup(&run);
	run.res = calloc((size_t)o.n_sizes * BP_COUNT, sizeof(*run.res));
	raw = calloc((size_t)BP_COUNT * o.repeat, sizeof(*raw));
	if (!run.res || !raw) {
		fprintf(stderr, "ktlink bench: out of memory\n");
		free(run.res);
		free(raw);
		return 1;
	}
	for (s = 0; s < o.n_sizes; s++) {
		memset(raw, 0, (size_t)BP_COUNT * o.repeat * sizeof(*raw));
		for (k = 0; k < o.repeat; k++)
			status |= run_round(&run, raw, o.sizes[s], k);
		fold_size(&run, raw);
	}
	free(raw);
	for (s = 0; s < o.n_sizes; s++)
		bench_print_summary(&run, o.sizes[s]);
	if (o.handshakes) {
		bench_handshakes(&run);
		for (k = 0; k < 2; k++)
			if (!run.hs[k].ran || run.hs[k].failures)
				status = 1;
	}
	if (o.scale) {
		bench_scale(&run);
		if (!run.scale.ran || run.scale.reason[0])
			status = 1;
	}
	if (o.json) {
		if (bench_write_json(&run, o.json) == 0)
			printf("\njson: %s\n", o.json);
		else
			status = 1;
	}
	if (o.plot && bench_plot(&run, o.plot) < 0)
		status = 1;
	for (k = 0; k < run.n_res; k++)
		free(run.res[k].iv);
	free(run.res);
	return status;
}
