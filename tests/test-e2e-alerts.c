/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Alerts, the shift-start self-check and the storage watchdog, end to end:
 * the real vigild on a private bus records simulated cameras; a camera
 * that drops raises "offline" (and runs the alert command) within a bound
 * and clears it when it is back; selfcheck says ✓ for a healthy setup and
 * ✗ with the reason for a broken one; on a real small file system the
 * watchdog deletes the oldest unlocked segments and never a locked one,
 * and a full disk leaves every completed segment playable and the
 * catalog true, recording resuming once space is freed. */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "vigil-incidents.h"
#include "vigil-test-util.h"
#include "vigil-test-vigild.h"

#define S (G_GINT64_CONSTANT (1000000))

static GTestDBus *bus;

typedef VigilTestVigild Fixture;

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  vigil_test_vigild_tear_down (f);
}

/* Whether an alert of @kind is open for @subject, asked over D-Bus. */
static gboolean
alert_is_open (Fixture *f, const gchar *kind, const gchar *subject)
{
  g_autoptr(GVariant) alerts = NULL;
  g_autoptr(GError) error = NULL;
  gboolean found = FALSE;

  g_assert_true (vigil_dbus_manager_call_list_alerts_sync (f->manager, TRUE, 0, 0, &alerts, NULL, &error));
  g_assert_no_error (error);
  for (gsize i = 0; i < g_variant_n_children (alerts); i++)
    {
      g_autoptr(GVariant) alert = g_variant_get_child_value (alerts, i);
      const gchar *alert_kind, *alert_subject;

      g_variant_get (alert, "(t&s&s&sxx&s)", NULL, &alert_kind, NULL, &alert_subject, NULL, NULL, NULL);
      found |= g_str_equal (alert_kind, kind) && g_str_equal (alert_subject, subject);
    }
  return found;
}

static gboolean
command_ran_twice (gpointer path)
{
  g_autofree gchar *text = NULL;

  return g_file_get_contents (path, &text, NULL, NULL)
         && strstr (text, "raised offline camera cam1 critical") != NULL
         && strstr (text, "cleared offline camera cam1 critical") != NULL;
}

/* A camera that drops raises "offline" after offline_seconds, runs the
 * alert command with the alert in its environment, and clears when the
 * camera is back; the stored alert spans the outage. */
static void
test_offline_raised_and_cleared (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 2, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 300,
                                 .gop_frames = 10, .clip_seconds = 4 };
  g_autofree gchar *command_out = NULL;
  g_autofree gchar *script = NULL;
  g_autofree gchar *alerts_group = NULL;
  g_autofree gchar *command_text = NULL;
  g_autofree gchar *out = NULL;
  VigilTestAlertWait raised = { "offline", "camera cam1", FALSE };
  VigilTestAlertWait cleared = { "offline", "camera cam1", TRUE };
  gint64 dropped_us, back_us;

  vigil_test_vigild_set_up (f, bus, &options, 2, NULL, NULL, NULL);
  command_out = g_build_filename (f->dir, "alert-command.txt", NULL);
  script = g_build_filename (f->dir, "alert.sh", NULL);
  g_assert_true (g_file_set_contents (script, "#!/bin/sh\necho \"$VIGIL_ALERT_STATE $VIGIL_ALERT_KIND "
                                      "$VIGIL_ALERT_SUBJECT $VIGIL_ALERT_SEVERITY\" >> \"$1\"\n", -1, NULL));
  g_assert_cmpint (g_chmod (script, 0755), ==, 0);
  alerts_group = g_strdup_printf ("[alerts]\noffline_seconds=3\nclear_after_seconds=3\ncommand=%s %s\n", script,
                                  command_out);
  vigil_test_vigild_append_config (f, alerts_group);
  vigil_test_vigild_start (f);
  vigil_test_vigild_wait_for_segments (f, 2);

  dropped_us = g_get_real_time ();
  vigil_simcam_set_fault (f->simcam, 1, VIGIL_SIMCAM_FAULT_DROP);
  vigil_test_vigild_wait_for_alert (f, &raised, 60);
  /* It began when the camera dropped, not when the delay ran out. */
  g_assert_cmpint (raised.raised_us, >=, dropped_us - S);
  g_assert_cmpint (raised.raised_us, <, dropped_us + 15 * S);
  /* Listed as open while it lasts. */
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "alerts", "--open", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "camera cam1"));
  g_clear_pointer (&out, g_free);

  back_us = g_get_real_time ();
  vigil_simcam_set_fault (f->simcam, 1, VIGIL_SIMCAM_FAULT_NONE);
  vigil_test_vigild_wait_for_alert (f, &cleared, 90);
  g_assert_cmpint (cleared.cleared_us, >=, back_us);

  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "alerts", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "offline"));
  g_assert_nonnull (strstr (out, "camera cam1"));
  g_assert_null (strstr (out, "camera cam0"));      /* the healthy camera raised nothing */
  g_clear_pointer (&out, g_free);
  /* Not open any more; within the last ten minutes, not after the next hour. */
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "alerts", "--open", NULL), ==, 0);
  g_assert_null (strstr (out, "camera cam1"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "alerts", "--since", "-10m", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "camera cam1"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "alerts", "--since", "+1h", NULL), ==, 0);
  g_assert_null (strstr (out, "camera cam1"));

  /* The command ran for both transitions (it runs asynchronously: wait). */
  if (!vigil_test_wait_until (command_ran_twice, command_out, 30))
    g_error ("the alert command did not record both transitions in %s", command_out);
}

