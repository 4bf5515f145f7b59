/*
 * ratelimit.c: a chained hash table of token buckets with an LRU list.
 * Buckets are refilled lazily on access (tokens += elapsed * rate, capped at
 * burst), so an idle key costs nothing but its slot; when the table is
 * full the least recently used bucket goes, which for an idle key loses
 * nothing (it would have refilled anyway) and for an attacker cycling
 * through keys at most resets its oldest bucket.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "ratelimit.h"
#include "util.h"

struct bucket {
	char key[RATELIMIT_KEY_MAX + 1]; /* identity */
	double tokens;                   /* tokens left at `last_ms` */
	int64_t last_ms;                 /* last refill */
	struct bucket *next;             /* hash chain */
	struct bucket *lru_prev, *lru_next; /* LRU list, most recent at head */
};

struct ratelimit {
	pthread_mutex_t lock;   /* guards everything below */
	double rate, burst;     /* parameters */
	size_t max_entries;     /* table bound */
	size_t n;               /* buckets held */
	size_t n_slots;         /* hash slots (power of two) */
	struct bucket **slots;  /* hash table */
	struct bucket *lru_head, *lru_tail;
	uint64_t seed;          /* hash seed */
};

static uint64_t hash_key(const char *s, uint64_t seed)
{
	/* FNV-1a, seeded: keys come from peers. */
	uint64_t h = 1469598103934665603ULL ^ seed;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

struct ratelimit *ratelimit_new(double rate, double burst, size_t max_entries)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));
	if (!rl)
		return NULL;
	rl->rate = rate > 0 ? rate : 1;
	rl->burst = burst >= 1 ? burst : 1;
	rl->max_entries = max_entries ? max_entries : RATELIMIT_ENTRIES_MAX;
	rl->n_slots = 1;
	while (rl->n_slots < rl->max_entries)
		rl->n_slots <<= 1;
	rl->slots = calloc(rl->n_slots, sizeof(*rl->slots));
	if (!rl->slots) {
		free(rl);
		return NULL;
	}
	if (random_bytes(&rl->seed, sizeof(rl->seed)) < 0)
		rl->seed = (uint64_t)(uintptr_t)rl;
	pthread_mutex_init(&rl->lock, NULL);
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	for (struct bucket *b = rl->lru_head, *next; b; b = next) {
		next = b->lru_next;
		free(b);
	}
	free(rl->slots);
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

static void lru_unlink(struct ratelimit *rl, struct bucket *b)
{
	if (b->lru_prev)
		b->lru_prev->lru_next = b->lru_next;
	else
		rl->lru_head = b->lru_next;
	if (b->lru_next)
		b->lru_next->lru_prev = b->lru_prev;
	else
		rl->lru_tail = b->lru_prev;
	b->lru_prev = b->lru_next = NULL;
}

static void lru_push_front(struct ratelimit *rl, struct bucket *b)
{
	b->lru_prev = NULL;
	b->lru_next = rl->lru_head;
	if (rl->lru_head)
		rl->lru_head->lru_prev = b;
	rl->lru_head = b;
	if (!rl->lru_tail)
		rl->lru_tail = b;
}

static void table_remove(struct ratelimit *rl, struct bucket *victim)
{
	size_t i = hash_key(victim->key, rl->seed) & (rl->n_slots - 1);
	for (struct bucket **p = &rl->slots[i]; *p; p = &(*p)->next)
		if (*p == victim) {
			*p = victim->next;
			break;
		}
	lru_unlink(rl, victim);
	free(victim);
	rl->n--;
}

/* Finds or creates the bucket for key (lock held); NULL on ENOMEM. */
static struct bucket *lookup(struct ratelimit *rl, const char *key, int64_t now_ms)
{
	char k[RATELIMIT_KEY_MAX + 1];
	snprintf(k, sizeof(k), "%s", key);
	size_t i = hash_key(k, rl->seed) & (rl->n_slots - 1);

	for (struct bucket *b = rl->slots[i]; b; b = b->next)
		if (streq(b->key, k)) {
			lru_unlink(rl, b);
			lru_push_front(rl, b);
			return b;
		}

	if (rl->n >= rl->max_entries && rl->lru_tail)
		table_remove(rl, rl->lru_tail);

	struct bucket *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	memcpy(b->key, k, sizeof(k));
	b->tokens = rl->burst;
	b->last_ms = now_ms;
	b->next = rl->slots[i];
	rl->slots[i] = b;
	lru_push_front(rl, b);
	rl->n++;
	return b;
}

static void refill(struct ratelimit *rl, struct bucket *b, int64_t now_ms)
{
	if (now_ms > b->last_ms) {
		b->tokens = MIN(rl->burst, b->tokens + (double)(now_ms - b->last_ms) * rl->rate / 1000.0);
		b->last_ms = now_ms;
	}
}

static int64_t retry_after(struct ratelimit *rl, struct bucket *b)
{
	double s = (1.0 - b->tokens) / rl->rate;
	int64_t r = (int64_t)ceil(s);
	return r < 1 ? 1 : r;
}

bool ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms,
		    int64_t *ret_retry_after_s)
{
	bool ok;
	pthread_mutex_lock(&rl->lock);
	struct bucket *b = lookup(rl, key, now_ms);
	if (!b) {
		/* Out of memory: refuse rather than let everything through. */
		pthread_mutex_unlock(&rl->lock);
		if (ret_retry_after_s)
			*ret_retry_after_s = 1;
		return false;
	}
	refill(rl, b, now_ms);
	ok = b->tokens >= 1.0;
	if (ok)
		b->tokens -= 1.0;
	else if (ret_retry_after_s)
		*ret_retry_after_s = retry_after(rl, b);
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

bool ratelimit_exhausted(struct ratelimit *rl, const char *key, int64_t now_ms,
			 int64_t *ret_retry_after_s)
{
	char k[RATELIMIT_KEY_MAX + 1];
	bool exhausted = false;

	snprintf(k, sizeof(k), "%s", key);
	pthread_mutex_lock(&rl->lock);
	size_t i = hash_key(k, rl->seed) & (rl->n_slots - 1);
	for (struct bucket *b = rl->slots[i]; b; b = b->next)
		if (streq(b->key, k)) {
			refill(rl, b, now_ms);
			exhausted = b->tokens < 1.0;
			if (exhausted && ret_retry_after_s)
				*ret_retry_after_s = retry_after(rl, b);
			break;
		}
	pthread_mutex_unlock(&rl->lock);
	return exhausted;
}

size_t ratelimit_size(struct ratelimit *rl)
{
	pthread_mutex_lock(&rl->lock);
	size_t n = rl->n;
	pthread_mutex_unlock(&rl->lock);
	return n;
}
