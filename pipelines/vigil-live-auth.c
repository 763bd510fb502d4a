/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilLiveAuth: digest logins for the live server, with back-off per
 * address.
 *
 * gst-rtsp-server 1.22 checks the digest itself; its own htdigest reader
 * ignores each line's realm (the challenge always names the server's), so
 * a file made for another realm would load and then refuse everyone
 * without a word, and it stops at the first blank line and fails on CRLF.
 * So the file is read and checked here, then handed to
 * gst_rtsp_auth_parse_htdigest() in the form it reads, through a memfd. */
#define _GNU_SOURCE
#include "vigil-live-auth.h"

#include <errno.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

GST_DEBUG_CATEGORY_STATIC (vigil_live_auth_debug);
#define GST_CAT_DEFAULT vigil_live_auth_debug

#define FAILURE_WINDOW_US   (10 * 60 * G_USEC_PER_SEC)
#define MAX_BACKOFF_US      (5 * 60 * G_USEC_PER_SEC)
/* Addresses tracked at once; a flood of addresses beyond it forgets the
 * quiet ones first. */
#define MAX_TRACKED         4096
#define USER_KEY            "vigil-live-user"

typedef struct {
  gint64  window_start_us;     /* monotonic: first failure of the window */
  guint   failures;            /* in the window */
  gint64  locked_until_us;     /* monotonic; 0 when not locked */
} Address;

struct _VigilLiveAuth {
  GstRTSPAuth  parent_instance;
  GMutex       lock;
  GHashTable  *addresses;      /* IP → Address; protected by lock */
  guint64      n_failures;          /* protected by lock */
  VigilLiveAuthAvailable available;     /* set before the server starts */
};

G_DEFINE_FINAL_TYPE_WITH_CODE (VigilLiveAuth, vigil_live_auth, GST_TYPE_RTSP_AUTH,
                               GST_DEBUG_CATEGORY_INIT (vigil_live_auth_debug, "vigilliveauth", 0,
                                                        "vigil live logins"))

/* Called with self->lock held. Whether @ip is slowed down now. */
static gboolean
is_locked (VigilLiveAuth *self, const gchar *ip, gint64 now_us)
{
  Address *address = ip != NULL ? g_hash_table_lookup (self->addresses, ip) : NULL;

  return address != NULL && address->locked_until_us > now_us;
}

/* Called with self->lock held. */
static void
forget_quiet_addresses (VigilLiveAuth *self, gint64 now_us)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->addresses);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Address *address = value;

      if (address->locked_until_us <= now_us && now_us - address->window_start_us > FAILURE_WINDOW_US)
        g_hash_table_iter_remove (&iter);
    }
  if (g_hash_table_size (self->addresses) >= MAX_TRACKED)
    g_hash_table_remove_all (self->addresses);
}

static void
record_failure (VigilLiveAuth *self, const gchar *ip, const gchar *user)
{
  gint64 now_us = g_get_monotonic_time ();
  Address *address;

  g_mutex_lock (&self->lock);
  self->n_failures++;
  address = g_hash_table_lookup (self->addresses, ip);
  if (address == NULL)
    {
      if (g_hash_table_size (self->addresses) >= MAX_TRACKED)
        forget_quiet_addresses (self, now_us);
      address = g_new0 (Address, 1);
      g_hash_table_insert (self->addresses, g_strdup (ip), address);
    }
  if (address->failures == 0 || now_us - address->window_start_us > FAILURE_WINDOW_US)
    {
      address->window_start_us = now_us;
      address->failures = 0;
    }
  address->failures++;
  if (address->failures >= VIGIL_LIVE_AUTH_FAILURES)
    {
      guint doublings = MIN (address->failures - VIGIL_LIVE_AUTH_FAILURES, 20);
      gint64 delay_us = MIN ((gint64) G_USEC_PER_SEC << doublings, MAX_BACKOFF_US);

      address->locked_until_us = now_us + delay_us;
      GST_WARNING_OBJECT (self, "viewer login refused for user '%s' from %s (%u failures in a row): "
                          "connections from there refused for %" G_GINT64_FORMAT " s",
                          user, ip, address->failures, delay_us / G_USEC_PER_SEC);
    }
  else
    GST_INFO_OBJECT (self, "viewer login refused for user '%s' from %s", user, ip);
  g_mutex_unlock (&self->lock);
}

static void
record_success (VigilLiveAuth *self, const gchar *ip)
{
  g_mutex_lock (&self->lock);
  g_hash_table_remove (self->addresses, ip);
  g_mutex_unlock (&self->lock);
}

