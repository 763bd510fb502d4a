/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilExportJob: plan on the main thread, work on a worker thread, report
 * back on the main context. The plan is immutable once the worker runs;
 * the worker touches neither the store nor any GObject but the
 * GCancellable, and hands progress back through an idle source. Inside
 * the caller's destination everything goes through VigilExportFolder, on
 * descriptors; the only paths this file opens are vigil's own segments. */
#include "vigil-export-job.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "vigil-audit.h"
#include "vigil-manifest.h"
#include "vigil-clip-writer.h"
#include "vigil-error.h"
#include "vigil-export-destination.h"
#include "vigil-export-folder.h"

/* The exported MP4s hold the same media as the segments, plus the MP4
 * index, snapshots and the manifest: ask for this much headroom. */
#define SPACE_HEADROOM_BYTES (G_GUINT64_CONSTANT (16) << 20)

static const gchar *const state_names[] = { "running", "done", "failed", "cancelled" };

const gchar *
vigil_export_state_to_string (VigilExportState state)
{
  g_return_val_if_fail (state < G_N_ELEMENTS (state_names), NULL);
  return state_names[state];
}

typedef struct {
  gchar     *name;
  gint64     from_us, to_us;       /* the span asked for on this camera */
  GPtrArray *segments;             /* VigilSegment, oldest first; paths relative to root */
  GPtrArray *gaps;                 /* VigilGap inside [from, to) */
  guint64    source_bytes;
} CameraPlan;

static void
camera_plan_free (CameraPlan *plan)
{
  g_free (plan->name);
  g_clear_pointer (&plan->segments, g_ptr_array_unref);
  g_clear_pointer (&plan->gaps, g_ptr_array_unref);
  g_free (plan);
}

/* Everything the worker needs, fixed before it starts. */
typedef struct {
  int             destination_fd;  /* the caller's folder, our own duplicate; -1 until checked */
  dev_t           destination_dev; /* its identity, for reserving names in it */
  ino_t           destination_ino;
  gchar          *destination;     /* where the kernel says it is, for logs only */
  gchar          *name;            /* bundle folder name */
  gchar          *root;            /* storage root */
  gchar          *reason;
  gint64          uid;
  gchar          *user;
  gint64          requested_from_us, requested_to_us;
  VigilIncident  *incident;        /* copy, or NULL */
  GPtrArray      *cameras;         /* CameraPlan */
  guint64         source_bytes;
  gint64          audit_head_id;
  gchar          *audit_head_sha256;
  gint64          created_us;
  VigilSigningKey *key;            /* borrowed */
} Plan;

static void
plan_free (Plan *plan)
{
  if (plan->destination_fd >= 0)
    close (plan->destination_fd);
  g_free (plan->destination);
  g_free (plan->name);
  g_free (plan->root);
  g_free (plan->reason);
  g_free (plan->user);
  g_clear_pointer (&plan->incident, vigil_incident_free);
  g_clear_pointer (&plan->cameras, g_ptr_array_unref);
  g_free (plan->audit_head_sha256);
  g_free (plan);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Plan, plan_free)

struct _VigilExportJob
{
  GObject           parent_instance;
  Plan             *plan;
  gchar            *summary;
  GCancellable     *cancellable;
  VigilExportState  state;
  gdouble           progress;
  gchar            *bundle;
  gchar            *manifest_sha256;
  gchar            *error_message;

  /* Written by the worker, read by the idle that reports it. */
  GMutex            lock;
  gdouble           worker_progress;  /* guarded by lock */
  guint             progress_idle;    /* guarded by lock */
};

G_DEFINE_FINAL_TYPE (VigilExportJob, vigil_export_job, G_TYPE_OBJECT)

