/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilOnvifCamera: one ONVIF camera seen through gSOAP. It owns two
 * `struct soap` (channels): `call`, reused for every call under the camera's
 * lock, and `stop_call`, used only for Stop (and its zero-velocity
 * fallback) under a lock of its own, so that stopping a moving head never
 * waits behind another call in progress (a slow GetPresets, a hanging
 * camera). It learns as it goes: the camera's clock offset (for WS-Security
 * Created), whether it wants HTTP digest (per channel: each has its own
 * digest session), where its media and PTZ services live, its PTZ nodes'
 * ranges, and which PTZ quirks it has (rejects Timeout, rejects pan-tilt and
 * zoom together, Stop that faults). What a Stop needs of that is published
 * for the stop channel under a short-held lock whenever it changes; before
 * the nodes are known, a Stop takes the call path. It must never put a
 * password in a log line or an error, never block the caller past the
 * configured timeout per request, and never let a gSOAP type out of this
 * file.
 *
 * Threads: any thread may call; the camera's GRecMutex serialises calls,
 * except Stops on the stop channel. One internal thread, started on the
 * first ContinuousMove, sends the Stop that ends it (see stop_thread_main()).
 * Lock order: lock, stop_call_lock, stop_lock, state_lock, reply_lock. */

#include "vigil-onvif.h"
#include "vigil-onvif-private.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "soapH.h"
#include "httpda.h"

G_DEFINE_QUARK (vigil-onvif-error-quark, vigil_onvif_error)

#define DEFAULT_TIMEOUT_MS 5000
/* Bigger answers are refused: no ONVIF reply vigil asks for comes near. */
#define MAX_REPLY_BYTES (1024 * 1024)
#define MIN_MOVE_MS 100
#define MAX_MOVE_MS 10000

#define NS_MEDIA "http://www.onvif.org/ver10/media/wsdl"
#define NS_PTZ "http://www.onvif.org/ver20/ptz/wsdl"
#define WSSE_DIGEST_TYPE \
  "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
#define WSSE_BASE64_TYPE \
  "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"

/* One axis of a PTZ space: the camera's range and the space's URI. */
typedef struct {
  gboolean present;
  gdouble  min, max;
  gchar   *uri;
} Axis;

typedef struct {
  gchar   *token;
  gboolean from_camera;   /* FALSE: GetNodes unsupported, generic ranges assumed */
  Axis     abs_pan, abs_tilt, abs_zoom;
  Axis     rel_pan, rel_tilt, rel_zoom;
  Axis     vel_pan, vel_tilt, vel_zoom;
  Axis     speed_pan_tilt, speed_zoom;
  guint    max_presets;
  gboolean home;
} Node;

static void
node_free (Node *node)
{
  Axis *axes[] = { &node->abs_pan, &node->abs_tilt, &node->abs_zoom, &node->rel_pan,
                   &node->rel_tilt, &node->rel_zoom, &node->vel_pan, &node->vel_tilt,
                   &node->vel_zoom, &node->speed_pan_tilt, &node->speed_zoom };

  for (guint i = 0; i < G_N_ELEMENTS (axes); i++)
    g_free (axes[i]->uri);
  g_free (node->token);
  g_free (node);
}

/* One gSOAP context and what it has learned for itself: the HTTP digest
 * session (each context counts its own nonce uses, so two cannot share one)
 * and, with the in-memory transport, the answer being read. */
typedef struct {
  VigilOnvifCamera *camera;   /* the owner; not a reference */
  struct soap *soap;          /* soap->user is this channel */
  gboolean  use_digest;       /* the camera asked for HTTP digest; da_info is saved */
  struct http_da_info da_info;
  const gchar *op;            /* the operation invoke() is sending, for reply_func */
  GBytes   *reply;            /* the in-memory answer being read, from reply_offset */
  gsize     reply_offset;
} Channel;

struct _VigilOnvifCamera {
  GObject   parent;

  /* Immutable after new(). */
  gchar    *device_url;
  gchar    *host;           /* of device_url, for the address rewrite */
  gint      port;           /* of device_url; -1 when not given */
  gchar    *user;
  gchar    *password;
  guint     timeout_ms;
  gboolean  keep_addresses;

  GRecMutex lock;           /* serialises calls; guards everything below */
  Channel   call;           /* every call but the Stops of the stop channel */
  gboolean  connected;
  gchar    *media_url;
  gchar    *ptz_url;        /* NULL: no PTZ service */
  VigilOnvifDeviceInfo info;
  GPtrArray  *profiles;     /* VigilOnvifProfile *, the last GetProfiles */
  GHashTable *profile_nodes;  /* profile token -> PTZ node token ("" when not given) */
  GPtrArray  *nodes;        /* Node *; NULL until GetNodes was tried */
  gboolean  omit_timeout;   /* ContinuousMove faulted with a Timeout and worked without */

  /* Quirks both channels read and set: atomic. */
  gint      split_moves;    /* ContinuousMove faulted with pan-tilt and zoom together */
  gint      stop_broken;    /* Stop faulted; zero-velocity ContinuousMove instead */

  /* The stop channel: a second gSOAP context used only for Stop (and its
   * zero-velocity fallback), so that a Stop never waits behind a call in
   * progress on `call`. */
  GMutex    stop_call_lock; /* serialises its use; guards stop_call */
  Channel   stop_call;

  /* Held only for short copies, never across a request. */
  GMutex    state_lock;
  gint64    clock_offset_us;      /* both channels' WS-Security Created */
  /* What a Stop needs, published under `lock` as the call path learns it
   * (publish_stop_target()): NULL until known. nodes and profile_nodes are
   * shared, never changed once published. */
  gchar      *stop_ptz_url;
  GPtrArray  *stop_nodes;         /* Node * */
  GHashTable *stop_profile_nodes; /* profile token -> node token, PTZ profiles only */

  /* The in-memory transport of vigil_onvif_camera_set_reply_func(); NULL
   * func: the network. reply_lock keeps reply_func to one thread at a time. */
  VigilOnvifReplyFunc reply_func;
  gpointer  reply_data;
  gint      reply_fd;       /* /dev/null, so gSOAP has a real descriptor to set flags on */
  GMutex    reply_lock;

  /* The pending stop of the last ContinuousMove, and the moves in flight.
   * Lock order: lock, stop_call_lock, stop_lock, state_lock (and
   * reply_lock, innermost). */
  GMutex    stop_lock;
  GCond     stop_cond;
  GThread  *stop_thread;
  gboolean  stop_quit;
  gint64    stop_deadline_us;   /* monotonic; 0: nothing pending */
  gchar    *stop_profile;
  gboolean  stop_pan_tilt, stop_zoom;
  gboolean  move_in_flight;     /* a move is being sent on `call`; the timer waits for it */
  guint     stop_generation;    /* counts the operator's Stops, for moves they overtake */
};

G_DEFINE_TYPE (VigilOnvifCamera, vigil_onvif_camera, G_TYPE_OBJECT)

gchar *
vigil_onvif_sanitize_text (const gchar *text, gsize max_chars)
{
  g_autofree gchar *valid = NULL;
  GString *out;
  gsize n = 0;

  if (text == NULL)
    return g_strdup ("(none)");
  valid = g_utf8_make_valid (text, -1);
  out = g_string_new (NULL);
  for (const gchar *p = valid; *p != '\0'; p = g_utf8_next_char (p), n++)
    {
      if (n == max_chars)
        {
          g_string_append (out, "...");
          break;
        }
      if (g_unichar_iscntrl (g_utf8_get_char (p)))
        g_string_append_c (out, ' ');
      else
        g_string_append_len (out, p, g_utf8_next_char (p) - p);
    }
  return g_string_free (out, FALSE);
}

gboolean
vigil_onvif_has_control_chars (const gchar *text)
{
  for (const gchar *p = text; *p != '\0'; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return TRUE;
  return FALSE;
}

/* Camera text handed to vigil's callers, who put it on D-Bus and in JSON:
 * bytes that are not UTF-8 become U+FFFD. NULL stays NULL. */
static gchar *
camera_text (const gchar *text)
{
  return text != NULL ? g_utf8_make_valid (text, -1) : NULL;
}

/* Tokens go back to the camera byte for byte, so they cannot be repaired
 * like text; one that is not UTF-8 cannot cross D-Bus either, so what it
 * names is skipped. */
static gboolean
is_usable_token (const gchar *token)
{
  return token != NULL && g_utf8_validate (token, -1, NULL);
}

void
vigil_onvif_device_info_free (VigilOnvifDeviceInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->manufacturer);
  g_free (info->model);
  g_free (info->firmware_version);
  g_free (info->serial_number);
  g_free (info->hardware_id);
  g_free (info);
}

void
vigil_onvif_profile_free (VigilOnvifProfile *profile)
{
  if (profile == NULL)
    return;
  g_free (profile->token);
  g_free (profile->name);
  g_free (profile->encoding);
  g_free (profile);
}

void
vigil_onvif_preset_free (VigilOnvifPreset *preset)
{
  if (preset == NULL)
    return;
  g_free (preset->token);
  g_free (preset->name);
  g_free (preset);
}

static VigilOnvifProfile *
profile_copy (const VigilOnvifProfile *p)
{
  VigilOnvifProfile *copy = g_memdup2 (p, sizeof *p);

  copy->token = g_strdup (p->token);
  copy->name = g_strdup (p->name);
  copy->encoding = g_strdup (p->encoding);
  return copy;
}

static void stop_thread_join (VigilOnvifCamera *self);

static void
channel_init (Channel *channel, VigilOnvifCamera *camera)
{
  channel->camera = camera;
  /* Lax parsing (no SOAP_XML_STRICT): unknown elements are skipped. */
  channel->soap = soap_new1 (SOAP_C_UTFSTRING);
  channel->soap->user = channel;
  soap_register_plugin (channel->soap, http_da);
}

static void
channel_clear (Channel *channel)
{
  if (channel->soap != NULL)
    {
      if (channel->use_digest)
        http_da_release (channel->soap, &channel->da_info);
      soap_destroy (channel->soap);
      soap_end (channel->soap);
      soap_free (g_steal_pointer (&channel->soap));
    }
  g_clear_pointer (&channel->reply, g_bytes_unref);
}

static void
vigil_onvif_camera_dispose (GObject *object)
{
  VigilOnvifCamera *self = VIGIL_ONVIF_CAMERA (object);

  stop_thread_join (self);
  G_OBJECT_CLASS (vigil_onvif_camera_parent_class)->dispose (object);
}

static void
vigil_onvif_camera_finalize (GObject *object)
{
  VigilOnvifCamera *self = VIGIL_ONVIF_CAMERA (object);

  channel_clear (&self->call);
  channel_clear (&self->stop_call);
  g_free (self->device_url);
  g_free (self->host);
  g_free (self->user);
  if (self->password != NULL)
    memset (self->password, 0, strlen (self->password));
  g_free (self->password);
  g_free (self->media_url);
  g_free (self->ptz_url);
  g_free (self->info.manufacturer);
  g_free (self->info.model);
  g_free (self->info.firmware_version);
  g_free (self->info.serial_number);
  g_free (self->info.hardware_id);
  g_clear_pointer (&self->profiles, g_ptr_array_unref);
  g_clear_pointer (&self->profile_nodes, g_hash_table_unref);
  g_clear_pointer (&self->nodes, g_ptr_array_unref);
  g_free (self->stop_profile);
  g_free (self->stop_ptz_url);
  g_clear_pointer (&self->stop_nodes, g_ptr_array_unref);
  g_clear_pointer (&self->stop_profile_nodes, g_hash_table_unref);
  if (self->reply_fd >= 0)
    close (self->reply_fd);
  g_rec_mutex_clear (&self->lock);
  g_mutex_clear (&self->stop_call_lock);
  g_mutex_clear (&self->state_lock);
  g_mutex_clear (&self->reply_lock);
  g_mutex_clear (&self->stop_lock);
  g_cond_clear (&self->stop_cond);
  G_OBJECT_CLASS (vigil_onvif_camera_parent_class)->finalize (object);
}

