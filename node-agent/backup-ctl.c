/*
 * backup-ctl.c: the control socket, server and client (see backup-ctl.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "backup-ctl.h"
#include "backup-keys.h"
#include "backup-wal.h"
#include "exec.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "pgstatus.h"
#include "proc.h"
#include "util.h"

struct backup_ctl {
	const struct exec_config *cfg;
	int fd;
	int quit[2];
	pthread_t thread;
	atomic_int conns;
	char path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
};

struct ctl_conn {
	struct backup_ctl *s;
	int fd;
};

static char backup_ctl_socket[108] = BACKUP_CTL_SOCKET_DEFAULT;

int backup_ctl_socket_path_set(const char *run_dir)
{
	int n = snprintf(backup_ctl_socket, sizeof(backup_ctl_socket), "%s/agent.sock", run_dir);

	if (n < 0 || (size_t)n >= sizeof(backup_ctl_socket)) {
		snprintf(backup_ctl_socket, sizeof(backup_ctl_socket), "%s", BACKUP_CTL_SOCKET_DEFAULT);
		return -ENAMETOOLONG;
	}
	return 0;
}

const char *backup_ctl_socket_path(void)
{
	const char *e = secure_getenv(BACKUP_CTL_SOCKET_ENV);

	return e && e[0] == '/' ? e : backup_ctl_socket;
}

int backup_ctl_parse_request(const char *line, size_t len, struct backup_ctl_request *ret)
{
	_cleanup_json_ json_t *o = NULL;
	struct backup_ctl_request req = { 0 };
	const char *op, *ds, *name;
	json_error_t e;

	if (!line || len == 0 || len > BACKUP_CTL_LINE_MAX || memchr(line, 0, len))
		return -EINVAL;
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &e);
	if (!json_is_object(o) || json_object_size(o) != 3)
		return -EINVAL;
	op = json_string_value(json_object_get(o, "op"));
	ds = json_string_value(json_object_get(o, "ds"));
	name = json_string_value(json_object_get(o, "name"));
	if (!op || !ds || !name)
		return -EINVAL;
	if (streq(op, "wal-push"))
		req.op = BACKUP_CTL_WAL_PUSH;
	else if (streq(op, "wal-fetch"))
		req.op = BACKUP_CTL_WAL_FETCH;
	else
		return -EINVAL;
	if (!uuid_is_valid(ds) || strlen(ds) != 36)
		return -EINVAL;
	for (const char *p = ds; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			return -EINVAL;
	if (!backup_wal_name_is_valid(name))
		return -EINVAL;
	memcpy(req.ds, ds, 37);
	memcpy(req.name, name, strlen(name) + 1);
	*ret = req;
	return 0;
}

/* May uid act for ds?  Root, or the owner of <db_dir>/<ds>/data; for a
 * datastore without data here (a restore's source), the database user. */
static int ctl_peer_allowed(const struct exec_config *cfg, const char *ds, enum backup_ctl_op op, uid_t uid)
{
	_cleanup_free_ char *data = NULL;
	struct stat st;
	uid_t pg_uid;
	gid_t pg_gid;

	if (uid == 0)
		return 0;
	if (!cfg->db_dir || asprintf(&data, "%s/%s/data", cfg->db_dir, ds) < 0)
		return -ENOMEM;
	if (stat(data, &st) == 0)
		return st.st_uid == uid ? 0 : -EPERM;
	if (op == BACKUP_CTL_WAL_FETCH && proc_user("postgres", &pg_uid, &pg_gid) >= 0 && pg_uid == uid)
		return 0;
	return -EPERM;
}

