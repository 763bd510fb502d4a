/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilSimcamOnvif: a simulated ONVIF device for tests. A gSOAP server
 * (stubs generated from onvif/onvif.gsoap.h with soapcpp2 -S) accepts on its
 * own thread and answers each connection (one request) on a thread of its
 * own, so that one held or slow answer does not delay the others, as on a
 * real camera; a worker thread moves the PTZ
 * head at 25 Hz and answers WS-Discovery Probes. It checks credentials the
 * way real devices do (WS-Security digest against its own, possibly wrong,
 * clock with gSOAP's ±300 s window; HTTP digest through gSOAP's httpda) and
 * misbehaves on request (quirks). It must never bind anything but
 * 127.0.0.1, and every operation it does not implement answers with a fault
 * (ter:ActionNotSupported), never SOAP_OK. */

#include "vigil-simcam-onvif.h"

#include <math.h>
#include <string.h>

#include <gio/gio.h>

#include "soapH.h"
#include "httpda.h"

#define REALM "vigil-simcam"
#define INTERNAL_HOST "192.0.2.10"
#define CLOCK_SKEW_S 300
#define TICK_MS 40
/* Head speed at velocity 1: the full pan range (2) in 4 s. */
#define PAN_TILT_RATE 0.5
#define ZOOM_RATE 0.25

#define GENERIC "http://www.onvif.org/ver10/tptz/"
/* The one sensor that every profile encodes. */
#define VIDEO_SOURCE "VideoSource_1"

typedef struct {
  gchar  *token;
  gchar  *name;
  gdouble pan, tilt, zoom;
} Preset;

static void
preset_free (Preset *preset)
{
  g_free (preset->token);
  g_free (preset->name);
  g_free (preset);
}

typedef struct {
  gchar *stream_uri;
  guint  width, height, fps;
  gchar *encoding;
} Profile;

struct _VigilSimcamOnvif {
  GObject  parent;

  /* Immutable after new(). */
  gchar   *user, *password;
  VigilSimcamOnvifAuth auth;
  gint64   clock_offset_us;
  Profile  profiles[2];
  guint    n_profiles;
  gchar   *name;
  gchar   *uuid;
  void   (*moved) (gdouble, gdouble, gdouble, gpointer);
  gpointer moved_data;
  struct soap *soap;            /* the server thread's */
  guint    port;
  GSocket *discovery;           /* NULL without discovery */
  guint    discovery_port;
  GThread *server_thread, *worker_thread;
  gint     quit;                /* atomic */

  GMutex   lock;                /* guards everything below */
  VigilSimcamOnvifQuirks quirks;
  gdouble  pan, tilt, zoom;
  gdouble  vel_pan, vel_tilt, vel_zoom;     /* continuous, generic -1..1 */
  gint64   move_deadline_us;                /* monotonic; 0: no Timeout */
  gboolean has_target_pan_tilt, has_target_zoom;
  gdouble  target_pan, target_tilt, target_zoom, target_speed;
  GPtrArray  *presets;          /* Preset * */
  guint       next_preset;
  GHashTable *requests;         /* op name (static) -> count */
  guint       auth_failures;
  gchar      *hold_op;          /* requests of this operation wait for release; NULL: none */
  guint       n_held;           /* requests waiting now */
  guint       n_connections;    /* connection threads running; dispose waits for 0 */
  GCond       cond;             /* signals changes of hold_op, n_held, n_connections */
};

G_DEFINE_TYPE (VigilSimcamOnvif, vigil_simcam_onvif, G_TYPE_OBJECT)

static const struct {
  const gchar *name;
  VigilSimcamOnvifQuirks quirk;
} quirk_names[] = {
  { "no-get-services", VIGIL_SIMCAM_ONVIF_QUIRK_NO_GET_SERVICES },
  { "internal-addresses", VIGIL_SIMCAM_ONVIF_QUIRK_INTERNAL_ADDRESSES },
  { "ignores-timeout", VIGIL_SIMCAM_ONVIF_QUIRK_IGNORES_TIMEOUT },
  { "no-stop", VIGIL_SIMCAM_ONVIF_QUIRK_NO_STOP },
  { "degrees", VIGIL_SIMCAM_ONVIF_QUIRK_DEGREES },
  { "rejects-combined-move", VIGIL_SIMCAM_ONVIF_QUIRK_REJECTS_COMBINED_MOVE },
  { "no-position", VIGIL_SIMCAM_ONVIF_QUIRK_NO_POSITION },
  { "html-errors", VIGIL_SIMCAM_ONVIF_QUIRK_HTML_ERRORS },
};

gboolean
vigil_simcam_onvif_quirk_from_string (const gchar *name, VigilSimcamOnvifQuirks *out)
{
  for (guint i = 0; i < G_N_ELEMENTS (quirk_names); i++)
    if (g_strcmp0 (name, quirk_names[i].name) == 0)
      {
        *out = quirk_names[i].quirk;
        return TRUE;
      }
  return FALSE;
}

static gboolean
has_quirk (VigilSimcamOnvif *self, VigilSimcamOnvifQuirks quirk)
{
  gboolean result;

  g_mutex_lock (&self->lock);
  result = (self->quirks & quirk) != 0;
  g_mutex_unlock (&self->lock);
  return result;
}

/* ----- faults and authentication (server thread) ------------------------ */

/* An error the way this device sends them: a SOAP fault, or with
 * HTML_ERRORS an HTML page with status 401, as some Hikvision firmware does. */
static int
fault (struct soap *soap, gboolean sender, const gchar *subcode, const gchar *reason)
{
  VigilSimcamOnvif *self = soap->user;

  if (has_quirk (self, VIGIL_SIMCAM_ONVIF_QUIRK_HTML_ERRORS))
    {
      g_autofree gchar *page = g_strdup_printf (
        "<!DOCTYPE html><html><head><title>401 Unauthorized</title></head>"
        "<body><h1>Error</h1><p>%s</p></body></html>", reason);

      soap->http_content = "text/html; charset=utf-8";
      if (soap_response (soap, SOAP_FILE + 401) == SOAP_OK &&
          soap_send (soap, page) == SOAP_OK)
        soap_end_send (soap);
      return SOAP_STOP;
    }
  if (sender)
    return soap_sender_fault_subcode (soap, subcode, reason, NULL);
  return soap_receiver_fault_subcode (soap, subcode, reason, NULL);
}

static int
not_supported (struct soap *soap, const gchar *op)
{
  g_autofree gchar *reason = g_strdup_printf ("%s is not supported", op);

  return fault (soap, FALSE, "ter:ActionNotSupported", reason);
}

static gboolean
wsse_valid (VigilSimcamOnvif *self, struct soap *soap)
{
  struct _wsse__UsernameToken *token;
  g_autoptr(GDateTime) created = NULL;
  g_autofree guchar *nonce = NULL;
  gsize nonce_len = 0;
  g_autoptr(GChecksum) sha1 = g_checksum_new (G_CHECKSUM_SHA1);
  guint8 digest[20];
  gsize digest_len = sizeof digest;
  g_autofree gchar *expected = NULL;
  gint64 now_s, created_s;

  if (soap->header == NULL || soap->header->wsse__Security == NULL)
    return FALSE;
  token = soap->header->wsse__Security->UsernameToken;
  if (token == NULL || g_strcmp0 (token->Username, self->user) != 0 || token->Password == NULL ||
      token->Password->__item == NULL || token->Nonce == NULL || token->Nonce->__item == NULL ||
      token->wsu__Created == NULL)
    return FALSE;
  created = g_date_time_new_from_iso8601 (token->wsu__Created, NULL);
  if (created == NULL)
    return FALSE;
  now_s = (g_get_real_time () + self->clock_offset_us) / G_USEC_PER_SEC;
  created_s = g_date_time_to_unix (created);
  if (created_s < now_s - CLOCK_SKEW_S || created_s > now_s + CLOCK_SKEW_S)
    return FALSE;
  nonce = g_base64_decode (token->Nonce->__item, &nonce_len);
  g_checksum_update (sha1, nonce, nonce_len);
  g_checksum_update (sha1, (const guchar *) token->wsu__Created, strlen (token->wsu__Created));
  g_checksum_update (sha1, (const guchar *) self->password, strlen (self->password));
  g_checksum_get_digest (sha1, digest, &digest_len);
  expected = g_base64_encode (digest, digest_len);
  return g_str_equal (expected, token->Password->__item);
}

