/*
 * test-fileio.c: unit tests for lib/fileio.c: atomic writes (modes, no
 * leftovers, old content kept on failure), capped reads, mkdir_p, path
 * helpers and confinement.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fileio.h"
#include "macro.h"

static int setup_dir(void **state)
{
	char tmpl[] = "/tmp/cairn-test-fileio.XXXXXX";
	char *d = mkdtemp(tmpl);

	if (!d)
		return -1;
	*state = strdup(d);
	return *state ? 0 : -1;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int teardown_dir(void **state)
{
	char *d = *state;
	int r = nftw(d, remove_one, 16, FTW_DEPTH | FTW_PHYS);

	free(d);
	return r;
}

/* Number of entries in dir whose name starts with prefix. */
static int count_entries(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static void test_write_read(void **state)
{
	const char *dir = *state;
	_cleanup_free_ char *p = path_join(dir, "a.json");
	_cleanup_free_ char *data = NULL;
	struct stat st;
	size_t len = 0;

	assert_int_equal(write_string_atomic(p, "hello\n", 0644), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(read_file_full(p, 100, &data, &len), 0);
	assert_int_equal(len, 6);
	assert_string_equal(data, "hello\n");
	free(data);
	data = NULL;

	/* Replacing keeps no temporary file and applies the new mode, which
	 * umask does not narrow or widen. */
	mode_t old = umask(0077);
	assert_int_equal(write_file_atomic(p, "x", 1, 0640), 0);
	umask(old);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(read_file_full(p, 100, &data, &len), 0);
	assert_string_equal(data, "x");
	assert_int_equal(count_entries(dir, "a.json.tmp"), 0);

	/* Secrets: 0600. */
	assert_int_equal(write_file_atomic(p, "", 0, 0600), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 0);
	free(data);
	data = NULL;
	assert_int_equal(read_file_full(p, 0, &data, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(data, "");
}

static void test_write_failure_keeps_old(void **state)
{
	const char *dir = *state;
	_cleanup_free_ char *p = path_join(dir, "keep");
	_cleanup_free_ char *sub = path_join(dir, "ro");
	_cleanup_free_ char *q = path_join(sub, "f");
	_cleanup_free_ char *data = NULL;

	assert_int_equal(write_string_atomic(p, "old", 0644), 0);

	/* The target is a directory: rename fails after the temporary file
	 * was written; it must be removed and the old content untouched. */
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(write_string_atomic(q, "old", 0644), 0);
	_cleanup_free_ char *asdir = path_join(dir, "adir");
	assert_int_equal(mkdir(asdir, 0755), 0);
	_cleanup_free_ char *inner = path_join(asdir, "x");
	assert_int_equal(write_string_atomic(inner, "y", 0644), 0);
	assert_true(write_string_atomic(asdir, "new", 0644) < 0);
	assert_int_equal(count_entries(dir, "adir.tmp"), 0);

	/* A directory we cannot write to (skipped as root, who can). */
	if (geteuid() != 0) {
		assert_int_equal(chmod(sub, 0555), 0);
		assert_int_equal(write_string_atomic(q, "new", 0644), -EACCES);
		assert_int_equal(chmod(sub, 0755), 0);
		assert_int_equal(read_file_full(q, 100, &data, NULL), 0);
		assert_string_equal(data, "old");
		free(data);
		data = NULL;
	}

	/* A write that fails half way (file size limit, which binds root
	 * too): the old content stays and no temporary file is left. */
	{
		struct rlimit old_lim, lim = { .rlim_cur = 4096, .rlim_max = RLIM_INFINITY };
		char big[10000];
		void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);

		memset(big, 'n', sizeof(big));
		assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_lim), 0);
		lim.rlim_max = old_lim.rlim_max;
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
		int r = write_file_atomic(p, big, sizeof(big), 0600);
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_lim), 0);
		signal(SIGXFSZ, old_sig);
		assert_int_equal(r, -EFBIG);
		assert_int_equal(count_entries(dir, "keep.tmp"), 0);
		assert_int_equal(read_file_full(p, 100, &data, NULL), 0);
		assert_string_equal(data, "old");
		struct stat st;
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0644);
		free(data);
		data = NULL;
	}

	/* Missing directory. */
	_cleanup_free_ char *nodir = path_join(dir, "nope/f");
	assert_int_equal(write_string_atomic(nodir, "x", 0644), -ENOENT);

	assert_int_equal(read_file_full(p, 100, &data, NULL), 0);
	assert_string_equal(data, "old");
	assert_int_equal(write_file_atomic(NULL, "x", 1, 0644), -EINVAL);
	assert_int_equal(write_file_atomic(p, NULL, 1, 0644), -EINVAL);
	assert_int_equal(write_string_atomic(p, NULL, 0644), -EINVAL);
}

