/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilWatchdog: statvfs on the main thread (one cheap syscall), deletion
 * passes and the space reserve on a worker thread with its own VigilStore,
 * one pass at a time. docs/design/recording.md ("A full disk") says why
 * the reserve gets the catalog out of a full disk. */
#include "vigil-watchdog.h"

#include <errno.h>
#include <gio/gio.h>
#include <sys/statvfs.h>

#include "vigil-incidents.h"
#include "vigil-reserve.h"
#include "vigil-retention.h"

#define RATE_WINDOW_US (G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC)
/* A camera's newest segment speaks for its rate for this long. */
#define CAMERA_RATE_FRESH_US (G_GINT64_CONSTANT (600) * G_USEC_PER_SEC)
#define DAY_US (G_GINT64_CONSTANT (86400) * G_USEC_PER_SEC)
/* Segments looked at per round of a deletion pass. */
#define BATCH 64
/* Checks' worth of writing the deletion threshold keeps room for: one
 * for the gap between two checks, one for a pass that is slow to start
 * or to delete (a busy disk), one for a burst above the measured rate. */
#define HEADROOM_PERIODS 3
/* While a full disk keeps cameras waiting, free space is looked at this
 * often: recording resumes within about this long of space coming back. */
#define FULL_POLL_S 1

typedef struct {
  gint64  time_us;          /* monotonic */
  guint64 bytes;
} Written;

typedef struct {            /* a camera's newest completed segment */
  gint64  time_us;          /* monotonic, when it completed */
  gdouble bytes_per_s;      /* its size over its duration */
  gdouble seconds;          /* its duration */
} CameraRate;

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
  GHashTable            *camera_rates;      /* camera → CameraRate */
  guint64                logged_delete_below;  /* the threshold last logged, to log changes only */
  guint                  check_id;
  gboolean               pass_running;
  GCancellable          *cancellable;
  /* A full disk: set by vigil_watchdog_report_full(), cleared by
   * ::space-available. */
  gboolean               space_wanted;
  gint64                 full_since_us;     /* monotonic */
  guint                  poll_id;
  guint                  room_idle_id;
  gchar                 *last_pass_error;   /* warned once while it repeats */
  gchar                 *reserve_problem;   /* the reserve cannot be made, for a reason other than space */
};

G_DEFINE_FINAL_TYPE (VigilWatchdog, vigil_watchdog, G_TYPE_OBJECT)

