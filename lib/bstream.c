/*
 * bstream.c: the backup stream format (see bstream.h and
 * docs/backup-format.md): zstd, then AES-256-GCM in chunks with the STREAM
 * construction (a counter nonce and a final flag per chunk), over a per-
 * object key from HKDF-SHA256.
 *
 * Copies are kept to the minimum: the writer compresses straight into its
 * chunk buffer (after room for the 4-byte length), encrypts it in place,
 * appends the tag and hands the whole record to `out` in one call.  The
 * reader decrypts a chunk either straight from the caller's buffer (when a
 * feed holds the whole record) or in place in its own buffer, checks the
 * tag, and only then decompresses into a BSTREAM_SINK_MAX buffer that goes
 * to the sink.  Non-final chunks always carry exactly the chunk size, the
 * final one less (possibly nothing), so the length says which chunk is
 * final before any decryption, and the final flag in the AAD confirms it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "bstream.h"
#include "macro.h"
#include "util.h"

#define BSTREAM_NONCE_LEN 12
#define BSTREAM_LEN_LEN 4
/* AAD: header | 8-byte big-endian counter | final flag. */
#define BSTREAM_AAD_LEN (BSTREAM_HEADER_LEN + 8 + 1)
/* HKDF info prefix, NUL included, followed by the object name. */
#define BSTREAM_INFO_PREFIX "cairn-backup v1"
#define BSTREAM_INFO_PREFIX_LEN 16
/* Longest reason kept by the reader. */
#define BSTREAM_ERROR_MAX 192

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool object_name_valid(const char *name)
{
	if (!name)
		return false;
	size_t n = strnlen(name, BSTREAM_NAME_MAX + 1);
	return n > 0 && n <= BSTREAM_NAME_MAX;
}

/* Derives the per-object key: HKDF-SHA256(ikm = data key, salt = header
 * salt, info = "cairn-backup v1\0" || name), then keys a GCM context with
 * it.  The derived key never leaves this function unwiped. */
static int cipher_init(const uint8_t key[static BSTREAM_KEY_LEN], const uint8_t *salt,
		       const char *name, bool encrypt, EVP_CIPHER_CTX **ret)
{
	uint8_t info[BSTREAM_INFO_PREFIX_LEN + BSTREAM_NAME_MAX];
	uint8_t okm[BSTREAM_KEY_LEN];
	size_t name_len = strlen(name);
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	int r = -EIO;

	memcpy(info, BSTREAM_INFO_PREFIX, BSTREAM_INFO_PREFIX_LEN);
	memcpy(info + BSTREAM_INFO_PREFIX_LEN, name, name_len);

	kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
	if (!kdf)
		goto out;
	kctx = EVP_KDF_CTX_new(kdf);
	if (!kctx)
		goto out;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, BSTREAM_KEY_LEN),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
						  BSTREAM_SALT_LEN),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info,
						  BSTREAM_INFO_PREFIX_LEN + name_len),
		OSSL_PARAM_construct_end(),
	};
	if (EVP_KDF_derive(kctx, okm, sizeof(okm), params) != 1)
		goto out;

	ctx = EVP_CIPHER_CTX_new();
	if (!ctx) {
		r = -ENOMEM;
		goto out;
	}
	/* Key now, nonce per chunk: the key schedule is computed once. */
	if (EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), okm, NULL, encrypt ? 1 : 0, NULL) != 1)
		goto out;
	*ret = ctx;
	ctx = NULL;
	r = 0;
out:
	explicit_bzero(okm, sizeof(okm));
	EVP_CIPHER_CTX_free(ctx);
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return r;
}

static void chunk_nonce_aad(const uint8_t *header, uint64_t counter, bool final,
			    uint8_t nonce[static BSTREAM_NONCE_LEN],
			    uint8_t aad[static BSTREAM_AAD_LEN])
{
	memset(nonce, 0, 4);
	put_be64(nonce + 4, counter);
	memcpy(aad, header, BSTREAM_HEADER_LEN);
	put_be64(aad + BSTREAM_HEADER_LEN, counter);
	aad[BSTREAM_HEADER_LEN + 8] = final ? 1 : 0;
}

/* ---- writer ---- */

