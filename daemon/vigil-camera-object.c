/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilCameraObject: a camera's D-Bus face. Recording status comes from
 * VigilCamera's signals; ListSpans is one catalog read; Snapshot finds its
 * keyframe here and decodes it on a worker thread; PTZ arguments are
 * checked here, on the main thread, and the camera is asked on a worker
 * thread (through VigilOnvifLink), so a slow or hostile camera never holds
 * up the bus. */
#include "vigil-camera-object.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vigil-error.h"
#include "vigil-service-private.h"
#include "vigil-snapshot.h"

/* ListSpans answers for at most this long a range. */
#define MAX_SPANS_RANGE_US (G_GINT64_CONSTANT (31) * 86400 * G_USEC_PER_SEC)
/* Sender reports come every few seconds, each a little different:
 * the property moves only when the offset did by this much. */
#define CLOCK_OFFSET_STEP_US (100 * G_TIME_SPAN_MILLISECOND)
#define MIN_MOVE_MS 100
#define MAX_MOVE_MS 10000
#define MAX_PRESET_NAME 64
/* How long a move to a position or preset is expected to take, for frame
 * health: cameras do not say; most turn end to end in a few seconds. */
#define POSITION_MOVE_MS 5000
/* Snapshots being decoded at once, all cameras together: each is a
 * decoder with its frames (about 10 MiB at 1080p, docs/design/live.md). */
#define MAX_SNAPSHOTS_AT_ONCE 2

struct _VigilCameraObject
{
  VigilDBusCameraSkeleton  parent_instance;
  VigilCamera             *camera;
  VigilStore              *store;
};

