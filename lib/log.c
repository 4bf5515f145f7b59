/*
 * log.c: the daemons' one logging call.
 *
 * Under systemd a message goes to journald with structured fields
 * (MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, ERRNO and the caller's own); else
 * it is one stderr line "<RFC 3339 time> <level> <ident>: <message>
 * key=value ...".  Each line is produced in a stack buffer and written with
 * a single write(), so lines of concurrent threads never interleave.
 * Control characters in messages and values are replaced, so input quoted
 * in a message cannot forge a second log line.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "log.h"
#include "util.h"

/* Longest line (or MESSAGE field) written; longer ones are cut. */
#define LOG_LINE_MAX 4096
/* Longest identifier kept. */
#define LOG_IDENT_MAX 64
/* Most caller fields sent to the journal per message. */
#define LOG_FIELDS_MAX 32

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static bool log_configured;
static bool log_to_journal;
static int log_max_priority = LOG_INFO;
static char log_ident[LOG_IDENT_MAX + 1];

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg",   [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "error",     [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",     [LOG_DEBUG] = "debug",
};

/* True when JOURNAL_STREAM names the file our stderr is ("dev:ino"). */
static bool stderr_is_journal_stream(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int n = 0;

	if (!e || sscanf(e, "%llu:%llu%n", &dev, &ino, &n) != 2 || e[n] != '\0')
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static bool journal_auto(void)
{
	const char *inv;

	if (stderr_is_journal_stream())
		return true;
	/* A service whose stderr goes elsewhere (a file, a tty) still runs
	 * under systemd: INVOCATION_ID says so, and the socket must be there. */
	inv = getenv("INVOCATION_ID");
	return inv && *inv && access(JOURNAL_SOCKET, W_OK) == 0;
}

/* Caller holds log_lock. */
static void log_open_locked(enum log_target target, const char *ident, int max_priority)
{
	if (!ident || !*ident)
		ident = program_invocation_short_name;
	if (!ident)
		ident = "cairn";
	snprintf(log_ident, sizeof(log_ident), "%s", ident);
	if (max_priority < LOG_EMERG)
		max_priority = LOG_EMERG;
	if (max_priority > LOG_DEBUG)
		max_priority = LOG_DEBUG;
	log_max_priority = max_priority;
	switch (target) {
	case LOG_TARGET_JOURNAL:
		log_to_journal = true;
		break;
	case LOG_TARGET_STDERR:
		log_to_journal = false;
		break;
	case LOG_TARGET_AUTO:
	default:
		log_to_journal = journal_auto();
		break;
	}
	/* sd_journal_send() drops messages silently when journald is not
	 * there (a container, a chroot): stderr is better than nothing. */
	if (log_to_journal && access(JOURNAL_SOCKET, F_OK) < 0)
		log_to_journal = false;
	log_configured = true;
}

void log_open(enum log_target target, const char *ident, int max_priority)
{
	pthread_mutex_lock(&log_lock);
	log_open_locked(target, ident, max_priority);
	pthread_mutex_unlock(&log_lock);
}

bool log_is_journal(void)
{
	bool r;

	pthread_mutex_lock(&log_lock);
	if (!log_configured)
		log_open_locked(LOG_TARGET_AUTO, NULL, LOG_INFO);
	r = log_to_journal;
	pthread_mutex_unlock(&log_lock);
	return r;
}

int log_level_from_string(const char *s)
{
	if (!s)
		return -EINVAL;
	if (streq(s, "debug"))
		return LOG_DEBUG;
	if (streq(s, "info"))
		return LOG_INFO;
	if (streq(s, "notice"))
		return LOG_NOTICE;
	if (streq(s, "warning") || streq(s, "warn"))
		return LOG_WARNING;
	if (streq(s, "err") || streq(s, "error"))
		return LOG_ERR;
	return -EINVAL;
}

/* Replaces control characters (and DEL) so one message stays one line. */
static void sanitize(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			s[i] = c == '\t' ? ' ' : '?';
	}
}

/* Appending writer on a fixed buffer: the line is cut, never overflowed. */
struct line {
	char buf[LOG_LINE_MAX];
	size_t len;
	bool cut;
};

