# lib/: code shared by the controller, the agent and the CLI (static, noinst).
noinst_LIBRARIES += lib/libcairn.a
lib_libcairn_a_SOURCES = \
	lib/macro.h \
	lib/protocol.c lib/protocol.h \
	lib/log.c lib/log.h \
	lib/fileio.c lib/fileio.h \
	lib/ini.c lib/ini.h \
	lib/util.c lib/util.h \
	lib/jws.c lib/jws.h \
	lib/job.c lib/job.h \
	lib/pki.c lib/pki.h \
	lib/aead.c lib/aead.h \
	lib/sigv4.c lib/sigv4.h \
	lib/s3xml.c lib/s3xml.h \
	lib/s3.c lib/s3.h \
	lib/bstream.c lib/bstream.h
lib_libcairn_a_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(JANSSON_CFLAGS) $(SYSTEMD_CFLAGS) $(CURL_CFLAGS) $(SQLITE_CFLAGS) $(EXPAT_CFLAGS) $(ZSTD_CFLAGS)
LIBCAIRN_LIBS = lib/libcairn.a $(OPENSSL_LIBS) $(JANSSON_LIBS) $(SYSTEMD_LIBS) $(EXPAT_LIBS) $(CURL_LIBS) $(ZSTD_LIBS)
