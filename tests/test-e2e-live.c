/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Live and recorded viewing end to end: the real vigild records a
 * simulated camera and serves it over RTSP ([live] with an htdigest file).
 * ffprobe from Debian's ffmpeg, a player vigil did not write, reads the
 * live feed and a recorded range spanning segments with digest logins and
 * finds the codec, the size and the frames; a wrong password is refused;
 * `vigilctl live` prints the address, `vigilctl sessions` lists a viewer
 * while it watches, and the audit log holds each session's start and end
 * with its duration. A viewer that stops reading for 30 s is dropped
 * while the catalog shows no gap and another viewer keeps its frames.
 * Without htdigest the server does not start and `vigilctl status` says
 * why. */
#include <gst/gst.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "vigil-test-rtsp.h"
#include "vigil-test-util.h"
#include "vigil-test-vigild.h"

#define USER   "alice"
#define SECRET "0pen-sesame"

static GTestDBus *bus;

typedef VigilTestVigild Fixture;

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  vigil_test_vigild_tear_down (f);
}

static gchar *
write_htdigest (Fixture *f)
{
  g_autofree gchar *a1 = g_compute_checksum_for_string (G_CHECKSUM_MD5, USER ":vigil:" SECRET, -1);
  g_autofree gchar *line = g_strdup_printf (USER ":vigil:%s\n", a1);
  gchar *path = g_build_filename (f->dir, "viewers.htdigest", NULL);

  g_assert_true (g_file_set_contents (path, line, -1, NULL));
  return path;
}

/* The live server's base URL as GetStatus gives it ("" when off) and its
 * state line. */
static gchar *
live_url (Fixture *f, gchar **out_state)
{
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  const gchar *url = "", *state = "";

  g_assert_true (vigil_dbus_manager_call_get_status_sync (f->manager, &status, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_variant_lookup (status, "live-url", "&s", &url));
  g_assert_true (g_variant_lookup (status, "live", "&s", &state));
  if (out_state != NULL)
    *out_state = g_strdup (state);
  return g_strdup (url);
}

/* Starts vigild recording the simulated camera of @options (frame health
 * off) and serving it to the viewers of an htdigest file, on any port;
 * returns the live server's base URL. */
static gchar *
start_serving (Fixture *f, const VigilSimcamOptions *options)
{
  g_autofree gchar *htdigest = NULL;
  g_autofree gchar *live_group = NULL;

  vigil_test_vigild_set_up (f, bus, options, 2, NULL, "frame_health=false\n", NULL);
  htdigest = write_htdigest (f);
  live_group = g_strdup_printf ("[live]\nport=0\nhtdigest=%s\n", htdigest);
  vigil_test_vigild_append_config (f, live_group);
  vigil_test_vigild_start (f);
  return live_url (f, NULL);
}

/* ffprobe's view of @url's video: "codec,width,height,frames" read in
 * @seconds, or NULL when it failed (its output in @out_log). */
static gchar *
probe (const gchar *url, guint seconds, gchar **out_log)
{
  g_autofree gchar *interval = g_strdup_printf ("%%+%u", seconds);
  const gchar *argv[] = { "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v", "-count_frames",
                          "-read_intervals", interval, "-show_entries", "stream=codec_name,width,height,nb_read_frames",
                          "-of", "csv=p=0", url, NULL };
  g_autofree gchar *out = NULL;
  g_autofree gchar *err = NULL;
  gint status = vigil_test_run_argv (argv, NULL, &out, &err);

  if (out_log != NULL)
    *out_log = g_strdup_printf ("%s%s", out, err);
  if (status != 0)
    return NULL;
  return g_strstrip (g_steal_pointer (&out));
}

static gchar *
with_login (const gchar *base, const gchar *user, const gchar *password, const gchar *path)
{
  g_assert_true (g_str_has_prefix (base, "rtsp://"));
  return g_strdup_printf ("rtsp://%s:%s@%s%s", user, password, base + strlen ("rtsp://"), path);
}

static gchar *
iso8601 (gint64 time_us)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (time_us / G_USEC_PER_SEC);
  g_autoptr(GDateTime) exact = g_date_time_add (utc, time_us % G_USEC_PER_SEC);

  return g_date_time_format (exact, "%Y-%m-%dT%H:%M:%S.%fZ");
}

