/*
 * cairn-jwstool: a test tool around lib/jws.c, for the interop test with
 * an independent JWS implementation and for integration tests that need
 * to craft jobs, valid or forged.
 *
 *   cairn-jwstool keygen PRIV.pem PUB.pem
 *   cairn-jwstool kid KEY.pem
 *   cairn-jwstool sign [--kid K] [--header JSON] [--raw] PRIV.pem [PAYLOAD.json|-]
 *   cairn-jwstool verify [--job] PUB.pem [JWS|FILE|-]
 *
 * sign prints a compact JWS made by jws_sign() (kid derived from the key
 * unless --kid).  --header signs with that exact header text instead of
 * ours, and --raw uses the payload bytes as they are (trailing blanks and
 * line breaks cut) instead of re-serialising them: together they can make
 * any JWS at all, e.g. with alg "none", duplicate members or a crit.
 *
 * verify exits 0 and prints the payload when the form (jws_parse) and the
 * signature are good and the kid names the key; with --job the payload
 * must also pass job_claims_from_json().  Otherwise it prints the reason
 * on stderr and exits 1.  Usage and I/O errors exit 2.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fileio.h"
#include "job.h"
#include "jws.h"
#include "macro.h"
#include "pki.h"
#include "protocol.h"
#include "util.h"

/* Largest input read (a JWS may be oversized on purpose, up to a point). */
#define JWSTOOL_INPUT_MAX (4 * CAIRN_JWS_MAX)
/* Largest key file read. */
#define JWSTOOL_KEY_MAX (64 * 1024)

#define EXIT_REFUSED 1
#define EXIT_USAGE 2

static int usage(void)
{
	fprintf(stderr, "usage: cairn-jwstool keygen PRIV.pem PUB.pem\n"
			"       cairn-jwstool kid KEY.pem\n"
			"       cairn-jwstool sign [--kid K] [--header JSON] [--raw] PRIV.pem "
			"[PAYLOAD.json|-]\n"
			"       cairn-jwstool verify [--job] PUB.pem [JWS|FILE|-]\n");
	return EXIT_USAGE;
}

/* Reads all of stdin, at most max bytes. */
static int read_stdin(size_t max, char **ret, size_t *ret_len)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap + 1);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;
			if (cap > max) {
				free(buf);
				return -EFBIG;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		free(buf);
		return -EFBIG;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* Reads a file, or stdin for "-" or NULL. */
static int read_input(const char *arg, char **ret, size_t *ret_len)
{
	if (!arg || streq(arg, "-"))
		return read_stdin(JWSTOOL_INPUT_MAX, ret, ret_len);
	return read_file_full(arg, JWSTOOL_INPUT_MAX, ret, ret_len);
}

static void strip_trailing_space(char *s, size_t *len)
{
	while (*len > 0 && strchr(" \t\r\n", s[*len - 1]))
		s[--*len] = '\0';
}

/* Loads a private key, or failing that a public key, from a PEM file. */
static int load_any_key(const char *path, EVP_PKEY **ret)
{
	_cleanup_secret_ char *pem = NULL;
	int r;

	r = read_file_full(path, JWSTOOL_KEY_MAX, &pem, NULL);
	if (r < 0)
		return r;
	if (pki_key_from_pem(pem, ret) == 0)
		return 0;
	return pki_pubkey_from_pem(pem, ret);
}

static int cmd_keygen(int argc, char **argv)
{
	_cleanup_pkey_ EVP_PKEY *k = NULL;
	_cleanup_free_ char *pub = NULL;
	int r;

	if (argc != 3)
		return usage();
	if (jws_key_generate(&k) < 0 || pki_pubkey_to_pem(k, &pub) < 0) {
		fprintf(stderr, "cannot make a key\n");
		return EXIT_USAGE;
	}
	r = pki_key_save(argv[1], k);
	if (r >= 0)
		r = write_string_atomic(argv[2], pub, 0644);
	if (r < 0) {
		fprintf(stderr, "cannot write keys: %s\n", strerror(-r));
		return EXIT_USAGE;
	}
	return 0;
}

static int cmd_kid(int argc, char **argv)
{
	_cleanup_pkey_ EVP_PKEY *k = NULL;
	char kid[CAIRN_KID_LEN + 1];

	if (argc != 2)
		return usage();
	if (load_any_key(argv[1], &k) < 0 || jws_key_id(k, kid) < 0) {
		fprintf(stderr, "%s: not an Ed25519 key\n", argv[1]);
		return EXIT_USAGE;
	}
	printf("%s\n", kid);
	return 0;
}

/* Signs header.payload (both raw texts) by hand. */
static int sign_raw(EVP_PKEY *k, const char *header, const char *payload, size_t plen, char **ret)
{
	_cleanup_free_ char *h = b64url_encode(header, strlen(header));
	_cleanup_free_ char *p = b64url_encode(payload, plen);
	_cleanup_free_ char *si = NULL, *sig64 = NULL;
	_cleanup_md_ctx_ EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[64];
	size_t sl = sizeof(sig);

	if (!h || !p || !ctx || asprintf(&si, "%s.%s", h, p) < 0)
		return -ENOMEM;
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) != 1 ||
	    EVP_DigestSign(ctx, sig, &sl, (unsigned char *)si, strlen(si)) != 1)
		return -EIO;
	sig64 = b64url_encode(sig, sl);
	if (!sig64 || asprintf(ret, "%s.%s", si, sig64) < 0)
		return -ENOMEM;
	return 0;
}

