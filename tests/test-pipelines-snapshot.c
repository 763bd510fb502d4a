/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Snapshots decode one keyframe to a JPEG: from a keyframe in hand, and
 * from a recorded Matroska file at an offset. The recordings here are made
 * by x264enc/x265enc from pictures whose brightness steps once a second
 * (a keyframe every second), so the JPEG, decoded back with jpegdec, says
 * which keyframe was taken. */
#include <gst/app/app.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include "vigil-snapshot.h"
#include "vigil-test-util.h"

#define WIDTH 320
#define HEIGHT 240
#define FPS 10
#define SECONDS 5
/* The luma of second @s of a recording: far enough apart that JPEG and
 * H.264 losses cannot blur one into the next. */
#define LUMA_AT(s) (30 + 45 * (s))

typedef struct {
  const gchar *encoder;   /* "x264enc ..." or "x265enc ..." */
  const gchar *parser;
} Codec;

static const Codec h264 = { "x264enc key-int-max=10 bframes=2 speed-preset=ultrafast", "h264parse" };
static const Codec h265 = { "x265enc key-int-max=10 speed-preset=ultrafast", "h265parse" };

typedef struct {
  gchar *dir;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  f->dir = vigil_test_make_tmp_dir ();
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

static gboolean
have_codec (const Codec *codec)
{
  g_autofree gchar *encoder = g_strndup (codec->encoder, strcspn (codec->encoder, " "));
  g_autofree gchar *decoder = g_strdup_printf ("avdec_%s", codec == &h264 ? "h264" : "h265");

  if (vigil_test_have_elements (encoder, codec->parser, decoder, "matroskamux", "matroskademux", "jpegenc",
                                "jpegdec", NULL))
    return TRUE;
  g_test_skip ("needs the encoder, parser and decoder, matroskamux, matroskademux, jpegenc and jpegdec");
  return FALSE;
}

/* One grey I420 frame of @luma at @pts. */
static GstBuffer *
grey_frame (guint8 luma, GstClockTime pts)
{
  gsize y_size = WIDTH * HEIGHT;
  GstBuffer *buffer = gst_buffer_new_allocate (NULL, y_size * 3 / 2, NULL);
  GstMapInfo map;

  gst_buffer_map (buffer, &map, GST_MAP_WRITE);
  memset (map.data, luma, y_size);
  memset (map.data + y_size, 128, y_size / 2);
  gst_buffer_unmap (buffer, &map);
  GST_BUFFER_PTS (buffer) = pts;
  GST_BUFFER_DURATION (buffer) = GST_SECOND / FPS;
  return buffer;
}

/* Encodes SECONDS seconds of steps (LUMA_AT) into "... ! @tail"; returns
 * the pipeline playing, all of its input pushed. */
static GstElement *
encode_steps_probed (const Codec *codec, const gchar *tail, const gchar *probed, GstPadProbeCallback callback,
                     gpointer data)
{
  g_autofree gchar *description = g_strdup_printf (
    "appsrc name=src format=time caps=video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! %s ! %s ! %s",
    WIDTH, HEIGHT, FPS, codec->encoder, codec->parser, tail);
  g_autoptr(GError) error = NULL;
  GstElement *pipeline = gst_parse_launch (description, &error);
  g_autoptr(GstElement) src = NULL;

  g_assert_no_error (error);
  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  if (probed != NULL)
    {
      g_autoptr(GstElement) element = gst_bin_get_by_name (GST_BIN (pipeline), probed);
      g_autoptr(GstPad) sink = gst_element_get_static_pad (element, "video_0");   /* linked by then */

      gst_pad_add_probe (sink, GST_PAD_PROBE_TYPE_BUFFER, callback, data, NULL);
    }
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  for (guint i = 0; i < SECONDS * FPS; i++)
    gst_app_src_push_buffer (GST_APP_SRC (src), grey_frame (LUMA_AT (i / FPS), i * GST_SECOND / FPS));
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  return pipeline;
}

static GstElement *
encode_steps (const Codec *codec, const gchar *tail)
{
  return encode_steps_probed (codec, tail, NULL, NULL, NULL);
}

static gchar *
record_steps (Fixture *f, const Codec *codec)
{
  gchar *path = g_build_filename (f->dir, "segment.mkv", NULL);
  g_autofree gchar *tail = g_strdup_printf ("matroskamux ! filesink location=%s", path);
  g_autoptr(GstElement) pipeline = encode_steps (codec, tail);
  g_autoptr(GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr(GstMessage) message = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
                                                              GST_MESSAGE_EOS | GST_MESSAGE_ERROR);

  g_assert_nonnull (message);
  g_assert_cmpint (GST_MESSAGE_TYPE (message), ==, GST_MESSAGE_EOS);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  return path;
}

typedef struct {
  GMutex lock;
  GCond  cond;
  guint  frames;
} FrameCount;

static GstPadProbeReturn
on_muxer_frame (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  FrameCount *count = user_data;

  g_mutex_lock (&count->lock);
  count->frames++;
  g_cond_signal (&count->cond);
  g_mutex_unlock (&count->lock);
  return GST_PAD_PROBE_OK;
}

/* A segment as it is while being written: matroskamux stopped without
 * EOS, so no index and no duration, once every frame reached it. */
static gchar *
record_unfinished (Fixture *f)
{
  static const Codec zero_latency = { "x264enc key-int-max=10 tune=zerolatency speed-preset=ultrafast", "h264parse" };
  gchar *path = g_build_filename (f->dir, "writing.mkv", NULL);
  g_autofree gchar *tail = g_strdup_printf ("matroskamux name=mux ! filesink location=%s", path);
  g_autoptr(GstElement) pipeline = NULL;
  FrameCount count = { 0 };
  gint64 deadline_us = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

  g_mutex_init (&count.lock);
  g_cond_init (&count.cond);
  pipeline = encode_steps_probed (&zero_latency, tail, "mux", on_muxer_frame, &count);
  g_mutex_lock (&count.lock);
  while (count.frames < SECONDS * FPS)
    g_assert_true (g_cond_wait_until (&count.cond, &count.lock, deadline_us));
  g_mutex_unlock (&count.lock);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_mutex_clear (&count.lock);
  g_cond_clear (&count.cond);
  return path;
}

static void
assert_picture (GBytes *jpeg, gdouble luma)
{
  gint width, height;
  gdouble measured;

  g_assert_nonnull (jpeg);
  vigil_test_decode_jpeg (jpeg, &width, &height, &measured);
  g_test_message ("JPEG of %" G_GSIZE_FORMAT " bytes, %dx%d, mean luma %.1f (want %.0f)", g_bytes_get_size (jpeg),
                  width, height, measured, luma);
  g_assert_cmpint (width, ==, WIDTH);
  g_assert_cmpint (height, ==, HEIGHT);
  g_assert_cmpfloat_with_epsilon (measured, luma, 8);
}

/* The recorder's kind of keyframe: parsed, avc with codec_data, one access
 * unit, with a running time of its own. */
static void
test_snapshot_from_keyframe (Fixture *f, gconstpointer data)
{
  const Codec *codec = data;
  g_autoptr(GstElement) pipeline = NULL;
  g_autoptr(GstElement) sink = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) jpeg = NULL;
  GstSample *sample;
  GstBuffer *keyframe = NULL;
  GstCaps *caps = NULL;
  GstClockTime first_pts = GST_CLOCK_TIME_NONE;
  g_autoptr(GPtrArray) samples = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_sample_unref);
  gint64 start_us;

  if (!have_codec (codec))
    return;
  pipeline = encode_steps (codec, codec == &h264 ? "video/x-h264,stream-format=avc,alignment=au ! appsink name=sink sync=false"
                                                 : "video/x-h265,stream-format=hvc1,alignment=au ! appsink name=sink sync=false");
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  /* The keyframe of second 3, as the probe would have kept it. */
  while ((sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 60 * GST_SECOND)) != NULL)
    {
      GstBuffer *buffer = gst_sample_get_buffer (sample);

      g_ptr_array_add (samples, sample);
      /* x264enc starts at 1000 h, for room before the first DTS. */
      if (!GST_CLOCK_TIME_IS_VALID (first_pts))
        first_pts = GST_BUFFER_PTS (buffer);
      if (!GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT)
          && GST_BUFFER_PTS (buffer) - first_pts == 3 * GST_SECOND)
        {
          keyframe = buffer;
          caps = gst_sample_get_caps (sample);
        }
    }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_assert_nonnull (keyframe);
  GST_BUFFER_PTS (keyframe) += 1000 * GST_SECOND;   /* a recorder's running time */

  start_us = g_get_monotonic_time ();
  jpeg = vigil_snapshot_from_keyframe (caps, keyframe, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("from a keyframe in %.3f s", (g_get_monotonic_time () - start_us) / 1e6);
  assert_picture (jpeg, LUMA_AT (3));
}

