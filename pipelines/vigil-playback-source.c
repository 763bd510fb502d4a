/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilPlaybackSource: one src pad and one streaming task; each segment
 * file is read by a small private pipeline of its own (a "reader"):
 *
 *   closed file:   filesrc ! matroskademux ! appsink   (pull mode: seeks use the cues)
 *   growing file:  appsrc  ! matroskademux ! appsink   (push mode: the task feeds it
 *                                                      the file's bytes as they appear)
 *
 * and the task pulls its frames, restamps them and pushes them out.
 * Private pipelines rather than children of a bin: readers come and go
 * at every file, and adding or removing children inside an RTSP media's
 * pipeline posts state and async messages that the media takes for its
 * own (gst-rtsp-server waits on them to preroll). Readers are torn down
 * by the task itself, which owns them, so no state change ever runs on a
 * streaming thread of the same pipeline.
 *
 * Time. A file's frame at PTS p (matroskamux offset-to-zero: 0 is the
 * file's first frame) was captured at wall(p) = start_us + p. Output time
 * is wall + out_minus_wall, one offset kept while the recording goes on
 * (so file boundaries add nothing); a step in the wall clock of more than
 * GAP_MIN_NS between the end of one frame and the next (a gap between
 * recordings, or an overlap) rebases the offset so the next frame
 * follows at once, marked DISCONT, with a GstOnvifTimestamp event (discont)
 * carrying the new offset to rtponviftimestamp: ntp = stream time +
 * ntp-offset, and stream time is the output time (segment.time ==
 * segment.start).
 *
 * Starting at an instant. The reader of the file holding the target
 * seeks KEY_UNIT|SNAP_BEFORE (or, for a growing file, reads from the top),
 * and frames before the target are held from their last keyframe (the
 * "lead-in"). They are pushed first, with their own wall clock in the
 * ONVIF timestamps but packed LEAD_IN_STEP_NS apart in output time, so a
 * player decodes them in one burst and the first frame it shows for any
 * time is the one at or just after the target: within a frame of it.
 *
 * Following a growing file. matroskamux writes clusters of unknown size
 * until the file is finished, which the push-mode demuxer reads as a live
 * stream; at the end of the bytes written so far the task waits
 * TAIL_POLL_US, reads on, and asks the lister whether the segment is
 * still being written. Once it is not, the rest of the file is read and
 * the reader ends like any other.
 *
 * Threads. The seek handler (the RTSP server's thread) and state changes
 * stop the task before touching the run state, which is otherwise the
 * task's alone. The lister is called from the task, and from prepare()
 * and the seek handler. Per frame nothing is allocated: buffers are the
 * demuxer's, restamped in place. */
#include "vigil-playback-source.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <string.h>
#include <unistd.h>

GST_DEBUG_CATEGORY_STATIC (vigil_playback_debug);
#define GST_CAT_DEFAULT vigil_playback_debug

G_DEFINE_QUARK (vigil-playback-error-quark, vigil_playback_error)

#define NTP_EPOCH_OFFSET_NS ((GstClockTime) VIGIL_PLAYBACK_NTP_EPOCH_OFFSET_S * GST_SECOND)
/* Wall clocks beyond this (year 2255) would overflow ns in a gint64. */
#define MAX_WALL_US G_GINT64_CONSTANT (9000000000000000)
/* Segments asked of the lister at a time. */
#define LIST_BATCH 32
/* Bound on the batches walked to turn an npt position into a wall clock:
 * 512 × 32 one-minute segments is about 11 days of recording. */
#define MAX_NPT_BATCHES 512
/* A step of the wall clock bigger than this between two frames is a gap
 * (or overlap) between recordings; smaller ones are played as recorded. */
#define GAP_MIN_NS (1 * GST_SECOND)
/* Output spacing of lead-in frames (see above): 9 ticks of RTP's 90 kHz
 * clock, so each keeps a timestamp of its own. */
#define LEAD_IN_STEP_NS (100 * GST_USECOND)
/* Lead-in frames held at most (a GOP of 24 s at 25 fps); a longer GOP
 * starts at its next keyframe instead. */
#define MAX_HELD 600
/* How often a growing file is read again at its end, and its segment
 * asked about. */
#define TAIL_POLL_US (100 * G_TIME_SPAN_MILLISECOND)
/* After a growing segment closes, how long to wait for the next one
 * (the recorder opens it within milliseconds) before ending. */
#define FOLLOW_NEXT_US (5 * G_TIME_SPAN_SECOND)
/* File bytes fed to a push-mode demuxer at a time, and queued at most. */
#define FEED_CHUNK_BYTES (64 * 1024)
#define FEED_LEVEL_BYTES (1024 * 1024)
/* Opening (and seeking) a file takes milliseconds; this bounds a hung one. */
#define OPEN_TIMEOUT (5 * GST_SECOND)
/* How long the task waits for a frame before looking at flushing, the
 * reader's bus and a growing file again. */
#define PULL_TIMEOUT (50 * GST_MSECOND)
/* Used for a frame without a duration until two frames give one. */
#define DEFAULT_FRAME_NS (40 * GST_MSECOND)

VigilPlaybackSegment *
vigil_playback_segment_new (const gchar *path, gint64 start_us, gint64 end_us, gboolean writing)
{
  VigilPlaybackSegment *segment = g_new0 (VigilPlaybackSegment, 1);

  segment->path = g_strdup (path);
  segment->start_us = start_us;
  segment->end_us = end_us;
  segment->writing = writing;
  return segment;
}

void
vigil_playback_segment_free (VigilPlaybackSegment *segment)
{
  if (segment == NULL)
    return;
  g_free (segment->path);
  g_free (segment);
}

typedef struct {
  VigilPlaybackSegment *segment;   /* a copy; writing is updated while it is followed */
  GstElement           *pipeline;
  GstElement           *sink;      /* appsink of the video frames */
  GstElement           *feed;      /* appsrc of file bytes for a growing file; NULL with filesrc */
  GstBus               *bus;
  int                   fd;        /* the growing file, read by the task; -1 */
  gboolean              at_eof;    /* read() gave 0: wait until next_poll_us */
  gboolean              fed_eos;
  gint64                next_poll_us;   /* monotonic */
} Reader;

struct _VigilPlaybackSource {
  GstElement           parent;
  GstPad              *srcpad;

  /* Immutable after construction. */
  gchar               *camera;
  gint64               start_us, end_us;   /* the session's range; end G_MAXINT64 when open */
  VigilPlaybackLister  lister;
  gpointer             lister_data;
  GDestroyNotify       lister_notify;

  gint                 flushing;           /* atomic: makes the task's waits return */
  GMutex               wait_lock;
  GCond                wait_cond;

  /* Run state: the task's (or, with the task stopped, the seek handler's
   * and prepare()'s). */
  gboolean             run_ready;          /* set up by reset_run() */
  Reader              *reader;
  GPtrArray           *segments;           /* VigilPlaybackSegment: the current batch */
  guint                next_segment;       /* index into segments */
  gint64               list_from_us;       /* next batch overlaps [list_from_us, end) */
  gint64               last_started_us;    /* start of the last segment opened */
  gboolean             followed_writing;   /* the last segment read was growing */
  gint64               follow_until_us;    /* monotonic; 0 when not waiting for a segment */
  gint64               target_ns;          /* wall clock (ns since 1970) of the first frame to show */
  gint64               run_end_ns;         /* wall clock where output ends; G_MAXINT64 when open */
  GstClockTime         npt_start;          /* output time of the target */
  guint32              seqnum;             /* of the seek that started the run; 0 */
  gboolean             stream_started;
  gboolean             need_segment;
  gboolean             lead_in;            /* holding frames until the target */
  GPtrArray           *held;               /* GstBuffer: lead-in from its keyframe */
  GstCaps             *caps;               /* last caps pushed */
  gboolean             have_mapping;       /* out_minus_wall is set */
  gint64               out_minus_wall;     /* output time − wall clock, ns */
  gint64               last_wall_end_ns;   /* wall clock at the end of the last frame out */
  GstClockTime         last_out_pts, last_out_end;
  GstClockTime         last_frame_ns;      /* PTS step between the last two frames */
  GstClockTime         last_file_pts;
};

G_DEFINE_TYPE (VigilPlaybackSource, vigil_playback_source, GST_TYPE_ELEMENT)

static GstStaticPadTemplate src_template =
  GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
                           GST_STATIC_CAPS ("video/x-h264, stream-format=(string)avc, alignment=(string)au; "
                                            "video/x-h265, stream-format=(string){ hvc1, hev1 }, alignment=(string)au"));

/* ---------------------------------------------------------------- lister */

static GPtrArray *
source_list (VigilPlaybackSource *self, gint64 from_us, gint64 to_us, guint max, GError **error)
{
  g_autoptr(GPtrArray) segments = NULL;

  segments = self->lister (self->camera, from_us, to_us, max, self->lister_data, error);
  if (segments == NULL)
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_FAILED, "the catalogue lister failed");
      return NULL;
    }
  /* Bounded even if the lister ignores max. */
  if (segments->len > max)
    g_ptr_array_set_size (segments, max);
  return g_steal_pointer (&segments);
}

