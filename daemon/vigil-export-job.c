/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilExportJob: plan on the main thread, work on a worker thread, report
 * back on the main context. The plan is immutable once the worker runs;
 * the worker touches neither the store nor any GObject but the
 * GCancellable, and hands progress back through an idle source. */
#define _GNU_SOURCE   /* renameat2 */
#include "vigil-export-job.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "vigil-audit.h"
#include "vigil-bundle.h"
#include "vigil-manifest.h"
#include "vigil-clip-writer.h"
#include "vigil-error.h"
#include "vigil-fsync.h"

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
  gchar          *destination;     /* resolved */
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

/* ---- Checking the destination ---------------------------------------- */

/* Folders an export must never write into, even when vigild runs as root
 * and the caller asks for it. */
static const gchar *const system_folders[] = {
  "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root", "/run", "/sbin",
  "/sys", "/usr", "/var/lib", "/var/log", "/var/cache", "/var/spool", "/var/mail", "/var/backups",
};

static gboolean
is_inside (const gchar *path, const gchar *folder)
{
  gsize n = strlen (folder);

  if (n > 1 && folder[n - 1] == '/')
    n--;
  return strncmp (path, folder, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static gboolean
not_writable (GError **error, const gchar *destination, const gchar *why)
{
  g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_NOT_WRITABLE, "export destination %s: %s", destination, why);
  return FALSE;
}

/* Whether @uid may create a folder in one with @st, going by owner and
 * "others" bits (group membership is not looked up: a shared folder
 * should be owned by the operator or be world-writable and sticky). */
static gboolean
uid_may_write (const struct stat *st, gint64 uid)
{
  if (uid == 0)
    return TRUE;
  if ((gint64) st->st_uid == uid)
    return (st->st_mode & S_IWUSR) != 0;
  return (st->st_mode & S_IWOTH) != 0;
}

gboolean
vigil_export_check_destination (const gchar *destination, gint64 uid, const gchar *const *private_folders,
                                gchar **out_resolved, GError **error)
{
  /* One answer for a path that is missing, not a folder, or not the
   * caller's to write: vigild (root) must not tell a caller which paths
   * exist where they cannot look themselves. */
  static const gchar not_yours[] = "not an existing folder that you can write to";
  g_auto(GStrv) parts = NULL;
  g_autofree gchar *resolved = NULL;
  struct stat st;

  if (destination == NULL || *destination == '\0')
    return not_writable (error, "(empty)", "no folder given");
  if (!g_path_is_absolute (destination))
    return not_writable (error, destination, "not an absolute path");
  parts = g_strsplit (destination, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (g_str_equal (parts[i], ".."))
      return not_writable (error, destination, "must not contain “..”");
  resolved = realpath (destination, NULL);
  if (resolved == NULL || g_stat (resolved, &st) != 0 || !S_ISDIR (st.st_mode))
    return not_writable (error, destination, not_yours);
  if (geteuid () == 0 && !uid_may_write (&st, uid))
    return not_writable (error, destination, not_yours);
  if (g_str_equal (resolved, "/"))
    return not_writable (error, destination, "refusing to write into /");
  for (guint i = 0; i < G_N_ELEMENTS (system_folders); i++)
    if (is_inside (resolved, system_folders[i]))
      {
        g_autofree gchar *why = g_strdup_printf ("resolves to %s, inside the system folder %s", resolved,
                                                 system_folders[i]);
        return not_writable (error, destination, why);
      }
  for (guint i = 0; private_folders != NULL && private_folders[i] != NULL; i++)
    {
      g_autofree gchar *folder = realpath (private_folders[i], NULL);

      if (folder != NULL && (is_inside (resolved, folder) || is_inside (folder, resolved)))
        {
          g_autofree gchar *why = g_strdup_printf ("resolves to %s, which holds or is inside vigil's own storage %s",
                                                   resolved, folder);
          return not_writable (error, destination, why);
        }
    }
  if (access (resolved, W_OK | X_OK) != 0)
    return not_writable (error, destination, "vigild cannot write there");
  if (out_resolved != NULL)
    *out_resolved = g_steal_pointer (&resolved);
  return TRUE;
}

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

  if (statvfs (plan->destination, &fs) != 0)
    return not_writable (error, plan->destination, g_strerror (errno));
  available = (guint64) fs.f_bavail * fs.f_frsize;
  if (available < needed)
    {
      g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_NO_SPACE,
                   "export needs about %.1f MB but %s has %.1f MB free", needed / 1e6, plan->destination,
                   available / 1e6);
      return FALSE;
    }
  return TRUE;
}

