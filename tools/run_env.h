/* SPDX-License-Identifier: MIT */
/*
 * run_env.h - the environment through which `uswap run` (tools/uswap.c)
 * configures libuswap_preload.so (src/preload/).  Shared by both; not public.
 *
 *   USWAP_MEM=BYTES        limit of the program's managed memory (required: without
 *                          it the shim stays passive)
 *   USWAP_SWAP=SPEC;SPEC   swap devices, uswap_swapon(3) syntax, ';' between them
 *   USWAP_MODE=thread|signal
 *   USWAP_THRESHOLD=BYTES  smallest private anonymous mapping that is managed
 *   USWAP_FOLLOW_EXEC=0|1  keep the shim in the environment of exec'd programs
 *   USWAP_COLOCATE=0|1     0: USWAP_F_NO_COLOCATE (thread mode; default 1)
 *   USWAP_STATUS_FD=FD:INO status pipe to the CLI: handshake, library errors and
 *                          the final statistics; INO is the pipe's inode, so a
 *                          stale number that now names another file is not used
 *   USWAP_STAT=0|1         send the statistics over the status pipe at exit
 *   USWAP_STRIP=PATH:PATH  what to remove from LD_PRELOAD when not following exec
 *
 * Status pipe lines (each one write(2) of at most PIPE_BUF bytes):
 *   "ready PID\n"                      the shim manages the program's memory
 *   "error PID KIND MESSAGE\n"         it could not; KIND is perm, limit, swap, other
 *   "log PID LEVEL MESSAGE\n"          a library message (LEVEL as enum uswap_log_level)
 *   "stat PID LEN\n" + LEN bytes       the final snapshot, "name value" lines
 */
#ifndef USWAP_RUN_ENV_H
#define USWAP_RUN_ENV_H

#define RUN_ENV_MEM "USWAP_MEM"
#define RUN_ENV_SWAP "USWAP_SWAP"
#define RUN_ENV_MODE "USWAP_MODE"
#define RUN_ENV_THRESHOLD "USWAP_THRESHOLD"
#define RUN_ENV_FOLLOW_EXEC "USWAP_FOLLOW_EXEC"
#define RUN_ENV_COLOCATE "USWAP_COLOCATE"
#define RUN_ENV_STATUS_FD "USWAP_STATUS_FD"
#define RUN_ENV_STAT "USWAP_STAT"
#define RUN_ENV_STRIP "USWAP_STRIP"

#define RUN_DEFAULT_THRESHOLD (1u << 20)
/* The stats socket of process PID is the abstract unix socket "\0uswap.PID". */
#define RUN_SOCKET_FMT "uswap.%d"

#endif
