# controller/: cairn-controller (libmicrohttpd + GnuTLS, jansson, SQLite).
sbin_PROGRAMS += controller/cairn-controller

# Everything but main.c, so unit tests and fuzz targets link the same code.
CONTROLLER_SOURCES = \
	controller/config.c controller/config.h \
	controller/store.c controller/store.h \
	controller/keys.c controller/keys.h \
	controller/ratelimit.c controller/ratelimit.h \
	controller/userdata.c controller/userdata.h \
	controller/metrics.c controller/metrics.h \
	controller/http.c controller/http.h \
	controller/longpoll.c controller/longpoll.h \
	controller/runner.c controller/runner.h \
	controller/api.c controller/api.h \
	controller/enroll.c controller/enroll.h \
	controller/gateway.c controller/gateway.h \
	controller/scram.c controller/scram.h \
	controller/secrets.c controller/secrets.h \
	controller/backup.c controller/backup.h \
	controller/provision.c controller/provision.h \
	controller/plan-pg.c controller/plan-pg.h \
	controller/operations.c controller/operations.h \
	controller/health.c controller/health.h \
	controller/api-datastores.c controller/api-datastores.h \
	controller/api-backups.c controller/api-backups.h \
	controller/controller.c controller/controller.h
CONTROLLER_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) $(GNUTLS_CFLAGS) $(JANSSON_CFLAGS) \
	$(SQLITE_CFLAGS) $(OPENSSL_CFLAGS) $(SYSTEMD_CFLAGS) $(CURL_CFLAGS) -pthread
CONTROLLER_LIBS = $(LIBCAIRN_LIBS) $(MHD_LIBS) $(GNUTLS_LIBS) $(SQLITE_LIBS) -lm -lpthread

noinst_LIBRARIES += controller/libcontroller.a
controller_libcontroller_a_SOURCES = $(CONTROLLER_SOURCES)
controller_libcontroller_a_CFLAGS = $(CONTROLLER_CFLAGS)

controller_cairn_controller_SOURCES = controller/main.c
controller_cairn_controller_CFLAGS = $(CONTROLLER_CFLAGS)
controller_cairn_controller_LDADD = controller/libcontroller.a $(CONTROLLER_LIBS)