enum { SIGNAL_PROGRESS, SIGNAL_FINISHED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---- Planning (main thread) ------------------------------------------ */

static gboolean
vigil_is_blank (const gchar *text)
{
  for (const gchar *p = text; *p; p++)
    if (!g_ascii_isspace (*p))
      return FALSE;
  return TRUE;
}

static gchar *
utc_stamp (gint64 time_us)
{
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc (time_us / G_USEC_PER_SEC);
  return g_date_time_format (t, "%Y%m%dT%H%M%SZ");
}

static gboolean
plan_camera (VigilStore *store, Plan *plan, const gchar *camera, gint64 from_us, gint64 to_us, GError **error)
{
  CameraPlan *camera_plan = g_new0 (CameraPlan, 1);

  g_ptr_array_add (plan->cameras, camera_plan);
  camera_plan->name = g_strdup (camera);
  camera_plan->from_us = from_us;
  camera_plan->to_us = to_us;
  camera_plan->segments = vigil_store_list_segments (store, camera, from_us, to_us, error);
  if (camera_plan->segments == NULL)
    return FALSE;
  camera_plan->gaps = vigil_store_list_gaps (store, camera, from_us, to_us, error);
  if (camera_plan->gaps == NULL)
    return FALSE;
  for (guint i = 0; i < camera_plan->segments->len; i++)
    camera_plan->source_bytes += ((VigilSegment *) camera_plan->segments->pdata[i])->size_bytes;
  plan->source_bytes += camera_plan->source_bytes;
  return TRUE;
}

static gboolean
check_free_space (const Plan *plan, GError **error)
{
  struct statvfs fs;
  guint64 needed = plan->source_bytes + plan->source_bytes / 50 + SPACE_HEADROOM_BYTES;
  guint64 available;

  if (fstatvfs (plan->destination_fd, &fs) != 0)
    {
      g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_NOT_WRITABLE, "cannot use the destination: %s",
                   g_strerror (errno));
      return FALSE;
    }
  available = (guint64) fs.f_bavail * fs.f_frsize;
  if (available < needed)
    {
      g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_NO_SPACE,
                   "export needs about %.1f MB but the destination has %.1f MB free", needed / 1e6,
                   available / 1e6);
      return FALSE;
    }
  return TRUE;
}

/* Bundle names that jobs of this process have picked and not yet
 * published or given up, keyed by the destination folder's device and
 * inode and the name: two jobs planned in the same second for the same
 * camera must not pick the same name. Main thread only. */
static GHashTable *reserved_names;

/* Names tried before giving up on a destination full of taken ones. */
#define MAX_NAME_ATTEMPTS 1000

static gchar *
reservation_key (const Plan *plan, const gchar *name)
{
  return g_strdup_printf ("%ju:%ju/%s", (uintmax_t) plan->destination_dev, (uintmax_t) plan->destination_ino, name);
}

static void
release_name (const Plan *plan)
{
  g_autofree gchar *key = reservation_key (plan, plan->name);

  if (reserved_names != NULL)
    g_hash_table_remove (reserved_names, key);
}

/* A bundle name neither taken in the destination (by anything at all,
 * a dangling link included) nor reserved by another job; reserves it
 * until release_name(). The worker's rename never replaces what appears
 * there meanwhile. */
static gchar *
pick_name (const Plan *plan, const gchar *base, GError **error)
{
  if (reserved_names == NULL)
    reserved_names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint n = 1; n <= MAX_NAME_ATTEMPTS; n++)
    {
      g_autofree gchar *name = n == 1 ? g_strdup (base) : g_strdup_printf ("%s-%u", base, n);
      g_autofree gchar *key = reservation_key (plan, name);
      struct stat st;

      if (fstatat (plan->destination_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT
          && !g_hash_table_contains (reserved_names, key))
        {
          g_hash_table_add (reserved_names, g_steal_pointer (&key));
          return g_steal_pointer (&name);
        }
    }
  g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_NOT_WRITABLE, "cannot use the destination: %s to %s-%u are all taken",
               base, base, MAX_NAME_ATTEMPTS);
  return NULL;
}

static VigilIncident *
copy_incident (const VigilIncident *incident)
{
  VigilIncident *copy = vigil_incident_new ();

  copy->id = incident->id;
  copy->title = g_strdup (incident->title);
  copy->description = g_strdup (incident->description);
  copy->cameras = g_strdupv (incident->cameras);
  copy->tags = g_strdupv (incident->tags);
  for (guint i = 0; i < incident->notes->len; i++)
    {
      const VigilIncidentNote *note = incident->notes->pdata[i];
      VigilIncidentNote *note_copy = g_new0 (VigilIncidentNote, 1);

      note_copy->time_us = note->time_us;
      note_copy->uid = note->uid;
      note_copy->user = g_strdup (note->user);
      note_copy->text = g_strdup (note->text);
      g_ptr_array_add (copy->notes, note_copy);
    }
  copy->start_us = incident->start_us;
  copy->end_us = incident->end_us;
  copy->pre_roll_us = incident->pre_roll_us;
  copy->post_roll_us = incident->post_roll_us;
  copy->created_us = incident->created_us;
  copy->created_uid = incident->created_uid;
  copy->created_user = g_strdup (incident->created_user);
  copy->closed_us = incident->closed_us;
  copy->released_us = incident->released_us;
  copy->release_reason = g_strdup (incident->release_reason);
  copy->expires_us = incident->expires_us;
  return copy;
}

