/*
 * journal.h: the agent's durable memory (docs/protocol.md "Agent state on
 * disk"): agent.json holds the seq floors and epoch floors, and
 * journal/<jti>.json one file per job seen, written before the job runs and
 * again before its result is reported.  Every write goes through
 * write_file_atomic(), so a kill at any instant leaves each file either old
 * or new.  Nothing is kept in memory beyond the entry being handled.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"

#define JOURNAL_DIR "journal"
#define JOURNAL_STATE_FILE "agent.json"
#define JOURNAL_ENTRY_FILE_MAX (512 * 1024) /* JWS (64 KiB) + result (256 KiB) + slack */
#define JOURNAL_STATE_FILE_MAX (1024 * 1024)
#define JOURNAL_EPOCHS_MAX 4096          /* datastores whose epoch floor we keep */
#define JOURNAL_KEEP_S (7 * 86400)       /* done+reported entries older than this go */
#define JOURNAL_KEEP_MAX 1000            /* and at most this many are kept */
#define JOURNAL_SCAN_MAX 100000          /* entries looked at by one scan */

/* Floors that survive restarts (agent.json). */
struct agent_state {
	int64_t accepted_seq; /* highest seq of a job that verified and was accepted */
	int64_t settled_seq;  /* highest verified seq run or reported rejected: the pull's `after` */
	json_t *epochs;       /* object: ds id → highest epoch seen (owned) */
};

void agent_state_done(struct agent_state *st);

enum journal_state {
	JOURNAL_ACCEPTED, /* verified, floors persisted, not started */
	JOURNAL_RUNNING,  /* the executor was started */
	JOURNAL_DONE,     /* result final (in `result`) */
	_JOURNAL_STATE_MAX,
	_JOURNAL_STATE_INVALID = -EINVAL,
};

const char *journal_state_to_string(enum journal_state s);
enum journal_state journal_state_from_string(const char *s);

struct journal_entry {
	char jti[UUID_STRING_MAX]; /* file name and job attempt id */
	int64_t seq;               /* seq from a verified payload, 0 when the signature failed */
	char *type;                /* job type, NULL when unreadable */
	enum journal_state state;
	json_t *result;            /* {"state","message"?,"output"?} once done, else NULL */
	bool reported;             /* the controller answered the result PUT (200 or 404) */
	int64_t received_at;       /* seconds since the epoch */
	int64_t finished_at;       /* 0 until done */
	char *jws;                 /* the compact JWS of an accepted job (to resume it
				    * after a restart); NULL for rejected ones */
};

void journal_entry_done(struct journal_entry *e);

/* True when the entry's job was accepted (not rejected): its seq counts for
 * the acceptance floor. */
bool journal_entry_accepted(const struct journal_entry *e);

struct journal;

/* Opens (creates, 0700) <state_dir>/journal.  Returns 0 or -errno. */
int journal_open(const char *state_dir, struct journal **ret);
void journal_free(struct journal *j);
static inline void journal_freep(struct journal **p) { journal_free(*p); }
#define _cleanup_journal_ __attribute__((cleanup(journal_freep)))

/* agent.json.  A missing file reads as all zeroes (a new agent).  A
 * malformed one is -EBADMSG: refusing to start beats forgetting floors. */
int journal_state_load(struct journal *j, struct agent_state *ret);
int journal_state_save(struct journal *j, const struct agent_state *st);

/* journal/<jti>.json.  Load returns -ENOENT when the jti was never seen,
 * -EBADMSG for a malformed file. */
int journal_entry_load(struct journal *j, const char *jti, struct journal_entry *ret);
int journal_entry_save(struct journal *j, const struct journal_entry *e);
/* True when journal/<jti>.json exists. */
bool journal_has(struct journal *j, const char *jti);

/* Startup recovery (docs/protocol.md): raises st->accepted_seq to the
 * highest seq of an accepted entry (saving agent.json when it moved),
 * turns `running` entries of non-idempotent types into `done` with result
 * `interrupted`, and returns what is left to do, sorted by seq: entries to
 * run (`accepted`, and `running` of idempotent types) and entries whose
 * result must be (re-)sent.  `idempotent` tells a type's idempotence (NULL
 * or unknown type: not idempotent).  *ret_open counts entries not done. */
enum journal_action {
	JOURNAL_ACTION_RUN,
	JOURNAL_ACTION_REPORT,
};
/* One step recovery asks the agent to take for an entry, in seq order. */
struct journal_step {
	char jti[UUID_STRING_MAX];
	int64_t seq;
	enum journal_action action;
};
int journal_recover(struct journal *j, struct agent_state *st, bool (*idempotent)(const char *type),
		    struct journal_step **ret, size_t *ret_n, size_t *ret_open);

/* Removes done+reported entries finished before now - JOURNAL_KEEP_S, then
 * the oldest ones beyond JOURNAL_KEEP_MAX.  Open or unreported entries are
 * never removed.  Returns the number removed or -errno. */
int journal_prune(struct journal *j, int64_t now);