static gboolean
digest_valid (VigilSimcamOnvif *self, struct soap *soap)
{
  return soap->authrealm != NULL && soap->userid != NULL && g_str_equal (soap->authrealm, REALM) &&
         g_str_equal (soap->userid, self->user) && http_da_verify_post (soap, self->password) == 0;
}

/* While @op is the held operation, waits (before answering) until the
 * test releases it or the device is disposed. Runs on a connection thread. */
static void
hold (VigilSimcamOnvif *self, const gchar *op)
{
  g_mutex_lock (&self->lock);
  if (g_strcmp0 (self->hold_op, op) == 0 && !g_atomic_int_get (&self->quit))
    {
      self->n_held++;
      g_cond_broadcast (&self->cond);
      while (g_strcmp0 (self->hold_op, op) == 0 && !g_atomic_int_get (&self->quit))
        g_cond_wait (&self->cond, &self->lock);
      self->n_held--;
      g_cond_broadcast (&self->cond);
    }
  g_mutex_unlock (&self->lock);
}

/* Counts @op and checks the credentials (an authenticated request of the
 * held operation then waits in hold()); returns SOAP_OK or the error to
 * return from the operation. */
static int
begin (struct soap *soap, const gchar *op, gboolean needs_auth)
{
  VigilSimcamOnvif *self = soap->user;
  gboolean ok;

  g_mutex_lock (&self->lock);
  g_hash_table_replace (self->requests, (gpointer) op,
                        GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (self->requests, op)) + 1));
  g_mutex_unlock (&self->lock);
  if (!needs_auth)
    return SOAP_OK;

  switch (self->auth)
    {
    case VIGIL_SIMCAM_ONVIF_AUTH_NONE:
      ok = TRUE;
      break;
    case VIGIL_SIMCAM_ONVIF_AUTH_WSSE:
      ok = wsse_valid (self, soap);
      break;
    case VIGIL_SIMCAM_ONVIF_AUTH_DIGEST_MD5:
    case VIGIL_SIMCAM_ONVIF_AUTH_DIGEST_SHA256:
      ok = digest_valid (self, soap);
      break;
    case VIGIL_SIMCAM_ONVIF_AUTH_BOTH:
    default:
      ok = wsse_valid (self, soap) || digest_valid (self, soap);
      break;
    }
  if (ok)
    {
      hold (self, op);
      return SOAP_OK;
    }

  g_mutex_lock (&self->lock);
  self->auth_failures++;
  g_mutex_unlock (&self->lock);
  if (has_quirk (self, VIGIL_SIMCAM_ONVIF_QUIRK_HTML_ERRORS))
    return fault (soap, TRUE, "ter:NotAuthorized", "Sender not authorized");
  if (self->auth == VIGIL_SIMCAM_ONVIF_AUTH_WSSE)
    return soap_sender_fault_subcode (soap, "ter:NotAuthorized", "Sender not authorized", NULL);
  soap->authrealm = REALM;
  return 401;
}

#define BEGIN(op, auth)                    \
  do {                                     \
    int begin_rc = begin (soap, op, auth); \
    if (begin_rc != SOAP_OK)               \
      return begin_rc;                     \
  } while (0)

/* ----- addresses ---------------------------------------------------------- */

static gchar *
address (VigilSimcamOnvif *self, const gchar *path)
{
  return g_strdup_printf ("http://%s:%u%s",
                          has_quirk (self, VIGIL_SIMCAM_ONVIF_QUIRK_INTERNAL_ADDRESSES)
                              ? INTERNAL_HOST : "127.0.0.1",
                          self->port, path);
}

static char *
soap_address (struct soap *soap, const gchar *path)
{
  g_autofree gchar *url = address (soap->user, path);

  return soap_strdup (soap, url);
}

/* ----- device ------------------------------------------------------------- */

int
__tds__GetSystemDateAndTime (struct soap *soap, struct _tds__GetSystemDateAndTime *request,
                             struct _tds__GetSystemDateAndTimeResponse *response)
{
  VigilSimcamOnvif *self = soap->user;
  g_autoptr(GDateTime) now = NULL;
  struct tt__SystemDateTime *sdt;

  BEGIN ("GetSystemDateAndTime", FALSE);
  now = g_date_time_new_from_unix_utc ((g_get_real_time () + self->clock_offset_us) / G_USEC_PER_SEC);
  sdt = soap_malloc (soap, sizeof *sdt);
  soap_default_tt__SystemDateTime (soap, sdt);
  sdt->DateTimeType = "Manual";
  sdt->UTCDateTime = soap_malloc (soap, sizeof *sdt->UTCDateTime);
  sdt->UTCDateTime->Date = soap_malloc (soap, sizeof *sdt->UTCDateTime->Date);
  sdt->UTCDateTime->Time = soap_malloc (soap, sizeof *sdt->UTCDateTime->Time);
  sdt->UTCDateTime->Date->Year = g_date_time_get_year (now);
  sdt->UTCDateTime->Date->Month = g_date_time_get_month (now);
  sdt->UTCDateTime->Date->Day = g_date_time_get_day_of_month (now);
  sdt->UTCDateTime->Time->Hour = g_date_time_get_hour (now);
  sdt->UTCDateTime->Time->Minute = g_date_time_get_minute (now);
  sdt->UTCDateTime->Time->Second = g_date_time_get_second (now);
  response->SystemDateAndTime = sdt;
  return SOAP_OK;
}

int
__tds__GetDeviceInformation (struct soap *soap, struct _tds__GetDeviceInformation *request,
                             struct _tds__GetDeviceInformationResponse *response)
{
  BEGIN ("GetDeviceInformation", TRUE);
  response->Manufacturer = "vigil";
  response->Model = "simcam-onvif";
  response->FirmwareVersion = "1.0";
  response->SerialNumber = "SIM-0001";
  response->HardwareId = "simcam";
  return SOAP_OK;
}

int
__tds__GetServices (struct soap *soap, struct _tds__GetServices *request,
                    struct _tds__GetServicesResponse *response)
{
  static const gchar *const services[][2] = {
    { "http://www.onvif.org/ver10/device/wsdl", "/onvif/device_service" },
    { "http://www.onvif.org/ver10/media/wsdl", "/onvif/media_service" },
    { "http://www.onvif.org/ver20/ptz/wsdl", "/onvif/ptz_service" },
  };

  BEGIN ("GetServices", TRUE);
  if (has_quirk (soap->user, VIGIL_SIMCAM_ONVIF_QUIRK_NO_GET_SERVICES))
    return not_supported (soap, "GetServices");
  response->__sizeService = G_N_ELEMENTS (services);
  response->Service = soap_malloc (soap, sizeof (struct tds__Service) * G_N_ELEMENTS (services));
  for (guint i = 0; i < G_N_ELEMENTS (services); i++)
    {
      soap_default_tds__Service (soap, &response->Service[i]);
      response->Service[i].Namespace = (char *) services[i][0];
      response->Service[i].XAddr = soap_address (soap, services[i][1]);
    }
  return SOAP_OK;
}

