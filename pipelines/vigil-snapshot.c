/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Snapshots: one keyframe to one JPEG, on the caller's (worker) thread.
 *
 * One frame only. A keyframe in hand goes into an appsrc followed at once
 * by EOS, which makes the decoder give out the picture at once, whatever
 * the stream's reordering delay (an EOS *before* the buffer leaves an
 * empty picture: the research for issue 15 measured that with identity
 * eos-after=1).
 *
 * From a file, finding the keyframe and decoding it are two pipelines.
 * The first is filesrc ! matroskademux with nothing linked: a probe on the
 * video pad keeps the newest keyframe at or before the offset (a
 * reference) and drops every buffer, and says on the bus when a frame
 * past the offset or the end shows the choice is final. The seek
 * (KEY_UNIT|SNAP_BEFORE) is handed to the demuxer before it starts (it
 * holds it until it has read the headers), so with a complete file the
 * first buffer is already that keyframe. A file still being written has
 * no index and no duration yet: matroskademux then starts at the
 * beginning or guesses, and when its guess lands past the offset a second
 * pass without a seek reads through (demuxing only) to the offset.
 * The keyframe then goes the way of a keyframe in hand.
 *
 * The calling thread waits on a pipeline's bus, up to the deadline, then
 * stops the pipeline. */
#include "vigil-snapshot.h"

#include <gst/app/app.h>

GST_DEBUG_CATEGORY_STATIC (vigil_snapshot_debug);
#define GST_CAT_DEFAULT vigil_snapshot_debug

/* The codecs a recording holds, and what decodes them. */
static const struct {
  const gchar *caps_name;
  const gchar *parser;
  const gchar *decoder;
  const gchar *package;   /* where the decoder comes from, for the error */
} codecs[] = {
  { "video/x-h264", "h264parse", "avdec_h264", "gstreamer1.0-libav" },
  { "video/x-h265", "h265parse", "avdec_h265", "gstreamer1.0-libav" },
};

static void
debug_init (void)
{
  static gsize once = 0;

  if (g_once_init_enter (&once))
    {
      GST_DEBUG_CATEGORY_INIT (vigil_snapshot_debug, "vigilsnapshot", 0, "vigil snapshots");
      g_once_init_leave (&once, 1);
    }
}

static void
resolve_options (const VigilSnapshotOptions *options, VigilSnapshotOptions *out)
{
  *out = options != NULL ? *options : (VigilSnapshotOptions) { 0 };
  if (out->quality == 0)
    out->quality = VIGIL_SNAPSHOT_DEFAULT_QUALITY;
  out->quality = MIN (out->quality, 100);
  if (out->max_size_bytes == 0)
    out->max_size_bytes = VIGIL_SNAPSHOT_DEFAULT_MAX_BYTES;
  if (out->timeout_ms == 0)
    out->timeout_ms = VIGIL_SNAPSHOT_DEFAULT_TIMEOUT_MS;
}

static gint
find_codec (const GstCaps *caps)
{
  const gchar *name;

  if (caps == NULL || gst_caps_get_size (caps) == 0)
    return -1;
  name = gst_structure_get_name (gst_caps_get_structure (caps, 0));
  for (guint i = 0; i < G_N_ELEMENTS (codecs); i++)
    if (g_str_equal (name, codecs[i].caps_name))
      return (gint) i;
  return -1;
}

/* Runs on the streaming thread, when the picture reaches the appsink, or
 * EOS without one. Said on the bus because appsink holds EOS (and so the
 * pipeline's EOS message) back until its picture was taken. */
static void
on_sink_eos (GstAppSink *sink, gpointer user_data)
{
  gst_element_post_message (GST_ELEMENT (sink),
                            gst_message_new_application (GST_OBJECT (sink),
                                                         gst_structure_new_empty ("vigil-snapshot-done")));
}

static GstFlowReturn
on_sink_new_sample (GstAppSink *sink, gpointer user_data)
{
  on_sink_eos (sink, user_data);
  return GST_FLOW_OK;
}

