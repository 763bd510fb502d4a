/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilSegmentProbe: filesrc ! parsebin ! fakesink per stream, counting
 * video frames on the way. parsebin rather than a fixed demuxer so that
 * files of any container vigil ever wrote (or an operator copied in)
 * are read the same way. */
#include "vigil-segment-probe.h"

#include <string.h>

#include "vigil-recorder.h"

GST_DEBUG_CATEGORY_STATIC (vigil_probe_debug);
#define GST_CAT_DEFAULT vigil_probe_debug

/* A 60 s segment demuxes in well under a second; this only bounds a
 * pathological file. */
#define PROBE_TIMEOUT (60 * GST_SECOND)

typedef struct {
  GstElement    *pipeline;
  gboolean       have_video;
  GstClockTime   first_pts, end_pts;
  guint64        frames, keyframes;
  gchar         *video_codec, *audio_codec;
} ProbeState;

static const gchar *
codec_from_caps (const GstStructure *s)
{
  const gchar *name = gst_structure_get_name (s);

  if (g_str_equal (name, "video/x-h264"))
    return "h264";
  if (g_str_equal (name, "video/x-h265"))
    return "h265";
  if (g_str_equal (name, "audio/mpeg"))
    return "aac";
  if (g_str_equal (name, "audio/x-alaw"))
    return "pcma";
  if (g_str_equal (name, "audio/x-mulaw"))
    return "pcmu";
  return NULL;
}

/* Runs on the probe pipeline's streaming thread. */
static GstPadProbeReturn
on_video_buffer (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  ProbeState *state = user_data;
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  GstClockTime pts = GST_BUFFER_PTS_IS_VALID (buffer) ? GST_BUFFER_PTS (buffer) : GST_BUFFER_DTS (buffer);

  state->frames++;
  if (!GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT))
    state->keyframes++;
  if (GST_CLOCK_TIME_IS_VALID (pts))
    {
      GstClockTime end = pts + (GST_BUFFER_DURATION_IS_VALID (buffer) ? GST_BUFFER_DURATION (buffer) : 0);

      if (!GST_CLOCK_TIME_IS_VALID (state->first_pts) || pts < state->first_pts)
        state->first_pts = pts;
      if (!GST_CLOCK_TIME_IS_VALID (state->end_pts) || end > state->end_pts)
        state->end_pts = end;
    }
  return GST_PAD_PROBE_OK;
}

/* Runs on a streaming thread. */
static void
on_parsebin_pad_added (GstElement *parsebin, GstPad *pad, gpointer user_data)
{
  ProbeState *state = user_data;
  g_autoptr(GstCaps) caps = gst_pad_query_caps (pad, NULL);
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  const gchar *codec = codec_from_caps (s);
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  g_autoptr(GstPad) sink_pad = gst_element_get_static_pad (sink, "sink");

  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
  gst_bin_add (GST_BIN (state->pipeline), sink);
  gst_element_sync_state_with_parent (sink);
  gst_pad_link (pad, sink_pad);

  GST_OBJECT_LOCK (state->pipeline);
  if (g_str_has_prefix (gst_structure_get_name (s), "video/") && !state->have_video)
    {
      state->have_video = TRUE;
      state->video_codec = g_strdup (codec != NULL ? codec : gst_structure_get_name (s));
      gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_video_buffer, state, NULL);
    }
  else if (g_str_has_prefix (gst_structure_get_name (s), "audio/") && state->audio_codec == NULL)
    state->audio_codec = g_strdup (codec != NULL ? codec : gst_structure_get_name (s));
  GST_OBJECT_UNLOCK (state->pipeline);
}

void
vigil_segment_probe_clear (VigilSegmentProbe *probe)
{
  g_clear_pointer (&probe->codec, g_free);
}

gboolean
vigil_segment_probe_file (const gchar *path, VigilSegmentProbe *out, GError **error)
{
  ProbeState state = { .first_pts = GST_CLOCK_TIME_NONE, .end_pts = GST_CLOCK_TIME_NONE };
  g_autoptr(GstElement) pipeline = gst_pipeline_new ("vigil-probe");
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GstMessage) message = NULL;
  g_autoptr(GError) stream_error = NULL;
  g_autofree gchar *video_codec = NULL;
  g_autofree gchar *audio_codec = NULL;
  GstElement *src, *parsebin;

  static gsize debug_initialised = 0;
  if (g_once_init_enter (&debug_initialised))
    {
      GST_DEBUG_CATEGORY_INIT (vigil_probe_debug, "vigil-probe", 0, "vigil segment probe");
      g_once_init_leave (&debug_initialised, 1);
    }

  g_return_val_if_fail (path != NULL && out != NULL, FALSE);
  memset (out, 0, sizeof *out);

  src = gst_element_factory_make ("filesrc", NULL);
  parsebin = gst_element_factory_make ("parsebin", NULL);
  if (src == NULL || parsebin == NULL)
    {
      g_clear_object (&src);
      g_clear_object (&parsebin);
      g_set_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_MISSING,
                   "GStreamer elements filesrc and parsebin are needed to probe segments");
      return FALSE;
    }
  g_object_set (src, "location", path, NULL);
  gst_bin_add_many (GST_BIN (pipeline), src, parsebin, NULL);
  gst_element_link (src, parsebin);
  state.pipeline = pipeline;
  g_signal_connect (parsebin, "pad-added", G_CALLBACK (on_parsebin_pad_added), &state);

  bus = gst_element_get_bus (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  message = gst_bus_timed_pop_filtered (bus, PROBE_TIMEOUT, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  if (message != NULL && GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR)
    gst_message_parse_error (message, &stream_error, NULL);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  video_codec = g_steal_pointer (&state.video_codec);
  audio_codec = g_steal_pointer (&state.audio_codec);

  if (state.frames == 0)
    {
      g_set_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_UNREADABLE,
                   "%s holds no readable video%s%s", path, stream_error ? ": " : "",
                   stream_error ? stream_error->message : "");
      return FALSE;
    }

  out->first_pts = state.first_pts;
  out->media_duration_ns = GST_CLOCK_TIME_IS_VALID (state.end_pts)
                             ? GST_CLOCK_DIFF (state.first_pts, state.end_pts) : 0;
  out->frames = state.frames;
  out->keyframes = state.keyframes;
  out->codec = audio_codec != NULL ? g_strdup_printf ("%s+%s", video_codec, audio_codec)
                                   : g_steal_pointer (&video_codec);
  /* A demuxer error after some frames (or no EOS at all) means the file
   * was cut mid-write: what came before is still good video. */
  out->truncated = message == NULL || stream_error != NULL;
  GST_INFO ("%s: %" G_GUINT64_FORMAT " frames, %" G_GINT64_FORMAT " ms%s", path, out->frames,
            out->media_duration_ns / GST_MSECOND, out->truncated ? ", truncated" : "");
  return TRUE;
}
