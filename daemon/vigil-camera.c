/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilCamera: recorder supervision, reconnect policy, cataloging. */
#include "vigil-camera.h"

#include <gio/gio.h>
#include <string.h>

#include "vigil-backoff.h"
#include "vigil-recorder.h"
#include "vigil-rtsp-refusal.h"
#include "vigil-salvage.h"
#include "vigil-text.h"

#define REACHABILITY_TIMEOUT_S 2
/* After a PTZ move is due to end, the picture needs a moment to settle
 * before frame health learns the new view as the camera's reference. */
#define PTZ_SETTLE_MS 2000

typedef struct {            /* a segment the recorder has open */
  gint64  id;               /* its 'writing' row; 0 when the catalog could not add one */
  gint64  start_us;
} Writing;

typedef struct {            /* a run whose end the catalog refused for want of space */
  gint64  id;
  gint64  end_us;
  gchar  *reason;
} RunEnd;

static void
run_end_free (RunEnd *end)
{
  g_free (end->reason);
  g_free (end);
}

struct _VigilCamera
{
  GObject           parent_instance;

  gchar            *name;
  VigilLiveFeed    *live_feed;       /* the recording's frames, for live viewers */
  VigilLiveFeed    *live_sub_feed;   /* the sub-stream's, while frame health has it open */
  gchar            *host;            /* from the URL, for the reachability check */
  guint16           port;
  gboolean          enabled;
  gboolean          has_sub_url;     /* sub_url= given: it wins over an ONVIF sub-profile */
  gboolean          use_rtspsrc;     /* one rtspsrc start costs several logins */
  gchar            *user;            /* NULL for none */
  gchar            *password;        /* secret: the last one read; NULL for none */
  gchar            *password_file;   /* read again before every login; NULL for none */
  guint             login_wait_ms;   /* the long wait after refused logins */
  guint             busy_wait_ms;    /* the first wait after a busy answer */
  gchar            *wait_reason;     /* while LOGIN_REFUSED or BUSY; never a secret */
  gint64            next_attempt_us; /* wall clock, while LOGIN_REFUSED or BUSY */
  VigilStore       *store;
  VigilRecorder    *recorder;

  VigilCameraState  state;
  gboolean          stopping;
  VigilBackoff      backoff;
  GRand            *rand;
  guint             retry_id;        /* back-off or probe timer */
  GCancellable     *probe_cancellable;

  gint64            run_id;          /* catalog run of the active run; 0 before its first frame */
  gint64            run_start_us;    /* wall clock of the active run's first frame; 0 when none */
  VigilSegment     *last_segment;    /* newest completed segment, for status; NULL before the first */
  gboolean          run_completed_segment;
  GHashTable       *writing;         /* relative path → Writing */
  GPtrArray        *cut;             /* VigilSegment: this run's segments that never closed, for the salvage */
  VigilSalvage     *salvage;         /* rows and files a failed write left half done */
  gboolean          waiting_for_space;  /* the last run ended on a full disk; retry_id is the fallback */
  GPtrArray        *run_ends;        /* RunEnd, written once there is room */
  VigilOnvifLink   *onvif;           /* cameras configured by onvif=; NULL otherwise */
  GCancellable     *resolve_cancellable;  /* while the ONVIF set-up runs */
  guint             relearn_id;      /* timer: learn the view a PTZ move ends on */
  gboolean          clock_known;     /* a sender report arrived */
  gint64            clock_offset_us; /* camera clock minus host clock, from the newest one */
};

G_DEFINE_FINAL_TYPE (VigilCamera, vigil_camera, G_TYPE_OBJECT)

enum { SIGNAL_STATE_CHANGED, SIGNAL_SEGMENT_COMPLETED, SIGNAL_RUN_ENDED, SIGNAL_FRAME_HEALTH, SIGNAL_STOPPED,
       SIGNAL_CAMERA_CLOCK, SIGNAL_SEGMENT_FAILED, SIGNAL_ONVIF_RESOLVED, SIGNAL_DISK_FULL, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_ENUM_TYPE (VigilCameraState, vigil_camera_state,
                    G_DEFINE_ENUM_VALUE (VIGIL_CAMERA_STATE_DISABLED, "disabled"),
                    G_DEFINE_ENUM_VALUE (VIGIL_CAMERA_STATE_CONNECTING, "connecting"),
                    G_DEFINE_ENUM_VALUE (VIGIL_CAMERA_STATE_RECORDING, "recording"),
                    G_DEFINE_ENUM_VALUE (VIGIL_CAMERA_STATE_RECONNECTING, "reconnecting"),
                    G_DEFINE_ENUM_VALUE (VIGIL_CAMERA_STATE_OFFLINE, "offline"),
                    G_DEFINE_ENUM_VALUE (VIGIL_CAMERA_STATE_STOPPED, "stopped"),
                    G_DEFINE_ENUM_VALUE (VIGIL_CAMERA_STATE_LOGIN_REFUSED, "login-refused"),
                    G_DEFINE_ENUM_VALUE (VIGIL_CAMERA_STATE_BUSY, "busy"))

const gchar *
vigil_camera_state_to_string (VigilCameraState state)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (VIGIL_TYPE_CAMERA_STATE);
  const GEnumValue *value = g_enum_get_value (klass, state);

