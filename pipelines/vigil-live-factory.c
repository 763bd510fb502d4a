/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilLiveFactory: shared live media fed from a VigilLiveFeed.
 *
 * Why a keyframe gate. A shared media is one pipeline for all its viewers,
 * so a viewer who joins late gets whatever frame comes next, usually a
 * delta frame that decodes to grey until the next keyframe
 * (gst-rtsp-server 1.22 has no keyframe-on-join for shared media). So a
 * late joiner's transports are made inactive right after its PLAY and
 * made active again by a probe after the payloader, at the first packet of
 * the next keyframe: its first packet then starts a picture. The first
 * viewer is not held back: its media starts with the feed's kept GOP. */
#include "vigil-live-factory.h"

#include "vigil-live-auth.h"

#include <gst/app/gstappsrc.h>

GST_DEBUG_CATEGORY_STATIC (vigil_live_factory_debug);
#define GST_CAT_DEFAULT vigil_live_factory_debug

/* What an appsrc may hold before it drops its oldest: a media that cannot
 * send (every viewer stalled) must never make the feed wait. */
#define APPSRC_MAX_TIME_NS (2 * GST_SECOND)

struct _VigilLiveFactory {
  GstRTSPMediaFactory  parent_instance;
  VigilLiveFeed       *feed;
};

G_DEFINE_FINAL_TYPE_WITH_CODE (VigilLiveFactory, vigil_live_factory, GST_TYPE_RTSP_MEDIA_FACTORY,
                               GST_DEBUG_CATEGORY_INIT (vigil_live_factory_debug, "vigillivefactory", 0,
                                                        "vigil live media"))

typedef struct {
  GstRTSPClient          *client;      /* not a reference: forgotten by ungate when it goes */
  GstRTSPStreamTransport *transport;
} Gated;

/* A payloader's stream and the media's other one. Borrowed: the media
 * owns both and stops its pipeline before it drops them, and a reference
 * from a probe on the payloader (which the stream owns) would be a cycle
 * that leaks the whole media (valgrind). */
typedef struct {
  GstRTSPStream *stream, *other;
} StreamPair;

/* Per media; lives as long as the media (qdata). */
typedef struct {
  GMutex          lock;
  VigilLiveFeed  *feed;
  gpointer        attachment;   /* the feed's handle; NULL once detached */
  gboolean        played;       /* a viewer has played it: later ones are gated */
  GArray         *gated;        /* Gated; protected by lock */
  StreamPair      video_streams;   /* pay0's, and the audio's if any */
} MediaState;

G_DEFINE_QUARK (vigil-live-media-state, media_state)

static void
gated_clear (gpointer data)
{
  Gated *gated = data;

  g_clear_object (&gated->transport);
}

static void
media_state_detach (MediaState *state)
{
  gpointer attachment;

  g_mutex_lock (&state->lock);
  attachment = g_steal_pointer (&state->attachment);
  g_mutex_unlock (&state->lock);
  if (attachment != NULL)
    vigil_live_feed_detach (state->feed, attachment);
}

static void
media_state_free (gpointer data)
{
  MediaState *state = data;

  media_state_detach (state);
  g_array_unref (state->gated);
  g_object_unref (state->feed);
  g_mutex_clear (&state->lock);
  g_free (state);
}

/* Runs on the media's streaming thread, per packet (list) leaving a
 * payloader. A shared media links only the streams its first viewer set
 * up (a player may take the video and not the audio): the others are
 * not complete, and their packets would stop the whole media with a
 * not-linked error at their source, so they are dropped here instead. */
static gboolean
is_left_out (const StreamPair *pair)
{
  /* Before any viewer set a stream up (while the media prepares), every
   * packet must go on: the media waits for one of each stream. */
  return pair->other != NULL && !gst_rtsp_stream_is_complete (pair->stream)
         && gst_rtsp_stream_is_complete (pair->other);
}

static GstPadProbeReturn
on_unlinked_payloader_output (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  return is_left_out (user_data) ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

/* Runs on the media's streaming thread, per packet (list) leaving the
 * video payloader: releases the gated transports at a keyframe. */
static GstPadProbeReturn
on_payloader_output (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  MediaState *state = user_data;
  GstBuffer *first;

  if (is_left_out (&state->video_streams))
    return GST_PAD_PROBE_DROP;
  if (state->gated->len == 0)   /* unlocked peek: a late add waits for the next keyframe */
    return GST_PAD_PROBE_OK;
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST)
    {
      GstBufferList *list = GST_PAD_PROBE_INFO_BUFFER_LIST (info);

      first = gst_buffer_list_length (list) > 0 ? gst_buffer_list_get (list, 0) : NULL;
    }
  else
    first = GST_PAD_PROBE_INFO_BUFFER (info);
  if (first == NULL || GST_BUFFER_FLAG_IS_SET (first, GST_BUFFER_FLAG_DELTA_UNIT))
    return GST_PAD_PROBE_OK;

  g_mutex_lock (&state->lock);
  for (guint i = 0; i < state->gated->len; i++)
    {
      Gated *gated = &g_array_index (state->gated, Gated, i);

      gst_rtsp_stream_transport_set_active (gated->transport, TRUE);
    }
  if (state->gated->len > 0)
    GST_DEBUG ("%s: %u late viewer transports start at a keyframe", vigil_live_feed_get_name (state->feed),
               state->gated->len);
  g_array_set_size (state->gated, 0);
  g_mutex_unlock (&state->lock);
  return GST_PAD_PROBE_OK;
}