static void
vigil_onvif_camera_class_init (VigilOnvifCameraClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = vigil_onvif_camera_dispose;
  G_OBJECT_CLASS (klass)->finalize = vigil_onvif_camera_finalize;
}

static void
vigil_onvif_camera_init (VigilOnvifCamera *self)
{
  g_rec_mutex_init (&self->lock);
  g_mutex_init (&self->stop_call_lock);
  g_mutex_init (&self->state_lock);
  g_mutex_init (&self->reply_lock);
  g_mutex_init (&self->stop_lock);
  g_cond_init (&self->stop_cond);
  self->reply_fd = -1;
  self->profiles = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_onvif_profile_free);
  self->profile_nodes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

VigilOnvifCamera *
vigil_onvif_camera_new (const VigilOnvifOptions *options, GError **error)
{
  g_autoptr(VigilOnvifCamera) self = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (options != NULL, NULL);

  if (options->device_url == NULL)
    {
      g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_INVALID, "no device URL given");
      return NULL;
    }
  uri = g_uri_parse (options->device_url, G_URI_FLAGS_ENCODED, &local_error);
  if (uri == NULL)
    {
      g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_INVALID,
                   "device URL is not a URL: %s", local_error->message);
      return NULL;
    }
  if (g_strcmp0 (g_uri_get_scheme (uri), "http") != 0 || g_uri_get_host (uri) == NULL ||
      g_uri_get_host (uri)[0] == '\0')
    {
      g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_INVALID,
                   "device URL must be http://HOST[:PORT]/PATH (HTTPS is not supported)");
      return NULL;
    }
  /* The URL is quoted in every message; credentials go in user/password. */
  if (g_uri_get_userinfo (uri) != NULL)
    {
      g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_INVALID,
                   "device URL must not carry credentials; give the user and password "
                   "separately");
      return NULL;
    }
  if (options->password != NULL && options->user == NULL)
    {
      g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_INVALID,
                   "a password was given without a user for %s", options->device_url);
      return NULL;
    }

  self = g_object_new (VIGIL_ONVIF_TYPE_CAMERA, NULL);
  self->device_url = g_strdup (options->device_url);
  self->host = g_strdup (g_uri_get_host (uri));
  self->port = g_uri_get_port (uri);
  self->user = g_strdup (options->user);
  self->password = g_strdup (options->user != NULL && options->password == NULL
                                 ? "" : options->password);
  self->timeout_ms = options->timeout_ms != 0 ? options->timeout_ms : DEFAULT_TIMEOUT_MS;
  self->keep_addresses = options->keep_addresses;

  channel_init (&self->call, self);
  channel_init (&self->stop_call, self);
  return g_steal_pointer (&self);
}

const gchar *
vigil_onvif_camera_get_device_url (VigilOnvifCamera *self)
{
  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), NULL);
  return self->device_url;
}

/* ----- the in-memory transport (tests and fuzzing) ------------------------ */

/* gSOAP's connect: asks reply_func for the whole answer to the exchange
 * about to be sent. */
static SOAP_SOCKET
memory_open (struct soap *soap, const char *endpoint, const char *host, int port)
{
  Channel *channel = soap->user;
  VigilOnvifCamera *self = channel->camera;

  g_clear_pointer (&channel->reply, g_bytes_unref);
  channel->reply_offset = 0;
  g_mutex_lock (&self->reply_lock);
  channel->reply = self->reply_func (channel->op, endpoint, self->reply_data);
  g_mutex_unlock (&self->reply_lock);
  if (channel->reply == NULL)
    {
      soap_set_receiver_error (soap, "connection refused", "in-memory transport", SOAP_TCP_ERROR);
      soap->errnum = ECONNREFUSED;
      return SOAP_INVALID_SOCKET;
    }
  return self->reply_fd;
}

/* gSOAP sends to its sendfd (stdout) and reads from its recvfd (stdin)
 * when an endpoint has no host: that must never happen. */
static int
memory_send (struct soap *soap, const char *data, size_t len)
{
  Channel *channel = soap->user;

  if (channel->reply == NULL)
    g_critical ("%s: %s sent without a connection", channel->camera->device_url, channel->op);
  return SOAP_OK;
}

static size_t
memory_recv (struct soap *soap, char *buffer, size_t len)
{
  Channel *channel = soap->user;
  gsize size = 0;
  const gchar *data;
  gsize n;

  if (channel->reply == NULL)
    {
      g_critical ("%s: %s read without a connection", channel->camera->device_url, channel->op);
      return 0;
    }
  data = g_bytes_get_data (channel->reply, &size);
  n = MIN (len, size - channel->reply_offset);

  if (n > 0)
    memcpy (buffer, data + channel->reply_offset, n);
  channel->reply_offset += n;
  return n;
}

static int
memory_close (struct soap *soap)
{
  Channel *channel = soap->user;

  g_clear_pointer (&channel->reply, g_bytes_unref);
  channel->reply_offset = 0;
  soap->socket = SOAP_INVALID_SOCKET;
  return SOAP_OK;
}

static int
memory_close_socket (struct soap *soap, SOAP_SOCKET socket)
{
  return SOAP_OK;   /* reply_fd is closed in finalize */
}

static int
memory_shutdown_socket (struct soap *soap, SOAP_SOCKET socket, int how)
{
  return SOAP_OK;
}

void
vigil_onvif_camera_set_reply_func (VigilOnvifCamera *self, VigilOnvifReplyFunc func,
                                   gpointer user_data)
{
  g_return_if_fail (VIGIL_ONVIF_IS_CAMERA (self));
  g_return_if_fail (func != NULL);

  g_rec_mutex_lock (&self->lock);
  g_mutex_lock (&self->stop_call_lock);
  if (self->reply_fd < 0)
    self->reply_fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
  g_assert (self->reply_fd >= 0);
  self->reply_func = func;
  self->reply_data = user_data;
  for (guint i = 0; i < 2; i++)
    {
      struct soap *soap = (i == 0 ? &self->call : &self->stop_call)->soap;

      soap->fopen = memory_open;
      soap->fsend = memory_send;
      soap->frecv = memory_recv;
      soap->fclose = memory_close;
      soap->fclosesocket = memory_close_socket;
      soap->fshutdownsocket = memory_shutdown_socket;
      /* No keep-alive probing of the pretend socket: every exchange reconnects. */
      soap->fpoll = NULL;
    }
  g_mutex_unlock (&self->stop_call_lock);
  g_rec_mutex_unlock (&self->lock);
}

/* ----- one SOAP exchange ------------------------------------------------- */

typedef int (*CallFunc) (struct soap *soap, const char *url, void *request, void *response);

#define DEFINE_CALL(svc, op)                                                              \
  static int call_##op (struct soap *soap, const char *url, void *request, void *response) \
  {                                                                                       \
    return soap_call___##svc##__##op (soap, url, NULL, request, response);                \
  }
DEFINE_CALL (tds, GetSystemDateAndTime)
DEFINE_CALL (tds, GetDeviceInformation)
DEFINE_CALL (tds, GetServices)
DEFINE_CALL (tds, GetCapabilities)
DEFINE_CALL (trt, GetProfiles)
DEFINE_CALL (trt, GetStreamUri)
DEFINE_CALL (trt, GetSnapshotUri)
DEFINE_CALL (tptz, GetNodes)
DEFINE_CALL (tptz, ContinuousMove)
DEFINE_CALL (tptz, RelativeMove)
DEFINE_CALL (tptz, AbsoluteMove)
DEFINE_CALL (tptz, Stop)
DEFINE_CALL (tptz, GetStatus)
DEFINE_CALL (tptz, GetPresets)
DEFINE_CALL (tptz, SetPreset)
DEFINE_CALL (tptz, GotoPreset)
DEFINE_CALL (tptz, RemovePreset)

/* Camera time now, as WS-Security Created: UTC with milliseconds. */
static gchar *
format_created (gint64 time_us)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (time_us / G_USEC_PER_SEC);
  g_autofree gchar *seconds = g_date_time_format (dt, "%Y-%m-%dT%H:%M:%S");

  return g_strdup_printf ("%s.%03dZ", seconds, (gint) ((time_us % G_USEC_PER_SEC) / 1000));
}

static gint64
get_clock_offset_us (VigilOnvifCamera *self)
{
  gint64 offset_us;

  g_mutex_lock (&self->state_lock);
  offset_us = self->clock_offset_us;
  g_mutex_unlock (&self->state_lock);
  return offset_us;
}

/* Adds a UsernameToken with PasswordDigest = Base64 (SHA1 (nonce + created +
 * password)), a 16-byte nonce and Created in the camera's time.
 * Called with @channel's lock held. */
static void
add_username_token (VigilOnvifCamera *self, Channel *channel)
{
  struct soap *soap = channel->soap;
  guint8 nonce[16];
  guint8 digest[20];
  gsize digest_len = sizeof digest;
  g_autofree gchar *created = format_created (g_get_real_time () + get_clock_offset_us (self));
  g_autoptr(GChecksum) sha1 = g_checksum_new (G_CHECKSUM_SHA1);
  g_autofree gchar *nonce64 = NULL;
  g_autofree gchar *digest64 = NULL;
  struct _wsse__Security *security;
  struct _wsse__UsernameToken *token;

  if (RAND_bytes (nonce, sizeof nonce) != 1)
    for (guint i = 0; i < sizeof nonce; i++)
      nonce[i] = g_random_int_range (0, 256);
  g_checksum_update (sha1, nonce, sizeof nonce);
  g_checksum_update (sha1, (const guchar *) created, strlen (created));
  g_checksum_update (sha1, (const guchar *) self->password, strlen (self->password));
  g_checksum_get_digest (sha1, digest, &digest_len);
  nonce64 = g_base64_encode (nonce, sizeof nonce);
  digest64 = g_base64_encode (digest, digest_len);

  soap->header = soap_malloc (soap, sizeof *soap->header);
  soap_default_SOAP_ENV__Header (soap, soap->header);
  security = soap_malloc (soap, sizeof *security);
  soap_default__wsse__Security (soap, security);
  token = soap_malloc (soap, sizeof *token);
  soap_default__wsse__UsernameToken (soap, token);
  token->Username = soap_strdup (soap, self->user);
  token->Password = soap_malloc (soap, sizeof *token->Password);
  soap_default__wsse__Password (soap, token->Password);
  token->Password->__item = soap_strdup (soap, digest64);
  token->Password->Type = soap_strdup (soap, WSSE_DIGEST_TYPE);
  token->Nonce = soap_malloc (soap, sizeof *token->Nonce);
  soap_default_wsse__EncodedString (soap, token->Nonce);
  token->Nonce->__item = soap_strdup (soap, nonce64);
  token->Nonce->EncodingType = soap_strdup (soap, WSSE_BASE64_TYPE);
  token->wsu__Created = soap_strdup (soap, created);
  security->UsernameToken = token;
  soap->header->wsse__Security = security;
  memset (digest, 0, sizeof digest);
}

