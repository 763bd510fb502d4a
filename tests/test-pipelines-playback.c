/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilPlaybackFactory and VigilPlaybackSource over real RTSP: segment
 * files made with x264enc and matroskamux at known wall-clock starts, a
 * GstRTSPOnvifServer on 127.0.0.1 (port 0, its own thread and context,
 * as the live server runs it), and rtspsrc viewers whose RTP packets are
 * read for their ONVIF timestamps (wall clock, keyframe and
 * discontinuity bits). Bad requests go over a raw GstRTSPConnection to
 * see the status codes. */
#include <glib/gstdio.h>
#include <gst/rtp/gstrtpbuffer.h>
#include <gst/rtsp-server/rtsp-onvif-server.h>
#include <gst/rtsp/gstrtspconnection.h>
#include <string.h>

#include "vigil-playback-factory.h"
#include "vigil-test-util.h"

/* 2024-05-01T10:00:00Z: the first test segment's wall-clock start. */
#define T0_US G_GINT64_CONSTANT (1714557600000000)
#define FRAME_US 40000   /* 25 fps */
#define NTP_EPOCH_S G_GINT64_CONSTANT (2208988800)

typedef struct {
  gint64   wall_us;      /* from the ONVIF extension */
  gint64   arrival_us;   /* monotonic */
  guint32  rtptime;
  gboolean keyframe, discont;
} Frame;

typedef struct {
  GstElement *pipeline;
  GMutex      lock;
  GArray     *frames;    /* Frame, under lock */
  gboolean    in_frame;  /* streaming thread: a frame's packets are coming */
  gboolean    error;     /* under lock */
} Client;

typedef struct {
  gchar           *dir;
  GMutex           lock;
  GPtrArray       *catalog;    /* VigilPlaybackSegment, under lock */
  guint            list_calls; /* under lock */
  GMainContext    *context;    /* the server's */
  GMainLoop       *server_loop;
  GThread         *server_thread;
  GstRTSPServer   *server;
  guint            port;
} Fixture;

/* ---------------------------------------------------------------- catalogue */

/* Runs on the server's thread or a streaming thread. */
static GPtrArray *
list_segments (const gchar *camera, gint64 from_us, gint64 to_us, guint max, gpointer user_data, GError **error)
{
  Fixture *f = user_data;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_playback_segment_free);

  g_assert_cmpstr (camera, ==, "cam0");
  g_mutex_lock (&f->lock);
  f->list_calls++;
  for (guint i = 0; i < f->catalog->len && out->len < max; i++)
    {
      const VigilPlaybackSegment *s = f->catalog->pdata[i];

      if ((s->end_us > from_us || s->writing) && s->start_us < to_us)
        g_ptr_array_add (out, vigil_playback_segment_new (s->path, s->start_us, s->end_us, s->writing));
    }
  g_mutex_unlock (&f->lock);
  return out;
}

static void
add_segment (Fixture *f, const gchar *path, gint64 start_us, gint64 end_us, gboolean writing)
{
  g_mutex_lock (&f->lock);
  g_ptr_array_add (f->catalog, vigil_playback_segment_new (path, start_us, end_us, writing));
  g_mutex_unlock (&f->lock);
}

/* A 2 s H.264 file at 25 fps, a keyframe every second, as the recorder
 * writes them (avc, au, offset-to-zero). */
static gchar *
make_segment (Fixture *f, const gchar *name)
{
  gchar *path = g_build_filename (f->dir, name, NULL);
  g_autofree gchar *description = g_strdup_printf (
    "videotestsrc num-buffers=50 pattern=ball ! video/x-raw,width=160,height=120,framerate=25/1 "
    "! x264enc key-int-max=25 speed-preset=ultrafast tune=zerolatency ! h264parse "
    "! video/x-h264,stream-format=avc,alignment=au ! matroskamux offset-to-zero=true ! filesink location=%s",
    path);

  vigil_test_run_pipeline (description, 30);
  return path;
}

/* ---------------------------------------------------------------- server */

static void
on_server_client_connected (GstRTSPServer *server, GstRTSPClient *client, gpointer unused)
{
  vigil_playback_watch_client (client);
}

