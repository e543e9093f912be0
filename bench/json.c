/* SPDX-License-Identifier: MIT */
/* The results as one JSON object: run parameters, the machine, a record per
 * path and size, and the handshake and scale runs when they ran. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "ktlink.h"

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;

	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* Overlong three-byte forms and UTF-16 surrogates are not UTF-8. */
	if (n == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0)))
		return 0;
	if (n == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90)))
		return 0;
	return n;
}

/* A JSON string.  Paths are bytes, not text: a byte that is not part of
 * valid UTF-8 is written as the code point of the same value (U+0080 to
 * U+00FF), so the file stays valid JSON and the byte can be recovered. */
static void jstr(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (p && *p) {
		unsigned char c = *p;
		size_t n;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else if (c < 0x80)
			fputc(c, f);
		else if ((n = utf8_len(p)) > 0) {
			fwrite(p, 1, n, f);
			p += n;
			continue;
		} else
			fprintf(f, "\\u%04x", c);
		p++;
	}
	fputc('"', f);
}

/* JSON has no NaN or infinity; "not known" is null. */
static void jnum(FILE *f, double v, int prec)
{
	if (!isfinite(v) || v < 0)
		fputs("null", f);
	else
		fprintf(f, "%.*f", prec, v);
}

static const char *const cipher_names[] = { "aes128gcm", "aes256gcm", "chacha20" };

static void write_result(FILE *f, const struct bench_result *r)
{
	unsigned i;

	fputs("    {\"name\": ", f);
	jstr(f, bench_path_names[r->id]);
	fprintf(f, ", \"size\": %zu, \"available\": %s, \"failed\": %s, \"reason\": ", r->size,
		r->available ? "true" : "false", r->failed ? "true" : "false");
	if (r->available && !r->failed)
		fputs("null", f);
	else
		jstr(f, r->reason);
	fputs(", \"detail\": ", f);
	jstr(f, r->detail);
	fputs(",\n     \"gbit_s\": ", f);
	jnum(f, r->available ? r->gbit_s : -1, 3);
	fputs(", \"mb_s\": ", f);
	jnum(f, r->available ? r->mb_s : -1, 1);
	fputs(", \"cpu_client_s\": ", f);
	jnum(f, r->available ? r->cpu_client : -1, 3);
	fputs(", \"cpu_server_s\": ", f);
	jnum(f, r->available ? r->cpu_server : -1, 3);
	fputs(", \"seconds\": ", f);
	jnum(f, r->available ? r->seconds : -1, 3);
	fprintf(f, ", \"bytes\": %llu, \"verified\": %llu, \"ratio_tcp\": ", (unsigned long long)r->bytes,
		(unsigned long long)r->verified);
	jnum(f, r->ratio_tcp, 3);
	fputs(", \"ratio_openssl\": ", f);
	jnum(f, r->ratio_openssl, 3);
	fprintf(f, ", \"runs\": %u, \"gbit_s_min\": ", r->runs);
	jnum(f, r->available ? r->gbit_min : -1, 3);
	fputs(", \"gbit_s_max\": ", f);
	jnum(f, r->available ? r->gbit_max : -1, 3);
	fputs(",\n     \"intervals\": [", f);
	for (i = 0; i < r->n_iv; i++)
		fprintf(f, "%s{\"start\": %.2f, \"end\": %.2f, \"bytes\": %llu, \"gbit_s\": %.3f}", i ? ", " : "",
			r->iv[i].start, r->iv[i].end, (unsigned long long)r->iv[i].bytes,
			r->iv[i].end > r->iv[i].start
				? (double)r->iv[i].bytes * 8 / (r->iv[i].end - r->iv[i].start) / 1e9
				: 0.0);
	fputs("]}", f);
}

static void write_hs(FILE *f, const struct bench_hs_result *h)
{
	fputs("{\"library\": ", f);
	jstr(f, h->lib);
	fprintf(f, ", \"ran\": %s, \"reason\": ", h->ran ? "true" : "false");
	if (h->ran && !h->reason[0])
		fputs("null", f);
	else
		jstr(f, h->reason);
	fprintf(f, ", \"client_threads\": %u, \"server_threads\": %u, \"handshakes\": %llu, \"failures\": %llu, "
		   "\"seconds\": %.3f, \"per_s\": %.1f, \"cpu_client_s\": %.3f, \"cpu_server_s\": %.3f}",
		h->client_threads, h->server_threads, (unsigned long long)h->handshakes,
		(unsigned long long)h->failures, h->seconds, h->per_s, h->cpu_client, h->cpu_server);
}

