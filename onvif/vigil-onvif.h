/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigil's ONVIF client: device information, media profiles and stream
 * addresses, PTZ moves and presets, and WS-Discovery, over gSOAP (SOAP 1.2,
 * WS-Security UsernameToken PasswordDigest, HTTP digest MD5/SHA-256). This
 * header is the only public face of onvif/: it exposes no gSOAP type, and
 * nothing here touches GStreamer, SQLite or D-Bus.
 *
 * Threads: every call that talks to a camera blocks for at most the
 * configured timeout and is meant to run on a worker thread (GTask), never
 * on the main loop. A VigilOnvifCamera may be used from several threads at
 * once: calls to one camera are serialised internally, so what it learns
 * (clock offset, authentication scheme, service addresses) stays consistent.
 * Stop is the exception: once the PTZ node is known it goes out at once on
 * a connection of its own, never behind another call in progress.
 *
 * PTZ values in this API are always ONVIF's generic spaces: pan and tilt
 * -1..1 (+ = right/up), zoom 0 (wide)..1 (tele) for positions, -1..1 for
 * velocities and translations, 0..1 for speeds. The camera's own ranges
 * (read with GetConfigurationOptions or GetNodes) are mapped to and from
 * these, and values outside them are clamped.
 *
 * Camera replies are untrusted: every string this API returns (and every
 * error message) is valid UTF-8, names and error text have no control
 * characters that a terminal would obey, and a profile or preset whose
 * token is not UTF-8 is left out, since tokens go back to the camera byte
 * for byte and cannot be repaired. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VIGIL_ONVIF_ERROR (vigil_onvif_error_quark ())
typedef enum {
  VIGIL_ONVIF_ERROR_FAILED,          /* anything else; see message */
  VIGIL_ONVIF_ERROR_UNREACHABLE,     /* could not connect: refused, no route, bad host */
  VIGIL_ONVIF_ERROR_TIMEOUT,         /* no complete answer within the timeout */
  VIGIL_ONVIF_ERROR_NOT_AUTHORIZED,  /* credentials refused (HTTP 401 after digest, or
                                      * ter:NotAuthorized after re-learning the clock) */
  VIGIL_ONVIF_ERROR_NOT_SUPPORTED,   /* the camera lacks the service, operation or move mode */
  VIGIL_ONVIF_ERROR_BAD_REPLY,       /* not a SOAP answer: malformed XML, an HTML page, wrong
                                      * types, missing required fields, a body over the limit */
  VIGIL_ONVIF_ERROR_FAULT,           /* a SOAP fault; the message holds its code and reason */
  VIGIL_ONVIF_ERROR_INVALID,         /* a bad argument: unknown profile or preset token, a
                                      * malformed URL, an empty preset name */
  VIGIL_ONVIF_ERROR_CANCELLED,       /* the GCancellable fired */
} VigilOnvifError;
GQuark vigil_onvif_error_quark (void);

/* Zero-initialised fields take the defaults given. */
typedef struct {
  const gchar *device_url;       /* http://HOST[:PORT]/onvif/device_service; required */
  const gchar *user;             /* NULL: send no credentials */
  const gchar *password;         /* never logged nor put in an error message */
  guint        timeout_ms;       /* per call, connect included; 5000 when 0 */
  gboolean     keep_addresses;   /* FALSE (default): the host and port of every service
                                  * address, and the host (not the port: RTSP and snapshots
                                  * are served on their own ports) of every stream and
                                  * snapshot address the camera gives are replaced by those
                                  * of device_url (cameras behind NAT or that advertise an
                                  * internal IP); TRUE: use them as given */
} VigilOnvifOptions;

typedef struct {
  gchar  *manufacturer;
  gchar  *model;
  gchar  *firmware_version;
  gchar  *serial_number;
  gchar  *hardware_id;
  /* Camera clock minus host clock, from GetSystemDateAndTime, re-learned
   * after NotAuthorized; 0 when the camera does not tell. */
  gint64  clock_offset_us;
} VigilOnvifDeviceInfo;
void vigil_onvif_device_info_free (VigilOnvifDeviceInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilOnvifDeviceInfo, vigil_onvif_device_info_free)

typedef struct {
  gchar   *token;        /* device-chosen; opaque */
  gchar   *name;
  gchar   *encoding;     /* "H264", "H265", "JPEG", ...; NULL when the profile has no video
                          * encoder */
  guint    width, height;
  gdouble  fps;          /* 0 when unknown */
  guint    bitrate_kbps; /* 0 when unknown */
  gboolean has_ptz;      /* the profile has a PTZ configuration */
} VigilOnvifProfile;
void vigil_onvif_profile_free (VigilOnvifProfile *profile);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilOnvifProfile, vigil_onvif_profile_free)

