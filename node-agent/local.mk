# node-agent/: cairn-agent.  Everything but main.c is in a static library so
# that unit tests link the same objects the daemon runs.
noinst_LIBRARIES += node-agent/libagent.a
node_agent_libagent_a_SOURCES = \
	node-agent/agent.c node-agent/agent.h \
	node-agent/config.c node-agent/config.h \
	node-agent/client.c node-agent/client.h \
	node-agent/enroll.c node-agent/enroll.h \
	node-agent/verify.c node-agent/verify.h \
	node-agent/journal.c node-agent/journal.h \
	node-agent/exec.c node-agent/exec.h \
	node-agent/exec-node.c node-agent/exec-node.h \
	node-agent/exec-tls.c node-agent/exec-tls.h \
	node-agent/exec-debug.c node-agent/exec-debug.h \
	node-agent/proc.c node-agent/proc.h \
	node-agent/service.c node-agent/service.h \
	node-agent/exec-pkg.c node-agent/exec-pkg.h \
	node-agent/exec-pg.c node-agent/exec-pg.h \
	node-agent/exec-exporter.c node-agent/exec-exporter.h \
	node-agent/pgstatus.c node-agent/pgstatus.h \
	node-agent/report.c node-agent/report.h \
	node-agent/notify.c node-agent/notify.h \
	node-agent/backup-keys.c node-agent/backup-keys.h \
	node-agent/backup-object.c node-agent/backup-object.h \
	node-agent/backup-wal.c node-agent/backup-wal.h \
	node-agent/backup-ctl.c node-agent/backup-ctl.h \
	node-agent/backup-manifest.c node-agent/backup-manifest.h \
	node-agent/backup-walk.c node-agent/backup-walk.h \
	node-agent/backup-cli.c node-agent/backup-cli.h \
	node-agent/exec-backup.c node-agent/exec-backup.h \
	node-agent/exec-restore.c node-agent/exec-restore.h
AGENT_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) $(SYSTEMD_CFLAGS) $(SQLITE_CFLAGS) $(LIBPQ_CFLAGS) $(EXPAT_CFLAGS) $(ZSTD_CFLAGS)
node_agent_libagent_a_CFLAGS = $(AGENT_CFLAGS)
AGENT_LIBS = node-agent/libagent.a $(LIBCAIRN_LIBS) $(CURL_LIBS) $(SYSTEMD_LIBS) $(LIBPQ_LIBS)

sbin_PROGRAMS += node-agent/cairn-agent
node_agent_cairn_agent_SOURCES = node-agent/main.c
node_agent_cairn_agent_CFLAGS = $(AGENT_CFLAGS)
node_agent_cairn_agent_LDADD = $(AGENT_LIBS)