enum { SIGNAL_DELETED, SIGNAL_SPACE_AVAILABLE, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---- Rates and thresholds --------------------------------------------- */

void
vigil_watchdog_get_thresholds (const VigilWatchdogSettings *settings, guint64 total_bytes,
                               gdouble write_bytes_per_s, gdouble period_s, VigilStorageThresholds *out)
{
  gdouble total = total_bytes;
  gdouble one_period = MAX (write_bytes_per_s, 0) * MAX (period_s, 0);
  gdouble reserve = vigil_reserve_size_for (total_bytes);
  /* The rate's part is bounded: a disk that holds less than a few
   * periods of writing still keeps half of itself for recording. */
  gdouble delete_below = MAX (settings->delete_free_percent / 100 * total, MIN (HEADROOM_PERIODS * one_period, total / 2));
  gdouble band = MAX ((settings->target_free_percent - settings->delete_free_percent) / 100 * total,
                      MIN (one_period, total / 4));

  out->reserve_bytes = (guint64) reserve;
  out->delete_below_bytes = (guint64) MIN (delete_below, total);
  /* The target leaves room for the reserve above the threshold, so that
   * making it again after a pass does not start the next pass. */
  out->target_bytes = (guint64) MIN (delete_below + MAX (band, reserve), total);
  /* Enough for a period's recording (or a reserve's worth, before the
   * rate is known), and never more than the threshold: a pass that
   * reached its target and made the reserve again always leaves room. */
  out->room_bytes = (guint64) MIN (MAX (MIN (one_period, total / 4), reserve), out->delete_below_bytes);
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

/* The rate the disk fills at now: every recording camera's newest
 * segment (known from the first one on, when a small disk needs it), or
 * the last hour's average if that is higher. @out_period_s: the longest
 * the disk goes unchecked, check_seconds or, since every completed
 * segment is checked, the longest segment if that is shorter. */
static gdouble
current_rate (VigilWatchdog *self, gdouble *out_period_s)
{
  GHashTableIter iter;
  gpointer value;
  gint64 now = g_get_monotonic_time ();
  gdouble sum = 0, longest = 0;

  g_hash_table_iter_init (&iter, self->camera_rates);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      CameraRate *rate = value;

      if (now - rate->time_us > CAMERA_RATE_FRESH_US)
        {
          g_hash_table_iter_remove (&iter);
          continue;
        }
      sum += rate->bytes_per_s;
      longest = MAX (longest, rate->seconds);
    }
  *out_period_s = longest > 0 ? MIN (longest, self->settings.check_seconds) : self->settings.check_seconds;
  return MAX (sum, write_rate (self));
}

static gboolean
read_space (const gchar *root, guint64 *out_free, guint64 *out_total)
{
  struct statvfs fs;

  if (statvfs (root, &fs) != 0)
    return FALSE;
  *out_free = (guint64) fs.f_bavail * fs.f_frsize;
  *out_total = (guint64) fs.f_blocks * fs.f_frsize;
  return TRUE;
}

static void
thresholds_now (VigilWatchdog *self, guint64 total_bytes, VigilStorageThresholds *out)
{
  gdouble period_s;
  gdouble rate = current_rate (self, &period_s);

  vigil_watchdog_get_thresholds (&self->settings, total_bytes, rate, period_s, out);
  /* Said when it moves by a tenth: the figures an operator wants when
   * asking why recording was deleted. */
  if (out->delete_below_bytes > self->logged_delete_below * 11 / 10
      || out->delete_below_bytes < self->logged_delete_below * 9 / 10)
    {
      self->logged_delete_below = out->delete_below_bytes;
      g_info ("storage watchdog: %s: %.1f MB; deleting below %.1f MB free, to %.1f MB; reserve %.1f MB "
              "(writing %.2f MB/s, checked every %.0f s)", self->root, total_bytes / 1e6,
              out->delete_below_bytes / 1e6, out->target_bytes / 1e6, out->reserve_bytes / 1e6, rate / 1e6,
              period_s);
    }
}

void
vigil_watchdog_add_written (VigilWatchdog *self, const gchar *camera, guint64 size_bytes, gint64 duration_ns)
{
  Written *entry = g_new0 (Written, 1);
  VigilStorageThresholds thresholds;
  guint64 free_bytes, total_bytes;

  g_return_if_fail (VIGIL_IS_WATCHDOG (self));
  entry->time_us = g_get_monotonic_time ();
  entry->bytes = size_bytes;
  g_queue_push_tail (&self->written, entry);
  self->written_bytes += size_bytes;
  if (duration_ns > 0)
    {
      CameraRate *rate = g_new0 (CameraRate, 1);

      rate->time_us = entry->time_us;
      rate->seconds = duration_ns / 1e9;
      rate->bytes_per_s = size_bytes / rate->seconds;
      g_hash_table_insert (self->camera_rates, g_strdup (camera), rate);
    }
  /* One statvfs: a disk filling faster than check_seconds is caught here. */
  if (!read_space (self->root, &free_bytes, &total_bytes))
    return;
  thresholds_now (self, total_bytes, &thresholds);
  if (free_bytes < thresholds.delete_below_bytes)
    vigil_watchdog_check (self);
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
  gchar                  *root, *catalog;
  VigilStorageThresholds  thresholds;
  gboolean                reserve_wanted;     /* make the reserve if it fits */
  GHashTable             *retention_days, *min_retention_days;   /* copies */
  gint64                  now_us;
  /* Results. */
  guint                   deleted;
  guint64                 deleted_bytes;
  gboolean                only_protected_left;   /* needed space but nothing deletable was left */
  guint64                 reserve_released;      /* bytes the reserve gave back */
  gboolean                reserve_made;
  gchar                  *reserve_problem;       /* could not be made, other than for space */
} Pass;

static void
pass_free (Pass *pass)
{
  g_free (pass->root);
  g_free (pass->catalog);
  g_free (pass->reserve_problem);
  g_clear_pointer (&pass->retention_days, g_hash_table_unref);
  g_clear_pointer (&pass->min_retention_days, g_hash_table_unref);
  g_free (pass);
}

static guint64
free_bytes_of (const gchar *root)
{
  guint64 free_bytes, total_bytes;

  /* A root that cannot be read is not a reason to delete anything. */
  return read_space (root, &free_bytes, &total_bytes) ? free_bytes : G_MAXUINT64;
}

static guint
days_for (GHashTable *table, const gchar *camera)
{
  return table != NULL ? GPOINTER_TO_UINT (g_hash_table_lookup (table, camera)) : 0;
}

/* Gives the reserve's blocks back; TRUE if there were any. */
static gboolean
release_reserve (Pass *pass)
{
  g_autoptr(GError) error = NULL;
  guint64 released = 0;

  if (!vigil_reserve_remove (pass->root, &released, &error))
    g_warning ("storage watchdog: %s", error->message);
  pass->reserve_released += released;
  return released > 0;
}

static gboolean
delete_one (VigilStore *store, Pass *pass, const VigilSegment *segment, GError **error)
{
  g_autoptr(GError) local_error = NULL;

  /* Free space next to nothing, and something to delete: the reserve
   * goes first, so the catalog has blocks for the 'deleting' mark. */
  if (free_bytes_of (pass->root) < pass->thresholds.reserve_bytes)
    release_reserve (pass);
  if (!vigil_retention_delete_segment (store, segment, &local_error))
    {
      /* Someone else took the space since (another camera, another
       * program): whatever reserve is left, and one more try. Retention's
       * steps are each safe to repeat. */
      if (!g_error_matches (local_error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_FULL) || !release_reserve (pass))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      if (!vigil_retention_delete_segment (store, segment, error))
        return FALSE;
    }
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
  if (free_bytes_of (pass->root) >= pass->thresholds.delete_below_bytes)
    return TRUE;
  while (free_bytes_of (pass->root) < pass->thresholds.target_bytes)
    {
      g_autoptr(GPtrArray) candidates = vigil_store_list_deletable_segments (store, NULL, pass->now_us,
                                                                             pass->now_us, BATCH, error);
      gboolean progressed = FALSE;

      if (candidates == NULL)
        return FALSE;
      for (guint i = 0; i < candidates->len && free_bytes_of (pass->root) < pass->thresholds.target_bytes; i++)
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
          /* Nothing may go: the reserve stays too, for the moment
           * something may (an incident released). */
          pass->only_protected_left = TRUE;
          return TRUE;
        }
    }
  return TRUE;
}

