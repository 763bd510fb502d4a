/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The catalog check: see vigil-fsck.h. */
#define _GNU_SOURCE   /* gettid */
#include "vigil-fsck.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <linux/ioprio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vigil-incidents.h"
#include "vigil-recorder.h"
#include "vigil-recovery.h"
#include "vigil-segment-probe.h"

/* Rows read from the catalog at a time: a short read transaction each, so
 * the check never holds back the WAL's checkpoints for long. */
#define ROW_BATCH 256

static const gchar *const kind_names[] = { "missing", "orphan", "unplayable" };

const gchar *
vigil_fsck_kind_to_string (VigilFsckKind kind)
{
  g_return_val_if_fail (kind < G_N_ELEMENTS (kind_names), NULL);
  return kind_names[kind];
}

static void
problem_free (VigilFsckProblem *problem)
{
  g_free (problem->path);
  g_free (problem->detail);
  g_free (problem);
}

VigilFsckReport *
vigil_fsck_report_new (void)
{
  VigilFsckReport *report = g_new0 (VigilFsckReport, 1);

  report->problems = g_ptr_array_new_with_free_func ((GDestroyNotify) problem_free);
  return report;
}

void
vigil_fsck_report_free (VigilFsckReport *report)
{
  if (report == NULL)
    return;
  g_ptr_array_unref (report->problems);
  g_free (report);
}

typedef struct {
  VigilStore      *store;
  gboolean         repair;
  GCancellable    *cancellable;
  VigilFsckReport *report;
  gint64           now_us;
  /* An empty root with rows in the catalog is a disk that is not mounted:
   * then no row is removed for its missing file. */
  gboolean         root_empty;
} Check;

/* Counts a problem, @resolved when repair dealt with it, and lists it
 * while the list has room. */
static void
add_problem (Check *check, VigilFsckKind kind, const gchar *path, gboolean resolved, const gchar *format, ...)
  G_GNUC_PRINTF (5, 6);

static void
add_problem (Check *check, VigilFsckKind kind, const gchar *path, gboolean resolved, const gchar *format, ...)
{
  VigilFsckProblem *problem;
  va_list args;

  check->report->found++;
  check->report->unresolved += !resolved;
  if (check->report->problems->len >= VIGIL_FSCK_MAX_LISTED)
    return;
  problem = g_new0 (VigilFsckProblem, 1);
  problem->kind = kind;
  problem->path = g_strdup (path);
  va_start (args, format);
  problem->detail = g_strdup_vprintf (format, args);
  va_end (args);
  g_ptr_array_add (check->report->problems, problem);
  /* What repair changed is in the log too, as far as it is listed (the
   * summary counts the rest: a lost catalog can mean a million lines). */
  if (check->repair)
    g_message ("fsck: %s: %s", problem->path, problem->detail);
}

static gboolean
is_locked (Check *check, const VigilSegment *segment, gboolean *out_locked, GError **error)
{
  return vigil_store_is_span_locked (check->store, segment->camera, segment->start_us,
                                     MAX (segment->end_us, segment->start_us + 1), check->now_us, out_locked, error);
}

/* Whether @path plays: the cheap header check, and only when that fails
 * the full probe, so that an unusual but sound file is never called
 * unplayable; @out_why says why not (the header check's words, which are
 * the more precise, without the path the report shows anyway). */
static gboolean
plays (const gchar *path, gchar **out_why)
{
  g_autoptr(GError) quick_error = NULL;
  g_autoptr(GError) probe_error = NULL;
  g_auto(VigilSegmentProbe) probe = { 0 };
  const gchar *why;

  if (vigil_segment_probe_quick (path, &quick_error))
    return TRUE;
  if (vigil_segment_probe_file (path, &probe, &probe_error))
    {
      g_debug ("fsck: %s plays although %s", path, quick_error->message);
      return TRUE;
    }
  why = quick_error->message;
  if (g_str_has_prefix (why, path) && g_str_has_prefix (why + strlen (path), ": "))
    why += strlen (path) + 2;
  *out_why = g_strdup (why);
  return FALSE;
}

