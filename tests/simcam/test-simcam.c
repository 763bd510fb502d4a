/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilSimcam serves decodable H.264 and H.265, with or without audio, over
 * RTSP and shows each fault it promises to real GStreamer clients: rtspsrc
 * over TCP, depayloaded, parsed and decoded. Tests wait for events in a
 * GMainLoop, never sleep. */

#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

#include "vigil-simcam.h"

#define TIMEOUT_S 20

/* Small clips keep encoding and decoding cheap under sanitizers on a loaded
 * machine: 5 s of 320x240 at 10 fps, a keyframe every second. */
#define CLIP_WIDTH   320
#define CLIP_HEIGHT  240
#define CLIP_FPS     10

/* A ':' in the password checks that nothing splits user and password at the
 * last colon. */
#define AUTH_USER      "viewer"
#define AUTH_PASSWORD  "pass:word"

/* What a client links after rtspsrc, up to its fakesinks. */
#define H264_CHAIN  "rtph264depay ! h264parse ! avdec_h264"
#define H265_CHAIN  "rtph265depay ! h265parse ! avdec_h265"
#define AAC_CHAIN   "rtpmp4gdepay ! avdec_aac"
#define PCMA_CHAIN  "rtppcmadepay ! alawdec"

typedef struct _Fixture Fixture;
typedef gboolean (*Condition) (Fixture *f, gpointer data);

struct _Fixture {
  gchar       *dir;          /* temporary directory for this test */
  GMainLoop   *loop;
  VigilSimcam *simcam;
  Condition    condition;    /* what the loop waits for, NULL when not waiting */
  gpointer     condition_data;
};

/* One RTSP client pipeline. Counters are updated on the main thread. */
typedef struct {
  Fixture    *f;
  GstElement *pipeline;
  guint       bus_watch;
  guint       frames;         /* decoded frames seen */
  gint        width, height;  /* of the last decoded frame */
  gdouble     luma;           /* mean luma of the last decoded frame */
  gdouble     luma_spread;    /* that of its right half minus that of its left half */
  gdouble     cb;             /* its mean Cb */
  gint64      last_frame_us;  /* monotonic */
  guint       audio_buffers;  /* decoded audio buffers seen */
  gint        rate, channels; /* of the last decoded audio buffer */
  GstClockTime audio_pts;     /* of the last decoded audio buffer */
  gint64      last_audio_us;  /* monotonic */
  GPtrArray  *rtp_pads;       /* "<media> <encoding-name>/<clock-rate>" of each rtspsrc pad */
  GError     *error;          /* first error posted, if any */
  gboolean    is_eos;
} Client;

typedef struct {
  Client  *client;
  gboolean is_audio;
  gint     width, height;     /* video */
  gdouble  luma;              /* video: mean luma */
  gdouble  luma_spread;       /* video: right half's mean luma minus the left half's */
  gdouble  cb;                /* video: mean Cb */
  gint     rate, channels;    /* audio */
  GstClockTime pts;           /* audio */
} FrameEvent;

typedef struct {
  Client *client;
  gchar  *description;        /* as in Client.rtp_pads */
} PadEvent;

static gboolean
have_elements (const gchar *first, ...)
{
  va_list args;
  gboolean have = TRUE;

  va_start (args, first);
  for (const gchar *name = first; name != NULL; name = va_arg (args, const gchar *))
    {
      g_autoptr(GstElementFactory) factory = gst_element_factory_find (name);

      have = have && factory != NULL;
    }
  va_end (args);
  return have;
}

static gboolean
skip_without_elements (void)
{
  if (have_elements ("x264enc", "h264parse", "rtspsrc", "rtph264depay", "avdec_h264", NULL))
    return FALSE;
  g_test_skip ("needs x264enc, h264parse, rtspsrc, rtph264depay and avdec_h264");
  return TRUE;
}

static gboolean
have_aac_encoder (void)
{
  return have_elements ("fdkaacenc", NULL) || have_elements ("voaacenc", NULL) ||
         have_elements ("avenc_aac", NULL);
}

static void
check_condition (Fixture *f)
{
  if (f->condition != NULL && f->condition (f, f->condition_data))
    g_main_loop_quit (f->loop);
}