static struct tt__XAddrCapabilities *
xaddr (struct soap *soap, const gchar *path)
{
  struct tt__XAddrCapabilities *caps = soap_malloc (soap, sizeof *caps);

  caps->XAddr = soap_address (soap, path);
  return caps;
}

int
__tds__GetCapabilities (struct soap *soap, struct _tds__GetCapabilities *request,
                        struct _tds__GetCapabilitiesResponse *response)
{
  struct tt__Capabilities *caps;

  BEGIN ("GetCapabilities", TRUE);
  caps = soap_malloc (soap, sizeof *caps);
  soap_default_tt__Capabilities (soap, caps);
  caps->Device = xaddr (soap, "/onvif/device_service");
  caps->Media = xaddr (soap, "/onvif/media_service");
  caps->PTZ = xaddr (soap, "/onvif/ptz_service");
  response->Capabilities = caps;
  return SOAP_OK;
}

/* ----- media -------------------------------------------------------------- */

int
__trt__GetProfiles (struct soap *soap, struct _trt__GetProfiles *request,
                    struct _trt__GetProfilesResponse *response)
{
  VigilSimcamOnvif *self = soap->user;

  BEGIN ("GetProfiles", TRUE);
  response->__sizeProfiles = self->n_profiles;
  response->Profiles = soap_malloc (soap, sizeof (struct tt__Profile) * self->n_profiles);
  for (guint i = 0; i < self->n_profiles; i++)
    {
      struct tt__Profile *p = &response->Profiles[i];
      struct tt__VideoSourceConfiguration *vsc = soap_malloc (soap, sizeof *vsc);
      struct tt__VideoEncoderConfiguration *vec = soap_malloc (soap, sizeof *vec);
      struct tt__PTZConfiguration *ptz = soap_malloc (soap, sizeof *ptz);

      soap_default_tt__Profile (soap, p);
      soap_default_tt__VideoSourceConfiguration (soap, vsc);
      soap_default_tt__VideoEncoderConfiguration (soap, vec);
      soap_default_tt__PTZConfiguration (soap, ptz);
      p->token = soap_strdup (soap, i == 0 ? "Profile_1" : "Profile_2");
      p->Name = i == 0 ? "main" : "sub";
      /* Both profiles encode the one sensor, as on a real camera. */
      vsc->token = "VideoSourceConfiguration_1";
      vsc->Name = "sensor";
      vsc->SourceToken = VIDEO_SOURCE;
      vsc->Bounds = soap_malloc (soap, sizeof *vsc->Bounds);
      vsc->Bounds->x = vsc->Bounds->y = 0;
      vsc->Bounds->width = self->profiles[0].width;
      vsc->Bounds->height = self->profiles[0].height;
      p->VideoSourceConfiguration = vsc;
      vec->token = soap_strdup (soap, i == 0 ? "VideoEncoder_1" : "VideoEncoder_2");
      vec->Name = p->Name;
      vec->Encoding = self->profiles[i].encoding;
      vec->Resolution = soap_malloc (soap, sizeof *vec->Resolution);
      vec->Resolution->Width = self->profiles[i].width;
      vec->Resolution->Height = self->profiles[i].height;
      vec->RateControl = soap_malloc (soap, sizeof *vec->RateControl);
      soap_default_tt__VideoRateControl (soap, vec->RateControl);
      vec->RateControl->FrameRateLimit = soap_malloc (soap, sizeof (int));
      *vec->RateControl->FrameRateLimit = self->profiles[i].fps;
      p->VideoEncoderConfiguration = vec;
      ptz->token = "PTZConfiguration_1";
      ptz->Name = "ptz";
      ptz->NodeToken = "PTZNode_1";
      p->PTZConfiguration = ptz;
    }
  return SOAP_OK;
}

int
__trt__GetVideoSources (struct soap *soap, struct _trt__GetVideoSources *request,
                        struct _trt__GetVideoSourcesResponse *response)
{
  VigilSimcamOnvif *self = soap->user;
  struct tt__VideoSource *source;

  BEGIN ("GetVideoSources", TRUE);
  source = soap_malloc (soap, sizeof *source);
  soap_default_tt__VideoSource (soap, source);
  source->token = VIDEO_SOURCE;
  source->Framerate = soap_malloc (soap, sizeof (float));
  *source->Framerate = self->profiles[0].fps;
  source->Resolution = soap_malloc (soap, sizeof *source->Resolution);
  source->Resolution->Width = self->profiles[0].width;
  source->Resolution->Height = self->profiles[0].height;
  response->__sizeVideoSources = 1;
  response->VideoSources = source;
  return SOAP_OK;
}

static gint
profile_index (VigilSimcamOnvif *self, const gchar *token)
{
  if (g_strcmp0 (token, "Profile_1") == 0)
    return 0;
  if (g_strcmp0 (token, "Profile_2") == 0 && self->n_profiles > 1)
    return 1;
  return -1;
}

static int
no_profile (struct soap *soap)
{
  return fault (soap, TRUE, "ter:InvalidArgVal", "No such profile (ter:NoProfile)");
}

static struct tt__MediaUri *
media_uri (struct soap *soap, const gchar *uri)
{
  VigilSimcamOnvif *self = soap->user;
  struct tt__MediaUri *result = soap_malloc (soap, sizeof *result);

  soap_default_tt__MediaUri (soap, result);
  if (has_quirk (self, VIGIL_SIMCAM_ONVIF_QUIRK_INTERNAL_ADDRESSES))
    {
      g_autoptr(GUri) parsed = g_uri_parse (uri, G_URI_FLAGS_ENCODED, NULL);

      if (parsed != NULL)
        {
          g_autoptr(GUri) internal = g_uri_build (
            g_uri_get_flags (parsed), g_uri_get_scheme (parsed), g_uri_get_userinfo (parsed),
            INTERNAL_HOST, g_uri_get_port (parsed), g_uri_get_path (parsed),
            g_uri_get_query (parsed), g_uri_get_fragment (parsed));
          g_autofree gchar *text = g_uri_to_string (internal);

          result->Uri = soap_strdup (soap, text);
          return result;
        }
    }
  result->Uri = soap_strdup (soap, uri);
  return result;
}

int
__trt__GetStreamUri (struct soap *soap, struct _trt__GetStreamUri *request,
                     struct _trt__GetStreamUriResponse *response)
{
  VigilSimcamOnvif *self = soap->user;
  gint index;

  BEGIN ("GetStreamUri", TRUE);
  index = profile_index (self, request->ProfileToken);
  if (index < 0)
    return no_profile (soap);
  response->MediaUri = media_uri (soap, self->profiles[index].stream_uri);
  return SOAP_OK;
}

int
__trt__GetSnapshotUri (struct soap *soap, struct _trt__GetSnapshotUri *request,
                       struct _trt__GetSnapshotUriResponse *response)
{
  VigilSimcamOnvif *self = soap->user;
  g_autofree gchar *path = NULL;
  g_autofree gchar *url = NULL;
  gint index;

  BEGIN ("GetSnapshotUri", TRUE);
  index = profile_index (self, request->ProfileToken);
  if (index < 0)
    return no_profile (soap);
  path = g_strdup_printf ("/snapshot/%s.jpg", request->ProfileToken);
  url = g_strdup_printf ("http://127.0.0.1:%u%s", self->port, path);
  response->MediaUri = media_uri (soap, url);
  return SOAP_OK;
}

