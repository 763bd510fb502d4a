/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilHealth: per-camera recording-health conditions for VigilAlerts. */
#include "vigil-health.h"

#include <string.h>

#include "vigil-camera.h"
#include "vigil-frame-health.h"
#include "vigil-recorder.h"
#include "vigil-rtsp-refusal.h"

#define TICK_S 1
#define HOUR_US (G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC)
/* Segments seen before a camera's own norm is trusted. */
#define NORM_MIN_SEGMENTS 3
/* Weight of the newest segment in the running norm. */
#define NORM_WEIGHT 0.2

typedef struct {
  VigilHealth  *health;           /* not a reference */
  VigilCamera  *camera;
  gchar        *subject;          /* "camera NAME" */
  GQueue        run_starts;       /* monotonic µs of each start of recording, oldest first */
  gint64        recording_since;  /* monotonic µs; 0 when not recording */
  gint64        last_segment;     /* monotonic µs of the newest completed segment */
  guint         n_segments;
  gdouble       norm_fps, norm_bps;
  gboolean      low_fps, low_bps;
  gchar        *rate_details;
  gchar        *write_error;      /* reason of the run that ended on a write failure, until a segment completes */
  gchar        *video_missing;    /* reason of the run that ended for want of video while audio flowed, the same */
  VigilCameraState refused;       /* LOGIN_REFUSED or BUSY since the camera last refused; DISABLED when it
                                   * did not, or a run since ended otherwise or recorded */
  gchar        *refusal;          /* what it refused, and what to do: alert details */
  gboolean      clock_known;
  gint64        clock_offset_us;  /* camera minus host, from the newest sender report */
} Watched;

struct _VigilHealth
{
  GObject              parent_instance;
  VigilAlerts         *alerts;
  GPtrArray           *watched;   /* Watched */
  VigilHealthSettings  settings;
  guint                tick_id;
};

G_DEFINE_FINAL_TYPE (VigilHealth, vigil_health, G_TYPE_OBJECT)

guint
vigil_health_stall_seconds (guint segment_seconds)
{
  return MAX (2 * segment_seconds + 30, 120);
}

static void
watched_free (Watched *watched)
{
  g_signal_handlers_disconnect_by_data (watched->camera, watched);
  g_object_unref (watched->camera);
  g_free (watched->subject);
  g_queue_clear (&watched->run_starts);
  g_free (watched->rate_details);
  g_free (watched->write_error);
  g_free (watched->video_missing);
  g_free (watched->refusal);
  g_free (watched);
}

