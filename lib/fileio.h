/*
 * fileio.h: reading and durably writing small files.
 *
 * write_file_atomic() is the only way Cairn writes state: temporary file in
 * the same directory (O_CLOEXEC|O_EXCL, mode set before any byte is
 * written), write, fsync, rename over the target, fsync the directory.  A
 * crash at any point leaves either the old or the new content, never a mix.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Writes `len` bytes atomically to `path` with `mode`.  Returns 0 or -errno. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Same, for a NUL-terminated string. */
int write_string_atomic(const char *path, const char *s, mode_t mode);

/* Reads the whole file, refusing files larger than `max` bytes (-EFBIG).
 * On success *ret_data is a NUL-terminated heap buffer (caller frees) and
 * *ret_len (if non-NULL) its length without the NUL.  Returns 0 or -errno. */
int read_file_full(const char *path, size_t max, char **ret_data, size_t *ret_len);

/* Like read_file_full() and strips trailing whitespace; for token and id
 * files.  A NUL or line break left inside is refused (-EINVAL).  The
 * buffer is wiped if reading fails half way. */
int read_one_line(const char *path, size_t max, char **ret_line);

/* mkdir -p with `mode` for every directory it creates.  Returns 0 or -errno. */
int mkdir_p(const char *path, mode_t mode);

/* fsyncs the directory that holds `path`.  Returns 0 or -errno. */
int fsync_parent_dir(const char *path);

/* Removes the file and fsyncs its directory; a missing file is not an
 * error.  Returns 0 or -errno. */
int unlink_durable(const char *path);

/* Joins two path parts with one '/'.  Returns a heap string or NULL. */
char *path_join(const char *a, const char *b);

/* True when `path` is absolute, has no "." or ".." component and no "//",
 * and lies inside `dir` (itself absolute, no trailing '/').  Pure string
 * check; callers also open with O_NOFOLLOW where it matters. */
bool path_is_confined(const char *path, const char *dir);