static Plan *
make_plan (VigilStore *store, VigilSigningKey *key, const gchar *const *private_folders,
           const VigilExportRequest *request, GError **error)
{
  g_autoptr(Plan) plan = g_new0 (Plan, 1);
  g_autofree gchar *base = NULL;
  gboolean any_recording = FALSE;
  struct stat st;

  plan->destination_fd = -1;
  plan->key = key;
  plan->created_us = g_get_real_time ();
  plan->root = g_strdup (vigil_store_get_root (store));
  plan->uid = request->uid;
  plan->user = g_strdup (request->user ? request->user : "");
  plan->cameras = g_ptr_array_new_with_free_func ((GDestroyNotify) camera_plan_free);

  if (request->reason == NULL || vigil_is_blank (request->reason))
    {
      g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_INVALID_ARGUMENT, "an export needs a reason (e.g. the police request)");
      return NULL;
    }
  if (!g_utf8_validate (request->reason, -1, NULL) || strlen (request->reason) > 1000)
    {
      g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_INVALID_ARGUMENT, "the reason must be UTF-8 of at most 1000 bytes");
      return NULL;
    }
  plan->reason = g_strdup (request->reason);
  if (request->incident != NULL)
    {
      gint64 from_us, to_us;

      vigil_incident_get_locked_span (request->incident, &from_us, &to_us);
      if (to_us == 0)
        to_us = plan->created_us;     /* an open incident: up to now */
      plan->incident = copy_incident (request->incident);
      plan->requested_from_us = from_us;
      plan->requested_to_us = to_us;
      base = g_strdup_printf ("incident-%" G_GINT64_FORMAT, request->incident->id);
    }
  else
    {
      g_autofree gchar *stamp = NULL;

      if (request->camera == NULL)
        {
          g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_INVALID_ARGUMENT, "no camera given");
          return NULL;
        }
      if (request->from_us < VIGIL_INCIDENT_MIN_TIME_US || request->from_us >= VIGIL_INCIDENT_MAX_TIME_US
          || request->to_us < VIGIL_INCIDENT_MIN_TIME_US || request->to_us >= VIGIL_INCIDENT_MAX_TIME_US)
        {
          g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_INVALID_ARGUMENT,
                       "the range must lie between 2000 and 2199 (from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT
                       " µs)", request->from_us, request->to_us);
          return NULL;
        }
      stamp = utc_stamp (request->from_us);
      plan->requested_from_us = request->from_us;
      plan->requested_to_us = request->to_us;
      base = g_strdup_printf ("%s-%s", request->camera, stamp);
    }
  if (plan->requested_to_us <= plan->requested_from_us)
    {
      g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_INVALID_ARGUMENT, "the range ends before it starts");
      return NULL;
    }
  /* Unsigned: INT64_MIN .. INT64_MAX must not overflow into a small range. */
  if ((guint64) plan->requested_to_us - (guint64) plan->requested_from_us > (guint64) VIGIL_EXPORT_MAX_RANGE_US)
    {
      g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_RANGE_TOO_LARGE,
                   "the range is %.1f h long; one export covers at most %d h",
                   ((gdouble) plan->requested_to_us - (gdouble) plan->requested_from_us) / 3600e6,
                   (int) (VIGIL_EXPORT_MAX_RANGE_US / G_USEC_PER_SEC / 3600));
      return NULL;
    }
  if (request->incident != NULL)
    {
      for (guint i = 0; request->incident->cameras[i] != NULL; i++)
        if (!plan_camera (store, plan, request->incident->cameras[i], plan->requested_from_us,
                          plan->requested_to_us, error))
          {
            vigil_error_from_store (error, VIGIL_ERROR_UNKNOWN_CAMERA);
            return NULL;
          }
    }
  else if (!plan_camera (store, plan, request->camera, plan->requested_from_us, plan->requested_to_us, error))
    {
      vigil_error_from_store (error, VIGIL_ERROR_UNKNOWN_CAMERA);
      return NULL;
    }
  for (guint i = 0; i < plan->cameras->len; i++)
    any_recording |= ((CameraPlan *) plan->cameras->pdata[i])->segments->len > 0;
  if (!any_recording)
    {
      g_autoptr(GDateTime) from = g_date_time_new_from_unix_local (plan->requested_from_us / G_USEC_PER_SEC);
      g_autoptr(GDateTime) to = g_date_time_new_from_unix_local (plan->requested_to_us / G_USEC_PER_SEC);
      g_autofree gchar *from_text = g_date_time_format (from, "%F %T %Z");
      g_autofree gchar *to_text = g_date_time_format (to, "%F %T %Z");

      g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_NO_RECORDING, "nothing was recorded between %s and %s",
                   from_text, to_text);
      return NULL;
    }
  if (key == NULL)
    {
      g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_FAILED, "vigild has no signing key (see its log)");
      return NULL;
    }
  if (!vigil_export_check_destination (request->destination_fd, request->uid, private_folders, error))
    return NULL;
  /* Our own duplicate: the caller's message and its descriptor go away
   * when the handler returns. */
  plan->destination_fd = fcntl (request->destination_fd, F_DUPFD_CLOEXEC, 3);
  if (plan->destination_fd < 0 || fstat (plan->destination_fd, &st) != 0)
    {
      g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_FAILED, "cannot keep the destination open: %s",
                   g_strerror (errno));
      return NULL;
    }
  plan->destination_dev = st.st_dev;
  plan->destination_ino = st.st_ino;
  plan->destination = vigil_export_describe_folder (plan->destination_fd);
  if (!check_free_space (plan, error))
    return NULL;
  if (!vigil_store_get_audit_head (store, &plan->audit_head_id, &plan->audit_head_sha256, error))
    {
      vigil_error_from_store (error, VIGIL_ERROR_FAILED);
      return NULL;
    }
  /* Last: reserved from here until the job ends (release_name()). */
  plan->name = pick_name (plan, base, error);
  if (plan->name == NULL)
    return NULL;
  return g_steal_pointer (&plan);
}

