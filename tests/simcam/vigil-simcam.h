/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The simulated camera: N looping H.264 or H.265 RTSP streams on 127.0.0.1,
 * or N PTZ cameras whose picture pans, tilts and zooms over a scene,
 * optionally with an AAC or G.711 A-law audio track, cheap enough to run 32
 * at 1080p next to the daemon under test, plus the faults a real camera shows
 * (stream fails, stream stalls, camera gone, resolution change), picture
 * faults (black, frozen, blurred, covered, re-aimed, ...) and optional Basic
 * or Digest authentication. A test fixture, never part of the daemon:
 * it must not depend on anything outside tests/simcam/ and never decodes or
 * re-encodes per client.
 *
 * Every function may be called from any thread; the server itself runs on a
 * thread of its own, so callers need not run a main loop. */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define VIGIL_SIMCAM_ERROR (vigil_simcam_error_quark ())
typedef enum {
  VIGIL_SIMCAM_ERROR_FAILED,   /* encoding, server socket or clip cache I/O failed; see message */
  VIGIL_SIMCAM_ERROR_INVALID,  /* bad option or argument (size, index, ...) */
  VIGIL_SIMCAM_ERROR_MISSING,  /* a needed GStreamer element is not installed */
} VigilSimcamError;
GQuark vigil_simcam_error_quark (void);

typedef enum {
  VIGIL_SIMCAM_AUTH_NONE,    /* anyone may watch */
  VIGIL_SIMCAM_AUTH_BASIC,   /* RFC 7617 Basic */
  VIGIL_SIMCAM_AUTH_DIGEST,  /* RFC 2069-style Digest, as gst-rtsp-server does it: MD5, no
                              * qop, opaque or stale; a nonce is bound to the first
                              * connection that answers with it */
} VigilSimcamAuth;

typedef enum {
  VIGIL_SIMCAM_CODEC_H264,   /* x264enc, served by rtph264pay; the default */
  VIGIL_SIMCAM_CODEC_H265,   /* x265enc, served by rtph265pay */
} VigilSimcamCodec;

/* The audio track, stream 1 (pay1) of every mount next to the video (pay0).
 * Its timestamps follow the video's running time, so the two stay in step
 * within one audio frame. It is a tone encoded once, as long as the video
 * clip (give or take one AAC frame), looping on its own; not cached in
 * clip_cache. */
typedef enum {
  VIGIL_SIMCAM_AUDIO_NONE,   /* video only; the default */
  VIGIL_SIMCAM_AUDIO_AAC,    /* AAC-LC, 16 kHz mono, 1024-sample frames (64 ms), RTP
                              * MPEG4-GENERIC (RFC 3640, AAC-hbr) with payload type 97;
                              * encoded with fdkaacenc, voaacenc or avenc_aac, the
                              * first installed */
  VIGIL_SIMCAM_AUDIO_PCMA,   /* G.711 A-law, 8 kHz mono, 20 ms packets, static payload
                              * type 8 */
} VigilSimcamAudio;

/* What a mount's camera sees; switchable at run time per mount, for the
 * frame-health checks. Every picture is a clip of its own, encoded with the
 * same settings as the first, so the receiver sees one unbroken stream with
 * unchanged parameter sets. The scene (NORMAL) is a still SMPTE background,
 * the camera's view, with a band of scrolling bars across its bottom quarter,
 * traffic; all pictures but FROZEN carry a running clock at the bottom
 * right when timeoverlay is installed, as a camera's own overlay does
 * whatever happens to its lens. */
typedef enum {
  VIGIL_SIMCAM_PICTURE_NORMAL,   /* the scene; the default */
  VIGIL_SIMCAM_PICTURE_BLACK,    /* black with faint noise: lens cap, no signal */
  VIGIL_SIMCAM_PICTURE_WHITE,    /* plain white: white-out, a light shone in */
  VIGIL_SIMCAM_PICTURE_FROZEN,   /* the scene's first frame, clock included, held: one GOP of
                                  * it over and over, so keyframes are bit-identical, as an
                                  * encoder fed one picture at a steady rate sends them */
  VIGIL_SIMCAM_PICTURE_BLURRED,  /* the scene defocused (scaled to 1/16 and back), clock sharp */
  VIGIL_SIMCAM_PICTURE_COVERED,  /* uniform dark grey with a little noise: a hand, tape, spray */
  VIGIL_SIMCAM_PICTURE_REAIMED,  /* the background panned by a third of the width, wrapping */
  VIGIL_SIMCAM_PICTURE_NIGHT,    /* healthy but tricky: the scene dim, low in contrast and
                                  * noisy */
  VIGIL_SIMCAM_PICTURE_STATIC,   /* healthy but tricky: the scene with the band standing still,
                                  * so only the clock and the sensor's noise change */
} VigilSimcamPicture;

