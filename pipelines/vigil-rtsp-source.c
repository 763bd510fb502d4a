/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigilrtspsrc: RTSP over TCP, interleaved RTP, straight to the pads.
 *
 * Threads. The control exchange and the data loop both run on the
 * element's one streaming thread, a GstTask (self->task, with its own
 * stream_lock, as rtspsrc has) started in READY→PAUSED: its function opens
 * the session on its first run, then reads one batch per run, and pauses
 * the task once the session is over (camera closed it, error). The
 * state-change thread only sets `stopping`, cancels and flushes the
 * connection to wake a blocking read, connect or request, stops and joins
 * the task, and then ends the session. Per packet the loop copies the
 * packet into a pooled buffer and appends it to its stream's list: no
 * allocation once the pool has warmed up, no lock but the task's own, no
 * thread hand-off. */
#define _GNU_SOURCE   /* memmem */
#include "vigil-rtsp-source.h"

#include "vigil-nal-assembler.h"
#include "vigil-text.h"

#include <gio/gio.h>
#include <gst/rtp/rtp.h>
#include <gst/rtsp/rtsp.h>
#include <gst/sdp/sdp.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (GstRTSPMessage, gst_rtsp_message_unset)

GST_DEBUG_CATEGORY_STATIC (vigil_rtsp_source_debug);
#define GST_CAT_DEFAULT vigil_rtsp_source_debug

/* Big enough for a burst of a 4K camera's packets per read; a frame of
 * interleaved data is at most 4 + 65535 bytes, so two always fit. */
#define READ_BUFFER_SIZE (256 * 1024)
/* Pooled packet buffers: RTP over TCP rarely exceeds the Ethernet MTU. */
#define POOLED_PACKET_SIZE 2048
#define DEFAULT_TIMEOUT_US (10 * G_USEC_PER_SEC)
#define DEFAULT_SESSION_TIMEOUT_S 60
#define TEARDOWN_TIMEOUT_US (300 * G_TIME_SPAN_MILLISECOND)
/* Batching of reads: see start_reading(). */
#define SOCKET_LOW_WATER (8 * 1024)
#define MAX_BATCH_WAIT_MS 100

typedef struct {
  GstPad        *pad;
  gchar         *control_url;
  guint          rtp_channel;
  guint          rtcp_channel;
  guint          clock_rate;
  guint64        ext_ts;          /* gst_rtp_buffer_ext_timestamp() state */
  guint64        base_ts;         /* extended RTP time of PTS 0 */
  gboolean       have_base;
  guint32        last_ts;         /* RTP timestamp of the latest packet */
  gboolean       discont;
  GstBufferList *pending;         /* packets or access units from the current read */
  gboolean       assemble;        /* H.264/H.265: push access units, not RTP */
  VigilNalAssembler nal;
} Stream;

struct _VigilRtspSource
{
  GstElement         parent_instance;

  /* Properties; under the object lock. */
  gchar             *location;
  gchar             *shown_location;  /* location without user info or secret parameters, for messages */
  gchar             *user;
  gchar             *password;
  gboolean           allow_basic_auth;
  guint64            timeout_us;

  GstTask           *task;            /* the streaming thread; NULL outside PAUSED/PLAYING */
  GRecMutex          stream_lock;     /* the task's lock, held while its function runs */
  GCancellable      *cancellable;
  gint               stopping;        /* atomic; set under pause_lock */
  /* Orders the task pausing itself against stop_task(): a pause that
   * lands after gst_task_stop() would turn the stopped task back into a
   * paused one, which gst_task_join() then waits for forever. */
  GMutex             pause_lock;
  GMutex             conn_lock;
  GstRTSPConnection *conn;            /* protected by conn_lock; used by the task */

  /* The task only (and the state-change thread once it is joined). */
  GPtrArray         *streams;         /* Stream */
  gint16             channel_stream[256];  /* interleaved channel → stream index, -1 for none */
  gint16             rtcp_channel_stream[256];  /* the same for the streams' RTCP channels */
  GstBufferPool     *pool;
  gchar             *session_id;
  guint              session_timeout_s;
  guint              cseq;
  guint              refused_status;  /* task: the non-2xx status that ended open_session(), or 0 */
  /* The data loop's state, from open_session() to close_session(). */
  gboolean           opened;          /* session playing, pads exposed */
  guint8            *read_buf;        /* READ_BUFFER_SIZE bytes */
  gsize              have;            /* bytes waiting in read_buf */
  GPollFD            fds[2];          /* the socket; the cancellable's wake-up descriptor */
  gint64             keepalive_interval_us;
  gint64             next_keepalive_us;   /* monotonic */
};

enum { PROP_0, PROP_LOCATION, PROP_USER_ID, PROP_USER_PW, PROP_ALLOW_BASIC_AUTH, PROP_TIMEOUT };

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("stream_%u", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS ("application/x-rtp; "
                     "video/x-h264, stream-format = (string) byte-stream, alignment = (string) au; "
                     "video/x-h265, stream-format = (string) byte-stream, alignment = (string) au"));

G_DEFINE_FINAL_TYPE (VigilRtspSource, vigil_rtsp_source, GST_TYPE_ELEMENT)

static void
stream_free (Stream *stream)
{
  gst_clear_object (&stream->pad);
  g_free (stream->control_url);
  if (stream->pending != NULL)
    gst_buffer_list_unref (stream->pending);
  if (stream->assemble)
    vigil_nal_assembler_clear (&stream->nal);
  g_free (stream);
}

static gboolean
is_stopping (VigilRtspSource *self)
{
  return g_atomic_int_get (&self->stopping);
}

/* ---- control exchange -------------------------------------------------- */

/* Sets up the credentials for the challenge in @response: Digest when
 * offered. Basic sends the password in the clear, readable by anyone on
 * the camera network and harvestable by a rogue device at the camera's
 * address, so without allow-basic-auth it is refused (FALSE) and nothing
 * is sent. */
