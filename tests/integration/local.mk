include tests/integration/lib.mk
