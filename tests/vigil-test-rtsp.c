/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A raw RTSP viewer for tests; see the header. */
#include "vigil-test-rtsp.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "vigil-test-util.h"

struct VigilTestRtsp {
  GSocket *socket;
  gchar   *base;         /* rtsp://127.0.0.1:PORT/PATH */
  gchar   *user, *password;
  gchar   *nonce;
  guint    cseq;
  gchar   *session;
  guint    timeout_s;
  gint     playing;      /* atomic, for vigil_test_rtsp_play_in_thread() */
};

/* Reads one answer (headers and body); returns its status. */
static guint
read_answer (VigilTestRtsp *self, gchar **out_headers, gchar **out_body)
{
  g_autoptr(GString) text = g_string_new (NULL);
  g_autofree gchar *body = NULL;
  const gchar *length_header;
  gsize content_length = 0, got = 0;
  guint status = 0;

  while (strstr (text->str, "\r\n\r\n") == NULL)
    {
      gchar byte;

      if (g_socket_receive (self->socket, &byte, 1, NULL, NULL) <= 0)
        return 0;
      g_string_append_c (text, byte);
    }
  length_header = strstr (text->str, "Content-Length:");
  if (length_header != NULL)
    content_length = MIN (g_ascii_strtoull (length_header + 15, NULL, 10), 1024 * 1024);
  body = g_malloc0 (content_length + 1);
  while (got < content_length)
    {
      gssize n = g_socket_receive (self->socket, body + got, content_length - got, NULL, NULL);

      if (n <= 0)
        return 0;
      got += n;
    }
  sscanf (text->str, "RTSP/1.0 %u", &status);
  if (out_headers != NULL)
    *out_headers = g_strdup (text->str);
  if (out_body != NULL)
    *out_body = g_steal_pointer (&body);
  return status;
}

static gchar *
md5_hex (const gchar *text)
{
  return g_compute_checksum_for_string (G_CHECKSUM_MD5, text, -1);
}

guint
vigil_test_rtsp_request (VigilTestRtsp *self, const gchar *method, const gchar *uri, const gchar *extra,
                         gchar **out_headers, gchar **out_body)
{
  g_autoptr(GString) request = g_string_new (NULL);
  g_autoptr(GError) error = NULL;

  if (uri == NULL)
    uri = self->base;
  g_string_append_printf (request, "%s %s RTSP/1.0\r\nCSeq: %u\r\n", method, uri, ++self->cseq);
  if (self->nonce != NULL)
    {
      g_autofree gchar *a1_text = g_strdup_printf ("%s:vigil:%s", self->user, self->password);
      g_autofree gchar *a1 = md5_hex (a1_text);
      g_autofree gchar *a2_text = g_strdup_printf ("%s:%s", method, uri);
      g_autofree gchar *a2 = md5_hex (a2_text);
      g_autofree gchar *response_text = g_strdup_printf ("%s:%s:%s", a1, self->nonce, a2);
      g_autofree gchar *response = md5_hex (response_text);

      g_string_append_printf (request, "Authorization: Digest username=\"%s\", realm=\"vigil\", "
                              "nonce=\"%s\", uri=\"%s\", response=\"%s\"\r\n", self->user, self->nonce, uri, response);
    }
  if (self->session != NULL)
    g_string_append_printf (request, "Session: %s\r\n", self->session);
  if (extra != NULL)
    g_string_append (request, extra);
  g_string_append (request, "\r\n");
  g_assert_cmpint (g_socket_send (self->socket, request->str, request->len, NULL, &error), ==, request->len);
  return read_answer (self, out_headers, out_body);
}

VigilTestRtsp *
vigil_test_rtsp_connect (guint port, const gchar *path, const gchar *user, const gchar *password, guint timeout_s)
{
  VigilTestRtsp *self = g_new0 (VigilTestRtsp, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, port);
  g_autofree gchar *headers = NULL;
  const gchar *nonce;
  gint size = 4096;

  self->user = g_strdup (user);
  self->password = g_strdup (password);
  self->timeout_s = timeout_s;
  self->socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  /* A tiny window: what the server sends piles up on its side. */
  g_assert_cmpint (setsockopt (g_socket_get_fd (self->socket), SOL_SOCKET, SO_RCVBUF, &size, sizeof size), ==, 0);
  g_socket_set_timeout (self->socket, timeout_s);
  g_assert_true (g_socket_connect (self->socket, address, NULL, &error));
  self->base = g_strdup_printf ("rtsp://127.0.0.1:%u/%s", port, path);

  g_assert_cmpuint (vigil_test_rtsp_request (self, "DESCRIBE", NULL, "Accept: application/sdp\r\n", &headers, NULL),
                    ==, 401);
  g_assert_nonnull (strstr (headers, "Digest realm=\"vigil\""));
  g_assert_null (strstr (headers, "Basic"));   /* digest only */
  nonce = strstr (headers, "nonce=\"");
  g_assert_nonnull (nonce);
  self->nonce = g_strndup (nonce + 7, strcspn (nonce + 7, "\""));
  return self;
}

void
vigil_test_rtsp_play (VigilTestRtsp *self)
{
  g_autofree gchar *headers = NULL;
  g_autofree gchar *sdp = NULL;
  g_autofree gchar *setup_uri = g_strdup_printf ("%s/stream=0", self->base);
  const gchar *session;

  g_assert_cmpuint (vigil_test_rtsp_request (self, "DESCRIBE", NULL, "Accept: application/sdp\r\n", &headers, &sdp),
                    ==, 200);
  g_assert_nonnull (strstr (sdp, "a=control:stream=0"));
  g_clear_pointer (&headers, g_free);
  g_assert_cmpuint (vigil_test_rtsp_request (self, "SETUP", setup_uri,
                                             "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n", &headers, NULL),
                    ==, 200);
  session = strstr (headers, "Session: ");
  g_assert_nonnull (session);
  self->session = g_strndup (session + 9, strcspn (session + 9, ";\r"));
  g_assert_cmpuint (vigil_test_rtsp_request (self, "PLAY", NULL, "Range: npt=0-\r\n", NULL, NULL), ==, 200);
}

static gpointer
play_thread (gpointer data)
{
  VigilTestRtsp *self = data;

  vigil_test_rtsp_play (self);
  g_atomic_int_set (&self->playing, TRUE);
  return NULL;
}

static gboolean
is_playing (gpointer data)
{
  VigilTestRtsp *self = data;

  return g_atomic_int_get (&self->playing);
}

void
vigil_test_rtsp_play_in_thread (VigilTestRtsp *self)
{
  GThread *thread = g_thread_new ("raw-rtsp-viewer", play_thread, self);

  g_assert_true (vigil_test_wait_until (is_playing, self, self->timeout_s));
  g_thread_join (thread);
}

void
vigil_test_rtsp_free (VigilTestRtsp *self)
{
  if (self == NULL)
    return;
  g_object_unref (self->socket);
  g_free (self->base);
  g_free (self->user);
  g_free (self->password);
  g_free (self->nonce);
  g_free (self->session);
  g_free (self);
}
