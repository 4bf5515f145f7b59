# Unit tests of lib/, one program per module (tests/unit/test-<module>.c).
LIB_UNIT_TESTS = \
	tests/unit/test-util \
	tests/unit/test-fileio \
	tests/unit/test-log \
	tests/unit/test-ini \
	tests/unit/test-jws \
	tests/unit/test-job \
	tests/unit/test-pki \
	tests/unit/test-aead \
	tests/unit/test-sigv4 \
	tests/unit/test-s3xml \
	tests/unit/test-bstream
check_PROGRAMS += $(LIB_UNIT_TESTS)
TESTS += $(LIB_UNIT_TESTS)

tests_unit_test_util_SOURCES = tests/unit/test-util.c
tests_unit_test_util_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_util_LDADD = $(LIBCAIRN_LIBS) $(CMOCKA_LIBS)

tests_unit_test_fileio_SOURCES = tests/unit/test-fileio.c
tests_unit_test_fileio_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_fileio_LDADD = $(LIBCAIRN_LIBS) $(CMOCKA_LIBS)

tests_unit_test_log_SOURCES = tests/unit/test-log.c
tests_unit_test_log_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_log_LDADD = $(LIBCAIRN_LIBS) $(CMOCKA_LIBS)

tests_unit_test_ini_SOURCES = tests/unit/test-ini.c
tests_unit_test_ini_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ini_LDADD = $(LIBCAIRN_LIBS) $(CMOCKA_LIBS)

tests_unit_test_jws_SOURCES = tests/unit/test-jws.c
tests_unit_test_jws_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_jws_LDADD = $(LIBCAIRN_LIBS) $(CMOCKA_LIBS)

tests_unit_test_job_SOURCES = tests/unit/test-job.c
tests_unit_test_job_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_job_LDADD = $(LIBCAIRN_LIBS) $(CMOCKA_LIBS)

tests_unit_test_pki_SOURCES = tests/unit/test-pki.c
tests_unit_test_pki_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_pki_LDADD = $(LIBCAIRN_LIBS) $(CMOCKA_LIBS)

tests_unit_test_aead_SOURCES = tests/unit/test-aead.c
tests_unit_test_aead_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_aead_LDADD = $(LIBCAIRN_LIBS) $(CMOCKA_LIBS)

tests_unit_test_sigv4_SOURCES = tests/unit/test-sigv4.c
tests_unit_test_sigv4_CFLAGS = $(UNIT_CFLAGS) -DSIGV4_DATA_DIR='"$(abs_top_srcdir)/tests/unit/data/sigv4"'
tests_unit_test_sigv4_LDADD = $(LIBCAIRN_LIBS) $(CMOCKA_LIBS)

tests_unit_test_s3xml_SOURCES = tests/unit/test-s3xml.c
tests_unit_test_s3xml_CFLAGS = $(UNIT_CFLAGS) $(EXPAT_CFLAGS)
tests_unit_test_s3xml_LDADD = $(LIBCAIRN_LIBS) $(CMOCKA_LIBS)
EXTRA_DIST += tests/unit/data/sigv4

tests_unit_test_bstream_SOURCES = tests/unit/test-bstream.c
tests_unit_test_bstream_CFLAGS = $(UNIT_CFLAGS) $(ZSTD_CFLAGS)
tests_unit_test_bstream_LDADD = $(LIBCAIRN_LIBS) $(CMOCKA_LIBS)
