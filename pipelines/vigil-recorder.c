/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilRecorder: one camera, one pipeline per run, one file per segment.
 *
 * Threads. The main thread builds and starts the pipeline, handles the
 * bus and emits every signal. The RTSP source's streaming threads run
 * on_source_pad_added, link_stream and on_video_pad_probe (once per frame: counts,
 * no allocation, takes self->lock only on keyframes). splitmuxsink's
 * output thread runs on_splitmux_format_location (once per segment).
 * Worker threads (GTask) send the final EOS, fsync closed files and set
 * the pipeline to NULL, because each of those can block on the disk or
 * the network and the main loop must not.
 *
 * Frame health. The video probe hands a keyframe now and then (a copy of
 * its metadata; the data is shared) with its caps to a VigilHealthPool,
 * whose few decoders serve every camera of the process, and which posts
 * each result on the recording pipeline's bus. Handing over never waits:
 * the pool keeps at most one keyframe per camera and skips what it has no
 * time for, and a keyframe it cannot judge is logged (once a minute) and
 * never ends the run. A decoder of its own per camera cost about 20 MiB at
 * 1080p, to decode one keyframe a second.
 *
 * Which keyframes. A picture that has been healthy for CALM_SAMPLES samples
 * in a row (no verdict, not learning, no unchanged sample) is looked at
 * every calm interval (6 s unless configured: the keyframe nearest to it,
 * so a 4 s GOP gives 4 s, not 8 s); anything suspect brings it back to the
 * configured interval (1 s: every keyframe of a GOP of 1 s or more) at the
 * next result. With 1, 2 and 4 s GOPs that gives a black or white verdict
 * within 6 s of the fault and a frozen one (three unchanged samples in a
 * row, after the changed one that first shows it) within 16 s, before the
 * alert's own 10 s: below 30 s even when nothing else gives it away.
 * Something often does, for free: the probe sees every frame's size, and a
 * VigilGopWatch compares each GOP with the camera's running norm. A tiny
 * keyframe (a clean white, black or covered picture) is judged at once;
 * near-empty delta frames (an encoder stuck on one picture) get their
 * GOP's keyframe, held by reference until then, judged at once, and the
 * interval stays short while the GOPs stay collapsed.
 * docs/design/health.md has the figures.
 *
 * Frame health from a sub-stream. With a health URL (an ONVIF camera's
 * second profile, or sub_url=), once the recording's video is linked the
 * run opens a second connection to that small stream: its own pipeline,
 * vigilrtspsrc → parser → fakesink, whose probe picks keyframes as above
 * and hands them to the same pool. Decoding 640x360 instead of 1080p
 * keyframes costs a fraction of the CPU. Should that pipeline fail or end,
 * or bring no frame for 15 s, the run says so once and judges the main
 * stream's keyframes instead: a camera must not go unwatched because its
 * second stream is broken.
 *
 * Time. The probe anchors a VigilRunClock at the run's first keyframe and
 * stores, for every keyframe, its running time, wall clock and the frame
 * counts before it in a ring. Segments start on keyframes, so when
 * splitmuxsink opens a segment its first buffer's running time finds the
 * ring entry that gives the segment's wall-clock start, and the end of
 * the segment before it: consecutive segments of a run meet exactly. */
#include "vigil-recorder.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "vigil-fsync.h"
#include "vigil-text.h"
#include "vigil-rtsp-refusal.h"
#include "vigil-rtsp-source.h"
#include "vigil-gop-watch.h"
#include "vigil-run-clock.h"

GST_DEBUG_CATEGORY_STATIC (vigil_recorder_debug);
#define GST_CAT_DEFAULT vigil_recorder_debug

G_DEFINE_QUARK (vigil-pipeline-error-quark, vigil_pipeline_error)

/* Keyframes remembered for segment boundaries. Lookups are always for a
 * keyframe at most one GOP plus splitmuxsink's queue behind the newest. */
#define KEYFRAME_RING_SIZE 512
/* How long a finalising run may take to write its last segment before the
 * pipeline is torn down regardless (SIGTERM must finish within 5 s). */
#define FINALISE_TIMEOUT_MS 3500
/* A keyframe goes to frame health when at least the interval less this
 * has passed since the last one, so that timestamp jitter does not turn a
 * GOP as long as the interval into every other keyframe. */
#define HEALTH_SLACK (50 * GST_MSECOND)
/* A picture is "calm", looked at every calm interval rather than every
 * interval, after this many healthy samples in a row: no verdict, not
 * learning, nothing unchanged. */
#define CALM_SAMPLES 5
/* The calm interval unless configured; docs/design/health.md has why. */
#define DEFAULT_CALM_INTERVAL (6 * GST_SECOND)
/* Keyframes that cannot be judged are logged at most this often. */
#define HEALTH_ERROR_LOG_US (60 * G_USEC_PER_SEC)
/* A sub-stream that brings no frame for this long is given up for the run
 * (vigilrtspsrc times out requests, not a quiet stream). */
#define SUB_STREAM_QUIET_US (15 * G_USEC_PER_SEC)

typedef struct {
  GstClockTime  running_time;
  gint64        wall_us;
  guint64       frames_before, keyframes_before;   /* counts of the run before this keyframe */
} KeyframeMark;

typedef struct {                  /* a segment splitmuxsink has opened */
  gchar        *location;         /* absolute; matches the fragment-closed message */
  gchar        *path;             /* relative to root */
  KeyframeMark  start;
  gboolean      has_end;
  KeyframeMark  end;              /* first keyframe of the next segment */
  gboolean      closed;           /* splitmuxsink has finished the file */
  gboolean      failed;           /* reported by ::segment-failed (main thread) */
} Fragment;

/* Which keyframes of one stream frame health looks at; see the top of the
 * file. That stream's streaming thread only. */
typedef struct {
  VigilGopWatch  watch;
  GstClockTime   last_rt;          /* stream time of the last keyframe handed over */
  GstClockTime   last_key_rt;      /* of the last keyframe */
  GstClockTime   gop;              /* between the last two keyframes; NONE before */
  GstBuffer     *held;             /* the GOP's keyframe while not handed over, until its
                                    * first delta frames are seen */
  GstClockTime   held_rt;
  gint64         held_wall_us;
} Sampler;

/* The sub-stream connection of one run, whose keyframes frame health judges
 * instead of the recording's. Created on the streaming thread that links
 * the video, freed by the teardown worker once the recording pipeline has
 * stopped, before the recorder. */
typedef struct {
  GstElement       *pipeline;     /* its own: vigilrtspsrc → parser → fakesink */
  VigilRecorder    *recorder;     /* not a reference: the recorder outlives the branch */
  GstBus           *bus;          /* the recording pipeline's: results go there */
  gchar            *camera;       /* for logs */
  gint              failed;       /* atomic; set once: the main stream is judged instead */
  gboolean          video_linked; /* its streaming thread only */
  GstPad           *frames_pad;   /* where its parsed frames are probed; set before any */
  GstSegment        segment;      /* of its frames; its streaming thread only */
  GstCaps          *caps;         /* of its frames; its streaming thread only */
  Sampler           sampler;      /* its streaming thread only */
  gint64            alive_us;     /* atomic; monotonic time of its last frame, or of its start */
} HealthBranch;

typedef enum {
  STATE_IDLE,          /* no pipeline */
  STATE_RUNNING,       /* recording */
  STATE_FINALISING,    /* EOS sent, waiting for the last segment to close */
  STATE_TEARING_DOWN,  /* pipeline going to NULL, or closed files still being fsync'ed */
} RecorderState;

struct _VigilRecorder
{
  GObject        parent_instance;

  /* Configuration, immutable after construction. */
  gchar         *camera, *url, *user, *password, *root;
  gboolean       use_udp, use_rtspsrc, allow_basic_auth;
  gboolean       force_rtspsrc;       /* asked for, or UDP: whatever the URL */
  GstClockTime   segment_duration, stall_timeout;
  VigilFrameHealth *health;           /* NULL when frame health is off; outlives runs */
  VigilHealthPool *health_pool;       /* decodes and judges; shared with other cameras */
  GstClockTime   health_interval;     /* between looks while anything is suspect */
  GstClockTime   health_calm_interval;  /* between looks at a picture healthy for a while */

  /* Main thread only. */
  RecorderState  state;
  GstElement    *pipeline;
  GstElement    *splitmux;
  guint          bus_watch_id;
  guint          stall_timer_id;
  guint          finalise_timer_id;
  gchar         *end_reason;
  guint          last_data_ticks;
  gint64         last_progress_us;    /* monotonic */
  GQueue         closing;             /* VigilClosedSegment waiting for fsync, oldest first */
  gboolean       fsync_busy;
  gboolean       teardown_done;
  gint64         end_wall_us;

  /* Written by the video probe for every frame, read by the stall timer. */
  guint          data_ticks;          /* atomic */
  /* Written per audio packet as it arrives from the camera, before any
   * queue, so a stalled muxer does not hide it; read by the stall timer
   * to tell "video missing while audio flows" from a dead stream. */
  guint          audio_ticks;         /* atomic */
  guint          last_audio_ticks;    /* main thread */
  gint64         last_audio_us;       /* main thread; monotonic, 0 before any audio */
  /* Frame health's results, main thread: healthy samples in a row, and
   * when a keyframe that could not be judged was last logged. */
  guint          calm_samples;
  gint64         health_error_logged_us;   /* monotonic, 0 for never */
  /* Set by the main thread, read by the streaming threads: the picture has
   * been healthy for CALM_SAMPLES samples in a row. */
  gint           health_calm;         /* atomic */

  /* Video probe's thread only. */
  GstSegment     video_segment;
  GstCaps       *video_caps;          /* of the run's first keyframe */
  gboolean       format_changed;      /* drop everything until the run ends */
  gboolean       seen_keyframe;
  guint64        frames, keyframes;
  GstClockTime   last_rt, last_frame_duration;
  Sampler        sampler;             /* the recording's keyframes for frame health */
  gboolean       health_on_main;      /* frame health judges them (no working sub-stream) */

  /* Audio probe's thread only (set up before its first buffer). */
  GstSegment     audio_segment;
  GstCaps       *audio_caps;

  VigilLiveFeed *live_feed, *live_sub_feed;   /* NULL for none; set once */

