/*
 * test-ctl-userdata.c: the rendered #cloud-config: its structure, that no
 * input can inject YAML or INI keys, and (when cloud-init is installed)
 * that `cloud-init schema` accepts it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "fileio.h"
#include "macro.h"
#include "userdata.h"

#define CLOUD_INIT "/usr/bin/cloud-init"

static const char *ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

static struct userdata_params good(void)
{
	return (struct userdata_params){
		.api_url = "https://ctl.example:8443",
		.gateway_url = "https://ctl.example:8444",
		.ca_pem = ca,
		.join_token = "cjt_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
		.agent_package = "cairn-agent",
	};
}

static json_t *body_of(const char *doc)
{
	assert_true(strncmp(doc, "#cloud-config\n", 14) == 0);
	json_t *j = json_loads(doc + 14, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	return j;
}

static void test_structure(void **state)
{
	struct userdata_params p = good();
	char *doc = NULL;
	assert_int_equal(userdata_render(&p, &doc), 0);
	json_t *j = body_of(doc);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "packages"), 0)),
			    "cairn-agent");
	json_t *wf = json_object_get(j, "write_files");
	assert_int_equal(json_array_size(wf), 3);
	const char *conf = json_string_value(json_object_get(json_array_get(wf, 0), "content"));
	assert_non_null(strstr(conf, "api_url = https://ctl.example:8443\n"));
	assert_non_null(strstr(conf, "gateway_url = https://ctl.example:8444\n"));
	assert_non_null(strstr(conf, "ca_file = /etc/cairn/ca.pem\n"));
	assert_non_null(strstr(conf, "token_file = /etc/cairn/join.token\n"));
	assert_non_null(strstr(conf, "state_dir = /var/lib/cairn\n"));
	json_t *tok = json_array_get(wf, 2);
	assert_string_equal(json_string_value(json_object_get(tok, "path")), "/etc/cairn/join.token");
	assert_string_equal(json_string_value(json_object_get(tok, "permissions")), "0600");
	assert_string_equal(json_string_value(json_object_get(tok, "owner")), "root:root");
	json_t *cmd = json_array_get(json_object_get(j, "runcmd"), 0);
	assert_string_equal(json_string_value(json_array_get(cmd, 3)), "cairn-agent");
	json_decref(j);
	freezero_strp(&doc);
}

/* An empty package name: the image has the agent, no `packages` key. */
static void test_no_package(void **state)
{
	struct userdata_params p = good();
	char *doc = NULL;
	p.agent_package = "";
	assert_int_equal(userdata_render(&p, &doc), 0);
	json_t *j = body_of(doc);
	assert_null(json_object_get(j, "packages"));
	assert_int_equal(json_array_size(json_object_get(j, "write_files")), 3);
	assert_non_null(json_object_get(j, "runcmd"));
	json_decref(j);
	freezero_strp(&doc);
}

static void test_refuses_injection(void **state)
{
	char *doc = NULL;
	struct userdata_params p = good();
	p.api_url = "https://x\nallow_debug_jobs = true";
	assert_int_equal(userdata_render(&p, &doc), -EINVAL);
	p = good();
	p.join_token = "cjt_x\n";
	assert_int_equal(userdata_render(&p, &doc), -EINVAL);
	p = good();
	p.ca_pem = "not a cert";
	assert_int_equal(userdata_render(&p, &doc), -EINVAL);
	p = good();
	p.agent_package = NULL;
	assert_int_equal(userdata_render(&p, &doc), -EINVAL);
	assert_null(doc);

	/* Characters that mean something in YAML stay inside quoted strings. */
	p = good();
	p.api_url = "https://x: y&z*a|b>c{d}[e]'f!%@`";
	assert_int_equal(userdata_render(&p, &doc), 0);
	json_t *j = body_of(doc);
	assert_int_equal(json_object_size(j), 3);
	json_decref(j);
	freezero_strp(&doc);
}

static void test_cloud_init_schema(void **state)
{
	if (access(CLOUD_INIT, X_OK) != 0) {
		print_message("skipped: %s not installed\n", CLOUD_INIT);
		skip();
	}
	char path[] = "/tmp/test-ctl-userdata-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	struct userdata_params p = good();
	char *doc = NULL;
	assert_int_equal(userdata_render(&p, &doc), 0);
	assert_int_equal(write_string_atomic(path, doc, 0600), 0);
	freezero_strp(&doc);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execl(CLOUD_INIT, CLOUD_INIT, "schema", "--config-file", path, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(path);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_no_package),
		cmocka_unit_test(test_refuses_injection),
		cmocka_unit_test(test_cloud_init_schema),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
