# Unit tests (cmocka), one file per module; each part keeps its own list.
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(OPENSSL_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) $(SQLITE_CFLAGS)
include tests/unit/lib.mk
include tests/unit/controller.mk
include tests/unit/agent.mk