static gpointer
run_server (gpointer data)
{
  Fixture *f = data;

  g_main_context_push_thread_default (f->context);
  g_main_loop_run (f->server_loop);
  g_main_context_pop_thread_default (f->context);
  return NULL;
}

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  g_autoptr(GstRTSPMountPoints) mounts = NULL;
  g_autoptr(VigilPlaybackFactory) factory = NULL;

  f->dir = vigil_test_make_tmp_dir ();
  g_mutex_init (&f->lock);
  f->catalog = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_playback_segment_free);
  f->context = g_main_context_new ();
  f->server_loop = g_main_loop_new (f->context, FALSE);
  f->server = gst_rtsp_onvif_server_new ();
  gst_rtsp_server_set_address (f->server, "127.0.0.1");
  gst_rtsp_server_set_service (f->server, "0");
  mounts = gst_rtsp_server_get_mount_points (f->server);
  factory = vigil_playback_factory_new ("cam0", list_segments, f, NULL);
  gst_rtsp_mount_points_add_factory (mounts, "/cam0/playback", GST_RTSP_MEDIA_FACTORY (g_steal_pointer (&factory)));
  g_signal_connect (f->server, "client-connected", G_CALLBACK (on_server_client_connected), NULL);
  g_assert_cmpuint (gst_rtsp_server_attach (f->server, f->context), !=, 0);
  f->port = gst_rtsp_server_get_bound_port (f->server);
  f->server_thread = g_thread_new ("rtsp-server", run_server, f);
}

static GstRTSPFilterResult
remove_all_sessions (GstRTSPSessionPool *pool, GstRTSPSession *session, gpointer unused)
{
  return GST_RTSP_FILTER_REMOVE;
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  g_autoptr(GstRTSPSessionPool) pool = gst_rtsp_server_get_session_pool (f->server);

  gst_rtsp_session_pool_filter (pool, remove_all_sessions, NULL);
  g_main_loop_quit (f->server_loop);
  g_thread_join (f->server_thread);
  /* The listening source holds the server; destroying it lets go. */
  g_main_context_unref (f->context);
  g_clear_object (&f->server);
  g_clear_pointer (&f->server_loop, g_main_loop_unref);
  g_clear_pointer (&f->catalog, g_ptr_array_unref);
  g_mutex_clear (&f->lock);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

/* ---------------------------------------------------------------- viewers */

/* Runs on rtspsrc's streaming thread: one Frame per access unit, from
 * its first packet's ONVIF extension (RTP header extension 0xABAC). */
static GstPadProbeReturn
on_rtp_packet (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Client *c = user_data;
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  guint16 bits = 0;
  gpointer data = NULL;
  guint words = 0;
  Frame frame = { 0 };
  gboolean marker;

  if (!gst_rtp_buffer_map (buffer, GST_MAP_READ, &rtp))
    return GST_PAD_PROBE_OK;
  marker = gst_rtp_buffer_get_marker (&rtp);
  if (!c->in_frame && gst_rtp_buffer_get_extension_data (&rtp, &bits, &data, &words) && bits == 0xABAC && words >= 3)
    {
      const guint8 *d = data;
      guint64 ntp = GST_READ_UINT64_BE (d);

      frame.wall_us = ((gint64) (ntp >> 32) - NTP_EPOCH_S) * G_USEC_PER_SEC +
                      (gint64) (((ntp & 0xffffffff) * G_USEC_PER_SEC + G_GUINT64_CONSTANT (0x80000000)) >> 32);
      frame.keyframe = (d[8] & 0x80) != 0;
      frame.discont = (d[8] & 0x20) != 0;
      frame.rtptime = gst_rtp_buffer_get_timestamp (&rtp);
      frame.arrival_us = g_get_monotonic_time ();
      g_mutex_lock (&c->lock);
      g_array_append_val (c->frames, frame);
      g_mutex_unlock (&c->lock);
    }
  c->in_frame = !marker;
  gst_rtp_buffer_unmap (&rtp);
  return GST_PAD_PROBE_OK;
}

static void
on_rtspsrc_pad_added (GstElement *src, GstPad *pad, Client *c)
{
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  g_autoptr(GstPad) sinkpad = gst_element_get_static_pad (sink, "sink");

  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
  gst_bin_add (GST_BIN (c->pipeline), sink);
  gst_element_sync_state_with_parent (sink);
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_rtp_packet, c, NULL);
  g_assert_cmpint (gst_pad_link (pad, sinkpad), ==, GST_PAD_LINK_OK);
}

