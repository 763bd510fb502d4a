/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilOnvifCamera: one ONVIF camera seen through gSOAP. This file is its
 * core: the object and its two `struct soap` (channels): `call`, reused for
 * every call under the camera's lock, and `stop_call`, which only the PTZ
 * half (vigil-onvif-ptz.c) uses, for Stop; the in-memory transport; one
 * SOAP exchange with the retries authentication needs (invoke); and what
 * the camera tells before any PTZ call: its clock offset (for WS-Security
 * Created), whether it wants HTTP digest (per channel: each has its own
 * digest session), device information, where its media and PTZ services
 * live, its profiles and their stream and snapshot addresses. What a Stop
 * needs of that is published for the stop channel whenever it changes
 * (vigil_onvif_camera_publish_stop_target()). It must never put a password
 * in a log line or an error, never block the caller past the configured
 * timeout per request, and never let a gSOAP type out of onvif/.
 *
 * Threads: any thread may call; the camera's GRecMutex serialises calls,
 * except Stops on the stop channel (see vigil-onvif-ptz.c). Lock order:
 * lock, stop_call_lock, stop_lock, state_lock, reply_lock. */

#include "vigil-onvif.h"
#include "vigil-onvif-private.h"
#include "vigil-onvif-camera-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

G_DEFINE_QUARK (vigil-onvif-error-quark, vigil_onvif_error)

#define DEFAULT_TIMEOUT_MS 5000
/* Bigger answers are refused: no ONVIF reply vigil asks for comes near. */
#define MAX_REPLY_BYTES (1024 * 1024)

#define NS_MEDIA "http://www.onvif.org/ver10/media/wsdl"
#define NS_PTZ "http://www.onvif.org/ver20/ptz/wsdl"
#define WSSE_DIGEST_TYPE \
  "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
#define WSSE_BASE64_TYPE \
  "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"

G_DEFINE_TYPE (VigilOnvifCamera, vigil_onvif_camera, G_TYPE_OBJECT)

gchar *
vigil_onvif_camera_text (const gchar *text)
{
  return text != NULL ? g_utf8_make_valid (text, -1) : NULL;
}

gboolean
vigil_onvif_is_usable_token (const gchar *token)
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

static VigilOnvifProfile *
profile_copy (const VigilOnvifProfile *p)
{
  VigilOnvifProfile *copy = g_memdup2 (p, sizeof *p);

  copy->token = g_strdup (p->token);
  copy->name = g_strdup (p->name);
  copy->encoding = g_strdup (p->encoding);
  return copy;
}

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

  vigil_onvif_camera_stop_thread_join (self);
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

/* Called with the lock of @channel's owner held. */
static void
channel_forget_digest (Channel *channel)
{
  if (channel->soap != NULL && channel->use_digest)
    http_da_release (channel->soap, &channel->da_info);
  channel->use_digest = FALSE;
}

void
vigil_onvif_camera_set_password (VigilOnvifCamera *self, const gchar *password)
{
  g_return_if_fail (VIGIL_ONVIF_IS_CAMERA (self));

  g_rec_mutex_lock (&self->lock);
  g_mutex_lock (&self->stop_call_lock);
  if (self->user != NULL && g_strcmp0 (self->password, password != NULL ? password : "") != 0)
    {
      memset (self->password, 0, strlen (self->password));
      g_free (self->password);
      self->password = g_strdup (password != NULL ? password : "");
      /* HTTP digest keeps the credentials it was set up with. */
      channel_forget_digest (&self->call);
      channel_forget_digest (&self->stop_call);
    }
  g_mutex_unlock (&self->stop_call_lock);
  g_rec_mutex_unlock (&self->lock);
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

DEFINE_CALL (tds, GetSystemDateAndTime)
DEFINE_CALL (tds, GetDeviceInformation)
DEFINE_CALL (tds, GetServices)
DEFINE_CALL (tds, GetCapabilities)
DEFINE_CALL (trt, GetProfiles)
DEFINE_CALL (trt, GetStreamUri)
DEFINE_CALL (trt, GetSnapshotUri)

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
  g_autofree gchar *reason = vigil_text_sanitize (soap_fault_string (soap) != NULL ? soap_fault_string (soap) : "(none)", 200,
                                                    VIGIL_TEXT_DEFAULT);
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
      g_autofree gchar *codes = vigil_text_sanitize (raw_codes != NULL ? raw_codes : "(none)", 200, VIGIL_TEXT_DEFAULT);

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
gboolean
vigil_onvif_camera_invoke (VigilOnvifCamera *self, Channel *channel, const gchar *op,
                           const gchar *url, CallFunc call, gboolean authenticate, void *request,
                           void *response, GCancellable *cancellable, GError **error)
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
  if (!vigil_onvif_camera_invoke (self, channel, "GetSystemDateAndTime", self->device_url,
                                  call_GetSystemDateAndTime, FALSE, &request, &response,
                                  cancellable, &local_error))
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
      if (!vigil_onvif_camera_invoke (self, channel, "GetSystemDateAndTime", self->device_url,
                                      call_GetSystemDateAndTime, TRUE, &request, &response,
                                      cancellable, error))
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
      g_autofree gchar *shown = vigil_text_sanitize (xaddr, 200, VIGIL_TEXT_DEFAULT);

      g_debug ("%s: ignoring the service address '%s': not http://HOST/...", self->device_url,
               shown);
      return NULL;
    }
  return rewrite_address (self, resolved, TRUE);
}

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

      if (!vigil_onvif_is_usable_token (p->token))
        continue;
      profile = g_new0 (VigilOnvifProfile, 1);
      profile->token = g_strdup (p->token);
      profile->name = vigil_onvif_camera_text (p->Name != NULL ? p->Name : p->token);
      if (vec != NULL)
        {
          profile->encoding = vigil_onvif_camera_text (vec->Encoding);
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
  vigil_onvif_camera_publish_stop_target (self);
}

