/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigil_clip_write() turns recorded Matroska segments into one MP4 that a
 * court can play: these tests check what a user of the file would notice
 * (frames, duration, first frame, time text, faststart layout, JPEG). */
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <string.h>
#include <unistd.h>

#include "vigil-clip-writer.h"
#include "vigil-test-util.h"

#define FRAME_NS (100 * GST_MSECOND)   /* segments are 10 fps */
#define SEGMENT_FRAMES 20              /* 2 s, keyframe every 10 frames */
#define SEGMENT_US (2 * G_USEC_PER_SEC)
/* 2026-11-28 18:41:00.250 UTC: a fraction, so cue boundaries fall between frames. */
#define BASE_US G_GINT64_CONSTANT (1795891260250000)
#define GAP_US (60 * G_USEC_PER_SEC)

typedef enum {
  SOURCE_H264,          /* 4 parts, the last after a gap */
  SOURCE_H264_AAC,      /* 3 parts */
  SOURCE_H264_PCMA,     /* 3 parts */
  SOURCE_H265,          /* 2 parts */
  SOURCE_AAC_DROPOUT,   /* 1 part of 6 s whose audio stops after 1 s */
  N_SOURCES
} SourceKind;

/* Segments are encoded once per run (the slow part under valgrind) into
 * one folder that main() removes; each test writes into its own. */
static gchar *segment_dir;

typedef struct {
  gboolean       ready;
  guint          n_parts;
  VigilClipPart  parts[4];
  gchar         *paths[4];
} Source;
static Source sources[N_SOURCES];

typedef struct {
  gchar           *dir;              /* temporary output directory */
  gchar           *mp4, *jpeg;       /* paths of the two outputs, made empty by set-up */
  VigilClipOutput  mp4_out, jpeg_out;  /* the same files, open, as the writer gets them */
} Fixture;

static VigilClipOutput
open_output (const gchar *path)
{
  int fd = g_open (path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

  g_assert_cmpint (fd, >=, 0);
  return (VigilClipOutput) { fd, strrchr (path, '/') + 1 };
}

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  f->dir = vigil_test_make_tmp_dir ();
  f->mp4 = g_build_filename (f->dir, "clip.mp4", NULL);
  f->jpeg = g_build_filename (f->dir, "clip.jpg", NULL);
  f->mp4_out = open_output (f->mp4);
  f->jpeg_out = open_output (f->jpeg);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  g_close (f->mp4_out.fd, NULL);
  g_close (f->jpeg_out.fd, NULL);
  g_clear_pointer (&f->mp4, g_free);
  g_clear_pointer (&f->jpeg, g_free);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

/* A failed write leaves its outputs empty; removing them is the caller's. */
static void
assert_empty (const gchar *path)
{
  GStatBuf st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_size, ==, 0);
}

/* Encodes the segments of @kind once: 2 s each at 10 fps with a keyframe
 * every second, the way the recorder writes them (one Matroska file per
 * segment, each starting on a keyframe). Plain H.264 has four parts, the
 * last after a 60 s gap, and file timestamps that continue from file to
 * file (splitmuxsink's default); the others start each file at zero
 * (the recorder's offset-to-zero). splitmuxsink itself is not used: with
 * non-live test sources it hangs at EOS in about a third of the runs here.
 * FALSE (test skipped) when an element is missing. */
