/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Showing outside text safely; see vigil-text.h. */
#include "vigil-text.h"

#include <string.h>

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
      else if (g_unichar_iscntrl (c))
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
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return TRUE;
  return FALSE;
}