static void
evaluate (Watched *watched)
{
  VigilHealth *self = watched->health;
  VigilCameraState state = vigil_camera_get_state (watched->camera);
  gint64 now = g_get_monotonic_time ();
  guint stall_s = self->settings.stalled_seconds > 0 ? self->settings.stalled_seconds
                                                     : vigil_health_stall_seconds (self->settings.segment_seconds);
  /* A camera whose audio still flows is reachable: that is video-missing;
   * one waiting for room on a full disk is a write-error. */
  /* A camera that refused the login, or is busy, answers: it is
   * auth-failed or camera-busy, also while it tries again. */
  gboolean offline = (state == VIGIL_CAMERA_STATE_CONNECTING || state == VIGIL_CAMERA_STATE_RECONNECTING
                      || state == VIGIL_CAMERA_STATE_OFFLINE)
                     && watched->video_missing == NULL && watched->refused == VIGIL_CAMERA_STATE_DISABLED
                     && !vigil_camera_is_waiting_for_space (watched->camera);
  gboolean drifting = watched->clock_known
                      && ABS (watched->clock_offset_us) > (gint64) self->settings.clock_drift_seconds * G_USEC_PER_SEC;
  gint64 progress_since = MAX (watched->recording_since, watched->last_segment);
  gboolean stalled = state == VIGIL_CAMERA_STATE_RECORDING && now - progress_since > stall_s * G_USEC_PER_SEC;
  g_autofree gchar *offline_details = NULL;
  g_autofree gchar *stall_details = NULL;
  g_autofree gchar *storm_details = NULL;
  g_autofree gchar *clock_details = NULL;

  if (state == VIGIL_CAMERA_STATE_STOPPED || state == VIGIL_CAMERA_STATE_DISABLED)
    return;
  while (watched->run_starts.length > 0 && now - *(gint64 *) g_queue_peek_head (&watched->run_starts) > HOUR_US)
    g_free (g_queue_pop_head (&watched->run_starts));

  offline_details = g_strdup_printf ("no video: camera %s", vigil_camera_state_to_string (state));
  vigil_alerts_report (self->alerts, "offline", watched->subject, VIGIL_ALERT_CRITICAL, offline,
                       self->settings.offline_seconds, offline_details);
  storm_details = g_strdup_printf ("%u reconnects in the last hour (more than %u)", watched->run_starts.length,
                                   self->settings.reconnects_per_hour);
  vigil_alerts_report (self->alerts, "reconnect-storm", watched->subject, VIGIL_ALERT_WARNING,
                       watched->run_starts.length > self->settings.reconnects_per_hour, 1, storm_details);
  stall_details = g_strdup_printf ("video arrives but no segment completed for %u s", stall_s);
  vigil_alerts_report (self->alerts, "recording-stalled", watched->subject, VIGIL_ALERT_CRITICAL, stalled, 1,
                       stall_details);
  vigil_alerts_report (self->alerts, "low-frame-rate", watched->subject, VIGIL_ALERT_WARNING, watched->low_fps, 1,
                       watched->rate_details);
  vigil_alerts_report (self->alerts, "low-bitrate", watched->subject, VIGIL_ALERT_WARNING, watched->low_bps, 1,
                       watched->rate_details);
  vigil_alerts_report (self->alerts, "write-error", watched->subject, VIGIL_ALERT_CRITICAL,
                       watched->write_error != NULL, 1, watched->write_error);
  vigil_alerts_report (self->alerts, "video-missing", watched->subject, VIGIL_ALERT_CRITICAL,
                       watched->video_missing != NULL, 0, watched->video_missing);
  vigil_alerts_report (self->alerts, "auth-failed", watched->subject, VIGIL_ALERT_CRITICAL,
                       watched->refused == VIGIL_CAMERA_STATE_LOGIN_REFUSED, 1, watched->refusal);
  vigil_alerts_report (self->alerts, "camera-busy", watched->subject, VIGIL_ALERT_CRITICAL,
                       watched->refused == VIGIL_CAMERA_STATE_BUSY, 1, watched->refusal);
  clock_details = g_strdup_printf ("camera clock %+.1f s off the host's (more than %u s)",
                                   watched->clock_offset_us / 1e6, self->settings.clock_drift_seconds);
  vigil_alerts_report (self->alerts, "clock-drift", watched->subject, VIGIL_ALERT_WARNING, drifting, 1,
                       clock_details);
}

static void
clear_refusal (Watched *watched)
{
  watched->refused = VIGIL_CAMERA_STATE_DISABLED;
  g_clear_pointer (&watched->refusal, g_free);
}

static void
on_state_changed (VigilCamera *camera, VigilCameraState state, Watched *watched)
{
  if (state == VIGIL_CAMERA_STATE_LOGIN_REFUSED || state == VIGIL_CAMERA_STATE_BUSY)
    {
      const gchar *name = vigil_camera_get_name (camera);

      watched->refused = state;
      g_free (watched->refusal);
      /* The time of the next attempt changes with each; the details stay
       * what they were when raised, so they say how to try now. */
      watched->refusal = g_strdup_printf ("%s; vigild waits before trying again (vigilctl camera retry %s "
                                          "tries now)", vigil_camera_get_wait_reason (camera), name);
    }
  else if (state == VIGIL_CAMERA_STATE_OFFLINE)
    clear_refusal (watched);   /* not answering at all now */
  if (state == VIGIL_CAMERA_STATE_RECORDING)
    {
      /* The first successful login. */
      clear_refusal (watched);
      gint64 now = g_get_monotonic_time ();

      watched->recording_since = now;
      g_queue_push_tail (&watched->run_starts, g_memdup2 (&now, sizeof now));
    }
  else
    watched->recording_since = 0;
  evaluate (watched);
}