static gboolean
ensure_source (SourceKind kind)
{
  Source *source = &sources[kind];
  const gchar *video, *audio = NULL;
  const gchar *overlay = vigil_test_have_elements ("timeoverlay", NULL) ? "timeoverlay ! " : "";

  if (source->ready)
    return TRUE;
  switch (kind)
    {
    case SOURCE_H264:
    case SOURCE_H264_AAC:
    case SOURCE_H264_PCMA:
    case SOURCE_AAC_DROPOUT:
      if (!vigil_test_have_elements ("x264enc", "avdec_h264", NULL))
        return FALSE;
      video = "x264enc tune=zerolatency key-int-max=10 speed-preset=ultrafast ! h264parse";
      break;
    case SOURCE_H265:
    default:
      if (!vigil_test_have_elements ("x265enc", "avdec_h265", NULL))
        return FALSE;
      video = "x265enc tune=zerolatency key-int-max=10 speed-preset=ultrafast ! h265parse";
      break;
    }
  if (kind == SOURCE_H264_AAC || kind == SOURCE_AAC_DROPOUT)
    {
      if (!vigil_test_have_elements ("avenc_aac", "aacparse", NULL))
        return FALSE;
      audio = "audio/x-raw,rate=48000,channels=1 ! avenc_aac ! aacparse";
    }
  else if (kind == SOURCE_H264_PCMA)
    {
      if (!vigil_test_have_elements ("alawenc", "avenc_alac", NULL))
        return FALSE;
      audio = "audio/x-raw,rate=8000,channels=1 ! alawenc";
    }
  if (!vigil_test_have_elements ("matroskamux", "matroskademux", "mp4mux", "qtdemux", "appsrc",
                                 "jpegenc", "jpegdec", "videoconvert", "decodebin", NULL))
    return FALSE;

  source->n_parts = kind == SOURCE_H264 ? 4 : kind == SOURCE_H265 ? 2 : kind == SOURCE_AAC_DROPOUT ? 1 : 3;
  for (guint i = 0; i < source->n_parts; i++)
    {
      g_autofree gchar *name = g_strdup_printf ("src%u-%02u.mkv", kind, i);
      g_autofree gchar *description = NULL;
      /* Continuing file timestamps for plain H.264, zero-based otherwise. */
      guint64 offset = kind == SOURCE_H264 ? i * SEGMENT_FRAMES * FRAME_NS : 0;
      g_autofree gchar *audio_branch = NULL;
      guint frames = kind == SOURCE_AAC_DROPOUT ? 3 * SEGMENT_FRAMES : SEGMENT_FRAMES;

      source->paths[i] = g_build_filename (segment_dir, name, NULL);
      if (audio != NULL)
        /* 2 s of a sine in 100 ms buffers (1 s for the dropout). */
        audio_branch = g_strdup_printf ("audiotestsrc num-buffers=%u samplesperbuffer=%u "
                                        "timestamp-offset=%" G_GUINT64_FORMAT " ! %s ! mux. ",
                                        kind == SOURCE_AAC_DROPOUT ? 10 : 20,
                                        kind == SOURCE_H264_PCMA ? 800 : 4800, offset, audio);
      description = g_strdup_printf ("videotestsrc pattern=ball num-buffers=%u timestamp-offset=%" G_GUINT64_FORMAT
                                     " ! video/x-raw,width=320,height=240,framerate=10/1 ! %s%s "
                                     "! matroskamux name=mux ! filesink location=\"%s\" %s",
                                     frames, offset, overlay, video, source->paths[i],
                                     audio_branch != NULL ? audio_branch : "");
      vigil_test_run_pipeline (description, 120);
      source->parts[i].path = source->paths[i];
      source->parts[i].start_us = BASE_US + i * SEGMENT_US + (kind == SOURCE_H264 && i == 3 ? GAP_US : 0);
      source->parts[i].end_us = source->parts[i].start_us + frames * FRAME_NS / 1000;
    }
  source->ready = TRUE;
  return TRUE;
}

static gchar *
cue_text (gint64 wall_us)
{
  g_autoptr(GDateTime) time = g_date_time_new_from_unix_utc (wall_us / G_USEC_PER_SEC);

  return g_date_time_format (time, "%Y-%m-%d %H:%M:%S UTC");
}

/* What a player sees in an MP4: demuxed with qtdemux, not decoded. */
typedef struct {
  GstElement   *pipeline;
  guint64       video_frames, audio_buffers;
  gboolean      first_is_keyframe;
  GstClockTime  first_pts;
  gchar        *video_caps, *audio_caps;
  GArray       *cue_pts;      /* GstClockTime */
  GPtrArray    *cue_texts;
  gchar        *title;
  GstClockTime  duration;
} Mp4Info;

