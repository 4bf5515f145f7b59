/*
 * fuzz-bstream.c: libFuzzer target for the backup stream reader
 * (lib/bstream.c).  The input is fed, with a fixed key and object name, in
 * splits chosen from its own bytes, so the header, length and body states
 * all meet every kind of boundary.  Invariants checked with abort(): a
 * refusal always carries a reason, finish never succeeds after an error, a
 * sink piece is never larger than BSTREAM_SINK_MAX, and the same input
 * sealed and reopened comes back unchanged (which drives the decompression
 * path the forged inputs cannot reach past the tag).  Seeds in
 * tests/fuzz/corpus/bstream/ are valid and damaged streams under this key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bstream.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The seeds' key is 32 bytes of 0x42 and their name "fuzz/object". */
#define FUZZ_NAME "fuzz/object"

struct fuzz_sink {
	const uint8_t *expect; /* plaintext expected, or NULL */
	size_t expect_len;     /* its length */
	size_t got;            /* bytes received */
};

static int fuzz_sink_cb(void *ud, const void *buf, size_t len)
{
	struct fuzz_sink *s = ud;

	if (len == 0 || len > BSTREAM_SINK_MAX)
		abort();
	if (s->expect &&
	    (s->got + len > s->expect_len || memcmp(s->expect + s->got, buf, len) != 0))
		abort();
	s->got += len;
	return 0;
}

static void read_in_splits(const uint8_t key[static BSTREAM_KEY_LEN], const uint8_t *data,
			   size_t size, struct fuzz_sink *sink, unsigned seed)
{
	_cleanup_bstream_reader_ struct bstream_reader *r = NULL;
	size_t off = 0;
	int e = 0;

	if (bstream_reader_new(key, FUZZ_NAME, fuzz_sink_cb, sink, &r) < 0)
		abort();
	while (off < size) {
		/* Piece sizes 1..8 and 1..4096 cycle with the seed. */
		size_t piece = (seed & 1) ? 1 + (seed >> 1) % 8 : 1 + (seed * 2654435761u) % 4096;
		seed = seed * 1103515245u + 12345u;
		piece = MIN(piece, size - off);
		e = bstream_feed(r, data + off, piece);
		if (e < 0)
			break;
		off += piece;
	}
	if (e >= 0)
		e = bstream_reader_finish(r);
	if (e < 0) {
		const char *why = bstream_reader_error(r);
		if (!why || !*why || bstream_reader_finish(r) != e || bstream_feed(r, "x", 1) != e)
			abort();
	} else if (bstream_reader_error(r) || (sink->expect && sink->got != sink->expect_len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[BSTREAM_KEY_LEN];
	unsigned seed = size > 0 ? data[size - 1] : 0;

	memset(key, 0x42, sizeof(key));

	/* 1. The input as a stream. */
	struct fuzz_sink sink = {0};
	read_in_splits(key, data, size, &sink, seed);

	/* 2. The input as plaintext: seal, reopen, compare. */
	if (size > 256 * 1024)
		return 0;
	struct bstream_options o = {
		.chunk_log = 16,
		.level = 1 + seed % 5,
		.no_compress = (seed & 0x10) != 0,
	};
	uint8_t *s = NULL;
	size_t slen = 0;
	if (bstream_seal_buffer(key, FUZZ_NAME, &o, data, size, &s, &slen) < 0)
		abort();
	struct fuzz_sink check = {.expect = data, .expect_len = size};
	read_in_splits(key, s, slen, &check, seed + 1);
	free(s);
	return 0;
}
