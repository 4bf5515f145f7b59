/*
 * bstream.h: the backup stream format.  Every S3 object Cairn writes for a
 * backup (data bundles, manifests, WAL segments) is one stream: a plaintext
 * header, then the payload compressed as one zstd frame and cut into
 * chunks, each sealed with AES-256-GCM under a key derived for this object
 * (HKDF-SHA256 of the datastore data key, a random salt and the object's
 * logical name).  Chunk counters and a final flag in each chunk's
 * associated data make a reordered, truncated, extended, renamed or
 * corrupted stream fail to open.  docs/backup-format.md is the normative
 * description of the bytes.
 *
 * Both directions are incremental with bounded memory whatever the object
 * size: the writer pushes sealed bytes to an `out` callback as chunks fill,
 * the reader takes input in any split (bstream_feed) and pushes plaintext to
 * a `sink` callback in pieces of at most BSTREAM_SINK_MAX bytes.  The
 * reader hands on plaintext only from chunks whose tag verified, but a
 * stream is complete and authentic only when bstream_reader_finish()
 * returns 0: a consumer writes to a temporary place and commits then.
 *
 * Errors: 0 or -errno.  -EBADMSG for a stream that is not authentic or not
 * well formed (the reader's bstream_reader_error() says which chunk and
 * why), -EPROTONOSUPPORT for a later format version or algorithm, -EINVAL
 * for bad arguments, -ENOMEM, and whatever negative value `out`/`sink`
 * returned (which aborts the stream).  After an error a writer or reader
 * only returns that error again.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BSTREAM_KEY_LEN 32
#define BSTREAM_SALT_LEN 16
#define BSTREAM_TAG_LEN 16
/* Header: magic (8) | version (1) | algorithm (1) | chunk log2 (1) |
 * flags (1) | salt (16). */
#define BSTREAM_HEADER_LEN 28
#define BSTREAM_MAGIC "CAIRNBK1"
#define BSTREAM_VERSION 1
#define BSTREAM_ALG_ZSTD_AES256GCM 1
#define BSTREAM_FLAG_COMPRESSED 0x01

/* Plaintext chunk sizes (log2) accepted and the default (1 MiB). */
#define BSTREAM_CHUNK_LOG_MIN 16
#define BSTREAM_CHUNK_LOG_MAX 22
#define BSTREAM_CHUNK_LOG_DEFAULT 20
/* zstd levels accepted (0 in the options means the default). */
#define BSTREAM_LEVEL_MIN 1
#define BSTREAM_LEVEL_MAX 19
#define BSTREAM_LEVEL_DEFAULT 3
/* zstd window cap, written by the writer and enforced by the reader: it
 * bounds the reader's decompression memory to 8 MiB of window. */
#define BSTREAM_WINDOW_LOG_MAX 23
/* zstd worker threads accepted (BSTREAM_WORKERS_MAX). */
#define BSTREAM_WORKERS_MAX 16
/* Longest object name, in bytes (S3 keys are at most 1024). */
#define BSTREAM_NAME_MAX 1024
/* Largest piece handed to a sink in one call. */
#define BSTREAM_SINK_MAX (128 * 1024)

struct bstream_options {
	int level;                /* zstd level BSTREAM_LEVEL_MIN..MAX; 0 = default 3 */
	unsigned chunk_log;       /* plaintext chunk size log2, 16..22; 0 = default 20 */
	unsigned workers;         /* zstd worker threads (nbWorkers); 0 = compress in the caller */
	bool no_compress;         /* store the payload uncompressed (flags bit 0 clear) */
	const uint8_t *test_salt; /* TESTS ONLY: fixed 16-byte salt for known-answer
				   * vectors; NULL (random salt) everywhere else */
};

struct bstream_writer;
struct bstream_reader;

/* Callbacks: return 0 (or any value >= 0) to go on, < 0 to abort; the
 * writer or reader then returns that value. */
typedef int (*bstream_out_t)(void *ud, const void *buf, size_t len);