/* The username of @request's digest credentials, or NULL. */
static gchar *
digest_username (GstRTSPMessage *request)
{
  GstRTSPAuthCredential **credentials = gst_rtsp_message_parse_auth_credentials (request,
                                                                                  GST_RTSP_HDR_AUTHORIZATION);
  gchar *user = NULL;

  for (GstRTSPAuthCredential **c = credentials; c != NULL && *c != NULL && user == NULL; c++)
    for (GstRTSPAuthParam **p = (*c)->params; p != NULL && *p != NULL; p++)
      if (g_ascii_strcasecmp ((*p)->name, "username") == 0 && (*p)->value != NULL)
        {
          /* Bounded and printable: it goes to logs and the audit. */
          user = g_strndup ((*p)->value, 64);
          g_strcanon (user, G_CSET_a_2_z G_CSET_A_2_Z G_CSET_DIGITS "._-@+", '?');
          break;
        }
  if (credentials != NULL)
    gst_rtsp_auth_credentials_free (credentials);
  return user;
}

/* Runs on the server thread, for each request without a token yet. */
static gboolean
vigil_live_auth_authenticate (GstRTSPAuth *auth, GstRTSPContext *ctx)
{
  VigilLiveAuth *self = VIGIL_LIVE_AUTH (auth);
  const gchar *ip = ctx->conn != NULL ? gst_rtsp_connection_get_ip (ctx->conn) : NULL;
  g_autofree gchar *user = NULL;
  gchar *header = NULL;
  gboolean locked;

  if (ip == NULL || ctx->request == NULL)
    return FALSE;
  g_mutex_lock (&self->lock);
  locked = is_locked (self, ip, g_get_monotonic_time ());
  g_mutex_unlock (&self->lock);
  if (locked)
    {
      /* A client already connected keeps trying: answer as for a wrong
       * password, without looking at it. */
      ctx->token = NULL;
      return TRUE;
    }
  if (!GST_RTSP_AUTH_CLASS (vigil_live_auth_parent_class)->authenticate (auth, ctx))
    return FALSE;
  user = digest_username (ctx->request);
  if (ctx->token != NULL)
    {
      record_success (self, ip);
      if (ctx->client != NULL && user != NULL
          && g_strcmp0 (g_object_get_data (G_OBJECT (ctx->client), USER_KEY), user) != 0)
        g_object_set_data_full (G_OBJECT (ctx->client), USER_KEY, g_strdup (user), g_free);
    }
  else if (gst_rtsp_message_get_header (ctx->request, GST_RTSP_HDR_AUTHORIZATION, &header, 0) == GST_RTSP_OK)
    record_failure (self, ip, user != NULL ? user : "(none)");
  return TRUE;
}

/* Runs on the server thread. A connection from an address that is slowed
 * down is closed as soon as it is accepted. */
static gboolean
vigil_live_auth_check (GstRTSPAuth *auth, GstRTSPContext *ctx, const gchar *check)
{
  VigilLiveAuth *self = VIGIL_LIVE_AUTH (auth);

  if (g_str_equal (check, GST_RTSP_AUTH_CHECK_CONNECT) && ctx->conn != NULL)
    {
      const gchar *ip = gst_rtsp_connection_get_ip (ctx->conn);
      gboolean locked;

      g_mutex_lock (&self->lock);
      locked = is_locked (self, ip, g_get_monotonic_time ());
      g_mutex_unlock (&self->lock);
      if (locked)
        {
          GST_INFO_OBJECT (self, "connection from %s refused: too many failed logins", ip);
          return FALSE;
        }
    }
  if (!GST_RTSP_AUTH_CLASS (vigil_live_auth_parent_class)->check (auth, ctx, check))
    return FALSE;
  /* Only a viewer who may watch learns that the camera is not delivering;
   * without this, the DESCRIBE would wait for a first frame. */
  if (g_str_equal (check, GST_RTSP_AUTH_CHECK_MEDIA_FACTORY_ACCESS) && self->available != NULL
      && ctx->factory != NULL && !self->available (ctx->factory))
    {
      if (ctx->response != NULL && ctx->request != NULL && ctx->client != NULL)
        {
          gst_rtsp_message_init_response (ctx->response, GST_RTSP_STS_SERVICE_UNAVAILABLE,
                                          gst_rtsp_status_as_text (GST_RTSP_STS_SERVICE_UNAVAILABLE), ctx->request);
          gst_rtsp_client_send_message (ctx->client, ctx->session, ctx->response);
        }
      return FALSE;
    }
  return TRUE;
}

void
vigil_live_auth_set_available (VigilLiveAuth *self, VigilLiveAuthAvailable available)
{
  g_return_if_fail (VIGIL_IS_LIVE_AUTH (self));
  self->available = available;
}

static void
vigil_live_auth_finalize (GObject *object)
{
  VigilLiveAuth *self = VIGIL_LIVE_AUTH (object);

  g_hash_table_unref (self->addresses);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (vigil_live_auth_parent_class)->finalize (object);
}

static void
vigil_live_auth_class_init (VigilLiveAuthClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vigil_live_auth_finalize;
  GST_RTSP_AUTH_CLASS (klass)->authenticate = vigil_live_auth_authenticate;
  GST_RTSP_AUTH_CLASS (klass)->check = vigil_live_auth_check;
}

