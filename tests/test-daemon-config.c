/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A bad vigil.conf stops vigild with one message per problem, each naming
 * the file, the group and the key; a good one loads with its defaults and
 * reads the camera password from its file or environment variable. Also
 * runs the real vigild to check its exit status and --check-config. */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vigil-config.h"
#include "vigil-test-util.h"

typedef struct {
  gchar *dir;
  gchar *root;
  gchar *conf;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  f->dir = vigil_test_make_tmp_dir ();
  f->root = g_build_filename (f->dir, "recordings", NULL);
  g_mkdir (f->root, 0700);
  f->conf = g_build_filename (f->dir, "vigil.conf", NULL);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  g_free (f->conf);
  g_free (f->root);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

/* Writes the config: a valid [storage] group followed by @rest. */
static void
write_conf (Fixture *f, const gchar *rest)
{
  g_autofree gchar *text = g_strdup_printf ("[storage]\nroot=%s\ncatalog=%s/catalog.db\nsegment_seconds=10\n\n%s",
                                            f->root, f->dir, rest);
  g_assert_true (g_file_set_contents (f->conf, text, -1, NULL));
}

static void
test_config_loads_cameras_and_secrets (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilConfig) config = NULL;
  g_autofree gchar *secret = g_build_filename (f->dir, "entrance.secret", NULL);
  g_autofree gchar *text = NULL;
  const VigilCameraConfig *camera;

  g_assert_true (g_file_set_contents (secret, "s3cret\n", -1, NULL));
  g_assert_cmpint (g_chmod (secret, 0600), ==, 0);
  g_setenv ("VIGIL_TEST_YARD_PW", "yard-pw", TRUE);
  text = g_strdup_printf ("[camera entrance]\nurl=rtsp://192.0.2.10:554/stream1\nuser=viewer\n"
                          "password_file=%s\nsub_url=rtsp://192.0.2.10:554/stream2\n\n"
                          "[camera yard]\nurl=rtsp://192.0.2.11/s\nuser=v\npassword_env=VIGIL_TEST_YARD_PW\n"
                          "transport=udp\nenabled=false\nstall_seconds=3\nrtsp_client=rtspsrc\n", secret);
  write_conf (f, text);

  config = vigil_config_load (f->conf, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->segment_seconds, ==, 10);
  g_assert_cmpuint (config->cameras->len, ==, 2);
  camera = config->cameras->pdata[0];
  g_assert_cmpstr (camera->name, ==, "entrance");
  g_assert_cmpstr (camera->password, ==, "s3cret");
  g_assert_false (camera->use_udp);
  g_assert_true (camera->enabled);
  g_assert_cmpuint (camera->stall_seconds, ==, 10);
  g_assert_false (camera->use_rtspsrc);
  g_assert_cmpstr (camera->sub_url, ==, "rtsp://192.0.2.10:554/stream2");
  camera = config->cameras->pdata[1];
  g_assert_null (camera->sub_url);
  g_assert_true (camera->use_rtspsrc);
  g_assert_cmpstr (camera->password, ==, "yard-pw");
  g_assert_true (camera->use_udp);
  g_assert_false (camera->enabled);
  g_assert_cmpuint (camera->stall_seconds, ==, 3);
}

typedef struct {
  const gchar *name;
  const gchar *text;        /* after a valid [storage] group; @ROOT@ is not substituted */
  const gchar *expected;    /* must appear in the message */
} BadCase;

