/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigilrtspsrc: an RTSP client source for recording, RTP interleaved in
 * the RTSP TCP connection only. It does what a recorder needs and no more:
 * DESCRIBE, SETUP of every audio and video stream, PLAY, keep-alive,
 * Basic and Digest authentication, TEARDOWN; then one thread per camera
 * reads the socket in large blocks, splits the interleaved frames and
 * pushes each stream's RTP packets as buffer lists, timestamped from their
 * RTP clock. No RTP session, no jitterbuffer: over TCP nothing is lost or
 * reordered, so those cost a thread hand-off per packet for nothing
 * (docs/performance.md has the measurement against rtspsrc and ffmpeg).
 *
 * Pads "stream_%u" (application/x-rtp, caps from the SDP) appear before
 * data flows, then no-more-pads. The server closing the connection is EOS;
 * anything else that goes wrong is an element error naming what. RTCP
 * sender reports become element messages "vigil-sender-report" (stream,
 * camera-offset-us: the camera's clock minus the host's); nothing is sent
 * back. It never logs the password. For UDP and rtsps:// use rtspsrc. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define VIGIL_TYPE_RTSP_SOURCE (vigil_rtsp_source_get_type ())
G_DECLARE_FINAL_TYPE (VigilRtspSource, vigil_rtsp_source, VIGIL, RTSP_SOURCE, GstElement)

/* Registers the element as "vigilrtspsrc"; safe to call more than once. */
void vigil_rtsp_source_register (void);

G_END_DECLS
