/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A full disk, end to end: the real vigild records a simulated camera
 * onto a real small tmpfs that also holds its catalog, with the default
 * watchdog settings.
 *
 *  - Its own recording, filling the disk in about 20 s, never fills it:
 *    the oldest unlocked segments go in time, no run ends on a full disk,
 *    the locked segment stays.
 *  - Another program fills the disk to 0 bytes free while vigild records:
 *    vigild frees space (the catalog refuses every write until its
 *    reserve is given back), keeps recording the newest video, and the
 *    segment the full disk cut off is kept as far as it was written, or
 *    removed with its row.
 *  - With only locked video left, disk-full-locked is raised and the
 *    camera resumes by itself once the other program's file goes, or
 *    once the incident is released (a release that itself has to get
 *    past the full catalog).
 *
 * After each, vigild is stopped and every file under the root is in the
 * catalog and decodes, every catalog row has its file, and no row is left
 * 'writing' or 'deleting'. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "vigil-dbus-generated.h"
#include "vigil-test-util.h"
#include "vigil-test-vigild.h"

#define S (G_GINT64_CONSTANT (1000000))
/* 1280x720 at 4 Mbit/s target: about 0.5 MB/s from the simulated camera,
 * so a 12 MiB disk fills in about 25 s. */
#define DISK_MIB 12

static GTestDBus *bus;

typedef VigilTestVigild Fixture;

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  vigil_test_vigild_tear_down (f);
}

/* Starts vigild on a small disk; FALSE (skipped) where none can be made. */
static gboolean
start_on_small_disk (Fixture *f)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 1280, .height = 720, .fps = 25, .bitrate_kbps = 4000,
                                 .gop_frames = 25, .clip_seconds = 2 };

  vigil_test_vigild_set_up (f, bus, &options, 2, NULL, "frame_health=false\n",
                            "[alerts]\nraise_after_seconds=1\nclear_after_seconds=1\n");
  if (!vigil_test_vigild_use_small_disk (f, DISK_MIB))
    {
      g_test_skip ("needs root to mount a small tmpfs (CI runs as root)");
      return FALSE;
    }
  vigil_test_vigild_start (f);
  return TRUE;
}

static gchar *
segment_file (Fixture *f, guint n)
{
  g_autoptr(VigilSegment) segment = vigil_test_vigild_get_segment (f, "cam0", n);

  return g_build_filename (f->root, segment->path, NULL);
}

/* Locks the @n-th segment of cam0 (no rolls); returns its file. */
static gchar *
lock_segment (Fixture *f, guint n)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilSegment) segment = vigil_test_vigild_get_segment (f, "cam0", n);
  g_autoptr(GVariantDict) options = g_variant_dict_new (NULL);
  g_autofree gchar *incident = NULL;
  const gchar *cameras[] = { "cam0", NULL };
  const gchar *no_tags[] = { NULL };

  g_variant_dict_insert (options, "pre-roll-s", "u", 0);
  g_variant_dict_insert (options, "post-roll-s", "u", 0);
  g_assert_true (vigil_dbus_manager_call_create_incident_sync (f->manager, cameras, segment->start_us + S / 2,
                                                                segment->end_us - S / 2, "keep this", "", no_tags,
                                                                g_variant_dict_end (options), &incident, NULL,
                                                                &error));
  g_assert_no_error (error);
  return g_build_filename (f->root, segment->path, NULL);
}

/* Locks everything recorded in the last hour and from now on; returns
 * the incident's object path. */
static gchar *
lock_everything (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariantDict) options = g_variant_dict_new (NULL);
  gchar *incident = NULL;
  const gchar *cameras[] = { "cam0", NULL };
  const gchar *no_tags[] = { NULL };

  g_variant_dict_insert (options, "pre-roll-s", "u", 3600);
  g_assert_true (vigil_dbus_manager_call_create_incident_sync (f->manager, cameras, g_get_real_time (), 0,
                                                                "hold everything", "", no_tags,
                                                                g_variant_dict_end (options), &incident, NULL,
                                                                &error));
  g_assert_no_error (error);
  return incident;
}

