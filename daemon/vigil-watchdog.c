/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilWatchdog: statvfs on the main thread (one cheap syscall), deletion
 * passes on a worker thread with their own VigilStore, one at a time. */
#include "vigil-watchdog.h"

#include <errno.h>
#include <gio/gio.h>
#include <sys/statvfs.h>

#include "vigil-incidents.h"
#include "vigil-retention.h"

#define RATE_WINDOW_US (G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC)
#define DAY_US (G_GINT64_CONSTANT (86400) * G_USEC_PER_SEC)
/* Segments looked at per round of a deletion pass. */
#define BATCH 64

typedef struct {
  gint64  time_us;          /* monotonic */
  guint64 bytes;
} Written;

struct _VigilWatchdog
{
  GObject                parent_instance;
  VigilAlerts           *alerts;
  gchar                 *root;
  gchar                 *catalog;
  gchar                 *subject;           /* "storage ROOT" */
  VigilWatchdogSettings  settings;          /* strings and tables owned here */
  GQueue                 written;           /* Written, oldest first, last hour */
  guint64                written_bytes;     /* sum over written */
  gint64                 first_write_us;    /* monotonic, when measuring began */
  guint                  check_id;
  gboolean               pass_running;
  GCancellable          *cancellable;
};

G_DEFINE_FINAL_TYPE (VigilWatchdog, vigil_watchdog, G_TYPE_OBJECT)

enum { SIGNAL_DELETED, N_SIGNALS };
static guint signals[N_SIGNALS];

void
vigil_watchdog_add_written (VigilWatchdog *self, guint64 size_bytes)
{
  Written *entry = g_new0 (Written, 1);

  g_return_if_fail (VIGIL_IS_WATCHDOG (self));
  entry->time_us = g_get_monotonic_time ();
  entry->bytes = size_bytes;
  g_queue_push_tail (&self->written, entry);
  self->written_bytes += size_bytes;
}

static gdouble
write_rate (VigilWatchdog *self)
{
  gint64 now = g_get_monotonic_time ();
  gint64 window;

  while (self->written.length > 0 && now - ((Written *) g_queue_peek_head (&self->written))->time_us > RATE_WINDOW_US)
    {
      Written *old = g_queue_pop_head (&self->written);
      self->written_bytes -= old->bytes;
      g_free (old);
    }
  window = MIN (now - self->first_write_us, RATE_WINDOW_US);
  /* Under a minute of history says little about the rate. */
  if (window < 60 * G_USEC_PER_SEC || self->written_bytes == 0)
    return 0;
  return self->written_bytes / (window / 1e6);
}

gboolean
vigil_watchdog_get_status (VigilWatchdog *self, VigilStorageStatus *out_status, GError **error)
{
  struct statvfs fs;

  g_return_val_if_fail (VIGIL_IS_WATCHDOG (self), FALSE);
  if (statvfs (self->root, &fs) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "statvfs %s: %s", self->root,
                   g_strerror (saved));
      return FALSE;
    }
  out_status->free_bytes = (guint64) fs.f_bavail * fs.f_frsize;
  out_status->total_bytes = (guint64) fs.f_blocks * fs.f_frsize;
  out_status->free_inodes = fs.f_favail;
  out_status->total_inodes = fs.f_files;
  out_status->write_bytes_per_s = write_rate (self);
  out_status->hours_left = out_status->write_bytes_per_s > 0
                           ? out_status->free_bytes / out_status->write_bytes_per_s / 3600 : -1;
  return TRUE;
}

/* ---- The deletion pass (worker thread) ------------------------------- */

typedef struct {
  gchar      *root, *catalog;
  gdouble     target_free_percent;
  gdouble     delete_free_percent;
  GHashTable *retention_days, *min_retention_days;   /* copies */
  gint64      now_us;
  /* Results. */
  guint       deleted;
  guint64     deleted_bytes;
  gboolean    only_protected_left;   /* needed space but nothing deletable was left */
} Pass;

static void
pass_free (Pass *pass)
{
  g_free (pass->root);
  g_free (pass->catalog);
  g_clear_pointer (&pass->retention_days, g_hash_table_unref);
  g_clear_pointer (&pass->min_retention_days, g_hash_table_unref);
  g_free (pass);
}

static gdouble
free_percent (const gchar *root)
{
  struct statvfs fs;

  if (statvfs (root, &fs) != 0 || fs.f_blocks == 0)
    return 100;
  return 100.0 * fs.f_bavail / fs.f_blocks;
}