/* Whether @segment is still being written, by the lister. A segment that
 * is gone (retention) counts as finished. */
static gboolean
source_is_writing (VigilPlaybackSource *self, const VigilPlaybackSegment *segment)
{
  g_autoptr(GPtrArray) now = NULL;
  g_autoptr(GError) error = NULL;

  now = source_list (self, segment->start_us, segment->start_us + 1, 4, &error);
  if (now == NULL)
    {
      GST_WARNING_OBJECT (self, "camera %s: %s; still following %s", self->camera, error->message, segment->path);
      return TRUE;
    }
  for (guint i = 0; i < now->len; i++)
    {
      const VigilPlaybackSegment *s = now->pdata[i];

      if (g_strcmp0 (s->path, segment->path) == 0)
        return s->writing;
    }
  return FALSE;
}

/* ---------------------------------------------------------------- readers */

static void
reader_free (Reader *r)
{
  if (r == NULL)
    return;
  if (r->pipeline != NULL)
    gst_element_set_state (r->pipeline, GST_STATE_NULL);
  g_clear_object (&r->bus);
  g_clear_object (&r->sink);
  g_clear_object (&r->feed);
  g_clear_object (&r->pipeline);
  if (r->fd >= 0)
    close (r->fd);
  vigil_playback_segment_free (r->segment);
  g_free (r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Reader, reader_free)

/* Runs on the reader's streaming thread: links the first video pad. */
static void
on_demux_pad_added (GstElement *demux, GstPad *pad, gpointer user_data)
{
  GstElement *sink = user_data;
  g_autoptr(GstPad) sinkpad = gst_element_get_static_pad (sink, "sink");
  g_autofree gchar *name = gst_pad_get_name (pad);

  if (!g_str_has_prefix (name, "video") || gst_pad_is_linked (sinkpad))
    return;
  if (gst_pad_link (pad, sinkpad) != GST_PAD_LINK_OK)
    GST_WARNING_OBJECT (demux, "cannot link %s: not H.264 or H.265 as recorded", name);
}

static gboolean
reader_check_bus (Reader *r, GError **error)
{
  g_autoptr(GstMessage) msg = gst_bus_pop_filtered (r->bus, GST_MESSAGE_ERROR);
  g_autoptr(GError) gst_error = NULL;

  if (msg == NULL)
    return TRUE;
  gst_message_parse_error (msg, &gst_error, NULL);
  g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_FAILED, "%s: %s", r->segment->path,
               gst_error->message);
  return FALSE;
}

