/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A third-party ONVIF client checks the simulated ONVIF camera: the npm
 * onvif package (tests/onvif-npm/check-simcam.js) connects to the real
 * vigil-simcam program, reads its device information, profiles and media
 * URIs, drives the PTZ head and presets, and tries a wrong password; this
 * driver starts vigil-simcam with its ONVIF device on 127.0.0.1 (ports 0)
 * around each run, checks that the ONVIF moves turned the simulated picture,
 * and stops it. Exits 77 (meson: skipped), saying what is missing, without
 * node or the installed module. Loopback only; every wait is bounded; vigil-simcam
 * also quits when its stdin closes, so it cannot outlive this process. */

#include <string.h>

#include <gio/gio.h>

#include "vigil-test-util.h"

#define USER "operator"
#define PASSWORD "npm-Pa55word"
#define READY_TIMEOUT_S 30   /* under a second here; more under ASan */
#define CHECK_TIMEOUT_S 75   /* check-simcam.js gives up by itself after 60 s */
#define QUIT_TIMEOUT_S 10

typedef struct {
  gchar            *dir;
  GSubprocess      *simcam;
  GDataInputStream *simcam_out;
  guint             onvif_port, rtsp_port;
} Fixture;

/* Why this test cannot run here, or NULL. */
static gchar *
missing_prerequisite (void)
{
  const gchar *npm_dir = g_getenv ("VIGIL_ONVIF_NPM_DIR");
  g_autofree gchar *node = g_find_program_in_path ("node");
  g_autofree gchar *module = NULL;

  if (node == NULL)
    return g_strdup ("node (Node.js) is not in PATH; .ci/setup installs Debian's nodejs and npm");
  if (npm_dir == NULL)
    return g_strdup ("VIGIL_ONVIF_NPM_DIR is not set; run this test through meson");
  module = g_build_filename (npm_dir, "node_modules", "onvif", "package.json", NULL);
  if (!g_file_test (module, G_FILE_TEST_IS_REGULAR))
    return g_strdup_printf ("the npm onvif module is not installed (no %s); run "
                            "npm ci --prefix %s (.ci/setup does)", module, npm_dir);
  return NULL;
}

typedef struct {
  gboolean done;
  gchar   *line;
  GError  *error;
} LineRead;

static void
on_line_read (GObject *source, GAsyncResult *result, gpointer data)
{
  LineRead *read = data;

  read->line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result,
                                                          NULL, &read->error);
  read->done = TRUE;
}

/* The next line vigil-simcam prints, waiting at most @timeout_s; NULL after
 * g_test_fail() on timeout, error or EOF. */
static gchar *
read_simcam_line (Fixture *f, guint timeout_s)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  LineRead read = { FALSE, NULL, NULL };
  g_autoptr(GError) error = NULL;

  g_data_input_stream_read_line_async (f->simcam_out, G_PRIORITY_DEFAULT, cancellable,
                                       on_line_read, &read);
  if (!vigil_test_wait_for (&read.done, timeout_s))
    {
      g_cancellable_cancel (cancellable);
      /* The callback still runs, and writes to @read. */
      while (!read.done)
        g_main_context_iteration (NULL, TRUE);
      g_free (read.line);
      g_clear_error (&read.error);
      g_test_fail_printf ("vigil-simcam printed no line within %u s", timeout_s);
      return NULL;
    }
  error = read.error;
  if (error != NULL)
    g_test_fail_printf ("reading vigil-simcam's output: %s", error->message);
  else if (read.line == NULL)
    g_test_fail_printf ("vigil-simcam closed its output (it exited; see its messages above)");
  return read.line;
}

static guint
url_port (const gchar *url)
{
  g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);

  g_assert_nonnull (uri);
  g_assert_cmpstr (g_uri_get_host (uri), ==, "127.0.0.1");
  g_assert_cmpint (g_uri_get_port (uri), >, 0);
  return g_uri_get_port (uri);
}

/* Starts vigil-simcam (one PTZ stream, ONVIF with @auth) and reads its URLs
 * up to "ready"; FALSE after g_test_fail(). */
static gboolean
start_simcam (Fixture *f, const gchar *auth)
{
  g_autofree gchar *password_file = g_build_filename (f->dir, "password", NULL);
  g_autoptr(GError) error = NULL;
  const gchar *simcam = g_getenv ("VIGIL_SIMCAM");
  gint64 deadline_us = g_get_monotonic_time () + READY_TIMEOUT_S * G_USEC_PER_SEC;

  g_assert_nonnull (simcam);
  g_assert_true (g_file_set_contents (password_file, PASSWORD "\n", -1, &error));
  g_assert_no_error (error);
  /* A small, slow clip: this test is about ONVIF, not video. */
  f->simcam = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error,
                                simcam, "--port", "0", "--size", "320x180", "--fps", "10", "--ptz",
                                "--onvif-port", "0", "--onvif-auth", auth, "--onvif-user", USER,
                                "--onvif-password-file", password_file, NULL);
  g_assert_no_error (error);
  f->simcam_out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (f->simcam));

  for (;;)
    {
      gint64 left_s = (deadline_us - g_get_monotonic_time ()) / G_USEC_PER_SEC;
      g_autofree gchar *line = read_simcam_line (f, MAX (left_s, 1));

      if (line == NULL)
        return FALSE;
      if (g_str_equal (line, "ready"))
        break;
      if (g_str_has_prefix (line, "rtsp://") && f->rtsp_port == 0)
        f->rtsp_port = url_port (line);   /* stream 0, the main profile's */
      else if (g_str_has_prefix (line, "http://"))
        f->onvif_port = url_port (line);
    }
  if (f->rtsp_port == 0 || f->onvif_port == 0)
    {
      g_test_fail_printf ("vigil-simcam was ready without printing its RTSP and ONVIF URLs");
      return FALSE;
    }
  return TRUE;
}

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  f->dir = vigil_test_make_tmp_dir ();
}

