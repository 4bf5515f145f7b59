/*
 * bench-dispatch.c: how fast one cairn-controller hands a job to the agent
 * it is for, while N agents hold long polls open on its gateway.
 *
 * One process plays every part.  It creates N node slots and enrols each
 * with its own certificate (one P-256 key and one CSR serve all of them:
 * the controller takes only the public key from a CSR), then keeps one
 * libcurl easy handle per simulated agent long-polling
 * GET /v1/agent/jobs?after=<seq>&wait=<s> with that agent's certificate.
 * Once every poll is outstanding it submits M `node.facts` jobs to random
 * nodes through the API at a steady rate and records, for each job, when
 * the submit request went out, when the API answered 201 and when the
 * agent received the JWS.  Dispatch latency is receive time minus send
 * time; both are read from the same monotonic clock in this process.
 *
 * All transfers are driven by one epoll loop through
 * curl_multi_socket_action(), so the cost per event does not grow with N
 * (curl_multi_poll() would walk every socket on each wake-up).  The agents
 * are spread over several multi handles of BENCH_SHARD_AGENTS each: libcurl
 * 7.88 walks its whole connection cache on every curl_multi_remove_handle()
 * (to find the handle's last connection), which with thousands of cached
 * connections in one multi handle stalled this loop for tens of
 * milliseconds and showed up as dispatch latency.  The loop reports its own
 * longest pass (stall_ms) so that its share stays visible.  Agents do not
 * run jobs or send results: this measures dispatch only.
 *
 * It prints one row per run, the median of every figure over the runs and
 * one "RESULT key=value …" line that tests/bench/run-dispatch.sh turns into
 * a table.  It is a measurement, not a test: the exit code says only
 * whether the benchmark could be carried out (setup failures are errors;
 * slow or lost dispatches are figures).  docs/bench.md explains the output.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "fileio.h"
#include "macro.h"
#include "pki.h"
#include "protocol.h"
#include "util.h"

/* Named maxima for everything the controller's answers can grow. */
#define BENCH_PULL_BODY_MAX (CAIRN_PULL_MAX_BYTES + 4096) /* one pull answer */
#define BENCH_API_BODY_MAX (256 * 1024) /* one API answer (node, job, enrolment) */
#define BENCH_PROC_MAX (64 * 1024)      /* /proc/<pid>/status or stat */
#define BENCH_URL_MAX 512
#define BENCH_DETAIL_MAX 200 /* problem detail quoted in an error */

/* Ranges accepted on the command line. */
#define BENCH_AGENTS_MAX 100000
#define BENCH_JOBS_MAX 1000000
#define BENCH_RUNS_MAX 9
#define BENCH_PARALLEL_MAX 64
#define BENCH_SUBMITTERS_MAX 256
#define BENCH_PEER_REQUESTS 200 /* GET /v1/health samples per run */
#define BENCH_FSYNC_SAMPLES 50  /* 4 KiB write + fdatasync samples per run */
#define BENCH_PATH_MAX 4096
#define BENCH_EPOLL_EVENTS 512
#define BENCH_FD_SLACK 64     /* fds besides the connections */
#define BENCH_SHARD_AGENTS 32 /* agents per curl multi handle */

#define USEC_PER_SEC INT64_C(1000000)
#define USEC_PER_MSEC INT64_C(1000)

static const char submit_body[] = "{\"type\":\"node.facts\",\"params\":{}}";

struct bench_opts {
	const char *api_url;       /* https://127.0.0.1:PORT, no trailing '/' */
	const char *gateway_url;   /* https://127.0.0.1:PORT */
	const char *ca_file;       /* controller CA (<state_dir>/ca.pem) */
	const char *token_file;    /* admin token (<state_dir>/admin.token) */
	const char *name_prefix;   /* node names are <prefix><i>, i from 1 */
	const char *fsync_dir;     /* where to time fdatasync (the state dir), or NULL */
	int64_t agents;            /* N simulated agents */
	int64_t jobs;              /* M jobs per run */
	int64_t rate;              /* submissions per second */
	int64_t runs;              /* dispatch runs (median is reported) */
	int64_t wait_s;            /* long-poll wait asked of the gateway */
	int64_t parallel;          /* keep-alive connections for setup */
	int64_t submitters;        /* submit requests in flight at most */
	int64_t connect_batch;     /* agents connecting at once at most */
	int64_t connect_timeout_s; /* give up waiting for all agents after this */
	int64_t drain_timeout_s;   /* give up waiting for undelivered jobs after this */
	int64_t pid;               /* controller pid for /proc figures, 0 = none */
	int64_t seed;              /* random target choice, for repeatable runs */
};

/* A response body with a hard maximum. */
struct buf {
	char *data; /* NUL-terminated, heap */
	size_t len; /* bytes held, without the NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* refuse bodies longer than this */
};

enum req_kind {
	REQ_AGENT,
	REQ_SETUP,
	REQ_SUBMIT,
	REQ_PEER,
};

struct bench;

/* One curl multi handle and its timer.  Shard 0 carries the API requests
 * (setup, submissions, the peer); the others carry the agents. */
struct shard {
	struct bench *b;     /* back pointer for callbacks */
	CURLM *multi;        /* the handle */
	uint32_t index;      /* in bench.shards, also in epoll data */
	int64_t deadline_us; /* curl's timer for this handle, -1 when none */
};

/* What every transfer has; the first member of each owner, so that
 * CURLOPT_PRIVATE leads back to the owner. */
struct req {
	enum req_kind kind;  /* which owner this is embedded in */
	struct bench *b;     /* back pointer for callbacks */
	struct shard *shard; /* the multi handle it runs in */
	CURL *easy;          /* the handle, reused for every request */
	struct buf body;     /* the answer being received */
	int64_t t_add_us;    /* when the handle was added to the multi */
	int64_t t_sent_us;   /* when the request went out (PREREQ), 0 before */
	bool active;         /* in the multi handle now */
};

struct agent {
	struct req req;                      /* first: see struct req */
	char node_id[CAIRN_NODE_ID_MAX + 1]; /* from the enrolment answer */
	char *cert_pem;                      /* node certificate until curl copied it */
	int64_t after;                       /* highest seq received */
	bool connecting;                     /* first poll issued, not yet connected */
	bool connected;                      /* connected at least once */
	bool outstanding;                    /* a poll was sent and not answered */
	uint64_t polls;                      /* polls finished, answered or not */
};

enum setup_step {
	SETUP_CREATE, /* POST /v1/nodes */
	SETUP_ENROLL, /* POST /v1/enroll */
};

struct setup_worker {
	struct req req;       /* first: see struct req */
	int64_t node;         /* agent index being set up, -1 when idle */
	enum setup_step step; /* request in flight or to retry */
	char *join_token;     /* secret, wiped when freed */
	char *post;           /* request body (holds the join token when enrolling) */
	int64_t due_us;       /* retry time after a 429, 0 when none */
};

struct submitter {
	struct req req;        /* first: see struct req */
	int64_t target;        /* agent index, -1 when idle */
	int64_t due_us;        /* retry time after a 429, 0 when none */
	int64_t first_sent_us; /* send time of the first try (stays across 429) */
};

struct peer {
	struct req req; /* first: see struct req */
	bool done;      /* the request finished */
	CURLcode res;   /* its transfer result */
	long code;      /* its HTTP status */
};

/* One job: filled in by the submit answer and by the agent, in any order. */
struct jobrec {
	char jti[UUID_STRING_MAX]; /* "" when the slot is free */
	int run;                   /* run index, -1 until the API answered */
	int64_t t_sent_us;         /* submit request sent */
	int64_t t_ack_us;          /* 201 received */
	int64_t t_recv_us;         /* first receipt by the agent */
	unsigned n_recv;           /* receipts (more than 1 is a duplicate) */
};

struct jobtab {
	struct jobrec *slots; /* open addressing, linear probing */
	size_t cap;           /* power of two */
	size_t used;          /* slots taken */
};

/* Counters since start; runs report differences. */
struct counters {
	uint64_t agent_429;         /* 429 answers to polls */
	uint64_t agent_errors;      /* transport errors on polls */
	uint64_t agent_http_errors; /* other non-200 answers to polls */
	uint64_t agent_bad_answers; /* 200 answers we could not read */
	uint64_t agent_reconnects;  /* connections opened after an agent's first */
	uint64_t jobs_received;     /* JWS received, duplicates included */
	uint64_t jobs_bad;          /* JWS whose payload we could not read */
	uint64_t jobs_untracked;    /* receipts the job table had no room for */
	uint64_t submit_429;        /* 429 answers to submissions */
	uint64_t submit_errors;     /* failed submissions (not retried) */
	uint64_t setup_429;         /* 429 answers during setup */
};

/* Figures of one run; every double is also reported as a median. */
struct run_result {
	double disp_p50, disp_p90, disp_p99, disp_max; /* ms */
	double sub_p50, sub_p99;                       /* ms */
	double peer_p50, peer_p99;                     /* ms, GET /v1/health */
	double fsync_p50, fsync_p99;                   /* ms, write + fdatasync in fsync_dir */
	double acked, received, missing, failed, duplicates;
	double n429, errors, reconnects;
	double ctl_cpu_s, bench_cpu_s;
	double rate;         /* achieved submissions/s */
	double stall_ms;     /* longest pass of our own loop */
	double stall_cpu_ms; /* CPU time used in that pass */
	double rss_kib, hwm_kib;
};