static gchar *
fill_disk (Fixture *f)
{
  gchar *filler = g_build_filename (f->root, "filler", NULL);
  guint64 bytes = vigil_test_fill_disk (filler);

  g_test_message ("another program filled the disk: %.1f MB", bytes / 1e6);
  return filler;
}

static void
stop_vigild (Fixture *f)
{
  g_subprocess_send_signal (f->vigild, SIGTERM);
  g_assert_true (g_subprocess_wait (f->vigild, NULL, NULL));
  if (!g_subprocess_get_if_exited (f->vigild) || g_subprocess_get_exit_status (f->vigild) != 0)
    {
      g_autofree gchar *log = vigil_test_vigild_read_log (f);
      g_error ("vigild did not stop cleanly on SIGTERM; its log:\n%s", log);
    }
}

static void
collect_files (const gchar *root, const gchar *relative, GPtrArray *out)
{
  g_autofree gchar *folder = g_build_filename (root, relative, NULL);
  g_autoptr(GDir) dir = g_dir_open (folder, 0, NULL);
  const gchar *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree gchar *child = relative[0] != '\0' ? g_build_filename (relative, name, NULL) : g_strdup (name);
      g_autofree gchar *path = g_build_filename (root, child, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        collect_files (root, child, out);
      else
        g_ptr_array_add (out, g_steal_pointer (&child));
    }
}

/* With vigild stopped: catalog == disk, every file decodes, nothing half
 * done. Files of vigil's own (.vigil-reserve) and the other program's
 * filler are not recordings. Returns how many segments there are. */
static guint
assert_catalog_is_disk (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilStore) store = vigil_store_new (f->catalog, f->root, &error);
  g_autoptr(GHashTable) rows = NULL;
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) writing = NULL;
  g_autoptr(GPtrArray) deleting = NULL;
  GHashTableIter iter;
  gpointer path;
  guint segments = 0;

  g_assert_no_error (error);
  writing = vigil_store_list_segments_in_state (store, VIGIL_SEGMENT_WRITING, &error);
  g_assert_no_error (error);
  deleting = vigil_store_list_segments_in_state (store, VIGIL_SEGMENT_DELETING, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (writing->len, ==, 0);
  g_assert_cmpuint (deleting->len, ==, 0);
  rows = vigil_store_list_paths (store, &error);
  g_assert_no_error (error);
  collect_files (f->root, "", files);
  for (guint i = 0; i < files->len; i++)
    {
      const gchar *relative = files->pdata[i];
      g_autofree gchar *absolute = g_build_filename (f->root, relative, NULL);
      gint64 frames;

      if (relative[0] == '.' || g_str_equal (relative, "filler"))
        continue;
      if (!g_hash_table_contains (rows, relative))
        g_error ("%s is on disk but not in the catalog", relative);
      frames = vigil_test_decode_file (absolute, &error);
      g_assert_no_error (error);
      g_assert_cmpint (frames, >, 0);
      segments++;
    }
  g_hash_table_iter_init (&iter, rows);
  while (g_hash_table_iter_next (&iter, &path, NULL))
    {
      g_autofree gchar *absolute = g_build_filename (f->root, path, NULL);

      if (!g_file_test (absolute, G_FILE_TEST_IS_REGULAR))
        g_error ("%s is in the catalog but not on disk", (const gchar *) path);
    }
  g_assert_cmpuint (g_hash_table_size (rows), ==, segments);
  return segments;
}

static gboolean
log_says (Fixture *f, const gchar *what)
{
  g_autofree gchar *log = vigil_test_vigild_read_log (f);

  return strstr (log, what) != NULL;
}

/* Shows vigild's account of the episode (what it freed, how fast, what
 * it salvaged) in the test's log. */