static void
mp4_info_clear (Mp4Info *info)
{
  g_clear_pointer (&info->video_caps, g_free);
  g_clear_pointer (&info->audio_caps, g_free);
  g_clear_pointer (&info->cue_pts, g_array_unref);
  g_clear_pointer (&info->cue_texts, g_ptr_array_unref);
  g_clear_pointer (&info->title, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Mp4Info, mp4_info_clear)

/* Runs on qtdemux's streaming thread; the test reads after NULL. */
static GstPadProbeReturn
on_mp4_data (GstPad *pad, GstPadProbeInfo *probe, gpointer user_data)
{
  Mp4Info *info = user_data;
  const gchar *kind = g_object_get_data (G_OBJECT (pad), "vigil-kind");

  if (probe->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM)
    {
      GstEvent *event = GST_PAD_PROBE_INFO_EVENT (probe);
      GstTagList *tags;
      gchar *title = NULL;

      if (GST_EVENT_TYPE (event) == GST_EVENT_TAG)
        {
          gst_event_parse_tag (event, &tags);
          if (info->title == NULL && gst_tag_list_get_string (tags, GST_TAG_TITLE, &title))
            info->title = title;
        }
      return GST_PAD_PROBE_OK;
    }
  if (g_str_equal (kind, "video"))
    {
      GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (probe);

      if (info->video_frames++ == 0)
        {
          info->first_is_keyframe = !GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT);
          info->first_pts = GST_BUFFER_PTS (buffer);
        }
    }
  else if (g_str_equal (kind, "audio"))
    info->audio_buffers++;
  else if (g_str_equal (kind, "text"))
    {
      GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (probe);
      GstMapInfo map;

      /* mp4mux puts an empty sample between two cues. */
      if (gst_buffer_get_size (buffer) == 0)
        return GST_PAD_PROBE_OK;
      gst_buffer_map (buffer, &map, GST_MAP_READ);
      g_array_append_val (info->cue_pts, GST_BUFFER_PTS (buffer));
      g_ptr_array_add (info->cue_texts, g_strndup ((const gchar *) map.data, map.size));
      gst_buffer_unmap (buffer, &map);
    }
  return GST_PAD_PROBE_OK;
}

static void
on_qtdemux_pad_added (GstElement *demux, GstPad *pad, gpointer user_data)
{
  Mp4Info *info = user_data;
  g_autoptr(GstCaps) caps = gst_pad_query_caps (pad, NULL);
  const gchar *name = gst_structure_get_name (gst_caps_get_structure (caps, 0));
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  g_autoptr(GstPad) sink_pad = gst_element_get_static_pad (sink, "sink");
  const gchar *kind = g_str_has_prefix (name, "video/") ? "video"
                      : g_str_has_prefix (name, "audio/") ? "audio" : "text";

  /* One streaming thread feeds every sink: none may wait for preroll. */
  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
  gst_bin_add (GST_BIN (info->pipeline), sink);
  gst_element_sync_state_with_parent (sink);
  g_object_set_data (G_OBJECT (pad), "vigil-kind", (gpointer) kind);
  if (g_str_equal (kind, "video"))
    info->video_caps = gst_caps_to_string (caps);
  else if (g_str_equal (kind, "audio"))
    info->audio_caps = gst_caps_to_string (caps);
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_mp4_data, info, NULL);
  gst_pad_link (pad, sink_pad);
}