static gboolean
setup_auth (VigilRtspSource *self, GstRTSPMessage *response)
{
  GstRTSPAuthCredential **credentials = gst_rtsp_message_parse_auth_credentials (response,
                                                                                 GST_RTSP_HDR_WWW_AUTHENTICATE);
  GstRTSPAuthCredential *digest = NULL;
  gboolean ok = TRUE;

  for (guint i = 0; credentials != NULL && credentials[i] != NULL; i++)
    if (credentials[i]->scheme == GST_RTSP_AUTH_DIGEST && digest == NULL)
      digest = credentials[i];
  if (digest != NULL)
    {
      gst_rtsp_connection_set_auth (self->conn, GST_RTSP_AUTH_DIGEST, self->user, self->password);
      for (guint i = 0; digest->params != NULL && digest->params[i] != NULL; i++)
        gst_rtsp_connection_set_auth_param (self->conn, digest->params[i]->name, digest->params[i]->value);
    }
  else if (self->allow_basic_auth)
    gst_rtsp_connection_set_auth (self->conn, GST_RTSP_AUTH_BASIC, self->user, self->password);
  else
    ok = FALSE;
  if (credentials != NULL)
    gst_rtsp_auth_credentials_free (credentials);
  return ok;
}

/* Sends @method for @url and receives its response into @response, with
 * one retry after a 401 once credentials are set up. FALSE with @error
 * naming the method, URL and status when it does not end in 2xx. */
static gboolean
request (VigilRtspSource *self, GstRTSPMethod method, const gchar *url, const gchar *transport,
         GstRTSPMessage *response, GError **error)
{
  GstRTSPResult result;

  for (guint attempt = 0; attempt < 2; attempt++)
    {
      g_auto(GstRTSPMessage) req = { 0 };
      g_autofree gchar *cseq = g_strdup_printf ("%u", ++self->cseq);

      gst_rtsp_message_init_request (&req, method, url);
      gst_rtsp_message_add_header (&req, GST_RTSP_HDR_CSEQ, cseq);
      gst_rtsp_message_add_header (&req, GST_RTSP_HDR_USER_AGENT, "vigil/" VIGIL_VERSION);
      if (method == GST_RTSP_DESCRIBE)
        gst_rtsp_message_add_header (&req, GST_RTSP_HDR_ACCEPT, "application/sdp");
      if (transport != NULL)
        gst_rtsp_message_add_header (&req, GST_RTSP_HDR_TRANSPORT, transport);
      if (self->session_id != NULL)
        gst_rtsp_message_add_header (&req, GST_RTSP_HDR_SESSION, self->session_id);
      if (method == GST_RTSP_PLAY)
        gst_rtsp_message_add_header (&req, GST_RTSP_HDR_RANGE, "npt=0.000-");

      gst_rtsp_message_unset (response);
      result = gst_rtsp_connection_send_usec (self->conn, &req, self->timeout_us);
      /* Skip anything that is not our response (a server's own request). */
      while (result == GST_RTSP_OK
             && (result = gst_rtsp_connection_receive_usec (self->conn, response, self->timeout_us)) == GST_RTSP_OK
             && gst_rtsp_message_get_type (response) != GST_RTSP_MESSAGE_RESPONSE)
        gst_rtsp_message_unset (response);
      if (result != GST_RTSP_OK)
        {
          g_autofree gchar *why = gst_rtsp_strresult (result);
          g_autofree gchar *shown_url = vigil_text_redact_url (url);
          g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_READ, "%s %s: %s",
                       gst_rtsp_method_as_text (method), shown_url, why);
          return FALSE;
        }
      if (response->type_data.response.code == GST_RTSP_STS_UNAUTHORIZED && attempt == 0 && self->user != NULL)
        {
          if (setup_auth (self, response))
            continue;
          g_autofree gchar *shown_url = vigil_text_redact_url (url);
          g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_AUTHORIZED,
                       "%s %s: the camera offers only Basic authentication, which would send the password in "
                       "the clear; set allow_basic_auth=true for this camera to allow it",
                       gst_rtsp_method_as_text (method), shown_url);
          return FALSE;
        }
      break;
    }
  if (response->type_data.response.code / 100 != 2)
    {
      g_autofree gchar *shown_url = vigil_text_redact_url (url);
      GstRTSPStatusCode code = response->type_data.response.code;

      /* Said in the error's details, as rtspsrc does: the owner must tell
       * a refused login or a full camera from one that is gone. */
      self->refused_status = code;
      g_set_error (error, GST_RESOURCE_ERROR,
                   code == GST_RTSP_STS_UNAUTHORIZED || code == GST_RTSP_STS_FORBIDDEN
                     ? GST_RESOURCE_ERROR_NOT_AUTHORIZED : GST_RESOURCE_ERROR_OPEN_READ,
                   "%s %s: %d %s%s", gst_rtsp_method_as_text (method), shown_url, response->type_data.response.code,
                   response->type_data.response.reason,
                   response->type_data.response.code == GST_RTSP_STS_UNAUTHORIZED && self->user == NULL
                     ? " (no user configured)" : "");
      return FALSE;
    }
  return TRUE;
}

static gchar *
resolve_control (const gchar *base, const gchar *control)
{
  if (control == NULL || g_str_equal (control, "*"))
    return g_strdup (base);
  if (g_ascii_strncasecmp (control, "rtsp://", 7) == 0)
    return g_strdup (control);
  return g_strconcat (base, g_str_has_suffix (base, "/") ? "" : "/", control, NULL);
}

/* Caps of one SDP media, as rtspsrc builds them. */
static GstCaps *
caps_for_media (const GstSDPMessage *sdp, const GstSDPMedia *media, guint *out_clock_rate)
{
  const gchar *format = gst_sdp_media_get_format (media, 0);
  gint pt = format != NULL ? atoi (format) : -1;
  GstCaps *caps;
  GstStructure *s;
  gint clock_rate = 0;

  if (pt < 0 || (caps = gst_sdp_media_get_caps_from_media (media, pt)) == NULL)
    return NULL;
  s = gst_caps_get_structure (caps, 0);
  gst_structure_set_name (s, "application/x-rtp");
  gst_sdp_media_attributes_to_caps (media, caps);
  gst_sdp_message_attributes_to_caps (sdp, caps);
  if (!gst_structure_get_int (s, "clock-rate", &clock_rate) || clock_rate <= 0)
    {
      const GstRTPPayloadInfo *info = gst_rtp_payload_info_for_pt (pt);

      clock_rate = info != NULL ? (gint) info->clock_rate : 0;
      if (clock_rate > 0)
        gst_structure_set (s, "clock-rate", G_TYPE_INT, clock_rate, NULL);
      if (info != NULL && info->encoding_name != NULL && !gst_structure_has_field (s, "encoding-name"))
        gst_structure_set (s, "encoding-name", G_TYPE_STRING, info->encoding_name, NULL);
    }
  if (clock_rate <= 0)
    {
      gst_caps_unref (caps);
      return NULL;
    }
  *out_clock_rate = clock_rate;
  return caps;
}

