/*
 * api-datastores.h: (stub; to be written)
 */
#pragma once
