/*
 * test-ctl-ratelimit.c: token buckets: burst, refill, Retry-After, the
 * bound on the table and eviction.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "ratelimit.h"

static void test_burst_and_refill(void **state)
{
	struct ratelimit *rl = ratelimit_new(2, 5, 0);
	int64_t retry = 0;
	for (int i = 0; i < 5; i++)
		assert_true(ratelimit_take(rl, "a", 1000, &retry));
	assert_false(ratelimit_take(rl, "a", 1000, &retry));
	assert_int_equal(retry, 1);
	assert_true(ratelimit_exhausted(rl, "a", 1000, NULL));
	/* Other keys are independent. */
	assert_true(ratelimit_take(rl, "b", 1000, NULL));
	/* 2/s: after 500 ms one token is back, not two. */
	assert_true(ratelimit_take(rl, "a", 1500, NULL));
	assert_false(ratelimit_take(rl, "a", 1500, NULL));
	/* Refill is capped at the burst. */
	for (int i = 0; i < 5; i++)
		assert_true(ratelimit_take(rl, "a", 100000, NULL));
	assert_false(ratelimit_take(rl, "a", 100000, NULL));
	ratelimit_free(rl);
}

static void test_retry_after(void **state)
{
	struct ratelimit *rl = ratelimit_new(0.1, 1, 0); /* one per 10 s */
	int64_t retry = 0;
	assert_true(ratelimit_take(rl, "x", 0, &retry));
	assert_false(ratelimit_take(rl, "x", 0, &retry));
	assert_int_equal(retry, 10);
	assert_false(ratelimit_take(rl, "x", 5000, &retry));
	assert_int_equal(retry, 5);
	ratelimit_free(rl);
}

static void test_bounded(void **state)
{
	struct ratelimit *rl = ratelimit_new(1, 1, 64);
	char key[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "10.0.%d.%d", i / 256, i % 256);
		assert_true(ratelimit_take(rl, key, 0, NULL));
		assert_true(ratelimit_size(rl) <= 64);
	}
	/* The most recent keys are still limited, the evicted first ones are not. */
	assert_false(ratelimit_take(rl, key, 0, NULL));
	assert_true(ratelimit_take(rl, "10.0.0.0", 0, NULL));
	/* Long keys are truncated, not refused. */
	char longkey[300];
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = 0;
	assert_true(ratelimit_take(rl, longkey, 0, NULL));
	assert_false(ratelimit_take(rl, longkey, 0, NULL));
	ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_and_refill),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