/* RTP-Info from PLAY maps each stream's rtptime to npt 0, so audio and
 * video timestamps share one origin. Without it each stream starts at its
 * first packet. */
static void
apply_rtp_info (VigilRtspSource *self, GstRTSPMessage *response)
{
  gchar *value = NULL;
  g_auto(GStrv) entries = NULL;

  if (gst_rtsp_message_get_header (response, GST_RTSP_HDR_RTP_INFO, &value, 0) != GST_RTSP_OK)
    return;
  entries = g_strsplit (value, ",", -1);
  for (guint i = 0; entries[i] != NULL; i++)
    {
      g_auto(GStrv) fields = g_strsplit (entries[i], ";", -1);
      const gchar *url = NULL;
      gint64 rtptime = -1;

      for (guint j = 0; fields[j] != NULL; j++)
        {
          gchar *field = g_strstrip (fields[j]);
          if (g_str_has_prefix (field, "url="))
            url = field + 4;
          else if (g_str_has_prefix (field, "rtptime="))
            rtptime = g_ascii_strtoll (field + 8, NULL, 10);
        }
      for (guint k = 0; url != NULL && rtptime >= 0 && k < self->streams->len; k++)
        {
          Stream *stream = self->streams->pdata[k];

          if (g_str_has_suffix (stream->control_url, url) || g_str_has_suffix (url, stream->control_url))
            {
              stream->base_ts = gst_rtp_buffer_ext_timestamp (&stream->ext_ts, (guint32) rtptime);
              stream->have_base = TRUE;
            }
        }
    }
}

static void
add_sprop (VigilNalAssembler *nal, const GstStructure *s, const gchar *field)
{
  const gchar *value = gst_structure_get_string (s, field);
  g_auto(GStrv) sets = value != NULL ? g_strsplit (value, ",", -1) : NULL;

  for (guint i = 0; sets != NULL && sets[i] != NULL; i++)
    {
      gsize len = 0;
      g_autofree guchar *nal_unit = g_base64_decode (sets[i], &len);

      if (len > 0)
        vigil_nal_assembler_add_parameter_set (nal, nal_unit, len);
    }
}

/* H.264 and H.265 are reassembled here into access units (see
 * vigil-nal-assembler.h); their pads carry the parsed codec, not RTP.
 * Takes @rtp_caps; returns the pad's caps. */
static GstCaps *
assemble_caps (Stream *stream, GstCaps *rtp_caps)
{
  const GstStructure *s = gst_caps_get_structure (rtp_caps, 0);
  const gchar *encoding = gst_structure_get_string (s, "encoding-name");
  GstCaps *caps;

  if (g_strcmp0 (gst_structure_get_string (s, "media"), "video") != 0 || encoding == NULL)
    return rtp_caps;
  if (g_ascii_strcasecmp (encoding, "H264") == 0)
    {
      vigil_nal_assembler_init (&stream->nal, VIGIL_NAL_CODEC_H264);
      add_sprop (&stream->nal, s, "sprop-parameter-sets");
      caps = gst_caps_from_string ("video/x-h264, stream-format=byte-stream, alignment=au");
    }
  else if (g_ascii_strcasecmp (encoding, "H265") == 0)
    {
      vigil_nal_assembler_init (&stream->nal, VIGIL_NAL_CODEC_H265);
      add_sprop (&stream->nal, s, "sprop-vps");
      add_sprop (&stream->nal, s, "sprop-sps");
      add_sprop (&stream->nal, s, "sprop-pps");
      caps = gst_caps_from_string ("video/x-h265, stream-format=byte-stream, alignment=au");
    }
  else
    return rtp_caps;
  stream->assemble = TRUE;
  gst_caps_unref (rtp_caps);
  return caps;
}

