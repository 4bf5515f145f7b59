# Fuzz target of the agent: fuzz-agent-verify drives the whole acceptance
# path of a pulled job (form, signature, payload, params validators).
AGENT_FUZZ_TARGETS = tests/fuzz/fuzz-agent-verify
if FUZZING
noinst_PROGRAMS += $(AGENT_FUZZ_TARGETS)
else
check_PROGRAMS += $(AGENT_FUZZ_TARGETS)
TESTS += tests/fuzz/agent-corpus.sh
endif

tests_fuzz_fuzz_agent_verify_SOURCES = tests/fuzz/fuzz-agent-verify.c $(FUZZ_MAIN)
tests_fuzz_fuzz_agent_verify_CFLAGS = $(FUZZ_CFLAGS) $(AGENT_CFLAGS) -I$(top_srcdir)/node-agent
tests_fuzz_fuzz_agent_verify_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINKER_FLAGS)
tests_fuzz_fuzz_agent_verify_LDADD = $(AGENT_LIBS)

EXTRA_DIST += tests/fuzz/agent-corpus.sh tests/fuzz/fuzz-agent-verify.dict tests/fuzz/corpus/agent-verify

# fuzz-manifest: the backup manifest checks and the control socket's
# request parser (node-agent/backup-manifest.c, backup-ctl.c).
MANIFEST_FUZZ_TARGETS = tests/fuzz/fuzz-manifest
if FUZZING
noinst_PROGRAMS += $(MANIFEST_FUZZ_TARGETS)
else
check_PROGRAMS += $(MANIFEST_FUZZ_TARGETS)
TESTS += tests/fuzz/manifest-corpus.sh
endif
tests_fuzz_fuzz_manifest_SOURCES = tests/fuzz/fuzz-manifest.c $(FUZZ_MAIN)
tests_fuzz_fuzz_manifest_CFLAGS = $(FUZZ_CFLAGS) $(AGENT_CFLAGS) -I$(top_srcdir)/node-agent
tests_fuzz_fuzz_manifest_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINKER_FLAGS)
tests_fuzz_fuzz_manifest_LDADD = $(AGENT_LIBS)
EXTRA_DIST += tests/fuzz/manifest-corpus.sh tests/fuzz/corpus/manifest
FUZZ_ALL_TARGETS += $(MANIFEST_FUZZ_TARGETS)