static void vigil_camera_object_camera_iface_init (VigilDBusCameraIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (VigilCameraObject, vigil_camera_object, VIGIL_DBUS_TYPE_CAMERA_SKELETON,
                               G_IMPLEMENT_INTERFACE (VIGIL_DBUS_TYPE_CAMERA, vigil_camera_object_camera_iface_init))

gchar *
vigil_camera_object_build_path (const gchar *name)
{
  g_autofree gchar *escaped = g_dbus_escape_object_path (name);
  return g_strdup_printf ("%s/Camera/%s", VIGIL_DBUS_PATH, escaped);
}

VigilCamera *
vigil_camera_object_get_camera (VigilCameraObject *self)
{
  g_return_val_if_fail (VIGIL_IS_CAMERA_OBJECT (self), NULL);
  return self->camera;
}

/* ---- Recording ---------------------------------------------------------- */

static void
show_segment (VigilCameraObject *self, const VigilSegment *segment)
{
  VigilDBusCamera *skeleton = VIGIL_DBUS_CAMERA (self);
  gdouble seconds;

  if (segment == NULL)
    return;
  seconds = segment->media_duration_ns / 1e9;
  vigil_dbus_camera_set_last_segment_end_us (skeleton, segment->end_us);
  if (seconds > 0)
    {
      vigil_dbus_camera_set_bitrate_bps (skeleton, (guint64) (segment->size_bytes * 8 / seconds));
      vigil_dbus_camera_set_frame_rate (skeleton, segment->frames / seconds);
    }
}

static void
show_wait (VigilCameraObject *self)
{
  const gchar *reason = vigil_camera_get_wait_reason (self->camera);

  vigil_dbus_camera_set_wait_reason (VIGIL_DBUS_CAMERA (self), reason != NULL ? reason : "");
  vigil_dbus_camera_set_next_attempt_us (VIGIL_DBUS_CAMERA (self), vigil_camera_get_next_attempt_us (self->camera));
}

static void
on_camera_state_changed (VigilCamera *camera, VigilCameraState state, VigilCameraObject *self)
{
  /* Before State, so a client that sees "login-refused" reads why. */
  show_wait (self);
  vigil_dbus_camera_set_state (VIGIL_DBUS_CAMERA (self), vigil_camera_state_to_string (state));
  vigil_dbus_camera_set_run_start_us (VIGIL_DBUS_CAMERA (self), vigil_camera_get_run_start_us (camera));
}

static void
on_camera_clock (VigilCamera *camera, gint64 offset_us, VigilCameraObject *self)
{
  VigilDBusCamera *skeleton = VIGIL_DBUS_CAMERA (self);

  if (g_strcmp0 (vigil_dbus_camera_get_clock_source (skeleton), "rtcp") != 0
      || ABS (offset_us - vigil_dbus_camera_get_clock_offset_us (skeleton)) >= CLOCK_OFFSET_STEP_US)
    {
      vigil_dbus_camera_set_clock_source (skeleton, "rtcp");
      vigil_dbus_camera_set_clock_offset_us (skeleton, offset_us);
    }
}

static void
on_camera_segment_completed (VigilCamera *camera, const gchar *path, VigilCameraObject *self)
{
  VigilDBusCamera *skeleton = VIGIL_DBUS_CAMERA (self);
  const VigilSegment *segment = vigil_camera_get_last_segment (camera);

  if (segment == NULL)
    return;
  show_segment (self, segment);
  vigil_dbus_camera_set_stored_bytes (skeleton, vigil_dbus_camera_get_stored_bytes (skeleton) + segment->size_bytes);
}

void
vigil_camera_object_refresh_stored_bytes (VigilCameraObject *self)
{
  guint64 stored = 0;

  g_return_if_fail (VIGIL_IS_CAMERA_OBJECT (self));
  if (vigil_store_get_camera_bytes (self->store, vigil_camera_get_name (self->camera), &stored, NULL))
    vigil_dbus_camera_set_stored_bytes (VIGIL_DBUS_CAMERA (self), stored);
}

/* Recorded spans, merged where segments meet. */
static GVariant *
build_spans (GPtrArray *segments)
{
  GVariantBuilder builder;
  gint64 start_us = 0, end_us = 0;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(xx)"));
  for (guint i = 0; i < segments->len; i++)
    {
      const VigilSegment *segment = segments->pdata[i];

      if (end_us != 0 && segment->start_us - end_us <= VIGIL_STORE_GAP_TOLERANCE_US)
        {
          end_us = MAX (end_us, segment->end_us);
          continue;
        }
      if (end_us != 0)
        g_variant_builder_add (&builder, "(xx)", start_us, end_us);
      start_us = segment->start_us;
      end_us = segment->end_us;
    }
  if (end_us != 0)
    g_variant_builder_add (&builder, "(xx)", start_us, end_us);
  return g_variant_builder_end (&builder);
}

static gboolean
vigil_camera_object_handle_list_spans (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation, gint64 from_us,
                                       gint64 to_us)
{
  VigilCameraObject *self = VIGIL_CAMERA_OBJECT (skeleton);
  const gchar *name = vigil_dbus_camera_get_name (skeleton);
  g_autoptr(GPtrArray) segments = NULL;
  g_autoptr(GPtrArray) gaps = NULL;
  GVariantBuilder gaps_builder;
  GError *error = NULL;
  gint64 writing_since_us, now_us;

  if (to_us <= from_us)
    return vigil_service_return_invalid (invocation, "the range ends before it starts");
  /* Unsigned: INT64_MIN .. INT64_MAX must not overflow into a small span. */
  if ((guint64) to_us - (guint64) from_us > (guint64) MAX_SPANS_RANGE_US)
    return vigil_service_return_error (invocation,
                                       g_error_new_literal (VIGIL_ERROR, VIGIL_ERROR_RANGE_TOO_LARGE,
                                                            "ask for at most 31 days of spans at a time"));
  segments = vigil_store_list_segments (self->store, name, from_us, to_us, &error);
  if (segments != NULL)
    gaps = vigil_store_list_gaps (self->store, name, from_us, to_us, &error);
  if (gaps == NULL)
    {
      vigil_error_from_store (&error, VIGIL_ERROR_UNKNOWN_CAMERA);
      return vigil_service_return_error (invocation, error);
    }
  /* What the camera is writing now counts, up to now: "the last ten
   * minutes" must not end at the last segment boundary. */
  writing_since_us = vigil_camera_get_writing_since_us (self->camera);
  now_us = g_get_real_time ();
  if (writing_since_us != 0 && writing_since_us < to_us && now_us > from_us)
    {
      VigilSegment *open_segment = g_new0 (VigilSegment, 1);

      open_segment->start_us = MAX (writing_since_us, from_us);
      open_segment->end_us = MIN (now_us, to_us);
      g_ptr_array_add (segments, open_segment);
    }
  g_variant_builder_init (&gaps_builder, G_VARIANT_TYPE ("a(xxs)"));
  for (guint i = 0; i < gaps->len; i++)
    {
      const VigilGap *gap = gaps->pdata[i];

      if (writing_since_us == 0 || gap->end_us <= writing_since_us)
        {
          g_variant_builder_add (&gaps_builder, "(xxs)", gap->start_us, gap->end_us, gap->reason ? gap->reason : "");
          continue;
        }
      /* The open segment fills [writing_since, now]: what is left of the
       * gap is before it, and after now. */
      if (gap->start_us < writing_since_us)
        g_variant_builder_add (&gaps_builder, "(xxs)", gap->start_us, writing_since_us, gap->reason ? gap->reason : "");
      if (gap->end_us > now_us)
        g_variant_builder_add (&gaps_builder, "(xxs)", MAX (gap->start_us, now_us), gap->end_us,
                               "after the last frame so far");
    }
  vigil_dbus_camera_complete_list_spans (skeleton, invocation, build_spans (segments),
                                         g_variant_builder_end (&gaps_builder));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
vigil_camera_object_handle_retry (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation)
{
  VigilCameraObject *self = VIGIL_CAMERA_OBJECT (skeleton);
  const gchar *name = vigil_camera_get_name (self->camera);
  g_autofree gchar *subject = g_strdup_printf ("camera %s", name);
  g_autofree gchar *was = g_strdup (vigil_camera_state_to_string (vigil_camera_get_state (self->camera)));
  gboolean started = vigil_camera_try_now (self->camera);
  g_autofree gchar *outcome = started ? g_strdup_printf ("trying now (was %s)", was)
                                      : g_strdup_printf ("not waiting (%s)", was);

  vigil_service_audit (self->store, vigil_service_get_caller (invocation), "camera-retry", subject, "outcome",
                       outcome, NULL);
  vigil_dbus_camera_complete_retry (skeleton, invocation, started);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- Snapshots ---------------------------------------------------------- */

/* Main thread only. */
static guint snapshots_running;

typedef struct {
  VigilCameraObject     *self;              /* referenced */
  GDBusMethodInvocation *invocation;        /* referenced */
  int                    fd;                /* the caller's file; ours to close */
  gint64                 at_us;             /* 0: the newest keyframe */
  /* The newest keyframe, or a file and where in it. */
  GstCaps               *caps;
  GstBuffer             *keyframe;
  gchar                 *path;              /* absolute */
  gint64                 segment_start_us;
  gboolean               writing;           /* the segment is still being written */
  /* Set by the worker. */
  gint64                 frame_us;
  guint64                size_bytes;
} SnapshotJob;

static void
snapshot_job_free (SnapshotJob *job)
{
  g_object_unref (job->self);
  g_object_unref (job->invocation);
  if (job->fd >= 0)
    close (job->fd);
  gst_clear_caps (&job->caps);
  gst_clear_buffer (&job->keyframe);
  g_free (job->path);
  g_free (job);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SnapshotJob, snapshot_job_free)

static gchar *
describe_moment (gint64 at_us)
{
  return at_us == 0 ? g_strdup ("now") : vigil_service_format_time (at_us);
}

/* Audits the snapshot and answers: with the picture's time and size, or
 * with @error (taken). */
static gboolean
finish_snapshot (VigilCameraObject *self, GDBusMethodInvocation *invocation, gint64 at_us, gint64 frame_us,
                 guint64 size_bytes, GError *error)
{
  g_autofree gchar *subject = g_strdup_printf ("camera %s", vigil_camera_get_name (self->camera));
  g_autofree gchar *asked = describe_moment (at_us);
  g_autofree gchar *frame = frame_us != 0 ? vigil_service_format_time (frame_us) : g_strdup ("");

  vigil_service_audit (self->store, vigil_service_get_caller (invocation), "snapshot", subject, "at", asked,
                       "frame", frame, "outcome", error != NULL ? error->message : "done", NULL);
  if (error != NULL)
    return vigil_service_return_error (invocation, error);
  vigil_dbus_camera_complete_snapshot (VIGIL_DBUS_CAMERA (self), invocation, NULL, frame_us, size_bytes);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
write_all (int fd, GBytes *bytes, GError **error)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);

  while (size > 0)
    {
      ssize_t written = write (fd, data, size);

      if (written < 0 && errno == EINTR)
        continue;
      if (written <= 0)
        {
          int saved_errno = written < 0 ? errno : ENOSPC;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "cannot write the picture: %s",
                       g_strerror (saved_errno));
          return FALSE;
        }
      data += written;
      size -= (gsize) written;
    }
  return TRUE;
}

/* Runs on a worker thread: decodes and writes; touches no storage. */
static void
snapshot_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  SnapshotJob *job = data;
  g_autoptr(GBytes) jpeg = NULL;
  GError *error = NULL;

  if (job->keyframe != NULL)
    jpeg = vigil_snapshot_from_keyframe (job->caps, job->keyframe, NULL, &error);
  else
    {
      GstClockTime pts = 0;

      jpeg = vigil_snapshot_from_file (job->path, (GstClockTime) (job->at_us - job->segment_start_us) * GST_USECOND,
                                       NULL, &pts, &error);
      job->frame_us = job->segment_start_us + (gint64) (pts / GST_USECOND);
    }
  if (jpeg == NULL || !write_all (job->fd, jpeg, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  job->size_bytes = g_bytes_get_size (jpeg);
  g_task_return_boolean (task, TRUE);
}

/* What the caller reads for a snapshot that failed on the worker. */
static GError *
snapshot_error (const GError *error, const gchar *camera, const SnapshotJob *job)
{
  g_autofree gchar *when = describe_moment (job->at_us);

  g_debug ("camera %s: snapshot at %s: %s", camera, when, error->message);
  if (error->domain != VIGIL_PIPELINE_ERROR)
    return g_error_new (VIGIL_ERROR, VIGIL_ERROR_FAILED, "camera %s: %s", camera, error->message);
  switch (error->code)
    {
    case VIGIL_PIPELINE_ERROR_OUT_OF_RANGE:
      if (job->writing)
        return g_error_new (VIGIL_ERROR, VIGIL_ERROR_NO_RECORDING,
                            "camera %s: the recording at %s is not on disk yet; try again in a few seconds", camera,
                            when);
      return g_error_new (VIGIL_ERROR, VIGIL_ERROR_NO_RECORDING, "camera %s has no recording at %s", camera, when);
    case VIGIL_PIPELINE_ERROR_MISSING:
      return g_error_new (VIGIL_ERROR, VIGIL_ERROR_NOT_SUPPORTED, "camera %s: %s", camera, error->message);
    case VIGIL_PIPELINE_ERROR_UNREADABLE:
      return g_error_new (VIGIL_ERROR, VIGIL_ERROR_FAILED, "camera %s: the recording at %s cannot be read", camera,
                          when);
    default:
      return g_error_new (VIGIL_ERROR, VIGIL_ERROR_FAILED, "camera %s: no picture of %s: %s", camera, when,
                          error->message);
    }
}

static void
on_snapshot_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(SnapshotJob) job = user_data;
  GError *error = NULL;

  snapshots_running--;
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      GError *reply = snapshot_error (error, vigil_camera_get_name (job->self->camera), job);

      g_error_free (error);
      finish_snapshot (job->self, job->invocation, job->at_us, 0, 0, reply);
      return;
    }
  finish_snapshot (job->self, job->invocation, job->at_us, job->frame_us, job->size_bytes, NULL);
}