static gboolean
open_session (VigilRtspSource *self, GError **error)
{
  g_auto(GstRTSPMessage) response = { 0 };
  g_autoptr(GstSDPMessage) sdp = NULL;
  g_autofree gchar *base = NULL;
  GstRTSPUrl *url = NULL;
  GstRTSPConnection *conn = NULL;
  GstRTSPResult result;
  guint8 *body;
  guint body_size;
  gchar *header = NULL;

  self->refused_status = 0;
  if (gst_rtsp_url_parse (self->location, &url) != GST_RTSP_OK)
    {
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, "not an RTSP URL: %s",
                   self->shown_location);
      return FALSE;
    }
  result = gst_rtsp_connection_create (url, &conn);
  gst_rtsp_url_free (url);
  if (result != GST_RTSP_OK)
    {
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, "cannot use %s", self->shown_location);
      return FALSE;
    }
  g_mutex_lock (&self->conn_lock);
  self->conn = conn;
  g_mutex_unlock (&self->conn_lock);
  if (is_stopping (self))
    return FALSE;

  result = gst_rtsp_connection_connect_usec (self->conn, self->timeout_us);
  if (result != GST_RTSP_OK)
    {
      g_autofree gchar *why = gst_rtsp_strresult (result);
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ, "cannot connect to %s: %s",
                   self->shown_location, why);
      return FALSE;
    }

  if (!request (self, GST_RTSP_DESCRIBE, self->location, NULL, &response, error))
    return FALSE;
  gst_rtsp_message_get_body (&response, &body, &body_size);
  gst_sdp_message_new (&sdp);
  if (body_size == 0 || gst_sdp_message_parse_buffer (body, body_size, sdp) != GST_SDP_OK)
    {
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ,
                   "DESCRIBE %s: the camera sent no usable SDP", self->shown_location);
      return FALSE;
    }
  if (gst_rtsp_message_get_header (&response, GST_RTSP_HDR_CONTENT_BASE, &header, 0) == GST_RTSP_OK
      || gst_rtsp_message_get_header (&response, GST_RTSP_HDR_CONTENT_LOCATION, &header, 0) == GST_RTSP_OK)
    base = g_strdup (header);
  else
    base = g_strdup (self->location);
  {
    /* A session-level control attribute overrides the base. */
    const gchar *session_control = gst_sdp_message_get_attribute_val (sdp, "control");
    if (session_control != NULL && !g_str_equal (session_control, "*"))
      {
        gchar *resolved = resolve_control (base, session_control);
        g_free (base);
        base = resolved;
      }
  }

  for (guint i = 0; i < gst_sdp_message_medias_len (sdp); i++)
    {
      const GstSDPMedia *media = gst_sdp_message_get_media (sdp, i);
      const gchar *kind = gst_sdp_media_get_media (media);
      g_autofree gchar *transport = NULL;
      GstRTSPTransport *parsed = NULL;
      gchar *value = NULL;
      Stream *stream;
      GstCaps *caps;
      guint clock_rate = 0;

      /* Metadata and other application streams are not recorded. */
      if (g_strcmp0 (kind, "video") != 0 && g_strcmp0 (kind, "audio") != 0)
        continue;
      if ((caps = caps_for_media (sdp, media, &clock_rate)) == NULL)
        {
          GST_WARNING_OBJECT (self, "skipping %s stream %u: no payload type or clock rate", kind, i);
          continue;
        }
      stream = g_new0 (Stream, 1);
      caps = assemble_caps (stream, caps);
      stream->control_url = resolve_control (base, gst_sdp_media_get_attribute_val (media, "control"));
      stream->clock_rate = clock_rate;
      stream->ext_ts = -1;
      stream->discont = TRUE;
      stream->rtp_channel = 2 * self->streams->len;
      stream->rtcp_channel = stream->rtp_channel + 1;
      stream->pad = gst_object_ref_sink (gst_pad_new_from_static_template (&src_template, NULL));
      gst_pad_use_fixed_caps (stream->pad);
      g_object_set_data_full (G_OBJECT (stream->pad), "vigil-caps", caps, (GDestroyNotify) gst_caps_unref);
      g_ptr_array_add (self->streams, stream);

      transport = g_strdup_printf ("RTP/AVP/TCP;unicast;interleaved=%u-%u", stream->rtp_channel,
                                   stream->rtp_channel + 1);
      if (!request (self, GST_RTSP_SETUP, stream->control_url, transport, &response, error))
        return FALSE;
      if (gst_rtsp_message_get_header (&response, GST_RTSP_HDR_TRANSPORT, &value, 0) == GST_RTSP_OK
          && gst_rtsp_transport_new (&parsed) == GST_RTSP_OK)
        {
          /* The camera may choose other channels than we asked for. */
          if (gst_rtsp_transport_parse (value, parsed) == GST_RTSP_OK && parsed->interleaved.min >= 0
              && parsed->interleaved.min < 256)
            {
              stream->rtp_channel = parsed->interleaved.min;
              stream->rtcp_channel = parsed->interleaved.max > parsed->interleaved.min
                                         && parsed->interleaved.max < 256 ? (guint) parsed->interleaved.max
                                                                          : stream->rtp_channel + 1;
            }
          gst_rtsp_transport_free (parsed);
        }
      if (self->session_id == NULL
          && gst_rtsp_message_get_header (&response, GST_RTSP_HDR_SESSION, &value, 0) == GST_RTSP_OK)
        {
          gchar **parts = g_strsplit (value, ";", -1);
          self->session_id = g_strdup (g_strstrip (parts[0]));
          for (guint j = 1; parts[j] != NULL; j++)
            if (g_str_has_prefix (g_strstrip (parts[j]), "timeout="))
              self->session_timeout_s = (guint) g_ascii_strtoull (g_strstrip (parts[j]) + 8, NULL, 10);
          g_strfreev (parts);
        }
      self->channel_stream[stream->rtp_channel] = self->streams->len - 1;
      if (stream->rtcp_channel < 256 && stream->rtcp_channel != stream->rtp_channel)
        self->rtcp_channel_stream[stream->rtcp_channel] = self->streams->len - 1;
    }
  if (self->streams->len == 0)
    {
      g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_CODEC_NOT_FOUND,
                   "%s offers no audio or video stream", self->shown_location);
      return FALSE;
    }
  if (!request (self, GST_RTSP_PLAY, base, NULL, &response, error))
    return FALSE;
  apply_rtp_info (self, &response);
  GST_INFO_OBJECT (self, "playing %s: %u streams, session timeout %u s", self->shown_location, self->streams->len,
                   self->session_timeout_s);
  return TRUE;
}

static void
expose_pads (VigilRtspSource *self)
{
  g_autofree gchar *stream_id_base = g_compute_checksum_for_string (G_CHECKSUM_SHA256, self->location, -1);

  for (guint i = 0; i < self->streams->len; i++)
    {
      Stream *stream = self->streams->pdata[i];
      g_autofree gchar *stream_id = g_strdup_printf ("%s/%u", stream_id_base, i);
      GstCaps *caps = g_object_get_data (G_OBJECT (stream->pad), "vigil-caps");
      GstSegment segment;

      gst_segment_init (&segment, GST_FORMAT_TIME);
      gst_pad_set_active (stream->pad, TRUE);
      /* Sticky: stored on the pad now, sent once the recorder links it. */
      gst_pad_push_event (stream->pad, gst_event_new_stream_start (stream_id));
      gst_pad_push_event (stream->pad, gst_event_new_caps (caps));
      gst_pad_push_event (stream->pad, gst_event_new_segment (&segment));
      gst_element_add_pad (GST_ELEMENT (self), stream->pad);
    }
  gst_element_no_more_pads (GST_ELEMENT (self));
}

/* ---- data loop ---------------------------------------------------------- */

/* Network-order reads from a byte stream: packets sit at any offset in
 * the read buffer, so no aligned loads (GST_READ_UINT32_BE may do one). */
static inline guint16
read_u16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

static inline guint32
read_u32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static GstClockTime
pts_for (Stream *stream, guint32 rtp_timestamp)
{
  /* Relative to the latest packet, whose extended timestamp is known. */
  guint64 ext = stream->ext_ts - (guint32) (stream->last_ts - rtp_timestamp);

  return ext >= stream->base_ts ? gst_util_uint64_scale_int (ext - stream->base_ts, GST_SECOND, stream->clock_rate)
                                : 0;
}

static void
add_pending (Stream *stream, GstBuffer *buffer)
{
  if (stream->discont)
    {
      GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_DISCONT);
      stream->discont = FALSE;
    }
  if (stream->pending == NULL)
    stream->pending = gst_buffer_list_new_sized (16);
  gst_buffer_list_add (stream->pending, buffer);
}

/* A complete H.264/H.265 access unit: one allocation per frame. */
static void
on_access_unit (const guint8 *au, gsize len, guint32 rtp_timestamp, gpointer user_data)
{
  Stream *stream = user_data;
  GstBuffer *buffer = gst_buffer_new_memdup (au, len);

  GST_BUFFER_PTS (buffer) = pts_for (stream, rtp_timestamp);
  add_pending (stream, buffer);
}