  GMutex         lock;
  /* Protected by lock. */
  VigilRunClock  clock;
  KeyframeMark   ring[KEYFRAME_RING_SIZE];
  guint          ring_next, ring_len;
  GQueue         fragments;           /* Fragment, opened and not yet closed */
  gboolean       has_final_mark;
  KeyframeMark   final_mark;          /* end of the last frame, set on EOS */
  gchar         *video_codec, *audio_codec;
  GstElement    *muxer;               /* reused for every segment of a run */
  GList         *source_pads;         /* vigilrtspsrc's pads until no-more-pads */
  HealthBranch  *sub_branch;          /* the run's sub-stream one, if any and until freed */
  gchar         *health_url;          /* NULL: the main stream's keyframes */
  /* The newest keyframe of this run (or of the last, until the next one
   * starts) for snapshots: a reference, not a copy, taken in the video
   * probe, with its caps and wall clock. */
  GstBuffer     *latest_keyframe;
  GstCaps       *latest_caps;
  gint64         latest_wall_us;
};

G_DEFINE_FINAL_TYPE (VigilRecorder, vigil_recorder, G_TYPE_OBJECT)

enum {
  SIGNAL_RUN_STARTED, SIGNAL_SEGMENT_OPENED, SIGNAL_SEGMENT_CLOSED, SIGNAL_RUN_ENDED, SIGNAL_FRAME_HEALTH,
  SIGNAL_CAMERA_CLOCK, SIGNAL_SEGMENT_FAILED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_BOXED_TYPE (VigilClosedSegment, vigil_closed_segment,
                     vigil_closed_segment_copy, vigil_closed_segment_free)

VigilClosedSegment *
vigil_closed_segment_copy (const VigilClosedSegment *segment)
{
  VigilClosedSegment *copy = g_memdup2 (segment, sizeof *segment);

  copy->path = g_strdup (segment->path);
  copy->codec = g_strdup (segment->codec);
  return copy;
}

void
vigil_closed_segment_free (VigilClosedSegment *segment)
{
  if (segment == NULL)
    return;
  g_free (segment->path);
  g_free (segment->codec);
  g_free (segment);
}

static void
fragment_free (Fragment *fragment)
{
  g_free (fragment->location);
  g_free (fragment->path);
  g_free (fragment);
}

/* ---- segment file names ---------------------------------------------- */

gchar *
vigil_segment_path_for (const gchar *camera, gint64 start_us)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (start_us / G_USEC_PER_SEC);
  g_autofree gchar *day = g_date_time_format (utc, "%Y/%m/%d");
  g_autofree gchar *stamp = g_date_time_format (utc, "%Y%m%dT%H%M%S");

  g_return_val_if_fail (utc != NULL, NULL);
  return g_strdup_printf ("%s/%s/%s.%03dZ.mkv", camera, day, stamp,
                          (gint) ((start_us % G_USEC_PER_SEC) / 1000));
}

gboolean
vigil_segment_path_parse (const gchar *relative_path, gchar **out_camera, gint64 *out_start_us)
{
  g_auto(GStrv) parts = g_strsplit (relative_path, "/", -1);
  gint year, month, day, hour, minute, second, millis;
  g_autoptr(GDateTime) utc = NULL;
  gchar tail[8] = "";

  if (g_strv_length (parts) != 5 || parts[0][0] == '\0')
    return FALSE;
  if (sscanf (parts[4], "%4d%2d%2dT%2d%2d%2d.%3dZ%7s", &year, &month, &day,
              &hour, &minute, &second, &millis, tail) != 8
      || strcmp (tail, ".mkv") != 0)
    return FALSE;
  utc = g_date_time_new_utc (year, month, day, hour, minute, second);
  if (utc == NULL)
    return FALSE;
  *out_camera = g_strdup (parts[0]);
  *out_start_us = g_date_time_to_unix (utc) * G_USEC_PER_SEC + millis * 1000;
  return TRUE;
}

/* ---- streaming threads ------------------------------------------------ */

/* Called with self->lock held. The newest mark at or before @rt. */
static const KeyframeMark *
find_mark (VigilRecorder *self, GstClockTime rt)
{
  for (guint i = 0; i < self->ring_len; i++)
    {
      const KeyframeMark *mark = &self->ring[(self->ring_next + KEYFRAME_RING_SIZE - 1 - i) % KEYFRAME_RING_SIZE];

      if (mark->running_time <= rt)
        return mark;
    }
  return NULL;
}

static void
post_application_message (VigilRecorder *self, GstStructure *structure)
{
  /* The bus keeps messages in order, so these reach the main thread
   * interleaved correctly with splitmuxsink's own fragment messages. */
  gst_element_post_message (self->pipeline,
                            gst_message_new_application (GST_OBJECT (self->pipeline), structure));
}

/* ---- frame health ---------------------------------------------------- */

/* Main thread, per result: a picture healthy for CALM_SAMPLES samples in a
 * row is looked at less often; anything suspect brings the interval back
 * at once. */
static void
note_sample (VigilRecorder *self, const VigilFrameSample *sample)
{
  if (sample->verdicts == VIGIL_FRAME_VERDICT_NONE && !sample->is_learning && sample->unchanged_samples == 0)
    self->calm_samples = MIN (self->calm_samples + 1, CALM_SAMPLES);
  else
    self->calm_samples = 0;
  g_atomic_int_set (&self->health_calm, self->calm_samples >= CALM_SAMPLES);
}

/* Reports why the sub-stream branch stopped, once; the main stream's
 * keyframes take over. Runs on any thread. */
static void
health_branch_fail (HealthBranch *branch, const gchar *reason)
{
  if (!g_atomic_int_compare_and_exchange (&branch->failed, FALSE, TRUE))
    return;
  gst_bus_post (branch->bus, gst_message_new_application (NULL, gst_structure_new ("vigil-frame-health-failed",
                                                                                    "reason", G_TYPE_STRING, reason,
                                                                                    "sub-stream", G_TYPE_BOOLEAN,
                                                                                    TRUE, NULL)));
}

/* Runs on whichever thread posts to the branch's own bus. Nothing there is
 * for the main thread except an error or the end, which end the branch. */
static GstBusSyncReply
on_health_bus_sync (GstBus *bus, GstMessage *message, gpointer user_data)
{
  HealthBranch *branch = user_data;

  if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR)
    {
      g_autoptr(GError) error = NULL;
      g_autofree gchar *debug = NULL;

      gst_message_parse_error (message, &error, &debug);
      GST_DEBUG_OBJECT (GST_MESSAGE_SRC (message), "camera %s: frame health: %s (%s)", branch->camera,
                        error->message, GST_STR_NULL (debug));
      health_branch_fail (branch, error->message);
    }
  else if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_EOS)
    health_branch_fail (branch, "the camera ended the stream");
  /* A sync handler that drops a message owns it. */
  gst_message_unref (message);
  return GST_BUS_DROP;
}

static gboolean choose_chain (const GstStructure *s, const gchar **depay, const gchar **parse,
                              const gchar **codec);

static void
sampler_init (Sampler *sampler)
{
  vigil_gop_watch_init (&sampler->watch);
  sampler->last_rt = sampler->last_key_rt = sampler->gop = GST_CLOCK_TIME_NONE;
  gst_clear_buffer (&sampler->held);
}

/* Whether the keyframe at @rt is due for a look, @sampler's stream time. A
 * picture healthy for a while is looked at every calm_interval, taking the
 * keyframe nearest to it (so that a 4 s GOP with a 6 s interval gives 4 s,
 * not 8 s); one with anything suspect every health_interval. */
static gboolean
sampler_is_due (VigilRecorder *self, const Sampler *sampler, GstClockTime rt)
{
  gboolean calm = g_atomic_int_get (&self->health_calm) && !vigil_gop_watch_is_suspect (&sampler->watch);

  if (!GST_CLOCK_TIME_IS_VALID (sampler->last_rt))
    return TRUE;
  if (calm)
    return rt + (GST_CLOCK_TIME_IS_VALID (sampler->gop) ? sampler->gop / 2 : HEALTH_SLACK)
           >= sampler->last_rt + self->health_calm_interval;
  return rt + HEALTH_SLACK >= sampler->last_rt + self->health_interval;
}

/* Runs on a streaming thread: hands @keyframe to the pool, the sub-stream's
 * when @branch is not NULL, else the recording's. */
static void
submit_keyframe (VigilRecorder *self, HealthBranch *branch, GstBuffer *keyframe, gint64 wall_us)
{
  g_autoptr(GstCaps) caps = branch != NULL ? gst_pad_get_current_caps (branch->frames_pad)
                                           : gst_caps_ref (self->video_caps);
  g_autoptr(GstBus) bus = branch != NULL ? gst_object_ref (branch->bus) : gst_element_get_bus (self->pipeline);
  g_autoptr(GstSample) sample = NULL;

  if (caps == NULL)
    return;
  sample = gst_sample_new (keyframe, caps, NULL, NULL);
  vigil_health_pool_submit (self->health_pool, self->health, self->camera, sample, wall_us, bus);
}

/* Runs on a stream's thread for each of its frames, in decoding order (an
 * allocation only for a keyframe handed over): keeps @sampler's GOP watch
 * and hands a keyframe to the pool when it is due, or at once when the
 * frame sizes look like a fault. @wall_us is the keyframe's wall clock (any
 * value for delta frames), @rt its stream time. */
static void
sampler_observe (VigilRecorder *self, Sampler *sampler, HealthBranch *branch, GstBuffer *buffer, GstClockTime rt,
                 gint64 wall_us)
{
  gboolean is_key = !GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  VigilGopSignal signal = vigil_gop_watch_observe (&sampler->watch, gst_buffer_get_size (buffer), is_key);

  if (!is_key)
    {
      /* Near-empty delta frames: the GOP's keyframe, not looked at yet,
       * shows what the encoder is stuck on. */
      if (signal == VIGIL_GOP_SIGNAL_EMPTY_DELTAS && sampler->held != NULL)
        {
          GST_DEBUG ("camera %s: near-empty delta frames: judging their keyframe now", self->camera);
          submit_keyframe (self, branch, sampler->held, sampler->held_wall_us);
          sampler->last_rt = sampler->held_rt;
        }
      /* Judged or not, the GOP's keyframe is no longer needed. */
      if (sampler->watch.deltas >= VIGIL_GOP_WATCH_DELTAS)
        gst_clear_buffer (&sampler->held);
      return;
    }
  if (GST_CLOCK_TIME_IS_VALID (sampler->last_key_rt) && rt > sampler->last_key_rt)
    sampler->gop = rt - sampler->last_key_rt;
  sampler->last_key_rt = rt;
  gst_clear_buffer (&sampler->held);
  if (signal == VIGIL_GOP_SIGNAL_SMALL_KEYFRAME || sampler_is_due (self, sampler, rt))
    {
      if (signal == VIGIL_GOP_SIGNAL_SMALL_KEYFRAME)
        GST_DEBUG ("camera %s: small keyframe: judging it now", self->camera);
      submit_keyframe (self, branch, buffer, wall_us);
      sampler->last_rt = rt;
      return;
    }
  /* Kept (a reference, no copy) until the GOP's first delta frames have
   * been seen. */
  sampler->held = gst_buffer_ref (buffer);
  sampler->held_rt = rt;
  sampler->held_wall_us = wall_us;
}