/* Each picture fault of the simulated camera raises its alert within a
 * bound and clears it once the picture is back; the healthy picture
 * raised nothing before. */
static void
test_picture_faults (Fixture *f, gconstpointer unused)
{
  static const struct {
    VigilSimcamPicture picture;
    const gchar       *kind;
  } faults[] = {
    { VIGIL_SIMCAM_PICTURE_BLACK, "black" },
    { VIGIL_SIMCAM_PICTURE_FROZEN, "frozen" },
    { VIGIL_SIMCAM_PICTURE_COVERED, "covered" },
    { VIGIL_SIMCAM_PICTURE_BLURRED, "blurred" },
    { VIGIL_SIMCAM_PICTURE_REAIMED, "moved" },
    { VIGIL_SIMCAM_PICTURE_WHITE, "white" },
  };
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 300,
                                 .gop_frames = 10, .clip_seconds = 4 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) open_alerts = NULL;

  vigil_test_vigild_set_up (f, bus, &options, 2, NULL, "picture_learning_samples=8\n",
                            "[alerts]\nraise_after_seconds=2\nclear_after_seconds=3\n");
  vigil_test_vigild_start (f);
  /* Long enough for the baselines (8 keyframes, one a second). */
  vigil_test_vigild_wait_for_segments (f, 6);
  g_assert_true (vigil_dbus_manager_call_list_alerts_sync (f->manager, TRUE, 0, 0, &open_alerts, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_n_children (open_alerts), ==, 0);

  for (guint i = 0; i < G_N_ELEMENTS (faults); i++)
    {
      VigilTestAlertWait raised = { faults[i].kind, "camera cam0", FALSE };
      VigilTestAlertWait cleared = { faults[i].kind, "camera cam0", TRUE };

      g_test_message ("picture fault %s", faults[i].kind);
      g_assert_true (vigil_simcam_set_picture (f->simcam, 0, faults[i].picture, &error));
      g_assert_no_error (error);
      vigil_test_vigild_wait_for_alert (f, &raised, 60);
      g_assert_true (vigil_simcam_set_picture (f->simcam, 0, VIGIL_SIMCAM_PICTURE_NORMAL, &error));
      vigil_test_vigild_wait_for_alert (f, &cleared, 60);
    }
}

/* A camera that keeps dropping raises reconnect-storm once more runs
 * than reconnects_per_hour started within the hour. */