static gboolean
on_wait_poll (gpointer user_data)
{
  check_condition (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_wait_timeout (gpointer user_data)
{
  Fixture *f = user_data;

  f->condition = NULL;
  g_main_loop_quit (f->loop);
  return G_SOURCE_REMOVE;
}

/* Runs the loop until @condition holds, failing the test after TIMEOUT_S.
 * Conditions are checked on every client event; @poll_ms > 0 also checks
 * them periodically, for conditions about time passing without events. */
static void
wait_until (Fixture *f, Condition condition, gpointer data, guint poll_ms, const gchar *what)
{
  guint timeout_id, poll_id = 0;
  gboolean timed_out;

  if (condition (f, data))
    return;
  f->condition = condition;
  f->condition_data = data;
  timeout_id = g_timeout_add_seconds (TIMEOUT_S, on_wait_timeout, f);
  if (poll_ms > 0)
    poll_id = g_timeout_add (poll_ms, on_wait_poll, f);
  g_main_loop_run (f->loop);
  timed_out = f->condition == NULL;
  if (!timed_out)
    g_source_remove (timeout_id);
  f->condition = NULL;
  g_clear_handle_id (&poll_id, g_source_remove);
  if (timed_out)
    g_test_message ("timed out after %u s waiting for %s", TIMEOUT_S, what);
  g_assert_false (timed_out);
}

static gboolean
on_frame_event (gpointer user_data)
{
  FrameEvent *event = user_data;
  Client *client = event->client;

  if (event->is_audio)
    {
      client->audio_buffers++;
      client->rate = event->rate;
      client->channels = event->channels;
      client->audio_pts = event->pts;
      client->last_audio_us = g_get_monotonic_time ();
    }
  else
    {
      client->frames++;
      client->width = event->width;
      client->height = event->height;
      client->luma = event->luma;
      client->luma_spread = event->luma_spread;
      client->cb = event->cb;
      client->last_frame_us = g_get_monotonic_time ();
    }
  check_condition (client->f);
  return G_SOURCE_REMOVE;
}

/* Runs on the client's streaming thread. */
static void
on_sink_handoff (GstElement *sink, GstBuffer *buffer, GstPad *pad, Client *client)
{
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps (pad);
  FrameEvent *event = g_new0 (FrameEvent, 1);

  event->client = client;
  if (caps != NULL)
    {
      GstStructure *s = gst_caps_get_structure (caps, 0);

      gst_structure_get_int (s, "width", &event->width);
      gst_structure_get_int (s, "height", &event->height);
    }
  /* The decoder's planar YUV has its luma plane first, rows four-byte
   * aligned (fakesink takes no video meta, so the layout is the default);
   * in I420 the Cb plane follows, half the size each way. */
  if (event->width > 0 && event->height > 0)
    {
      gsize stride = GST_ROUND_UP_4 (event->width);
      gsize c_stride = GST_ROUND_UP_4 (GST_ROUND_UP_2 (event->width) / 2);
      gint c_width = GST_ROUND_UP_2 (event->width) / 2, c_height = GST_ROUND_UP_2 (event->height) / 2;
      gsize c_offset = stride * GST_ROUND_UP_2 (event->height);
      const gchar *format = gst_structure_get_string (gst_caps_get_structure (caps, 0), "format");
      gint half = event->width / 2;
      GstMapInfo map;

      if (gst_buffer_map (buffer, &map, GST_MAP_READ))
        {
          if (map.size >= stride * event->height)
            {
              guint64 sum = 0, left = 0, right = 0;

              for (gint y = 0; y < event->height; y++)
                for (gint x = 0; x < event->width; x++)
                  {
                    guint8 luma = map.data[y * stride + x];

                    sum += luma;
                    /* An odd width's middle column is in neither half. */
                    if (x < half)
                      left += luma;
                    else if (x >= event->width - half)
                      right += luma;
                  }
              event->luma = (gdouble) sum / (event->width * event->height);
              if (half > 0)
                event->luma_spread = ((gdouble) right - left) / (half * event->height);
            }
          if (g_strcmp0 (format, "I420") == 0 && map.size >= c_offset + c_stride * c_height)
            {
              guint64 sum = 0;

              for (gint y = 0; y < c_height; y++)
                for (gint x = 0; x < c_width; x++)
                  sum += map.data[c_offset + y * c_stride + x];
              event->cb = (gdouble) sum / (c_width * c_height);
            }
          gst_buffer_unmap (buffer, &map);
        }
    }
  g_idle_add_full (G_PRIORITY_DEFAULT, on_frame_event, event, g_free);
}

/* Runs on the client's audio streaming thread. */
static void
on_audio_sink_handoff (GstElement *sink, GstBuffer *buffer, GstPad *pad, Client *client)
{
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps (pad);
  FrameEvent *event = g_new0 (FrameEvent, 1);

  event->client = client;
  event->is_audio = TRUE;
  event->pts = GST_BUFFER_PTS (buffer);
  if (caps != NULL)
    {
      GstStructure *s = gst_caps_get_structure (caps, 0);

      gst_structure_get_int (s, "rate", &event->rate);
      gst_structure_get_int (s, "channels", &event->channels);
    }
  g_idle_add_full (G_PRIORITY_DEFAULT, on_frame_event, event, g_free);
}

static void
pad_event_free (PadEvent *event)
{
  g_free (event->description);
  g_free (event);
}

static gboolean
on_pad_event (gpointer user_data)
{
  PadEvent *event = user_data;

  g_test_message ("rtspsrc pad: %s", event->description);
  g_ptr_array_add (event->client->rtp_pads, g_steal_pointer (&event->description));
  check_condition (event->client->f);
  return G_SOURCE_REMOVE;
}

/* Runs on a streaming thread of rtspsrc: one pad per stream in the SDP.
 * Links it to the chain for its media ("vin" or "ain"), if there is one.
 * Not parse-launch's delayed linking ("src. ! chain"): GStreamer 1.22 runs
 * that handler for pads added from two jitterbuffer threads at once, and
 * both may find and link the same pad and disconnect the same handler,
 * which GLib warns about (fatal in tests). */
static void
on_src_pad_added (GstElement *src, GstPad *pad, Client *client)
{
  g_autoptr(GstCaps) caps = gst_pad_query_caps (pad, NULL);
  GstStructure *s = gst_caps_get_structure (caps, 0);
  PadEvent *event = g_new0 (PadEvent, 1);
  gint clock_rate = 0;
  g_autoptr(GstElement) chain = gst_bin_get_by_name (GST_BIN (client->pipeline),
                                                     g_strcmp0 (gst_structure_get_string (s, "media"), "video") == 0
                                                     ? "vin" : "ain");

  if (chain != NULL)
    {
      g_autoptr(GstPad) chain_pad = gst_element_get_static_pad (chain, "sink");

      if (!gst_pad_is_linked (chain_pad))
        gst_pad_link (pad, chain_pad);
    }
  gst_structure_get_int (s, "clock-rate", &clock_rate);
  event->client = client;
  event->description = g_strdup_printf ("%s %s/%d", gst_structure_get_string (s, "media"),
                                        gst_structure_get_string (s, "encoding-name"),
                                        clock_rate);
  g_idle_add_full (G_PRIORITY_DEFAULT, on_pad_event, event, (GDestroyNotify) pad_event_free);
}

static gboolean
on_client_bus_message (GstBus *bus, GstMessage *message, gpointer user_data)
{
  Client *client = user_data;

  switch (GST_MESSAGE_TYPE (message))
    {
    case GST_MESSAGE_ERROR:
      if (client->error == NULL)
        {
          gst_message_parse_error (message, &client->error, NULL);
          g_test_message ("client error: %s", client->error->message);
        }
      break;
    case GST_MESSAGE_EOS:
      client->is_eos = TRUE;
      g_test_message ("client eos");
      break;
    default:
      break;
    }
  check_condition (client->f);
  return G_SOURCE_CONTINUE;
}

/* @user and @password may be NULL: no credentials. @video_chain and
 * @audio_chain (NULL: no audio branch) go from rtspsrc's pads to fakesinks;
 * on_src_pad_added() links each pad to the chain for its media. */
static Client *
client_start_full (Fixture *f, guint index, const gchar *user, const gchar *password,
                   const gchar *video_chain, const gchar *audio_chain)
{
  g_autofree gchar *url = vigil_simcam_get_url (f->simcam, index);
  g_autofree gchar *description = NULL;
  g_autofree gchar *audio_branch = NULL;
  g_autoptr(GstElement) src = NULL;
  g_autoptr(GstElement) sink = NULL;
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GError) error = NULL;
  Client *client = g_new0 (Client, 1);

  if (audio_chain != NULL)
    audio_branch = g_strdup_printf ("identity name=ain ! %s ! fakesink name=asink sync=false "
                                    "signal-handoffs=true", audio_chain);
  /* latency=100: the jitterbuffer should not hide a stall for long. */
  description = g_strdup_printf ("rtspsrc name=src location=%s protocols=tcp latency=100 "
                                 "identity name=vin ! %s ! fakesink name=sink sync=false signal-handoffs=true "
                                 "%s", url, video_chain, audio_branch ? audio_branch : "");
  client->f = f;
  client->rtp_pads = g_ptr_array_new_with_free_func (g_free);
  client->pipeline = gst_parse_launch (description, &error);
  g_assert_no_error (error);
  src = gst_bin_get_by_name (GST_BIN (client->pipeline), "src");
  g_object_set (src, "user-id", user, "user-pw", password, NULL);
  g_signal_connect (src, "pad-added", G_CALLBACK (on_src_pad_added), client);
  sink = gst_bin_get_by_name (GST_BIN (client->pipeline), "sink");
  g_signal_connect (sink, "handoff", G_CALLBACK (on_sink_handoff), client);
  if (audio_chain != NULL)
    {
      g_autoptr(GstElement) audio_sink = gst_bin_get_by_name (GST_BIN (client->pipeline),
                                                              "asink");

      g_signal_connect (audio_sink, "handoff", G_CALLBACK (on_audio_sink_handoff), client);
    }
  bus = gst_element_get_bus (client->pipeline);
  client->bus_watch = gst_bus_add_watch (bus, on_client_bus_message, client);
  g_assert_cmpint (gst_element_set_state (client->pipeline, GST_STATE_PLAYING), !=,
                   GST_STATE_CHANGE_FAILURE);
  return client;
}

static Client *
client_start (Fixture *f, guint index)
{
  return client_start_full (f, index, NULL, NULL, H264_CHAIN, NULL);
}

static void
client_stop (Client *client)
{
  gst_element_set_state (client->pipeline, GST_STATE_NULL);
  g_clear_handle_id (&client->bus_watch, g_source_remove);
  /* Frame events already queued point at this client. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  gst_clear_object (&client->pipeline);
  g_clear_pointer (&client->rtp_pads, g_ptr_array_unref);
  g_clear_error (&client->error);
  g_free (client);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Client, client_stop)

typedef struct {
  Client *client;
  guint   frames;
} FramesWanted;

static gboolean
client_has_frames (Fixture *f, gpointer data)
{
  FramesWanted *wanted = data;

  return wanted->client->frames >= wanted->frames;
}

/* Waits for @n more decoded frames on @client. */
static void
wait_for_frames (Fixture *f, Client *client, guint n)
{
  FramesWanted wanted = { client, client->frames + n };

  wait_until (f, client_has_frames, &wanted, 0, "decoded frames");
  g_assert_null (client->error);
}

static gboolean
client_has_ended (Fixture *f, gpointer data)
{
  Client *client = data;

  return client->error != NULL || client->is_eos;
}

typedef struct {
  Client *client;
  guint   frames;
  guint   audio_buffers;
} MediaWanted;

static gboolean
client_has_media (Fixture *f, gpointer data)
{
  MediaWanted *wanted = data;

  return wanted->client->frames >= wanted->frames &&
         wanted->client->audio_buffers >= wanted->audio_buffers;
}

/* Waits for @n_frames more decoded frames and @n_audio more decoded audio
 * buffers on @client. */
static void
wait_for_media (Fixture *f, Client *client, guint n_frames, guint n_audio)
{
  MediaWanted wanted = { client, client->frames + n_frames, client->audio_buffers + n_audio };

  wait_until (f, client_has_media, &wanted, 0, "decoded video and audio");
  g_assert_null (client->error);
}

static gboolean
client_is_quiet (Fixture *f, gpointer data)
{
  Client *client = data;

  return g_get_monotonic_time () - client->last_frame_us > 1500 * G_TIME_SPAN_MILLISECOND;
}

/* Neither video nor audio for 1.5 s. */
static gboolean
client_is_silent (Fixture *f, gpointer data)
{
  Client *client = data;

  return client_is_quiet (f, client) &&
         g_get_monotonic_time () - client->last_audio_us > 1500 * G_TIME_SPAN_MILLISECOND;
}

/* Whether @client got an rtspsrc pad described as @description. */
static gboolean
client_has_pad (Client *client, const gchar *description)
{
  for (guint i = 0; i < client->rtp_pads->len; i++)
    if (g_str_equal (g_ptr_array_index (client->rtp_pads, i), description))
      return TRUE;
  return FALSE;
}

typedef struct {
  Client *client;
  gint    width, height;
} SizeWanted;

static gboolean
client_has_size (Fixture *f, gpointer data)
{
  SizeWanted *wanted = data;

  return wanted->client->width == wanted->width && wanted->client->height == wanted->height;
}

typedef struct {
  Client  *client;
  gdouble  min_luma, max_luma;
  guint    frames;            /* in a row within the range */
} LumaWanted;

static gboolean
client_has_luma (Fixture *f, gpointer data)
{
  LumaWanted *wanted = data;
  gdouble luma = wanted->client->luma;

  /* Each event is one frame: a few in a row rule out a stray one. */
  if (luma >= wanted->min_luma && luma <= wanted->max_luma)
    wanted->frames++;
  else
    wanted->frames = 0;
  return wanted->frames >= 3;
}

/* Waits until @client decodes frames whose mean luma is within
 * [@min_luma, @max_luma]. */
static void
wait_for_luma (Fixture *f, Client *client, gdouble min_luma, gdouble max_luma, const gchar *what)
{
  LumaWanted wanted = { client, min_luma, max_luma, 0 };

  wait_until (f, client_has_luma, &wanted, 0, what);
  g_assert_null (client->error);
}

typedef enum {
  MEASURE_LUMA,         /* Client.luma */
  MEASURE_LUMA_SPREAD,  /* Client.luma_spread */
  MEASURE_CB,           /* Client.cb */
} Measure;

typedef struct {
  Client  *client;
  Measure  measure;
  gdouble  min, max;
  guint    checked_frames;    /* client->frames when last checked */
  guint    frames;            /* in a row within the range */
} MeasureWanted;

static gdouble
client_get_measure (Client *client, Measure measure)
{
  switch (measure)
    {
    case MEASURE_LUMA:
      return client->luma;
    case MEASURE_LUMA_SPREAD:
      return client->luma_spread;
    case MEASURE_CB:
      return client->cb;
    }
  g_assert_not_reached ();
}

static gboolean
client_has_measure (Fixture *f, gpointer data)
{
  MeasureWanted *wanted = data;
  gdouble value = client_get_measure (wanted->client, wanted->measure);

  /* Other events (audio, bus) check too; count each new frame once. */
  if (wanted->client->frames == wanted->checked_frames)
    return FALSE;
  wanted->checked_frames = wanted->client->frames;
  if (value >= wanted->min && value <= wanted->max)
    wanted->frames++;
  else
    wanted->frames = 0;
  return wanted->frames >= 3;
}

/* Waits until @client decodes three frames in a row whose @measure is within
 * [@min, @max]. */
static void
wait_for_measure (Fixture *f, Client *client, Measure measure, gdouble min, gdouble max,
                  const gchar *what)
{
  MeasureWanted wanted = { client, measure, min, max, client->frames, 0 };

  wait_until (f, client_has_measure, &wanted, 0, what);
  g_test_message ("%s: luma %.1f, spread %.1f, cb %.1f", what, client->luma,
                  client->luma_spread, client->cb);
  g_assert_null (client->error);
}

/* Sends a bare DESCRIBE and returns the RTSP status code, and in
 * @www_authenticate (if not NULL) the WWW-Authenticate header or NULL. */
static guint
describe_full (Fixture *f, guint index, gchar **www_authenticate)
{
  g_autoptr(GSocketClient) socket_client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GDataInputStream) in = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *url = vigil_simcam_get_url (f->simcam, index);
  g_autofree gchar *request = NULL;
  g_autofree gchar *status = NULL;
  g_auto(GStrv) words = NULL;

  g_socket_client_set_timeout (socket_client, TIMEOUT_S);
  connection = g_socket_client_connect_to_host (socket_client, "127.0.0.1",
                                                vigil_simcam_get_port (f->simcam), NULL, &error);
  g_assert_no_error (error);
  request = g_strdup_printf ("DESCRIBE %s RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n",
                             url);
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (connection)),
                             request, strlen (request), NULL, NULL, &error);
  g_assert_no_error (error);
  in = g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (connection)));
  status = g_data_input_stream_read_line (in, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (status);
  words = g_strsplit (status, " ", 3);
  g_assert_cmpstr (words[0], ==, "RTSP/1.0");
  g_assert_nonnull (words[1]);

  if (www_authenticate != NULL)
    {
      const gchar *name = "WWW-Authenticate:";
      gchar *line;

      *www_authenticate = NULL;
      while ((line = g_data_input_stream_read_line (in, NULL, NULL, &error)) != NULL &&
             g_strchomp (line)[0] != '\0')
        {
          if (*www_authenticate == NULL && g_ascii_strncasecmp (line, name, strlen (name)) == 0)
            *www_authenticate = g_strdup (g_strstrip (line + strlen (name)));
          g_free (line);
        }
      g_assert_no_error (error);
      g_free (line);
    }
  return (guint) g_ascii_strtoull (words[1], NULL, 10);
}

