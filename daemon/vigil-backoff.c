/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilBackoff: capped exponential back-off with jitter, by cause. */
#include "vigil-backoff.h"

/* @first_ms doubled @doublings times, at most MAX (@cap_ms, @first_ms). */
static guint64
doubled (guint64 first_ms, guint doublings, guint64 cap_ms)
{
  guint64 delay_ms = first_ms;

  cap_ms = MAX (cap_ms, first_ms);
  for (guint i = 0; i < doublings && delay_ms < cap_ms; i++)
    delay_ms *= 2;
  return MIN (delay_ms, cap_ms);
}

guint
vigil_backoff_next_delay_ms (VigilBackoff *backoff, GRand *rand)
{
  guint64 delay_ms = doubled (VIGIL_BACKOFF_FIRST_MS, backoff->failures, VIGIL_BACKOFF_CAP_MS);

  backoff->failures++;
  return (guint) (delay_ms * g_rand_double_range (rand, 0.8, 1.2));
}

guint
vigil_backoff_next_login_delay_ms (VigilBackoff *backoff, guint logins, guint login_wait_ms, GRand *rand)
{
  backoff->failures++;
  backoff->refused_logins += MAX (logins, 1);
  if (backoff->refused_logins < VIGIL_BACKOFF_QUICK_LOGINS)
    return (guint) (doubled (VIGIL_BACKOFF_FIRST_MS, backoff->refused_logins - 1, VIGIL_BACKOFF_CAP_MS)
                    * g_rand_double_range (rand, 0.8, 1.2));
  /* Never shorter than the login wait: a camera's lock-out counts on it. */
  return (guint) (doubled (login_wait_ms, backoff->refused_logins - VIGIL_BACKOFF_QUICK_LOGINS,
                           VIGIL_BACKOFF_LOGIN_CAP_MS)
                  * g_rand_double_range (rand, 1.0, 1.2));
}

guint
vigil_backoff_next_busy_delay_ms (VigilBackoff *backoff, guint busy_wait_ms, GRand *rand)
{
  backoff->failures++;
  backoff->busy_answers++;
  return (guint) (doubled (busy_wait_ms, backoff->busy_answers - 1, VIGIL_BACKOFF_BUSY_CAP_MS)
                  * g_rand_double_range (rand, 1.0, 1.2));
}

void
vigil_backoff_reset (VigilBackoff *backoff)
{
  backoff->failures = 0;
  backoff->refused_logins = 0;
  backoff->busy_answers = 0;
}