static GstElement *
make_element (GstBin *bin, const gchar *factory, const gchar *package, GError **error)
{
  GstElement *element = gst_element_factory_make (factory, NULL);

  if (element == NULL)
    {
      g_set_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_MISSING,
                   "GStreamer element %s is not installed (%s)", factory, package);
      return NULL;
    }
  gst_bin_add (bin, element);
  return element;
}

/* Adds parser → decoder → videoconvert → jpegenc → appsink for @codec to
 * @bin; returns the parser (borrowed) and the appsink in @out_sink. */
static GstElement *
add_decoding_tail (GstBin *bin, gint codec, guint quality, GstElement **out_sink, GError **error)
{
  GstElement *parser, *decoder, *convert, *encoder, *sink;

  if (!(parser = make_element (bin, codecs[codec].parser, "gstreamer1.0-plugins-bad", error))
      || !(decoder = make_element (bin, codecs[codec].decoder, codecs[codec].package, error))
      || !(convert = make_element (bin, "videoconvert", "gstreamer1.0-plugins-base", error))
      || !(encoder = make_element (bin, "jpegenc", "gstreamer1.0-plugins-good", error))
      || !(sink = make_element (bin, "appsink", "gstreamer1.0-plugins-base", error)))
    return NULL;
  /* One keyframe, decoding on its own: frame threads would only add memory. */
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (decoder), "max-threads") != NULL)
    g_object_set (decoder, "max-threads", 1, NULL);
  g_object_set (encoder, "quality", (gint) quality, NULL);
  /* Keeps the picture until it is taken; only one ever comes. */
  g_object_set (sink, "sync", FALSE, "async", FALSE, "enable-last-sample", FALSE, NULL);
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &(GstAppSinkCallbacks) { .eos = on_sink_eos, .new_sample = on_sink_new_sample }, NULL, NULL);
  if (!gst_element_link_many (parser, decoder, convert, encoder, sink, NULL))
    {
      g_set_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_FAILED, "cannot link %s to jpegenc",
                   codecs[codec].decoder);
      return NULL;
    }
  *out_sink = sink;
  return parser;
}

static GBytes *
bytes_from_buffer (GstBuffer *buffer, gsize max_size_bytes, GError **error)
{
  gsize size = gst_buffer_get_size (buffer);
  gpointer data;
  gsize extracted;

  if (size == 0)
    {
      g_set_error_literal (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_FAILED, "the encoder gave an empty JPEG");
      return NULL;
    }
  if (size > max_size_bytes)
    {
      g_set_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_TOO_LARGE,
                   "the JPEG is %" G_GSIZE_FORMAT " bytes, more than the bound of %" G_GSIZE_FORMAT, size,
                   max_size_bytes);
      return NULL;
    }
  gst_buffer_extract_dup (buffer, 0, size, &data, &extracted);
  return g_bytes_new_take (data, extracted);
}

/* Plays @pipeline until the picture or EOS, an error or @timeout_ms. On an error from
 * one of @readers (NULL-terminated; they read the input) the code is
 * UNREADABLE, from anything else FAILED. The pipeline is left as it is:
 * take the picture, then stop it. */
static gboolean
play_to_end (GstElement *pipeline, guint timeout_ms, GstElement *const *readers, GError **error)
{
  g_autoptr(GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr(GstMessage) message = NULL;
  g_autoptr(GError) gst_error = NULL;
  g_autofree gchar *debug = NULL;
  VigilPipelineError code = VIGIL_PIPELINE_ERROR_FAILED;

  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    message = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  else
    message = gst_bus_timed_pop_filtered (bus, (GstClockTime) timeout_ms * GST_MSECOND,
                                          GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_APPLICATION);
  if (message == NULL)
    {
      g_set_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_TIMED_OUT, "no picture within %u ms",
                   timeout_ms);
      return FALSE;
    }
  if (GST_MESSAGE_TYPE (message) != GST_MESSAGE_ERROR)
    return TRUE;
  gst_message_parse_error (message, &gst_error, &debug);
  GST_DEBUG ("snapshot failed: %s (%s)", gst_error->message, GST_STR_NULL (debug));
  for (guint i = 0; readers != NULL && readers[i] != NULL; i++)
    if (GST_MESSAGE_SRC (message) == GST_OBJECT (readers[i]))
      code = VIGIL_PIPELINE_ERROR_UNREADABLE;
  g_set_error (error, VIGIL_PIPELINE_ERROR, code, "%s: %s", GST_MESSAGE_SRC_NAME (message), gst_error->message);
  return FALSE;
}

