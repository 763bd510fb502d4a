/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the files of onvif/ but not part of its public face:
 * message formatting that keeps camera-supplied text short and printable,
 * and the two seams tests/fuzz/ drives the parsers through. Nothing here may
 * take or return a gSOAP type, so that discovery (which does not use gSOAP)
 * can include it too. */
#pragma once

#include <glib.h>

#include "vigil-onvif.h"
#include "vigil-text.h"   /* camera text in messages goes through vigil_text_sanitize() */

G_BEGIN_DECLS

/* Camera text handed to vigil's callers, who put it on D-Bus and in JSON:
 * bytes that are not UTF-8 become U+FFFD. NULL stays NULL. */
gchar *vigil_onvif_camera_text (const gchar *text);
/* Tokens go back to the camera byte for byte, so they cannot be repaired
 * like text; one that is not UTF-8 cannot cross D-Bus either, so what it
 * names is skipped. */
gboolean vigil_onvif_is_usable_token (const gchar *token);

/* For tests and fuzzing only: from now on every exchange of @self is served
 * from memory instead of the network. For each request (retries and the
 * calls a public function makes on its own included) @func gets the
 * operation's name ("GetProfiles", ...) and the URL it would go to, and
 * returns the whole HTTP answer (status line, headers, body), or NULL to
 * refuse the connection. The request itself is discarded. Everything after
 * the transport is the real path: gSOAP's HTTP and XML parsing, HTTP digest,
 * the deserialisers, and vigil's own checks and rewrites. Call it before
 * any other call; @func runs on the caller's thread or the stop thread, on
 * only one thread at a time (Stops go through a second gSOAP context, so
 * they may come between the exchanges of another call). */
typedef GBytes *(*VigilOnvifReplyFunc) (const gchar *op, const gchar *url, gpointer user_data);
void vigil_onvif_camera_set_reply_func (VigilOnvifCamera   *self,
                                        VigilOnvifReplyFunc func,
                                        gpointer            user_data);

/* WS-Discovery's parser, without the socket: one datagram from
 * @from_address (an IP address as text). ProbeMatches relating to one of
 * @ids (NULL-terminated MessageIDs) are added to @found unless already
 * there; @found maps each VigilOnvifDiscovered's endpoint (not a copy) to
 * it and owns the values. Anything else is dropped, with a debug message. */
void vigil_onvif_discovery_handle_datagram (const gchar *data, gsize len,
                                            const gchar *from_address,
                                            gchar **ids, GHashTable *found);

G_END_DECLS
