# Benchmarks.  They are built with everything else (noinst) so that they keep
# compiling, but they are not tests: `make check` does not run them.  Run
# `make bench` (or tests/bench/run-dispatch.sh from the build directory);
# docs/bench.md explains what they measure and records figures.
noinst_PROGRAMS += tests/bench/bench-dispatch
tests_bench_bench_dispatch_SOURCES = tests/bench/bench-dispatch.c
tests_bench_bench_dispatch_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS) \
	$(OPENSSL_CFLAGS) $(SQLITE_CFLAGS)
tests_bench_bench_dispatch_LDADD = $(LIBCAIRN_LIBS) $(CURL_LIBS) -lm
EXTRA_DIST += tests/bench/run-dispatch.sh tests/bench/run-create.sh tests/bench/run-idle.sh

# `make bench` runs the dispatch benchmark against the controller built here.
# `make bench BENCH_AGENTS="1000 5000 10000"` picks the agent counts.
BENCH_AGENTS = 1000 5000
# Then the datastore benchmarks (root, PostgreSQL 15, Patroni, etcd; they
# print SKIP and are passed over when something is missing):
# `make bench-create` (create → ready, 1 and 3 nodes) and `make bench-idle`
# (idle agent next to a Patroni member) run one of them alone.
.PHONY: bench bench-dispatch-run bench-create bench-idle
bench: bench-dispatch-run bench-create bench-idle
bench-dispatch-run: tests/bench/bench-dispatch controller/cairn-controller
	top_builddir='$(abs_top_builddir)' bash $(abs_top_srcdir)/tests/bench/run-dispatch.sh $(BENCH_AGENTS)
BENCH_DS_DEPS = controller/cairn-controller node-agent/cairn-agent cli/cairnctl
bench-create: $(BENCH_DS_DEPS)
	top_builddir='$(abs_top_builddir)' top_srcdir='$(abs_top_srcdir)' \
		bash $(abs_top_srcdir)/tests/bench/run-create.sh || test $$? = 77
bench-idle: $(BENCH_DS_DEPS)
	top_builddir='$(abs_top_builddir)' top_srcdir='$(abs_top_srcdir)' \
		bash $(abs_top_srcdir)/tests/bench/run-idle.sh || test $$? = 77

# The backup stream format (lib/bstream.c): `make bench-bstream` prints
# write/read MiB/s at zstd levels 1/3/6 beside the zstd command, and the
# writer's peak RSS over 1 GiB (figures in docs/backup-format.md).  Build
# without --enable-sanitizers for meaningful numbers.
noinst_PROGRAMS += tests/bench/bstream-bench
tests_bench_bstream_bench_SOURCES = tests/bench/bstream-bench.c
tests_bench_bstream_bench_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(JANSSON_CFLAGS) \
	$(CURL_CFLAGS) $(SQLITE_CFLAGS) $(ZSTD_CFLAGS)
tests_bench_bstream_bench_LDADD = $(LIBCAIRN_LIBS)
EXTRA_DIST += tests/bench/run-bstream.sh
.PHONY: bench-bstream
bench-bstream: tests/bench/bstream-bench
	top_builddir='$(abs_top_builddir)' bash $(abs_top_srcdir)/tests/bench/run-bstream.sh || test $$? = 77
EXTRA_DIST += tests/bench/s3-throughput.sh