/* One RTP packet of @len bytes at @data. For RTP pads, allocates only when
 * the pool is empty or the packet is larger than a pooled buffer. */
static void
queue_packet (VigilRtspSource *self, Stream *stream, const guint8 *data, guint len)
{
  GstBuffer *buffer = NULL;
  guint32 timestamp;

  if (len < 12 || (data[0] >> 6) != 2)
    return;   /* not RTP version 2: ignore, as rtspsrc's session would */
  timestamp = read_u32 (data + 4);
  gst_rtp_buffer_ext_timestamp (&stream->ext_ts, timestamp);
  stream->last_ts = timestamp;
  if (!stream->have_base)
    {
      stream->base_ts = stream->ext_ts;
      stream->have_base = TRUE;
    }

  if (stream->assemble)
    {
      /* RFC 3550 §5.1: CSRCs, then an optional extension, then the
       * payload, then optional padding counted by its last byte. */
      gsize offset = 12 + 4 * (data[0] & 0x0f), end = len;

      if ((data[0] & 0x10) && offset + 4 <= len)
        offset += 4 + 4 * read_u16 (data + offset + 2);
      if ((data[0] & 0x20) && data[len - 1] <= len)
        end = len - data[len - 1];
      if (offset < end)
        vigil_nal_assembler_push (&stream->nal, data + offset, end - offset, timestamp, (data[1] & 0x80) != 0,
                                  on_access_unit, stream);
      return;
    }

  if (len > POOLED_PACKET_SIZE || gst_buffer_pool_acquire_buffer (self->pool, &buffer, NULL) != GST_FLOW_OK)
    buffer = gst_buffer_new_allocate (NULL, len, NULL);
  gst_buffer_fill (buffer, 0, data, len);
  gst_buffer_set_size (buffer, len);
  GST_BUFFER_PTS (buffer) = pts_for (stream, timestamp);
  add_pending (stream, buffer);
}

/* Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
#define NTP_UNIX_OFFSET_S G_GINT64_CONSTANT (2208988800)

/* One RTCP compound packet from stream @index's channel. Only sender
 * reports are read: their NTP timestamp is the camera's wall clock at the
 * moment it sent them, so against the host's clock on arrival (late by
 * the network and at most one read batch, MAX_BATCH_WAIT_MS) it tells how
 * far the camera's clock is off. Posted as an element message
 * "vigil-sender-report" (stream, camera-offset-us); a few seconds apart,
 * so the message is no per-packet allocation. */
static void
read_rtcp (VigilRtspSource *self, guint index, const guint8 *data, guint len)
{
  gint64 host_us = g_get_real_time ();

  while (len >= 4)
    {
      guint packet_len = 4 * (read_u16 (data + 2) + 1);

      if ((data[0] >> 6) != 2 || packet_len > len)
        return;   /* not RTCP version 2, or cut short: ignore the rest */
      if (data[1] == 200 /* SR */ && packet_len >= 28)
        {
          guint32 ntp_s = read_u32 (data + 8), ntp_frac = read_u32 (data + 12);
          gint64 camera_us = ((gint64) ntp_s - NTP_UNIX_OFFSET_S) * G_USEC_PER_SEC
                             + (gint64) (((guint64) ntp_frac * G_USEC_PER_SEC) >> 32);

          gst_element_post_message (GST_ELEMENT (self),
                                    gst_message_new_element (GST_OBJECT (self),
                                                             gst_structure_new ("vigil-sender-report",
                                                                                "stream", G_TYPE_UINT, index,
                                                                                "camera-offset-us", G_TYPE_INT64,
                                                                                camera_us - host_us, NULL)));
          return;
        }
      data += packet_len;
      len -= packet_len;
    }
}

/* Pushes what the last read produced; FALSE when the loop must end. */
static gboolean
push_pending (VigilRtspSource *self)
{
  for (guint i = 0; i < self->streams->len; i++)
    {
      Stream *stream = self->streams->pdata[i];
      GstFlowReturn flow;

      if (stream->pending == NULL)
        continue;
      flow = gst_pad_push_list (stream->pad, g_steal_pointer (&stream->pending));
      if (flow == GST_FLOW_OK || flow == GST_FLOW_NOT_LINKED)
        continue;
      if (flow == GST_FLOW_FLUSHING || flow == GST_FLOW_EOS)
        return FALSE;
      GST_ELEMENT_FLOW_ERROR (self, flow);
      return FALSE;
    }
  return TRUE;
}

/* Length of the RTSP message (a keep-alive reply, or a request from the
 * camera) at the start of @data, or 0 if it is not complete yet. */
static gsize
rtsp_message_length (const guint8 *data, gsize avail, gint *out_status)
{
  const guint8 *end = memmem (data, avail, "\r\n\r\n", 4);
  g_autofree gchar *headers = NULL;
  const gchar *length;
  gsize header_len, body_len = 0;

  if (end == NULL)
    return 0;
  header_len = end + 4 - data;
  headers = g_ascii_strdown ((const gchar *) data, header_len);
  if ((length = strstr (headers, "\ncontent-length:")) != NULL)
    body_len = g_ascii_strtoull (length + strlen ("\ncontent-length:"), NULL, 10);
  *out_status = g_str_has_prefix (headers, "rtsp/") ? atoi (headers + strlen ("rtsp/1.0 ")) : 0;
  if (avail < header_len + body_len)
    return 0;
  return header_len + body_len;
}

static gboolean
send_keepalive (VigilRtspSource *self, GError **error)
{
  g_auto(GstRTSPMessage) req = { 0 };
  g_autofree gchar *cseq = g_strdup_printf ("%u", ++self->cseq);
  GstRTSPResult result;

  gst_rtsp_message_init_request (&req, GST_RTSP_OPTIONS, self->location);
  gst_rtsp_message_add_header (&req, GST_RTSP_HDR_CSEQ, cseq);
  if (self->session_id != NULL)
    gst_rtsp_message_add_header (&req, GST_RTSP_HDR_SESSION, self->session_id);
  /* The reply arrives interleaved with the data and is skipped there. */
  result = gst_rtsp_connection_send_usec (self->conn, &req, self->timeout_us);
  if (result != GST_RTSP_OK)
    {
      g_autofree gchar *why = gst_rtsp_strresult (result);
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_WRITE, "keep-alive to %s: %s", self->shown_location,
                   why);
      return FALSE;
    }
  return TRUE;
}

