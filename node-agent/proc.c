/*
 * proc.c: runs one program for an executor and collects what it said.
 *
 * The child is forked with pipes for stdin, stdout and stderr (all
 * O_CLOEXEC in the parent; dup2 clears the flag on the child's 0/1/2),
 * drops to the requested user before exec, and gets an environment made
 * only of PATH and what the caller passed.  The parent feeds stdin,
 * drains both outputs up to PROC_OUTPUT_MAX each (the rest is counted and
 * dropped, so a chatty child never blocks on a full pipe), calls the
 * caller's keepalive at least once a second and enforces the time limit
 * (SIGTERM, then SIGKILL 5 s later).  No shell is involved anywhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "proc.h"
#include "util.h"

#define PROC_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define PROC_ENV_MAX 64           /* extra environment entries */
#define PROC_KILL_GRACE_MS 5000   /* SIGTERM → SIGKILL */
#define PROC_PWBUF_MAX (64 * 1024) /* getpwnam_r buffer */

int proc_user(const char *user, uid_t *ret_uid, gid_t *ret_gid)
{
	struct passwd pw, *res = NULL;
	size_t len = 1024;
	int r;

	if (!user || !*user)
		return -EINVAL;
	for (;;) {
		_cleanup_free_ char *buf = malloc(len);
		if (!buf)
			return -ENOMEM;
		r = getpwnam_r(user, &pw, buf, len, &res);
		if (r == ERANGE && len < PROC_PWBUF_MAX) {
			len *= 2;
			continue;
		}
		if (r != 0)
			return -r;
		if (!res)
			return -ESRCH;
		if (ret_uid)
			*ret_uid = pw.pw_uid;
		if (ret_gid)
			*ret_gid = pw.pw_gid;
		return 0;
	}
}

int proc_drop_privileges(const char *user)
{
	uid_t uid;
	gid_t gid;
	int r;

	r = proc_user(user, &uid, &gid);
	if (r < 0)
		return r;
	if (initgroups(user, gid) < 0)
		return -errno;
	if (setresgid(gid, gid, gid) < 0)
		return -errno;
	if (setresuid(uid, uid, uid) < 0)
		return -errno;
	/* Belt and braces: getting root back must be impossible now. */
	if (uid != 0 && setuid(0) == 0)
		return -EPERM;
	return 0;
}

#define PROC_GROUPS_MAX 256 /* supplementary groups of the target user */

/* Who the child becomes, looked up before fork so that the child needs no
 * allocation (the agent's libraries may hold malloc locks in threads). */
struct proc_ident {
	bool drop;
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t groups[PROC_GROUPS_MAX];
};

static int proc_ident_get(const char *user, struct proc_ident *ret)
{
	int r;

	*ret = (struct proc_ident){ 0 };
	if (!user)
		return 0;
	r = proc_user(user, &ret->uid, &ret->gid);
	if (r < 0)
		return r;
	ret->ngroups = PROC_GROUPS_MAX;
	if (getgrouplist(user, ret->gid, ret->groups, &ret->ngroups) < 0)
		return -E2BIG;
	ret->drop = true;
	return 0;
}