/* The JPEG @sink holds, after EOS. */
static GBytes *
take_jpeg (GstElement *sink, gsize max_size_bytes, GError **error)
{
  g_autoptr(GstSample) sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 0);

  if (sample == NULL || gst_sample_get_buffer (sample) == NULL)
    {
      g_set_error_literal (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_FAILED,
                           "the decoder gave no picture for the keyframe");
      return NULL;
    }
  return bytes_from_buffer (gst_sample_get_buffer (sample), max_size_bytes, error);
}

GBytes *
vigil_snapshot_from_keyframe (GstCaps *caps, GstBuffer *keyframe, const VigilSnapshotOptions *options,
                              GError **error)
{
  g_autoptr(GstElement) pipeline = NULL;
  g_autoptr(GBytes) jpeg = NULL;
  GstElement *source, *parser, *sink = NULL;
  VigilSnapshotOptions o;
  GstBuffer *copy;
  gint codec;

  g_return_val_if_fail (GST_IS_CAPS (caps), NULL);
  g_return_val_if_fail (GST_IS_BUFFER (keyframe), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  debug_init ();
  resolve_options (options, &o);
  if (g_str_equal (gst_structure_get_name (gst_caps_get_structure (caps, 0)), "image/jpeg"))
    return bytes_from_buffer (keyframe, o.max_size_bytes, error);
  codec = find_codec (caps);
  if (codec < 0)
    {
      g_set_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_MISSING, "no decoder for %s",
                   gst_structure_get_name (gst_caps_get_structure (caps, 0)));
      return NULL;
    }
  pipeline = gst_object_ref_sink (gst_pipeline_new ("vigil-snapshot"));
  if (!(source = make_element (GST_BIN (pipeline), "appsrc", "gstreamer1.0-plugins-base", error))
      || !(parser = add_decoding_tail (GST_BIN (pipeline), codec, o.quality, &sink, error)))
    return NULL;
  g_object_set (source, "caps", caps, "format", GST_FORMAT_TIME, "max-buffers", (guint64) 0, NULL);
  if (!gst_element_link (source, parser))
    {
      g_set_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_FAILED, "%s refused the caps %s",
                   codecs[codec].parser, gst_structure_get_name (gst_caps_get_structure (caps, 0)));
      return NULL;
    }
  /* Its own timestamps, sharing the data: the recorder's running time
   * means nothing here. */
  copy = gst_buffer_copy (keyframe);
  GST_BUFFER_PTS (copy) = GST_BUFFER_DTS (copy) = 0;
  GST_BUFFER_DURATION (copy) = GST_CLOCK_TIME_NONE;
  gst_app_src_push_buffer (GST_APP_SRC (source), copy);   /* takes it */
  gst_app_src_end_of_stream (GST_APP_SRC (source));
  if (play_to_end (pipeline, o.timeout_ms, NULL, error))
    jpeg = take_jpeg (sink, o.max_size_bytes, error);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  return g_steal_pointer (&jpeg);
}

/* ---- from a file ----------------------------------------------------- */

typedef enum {
  SEARCHING,
  FOUND,
  PAST_END,
  NO_VIDEO,
  LANDED_AFTER,       /* the seek landed past the offset (no index: it guesses) */
} Search;

typedef struct {
  GstClockTime  offset;
  gboolean      seeked;        /* the demuxer was asked to seek to the offset */
  GMutex        lock;
  /* Protected by lock; set on the demuxer's streaming thread. */
  Search        search;
  gboolean      has_video;
  GstBuffer    *keyframe;      /* the newest at or before the offset, or the first */
  GstCaps      *caps;
  GstClockTime  end;           /* of the frame shown last, of those seen */
} FileSearch;

/* Called with search->lock held: the choice is final. */
static void
post_search_done (GstElement *element, FileSearch *search, Search result)
{
  search->search = result;
  gst_element_post_message (element, gst_message_new_application (GST_OBJECT (element),
                                                                  gst_structure_new_empty ("vigil-snapshot-done")));
}