static guint
describe (Fixture *f, guint index)
{
  return describe_full (f, index, NULL);
}

/* Whether a TCP connect to the simcam's port succeeds; a refusal is the only
 * failure expected. */
static gboolean
can_connect (Fixture *f)
{
  g_autoptr(GSocketClient) socket_client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;

  g_socket_client_set_timeout (socket_client, TIMEOUT_S);
  connection = g_socket_client_connect_to_host (socket_client, "127.0.0.1",
                                                vigil_simcam_get_port (f->simcam), NULL, &error);
  if (connection == NULL)
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  return connection != NULL;
}

static void
remove_tree (const gchar *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const gchar *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree gchar *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static VigilSimcam *
simcam_new_full (const gchar *clip_cache, guint n_streams, VigilSimcamAuth auth,
                 VigilSimcamCodec codec, VigilSimcamAudio audio, gboolean ptz)
{
  VigilSimcamOptions options = {
    .n_streams = n_streams,
    .width = CLIP_WIDTH,
    .height = CLIP_HEIGHT,
    .fps = CLIP_FPS,
    .bitrate_kbps = 300,
    .gop_frames = CLIP_FPS,
    .clip_seconds = 5,
    .port = 0,
    .clip_cache = clip_cache,
    .user = AUTH_USER,
    .password = AUTH_PASSWORD,
    .auth = auth,
    .codec = codec,
    .audio = audio,
    .ptz = ptz,
  };
  g_autoptr(GError) error = NULL;
  VigilSimcam *simcam = vigil_simcam_new (&options, &error);

  g_assert_no_error (error);
  g_assert_nonnull (simcam);
  return simcam;
}

static VigilSimcam *
simcam_new (const gchar *clip_cache, guint n_streams, VigilSimcamAuth auth)
{
  return simcam_new_full (clip_cache, n_streams, auth, VIGIL_SIMCAM_CODEC_H264,
                          VIGIL_SIMCAM_AUDIO_NONE, FALSE);
}

/* @data: the VigilSimcamAuth to serve with, as GINT_TO_POINTER(). */
static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  VigilSimcamAuth auth = GPOINTER_TO_INT (data);
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("test-simcam-XXXXXX", &error);
  g_assert_no_error (error);
  f->loop = g_main_loop_new (NULL, FALSE);
  if (have_elements ("x264enc", "h264parse", NULL))
    f->simcam = simcam_new (NULL, auth == VIGIL_SIMCAM_AUTH_NONE ? 2 : 1, auth);
}