  g_return_val_if_fail (value != NULL, NULL);
  /* A static type's class, and so its nicks, outlive the reference. */
  return value->value_nick;
}

static void
set_state (VigilCamera *self, VigilCameraState state)
{
  if (self->state == state)
    return;
  g_info ("camera %s: %s → %s", self->name, vigil_camera_state_to_string (self->state),
          vigil_camera_state_to_string (state));
  self->state = state;
  g_signal_emit (self, signals[SIGNAL_STATE_CHANGED], 0, state);
}

static void start_run (VigilCamera *self);

/* A catalog write failed: a full disk is said at once, so the storage
 * watchdog can free space. */
static void
catalog_failed (VigilCamera *self, const GError *error)
{
  g_warning ("camera %s: %s", self->name, error->message);
  if (g_error_matches (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_FULL))
    g_signal_emit (self, signals[SIGNAL_DISK_FULL], 0);
}

static void
on_recorder_run_started (VigilRecorder *recorder, gint64 start_us, VigilCamera *self)
{
  g_autoptr(GError) error = NULL;

  self->run_start_us = start_us;
  self->run_id = vigil_store_start_run (self->store, self->name, start_us, &error);
  if (self->run_id == 0)
    catalog_failed (self, error);
  g_message ("camera %s: recording", self->name);
  set_state (self, VIGIL_CAMERA_STATE_RECORDING);
}

static void
on_recorder_segment_opened (VigilRecorder *recorder, const gchar *path, gint64 start_us, VigilCamera *self)
{
  g_autoptr(GError) error = NULL;
  Writing writing = { vigil_store_add_segment (self->store, self->name, self->run_id, path, start_us, &error),
                      start_us };

  /* Without a row the file is still written; its row is added when it
   * closes (or the salvage deals with it if it does not). */
  g_hash_table_insert (self->writing, g_strdup (path), g_memdup2 (&writing, sizeof writing));
  if (writing.id == 0)
    catalog_failed (self, error);
}

static void
segment_completed (VigilCamera *self, const VigilSegment *segment)
{
  g_debug ("camera %s: segment %s complete, %" G_GUINT64_FORMAT " bytes", self->name, segment->path,
           segment->size_bytes);
  self->run_completed_segment = TRUE;
  g_clear_pointer (&self->last_segment, vigil_segment_free);
  self->last_segment = vigil_segment_copy (segment);
  g_signal_emit (self, signals[SIGNAL_SEGMENT_COMPLETED], 0, segment->path);
}

static void
on_recorder_segment_closed (VigilRecorder *recorder, const VigilClosedSegment *closed, VigilCamera *self)
{
  g_autoptr(GError) error = NULL;
  Writing *writing = g_hash_table_lookup (self->writing, closed->path);
  VigilSegment segment = {
    .camera = self->name, .run_id = self->run_id, .path = closed->path, .start_us = closed->start_us,
    .end_us = closed->end_us, .media_duration_ns = closed->media_duration_ns, .size_bytes = closed->size_bytes,
    .frames = closed->frames, .keyframes = closed->keyframes, .codec = closed->codec,
    .state = VIGIL_SEGMENT_COMPLETE,
  };

  if (writing == NULL)
    return;   /* never opened in this run: cannot happen */
  segment.id = writing->id;
  if (segment.id != 0 && vigil_store_finish_segment (self->store, &segment, &error))
    segment_completed (self, &segment);
  else if (segment.id == 0 || g_error_matches (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_FULL))
    /* The file is durable; its row is written as soon as the catalog
     * can take it (at once, unless the disk is still full). */
    vigil_salvage_add_closed (self->salvage, &segment);
  else
    g_warning ("camera %s: %s", self->name, error->message);
  g_hash_table_remove (self->writing, closed->path);
}

static void
on_salvage_cataloged (VigilSalvage *salvage, const VigilSegment *segment, gboolean cut, VigilCamera *self)
{
  if (!cut && g_str_equal (segment->camera, self->name))
    segment_completed (self, segment);
}

static void
on_salvage_catalog_full (VigilSalvage *salvage, VigilCamera *self)
{
  g_signal_emit (self, signals[SIGNAL_DISK_FULL], 0);
}

static void
on_retry_timeout (gpointer user_data)
{
  VigilCamera *self = user_data;

  self->retry_id = 0;
  self->waiting_for_space = FALSE;
  start_run (self);
}

static void probe_reachability (VigilCamera *self);

static void
on_probe_timeout (gpointer user_data)
{
  VigilCamera *self = user_data;

  self->retry_id = 0;
  probe_reachability (self);
}

