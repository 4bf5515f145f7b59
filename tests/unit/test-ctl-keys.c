/*
 * test-ctl-keys.c: first start creates every key file with the right mode,
 * a restart loads the same keys, a half-initialised CA is refused, a
 * crash between admin.token and the store is completed, and the server
 * certificate follows server_names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "keys.h"
#include "macro.h"
#include "pki.h"
#include "store.h"
#include "util.h"

static const char *const files[] = { "ca.key", "ca.pem", "job-signing.key", "kek.key",
				     "server.key", "server.pem", "admin.token", STORE_DB_NAME,
				     STORE_DB_NAME "-wal", STORE_DB_NAME "-shm", NULL };

struct fx {
	char dir[64];
	struct store *store;
};

/* Two rotating buffers, so that p(a) and p(b) can be used together. */
static char *p(struct fx *f, const char *name)
{
	static char buf[2][128];
	static unsigned i;
	char *b = buf[i++ % 2];
	snprintf(b, sizeof(buf[0]), "%s/%s", f->dir, name);
	return b;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-ctl-keys-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(store_open(f->dir, &f->store, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	store_close(f->store);
	for (size_t i = 0; files[i]; i++)
		unlink(p(f, files[i]));
	rmdir(f->dir);
	free(f);
	return 0;
}

static char *names1[] = { (char *)"localhost", (char *)"127.0.0.1", NULL };
static char *names2[] = { (char *)"ctl.example", NULL };

static void test_create_and_reload(void **state)
{
	struct fx *f = *state;
	struct keys *k = NULL;
	char *err = NULL;
	struct stat st;

	assert_int_equal(keys_setup(f->dir, names1, f->store, &k, &err), 0);
	const char *secret[] = { "ca.key", "job-signing.key", "kek.key", "server.key", "admin.token" };
	for (size_t i = 0; i < ELEMENTSOF(secret); i++) {
		assert_int_equal(stat(p(f, secret[i]), &st), 0);
		if ((st.st_mode & 0777) != 0600)
			fail_msg("%s has mode %o", secret[i], st.st_mode & 0777);
	}
	int64_t n = 0;
	assert_int_equal(store_token_count(f->store, &n), 0);
	assert_int_equal(n, 1);
	char *ca1 = strdup(k->ca_pem), kid1[CAIRN_KID_LEN + 1];
	memcpy(kid1, k->job_kid, sizeof(kid1));
	uint8_t kek1[AEAD_KEY_LEN];
	memcpy(kek1, k->kek, sizeof(kek1));
	json_t *jk = keys_job_keys_json(k);
	assert_int_equal(json_array_size(jk), 1);
	json_decref(jk);
	keys_free(k);

	/* A restart loads the same material and adds no token. */
	assert_int_equal(keys_setup(f->dir, names1, f->store, &k, &err), 0);
	assert_string_equal(k->ca_pem, ca1);
	assert_string_equal(k->job_kid, kid1);
	assert_memory_equal(k->kek, kek1, sizeof(kek1));
	assert_int_equal(store_token_count(f->store, &n), 0);
	assert_int_equal(n, 1);
	free(ca1);

	/* New server names: the server certificate is reissued for them. */
	char *old_cert = strdup(k->server_cert_pem);
	keys_free(k);
	assert_int_equal(keys_setup(f->dir, names2, f->store, &k, &err), 0);
	assert_string_not_equal(k->server_cert_pem, old_cert);
	X509 *cert = NULL;
	assert_int_equal(pki_cert_from_pem(k->server_cert_pem, &cert), 0);
	assert_true(pki_cert_has_names(cert, (const char *const *)names2));
	X509_free(cert);
	free(old_cert);
	keys_free(k);
}

static void test_half_ca_refused(void **state)
{
	struct fx *f = *state;
	struct keys *k = NULL;
	char *err = NULL;
	assert_int_equal(keys_setup(f->dir, names1, f->store, &k, &err), 0);
	keys_free(k);
	k = NULL;
	assert_int_equal(rename(p(f, "ca.pem"), p(f, "ca.pem.bak")), 0);
	assert_int_equal(keys_setup(f->dir, names1, f->store, &k, &err), -EUCLEAN);
	assert_null(k);
	assert_non_null(strstr(err, "ca.key"));
	free(err);
	err = NULL;
	/* Nothing was regenerated. */
	assert_int_not_equal(access(p(f, "ca.pem"), F_OK), 0);
	assert_int_equal(rename(p(f, "ca.pem.bak"), p(f, "ca.pem")), 0);
	assert_int_equal(keys_setup(f->dir, names1, f->store, &k, &err), 0);
	keys_free(k);
	unlink(p(f, "ca.pem.bak"));
}

static void test_admin_token_completed(void **state)
{
	struct fx *f = *state;
	struct keys *k = NULL;
	char *err = NULL, hash[65];
	/* As if a crash hit after admin.token was written, before the store. */
	assert_int_equal(write_string_atomic(p(f, "admin.token"), "cat_crashedbeforestore", 0600), 0);
	assert_int_equal(keys_setup(f->dir, names1, f->store, &k, &err), 0);
	keys_free(k);
	assert_int_equal(sha256_hex("cat_crashedbeforestore", 22, hash), 0);
	assert_int_equal(store_token_check(f->store, hash), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_and_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_ca_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_token_completed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
