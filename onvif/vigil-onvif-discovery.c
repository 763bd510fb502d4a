/* SPDX-License-Identifier: GPL-2.0-or-later */
/* WS-Discovery for vigil_onvif_discover(): Probes over UDP (SOAP-over-UDP,
 * WS-Discovery 2005/04) and the ProbeMatches that answer them. Hand-rolled on
 * GSocket with GMarkup instead of gSOAP's wsddapi: a Probe is one fixed
 * message, the answer needs five fields, and GSocket gives a cancellable,
 * bounded wait without a second gSOAP context (or wsa/wsdd imports in the
 * interface header). It must never answer or forward a probe, never send to
 * anything but the given target, and never trust a ProbeMatch that does not
 * relate to one of its own MessageIDs. */

#include "vigil-onvif.h"
#include "vigil-onvif-private.h"

#include <string.h>

#define MULTICAST_TARGET "239.255.255.250:3702"
#define MAX_DATAGRAM 65536
/* The second round of Probes goes out this long after the first (UDP may
 * drop either). */
#define RETRANSMIT_MS 250

void
vigil_onvif_discovered_free (VigilOnvifDiscovered *found)
{
  if (found == NULL)
    return;
  g_free (found->endpoint);
  g_free (found->device_url);
  g_strfreev (found->xaddrs);
  g_strfreev (found->scopes);
  g_free (found->name);
  g_free (found->hardware);
  g_free (found->from_address);
  g_free (found);
}

static gchar *
make_probe (const gchar *message_id, const gchar *types)
{
  return g_strdup_printf (
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\""
    " xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\""
    " xmlns:d=\"http://schemas.xmlsoap.org/ws/2005/04/discovery\""
    " xmlns:dn=\"http://www.onvif.org/ver10/network/wsdl\""
    " xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\">"
    "<s:Header><a:MessageID>%s</a:MessageID>"
    "<a:To s:mustUnderstand=\"1\">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"
    "<a:Action s:mustUnderstand=\"1\">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>"
    "</s:Header><s:Body><d:Probe><d:Types>%s</d:Types></d:Probe></s:Body></s:Envelope>",
    message_id, types);
}

/* What the parser collects from one ProbeMatches message. */
typedef struct {
  GString   *text;        /* of the current element */
  gchar     *relates_to;
  gboolean   in_match;
  gboolean   in_endpoint;
  gboolean   is_probe_matches;
  /* of the current ProbeMatch */
  gchar     *endpoint, *xaddrs, *scopes;
  GPtrArray *matches;     /* gchar *[3] per ProbeMatch: endpoint, xaddrs, scopes */
} Parse;

static const gchar *
local_name (const gchar *name)
{
  const gchar *colon = strrchr (name, ':');

  return colon != NULL ? colon + 1 : name;
}

static void
set_str (gchar **field, const gchar *value)
{
  g_free (*field);
  *field = g_strdup (value);
}

static void
on_start (GMarkupParseContext *context, const gchar *element, const gchar **names,
          const gchar **values, gpointer data, GError **error)
{
  Parse *parse = data;
  const gchar *name = local_name (element);

  g_string_truncate (parse->text, 0);
  if (g_str_equal (name, "ProbeMatches"))
    parse->is_probe_matches = TRUE;
  else if (g_str_equal (name, "ProbeMatch"))
    {
      parse->in_match = TRUE;
      g_clear_pointer (&parse->endpoint, g_free);
      g_clear_pointer (&parse->xaddrs, g_free);
      g_clear_pointer (&parse->scopes, g_free);
    }
  else if (g_str_equal (name, "EndpointReference"))
    parse->in_endpoint = TRUE;
}

