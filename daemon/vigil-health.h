/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilHealth watches every camera's recording and reports to VigilAlerts,
 * once a second and on every event, the conditions a monitoring room
 * checks before a shift (subject "camera NAME"):
 *   offline            no video for offline_seconds (the camera is not recording)
 *   reconnect-storm    more than reconnects_per_hour runs started in the last hour
 *   recording-stalled  recording, but no segment completed for
 *                      max(2 x segment length + 30 s, 120 s)
 *   low-frame-rate,    the newest segment's frame rate or bitrate is below
 *   low-bitrate        low_rate_fraction of this camera's own recent norm
 *   write-error        a run ended on a write failure (ENOSPC, EIO); critical,
 *                      until a segment completes again
 * Main thread only. */
#pragma once

#include <glib-object.h>

#include "vigil-alerts.h"

G_BEGIN_DECLS

typedef struct {
  guint    offline_seconds;       /* default 10 */
  guint    reconnects_per_hour;   /* default 10 */
  gdouble  low_rate_fraction;     /* default 0.5 */
  guint    segment_seconds;
} VigilHealthSettings;

/* Seconds without a completed segment after which a recording camera is
 * "stalled": max(2 x @segment_seconds + 30, 120). */
guint vigil_health_stall_seconds (guint segment_seconds);

#define VIGIL_TYPE_HEALTH (vigil_health_get_type ())
G_DECLARE_FINAL_TYPE (VigilHealth, vigil_health, VIGIL, HEALTH, GObject)

/* @cameras: element type VigilCamera, kept referenced. */
VigilHealth *vigil_health_new (VigilAlerts               *alerts,
                               GPtrArray                 *cameras,
                               const VigilHealthSettings *settings);

G_END_DECLS