static void
test_reconnect_storm (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 300,
                                 .gop_frames = 10, .clip_seconds = 4 };
  VigilTestAlertWait storm = { "reconnect-storm", "camera cam0", FALSE };

  vigil_test_vigild_set_up (f, bus, &options, 2, NULL, "frame_health=false\n",
                            "[alerts]\nreconnects_per_hour=2\n");
  vigil_test_vigild_start (f);
  vigil_test_vigild_wait_for_segments (f, 1);
  vigil_test_vigild_watch_alert (f, &storm);
  for (guint i = 0; i < 3 && !storm.seen; i++)
    {
      vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_DROP);
      vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_NONE);
      /* Recording again: a new run has started. */
      vigil_test_vigild_wait_for_segments (f, 1);
    }
  vigil_test_vigild_wait_for_alert (f, &storm, 30);
}

/* A camera whose keyframes come every 24 s cannot have its 2 s segments
 * cut: video flows, nothing completes. recording-stalled is raised after
 * stalled_seconds and cleared once the next keyframe closes a segment. */
static void
test_recording_stalled (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 300,
                                 .gop_frames = 240, .clip_seconds = 24 };
  VigilTestAlertWait stalled = { "recording-stalled", "camera cam0", FALSE };
  VigilTestAlertWait cleared = { "recording-stalled", "camera cam0", TRUE };

  vigil_test_vigild_set_up (f, bus, &options, 2, NULL, "frame_health=false\n",
                            "[alerts]\nstalled_seconds=6\nclear_after_seconds=2\n");
  vigil_test_vigild_start (f);
  vigil_test_vigild_wait_for_alert (f, &stalled, 60);
  g_assert_cmpuint (f->segments_completed, ==, 0);
  vigil_test_vigild_wait_for_alert (f, &cleared, 90);
  g_assert_cmpuint (f->segments_completed, >=, 1);
  g_assert_false (alert_is_open (f, "offline", "camera cam0"));
}

/* A camera whose video stops while its audio keeps coming raises
 * video-missing, not offline, and clears it once video is back. */
static void
test_video_missing (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 300,
                                 .gop_frames = 10, .clip_seconds = 4, .audio = VIGIL_SIMCAM_AUDIO_PCMA };
  VigilTestAlertWait missing = { "video-missing", "camera cam0", FALSE };
  VigilTestAlertWait cleared = { "video-missing", "camera cam0", TRUE };
  VigilTestAlertWait offline = { "offline", "camera cam0", FALSE };

  vigil_test_vigild_set_up (f, bus, &options, 2, "", "frame_health=false\nstall_seconds=3\n",
                            "[alerts]\nraise_after_seconds=2\nclear_after_seconds=2\noffline_seconds=3\n");
  vigil_test_vigild_start (f);
  vigil_test_vigild_wait_for_segments (f, 1);
  vigil_test_vigild_watch_alert (f, &offline);

  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_VIDEO_STALL);
  vigil_test_vigild_wait_for_alert (f, &missing, 60);
  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_NONE);
  vigil_test_vigild_wait_for_alert (f, &cleared, 90);
  /* The camera answered with sound all along: never "offline". */
  g_assert_false (offline.seen);
  g_assert_false (alert_is_open (f, "offline", "camera cam0"));
}

/* A camera whose frame rate collapses to its keyframes (1 fps against 10,
 * and most of its bits gone with the other frames) raises low-frame-rate
 * and low-bitrate against its own norm, learnt from its first segments,
 * and clears both once its segments are full again. */
