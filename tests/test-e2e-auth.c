/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A camera that refuses vigild's login, or is busy, end to end: the real
 * vigild on a private bus records a simulated camera with Digest
 * authentication. A wrong password in the password file raises
 * auth-failed (naming the user, never the password), never offline, and
 * costs the camera no more than three refused logins, counted on the
 * camera's side, where the old 1-30 s back-off would have made a dozen;
 * vigild says when it tries next (ten minutes on) and why. Correcting the
 * file and `vigilctl camera retry` gets it recording at once, clears the
 * alert and is in the audit log. With a short login_retry_seconds the
 * fourth attempt comes by itself, no sooner, and reads the corrected
 * file. A camera answering 503 raises camera-busy and waits its busy wait
 * the same way. */
#include <glib/gstdio.h>
#include <string.h>

#include "vigil-test-util.h"
#include "vigil-test-vigild.h"

#define S (G_GINT64_CONSTANT (1000000))
#define USER "admin"
#define RIGHT_PASSWORD "right-horse-battery"
#define WRONG_PASSWORD "wrong-horse-battery"

static GTestDBus *bus;

typedef struct {
  VigilTestVigild v;
  gchar          *password_file;
} Fixture;

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  vigil_test_vigild_tear_down (&f->v);
  g_free (f->password_file);
}

static void
write_password (Fixture *f, const gchar *password)
{
  g_autofree gchar *text = g_strconcat (password, "\n", NULL);

  g_assert_true (g_file_set_contents (f->password_file, text, -1, NULL));
  g_assert_cmpint (g_chmod (f->password_file, 0600), ==, 0);
}

/* One simulated camera demanding user admin with Digest, and vigild's
 * config for it with a password file holding @password and @camera_extra. */
static void
set_up (Fixture *f, const gchar *password, const gchar *camera_extra)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 300,
                                 .gop_frames = 10, .clip_seconds = 4, .user = USER, .password = RIGHT_PASSWORD,
                                 .auth = VIGIL_SIMCAM_AUTH_DIGEST };
  g_autofree gchar *conf = NULL;
  g_autofree gchar *camera = NULL;
  g_auto(GStrv) parts = NULL;

  vigil_test_vigild_set_up (&f->v, bus, &options, 2, NULL, NULL,
                            "[alerts]\noffline_seconds=3\nclear_after_seconds=2\n");
  f->password_file = g_build_filename (f->v.dir, "cam0.password", NULL);
  write_password (f, password);
  /* The password file's path is only known now: into cam0's group. */
  g_assert_true (g_file_get_contents (f->v.conf, &conf, NULL, NULL));
  camera = g_strdup_printf ("[camera cam0]\nuser=" USER "\npassword_file=%s\nframe_health=false\n%s",
                            f->password_file, camera_extra != NULL ? camera_extra : "");
  parts = g_strsplit (conf, "[camera cam0]\n", 2);
  g_assert_nonnull (parts[1]);
  g_free (conf);
  conf = g_strconcat (parts[0], camera, parts[1], NULL);
  g_assert_true (g_file_set_contents (f->v.conf, conf, -1, NULL));
}

static VigilDBusCamera *
get_camera (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  VigilDBusCamera *camera = vigil_dbus_camera_proxy_new_sync (f->v.connection, G_DBUS_PROXY_FLAGS_NONE,
                                                              "org.vigil.Vigil1", "/org/vigil/Vigil1/Camera/cam0",
                                                              NULL, &error);

  g_assert_no_error (error);
  return camera;
}

typedef struct {
  VigilSimcam *simcam;
  guint        n;
} LoginsWanted;

static gboolean
has_refused_logins (gpointer data)
{
  LoginsWanted *wanted = data;

  return vigil_simcam_get_n_logins_refused (wanted->simcam) >= wanted->n;
}

static gboolean
camera_is_recording (gpointer data)
{
  g_autofree gchar *out = NULL;

  /* Through vigilctl, as an operator would look. */
  vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "cameras", NULL);
  return out != NULL && strstr (out, "recording") != NULL;
}

/* Every alert of @kind in `vigilctl alerts --open`, as text. */
static gchar *
open_alerts (void)
{
  gchar *out = NULL;

  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "alerts", "--open", NULL), ==, 0);
  return out;
}

/* The wrong password: auth-failed, not offline, at most three refused
 * logins while the old back-off would have made a dozen, the next
 * attempt ten minutes on; corrected and retried, it records. */