/* "normal", "black", ..., "static"; NULL for an unknown value. */
const gchar *vigil_simcam_picture_to_string   (VigilSimcamPicture picture);
/* FALSE if @name is none of those. */
gboolean     vigil_simcam_picture_from_string (const gchar        *name,
                                               VigilSimcamPicture *out_picture);

/* Zero-initialised fields take the defaults given; new fields are only ever
 * appended, so designated initializers written for older versions keep
 * working. */
typedef struct {
  guint        n_streams;      /* mounts /cam0 .. /cam{n-1}; 0 is taken as 1 */
  guint        width, height;  /* of the clip, even numbers; 640x360 when 0 */
  guint        fps;            /* 25 when 0 */
  guint        bitrate_kbps;   /* x264 or x265 target; 1000 when 0 */
  guint        gop_frames;     /* keyframe interval; fps (1 s) when 0 */
  guint        clip_seconds;   /* clip length before it loops; 10 when 0 */
  guint        port;           /* TCP port on 127.0.0.1; 0 picks a free one */
  const gchar *clip_cache;     /* optional file: the encoded clip is loaded from it when it
                                * exists and was made with the same settings (codec
                                * included), otherwise encoded and saved there */
  /* With auth other than NONE, DESCRIBE and SETUP on every mount need @user
   * and @password (both required then; @user without ':'); without them, or
   * with wrong ones, they get 401 Unauthorized and one challenge header,
   *   WWW-Authenticate: Basic realm="GStreamer RTSP Server"  or
   *   WWW-Authenticate: Digest realm="GStreamer RTSP Server", nonce="<16 hex>"
   * and the connection stays open. OPTIONS needs no credentials, nor does
   * any request in a session SETUP made (PLAY, PAUSE, GET_PARAMETER,
   * TEARDOWN): gst-rtsp-server checks them only where it looks up a mount.
   * With NONE, @user and @password are ignored. */
  const gchar *user;
  const gchar *password;
  VigilSimcamAuth auth;
  /* Either codec has IDRs exactly every gop_frames, no B-frames, parameter
   * sets (VPS,) SPS and PPS in front of every IDR and no access unit
   * delimiters. Missing encoders make vigil_simcam_new() fail with
   * VIGIL_SIMCAM_ERROR_MISSING. */
  VigilSimcamCodec codec;
  VigilSimcamAudio audio;
  /* What every mount shows at first. With clip_cache, the clips of pictures
   * other than NORMAL are cached next to it, in "CLIP_CACHE.<picture>". */
  VigilSimcamPicture picture;
  /* How far the camera's clock is off the host's, in seconds (+ = ahead):
   * the wall clock in its RTCP sender reports. 0: the host's clock. */
  gint clock_offset_seconds;
  /* Every mount is a PTZ camera (see vigil_simcam_set_ptz()): instead of a
   * pre-encoded clip it has a live encoder of its own (one per mount, shared
   * by its clients) fed with frames rendered from the PTZ scene, with the
   * codec, bitrate and GOP above (x264/x265 at speed-preset ultrafast, one
   * thread), so receivers see the same stream shape as from a clip mount:
   * no B-frames, parameter sets in front of every IDR, no delimiters. IDRs
   * come every gop_frames, counted from the last IDR, plus one whenever a
   * viewer starts or the video resumes after a fault, as real cameras do.
   * It costs CPU all the time, clients or not: about 6% of a core at
   * 640x360, 25 fps, H.264, against 1% for a clip mount. Needs @picture NORMAL; @clip_cache is not used.
   * Faults, offline and audio work as on any mount; set_picture and
   * set_resolution fail with VIGIL_SIMCAM_ERROR_INVALID. */
  gboolean ptz;
  /* Optional: an H.264 or H.265 elementary stream (Annex B, of @codec) made
   * by another encoder, such as ffmpeg's libx264 or libx265, which every
   * mount serves instead of a clip of its own, looping. It must be
   * @width x @height (checked) at @fps (taken as given); it may have
   * B-frames (the mounts send frames in file order) but must start with a
   * keyframe. Parameter sets are put in front of every keyframe. Needs
   * @picture NORMAL and no @ptz; set_picture and set_resolution fail with
   * VIGIL_SIMCAM_ERROR_INVALID. @clip_cache is not used. */
  const gchar *clip_file;
} VigilSimcamOptions;

