/*
 * backup-walk.h: the files of a data directory a backup stores
 * (docs/backups.md "Manifest": PostgreSQL's base-backup exclusions), in a
 * stable order (each directory sorted by name, a directory before its
 * contents), and the splitter a restore uses to cut a bundle's plaintext
 * back into files at the manifest's offsets, checking each file's size
 * and SHA-256 and fsyncing it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#define BACKUP_WALK_DEPTH_MAX 32

enum backup_walk_verdict {
	BACKUP_WALK_INCLUDE,  /* store it (a directory: and walk into it) */
	BACKUP_WALK_SKIP,     /* not stored */
	BACKUP_WALK_DIR_ONLY, /* a directory stored empty */
};

/* The verdict for `rel` (relative to the data directory). */
enum backup_walk_verdict backup_walk_verdict(const char *rel, bool is_dir);

struct backup_walk_entry {
	char *path;     /* relative */
	uint64_t size;
	uint32_t mode;  /* permission bits */
	int64_t mtime;
	bool dir;
};

struct backup_walk {
	struct backup_walk_entry *e;
	size_t n, cap;
};

/* Walks root.  A symbolic link (a tablespace) or too deep a tree fails
 * with a message; other special files are skipped; entries that vanish
 * while walking are skipped (PostgreSQL removes files during a backup). */
int backup_walk(const char *root, struct backup_walk *ret, char **ret_message);
void backup_walk_done(struct backup_walk *w);

/* ---- restore: bundle plaintext → files ---- */

struct backup_split_file {
	const char *path;      /* relative, checked safe */
	uint64_t size;
	uint32_t mode;
	int64_t mtime;
	const char *sha256;    /* hex */
};

struct backup_splitter {
	int dirfd;                          /* the directory written into */
	const struct backup_split_file *f;  /* this bundle's files, in offset order */
	size_t n;
	size_t cur;                         /* file being written */
	uint64_t done;                      /* bytes of files[cur] written */
	int fd;                             /* open file or -1 */
	bool opened;                        /* verify mode: files[cur] begun */
	uint64_t bytes;                     /* file bytes taken so far */
	EVP_MD_CTX *md;
	char error[512];                    /* first failure */
};

/* Prepares a splitter over dirfd (not owned) for files f[0..n); dirfd < 0
 * checks sizes and digests without writing anything (backup.verify). */
int backup_splitter_init(struct backup_splitter *s, int dirfd, const struct backup_split_file *f, size_t n);

/* Takes the next bytes of the bundle (a bstream sink). */
int backup_splitter_feed(void *ud, const void *buf, size_t len);

/* Ends the bundle: every file must be complete (zero-size files after
 * the last byte are written here).  0 or -errno with s->error. */
int backup_splitter_finish(struct backup_splitter *s);

void backup_splitter_done(struct backup_splitter *s);

/* Creates the parent directories of rel under dirfd (0700). */
int backup_mkdirs_at(int dirfd, const char *rel, bool include_last);