/* Runs on the sub-stream's streaming thread, once per frame after the
 * parser: its keyframes go to the pool (see sampler_observe()), their wall
 * clock that of their arrival. Nothing goes further. */
static GstPadProbeReturn
on_sub_frame_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  HealthBranch *branch = user_data;
  VigilRecorder *self = branch->recorder;
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  gint64 wall_us = 0;

  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM)
    {
      GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

      if (GST_EVENT_TYPE (event) == GST_EVENT_SEGMENT)
        gst_event_copy_segment (event, &branch->segment);
      else if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS)
        {
          GstCaps *caps;

          gst_event_parse_caps (event, &caps);
          gst_caps_replace (&branch->caps, caps);
        }
      return GST_PAD_PROBE_OK;
    }
  __atomic_store_n (&branch->alive_us, g_get_monotonic_time (), __ATOMIC_RELAXED);
  if (self->live_sub_feed != NULL)
    vigil_live_feed_push_video (self->live_sub_feed, branch->caps, buffer,
                                gst_segment_to_running_time (&branch->segment, GST_FORMAT_TIME,
                                                             GST_BUFFER_PTS_IS_VALID (buffer)
                                                               ? GST_BUFFER_PTS (buffer)
                                                               : GST_BUFFER_DTS (buffer)));
  if (g_atomic_int_get (&branch->failed))
    return GST_PAD_PROBE_DROP;
  if (!GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT))
    wall_us = g_get_real_time ();
  sampler_observe (self, &branch->sampler, branch, buffer, (GstClockTime) wall_us * GST_USECOND, wall_us);
  return GST_PAD_PROBE_DROP;
}

/* Runs on the sub-stream source's thread, before any data: the first video
 * stream goes through its parser to the pool, everything else is
 * discarded. */
static void
on_sub_pad_added (GstElement *source, GstPad *pad, gpointer user_data)
{
  HealthBranch *branch = user_data;
  g_autoptr(GstCaps) caps = gst_pad_query_caps (pad, NULL);
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  const gchar *depay, *parse, *codec;
  g_autoptr(GstElement) bin = NULL;
  g_autoptr(GstPad) sink_pad = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GstElement) sink = NULL;
  g_autofree gchar *description = NULL;

  if (!branch->video_linked && choose_chain (s, &depay, &parse, &codec) && depay == NULL)
    {
      /* config-interval=-1: parameter sets with every keyframe, which the
       * shared decoder needs since it sees nothing in between. */
      description = g_strdup_printf ("%s config-interval=-1 ! fakesink name=sink sync=false async=false", parse);
      bin = gst_parse_bin_from_description_full (description, TRUE, NULL, GST_PARSE_FLAG_FATAL_ERRORS, &error);
      if (bin == NULL)
        {
          health_branch_fail (branch, error->message);
          return;
        }
      gst_object_ref_sink (bin);
      branch->video_linked = TRUE;
      sink = gst_bin_get_by_name (GST_BIN (bin), "sink");
      branch->frames_pad = gst_element_get_static_pad (sink, "sink");
      gst_segment_init (&branch->segment, GST_FORMAT_TIME);
      gst_pad_add_probe (branch->frames_pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                         on_sub_frame_probe, branch, NULL);
    }
  else
    {
      bin = gst_element_factory_make ("fakesink", NULL);
      g_object_set (bin, "sync", FALSE, "async", FALSE, NULL);
      gst_object_ref_sink (bin);
    }
  gst_bin_add (GST_BIN (branch->pipeline), bin);
  sink_pad = gst_element_get_static_pad (bin, "sink");
  if (gst_pad_link (pad, sink_pad) != GST_PAD_LINK_OK)
    health_branch_fail (branch, "cannot link the sub-stream");
  gst_element_sync_state_with_parent (bin);
}

/* Runs on the streaming thread that links the recording's video: starts
 * the run's connection to the sub-stream. vigilrtspsrc connects on a
 * thread of its own, so this returns at once. */
static HealthBranch *
sub_branch_new (VigilRecorder *self, const gchar *url)
{
  GstElement *source;
  HealthBranch *branch = g_new0 (HealthBranch, 1);
  g_autoptr(GstBus) bus = NULL;

  vigil_rtsp_source_register ();
  source = gst_element_factory_make ("vigilrtspsrc", NULL);
  g_object_set (source, "location", url, "timeout", (guint64) (self->stall_timeout / GST_USECOND),
                "allow-basic-auth", self->allow_basic_auth, NULL);
  if (self->user != NULL)
    g_object_set (source, "user-id", self->user, "user-pw", self->password, NULL);

  branch->pipeline = gst_object_ref_sink (gst_pipeline_new (NULL));
  branch->recorder = self;
  branch->bus = gst_element_get_bus (self->pipeline);
  branch->camera = g_strdup (self->camera);
  branch->alive_us = g_get_monotonic_time ();
  sampler_init (&branch->sampler);
  bus = gst_element_get_bus (branch->pipeline);
  gst_bus_set_sync_handler (bus, on_health_bus_sync, branch, NULL);
  gst_bin_add (GST_BIN (branch->pipeline), source);
  g_signal_connect (source, "pad-added", G_CALLBACK (on_sub_pad_added), branch);
  if (gst_element_set_state (branch->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    health_branch_fail (branch, "cannot start the sub-stream");
  return branch;
}

/* Runs once nothing feeds the branch any more; its connection's teardown
 * may wait for the camera. */
static void
health_branch_free (HealthBranch *branch)
{
  g_autoptr(GstBus) bus = NULL;

  if (branch == NULL)
    return;
  gst_element_set_state (branch->pipeline, GST_STATE_NULL);
  bus = gst_element_get_bus (branch->pipeline);
  gst_bus_set_sync_handler (bus, NULL, NULL, NULL);
  gst_object_unref (branch->pipeline);
  gst_object_unref (branch->bus);
  gst_clear_object (&branch->frames_pad);
  gst_clear_buffer (&branch->sampler.held);
  gst_clear_caps (&branch->caps);
  g_free (branch->camera);
  g_free (branch);
}

/* Called with self->lock held, on the video probe's thread, for every
 * keyframe: whether frame health judges the recording's own keyframes (no
 * sub-stream, or one that failed or went quiet). */
static gboolean
judges_main_stream (VigilRecorder *self)
{
  HealthBranch *sub_branch = self->sub_branch;

  if (self->health == NULL || self->video_caps == NULL)
    return FALSE;
  if (sub_branch == NULL || g_atomic_int_get (&sub_branch->failed))
    return TRUE;
  if (g_get_monotonic_time () - __atomic_load_n (&sub_branch->alive_us, __ATOMIC_RELAXED) <= SUB_STREAM_QUIET_US)
    return FALSE;
  health_branch_fail (sub_branch, "no video from the sub-stream for 15 s");
  return TRUE;
}

/* Runs on a streaming thread, once per video frame and event. */
static GstPadProbeReturn
on_video_pad_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  VigilRecorder *self = user_data;
  GstBuffer *buffer;
  GstClockTime pts, rt;
  gint64 wall_us = 0;

  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM)
    {
      GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

      if (GST_EVENT_TYPE (event) == GST_EVENT_SEGMENT)
        gst_event_copy_segment (event, &self->video_segment);
      else if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS)
        {
          GstCaps *caps;

          gst_event_parse_caps (event, &caps);
          if (self->video_caps == NULL)
            self->video_caps = gst_caps_ref (caps);
          else if (!gst_caps_is_equal (caps, self->video_caps))
            {
              /* Matroska (like MP4) cannot change codec data inside a
               * file, and splitmuxsink 1.22 forwards the new caps to the
               * open file's muxer, which fails. So keep the new format out
               * of this run: the run ends cleanly and its owner starts a
               * new one, which records the new format from its first
               * keyframe. */
              if (!self->format_changed)
                post_application_message (self, gst_structure_new ("vigil-format-changed",
                                                                   "from", GST_TYPE_CAPS, self->video_caps,
                                                                   "to", GST_TYPE_CAPS, caps, NULL));
              self->format_changed = TRUE;
              return GST_PAD_PROBE_DROP;
            }
        }
      else if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && self->seen_keyframe)
        {
          g_mutex_lock (&self->lock);
          self->final_mark.running_time = self->last_rt + self->last_frame_duration;
          self->final_mark.wall_us = vigil_run_clock_to_wall (&self->clock, self->final_mark.running_time);
          self->final_mark.frames_before = self->frames;
          self->final_mark.keyframes_before = self->keyframes;
          self->has_final_mark = TRUE;
          g_mutex_unlock (&self->lock);
        }
      return GST_PAD_PROBE_OK;
    }

  buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  if (self->format_changed)
    return GST_PAD_PROBE_DROP;
  /* A segment must start with a frame that decodes on its own, so drop
   * whatever arrives before the first keyframe (rtph265depay, unlike
   * rtph264depay, has no wait-for-keyframe). */
  if (!self->seen_keyframe && GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT))
    return GST_PAD_PROBE_DROP;

  pts = GST_BUFFER_PTS_IS_VALID (buffer) ? GST_BUFFER_PTS (buffer) : GST_BUFFER_DTS (buffer);
  rt = gst_segment_to_running_time (&self->video_segment, GST_FORMAT_TIME, pts);
  if (!GST_CLOCK_TIME_IS_VALID (rt))
    return GST_PAD_PROBE_OK;

  g_atomic_int_inc (&self->data_ticks);

  if (!GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT))
    {
      gint64 host_us = g_get_real_time ();
      gboolean first = !self->seen_keyframe;
      GstBuffer *old_keyframe;
      KeyframeMark *mark;

      g_mutex_lock (&self->lock);
      if (first)
        vigil_run_clock_anchor (&self->clock, rt, host_us);
      else
        vigil_run_clock_observe (&self->clock, rt, host_us);
      mark = &self->ring[self->ring_next];
      mark->running_time = rt;
      mark->wall_us = vigil_run_clock_to_wall (&self->clock, rt);
      mark->frames_before = self->frames;
      mark->keyframes_before = self->keyframes;
      self->ring_next = (self->ring_next + 1) % KEYFRAME_RING_SIZE;
      self->ring_len = MIN (self->ring_len + 1, KEYFRAME_RING_SIZE);
      wall_us = mark->wall_us;
      self->health_on_main = judges_main_stream (self);
      old_keyframe = self->latest_keyframe;
      self->latest_keyframe = gst_buffer_ref (buffer);
      gst_caps_replace (&self->latest_caps, self->video_caps);
      self->latest_wall_us = wall_us;
      g_mutex_unlock (&self->lock);
      gst_clear_buffer (&old_keyframe);

      self->keyframes++;
      if (first)
        {
          self->seen_keyframe = TRUE;
          post_application_message (self, gst_structure_new ("vigil-run-started",
                                                             "start-us", G_TYPE_INT64, host_us, NULL));
        }
    }

  if (self->health_on_main)
    sampler_observe (self, &self->sampler, NULL, buffer, rt, wall_us);
  if (self->live_feed != NULL)
    vigil_live_feed_push_video (self->live_feed, self->video_caps, buffer, rt);

  if (GST_BUFFER_DURATION_IS_VALID (buffer))
    self->last_frame_duration = GST_BUFFER_DURATION (buffer);
  else if (self->frames > 0 && rt > self->last_rt)
    self->last_frame_duration = rt - self->last_rt;
  self->last_rt = rt;
  self->frames++;
  return GST_PAD_PROBE_OK;
}

