/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilLiveAuth: who may watch vigil's RTSP feeds. RTSP digest only (no
 * Basic: a password must never cross the network), against an htdigest
 * file of realm "vigil" (made with `htdigest -c FILE vigil USER` or any
 * tool that writes user:realm:md5(user:realm:password) lines). Every user
 * in the file is a viewer of every mount.
 *
 * Repeated failed logins from one address slow that address down: after
 * VIGIL_LIVE_AUTH_FAILURES failures within ten minutes its connections are
 * refused for a second, doubling with each further failure up to five
 * minutes. Nothing here ever sleeps: the server's one thread serves every
 * viewer.
 *
 * It runs on the live server's thread; vigil_live_auth_get_user() and the
 * counters may be read from any thread. */
#pragma once

#include <gst/rtsp-server/rtsp-server.h>

G_BEGIN_DECLS

#define VIGIL_LIVE_AUTH_REALM     "vigil"
#define VIGIL_LIVE_AUTH_ROLE      "viewer"
#define VIGIL_LIVE_AUTH_FAILURES  5
/* An htdigest file larger than this is refused (a user list, not a log). */
#define VIGIL_LIVE_AUTH_MAX_FILE_BYTES (1024 * 1024)

#define VIGIL_TYPE_LIVE_AUTH (vigil_live_auth_get_type ())
G_DECLARE_FINAL_TYPE (VigilLiveAuth, vigil_live_auth, VIGIL, LIVE_AUTH, GstRTSPAuth)

/* Reads @htdigest_path. Fails (G_IO_ERROR, G_FILE_ERROR or
 * G_KEY_FILE_ERROR_INVALID_VALUE) naming the file and, for a bad line, its
 * number and what is wrong with it: another realm than "vigil", a hash
 * that is not 32 hex digits, an empty user. Blank lines and lines
 * starting with '#' are skipped; CRLF line ends are accepted. A file with
 * no user is refused: nobody could watch. */
VigilLiveAuth *vigil_live_auth_new (const gchar *htdigest_path,
                                    GError     **error);

/* Whether @factory can serve now; a viewer who may watch it but asks while
 * it cannot is answered 503 Service Unavailable. Server thread. */
typedef gboolean (*VigilLiveAuthAvailable) (GstRTSPMediaFactory *factory);
void           vigil_live_auth_set_available (VigilLiveAuth          *self,
                                              VigilLiveAuthAvailable  available);

/* The user @client logged in as (its last successful request), or NULL. */
gchar         *vigil_live_auth_get_user (GstRTSPClient *client);
/* Failed logins since the server started. */
guint64        vigil_live_auth_get_n_failures (VigilLiveAuth *self);

G_END_DECLS