static void
push_eos (VigilRtspSource *self)
{
  for (guint i = 0; i < self->streams->len; i++)
    gst_pad_push_event (((Stream *) self->streams->pdata[i])->pad, gst_event_new_eos ());
}

/* Splits the complete interleaved frames in @buf[*off, have) into packets
 * and skips RTSP messages; *off ends at the first incomplete frame.
 * FALSE (after posting an error) when the stream cannot be made sense of. */
static gboolean
split_frames (VigilRtspSource *self, const guint8 *buf, gsize have, gsize *off)
{
  while (have - *off >= 4)
    {
      const guint8 *p = buf + *off;
      gsize avail = have - *off;

      if (p[0] == '$')
        {
          guint len = read_u16 (p + 2);
          gint index = self->channel_stream[p[1]];

          if (avail < 4 + (gsize) len)
            break;
          if (index >= 0)   /* RTCP channels and unknown ones map to -1 */
            queue_packet (self, self->streams->pdata[index], p + 4, len);
          else if (self->rtcp_channel_stream[p[1]] >= 0)
            read_rtcp (self, self->rtcp_channel_stream[p[1]], p + 4, len);
          *off += 4 + len;
        }
      else
        {
          gint status = 0;
          gsize len = rtsp_message_length (p, avail, &status);

          if (len == 0)
            {
              if (avail < READ_BUFFER_SIZE / 2)
                break;
              GST_ELEMENT_ERROR (self, STREAM, DEMUX,
                                 ("%s sent data that is neither RTP nor RTSP", self->shown_location),
                                 (NULL));
              return FALSE;
            }
          if (status == GST_RTSP_STS_SESSION_NOT_FOUND)
            {
              GST_ELEMENT_ERROR_WITH_DETAILS (self, RESOURCE, READ, ("%s forgot the session (454)",
                                                                     self->shown_location), (NULL),
                                              ("rtsp-status-code", G_TYPE_UINT, (guint) status, NULL));
              return FALSE;
            }
          *off += len;
        }
    }
  return TRUE;
}

/* Sets up the data loop once the session plays. Reads wake up when
 * SOCKET_LOW_WATER bytes are waiting or after at most MAX_BATCH_WAIT_MS:
 * each wake-up then carries several packets of a busy camera instead of
 * one, and recording does not care about 100 ms. Runs on the task. */
static void
start_reading (VigilRtspSource *self)
{
  GSocket *socket = gst_rtsp_connection_get_read_socket (self->conn);
  int fd = g_socket_get_fd (socket);
  guint session_timeout_s = self->session_timeout_s ? self->session_timeout_s : DEFAULT_SESSION_TIMEOUT_S;
  int low_water = SOCKET_LOW_WATER;

  self->read_buf = g_malloc (READ_BUFFER_SIZE);
  self->have = 0;
  self->keepalive_interval_us = CLAMP (session_timeout_s / 2, 5, 30) * G_USEC_PER_SEC;
  self->next_keepalive_us = g_get_monotonic_time () + self->keepalive_interval_us;
  self->fds[0] = (GPollFD) { .fd = fd, .events = G_IO_IN };
  /* One wake-up descriptor for the whole session: making one per wait
   * (as g_socket_condition_timed_wait does) costs an eventfd per read. */
  g_cancellable_make_pollfd (self->cancellable, &self->fds[1]);
  setsockopt (fd, SOL_SOCKET, SO_RCVLOWAT, &low_water, sizeof low_water);
  self->opened = TRUE;
}

/* One batch: reads the socket, splits interleaved frames, pushes packets.
 * FALSE when the session is over: closed, failed or cancelled. Runs on the
 * task. */
static gboolean
read_batch (VigilRtspSource *self)
{
  g_autoptr(GError) error = NULL;
  gint64 now_us = g_get_monotonic_time ();
  gssize received;
  gsize off = 0;

  if (g_cancellable_is_cancelled (self->cancellable))
    return FALSE;
  if (now_us >= self->next_keepalive_us)
    {
      if (!send_keepalive (self, &error))
        {
          GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("%s", error->message), (NULL));
          return FALSE;
        }
      self->next_keepalive_us = now_us + self->keepalive_interval_us;
    }
  g_poll (self->fds, 2, (gint) MIN (MAX_BATCH_WAIT_MS, (self->next_keepalive_us - now_us) / 1000 + 1));
  if (g_cancellable_is_cancelled (self->cancellable))
    return FALSE;
  received = recv (self->fds[0].fd, self->read_buf + self->have, READ_BUFFER_SIZE - self->have, MSG_DONTWAIT);
  if (received == 0)
    {
      GST_INFO_OBJECT (self, "%s closed the connection", self->shown_location);
      /* No TEARDOWN on a connection the camera closed: writing to its
       * half-closed socket only pokes a server that is tearing down
       * (gst-rtsp-server 1.22 then touches a freed client). */
      g_clear_pointer (&self->session_id, g_free);
      push_eos (self);
      return FALSE;
    }
  if (received < 0)
    {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return TRUE;
      GST_ELEMENT_ERROR (self, RESOURCE, READ, ("reading from %s: %s", self->shown_location, g_strerror (errno)),
                         (NULL));
      return FALSE;
    }
  self->have += received;

  if (!split_frames (self, self->read_buf, self->have, &off))
    return FALSE;
  memmove (self->read_buf, self->read_buf + off, self->have - off);
  self->have -= off;
  return push_pending (self);
}

/* Ends the session: TEARDOWN when it still has one, then closes the
 * connection, and frees the data loop's state. On the task when the
 * session ended by itself, else on the state-change thread once the task
 * is joined. */