static void
test_low_rate (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 300,
                                 .gop_frames = 10, .clip_seconds = 4 };
  VigilTestAlertWait low_fps = { "low-frame-rate", "camera cam0", FALSE };
  VigilTestAlertWait low_bps = { "low-bitrate", "camera cam0", FALSE };
  VigilTestAlertWait fps_cleared = { "low-frame-rate", "camera cam0", TRUE };
  VigilTestAlertWait bps_cleared = { "low-bitrate", "camera cam0", TRUE };
  VigilTestAlertWait offline = { "offline", "camera cam0", FALSE };

  vigil_test_vigild_set_up (f, bus, &options, 2, NULL, "frame_health=false\n",
                            "[alerts]\nraise_after_seconds=1\nclear_after_seconds=1\n");
  vigil_test_vigild_start (f);
  /* The norm needs three segments; the first may be short. */
  vigil_test_vigild_wait_for_segments (f, 4);
  g_assert_false (alert_is_open (f, "low-frame-rate", "camera cam0"));
  g_assert_false (alert_is_open (f, "low-bitrate", "camera cam0"));
  vigil_test_vigild_watch_alert (f, &offline);
  /* The two may come in either order. */
  vigil_test_vigild_watch_alert (f, &low_bps);

  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_KEYFRAMES_ONLY);
  vigil_test_vigild_wait_for_alert (f, &low_fps, 60);
  g_test_message ("low-frame-rate: %s", low_fps.details);
  g_assert_nonnull (strstr (low_fps.details, "against a norm of"));
  vigil_test_vigild_wait_for_alert (f, &low_bps, 30);
  g_test_message ("low-bitrate: %s", low_bps.details);

  vigil_test_vigild_watch_alert (f, &bps_cleared);
  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_NONE);
  vigil_test_vigild_wait_for_alert (f, &fps_cleared, 60);
  vigil_test_vigild_wait_for_alert (f, &bps_cleared, 30);
  /* The camera never went away. */
  g_assert_false (offline.seen);
}

/* A disk that fails to make a segment durable (fsync fails with EIO, by
 * LD_PRELOAD, see tests/fault/): write-error is raised naming the segment,
 * recording goes on, and the alert clears once segments close again. */
static void
test_segment_not_durable (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 300,
                                 .gop_frames = 10, .clip_seconds = 4 };
  VigilTestAlertWait failed = { "write-error", "camera cam0", FALSE };
  VigilTestAlertWait cleared = { "write-error", "camera cam0", TRUE };
  g_autofree gchar *flag = NULL;
  g_autofree gchar *asan_options = NULL;

  vigil_test_vigild_set_up (f, bus, &options, 2, NULL, "frame_health=false\n",
                            "[alerts]\nclear_after_seconds=2\n");
  flag = g_build_filename (f->dir, "fail-fsync", NULL);
  vigil_test_vigild_setenv (f, "LD_PRELOAD", g_getenv ("VIGIL_FAULT_FSYNC"));
  vigil_test_vigild_setenv (f, "VIGIL_FAULT_FSYNC_FLAG", flag);
  /* Under AddressSanitizer its runtime must otherwise be loaded first. */
  asan_options = g_strdup_printf ("%s:verify_asan_link_order=0", g_getenv ("ASAN_OPTIONS") ?: "");
  vigil_test_vigild_setenv (f, "ASAN_OPTIONS", asan_options);
  vigil_test_vigild_start (f);
  vigil_test_vigild_wait_for_segments (f, 1);

  vigil_test_vigild_watch_alert (f, &cleared);
  g_assert_true (g_file_set_contents (flag, "", 0, NULL));
  vigil_test_vigild_wait_for_alert (f, &failed, 60);
  g_test_message ("write-error: %s", failed.details);
  g_assert_nonnull (strstr (failed.details, "did not close"));
  g_assert_nonnull (strstr (failed.details, ".mkv"));
  g_assert_nonnull (strstr (failed.details, "Input/output error"));

  g_assert_cmpint (g_unlink (flag), ==, 0);
  vigil_test_vigild_wait_for_alert (f, &cleared, 60);
  g_assert_false (alert_is_open (f, "offline", "camera cam0"));
}

static gboolean
clock_source_known (gpointer camera)
{
  return g_strcmp0 (vigil_dbus_camera_get_clock_source (camera), "rtcp") == 0;
}

static VigilDBusCamera *
get_camera_proxy (Fixture *f, const gchar *name)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *path = g_strdup_printf ("/org/vigil/Vigil1/Camera/%s", name);
  VigilDBusCamera *camera = vigil_dbus_camera_proxy_new_sync (f->connection, G_DBUS_PROXY_FLAGS_NONE,
                                                              "org.vigil.Vigil1", path, NULL, &error);

  g_assert_no_error (error);
  return camera;
}