int backup_ctl_handle(const struct exec_config *cfg, const struct backup_ctl_request *req, int fd, uid_t uid,
		      char **ret_error)
{
	_cleanup_free_ char *conf = NULL;
	struct backup_target *t = NULL;
	struct stat st;
	int r, fl;

	r = ctl_peer_allowed(cfg, req->ds, req->op, uid);
	if (r < 0) {
		*ret_error = strdup("permission denied: the caller does not own the datastore's data directory");
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (fl = fcntl(fd, F_GETFL)) < 0) {
		*ret_error = strdup("the passed descriptor is not a regular file");
		return -EINVAL;
	}
	if ((req->op == BACKUP_CTL_WAL_PUSH && (fl & O_ACCMODE) == O_WRONLY) ||
	    (req->op == BACKUP_CTL_WAL_FETCH && (fl & O_ACCMODE) == O_RDONLY)) {
		*ret_error = strdup("the passed descriptor has the wrong access mode");
		return -EINVAL;
	}
	conf = backup_config_path(cfg->state_dir, req->ds);
	if (!conf)
		return -ENOMEM;
	if (req->op == BACKUP_CTL_WAL_PUSH && access(conf, F_OK) < 0 && errno == ENOENT &&
	    !backup_keys_loaded(req->ds))
		return 0; /* no backup configured: there is no archive to keep */
	t = malloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	r = backup_keys_get(req->ds, t);
	if (r < 0) {
		free(t);
		*ret_error = strdup("backup keys of this datastore are not loaded (waiting for backup.configure)");
		return r;
	}
	if (req->op == BACKUP_CTL_WAL_PUSH)
		r = backup_wal_push(t, fd, req->name, ret_error);
	else
		r = backup_wal_fetch(t, req->name, fd, ret_error);
	backup_target_wipe(t);
	free(t);
	if (r < 0 && !*ret_error) {
		if (r == -ENOENT)
			*ret_error = strdup("not in the archive");
		else if (asprintf(ret_error, "%s: %s", req->name, strerror(-r)) < 0)
			*ret_error = NULL;
	}
	return r;
}

static void ctl_answer(int fd, int r, const char *error)
{
	_cleanup_json_ json_t *o = NULL;
	_cleanup_free_ char *s = NULL;
	char buf[BACKUP_CTL_ERROR_MAX + 1];

	if (r >= 0)
		o = json_pack("{s:b}", "ok", 1);
	else {
		snprintf(buf, sizeof(buf), "%s", error ? error : strerror(-r));
		o = json_pack("{s:b,s:s,s:b}", "ok", 0, "error", buf, "missing", r == -ENOENT);
	}
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (!s)
		return;
	size_t n = strlen(s);
	s[n] = 0;
	(void)!send(fd, s, n, MSG_NOSIGNAL);
	(void)!send(fd, "\n", 1, MSG_NOSIGNAL);
}

/* Reads one line and the descriptor passed with it. */
static int ctl_read_request(int fd, char *line, size_t max, size_t *ret_len, int *ret_fd)
{
	size_t len = 0;
	int passed = -1;
	int64_t deadline = now_mono_ms() + BACKUP_CTL_READ_TIMEOUT_MS;

	while (len < max) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int) * 4)];
		} cm;
		struct iovec iov = { .iov_base = line + len, .iov_len = max - len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cm, .msg_controllen = sizeof(cm) };
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_mono_ms();
		ssize_t n;

		if (left <= 0)
			goto timeout;
		if (poll(&pfd, 1, (int)left) <= 0)
			goto timeout;
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		for (struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				int fds[4];

				memcpy(fds, CMSG_DATA(c), MIN(k, (size_t)4) * sizeof(int));
				for (size_t i = 0; i < MIN(k, (size_t)4); i++) {
					if (passed < 0)
						passed = fds[i];
					else
						close(fds[i]);
				}
			}
		if (n <= 0)
			break;
		if (mh.msg_flags & MSG_CTRUNC)
			break;
		len += (size_t)n;
		char *nl = memchr(line, '\n', len);
		if (nl) {
			*ret_len = (size_t)(nl - line);
			*ret_fd = passed;
			return 0;
		}
	}
	if (passed >= 0)
		close(passed);
	return -EBADMSG;
timeout:
	if (passed >= 0)
		close(passed);
	return -ETIMEDOUT;
}