static const BadCase bad_cases[] = {
  { "unknown-key", "[camera a]\nurl=rtsp://h/s\ncolour=blue\n", "[camera a] colour: unknown key" },
  { "missing-url", "[camera a]\nuser=x\n", "[camera a] url: missing" },
  { "duplicate-camera", "[camera a]\nurl=rtsp://h/s\n[camera a]\nurl=rtsp://h/t\n", "[camera a]: appears more than once" },
  { "unparseable-number", "[camera a]\nurl=rtsp://h/s\nstall_seconds=ten\n", "[camera a] stall_seconds: “ten” is not a whole number" },
  { "unparseable-bool", "[camera a]\nurl=rtsp://h/s\nenabled=yes\n", "[camera a] enabled: “yes” is not true or false" },
  { "bad-transport", "[camera a]\nurl=rtsp://h/s\ntransport=sctp\n", "[camera a] transport: “sctp” is not tcp or udp" },
  { "password-in-config", "[camera a]\nurl=rtsp://h/s\nuser=u\npassword=hunter2\n", "[camera a] password: passwords are not written in the config" },
  { "credentials-in-url", "[camera a]\nurl=rtsp://u:hunter2@h/s\n", "[camera a] url: must not carry a user or password" },
  { "live-port-out-of-range", "[live]\nport=65536\n[camera a]\nurl=rtsp://h/s\n",
    "[live] port: “65536” is not a whole number from 0 to 65535" },
  { "live-port-int64-max", "[live]\nport=9223372036854775807\n[camera a]\nurl=rtsp://h/s\n",
    "[live] port: “9223372036854775807” is not a whole number from 0 to 65535" },
  { "live-address-not-an-address", "[live]\naddress=cameras.example.org\n[camera a]\nurl=rtsp://h/s\n",
    "[live] address: “cameras.example.org” is not an IPv4 or IPv6 address" },
  { "live-htdigest-relative", "[live]\nhtdigest=viewers\n[camera a]\nurl=rtsp://h/s\n",
    "[live] htdigest: viewers is not an absolute path" },
  { "live-unknown-key", "[live]\npasswords=/etc/x\n[camera a]\nurl=rtsp://h/s\n", "[live] passwords: unknown key" },
  { "live-max-viewers-zero", "[live]\nmax_viewers=0\n[camera a]\nurl=rtsp://h/s\n",
    "[live] max_viewers: “0” is not a whole number from 1 to 1024" },
  { "not-rtsp", "[camera a]\nurl=http://h/s\n", "[camera a] url: “http://h/s” is not an rtsp:// URL" },
  { "sub-url-not-rtsp", "[camera a]\nurl=rtsp://h/s\nsub_url=http://h/sub\n", "[camera a] sub_url: “http://h/sub” is not an rtsp:// URL" },
  { "sub-url-rtsps", "[camera a]\nurl=rtsp://h/s\nsub_url=rtsps://h/sub\n", "[camera a] sub_url: “rtsps://h/sub” is not an rtsp:// URL" },
  { "credentials-in-sub-url", "[camera a]\nurl=rtsp://h/s\nsub_url=rtsp://u:hunter2@h/sub\n", "[camera a] sub_url: must not carry a user or password" },
  { "unset-password-env", "[camera a]\nurl=rtsp://h/s\nuser=u\npassword_env=VIGIL_TEST_NOT_SET\n", "[camera a] password_env: environment variable VIGIL_TEST_NOT_SET is not set" },
  { "bad-rtsp-client", "[camera a]\nurl=rtsp://h/s\nrtsp_client=ffmpeg\n", "[camera a] rtsp_client: “ffmpeg” is not vigil or rtspsrc" },
  { "unknown-group", "[cameras]\nurl=rtsp://h/s\n", "[cameras]: unknown group" },
  { "bad-camera-name", "[camera front door]\nurl=rtsp://h/s\n", "[camera front door]: camera name “front door” must be" },
  /* One camera written two ways would record into one catalog camera. */
  { "camera-twice-with-spaces", "[camera c1]\nurl=rtsp://h/s\n[camera  c1 ]\nurl=rtsp://h/t\n",
    "[camera  c1 ]: a second group for camera “c1”" },
  { "camera-name-with-spaces", "[camera  c1 ]\nurl=rtsp://h/t\n", "[camera  c1 ]: camera name “ c1 ” must be" },
  /* GKeyFile unescapes \r\n: an RTSP header injected through the URL. */
  { "crlf-in-url", "[camera a]\nurl=rtsp://h/s\\r\\nX-Evil: 1\n", "[camera a] url: holds control characters" },
  { "newline-in-user", "[camera a]\nurl=rtsp://h/s\nuser=u\\nvigild: forged line\n", "[camera a] user: holds control characters" },
};