static void
test_wrong_password (Fixture *f, gconstpointer unused)
{
  VigilTestAlertWait raised = { "auth-failed", "camera cam0", FALSE };
  VigilTestAlertWait cleared = { "auth-failed", "camera cam0", TRUE };
  VigilTestAlertWait offline = { "offline", "camera cam0", FALSE };
  LoginsWanted three = { NULL, 3 };
  g_autoptr(VigilDBusCamera) camera = NULL;
  g_autofree gchar *alerts = NULL;
  g_autofree gchar *cameras = NULL;
  g_autofree gchar *out = NULL;
  g_autofree gchar *log = NULL;
  gint64 third_seen_us, window_end_us, next_attempt_us;
  guint failures;

  set_up (f, WRONG_PASSWORD, NULL);
  three.simcam = f->v.simcam;
  vigil_test_vigild_start (&f->v);
  vigil_test_vigild_watch_alert (&f->v, &offline);
  vigil_test_vigild_wait_for_alert (&f->v, &raised, 60);
  g_test_message ("auth-failed: %s", raised.details);
  g_assert_nonnull (strstr (raised.details, "login refused (401 Unauthorized) for user " USER));
  g_assert_null (strstr (raised.details, WRONG_PASSWORD));

  /* The quick tries are over within seconds of each other. */
  if (!vigil_test_wait_until (has_refused_logins, &three, 60))
    g_error ("no third refused login within 60 s: %u", vigil_simcam_get_n_logins_refused (f->v.simcam));
  third_seen_us = g_get_real_time ();

  /* A window of 40 s in which the old back-off (1, 2, 4, 8, 16 s) would
   * have tried about six more times, and offline (after 3 s) would have
   * been raised: nothing must come. */
  g_assert_false (vigil_test_wait_for (&offline.seen, 40));
  window_end_us = g_get_real_time ();
  /* Counted by the camera: each attempt of vigilrtspsrc is a bare
   * DESCRIBE, answered 401 with the challenge (not a login), then one
   * DESCRIBE with Digest credentials, refused: one refused login and two
   * 401s per attempt. */
  g_test_message ("after %" G_GINT64_FORMAT " s: %u refused logins, %u 401 answers",
                  (window_end_us - third_seen_us) / S + 1, vigil_simcam_get_n_logins_refused (f->v.simcam),
                  vigil_simcam_get_n_auth_failures (f->v.simcam));
  g_assert_cmpuint (vigil_simcam_get_n_logins_refused (f->v.simcam), ==, 3);
  g_assert_cmpuint (vigil_simcam_get_n_auth_failures (f->v.simcam), ==, 6);

  alerts = open_alerts ();
  g_assert_nonnull (strstr (alerts, "auth-failed"));
  g_assert_null (strstr (alerts, "offline"));
  g_assert_null (strstr (alerts, WRONG_PASSWORD));

  /* Why it waits, and until when: ten minutes after the third refusal,
   * which the test saw at most a poll (50 ms) after it came. */
  camera = get_camera (f);
  g_assert_cmpstr (vigil_dbus_camera_get_state (camera), ==, "login-refused");
  g_assert_cmpstr (vigil_dbus_camera_get_wait_reason (camera), ==, "login refused (401 Unauthorized) for user " USER);
  next_attempt_us = vigil_dbus_camera_get_next_attempt_us (camera);
  g_test_message ("next attempt %" G_GINT64_FORMAT " s after the third refused login was seen",
                  (next_attempt_us - third_seen_us) / S);
  g_assert_cmpint (next_attempt_us, >=, third_seen_us + 600 * S - S);
  g_assert_cmpint (next_attempt_us, <=, third_seen_us + 720 * S + S);
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &cameras, NULL, "--session", "cameras", NULL), ==, 0);
  g_test_message ("%s", cameras);
  g_assert_nonnull (strstr (cameras, "login-refused"));
  g_assert_nonnull (strstr (cameras, "cam0: login refused (401 Unauthorized) for user " USER "; next attempt at "));
  g_assert_nonnull (strstr (cameras, "`vigilctl camera retry cam0` to try now"));
  g_clear_pointer (&cameras, g_free);
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &cameras, NULL, "--session", "status", NULL), ==, 0);
  g_assert_nonnull (strstr (cameras, "cam0: login refused"));

  /* Corrected, and retried at once by an operator. */
  write_password (f, RIGHT_PASSWORD);
  vigil_test_vigild_watch_alert (&f->v, &cleared);
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "camera", "retry", "cam0", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "trying now"));
  vigil_test_vigild_wait_for_segments (&f->v, 1);
  vigil_test_vigild_wait_for_alert (&f->v, &cleared, 90);
  g_assert_true (vigil_test_wait_until (camera_is_recording, NULL, 30));
  /* The right password is no refused login; its bare DESCRIBE got the
   * challenge. */
  failures = vigil_simcam_get_n_auth_failures (f->v.simcam);
  g_assert_cmpuint (vigil_simcam_get_n_logins_refused (f->v.simcam), ==, 3);
  g_assert_cmpuint (failures, <=, 7);
  g_assert_false (offline.seen);

  /* In the audit log, with who asked; nowhere the password. */
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "audit", NULL), ==, 0);
  g_test_message ("%s", out);
  g_assert_nonnull (strstr (out, "camera-retry"));
  g_assert_nonnull (strstr (out, g_get_user_name ()));
  g_assert_null (strstr (out, WRONG_PASSWORD));
  g_assert_null (strstr (out, RIGHT_PASSWORD));
  log = vigil_test_vigild_read_log (&f->v);
  g_assert_null (strstr (log, WRONG_PASSWORD));
  g_assert_null (strstr (log, RIGHT_PASSWORD));
}

