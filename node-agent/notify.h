/*
 * notify.h: the agent's side of the systemd service protocol (sd_notify):
 * READY=1 once enrolled and in contact with the controller, WATCHDOG=1 at
 * half of the interval systemd asked for, STOPPING=1 on the way out.  All
 * of it is a no-op when NOTIFY_SOCKET is unset (not under systemd).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Reads WATCHDOG_USEC (for this process only) once.  Call at start. */
void notify_init(void);

/* Sends READY=1 the first time it is called; later calls do nothing. */
void notify_ready(const char *status);

/* Sends STATUS=… (free text, never a secret). */
void notify_status(const char *status);

/* Sends WATCHDOG=1 when half the watchdog interval has passed since the
 * last ping; cheap enough to call from any loop. */
void notify_watchdog(void);

/* The longest a sleep may last before notify_watchdog() must run again, in
 * milliseconds; INT64_MAX when there is no watchdog. */
int64_t notify_watchdog_period_ms(void);

void notify_stopping(void);
