/*
 * service.c: the supervisor of the node's long-running processes
 * (service.h, docs/datastores.md "Services on the node").
 *
 * Every service has one record in memory and one file on disk,
 * <state_dir>/services/<name>.json: {"spec":{argv, env, user, cwd,
 * stop_signal, reload_signal, stop_timeout_ms}, "wanted":"running" or
 * "stopped", "pid", "start_time"}.  The file is written atomically before
 * the process is acted on, so an agent that restarts knows what must run
 * and which pid it left running.
 *
 * Direct backend: the agent forks the service itself.  The child becomes a
 * session leader, gets default signal dispositions and an empty mask, only
 * stdin (/dev/null) and stdout/stderr (the service's log file) open, the
 * user's groups, gid and uid, and a clean environment, then execs.
 * Everything the child needs (argv, envp, groups) is prepared before the
 * fork, because the agent has several threads and the child may only call
 * async-signal-safe functions.  A death is seen by waitpid() for our own
 * children (which gives the exit status), or through /proc/<pid>/stat
 * (gone, a zombie, or another start time: the pid was reused) for
 * processes adopted after an agent restart, and for our own children when
 * someone else reaped them first.  Wanted services that died are started
 * again after a backoff of 1 s doubling to 60 s, reset after 60 s up.
 * Processes keep running when the agent stops (they are the node's
 * databases): nothing here kills a service except service_stop/remove.
 *
 * systemd backend: a unit /etc/systemd/system/cairn-<name>.service is
 * rendered from the spec and driven over sd-bus (Manager.Reload,
 * StartUnit/StopUnit/RestartUnit/ReloadUnit with mode "replace"; the call
 * waits until the job left the queue).  systemd restarts it on failure.
 *
 * Threads: one mutex guards the table and the files; it is never held
 * while waiting for a process (stop and ready polls release it between
 * checks), so services_supervise() stays prompt.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "proc.h"
#include "service.h"
#include "util.h"

#define SERVICE_FILE_MAX (64 * 1024)       /* <name>.json */
#define SERVICE_ARGS_MAX 128               /* argv and env entries */
#define SERVICE_ARG_LEN_MAX 4096           /* one argv/env entry */
#define SERVICE_GROUPS_MAX 256             /* supplementary groups */
#define SERVICE_LOG_MAX (16 * 1024 * 1024) /* <name>.log rotated to .log.1 beyond this */
#define SERVICE_LOG_TAIL 2048              /* bytes of the log shown after a failed start */
#define SERVICE_BACKOFF_BASE_MS 1000
#define SERVICE_BACKOFF_MAX_MS (60 * 1000)
#define SERVICE_BACKOFF_RESET_MS (60 * 1000) /* up this long: failures forgotten */
#define SERVICE_STOP_TIMEOUT_DEFAULT_MS (30 * 1000)
#define SERVICE_KILL_WAIT_MS (5 * 1000) /* after SIGKILL */
#define SERVICE_POLL_MS 50
#define SERVICE_SYSTEMD_CHECK_MS (30 * 1000) /* systemd: wanted units checked this often */
#define SERVICE_UNIT_DIR "/etc/systemd/system"
#define SERVICE_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct service {
	char *name;            /* [a-z0-9-]{1,64} */
	json_t *spec;          /* the spec as stored (owned) */
	bool wanted;           /* wanted running */
	pid_t pid;             /* main pid, 0 when not running (direct) */
	uint64_t start_time;   /* of pid, in clock ticks since boot (/proc/<pid>/stat field 22) */
	bool child;            /* pid is our own child (waitpid works) */
	int64_t up_since_ms;   /* monotonic, when pid was started or adopted */
	int64_t next_start_ms; /* monotonic, earliest restart after a death */
	unsigned failures;     /* deaths in a row (backoff exponent) */
	struct service *next;
};

struct services {
	pthread_mutex_t lock;     /* guards everything below and the files */
	char *dir;                /* <state_dir>/services */
	bool systemd;             /* the systemd backend, else direct */
	sd_bus *bus;              /* systemd: the system bus (lazily opened) */
	int64_t systemd_check_ms; /* systemd: next look at wanted units */
	struct service *list;
};

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static bool service_name_is_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strlen(name);
	if (n == 0 || n > SERVICE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '-'))
			return false;
	return true;
}

/* A string that may go into argv, env or a unit file: bounded, printable
 * or UTF-8, no control character (a newline would split a unit line). */
