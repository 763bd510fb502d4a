/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilWatchdog against a full disk, on a real small tmpfs that holds both
 * the catalog and the recordings (as on most hosts), filled to 0 bytes
 * free by another program, with the catalog's WAL slack used up so SQLite
 * refuses every write: a reported full disk is freed at once, oldest
 * unlocked segments first, locked ones never, in retention's order, and
 * ::space-available follows with the reserve back in place; with only
 * locked video left it raises disk-full-locked, keeps its reserve, and
 * announces space the moment another program's file goes or an incident
 * is released. The thresholds fit a 24 MiB test disk and a 20 TB array. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sys/mount.h>

#include "vigil-alerts.h"
#include "vigil-incidents.h"
#include "vigil-reserve.h"
#include "vigil-watchdog.h"
#include "vigil-test-util.h"

#define MIB (G_GUINT64_CONSTANT (1) << 20)
#define S (G_USEC_PER_SEC)
#define T0 (G_GINT64_CONSTANT (1795000000) * S)   /* 2026-11-18: in the past */
#define N_SEGMENTS 16
#define SEGMENT_BYTES (256 * 1024)

typedef struct {
  gchar         *dir;
  gchar         *disk;          /* the tmpfs */
  gchar         *root;          /* on it */
  gchar         *catalog;       /* on it */
  gchar         *filler;        /* another program's file, on it */
  VigilStore    *store;         /* the catalog, as the daemon's connection */
  VigilStore    *alert_store;   /* alerts are kept off the full disk: not what is tested */
  VigilAlerts   *alerts;
  VigilWatchdog *watchdog;
  GPtrArray     *segments;      /* VigilSegment, oldest first */
  gboolean       space_available;
  gboolean       locked_raised;
  guint          deleted;
} Fixture;

static void
on_space_available (VigilWatchdog *watchdog, Fixture *f)
{
  f->space_available = TRUE;
}

static void
on_deleted (VigilWatchdog *watchdog, guint segments, guint64 bytes, Fixture *f)
{
  f->deleted += segments;
}

static void
on_alert_raised (VigilAlerts *alerts, const VigilAlert *alert, Fixture *f)
{
  if (g_str_equal (alert->kind, "disk-full-locked"))
    f->locked_raised = TRUE;
}

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  f->dir = vigil_test_make_tmp_dir ();
  f->disk = g_build_filename (f->dir, "disk", NULL);
  f->root = g_build_filename (f->disk, "recordings", NULL);
  f->catalog = g_build_filename (f->disk, "catalog.db", NULL);
  f->filler = g_build_filename (f->disk, "filler", NULL);
  f->segments = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_segment_free);
  g_assert_cmpint (g_mkdir (f->disk, 0700), ==, 0);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  g_clear_object (&f->watchdog);
  g_clear_object (&f->alerts);
  g_clear_object (&f->alert_store);
  g_clear_object (&f->store);
  g_clear_pointer (&f->segments, g_ptr_array_unref);
  umount2 (f->disk, MNT_DETACH);
  g_free (f->filler);
  g_free (f->catalog);
  g_free (f->root);
  g_free (f->disk);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

static gboolean
reserve_in_place (gpointer data)
{
  Fixture *f = data;

  return vigil_reserve_get_size (f->root) == vigil_reserve_size_for (8 * MIB);
}

/* An 8 MiB disk with N_SEGMENTS files of cam0 cataloged, the reserve in
 * place; FALSE (skipped) where no tmpfs can be mounted. */