static void
on_probe_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(VigilCamera) self = user_data;
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;

  connection = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->probe_cancellable);
  if (self->stopping)
    return;

  if (connection != NULL)
    {
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      if (self->state == VIGIL_CAMERA_STATE_OFFLINE)
        {
          /* Back from an outage: reconnect now, not after a back-off. */
          g_message ("camera %s: answering again", self->name);
          vigil_backoff_reset (&self->backoff);
          start_run (self);
        }
      else
        {
          guint delay_ms = vigil_backoff_next_delay_ms (&self->backoff, self->rand);

          g_info ("camera %s: answers but its stream failed; retrying in %u ms", self->name, delay_ms);
          set_state (self, VIGIL_CAMERA_STATE_RECONNECTING);
          self->retry_id = g_timeout_add_once (delay_ms, on_retry_timeout, self);
        }
      return;
    }

  if (self->state != VIGIL_CAMERA_STATE_OFFLINE)
    g_message ("camera %s: offline (%s:%u: %s); checking every %u ms", self->name, self->host, self->port,
               error->message, VIGIL_CAMERA_PROBE_INTERVAL_MS);
  set_state (self, VIGIL_CAMERA_STATE_OFFLINE);
  self->retry_id = g_timeout_add_once (VIGIL_CAMERA_PROBE_INTERVAL_MS, on_probe_timeout, self);
}

/* A TCP connect to the camera's RTSP port: cheap, and enough to tell a
 * camera that is gone from one whose stream is failing. */
static void
probe_reachability (VigilCamera *self)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();

  g_socket_client_set_timeout (client, REACHABILITY_TIMEOUT_S);
  self->probe_cancellable = g_cancellable_new ();
  g_socket_client_connect_to_host_async (client, self->host, self->port, self->probe_cancellable,
                                         on_probe_connected, g_object_ref (self));
}

static void
on_recorder_frame_health (VigilRecorder *recorder, const VigilFrameSample *sample, VigilCamera *self)
{
  g_signal_emit (self, signals[SIGNAL_FRAME_HEALTH], 0, sample);
}

static void
on_recorder_camera_clock (VigilRecorder *recorder, gint64 offset_us, VigilCamera *self)
{
  self->clock_known = TRUE;
  self->clock_offset_us = offset_us;
  g_signal_emit (self, signals[SIGNAL_CAMERA_CLOCK], 0, offset_us);
}

static void
on_recorder_segment_failed (VigilRecorder *recorder, const gchar *path, const gchar *reason, VigilCamera *self)
{
  Writing *writing = g_hash_table_lookup (self->writing, path);

  g_signal_emit (self, signals[SIGNAL_SEGMENT_FAILED], 0, path, reason);
  /* Salvaged once the run is over and nothing writes the file any more. */
  if (writing != NULL)
    {
      VigilSegment cut = { .id = writing->id, .camera = self->name, .run_id = self->run_id, .path = (gchar *) path,
                           .start_us = writing->start_us };

      g_ptr_array_add (self->cut, vigil_segment_copy (&cut));
      g_hash_table_remove (self->writing, path);
    }
  if (g_str_has_prefix (reason, VIGIL_RECORDER_DISK_FULL))
    g_signal_emit (self, signals[SIGNAL_DISK_FULL], 0);
}

VigilOnvifLink *
vigil_camera_get_onvif_link (VigilCamera *self)
{
  g_return_val_if_fail (VIGIL_IS_CAMERA (self), NULL);
  return self->onvif;
}

static void
on_relearn_timeout (gpointer user_data)
{
  VigilCamera *self = user_data;
  VigilFrameHealth *health = vigil_recorder_get_frame_health (self->recorder);

  self->relearn_id = 0;
  if (health != NULL)
    vigil_frame_health_relearn_reference (health);
}

void
vigil_camera_note_ptz_move (VigilCamera *self, guint expected_ms)
{
  VigilFrameHealth *health;

  g_return_if_fail (VIGIL_IS_CAMERA (self));
  health = vigil_recorder_get_frame_health (self->recorder);
  if (health == NULL)
    return;
  /* Not "moved" while it turns, and afterwards the new view is the one
   * to keep: it is learned once the picture has settled. */
  vigil_frame_health_suppress_moved (health, g_get_real_time ()
                                                 + (gint64) (expected_ms + 2 * PTZ_SETTLE_MS) * G_TIME_SPAN_MILLISECOND);
  g_clear_handle_id (&self->relearn_id, g_source_remove);
  self->relearn_id = g_timeout_add_once (expected_ms + PTZ_SETTLE_MS, on_relearn_timeout, self);
}

gint64
vigil_camera_get_writing_since_us (VigilCamera *self)
{
  GHashTableIter iter;
  gpointer value;
  gint64 since_us = 0;

  g_return_val_if_fail (VIGIL_IS_CAMERA (self), 0);
  if (self->state != VIGIL_CAMERA_STATE_RECORDING)
    return 0;
  /* The open segments (one, or two while one closes): the earliest start. */
  g_hash_table_iter_init (&iter, self->writing);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      const Writing *writing = value;

      if (since_us == 0 || writing->start_us < since_us)
        since_us = writing->start_us;
    }
  return since_us;
}