static const gchar *
payloader_for (GstCaps *caps)
{
  const gchar *name;

  if (caps == NULL || gst_caps_is_empty (caps))
    return NULL;
  name = gst_structure_get_name (gst_caps_get_structure (caps, 0));
  if (g_str_equal (name, "video/x-h264"))
    return "rtph264pay config-interval=-1 aggregate-mode=zero-latency pt=96";
  if (g_str_equal (name, "video/x-h265"))
    return "rtph265pay config-interval=-1 aggregate-mode=zero-latency pt=96";
  if (g_str_equal (name, "audio/mpeg"))
    return "rtpmp4gpay pt=97";
  if (g_str_equal (name, "audio/x-alaw"))
    return "rtppcmapay";
  if (g_str_equal (name, "audio/x-mulaw"))
    return "rtppcmupay";
  return NULL;
}

/* Runs on the server thread, at a DESCRIBE that needs a new media. */
static GstElement *
vigil_live_factory_create_element (GstRTSPMediaFactory *factory, const GstRTSPUrl *url)
{
  VigilLiveFactory *self = VIGIL_LIVE_FACTORY (factory);
  g_autoptr(GstCaps) video_caps = NULL;
  g_autoptr(GstCaps) audio_caps = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) description = g_string_new (NULL);
  const gchar *video_pay, *audio_pay;
  GstElement *bin;

  vigil_live_feed_get_caps (self->feed, &video_caps, &audio_caps);
  video_pay = payloader_for (video_caps);
  if (video_pay == NULL)
    {
      GST_INFO ("%s: no video yet", vigil_live_feed_get_name (self->feed));
      return NULL;
    }
  audio_pay = payloader_for (audio_caps);
  /* block=false and leaky: a push into a stuck media returns at once. */
#define APPSRC "appsrc is-live=true format=time do-timestamp=false block=false max-bytes=0 max-buffers=0 " \
               "leaky-type=downstream max-time=%" G_GUINT64_FORMAT
  /* The tees (allow-not-linked) keep a stream that the media's first viewer
   * did not set up from stopping the media: its preroll packet, held when
   * the media started, goes nowhere once it plays. */
  g_string_append_printf (description, APPSRC " name=vsrc ! tee allow-not-linked=true ! %s name=pay0",
                          (guint64) APPSRC_MAX_TIME_NS, video_pay);
  if (audio_pay != NULL)
    g_string_append_printf (description, " " APPSRC " name=asrc ! tee allow-not-linked=true ! %s name=pay1",
                            (guint64) APPSRC_MAX_TIME_NS, audio_pay);
#undef APPSRC
  bin = gst_parse_bin_from_description_full (description->str, FALSE, NULL, GST_PARSE_FLAG_FATAL_ERRORS, &error);
  if (bin == NULL)
    GST_WARNING ("%s: cannot make the live media: %s", vigil_live_feed_get_name (self->feed), error->message);
  return bin;
}

/* Runs on whichever thread unprepares the media. */
static void
on_media_unprepared (GstRTSPMedia *media, gpointer user_data)
{
  MediaState *state = g_object_get_qdata (G_OBJECT (media), media_state_quark ());

  if (state != NULL)
    media_state_detach (state);
}

/* Runs on the server thread, after create_element. */
static void
vigil_live_factory_configure (GstRTSPMediaFactory *factory, GstRTSPMedia *media)
{
  VigilLiveFactory *self = VIGIL_LIVE_FACTORY (factory);
  g_autoptr(GstElement) element = gst_rtsp_media_get_element (media);
  g_autoptr(GstElement) video = NULL;
  g_autoptr(GstElement) audio = NULL;
  g_autoptr(GstElement) pay0 = NULL;
  g_autoptr(GstPad) pay0_src = NULL;
  MediaState *state;

  GST_RTSP_MEDIA_FACTORY_CLASS (vigil_live_factory_parent_class)->configure (factory, media);
  /* The camera sets the pace: packets leave as frames arrive. */
  gst_rtsp_media_set_rate_control (media, FALSE);

  video = gst_bin_get_by_name (GST_BIN (element), "vsrc");
  audio = gst_bin_get_by_name (GST_BIN (element), "asrc");
  pay0 = gst_bin_get_by_name (GST_BIN (element), "pay0");
  if (video == NULL || pay0 == NULL || gst_rtsp_media_n_streams (media) < 1)
    return;

  state = g_new0 (MediaState, 1);
  g_mutex_init (&state->lock);
  state->feed = g_object_ref (self->feed);
  state->gated = g_array_new (FALSE, FALSE, sizeof (Gated));
  g_array_set_clear_func (state->gated, gated_clear);
  state->video_streams.stream = gst_rtsp_media_get_stream (media, 0);
  g_object_set_qdata_full (G_OBJECT (media), media_state_quark (), state, media_state_free);
  pay0_src = gst_element_get_static_pad (pay0, "src");
  gst_pad_add_probe (pay0_src, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST, on_payloader_output,
                     state, NULL);
  g_signal_connect (media, "unprepared", G_CALLBACK (on_media_unprepared), NULL);
  if (audio != NULL)
    {
      g_autoptr(GstElement) pay1 = gst_bin_get_by_name (GST_BIN (element), "pay1");
      g_autoptr(GstPad) pay1_src = pay1 != NULL ? gst_element_get_static_pad (pay1, "src") : NULL;

      GstRTSPStream *audio_stream = gst_rtsp_media_n_streams (media) > 1 ? gst_rtsp_media_get_stream (media, 1) : NULL;

      if (pay1_src != NULL && audio_stream != NULL)
        {
          StreamPair *pair = g_new0 (StreamPair, 1);

          pair->stream = audio_stream;
          pair->other = state->video_streams.stream;
          state->video_streams.other = audio_stream;
          gst_pad_add_probe (pay1_src, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST,
                             on_unlinked_payloader_output, pair, g_free);
        }
    }
  /* A new media has no viewer yet: it starts with the kept GOP. */
  state->attachment = vigil_live_feed_attach (self->feed, GST_APP_SRC (video),
                                              audio != NULL ? GST_APP_SRC (audio) : NULL, TRUE);
}

