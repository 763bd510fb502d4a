/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigil_clip_write(): one small reader pipeline per part feeding one
 * muxing pipeline through appsrc, then the moov moved to the front in
 * place (vigil-mp4-faststart.c), while the first frame is decoded to JPEG
 * alongside.
 *
 *   reader (per part):  filesrc ! matroskademux ─ pad probe ─┐  (the probe takes
 *                                              └ fakesink    │   every buffer)
 *   muxer:   appsrc video [! h26xtimestamper] ─┐             │
 *            appsrc audio [! G.711 → ALAC] ───── mp4mux ! fdsink (moov at the end)
 *            appsrc text (tx3g cues) ──────────┘
 *
 * Why not splitmuxsrc: it would be one pipeline, but its output does not
 * say which part a buffer came from, so the text track could only follow
 * its measured part durations instead of each part's own start_us, and
 * starting on the keyframe at or before a wall-clock instant needs that
 * mapping too. Here the pad probe knows the part of every frame:
 * wall(frame) = part.start_us + (pts − the part's first pts), and output
 * time = pts − shift, the shift making each part start where the previous
 * one's last frame ended (gaps collapsed). Buffers are not copied: the
 * probe takes the demuxer's buffer, restamps it in place and hands it to
 * appsrc. matroskademux rather than parsebin: segments are always the
 * recorder's Matroska, and parsebin's typefinding and parser per part
 * halved the throughput. Matroska has no decoding times; the timestamper
 * derives them again, which streams with B-frames need.
 *
 * The first part. The probe sees the file's first video frame, which
 * fixes the file's time origin, and waits (on clip->cond) while the
 * calling thread builds the muxer from the caps and, when from_us lies
 * inside the part, seeks (key unit, snap before): the seek's flush-start
 * ends the wait, so the probe cannot run ahead to the end of the file
 * first. Frames are then held until the first one at or after from_us,
 * so the clip starts exactly on the last keyframe at or before from_us
 * even if the seek snapped to an earlier one. If the seek is refused
 * (files cut by a crash have no index) reading goes on from the top; if
 * it lands after from_us, the part is read again without seeking.
 *
 * Text cues. One per wall-clock second, starting where the second starts
 * in the output; after a gap, a cue starts on the part's first frame.
 * mp4mux takes a subtitle sample's duration from the buffer and fills
 * holes with empty samples, so a cue is pushed only once the next one
 * begins (the last at EOS). Meanwhile the muxer, which waits for data on
 * every pad, holds back audio and video: each appsrc queues up to
 * QUEUE_TIME, more than the second plus a frame that a cue can lag. The
 * same wait is why audio that stops for longer while video goes on
 * cannot be exported (clip_check_audio).
 *
 * Threads. The calling thread builds and tears down every pipeline, polls
 * their buses every POLL_INTERVAL (cancellation, progress, errors) and
 * does the file work. A reader's streaming thread runs the probe and
 * owns the output timeline while its part is read; the calling thread
 * reads that state only after the reader is set to NULL, or during the
 * handshake under clip->lock while the probe waits. Nothing is allocated
 * per frame. */
#include "vigil-clip-writer.h"
#include "vigil-mp4-faststart.h"

#include <errno.h>
#include <gst/app/gstappsrc.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

GST_DEBUG_CATEGORY_STATIC (vigil_clip_debug);
#define GST_CAT_DEFAULT vigil_clip_debug

G_DEFINE_QUARK (vigil-clip-error-quark, vigil_clip_error)

/* Bus polling period of the calling thread: bounds how late cancellation
 * and progress are noticed. */
#define POLL_INTERVAL (50 * GST_MSECOND)
/* Media queued per appsrc; see "Text cues" above. */
#define QUEUE_TIME (4 * GST_SECOND)
/* No frame read and no message for this long means a pipeline hangs. */
#define STALL_TIMEOUT_US (60 * G_USEC_PER_SEC)
/* Share of the progress bar for reading and muxing; the rest is moving
 * the moov (a read and write of the file, mostly from the page cache). */
#define MUX_SHARE 0.9

enum { TRACK_VIDEO, TRACK_AUDIO, TRACK_TEXT, N_TRACKS };

typedef enum {
  READ_STARTING,     /* before the part's first video frame; audio is held */
  READ_SEEKING,      /* dropping until our seek's flush-stop */
  READ_LEAD_IN,      /* first part: holding the GOP that leads up to from_us */
  READ_FORWARDING,   /* restamping and pushing into the muxer */
  READ_DONE,         /* to_us reached, muxer stopped, or seek missed: dropping */
} ReadPhase;

typedef struct _Clip Clip;

typedef struct {
  Clip                *clip;
  const VigilClipPart *part;
  GstElement          *pipeline;
  GstBus              *bus;
  gboolean             lead_in;           /* holds from_us: start at the keyframe before it */
  gboolean             may_seek;
  /* Under clip->lock (set by the streaming thread up to the handshake). */
  GstPad              *pads[TRACK_TEXT];  /* demuxer pads we read; owned by the demuxer */
  GstCaps             *caps[TRACK_TEXT];
  gboolean             go, flushing, abort;
  /* Streaming thread only (and the calling thread once the reader stopped). */
  ReadPhase            phase;
  gboolean             seeked;            /* the first frame after the seek is yet to come */
  gboolean             seek_missed;
  GstClockTime         origin_pts;        /* the file's first video frame: wall clock part->start_us */
  gint64               shift;             /* file PTS − output PTS; valid once a frame went out */
  gboolean             have_shift;
  GstClockTime         first_pts;         /* first frame that went out; earlier audio is dropped */
  GstClockTime         last_pts, frame_ns;  /* to give frames without a duration one */
  GPtrArray           *held[TRACK_TEXT];  /* GstBuffer (owned): lead-in GOP, audio before video */
  guint64              frames;            /* video frames that went out from this part */
} Reader;

struct _Clip {
  gint64         from_us, to_us;
  GCancellable  *cancellable;
  VigilClipProgressFunc progress;
  gpointer       user_data;
  gdouble        expected_ns;     /* rough output length, for progress */
  gdouble        reported;        /* last fraction given to progress() */
  gint           activity;        /* atomic: buffers seen by readers, for stall detection */
  gint           seen_activity;
  gint64         last_activity_us;
  gint64         audio_starved_since_us;   /* see clip_check_audio; 0 when not */

  GMutex         lock;            /* the reader handshake */
  GCond          cond;

  /* Muxing pipeline, built at the first part's handshake (calling thread). */
  GstElement    *mux_pipeline;
  GstBus        *mux_bus;
  GstElement    *muxer;
  GstElement    *src[N_TRACKS];   /* appsrc; NULL when the track is absent */
  GstCaps       *caps[TRACK_TEXT];  /* of the first part; every part must match */
  gboolean       first_has_audio;
  gboolean       audio_transcoded;
  gboolean       mp4_started;
  /* JPEG of the first frame, decoded while the rest is muxed. */
  GstElement    *jpeg_pipeline;
  GstBus        *jpeg_bus;
  gboolean       jpeg_started;
  /* The caller's open output files (borrowed): fdsink writes and seeks
   * in them, faststart rewrites the MP4 through the same descriptor. */
  int            mp4_fd, jpeg_fd;

  /* Output timeline. Written by the streaming thread of the reader whose
   * part is being read, read by the calling thread once it stopped. */
  GstClockTime   out_base;        /* where the current part starts in the output */
  GstClockTime   video_end, audio_end;
  gboolean       have_audio_end;
  guint64        video_frames;
  guint64        audio_buffers;
  GstBuffer     *first_frame;     /* a ref to the clip's first keyframe, for the JPEG */
  gint64         first_frame_us, end_us;
  gboolean       cue_open;
  gint64         cue_second;
  GstClockTime   cue_start;
  gboolean       reached_end;     /* a frame at or after to_us was seen */
  gint           progress_ms;     /* atomic: video_end in ms */
};

/* ---------------------------------------------------------------- time */

static gint64
floor_div (gint64 a, gint64 b)
{
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* "2026-11-28 18:41:03 UTC" (@iso FALSE) or "2026-11-28T18:41:03.550818Z". */
static void
format_utc (gint64 wall_us, gboolean iso, gchar *out, gsize len)
{
  time_t seconds = (time_t) floor_div (wall_us, G_USEC_PER_SEC);
  gint usec = (gint) (wall_us - (gint64) seconds * G_USEC_PER_SEC);
  struct tm tm;
  gchar date[32];

  gmtime_r (&seconds, &tm);
  if (iso)
    {
      strftime (date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
      g_snprintf (out, len, "%s.%06dZ", date, usec);
    }
  else
    strftime (out, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static gint64
reader_wall_us (const Reader *r, GstClockTime pts)
{
  return r->part->start_us + ((gint64) pts - (gint64) r->origin_pts) / 1000;
}

/* Output time at which the part's wall clock reads @wall_us. */
static gint64
reader_out_at_wall (const Reader *r, gint64 wall_us)
{
  return (gint64) r->origin_pts + (wall_us - r->part->start_us) * 1000 - r->shift;
}

/* ---------------------------------------------------------------- pushing */

/* Runs on a reader's streaming thread, or the calling thread once readers
 * stopped. Takes @buffer. Blocks while the appsrc queue is full. */
static gboolean
clip_push (Clip *clip, guint track, GstBuffer *buffer)
{
  GstFlowReturn flow = gst_app_src_push_buffer (GST_APP_SRC (clip->src[track]), buffer);

  if (flow != GST_FLOW_OK)
    GST_DEBUG ("push on track %u: %s", track, gst_flow_get_name (flow));
  return flow == GST_FLOW_OK;
}

static void
clip_close_cue (Clip *clip, GstClockTime at)
{
  gchar text[48];
  GstBuffer *buffer;

  if (!clip->cue_open)
    return;
  clip->cue_open = FALSE;
  if (at <= clip->cue_start)
    return;
  format_utc (clip->cue_second * G_USEC_PER_SEC, FALSE, text, sizeof text);
  buffer = gst_buffer_new_memdup (text, strlen (text));
  GST_BUFFER_PTS (buffer) = GST_BUFFER_DTS (buffer) = clip->cue_start;
  GST_BUFFER_DURATION (buffer) = at - clip->cue_start;
  /* A refused cue means the muxer failed; its bus says why. */
  clip_push (clip, TRACK_TEXT, buffer);
}

static void
clip_open_cue (Clip *clip, gint64 second, GstClockTime at)
{
  clip->cue_open = TRUE;
  clip->cue_second = second;
  clip->cue_start = at;
}

/* Runs on the streaming thread: the frame at @pts (wall clock @wall_us,
 * output time @out) is about to go out. */
static void
reader_update_cues (Reader *r, GstClockTime out, gint64 wall_us)
{
  Clip *clip = r->clip;
  gint64 second = floor_div (wall_us, G_USEC_PER_SEC);

  if (r->frames == 0)
    {
      /* A part's first frame: the previous part's last cue ends here,
       * unless it shows the same second (parts of one run meet). */
      if (clip->cue_open && clip->cue_second == second)
        return;
      clip_close_cue (clip, out);
      clip_open_cue (clip, second, out);
      return;
    }
  while (clip->cue_second < second)
    {
      gint64 next = clip->cue_second + 1;
      gint64 at = reader_out_at_wall (r, next * G_USEC_PER_SEC);

      at = CLAMP (at, (gint64) clip->cue_start, (gint64) out);
      clip_close_cue (clip, at);
      clip_open_cue (clip, next, at);
    }
}

static void
reader_finish (Reader *r, const gchar *why)
{
  r->phase = READ_DONE;
  gst_element_post_message (r->pipeline, gst_message_new_application (GST_OBJECT (r->pipeline),
                                                                     gst_structure_new_empty (why)));
}

/* Takes @buffer. */
static void
reader_forward_video (Reader *r, GstBuffer *buffer)
{
  Clip *clip = r->clip;
  GstClockTime pts = GST_BUFFER_PTS (buffer);
  GstClockTime duration = GST_BUFFER_DURATION (buffer);
  gint64 wall_us;
  GstClockTime out;

  if (r->phase == READ_DONE || !GST_CLOCK_TIME_IS_VALID (pts))
    goto drop;
  if (!r->have_shift)
    {
      /* A clip cannot start on a delta frame; parts start on keyframes. */
      if (clip->video_frames == 0 && GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT))
        goto drop;
      r->shift = (gint64) pts - (gint64) clip->out_base;
      r->have_shift = TRUE;
      r->first_pts = pts;
    }
  /* Leading pictures of an open GOP refer to frames we did not keep. */
  if (pts < r->first_pts)
    goto drop;

  wall_us = reader_wall_us (r, pts);
  if (wall_us >= clip->to_us)
    {
      clip->reached_end = TRUE;
      reader_finish (r, "vigil-clip-end");
      goto drop;
    }
  if (!GST_CLOCK_TIME_IS_VALID (duration))
    {
      if (GST_CLOCK_TIME_IS_VALID (r->last_pts) && pts > r->last_pts)
        r->frame_ns = pts - r->last_pts;
      duration = GST_CLOCK_TIME_IS_VALID (r->frame_ns) ? r->frame_ns : 0;
    }
  r->last_pts = pts;
  out = (GstClockTime) ((gint64) pts - r->shift);
  GST_LOG ("%s: frame %" GST_TIME_FORMAT " → %" GST_TIME_FORMAT "%s", r->part->path, GST_TIME_ARGS (pts),
           GST_TIME_ARGS (out), GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT) ? "" : " key");
  reader_update_cues (r, out, wall_us);

  buffer = gst_buffer_make_writable (buffer);
  GST_BUFFER_PTS (buffer) = out;
  /* Matroska stores presentation times only; the timestamper derives
   * decoding times again from the reordering the stream declares. */
  GST_BUFFER_DTS (buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (buffer) = duration;
  GST_BUFFER_OFFSET (buffer) = GST_BUFFER_OFFSET_END (buffer) = GST_BUFFER_OFFSET_NONE;

  clip->video_end = MAX (clip->video_end, out + duration);
  clip->end_us = MAX (clip->end_us, wall_us + (gint64) (duration / 1000));
  if (clip->video_frames == 0)
    {
      clip->first_frame = gst_buffer_ref (buffer);
      clip->first_frame_us = wall_us;
    }
  clip->video_frames++;
  r->frames++;
  g_atomic_int_set (&clip->progress_ms, (gint) MIN (clip->video_end / GST_MSECOND, G_MAXINT));
  if (!clip_push (clip, TRACK_VIDEO, buffer))
    reader_finish (r, "vigil-clip-mux-stopped");
  return;

drop:
  gst_buffer_unref (buffer);
}

/* Takes @buffer. */
static void
reader_forward_audio (Reader *r, GstBuffer *buffer)
{
  Clip *clip = r->clip;
  GstClockTime ts = GST_BUFFER_PTS_IS_VALID (buffer) ? GST_BUFFER_PTS (buffer) : GST_BUFFER_DTS (buffer);
  GstClockTime duration = GST_BUFFER_DURATION_IS_VALID (buffer) ? GST_BUFFER_DURATION (buffer) : 0;
  GstClockTime out;

  if (r->phase == READ_DONE || clip->src[TRACK_AUDIO] == NULL || !r->have_shift
      || !GST_CLOCK_TIME_IS_VALID (ts) || ts < r->first_pts
      || reader_wall_us (r, ts) >= clip->to_us)
    goto drop;
  out = (GstClockTime) ((gint64) ts - r->shift);
  /* Parts are cut on video keyframes, so a part's audio may begin a little
   * before the end of the previous part's: keep the earlier one. */
  if (clip->have_audio_end && out + duration / 2 < clip->audio_end)
    goto drop;
  clip->audio_end = out + duration;
  clip->have_audio_end = TRUE;

  buffer = gst_buffer_make_writable (buffer);
  GST_BUFFER_PTS (buffer) = GST_BUFFER_DTS (buffer) = out;
  GST_BUFFER_OFFSET (buffer) = GST_BUFFER_OFFSET_END (buffer) = GST_BUFFER_OFFSET_NONE;
  clip->audio_buffers++;
  if (!clip_push (clip, TRACK_AUDIO, buffer))
    reader_finish (r, "vigil-clip-mux-stopped");
  return;

drop:
  gst_buffer_unref (buffer);
}

static GstClockTime
buffer_time (GstBuffer *buffer)
{
  return GST_BUFFER_PTS_IS_VALID (buffer) ? GST_BUFFER_PTS (buffer) : GST_BUFFER_DTS (buffer);
}

/* Sends what was held out, video and audio interleaved by time so that
 * neither queue fills while the muxer waits for the other. */
static void
reader_release_held (Reader *r)
{
  GPtrArray *video = r->held[TRACK_VIDEO], *audio = r->held[TRACK_AUDIO];
  guint v = 0, a = 0;

  r->phase = READ_FORWARDING;
  while (v < video->len || a < audio->len)
    {
      if (a < audio->len && (v >= video->len || buffer_time (audio->pdata[a]) < buffer_time (video->pdata[v])))
        reader_forward_audio (r, audio->pdata[a++]);
      else
        reader_forward_video (r, video->pdata[v++]);
    }
  g_ptr_array_set_size (video, 0);
  g_ptr_array_set_size (audio, 0);
}

static void
reader_drop_held (Reader *r)
{
  for (guint t = 0; t < TRACK_TEXT; t++)
    {
      for (guint i = 0; i < r->held[t]->len; i++)
        gst_buffer_unref (r->held[t]->pdata[i]);
      g_ptr_array_set_size (r->held[t], 0);
    }
}

/* The first part, up to the first frame at or after from_us. Takes @buffer. */
static void
reader_lead_in (Reader *r, guint track, GstBuffer *buffer)
{
  GPtrArray *video = r->held[TRACK_VIDEO];
  GstClockTime pts = GST_BUFFER_PTS (buffer);
  gboolean keyframe = !GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  gint64 wall_us;

  if (track == TRACK_AUDIO)
    {
      if (video->len > 0)
        g_ptr_array_add (r->held[TRACK_AUDIO], buffer);
      else
        gst_buffer_unref (buffer);
      return;
    }
  if (!GST_CLOCK_TIME_IS_VALID (pts))
    {
      gst_buffer_unref (buffer);
      return;
    }
  wall_us = reader_wall_us (r, pts);
  if (r->seeked)
    {
      /* A key-unit seek that snapped before from_us starts on a keyframe
       * at or before it; anything else and we read the part from the top. */
      r->seeked = FALSE;
      if (!keyframe || wall_us > r->clip->from_us)
        {
          GST_INFO ("%s: seek landed on %s frame at %" G_GINT64_FORMAT " µs, after %" G_GINT64_FORMAT,
                    r->part->path, keyframe ? "a key" : "a delta", wall_us, r->clip->from_us);
          r->seek_missed = TRUE;
          reader_finish (r, "vigil-clip-reseek");
          gst_buffer_unref (buffer);
          return;
        }
    }

  if (wall_us < r->clip->from_us)
    {
      if (keyframe)
        reader_drop_held (r);
      else if (video->len == 0)
        {
          gst_buffer_unref (buffer);
          return;
        }
      g_ptr_array_add (video, buffer);
      return;
    }
  /* The first frame at or after from_us: the clip starts on the held
   * keyframe, or on this one if it is at from_us or nothing is held. */
  if (keyframe && (wall_us == r->clip->from_us || video->len == 0))
    reader_drop_held (r);
  else if (!keyframe && video->len == 0)
    {
      gst_buffer_unref (buffer);
      return;
    }
  g_ptr_array_add (video, buffer);
  reader_release_held (r);
}

/* The part's first video frame: hand the caps and the time origin to the
 * calling thread and wait for it to build the muxer and perhaps seek
 * (whose flush-start ends the wait). FALSE when aborted. */
static gboolean
reader_handshake (Reader *r, GstClockTime origin_pts)
{
  Clip *clip = r->clip;
  gboolean go;

  g_mutex_lock (&clip->lock);
  r->origin_pts = origin_pts;
  g_mutex_unlock (&clip->lock);
  gst_element_post_message (r->pipeline, gst_message_new_application (GST_OBJECT (r->pipeline),
                                                                     gst_structure_new_empty ("vigil-clip-ready")));
  g_mutex_lock (&clip->lock);
  while (!r->go && !r->flushing && !r->abort)
    g_cond_wait (&clip->cond, &clip->lock);
  go = !r->abort;
  if (go && r->flushing)
    {
      /* Flush-stop, on the seeking thread, moves on to the lead-in. */
      r->phase = READ_SEEKING;
      r->seeked = TRUE;
    }
  else if (go)
    r->phase = r->lead_in ? READ_LEAD_IN : READ_FORWARDING;
  else
    r->phase = READ_DONE;
  g_mutex_unlock (&clip->lock);
  return go;
}

static void
reader_dispatch (Reader *r, guint track, GstBuffer *buffer)
{
  switch (r->phase)
    {
    case READ_LEAD_IN:
      reader_lead_in (r, track, buffer);
      break;
    case READ_FORWARDING:
      if (track == TRACK_VIDEO)
        reader_forward_video (r, buffer);
      else
        reader_forward_audio (r, buffer);
      break;
    case READ_STARTING:
    case READ_SEEKING:
    case READ_DONE:
    default:
      gst_buffer_unref (buffer);
      break;
    }
}

/* Runs on the reader's streaming thread (and, for flush-stop, on the
 * thread that seeks). Buffers are taken: nothing reaches the fakesink. */
static GstPadProbeReturn
on_reader_pad_data (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Reader *r = user_data;
  guint track = pad == r->pads[TRACK_VIDEO] ? TRACK_VIDEO : TRACK_AUDIO;
  GstBuffer *buffer;

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST)
    {
      GstBufferList *list = GST_PAD_PROBE_INFO_BUFFER_LIST (info);
      guint n = gst_buffer_list_length (list);

      /* matroskademux pushes single buffers, but this is cheap to get right. */
      info->data = NULL;
      for (guint i = 0; i < n; i++)
        {
          GstBuffer *item = gst_buffer_ref (gst_buffer_list_get (list, i));
          GstPadProbeInfo item_info = { .type = GST_PAD_PROBE_TYPE_BUFFER, .data = item };

          if (on_reader_pad_data (pad, &item_info, r) != GST_PAD_PROBE_HANDLED && item_info.data != NULL)
            gst_buffer_unref (item_info.data);
        }
      gst_buffer_list_unref (list);
      return GST_PAD_PROBE_HANDLED;
    }
  if (!(info->type & GST_PAD_PROBE_TYPE_BUFFER))
    {
      /* Flushes come from our seek only, on the seeking thread. The
       * streaming thread waits in the handshake until flush-start, then
       * drops what it has until it stops for the seek; flush-stop comes
       * after that. */
      GstEventType type = GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info));

      if (type == GST_EVENT_FLUSH_START)
        {
          g_mutex_lock (&r->clip->lock);
          r->flushing = TRUE;
          g_cond_broadcast (&r->clip->cond);
          g_mutex_unlock (&r->clip->lock);
        }
      else if (type == GST_EVENT_FLUSH_STOP && r->phase == READ_SEEKING)
        r->phase = READ_LEAD_IN;
      return GST_PAD_PROBE_OK;
    }

  buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  info->data = NULL;
  g_atomic_int_inc (&r->clip->activity);

  if (r->phase == READ_STARTING)
    {
      if (track == TRACK_AUDIO)
        {
          g_ptr_array_add (r->held[TRACK_AUDIO], buffer);
          return GST_PAD_PROBE_HANDLED;
        }
      if (!GST_BUFFER_PTS_IS_VALID (buffer))
        {
          gst_buffer_unref (buffer);
          return GST_PAD_PROBE_HANDLED;
        }
      if (!reader_handshake (r, GST_BUFFER_PTS (buffer)))
        {
          reader_drop_held (r);
          gst_buffer_unref (buffer);
          return GST_PAD_PROBE_HANDLED;
        }
      if (r->phase == READ_SEEKING)
        {
          reader_drop_held (r);
          gst_buffer_unref (buffer);
          return GST_PAD_PROBE_HANDLED;
        }
      /* This frame first, then the audio that came before it (dropped
       * when it precedes the frame). */
      {
        g_autoptr(GPtrArray) audio = g_steal_pointer (&r->held[TRACK_AUDIO]);

        r->held[TRACK_AUDIO] = g_ptr_array_new ();
        reader_dispatch (r, TRACK_VIDEO, buffer);
        for (guint i = 0; i < audio->len; i++)
          reader_dispatch (r, TRACK_AUDIO, audio->pdata[i]);
      }
      return GST_PAD_PROBE_HANDLED;
    }

  reader_dispatch (r, track, buffer);
  return GST_PAD_PROBE_HANDLED;
}

/* Runs on a streaming thread of the reader. */
static void
on_reader_pad_added (GstElement *demux, GstPad *pad, gpointer user_data)
{
  Reader *r = user_data;
  g_autoptr(GstCaps) current = gst_pad_get_current_caps (pad);
  g_autoptr(GstCaps) caps = current != NULL ? gst_caps_ref (current) : gst_pad_query_caps (pad, NULL);
  const gchar *name = gst_structure_get_name (gst_caps_get_structure (caps, 0));
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  g_autoptr(GstPad) sink_pad = gst_element_get_static_pad (sink, "sink");
  gint track = -1;

  g_object_set (sink, "sync", FALSE, "async", FALSE, "enable-last-sample", FALSE, NULL);
  gst_bin_add (GST_BIN (r->pipeline), sink);
  gst_element_sync_state_with_parent (sink);
  gst_pad_link (pad, sink_pad);

  g_mutex_lock (&r->clip->lock);
  if (g_str_has_prefix (name, "video/") && r->pads[TRACK_VIDEO] == NULL)
    track = TRACK_VIDEO;
  else if (g_str_has_prefix (name, "audio/") && r->pads[TRACK_AUDIO] == NULL)
    track = TRACK_AUDIO;
  if (track >= 0)
    {
      r->pads[track] = pad;
      r->caps[track] = gst_caps_ref (caps);
    }
  g_mutex_unlock (&r->clip->lock);

  if (track >= 0)
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST
                              | GST_PAD_PROBE_TYPE_EVENT_FLUSH,
                       on_reader_pad_data, r, NULL);
  GST_DEBUG ("%s: stream %" GST_PTR_FORMAT "%s", r->part->path, caps, track >= 0 ? "" : " (ignored)");
}

