# cli/: cairnctl.  Everything but main.c is in a static library so that the
# unit tests link the same objects.
noinst_LIBRARIES += cli/libctl.a
cli_libctl_a_SOURCES = \
	cli/options.c cli/options.h \
	cli/client.c cli/client.h \
	cli/output.c cli/output.h \
	cli/cmd-nodes.c cli/cmd-nodes.h \
	cli/cmd-jobs.c cli/cmd-jobs.h
CTL_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) $(SQLITE_CFLAGS)
cli_libctl_a_CFLAGS = $(CTL_CFLAGS)
CTL_LIBS = cli/libctl.a $(LIBCAIRN_LIBS) $(CURL_LIBS)

bin_PROGRAMS += cli/cairnctl
cli_cairnctl_SOURCES = cli/main.c
cli_cairnctl_CFLAGS = $(CTL_CFLAGS)
cli_cairnctl_LDADD = $(CTL_LIBS)
