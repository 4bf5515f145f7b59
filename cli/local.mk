# cli/: cairnctl.  Everything but main.c is in a static library so that the
# unit tests link the same objects.
noinst_LIBRARIES += cli/libctl.a
cli_libctl_a_SOURCES = \
	cli/options.c cli/options.h \
	cli/client.c cli/client.h \
	cli/output.c cli/output.h \
	cli/cmd-nodes.c cli/cmd-nodes.h \
	cli/cmd-jobs.c cli/cmd-jobs.h \
	cli/cmd-datastores.c cli/cmd-datastores.h \
	cli/cmd-ops.c cli/cmd-ops.h \
	cli/cmd-backups.c cli/cmd-backups.h
CTL_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) $(SQLITE_CFLAGS)
cli_libctl_a_CFLAGS = $(CTL_CFLAGS)
CTL_LIBS = cli/libctl.a $(LIBCAIRN_LIBS) $(CURL_LIBS)

bin_PROGRAMS += cli/cairnctl
cli_cairnctl_SOURCES = cli/main.c
cli_cairnctl_CFLAGS = $(CTL_CFLAGS)
cli_cairnctl_LDADD = $(CTL_LIBS)

# Argument parsing of the datastore and op commands (kept here, next to
# the code, so that the test lists of other parts stay untouched).
CLI_DS_UNIT_TESTS = tests/unit/test-cli-datastores
check_PROGRAMS += $(CLI_DS_UNIT_TESTS)
TESTS += $(CLI_DS_UNIT_TESTS)
tests_unit_test_cli_datastores_SOURCES = tests/unit/test-cli-datastores.c
tests_unit_test_cli_datastores_CFLAGS = $(UNIT_CFLAGS) -I$(top_srcdir)/cli
tests_unit_test_cli_datastores_LDADD = cli/libctl.a $(LIBCAIRN_LIBS) $(CURL_LIBS) $(CMOCKA_LIBS)

# `cairnctl backup` (docs/backups.md).
CLI_BK_UNIT_TESTS = tests/unit/test-cli-backups
check_PROGRAMS += $(CLI_BK_UNIT_TESTS)
TESTS += $(CLI_BK_UNIT_TESTS)
tests_unit_test_cli_backups_SOURCES = tests/unit/test-cli-backups.c
tests_unit_test_cli_backups_CFLAGS = $(UNIT_CFLAGS) -I$(top_srcdir)/cli
tests_unit_test_cli_backups_LDADD = cli/libctl.a $(LIBCAIRN_LIBS) $(CURL_LIBS) $(CMOCKA_LIBS)