static void
on_segment_completed (VigilCamera *camera, const gchar *path, Watched *watched)
{
  const VigilSegment *segment = vigil_camera_get_last_segment (camera);
  gdouble seconds, fps, bps;
  gdouble fraction = watched->health->settings.low_rate_fraction;

  watched->last_segment = g_get_monotonic_time ();
  g_clear_pointer (&watched->write_error, g_free);
  g_clear_pointer (&watched->video_missing, g_free);
  if (segment == NULL || segment->media_duration_ns <= 0)
    return;
  seconds = segment->media_duration_ns / 1e9;
  fps = segment->frames / seconds;
  bps = segment->size_bytes * 8 / seconds;
  /* Judged against this camera's own recent segments: a 2 fps camera is
   * normal for itself, a 25 fps camera dropping to 5 is not. */
  if (watched->n_segments >= NORM_MIN_SEGMENTS)
    {
      watched->low_fps = fps < fraction * watched->norm_fps;
      watched->low_bps = bps < fraction * watched->norm_bps;
      g_free (watched->rate_details);
      watched->rate_details = g_strdup_printf ("%.1f fps and %.0f kbit/s, against a norm of %.1f fps and %.0f kbit/s",
                                               fps, bps / 1000, watched->norm_fps, watched->norm_bps / 1000);
    }
  /* A segment that is itself low does not pull the norm down with it. */
  if (watched->n_segments == 0)
    {
      watched->norm_fps = fps;
      watched->norm_bps = bps;
    }
  else if (!watched->low_fps && !watched->low_bps)
    {
      watched->norm_fps += NORM_WEIGHT * (fps - watched->norm_fps);
      watched->norm_bps += NORM_WEIGHT * (bps - watched->norm_bps);
    }
  watched->n_segments++;
  evaluate (watched);
}

static gboolean
is_write_failure (const gchar *reason)
{
  return g_str_has_prefix (reason, VIGIL_RECORDER_DISK_FULL) || strstr (reason, "No space left") != NULL || strstr (reason, "Input/output error") != NULL
         || strstr (reason, "write") != NULL || strstr (reason, "Write") != NULL;
}

static void
on_run_ended (VigilCamera *camera, const gchar *reason, Watched *watched)
{
  /* Each run says afresh whether the video was missing: one that fails to
   * connect at all means the camera is gone, which is "offline". */
  g_clear_pointer (&watched->video_missing, g_free);
  /* A run that failed otherwise (the camera gone now) is no refusal; the
   * camera's state says whether this one was. */
  if (vigil_rtsp_refusal_parse (reason, NULL) == VIGIL_RTSP_REFUSAL_NONE)
    clear_refusal (watched);
  if (g_str_has_prefix (reason, VIGIL_RECORDER_VIDEO_MISSING))
    watched->video_missing = g_strdup (reason);
  else if (is_write_failure (reason))
    {
      g_free (watched->write_error);
      watched->write_error = g_strdup (reason);
    }
  evaluate (watched);
}

/* A segment that did not close (its fsync failed, or it was cut off at the
 * end of a run) is a write failure of the recording, until one completes. */
static void
on_segment_failed (VigilCamera *camera, const gchar *path, const gchar *reason, Watched *watched)
{
  g_free (watched->write_error);
  watched->write_error = g_strdup_printf ("segment %s did not close: %s", path, reason);
  evaluate (watched);
}

/* Picture verdicts become alerts of the same names. The frame itself
 * already took a few samples to judge (frozen needs several unchanged in
 * a row), so the raise delay is the configured default. */
