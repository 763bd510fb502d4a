/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilBackoff: capped exponential back-off with jitter. */
#include "vigil-backoff.h"

guint
vigil_backoff_next_delay_ms (VigilBackoff *backoff, GRand *rand)
{
  guint64 delay_ms = VIGIL_BACKOFF_FIRST_MS;

  for (guint i = 0; i < backoff->failures && delay_ms < VIGIL_BACKOFF_CAP_MS; i++)
    delay_ms *= 2;
  delay_ms = MIN (delay_ms, VIGIL_BACKOFF_CAP_MS);
  backoff->failures++;
  return (guint) (delay_ms * g_rand_double_range (rand, 0.8, 1.2));
}

void
vigil_backoff_reset (VigilBackoff *backoff)
{
  backoff->failures = 0;
}
