# Test tools: built with the project (noinst) so that integration tests
# and people can use them after a plain `make`.
noinst_PROGRAMS += tests/tools/cairn-jwstool
tests_tools_cairn_jwstool_SOURCES = tests/tools/cairn-jwstool.c
tests_tools_cairn_jwstool_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(JANSSON_CFLAGS)
tests_tools_cairn_jwstool_LDADD = $(LIBCAIRN_LIBS)

noinst_PROGRAMS += tests/tools/cairn-exectool
tests_tools_cairn_exectool_SOURCES = tests/tools/cairn-exectool.c
tests_tools_cairn_exectool_CFLAGS = $(AGENT_CFLAGS) -I$(top_srcdir)/node-agent
tests_tools_cairn_exectool_LDADD = $(AGENT_LIBS)

noinst_PROGRAMS += tests/tools/s3-tool
tests_tools_s3_tool_SOURCES = tests/tools/s3-tool.c
tests_tools_s3_tool_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) $(EXPAT_CFLAGS)
tests_tools_s3_tool_LDADD = $(LIBCAIRN_LIBS)
EXTRA_DIST += tests/tools/s3rver.js
