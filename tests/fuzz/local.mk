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
EXTRA_DIST += tests/fuzz/corpus
FUZZ_ALL_TARGETS += $(LIB_FUZZ_TARGETS) $(CONTROLLER_FUZZ_TARGETS)
fuzz-targets: $(FUZZ_ALL_TARGETS)
.PHONY: fuzz-targets