/* Starts a stream for `object_name` (the logical name the reader will
 * expect, 1..BSTREAM_NAME_MAX bytes) under the datastore data key.  `o`
 * NULL means the defaults.  Emits the header through `out` at once.
 * Returns 0 and a writer (free with bstream_writer_free), -EINVAL for a
 * bad option or name, -EOPNOTSUPP when zstd lacks threads and workers > 0,
 * -ENOMEM, -EIO (OpenSSL), or out's error. */
int bstream_writer_new(const uint8_t key[static BSTREAM_KEY_LEN], const char *object_name,
		       const struct bstream_options *o, bstream_out_t out, void *ud,
		       struct bstream_writer **ret);

/* Adds len bytes of plaintext; full chunks are sealed and emitted as they
 * fill, so memory stays bounded.  Returns 0 or a negative error. */
int bstream_write(struct bstream_writer *w, const void *buf, size_t len);

/* Flushes the compressor and emits the final chunk.  Returns 0 or a
 * negative error; after it bstream_write() returns -EINVAL. */
int bstream_finish(struct bstream_writer *w);

/* Wipes the key schedule and buffers and frees; NULL is fine. */
void bstream_writer_free(struct bstream_writer *w);

/* Plaintext bytes taken so far and stored bytes emitted (header, lengths
 * and tags included); either pointer may be NULL. */
void bstream_writer_stats(const struct bstream_writer *w, uint64_t *ret_plain,
			  uint64_t *ret_stored);

/* Starts reading a stream that must carry `object_name`.  Returns 0 and a
 * reader, -EINVAL or -ENOMEM. */
int bstream_reader_new(const uint8_t key[static BSTREAM_KEY_LEN], const char *object_name,
		       bstream_out_t sink, void *ud, struct bstream_reader **ret);

/* Takes the next len bytes of the stream, in any split.  Every chunk that
 * completes is authenticated, then its plaintext goes to the sink.  Returns
 * 0 or a negative error (see bstream_reader_error()). */
int bstream_feed(struct bstream_reader *r, const void *buf, size_t len);

/* Ends the input.  Returns 0 when the final chunk was read and nothing
 * followed it, -EBADMSG when the stream stopped short, or the error
 * already met. */
int bstream_reader_finish(struct bstream_reader *r);

/* The reason of the first failure ("chunk 7: authentication failed
 * (corrupt, reordered or wrong key/name)", "truncated after chunk 3: no
 * final chunk", ...), or NULL when none.  Owned by the reader. */
const char *bstream_reader_error(const struct bstream_reader *r);

/* Wipes the key schedule and buffers and frees; NULL is fine. */
void bstream_reader_free(struct bstream_reader *r);

/* Totals read so far: stored bytes taken and plaintext bytes delivered. */
void bstream_reader_stats(const struct bstream_reader *r, uint64_t *ret_stored,
			  uint64_t *ret_plain);

/* Seals a whole buffer (manifests, tests).  Returns 0 and a heap buffer
 * with its length, or a negative error. */
int bstream_seal_buffer(const uint8_t key[static BSTREAM_KEY_LEN], const char *object_name,
			const struct bstream_options *o, const void *buf, size_t len, uint8_t **ret,
			size_t *ret_len);

/* Opens a whole stream into a heap buffer of at most max_plain bytes
 * (NUL-terminated for convenience, not counted in ret_len).  Returns 0,
 * -EFBIG when the plaintext exceeds max_plain, or the reader's error; then
 * *ret_error (when not NULL) receives a heap copy of the reason. */
int bstream_open_buffer(const uint8_t key[static BSTREAM_KEY_LEN], const char *object_name,
			const void *buf, size_t len, size_t max_plain, uint8_t **ret,
			size_t *ret_len, char **ret_error);

static inline void bstream_writer_freep(struct bstream_writer **w)
{
	bstream_writer_free(*w);
}
#define _cleanup_bstream_writer_ __attribute__((cleanup(bstream_writer_freep)))
static inline void bstream_reader_freep(struct bstream_reader **r)
{
	bstream_reader_free(*r);
}
#define _cleanup_bstream_reader_ __attribute__((cleanup(bstream_reader_freep)))
