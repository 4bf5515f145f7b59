/*
 * exec-pkg.h: (stub; to be written)
 */
#pragma once
