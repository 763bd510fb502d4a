/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilRunClock keeps a run's timeline continuous: it follows the media
 * clock, absorbs network jitter, corrects a drifting camera slowly and
 * never jumps when the host clock is stepped. */
#include "vigil-run-clock.h"

#define T0 (G_GINT64_CONSTANT (1795000000) * G_USEC_PER_SEC)

static void
test_run_clock_follows_media_time (void)
{
  VigilRunClock clock = { 0 };

  vigil_run_clock_anchor (&clock, 5 * GST_SECOND, T0);
  g_assert_cmpint (vigil_run_clock_to_wall (&clock, 5 * GST_SECOND), ==, T0);
  g_assert_cmpint (vigil_run_clock_to_wall (&clock, 65 * GST_SECOND), ==, T0 + 60 * G_USEC_PER_SEC);
}

static void
test_run_clock_never_jumps_on_host_step (void)
{
  VigilRunClock clock = { 0 };
  gint64 previous = T0;

  vigil_run_clock_anchor (&clock, 0, T0);
  /* Ten minutes of frames, once a second, while the host clock was
   * stepped back one hour after the first minute (NTP, or an operator). */
  for (guint s = 1; s <= 600; s++)
    {
      gint64 host = T0 + (gint64) s * G_USEC_PER_SEC - (s > 60 ? G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC : 0);
      gint64 wall;

      vigil_run_clock_observe (&clock, s * GST_SECOND, host);
      wall = vigil_run_clock_to_wall (&clock, s * GST_SECOND);
      /* Each second of media advances the timeline by 1 s ± 500 ppm. */
      g_assert_cmpint (wall - previous, >=, G_USEC_PER_SEC - 500);
      g_assert_cmpint (wall - previous, <=, G_USEC_PER_SEC + 500);
      previous = wall;
    }
}

static void
test_run_clock_slews_towards_a_drifting_camera (void)
{
  VigilRunClock clock = { 0 };
  gint64 wall, host = 0;

  vigil_run_clock_anchor (&clock, 0, T0);
  /* The camera's clock runs 100 ppm slow: its media seconds are 1.0001 s
   * of host time. After an hour the uncorrected timeline would be 360 ms
   * behind; the slew keeps it within a few ms. Arrivals jitter ±20 ms. */
  for (guint s = 1; s <= 3600; s++)
    {
      host = T0 + (gint64) s * (G_USEC_PER_SEC + 100) + ((s % 3) - 1) * 20000;
      vigil_run_clock_observe (&clock, s * GST_SECOND, host);
    }
  wall = vigil_run_clock_to_wall (&clock, 3600 * GST_SECOND);
  g_assert_cmpint (ABS (wall - (T0 + G_GINT64_CONSTANT (3600) * (G_USEC_PER_SEC + 100))), <, 25000);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pipelines/run-clock/follows-media-time", test_run_clock_follows_media_time);
  g_test_add_func ("/pipelines/run-clock/never-jumps-on-host-step", test_run_clock_never_jumps_on_host_step);
  g_test_add_func ("/pipelines/run-clock/slews-towards-a-drifting-camera", test_run_clock_slews_towards_a_drifting_camera);
  return g_test_run ();
}