/* For tests that make their own simcam. */
static void
fixture_set_up_empty (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("test-simcam-XXXXXX", &error);
  g_assert_no_error (error);
  f->loop = g_main_loop_new (NULL, FALSE);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  g_clear_object (&f->simcam);
  g_clear_pointer (&f->loop, g_main_loop_unref);
  remove_tree (f->dir);
  g_clear_pointer (&f->dir, g_free);
}

static void
test_serves_h264 (Fixture *f, gconstpointer unused)
{
  g_autoptr(Client) first = NULL;
  g_autoptr(Client) second = NULL;
  g_autofree gchar *url = NULL;
  g_autofree gchar *expected_url = NULL;

  if (skip_without_elements ())
    return;

  url = vigil_simcam_get_url (f->simcam, 1);
  expected_url = g_strdup_printf ("rtsp://127.0.0.1:%u/cam1", vigil_simcam_get_port (f->simcam));
  g_assert_cmpstr (url, ==, expected_url);
  g_assert_cmpuint (vigil_simcam_get_port (f->simcam), >, 0);
  g_assert_cmpuint (vigil_simcam_get_n_clients (f->simcam, 0), ==, 0);

  /* Only PTZ cameras move. */
  g_assert_false (vigil_simcam_has_ptz (f->simcam, 0));
  g_test_expect_message ("vigil-simcam", G_LOG_LEVEL_CRITICAL, "*ptz != NULL*");
  vigil_simcam_set_ptz (f->simcam, 0, 1, 0, 0);
  g_test_assert_expected_messages ();

  first = client_start (f, 0);
  wait_for_frames (f, first, 2 * CLIP_FPS);
  g_assert_cmpint (first->width, ==, CLIP_WIDTH);
  g_assert_cmpint (first->height, ==, CLIP_HEIGHT);
  g_assert_cmpuint (vigil_simcam_get_n_clients (f->simcam, 0), ==, 1);
  g_assert_cmpuint (vigil_simcam_get_n_clients (f->simcam, 1), ==, 0);

  /* A second viewer joins the shared media and also decodes at once. */
  second = client_start (f, 0);
  wait_for_frames (f, second, CLIP_FPS);
  wait_for_frames (f, first, CLIP_FPS);
  g_assert_cmpuint (vigil_simcam_get_n_clients (f->simcam, 0), ==, 2);
}

static void
test_stall (Fixture *f, gconstpointer unused)
{
  g_autoptr(Client) client = NULL;
  guint frames;

  if (skip_without_elements ())
    return;

  client = client_start (f, 0);
  wait_for_frames (f, client, CLIP_FPS);

  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_STALL);
  g_assert_cmpint (vigil_simcam_get_fault (f->simcam, 0), ==, VIGIL_SIMCAM_FAULT_STALL);
  /* 1.5 s without a frame at 10 fps: the data has stopped... */
  wait_until (f, client_is_quiet, client, 100, "the stream to go quiet");
  /* ...but the connection and session stay. */
  g_assert_null (client->error);
  g_assert_false (client->is_eos);
  g_assert_cmpuint (vigil_simcam_get_n_clients (f->simcam, 0), ==, 1);
  g_assert_cmpuint (describe (f, 0), ==, 200);

  frames = client->frames;
  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_NONE);
  wait_for_frames (f, client, CLIP_FPS);
  g_assert_cmpuint (client->frames, >, frames);
  g_assert_cmpint (client->width, ==, CLIP_WIDTH);
}

static void
test_drop (Fixture *f, gconstpointer unused)
{
  g_autoptr(Client) client = NULL;
  g_autoptr(Client) other = NULL;
  g_autoptr(Client) again = NULL;

  if (skip_without_elements ())
    return;

  client = client_start (f, 0);
  other = client_start (f, 1);
  wait_for_frames (f, client, CLIP_FPS);
  wait_for_frames (f, other, CLIP_FPS);

  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_DROP);
  wait_until (f, client_has_ended, client, 0, "the dropped client to fail");
  g_assert_cmpuint (vigil_simcam_get_n_clients (f->simcam, 0), ==, 0);
  g_assert_cmpuint (describe (f, 0), ==, 404);

  /* The other mount is unaffected. */
  g_assert_cmpuint (describe (f, 1), ==, 200);
  wait_for_frames (f, other, CLIP_FPS);

  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_NONE);
  g_assert_cmpuint (describe (f, 0), ==, 200);
  again = client_start (f, 0);
  wait_for_frames (f, again, CLIP_FPS);
  g_assert_cmpint (again->width, ==, CLIP_WIDTH);
}

static void
test_offline (Fixture *f, gconstpointer unused)
{
  g_autoptr(Client) client = NULL;
  g_autoptr(Client) again = NULL;
  guint port;

  if (skip_without_elements ())
    return;

  port = vigil_simcam_get_port (f->simcam);
  client = client_start (f, 0);
  wait_for_frames (f, client, CLIP_FPS);
  g_assert_true (can_connect (f));

  vigil_simcam_set_offline (f->simcam, TRUE);
  g_assert_true (vigil_simcam_is_offline (f->simcam));
  g_assert_false (can_connect (f));
  wait_until (f, client_has_ended, client, 0, "the client to lose the camera");
  g_assert_cmpuint (vigil_simcam_get_n_clients (f->simcam, 0), ==, 0);

  vigil_simcam_set_offline (f->simcam, FALSE);
  g_assert_false (vigil_simcam_is_offline (f->simcam));
  g_assert_cmpuint (vigil_simcam_get_port (f->simcam), ==, port);
  g_assert_true (can_connect (f));
  again = client_start (f, 0);
  wait_for_frames (f, again, CLIP_FPS);
}

