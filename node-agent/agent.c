/*
 * agent.c: the daemon's state and loop (see agent.h).
 *
 * Durability order for every job (docs/protocol.md "Agent state on disk"):
 *   journal entry `accepted` → agent.json (accepted_seq, epoch floor)
 *   → entry `running` → executor → entry `done` with result → PUT result
 *   → entry `reported` → agent.json (settled_seq).
 * A kill between any two steps is handled by journal_recover() at start.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "agent.h"
#include "backup-ctl.h"
#include "backup-keys.h"
#include "enroll.h"
#include "fileio.h"
#include "job.h"
#include "log.h"
#include "macro.h"
#include "notify.h"
#include "pki.h"
#include "protocol.h"
#include "report.h"
#include "service.h"
#include "util.h"
#include "verify.h"

static volatile sig_atomic_t agent_stop_flag;

static void agent_on_stop(int sig)
{
	agent_stop_flag = 1;
}

/* Written by the SIGCHLD handler, read by the supervisor thread. */
static int agent_wake_fd[2] = { -1, -1 };

static void agent_on_sigchld(int sig)
{
	int saved = errno;

	/* Only wake the supervisor thread: reaping here would steal the exit
	 * status of children whose owners wait for them by pid (proc_run,
	 * the service supervisor). */
	if (agent_wake_fd[1] >= 0)
		(void)!write(agent_wake_fd[1], "c", 1);
	errno = saved;
}