static void reader_free (Reader *r);

static Reader *
reader_new (Clip *clip, const VigilClipPart *part, gboolean lead_in, gboolean may_seek, GError **error)
{
  Reader *r;
  GstElement *src = gst_element_factory_make ("filesrc", NULL);
  GstElement *demux = gst_element_factory_make ("matroskademux", NULL);

  if (src == NULL || demux == NULL)
    {
      g_clear_object (&src);
      g_clear_object (&demux);
      g_set_error (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_FAILED,
                   "GStreamer elements filesrc and matroskademux are needed to read segments");
      return NULL;
    }
  r = g_new0 (Reader, 1);
  r->clip = clip;
  r->part = part;
  r->lead_in = lead_in;
  r->may_seek = may_seek;
  r->phase = READ_STARTING;
  r->last_pts = r->frame_ns = r->first_pts = GST_CLOCK_TIME_NONE;
  r->held[TRACK_VIDEO] = g_ptr_array_new ();
  r->held[TRACK_AUDIO] = g_ptr_array_new ();
  r->pipeline = gst_pipeline_new ("vigil-clip-read");
  r->bus = gst_element_get_bus (r->pipeline);
  g_object_set (src, "location", part->path, NULL);
  gst_bin_add_many (GST_BIN (r->pipeline), src, demux, NULL);
  gst_element_link (src, demux);
  g_signal_connect (demux, "pad-added", G_CALLBACK (on_reader_pad_added), r);
  return r;
}