static void test_read_limits(void **state)
{
	const char *dir = *state;
	_cleanup_free_ char *p = path_join(dir, "big");
	char buf[10000];
	char *data = NULL;
	size_t len;

	memset(buf, 'a', sizeof(buf));
	assert_int_equal(write_file_atomic(p, buf, sizeof(buf), 0644), 0);
	assert_int_equal(read_file_full(p, sizeof(buf) - 1, &data, &len), -EFBIG);
	assert_null(data);
	assert_int_equal(read_file_full(p, sizeof(buf), &data, &len), 0);
	assert_int_equal(len, sizeof(buf));
	free(data);
	data = NULL;

	assert_int_equal(read_file_full(dir, 100, &data, &len), -EISDIR);
	_cleanup_free_ char *missing = path_join(dir, "missing");
	assert_int_equal(read_file_full(missing, 100, &data, &len), -ENOENT);

	/* A file whose size stat does not know (/proc) is still capped. */
	assert_int_equal(read_file_full("/proc/self/status", 16, &data, &len), -EFBIG);
	assert_int_equal(read_file_full("/proc/self/status", 1 << 20, &data, &len), 0);
	assert_true(len > 16);
	assert_int_equal(strlen(data), len);
	free(data);
}

static void test_read_one_line(void **state)
{
	const char *dir = *state;
	_cleanup_free_ char *p = path_join(dir, "tok");
	char *line = NULL;

	assert_int_equal(write_string_atomic(p, "cjt_abc \r\n\n", 0600), 0);
	assert_int_equal(read_one_line(p, 100, &line), 0);
	assert_string_equal(line, "cjt_abc");
	free(line);
	line = NULL;

	assert_int_equal(write_string_atomic(p, "a\nb\n", 0600), 0);
	assert_int_equal(read_one_line(p, 100, &line), -EINVAL);
	assert_null(line);
	assert_int_equal(write_file_atomic(p, "a\0b", 3, 0600), 0);
	assert_int_equal(read_one_line(p, 100, &line), -EINVAL);
	assert_int_equal(write_string_atomic(p, "", 0600), 0);
	assert_int_equal(read_one_line(p, 100, &line), 0);
	assert_string_equal(line, "");
	free(line);
	assert_int_equal(write_string_atomic(p, "0123456789", 0600), 0);
	line = NULL;
	assert_int_equal(read_one_line(p, 5, &line), -EFBIG);
	assert_null(line);
}