VigilExportJob *
vigil_export_job_new (VigilStore *store, VigilSigningKey *key, const gchar *const *private_folders,
                      const VigilExportRequest *request, GError **error)
{
  g_autoptr(VigilExportJob) self = NULL;
  Plan *plan;

  g_return_val_if_fail (VIGIL_IS_STORE (store), NULL);
  g_return_val_if_fail (request != NULL, NULL);
  plan = make_plan (store, key, private_folders, request, error);
  if (plan == NULL)
    return NULL;
  self = g_object_new (VIGIL_TYPE_EXPORT_JOB, NULL);
  self->plan = plan;
  self->summary = g_strdup_printf ("%s (%u camera%s, %.1f MB of recording) into %s", plan->name,
                                   plan->cameras->len, plan->cameras->len == 1 ? "" : "s", plan->source_bytes / 1e6,
                                   plan->destination);
  return g_steal_pointer (&self);
}

/* ---- The work (worker thread) ---------------------------------------- */

typedef struct {
  VigilExportJob *job;
  guint64         done_bytes;    /* source bytes of cameras already exported */
  guint64         camera_bytes;  /* source bytes of the camera being exported */
} Progress;

static gboolean
on_progress_idle (gpointer user_data)
{
  VigilExportJob *self = user_data;

  g_mutex_lock (&self->lock);
  self->progress = self->worker_progress;
  self->progress_idle = 0;
  g_mutex_unlock (&self->lock);
  if (self->state == VIGIL_EXPORT_RUNNING)
    g_signal_emit (self, signals[SIGNAL_PROGRESS], 0, self->progress);
  return G_SOURCE_REMOVE;
}

/* Runs on the worker thread. At most one idle is pending at a time, so a
 * fast export does not flood the main loop. */