/* Makes the reserve whole again once it fits: before recording takes the
 * space back, so the next full disk finds it there. */
static void
make_reserve (Pass *pass)
{
  g_autoptr(GError) error = NULL;
  guint64 have = vigil_reserve_get_size (pass->root);
  guint64 want = pass->thresholds.reserve_bytes;

  if (!pass->reserve_wanted || have == want || (have < want && free_bytes_of (pass->root) < want - have))
    return;
  if (vigil_reserve_set (pass->root, want, &error))
    pass->reserve_made = have < want;
  else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE))
    pass->reserve_problem = g_strdup (error->message);
}

static void
pass_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Pass *pass = task_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilStore) store = vigil_store_new (pass->catalog, pass->root, &error);
  gboolean done = store != NULL && apply_retention (store, pass, &error) && free_space (store, pass, &error);

  make_reserve (pass);
  if (!done)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

/* ---- Main thread ------------------------------------------------------ */

/* The reserve is in place, or cannot be (for a reason a full disk does
 * not explain): recording may take the rest. */
static gboolean
reserve_ready (VigilWatchdog *self, const VigilStorageThresholds *thresholds)
{
  return self->reserve_problem != NULL || vigil_reserve_get_size (self->root) >= thresholds->reserve_bytes;
}

/* While a full disk keeps cameras waiting: is there room to record again? */
static void
check_room (VigilWatchdog *self)
{
  VigilStorageThresholds thresholds;
  guint64 free_bytes, total_bytes;

  if (!self->space_wanted || self->pass_running || !read_space (self->root, &free_bytes, &total_bytes))
    return;
  thresholds_now (self, total_bytes, &thresholds);
  if (free_bytes < thresholds.room_bytes || !reserve_ready (self, &thresholds))
    return;
  g_message ("storage watchdog: %.1f MB free on %s again, %.2f s after the disk was full; recording resumes",
             free_bytes / 1e6, self->root, (g_get_monotonic_time () - self->full_since_us) / 1e6);
  self->space_wanted = FALSE;
  g_clear_handle_id (&self->poll_id, g_source_remove);
  g_clear_pointer (&self->last_pass_error, g_free);
  g_signal_emit (self, signals[SIGNAL_SPACE_AVAILABLE], 0);
}

