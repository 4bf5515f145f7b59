/* job.c: placeholder, implemented next. */
#include "job.h"