/* Feeds a growing file's new bytes to its demuxer, and ends the stream
 * once the lister says the segment is complete. Runs on the task. */
static gboolean
reader_feed (VigilPlaybackSource *self, Reader *r, GError **error)
{
  GstAppSrc *feed = GST_APP_SRC (r->feed);

  if (r->fed_eos)
    return TRUE;
  if (r->at_eof)
    {
      if (g_get_monotonic_time () < r->next_poll_us)
        return TRUE;
      /* Asked before reading on, so that nothing written before the
       * segment closed can be missed. */
      if (r->segment->writing)
        r->segment->writing = source_is_writing (self, r->segment);
      r->at_eof = FALSE;
    }
  while (gst_app_src_get_current_level_bytes (feed) < FEED_LEVEL_BYTES)
    {
      g_autoptr(GstBuffer) buffer = gst_buffer_new_allocate (NULL, FEED_CHUNK_BYTES, NULL);
      GstMapInfo map;
      gssize n;

      gst_buffer_map (buffer, &map, GST_MAP_WRITE);
      do
        n = read (r->fd, map.data, map.size);
      while (n < 0 && errno == EINTR);
      gst_buffer_unmap (buffer, &map);
      if (n < 0)
        {
          int saved = errno;

          g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_FAILED, "%s: %s", r->segment->path,
                       g_strerror (saved));
          return FALSE;
        }
      if (n == 0)
        {
          if (!r->segment->writing)
            {
              gst_app_src_end_of_stream (feed);
              r->fed_eos = TRUE;
            }
          else
            {
              r->at_eof = TRUE;
              r->next_poll_us = g_get_monotonic_time () + TAIL_POLL_US;
            }
          return TRUE;
        }
      gst_buffer_set_size (buffer, n);
      gst_app_src_push_buffer (feed, g_steal_pointer (&buffer));
    }
  return TRUE;
}

/* Opens @segment; a closed file is sought to @seek_ns in the file (not
 * when GST_CLOCK_TIME_NONE). Blocking, on the task or in prepare(). */
static Reader *
reader_open (VigilPlaybackSource *self, const VigilPlaybackSegment *segment, GstClockTime seek_ns, GError **error)
{
  g_autoptr(Reader) r = g_new0 (Reader, 1);
  GstElement *src, *demux;

  r->fd = -1;
  r->segment = vigil_playback_segment_new (segment->path, segment->start_us, segment->end_us, segment->writing);
  r->pipeline = gst_object_ref_sink (gst_pipeline_new (NULL));
  /* The readers run as fast as the task pulls; no clock needed. */
  gst_pipeline_use_clock (GST_PIPELINE (r->pipeline), NULL);
  src = gst_element_factory_make (segment->writing ? "appsrc" : "filesrc", NULL);
  demux = gst_element_factory_make ("matroskademux", NULL);
  r->sink = gst_element_factory_make ("appsink", NULL);
  if (src == NULL || demux == NULL || r->sink == NULL)
    {
      g_clear_object (&src);
      g_clear_object (&demux);
      g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_FAILED,
                   "filesrc, appsrc, matroskademux or appsink is not installed");
      return NULL;
    }
  gst_object_ref (r->sink);
  gst_bin_add_many (GST_BIN (r->pipeline), src, demux, r->sink, NULL);
  gst_element_link (src, demux);
  /* A few frames queued: enough to hide the demuxer's thread hand-off,
   * little enough that a flush throws nothing much away. */
  g_object_set (r->sink, "sync", FALSE, "max-buffers", 8, "enable-last-sample", FALSE, NULL);
  g_signal_connect_object (demux, "pad-added", G_CALLBACK (on_demux_pad_added), r->sink, 0);
  r->bus = gst_element_get_bus (r->pipeline);

  if (segment->writing)
    {
      g_autoptr(GstCaps) caps = gst_caps_new_empty_simple ("video/x-matroska");

      r->fd = g_open (segment->path, O_RDONLY | O_CLOEXEC, 0);
      if (r->fd < 0)
        {
          int saved = errno;

          g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_FAILED, "%s: %s", segment->path,
                       g_strerror (saved));
          return NULL;
        }
      r->feed = gst_object_ref (src);
      g_object_set (src, "caps", caps, "format", GST_FORMAT_BYTES, "stream-type", 0 /* stream */,
                    "max-bytes", (guint64) 2 * FEED_LEVEL_BYTES, "block", FALSE, "emit-signals", FALSE, NULL);
      if (gst_element_set_state (r->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
        {
          if (reader_check_bus (r, error))
            g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_FAILED, "%s: cannot start a reader",
                         segment->path);
          return NULL;
        }
      return g_steal_pointer (&r);
    }

  g_object_set (src, "location", segment->path, NULL);
  gst_element_set_state (r->pipeline, GST_STATE_PAUSED);
  if (gst_element_get_state (r->pipeline, NULL, NULL, OPEN_TIMEOUT) != GST_STATE_CHANGE_SUCCESS)
    {
      if (reader_check_bus (r, error))
        g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_FAILED, "%s: cannot be opened",
                     segment->path);
      return NULL;
    }
  /* A refused seek (a file cut by a crash has no cues) reads from the
   * top; the lead-in drops what comes before the target. */
  if (GST_CLOCK_TIME_IS_VALID (seek_ns) && seek_ns > 0)
    {
      if (gst_element_seek_simple (r->pipeline, GST_FORMAT_TIME,
                                   GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_KEY_UNIT | GST_SEEK_FLAG_SNAP_BEFORE, seek_ns))
        gst_element_get_state (r->pipeline, NULL, NULL, OPEN_TIMEOUT);
      else
        GST_INFO_OBJECT (self, "%s: seek to %" GST_TIME_FORMAT " refused; reading from the top", segment->path,
                         GST_TIME_ARGS (seek_ns));
    }
  gst_element_set_state (r->pipeline, GST_STATE_PLAYING);
  return g_steal_pointer (&r);
}

