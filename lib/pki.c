/* pki.c: placeholder, implemented next. */
#include "pki.h"