static void
on_wait_done (GObject *source, GAsyncResult *result, gpointer data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *(gboolean *) data = TRUE;
}

/* Waits at most @timeout_s for @process to end; TRUE if it did. */
static gboolean
wait_process (GSubprocess *process, guint timeout_s)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  gboolean done = FALSE;

  g_subprocess_wait_async (process, cancellable, on_wait_done, &done);
  if (vigil_test_wait_for (&done, timeout_s))
    return TRUE;
  g_cancellable_cancel (cancellable);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
  return FALSE;
}

/* Closing its stdin makes vigil-simcam quit; it is killed if it has not
 * within QUIT_TIMEOUT_S. */
static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  if (f->simcam != NULL)
    {
      g_output_stream_close (g_subprocess_get_stdin_pipe (f->simcam), NULL, NULL);
      if (!wait_process (f->simcam, QUIT_TIMEOUT_S))
        {
          g_test_fail_printf ("vigil-simcam did not quit within %u s of its stdin closing; killed",
                              QUIT_TIMEOUT_S);
          g_subprocess_force_exit (f->simcam);
          wait_process (f->simcam, QUIT_TIMEOUT_S);
        }
      else if (!g_subprocess_get_if_exited (f->simcam) || g_subprocess_get_exit_status (f->simcam) != 0)
        g_test_fail_printf ("vigil-simcam did not exit cleanly");
    }
  g_clear_object (&f->simcam_out);
  g_clear_object (&f->simcam);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

/* One command on vigil-simcam's stdin; its one-line answer. */
static gchar *
simcam_command (Fixture *f, const gchar *command)
{
  g_autofree gchar *line = g_strconcat (command, "\n", NULL);
  g_autoptr(GError) error = NULL;

  g_output_stream_write_all (g_subprocess_get_stdin_pipe (f->simcam), line, strlen (line), NULL,
                             NULL, &error);
  g_assert_no_error (error);
  return read_simcam_line (f, QUIT_TIMEOUT_S);
}

static void
test_npm_client (Fixture *f, gconstpointer data)
{
  const gchar *auth = data;
  g_autofree gchar *script = NULL;
  g_autofree gchar *port = NULL;
  g_autofree gchar *rtsp_port = NULL;
  g_autofree gchar *password_file = NULL;
  g_autofree gchar *position = NULL;
  g_autoptr(GSubprocess) node = NULL;
  g_autoptr(GError) error = NULL;

  if (!start_simcam (f, auth))
    return;

  script = g_build_filename (g_getenv ("VIGIL_ONVIF_NPM_DIR"), "check-simcam.js", NULL);
  port = g_strdup_printf ("%u", f->onvif_port);
  rtsp_port = g_strdup_printf ("%u", f->rtsp_port);
  password_file = g_build_filename (f->dir, "password", NULL);
  /* Its lines go straight to the test log, one per step. */
  node = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error, "node", script, "--host", "127.0.0.1",
                           "--port", port, "--rtsp-port", rtsp_port, "--user", USER,
                           "--password-file", password_file, NULL);
  g_assert_no_error (error);
  if (!wait_process (node, CHECK_TIMEOUT_S))
    {
      g_subprocess_force_exit (node);
      wait_process (node, QUIT_TIMEOUT_S);
      g_test_fail_printf ("check-simcam.js still running after %u s; killed", CHECK_TIMEOUT_S);
      return;
    }
  if (!g_subprocess_get_if_exited (node) || g_subprocess_get_exit_status (node) != 0)
    {
      g_test_fail_printf ("check-simcam.js failed with %s auth (its FAIL line above names the step)",
                          auth);
      return;
    }

  /* The ONVIF head drives stream 0's picture; check-simcam.js leaves it at
   * its preset, pan -0.5 tilt 0.3 zoom 0.2. */
  position = simcam_command (f, "get-ptz 0");
  g_assert_cmpstr (position, ==, "-0.500 0.300 0.200");
}

int
main (int argc, char **argv)
{
  g_autofree gchar *missing = missing_prerequisite ();

  /* 77 by hand: g_test_run() returns 0 when every test skipped, since its
   * output is TAP, and meson would count that as a pass. */
  if (missing != NULL)
    {
      g_printerr ("test-onvif-npm: skipped: %s\n", missing);
      return 77;
    }
  g_test_init (&argc, &argv, NULL);
  /* WS-Security digest (what the client sends first), then HTTP digest
   * SHA-256 after a 401 challenge. */
  g_test_add ("/onvif/npm/wsse", Fixture, "wsse", fixture_set_up, test_npm_client,
              fixture_tear_down);
  g_test_add ("/onvif/npm/digest-sha256", Fixture, "digest-sha256", fixture_set_up,
              test_npm_client, fixture_tear_down);
  return g_test_run ();
}
