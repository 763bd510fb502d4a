/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Showing outside text safely; see vigil-text.h. */
#include "vigil-text.h"

#include <string.h>

/* Control characters, and the bidirectional overrides and isolates that
 * make a terminal or log viewer show text in another order than it is
 * (U+202A..U+202E, U+2066..U+2069), as in "Trojan Source". */
static gboolean
is_unsafe (gunichar c)
{
  return g_unichar_iscntrl (c) || (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

gchar *
vigil_text_sanitize (const gchar *text, gsize max_chars, VigilTextFlags flags)
{
  g_autofree gchar *valid = g_utf8_make_valid (text != NULL ? text : "", -1);
  GString *out = g_string_sized_new (strlen (valid));
  gsize n = 0;

  for (const gchar *p = valid; *p != '\0'; p = g_utf8_next_char (p), n++)
    {
      gunichar c = g_utf8_get_char (p);

      if (max_chars > 0 && n == max_chars)
        {
          g_string_append (out, "...");
          break;
        }
      if (c == '\n' && (flags & VIGIL_TEXT_KEEP_NEWLINES))
        g_string_append_c (out, '\n');
      else if (is_unsafe (c))
        g_string_append_c (out, ' ');
      else
        g_string_append_unichar (out, c);
    }
  return g_string_free (out, FALSE);
}

gboolean
vigil_text_has_control_chars (const gchar *text)
{
  g_return_val_if_fail (text != NULL, FALSE);
  for (const gchar *p = text; *p != '\0'; p = g_utf8_next_char (p))
    if (is_unsafe (g_utf8_get_char (p)))
      return TRUE;
  return FALSE;
}

/* Query parameter names (lowercase, without '-' or '_') whose values are
 * secrets, or end in one of these. */
static const gchar *const secret_names[] = {
  "password", "passwd", "pass", "pwd", "pw", "secret", "token", "key", "auth", "authorization", "credential",
  "credentials", "signature", "sig", "session", "sessionid", NULL
};

static gboolean
is_secret_name (const gchar *name, gsize length)
{
  g_autofree gchar *raw = g_strndup (name, length);
  g_autofree gchar *unescaped = g_uri_unescape_string (raw, NULL);
  GString *folded = g_string_new (NULL);
  g_autofree gchar *plain = NULL;

  for (const gchar *p = unescaped != NULL ? unescaped : raw; *p != '\0'; p++)
    if (*p != '-' && *p != '_')
      g_string_append_c (folded, g_ascii_tolower (*p));
  plain = g_string_free (folded, FALSE);
  for (guint i = 0; secret_names[i] != NULL; i++)
    if (g_str_has_suffix (plain, secret_names[i]))
      return TRUE;
  return FALSE;
}

gchar *
vigil_text_redact_url (const gchar *url)
{
  g_autoptr(GString) out = g_string_new (NULL);
  const gchar *scheme_end, *authority, *authority_end, *at = NULL, *query, *query_end;

  if (url == NULL)
    return g_strdup ("");
  scheme_end = strstr (url, "://");
  authority = scheme_end != NULL ? scheme_end + 3 : url;
  authority_end = authority + strcspn (authority, "/?#");
  for (const gchar *p = authority; p < authority_end; p++)
    if (*p == '@')
      at = p;
  g_string_append_len (out, url, authority - url);
  g_string_append_len (out, at != NULL ? at + 1 : authority, authority_end - (at != NULL ? at + 1 : authority));

  query = authority_end + strcspn (authority_end, "?#");
  g_string_append_len (out, authority_end, query - authority_end);
  if (*query == '?')
    {
      query_end = query + strcspn (query, "#");
      g_string_append_c (out, '?');
      for (const gchar *p = query + 1; p < query_end;)
        {
          const gchar *end = memchr (p, '&', query_end - p);
          const gchar *equals;

          if (end == NULL)
            end = query_end;
          equals = memchr (p, '=', end - p);
          if (equals != NULL && is_secret_name (p, equals - p))
            {
              g_string_append_len (out, p, equals + 1 - p);
              g_string_append (out, "***");
            }
          else
            g_string_append_len (out, p, end - p);
          if (end < query_end)
            g_string_append_c (out, '&');
          p = end + 1;
        }
      query = query_end;
    }
  g_string_append (out, query);
  return vigil_text_sanitize (out->str, 0, VIGIL_TEXT_DEFAULT);
}