/* ----- PTZ ---------------------------------------------------------------- */

static struct tt__FloatRange *
range (struct soap *soap, gdouble min, gdouble max)
{
  struct tt__FloatRange *r = soap_malloc (soap, sizeof *r);

  r->Min = min;
  r->Max = max;
  return r;
}

static struct tt__Space2DDescription *
space2d (struct soap *soap, const gchar *uri, gdouble xmin, gdouble xmax, gdouble ymin,
         gdouble ymax)
{
  struct tt__Space2DDescription *s = soap_malloc (soap, sizeof *s);

  s->URI = (char *) uri;
  s->XRange = range (soap, xmin, xmax);
  s->YRange = range (soap, ymin, ymax);
  return s;
}

static struct tt__Space1DDescription *
space1d (struct soap *soap, const gchar *uri, gdouble min, gdouble max)
{
  struct tt__Space1DDescription *s = soap_malloc (soap, sizeof *s);

  s->URI = (char *) uri;
  s->XRange = range (soap, min, max);
  return s;
}

int
__tptz__GetNodes (struct soap *soap, struct _tptz__GetNodes *request,
                  struct _tptz__GetNodesResponse *response)
{
  gboolean degrees;
  struct tt__PTZNode *node;
  struct tt__PTZSpaces *s;

  BEGIN ("GetNodes", TRUE);
  degrees = has_quirk (soap->user, VIGIL_SIMCAM_ONVIF_QUIRK_DEGREES);
  node = soap_malloc (soap, sizeof *node);
  soap_default_tt__PTZNode (soap, node);
  s = soap_malloc (soap, sizeof *s);
  soap_default_tt__PTZSpaces (soap, s);
  node->token = "PTZNode_1";
  node->Name = "head";
  node->MaximumNumberOfPresets = soap_malloc (soap, sizeof (int));
  *node->MaximumNumberOfPresets = 32;
  s->__sizeAbsolutePanTiltPositionSpace = 1;
  s->AbsolutePanTiltPositionSpace = degrees
    ? space2d (soap, GENERIC "PanTiltSpaces/PositionGenericSpace", 0, 360, 0, 180)
    : space2d (soap, GENERIC "PanTiltSpaces/PositionGenericSpace", -1, 1, -1, 1);
  s->__sizeAbsoluteZoomPositionSpace = 1;
  s->AbsoluteZoomPositionSpace = space1d (soap, GENERIC "ZoomSpaces/PositionGenericSpace", 0, 1);
  s->__sizeRelativePanTiltTranslationSpace = 1;
  s->RelativePanTiltTranslationSpace =
    space2d (soap, GENERIC "PanTiltSpaces/TranslationGenericSpace", -1, 1, -1, 1);
  s->__sizeRelativeZoomTranslationSpace = 1;
  s->RelativeZoomTranslationSpace =
    space1d (soap, GENERIC "ZoomSpaces/TranslationGenericSpace", -1, 1);
  s->__sizeContinuousPanTiltVelocitySpace = 1;
  s->ContinuousPanTiltVelocitySpace =
    space2d (soap, GENERIC "PanTiltSpaces/VelocityGenericSpace", -1, 1, -1, 1);
  s->__sizeContinuousZoomVelocitySpace = 1;
  s->ContinuousZoomVelocitySpace = space1d (soap, GENERIC "ZoomSpaces/VelocityGenericSpace", -1, 1);
  s->__sizePanTiltSpeedSpace = 1;
  s->PanTiltSpeedSpace = space1d (soap, GENERIC "PanTiltSpaces/GenericSpeedSpace", 0, 1);
  s->__sizeZoomSpeedSpace = 1;
  s->ZoomSpeedSpace = space1d (soap, GENERIC "ZoomSpaces/ZoomGenericSpeedSpace", 0, 1);
  node->SupportedPTZSpaces = s;
  response->__sizePTZNode = 1;
  response->PTZNode = node;
  return SOAP_OK;
}

/* Seconds in an xs:duration such as PT1.5S or PT1M; -1 if unparsable. */
static gdouble
parse_duration (const gchar *text)
{
  gdouble total = 0;
  const gchar *p;

  if (text == NULL || !g_str_has_prefix (text, "PT"))
    return -1;
  for (p = text + 2; *p != '\0';)
    {
      gchar *end;
      gdouble value = g_ascii_strtod (p, &end);

      if (end == p)
        return -1;
      if (*end == 'H')
        total += value * 3600;
      else if (*end == 'M')
        total += value * 60;
      else if (*end == 'S')
        total += value;
      else
        return -1;
      p = end + 1;
    }
  return total;
}

static gboolean
check_profile (struct soap *soap, const gchar *token)
{
  return profile_index (soap->user, token) >= 0;
}

int
__tptz__ContinuousMove (struct soap *soap, struct _tptz__ContinuousMove *request,
                        struct _tptz__ContinuousMoveResponse *response)
{
  VigilSimcamOnvif *self = soap->user;
  struct tt__PTZVector *v = request->Velocity;
  gdouble timeout_s = -1;

  BEGIN ("ContinuousMove", TRUE);
  if (!check_profile (soap, request->ProfileToken))
    return no_profile (soap);
  if (v == NULL)
    return fault (soap, TRUE, "ter:InvalidArgVal", "no Velocity");
  if (v->PanTilt != NULL && v->Zoom != NULL &&
      has_quirk (self, VIGIL_SIMCAM_ONVIF_QUIRK_REJECTS_COMBINED_MOVE))
    return fault (soap, TRUE, "ter:InvalidArgVal", "pan-tilt and zoom cannot move together");
  if (request->Timeout != NULL && (timeout_s = parse_duration (request->Timeout)) < 0)
    return fault (soap, TRUE, "ter:InvalidArgVal", "bad Timeout");
  g_mutex_lock (&self->lock);
  if (v->PanTilt != NULL)
    {
      self->vel_pan = CLAMP (v->PanTilt->x, -1, 1);
      self->vel_tilt = CLAMP (v->PanTilt->y, -1, 1);
      self->has_target_pan_tilt = FALSE;
    }
  if (v->Zoom != NULL)
    {
      self->vel_zoom = CLAMP (v->Zoom->x, -1, 1);
      self->has_target_zoom = FALSE;
    }
  self->move_deadline_us =
    timeout_s >= 0 ? g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC) : 0;
  g_mutex_unlock (&self->lock);
  return SOAP_OK;
}

/* Called with self->lock held. */
static void
set_target (VigilSimcamOnvif *self, gboolean pan_tilt, gdouble pan, gdouble tilt, gboolean zoom,
            gdouble z, const struct tt__PTZVector *speed)
{
  self->target_speed = speed != NULL && speed->PanTilt != NULL ? CLAMP (speed->PanTilt->x, 0.05, 1)
                                                              : 1.0;
  if (pan_tilt)
    {
      self->has_target_pan_tilt = TRUE;
      self->target_pan = CLAMP (pan, -1, 1);
      self->target_tilt = CLAMP (tilt, -1, 1);
      self->vel_pan = self->vel_tilt = 0;
    }
  if (zoom)
    {
      self->has_target_zoom = TRUE;
      self->target_zoom = CLAMP (z, 0, 1);
      self->vel_zoom = 0;
    }
}

int
__tptz__RelativeMove (struct soap *soap, struct _tptz__RelativeMove *request,
                      struct _tptz__RelativeMoveResponse *response)
{
  VigilSimcamOnvif *self = soap->user;
  struct tt__PTZVector *t = request->Translation;