static void
close_session (VigilRtspSource *self)
{
  if (self->opened)
    {
      g_cancellable_release_fd (self->cancellable);
      g_clear_pointer (&self->read_buf, g_free);
      self->have = 0;
      self->opened = FALSE;
    }
  g_mutex_lock (&self->conn_lock);
  if (self->conn != NULL && self->session_id != NULL)
    {
      /* Best effort: a camera with a limit on sessions frees ours now
       * instead of at its session timeout. */
      g_auto(GstRTSPMessage) req = { 0 };
      g_autofree gchar *cseq = g_strdup_printf ("%u", ++self->cseq);

      gint64 deadline_us = g_get_monotonic_time () + TEARDOWN_TIMEOUT_US;

      gst_rtsp_connection_flush (self->conn, FALSE);
      gst_rtsp_message_init_request (&req, GST_RTSP_TEARDOWN, self->location);
      gst_rtsp_message_add_header (&req, GST_RTSP_HDR_CSEQ, cseq);
      gst_rtsp_message_add_header (&req, GST_RTSP_HDR_SESSION, self->session_id);
      if (gst_rtsp_connection_send_usec (self->conn, &req, TEARDOWN_TIMEOUT_US) == GST_RTSP_OK)
        {
          /* Wait (briefly) for the answer before closing, as rtspsrc does:
           * closing at once races the server's own clean-up of the session
           * (gst-rtsp-server 1.22 then touches a freed client). */
          g_auto(GstRTSPMessage) reply = { 0 };
          gint64 left_us;

          while ((left_us = deadline_us - g_get_monotonic_time ()) > 0
                 && gst_rtsp_connection_receive_usec (self->conn, &reply, left_us) == GST_RTSP_OK
                 && gst_rtsp_message_get_type (&reply) != GST_RTSP_MESSAGE_RESPONSE)
            gst_rtsp_message_unset (&reply);
        }
    }
  if (self->conn != NULL)
    {
      gst_rtsp_connection_close (self->conn);
      gst_rtsp_connection_free (self->conn);
      self->conn = NULL;
    }
  g_mutex_unlock (&self->conn_lock);
}

/* Opens the session (and exposes the pads) on the first run, then reads
 * one batch per run. A session that ends by itself (the camera closed it,
 * an error) is closed at once and the task paused until the element stops;
 * when stopping, the state-change thread closes it. Runs on the task, with
 * stream_lock held. */
static void
task_loop (VigilRtspSource *self)
{
  g_autoptr(GError) error = NULL;

  if (self->opened)
    {
      if (read_batch (self))
        return;
    }
  else if (open_session (self, &error))
    {
      expose_pads (self);
      start_reading (self);
      return;
    }
  else if (!is_stopping (self))
    {
      if (self->refused_status != 0
          && g_error_matches (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_AUTHORIZED))
        GST_ELEMENT_ERROR_WITH_DETAILS (self, RESOURCE, NOT_AUTHORIZED, ("%s", error->message), (NULL),
                                        ("rtsp-status-code", G_TYPE_UINT, self->refused_status, NULL));
      else if (self->refused_status != 0)
        GST_ELEMENT_ERROR_WITH_DETAILS (self, RESOURCE, OPEN_READ, ("%s", error->message), (NULL),
                                        ("rtsp-status-code", G_TYPE_UINT, self->refused_status, NULL));
      else if (g_error_matches (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_AUTHORIZED))
        GST_ELEMENT_ERROR (self, RESOURCE, NOT_AUTHORIZED, ("%s", error->message), (NULL));
      else if (error->domain == GST_STREAM_ERROR)
        GST_ELEMENT_ERROR (self, STREAM, CODEC_NOT_FOUND, ("%s", error->message), (NULL));
      else
        GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("%s", error->message), (NULL));
    }
  if (is_stopping (self))
    return;   /* stop_task() closes the session after the join */
  close_session (self);
  g_mutex_lock (&self->pause_lock);
  if (is_stopping (self))
    gst_task_stop (self->task);   /* stop_task() is on its way to the join */
  else
    gst_task_pause (self->task);
  g_mutex_unlock (&self->pause_lock);
}

/* Starts the streaming thread. Called from the state change to PAUSED. */
static gboolean
start_task (VigilRtspSource *self)
{
  g_atomic_int_set (&self->stopping, FALSE);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  self->task = gst_task_new ((GstTaskFunction) task_loop, self, NULL);
  gst_object_set_name (GST_OBJECT (self->task), "vigilrtspsrc");
  gst_task_set_lock (self->task, &self->stream_lock);
  return gst_task_start (self->task);
}

static gboolean
deactivate_pad (GstElement *element, GstPad *pad, gpointer unused)
{
  gst_pad_set_active (pad, FALSE);
  return TRUE;
}

/* Wakes the task out of whatever blocks it (the poll through the
 * cancellable, a connect, send or receive through the connection's flush,
 * a push that waits downstream through the pads going flushing, as
 * GstBaseSrc does before it stops its task), stops and joins it, then
 * ends the session. Not on the task. */
static void
stop_task (VigilRtspSource *self)
{
  if (self->task == NULL)
    return;
  g_mutex_lock (&self->pause_lock);
  g_atomic_int_set (&self->stopping, TRUE);
  g_mutex_unlock (&self->pause_lock);
  g_cancellable_cancel (self->cancellable);
  g_mutex_lock (&self->conn_lock);
  if (self->conn != NULL)
    gst_rtsp_connection_flush (self->conn, TRUE);   /* wakes a blocked send or receive */
  g_mutex_unlock (&self->conn_lock);
  gst_element_foreach_src_pad (GST_ELEMENT (self), deactivate_pad, NULL);
  gst_task_stop (self->task);
  gst_task_join (self->task);
  gst_clear_object (&self->task);
  close_session (self);
}

static void
reset_session (VigilRtspSource *self)
{
  for (guint i = 0; i < self->streams->len; i++)
    {
      Stream *stream = self->streams->pdata[i];
      if (gst_object_has_as_parent (GST_OBJECT (stream->pad), GST_OBJECT (self)))
        gst_element_remove_pad (GST_ELEMENT (self), stream->pad);
    }
  g_ptr_array_set_size (self->streams, 0);
  memset (self->channel_stream, 0xff, sizeof self->channel_stream);
  memset (self->rtcp_channel_stream, 0xff, sizeof self->rtcp_channel_stream);
  g_clear_pointer (&self->session_id, g_free);
  self->session_timeout_s = 0;
  self->cseq = 0;
}

static GstStateChangeReturn
vigil_rtsp_source_change_state (GstElement *element, GstStateChange transition)
{
  VigilRtspSource *self = VIGIL_RTSP_SOURCE (element);
  GstStateChangeReturn ret;

  switch (transition)
    {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      {
        GstStructure *config;

        reset_session (self);
        self->pool = gst_buffer_pool_new ();
        config = gst_buffer_pool_get_config (self->pool);
        gst_buffer_pool_config_set_params (config, NULL, POOLED_PACKET_SIZE, 16, 0);
        gst_buffer_pool_set_config (self->pool, config);
        gst_buffer_pool_set_active (self->pool, TRUE);
        if (!start_task (self))
          {
            GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("cannot start a streaming thread"), (NULL));
            return GST_STATE_CHANGE_FAILURE;
          }
        break;
      }
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      stop_task (self);
      break;
    default:
      break;
    }

  ret = GST_ELEMENT_CLASS (vigil_rtsp_source_parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE)
    return ret;

  switch (transition)
    {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      ret = GST_STATE_CHANGE_NO_PREROLL;   /* live */
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      reset_session (self);
      if (self->pool != NULL)
        {
          gst_buffer_pool_set_active (self->pool, FALSE);
          gst_clear_object (&self->pool);
        }
      break;
    default:
      break;
    }
  return ret;
}