gboolean
vigil_camera_get_latest_keyframe (VigilCamera *self, GstCaps **out_caps, GstBuffer **out_keyframe, gint64 *out_wall_us)
{
  g_return_val_if_fail (VIGIL_IS_CAMERA (self), FALSE);
  *out_caps = NULL;
  *out_keyframe = NULL;
  *out_wall_us = 0;
  if (self->state != VIGIL_CAMERA_STATE_RECORDING)
    return FALSE;
  return vigil_recorder_get_latest_keyframe (self->recorder, out_caps, out_keyframe, out_wall_us);
}

gboolean
vigil_camera_find_writing (VigilCamera *self, gint64 at_us, gchar **out_path, gint64 *out_start_us)
{
  GHashTableIter iter;
  gpointer key, value;
  const gchar *path = NULL;
  gint64 start_us = 0;

  g_return_val_if_fail (VIGIL_IS_CAMERA (self), FALSE);
  if (self->state != VIGIL_CAMERA_STATE_RECORDING)
    return FALSE;
  g_hash_table_iter_init (&iter, self->writing);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const Writing *writing = value;

      if (writing->start_us <= at_us && (path == NULL || writing->start_us > start_us))
        {
          path = key;
          start_us = writing->start_us;
        }
    }
  if (path == NULL)
    return FALSE;
  *out_path = g_strdup (path);
  *out_start_us = start_us;
  return TRUE;
}

VigilLiveFeed *
vigil_camera_get_live_feed (VigilCamera *self, gboolean sub_stream)
{
  g_return_val_if_fail (VIGIL_IS_CAMERA (self), NULL);
  return sub_stream ? self->live_sub_feed : self->live_feed;
}

gboolean
vigil_camera_close_segment_now (VigilCamera *self)
{
  g_return_val_if_fail (VIGIL_IS_CAMERA (self), FALSE);
  return self->state == VIGIL_CAMERA_STATE_RECORDING && vigil_recorder_close_segment_now (self->recorder);
}

gboolean
vigil_camera_get_clock_offset (VigilCamera *self, gint64 *out_offset_us)
{
  g_return_val_if_fail (VIGIL_IS_CAMERA (self), FALSE);
  if (out_offset_us != NULL)
    *out_offset_us = self->clock_offset_us;
  return self->clock_known;
}

/* The camera answered, and refused: not offline, and asking again soon
 * would make it worse (a lock-out; no session free). @answer says what
 * it answered, e.g. "401 Unauthorized"; @logins, how many failed logins
 * the attempt cost the camera. */
static void
wait_refused (VigilCamera *self, VigilRtspRefusal refusal, const gchar *answer, guint logins)
{
  guint delay_ms;

  g_clear_pointer (&self->wait_reason, g_free);
  if (refusal == VIGIL_RTSP_REFUSAL_LOGIN)
    {
      delay_ms = vigil_backoff_next_login_delay_ms (&self->backoff, logins, self->login_wait_ms, self->rand);
      self->wait_reason = g_strdup_printf ("login refused (%s) for user %s", answer,
                                           self->user != NULL ? self->user : "(none configured)");
    }
  else
    {
      delay_ms = vigil_backoff_next_busy_delay_ms (&self->backoff, self->busy_wait_ms, self->rand);
      self->wait_reason = g_strdup_printf ("busy: %s (the camera's session or connection limit)", answer);
    }
  self->next_attempt_us = g_get_real_time () + (gint64) delay_ms * 1000;
  g_message ("camera %s: %s; %u in a row, next attempt in %u s", self->name, self->wait_reason,
             refusal == VIGIL_RTSP_REFUSAL_LOGIN ? self->backoff.refused_logins : self->backoff.busy_answers,
             (delay_ms + 999) / 1000);
  set_state (self, refusal == VIGIL_RTSP_REFUSAL_LOGIN ? VIGIL_CAMERA_STATE_LOGIN_REFUSED
                                                       : VIGIL_CAMERA_STATE_BUSY);
  self->retry_id = g_timeout_add_once (delay_ms, on_retry_timeout, self);
}

