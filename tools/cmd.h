/* SPDX-License-Identifier: MIT */
/* The ktlink subcommands; each lives in its own file and is listed in the
 * table in ktlink.c.  Entry points take the argv that starts at the
 * subcommand's name and return the process exit code. */
#ifndef KTLINK_CMD_H
#define KTLINK_CMD_H

int cmd_serve_main(int argc, char **argv);
int cmd_connect_main(int argc, char **argv);
int cmd_certs_main(int argc, char **argv);
int cmd_info_main(int argc, char **argv);
int cmd_bench_main(int argc, char **argv);

#endif