  BEGIN ("RelativeMove", TRUE);
  if (!check_profile (soap, request->ProfileToken))
    return no_profile (soap);
  if (t == NULL)
    return fault (soap, TRUE, "ter:InvalidArgVal", "no Translation");
  g_mutex_lock (&self->lock);
  set_target (self, t->PanTilt != NULL, self->pan + (t->PanTilt ? t->PanTilt->x : 0),
              self->tilt + (t->PanTilt ? t->PanTilt->y : 0), t->Zoom != NULL,
              self->zoom + (t->Zoom ? t->Zoom->x : 0), request->Speed);
  g_mutex_unlock (&self->lock);
  return SOAP_OK;
}

int
__tptz__AbsoluteMove (struct soap *soap, struct _tptz__AbsoluteMove *request,
                      struct _tptz__AbsoluteMoveResponse *response)
{
  VigilSimcamOnvif *self = soap->user;
  struct tt__PTZVector *p = request->Position;
  gdouble pan = 0, tilt = 0;

  BEGIN ("AbsoluteMove", TRUE);
  if (!check_profile (soap, request->ProfileToken))
    return no_profile (soap);
  if (p == NULL)
    return fault (soap, TRUE, "ter:InvalidArgVal", "no Position");
  if (p->PanTilt != NULL)
    {
      pan = p->PanTilt->x;
      tilt = p->PanTilt->y;
      if (has_quirk (self, VIGIL_SIMCAM_ONVIF_QUIRK_DEGREES))
        {
          pan = pan / 180.0 - 1.0;
          tilt = tilt / 90.0 - 1.0;
        }
    }
  g_mutex_lock (&self->lock);
  set_target (self, p->PanTilt != NULL, pan, tilt, p->Zoom != NULL, p->Zoom ? p->Zoom->x : 0,
              request->Speed);
  g_mutex_unlock (&self->lock);
  return SOAP_OK;
}

int
__tptz__Stop (struct soap *soap, struct _tptz__Stop *request, struct _tptz__StopResponse *response)
{
  VigilSimcamOnvif *self = soap->user;
  gboolean pan_tilt, zoom;

  BEGIN ("Stop", TRUE);
  if (!check_profile (soap, request->ProfileToken))
    return no_profile (soap);
  if (has_quirk (self, VIGIL_SIMCAM_ONVIF_QUIRK_NO_STOP))
    return fault (soap, FALSE, "ter:Action", "Stop failed");
  pan_tilt = request->PanTilt == NULL || *request->PanTilt == xsd__boolean__true_;
  zoom = request->Zoom == NULL || *request->Zoom == xsd__boolean__true_;
  g_mutex_lock (&self->lock);
  if (pan_tilt)
    {
      self->vel_pan = self->vel_tilt = 0;
      self->has_target_pan_tilt = FALSE;
    }
  if (zoom)
    {
      self->vel_zoom = 0;
      self->has_target_zoom = FALSE;
    }
  g_mutex_unlock (&self->lock);
  return SOAP_OK;
}

/* A position in the device's own units. */
static struct tt__PTZVector *
position_vector (struct soap *soap, gdouble pan, gdouble tilt, gdouble zoom)
{
  struct tt__PTZVector *v = soap_malloc (soap, sizeof *v);

  v->PanTilt = soap_malloc (soap, sizeof *v->PanTilt);
  v->Zoom = soap_malloc (soap, sizeof *v->Zoom);
  if (has_quirk (soap->user, VIGIL_SIMCAM_ONVIF_QUIRK_DEGREES))
    {
      pan = (pan + 1.0) * 180.0;
      tilt = (tilt + 1.0) * 90.0;
    }
  v->PanTilt->x = pan;
  v->PanTilt->y = tilt;
  v->PanTilt->space = GENERIC "PanTiltSpaces/PositionGenericSpace";
  v->Zoom->x = zoom;
  v->Zoom->space = GENERIC "ZoomSpaces/PositionGenericSpace";
  return v;
}

int
__tptz__GetStatus (struct soap *soap, struct _tptz__GetStatus *request,
                   struct _tptz__GetStatusResponse *response)
{
  VigilSimcamOnvif *self = soap->user;
  struct tt__PTZStatus *status;
  gdouble pan, tilt, zoom;
  gboolean pt_moving, zoom_moving;

  BEGIN ("GetStatus", TRUE);
  if (!check_profile (soap, request->ProfileToken))
    return no_profile (soap);
  g_mutex_lock (&self->lock);
  pan = self->pan;
  tilt = self->tilt;
  zoom = self->zoom;
  pt_moving = self->vel_pan != 0 || self->vel_tilt != 0 || self->has_target_pan_tilt;
  zoom_moving = self->vel_zoom != 0 || self->has_target_zoom;
  g_mutex_unlock (&self->lock);
  status = soap_malloc (soap, sizeof *status);
  soap_default_tt__PTZStatus (soap, status);
  if (!has_quirk (self, VIGIL_SIMCAM_ONVIF_QUIRK_NO_POSITION))
    {
      status->Position = position_vector (soap, pan, tilt, zoom);
      status->MoveStatus = soap_malloc (soap, sizeof *status->MoveStatus);
      status->MoveStatus->PanTilt = pt_moving ? "MOVING" : "IDLE";
      status->MoveStatus->Zoom = zoom_moving ? "MOVING" : "IDLE";
    }
  response->PTZStatus = status;
  return SOAP_OK;
}

int
__tptz__GetPresets (struct soap *soap, struct _tptz__GetPresets *request,
                    struct _tptz__GetPresetsResponse *response)
{
  VigilSimcamOnvif *self = soap->user;

  BEGIN ("GetPresets", TRUE);
  if (!check_profile (soap, request->ProfileToken))
    return no_profile (soap);
  g_mutex_lock (&self->lock);
  response->__sizePreset = self->presets->len;
  response->Preset = soap_malloc (soap, sizeof (struct tt__PTZPreset) * MAX (self->presets->len, 1));
  for (guint i = 0; i < self->presets->len; i++)
    {
      Preset *preset = self->presets->pdata[i];
      struct tt__PTZPreset *p = &response->Preset[i];

      soap_default_tt__PTZPreset (soap, p);
      p->token = soap_strdup (soap, preset->token);
      p->Name = soap_strdup (soap, preset->name);
      g_mutex_unlock (&self->lock);   /* position_vector() takes it */
      p->PTZPosition = position_vector (soap, preset->pan, preset->tilt, preset->zoom);
      g_mutex_lock (&self->lock);
    }
  g_mutex_unlock (&self->lock);
  return SOAP_OK;
}

/* Called with self->lock held. */
static Preset *
find_preset (VigilSimcamOnvif *self, const gchar *token, guint *index)
{
  for (guint i = 0; i < self->presets->len; i++)
    {
      Preset *preset = self->presets->pdata[i];

      if (g_strcmp0 (preset->token, token) == 0)
        {
          if (index != NULL)
            *index = i;
          return preset;
        }
    }
  return NULL;
}

int
__tptz__SetPreset (struct soap *soap, struct _tptz__SetPreset *request,
                   struct _tptz__SetPresetResponse *response)
{
  VigilSimcamOnvif *self = soap->user;
  Preset *preset;