/* The caller's file as handle @picture into @fd_list, checked: a
 * descriptor of our own, or -1 with *@error set. */
static int
take_picture_fd (GUnixFDList *fd_list, GVariant *picture, GError **error)
{
  gint32 index = g_variant_get_handle (picture);
  struct stat st;
  int fd, flags;

  if (fd_list == NULL || index < 0 || index >= g_unix_fd_list_get_length (fd_list))
    {
      g_set_error_literal (error, VIGIL_ERROR, VIGIL_ERROR_INVALID_ARGUMENT,
                           "picture: no file descriptor was passed with the call");
      return -1;
    }
  fd = g_unix_fd_list_get (fd_list, index, error);
  if (fd < 0)
    return -1;
  flags = fcntl (fd, F_GETFL);
  /* A regular file only: a pipe or socket the caller never reads would
   * hold the worker thread; an empty one, so nothing is overwritten. */
  if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY || fstat (fd, &st) != 0
      || !S_ISREG (st.st_mode) || st.st_size != 0)
    {
      close (fd);
      g_set_error_literal (error, VIGIL_ERROR, VIGIL_ERROR_INVALID_ARGUMENT,
                           "picture: pass an empty regular file open for writing");
      return -1;
    }
  return fd;
}

/* The catalog's segment holding @at_us, or the open one (@out_writing);
 * NULL when none. */