/* Every Value in the fault's Code/Subcode chain, as one string. */
static gchar *
fault_codes (struct soap *soap)
{
  GString *codes = g_string_new (NULL);

  if (soap->fault == NULL)
    return g_string_free (codes, FALSE);
  if (soap->version == 2)
    {
      for (struct SOAP_ENV__Code *code = soap->fault->SOAP_ENV__Code; code != NULL;
           code = code->SOAP_ENV__Subcode)
        if (code->SOAP_ENV__Value != NULL)
          g_string_append_printf (codes, "%s%s", codes->len > 0 ? "/" : "", code->SOAP_ENV__Value);
    }
  else if (soap->fault->faultcode != NULL)
    g_string_append (codes, soap->fault->faultcode);
  return g_string_free (codes, FALSE);
}

static gboolean
is_not_authorized_fault (struct soap *soap)
{
  g_autofree gchar *codes = NULL;
  const gchar *reason;

  if (soap->error != SOAP_FAULT && soap->error != SOAP_CLI_FAULT && soap->error != SOAP_SVR_FAULT)
    return FALSE;
  codes = fault_codes (soap);
  reason = soap_fault_string (soap);
  return strstr (codes, "NotAuthorized") != NULL ||
         (reason != NULL && (strstr (reason, "Sender not authorized") != NULL ||
                             strstr (reason, "NotAuthorized") != NULL));
}

/* Turns soap->error into a GError naming @op and the camera.
 * Called with the lock of @soap's channel held. */
static void
set_soap_error (VigilOnvifCamera *self, struct soap *soap, const gchar *op, gint64 elapsed_us,
                GError **error)
{
  gint rc = soap->error;
  gboolean timed_out = elapsed_us >= (gint64) self->timeout_ms * 1000 * 9 / 10;
  g_autofree gchar *reason = vigil_onvif_sanitize_text (soap_fault_string (soap), 200);
  const gchar *url = self->device_url;

  if (rc == SOAP_TCP_ERROR)
    {
      if (timed_out || soap->errnum == ETIMEDOUT)
        g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_TIMEOUT,
                     "%s on %s: no answer within %u ms", op, url, self->timeout_ms);
      else
        g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_UNREACHABLE,
                     "%s on %s: cannot connect: %s", op, url,
                     soap->errnum != 0 ? g_strerror (soap->errnum) : reason);
    }
  else if ((rc == SOAP_EOF || rc == SOAP_EOM) &&
           (soap->length > MAX_REPLY_BYTES || soap->count >= MAX_REPLY_BYTES))
    g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_BAD_REPLY,
                 "%s on %s: the answer is larger than the %u byte limit", op, url,
                 MAX_REPLY_BYTES);
  else if (rc == SOAP_EOF)
    {
      if (timed_out)
        g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_TIMEOUT,
                     "%s on %s: no complete answer within %u ms", op, url, self->timeout_ms);
      else
        g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_BAD_REPLY,
                     "%s on %s: the camera closed the connection before a complete answer",
                     op, url);
    }
  else if (rc == SOAP_EOM || rc == SOAP_LENGTH)
    g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_BAD_REPLY,
                 "%s on %s: the answer is larger than the %u byte limit or malformed (%s)", op,
                 url, MAX_REPLY_BYTES, reason);
  else if (rc == 401 || rc == 403)
    g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_AUTHORIZED,
                 "%s on %s: the camera refused %s (HTTP %d)", op, url,
                 self->user != NULL ? "the credentials of the configured user"
                                    : "a request without credentials",
                 rc);
  else if (rc >= 100 && rc < 600)
    g_set_error (error, VIGIL_ONVIF_ERROR,
                 rc == 404 || rc == 405 || rc == 501 ? VIGIL_ONVIF_ERROR_NOT_SUPPORTED
                                                      : VIGIL_ONVIF_ERROR_BAD_REPLY,
                 "%s on %s: HTTP %d instead of a SOAP answer", op, url, rc);
  else if (rc == SOAP_FAULT || rc == SOAP_CLI_FAULT || rc == SOAP_SVR_FAULT)
    {
      g_autofree gchar *raw_codes = fault_codes (soap);
      g_autofree gchar *codes = vigil_onvif_sanitize_text (raw_codes, 200);

      if (is_not_authorized_fault (soap))
        g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_AUTHORIZED,
                     "%s on %s: the camera refused %s (fault %s: %s)", op, url,
                     self->user != NULL ? "the credentials of the configured user"
                                        : "a request without credentials",
                     codes, reason);
      else if (strstr (codes, "ActionNotSupported") != NULL ||
               strstr (codes, "NotSupported") != NULL ||
               strstr (codes, "NoSuchService") != NULL)
        g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_SUPPORTED,
                     "%s on %s: not supported by the camera (fault %s: %s)", op, url, codes,
                     reason);
      else
        g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_FAULT,
                     "%s on %s: fault %s: %s", op, url, codes, reason);
    }
  else if (soap_xml_error_check (rc) || rc == SOAP_VERSIONMISMATCH || rc == SOAP_NO_METHOD ||
           rc == SOAP_REQUIRED || rc == SOAP_PROHIBITED || rc == SOAP_OCCURS ||
           rc == SOAP_EMPTY || rc == SOAP_END_TAG || rc == SOAP_UTF_ERROR ||
           rc == SOAP_LEVEL || rc == SOAP_NULL || rc == SOAP_HREF || rc == SOAP_MUSTUNDERSTAND ||
           rc == SOAP_NO_DATA || rc == SOAP_PATTERN || rc == SOAP_FIXED || rc == SOAP_ZLIB_ERROR)
    g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_BAD_REPLY,
                 "%s on %s: the answer is not a SOAP reply vigil understands "
                 "(gSOAP error %d: %s)", op, url, rc, reason);
  else
    g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_FAILED,
                 "%s on %s: gSOAP error %d: %s", op, url, rc, reason);
}

static gboolean relearn_clock (VigilOnvifCamera *self, Channel *channel,
                               GCancellable *cancellable, GError **error);

/* One operation, with the retries authentication needs: HTTP digest after
 * a 401 with a challenge, and once the clock offset re-learned after a
 * NotAuthorized fault. The response stays in soap memory until the next
 * invoke(); @request must not be. Called with @channel's lock held: `lock`
 * for self->call, stop_call_lock for self->stop_call. */
static gboolean
invoke (VigilOnvifCamera *self, Channel *channel, const gchar *op, const gchar *url,
        CallFunc call, gboolean authenticate, void *request, void *response,
        GCancellable *cancellable, GError **error)
{
  struct soap *soap = channel->soap;
  gboolean digest_retried = FALSE;
  gboolean clock_retried = FALSE;

  for (;;)
    {
      g_autoptr(GError) cancelled = NULL;
      gint64 start_us;
      gint rc;

      /* @error may be NULL: never written through, only set. */
      if (g_cancellable_set_error_if_cancelled (cancellable, &cancelled))
        {
          g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_CANCELLED, "%s on %s: %s", op,
                       self->device_url, cancelled->message);
          return FALSE;
        }
      soap_destroy (soap);
      soap_end (soap);
      soap->header = NULL;
      /* Negative values are microseconds. */
      soap->connect_timeout = -(gint) MIN (self->timeout_ms * 1000u, (guint) G_MAXINT);
      soap->send_timeout = soap->connect_timeout;
      soap->recv_timeout = soap->connect_timeout;
      soap->transfer_timeout = -(gint) MIN (self->timeout_ms * 1000u, (guint) G_MAXINT);
      soap->recv_maxlength = MAX_REPLY_BYTES;
      if (authenticate && self->user != NULL)
        {
          add_username_token (self, channel);
          if (channel->use_digest)
            http_da_restore (soap, &channel->da_info);
        }
      else
        {
          soap->userid = NULL;
          soap->passwd = NULL;
          soap->authrealm = NULL;
        }

      start_us = g_get_monotonic_time ();
      channel->op = op;
      rc = call (soap, url, request, response);
      if (rc == SOAP_OK)
        return TRUE;

      g_debug ("%s on %s: gSOAP error %d after %" G_GINT64_FORMAT " ms", op, self->device_url,
               rc, (g_get_monotonic_time () - start_us) / 1000);
      if (rc == 401 && authenticate && self->user != NULL && !digest_retried &&
          soap->authrealm != NULL)
        {
          /* The camera wants HTTP digest (MD5 or SHA-256, as its challenge
           * says); keep sending WS-Security too, for cameras that want both. */
          digest_retried = TRUE;
          if (channel->use_digest)
            http_da_release (soap, &channel->da_info);
          http_da_save (soap, &channel->da_info, soap->authrealm, self->user, self->password);
          channel->use_digest = TRUE;
          continue;
        }
      /* Not for GetSystemDateAndTime itself: re-learning the clock calls it
       * again, authenticated, and a camera that refuses it every time would
       * recurse without end. */
      if (authenticate && self->user != NULL && !clock_retried &&
          call != call_GetSystemDateAndTime && is_not_authorized_fault (soap))
        {
          g_autoptr(GError) clock_error = NULL;

          /* Cameras reset their clocks; Created may be out of their window. */
          clock_retried = TRUE;
          if (relearn_clock (self, channel, cancellable, &clock_error))
            continue;
          /* Cancelled meanwhile: say so. Otherwise the refusal is the error. */
          if (g_error_matches (clock_error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_CANCELLED))
            {
              g_propagate_error (error, g_steal_pointer (&clock_error));
              return FALSE;
            }
          g_debug ("%s", clock_error->message);
          soap->error = rc;
        }
      set_soap_error (self, soap, op, g_get_monotonic_time () - start_us, error);
      return FALSE;
    }
}

static gboolean
parse_date_time (const struct tt__DateTime *dt, gint64 *out_us)
{
  g_autoptr(GDateTime) parsed = NULL;

  if (dt == NULL || dt->Date == NULL || dt->Time == NULL)
    return FALSE;
  parsed = g_date_time_new_utc (dt->Date->Year, dt->Date->Month, dt->Date->Day,
                                dt->Time->Hour, dt->Time->Minute, dt->Time->Second);
  if (parsed == NULL)
    return FALSE;
  *out_us = g_date_time_to_unix (parsed) * G_USEC_PER_SEC;
  return TRUE;
}

/* GetSystemDateAndTime, unauthenticated first, then with credentials for
 * cameras that want them even there, on @channel; sets clock_offset_us.
 * Called with @channel's lock held. */