/* Child side: never returns.  Only async-signal-safe calls after fork. */
static _Noreturn void proc_child(const struct proc_spec *spec, const struct proc_ident *id, int in_fd, int out_fd,
				 int err_fd, char *const *envp)
{
	sigset_t all;

	if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		_exit(127);
	/* Signal dispositions and mask go back to defaults for the program. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (setsid() < 0)
		_exit(127);
	if (id->drop && (setgroups((size_t)id->ngroups, id->groups) < 0 || setresgid(id->gid, id->gid, id->gid) < 0 ||
			 setresuid(id->uid, id->uid, id->uid) < 0)) {
		static const char msg[] = "proc: cannot switch user\n";
		(void)!write(2, msg, sizeof(msg) - 1);
		_exit(126);
	}
	if (chdir(spec->cwd ? spec->cwd : "/") < 0) {
		static const char msg[] = "proc: cannot change directory\n";
		(void)!write(2, msg, sizeof(msg) - 1);
		_exit(126);
	}
	execve(spec->argv[0], (char *const *)spec->argv, envp);
	_exit(errno == ENOENT ? 127 : 126);
}

struct proc_buf {
	char *data;
	size_t len;
	size_t dropped;
};

static int proc_buf_read(struct proc_buf *b, int fd)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -errno;
	if (n == 0)
		return 0;
	size_t keep = MIN((size_t)n, PROC_OUTPUT_MAX - b->len);
	memcpy(b->data + b->len, tmp, keep);
	b->len += keep;
	b->dropped += (size_t)n - keep;
	return 1;
}

/* Signals the child's process group (it made one with setsid), or the
 * child alone if it has not got that far yet. */
static void proc_kill(pid_t pid, int sig)
{
	if (kill(-pid, sig) < 0)
		(void)kill(pid, sig);
}

static void close_pair(int p[2])
{
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	p[0] = p[1] = -1;
}

int proc_run(const struct proc_spec *spec, struct proc_result *ret)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	char *envp[PROC_ENV_MAX + 2];
	struct proc_buf out = { 0 }, err = { 0 };
	size_t nenv = 0, written = 0;
	int64_t start, deadline, kill_at = 0, last_keep;
	bool timed_out = false, cancelled = false;
	pid_t pid;
	int status = 0, r = 0;
	struct proc_ident ident;

	if (!spec || !spec->argv || !spec->argv[0] || spec->argv[0][0] != '/' || spec->timeout_ms <= 0 || !ret)
		return -EINVAL;
	if (access(spec->argv[0], F_OK) < 0)
		return -ENOENT;
	r = proc_ident_get(spec->user, &ident);
	if (r < 0)
		return r;
	envp[nenv++] = (char *)PROC_PATH;
	for (size_t i = 0; spec->env && spec->env[i]; i++) {
		if (nenv > PROC_ENV_MAX)
			return -E2BIG;
		envp[nenv++] = (char *)spec->env[i];
	}
	envp[nenv] = NULL;

	out.data = malloc(PROC_OUTPUT_MAX + 1);
	err.data = malloc(PROC_OUTPUT_MAX + 1);
	if (!out.data || !err.data) {
		r = -ENOMEM;
		goto fail;
	}
	if (spec->stdin_data) {
		if (pipe2(pin, O_CLOEXEC) < 0) {
			r = -errno;
			goto fail;
		}
	} else {
		pin[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (pin[0] < 0) {
			r = -errno;
			goto fail;
		}
	}
	if (pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}

	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto fail;
	}
	if (pid == 0)
		proc_child(spec, &ident, pin[0], pout[1], perr[1], envp);

	close(pin[0]);
	pin[0] = -1;
	close(pout[1]);
	pout[1] = -1;
	close(perr[1]);
	perr[1] = -1;
	if (pin[1] >= 0) {
		fcntl(pin[1], F_SETFL, O_NONBLOCK);
		if (spec->stdin_len == 0) {
			close(pin[1]);
			pin[1] = -1;
		}
	}

	start = now_mono_ms();
	deadline = start + spec->timeout_ms;
	last_keep = start;
	/* The child is waited for in the same loop that drains its output:
	 * a grandchild may keep the pipes open long after the child exited,
	 * and an exited child must be collected promptly (the agent reaps
	 * zombies that linger). Once it exited, what is already in the pipes
	 * is read without waiting for their end. */
	for (bool exited = false;;) {
		struct pollfd fds[3];
		nfds_t n = 0;
		int64_t now = now_mono_ms();

		if (!exited) {
			pid_t w = waitpid(pid, &status, WNOHANG);
			if (w == pid)
				exited = true;
			else if (w < 0 && errno != EINTR) {
				r = -errno;
				goto fail;
			}
		}
		if (!exited && spec->keepalive && now - last_keep >= 500) {
			last_keep = now;
			if (!cancelled && !spec->keepalive(spec->userdata)) {
				cancelled = true;
				proc_kill(pid, SIGTERM);
				kill_at = now + PROC_KILL_GRACE_MS;
			}
		}
		if (!exited && !timed_out && !cancelled && now >= deadline) {
			timed_out = true;
			proc_kill(pid, SIGTERM);
			kill_at = now + PROC_KILL_GRACE_MS;
		}
		if (!exited && kill_at && now >= kill_at) {
			proc_kill(pid, SIGKILL);
			kill_at = 0;
		}

		if (pout[0] >= 0)
			fds[n++] = (struct pollfd){ .fd = pout[0], .events = POLLIN };
		if (perr[0] >= 0)
			fds[n++] = (struct pollfd){ .fd = perr[0], .events = POLLIN };
		if (pin[1] >= 0 && !exited)
			fds[n++] = (struct pollfd){ .fd = pin[1], .events = POLLOUT };
		if (n == 0) {
			if (exited)
				break;
			usleep(20 * 1000);
			continue;
		}
		int k = poll(fds, n, exited ? 0 : 50);
		if (k < 0 && errno != EINTR) {
			r = -errno;
			if (!exited) {
				proc_kill(pid, SIGKILL);
				(void)waitpid(pid, &status, 0);
			}
			goto fail;
		}
		if (k <= 0) {
			if (exited)
				break;
			continue;
		}
		for (nfds_t i = 0; i < n; i++) {
			if (!fds[i].revents)
				continue;
			if (fds[i].fd == pin[1]) {
				ssize_t w = write(pin[1], (const char *)spec->stdin_data + written,
						  spec->stdin_len - written);
				if (w > 0)
					written += (size_t)w;
				if ((w < 0 && errno != EAGAIN && errno != EINTR) || written >= spec->stdin_len) {
					close(pin[1]);
					pin[1] = -1;
				}
				continue;
			}
			struct proc_buf *b = fds[i].fd == pout[0] ? &out : &err;
			int *fdp = fds[i].fd == pout[0] ? &pout[0] : &perr[0];
			if (proc_buf_read(b, *fdp) <= 0) {
				close(*fdp);
				*fdp = -1;
			}
		}
	}
	close_pair(pin);
	close_pair(pout);
	close_pair(perr);

	out.data[out.len] = '\0';
	err.data[err.len] = '\0';
	*ret = (struct proc_result){
		.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
		.out = out.data,
		.err = err.data,
		.timed_out = timed_out,
	};
	if (cancelled)
		return -ECANCELED;
	return timed_out ? -ETIMEDOUT : r;

fail:
	close_pair(pin);
	close_pair(pout);
	close_pair(perr);
	free(out.data);
	free(err.data);
	return r;
}

void proc_result_done(struct proc_result *r)
{
	if (!r)
		return;
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

const char *proc_tail(const char *s, size_t max)
{
	size_t len;
	const char *p;

	if (!s)
		return "";
	len = strlen(s);
	/* Trim trailing whitespace by finding the last non-space. */
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
		len--;
	if (len <= max)
		p = s;
	else {
		p = s + len - max;
		const char *nl = memchr(p, '\n', (size_t)(s + len - p));
		if (nl && nl + 1 < s + len)
			p = nl + 1;
	}
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}