/* Bundle folders ("DEST/NAME") that jobs of this process have picked and
 * not yet published or given up: two jobs planned in the same second for
 * the same camera must not pick the same name. Main thread only. */
static GHashTable *reserved_names;

static void
release_name (const gchar *destination, const gchar *name)
{
  g_autofree gchar *path = g_build_filename (destination, name, NULL);

  if (reserved_names != NULL)
    g_hash_table_remove (reserved_names, path);
}

/* A bundle name neither taken in the destination nor reserved by another
 * job; reserves it until release_name(). */
static gchar *
pick_name (const gchar *destination, const gchar *base)
{
  if (reserved_names == NULL)
    reserved_names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint n = 1;; n++)
    {
      g_autofree gchar *name = n == 1 ? g_strdup (base) : g_strdup_printf ("%s-%u", base, n);
      g_autofree gchar *path = g_build_filename (destination, name, NULL);

      if (!g_file_test (path, G_FILE_TEST_EXISTS) && !g_hash_table_contains (reserved_names, path))
        {
          g_hash_table_add (reserved_names, g_steal_pointer (&path));
          return g_steal_pointer (&name);
        }
    }
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
  if (!vigil_export_check_destination (request->destination, request->uid, private_folders, &plan->destination,
                                       error)
      || !check_free_space (plan, error))
    return NULL;
  if (!vigil_store_get_audit_head (store, &plan->audit_head_id, &plan->audit_head_sha256, error))
    {
      vigil_error_from_store (error, VIGIL_ERROR_FAILED);
      return NULL;
    }
  /* Last: reserved from here until the job ends (release_name()). */
  plan->name = pick_name (plan->destination, base);
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

static gboolean
export_camera (VigilExportJob *self, const CameraPlan *camera, const gchar *folder, Progress *progress,
               VigilManifestWriter *manifest, GError **error)
{
  const Plan *plan = self->plan;
  g_autofree VigilClipPart *parts = g_new0 (VigilClipPart, MAX (camera->segments->len, 1));
  g_autoptr(GPtrArray) absolute = g_ptr_array_new_with_free_func (g_free);
  g_autofree gchar *clip_name = g_strdup_printf ("%s.mp4", camera->name);
  g_autofree gchar *snapshot_name = g_strdup_printf ("%s.jpg", camera->name);
  g_autofree gchar *clip_path = g_build_filename (folder, clip_name, NULL);
  g_autofree gchar *snapshot_path = g_build_filename (folder, snapshot_name, NULL);
  g_autofree gchar *clip_sha = NULL;
  g_autofree gchar *snapshot_sha = NULL;
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
      {
        VigilClipOutput clip_out = { g_open (clip_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644),
                                     clip_name };
        VigilClipOutput snapshot_out = { g_open (snapshot_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                                 0644), snapshot_name };

        if (clip_out.fd < 0 || snapshot_out.fd < 0)
          {
            int saved = errno;
            g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot create %s: %s",
                         clip_out.fd < 0 ? clip_name : snapshot_name, g_strerror (saved));
            written = FALSE;
          }
        else
          written = vigil_clip_write (parts, camera->segments->len, camera->from_us, camera->to_us, &clip_out,
                                      &snapshot_out, on_clip_progress, progress, self->cancellable, &result, error);
        if (clip_out.fd >= 0)
          close (clip_out.fd);
        if (snapshot_out.fd >= 0)
          close (snapshot_out.fd);
      }
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
      clip_sha = vigil_sha256_file (clip_path, &clip_size, self->cancellable, error);
      if (clip_sha != NULL)
        snapshot_sha = vigil_sha256_file (snapshot_path, &snapshot_size, self->cancellable, error);
      /* Synced before the rename that publishes the bundle, which must
       * never expose a file whose data is not on disk yet. */
      if (snapshot_sha == NULL || !vigil_fsync_path (clip_path, error) || !vigil_fsync_path (snapshot_path, error))
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