/* Runs on splitmuxsink's output thread when it starts a segment, with the
 * segment's first (key)frame. Returns the file to write. */
static gchar *
on_splitmux_format_location (GstElement *splitmux, guint fragment_id, GstSample *sample, gpointer user_data)
{
  VigilRecorder *self = user_data;
  GstBuffer *buffer = sample != NULL ? gst_sample_get_buffer (sample) : NULL;
  const GstSegment *segment = sample != NULL ? gst_sample_get_segment (sample) : NULL;
  GstClockTime rt = GST_CLOCK_TIME_NONE;
  g_autoptr(GDateTime) created = NULL;
  g_autofree gchar *folder = NULL;
  Fragment *fragment = g_new0 (Fragment, 1);
  const KeyframeMark *mark;
  Fragment *previous;

  /* splitmuxsink may open a file without a sample when it fails at EOS;
   * then the newest keyframe stands in for the first frame. */
  if (buffer != NULL && segment != NULL)
    rt = gst_segment_to_running_time (segment, GST_FORMAT_TIME,
                                      GST_BUFFER_PTS_IS_VALID (buffer) ? GST_BUFFER_PTS (buffer)
                                                                       : GST_BUFFER_DTS (buffer));
  g_mutex_lock (&self->lock);
  mark = find_mark (self, GST_CLOCK_TIME_IS_VALID (rt) ? rt : GST_CLOCK_TIME_NONE - 1);
  if (mark != NULL)
    fragment->start = *mark;
  else
    {
      /* Not seen by the probe (cannot happen while the ring is large
       * enough); derive the times rather than lose the segment. */
      GST_WARNING_OBJECT (splitmux, "camera %s: no keyframe mark for %" GST_TIME_FORMAT, self->camera,
                          GST_TIME_ARGS (rt));
      fragment->start.running_time = rt;
      fragment->start.wall_us = self->clock.anchored ? vigil_run_clock_to_wall (&self->clock, rt) : g_get_real_time ();
    }
  previous = g_queue_peek_tail (&self->fragments);
  if (previous != NULL && !previous->has_end)
    {
      previous->end = fragment->start;
      previous->has_end = TRUE;
    }
  fragment->path = vigil_segment_path_for (self->camera, fragment->start.wall_us);
  fragment->location = g_build_filename (self->root, fragment->path, NULL);
  g_queue_push_tail (&self->fragments, fragment);

  /* Matroska's DateUTC: the segment's own wall-clock start. */
  created = g_date_time_new_from_unix_utc (fragment->start.wall_us / G_USEC_PER_SEC);
  g_object_set (self->muxer, "creation-time", created, NULL);
  g_mutex_unlock (&self->lock);

  folder = g_path_get_dirname (fragment->location);
  if (g_mkdir_with_parents (folder, 0750) != 0)
    GST_WARNING_OBJECT (splitmux, "camera %s: cannot create %s: %s", self->camera, folder, g_strerror (errno));

  post_application_message (self, gst_structure_new ("vigil-segment-opened",
                                                     "path", G_TYPE_STRING, fragment->path,
                                                     "start-us", G_TYPE_INT64, fragment->start.wall_us, NULL));
  GST_INFO_OBJECT (splitmux, "camera %s: segment %u opens %s", self->camera, fragment_id, fragment->path);
  return g_strdup (fragment->location);
}

static GstElement *
make_element (const gchar *factory, GError **error)
{
  GstElement *element = gst_element_factory_make (factory, NULL);

  if (element == NULL)
    g_set_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_MISSING,
                 "GStreamer element %s is not installed", factory);
  return element;
}

/* Depayloader (NULL for none), parser (NULL for none) and codec name for
 * a stream of the RTSP source, or FALSE when vigil does not record it.
 * vigilrtspsrc hands H.264/H.265 over already reassembled (video/x-h26x);
 * everything else, and everything from rtspsrc, arrives as RTP. */
static gboolean
choose_chain (const GstStructure *s, const gchar **depay, const gchar **parse, const gchar **codec)
{
  static const struct { const gchar *media, *encoding, *depay, *parse, *codec; } chains[] = {
    { "video", "H264",           "rtph264depay",  "h264parse", "h264" },
    { "video", "H265",           "rtph265depay",  "h265parse", "h265" },
    { "audio", "MPEG4-GENERIC",  "rtpmp4gdepay",  "aacparse",  "aac" },
    { "audio", "MP4A-LATM",      "rtpmp4adepay",  "aacparse",  "aac" },
    { "audio", "PCMA",           "rtppcmadepay",  NULL,        "pcma" },
    { "audio", "PCMU",           "rtppcmudepay",  NULL,        "pcmu" },
  };
  const gchar *media = gst_structure_get_string (s, "media");
  const gchar *encoding = gst_structure_get_string (s, "encoding-name");

  if (gst_structure_has_name (s, "video/x-h264") || gst_structure_has_name (s, "video/x-h265"))
    {
      gboolean h264 = gst_structure_has_name (s, "video/x-h264");

      *depay = NULL;
      *parse = h264 ? "h264parse" : "h265parse";
      *codec = h264 ? "h264" : "h265";
      return TRUE;
    }
  for (guint i = 0; encoding != NULL && i < G_N_ELEMENTS (chains); i++)
    if (g_strcmp0 (media, chains[i].media) == 0 && g_ascii_strcasecmp (encoding, chains[i].encoding) == 0)
      {
        *depay = chains[i].depay;
        *parse = chains[i].parse;
        *codec = chains[i].codec;
        return TRUE;
      }
  return FALSE;
}

static GstElement *
add_chain_element (VigilRecorder *self, const gchar *factory, GstElement *previous, gboolean is_video,
                   GError **error)
{
  GstElement *element = make_element (factory, error);

  if (element == NULL)
    return NULL;
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (element), "wait-for-keyframe"))
    g_object_set (element, "wait-for-keyframe", TRUE, NULL);
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (element), "request-keyframe"))
    g_object_set (element, "request-keyframe", TRUE, NULL);
  if (is_video && g_object_class_find_property (G_OBJECT_GET_CLASS (element), "config-interval"))
    /* SPS/PPS before every keyframe: each segment decodes on its own even
     * if the camera changes them mid-stream. */
    g_object_set (element, "config-interval", -1, NULL);
  gst_bin_add (GST_BIN (self->pipeline), element);
  if (previous != NULL)
    gst_element_link (previous, element);
  return element;
}

/* Runs on the source's streaming thread, per audio packet or list of them:
 * only counts. */
static GstPadProbeReturn
on_audio_arrival_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  VigilRecorder *self = user_data;

  g_atomic_int_inc (&self->audio_ticks);
  return GST_PAD_PROBE_OK;
}

/* Runs on the audio's streaming thread, per packet and event after its
 * parser: the packets go to the live feed as they go to the file. */
static GstPadProbeReturn
on_audio_pad_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  VigilRecorder *self = user_data;
  GstBuffer *buffer;

  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM)
    {
      GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

      if (GST_EVENT_TYPE (event) == GST_EVENT_SEGMENT)
        gst_event_copy_segment (event, &self->audio_segment);
      else if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS)
        {
          GstCaps *caps;

          gst_event_parse_caps (event, &caps);
          gst_caps_replace (&self->audio_caps, caps);
        }
      return GST_PAD_PROBE_OK;
    }
  buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  if (GST_BUFFER_PTS_IS_VALID (buffer))
    vigil_live_feed_push_audio (self->live_feed, self->audio_caps, buffer,
                                gst_segment_to_running_time (&self->audio_segment, GST_FORMAT_TIME,
                                                             GST_BUFFER_PTS (buffer)));
  return GST_PAD_PROBE_OK;
}

/* Runs on a streaming thread: links one of the camera's streams, through
 * a queue of its own when @queued. */