struct bench {
	struct bench_opts o;
	struct shard *shards; /* [0] API, [1..] agents */
	size_t n_shards;
	int epfd;                          /* epoll set of curl's sockets */
	char *auth_header;                 /* "Authorization: Bearer …" (secret) */
	struct curl_slist *api_headers;    /* bearer + JSON content type */
	struct curl_slist *enroll_headers; /* JSON content type only */
	char *key_pem;                     /* the agents' shared private key (secret) */
	char *csr_pem;                     /* CSR for that key */
	struct agent *agents;              /* N */
	int64_t next_start;                /* next agent to issue its first poll */
	int64_t connecting;                /* agents between first poll and connection */
	int64_t connected;                 /* agents connected at least once */
	int64_t outstanding;               /* polls sent and not answered */
	int64_t *heap_due;                 /* min-heap of delayed agents: due time */
	int64_t *heap_idx;                 /*   and agent index */
	size_t heap_len;
	struct setup_worker *workers;
	int64_t setup_next; /* next node to set up */
	int setup_error;    /* first setup failure, 0 when none */
	struct submitter *subs;
	struct peer peer;
	struct jobtab jobs;
	struct counters c;
	uint64_t rng;          /* xorshift64* state */
	int run;               /* current run, -1 outside runs */
	uint64_t run_acked;    /* jobs of this run the API accepted */
	uint64_t run_complete; /* ... and their agents received */
	uint64_t run_failed;   /* jobs of this run whose submission failed */
	int64_t run_first_sent_us, run_last_sent_us;
	int64_t stall_max_us; /* longest pass through the loop, since reset */
	int64_t stall_cpu_us; /* CPU time this process used in that pass */
};

static int64_t cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* xorshift64*: fast and seedable; the choice of target nodes only needs to
 * be spread evenly and repeatable, not secret. */
static uint64_t bench_random(struct bench *b)
{
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return b->rng * UINT64_C(2685821657736338717);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array; NAN when it is empty. */
static double percentile(const double *sorted, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return NAN;
	rank = (size_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

/* Median of n values (sorted in place). */
static double median(double *v, size_t n)
{
	if (n == 0)
		return NAN;
	qsort(v, n, sizeof(double), cmp_double);
	if (n % 2)
		return v[n / 2];
	return (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* --- /proc figures of the controller ------------------------------------ */

/* Reads VmRSS and VmHWM (KiB) of pid.  Returns 0 or -errno. */
static int proc_memory(int64_t pid, int64_t *ret_rss_kib, int64_t *ret_hwm_kib)
{
	_cleanup_free_ char *data = NULL;
	char path[64];
	int64_t rss = -1, hwm = -1;
	const char *p;
	int r;

	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%" PRId64 "/status", pid);
	r = read_file_full(path, BENCH_PROC_MAX, &data, NULL);
	if (r < 0)
		return r;
	for (p = data; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		long long v;

		if (sscanf(p, "VmRSS: %lld kB", &v) == 1)
			rss = v;
		else if (sscanf(p, "VmHWM: %lld kB", &v) == 1)
			hwm = v;
	}
	if (rss < 0 || hwm < 0)
		return -EBADMSG;
	*ret_rss_kib = rss;
	*ret_hwm_kib = hwm;
	return 0;
}

/* Reads utime + stime of pid in seconds.  Returns 0 or -errno. */
static int proc_cpu(int64_t pid, double *ret_s)
{
	_cleanup_free_ char *data = NULL;
	unsigned long long utime, stime;
	char path[64];
	const char *p;
	long tck;
	int r;

	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%" PRId64 "/stat", pid);
	r = read_file_full(path, BENCH_PROC_MAX, &data, NULL);
	if (r < 0)
		return r;
	/* The command name may hold spaces and ')': fields count from the
	 * last ')'.  After it come state (3) … utime (14) and stime (15). */
	p = strrchr(data, ')');
	if (!p)
		return -EBADMSG;
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
	           &stime) != 2)
		return -EBADMSG;
	tck = sysconf(_SC_CLK_TCK);
	if (tck <= 0)
		return -EINVAL;
	*ret_s = (double)(utime + stime) / (double)tck;
	return 0;
}

static double self_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return NAN;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* --- job table ----------------------------------------------------------- */

static int jobtab_init(struct jobtab *t, size_t expected)
{
	size_t cap = 16;

	while (cap < expected * 2 && cap < (SIZE_MAX >> 2))
		cap <<= 1;
	t->slots = calloc(cap, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->cap = cap;
	t->used = 0;
	return 0;
}

/* Finds the record for jti, creating it when absent.  Returns NULL when
 * the table is full (the caller counts the job as untracked). */
static struct jobrec *jobtab_get(struct jobtab *t, const char *jti)
{
	uint64_t h = UINT64_C(14695981039346656037);
	size_t i;

	for (const char *p = jti; *p; p++)
		h = (h ^ (unsigned char)*p) * UINT64_C(1099511628211);
	for (i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		struct jobrec *rec = &t->slots[i];

		if (rec->jti[0] == '\0') {
			/* Keep a quarter free so that probes stay short. */
			if (t->used + 1 > t->cap - t->cap / 4)
				return NULL;
			memcpy(rec->jti, jti, UUID_STRING_MAX);
			rec->run = -1;
			t->used++;
			return rec;
		}
		if (streq(rec->jti, jti))
			return rec;
	}
}

/* The job `rec` now has both its send time and its receipt. */
static void jobrec_check_complete(struct bench *b, struct jobrec *rec)
{
	if (rec->run >= 0 && rec->run == b->run && rec->t_ack_us > 0 && rec->n_recv > 0)
		b->run_complete++;
}

/* --- transfers ------------------------------------------------------------ */

static size_t req_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buf *buf = userdata;
	size_t n = size * nmemb;

	/* Returning less than n makes curl end the transfer with
	 * CURLE_WRITE_ERROR: an answer over the maximum is an error. */
	if (n > buf->max - buf->len)
		return 0;
	if (buf->len + n + 1 > buf->cap) {
		size_t cap = MAX(buf->cap * 2, buf->len + n + 1);
		char *p;

		cap = MIN(cap, buf->max + 1);
		p = realloc(buf->data, cap);
		if (!p)
			return 0;
		buf->data = p;
		buf->cap = cap;
	}
	memcpy(buf->data + buf->len, ptr, n);
	buf->len += n;
	buf->data[buf->len] = '\0';
	return n;
}

/* Called once the connection is up (new or reused), just before the
 * request is sent: the moment a request "was sent". */
static int req_prereq(void *clientp, char *primary_ip, char *local_ip, int primary_port,
                      int local_port)
{
	struct req *rq = clientp;
	struct bench *b = rq->b;

	rq->t_sent_us = mono_us();
	if (rq->kind == REQ_AGENT) {
		struct agent *a = (struct agent *)rq;

		if (a->connecting) {
			a->connecting = false;
			b->connecting--;
		}
		if (!a->connected) {
			a->connected = true;
			b->connected++;
		}
		if (!a->outstanding) {
			a->outstanding = true;
			b->outstanding++;
		}
	}
	return CURL_PREREQFUNC_OK;
}

/* Sockets are made close-on-exec like every other fd of ours. */
static curl_socket_t req_open_socket(void *clientp, curlsocktype purpose,
                                     struct curl_sockaddr *address)
{
	return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

/* Makes rq's easy handle, to run in `shard`, with the options every
 * request shares.
 * Returns 0 or -errno. */
static int req_init(struct bench *b, struct req *rq, struct shard *shard, enum req_kind kind,
                    size_t body_max, int64_t timeout_ms)
{
	rq->kind = kind;
	rq->b = b;
	rq->shard = shard;
	rq->body.max = body_max;
	rq->easy = curl_easy_init();
	if (!rq->easy)
		return -ENOMEM;
	if (curl_easy_setopt(rq->easy, CURLOPT_PRIVATE, rq) != CURLE_OK ||
	    curl_easy_setopt(rq->easy, CURLOPT_WRITEFUNCTION, req_write) != CURLE_OK ||
	    curl_easy_setopt(rq->easy, CURLOPT_WRITEDATA, &rq->body) != CURLE_OK ||
	    curl_easy_setopt(rq->easy, CURLOPT_PREREQFUNCTION, req_prereq) != CURLE_OK ||
	    curl_easy_setopt(rq->easy, CURLOPT_PREREQDATA, rq) != CURLE_OK ||
	    curl_easy_setopt(rq->easy, CURLOPT_OPENSOCKETFUNCTION, req_open_socket) != CURLE_OK ||
	    curl_easy_setopt(rq->easy, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(rq->easy, CURLOPT_CAINFO, b->o.ca_file) != CURLE_OK ||
	    curl_easy_setopt(rq->easy, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(rq->easy, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(rq->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) !=
	            CURLE_OK ||
	    curl_easy_setopt(rq->easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(rq->easy, CURLOPT_CONNECTTIMEOUT_MS, 60000L) != CURLE_OK ||
	    curl_easy_setopt(rq->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms) != CURLE_OK)
		return -EINVAL;
	return 0;
}

/* Adds rq to the multi handle with an empty body.  Returns 0 or -EIO. */
static int req_start(struct bench *b, struct req *rq)
{
	rq->body.len = 0;
	if (rq->body.data)
		rq->body.data[0] = '\0';
	rq->t_sent_us = 0;
	rq->t_add_us = mono_us();
	if (curl_multi_add_handle(rq->shard->multi, rq->easy) != CURLM_OK)
		return -EIO;
	rq->active = true;
	return 0;
}

static void req_stop(struct bench *b, struct req *rq)
{
	if (rq->active)
		curl_multi_remove_handle(rq->shard->multi, rq->easy);
	rq->active = false;
}

static void req_done(struct bench *b, struct req *rq)
{
	req_stop(b, rq);
	curl_easy_cleanup(rq->easy);
	rq->easy = NULL;
	free(rq->body.data);
	rq->body.data = NULL;
}

static int64_t req_retry_after_us(struct req *rq)
{
	curl_off_t s = 0;

	if (curl_easy_getinfo(rq->easy, CURLINFO_RETRY_AFTER, &s) != CURLE_OK || s <= 0)
		s = 1;
	if (s > 3600)
		s = 3600;
	return (int64_t)s * USEC_PER_SEC;
}

/* Prints what a refusal said (problem title and detail), short. */
static void req_print_problem(struct req *rq, const char *what, long code)
{
	_cleanup_json_ json_t *doc = NULL;
	const char *title = NULL, *detail = NULL;

	if (rq->body.data && rq->body.len > 0)
		doc = json_loadb(rq->body.data, rq->body.len, 0, NULL);
	if (json_is_object(doc)) {
		title = json_string_value(json_object_get(doc, "title"));
		detail = json_string_value(json_object_get(doc, "detail"));
	}
	fprintf(stderr, "bench-dispatch: %s: HTTP %ld %s%s%.*s\n", what, code, title ? title : "",
	        detail ? ": " : "", BENCH_DETAIL_MAX, detail ? detail : "");
}

/* --- event loop ------------------------------------------------------------ */

/* epoll data: the shard in the high half, the socket in the low half.  An
 * event for a socket that curl closed while this batch was handled then
 * names a socket its multi handle no longer knows, which curl ignores. */
static uint64_t sock_key(const struct shard *sh, curl_socket_t s)
{
	return (uint64_t)sh->index << 32 | (uint32_t)s;
}

static int bench_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct shard *sh = userp;
	struct epoll_event ev = {.data.u64 = sock_key(sh, s)};
	int epfd = sh->b->epfd;

	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev) < 0) {
		if (errno != ENOENT || epoll_ctl(epfd, EPOLL_CTL_ADD, s, &ev) < 0)
			return -1;
	}
	return 0;
}

static int bench_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct shard *sh = userp;

	sh->deadline_us = timeout_ms < 0 ? -1 : mono_us() + (int64_t)timeout_ms * USEC_PER_MSEC;
	return 0;
}

/* Delay heap of agents, keyed by due time. */
static void heap_push(struct bench *b, int64_t due, int64_t idx)
{
	size_t i = b->heap_len++;

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (b->heap_due[parent] <= due)
			break;
		b->heap_due[i] = b->heap_due[parent];
		b->heap_idx[i] = b->heap_idx[parent];
		i = parent;
	}
	b->heap_due[i] = due;
	b->heap_idx[i] = idx;
}

static int64_t heap_pop(struct bench *b)
{
	int64_t top = b->heap_idx[0], due, idx;
	size_t i = 0, n;

	n = --b->heap_len;
	if (n == 0)
		return top;
	due = b->heap_due[n];
	idx = b->heap_idx[n];
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && b->heap_due[c + 1] < b->heap_due[c])
			c++;
		if (b->heap_due[c] >= due)
			break;
		b->heap_due[i] = b->heap_due[c];
		b->heap_idx[i] = b->heap_idx[c];
		i = c;
	}
	b->heap_due[i] = due;
	b->heap_idx[i] = idx;
	return top;
}

static void agent_done(struct bench *b, struct agent *a, CURLcode res);
static void setup_done(struct bench *b, struct setup_worker *w, CURLcode res);
static void submit_done(struct bench *b, struct submitter *s, CURLcode res);
static int agent_poll(struct bench *b, struct agent *a);
static void setup_send(struct bench *b, struct setup_worker *w);
static void submit_send(struct bench *b, struct submitter *s);

/* Hands the shard's finished transfers to their owners. */
static void shard_collect(struct bench *b, struct shard *sh)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(sh->multi, &left))) {
		CURL *easy = msg->easy_handle;
		CURLcode res = msg->data.result;
		char *priv = NULL;
		struct req *rq;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		rq = (struct req *)(void *)priv;
		if (!rq)
			continue;
		switch (rq->kind) {
		case REQ_AGENT:
			agent_done(b, (struct agent *)rq, res);
			break;
		case REQ_SETUP:
			setup_done(b, (struct setup_worker *)rq, res);
			break;
		case REQ_SUBMIT:
			submit_done(b, (struct submitter *)rq, res);
			break;
		case REQ_PEER: {
			struct peer *p = (struct peer *)rq;

			p->res = res;
			p->code = 0;
			curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &p->code);
			req_stop(b, rq);
			p->done = true;
			break;
		}
		}
	}
}