static gchar *
find_recording (VigilCameraObject *self, gint64 at_us, gint64 *out_start_us, gboolean *out_writing, GError **error)
{
  const gchar *name = vigil_camera_get_name (self->camera);
  g_autoptr(GPtrArray) segments = vigil_store_list_segments (self->store, name, at_us, at_us + 1, error);
  g_autofree gchar *writing = NULL;

  if (segments == NULL)
    return NULL;
  for (guint i = segments->len; i > 0; i--)
    {
      const VigilSegment *segment = segments->pdata[i - 1];

      if (segment->start_us <= at_us && at_us < segment->end_us)
        {
          *out_start_us = segment->start_us;
          return vigil_store_get_absolute_path (self->store, segment->path);
        }
    }
  *out_writing = vigil_camera_find_writing (self->camera, at_us, &writing, out_start_us);
  if (*out_writing)
    return vigil_store_get_absolute_path (self->store, writing);
  return NULL;
}

static gboolean
vigil_camera_object_handle_snapshot (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation,
                                     GUnixFDList *fd_list, gint64 at_us, GVariant *picture)
{
  VigilCameraObject *self = VIGIL_CAMERA_OBJECT (skeleton);
  const gchar *name = vigil_camera_get_name (self->camera);
  g_autoptr(SnapshotJob) job = g_new0 (SnapshotJob, 1);
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;
  gint64 wall_us = 0;

  job->self = g_object_ref (self);
  job->invocation = g_object_ref (invocation);
  job->at_us = at_us;
  job->fd = -1;
  if (at_us < 0 || at_us > g_get_real_time ())
    return finish_snapshot (self, invocation, at_us, 0, 0,
                            g_error_new_literal (VIGIL_ERROR, VIGIL_ERROR_INVALID_ARGUMENT,
                                                 "at_us: a time in the past, or 0 for now"));
  job->fd = take_picture_fd (fd_list, picture, &error);
  if (job->fd < 0)
    return finish_snapshot (self, invocation, at_us, 0, 0, error);
  if (at_us == 0)
    {
      if (!vigil_camera_get_latest_keyframe (self->camera, &job->caps, &job->keyframe, &wall_us))
        return finish_snapshot (self, invocation, at_us, 0, 0,
                                g_error_new (VIGIL_ERROR, VIGIL_ERROR_NO_RECORDING,
                                             "camera %s is not recording now (%s)", name,
                                             vigil_camera_state_to_string (vigil_camera_get_state (self->camera))));
      job->frame_us = wall_us;
    }
  /* At or after the newest keyframe: that is the one at or before it, and
   * its segment may not even be on disk yet. */
  else if (vigil_camera_get_latest_keyframe (self->camera, &job->caps, &job->keyframe, &wall_us) && wall_us <= at_us)
    job->frame_us = wall_us;
  else
    {
      gst_clear_caps (&job->caps);
      gst_clear_buffer (&job->keyframe);
      job->path = find_recording (self, at_us, &job->segment_start_us, &job->writing, &error);
      if (job->path == NULL && error != NULL)
        {
          vigil_error_from_store (&error, VIGIL_ERROR_UNKNOWN_CAMERA);
          return finish_snapshot (self, invocation, at_us, 0, 0, error);
        }
      if (job->path == NULL)
        {
          g_autofree gchar *when = describe_moment (at_us);

          return finish_snapshot (self, invocation, at_us, 0, 0,
                                  g_error_new (VIGIL_ERROR, VIGIL_ERROR_NO_RECORDING,
                                               "camera %s has no recording at %s (vigilctl spans %s lists what "
                                               "there is)", name, when, name));
        }
    }
  if (snapshots_running >= MAX_SNAPSHOTS_AT_ONCE)
    return finish_snapshot (self, invocation, at_us, 0, 0,
                            g_error_new (VIGIL_ERROR, VIGIL_ERROR_RATE_LIMITED,
                                         "%u snapshots are being made already; try again in a moment",
                                         MAX_SNAPSHOTS_AT_ONCE));
  snapshots_running++;
  task = g_task_new (NULL, NULL, on_snapshot_done, job);
  g_task_set_task_data (task, g_steal_pointer (&job), NULL);
  g_task_run_in_thread (task, snapshot_thread);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- ONVIF and PTZ ------------------------------------------------------ */

/* One PTZ call in flight. */
typedef struct {
  VigilCameraObject     *self;         /* referenced */
  GDBusMethodInvocation *invocation;   /* referenced */
  VigilPtzRequest        request;
  gchar                 *preset;       /* request.preset points here */
} PtzCall;

static void
ptz_call_free (PtzCall *call)
{
  g_object_unref (call->self);
  g_object_unref (call->invocation);
  g_free (call->preset);
  g_free (call);
}

static gboolean
is_query (VigilPtzAction action)
{
  return action == VIGIL_PTZ_STATUS || action == VIGIL_PTZ_LIST_PRESETS;
}

/* "moving" if either axis moves, else what pan-tilt says. */
static const gchar *
move_status_name (const VigilOnvifPtzStatus *status)
{
  if (status->pan_tilt_status == VIGIL_ONVIF_MOVE_MOVING || status->zoom_status == VIGIL_ONVIF_MOVE_MOVING)
    return "moving";
  return status->pan_tilt_status == VIGIL_ONVIF_MOVE_IDLE ? "idle" : "unknown";
}

static void
audit_ptz (VigilCameraObject *self, const VigilCaller *caller, const VigilPtzRequest *r, const gchar *outcome)
{
  g_autofree gchar *subject = g_strdup_printf ("camera %s", vigil_camera_get_name (self->camera));
  g_autofree gchar *action = g_strdup_printf ("ptz-%s", vigil_ptz_action_to_string (r->action));
  gchar pan[G_ASCII_DTOSTR_BUF_SIZE], tilt[G_ASCII_DTOSTR_BUF_SIZE], zoom[G_ASCII_DTOSTR_BUF_SIZE];
  g_autofree gchar *duration = g_strdup_printf ("%u", r->duration_ms);

  g_ascii_formatd (pan, sizeof pan, "%.3f", r->pan);
  g_ascii_formatd (tilt, sizeof tilt, "%.3f", r->tilt);
  g_ascii_formatd (zoom, sizeof zoom, "%.3f", r->zoom);
  switch (r->action)
    {
    case VIGIL_PTZ_MOVE:
      vigil_service_audit (self->store, caller, action, subject, "pan", pan, "tilt", tilt, "zoom", zoom,
                           "duration-ms", duration, "outcome", outcome, NULL);
      break;
    case VIGIL_PTZ_GOTO:
    case VIGIL_PTZ_MOVE_BY:
      vigil_service_audit (self->store, caller, action, subject, "pan", pan, "tilt", tilt, "zoom", zoom,
                           "outcome", outcome, NULL);
      break;
    case VIGIL_PTZ_SAVE_PRESET:
    case VIGIL_PTZ_GOTO_PRESET:
    case VIGIL_PTZ_REMOVE_PRESET:
      vigil_service_audit (self->store, caller, action, subject, "preset", r->preset, "outcome", outcome, NULL);
      break;
    default:
      vigil_service_audit (self->store, caller, action, subject, "outcome", outcome, NULL);
      break;
    }
}

static void
on_ptz_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PtzCall *call = user_data;
  VigilCameraObject *self = call->self;
  VigilDBusCamera *skeleton = VIGIL_DBUS_CAMERA (self);
  const VigilPtzRequest *r = &call->request;
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilPtzReply) reply = vigil_onvif_link_ptz_finish (VIGIL_ONVIF_LINK (source), result, &error);

  if (!is_query (r->action))
    audit_ptz (self, vigil_service_get_caller (call->invocation), r, reply != NULL ? "done" : error->message);
  if (reply == NULL)
    {
      vigil_service_return_error (call->invocation, g_steal_pointer (&error));
      ptz_call_free (call);
      return;
    }
  switch (r->action)
    {
    case VIGIL_PTZ_MOVE:
      vigil_camera_note_ptz_move (self->camera, r->duration_ms);
      vigil_dbus_camera_complete_ptz_move (skeleton, call->invocation);
      break;
    case VIGIL_PTZ_STOP:
      vigil_dbus_camera_complete_ptz_stop (skeleton, call->invocation);
      break;
    case VIGIL_PTZ_GOTO:
      vigil_camera_note_ptz_move (self->camera, POSITION_MOVE_MS);
      vigil_dbus_camera_complete_ptz_goto (skeleton, call->invocation);
      break;
    case VIGIL_PTZ_MOVE_BY:
      vigil_camera_note_ptz_move (self->camera, POSITION_MOVE_MS);
      vigil_dbus_camera_complete_ptz_move_by (skeleton, call->invocation);
      break;
    case VIGIL_PTZ_STATUS:
      vigil_dbus_camera_complete_ptz_get_status (skeleton, call->invocation, reply->status.has_position,
                                                 reply->status.pan, reply->status.tilt, reply->status.zoom,
                                                 move_status_name (&reply->status));
      break;
    case VIGIL_PTZ_LIST_PRESETS:
      {
        GVariantBuilder builder;

        g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ss)"));
        for (guint i = 0; i < reply->presets->len; i++)
          {
            VigilOnvifPreset *preset = reply->presets->pdata[i];
            g_variant_builder_add (&builder, "(ss)", preset->token, preset->name != NULL ? preset->name : "");
          }
        vigil_dbus_camera_complete_list_presets (skeleton, call->invocation, g_variant_builder_end (&builder));
      }
      break;
    case VIGIL_PTZ_SAVE_PRESET:
      vigil_dbus_camera_complete_save_preset (skeleton, call->invocation, reply->preset_token);
      break;
    case VIGIL_PTZ_GOTO_PRESET:
      vigil_camera_note_ptz_move (self->camera, POSITION_MOVE_MS);
      vigil_dbus_camera_complete_goto_preset (skeleton, call->invocation);
      break;
    case VIGIL_PTZ_REMOVE_PRESET:
      vigil_dbus_camera_complete_remove_preset (skeleton, call->invocation);
      break;
    }
  ptz_call_free (call);
}