static void
on_end (GMarkupParseContext *context, const gchar *element, gpointer data, GError **error)
{
  Parse *parse = data;
  const gchar *name = local_name (element);
  g_autofree gchar *text = g_strstrip (g_strdup (parse->text->str));

  if (g_str_equal (name, "RelatesTo"))
    set_str (&parse->relates_to, text);
  else if (parse->in_match && parse->in_endpoint && g_str_equal (name, "Address"))
    set_str (&parse->endpoint, text);
  else if (g_str_equal (name, "EndpointReference"))
    parse->in_endpoint = FALSE;
  else if (parse->in_match && g_str_equal (name, "XAddrs"))
    set_str (&parse->xaddrs, text);
  else if (parse->in_match && g_str_equal (name, "Scopes"))
    set_str (&parse->scopes, text);
  else if (g_str_equal (name, "ProbeMatch"))
    {
      parse->in_match = FALSE;
      if (parse->endpoint != NULL && parse->endpoint[0] != '\0' &&
          !vigil_text_has_control_chars (parse->endpoint))
        {
          gchar **match = g_new0 (gchar *, 4);

          match[0] = g_steal_pointer (&parse->endpoint);
          match[1] = g_steal_pointer (&parse->xaddrs);
          match[2] = g_steal_pointer (&parse->scopes);
          g_ptr_array_add (parse->matches, match);
        }
    }
  g_string_truncate (parse->text, 0);
}

static void
on_text (GMarkupParseContext *context, const gchar *text, gsize len, gpointer data,
         GError **error)
{
  Parse *parse = data;

  /* No element vigil reads is anywhere near this; the cap bounds memory. */
  if (parse->text->len + len <= MAX_DATAGRAM)
    g_string_append_len (parse->text, text, len);
}

static void
free_match (gpointer data)
{
  gchar **match = data;

  g_free (match[0]);
  g_free (match[1]);
  g_free (match[2]);
  g_free (match);
}

/* The words of @text; those with control characters (C1 ones are valid
 * XML) are dropped: they are no address or scope, and vigilctl prints these
 * to a terminal. */
static gchar **
split_list (const gchar *text)
{
  g_auto(GStrv) words = g_strsplit_set (text != NULL ? text : "", " \t\r\n", -1);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; words[i] != NULL; i++)
    if (words[i][0] != '\0' && !vigil_text_has_control_chars (words[i]))
      g_strv_builder_add (builder, words[i]);
  return g_strv_builder_end (builder);
}

/* The unescaped rest of the first scope starting with @prefix, as
 * printable UTF-8: escapes may spell any byte. */
static gchar *
scope_value (gchar **scopes, const gchar *prefix)
{
  for (guint i = 0; scopes[i] != NULL; i++)
    if (g_str_has_prefix (scopes[i], prefix))
      {
        g_autofree gchar *value = g_uri_unescape_string (scopes[i] + strlen (prefix), NULL);

        return value != NULL ? vigil_text_sanitize (value, 200, VIGIL_TEXT_DEFAULT) : NULL;
      }
  return NULL;
}

static VigilOnvifDiscovered *
discovered_new (gchar **match, const gchar *from_address)
{
  VigilOnvifDiscovered *found = g_new0 (VigilOnvifDiscovered, 1);

  found->endpoint = g_strdup (match[0]);
  found->xaddrs = split_list (match[1]);
  found->scopes = split_list (match[2]);
  found->from_address = g_strdup (from_address);
  found->name = scope_value (found->scopes, "onvif://www.onvif.org/name/");
  found->hardware = scope_value (found->scopes, "onvif://www.onvif.org/hardware/");
  /* Cameras list internal or several addresses: prefer the one that answered. */
  for (guint i = 0; found->xaddrs[i] != NULL && found->device_url == NULL; i++)
    {
      g_autoptr(GUri) uri = g_uri_parse (found->xaddrs[i], G_URI_FLAGS_NONE, NULL);

      if (uri != NULL && g_strcmp0 (g_uri_get_host (uri), from_address) == 0)
        found->device_url = g_strdup (found->xaddrs[i]);
    }
  if (found->device_url == NULL && found->xaddrs[0] != NULL)
    found->device_url = g_strdup (found->xaddrs[0]);
  return found;
}

static gint
compare_by_device_url (gconstpointer a, gconstpointer b)
{
  const VigilOnvifDiscovered *x = *(VigilOnvifDiscovered *const *) a;
  const VigilOnvifDiscovered *y = *(VigilOnvifDiscovered *const *) b;

  return g_strcmp0 (x->device_url, y->device_url);
}