static void
test_resolution (Fixture *f, gconstpointer unused)
{
  g_autoptr(Client) client = NULL;
  g_autoptr(GError) error = NULL;
  SizeWanted small, big;

  if (skip_without_elements ())
    return;

  client = client_start (f, 0);
  wait_for_frames (f, client, CLIP_FPS);
  g_assert_cmpint (client->width, ==, CLIP_WIDTH);

  g_assert_false (vigil_simcam_set_resolution (f->simcam, 0, 161, 120, &error));
  g_assert_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (vigil_simcam_set_resolution (f->simcam, 7, 160, 120, &error));
  g_assert_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID);
  g_clear_error (&error);

  g_assert_true (vigil_simcam_set_resolution (f->simcam, 0, 160, 120, &error));
  g_assert_no_error (error);
  small = (SizeWanted) { client, 160, 120 };
  wait_until (f, client_has_size, &small, 0, "frames of 160x120");
  wait_for_frames (f, client, CLIP_FPS);
  g_assert_cmpint (client->width, ==, 160);

  /* Back to the first clip, which is still in memory. */
  g_assert_true (vigil_simcam_set_resolution (f->simcam, 0, CLIP_WIDTH, CLIP_HEIGHT, &error));
  g_assert_no_error (error);
  big = (SizeWanted) { client, CLIP_WIDTH, CLIP_HEIGHT };
  wait_until (f, client_has_size, &big, 0, "frames of the first size");
  g_assert_null (client->error);
}

static void
test_picture (Fixture *f, gconstpointer unused)
{
  g_autoptr(Client) client = NULL;
  g_autoptr(Client) other = NULL;
  g_autoptr(GError) error = NULL;
  VigilSimcamPicture picture;

  if (skip_without_elements ())
    return;

  g_assert_true (vigil_simcam_picture_from_string ("reaimed", &picture));
  g_assert_cmpint (picture, ==, VIGIL_SIMCAM_PICTURE_REAIMED);
  g_assert_false (vigil_simcam_picture_from_string ("upside-down", &picture));
  g_assert_cmpstr (vigil_simcam_picture_to_string (VIGIL_SIMCAM_PICTURE_STATIC), ==, "static");
  g_assert_false (vigil_simcam_set_picture (f->simcam, 7, VIGIL_SIMCAM_PICTURE_BLACK, &error));
  g_assert_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID);
  g_clear_error (&error);

  client = client_start (f, 0);
  other = client_start (f, 1);
  wait_for_frames (f, client, CLIP_FPS);
  /* The scene's mean luma, limited range: the SMPTE bars and their band. */
  wait_for_luma (f, client, 90, 170, "the normal scene");
  g_assert_cmpint (vigil_simcam_get_picture (f->simcam, 0), ==, VIGIL_SIMCAM_PICTURE_NORMAL);

  /* Each switch comes at a keyframe of the same unbroken stream: the
   * client decodes on without an error, at the same size. */
  g_assert_true (vigil_simcam_set_picture (f->simcam, 0, VIGIL_SIMCAM_PICTURE_BLACK, &error));
  g_assert_no_error (error);
  g_assert_cmpint (vigil_simcam_get_picture (f->simcam, 0), ==, VIGIL_SIMCAM_PICTURE_BLACK);
  wait_for_luma (f, client, 0, 40, "the black picture");
  g_assert_true (vigil_simcam_set_picture (f->simcam, 0, VIGIL_SIMCAM_PICTURE_WHITE, &error));
  g_assert_no_error (error);
  wait_for_luma (f, client, 200, 255, "the white picture");
  g_assert_true (vigil_simcam_set_picture (f->simcam, 0, VIGIL_SIMCAM_PICTURE_NIGHT, &error));
  g_assert_no_error (error);
  wait_for_luma (f, client, 20, 60, "the night scene");
  g_assert_true (vigil_simcam_set_picture (f->simcam, 0, VIGIL_SIMCAM_PICTURE_NORMAL, &error));
  g_assert_no_error (error);
  wait_for_luma (f, client, 90, 170, "the normal scene again");
  wait_for_frames (f, client, CLIP_FPS);
  g_assert_cmpint (client->width, ==, CLIP_WIDTH);
  g_assert_cmpint (client->height, ==, CLIP_HEIGHT);
  g_assert_false (client->is_eos);

  /* The other mount was never switched. */
  wait_for_frames (f, other, CLIP_FPS);
  g_assert_cmpint (vigil_simcam_get_picture (f->simcam, 1), ==, VIGIL_SIMCAM_PICTURE_NORMAL);
  g_assert_cmpfloat (other->luma, >=, 90);
}

static guint64
modified_usec (const gchar *path)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFileInfo) info = NULL;
  g_autoptr(GError) error = NULL;

  info = g_file_query_info (file, G_FILE_ATTRIBUTE_TIME_MODIFIED "," G_FILE_ATTRIBUTE_TIME_MODIFIED_USEC,
                            G_FILE_QUERY_INFO_NONE, NULL, &error);
  g_assert_no_error (error);
  return g_file_info_get_attribute_uint64 (info, G_FILE_ATTRIBUTE_TIME_MODIFIED) * G_USEC_PER_SEC +
         g_file_info_get_attribute_uint32 (info, G_FILE_ATTRIBUTE_TIME_MODIFIED_USEC);
}

