# Fuzz targets.  With --enable-fuzzing they link libFuzzer; otherwise they are
# built with tests/fuzz/standalone.c, which replays the corpus files given on
# the command line, so that every target always compiles and its corpus runs
# under `make check`.
if FUZZING
FUZZ_LINKER_FLAGS = -fsanitize=fuzzer
FUZZ_MAIN =
else
FUZZ_LINKER_FLAGS =
FUZZ_MAIN = tests/fuzz/standalone.c
endif
FUZZ_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) $(SQLITE_CFLAGS)
include tests/fuzz/lib.mk
include tests/fuzz/controller.mk
