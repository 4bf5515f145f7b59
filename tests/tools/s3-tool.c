/*
 * s3-tool.c: a small command-line front end of lib/s3, for the integration
 * tests, the benchmark and operators debugging a bucket.  One command per
 * run; credentials come from the environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or from a file of KEY=value
 * lines that only its owner may read (--credentials-file, mode 0600), never
 * from argv.  See `s3-tool --help` and docs/s3.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "s3.h"
#include "util.h"

/* Largest object `get` reads into memory, and the credentials file. */
#define TOOL_GET_MAX (256U * 1024U * 1024U)
#define TOOL_CRED_FILE_MAX 16384U
/* Bytes read from stdin per s3_upload_write(). */
#define TOOL_CHUNK (1024U * 1024U)

static void usage(FILE *f)
{
	fputs("usage: s3-tool [options] COMMAND [ARGS]\n"
	      "commands:\n"
	      "  put KEY FILE            upload FILE in one PUT\n"
	      "  get KEY [FILE]          download into memory, then FILE or stdout (max 256 MiB)\n"
	      "  head KEY                print the size\n"
	      "  ls [PREFIX]             list: size, mtime, key\n"
	      "  rm KEY...               delete (DeleteObjects)\n"
	      "  upload KEY              stream stdin as a multipart upload\n"
	      "  download KEY            stream to stdout with parallel ranged GETs\n"
	      "  abort-stale [PREFIX] [SECONDS]  abort multipart uploads older than SECONDS (default 86400)\n"
	      "options:\n"
	      "  --endpoint URL          https://host:port (or http:// for tests); env S3_ENDPOINT\n"
	      "  --bucket NAME           env S3_BUCKET\n"
	      "  --region NAME           env S3_REGION, default us-east-1\n"
	      "  --virtual-hosted        bucket.host/key addressing (default: path-style)\n"
	      "  --ca-file PEM           CA bundle for TLS; env S3_CA_FILE\n"
	      "  --credentials-file F    ACCESS_KEY=, SECRET_KEY=, SESSION_TOKEN= lines; mode 0600\n"
	      "                          (else env AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)\n"
	      "  --part-size MIB         part and range size (default 8, min 5)\n"
	      "  --parallel N            parts or ranges in flight (default 4)\n"
	      "  --max-attempts N        tries per request (default 5)\n"
	      "  --page-size N           ListObjectsV2 max-keys (default 1000)\n"
	      "  --stats                 print bytes, seconds, MB/s and peak RSS (VmHWM) to stderr\n",
	      f);
}

/* Reads KEY=value lines from a file only its owner can read. */
static int read_credentials(const char *path, char **ak, char **sk, char **tok)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_secret_ char *data = NULL;
	struct stat st;
	char *line, *next;
	size_t len;
	int r;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (st.st_mode & 0077) != 0) {
		fprintf(stderr, "s3-tool: %s: must be a regular file of mode 0600 or stricter\n", path);
		return -EPERM;
	}
	r = read_file_full(path, TOOL_CRED_FILE_MAX, &data, &len);
	if (r < 0)
		return r;
	for (line = data; line && *line; line = next) {
		char *eq, **dst = NULL;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		eq = strchr(line, '=');
		if (!eq || line[0] == '#')
			continue;
		*eq = '\0';
		if (strcmp(line, "ACCESS_KEY") == 0)
			dst = ak;
		else if (strcmp(line, "SECRET_KEY") == 0)
			dst = sk;
		else if (strcmp(line, "SESSION_TOKEN") == 0)
			dst = tok;
		if (!dst)
			continue;
		freezero_strp(dst);
		*dst = strdup(eq + 1);
		if (!*dst)
			return -ENOMEM;
	}
	return 0;
}

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
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

struct dl_state {
	int fd;         /* output */
	uint64_t bytes; /* written */
};

static int dl_sink(void *ud, const void *buf, size_t len)
{
	struct dl_state *s = ud;
	int r = write_all(s->fd, buf, len);

	if (r >= 0)
		s->bytes += len;
	return r;
}