struct bstream_writer {
	EVP_CIPHER_CTX *cipher;             /* AES-256-GCM keyed with the per-object key */
	ZSTD_CCtx *zc;                      /* compressor; NULL when no_compress */
	uint8_t header[BSTREAM_HEADER_LEN]; /* as emitted, the AAD prefix */
	uint8_t *rec;                       /* length | chunk | tag, the record being filled */
	size_t chunk_size;                  /* plaintext bytes per non-final chunk */
	size_t fill;                        /* bytes of the current chunk filled */
	uint64_t counter;                   /* next chunk's counter */
	uint64_t plain;                     /* plaintext bytes taken */
	uint64_t stored;                    /* bytes emitted */
	bstream_out_t out;                  /* where records go */
	void *ud;                           /* out's argument */
	int error;                          /* first error; every later call returns it */
	bool finished;                      /* the final chunk was emitted */
};

static int writer_emit(struct bstream_writer *w, const void *buf, size_t len)
{
	int r = w->out(w->ud, buf, len);
	if (r < 0)
		return r;
	w->stored += len;
	return 0;
}

/* Seals the chunk in rec (w->fill bytes) in place and emits the record. */
static int writer_seal(struct bstream_writer *w, bool final)
{
	uint8_t nonce[BSTREAM_NONCE_LEN], aad[BSTREAM_AAD_LEN];
	uint8_t *ct = w->rec + BSTREAM_LEN_LEN;
	int n;

	chunk_nonce_aad(w->header, w->counter, final, nonce, aad);
	if (EVP_EncryptInit_ex2(w->cipher, NULL, NULL, nonce, NULL) != 1 ||
	    EVP_EncryptUpdate(w->cipher, NULL, &n, aad, sizeof(aad)) != 1)
		return -EIO;
	if (w->fill > 0 &&
	    (EVP_EncryptUpdate(w->cipher, ct, &n, ct, (int)w->fill) != 1 || (size_t)n != w->fill))
		return -EIO;
	uint8_t *tag = ct + w->fill;
	if (EVP_EncryptFinal_ex(w->cipher, tag, &n) != 1 || n != 0 ||
	    EVP_CIPHER_CTX_ctrl(w->cipher, EVP_CTRL_AEAD_GET_TAG, BSTREAM_TAG_LEN, tag) != 1)
		return -EIO;
	put_be32(w->rec, (uint32_t)(w->fill + BSTREAM_TAG_LEN));
	int r = writer_emit(w, w->rec, BSTREAM_LEN_LEN + w->fill + BSTREAM_TAG_LEN);
	if (r < 0)
		return r;
	w->counter++;
	w->fill = 0;
	return 0;
}

/* The window is left to the level: every level up to BSTREAM_LEVEL_MAX
 * (19) uses at most 2^23 bytes (zstd's parameter tables), which is what the
 * reader accepts (BSTREAM_WINDOW_LOG_MAX); zstd turns long-distance
 * matching on by itself only from a 2^27 window.  A test checks level 19
 * against the reader. */
static int zstd_setup_writer(struct bstream_writer *w, int level, unsigned workers)
{
	w->zc = ZSTD_createCCtx();
	if (!w->zc)
		return -ENOMEM;
	if (ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_checksumFlag, 0)))
		return -EINVAL;
	if (workers > 0 &&
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_nbWorkers, (int)workers)))
		return -EOPNOTSUPP;
	return 0;
}

int bstream_writer_new(const uint8_t key[static BSTREAM_KEY_LEN], const char *object_name,
		       const struct bstream_options *o, bstream_out_t out, void *ud,
		       struct bstream_writer **ret)
{
	static const struct bstream_options defaults = {0};
	struct bstream_writer *w;
	int level, r;
	unsigned chunk_log;

	if (!key || !out || !ret || !object_name_valid(object_name))
		return -EINVAL;
	if (!o)
		o = &defaults;
	level = o->level == 0 ? BSTREAM_LEVEL_DEFAULT : o->level;
	chunk_log = o->chunk_log == 0 ? BSTREAM_CHUNK_LOG_DEFAULT : o->chunk_log;
	if (level < BSTREAM_LEVEL_MIN || level > BSTREAM_LEVEL_MAX ||
	    chunk_log < BSTREAM_CHUNK_LOG_MIN || chunk_log > BSTREAM_CHUNK_LOG_MAX ||
	    o->workers > BSTREAM_WORKERS_MAX)
		return -EINVAL;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->out = out;
	w->ud = ud;
	w->chunk_size = (size_t)1 << chunk_log;

