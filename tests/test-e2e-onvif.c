/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ONVIF cameras end to end: the real vigild on a private bus, configured
 * with onvif= only, asks the simulated ONVIF device (real SOAP over HTTP
 * on 127.0.0.1, WS-Security digest) for its stream and records it; its
 * Camera object shows what the device told; PTZ moves and presets over
 * D-Bus turn the simulated head, whose position drives the served
 * picture, and every one lands in the audit log with the caller; bad PTZ
 * requests get clear errors and recording goes on. A wrong password is
 * auth-failed, with the same back-off as over RTSP, and records once the
 * password file is corrected and the camera retried. */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "vigil-simcam-onvif.h"
#include "vigil-test-util.h"
#include "vigil-test-vigild.h"

static GTestDBus *bus;

typedef struct {
  VigilTestVigild   vigild;
  VigilSimcamOnvif *device;
} Fixture;

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  vigil_test_vigild_tear_down (&f->vigild);
  g_clear_object (&f->device);
}

static void
on_head_moved (gdouble pan, gdouble tilt, gdouble zoom, gpointer simcam)
{
  vigil_simcam_set_ptz (simcam, 0, pan, tilt, zoom);
}

static void
on_segment_completed (VigilDBusManager *manager, const gchar *camera, gint64 start_us, gint64 end_us,
                      guint64 size, gboolean *door_recorded)
{
  if (g_str_equal (camera, "door"))
    *door_recorded = TRUE;
}

static gboolean
device_told (gpointer camera)
{
  return g_strcmp0 (vigil_dbus_camera_get_manufacturer (camera), "") != 0;
}

#define DOOR_PASSWORD "s3cret-onvif"

/* vigild with cam0 recording the simulated PTZ camera by url= and "door"
 * the same camera by onvif= (WS-Security, user "operator", with its own
 * @door_extra lines), through a simulated device made from
 * @device_options, whose credentials, main profile and head are filled in
 * here. Waits until door has recorded and told its device information;
 * returns door's D-Bus object. */
static VigilDBusCamera *
start_door (Fixture *f, VigilSimcamOnvifOptions *device_options, const gchar *door_extra)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 300,
                                 .gop_frames = 10, .ptz = TRUE };
  g_autoptr(GError) error = NULL;
  g_autofree gchar *main_url = NULL, *device_url = NULL, *password_file = NULL, *extra = NULL;
  gboolean door_recorded = FALSE;
  VigilDBusCamera *door;
  gulong segment_id;

  vigil_test_vigild_set_up (&f->vigild, bus, &options, 2, NULL, "frame_health=false\n", NULL);
  main_url = vigil_simcam_get_url (f->vigild.simcam, 0);
  device_options->user = "operator";
  device_options->password = DOOR_PASSWORD;
  device_options->auth = VIGIL_SIMCAM_ONVIF_AUTH_WSSE;
  device_options->main_profile = (VigilSimcamOnvifProfile) { .stream_uri = main_url, .width = 320, .height = 240 };
  device_options->moved = on_head_moved;
  device_options->moved_data = f->vigild.simcam;
  f->device = vigil_simcam_onvif_new (device_options, &error);
  g_assert_no_error (error);
  device_url = vigil_simcam_onvif_get_device_url (f->device);
  password_file = g_build_filename (f->vigild.dir, "door.password", NULL);
  g_assert_true (g_file_set_contents (password_file, DOOR_PASSWORD "\n", -1, NULL));
  g_assert_cmpint (g_chmod (password_file, 0600), ==, 0);
  extra = g_strdup_printf ("[camera door]\nonvif=%s\nuser=operator\npassword_file=%s\n%s", device_url,
                           password_file, door_extra);
  vigil_test_vigild_append_config (&f->vigild, extra);
  vigil_test_vigild_start (&f->vigild);

  segment_id = g_signal_connect (f->vigild.manager, "segment-completed", G_CALLBACK (on_segment_completed),
                                 &door_recorded);
  g_assert_true (vigil_test_wait_for (&door_recorded, 90));
  g_signal_handler_disconnect (f->vigild.manager, segment_id);
  door = vigil_dbus_camera_proxy_new_sync (f->vigild.connection, G_DBUS_PROXY_FLAGS_NONE, "org.vigil.Vigil1",
                                           "/org/vigil/Vigil1/Camera/door", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_test_wait_until (device_told, door, 30));
  return door;
}

typedef struct {
  VigilSimcam *simcam;
  gdouble      above, below;   /* wait for the served picture's pan outside [below, above] */
} PanWait;