static void
vigil_rtsp_source_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  VigilRtspSource *self = VIGIL_RTSP_SOURCE (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id)
    {
    case PROP_LOCATION:
      g_free (self->location);
      self->location = g_value_dup_string (value);
      g_free (self->shown_location);
      self->shown_location = vigil_text_redact_url (self->location);
      break;
    case PROP_ALLOW_BASIC_AUTH:
      self->allow_basic_auth = g_value_get_boolean (value);
      break;
    case PROP_USER_ID:
      g_free (self->user);
      self->user = g_value_dup_string (value);
      break;
    case PROP_USER_PW:
      g_free (self->password);
      self->password = g_value_dup_string (value);
      break;
    case PROP_TIMEOUT:
      self->timeout_us = g_value_get_uint64 (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
  GST_OBJECT_UNLOCK (self);
}

static void
vigil_rtsp_source_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VigilRtspSource *self = VIGIL_RTSP_SOURCE (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id)
    {
    case PROP_LOCATION:
      g_value_set_string (value, self->location);
      break;
    case PROP_USER_ID:
      g_value_set_string (value, self->user);
      break;
    case PROP_ALLOW_BASIC_AUTH:
      g_value_set_boolean (value, self->allow_basic_auth);
      break;
    case PROP_TIMEOUT:
      g_value_set_uint64 (value, self->timeout_us);
      break;
    default:
      /* user-pw is write-only: a password never leaves the element. */
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
  GST_OBJECT_UNLOCK (self);
}

static void
vigil_rtsp_source_finalize (GObject *object)
{
  VigilRtspSource *self = VIGIL_RTSP_SOURCE (object);

  stop_task (self);
  g_clear_pointer (&self->streams, g_ptr_array_unref);
  g_clear_object (&self->cancellable);
  gst_clear_object (&self->pool);
  g_free (self->session_id);
  g_free (self->location);
  g_free (self->shown_location);
  g_free (self->user);
  if (self->password != NULL)
    memset (self->password, 0, strlen (self->password));
  g_free (self->password);
  g_mutex_clear (&self->conn_lock);
  g_mutex_clear (&self->pause_lock);
  g_rec_mutex_clear (&self->stream_lock);
  G_OBJECT_CLASS (vigil_rtsp_source_parent_class)->finalize (object);
}

/* GLib 2.74 can deadlock when two threads set up GIO's socket types for
 * the first time at once: one in g_type_class_ref() under the type lock,
 * another in GSocketAddress's g_once waiting for it (seen: two session
 * threads in gst_rtsp_connection_create() while vigild's main thread took
 * its bus name, all three stuck for good). So every GIO type a session
 * thread creates is set up here, on the thread that makes the first
 * source, before any session thread exists. */
static void
init_gio_types (void)
{
  GType types[] = {
    G_TYPE_SOCKET_ADDRESS, G_TYPE_INET_SOCKET_ADDRESS, G_TYPE_INET_ADDRESS, G_TYPE_NETWORK_ADDRESS,
    G_TYPE_NETWORK_SERVICE, G_TYPE_PROXY_ADDRESS, G_TYPE_SOCKET_CLIENT, G_TYPE_SOCKET, G_TYPE_SOCKET_CONNECTION,
    G_TYPE_TCP_CONNECTION, G_TYPE_CANCELLABLE, G_TYPE_RESOLVER,
  };

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    if (G_TYPE_IS_CLASSED (types[i]))
      g_type_class_unref (g_type_class_ref (types[i]));
  g_object_unref (g_resolver_get_default ());
}

static void
vigil_rtsp_source_class_init (VigilRtspSourceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  init_gio_types ();

  object_class->set_property = vigil_rtsp_source_set_property;
  object_class->get_property = vigil_rtsp_source_get_property;
  object_class->finalize = vigil_rtsp_source_finalize;
  element_class->change_state = vigil_rtsp_source_change_state;

  g_object_class_install_property (object_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location", "rtsp:// URL, without credentials", NULL,
                           G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (object_class, PROP_USER_ID,
      g_param_spec_string ("user-id", "User", "RTSP user for Basic or Digest authentication", NULL,
                           G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (object_class, PROP_USER_PW,
      g_param_spec_string ("user-pw", "Password", "RTSP password (write-only)", NULL,
                           G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (object_class, PROP_ALLOW_BASIC_AUTH,
      g_param_spec_boolean ("allow-basic-auth", "Allow Basic",
                            "Answer a camera that offers only Basic authentication (password in the clear)", FALSE,
                            G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (object_class, PROP_TIMEOUT,
      g_param_spec_uint64 ("timeout", "Timeout", "Connect and request timeout in microseconds",
                           1, G_MAXUINT64, DEFAULT_TIMEOUT_US, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "vigil RTSP source", "Source/Network",
                                         "RTSP client receiving RTP interleaved over TCP, for recording",
                                         "vigil");
  GST_DEBUG_CATEGORY_INIT (vigil_rtsp_source_debug, "vigilrtspsrc", 0, "vigil RTSP source");
}

static void
vigil_rtsp_source_init (VigilRtspSource *self)
{
  g_mutex_init (&self->conn_lock);
  g_mutex_init (&self->pause_lock);
  g_rec_mutex_init (&self->stream_lock);
  self->timeout_us = DEFAULT_TIMEOUT_US;
  self->streams = g_ptr_array_new_with_free_func ((GDestroyNotify) stream_free);
  memset (self->channel_stream, 0xff, sizeof self->channel_stream);
  memset (self->rtcp_channel_stream, 0xff, sizeof self->rtcp_channel_stream);
  GST_OBJECT_FLAG_SET (self, GST_ELEMENT_FLAG_SOURCE);
}

void
vigil_rtsp_source_register (void)
{
  static gsize registered = 0;

  if (g_once_init_enter (&registered))
    {
      gst_element_register (NULL, "vigilrtspsrc", GST_RANK_NONE, VIGIL_TYPE_RTSP_SOURCE);
      g_once_init_leave (&registered, 1);
    }
}