static void
inspect_mp4 (const gchar *path, Mp4Info *info)
{
  g_autoptr(GstElement) pipeline = gst_pipeline_new (NULL);
  GstElement *src = gst_element_factory_make ("filesrc", NULL);
  GstElement *demux = gst_element_factory_make ("qtdemux", NULL);
  g_autoptr(GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr(GstMessage) message = NULL;
  gint64 duration = -1;

  memset (info, 0, sizeof *info);
  info->pipeline = pipeline;
  info->first_pts = GST_CLOCK_TIME_NONE;
  info->cue_pts = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  info->cue_texts = g_ptr_array_new_with_free_func (g_free);
  g_object_set (src, "location", path, NULL);
  gst_bin_add_many (GST_BIN (pipeline), src, demux, NULL);
  gst_element_link (src, demux);
  g_signal_connect (demux, "pad-added", G_CALLBACK (on_qtdemux_pad_added), info);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  message = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (message);
  g_assert_cmpint (GST_MESSAGE_TYPE (message), ==, GST_MESSAGE_EOS);
  g_assert_true (gst_element_query_duration (pipeline, GST_FORMAT_TIME, &duration));
  info->duration = (GstClockTime) duration;
  gst_element_set_state (pipeline, GST_STATE_NULL);
  info->pipeline = NULL;
}

static guint64
read_be (const guint8 *p, guint n)
{
  guint64 value = 0;

  for (guint i = 0; i < n; i++)
    value = value << 8 | p[i];
  return value;
}

/* The file's top-level boxes, in order, as four-character codes. */
static gchar *
top_level_boxes (const gchar *path)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFileInputStream) stream = g_file_read (file, NULL, NULL);
  g_autoptr(GString) boxes = g_string_new (NULL);
  guint8 header[16];
  gsize got;

  g_assert_nonnull (stream);
  while (g_input_stream_read_all (G_INPUT_STREAM (stream), header, 8, &got, NULL, NULL) && got == 8)
    {
      guint64 size = read_be (header, 4);
      guint64 skip;

      g_string_append_printf (boxes, "%s%.4s", boxes->len > 0 ? " " : "", header + 4);
      if (size == 1)
        {
          g_assert_true (g_input_stream_read_all (G_INPUT_STREAM (stream), header + 8, 8, &got, NULL, NULL));
          size = read_be (header + 8, 8);
          skip = size - 16;
        }
      else if (size == 0)
        break;
      else
        skip = size - 8;
      g_assert_true (g_seekable_seek (G_SEEKABLE (stream), (goffset) skip, G_SEEK_CUR, NULL, NULL));
    }
  return g_string_free (g_steal_pointer (&boxes), FALSE);
}

static void
assert_moov_before_mdat (const gchar *path)
{
  g_autofree gchar *boxes = top_level_boxes (path);
  const gchar *moov = strstr (boxes, "moov"), *mdat = strstr (boxes, "mdat");

  g_test_message ("%s: %s", path, boxes);
  g_assert_nonnull (moov);
  g_assert_nonnull (mdat);
  g_assert_true (moov < mdat);
}

/* Decodes the JPEG and returns its size. */
static void
assert_jpeg_size (const gchar *path, gint width, gint height)
{
  g_autofree gchar *description = g_strdup_printf ("filesrc location=\"%s\" ! jpegdec ! fakesink name=sink", path);
  g_autoptr(GstElement) pipeline = gst_parse_launch (description, NULL);
  g_autoptr(GstElement) sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_autoptr(GstPad) pad = gst_element_get_static_pad (sink, "sink");
  g_autoptr(GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr(GstMessage) message = NULL;
  g_autoptr(GstCaps) caps = NULL;
  gint got_width = 0, got_height = 0;

  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  gst_element_set_state (pipeline, GST_STATE_PAUSED);
  message = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND, GST_MESSAGE_ASYNC_DONE | GST_MESSAGE_ERROR);
  g_assert_nonnull (message);
  g_assert_cmpint (GST_MESSAGE_TYPE (message), ==, GST_MESSAGE_ASYNC_DONE);
  caps = gst_pad_get_current_caps (pad);
  gst_structure_get_int (gst_caps_get_structure (caps, 0), "width", &got_width);
  gst_structure_get_int (gst_caps_get_structure (caps, 0), "height", &got_height);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_assert_cmpint (got_width, ==, width);
  g_assert_cmpint (got_height, ==, height);
}

static gboolean
skip_unless_source (SourceKind kind)
{
  if (ensure_source (kind))
    return FALSE;
  g_test_skip ("needs x264enc/x265enc, matroskamux, mp4mux, qtdemux, jpegenc, jpegdec and the audio encoders");
  return TRUE;
}

