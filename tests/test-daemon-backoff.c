/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A camera whose stream keeps failing is retried after 1, 2, 4 … s, never
 * more than 30 s (± jitter), and promptly again after a success. */
#include "vigil-backoff.h"

static void
test_backoff_doubles_to_the_cap_with_jitter (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);
  VigilBackoff backoff = { 0 };
  const guint expected_ms[] = { 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000 };
  gboolean saw_jitter = FALSE;

  for (guint i = 0; i < G_N_ELEMENTS (expected_ms); i++)
    {
      guint delay = vigil_backoff_next_delay_ms (&backoff, rand);

      g_assert_cmpuint (delay, >=, expected_ms[i] * 8 / 10);
      g_assert_cmpuint (delay, <=, expected_ms[i] * 12 / 10);
      saw_jitter |= delay != expected_ms[i];
    }
  g_assert_true (saw_jitter);

  vigil_backoff_reset (&backoff);
  g_assert_cmpuint (vigil_backoff_next_delay_ms (&backoff, rand), <=, 1200);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/daemon/backoff/doubles-to-the-cap-with-jitter", test_backoff_doubles_to_the_cap_with_jitter);
  return g_test_run ();
}
