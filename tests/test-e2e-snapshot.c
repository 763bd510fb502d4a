/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Snapshots end to end: the real vigild on a private bus records a
 * simulated camera that shows white, then black; `vigilctl snapshot`
 * writes a JPEG of the newest keyframe (black) and, with --at, of a
 * recorded moment (white), each decoded back here with jpegdec. An
 * unknown camera, a moment with no recording and a camera that is not
 * recording fail with errors that say so and leave no file behind;
 * an existing file is kept unless --force; each snapshot is audited. */
#include <gst/app/app.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <string.h>

#include "vigil-test-util.h"
#include "vigil-test-vigild.h"

static GTestDBus *bus;

typedef VigilTestVigild Fixture;

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  vigil_test_vigild_tear_down (f);
}

static gdouble
jpeg_luma (const gchar *path)
{
  gint width, height;
  gdouble luma;

  g_autofree gchar *contents = NULL;
  gsize length = 0;
  g_autoptr(GBytes) jpeg = NULL;

  g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
  jpeg = g_bytes_new_take (g_steal_pointer (&contents), length);
  vigil_test_decode_jpeg (jpeg, &width, &height, &luma);
  g_test_message ("%s: %dx%d, mean luma %.1f", path, width, height, luma);
  g_assert_cmpint (width, ==, 320);
  g_assert_cmpint (height, ==, 240);
  return luma;
}

static gchar *
iso8601 (gint64 time_us)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (time_us / G_USEC_PER_SEC);
  g_autoptr(GDateTime) exact = g_date_time_add (utc, time_us % G_USEC_PER_SEC);

  return g_date_time_format_iso8601 (exact);
}

/* Runs vigilctl snapshot with @args (NULL-terminated); its exit status,
 * stderr in @err. */
static gint
snapshot (gchar **out, gchar **err, const gchar *const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();

  g_ptr_array_add (argv, (gpointer) g_getenv ("VIGILCTL"));
  g_ptr_array_add (argv, (gpointer) "--session");
  g_ptr_array_add (argv, (gpointer) "snapshot");
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  return vigil_test_run_argv ((const gchar *const *) argv->pdata, NULL, out, err);
}

static guint
count_snapshot_audits (Fixture *f, const gchar *detail)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) rows = NULL;
  GVariantIter iter;
  const gchar *action, *details;
  guint n = 0;

  g_assert_true (vigil_dbus_manager_call_list_audit_sync (f->manager, 0, 1000, &rows, NULL, &error));
  g_assert_no_error (error);
  g_variant_iter_init (&iter, rows);
  while (g_variant_iter_next (&iter, "(txx&s&s&s&s&s)", NULL, NULL, NULL, NULL, &action, NULL, &details, NULL))
    if (g_str_equal (action, "snapshot") && strstr (details, detail) != NULL)
      n++;
  return n;
}

static gboolean
is_not_recording (gpointer camera)
{
  return g_strcmp0 (vigil_dbus_camera_get_state (camera), "recording") != 0;
}

