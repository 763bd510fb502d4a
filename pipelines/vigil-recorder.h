/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilRecorder records one camera's RTSP feed into segment files, stream
 * copy only: RTSP source → depayloader → parser → splitmuxsink(matroskamux).
 * The source is vigilrtspsrc (vigil-rtsp-source.h) for rtsp:// over TCP,
 * GStreamer's rtspsrc for UDP, rtsps:// or when asked to.
 *
 * One vigil_recorder_start() is one "run": an unbroken connection. The
 * run ends on stop, on a stream error or end, or when no video arrived
 * for the stall timeout; the recorder then finalises the open segment,
 * tears the pipeline down off the main thread and emits ::run-ended. It
 * never restarts by itself: reconnect policy belongs to its owner.
 *
 * Signals are emitted on the main context the recorder was created in, in
 * this order per run: ::run-started, then per segment ::segment-opened and
 * ::segment-closed (only after the file and its folders were fsync'ed;
 * ::segment-failed instead when that fsync fails, or the segment never
 * closed: the last one did not in time, or a write failed and left it as
 * far as it got), then ::run-ended exactly once for every successful
 * start. With frame
 * health on, ::frame-health comes between ::run-started and ::run-ended,
 * about once per interval; with vigilrtspsrc, ::camera-clock every few
 * seconds, for each RTCP sender report. The recorder never touches the
 * catalog and never logs the camera password.
 *
 * Frame health can never hold up the recording: the keyframes it needs are
 * handed to a VigilHealthPool, whose decoders are shared by all cameras and
 * which skips what it has no time for, and a keyframe that cannot be judged
 * (a decoder error, an odd pixel format) is logged at most once a minute
 * and never ends the run. */
#pragma once

#include <gst/gst.h>

#include "vigil-frame-health.h"
#include "vigil-health-pool.h"
#include "vigil-live-feed.h"

G_BEGIN_DECLS

#define VIGIL_PIPELINE_ERROR (vigil_pipeline_error_quark ())
typedef enum {
  VIGIL_PIPELINE_ERROR_FAILED,       /* GStreamer refused; see message */
  VIGIL_PIPELINE_ERROR_MISSING,      /* a GStreamer element is not installed */
  VIGIL_PIPELINE_ERROR_BUSY,         /* start while a run is still active */
  VIGIL_PIPELINE_ERROR_UNREADABLE,   /* probe, snapshot: the file holds no readable video */
  VIGIL_PIPELINE_ERROR_OUT_OF_RANGE, /* snapshot: the time is past the file's end */
  VIGIL_PIPELINE_ERROR_TIMED_OUT,    /* snapshot: no picture within the timeout */
  VIGIL_PIPELINE_ERROR_TOO_LARGE,    /* snapshot: the JPEG exceeds its size bound */
} VigilPipelineError;
GQuark vigil_pipeline_error_quark (void);

typedef struct {
  const gchar  *camera;              /* id: names the folder under root, appears in logs */
  const gchar  *url;                 /* rtsp:// URL; must not carry credentials; may be NULL
                                      * until vigil_recorder_set_url() */
  const gchar  *user;                /* NULL for none */
  const gchar  *password;            /* NULL for none; never logged */
  gboolean      allow_basic_auth;    /* answer a camera offering only Basic (vigilrtspsrc; rtspsrc always does) */
  gboolean      use_udp;             /* RTP over UDP instead of interleaved TCP */
  gboolean      use_rtspsrc;         /* GStreamer's rtspsrc even where vigilrtspsrc would do */
  const gchar  *root;                /* storage root; files go to root/camera/YYYY/MM/DD/ */
  GstClockTime  segment_duration;    /* upper bound: cut on the last keyframe before it */
  GstClockTime  stall_timeout;       /* end the run after this long without video */
  /* Frame health (off when FALSE): keyframes, at most one per
   * frame_health_interval, are decoded off the recording path and judged
   * by a VigilFrameHealth that lives as long as the recorder, so what it
   * learned survives reconnects; each result is a ::frame-health. */
  gboolean                        frame_health;
  const VigilFrameHealthSettings *frame_health_settings;  /* NULL for the defaults; copied */
  GstClockTime                    frame_health_interval;  /* 0 for one second */
  /* A smaller stream of the same camera (rtsp://, same credentials) whose
   * keyframes frame health judges instead, over a connection of its own;
   * NULL for the main stream's. If it fails, the run falls back to the
   * main stream's keyframes. */
  const gchar                    *frame_health_url;
  /* A picture that has been healthy for a while (no verdict, not learning,
   * no unchanged sample, frame sizes normal) is looked at this often
   * instead of every frame_health_interval: 0 for 6 s; at most as often as
   * frame_health_interval. Set it to frame_health_interval for a fixed
   * rate. */
  GstClockTime                    frame_health_calm_interval;
  /* Decodes and judges the keyframes, shared with other cameras; NULL for
   * vigil_health_pool_get_default(). Referenced. */
  VigilHealthPool                *frame_health_pool;
  /* Where the recording's frames (video and audio, as recorded) and the
   * sub-stream's frames go for live viewers; NULL for nowhere. Referenced;
   * told when each run ends. The sub-stream is only open while frame
   * health judges it. */
  VigilLiveFeed                  *live_feed;
  VigilLiveFeed                  *live_sub_feed;
} VigilRecorderConfig;

