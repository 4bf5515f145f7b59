# Unit tests of the controller (tests/unit/test-ctl-<module>.c).  They link
# controller/libcontroller.a, the daemon minus main.c.
CTL_UNIT_TESTS = \
	tests/unit/test-ctl-config \
	tests/unit/test-ctl-store \
	tests/unit/test-ctl-keys \
	tests/unit/test-ctl-ratelimit \
	tests/unit/test-ctl-userdata \
	tests/unit/test-ctl-api \
	tests/unit/test-ctl-runner \
	tests/unit/test-ctl-health \
	tests/unit/test-ctl-api-ds \
	tests/unit/test-ctl-scram \
	tests/unit/test-ctl-ops \
	tests/unit/test-ctl-backup
check_PROGRAMS += $(CTL_UNIT_TESTS)
TESTS += $(CTL_UNIT_TESTS)

CTL_UNIT_CFLAGS = $(CONTROLLER_CFLAGS) $(CMOCKA_CFLAGS) -I$(top_srcdir)/controller
CTL_UNIT_LDADD = controller/libcontroller.a $(CONTROLLER_LIBS) $(CMOCKA_LIBS)

tests_unit_test_ctl_config_SOURCES = tests/unit/test-ctl-config.c
tests_unit_test_ctl_config_CFLAGS = $(CTL_UNIT_CFLAGS)
tests_unit_test_ctl_config_LDADD = $(CTL_UNIT_LDADD)

tests_unit_test_ctl_store_SOURCES = tests/unit/test-ctl-store.c
tests_unit_test_ctl_store_CFLAGS = $(CTL_UNIT_CFLAGS)
tests_unit_test_ctl_store_LDADD = $(CTL_UNIT_LDADD)

tests_unit_test_ctl_ratelimit_SOURCES = tests/unit/test-ctl-ratelimit.c
tests_unit_test_ctl_ratelimit_CFLAGS = $(CTL_UNIT_CFLAGS)
tests_unit_test_ctl_ratelimit_LDADD = $(CTL_UNIT_LDADD)

tests_unit_test_ctl_userdata_SOURCES = tests/unit/test-ctl-userdata.c
tests_unit_test_ctl_userdata_CFLAGS = $(CTL_UNIT_CFLAGS)
tests_unit_test_ctl_userdata_LDADD = $(CTL_UNIT_LDADD)

tests_unit_test_ctl_api_SOURCES = tests/unit/test-ctl-api.c
tests_unit_test_ctl_api_CFLAGS = $(CTL_UNIT_CFLAGS)
tests_unit_test_ctl_api_LDADD = $(CTL_UNIT_LDADD)

tests_unit_test_ctl_runner_SOURCES = tests/unit/test-ctl-runner.c
tests_unit_test_ctl_runner_CFLAGS = $(CTL_UNIT_CFLAGS)
tests_unit_test_ctl_runner_LDADD = $(CTL_UNIT_LDADD)

tests_unit_test_ctl_keys_SOURCES = tests/unit/test-ctl-keys.c
tests_unit_test_ctl_keys_CFLAGS = $(CTL_UNIT_CFLAGS)
tests_unit_test_ctl_keys_LDADD = $(CTL_UNIT_LDADD)

tests_unit_test_ctl_health_SOURCES = tests/unit/test-ctl-health.c
tests_unit_test_ctl_health_CFLAGS = $(CTL_UNIT_CFLAGS)
tests_unit_test_ctl_health_LDADD = $(CTL_UNIT_LDADD)

tests_unit_test_ctl_api_ds_SOURCES = tests/unit/test-ctl-api-ds.c
tests_unit_test_ctl_api_ds_CFLAGS = $(CTL_UNIT_CFLAGS)
tests_unit_test_ctl_api_ds_LDADD = $(CTL_UNIT_LDADD)

tests_unit_test_ctl_scram_SOURCES = tests/unit/test-ctl-scram.c
tests_unit_test_ctl_scram_CFLAGS = $(CTL_UNIT_CFLAGS)
tests_unit_test_ctl_scram_LDADD = $(CTL_UNIT_LDADD)

tests_unit_test_ctl_ops_SOURCES = tests/unit/test-ctl-ops.c
tests_unit_test_ctl_ops_CFLAGS = $(CTL_UNIT_CFLAGS)
tests_unit_test_ctl_ops_LDADD = $(CTL_UNIT_LDADD)

tests_unit_test_ctl_backup_SOURCES = tests/unit/test-ctl-backup.c
tests_unit_test_ctl_backup_CFLAGS = $(CTL_UNIT_CFLAGS)
tests_unit_test_ctl_backup_LDADD = $(CTL_UNIT_LDADD)