/* ---------------------------------------------------------------- run state */

static void
source_wake (VigilPlaybackSource *self)
{
  g_mutex_lock (&self->wait_lock);
  g_cond_broadcast (&self->wait_cond);
  g_mutex_unlock (&self->wait_lock);
}

/* Waits @us or until flushing. Runs on the task. */
static void
source_wait (VigilPlaybackSource *self, gint64 us)
{
  gint64 until = g_get_monotonic_time () + us;

  g_mutex_lock (&self->wait_lock);
  while (!g_atomic_int_get (&self->flushing) && g_cond_wait_until (&self->wait_cond, &self->wait_lock, until))
    ;
  g_mutex_unlock (&self->wait_lock);
}

/* Called with the task stopped (or from the task itself). */
static void
reset_run (VigilPlaybackSource *self, gint64 target_us, gint64 end_us, GstClockTime npt_start, guint32 seqnum)
{
  g_clear_pointer (&self->reader, reader_free);
  g_ptr_array_set_size (self->segments, 0);
  g_ptr_array_set_size (self->held, 0);
  target_us = CLAMP (target_us, 0, MAX_WALL_US);
  self->next_segment = 0;
  self->list_from_us = target_us;
  self->last_started_us = G_MININT64;
  self->followed_writing = FALSE;
  self->follow_until_us = 0;
  self->target_ns = target_us * 1000;
  self->run_end_ns = end_us >= MAX_WALL_US ? G_MAXINT64 : MAX (end_us, 0) * 1000;
  self->npt_start = npt_start;
  self->seqnum = seqnum;
  self->need_segment = TRUE;
  self->lead_in = TRUE;
  self->have_mapping = FALSE;
  self->last_frame_ns = DEFAULT_FRAME_NS;
  self->last_file_pts = GST_CLOCK_TIME_NONE;
  self->run_ready = TRUE;
}

/* Opens the next segment of the run. FALSE when there is none (yet): @eos
 * tells whether the run is over. A segment that cannot be read is
 * skipped with a warning: one damaged file must not end a playback. */
static gboolean
open_next (VigilPlaybackSource *self, gboolean *eos, GError **error)
{
  const VigilPlaybackSegment *segment;
  GstClockTime seek_ns = GST_CLOCK_TIME_NONE;
  g_autoptr(GError) local_error = NULL;

  *eos = FALSE;
  while (self->next_segment >= self->segments->len)
    {
      g_autoptr(GPtrArray) batch = NULL;
      gint64 to_us = self->run_end_ns == G_MAXINT64 ? G_MAXINT64 : self->run_end_ns / 1000;

      if (self->list_from_us >= to_us)
        {
          *eos = TRUE;
          return FALSE;
        }
      batch = source_list (self, self->list_from_us, to_us, LIST_BATCH, error);
      if (batch == NULL)
        return FALSE;
      g_ptr_array_set_size (self->segments, 0);
      self->next_segment = 0;
      /* The lister gives overlapping segments, so the last one opened
       * comes again; skip it and anything older. */
      for (guint i = 0; i < batch->len; i++)
        {
          VigilPlaybackSegment *s = batch->pdata[i];

          if (s->start_us > self->last_started_us && s->path != NULL && s->end_us >= s->start_us)
            g_ptr_array_add (self->segments, g_steal_pointer (&batch->pdata[i]));
        }
      if (self->segments->len > 0)
        break;
      if (self->followed_writing && self->run_end_ns > g_get_real_time () * 1000)
        {
          /* The growing segment closed: wait a little for its successor. */
          gint64 now = g_get_monotonic_time ();

          if (self->follow_until_us == 0)
            self->follow_until_us = now + FOLLOW_NEXT_US;
          if (now < self->follow_until_us)
            {
              source_wait (self, TAIL_POLL_US);
              return FALSE;
            }
        }
      *eos = TRUE;
      return FALSE;
    }

  segment = self->segments->pdata[self->next_segment++];
  self->last_started_us = segment->start_us;
  self->list_from_us = MAX (self->list_from_us, segment->start_us);
  self->follow_until_us = 0;
  if (self->lead_in && self->target_ns > segment->start_us * 1000)
    seek_ns = self->target_ns - segment->start_us * 1000;
  self->reader = reader_open (self, segment, seek_ns, &local_error);
  if (self->reader == NULL)
    {
      GST_WARNING_OBJECT (self, "camera %s: skipping a segment: %s", self->camera, local_error->message);
      return FALSE;
    }
  self->followed_writing = segment->writing;
  self->last_file_pts = GST_CLOCK_TIME_NONE;
  GST_DEBUG_OBJECT (self, "camera %s: reading %s%s", self->camera, segment->path,
                    segment->writing ? " (growing)" : "");
  return TRUE;
}