/* The camera's clock, read from its RTCP sender reports, shows on its
 * D-Bus object; one set 2 minutes off raises clock-drift, one in step
 * does not. */
static void
test_clock_drift (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 300,
                                 .gop_frames = 10, .clip_seconds = 4 };
  g_autoptr(VigilDBusCamera) cam0 = NULL;
  g_autoptr(VigilSimcam) skewed = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *skewed_url = NULL;
  g_autofree gchar *extra = NULL;
  VigilTestAlertWait drift = { "clock-drift", "camera skewed", FALSE };

  options.clock_offset_seconds = 0;
  /* A second simulated camera whose clock runs two minutes ahead. */
  {
    VigilSimcamOptions skewed_options = options;

    skewed_options.clock_offset_seconds = 120;
    skewed = vigil_simcam_new (&skewed_options, &error);
    g_assert_no_error (error);
    skewed_url = vigil_simcam_get_url (skewed, 0);
  }
  extra = g_strdup_printf ("[camera skewed]\nurl=%s\nframe_health=false\n[alerts]\nclear_after_seconds=2\n",
                           skewed_url);
  vigil_test_vigild_set_up (f, bus, &options, 2, NULL, "frame_health=false\n", extra);
  vigil_test_vigild_start (f);
  vigil_test_vigild_watch_alert (f, &drift);

  cam0 = get_camera_proxy (f, "cam0");
  g_assert_true (vigil_test_wait_until (clock_source_known, cam0, 60));
  /* Loopback and one read batch: well under a second. */
  g_assert_cmpint (ABS (vigil_dbus_camera_get_clock_offset_us (cam0)), <, S);

  vigil_test_vigild_wait_for_alert (f, &drift, 60);
  {
    g_autoptr(VigilDBusCamera) camera = get_camera_proxy (f, "skewed");

    g_assert_cmpstr (vigil_dbus_camera_get_clock_source (camera), ==, "rtcp");
    g_assert_cmpint (vigil_dbus_camera_get_clock_offset_us (camera), >, 119 * S);
    g_assert_cmpint (vigil_dbus_camera_get_clock_offset_us (camera), <, 121 * S);
  }
  g_assert_false (alert_is_open (f, "clock-drift", "camera cam0"));
}

static void
test_selfcheck (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 2, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 300,
                                 .gop_frames = 10, .clip_seconds = 4 };
  VigilTestAlertWait raised = { "offline", "camera cam1", FALSE };
  g_autofree gchar *out = NULL;
  g_autofree gchar *bad = NULL;

  vigil_test_vigild_set_up (f, bus, &options, 2, NULL, NULL, "[alerts]\noffline_seconds=2\n");
  vigil_test_vigild_start (f);
  vigil_test_vigild_wait_for_segments (f, 4);

  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "selfcheck", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "✓ camera cam0"));
  g_assert_nonnull (strstr (out, "✓ camera cam1"));
  g_assert_nonnull (strstr (out, "✓ storage"));
  g_assert_null (strstr (out, "✗"));

  vigil_simcam_set_offline (f->simcam, TRUE);
  vigil_test_vigild_wait_for_alert (f, &raised, 60);
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &bad, NULL, "--session", "selfcheck", NULL), ==, 1);
  g_assert_nonnull (strstr (bad, "✗ camera cam1"));
  g_assert_nonnull (strstr (bad, "✗ reachable"));
  g_clear_pointer (&bad, g_free);
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &bad, NULL, "--session", "--json", "selfcheck", NULL), ==, 1);
  g_assert_nonnull (strstr (bad, "\"ok\" : false"));
  vigil_simcam_set_offline (f->simcam, FALSE);
}

/* Whether @relative is still a complete segment of the catalog: the
 * watchdog may delete one while the test looks (row marked, file
 * unlinked, row removed), which is not a fault. */
