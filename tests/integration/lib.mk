# Integration tests of lib/: interop of our JWS with an independent one.
LIB_INTEGRATION_TESTS = tests/integration/jws-interop.sh
TESTS += $(LIB_INTEGRATION_TESTS)
EXTRA_DIST += $(LIB_INTEGRATION_TESTS) tests/integration/jws-interop.py