/* ---- Rows against files ------------------------------------------------- */

static gboolean
check_missing (Check *check, const VigilSegment *listed, GError **error)
{
  g_autoptr(VigilSegment) segment = NULL;
  g_autoptr(GError) lookup_error = NULL;
  gboolean locked = FALSE;

  /* Read again: retention may have deleted it since the batch was read. */
  segment = vigil_store_get_segment (check->store, listed->id, &lookup_error);
  if (segment == NULL)
    {
      if (g_error_matches (lookup_error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_NOT_FOUND))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&lookup_error));
      return FALSE;
    }
  if (segment->state != VIGIL_SEGMENT_COMPLETE && segment->state != VIGIL_SEGMENT_RECOVERED)
    return TRUE;
  check->report->missing++;
  if (!is_locked (check, segment, &locked, error))
    return FALSE;
  if (locked)
    check->report->locked++;
  if (!check->repair)
    add_problem (check, VIGIL_FSCK_MISSING, segment->path, FALSE, "cataloged, but the file is gone%s",
                 locked ? " (under an evidence lock)" : "");
  else if (locked)
    add_problem (check, VIGIL_FSCK_MISSING, segment->path, FALSE,
                 "cataloged, but the file is gone; row left alone: under an evidence lock");
  else if (check->root_empty)
    add_problem (check, VIGIL_FSCK_MISSING, segment->path, FALSE,
                 "cataloged, but the file is gone; row left alone: the storage root is empty (is its disk mounted?)");
  else
    {
      if (!vigil_store_remove_segment (check->store, segment->id, error))
        return FALSE;
      check->report->rows_removed++;
      add_problem (check, VIGIL_FSCK_MISSING, segment->path, TRUE, "cataloged, but the file is gone; row removed");
    }
  return TRUE;
}

static gboolean
check_unplayable_row (Check *check, const VigilSegment *segment, const gchar *why, GError **error)
{
  gboolean locked = FALSE;

  check->report->unplayable++;
  if (!is_locked (check, segment, &locked, error))
    return FALSE;
  if (locked)
    check->report->locked++;
  if (!check->repair)
    add_problem (check, VIGIL_FSCK_UNPLAYABLE, segment->path, FALSE, "cataloged, does not play: %s%s", why,
                 locked ? " (under an evidence lock)" : "");
  else if (locked)
    add_problem (check, VIGIL_FSCK_UNPLAYABLE, segment->path, FALSE,
                 "cataloged, does not play: %s; left alone: under an evidence lock", why);
  else
    {
      /* The file first: a crash in between leaves a row without a file,
       * which the next check removes; never a file lost. */
      if (!vigil_recovery_quarantine (check->store, segment->path, "fsck", why, error)
          || !vigil_store_remove_segment (check->store, segment->id, error))
        return FALSE;
      check->report->quarantined++;
      check->report->rows_removed++;
      add_problem (check, VIGIL_FSCK_UNPLAYABLE, segment->path, TRUE,
                   "cataloged, does not play: %s; moved to the quarantine folder, row removed", why);
    }
  return TRUE;
}