static gboolean
still_cataloged (Fixture *f, const gchar *relative)
{
  g_autoptr(VigilStore) store = vigil_store_new (f->catalog, f->root, NULL);
  g_autoptr(GPtrArray) segments = vigil_store_list_segments (store, "cam0", 0, G_MAXINT64, NULL);

  for (guint i = 0; segments != NULL && i < segments->len; i++)
    if (g_str_equal (((VigilSegment *) segments->pdata[i])->path, relative))
      return TRUE;
  return FALSE;
}

/* Every complete segment in the catalog has its file and decodes; every
 * file has its row. */
static guint
check_catalog_matches_files (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilStore) store = vigil_store_new (f->catalog, f->root, &error);
  g_autoptr(GPtrArray) segments = NULL;
  g_autoptr(GHashTable) paths = NULL;
  g_autofree gchar *cam_folder = g_build_filename (f->root, "cam0", NULL);
  g_autoptr(GPtrArray) stack = g_ptr_array_new_with_free_func (g_free);

  g_assert_no_error (error);
  segments = vigil_store_list_segments (store, "cam0", 0, G_MAXINT64, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < segments->len; i++)
    {
      const VigilSegment *segment = segments->pdata[i];
      g_autofree gchar *path = vigil_store_get_absolute_path (store, segment->path);
      gint64 frames = vigil_test_decode_file (path, &error);

      if (frames < 0 && !g_file_test (path, G_FILE_TEST_EXISTS) && !still_cataloged (f, segment->path))
        {
          g_clear_error (&error);    /* deleted by the watchdog meanwhile, row first gone */
          continue;
        }
      g_assert_no_error (error);
      g_assert_cmpint (frames, >, 0);
    }
  paths = vigil_store_list_paths (store, &error);
  g_assert_no_error (error);
  g_ptr_array_add (stack, g_strdup ("cam0"));
  while (stack->len > 0)
    {
      g_autofree gchar *relative = g_ptr_array_steal_index (stack, stack->len - 1);
      g_autofree gchar *folder = g_build_filename (f->root, relative, NULL);
      g_autoptr(GDir) dir = g_dir_open (folder, 0, NULL);
      const gchar *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree gchar *child = g_build_filename (relative, name, NULL);
          g_autofree gchar *path = g_build_filename (f->root, child, NULL);

          if (g_file_test (path, G_FILE_TEST_IS_DIR))
            g_ptr_array_add (stack, g_steal_pointer (&child));
          else if (!g_hash_table_contains (paths, child) && g_file_test (path, G_FILE_TEST_EXISTS))
            {
              /* A file just opened gets its row a moment later: look again. */
              g_autoptr(GHashTable) again = vigil_store_list_paths (store, &error);
              g_assert_no_error (error);
              if (!g_hash_table_contains (again, child) && g_file_test (path, G_FILE_TEST_EXISTS))
                g_error ("%s is on disk but not in the catalog", child);
            }
        }
    }
  return segments->len;
}