static guint
days_for (GHashTable *table, const gchar *camera)
{
  return table != NULL ? GPOINTER_TO_UINT (g_hash_table_lookup (table, camera)) : 0;
}

static gboolean
delete_one (VigilStore *store, Pass *pass, const VigilSegment *segment, GError **error)
{
  if (!vigil_retention_delete_segment (store, segment, error))
    return FALSE;
  pass->deleted++;
  pass->deleted_bytes += segment->size_bytes;
  g_debug ("watchdog: deleted %s (%" G_GUINT64_FORMAT " bytes)", segment->path, segment->size_bytes);
  return TRUE;
}

/* Retention by age: every camera's segments older than its retention. */
static gboolean
apply_retention (VigilStore *store, Pass *pass, GError **error)
{
  GHashTableIter iter;
  gpointer camera, days;

  if (pass->retention_days == NULL)
    return TRUE;
  g_hash_table_iter_init (&iter, pass->retention_days);
  while (g_hash_table_iter_next (&iter, &camera, &days))
    {
      g_autoptr(GPtrArray) old = NULL;

      if (GPOINTER_TO_UINT (days) == 0)
        continue;
      old = vigil_store_list_deletable_segments (store, camera, pass->now_us - GPOINTER_TO_UINT (days) * DAY_US,
                                                 pass->now_us, 0, error);
      if (old == NULL)
        return FALSE;
      for (guint i = 0; i < old->len; i++)
        if (!delete_one (store, pass, old->pdata[i], error))
          return FALSE;
    }
  return TRUE;
}

/* Oldest unlocked segments first, across cameras, until the target. */
static gboolean
free_space (VigilStore *store, Pass *pass, GError **error)
{
  if (free_percent (pass->root) >= pass->delete_free_percent)
    return TRUE;
  while (free_percent (pass->root) < pass->target_free_percent)
    {
      g_autoptr(GPtrArray) candidates = vigil_store_list_deletable_segments (store, NULL, pass->now_us,
                                                                             pass->now_us, BATCH, error);
      gboolean progressed = FALSE;

      if (candidates == NULL)
        return FALSE;
      for (guint i = 0; i < candidates->len && free_percent (pass->root) < pass->target_free_percent; i++)
        {
          const VigilSegment *segment = candidates->pdata[i];
          guint min_days = days_for (pass->min_retention_days, segment->camera);

          if (min_days > 0 && segment->end_us > pass->now_us - min_days * DAY_US)
            continue;
          if (!delete_one (store, pass, segment, error))
            return FALSE;
          progressed = TRUE;
        }
      if (!progressed)
        {
          pass->only_protected_left = TRUE;
          return TRUE;
        }
    }
  return TRUE;
}

static void
pass_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Pass *pass = task_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilStore) store = vigil_store_new (pass->catalog, pass->root, &error);

  if (store == NULL || !apply_retention (store, pass, &error) || !free_space (store, pass, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
on_pass_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VigilWatchdog *self = VIGIL_WATCHDOG (source);
  Pass *pass = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;
  g_autofree gchar *details = NULL;

  self->pass_running = FALSE;
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("storage watchdog: %s", error->message);
      return;
    }
  if (pass->deleted > 0)
    {
      g_message ("storage watchdog: deleted %u segments, %.1f MB, from %s", pass->deleted,
                 pass->deleted_bytes / 1e6, self->root);
      g_signal_emit (self, signals[SIGNAL_DELETED], 0, pass->deleted, pass->deleted_bytes);
    }
  details = g_strdup_printf ("%.1f %% free and only locked or protected recording left to delete",
                             free_percent (self->root));
  vigil_alerts_report (self->alerts, "disk-full-locked", self->subject, VIGIL_ALERT_CRITICAL,
                       pass->only_protected_left, 1, details);
}

static GHashTable *
copy_days (GHashTable *table)
{
  GHashTable *copy = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter iter;
  gpointer key, value;

  if (table == NULL)
    return copy;
  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_hash_table_insert (copy, g_strdup (key), value);
  return copy;
}

static void
start_pass (VigilWatchdog *self)
{
  g_autoptr(GTask) task = NULL;
  Pass *pass;

  if (self->pass_running)
    return;
  pass = g_new0 (Pass, 1);
  pass->root = g_strdup (self->root);
  pass->catalog = g_strdup (self->catalog);
  pass->target_free_percent = self->settings.target_free_percent;
  pass->delete_free_percent = self->settings.delete_free_percent;
  pass->retention_days = copy_days (self->settings.retention_days);
  pass->min_retention_days = copy_days (self->settings.min_retention_days);
  pass->now_us = g_get_real_time ();
  self->pass_running = TRUE;
  task = g_task_new (self, self->cancellable, on_pass_done, NULL);
  g_task_set_task_data (task, pass, (GDestroyNotify) pass_free);
  g_task_run_in_thread (task, pass_thread);
}

