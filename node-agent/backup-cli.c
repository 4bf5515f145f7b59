/*
 * backup-cli.c: the offline backup sub-command (see backup-cli.h).  The S3
 * target comes from an INI file and the data key from a file, both
 * expected 0600; nothing secret is taken from argv.
 */
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup-cli.h"
#include "backup-keys.h"
#include "backup-manifest.h"
#include "backup-object.h"
#include "bstream.h"
#include "exec-backup.h"
#include "exec-restore.h"
#include "fileio.h"
#include "ini.h"
#include "log.h"
#include "macro.h"
#include "util.h"

#define CLI_KEY_FILE_MAX 256
#define CLI_DECRYPT_IN_MAX (64 * 1024)

static int cli_usage(void)
{
	fprintf(stderr, "usage: cairn-agent backup list    --s3 FILE --ds ID\n"
			"       cairn-agent backup verify  --s3 FILE --key FILE --ds ID --backup ID\n"
			"       cairn-agent backup restore --s3 FILE --key FILE --ds ID --backup ID --to DIR\n"
			"       cairn-agent backup decrypt --key FILE --name OBJECT-NAME < object > plaintext\n");
	return 2;
}

static void cli_warn_mode(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && (st.st_mode & 077))
		fprintf(stderr, "cairn-agent backup: warning: %s is readable by others (want 0600)\n", path);
}

static int cli_load_key(const char *path, uint8_t key[static BSTREAM_KEY_LEN])
{
	_cleanup_secret_ char *line = NULL;
	int r;

	cli_warn_mode(path);
	r = read_one_line(path, CLI_KEY_FILE_MAX, &line);
	if (r < 0) {
		fprintf(stderr, "cairn-agent backup: %s: %s\n", path, strerror(-r));
		return r;
	}
	r = backup_key_decode(line, key);
	if (r < 0)
		fprintf(stderr, "cairn-agent backup: %s: not base64 of 32 bytes\n", path);
	return r;
}