/* ---- a viewer kept watching while the test looks at vigild -------------- */

typedef struct {
  GstElement *pipeline;
  gint        frames;   /* atomic */
} Viewer;

static GstPadProbeReturn
on_viewer_frame (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Viewer *viewer = user_data;

  g_atomic_int_inc (&viewer->frames);
  return GST_PAD_PROBE_OK;
}

static gboolean
viewer_has_frames (gpointer data)
{
  return g_atomic_int_get (&((Viewer *) data)->frames) >= 25;
}

static void
viewer_start (Viewer *viewer, const gchar *url)
{
  g_autofree gchar *description = g_strdup_printf (
    "rtspsrc location=%s protocols=tcp user-id=" USER " user-pw=" SECRET " latency=100 ! rtph264depay "
    "! fakesink name=sink sync=false async=false", url);
  g_autoptr(GError) error = NULL;
  g_autoptr(GstElement) sink = NULL;
  g_autoptr(GstPad) pad = NULL;

  viewer->pipeline = gst_parse_launch (description, &error);
  g_assert_no_error (error);
  sink = gst_bin_get_by_name (GST_BIN (viewer->pipeline), "sink");
  pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_viewer_frame, viewer, NULL);
  gst_element_set_state (viewer->pipeline, GST_STATE_PLAYING);
}

static void
viewer_stop (Viewer *viewer)
{
  gst_element_set_state (viewer->pipeline, GST_STATE_NULL);
  gst_clear_object (&viewer->pipeline);
}

/* ---- the audit log's viewing sessions ------------------------------------ */

typedef struct {
  guint wanted;
  guint starts, ends;
} AuditCount;

static gboolean
audit_has_sessions (gpointer data)
{
  AuditCount *count = data;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree gchar *out = NULL;
  JsonArray *rows;

  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "--json", "audit", NULL), ==, 0);
  g_assert_true (json_parser_load_from_data (parser, out, -1, NULL));
  rows = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "rows");
  count->starts = count->ends = 0;
  for (guint i = 0; i < json_array_get_length (rows); i++)
    {
      JsonObject *row = json_array_get_object_element (rows, i);
      const gchar *action = json_object_get_string_member (row, "action");

      if (g_str_equal (action, "view-start"))
        count->starts++;
      else if (g_str_equal (action, "view-end"))
        {
          g_autofree gchar *details = json_to_string (json_object_get_member (row, "details"), FALSE);

          g_assert_nonnull (strstr (details, "duration_us"));
          g_assert_nonnull (strstr (details, "127.0.0.1"));
          g_assert_cmpstr (json_object_get_string_member (row, "user"), ==, "rtsp:" USER);
          count->ends++;
        }
    }
  return count->ends >= count->wanted;
}

/* ---- tests ---------------------------------------------------------------- */