static gboolean
check_row (Check *check, const VigilSegment *segment, GError **error)
{
  g_autofree gchar *path = vigil_store_get_absolute_path (check->store, segment->path);
  g_autofree gchar *why = NULL;
  GStatBuf st;

  if (segment->state != VIGIL_SEGMENT_COMPLETE && segment->state != VIGIL_SEGMENT_RECOVERED)
    {
      /* Being written or deleted by the running vigild; recovery's at the
       * next start if it crashes. */
      check->report->skipped++;
      return TRUE;
    }
  check->report->rows_checked++;
  if (g_lstat (path, &st) != 0)
    {
      int saved = errno;

      if (saved == ENOENT || saved == ENOTDIR)
        return check_missing (check, segment, error);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot look at %s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  if (!S_ISREG (st.st_mode))
    return check_unplayable_row (check, segment, "not a regular file", error);
  if (!plays (path, &why))
    return check_unplayable_row (check, segment, why, error);
  return TRUE;
}

static gboolean
check_rows (Check *check, GError **error)
{
  gint64 after_id = 0;

  for (;;)
    {
      g_autoptr(GPtrArray) batch = vigil_store_list_segments_after (check->store, after_id, ROW_BATCH, error);

      if (batch == NULL)
        return FALSE;
      if (batch->len == 0)
        return TRUE;
      for (guint i = 0; i < batch->len; i++)
        {
          const VigilSegment *segment = batch->pdata[i];

          if (g_cancellable_set_error_if_cancelled (check->cancellable, error))
            return FALSE;
          after_id = segment->id;
          if (!check_row (check, segment, error))
            return FALSE;
        }
    }
}

/* ---- Files against rows ------------------------------------------------- */

/* @relative, a file the catalog had no row for when its folder was read. */
static gboolean
check_file_without_row (Check *check, const gchar *relative, GError **error)
{
  g_autofree gchar *path = vigil_store_get_absolute_path (check->store, relative);
  g_autofree gchar *camera = NULL;
  g_autofree gchar *why = NULL;
  gboolean cataloged = FALSE;
  gint64 start_us;
  GStatBuf st;

  if (!vigil_segment_path_parse (relative, &camera, &start_us))
    return TRUE;   /* not named like a segment: not vigil's */
  if (g_lstat (path, &st) != 0 || !S_ISREG (st.st_mode))
    return TRUE;   /* gone meanwhile, or not a file */
  check->report->files_checked++;
  /* A segment is opened a moment before its row is written: a young file
   * is the recording's. */
  if ((gint64) st.st_mtime * G_USEC_PER_SEC > check->now_us - VIGIL_FSCK_SETTLE_S * G_USEC_PER_SEC)
    {
      check->report->skipped++;
      return TRUE;
    }
  /* Its folder's rows were read a moment ago; look again before acting. */
  if (!vigil_store_has_segment_path (check->store, relative, &cataloged, error))
    return FALSE;
  if (cataloged)
    return TRUE;
  check->report->orphans++;
  if (check->repair)
    {
      VigilRecoveryOutcome outcome;

      if (!vigil_recovery_take_in_file (check->store, relative, "fsck", &outcome, error))
        return FALSE;
      if (outcome == VIGIL_RECOVERY_ADOPTED)
        {
          check->report->adopted++;
          add_problem (check, VIGIL_FSCK_ORPHAN, relative, TRUE, "not cataloged, plays; adopted");
        }
      else if (outcome == VIGIL_RECOVERY_QUARANTINED)
        {
          check->report->unplayable++;
          check->report->quarantined++;
          add_problem (check, VIGIL_FSCK_UNPLAYABLE, relative, TRUE,
                       "not cataloged, does not play; moved to the quarantine folder");
        }
      return TRUE;
    }
  if (plays (path, &why))
    add_problem (check, VIGIL_FSCK_ORPHAN, relative, FALSE, "not cataloged, plays (repair adopts it)");
  else
    {
      check->report->unplayable++;
      add_problem (check, VIGIL_FSCK_UNPLAYABLE, relative, FALSE,
                   "not cataloged, does not play: %s (repair moves it to the quarantine folder)", why);
    }
  return TRUE;
}

/* The files of day folder @relative_folder (sorted) against its rows (one
 * index range, sorted the same way): a merge, not a lookup per file. The
 * rows' own files were looked at by check_rows(). */
static gboolean
check_day_folder (Check *check, const gchar *relative_folder, GPtrArray *names, GError **error)
{
  g_autofree gchar *prefix = g_strconcat (relative_folder, "/", NULL);
  g_autoptr(GPtrArray) rows = vigil_store_list_paths_under (check->store, prefix, error);
  gsize prefix_length = strlen (prefix);
  guint row = 0;

  if (rows == NULL)
    return FALSE;
  for (guint i = 0; i < names->len; i++)
    {
      const gchar *name = names->pdata[i];
      g_autofree gchar *relative = NULL;
      gint order = 1;

      if (g_cancellable_set_error_if_cancelled (check->cancellable, error))
        return FALSE;
      while (row < rows->len && (order = strcmp ((const gchar *) rows->pdata[row] + prefix_length, name)) < 0)
        row++;
      if (row < rows->len && order == 0)
        {
          check->report->files_checked++;
          continue;
        }
      relative = g_strconcat (prefix, name, NULL);
      if (!check_file_without_row (check, relative, error))
        return FALSE;
    }
  return TRUE;
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const gchar *const *) a, *(const gchar *const *) b);
}