int agent_signals_setup(void)
{
	struct sigaction sa = { .sa_handler = agent_on_stop };
	sigset_t block;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return -errno;
	if (agent_wake_fd[0] < 0 && pipe2(agent_wake_fd, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	sa.sa_handler = agent_on_sigchld;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	if (sigaction(SIGCHLD, &sa, NULL) < 0)
		return -errno;
	sa = (struct sigaction){ .sa_handler = SIG_IGN };
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -errno;
	/* SIGTERM and SIGINT are delivered only inside agent_sleep()'s
	 * ppoll(); elsewhere they wait in the pending set, where the keepalive
	 * sees them. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	if (sigprocmask(SIG_BLOCK, &block, NULL) < 0)
		return -errno;
	return 0;
}

bool agent_stopping(void)
{
	sigset_t pending;

	if (agent_stop_flag)
		return true;
	if (sigpending(&pending) == 0 && (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1))
		agent_stop_flag = 1;
	return agent_stop_flag;
}

bool agent_keepalive(void *userdata)
{
	notify_watchdog();
	return !agent_stopping();
}

bool agent_sleep(struct agent *a, int64_t ms)
{
	int64_t end = now_mono_ms() + MAX(ms, (int64_t)0);
	sigset_t unblocked;

	sigprocmask(SIG_SETMASK, NULL, &unblocked);
	sigdelset(&unblocked, SIGTERM);
	sigdelset(&unblocked, SIGINT);
	for (;;) {
		int64_t left;

		notify_watchdog();
		if (agent_stopping())
			return false;
		left = end - now_mono_ms();
		if (left <= 0)
			return true;
		left = MIN(left, notify_watchdog_period_ms());
		(void)ppoll(NULL, 0, &(struct timespec){ .tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000 },
			    &unblocked);
	}
}

char *agent_url(const struct agent *a, const char *path)
{
	char *u = NULL;

	if (asprintf(&u, "%s%s", a->gateway_url, path) < 0)
		return NULL;
	return u;
}

int agent_state_save(struct agent *a)
{
	int r = journal_state_save(a->journal, &a->state);

	if (r < 0)
		log_error_errno(r, "cannot write %s/%s", a->config->state_dir, JOURNAL_STATE_FILE);
	return r;
}

static bool agent_type_idempotent(const char *type)
{
	const struct cairn_job_type_info *t = cairn_job_type_lookup(type);

	return t && t->idempotent;
}

/* Orphan reaper.  As a child subreaper the agent inherits the orphans of
 * what it starts; a zombie that lingers looks alive to whoever watches it
 * (DESIGN.md "Tests").  Its own children are reaped by their owners, by
 * pid (proc_run within 20 ms, the service supervisor with the exit
 * status).  So a zombie child is reaped here only when it was already a
 * zombie at the previous pass, at least AGENT_REAP_GRACE_MS earlier: an
 * owner that waits for its child has long taken it by then. */
static void agent_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static bool agent_zombie_seen(const pid_t *seen, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (seen[i] == pid)
			return true;
	return false;
}

static void agent_reap_orphans(struct agent *a, int64_t now)
{
	_cleanup_(agent_closedirp) DIR *d = NULL;
	pid_t found[AGENT_REAP_MAX];
	size_t nfound = 0;
	pid_t self = getpid();
	struct dirent *de;

	if (now - a->reap_last_ms < AGENT_REAP_GRACE_MS)
		return;
	/* Idle cost: one syscall.  WNOWAIT peeks without reaping; only when
	 * some child is a zombie is /proc walked to find which. */
	siginfo_t si = {};
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0) {
		a->reap_nseen = 0;
		a->reap_last_ms = now;
		return;
	}
	d = opendir("/proc");
	if (!d)
		return;
	while ((de = readdir(d)) && nfound < AGENT_REAP_MAX) {
		char path[300], buf[512];
		_cleanup_close_ int fd = -1;
		const char *p;
		long ppid;
		ssize_t n;
		int64_t pid;

		if (parse_int64(de->d_name, 2, INT32_MAX, &pid) < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		if (n <= 0)
			continue;
		buf[n] = 0;
		p = strrchr(buf, ')');
		if (!p || p[1] != ' ' || p[2] != 'Z' || p[3] != ' ')
			continue;
		ppid = strtol(p + 4, NULL, 10);
		if (ppid != self)
			continue;
		if (agent_zombie_seen(a->reap_seen, a->reap_nseen, (pid_t)pid)) {
			int status;

			if (waitpid((pid_t)pid, &status, WNOHANG) == (pid_t)pid)
				log_debug("reaped orphan %d", (int)pid);
		} else
			found[nfound++] = (pid_t)pid;
	}
	memcpy(a->reap_seen, found, nfound * sizeof(pid_t));
	a->reap_nseen = nfound;
	a->reap_last_ms = now;
}

/* The supervisor thread: wakes on SIGCHLD (through agent_wake_fd) and at
 * least every AGENT_SUPERVISE_INTERVAL_MS, whatever the main thread is
 * doing (a long poll, a job), to keep the services up and reap orphans.
 * Signals stay with the main thread. */
static void *agent_supervisor(void *userdata)
{
	struct agent *a = userdata;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!__atomic_load_n(&a->supervisor_quit, __ATOMIC_ACQUIRE)) {
		struct pollfd pfd = { .fd = agent_wake_fd[0], .events = POLLIN };
		char buf[64];

		(void)poll(&pfd, pfd.fd >= 0 ? 1 : 0, AGENT_SUPERVISE_INTERVAL_MS);
		while (pfd.fd >= 0 && read(pfd.fd, buf, sizeof(buf)) > 0)
			;
		if (__atomic_load_n(&a->supervisor_quit, __ATOMIC_ACQUIRE))
			break;
		services_supervise(a->services, now_mono_ms());
		agent_reap_orphans(a, now_mono_ms());
	}
	return NULL;
}

static int agent_supervisor_start(struct agent *a)
{
	int r;

	r = pthread_create(&a->supervisor_thread, NULL, agent_supervisor, a);
	if (r != 0)
		return -r;
	a->supervisor_running = true;
	return 0;
}

static void agent_supervisor_stop(struct agent *a)
{
	if (!a->supervisor_running)
		return;
	__atomic_store_n(&a->supervisor_quit, true, __ATOMIC_RELEASE);
	if (agent_wake_fd[1] >= 0)
		(void)!write(agent_wake_fd[1], "q", 1);
	pthread_join(a->supervisor_thread, NULL);
	a->supervisor_running = false;
}

/* The control socket of wal-push/wal-fetch (one per process). */
static struct backup_ctl *agent_ctl;

static void agent_free(struct agent *a)
{
	if (!a)
		return;
	backup_ctl_stop(agent_ctl);
	agent_ctl = NULL;
	backup_keys_clear();
	/* The services keep running: they are the node's databases, adopted
	 * by the next agent (service.h). */
	agent_supervisor_stop(a);
	services_free(a->services);
	client_free(a->client);
	journal_free(a->journal);
	agent_state_done(&a->state);
	jws_keyring_free(a->keyring);
	agent_config_free(a->config);
	free(a->node_id);
	free(a->node_name);
	free(a->gateway_url);
	free(a->ca_path);
	free(a->cert_path);
	free(a->key_path);
	free(a);
}

/* Loads node.json, job-keys.json and the certificate dates. */
static int agent_load_identity(struct agent *a)
{
	const char *dir = a->config->state_dir;
	_cleanup_free_ char *p_node = path_join(dir, AGENT_NODE_JSON), *p_keys = path_join(dir, AGENT_JOB_KEYS);
	_cleanup_free_ char *data = NULL;
	_cleanup_json_ json_t *node = NULL, *keys = NULL;
	_cleanup_x509_ X509 *cert = NULL;
	const char *id, *name, *gw;
	int r;

	if (!p_node || !p_keys)
		return -ENOMEM;
	r = read_file_full(p_node, AGENT_NODE_JSON_MAX, &data, NULL);
	if (r < 0)
		return log_error_errno(r, "cannot read %s", p_node);
	node = json_loads(data, JSON_REJECT_DUPLICATES, NULL);
	id = json_string_value(json_object_get(node, "node_id"));
	name = json_string_value(json_object_get(node, "name"));
	gw = json_string_value(json_object_get(node, "gateway_url"));
	if (!id || !uuid_is_valid(id) || !name || !gw)
		return log_error_errno(-EBADMSG, "%s is malformed", p_node);
	a->node_id = strdup(id);
	a->node_name = strdup(name);
	a->gateway_url = strndup(gw, strlen(gw) - (gw[0] && gw[strlen(gw) - 1] == '/'));
	if (!a->node_id || !a->node_name || !a->gateway_url)
		return -ENOMEM;

	free(data);
	data = NULL;
	r = read_file_full(p_keys, AGENT_JOB_KEYS_FILE_MAX, &data, NULL);
	if (r < 0)
		return log_error_errno(r, "cannot read %s", p_keys);
	keys = json_loads(data, JSON_REJECT_DUPLICATES, NULL);
	r = jws_keyring_from_json(keys, &a->keyring);
	if (r < 0)
		return log_error_errno(r, "%s holds no valid job keys", p_keys);

	r = pki_cert_load(a->cert_path, &cert);
	if (r < 0)
		return log_error_errno(r, "cannot read %s", a->cert_path);
	if (pki_cert_not_before(cert, &a->cert_not_before) < 0 || pki_cert_not_after(cert, &a->cert_not_after) < 0)
		return log_error_errno(-EBADMSG, "%s has no valid dates", a->cert_path);
	return 0;
}

/* Moves settled_seq to a verified seq that was run or reported rejected. */
static void agent_settle(struct agent *a, int64_t seq)
{
	if (seq <= a->state.settled_seq)
		return;
	a->state.settled_seq = seq;
	(void)agent_state_save(a);
}

/* Stores the final result, reports it, marks it reported, settles. */
static int agent_finish(struct agent *a, struct journal_entry *e, json_t *result)
{
	int r;

	json_decref(e->result);
	e->result = json_incref(result);
	e->state = JOURNAL_DONE;
	e->finished_at = now_s();
	e->reported = false;
	r = journal_entry_save(a->journal, e);
	if (r < 0)
		/* Not reporting what we could not record keeps "journal
		 * before report"; the job is re-examined after a restart. */
		return log_error_errno(r, "job %s: cannot journal its result", e->jti);
	r = report_result(a, e->jti, result);
	if (r < 0)
		return r;
	a->results_reported++;
	e->reported = true;
	r = journal_entry_save(a->journal, e);
	if (r < 0)
		log_warning_errno(r, "job %s: cannot mark the result reported", e->jti);
	agent_settle(a, e->seq);
	return 0;
}

static json_t *agent_result(const char *state, const char *message, json_t *output)
{
	json_t *res = json_pack("{s:s}", "state", state);

	if (!res)
		return NULL;
	if (message)
		json_object_set_new(res, "message",
				    json_stringn(message, MIN(strlen(message), (size_t)REPORT_MESSAGE_MAX)));
	if (output)
		json_object_set(res, "output", output);
	return res;
}

/* Runs an accepted entry to its end.  Returns 0, or -ECANCELED when the
 * agent is stopping (the entry stays `running` for the next start). */
static int agent_run_entry(struct agent *a, struct journal_entry *e, const struct exec_type *exec, json_t *params,
			   const char *ds)
{
	_cleanup_json_ json_t *output = NULL, *result = NULL;
	_cleanup_free_ char *message = NULL, *dump = NULL;
	struct exec_context ctx = {
		.config = &a->exec_config,
		.jti = e->jti,
		.ds = ds,
		.client = a->client,
		.gateway_url = a->gateway_url,
		.keepalive = agent_keepalive,
		.userdata = a,
	};
	int r;

	e->state = JOURNAL_RUNNING;
	r = journal_entry_save(a->journal, e);
	if (r < 0)
		return log_error_errno(r, "job %s: cannot journal it as running; not running it", e->jti);
	a->journal_open++;
	log_info("job %s: running %s (seq %" PRId64 ")", e->jti, e->type, e->seq);
	report_event(a, e->jti, "started", NULL);

	r = exec->run(params, &ctx, &output, &message);
	if (r == -ECANCELED) {
		log_notice("job %s: stopped by shutdown; it will be resumed or reported interrupted", e->jti);
		return r;
	}
	a->journal_open--;
	/* A database job changes what the status report says (role,
	 * running, replicas): report soon instead of at the next cadence. */
	if (strncmp(e->type, "pg.", 3) == 0)
		a->status_due_ms = 0;
	if (r >= 0) {
		dump = json_dumps(output, JSON_COMPACT);
		if (!dump || strlen(dump) > CAIRN_RESULT_MAX_BYTES - 4096) {
			r = -EFBIG;
			free(message);
			message = strdup("output too large");
		}
	}
	if (r >= 0) {
		log_info("job %s: succeeded", e->jti);
		result = agent_result("succeeded", NULL, output);
	} else {
		log_warning_errno(r, "job %s: failed: %s", e->jti, message ? message : "executor error");
		if (!message) {
			char buf[128];

			snprintf(buf, sizeof(buf), "%s", strerror(-r));
			result = agent_result("failed", buf, NULL);
		} else
			result = agent_result("failed", message, NULL);
	}
	if (!result)
		return -ENOMEM;
	return agent_finish(a, e, result);
}

/* A refused job: journal it (under its jti), report it, settle if it verified. */
static int agent_reject(struct agent *a, const struct verify_result *vr, const char *type)
{
	_cleanup_json_ json_t *result = NULL;
	struct journal_entry e = {};
	int r;

	if (!vr->jti_readable) {
		a->rejected_unreadable++;
		log_warning("refused a job without a readable jti: %s", vr->reason);
		return 0;
	}
	log_warning("job %s: refused: %s", vr->jti, vr->reason);
	memcpy(e.jti, vr->jti, UUID_STRING_MAX);
	e.seq = vr->signature_ok ? vr->seq : 0;
	e.type = type && cairn_job_type_lookup(type) ? strdup(type) : NULL;
	e.received_at = now_s();
	result = agent_result("rejected", vr->reason, NULL);
	if (!result) {
		journal_entry_done(&e);
		return -ENOMEM;
	}
	r = agent_finish(a, &e, result);
	journal_entry_done(&e);
	return r;
}

/* A job already in the journal: never verified or run again. */
static int agent_seen(struct agent *a, const char *jti)
{
	struct journal_entry e = {};
	int r;

	r = journal_entry_load(a->journal, jti, &e);
	if (r < 0)
		return log_error_errno(r, "job %s: journal entry unreadable; skipping the job", jti);
	if (e.state == JOURNAL_DONE) {
		log_info("job %s: served again; re-sending its result", jti);
		r = report_result(a, jti, e.result);
		if (r >= 0) {
			a->results_reported++;
			if (!e.reported) {
				e.reported = true;
				(void)journal_entry_save(a->journal, &e);
			}
			agent_settle(a, e.seq);
		}
	} else
		log_debug("job %s: served again while open; left to the local run", jti);
	journal_entry_done(&e);
	return r;
}

static bool agent_type_has_secrets(const char *type)
{
	const struct cairn_job_type_info *t = cairn_job_type_lookup(type);

	return t && t->secrets;
}

static int agent_handle_job(struct agent *a, const char *jws, size_t len)
{
	bool secret;
	struct verify_ctx vctx = {
		.node_id = a->node_id,
		.keyring = a->keyring,
		.accepted_seq = a->state.accepted_seq,
		.epochs = a->state.epochs,
		.skew_s = a->config->skew_s,
		.allow_debug = a->config->allow_debug_jobs,
		.exec = &a->exec_config,
	};
	struct verify_result vr;
	struct journal_entry e = {};
	int r;

	r = verify_job(jws, len, &vctx, now_s(), &vr);
	if (r == -ENOMEM) {
		verify_result_done(&vr);
		return r;
	}
	if (vr.jti_readable && journal_has(a->journal, vr.jti)) {
		verify_result_done(&vr);
		return agent_seen(a, vr.jti);
	}
	if (r < 0) {
		r = agent_reject(a, &vr, vr.have_claims ? vr.claims.type : NULL);
		verify_result_done(&vr);
		return r;
	}

	/* Accepted: journal, then floors, then run. */
	memcpy(e.jti, vr.jti, UUID_STRING_MAX);
	e.seq = vr.claims.seq;
	e.type = strdup(vr.claims.type);
	/* A job with secret params is journaled without its JWS: secrets
	 * never reach the disk, and after a crash it is reported interrupted
	 * (docs/backups.md "Secret job parameters"). */
	secret = agent_type_has_secrets(vr.claims.type);
	e.jws = secret ? NULL : strndup(jws, len);
	e.state = JOURNAL_ACCEPTED;
	e.received_at = now_s();
	if (!e.type || (!e.jws && !secret)) {
		r = -ENOMEM;
		goto out;
	}
	r = journal_entry_save(a->journal, &e);
	if (r < 0) {
		log_error_errno(r, "job %s: cannot journal it; not running it", e.jti);
		goto out;
	}
	a->state.accepted_seq = e.seq;
	if (vr.claims.ds) {
		json_t *floor = json_object_get(a->state.epochs, vr.claims.ds);

		if (!floor || json_integer_value(floor) < vr.claims.epoch)
			json_object_set_new(a->state.epochs, vr.claims.ds, json_integer(vr.claims.epoch));
	}
	r = agent_state_save(a);
	if (r < 0)
		goto out; /* entry stays `accepted`: finished after a restart */
	r = agent_run_entry(a, &e, vr.exec, vr.claims.params, vr.claims.ds);
out:
	journal_entry_done(&e);
	verify_result_done(&vr);
	return r;
}

/* Resumes an accepted/running entry after a restart from its stored JWS. */
static int agent_resume(struct agent *a, const char *jti)
{
	_cleanup_jws_ struct jws *jws = NULL;
	struct journal_entry e = {};
	struct job_claims c = {};
	const struct exec_type *exec = NULL;
	const char *why = NULL;
	char reason[EXEC_REASON_MAX] = "";
	bool have_claims = false;
	int r;

	r = journal_entry_load(a->journal, jti, &e);
	if (r < 0)
		return log_error_errno(r, "job %s: journal entry unreadable", jti);
	if (e.state == JOURNAL_DONE) {
		journal_entry_done(&e);
		return 0;
	}
	/* Counted open by recovery; finished below or counted again by
	 * agent_run_entry(). */
	if (a->journal_open > 0)
		a->journal_open--;
	if (!e.jws && agent_type_has_secrets(e.type)) {
		_cleanup_json_ json_t *res = agent_result(
			"interrupted", "the agent restarted; jobs with secret parameters are not kept on disk", NULL);

		log_notice("job %s: %s was not journaled with its secrets: reported interrupted", jti, e.type);
		r = res ? agent_finish(a, &e, res) : -ENOMEM;
		journal_entry_done(&e);
		return r;
	}
	if (!e.jws || jws_parse(e.jws, strlen(e.jws), &jws, NULL, &why) < 0)
		why = "stored job unreadable";
	else if (job_claims_from_json(jws->payload, &c, &why) < 0)
		why = why ? why : "stored payload invalid";
	else {
		have_claims = true;
		exec = exec_lookup(c.type, a->config->allow_debug_jobs);
		if (!exec)
			why = "type no longer allowed";
		else if (exec->validate(c.params, &a->exec_config, reason, sizeof(reason)) < 0)
			why = reason;
	}
	if (why) {
		_cleanup_json_ json_t *res = NULL;
		char msg[EXEC_REASON_MAX + 32];

		snprintf(msg, sizeof(msg), "cannot resume: %s", why);
		res = agent_result("failed", msg, NULL);
		r = res ? agent_finish(a, &e, res) : -ENOMEM;
	} else {
		log_notice("job %s: resuming after a restart", jti);
		r = agent_run_entry(a, &e, exec, c.params, c.ds);
	}
	if (have_claims)
		job_claims_done(&c);
	journal_entry_done(&e);
	return r;
}

static int agent_recover(struct agent *a)
{
	_cleanup_free_ struct journal_step *steps = NULL;
	size_t n = 0;
	int r;

	r = journal_recover(a->journal, &a->state, agent_type_idempotent, &steps, &n, &a->journal_open);
	if (r < 0)
		return log_error_errno(r, "journal recovery failed in %s", a->config->state_dir);
	if (n > 0)
		log_notice("journal: %zu job(s) to finish or report", n);
	for (size_t i = 0; i < n; i++) {
		if (steps[i].action == JOURNAL_ACTION_RUN)
			r = agent_resume(a, steps[i].jti);
		else {
			struct journal_entry e = {};

			r = journal_entry_load(a->journal, steps[i].jti, &e);
			if (r >= 0) {
				r = report_result(a, e.jti, e.result);
				if (r >= 0) {
					e.reported = true;
					(void)journal_entry_save(a->journal, &e);
					agent_settle(a, e.seq);
				}
			}
			journal_entry_done(&e);
		}
		if (r == -ECANCELED)
			return r;
	}
	return 0;
}

/* One pull.  Returns the delay before the next one in *ret_delay_ms. */
static int agent_pull(struct agent *a, int64_t *ret_delay_ms)
{
	_cleanup_free_ char *path = NULL, *url = NULL;
	struct client_response resp = {};
	const char *err = NULL;
	json_t *jobs, *v;
	int64_t next_poll = 0;
	uint64_t reported_before;
	size_t i;
	int r;

	/* The long poll ends no later than the next status report is due, so
	 * the controller's next_report_s is kept even while idle. */
	int64_t wait_s = a->config->poll_wait_s;
	int64_t until_report_s = (a->status_due_ms - now_mono_ms() + 999) / 1000;
	wait_s = MAX(MIN(wait_s, until_report_s), (int64_t)0);

	if (asprintf(&path, "%s?after=%" PRId64 "&wait=%" PRId64, CAIRN_PATH_AGENT_JOBS, a->state.settled_seq,
		     wait_s) < 0 ||
	    !(url = agent_url(a, path)))
		return -ENOMEM;

	r = client_request(a->client, "GET", url, NULL, 0, CAIRN_PULL_MAX_BYTES,
			   wait_s + AGENT_PULL_EXTRA_TIMEOUT_S, &resp, &err);
	if (r == -ECANCELED)
		return r;
	if (r < 0) {
		*ret_delay_ms = backoff_ms(AGENT_BACKOFF_BASE_MS, AGENT_BACKOFF_MAX_MS, MIN(a->failures, 16u));
		a->failures++;
		log_warning_errno(r, "pull from %s failed (%s); retrying in %" PRId64 " ms", a->gateway_url,
				  err ? err : "error", *ret_delay_ms);
		return 0;
	}
	if (resp.status != 200) {
		if (resp.status == 429 && resp.retry_after_s > 0)
			*ret_delay_ms = resp.retry_after_s * 1000 + backoff_ms(1000, 1000, 0);
		else if (resp.status == 403 || resp.status == 401)
			*ret_delay_ms = AGENT_FORBIDDEN_RETRY_MS;
		else
			*ret_delay_ms = backoff_ms(AGENT_BACKOFF_BASE_MS, AGENT_BACKOFF_MAX_MS, MIN(a->failures, 16u));
		a->failures++;
		if (resp.status == 403)
			log_error("gateway refused this node's certificate (revoked or expired?); retrying in %" PRId64
				  " ms", *ret_delay_ms);
		else if (resp.status == 429)
			log_warning("pull rate-limited by the controller (HTTP 429, Retry-After %" PRId64
				    " s); waiting %" PRId64 " ms", resp.retry_after_s, *ret_delay_ms);
		else
			log_warning("pull answered HTTP %ld; retrying in %" PRId64 " ms", resp.status, *ret_delay_ms);
		client_response_done(&resp);
		return 0;
	}
	a->failures = 0;
	notify_ready("enrolled, connected");

	jobs = json_object_get(resp.json, "jobs");
	v = json_object_get(resp.json, "next_poll_s");
	if (json_is_integer(v))
		next_poll = MIN(MAX(json_integer_value(v), (json_int_t)0), (json_int_t)AGENT_NEXT_POLL_MAX_S);
	if (!json_is_array(jobs)) {
		log_warning("pull answer has no jobs array; ignoring it");
		jobs = NULL;
	} else if (json_array_size(jobs) > CAIRN_PULL_MAX_JOBS)
		log_warning("pull answer has %zu jobs; handling the first %d", json_array_size(jobs),
			    CAIRN_PULL_MAX_JOBS);
	r = 0;
	reported_before = a->results_reported;
	json_array_foreach(jobs, i, v) {
		if (i >= CAIRN_PULL_MAX_JOBS)
			break;
		if (!json_is_string(v)) {
			a->rejected_unreadable++;
			log_warning("pull answer holds a job that is not a string; ignored");
			continue;
		}
		r = agent_handle_job(a, json_string_value(v), json_string_length(v));
		if (r == -ECANCELED)
			break;
		notify_watchdog();
	}
	/* With wait=0 an empty answer comes back at once: never turn that
	 * into a busy loop. */
	if (next_poll == 0 && a->config->poll_wait_s == 0 && json_array_size(jobs) == 0)
		next_poll = AGENT_EMPTY_POLL_MIN_S;
	*ret_delay_ms = next_poll * 1000;
	/* Jobs served but none settled (no readable jti, an entry left open,
	 * a journal write failing): the controller will serve them again at
	 * once until they time out, so slow down instead of spinning. */
	if (json_array_size(jobs) > 0 && a->results_reported == reported_before && r != -ECANCELED) {
		*ret_delay_ms = MAX(*ret_delay_ms, backoff_ms(AGENT_BACKOFF_BASE_MS, AGENT_STUCK_DELAY_MAX_MS,
							      MIN(a->stuck, 16u)));
		a->stuck++;
		log_debug("no job of this pull could be settled; next pull in %" PRId64 " ms", *ret_delay_ms);
	} else
		a->stuck = 0;
	client_response_done(&resp);
	return r == -ECANCELED ? r : 0;
}

static int agent_loop(struct agent *a)
{
	int r;

	for (;;) {
		int64_t now = now_mono_ms(), delay_ms = 0;

		if (agent_stopping())
			return 0;
		if (report_renew_due(a, now_s()) && now >= a->renew_due_ms) {
			/* At most one renewal a minute even when the CA's
			 * backdated notBefore makes short lifetimes look
			 * two-thirds spent at once. */
			if (report_renew(a) < 0)
				a->renew_due_ms = now + REPORT_RENEW_RETRY_MS;
			else
				a->renew_due_ms = now + REPORT_RENEW_MIN_INTERVAL_MS;
		}
		if (now >= a->status_due_ms) {
			int64_t next = report_status(a);

			if (next == -ECANCELED)
				return 0;
			a->status_due_ms = now_mono_ms() + next * 1000;
		}
		if (now >= a->prune_due_ms) {
			r = journal_prune(a->journal, now_s());
			if (r < 0)
				log_warning_errno(r, "journal pruning failed");
			else if (r > 0)
				log_info("journal: pruned %d old entries", r);
			a->prune_due_ms = now + AGENT_PRUNE_INTERVAL_MS;
		}
		r = agent_pull(a, &delay_ms);
		if (r == -ECANCELED)
			return 0;
		if (r < 0)
			delay_ms = backoff_ms(AGENT_BACKOFF_BASE_MS, AGENT_BACKOFF_MAX_MS, 3);
		/* Do not sleep past a due status report. */
		delay_ms = MIN(delay_ms, MAX(a->status_due_ms - now_mono_ms(), (int64_t)0));
		if (delay_ms > 0 && !agent_sleep(a, delay_ms))
			return 0;
	}
}

static bool agent_enroll_sleep(void *userdata, int64_t ms)
{
	return agent_sleep(userdata, ms);
}

static int agent_start(struct agent *a)
{
	const char *dir = a->config->state_dir;
	int r;

	r = mkdir_p(dir, 0700);
	if (r < 0)
		return log_error_errno(r, "cannot create %s", dir);
	(void)chmod(dir, 0700);
	a->ca_path = path_join(dir, AGENT_CA);
	a->cert_path = path_join(dir, AGENT_NODE_CERT);
	a->key_path = path_join(dir, AGENT_NODE_KEY);
	if (!a->ca_path || !a->cert_path || !a->key_path)
		return -ENOMEM;
	r = services_new(dir, NULL, &a->services);
	if (r < 0)
		return log_error_errno(r, "cannot load the services in %s/services", dir);
	a->exec_config = (struct exec_config){ .state_dir = dir, .tls_dir = a->config->tls_dir,
				      .db_dir = a->config->db_dir, .services = a->services };
	r = agent_supervisor_start(a);
	if (r < 0)
		return log_error_errno(r, "cannot start the service supervisor thread");
	/* Without the control socket WAL archiving waits (PostgreSQL keeps
	 * the WAL and retries); nothing else does. */
	r = backup_ctl_socket_path_set(a->config->run_dir);
	if (r < 0)
		log_warning_errno(r, "run_dir %s: the control socket path would be too long; using %s",
				  a->config->run_dir, backup_ctl_socket_path());
	r = backup_ctl_start(&a->exec_config, backup_ctl_socket_path(), &agent_ctl);
	if (r < 0)
		log_warning_errno(r, "cannot open the control socket %s: WAL archiving waits", backup_ctl_socket_path());

	r = journal_open(dir, &a->journal);
	if (r < 0)
		return log_error_errno(r, "cannot open the journal in %s", dir);
	r = journal_state_load(a->journal, &a->state);
	if (r < 0)
		return log_error_errno(r, "cannot read %s/%s; refusing to start without the seq floors", dir,
				       JOURNAL_STATE_FILE);
	r = report_renew_recover(dir);
	if (r < 0)
		return log_error_errno(r, "cannot complete an interrupted renewal in %s", dir);

	if (enroll_needed(dir)) {
		r = client_new(a->config->ca_file, NULL, NULL, &a->client);
		if (r < 0)
			return log_error_errno(r, "cannot set up the HTTPS client");
		client_set_keepalive(a->client, agent_keepalive, a);
		notify_status("enrolling");
		log_info("not enrolled yet; enrolling at %s", a->config->api_url ? a->config->api_url : "(no api_url)");
		r = enroll_run(a->config, a->client, agent_enroll_sleep, a);
		if (r < 0)
			return r;
		r = client_reset(a->client, a->ca_path, a->cert_path, a->key_path);
	} else
		r = client_new(a->ca_path, a->cert_path, a->key_path, &a->client);
	if (r < 0)
		return log_error_errno(r, "cannot set up the HTTPS client");
	client_set_keepalive(a->client, agent_keepalive, a);

	r = agent_load_identity(a);
	if (r < 0)
		return r;
	log_info("node %s (%s), gateway %s, settled seq %" PRId64, a->node_id, a->node_name, a->gateway_url,
		 a->state.settled_seq);
	return 0;
}

int agent_main(const char *config_path)
{
	_cleanup_free_ char *error = NULL;
	struct agent *a;
	int r;

	a = calloc(1, sizeof(*a));
	if (!a)
		return 1;
	r = agent_config_load(config_path, &a->config, &error);
	if (r < 0) {
		if (error)
			log_error("%s", error);
		else
			log_error_errno(r, "cannot load %s", config_path);
		agent_free(a);
		return 1;
	}
	log_open(LOG_TARGET_AUTO, "cairn-agent", a->config->log_level);
	notify_init();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("cannot initialise libcurl");
		agent_free(a);
		return 1;
	}

	r = agent_start(a);
	if (r == -ECANCELED || (r >= 0 && (r = agent_recover(a)) == -ECANCELED)) {
		log_info("stopping");
		notify_stopping();
		agent_free(a);
		curl_global_cleanup();
		return 0;
	}
	if (r < 0) {
		agent_free(a);
		curl_global_cleanup();
		return 1;
	}
	notify_status("running");
	(void)agent_loop(a);
	log_info("stopping");
	notify_stopping();
	agent_free(a);
	curl_global_cleanup();
	return 0;
}