static void
link_stream (VigilRecorder *self, GstElement *source, GstPad *pad, gboolean queued)
{
  g_autoptr(GstCaps) caps = gst_pad_query_caps (pad, NULL);
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  const gchar *media = gst_structure_get_string (s, "media");
  const gchar *encoding = gst_structure_get_string (s, "encoding-name");
  const gchar *depay_name, *parse_name, *codec;
  g_autoptr(GError) error = NULL;
  g_autoptr(GstPad) sink_pad = NULL;
  g_autoptr(GstPad) mux_pad = NULL;
  g_autoptr(GstPad) chain_src = NULL;
  gboolean is_video = g_strcmp0 (media, "video") == 0 || g_str_has_prefix (gst_structure_get_name (s), "video/");
  GstElement *chain[3];     /* queue?, depayloader?, parser?: upstream first */
  guint n_chain = 0;

  g_mutex_lock (&self->lock);
  /* One video stream and one audio stream are recorded; the rest (a
   * second video, ONVIF metadata) is received and discarded. */
  if (!choose_chain (s, &depay_name, &parse_name, &codec)
      || (is_video && self->video_codec != NULL) || (!is_video && self->audio_codec != NULL))
    {
      GstElement *sink = gst_element_factory_make ("fakesink", NULL);
      gboolean unrecordable_video = is_video && self->video_codec == NULL;

      g_mutex_unlock (&self->lock);
      GST_INFO_OBJECT (source, "camera %s: not recording %s stream %s", self->camera,
                       GST_STR_NULL (media), GST_STR_NULL (encoding));
      if (unrecordable_video)
        {
          GST_ELEMENT_ERROR (source, STREAM, CODEC_NOT_FOUND,
                             ("camera sends video as %s; vigil records H.264 and H.265",
                              encoding != NULL ? encoding : gst_structure_get_name (s)), (NULL));
          return;
        }
      g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
      gst_bin_add (GST_BIN (self->pipeline), sink);
      sink_pad = gst_element_get_static_pad (sink, "sink");
      gst_pad_link (pad, sink_pad);
      gst_element_sync_state_with_parent (sink);
      return;
    }
  if (is_video)
    self->video_codec = g_strdup (codec);
  else
    self->audio_codec = g_strdup (codec);
  g_mutex_unlock (&self->lock);

  if (is_video && self->health != NULL)
    {
      HealthBranch *sub_branch = NULL;
      g_autofree gchar *health_url = NULL;

      g_mutex_lock (&self->lock);
      health_url = g_strdup (self->health_url);
      g_mutex_unlock (&self->lock);
      if (health_url != NULL)
        sub_branch = sub_branch_new (self, health_url);
      g_mutex_lock (&self->lock);
      self->sub_branch = sub_branch;
      g_mutex_unlock (&self->lock);
    }

  if (queued)
    {
      /* vigilrtspsrc feeds every stream from one thread, while the muxer
       * needs both to advance: each stream gets a thread of its own, or
       * the two wait on each other. Audio leaks rather than ever holding
       * up the video; video never leaks. */
      GstElement *queue = gst_element_factory_make ("queue", NULL);

      g_object_set (queue, "max-size-time", (guint64) (5 * GST_SECOND), "max-size-buffers", 0,
                    "max-size-bytes", 0, "leaky", is_video ? 0 : 2 /* downstream */, NULL);
      gst_bin_add (GST_BIN (self->pipeline), queue);
      chain[n_chain++] = queue;
    }
  for (guint i = 0; i < 2; i++)
    {
      const gchar *name = i == 0 ? depay_name : parse_name;
      GstElement *element;

      if (name == NULL)
        continue;
      element = add_chain_element (self, name, n_chain > 0 ? chain[n_chain - 1] : NULL, is_video, &error);
      if (element == NULL)
        {
          GST_ELEMENT_ERROR (source, CORE, MISSING_PLUGIN, ("%s", error->message), (NULL));
          return;
        }
      chain[n_chain++] = element;
    }

  mux_pad = gst_element_request_pad_simple (self->splitmux, is_video ? "video" : "audio_%u");
  if (mux_pad == NULL)
    {
      GST_ELEMENT_ERROR (source, CORE, PAD, ("splitmuxsink refused a %s stream", codec), (NULL));
      return;
    }
  if (is_video)
    gst_pad_add_probe (mux_pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                       on_video_pad_probe, self, NULL);
  else
    {
      gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST, on_audio_arrival_probe,
                         self, NULL);
      if (self->live_feed != NULL)
        gst_pad_add_probe (mux_pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                           on_audio_pad_probe, self, NULL);
    }
  chain_src = gst_element_get_static_pad (chain[n_chain - 1], "src");
  gst_pad_link (chain_src, mux_pad);
  /* Downstream first, so nothing pushes into an element still in NULL. */
  for (guint i = n_chain; i > 0; i--)
    gst_element_sync_state_with_parent (chain[i - 1]);
  sink_pad = gst_element_get_static_pad (chain[0], "sink");
  if (gst_pad_link (pad, sink_pad) != GST_PAD_LINK_OK)
    GST_ELEMENT_ERROR (source, CORE, PAD, ("cannot link the camera's %s stream", codec), (NULL));
  else
    GST_INFO_OBJECT (source, "camera %s: recording %s", self->camera, codec);
}

/* Runs on a streaming thread. rtspsrc gives each stream its own thread:
 * link at once. vigilrtspsrc pushes nothing before no-more-pads, when it
 * is known whether streams must be decoupled by queues. */
static void
on_source_pad_added (GstElement *src, GstPad *pad, gpointer user_data)
{
  VigilRecorder *self = user_data;

  if (self->use_rtspsrc)
    link_stream (self, src, pad, FALSE);
  else
    {
      g_mutex_lock (&self->lock);
      self->source_pads = g_list_append (self->source_pads, gst_object_ref (pad));
      g_mutex_unlock (&self->lock);
    }
}

/* Runs on vigilrtspsrc's thread, before any data. */
static void
on_source_no_more_pads (GstElement *src, gpointer user_data)
{
  VigilRecorder *self = user_data;
  GList *pads;

  if (self->use_rtspsrc)
    return;
  g_mutex_lock (&self->lock);
  pads = g_steal_pointer (&self->source_pads);
  g_mutex_unlock (&self->lock);
  for (GList *l = pads; l != NULL; l = l->next)
    link_stream (self, src, l->data, pads->next != NULL);
  g_list_free_full (pads, gst_object_unref);
}

/* ---- main thread: run lifecycle ------------------------------------- */

static void maybe_finish_run (VigilRecorder *self);
static void begin_teardown (VigilRecorder *self);

/* Runs on a worker thread: makes one closed segment durable. */
static void
fsync_segment_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VigilRecorder *self = source;
  VigilClosedSegment *segment = task_data;
  g_autofree gchar *location = g_build_filename (self->root, segment->path, NULL);
  g_autoptr(GError) error = NULL;
  guint64 size_bytes = 0;

  /* The file, its folder and its parents up to the root: a segment may be
   * the first of a new day, whose folders are new too. */
  if (!vigil_fsync_file_and_folders (location, self->root, &size_bytes, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  segment->size_bytes = size_bytes;
  g_task_return_boolean (task, TRUE);
}

static void start_next_fsync (VigilRecorder *self);

static void
on_segment_fsynced (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VigilRecorder *self = VIGIL_RECORDER (source);
  g_autoptr(VigilClosedSegment) segment = g_queue_pop_head (&self->closing);
  g_autoptr(GError) error = NULL;

  self->fsync_busy = FALSE;
  if (g_task_propagate_boolean (G_TASK (result), &error))
    g_signal_emit (self, signals[SIGNAL_SEGMENT_CLOSED], 0, segment);
  else
    {
      g_autofree gchar *reason = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE)
                                   ? g_strdup_printf (VIGIL_RECORDER_DISK_FULL ": %s", error->message)
                                   : g_strdup (error->message);

      /* The row stays 'writing'; start-up recovery will probe the file. */
      g_warning ("camera %s: segment %s not made durable: %s", self->camera, segment->path, error->message);
      g_signal_emit (self, signals[SIGNAL_SEGMENT_FAILED], 0, segment->path, reason);
    }
  start_next_fsync (self);
  maybe_finish_run (self);
}

static void
start_next_fsync (VigilRecorder *self)
{
  g_autoptr(GTask) task = NULL;

  if (self->fsync_busy || g_queue_is_empty (&self->closing))
    return;
  self->fsync_busy = TRUE;
  task = g_task_new (self, NULL, on_segment_fsynced, NULL);
  g_task_set_source_tag (task, start_next_fsync);
  g_task_set_task_data (task, g_queue_peek_head (&self->closing), NULL);
  g_task_run_in_thread (task, fsync_segment_thread);
}

/* Called with self->lock held: turns a closed fragment into a report. */
static VigilClosedSegment *
closed_segment_new (VigilRecorder *self, Fragment *fragment, const KeyframeMark *end)
{
  VigilClosedSegment *closed = g_new0 (VigilClosedSegment, 1);

  closed->path = g_strdup (fragment->path);
  closed->start_us = fragment->start.wall_us;
  closed->end_us = MAX (end->wall_us, fragment->start.wall_us);
  closed->media_duration_ns = MAX (GST_CLOCK_DIFF (fragment->start.running_time, end->running_time), 0);
  closed->frames = end->frames_before - fragment->start.frames_before;
  closed->keyframes = end->keyframes_before - fragment->start.keyframes_before;
  closed->codec = self->audio_codec != NULL
                    ? g_strdup_printf ("%s+%s", GST_STR_NULL (self->video_codec), self->audio_codec)
                    : g_strdup (self->video_codec);
  self->end_wall_us = MAX (self->end_wall_us, closed->end_us);
  return closed;
}

/* Reports closed fragments, oldest first. splitmuxsink posts a segment's
 * fragment-closed message just before it opens the next segment, and the
 * next segment's first keyframe is where this one ends; so a closed
 * fragment waits until that is known. With @run_over (the pipeline
 * reached EOS or stopped) no further segment will open and the last one
 * ends at the run's end. */
static void
flush_closed_fragments (VigilRecorder *self, gboolean run_over)
{
  g_mutex_lock (&self->lock);
  while (!g_queue_is_empty (&self->fragments))
    {
      Fragment *fragment = g_queue_peek_head (&self->fragments);
      VigilClosedSegment *closed;

      if (!fragment->closed || (!fragment->has_end && !run_over))
        break;
      if (fragment->has_end)
        closed = closed_segment_new (self, fragment, &fragment->end);
      else if (self->has_final_mark)
        closed = closed_segment_new (self, fragment, &self->final_mark);
      else
        {
          /* Closed without EOS reaching the probe: end at the last
           * keyframe seen, which undercounts at most one GOP. */
          const KeyframeMark *last = find_mark (self, GST_CLOCK_TIME_NONE - 1);
          closed = closed_segment_new (self, fragment, last != NULL ? last : &fragment->start);
        }
      g_queue_pop_head (&self->fragments);
      fragment_free (fragment);
      GST_INFO ("camera %s: segment %s closed: %" G_GUINT64_FORMAT " frames, %" G_GINT64_FORMAT " ms",
                self->camera, closed->path, closed->frames, closed->media_duration_ns / GST_MSECOND);
      g_queue_push_tail (&self->closing, closed);
    }
  g_mutex_unlock (&self->lock);
  start_next_fsync (self);
}

static void
on_fragment_closed (VigilRecorder *self, const gchar *location)
{
  gboolean known = FALSE;

  g_mutex_lock (&self->lock);
  for (GList *l = self->fragments.head; l != NULL; l = l->next)
    if (g_strcmp0 (((Fragment *) l->data)->location, location) == 0)
      {
        ((Fragment *) l->data)->closed = TRUE;
        known = TRUE;
      }
  g_mutex_unlock (&self->lock);
  if (!known)
    g_warning ("camera %s: closed a segment it never opened: %s", self->camera, location);
  flush_closed_fragments (self, FALSE);
}

