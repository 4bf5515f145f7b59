# Unit tests of the node agent and cairnctl (cmocka).  Each links the same
# static libraries as the programs.
AGENT_UNIT_TESTS = \
	tests/unit/test-agent-verify \
	tests/unit/test-agent-journal \
	tests/unit/test-agent-config \
	tests/unit/test-agent-exec \
	tests/unit/test-agent-enroll \
	tests/unit/test-agent-proc \
	tests/unit/test-agent-service \
	tests/unit/test-agent-pg \
	tests/unit/test-cli-options \
	tests/unit/test-cli-output
check_PROGRAMS += $(AGENT_UNIT_TESTS)
TESTS += $(AGENT_UNIT_TESTS)

AGENT_UNIT_CFLAGS = $(UNIT_CFLAGS) $(SYSTEMD_CFLAGS) $(LIBPQ_CFLAGS) -I$(top_srcdir)/node-agent
AGENT_UNIT_LDADD = node-agent/libagent.a $(LIBCAIRN_LIBS) $(CURL_LIBS) $(SYSTEMD_LIBS) $(LIBPQ_LIBS) $(CMOCKA_LIBS)

tests_unit_test_agent_verify_SOURCES = tests/unit/test-agent-verify.c
tests_unit_test_agent_verify_CFLAGS = $(AGENT_UNIT_CFLAGS)
tests_unit_test_agent_verify_LDADD = $(AGENT_UNIT_LDADD)

tests_unit_test_agent_journal_SOURCES = tests/unit/test-agent-journal.c
tests_unit_test_agent_journal_CFLAGS = $(AGENT_UNIT_CFLAGS)
tests_unit_test_agent_journal_LDADD = $(AGENT_UNIT_LDADD)

tests_unit_test_agent_config_SOURCES = tests/unit/test-agent-config.c
tests_unit_test_agent_config_CFLAGS = $(AGENT_UNIT_CFLAGS)
tests_unit_test_agent_config_LDADD = $(AGENT_UNIT_LDADD)

tests_unit_test_agent_exec_SOURCES = tests/unit/test-agent-exec.c
tests_unit_test_agent_exec_CFLAGS = $(AGENT_UNIT_CFLAGS)
tests_unit_test_agent_exec_LDADD = $(AGENT_UNIT_LDADD)

tests_unit_test_agent_enroll_SOURCES = tests/unit/test-agent-enroll.c
tests_unit_test_agent_enroll_CFLAGS = $(AGENT_UNIT_CFLAGS)
tests_unit_test_agent_enroll_LDADD = $(AGENT_UNIT_LDADD)

tests_unit_test_agent_service_SOURCES = tests/unit/test-agent-service.c
tests_unit_test_agent_service_CFLAGS = $(AGENT_UNIT_CFLAGS)
tests_unit_test_agent_service_LDADD = $(AGENT_UNIT_LDADD)

tests_unit_test_agent_proc_SOURCES = tests/unit/test-agent-proc.c
tests_unit_test_agent_proc_CFLAGS = $(AGENT_UNIT_CFLAGS)
tests_unit_test_agent_proc_LDADD = $(AGENT_UNIT_LDADD)

tests_unit_test_agent_pg_SOURCES = tests/unit/test-agent-pg.c
tests_unit_test_agent_pg_CFLAGS = $(AGENT_UNIT_CFLAGS)
tests_unit_test_agent_pg_LDADD = $(AGENT_UNIT_LDADD)

CLI_UNIT_CFLAGS = $(UNIT_CFLAGS) -I$(top_srcdir)/cli
CLI_UNIT_LDADD = cli/libctl.a $(LIBCAIRN_LIBS) $(CURL_LIBS) $(CMOCKA_LIBS)

tests_unit_test_cli_options_SOURCES = tests/unit/test-cli-options.c
tests_unit_test_cli_options_CFLAGS = $(CLI_UNIT_CFLAGS)
tests_unit_test_cli_options_LDADD = $(CLI_UNIT_LDADD)

tests_unit_test_cli_output_SOURCES = tests/unit/test-cli-output.c
tests_unit_test_cli_output_CFLAGS = $(CLI_UNIT_CFLAGS)
tests_unit_test_cli_output_LDADD = $(CLI_UNIT_LDADD)

# Backups (issue 4): pure parts, and the end-to-end program run by
# tests/integration/backup-pg.sh (it skips alone).
AGENT_BACKUP_UNIT_TESTS = tests/unit/test-agent-backup
check_PROGRAMS += $(AGENT_BACKUP_UNIT_TESTS) tests/unit/test-agent-backup-pg
TESTS += $(AGENT_BACKUP_UNIT_TESTS)
tests_unit_test_agent_backup_SOURCES = tests/unit/test-agent-backup.c
tests_unit_test_agent_backup_CFLAGS = $(AGENT_UNIT_CFLAGS)
tests_unit_test_agent_backup_LDADD = $(AGENT_UNIT_LDADD)
tests_unit_test_agent_backup_pg_SOURCES = tests/unit/test-agent-backup-pg.c
tests_unit_test_agent_backup_pg_CFLAGS = $(AGENT_UNIT_CFLAGS)
tests_unit_test_agent_backup_pg_LDADD = $(AGENT_UNIT_LDADD)