static void
test_config_refuses_password_file_others_can_read (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilConfig) config = NULL;
  g_autofree gchar *secret = g_build_filename (f->dir, "door.secret", NULL);
  g_autofree gchar *text = g_strdup_printf ("[camera door]\nurl=rtsp://h/s\nuser=u\npassword_file=%s\n", secret);

  g_assert_true (g_file_set_contents (secret, "hunter2\n", -1, NULL));
  g_assert_cmpint (g_chmod (secret, 0640), ==, 0);
  write_conf (f, text);
  config = vigil_config_load (f->conf, &error);
  g_assert_null (config);
  g_assert_nonnull (strstr (error->message, "password_file"));
  g_assert_nonnull (strstr (error->message, secret));
  g_assert_nonnull (strstr (error->message, "mode 0640"));
  g_assert_null (strstr (error->message, "hunter2"));
  g_clear_error (&error);

  /* The system's password hashes are not a camera password either. */
  if (g_file_test ("/etc/shadow", G_FILE_TEST_EXISTS))
    {
      g_autofree gchar *shadow = g_strdup ("[camera door]\nurl=rtsp://h/s\nuser=u\npassword_file=/etc/shadow\n");
      g_autoptr(VigilConfig) config2 = NULL;

      write_conf (f, shadow);
      config2 = vigil_config_load (f->conf, &error);
      g_assert_null (config2);
      g_assert_nonnull (strstr (error->message, "/etc/shadow"));
      g_assert_null (strstr (error->message, "root:"));
      g_clear_error (&error);
    }

  g_assert_cmpint (g_chmod (secret, 0600), ==, 0);
  write_conf (f, text);
  config = vigil_config_load (f->conf, &error);
  g_assert_no_error (error);
}

static void
test_config_on_a_fifo_is_refused_not_waited_on (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilConfig) config = NULL;
  g_autofree gchar *fifo = g_build_filename (f->dir, "fifo.conf", NULL);

  /* Nobody writes the FIFO: a blocking open would never return. */
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  config = vigil_config_load (fifo, &error);
  g_assert_null (config);
  g_assert_error (error, VIGIL_CONFIG_ERROR, VIGIL_CONFIG_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "is not a regular file"));
}

static void
test_config_bad_case (Fixture *f, gconstpointer data)
{
  const BadCase *bad = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilConfig) config = NULL;
  g_autofree gchar *expected = g_strdup_printf ("%s: %s", f->conf, bad->expected);

  write_conf (f, bad->text);
  config = vigil_config_load (f->conf, &error);
  g_assert_null (config);
  g_assert_error (error, VIGIL_CONFIG_ERROR, VIGIL_CONFIG_ERROR_INVALID);
  if (strstr (error->message, expected) == NULL)
    g_error ("expected “%s” in:\n%s", expected, error->message);
  /* A secret never shows in an error. */
  g_assert_null (strstr (error->message, "hunter2"));
}

static void
test_config_reports_every_problem_at_once (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilConfig) config = NULL;
  g_autofree gchar *text = g_strdup_printf ("[storage]\nroot=%s/missing\nsegment_seconds=0\n"
                                            "[camera a]\nuser=x\n[camera b]\nurl=rtsp://h/s\nfoo=1\n", f->dir);
  g_auto(GStrv) lines = NULL;

  g_assert_true (g_file_set_contents (f->conf, text, -1, NULL));
  config = vigil_config_load (f->conf, &error);
  g_assert_null (config);
  lines = g_strsplit (error->message, "\n", -1);
  /* segment_seconds, root, catalog's folder (default /var/lib/vigil may be
   * absent or not writable here, so at least the other four), url, foo. */
  g_assert_cmpuint (g_strv_length (lines), >=, 4);
  g_assert_nonnull (strstr (error->message, "[storage] root: folder"));
  g_assert_nonnull (strstr (error->message, "[storage] segment_seconds:"));
  g_assert_nonnull (strstr (error->message, "[camera a] url: missing"));
  g_assert_nonnull (strstr (error->message, "[camera b] foo: unknown key"));
}