static gboolean
relearn_clock (VigilOnvifCamera *self, Channel *channel, GCancellable *cancellable,
               GError **error)
{
  gint64 offset_us = 0;
  struct _tds__GetSystemDateAndTime request = {};
  struct _tds__GetSystemDateAndTimeResponse response = { 0 };
  struct tt__SystemDateTime *sdt;
  gint64 before_us, after_us, camera_us;
  g_autoptr(GError) local_error = NULL;

  before_us = g_get_real_time ();
  if (!invoke (self, channel, "GetSystemDateAndTime", self->device_url,
               call_GetSystemDateAndTime, FALSE, &request, &response, cancellable, &local_error))
    {
      if (self->user == NULL ||
          !g_error_matches (local_error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_AUTHORIZED))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      /* Panasonic and others: the camera's clock is unknown, so Created is in
       * ours (shifted by what we learnt before, if anything). */
      g_clear_error (&local_error);
      memset (&response, 0, sizeof response);
      before_us = g_get_real_time ();
      if (!invoke (self, channel, "GetSystemDateAndTime", self->device_url,
                   call_GetSystemDateAndTime, TRUE, &request, &response, cancellable, error))
        return FALSE;
    }
  after_us = g_get_real_time ();

  sdt = response.SystemDateAndTime;
  if (sdt != NULL && (parse_date_time (sdt->UTCDateTime, &camera_us) ||
                      parse_date_time (sdt->LocalDateTime, &camera_us)))
    /* The camera tells whole seconds: the offset is good to about one. */
    offset_us = camera_us - (before_us + after_us) / 2;
  g_mutex_lock (&self->state_lock);
  self->clock_offset_us = offset_us;
  g_mutex_unlock (&self->state_lock);
  g_debug ("%s: clock offset %" G_GINT64_FORMAT " ms", self->device_url, offset_us / 1000);
  return TRUE;
}

/* @url with the host (and, with @port_too, the port) of device_url, unless
 * keep_addresses; a copy of @url when it cannot be parsed. */
static gchar *
rewrite_address (VigilOnvifCamera *self, const gchar *url, gboolean port_too)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GUri) rewritten = NULL;

  if (url == NULL)
    return NULL;
  if (self->keep_addresses)
    return g_strdup (url);
  uri = g_uri_parse (url, G_URI_FLAGS_ENCODED, NULL);
  if (uri == NULL || g_uri_get_host (uri) == NULL)
    return g_strdup (url);
  rewritten = g_uri_build (g_uri_get_flags (uri), g_uri_get_scheme (uri),
                           g_uri_get_userinfo (uri), self->host,
                           port_too ? self->port : g_uri_get_port (uri), g_uri_get_path (uri),
                           g_uri_get_query (uri), g_uri_get_fragment (uri));
  return g_uri_to_string (rewritten);
}

/* A service address the camera gave, as vigil will call it: resolved
 * against device_url when relative, then rewritten as rewrite_address()
 * does; NULL when it is not http://HOST/..., because gSOAP, given an
 * endpoint without a host, does not connect at all but writes the request
 * to its stdout and waits for the answer on its stdin. */
static gchar *
service_address (VigilOnvifCamera *self, const gchar *xaddr)
{
  g_autofree gchar *resolved = NULL;
  g_autoptr(GUri) uri = NULL;

  if (xaddr == NULL || xaddr[0] == '\0')
    return NULL;
  resolved = g_uri_resolve_relative (self->device_url, xaddr, G_URI_FLAGS_ENCODED, NULL);
  if (resolved != NULL)
    uri = g_uri_parse (resolved, G_URI_FLAGS_ENCODED, NULL);
  if (uri == NULL || g_strcmp0 (g_uri_get_scheme (uri), "http") != 0 ||
      g_uri_get_host (uri) == NULL || g_uri_get_host (uri)[0] == '\0')
    {
      g_autofree gchar *shown = vigil_onvif_sanitize_text (xaddr, 200);

      g_debug ("%s: ignoring the service address '%s': not http://HOST/...", self->device_url,
               shown);
      return NULL;
    }
  return rewrite_address (self, resolved, TRUE);
}

static void publish_stop_target (VigilOnvifCamera *self);

static void
store_profiles (VigilOnvifCamera *self, const struct _trt__GetProfilesResponse *response)
{
  g_ptr_array_set_size (self->profiles, 0);
  /* A new table, not emptied: the stop channel may hold the old one. */
  g_hash_table_unref (self->profile_nodes);
  self->profile_nodes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (gint i = 0; i < response->__sizeProfiles; i++)
    {
      const struct tt__Profile *p = &response->Profiles[i];
      const struct tt__VideoEncoderConfiguration *vec = p->VideoEncoderConfiguration;
      VigilOnvifProfile *profile;

      if (!is_usable_token (p->token))
        continue;
      profile = g_new0 (VigilOnvifProfile, 1);
      profile->token = g_strdup (p->token);
      profile->name = camera_text (p->Name != NULL ? p->Name : p->token);
      if (vec != NULL)
        {
          profile->encoding = camera_text (vec->Encoding);
          if (vec->Resolution != NULL)
            {
              profile->width = MAX (vec->Resolution->Width, 0);
              profile->height = MAX (vec->Resolution->Height, 0);
            }
          if (vec->RateControl != NULL && vec->RateControl->FrameRateLimit != NULL)
            profile->fps = MAX (*vec->RateControl->FrameRateLimit, 0);
          if (vec->RateControl != NULL && vec->RateControl->BitrateLimit != NULL)
            profile->bitrate_kbps = MAX (*vec->RateControl->BitrateLimit, 0);
        }
      profile->has_ptz = p->PTZConfiguration != NULL;
      if (p->PTZConfiguration != NULL)
        g_hash_table_replace (self->profile_nodes, g_strdup (p->token),
                              g_strdup (p->PTZConfiguration->NodeToken != NULL
                                            ? p->PTZConfiguration->NodeToken : ""));
      g_ptr_array_add (self->profiles, profile);
    }
  publish_stop_target (self);
}

/* Called with self->lock held. */
static gboolean
fetch_profiles (VigilOnvifCamera *self, GCancellable *cancellable, GError **error)
{
  struct _trt__GetProfiles request = {};
  struct _trt__GetProfilesResponse response = { 0 };

  if (!invoke (self, &self->call, "GetProfiles", self->media_url, call_GetProfiles, TRUE, &request, &response,
               cancellable, error))
    return FALSE;
  store_profiles (self, &response);
  return TRUE;
}

/* GetServices, or GetCapabilities for cameras without it.
 * Called with self->lock held. */
static gboolean
fetch_services (VigilOnvifCamera *self, GCancellable *cancellable, GError **error)
{
  struct _tds__GetServices request = { .IncludeCapability = xsd__boolean__false_ };
  struct _tds__GetServicesResponse response = { 0 };
  struct _tds__GetCapabilities caps_request = { 0 };
  struct _tds__GetCapabilitiesResponse caps_response = { 0 };
  char *all = "All";
  g_autoptr(GError) local_error = NULL;

  g_clear_pointer (&self->media_url, g_free);
  g_clear_pointer (&self->ptz_url, g_free);
  if (invoke (self, &self->call, "GetServices", self->device_url, call_GetServices, TRUE, &request,
              &response, cancellable, &local_error))
    {
      for (gint i = 0; i < response.__sizeService; i++)
        {
          const struct tds__Service *service = &response.Service[i];

          if (g_strcmp0 (service->Namespace, NS_MEDIA) == 0 && self->media_url == NULL)
            self->media_url = service_address (self, service->XAddr);
          else if (g_strcmp0 (service->Namespace, NS_PTZ) == 0 && self->ptz_url == NULL)
            self->ptz_url = service_address (self, service->XAddr);
        }
    }
  else if (g_error_matches (local_error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_SUPPORTED) ||
           g_error_matches (local_error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_FAULT) ||
           g_error_matches (local_error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_BAD_REPLY))
    {
      g_debug ("%s", local_error->message);
      caps_request.__sizeCategory = 1;
      caps_request.Category = &all;
      if (!invoke (self, &self->call, "GetCapabilities", self->device_url, call_GetCapabilities, TRUE,
                   &caps_request, &caps_response, cancellable, error))
        return FALSE;
      if (caps_response.Capabilities != NULL)
        {
          const struct tt__Capabilities *caps = caps_response.Capabilities;

          if (caps->Media != NULL)
            self->media_url = service_address (self, caps->Media->XAddr);
          if (caps->PTZ != NULL)
            self->ptz_url = service_address (self, caps->PTZ->XAddr);
        }
    }
  else
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  /* Some cameras serve everything at one address and list no media service. */
  if (self->media_url == NULL)
    self->media_url = g_strdup (self->device_url);
  publish_stop_target (self);
  return TRUE;
}

static void
set_string (gchar **field, const gchar *value)
{
  g_free (*field);
  *field = g_strdup (value);
}

static void
set_text (gchar **field, const gchar *camera_value)
{
  g_free (*field);
  *field = camera_text (camera_value);
}

/* Called with self->lock held. */
static gboolean
connect_locked (VigilOnvifCamera *self, GCancellable *cancellable, GError **error)
{
  struct _tds__GetDeviceInformation request = {};
  struct _tds__GetDeviceInformationResponse response = { 0 };

  if (!relearn_clock (self, &self->call, cancellable, error))
    return FALSE;
  if (!invoke (self, &self->call, "GetDeviceInformation", self->device_url, call_GetDeviceInformation, TRUE,
               &request, &response, cancellable, error))
    return FALSE;
  set_text (&self->info.manufacturer, response.Manufacturer);
  set_text (&self->info.model, response.Model);
  set_text (&self->info.firmware_version, response.FirmwareVersion);
  set_text (&self->info.serial_number, response.SerialNumber);
  set_text (&self->info.hardware_id, response.HardwareId);
  if (!fetch_services (self, cancellable, error))
    return FALSE;
  if (!fetch_profiles (self, cancellable, error))
    return FALSE;
  g_clear_pointer (&self->nodes, g_ptr_array_unref);
  publish_stop_target (self);
  self->connected = TRUE;
  return TRUE;
}

static gboolean
ensure_connected (VigilOnvifCamera *self, GCancellable *cancellable, GError **error)
{
  return self->connected || connect_locked (self, cancellable, error);
}

gboolean
vigil_onvif_camera_connect (VigilOnvifCamera *self, GCancellable *cancellable, GError **error)
{
  gboolean ok;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), FALSE);
  g_rec_mutex_lock (&self->lock);
  ok = connect_locked (self, cancellable, error);
  g_rec_mutex_unlock (&self->lock);
  return ok;
}

VigilOnvifDeviceInfo *
vigil_onvif_camera_get_device_info (VigilOnvifCamera *self)
{
  VigilOnvifDeviceInfo *info;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), NULL);
  g_rec_mutex_lock (&self->lock);
  info = g_new0 (VigilOnvifDeviceInfo, 1);
  info->manufacturer = g_strdup (self->info.manufacturer);
  info->model = g_strdup (self->info.model);
  info->firmware_version = g_strdup (self->info.firmware_version);
  info->serial_number = g_strdup (self->info.serial_number);
  info->hardware_id = g_strdup (self->info.hardware_id);
  info->clock_offset_us = get_clock_offset_us (self);
  g_rec_mutex_unlock (&self->lock);
  return info;
}

GPtrArray *
vigil_onvif_camera_list_profiles (VigilOnvifCamera *self, GCancellable *cancellable,
                                  GError **error)
{
  GPtrArray *copy = NULL;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), NULL);
  g_rec_mutex_lock (&self->lock);
  if (ensure_connected (self, cancellable, error) && fetch_profiles (self, cancellable, error))
    {
      copy = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_onvif_profile_free);
      for (guint i = 0; i < self->profiles->len; i++)
        g_ptr_array_add (copy, profile_copy (self->profiles->pdata[i]));
    }
  g_rec_mutex_unlock (&self->lock);
  return copy;
}

