/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Crash recovery: see vigil-recovery.h for the rules. */
#include "vigil-recovery.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "vigil-fsync.h"
#include "vigil-recorder.h"
#include "vigil-segment-probe.h"

/* Best effort: recovery goes on if a folder cannot be synced; the next
 * start finds the same state again. */
static void
fsync_folder (const gchar *folder)
{
  g_autoptr(GError) error = NULL;

  if (!vigil_fsync_path (folder, &error))
    g_debug ("recovery: %s", error->message);
}

gboolean
vigil_recovery_quarantine (VigilStore *store, const gchar *relative_path, const gchar *who, const gchar *why,
                           GError **error)
{
  g_autofree gchar *from = vigil_store_get_absolute_path (store, relative_path);
  g_autofree gchar *to = g_build_filename (vigil_store_get_root (store), VIGIL_QUARANTINE_FOLDER,
                                           relative_path, NULL);
  g_autofree gchar *to_folder = g_path_get_dirname (to);
  g_autofree gchar *from_folder = g_path_get_dirname (from);

  if (g_mkdir_with_parents (to_folder, 0750) != 0 || g_rename (from, to) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot quarantine %s: %s", from,
                   g_strerror (saved));
      return FALSE;
    }
  fsync_folder (to_folder);
  fsync_folder (from_folder);
  g_warning ("%s: %s is unreadable (%s); moved to %s", who, relative_path, why, to);
  return TRUE;
}

static guint64
file_size (const gchar *path)
{
  GStatBuf st;

  return g_stat (path, &st) == 0 ? (guint64) st.st_size : 0;
}

static gboolean
recover_writing_rows (VigilStore *store, VigilRecoveryReport *report, GError **error)
{
  g_autoptr(GPtrArray) rows = vigil_store_list_segments_in_state (store, VIGIL_SEGMENT_WRITING, error);

  if (rows == NULL)
    return FALSE;
  for (guint i = 0; i < rows->len; i++)
    {
      VigilSegment *segment = rows->pdata[i];
      g_autofree gchar *path = vigil_store_get_absolute_path (store, segment->path);
      g_auto(VigilSegmentProbe) probe = { 0 };
      g_autoptr(GError) probe_error = NULL;

      if (!g_file_test (path, G_FILE_TEST_EXISTS))
        {
          /* Cataloged as opened, but no byte reached the disk. */
          if (!vigil_store_remove_segment (store, segment->id, error))
            return FALSE;
          report->dropped_rows++;
          continue;
        }
      if (!vigil_segment_probe_file (path, &probe, &probe_error))
        {
          if (!vigil_recovery_quarantine (store, segment->path, "recovery", probe_error->message, error)
              || !vigil_store_remove_segment (store, segment->id, error))
            return FALSE;
          report->quarantined++;
          continue;
        }
      segment->end_us = segment->start_us + probe.media_duration_ns / 1000;
      segment->media_duration_ns = probe.media_duration_ns;
      segment->size_bytes = file_size (path);
      segment->frames = probe.frames;
      segment->keyframes = probe.keyframes;
      g_free (segment->codec);
      segment->codec = g_strdup (probe.codec);
      segment->state = VIGIL_SEGMENT_RECOVERED;
      if (!vigil_store_finish_segment (store, segment, error))
        return FALSE;
      g_debug ("recovery: %s recovered: %" G_GUINT64_FORMAT " frames, %.1f s", segment->path,
                 probe.frames, probe.media_duration_ns / 1e9);
      report->recovered++;
    }
  return TRUE;
}

static gboolean
finish_deletions (VigilStore *store, VigilRecoveryReport *report, GError **error)
{
  g_autoptr(GPtrArray) rows = vigil_store_list_segments_in_state (store, VIGIL_SEGMENT_DELETING, error);

  if (rows == NULL)
    return FALSE;
  for (guint i = 0; i < rows->len; i++)
    {
      VigilSegment *segment = rows->pdata[i];
      g_autofree gchar *path = vigil_store_get_absolute_path (store, segment->path);
      g_autofree gchar *folder = g_path_get_dirname (path);

      if (g_unlink (path) != 0 && errno != ENOENT)
        {
          int saved = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot delete %s: %s", path,
                       g_strerror (saved));
          return FALSE;
        }
      fsync_folder (folder);
      if (!vigil_store_remove_segment (store, segment->id, error))
        return FALSE;
      report->deleted++;
    }
  return TRUE;
}