static void
test_live_and_playback (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = 25, .gop_frames = 25,
                                 .bitrate_kbps = 400, .clip_seconds = 4 };
  g_autofree gchar *base = NULL;
  g_autofree gchar *url = NULL;
  g_autofree gchar *log = NULL;
  g_autofree gchar *result = NULL;
  g_autofree gchar *out = NULL;
  g_autoptr(VigilSegment) first = NULL;
  g_autoptr(VigilSegment) second = NULL;
  g_auto(GStrv) fields = NULL;
  Viewer viewer = { 0 };

  base = start_serving (f, &options);
  vigil_test_vigild_wait_for_segments (f, 2);
  g_assert_true (g_str_has_prefix (base, "rtsp://127.0.0.1:"));
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "live", "cam0", NULL), ==, 0);
  g_assert_cmpstr (g_strstrip (out), ==, (url = g_strconcat (base, "cam0", NULL)));
  g_clear_pointer (&url, g_free);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "live", "nosuchcam", NULL), ==, 1);
  g_clear_pointer (&out, g_free);

  /* Live, read by ffprobe: H.264 at the camera's size, 25 frames a second. */
  url = with_login (base, USER, SECRET, "cam0");
  result = probe (url, 3, &log);
  g_assert_nonnull (result);
  g_test_message ("live: %s", result);
  fields = g_strsplit (result, ",", -1);
  g_assert_cmpuint (g_strv_length (fields), ==, 4);
  g_assert_cmpstr (fields[0], ==, "h264");
  g_assert_cmpstr (fields[1], ==, "320");
  g_assert_cmpstr (fields[2], ==, "240");
  g_assert_cmpint (g_ascii_strtoll (fields[3], NULL, 10), >=, 50);
  g_clear_pointer (&url, g_free);
  g_clear_pointer (&result, g_free);
  g_clear_pointer (&log, g_free);
  g_clear_pointer (&fields, g_strfreev);

  /* A wrong password is refused. */
  url = with_login (base, USER, "guess", "cam0");
  g_assert_null (probe (url, 1, &log));
  g_assert_nonnull (strstr (log, "401"));
  g_clear_pointer (&url, g_free);
  g_clear_pointer (&log, g_free);

  /* The recording: two complete segments and the one being written. */
  first = vigil_test_vigild_get_segment (f, "cam0", 0);
  second = vigil_test_vigild_get_segment (f, "cam0", 1);
  {
    g_autofree gchar *start = iso8601 (first->start_us + 500 * 1000);
    g_autofree gchar *end = iso8601 (second->end_us + 10 * G_USEC_PER_SEC);
    g_autofree gchar *path = g_strdup_printf ("cam0/playback?start=%s&end=%s", start, end);

    url = with_login (base, USER, SECRET, path);
    result = probe (url, 3, &log);
    g_assert_nonnull (result);
    g_test_message ("playback: %s", result);
    fields = g_strsplit (result, ",", -1);
    g_assert_cmpstr (fields[0], ==, "h264");
    g_assert_cmpint (g_ascii_strtoll (fields[3], NULL, 10), >=, 50);
    g_clear_pointer (&url, g_free);
    g_clear_pointer (&log, g_free);
  }

  /* A viewer watching is listed, with its login and address. */
  url = g_strconcat (base, "cam0", NULL);
  viewer_start (&viewer, url);
  g_assert_true (vigil_test_wait_until (viewer_has_frames, &viewer, 90));
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "sessions", NULL), ==, 0);
  g_assert_nonnull (strstr (out, USER));
  g_assert_nonnull (strstr (out, "127.0.0.1"));
  g_assert_nonnull (strstr (out, "cam0"));
  g_clear_pointer (&out, g_free);
  viewer_stop (&viewer);

  /* Every session (ffprobe's live and playback ones, the viewer's; the
   * refused login had none) is in the audit log,
   * its end with its duration; the end is written when the viewer's
   * connection is gone. */
  {
    AuditCount count = { 3, 0, 0 };

    g_assert_true (vigil_test_wait_until (audit_has_sessions, &count, 90));
    g_assert_cmpuint (count.starts, ==, 3);
    g_assert_cmpuint (count.ends, ==, 3);
  }
}

/* ---- a viewer that stops reading ----------------------------------------- */

typedef struct {
  Viewer *viewer;
  gint    frames;
} FramesBeyond;

static gboolean
viewer_has_more_frames (gpointer data)
{
  FramesBeyond *wanted = data;

  return g_atomic_int_get (&wanted->viewer->frames) >= wanted->frames;
}

static gboolean
is_past (gpointer data)
{
  return g_get_monotonic_time () >= *(const gint64 *) data;
}

