/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A camera that answers but refuses to stream: it refused the login (401
 * Unauthorized, 403 Forbidden) or is at its session or connection limit
 * (503 Service Unavailable, or 454 Session Not Found for a session it
 * dropped). Both RTSP sources (vigilrtspsrc and rtspsrc) post such an
 * answer as an element error whose details carry "rtsp-status-code"; this
 * turns it into a run's end reason in fixed words that the recorder's
 * owner can tell apart from a camera that is gone, and back. Retrying
 * these quickly makes things worse (cameras lock an account after a few
 * failed logins), so they must never look like "offline". Pure; any
 * thread. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum {
  VIGIL_RTSP_REFUSAL_NONE,    /* not a refusal */
  VIGIL_RTSP_REFUSAL_LOGIN,   /* 401, 403: the credentials */
  VIGIL_RTSP_REFUSAL_BUSY,    /* 454, 503: the camera's session or connection limit */
} VigilRtspRefusal;

/* Prefixes of a run's end reason, followed by " (STATUS REASON): message",
 * e.g. "login refused (401 Unauthorized): DESCRIBE rtsp://…: 401 Unauthorized". */
#define VIGIL_RTSP_LOGIN_REFUSED "login refused"
#define VIGIL_RTSP_CAMERA_BUSY   "camera busy"

/* What an RTSP status code means here. */
VigilRtspRefusal vigil_rtsp_refusal_from_status (guint status);

/* "401 Unauthorized", "503 Service Unavailable": @status in words. */
gchar           *vigil_rtsp_refusal_describe_status (guint status);

/* The end reason for an error @message whose details hold a refusing
 * rtsp-status-code, or NULL for any other message. */
gchar           *vigil_rtsp_refusal_describe (GstMessage *message);

/* The kind and status of an end reason made by vigil_rtsp_refusal_describe()
 * (@out_status may be NULL); NONE (and 0) for any other reason. */
VigilRtspRefusal vigil_rtsp_refusal_parse (const gchar *reason,
                                           guint       *out_status);

G_END_DECLS