/* See vigil-onvif-private.h. */
void
vigil_onvif_discovery_handle_datagram (const gchar *data, gsize len, const gchar *from_address,
                                       gchar **ids, GHashTable *found)
{
  static const GMarkupParser parser = { on_start, on_end, on_text, NULL, NULL };
  Parse parse = { 0 };
  g_autoptr(GMarkupParseContext) context = NULL;
  g_autoptr(GError) error = NULL;

  /* GMarkup itself rejects text that is not UTF-8, but GLib 2.74 sets its
   * GError twice (a g_warning) when a mismatched end tag is not UTF-8; and
   * SOAP-over-UDP is UTF-8 anyway. */
  if (!g_utf8_validate_len (data, len, NULL))
    {
      g_debug ("discovery: dropping an answer from %s that is not UTF-8", from_address);
      return;
    }
  parse.text = g_string_new (NULL);
  parse.matches = g_ptr_array_new_with_free_func (free_match);
  context = g_markup_parse_context_new (&parser, G_MARKUP_TREAT_CDATA_AS_TEXT, &parse, NULL);
  if (!g_markup_parse_context_parse (context, data, len, &error) ||
      !g_markup_parse_context_end_parse (context, &error))
    g_debug ("discovery: dropping an unparsable answer from %s: %s", from_address,
             error->message);
  else if (!parse.is_probe_matches || parse.relates_to == NULL ||
           !g_strv_contains ((const gchar *const *) ids, parse.relates_to))
    g_debug ("discovery: dropping an answer from %s that relates to no probe of ours",
             from_address);
  else
    for (guint i = 0; i < parse.matches->len; i++)
      {
        gchar **match = parse.matches->pdata[i];

        if (!g_hash_table_contains (found, match[0]))
          {
            VigilOnvifDiscovered *item = discovered_new (match, from_address);

            g_hash_table_insert (found, item->endpoint, item);
          }
      }
  g_string_free (parse.text, TRUE);
  g_ptr_array_unref (parse.matches);
  g_free (parse.relates_to);
  g_free (parse.endpoint);
  g_free (parse.xaddrs);
  g_free (parse.scopes);
}

static gboolean
send_probes (GSocket *socket, GPtrArray *addresses, gchar **ids, GCancellable *cancellable,
             GError **error)
{
  static const gchar *const types[] = { "dn:NetworkVideoTransmitter", "tds:Device" };

  for (guint a = 0; a < addresses->len; a++)
    for (guint i = 0; i < G_N_ELEMENTS (types); i++)
      {
        g_autofree gchar *probe = make_probe (ids[i], types[i]);

        if (g_socket_send_to (socket, addresses->pdata[a], probe, strlen (probe), cancellable,
                              error) < 0)
          return FALSE;
      }
  return TRUE;
}

