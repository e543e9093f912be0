/* SPDX-License-Identifier: MIT */
/* --plot: throughput over time per path (one line each), drawn by gnuplot
 * when it is installed; the data and script are kept beside the PNG. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int bench_plot(const struct bench_run *run, const char *png)
{
	char dat[4200], gp[4200], cmd[8600];
	FILE *d, *g;
	unsigned i, j, n = 0;

	if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
		printf("plot: gnuplot is not installed; no %s (the JSON has the same intervals)\n", png);
		return 0;
	}
	snprintf(dat, sizeof(dat), "%s.dat", png);
	snprintf(gp, sizeof(gp), "%s.gp", png);
	d = fopen(dat, "w");
	g = fopen(gp, "w");
	if (!d || !g) {
		printf("plot: cannot write %s or %s\n", dat, gp);
		if (d)
			fclose(d);
		if (g)
			fclose(g);
		return -1;
	}
	/* One gnuplot data block per measured path and size. */
	for (i = 0; i < run->n_res; i++) {
		const struct bench_result *r = &run->res[i];

		if (!r->available || r->failed || !r->n_iv)
			continue;
		fprintf(d, "# %s %zu\n", bench_path_names[r->id], r->size);
		for (j = 0; j < r->n_iv; j++)
			fprintf(d, "%.3f %.4f\n", r->iv[j].end,
				(double)r->iv[j].bytes * 8 / (r->iv[j].end - r->iv[j].start) / 1e9);
		fprintf(d, "\n\n");
	}
	fclose(d);
	fprintf(g, "set terminal pngcairo size 1000,600 noenhanced\nset output '%s'\n"
		   "set title 'ktlink bench: %s, TLS %s, %u link(s)'\nset xlabel 'seconds'\n"
		   "set ylabel 'Gbit/s'\nset key outside right\nset grid\nset yrange [0:*]\nplot ",
		png, run->kernel, run->o->tls13 ? "1.3" : "1.2", run->o->links);
	for (i = 0; i < run->n_res; i++) {
		const struct bench_result *r = &run->res[i];

		if (!r->available || r->failed || !r->n_iv)
			continue;
		fprintf(g, "%s'%s' index %u with linespoints title '%s %zu'", n ? ", " : "", dat, n,
			bench_path_names[r->id], r->size);
		n++;
	}
	fprintf(g, "\n");
	fclose(g);
	if (!n) {
		printf("plot: no intervals to plot\n");
		return 0;
	}
	snprintf(cmd, sizeof(cmd), "gnuplot '%s'", gp);
	if (system(cmd) != 0) {
		printf("plot: gnuplot failed on %s\n", gp);
		return -1;
	}
	printf("plot: %s\n", png);
	return 0;
}