static const VigilOnvifProfile *
find_profile (VigilOnvifCamera *self, const gchar *token, const gchar *op, GError **error)
{
  for (guint i = 0; i < self->profiles->len; i++)
    {
      const VigilOnvifProfile *profile = self->profiles->pdata[i];

      if (g_str_equal (profile->token, token))
        return profile;
    }
  g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_INVALID,
               "%s on %s: the camera has no profile with token '%s'", op, self->device_url,
               token);
  return NULL;
}

typedef enum { URI_STREAM, URI_SNAPSHOT } UriKind;

static gchar *
get_media_uri (VigilOnvifCamera *self, const gchar *profile_token, UriKind kind,
               GCancellable *cancellable, GError **error)
{
  const gchar *op = kind == URI_STREAM ? "GetStreamUri" : "GetSnapshotUri";
  struct tt__Transport transport = { .Protocol = "RTSP" };
  struct tt__StreamSetup setup = { .Stream = "RTP-Unicast", .Transport = &transport };
  struct _trt__GetStreamUri stream_request = { .StreamSetup = &setup };
  struct _trt__GetStreamUriResponse stream_response = { 0 };
  struct _trt__GetSnapshotUri snapshot_request = { 0 };
  struct _trt__GetSnapshotUriResponse snapshot_response = { 0 };
  struct tt__MediaUri *media_uri;
  gchar *result = NULL;
  gboolean ok;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), NULL);
  g_return_val_if_fail (profile_token != NULL, NULL);

  g_rec_mutex_lock (&self->lock);
  if (!ensure_connected (self, cancellable, error) || !find_profile (self, profile_token, op, error))
    {
      g_rec_mutex_unlock (&self->lock);
      return NULL;
    }
  stream_request.ProfileToken = (char *) profile_token;
  snapshot_request.ProfileToken = (char *) profile_token;
  if (kind == URI_STREAM)
    ok = invoke (self, &self->call, op, self->media_url, call_GetStreamUri, TRUE, &stream_request,
                 &stream_response, cancellable, error);
  else
    ok = invoke (self, &self->call, op, self->media_url, call_GetSnapshotUri, TRUE, &snapshot_request,
                 &snapshot_response, cancellable, error);
  if (ok)
    {
      media_uri = kind == URI_STREAM ? stream_response.MediaUri : snapshot_response.MediaUri;
      if (media_uri == NULL || media_uri->Uri == NULL || media_uri->Uri[0] == '\0')
        g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_BAD_REPLY,
                     "%s on %s: the answer holds no URI for profile '%s'", op, self->device_url,
                     profile_token);
      else if (!g_utf8_validate (media_uri->Uri, -1, NULL) ||
               vigil_onvif_has_control_chars (media_uri->Uri))
        g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_BAD_REPLY,
                     "%s on %s: the URI for profile '%s' holds bytes that are not UTF-8 or "
                     "control characters", op, self->device_url, profile_token);
      else
        /* A stream or snapshot is served on its own port (RTSP, a web
         * server): only the host is the device's. */
        result = rewrite_address (self, media_uri->Uri, FALSE);
    }
  g_rec_mutex_unlock (&self->lock);
  return result;
}

gchar *
vigil_onvif_camera_get_stream_uri (VigilOnvifCamera *self, const gchar *profile_token,
                                   GCancellable *cancellable, GError **error)
{
  return get_media_uri (self, profile_token, URI_STREAM, cancellable, error);
}

gchar *
vigil_onvif_camera_get_snapshot_uri (VigilOnvifCamera *self, const gchar *profile_token,
                                     GCancellable *cancellable, GError **error)
{
  return get_media_uri (self, profile_token, URI_SNAPSHOT, cancellable, error);
}

/* ----- PTZ --------------------------------------------------------------- */

static void
axis_set (Axis *axis, const struct tt__FloatRange *range, const gchar *uri)
{
  if (axis->present)
    return;   /* the first space listed is the one used */
  /* NaN, infinite or inverted ranges would make NaN of every value mapped
   * through them: such a range counts as not given. */
  if (range != NULL &&
      !(isfinite (range->Min) && isfinite (range->Max) && range->Min <= range->Max))
    range = NULL;
  axis->present = TRUE;
  axis->min = range != NULL ? range->Min : -1.0;
  axis->max = range != NULL ? range->Max : 1.0;
  axis->uri = g_strdup (uri);
}

static void
axis_default (Axis *axis, gdouble min, gdouble max)
{
  if (axis->present)
    return;
  axis->min = min;
  axis->max = max;
}

static Node *
node_from_camera (const struct tt__PTZNode *n)
{
  Node *node = g_new0 (Node, 1);
  const struct tt__PTZSpaces *s = n->SupportedPTZSpaces;

  node->token = g_strdup (n->token != NULL ? n->token : "");
  node->from_camera = TRUE;
  if (s != NULL)
    {
      if (s->__sizeAbsolutePanTiltPositionSpace > 0)
        {
          axis_set (&node->abs_pan, s->AbsolutePanTiltPositionSpace[0].XRange,
                    s->AbsolutePanTiltPositionSpace[0].URI);
          axis_set (&node->abs_tilt, s->AbsolutePanTiltPositionSpace[0].YRange,
                    s->AbsolutePanTiltPositionSpace[0].URI);
        }
      if (s->__sizeAbsoluteZoomPositionSpace > 0)
        axis_set (&node->abs_zoom, s->AbsoluteZoomPositionSpace[0].XRange,
                  s->AbsoluteZoomPositionSpace[0].URI);
      if (s->__sizeRelativePanTiltTranslationSpace > 0)
        {
          axis_set (&node->rel_pan, s->RelativePanTiltTranslationSpace[0].XRange,
                    s->RelativePanTiltTranslationSpace[0].URI);
          axis_set (&node->rel_tilt, s->RelativePanTiltTranslationSpace[0].YRange,
                    s->RelativePanTiltTranslationSpace[0].URI);
        }
      if (s->__sizeRelativeZoomTranslationSpace > 0)
        axis_set (&node->rel_zoom, s->RelativeZoomTranslationSpace[0].XRange,
                  s->RelativeZoomTranslationSpace[0].URI);
      if (s->__sizeContinuousPanTiltVelocitySpace > 0)
        {
          axis_set (&node->vel_pan, s->ContinuousPanTiltVelocitySpace[0].XRange,
                    s->ContinuousPanTiltVelocitySpace[0].URI);
          axis_set (&node->vel_tilt, s->ContinuousPanTiltVelocitySpace[0].YRange,
                    s->ContinuousPanTiltVelocitySpace[0].URI);
        }
      if (s->__sizeContinuousZoomVelocitySpace > 0)
        axis_set (&node->vel_zoom, s->ContinuousZoomVelocitySpace[0].XRange,
                  s->ContinuousZoomVelocitySpace[0].URI);
      if (s->__sizePanTiltSpeedSpace > 0)
        axis_set (&node->speed_pan_tilt, s->PanTiltSpeedSpace[0].XRange,
                  s->PanTiltSpeedSpace[0].URI);
      if (s->__sizeZoomSpeedSpace > 0)
        axis_set (&node->speed_zoom, s->ZoomSpeedSpace[0].XRange, s->ZoomSpeedSpace[0].URI);
    }
  node->max_presets = n->MaximumNumberOfPresets != NULL ? MAX (*n->MaximumNumberOfPresets, 0) : 0;
  node->home = n->HomeSupported != NULL && *n->HomeSupported == xsd__boolean__true_;
  return node;
}

/* Ranges for axes the camera did not describe: the generic spaces'. */
static void
node_fill_defaults (Node *node)
{
  axis_default (&node->abs_pan, -1, 1);
  axis_default (&node->abs_tilt, -1, 1);
  axis_default (&node->abs_zoom, 0, 1);
  axis_default (&node->rel_pan, -1, 1);
  axis_default (&node->rel_tilt, -1, 1);
  axis_default (&node->rel_zoom, -1, 1);
  axis_default (&node->vel_pan, -1, 1);
  axis_default (&node->vel_tilt, -1, 1);
  axis_default (&node->vel_zoom, -1, 1);
  axis_default (&node->speed_pan_tilt, 0, 1);
  axis_default (&node->speed_zoom, 0, 1);
}

/* The PTZ node behind @profile_token, fetching the nodes once.
 * Called with self->lock held. */
static const Node *
get_node (VigilOnvifCamera *self, const gchar *profile_token, const gchar *op,
          GCancellable *cancellable, GError **error)
{
  const VigilOnvifProfile *profile;
  const gchar *node_token;

  if (!ensure_connected (self, cancellable, error))
    return NULL;
  if (self->ptz_url == NULL)
    {
      g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_SUPPORTED,
                   "%s on %s: the camera has no PTZ service", op, self->device_url);
      return NULL;
    }
  profile = find_profile (self, profile_token, op, error);
  if (profile == NULL)
    return NULL;
  if (!profile->has_ptz)
    {
      g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_SUPPORTED,
                   "%s on %s: profile '%s' has no PTZ configuration", op, self->device_url,
                   profile_token);
      return NULL;
    }
  if (self->nodes == NULL)
    {
      struct _tptz__GetNodes request = {};
      struct _tptz__GetNodesResponse response = {};
      g_autoptr(GError) local_error = NULL;

      self->nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) node_free);
      if (invoke (self, &self->call, "GetNodes", self->ptz_url, call_GetNodes, TRUE, &request, &response,
                  cancellable, &local_error))
        {
          for (gint i = 0; i < response.__sizePTZNode; i++)
            g_ptr_array_add (self->nodes, node_from_camera (&response.PTZNode[i]));
        }
      else if (!g_error_matches (local_error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_SUPPORTED))
        {
          g_clear_pointer (&self->nodes, g_ptr_array_unref);
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
      if (self->nodes->len == 0)
        {
          Node *generic = g_new0 (Node, 1);

          generic->token = g_strdup ("");
          generic->vel_pan.present = generic->vel_tilt.present = generic->vel_zoom.present = TRUE;
          g_ptr_array_add (self->nodes, generic);
        }
      for (guint i = 0; i < self->nodes->len; i++)
        node_fill_defaults (self->nodes->pdata[i]);
      publish_stop_target (self);
    }
  node_token = g_hash_table_lookup (self->profile_nodes, profile_token);
  for (guint i = 0; node_token != NULL && i < self->nodes->len; i++)
    if (g_str_equal (((Node *) self->nodes->pdata[i])->token, node_token))
      return self->nodes->pdata[i];
  return self->nodes->pdata[0];
}

static gboolean
node_has_zoom (const Node *node)
{
  if (!node->from_camera)
    return TRUE;
  return (node->vel_zoom.present && node->vel_zoom.max > node->vel_zoom.min) ||
         (node->abs_zoom.present && node->abs_zoom.max > node->abs_zoom.min) ||
         (node->rel_zoom.present && node->rel_zoom.max > node->rel_zoom.min);
}

/* Generic -1..1 (or 0..1 with @unsigned_generic) to the camera's range. */
static gdouble
to_camera (const Axis *axis, gdouble value, gboolean unsigned_generic)
{
  gdouble t;

  if (unsigned_generic)
    t = CLAMP (value, 0.0, 1.0);
  else
    t = (CLAMP (value, -1.0, 1.0) + 1.0) / 2.0;
  return axis->min + t * (axis->max - axis->min);
}