typedef enum {
  VIGIL_SIMCAM_FAULT_NONE,   /* normal */
  VIGIL_SIMCAM_FAULT_DROP,   /* sessions and connections of the mount are closed, DESCRIBE gets 404 */
  VIGIL_SIMCAM_FAULT_STALL,  /* connections stay and RTSP answers, but no media data flows */
  VIGIL_SIMCAM_FAULT_VIDEO_STALL,  /* as STALL for the video only: the audio (if any) keeps
                                    * flowing with running timestamps */
  VIGIL_SIMCAM_FAULT_KEYFRAMES_ONLY,  /* only keyframes are sent: the frame rate and bitrate
                                       * collapse while the stream stays decodable */
} VigilSimcamFault;

#define VIGIL_TYPE_SIMCAM (vigil_simcam_get_type ())
G_DECLARE_FINAL_TYPE (VigilSimcam, vigil_simcam, VIGIL, SIMCAM, GObject)

/* Encodes the clip (or loads it from options->clip_cache) and starts serving
 * before it returns. */
VigilSimcam *vigil_simcam_new             (const VigilSimcamOptions *options,
                                           GError                  **error);
guint        vigil_simcam_get_port        (VigilSimcam *self);
guint        vigil_simcam_get_n_streams   (VigilSimcam *self);
/* rtsp://127.0.0.1:PORT/camK */
gchar       *vigil_simcam_get_url         (VigilSimcam *self,
                                           guint        index);

/* DROP closes every session and connection of mount @index now and answers
 * DESCRIBE with 404 until the fault is set back to NONE. STALL keeps every
 * connection open but stops media data on that mount, audio included.
 * VIDEO_STALL keeps every connection open and the audio flowing, timestamps
 * running on, but sends no video RTP packets (the video stream's RTCP goes on
 * as gst-rtsp-server sends it: a camera whose sensor died). NONE serves again; after STALL
 * the video resumes at the next keyframe, the audio with it, and the
 * timestamps of both jump over the gap; after VIDEO_STALL the video resumes
 * at the next keyframe with timestamps that jump over the gap, in step with
 * the audio's. KEYFRAMES_ONLY sends a keyframe where the clip (or a PTZ
 * mount's encoder) has one and nothing in the other frames' slots, audio
 * excepted: a camera whose frame rate collapsed to one frame per GOP, its
 * timestamps running on; NONE resumes at the next keyframe. Going from one
 * fault to another directly is allowed. */
void         vigil_simcam_set_fault       (VigilSimcam     *self,
                                           guint            index,
                                           VigilSimcamFault fault);
VigilSimcamFault vigil_simcam_get_fault   (VigilSimcam *self,
                                           guint        index);

/* Offline closes the listening socket (connect() is refused) and every client
 * connection; back online listens on the same port again. Going back online
 * fails only if something else took the port meanwhile. */
gboolean     vigil_simcam_set_offline_full (VigilSimcam *self,
                                            gboolean     offline,
                                            GError     **error);
/* As vigil_simcam_set_offline_full(), logging a warning if it fails. */
void         vigil_simcam_set_offline     (VigilSimcam *self,
                                           gboolean     offline);
gboolean     vigil_simcam_is_offline      (VigilSimcam *self);

/* Not for PTZ mounts (VIGIL_SIMCAM_ERROR_INVALID).
 * Mount @index switches at its next keyframe to a clip of @width x @height
 * showing its current picture (encoded now unless already known; same codec,
 * fps, GOP and length), so
 * receivers see new parameter sets and caps mid-stream, with either codec;
 * the audio goes on unchanged. Blocks while encoding. */
gboolean     vigil_simcam_set_resolution  (VigilSimcam *self,
                                           guint        index,
                                           guint        width,
                                           guint        height,
                                           GError     **error);

/* Not for PTZ mounts (VIGIL_SIMCAM_ERROR_INVALID).
 * Mount @index switches at its next keyframe to @picture, at its current
 * size, with timestamps running on; the audio goes on unchanged. Encodes the
 * picture's clip first unless already known (a fraction of a second at
 * 320x240, seconds at 1080p), blocking the caller meanwhile. */
gboolean     vigil_simcam_set_picture     (VigilSimcam        *self,
                                           guint               index,
                                           VigilSimcamPicture  picture,
                                           GError            **error);
VigilSimcamPicture vigil_simcam_get_picture (VigilSimcam *self,
                                             guint        index);