static bool service_string_is_valid(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n > SERVICE_ARG_LEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static void service_free(struct service *sv)
{
	if (!sv)
		return;
	free(sv->name);
	json_decref(sv->spec);
	free(sv);
}

static struct service *service_find(struct services *s, const char *name)
{
	for (struct service *sv = s->list; sv; sv = sv->next)
		if (streq(sv->name, name))
			return sv;
	return NULL;
}

static char *service_path(struct services *s, const char *name, const char *suffix)
{
	_cleanup_free_ char *base = NULL;

	if (asprintf(&base, "%s%s", name, suffix) < 0)
		return NULL;
	return path_join(s->dir, base);
}

/* Checks a spec and turns it into the JSON stored in the service file. */
static int service_spec_to_json(const struct service_spec *spec, json_t **ret)
{
	_cleanup_json_ json_t *o = NULL, *argv = NULL, *env = NULL;
	uid_t uid;
	gid_t gid;
	size_t n = 0;
	int r;

	if (!spec || !service_name_is_valid(spec->name) || !spec->argv || !spec->argv[0] ||
	    spec->argv[0][0] != '/')
		return -EINVAL;
	if (!spec->user || !service_string_is_valid(spec->user) || streq(spec->user, "root"))
		return -EPERM;
	r = proc_user(spec->user, &uid, &gid);
	if (r < 0)
		return r;
	if (uid == 0 || gid == 0)
		return -EPERM; /* never as root, whatever the name */
	if (spec->cwd && (spec->cwd[0] != '/' || !service_string_is_valid(spec->cwd)))
		return -EINVAL;
	if (spec->stop_signal < 0 || spec->stop_signal >= NSIG || spec->reload_signal < 0 ||
	    spec->reload_signal >= NSIG || spec->stop_timeout_ms < 0 ||
	    spec->stop_timeout_ms > 3600 * 1000)
		return -EINVAL;
	argv = json_array();
	env = json_array();
	if (!argv || !env)
		return -ENOMEM;
	for (const char *const *a = spec->argv; *a; a++) {
		if (++n > SERVICE_ARGS_MAX || !service_string_is_valid(*a))
			return -EINVAL;
		if (json_array_append_new(argv, json_string(*a)) < 0)
			return -ENOMEM;
	}
	n = 0;
	for (const char *const *e = spec->env; e && *e; e++) {
		const char *eq = strchr(*e, '=');

		if (++n > SERVICE_ARGS_MAX || !service_string_is_valid(*e) || !eq || eq == *e)
			return -EINVAL;
		if (json_array_append_new(env, json_string(*e)) < 0)
			return -ENOMEM;
	}
	o = json_pack("{s:O, s:O, s:s, s:s?, s:i, s:i, s:I}", "argv", argv, "env", env, "user",
	              spec->user, "cwd", spec->cwd, "stop_signal",
	              spec->stop_signal ? spec->stop_signal : SIGTERM, "reload_signal",
	              spec->reload_signal, "stop_timeout_ms",
	              (json_int_t)(spec->stop_timeout_ms ? spec->stop_timeout_ms
	                                                 : SERVICE_STOP_TIMEOUT_DEFAULT_MS));
	if (!o)
		return -ENOMEM;
	*ret = TAKE_PTR(o);
	return 0;
}

/* Writes <name>.json from the record.  Called with the lock held. */
static int service_save(struct services *s, struct service *sv)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	_cleanup_json_ json_t *o = NULL;

	path = service_path(s, sv->name, ".json");
	o = json_pack("{s:s, s:O, s:s, s:I, s:I}", "name", sv->name, "spec", sv->spec, "wanted",
	              sv->wanted ? "running" : "stopped", "pid", (json_int_t)sv->pid, "start_time",
	              (json_int_t)sv->start_time);
	if (!path || !o)
		return -ENOMEM;
	text = json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(1));
	if (!text)
		return -ENOMEM;
	return write_string_atomic(path, text, 0600);
}

/* Reads field 3 (state) and 22 (start time) of /proc/<pid>/stat.  Returns
 * 0, -ESRCH when the process is gone, or -errno. */