/* Runs on the demuxer's streaming thread, for every buffer and event of
 * its video pad; nothing goes further. */
static GstPadProbeReturn
on_demux_video (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  FileSearch *search = user_data;
  g_autoptr(GstElement) demux = gst_pad_get_parent_element (pad);
  GstBuffer *buffer;
  GstClockTime pts, decode_time;

  g_mutex_lock (&search->lock);
  if (search->search != SEARCHING)
    ;
  else if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM)
    {
      if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) == GST_EVENT_EOS)
        /* The file ends: its last keyframe holds the offset only if the
         * frames reach it (a file being written may not yet). */
        post_search_done (demux, search,
                          search->keyframe != NULL && GST_CLOCK_TIME_IS_VALID (search->end)
                          && search->end > search->offset ? FOUND : PAST_END);
      g_mutex_unlock (&search->lock);
      return GST_PAD_PROBE_OK;
    }
  else
    {
      buffer = GST_PAD_PROBE_INFO_BUFFER (info);
      pts = GST_BUFFER_PTS_IS_VALID (buffer) ? GST_BUFFER_PTS (buffer) : GST_BUFFER_DTS (buffer);
      decode_time = GST_BUFFER_DTS_IS_VALID (buffer) ? GST_BUFFER_DTS (buffer) : pts;
      if (GST_CLOCK_TIME_IS_VALID (pts) && !GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT)
          && pts > search->offset && search->keyframe == NULL && search->seeked)
        {
          post_search_done (demux, search, LANDED_AFTER);
          g_mutex_unlock (&search->lock);
          return GST_PAD_PROBE_DROP;
        }
      /* From the start, a file's first keyframe stands for any moment
       * before it. */
      if (GST_CLOCK_TIME_IS_VALID (pts) && !GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT)
          && (pts <= search->offset || search->keyframe == NULL))
        {
          gst_buffer_replace (&search->keyframe, buffer);
          gst_caps_take (&search->caps, gst_pad_get_current_caps (pad));
        }
      /* Shown last, not decoded last: B-frames come out of order. */
      if (GST_CLOCK_TIME_IS_VALID (pts))
        {
          GstClockTime end = pts + (GST_BUFFER_DURATION_IS_VALID (buffer) ? GST_BUFFER_DURATION (buffer) : 0);

          search->end = GST_CLOCK_TIME_IS_VALID (search->end) ? MAX (search->end, end) : end;
        }
      /* Frames come in decode order: once one is decoded after the
       * offset, no keyframe shown before it can follow. */
      if (search->keyframe != NULL && GST_CLOCK_TIME_IS_VALID (decode_time) && decode_time > search->offset)
        post_search_done (demux, search, FOUND);
    }
  g_mutex_unlock (&search->lock);
  return GST_PAD_PROBE_DROP;
}

static GstPadProbeReturn
on_demux_other_buffer (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  return GST_PAD_PROBE_DROP;
}

/* Runs on the demuxer's streaming thread. */
static void
on_demux_pad_added (GstElement *demux, GstPad *pad, FileSearch *search)
{
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps (pad);
  gboolean video;

  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);
  g_mutex_lock (&search->lock);
  video = find_codec (caps) >= 0 && !search->has_video;
  search->has_video |= video;
  g_mutex_unlock (&search->lock);
  if (video)
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_demux_video, search,
                       NULL);
  else
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST, on_demux_other_buffer, NULL,
                       NULL);
}

/* Runs on the demuxer's streaming thread. */
static void
on_demux_no_more_pads (GstElement *demux, FileSearch *search)
{
  g_mutex_lock (&search->lock);
  if (!search->has_video && search->search == SEARCHING)
    post_search_done (demux, search, NO_VIDEO);
  g_mutex_unlock (&search->lock);
}

/* One pass of the demuxer over @path, with a seek to the offset first
 * when @search->seeked; FALSE with @error when it could not be read. */