static void begin_finalise (VigilRecorder *self, const gchar *reason);

static void
describe_video_caps (GString *out, const GstCaps *caps)
{
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  gint width = 0, height = 0;

  gst_structure_get_int (s, "width", &width);
  gst_structure_get_int (s, "height", &height);
  g_string_append_printf (out, "%s %dx%d", gst_structure_get_name (s), width, height);
}

/* "format changed: video/x-h264 1920x1080 → video/x-h264 1280x720" */
static gchar *
describe_format_change (const GstStructure *s)
{
  GString *reason = g_string_new (VIGIL_RECORDER_FORMAT_CHANGED ": ");
  const GstCaps *from = gst_value_get_caps (gst_structure_get_value (s, "from"));
  const GstCaps *to = gst_value_get_caps (gst_structure_get_value (s, "to"));

  describe_video_caps (reason, from);
  g_string_append (reason, " → ");
  describe_video_caps (reason, to);
  return g_string_free (reason, FALSE);
}

static void
handle_message (VigilRecorder *self, GstMessage *message)
{
  const GstStructure *s = gst_message_get_structure (message);

  switch (GST_MESSAGE_TYPE (message))
    {
    case GST_MESSAGE_ELEMENT:
      if (gst_structure_has_name (s, "splitmuxsink-fragment-closed"))
        on_fragment_closed (self, gst_structure_get_string (s, "location"));
      else if (gst_structure_has_name (s, "vigil-sender-report"))
        {
          gint64 offset_us = 0;

          if (gst_structure_get_int64 (s, "camera-offset-us", &offset_us))
            g_signal_emit (self, signals[SIGNAL_CAMERA_CLOCK], 0, offset_us);
        }
      break;
    case GST_MESSAGE_APPLICATION:
      if (gst_structure_has_name (s, "vigil-run-started"))
        {
          gint64 start_us = 0;

          gst_structure_get_int64 (s, "start-us", &start_us);
          self->end_wall_us = start_us;
          g_signal_emit (self, signals[SIGNAL_RUN_STARTED], 0, start_us);
        }
      else if (gst_structure_has_name (s, "vigil-format-changed") && self->state == STATE_RUNNING)
        {
          g_autofree gchar *reason = describe_format_change (s);
          begin_finalise (self, reason);
        }
      else if (gst_structure_has_name (s, "vigil-frame-health"))
        {
          g_autoptr(VigilFrameSample) sample = NULL;

          if (gst_structure_get (s, "sample", VIGIL_TYPE_FRAME_SAMPLE, &sample, NULL))
            {
              note_sample (self, sample);
              g_signal_emit (self, signals[SIGNAL_FRAME_HEALTH], 0, sample);
            }
        }
      else if (gst_structure_has_name (s, "vigil-frame-health-error"))
        {
          gint64 now = g_get_monotonic_time ();

          /* Every keyframe of a broken stream may fail: say so once a
           * minute, not once a second. */
          if (self->health_error_logged_us == 0 || now - self->health_error_logged_us >= HEALTH_ERROR_LOG_US)
            {
              self->health_error_logged_us = now;
              g_warning ("camera %s: frame health cannot judge its keyframes: %s (said at most once a minute)",
                         self->camera, gst_structure_get_string (s, "reason"));
            }
        }
      else if (gst_structure_has_name (s, "vigil-frame-health-failed"))
        {
          g_warning ("camera %s: frame health from the sub-stream failed: %s; judging the main stream's "
                     "keyframes for the rest of this run", self->camera, gst_structure_get_string (s, "reason"));
        }
      else if (gst_structure_has_name (s, "vigil-segment-opened"))
        {
          gint64 start_us = 0;

          gst_structure_get_int64 (s, "start-us", &start_us);
          g_signal_emit (self, signals[SIGNAL_SEGMENT_OPENED], 0, gst_structure_get_string (s, "path"), start_us);
          flush_closed_fragments (self, FALSE);
        }
      break;
    default:
      break;
    }
}

/* The run's end reason for a bus error. A full disk is said in fixed
 * words: filesink reports ENOSPC as NO_SPACE_LEFT, but EDQUOT (and a
 * folder or file it could not create) only as a WRITE or OPEN error whose
 * details hold the system's message, in the process's own language. */
static gchar *
describe_error (const GError *error, const gchar *debug)
{
  if (g_error_matches (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NO_SPACE_LEFT))
    return g_strdup_printf (VIGIL_RECORDER_DISK_FULL ": %s", error->message);
  if (error->domain == GST_RESOURCE_ERROR && debug != NULL)
    {
      if (strstr (debug, g_strerror (ENOSPC)) != NULL)
        return g_strdup_printf (VIGIL_RECORDER_DISK_FULL ": %s", g_strerror (ENOSPC));
      if (strstr (debug, g_strerror (EDQUOT)) != NULL)
        return g_strdup_printf (VIGIL_RECORDER_DISK_FULL ": %s", g_strerror (EDQUOT));
    }
  return g_strdup_printf ("error: %s", error->message);
}

static gboolean
on_bus_message (GstBus *bus, GstMessage *message, gpointer user_data)
{
  VigilRecorder *self = user_data;

  switch (GST_MESSAGE_TYPE (message))
    {
    case GST_MESSAGE_ERROR:
      {
        g_autoptr(GError) error = NULL;
        g_autofree gchar *debug = NULL;
        g_autofree gchar *reason = NULL;

        gst_message_parse_error (message, &error, &debug);
        GST_DEBUG_OBJECT (GST_MESSAGE_SRC (message), "camera %s: %s (%s)", self->camera, error->message,
                          GST_STR_NULL (debug));
        reason = vigil_rtsp_refusal_describe (message);
        if (reason == NULL)
          reason = describe_error (error, debug);
        if (self->state == STATE_RUNNING)
          begin_finalise (self, reason);
        else if (self->state == STATE_FINALISING)
          begin_teardown (self);
        break;
      }
    case GST_MESSAGE_EOS:
      if (self->state == STATE_RUNNING)
        {
          /* The camera ended the stream; splitmuxsink has already closed
           * the last segment, since the EOS went through it. */
          g_free (self->end_reason);
          self->end_reason = g_strdup ("eos");
          begin_teardown (self);
        }
      else if (self->state == STATE_FINALISING)
        begin_teardown (self);
      break;
    case GST_MESSAGE_WARNING:
      {
        g_autoptr(GError) error = NULL;

        gst_message_parse_warning (message, &error, NULL);
        GST_WARNING_OBJECT (GST_MESSAGE_SRC (message), "camera %s: %s", self->camera, error->message);
        break;
      }
    default:
      handle_message (self, message);
      break;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
send_eos_to_pad (GstPad *pad, gboolean video)
{
  if (g_str_equal (GST_PAD_NAME (pad), "video") == video)
    gst_pad_send_event (pad, gst_event_new_eos ());
  return TRUE;
}

static gboolean
send_eos_to_video (GstElement *element, GstPad *pad, gpointer unused)
{
  return send_eos_to_pad (pad, TRUE);
}

static gboolean
send_eos_to_others (GstElement *element, GstPad *pad, gpointer unused)
{
  return send_eos_to_pad (pad, FALSE);
}

/* Runs on a worker thread: a serialized EOS waits for the streaming
 * thread, which may be blocked in a write. Video first: splitmuxsink
 * holds audio until the video has caught up, so an audio pad's stream
 * lock may be taken until the video moves or ends. */
static void
send_eos_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GstElement *splitmux = task_data;

  gst_element_foreach_sink_pad (splitmux, send_eos_to_video, NULL);
  gst_element_foreach_sink_pad (splitmux, send_eos_to_others, NULL);
  g_task_return_boolean (task, TRUE);
}

static gboolean
on_finalise_timeout (gpointer user_data)
{
  VigilRecorder *self = user_data;

  Fragment *open_fragment = g_queue_peek_tail (&self->fragments);
  g_autofree gchar *reason = g_strdup_printf ("it did not close within %d ms", FINALISE_TIMEOUT_MS);

  self->finalise_timer_id = 0;
  g_warning ("camera %s: last segment did not close within %d ms; tearing down", self->camera,
             FINALISE_TIMEOUT_MS);
  /* Its file stays as far as it was written; start-up recovery probes it. */
  if (open_fragment != NULL && !open_fragment->closed)
    {
      open_fragment->failed = TRUE;
      g_signal_emit (self, signals[SIGNAL_SEGMENT_FAILED], 0, open_fragment->path, reason);
    }
  begin_teardown (self);
  return G_SOURCE_REMOVE;
}

/* Ends the run: closes the open segment cleanly, then tears down. */
static void
begin_finalise (VigilRecorder *self, const gchar *reason)
{
  g_autoptr(GTask) task = NULL;
  gboolean has_data;

  g_return_if_fail (self->state == STATE_RUNNING);
  g_free (self->end_reason);
  self->end_reason = g_strdup (reason);
  g_info ("camera %s: ending run: %s", self->camera, reason);

  g_mutex_lock (&self->lock);
  has_data = self->clock.anchored;
  g_mutex_unlock (&self->lock);
  if (!has_data)
    {
      begin_teardown (self);
      return;
    }
  self->state = STATE_FINALISING;
  self->finalise_timer_id = g_timeout_add (FINALISE_TIMEOUT_MS, on_finalise_timeout, self);
  task = g_task_new (self, NULL, NULL, NULL);
  g_task_set_task_data (task, gst_object_ref (self->splitmux), gst_object_unref);
  g_task_run_in_thread (task, send_eos_thread);
}

/* Runs on a worker thread: rtspsrc's teardown waits for the camera. */
static void
set_null_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VigilRecorder *self = source;
  HealthBranch *sub_branch;

  gst_element_set_state (GST_ELEMENT (task_data), GST_STATE_NULL);
  /* Nothing reads the sub-stream branch any more. */
  g_mutex_lock (&self->lock);
  sub_branch = g_steal_pointer (&self->sub_branch);
  g_mutex_unlock (&self->lock);
  /* Its own connection's teardown may wait for the camera: here, off the
   * main thread. */
  health_branch_free (sub_branch);
  g_task_return_boolean (task, TRUE);
}

/* Segments splitmuxsink opened but never finished: a write failed (a full
 * disk) and the pipeline stopped with the file as far as it got. Each is
 * reported once, so that the owner can salvage or remove it now rather
 * than leave a 'writing' row for the next start. */
