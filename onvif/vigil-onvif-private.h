/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the files of onvif/ but not part of its public face:
 * message formatting that keeps camera-supplied text short and printable.
 * Nothing here may take or return a gSOAP type, so that discovery (which
 * does not use gSOAP) can include it too. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* At most @max_chars of @text, control characters replaced by spaces and
 * "..." appended when cut; "(none)" for NULL. For camera-supplied strings
 * that end up in GError messages. */
gchar *vigil_onvif_sanitize_text (const gchar *text, gsize max_chars);

G_END_DECLS
