/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilHealth watches every camera's recording and reports to VigilAlerts,
 * once a second and on every event, the conditions a monitoring room
 * checks before a shift (subject "camera NAME"):
 *   offline            no video for offline_seconds (the camera is not recording)
 *   reconnect-storm    more than reconnects_per_hour runs started in the last hour
 *   recording-stalled  recording, but no segment completed for stalled_seconds,
 *                      by default max(2 x segment length + 30 s, 120 s)
 *   low-frame-rate,    the newest segment's frame rate or bitrate is below
 *   low-bitrate        low_rate_fraction of this camera's own recent norm
 *   write-error        a run ended on a write failure (ENOSPC, EIO), or a
 *                      segment did not close (its fsync failed, or it was cut
 *                      off at the end of a run); critical, until a segment
 *                      completes again
 *   video-missing      a run ended because its video stopped while its audio
 *                      kept coming (the camera is there, its picture is not);
 *                      critical, until a segment completes again; "offline"
 *                      is not raised for it meanwhile
 *   clock-drift        the camera's clock, from its RTCP sender reports, is
 *                      more than clock_drift_seconds off the host's
 *   auth-failed        the camera refused the login (RTSP 401 or 403, ONVIF
 *                      NotAuthorized); critical, naming the user (never the
 *                      password), until a login succeeds; "offline" is not
 *                      raised for it meanwhile
 *   camera-busy        the camera answered 503 or 454 (its session or
 *                      connection limit); critical, naming the status, the
 *                      same way
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
  guint    stalled_seconds;       /* 0 for vigil_health_stall_seconds (segment_seconds) */
  guint    clock_drift_seconds;   /* default 5 */
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
