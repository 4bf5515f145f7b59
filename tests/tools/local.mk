# Test tools: built with the project (noinst) so that integration tests
# and people can use them after a plain `make`.
noinst_PROGRAMS += tests/tools/cairn-jwstool
tests_tools_cairn_jwstool_SOURCES = tests/tools/cairn-jwstool.c
tests_tools_cairn_jwstool_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(JANSSON_CFLAGS)
tests_tools_cairn_jwstool_LDADD = $(LIBCAIRN_LIBS)
