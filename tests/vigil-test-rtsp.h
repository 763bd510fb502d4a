/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A raw RTSP viewer for tests, written on a plain socket so that it can do
 * what no player does: log in with digest, play the video over
 * interleaved TCP with a tiny receive buffer, and then never read again
 * (a viewer that stalls). Its requests fail the test when an answer is
 * malformed; each read waits at most the given bound. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct VigilTestRtsp VigilTestRtsp;

/* Connects to 127.0.0.1:@port and sends DESCRIBE for /@path without
 * credentials: the answer must be 401 with a digest challenge of realm
 * "vigil" and no Basic one; its nonce is kept for the next requests,
 * signed for @user and @password. Every read waits at most @timeout_s. */
VigilTestRtsp *vigil_test_rtsp_connect (guint        port,
                                        const gchar *path,
                                        const gchar *user,
                                        const gchar *password,
                                        guint        timeout_s);
/* Sends @method for @uri (NULL: the connection's rtsp://127.0.0.1:PORT/PATH)
 * with digest credentials, the session once known and @extra header
 * lines; returns the answer's status (0 when the connection closed). */
guint          vigil_test_rtsp_request (VigilTestRtsp *self,
                                        const gchar   *method,
                                        const gchar   *uri,
                                        const gchar   *extra,
                                        gchar        **out_headers,
                                        gchar        **out_body);
/* DESCRIBE, SETUP of stream=0 over interleaved TCP and PLAY, each of which
 * must answer 200; from then on nothing is read. */
void           vigil_test_rtsp_play    (VigilTestRtsp *self);
/* vigil_test_rtsp_play() on a thread of its own, while the caller's main
 * context keeps running (as vigild's or the recorder's reports need). */
void           vigil_test_rtsp_play_in_thread (VigilTestRtsp *self);
void           vigil_test_rtsp_free    (VigilTestRtsp *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilTestRtsp, vigil_test_rtsp_free)

G_END_DECLS
