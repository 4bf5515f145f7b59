/*
 * userdata.c: builds the #cloud-config document as a jansson object and
 * serialises it after the "#cloud-config" line.  The agent configuration
 * inside it is INI text; its values come from our own configuration and
 * are checked here to be single-line, so one value cannot add a key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "macro.h"
#include "userdata.h"

/* One INI value: printable ASCII, no line breaks, no comment characters. */
static bool ini_value_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 1024)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < ' ' || *p >= 0x7f || *p == '#' || *p == ';')
			return false;
	return true;
}

static bool pem_ok(const char *s)
{
	if (!s || strncmp(s, "-----BEGIN CERTIFICATE-----", 27) != 0 || strlen(s) > 64 * 1024)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < ' ' && *p != '\n' && *p != '\r') || *p >= 0x7f)
			return false;
	return true;
}

static json_t *write_file(const char *path, const char *content, const char *perm)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "path", path, "content", content, "owner",
			 "root:root", "permissions", perm);
}

int userdata_render(const struct userdata_params *p, char **ret)
{
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_secret_ char *conf = NULL, *body = NULL, *token_file = NULL;
	char *out = NULL;

	if (!p || !ini_value_ok(p->api_url) || !ini_value_ok(p->gateway_url) || !pem_ok(p->ca_pem) ||
	    !ini_value_ok(p->join_token) || !p->agent_package ||
	    (*p->agent_package && !ini_value_ok(p->agent_package)))
		return -EINVAL;

	if (asprintf(&conf,
		     "# Written by cairn-controller through cloud-init.\n"
		     "[agent]\n"
		     "api_url = %s\n"
		     "gateway_url = %s\n"
		     "ca_file = /etc/cairn/ca.pem\n"
		     "token_file = /etc/cairn/join.token\n"
		     "state_dir = /var/lib/cairn\n",
		     p->api_url, p->gateway_url) < 0)
		return -ENOMEM;
	if (asprintf(&token_file, "%s\n", p->join_token) < 0)
		return -ENOMEM;

	/* An empty agent_package: the image has the agent already. */
	doc = json_object();
	if (!doc || (*p->agent_package &&
		     json_object_set_new(doc, "packages", json_pack("[s]", p->agent_package)) < 0) ||
	    json_object_set_new(doc, "write_files",
				json_pack("[o, o, o]",
					  write_file("/etc/cairn/agent.conf", conf, "0644"),
					  write_file("/etc/cairn/ca.pem", p->ca_pem, "0644"),
					  write_file("/etc/cairn/join.token", token_file, "0600"))) < 0 ||
	    json_object_set_new(doc, "runcmd",
				json_pack("[[s, s, s, s]]", "systemctl", "enable", "--now",
					  "cairn-agent")) < 0)
		return -ENOMEM;

	/* Indented (": " after every key, as PyYAML wants), ASCII only. */
	body = json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
	if (!body)
		return -ENOMEM;
	/* json_dumps copied the secrets; wipe the document's copies. */
	json_t *wf = json_object_get(doc, "write_files");
	for (size_t i = 0; i < json_array_size(wf); i++) {
		json_t *c = json_object_get(json_array_get(wf, i), "content");
		const char *v = json_string_value(c);
		if (v)
			explicit_bzero((char *)v, strlen(v));
	}
	if (strlen(body) + 32 > USERDATA_MAX)
		return -E2BIG;
	if (asprintf(&out, "#cloud-config\n%s\n", body) < 0)
		return -ENOMEM;
	*ret = out;
	return 0;
}