static void
report_unclosed_fragments (VigilRecorder *self)
{
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);

  g_mutex_lock (&self->lock);
  for (GList *l = self->fragments.head; l != NULL; l = l->next)
    {
      Fragment *fragment = l->data;

      if (!fragment->closed && !fragment->failed)
        {
          fragment->failed = TRUE;
          g_ptr_array_add (paths, g_strdup (fragment->path));
        }
    }
  g_mutex_unlock (&self->lock);
  for (guint i = 0; i < paths->len; i++)
    {
      g_autofree gchar *reason = g_strdup_printf ("it did not close: %s",
                                                  self->end_reason != NULL ? self->end_reason : "run ended");

      g_info ("camera %s: segment %s %s", self->camera, (const gchar *) paths->pdata[i], reason);
      g_signal_emit (self, signals[SIGNAL_SEGMENT_FAILED], 0, paths->pdata[i],
                     self->end_reason != NULL && g_str_has_prefix (self->end_reason, VIGIL_RECORDER_DISK_FULL)
                       ? self->end_reason : reason);
    }
}

static void
on_teardown_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VigilRecorder *self = VIGIL_RECORDER (source);
  g_autoptr(GstBus) bus = gst_element_get_bus (self->pipeline);
  GstMessage *message;

  /* Fragment messages posted before the pipeline stopped are still owed
   * to the catalog. */
  while ((message = gst_bus_pop (bus)) != NULL)
    {
      handle_message (self, message);
      gst_message_unref (message);
    }
  flush_closed_fragments (self, TRUE);
  report_unclosed_fragments (self);
  g_clear_handle_id (&self->bus_watch_id, g_source_remove);
  gst_clear_object (&self->splitmux);
  gst_clear_object (&self->pipeline);
  g_mutex_lock (&self->lock);
  gst_clear_object (&self->muxer);
  g_queue_clear_full (&self->fragments, (GDestroyNotify) fragment_free);
  g_list_free_full (g_steal_pointer (&self->source_pads), gst_object_unref);
  g_mutex_unlock (&self->lock);
  self->teardown_done = TRUE;
  maybe_finish_run (self);
}

static void
begin_teardown (VigilRecorder *self)
{
  g_autoptr(GTask) task = NULL;

  if (self->state == STATE_TEARING_DOWN || self->state == STATE_IDLE)
    return;
  self->state = STATE_TEARING_DOWN;
  g_clear_handle_id (&self->stall_timer_id, g_source_remove);
  g_clear_handle_id (&self->finalise_timer_id, g_source_remove);
  task = g_task_new (self, NULL, on_teardown_done, NULL);
  g_task_set_task_data (task, gst_object_ref (self->pipeline), gst_object_unref);
  g_task_run_in_thread (task, set_null_thread);
}

static void
maybe_finish_run (VigilRecorder *self)
{
  g_autofree gchar *reason = NULL;

  if (self->state != STATE_TEARING_DOWN || !self->teardown_done || self->fsync_busy
      || !g_queue_is_empty (&self->closing))
    return;
  self->state = STATE_IDLE;
  if (self->live_feed != NULL)
    vigil_live_feed_end_run (self->live_feed);
  if (self->live_sub_feed != NULL)
    vigil_live_feed_end_run (self->live_sub_feed);
  reason = g_steal_pointer (&self->end_reason);
  g_info ("camera %s: run ended: %s", self->camera, reason);
  g_signal_emit (self, signals[SIGNAL_RUN_ENDED], 0, reason, self->end_wall_us);
}