static void
report_progress (VigilExportJob *self, gdouble fraction)
{
  g_mutex_lock (&self->lock);
  self->worker_progress = CLAMP (fraction, 0.0, 1.0);
  if (self->progress_idle == 0)
    self->progress_idle = g_idle_add_full (G_PRIORITY_DEFAULT, on_progress_idle, g_object_ref (self),
                                           g_object_unref);
  g_mutex_unlock (&self->lock);
}

static void
on_clip_progress (gdouble fraction, gpointer user_data)
{
  Progress *progress = user_data;
  const Plan *plan = progress->job->plan;

  /* Hashing and signing after the clips take a few percent. */
  report_progress (progress->job, 0.95 * (progress->done_bytes + fraction * progress->camera_bytes)
                                  / MAX (plan->source_bytes, 1));
}

/* Hashing the source segments runs next to the clip writer, which reads
 * the same files: on two cores the hashes come almost for free. */
typedef struct {
  GPtrArray    *paths;          /* absolute, borrowed */
  GCancellable *cancellable;
  gchar       **sha256;         /* one per path, filled by the thread */
  guint64      *sizes;
  GError       *error;
} SourceHashes;

static gpointer
hash_sources_thread (gpointer data)
{
  SourceHashes *hashes = data;

  for (guint i = 0; i < hashes->paths->len && hashes->error == NULL; i++)
    hashes->sha256[i] = vigil_sha256_file (hashes->paths->pdata[i], &hashes->sizes[i], hashes->cancellable,
                                           &hashes->error);
  return NULL;
}

static void
source_hashes_clear (SourceHashes *hashes)
{
  if (hashes->sha256 != NULL)
    g_strfreev (hashes->sha256);
  g_free (hashes->sizes);
  g_clear_error (&hashes->error);
}

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
}

/* Hashes and syncs an output the clip writer filled, through its
 * descriptor: what is hashed is what was written, whatever the names. */
static gchar *
finish_output (int fd, const gchar *name, guint64 *out_size, GCancellable *cancellable, GError **error)
{
  g_autofree gchar *sha = vigil_sha256_fd (fd, name, out_size, cancellable, error);

  if (sha == NULL)
    return NULL;
  /* Synced before the rename that publishes the bundle, which must never
   * expose a file whose data is not on disk yet. */
  if (fsync (fd) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot sync %s: %s", name, g_strerror (saved));
      return NULL;
    }
  return g_steal_pointer (&sha);
}