static const struct {
  VigilFrameVerdict  verdict;
  const gchar       *kind;
  VigilAlertSeverity severity;
} picture_alerts[] = {
  { VIGIL_FRAME_VERDICT_BLACK, "black", VIGIL_ALERT_CRITICAL },
  { VIGIL_FRAME_VERDICT_WHITE, "white", VIGIL_ALERT_CRITICAL },
  { VIGIL_FRAME_VERDICT_FROZEN, "frozen", VIGIL_ALERT_CRITICAL },
  { VIGIL_FRAME_VERDICT_BLURRED, "blurred", VIGIL_ALERT_WARNING },
  { VIGIL_FRAME_VERDICT_COVERED, "covered", VIGIL_ALERT_CRITICAL },
  { VIGIL_FRAME_VERDICT_MOVED, "moved", VIGIL_ALERT_CRITICAL },
};

static void
on_camera_clock (VigilCamera *camera, gint64 offset_us, Watched *watched)
{
  watched->clock_known = TRUE;
  watched->clock_offset_us = offset_us;
}

static void
on_frame_health (VigilCamera *camera, const VigilFrameSample *sample, Watched *watched)
{
  g_autofree gchar *details = g_strdup_printf ("mean luma %.0f, contrast %.1f, sharpness %.2f of normal, "
                                               "%.0f %% one colour, scene difference %.2f, "
                                               "%.0f %% of the picture repeated exactly, %u samples unchanged",
                                               sample->mean_luma, sample->contrast, sample->relative_sharpness,
                                               100 * sample->uniform_fraction, sample->scene_difference,
                                               100 * MAX (sample->identical_fraction, 0), sample->unchanged_samples);

  for (guint i = 0; i < G_N_ELEMENTS (picture_alerts); i++)
    vigil_alerts_report (watched->health->alerts, picture_alerts[i].kind, watched->subject,
                         picture_alerts[i].severity, (sample->verdicts & picture_alerts[i].verdict) != 0, 0,
                         details);
}

static gboolean
on_tick (gpointer user_data)
{
  VigilHealth *self = user_data;

  for (guint i = 0; i < self->watched->len; i++)
    evaluate (self->watched->pdata[i]);
  return G_SOURCE_CONTINUE;
}

static void
vigil_health_dispose (GObject *object)
{
  VigilHealth *self = VIGIL_HEALTH (object);

  g_clear_handle_id (&self->tick_id, g_source_remove);
  g_clear_pointer (&self->watched, g_ptr_array_unref);
  g_clear_object (&self->alerts);
  G_OBJECT_CLASS (vigil_health_parent_class)->dispose (object);
}

static void
vigil_health_class_init (VigilHealthClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = vigil_health_dispose;
}

static void
vigil_health_init (VigilHealth *self)
{
  self->watched = g_ptr_array_new_with_free_func ((GDestroyNotify) watched_free);
}

VigilHealth *
vigil_health_new (VigilAlerts *alerts, GPtrArray *cameras, const VigilHealthSettings *settings)
{
  VigilHealth *self = g_object_new (VIGIL_TYPE_HEALTH, NULL);

  self->alerts = g_object_ref (alerts);
  self->settings = *settings;
  for (guint i = 0; i < cameras->len; i++)
    {
      Watched *watched = g_new0 (Watched, 1);

      watched->health = self;
      watched->camera = g_object_ref (cameras->pdata[i]);
      watched->subject = g_strdup_printf ("camera %s", vigil_camera_get_name (watched->camera));
      watched->rate_details = g_strdup ("");
      g_queue_init (&watched->run_starts);
      g_signal_connect (watched->camera, "state-changed", G_CALLBACK (on_state_changed), watched);
      g_signal_connect (watched->camera, "segment-completed", G_CALLBACK (on_segment_completed), watched);
      g_signal_connect (watched->camera, "run-ended", G_CALLBACK (on_run_ended), watched);
      g_signal_connect (watched->camera, "frame-health", G_CALLBACK (on_frame_health), watched);
      g_signal_connect (watched->camera, "camera-clock", G_CALLBACK (on_camera_clock), watched);
      g_signal_connect (watched->camera, "segment-failed", G_CALLBACK (on_segment_failed), watched);
      g_ptr_array_add (self->watched, watched);
    }
  self->tick_id = g_timeout_add_seconds (TICK_S, on_tick, self);
  return self;
}