static void
test_clip_cache (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *path = NULL;
  g_autofree gchar *covered_path = NULL;
  g_autoptr(Client) client = NULL;
  g_autoptr(GError) error = NULL;
  guint64 saved_usec;

  if (skip_without_elements ())
    return;

  path = g_build_filename (f->dir, "clip.bin", NULL);
  covered_path = g_build_filename (f->dir, "clip.bin.covered", NULL);
  g_clear_object (&f->simcam);
  f->simcam = simcam_new (path, 1, VIGIL_SIMCAM_AUTH_NONE);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  saved_usec = modified_usec (path);

  /* Loaded, not encoded and saved again, and it plays. */
  g_clear_object (&f->simcam);
  f->simcam = simcam_new (path, 1, VIGIL_SIMCAM_AUTH_NONE);
  g_assert_cmpuint (modified_usec (path), ==, saved_usec);
  client = client_start (f, 0);
  wait_for_frames (f, client, CLIP_FPS);
  g_assert_cmpint (client->width, ==, CLIP_WIDTH);

  /* Other pictures are cached next to it. */
  g_assert_true (vigil_simcam_set_picture (f->simcam, 0, VIGIL_SIMCAM_PICTURE_COVERED, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (covered_path, G_FILE_TEST_IS_REGULAR));
  wait_for_luma (f, client, 60, 100, "the covered picture");
}

/* The same for Basic and Digest; @data is the VigilSimcamAuth. */
static void
test_auth (Fixture *f, gconstpointer data)
{
  VigilSimcamAuth auth = GPOINTER_TO_INT (data);
  g_autoptr(Client) wrong = NULL;
  g_autoptr(Client) right = NULL;
  g_autofree gchar *challenge = NULL;
  guint failures;

  if (skip_without_elements ())
    return;

  /* Without credentials: 401 and a challenge for the one method on offer. */
  g_assert_cmpuint (describe_full (f, 0, &challenge), ==, 401);
  g_test_message ("challenge: %s", challenge);
  g_assert_nonnull (challenge);
  if (auth == VIGIL_SIMCAM_AUTH_BASIC)
    g_assert_true (g_str_has_prefix (challenge, "Basic realm=\""));
  else
    g_assert_true (g_str_has_prefix (challenge, "Digest realm=\"") &&
                   strstr (challenge, " nonce=\"") != NULL);
  g_assert_cmpuint (vigil_simcam_get_n_auth_failures (f->simcam), ==, 1);
  /* Asking without credentials is not a failed login. */
  g_assert_cmpuint (vigil_simcam_get_n_logins_refused (f->simcam), ==, 0);

  wrong = client_start_full (f, 0, AUTH_USER, "pass:wor", H264_CHAIN, NULL);
  wait_until (f, client_has_ended, wrong, 0, "the wrong password to be refused");
  g_assert_error (wrong->error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_AUTHORIZED);
  g_assert_cmpuint (wrong->frames, ==, 0);
  failures = vigil_simcam_get_n_auth_failures (f->simcam);
  g_test_message ("401 answers after the wrong password: %u", failures);
  g_assert_cmpuint (failures, >=, 2);
  /* All but the bare first DESCRIBE carried credentials: rtspsrc (1.22)
   * answers every new challenge again, a few times over, so one rtspsrc
   * start costs several refused logins (8 measured here, with Basic and
   * with Digest) where a camera may lock after five. */
  g_test_message ("logins refused: %u", vigil_simcam_get_n_logins_refused (f->simcam));
  g_assert_cmpuint (vigil_simcam_get_n_logins_refused (f->simcam), >=, 1);
  g_assert_cmpuint (vigil_simcam_get_n_logins_refused (f->simcam), <, failures);

  right = client_start_full (f, 0, AUTH_USER, AUTH_PASSWORD, H264_CHAIN, NULL);
  wait_for_frames (f, right, CLIP_FPS);
  g_assert_cmpint (right->width, ==, CLIP_WIDTH);
  g_assert_cmpuint (vigil_simcam_get_n_clients (f->simcam, 0), ==, 1);
  g_test_message ("401 answers after the right password: %u",
                  vigil_simcam_get_n_auth_failures (f->simcam));
  /* At most the challenge to its first, bare DESCRIBE. */
  g_assert_cmpuint (vigil_simcam_get_n_auth_failures (f->simcam), <=, failures + 1);
}

/* A mount told to answer DESCRIBE with 503 does so to everyone (before
 * authentication would), while the other mount and the sessions already
 * playing go on; 0 serves again. */
static void
test_describe_status (Fixture *f, gconstpointer unused)
{
  g_autoptr(Client) playing = NULL;

  if (skip_without_elements ())
    return;

  playing = client_start (f, 0);
  wait_for_frames (f, playing, CLIP_FPS);
  vigil_simcam_set_describe_status (f->simcam, 0, 503);
  g_assert_cmpuint (describe (f, 0), ==, 503);
  g_assert_cmpuint (describe (f, 1), ==, 200);
  wait_for_frames (f, playing, CLIP_FPS);

  vigil_simcam_set_describe_status (f->simcam, 0, 0);
  g_assert_cmpuint (describe (f, 0), ==, 200);
}

static void
test_h265 (Fixture *f, gconstpointer unused)
{
  g_autoptr(Client) first = NULL;
  g_autoptr(Client) second = NULL;
  g_autoptr(GError) error = NULL;
  SizeWanted small, big;

  if (!have_elements ("x265enc", "h265parse", "rtph265pay", "rtspsrc", "rtph265depay",
                      "avdec_h265", NULL))
    {
      g_test_skip ("needs x265enc, h265parse, rtph265pay, rtspsrc, rtph265depay and avdec_h265");
      return;
    }

  f->simcam = simcam_new_full (NULL, 1, VIGIL_SIMCAM_AUTH_NONE, VIGIL_SIMCAM_CODEC_H265,
                               VIGIL_SIMCAM_AUDIO_NONE, FALSE);
  first = client_start_full (f, 0, NULL, NULL, H265_CHAIN, NULL);
  wait_for_frames (f, first, CLIP_FPS);
  g_assert_cmpint (first->width, ==, CLIP_WIDTH);
  g_assert_cmpint (first->height, ==, CLIP_HEIGHT);
  g_assert_cmpuint (first->rtp_pads->len, ==, 1);
  g_assert_true (client_has_pad (first, "video H265/90000"));

  /* A second viewer joins mid-GOP and gets an IDR with its VPS, SPS and PPS. */
  second = client_start_full (f, 0, NULL, NULL, H265_CHAIN, NULL);
  wait_for_frames (f, second, CLIP_FPS);
  g_assert_cmpint (second->width, ==, CLIP_WIDTH);
  g_clear_pointer (&second, client_stop);

  /* The switch works as with H.264: new parameter sets at an IDR. */
  g_assert_true (vigil_simcam_set_resolution (f->simcam, 0, 160, 120, &error));
  g_assert_no_error (error);
  small = (SizeWanted) { first, 160, 120 };
  wait_until (f, client_has_size, &small, 0, "H.265 frames of 160x120");
  wait_for_frames (f, first, CLIP_FPS);
  g_assert_true (vigil_simcam_set_resolution (f->simcam, 0, CLIP_WIDTH, CLIP_HEIGHT, &error));
  g_assert_no_error (error);
  big = (SizeWanted) { first, CLIP_WIDTH, CLIP_HEIGHT };
  wait_until (f, client_has_size, &big, 0, "H.265 frames of the first size");
  g_assert_null (first->error);
}

/* @data: the VigilSimcamAudio to serve, as GINT_TO_POINTER(). */
static void
test_audio (Fixture *f, gconstpointer data)
{
  VigilSimcamAudio audio = GPOINTER_TO_INT (data);
  gboolean is_aac = audio == VIGIL_SIMCAM_AUDIO_AAC;
  const gchar *audio_pad = is_aac ? "audio MPEG4-GENERIC/16000" : "audio PCMA/8000";
  gint rate = is_aac ? 16000 : 8000;
  /* About 0.6 s of either. */
  guint n_audio = is_aac ? 10 : 30;
  g_autoptr(Client) client = NULL;

  if (skip_without_elements ())
    return;
  if (is_aac && !(have_aac_encoder () &&
                  have_elements ("rtpmp4gpay", "rtpmp4gdepay", "avdec_aac", NULL)))
    {
      g_test_skip ("needs fdkaacenc, voaacenc or avenc_aac, and rtpmp4gpay, rtpmp4gdepay "
                   "and avdec_aac");
      return;
    }
  if (!is_aac && !have_elements ("alawenc", "rtppcmapay", "rtppcmadepay", "alawdec", NULL))
    {
      g_test_skip ("needs alawenc, rtppcmapay, rtppcmadepay and alawdec");
      return;
    }

  f->simcam = simcam_new_full (NULL, 1, VIGIL_SIMCAM_AUTH_NONE, VIGIL_SIMCAM_CODEC_H264,
                               audio, FALSE);
  client = client_start_full (f, 0, NULL, NULL, H264_CHAIN, is_aac ? AAC_CHAIN : PCMA_CHAIN);
  wait_for_media (f, client, CLIP_FPS, n_audio);

  /* Both streams of the SDP became pads, and both decode. */
  g_assert_cmpuint (client->rtp_pads->len, ==, 2);
  g_assert_true (client_has_pad (client, "video H264/90000"));
  g_assert_true (client_has_pad (client, audio_pad));
  g_assert_cmpint (client->width, ==, CLIP_WIDTH);
  g_assert_cmpint (client->rate, ==, rate);
  g_assert_cmpint (client->channels, ==, 1);

  /* A stall stops the audio too, and both come back. */
  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_STALL);
  wait_until (f, client_is_silent, client, 100, "video and audio to go quiet");
  g_assert_null (client->error);
  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_NONE);
  wait_for_media (f, client, CLIP_FPS, n_audio);
}