/* What a profile's PTZ node can do. */
typedef struct {
  gboolean continuous;    /* ContinuousMove (every node should) */
  gboolean relative;      /* RelativeMove */
  gboolean absolute;      /* AbsoluteMove */
  gboolean has_zoom;      /* FALSE when the zoom ranges are 0..0 or absent */
  gboolean home;          /* GotoHomePosition */
  guint    max_presets;   /* 0 when unknown */
} VigilOnvifPtzCapabilities;

typedef enum {
  VIGIL_ONVIF_MOVE_UNKNOWN,
  VIGIL_ONVIF_MOVE_IDLE,
  VIGIL_ONVIF_MOVE_MOVING,
} VigilOnvifMoveStatus;

typedef struct {
  gboolean             has_position;   /* FALSE: the camera did not say where it is */
  gdouble              pan, tilt;      /* -1..1 */
  gdouble              zoom;           /* 0..1 */
  VigilOnvifMoveStatus pan_tilt_status;
  VigilOnvifMoveStatus zoom_status;
} VigilOnvifPtzStatus;

typedef struct {
  gchar   *token;         /* device-chosen; opaque */
  gchar   *name;
  gboolean has_position;
  gdouble  pan, tilt, zoom;
} VigilOnvifPreset;
void vigil_onvif_preset_free (VigilOnvifPreset *preset);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilOnvifPreset, vigil_onvif_preset_free)

#define VIGIL_ONVIF_TYPE_CAMERA (vigil_onvif_camera_get_type ())
G_DECLARE_FINAL_TYPE (VigilOnvifCamera, vigil_onvif_camera, VIGIL_ONVIF, CAMERA, GObject)

/* Checks and copies the options; talks to nothing yet. */
VigilOnvifCamera *vigil_onvif_camera_new (const VigilOnvifOptions *options,
                                          GError                 **error);
/* The password from the next request on (a corrected password file);
 * waits for a request in progress. Any thread. */
void              vigil_onvif_camera_set_password (VigilOnvifCamera *self,
                                                   const gchar      *password);
/* The device URL as given, for messages; never holds a password. */
const gchar      *vigil_onvif_camera_get_device_url (VigilOnvifCamera *self);

/* Cancellation is checked before every request; a request already sent
 * runs to its answer or its timeout. */

/* Learns the clock offset (GetSystemDateAndTime, unauthenticated first),
 * the device information, the service addresses (GetServices, falling back
 * to GetCapabilities) and the media profiles. Call it first; the calls below
 * call it themselves if it has not succeeded yet. Blocks. */
gboolean  vigil_onvif_camera_connect          (VigilOnvifCamera     *self,
                                               GCancellable         *cancellable,
                                               GError              **error);
/* After a successful connect; NULL/empty before. Copies. */
VigilOnvifDeviceInfo *vigil_onvif_camera_get_device_info (VigilOnvifCamera *self);
/* Element type VigilOnvifProfile, in the camera's order: the first is its
 * main stream. */
GPtrArray *vigil_onvif_camera_list_profiles   (VigilOnvifCamera     *self,
                                               GCancellable         *cancellable,
                                               GError              **error);
/* RTSP over RTP-Unicast address of @profile_token (host rewritten unless
 * keep_addresses). Blocks. */
gchar     *vigil_onvif_camera_get_stream_uri  (VigilOnvifCamera     *self,
                                               const gchar          *profile_token,
                                               GCancellable         *cancellable,
                                               GError              **error);
gchar     *vigil_onvif_camera_get_snapshot_uri (VigilOnvifCamera    *self,
                                               const gchar          *profile_token,
                                               GCancellable         *cancellable,
                                               GError              **error);

/* PTZ. Every call names the profile whose PTZ configuration it uses; each
 * fails with VIGIL_ONVIF_ERROR_NOT_SUPPORTED when the camera has no PTZ
 * service or the node lacks that move mode. Block. */
gboolean  vigil_onvif_camera_get_ptz_capabilities (VigilOnvifCamera          *self,
                                                   const gchar               *profile_token,
                                                   VigilOnvifPtzCapabilities *out,
                                                   GCancellable              *cancellable,
                                                   GError                   **error);
/* Starts moving at the given velocities (-1..1) and returns once the camera
 * accepted it. vigil stops the move itself @duration_ms later from its own
 * timer (Stop, or a zero-velocity ContinuousMove for cameras whose Stop
 * fails), whatever the camera does with the Timeout it is also sent; a new
 * move or Stop replaces the pending one. @duration_ms is clamped to
 * 100..10000. Cameras that reject pan-tilt and zoom in one move get two. */