static gboolean
on_client_bus (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  Client *c = user_data;

  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
    {
      g_autoptr(GError) error = NULL;

      gst_message_parse_error (msg, &error, NULL);
      g_test_message ("viewer error: %s", error->message);
      g_mutex_lock (&c->lock);
      c->error = TRUE;
      g_mutex_unlock (&c->lock);
    }
  return G_SOURCE_CONTINUE;
}

static Client *
client_start (Fixture *f, const gchar *query)
{
  Client *c = g_new0 (Client, 1);
  g_autofree gchar *url = g_strdup_printf ("rtsp://127.0.0.1:%u/cam0/playback%s%s", f->port, query ? "?" : "",
                                           query ? query : "");
  GstElement *src = gst_element_factory_make ("rtspsrc", NULL);
  g_autoptr(GstBus) bus = NULL;

  g_mutex_init (&c->lock);
  c->frames = g_array_new (FALSE, TRUE, sizeof (Frame));
  c->pipeline = gst_pipeline_new (NULL);
  g_object_set (src, "location", url, "latency", 100, "protocols", 0x4 /* tcp */, NULL);
  g_signal_connect (src, "pad-added", G_CALLBACK (on_rtspsrc_pad_added), c);
  gst_bin_add (GST_BIN (c->pipeline), src);
  bus = gst_element_get_bus (c->pipeline);
  gst_bus_add_watch (bus, on_client_bus, c);
  g_assert_cmpint (gst_element_set_state (c->pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  return c;
}

static void
client_free (Client *c)
{
  g_autoptr(GstBus) bus = gst_element_get_bus (c->pipeline);

  gst_element_set_state (c->pipeline, GST_STATE_NULL);
  gst_bus_remove_watch (bus);
  gst_object_unref (c->pipeline);
  g_array_unref (c->frames);
  g_mutex_clear (&c->lock);
  g_free (c);
}

typedef struct {
  Client *client;
  guint   n_frames;     /* wait for this many... */
  gint64  wall_us;      /* ...or a frame at or after this wall clock */
} Want;

static gboolean
client_has (gpointer data)
{
  Want *want = data;
  Client *c = want->client;
  gboolean met;

  g_mutex_lock (&c->lock);
  met = c->error || (want->n_frames > 0 && c->frames->len >= want->n_frames);
  for (guint i = 0; !met && want->wall_us != 0 && i < c->frames->len; i++)
    met = g_array_index (c->frames, Frame, i).wall_us >= want->wall_us;
  g_mutex_unlock (&c->lock);
  return met;
}

static void
client_wait (Client *c, guint n_frames, gint64 wall_us, guint timeout_s)
{
  Want want = { c, n_frames, wall_us };

  if (!vigil_test_wait_until (client_has, &want, timeout_s))
    {
      for (guint i = 0; i < c->frames->len; i++)
        {
          const Frame *fr = &g_array_index (c->frames, Frame, i);

          g_test_message ("frame %u: wall %+" G_GINT64_FORMAT " us, rtp %u, %s%s", i, fr->wall_us - T0_US, fr->rtptime,
                          fr->keyframe ? "key " : "", fr->discont ? "discont" : "");
        }
    }
  if (!want.client->error && !client_has (&want))
    g_error ("viewer: no frame at %" G_GINT64_FORMAT " us or %u frames within %u s (have %u)", wall_us, n_frames,
             timeout_s, c->frames->len);
  g_assert_false (c->error);
}

/* Whether, from frame @from on, playback restarted at B's keyframe (2 s,
 * marked) and went on to @wall_us: what a seek into B shows. */
typedef struct {
  Client *client;
  guint   from;
  gint64  wall_us;
} Restart;

static gboolean
client_restarted (gpointer data)
{
  Restart *restart = data;
  Client *c = restart->client;
  gboolean restarted = FALSE, reached = FALSE;

  g_mutex_lock (&c->lock);
  for (guint i = restart->from; i < c->frames->len && !reached; i++)
    {
      const Frame *fr = &g_array_index (c->frames, Frame, i);

      restarted |= fr->discont && fr->keyframe && fr->wall_us == T0_US + 2 * G_USEC_PER_SEC;
      reached = restarted && fr->wall_us >= restart->wall_us;
    }
  reached |= c->error;
  g_mutex_unlock (&c->lock);
  return reached;
}

/* Index of the first frame from @from on at or after @wall_us (1 ms for NTP rounding). */
static guint
first_frame_at (Client *c, guint from, gint64 wall_us)
{
  for (guint i = from; i < c->frames->len; i++)
    if (g_array_index (c->frames, Frame, i).wall_us >= wall_us - 1000)
      return i;
  g_error ("no frame at %" G_GINT64_FORMAT, wall_us);
  return 0;
}

static gchar *
iso (gint64 wall_us)
{
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc (wall_us / G_USEC_PER_SEC);
  g_autofree gchar *date = g_date_time_format (t, "%Y-%m-%dT%H:%M:%S");

  return g_strdup_printf ("%s.%06dZ", date, (gint) (wall_us % G_USEC_PER_SEC));
}

static gboolean
have_elements (void)
{
  if (vigil_test_have_elements ("x264enc", "h264parse", "matroskamux", "matroskademux", "rtph264pay",
                                "rtponviftimestamp", "rtspsrc", NULL))
    return TRUE;
  g_test_skip ("needs x264enc, h264parse, matroskamux/demux, rtph264pay, rtponviftimestamp and rtspsrc");
  return FALSE;
}

/* Segments A [0, 2 s), B [2 s, 4 s) and, after a 10 s gap, C [14 s, 16 s). */
static void
add_gapped_recording (Fixture *f)
{
  g_autofree gchar *a = make_segment (f, "a.mkv");
  g_autofree gchar *b = make_segment (f, "b.mkv");
  g_autofree gchar *c = make_segment (f, "c.mkv");

  add_segment (f, a, T0_US, T0_US + 2 * G_USEC_PER_SEC, FALSE);
  add_segment (f, b, T0_US + 2 * G_USEC_PER_SEC, T0_US + 4 * G_USEC_PER_SEC, FALSE);
  add_segment (f, c, T0_US + 14 * G_USEC_PER_SEC, T0_US + 16 * G_USEC_PER_SEC, FALSE);
}

/* ---------------------------------------------------------------- tests */

static void
test_playback_spans_segments_and_gap (Fixture *f, gconstpointer unused)
{
  gint64 start_us = T0_US + 1500000, end_us = T0_US + 15 * G_USEC_PER_SEC;
  gint64 c_start_us = T0_US + 14 * G_USEC_PER_SEC;
  g_autofree gchar *start = iso (start_us);
  g_autofree gchar *end = iso (end_us);
  g_autofree gchar *query = g_strdup_printf ("start=%s&end=%s", start, end);
  Client *c;
  guint shown, after_gap;
  const Frame *first, *at_start, *before_gap, *gap;

  if (!have_elements ())
    return;
  add_gapped_recording (f);
  c = client_start (f, query);
  client_wait (c, 0, end_us - FRAME_US, 30);

  g_mutex_lock (&c->lock);
  /* Starts on the keyframe at 1 s (decodable), its lead-in packed in
   * front of the frame at the requested start, which plays within a frame
   * of the first one. */
  first = &g_array_index (c->frames, Frame, 0);
  g_assert_true (first->keyframe);
  g_assert_true (first->discont);
  g_assert_cmpint (first->wall_us, ==, T0_US + G_USEC_PER_SEC);
  shown = first_frame_at (c, 0, start_us);
  at_start = &g_array_index (c->frames, Frame, shown);
  g_assert_cmpint (ABS (at_start->wall_us - start_us), <=, FRAME_US);
  g_assert_cmpuint (shown, ==, 13);   /* 1.00 s to 1.48 s */
  g_assert_cmpuint (at_start->rtptime - first->rtptime, <, 90 * FRAME_US / 1000);
  /* Wall clocks rise, frame after frame, across A to B without a mark. */
  for (guint i = shown + 1; i < c->frames->len; i++)
    {
      const Frame *prev = &g_array_index (c->frames, Frame, i - 1), *now = &g_array_index (c->frames, Frame, i);

      g_assert_cmpint (now->wall_us, >, prev->wall_us);
      if (now->wall_us < c_start_us)
        {
          g_assert_cmpint (now->wall_us - prev->wall_us, <=, FRAME_US + 1000);
          g_assert_false (now->discont);
        }
    }
  /* The gap: the next frame is C's first, marked, without a 10 s stall in
   * arrival or in RTP time. */
  after_gap = first_frame_at (c, shown, c_start_us);
  gap = &g_array_index (c->frames, Frame, after_gap);
  before_gap = &g_array_index (c->frames, Frame, after_gap - 1);
  g_assert_cmpint (ABS (gap->wall_us - c_start_us), <=, 1000);
  g_assert_true (gap->discont);
  g_assert_true (gap->keyframe);
  g_assert_cmpint (before_gap->wall_us, ==, T0_US + 4 * G_USEC_PER_SEC - FRAME_US);
  g_assert_cmpint (gap->arrival_us - before_gap->arrival_us, <, G_USEC_PER_SEC / 2);
  g_assert_cmpuint (gap->rtptime - before_gap->rtptime, <=, 2 * 90 * FRAME_US / 1000);
  /* 13 lead-in, 12 of A, 50 of B, 25 of C up to the end. */
  g_assert_cmpuint (c->frames->len, ==, 13 + 12 + 50 + 25);
  g_mutex_unlock (&c->lock);
  client_free (c);
}

static void
test_playback_seeks_by_play_range (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *start = iso (T0_US);
  g_autofree gchar *query = g_strdup_printf ("start=%s", start);
  gint64 target_us = T0_US + 2500000;
  Client *c;
  guint seek_index, restart = 0, shown;

  if (!have_elements ())
    return;
  add_gapped_recording (f);
  c = client_start (f, query);
  client_wait (c, 5, 0, 30);

  g_mutex_lock (&c->lock);
  seek_index = c->frames->len;
  g_mutex_unlock (&c->lock);
  /* rtspsrc sends PAUSE and PLAY with Range: npt=2.5-; npt counts recorded
   * time from start, so that is 2.5 s into the recording: inside B. */
  g_assert_true (gst_element_seek_simple (c->pipeline, GST_FORMAT_TIME, GST_SEEK_FLAG_FLUSH, 2500 * GST_MSECOND));
  {
    /* Waits for the restart itself: on a slow machine the run before the
     * seek may get far before the seek is answered. */
    Restart wanted = { c, seek_index, T0_US + 3000000 };

    g_assert_true (vigil_test_wait_until (client_restarted, &wanted, 60));
    g_assert_false (c->error);
  }

  g_mutex_lock (&c->lock);
  for (guint i = seek_index; i < c->frames->len; i++)
    {
      const Frame *fr = &g_array_index (c->frames, Frame, i);

      /* The new run starts with a marked keyframe: B's, at 2 s. */
      if (fr->discont && fr->keyframe && fr->wall_us == T0_US + 2 * G_USEC_PER_SEC)
        {
          restart = i;
          break;
        }
    }
  g_assert_cmpuint (restart, >, 0);
  shown = first_frame_at (c, restart, target_us);
  g_assert_cmpint (ABS (g_array_index (c->frames, Frame, shown).wall_us - target_us), <=, FRAME_US);
  g_mutex_unlock (&c->lock);
  client_free (c);
}

static gboolean
file_has_bytes (gpointer path)
{
  GStatBuf st;

  return g_stat (path, &st) == 0 && st.st_size > 4096;
}

static void
test_playback_follows_growing_segment (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *path = g_build_filename (f->dir, "live.mkv", NULL);
  g_autofree gchar *description = g_strdup_printf (
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=160,height=120,framerate=25/1 "
    "! x264enc key-int-max=25 speed-preset=ultrafast tune=zerolatency ! h264parse "
    "! video/x-h264,stream-format=avc,alignment=au ! matroskamux offset-to-zero=true "
    "! filesink buffer-mode=2 location=%s", path);
  g_autoptr(GstElement) writer = NULL;
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GstMessage) msg = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *start = NULL;
  g_autofree gchar *query = NULL;
  gint64 written_from_us, playing_since_us;
  Client *c;

  if (!have_elements ())
    return;
  writer = gst_parse_launch (description, &error);
  g_assert_no_error (error);
  written_from_us = g_get_real_time ();
  gst_element_set_state (writer, GST_STATE_PLAYING);
  g_assert_true (vigil_test_wait_until (file_has_bytes, path, 10));
  add_segment (f, path, written_from_us, g_get_real_time (), TRUE);

  start = iso (written_from_us);
  query = g_strdup_printf ("start=%s", start);
  playing_since_us = g_get_real_time ();
  c = client_start (f, query);
  /* Frames captured a second after playback began can only have come by
   * following the file. */
  client_wait (c, 0, playing_since_us + G_USEC_PER_SEC, 30);

  /* The recorder closes the segment; playback reads it to its end. */
  gst_element_send_event (writer, gst_event_new_eos ());
  bus = gst_element_get_bus (writer);
  msg = gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
  gst_element_set_state (writer, GST_STATE_NULL);
  {
    gint64 closed_us = g_get_real_time ();

    g_mutex_lock (&f->lock);
    ((VigilPlaybackSegment *) f->catalog->pdata[0])->writing = FALSE;
    ((VigilPlaybackSegment *) f->catalog->pdata[0])->end_us = closed_us;
    g_mutex_unlock (&f->lock);
    /* Playback runs about as far behind as it started after recording. */
    client_wait (c, 0, closed_us - (playing_since_us - written_from_us) - 500000, 30);
  }
  g_mutex_lock (&c->lock);
  g_test_message ("%u frames, from %+" G_GINT64_FORMAT " to %+" G_GINT64_FORMAT " us after playback began", c->frames->len,
                  g_array_index (c->frames, Frame, 0).wall_us - playing_since_us,
                  g_array_index (c->frames, Frame, c->frames->len - 1).wall_us - playing_since_us);
  /* Every frame, in order, none lost while waiting at the file's end. */
  for (guint i = 1; i < c->frames->len; i++)
    {
      gint64 step = g_array_index (c->frames, Frame, i).wall_us - g_array_index (c->frames, Frame, i - 1).wall_us;

      g_assert_cmpint (step, >, 0);
      g_assert_cmpint (step, <=, FRAME_US + 1000);
    }
  g_mutex_unlock (&c->lock);
  client_free (c);
}

/* A raw DESCRIBE; returns the status code. */
static GstRTSPStatusCode
describe (Fixture *f, const gchar *query)
{
  g_autofree gchar *url = g_strdup_printf ("rtsp://127.0.0.1:%u/cam0/playback%s", f->port, query);
  GstRTSPUrl *parsed = NULL;
  GstRTSPConnection *conn = NULL;
  GstRTSPMessage *request = NULL, *response = NULL;
  GstRTSPStatusCode code = 0;

  g_test_message ("DESCRIBE %s", url);
  g_assert_cmpint (gst_rtsp_url_parse (url, &parsed), ==, GST_RTSP_OK);
  g_assert_cmpint (gst_rtsp_connection_create (parsed, &conn), ==, GST_RTSP_OK);
  g_assert_cmpint (gst_rtsp_connection_connect_usec (conn, 10 * G_USEC_PER_SEC), ==, GST_RTSP_OK);
  g_assert_cmpint (gst_rtsp_message_new_request (&request, GST_RTSP_DESCRIBE, url), ==, GST_RTSP_OK);
  gst_rtsp_message_add_header (request, GST_RTSP_HDR_CSEQ, "1");
  g_assert_cmpint (gst_rtsp_connection_send_usec (conn, request, 10 * G_USEC_PER_SEC), ==, GST_RTSP_OK);
  g_assert_cmpint (gst_rtsp_message_new (&response), ==, GST_RTSP_OK);
  g_assert_cmpint (gst_rtsp_connection_receive_usec (conn, response, 10 * G_USEC_PER_SEC), ==, GST_RTSP_OK);
  g_assert_cmpint (gst_rtsp_message_parse_response (response, &code, NULL, NULL), ==, GST_RTSP_OK);
  gst_rtsp_message_free (request);
  gst_rtsp_message_free (response);
  gst_rtsp_connection_free (conn);
  gst_rtsp_url_free (parsed);
  return code;
}

static void
test_playback_refuses_bad_queries (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *long_query = NULL;

  if (!have_elements ())
    return;
  add_gapped_recording (f);
  long_query = g_strnfill (400, 'x');
  long_query[0] = '?';
  memcpy (long_query + 1, "start=", 6);

  g_assert_cmpint (describe (f, "?start=2024-05-01T10:00:01Z&end=2024-05-01T10:00:03Z"), ==, GST_RTSP_STS_OK);
  g_assert_cmpint (describe (f, ""), ==, GST_RTSP_STS_OK);
  g_assert_cmpint (describe (f, "?start=yesterday"), ==, GST_RTSP_STS_BAD_REQUEST);
  g_assert_cmpint (describe (f, "?start=2024-05-01T10:00:01"), ==, GST_RTSP_STS_BAD_REQUEST);   /* no zone */
  g_assert_cmpint (describe (f, "?start=2024-05-01T10:00:03Z&end=2024-05-01T10:00:01Z"), ==,
                   GST_RTSP_STS_BAD_REQUEST);
  g_assert_cmpint (describe (f, "?start=1900-01-01T00:00:00Z"), ==, GST_RTSP_STS_BAD_REQUEST);
  g_assert_cmpint (describe (f, "?start=2024-05-01T10:00:01Z&camera=cam1"), ==, GST_RTSP_STS_BAD_REQUEST);
  g_assert_cmpint (describe (f, "?start=2024-05-01T10:00:01Z&start=2024-05-01T10:00:02Z"), ==,
                   GST_RTSP_STS_BAD_REQUEST);
  g_assert_cmpint (describe (f, "?start"), ==, GST_RTSP_STS_BAD_REQUEST);
  g_assert_cmpint (describe (f, long_query), ==, GST_RTSP_STS_BAD_REQUEST);
  /* In the gap, and after the recording: nothing to play. */
  g_assert_cmpint (describe (f, "?start=2024-05-01T10:00:05Z&end=2024-05-01T10:00:10Z"), ==, GST_RTSP_STS_NOT_FOUND);
  g_assert_cmpint (describe (f, "?start=2030-01-01T00:00:00%2B01:00"), ==, GST_RTSP_STS_NOT_FOUND);
}

static void
test_playback_parses_queries (void)
{
  gint64 start_us, end_us;
  g_autoptr(GError) error = NULL;

  g_assert_true (vigil_playback_parse_query ("start=2024-05-01T12:00:00.25+02:00", &start_us, &end_us, &error));
  g_assert_no_error (error);
  g_assert_cmpint (start_us, ==, T0_US + 250000);
  g_assert_cmpint (end_us, ==, G_MAXINT64);
  /* The suffix gst-rtsp-server's Content-Base gives SETUP URLs. */
  g_assert_true (vigil_playback_parse_query ("start=2024-05-01T10:00:00Z&end=2024-05-01T10:00:01Z/stream=0",
                                             &start_us, &end_us, &error));
  g_assert_cmpint (end_us, ==, T0_US + G_USEC_PER_SEC);
  g_assert_false (vigil_playback_parse_query ("end", &start_us, &end_us, &error));
  g_assert_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_INVALID);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pipelines/playback/parses-queries", test_playback_parses_queries);
  g_test_add ("/pipelines/playback/refuses-bad-queries", Fixture, NULL, fixture_set_up,
              test_playback_refuses_bad_queries, fixture_tear_down);
  g_test_add ("/pipelines/playback/spans-segments-and-gap", Fixture, NULL, fixture_set_up,
              test_playback_spans_segments_and_gap, fixture_tear_down);
  g_test_add ("/pipelines/playback/seeks-by-play-range", Fixture, NULL, fixture_set_up,
              test_playback_seeks_by_play_range, fixture_tear_down);
  g_test_add ("/pipelines/playback/follows-growing-segment", Fixture, NULL, fixture_set_up,
              test_playback_follows_growing_segment, fixture_tear_down);
  return g_test_run ();
}