static VigilSimcam *
simcam_new_ptz (guint n_streams)
{
  return simcam_new_full (NULL, n_streams, VIGIL_SIMCAM_AUTH_NONE, VIGIL_SIMCAM_CODEC_H264,
                          VIGIL_SIMCAM_AUDIO_NONE, TRUE);
}

/* The decoded picture follows the head as the header describes; the ranges
 * are its figures give or take the texture, cars and clock. */
static void
test_ptz_moves (Fixture *f, gconstpointer unused)
{
  g_autoptr(Client) client = NULL;
  g_autoptr(Client) second = NULL;
  g_autoptr(GError) error = NULL;
  gdouble pan = 9, tilt = 9, zoom = 9;

  if (skip_without_elements ())
    return;

  f->simcam = simcam_new_ptz (2);
  g_assert_true (vigil_simcam_has_ptz (f->simcam, 0));
  g_assert_true (vigil_simcam_has_ptz (f->simcam, 1));
  vigil_simcam_get_ptz (f->simcam, 0, &pan, &tilt, &zoom);
  g_assert_cmpfloat (pan, ==, 0);
  g_assert_cmpfloat (tilt, ==, 0);
  g_assert_cmpfloat (zoom, ==, 0);

  client = client_start (f, 0);
  wait_for_frames (f, client, CLIP_FPS);
  g_assert_cmpint (client->width, ==, CLIP_WIDTH);
  g_assert_cmpint (client->height, ==, CLIP_HEIGHT);
  g_assert_true (client_has_pad (client, "video H264/90000"));
  wait_for_measure (f, client, MEASURE_LUMA, 116, 140, "the centre");

  /* Pan: mean luma about 80 at the left, 176 at the right; out-of-range
   * values are clamped. */
  vigil_simcam_set_ptz (f->simcam, 0, -3, 0, 0);
  vigil_simcam_get_ptz (f->simcam, 0, &pan, NULL, NULL);
  g_assert_cmpfloat (pan, ==, -1);
  wait_for_measure (f, client, MEASURE_LUMA, 68, 92, "pan -1");
  vigil_simcam_set_ptz (f->simcam, 0, 1, 0, 0);
  wait_for_measure (f, client, MEASURE_LUMA, 164, 188, "pan +1");

  /* Tilt: mean Cb about 104 looking up, 152 looking down. */
  vigil_simcam_set_ptz (f->simcam, 0, 0, 1, 0);
  wait_for_measure (f, client, MEASURE_CB, 96, 112, "tilt +1");
  vigil_simcam_set_ptz (f->simcam, 0, 0, -1, 0);
  wait_for_measure (f, client, MEASURE_CB, 144, 160, "tilt -1");

  /* Zoom: the ramp across the frame flattens from 48 to 12. */
  vigil_simcam_set_ptz (f->simcam, 0, 0, 0, 0);
  wait_for_measure (f, client, MEASURE_LUMA_SPREAD, 38, 58, "zoom 0");
  vigil_simcam_set_ptz (f->simcam, 0, 0, 0, 1);
  wait_for_measure (f, client, MEASURE_LUMA_SPREAD, 4, 20, "zoom 1");
  vigil_simcam_get_ptz (f->simcam, 0, &pan, &tilt, &zoom);
  g_assert_cmpfloat (zoom, ==, 1);
  g_assert_cmpfloat (client->luma, >=, 116);
  g_assert_cmpfloat (client->luma, <=, 140);

  /* A second viewer joins the running encoder and decodes at once (a
   * forced IDR), seeing the same view. */
  second = client_start (f, 0);
  wait_for_measure (f, second, MEASURE_LUMA_SPREAD, 4, 20, "the second viewer at zoom 1");
  wait_for_frames (f, client, CLIP_FPS);
  g_assert_cmpuint (vigil_simcam_get_n_clients (f->simcam, 0), ==, 2);

  /* The other mount's head did not move. */
  vigil_simcam_get_ptz (f->simcam, 1, &pan, &tilt, &zoom);
  g_assert_cmpfloat (pan, ==, 0);
  g_assert_cmpfloat (zoom, ==, 0);

  /* A PTZ camera keeps its scene and size. */
  g_assert_false (vigil_simcam_set_picture (f->simcam, 0, VIGIL_SIMCAM_PICTURE_BLACK, &error));
  g_assert_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (vigil_simcam_set_resolution (f->simcam, 0, 160, 120, &error));
  g_assert_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID);
  g_assert_null (client->error);
}

/* STALL, DROP and offline on a PTZ camera, each followed by decodable video. */
static void
test_ptz_faults (Fixture *f, gconstpointer unused)
{
  g_autoptr(Client) client = NULL;
  g_autoptr(Client) again = NULL;
  g_autoptr(Client) third = NULL;
  guint frames;

  if (skip_without_elements ())
    return;

  f->simcam = simcam_new_ptz (1);
  client = client_start (f, 0);
  wait_for_frames (f, client, CLIP_FPS);

  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_STALL);
  wait_until (f, client_is_quiet, client, 100, "the PTZ stream to go quiet");
  g_assert_null (client->error);
  g_assert_cmpuint (vigil_simcam_get_n_clients (f->simcam, 0), ==, 1);
  frames = client->frames;
  /* Moved while stalled: it shows the new view when it resumes. */
  vigil_simcam_set_ptz (f->simcam, 0, 1, 0, 0);
  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_NONE);
  wait_for_measure (f, client, MEASURE_LUMA, 164, 188, "pan +1 after the stall");
  g_assert_cmpuint (client->frames, >, frames);

  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_DROP);
  wait_until (f, client_has_ended, client, 0, "the dropped PTZ client to fail");
  g_assert_cmpuint (describe (f, 0), ==, 404);
  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_NONE);
  again = client_start (f, 0);
  wait_for_measure (f, again, MEASURE_LUMA, 164, 188, "pan +1 after the drop");

  vigil_simcam_set_offline (f->simcam, TRUE);
  wait_until (f, client_has_ended, again, 0, "the PTZ client to lose the camera");
  vigil_simcam_set_offline (f->simcam, FALSE);
  third = client_start (f, 0);
  wait_for_frames (f, third, CLIP_FPS);
  g_assert_cmpint (third->width, ==, CLIP_WIDTH);
}

/* Video quiet for 1.5 s while audio arrived within the last 300 ms. */
static gboolean
client_has_audio_only (Fixture *f, gpointer data)
{
  Client *client = data;

  return client_is_quiet (f, client) &&
         g_get_monotonic_time () - client->last_audio_us < 300 * G_TIME_SPAN_MILLISECOND;
}

/* A one-mount camera with G.711 audio, a PTZ one if @ptz, and a client that
 * decodes both; NULL (the test skipped) without the elements. */
static Client *
start_pcma_camera_and_client (Fixture *f, gboolean ptz)
{
  if (skip_without_elements ())
    return NULL;
  if (!have_elements ("alawenc", "rtppcmapay", "rtppcmadepay", "alawdec", NULL))
    {
      g_test_skip ("needs alawenc, rtppcmapay, rtppcmadepay and alawdec");
      return NULL;
    }
  f->simcam = simcam_new_full (NULL, 1, VIGIL_SIMCAM_AUTH_NONE, VIGIL_SIMCAM_CODEC_H264,
                               VIGIL_SIMCAM_AUDIO_PCMA, ptz);
  g_assert_cmpint (vigil_simcam_has_ptz (f->simcam, 0), ==, ptz);
  return client_start_full (f, 0, NULL, NULL, H264_CHAIN, PCMA_CHAIN);
}