	memcpy(w->header, BSTREAM_MAGIC, 8);
	w->header[8] = BSTREAM_VERSION;
	w->header[9] = BSTREAM_ALG_ZSTD_AES256GCM;
	w->header[10] = (uint8_t)chunk_log;
	w->header[11] = o->no_compress ? 0 : BSTREAM_FLAG_COMPRESSED;
	if (o->test_salt)
		memcpy(w->header + 12, o->test_salt, BSTREAM_SALT_LEN);
	else {
		r = random_bytes(w->header + 12, BSTREAM_SALT_LEN);
		if (r < 0)
			goto fail;
	}

	r = -ENOMEM;
	w->rec = malloc(BSTREAM_LEN_LEN + w->chunk_size + BSTREAM_TAG_LEN);
	if (!w->rec)
		goto fail;
	r = cipher_init(key, w->header + 12, object_name, true, &w->cipher);
	if (r < 0)
		goto fail;
	if (!o->no_compress) {
		r = zstd_setup_writer(w, level, o->workers);
		if (r < 0)
			goto fail;
	}
	r = writer_emit(w, w->header, BSTREAM_HEADER_LEN);
	if (r < 0)
		goto fail;
	*ret = w;
	return 0;
fail:
	bstream_writer_free(w);
	return r;
}

/* Runs the compressor over `in` with `op` until it has consumed the input
 * (ZSTD_e_continue) or flushed the frame (ZSTD_e_end), sealing every chunk
 * that fills on the way. */
static int writer_compress(struct bstream_writer *w, ZSTD_inBuffer *in, ZSTD_EndDirective op)
{
	for (;;) {
		ZSTD_outBuffer ob = {w->rec + BSTREAM_LEN_LEN, w->chunk_size, w->fill};
		size_t left = ZSTD_compressStream2(w->zc, &ob, in, op);
		if (ZSTD_isError(left))
			return ZSTD_getErrorCode(left) == ZSTD_error_memory_allocation ? -ENOMEM
										       : -EIO;
		w->fill = ob.pos;
		if (w->fill == w->chunk_size) {
			int r = writer_seal(w, false);
			if (r < 0)
				return r;
		}
		if (op == ZSTD_e_end ? left == 0 : in->pos == in->size)
			return 0;
	}
}

int bstream_write(struct bstream_writer *w, const void *buf, size_t len)
{
	int r;

	if (!w || (!buf && len > 0))
		return -EINVAL;
	if (w->error < 0)
		return w->error;
	if (w->finished)
		return -EINVAL;
	if (len == 0)
		return 0;

	if (w->zc) {
		ZSTD_inBuffer in = {buf, len, 0};
		r = writer_compress(w, &in, ZSTD_e_continue);
	} else {
		const uint8_t *p = buf;
		size_t left = len;
		r = 0;
		while (left > 0) {
			size_t n = MIN(left, w->chunk_size - w->fill);
			memcpy(w->rec + BSTREAM_LEN_LEN + w->fill, p, n);
			w->fill += n;
			p += n;
			left -= n;
			if (w->fill == w->chunk_size) {
				r = writer_seal(w, false);
				if (r < 0)
					break;
			}
		}
	}
	if (r < 0)
		return (w->error = r);
	w->plain += len;
	return 0;
}

int bstream_finish(struct bstream_writer *w)
{
	int r = 0;

	if (!w)
		return -EINVAL;
	if (w->error < 0)
		return w->error;
	if (w->finished)
		return -EINVAL;
	if (w->zc) {
		ZSTD_inBuffer in = {NULL, 0, 0};
		r = writer_compress(w, &in, ZSTD_e_end);
	}
	/* Full chunks were sealed as they filled: what is left (maybe
	 * nothing) is shorter than a chunk and is the final one. */
	if (r >= 0)
		r = writer_seal(w, true);
	if (r < 0)
		return (w->error = r);
	w->finished = true;
	return 0;
}

