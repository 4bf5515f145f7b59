/*
 * exec-node.c: node.facts.  Everything is read from small kernel or OS
 * files with a size limit (/etc/os-release, /proc/meminfo, /sys/block) or
 * from plain syscalls (uname, sysconf, getifaddrs).  Nothing here runs a
 * program.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "exec-node.h"
#include "fileio.h"
#include "macro.h"
#include "service.h"
#include "util.h"

int exec_node_facts_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len)
{
	static const char *const known[] = { NULL };

	return exec_check_members(params, known, reason, reason_len);
}

/* Facts are shown to people: no control characters (jansson refuses
 * invalid UTF-8 itself, and a NULL value is simply not stored). */
static bool facts_text_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static char *facts_path(const char *sysroot, const char *path)
{
	char *p = NULL;

	if (asprintf(&p, "%s%s", sysroot ? sysroot : "", path) < 0)
		return NULL;
	return p;
}

static int facts_read(const char *sysroot, const char *path, char **ret)
{
	_cleanup_free_ char *p = facts_path(sysroot, path);

	if (!p)
		return -ENOMEM;
	return read_file_full(p, NODE_FACTS_FILE_MAX, ret, NULL);
}

/* Unquotes an os-release value (shell-like: "…", '…', backslash escapes). */
static char *os_release_value(const char *v, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	char q = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char ch = v[i];

		if (!q && (ch == '"' || ch == '\''))
			q = ch;
		else if (q && ch == q)
			q = 0;
		else if (q == '"' && ch == '\\' && i + 1 < n)
			*o++ = v[++i];
		else
			*o++ = ch;
	}
	*o = 0;
	return out;
}

static json_t *facts_os(const char *sysroot)
{
	_cleanup_free_ char *data = NULL;
	json_t *os = json_object();
	const char *line;

	if (!os)
		return NULL;
	if (facts_read(sysroot, "/etc/os-release", &data) < 0 &&
	    facts_read(sysroot, "/usr/lib/os-release", &data) < 0)
		return os;
	for (line = data; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		static const struct {
			const char *key, *member;
		} keys[] = { { "ID=", "id" }, { "VERSION_ID=", "version_id" }, { "PRETTY_NAME=", "pretty_name" } };

		for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
			size_t kl = strlen(keys[i].key);

			if (len > kl && strncmp(line, keys[i].key, kl) == 0) {
				_cleanup_free_ char *v = os_release_value(line + kl, len - kl);

				if (v && facts_text_ok(v))
					json_object_set_new(os, keys[i].member, json_string(v));
			}
		}
		line = end ? end + 1 : NULL;
	}
	return os;
}

static int64_t facts_memory_bytes(const char *sysroot)
{
	_cleanup_free_ char *data = NULL;
	const char *p;
	int64_t kb = 0;

	if (facts_read(sysroot, "/proc/meminfo", &data) < 0)
		return -1;
	p = strstr(data, "MemTotal:");
	if (!p)
		return -1;
	p += strlen("MemTotal:");
	while (*p == ' ' || *p == '\t')
		p++;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (kb > INT64_MAX / 10240)
			return -1;
		kb = kb * 10 + (*p - '0');
	}
	return kb * 1024;
}

static int facts_read_int(const char *sysroot, const char *dir, const char *name, const char *file, int64_t *ret)
{
	_cleanup_free_ char *path = NULL, *data = NULL;
	size_t n;

	if (asprintf(&path, "%s/%s/%s", dir, name, file) < 0)
		return -ENOMEM;
	if (facts_read(sysroot, path, &data) < 0)
		return -ENOENT;
	n = strlen(data);
	while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == ' '))
		data[--n] = 0;
	return parse_int64(data, 0, INT64_MAX, ret);
}

static json_t *facts_disks(const char *sysroot)
{
	_cleanup_free_ char *dirpath = facts_path(sysroot, "/sys/block");
	json_t *disks = json_array();
	DIR *d;
	struct dirent *de;

	if (!disks || !dirpath)
		return disks;
	d = opendir(dirpath);
	if (!d)
		return disks;
	while ((de = readdir(d)) && json_array_size(disks) < NODE_FACTS_DISKS_MAX) {
		int64_t sectors, rot = 0;

		if (de->d_name[0] == '.' || strncmp(de->d_name, "loop", 4) == 0 ||
		    strncmp(de->d_name, "ram", 3) == 0 || !facts_text_ok(de->d_name))
			continue;
		if (facts_read_int(sysroot, "/sys/block", de->d_name, "size", &sectors) < 0)
			continue;
		if (sectors > INT64_MAX / 512)
			continue;
		(void)facts_read_int(sysroot, "/sys/block", de->d_name, "queue/rotational", &rot);
		json_array_append_new(disks, json_pack("{s:s,s:I,s:b}", "name", de->d_name, "size_bytes",
						       (json_int_t)(sectors * 512), "rotational", rot != 0));
	}
	closedir(d);
	return disks;
}