static int service_proc_stat(pid_t pid, char *ret_state, uint64_t *ret_start)
{
	char path[64], buf[1024];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	const char *p;
	unsigned long long start = 0;
	char state;
	int field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return errno == ESRCH ? -ESRCH : -errno;
	buf[n] = 0;
	/* The command name is in parentheses and may hold anything: parse
	 * from the last ')'. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return -EIO;
	state = p[2];
	p += 3;
	for (field = 4; field < 22 && *p; p++)
		if (*p == ' ')
			field++;
	if (field != 22 || sscanf(p, "%llu", &start) != 1)
		return -EIO;
	*ret_state = state;
	*ret_start = start;
	return 0;
}

/* True when pid is still the process we started (or adopted). */
static bool service_proc_alive(pid_t pid, uint64_t start_time)
{
	char state;
	uint64_t start;

	if (pid <= 0)
		return false;
	if (service_proc_stat(pid, &state, &start) < 0)
		return false;
	return state != 'Z' && state != 'X' && start == start_time;
}

/* Looks whether sv's process ended; if so records it (pid 0, backoff) and
 * logs the death.  Returns true when it is (still) running.  Lock held. */
static bool service_check_locked(struct services *s, struct service *sv, int64_t now)
{
	int status = 0;
	bool dead = false, have_status = false;

	if (sv->pid <= 0)
		return false;
	if (sv->child) {
		pid_t w = waitpid(sv->pid, &status, WNOHANG);

		if (w == sv->pid)
			dead = have_status = true;
		else if (w < 0 && errno == ECHILD)
			/* Reaped by someone else (the agent's reaper): only
			 * /proc can tell now. */
			dead = !service_proc_alive(sv->pid, sv->start_time);
	} else
		dead = !service_proc_alive(sv->pid, sv->start_time);
	if (!dead)
		return true;

	if (!have_status)
		log_full(sv->wanted ? LOG_WARNING : LOG_INFO, 0, NULL, "service %s: pid %d ended",
		         sv->name, (int)sv->pid);
	else if (WIFEXITED(status))
		log_full(sv->wanted ? LOG_WARNING : LOG_INFO, 0, NULL,
		         "service %s: pid %d exited with status %d", sv->name, (int)sv->pid,
		         WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		log_full(sv->wanted ? LOG_WARNING : LOG_INFO, 0, NULL,
		         "service %s: pid %d killed by signal %d", sv->name, (int)sv->pid,
		         WTERMSIG(status));
	if (now - sv->up_since_ms >= SERVICE_BACKOFF_RESET_MS)
		sv->failures = 0;
	if (sv->wanted) {
		int64_t delay = SERVICE_BACKOFF_BASE_MS;

		for (unsigned i = 0; i < sv->failures && delay < SERVICE_BACKOFF_MAX_MS; i++)
			delay *= 2;
		delay = MIN(delay, (int64_t)SERVICE_BACKOFF_MAX_MS);
		sv->next_start_ms = now + delay;
		sv->failures++;
	}
	sv->pid = 0;
	sv->start_time = 0;
	sv->child = false;
	(void)service_save(s, sv);
	return false;
}

/* Everything the child needs, prepared before fork() (the child only
 * calls async-signal-safe functions). */
struct service_launch {
	char **argv;
	char **envp;
	uid_t uid;
	gid_t gid;
	gid_t groups[SERVICE_GROUPS_MAX];
	int ngroups;
	const char *cwd;
	int null_fd, log_fd;
};

static void service_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static char **service_strv_from_json(json_t *a, const char *extra)
{
	size_t n = json_array_size(a), i, k = 0;
	char **v = calloc(n + 2, sizeof(char *));
	json_t *e;

	if (!v)
		return NULL;
	json_array_foreach(a, i, e)
	{
		v[k] = strdup(json_string_value(e) ? json_string_value(e) : "");
		if (!v[k++])
			goto fail;
	}
	if (extra) {
		v[k] = strdup(extra);
		if (!v[k])
			goto fail;
	}
	return v;
fail:
	service_strv_free(v);
	return NULL;
}

static void service_launch_done(struct service_launch *l)
{
	service_strv_free(l->argv);
	service_strv_free(l->envp);
	if (l->null_fd >= 0)
		close(l->null_fd);
	if (l->log_fd >= 0)
		close(l->log_fd);
}

/* Opens <name>.log for appending (root-owned, 0640: the service writes it
 * through the inherited fd), moving a log larger than SERVICE_LOG_MAX to
 * <name>.log.1 first. */
static int service_log_open(struct services *s, const char *name)
{
	_cleanup_free_ char *path = service_path(s, name, ".log");
	_cleanup_free_ char *old = service_path(s, name, ".log.1");
	struct stat st;
	int fd;

	if (!path || !old)
		return -ENOMEM;
	if (stat(path, &st) == 0 && st.st_size > SERVICE_LOG_MAX)
		(void)rename(path, old);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0640);
	if (fd < 0)
		return -errno;
	return fd;
}

static int service_launch_prepare(struct services *s, struct service *sv, struct service_launch *l)
{
	const char *user = json_string_value(json_object_get(sv->spec, "user"));
	struct passwd pw, *res = NULL;
	_cleanup_free_ char *buf = NULL;
	int r, n = SERVICE_GROUPS_MAX;

	*l = (struct service_launch){.null_fd = -1, .log_fd = -1};
	if (!user)
		return -EINVAL;
	buf = malloc(64 * 1024);
	if (!buf)
		return -ENOMEM;
	r = getpwnam_r(user, &pw, buf, 64 * 1024, &res);
	if (r != 0)
		return -r;
	if (!res)
		return -ESRCH;
	if (pw.pw_uid == 0 || pw.pw_gid == 0)
		return -EPERM;
	l->uid = pw.pw_uid;
	l->gid = pw.pw_gid;
	if (getgrouplist(user, pw.pw_gid, l->groups, &n) < 0)
		return -E2BIG;
	l->ngroups = n;
	for (int i = 0; i < n; i++)
		if (l->groups[i] == 0)
			return -EPERM; /* a service in group root: refused as well */
	l->cwd = json_string_value(json_object_get(sv->spec, "cwd"));
	l->argv = service_strv_from_json(json_object_get(sv->spec, "argv"), NULL);
	l->envp = service_strv_from_json(json_object_get(sv->spec, "env"), SERVICE_PATH);
	if (!l->argv || !l->envp || !l->argv[0])
		return -ENOMEM;
	l->null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (l->null_fd < 0)
		return -errno;
	l->log_fd = service_log_open(s, sv->name);
	if (l->log_fd < 0)
		return l->log_fd;
	return 0;
}

/* The child after fork(): async-signal-safe calls only; never returns. */
_Noreturn static void service_child(const struct service_launch *l)
{
	static const char msg[] = "cairn-agent: could not start the service\n";
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t none;

	(void)setsid();
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(l->null_fd, 0) < 0 || dup2(l->log_fd, 1) < 0 || dup2(l->log_fd, 2) < 0)
		_exit(127);
	(void)syscall(SYS_close_range, 3U, ~0U, 0U);
	if (setgroups((size_t)l->ngroups, l->groups) < 0 || setgid(l->gid) < 0 ||
	    setuid(l->uid) < 0)
		goto fail;
	if (setuid(0) == 0 || getuid() == 0 || geteuid() == 0 || getegid() == 0)
		goto fail; /* root could be regained: refuse */
	if (chdir(l->cwd ? l->cwd : "/") < 0)
		goto fail;
	execve(l->argv[0], l->argv, l->envp);
fail:
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(127);
}