static void
test_stalled_viewer (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 640, .height = 360, .fps = 25, .gop_frames = 25,
                                 .bitrate_kbps = 1000, .clip_seconds = 4 };
  g_autofree gchar *base = NULL;
  g_autofree gchar *url = NULL;
  g_autoptr(VigilTestRtsp) staller = NULL;
  g_autoptr(VigilDBusCamera) camera = NULL;
  g_autoptr(GVariant) spans = NULL;
  g_autoptr(GVariant) gaps = NULL;
  g_autoptr(GError) error = NULL;
  Viewer viewer = { 0 };
  FramesBeyond wanted = { &viewer, 25 };
  gint64 stall_start_us, stall_end_us, until;
  guint port;

  base = start_serving (f, &options);
  vigil_test_vigild_wait_for_segments (f, 1);
  port = (guint) g_ascii_strtoull (strrchr (base, ':') + 1, NULL, 10);

  /* The first viewer of the camera logs in, plays and never reads. */
  staller = vigil_test_rtsp_connect (port, "cam0", USER, SECRET, 90);
  vigil_test_rtsp_play_in_thread (staller);
  url = g_strconcat (base, "cam0", NULL);
  viewer_start (&viewer, url);
  g_assert_true (vigil_test_wait_until (viewer_has_more_frames, &wanted, 90));

  /* 30 s of the stall: the other viewer gets its frames throughout. */
  stall_start_us = g_get_real_time ();
  until = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  wanted.frames = g_atomic_int_get (&viewer.frames) + 25 * 25;   /* 25 s of 30 at 25 fps */
  g_assert_true (vigil_test_wait_until (is_past, &until, 90));
  stall_end_us = g_get_real_time ();
  g_test_message ("other viewer: %d frames by the end of the stall", g_atomic_int_get (&viewer.frames));
  g_assert_true (viewer_has_more_frames (&wanted));
  viewer_stop (&viewer);

  /* The catalog: one unbroken recorded stretch across the stall. */
  vigil_test_vigild_wait_for_segments (f, 2);
  camera = vigil_dbus_camera_proxy_new_sync (f->connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, "org.vigil.Vigil1",
                                             "/org/vigil/Vigil1/Camera/cam0", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_dbus_camera_call_list_spans_sync (camera, stall_start_us, stall_end_us, &spans, &gaps, NULL,
                                                         &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_n_children (spans), ==, 1);
  g_assert_cmpuint (g_variant_n_children (gaps), ==, 0);

  /* The staller was closed, and its session's end says why. */
  {
    g_autofree gchar *out = NULL;

    g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "--json", "audit", NULL), ==, 0);
    g_assert_nonnull (strstr (out, "dropped: not reading"));
  }
}

static void
test_off_without_htdigest (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 200 };
  g_autofree gchar *state = NULL;
  g_autofree gchar *url = NULL;
  g_autofree gchar *out = NULL;

  vigil_test_vigild_set_up (f, bus, &options, 2, NULL, "frame_health=false\n", "[live]\nport=0\n");
  vigil_test_vigild_start (f);
  url = live_url (f, &state);
  g_assert_cmpstr (url, ==, "");
  g_assert_nonnull (strstr (state, "htdigest"));
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "status", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "htdigest"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, NULL, &out, "--session", "live", "cam0", NULL), ==, 1);
  g_assert_nonnull (strstr (out, "htdigest"));
  /* Recording goes on regardless. */
  vigil_test_vigild_wait_for_segments (f, 1);
}

int
main (int argc, char **argv)
{
  g_autofree gchar *ffprobe = g_find_program_in_path ("ffprobe");
  int status;

  g_test_init (&argc, &argv, NULL);
  gst_init (NULL, NULL);
  if (ffprobe == NULL || !vigil_test_have_elements ("x264enc", "rtph264pay", "matroskamux", "rtspsrc", NULL))
    {
      g_test_skip ("needs ffprobe (ffmpeg) and GStreamer's x264enc, rtph264pay, matroskamux and rtspsrc");
      return 0;
    }
  bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (bus);
  g_test_add ("/e2e/live/live-playback-sessions-audit", Fixture, NULL, NULL, test_live_and_playback,
              fixture_tear_down);
  g_test_add ("/e2e/live/stalled-viewer-dropped-recording-unbroken", Fixture, NULL, NULL, test_stalled_viewer,
              fixture_tear_down);
  g_test_add ("/e2e/live/off-without-htdigest", Fixture, NULL, NULL, test_off_without_htdigest, fixture_tear_down);
  status = g_test_run ();
  g_test_dbus_down (bus);
  g_clear_object (&bus);
  return status;
}
