/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reconnect delays for a camera that answers but whose stream keeps
 * failing: 1 s doubling to a 30 s cap, each multiplied by a random factor
 * in [0.8, 1.2] so that cameras behind one failed switch do not all
 * reconnect in the same instant. Plain data; main thread. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VIGIL_BACKOFF_FIRST_MS 1000
#define VIGIL_BACKOFF_CAP_MS   30000

typedef struct {
  guint failures;     /* consecutive failed runs since the last success */
} VigilBackoff;

/* The delay before the next attempt; counts one more failure. */
guint vigil_backoff_next_delay_ms (VigilBackoff *backoff, GRand *rand);
void  vigil_backoff_reset         (VigilBackoff *backoff);

G_END_DECLS
