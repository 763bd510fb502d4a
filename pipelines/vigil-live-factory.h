/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilLiveFactory: the RTSP media of one live stream (a camera's main
 * stream or its sub-stream), shared by all its viewers and fed by a
 * VigilLiveFeed without re-encoding: appsrc → RTP payloader for the video,
 * and for the camera's audio (AAC, G.711 A-law or µ-law) when it has some.
 *
 * The first viewer of a media gets the feed's kept GOP, so a picture at
 * once; a viewer joining a media already playing starts at the next
 * keyframe (vigil_live_factory_gate()), never on a frame that decodes to
 * grey. The payloaders send as the camera delivers (no clock sync, no
 * rate control): the camera sets the pace.
 *
 * Runs on the live server's thread, but for the keyframe gate's probe (the
 * media's streaming thread). */
#pragma once

#include <gst/rtsp-server/rtsp-server.h>

#include "vigil-live-feed.h"

G_BEGIN_DECLS

#define VIGIL_TYPE_LIVE_FACTORY (vigil_live_factory_get_type ())
G_DECLARE_FINAL_TYPE (VigilLiveFactory, vigil_live_factory, VIGIL, LIVE_FACTORY, GstRTSPMediaFactory)

VigilLiveFactory *vigil_live_factory_new      (VigilLiveFeed *feed);
VigilLiveFeed    *vigil_live_factory_get_feed (VigilLiveFactory *self);

/* Holds back @client's transports of @sessmedia (just played) until the
 * next keyframe leaves the payloader, unless its media has not sent
 * anything yet (the first viewer, served from the kept GOP). */
void vigil_live_factory_gate   (GstRTSPSessionMedia *sessmedia,
                                GstRTSPClient       *client);
/* Forgets whatever is held back for @client in @media (it went away). */
void vigil_live_factory_ungate (GstRTSPMedia        *media,
                                GstRTSPClient       *client);

G_END_DECLS