void bstream_writer_free(struct bstream_writer *w)
{
	if (!w)
		return;
	EVP_CIPHER_CTX_free(w->cipher); /* cleanses the key schedule */
	ZSTD_freeCCtx(w->zc);
	if (w->rec) {
		explicit_bzero(w->rec, BSTREAM_LEN_LEN + w->chunk_size + BSTREAM_TAG_LEN);
		free(w->rec);
	}
	explicit_bzero(w, sizeof(*w));
	free(w);
}

void bstream_writer_stats(const struct bstream_writer *w, uint64_t *ret_plain, uint64_t *ret_stored)
{
	if (ret_plain)
		*ret_plain = w ? w->plain : 0;
	if (ret_stored)
		*ret_stored = w ? w->stored : 0;
}

/* ---- reader ---- */

enum reader_state {
	READER_HEADER, /* collecting the header */
	READER_LENGTH, /* collecting a record's 4-byte length */
	READER_BODY,   /* collecting a record's ciphertext and tag */
	READER_DONE,   /* the final chunk was read */
	READER_FAILED, /* error set */
};

struct bstream_reader {
	EVP_CIPHER_CTX *cipher;             /* keyed once the header gives the salt */
	ZSTD_DCtx *zd;                      /* decompressor, when the stream is compressed */
	uint8_t key[BSTREAM_KEY_LEN];       /* data key until the header is read, then wiped */
	char *name;                         /* expected object name */
	uint8_t header[BSTREAM_HEADER_LEN]; /* the header as read */
	uint8_t lenbuf[BSTREAM_LEN_LEN];    /* the record length as read */
	size_t have;                        /* bytes collected in the current part */
	size_t need;                        /* record length (ciphertext + tag) */
	uint8_t *chunk;                     /* chunk_size + tag: ciphertext, then plaintext */
	uint8_t *out;                       /* BSTREAM_SINK_MAX bytes of decompressed output */
	size_t chunk_size;                  /* from the header */
	uint64_t counter;                   /* next chunk's counter */
	uint64_t stored;                    /* bytes taken */
	uint64_t plain;                     /* plaintext bytes delivered */
	bool frame_done;                    /* zstd reported the end of the frame */
	enum reader_state state;            /* where the parser is */
	bstream_out_t sink;                 /* where plaintext goes */
	void *ud;                           /* sink's argument */
	int error;                          /* first error */
	char reason[BSTREAM_ERROR_MAX];     /* its description */
};

_printf_(3, 4) static int reader_fail(struct bstream_reader *r, int error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	r->error = error;
	r->state = READER_FAILED;
	return error;
}

int bstream_reader_new(const uint8_t key[static BSTREAM_KEY_LEN], const char *object_name,
		       bstream_out_t sink, void *ud, struct bstream_reader **ret)
{
	struct bstream_reader *r;

	if (!key || !sink || !ret || !object_name_valid(object_name))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->name = strdup(object_name);
	if (!r->name) {
		free(r);
		return -ENOMEM;
	}
	memcpy(r->key, key, BSTREAM_KEY_LEN);
	r->sink = sink;
	r->ud = ud;
	r->state = READER_HEADER;
	*ret = r;
	return 0;
}

static int reader_header(struct bstream_reader *r)
{
	const uint8_t *h = r->header;
	int e;

	if (memcmp(h, BSTREAM_MAGIC, 8) != 0)
		return reader_fail(r, -EBADMSG, "not a Cairn backup stream (bad magic)");
	if (h[8] != BSTREAM_VERSION)
		return reader_fail(r, -EPROTONOSUPPORT, "unsupported format version %u", h[8]);
	if (h[9] != BSTREAM_ALG_ZSTD_AES256GCM)
		return reader_fail(r, -EPROTONOSUPPORT, "unsupported algorithm %u", h[9]);
	if (h[10] < BSTREAM_CHUNK_LOG_MIN || h[10] > BSTREAM_CHUNK_LOG_MAX)
		return reader_fail(r, -EBADMSG, "bad header: chunk size log2 %u out of %u..%u",
				   h[10], BSTREAM_CHUNK_LOG_MIN, BSTREAM_CHUNK_LOG_MAX);
	if (h[11] & ~BSTREAM_FLAG_COMPRESSED)
		return reader_fail(r, -EBADMSG, "bad header: unknown flags 0x%02x", h[11]);
	r->chunk_size = (size_t)1 << h[10];

	e = cipher_init(r->key, h + 12, r->name, false, &r->cipher);
	explicit_bzero(r->key, sizeof(r->key));
	if (e < 0)
		return reader_fail(r, e, "cannot derive the object key");
	r->chunk = malloc(r->chunk_size + BSTREAM_TAG_LEN);
	if (!r->chunk)
		return reader_fail(r, -ENOMEM, "out of memory");
	if (h[11] & BSTREAM_FLAG_COMPRESSED) {
		r->out = malloc(BSTREAM_SINK_MAX);
		r->zd = ZSTD_createDCtx();
		if (!r->out || !r->zd)
			return reader_fail(r, -ENOMEM, "out of memory");
		if (ZSTD_isError(ZSTD_DCtx_setParameter(r->zd, ZSTD_d_windowLogMax,
							BSTREAM_WINDOW_LOG_MAX)))
			return reader_fail(r, -EIO, "cannot set up the decompressor");
	}
	return 0;
}