static int cmd_sign(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kid", required_argument, NULL, 'k' },
		{ "header", required_argument, NULL, 'H' },
		{ "raw", no_argument, NULL, 'r' },
		{},
	};
	_cleanup_pkey_ EVP_PKEY *k = NULL;
	_cleanup_free_ char *data = NULL, *out = NULL;
	_cleanup_json_ json_t *payload = NULL;
	const char *kid_opt = NULL, *header = NULL;
	char kid[CAIRN_KID_LEN + 1];
	bool raw = false;
	json_error_t err;
	size_t len;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case 'k':
			kid_opt = optarg;
			break;
		case 'H':
			header = optarg;
			break;
		case 'r':
			raw = true;
			break;
		default:
			return usage();
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return usage();
	r = load_any_key(argv[optind], &k);
	if (r < 0 || !EVP_PKEY_is_a(k, "ED25519")) {
		fprintf(stderr, "%s: not an Ed25519 private key\n", argv[optind]);
		return EXIT_USAGE;
	}
	r = read_input(argc - optind == 2 ? argv[optind + 1] : NULL, &data, &len);
	if (r < 0) {
		fprintf(stderr, "cannot read the payload: %s\n", strerror(-r));
		return EXIT_USAGE;
	}

	if (raw || header) {
		_cleanup_free_ char *h = NULL;
		_cleanup_free_ char *p = NULL;

		if (!header) {
			if (!kid_opt && jws_key_id(k, kid) < 0)
				return EXIT_USAGE;
			if (asprintf(&h, "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"cairn-job\"}",
				     kid_opt ? kid_opt : kid) < 0)
				return EXIT_USAGE;
			header = h;
		}
		if (raw) {
			strip_trailing_space(data, &len);
			p = strndup(data, len);
		} else {
			payload = json_loadb(data, len, 0, &err);
			if (!payload) {
				fprintf(stderr, "payload: %s (line %d)\n", err.text, err.line);
				return EXIT_USAGE;
			}
			p = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
			len = p ? strlen(p) : 0;
		}
		if (!p || sign_raw(k, header, p, len, &out) < 0) {
			fprintf(stderr, "cannot sign\n");
			return EXIT_USAGE;
		}
		printf("%s\n", out);
		return 0;
	}

	payload = json_loadb(data, len, 0, &err);
	if (!payload) {
		fprintf(stderr, "payload: %s (line %d)\n", err.text, err.line);
		return EXIT_USAGE;
	}
	if (!kid_opt) {
		r = jws_key_id(k, kid);
		if (r < 0)
			return EXIT_USAGE;
		kid_opt = kid;
	}
	r = jws_sign(k, kid_opt, payload, &out);
	if (r < 0) {
		fprintf(stderr, "jws_sign: %s\n", strerror(-r));
		return EXIT_USAGE;
	}
	printf("%s\n", out);
	return 0;
}

static int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "job", no_argument, NULL, 'j' },
		{},
	};
	_cleanup_pkey_ EVP_PKEY *k = NULL;
	_cleanup_free_ char *data = NULL, *printed = NULL;
	_cleanup_jws_ struct jws *j = NULL;
	const char *why = NULL, *arg;
	char kid[CAIRN_KID_LEN + 1];
	bool job = false;
	size_t len;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c != 'j')
			return usage();
		job = true;
	}
	if (argc - optind < 1 || argc - optind > 2)
		return usage();
	if (load_any_key(argv[optind], &k) < 0 || jws_key_id(k, kid) < 0) {
		fprintf(stderr, "%s: not an Ed25519 key\n", argv[optind]);
		return EXIT_USAGE;
	}
	arg = argc - optind == 2 ? argv[optind + 1] : NULL;
	/* A JWS on the command line, or a file holding one, or stdin. */
	if (arg && !streq(arg, "-") && access(arg, F_OK) < 0) {
		data = strdup(arg);
		if (!data)
			return EXIT_USAGE;
		len = strlen(data);
	} else {
		r = read_input(arg, &data, &len);
		if (r < 0) {
			fprintf(stderr, "cannot read the JWS: %s\n", strerror(-r));
			return EXIT_USAGE;
		}
	}
	strip_trailing_space(data, &len);

	r = jws_parse(data, len, &j, NULL, &why);
	if (r < 0) {
		fprintf(stderr, "refused: %s\n", why ? why : strerror(-r));
		return EXIT_REFUSED;
	}
	if (!streq(j->kid, kid)) {
		fprintf(stderr, "refused: kid does not name this key\n");
		return EXIT_REFUSED;
	}
	if (jws_verify(j, k) < 0) {
		fprintf(stderr, "refused: signature does not verify\n");
		return EXIT_REFUSED;
	}
	if (job) {
		struct job_claims claims = {};
		r = job_claims_from_json(j->payload, &claims, &why);
		if (r < 0) {
			fprintf(stderr, "refused: %s\n", why ? why : strerror(-r));
			return EXIT_REFUSED;
		}
		job_claims_done(&claims);
	}
	printed = json_dumps(j->payload, JSON_COMPACT | JSON_SORT_KEYS);
	if (!printed)
		return EXIT_USAGE;
	printf("%s\n", printed);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	argc--;
	argv++;
	if (streq(argv[0], "keygen"))
		return cmd_keygen(argc, argv);
	if (streq(argv[0], "kid"))
		return cmd_kid(argc, argv);
	if (streq(argv[0], "sign"))
		return cmd_sign(argc, argv);
	if (streq(argv[0], "verify"))
		return cmd_verify(argc, argv);
	return usage();
}