static void test_mkdir_p(void **state)
{
	const char *dir = *state;
	_cleanup_free_ char *p = path_join(dir, "a/b//c/");
	_cleanup_free_ char *f = path_join(dir, "file");
	_cleanup_free_ char *under = path_join(dir, "file/x");
	struct stat st;

	assert_int_equal(mkdir_p(p, 0700), 0);
	assert_int_equal(mkdir_p(p, 0700), 0);
	_cleanup_free_ char *c = path_join(dir, "a/b/c");
	assert_int_equal(stat(c, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700 & ~0022 & 0777);

	assert_int_equal(write_string_atomic(f, "x", 0644), 0);
	assert_int_equal(mkdir_p(f, 0700), -ENOTDIR);
	assert_int_equal(mkdir_p(under, 0700), -ENOTDIR);
	assert_int_equal(mkdir_p("", 0700), -EINVAL);
	assert_int_equal(mkdir_p("/", 0700), 0);
}

static void test_unlink_fsync(void **state)
{
	const char *dir = *state;
	_cleanup_free_ char *p = path_join(dir, "gone");

	assert_int_equal(write_string_atomic(p, "x", 0644), 0);
	assert_int_equal(unlink_durable(p), 0);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(unlink_durable(p), 0);
	assert_int_equal(fsync_parent_dir(p), 0);
	assert_int_equal(fsync_parent_dir("/x"), 0);
	assert_int_equal(fsync_parent_dir("relative"), 0);
	assert_int_equal(fsync_parent_dir("/nonexistent-dir-cairn/x"), -ENOENT);
}

static void test_path_join(void **state)
{
	static const struct {
		const char *a, *b, *r;
	} v[] = {
		{ "/a", "b", "/a/b" },   { "/a/", "b", "/a/b" }, { "/a", "/b", "/a/b" },
		{ "/a//", "//b", "/a/b" }, { "/", "b", "/b" },   { "", "b", "b" },
		{ "a", "b/c", "a/b/c" }, { "/a", "", "/a/" },
	};
	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		_cleanup_free_ char *s = path_join(v[i].a, v[i].b);
		assert_non_null(s);
		assert_string_equal(s, v[i].r);
	}
	assert_null(path_join(NULL, "b"));
	assert_null(path_join("a", NULL));
}

static void test_path_is_confined(void **state)
{
	const char *d = "/etc/cairn/tls";

	assert_true(path_is_confined("/etc/cairn/tls/a.crt", d));
	assert_true(path_is_confined("/etc/cairn/tls/sub/a.crt", d));
	assert_true(path_is_confined("/etc/cairn/tls/..a", d));
	assert_true(path_is_confined("/etc/cairn/tls/.a", d));

	assert_false(path_is_confined("/etc/cairn/tls", d));
	assert_false(path_is_confined("/etc/cairn/tls/", d));
	assert_false(path_is_confined("/etc/cairn/tlsx/a", d));
	assert_false(path_is_confined("/etc/cairn/tls/../x", d));
	assert_false(path_is_confined("/etc/cairn/tls/./x", d));
	assert_false(path_is_confined("/etc/cairn/tls/a/..", d));
	assert_false(path_is_confined("/etc/cairn/tls/a/.", d));
	assert_false(path_is_confined("/etc/cairn/tls//a", d));
	assert_false(path_is_confined("/etc/cairn/tls/a/", d));
	assert_false(path_is_confined("etc/cairn/tls/a", d));
	assert_false(path_is_confined("/etc/cairn/a", d));
	assert_false(path_is_confined("/etc/cairn//tls/a", d));
	assert_false(path_is_confined("", d));
	assert_false(path_is_confined(NULL, d));

	/* The directory itself must be normal and absolute. */
	assert_false(path_is_confined("/etc/cairn/tls/a", "/etc/cairn/tls/"));
	assert_false(path_is_confined("/etc/cairn/tls/a", "etc/cairn/tls"));
	assert_false(path_is_confined("/etc/cairn/tls/a", "/etc/cairn/../cairn/tls"));
	assert_false(path_is_confined("/etc/cairn/tls/a", NULL));
	assert_true(path_is_confined("/a", "/"));
	assert_false(path_is_confined("/", "/"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_read, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_write_failure_keeps_old, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_read_limits, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_read_one_line, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_mkdir_p, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_unlink_fsync, setup_dir, teardown_dir),
		cmocka_unit_test(test_path_join),
		cmocka_unit_test(test_path_is_confined),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
