/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilRunClock: media time to wall clock, anchored once, slewed after. */
#include "vigil-run-clock.h"

void
vigil_run_clock_anchor (VigilRunClock *clock, GstClockTime running_time, gint64 host_wall_us)
{
  g_return_if_fail (GST_CLOCK_TIME_IS_VALID (running_time));
  clock->anchored = TRUE;
  clock->anchor_rt = running_time;
  clock->anchor_wall_us = host_wall_us;
  clock->correction_us = 0;
  clock->last_observed_rt = running_time;
}

gint64
vigil_run_clock_to_wall (const VigilRunClock *clock, GstClockTime running_time)
{
  GstClockTimeDiff media_ns;

  g_return_val_if_fail (clock->anchored, 0);
  media_ns = GST_CLOCK_DIFF (clock->anchor_rt, running_time);
  return clock->anchor_wall_us + media_ns / GST_USECOND + clock->correction_us;
}

void
vigil_run_clock_observe (VigilRunClock *clock, GstClockTime running_time, gint64 host_wall_us)
{
  GstClockTimeDiff elapsed_ns;
  gint64 error_us, max_step_us;

  g_return_if_fail (clock->anchored);
  elapsed_ns = GST_CLOCK_DIFF (clock->last_observed_rt, running_time);
  if (elapsed_ns <= 0)
    return;     /* media time went backwards or stood still: nothing to slew over */
  clock->last_observed_rt = running_time;

  /* Arrival times jitter with the network; the slew limit also acts as
   * the low-pass filter that keeps that jitter out of the timeline. */
  error_us = host_wall_us - vigil_run_clock_to_wall (clock, running_time);
  max_step_us = (elapsed_ns / GST_USECOND) * VIGIL_RUN_CLOCK_MAX_SLEW_PPM / 1000000;
  clock->correction_us += CLAMP (error_us, -max_step_us, max_step_us);
}
