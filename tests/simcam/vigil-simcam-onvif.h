/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The simulated camera's ONVIF side: a gSOAP device, media and PTZ service
 * on 127.0.0.1 with a simulated PTZ head, WS-Security and HTTP digest
 * authentication, a clock that may be off, a WS-Discovery responder and
 * switchable quirks copied from real cameras. A test fixture, never part of
 * the daemon: it must never bind anything but 127.0.0.1 and never depend on
 * vigil's client code (only on the serialisers generated from the same
 * interface header).
 *
 * Every function may be called from any thread; the SOAP server and the
 * head/discovery worker run on threads of their own. */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

typedef enum {
  VIGIL_SIMCAM_ONVIF_AUTH_NONE,           /* everything open */
  VIGIL_SIMCAM_ONVIF_AUTH_WSSE,           /* UsernameToken digest only; failures get HTTP 400
                                           * with a SOAP fault ter:NotAuthorized */
  VIGIL_SIMCAM_ONVIF_AUTH_DIGEST_MD5,     /* HTTP digest only; failures get 401 challenges */
  VIGIL_SIMCAM_ONVIF_AUTH_DIGEST_SHA256,
  VIGIL_SIMCAM_ONVIF_AUTH_BOTH,           /* either WS-Security or HTTP digest (MD5); failures
                                           * get 401 challenges */
} VigilSimcamOnvifAuth;

typedef enum {
  VIGIL_SIMCAM_ONVIF_QUIRK_NO_GET_SERVICES       = 1 << 0, /* GetServices: ActionNotSupported */
  VIGIL_SIMCAM_ONVIF_QUIRK_INTERNAL_ADDRESSES    = 1 << 1, /* 192.0.2.10 in every address given */
  VIGIL_SIMCAM_ONVIF_QUIRK_IGNORES_TIMEOUT       = 1 << 2, /* ContinuousMove runs past Timeout */
  VIGIL_SIMCAM_ONVIF_QUIRK_NO_STOP               = 1 << 3, /* Stop faults */
  VIGIL_SIMCAM_ONVIF_QUIRK_DEGREES               = 1 << 4, /* absolute positions 0..360, 0..180 */
  VIGIL_SIMCAM_ONVIF_QUIRK_REJECTS_COMBINED_MOVE = 1 << 5, /* fault on pan-tilt + zoom at once */
  VIGIL_SIMCAM_ONVIF_QUIRK_NO_POSITION           = 1 << 6, /* GetStatus without Position */
  VIGIL_SIMCAM_ONVIF_QUIRK_HTML_ERRORS           = 1 << 7, /* every error an HTML 401 page */
} VigilSimcamOnvifQuirks;

/* "no-get-services", ...; FALSE for an unknown name. */
gboolean vigil_simcam_onvif_quirk_from_string (const gchar *name, VigilSimcamOnvifQuirks *out);

/* One advertised media profile. */
typedef struct {
  const gchar *stream_uri;     /* rtsp://...; required */
  guint        width, height;  /* 640x360 when 0 */
  guint        fps;            /* 25 when 0 */
  const gchar *encoding;       /* "H264" when NULL */
} VigilSimcamOnvifProfile;

/* Zero-initialised fields take the defaults given. */
typedef struct {
  guint        port;             /* TCP on 127.0.0.1; 0 picks a free one */
  const gchar *user;             /* required unless auth is NONE */
  const gchar *password;
  VigilSimcamOnvifAuth auth;
  gint         clock_offset_s;   /* the device's clock minus the host's */
  VigilSimcamOnvifProfile main_profile;   /* Profile_1; required */
  VigilSimcamOnvifProfile sub_profile;    /* Profile_2 when stream_uri is set */
  gboolean     discovery;        /* answer WS-Discovery Probes */
  guint        discovery_port;   /* UDP on 127.0.0.1; 0 picks a free one */
  const gchar *name;             /* the name/ scope; "vigil-simcam" when NULL */
  VigilSimcamOnvifQuirks quirks;
  /* Called on the worker thread whenever the head moved: pan, tilt -1..1,
   * zoom 0..1. */
  void       (*moved) (gdouble pan, gdouble tilt, gdouble zoom, gpointer user_data);
  gpointer     moved_data;
} VigilSimcamOnvifOptions;

#define VIGIL_TYPE_SIMCAM_ONVIF (vigil_simcam_onvif_get_type ())
G_DECLARE_FINAL_TYPE (VigilSimcamOnvif, vigil_simcam_onvif, VIGIL, SIMCAM_ONVIF, GObject)

/* Starts serving before it returns. Errors are G_IO_ERROR. */
VigilSimcamOnvif *vigil_simcam_onvif_new (const VigilSimcamOnvifOptions *options,
                                          GError                       **error);
guint    vigil_simcam_onvif_get_port           (VigilSimcamOnvif *self);
guint    vigil_simcam_onvif_get_discovery_port (VigilSimcamOnvif *self);
/* http://127.0.0.1:PORT/onvif/device_service */
gchar   *vigil_simcam_onvif_get_device_url     (VigilSimcamOnvif *self);
void     vigil_simcam_onvif_set_quirks         (VigilSimcamOnvif *self,
                                                VigilSimcamOnvifQuirks quirks);
/* The head: pan, tilt -1..1, zoom 0..1; is_moving while any axis moves. */
void     vigil_simcam_onvif_get_position       (VigilSimcamOnvif *self,
                                                gdouble *pan, gdouble *tilt, gdouble *zoom);
gboolean vigil_simcam_onvif_is_moving          (VigilSimcamOnvif *self);
void     vigil_simcam_onvif_set_position       (VigilSimcamOnvif *self,
                                                gdouble pan, gdouble tilt, gdouble zoom);
/* Requests of operation @op ("GetProfiles", "Stop", ...) since new(). */
guint    vigil_simcam_onvif_get_n_requests     (VigilSimcamOnvif *self, const gchar *op);
guint    vigil_simcam_onvif_get_n_auth_failures (VigilSimcamOnvif *self);
/* Test-only switch: from now on, authenticated requests of @op
 * ("GetPresets", ...) are counted and then wait, unanswered, until @op is
 * no longer the held operation: vigil_simcam_onvif_hold (self, NULL)
 * releases them (as does dispose). One operation at a time. Other requests
 * are answered meanwhile, each connection having its own thread. */
void     vigil_simcam_onvif_hold               (VigilSimcamOnvif *self, const gchar *op);
/* Waits until at least one request is held; FALSE after @timeout_s. */
gboolean vigil_simcam_onvif_wait_held          (VigilSimcamOnvif *self, guint timeout_s);
/* Requests held now. */
guint    vigil_simcam_onvif_get_n_held         (VigilSimcamOnvif *self);

G_END_DECLS