/* Forks and execs sv.  Lock held. */
static int service_spawn(struct services *s, struct service *sv, int64_t now)
{
	struct service_launch l;
	char state;
	uint64_t start = 0;
	pid_t pid;
	int r;

	r = service_launch_prepare(s, sv, &l);
	if (r < 0) {
		service_launch_done(&l);
		return r;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		service_launch_done(&l);
		return r;
	}
	if (pid == 0)
		service_child(&l);
	service_launch_done(&l);
	/* The start time is set at fork and kept by exec. */
	if (service_proc_stat(pid, &state, &start) < 0)
		start = 0;
	sv->pid = pid;
	sv->start_time = start;
	sv->child = true;
	sv->up_since_ms = now;
	r = service_save(s, sv);
	if (r < 0)
		log_warning_errno(r, "service %s: could not record pid %d", sv->name, (int)pid);
	log_info("service %s: started, pid %d", sv->name, (int)pid);
	return 0;
}

/* Sends sig to sv's process (never to pid 0 or -1). */
static int service_signal_locked(struct service *sv, int sig)
{
	if (sv->pid <= 1)
		return -ESRCH;
	if (!sv->child && !service_proc_alive(sv->pid, sv->start_time))
		return -ESRCH;
	if (kill(sv->pid, sig) < 0)
		return -errno;
	return 0;
}

static void service_sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Stops the direct process: stop signal, wait up to the stop timeout,
 * then SIGKILL to its whole session (pgid = pid) and wait again.  Enters
 * and leaves with the lock held; releases it while waiting.  The record
 * may not be freed meanwhile (the caller's name keeps finding it). */
static int service_direct_stop(struct services *s, const char *name)
{
	struct service *sv = service_find(s, name);
	int64_t timeout, deadline;
	int sig;

	if (!sv)
		return -ENOENT;
	if (!service_check_locked(s, sv, now_mono_ms()))
		return 0;
	sig = (int)json_integer_value(json_object_get(sv->spec, "stop_signal"));
	timeout = json_integer_value(json_object_get(sv->spec, "stop_timeout_ms"));
	(void)service_signal_locked(sv, sig > 0 ? sig : SIGTERM);
	for (int round = 0; round < 2; round++) {
		deadline = now_mono_ms() + (round == 0 ? timeout : SERVICE_KILL_WAIT_MS);
		for (;;) {
			pthread_mutex_unlock(&s->lock);
			service_sleep_ms(SERVICE_POLL_MS);
			pthread_mutex_lock(&s->lock);
			sv = service_find(s, name);
			if (!sv || !service_check_locked(s, sv, now_mono_ms()))
				return 0;
			if (now_mono_ms() >= deadline)
				break;
		}
		if (round == 0) {
			log_warning("service %s: pid %d did not stop within %" PRId64
			            " ms: SIGKILL",
			            name, (int)sv->pid, timeout);
			if (sv->pid > 1)
				(void)kill(-sv->pid, SIGKILL);
			(void)service_signal_locked(sv, SIGKILL);
		}
	}
	return -ETIMEDOUT;
}

/* Shows the last lines of the service's log in the agent log. */
static void service_log_tail(struct services *s, const char *name)
{
	_cleanup_free_ char *path = service_path(s, name, ".log");
	_cleanup_close_ int fd = -1;
	char buf[SERVICE_LOG_TAIL + 1];
	off_t end;
	ssize_t n;

	if (!path)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	end = lseek(fd, 0, SEEK_END);
	if (end < 0 || lseek(fd, end > SERVICE_LOG_TAIL ? end - SERVICE_LOG_TAIL : 0, SEEK_SET) < 0)
		return;
	n = read(fd, buf, SERVICE_LOG_TAIL);
	if (n <= 0)
		return;
	buf[n] = 0;
	log_warning("service %s: log tail: %s", name, proc_tail(buf, SERVICE_LOG_TAIL));
}

/* ---- systemd backend --------------------------------------------------- */

/* Appends s to *buf quoted for a unit file: in double quotes, with '\\'
 * and '"' escaped, '%' doubled (specifiers) and, when `dollar`, '$'
 * doubled (ExecStart= variable expansion). */
static int service_unit_quote(FILE *f, const char *s, bool dollar)
{
	fputc('"', f);
	for (const char *p = s; *p; p++) {
		if (*p == '\\' || *p == '"')
			fputc('\\', f);
		else if (*p == '%')
			fputc('%', f);
		else if (*p == '$' && dollar)
			fputc('$', f);
		fputc(*p, f);
	}
	fputc('"', f);
	return 0;
}

static const char *service_signal_name(int sig)
{
	switch (sig) {
	case SIGTERM:
		return "TERM";
	case SIGINT:
		return "INT";
	case SIGQUIT:
		return "QUIT";
	case SIGHUP:
		return "HUP";
	case SIGUSR1:
		return "USR1";
	case SIGUSR2:
		return "USR2";
	case SIGKILL:
		return "KILL";
	default:
		return NULL;
	}
}

static int service_unit_render_json(const char *name, json_t *spec, char **ret_text)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0, i;
	FILE *f;
	json_t *e;
	const char *cwd = json_string_value(json_object_get(spec, "cwd"));
	const char *stop =
	        service_signal_name((int)json_integer_value(json_object_get(spec, "stop_signal")));
	int reload = (int)json_integer_value(json_object_get(spec, "reload_signal"));
	int64_t timeout = json_integer_value(json_object_get(spec, "stop_timeout_ms"));

	if (!stop || (reload && !service_signal_name(reload)))
		return -EINVAL;
	f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f,
	        "# Written by cairn-agent from its service record %s.json: do not edit.\n"
	        "[Unit]\n"
	        "Description=Cairn service %s\n"
	        "After=network-online.target\n"
	        "Wants=network-online.target\n"
	        "\n"
	        "[Service]\n"
	        "Type=simple\n"
	        "User=%s\n",
	        name, name, json_string_value(json_object_get(spec, "user")));
	if (cwd) {
		/* A path setting: no quotes (systemd takes them as part of
		 * the path), only specifiers escaped; it is absolute, so no
		 * leading '-' or '~' changes its meaning. */
		fputs("WorkingDirectory=", f);
		for (const char *p = cwd; *p; p++) {
			if (*p == '%')
				fputc('%', f);
			fputc(*p, f);
		}
		fputc('\n', f);
	}
	json_array_foreach(json_object_get(spec, "env"), i, e)
	{
		fputs("Environment=", f);
		service_unit_quote(f, json_string_value(e), false);
		fputc('\n', f);
	}
	fputs("ExecStart=", f);
	json_array_foreach(json_object_get(spec, "argv"), i, e)
	{
		if (i > 0)
			fputc(' ', f);
		service_unit_quote(f, json_string_value(e), true);
	}
	fputc('\n', f);
	if (reload)
		fprintf(f, "ExecReload=/bin/kill -%s $MAINPID\n", service_signal_name(reload));
	fprintf(f,
	        "KillSignal=SIG%s\n"
	        "KillMode=mixed\n"
	        "TimeoutStopSec=%" PRId64 "ms\n"
	        "Restart=on-failure\n"
	        "RestartSec=1s\n"
	        "NoNewPrivileges=yes\n"
	        "\n"
	        "[Install]\n"
	        "WantedBy=multi-user.target\n",
	        stop, timeout);
	if (fclose(f) != 0)
		return -ENOMEM;
	*ret_text = TAKE_PTR(text);
	return 0;
}