static gdouble
from_camera (const Axis *axis, gdouble value, gboolean unsigned_generic)
{
  gdouble t;

  if (axis->max <= axis->min)
    return unsigned_generic ? 0.0 : 0.0;
  t = CLAMP ((value - axis->min) / (axis->max - axis->min), 0.0, 1.0);
  return unsigned_generic ? t : t * 2.0 - 1.0;
}

static gboolean
check_mode (VigilOnvifCamera *self, const Node *node, gboolean present, const gchar *op,
            const gchar *mode, GError **error)
{
  g_autofree gchar *token = NULL;

  if (!node->from_camera || present)
    return TRUE;
  token = vigil_onvif_sanitize_text (node->token, 200);
  g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_SUPPORTED,
               "%s on %s: the PTZ node '%s' does not support %s moves", op, self->device_url,
               token, mode);
  return FALSE;
}

/* A PanTilt+Zoom speed vector in the node's speed spaces; @speed < 0 leaves
 * the camera's default (returns NULL). */
static struct tt__PTZVector *
fill_speed (const Node *node, gdouble speed, struct tt__PTZVector *vector,
            struct tt__Vector2D *pan_tilt, struct tt__Vector1D *zoom, gboolean with_zoom)
{
  if (speed < 0)
    return NULL;
  pan_tilt->x = pan_tilt->y = to_camera (&node->speed_pan_tilt, speed, TRUE);
  pan_tilt->space = node->speed_pan_tilt.uri;
  vector->PanTilt = pan_tilt;
  if (with_zoom)
    {
      zoom->x = to_camera (&node->speed_zoom, speed, TRUE);
      zoom->space = node->speed_zoom.uri;
      vector->Zoom = zoom;
    }
  return vector;
}

/* One ContinuousMove on @channel; @pan_tilt/@zoom say which vectors go in.
 * Called with @channel's lock held. */
static gboolean
send_continuous (VigilOnvifCamera *self, Channel *channel, const gchar *ptz_url,
                 const gchar *profile_token, const Node *node, gdouble pan, gdouble tilt,
                 gdouble zoom, gboolean with_pan_tilt, gboolean with_zoom, const gchar *timeout,
                 GCancellable *cancellable, GError **error)
{
  struct tt__Vector2D pt = { 0 };
  struct tt__Vector1D z = { 0 };
  struct tt__PTZVector velocity = { 0 };
  struct _tptz__ContinuousMove request = { 0 };
  struct _tptz__ContinuousMoveResponse response = {};

  if (with_pan_tilt)
    {
      pt.x = to_camera (&node->vel_pan, pan, FALSE);
      pt.y = to_camera (&node->vel_tilt, tilt, FALSE);
      pt.space = node->vel_pan.uri;
      velocity.PanTilt = &pt;
    }
  if (with_zoom)
    {
      z.x = to_camera (&node->vel_zoom, zoom, FALSE);
      z.space = node->vel_zoom.uri;
      velocity.Zoom = &z;
    }
  request.ProfileToken = (char *) profile_token;
  request.Velocity = &velocity;
  request.Timeout = (char *) timeout;
  return invoke (self, channel, "ContinuousMove", ptz_url, call_ContinuousMove, TRUE, &request,
                 &response, cancellable, error);
}

/* Pan-tilt and zoom in one ContinuousMove, or in two for cameras that want
 * that. Called with @channel's lock held. */
static gboolean
send_velocity (VigilOnvifCamera *self, Channel *channel, const gchar *ptz_url,
               const gchar *profile_token, const Node *node, gdouble pan, gdouble tilt,
               gdouble zoom, gboolean with_pan_tilt, gboolean with_zoom, const gchar *timeout,
               GCancellable *cancellable, GError **error)
{
  if (g_atomic_int_get (&self->split_moves) && with_pan_tilt && with_zoom)
    return send_continuous (self, channel, ptz_url, profile_token, node, pan, tilt, zoom, TRUE,
                            FALSE, timeout, cancellable, error) &&
           send_continuous (self, channel, ptz_url, profile_token, node, pan, tilt, zoom, FALSE,
                            TRUE, timeout, cancellable, error);
  return send_continuous (self, channel, ptz_url, profile_token, node, pan, tilt, zoom,
                          with_pan_tilt, with_zoom, timeout, cancellable, error);
}

/* Stop on @channel, or a zero-velocity ContinuousMove when the camera's
 * Stop faults. Called with @channel's lock held. */
static gboolean
send_stop (VigilOnvifCamera *self, Channel *channel, const gchar *ptz_url,
           const gchar *profile_token, const Node *node, gboolean pan_tilt, gboolean zoom,
           GCancellable *cancellable, GError **error)
{
  g_autoptr(GError) local_error = NULL;

  zoom = zoom && node_has_zoom (node);
  if (!pan_tilt && !zoom)
    pan_tilt = TRUE;
  if (!g_atomic_int_get (&self->stop_broken))
    {
      enum xsd__boolean yes = xsd__boolean__true_;
      enum xsd__boolean no = xsd__boolean__false_;
      struct _tptz__Stop request = { .ProfileToken = (char *) profile_token,
                                     .PanTilt = pan_tilt ? &yes : &no,
                                     .Zoom = zoom ? &yes : &no };
      struct _tptz__StopResponse response = {};

      if (invoke (self, channel, "Stop", ptz_url, call_Stop, TRUE, &request, &response,
                  cancellable, &local_error))
        return TRUE;
      if (!g_error_matches (local_error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_FAULT) &&
          !g_error_matches (local_error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_SUPPORTED))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      g_debug ("%s; stopping with zero velocities from now on", local_error->message);
      g_atomic_int_set (&self->stop_broken, TRUE);
    }
  return send_velocity (self, channel, ptz_url, profile_token, node, 0, 0, 0, pan_tilt, zoom,
                        NULL, cancellable, error);
}

/* The Stop of the call path, for when the stop channel cannot serve it yet
 * (nodes not fetched). Called with self->lock held. */
static gboolean
stop_locked (VigilOnvifCamera *self, const gchar *profile_token, gboolean pan_tilt,
             gboolean zoom, GCancellable *cancellable, GError **error)
{
  const Node *node = get_node (self, profile_token, "Stop", cancellable, error);

  if (node == NULL)
    return FALSE;
  return send_stop (self, &self->call, self->ptz_url, profile_token, node, pan_tilt, zoom,
                    cancellable, error);
}

/* Makes what a Stop needs (PTZ address, nodes, which profiles have PTZ)
 * readable by the stop channel. Called with self->lock held, whenever one
 * of them changes. */
static void
publish_stop_target (VigilOnvifCamera *self)
{
  g_mutex_lock (&self->state_lock);
  set_string (&self->stop_ptz_url, self->ptz_url);
  g_clear_pointer (&self->stop_nodes, g_ptr_array_unref);
  if (self->nodes != NULL)
    self->stop_nodes = g_ptr_array_ref (self->nodes);
  g_clear_pointer (&self->stop_profile_nodes, g_hash_table_unref);
  self->stop_profile_nodes = g_hash_table_ref (self->profile_nodes);
  g_mutex_unlock (&self->state_lock);
}

/* The node of @profile_token as published, with the PTZ address and a
 * reference on the node array in @out_url and @out_nodes; NULL when the
 * stop channel cannot serve it (no nodes yet, unknown profile or no PTZ):
 * then the caller takes the call path, which knows or learns why. */
static const Node *
get_stop_target (VigilOnvifCamera *self, const gchar *profile_token, gchar **out_url,
                 GPtrArray **out_nodes)
{
  const Node *node = NULL;
  const gchar *node_token;

  g_mutex_lock (&self->state_lock);
  if (self->stop_ptz_url != NULL && self->stop_nodes != NULL && self->stop_nodes->len > 0 &&
      self->stop_profile_nodes != NULL &&
      g_hash_table_lookup_extended (self->stop_profile_nodes, profile_token, NULL,
                                    (gpointer *) &node_token))
    {
      node = self->stop_nodes->pdata[0];
      for (guint i = 0; i < self->stop_nodes->len; i++)
        if (g_str_equal (((Node *) self->stop_nodes->pdata[i])->token, node_token))
          node = self->stop_nodes->pdata[i];
      *out_url = g_strdup (self->stop_ptz_url);
      *out_nodes = g_ptr_array_ref (self->stop_nodes);
    }
  g_mutex_unlock (&self->state_lock);
  return node;
}

/* Called with self->stop_lock held. Takes the pending stop if it is due
 * and no move is being sent (that move replaces it, or leaves it due). */
static gboolean
take_due_stop (VigilOnvifCamera *self, gchar **profile, gboolean *pan_tilt, gboolean *zoom)
{
  if (self->stop_deadline_us == 0 || self->move_in_flight ||
      (!self->stop_quit && g_get_monotonic_time () < self->stop_deadline_us))
    return FALSE;
  *profile = g_steal_pointer (&self->stop_profile);
  *pan_tilt = self->stop_pan_tilt;
  *zoom = self->stop_zoom;
  self->stop_pan_tilt = self->stop_zoom = FALSE;
  self->stop_deadline_us = 0;
  return TRUE;
}

/* Sends the pending stop if it is still due: on the stop channel when it
 * knows the profile's node, else on the call path. Runs on the stop thread,
 * without locks. */
static void
send_due_stop (VigilOnvifCamera *self)
{
  g_autofree gchar *profile = NULL;
  g_autofree gchar *url = NULL;
  g_autoptr(GPtrArray) nodes = NULL;
  g_autoptr(GError) error = NULL;
  gboolean pan_tilt, zoom, due, ok;
  const Node *node = NULL;

  /* The stop channel first: its lock before stop_lock (lock order), and
   * held across the check and the Stop, so that a move cannot be sent in
   * between (begin_move() takes it too). */
  g_mutex_lock (&self->stop_call_lock);
  g_mutex_lock (&self->stop_lock);
  if (self->stop_profile != NULL)
    node = get_stop_target (self, self->stop_profile, &url, &nodes);
  due = node != NULL && take_due_stop (self, &profile, &pan_tilt, &zoom);
  g_mutex_unlock (&self->stop_lock);
  if (due)
    {
      ok = send_stop (self, &self->stop_call, url, profile, node, pan_tilt, zoom, NULL, &error);
      g_mutex_unlock (&self->stop_call_lock);
      if (!ok)
        g_warning ("could not end a continuous move of profile '%s': %s", profile,
                   error->message);
      return;
    }
  g_mutex_unlock (&self->stop_call_lock);
  if (node != NULL)
    return;   /* replaced, or a move is being sent */

  /* The call path: the camera lock first (lock order), then re-check that
   * no new move or Stop replaced this one meanwhile. */
  g_rec_mutex_lock (&self->lock);
  g_mutex_lock (&self->stop_lock);
  due = take_due_stop (self, &profile, &pan_tilt, &zoom);
  g_mutex_unlock (&self->stop_lock);
  if (due && !stop_locked (self, profile, pan_tilt, zoom, NULL, &error))
    g_warning ("could not end a continuous move of profile '%s': %s", profile, error->message);
  g_rec_mutex_unlock (&self->lock);
}

/* The stop thread: waits for the pending stop's deadline, then sends it.
 * On quit (dispose), a pending stop is sent at once: a camera must not be
 * left moving. Runs on its own thread. */
