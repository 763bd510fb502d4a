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