static int reader_deliver(struct bstream_reader *r, const uint8_t *buf, size_t len)
{
	int e = r->sink(r->ud, buf, len);
	if (e < 0)
		return reader_fail(r, e, "chunk %" PRIu64 ": the consumer refused the data (%s)",
				   r->counter,
				   strerrordesc_np(-e) ? strerrordesc_np(-e) : "unknown error");
	r->plain += len;
	return 0;
}

/* Decompresses an authenticated chunk to the sink, BSTREAM_SINK_MAX bytes
 * at a time, so a small input that expands hugely is never held whole. */
static int reader_inflate(struct bstream_reader *r, const uint8_t *pt, size_t len, bool final)
{
	ZSTD_inBuffer in = {pt, len, 0};
	int e;

	for (;;) {
		if (r->frame_done) {
			if (in.pos < in.size)
				return reader_fail(r, -EBADMSG,
						   "chunk %" PRIu64
						   ": data after the compressed frame",
						   r->counter);
			break;
		}
		ZSTD_outBuffer ob = {r->out, BSTREAM_SINK_MAX, 0};
		size_t z = ZSTD_decompressStream(r->zd, &ob, &in);
		if (ZSTD_isError(z))
			return reader_fail(r, -EBADMSG,
					   "chunk %" PRIu64 ": decompression failed: %s",
					   r->counter, ZSTD_getErrorName(z));
		if (ob.pos > 0) {
			e = reader_deliver(r, r->out, ob.pos);
			if (e < 0)
				return e;
		}
		if (z == 0)
			r->frame_done = true;
		/* Done with this chunk once its input is used and zstd has
		 * nothing more to give (it filled less than the buffer). */
		if (!r->frame_done && in.pos == in.size && ob.pos < ob.size)
			break;
	}
	if (final && !r->frame_done)
		return reader_fail(r, -EBADMSG,
				   "chunk %" PRIu64 ": the compressed frame ends early",
				   r->counter);
	return 0;
}

/* Authenticates and decrypts the record of `len` bytes at `src` into
 * r->chunk (src may be r->chunk itself), then passes the plaintext on. */
static int reader_open_chunk(struct bstream_reader *r, const uint8_t *src, size_t len)
{
	uint8_t nonce[BSTREAM_NONCE_LEN], aad[BSTREAM_AAD_LEN];
	size_t pt_len = len - BSTREAM_TAG_LEN;
	bool final = pt_len < r->chunk_size;
	int n;

	chunk_nonce_aad(r->header, r->counter, final, nonce, aad);
	if (EVP_DecryptInit_ex2(r->cipher, NULL, NULL, nonce, NULL) != 1 ||
	    EVP_DecryptUpdate(r->cipher, NULL, &n, aad, sizeof(aad)) != 1 ||
	    (pt_len > 0 && EVP_DecryptUpdate(r->cipher, r->chunk, &n, src, (int)pt_len) != 1) ||
	    EVP_CIPHER_CTX_ctrl(r->cipher, EVP_CTRL_AEAD_SET_TAG, BSTREAM_TAG_LEN,
				(void *)(src + pt_len)) != 1)
		return reader_fail(r, -EIO, "chunk %" PRIu64 ": decryption error", r->counter);
	if (EVP_DecryptFinal_ex(r->cipher, r->chunk + pt_len, &n) != 1) {
		/* Unauthenticated plaintext must go nowhere. */
		explicit_bzero(r->chunk, pt_len);
		return reader_fail(r, -EBADMSG,
				   "chunk %" PRIu64
				   ": authentication failed (corrupt, reordered or "
				   "wrong key/name)",
				   r->counter);
	}

	int e = r->zd ? reader_inflate(r, r->chunk, pt_len, final)
		      : (pt_len > 0 ? reader_deliver(r, r->chunk, pt_len) : 0);
	if (e < 0)
		return e;
	r->counter++;
	r->state = final ? READER_DONE : READER_LENGTH;
	r->have = 0;
	return 0;
}

