/*
 * pgstatus.h: (stub; to be written)
 */
#pragma once
