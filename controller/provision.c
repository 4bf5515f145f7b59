/*
 * provision.c: the provisioner program runner and its worker threads.
 *
 * A run spawns the program (posix_spawn: signal mask emptied, SIGPIPE
 * default, own process group, a fixed PATH-only environment, every other
 * fd is O_CLOEXEC), writes the request to its stdin and reads stdout and
 * stderr until it exits or the timeout passes (then the process group is
 * killed).  Reading stops when the program exits, not at EOF, so a
 * daemon it leaves behind holding the pipes (the local provisioner starts
 * an agent) cannot stall us.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "provision.h"
#include "util.h"

#define PROVISION_POLL_MS 100

void provision_result_done(struct provision_result *r)
{
	if (!r)
		return;
	free(r->machine_id);
	free(r->address);
	memset(r, 0, sizeof(*r));
}

static void set_error(struct provision_result *r, const char *fmt, ...) _printf_(2, 3);
static void set_error(struct provision_result *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	r->ok = false;
}

/* Logs complete stderr lines from buf (keeps a partial tail). */
static void stderr_lines(const char *what, char *buf, size_t *len, unsigned *lines, bool flush)
{
	size_t start = 0;
	for (size_t i = 0; i < *len; i++) {
		if (buf[i] != '\n')
			continue;
		buf[i] = 0;
		if (*lines < PROVISION_STDERR_LINES)
			log_info("provisioner %s: %s", what, buf + start);
		else if (*lines == PROVISION_STDERR_LINES)
			log_info("provisioner %s: (further stderr lines dropped)", what);
		(*lines)++;
		start = i + 1;
	}
	memmove(buf, buf + start, *len - start);
	*len -= start;
	if (*len > 0 && (flush || *len >= PROVISION_STDERR_LINE_MAX)) {
		buf[*len] = 0;
		if (*lines < PROVISION_STDERR_LINES)
			log_info("provisioner %s: %s", what, buf);
		(*lines)++;
		*len = 0;
	}
}