gboolean  vigil_onvif_camera_continuous_move  (VigilOnvifCamera     *self,
                                               const gchar          *profile_token,
                                               gdouble               pan_velocity,
                                               gdouble               tilt_velocity,
                                               gdouble               zoom_velocity,
                                               guint                 duration_ms,
                                               GCancellable         *cancellable,
                                               GError              **error);
/* Stops pan-tilt and zoom now, and cancels the pending timed stop. Does
 * not wait for another call in progress on the camera (once a PTZ call has
 * fetched the nodes); a move that was being sent meanwhile is stopped again
 * as soon as the camera accepted it. Blocks. */
gboolean  vigil_onvif_camera_stop             (VigilOnvifCamera     *self,
                                               const gchar          *profile_token,
                                               GCancellable         *cancellable,
                                               GError              **error);
/* Translation -1..1 per axis; @speed 0..1, or a negative value for the
 * camera's default. */
gboolean  vigil_onvif_camera_relative_move    (VigilOnvifCamera     *self,
                                               const gchar          *profile_token,
                                               gdouble               pan,
                                               gdouble               tilt,
                                               gdouble               zoom,
                                               gdouble               speed,
                                               GCancellable         *cancellable,
                                               GError              **error);
/* Position: pan, tilt -1..1, zoom 0..1, or a negative zoom to leave it. */
gboolean  vigil_onvif_camera_absolute_move    (VigilOnvifCamera     *self,
                                               const gchar          *profile_token,
                                               gdouble               pan,
                                               gdouble               tilt,
                                               gdouble               zoom,
                                               gdouble               speed,
                                               GCancellable         *cancellable,
                                               GError              **error);
gboolean  vigil_onvif_camera_get_ptz_status   (VigilOnvifCamera     *self,
                                               const gchar          *profile_token,
                                               VigilOnvifPtzStatus  *out,
                                               GCancellable         *cancellable,
                                               GError              **error);
/* Element type VigilOnvifPreset. */
GPtrArray *vigil_onvif_camera_list_presets    (VigilOnvifCamera     *self,
                                               const gchar          *profile_token,
                                               GCancellable         *cancellable,
                                               GError              **error);
/* Saves the current position as @name (a preset of that name is
 * overwritten) and returns its token. */
gchar     *vigil_onvif_camera_set_preset      (VigilOnvifCamera     *self,
                                               const gchar          *profile_token,
                                               const gchar          *name,
                                               GCancellable         *cancellable,
                                               GError              **error);
gboolean  vigil_onvif_camera_goto_preset      (VigilOnvifCamera     *self,
                                               const gchar          *profile_token,
                                               const gchar          *preset_token,
                                               gdouble               speed,
                                               GCancellable         *cancellable,
                                               GError              **error);
gboolean  vigil_onvif_camera_remove_preset    (VigilOnvifCamera     *self,
                                               const gchar          *profile_token,
                                               const gchar          *preset_token,
                                               GCancellable         *cancellable,
                                               GError              **error);

/* WS-Discovery. */
typedef struct {
  gchar  *endpoint;      /* EndpointReference/Address, e.g. urn:uuid:...; the key deduplicated on */
  gchar  *device_url;    /* the XAddr that matches the responder's address, else the first */
  gchar **xaddrs;        /* every XAddr given */
  gchar **scopes;
  gchar  *name;          /* from the onvif://www.onvif.org/name/ scope, unescaped; may be NULL */
  gchar  *hardware;      /* from the .../hardware/ scope; may be NULL */
  gchar  *from_address;  /* the responder's IP address */
} VigilOnvifDiscovered;
void vigil_onvif_discovered_free (VigilOnvifDiscovered *found);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilOnvifDiscovered, vigil_onvif_discovered_free)

/* Sends Probes for dn:NetworkVideoTransmitter and tds:Device (each twice)
 * to @target ("HOST:PORT", or several joined by commas, e.g. to probe known
 * subnets' devices by unicast; NULL for the multicast group
 * 239.255.255.250:3702)
 * and collects the ProbeMatches that relate to them for @timeout_ms,
 * deduplicated on endpoint. Element type VigilOnvifDiscovered, sorted by
 * device_url. Blocks for @timeout_ms unless cancelled. */
GPtrArray *vigil_onvif_discover (const gchar  *target,
                                 guint         timeout_ms,
                                 GCancellable *cancellable,
                                 GError      **error);

G_END_DECLS
