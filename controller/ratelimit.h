/*
 * ratelimit.h: token buckets keyed by an identity string (an API token's
 * hash, a node id, or a socket peer address; never a header).  The table
 * is bounded: when it is full, buckets that have refilled (and so mean
 * nothing) are dropped first, then the least recently used.  Thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_ENTRIES_MAX 65536
#define RATELIMIT_KEY_MAX 80

struct ratelimit;

/* `rate` tokens per second, at most `burst` stored; `max_entries` 0 means
 * RATELIMIT_ENTRIES_MAX.  Returns NULL on allocation failure. */
struct ratelimit *ratelimit_new(double rate, double burst, size_t max_entries);
void ratelimit_free(struct ratelimit *rl);

/* Takes one token from the bucket of `key` at monotonic time `now_ms`.
 * Returns true when allowed; false when limited, with *ret_retry_after_s
 * (>= 1) saying when a token will be there.  Keys longer than
 * RATELIMIT_KEY_MAX are truncated. */
bool ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms,
		    int64_t *ret_retry_after_s);

/* True when the bucket of `key` has less than one token (takes nothing). */
bool ratelimit_exhausted(struct ratelimit *rl, const char *key, int64_t now_ms,
			 int64_t *ret_retry_after_s);

/* Number of buckets held (for tests and metrics). */
size_t ratelimit_size(struct ratelimit *rl);
