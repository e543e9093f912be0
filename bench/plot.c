/* SPDX-License-Identifier: MIT */
/* --plot: throughput over time per path (one line each) and, with --sweep,
 * throughput against message size, drawn by gnuplot when it is installed;
 * the data and script are kept beside the PNG. */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

/* A file name inside a gnuplot single-quoted string: a quote is doubled,
 * so no name can end the string and run gnuplot commands of its own. */
static void gp_quoted(FILE *g, const char *s)
{
	fputc('\'', g);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', g);
		fputc(*s, g);
	}
	fputc('\'', g);
}

static bool plotted(const struct bench_result *r)
{
	return r->available && !r->failed && r->n_iv;
}

/* Index blocks: one per path and size over time, then (swept) one per
 * path over sizes.  Returns the number of time blocks. */
static unsigned write_data(const struct bench_run *run, FILE *d, bool *measured)
{
	unsigned i, j, n = 0;

	*measured = false;
	for (i = 0; i < run->n_res; i++)
		if (run->res[i].available && !run->res[i].failed)
			*measured = true;

	for (i = 0; i < run->n_res; i++) {
		const struct bench_result *r = &run->res[i];

		if (!plotted(r))
			continue;
		fprintf(d, "# %s %zu: seconds Gbit/s\n", bench_path_names[r->id], r->size);
		for (j = 0; j < r->n_iv; j++)
			fprintf(d, "%.3f %.4f\n", r->iv[j].end,
				(double)r->iv[j].bytes * 8 / (r->iv[j].end - r->iv[j].start) / 1e9);
		fprintf(d, "\n\n");
		n++;
	}
	if (run->o->n_sizes < 2)
		return n;
	for (unsigned p = 0; p < BP_COUNT; p++) {
		if (!(run->o->paths & (1u << p)))
			continue;
		fprintf(d, "# %s: bytes Gbit/s\n", bench_path_names[p]);
		for (i = 0; i < run->n_res; i++)
			if (run->res[i].id == p && run->res[i].available && !run->res[i].failed)
				fprintf(d, "%zu %.4f\n", run->res[i].size, run->res[i].gbit_s);
		fprintf(d, "\n\n");
	}
	return n;
}

static void write_script(const struct bench_run *run, FILE *g, const char *png, const char *dat,
			 unsigned n_time)
{
	bool swept = run->o->n_sizes > 1, both = swept && n_time;
	unsigned i, n = 0;

	fprintf(g, "set terminal pngcairo size 1000,%d noenhanced\nset output ", both ? 1000 : 600);
	gp_quoted(g, png);
	fprintf(g, "\n%sset grid\nset key outside right\nset yrange [0:*]\nset ylabel 'Gbit/s'\n",
		both ? "set multiplot layout 2,1\n" : "");
	fprintf(g, "set title 'ktlink bench: kernel %s, TLS %s, %u link(s)'\n", run->kernel,
		run->o->tls13 ? "1.3" : "1.2", run->o->links);
	if (n_time)
		fputs("set xlabel 'seconds'\nplot ", g);
	for (i = 0; i < run->n_res && n_time; i++) {
		const struct bench_result *r = &run->res[i];

		if (!plotted(r))
			continue;
		fputs(n ? ", " : "", g);
		gp_quoted(g, dat);
		fprintf(g, " index %u with linespoints title '%s %zu'", n, bench_path_names[r->id], r->size);
		n++;
	}
	if (n_time)
		fputs("\n", g);
	if (!swept)
		return;
	if (n_time)
		fputs("set title 'throughput against message size'\n", g);
	fputs("set xlabel 'message size (bytes)'\nset logscale x 2\nplot ", g);
	n = 0;
	for (unsigned p = 0; p < BP_COUNT; p++) {
		if (!(run->o->paths & (1u << p)))
			continue;
		fputs(n ? ", " : "", g);
		gp_quoted(g, dat);
		fprintf(g, " index %u with linespoints title '%s'", n_time + n, bench_path_names[p]);
		n++;
	}
	fputs(both ? "\nunset multiplot\n" : "\n", g);
}

/* gnuplot SCRIPT, run without a shell: the file names are data, never
 * command text.  0, 1 when gnuplot is not installed, or -1. */
static int run_gnuplot(const char *gp)
{
	char *argv[] = { "gnuplot", (char *)gp, NULL };
	pid_t pid;
	int st, err = posix_spawnp(&pid, "gnuplot", NULL, NULL, argv, environ);

	if (err == ENOENT)
		return 1;
	if (err) {
		fprintf(stderr, "ktlink bench: --plot: running gnuplot: %s\n", strerror(err));
		return -1;
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			fprintf(stderr, "ktlink bench: --plot: waiting for gnuplot: %s\n", strerror(errno));
			return -1;
		}
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "ktlink bench: --plot: gnuplot failed on %s\n", gp);
		return -1;
	}
	return 0;
}

int bench_plot(const struct bench_run *run, const char *png)
{
	char dat[4200], gp[4200], abs_png[8400], abs_dat[8410], cwd[4096];
	FILE *d, *g;
	bool measured;
	unsigned n;
	int ret;

	snprintf(dat, sizeof(dat), "%s.dat", png);
	snprintf(gp, sizeof(gp), "%s.gp", png);
	/* The script names its files by absolute path, so it runs again
	 * from anywhere: gnuplot FILE.png.gp redraws the picture. */
	if (png[0] != '/' && getcwd(cwd, sizeof(cwd)))
		snprintf(abs_png, sizeof(abs_png), "%s/%s", cwd, png);
	else
		snprintf(abs_png, sizeof(abs_png), "%s", png);
	snprintf(abs_dat, sizeof(abs_dat), "%s.dat", abs_png);
	d = fopen(dat, "w");
	if (!d) {
		fprintf(stderr, "ktlink bench: --plot: cannot write %s: %s\n", dat, strerror(errno));
		return -1;
	}
	n = write_data(run, d, &measured);
	if (fclose(d) != 0) {
		fprintf(stderr, "ktlink bench: --plot: writing %s: %s\n", dat, strerror(errno));
		return -1;
	}
	if (!measured || (!n && run->o->n_sizes < 2)) {
		/* Every path failed or none was available: the run says why. */
		fprintf(stderr, "ktlink bench: --plot: no path measured anything to plot; no %s\n", png);
		remove(dat);
		return -1;
	}
	g = fopen(gp, "w");
	if (!g) {
		fprintf(stderr, "ktlink bench: --plot: cannot write %s: %s\n", gp, strerror(errno));
		return -1;
	}
	write_script(run, g, abs_png, abs_dat, n);
	if (fclose(g) != 0) {
		fprintf(stderr, "ktlink bench: --plot: writing %s: %s\n", gp, strerror(errno));
		return -1;
	}
	ret = run_gnuplot(gp);
	if (ret == 1) {
		/* Asked for a picture but the tool is missing: the data and the
		 * script are written, so installing gnuplot and running the
		 * script gives the same picture. */
		fprintf(stderr, "ktlink bench: --plot: gnuplot is not installed (apt-get install gnuplot-nox); "
				"wrote %s and %s, no %s\n", dat, gp, png);
		return -1;
	}
	if (ret == 0)
		printf("plot: %s\n", png);
	return ret;
}