gboolean
vigil_recovery_take_in_file (VigilStore *store, const gchar *relative_path, const gchar *who,
                             VigilRecoveryOutcome *out_outcome, GError **error)
{
  g_autofree gchar *path = vigil_store_get_absolute_path (store, relative_path);
  g_autofree gchar *camera = NULL;
  g_auto(VigilSegmentProbe) probe = { 0 };
  g_autoptr(GError) probe_error = NULL;
  VigilSegment segment = { 0 };
  gint64 start_us;

  *out_outcome = VIGIL_RECOVERY_LEFT_ALONE;
  if (!vigil_segment_path_parse (relative_path, &camera, &start_us))
    {
      g_debug ("%s: leaving %s alone: not a vigil segment name", who, relative_path);
      return TRUE;
    }
  if (!vigil_segment_probe_file (path, &probe, &probe_error))
    {
      if (!vigil_recovery_quarantine (store, relative_path, who, probe_error->message, error))
        return FALSE;
      *out_outcome = VIGIL_RECOVERY_QUARANTINED;
      return TRUE;
    }
  if (!vigil_store_add_camera (store, camera, error))
    return FALSE;
  segment.camera = camera;
  segment.path = (gchar *) relative_path;
  segment.start_us = start_us;
  segment.end_us = start_us + probe.media_duration_ns / 1000;
  segment.media_duration_ns = probe.media_duration_ns;
  segment.size_bytes = file_size (path);
  segment.frames = probe.frames;
  segment.keyframes = probe.keyframes;
  segment.codec = probe.codec;
  segment.state = VIGIL_SEGMENT_RECOVERED;
  if (vigil_store_adopt_segment (store, &segment, error) == 0)
    return FALSE;
  g_debug ("%s: adopted %s (%" G_GUINT64_FORMAT " frames)", who, relative_path, probe.frames);
  *out_outcome = VIGIL_RECOVERY_ADOPTED;
  return TRUE;
}

/* ---- Files newer than each camera's newest segment ---------------------- */

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const gchar *const *) a, *(const gchar *const *) b);
}

/* The names in @relative_folder that are @digits digits long and name a
 * folder (year, month or day folders), sorted. */
static GPtrArray *
list_date_folders (VigilStore *store, const gchar *relative_folder, guint digits, VigilRecoveryReport *report,
                   GError **error)
{
  g_autofree gchar *folder = vigil_store_get_absolute_path (store, relative_folder);
  g_autoptr(GDir) dir = g_dir_open (folder, 0, error);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const gchar *name;

  if (dir == NULL)
    return NULL;
  report->folders_read++;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree gchar *path = NULL;
      guint i;

      for (i = 0; name[i] != '\0' && g_ascii_isdigit (name[i]); i++)
        ;
      if (i != digits || name[i] != '\0')
        continue;
      path = g_build_filename (folder, name, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        g_ptr_array_add (names, g_strdup (name));
    }
  g_ptr_array_sort (names, compare_names);
  return g_steal_pointer (&names);
}

/* Looks up every segment file in day folder @relative_folder whose name
 * sorts after @after_name (all of them when NULL: names are UTC start
 * times, so that is "started later"), and takes in those without a row. */
static gboolean
check_day_folder (VigilStore *store, const gchar *relative_folder, const gchar *after_name,
                  VigilRecoveryReport *report, GError **error)
{
  g_autofree gchar *folder = vigil_store_get_absolute_path (store, relative_folder);
  g_autoptr(GDir) dir = g_dir_open (folder, 0, error);
  g_autoptr(GPtrArray) newer = g_ptr_array_new_with_free_func (g_free);
  const gchar *name;

  if (dir == NULL)
    return FALSE;
  report->folders_read++;
  /* Collected first: quarantining moves files out of this folder. */
  while ((name = g_dir_read_name (dir)) != NULL)
    if (name[0] != '.' && g_str_has_suffix (name, ".mkv") && (after_name == NULL || strcmp (name, after_name) > 0))
      g_ptr_array_add (newer, g_build_filename (relative_folder, name, NULL));
  for (guint i = 0; i < newer->len; i++)
    {
      const gchar *relative = newer->pdata[i];
      g_autofree gchar *path = vigil_store_get_absolute_path (store, relative);
      VigilRecoveryOutcome outcome;
      gboolean cataloged = FALSE;

      report->files_checked++;
      if (!vigil_store_has_segment_path (store, relative, &cataloged, error))
        return FALSE;
      if (cataloged || !g_file_test (path, G_FILE_TEST_IS_REGULAR))
        continue;
      if (!vigil_recovery_take_in_file (store, relative, "recovery", &outcome, error))
        return FALSE;
      report->adopted += outcome == VIGIL_RECOVERY_ADOPTED;
      report->quarantined += outcome == VIGIL_RECOVERY_QUARANTINED;
    }
  return TRUE;
}

/* @camera has no complete or recovered segment: everything it has on disk
 * is newer than nothing. Its files can only be its first segments (in its
 * newest day folder), or an archive whose catalog was lost, which is the
 * catalog check's to rebuild, not start-up's; so only the newest day
 * folder is read. */
static gboolean
check_newest_day (VigilStore *store, const gchar *camera, VigilRecoveryReport *report, GError **error)
{
  g_autoptr(GPtrArray) years = list_date_folders (store, camera, 4, report, error);

  if (years == NULL)
    return FALSE;
  for (guint y = years->len; y-- > 0;)
    {
      g_autofree gchar *year = g_build_filename (camera, years->pdata[y], NULL);
      g_autoptr(GPtrArray) months = list_date_folders (store, year, 2, report, error);

      if (months == NULL)
        return FALSE;
      for (guint m = months->len; m-- > 0;)
        {
          g_autofree gchar *month = g_build_filename (year, months->pdata[m], NULL);
          g_autoptr(GPtrArray) days = list_date_folders (store, month, 2, report, error);
          g_autofree gchar *day = NULL;

          if (days == NULL)
            return FALSE;
          if (days->len == 0)
            continue;
          day = g_build_filename (month, days->pdata[days->len - 1], NULL);
          return check_day_folder (store, day, NULL, report, error);
        }
    }
  return TRUE;
}

