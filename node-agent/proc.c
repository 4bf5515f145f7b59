/*
 * proc.c: (stub; to be written)
 */
#include "macro.h"
