/*
 * userdata.h: renders a node slot's cloud-init user-data (DESIGN.md "Nodes
 * and provisioning").  The document is "#cloud-config" followed by a JSON
 * body: JSON is valid YAML, and jansson quotes every value, so nothing a
 * caller passes can change the document's structure.
 */
#pragma once

#define USERDATA_MAX (128 * 1024)

struct userdata_params {
	const char *api_url;        /* controller API URL (enrolment) */
	const char *gateway_url;    /* controller gateway URL */
	const char *ca_pem;         /* controller CA certificate */
	const char *join_token;     /* the slot's join token (secret) */
	const char *agent_package;  /* package to install */
};

/* Returns 0 and a heap string (it holds the join token: wipe with
 * freezero_strp), -EINVAL when a parameter is missing or would not fit in
 * the agent's configuration file, or -ENOMEM. */
int userdata_render(const struct userdata_params *p, char **ret);