static void
assert_within_a_frame (GstClockTime got, GstClockTime expected)
{
  g_assert_cmpuint (got + FRAME_NS, >, expected);
  g_assert_cmpuint (got, <, expected + FRAME_NS);
}

/* From the middle of a GOP in the first part, across a gap, to the
 * middle of the last part. */
static void
test_clip_writer_spans_parts_and_gap (Fixture *f, gconstpointer unused)
{
  Source *source = &sources[SOURCE_H264];
  VigilClipResult result = { 0, };
  g_autoptr(GError) error = NULL;
  g_auto(Mp4Info) info;
  g_autofree gchar *first_cue = NULL;
  g_autofree gchar *gap_cue = NULL;
  gint64 from_us, to_us, keyframe_us;
  GstClockTime gap_at = 3 * SEGMENT_FRAMES * FRAME_NS - 10 * FRAME_NS;   /* parts 0 (from 1 s), 1, 2 */
  guint64 expected_frames = 10 + 2 * SEGMENT_FRAMES + 6;
  gboolean found_gap_cue = FALSE;

  if (skip_unless_source (SOURCE_H264))
    return;
  /* 1.45 s into the first part: the keyframe before it is at 1.0 s, so
   * the clip has 5 frames of lead-in before from_us. It ends before the
   * frame at 0.6 s of the part after the gap. */
  from_us = source->parts[0].start_us + 1450 * 1000;
  keyframe_us = source->parts[0].start_us + G_USEC_PER_SEC;
  to_us = source->parts[3].start_us + 550 * 1000;

  g_assert_true (vigil_clip_write (source->parts, source->n_parts, from_us, to_us, &f->mp4_out, &f->jpeg_out,
                                   NULL, NULL, NULL, &result, &error));
  g_assert_no_error (error);
  g_assert_cmpint (result.first_frame_us, ==, keyframe_us);
  g_assert_cmpint (result.end_us, ==, source->parts[3].start_us + 600 * 1000);
  g_assert_cmpuint (result.video_frames, ==, expected_frames);
  g_assert_cmpuint (result.duration_ns, ==, expected_frames * FRAME_NS);
  g_assert_false (result.has_audio);
  g_assert_cmpuint (result.n_parts_used, ==, 4);

  g_assert_cmpint (vigil_test_decode_file (f->mp4, &error), ==, (gint64) expected_frames);
  g_assert_no_error (error);
  assert_moov_before_mdat (f->mp4);
  assert_jpeg_size (f->jpeg, 320, 240);

  inspect_mp4 (f->mp4, &info);
  g_assert_cmpuint (info.video_frames, ==, expected_frames);
  g_assert_true (info.first_is_keyframe);
  g_assert_cmpuint (info.first_pts, ==, 0);
  assert_within_a_frame (info.duration, expected_frames * FRAME_NS);
  g_assert_nonnull (info.video_caps);
  g_assert_true (g_str_has_prefix (info.video_caps, "video/x-h264"));

  /* The time text: the first cue is the first frame's second, and the
   * part after the gap starts with its own. */
  first_cue = cue_text (keyframe_us);
  gap_cue = cue_text (source->parts[3].start_us);
  g_assert_cmpuint (info.cue_texts->len, >, 0);
  g_assert_cmpstr (info.cue_texts->pdata[0], ==, first_cue);
  g_assert_cmpuint (g_array_index (info.cue_pts, GstClockTime, 0), ==, 0);
  for (guint i = 0; i < info.cue_pts->len; i++)
    if (g_array_index (info.cue_pts, GstClockTime, i) == gap_at)
      {
        g_assert_cmpstr (info.cue_texts->pdata[i], ==, gap_cue);
        found_gap_cue = TRUE;
      }
  g_assert_true (found_gap_cue);
  /* Whole seconds in between: 18:41:01.25 is followed by 18:41:02 at 0.75 s. */
  g_assert_cmpuint (g_array_index (info.cue_pts, GstClockTime, 1), ==, 750 * GST_MSECOND);

  /* The wall-clock start is in the metadata too, to the microsecond. */
  g_assert_cmpstr (info.title, ==, "2026-11-28T18:41:01.250000Z");
}