static void
on_recorder_run_ended (VigilRecorder *recorder, const gchar *reason, gint64 end_us, VigilCamera *self)
{
  VigilRtspRefusal refusal;
  guint status = 0;
  g_autoptr(GError) error = NULL;

  end_us = end_us > 0 ? end_us : g_get_real_time ();
  if (self->run_id != 0 && !vigil_store_end_run (self->store, self->run_id, end_us, reason, &error))
    {
      if (g_error_matches (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_FULL))
        {
          /* The timeline's reason for the gap that follows must not be
           * lost to the very full disk it names. */
          RunEnd *pending = g_new0 (RunEnd, 1);

          pending->id = self->run_id;
          pending->end_us = end_us;
          pending->reason = g_strdup (reason);
          g_ptr_array_add (self->run_ends, pending);
        }
      catalog_failed (self, error);
    }
  if (self->run_id != 0 || !self->stopping)
    g_message ("camera %s: run ended: %s", self->name, reason);
  for (guint i = 0; i < self->cut->len; i++)
    {
      const VigilSegment *cut = self->cut->pdata[i];
      vigil_salvage_add_cut (self->salvage, self->name, cut->path, cut->start_us, cut->id, cut->run_id);
    }
  g_ptr_array_set_size (self->cut, 0);
  self->run_id = 0;
  self->run_start_us = 0;
  if (!self->stopping)
    g_signal_emit (self, signals[SIGNAL_RUN_ENDED], 0, reason);
  if (self->run_completed_segment)
    vigil_backoff_reset (&self->backoff);

  if (self->stopping)
    {
      set_state (self, VIGIL_CAMERA_STATE_STOPPED);
      g_signal_emit (self, signals[SIGNAL_STOPPED], 0);
      return;
    }
  if (g_str_has_prefix (reason, VIGIL_RECORDER_FORMAT_CHANGED))
    {
      /* Not a failure: the camera was reconfigured. */
      start_run (self);
      return;
    }
  if (g_str_has_prefix (reason, VIGIL_RECORDER_DISK_FULL))
    {
      /* Retrying now would only make empty files. The owner frees space
       * and calls vigil_camera_retry_now(); the timer is the fallback. */
      g_message ("camera %s: the disk is full; recording resumes as soon as there is room", self->name);
      self->waiting_for_space = TRUE;
      set_state (self, VIGIL_CAMERA_STATE_RECONNECTING);
      self->retry_id = g_timeout_add_once (VIGIL_BACKOFF_CAP_MS, on_retry_timeout, self);
      g_signal_emit (self, signals[SIGNAL_DISK_FULL], 0);
      return;
    }
  refusal = vigil_rtsp_refusal_parse (reason, &status);
  if (refusal != VIGIL_RTSP_REFUSAL_NONE)
    {
      g_autofree gchar *answer = vigil_rtsp_refusal_describe_status (status);

      /* One rtspsrc start answers several challenges (8 refused logins
       * measured against the simulated camera): it uses up the quick
       * tries at once. vigilrtspsrc's costs one. */
      wait_refused (self, refusal, answer, self->use_rtspsrc ? VIGIL_BACKOFF_QUICK_LOGINS : 1);
      return;
    }
  probe_reachability (self);
}

gboolean
vigil_camera_is_waiting_for_space (VigilCamera *self)
{
  g_return_val_if_fail (VIGIL_IS_CAMERA (self), FALSE);
  return self->waiting_for_space;
}

void
vigil_camera_retry_now (VigilCamera *self)
{
  g_return_if_fail (VIGIL_IS_CAMERA (self));
  while (self->run_ends->len > 0)
    {
      g_autoptr(GError) error = NULL;
      const RunEnd *pending = self->run_ends->pdata[0];

      if (!vigil_store_end_run (self->store, pending->id, pending->end_us, pending->reason, &error))
        {
          catalog_failed (self, error);
          if (g_error_matches (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_FULL))
            break;
        }
      g_ptr_array_remove_index (self->run_ends, 0);
    }
  vigil_salvage_retry (self->salvage);
  if (!self->waiting_for_space || self->stopping)
    return;
  g_clear_handle_id (&self->retry_id, g_source_remove);
  self->waiting_for_space = FALSE;
  g_message ("camera %s: there is room on the disk again", self->name);
  start_run (self);
}

gboolean
vigil_camera_try_now (VigilCamera *self)
{
  g_return_val_if_fail (VIGIL_IS_CAMERA (self), FALSE);
  /* Only a camera with a timer pending waits: one connecting, recording
   * or probing has its answer coming; one waiting for room would only
   * fail again. */
  if (self->stopping || !self->enabled || self->retry_id == 0 || self->waiting_for_space)
    return FALSE;
  g_clear_handle_id (&self->retry_id, g_source_remove);
  g_message ("camera %s: trying now, as asked", self->name);
  if (self->state == VIGIL_CAMERA_STATE_OFFLINE)
    probe_reachability (self);
  else
    start_run (self);
  return TRUE;
}

const gchar *
vigil_camera_get_wait_reason (VigilCamera *self)
{
  g_return_val_if_fail (VIGIL_IS_CAMERA (self), NULL);
  return self->wait_reason;
}

gint64
vigil_camera_get_next_attempt_us (VigilCamera *self)
{
  g_return_val_if_fail (VIGIL_IS_CAMERA (self), 0);
  return self->next_attempt_us;
}

static void
set_probe_address (VigilCamera *self, const gchar *url)
{
  g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  const gchar *scheme;

  if (uri == NULL || g_uri_get_host (uri) == NULL)
    return;
  scheme = g_uri_get_scheme (uri);
  g_free (self->host);
  self->host = g_strdup (g_uri_get_host (uri));
  self->port = g_uri_get_port (uri) > 0            ? g_uri_get_port (uri)
               : g_str_equal (scheme, "rtsps")     ? 322
               : g_str_equal (scheme, "http")      ? 80
               : g_str_equal (scheme, "https")     ? 443
                                                   : 554;
}