static gboolean
return_error_literal (GDBusMethodInvocation *invocation, VigilError code, const gchar *message)
{
  return vigil_service_return_error (invocation, g_error_new_literal (VIGIL_ERROR, code, message));
}

static gboolean
in_range (gdouble value, gdouble min, gdouble max)
{
  return isfinite (value) && value >= min && value <= max;
}

/* Checks what only the request itself can tell, then asks the camera. */
static gboolean
start_ptz (VigilCameraObject *self, GDBusMethodInvocation *invocation, const VigilPtzRequest *request)
{
  VigilOnvifLink *link = vigil_camera_get_onvif_link (self->camera);
  const gchar *name = vigil_camera_get_name (self->camera);
  g_autofree gchar *message = NULL;
  PtzCall *call;

  if (link == NULL)
    {
      message = g_strdup_printf ("camera %s is not set up by ONVIF (onvif= in its config), so vigild cannot "
                                 "turn it", name);
      return return_error_literal (invocation, VIGIL_ERROR_NOT_SUPPORTED, message);
    }
  switch (request->action)
    {
    case VIGIL_PTZ_MOVE:
    case VIGIL_PTZ_MOVE_BY:
      if (!in_range (request->pan, -1, 1) || !in_range (request->tilt, -1, 1) || !in_range (request->zoom, -1, 1))
        message = g_strdup_printf ("pan, tilt and zoom must be between -1 and 1 (got %g, %g, %g)", request->pan,
                                   request->tilt, request->zoom);
      else if (request->action == VIGIL_PTZ_MOVE
               && (request->duration_ms < MIN_MOVE_MS || request->duration_ms > MAX_MOVE_MS))
        message = g_strdup_printf ("duration %u ms is not between %u and %u ms", request->duration_ms, MIN_MOVE_MS,
                                   MAX_MOVE_MS);
      break;
    case VIGIL_PTZ_GOTO:
      if (!in_range (request->pan, -1, 1) || !in_range (request->tilt, -1, 1)
          || !isfinite (request->zoom) || request->zoom > 1)
        message = g_strdup_printf ("pan and tilt must be between -1 and 1 and zoom between 0 and 1, or negative "
                                   "to keep it (got %g, %g, %g)", request->pan, request->tilt, request->zoom);
      break;
    case VIGIL_PTZ_SAVE_PRESET:
    case VIGIL_PTZ_GOTO_PRESET:
    case VIGIL_PTZ_REMOVE_PRESET:
      if (request->preset[0] == '\0' || strlen (request->preset) > MAX_PRESET_NAME
          || !g_utf8_validate (request->preset, -1, NULL))
        message = g_strdup_printf ("a preset name is 1 to %u bytes of UTF-8", MAX_PRESET_NAME);
      break;
    default:
      break;
    }
  if (message != NULL)
    return return_error_literal (invocation, VIGIL_ERROR_INVALID_ARGUMENT, message);

  call = g_new0 (PtzCall, 1);
  call->self = g_object_ref (self);
  call->invocation = g_object_ref (invocation);
  call->request = *request;
  call->preset = g_strdup (request->preset);
  call->request.preset = call->preset;
  vigil_onvif_link_ptz_async (link, &call->request, NULL, on_ptz_done, call);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
vigil_camera_object_handle_ptz_move (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation, gdouble pan,
                                     gdouble tilt, gdouble zoom, guint duration_ms)
{
  VigilPtzRequest request = { VIGIL_PTZ_MOVE, pan, tilt, zoom, -1, duration_ms, NULL };
  return start_ptz (VIGIL_CAMERA_OBJECT (skeleton), invocation, &request);
}

static gboolean
vigil_camera_object_handle_ptz_stop (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation)
{
  VigilPtzRequest request = { .action = VIGIL_PTZ_STOP };
  return start_ptz (VIGIL_CAMERA_OBJECT (skeleton), invocation, &request);
}

static gboolean
vigil_camera_object_handle_ptz_goto (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation, gdouble pan,
                                     gdouble tilt, gdouble zoom)
{
  VigilPtzRequest request = { VIGIL_PTZ_GOTO, pan, tilt, zoom, -1, 0, NULL };
  return start_ptz (VIGIL_CAMERA_OBJECT (skeleton), invocation, &request);
}

static gboolean
vigil_camera_object_handle_ptz_move_by (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation, gdouble pan,
                                        gdouble tilt, gdouble zoom)
{
  VigilPtzRequest request = { VIGIL_PTZ_MOVE_BY, pan, tilt, zoom, -1, 0, NULL };
  return start_ptz (VIGIL_CAMERA_OBJECT (skeleton), invocation, &request);
}

static gboolean
vigil_camera_object_handle_ptz_get_status (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation)
{
  VigilPtzRequest request = { .action = VIGIL_PTZ_STATUS };
  return start_ptz (VIGIL_CAMERA_OBJECT (skeleton), invocation, &request);
}

static gboolean
vigil_camera_object_handle_list_presets (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation)
{
  VigilPtzRequest request = { .action = VIGIL_PTZ_LIST_PRESETS };
  return start_ptz (VIGIL_CAMERA_OBJECT (skeleton), invocation, &request);
}

static gboolean
vigil_camera_object_handle_save_preset (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation,
                                        const gchar *name)
{
  VigilPtzRequest request = { .action = VIGIL_PTZ_SAVE_PRESET, .preset = name };
  return start_ptz (VIGIL_CAMERA_OBJECT (skeleton), invocation, &request);
}

static gboolean
vigil_camera_object_handle_goto_preset (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation,
                                        const gchar *name)
{
  VigilPtzRequest request = { .action = VIGIL_PTZ_GOTO_PRESET, .speed = -1, .preset = name };
  return start_ptz (VIGIL_CAMERA_OBJECT (skeleton), invocation, &request);
}

static gboolean
vigil_camera_object_handle_remove_preset (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation,
                                          const gchar *name)
{
  VigilPtzRequest request = { .action = VIGIL_PTZ_REMOVE_PRESET, .preset = name };
  return start_ptz (VIGIL_CAMERA_OBJECT (skeleton), invocation, &request);
}

/* The camera told vigild who it is: show it. */
static void
on_camera_onvif_resolved (VigilCamera *camera, VigilCameraObject *self)
{
  VigilOnvifLink *link = vigil_camera_get_onvif_link (camera);
  const VigilOnvifDeviceInfo *info = vigil_onvif_link_get_device_info (link);
  VigilDBusCamera *skeleton = VIGIL_DBUS_CAMERA (self);

  if (info != NULL)
    {
      vigil_dbus_camera_set_manufacturer (skeleton, info->manufacturer != NULL ? info->manufacturer : "");
      vigil_dbus_camera_set_model (skeleton, info->model != NULL ? info->model : "");
      vigil_dbus_camera_set_firmware (skeleton, info->firmware_version != NULL ? info->firmware_version : "");
      /* A sender report, once one came, is the fresher word on the clock. */
      if (g_strcmp0 (vigil_dbus_camera_get_clock_source (skeleton), "rtcp") != 0)
        {
          vigil_dbus_camera_set_clock_source (skeleton, "onvif");
          vigil_dbus_camera_set_clock_offset_us (skeleton, info->clock_offset_us);
        }
    }
  vigil_dbus_camera_set_profile (skeleton, vigil_onvif_link_get_profile (link));
  vigil_dbus_camera_set_has_ptz (skeleton, vigil_onvif_link_has_ptz (link));
}

/* An incident's preset move, audited when the camera has answered. */
typedef struct {
  VigilCameraObject *self;        /* referenced */
  VigilCaller       *caller;      /* copied: the invocation is long answered */
  gchar             *preset;
  gchar             *why;
} PresetJob;

static void
preset_job_free (PresetJob *job)
{
  g_object_unref (job->self);
  vigil_caller_free (job->caller);
  g_free (job->preset);
  g_free (job->why);
  g_free (job);
}

static void
on_incident_preset_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PresetJob *job = user_data;
  VigilCamera *camera = job->self->camera;
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilPtzReply) reply = vigil_onvif_link_ptz_finish (VIGIL_ONVIF_LINK (source), result, &error);
  g_autofree gchar *subject = g_strdup_printf ("camera %s", vigil_camera_get_name (camera));

  if (reply != NULL)
    vigil_camera_note_ptz_move (camera, POSITION_MOVE_MS);
  else
    g_warning ("camera %s: cannot go to preset “%s” for %s: %s", vigil_camera_get_name (camera), job->preset,
               job->why, error->message);
  vigil_service_audit (job->self->store, job->caller, "ptz-preset-go", subject, "preset", job->preset, "why",
                       job->why, "outcome", reply != NULL ? "done" : error->message, NULL);
  preset_job_free (job);
}