static int facts_prefixlen(const struct sockaddr *mask)
{
	const unsigned char *b;
	size_t n;
	int bits = 0;

	if (!mask)
		return 0;
	if (mask->sa_family == AF_INET) {
		b = (const unsigned char *)&((const struct sockaddr_in *)mask)->sin_addr;
		n = 4;
	} else if (mask->sa_family == AF_INET6) {
		b = (const unsigned char *)&((const struct sockaddr_in6 *)mask)->sin6_addr;
		n = 16;
	} else
		return 0;
	for (size_t i = 0; i < n; i++)
		bits += __builtin_popcount(b[i]);
	return bits;
}

static json_t *facts_addresses(void)
{
	json_t *addrs = json_array();
	struct ifaddrs *ifa = NULL;

	if (!addrs || getifaddrs(&ifa) < 0)
		return addrs;
	for (struct ifaddrs *i = ifa; i && json_array_size(addrs) < NODE_FACTS_ADDRESSES_MAX; i = i->ifa_next) {
		char buf[INET6_ADDRSTRLEN];
		const void *a;
		int fam;

		if (!i->ifa_addr || !i->ifa_name || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		fam = i->ifa_addr->sa_family;
		if (fam == AF_INET)
			a = &((const struct sockaddr_in *)i->ifa_addr)->sin_addr;
		else if (fam == AF_INET6)
			a = &((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
		else
			continue;
		if (!inet_ntop(fam, a, buf, sizeof(buf)) || !facts_text_ok(i->ifa_name))
			continue;
		json_array_append_new(addrs, json_pack("{s:s,s:s,s:s,s:i}", "ifname", i->ifa_name, "family",
						       fam == AF_INET ? "inet" : "inet6", "address", buf,
						       "prefixlen", facts_prefixlen(i->ifa_netmask)));
	}
	freeifaddrs(ifa);
	return addrs;
}

int node_facts_collect(const char *sysroot, json_t **ret)
{
	_cleanup_json_ json_t *f = json_object();
	struct utsname u;
	char host[256] = "";
	long cpus;
	int64_t mem;

	if (!f)
		return -ENOMEM;
	json_object_set_new(f, "os", facts_os(sysroot));
	if (uname(&u) == 0) {
		if (facts_text_ok(u.release))
			json_object_set_new(f, "kernel", json_string(u.release));
		if (facts_text_ok(u.machine))
			json_object_set_new(f, "arch", json_string(u.machine));
	}
	if (gethostname(host, sizeof(host) - 1) == 0 && facts_text_ok(host))
		json_object_set_new(f, "hostname", json_string(host));
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus > 0)
		json_object_set_new(f, "cpus", json_integer(cpus));
	mem = facts_memory_bytes(sysroot);
	if (mem >= 0)
		json_object_set_new(f, "memory_bytes", json_integer(mem));
	json_object_set_new(f, "disks", facts_disks(sysroot));
	json_object_set_new(f, "addresses", facts_addresses());
	*ret = TAKE_PTR(f);
	return 0;
}

void node_facts_add_dirs(json_t *facts, const struct exec_config *cfg)
{
	if (!facts || !cfg)
		return;
	if (cfg->tls_dir)
		json_object_set_new(facts, "tls_dir", json_string(cfg->tls_dir));
	if (cfg->db_dir)
		json_object_set_new(facts, "db_dir", json_string(cfg->db_dir));
	if (cfg->services)
		json_object_set_new(facts, "service_manager",
				    json_string(services_backend(cfg->services)));
}

int node_facts_first_ipv4(json_t *facts, char ret[static NODE_FACTS_ADDRESS_MAX])
{
	size_t i;
	json_t *a;

	json_array_foreach(json_object_get(facts, "addresses"), i, a) {
		const char *fam = json_string_value(json_object_get(a, "family"));
		const char *addr = json_string_value(json_object_get(a, "address"));

		if (fam && addr && streq(fam, "inet") && strlen(addr) < NODE_FACTS_ADDRESS_MAX) {
			snprintf(ret, NODE_FACTS_ADDRESS_MAX, "%s", addr);
			return 0;
		}
	}
	return -ENOENT;
}

int exec_node_facts_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message)
{
	json_t *f = NULL;
	int r;

	r = node_facts_collect(NULL, &f);
	if (r < 0)
		return r;
	node_facts_add_dirs(f, ctx ? ctx->config : NULL);
	*ret_output = f;
	return 0;
}