/* Stops the reader (waking its probe if it waits) and frees it. */
static void
reader_free (Reader *r)
{
  if (r == NULL)
    return;
  g_mutex_lock (&r->clip->lock);
  r->abort = TRUE;
  g_cond_broadcast (&r->clip->cond);
  g_mutex_unlock (&r->clip->lock);
  gst_element_set_state (r->pipeline, GST_STATE_NULL);
  reader_drop_held (r);
  g_ptr_array_unref (r->held[TRACK_VIDEO]);
  g_ptr_array_unref (r->held[TRACK_AUDIO]);
  for (guint t = 0; t < TRACK_TEXT; t++)
    g_clear_pointer (&r->caps[t], gst_caps_unref);
  gst_object_unref (r->bus);
  gst_object_unref (r->pipeline);
  g_free (r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Reader, reader_free)

/* ---------------------------------------------------------------- muxer */

static gboolean
mp4mux_takes_audio (GstCaps *caps)
{
  g_autoptr(GstElementFactory) factory = gst_element_factory_find ("mp4mux");
  const GList *l;

  for (l = factory != NULL ? gst_element_factory_get_static_pad_templates (factory) : NULL; l; l = l->next)
    {
      GstStaticPadTemplate *templ = l->data;

      if (g_str_equal (templ->name_template, "audio_%u"))
        {
          g_autoptr(GstCaps) accepted = gst_static_caps_get (&templ->static_caps);
          return gst_caps_can_intersect (accepted, caps);
        }
    }
  return FALSE;
}

static gboolean
have_element (const gchar *name)
{
  g_autoptr(GstElementFactory) factory = gst_element_factory_find (name);
  return factory != NULL;
}

/* The audio branch between the appsrc and mp4mux: "" to copy, NULL for
 * none. mp4mux 1.22 refuses G.711 (audio/x-alaw, audio/x-mulaw): it is
 * expanded to PCM and stored as ALAC, lossless and without the encoder
 * delay that AAC would add (1024 samples, 128 ms at 8 kHz, which mp4mux
 * writes no edit list for, so the sound would lag the picture). */
static const gchar *
audio_branch (GstCaps *caps)
{
  const gchar *name = gst_structure_get_name (gst_caps_get_structure (caps, 0));

  if (mp4mux_takes_audio (caps))
    return "";
  if (!have_element ("avenc_alac") || !have_element ("audioconvert"))
    return NULL;
  if (g_str_equal (name, "audio/x-alaw") && have_element ("alawdec"))
    return "alawdec ! audioconvert ! avenc_alac ! ";
  if (g_str_equal (name, "audio/x-mulaw") && have_element ("mulawdec"))
    return "mulawdec ! audioconvert ! avenc_alac ! ";
  return NULL;
}

static void
set_error_from_message (GError **error, GstMessage *message, const gchar *what)
{
  g_autoptr(GError) gst_error = NULL;
  g_autofree gchar *debug = NULL;

  gst_message_parse_error (message, &gst_error, &debug);
  GST_DEBUG ("%s: %s (%s)", what, gst_error->message, debug);
  g_set_error (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_FAILED, "%s: %s", what, gst_error->message);
}

/* Builds and starts the muxing pipeline for the first part's streams. */
static gboolean
clip_start_mux (Clip *clip, GstCaps *video_caps, GstCaps *audio_caps, const gchar *mp4_name, GError **error)
{
  const gchar *video_name = gst_structure_get_name (gst_caps_get_structure (video_caps, 0));
  const gchar *stamper = NULL;
  const gchar *audio = audio_caps != NULL ? audio_branch (audio_caps) : NULL;
  g_autoptr(GString) description = g_string_new (NULL);
  g_autoptr(GError) parse_error = NULL;
  g_autoptr(GstCaps) text_caps = gst_caps_new_simple ("text/x-raw", "format", G_TYPE_STRING, "utf8", NULL);
  GstElement *sink;

  if (g_str_equal (video_name, "video/x-h264"))
    stamper = "h264timestamper";
  else if (g_str_equal (video_name, "video/x-h265"))
    stamper = "h265timestamper";
  if (stamper != NULL && !have_element (stamper))
    stamper = NULL;
  if (audio_caps != NULL && audio == NULL)
    GST_WARNING ("audio %" GST_PTR_FORMAT " cannot go into MP4 and no encoder is installed: "
                 "exporting video only", audio_caps);

  g_string_append_printf (description,
                          "appsrc name=video format=time block=true max-bytes=0 max-time=%" G_GUINT64_FORMAT
                          " ! %s%s mp4mux name=mux faststart=false ! fdsink name=sink sync=false "
                          "appsrc name=text format=time max-bytes=0 ! mux.subtitle_0 ",
                          (guint64) QUEUE_TIME, stamper != NULL ? stamper : "", stamper != NULL ? " !" : "");
  if (audio != NULL)
    g_string_append_printf (description,
                            "appsrc name=audio format=time block=true max-bytes=0 max-time=%" G_GUINT64_FORMAT
                            " ! %smux.audio_0 ", (guint64) QUEUE_TIME, audio);
  GST_DEBUG ("muxer: %s", description->str);

  clip->mux_pipeline = gst_parse_launch_full (description->str, NULL, GST_PARSE_FLAG_FATAL_ERRORS, &parse_error);
  if (clip->mux_pipeline == NULL)
    {
      g_set_error (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_FAILED, "cannot build the muxer: %s",
                   parse_error->message);
      return FALSE;
    }
  clip->mux_bus = gst_element_get_bus (clip->mux_pipeline);
  clip->muxer = gst_bin_get_by_name (GST_BIN (clip->mux_pipeline), "mux");
  clip->src[TRACK_VIDEO] = gst_bin_get_by_name (GST_BIN (clip->mux_pipeline), "video");
  clip->src[TRACK_TEXT] = gst_bin_get_by_name (GST_BIN (clip->mux_pipeline), "text");
  clip->src[TRACK_AUDIO] = gst_bin_get_by_name (GST_BIN (clip->mux_pipeline), "audio");
  clip->audio_transcoded = audio != NULL && *audio != '\0';
  clip->caps[TRACK_VIDEO] = gst_caps_ref (video_caps);
  clip->first_has_audio = audio_caps != NULL;
  if (clip->src[TRACK_AUDIO] != NULL)
    clip->caps[TRACK_AUDIO] = gst_caps_ref (audio_caps);

  g_object_set (clip->src[TRACK_VIDEO], "caps", video_caps, NULL);
  g_object_set (clip->src[TRACK_TEXT], "caps", text_caps, NULL);
  if (clip->src[TRACK_AUDIO] != NULL)
    g_object_set (clip->src[TRACK_AUDIO], "caps", audio_caps, NULL);
  sink = gst_bin_get_by_name (GST_BIN (clip->mux_pipeline), "sink");
  g_object_set (sink, "fd", clip->mp4_fd, NULL);
  gst_object_unref (sink);

  /* From here on the file holds our output, emptied on failure. */
  clip->mp4_started = TRUE;
  if (gst_element_set_state (clip->mux_pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      g_autoptr(GstMessage) message = gst_bus_pop_filtered (clip->mux_bus, GST_MESSAGE_ERROR);

      if (message != NULL)
        set_error_from_message (error, message, mp4_name);
      else
        g_set_error (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_FAILED, "%s: cannot start the muxer", mp4_name);
      return FALSE;
    }
  return TRUE;
}

/* Whether a later part's stream can continue the first part's track:
 * the same codec, size and codec data (mp4mux 1.22 cannot switch). */
static gboolean
caps_continue (GstCaps *first, GstCaps *later)
{
  const GstStructure *a = gst_caps_get_structure (first, 0), *b = gst_caps_get_structure (later, 0);
  static const gchar *const fields[] = { "codec_data", "width", "height", "rate", "channels", "stream-format" };

  if (!gst_structure_has_name (b, gst_structure_get_name (a)))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      const GValue *va = gst_structure_get_value (a, fields[i]), *vb = gst_structure_get_value (b, fields[i]);

      if ((va == NULL) != (vb == NULL) || (va != NULL && gst_value_compare (va, vb) != GST_VALUE_EQUAL))
        return FALSE;
    }
  return TRUE;
}

/* ---------------------------------------------------------------- the calling thread */

/* Progress, cancellation and stall detection, every POLL_INTERVAL. */
static gboolean
clip_tick (Clip *clip, gdouble fraction, GError **error)
{
  gint activity = g_atomic_int_get (&clip->activity);
  gint64 now = g_get_monotonic_time ();

  fraction = CLAMP (fraction, 0.0, 1.0);
  if (clip->progress != NULL && fraction >= clip->reported)
    {
      clip->reported = fraction;
      clip->progress (fraction, clip->user_data);
    }
  if (g_cancellable_set_error_if_cancelled (clip->cancellable, error))
    return FALSE;
  if (activity != clip->seen_activity)
    {
      clip->seen_activity = activity;
      clip->last_activity_us = now;
    }
  else if (now - clip->last_activity_us > STALL_TIMEOUT_US)
    {
      g_set_error (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_FAILED, "export stalled: no data for %d s",
                   (gint) (STALL_TIMEOUT_US / G_USEC_PER_SEC));
      return FALSE;
    }
  return TRUE;
}

static gdouble
clip_mux_fraction (Clip *clip)
{
  gdouble done = (gdouble) g_atomic_int_get (&clip->progress_ms) * GST_MSECOND;

  return MUX_SHARE * (clip->expected_ns > 0 ? MIN (done / clip->expected_ns, 1.0) : 0.0);
}

/* mp4mux waits for data on every track, so audio that stops for longer
 * than QUEUE_TIME while the video goes on (a camera's audio dropping
 * out) stalls it: the audio queue is empty and the video queue full. A
 * GAP event would let it go on, but appsrc 1.22 cannot carry one and
 * mp4mux did not move on when one was sent to its pad directly, so this
 * fails at once with a message saying where, rather than by the stall
 * timer. (The text track lags at most a second and a frame.) */
static gboolean
clip_check_audio (Clip *clip, const gchar *path, GError **error)
{
  guint64 audio_queued = 1;
  GstClockTime video_queued = 0;
  gint64 now = g_get_monotonic_time ();

  if (clip->src[TRACK_AUDIO] == NULL)
    return TRUE;
  g_object_get (clip->src[TRACK_AUDIO], "current-level-buffers", &audio_queued, NULL);
  g_object_get (clip->src[TRACK_VIDEO], "current-level-time", &video_queued, NULL);
  if (audio_queued > 0 || video_queued < QUEUE_TIME * 3 / 4)
    {
      clip->audio_starved_since_us = 0;
      return TRUE;
    }
  if (clip->audio_starved_since_us == 0)
    clip->audio_starved_since_us = now;
  if (now - clip->audio_starved_since_us < G_USEC_PER_SEC)
    return TRUE;
  g_set_error (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_FAILED,
               "%s: the audio stops for more than %d s while the video goes on, which mp4mux cannot write",
               path, (gint) (QUEUE_TIME / GST_SECOND));
  return FALSE;
}

/* An error from the muxer ends the export wherever we are. */
static gboolean
clip_check_mux (Clip *clip, const gchar *mp4_name, GError **error)
{
  g_autoptr(GstMessage) message = NULL;

  if (clip->mux_bus == NULL)
    return TRUE;
  message = gst_bus_pop_filtered (clip->mux_bus, GST_MESSAGE_ERROR);
  if (message == NULL)
    return TRUE;
  set_error_from_message (error, message, mp4_name);
  return FALSE;
}

/* The calling thread's half of the handshake: build or check the muxer,
 * decide on a seek, let the probe go, seek. */
static gboolean
clip_on_reader_ready (Clip *clip, Reader *r, const gchar *mp4_name, gboolean *seek_failed, GError **error)
{
  GstCaps *caps[TRACK_TEXT];
  GstClockTime origin_pts, position = 0;
  gboolean seek;
  GstStructure *s;

  g_mutex_lock (&clip->lock);
  caps[TRACK_VIDEO] = r->caps[TRACK_VIDEO];
  caps[TRACK_AUDIO] = r->caps[TRACK_AUDIO];
  origin_pts = r->origin_pts;
  g_mutex_unlock (&clip->lock);

  if (clip->mux_pipeline == NULL)
    {
      if (!clip_start_mux (clip, caps[TRACK_VIDEO], caps[TRACK_AUDIO], mp4_name, error))
        return FALSE;
    }
  /* A part without the audio of the others would also stall mp4mux,
   * which waits for every track. */
  else if (!caps_continue (clip->caps[TRACK_VIDEO], caps[TRACK_VIDEO])
           || clip->first_has_audio != (caps[TRACK_AUDIO] != NULL)
           || (clip->caps[TRACK_AUDIO] != NULL && !caps_continue (clip->caps[TRACK_AUDIO], caps[TRACK_AUDIO])))
    {
      g_set_error (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_FAILED,
                   "%s: the recording changes format here (codec, size, codec data or audio); "
                   "export the stretches before and after it separately", r->part->path);
      return FALSE;
    }

  s = gst_caps_get_structure (caps[TRACK_VIDEO], 0);
  {
    gint num = 0, den = 0;

    if (gst_structure_get_fraction (s, "framerate", &num, &den) && num > 0 && den > 0)
      r->frame_ns = gst_util_uint64_scale_int (GST_SECOND, den, num);
  }

  /* Seek while the probe still waits: it cannot run ahead to the end of
   * the file before the seek arrives. */
  seek = r->lead_in && r->may_seek && clip->from_us > r->part->start_us;
  if (seek)
    {
      position = origin_pts + (GstClockTime) (clip->from_us - r->part->start_us) * 1000;
      seek = gst_element_seek (r->pipeline, 1.0, GST_FORMAT_TIME,
                               GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_KEY_UNIT | GST_SEEK_FLAG_SNAP_BEFORE,
                               GST_SEEK_TYPE_SET, position, GST_SEEK_TYPE_NONE, GST_CLOCK_TIME_NONE);
      if (!seek)
        GST_INFO ("%s: cannot seek, reading from the start", r->part->path);
    }
  g_mutex_lock (&clip->lock);
  /* A seek that failed after flushing lost the frames before it. */
  *seek_failed = !seek && r->flushing;
  r->go = TRUE;
  g_cond_broadcast (&clip->cond);
  g_mutex_unlock (&clip->lock);
  return TRUE;
}

typedef enum { PART_READ, PART_END_OF_CLIP, PART_RETRY } PartOutcome;

/* Reads one part to its end (or to to_us) into the muxer. */
static gboolean
clip_read_part (Clip *clip, Reader *r, const gchar *mp4_name, PartOutcome *outcome, GError **error)
{
  *outcome = PART_READ;
  if (gst_element_set_state (r->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      g_autoptr(GstMessage) message = gst_bus_pop_filtered (r->bus, GST_MESSAGE_ERROR);

      if (message != NULL)
        set_error_from_message (error, message, r->part->path);
      else
        g_set_error (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_FAILED, "%s: cannot read", r->part->path);
      return FALSE;
    }

  for (;;)
    {
      g_autoptr(GstMessage) message = gst_bus_timed_pop_filtered (r->bus, POLL_INTERVAL,
                                                                GST_MESSAGE_EOS | GST_MESSAGE_ERROR
                                                                | GST_MESSAGE_APPLICATION);
      const GstStructure *s;

      if (!clip_check_mux (clip, mp4_name, error) || !clip_tick (clip, clip_mux_fraction (clip), error))
        return FALSE;
      if (!clip_check_audio (clip, r->part->path, error))
        return FALSE;
      if (message == NULL)
        continue;
      clip->last_activity_us = g_get_monotonic_time ();

      switch (GST_MESSAGE_TYPE (message))
        {
        case GST_MESSAGE_EOS:
          return TRUE;

        case GST_MESSAGE_ERROR:
          {
            g_autoptr(GError) gst_error = NULL;

            gst_message_parse_error (message, &gst_error, NULL);
            /* Like recovery (vigil-segment-probe.c): a demuxer error after
             * good frames means a file cut by a crash; what came before
             * it is still good video. A read error is not that. */
            if (r->frames > 0 && gst_error->domain == GST_STREAM_ERROR)
              {
                GST_WARNING ("%s: ends early (%s); keeping its %" G_GUINT64_FORMAT " frames",
                             r->part->path, gst_error->message, r->frames);
                return TRUE;
              }
            set_error_from_message (error, message, r->part->path);
            return FALSE;
          }

        case GST_MESSAGE_APPLICATION:
          s = gst_message_get_structure (message);
          if (gst_structure_has_name (s, "vigil-clip-ready"))
            {
              gboolean seek_failed = FALSE;

              if (!clip_on_reader_ready (clip, r, mp4_name, &seek_failed, error))
                return FALSE;
              if (seek_failed)
                {
                  *outcome = PART_RETRY;
                  return TRUE;
                }
            }
          else if (gst_structure_has_name (s, "vigil-clip-reseek"))
            {
              *outcome = PART_RETRY;
              return TRUE;
            }
          else if (gst_structure_has_name (s, "vigil-clip-end"))
            {
              *outcome = PART_END_OF_CLIP;
              return TRUE;
            }
          else if (gst_structure_has_name (s, "vigil-clip-mux-stopped"))
            {
              /* The muxer refused data: its bus has the error, or soon will. */
              g_autoptr(GstMessage) mux_error = gst_bus_timed_pop_filtered (clip->mux_bus, GST_SECOND,
                                                                           GST_MESSAGE_ERROR);

              if (mux_error != NULL)
                set_error_from_message (error, mux_error, mp4_name);
              else
                g_set_error (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_FAILED, "%s: the muxer stopped", mp4_name);
              return FALSE;
            }
          break;

        default:
          break;
        }
    }
}

/* Waits for @bus to post EOS, polling for cancellation. */
static gboolean
clip_wait_eos (Clip *clip, GstBus *bus, const gchar *what, gdouble fraction, GError **error)
{
  /* Nothing is read any more: the stall clock runs from here. */
  clip->last_activity_us = g_get_monotonic_time ();
  for (;;)
    {
      g_autoptr(GstMessage) message = gst_bus_timed_pop_filtered (bus, POLL_INTERVAL,
                                                                GST_MESSAGE_EOS | GST_MESSAGE_ERROR);

      if (message != NULL && GST_MESSAGE_TYPE (message) == GST_MESSAGE_EOS)
        return TRUE;
      if (message != NULL)
        {
          set_error_from_message (error, message, what);
          return FALSE;
        }
      if (!clip_tick (clip, fraction, error))
        return FALSE;
    }
}

static GstTagList *
clip_tags (Clip *clip)
{
  gchar first[40], end[40];
  g_autofree gchar *comment = NULL;
  g_autoptr(GstDateTime) created = NULL;
  g_autoptr(GDate) day = NULL;
  time_t seconds = (time_t) floor_div (clip->first_frame_us, G_USEC_PER_SEC);
  struct tm tm;

  gmtime_r (&seconds, &tm);
  created = gst_date_time_new (0.0, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                               tm.tm_sec + (gdouble) (clip->first_frame_us - (gint64) seconds * G_USEC_PER_SEC)
                                             / G_USEC_PER_SEC);
  day = g_date_new_dmy (tm.tm_mday, tm.tm_mon + 1, tm.tm_year + 1900);
  format_utc (clip->first_frame_us, TRUE, first, sizeof first);
  format_utc (clip->end_us, TRUE, end, sizeof end);
  comment = g_strdup_printf ("Recorded %s to %s (UTC, first frame to end of last); "
                             "breaks in recording are left out of the timeline", first, end);
  return gst_tag_list_new (GST_TAG_DATE_TIME, created, GST_TAG_DATE, day, GST_TAG_TITLE, first, GST_TAG_COMMENT, comment,
                           GST_TAG_ENCODER, "vigil " VIGIL_VERSION, NULL);
}

/* Ends the muxer's streams and waits for the file to be finished. */
static gboolean
clip_finish_mux (Clip *clip, const gchar *mp4_name, GError **error)
{
  g_autoptr(GstTagList) tags = clip_tags (clip);

  clip_close_cue (clip, clip->video_end);
  /* mp4mux reads its tag setter when it writes the moov, at EOS. */
  gst_tag_setter_merge_tags (GST_TAG_SETTER (clip->muxer), tags, GST_TAG_MERGE_REPLACE);
  for (guint t = 0; t < N_TRACKS; t++)
    if (clip->src[t] != NULL)
      gst_app_src_end_of_stream (GST_APP_SRC (clip->src[t]));
  if (!clip_wait_eos (clip, clip->mux_bus, mp4_name, MUX_SHARE, error))
    return FALSE;
  gst_element_set_state (clip->mux_pipeline, GST_STATE_NULL);
  return TRUE;
}

/* Starts decoding the clip's first frame (a keyframe, kept from muxing)
 * to JPEG; it runs while the rest of the clip is muxed. */
static gboolean
clip_start_jpeg (Clip *clip, const gchar *jpeg_name, GError **error)
{
  g_autoptr(GError) parse_error = NULL;
  g_autoptr(GstElement) src = NULL;
  g_autoptr(GstElement) sink = NULL;

  clip->jpeg_pipeline = gst_parse_launch_full ("appsrc name=src format=time ! decodebin ! videoconvert ! jpegenc "
                                               "! fdsink name=sink sync=false", NULL, GST_PARSE_FLAG_FATAL_ERRORS,
                                               &parse_error);
  if (clip->jpeg_pipeline == NULL)
    {
      g_set_error (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_FAILED, "%s: cannot build the decoder: %s",
                   jpeg_name, parse_error->message);
      return FALSE;
    }
  src = gst_bin_get_by_name (GST_BIN (clip->jpeg_pipeline), "src");
  sink = gst_bin_get_by_name (GST_BIN (clip->jpeg_pipeline), "sink");
  clip->jpeg_bus = gst_element_get_bus (clip->jpeg_pipeline);
  g_object_set (src, "caps", clip->caps[TRACK_VIDEO], NULL);
  g_object_set (sink, "fd", clip->jpeg_fd, NULL);
  clip->jpeg_started = TRUE;
  if (gst_element_set_state (clip->jpeg_pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      g_autoptr(GstMessage) message = gst_bus_pop_filtered (clip->jpeg_bus, GST_MESSAGE_ERROR);

      if (message != NULL)
        set_error_from_message (error, message, jpeg_name);
      else
        g_set_error (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_FAILED, "%s: cannot start the decoder", jpeg_name);
      return FALSE;
    }
  /* The clip keeps its reference; appsrc takes the one given here. */
  gst_app_src_push_buffer (GST_APP_SRC (src), gst_buffer_ref (clip->first_frame));
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  return TRUE;
}

static gboolean
clip_finish_jpeg (Clip *clip, const gchar *jpeg_name, GError **error)
{
  if (!clip_wait_eos (clip, clip->jpeg_bus, jpeg_name, 1.0, error))
    return FALSE;
  gst_element_set_state (clip->jpeg_pipeline, GST_STATE_NULL);
  return TRUE;
}

static void
clip_clear (Clip *clip)
{
  if (clip->mux_pipeline != NULL)
    gst_element_set_state (clip->mux_pipeline, GST_STATE_NULL);
  if (clip->jpeg_pipeline != NULL)
    gst_element_set_state (clip->jpeg_pipeline, GST_STATE_NULL);
  g_clear_object (&clip->jpeg_bus);
  g_clear_object (&clip->jpeg_pipeline);
  for (guint t = 0; t < N_TRACKS; t++)
    g_clear_object (&clip->src[t]);
  for (guint t = 0; t < TRACK_TEXT; t++)
    g_clear_pointer (&clip->caps[t], gst_caps_unref);
  g_clear_object (&clip->muxer);
  g_clear_object (&clip->mux_bus);
  g_clear_object (&clip->mux_pipeline);
  g_clear_pointer (&clip->first_frame, gst_buffer_unref);
  g_mutex_clear (&clip->lock);
  g_cond_clear (&clip->cond);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Clip, clip_clear)

static void
on_move_progress (gdouble fraction, gpointer user_data)
{
  Clip *clip = user_data;
  g_autoptr(GError) ignored = NULL;

  /* Cancellation is checked by the mover itself. */
  clip->last_activity_us = g_get_monotonic_time ();
  clip_tick (clip, MUX_SHARE + (1.0 - MUX_SHARE) * fraction, &ignored);
}

static gboolean
clip_write (Clip *clip, const VigilClipPart *parts, guint n_parts, const gchar *mp4_name,
            const gchar *jpeg_name, VigilClipResult *result, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  guint n_used = 0;

  for (guint i = 0; i < n_parts && !clip->reached_end; i++)
    {
      gboolean may_seek = TRUE;
      PartOutcome outcome;

      do
        {
          g_autoptr(Reader) r = reader_new (clip, &parts[i], clip->video_frames == 0, may_seek, error);

          if (r == NULL)
            return FALSE;
          clip->out_base = clip->video_end;
          if (!clip_read_part (clip, r, mp4_name, &outcome, error))
            {
              /* The reader's thread may wait in a full appsrc: stopping
               * the muxer first lets it out before the reader stops. */
              if (clip->mux_pipeline != NULL)
                gst_element_set_state (clip->mux_pipeline, GST_STATE_NULL);
              return FALSE;
            }
          /* Stop the reader before touching what its thread wrote. */
          g_mutex_lock (&clip->lock);
          r->abort = TRUE;
          g_cond_broadcast (&clip->cond);
          g_mutex_unlock (&clip->lock);
          gst_element_set_state (r->pipeline, GST_STATE_NULL);
          if (outcome == PART_RETRY || r->seek_missed)
            {
              if (!may_seek)
                {
                  g_set_error (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_FAILED,
                               "%s: reading without seeking went wrong", parts[i].path);
                  return FALSE;
                }
              /* Nothing went out from this reader: start over without seeking. */
              g_assert (r->frames == 0);
              may_seek = FALSE;
              outcome = PART_RETRY;
              continue;
            }
          /* The part ended before a frame at or after from_us: its last
           * GOP is what shows at from_us. */
          if (r->phase == READ_LEAD_IN && r->held[TRACK_VIDEO]->len > 0)
            reader_release_held (r);
          if (r->frames > 0)
            n_used++;
          if (clip->first_frame != NULL && clip->jpeg_pipeline == NULL
              && !clip_start_jpeg (clip, jpeg_name, error))
            return FALSE;
          GST_DEBUG ("%s: %" G_GUINT64_FORMAT " frames, output now %" GST_TIME_FORMAT, parts[i].path,
                     r->frames, GST_TIME_ARGS (clip->video_end));
        }
      while (outcome == PART_RETRY);
    }

  if (clip->video_frames == 0)
    {
      g_set_error (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_NO_VIDEO, "no video frame recorded in the range");
      return FALSE;
    }
  if (!clip_finish_mux (clip, mp4_name, error))
    return FALSE;
  /* mp4mux 1.22 stamps mvhd, tkhd and mdhd with the time of muxing and
   * writes GST_TAG_DATE_TIME only into XMP; players show the creation
   * time as when the video was recorded, as cameras write it. The
   * modification time stays the time of the export. */
  if (!vigil_mp4_move_moov_to_front_fd (clip->mp4_fd, mp4_name, clip->first_frame_us, FALSE, on_move_progress, clip,
                                        clip->cancellable, &local_error))
    {
      /* Cancellation stays G_IO_ERROR_CANCELLED (see the header). */
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_propagate_error (error, g_steal_pointer (&local_error));
      else
        g_set_error_literal (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_FAILED, local_error->message);
      return FALSE;
    }
  if (!clip_finish_jpeg (clip, jpeg_name, error))
    return FALSE;

  if (result != NULL)
    {
      result->first_frame_us = clip->first_frame_us;
      result->end_us = clip->end_us;
      result->video_frames = clip->video_frames;
      result->duration_ns = clip->video_end;
      result->has_audio = clip->audio_buffers > 0;
      result->audio_transcoded = result->has_audio && clip->audio_transcoded;
      result->n_parts_used = n_used;
    }
  if (clip->progress != NULL)
    clip->progress (1.0, clip->user_data);
  GST_INFO ("%s: %" G_GUINT64_FORMAT " frames, %" GST_TIME_FORMAT " from %u parts", mp4_name,
            clip->video_frames, GST_TIME_ARGS (clip->video_end), n_used);
  return TRUE;
}

/* Empties @output and puts its offset at 0, where fdsink starts writing
 * and from where mp4mux's byte offsets count. */
static gboolean
output_reset (const VigilClipOutput *output, GError **error)
{
  if (ftruncate (output->fd, 0) == 0 && lseek (output->fd, 0, SEEK_SET) == 0)
    return TRUE;
  {
    int saved = errno;
    g_set_error (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_FAILED, "%s: cannot empty it: %s", output->name,
                 g_strerror (saved));
  }
  return FALSE;
}

gboolean
vigil_clip_write (const VigilClipPart *parts, guint n_parts, gint64 from_us, gint64 to_us,
                  const VigilClipOutput *mp4, const VigilClipOutput *jpeg, VigilClipProgressFunc progress,
                  gpointer user_data, GCancellable *cancellable, VigilClipResult *result, GError **error)
{
  g_auto(Clip) clip = { 0, };
  g_autoptr(GError) local_error = NULL;
  guint first = n_parts, end = 0;

  static gsize debug_initialised = 0;
  if (g_once_init_enter (&debug_initialised))
    {
      GST_DEBUG_CATEGORY_INIT (vigil_clip_debug, "vigil-clip", 0, "vigil clip export");
      g_once_init_leave (&debug_initialised, 1);
    }

  g_return_val_if_fail (parts != NULL || n_parts == 0, FALSE);
  g_return_val_if_fail (mp4 != NULL && mp4->fd >= 0 && mp4->name != NULL, FALSE);
  g_return_val_if_fail (jpeg != NULL && jpeg->fd >= 0 && jpeg->name != NULL, FALSE);
  g_return_val_if_fail (mp4->fd != jpeg->fd, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  for (guint i = 1; i < n_parts; i++)
    g_return_val_if_fail (parts[i].start_us >= parts[i - 1].end_us, FALSE);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;

  /* The parts that overlap [from_us, to_us), by the catalog. */
  for (guint i = 0; i < n_parts; i++)
    if (parts[i].end_us > from_us && parts[i].start_us < to_us)
      {
        first = MIN (first, i);
        end = i + 1;
      }
  if (from_us >= to_us || first >= end)
    {
      g_set_error (error, VIGIL_CLIP_ERROR, VIGIL_CLIP_ERROR_NO_VIDEO, "no recording between %" G_GINT64_FORMAT
                   " and %" G_GINT64_FORMAT " µs", from_us, to_us);
      return FALSE;
    }
  if (!output_reset (mp4, error) || !output_reset (jpeg, error))
    return FALSE;

  g_mutex_init (&clip.lock);
  g_cond_init (&clip.cond);
  clip.from_us = from_us;
  clip.to_us = to_us;
  clip.cancellable = cancellable;
  clip.progress = progress;
  clip.user_data = user_data;
  clip.mp4_fd = mp4->fd;
  clip.jpeg_fd = jpeg->fd;
  clip.last_activity_us = g_get_monotonic_time ();
  clip.first_frame_us = clip.end_us = G_MININT64;
  for (guint i = first; i < end; i++)
    clip.expected_ns += (gdouble) (MIN (parts[i].end_us, to_us) - MAX (parts[i].start_us, from_us)) * 1000;
  GST_INFO ("%s: [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ") from parts %u..%u", mp4->name, from_us, to_us,
            first, end - 1);

  if (clip_write (&clip, parts + first, end - first, mp4->name, jpeg->name, result, &local_error))
    return TRUE;

  /* Stop the pipelines before emptying what they write. The names are
   * the caller's to remove: no output is ever opened by path here. */
  if (clip.mux_pipeline != NULL)
    gst_element_set_state (clip.mux_pipeline, GST_STATE_NULL);
  if (clip.jpeg_pipeline != NULL)
    gst_element_set_state (clip.jpeg_pipeline, GST_STATE_NULL);
  if (clip.mp4_started && ftruncate (mp4->fd, 0) != 0)
    GST_WARNING ("%s: cannot empty it: %s", mp4->name, g_strerror (errno));
  if (clip.jpeg_started && ftruncate (jpeg->fd, 0) != 0)
    GST_WARNING ("%s: cannot empty it: %s", jpeg->name, g_strerror (errno));
  g_propagate_error (error, g_steal_pointer (&local_error));
  return FALSE;
}
