/*
 * notify.c: sd_notify for the agent.  The watchdog period is read once;
 * pings are rate-limited here so callers can call notify_watchdog() from
 * every loop without counting.
 */
#include <stdint.h>

#include <systemd/sd-daemon.h>

#include "macro.h"
#include "notify.h"
#include "util.h"

static struct {
	int64_t period_ms;  /* half of WATCHDOG_USEC, 0 without a watchdog */
	int64_t last_ms;    /* monotonic time of the last ping */
	bool ready;         /* READY=1 was sent */
} notify_state;

void notify_init(void)
{
	uint64_t usec = 0;

	/* unset_environment = 0: a child we spawn is not our watchdog. */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
		notify_state.period_ms = (int64_t)(usec / 2000);
	if (notify_state.period_ms == 0 && usec > 0)
		notify_state.period_ms = 1;
	notify_state.last_ms = now_mono_ms();
}

void notify_ready(const char *status)
{
	if (notify_state.ready)
		return;
	notify_state.ready = true;
	if (status)
		sd_notifyf(0, "READY=1\nSTATUS=%s", status);
	else
		sd_notify(0, "READY=1");
}

void notify_status(const char *status)
{
	sd_notifyf(0, "STATUS=%s", status);
}

void notify_watchdog(void)
{
	int64_t now;

	if (notify_state.period_ms <= 0)
		return;
	now = now_mono_ms();
	if (now - notify_state.last_ms < notify_state.period_ms)
		return;
	notify_state.last_ms = now;
	sd_notify(0, "WATCHDOG=1");
}

int64_t notify_watchdog_period_ms(void)
{
	/* Half the ping period: a check that just missed the deadline is
	 * followed by one that is still well inside the interval. */
	if (notify_state.period_ms <= 0)
		return INT64_MAX;
	return MAX(notify_state.period_ms / 2, (int64_t)1);
}

void notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}
