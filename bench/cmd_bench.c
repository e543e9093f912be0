/* SPDX-License-Identifier: MIT */
/* `ktlink bench`: runs the chosen paths at each size, then the handshake
 * and scale runs, and reports.  The measuring lives in stream.c,
 * handshake.c and scale.c; this file only sequences and sums up. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"
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
	char probe[4300];

	snprintf(run->client_dir, sizeof(run->client_dir), "%s/agency0/node0", d);
	snprintf(run->server_dir, sizeof(run->server_dir), "%s/agency0/node1", d);
	snprintf(probe, sizeof(probe), "%s/node.crt", run->server_dir);
	if (access(probe, R_OK) == 0)
		return 0;
	fprintf(stderr, "ktlink bench: no certificates in %s (need %s/agency0/node0 and node1; "
			"make them with: ktlink certs --out %s)\n", d, d, d);
	return -1;
}

/* Folds run k (> 0) of a --repeat into the first. */
static void fold(struct bench_result *acc, struct bench_result *r)
{
	if (!r->available || r->failed) {
		if (acc->available && !acc->failed) {
			acc->failed = r->failed;
			acc->available = r->available;
			memcpy(acc->reason, r->reason, sizeof(acc->reason));
		}
		free(r->iv);
		return;
	}
	acc->bytes += r->bytes;
	acc->verified += r->verified;
	acc->seconds += r->seconds;
	acc->cpu_client += r->cpu_client;
	acc->cpu_server += r->cpu_server;
	if (r->gbit_s < acc->gbit_min)
		acc->gbit_min = r->gbit_s;
	if (r->gbit_s > acc->gbit_max)
		acc->gbit_max = r->gbit_s;
	acc->runs++;
	free(r->iv); /* the first run's intervals stand for all */
}

static void finish(struct bench_result *acc)
{
	if (!acc->available || acc->failed || acc->seconds <= 0)
		return;
	/* Time-weighted mean; CPU seconds per run. */
	acc->gbit_s = (double)acc->bytes * 8 / acc->seconds / 1e9;
	acc->mb_s = (double)acc->bytes / acc->seconds / 1e6;
	acc->cpu_client /= acc->runs;
	acc->cpu_server /= acc->runs;
}

static void ratios(struct bench_run *run, size_t size)
{
	double tcp = -1, ossl = -1;
	unsigned i;

	for (i = 0; i < run->n_res; i++) {
		struct bench_result *r = &run->res[i];

		if (r->size != size || !r->available || r->failed)
			continue;
		if (r->id == BP_TCP)
			tcp = r->gbit_s;
		if (r->id == BP_OPENSSL)
			ossl = r->gbit_s;
	}
	for (i = 0; i < run->n_res; i++) {
		struct bench_result *r = &run->res[i];

		if (r->size != size || !r->available || r->failed)
			continue;
		r->ratio_tcp = tcp > 0 ? r->gbit_s / tcp : -1;
		r->ratio_openssl = ossl > 0 ? r->gbit_s / ossl : -1;
	}
}

int cmd_bench_main(int argc, char **argv)
{
	struct bench_opts o;
	struct bench_run run = { .o = &o };
	unsigned s, p, k;
	int rc = bench_parse_args(&o, argc, argv), status = 0;

	if (rc)
		return rc;
	if (o.help) {
		bench_usage(stdout);
		return 0;
	}
	if (find_certs(&run) < 0)
		return 1;
	/* A peer that vanished must show up as an error, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	machine(&run);
	bench_print_setup(&run);
	run.res = calloc((size_t)o.n_sizes * BP_COUNT, sizeof(*run.res));
	if (!run.res)
		return 1;
	for (s = 0; s < o.n_sizes; s++) {
		for (p = 0; p < BP_COUNT; p++) {
			struct bench_result *acc = &run.res[run.n_res];

			if (!(o.paths & (1u << p)))
				continue;
			run.n_res++;
			printf("\n-- %s (%s), size %zu --\n", bench_path_names[p], bench_path_get(p)->desc,
			       o.sizes[s]);
			fflush(stdout);
			bench_stream_run(&run, p, o.sizes[s], acc);
			for (k = 1; k < o.repeat && acc->available && !acc->failed; k++) {
				struct bench_result r;

				bench_stream_run(&run, p, o.sizes[s], &r);
				fold(acc, &r);
			}
			finish(acc);
			if (!acc->available)
				printf("[%-13s] unavailable: %s\n", bench_path_names[p], acc->reason);
			else if (acc->failed) {
				printf("[%-13s] FAILED: %s\n", bench_path_names[p], acc->reason);
				status = 1;
			}
		}
		ratios(&run, o.sizes[s]);
	}
	for (s = 0; s < o.n_sizes; s++)
		bench_print_summary(&run, o.sizes[s]);
	if (o.handshakes)
		bench_handshakes(&run);
	if (o.scale)
		bench_scale(&run);
	if (o.json && bench_write_json(&run, o.json) == 0)
		printf("\njson: %s\n", o.json);
	if (o.plot)
		bench_plot(&run, o.plot);
	for (k = 0; k < run.n_res; k++)
		free(run.res[k].iv);
	free(run.res);
	return status;
}