static gboolean
file_exists (gpointer path)
{
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

/* The watchdog on a real 1 MiB tmpfs: the oldest unlocked segments go,
 * the locked one stays; with everything locked the disk fills, recording
 * fails cleanly (no corrupt segment, catalog true) and resumes once the
 * lock is released and space freed. */
static void
test_watchdog_small_filesystem (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 600,
                                 .gop_frames = 10, .clip_seconds = 4 };
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilSegment) locked = NULL;
  g_autofree gchar *locked_path = NULL;
  g_autofree gchar *incident = NULL;
  g_autofree gchar *first_path = NULL;
  g_autoptr(VigilDBusIncident) proxy = NULL;
  g_autoptr(GVariantDict) options_dict = g_variant_dict_new (NULL);
  VigilTestAlertWait full = { "disk-full-locked", NULL, FALSE };
  const gchar *cameras[] = { "cam0", NULL };
  const gchar *no_tags[] = { NULL };

  if (geteuid () != 0)
    {
      g_test_skip ("needs root to mount a small tmpfs (CI runs as root)");
      return;
    }
  vigil_test_vigild_set_up (f, bus, &options, 2,
                            "watchdog_seconds=1\nwarn_free_percent=60\ndelete_free_percent=45\n"
                            "target_free_percent=60\n", NULL, "[alerts]\nraise_after_seconds=1\n");
  if (mount ("tmpfs", f->root, "tmpfs", 0, "size=1m") != 0)
    {
      g_test_skip ("cannot mount a tmpfs here");
      return;
    }
  full.subject = g_strdup_printf ("storage %s", f->root);
  vigil_test_vigild_start (f);
  vigil_test_vigild_wait_for_segments (f, 3);

  /* Lock the second segment; keep recording until the first is deleted. */
  locked = vigil_test_vigild_get_segment (f, "cam0", 1);
  {
    g_autoptr(VigilSegment) first = vigil_test_vigild_get_segment (f, "cam0", 0);
    first_path = g_build_filename (f->root, first->path, NULL);
  }
  locked_path = g_build_filename (f->root, locked->path, NULL);
  g_variant_dict_insert (options_dict, "pre-roll-s", "u", 0);
  g_variant_dict_insert (options_dict, "post-roll-s", "u", 0);
  g_assert_true (vigil_dbus_manager_call_create_incident_sync (f->manager, cameras, locked->start_us + 500000,
                                                                locked->end_us - 500000, "keep this", "", no_tags,
                                                                g_variant_dict_end (options_dict), &incident, NULL,
                                                                &error));
  g_assert_no_error (error);
  {
    gboolean gone = FALSE;

    for (guint i = 0; i < 60 && !gone; i++)
      {
        vigil_test_vigild_wait_for_segments (f, 1);
        gone = !file_exists (first_path);
      }
    g_assert_true (gone);
  }
  g_assert_true (file_exists (locked_path));
  check_catalog_matches_files (f);

  /* Now lock everything from here on: the disk must fill without any
   * locked file going, and with a true catalog. */
  {
    g_autoptr(GVariantDict) open_options = g_variant_dict_new (NULL);
    g_autofree gchar *open_incident = NULL;

    g_variant_dict_insert (open_options, "pre-roll-s", "u", 3600);
    g_assert_true (vigil_dbus_manager_call_create_incident_sync (f->manager, cameras, g_get_real_time (), 0,
                                                                  "hold everything", "", no_tags,
                                                                  g_variant_dict_end (open_options),
                                                                  &open_incident, NULL, &error));
    g_assert_no_error (error);
    vigil_test_vigild_wait_for_alert (f, &full, 120);
    g_assert_true (file_exists (locked_path));
    check_catalog_matches_files (f);

    /* Release: the watchdog frees space and recording resumes. */
    proxy = vigil_dbus_incident_proxy_new_sync (f->connection, G_DBUS_PROXY_FLAGS_NONE, "org.vigil.Vigil1",
                                                open_incident, NULL, &error);
    g_assert_no_error (error);
    g_assert_true (vigil_dbus_incident_call_release_sync (proxy, "test over", NULL, &error));
    g_assert_no_error (error);
  }
  vigil_test_vigild_wait_for_segments (f, 2);
  g_assert_true (file_exists (locked_path));
  check_catalog_matches_files (f);
  g_free ((gchar *) full.subject);
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
  ADD ("/e2e/alerts/offline-raised-and-cleared", test_offline_raised_and_cleared);
  ADD ("/e2e/alerts/selfcheck", test_selfcheck);
  ADD ("/e2e/alerts/picture-faults", test_picture_faults);
  ADD ("/e2e/alerts/reconnect-storm", test_reconnect_storm);
  ADD ("/e2e/alerts/clock-drift", test_clock_drift);
  ADD ("/e2e/alerts/recording-stalled", test_recording_stalled);
  ADD ("/e2e/alerts/video-missing", test_video_missing);
  ADD ("/e2e/alerts/low-rate", test_low_rate);
  ADD ("/e2e/alerts/segment-not-durable", test_segment_not_durable);
  ADD ("/e2e/alerts/watchdog-small-filesystem", test_watchdog_small_filesystem);
  status = g_test_run ();
  g_test_dbus_down (bus);
  g_clear_object (&bus);
  return status;
}
