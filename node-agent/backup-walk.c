/*
 * backup-walk.c: the data-directory walker and the restore splitter (see
 * backup-walk.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup-manifest.h"
#include "backup-walk.h"
#include "macro.h"
#include "util.h"

/* Directories stored empty (contents are PostgreSQL's runtime state). */
static const char *const walk_dir_only[] = {
	"pg_wal", "pg_replslot", "pg_dynshmem", "pg_notify", "pg_serial", "pg_snapshots", "pg_stat_tmp",
	"pg_subtrans", NULL,
};

/* Files never stored, anywhere. */
static const char *const walk_skip_any[] = {
	"postmaster.pid", "postmaster.opts", "pg_internal.init", NULL,
};

/* Files never stored at the top. */
static const char *const walk_skip_top[] = {
	"standby.signal", "recovery.signal", "backup_label", "backup_label.old", "tablespace_map",
	"cairn-recovery.conf", "cairn-archive.conf", "cairn.restored", NULL,
};

static bool in_list(const char *s, const char *const *l)
{
	for (; *l; l++)
		if (streq(s, *l))
			return true;
	return false;
}

enum backup_walk_verdict backup_walk_verdict(const char *rel, bool is_dir)
{
	const char *base = strrchr(rel, '/');
	bool top = !base;

	base = base ? base + 1 : rel;
	if (strncmp(base, "pgsql_tmp", 9) == 0)
		return BACKUP_WALK_SKIP;
	if (!is_dir && in_list(base, walk_skip_any))
		return BACKUP_WALK_SKIP;
	if (top && !is_dir && in_list(base, walk_skip_top))
		return BACKUP_WALK_SKIP;
	if (top && is_dir && in_list(base, walk_dir_only))
		return BACKUP_WALK_DIR_ONLY;
	return BACKUP_WALK_INCLUDE;
}

static int walk_add(struct backup_walk *w, const char *rel, const struct stat *st, bool dir)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		struct backup_walk_entry *e;

		if (cap > BACKUP_MANIFEST_FILES_MAX)
			return -E2BIG;
		e = reallocarray(w->e, cap, sizeof(*e));
		if (!e)
			return -ENOMEM;
		w->e = e;
		w->cap = cap;
	}
	w->e[w->n] = (struct backup_walk_entry){ .path = strdup(rel), .size = dir ? 0 : (uint64_t)st->st_size,
						 .mode = st->st_mode & 07777, .mtime = st->st_mtim.tv_sec, .dir = dir };
	if (!w->e[w->n].path)
		return -ENOMEM;
	w->n++;
	return 0;
}

static int walk_dir(int dfd, const char *rel, unsigned depth, struct backup_walk *w, char **ret_message)
{
	struct dirent **list = NULL;
	DIR *d;
	int n, r = 0;

	if (depth > BACKUP_WALK_DEPTH_MAX) {
		if (asprintf(ret_message, "%s: directory tree too deep", rel) < 0)
			*ret_message = NULL;
		close(dfd);
		return -ELOOP;
	}
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	/* scandir() wants a path; read the stream and sort by hand. */
	size_t cap = 0, cnt = 0;
	for (struct dirent *de; (errno = 0, de = readdir(d));) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (cnt == cap) {
			struct dirent **nl = reallocarray(list, cap ? cap * 2 : 64, sizeof(*list));
			if (!nl) {
				r = -ENOMEM;
				goto out;
			}
			list = nl;
			cap = cap ? cap * 2 : 64;
		}
		size_t sz = offsetof(struct dirent, d_name) + strlen(de->d_name) + 1;
		list[cnt] = malloc(MAX(sz, sizeof(struct dirent)));
		if (!list[cnt]) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(list[cnt], de, sz);
		cnt++;
	}
	if (errno) {
		r = -errno;
		goto out;
	}
	if (cnt > 0)
		qsort(list, cnt, sizeof(*list), (int (*)(const void *, const void *))alphasort);
	n = (int)cnt;
	for (int i = 0; i < n && r >= 0; i++) {
		_cleanup_free_ char *sub = NULL;
		struct stat st;
		enum backup_walk_verdict v;

		if (asprintf(&sub, "%s%s%s", rel, rel[0] ? "/" : "", list[i]->d_name) < 0) {
			r = -ENOMEM;
			break;
		}
		if (fstatat(dirfd(d), list[i]->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			r = -errno;
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			/* pg_wal may be a link made by initdb -X: stored empty. */
			if (!strchr(sub, '/') && streq(sub, "pg_wal")) {
				st.st_mode = S_IFDIR | 0700;
				r = walk_add(w, sub, &st, true);
				continue;
			}
			if (asprintf(ret_message, "%s is a symbolic link (tablespaces are not supported by backups)",
				     sub) < 0)
				*ret_message = NULL;
			r = -ENOTSUP;
			break;
		}
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
			continue;
		v = backup_walk_verdict(sub, S_ISDIR(st.st_mode));
		if (v == BACKUP_WALK_SKIP)
			continue;
		r = walk_add(w, sub, &st, S_ISDIR(st.st_mode));
		if (r < 0 || v == BACKUP_WALK_DIR_ONLY || !S_ISDIR(st.st_mode))
			continue;
		int cfd = openat(dirfd(d), list[i]->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0) {
			if (errno == ENOENT)
				continue;
			r = -errno;
			break;
		}
		r = walk_dir(cfd, sub, depth + 1, w, ret_message);
	}
out:
	for (size_t i = 0; i < cnt; i++)
		free(list[i]);
	free(list);
	closedir(d);
	return r;
}