static gboolean
set_up_disk (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *alert_catalog = g_build_filename (f->dir, "alerts.db", NULL);
  g_autofree gchar *folder = NULL;
  VigilAlertSettings alert_settings = { .raise_after_s = 1, .clear_after_s = 1, .command_timeout_s = 10 };
  VigilWatchdogSettings settings = {
    /* No disk-low: a filled disk raises it, and its timing is not what
     * is tested here. */
    .root = f->root, .catalog = f->catalog, .check_seconds = 3600, .warn_free_percent = 0,
    .delete_free_percent = 5, .target_free_percent = 8, .min_free_inodes_percent = 0,
  };
  g_autofree gchar *data = g_malloc0 (SEGMENT_BYTES);
  gint64 run;

  if (!vigil_test_mount_tmpfs (f->disk, 8))
    {
      g_test_skip ("needs root to mount a small tmpfs (CI runs as root)");
      return FALSE;
    }
  folder = g_build_filename (f->root, "cam0", NULL);
  g_assert_cmpint (g_mkdir_with_parents (folder, 0700), ==, 0);
  f->store = vigil_store_new (f->catalog, f->root, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_store_add_camera (f->store, "cam0", &error));
  run = vigil_store_start_run (f->store, "cam0", T0, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < N_SEGMENTS; i++)
    {
      g_autofree gchar *relative = g_strdup_printf ("cam0/%02u.mkv", i);
      g_autofree gchar *path = g_build_filename (f->root, relative, NULL);
      VigilSegment segment = {
        .camera = "cam0", .run_id = run, .path = relative, .start_us = T0 + i * 2 * S,
        .end_us = T0 + (i + 1) * 2 * S, .media_duration_ns = 2 * G_GINT64_CONSTANT (1000000000),
        .size_bytes = SEGMENT_BYTES, .frames = 50, .keyframes = 2, .codec = "h264",
        .state = VIGIL_SEGMENT_COMPLETE,
      };

      g_assert_true (g_file_set_contents (path, data, SEGMENT_BYTES, &error));
      segment.id = vigil_store_add_segment (f->store, "cam0", run, relative, segment.start_us, &error);
      g_assert_no_error (error);
      g_assert_true (vigil_store_finish_segment (f->store, &segment, &error));
      g_ptr_array_add (f->segments, vigil_segment_copy (&segment));
    }

  f->alert_store = vigil_store_new (alert_catalog, f->dir, &error);
  g_assert_no_error (error);
  f->alerts = vigil_alerts_new (f->alert_store, &alert_settings);
  g_signal_connect (f->alerts, "raised", G_CALLBACK (on_alert_raised), f);
  f->watchdog = vigil_watchdog_new (f->alerts, &settings);
  g_signal_connect (f->watchdog, "space-available", G_CALLBACK (on_space_available), f);
  g_signal_connect (f->watchdog, "deleted", G_CALLBACK (on_deleted), f);
  /* The first check makes the reserve. */
  vigil_watchdog_check (f->watchdog);
  g_assert_true (vigil_test_wait_until (reserve_in_place, f, 30));
  return TRUE;
}

/* Locks segments [first, last] of cam0 with an incident; returns its id. */
static gint64
lock_segments (Fixture *f, guint first, guint last)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilIncident) incident = vigil_incident_new ();
  const gchar *cameras[] = { "cam0", NULL };
  gint64 id;

  incident->title = g_strdup ("keep");
  incident->description = g_strdup ("");
  incident->cameras = g_strdupv ((gchar **) cameras);
  incident->start_us = ((VigilSegment *) f->segments->pdata[first])->start_us + S / 2;
  incident->end_us = ((VigilSegment *) f->segments->pdata[last])->end_us - S / 2;
  incident->pre_roll_us = incident->post_roll_us = 0;
  incident->created_us = g_get_real_time ();
  incident->created_uid = -1;
  incident->created_user = g_strdup ("test");
  id = vigil_store_add_incident (f->store, incident, &error);
  g_assert_no_error (error);
  return id;
}

/* Another program takes every free byte; then the catalog's WAL has no
 * slack left either (rows that free nothing), as after a while of a full
 * disk: every catalog write is refused. */
static void
fill_disk (Fixture *f)
{
  g_autoptr(GError) error = NULL;

  vigil_test_fill_disk (f->filler);
  g_assert_cmpuint (vigil_test_free_bytes (f->root), ==, 0);
  for (guint i = 0; i < 1000; i++)
    {
      g_autofree gchar *name = g_strdup_printf ("filler-camera-%04u", i);

      if (!vigil_store_add_camera (f->store, name, &error))
        break;
    }
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_FULL);
}

/* Every catalog row has its file and every file under cam0/ its row. */
static guint
assert_catalog_matches_disk (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) rows = vigil_store_list_segments (f->store, "cam0", 0, G_MAXINT64, &error);
  g_autoptr(GHashTable) paths = NULL;
  g_autofree gchar *folder = g_build_filename (f->root, "cam0", NULL);
  g_autoptr(GDir) dir = g_dir_open (folder, 0, &error);
  const gchar *name;

  g_assert_no_error (error);
  paths = vigil_store_list_paths (f->store, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < rows->len; i++)
    {
      g_autofree gchar *path = g_build_filename (f->root, ((VigilSegment *) rows->pdata[i])->path, NULL);
      g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree gchar *relative = g_build_filename ("cam0", name, NULL);
      g_assert_true (g_hash_table_contains (paths, relative));
    }
  g_assert_cmpuint (g_hash_table_size (paths), ==, rows->len);
  return rows->len;
}