/* With login_retry_seconds=5, the fourth attempt comes by itself, not
 * before five seconds after the third; it reads the file afresh, so a
 * password corrected meanwhile records without anyone's retry. */
static void
test_short_login_wait (Fixture *f, gconstpointer unused)
{
  VigilTestAlertWait cleared = { "auth-failed", "camera cam0", TRUE };
  LoginsWanted three = { NULL, 3 };
  gint64 third_seen_us, fourth_seen_us;

  set_up (f, WRONG_PASSWORD, "login_retry_seconds=5\n");
  three.simcam = f->v.simcam;
  vigil_test_vigild_start (&f->v);
  if (!vigil_test_wait_until (has_refused_logins, &three, 60))
    g_error ("no third refused login within 60 s: %u", vigil_simcam_get_n_logins_refused (f->v.simcam));
  third_seen_us = g_get_real_time ();
  three.n = 4;
  if (!vigil_test_wait_until (has_refused_logins, &three, 60))
    g_error ("no fourth attempt within 60 s: %u", vigil_simcam_get_n_logins_refused (f->v.simcam));
  fourth_seen_us = g_get_real_time ();
  g_test_message ("fourth attempt %.1f s after the third", (fourth_seen_us - third_seen_us) / 1e6);
  /* Each was seen within a poll of when it came. */
  g_assert_cmpint (fourth_seen_us - third_seen_us, >=, 5 * S - S / 10);

  /* The next waits 10 s (doubling): time to correct the file. */
  write_password (f, RIGHT_PASSWORD);
  vigil_test_vigild_watch_alert (&f->v, &cleared);
  vigil_test_vigild_wait_for_segments (&f->v, 1);
  vigil_test_vigild_wait_for_alert (&f->v, &cleared, 90);
  g_assert_cmpuint (vigil_simcam_get_n_logins_refused (f->v.simcam), ==, 4);
}

/* A camera at its session limit: camera-busy naming the status, not
 * offline, a minute's wait; retried once a session is free, it records. */
static void
test_busy (Fixture *f, gconstpointer unused)
{
  VigilTestAlertWait raised = { "camera-busy", "camera cam0", FALSE };
  VigilTestAlertWait cleared = { "camera-busy", "camera cam0", TRUE };
  VigilTestAlertWait offline = { "offline", "camera cam0", FALSE };
  g_autoptr(VigilDBusCamera) camera = NULL;
  g_autofree gchar *out = NULL;
  gint64 raised_seen_us, next_attempt_us;

  set_up (f, RIGHT_PASSWORD, NULL);
  vigil_simcam_set_describe_status (f->v.simcam, 0, 503);
  vigil_test_vigild_start (&f->v);
  vigil_test_vigild_watch_alert (&f->v, &offline);
  vigil_test_vigild_wait_for_alert (&f->v, &raised, 60);
  raised_seen_us = g_get_real_time ();
  g_test_message ("camera-busy: %s", raised.details);
  g_assert_nonnull (strstr (raised.details, "503 Service Unavailable"));

  camera = get_camera (f);
  g_assert_cmpstr (vigil_dbus_camera_get_state (camera), ==, "busy");
  next_attempt_us = vigil_dbus_camera_get_next_attempt_us (camera);
  /* The first busy wait is a minute from the refusal, which came before
   * the alert was raised (1 s later, on a tick). */
  g_assert_cmpint (next_attempt_us, >=, raised_seen_us + 55 * S);
  /* Not offline meanwhile (offline_seconds=3). */
  g_assert_false (vigil_test_wait_for (&offline.seen, 10));

  vigil_simcam_set_describe_status (f->v.simcam, 0, 0);
  vigil_test_vigild_watch_alert (&f->v, &cleared);
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "camera", "retry", "cam0", NULL), ==, 0);
  vigil_test_vigild_wait_for_segments (&f->v, 1);
  vigil_test_vigild_wait_for_alert (&f->v, &cleared, 90);
  g_assert_false (offline.seen);
  /* Recording, there is nothing to retry. */
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "camera", "retry", "cam0", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "not waiting"));
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  gst_init (NULL, NULL);
  if (!vigil_test_have_elements ("x264enc", "rtph264pay", "matroskamux", NULL))
    {
      g_test_skip ("GStreamer elements missing");
      return 0;
    }
  bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (bus);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, NULL, fn, fixture_tear_down)
  ADD ("/e2e/auth/wrong-password", test_wrong_password);
  ADD ("/e2e/auth/short-login-wait", test_short_login_wait);
  ADD ("/e2e/auth/busy", test_busy);
  status = g_test_run ();
  g_test_dbus_down (bus);
  g_clear_object (&bus);
  return status;
}
