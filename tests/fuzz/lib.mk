# Fuzz targets of lib/: fuzz-jws (jws_parse, jws_verify,
# job_claims_from_json) and fuzz-ini (ini_parse and lookups).  Seeds live in
# tests/fuzz/corpus/<jws|ini>/, dictionaries in tests/fuzz/fuzz-<t>.dict.
# With --enable-fuzzing they are libFuzzer programs built by `make`;
# otherwise they link standalone.c and lib-corpus.sh replays the corpus.
LIB_FUZZ_TARGETS = tests/fuzz/fuzz-jws tests/fuzz/fuzz-ini
if FUZZING
noinst_PROGRAMS += $(LIB_FUZZ_TARGETS)
else
check_PROGRAMS += $(LIB_FUZZ_TARGETS)
TESTS += tests/fuzz/lib-corpus.sh
endif

tests_fuzz_fuzz_jws_SOURCES = tests/fuzz/fuzz-jws.c $(FUZZ_MAIN)
tests_fuzz_fuzz_jws_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_jws_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINKER_FLAGS)
tests_fuzz_fuzz_jws_LDADD = $(LIBCAIRN_LIBS)

tests_fuzz_fuzz_ini_SOURCES = tests/fuzz/fuzz-ini.c $(FUZZ_MAIN)
tests_fuzz_fuzz_ini_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_ini_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINKER_FLAGS)
tests_fuzz_fuzz_ini_LDADD = $(LIBCAIRN_LIBS)

EXTRA_DIST += tests/fuzz/lib-corpus.sh tests/fuzz/fuzz-jws.dict tests/fuzz/fuzz-ini.dict \
	tests/fuzz/corpus/jws tests/fuzz/corpus/ini tests/fuzz/standalone.c