static void *ctl_conn_thread(void *arg)
{
	struct ctl_conn *c = arg;
	struct backup_ctl_request req;
	_cleanup_free_ char *error = NULL;
	char line[BACKUP_CTL_LINE_MAX + 1];
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	size_t len = 0;
	int passed = -1, r;

	r = getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ? -errno : 0;
	if (r >= 0)
		r = ctl_read_request(c->fd, line, sizeof(line) - 1, &len, &passed);
	if (r >= 0 && (r = backup_ctl_parse_request(line, len, &req)) < 0)
		error = strdup("malformed request");
	if (r >= 0 && passed < 0) {
		r = -EBADF;
		error = strdup("no descriptor passed");
	}
	if (r >= 0) {
		r = backup_ctl_handle(c->s->cfg, &req, passed, cred.uid, &error);
		if (r < 0 && r != -ENOENT)
			log_warning("control socket: %s %s of %s failed: %s",
				    req.op == BACKUP_CTL_WAL_PUSH ? "wal-push" : "wal-fetch", req.name, req.ds,
				    error ? error : strerror(-r));
		else if (r >= 0)
			log_debug("control socket: %s %s of %s done",
				  req.op == BACKUP_CTL_WAL_PUSH ? "wal-push" : "wal-fetch", req.name, req.ds);
	}
	ctl_answer(c->fd, r, error);
	if (passed >= 0)
		close(passed);
	close(c->fd);
	atomic_fetch_sub(&c->s->conns, 1);
	free(c);
	return NULL;
}

static void *ctl_accept_thread(void *arg)
{
	struct backup_ctl *s = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = s->fd, .events = POLLIN }, { .fd = s->quit[0], .events = POLLIN } };
		struct ctl_conn *c;
		pthread_attr_t attr;
		pthread_t t;
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			usleep(100 * 1000);
			continue;
		}
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (atomic_fetch_add(&s->conns, 1) >= BACKUP_CTL_CONNS_MAX) {
			atomic_fetch_sub(&s->conns, 1);
			ctl_answer(fd, -EBUSY, "the agent is busy; retry");
			close(fd);
			continue;
		}
		c = malloc(sizeof(*c));
		if (!c) {
			atomic_fetch_sub(&s->conns, 1);
			close(fd);
			continue;
		}
		*c = (struct ctl_conn){ .s = s, .fd = fd };
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, ctl_conn_thread, c) != 0) {
			atomic_fetch_sub(&s->conns, 1);
			close(fd);
			free(c);
		}
		pthread_attr_destroy(&attr);
	}
	return NULL;
}