/* The keyframe at or before the offset, only that: 2.5 s gives second 2's
 * picture, 0 the first, 4.95 s the last, and each says where it was. */
static void
test_snapshot_from_file_at_offset (Fixture *f, gconstpointer data)
{
  const Codec *codec = data;
  g_autofree gchar *path = NULL;
  const struct {
    GstClockTime offset, keyframe;
    guint        second;
  } cases[] = {
    { 2500 * GST_MSECOND, 2 * GST_SECOND, 2 },
    { 0, 0, 0 },
    { 4950 * GST_MSECOND, 4 * GST_SECOND, 4 },
    { 1 * GST_SECOND, 1 * GST_SECOND, 1 },
  };

  if (!have_codec (codec))
    return;
  path = record_steps (f, codec);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) jpeg = NULL;
      GstClockTime pts = GST_CLOCK_TIME_NONE;
      gint64 start_us = g_get_monotonic_time ();

      jpeg = vigil_snapshot_from_file (path, cases[i].offset, NULL, &pts, &error);
      g_assert_no_error (error);
      g_test_message ("at %" GST_TIME_FORMAT ": keyframe %" GST_TIME_FORMAT " in %.3f s",
                      GST_TIME_ARGS (cases[i].offset), GST_TIME_ARGS (pts),
                      (g_get_monotonic_time () - start_us) / 1e6);
      g_assert_cmpuint (pts, ==, cases[i].keyframe);
      assert_picture (jpeg, LUMA_AT (cases[i].second));
    }
}