/* Subfolders of @relative_folder named by @digits digits (year, month,
 * day), or the .mkv files in it when @digits is 0; sorted, so the check
 * goes through the archive in time order. NULL without an error when the
 * folder went away meanwhile. */
static gboolean
list_folder (Check *check, const gchar *relative_folder, guint digits, GPtrArray **out_names, GError **error)
{
  g_autofree gchar *folder = vigil_store_get_absolute_path (check->store, relative_folder);
  g_autoptr(GError) open_error = NULL;
  g_autoptr(GDir) dir = g_dir_open (folder, 0, &open_error);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const gchar *name;

  *out_names = NULL;
  if (dir == NULL)
    {
      if (g_error_matches (open_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&open_error));
      return FALSE;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      guint i;

      if (digits == 0)
        {
          if (name[0] != '.' && g_str_has_suffix (name, ".mkv"))
            g_ptr_array_add (names, g_strdup (name));
          continue;
        }
      for (i = 0; name[i] != '\0' && g_ascii_isdigit (name[i]); i++)
        ;
      if (i == digits && name[i] == '\0')
        g_ptr_array_add (names, g_strdup (name));
    }
  g_ptr_array_sort (names, compare_names);
  *out_names = g_steal_pointer (&names);
  return TRUE;
}

/* ROOT/CAMERA/YYYY/MM/DD/NAME.mkv: @level 0 is a camera's folder, 3 a day's. */
static gboolean
walk (Check *check, const gchar *relative_folder, guint level, GError **error)
{
  static const guint digits[] = { 4, 2, 2, 0 };
  g_autoptr(GPtrArray) names = NULL;

  if (!list_folder (check, relative_folder, digits[level], &names, error))
    return FALSE;
  if (names == NULL)
    return TRUE;
  if (level == 3)
    return check_day_folder (check, relative_folder, names, error);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree gchar *child = g_build_filename (relative_folder, names->pdata[i], NULL);
      g_autofree gchar *path = NULL;

      if (g_cancellable_set_error_if_cancelled (check->cancellable, error))
        return FALSE;
      path = vigil_store_get_absolute_path (check->store, child);
      if (g_file_test (path, G_FILE_TEST_IS_DIR) && !walk (check, child, level + 1, error))
        return FALSE;
    }
  return TRUE;
}

/* The camera folders under the root: every folder but hidden ones (the
 * quarantine folder among them). */
static GPtrArray *
list_camera_folders (VigilStore *store, GError **error)
{
  const gchar *root = vigil_store_get_root (store);
  g_autoptr(GDir) dir = g_dir_open (root, 0, error);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const gchar *name;

  if (dir == NULL)
    return NULL;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree gchar *path = g_build_filename (root, name, NULL);

      if (name[0] != '.' && g_file_test (path, G_FILE_TEST_IS_DIR))
        g_ptr_array_add (names, g_strdup (name));
    }
  g_ptr_array_sort (names, compare_names);
  return g_steal_pointer (&names);
}

