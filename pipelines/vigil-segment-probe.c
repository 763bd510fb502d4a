/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilSegmentProbe: filesrc ! parsebin ! fakesink per stream, counting
 * video frames on the way. parsebin rather than a fixed demuxer so that
 * files of any container vigil ever wrote (or an operator copied in)
 * are read the same way. */
#include "vigil-segment-probe.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- The cheap check: Matroska element headers ------------------------- */

#define EBML_ID_HEADER        0x1A45DFA3
#define EBML_ID_DOCTYPE       0x4282
#define MKV_ID_SEGMENT        0x18538067
#define MKV_ID_CLUSTER        0x1F43B675
#define MKV_ID_SIMPLE_BLOCK   0xA3
#define MKV_ID_BLOCK_GROUP    0xA0
#define EBML_ID_VOID          0xEC
#define EBML_UNKNOWN_SIZE     G_MAXUINT64
/* Elements looked at before giving up: matroskamux puts the first cluster
 * after five or six (SeekHead, Void, Info, Tracks, Tags); a cluster's first
 * block follows its Timecode. */
#define MAX_ELEMENTS          64

typedef struct {
  int     fd;
  guint64 file_size;
  guint8  head[4096];   /* the file's first bytes: where matroskamux puts everything up to the first block */
  gsize   head_length;
} QuickFile;

/* Reads up to @length bytes at @offset, from the head when it holds them
 * (one read per file in the usual case), else from the file. */
static gssize
quick_read (const QuickFile *file, guint8 *buffer, gsize length, guint64 offset)
{
  if (offset + length <= file->head_length)
    {
      memcpy (buffer, file->head + offset, length);
      return length;
    }
  if (offset < file->head_length && file->head_length == file->file_size)
    {
      /* The whole file is in the head: what is left of it. */
      memcpy (buffer, file->head + offset, file->head_length - offset);
      return file->head_length - offset;
    }
  return pread (file->fd, buffer, length, (off_t) offset);
}

typedef struct {
  guint32 id;
  guint64 size;          /* EBML_UNKNOWN_SIZE: runs to the end of its parent */
  guint64 data_offset;   /* where its body starts */
} Element;

/* An EBML variable-length number at @p (at most @available bytes): an ID
 * keeps its length marker, a size drops it (all ones: unknown). Returns
 * its length in bytes, 0 when malformed or cut off. */
static guint
read_vint (const guint8 *p, gsize available, gboolean is_id, guint64 *out_value)
{
  guint length = 1;
  guint64 value;

  if (available == 0 || p[0] == 0)
    return 0;
  while (!(p[0] & (0x80 >> (length - 1))))
    length++;
  if (length > (is_id ? 4u : 8u) || length > available)
    return 0;
  value = is_id ? p[0] : (p[0] & (0xFF >> length));
  for (guint i = 1; i < length; i++)
    value = (value << 8) | p[i];
  if (!is_id && value == (G_GUINT64_CONSTANT (1) << (7 * length)) - 1)
    value = EBML_UNKNOWN_SIZE;
  *out_value = value;
  return length;
}

static gboolean
read_element (const QuickFile *file, guint64 offset, Element *out)
{
  guint8 header[12];
  ssize_t got;
  guint64 id;
  guint id_length, size_length;

  if (offset >= file->file_size)
    return FALSE;
  got = quick_read (file, header, sizeof header, offset);
  if (got <= 0)
    return FALSE;
  if ((id_length = read_vint (header, got, TRUE, &id)) == 0
      || (size_length = read_vint (header + id_length, got - id_length, FALSE, &out->size)) == 0)
    return FALSE;
  out->id = (guint32) id;
  out->data_offset = offset + id_length + size_length;
  return out->data_offset <= file->file_size;
}

