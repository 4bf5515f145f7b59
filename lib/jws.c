/* jws.c: placeholder, implemented next. */
#include "jws.h"