int bench_write_json(const struct bench_run *run, const char *path)
{
	const struct bench_opts *o = run->o;
	const struct bench_scale_result *s = &run->scale;
	FILE *f = fopen(path, "w");
	unsigned i;
	time_t now = time(NULL);
	char when[32];

	if (!f) {
		fprintf(stderr, "ktlink bench: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	fputs("{\n  \"tool\": \"ktlink bench\", \"version\": ", f);
	jstr(f, KTL_VERSION);
	fputs(", \"date\": ", f);
	jstr(f, when);
	fputs(",\n  \"params\": {\"paths\": [", f);
	for (i = 0; i < BP_COUNT; i++)
		if (o->paths & (1u << i)) {
			fputs(o->paths & ((1u << i) - 1) ? ", " : "", f);
			jstr(f, bench_path_names[i]);
		}
	fprintf(f, "], \"time_s\": %.3f, \"sizes\": [", o->time_s);
	for (i = 0; i < o->n_sizes; i++)
		fprintf(f, "%s%zu", i ? ", " : "", o->sizes[i]);
	fprintf(f, "], \"links\": %u, \"tls\": \"%s\", \"cipher\": \"%s\", \"direction\": \"%s\", "
		   "\"repeat\": %u, \"interval_s\": %.3f, \"certs\": ",
		o->links, o->tls13 ? "1.3" : "1.2", cipher_names[o->cipher],
		o->direction == DIR_BOTH ? "both" : "one-way", o->repeat, o->interval_s);
	jstr(f, o->certs);
	fprintf(f, ", \"handshakes\": %s, \"scale\": %u},\n", o->handshakes ? "true" : "false", o->scale);
	fputs("  \"machine\": {\"kernel\": ", f);
	jstr(f, run->kernel);
	fputs(", \"cpu\": ", f);
	jstr(f, run->cpu_model);
	fprintf(f, ", \"nproc\": %ld, \"ktls\": ", run->nproc);
	if (bench_ktls_missing())
		jstr(f, bench_ktls_missing());
	else
		fputs("true", f);
	fputs("},\n  \"paths\": [\n", f);
	for (i = 0; i < run->n_res; i++) {
		write_result(f, &run->res[i]);
		fputs(i + 1 < run->n_res ? ",\n" : "\n", f);
	}
	fputs("  ]", f);
	if (o->handshakes) {
		fputs(",\n  \"handshakes\": [", f);
		write_hs(f, &run->hs[0]);
		fputs(", ", f);
		write_hs(f, &run->hs[1]);
		fputs("]", f);
	}
	if (o->scale) {
		fprintf(f, ",\n  \"scale\": {\"ran\": %s, \"reason\": ", s->ran ? "true" : "false");
		if (s->ran && !s->reason[0])
			fputs("null", f);
		else
			jstr(f, s->reason);
		fputs(", \"path\": ", f);
		jstr(f, s->path);
		fprintf(f, ", \"links\": %u, \"setup_s\": %.3f, \"handshakes_per_s\": %.1f, "
			   "\"rss_before_kib\": %ld, \"rss_links_kib\": %ld, \"rss_ring_kib\": %ld, "
			   "\"kib_per_link_end\": %.2f, \"kib_per_link_end_with_ring\": %.2f, "
			   "\"seconds\": %.3f, \"bytes\": %llu, \"gbit_s\": %.3f, \"cpu_client_s\": %.3f, "
			   "\"cpu_server_s\": %.3f}",
			s->links, s->setup_s, s->hs_per_s, s->rss_before_kb, s->rss_links_kb, s->rss_ring_kb,
			s->kib_per_link_end, s->kib_per_link_end_ring, s->seconds, (unsigned long long)s->bytes,
			s->gbit_s, s->cpu_client, s->cpu_server);
	}
	fputs("\n}\n", f);
	if (fclose(f) != 0) {
		fprintf(stderr, "ktlink bench: writing %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}