/* Whether the EBML header's DocType is Matroska's (or WebM's, its subset). */
static gboolean
is_matroska_doctype (const QuickFile *file, const Element *header)
{
  guint8 body[256];
  gsize length;
  ssize_t got;

  if (header->size == EBML_UNKNOWN_SIZE || header->size > sizeof body)
    return FALSE;
  length = (gsize) header->size;
  got = quick_read (file, body, length, header->data_offset);
  if (got < 0 || (gsize) got != length)
    return FALSE;
  for (gsize at = 0; at < length;)
    {
      guint64 id, size;
      guint id_length = read_vint (body + at, length - at, TRUE, &id);
      guint size_length = id_length ? read_vint (body + at + id_length, length - at - id_length, FALSE, &size) : 0;

      if (size_length == 0 || size == EBML_UNKNOWN_SIZE || size > length - at - id_length - size_length)
        return FALSE;
      at += id_length + size_length;
      if (id == EBML_ID_DOCTYPE)
        {
          /* An EBML string may be padded with NULs (matroskamux writes one). */
          const gchar *doctype = (const gchar *) body + at;
          gsize doctype_length = strnlen (doctype, (gsize) size);

          return (doctype_length == 8 && memcmp (doctype, "matroska", 8) == 0)
                 || (doctype_length == 4 && memcmp (doctype, "webm", 4) == 0);
        }
      at += size;
    }
  return FALSE;
}

/* Looks among the children of the element whose body runs from @from to
 * @end for one with an ID in @ids (a 0-terminated list). */
static gboolean
find_child (const QuickFile *file, guint64 from, guint64 end, const guint32 *ids, Element *out)
{
  guint64 offset = from;

  for (guint n = 0; n < MAX_ELEMENTS && offset < end; n++)
    {
      if (!read_element (file, offset, out))
        return FALSE;
      for (const guint32 *id = ids; *id != 0; id++)
        if (out->id == *id)
          return TRUE;
      /* Only a cluster may have an unknown size among a segment's children,
       * and nothing after one can be found without reading it. */
      if (out->size == EBML_UNKNOWN_SIZE)
        return FALSE;
      offset = out->data_offset + out->size;
    }
  return FALSE;
}

gboolean
vigil_segment_probe_quick (const gchar *path, GError **error)
{
  static const guint32 segment_ids[] = { MKV_ID_SEGMENT, 0 };
  static const guint32 cluster_ids[] = { MKV_ID_CLUSTER, 0 };
  static const guint32 block_ids[] = { MKV_ID_SIMPLE_BLOCK, MKV_ID_BLOCK_GROUP, 0 };
  g_autofree QuickFile *file_data = g_new0 (QuickFile, 1);
  QuickFile *file = file_data;
  gssize got;
  Element header, segment, cluster, block;
  struct stat st;
  const gchar *missing = NULL;
  guint64 segment_end, cluster_end;

  file->fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0);
  if (file->fd < 0 || fstat (file->fd, &st) != 0
      || (got = pread (file->fd, file->head, sizeof file->head, 0)) < 0)
    {
      int saved = errno;

      if (file->fd >= 0)
        close (file->fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot read %s: %s", path, g_strerror (saved));
      return FALSE;
    }
  file->file_size = st.st_size;
  file->head_length = got;
  if (!read_element (file, 0, &header) || header.id != EBML_ID_HEADER || !is_matroska_doctype (file, &header))
    missing = "no Matroska header";
  else if (!find_child (file, header.data_offset + header.size, file->file_size, segment_ids, &segment))
    missing = "no Matroska segment";
  else
    {
      segment_end = segment.size == EBML_UNKNOWN_SIZE ? file->file_size
                                                        : MIN (file->file_size, segment.data_offset + segment.size);
      if (!find_child (file, segment.data_offset, segment_end, cluster_ids, &cluster))
        missing = "no cluster: not one frame was written";
      else
        {
          cluster_end = cluster.size == EBML_UNKNOWN_SIZE ? segment_end
                                                            : MIN (segment_end, cluster.data_offset + cluster.size);
          if (!find_child (file, cluster.data_offset, cluster_end, block_ids, &block))
            missing = "a cluster without a frame";
        }
    }
  close (file->fd);
  if (missing != NULL)
    {
      g_set_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_UNREADABLE, "%s: %s", path, missing);
      return FALSE;
    }
  return TRUE;
}