static gboolean
export_camera (VigilExportJob *self, const CameraPlan *camera, VigilExportFolder *folder, Progress *progress,
               VigilManifestWriter *manifest, GError **error)
{
  const Plan *plan = self->plan;
  g_autofree VigilClipPart *parts = g_new0 (VigilClipPart, MAX (camera->segments->len, 1));
  g_autoptr(GPtrArray) absolute = g_ptr_array_new_with_free_func (g_free);
  g_autofree gchar *clip_name = g_strdup_printf ("%s.mp4", camera->name);
  g_autofree gchar *snapshot_name = g_strdup_printf ("%s.jpg", camera->name);
  g_autofree gchar *clip_sha = NULL;
  g_autofree gchar *snapshot_sha = NULL;
  __attribute__ ((cleanup (close_fd))) int clip_fd = -1;
  __attribute__ ((cleanup (close_fd))) int snapshot_fd = -1;
  VigilClipResult result = { 0 };
  guint64 clip_size = 0, snapshot_size = 0;
  SourceHashes hashes = { 0 };
  GThread *hasher = NULL;
  gboolean written;

  vigil_manifest_writer_begin_camera (manifest, camera->name, camera->from_us, camera->to_us);

  /* Nothing at all from this camera in the range: no clip, the manifest
   * says so, and the rest is exported. */
  if (camera->segments->len > 0)
    {
      clip_fd = vigil_export_folder_create_file (folder, clip_name, error);
      if (clip_fd < 0)
        return FALSE;
      snapshot_fd = vigil_export_folder_create_file (folder, snapshot_name, error);
      if (snapshot_fd < 0)
        return FALSE;
      for (guint i = 0; i < camera->segments->len; i++)
        {
          const VigilSegment *segment = camera->segments->pdata[i];
          gchar *path = g_build_filename (plan->root, segment->path, NULL);

          g_ptr_array_add (absolute, path);
          parts[i].path = path;
          parts[i].start_us = segment->start_us;
          parts[i].end_us = segment->end_us;
        }
      progress->camera_bytes = camera->source_bytes;
      hashes.paths = absolute;
      hashes.cancellable = self->cancellable;
      hashes.sha256 = g_new0 (gchar *, absolute->len + 1);
      hashes.sizes = g_new0 (guint64, absolute->len);
      hasher = g_thread_new ("vigil-hash", hash_sources_thread, &hashes);
      written = vigil_clip_write (parts, camera->segments->len, camera->from_us, camera->to_us,
                                  &(VigilClipOutput) { clip_fd, clip_name },
                                  &(VigilClipOutput) { snapshot_fd, snapshot_name }, on_clip_progress, progress,
                                  self->cancellable, &result, error);
      if (!written)
        g_cancellable_cancel (self->cancellable);   /* the bundle fails anyway: stop hashing */
      g_thread_join (hasher);
      if (!written)
        {
          g_prefix_error (error, "camera %s: ", camera->name);
          source_hashes_clear (&hashes);
          return FALSE;
        }
      if (hashes.error != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&hashes.error));
          source_hashes_clear (&hashes);
          return FALSE;
        }
      clip_sha = finish_output (clip_fd, clip_name, &clip_size, self->cancellable, error);
      if (clip_sha != NULL)
        snapshot_sha = finish_output (snapshot_fd, snapshot_name, &snapshot_size, self->cancellable, error);
      if (snapshot_sha == NULL)
        {
          source_hashes_clear (&hashes);
          return FALSE;
        }
      vigil_manifest_writer_add_file (manifest, clip_name, clip_size, clip_sha);
      vigil_manifest_writer_add_file (manifest, snapshot_name, snapshot_size, snapshot_sha);
      vigil_manifest_writer_set_clip (manifest, &(VigilManifestClip) {
        .first_frame_us = result.first_frame_us,
        .end_us = result.end_us,
        .video_frames = result.video_frames,
        .duration_ms = result.duration_ns / 1000000,
        /* Video is always the recorded bytes; G.711 audio cannot go into
         * MP4 and is the one thing an export re-encodes (losslessly). Say so. */
        .audio = !result.has_audio ? "none"
                 : result.audio_transcoded ? "G.711 stored losslessly as ALAC (MP4 cannot hold G.711)" : "copied",
        .clip = clip_name,
        .snapshot = snapshot_name,
        .clip_sha256 = clip_sha,
      });
    }

  for (guint i = 0; i < camera->gaps->len; i++)
    {
      const VigilGap *gap = camera->gaps->pdata[i];
      vigil_manifest_writer_add_gap (manifest, gap->start_us, gap->end_us, gap->reason);
    }
  for (guint i = 0; i < camera->segments->len; i++)
    {
      const VigilSegment *segment = camera->segments->pdata[i];
      vigil_manifest_writer_add_source (manifest, segment->path, segment->start_us, segment->end_us,
                                        hashes.sizes[i], hashes.sha256[i]);
    }
  source_hashes_clear (&hashes);
  vigil_manifest_writer_end_camera (manifest);
  progress->done_bytes += camera->source_bytes;
  report_progress (self, 0.95 * progress->done_bytes / MAX (plan->source_bytes, 1));
  return TRUE;
}

/* manifest.json, its signature and the public key, as vigil_bundle_sign()
 * would write them (the bundle format is evidence/'s), but each created
 * new in the work folder: the whole folder is published at once, so no
 * file needs a temporary name of its own. */
static gboolean
write_signed_manifest (VigilExportFolder *folder, VigilSigningKey *key, const gchar *text, gsize length,
                       gchar **out_sha256, GError **error)
{
  g_autoptr(VigilSha256) sha = vigil_sha256_new ();
  g_autoptr(GBytes) signature = NULL;
  g_autofree gchar *pem = vigil_signing_key_get_public_pem (key);

  signature = vigil_signing_key_sign (key, (const guint8 *) text, length, error);
  if (signature == NULL
      || !vigil_export_folder_write_file (folder, VIGIL_BUNDLE_MANIFEST, text, length, error)
      || !vigil_export_folder_write_file (folder, VIGIL_BUNDLE_SIGNATURE, g_bytes_get_data (signature, NULL),
                                          g_bytes_get_size (signature), error)
      || !vigil_export_folder_write_file (folder, VIGIL_BUNDLE_PUBLIC_KEY, pem, strlen (pem), error))
    return FALSE;
  vigil_sha256_update (sha, (const guint8 *) text, length);
  *out_sha256 = vigil_sha256_finish_hex (sha);
  return TRUE;
}

