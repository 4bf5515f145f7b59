/*
 * log.h: one logging call for the daemons.  Under systemd (JOURNAL_STREAM
 * names our stderr, or the journal socket is reachable and
 * log_open(LOG_TARGET_AUTO) found INVOCATION_ID) messages go to journald
 * with structured fields; otherwise to stderr as one line each:
 * "<ts> <level> <ident>: <message> key=value ..." (values with blanks or
 * quotes in double quotes; control characters replaced by '?').  Each
 * line is one write(), so threads may log concurrently.
 *
 * lib/ never logs except at debug level: the daemon logs once, where it
 * handles an error.  Never pass a secret to these functions.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

enum log_target {
	LOG_TARGET_AUTO,    /* journald when under systemd, else stderr */
	LOG_TARGET_STDERR,
	LOG_TARGET_JOURNAL,
};

/* Sets where messages go, the program identifier and the maximum priority
 * logged (LOG_DEBUG … LOG_ERR).  Safe to call again. */
void log_open(enum log_target target, const char *ident, int max_priority);

/* True when messages currently go to journald (callers may then leave
 * out what the journal records by itself, such as time stamps). */
bool log_is_journal(void);

/* Parses "debug", "info", "notice", "warning", "err"/"error"; returns the
 * syslog priority or -EINVAL. */
int log_level_from_string(const char *s);

/* Logs one message.  `fields` is NULL or a NULL-terminated list of
 * "KEY=value" strings attached as journal fields (and appended on stderr).
 * Returns -abs(error) when error != 0, else 0, so callers can
 * `return log_error_errno(r, "…")`. */
int log_full(int priority, int error, const char *const *fields, const char *fmt, ...) _printf_(4, 5);

#define log_debug(...) log_full(LOG_DEBUG, 0, NULL, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, 0, NULL, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, 0, NULL, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, 0, NULL, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, 0, NULL, __VA_ARGS__)
/* The _errno variants append ": <strerror(-r)>" and return -abs(r). */
#define log_warning_errno(r, ...) log_full(LOG_WARNING, (r), NULL, __VA_ARGS__)
#define log_error_errno(r, ...) log_full(LOG_ERR, (r), NULL, __VA_ARGS__)
