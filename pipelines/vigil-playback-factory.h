/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilPlaybackFactory: the RTSP media factory of a camera's recorded
 * playback mount (CAMERA/playback). Each viewer gets a media of its own
 * (unshared) playing VigilPlaybackSource through rtph264pay or rtph265pay
 * and rtponviftimestamp. Two forms share that one pipeline:
 *   rtsp://HOST:PORT/CAMERA/playback?start=ISO-8601[&end=ISO-8601]
 *   ONVIF Profile G replay: "Require: onvif-replay" and "Range: clock=..."
 * (GstRTSPOnvifServer's clients only). It never touches storage: the
 * daemon gives it a VigilPlaybackLister. */
#pragma once

#include <gst/rtsp-server/rtsp-onvif-media-factory.h>
#include <gst/rtsp-server/rtsp-client.h>

#include "vigil-playback-source.h"

G_BEGIN_DECLS

/* The most a query (after "?") may hold. */
#define VIGIL_PLAYBACK_MAX_QUERY_BYTES 256

#define VIGIL_TYPE_PLAYBACK_FACTORY (vigil_playback_factory_get_type ())
G_DECLARE_FINAL_TYPE (VigilPlaybackFactory, vigil_playback_factory, VIGIL, PLAYBACK_FACTORY, GstRTSPOnvifMediaFactory)

/* A factory for @camera's recording. @lister is called (with @user_data)
 * on the RTSP server's thread and on streaming threads, as long as the
 * factory or any media it made lives; @notify frees @user_data after the
 * last of them is gone. */
VigilPlaybackFactory *vigil_playback_factory_new (const gchar         *camera,
                                                  VigilPlaybackLister  lister,
                                                  gpointer             user_data,
                                                  GDestroyNotify       notify);

/* Parses a playback query ("start=...&end=...", without the "?"; NULL or
 * "" for none): times in ISO 8601 with a zone ("Z" or "+02:00"), start
 * before end, years 1970 to 2200, no other keys. Sets *@start_us to 0 and
 * *@end_us to G_MAXINT64 for what is not given. Fails with
 * VIGIL_PLAYBACK_ERROR_INVALID. */
gboolean vigil_playback_parse_query (const gchar *query,
                                     gint64      *start_us,
                                     gint64      *end_us,
                                     GError     **error);

/* What a request for @uri (with @range, its Range header or NULL) should
 * get: GST_RTSP_STS_OK, GST_RTSP_STS_BAD_REQUEST for a malformed query or
 * range (@error says what), or GST_RTSP_STS_NOT_FOUND when the range
 * holds no recording. Asks the lister once. */
GstRTSPStatusCode vigil_playback_factory_check (VigilPlaybackFactory *self,
                                                const GstRTSPUrl     *uri,
                                                const gchar          *range,
                                                GError              **error);

/* Makes @client answer DESCRIBE, SETUP and PLAY of playback mounts with
 * vigil_playback_factory_check()'s status (400 or 404 with a reason
 * phrase) rather than 503. Call it from the server's "client-connected".
 * Without it a bad query still fails cleanly, as 503 Service Unavailable:
 * gst-rtsp-server gives that whenever a factory makes no element. */
void vigil_playback_watch_client (GstRTSPClient *client);

G_END_DECLS