/* @data: whether the mount is a PTZ camera, as GINT_TO_POINTER(). */
static void
test_video_stall (Fixture *f, gconstpointer data)
{
  gboolean ptz = GPOINTER_TO_INT (data);
  /* G.711: 20 ms packets, so 50 decoded buffers a second. */
  const guint n_audio_per_s = 50;
  g_autoptr(Client) client = NULL;
  GstClockTime audio_pts;
  gint64 start_us;
  guint frames;

  if ((client = start_pcma_camera_and_client (f, ptz)) == NULL)
    return;
  wait_for_media (f, client, CLIP_FPS, n_audio_per_s / 2);

  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_VIDEO_STALL);
  g_assert_cmpint (vigil_simcam_get_fault (f->simcam, 0), ==, VIGIL_SIMCAM_FAULT_VIDEO_STALL);
  wait_until (f, client_has_audio_only, client, 100, "video to go quiet while audio flows");

  /* A further second: audio with timestamps running in step with the
   * clock, not one video frame; the session and RTSP stay up. */
  frames = client->frames;
  audio_pts = client->audio_pts;
  start_us = g_get_monotonic_time ();
  wait_for_media (f, client, 0, n_audio_per_s);
  g_assert_cmpuint (client->frames, ==, frames);
  g_assert_true (GST_CLOCK_TIME_IS_VALID (audio_pts) && GST_CLOCK_TIME_IS_VALID (client->audio_pts));
  g_test_message ("audio pts advanced %" G_GINT64_FORMAT " ms in %" G_GINT64_FORMAT " ms",
                  (gint64) (client->audio_pts - audio_pts) / GST_MSECOND,
                  (g_get_monotonic_time () - start_us) / 1000);
  /* A second of packets took at least most of a second to come. */
  g_assert_cmpuint (client->audio_pts - audio_pts, >=, 800 * GST_MSECOND);
  g_assert_cmpuint (vigil_simcam_get_n_clients (f->simcam, 0), ==, 1);
  g_assert_cmpuint (describe (f, 0), ==, 200);
  g_assert_null (client->error);
  g_assert_false (client->is_eos);

  /* Video comes back, decodable (from a keyframe), audio on. */
  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_NONE);
  wait_for_media (f, client, CLIP_FPS, n_audio_per_s / 2);
  g_assert_cmpint (client->width, ==, CLIP_WIDTH);
}

/* KEYFRAMES_ONLY: a picture still decodable, at one frame per GOP (1 fps
 * here, against 10), audio flowing as before; then the full rate again.
 * @data: whether the mount is a PTZ camera, as GINT_TO_POINTER(). */
static void
test_keyframes_only (Fixture *f, gconstpointer data)
{
  gboolean ptz = GPOINTER_TO_INT (data);
  const guint n_audio_per_s = 50;  /* G.711, 20 ms packets */
  const guint seconds = 4;
  g_autoptr(Client) client = NULL;
  guint frames;

  if ((client = start_pcma_camera_and_client (f, ptz)) == NULL)
    return;
  wait_for_media (f, client, CLIP_FPS, n_audio_per_s / 2);

  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_KEYFRAMES_ONLY);
  /* Let frames already on their way drain, then count over a few seconds
   * of audio (which runs in real time). */
  wait_for_media (f, client, 0, n_audio_per_s);
  frames = client->frames;
  wait_for_media (f, client, 0, seconds * n_audio_per_s);
  g_test_message ("%u frames decoded in %u s of keyframes only", client->frames - frames, seconds);
  g_assert_cmpuint (client->frames - frames, >=, seconds - 2);
  g_assert_cmpuint (client->frames - frames, <=, seconds + 2);
  g_assert_cmpint (client->width, ==, CLIP_WIDTH);
  g_assert_null (client->error);
  g_assert_cmpuint (vigil_simcam_get_n_clients (f->simcam, 0), ==, 1);

  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_NONE);
  wait_for_media (f, client, 0, n_audio_per_s);
  frames = client->frames;
  wait_for_media (f, client, 0, n_audio_per_s);
  g_test_message ("%u frames decoded in the second after the fault", client->frames - frames);
  g_assert_cmpuint (client->frames - frames, >=, CLIP_FPS / 2);
  g_assert_null (client->error);
}

int
main (int argc, char **argv)
{
  int status;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/simcam/serves-h264", Fixture, NULL, fixture_set_up, test_serves_h264,
              fixture_tear_down);
  g_test_add ("/simcam/stall", Fixture, NULL, fixture_set_up, test_stall, fixture_tear_down);
  g_test_add ("/simcam/drop", Fixture, NULL, fixture_set_up, test_drop, fixture_tear_down);
  g_test_add ("/simcam/offline", Fixture, NULL, fixture_set_up, test_offline, fixture_tear_down);
  g_test_add ("/simcam/resolution", Fixture, NULL, fixture_set_up, test_resolution,
              fixture_tear_down);
  g_test_add ("/simcam/picture", Fixture, NULL, fixture_set_up, test_picture, fixture_tear_down);
  g_test_add ("/simcam/clip-cache", Fixture, NULL, fixture_set_up, test_clip_cache,
              fixture_tear_down);
  g_test_add ("/simcam/auth-basic", Fixture, GINT_TO_POINTER (VIGIL_SIMCAM_AUTH_BASIC),
              fixture_set_up, test_auth, fixture_tear_down);
  g_test_add ("/simcam/auth-digest", Fixture, GINT_TO_POINTER (VIGIL_SIMCAM_AUTH_DIGEST),
              fixture_set_up, test_auth, fixture_tear_down);
  g_test_add ("/simcam/describe-status", Fixture, GINT_TO_POINTER (VIGIL_SIMCAM_AUTH_NONE),
              fixture_set_up, test_describe_status, fixture_tear_down);
  g_test_add ("/simcam/h265", Fixture, NULL, fixture_set_up_empty, test_h265, fixture_tear_down);
  g_test_add ("/simcam/audio-aac", Fixture, GINT_TO_POINTER (VIGIL_SIMCAM_AUDIO_AAC),
              fixture_set_up_empty, test_audio, fixture_tear_down);
  g_test_add ("/simcam/audio-pcma", Fixture, GINT_TO_POINTER (VIGIL_SIMCAM_AUDIO_PCMA),
              fixture_set_up_empty, test_audio, fixture_tear_down);
  g_test_add ("/simcam/video-stall", Fixture, GINT_TO_POINTER (FALSE), fixture_set_up_empty,
              test_video_stall, fixture_tear_down);
  g_test_add ("/simcam/keyframes-only", Fixture, GINT_TO_POINTER (FALSE), fixture_set_up_empty,
              test_keyframes_only, fixture_tear_down);
  g_test_add ("/simcam/ptz/keyframes-only", Fixture, GINT_TO_POINTER (TRUE), fixture_set_up_empty,
              test_keyframes_only, fixture_tear_down);
  g_test_add ("/simcam/ptz/moves", Fixture, NULL, fixture_set_up_empty, test_ptz_moves,
              fixture_tear_down);
  g_test_add ("/simcam/ptz/faults", Fixture, NULL, fixture_set_up_empty, test_ptz_faults,
              fixture_tear_down);
  g_test_add ("/simcam/ptz/video-stall", Fixture, GINT_TO_POINTER (TRUE), fixture_set_up_empty,
              test_video_stall, fixture_tear_down);
  status = g_test_run ();

  /* Joins gst-rtsp-server's idle threads so sanitizers and valgrind see a
   * clean exit. */
  gst_rtsp_thread_pool_cleanup ();
  gst_deinit ();
  return status;
}
