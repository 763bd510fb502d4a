/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilCamera keeps one camera recording, forever: it runs the camera's
 * VigilRecorder, catalogs its runs and segments in the VigilStore, and
 * when a run ends decides when to try again. A camera that does not
 * answer at all is checked with a TCP connect every 2 s and restarted the
 * moment it answers; one that answers but whose stream fails is retried
 * with VigilBackoff; one that refuses the login or is busy waits the long
 * waits of VigilBackoff, reading its password file again before each
 * login, and says why (vigil_camera_get_wait_reason()), never counting as
 * offline; vigil_camera_try_now() cuts any wait short for an operator;
 * one whose run ended on a full disk waits for
 * vigil_camera_retry_now() (::disk-full says so). Segments a failed write
 * left half done are put right by a VigilSalvage. Cameras are
 * independent: one's faults never touch another's pipeline. Main thread
 * only. */
#pragma once

#include <glib-object.h>
#include <gst/gst.h>

#include "vigil-config.h"
#include "vigil-health-pool.h"
#include "vigil-live-feed.h"
#include "vigil-onvif-link.h"
#include "vigil-store.h"

G_BEGIN_DECLS

typedef enum {
  VIGIL_CAMERA_STATE_DISABLED,      /* enabled=false in the config */
  VIGIL_CAMERA_STATE_CONNECTING,    /* run started, no video yet */
  VIGIL_CAMERA_STATE_RECORDING,     /* video arriving, segments being written */
  VIGIL_CAMERA_STATE_RECONNECTING,  /* waiting out a back-off delay */
  VIGIL_CAMERA_STATE_OFFLINE,       /* not answering; probed every 2 s */
  VIGIL_CAMERA_STATE_STOPPED,       /* vigild is shutting down */
  VIGIL_CAMERA_STATE_LOGIN_REFUSED, /* the camera refused the login; waiting (see get_wait_reason) */
  VIGIL_CAMERA_STATE_BUSY,          /* the camera is at its session limit; waiting, the same */
} VigilCameraState;

#define VIGIL_TYPE_CAMERA_STATE (vigil_camera_state_get_type ())
GType        vigil_camera_state_get_type  (void);
/* The state's nick: "disabled", "connecting", "recording", ... */
const gchar *vigil_camera_state_to_string (VigilCameraState state);

/* How often an unreachable camera is probed. */
#define VIGIL_CAMERA_PROBE_INTERVAL_MS 2000

#define VIGIL_TYPE_CAMERA (vigil_camera_get_type ())
G_DECLARE_FINAL_TYPE (VigilCamera, vigil_camera, VIGIL, CAMERA, GObject)

/* @health_pool: decodes for frame health, shared by all cameras; NULL for
 * the process's default. */
VigilCamera      *vigil_camera_new       (const VigilCameraConfig *config,
                                          VigilStore              *store,
                                          VigilHealthPool         *health_pool,
                                          guint                    segment_seconds);
const gchar      *vigil_camera_get_name  (VigilCamera *self);
VigilCameraState  vigil_camera_get_state (VigilCamera *self);
/* Wall clock of the current run's first frame; 0 when not recording. */
gint64            vigil_camera_get_run_start_us (VigilCamera *self);
/* The newest segment this camera completed since vigild started, or NULL. */
const VigilSegment *vigil_camera_get_last_segment (VigilCamera *self);
/* Where the segments being written now begin (recorded, not yet
 * cataloged complete); 0 when the camera is not recording. */
gint64            vigil_camera_get_writing_since_us (VigilCamera *self);
/* The newest keyframe of the recording going on, for a snapshot (see
 * vigil_recorder_get_latest_keyframe()); FALSE when the camera is not
 * recording or has no keyframe yet. */
gboolean          vigil_camera_get_latest_keyframe (VigilCamera *self,
                                                    GstCaps    **out_caps,
                                                    GstBuffer  **out_keyframe,
                                                    gint64      *out_wall_us);
/* The open segment (being written, not yet cataloged complete) that
 * holds @at_us: the newest one starting at or before it. Its path,
 * relative to the storage root, and start; FALSE when none does. */
gboolean          vigil_camera_find_writing (VigilCamera *self,
                                             gint64       at_us,
                                             gchar      **out_path,
                                             gint64      *out_start_us);
/* Where the camera's frames go for live viewers (vigil-live-feed.h): the
 * recording's, or with @sub_stream the sub-stream's (which flows only
 * while frame health judges it). Transfer none. */
VigilLiveFeed    *vigil_camera_get_live_feed (VigilCamera *self,
                                              gboolean     sub_stream);
/* Closes the segment being recorded at the next keyframe, for an export
 * that reaches up to now (see vigil_recorder_close_segment_now()); FALSE
 * when the camera is not recording. */
gboolean          vigil_camera_close_segment_now (VigilCamera *self);
/* The camera's clock minus the host's, from its newest RTCP sender report;
 * FALSE (and 0) until one arrived. */
gboolean          vigil_camera_get_clock_offset (VigilCamera *self,
                                                 gint64      *out_offset_us);
/* The camera's ONVIF side when it was configured by onvif=, else NULL;
 * ::onvif-resolved says when it has learned the device and its stream. */
VigilOnvifLink   *vigil_camera_get_onvif_link (VigilCamera *self);
/* Vigil is moving the camera, for about @expected_ms: frame health does
 * not call that "moved", and learns the view it ends on. */
void              vigil_camera_note_ptz_move (VigilCamera *self,
                                              guint        expected_ms);
void              vigil_camera_start     (VigilCamera *self);
/* The last run ended on a full disk and the camera waits for room. */
gboolean          vigil_camera_is_waiting_for_space (VigilCamera *self);
/* There is room on the disk again: a camera whose last run ended on a
 * full disk starts now, and catalog rows that waited for space are
 * written. Does nothing to a camera that is not waiting. */
void              vigil_camera_retry_now (VigilCamera *self);
/* An operator asked: a camera waiting for its next attempt (refused
 * login, busy, back-off, or offline and being probed) tries at once; the
 * password file is read again first. FALSE, doing nothing, when it is not
 * waiting (recording, connecting, disabled, waiting for disk space,
 * stopping). A refused login still counts: a retry with a wrong password
 * waits the long wait again. */
gboolean          vigil_camera_try_now   (VigilCamera *self);
/* Why the camera waits, while it is LOGIN_REFUSED or BUSY: "login
 * refused (401 Unauthorized) for user admin", "busy: 503 Service
 * Unavailable (the camera's session or connection limit)"; NULL
 * otherwise. Never holds a password. */
const gchar      *vigil_camera_get_wait_reason (VigilCamera *self);
/* Wall clock of the next attempt while LOGIN_REFUSED or BUSY; 0 otherwise. */
gint64            vigil_camera_get_next_attempt_us (VigilCamera *self);
/* Finalises the open segment and stops for good; ::stopped follows
 * (at once if nothing was running). */
void              vigil_camera_stop      (VigilCamera *self);

G_END_DECLS