static void bench_collect(struct bench *b)
{
	for (size_t k = 0; k < b->n_shards; k++)
		shard_collect(b, &b->shards[k]);
}

/* Starts the polls, setup requests and submissions whose delay is over. */
static void bench_wake(struct bench *b, int64_t now)
{
	while (b->heap_len > 0 && b->heap_due[0] <= now) {
		struct agent *a = &b->agents[heap_pop(b)];

		agent_poll(b, a);
	}
	for (int64_t i = 0; b->workers && i < b->o.parallel; i++) {
		struct setup_worker *w = &b->workers[i];

		if (w->node >= 0 && !w->req.active && w->due_us > 0 && w->due_us <= now) {
			w->due_us = 0;
			setup_send(b, w);
		}
	}
	for (int64_t i = 0; b->subs && i < b->o.submitters; i++) {
		struct submitter *s = &b->subs[i];

		if (s->target >= 0 && !s->req.active && s->due_us > 0 && s->due_us <= now) {
			s->due_us = 0;
			submit_send(b, s);
		}
	}
}

/* Waits at most max_wait_us for socket events, lets curl act on them and
 * on its timer, and hands out the results. */
static void bench_step(struct bench *b, int64_t max_wait_us)
{
	struct epoll_event ev[BENCH_EPOLL_EVENTS];
	int64_t now = mono_us(), wait = MAX(max_wait_us, 0), t_wake, c_wake;
	int n, running;

	for (size_t k = 0; k < b->n_shards; k++)
		if (b->shards[k].deadline_us >= 0)
			wait = MIN(wait, MAX(b->shards[k].deadline_us - now, 0));
	if (b->heap_len > 0)
		wait = MIN(wait, MAX(b->heap_due[0] - now, 0));
	n = epoll_wait(b->epfd, ev, (int)ELEMENTSOF(ev), (int)((wait + 999) / 1000));
	t_wake = mono_us();
	c_wake = cpu_us();
	for (int i = 0; i < n; i++) {
		uint32_t k = (uint32_t)(ev[i].data.u64 >> 32);
		curl_socket_t fd = (curl_socket_t)(uint32_t)ev[i].data.u64;
		int flags = 0;

		if (k >= b->n_shards)
			continue;
		if (ev[i].events & EPOLLIN)
			flags |= CURL_CSELECT_IN;
		if (ev[i].events & EPOLLOUT)
			flags |= CURL_CSELECT_OUT;
		if (ev[i].events & (EPOLLERR | EPOLLHUP))
			flags |= CURL_CSELECT_ERR;
		curl_multi_socket_action(b->shards[k].multi, fd, flags, &running);
	}
	now = mono_us();
	for (size_t k = 0; k < b->n_shards; k++) {
		struct shard *sh = &b->shards[k];

		if (sh->deadline_us >= 0 && sh->deadline_us <= now) {
			/* Clear first: the call may set a new timer. */
			sh->deadline_us = -1;
			curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		}
	}
	bench_collect(b);
	bench_wake(b, mono_us());
	/* Our own time between two waits: every event that arrived meanwhile
	 * is timed late by up to this much, so it bounds our share of the
	 * latencies measured.  Its CPU time tells work (CPU ≈ wall) from
	 * waiting for a core the controller holds (CPU << wall). */
	now = mono_us();
	if (now - t_wake > b->stall_max_us) {
		b->stall_max_us = now - t_wake;
		b->stall_cpu_us = cpu_us() - c_wake;
	}
}

/* Keeps the loop going for `us` microseconds. */
static void bench_idle(struct bench *b, int64_t us)
{
	int64_t end = mono_us() + us;

	for (int64_t now = mono_us(); now < end; now = mono_us())
		bench_step(b, end - now);
}

/* --- simulated agents ---------------------------------------------------- */

/* Reads jti and seq from a compact JWS's payload (the middle segment).
 * The signature is not checked: the bench measures delivery only.
 * Returns 0 or -EBADMSG. */
static int job_read(const char *jws, size_t len, char ret_jti[static UUID_STRING_MAX],
                    int64_t *ret_seq)
{
	_cleanup_free_ unsigned char *raw = NULL;
	_cleanup_json_ json_t *payload = NULL;
	const char *d1, *d2, *jti;
	json_t *seq;
	size_t raw_len;

	d1 = memchr(jws, '.', len);
	if (!d1)
		return -EBADMSG;
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jws));
	if (!d2)
		return -EBADMSG;
	if (b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &raw, &raw_len) < 0)
		return -EBADMSG;
	payload = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(payload))
		return -EBADMSG;
	jti = json_string_value(json_object_get(payload, "jti"));
	seq = json_object_get(payload, "seq");
	if (!jti || !uuid_is_valid(jti) || !json_is_integer(seq) || json_integer_value(seq) < 1)
		return -EBADMSG;
	memcpy(ret_jti, jti, UUID_STRING_MAX);
	*ret_seq = json_integer_value(seq);
	return 0;
}

/* Takes the jobs out of a 200 pull answer.  Returns 0 and the answer's
 * next_poll_s, or -EBADMSG. */