static gboolean
write_manifest (const gchar *folder, const gchar *text, gsize length, gchar **out_sha256, GError **error)
{
  g_autofree gchar *path = g_build_filename (folder, VIGIL_BUNDLE_MANIFEST, NULL);
  g_autoptr(VigilSha256) sha = vigil_sha256_new ();

  if (!g_file_set_contents_full (path, text, (gssize) length, G_FILE_SET_CONTENTS_CONSISTENT, 0644, error))
    return FALSE;
  vigil_sha256_update (sha, (const guint8 *) text, length);
  *out_sha256 = vigil_sha256_finish_hex (sha);
  return TRUE;
}

static void
remove_tree (const gchar *folder)
{
  g_autoptr(GDir) dir = g_dir_open (folder, 0, NULL);
  const gchar *name;

  if (dir == NULL)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree gchar *path = g_build_filename (folder, name, NULL);
      g_unlink (path);
    }
  g_rmdir (folder);
}

/* Hands the finished bundle to the operator who asked for it, when vigild
 * runs as root: they must be able to copy and delete it. */
static void
give_to_caller (const gchar *folder, gint64 uid)
{
  g_autoptr(GDir) dir = NULL;
  const gchar *name;

  if (geteuid () != 0 || uid <= 0)
    return;
  dir = g_dir_open (folder, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree gchar *path = g_build_filename (folder, name, NULL);
      if (lchown (path, (uid_t) uid, (gid_t) -1) != 0)
        g_debug ("export: cannot give %s to uid %" G_GINT64_FORMAT ": %s", path, uid, g_strerror (errno));
    }
  if (lchown (folder, (uid_t) uid, (gid_t) -1) != 0)
    g_debug ("export: cannot give %s to uid %" G_GINT64_FORMAT ": %s", folder, uid, g_strerror (errno));
}

/* Fills the work folder @partial (made by the caller) and publishes it as
 * @final, never over anything already there. */
static gboolean
run_export (VigilExportJob *self, const gchar *partial, const gchar *final, gchar **out_sha256, GError **error)
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
    if (!export_camera (self, plan->cameras->pdata[i], partial, &progress, manifest, error))
      return FALSE;
  text = vigil_manifest_writer_finish (manifest, plan->audit_head_id, plan->audit_head_sha256, &length);

  if (g_cancellable_set_error_if_cancelled (self->cancellable, error)
      || !write_manifest (partial, text, length, out_sha256, error)
      || !vigil_bundle_sign (partial, plan->key, error))
    return FALSE;
  give_to_caller (partial, plan->uid);
  /* RENAME_NOREPLACE: whatever appeared at @final meanwhile stays. */
  if (renameat2 (AT_FDCWD, partial, AT_FDCWD, final, RENAME_NOREPLACE) != 0
      && !((errno == EINVAL || errno == ENOSYS) && !g_file_test (final, G_FILE_TEST_EXISTS)
           && g_rename (partial, final) == 0))
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot rename %s to %s: %s", partial, final,
                   g_strerror (saved));
      return FALSE;
    }
  return vigil_fsync_path (plan->destination, error);
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
  /* A work folder of its own, made with a random name: concurrent jobs
   * never share one, and a failure removes only what this job made. */
  g_autofree gchar *partial_template = g_strdup_printf (".%s.XXXXXX.partial", plan->name);
  g_autofree gchar *partial = g_build_filename (plan->destination, partial_template, NULL);
  g_autofree gchar *final = g_build_filename (plan->destination, plan->name, NULL);
  g_autofree gchar *sha256 = NULL;
  g_autoptr(GError) error = NULL;
  Outcome *outcome;

  if (g_mkdtemp_full (partial, 0750) == NULL)
    {
      int saved = errno;
      g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved), "cannot create a folder in %s: %s",
                               plan->destination, g_strerror (saved));
      return;
    }
  if (!run_export (self, partial, final, &sha256, &error))
    {
      remove_tree (partial);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  outcome = g_new0 (Outcome, 1);
  outcome->bundle = g_steal_pointer (&final);
  outcome->sha256 = g_steal_pointer (&sha256);
  g_task_return_pointer (task, outcome, (GDestroyNotify) outcome_free);
}

static void
on_export_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VigilExportJob *self = VIGIL_EXPORT_JOB (source);
  g_autoptr(GError) error = NULL;
  Outcome *outcome = g_task_propagate_pointer (G_TASK (result), &error);

  release_name (self->plan->destination, self->plan->name);

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
    release_name (self->plan->destination, self->plan->name);   /* a job never started */
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