static gboolean
segment_exists (Fixture *f, guint i)
{
  g_autofree gchar *path = g_build_filename (f->root, ((VigilSegment *) f->segments->pdata[i])->path, NULL);

  return g_file_test (path, G_FILE_TEST_EXISTS);
}

static void
test_watchdog_thresholds_fit_every_disk (void)
{
  VigilWatchdogSettings defaults = { .check_seconds = 30, .warn_free_percent = 10, .delete_free_percent = 5,
                                     .target_free_percent = 8 };
  VigilStorageThresholds small, large, unknown;
  guint64 tb20 = G_GUINT64_CONSTANT (20) * 1000 * 1000 * 1000 * 1000;
  gdouble small_rate = 1.5e6 / 8;          /* one camera at 1.5 Mbit/s */
  gdouble large_rate = 32 * 4e6 / 8;       /* 32 cameras at 4 Mbit/s */

  /* 24 MiB, 6 s segments (checked at each): the rate decides. The disk
   * fills in about 130 s; deletion starts with 3 segments' room left. */
  vigil_watchdog_get_thresholds (&defaults, 24 * MIB, small_rate, 6, &small);
  g_test_message ("24 MiB: delete below %.2f MB, target %.2f MB, room %.2f MB, reserve %.2f MB",
                  small.delete_below_bytes / 1e6, small.target_bytes / 1e6, small.room_bytes / 1e6,
                  small.reserve_bytes / 1e6);
  g_assert_cmpfloat (small.delete_below_bytes, >=, 3 * small_rate * 6 - 1);
  g_assert_cmpfloat (small.delete_below_bytes, >, 0.05 * 24 * MIB);
  g_assert_cmpuint (small.delete_below_bytes, <=, 12 * MIB);
  g_assert_cmpuint (small.target_bytes, >=, small.delete_below_bytes + small.reserve_bytes);
  g_assert_cmpuint (small.reserve_bytes, ==, 1 * MIB);
  g_assert_cmpuint (small.room_bytes, <=, small.delete_below_bytes);

  /* 20 TB at 16 MB/s, checked every 30 s: the percentages decide, and
   * they leave far more than 3 periods. */
  vigil_watchdog_get_thresholds (&defaults, tb20, large_rate, 30, &large);
  g_assert_cmpuint (large.delete_below_bytes, ==, tb20 / 20);
  g_assert_cmpuint (large.target_bytes, ==, tb20 / 100 * 8);
  g_assert_cmpuint (large.reserve_bytes, ==, 64 * MIB);
  g_assert_cmpfloat (large.room_bytes, >=, large_rate * 30 - 1);

  /* Before any segment completed, the percentages alone. */
  vigil_watchdog_get_thresholds (&defaults, 24 * MIB, 0, 30, &unknown);
  g_assert_cmpuint (unknown.delete_below_bytes, ==, 24 * MIB / 20);

  /* A disk smaller than a few periods keeps half of itself to record. */
  vigil_watchdog_get_thresholds (&defaults, 24 * MIB, 10 * small_rate, 30, &unknown);
  g_assert_cmpuint (unknown.delete_below_bytes, ==, 12 * MIB);
}

static void
test_watchdog_frees_a_full_disk (Fixture *f, gconstpointer unused)
{
  guint64 free_bytes;
  gint64 reported_us;

  if (!set_up_disk (f))
    return;
  lock_segments (f, 1, 1);
  fill_disk (f);

  reported_us = g_get_monotonic_time ();
  vigil_watchdog_report_full (f->watchdog);
  g_assert_true (vigil_test_wait_for (&f->space_available, 30));
  g_test_message ("space available %.3f s after the report; %u segments deleted",
                  (g_get_monotonic_time () - reported_us) / 1e6, f->deleted);
  /* The oldest unlocked went, the locked one did not, the newest stayed. */
  g_assert_cmpuint (f->deleted, >, 0);
  g_assert_false (segment_exists (f, 0));
  g_assert_true (segment_exists (f, 1));
  g_assert_true (segment_exists (f, N_SEGMENTS - 1));
  g_assert_cmpuint (assert_catalog_matches_disk (f), ==, N_SEGMENTS - f->deleted);
  /* Room to record, and the reserve back for the next time. */
  free_bytes = vigil_test_free_bytes (f->root);
  g_assert_cmpuint (free_bytes, >=, 8 * MIB / 20);
  g_assert_cmpuint (vigil_reserve_get_size (f->root), ==, vigil_reserve_size_for (8 * MIB));
  g_assert_false (f->locked_raised);
}