  BEGIN ("SetPreset", TRUE);
  if (!check_profile (soap, request->ProfileToken))
    return no_profile (soap);
  g_mutex_lock (&self->lock);
  if (request->PresetToken != NULL)
    {
      preset = find_preset (self, request->PresetToken, NULL);
      if (preset == NULL)
        {
          g_mutex_unlock (&self->lock);
          return fault (soap, TRUE, "ter:InvalidArgVal", "No such preset (ter:NoToken)");
        }
    }
  else
    {
      preset = g_new0 (Preset, 1);
      preset->token = g_strdup_printf ("Preset_%u", ++self->next_preset);
      g_ptr_array_add (self->presets, preset);
    }
  g_free (preset->name);
  preset->name = g_strdup (request->PresetName != NULL ? request->PresetName : preset->token);
  preset->pan = self->pan;
  preset->tilt = self->tilt;
  preset->zoom = self->zoom;
  response->PresetToken = soap_strdup (soap, preset->token);
  g_mutex_unlock (&self->lock);
  return SOAP_OK;
}

int
__tptz__GotoPreset (struct soap *soap, struct _tptz__GotoPreset *request,
                    struct _tptz__GotoPresetResponse *response)
{
  VigilSimcamOnvif *self = soap->user;
  Preset *preset;

  BEGIN ("GotoPreset", TRUE);
  if (!check_profile (soap, request->ProfileToken))
    return no_profile (soap);
  g_mutex_lock (&self->lock);
  preset = find_preset (self, request->PresetToken, NULL);
  if (preset != NULL)
    set_target (self, TRUE, preset->pan, preset->tilt, TRUE, preset->zoom, request->Speed);
  g_mutex_unlock (&self->lock);
  if (preset == NULL)
    return fault (soap, TRUE, "ter:InvalidArgVal", "No such preset (ter:NoToken)");
  return SOAP_OK;
}

int
__tptz__RemovePreset (struct soap *soap, struct _tptz__RemovePreset *request,
                      struct _tptz__RemovePresetResponse *response)
{
  VigilSimcamOnvif *self = soap->user;
  guint index;
  gboolean found;

  BEGIN ("RemovePreset", TRUE);
  if (!check_profile (soap, request->ProfileToken))
    return no_profile (soap);
  g_mutex_lock (&self->lock);
  found = find_preset (self, request->PresetToken, &index) != NULL;
  if (found)
    g_ptr_array_remove_index (self->presets, index);
  g_mutex_unlock (&self->lock);
  if (!found)
    return fault (soap, TRUE, "ter:InvalidArgVal", "No such preset (ter:NoToken)");
  return SOAP_OK;
}

/* ----- threads ------------------------------------------------------------ */

/* Runs on the server thread: soap_serve() for one request, except that an
 * operation the interface header does not declare gets the same
 * ter:ActionNotSupported fault as one declared but not implemented, as a
 * real device answers, rather than gSOAP's generic "method not implemented"
 * (which clients cannot tell from a malformed request). */
static void
serve_one (struct soap *soap)
{
  if (soap_begin_serve (soap) != SOAP_OK)
    return;   /* it answered the fault itself */
  if (soap_serve_request (soap) == SOAP_NO_METHOD)
    {
      const gchar *colon = strrchr (soap->tag, ':');
      g_autofree gchar *op = g_strdup (colon != NULL ? colon + 1 : soap->tag);

      soap->error = not_supported (soap, op);
    }
  if (soap->error != SOAP_OK && soap->error < SOAP_STOP)
    soap_send_fault (soap);
}

/* Runs on a connection thread: answers the one request of @data (a copy
 * of the listening context), then frees it. */
static gpointer
connection_main (gpointer data)
{
  struct soap *soap = data;
  VigilSimcamOnvif *self = soap->user;

  serve_one (soap);
  soap_destroy (soap);
  soap_end (soap);
  soap_free (soap);
  g_mutex_lock (&self->lock);
  self->n_connections--;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  return NULL;
}

/* Runs on the server thread: accepts until quit, one thread per connection. */
static gpointer
server_main (gpointer data)
{
  VigilSimcamOnvif *self = data;
  struct soap *soap = self->soap;

  while (!g_atomic_int_get (&self->quit))
    {
      struct soap *copy;

      if (!soap_valid_socket (soap_accept (soap)))
        continue;   /* the accept timeout, to look at quit */
      copy = soap_copy (soap);
      if (copy == NULL)
        {
          soap_force_closesock (soap);
          continue;
        }
      soap->socket = SOAP_INVALID_SOCKET;   /* the copy's now */
      g_mutex_lock (&self->lock);
      self->n_connections++;
      g_mutex_unlock (&self->lock);
      g_thread_unref (g_thread_new ("simcam-onvif-conn", connection_main, copy));
    }
  return NULL;
}

static gdouble
approach (gdouble value, gdouble target, gdouble step)
{
  if (fabs (target - value) <= step)
    return target;
  return value + (target > value ? step : -step);
}

/* Moves the head by @dt_s; TRUE if it moved. Called with self->lock held. */
static gboolean
integrate (VigilSimcamOnvif *self, gdouble dt_s)
{
  gdouble pan = self->pan, tilt = self->tilt, zoom = self->zoom;

  if (self->move_deadline_us != 0 && g_get_monotonic_time () >= self->move_deadline_us &&
      !(self->quirks & VIGIL_SIMCAM_ONVIF_QUIRK_IGNORES_TIMEOUT))
    {
      self->vel_pan = self->vel_tilt = self->vel_zoom = 0;
      self->move_deadline_us = 0;
    }
  self->pan = CLAMP (self->pan + self->vel_pan * PAN_TILT_RATE * dt_s, -1, 1);
  self->tilt = CLAMP (self->tilt + self->vel_tilt * PAN_TILT_RATE * dt_s, -1, 1);
  self->zoom = CLAMP (self->zoom + self->vel_zoom * ZOOM_RATE * dt_s, 0, 1);
  if (self->has_target_pan_tilt)
    {
      gdouble step = self->target_speed * PAN_TILT_RATE * dt_s;

      self->pan = approach (self->pan, self->target_pan, step);
      self->tilt = approach (self->tilt, self->target_tilt, step);
      if (self->pan == self->target_pan && self->tilt == self->target_tilt)
        self->has_target_pan_tilt = FALSE;
    }
  if (self->has_target_zoom)
    {
      self->zoom = approach (self->zoom, self->target_zoom, self->target_speed * ZOOM_RATE * dt_s);
      if (self->zoom == self->target_zoom)
        self->has_target_zoom = FALSE;
    }
  return pan != self->pan || tilt != self->tilt || zoom != self->zoom;
}

static void on_start_probe (GMarkupParseContext *context, const gchar *element,
                            const gchar **names, const gchar **values, gpointer data,
                            GError **error);

typedef struct {
  GString *text;
  gchar   *message_id;
  gchar   *types;
  gboolean is_probe;
} Probe;

static void
on_start_probe (GMarkupParseContext *context, const gchar *element, const gchar **names,
                const gchar **values, gpointer data, GError **error)
{
  Probe *probe = data;
  const gchar *colon = strrchr (element, ':');

  if (g_str_equal (colon != NULL ? colon + 1 : element, "Probe"))
    probe->is_probe = TRUE;
  g_string_truncate (probe->text, 0);
}

static void
on_end_probe (GMarkupParseContext *context, const gchar *element, gpointer data, GError **error)
{
  Probe *probe = data;
  const gchar *colon = strrchr (element, ':');
  const gchar *name = colon != NULL ? colon + 1 : element;

  if (g_str_equal (name, "MessageID"))
    {
      g_free (probe->message_id);
      probe->message_id = g_strstrip (g_strdup (probe->text->str));
    }
  else if (g_str_equal (name, "Types"))
    {
      g_free (probe->types);
      probe->types = g_strstrip (g_strdup (probe->text->str));
    }
  g_string_truncate (probe->text, 0);
}

