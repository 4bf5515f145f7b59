/*
 * backup-wal.c: WAL push and fetch against the archive (see backup-wal.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "backup-object.h"
#include "backup-wal.h"
#include "macro.h"

#define WAL_IO_BUF (128 * 1024)

static bool is_hex_upper(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

bool backup_wal_is_segment(const char *name)
{
	return name && strlen(name) == 24 && is_hex_upper(name, 24);
}

bool backup_wal_name_is_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strlen(name);
	if (n == 16 && is_hex_upper(name, 8) && streq(name + 8, ".history"))
		return true;
	if (n < 24 || !is_hex_upper(name, 24))
		return false;
	if (n == 24 || streq(name + 24, ".partial"))
		return true;
	return n == 40 && name[24] == '.' && is_hex_upper(name + 25, 8) && streq(name + 33, ".backup");
}

int backup_wal_object_name(const char *name, char ret[static 96])
{
	if (!backup_wal_name_is_valid(name))
		return -EINVAL;
	if (strlen(name) == 16)
		snprintf(ret, 96, "wal/%s", name);
	else
		snprintf(ret, 96, "wal/%.8s/%s", name, name);
	return 0;
}

int backup_wal_next_segment(const char *seg, char ret[static 25])
{
	unsigned long tli, log, s;
	char buf[9];

	if (!backup_wal_is_segment(seg))
		return -EINVAL;
	buf[8] = 0;
	memcpy(buf, seg, 8);
	tli = strtoul(buf, NULL, 16);
	memcpy(buf, seg + 8, 8);
	log = strtoul(buf, NULL, 16);
	memcpy(buf, seg + 16, 8);
	s = strtoul(buf, NULL, 16);
	/* 16 MiB segments: 256 per 4 GiB "log". */
	if (++s > 0xff) {
		s = 0;
		log++;
	}
	snprintf(ret, 25, "%08lX%08lX%08lX", tli, log & 0xffffffffUL, s);
	return 0;
}

char *backup_config_path(const char *state_dir, const char *ds)
{
	char *p;

	if (asprintf(&p, "%s/backup/%s.json", state_dir, ds) < 0)
		return NULL;
	return p;
}

static char *wal_msg(const char *name, const char *what, int r)
{
	char *m;

	if (asprintf(&m, "%s: %s: %s", name, what, strerror(-r)) < 0)
		return NULL;
	return m;
}

struct wal_hash {
	EVP_MD_CTX *md;
};

static int wal_hash_sink(void *ud, const void *buf, size_t len)
{
	struct wal_hash *h = ud;

	return EVP_DigestUpdate(h->md, buf, len) == 1 ? 0 : -EIO;
}