static void
test_config_unreadable_storage_folder (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilConfig) config = NULL;

  if (geteuid () == 0)
    {
      /* root reads everything: use a path that is a file, not a folder. */
      g_autofree gchar *file = g_build_filename (f->dir, "not-a-folder", NULL);
      g_autofree gchar *text = g_strdup_printf ("[storage]\nroot=%s\ncatalog=%s/c.db\n", file, f->dir);

      g_assert_true (g_file_set_contents (file, "", -1, NULL));
      g_assert_true (g_file_set_contents (f->conf, text, -1, NULL));
    }
  else
    {
      g_chmod (f->root, 0);
      write_conf (f, "");
    }
  config = vigil_config_load (f->conf, &error);
  g_chmod (f->root, 0700);
  g_assert_null (config);
  g_assert_nonnull (strstr (error->message, "[storage] root: folder"));
}

static void
run_vigild (const gchar *const *args, gint *out_status, gchar **out_stderr)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autofree gchar *out = NULL;   /* --check-config's line; not part of the TAP stream */

  g_ptr_array_add (argv, (gpointer) g_getenv ("VIGILD"));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  g_spawn_sync (NULL, (gchar **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, out_stderr,
                out_status, &error);
  g_assert_no_error (error);
}

static void
test_config_vigild_exits_2_and_check_config (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *err = NULL;
  gint status = 0;

  write_conf (f, "[camera a]\nurl=rtsp://h/s\n[camera a]\nurl=rtsp://h/t\n");
  run_vigild ((const gchar *[]) { "--config", f->conf, NULL }, &status, &err);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 2);
  g_assert_nonnull (strstr (err, "[camera a]: appears more than once"));
  g_clear_pointer (&err, g_free);

  run_vigild ((const gchar *[]) { "--config", f->conf, "--check-config", NULL }, &status, &err);
  g_assert_cmpint (WEXITSTATUS (status), ==, 2);
  g_clear_pointer (&err, g_free);

  write_conf (f, "[camera a]\nurl=rtsp://h/s\n");
  run_vigild ((const gchar *[]) { "--config", f->conf, "--check-config", NULL }, &status, &err);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  g_clear_pointer (&err, g_free);

  run_vigild ((const gchar *[]) { "--config", "/nonexistent/vigil.conf", NULL }, &status, &err);
  g_assert_cmpint (WEXITSTATUS (status), ==, 2);
  g_assert_nonnull (strstr (err, "/nonexistent/vigil.conf"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn, data) g_test_add (path, Fixture, data, fixture_set_up, fn, fixture_tear_down)
  ADD ("/daemon/config/loads-cameras-and-secrets", test_config_loads_cameras_and_secrets, NULL);
  ADD ("/daemon/config/reports-every-problem-at-once", test_config_reports_every_problem_at_once, NULL);
  ADD ("/daemon/config/password-file-others-can-read", test_config_refuses_password_file_others_can_read, NULL);
  ADD ("/daemon/config/fifo-refused", test_config_on_a_fifo_is_refused_not_waited_on, NULL);
  ADD ("/daemon/config/unreadable-storage-folder", test_config_unreadable_storage_folder, NULL);
  ADD ("/daemon/config/vigild-exits-2-and-check-config", test_config_vigild_exits_2_and_check_config, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree gchar *path = g_strdup_printf ("/daemon/config/bad/%s", bad_cases[i].name);
      ADD (path, test_config_bad_case, &bad_cases[i]);
    }
  return g_test_run ();
}