static int agent_take_jobs(struct bench *b, struct agent *a, int64_t now, int64_t *ret_next_poll_s)
{
	_cleanup_json_ json_t *doc = NULL;
	json_t *jobs, *next, *v;
	int64_t next_poll_s = 0;
	size_t i;

	doc = json_loadb(a->req.body.data ? a->req.body.data : "", a->req.body.len, 0, NULL);
	if (!json_is_object(doc))
		return -EBADMSG;
	jobs = json_object_get(doc, "jobs");
	if (!json_is_array(jobs))
		return -EBADMSG;
	next = json_object_get(doc, "next_poll_s");
	if (json_is_integer(next))
		next_poll_s = MIN(MAX(json_integer_value(next), 0), 3600);
	json_array_foreach(jobs, i, v)
	{
		char jti[UUID_STRING_MAX];
		struct jobrec *rec;
		int64_t seq;

		b->c.jobs_received++;
		if (!json_is_string(v) ||
		    job_read(json_string_value(v), json_string_length(v), jti, &seq) < 0) {
			b->c.jobs_bad++;
			continue;
		}
		if (seq > a->after)
			a->after = seq;
		rec = jobtab_get(&b->jobs, jti);
		if (!rec) {
			b->c.jobs_untracked++;
			continue;
		}
		if (rec->n_recv++ == 0) {
			rec->t_recv_us = now;
			jobrec_check_complete(b, rec);
		}
	}
	*ret_next_poll_s = next_poll_s;
	return 0;
}

/* Issues the agent's next long poll.  Returns 0 or -errno. */
static int agent_poll(struct bench *b, struct agent *a)
{
	char url[BENCH_URL_MAX];
	int64_t wait = b->o.wait_s;
	int n, r;

	/* The first poll waits a random 1…wait s: agents that all connected
	 * within a few seconds would otherwise come back in one wave every
	 * `wait` seconds, which real agents, started at random times, do
	 * not.  After it, each agent re-polls on its own phase. */
	if (a->polls == 0 && wait > 1)
		wait = 1 + (int64_t)(bench_random(b) % (uint64_t)wait);
	n = snprintf(url, sizeof(url), "%s%s?after=%" PRId64 "&wait=%" PRId64, b->o.gateway_url,
	             CAIRN_PATH_AGENT_JOBS, a->after, wait);
	if (n < 0 || (size_t)n >= sizeof(url))
		return -ENAMETOOLONG;
	if (curl_easy_setopt(a->req.easy, CURLOPT_URL, url) != CURLE_OK)
		return -EINVAL;
	r = req_start(b, &a->req);
	if (r < 0) {
		fprintf(stderr, "bench-dispatch: cannot add poll of %s%td\n", b->o.name_prefix,
		        a - b->agents + 1);
		return r;
	}
	return 0;
}

static void agent_delay(struct bench *b, struct agent *a, int64_t us)
{
	heap_push(b, mono_us() + us, a - b->agents);
}

/* After an error: about a second, spread so that agents do not return in
 * step. */
static int64_t agent_backoff_us(struct bench *b)
{
	return USEC_PER_SEC / 2 + (int64_t)(bench_random(b) % (uint64_t)USEC_PER_SEC);
}

