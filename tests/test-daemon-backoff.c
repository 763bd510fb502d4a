/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A camera whose stream keeps failing is retried after 1, 2, 4 … s, never
 * more than 30 s (± jitter), and promptly again after a success. One that
 * refuses the login gets three quick attempts, then waits at least its
 * login wait (doubling to an hour); one that is busy waits at least its
 * busy wait (doubling to a quarter of an hour). */
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

#define MIN_MS (60 * 1000)

/* Three refused logins in a row, then never less than the login wait. */
static void
test_backoff_login_refused_waits_long_after_three (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  VigilBackoff backoff = { 0 };
  const guint login_wait_ms = 10 * MIN_MS;
  /* After refusal 1, 2: quick; 3: the wait; then doubling to the hour. */
  const guint expected_ms[] = { 1000, 2000, 10 * MIN_MS, 20 * MIN_MS, 40 * MIN_MS, 60 * MIN_MS, 60 * MIN_MS };

  for (guint round = 0; round < 50; round++)
    {
      vigil_backoff_reset (&backoff);
      for (guint i = 0; i < G_N_ELEMENTS (expected_ms); i++)
        {
          guint delay = vigil_backoff_next_login_delay_ms (&backoff, 1, login_wait_ms, rand);

          if (i < VIGIL_BACKOFF_QUICK_LOGINS - 1)
            g_assert_cmpuint (delay, >=, expected_ms[i] * 8 / 10);
          else
            /* Jitter lengthens a long wait, never shortens it. */
            g_assert_cmpuint (delay, >=, expected_ms[i]);
          g_assert_cmpuint (delay, <=, expected_ms[i] * 12 / 10);
        }
    }
  g_assert_cmpuint (backoff.refused_logins, ==, G_N_ELEMENTS (expected_ms));

  /* Only a success resets: the next refusal is quick again. */
  vigil_backoff_reset (&backoff);
  g_assert_cmpuint (vigil_backoff_next_login_delay_ms (&backoff, 1, login_wait_ms, rand), <=, 1200);
}

/* A client whose one attempt costs several logins (rtspsrc) waits long
 * after its first refused attempt. */
static void
test_backoff_login_attempt_costing_three (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (8);
  VigilBackoff backoff = { 0 };

  g_assert_cmpuint (vigil_backoff_next_login_delay_ms (&backoff, VIGIL_BACKOFF_QUICK_LOGINS, 10 * MIN_MS, rand),
                    >=, 10 * MIN_MS);
}

/* A short login wait (tests, or an operator's choice) is honoured, and a
 * long one is not capped below itself. */
static void
test_backoff_login_wait_configured (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (9);
  VigilBackoff backoff = { 0 };
  guint delay;

  vigil_backoff_next_login_delay_ms (&backoff, 1, 5000, rand);
  vigil_backoff_next_login_delay_ms (&backoff, 1, 5000, rand);
  delay = vigil_backoff_next_login_delay_ms (&backoff, 1, 5000, rand);
  g_assert_cmpuint (delay, >=, 5000);
  g_assert_cmpuint (delay, <=, 6000);
  delay = vigil_backoff_next_login_delay_ms (&backoff, 1, 5000, rand);
  g_assert_cmpuint (delay, >=, 10000);
  g_assert_cmpuint (delay, <=, 12000);

  vigil_backoff_reset (&backoff);
  for (guint i = 0; i < 10; i++)
    delay = vigil_backoff_next_login_delay_ms (&backoff, 1, 2 * 60 * MIN_MS, rand);
  g_assert_cmpuint (delay, >=, 2 * 60 * MIN_MS);
  g_assert_cmpuint (delay, <=, 2 * 60 * MIN_MS * 12 / 10);
}

/* Busy: never less than the busy wait, doubling to fifteen minutes; it
 * never touches the login count. */
static void
test_backoff_busy_waits_long (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (10);
  VigilBackoff backoff = { 0 };
  const guint expected_ms[] = { 1 * MIN_MS, 2 * MIN_MS, 4 * MIN_MS, 8 * MIN_MS, 15 * MIN_MS, 15 * MIN_MS };

  for (guint i = 0; i < G_N_ELEMENTS (expected_ms); i++)
    {
      guint delay = vigil_backoff_next_busy_delay_ms (&backoff, MIN_MS, rand);

      g_assert_cmpuint (delay, >=, expected_ms[i]);
      g_assert_cmpuint (delay, <=, expected_ms[i] * 12 / 10);
    }
  g_assert_cmpuint (backoff.refused_logins, ==, 0);
  /* A refused login after busy answers still gets its quick tries. */
  g_assert_cmpuint (vigil_backoff_next_login_delay_ms (&backoff, 1, 10 * MIN_MS, rand), <=, 1200);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/daemon/backoff/doubles-to-the-cap-with-jitter", test_backoff_doubles_to_the_cap_with_jitter);
  g_test_add_func ("/daemon/backoff/login-refused-waits-long-after-three",
                   test_backoff_login_refused_waits_long_after_three);
  g_test_add_func ("/daemon/backoff/login-attempt-costing-three", test_backoff_login_attempt_costing_three);
  g_test_add_func ("/daemon/backoff/login-wait-configured", test_backoff_login_wait_configured);
  g_test_add_func ("/daemon/backoff/busy-waits-long", test_backoff_busy_waits_long);
  return g_test_run ();
}