static int reader_length(struct bstream_reader *r)
{
	uint32_t len = get_be32(r->lenbuf);

	/* Checked before anything is read: a forged length cannot make the
	 * reader wait for, or hold, more than one chunk. */
	if (len > r->chunk_size + BSTREAM_TAG_LEN)
		return reader_fail(r, -EBADMSG,
				   "chunk %" PRIu64 ": length %" PRIu32
				   " exceeds the chunk size %zu + %u",
				   r->counter, len, r->chunk_size, BSTREAM_TAG_LEN);
	if (len < BSTREAM_TAG_LEN)
		return reader_fail(r, -EBADMSG,
				   "chunk %" PRIu64 ": length %" PRIu32 " shorter than the tag",
				   r->counter, len);
	r->need = len;
	r->have = 0;
	r->state = READER_BODY;
	return 0;
}

int bstream_feed(struct bstream_reader *r, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int e;

	if (!r || (!buf && len > 0))
		return -EINVAL;
	if (r->state == READER_FAILED)
		return r->error;

	while (len > 0) {
		size_t n;

		switch (r->state) {
		case READER_HEADER:
			n = MIN(len, BSTREAM_HEADER_LEN - r->have);
			memcpy(r->header + r->have, p, n);
			r->have += n;
			if (r->have == BSTREAM_HEADER_LEN) {
				e = reader_header(r);
				if (e < 0)
					return e;
				r->state = READER_LENGTH;
				r->have = 0;
			}
			break;
		case READER_LENGTH:
			n = MIN(len, BSTREAM_LEN_LEN - r->have);
			memcpy(r->lenbuf + r->have, p, n);
			r->have += n;
			if (r->have == BSTREAM_LEN_LEN) {
				e = reader_length(r);
				if (e < 0)
					return e;
			}
			break;
		case READER_BODY:
			if (r->have == 0 && len >= r->need) {
				/* The whole record is here: decrypt it from
				 * the caller's buffer, no copy. */
				n = r->need;
				r->stored += n;
				e = reader_open_chunk(r, p, n);
				if (e < 0)
					return e;
				p += n;
				len -= n;
				continue;
			}
			n = MIN(len, r->need - r->have);
			memcpy(r->chunk + r->have, p, n);
			r->have += n;
			if (r->have == r->need) {
				r->stored += n;
				p += n;
				len -= n;
				e = reader_open_chunk(r, r->chunk, r->need);
				if (e < 0)
					return e;
				continue;
			}
			break;
		case READER_DONE:
			return reader_fail(r, -EBADMSG, "data after the final chunk");
		case READER_FAILED:
		default:
			return r->error;
		}
		r->stored += n;
		p += n;
		len -= n;
	}
	return 0;
}

int bstream_reader_finish(struct bstream_reader *r)
{
	if (!r)
		return -EINVAL;
	switch (r->state) {
	case READER_DONE:
		return 0;
	case READER_FAILED:
		return r->error;
	case READER_HEADER:
		if (r->have == 0)
			return reader_fail(r, -EBADMSG, "empty input: not a Cairn backup stream");
		return reader_fail(r, -EBADMSG, "truncated in the header (%zu of %u bytes)",
				   r->have, BSTREAM_HEADER_LEN);
	case READER_LENGTH:
		if (r->have > 0)
			return reader_fail(r, -EBADMSG, "truncated in the length of chunk %" PRIu64,
					   r->counter);
		if (r->counter == 0)
			return reader_fail(r, -EBADMSG,
					   "truncated after the header: no final chunk");
		return reader_fail(r, -EBADMSG, "truncated after chunk %" PRIu64 ": no final chunk",
				   r->counter - 1);
	case READER_BODY:
	default:
		return reader_fail(r, -EBADMSG, "truncated in chunk %" PRIu64 " (%zu of %zu bytes)",
				   r->counter, r->have, r->need);
	}
}