static void
vigil_live_factory_finalize (GObject *object)
{
  VigilLiveFactory *self = VIGIL_LIVE_FACTORY (object);

  g_clear_object (&self->feed);
  G_OBJECT_CLASS (vigil_live_factory_parent_class)->finalize (object);
}

static void
vigil_live_factory_class_init (VigilLiveFactoryClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vigil_live_factory_finalize;
  GST_RTSP_MEDIA_FACTORY_CLASS (klass)->create_element = vigil_live_factory_create_element;
  GST_RTSP_MEDIA_FACTORY_CLASS (klass)->configure = vigil_live_factory_configure;
}

static void
vigil_live_factory_init (VigilLiveFactory *self)
{
  GstRTSPMediaFactory *factory = GST_RTSP_MEDIA_FACTORY (self);

  gst_rtsp_media_factory_set_shared (factory, TRUE);
  /* TCP only (interleaved or plain): viewers reach vigil through firewalls
   * and VPNs, and a stalled TCP viewer is seen and closed (the server's
   * sweep), where UDP would send into the void. */
  gst_rtsp_media_factory_set_protocols (factory, GST_RTSP_LOWER_TRANS_TCP);
  gst_rtsp_media_factory_add_role (factory, VIGIL_LIVE_AUTH_ROLE, GST_RTSP_PERM_MEDIA_FACTORY_ACCESS, G_TYPE_BOOLEAN, TRUE,
                                   GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN, TRUE, NULL);
}

VigilLiveFactory *
vigil_live_factory_new (VigilLiveFeed *feed)
{
  VigilLiveFactory *self;

  g_return_val_if_fail (VIGIL_IS_LIVE_FEED (feed), NULL);
  self = g_object_new (VIGIL_TYPE_LIVE_FACTORY, NULL);
  self->feed = g_object_ref (feed);
  return self;
}

VigilLiveFeed *
vigil_live_factory_get_feed (VigilLiveFactory *self)
{
  g_return_val_if_fail (VIGIL_IS_LIVE_FACTORY (self), NULL);
  return self->feed;
}

void
vigil_live_factory_gate (GstRTSPSessionMedia *sessmedia, GstRTSPClient *client)
{
  GstRTSPMedia *media = gst_rtsp_session_media_get_media (sessmedia);
  MediaState *state = g_object_get_qdata (G_OBJECT (media), media_state_quark ());
  g_autoptr(GPtrArray) transports = NULL;

  if (state == NULL)
    return;
  g_mutex_lock (&state->lock);
  if (!state->played)
    {
      state->played = TRUE;
      g_mutex_unlock (&state->lock);
      return;
    }
  transports = gst_rtsp_session_media_get_transports (sessmedia);
  for (guint i = 0; transports != NULL && i < transports->len; i++)
    {
      GstRTSPStreamTransport *transport = g_ptr_array_index (transports, i);
      Gated gated = { client, NULL };

      if (transport == NULL)   /* a stream the viewer did not set up */
        continue;
      gated.transport = g_object_ref (transport);
      gst_rtsp_stream_transport_set_active (gated.transport, FALSE);
      g_array_append_val (state->gated, gated);
    }
  g_mutex_unlock (&state->lock);
}

void
vigil_live_factory_ungate (GstRTSPMedia *media, GstRTSPClient *client)
{
  MediaState *state = g_object_get_qdata (G_OBJECT (media), media_state_quark ());

  if (state == NULL)
    return;
  g_mutex_lock (&state->lock);
  for (guint i = state->gated->len; i > 0; i--)
    if (g_array_index (state->gated, Gated, i - 1).client == client)
      g_array_remove_index (state->gated, i - 1);
  g_mutex_unlock (&state->lock);
}