static gboolean
search_file (const gchar *path, FileSearch *search, guint timeout_ms, GError **error)
{
  g_autoptr(GstElement) pipeline = gst_object_ref_sink (gst_pipeline_new ("vigil-snapshot-search"));
  g_autoptr(GError) play_error = NULL;
  GstElement *source, *demux;
  gboolean played;

  if (!(source = make_element (GST_BIN (pipeline), "filesrc", "gstreamer1.0-plugins-base", error))
      || !(demux = make_element (GST_BIN (pipeline), "matroskademux", "gstreamer1.0-plugins-good", error)))
    return FALSE;
  g_object_set (source, "location", path, NULL);
  if (!gst_element_link (source, demux))
    {
      g_set_error_literal (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_FAILED, "cannot link matroskademux");
      return FALSE;
    }
  g_signal_connect (demux, "pad-added", G_CALLBACK (on_demux_pad_added), search);
  g_signal_connect (demux, "no-more-pads", G_CALLBACK (on_demux_no_more_pads), search);

  /* Handed over before the demuxer reads anything: it keeps the seek
   * until it has the headers, so no frame before the offset is pushed. */
  if (search->seeked && gst_element_set_state (pipeline, GST_STATE_READY) != GST_STATE_CHANGE_FAILURE)
    gst_element_send_event (demux, gst_event_new_seek (1.0, GST_FORMAT_TIME,
                                                       GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_KEY_UNIT
                                                       | GST_SEEK_FLAG_SNAP_BEFORE,
                                                       GST_SEEK_TYPE_SET, (gint64) search->offset,
                                                       GST_SEEK_TYPE_NONE, -1));
  played = play_to_end (pipeline, timeout_ms, (GstElement *[]) { source, demux, NULL }, &play_error);
  gst_element_set_state (pipeline, GST_STATE_NULL);   /* no streaming thread after this */
  if (!played)
    g_propagate_prefixed_error (error, g_steal_pointer (&play_error), "%s: ", path);
  return played;
}

static guint
remaining_ms (gint64 deadline_us)
{
  return (guint) MAX (1, (deadline_us - g_get_monotonic_time ()) / G_TIME_SPAN_MILLISECOND);
}

GBytes *
vigil_snapshot_from_file (const gchar *path, GstClockTime offset, const VigilSnapshotOptions *options,
                          GstClockTime *out_pts, GError **error)
{
  g_autoptr(GBytes) jpeg = NULL;
  VigilSnapshotOptions o;
  FileSearch search = { 0 };
  gint64 deadline_us;
  gboolean searched;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (GST_CLOCK_TIME_IS_VALID (offset), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  debug_init ();
  resolve_options (options, &o);
  deadline_us = g_get_monotonic_time () + (gint64) o.timeout_ms * G_TIME_SPAN_MILLISECOND;
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_UNREADABLE, "%s is not a readable file", path);
      return NULL;
    }
  g_mutex_init (&search.lock);
  search.offset = offset;
  search.seeked = TRUE;
  search.end = GST_CLOCK_TIME_NONE;
  searched = search_file (path, &search, o.timeout_ms, error);
  if (searched && search.search == LANDED_AFTER)
    {
      /* A file being written: read it from the start instead. */
      search.seeked = FALSE;
      search.search = SEARCHING;
      search.has_video = FALSE;
      search.end = GST_CLOCK_TIME_NONE;
      searched = search_file (path, &search, remaining_ms (deadline_us), error);
    }

  if (!searched)
    ;
  else if (search.search == NO_VIDEO)
    g_set_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_UNREADABLE, "%s holds no H.264 or H.265 video",
                 path);
  else if (search.search != FOUND)
    g_set_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_OUT_OF_RANGE,
                 "%" GST_TIME_FORMAT " is past the end of %s", GST_TIME_ARGS (offset), path);
  else
    {
      o.timeout_ms = remaining_ms (deadline_us);
      jpeg = vigil_snapshot_from_keyframe (search.caps, search.keyframe, &o, error);
      if (jpeg != NULL && out_pts != NULL)
        *out_pts = GST_BUFFER_PTS_IS_VALID (search.keyframe) ? GST_BUFFER_PTS (search.keyframe)
                                                            : GST_BUFFER_DTS (search.keyframe);
    }
  gst_clear_buffer (&search.keyframe);
  gst_clear_caps (&search.caps);
  g_mutex_clear (&search.lock);
  return g_steal_pointer (&jpeg);
}