static int cli_copy(char *dst, size_t max, const char *s, const char *what)
{
	if (!s)
		s = "";
	if (strlen(s) >= max) {
		fprintf(stderr, "cairn-agent backup: [s3] %s too long\n", what);
		return -EINVAL;
	}
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static int cli_load_target(const char *s3, const char *ds, struct backup_target *t)
{
	_cleanup_free_ char *err = NULL;
	struct ini *ini = NULL;
	int r;

	memset(t, 0, sizeof(*t));
	cli_warn_mode(s3);
	r = ini_load(s3, &ini, &err);
	if (r < 0) {
		fprintf(stderr, "cairn-agent backup: %s: %s\n", s3, err ? err : strerror(-r));
		return r;
	}
	if ((r = cli_copy(t->ds, sizeof(t->ds), ds, "ds")) < 0 ||
	    (r = cli_copy(t->endpoint, sizeof(t->endpoint), ini_get(ini, "s3", "endpoint"), "endpoint")) < 0 ||
	    (r = cli_copy(t->region, sizeof(t->region), ini_get(ini, "s3", "region"), "region")) < 0 ||
	    (r = cli_copy(t->bucket, sizeof(t->bucket), ini_get(ini, "s3", "bucket"), "bucket")) < 0 ||
	    (r = cli_copy(t->prefix, sizeof(t->prefix), ini_get(ini, "s3", "prefix"), "prefix")) < 0 ||
	    (r = cli_copy(t->access_key, sizeof(t->access_key), ini_get(ini, "s3", "access_key"), "access_key")) < 0 ||
	    (r = cli_copy(t->secret_key, sizeof(t->secret_key), ini_get(ini, "s3", "secret_key"), "secret_key")) < 0 ||
	    (r = cli_copy(t->ca_file, sizeof(t->ca_file), ini_get(ini, "s3", "ca_file"), "ca_file")) < 0) {
		ini_free(ini);
		return r;
	}
	ini_free(ini);
	/* Same normalisation as backup.configure. */
	while (t->prefix[0] == '/')
		memmove(t->prefix, t->prefix + 1, strlen(t->prefix));
	for (size_t n = strlen(t->prefix); n > 0 && t->prefix[n - 1] == '/';)
		t->prefix[--n] = 0;
	t->level = BSTREAM_LEVEL_DEFAULT;
	return 0;
}

static int cli_list_cb(void *ud, const struct s3_object *o)
{
	size_t skip = *(size_t *)ud;
	const char *rest = o->key + skip;
	const char *end = strstr(rest, "/manifest");

	if (end && streq(end, "/manifest"))
		printf("%.*s\t%" PRIu64 "\n", (int)(end - rest), rest, o->size);
	return 0;
}

static int cli_decrypt_out(void *ud, const void *buf, size_t len)
{
	(void)ud;
	return fwrite(buf, 1, len, stdout) == len ? 0 : -EIO;
}

static int cli_decrypt(const uint8_t key[static BSTREAM_KEY_LEN], const char *name)
{
	_cleanup_bstream_reader_ struct bstream_reader *r = NULL;
	_cleanup_free_ uint8_t *buf = malloc(CLI_DECRYPT_IN_MAX);
	int k;

	if (!buf || bstream_reader_new(key, name, cli_decrypt_out, NULL, &r) < 0)
		return 1;
	for (;;) {
		size_t n = fread(buf, 1, CLI_DECRYPT_IN_MAX, stdin);

		if (n > 0 && (k = bstream_feed(r, buf, n)) < 0)
			goto fail;
		if (n < CLI_DECRYPT_IN_MAX) {
			if (ferror(stdin)) {
				fprintf(stderr, "cairn-agent backup decrypt: read error\n");
				return 1;
			}
			break;
		}
	}
	k = bstream_reader_finish(r);
	if (k < 0)
		goto fail;
	return fflush(stdout) == 0 ? 0 : 1;
fail:
	fprintf(stderr, "cairn-agent backup decrypt: %s: %s\n", name,
		bstream_reader_error(r) ? bstream_reader_error(r) : strerror(-k));
	return 1;
}

int backup_cli_main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "s3", required_argument, NULL, 's' },	   { "key", required_argument, NULL, 'k' },
		{ "ds", required_argument, NULL, 'd' },	   { "backup", required_argument, NULL, 'b' },
		{ "to", required_argument, NULL, 't' },	   { "name", required_argument, NULL, 'n' },
		{},
	};
	const char *s3 = NULL, *keyf = NULL, *ds = NULL, *id = NULL, *to = NULL, *name = NULL, *verb;
	_cleanup_free_ struct backup_target *t = NULL;
	_cleanup_free_ char *msg = NULL;
	int c, r, status = 1;

	if (argc < 2)
		return cli_usage();
	verb = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
		switch (c) {
		case 's': s3 = optarg; break;
		case 'k': keyf = optarg; break;
		case 'd': ds = optarg; break;
		case 'b': id = optarg; break;
		case 't': to = optarg; break;
		case 'n': name = optarg; break;
		default: return cli_usage();
		}
	if (optind != argc)
		return cli_usage();
	log_open(LOG_TARGET_AUTO, "cairn-agent", LOG_WARNING);
	t = calloc(1, sizeof(*t));
	if (!t)
		return 1;
	if (streq(verb, "decrypt")) {
		if (!keyf || !name)
			return cli_usage();
		if (cli_load_key(keyf, t->data_key) < 0)
			goto out;
		status = cli_decrypt(t->data_key, name);
		goto out;
	}
	if (!s3 || !ds || (!streq(verb, "list") && (!keyf || !id)) || (streq(verb, "restore") && !to))
		return cli_usage();
	if (id && !backup_id_is_valid(id)) {
		fprintf(stderr, "cairn-agent backup: bad backup id\n");
		goto out;
	}
	if (cli_load_target(s3, ds, t) < 0 || (keyf && cli_load_key(keyf, t->data_key) < 0))
		goto out;
	if (streq(verb, "list")) {
		_cleanup_s3_client_ struct s3_client *cl = NULL;
		_cleanup_free_ char *prefix = backup_object_key(t, "backups/");
		struct s3_error err = { 0 };
		size_t skip;

		if (!prefix || backup_target_client(t, 1, &cl) < 0)
			goto out;
		skip = strlen(prefix);
		r = s3_list(cl, prefix, cli_list_cb, &skip, &err);
		if (r < 0) {
			msg = backup_s3_message("list", &err, r);
			goto out;
		}
		status = 0;
	} else if (streq(verb, "verify")) {
		struct backup_verify_stats st;

		r = backup_verify_stored(t, id, NULL, NULL, &st, &msg);
		if (r < 0)
			goto out;
		printf("backup %s: ok: %" PRIu64 " files, %" PRIu64 " bytes, %" PRIu64 " WAL segments\n", id, st.files,
		       st.bytes, st.wal_segments);
		status = 0;
	} else if (streq(verb, "restore")) {
		r = backup_restore_into(t, id, to, true, NULL, NULL, NULL, &msg);
		if (r < 0)
			goto out;
		printf("backup %s restored into %s (with its WAL in pg_wal)\n", id, to);
		status = 0;
	} else
		return cli_usage();
out:
	if (status != 0 && msg)
		fprintf(stderr, "cairn-agent backup %s: %s\n", verb, msg);
	backup_target_wipe(t);
	return status;
}