static void
on_onvif_resolved (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(VigilCamera) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *url = vigil_onvif_link_resolve_finish (VIGIL_ONVIF_LINK (source), result, &error);
  g_autofree gchar *shown_url = NULL;
  const VigilOnvifDeviceInfo *info;

  if (g_error_matches (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_CANCELLED)
      || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->resolve_cancellable);
  if (self->stopping)
    return;
  if (url == NULL)
    {
      gboolean gone = g_error_matches (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_UNREACHABLE)
                      || g_error_matches (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_TIMEOUT);

      if (g_error_matches (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_AUTHORIZED))
        {
          g_info ("camera %s: %s", self->name, error->message);
          /* Two refused requests each (measured): onvif/ asks again after
           * re-learning the clock, which NotAuthorized may be about. */
          wait_refused (self, VIGIL_RTSP_REFUSAL_LOGIN, "ONVIF NotAuthorized", 2);
        }
      else if (gone)
        {
          /* The probe finds it again and starts over at once. */
          if (self->state != VIGIL_CAMERA_STATE_OFFLINE)
            g_message ("camera %s: offline: %s; checking every %u ms", self->name, error->message,
                       VIGIL_CAMERA_PROBE_INTERVAL_MS);
          set_state (self, VIGIL_CAMERA_STATE_OFFLINE);
          self->retry_id = g_timeout_add_once (VIGIL_CAMERA_PROBE_INTERVAL_MS, on_probe_timeout, self);
        }
      else
        {
          guint delay_ms = vigil_backoff_next_delay_ms (&self->backoff, self->rand);

          g_warning ("camera %s: ONVIF set-up failed, retrying in %u ms: %s", self->name, delay_ms, error->message);
          set_state (self, VIGIL_CAMERA_STATE_RECONNECTING);
          self->retry_id = g_timeout_add_once (delay_ms, on_retry_timeout, self);
        }
      return;
    }
  info = vigil_onvif_link_get_device_info (self->onvif);
  /* Many cameras put user:password or ?password= in the URIs they return. */
  shown_url = vigil_text_redact_url (url);
  g_message ("camera %s: ONVIF %s %s (firmware %s), recording profile %s: %s", self->name,
             info != NULL && info->manufacturer ? info->manufacturer : "?",
             info != NULL && info->model ? info->model : "?",
             info != NULL && info->firmware_version ? info->firmware_version : "?",
             vigil_onvif_link_get_profile (self->onvif), shown_url);
  vigil_recorder_set_url (self->recorder, url);
  /* Frame health judges the smaller stream, unless sub_url= chose one. */
  if (!self->has_sub_url && vigil_recorder_get_frame_health (self->recorder) != NULL
      && vigil_onvif_link_get_sub_stream_url (self->onvif) != NULL)
    {
      g_autofree gchar *shown_sub_url = vigil_text_redact_url (vigil_onvif_link_get_sub_stream_url (self->onvif));

      g_message ("camera %s: frame health judges the sub-stream %s", self->name, shown_sub_url);
      vigil_recorder_set_health_url (self->recorder, vigil_onvif_link_get_sub_stream_url (self->onvif));
    }
  set_probe_address (self, url);
  g_signal_emit (self, signals[SIGNAL_ONVIF_RESOLVED], 0);
  start_run (self);
}

/* Before every login: the operator may have corrected the file since
 * the last one. A file that cannot be read now leaves the last password
 * in use. */
static void
reload_password (VigilCamera *self)
{
  g_autoptr(GError) error = NULL;
  gchar *password;

  if (self->password_file == NULL)
    return;
  password = vigil_config_read_password_file (self->password_file, &error);
  if (password == NULL)
    {
      g_warning ("camera %s: cannot read password_file %s: %s; using the password read before", self->name,
                 self->password_file, error->message);
      return;
    }
  if (self->password != NULL)
    memset (self->password, 0, strlen (self->password));
  g_free (self->password);
  self->password = password;
}

static void
start_run (VigilCamera *self)
{
  g_autoptr(GError) error = NULL;

  self->run_completed_segment = FALSE;
  g_clear_pointer (&self->wait_reason, g_free);
  self->next_attempt_us = 0;
  reload_password (self);
  if (self->onvif != NULL)
    vigil_onvif_link_set_password (self->onvif, self->password);
  set_state (self, VIGIL_CAMERA_STATE_CONNECTING);
  if (self->onvif != NULL && !vigil_onvif_link_is_resolved (self->onvif))
    {
      /* The stream's address comes from the camera; ask it first. */
      if (self->resolve_cancellable == NULL)
        {
          self->resolve_cancellable = g_cancellable_new ();
          vigil_onvif_link_resolve_async (self->onvif, self->resolve_cancellable, on_onvif_resolved,
                                          g_object_ref (self));
        }
      return;
    }
  vigil_recorder_set_credentials (self->recorder, self->user, self->password);
  if (!vigil_recorder_start (self->recorder, &error))
    {
      /* Missing elements do not fix themselves, but the daemon keeps
       * serving the other cameras; retry slowly. */
      g_warning ("camera %s: %s", self->name, error->message);
      set_state (self, VIGIL_CAMERA_STATE_RECONNECTING);
      self->retry_id = g_timeout_add_once (VIGIL_BACKOFF_CAP_MS, on_retry_timeout, self);
    }
}

