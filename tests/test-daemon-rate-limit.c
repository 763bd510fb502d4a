/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One caller's flood is cut off after its burst and let through again at
 * the refill rate; other callers are not affected; idle time is not
 * banked beyond the burst. */
#include "vigil-rate-limit.h"

#define MS (G_GINT64_CONSTANT (1000))

static void
test_burst_then_refill (void)
{
  g_autoptr(VigilRateLimit) limit = vigil_rate_limit_new (3, 1000);
  gint64 now = 1000000 * MS;
  guint retry_ms = 0;

  for (guint i = 0; i < 3; i++)
    g_assert_true (vigil_rate_limit_take (limit, 1000, now, NULL));
  g_assert_false (vigil_rate_limit_take (limit, 1000, now, &retry_ms));
  g_assert_cmpuint (retry_ms, ==, 1000);
  /* Another caller has its own bucket. */
  g_assert_true (vigil_rate_limit_take (limit, 1001, now, NULL));

  g_assert_false (vigil_rate_limit_take (limit, 1000, now + 999 * MS, &retry_ms));
  g_assert_cmpuint (retry_ms, ==, 1);
  g_assert_true (vigil_rate_limit_take (limit, 1000, now + 1000 * MS, NULL));
  g_assert_false (vigil_rate_limit_take (limit, 1000, now + 1000 * MS, NULL));

  /* A long pause refills the burst, and no more. */
  now += 3600 * 1000 * MS;
  for (guint i = 0; i < 3; i++)
    g_assert_true (vigil_rate_limit_take (limit, 1000, now, NULL));
  g_assert_false (vigil_rate_limit_take (limit, 1000, now, NULL));
}

/* More callers than it remembers: those whose buckets are full are
 * forgotten, and a forgotten caller starts with a full bucket again. */
static void
test_many_callers (void)
{
  g_autoptr(VigilRateLimit) limit = vigil_rate_limit_new (2, 1000);
  gint64 now = 1000000 * MS;

  for (gint64 uid = 0; uid < 5000; uid++)
    g_assert_true (vigil_rate_limit_take (limit, uid, now + uid * 1000 * MS, NULL));
  g_assert_true (vigil_rate_limit_take (limit, 4999, now + 4999 * 1000 * MS, NULL));
  g_assert_false (vigil_rate_limit_take (limit, 4999, now + 4999 * 1000 * MS, NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/daemon/rate-limit/burst-then-refill", test_burst_then_refill);
  g_test_add_func ("/daemon/rate-limit/many-callers", test_many_callers);
  return g_test_run ();
}