/* Called with self->lock held. */
static gboolean
fetch_profiles (VigilOnvifCamera *self, GCancellable *cancellable, GError **error)
{
  struct _trt__GetProfiles request = {};
  struct _trt__GetProfilesResponse response = { 0 };

  if (!vigil_onvif_camera_invoke (self, &self->call, "GetProfiles", self->media_url,
                                  call_GetProfiles, TRUE, &request, &response, cancellable, error))
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
  if (vigil_onvif_camera_invoke (self, &self->call, "GetServices", self->device_url,
                                 call_GetServices, TRUE, &request, &response, cancellable,
                                 &local_error))
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
      if (!vigil_onvif_camera_invoke (self, &self->call, "GetCapabilities", self->device_url,
                                      call_GetCapabilities, TRUE, &caps_request, &caps_response,
                                      cancellable, error))
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
  vigil_onvif_camera_publish_stop_target (self);
  return TRUE;
}

static void
set_text (gchar **field, const gchar *camera_value)
{
  g_free (*field);
  *field = vigil_onvif_camera_text (camera_value);
}

/* Called with self->lock held. */
static gboolean
connect_locked (VigilOnvifCamera *self, GCancellable *cancellable, GError **error)
{
  struct _tds__GetDeviceInformation request = {};
  struct _tds__GetDeviceInformationResponse response = { 0 };

  if (!relearn_clock (self, &self->call, cancellable, error))
    return FALSE;
  if (!vigil_onvif_camera_invoke (self, &self->call, "GetDeviceInformation", self->device_url,
                                  call_GetDeviceInformation, TRUE, &request, &response, cancellable,
                                  error))
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
  vigil_onvif_camera_publish_stop_target (self);
  self->connected = TRUE;
  return TRUE;
}

gboolean
vigil_onvif_camera_ensure_connected (VigilOnvifCamera *self, GCancellable *cancellable,
                                     GError **error)
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
  if (vigil_onvif_camera_ensure_connected (self, cancellable, error) &&
      fetch_profiles (self, cancellable, error))
    {
      copy = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_onvif_profile_free);
      for (guint i = 0; i < self->profiles->len; i++)
        g_ptr_array_add (copy, profile_copy (self->profiles->pdata[i]));
    }
  g_rec_mutex_unlock (&self->lock);
  return copy;
}

const VigilOnvifProfile *
vigil_onvif_camera_find_profile (VigilOnvifCamera *self, const gchar *token, const gchar *op,
                                 GError **error)
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
  if (!vigil_onvif_camera_ensure_connected (self, cancellable, error) ||
      !vigil_onvif_camera_find_profile (self, profile_token, op, error))
    {
      g_rec_mutex_unlock (&self->lock);
      return NULL;
    }
  stream_request.ProfileToken = (char *) profile_token;
  snapshot_request.ProfileToken = (char *) profile_token;
  if (kind == URI_STREAM)
    ok = vigil_onvif_camera_invoke (self, &self->call, op, self->media_url, call_GetStreamUri, TRUE,
                                    &stream_request, &stream_response, cancellable, error);
  else
    ok = vigil_onvif_camera_invoke (self, &self->call, op, self->media_url, call_GetSnapshotUri,
                                    TRUE, &snapshot_request, &snapshot_response, cancellable,
                                    error);
  if (ok)
    {
      media_uri = kind == URI_STREAM ? stream_response.MediaUri : snapshot_response.MediaUri;
      if (media_uri == NULL || media_uri->Uri == NULL || media_uri->Uri[0] == '\0')
        g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_BAD_REPLY,
                     "%s on %s: the answer holds no URI for profile '%s'", op, self->device_url,
                     profile_token);
      else if (!g_utf8_validate (media_uri->Uri, -1, NULL) ||
               vigil_text_has_control_chars (media_uri->Uri))
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