static void
on_pass_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VigilWatchdog *self = VIGIL_WATCHDOG (source);
  Pass *pass = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;
  g_autofree gchar *details = NULL;
  gboolean done = g_task_propagate_boolean (G_TASK (result), &error);

  self->pass_running = FALSE;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (pass->reserve_released > 0)
    g_message ("storage watchdog: %s was full; released the %.1f MB reserve so the catalog can delete",
               self->root, pass->reserve_released / 1e6);
  if (pass->reserve_made)
    g_info ("storage watchdog: space reserve of %.1f MB in place under %s", pass->thresholds.reserve_bytes / 1e6,
            self->root);
  if (pass->reserve_problem != NULL && self->reserve_problem == NULL)
    {
      g_warning ("storage watchdog: no space reserve, so a full disk may need a person: %s", pass->reserve_problem);
      self->reserve_problem = g_strdup (pass->reserve_problem);
    }
  if (pass->deleted > 0)
    {
      g_message ("storage watchdog: deleted %u segments, %.1f MB, from %s", pass->deleted,
                 pass->deleted_bytes / 1e6, self->root);
      g_signal_emit (self, signals[SIGNAL_DELETED], 0, pass->deleted, pass->deleted_bytes);
    }
  if (!done)
    {
      /* Retried every second while the disk is full: said once. */
      if (g_strcmp0 (error->message, self->last_pass_error) != 0)
        g_warning ("storage watchdog: %s", error->message);
      g_free (self->last_pass_error);
      self->last_pass_error = g_strdup (error->message);
      return;
    }
  details = g_strdup_printf ("%.1f MB free and only locked or protected recording left to delete",
                             free_bytes_of (self->root) / 1e6);
  vigil_alerts_report (self->alerts, "disk-full-locked", self->subject, VIGIL_ALERT_CRITICAL,
                       pass->only_protected_left, 1, details);
  check_room (self);
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
start_pass (VigilWatchdog *self, const VigilStorageThresholds *thresholds)
{
  g_autoptr(GTask) task = NULL;
  Pass *pass;

  if (self->pass_running)
    return;
  pass = g_new0 (Pass, 1);
  pass->root = g_strdup (self->root);
  pass->catalog = g_strdup (self->catalog);
  pass->thresholds = *thresholds;
  pass->reserve_wanted = self->reserve_problem == NULL;
  pass->retention_days = self->settings.retention_days != NULL ? copy_days (self->settings.retention_days) : NULL;
  pass->min_retention_days = copy_days (self->settings.min_retention_days);
  pass->now_us = g_get_real_time ();
  self->pass_running = TRUE;
  task = g_task_new (self, self->cancellable, on_pass_done, NULL);
  g_task_set_task_data (task, pass, (GDestroyNotify) pass_free);
  g_task_run_in_thread (task, pass_thread);
}

static void check (VigilWatchdog *self, gboolean may_announce);

void
vigil_watchdog_check (VigilWatchdog *self)
{
  g_return_if_fail (VIGIL_IS_WATCHDOG (self));
  check (self, TRUE);
}

/* @may_announce: ::space-available may be emitted from here (not from
 * within vigil_watchdog_report_full(), whose caller may be the one that
 * retries on it). */