GPtrArray *
vigil_onvif_discover (const gchar *target, guint timeout_ms, GCancellable *cancellable,
                      GError **error)
{
  g_auto(GStrv) targets = NULL;
  g_autoptr(GPtrArray) addresses = NULL;   /* GSocketAddress *, one per target */
  GSocketAddress *to;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) any = NULL;
  g_autoptr(GInetAddress) any_address = NULL;
  g_autoptr(GHashTable) found = NULL;
  g_autoptr(GError) local_error = NULL;
  g_auto(GStrv) ids = g_new0 (gchar *, 3);
  gint64 start_us, deadline_us;
  gboolean resent = FALSE;
  GHashTableIter iter;
  gpointer value;
  GPtrArray *result;

  if (target == NULL)
    target = MULTICAST_TARGET;
  targets = g_strsplit (target, ",", -1);
  addresses = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; targets[i] != NULL; i++)
    {
      g_autoptr(GSocketConnectable) connectable = NULL;
      g_autoptr(GSocketAddressEnumerator) enumerator = NULL;
      GSocketAddress *to;

      g_strstrip (targets[i]);
      connectable = g_network_address_parse (targets[i], 3702, &local_error);
      if (connectable == NULL)
        {
          g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_INVALID,
                       "discovery target '%s' is not HOST:PORT: %s", targets[i],
                       local_error->message);
          return NULL;
        }
      enumerator = g_socket_connectable_enumerate (connectable);
      to = g_socket_address_enumerator_next (enumerator, cancellable, &local_error);
      if (to == NULL)
        {
          g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_UNREACHABLE,
                       "discovery target '%s' does not resolve: %s", targets[i],
                       local_error != NULL ? local_error->message : "no address");
          return NULL;
        }
      if (addresses->len > 0 &&
          g_socket_address_get_family (to) !=
            g_socket_address_get_family (addresses->pdata[0]))
        {
          g_object_unref (to);
          g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_INVALID,
                       "discovery targets '%s' mix IPv4 and IPv6", target);
          return NULL;
        }
      g_ptr_array_add (addresses, to);
    }
  to = addresses->pdata[0];

  socket = g_socket_new (g_socket_address_get_family (to), G_SOCKET_TYPE_DATAGRAM,
                         G_SOCKET_PROTOCOL_UDP, &local_error);
  if (socket != NULL)
    {
      any_address = g_inet_address_new_any (g_socket_address_get_family (to));
      any = g_inet_socket_address_new (any_address, 0);
      if (!g_socket_bind (socket, any, FALSE, &local_error))
        g_clear_object (&socket);
    }
  if (socket == NULL)
    {
      g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_FAILED,
                   "discovery: cannot open a UDP socket: %s", local_error->message);
      return NULL;
    }
  /* Probes stay on the local link (WS-Discovery: TTL 1). */
  g_socket_set_multicast_ttl (socket, 1);
  g_socket_set_multicast_loopback (socket, TRUE);
  g_socket_set_blocking (socket, FALSE);

  for (guint i = 0; i < 2; i++)
    {
      g_autofree gchar *uuid = g_uuid_string_random ();

      ids[i] = g_strdup_printf ("urn:uuid:%s", uuid);
    }
  if (!send_probes (socket, addresses, ids, cancellable, &local_error))
    {
      g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_UNREACHABLE,
                   "discovery: cannot send probes to %s: %s", target, local_error->message);
      return NULL;
    }

  /* Keys are the values' endpoints. */
  found = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                 (GDestroyNotify) vigil_onvif_discovered_free);
  start_us = g_get_monotonic_time ();
  deadline_us = start_us + (gint64) timeout_ms * 1000;
  for (;;)
    {
      gint64 now_us = g_get_monotonic_time ();
      gint64 wake_us = resent ? deadline_us : MIN (deadline_us, start_us + RETRANSMIT_MS * 1000);
      g_autofree gchar *buffer = NULL;
      g_autoptr(GSocketAddress) from = NULL;
      g_autofree gchar *from_address = NULL;
      gssize n;

      if (g_cancellable_is_cancelled (cancellable))
        {
          g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_CANCELLED,
                       "discovery on %s was cancelled", target);
          return NULL;
        }
      if (now_us >= deadline_us)
        break;
      if (now_us >= wake_us && !resent)
        {
          resent = TRUE;
          /* A lost retransmission is no error: the first round went out. */
          if (!send_probes (socket, addresses, ids, cancellable, &local_error))
            {
              g_debug ("discovery: resending probes: %s", local_error->message);
              g_clear_error (&local_error);
            }
          continue;
        }
      g_socket_set_timeout (socket, 0);
      if (!g_socket_condition_timed_wait (socket, G_IO_IN, wake_us - now_us, cancellable,
                                          &local_error))
        {
          g_clear_error (&local_error);
          continue;
        }
      buffer = g_malloc (MAX_DATAGRAM);
      n = g_socket_receive_from (socket, &from, buffer, MAX_DATAGRAM, cancellable, &local_error);
      if (n < 0)
        {
          g_debug ("discovery: receive: %s", local_error->message);
          g_clear_error (&local_error);
          continue;
        }
      if (G_IS_INET_SOCKET_ADDRESS (from))
        from_address = g_inet_address_to_string (
          g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (from)));
      vigil_onvif_discovery_handle_datagram (buffer, n, from_address != NULL ? from_address : "",
                                             ids, found);
    }

  result = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_onvif_discovered_free);
  g_hash_table_iter_init (&iter, found);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      g_hash_table_iter_steal (&iter);
      g_ptr_array_add (result, value);
    }
  g_ptr_array_sort (result, compare_by_device_url);
  return result;
}
