/*
 * fileio.c: small-file reading with a size cap, and durable atomic writes.
 *
 * Every state file Cairn keeps goes through write_file_atomic(): the data
 * lands in a temporary file beside the target whose mode is set before the
 * first byte is written, is fsynced, renamed over the target, and the
 * directory is fsynced so that the rename itself survives a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"

/* Writes all of buf to fd, retrying short writes and EINTR. */
static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fsync_parent_dir(const char *path)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_close_ int fd = -1;
	char *slash;

	if (!path || !*path)
		return -EINVAL;
	dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	/* Ignore trailing slashes, then cut the last component. */
	for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--)
		dir[n - 1] = '\0';
	slash = strrchr(dir, '/');
	if (!slash) {
		dir[0] = '.';
		dir[1] = '\0';
	} else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		return -errno;
	return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	/* mkostemp() replaces the six X with a unique name. */
	static const char suffix[] = ".tmp.XXXXXX";
	_cleanup_free_ char *tmp = NULL;
	size_t plen;
	int fd, r;

	if (!path || !*path || (!data && len > 0))
		return -EINVAL;
	plen = strlen(path);
	if (plen + sizeof(suffix) > PATH_MAX)
		return -ENAMETOOLONG;
	tmp = malloc(plen + sizeof(suffix));
	if (!tmp)
		return -ENOMEM;
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, suffix, sizeof(suffix));

	/* mkostemp() opens with O_EXCL and mode 0600. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;

	if (fchmod(fd, mode & 07777) < 0) {
		r = -errno;
		goto fail;
	}
	r = write_all(fd, data, len);
	if (r < 0)
		goto fail;
	if (fsync(fd) < 0) {
		r = -errno;
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = -errno;
		goto fail;
	}
	return fsync_parent_dir(path);

fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}

int write_string_atomic(const char *path, const char *s, mode_t mode)
{
	if (!s)
		return -EINVAL;
	return write_file_atomic(path, s, strlen(s), mode);
}

int read_file_full(const char *path, size_t max, char **ret_data, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	char *buf = NULL;
	size_t cap, len = 0;
	struct stat st;
	int r;

	if (!path || !ret_data || max >= SIZE_MAX - 1)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > max)
		return -EFBIG;

	/* Size from fstat() is a hint only (the file may grow, /proc files
	 * report 0): read until EOF but never past max + 1 bytes. */
	cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	if (cap > max + 1)
		cap = max + 1;
	buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;

	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t ncap;
			char *nbuf;

			if (len > max) {
				r = -EFBIG;
				goto fail;
			}
			ncap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
			nbuf = malloc(ncap + 1);
			if (!nbuf) {
				r = -ENOMEM;
				goto fail;
			}
			memcpy(nbuf, buf, len);
			explicit_bzero(buf, len);
			free(buf);
			buf = nbuf;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		r = -EFBIG;
		goto fail;
	}
	buf[len] = '\0';
	*ret_data = buf;
	if (ret_len)
		*ret_len = len;
	return 0;

fail:
	/* The file may hold a secret: leave no half-read copy behind. */
	explicit_bzero(buf, len);
	free(buf);
	return r;
}

int read_one_line(const char *path, size_t max, char **ret_line)
{
	char *data = NULL;
	size_t len = 0;
	int r;

	if (!ret_line)
		return -EINVAL;
	r = read_file_full(path, max, &data, &len);
	if (r < 0)
		return r;
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' ||
			   data[len - 1] == ' ' || data[len - 1] == '\t')) {
		len--;
		data[len] = '\0';
	}
	/* One line: a NUL or a line break left inside is refused. */
	if (strlen(data) != len || memchr(data, '\n', len) || memchr(data, '\r', len)) {
		explicit_bzero(data, len);
		free(data);
		return -EINVAL;
	}
	*ret_line = data;
	return 0;
}

int mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = NULL;
	size_t len;

	if (!path || !*path)
		return -EINVAL;
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	len = strlen(p);
	while (len > 1 && p[len - 1] == '/')
		p[--len] = '\0';

	for (size_t i = 1; i <= len; i++) {
		struct stat st;

		if (p[i] != '/' && p[i] != '\0')
			continue;
		if (p[i - 1] == '/') /* "//" */
			continue;
		p[i] = '\0';
		if (mkdir(p, mode) < 0) {
			if (errno != EEXIST)
				return -errno;
			if (stat(p, &st) < 0)
				return -errno;
			if (!S_ISDIR(st.st_mode))
				return -ENOTDIR;
		}
		if (i < len)
			p[i] = '/';
	}
	return 0;
}

int unlink_durable(const char *path)
{
	if (!path || !*path)
		return -EINVAL;
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			return 0;
		return -errno;
	}
	return fsync_parent_dir(path);
}

char *path_join(const char *a, const char *b)
{
	size_t alen, blen;
	char *s;

	if (!a || !b)
		return NULL;
	alen = strlen(a);
	while (alen > 1 && a[alen - 1] == '/')
		alen--;
	while (*b == '/')
		b++;
	blen = strlen(b);
	if (alen == 0)
		return strdup(b);
	s = malloc(alen + 1 + blen + 1);
	if (!s)
		return NULL;
	memcpy(s, a, alen);
	if (a[alen - 1] == '/') /* a is "/" */
		memcpy(s + alen, b, blen + 1);
	else {
		s[alen] = '/';
		memcpy(s + alen + 1, b, blen + 1);
	}
	return s;
}

/* True when the absolute path s has no empty, "." or ".." component and
 * no trailing '/' (the root "/" itself is allowed). */
static bool path_is_normal_absolute(const char *s)
{
	const char *p;

	if (!s || s[0] != '/' || strlen(s) >= PATH_MAX)
		return false;
	if (s[1] == '\0')
		return true;
	p = s + 1;
	for (;;) {
		size_t n = strcspn(p, "/");
		if (n == 0)
			return false; /* "//" or trailing '/' */
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (p[n] == '\0')
			return true;
		p += n + 1;
	}
}

bool path_is_confined(const char *path, const char *dir)
{
	size_t dlen;

	if (!path_is_normal_absolute(path) || !path_is_normal_absolute(dir))
		return false;
	if (streq(dir, "/"))
		return path[1] != '\0';
	dlen = strlen(dir);
	return strncmp(path, dir, dlen) == 0 && path[dlen] == '/' && path[dlen + 1] != '\0';
}