static void line_add(struct line *l, const char *s, size_t n)
{
	size_t room = sizeof(l->buf) - 1 - l->len; /* keep one byte for '\n' */

	if (n > room) {
		n = room;
		l->cut = true;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void line_adds(struct line *l, const char *s)
{
	line_add(l, s, strlen(s));
}

/* Adds " key=value", quoting the value when it holds a blank or a quote. */
static void line_add_field(struct line *l, const char *field)
{
	const char *eq = strchr(field, '=');
	const char *v;
	size_t start;

	line_adds(l, " ");
	if (!eq) {
		start = l->len;
		line_adds(l, field);
		sanitize(l->buf + start, l->len - start);
		return;
	}
	v = eq + 1;
	start = l->len;
	line_add(l, field, (size_t)(eq - field) + 1);
	if (*v == '\0' || strpbrk(v, " \t\"\\")) {
		line_adds(l, "\"");
		for (const char *p = v; *p; p++) {
			if (*p == '"' || *p == '\\')
				line_adds(l, "\\");
			line_add(l, p, 1);
		}
		line_adds(l, "\"");
	} else
		line_adds(l, v);
	sanitize(l->buf + start, l->len - start);
}

static void write_stderr_line(int priority, const char *ident, const char *msg,
			      const char *const *fields)
{
	char ts[TIMESTAMP_MAX];
	struct line l = { .len = 0 };
	const char *p;
	ssize_t n;

	if (!format_rfc3339(now_s(), ts))
		snprintf(ts, sizeof(ts), "-");
	line_adds(&l, ts);
	line_adds(&l, " ");
	line_adds(&l, level_names[priority]);
	line_adds(&l, " ");
	line_adds(&l, ident);
	line_adds(&l, ": ");
	line_adds(&l, msg); /* already sanitized */
	for (size_t i = 0; fields && fields[i] && i < LOG_FIELDS_MAX; i++)
		line_add_field(&l, fields[i]);
	if (l.cut) {
		static const char mark[] = "...";
		memcpy(l.buf + l.len - (sizeof(mark) - 1), mark, sizeof(mark) - 1);
	}
	l.buf[l.len++] = '\n';

	/* One write() per line; a short write (pipe full) is finished. */
	p = l.buf;
	while (l.len > 0) {
		n = write(STDERR_FILENO, p, l.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		l.len -= (size_t)n;
	}
}

/* A journal field name: [A-Z0-9_], not starting with '_' or a digit. */
static bool journal_field_ok(const char *f)
{
	const char *eq = strchr(f, '=');

	if (!eq || eq == f || eq - f > 64 || f[0] == '_' || (f[0] >= '0' && f[0] <= '9'))
		return false;
	for (const char *p = f; p < eq; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

static int write_journal(int priority, int error, const char *ident, const char *msg,
			 const char *const *fields)
{
	char prio[32], err[32], id[LOG_IDENT_MAX + 32];
	char mbuf[LOG_LINE_MAX + 16];
	struct iovec iov[4 + LOG_FIELDS_MAX];
	size_t n = 0;

	snprintf(mbuf, sizeof(mbuf), "MESSAGE=%s", msg);
	snprintf(prio, sizeof(prio), "PRIORITY=%d", priority);
	snprintf(id, sizeof(id), "SYSLOG_IDENTIFIER=%s", ident);
	iov[n++] = (struct iovec){ mbuf, strlen(mbuf) };
	iov[n++] = (struct iovec){ prio, strlen(prio) };
	iov[n++] = (struct iovec){ id, strlen(id) };
	if (error != 0) {
		snprintf(err, sizeof(err), "ERRNO=%d", error < 0 ? -error : error);
		iov[n++] = (struct iovec){ err, strlen(err) };
	}
	for (size_t i = 0; fields && fields[i] && i < LOG_FIELDS_MAX; i++) {
		/* A malformed name would make journald drop the whole entry. */
		if (!journal_field_ok(fields[i]))
			continue;
		iov[n++] = (struct iovec){ (void *)fields[i], strlen(fields[i]) };
	}
	return sd_journal_sendv(iov, (int)n);
}

int log_full(int priority, int error, const char *const *fields, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX];
	char ident[LOG_IDENT_MAX + 1];
	int saved_errno = errno;
	int ret = error == 0 ? 0 : error < 0 ? error : -error;
	bool journal;
	size_t len;
	va_list ap;
	int max;

	priority &= LOG_PRIMASK;

	pthread_mutex_lock(&log_lock);
	if (!log_configured)
		log_open_locked(LOG_TARGET_AUTO, NULL, LOG_INFO);
	max = log_max_priority;
	journal = log_to_journal;
	memcpy(ident, log_ident, sizeof(ident));
	pthread_mutex_unlock(&log_lock);

	if (priority > max)
		goto out;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	len = strlen(msg);
	if (error != 0 && len < sizeof(msg) - 1) {
		char ebuf[256];
		const char *es = strerror_r(ret == INT_MIN ? EINVAL : -ret, ebuf, sizeof(ebuf));
		snprintf(msg + len, sizeof(msg) - len, ": %s", es);
		len = strlen(msg);
	}
	sanitize(msg, len);

	if (!journal || write_journal(priority, ret, ident, msg, fields) < 0)
		write_stderr_line(priority, ident, msg, fields);
out:
	errno = saved_errno;
	return ret;
}