static gboolean
on_stall_check (gpointer user_data)
{
  VigilRecorder *self = user_data;
  guint ticks = (guint) g_atomic_int_get (&self->data_ticks);
  guint audio_ticks = (guint) g_atomic_int_get (&self->audio_ticks);
  gint64 now_us = g_get_monotonic_time ();

  if (audio_ticks != self->last_audio_ticks)
    {
      self->last_audio_ticks = audio_ticks;
      self->last_audio_us = now_us;
    }
  if (ticks != self->last_data_ticks)
    {
      self->last_data_ticks = ticks;
      self->last_progress_us = now_us;
    }
  else if (self->state == STATE_RUNNING
           && (guint64) (now_us - self->last_progress_us) * GST_USECOND >= self->stall_timeout)
    {
      /* Audio within the last second or two while the video is gone: the
       * camera is there and answering, its video encoder or sensor is
       * not. Said apart from a dead stream, which is "offline". */
      gboolean audio_flows = self->last_audio_us != 0 && now_us - self->last_audio_us <= 2 * G_USEC_PER_SEC;
      g_autofree gchar *reason =
          audio_flows ? g_strdup_printf (VIGIL_RECORDER_VIDEO_MISSING ": no video for %" G_GUINT64_FORMAT
                                         " s while audio flows", self->stall_timeout / GST_SECOND)
                      : g_strdup_printf ("stalled: no video for %" G_GUINT64_FORMAT " s",
                                         self->stall_timeout / GST_SECOND);
      self->stall_timer_id = 0;
      begin_finalise (self, reason);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
reset_run_state (VigilRecorder *self)
{
  gst_segment_init (&self->video_segment, GST_FORMAT_TIME);
  gst_segment_init (&self->audio_segment, GST_FORMAT_TIME);
  gst_clear_caps (&self->audio_caps);
  self->seen_keyframe = FALSE;
  self->format_changed = FALSE;
  gst_clear_caps (&self->video_caps);
  self->frames = self->keyframes = 0;
  self->last_rt = 0;
  self->last_frame_duration = 0;
  sampler_init (&self->sampler);
  self->health_on_main = FALSE;
  /* Looked at often again until it has shown itself healthy. */
  self->calm_samples = 0;
  g_atomic_int_set (&self->health_calm, FALSE);
  if (self->health != NULL)
    /* A new connection: its first keyframe is not compared with the last
     * one of the run before. */
    vigil_frame_health_forget_previous (self->health);
  self->ring_next = self->ring_len = 0;
  self->has_final_mark = FALSE;
  memset (&self->clock, 0, sizeof self->clock);
  g_mutex_lock (&self->lock);
  gst_clear_buffer (&self->latest_keyframe);
  gst_clear_caps (&self->latest_caps);
  g_mutex_unlock (&self->lock);
  g_clear_pointer (&self->video_codec, g_free);
  g_clear_pointer (&self->audio_codec, g_free);
  g_clear_pointer (&self->end_reason, g_free);
  self->teardown_done = FALSE;
  self->end_wall_us = 0;
  self->last_data_ticks = (guint) g_atomic_int_get (&self->data_ticks);
  self->last_audio_ticks = (guint) g_atomic_int_get (&self->audio_ticks);
  self->last_audio_us = 0;
  self->last_progress_us = g_get_monotonic_time ();
}

gboolean
vigil_recorder_start (VigilRecorder *self, GError **error)
{
  g_autoptr(GstElement) pipeline = NULL;
  GstElement *src, *splitmux, *muxer, *sink;
  g_autoptr(GstBus) bus = NULL;

  g_return_val_if_fail (VIGIL_IS_RECORDER (self), FALSE);
  if (self->state != STATE_IDLE)
    {
      g_set_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_BUSY,
                   "camera %s: a run is still active", self->camera);
      return FALSE;
    }
  if (self->url == NULL)
    {
      g_set_error (error, VIGIL_PIPELINE_ERROR, VIGIL_PIPELINE_ERROR_FAILED, "camera %s: no stream address yet",
                   self->camera);
      return FALSE;
    }

  pipeline = gst_pipeline_new (self->camera);
  vigil_rtsp_source_register ();
  if ((src = make_element (self->use_rtspsrc ? "rtspsrc" : "vigilrtspsrc", error)) == NULL)
    return FALSE;
  gst_bin_add (GST_BIN (pipeline), src);
  if ((splitmux = make_element ("splitmuxsink", error)) == NULL)
    return FALSE;
  gst_bin_add (GST_BIN (pipeline), splitmux);
  if ((muxer = make_element ("matroskamux", error)) == NULL)
    return FALSE;
  if ((sink = make_element ("filesink", error)) == NULL)
    {
      gst_object_unref (muxer);
      return FALSE;
    }

  if (self->use_rtspsrc)
    /* rtspsrc is the fallback, so its defaults stay: buffer-mode=none
     * saves CPU but leaves audio and video timestamps unsynchronised, and
     * splitmuxsink then fails with "Timestamping error on input streams"
     * (seen under valgrind with H.265 + PCMA). */
    g_object_set (src, "location", self->url,
                  "protocols", self->use_udp ? 0x1 /* UDP */ : 0x4 /* TCP */,
                  "tcp-timeout", (guint64) (self->stall_timeout / GST_USECOND),
                  "teardown-timeout", (guint64) (200 * GST_MSECOND),
                  NULL);
  else
    g_object_set (src, "location", self->url, "timeout", (guint64) (self->stall_timeout / GST_USECOND),
                  "allow-basic-auth", self->allow_basic_auth, NULL);
  if (self->user != NULL)
    g_object_set (src, "user-id", self->user, "user-pw", self->password, NULL);

  /* offset-to-zero: each file's timestamps start at 0, as players and
   * exports expect; its wall-clock start is in DateUTC and the name. */
  g_object_set (muxer, "writing-app", "vigil " VIGIL_VERSION, "offset-to-zero", TRUE, NULL);
  /* Unbuffered: filesink's 64 KiB user-space buffer is lost to a kill -9,
   * which at a sub-stream's bitrate is a whole GOP (docs/design/recording.md).
   * The extra write() per buffer costs nothing measurable. */
  g_object_set (sink, "buffer-mode", 2 /* unbuffered */, NULL);
  g_object_set (splitmux, "max-size-time", (guint64) self->segment_duration, "muxer", muxer, "sink", sink,
                "send-keyframe-requests", FALSE, NULL);

  g_signal_connect (src, "pad-added", G_CALLBACK (on_source_pad_added), self);
  g_signal_connect (src, "no-more-pads", G_CALLBACK (on_source_no_more_pads), self);
  g_signal_connect (splitmux, "format-location-full", G_CALLBACK (on_splitmux_format_location), self);

  reset_run_state (self);
  self->pipeline = gst_object_ref (pipeline);
  self->splitmux = gst_object_ref (splitmux);
  g_mutex_lock (&self->lock);
  self->muxer = gst_object_ref (muxer);
  g_mutex_unlock (&self->lock);

  bus = gst_element_get_bus (pipeline);
  self->bus_watch_id = gst_bus_add_watch (bus, on_bus_message, self);
  self->stall_timer_id = g_timeout_add_seconds (1, on_stall_check, self);
  self->state = STATE_RUNNING;

  {
    /* A camera's own address may carry a user and password (ONVIF). */
    g_autofree gchar *shown_url = vigil_text_redact_url (self->url);
    g_info ("camera %s: connecting to %s over %s with %s", self->camera, shown_url, self->use_udp ? "udp" : "tcp",
            self->use_rtspsrc ? "rtspsrc" : "vigilrtspsrc");
  }
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    /* The bus carries the reason; the run ends through it. */
    GST_INFO ("camera %s: PLAYING failed", self->camera);
  return TRUE;
}

void
vigil_recorder_stop (VigilRecorder *self)
{
  g_return_if_fail (VIGIL_IS_RECORDER (self));
  if (self->state == STATE_RUNNING)
    begin_finalise (self, "stopped");
}

void
vigil_recorder_set_url (VigilRecorder *self, const gchar *url)
{
  g_return_if_fail (VIGIL_IS_RECORDER (self) && url != NULL);
  g_free (self->url);
  self->url = g_strdup (url);
  /* vigilrtspsrc speaks plain rtsp:// only. */
  self->use_rtspsrc = self->force_rtspsrc || !g_str_has_prefix (url, "rtsp://");
}

void
vigil_recorder_set_credentials (VigilRecorder *self, const gchar *user, const gchar *password)
{
  g_return_if_fail (VIGIL_IS_RECORDER (self) && !vigil_recorder_is_running (self));
  g_free (self->user);
  self->user = g_strdup (user);
  if (self->password != NULL)
    memset (self->password, 0, strlen (self->password));
  g_free (self->password);
  self->password = g_strdup (password);
}

void
vigil_recorder_set_health_url (VigilRecorder *self, const gchar *url)
{
  g_return_if_fail (VIGIL_IS_RECORDER (self));
  g_mutex_lock (&self->lock);
  g_free (self->health_url);
  /* vigilrtspsrc speaks plain rtsp:// only; anything else, or UDP, uses
   * the main stream. */
  self->health_url = url != NULL && g_str_has_prefix (url, "rtsp://") && !self->use_udp ? g_strdup (url) : NULL;
  g_mutex_unlock (&self->lock);
}

gboolean
vigil_recorder_is_running (VigilRecorder *self)
{
  g_return_val_if_fail (VIGIL_IS_RECORDER (self), FALSE);
  return self->state != STATE_IDLE;
}

gboolean
vigil_recorder_get_latest_keyframe (VigilRecorder *self, GstCaps **out_caps, GstBuffer **out_keyframe,
                                    gint64 *out_wall_us)
{
  gboolean has;

  g_return_val_if_fail (VIGIL_IS_RECORDER (self), FALSE);
  g_return_val_if_fail (out_caps != NULL && out_keyframe != NULL, FALSE);

  g_mutex_lock (&self->lock);
  has = self->latest_keyframe != NULL && self->latest_caps != NULL;
  *out_caps = has ? gst_caps_ref (self->latest_caps) : NULL;
  *out_keyframe = has ? gst_buffer_ref (self->latest_keyframe) : NULL;
  if (out_wall_us != NULL)
    *out_wall_us = has ? self->latest_wall_us : 0;
  g_mutex_unlock (&self->lock);
  return has;
}

gboolean
vigil_recorder_close_segment_now (VigilRecorder *self)
{
  g_return_val_if_fail (VIGIL_IS_RECORDER (self), FALSE);
  if (self->state != STATE_RUNNING || self->splitmux == NULL)
    return FALSE;
  /* splitmuxsink ends the file at the next keyframe and goes on in a new
   * one: nothing is lost, the segment is only shorter. */
  g_signal_emit_by_name (self->splitmux, "split-now");
  return TRUE;
}

const gchar *
vigil_recorder_get_camera (VigilRecorder *self)
{
  g_return_val_if_fail (VIGIL_IS_RECORDER (self), NULL);
  return self->camera;
}

VigilFrameHealth *
vigil_recorder_get_frame_health (VigilRecorder *self)
{
  g_return_val_if_fail (VIGIL_IS_RECORDER (self), NULL);
  return self->health;
}

static void
vigil_recorder_dispose (GObject *object)
{
  VigilRecorder *self = VIGIL_RECORDER (object);

  /* Worker tasks hold a reference, so we get here only with none
   * pending; an owner that drops a running recorder loses its open
   * segment's catalog update but not the file. */
  g_clear_handle_id (&self->bus_watch_id, g_source_remove);
  g_clear_handle_id (&self->stall_timer_id, g_source_remove);
  g_clear_handle_id (&self->finalise_timer_id, g_source_remove);
  if (self->pipeline != NULL)
    gst_element_set_state (self->pipeline, GST_STATE_NULL);
  health_branch_free (g_steal_pointer (&self->sub_branch));
  gst_clear_buffer (&self->sampler.held);
  gst_clear_object (&self->splitmux);
  gst_clear_object (&self->pipeline);
  gst_clear_object (&self->muxer);
  G_OBJECT_CLASS (vigil_recorder_parent_class)->dispose (object);
}

static void
vigil_recorder_finalize (GObject *object)
{
  VigilRecorder *self = VIGIL_RECORDER (object);

  g_queue_clear_full (&self->fragments, (GDestroyNotify) fragment_free);
  g_queue_clear_full (&self->closing, (GDestroyNotify) vigil_closed_segment_free);
  g_list_free_full (g_steal_pointer (&self->source_pads), gst_object_unref);
  g_free (self->camera);
  g_free (self->url);
  g_free (self->user);
  g_free (self->password);
  g_free (self->root);
  g_free (self->end_reason);
  g_free (self->health_url);
  gst_clear_caps (&self->video_caps);
  gst_clear_buffer (&self->latest_keyframe);
  gst_clear_caps (&self->latest_caps);
  g_free (self->video_codec);
  g_free (self->audio_codec);
  g_clear_object (&self->health);
  g_clear_object (&self->health_pool);
  g_clear_object (&self->live_feed);
  g_clear_object (&self->live_sub_feed);
  gst_clear_caps (&self->audio_caps);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (vigil_recorder_parent_class)->finalize (object);
}

static void
vigil_recorder_class_init (VigilRecorderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = vigil_recorder_dispose;
  object_class->finalize = vigil_recorder_finalize;

  /* ::run-started (start_us): the first keyframe of a run arrived. */
  signals[SIGNAL_RUN_STARTED] = g_signal_new ("run-started", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                              0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
  /* ::segment-opened (path relative to root, start_us). */
  signals[SIGNAL_SEGMENT_OPENED] = g_signal_new ("segment-opened", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                 0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_INT64);
  /* ::segment-closed (VigilClosedSegment): closed, fsync'ed, durable. */
  signals[SIGNAL_SEGMENT_CLOSED] = g_signal_new ("segment-closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                                                 VIGIL_TYPE_CLOSED_SEGMENT | G_SIGNAL_TYPE_STATIC_SCOPE);
  /* ::run-ended (reason, end_us): the pipeline is gone; end_us is the
   * wall clock at the end of the last recorded frame, 0 if none. */
  signals[SIGNAL_RUN_ENDED] = g_signal_new ("run-ended", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                            0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_INT64);
  /* ::frame-health (VigilFrameSample): one keyframe judged, with frame
   * health on; its wall_us is the frame's time, not the signal's. */
  signals[SIGNAL_FRAME_HEALTH] = g_signal_new ("frame-health", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                               0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                                               VIGIL_TYPE_FRAME_SAMPLE | G_SIGNAL_TYPE_STATIC_SCOPE);

  /* ::camera-clock (offset_us): the camera's clock minus the host's, from
   * an RTCP sender report (vigilrtspsrc only), every few seconds. */
  signals[SIGNAL_CAMERA_CLOCK] = g_signal_new ("camera-clock", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                               0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);

  /* ::segment-failed (path relative to root, reason): a segment did not
   * close as it should: its fsync failed, or the run's last one did not
   * close within the finalise timeout. No ::segment-closed for it; the
   * file stays for start-up recovery. */
  signals[SIGNAL_SEGMENT_FAILED] = g_signal_new ("segment-failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                 0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);

  GST_DEBUG_CATEGORY_INIT (vigil_recorder_debug, "vigil-recorder", 0, "vigil camera recorder");
}

static void
vigil_recorder_init (VigilRecorder *self)
{
  g_mutex_init (&self->lock);
  g_queue_init (&self->fragments);
  g_queue_init (&self->closing);
}

VigilRecorder *
vigil_recorder_new (const VigilRecorderConfig *config)
{
  VigilRecorder *self;

  g_return_val_if_fail (config != NULL && config->camera != NULL && config->root != NULL, NULL);
  g_return_val_if_fail (config->segment_duration > 0 && config->stall_timeout > 0, NULL);

  self = g_object_new (VIGIL_TYPE_RECORDER, NULL);
  self->camera = g_strdup (config->camera);
  self->url = g_strdup (config->url);
  self->user = g_strdup (config->user);
  self->password = g_strdup (config->password);
  self->allow_basic_auth = config->allow_basic_auth;
  self->root = g_canonicalize_filename (config->root, NULL);
  self->use_udp = config->use_udp;
  self->force_rtspsrc = config->use_rtspsrc || config->use_udp;
  self->use_rtspsrc = self->force_rtspsrc || (config->url != NULL && !g_str_has_prefix (config->url, "rtsp://"));
  self->segment_duration = config->segment_duration;
  self->stall_timeout = config->stall_timeout;
  if (config->frame_health)
    {
      self->health = vigil_frame_health_new (config->frame_health_settings);
      self->health_interval = config->frame_health_interval > 0 ? config->frame_health_interval : GST_SECOND;
      self->health_calm_interval = config->frame_health_calm_interval > 0 ? config->frame_health_calm_interval
                                                                          : DEFAULT_CALM_INTERVAL;
      self->health_calm_interval = MAX (self->health_calm_interval, self->health_interval);
      self->health_pool = g_object_ref (config->frame_health_pool != NULL ? config->frame_health_pool
                                                                          : vigil_health_pool_get_default ());
      vigil_recorder_set_health_url (self, config->frame_health_url);
    }
  if (config->live_feed != NULL)
    self->live_feed = g_object_ref (config->live_feed);
  if (config->live_sub_feed != NULL)
    self->live_sub_feed = g_object_ref (config->live_sub_feed);
  return self;
}
