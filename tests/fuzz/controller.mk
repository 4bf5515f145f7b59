# Fuzz targets of the controller.  fuzz-api-body drives every request body
# parser (api.c, enroll.c, gateway.c): seeds in tests/fuzz/corpus/api-body/,
# dictionary tests/fuzz/fuzz-api-body.dict.  fuzz-ds-body drives the
# datastore API's parsers (api-datastores.c) and the status report's
# databases[] (gateway.c): seeds in tests/fuzz/corpus/ds-body/,
# dictionary tests/fuzz/fuzz-ds-body.dict.  Without libFuzzer they link
# standalone.c and ctl-corpus.sh / ds-corpus.sh replay the corpora under
# `make check`.
CTL_FUZZ_TARGETS = tests/fuzz/fuzz-api-body tests/fuzz/fuzz-ds-body
if FUZZING
noinst_PROGRAMS += $(CTL_FUZZ_TARGETS)
else
check_PROGRAMS += $(CTL_FUZZ_TARGETS)
TESTS += tests/fuzz/ctl-corpus.sh tests/fuzz/ds-corpus.sh
endif

tests_fuzz_fuzz_api_body_SOURCES = tests/fuzz/fuzz-api-body.c $(FUZZ_MAIN)
tests_fuzz_fuzz_api_body_CFLAGS = $(FUZZ_CFLAGS) $(CONTROLLER_CFLAGS)
tests_fuzz_fuzz_api_body_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINKER_FLAGS)
tests_fuzz_fuzz_api_body_LDADD = controller/libcontroller.a $(CONTROLLER_LIBS)

EXTRA_DIST += tests/fuzz/ctl-corpus.sh tests/fuzz/fuzz-api-body.dict tests/fuzz/corpus/api-body

tests_fuzz_fuzz_ds_body_SOURCES = tests/fuzz/fuzz-ds-body.c $(FUZZ_MAIN)
tests_fuzz_fuzz_ds_body_CFLAGS = $(FUZZ_CFLAGS) $(CONTROLLER_CFLAGS)
tests_fuzz_fuzz_ds_body_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINKER_FLAGS)
tests_fuzz_fuzz_ds_body_LDADD = controller/libcontroller.a $(CONTROLLER_LIBS)

EXTRA_DIST += tests/fuzz/ds-corpus.sh tests/fuzz/fuzz-ds-body.dict tests/fuzz/corpus/ds-body