/* The PTZ scene is a still landscape twice the output's width and height,
 * rendered into each frame through a window that pan, tilt and zoom move and
 * scale (nearest-neighbour), so a test reads the head's position from
 * decoded frames:
 *   - luma rises linearly from 32 at the scene's left edge to 224 at its
 *     right, so the frame's mean luma rises with pan: about 32 + 192 * cx,
 *     where cx = 0.5 + pan * (1 - w) / 2 is the window's centre as a fraction
 *     of the scene width and w = 1 / (2 * (1 + 3 * zoom)) its width as one;
 *     at zoom 0 that is 80 at pan -1, 128 at 0 and 176 at +1;
 *   - the tint changes with height: Cb rises linearly from 80 at the top to
 *     176 at the bottom (Cr falls from 176 to 80), so the frame's mean Cb
 *     falls as tilt rises: about 80 + 96 * cy, with
 *     cy = 0.5 - tilt * (1 - w) / 2; at zoom 0 that is 104 at tilt +1, 128 at
 *     0 and 152 at -1;
 *   - zoom magnifies: the mean luma of the right half of the frame minus
 *     that of its left half is about 96 * w, 48 at zoom 0 and 12 at zoom 1.
 * Each within a few levels: the scene also has a checkerboard texture (+-12
 * luma, cells of 1/64 of its width) and fixed fine noise, cars crossing it
 * on three roads (at 0.3, 0.7 and 0.85 of its height, so none in the tele
 * view of its centre), a little sensor noise that changes every frame, and
 * the running clock at the bottom right when timeoverlay is installed, so
 * frame-health checks see a sharp, live picture. Values are limited-range
 * 8-bit Y'CbCr, as a decoder outputs them.
 * VigilFrameHealth (defaults) judges every position healthy, tele included,
 * but its MOVED verdict does not fire on a move of this scene: its rank
 * correlation of cell means barely changes when the window slides along a
 * monotone ramp (scene difference about 0.05 after a full pan, 0.3 after a
 * full tilt, 0.55 at full zoom, against a threshold of 0.6). Tests that need
 * MOVED use VIGIL_SIMCAM_PICTURE_REAIMED on a clip mount. */

/* Whether mount @index is a PTZ camera (VigilSimcamOptions.ptz). */
gboolean     vigil_simcam_has_ptz         (VigilSimcam *self,
                                           guint        index);
/* Moves PTZ mount @index's head: @pan and @tilt from -1 to 1 (+ is right and
 * up), @zoom from 0 (widest: the window shows half the scene's width) to 1
 * (tele: a quarter of that), each clamped into its range; the window's
 * magnification is 1 + 3 * zoom. The next frame rendered, at most one frame
 * period later, shows the new position, and receivers see it a frame after
 * that (the encoder's output is sent on the next frame tick). Calling it
 * for a mount that is not a PTZ camera, or with NaN, is a programmer error. */
void         vigil_simcam_set_ptz         (VigilSimcam *self,
                                           guint        index,
                                           gdouble      pan,
                                           gdouble      tilt,
                                           gdouble      zoom);
/* The position last set (clamped), 0, 0, 0 at first; any out pointer may be
 * NULL. A programmer error on a mount that is not a PTZ camera. */
void         vigil_simcam_get_ptz         (VigilSimcam *self,
                                           guint        index,
                                           gdouble     *pan,
                                           gdouble     *tilt,
                                           gdouble     *zoom);

/* RTSP clients with a session on mount @index. */
guint        vigil_simcam_get_n_clients   (VigilSimcam *self,
                                           guint        index);

/* 401 Unauthorized answers sent since vigil_simcam_new(), on all mounts. A
 * client that authenticates correctly usually gets one too: its first
 * DESCRIBE goes without credentials to learn the challenge. */
guint        vigil_simcam_get_n_auth_failures (VigilSimcam *self);
/* Of those, the answers to requests that carried credentials (an
 * Authorization header): the failed logins a real camera counts before it
 * locks the account or the address. A client with a wrong password that
 * first asks without credentials (to learn the challenge) costs two 401s
 * per attempt but one refused login. */
guint        vigil_simcam_get_n_logins_refused (VigilSimcam *self);

/* From now on mount @index answers DESCRIBE with @status (300 to 599), as
 * a camera at its session or connection limit answers 503 Service
 * Unavailable, before it checks credentials; sessions already playing go
 * on. 0 serves again. */
void         vigil_simcam_set_describe_status (VigilSimcam *self,
                                               guint        index,
                                               guint        status);

G_END_DECLS
