/*
 * proc.h: runs a program for an executor — fork, drop to a user
 * (setgroups/initgroups, setgid, setuid) when asked, exec with a clean
 * environment (only what the caller gives, plus PATH), stdin from
 * /dev/null or a buffer, stdout and stderr captured up to a bound (the
 * rest is counted and dropped), a time limit (SIGTERM, then SIGKILL after
 * 5 s), and the caller's keepalive called at least once a second.  No
 * shell is ever involved; argv is passed as is, so nothing secret may be
 * in it (ps shows argv): pass secrets on stdin or in 0600 files.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROC_OUTPUT_MAX (64 * 1024) /* captured bytes per stream */

struct proc_spec {
	const char *const *argv;      /* argv[0] is an absolute path */
	const char *const *env;       /* extra "K=V" entries, NULL-terminated, or NULL */
	const char *user;             /* run as this user (and its groups), or NULL to stay root */
	const char *cwd;              /* or NULL for "/" */
	const void *stdin_data;       /* or NULL for /dev/null */
	size_t stdin_len;
	int64_t timeout_ms;           /* > 0 */
	bool (*keepalive)(void *userdata); /* may be NULL; false → stop the child, -ECANCELED */
	void *userdata;
};

struct proc_result {
	int exit_status;              /* exit code, or 128 + signal */
	char *out;                    /* captured stdout, NUL-terminated (heap) */
	char *err;                    /* captured stderr, NUL-terminated (heap) */
	bool timed_out;
};

/* Runs the program to its end.  Returns 0 when it ran (look at
 * exit_status), -ETIMEDOUT after the time limit (result filled),
 * -ECANCELED when keepalive said stop, -ENOENT when argv[0] does not
 * exist, -ESRCH for an unknown user, or -errno. */
int proc_run(const struct proc_spec *spec, struct proc_result *ret);
void proc_result_done(struct proc_result *r);

/* "tail" of a captured stream for a job message: the last `max` bytes of
 * `s` from a line start, trimmed. Returns a pointer into `s`. */
const char *proc_tail(const char *s, size_t max);

/* Looks a user up: 0 and uid/gid, -ESRCH when absent. */
int proc_user(const char *user, uid_t *ret_uid, gid_t *ret_gid);

/* For a freshly forked child about to exec: sets the supplementary groups
 * (initgroups), gid and uid of `user` (real, effective and saved) and
 * checks root cannot be regained.  Returns 0 or -errno (-ESRCH unknown
 * user).  It allocates (user lookup): call it only in a process with one
 * thread, or use it before the fork and keep the child allocation-free. */
int proc_drop_privileges(const char *user);