int backup_walk(const char *root, struct backup_walk *ret, char **ret_message)
{
	struct backup_walk w = { 0 };
	int fd, r;

	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = walk_dir(fd, "", 0, &w, ret_message);
	if (r < 0) {
		backup_walk_done(&w);
		return r;
	}
	*ret = w;
	return 0;
}

void backup_walk_done(struct backup_walk *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->e[i].path);
	free(w->e);
	*w = (struct backup_walk){ 0 };
}

int backup_mkdirs_at(int dirfd, const char *rel, bool include_last)
{
	_cleanup_free_ char *p = strdup(rel);

	if (!p)
		return -ENOMEM;
	for (char *s = p;; s++) {
		bool end = *s == 0;

		if (*s == '/' || (end && include_last)) {
			char c = *s;
			*s = 0;
			if (p[0] && mkdirat(dirfd, p, 0700) < 0 && errno != EEXIST)
				return -errno;
			*s = c;
		}
		if (end)
			break;
	}
	return 0;
}

int backup_splitter_init(struct backup_splitter *s, int dirfd, const struct backup_split_file *f, size_t n)
{
	*s = (struct backup_splitter){ .dirfd = dirfd, .f = f, .n = n, .fd = -1 };
	s->bytes = 0;
	s->md = EVP_MD_CTX_new();
	return s->md ? 0 : -ENOMEM;
}

static int split_fail(struct backup_splitter *s, int r, const char *what)
{
	if (!s->error[0])
		snprintf(s->error, sizeof(s->error), "%s: %s", s->cur < s->n ? s->f[s->cur].path : "bundle", what);
	return r;
}

/* Opens f[cur] when not open. */
static int split_open(struct backup_splitter *s)
{
	const struct backup_split_file *f = &s->f[s->cur];
	int r;

	if (s->fd >= 0 || s->opened)
		return 0;
	if (s->dirfd < 0) { /* verify only */
		s->opened = true;
		s->done = 0;
		return EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) == 1 ? 0 : split_fail(s, -EIO, "digest");
	}
	r = backup_mkdirs_at(s->dirfd, f->path, false);
	if (r < 0)
		return split_fail(s, r, "cannot create its directory");
	s->fd = openat(s->dirfd, f->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (s->fd < 0)
		return split_fail(s, -errno, strerror(errno));
	if (EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1)
		return split_fail(s, -EIO, "digest");
	s->done = 0;
	return 0;
}

/* Closes f[cur] after checking it, and moves on. */
static int split_close(struct backup_splitter *s)
{
	const struct backup_split_file *f = &s->f[s->cur];
	unsigned char d[32];
	char hex[65];
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = f->mtime } };

	if (EVP_DigestFinal_ex(s->md, d, NULL) != 1)
		return split_fail(s, -EIO, "digest");
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	if (!streq(hex, f->sha256))
		return split_fail(s, -EBADMSG, "SHA-256 differs from the manifest");
	if (s->dirfd < 0) {
		s->opened = false;
		s->cur++;
		s->done = 0;
		return 0;
	}
	if (fchmod(s->fd, f->mode & 0777) < 0 || futimens(s->fd, ts) < 0 || fsync(s->fd) < 0)
		return split_fail(s, -errno, strerror(errno));
	close(s->fd);
	s->fd = -1;
	s->cur++;
	s->done = 0;
	return 0;
}

int backup_splitter_feed(void *ud, const void *buf, size_t len)
{
	struct backup_splitter *s = ud;
	const uint8_t *p = buf;
	int r;

	while (len > 0) {
		if (s->cur >= s->n)
			return split_fail(s, -EBADMSG, "more bytes than the manifest's files");
		r = split_open(s);
		if (r < 0)
			return r;
		uint64_t want = s->f[s->cur].size - s->done;
		size_t k = (size_t)MIN((uint64_t)len, want);
		for (size_t off = 0; s->fd >= 0 && off < k;) {
			ssize_t n = write(s->fd, p + off, k - off);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return split_fail(s, -errno, strerror(errno));
			}
			off += (size_t)n;
		}
		if (EVP_DigestUpdate(s->md, p, k) != 1)
			return split_fail(s, -EIO, "digest");
		s->done += k;
		s->bytes += k;
		p += k;
		len -= k;
		if (s->done == s->f[s->cur].size) {
			r = split_close(s);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int backup_splitter_finish(struct backup_splitter *s)
{
	int r;

	/* Empty files at the end (or all files when the bundle is empty). */
	while (s->cur < s->n && s->fd < 0 && !s->opened && s->f[s->cur].size == 0) {
		r = split_open(s);
		if (r < 0)
			return r;
		r = split_close(s);
		if (r < 0)
			return r;
	}
	if (s->cur < s->n)
		return split_fail(s, -EBADMSG, "the bundle ended before this file");
	return 0;
}

void backup_splitter_done(struct backup_splitter *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	EVP_MD_CTX_free(s->md);
	s->md = NULL;
}