/* A segment still being written has no index: the keyframe is found by
 * reading through to the offset, and an offset past what is written yet
 * is past its end. */
static void
test_snapshot_from_unfinished_file (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *path = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) jpeg = NULL;
  GstClockTime pts = GST_CLOCK_TIME_NONE;

  if (!have_codec (&h264))
    return;
  path = record_unfinished (f);
  jpeg = vigil_snapshot_from_file (path, 3500 * GST_MSECOND, NULL, &pts, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pts, ==, 3 * GST_SECOND);
  assert_picture (jpeg, LUMA_AT (3));
  g_clear_pointer (&jpeg, g_bytes_unref);

  jpeg = vigil_snapshot_from_file (path, 30 * GST_SECOND, NULL, &pts, &error);
  g_assert_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_OUT_OF_RANGE);
  g_assert_null (jpeg);
}

/* Each way a snapshot can fail says which. */
static void
test_snapshot_errors (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *path = NULL;
  g_autofree gchar *missing = g_build_filename (f->dir, "missing.mkv", NULL);
  g_autofree gchar *garbage = g_build_filename (f->dir, "garbage.mkv", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) jpeg = NULL;
  g_autoptr(GstCaps) caps = gst_caps_from_string ("video/x-vp9");
  g_autoptr(GstBuffer) buffer = gst_buffer_new_allocate (NULL, 16, NULL);
  VigilSnapshotOptions tiny = { .max_size_bytes = 100 };

  if (!have_codec (&h264))
    return;
  path = record_steps (f, &h264);

  jpeg = vigil_snapshot_from_file (path, 60 * GST_SECOND, NULL, NULL, &error);
  g_assert_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_OUT_OF_RANGE);
  g_assert_null (jpeg);
  g_test_message ("%s", error->message);
  g_clear_error (&error);

  jpeg = vigil_snapshot_from_file (missing, 0, NULL, NULL, &error);
  g_assert_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_UNREADABLE);
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (garbage, "not a matroska file at all, just text", -1, NULL));
  jpeg = vigil_snapshot_from_file (garbage, 0, NULL, NULL, &error);
  g_assert_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_UNREADABLE);
  g_test_message ("%s", error->message);
  g_clear_error (&error);

  jpeg = vigil_snapshot_from_file (path, GST_SECOND, &tiny, NULL, &error);
  g_assert_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_TOO_LARGE);
  g_clear_error (&error);

  jpeg = vigil_snapshot_from_keyframe (caps, buffer, NULL, &error);
  g_assert_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_MISSING);
  g_assert_nonnull (strstr (error->message, "video/x-vp9"));
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/pipelines/snapshot/h264/from-keyframe", Fixture, &h264, fixture_set_up, test_snapshot_from_keyframe,
              fixture_tear_down);
  g_test_add ("/pipelines/snapshot/h265/from-keyframe", Fixture, &h265, fixture_set_up, test_snapshot_from_keyframe,
              fixture_tear_down);
  g_test_add ("/pipelines/snapshot/h264/from-file-at-offset", Fixture, &h264, fixture_set_up,
              test_snapshot_from_file_at_offset, fixture_tear_down);
  g_test_add ("/pipelines/snapshot/h265/from-file-at-offset", Fixture, &h265, fixture_set_up,
              test_snapshot_from_file_at_offset, fixture_tear_down);
  g_test_add ("/pipelines/snapshot/h264/from-unfinished-file", Fixture, NULL, fixture_set_up,
              test_snapshot_from_unfinished_file, fixture_tear_down);
  g_test_add ("/pipelines/snapshot/errors", Fixture, NULL, fixture_set_up, test_snapshot_errors, fixture_tear_down);
  return g_test_run ();
}