typedef struct {                     /* a segment that has just been closed */
  gchar    *path;                    /* relative to root */
  gint64    start_us, end_us;        /* wall clock: first frame, end of last frame */
  gint64    media_duration_ns;       /* from the stream's timestamps */
  guint64   size_bytes;
  guint64   frames, keyframes;       /* video */
  gchar    *codec;                   /* "h264", "h265", with "+aac", "+pcma", "+pcmu" for audio */
} VigilClosedSegment;

#define VIGIL_TYPE_CLOSED_SEGMENT (vigil_closed_segment_get_type ())
GType vigil_closed_segment_get_type (void);
VigilClosedSegment *vigil_closed_segment_copy (const VigilClosedSegment *segment);
void vigil_closed_segment_free (VigilClosedSegment *segment);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilClosedSegment, vigil_closed_segment_free)

/* File name of a segment starting at @start_us, relative to the storage
 * root: CAMERA/YYYY/MM/DD/YYYYMMDDTHHMMSS.mmmZ.mkv (UTC, sortable). */
gchar   *vigil_segment_path_for (const gchar *camera, gint64 start_us);
/* The inverse, for files found on disk: camera and start from a relative
 * path; FALSE if @relative_path does not have that shape. */
gboolean vigil_segment_path_parse (const gchar *relative_path, gchar **out_camera, gint64 *out_start_us);

/* Prefix of the end reason of a run that ended because the camera changed
 * its video format (resolution, codec, codec data) mid-stream: the files
 * cannot hold two formats, so a new run should start at once. */
#define VIGIL_RECORDER_FORMAT_CHANGED "format changed"
/* Prefix of the end reason of a run whose video stopped for the stall
 * timeout while its audio kept arriving: the camera is reachable, its
 * video is not. */
#define VIGIL_RECORDER_VIDEO_MISSING "video missing"
/* Prefix of the end reason of a run, and of the reason of a
 * ::segment-failed, when the file system refused a write for want of
 * space (ENOSPC) or quota (EDQUOT): "disk full: No space left on the
 * resource.". Said in the same words whatever the locale, so the owner can
 * free space at once and retry when there is some. */
#define VIGIL_RECORDER_DISK_FULL "disk full"
/* A run the camera refused (login refused, or busy) ends with a reason
 * made by vigil_rtsp_refusal_describe() (vigil-rtsp-refusal.h). */

#define VIGIL_TYPE_RECORDER (vigil_recorder_get_type ())
G_DECLARE_FINAL_TYPE (VigilRecorder, vigil_recorder, VIGIL, RECORDER, GObject)

VigilRecorder *vigil_recorder_new        (const VigilRecorderConfig *config);
const gchar   *vigil_recorder_get_camera (VigilRecorder *self);
/* The camera's analyser, for requests such as
 * vigil_frame_health_relearn_reference() after a PTZ move; NULL when frame
 * health is off. Owned by the recorder. */
VigilFrameHealth *vigil_recorder_get_frame_health (VigilRecorder *self);
/* The address the next run connects to (an ONVIF camera's is learned
 * after the recorder was made). Main thread. */
void           vigil_recorder_set_url    (VigilRecorder *self,
                                          const gchar   *url);
/* The user and password the next run logs in with (a password file may
 * have been corrected since); NULL for none. Only between runs. */
void           vigil_recorder_set_credentials (VigilRecorder *self,
                                               const gchar   *user,
                                               const gchar   *password);
/* The sub-stream frame health judges from the next run on, or NULL for the
 * main stream's keyframes (see VigilRecorderConfig.frame_health_url);
 * ignored when frame health is off or for other than rtsp://. Main thread. */
void           vigil_recorder_set_health_url (VigilRecorder *self,
                                              const gchar   *url);
/* Starts a run. Fails only when GStreamer elements are missing, no URL
 * was set or a run is active; connection problems end the run later, via
 * ::run-ended. */
gboolean       vigil_recorder_start      (VigilRecorder *self, GError **error);
/* Ends the active run, if any, finalising its open segment; ::run-ended
 * follows with reason "stopped". Does not block. */
void           vigil_recorder_stop       (VigilRecorder *self);
gboolean       vigil_recorder_is_running (VigilRecorder *self);
/* Closes the open segment at the next keyframe (a new one goes on at
 * once), so that what was recorded until now is a complete, cataloged
 * segment within about a GOP: for an export that reaches up to now.
 * FALSE when no run is recording. Main thread. */
gboolean       vigil_recorder_close_segment_now (VigilRecorder *self);
/* The newest keyframe the recording has seen, for a snapshot
 * (vigil-snapshot.h): its caps (codec_data included), the buffer itself
 * (a reference: never write to it) and its wall clock. From the current
 * run, or from the last one until the next starts; FALSE (and NULL, 0)
 * when no run has delivered one. Any thread. */
gboolean       vigil_recorder_get_latest_keyframe (VigilRecorder *self,
                                                   GstCaps      **out_caps,
                                                   GstBuffer    **out_keyframe,
                                                   gint64        *out_wall_us);

G_END_DECLS