static void
test_snapshot (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 300,
                                 .gop_frames = 10, .clip_seconds = 4, .picture = VIGIL_SIMCAM_PICTURE_WHITE };
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilSegment) white = NULL;
  g_autoptr(VigilDBusCamera) camera = NULL;
  g_autofree gchar *latest = NULL, *recorded = NULL, *recent = NULL, *nothing = NULL, *white_at = NULL;
  g_autofree gchar *out = NULL, *err = NULL, *listing = NULL;
  gint64 asked_us;

  vigil_test_vigild_set_up (f, bus, &options, 2, NULL, "frame_health=false\nstall_seconds=3\n", NULL);
  vigil_test_vigild_start (f);
  latest = g_build_filename (f->out, "latest.jpg", NULL);
  recorded = g_build_filename (f->out, "recorded.jpg", NULL);
  recent = g_build_filename (f->out, "recent.jpg", NULL);
  nothing = g_build_filename (f->out, "nothing.jpg", NULL);

  /* White recorded, then black. */
  vigil_test_vigild_wait_for_segments (f, 1);
  white = vigil_test_vigild_get_segment (f, "cam0", 0);
  g_assert_nonnull (white);
  g_assert_true (vigil_simcam_set_picture (f->simcam, 0, VIGIL_SIMCAM_PICTURE_BLACK, &error));
  g_assert_no_error (error);
  vigil_test_vigild_wait_for_segments (f, 2);

  /* Now: the newest keyframe, black. */
  g_assert_cmpint (snapshot (&out, &err, (const gchar *[]) { "cam0", "-o", latest, NULL }), ==, 0);
  g_test_message ("%s", out);
  g_assert_nonnull (strstr (out, "camera cam0: picture of"));
  g_assert_cmpfloat (jpeg_luma (latest), <, 60);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* --at a moment of the first segment: the keyframe before it, white. */
  asked_us = white->start_us + (white->end_us - white->start_us) / 2;
  white_at = iso8601 (asked_us);
  g_assert_cmpint (snapshot (&out, &err, (const gchar *[]) { "cam0", "--at", white_at, "-o", recorded, "--json",
                                                             NULL }), ==, 0);
  g_test_message ("%s", out);
  g_assert_cmpfloat (jpeg_luma (recorded), >, 180);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* A second ago: in the segment being written, or the one just closed. */
  g_assert_cmpint (snapshot (&out, &err, (const gchar *[]) { "cam0", "--at", "-1s", "-o", recent, NULL }), ==, 0);
  g_assert_cmpfloat (jpeg_luma (recent), <, 60);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* An existing file stays unless --force. */
  g_assert_cmpint (snapshot (NULL, &err, (const gchar *[]) { "cam0", "--at", white_at, "-o", latest, NULL }), !=, 0);
  g_assert_nonnull (strstr (err, "exists"));
  g_assert_cmpfloat (jpeg_luma (latest), <, 60);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (snapshot (NULL, &err, (const gchar *[]) { "cam0", "--at", white_at, "-o", latest, "--force",
                                                             NULL }), ==, 0);
  g_assert_cmpfloat (jpeg_luma (latest), >, 180);
  g_clear_pointer (&err, g_free);

  /* Unknown camera, no recording at that moment: said, no file left. */
  g_assert_cmpint (snapshot (NULL, &err, (const gchar *[]) { "nocam", "-o", nothing, NULL }), !=, 0);
  g_test_message ("%s", err);
  g_assert_nonnull (strstr (err, "no camera"));   /* its quotes depend on the locale */
  g_assert_nonnull (strstr (err, "nocam"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (snapshot (NULL, &err, (const gchar *[]) { "cam0", "--at", "2001-01-01T00:00:00Z", "-o", nothing,
                                                             NULL }), !=, 0);
  g_test_message ("%s", err);
  g_assert_nonnull (strstr (err, "camera cam0 has no recording at 2001-01-01T00:00:00Z"));
  g_clear_pointer (&err, g_free);

  /* Audited with the moment asked for and the outcome. */
  g_assert_cmpuint (count_snapshot_audits (f, "\"outcome\":\"done\""), ==, 4);
  g_assert_cmpuint (count_snapshot_audits (f, "2001-01-01T00:00:00Z"), ==, 1);

  /* A camera that is not recording has no "now". */
  camera = vigil_dbus_camera_proxy_new_sync (f->connection, G_DBUS_PROXY_FLAGS_NONE, "org.vigil.Vigil1",
                                             "/org/vigil/Vigil1/Camera/cam0", NULL, &error);
  g_assert_no_error (error);
  vigil_simcam_set_offline (f->simcam, TRUE);
  g_assert_true (vigil_test_wait_until (is_not_recording, camera, 60));
  g_assert_cmpint (snapshot (NULL, &err, (const gchar *[]) { "cam0", "-o", nothing, NULL }), !=, 0);
  g_test_message ("%s", err);
  g_assert_nonnull (strstr (err, "camera cam0 is not recording now"));
  g_clear_pointer (&err, g_free);

  /* Only the pictures asked for: no temporary files, nothing.jpg never made. */
  listing = vigil_test_list_folder (f->out);
  g_test_message ("%s", listing);
  g_assert_cmpstr (listing, ==, "latest.jpg,recent.jpg,recorded.jpg");
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  gst_init (NULL, NULL);
  if (!vigil_test_have_elements ("x264enc", "rtph264pay", "matroskamux", "matroskademux", "avdec_h264", "jpegenc",
                                 "jpegdec", NULL))
    {
      g_test_skip ("GStreamer elements missing");
      return 0;
    }
  bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (bus);
  g_test_add ("/e2e/snapshot/latest-recorded-and-errors", Fixture, NULL, NULL, test_snapshot, fixture_tear_down);
  status = g_test_run ();
  g_test_dbus_down (bus);
  g_clear_object (&bus);
  return status;
}