void
vigil_camera_object_goto_preset (VigilCameraObject *self, GDBusMethodInvocation *invocation, const gchar *preset,
                                 const gchar *why)
{
  VigilOnvifLink *link;
  VigilPtzRequest request = { .action = VIGIL_PTZ_GOTO_PRESET, .speed = -1, .preset = preset };
  PresetJob *job;

  g_return_if_fail (VIGIL_IS_CAMERA_OBJECT (self));
  link = vigil_camera_get_onvif_link (self->camera);
  /* Fixed cameras of the incident keep looking where they look. */
  if (link == NULL || !vigil_onvif_link_has_ptz (link))
    return;
  job = g_new0 (PresetJob, 1);
  job->self = g_object_ref (self);
  job->caller = vigil_caller_copy (vigil_service_get_caller (invocation));
  job->preset = g_strdup (preset);
  job->why = g_strdup (why);
  vigil_onvif_link_ptz_async (link, &request, NULL, on_incident_preset_done, job);
}

/* ---- Life cycle --------------------------------------------------------- */

static void
vigil_camera_object_camera_iface_init (VigilDBusCameraIface *iface)
{
  iface->handle_list_spans = vigil_camera_object_handle_list_spans;
  iface->handle_retry = vigil_camera_object_handle_retry;
  iface->handle_snapshot = vigil_camera_object_handle_snapshot;
  iface->handle_ptz_move = vigil_camera_object_handle_ptz_move;
  iface->handle_ptz_stop = vigil_camera_object_handle_ptz_stop;
  iface->handle_ptz_goto = vigil_camera_object_handle_ptz_goto;
  iface->handle_ptz_move_by = vigil_camera_object_handle_ptz_move_by;
  iface->handle_ptz_get_status = vigil_camera_object_handle_ptz_get_status;
  iface->handle_list_presets = vigil_camera_object_handle_list_presets;
  iface->handle_save_preset = vigil_camera_object_handle_save_preset;
  iface->handle_goto_preset = vigil_camera_object_handle_goto_preset;
  iface->handle_remove_preset = vigil_camera_object_handle_remove_preset;
}