/* ---------------------------------------------------------------- output */

/* The event is "GstOnvifTimestamp" in rtponviftimestamp 1.22 (upstream's
 * example and older releases say "GstNtpOffset", which 1.22 ignores). */
static void
push_ntp_offset (VigilPlaybackSource *self, gint64 wall_ns, GstClockTime out, gboolean discont)
{
  guint64 offset = (guint64) (wall_ns + (gint64) NTP_EPOCH_OFFSET_NS - (gint64) out);
  GstStructure *s = gst_structure_new ("GstOnvifTimestamp", "ntp-offset", G_TYPE_UINT64, offset, "discont", G_TYPE_BOOLEAN,
                                       discont, NULL);

  gst_pad_push_event (self->srcpad, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, s));
}

static void
push_segment (VigilPlaybackSource *self)
{
  GstSegment segment;
  GstEvent *event;

  gst_segment_init (&segment, GST_FORMAT_TIME);
  segment.start = segment.time = segment.position = self->npt_start;
  event = gst_event_new_segment (&segment);
  if (self->seqnum != 0)
    gst_event_set_seqnum (event, self->seqnum);
  gst_pad_push_event (self->srcpad, event);
  self->need_segment = FALSE;
}

/* Restamps @buffer (writable, owned) and pushes it. */
static GstFlowReturn
push_frame (VigilPlaybackSource *self, GstBuffer *buffer, gint64 wall_ns, GstClockTime out, gboolean discont,
            GstClockTime duration)
{
  GST_BUFFER_PTS (buffer) = out;
  /* Matroska keeps no decoding times, and rtponviftimestamp would take
   * one over the PTS. */
  GST_BUFFER_DTS (buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (buffer) = duration;
  if (discont)
    GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_DISCONT);
  else
    GST_BUFFER_FLAG_UNSET (buffer, GST_BUFFER_FLAG_DISCONT);
  self->last_out_pts = out;
  self->last_out_end = out + duration;
  self->last_wall_end_ns = wall_ns + (gint64) duration;
  return gst_pad_push (self->srcpad, buffer);
}

/* The first frame at or after the target arrived: push the lead-in, then
 * fix the mapping so that frame plays at npt_start + lead-in. */
static GstFlowReturn
start_output (VigilPlaybackSource *self, gint64 wall_ns)
{
  GstClockTime out = self->npt_start;

  if (self->need_segment)
    push_segment (self);
  for (guint i = 0; i < self->held->len; i++)
    {
      GstBuffer *held = g_steal_pointer (&self->held->pdata[i]);
      gint64 held_wall_ns = (gint64) GST_BUFFER_OFFSET (held);
      GstFlowReturn ret;

      push_ntp_offset (self, held_wall_ns, out, i == 0);
      ret = push_frame (self, gst_buffer_make_writable (held), held_wall_ns, out, i == 0, LEAD_IN_STEP_NS);
      out += LEAD_IN_STEP_NS;
      if (ret != GST_FLOW_OK)
        {
          g_ptr_array_set_size (self->held, 0);   /* frees the rest */
          return ret;
        }
    }
  push_ntp_offset (self, wall_ns, out, self->held->len == 0);
  self->have_mapping = TRUE;
  self->out_minus_wall = (gint64) out - wall_ns;
  self->lead_in = FALSE;
  self->last_wall_end_ns = wall_ns;
  self->last_out_end = out;
  g_ptr_array_set_size (self->held, 0);
  return GST_FLOW_OK;
}

