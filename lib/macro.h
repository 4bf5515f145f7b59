/*
 * macro.h: small helpers shared by every part of Cairn.
 *
 * The _cleanup_ attributes give each heap object one owner whose scope ends
 * its life, the way systemd does it: declare with _cleanup_free_ and hand
 * the object over with TAKE_PTR() when ownership moves.  Destructors used
 * here all accept NULL.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Moves ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p)                                                            \
	({                                                                     \
		__typeof__(p) _p_ = (p);                                       \
		(p) = NULL;                                                    \
		_p_;                                                           \
	})
#define TAKE_FD(fd)                                                            \
	({                                                                     \
		int _fd_ = (fd);                                               \
		(fd) = -1;                                                     \
		_fd_;                                                          \
	})

static inline void freep(void *p) { free(*(void **)p); }
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_close_ _cleanup_(closep)

/* Wipes and frees a NUL-terminated secret. */
static inline void freezero_strp(char **p)
{
	if (*p) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
	}
}
#define _cleanup_secret_ _cleanup_(freezero_strp)

/* jansson >= 2.11 itself defines json_decrefp() for GCC and clang. */
#define _cleanup_json_ _cleanup_(json_decrefp)

static inline void sqlite3_finalizep(sqlite3_stmt **p) { sqlite3_finalize(*p); }
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)

static inline void curl_easy_cleanupp(CURL **p) { curl_easy_cleanup(*p); }
#define _cleanup_curl_ _cleanup_(curl_easy_cleanupp)

static inline void curl_slist_free_allp(struct curl_slist **p) { curl_slist_free_all(*p); }
#define _cleanup_slist_ _cleanup_(curl_slist_free_allp)

static inline void evp_pkey_freep(EVP_PKEY **p) { EVP_PKEY_free(*p); }
#define _cleanup_pkey_ _cleanup_(evp_pkey_freep)

static inline void x509_freep(X509 **p) { X509_free(*p); }
#define _cleanup_x509_ _cleanup_(x509_freep)

static inline void x509_req_freep(X509_REQ **p) { X509_REQ_free(*p); }
#define _cleanup_x509_req_ _cleanup_(x509_req_freep)

static inline void bio_freep(BIO **p) { BIO_free_all(*p); }
#define _cleanup_bio_ _cleanup_(bio_freep)

static inline void evp_md_ctx_freep(EVP_MD_CTX **p) { EVP_MD_CTX_free(*p); }
#define _cleanup_md_ctx_ _cleanup_(evp_md_ctx_freep)

static inline void evp_cipher_ctx_freep(EVP_CIPHER_CTX **p) { EVP_CIPHER_CTX_free(*p); }
#define _cleanup_cipher_ctx_ _cleanup_(evp_cipher_ctx_freep)

static inline bool streq_ptr(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}
#define streq(a, b) (strcmp((a), (b)) == 0)