static void
on_text_probe (GMarkupParseContext *context, const gchar *text, gsize len, gpointer data,
               GError **error)
{
  Probe *probe = data;

  if (probe->text->len < 4096)
    g_string_append_len (probe->text, text, len);
}

/* Types we match: none, or only NetworkVideoTransmitter and Device. */
static gboolean
types_match (const gchar *types)
{
  g_auto(GStrv) words = g_strsplit_set (types != NULL ? types : "", " \t\r\n", -1);

  for (guint i = 0; words[i] != NULL; i++)
    {
      const gchar *colon = strrchr (words[i], ':');
      const gchar *local = colon != NULL ? colon + 1 : words[i];

      if (words[i][0] != '\0' && !g_str_equal (local, "NetworkVideoTransmitter") &&
          !g_str_equal (local, "Device"))
        return FALSE;
    }
  return TRUE;
}

/* Runs on the worker thread. */
static void
answer_probe (VigilSimcamOnvif *self, const gchar *data, gsize len, GSocketAddress *from)
{
  static const GMarkupParser parser = { on_start_probe, on_end_probe, on_text_probe, NULL, NULL };
  Probe probe = { g_string_new (NULL), NULL, NULL, FALSE };
  g_autoptr(GMarkupParseContext) context =
    g_markup_parse_context_new (&parser, 0, &probe, NULL);
  g_autofree gchar *uuid = g_uuid_string_random ();
  g_autofree gchar *xaddr = address (self, "/onvif/device_service");
  g_autofree gchar *name = g_uri_escape_string (self->name, NULL, FALSE);
  g_autofree gchar *reply = NULL;

  if (g_markup_parse_context_parse (context, data, len, NULL) &&
      g_markup_parse_context_end_parse (context, NULL) && probe.is_probe &&
      probe.message_id != NULL && types_match (probe.types))
    {
      reply = g_strdup_printf (
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\""
        " xmlns:wsa=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\""
        " xmlns:wsdd=\"http://schemas.xmlsoap.org/ws/2005/04/discovery\""
        " xmlns:tdn=\"http://www.onvif.org/ver10/network/wsdl\""
        " xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\">"
        "<SOAP-ENV:Header><wsa:MessageID>urn:uuid:%s</wsa:MessageID>"
        "<wsa:RelatesTo>%s</wsa:RelatesTo>"
        "<wsa:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>"
        "<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>"
        "<wsdd:AppSequence InstanceId=\"1\" MessageNumber=\"1\"/></SOAP-ENV:Header>"
        "<SOAP-ENV:Body><wsdd:ProbeMatches><wsdd:ProbeMatch>"
        "<wsa:EndpointReference><wsa:Address>urn:uuid:%s</wsa:Address></wsa:EndpointReference>"
        "<wsdd:Types>tdn:NetworkVideoTransmitter tds:Device</wsdd:Types>"
        "<wsdd:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/type/ptz "
        "onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/name/%s "
        "onvif://www.onvif.org/hardware/simcam</wsdd:Scopes>"
        "<wsdd:XAddrs>%s</wsdd:XAddrs><wsdd:MetadataVersion>1</wsdd:MetadataVersion>"
        "</wsdd:ProbeMatch></wsdd:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>",
        uuid, probe.message_id, self->uuid, name, xaddr);
      g_socket_send_to (self->discovery, from, reply, strlen (reply), NULL, NULL);
    }
  g_string_free (probe.text, TRUE);
  g_free (probe.message_id);
  g_free (probe.types);
}

/* Runs on the worker thread: moves the head every TICK_MS and answers
 * Probes in between. */
static gpointer
worker_main (gpointer data)
{
  VigilSimcamOnvif *self = data;
  gint64 last_us = g_get_monotonic_time ();

  while (!g_atomic_int_get (&self->quit))
    {
      gint64 now_us = g_get_monotonic_time ();
      gint64 next_us = last_us + TICK_MS * 1000;
      gboolean moved = FALSE;
      gdouble pan = 0, tilt = 0, zoom = 0;

      if (now_us < next_us)
        {
          if (self->discovery != NULL &&
              g_socket_condition_timed_wait (self->discovery, G_IO_IN, next_us - now_us, NULL, NULL))
            {
              gchar buffer[8192];
              g_autoptr(GSocketAddress) from = NULL;
              gssize n = g_socket_receive_from (self->discovery, &from, buffer, sizeof buffer - 1,
                                                NULL, NULL);

              if (n > 0)
                answer_probe (self, buffer, n, from);
            }
          else if (self->discovery == NULL)
            g_usleep (next_us - now_us);   /* the simulator's own clock, not a test's wait */
          continue;
        }
      g_mutex_lock (&self->lock);
      moved = integrate (self, (now_us - last_us) / (gdouble) G_USEC_PER_SEC);
      pan = self->pan;
      tilt = self->tilt;
      zoom = self->zoom;
      g_mutex_unlock (&self->lock);
      last_us = now_us;
      if (moved && self->moved != NULL)
        self->moved (pan, tilt, zoom, self->moved_data);
    }
  return NULL;
}

/* ----- object ------------------------------------------------------------- */

static void
vigil_simcam_onvif_dispose (GObject *object)
{
  VigilSimcamOnvif *self = VIGIL_SIMCAM_ONVIF (object);

  g_atomic_int_set (&self->quit, TRUE);
  if (self->server_thread != NULL)
    g_thread_join (g_steal_pointer (&self->server_thread));
  /* Held requests give up on quit; the others end within the send and
   * receive timeouts. */
  g_mutex_lock (&self->lock);
  g_cond_broadcast (&self->cond);
  while (self->n_connections > 0)
    g_cond_wait (&self->cond, &self->lock);
  g_mutex_unlock (&self->lock);
  if (self->worker_thread != NULL)
    g_thread_join (g_steal_pointer (&self->worker_thread));
  G_OBJECT_CLASS (vigil_simcam_onvif_parent_class)->dispose (object);
}

static void
vigil_simcam_onvif_finalize (GObject *object)
{
  VigilSimcamOnvif *self = VIGIL_SIMCAM_ONVIF (object);

  if (self->soap != NULL)
    {
      soap_destroy (self->soap);
      soap_end (self->soap);
      soap_free (self->soap);
    }
  g_clear_object (&self->discovery);
  for (guint i = 0; i < G_N_ELEMENTS (self->profiles); i++)
    {
      g_free (self->profiles[i].stream_uri);
      g_free (self->profiles[i].encoding);
    }
  g_free (self->user);
  g_free (self->password);
  g_free (self->name);
  g_free (self->uuid);
  g_ptr_array_unref (self->presets);
  g_hash_table_unref (self->requests);
  g_free (self->hold_op);
  g_cond_clear (&self->cond);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (vigil_simcam_onvif_parent_class)->finalize (object);
}

static void
vigil_simcam_onvif_class_init (VigilSimcamOnvifClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = vigil_simcam_onvif_dispose;
  G_OBJECT_CLASS (klass)->finalize = vigil_simcam_onvif_finalize;
}

static void
vigil_simcam_onvif_init (VigilSimcamOnvif *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->presets = g_ptr_array_new_with_free_func ((GDestroyNotify) preset_free);
  self->requests = g_hash_table_new (g_str_hash, g_str_equal);
}