/* Takes @buffer (owned), a frame of the current reader's file. */
static GstFlowReturn
handle_frame (VigilPlaybackSource *self, GstBuffer *buffer, GstCaps *caps)
{
  const VigilPlaybackSegment *segment = self->reader->segment;
  GstClockTime pts = GST_BUFFER_PTS_IS_VALID (buffer) ? GST_BUFFER_PTS (buffer) : GST_BUFFER_DTS (buffer);
  gboolean keyframe = !GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  gboolean discont = FALSE, first = FALSE;
  GstClockTime duration;
  gint64 wall_ns, out;

  if (!GST_CLOCK_TIME_IS_VALID (pts))
    {
      gst_buffer_unref (buffer);
      return GST_FLOW_OK;
    }
  wall_ns = segment->start_us * 1000 + (gint64) pts;
  if (wall_ns >= self->run_end_ns)
    {
      gst_buffer_unref (buffer);
      return GST_FLOW_EOS;
    }
  if (GST_CLOCK_TIME_IS_VALID (self->last_file_pts) && pts > self->last_file_pts)
    self->last_frame_ns = MIN (pts - self->last_file_pts, GST_SECOND);
  self->last_file_pts = pts;
  duration = GST_BUFFER_DURATION_IS_VALID (buffer) ? GST_BUFFER_DURATION (buffer) : self->last_frame_ns;

  if (caps != self->caps && (self->caps == NULL || !gst_caps_is_equal (caps, self->caps)))
    {
      if (self->caps != NULL &&
          !gst_structure_has_name (gst_caps_get_structure (caps, 0),
                                   gst_structure_get_name (gst_caps_get_structure (self->caps, 0))))
        {
          /* The payloader and the SDP are made for one codec. */
          GST_WARNING_OBJECT (self, "camera %s: %s changes codec; playback ends there", self->camera, segment->path);
          gst_buffer_unref (buffer);
          return GST_FLOW_EOS;
        }
      gst_caps_replace (&self->caps, caps);
      gst_pad_push_event (self->srcpad, gst_event_new_caps (caps));
    }

  if (self->lead_in)
    {
      if (wall_ns < self->target_ns)
        {
          if (keyframe)
            g_ptr_array_set_size (self->held, 0);
          if ((keyframe || self->held->len > 0) && self->held->len < MAX_HELD)
            {
              /* The frame's wall clock rides in its offset field until it
               * goes out (the offset means nothing for video). */
              GST_BUFFER_OFFSET (buffer) = (guint64) wall_ns;
              g_ptr_array_add (self->held, buffer);
              return GST_FLOW_OK;
            }
          g_ptr_array_set_size (self->held, 0);
          gst_buffer_unref (buffer);
          return GST_FLOW_OK;
        }
      if (keyframe)
        g_ptr_array_set_size (self->held, 0);
      else if (self->held->len == 0)
        {
          /* No keyframe before the target in this file: start at the next. */
          gst_buffer_unref (buffer);
          return GST_FLOW_OK;
        }
      {
        GstFlowReturn ret;

        /* The frame itself is marked DISCONT when no lead-in went before it. */
        first = self->held->len == 0;
        ret = start_output (self, wall_ns);
        if (ret != GST_FLOW_OK)
          {
            gst_buffer_unref (buffer);
            return ret;
          }
      }
    }

  if (self->need_segment)
    push_segment (self);
  {
    gint64 step = wall_ns - self->last_wall_end_ns;

    if (step > (gint64) GAP_MIN_NS || step < -(gint64) GAP_MIN_NS)
      {
        /* A gap (or an overlap) between recordings: close it up. */
        GST_DEBUG_OBJECT (self, "camera %s: %" G_GINT64_FORMAT " ms gap before %s", self->camera,
                          step / 1000000, segment->path);
        self->out_minus_wall = (gint64) self->last_out_end - wall_ns;
        push_ntp_offset (self, wall_ns, self->last_out_end, TRUE);
        discont = TRUE;
      }
    else if (wall_ns + self->out_minus_wall < (gint64) self->last_out_pts)
      {
        /* Never let output time run backwards. */
        self->out_minus_wall = (gint64) self->last_out_end - wall_ns;
        push_ntp_offset (self, wall_ns, self->last_out_end, FALSE);
      }
  }
  out = wall_ns + self->out_minus_wall;
  return push_frame (self, gst_buffer_make_writable (buffer), wall_ns, (GstClockTime) out, discont || first, duration);
}

static void
source_loop (gpointer user_data)
{
  VigilPlaybackSource *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GstSample) sample = NULL;
  GstFlowReturn ret;
  Reader *r;

  if (g_atomic_int_get (&self->flushing))
    {
      gst_pad_pause_task (self->srcpad);
      return;
    }
  if (!self->run_ready)
    reset_run (self, self->start_us, self->end_us, 0, 0);
  if (self->reader == NULL)
    {
      gboolean eos;

      if (!open_next (self, &eos, &error))
        {
          if (error != NULL)
            {
              GST_ELEMENT_ERROR (self, RESOURCE, READ, ("camera %s: %s", self->camera, error->message), (NULL));
              gst_pad_push_event (self->srcpad, gst_event_new_eos ());
              gst_pad_pause_task (self->srcpad);
            }
          else if (eos)
            goto eos;
          return;
        }
    }
  r = self->reader;
  if (!reader_check_bus (r, &error) || (r->feed != NULL && !reader_feed (self, r, &error)))
    {
      GST_WARNING_OBJECT (self, "camera %s: skipping the rest of a segment: %s", self->camera, error->message);
      g_clear_pointer (&self->reader, reader_free);
      return;
    }
  sample = gst_app_sink_try_pull_sample (GST_APP_SINK (r->sink), PULL_TIMEOUT);
  if (sample == NULL)
    {
      if (gst_app_sink_is_eos (GST_APP_SINK (r->sink)))
        g_clear_pointer (&self->reader, reader_free);
      return;
    }
  ret = handle_frame (self, gst_buffer_ref (gst_sample_get_buffer (sample)), gst_sample_get_caps (sample));
  if (ret == GST_FLOW_OK)
    return;
  if (ret == GST_FLOW_EOS)
    goto eos;
  if (ret == GST_FLOW_FLUSHING)
    GST_DEBUG_OBJECT (self, "flushing; task paused");
  else
    {
      GST_ELEMENT_FLOW_ERROR (self, ret);
      gst_pad_push_event (self->srcpad, gst_event_new_eos ());
    }
  gst_pad_pause_task (self->srcpad);
  return;

eos:
  GST_DEBUG_OBJECT (self, "camera %s: end of the range", self->camera);
  if (self->need_segment)
    push_segment (self);
  g_clear_pointer (&self->reader, reader_free);
  {
    GstEvent *event = gst_event_new_eos ();

    if (self->seqnum != 0)
      gst_event_set_seqnum (event, self->seqnum);
    gst_pad_push_event (self->srcpad, event);
  }
  gst_pad_pause_task (self->srcpad);
}

/* ---------------------------------------------------------------- seeking */

/* The wall clock @npt_ns of recorded time (gaps not counted) after the
 * session's start; the end of the last recording when it is further.
 * Runs on the seek handler's thread; lists at most MAX_NPT_BATCHES. */