static gboolean
pan_beyond (gpointer data)
{
  PanWait *wait = data;
  gdouble pan;

  vigil_simcam_get_ptz (wait->simcam, 0, &pan, NULL, NULL);
  return pan > wait->above || pan < wait->below;
}

typedef struct {
  VigilTestVigild *vigild;
  const gchar     *camera;
  gint64           after_us;
  gchar           *path;      /* absolute, once found */
} SegmentWait;

/* Whether @camera has a complete segment that started at or after
 * after_us; sets path to the first such. */
static gboolean
segment_started_after (gpointer data)
{
  SegmentWait *wait = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilStore) store = vigil_store_new (wait->vigild->catalog, wait->vigild->root, &error);
  g_autoptr(GPtrArray) segments = NULL;

  g_assert_no_error (error);
  segments = vigil_store_list_segments (store, wait->camera, wait->after_us, G_MAXINT64, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < segments->len; i++)
    {
      VigilSegment *segment = segments->pdata[i];

      if (segment->start_us >= wait->after_us)
        {
          wait->path = g_build_filename (wait->vigild->root, segment->path, NULL);
          return TRUE;
        }
    }
  return FALSE;
}

/* The mean luma of what vigild recorded of @camera, from the last frame of
 * its first segment to start after now. */
static gdouble
recorded_luma_from_now (Fixture *f, const gchar *camera)
{
  SegmentWait wait = { &f->vigild, camera, g_get_real_time (), NULL };
  g_autoptr(GError) error = NULL;
  g_autofree gchar *path = NULL;
  gdouble luma;

  g_assert_true (vigil_test_wait_until (segment_started_after, &wait, 60));
  path = wait.path;
  luma = vigil_test_decode_last_luma (path, &error);
  g_assert_no_error (error);
  g_test_message ("%s: last frame's mean luma %.1f", path, luma);
  return luma;
}

static gboolean
waits_long (gpointer camera)
{
  return g_strcmp0 (vigil_dbus_camera_get_state (camera), "login-refused") == 0
         && vigil_dbus_camera_get_next_attempt_us (camera) > g_get_real_time () + 9 * 60 * G_USEC_PER_SEC;
}

/* The device refuses the password in the file (NotAuthorized): auth-failed
 * for door, not offline; after three refusals the next attempt is ten
 * minutes away; corrected and retried, door records and the alert clears. */
static void
test_onvif_wrong_password (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 300,
                                 .gop_frames = 10 };
  VigilSimcamOnvifOptions device_options = { .name = "door-camera", .user = "operator", .password = DOOR_PASSWORD,
                                             .auth = VIGIL_SIMCAM_ONVIF_AUTH_WSSE };
  VigilTestAlertWait raised = { "auth-failed", "camera door", FALSE };
  VigilTestAlertWait cleared = { "auth-failed", "camera door", TRUE };
  VigilTestAlertWait offline = { "offline", "camera door", FALSE };
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilDBusCamera) door = NULL;
  g_autofree gchar *main_url = NULL, *device_url = NULL, *password_file = NULL, *extra = NULL, *out = NULL;
  gboolean door_recorded = FALSE;
  guint refused;
  gulong segment_id;

  vigil_test_vigild_set_up (&f->vigild, bus, &options, 2, NULL, "frame_health=false\n",
                            "[alerts]\noffline_seconds=3\nclear_after_seconds=2\n");
  main_url = vigil_simcam_get_url (f->vigild.simcam, 0);
  device_options.main_profile = (VigilSimcamOnvifProfile) { .stream_uri = main_url, .width = 320, .height = 240 };
  f->device = vigil_simcam_onvif_new (&device_options, &error);
  g_assert_no_error (error);
  device_url = vigil_simcam_onvif_get_device_url (f->device);
  password_file = g_build_filename (f->vigild.dir, "door.password", NULL);
  g_assert_true (g_file_set_contents (password_file, "not-" DOOR_PASSWORD "\n", -1, NULL));
  g_assert_cmpint (g_chmod (password_file, 0600), ==, 0);
  extra = g_strdup_printf ("[camera door]\nonvif=%s\nuser=operator\npassword_file=%s\nframe_health=false\n",
                           device_url, password_file);
  vigil_test_vigild_append_config (&f->vigild, extra);
  vigil_test_vigild_start (&f->vigild);
  vigil_test_vigild_watch_alert (&f->vigild, &offline);
  vigil_test_vigild_wait_for_alert (&f->vigild, &raised, 60);
  g_test_message ("auth-failed: %s", raised.details);
  g_assert_nonnull (strstr (raised.details, "for user operator"));
  g_assert_null (strstr (raised.details, DOOR_PASSWORD));

  door = vigil_dbus_camera_proxy_new_sync (f->vigild.connection, G_DBUS_PROXY_FLAGS_NONE, "org.vigil.Vigil1",
                                           "/org/vigil/Vigil1/Camera/door", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_test_wait_until (waits_long, door, 60));
  /* Each attempt costs the device two refused requests (onvif/ asks once
   * more after re-learning the camera's clock, which a NotAuthorized fault
   * may mean), so vigild counts two: the long wait comes after the
   * second attempt, four refusals, under the five that lock many cameras. */
  refused = vigil_simcam_onvif_get_n_auth_failures (f->device);
  g_test_message ("requests the device refused before the long wait: %u", refused);
  g_assert_cmpuint (refused, <=, 4);
  g_assert_false (offline.seen);

  g_assert_true (g_file_set_contents (password_file, DOOR_PASSWORD "\n", -1, NULL));
  g_assert_cmpint (g_chmod (password_file, 0600), ==, 0);
  vigil_test_vigild_watch_alert (&f->vigild, &cleared);
  segment_id = g_signal_connect (f->vigild.manager, "segment-completed", G_CALLBACK (on_segment_completed),
                                 &door_recorded);
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "camera", "retry", "door", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "trying now"));
  if (!vigil_test_wait_for (&door_recorded, 90))
    {
      g_autofree gchar *log = vigil_test_vigild_read_log (&f->vigild);

      g_error ("door did not record after the retry; vigild's log:\n%s", log);
    }
  g_signal_handler_disconnect (f->vigild.manager, segment_id);
  vigil_test_vigild_wait_for_alert (&f->vigild, &cleared, 90);
  g_assert_false (offline.seen);
  /* Nothing refused after the correction. */
  g_assert_cmpuint (vigil_simcam_onvif_get_n_auth_failures (f->device), ==, refused);
}