static void
profile_init (Profile *profile, const VigilSimcamOnvifProfile *options)
{
  profile->stream_uri = g_strdup (options->stream_uri);
  profile->width = options->width != 0 ? options->width : 640;
  profile->height = options->height != 0 ? options->height : 360;
  profile->fps = options->fps != 0 ? options->fps : 25;
  profile->encoding = g_strdup (options->encoding != NULL ? options->encoding : "H264");
}

VigilSimcamOnvif *
vigil_simcam_onvif_new (const VigilSimcamOnvifOptions *options, GError **error)
{
  g_autoptr(VigilSimcamOnvif) self = NULL;

  g_return_val_if_fail (options != NULL, NULL);
  if (options->main_profile.stream_uri == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "the simulated ONVIF device needs a main stream URI");
      return NULL;
    }
  if (options->auth != VIGIL_SIMCAM_ONVIF_AUTH_NONE &&
      (options->user == NULL || options->password == NULL))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "authentication needs a user and a password");
      return NULL;
    }

  self = g_object_new (VIGIL_TYPE_SIMCAM_ONVIF, NULL);
  self->user = g_strdup (options->user);
  self->password = g_strdup (options->password);
  self->auth = options->auth;
  self->clock_offset_us = (gint64) options->clock_offset_s * G_USEC_PER_SEC;
  profile_init (&self->profiles[0], &options->main_profile);
  self->n_profiles = 1;
  if (options->sub_profile.stream_uri != NULL)
    profile_init (&self->profiles[self->n_profiles++], &options->sub_profile);
  self->name = g_strdup (options->name != NULL ? options->name : "vigil-simcam");
  self->uuid = g_uuid_string_random ();
  self->quirks = options->quirks;
  self->moved = options->moved;
  self->moved_data = options->moved_data;

  self->soap = soap_new1 (SOAP_C_UTFSTRING);
  self->soap->user = self;
  /* Plain decimals, as cameras print them. gSOAP's default (%.17lG) writes a
   * pan passing zero as 5.6749999999976958E-05: valid xs:double, but clients
   * such as the npm onvif package then read the position as a string. */
  self->soap->double_format = "%.6f";
  self->soap->float_format = "%.6f";
  self->soap->bind_flags = SO_REUSEADDR;
  /* Negative: microseconds; short, so that dispose is quick. */
  self->soap->accept_timeout = -100000;
  self->soap->recv_timeout = 5;
  self->soap->send_timeout = 5;
  if (self->auth == VIGIL_SIMCAM_ONVIF_AUTH_DIGEST_SHA256)
    soap_register_plugin_arg (self->soap, http_da, http_da_sha256 ());
  else if (self->auth != VIGIL_SIMCAM_ONVIF_AUTH_NONE)
    soap_register_plugin_arg (self->soap, http_da, http_da_md5 ());
  if (!soap_valid_socket (soap_bind (self->soap, "127.0.0.1", options->port, 16)))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "the simulated ONVIF device cannot listen on 127.0.0.1:%u: %s", options->port,
                   g_strerror (self->soap->errnum));
      return NULL;
    }
  self->port = self->soap->port;
  if (self->port == 0)
    {
      struct sockaddr_storage addr;
      socklen_t len = sizeof addr;

      if (getsockname (self->soap->master, (struct sockaddr *) &addr, &len) == 0)
        self->port = g_ntohs (((struct sockaddr_in *) &addr)->sin_port);
    }

  if (options->discovery)
    {
      g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
      g_autoptr(GSocketAddress) bind_address =
        g_inet_socket_address_new (loopback, options->discovery_port);
      g_autoptr(GSocketAddress) local = NULL;

      self->discovery = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                      G_SOCKET_PROTOCOL_UDP, error);
      if (self->discovery == NULL || !g_socket_bind (self->discovery, bind_address, TRUE, error))
        return NULL;
      local = g_socket_get_local_address (self->discovery, error);
      if (local == NULL)
        return NULL;
      self->discovery_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
      g_socket_set_blocking (self->discovery, FALSE);
    }

  self->server_thread = g_thread_new ("simcam-onvif", server_main, self);
  self->worker_thread = g_thread_new ("simcam-onvif-head", worker_main, self);
  return g_steal_pointer (&self);
}

guint
vigil_simcam_onvif_get_port (VigilSimcamOnvif *self)
{
  return self->port;
}

guint
vigil_simcam_onvif_get_discovery_port (VigilSimcamOnvif *self)
{
  return self->discovery_port;
}

gchar *
vigil_simcam_onvif_get_device_url (VigilSimcamOnvif *self)
{
  return g_strdup_printf ("http://127.0.0.1:%u/onvif/device_service", self->port);
}

void
vigil_simcam_onvif_set_quirks (VigilSimcamOnvif *self, VigilSimcamOnvifQuirks quirks)
{
  g_mutex_lock (&self->lock);
  self->quirks = quirks;
  g_mutex_unlock (&self->lock);
}

void
vigil_simcam_onvif_get_position (VigilSimcamOnvif *self, gdouble *pan, gdouble *tilt,
                                 gdouble *zoom)
{
  g_mutex_lock (&self->lock);
  *pan = self->pan;
  *tilt = self->tilt;
  *zoom = self->zoom;
  g_mutex_unlock (&self->lock);
}

gboolean
vigil_simcam_onvif_is_moving (VigilSimcamOnvif *self)
{
  gboolean moving;

  g_mutex_lock (&self->lock);
  moving = self->vel_pan != 0 || self->vel_tilt != 0 || self->vel_zoom != 0 ||
           self->has_target_pan_tilt || self->has_target_zoom;
  g_mutex_unlock (&self->lock);
  return moving;
}

void
vigil_simcam_onvif_set_position (VigilSimcamOnvif *self, gdouble pan, gdouble tilt, gdouble zoom)
{
  g_mutex_lock (&self->lock);
  self->pan = CLAMP (pan, -1, 1);
  self->tilt = CLAMP (tilt, -1, 1);
  self->zoom = CLAMP (zoom, 0, 1);
  self->vel_pan = self->vel_tilt = self->vel_zoom = 0;
  self->has_target_pan_tilt = self->has_target_zoom = FALSE;
  g_mutex_unlock (&self->lock);
}

guint
vigil_simcam_onvif_get_n_requests (VigilSimcamOnvif *self, const gchar *op)
{
  guint n;

  g_mutex_lock (&self->lock);
  n = GPOINTER_TO_UINT (g_hash_table_lookup (self->requests, op));
  g_mutex_unlock (&self->lock);
  return n;
}

guint
vigil_simcam_onvif_get_n_auth_failures (VigilSimcamOnvif *self)
{
  guint n;

  g_mutex_lock (&self->lock);
  n = self->auth_failures;
  g_mutex_unlock (&self->lock);
  return n;
}

void
vigil_simcam_onvif_hold (VigilSimcamOnvif *self, const gchar *op)
{
  g_mutex_lock (&self->lock);
  g_free (self->hold_op);
  self->hold_op = g_strdup (op);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

gboolean
vigil_simcam_onvif_wait_held (VigilSimcamOnvif *self, guint timeout_s)
{
  gint64 deadline_us = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;
  gboolean held;

  g_mutex_lock (&self->lock);
  while (self->n_held == 0 && g_cond_wait_until (&self->cond, &self->lock, deadline_us))
    ;
  held = self->n_held > 0;
  g_mutex_unlock (&self->lock);
  return held;
}

guint
vigil_simcam_onvif_get_n_held (VigilSimcamOnvif *self)
{
  guint n;

  g_mutex_lock (&self->lock);
  n = self->n_held;
  g_mutex_unlock (&self->lock);
  return n;
}