void
vigil_camera_start (VigilCamera *self)
{
  g_return_if_fail (VIGIL_IS_CAMERA (self));
  if (!self->enabled || self->stopping || vigil_recorder_is_running (self->recorder))
    return;
  start_run (self);
}

void
vigil_camera_stop (VigilCamera *self)
{
  g_return_if_fail (VIGIL_IS_CAMERA (self));
  if (self->stopping)
    return;
  self->stopping = TRUE;
  g_clear_handle_id (&self->retry_id, g_source_remove);
  g_clear_handle_id (&self->relearn_id, g_source_remove);
  g_cancellable_cancel (self->resolve_cancellable);
  g_clear_object (&self->resolve_cancellable);
  g_cancellable_cancel (self->probe_cancellable);
  g_clear_object (&self->probe_cancellable);
  if (vigil_recorder_is_running (self->recorder))
    vigil_recorder_stop (self->recorder);    /* ::run-ended finishes the stop */
  else
    {
      set_state (self, VIGIL_CAMERA_STATE_STOPPED);
      g_signal_emit (self, signals[SIGNAL_STOPPED], 0);
    }
}

const gchar *
vigil_camera_get_name (VigilCamera *self)
{
  g_return_val_if_fail (VIGIL_IS_CAMERA (self), NULL);
  return self->name;
}

gint64
vigil_camera_get_run_start_us (VigilCamera *self)
{
  g_return_val_if_fail (VIGIL_IS_CAMERA (self), 0);
  return self->run_start_us;
}

const VigilSegment *
vigil_camera_get_last_segment (VigilCamera *self)
{
  g_return_val_if_fail (VIGIL_IS_CAMERA (self), NULL);
  return self->last_segment;
}

VigilCameraState
vigil_camera_get_state (VigilCamera *self)
{
  g_return_val_if_fail (VIGIL_IS_CAMERA (self), VIGIL_CAMERA_STATE_DISABLED);
  return self->state;
}

static void
vigil_camera_dispose (GObject *object)
{
  VigilCamera *self = VIGIL_CAMERA (object);

  g_clear_handle_id (&self->retry_id, g_source_remove);
  g_clear_handle_id (&self->relearn_id, g_source_remove);
  g_cancellable_cancel (self->probe_cancellable);
  g_clear_object (&self->probe_cancellable);
  g_cancellable_cancel (self->resolve_cancellable);
  g_clear_object (&self->resolve_cancellable);
  g_clear_object (&self->onvif);
  if (self->recorder != NULL)
    g_signal_handlers_disconnect_by_data (self->recorder, self);
  g_clear_object (&self->recorder);
  g_clear_object (&self->live_feed);
  g_clear_object (&self->live_sub_feed);
  if (self->salvage != NULL)
    g_signal_handlers_disconnect_by_data (self->salvage, self);
  g_clear_object (&self->salvage);
  g_clear_object (&self->store);
  G_OBJECT_CLASS (vigil_camera_parent_class)->dispose (object);
}

static void
vigil_camera_finalize (GObject *object)
{
  VigilCamera *self = VIGIL_CAMERA (object);

  g_free (self->name);
  g_free (self->host);
  g_free (self->user);
  if (self->password != NULL)
    memset (self->password, 0, strlen (self->password));
  g_free (self->password);
  g_free (self->password_file);
  g_free (self->wait_reason);
  g_clear_pointer (&self->rand, g_rand_free);
  g_clear_pointer (&self->writing, g_hash_table_unref);
  g_clear_pointer (&self->cut, g_ptr_array_unref);
  g_clear_pointer (&self->run_ends, g_ptr_array_unref);
  g_clear_pointer (&self->last_segment, vigil_segment_free);
  G_OBJECT_CLASS (vigil_camera_parent_class)->finalize (object);
}