gboolean
vigil_fsck_run (VigilStore *store, gboolean repair, GCancellable *cancellable, VigilFsckReport *report,
                GError **error)
{
  Check check = { store, repair, cancellable, report, g_get_real_time (), FALSE };
  g_autoptr(GPtrArray) cameras = NULL;
  gint64 started_us = g_get_monotonic_time ();

  g_return_val_if_fail (VIGIL_IS_STORE (store), FALSE);
  if ((cameras = list_camera_folders (store, error)) == NULL)
    return FALSE;
  check.root_empty = cameras->len == 0;
  g_message ("fsck: checking the catalog against %s%s", vigil_store_get_root (store), repair ? ", repairing" : "");
  if (!check_rows (&check, error))
    return FALSE;
  for (guint i = 0; i < cameras->len; i++)
    if (!walk (&check, cameras->pdata[i], 0, error))
      return FALSE;
  g_message ("fsck: %" G_GUINT64_FORMAT " rows and %" G_GUINT64_FORMAT " files checked in %.1f s: "
             "%" G_GUINT64_FORMAT " rows without a file, %" G_GUINT64_FORMAT " files without a row, "
             "%" G_GUINT64_FORMAT " unplayable; %" G_GUINT64_FORMAT " adopted, %" G_GUINT64_FORMAT " quarantined, "
             "%" G_GUINT64_FORMAT " rows removed, %" G_GUINT64_FORMAT " left alone under an evidence lock",
             report->rows_checked, report->files_checked, (g_get_monotonic_time () - started_us) / 1e6,
             report->missing, report->orphans, report->unplayable, report->adopted, report->quarantined,
             report->rows_removed, report->locked);
  return TRUE;
}

/* ---- In a thread of its own --------------------------------------------- */

void
vigil_fsck_lower_priority (void)
{
  /* IOPRIO_WHO_PROCESS with 0: the calling thread only. Honoured by the
   * BFQ scheduler (and CFQ before it); others ignore it, which is why the
   * CPU priority goes down too. */
  if (syscall (SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_PRIO_VALUE (IOPRIO_CLASS_IDLE, 0)) != 0)
    g_debug ("fsck: cannot lower the I/O priority: %s", g_strerror (errno));
  if (setpriority (PRIO_PROCESS, gettid (), 19) != 0)
    g_debug ("fsck: cannot lower the CPU priority: %s", g_strerror (errno));
}

typedef struct {
  gchar    *catalog;
  gchar    *root;
  gboolean  repair;
} Job;

static void
job_free (Job *job)
{
  g_free (job->catalog);
  g_free (job->root);
  g_free (job);
}

/* Runs in the check's own thread: not one of GLib's pool, whose threads
 * go on to other work and must not keep the lowered priority. */
static gpointer
run_in_thread (gpointer data)
{
  g_autoptr(GTask) task = data;
  Job *job = g_task_get_task_data (task);
  g_autoptr(VigilFsckReport) report = vigil_fsck_report_new ();
  g_autoptr(VigilStore) store = NULL;
  GError *error = NULL;

  vigil_fsck_lower_priority ();
  store = vigil_store_new (job->catalog, job->root, &error);
  if (store == NULL || !vigil_fsck_run (store, job->repair, g_task_get_cancellable (task), report, &error))
    {
      g_clear_object (&store);
      g_task_return_error (task, error);
      return NULL;
    }
  g_clear_object (&store);
  g_task_return_pointer (task, g_steal_pointer (&report), (GDestroyNotify) vigil_fsck_report_free);
  return NULL;
}

void
vigil_fsck_run_async (const gchar *catalog, const gchar *root, gboolean repair, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  Job *job = g_new0 (Job, 1);

  job->catalog = g_strdup (catalog);
  job->root = g_strdup (root);
  job->repair = repair;
  g_task_set_source_tag (task, vigil_fsck_run_async);
  g_task_set_task_data (task, job, (GDestroyNotify) job_free);
  g_thread_unref (g_thread_new ("vigil-fsck", run_in_thread, task));
}

VigilFsckReport *
vigil_fsck_run_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