static gpointer
stop_thread_main (gpointer data)
{
  VigilOnvifCamera *self = data;

  g_mutex_lock (&self->stop_lock);
  for (;;)
    {
      if (self->stop_deadline_us == 0)
        {
          if (self->stop_quit)
            break;
          g_cond_wait (&self->stop_cond, &self->stop_lock);
          continue;
        }
      if (!self->stop_quit && g_get_monotonic_time () < self->stop_deadline_us)
        {
          g_cond_wait_until (&self->stop_cond, &self->stop_lock, self->stop_deadline_us);
          continue;
        }
      /* Due; a move being sent replaces it or leaves it due: wait for that
       * (end_move() signals). Moves are not sent during dispose. */
      if (self->move_in_flight)
        {
          g_cond_wait (&self->stop_cond, &self->stop_lock);
          continue;
        }
      g_mutex_unlock (&self->stop_lock);
      send_due_stop (self);
      g_mutex_lock (&self->stop_lock);
    }
  g_mutex_unlock (&self->stop_lock);
  return NULL;
}

static void
stop_thread_join (VigilOnvifCamera *self)
{
  GThread *thread;

  g_mutex_lock (&self->stop_lock);
  self->stop_quit = TRUE;
  thread = g_steal_pointer (&self->stop_thread);
  g_cond_signal (&self->stop_cond);
  g_mutex_unlock (&self->stop_lock);
  if (thread != NULL)
    g_thread_join (thread);
}

/* Called with self->stop_lock held. */
static void
schedule_stop_unlocked (VigilOnvifCamera *self, const gchar *profile_token, gint64 deadline_us,
                        gboolean pan_tilt, gboolean zoom)
{
  if (self->stop_profile != NULL && !g_str_equal (self->stop_profile, profile_token))
    {
      self->stop_pan_tilt = FALSE;
      self->stop_zoom = FALSE;
    }
  set_string (&self->stop_profile, profile_token);
  self->stop_pan_tilt |= pan_tilt;
  self->stop_zoom |= zoom;
  self->stop_deadline_us = deadline_us;
  if (self->stop_thread == NULL && !self->stop_quit)
    self->stop_thread = g_thread_new ("vigil-onvif-stop", stop_thread_main, self);
  g_cond_signal (&self->stop_cond);
}

/* Called with self->lock held, or by the operator's Stop with
 * stop_call_lock held (@operator: moves in flight are overtaken). */
static void
cancel_pending_stop (VigilOnvifCamera *self, gboolean operator)
{
  g_mutex_lock (&self->stop_lock);
  self->stop_deadline_us = 0;
  self->stop_pan_tilt = self->stop_zoom = FALSE;
  g_clear_pointer (&self->stop_profile, g_free);
  if (operator)
    self->stop_generation++;
  g_cond_signal (&self->stop_cond);
  g_mutex_unlock (&self->stop_lock);
}

/* Before a move is sent on `call`: waits for a Stop being sent on the stop
 * channel (it must reach the camera first), and holds a due stop back until
 * end_move(). Returns the operator-Stop count for end_move().
 * Called with self->lock held. */
static guint
begin_move (VigilOnvifCamera *self)
{
  guint generation;

  g_mutex_lock (&self->stop_call_lock);
  g_mutex_lock (&self->stop_lock);
  self->move_in_flight = TRUE;
  generation = self->stop_generation;
  g_mutex_unlock (&self->stop_lock);
  g_mutex_unlock (&self->stop_call_lock);
  return generation;
}

/* After the move begun at @generation: a ContinuousMove that @succeeded
 * gets its stop @duration_ms from now. A move that an operator's Stop
 * overtook (sent while it was in flight; the camera may have taken them in
 * either order) is stopped again at once. Called with self->lock held. */
static void
end_move (VigilOnvifCamera *self, guint generation, gboolean succeeded,
          const gchar *profile_token, gboolean continuous, guint duration_ms, gboolean pan_tilt,
          gboolean zoom)
{
  gboolean overtaken;

  g_mutex_lock (&self->stop_lock);
  self->move_in_flight = FALSE;
  overtaken = generation != self->stop_generation;
  if (succeeded && overtaken)
    schedule_stop_unlocked (self, profile_token, g_get_monotonic_time (), TRUE, TRUE);
  else if (succeeded && continuous)
    schedule_stop_unlocked (self, profile_token,
                            g_get_monotonic_time () + (gint64) duration_ms * 1000, pan_tilt,
                            zoom);
  g_cond_signal (&self->stop_cond);
  g_mutex_unlock (&self->stop_lock);
}

gboolean
vigil_onvif_camera_continuous_move (VigilOnvifCamera *self, const gchar *profile_token,
                                    gdouble pan_velocity, gdouble tilt_velocity,
                                    gdouble zoom_velocity, guint duration_ms,
                                    GCancellable *cancellable, GError **error)
{
  const Node *node;
  gboolean with_pan_tilt, with_zoom, ok;
  g_autofree gchar *timeout = NULL;
  g_autoptr(GError) local_error = NULL;
  guint generation;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), FALSE);
  g_return_val_if_fail (profile_token != NULL, FALSE);

  duration_ms = CLAMP (duration_ms, MIN_MOVE_MS, MAX_MOVE_MS);
  g_rec_mutex_lock (&self->lock);
  node = get_node (self, profile_token, "ContinuousMove", cancellable, error);
  if (node == NULL || !check_mode (self, node, node->vel_pan.present || node->vel_zoom.present,
                                   "ContinuousMove", "continuous", error))
    {
      g_rec_mutex_unlock (&self->lock);
      return FALSE;
    }
  with_zoom = zoom_velocity != 0 && node_has_zoom (node);
  with_pan_tilt = pan_velocity != 0 || tilt_velocity != 0 || !with_zoom;
  timeout = g_strdup_printf ("PT%u.%03uS", duration_ms / 1000, duration_ms % 1000);

  generation = begin_move (self);
  ok = send_velocity (self, &self->call, self->ptz_url, profile_token, node, pan_velocity,
                      tilt_velocity, zoom_velocity, with_pan_tilt, with_zoom,
                      self->omit_timeout ? NULL : timeout, cancellable, &local_error);
  /* Bosch and others reject the optional Timeout: vigil's timer stops anyway. */
  if (!ok && !self->omit_timeout &&
      g_error_matches (local_error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_FAULT))
    {
      g_debug ("%s; trying without Timeout", local_error->message);
      g_clear_error (&local_error);
      ok = send_velocity (self, &self->call, self->ptz_url, profile_token, node, pan_velocity,
                          tilt_velocity, zoom_velocity, with_pan_tilt, with_zoom, NULL,
                          cancellable, &local_error);
      if (ok)
        self->omit_timeout = TRUE;
    }
  /* Some Sony models take pan-tilt and zoom only one at a time. */
  if (!ok && with_pan_tilt && with_zoom && !g_atomic_int_get (&self->split_moves) &&
      g_error_matches (local_error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_FAULT))
    {
      g_debug ("%s; moving pan-tilt and zoom separately", local_error->message);
      g_clear_error (&local_error);
      g_atomic_int_set (&self->split_moves, TRUE);
      ok = send_velocity (self, &self->call, self->ptz_url, profile_token, node, pan_velocity,
                          tilt_velocity, zoom_velocity, with_pan_tilt, with_zoom,
                          self->omit_timeout ? NULL : timeout, cancellable, &local_error);
      if (!ok)
        g_atomic_int_set (&self->split_moves, FALSE);
    }
  end_move (self, generation, ok, profile_token, TRUE, duration_ms, with_pan_tilt, with_zoom);
  if (!ok)
    g_propagate_error (error, g_steal_pointer (&local_error));
  g_rec_mutex_unlock (&self->lock);
  return ok;
}

gboolean
vigil_onvif_camera_stop (VigilOnvifCamera *self, const gchar *profile_token,
                         GCancellable *cancellable, GError **error)
{
  g_autofree gchar *url = NULL;
  g_autoptr(GPtrArray) nodes = NULL;
  const Node *node;
  gboolean ok;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), FALSE);
  g_return_val_if_fail (profile_token != NULL, FALSE);

  /* On the stop channel, whatever call is in progress on the other. */
  node = get_stop_target (self, profile_token, &url, &nodes);
  if (node != NULL)
    {
      g_mutex_lock (&self->stop_call_lock);
      cancel_pending_stop (self, TRUE);
      ok = send_stop (self, &self->stop_call, url, profile_token, node, TRUE, TRUE, cancellable,
                      error);
      g_mutex_unlock (&self->stop_call_lock);
      return ok;
    }
  g_rec_mutex_lock (&self->lock);
  cancel_pending_stop (self, TRUE);
  ok = stop_locked (self, profile_token, TRUE, TRUE, cancellable, error);
  g_rec_mutex_unlock (&self->lock);
  return ok;
}

gboolean
vigil_onvif_camera_relative_move (VigilOnvifCamera *self, const gchar *profile_token, gdouble pan,
                                  gdouble tilt, gdouble zoom, gdouble speed,
                                  GCancellable *cancellable, GError **error)
{
  const Node *node;
  struct tt__Vector2D pt = { 0 }, speed_pt = { 0 };
  struct tt__Vector1D z = { 0 }, speed_z = { 0 };
  struct tt__PTZVector translation = { 0 }, speed_vector = { 0 };
  struct _tptz__RelativeMove request = { 0 };
  struct _tptz__RelativeMoveResponse response = {};
  gboolean with_zoom, ok = FALSE;
  guint generation;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), FALSE);
  g_return_val_if_fail (profile_token != NULL, FALSE);
  g_rec_mutex_lock (&self->lock);
  node = get_node (self, profile_token, "RelativeMove", cancellable, error);
  if (node != NULL && check_mode (self, node, node->rel_pan.present || node->rel_zoom.present,
                                  "RelativeMove", "relative", error))
    {
      with_zoom = zoom != 0 && node_has_zoom (node);
      pt.x = to_camera (&node->rel_pan, pan, FALSE);
      pt.y = to_camera (&node->rel_tilt, tilt, FALSE);
      pt.space = node->rel_pan.uri;
      translation.PanTilt = &pt;
      if (with_zoom)
        {
          z.x = to_camera (&node->rel_zoom, zoom, FALSE);
          z.space = node->rel_zoom.uri;
          translation.Zoom = &z;
        }
      request.ProfileToken = (char *) profile_token;
      request.Translation = &translation;
      request.Speed = fill_speed (node, speed, &speed_vector, &speed_pt, &speed_z, with_zoom);
      cancel_pending_stop (self, FALSE);
      generation = begin_move (self);
      ok = invoke (self, &self->call, "RelativeMove", self->ptz_url, call_RelativeMove, TRUE,
                   &request, &response, cancellable, error);
      end_move (self, generation, ok, profile_token, FALSE, 0, TRUE, with_zoom);
    }
  g_rec_mutex_unlock (&self->lock);
  return ok;
}