static void
test_watchdog_only_locked_left_waits_for_space (Fixture *f, gconstpointer unused)
{
  gint64 removed_us;

  if (!set_up_disk (f))
    return;
  lock_segments (f, 0, N_SEGMENTS - 1);
  fill_disk (f);

  g_test_expect_message ("vigil-daemon", G_LOG_LEVEL_MESSAGE, "storage watchdog: a write to * failed for want of space*");
  g_test_expect_message ("vigil-daemon", G_LOG_LEVEL_WARNING, "ALERT critical storage *: disk-full-locked*");
  vigil_watchdog_report_full (f->watchdog);
  g_assert_true (vigil_test_wait_for (&f->locked_raised, 30));
  g_test_assert_expected_messages ();
  /* Nothing was deleted, nothing announced, and the reserve is kept for
   * the moment something may go. */
  g_assert_cmpuint (f->deleted, ==, 0);
  g_assert_false (f->space_available);
  g_assert_cmpuint (vigil_reserve_get_size (f->root), ==, vigil_reserve_size_for (8 * MIB));
  g_assert_cmpuint (assert_catalog_matches_disk (f), ==, N_SEGMENTS);

  /* The other program's file goes: recording may resume, by itself. */
  g_assert_cmpint (g_unlink (f->filler), ==, 0);
  removed_us = g_get_monotonic_time ();
  g_assert_true (vigil_test_wait_for (&f->space_available, 30));
  g_test_message ("space available %.3f s after the filler went", (g_get_monotonic_time () - removed_us) / 1e6);
  g_assert_cmpint (g_get_monotonic_time () - removed_us, <, 10 * S);
  g_assert_cmpuint (f->deleted, ==, 0);
}

static void
test_watchdog_released_incident_frees_a_full_disk (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  gint64 incident, released_us;

  if (!set_up_disk (f))
    return;
  incident = lock_segments (f, 0, N_SEGMENTS - 1);
  fill_disk (f);
  g_test_expect_message ("vigil-daemon", G_LOG_LEVEL_MESSAGE, "storage watchdog: a write to * failed for want of space*");
  g_test_expect_message ("vigil-daemon", G_LOG_LEVEL_WARNING, "ALERT critical storage *: disk-full-locked*");
  vigil_watchdog_report_full (f->watchdog);
  g_assert_true (vigil_test_wait_for (&f->locked_raised, 30));
  g_test_assert_expected_messages ();

  /* A supervisor releases the incident on the full disk: the catalog
   * refuses, and the daemon gives the reserve back for this one write
   * and tries again (vigil_service_retry_on_full()), as here. */
  g_assert_false (vigil_store_release_incident (f->store, incident, g_get_real_time (), "test over", &error));
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_FULL);
  g_clear_error (&error);
  g_assert_true (vigil_reserve_remove (f->root, NULL, &error));
  g_assert_true (vigil_store_release_incident (f->store, incident, g_get_real_time (), "test over", &error));
  g_assert_no_error (error);
  released_us = g_get_monotonic_time ();
  g_assert_true (vigil_test_wait_for (&f->space_available, 30));
  g_test_message ("space available %.3f s after the release", (g_get_monotonic_time () - released_us) / 1e6);
  g_assert_cmpuint (f->deleted, >, 0);
  g_assert_false (segment_exists (f, 0));
  g_assert_cmpuint (assert_catalog_matches_disk (f), ==, N_SEGMENTS - f->deleted);
  g_assert_cmpuint (vigil_reserve_get_size (f->root), ==, vigil_reserve_size_for (8 * MIB));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/daemon/watchdog/thresholds-fit-every-disk", test_watchdog_thresholds_fit_every_disk);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/daemon/watchdog/frees-a-full-disk", test_watchdog_frees_a_full_disk);
  ADD ("/daemon/watchdog/only-locked-left-waits-for-space", test_watchdog_only_locked_left_waits_for_space);
  ADD ("/daemon/watchdog/released-incident-frees-a-full-disk", test_watchdog_released_incident_frees_a_full_disk);
  return g_test_run ();
}