/* A range that starts before the first part and ends after the last
 * gives every frame. */
static void
test_clip_writer_whole_recording (Fixture *f, gconstpointer unused)
{
  Source *source = &sources[SOURCE_H264];
  VigilClipResult result = { 0, };
  g_autoptr(GError) error = NULL;

  if (skip_unless_source (SOURCE_H264))
    return;
  g_assert_true (vigil_clip_write (source->parts, source->n_parts, source->parts[0].start_us - G_USEC_PER_SEC,
                                   source->parts[3].end_us + G_USEC_PER_SEC, &f->mp4_out, &f->jpeg_out, NULL, NULL, NULL,
                                   &result, &error));
  g_assert_no_error (error);
  g_assert_cmpint (result.first_frame_us, ==, source->parts[0].start_us);
  g_assert_cmpint (result.end_us, ==, source->parts[3].end_us);
  g_assert_cmpuint (result.video_frames, ==, 4 * SEGMENT_FRAMES);
  g_assert_cmpint (vigil_test_decode_file (f->mp4, &error), ==, 4 * SEGMENT_FRAMES);
  g_assert_no_error (error);
}

/* The writer works on the descriptors alone: with both names gone before
 * it starts, it still writes a whole clip and snapshot, and the folder
 * stays empty (no temporary file, nothing recreated by name). vigild
 * relies on this to keep every name decision in an export folder. */
static void
test_clip_writer_writes_only_through_descriptors (Fixture *f, gconstpointer unused)
{
  Source *source = &sources[SOURCE_H264];
  VigilClipResult result = { 0, };
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = NULL;
  g_autofree gchar *mp4_link = g_strdup_printf ("/proc/self/fd/%d", f->mp4_out.fd);
  g_autofree gchar *jpeg_link = g_strdup_printf ("/proc/self/fd/%d", f->jpeg_out.fd);

  if (skip_unless_source (SOURCE_H264))
    return;
  g_assert_cmpint (g_unlink (f->mp4), ==, 0);
  g_assert_cmpint (g_unlink (f->jpeg), ==, 0);
  g_assert_true (vigil_clip_write (source->parts, source->n_parts, source->parts[0].start_us,
                                   source->parts[1].end_us, &f->mp4_out, &f->jpeg_out, NULL, NULL, NULL, &result,
                                   &error));
  g_assert_no_error (error);
  dir = g_dir_open (f->dir, 0, &error);
  g_assert_no_error (error);
  g_assert_null (g_dir_read_name (dir));
  /* The unlinked files, read through this process's descriptors. */
  g_assert_cmpint (vigil_test_decode_file (mp4_link, &error), ==, 2 * SEGMENT_FRAMES);
  g_assert_no_error (error);
  assert_moov_before_mdat (mp4_link);
  assert_jpeg_size (jpeg_link, 320, 240);
}

static void
on_progress_cancel (gdouble fraction, gpointer user_data)
{
  g_assert_cmpfloat (fraction, >=, 0.0);
  g_assert_cmpfloat (fraction, <=, 1.0);
  g_cancellable_cancel (user_data);
}