/* Fills @folder and publishes it under the plan's name. */
static gboolean
run_export (VigilExportJob *self, VigilExportFolder *folder, gchar **out_sha256, GError **error)
{
  const Plan *plan = self->plan;
  g_autofree gchar *fingerprint = vigil_signing_key_get_fingerprint (plan->key);
  g_autoptr(VigilManifestWriter) manifest = NULL;
  g_autofree VigilManifestNote *notes = NULL;
  g_autofree gchar *text = NULL;
  gsize length = 0;
  VigilManifestIncident incident = { 0 };
  Progress progress = { self, 0, 0 };

  if (plan->incident != NULL)
    {
      const VigilIncident *source = plan->incident;

      notes = g_new0 (VigilManifestNote, MAX (source->notes->len, 1));
      for (guint i = 0; i < source->notes->len; i++)
        {
          const VigilIncidentNote *note = source->notes->pdata[i];
          notes[i] = (VigilManifestNote) { note->time_us, note->uid, note->user, note->text };
        }
      incident = (VigilManifestIncident) {
        .id = source->id,
        .title = source->title,
        .description = source->description,
        .cameras = (const gchar *const *) source->cameras,
        .tags = (const gchar *const *) source->tags,
        .start_us = source->start_us,
        .end_us = source->end_us,
        .pre_roll_us = source->pre_roll_us,
        .post_roll_us = source->post_roll_us,
        .created_by = source->created_user,
        .created_us = source->created_us,
        .notes = notes,
        .n_notes = source->notes->len,
      };
    }
  manifest = vigil_manifest_writer_new (&(VigilManifestHeader) {
    .bundle = plan->name,
    .public_key_sha256 = fingerprint,
    .exported_at_us = plan->created_us,
    .uid = plan->uid,
    .user = plan->user,
    .reason = plan->reason,
    .requested_from_us = plan->requested_from_us,
    .requested_to_us = plan->requested_to_us,
    .incident = plan->incident != NULL ? &incident : NULL,
  });
  for (guint i = 0; i < plan->cameras->len; i++)
    if (!export_camera (self, plan->cameras->pdata[i], folder, &progress, manifest, error))
      return FALSE;
  text = vigil_manifest_writer_finish (manifest, plan->audit_head_id, plan->audit_head_sha256, &length);

  return !g_cancellable_set_error_if_cancelled (self->cancellable, error)
         && write_signed_manifest (folder, plan->key, text, length, out_sha256, error)
         && vigil_export_folder_publish (folder, plan->name, plan->uid, error);
}

typedef struct {
  gchar *bundle;
  gchar *sha256;
} Outcome;

static void
outcome_free (Outcome *outcome)
{
  g_free (outcome->bundle);
  g_free (outcome->sha256);
  g_free (outcome);
}