static int ls_cb(void *ud, const struct s3_object *o)
{
	char ts[32] = "-";
	struct tm tm;
	time_t t = (time_t)o->last_modified;

	(void)ud;
	if (o->last_modified && gmtime_r(&t, &tm))
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%12" PRIu64 " %s %s\n", o->size, ts, o->key);
	return 0;
}

static long vm_hwm_kb(void)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	const char *p;

	if (read_file_full("/proc/self/status", 65536, &data, &len) < 0)
		return -1;
	p = strstr(data, "VmHWM:");
	return p ? strtol(p + 6, NULL, 10) : -1;
}

static int parse_uint(const char *s, int64_t max, unsigned *ret)
{
	int64_t v;

	if (parse_int64(s, 0, max, &v) < 0)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "bucket", required_argument, NULL, 'b' },
		{ "region", required_argument, NULL, 'r' },
		{ "virtual-hosted", no_argument, NULL, 'V' },
		{ "ca-file", required_argument, NULL, 'C' },
		{ "credentials-file", required_argument, NULL, 'c' },
		{ "part-size", required_argument, NULL, 'p' },
		{ "parallel", required_argument, NULL, 'j' },
		{ "max-attempts", required_argument, NULL, 'a' },
		{ "page-size", required_argument, NULL, 'P' },
		{ "stats", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct s3_config cfg = { 0 };
	_cleanup_secret_ char *ak = NULL, *sk = NULL, *tok = NULL;
	const char *cred_file = NULL, *cmd;
	struct s3_client *c = NULL;
	struct s3_error err = { 0 };
	char errtext[S3_ERROR_TEXT_MAX];
	bool stats = false;
	uint64_t bytes = 0;
	int64_t t0;
	unsigned v;
	int opt, r = 0;

	cfg.endpoint = getenv("S3_ENDPOINT");
	cfg.bucket = getenv("S3_BUCKET");
	cfg.region = getenv("S3_REGION");
	cfg.ca_file = getenv("S3_CA_FILE");
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'e': cfg.endpoint = optarg; break;
		case 'b': cfg.bucket = optarg; break;
		case 'r': cfg.region = optarg; break;
		case 'V': cfg.virtual_hosted = true; break;
		case 'C': cfg.ca_file = optarg; break;
		case 'c': cred_file = optarg; break;
		case 's': stats = true; break;
		case 'p':
			if (parse_uint(optarg, 512, &v) < 0) {
				fprintf(stderr, "s3-tool: bad --part-size\n");
				return 2;
			}
			cfg.part_size = (size_t)v * 1024 * 1024;
			break;
		case 'j':
			if (parse_uint(optarg, S3_PARALLEL_MAX, &cfg.parallel) < 0) {
				fprintf(stderr, "s3-tool: bad --parallel\n");
				return 2;
			}
			break;
		case 'a':
			if (parse_uint(optarg, 100, &cfg.max_attempts) < 0) {
				fprintf(stderr, "s3-tool: bad --max-attempts\n");
				return 2;
			}
			break;
		case 'P':
			if (parse_uint(optarg, 1000, &cfg.list_max_keys) < 0) {
				fprintf(stderr, "s3-tool: bad --page-size\n");
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];

	if (cred_file) {
		r = read_credentials(cred_file, &ak, &sk, &tok);
		if (r < 0) {
			fprintf(stderr, "s3-tool: %s: %s\n", cred_file, strerror(-r));
			return 1;
		}
	} else {
		const char *e;

		if ((e = getenv("AWS_ACCESS_KEY_ID")))
			ak = strdup(e);
		if ((e = getenv("AWS_SECRET_ACCESS_KEY")))
			sk = strdup(e);
		if ((e = getenv("AWS_SESSION_TOKEN")) && *e)
			tok = strdup(e);
	}
	if (!ak || !sk || !cfg.endpoint || !cfg.bucket) {
		fprintf(stderr, "s3-tool: need an endpoint, a bucket, an access key and a secret key\n");
		return 2;
	}
	cfg.access_key = ak;
	cfg.secret_key = sk;
	cfg.session_token = tok;
	r = s3_client_new(&cfg, &c);
	if (r < 0) {
		fprintf(stderr, "s3-tool: bad configuration (endpoint, bucket, sizes): %s\n", strerror(-r));
		return 2;
	}

	t0 = now_mono_ms();
	if (strcmp(cmd, "put") == 0 && argc - optind == 2) {
		_cleanup_free_ char *data = NULL;
		size_t len;

		r = read_file_full(argv[optind + 1], TOOL_GET_MAX, &data, &len);
		if (r < 0) {
			fprintf(stderr, "s3-tool: %s: %s\n", argv[optind + 1], strerror(-r));
			goto out;
		}
		r = s3_put(c, argv[optind], data, len, &err);
		bytes = len;
	} else if (strcmp(cmd, "get") == 0 && (argc - optind == 1 || argc - optind == 2)) {
		_cleanup_free_ void *data = NULL;
		size_t len;

		r = s3_get(c, argv[optind], TOOL_GET_MAX, &data, &len, &err);
		if (r >= 0) {
			bytes = len;
			if (argc - optind == 2)
				r = write_file_atomic(argv[optind + 1], data, len, 0600);
			else
				r = write_all(STDOUT_FILENO, data, len);
		}
	} else if (strcmp(cmd, "head") == 0 && argc - optind == 1) {
		uint64_t size;

		r = s3_head(c, argv[optind], &size, &err);
		if (r >= 0)
			printf("%" PRIu64 "\n", size);
	} else if (strcmp(cmd, "ls") == 0 && argc - optind <= 1) {
		r = s3_list(c, argc - optind == 1 ? argv[optind] : NULL, ls_cb, NULL, &err);
	} else if (strcmp(cmd, "rm") == 0 && argc - optind >= 1) {
		r = s3_delete(c, (const char *const *)(argv + optind), (size_t)(argc - optind), &err);
	} else if (strcmp(cmd, "upload") == 0 && argc - optind == 1) {
		struct s3_upload *u = NULL;
		_cleanup_free_ char *chunk = malloc(TOOL_CHUNK);

		r = chunk ? s3_upload_begin(c, argv[optind], &u) : -ENOMEM;
		while (r >= 0) {
			ssize_t n = read(STDIN_FILENO, chunk, TOOL_CHUNK);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				r = -errno;
				fprintf(stderr, "s3-tool: stdin: %s\n", strerror(errno));
				break;
			}
			if (n == 0) {
				r = s3_upload_finish(u, &err);
				break;
			}
			r = s3_upload_write(u, chunk, (size_t)n, &err);
		}
		bytes = s3_upload_size(u);
		s3_upload_free(u);
	} else if (strcmp(cmd, "download") == 0 && argc - optind == 1) {
		struct dl_state s = { STDOUT_FILENO, 0 };

		r = s3_download(c, argv[optind], dl_sink, &s, &err);
		bytes = s.bytes;
	} else if (strcmp(cmd, "abort-stale") == 0 && argc - optind <= 2) {
		int64_t older = 86400;

		if (argc - optind == 2 && parse_int64(argv[optind + 1], 0, INT64_MAX, &older) < 0) {
			fprintf(stderr, "s3-tool: bad SECONDS\n");
			r = -EINVAL;
			goto out;
		}
		r = s3_abort_stale_uploads(c, argc - optind >= 1 ? argv[optind] : NULL, older, &err);
		if (r >= 0)
			printf("aborted %d\n", r);
	} else {
		usage(stderr);
		s3_client_free(c);
		return 2;
	}
	if (r < 0) {
		if (err.op[0] || err.code[0])
			fprintf(stderr, "%s\n", s3_error_format(&err, errtext, sizeof(errtext)));
		else
			fprintf(stderr, "s3-tool: %s: %s\n", cmd, strerror(-r));
	}
	if (stats) {
		double s = (double)(now_mono_ms() - t0) / 1000.0;

		fprintf(stderr, "stats: bytes=%" PRIu64 " seconds=%.3f MBps=%.1f VmHWM_kB=%ld\n", bytes, s,
			s > 0 ? (double)bytes / 1e6 / s : 0.0, vm_hwm_kb());
	}
out:
	s3_client_free(c);
	return r < 0 ? 1 : 0;
}
