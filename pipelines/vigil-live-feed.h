/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilLiveFeed hands one camera stream's frames, as the recorder already
 * has them (parsed H.264/H.265 access units with their caps, and the
 * camera's audio after its parser), to the live RTSP media that show it:
 * vigil stays the camera's one client however many people watch.
 *
 * The recorder pushes every frame from its streaming threads; each push
 * takes the feed's own lock (never a global one), references the buffer
 * and never waits. A feed keeps the frames since the last keyframe (by
 * reference; bounded) so that the first viewer of a camera gets a picture
 * at once, and gives each attached media its own timestamps: the
 * recorder's running time less an offset taken at that media's first
 * frame, re-based with DISCONT when a new run starts, so that a media's
 * timestamps never go back. When a media falls behind (its appsrc holds
 * more than a second), its frames are dropped up to the next keyframe:
 * a viewer may skip, the recording never waits.
 *
 * It must never hold up the recording: no call from the producer side
 * blocks on a consumer. */
#pragma once

#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define VIGIL_TYPE_LIVE_FEED (vigil_live_feed_get_type ())
G_DECLARE_FINAL_TYPE (VigilLiveFeed, vigil_live_feed, VIGIL, LIVE_FEED, GObject)

/* The GOP kept for a new viewer is dropped, until the next keyframe, once it
 * holds more than this many frames or bytes (a camera with a very long
 * GOP, or a very high bitrate, is then joined at its next keyframe). */
#define VIGIL_LIVE_FEED_GOP_MAX_FRAMES 600
#define VIGIL_LIVE_FEED_GOP_MAX_BYTES  (16 * 1024 * 1024)

/* @name names the stream in logs ("cam1", "cam1/sub"). */
VigilLiveFeed *vigil_live_feed_new        (const gchar *name);
const gchar   *vigil_live_feed_get_name   (VigilLiveFeed *self);

/* A feed starts disabled: pushes return at once and nothing is kept (no
 * GOP held in memory for a server that does not run). The live server
 * enables the feeds it serves. Any thread. */
void           vigil_live_feed_set_enabled (VigilLiveFeed *self,
                                            gboolean       enabled);

/* Producer side: any thread, never blocks. @caps is the stream's current
 * format (compared by pointer first, so pass the same object while it does
 * not change); @running_time the frame's running time in the recording
 * pipeline. A video frame without GST_BUFFER_FLAG_DELTA_UNIT is a
 * keyframe. */
void vigil_live_feed_push_video (VigilLiveFeed *self,
                                 GstCaps       *caps,
                                 GstBuffer     *frame,
                                 GstClockTime   running_time);
void vigil_live_feed_push_audio (VigilLiveFeed *self,
                                 GstCaps       *caps,
                                 GstBuffer     *packet,
                                 GstClockTime   running_time);
/* The run that pushed so far has ended (camera gone, or the recorder
 * stopped): the kept GOP is dropped, and the next run's frames are
 * re-based for every attached media. */
void vigil_live_feed_end_run    (VigilLiveFeed *self);

/* Whether a viewer can be served now: a run is delivering and a keyframe
 * has been seen. Any thread. */
gboolean vigil_live_feed_is_live (VigilLiveFeed *self);
/* The current formats (references, or NULL when none): the video caps
 * exist whenever the feed is live; the audio caps while the camera's
 * audio flows (a packet within the last two seconds). Any thread. */
void     vigil_live_feed_get_caps (VigilLiveFeed *self,
                                   GstCaps      **out_video_caps,
                                   GstCaps      **out_audio_caps);
/* Consumer side. Attaches a media's sources (referenced; @audio may be
 * NULL): from now on every frame goes to them, starting with the kept GOP
 * when @with_gop (a first viewer gets a picture at once, up to one GOP
 * behind live). Returns a handle for vigil_live_feed_detach(). Any
 * thread. */
gpointer vigil_live_feed_attach (VigilLiveFeed *self,
                                 GstAppSrc     *video,
                                 GstAppSrc     *audio,
                                 gboolean       with_gop);
void     vigil_live_feed_detach (VigilLiveFeed *self,
                                 gpointer       handle);

G_END_DECLS
