# Benchmarks.  They are built with everything else (noinst) so that they keep
# compiling, but they are not tests: `make check` does not run them.  Run
# `make bench` (or tests/bench/run-dispatch.sh from the build directory);
# docs/bench.md explains what they measure and records figures.
noinst_PROGRAMS += tests/bench/bench-dispatch
tests_bench_bench_dispatch_SOURCES = tests/bench/bench-dispatch.c
tests_bench_bench_dispatch_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS) \
	$(OPENSSL_CFLAGS) $(SQLITE_CFLAGS)
tests_bench_bench_dispatch_LDADD = $(LIBCAIRN_LIBS) $(CURL_LIBS) -lm
EXTRA_DIST += tests/bench/run-dispatch.sh

# `make bench` runs the dispatch benchmark against the controller built here.
# `make bench BENCH_AGENTS="1000 5000 10000"` picks the agent counts.
BENCH_AGENTS = 1000 5000
.PHONY: bench
bench: tests/bench/bench-dispatch controller/cairn-controller
	top_builddir='$(abs_top_builddir)' bash $(abs_top_srcdir)/tests/bench/run-dispatch.sh $(BENCH_AGENTS)
