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

/* Moves an unreadable file to ROOT/.quarantine/<same relative path>. */
static gboolean
quarantine (VigilStore *store, const gchar *relative_path, const gchar *why, GError **error)
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
  g_warning ("recovery: %s is unreadable (%s); moved to %s", relative_path, why, to);
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
          if (!quarantine (store, segment->path, probe_error->message, error)
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

static gboolean
adopt_file (VigilStore *store, const gchar *relative_path, VigilRecoveryReport *report, GError **error)
{
  g_autofree gchar *path = vigil_store_get_absolute_path (store, relative_path);
  g_autofree gchar *camera = NULL;
  g_auto(VigilSegmentProbe) probe = { 0 };
  g_autoptr(GError) probe_error = NULL;
  VigilSegment segment = { 0 };
  gint64 start_us;

  if (!vigil_segment_path_parse (relative_path, &camera, &start_us))
    {
      g_debug ("recovery: leaving %s alone: not a vigil segment name", relative_path);
      return TRUE;
    }
  if (!vigil_segment_probe_file (path, &probe, &probe_error))
    {
      if (!quarantine (store, relative_path, probe_error->message, error))
        return FALSE;
      report->quarantined++;
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
  g_debug ("recovery: adopted %s (%" G_GUINT64_FORMAT " frames)", relative_path, probe.frames);
  report->adopted++;
  return TRUE;
}

/* Walks ROOT/<camera>/YYYY/MM/DD/ for files the catalog does not know. */
static gboolean
scan_folder (VigilStore *store, GHashTable *known, const gchar *relative_folder, guint depth,
             VigilRecoveryReport *report, GError **error)
{
  g_autofree gchar *folder = vigil_store_get_absolute_path (store, relative_folder);
  g_autoptr(GDir) dir = g_dir_open (folder, 0, error);
  const gchar *name;

  if (dir == NULL)
    return FALSE;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree gchar *relative = *relative_folder ? g_build_filename (relative_folder, name, NULL)
                                                    : g_strdup (name);
      g_autofree gchar *path = vigil_store_get_absolute_path (store, relative);

      if (name[0] == '.')
        continue;   /* .quarantine and anything hidden */
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        {
          if (depth < 4 && !scan_folder (store, known, relative, depth + 1, report, error))
            return FALSE;
        }
      else if (depth == 4 && g_str_has_suffix (name, ".mkv") && !g_hash_table_contains (known, relative))
        {
          if (!adopt_file (store, relative, report, error))
            return FALSE;
        }
    }
  return TRUE;
}

gboolean
vigil_recovery_run (VigilStore *store, VigilRecoveryReport *report, GError **error)
{
  g_autoptr(GHashTable) known = NULL;
  gint closed;

  memset (report, 0, sizeof *report);
  if (!recover_writing_rows (store, report, error) || !finish_deletions (store, report, error))
    return FALSE;
  /* After the writing rows got their real ends, so the runs end there. */
  if ((closed = vigil_store_end_open_runs (store, "crash", error)) < 0)
    return FALSE;
  report->runs_closed = closed;
  if ((known = vigil_store_list_paths (store, error)) == NULL)
    return FALSE;
  if (!scan_folder (store, known, "", 0, report, error))
    return FALSE;
  if (report->recovered + report->adopted + report->quarantined + report->dropped_rows + report->deleted
      + report->runs_closed > 0)
    g_message ("recovery: %u recovered, %u adopted, %u quarantined, %u empty rows dropped, "
               "%u deletions finished, %u runs closed after a crash",
               report->recovered, report->adopted, report->quarantined, report->dropped_rows, report->deleted,
               report->runs_closed);
  return TRUE;
}