static void agent_done(struct bench *b, struct agent *a, CURLcode res)
{
	int64_t now = mono_us(), next_poll_s = 0;
	long code = 0, nconn = 0;

	curl_easy_getinfo(a->req.easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(a->req.easy, CURLINFO_NUM_CONNECTS, &nconn);
	/* The first poll opens the agent's connection; a new one later means
	 * the controller (or a timeout) closed it. */
	if (a->polls++ > 0 && nconn > 0)
		b->c.agent_reconnects += (uint64_t)nconn;
	if (a->outstanding) {
		a->outstanding = false;
		b->outstanding--;
	}
	if (a->connecting) {
		a->connecting = false;
		b->connecting--;
	}
	req_stop(b, &a->req);

	if (res != CURLE_OK) {
		b->c.agent_errors++;
		agent_delay(b, a, agent_backoff_us(b));
		return;
	}
	if (code == 429) {
		b->c.agent_429++;
		agent_delay(b, a, req_retry_after_us(&a->req));
		return;
	}
	if (code != 200) {
		b->c.agent_http_errors++;
		agent_delay(b, a, agent_backoff_us(b));
		return;
	}
	if (agent_take_jobs(b, a, now, &next_poll_s) < 0) {
		b->c.agent_bad_answers++;
		agent_delay(b, a, agent_backoff_us(b));
		return;
	}
	if (next_poll_s > 0)
		agent_delay(b, a, next_poll_s * USEC_PER_SEC);
	else
		agent_poll(b, a);
}

/* Makes the agent's handle with its own certificate.  Returns 0 or -errno. */
static int agent_init(struct bench *b, struct agent *a)
{
	struct curl_blob cert = {
	        .data = a->cert_pem,
	        .len = strlen(a->cert_pem),
	        .flags = CURL_BLOB_COPY,
	};
	struct curl_blob key = {
	        .data = b->key_pem,
	        .len = strlen(b->key_pem),
	        .flags = CURL_BLOB_COPY,
	};
	int r;

	/* Agent i runs in shard 1 + i % (shards - 1), so that the ramp fills
	 * them evenly. */
	r = req_init(b, &a->req, &b->shards[1 + (size_t)(a - b->agents) % (b->n_shards - 1)],
	             REQ_AGENT, BENCH_PULL_BODY_MAX, (b->o.wait_s + 30) * 1000);
	if (r < 0)
		return r;
	if (curl_easy_setopt(a->req.easy, CURLOPT_SSLCERT_BLOB, &cert) != CURLE_OK ||
	    curl_easy_setopt(a->req.easy, CURLOPT_SSLCERTTYPE, "PEM") != CURLE_OK ||
	    curl_easy_setopt(a->req.easy, CURLOPT_SSLKEY_BLOB, &key) != CURLE_OK ||
	    curl_easy_setopt(a->req.easy, CURLOPT_SSLKEYTYPE, "PEM") != CURLE_OK)
		return -EINVAL;
	/* curl holds its own copy now. */
	free(a->cert_pem);
	a->cert_pem = NULL;
	return 0;
}

/* Issues first polls while fewer than connect_batch agents are still
 * connecting, so that the controller sees a ramp rather than N handshakes
 * at once (a SYN backlog overflow would measure the kernel, not us). */
static void agents_ramp(struct bench *b)
{
	while (b->next_start < b->o.agents && b->connecting < b->o.connect_batch) {
		struct agent *a = &b->agents[b->next_start++];

		a->connecting = true;
		b->connecting++;
		if (agent_poll(b, a) < 0) {
			a->connecting = false;
			b->connecting--;
		}
	}
}

/* --- setup: node slots and enrolment ------------------------------------- */

static void setup_fail(struct bench *b, int r)
{
	if (b->setup_error == 0)
		b->setup_error = r < 0 ? r : -EIO;
}

static void setup_clear(struct setup_worker *w)
{
	freezero_strp(&w->join_token);
	w->join_token = NULL;
	freezero_strp(&w->post);
	w->post = NULL;
}

/* Ends the worker's part: setup has failed, the others stop too. */
static void setup_abort(struct bench *b, struct setup_worker *w, int r)
{
	setup_clear(w);
	w->node = -1;
	setup_fail(b, r);
}

static void setup_send(struct bench *b, struct setup_worker *w)
{
	char url[BENCH_URL_MAX];
	_cleanup_json_ json_t *body = NULL;
	struct curl_slist *headers;
	int n;

	freezero_strp(&w->post);
	w->post = NULL;
	if (w->step == SETUP_CREATE) {
		char name[CAIRN_NODE_NAME_MAX + 1];

		n = snprintf(name, sizeof(name), "%s%" PRId64, b->o.name_prefix, w->node + 1);
		if (n < 0 || (size_t)n >= sizeof(name)) {
			setup_abort(b, w, -ENAMETOOLONG);
			return;
		}
		body = json_pack("{s:s}", "name", name);
		n = snprintf(url, sizeof(url), "%s%s", b->o.api_url, CAIRN_PATH_NODES);
		headers = b->api_headers;
	} else {
		body = json_pack("{s:s,s:s}", "join_token", w->join_token, "csr", b->csr_pem);
		n = snprintf(url, sizeof(url), "%s%s", b->o.api_url, CAIRN_PATH_ENROLL);
		headers = b->enroll_headers;
	}
	if (n < 0 || (size_t)n >= sizeof(url) || !body) {
		setup_abort(b, w, !body ? -ENOMEM : -ENAMETOOLONG);
		return;
	}
	w->post = json_dumps(body, JSON_COMPACT);
	if (!w->post) {
		setup_abort(b, w, -ENOMEM);
		return;
	}
	/* CURLOPT_POSTFIELDS does not copy: the body stays ours and is
	 * wiped when the step is over (it may hold the join token). */
	if (curl_easy_setopt(w->req.easy, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(w->req.easy, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
	    curl_easy_setopt(w->req.easy, CURLOPT_POSTFIELDSIZE, (long)strlen(w->post)) !=
	            CURLE_OK ||
	    curl_easy_setopt(w->req.easy, CURLOPT_POSTFIELDS, w->post) != CURLE_OK) {
		setup_abort(b, w, -EINVAL);
		return;
	}
	if (req_start(b, &w->req) < 0)
		setup_abort(b, w, -EIO);
}

/* Claims the next node, or leaves the worker idle when none is left. */
static void setup_next(struct bench *b, struct setup_worker *w)
{
	setup_clear(w);
	if (b->setup_error != 0 || b->setup_next >= b->o.agents) {
		w->node = -1;
		return;
	}
	w->node = b->setup_next++;
	w->step = SETUP_CREATE;
	setup_send(b, w);
}

static int setup_take_node(struct bench *b, struct setup_worker *w)
{
	_cleanup_json_ json_t *doc = NULL;
	const char *id, *token;
	struct agent *a = &b->agents[w->node];

	doc = json_loadb(w->req.body.data ? w->req.body.data : "", w->req.body.len, 0, NULL);
	id = json_string_value(json_object_get(doc, "id"));
	token = json_string_value(json_object_get(doc, "join_token"));
	if (!id || !uuid_is_valid(id) || strlen(id) > CAIRN_NODE_ID_MAX || !token ||
	    strlen(token) > CAIRN_TOKEN_MAX) {
		if (w->req.body.data)
			explicit_bzero(w->req.body.data, w->req.body.len);
		return -EBADMSG;
	}
	memcpy(a->node_id, id, strlen(id) + 1);
	w->join_token = strdup(token);
	/* The answer held the join token: wipe it where it was received. */
	explicit_bzero(w->req.body.data, w->req.body.len);
	return w->join_token ? 0 : -ENOMEM;
}

static int setup_take_cert(struct bench *b, struct setup_worker *w)
{
	_cleanup_json_ json_t *doc = NULL;
	struct agent *a = &b->agents[w->node];
	const char *id, *cert;

	doc = json_loadb(w->req.body.data ? w->req.body.data : "", w->req.body.len, 0, NULL);
	id = json_string_value(json_object_get(doc, "node_id"));
	cert = json_string_value(json_object_get(doc, "cert"));
	if (!id || !streq(id, a->node_id) || !cert || strlen(cert) > CAIRN_CSR_MAX_BYTES)
		return -EBADMSG;
	a->cert_pem = strdup(cert);
	return a->cert_pem ? 0 : -ENOMEM;
}

static void setup_done(struct bench *b, struct setup_worker *w, CURLcode res)
{
	const char *what = w->step == SETUP_CREATE ? "POST /v1/nodes" : "POST /v1/enroll";
	long code = 0;
	int r;

	curl_easy_getinfo(w->req.easy, CURLINFO_RESPONSE_CODE, &code);
	req_stop(b, &w->req);
	if (res != CURLE_OK) {
		fprintf(stderr, "bench-dispatch: %s for %s%" PRId64 ": %s\n", what,
		        b->o.name_prefix, w->node + 1, curl_easy_strerror(res));
		setup_abort(b, w, -EIO);
		return;
	}
	if (code == 429) {
		b->c.setup_429++;
		w->due_us = mono_us() + req_retry_after_us(&w->req);
		return;
	}
	if (w->step == SETUP_CREATE && code == 201) {
		r = setup_take_node(b, w);
		if (r < 0) {
			fprintf(stderr, "bench-dispatch: %s: unreadable answer\n", what);
			setup_abort(b, w, r);
			return;
		}
		w->step = SETUP_ENROLL;
		setup_send(b, w);
		return;
	}
	if (w->step == SETUP_ENROLL && code == 200) {
		r = setup_take_cert(b, w);
		if (r < 0) {
			fprintf(stderr, "bench-dispatch: %s: unreadable answer\n", what);
			setup_abort(b, w, r);
			return;
		}
		setup_next(b, w);
		return;
	}
	req_print_problem(&w->req, what, code);
	setup_abort(b, w, -EPROTO);
}

/* Creates and enrols every node with `parallel` keep-alive connections.
 * Returns 0 or the first failure. */
static int bench_setup(struct bench *b, double *ret_s)
{
	int64_t t0 = mono_us();
	bool busy = true;
	int r;

	b->workers = calloc((size_t)b->o.parallel, sizeof(*b->workers));
	if (!b->workers)
		return -ENOMEM;
	for (int64_t i = 0; i < b->o.parallel; i++) {
		b->workers[i].node = -1;
		r = req_init(b, &b->workers[i].req, &b->shards[0], REQ_SETUP, BENCH_API_BODY_MAX,
		             60000);
		if (r < 0)
			return r;
	}
	for (int64_t i = 0; i < b->o.parallel; i++)
		setup_next(b, &b->workers[i]);
	while (busy) {
		bench_step(b, 100 * USEC_PER_MSEC);
		busy = false;
		for (int64_t i = 0; i < b->o.parallel; i++)
			if (b->workers[i].node >= 0)
				busy = true;
	}
	for (int64_t i = 0; i < b->o.parallel; i++) {
		setup_clear(&b->workers[i]);
		req_done(b, &b->workers[i].req);
	}
	free(b->workers);
	b->workers = NULL;
	if (b->setup_error != 0)
		return b->setup_error;
	*ret_s = (double)(mono_us() - t0) / 1e6;
	return 0;
}

/* --- submissions ------------------------------------------------------------ */

static void submit_send(struct bench *b, struct submitter *s)
{
	char url[BENCH_URL_MAX];
	int n;

	n = snprintf(url, sizeof(url), "%s%s/%s/jobs", b->o.api_url, CAIRN_PATH_NODES,
	             b->agents[s->target].node_id);
	if (n < 0 || (size_t)n >= sizeof(url) ||
	    curl_easy_setopt(s->req.easy, CURLOPT_URL, url) != CURLE_OK ||
	    req_start(b, &s->req) < 0) {
		b->c.submit_errors++;
		b->run_failed++;
		s->target = -1;
	}
}

static void submit_done(struct bench *b, struct submitter *s, CURLcode res)
{
	_cleanup_json_ json_t *doc = NULL;
	int64_t now = mono_us(), sent;
	struct jobrec *rec;
	const char *id;
	long code = 0;

	curl_easy_getinfo(s->req.easy, CURLINFO_RESPONSE_CODE, &code);
	req_stop(b, &s->req);
	/* PREREQ marks the send; a request that never got a connection has
	 * only its add time. */
	sent = s->req.t_sent_us > 0 ? s->req.t_sent_us : s->req.t_add_us;
	if (s->first_sent_us == 0)
		s->first_sent_us = sent;
	if (res == CURLE_OK && code == 429) {
		b->c.submit_429++;
		s->due_us = now + req_retry_after_us(&s->req);
		return;
	}
	if (res != CURLE_OK || code != 201) {
		b->c.submit_errors++;
		b->run_failed++;
		if (res != CURLE_OK)
			fprintf(stderr, "bench-dispatch: submit: %s\n", curl_easy_strerror(res));
		else
			req_print_problem(&s->req, "submit", code);
		s->target = -1;
		return;
	}
	doc = json_loadb(s->req.body.data ? s->req.body.data : "", s->req.body.len, 0, NULL);
	id = json_string_value(json_object_get(doc, "id"));
	if (!id || !uuid_is_valid(id) || strlen(id) != UUID_STRING_MAX - 1) {
		b->c.submit_errors++;
		b->run_failed++;
		s->target = -1;
		return;
	}
	rec = jobtab_get(&b->jobs, id);
	if (!rec) {
		b->c.jobs_untracked++;
		b->run_failed++;
		s->target = -1;
		return;
	}
	/* Latency is counted from the last try, the one that made the job;
	 * a 429 before it shows in the 429 count. */
	rec->run = b->run;
	rec->t_sent_us = sent;
	rec->t_ack_us = now;
	b->run_acked++;
	if (rec->n_recv > 0)
		jobrec_check_complete(b, rec);
	if (b->run_first_sent_us == 0 || s->first_sent_us < b->run_first_sent_us)
		b->run_first_sent_us = s->first_sent_us;
	b->run_last_sent_us = MAX(b->run_last_sent_us, sent);
	s->target = -1;
}

static struct submitter *submitter_free(struct bench *b)
{
	for (int64_t i = 0; i < b->o.submitters; i++)
		if (b->subs[i].target < 0)
			return &b->subs[i];
	return NULL;
}

static bool submitters_busy(struct bench *b)
{
	for (int64_t i = 0; i < b->o.submitters; i++)
		if (b->subs[i].target >= 0)
			return true;
	return false;
}

/* --- phases -------------------------------------------------------------- */

/* Issues every agent's first poll, ramped, and waits until every agent
 * has connected (or the connect timeout).  Returns the time it took. */
static double bench_connect(struct bench *b)
{
	int64_t t0 = mono_us(), deadline = t0 + b->o.connect_timeout_s * USEC_PER_SEC, done;

	while (mono_us() < deadline) {
		agents_ramp(b);
		if (b->next_start == b->o.agents && b->connected == b->o.agents)
			break;
		bench_step(b, 50 * USEC_PER_MSEC);
	}
	done = mono_us();
	if (b->connected < b->o.agents)
		fprintf(stderr,
		        "bench-dispatch: after %" PRId64 " s only %" PRId64 " of %" PRId64
		        " agents have connected (%" PRId64 " polls outstanding)\n",
		        b->o.connect_timeout_s, b->connected, b->o.agents, b->outstanding);
	return (double)(done - t0) / 1e6;
}

/* Waits (up to 10 s) until every connected agent has a poll outstanding,
 * then one more second so that the controller has suspended them all. */
static void bench_settle(struct bench *b)
{
	int64_t deadline = mono_us() + 10 * USEC_PER_SEC;

	while (b->outstanding < b->connected && mono_us() < deadline)
		bench_step(b, 50 * USEC_PER_MSEC);
	bench_idle(b, USEC_PER_SEC);
}

/* The peer: GET /v1/health one after another on one keep-alive TLS
 * connection to the same controller, with the N polls open.  Dispatch
 * latency is printed as a ratio to this plain request's latency. */
static int bench_peer(struct bench *b, double *ret_p50, double *ret_p99)
{
	_cleanup_free_ double *lat = NULL;
	char url[BENCH_URL_MAX];
	size_t n = 0;
	int k;

	lat = calloc(BENCH_PEER_REQUESTS, sizeof(double));
	if (!lat)
		return -ENOMEM;
	k = snprintf(url, sizeof(url), "%s%s", b->o.api_url, CAIRN_PATH_HEALTH);
	if (k < 0 || (size_t)k >= sizeof(url) ||
	    curl_easy_setopt(b->peer.req.easy, CURLOPT_URL, url) != CURLE_OK)
		return -EINVAL;
	for (int i = 0; i < BENCH_PEER_REQUESTS; i++) {
		b->peer.done = false;
		if (req_start(b, &b->peer.req) < 0)
			return -EIO;
		while (!b->peer.done)
			bench_step(b, 100 * USEC_PER_MSEC);
		/* The first request pays the handshake: not a sample. */
		if (i == 0)
			continue;
		if (b->peer.res == CURLE_OK && b->peer.code == 200 && b->peer.req.t_sent_us > 0)
			lat[n++] = (double)(mono_us() - b->peer.req.t_sent_us) / 1e3;
	}
	qsort(lat, n, sizeof(double), cmp_double);
	*ret_p50 = percentile(lat, n, 50);
	*ret_p99 = percentile(lat, n, 99);
	return 0;
}

/* The storage peer: every job the controller dispatches costs it at least
 * one durable commit, so the time a 4 KiB write + fdatasync takes on the
 * state directory's file system, measured in the same run, tells how much
 * of the dispatch latency the disk can explain.  NAN without a directory. */
static int fsync_peer(const char *dir, double *ret_p50, double *ret_p99)
{
	_cleanup_close_ int fd = -1;
	char path[BENCH_PATH_MAX], block[4096];
	double lat[BENCH_FSYNC_SAMPLES];
	int n;

	if (!dir) {
		*ret_p50 = *ret_p99 = NAN;
		return 0;
	}
	n = snprintf(path, sizeof(path), "%s/bench-fsync.XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	(void)unlink(path);
	memset(block, 0x5a, sizeof(block));
	for (int i = 0; i < BENCH_FSYNC_SAMPLES; i++) {
		int64_t t0 = mono_us();

		if (pwrite(fd, block, sizeof(block), (off_t)(i % 16) * (off_t)sizeof(block)) !=
		            (ssize_t)sizeof(block) ||
		    fdatasync(fd) < 0)
			return errno ? -errno : -EIO;
		lat[i] = (double)(mono_us() - t0) / 1e3;
	}
	qsort(lat, BENCH_FSYNC_SAMPLES, sizeof(double), cmp_double);
	*ret_p50 = percentile(lat, BENCH_FSYNC_SAMPLES, 50);
	*ret_p99 = percentile(lat, BENCH_FSYNC_SAMPLES, 99);
	return 0;
}

/* One dispatch run: M submissions at the steady rate, then waits until
 * every accepted job reached its agent (or the drain timeout). */
static int bench_run(struct bench *b, int run, const int64_t *targets, size_t n_targets,
                     struct run_result *ret)
{
	struct counters c0 = b->c;
	struct run_result res = {};
	_cleanup_free_ double *disp = NULL, *sub = NULL;
	int64_t t0, now, interval_us, next_job = 0, drain_deadline = -1, rss, hwm;
	double ctl0 = NAN, ctl1 = NAN, self0;
	size_t n_disp = 0, n_sub = 0;
	int r;

	r = fsync_peer(b->o.fsync_dir, &res.fsync_p50, &res.fsync_p99);
	if (r < 0) {
		fprintf(stderr, "bench-dispatch: fsync timing in %s: %s\n", b->o.fsync_dir,
		        strerror(-r));
		return r;
	}
	bench_settle(b);
	r = bench_peer(b, &res.peer_p50, &res.peer_p99);
	if (r < 0)
		return r;
	bench_settle(b);

	b->run = run;
	b->run_acked = b->run_complete = b->run_failed = 0;
	b->run_first_sent_us = b->run_last_sent_us = 0;
	b->stall_max_us = b->stall_cpu_us = 0;
	if (proc_cpu(b->o.pid, &ctl0) < 0)
		ctl0 = NAN;
	self0 = self_cpu_s();
	interval_us = USEC_PER_SEC / b->o.rate;
	t0 = mono_us();
	for (;;) {
		int64_t wait = 100 * USEC_PER_MSEC;

		now = mono_us();
		/* Submit every job whose time has come, as far as submitters
		 * are free; a job that waits for one is late, and the
		 * achieved rate shows it. */
		while (next_job < b->o.jobs && t0 + next_job * interval_us <= now) {
			struct submitter *s = submitter_free(b);

			if (!s)
				break;
			s->target = targets[bench_random(b) % n_targets];
			s->first_sent_us = 0;
			s->due_us = 0;
			submit_send(b, s);
			next_job++;
		}
		if (next_job < b->o.jobs) {
			wait = MIN(wait, MAX(t0 + next_job * interval_us - now, 0));
		} else if (!submitters_busy(b)) {
			if (b->run_complete >= b->run_acked)
				break;
			if (drain_deadline < 0)
				drain_deadline = now + b->o.drain_timeout_s * USEC_PER_SEC;
			else if (now >= drain_deadline)
				break;
		}
		bench_step(b, wait);
	}
	if (proc_cpu(b->o.pid, &ctl1) < 0)
		ctl1 = NAN;
	res.bench_cpu_s = self_cpu_s() - self0;
	res.stall_ms = (double)b->stall_max_us / 1e3;
	res.stall_cpu_ms = (double)b->stall_cpu_us / 1e3;
	res.ctl_cpu_s = ctl1 - ctl0;

	disp = calloc(b->run_acked + 1, sizeof(double));
	sub = calloc(b->run_acked + 1, sizeof(double));
	if (!disp || !sub)
		return -ENOMEM;
	for (size_t i = 0; i < b->jobs.cap; i++) {
		const struct jobrec *rec = &b->jobs.slots[i];

		if (rec->jti[0] == '\0' || rec->run != run)
			continue;
		if (n_sub < b->run_acked)
			sub[n_sub++] = (double)(rec->t_ack_us - rec->t_sent_us) / 1e3;
		if (rec->n_recv > 0 && n_disp < b->run_acked)
			disp[n_disp++] = (double)(rec->t_recv_us - rec->t_sent_us) / 1e3;
		if (rec->n_recv > 1)
			res.duplicates += rec->n_recv - 1;
	}
	qsort(disp, n_disp, sizeof(double), cmp_double);
	qsort(sub, n_sub, sizeof(double), cmp_double);
	res.disp_p50 = percentile(disp, n_disp, 50);
	res.disp_p90 = percentile(disp, n_disp, 90);
	res.disp_p99 = percentile(disp, n_disp, 99);
	res.disp_max = n_disp > 0 ? disp[n_disp - 1] : NAN;
	res.sub_p50 = percentile(sub, n_sub, 50);
	res.sub_p99 = percentile(sub, n_sub, 99);
	res.acked = (double)b->run_acked;
	res.received = (double)n_disp;
	res.missing = (double)(b->run_acked - n_disp);
	res.failed = (double)b->run_failed;
	res.n429 = (double)(b->c.agent_429 - c0.agent_429 + b->c.submit_429 - c0.submit_429);
	res.errors = (double)(b->c.agent_errors - c0.agent_errors + b->c.agent_http_errors -
	                      c0.agent_http_errors + b->c.agent_bad_answers - c0.agent_bad_answers +
	                      b->c.submit_errors - c0.submit_errors + b->c.jobs_bad - c0.jobs_bad);
	res.reconnects = (double)(b->c.agent_reconnects - c0.agent_reconnects);
	res.rate = b->run_last_sent_us > b->run_first_sent_us
	                   ? (res.acked - 1) * 1e6 /
	                             (double)(b->run_last_sent_us - b->run_first_sent_us)
	                   : NAN;
	if (proc_memory(b->o.pid, &rss, &hwm) == 0) {
		res.rss_kib = (double)rss;
		res.hwm_kib = (double)hwm;
	} else {
		res.rss_kib = res.hwm_kib = NAN;
	}
	b->run = -1;
	*ret = res;
	return 0;
}

/* --- report ---------------------------------------------------------------- */

struct field {
	const char *key; /* RESULT key and column head */
	size_t offset;   /* in struct run_result */
	int width;       /* column width */
	int decimals;    /* digits after the point */
};

#define FIELD(k, m, w, d)                                                                          \
	{                                                                                          \
		k, offsetof(struct run_result, m), w, d                                            \
	}
static const struct field fields[] = {
        FIELD("acked", acked, 6, 0),
        FIELD("recv", received, 6, 0),
        FIELD("miss", missing, 5, 0),
        FIELD("fail", failed, 5, 0),
        FIELD("disp_p50_ms", disp_p50, 12, 1),
        FIELD("disp_p90_ms", disp_p90, 12, 1),
        FIELD("disp_p99_ms", disp_p99, 12, 1),
        FIELD("disp_max_ms", disp_max, 12, 1),
        FIELD("sub_p50_ms", sub_p50, 11, 1),
        FIELD("sub_p99_ms", sub_p99, 11, 1),
        FIELD("peer_p50_ms", peer_p50, 12, 2),
        FIELD("fsync_p50_ms", fsync_p50, 13, 2),
        FIELD("fsync_p99_ms", fsync_p99, 13, 2),
        FIELD("rate", rate, 6, 1),
        FIELD("n429", n429, 5, 0),
        FIELD("errors", errors, 7, 0),
        FIELD("reconn", reconnects, 7, 0),
        FIELD("dup", duplicates, 4, 0),
        FIELD("ctl_cpu_s", ctl_cpu_s, 10, 2),
        FIELD("bench_cpu_s", bench_cpu_s, 12, 2),
        FIELD("stall_ms", stall_ms, 9, 1),
        FIELD("stall_cpu_ms", stall_cpu_ms, 13, 1),
        FIELD("rss_kib", rss_kib, 9, 0),
        FIELD("hwm_kib", hwm_kib, 9, 0),
};

static double field_get(const struct run_result *r, const struct field *f)
{
	return *(const double *)((const char *)r + f->offset);
}

static void field_set(struct run_result *r, const struct field *f, double v)
{
	*(double *)((char *)r + f->offset) = v;
}

static void report_header(void)
{
	printf("%-7s", "run");
	for (size_t i = 0; i < ELEMENTSOF(fields); i++)
		printf(" %*s", fields[i].width, fields[i].key);
	printf("\n");
}

static void report_row(const char *label, const struct run_result *r)
{
	printf("%-7s", label);
	for (size_t i = 0; i < ELEMENTSOF(fields); i++)
		printf(" %*.*f", fields[i].width, fields[i].decimals, field_get(r, &fields[i]));
	printf("\n");
}

/* Median of every field over the runs. */
static void report_median(const struct run_result *runs, size_t n, struct run_result *ret)
{
	double v[BENCH_RUNS_MAX];

	for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
		size_t k = 0;

		for (size_t j = 0; j < n; j++) {
			double x = field_get(&runs[j], &fields[i]);

			if (!isnan(x))
				v[k++] = x;
		}
		field_set(ret, &fields[i], median(v, k));
	}
}

/* --- set-up and tear-down ----------------------------------------------------- */

static int raise_fd_limit(int64_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)need) {
		fprintf(stderr,
		        "bench-dispatch: need %" PRId64 " file descriptors, hard limit is %llu "
		        "(raise it: ulimit -Hn, LimitNOFILE=)\n",
		        need, (unsigned long long)rl.rlim_max);
		return -EMFILE;
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	return 0;
}

static int bench_init(struct bench *b)
{
	_cleanup_secret_ char *token = NULL;
	_cleanup_pkey_ EVP_PKEY *key = NULL;
	_cleanup_x509_req_ X509_REQ *csr = NULL;
	size_t auth_len;
	int r;

	b->epfd = -1;
	b->run = -1;
	b->rng = (uint64_t)b->o.seed * UINT64_C(0x9E3779B97F4A7C15) + 1;

	r = read_one_line(b->o.token_file, CAIRN_TOKEN_MAX, &token);
	if (r < 0) {
		fprintf(stderr, "bench-dispatch: cannot read %s: %s\n", b->o.token_file,
		        strerror(-r));
		return r;
	}
	auth_len = strlen("Authorization: Bearer ") + strlen(token) + 1;
	b->auth_header = malloc(auth_len);
	if (!b->auth_header)
		return -ENOMEM;
	snprintf(b->auth_header, auth_len, "Authorization: Bearer %s", token);
	b->api_headers = curl_slist_append(NULL, b->auth_header);
	if (b->api_headers)
		b->api_headers =
		        curl_slist_append(b->api_headers, "Content-Type: application/json");
	b->enroll_headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (!b->api_headers || !b->enroll_headers)
		return -ENOMEM;

	/* One key and one CSR for all agents: the controller decides every
	 * field of the certificate and takes only the public key. */
	r = pki_key_generate(&key);
	if (r < 0)
		return r;
	r = pki_csr_create(key, "bench-agent", NULL, &csr);
	if (r < 0)
		return r;
	r = pki_key_to_pem(key, &b->key_pem);
	if (r < 0)
		return r;
	r = pki_csr_to_pem(csr, &b->csr_pem);
	if (r < 0)
		return r;

	b->agents = calloc((size_t)b->o.agents, sizeof(*b->agents));
	b->heap_due = calloc((size_t)b->o.agents, sizeof(*b->heap_due));
	b->heap_idx = calloc((size_t)b->o.agents, sizeof(*b->heap_idx));
	b->subs = calloc((size_t)b->o.submitters, sizeof(*b->subs));
	if (!b->agents || !b->heap_due || !b->heap_idx || !b->subs)
		return -ENOMEM;
	r = jobtab_init(&b->jobs, (size_t)(b->o.jobs * b->o.runs) * 2);
	if (r < 0)
		return r;

	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (b->epfd < 0)
		return -errno;
	b->n_shards = 1 + (size_t)((b->o.agents + BENCH_SHARD_AGENTS - 1) / BENCH_SHARD_AGENTS);
	b->shards = calloc(b->n_shards, sizeof(*b->shards));
	if (!b->shards)
		return -ENOMEM;
	for (size_t k = 0; k < b->n_shards; k++) {
		struct shard *sh = &b->shards[k];
		/* Every connection stays cached between requests. */
		long maxconnects = k == 0 ? (long)(b->o.parallel + b->o.submitters + 8)
		                          : (long)BENCH_SHARD_AGENTS + 8;

		sh->b = b;
		sh->index = (uint32_t)k;
		sh->deadline_us = -1;
		sh->multi = curl_multi_init();
		if (!sh->multi)
			return -ENOMEM;
		if (curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, bench_socket_cb) !=
		            CURLM_OK ||
		    curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh) != CURLM_OK ||
		    curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, bench_timer_cb) !=
		            CURLM_OK ||
		    curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh) != CURLM_OK ||
		    curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS, maxconnects) != CURLM_OK)
			return -EINVAL;
	}

	for (int64_t i = 0; i < b->o.submitters; i++) {
		struct submitter *s = &b->subs[i];

		s->target = -1;
		r = req_init(b, &s->req, &b->shards[0], REQ_SUBMIT, BENCH_API_BODY_MAX, 60000);
		if (r < 0)
			return r;
		if (curl_easy_setopt(s->req.easy, CURLOPT_HTTPHEADER, b->api_headers) != CURLE_OK ||
		    curl_easy_setopt(s->req.easy, CURLOPT_POSTFIELDSIZE,
		                     (long)strlen(submit_body)) != CURLE_OK ||
		    curl_easy_setopt(s->req.easy, CURLOPT_POSTFIELDS, submit_body) != CURLE_OK)
			return -EINVAL;
	}
	return req_init(b, &b->peer.req, &b->shards[0], REQ_PEER, BENCH_API_BODY_MAX, 60000);
}

