# Fuzz targets.  With --enable-fuzzing they link libFuzzer (`make
# fuzz-targets`); otherwise they are built with tests/fuzz/standalone.c,
# which replays the corpus files given on the command line, so every target
# always compiles and its corpus runs under `make check`.  Each fragment adds
# its programs to FUZZ_ALL_TARGETS.
if FUZZING
FUZZ_LINKER_FLAGS = -fsanitize=fuzzer
FUZZ_MAIN =
else
FUZZ_LINKER_FLAGS =
FUZZ_MAIN = tests/fuzz/standalone.c
endif
FUZZ_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) $(SQLITE_CFLAGS)
FUZZ_ALL_TARGETS =
include tests/fuzz/lib.mk
include tests/fuzz/controller.mk
include tests/fuzz/agent.mk
EXTRA_DIST += tests/fuzz/corpus
FUZZ_ALL_TARGETS += $(LIB_FUZZ_TARGETS) $(CTL_FUZZ_TARGETS) $(AGENT_FUZZ_TARGETS)
fuzz-targets: $(FUZZ_ALL_TARGETS)
.PHONY: fuzz-targets

# fuzz-s3-xml: every lib/s3xml parser over the same bytes; seeds in
# tests/fuzz/corpus/s3-xml/, replayed by s3-corpus.sh without libFuzzer.
S3_FUZZ_TARGETS = tests/fuzz/fuzz-s3-xml
if FUZZING
noinst_PROGRAMS += $(S3_FUZZ_TARGETS)
else
check_PROGRAMS += $(S3_FUZZ_TARGETS)
TESTS += tests/fuzz/s3-corpus.sh
endif
tests_fuzz_fuzz_s3_xml_SOURCES = tests/fuzz/fuzz-s3-xml.c $(FUZZ_MAIN)
tests_fuzz_fuzz_s3_xml_CFLAGS = $(FUZZ_CFLAGS) $(EXPAT_CFLAGS)
tests_fuzz_fuzz_s3_xml_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINKER_FLAGS)
tests_fuzz_fuzz_s3_xml_LDADD = $(LIBCAIRN_LIBS)
EXTRA_DIST += tests/fuzz/s3-corpus.sh tests/fuzz/corpus/s3-xml
fuzz-targets: $(S3_FUZZ_TARGETS)
# fuzz-bstream: the backup stream reader (lib/bstream.c), seeds in
# tests/fuzz/corpus/bstream/ (made by tests/fuzz/bstream-seeds.py), dictionary
# tests/fuzz/fuzz-bstream.dict.
BSTREAM_FUZZ_TARGETS = tests/fuzz/fuzz-bstream
if FUZZING
noinst_PROGRAMS += $(BSTREAM_FUZZ_TARGETS)
else
check_PROGRAMS += $(BSTREAM_FUZZ_TARGETS)
TESTS += tests/fuzz/bstream-corpus.sh
endif
tests_fuzz_fuzz_bstream_SOURCES = tests/fuzz/fuzz-bstream.c $(FUZZ_MAIN)
tests_fuzz_fuzz_bstream_CFLAGS = $(FUZZ_CFLAGS) $(ZSTD_CFLAGS)
tests_fuzz_fuzz_bstream_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINKER_FLAGS)
tests_fuzz_fuzz_bstream_LDADD = $(LIBCAIRN_LIBS)
FUZZ_ALL_TARGETS += $(BSTREAM_FUZZ_TARGETS)
EXTRA_DIST += tests/fuzz/bstream-corpus.sh tests/fuzz/bstream-seeds.py tests/fuzz/fuzz-bstream.dict \
	tests/fuzz/corpus/bstream
