/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Text from outside (a camera's reply, a D-Bus string, an export bundle)
 * made safe to show on one line of a log or a terminal, and put on D-Bus
 * or in JSON: always valid UTF-8, never a control character or a
 * bidirectional override, so it can neither forge a log line, nor send an
 * escape sequence to a terminal, nor show itself in another order.
 * Pure functions; any thread. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  VIGIL_TEXT_DEFAULT       = 0,
  VIGIL_TEXT_KEEP_NEWLINES = 1 << 0,   /* '\n' stays (a multi-line description) */
} VigilTextFlags;

/* @text with bytes that are not UTF-8 turned into U+FFFD and every
 * control character (escape sequences, tabs, newlines unless kept) and
 * bidirectional override into a space; cut to @max_chars characters followed by "..." when longer
 * (0: no limit). NULL reads as "". */
gchar    *vigil_text_sanitize          (const gchar   *text,
                                        gsize          max_chars,
                                        VigilTextFlags flags);

/* @url fit to log, store or show: without user name and password
 * ("rtsp://admin:pw@cam/" becomes "rtsp://cam/") and with the value of
 * every query parameter that looks like a secret (password, pass, pwd,
 * passwd, pw, secret, token, key, auth, apikey, signature, sig, ...)
 * replaced by "***"; then sanitised. Many cameras put credentials in the
 * stream addresses they hand out. */
gchar    *vigil_text_redact_url        (const gchar *url);

/* TRUE when valid UTF-8 @text holds a control character or a
 * bidirectional override. */
gboolean  vigil_text_has_control_chars (const gchar *text);

G_END_DECLS
