/*
 * exec-debug.c: debug.sleep.  The execution record is written and synced
 * before the sleep starts, so that a test that kills the agent mid-job
 * still sees that the job ran; the sleep is cut into steps of at most one
 * second so that the watchdog is pinged and SIGTERM is noticed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exec-debug.h"
#include "fileio.h"
#include "macro.h"
#include "util.h"

int exec_debug_sleep_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len)
{
	static const char *const known[] = { "seconds", NULL };
	json_t *v;
	int r;

	r = exec_check_members(params, known, reason, reason_len);
	if (r < 0)
		return r;
	v = json_object_get(params, "seconds");
	if (!v)
		return exec_reason(reason, reason_len, "params.seconds: missing");
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > EXEC_DEBUG_SLEEP_MAX_S)
		return exec_reason(reason, reason_len, "params.seconds: expected an integer in 0..%d",
				   EXEC_DEBUG_SLEEP_MAX_S);
	return 0;
}

static int exec_debug_record(const char *state_dir, const char *jti)
{
	_cleanup_free_ char *path = path_join(state_dir, EXEC_DEBUG_LOG);
	_cleanup_close_ int fd = -1;
	char line[UUID_STRING_MAX + 1];
	int n;

	if (!path)
		return -ENOMEM;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	n = snprintf(line, sizeof(line), "%s\n", jti);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -EINVAL;
	if (write(fd, line, (size_t)n) != n)
		return -EIO;
	if (fsync(fd) < 0)
		return -errno;
	return 0;
}

int exec_debug_sleep_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message)
{
	int64_t seconds = json_integer_value(json_object_get(params, "seconds"));
	int64_t end_ms;
	json_t *out;
	int r;

	r = exec_debug_record(ctx->config->state_dir, ctx->jti);
	if (r < 0) {
		*ret_message = strdup("cannot record the execution in " EXEC_DEBUG_LOG);
		return r;
	}
	end_ms = now_mono_ms() + seconds * 1000;
	for (;;) {
		int64_t left = end_ms - now_mono_ms();

		if (ctx->keepalive && !ctx->keepalive(ctx->userdata))
			return -ECANCELED;
		if (left <= 0)
			break;
		left = MIN(left, (int64_t)1000);
		nanosleep(&(struct timespec){ .tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000 }, NULL);
	}
	out = json_pack("{s:I}", "slept_s", (json_int_t)seconds);
	if (!out)
		return -ENOMEM;
	*ret_output = out;
	return 0;
}