int service_unit_render(const struct service_spec *spec, char **ret_text)
{
	_cleanup_json_ json_t *o = NULL;
	int r;

	r = service_spec_to_json(spec, &o);
	if (r < 0)
		return r;
	return service_unit_render_json(spec->name, o, ret_text);
}

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PRIVATE_SOCKET "/run/systemd/private"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
#define SD_JOB_WAIT_MS (120 * 1000) /* a unit job (start, stop…) must leave the queue within this \
	                             */

static int service_unit_name(const char *name, char ret[static SERVICE_NAME_MAX + 16])
{
	snprintf(ret, SERVICE_NAME_MAX + 16, "cairn-%s.service", name);
	return 0;
}

/* The system bus, opened on first use.  Lock held. */
static int service_bus(struct services *s, sd_bus **ret)
{
	int r;

	if (!s->bus) {
		/* As root, systemd's private socket, as systemctl does: it needs no
		 * bus daemon (a minimal image may have none) and is there as soon
		 * as PID 1 is.  Otherwise, or when it is refused, the system bus. */
		if (geteuid() == 0 && access(SD_PRIVATE_SOCKET, F_OK) == 0) {
			r = sd_bus_new(&s->bus);
			if (r >= 0)
				r = sd_bus_set_address(s->bus, "unix:path=" SD_PRIVATE_SOCKET);
			if (r >= 0)
				r = sd_bus_start(s->bus);
			if (r < 0)
				s->bus = sd_bus_flush_close_unref(s->bus);
		}
		if (!s->bus) {
			r = sd_bus_open_system(&s->bus);
			if (r < 0)
				return r;
		}
	}
	*ret = s->bus;
	return 0;
}

/* Waits until the job object at `job` is gone (systemd removes it when
 * the job finished, whatever its result).  Lock held. */
static int service_bus_wait_job(sd_bus *bus, const char *job)
{
	int64_t deadline = now_mono_ms() + SD_JOB_WAIT_MS;

	for (;;) {
		_cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;
		_cleanup_free_ char *state = NULL;
		int r;

		r = sd_bus_get_property_string(bus, SD_DEST, job, "org.freedesktop.systemd1.Job",
		                               "State", &err, &state);
		if (r < 0)
			return 0; /* the job object is gone: finished */
		if (now_mono_ms() >= deadline)
			return -ETIMEDOUT;
		service_sleep_ms(100);
	}
}

/* Calls Manager.<method>(unit, "replace") and waits for its job. */
static int service_bus_unit_job(struct services *s, const char *method, const char *name)
{
	_cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	char unit[SERVICE_NAME_MAX + 16];
	const char *job;
	sd_bus *bus;
	int r;

	service_unit_name(name, unit);
	r = service_bus(s, &bus);
	if (r < 0)
		return log_warning_errno(r, "service %s: cannot reach the system bus", name);
	r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, method, &err, &reply, "ss", unit,
	                       "replace");
	if (r < 0 && streq(method, "StopUnit") &&
	    sd_bus_error_has_name(&err, "org.freedesktop.systemd1.NoSuchUnit"))
		return 0; /* never loaded: stopped */
	if (r < 0)
		return log_warning_errno(r, "service %s: %s %s failed: %s", name, method, unit,
		                         err.message ? err.message : "error");
	r = sd_bus_message_read(reply, "o", &job);
	if (r < 0)
		return r;
	return service_bus_wait_job(bus, job);
}

