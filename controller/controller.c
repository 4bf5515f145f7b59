/*
 * controller.c: the daemon's state and its life: set-up in dependency
 * order (store, keys, limiters, runner, listeners), the signal wait, and
 * the graceful stop (listeners refuse new long polls, every suspended
 * request is resumed and answered, then the listeners stop, then the
 * ticker, then the store closes).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "api.h"
#include "config.h"
#include "controller.h"
#include "fileio.h"
#include "gateway.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "longpoll.h"
#include "macro.h"
#include "metrics.h"
#include "operations.h"
#include "ratelimit.h"
#include "runner.h"
#include "store.h"
#include "util.h"

#define CONTROLLER_STOP_DRAIN_MS 2000

int controller_block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* A peer closing a TLS connection must never kill us. */
	signal(SIGPIPE, SIG_IGN);
	int r = pthread_sigmask(SIG_BLOCK, &set, NULL);
	return r ? -r : 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warning("cannot raise the open file limit to %llu", (unsigned long long)rl.rlim_max);
}

int controller_new(struct config *config, struct controller **ret)
{
	_cleanup_free_ char *error = NULL;
	struct controller *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c) {
		config_free(config);
		return log_error_errno(-ENOMEM, "out of memory");
	}
	c->config = config;
	raise_nofile();

	r = mkdir_p(config->state_dir, 0700);
	if (r < 0) {
		log_error_errno(r, "cannot create the state directory %s", config->state_dir);
		goto fail;
	}
	r = store_open(config->state_dir, &c->store, &error);
	if (r < 0) {
		log_error_errno(r, "cannot open the store in %s: %s", config->state_dir, error ?: "");
		goto fail;
	}
	r = keys_setup(config->state_dir, config->server_names, c->store, &c->keys, &error);
	if (r < 0) {
		log_error_errno(r, "cannot set up keys: %s", error ?: "");
		goto fail;
	}
	c->rl_api = ratelimit_new(config->api_rl.rate, config->api_rl.burst, 0);
	c->rl_gateway = ratelimit_new(config->gateway_rl.rate, config->gateway_rl.burst, 0);
	c->rl_enroll = ratelimit_new(config->enroll_rl.rate, config->enroll_rl.burst, 0);
	c->rl_auth_fail = ratelimit_new(config->enroll_rl.rate, config->enroll_rl.burst, 0);
	c->longpoll = longpoll_new();
	c->metrics = metrics_new();
	c->runner = runner_new(c);
	c->ops = ops_new(c);
	if (!c->rl_api || !c->rl_gateway || !c->rl_enroll || !c->rl_auth_fail || !c->longpoll ||
	    !c->metrics || !c->runner || !c->ops) {
		r = log_error_errno(-ENOMEM, "out of memory");
		goto fail;
	}
	*ret = c;
	return 0;
fail:
	controller_free(c);
	return r;
}

int controller_start(struct controller *c)
{
	int r;
	struct http_server_config api = {
		.listener = HTTP_LISTENER_API,
		.listen = &c->config->api_listen,
		.key_pem = c->keys->server_key_pem,
		.cert_pem = c->keys->server_cert_pem,
		.connection_limit = (unsigned)c->config->connection_limit,
		.routes = api_routes,
		.n_routes = api_routes_count,
		.admit = api_admit,
		.userdata = c,
		.metrics = c->metrics,
	};
	struct http_server_config gw = api;
	gw.listener = HTTP_LISTENER_GATEWAY;
	gw.listen = &c->config->gateway_listen;
	gw.trust_pem = c->keys->ca_pem;
	gw.routes = gateway_routes;
	gw.n_routes = gateway_routes_count;
	gw.admit = gateway_admit;

	r = runner_start(c->runner);
	if (r < 0)
		return log_error_errno(r, "cannot start the job ticker");
	r = http_server_start(&api, &c->api);
	if (r < 0)
		return log_error_errno(r, "cannot listen on %s (API)", c->config->api_listen.text);
	r = http_server_start(&gw, &c->gateway);
	if (r < 0)
		return log_error_errno(r, "cannot listen on %s (gateway)", c->config->gateway_listen.text);
	log_info("cairn-controller %s: API on %s (port %u), gateway on %s (port %u)",
		 CAIRN_VERSION_STRING, c->config->api_listen.text, http_server_port(c->api),
		 c->config->gateway_listen.text, http_server_port(c->gateway));
	return 0;
}

int controller_run(struct controller *c)
{
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	(void)sd_notify(0, "READY=1\nSTATUS=serving");
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_info("SIGHUP ignored: restart the service to apply a new configuration");
			continue;
		}
		break;
	}
	log_info("received %s, stopping", strsignal(sig));
	(void)sd_notify(0, "STOPPING=1\nSTATUS=stopping");
	return 0;
}

void controller_free(struct controller *c)
{
	if (!c)
		return;
	/* Long polls first: libmicrohttpd must not stop with a suspended
	 * connection, and each waiting agent gets a normal empty answer. */
	if (c->longpoll) {
		longpoll_shutdown(c->longpoll);
		/* Give the listeners' threads a moment to answer the resumed
		 * requests (each is one store query). */
		usleep(100 * 1000);
	}
	http_server_stop(c->gateway);
	http_server_stop(c->api);
	/* The ticker drives operations: stop it first, then wait for the
	 * provisioner runs still under way. */
	if (c->runner)
		runner_stop(c->runner);
	ops_stop(c->ops);
	ops_free(c->ops);
	runner_free(c->runner);
	metrics_free(c->metrics);
	longpoll_free(c->longpoll);
	ratelimit_free(c->rl_api);
	ratelimit_free(c->rl_gateway);
	ratelimit_free(c->rl_enroll);
	ratelimit_free(c->rl_auth_fail);
	keys_free(c->keys);
	store_close(c->store);
	config_free(c->config);
	free(c);
}
