# Integration scenarios: real controller, real agents in network namespaces.
# They need root; without it they SKIP with the reason.
include tests/integration/lib.mk
INTEGRATION_TESTS = \
	tests/integration/enrol-facts-tls.sh \
	tests/integration/refusals.sh \
	tests/integration/auth.sh \
	tests/integration/crash.sh \
	tests/integration/ratelimit.sh \
	tests/integration/notify.sh \
	tests/integration/ds-create-replicate.sh \
	tests/integration/ds-scale.sh \
	tests/integration/ds-config.sh \
	tests/integration/ds-fail-retry.sh \
	tests/integration/ds-crash.sh \
	tests/integration/ds-prometheus.sh \
	tests/integration/ds-destroy.sh \
	tests/integration/ds-external.sh \
	tests/integration/provision-local.sh \
	tests/integration/backup-api.sh \
	tests/integration/s3-client.sh \
	tests/integration/backup-pg.sh \
	tests/integration/backup-journal.sh \
	tests/integration/backup-pitr.sh \
	tests/integration/backup-lifecycle.sh
TESTS += $(INTEGRATION_TESTS)
EXTRA_DIST += $(INTEGRATION_TESTS) tests/integration/lib.sh
EXTRA_DIST += tests/integration/s3-faults.py