static void
test_onvif_camera (Fixture *f, gconstpointer unused)
{
  VigilSimcamOnvifOptions device_options = { .clock_offset_s = 90, .name = "door-camera" };
  g_autoptr(GError) error = NULL;
  g_autofree gchar *device_url = NULL, *token = NULL, *moving = NULL, *log = NULL;
  g_autoptr(VigilDBusCamera) door = NULL, cam0 = NULL;
  g_autoptr(GVariant) rows = NULL, presets = NULL;
  gdouble luma_ahead, luma_right;
  PanWait right = { NULL, 0.3, -2 }, left = { NULL, 2, -0.3 };
  gboolean has_position, seen_move = FALSE, seen_preset = FALSE;
  gdouble pan, tilt, zoom;
  GVariantIter iter;
  guint64 id;
  gint64 time_us, uid;
  const gchar *user, *action, *target, *details, *sha;

  if (!vigil_test_have_elements ("x264enc", "timeoverlay", NULL))
    {
      g_test_skip ("x264enc or timeoverlay missing");
      return;
    }
  /* It records the stream the device named (door's frame health on). */
  door = start_door (f, &device_options, "");
  device_url = vigil_simcam_onvif_get_device_url (f->device);
  g_assert_cmpstr (vigil_dbus_camera_get_onvif_device (door), ==, device_url);
  g_assert_cmpstr (vigil_dbus_camera_get_profile (door), ==, "Profile_1");
  g_assert_true (vigil_dbus_camera_get_has_ptz (door));
  g_assert_cmpstr (vigil_dbus_camera_get_model (door), !=, "");
  /* The device's clock is 90 s ahead (told over ONVIF, or the stream's). */
  if (g_str_equal (vigil_dbus_camera_get_clock_source (door), "onvif"))
    g_assert_cmpint (ABS (vigil_dbus_camera_get_clock_offset_us (door) - 90 * G_USEC_PER_SEC), <, 2 * G_USEC_PER_SEC);

  /* Looking straight ahead, as recorded. */
  luma_ahead = recorded_luma_from_now (f, "door");

  /* A move to the right turns the head, and with it the served picture. */
  right.simcam = left.simcam = f->vigild.simcam;
  g_assert_true (vigil_dbus_camera_call_ptz_move_sync (door, 1.0, 0, 0, 1500, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (vigil_test_wait_until (pan_beyond, &right, 30));
  g_assert_true (vigil_dbus_camera_call_ptz_get_status_sync (door, &has_position, &pan, &tilt, &zoom, &moving, NULL,
                                                             &error));
  g_assert_no_error (error);
  g_assert_true (has_position);
  g_assert_cmpfloat (pan, >, 0.3);
  /* The recording shows it: the simulated scene brightens to the right
   * (mean luma 128 ahead, 176 at the far right, in video levels). */
  luma_right = recorded_luma_from_now (f, "door");
  g_assert_cmpfloat (luma_right, >, luma_ahead + 10);

  /* Presets: save here, go elsewhere, come back by name. */
  g_assert_true (vigil_dbus_camera_call_save_preset_sync (door, "entrance", &token, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (token, !=, "");
  g_assert_true (vigil_dbus_camera_call_list_presets_sync (door, &presets, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_n_children (presets), ==, 1);
  g_assert_true (vigil_dbus_camera_call_ptz_goto_sync (door, -0.8, 0, -1, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (vigil_test_wait_until (pan_beyond, &left, 30));
  g_assert_true (vigil_dbus_camera_call_goto_preset_sync (door, "entrance", NULL, &error));
  g_assert_no_error (error);
  g_assert_true (vigil_test_wait_until (pan_beyond, &right, 30));

  /* Bad requests: clear errors, nothing moves, recording goes on. */
  g_assert_false (vigil_dbus_camera_call_goto_preset_sync (door, "nowhere", NULL, &error));
  vigil_test_assert_dbus_error (error, "org.vigil.Vigil1.Error.InvalidArgument");
  g_assert_nonnull (strstr (error->message, "nowhere"));
  g_clear_error (&error);
  g_assert_false (vigil_dbus_camera_call_ptz_move_sync (door, 5.0, 0, 0, 500, NULL, &error));
  vigil_test_assert_dbus_error (error, "org.vigil.Vigil1.Error.InvalidArgument");
  g_clear_error (&error);
  cam0 = vigil_dbus_camera_proxy_new_sync (f->vigild.connection, G_DBUS_PROXY_FLAGS_NONE, "org.vigil.Vigil1",
                                           "/org/vigil/Vigil1/Camera/cam0", NULL, &error);
  g_assert_no_error (error);
  g_assert_false (vigil_dbus_camera_call_ptz_move_sync (cam0, 0.5, 0, 0, 500, NULL, &error));
  vigil_test_assert_dbus_error (error, "org.vigil.Vigil1.Error.NotSupported");
  g_clear_error (&error);

  /* Every command is in the audit log, with who gave it. */
  g_assert_true (vigil_dbus_manager_call_list_audit_sync (f->vigild.manager, 0, 0, &rows, NULL, &error));
  g_assert_no_error (error);
  g_variant_iter_init (&iter, rows);
  while (g_variant_iter_next (&iter, "(txx&s&s&s&s&s)", &id, &time_us, &uid, &user, &action, &target, &details,
                              &sha))
    {
      if (g_str_equal (action, "ptz-move") && g_str_equal (target, "camera door"))
        {
          seen_move = TRUE;
          g_assert_cmpint (uid, ==, getuid ());
          g_assert_cmpstr (user, ==, g_get_user_name ());
          g_assert_nonnull (strstr (details, "1500"));
        }
      seen_preset |= g_str_equal (action, "ptz-preset-go") && strstr (details, "entrance") != NULL;
    }
  g_assert_true (seen_move);
  g_assert_true (seen_preset);

  /* The password never reached vigild's log. */
  log = vigil_test_vigild_read_log (&f->vigild);
  g_assert_null (strstr (log, DOOR_PASSWORD));
  g_assert_cmpuint (vigil_simcam_onvif_get_n_auth_failures (f->device), ==, 0);
}

/* An ONVIF camera with a second profile: vigild records the main one and
 * judges the picture on the sub-stream (the simulated device serves two
 * mounts, so a black sub-stream raises "black" while the recording itself
 * stays bright). */
#define URI_SECRET "uri-s3cret"

static void
test_onvif_sub_stream_health (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 2, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 300,
                                 .gop_frames = 10, .clip_seconds = 3 };
  VigilSimcamOnvifOptions device_options = { .auth = VIGIL_SIMCAM_ONVIF_AUTH_NONE, .name = "yard-camera" };
  g_autoptr(GError) error = NULL;
  g_autofree gchar *main_url = NULL, *sub_url = NULL, *device_url = NULL, *extra = NULL, *log = NULL;
  VigilTestAlertWait black = { "black", "camera door", FALSE };
  VigilTestAlertWait cleared = { "black", "camera door", TRUE };
  gboolean door_recorded = FALSE;
  gulong segment_id;

  if (!vigil_test_have_elements ("x264enc", "timeoverlay", "avdec_h264", NULL))
    {
      g_test_skip ("x264enc, timeoverlay or avdec_h264 missing");
      return;
    }
  vigil_test_vigild_set_up (&f->vigild, bus, &options, 2, NULL, "frame_health=false\n",
                            "[alerts]\nraise_after_seconds=1\nclear_after_seconds=1\n");
  g_assert_true (vigil_simcam_set_resolution (f->vigild.simcam, 1, 160, 120, &error));
  g_assert_no_error (error);
  /* Cameras often put credentials in the URIs they return; these must
   * work and never be shown. */
  {
    g_autofree gchar *plain_main = vigil_simcam_get_url (f->vigild.simcam, 0);
    g_autofree gchar *plain_sub = vigil_simcam_get_url (f->vigild.simcam, 1);

    g_assert_true (g_str_has_prefix (plain_main, "rtsp://"));
    main_url = g_strconcat ("rtsp://viewer:" URI_SECRET "@", plain_main + strlen ("rtsp://"), NULL);
    sub_url = g_strconcat (plain_sub, "?user=viewer&password=" URI_SECRET, NULL);
  }
  device_options.main_profile = (VigilSimcamOnvifProfile) { .stream_uri = main_url, .width = 320, .height = 240 };
  device_options.sub_profile = (VigilSimcamOnvifProfile) { .stream_uri = sub_url, .width = 160, .height = 120 };
  f->device = vigil_simcam_onvif_new (&device_options, &error);
  g_assert_no_error (error);
  device_url = vigil_simcam_onvif_get_device_url (f->device);
  extra = g_strdup_printf ("[camera door]\nonvif=%s\npicture_learning_samples=3\n", device_url);
  vigil_test_vigild_append_config (&f->vigild, extra);
  vigil_test_vigild_start (&f->vigild);
  segment_id = g_signal_connect (f->vigild.manager, "segment-completed", G_CALLBACK (on_segment_completed),
                                 &door_recorded);
  g_assert_true (vigil_test_wait_for (&door_recorded, 90));
  log = vigil_test_vigild_read_log (&f->vigild);
  g_assert_nonnull (strstr (log, "camera door: frame health judges the sub-stream"));
  g_assert_null (strstr (log, URI_SECRET));

  /* The sub-stream goes black; the recorded stream does not. */
  vigil_test_vigild_watch_alert (&f->vigild, &black);
  vigil_test_vigild_watch_alert (&f->vigild, &cleared);
  g_assert_true (vigil_simcam_set_picture (f->vigild.simcam, 1, VIGIL_SIMCAM_PICTURE_BLACK, &error));
  g_assert_no_error (error);
  vigil_test_vigild_wait_for_alert (&f->vigild, &black, 60);
  g_assert_cmpfloat (recorded_luma_from_now (f, "door"), >, 60);
  g_assert_true (vigil_simcam_set_picture (f->vigild.simcam, 1, VIGIL_SIMCAM_PICTURE_NORMAL, &error));
  g_assert_no_error (error);
  vigil_test_vigild_wait_for_alert (&f->vigild, &cleared, 60);
  g_signal_handler_disconnect (f->vigild.manager, segment_id);
}

/* vigilctl --session ARGS..., its stdout and stderr into @out and @err
 * (each may be NULL); its exit status. */
#define VIGILCTL(out, err, ...) vigil_test_run_vigilctl (NULL, out, err, "--session", __VA_ARGS__, NULL)

/* The operator's side of it: vigilctl ptz moves, reads and presets the
 * door camera, refuses what it cannot do with the reason, discover finds
 * the device on a loopback target and cameras shows its make. */
static void
test_vigilctl_ptz_and_discover (Fixture *f, gconstpointer unused)
{
  VigilSimcamOnvifOptions device_options = { .name = "door-camera", .discovery = TRUE };
  g_autofree gchar *device_url = NULL, *target = NULL;
  g_autoptr(VigilDBusCamera) door = NULL;
  PanWait right = { NULL, 0.3, -2 }, left = { NULL, 2, -0.3 };
  gchar *out = NULL;

  if (!vigil_test_have_elements ("x264enc", "timeoverlay", NULL))
    {
      g_test_skip ("x264enc or timeoverlay missing");
      return;
    }
  door = start_door (f, &device_options, "frame_health=false\n");
  device_url = vigil_simcam_onvif_get_device_url (f->device);
  right.simcam = left.simcam = f->vigild.simcam;

  /* The camera list shows who made it. */
  g_assert_cmpint (VIGILCTL (&out, NULL, "cameras"), ==, 0);
  g_assert_nonnull (strstr (out, "door"));
  g_assert_nonnull (strstr (out, vigil_dbus_camera_get_manufacturer (door)));
  g_clear_pointer (&out, g_free);

  /* A move to the right for a second, at full speed. */
  g_assert_cmpint (VIGILCTL (NULL, NULL, "ptz", "door", "right", "--speed", "1", "--for", "1s"), ==, 0);
  g_assert_true (vigil_test_wait_until (pan_beyond, &right, 30));
  g_assert_cmpint (VIGILCTL (&out, NULL, "ptz", "door", "status"), ==, 0);
  g_assert_nonnull (strstr (out, "pan 0."));
  g_clear_pointer (&out, g_free);

  /* Presets: save here, go elsewhere (a negative pan needs no --), back. */
  g_assert_cmpint (VIGILCTL (NULL, NULL, "ptz", "door", "preset", "save", "gate"), ==, 0);
  g_assert_cmpint (VIGILCTL (&out, NULL, "ptz", "door", "presets"), ==, 0);
  g_assert_nonnull (strstr (out, "gate"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (VIGILCTL (NULL, NULL, "ptz", "door", "goto", "-0.6", "0"), ==, 0);
  g_assert_true (vigil_test_wait_until (pan_beyond, &left, 30));
  g_assert_cmpint (VIGILCTL (NULL, NULL, "ptz", "door", "preset", "go", "gate"), ==, 0);
  g_assert_true (vigil_test_wait_until (pan_beyond, &right, 30));
  g_assert_cmpint (VIGILCTL (NULL, NULL, "ptz", "door", "preset", "rm", "gate"), ==, 0);
  g_assert_cmpint (VIGILCTL (&out, NULL, "ptz", "door", "presets"), ==, 0);
  g_assert_null (strstr (out, "gate"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (VIGILCTL (NULL, NULL, "ptz", "door", "move-by", "-0.1", "0"), ==, 0);
  g_assert_cmpint (VIGILCTL (NULL, NULL, "ptz", "door", "stop"), ==, 0);

  /* What it cannot do, it says: a camera without PTZ, a preset that is not
   * there (vigild refused: 1), a speed out of range (bad command line: 2). */
  g_assert_cmpint (VIGILCTL (NULL, &out, "ptz", "cam0", "left"), ==, 1);
  g_assert_nonnull (strstr (out, "cam0"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (VIGILCTL (NULL, &out, "ptz", "door", "preset", "go", "nowhere"), ==, 1);
  g_assert_nonnull (strstr (out, "nowhere"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (VIGILCTL (NULL, &out, "ptz", "door", "left", "--speed", "5"), ==, 2);
  g_assert_nonnull (strstr (out, "--speed"));
  g_clear_pointer (&out, g_free);

  /* Discovery on the device's loopback port: its address and a config line. */
  target = g_strdup_printf ("127.0.0.1:%u", vigil_simcam_onvif_get_discovery_port (f->device));
  g_assert_cmpint (VIGILCTL (&out, NULL, "discover", "--target", target, "--timeout", "2000"), ==, 0);
  g_assert_nonnull (strstr (out, device_url));
  g_assert_nonnull (strstr (out, "onvif="));
  g_clear_pointer (&out, g_free);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  gst_init (NULL, NULL);
  if (!vigil_test_have_elements ("rtph264pay", "matroskamux", NULL))
    {
      g_test_skip ("GStreamer elements missing");
      return 0;
    }
  bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (bus);
  g_test_add ("/e2e/onvif/camera", Fixture, NULL, NULL, test_onvif_camera, fixture_tear_down);
  g_test_add ("/e2e/onvif/wrong-password", Fixture, NULL, NULL, test_onvif_wrong_password, fixture_tear_down);
  g_test_add ("/e2e/onvif/vigilctl", Fixture, NULL, NULL, test_vigilctl_ptz_and_discover, fixture_tear_down);
  g_test_add ("/e2e/onvif/sub-stream-health", Fixture, NULL, NULL, test_onvif_sub_stream_health,
              fixture_tear_down);
  status = g_test_run ();
  g_test_dbus_down (bus);
  g_clear_object (&bus);
  return status;
}