static void slist_free_wiped(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

static void bench_free(struct bench *b)
{
	if (b->agents) {
		for (int64_t i = 0; i < b->o.agents; i++) {
			if (b->agents[i].req.easy)
				req_done(b, &b->agents[i].req);
			free(b->agents[i].cert_pem);
		}
	}
	if (b->subs)
		for (int64_t i = 0; i < b->o.submitters; i++)
			if (b->subs[i].req.easy)
				req_done(b, &b->subs[i].req);
	if (b->peer.req.easy)
		req_done(b, &b->peer.req);
	if (b->workers) {
		for (int64_t i = 0; i < b->o.parallel; i++) {
			setup_clear(&b->workers[i]);
			if (b->workers[i].req.easy)
				req_done(b, &b->workers[i].req);
		}
		free(b->workers);
	}
	for (size_t k = 0; b->shards && k < b->n_shards; k++)
		if (b->shards[k].multi)
			curl_multi_cleanup(b->shards[k].multi);
	free(b->shards);
	if (b->epfd >= 0)
		close(b->epfd);
	slist_free_wiped(b->api_headers);
	curl_slist_free_all(b->enroll_headers);
	freezero_strp(&b->auth_header);
	freezero_strp(&b->key_pem);
	free(b->csr_pem);
	free(b->agents);
	free(b->heap_due);
	free(b->heap_idx);
	free(b->subs);
	free(b->jobs.slots);
}

/* --- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: bench-dispatch --api URL --gateway URL --ca FILE --token-file FILE "
	        "[options]\n"
	        "\n"
	        "Long-polls one cairn-controller with N simulated agents and measures job\n"
	        "dispatch latency.  See docs/bench.md.\n"
	        "\n"
	        "  --agents N            simulated agents (default 1000)\n"
	        "  --jobs M              jobs per run (default 1000)\n"
	        "  --rate R              submissions per second (default 100)\n"
	        "  --runs K              dispatch runs, median reported (default 3, at most %d)\n"
	        "  --wait S              long-poll wait in seconds (default 30)\n"
	        "  --parallel P          setup connections (default 8)\n"
	        "  --submitters S        submissions in flight at most (default 32)\n"
	        "  --connect-batch B     agents connecting at once at most (default 64)\n"
	        "  --connect-timeout S   wait for all agents at most S seconds (default 180)\n"
	        "  --drain-timeout S     wait for undelivered jobs at most S seconds (default 40)\n"
	        "  --pid PID             controller pid, for RSS and CPU from /proc\n"
	        "  --name-prefix P       node names P1…PN (default \"b\")\n"
	        "  --seed X              seed for the choice of target nodes (default 1)\n"
	        "  --fsync-dir DIR       time write+fdatasync there (the controller's state dir)\n",
	        BENCH_RUNS_MAX);
}

static int parse_opt_int(const char *name, const char *arg, int64_t min, int64_t max, int64_t *ret)
{
	int r = parse_int64(arg, min, max, ret);

	if (r < 0)
		fprintf(stderr,
		        "bench-dispatch: --%s: expected an integer in %" PRId64 "..%" PRId64 "\n",
		        name, min, max);
	return r;
}

static int parse_args(int argc, char **argv, struct bench_opts *o)
{
	enum {
		OPT_API = 0x100,
		OPT_GATEWAY,
		OPT_CA,
		OPT_TOKEN_FILE,
		OPT_AGENTS,
		OPT_JOBS,
		OPT_RATE,
		OPT_RUNS,
		OPT_WAIT,
		OPT_PARALLEL,
		OPT_SUBMITTERS,
		OPT_CONNECT_BATCH,
		OPT_CONNECT_TIMEOUT,
		OPT_DRAIN_TIMEOUT,
		OPT_PID,
		OPT_NAME_PREFIX,
		OPT_SEED,
		OPT_FSYNC_DIR,
	};
	static const struct option options[] = {
	        {"help", no_argument, NULL, 'h'},
	        {"api", required_argument, NULL, OPT_API},
	        {"gateway", required_argument, NULL, OPT_GATEWAY},
	        {"ca", required_argument, NULL, OPT_CA},
	        {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
	        {"agents", required_argument, NULL, OPT_AGENTS},
	        {"jobs", required_argument, NULL, OPT_JOBS},
	        {"rate", required_argument, NULL, OPT_RATE},
	        {"runs", required_argument, NULL, OPT_RUNS},
	        {"wait", required_argument, NULL, OPT_WAIT},
	        {"parallel", required_argument, NULL, OPT_PARALLEL},
	        {"submitters", required_argument, NULL, OPT_SUBMITTERS},
	        {"connect-batch", required_argument, NULL, OPT_CONNECT_BATCH},
	        {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
	        {"drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT},
	        {"pid", required_argument, NULL, OPT_PID},
	        {"name-prefix", required_argument, NULL, OPT_NAME_PREFIX},
	        {"seed", required_argument, NULL, OPT_SEED},
	        {"fsync-dir", required_argument, NULL, OPT_FSYNC_DIR},
	        {},
	};
	int c, r = 0;

	*o = (struct bench_opts){
	        .name_prefix = "b",
	        .agents = 1000,
	        .jobs = 1000,
	        .rate = 100,
	        .runs = 3,
	        .wait_s = 30,
	        .parallel = 8,
	        .submitters = 32,
	        .connect_batch = 64,
	        .connect_timeout_s = 180,
	        .drain_timeout_s = 40,
	        .seed = 1,
	};
	while (r == 0 && (c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		case OPT_API:
			o->api_url = optarg;
			break;
		case OPT_GATEWAY:
			o->gateway_url = optarg;
			break;
		case OPT_CA:
			o->ca_file = optarg;
			break;
		case OPT_TOKEN_FILE:
			o->token_file = optarg;
			break;
		case OPT_AGENTS:
			r = parse_opt_int("agents", optarg, 1, BENCH_AGENTS_MAX, &o->agents);
			break;
		case OPT_JOBS:
			r = parse_opt_int("jobs", optarg, 1, BENCH_JOBS_MAX, &o->jobs);
			break;
		case OPT_RATE:
			r = parse_opt_int("rate", optarg, 1, 100000, &o->rate);
			break;
		case OPT_RUNS:
			r = parse_opt_int("runs", optarg, 1, BENCH_RUNS_MAX, &o->runs);
			break;
		case OPT_WAIT:
			r = parse_opt_int("wait", optarg, 0, CAIRN_POLL_WAIT_MAX_S, &o->wait_s);
			break;
		case OPT_PARALLEL:
			r = parse_opt_int("parallel", optarg, 1, BENCH_PARALLEL_MAX, &o->parallel);
			break;
		case OPT_SUBMITTERS:
			r = parse_opt_int("submitters", optarg, 1, BENCH_SUBMITTERS_MAX,
			                  &o->submitters);
			break;
		case OPT_CONNECT_BATCH:
			r = parse_opt_int("connect-batch", optarg, 1, BENCH_AGENTS_MAX,
			                  &o->connect_batch);
			break;
		case OPT_CONNECT_TIMEOUT:
			r = parse_opt_int("connect-timeout", optarg, 1, 3600,
			                  &o->connect_timeout_s);
			break;
		case OPT_DRAIN_TIMEOUT:
			r = parse_opt_int("drain-timeout", optarg, 0, 3600, &o->drain_timeout_s);
			break;
		case OPT_PID:
			r = parse_opt_int("pid", optarg, 1, INT32_MAX, &o->pid);
			break;
		case OPT_NAME_PREFIX:
			o->name_prefix = optarg;
			break;
		case OPT_SEED:
			r = parse_opt_int("seed", optarg, 0, INT64_MAX, &o->seed);
			break;
		case OPT_FSYNC_DIR:
			o->fsync_dir = optarg;
			break;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (r < 0)
		return r;
	if (optind != argc || !o->api_url || !o->gateway_url || !o->ca_file || !o->token_file) {
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

static void print_memory(const char *label, int64_t pid)
{
	int64_t rss, hwm;

	if (proc_memory(pid, &rss, &hwm) == 0)
		printf("controller memory %s: VmRSS %.1f MiB, VmHWM %.1f MiB\n", label,
		       (double)rss / 1024.0, (double)hwm / 1024.0);
}

int main(int argc, char **argv)
{
	struct bench b = {.epfd = -1};
	struct run_result runs[BENCH_RUNS_MAX] = {}, med = {};
	_cleanup_free_ int64_t *targets = NULL;
	int64_t rss_start = -1, hwm_start = -1, rss_idle = -1, hwm_idle = -1, n_targets = 0;
	double setup_s = NAN, connect_s, ctl_cpu0, ctl_cpu1, self_cpu0, self_cpu1;
	int r;

	if (parse_args(argc, argv, &b.o) < 0)
		return EXIT_FAILURE;
	r = raise_fd_limit(b.o.agents + b.o.parallel + b.o.submitters + BENCH_FD_SLACK);
	if (r < 0)
		return EXIT_FAILURE;
	/* With CURLOPT_NOSIGNAL curl leaves SIGPIPE to us. */
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return EXIT_FAILURE;

	r = bench_init(&b);
	if (r < 0) {
		fprintf(stderr, "bench-dispatch: init: %s\n", strerror(-r));
		goto out;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("bench-dispatch: N=%" PRId64 " agents, M=%" PRId64
	       " node.facts jobs per run at %" PRId64 "/s, %" PRId64 " runs, wait=%" PRId64
	       " s, controller pid %" PRId64 "\n",
	       b.o.agents, b.o.jobs, b.o.rate, b.o.runs, b.o.wait_s, b.o.pid);
	(void)proc_memory(b.o.pid, &rss_start, &hwm_start);
	print_memory("at start", b.o.pid);

	r = bench_setup(&b, &setup_s);
	if (r < 0) {
		fprintf(stderr,
		        "bench-dispatch: setup failed after %" PRId64 " of %" PRId64 " nodes: %s\n",
		        b.setup_next, b.o.agents, strerror(-r));
		goto out;
	}
	printf("setup: %" PRId64 " nodes created and enrolled in %.2f s (%.0f/s, %" PRId64
	       " connections, %" PRIu64 " x 429)\n",
	       b.o.agents, setup_s, (double)b.o.agents / setup_s, b.o.parallel, b.c.setup_429);

	for (int64_t i = 0; i < b.o.agents; i++) {
		r = agent_init(&b, &b.agents[i]);
		if (r < 0) {
			fprintf(stderr, "bench-dispatch: agent handle: %s\n", strerror(-r));
			goto out;
		}
	}
	if (proc_cpu(b.o.pid, &ctl_cpu0) < 0)
		ctl_cpu0 = NAN;
	self_cpu0 = self_cpu_s();
	connect_s = bench_connect(&b);
	if (proc_cpu(b.o.pid, &ctl_cpu1) < 0)
		ctl_cpu1 = NAN;
	self_cpu1 = self_cpu_s();
	bench_settle(&b);
	printf("connect: %" PRId64 " of %" PRId64
	       " agents connected in %.2f s (CPU s: controller %.2f, "
	       "bench %.2f), %" PRId64 " polls outstanding, %" PRIu64 " reconnections, %" PRIu64
	       " errors, %" PRIu64 " x 429\n",
	       b.connected, b.o.agents, connect_s, ctl_cpu1 - ctl_cpu0, self_cpu1 - self_cpu0,
	       b.outstanding, b.c.agent_reconnects, b.c.agent_errors + b.c.agent_http_errors,
	       b.c.agent_429);
	(void)proc_memory(b.o.pid, &rss_idle, &hwm_idle);
	print_memory("idle with all polls open", b.o.pid);

	targets = calloc((size_t)b.o.agents, sizeof(*targets));
	if (!targets) {
		r = -ENOMEM;
		goto out;
	}
	for (int64_t i = 0; i < b.o.agents; i++)
		if (b.agents[i].connected)
			targets[n_targets++] = i;
	if (n_targets == 0) {
		fprintf(stderr, "bench-dispatch: no agent connected\n");
		r = -ENOTCONN;
		goto out;
	}

	report_header();
	for (int64_t i = 0; i < b.o.runs; i++) {
		char label[24];

		r = bench_run(&b, (int)i, targets, (size_t)n_targets, &runs[i]);
		if (r < 0) {
			fprintf(stderr, "bench-dispatch: run %" PRId64 ": %s\n", i + 1,
			        strerror(-r));
			goto out;
		}
		snprintf(label, sizeof(label), "%" PRId64, i + 1);
		report_row(label, &runs[i]);
	}
	report_median(runs, (size_t)b.o.runs, &med);
	report_row("median", &med);
	print_memory("after the runs", b.o.pid);
	printf("ratios: dispatch p50 / GET /v1/health p50 = %.1f; dispatch p50 / fdatasync p50 = "
	       "%.1f; "
	       "dispatch p99 / 1 s target = %.3f\n",
	       med.disp_p50 / med.peer_p50, med.disp_p50 / med.fsync_p50, med.disp_p99 / 1000.0);

	printf("RESULT n=%" PRId64 " connected=%" PRId64 " setup_s=%.2f connect_s=%.2f "
	       "rss_start_kib=%" PRId64 " rss_idle_kib=%" PRId64 " hwm_idle_kib=%" PRId64,
	       b.o.agents, b.connected, setup_s, connect_s, rss_start, rss_idle, hwm_idle);
	for (size_t i = 0; i < ELEMENTSOF(fields); i++)
		printf(" %s=%.*f", fields[i].key, fields[i].decimals, field_get(&med, &fields[i]));
	printf(" agent_errors=%" PRIu64 " agent_429=%" PRIu64 " agent_reconnects=%" PRIu64
	       " submit_429=%" PRIu64 " setup_429=%" PRIu64 " untracked=%" PRIu64 "\n",
	       b.c.agent_errors + b.c.agent_http_errors + b.c.agent_bad_answers, b.c.agent_429,
	       b.c.agent_reconnects, b.c.submit_429, b.c.setup_429, b.c.jobs_untracked);
	r = 0;
out:
	bench_free(&b);
	curl_global_cleanup();
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