static void
show_episode (Fixture *f)
{
  g_autofree gchar *log = vigil_test_vigild_read_log (f);
  g_auto(GStrv) lines = g_strsplit (log, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (strstr (lines[i], "storage watchdog") != NULL || strstr (lines[i], "cut off") != NULL
        || strstr (lines[i], "room on the disk") != NULL || strstr (lines[i], "space reserve") != NULL)
      g_test_message ("%s", lines[i]);
}

typedef struct {
  const gchar *root;
  guint64      min_free;
} FreeWatch;

static gboolean
on_free_sample (gpointer data)
{
  FreeWatch *watch = data;

  watch->min_free = MIN (watch->min_free, vigil_test_free_bytes (watch->root));
  return G_SOURCE_CONTINUE;
}

/* The disk fills by vigild's own recording, at about 0.5 MB/s, with the
 * default watchdog settings (checked every 30 s): it never fills. */
static void
test_own_recording_never_fills_the_disk (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *first = NULL;
  g_autofree gchar *locked = NULL;
  FreeWatch watch = { NULL, G_MAXUINT64 };
  guint sampler, after = 0;

  if (!start_on_small_disk (f))
    return;
  watch.root = f->root;
  sampler = g_timeout_add (50, on_free_sample, &watch);
  vigil_test_vigild_wait_for_segments (f, 3);
  first = segment_file (f, 0);
  locked = lock_segment (f, 1);
  /* Until the disk has been wrapped: the first segment deleted, and a
   * few more recorded into the space that made. */
  while (after < 4)
    {
      vigil_test_vigild_wait_for_segments (f, 1);
      if (!g_file_test (first, G_FILE_TEST_EXISTS))
        after++;
    }
  g_source_remove (sampler);
  g_test_message ("least free space seen: %.2f MB of %u MiB", watch.min_free / 1e6, DISK_MIB);
  g_assert_cmpuint (watch.min_free, >, 0);
  g_assert_true (g_file_test (locked, G_FILE_TEST_EXISTS));
  /* No write ever failed: nothing was cut short. */
  g_assert_false (log_says (f, "disk full"));
  g_assert_false (log_says (f, "was cut off"));
  stop_vigild (f);
  g_assert_cmpuint (assert_catalog_is_disk (f), >=, 4);
}

/* Another program takes every free byte while vigild records: vigild
 * frees space and records on, the newest video kept. */
static void
test_outside_writer_fills_the_disk (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *first = NULL;
  g_autofree gchar *locked = NULL;
  g_autofree gchar *filler = NULL;
  guint before;
  gint64 filled_us;

  if (!start_on_small_disk (f))
    return;
  vigil_test_vigild_wait_for_segments (f, 3);
  first = segment_file (f, 0);
  locked = lock_segment (f, 1);
  vigil_test_vigild_wait_for_segments (f, 1);

  filler = fill_disk (f);
  filled_us = g_get_monotonic_time ();
  before = f->segments_completed;
  /* Two more: the first may be the one the disk cut off, salvaged. */
  vigil_test_vigild_wait_for_segments (f, 2);
  g_test_message ("recording again %.1f s after the disk was filled (%u segments later)",
                  (g_get_monotonic_time () - filled_us) / 1e6, f->segments_completed - before);
  g_assert_false (g_file_test (first, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (locked, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (filler, G_FILE_TEST_EXISTS));   /* not vigil's to delete */
  g_assert_true (log_says (f, "released the"));                /* the reserve let the catalog delete */
  vigil_test_vigild_wait_for_segments (f, 2);
  show_episode (f);
  stop_vigild (f);
  assert_catalog_is_disk (f);
  g_assert_true (g_file_test (locked, G_FILE_TEST_EXISTS));
}

/* Three segments recorded, an incident locking all of them (its path in
 * @incident; the first segment's file in @first), then the disk filled by
 * another program (@filler) until @locked (disk-full-locked) is raised. */
static void
leave_only_locked_video (Fixture *f, VigilTestAlertWait *locked, gchar **first, gchar **incident, gchar **filler)
{
  vigil_test_vigild_wait_for_segments (f, 3);
  *first = segment_file (f, 0);
  *incident = lock_everything (f);
  *filler = fill_disk (f);
  vigil_test_vigild_wait_for_alert (f, locked, 60);
}

/* Only locked video left on a disk another program filled: the camera
 * waits, disk-full-locked is raised, and recording resumes by itself
 * within seconds of the other program's file going. */
static void
test_only_locked_left_resumes_when_space_returns (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *filler = NULL;
  g_autofree gchar *incident = NULL;
  g_autofree gchar *first = NULL;
  VigilTestAlertWait locked = { "disk-full-locked", NULL, FALSE };
  gint64 removed_us;

  if (!start_on_small_disk (f))
    return;
  locked.subject = g_strdup_printf ("storage %s", f->root);
  leave_only_locked_video (f, &locked, &first, &incident, &filler);
  g_assert_true (g_file_test (first, G_FILE_TEST_EXISTS));

  g_assert_cmpint (g_unlink (filler), ==, 0);
  removed_us = g_get_monotonic_time ();
  vigil_test_vigild_wait_for_segments (f, 1);
  g_test_message ("recording again %.1f s after the other program's file went",
                  (g_get_monotonic_time () - removed_us) / 1e6);
  /* A second or so to notice, a couple to connect and close a 2 s segment. */
  g_assert_cmpint (g_get_monotonic_time () - removed_us, <, 20 * S);
  g_assert_true (g_file_test (first, G_FILE_TEST_EXISTS));
  show_episode (f);
  stop_vigild (f);
  assert_catalog_is_disk (f);
  g_free ((gchar *) locked.subject);
}

/* Only locked video left on a full disk, and a supervisor releases the
 * incident: the release goes through (the full catalog gives way), the
 * watchdog deletes what is no longer locked, and recording resumes. */
static void
test_released_incident_frees_a_full_disk (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilDBusIncident) proxy = NULL;
  g_autofree gchar *filler = NULL;
  g_autofree gchar *incident = NULL;
  g_autofree gchar *first = NULL;
  VigilTestAlertWait locked = { "disk-full-locked", NULL, FALSE };
  gint64 released_us;

  if (!start_on_small_disk (f))
    return;
  locked.subject = g_strdup_printf ("storage %s", f->root);
  leave_only_locked_video (f, &locked, &first, &incident, &filler);

  proxy = vigil_dbus_incident_proxy_new_sync (f->connection, G_DBUS_PROXY_FLAGS_NONE, "org.vigil.Vigil1", incident,
                                              NULL, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_dbus_incident_call_release_sync (proxy, "test over", NULL, &error));
  g_assert_no_error (error);
  released_us = g_get_monotonic_time ();
  vigil_test_vigild_wait_for_segments (f, 1);
  g_test_message ("recording again %.1f s after the release", (g_get_monotonic_time () - released_us) / 1e6);
  g_assert_cmpint (g_get_monotonic_time () - released_us, <, 20 * S);
  g_assert_false (g_file_test (first, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (filler, G_FILE_TEST_EXISTS));
  show_episode (f);
  stop_vigild (f);
  assert_catalog_is_disk (f);
  g_free ((gchar *) locked.subject);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  gst_init (NULL, NULL);
  if (!vigil_test_have_elements ("x264enc", "rtph264pay", "matroskamux", "avdec_h264", NULL))
    {
      g_test_skip ("GStreamer elements missing");
      return 0;
    }
  bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (bus);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, NULL, fn, fixture_tear_down)
  ADD ("/e2e/disk-full/own-recording-never-fills-the-disk", test_own_recording_never_fills_the_disk);
  ADD ("/e2e/disk-full/outside-writer-fills-the-disk", test_outside_writer_fills_the_disk);
  ADD ("/e2e/disk-full/only-locked-left-resumes-when-space-returns",
       test_only_locked_left_resumes_when_space_returns);
  ADD ("/e2e/disk-full/released-incident-frees-a-full-disk", test_released_incident_frees_a_full_disk);
  status = g_test_run ();
  g_test_dbus_down (bus);
  g_clear_object (&bus);
  return status;
}