const char *bstream_reader_error(const struct bstream_reader *r)
{
	if (!r || r->state != READER_FAILED)
		return NULL;
	return r->reason;
}

void bstream_reader_stats(const struct bstream_reader *r, uint64_t *ret_stored, uint64_t *ret_plain)
{
	if (ret_stored)
		*ret_stored = r ? r->stored : 0;
	if (ret_plain)
		*ret_plain = r ? r->plain : 0;
}

void bstream_reader_free(struct bstream_reader *r)
{
	if (!r)
		return;
	EVP_CIPHER_CTX_free(r->cipher);
	ZSTD_freeDCtx(r->zd);
	if (r->chunk) {
		explicit_bzero(r->chunk, r->chunk_size + BSTREAM_TAG_LEN);
		free(r->chunk);
	}
	if (r->out) {
		explicit_bzero(r->out, BSTREAM_SINK_MAX);
		free(r->out);
	}
	free(r->name);
	explicit_bzero(r, sizeof(*r));
	free(r);
}

/* ---- whole buffers ---- */

struct membuf {
	uint8_t *data; /* heap buffer */
	size_t len;    /* bytes used */
	size_t cap;    /* bytes allocated */
	size_t max;    /* refuse to grow past this (-EFBIG) */
};

static int membuf_append(void *ud, const void *buf, size_t len)
{
	struct membuf *m = ud;

	if (len > m->max - m->len)
		return -EFBIG;
	if (m->len + len + 1 > m->cap) {
		size_t cap = m->cap ? m->cap : 4096;
		while (cap < m->len + len + 1)
			cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
		uint8_t *d = realloc(m->data, cap);
		if (!d)
			return -ENOMEM;
		m->data = d;
		m->cap = cap;
	}
	memcpy(m->data + m->len, buf, len);
	m->len += len;
	return 0;
}

int bstream_seal_buffer(const uint8_t key[static BSTREAM_KEY_LEN], const char *object_name,
			const struct bstream_options *o, const void *buf, size_t len, uint8_t **ret,
			size_t *ret_len)
{
	struct membuf m = {.max = SIZE_MAX - 1};
	_cleanup_bstream_writer_ struct bstream_writer *w = NULL;
	int r;

	if (!ret || !ret_len || (!buf && len > 0))
		return -EINVAL;
	r = bstream_writer_new(key, object_name, o, membuf_append, &m, &w);
	if (r >= 0)
		r = bstream_write(w, buf, len);
	if (r >= 0)
		r = bstream_finish(w);
	if (r < 0) {
		free(m.data);
		return r;
	}
	*ret = m.data;
	*ret_len = m.len;
	return 0;
}

int bstream_open_buffer(const uint8_t key[static BSTREAM_KEY_LEN], const char *object_name,
			const void *buf, size_t len, size_t max_plain, uint8_t **ret,
			size_t *ret_len, char **ret_error)
{
	struct membuf m = {.max = MIN(max_plain, SIZE_MAX - 1)};
	_cleanup_bstream_reader_ struct bstream_reader *rd = NULL;
	int r;

	if (!ret || !ret_len || (!buf && len > 0))
		return -EINVAL;
	r = bstream_reader_new(key, object_name, membuf_append, &m, &rd);
	if (r < 0)
		return r;
	r = bstream_feed(rd, buf, len);
	if (r >= 0)
		r = bstream_reader_finish(rd);
	if (r >= 0 && !m.data)
		r = membuf_append(&m, "", 0) < 0 ? -ENOMEM : 0;
	if (r < 0) {
		if (ret_error && bstream_reader_error(rd))
			*ret_error = strdup(bstream_reader_error(rd));
		free(m.data);
		return r;
	}
	m.data[m.len] = '\0';
	*ret = m.data;
	*ret_len = m.len;
	return 0;
}