/* Reads only the day folders of @camera at or after the one holding
 * @newest (CAMERA/YYYY/MM/DD/NAME), and in that one only names after it. */
static gboolean
check_after (VigilStore *store, const gchar *camera, gchar **newest, VigilRecoveryReport *report, GError **error)
{
  g_autoptr(GPtrArray) years = list_date_folders (store, camera, 4, report, error);

  if (years == NULL)
    return FALSE;
  for (guint y = 0; y < years->len; y++)
    {
      const gchar *year_name = years->pdata[y];
      g_autofree gchar *year = NULL;
      g_autoptr(GPtrArray) months = NULL;
      gint year_cmp = strcmp (year_name, newest[1]);

      if (year_cmp < 0)
        continue;
      year = g_build_filename (camera, year_name, NULL);
      if ((months = list_date_folders (store, year, 2, report, error)) == NULL)
        return FALSE;
      for (guint m = 0; m < months->len; m++)
        {
          const gchar *month_name = months->pdata[m];
          g_autofree gchar *month = NULL;
          g_autoptr(GPtrArray) days = NULL;
          gint month_cmp = year_cmp != 0 ? 1 : strcmp (month_name, newest[2]);

          if (month_cmp < 0)
            continue;
          month = g_build_filename (year, month_name, NULL);
          if ((days = list_date_folders (store, month, 2, report, error)) == NULL)
            return FALSE;
          for (guint d = 0; d < days->len; d++)
            {
              const gchar *day_name = days->pdata[d];
              g_autofree gchar *day = NULL;
              gint day_cmp = month_cmp != 0 ? 1 : strcmp (day_name, newest[3]);

              if (day_cmp < 0)
                continue;
              day = g_build_filename (month, day_name, NULL);
              if (!check_day_folder (store, day, day_cmp == 0 ? newest[4] : NULL, report, error))
                return FALSE;
            }
        }
    }
  return TRUE;
}

static gboolean
check_camera (VigilStore *store, const gchar *camera, VigilRecoveryReport *report, GError **error)
{
  g_autoptr(VigilSegment) newest = NULL;
  g_auto(GStrv) parts = NULL;

  if (!vigil_store_get_newest_segment (store, camera, &newest, error))
    return FALSE;
  if (newest != NULL)
    parts = g_strsplit (newest->path, "/", -1);
  /* An adopted file is named like every other; anything else (a row an
   * older layout wrote) gives no bound, like a camera without segments. */
  if (parts == NULL || g_strv_length (parts) != 5 || !g_str_equal (parts[0], camera))
    return check_newest_day (store, camera, report, error);
  return check_after (store, camera, parts, report, error);
}

/* One folder per camera under the root; each camera on its own. */
static gboolean
check_in_flight_files (VigilStore *store, VigilRecoveryReport *report, GError **error)
{
  const gchar *root = vigil_store_get_root (store);
  g_autoptr(GDir) dir = g_dir_open (root, 0, error);
  g_autoptr(GPtrArray) cameras = g_ptr_array_new_with_free_func (g_free);
  const gchar *name;

  if (dir == NULL)
    return FALSE;
  report->folders_read++;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree gchar *path = g_build_filename (root, name, NULL);

      if (name[0] != '.' && g_file_test (path, G_FILE_TEST_IS_DIR))   /* .quarantine and anything hidden */
        g_ptr_array_add (cameras, g_strdup (name));
    }
  for (guint i = 0; i < cameras->len; i++)
    if (!check_camera (store, cameras->pdata[i], report, error))
      return FALSE;
  return TRUE;
}

gboolean
vigil_recovery_run (VigilStore *store, VigilRecoveryReport *report, GError **error)
{
  gint closed;

  memset (report, 0, sizeof *report);
  /* The 'writing' rows first: once probed they are the newest segments,
   * and the search for files without a row starts after them. */
  if (!recover_writing_rows (store, report, error) || !finish_deletions (store, report, error))
    return FALSE;
  /* After the writing rows got their real ends, so the runs end there. */
  if ((closed = vigil_store_end_open_runs (store, "crash", error)) < 0)
    return FALSE;
  report->runs_closed = closed;
  if (!check_in_flight_files (store, report, error))
    return FALSE;
  if (report->recovered + report->adopted + report->quarantined + report->dropped_rows + report->deleted
      + report->runs_closed > 0)
    g_message ("recovery: %u recovered, %u adopted, %u quarantined, %u empty rows dropped, "
               "%u deletions finished, %u runs closed after a crash",
               report->recovered, report->adopted, report->quarantined, report->dropped_rows, report->deleted,
               report->runs_closed);
  g_debug ("recovery: %u folders read, %u files newer than their camera's newest segment looked up",
           report->folders_read, report->files_checked);
  return TRUE;
}
