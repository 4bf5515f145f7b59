/* aead.c: placeholder, implemented next. */
#include "aead.h"