gboolean
vigil_onvif_camera_absolute_move (VigilOnvifCamera *self, const gchar *profile_token, gdouble pan,
                                  gdouble tilt, gdouble zoom, gdouble speed,
                                  GCancellable *cancellable, GError **error)
{
  const Node *node;
  struct tt__Vector2D pt = { 0 }, speed_pt = { 0 };
  struct tt__Vector1D z = { 0 }, speed_z = { 0 };
  struct tt__PTZVector position = { 0 }, speed_vector = { 0 };
  struct _tptz__AbsoluteMove request = { 0 };
  struct _tptz__AbsoluteMoveResponse response = {};
  gboolean with_zoom, ok = FALSE;
  guint generation;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), FALSE);
  g_return_val_if_fail (profile_token != NULL, FALSE);
  g_rec_mutex_lock (&self->lock);
  node = get_node (self, profile_token, "AbsoluteMove", cancellable, error);
  if (node != NULL && check_mode (self, node, node->abs_pan.present || node->abs_zoom.present,
                                  "AbsoluteMove", "absolute", error))
    {
      with_zoom = zoom >= 0 && node_has_zoom (node);
      pt.x = to_camera (&node->abs_pan, pan, FALSE);
      pt.y = to_camera (&node->abs_tilt, tilt, FALSE);
      pt.space = node->abs_pan.uri;
      position.PanTilt = &pt;
      if (with_zoom)
        {
          z.x = to_camera (&node->abs_zoom, zoom, TRUE);
          z.space = node->abs_zoom.uri;
          position.Zoom = &z;
        }
      request.ProfileToken = (char *) profile_token;
      request.Position = &position;
      request.Speed = fill_speed (node, speed, &speed_vector, &speed_pt, &speed_z, with_zoom);
      cancel_pending_stop (self, FALSE);
      generation = begin_move (self);
      ok = invoke (self, &self->call, "AbsoluteMove", self->ptz_url, call_AbsoluteMove, TRUE,
                   &request, &response, cancellable, error);
      end_move (self, generation, ok, profile_token, FALSE, 0, TRUE, with_zoom);
    }
  g_rec_mutex_unlock (&self->lock);
  return ok;
}

gboolean
vigil_onvif_camera_get_ptz_capabilities (VigilOnvifCamera *self, const gchar *profile_token,
                                         VigilOnvifPtzCapabilities *out,
                                         GCancellable *cancellable, GError **error)
{
  const Node *node;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), FALSE);
  g_return_val_if_fail (profile_token != NULL && out != NULL, FALSE);
  g_rec_mutex_lock (&self->lock);
  node = get_node (self, profile_token, "GetNodes", cancellable, error);
  if (node != NULL)
    {
      out->continuous = !node->from_camera || node->vel_pan.present || node->vel_zoom.present;
      out->relative = !node->from_camera || node->rel_pan.present || node->rel_zoom.present;
      out->absolute = !node->from_camera || node->abs_pan.present || node->abs_zoom.present;
      out->has_zoom = node_has_zoom (node);
      out->home = node->home;
      out->max_presets = node->max_presets;
    }
  g_rec_mutex_unlock (&self->lock);
  return node != NULL;
}

static VigilOnvifMoveStatus
parse_move_status (const gchar *text)
{
  if (g_strcmp0 (text, "IDLE") == 0)
    return VIGIL_ONVIF_MOVE_IDLE;
  if (g_strcmp0 (text, "MOVING") == 0)
    return VIGIL_ONVIF_MOVE_MOVING;
  return VIGIL_ONVIF_MOVE_UNKNOWN;
}

/* A camera position in generic terms; FALSE when it has no pan-tilt, or
 * when a coordinate is NaN or infinite. */
static gboolean
position_from_camera (const Node *node, const struct tt__PTZVector *position, gdouble *pan,
                      gdouble *tilt, gdouble *zoom)
{
  if (position == NULL || position->PanTilt == NULL || !isfinite (position->PanTilt->x) ||
      !isfinite (position->PanTilt->y) ||
      (position->Zoom != NULL && !isfinite (position->Zoom->x)))
    return FALSE;
  *pan = from_camera (&node->abs_pan, position->PanTilt->x, FALSE);
  *tilt = from_camera (&node->abs_tilt, position->PanTilt->y, FALSE);
  *zoom = position->Zoom != NULL ? from_camera (&node->abs_zoom, position->Zoom->x, TRUE) : 0.0;
  return TRUE;
}

gboolean
vigil_onvif_camera_get_ptz_status (VigilOnvifCamera *self, const gchar *profile_token,
                                   VigilOnvifPtzStatus *out, GCancellable *cancellable,
                                   GError **error)
{
  const Node *node;
  struct _tptz__GetStatus request = { .ProfileToken = (char *) profile_token };
  struct _tptz__GetStatusResponse response = { 0 };
  gboolean ok = FALSE;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), FALSE);
  g_return_val_if_fail (profile_token != NULL && out != NULL, FALSE);
  memset (out, 0, sizeof *out);
  g_rec_mutex_lock (&self->lock);
  node = get_node (self, profile_token, "GetStatus", cancellable, error);
  if (node != NULL && invoke (self, &self->call, "GetStatus", self->ptz_url, call_GetStatus, TRUE, &request,
                              &response, cancellable, error))
    {
      const struct tt__PTZStatus *status = response.PTZStatus;

      ok = TRUE;
      if (status != NULL)
        {
          out->has_position = position_from_camera (node, status->Position, &out->pan,
                                                     &out->tilt, &out->zoom);
          if (status->MoveStatus != NULL)
            {
              out->pan_tilt_status = parse_move_status (status->MoveStatus->PanTilt);
              out->zoom_status = parse_move_status (status->MoveStatus->Zoom);
            }
        }
    }
  g_rec_mutex_unlock (&self->lock);
  return ok;
}

/* Called with self->lock held. */
static GPtrArray *
list_presets_locked (VigilOnvifCamera *self, const gchar *profile_token,
                     GCancellable *cancellable, GError **error)
{
  const Node *node;
  struct _tptz__GetPresets request = { .ProfileToken = (char *) profile_token };
  struct _tptz__GetPresetsResponse response = { 0 };
  GPtrArray *presets;

  node = get_node (self, profile_token, "GetPresets", cancellable, error);
  if (node == NULL || !invoke (self, &self->call, "GetPresets", self->ptz_url, call_GetPresets, TRUE,
                               &request, &response, cancellable, error))
    return NULL;
  presets = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_onvif_preset_free);
  for (gint i = 0; i < response.__sizePreset; i++)
    {
      const struct tt__PTZPreset *p = &response.Preset[i];
      VigilOnvifPreset *preset;

      if (!is_usable_token (p->token))
        continue;
      preset = g_new0 (VigilOnvifPreset, 1);
      preset->token = g_strdup (p->token);
      preset->name = camera_text (p->Name);
      preset->has_position = position_from_camera (node, p->PTZPosition, &preset->pan,
                                                   &preset->tilt, &preset->zoom);
      g_ptr_array_add (presets, preset);
    }
  return presets;
}

GPtrArray *
vigil_onvif_camera_list_presets (VigilOnvifCamera *self, const gchar *profile_token,
                                 GCancellable *cancellable, GError **error)
{
  GPtrArray *presets;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), NULL);
  g_return_val_if_fail (profile_token != NULL, NULL);
  g_rec_mutex_lock (&self->lock);
  presets = list_presets_locked (self, profile_token, cancellable, error);
  g_rec_mutex_unlock (&self->lock);
  return presets;
}

gchar *
vigil_onvif_camera_set_preset (VigilOnvifCamera *self, const gchar *profile_token,
                               const gchar *name, GCancellable *cancellable, GError **error)
{
  g_autoptr(GPtrArray) presets = NULL;
  struct _tptz__SetPreset request = { .ProfileToken = (char *) profile_token };
  struct _tptz__SetPresetResponse response = { 0 };
  gchar *token = NULL;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), NULL);
  g_return_val_if_fail (profile_token != NULL, NULL);
  if (name == NULL || name[0] == '\0')
    {
      g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_INVALID,
                   "SetPreset on %s: the preset name is empty", self->device_url);
      return NULL;
    }
  g_rec_mutex_lock (&self->lock);
  presets = list_presets_locked (self, profile_token, cancellable, error);
  if (presets != NULL)
    {
      /* A preset of that name is overwritten, not duplicated. */
      for (guint i = 0; i < presets->len; i++)
        {
          VigilOnvifPreset *preset = presets->pdata[i];

          if (g_strcmp0 (preset->name, name) == 0)
            request.PresetToken = preset->token;
        }
      request.PresetName = (char *) name;
      if (invoke (self, &self->call, "SetPreset", self->ptz_url, call_SetPreset, TRUE, &request, &response,
                  cancellable, error))
        {
          if (response.PresetToken != NULL && response.PresetToken[0] != '\0' &&
              is_usable_token (response.PresetToken))
            token = g_strdup (response.PresetToken);
          else if (response.PresetToken != NULL && response.PresetToken[0] != '\0')
            g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_BAD_REPLY,
                         "SetPreset on %s: the preset token in the answer is not UTF-8",
                         self->device_url);
          else if (request.PresetToken != NULL)
            token = g_strdup (request.PresetToken);
          else
            g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_BAD_REPLY,
                         "SetPreset on %s: the answer holds no preset token",
                         self->device_url);
        }
    }
  g_rec_mutex_unlock (&self->lock);
  return token;
}

gboolean
vigil_onvif_camera_goto_preset (VigilOnvifCamera *self, const gchar *profile_token,
                                const gchar *preset_token, gdouble speed,
                                GCancellable *cancellable, GError **error)
{
  const Node *node;
  struct tt__Vector2D speed_pt = { 0 };
  struct tt__Vector1D speed_z = { 0 };
  struct tt__PTZVector speed_vector = { 0 };
  struct _tptz__GotoPreset request = { .ProfileToken = (char *) profile_token,
                                       .PresetToken = (char *) preset_token };
  struct _tptz__GotoPresetResponse response = {};
  gboolean ok = FALSE;
  guint generation;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), FALSE);
  g_return_val_if_fail (profile_token != NULL && preset_token != NULL, FALSE);
  g_rec_mutex_lock (&self->lock);
  node = get_node (self, profile_token, "GotoPreset", cancellable, error);
  if (node != NULL)
    {
      request.Speed = fill_speed (node, speed, &speed_vector, &speed_pt, &speed_z,
                                  node_has_zoom (node));
      cancel_pending_stop (self, FALSE);
      generation = begin_move (self);
      ok = invoke (self, &self->call, "GotoPreset", self->ptz_url, call_GotoPreset, TRUE, &request,
                   &response, cancellable, error);
      end_move (self, generation, ok, profile_token, FALSE, 0, TRUE, TRUE);
    }
  g_rec_mutex_unlock (&self->lock);
  return ok;
}

gboolean
vigil_onvif_camera_remove_preset (VigilOnvifCamera *self, const gchar *profile_token,
                                  const gchar *preset_token, GCancellable *cancellable,
                                  GError **error)
{
  struct _tptz__RemovePreset request = { .ProfileToken = (char *) profile_token,
                                         .PresetToken = (char *) preset_token };
  struct _tptz__RemovePresetResponse response = {};
  gboolean ok = FALSE;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), FALSE);
  g_return_val_if_fail (profile_token != NULL && preset_token != NULL, FALSE);
  g_rec_mutex_lock (&self->lock);
  if (get_node (self, profile_token, "RemovePreset", cancellable, error) != NULL)
    ok = invoke (self, &self->call, "RemovePreset", self->ptz_url, call_RemovePreset, TRUE, &request,
                 &response, cancellable, error);
  g_rec_mutex_unlock (&self->lock);
  return ok;
}
