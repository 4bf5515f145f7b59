/*
 * bstream-bench.c: throughput and memory of the backup stream format
 * (lib/bstream.c).  tests/bench/run-bstream.sh drives it and measures the
 * zstd command beside it; docs/backup-format.md records the figures.
 *
 *   bstream-bench gen MIB            pgbench-like data on stdout
 *   bstream-bench speed FILE LEVEL REPS [WORKERS]
 *                                    writes FILE through a writer and reads
 *                                    the result back REPS times, in memory;
 *                                    prints the median MB/s of each, the
 *                                    stored/plain ratio, and the median MB/s
 *                                    of the same zstd work alone (no AES),
 *                                    all in CPU time (one thread)
 *   bstream-bench rss MIB LEVEL [chain]
 *                                    streams MIB of generated data through a
 *                                    writer (and with `chain` on into a
 *                                    reader), prints VmHWM before and after
 *
 * The data imitates a PostgreSQL data directory after pgbench: 8 KiB pages,
 * 70% pgbench_accounts heap pages (tuple headers with varying xmin, ints,
 * blank-padded filler), 20% btree leaf pages (sorted keys and TIDs), 10%
 * incompressible pages (TOAST that is already compressed).  It is
 * generated deterministically, so every run sees the same bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zstd.h>

#include "bstream.h"
#include "macro.h"

#define PAGE 8192
#define MIB (1024 * 1024)
/* Feed size of the reader: what libcurl hands a write callback. */
#define FEED 16384
#define REPS_MAX 15

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;
static uint32_t rng32(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* One 8 KiB page of the kind page_no selects. */
static void gen_page(uint8_t *p, uint64_t page_no)
{
	static uint32_t aid = 1;
	unsigned kind = (unsigned)(page_no * 2654435761u >> 7) % 10;

	memset(p, 0, PAGE);
	put32(p, (uint32_t)(page_no >> 3) | 0x01000000); /* pd_lsn */
	if (kind == 9) {
		for (size_t i = 0; i < PAGE; i += 4)
			put32(p + i, rng32());
		return;
	}
	if (kind == 8) {
		/* btree leaf: sorted int4 keys with their TIDs from the top. */
		size_t n = 0;
		for (size_t off = PAGE - 16; off > 24 + 4 * 370; off -= 16, n++) {
			put32(p + off, (uint32_t)(page_no * 367 + n)); /* TID block, offset */
			p[off + 6] = 16;
			put32(p + off + 8, aid + (uint32_t)n);
			put32(p + 24 + 4 * n, (uint32_t)(off | 16u << 17 | 1u << 15));
		}
		return;
	}
	/* pgbench_accounts heap: 61 tuples of 121 bytes, aligned to 128. */
	for (size_t t = 0; t < 61; t++, aid++) {
		size_t off = PAGE - 128 * (t + 1);
		uint8_t *tup = p + off;
		put32(tup, 700 + rng32() % 5000);                       /* xmin */
		put32(tup + 4, rng32() % 8 ? 0 : 900 + rng32() % 5000); /* xmax */
		tup[16] = 3;                                            /* natts */
		tup[20] = 24;                                           /* t_hoff */
		put32(tup + 24, aid);
		put32(tup + 28, 1 + aid / 100000);
		put32(tup + 32, rng32() % 4 ? 0 : rng32() % 20000 - 10000); /* abalance */
		tup[36] = (84 + 1) << 1 | 1; /* short varlena header */
		memset(tup + 37, ' ', 84);
		put32(p + 24 + 4 * t, (uint32_t)(off | 121u << 17 | 1u << 15));
	}
}

static void gen_block(uint8_t *buf, size_t len, uint64_t *page_no)
{
	for (size_t off = 0; off + PAGE <= len; off += PAGE)
		gen_page(buf + off, (*page_no)++);
}

/* CPU time of this process: the machine is shared, and one-thread work
 * measured in CPU seconds does not depend on what else runs. */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long vm_hwm_kib(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			v = strtol(line + 6, NULL, 10);
	fclose(f);
	return v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static const uint8_t bench_key[BSTREAM_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
static const char bench_name[] = "backups/bench/bundle-0001";

struct mem_out {
	uint8_t *buf;       /* preallocated */
	size_t len;         /* used */
	size_t cap;         /* allocated */
	const uint8_t *cmp; /* when set, sink output is compared with it */
};

static int mem_append(void *ud, const void *buf, size_t len)
{
	struct mem_out *m = ud;
	if (len > m->cap - m->len)
		return -ENOSPC;
	memcpy(m->buf + m->len, buf, len);
	m->len += len;
	return 0;
}

static int count_sink(void *ud, const void *buf, size_t len)
{
	struct mem_out *m = ud;
	if (m->cmp && memcmp(m->cmp + m->len, buf, len) != 0)
		return -EBADMSG;
	m->len += len;
	return 0;
}

static int null_out(void *ud, const void *buf, size_t len)
{
	*(uint64_t *)ud += len;
	return 0;
}

static int feed_out(void *ud, const void *buf, size_t len)
{
	return bstream_feed(ud, buf, len);
}

static int cmd_gen(long mib)
{
	static uint8_t block[MIB];
	uint64_t page_no = 0;
	for (long i = 0; i < mib; i++) {
		gen_block(block, MIB, &page_no);
		if (fwrite(block, 1, MIB, stdout) != MIB)
			return 1;
	}
	return 0;
}

/* The same zstd work alone, in process (the writer's parameters, no
 * encryption, no copies): MiB/s of compression and of decompression.  The
 * writer's speed over this is the cost of AES-GCM and the framing. */
static int zstd_alone(const uint8_t *in, size_t len, int level, uint8_t *scratch, size_t cap,
		      double *ret_c, double *ret_d)
{
	static uint8_t out[BSTREAM_SINK_MAX];
	ZSTD_CCtx *zc = ZSTD_createCCtx();
	ZSTD_DCtx *zd = ZSTD_createDCtx();
	size_t zlen = 0;

	if (!zc || !zd)
		return -1;
	ZSTD_CCtx_setParameter(zc, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(zc, ZSTD_c_checksumFlag, 0);
	double t0 = now();
	for (size_t off = 0; off <= len; off += MIB) {
		bool last = off + MIB >= len;
		ZSTD_inBuffer ib = {in + off, last ? len - off : MIB, 0};
		ZSTD_EndDirective op = last ? ZSTD_e_end : ZSTD_e_continue;
		size_t left;
		do {
			ZSTD_outBuffer ob = {scratch + zlen, MIN((size_t)MIB, cap - zlen), 0};
			left = ZSTD_compressStream2(zc, &ob, &ib, op);
			if (ZSTD_isError(left))
				return -1;
			zlen += ob.pos;
		} while (last ? left != 0 : ib.pos < ib.size);
		if (last)
			break;
	}
	*ret_c = (double)len / MIB / (now() - t0);

	size_t total = 0;
	t0 = now();
	for (size_t off = 0; off < zlen; off += FEED) {
		ZSTD_inBuffer ib = {scratch + off, MIN((size_t)FEED, zlen - off), 0};
		do {
			ZSTD_outBuffer ob = {out, sizeof(out), 0};
			if (ZSTD_isError(ZSTD_decompressStream(zd, &ob, &ib)))
				return -1;
			total += ob.pos;
			if (ib.pos == ib.size && ob.pos < ob.size)
				break;
		} while (true);
	}
	*ret_d = (double)len / MIB / (now() - t0);
	ZSTD_freeCCtx(zc);
	ZSTD_freeDCtx(zd);
	return total == len ? 0 : -1;
}

static int cmd_speed(const char *path, int level, int reps, unsigned workers)
{
	double wr[REPS_MAX], rd[REPS_MAX], zc[REPS_MAX], zd[REPS_MAX];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(path);
		return 1;
	}
	size_t len = (size_t)st.st_size;
	uint8_t *in = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	if (in == MAP_FAILED)
		return 1;
	struct mem_out stream = {.cap = len + len / 16 + 4096};
	stream.buf = malloc(stream.cap);
	if (!stream.buf)
		return 1;
	memset(stream.buf, 0, stream.cap); /* fault the pages in before timing */

	for (int rep = 0; rep < reps; rep++) {
		struct bstream_options o = {.level = level, .workers = workers};
		struct bstream_writer *w = NULL;
		stream.len = 0;
		double t0 = now();
		if (bstream_writer_new(bench_key, bench_name, &o, mem_append, &stream, &w) < 0)
			return 1;
		for (size_t off = 0; off < len; off += MIB)
			if (bstream_write(w, in + off, MIN((size_t)MIB, len - off)) < 0)
				return 1;
		if (bstream_finish(w) < 0)
			return 1;
		bstream_writer_free(w);
		wr[rep] = (double)len / MIB / (now() - t0);

		struct mem_out plain = {.cmp = rep == 0 ? in : NULL};
		struct bstream_reader *r = NULL;
		t0 = now();
		if (bstream_reader_new(bench_key, bench_name, count_sink, &plain, &r) < 0)
			return 1;
		for (size_t off = 0; off < stream.len; off += FEED)
			if (bstream_feed(r, stream.buf + off, MIN((size_t)FEED, stream.len - off)) <
			    0) {
				fprintf(stderr, "read: %s\n", bstream_reader_error(r));
				return 1;
			}
		if (bstream_reader_finish(r) < 0 || plain.len != len)
			return 1;
		bstream_reader_free(r);
		rd[rep] = (double)len / MIB / (now() - t0);
		if (zstd_alone(in, len, level, stream.buf, stream.cap, &zc[rep], &zd[rep]) < 0)
			return 1;
	}
	qsort(wr, (size_t)reps, sizeof(double), cmp_double);
	qsort(rd, (size_t)reps, sizeof(double), cmp_double);
	qsort(zc, (size_t)reps, sizeof(double), cmp_double);
	qsort(zd, (size_t)reps, sizeof(double), cmp_double);
	printf("%.0f %.0f %.3f %.0f %.0f\n", wr[reps / 2], rd[reps / 2],
	       (double)stream.len / (double)len, zc[reps / 2], zd[reps / 2]);
	free(stream.buf);
	munmap(in, len);
	return 0;
}

static int cmd_rss(long mib, int level, bool chain)
{
	static uint8_t block[MIB];
	uint64_t page_no = 0, sunk = 0, stored = 0;
	struct bstream_options o = {.level = level};
	struct bstream_writer *w = NULL;
	struct bstream_reader *r = NULL;
	long before;

	gen_block(block, MIB, &page_no); /* touch the static block first */
	page_no = 0;
	before = vm_hwm_kib();
	if (chain) {
		if (bstream_reader_new(bench_key, bench_name, null_out, &sunk, &r) < 0)
			return 1;
		if (bstream_writer_new(bench_key, bench_name, &o, feed_out, r, &w) < 0)
			return 1;
	} else if (bstream_writer_new(bench_key, bench_name, &o, null_out, &stored, &w) < 0)
		return 1;
	for (long i = 0; i < mib; i++) {
		gen_block(block, MIB, &page_no);
		if (bstream_write(w, block, MIB) < 0)
			return 1;
	}
	if (bstream_finish(w) < 0)
		return 1;
	if (chain && (bstream_reader_finish(r) < 0 || sunk != (uint64_t)mib * MIB))
		return 1;
	printf("VmHWM before %ld KiB, after %ld KiB (%s, %ld MiB, level %d)\n", before,
	       vm_hwm_kib(), chain ? "writer+reader" : "writer", mib, level);
	bstream_writer_free(w);
	bstream_reader_free(r);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && streq(argv[1], "gen"))
		return cmd_gen(strtol(argv[2], NULL, 10));
	if (argc >= 5 && streq(argv[1], "speed")) {
		int reps = (int)strtol(argv[4], NULL, 10);
		if (reps < 1 || reps > REPS_MAX)
			return 2;
		return cmd_speed(argv[2], (int)strtol(argv[3], NULL, 10), reps,
				 argc >= 6 ? (unsigned)strtoul(argv[5], NULL, 10) : 0);
	}
	if (argc >= 4 && streq(argv[1], "rss"))
		return cmd_rss(strtol(argv[2], NULL, 10), (int)strtol(argv[3], NULL, 10),
			       argc >= 5 && streq(argv[4], "chain"));
	fprintf(stderr,
		"usage: %s gen MIB | speed FILE LEVEL REPS [WORKERS] | rss MIB LEVEL [chain]\n",
		argv[0]);
	return 2;
}