static void
vigil_camera_class_init (VigilCameraClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = vigil_camera_dispose;
  object_class->finalize = vigil_camera_finalize;

  /* ::state-changed (VigilCameraState). */
  signals[SIGNAL_STATE_CHANGED] = g_signal_new ("state-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                0, NULL, NULL, NULL, G_TYPE_NONE, 1, VIGIL_TYPE_CAMERA_STATE);
  /* ::segment-completed (path relative to the storage root): cataloged complete. */
  signals[SIGNAL_SEGMENT_COMPLETED] = g_signal_new ("segment-completed", G_TYPE_FROM_CLASS (klass),
                                                    G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                                                    G_TYPE_STRING);
  /* ::run-ended (reason): a run ended other than by vigil_camera_stop(). */
  signals[SIGNAL_RUN_ENDED] = g_signal_new ("run-ended", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                            NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  /* ::frame-health (VigilFrameSample): a picture was analysed. */
  signals[SIGNAL_FRAME_HEALTH] = g_signal_new ("frame-health", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                               NULL, NULL, NULL, G_TYPE_NONE, 1,
                                               VIGIL_TYPE_FRAME_SAMPLE | G_SIGNAL_TYPE_STATIC_SCOPE);
  /* ::camera-clock (offset_us): the camera's clock minus the host's, from
   * an RTCP sender report. */
  signals[SIGNAL_CAMERA_CLOCK] = g_signal_new ("camera-clock", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                               NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
  /* ::segment-failed (path relative to the storage root, reason): a
   * segment did not close as it should (see VigilRecorder); its row stays
   * for start-up recovery. */
  signals[SIGNAL_SEGMENT_FAILED] = g_signal_new ("segment-failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                                 NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  /* ::onvif-resolved: the ONVIF camera told its device information and
   * stream; vigil_camera_get_onvif_link() has them. */
  signals[SIGNAL_ONVIF_RESOLVED] = g_signal_new ("onvif-resolved", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                                 NULL, NULL, NULL, G_TYPE_NONE, 0);
  /* ::disk-full: a write (the recording's, or the catalog's) failed for
   * want of space; after a run ended so, the camera waits for
   * vigil_camera_retry_now() (or 30 s). */
  signals[SIGNAL_DISK_FULL] = g_signal_new ("disk-full", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                            NULL, NULL, G_TYPE_NONE, 0);
  /* ::stopped: after vigil_camera_stop(), the last segment is cataloged. */
  signals[SIGNAL_STOPPED] = g_signal_new ("stopped", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
vigil_camera_init (VigilCamera *self)
{
  self->rand = g_rand_new ();
  self->writing = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->cut = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_segment_free);
  self->run_ends = g_ptr_array_new_with_free_func ((GDestroyNotify) run_end_free);
}

VigilCamera *
vigil_camera_new (const VigilCameraConfig *config, VigilStore *store, VigilHealthPool *health_pool,
                  guint segment_seconds)
{
  VigilCamera *self = g_object_new (VIGIL_TYPE_CAMERA, NULL);
  VigilRecorderConfig recorder_config = {
    .camera = config->name, .url = config->url, .user = config->user, .password = config->password,
    .allow_basic_auth = config->allow_basic_auth,
    .use_udp = config->use_udp, .use_rtspsrc = config->use_rtspsrc, .root = vigil_store_get_root (store),
    .segment_duration = segment_seconds * GST_SECOND, .stall_timeout = config->stall_seconds * GST_SECOND,
    .frame_health = config->frame_health, .frame_health_settings = &config->picture,
    .frame_health_url = config->sub_url, .frame_health_pool = health_pool,
  };
  g_autofree gchar *sub_name = g_strconcat (config->name, "/sub", NULL);

  self->name = g_strdup (config->name);
  self->live_feed = vigil_live_feed_new (config->name);
  self->live_sub_feed = vigil_live_feed_new (sub_name);
  recorder_config.live_feed = self->live_feed;
  recorder_config.live_sub_feed = self->live_sub_feed;
  self->enabled = config->enabled;
  self->has_sub_url = config->sub_url != NULL;
  self->use_rtspsrc = config->use_rtspsrc || config->use_udp || (config->url != NULL && !g_str_has_prefix (config->url, "rtsp://"));
  self->user = g_strdup (config->user);
  self->password = g_strdup (config->password);
  self->password_file = g_strdup (config->password_file);
  self->login_wait_ms = MAX (config->login_retry_seconds, 1) * 1000;
  self->busy_wait_ms = MAX (config->busy_retry_seconds, 1) * 1000;
  self->state = config->enabled ? VIGIL_CAMERA_STATE_RECONNECTING : VIGIL_CAMERA_STATE_DISABLED;
  self->store = g_object_ref (store);
  self->salvage = vigil_salvage_new (store);
  g_signal_connect (self->salvage, "cataloged", G_CALLBACK (on_salvage_cataloged), self);
  g_signal_connect (self->salvage, "catalog-full", G_CALLBACK (on_salvage_catalog_full), self);
  /* The config loader validated the URLs. */
  set_probe_address (self, config->url != NULL ? config->url : config->onvif_url);
  if (config->onvif_url != NULL)
    {
      VigilOnvifLinkOptions onvif_options = {
        .device_url = config->onvif_url, .profile = config->onvif_profile, .user = config->user,
        .password = config->password, .keep_addresses = config->onvif_keep_addresses,
      };
      g_autoptr(GError) error = NULL;

      self->onvif = vigil_onvif_link_new (&onvif_options, &error);
      if (self->onvif == NULL)
        g_warning ("camera %s: %s", self->name, error->message);
    }
  self->recorder = vigil_recorder_new (&recorder_config);
  g_signal_connect (self->recorder, "run-started", G_CALLBACK (on_recorder_run_started), self);
  g_signal_connect (self->recorder, "segment-opened", G_CALLBACK (on_recorder_segment_opened), self);
  g_signal_connect (self->recorder, "segment-closed", G_CALLBACK (on_recorder_segment_closed), self);
  g_signal_connect (self->recorder, "run-ended", G_CALLBACK (on_recorder_run_ended), self);
  g_signal_connect (self->recorder, "frame-health", G_CALLBACK (on_recorder_frame_health), self);
  g_signal_connect (self->recorder, "camera-clock", G_CALLBACK (on_recorder_camera_clock), self);
  g_signal_connect (self->recorder, "segment-failed", G_CALLBACK (on_recorder_segment_failed), self);
  return self;
}