/* SHA-256 of everything readable on fd from offset 0. */
static int wal_hash_fd(int fd, unsigned char ret[static 32])
{
	_cleanup_md_ctx_ EVP_MD_CTX *md = EVP_MD_CTX_new();
	_cleanup_free_ uint8_t *buf = malloc(WAL_IO_BUF);
	off_t off = 0;

	if (!md || !buf || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		return -ENOMEM;
	for (;;) {
		ssize_t n = pread(fd, buf, WAL_IO_BUF, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		off += n;
		if (off > BACKUP_WAL_SEGMENT_MAX)
			return -EFBIG;
		if (EVP_DigestUpdate(md, buf, (size_t)n) != 1)
			return -EIO;
	}
	return EVP_DigestFinal_ex(md, ret, NULL) == 1 ? 0 : -EIO;
}

int backup_wal_exists(const struct backup_target *t, const char *name, char **ret_message)
{
	_cleanup_s3_client_ struct s3_client *c = NULL;
	_cleanup_free_ char *key = NULL;
	struct s3_error err = { 0 };
	char obj[96];
	uint64_t size;
	int r;

	if (backup_wal_object_name(name, obj) < 0)
		return -EINVAL;
	key = backup_object_key(t, obj);
	if (!key)
		return -ENOMEM;
	r = backup_target_client(t, 1, &c);
	if (r < 0)
		return r;
	r = s3_head(c, key, &size, &err);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		if (ret_message && !*ret_message)
			*ret_message = backup_s3_message(obj, &err, r);
		return r;
	}
	return 1;
}

int backup_wal_push(const struct backup_target *t, int fd, const char *name, char **ret_message)
{
	_cleanup_s3_client_ struct s3_client *c = NULL;
	_cleanup_backup_put_ struct backup_put *p = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_free_ char *key = NULL;
	struct s3_error err = { 0 };
	char obj[96];
	uint64_t size;
	off_t off = 0;
	int r;

	if (backup_wal_object_name(name, obj) < 0)
		return -EINVAL;
	key = backup_object_key(t, obj);
	buf = malloc(WAL_IO_BUF);
	if (!key || !buf)
		return -ENOMEM;
	r = backup_target_client(t, 2, &c);
	if (r < 0) {
		if (ret_message && !*ret_message)
			*ret_message = wal_msg(obj, "bad S3 configuration", r);
		return r;
	}
	r = s3_head(c, key, &size, &err);
	if (r >= 0) {
		/* Already archived (a retry after a lost answer, or a
		 * restored node re-archiving): equal or refuse. */
		_cleanup_md_ctx_ EVP_MD_CTX *md = EVP_MD_CTX_new();
		unsigned char local[32], stored[32];
		struct wal_hash h = { .md = md };

		if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
			return -ENOMEM;
		r = backup_get(c, t, obj, wal_hash_sink, &h, NULL, ret_message);
		if (r < 0)
			return r;
		if (EVP_DigestFinal_ex(md, stored, NULL) != 1)
			return -EIO;
		r = wal_hash_fd(fd, local);
		if (r < 0) {
			if (ret_message && !*ret_message)
				*ret_message = wal_msg(name, "cannot read", r);
			return r;
		}
		if (memcmp(local, stored, 32) != 0) {
			if (ret_message && !*ret_message)
				*ret_message = wal_msg(obj, "already archived with DIFFERENT contents; not overwriting",
						       -EEXIST);
			return -EEXIST;
		}
		return 0;
	}
	if (r != -ENOENT) {
		if (ret_message && !*ret_message)
			*ret_message = backup_s3_message(obj, &err, r);
		return r;
	}
	r = backup_put_begin(c, t, obj, &p, ret_message);
	if (r < 0)
		return r;
	for (;;) {
		ssize_t n = pread(fd, buf, WAL_IO_BUF, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			if (ret_message && !*ret_message)
				*ret_message = wal_msg(name, "cannot read", r);
			return r;
		}
		if (n == 0)
			break;
		off += n;
		if (off > BACKUP_WAL_SEGMENT_MAX)
			return -EFBIG;
		r = backup_put_write(p, buf, (size_t)n, ret_message);
		if (r < 0)
			return r;
	}
	return backup_put_finish(p, NULL, NULL, ret_message);
}

struct wal_out {
	int fd;
	off_t off;
};

static int wal_out_sink(void *ud, const void *buf, size_t len)
{
	struct wal_out *o = ud;
	const uint8_t *p = buf;

	if ((uint64_t)o->off + len > BACKUP_WAL_SEGMENT_MAX)
		return -EFBIG;
	while (len > 0) {
		ssize_t n = pwrite(o->fd, p, len, o->off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		o->off += n;
	}
	return 0;
}

int backup_wal_fetch(const struct backup_target *t, const char *name, int fd, char **ret_message)
{
	_cleanup_s3_client_ struct s3_client *c = NULL;
	struct wal_out o = { .fd = fd };
	char obj[96];
	int r;

	if (backup_wal_object_name(name, obj) < 0)
		return -EINVAL;
	r = backup_target_client(t, 2, &c);
	if (r < 0)
		return r;
	if (ftruncate(fd, 0) < 0)
		return -errno;
	r = backup_get(c, t, obj, wal_out_sink, &o, NULL, ret_message);
	if (r < 0)
		return r;
	if (fsync(fd) < 0) {
		r = -errno;
		if (ret_message && !*ret_message)
			*ret_message = wal_msg(name, "fsync", r);
		return r;
	}
	return 0;
}
