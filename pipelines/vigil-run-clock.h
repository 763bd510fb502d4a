/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The wall clock of one run: maps a stream's running time (ns) to UTC
 * (µs since the epoch). It is anchored once, at the run's first frame, to
 * the host's clock and then follows the media clock, slewed towards the
 * host by at most VIGIL_RUN_CLOCK_MAX_SLEW_PPM so that a camera clock
 * that drifts stays close to real time while a host clock step (NTP, an
 * operator's `date`) can never tear the timeline. docs/design/time.md
 * explains the choice. Plain data, no locking: the owner serialises. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/* 500 ppm: 0.5 ms per second of media, 1.8 s per hour. Faster than any
 * camera crystal drifts (tens of ppm), far slower than anything a viewer
 * of a timeline would notice as a jump. */
#define VIGIL_RUN_CLOCK_MAX_SLEW_PPM 500

typedef struct {
  gboolean      anchored;
  GstClockTime  anchor_rt;        /* running time of the first frame, ns */
  gint64        anchor_wall_us;   /* host wall clock when it arrived */
  gint64        correction_us;    /* slewed offset, added to the media-derived time */
  GstClockTime  last_observed_rt; /* running time of the last observation */
} VigilRunClock;

void   vigil_run_clock_anchor  (VigilRunClock *clock, GstClockTime running_time, gint64 host_wall_us);
/* Wall clock of @running_time; the clock must be anchored. */
gint64 vigil_run_clock_to_wall (const VigilRunClock *clock, GstClockTime running_time);
/* Tells the clock that a frame of @running_time arrived at host time
 * @host_wall_us; moves the correction towards the host, within the slew
 * limit for the media time elapsed since the previous observation. */
void   vigil_run_clock_observe (VigilRunClock *clock, GstClockTime running_time, gint64 host_wall_us);

G_END_DECLS