static gboolean
npt_to_wall (VigilPlaybackSource *self, GstClockTime npt_ns, gint64 *wall_us, GError **error)
{
  gint64 remaining_us = (gint64) (npt_ns / 1000);
  gint64 from_us = self->start_us, last_end_us = self->start_us;

  for (guint b = 0; b < MAX_NPT_BATCHES; b++)
    {
      g_autoptr(GPtrArray) batch = source_list (self, from_us, self->end_us, LIST_BATCH, error);

      if (batch == NULL)
        return FALSE;
      if (batch->len == 0)
        {
          *wall_us = last_end_us;
          return TRUE;
        }
      for (guint i = 0; i < batch->len; i++)
        {
          const VigilPlaybackSegment *s = batch->pdata[i];
          gint64 from = MAX (s->start_us, from_us), length = s->end_us - from;

          if (length <= 0)
            continue;
          if (remaining_us < length)
            {
              *wall_us = from + remaining_us;
              return TRUE;
            }
          remaining_us -= length;
          from_us = last_end_us = s->end_us;
        }
    }
  g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_INVALID,
               "npt %" GST_TIME_FORMAT " is too far into the recording to look up", GST_TIME_ARGS (npt_ns));
  return FALSE;
}

/* A seek position, npt or 1900-based clock, as a wall clock. */
static gboolean
position_to_wall (VigilPlaybackSource *self, gint64 position, gint64 *wall_us, gboolean *is_clock, GError **error)
{
  *is_clock = (guint64) position >= NTP_EPOCH_OFFSET_NS;
  if (*is_clock)
    {
      *wall_us = MIN ((gint64) (position / 1000) - VIGIL_PLAYBACK_NTP_EPOCH_OFFSET_S * G_USEC_PER_SEC, MAX_WALL_US);
      return TRUE;
    }
  return npt_to_wall (self, (GstClockTime) position, wall_us, error);
}

/* Runs on the thread that seeks (the RTSP server's). */
static gboolean
handle_seek (VigilPlaybackSource *self, GstEvent *event)
{
  gdouble rate;
  GstFormat format;
  GstSeekFlags flags;
  GstSeekType start_type, stop_type;
  gint64 start, stop, target_us, end_us = self->end_us;
  GstClockTime npt_start = 0;
  gboolean is_clock = FALSE;
  guint32 seqnum = gst_event_get_seqnum (event);
  g_autoptr(GError) error = NULL;

  gst_event_parse_seek (event, &rate, &format, &flags, &start_type, &start, &stop_type, &stop);
  if (format != GST_FORMAT_TIME || rate != 1.0)
    {
      GST_INFO_OBJECT (self, "refusing a seek in %s at rate %f: only time at rate 1", gst_format_get_name (format),
                       rate);
      return FALSE;
    }
  if (start_type == GST_SEEK_TYPE_SET && start >= 0)
    {
      if (!position_to_wall (self, start, &target_us, &is_clock, &error))
        {
          GST_WARNING_OBJECT (self, "camera %s: refusing a seek: %s", self->camera, error->message);
          return FALSE;
        }
      npt_start = is_clock ? 0 : (GstClockTime) start;
    }
  else
    {
      /* Same place: where output is now. */
      target_us = self->have_mapping ? (self->last_wall_end_ns / 1000) : self->target_ns / 1000;
      npt_start = self->have_mapping ? self->last_out_end : self->npt_start;
    }
  if (stop_type == GST_SEEK_TYPE_SET && stop >= 0)
    {
      if (!position_to_wall (self, stop, &end_us, &is_clock, &error))
        {
          GST_WARNING_OBJECT (self, "camera %s: refusing a seek: %s", self->camera, error->message);
          return FALSE;
        }
    }
  GST_DEBUG_OBJECT (self, "camera %s: seek to wall %" G_GINT64_FORMAT " us (npt %" GST_TIME_FORMAT ")", self->camera,
                    target_us, GST_TIME_ARGS (npt_start));

  {
    GstEvent *flush = gst_event_new_flush_start ();

    gst_event_set_seqnum (flush, seqnum);
    g_atomic_int_set (&self->flushing, TRUE);
    source_wake (self);
    gst_pad_push_event (self->srcpad, flush);
  }
  gst_pad_pause_task (self->srcpad);

  GST_PAD_STREAM_LOCK (self->srcpad);
  reset_run (self, target_us, end_us, npt_start, seqnum);
  {
    GstEvent *flush = gst_event_new_flush_stop (TRUE);

    gst_event_set_seqnum (flush, seqnum);
    gst_pad_push_event (self->srcpad, flush);
  }
  g_atomic_int_set (&self->flushing, FALSE);
  gst_pad_start_task (self->srcpad, source_loop, self, NULL);
  GST_PAD_STREAM_UNLOCK (self->srcpad);
  return TRUE;
}

static gboolean
source_src_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  VigilPlaybackSource *self = VIGIL_PLAYBACK_SOURCE (parent);
  gboolean ret;

  switch (GST_EVENT_TYPE (event))
    {
    case GST_EVENT_SEEK:
      ret = handle_seek (self, event);
      gst_event_unref (event);
      return ret;
    default:
      return gst_pad_event_default (pad, parent, event);
    }
}

static gboolean
source_src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  switch (GST_QUERY_TYPE (query))
    {
    case GST_QUERY_SEEKING:
      {
        GstFormat format;

        gst_query_parse_seeking (query, &format, NULL, NULL, NULL);
        gst_query_set_seeking (query, format, format == GST_FORMAT_TIME, 0, -1);
        return TRUE;
      }
    default:
      return gst_pad_query_default (pad, parent, query);
    }
}

/* ---------------------------------------------------------------- element */