/* Manager.Reload (daemon-reload) after a unit file changed. */
static int service_bus_daemon_reload(struct services *s)
{
	_cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;
	sd_bus *bus;
	int r;

	r = service_bus(s, &bus);
	if (r < 0)
		return r;
	r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "Reload", &err, NULL, "");
	if (r < 0)
		log_warning_errno(r, "systemd Reload failed: %s",
		                  err.message ? err.message : "error");
	return r;
}

/* 1 active (or reloading, activating), 0 not, and the main pid. */
static int service_bus_status(struct services *s, const char *name, pid_t *ret_pid)
{
	_cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;
	_cleanup_free_ char *path = NULL, *state = NULL;
	char unit[SERVICE_NAME_MAX + 16];
	uint32_t pid = 0;
	sd_bus *bus;
	int r;

	service_unit_name(name, unit);
	r = service_bus(s, &bus);
	if (r < 0)
		return r;
	r = sd_bus_path_encode(SD_PATH "/unit", unit, &path);
	if (r < 0)
		return r;
	r = sd_bus_get_property_string(bus, SD_DEST, path, "org.freedesktop.systemd1.Unit",
	                               "ActiveState", &err, &state);
	if (r < 0)
		return 0;
	if (!streq(state, "active") && !streq(state, "reloading"))
		return 0;
	sd_bus_error_free(&err);
	(void)sd_bus_get_property_trivial(bus, SD_DEST, path, "org.freedesktop.systemd1.Service",
	                                  "MainPID", &err, 'u', &pid);
	if (ret_pid)
		*ret_pid = (pid_t)pid;
	return 1;
}

/* Writes the unit file when its text changed.  Returns 1 when written
 * (a daemon-reload is due), 0 when unchanged, or -errno. */
static int service_unit_write(const char *name, json_t *spec)
{
	_cleanup_free_ char *text = NULL, *old = NULL, *path = NULL;
	int r;

	r = service_unit_render_json(name, spec, &text);
	if (r < 0)
		return r;
	if (asprintf(&path, SERVICE_UNIT_DIR "/cairn-%s.service", name) < 0)
		return -ENOMEM;
	if (read_file_full(path, SERVICE_FILE_MAX, &old, NULL) >= 0 && streq(old, text))
		return 0;
	r = write_string_atomic(path, text, 0644);
	return r < 0 ? r : 1;
}

static int service_unit_unlink(const char *name)
{
	_cleanup_free_ char *path = NULL;

	if (asprintf(&path, SERVICE_UNIT_DIR "/cairn-%s.service", name) < 0)
		return -ENOMEM;
	return unlink_durable(path);
}

/* ---- public ------------------------------------------------------------ */

/* Loads every <name>.json of the directory; records with a live pid are
 * adopted, others are started by the next services_supervise(). */
static int services_load(struct services *s)
{
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;

	d = opendir(s->dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		_cleanup_free_ char *name = NULL, *path = NULL, *text = NULL;
		_cleanup_json_ json_t *o = NULL;
		struct service *sv;
		size_t n = strlen(de->d_name);
		json_t *spec;
		const char *wanted;
		json_int_t pid, start;

		if (n <= 5 || !streq(de->d_name + n - 5, ".json"))
			continue;
		name = strndup(de->d_name, n - 5);
		if (!name)
			return -ENOMEM;
		if (!service_name_is_valid(name))
			continue;
		path = path_join(s->dir, de->d_name);
		if (!path)
			return -ENOMEM;
		if (read_file_full(path, SERVICE_FILE_MAX, &text, NULL) < 0 ||
		    !(o = json_loads(text, JSON_REJECT_DUPLICATES, NULL)) ||
		    json_unpack(o, "{s:o, s:s, s:I, s:I}", "spec", &spec, "wanted", &wanted, "pid",
		                &pid, "start_time", &start) < 0 ||
		    !json_is_array(json_object_get(spec, "argv")) ||
		    !json_is_string(json_object_get(spec, "user"))) {
			log_warning("service record %s is unreadable: ignored", path);
			continue;
		}
		sv = calloc(1, sizeof(*sv));
		if (!sv)
			return -ENOMEM;
		sv->name = TAKE_PTR(name);
		sv->spec = json_incref(spec);
		sv->wanted = streq(wanted, "running");
		sv->up_since_ms = now_mono_ms();
		if (pid > 1 && pid <= INT32_MAX &&
		    service_proc_alive((pid_t)pid, (uint64_t)start)) {
			sv->pid = (pid_t)pid;
			sv->start_time = (uint64_t)start;
			log_info("service %s: adopted running pid %d", sv->name, (int)sv->pid);
		}
		sv->next = s->list;
		s->list = sv;
	}
	return 0;
}

