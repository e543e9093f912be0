/* SPDX-License-Identifier: MIT */
/* `ktlink certs`: run the certificate generator, certs/ktlink-certs.sh,
 * with the arguments given.  It is looked for, in order, at
 *   <dir of the running binary>/../certs/ktlink-certs.sh   (source tree)
 *   <dir of the running binary>/ktlink-certs                (installed)
 *   ktlink-certs on PATH
 * and the first one found replaces this process. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* declared in tools/cmd.h */
#include "cmd.h"

#define GEN_NAME "ktlink-certs"
#define GEN_TREE "../certs/ktlink-certs.sh"

/* Directory of the running binary, into dir (without trailing slash);
 * empty when /proc/self/exe cannot be read. */
static void exe_dir(char *dir, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", dir, size - 1);
	char *slash;

	if (n <= 0) {
		dir[0] = '\0';
		return;
	}
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		dir[0] = '\0';
}

/* Replace this process with the script at path; argv[0] of args is
 * overwritten.  Returns only on failure, with errno set.  A script that
 * lost its execute bit is still run, through bash. */
static void run_script(const char *path, char **args)
{
	int err;

	args[0] = (char *)path;
	execv(path, args);
	err = errno;
	if (err == EACCES || err == ENOEXEC) {
		/* args has room for one more in front: see cmd_certs_main(). */
		args[-1] = "bash";
		execv("/bin/bash", args - 1);
		args[-1] = NULL;
	}
	errno = err;
}

/* PATH lookup of name into out; 0 when found. */
static int find_in_path(const char *name, char *out, size_t size)
{
	const char *path = getenv("PATH");
	const char *p, *end;

	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; ; p = end + 1) {
		size_t len;

		end = strchr(p, ':');
		if (!end)
			end = p + strlen(p);
		len = (size_t)(end - p);
		if (len == 0) /* empty entry: current directory */
			snprintf(out, size, "%s", name);
		else if ((size_t)snprintf(out, size, "%.*s/%s", (int)len, p, name) >= size)
			goto next;
		if (access(out, X_OK) == 0)
			return 0;
next:
		if (!*end)
			break;
	}
	return -1;
}

int cmd_certs_main(int argc, char **argv)
{
	char dir[PATH_MAX], path[PATH_MAX + sizeof(GEN_TREE) + 1];
	char tried[2 * sizeof(path) + 64];
	char **args;
	int i, err;

	/* args[0] is a spare slot for the bash fallback; args[1] is the
	 * script's argv[0], then the caller's arguments and NULL. */
	args = calloc((size_t)argc + 2, sizeof(*args));
	if (!args) {
		fprintf(stderr, "ktlink certs: out of memory\n");
		return 1;
	}
	for (i = 1; i < argc; i++)
		args[i + 1] = argv[i];

	/* Tells the script what to call itself in its --help. */
	setenv("KTLINK_CERTS_PROG", "ktlink certs", 1);

	tried[0] = '\0';
	exe_dir(dir, sizeof(dir));
	if (dir[0]) {
		const char *local[] = { GEN_TREE, GEN_NAME };
		size_t k;

		for (k = 0; k < sizeof(local) / sizeof(local[0]); k++) {
			snprintf(path, sizeof(path), "%s/%s", dir, local[k]);
			snprintf(tried + strlen(tried), sizeof(tried) - strlen(tried), "%s, ", path);
			if (access(path, F_OK) != 0)
				continue;
			run_script(path, args + 1);
			err = errno;
			fprintf(stderr, "ktlink certs: %s: cannot run: %s\n", path, strerror(err));
			free(args);
			return 1;
		}
	}

	if (find_in_path(GEN_NAME, path, sizeof(path)) == 0) {
		run_script(path, args + 1);
		err = errno;
		fprintf(stderr, "ktlink certs: %s: cannot run: %s\n", path, strerror(err));
		free(args);
		return 1;
	}

	fprintf(stderr, "ktlink certs: generator not found (looked at %s" GEN_NAME " on PATH)\n",
		tried);
	free(args);
	return 1;
}