GstCaps *
vigil_playback_source_prepare (VigilPlaybackSource *self, GError **error)
{
  g_return_val_if_fail (VIGIL_IS_PLAYBACK_SOURCE (self), NULL);
  g_return_val_if_fail (!self->run_ready, NULL);

  reset_run (self, self->start_us, self->end_us, 0, 0);
  for (guint attempts = 0; attempts < LIST_BATCH; attempts++)
    {
      gint64 deadline = g_get_monotonic_time () + OPEN_TIMEOUT / 1000;
      gboolean eos;
      Reader *r;

      if (!open_next (self, &eos, error))
        {
          if (error != NULL && *error != NULL)
            return NULL;
          if (eos)
            break;
          continue;
        }
      r = self->reader;
      /* The demuxer sets caps on the appsink before its first frame. */
      while (g_get_monotonic_time () < deadline)
        {
          g_autoptr(GstPad) pad = gst_element_get_static_pad (r->sink, "sink");
          g_autoptr(GstCaps) caps = gst_pad_get_current_caps (pad);
          g_autoptr(GError) local_error = NULL;
          g_autoptr(GstSample) preroll = NULL;

          if (caps != NULL)
            return g_steal_pointer (&caps);
          if (!reader_check_bus (r, &local_error) || (r->feed != NULL && !reader_feed (self, r, &local_error)))
            {
              GST_WARNING_OBJECT (self, "camera %s: skipping a segment: %s", self->camera, local_error->message);
              break;
            }
          if (gst_app_sink_is_eos (GST_APP_SINK (r->sink)))
            break;
          preroll = gst_app_sink_try_pull_preroll (GST_APP_SINK (r->sink), PULL_TIMEOUT);
        }
      g_clear_pointer (&self->reader, reader_free);
    }
  g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_NOT_FOUND, "camera %s has no playable recording in the range",
               self->camera);
  return NULL;
}

static GstStateChangeReturn
source_change_state (GstElement *element, GstStateChange transition)
{
  VigilPlaybackSource *self = VIGIL_PLAYBACK_SOURCE (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    {
      g_atomic_int_set (&self->flushing, TRUE);
      source_wake (self);
    }
  ret = GST_ELEMENT_CLASS (vigil_playback_source_parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE)
    return ret;

  switch (transition)
    {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      g_atomic_int_set (&self->flushing, FALSE);
      self->stream_started = FALSE;
      {
        g_autofree gchar *stream_id = gst_pad_create_stream_id (self->srcpad, element, "video");
        GstEvent *event = gst_event_new_stream_start (stream_id);

        gst_event_set_group_id (event, gst_util_group_id_next ());
        gst_pad_push_event (self->srcpad, event);
      }
      gst_pad_start_task (self->srcpad, source_loop, self, NULL);
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      gst_pad_stop_task (self->srcpad);
      g_clear_pointer (&self->reader, reader_free);
      g_ptr_array_set_size (self->held, 0);
      gst_clear_caps (&self->caps);
      self->run_ready = FALSE;
      break;
    default:
      break;
    }
  return ret;
}

static void
vigil_playback_source_finalize (GObject *object)
{
  VigilPlaybackSource *self = VIGIL_PLAYBACK_SOURCE (object);

  g_clear_pointer (&self->reader, reader_free);
  g_clear_pointer (&self->segments, g_ptr_array_unref);
  g_clear_pointer (&self->held, g_ptr_array_unref);
  gst_clear_caps (&self->caps);
  if (self->lister_notify != NULL)
    self->lister_notify (self->lister_data);
  g_free (self->camera);
  g_mutex_clear (&self->wait_lock);
  g_cond_clear (&self->wait_cond);
  G_OBJECT_CLASS (vigil_playback_source_parent_class)->finalize (object);
}

static void
vigil_playback_source_class_init (VigilPlaybackSourceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  object_class->finalize = vigil_playback_source_finalize;
  element_class->change_state = source_change_state;
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "vigil recorded playback", "Source/Video",
                                         "Plays a camera's recorded segments as one stream", "vigil");
  GST_DEBUG_CATEGORY_INIT (vigil_playback_debug, "vigil-playback", 0, "vigil recorded playback");
}

/* start_output() steals entries, leaving NULLs. */
static void
held_buffer_free (gpointer buffer)
{
  if (buffer != NULL)
    gst_buffer_unref (buffer);
}

static void
vigil_playback_source_init (VigilPlaybackSource *self)
{
  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_event_function (self->srcpad, source_src_event);
  gst_pad_set_query_function (self->srcpad, source_src_query);
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
  GST_OBJECT_FLAG_SET (self, GST_ELEMENT_FLAG_SOURCE);
  g_mutex_init (&self->wait_lock);
  g_cond_init (&self->wait_cond);
  self->segments = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_playback_segment_free);
  self->held = g_ptr_array_new_full (64, held_buffer_free);
}

VigilPlaybackSource *
vigil_playback_source_new (const gchar *camera, gint64 start_us, gint64 end_us, VigilPlaybackLister lister,
                           gpointer user_data, GDestroyNotify notify)
{
  VigilPlaybackSource *self;

  g_return_val_if_fail (camera != NULL, NULL);
  g_return_val_if_fail (lister != NULL, NULL);

  self = g_object_new (VIGIL_TYPE_PLAYBACK_SOURCE, NULL);
  self->camera = g_strdup (camera);
  self->start_us = CLAMP (start_us, 0, MAX_WALL_US);
  self->end_us = end_us >= MAX_WALL_US ? G_MAXINT64 : MAX (end_us, self->start_us);
  self->lister = lister;
  self->lister_data = user_data;
  self->lister_notify = notify;
  return self;
}
