/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilLiveServer serves every camera to viewers over RTSP, from vigil's
 * one connection to each camera (gst-rtsp-server): rtsp://HOST:PORT/CAM
 * for the live main stream, CAM/sub for the sub-stream, each shared by all
 * its viewers and never re-encoded (VigilLiveFactory). Viewers log in with
 * RTSP digest (VigilLiveAuth); TCP only.
 *
 * It runs on a thread of its own with its own GMainContext: a DESCRIBE
 * waits for its media to start, and vigild's main loop must never wait.
 * A viewer that stops reading is closed once its socket's unsent bytes
 * stay above half its send buffer for three seconds, so it can hold up
 * neither the recording (the feeds never wait) nor the other viewers.
 *
 * Each viewing session (one PLAY of one mount by one connection, until
 * its teardown, its connection's end or its timeout) is reported by
 * ::session-started and ::session-ended on the main context that made the
 * server, for the audit log; vigil_live_server_list_sessions() lists those
 * going on. */
#pragma once

#include <gst/gst.h>

#include "vigil-live-feed.h"

G_BEGIN_DECLS

typedef struct {
  const gchar *address;          /* to listen on; NULL for 127.0.0.1 */
  guint        port;             /* 0 for any free port (tests) */
  const gchar *htdigest_path;    /* required: realm "vigil" */
  guint        max_viewers;      /* connections at once; 0 for 64 */
} VigilLiveServerConfig;

typedef struct {
  guint64  id;                   /* unique while the server lives */
  gchar   *user;                 /* who logged in */
  gchar   *address;              /* the viewer's IP address */
  gchar   *camera;
  gchar   *mount;                /* "cam1", "cam1/sub", "cam1/playback" */
  gchar   *kind;                 /* "live" or "playback" */
  gchar   *range;                /* playback: the request's range, as asked; NULL for live */
  gint64   start_us;             /* wall clock: its first PLAY */
  gint64   duration_us;          /* at its end (::session-ended); 0 while it goes on */
  gchar   *end_reason;           /* "teardown", "disconnected", "timed out", "dropped: not reading",
                                  * "server stopped"; NULL while it goes on */
} VigilLiveSession;

#define VIGIL_TYPE_LIVE_SESSION (vigil_live_session_get_type ())
GType             vigil_live_session_get_type (void);
VigilLiveSession *vigil_live_session_copy (const VigilLiveSession *session);
void              vigil_live_session_free (VigilLiveSession *session);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilLiveSession, vigil_live_session_free)

#define VIGIL_TYPE_LIVE_SERVER (vigil_live_server_get_type ())
G_DECLARE_FINAL_TYPE (VigilLiveServer, vigil_live_server, VIGIL, LIVE_SERVER, GObject)

/* Reads the htdigest file; fails naming what is wrong with it. Does not
 * listen yet. */
VigilLiveServer *vigil_live_server_new   (const VigilLiveServerConfig *config,
                                          GError                     **error);
/* Serves @camera's live feeds (@sub may be NULL) from now on, and enables
 * them (vigil_live_feed_set_enabled()). Main thread. */
void             vigil_live_server_add_camera (VigilLiveServer *self,
                                               const gchar     *camera,
                                               VigilLiveFeed   *main_feed,
                                               VigilLiveFeed   *sub_feed);
/* Mounts @factory (a GstRTSPMediaFactory, referenced) at /@path, e.g. a
 * camera's playback (VigilPlaybackFactory), open to every viewer. Main
 * thread. */
void             vigil_live_server_add_factory (VigilLiveServer *self,
                                                const gchar     *path,
                                                gpointer         factory);
/* Listens and starts the server's thread; fails when the address cannot be
 * bound (in use, not local), naming it. */
gboolean         vigil_live_server_start (VigilLiveServer *self,
                                          GError         **error);
/* Closes every viewer (their sessions end with "server stopped") and the
 * listening socket, and joins the thread; waits at most a few seconds.
 * Main thread. Also done on finalize. */
void             vigil_live_server_stop  (VigilLiveServer *self);
/* The port listened on (the one chosen when 0 was asked), 0 before start. */
guint            vigil_live_server_get_port (VigilLiveServer *self);
/* The sessions going on, oldest first; element type VigilLiveSession.
 * Any thread. */
GPtrArray       *vigil_live_server_list_sessions (VigilLiveServer *self);
/* Viewers closed because they stopped reading, and failed logins, since
 * the server started. */
guint64          vigil_live_server_get_n_dropped (VigilLiveServer *self);
guint64          vigil_live_server_get_n_auth_failures (VigilLiveServer *self);

G_END_DECLS
