/*
 * exec-exporter.h: (stub; to be written)
 */
#pragma once