static void
test_clip_writer_cancel_leaves_empty_files (Fixture *f, gconstpointer unused)
{
  Source *source = &sources[SOURCE_H264];
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  VigilClipResult result = { .video_frames = 12345 };
  g_autoptr(GError) error = NULL;

  if (skip_unless_source (SOURCE_H264))
    return;
  g_assert_false (vigil_clip_write (source->parts, source->n_parts, source->parts[0].start_us,
                                    source->parts[3].end_us, &f->mp4_out, &f->jpeg_out, on_progress_cancel, cancellable,
                                    cancellable, &result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  assert_empty (f->mp4);
  assert_empty (f->jpeg);
  g_assert_cmpuint (result.video_frames, ==, 12345);   /* untouched */
}

static void
test_clip_writer_no_video (Fixture *f, gconstpointer unused)
{
  Source *source = &sources[SOURCE_H264];
  g_autoptr(GError) error = NULL;
  gint64 in_gap_us = source->parts[2].end_us + GAP_US / 2;

  if (skip_unless_source (SOURCE_H264))
    return;
  /* Inside the gap. */
  g_assert_false (vigil_clip_write (source->parts, source->n_parts, in_gap_us, in_gap_us + 10 * G_USEC_PER_SEC,
                                    &f->mp4_out, &f->jpeg_out, NULL, NULL, NULL, NULL, &error));
  g_assert_error (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_NO_VIDEO);
  g_clear_error (&error);
  /* An empty range. */
  g_assert_false (vigil_clip_write (source->parts, source->n_parts, source->parts[1].start_us,
                                    source->parts[1].start_us, &f->mp4_out, &f->jpeg_out, NULL, NULL, NULL, NULL, &error));
  g_assert_error (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_NO_VIDEO);
  assert_empty (f->mp4);
  assert_empty (f->jpeg);
}

/* AAC is copied as recorded; PCMA, which MP4 cannot hold, becomes lossless
 * ALAC. Either way the MP4 has an audio track that decodes. */
static void
test_clip_writer_audio (Fixture *f, gconstpointer data)
{
  SourceKind kind = GPOINTER_TO_INT (data);
  Source *source = &sources[kind];
  VigilClipResult result = { 0, };
  g_autoptr(GError) error = NULL;
  g_auto(Mp4Info) info;

  if (skip_unless_source (kind))
    return;
  g_assert_true (vigil_clip_write (source->parts, source->n_parts, source->parts[0].start_us + 500 * 1000,
                                   source->parts[2].start_us + 1500 * 1000, &f->mp4_out, &f->jpeg_out, NULL, NULL, NULL,
                                   &result, &error));
  g_assert_no_error (error);
  g_assert_true (result.has_audio);
  g_assert_cmpint (result.audio_transcoded, ==, kind == SOURCE_H264_PCMA);
  g_assert_cmpuint (result.video_frames, ==, 2 * SEGMENT_FRAMES + 15);
  g_assert_cmpint (vigil_test_decode_file (f->mp4, &error), ==, 2 * SEGMENT_FRAMES + 15);
  g_assert_no_error (error);

  inspect_mp4 (f->mp4, &info);
  g_assert_nonnull (info.audio_caps);
  g_test_message ("audio: %s", info.audio_caps);
  g_assert_true (g_str_has_prefix (info.audio_caps, kind == SOURCE_H264_PCMA ? "audio/x-alac" : "audio/mpeg"));
  g_assert_cmpuint (info.audio_buffers, >, 0);
  /* The audio track ends with the video, give or take an audio frame. */
  assert_within_a_frame (info.duration, (2 * SEGMENT_FRAMES + 15) * FRAME_NS);
  assert_moov_before_mdat (f->mp4);
}

/* mp4mux waits for every track: audio that stops while the video goes on
 * cannot be written. The export says so at once instead of hanging. */
static void
test_clip_writer_audio_dropout_fails (Fixture *f, gconstpointer unused)
{
  Source *source = &sources[SOURCE_AAC_DROPOUT];
  g_autoptr(GError) error = NULL;
  gint64 started_us;

  if (skip_unless_source (SOURCE_AAC_DROPOUT))
    return;
  started_us = g_get_monotonic_time ();
  g_assert_false (vigil_clip_write (source->parts, source->n_parts, source->parts[0].start_us,
                                    source->parts[0].end_us, &f->mp4_out, &f->jpeg_out, NULL, NULL, NULL, NULL, &error));
  g_assert_error (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "audio stops"));
  /* Well before the 60 s stall timer. */
  g_assert_cmpint (g_get_monotonic_time () - started_us, <, 40 * G_USEC_PER_SEC);
  assert_empty (f->mp4);
  assert_empty (f->jpeg);
}

static void
test_clip_writer_h265 (Fixture *f, gconstpointer unused)
{
  Source *source = &sources[SOURCE_H265];
  VigilClipResult result = { 0, };
  g_autoptr(GError) error = NULL;
  g_auto(Mp4Info) info;

  if (skip_unless_source (SOURCE_H265))
    return;
  g_assert_true (vigil_clip_write (source->parts, source->n_parts, source->parts[0].start_us,
                                   source->parts[1].end_us, &f->mp4_out, &f->jpeg_out, NULL, NULL, NULL, &result, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (result.video_frames, ==, 2 * SEGMENT_FRAMES);
  g_assert_cmpint (vigil_test_decode_file (f->mp4, &error), ==, 2 * SEGMENT_FRAMES);
  g_assert_no_error (error);
  inspect_mp4 (f->mp4, &info);
  g_assert_true (g_str_has_prefix (info.video_caps, "video/x-h265"));
  assert_jpeg_size (f->jpeg, 320, 240);
}

/* Loads every plugin the tests use while the process has one thread:
 * glibc keeps (and valgrind reports) a scope array when a library is
 * dlopened while other threads run. */
static void
load_plugins (void)
{
  static const gchar *const names[] = {
    "filesrc", "filesink", "fdsink", "fakesink", "appsrc", "videotestsrc", "audiotestsrc", "timeoverlay",
    "x264enc", "x265enc", "h264parse", "h265parse", "h264timestamper", "h265timestamper", "avdec_h264",
    "avdec_h265", "avenc_aac", "aacparse", "alawenc", "alawdec", "avenc_alac", "audioconvert", "matroskamux",
    "matroskademux", "mp4mux", "qtdemux", "decodebin", "videoconvert", "jpegenc", "jpegdec",
  };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autoptr(GstElementFactory) factory = gst_element_factory_find (names[i]);
      g_autoptr(GstPluginFeature) loaded = NULL;

      if (factory != NULL)
        loaded = gst_plugin_feature_load (GST_PLUGIN_FEATURE (factory));
    }
}

int
main (int argc, char **argv)
{
  int status;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  load_plugins ();
  segment_dir = vigil_test_make_tmp_dir ();

  g_test_add ("/pipelines/clip-writer/spans-parts-and-gap", Fixture, NULL, fixture_set_up,
              test_clip_writer_spans_parts_and_gap, fixture_tear_down);
  g_test_add ("/pipelines/clip-writer/whole-recording", Fixture, NULL, fixture_set_up,
              test_clip_writer_whole_recording, fixture_tear_down);
  g_test_add ("/pipelines/clip-writer/writes-only-through-descriptors", Fixture, NULL, fixture_set_up,
              test_clip_writer_writes_only_through_descriptors, fixture_tear_down);
  g_test_add ("/pipelines/clip-writer/cancel-leaves-empty-files", Fixture, NULL, fixture_set_up,
              test_clip_writer_cancel_leaves_empty_files, fixture_tear_down);
  g_test_add ("/pipelines/clip-writer/no-video", Fixture, NULL, fixture_set_up,
              test_clip_writer_no_video, fixture_tear_down);
  g_test_add ("/pipelines/clip-writer/audio-aac", Fixture, GINT_TO_POINTER (SOURCE_H264_AAC), fixture_set_up,
              test_clip_writer_audio, fixture_tear_down);
  g_test_add ("/pipelines/clip-writer/audio-pcma", Fixture, GINT_TO_POINTER (SOURCE_H264_PCMA), fixture_set_up,
              test_clip_writer_audio, fixture_tear_down);
  g_test_add ("/pipelines/clip-writer/audio-dropout-fails", Fixture, NULL, fixture_set_up,
              test_clip_writer_audio_dropout_fails, fixture_tear_down);
  g_test_add ("/pipelines/clip-writer/h265", Fixture, NULL, fixture_set_up,
              test_clip_writer_h265, fixture_tear_down);

  status = g_test_run ();
  for (guint k = 0; k < N_SOURCES; k++)
    for (guint i = 0; i < G_N_ELEMENTS (sources[k].paths); i++)
      g_free (sources[k].paths[i]);
  vigil_test_remove_tree (g_steal_pointer (&segment_dir));
  return status;
}