static void
vigil_live_auth_init (VigilLiveAuth *self)
{
  g_mutex_init (&self->lock);
  self->addresses = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

static gboolean
is_md5_hex (const gchar *text)
{
  if (strlen (text) != 32)
    return FALSE;
  for (const gchar *c = text; *c != '\0'; c++)
    if (!g_ascii_isxdigit (*c))
      return FALSE;
  return TRUE;
}

/* Checks @contents and returns them as gst_rtsp_auth_parse_htdigest()
 * reads them: one LF-terminated line per user, nothing else. */
static gchar *
normalise_htdigest (const gchar *path, const gchar *contents, guint *out_users, GError **error)
{
  g_auto(GStrv) lines = g_strsplit (contents, "\n", -1);
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  guint users = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      gchar *line = lines[i];
      gsize len = strlen (line);
      g_auto(GStrv) fields = NULL;

      if (len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
      if (len == 0 || line[0] == '#')
        continue;
      fields = g_strsplit (line, ":", -1);
      if (g_strv_length (fields) != 3)
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "%s, line %u: not an htdigest line (user:realm:hash)", path, i + 1);
          return NULL;
        }
      if (fields[0][0] == '\0' || !g_utf8_validate (fields[0], -1, NULL))
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "%s, line %u: empty or unreadable user name", path, i + 1);
          return NULL;
        }
      if (!g_str_equal (fields[1], VIGIL_LIVE_AUTH_REALM))
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "%s, line %u: user '%s' is in realm '%s'; vigil's realm is '" VIGIL_LIVE_AUTH_REALM
                       "' (htdigest FILE " VIGIL_LIVE_AUTH_REALM " USER)", path, i + 1, fields[0], fields[1]);
          return NULL;
        }
      if (!is_md5_hex (fields[2]))
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "%s, line %u: the hash of user '%s' is not 32 hex digits", path, i + 1, fields[0]);
          return NULL;
        }
      if (!g_hash_table_add (seen, fields[0]))
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "%s, line %u: user '%s' appears twice", path, i + 1, fields[0]);
          return NULL;
        }
      g_string_append_printf (out, "%s:%s:%s\n", fields[0], fields[1], fields[2]);
      users++;
    }
  if (users == 0)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "%s has no user: nobody could watch (add one with: htdigest %s " VIGIL_LIVE_AUTH_REALM " USER)",
                   path, path);
      return NULL;
    }
  *out_users = users;
  return g_string_free (g_steal_pointer (&out), FALSE);
}

VigilLiveAuth *
vigil_live_auth_new (const gchar *htdigest_path, GError **error)
{
  g_autoptr(VigilLiveAuth) self = g_object_new (VIGIL_TYPE_LIVE_AUTH, NULL);
  g_autoptr(GstRTSPToken) token = NULL;
  g_autofree gchar *contents = NULL;
  g_autofree gchar *normal = NULL;
  g_autofree gchar *fd_path = NULL;
  gsize length = 0;
  guint n_users = 0;
  gboolean parsed;
  int fd;

  g_return_val_if_fail (htdigest_path != NULL, NULL);
  if (!g_file_get_contents (htdigest_path, &contents, &length, error))
    return NULL;
  if (length > VIGIL_LIVE_AUTH_MAX_FILE_BYTES || memchr (contents, '\0', length) != NULL)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "%s is not an htdigest file (binary, or larger than %u bytes)", htdigest_path,
                   VIGIL_LIVE_AUTH_MAX_FILE_BYTES);
      return NULL;
    }
  normal = normalise_htdigest (htdigest_path, contents, &n_users, error);
  if (normal == NULL)
    return NULL;

  fd = memfd_create ("vigil-htdigest", MFD_CLOEXEC);
  if (fd < 0 || write (fd, normal, strlen (normal)) != (gssize) strlen (normal))
    {
      int saved = errno;

      if (fd >= 0)
        close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot load %s: %s", htdigest_path,
                   g_strerror (saved));
      return NULL;
    }
  token = gst_rtsp_token_new (GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE, G_TYPE_STRING, VIGIL_LIVE_AUTH_ROLE, NULL);
  fd_path = g_strdup_printf ("/proc/self/fd/%d", fd);
  parsed = gst_rtsp_auth_parse_htdigest (GST_RTSP_AUTH (self), fd_path, token);
  close (fd);
  if (!parsed)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "gst-rtsp-server could not load %s", htdigest_path);
      return NULL;
    }
  gst_rtsp_auth_set_realm (GST_RTSP_AUTH (self), VIGIL_LIVE_AUTH_REALM);
  gst_rtsp_auth_set_supported_methods (GST_RTSP_AUTH (self), GST_RTSP_AUTH_DIGEST);
  return g_steal_pointer (&self);
}

gchar *
vigil_live_auth_get_user (GstRTSPClient *client)
{
  g_return_val_if_fail (GST_IS_RTSP_CLIENT (client), NULL);
  return g_strdup (g_object_get_data (G_OBJECT (client), USER_KEY));
}

guint64
vigil_live_auth_get_n_failures (VigilLiveAuth *self)
{
  guint64 n;

  g_mutex_lock (&self->lock);
  n = self->n_failures;
  g_mutex_unlock (&self->lock);
  return n;
}