void
vigil_watchdog_check (VigilWatchdog *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *details = NULL;
  VigilStorageStatus status;
  gdouble percent, inode_percent;
  gboolean low;

  g_return_if_fail (VIGIL_IS_WATCHDOG (self));
  if (!vigil_watchdog_get_status (self, &status, &error))
    {
      g_warning ("storage watchdog: %s", error->message);
      return;
    }
  percent = status.total_bytes > 0 ? 100.0 * status.free_bytes / status.total_bytes : 100;
  inode_percent = status.total_inodes > 0 ? 100.0 * status.free_inodes / status.total_inodes : 100;
  low = percent < self->settings.warn_free_percent || inode_percent < self->settings.min_free_inodes_percent
        || (self->settings.warn_free_hours > 0 && status.hours_left >= 0
            && status.hours_left < self->settings.warn_free_hours);
  if (status.hours_left >= 0)
    details = g_strdup_printf ("%.1f %% free (%.1f GB), %.1f %% of inodes; %.1f h of recording left at %.2f MB/s",
                               percent, status.free_bytes / 1e9, inode_percent, status.hours_left,
                               status.write_bytes_per_s / 1e6);
  else
    details = g_strdup_printf ("%.1f %% free (%.1f GB), %.1f %% of inodes", percent, status.free_bytes / 1e9,
                               inode_percent);
  vigil_alerts_report (self->alerts, "disk-low", self->subject, VIGIL_ALERT_WARNING, low, 1, details);
  /* Retention by age runs on every check; deletion for space only below
   * the threshold. Both are the same pass, so only one runs at a time. */
  if (percent < self->settings.delete_free_percent || self->settings.retention_days != NULL)
    start_pass (self);
}

static gboolean
on_check (gpointer user_data)
{
  vigil_watchdog_check (user_data);
  return G_SOURCE_CONTINUE;
}

static void
vigil_watchdog_dispose (GObject *object)
{
  VigilWatchdog *self = VIGIL_WATCHDOG (object);

  g_clear_handle_id (&self->check_id, g_source_remove);
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->alerts);
  G_OBJECT_CLASS (vigil_watchdog_parent_class)->dispose (object);
}

static void
vigil_watchdog_finalize (GObject *object)
{
  VigilWatchdog *self = VIGIL_WATCHDOG (object);

  g_queue_clear_full (&self->written, g_free);
  g_free (self->root);
  g_free (self->catalog);
  g_free (self->subject);
  g_clear_pointer (&self->settings.retention_days, g_hash_table_unref);
  g_clear_pointer (&self->settings.min_retention_days, g_hash_table_unref);
  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (vigil_watchdog_parent_class)->finalize (object);
}

static void
vigil_watchdog_class_init (VigilWatchdogClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = vigil_watchdog_dispose;
  G_OBJECT_CLASS (klass)->finalize = vigil_watchdog_finalize;
  /* ::deleted (guint segments, guint64 bytes): a pass deleted files. */
  signals[SIGNAL_DELETED] = g_signal_new ("deleted", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                          NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_UINT64);
}

static void
vigil_watchdog_init (VigilWatchdog *self)
{
  g_queue_init (&self->written);
  self->cancellable = g_cancellable_new ();
  self->first_write_us = g_get_monotonic_time ();
}

VigilWatchdog *
vigil_watchdog_new (VigilAlerts *alerts, const VigilWatchdogSettings *settings)
{
  VigilWatchdog *self = g_object_new (VIGIL_TYPE_WATCHDOG, NULL);

  self->alerts = g_object_ref (alerts);
  self->settings = *settings;
  self->root = g_strdup (settings->root);
  self->catalog = g_strdup (settings->catalog);
  self->subject = g_strdup_printf ("storage %s", settings->root);
  self->settings.root = self->root;
  self->settings.catalog = self->catalog;
  self->settings.retention_days = settings->retention_days ? g_hash_table_ref (settings->retention_days) : NULL;
  self->settings.min_retention_days = settings->min_retention_days
                                      ? g_hash_table_ref (settings->min_retention_days) : NULL;
  self->check_id = g_timeout_add_seconds (MAX (settings->check_seconds, 1), on_check, self);
  return self;
}