static void
export_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VigilExportJob *self = source;
  const Plan *plan = self->plan;
  g_autoptr(VigilExportFolder) folder = NULL;
  g_autofree gchar *sha256 = NULL;
  g_autofree gchar *where = NULL;
  g_autoptr(GError) error = NULL;
  Outcome *outcome;

  /* A work folder of its own: concurrent jobs never share one, and a
   * failure removes only what this job made. */
  folder = vigil_export_folder_new (plan->destination_fd, &error);
  if (folder == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (!run_export (self, folder, &sha256, &error))
    {
      vigil_export_folder_discard (folder);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* Where the bundle is now, as the kernel sees the destination: for the
   * reply and the log only. */
  where = vigil_export_describe_folder (plan->destination_fd);
  outcome = g_new0 (Outcome, 1);
  outcome->bundle = g_build_filename (where, plan->name, NULL);
  outcome->sha256 = g_steal_pointer (&sha256);
  g_task_return_pointer (task, outcome, (GDestroyNotify) outcome_free);
}

static void
on_export_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VigilExportJob *self = VIGIL_EXPORT_JOB (source);
  g_autoptr(GError) error = NULL;
  Outcome *outcome = g_task_propagate_pointer (G_TASK (result), &error);

  release_name (self->plan);

  if (outcome != NULL)
    {
      self->state = VIGIL_EXPORT_DONE;
      self->progress = 1.0;
      self->bundle = g_steal_pointer (&outcome->bundle);
      self->manifest_sha256 = g_steal_pointer (&outcome->sha256);
      outcome_free (outcome);
      g_message ("export %s done: manifest SHA-256 %s", self->bundle, self->manifest_sha256);
    }
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      self->state = VIGIL_EXPORT_CANCELLED;
      self->error_message = g_strdup ("cancelled");
      g_message ("export %s cancelled; nothing left behind", self->plan->name);
    }
  else
    {
      self->state = VIGIL_EXPORT_FAILED;
      self->error_message = g_strdup (error->message);
      g_warning ("export %s failed: %s", self->plan->name, error->message);
    }
  g_signal_emit (self, signals[SIGNAL_FINISHED], 0);
}

void
vigil_export_job_start (VigilExportJob *self)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (VIGIL_IS_EXPORT_JOB (self));
  g_message ("export %s started", self->summary);
  task = g_task_new (self, self->cancellable, on_export_done, NULL);
  g_task_set_source_tag (task, vigil_export_job_start);
  /* A bundle is either whole or absent: the worker must not be told to
   * stop by GTask itself; it checks the cancellable and cleans up. */
  g_task_set_return_on_cancel (task, FALSE);
  g_task_run_in_thread (task, export_thread);
}

void
vigil_export_job_cancel (VigilExportJob *self)
{
  g_return_if_fail (VIGIL_IS_EXPORT_JOB (self));
  g_cancellable_cancel (self->cancellable);
}

VigilExportState
vigil_export_job_get_state (VigilExportJob *self)
{
  g_return_val_if_fail (VIGIL_IS_EXPORT_JOB (self), VIGIL_EXPORT_FAILED);
  return self->state;
}

gdouble
vigil_export_job_get_progress (VigilExportJob *self)
{
  g_return_val_if_fail (VIGIL_IS_EXPORT_JOB (self), 0);
  return self->progress;
}

const gchar *
vigil_export_job_get_bundle (VigilExportJob *self)
{
  g_return_val_if_fail (VIGIL_IS_EXPORT_JOB (self), NULL);
  return self->bundle;
}

const gchar *
vigil_export_job_get_manifest_sha256 (VigilExportJob *self)
{
  g_return_val_if_fail (VIGIL_IS_EXPORT_JOB (self), NULL);
  return self->manifest_sha256;
}

const gchar *
vigil_export_job_get_error_message (VigilExportJob *self)
{
  g_return_val_if_fail (VIGIL_IS_EXPORT_JOB (self), NULL);
  return self->error_message;
}

const gchar *
vigil_export_job_get_summary (VigilExportJob *self)
{
  g_return_val_if_fail (VIGIL_IS_EXPORT_JOB (self), NULL);
  return self->summary;
}

static void
vigil_export_job_finalize (GObject *object)
{
  VigilExportJob *self = VIGIL_EXPORT_JOB (object);

  if (self->plan != NULL && self->plan->name != NULL)
    release_name (self->plan);   /* a job never started */
  g_clear_pointer (&self->plan, plan_free);
  g_free (self->summary);
  g_clear_object (&self->cancellable);
  g_free (self->bundle);
  g_free (self->manifest_sha256);
  g_free (self->error_message);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (vigil_export_job_parent_class)->finalize (object);
}

static void
vigil_export_job_class_init (VigilExportJobClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vigil_export_job_finalize;
  /* ::progress (gdouble fraction 0..1), on the main context. */
  signals[SIGNAL_PROGRESS] = g_signal_new ("progress", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                           NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_DOUBLE);
  /* ::finished: the state is done, failed or cancelled. */
  signals[SIGNAL_FINISHED] = g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                           NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
vigil_export_job_init (VigilExportJob *self)
{
  g_mutex_init (&self->lock);
  self->cancellable = g_cancellable_new ();
  self->state = VIGIL_EXPORT_RUNNING;
}