int backup_ctl_start(const struct exec_config *cfg, const char *path, struct backup_ctl **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_free_ char *dir = NULL;
	struct backup_ctl *s;
	char *slash;
	int r;

	if (!path || strlen(path) >= sizeof(sa.sun_path) || path[0] != '/')
		return -EINVAL;
	dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		r = mkdir_p(dir, 0755);
		if (r < 0)
			return r;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = cfg;
	s->quit[0] = s->quit[1] = -1;
	memcpy(s->path, path, strlen(path) + 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || pipe2(s->quit, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	(void)unlink(path);
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0666) < 0 || listen(s->fd, 16) < 0) {
		r = -errno;
		goto fail;
	}
	if (pthread_create(&s->thread, NULL, ctl_accept_thread, s) != 0) {
		r = -EAGAIN;
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	if (s->fd >= 0)
		close(s->fd);
	if (s->quit[0] >= 0)
		close(s->quit[0]);
	if (s->quit[1] >= 0)
		close(s->quit[1]);
	free(s);
	return r;
}

void backup_ctl_stop(struct backup_ctl *s)
{
	if (!s)
		return;
	(void)!write(s->quit[1], "q", 1);
	pthread_join(s->thread, NULL);
	close(s->fd);
	(void)unlink(s->path);
	/* Connection threads own their state; give them a bounded while. */
	for (int i = 0; i < 50 && atomic_load(&s->conns) > 0; i++)
		usleep(100 * 1000);
	close(s->quit[0]);
	close(s->quit[1]);
	if (atomic_load(&s->conns) == 0)
		free(s);
	/* else: leaked on purpose, a detached thread still points at it. */
}

/* ---- the client ---- */

static int client_usage(const char *verb)
{
	fprintf(stderr, "usage: cairn-agent %s [--socket PATH] --ds ID %s\n", verb,
		streq(verb, "wal-push") ? "PATH NAME" : "NAME PATH");
	return 2;
}

int backup_ctl_client_main(const char *verb, int argc, char **argv)
{
	static const struct option options[] = {
		{ "ds", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{}
	};
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *ds = NULL, *sock = backup_ctl_socket_path(), *path, *name;
	_cleanup_close_ int fd = -1, so = -1;
	_cleanup_json_ json_t *req = NULL, *ans = NULL;
	_cleanup_free_ char *line = NULL;
	char buf[BACKUP_CTL_LINE_MAX + 1];
	bool push = streq(verb, "wal-push");
	size_t len = 0;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
		switch (c) {
		case 'd':
			ds = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		default:
			return client_usage(verb);
		}
	if (!ds || argc - optind != 2)
		return client_usage(verb);
	path = push ? argv[optind] : argv[optind + 1];
	name = push ? argv[optind + 1] : argv[optind];
	if (!backup_wal_name_is_valid(name)) {
		fprintf(stderr, "cairn-agent %s: '%s' is not a WAL file name\n", verb, name);
		return 1;
	}
	if (strlen(sock) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "cairn-agent %s: socket path too long\n", verb);
		return 1;
	}
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	fd = push ? open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
		  : open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);
	if (fd < 0) {
		fprintf(stderr, "cairn-agent %s: %s: %s\n", verb, path, strerror(errno));
		return 1;
	}
	req = json_pack("{s:s,s:s,s:s}", "op", verb, "ds", ds, "name", name);
	line = req ? json_dumps(req, JSON_COMPACT) : NULL;
	so = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!line || so < 0 || strlen(line) + 1 > BACKUP_CTL_LINE_MAX) {
		fprintf(stderr, "cairn-agent %s: cannot build the request\n", verb);
		goto fail;
	}
	if (connect(so, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "cairn-agent %s: cannot reach the agent at %s: %s\n", verb, sock, strerror(errno));
		goto fail;
	}
	{
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int))];
		} cm = { 0 };
		size_t n = strlen(line);
		char *msg = malloc(n + 1);
		struct iovec iov;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cm, .msg_controllen = sizeof(cm) };
		struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
		ssize_t sent;

		if (!msg)
			goto fail;
		memcpy(msg, line, n);
		msg[n] = '\n';
		iov = (struct iovec){ .iov_base = msg, .iov_len = n + 1 };
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(h), &fd, sizeof(int));
		sent = sendmsg(so, &mh, MSG_NOSIGNAL);
		free(msg);
		if (sent != (ssize_t)(n + 1)) {
			fprintf(stderr, "cairn-agent %s: cannot send the request: %s\n", verb, strerror(errno));
			goto fail;
		}
	}
	{
		struct timeval tv = { .tv_sec = BACKUP_CTL_ANSWER_TIMEOUT_S };

		(void)setsockopt(so, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	while (len < sizeof(buf) - 1) {
		ssize_t n = recv(so, buf + len, sizeof(buf) - 1 - len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\n', len))
			break;
	}
	buf[len] = 0;
	ans = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
	if (!json_is_object(ans)) {
		fprintf(stderr, "cairn-agent %s: no answer from the agent\n", verb);
		goto fail;
	}
	if (json_is_true(json_object_get(ans, "ok")))
		return 0;
	if (!(json_is_true(json_object_get(ans, "missing")) && !push))
		fprintf(stderr, "cairn-agent %s %s: %s\n", verb, name,
			json_string_value(json_object_get(ans, "error")) ?: "failed");
fail:
	if (!push && fd >= 0)
		(void)unlink(path);
	return 1;
}

/* pg_stat_archiver of a running primary into o (best effort). */
static void ctl_archiver(const struct exec_config *cfg, const char *ds, json_t *o)
{
	struct pg_instance inst;
	PGconn *c = NULL;
	PGresult *res;
	char *err = NULL;

	if (pgstatus_instance_load(cfg->db_dir, ds, &inst) < 0 ||
	    pgstatus_connect(cfg->db_dir, ds, inst.port, PGSTATUS_CONNECT_TIMEOUT_MS, PGSTATUS_STATEMENT_TIMEOUT_MS, &c,
			     &err) < 0) {
		free(err);
		return;
	}
	res = PQexec(c, "SELECT extract(epoch FROM last_archived_time)::bigint, last_archived_wal, failed_count,"
			" extract(epoch FROM last_failed_time)::bigint FROM pg_stat_archiver");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		int64_t at = 0, failed = 0, failed_at = 0;

		if (!PQgetisnull(res, 0, 0) && parse_int64(PQgetvalue(res, 0, 0), 0, INT64_MAX, &at) >= 0)
			(void)json_object_set_new(o, "last_archived_at", json_integer(at));
		if (!PQgetisnull(res, 0, 1))
			(void)json_object_set_new(o, "last_archived_wal", json_string(PQgetvalue(res, 0, 1)));
		if (parse_int64(PQgetvalue(res, 0, 2), 0, INT64_MAX, &failed) >= 0)
			(void)json_object_set_new(o, "archive_failed_count", json_integer(failed));
		if (!PQgetisnull(res, 0, 3) && parse_int64(PQgetvalue(res, 0, 3), 0, INT64_MAX, &failed_at) >= 0)
			(void)json_object_set_new(o, "last_failed_at", json_integer(failed_at));
	}
	PQclear(res);
	PQfinish(c);
}

void backup_status_annotate(json_t *databases, const struct exec_config *cfg)
{
	size_t i;
	json_t *e;

	json_array_foreach(databases, i, e) {
		const char *ds = json_string_value(json_object_get(e, "ds"));
		const char *role = json_string_value(json_object_get(e, "role"));
		_cleanup_free_ char *conf = NULL;
		bool configured, loaded;
		json_t *b;

		if (!ds || !(conf = backup_config_path(cfg->state_dir, ds)))
			continue;
		configured = access(conf, F_OK) == 0;
		loaded = backup_keys_loaded(ds);
		if (!configured && !loaded)
			continue;
		b = json_pack("{s:b,s:b}", "configured", configured, "keys_loaded", loaded);
		if (!b)
			continue;
		if (configured && json_is_true(json_object_get(e, "running")) && role && streq(role, "primary"))
			ctl_archiver(cfg, ds, b);
		(void)json_object_set_new(e, "backup", b);
	}
}

int backup_self_path(char *buf, size_t size)
{
	static const char deleted[] = " (deleted)";
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);
	size_t k;

	if (n <= 0)
		return n < 0 ? -errno : -ENOENT;
	if ((size_t)n >= size - 1)
		return -ENAMETOOLONG;
	buf[n] = 0;
	/* Replaced by a package upgrade while running: the new file is the
	 * one PostgreSQL will run. */
	k = (size_t)n;
	if (k > sizeof(deleted) - 1 && streq(buf + k - (sizeof(deleted) - 1), deleted))
		buf[k - (sizeof(deleted) - 1)] = 0;
	return 0;
}

/* Letters, digits and / . _ - only: nothing a shell or a PostgreSQL
 * string would interpret. */
static bool ctl_word_is_plain(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '/' ||
		      *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

char *backup_ctl_command(const char *verb, const char *ds, const char *args, char **ret_message)
{
	char self[BACKUP_PATH_MAX];
	const char *sock = backup_ctl_socket_path();
	bool def = streq(sock, BACKUP_CTL_SOCKET_DEFAULT);
	int k = backup_self_path(self, sizeof(self));
	char *cmd = NULL;

	if (k < 0) {
		if (ret_message && !*ret_message)
			*ret_message = exec_message("cannot find the agent's own path: %s", strerror(-k));
		return NULL;
	}
	if (!ctl_word_is_plain(self) || !ctl_word_is_plain(sock) || !ctl_word_is_plain(ds)) {
		if (ret_message && !*ret_message)
			*ret_message = exec_message("the agent's path or socket path has characters unsafe in a "
						    "PostgreSQL command");
		return NULL;
	}
	if (asprintf(&cmd, "%s %s%s%s --ds %s %s", self, verb, def ? "" : " --socket ", def ? "" : sock, ds, args) < 0)
		return NULL;
	return cmd;
}