static void
check (VigilWatchdog *self, gboolean may_announce)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *details = NULL;
  VigilStorageStatus status;
  VigilStorageThresholds thresholds;
  gdouble percent, inode_percent;
  guint64 reserve_have;
  gboolean low, reserve_due;

  if (!vigil_watchdog_get_status (self, &status, &error))
    {
      g_warning ("storage watchdog: %s", error->message);
      return;
    }
  thresholds_now (self, status.total_bytes, &thresholds);
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
   * the threshold; the reserve is made whenever it is missing and fits.
   * All are the same pass, so only one runs at a time. */
  reserve_have = vigil_reserve_get_size (self->root);
  reserve_due = self->reserve_problem == NULL && reserve_have != thresholds.reserve_bytes
                && (reserve_have > thresholds.reserve_bytes
                    || status.free_bytes >= thresholds.reserve_bytes - reserve_have);
  /* A reserve given back is owed: the threshold counts it as used, so a
   * pass makes room for it before recording takes the space. */
  if (self->reserve_problem == NULL && reserve_have < thresholds.reserve_bytes)
    thresholds.delete_below_bytes = MIN (thresholds.delete_below_bytes + thresholds.reserve_bytes - reserve_have,
                                         thresholds.target_bytes);
  if (status.free_bytes < thresholds.delete_below_bytes || self->settings.retention_days != NULL || reserve_due)
    start_pass (self, &thresholds);
  else if (may_announce)
    check_room (self);
}

static gboolean
on_check (gpointer user_data)
{
  vigil_watchdog_check (user_data);
  return G_SOURCE_CONTINUE;
}

static void
on_room_idle (gpointer user_data)
{
  VigilWatchdog *self = user_data;

  self->room_idle_id = 0;
  check_room (self);
}

void
vigil_watchdog_report_full (VigilWatchdog *self)
{
  g_return_if_fail (VIGIL_IS_WATCHDOG (self));
  if (!self->space_wanted)
    {
      g_message ("storage watchdog: a write to %s failed for want of space; freeing space now", self->root);
      self->space_wanted = TRUE;
      self->full_since_us = g_get_monotonic_time ();
      self->poll_id = g_timeout_add_seconds (FULL_POLL_S, on_check, self);
    }
  check (self, FALSE);
  /* The space may be there already (another camera's report freed it):
   * said from the main loop, not from within the reporter's call. */
  if (self->room_idle_id == 0)
    self->room_idle_id = g_idle_add_once (on_room_idle, self);
}

static void
vigil_watchdog_dispose (GObject *object)
{
  VigilWatchdog *self = VIGIL_WATCHDOG (object);

  g_clear_handle_id (&self->check_id, g_source_remove);
  g_clear_handle_id (&self->poll_id, g_source_remove);
  g_clear_handle_id (&self->room_idle_id, g_source_remove);
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
  g_clear_pointer (&self->camera_rates, g_hash_table_unref);
  g_free (self->root);
  g_free (self->catalog);
  g_free (self->subject);
  g_free (self->last_pass_error);
  g_free (self->reserve_problem);
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
  /* ::space-available: after vigil_watchdog_report_full(), there is room
   * to record again (and the reserve is back); emitted once per report. */
  signals[SIGNAL_SPACE_AVAILABLE] = g_signal_new ("space-available", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
vigil_watchdog_init (VigilWatchdog *self)
{
  g_queue_init (&self->written);
  self->camera_rates = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->cancellable = g_cancellable_new ();
  self->first_write_us = g_get_monotonic_time ();
}

VigilWatchdog *
vigil_watchdog_new (VigilAlerts *alerts, const VigilWatchdogSettings *settings)
{
  VigilWatchdog *self = g_object_new (VIGIL_TYPE_WATCHDOG, NULL);

  self->alerts = g_object_ref (alerts);
  self->settings = *settings;
  self->settings.check_seconds = MAX (settings->check_seconds, 1);
  self->root = g_strdup (settings->root);
  self->catalog = g_strdup (settings->catalog);
  self->subject = g_strdup_printf ("storage %s", settings->root);
  self->settings.root = self->root;
  self->settings.catalog = self->catalog;
  self->settings.retention_days = settings->retention_days ? g_hash_table_ref (settings->retention_days) : NULL;
  self->settings.min_retention_days = settings->min_retention_days
                                      ? g_hash_table_ref (settings->min_retention_days) : NULL;
  self->check_id = g_timeout_add_seconds (self->settings.check_seconds, on_check, self);
  return self;
}