int services_new(const char *state_dir, const char *backend, struct services **ret)
{
	struct services *s;
	int r;

	if (!state_dir || !ret)
		return -EINVAL;
	if (backend && !streq(backend, "direct") && !streq(backend, "systemd"))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->systemd = backend ? streq(backend, "systemd") : access("/run/systemd/system", F_OK) == 0;
	s->dir = path_join(state_dir, "services");
	if (!s->dir) {
		services_free(s);
		return -ENOMEM;
	}
	r = mkdir_p(s->dir, 0700);
	if (r >= 0)
		r = services_load(s);
	if (r < 0) {
		services_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

void services_free(struct services *s)
{
	if (!s)
		return;
	/* The processes keep running: they are the node's databases. */
	while (s->list) {
		struct service *sv = s->list;

		s->list = sv->next;
		service_free(sv);
	}
	if (s->bus)
		sd_bus_flush_close_unref(s->bus);
	free(s->dir);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Polls ready() (without the lock) until true, the process died, or the
 * deadline.  Returns 0, -ETIMEDOUT or -ESRCH (it died and is not up). */
static int service_wait_ready(struct services *s, const char *name, bool (*ready)(void *userdata),
                              void *userdata, int64_t timeout_ms)
{
	int64_t deadline = now_mono_ms() + MAX(timeout_ms, (int64_t)0);

	for (;;) {
		int running = service_status(s, name, NULL);
		bool died;

		/* A death while we wait (the supervisor counts it as a
		 * failure) ends the wait at once: the log says why. */
		pthread_mutex_lock(&s->lock);
		struct service *sv = service_find(s, name);
		died = !sv || sv->failures > 0;
		pthread_mutex_unlock(&s->lock);
		if (died && running != 1) {
			service_log_tail(s, name);
			return -ESRCH;
		}

		/* Alive before and after a successful probe: a port answered
		 * by some other process while ours dies is not ready. */
		if (running == 1 && (!ready || ready(userdata)) &&
		    service_status(s, name, NULL) == 1)
			return 0;
		if (now_mono_ms() >= deadline)
			break;
		service_sleep_ms(200);
	}
	service_log_tail(s, name);
	return -ETIMEDOUT;
}

int service_start(struct services *s, const struct service_spec *spec,
                  bool (*ready)(void *userdata), void *userdata, int64_t timeout_ms)
{
	_cleanup_json_ json_t *o = NULL;
	struct service *sv;
	bool changed, created = false;
	int r;

	if (!s)
		return -EINVAL;
	r = service_spec_to_json(spec, &o);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	sv = service_find(s, spec->name);
	if (!sv) {
		sv = calloc(1, sizeof(*sv));
		if (!sv || !(sv->name = strdup(spec->name))) {
			free(sv);
			pthread_mutex_unlock(&s->lock);
			return -ENOMEM;
		}
		sv->next = s->list;
		s->list = sv;
		created = true;
	}
	changed = !sv->spec || !json_equal(sv->spec, o);
	if (s->systemd) {
		bool active = !created && service_bus_status(s, spec->name, NULL) == 1;

		json_decref(sv->spec);
		sv->spec = json_incref(o);
		sv->wanted = true;
		r = service_save(s, sv);
		if (r >= 0)
			r = service_unit_write(sv->name, sv->spec);
		if (r > 0)
			r = service_bus_daemon_reload(s);
		if (r >= 0)
			r = service_bus_unit_job(s, changed && active ? "RestartUnit" : "StartUnit",
			                         spec->name);
		pthread_mutex_unlock(&s->lock);
		if (r < 0)
			return r;
		return service_wait_ready(s, spec->name, ready, userdata, timeout_ms);
	}
	if (changed && !created && service_check_locked(s, sv, now_mono_ms())) {
		log_info("service %s: spec changed: restarting", sv->name);
		r = service_direct_stop(s, spec->name);
		sv = service_find(s, spec->name);
		if (r < 0 || !sv) {
			pthread_mutex_unlock(&s->lock);
			return r < 0 ? r : -ENOENT;
		}
	}
	json_decref(sv->spec);
	sv->spec = json_incref(o);
	sv->wanted = true;
	r = service_save(s, sv);
	if (r >= 0 && !service_check_locked(s, sv, now_mono_ms())) {
		sv->failures = 0;
		sv->next_start_ms = 0;
		r = service_spawn(s, sv, now_mono_ms());
	}
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return r;
	return service_wait_ready(s, spec->name, ready, userdata, timeout_ms);
}

int service_stop(struct services *s, const char *name)
{
	struct service *sv;
	int r;

	if (!s || !service_name_is_valid(name))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	sv = service_find(s, name);
	if (!sv) {
		pthread_mutex_unlock(&s->lock);
		return -ENOENT;
	}
	sv->wanted = false;
	r = service_save(s, sv);
	if (r >= 0)
		r = s->systemd ? service_bus_unit_job(s, "StopUnit", name)
		               : service_direct_stop(s, name);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int service_restart(struct services *s, const char *name, bool (*ready)(void *userdata),
                    void *userdata, int64_t timeout_ms)
{
	struct service *sv;
	int r;

	if (!s || !service_name_is_valid(name))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	sv = service_find(s, name);
	if (!sv) {
		pthread_mutex_unlock(&s->lock);
		return -ENOENT;
	}
	sv->wanted = true;
	r = service_save(s, sv);
	if (s->systemd) {
		if (r >= 0)
			r = service_bus_unit_job(s, "RestartUnit", name);
		pthread_mutex_unlock(&s->lock);
		return r < 0 ? r : service_wait_ready(s, name, ready, userdata, timeout_ms);
	}
	if (r >= 0)
		r = service_direct_stop(s, name);
	sv = service_find(s, name);
	if (r >= 0 && sv && !service_check_locked(s, sv, now_mono_ms())) {
		sv->failures = 0;
		sv->next_start_ms = 0;
		r = service_spawn(s, sv, now_mono_ms());
	} else if (r >= 0 && !sv)
		r = -ENOENT;
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return r;
	return service_wait_ready(s, name, ready, userdata, timeout_ms);
}

int service_reload(struct services *s, const char *name)
{
	struct service *sv;
	int r, sig;

	if (!s || !service_name_is_valid(name))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	sv = service_find(s, name);
	if (!sv)
		r = -ENOENT;
	else if (!(sig = (int)json_integer_value(json_object_get(sv->spec, "reload_signal"))))
		r = -EOPNOTSUPP;
	else if (s->systemd)
		r = service_bus_unit_job(s, "ReloadUnit", name);
	else if (!service_check_locked(s, sv, now_mono_ms()))
		r = -ESRCH;
	else
		r = service_signal_locked(sv, sig);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int service_remove(struct services *s, const char *name)
{
	_cleanup_free_ char *path = NULL;
	struct service **pp;
	int r;

	if (!s || !service_name_is_valid(name))
		return -EINVAL;
	r = service_stop(s, name);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	for (pp = &s->list; *pp; pp = &(*pp)->next)
		if (streq((*pp)->name, name)) {
			struct service *sv = *pp;

			*pp = sv->next;
			service_free(sv);
			break;
		}
	if (s->systemd && service_unit_unlink(name) >= 0)
		(void)service_bus_daemon_reload(s);
	path = service_path(s, name, ".json");
	r = path ? unlink_durable(path) : -ENOMEM;
	pthread_mutex_unlock(&s->lock);
	return r;
}

int service_status(struct services *s, const char *name, pid_t *ret_pid)
{
	struct service *sv;
	int r;

	if (!s || !service_name_is_valid(name))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	sv = service_find(s, name);
	if (!sv)
		r = -ENOENT;
	else if (s->systemd)
		r = service_bus_status(s, name, ret_pid);
	else if (service_check_locked(s, sv, now_mono_ms())) {
		r = 1;
		if (ret_pid)
			*ret_pid = sv->pid;
	} else
		r = 0;
	pthread_mutex_unlock(&s->lock);
	return r;
}

void services_supervise(struct services *s, int64_t now_ms)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	if (s->systemd) {
		/* systemd restarts what fails (Restart=on-failure); this covers
		 * what it does not: a wanted unit that is inactive, as after a
		 * reboot (the units are not enabled: the agent decides). */
		if (now_ms >= s->systemd_check_ms) {
			s->systemd_check_ms = now_ms + SERVICE_SYSTEMD_CHECK_MS;
			for (struct service *sv = s->list; sv; sv = sv->next)
				if (sv->wanted && service_bus_status(s, sv->name, NULL) == 0) {
					int r = service_unit_write(sv->name, sv->spec);

					if (r > 0)
						(void)service_bus_daemon_reload(s);
					log_notice("service %s: wanted but inactive: starting",
					           sv->name);
					(void)service_bus_unit_job(s, "StartUnit", sv->name);
				}
		}
		pthread_mutex_unlock(&s->lock);
		return;
	}
	for (struct service *sv = s->list; sv; sv = sv->next) {
		int r;

		if (service_check_locked(s, sv, now_ms) || !sv->wanted ||
		    now_ms < sv->next_start_ms)
			continue;
		r = service_spawn(s, sv, now_ms);
		if (r < 0) {
			int64_t delay = SERVICE_BACKOFF_BASE_MS;

			for (unsigned i = 0; i < sv->failures && delay < SERVICE_BACKOFF_MAX_MS;
			     i++)
				delay *= 2;
			sv->next_start_ms = now_ms + MIN(delay, (int64_t)SERVICE_BACKOFF_MAX_MS);
			sv->failures++;
			log_warning_errno(r, "service %s: could not start", sv->name);
		}
	}
	pthread_mutex_unlock(&s->lock);
}

const char *services_backend(const struct services *s)
{
	return s->systemd ? "systemd" : "direct";
}

int services_disable_foreign(struct services *s, const char *unit)
{
	_cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	sd_bus *bus;
	int r;

	if (!s->systemd)
		return 0;
	pthread_mutex_lock(&s->lock);
	r = service_bus(s, &bus);
	if (r < 0)
		goto out;
	/* Not installed at all (no unit file): nothing to do. */
	r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "GetUnitFileState", &err, NULL,
			       "s", unit);
	if (r < 0) {
		r = 0;
		goto out;
	}
	sd_bus_error_free(&err);

	r = sd_bus_message_new_method_call(bus, &m, SD_DEST, SD_PATH, SD_MANAGER, "DisableUnitFiles");
	if (r >= 0)
		r = sd_bus_message_append_strv(m, (char *[]){ (char *)unit, NULL });
	if (r >= 0)
		r = sd_bus_message_append(m, "b", 0);
	if (r >= 0)
		r = sd_bus_call(bus, m, 0, &err, NULL);
	if (r < 0) {
		log_warning_errno(r, "cannot disable %s: %s", unit, err.message ? err.message : "error");
		goto out;
	}
	sd_bus_error_free(&err);
	r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "StopUnit", &err, &reply, "ss", unit,
			       "replace");
	if (r < 0) {
		log_warning_errno(r, "cannot stop %s: %s", unit, err.message ? err.message : "error");
		goto out;
	}
	const char *job;
	r = sd_bus_message_read(reply, "o", &job);
	if (r >= 0)
		r = service_bus_wait_job(bus, job);
	if (r >= 0)
		log_info("disabled and stopped %s: the agent runs its own instance", unit);
out:
	pthread_mutex_unlock(&s->lock);
	return r < 0 ? r : 0;
}