static void
vigil_camera_object_dispose (GObject *object)
{
  VigilCameraObject *self = VIGIL_CAMERA_OBJECT (object);

  if (self->camera != NULL)
    g_signal_handlers_disconnect_by_data (self->camera, self);
  g_clear_object (&self->camera);
  g_clear_object (&self->store);
  G_OBJECT_CLASS (vigil_camera_object_parent_class)->dispose (object);
}

static void
vigil_camera_object_class_init (VigilCameraObjectClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = vigil_camera_object_dispose;
  G_DBUS_INTERFACE_SKELETON_CLASS (klass)->g_authorize_method = vigil_service_authorize_method;
}

static void
vigil_camera_object_init (VigilCameraObject *self)
{
}

VigilCameraObject *
vigil_camera_object_new (VigilCamera *camera, VigilStore *store)
{
  VigilCameraObject *self = g_object_new (VIGIL_TYPE_CAMERA_OBJECT, NULL);
  VigilDBusCamera *skeleton = VIGIL_DBUS_CAMERA (self);
  VigilOnvifLink *link = vigil_camera_get_onvif_link (camera);
  const gchar *name = vigil_camera_get_name (camera);
  guint64 bytes = 0;

  self->camera = g_object_ref (camera);
  self->store = g_object_ref (store);
  vigil_store_get_camera_bytes (store, name, &bytes, NULL);
  vigil_dbus_camera_set_name (skeleton, name);
  vigil_dbus_camera_set_state (skeleton, vigil_camera_state_to_string (vigil_camera_get_state (camera)));
  vigil_dbus_camera_set_run_start_us (skeleton, vigil_camera_get_run_start_us (camera));
  show_wait (self);
  vigil_dbus_camera_set_stored_bytes (skeleton, bytes);
  vigil_dbus_camera_set_clock_source (skeleton, "");
  show_segment (self, vigil_camera_get_last_segment (camera));
  vigil_dbus_camera_set_onvif_device (skeleton, link != NULL ? vigil_onvif_link_get_device_url (link) : "");
  vigil_dbus_camera_set_manufacturer (skeleton, "");
  vigil_dbus_camera_set_model (skeleton, "");
  vigil_dbus_camera_set_firmware (skeleton, "");
  vigil_dbus_camera_set_profile (skeleton, "");
  if (link != NULL)
    {
      g_signal_connect (camera, "onvif-resolved", G_CALLBACK (on_camera_onvif_resolved), self);
      if (vigil_onvif_link_is_resolved (link))
        on_camera_onvif_resolved (camera, self);
    }
  g_signal_connect (camera, "state-changed", G_CALLBACK (on_camera_state_changed), self);
  g_signal_connect (camera, "segment-completed", G_CALLBACK (on_camera_segment_completed), self);
  g_signal_connect (camera, "camera-clock", G_CALLBACK (on_camera_clock), self);
  return self;
}
