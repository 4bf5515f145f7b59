/*
 * exec-pg.h: (stub; to be written)
 */
#pragma once