/* Strips control characters from a message the program wrote. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

void provision_parse_answer(const char *out, size_t len, int status, struct provision_result *r)
{
	_cleanup_json_ json_t *a = NULL;
	json_error_t err;

	a = len ? json_loadb(out, len, JSON_REJECT_DUPLICATES, &err) : NULL;
	const char *error = json_string_value(json_object_get(a, "error"));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFSIGNALED(status))
			set_error(r, "killed by signal %d%s%s", WTERMSIG(status), error ? ": " : "", error ?: "");
		else
			set_error(r, "exited with status %d%s%s", WEXITSTATUS(status), error ? ": " : "",
				  error ?: "");
		sanitize(r->error);
		return;
	}
	if (!json_is_object(a)) {
		set_error(r, "the answer on stdout is not a JSON object");
		return;
	}
	json_t *ok = json_object_get(a, "ok");
	if (!json_is_true(ok)) {
		set_error(r, "%s", error ?: "the answer has no \"ok\":true");
		sanitize(r->error);
		return;
	}
	const char *mid = json_string_value(json_object_get(a, "machine_id"));
	const char *addr = json_string_value(json_object_get(a, "address"));
	if (addr && !ip_literal_is_valid(addr) && !hostname_is_valid(addr)) {
		set_error(r, "the answer's address is not an IP address or host name");
		return;
	}
	if (mid && (strlen(mid) > 256 || !*mid)) {
		set_error(r, "the answer's machine_id is empty or longer than 256 characters");
		return;
	}
	r->machine_id = mid ? strdup(mid) : NULL;
	r->address = addr ? strdup(addr) : NULL;
	if ((mid && !r->machine_id) || (addr && !r->address)) {
		provision_result_done(r);
		set_error(r, "out of memory");
		return;
	}
	if (r->machine_id)
		sanitize(r->machine_id);
	r->ok = true;
}

int provision_run(const char *program, int64_t timeout_s, const char *what, const char *request,
		  struct provision_result *ret)
{
	struct provision_result res = {};
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	_cleanup_free_ char *obuf = NULL;
	char ebuf[PROVISION_STDERR_LINE_MAX + 1];
	size_t olen = 0, elen = 0, wpos = 0, wlen = strlen(request);
	unsigned elines = 0;
	pid_t pid;
	int status = 0, q;
	bool exited = false, too_big = false, timed_out = false;

	*ret = res;
	obuf = malloc(PROVISION_ANSWER_MAX + 1);
	if (!obuf)
		return -ENOMEM;
	if (!program || program[0] != '/') {
		set_error(ret, "no provisioner program configured");
		return -EINVAL;
	}
	/* A program that exits without reading its stdin must give us EPIPE,
	 * not SIGPIPE, whatever the process's disposition is. */
	sigset_t pipe_set, old_mask;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		q = -errno;
		goto close_all;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	posix_spawnattr_init(&attr);
	sigset_t empty, def;
	sigemptyset(&empty);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGHUP);
	posix_spawnattr_setsigmask(&attr, &empty);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
						POSIX_SPAWN_SETPGROUP);
	char *argv[] = { (char *)program, NULL };
	char *envp[] = { (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			 (char *)"LC_ALL=C", NULL };
	q = posix_spawn(&pid, program, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (q != 0) {
		q = -q;
		set_error(ret, "cannot run %s: %s", program, strerror(-q));
		goto close_all;
	}
	close(in[0]);
	close(out[1]);
	close(errp[1]);
	in[0] = out[1] = errp[1] = -1;
	(void)fcntl(in[1], F_SETFL, O_NONBLOCK);
	(void)fcntl(out[0], F_SETFL, O_NONBLOCK);
	(void)fcntl(errp[0], F_SETFL, O_NONBLOCK);

	int64_t deadline = now_mono_ms() + timeout_s * 1000;
	for (;;) {
		struct pollfd pfd[3] = {
			{ .fd = in[1], .events = POLLOUT },
			{ .fd = out[0], .events = POLLIN },
			{ .fd = errp[0], .events = POLLIN },
		};
		int64_t left = deadline - now_mono_ms();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		(void)poll(pfd, 3, (int)MIN(left, (int64_t)PROVISION_POLL_MS));
		if (in[1] >= 0 && (pfd[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(in[1], request + wpos, wlen - wpos);
			if (w > 0)
				wpos += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || wpos == wlen) {
				close(in[1]);
				in[1] = -1;
			}
		}
		for (;;) { /* stdout */
			if (out[0] < 0)
				break;
			ssize_t n = read(out[0], obuf + olen, PROVISION_ANSWER_MAX + 1 - olen);
			if (n > 0) {
				olen += (size_t)n;
				if (olen > PROVISION_ANSWER_MAX) {
					too_big = true;
					break;
				}
				continue;
			}
			if (n == 0) {
				close(out[0]);
				out[0] = -1;
			}
			break;
		}
		if (too_big)
			break;
		for (;;) { /* stderr */
			if (errp[0] < 0)
				break;
			ssize_t n = read(errp[0], ebuf + elen, PROVISION_STDERR_LINE_MAX - elen);
			if (n > 0) {
				elen += (size_t)n;
				stderr_lines(what, ebuf, &elen, &elines, false);
				continue;
			}
			if (n == 0) {
				close(errp[0]);
				errp[0] = -1;
			}
			break;
		}
		if (exited)
			break; /* one more drain after the exit, then stop */
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			exited = true;
	}
	if (!exited) {
		(void)kill(-pid, SIGKILL);
		(void)kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	stderr_lines(what, ebuf, &elen, &elines, true);
	if (timed_out)
		set_error(ret, "no answer within %lld s: killed", (long long)timeout_s);
	else if (too_big)
		set_error(ret, "the answer is longer than %d bytes", PROVISION_ANSWER_MAX);
	else
		provision_parse_answer(obuf, olen, status, ret);
	q = 0;
close_all:
	for (int *fd = (int[]){ in[0], in[1], out[0], out[1], errp[0], errp[1] }, i = 0; i < 6; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	/* Consume a SIGPIPE our writes raised, then restore the mask. */
	const struct timespec zero = {};
	while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
		;
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	return q;
}

/* ---- worker pool ------------------------------------------------------- */

enum entry_state { ENTRY_RUNNING, ENTRY_DONE };

struct entry {
	struct entry *next;
	char key[PROVISION_KEY_MAX];
	char node_id[UUID_STRING_MAX];  /* node the run is about */
	enum entry_state state;
	char *request;                  /* wiped and freed by the worker */
	pthread_t thread;
	struct provision *owner;
	struct provision_result result;
};

struct provision {
	const struct config_provisioner *cfg;
	pthread_mutex_t lock;
	pthread_cond_t cond;            /* a worker ended */
	struct entry *entries;
	unsigned running;
	bool stopping;
};

struct provision *provision_new(const struct config_provisioner *cfg)
{
	struct provision *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->cfg = cfg;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	return p;
}

static void *worker(void *arg)
{
	struct entry *e = arg;
	struct provision *p = e->owner;
	struct provision_result res = {};

	int q = provision_run(p->cfg->program, p->cfg->timeout_s, e->key, e->request, &res);
	if (q < 0 && !res.error[0])
		set_error(&res, "cannot run the provisioner: %s", strerror(-q));
	freezero_strp(&e->request);
	pthread_mutex_lock(&p->lock);
	e->result = res;
	e->state = ENTRY_DONE;
	p->running--;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static struct entry *find(struct provision *p, const char *key)
{
	for (struct entry *e = p->entries; e; e = e->next)
		if (streq(e->key, key))
			return e;
	return NULL;
}

int provision_start(struct provision *p, const char *key, const char *node_id, char *request)
{
	struct entry *e;
	int q;

	if (p->cfg->kind == CONFIG_PROVISIONER_NONE) {
		freezero_strp(&request);
		return -ENOTSUP;
	}
	if (strlen(key) >= PROVISION_KEY_MAX || strlen(node_id) >= UUID_STRING_MAX) {
		freezero_strp(&request);
		return -EINVAL;
	}
	pthread_mutex_lock(&p->lock);
	if (p->stopping)
		q = -ESHUTDOWN;
	else if (find(p, key))
		q = -EEXIST;
	else if (p->running >= PROVISION_WORKERS_MAX)
		q = -EAGAIN;
	else if (!(e = calloc(1, sizeof(*e))))
		q = -ENOMEM;
	else {
		snprintf(e->key, sizeof(e->key), "%s", key);
		snprintf(e->node_id, sizeof(e->node_id), "%s", node_id);
		e->request = request;
		e->owner = p;
		e->state = ENTRY_RUNNING;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		q = -pthread_create(&e->thread, &a, worker, e);
		pthread_attr_destroy(&a);
		if (q < 0) {
			free(e);
		} else {
			request = NULL;
			e->next = p->entries;
			p->entries = e;
			p->running++;
		}
	}
	pthread_mutex_unlock(&p->lock);
	freezero_strp(&request);
	return q;
}

int provision_poll(struct provision *p, const char *key, struct provision_result *ret)
{
	int q = -ENOENT;
	pthread_mutex_lock(&p->lock);
	for (struct entry **pe = &p->entries; *pe; pe = &(*pe)->next) {
		struct entry *e = *pe;
		if (!streq(e->key, key))
			continue;
		if (e->state == ENTRY_RUNNING) {
			q = -EINPROGRESS;
			break;
		}
		*ret = e->result;
		*pe = e->next;
		free(e);
		q = 0;
		break;
	}
	pthread_mutex_unlock(&p->lock);
	return q;
}

bool provision_has(struct provision *p, const char *key)
{
	pthread_mutex_lock(&p->lock);
	bool b = find(p, key) != NULL;
	pthread_mutex_unlock(&p->lock);
	return b;
}

bool provision_busy(struct provision *p, const char *node_id)
{
	bool b = false;
	pthread_mutex_lock(&p->lock);
	for (struct entry *e = p->entries; e && !b; e = e->next)
		b = e->state == ENTRY_RUNNING && streq(e->node_id, node_id);
	pthread_mutex_unlock(&p->lock);
	return b;
}

void provision_stop(struct provision *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	if (p->running)
		log_info("waiting for %u provisioner run(s) to end", p->running);
	while (p->running)
		pthread_cond_wait(&p->cond, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

void provision_free(struct provision *p)
{
	if (!p)
		return;
	provision_stop(p);
	while (p->entries) {
		struct entry *e = p->entries;
		p->entries = e->next;
		provision_result_done(&e->result);
		free(e);
	}
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* ---- requests ---------------------------------------------------------- */

static int add_local(const struct config_provisioner *cfg, json_t *req)
{
	if (cfg->kind != CONFIG_PROVISIONER_LOCAL)
		return 0;
	json_t *l = json_pack("{s:s*, s:s*, s:s*, s:s*}", "bridge", cfg->local_bridge, "subnet",
			      cfg->local_subnet, "dir", cfg->local_dir, "agent", cfg->local_agent);
	return l ? json_object_set_new(req, "local", l) : -ENOMEM;
}

static char *dump_secret(json_t *req)
{
	char *s = json_dumps(req, JSON_COMPACT);
	/* The user-data string inside the json_t holds the token. */
	const char *ud = json_string_value(json_object_get(req, "user_data"));
	if (ud)
		explicit_bzero((char *)ud, strlen(ud));
	return s;
}

char *provision_request_create(const struct config_provisioner *cfg, const char *node_id,
			       const char *name, const char *ds_id, const char *size_json,
			       const char *user_data)
{
	_cleanup_json_ json_t *size = json_loads(size_json ?: "{}", 0, NULL), *req = NULL;
	if (!json_is_object(size))
		return NULL;
	req = json_pack("{s:i, s:s, s:{s:s, s:s, s:s, s:O}, s:s}", "version", 1, "action", "create",
			"node", "id", node_id, "name", name, "datastore", ds_id, "size", size,
			"user_data", user_data);
	if (!req || add_local(cfg, req) < 0)
		return NULL;
	return dump_secret(req);
}

char *provision_request_destroy(const struct config_provisioner *cfg, const char *node_id,
				const char *name, const char *machine_id)
{
	_cleanup_json_ json_t *req = json_pack("{s:i, s:s, s:{s:s, s:s}, s:s*}", "version", 1, "action",
					       "destroy", "node", "id", node_id, "name", name,
					       "machine_id", machine_id);
	if (!req || add_local(cfg, req) < 0)
		return NULL;
	return json_dumps(req, JSON_COMPACT);
}
