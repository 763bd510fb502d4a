/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigild's configuration: a GKeyFile read once at start-up, validated as a
 * whole so that an operator sees every problem at once, each naming the
 * file, group and key. Camera passwords are read here from their file or
 * environment variable and kept only in memory: never logged. */
#pragma once

#include <glib.h>

#include "vigil-frame-health.h"

G_BEGIN_DECLS

#define VIGIL_CONFIG_ERROR (vigil_config_error_quark ())
typedef enum {
  VIGIL_CONFIG_ERROR_INVALID,   /* one or more problems, one per line of the message */
} VigilConfigError;
GQuark vigil_config_error_quark (void);

#define VIGIL_CONFIG_DEFAULT_PATH "/etc/vigil/vigil.conf"

typedef struct {
  gchar    *name;            /* from [camera NAME]: id everywhere */
  gchar    *url;             /* rtsp://, without credentials; NULL when onvif_url is given */
  gchar    *onvif_url;       /* onvif=: http://HOST/onvif/device_service; the stream comes from it */
  gchar    *onvif_profile;   /* onvif_profile=: token or name of the profile to record; NULL: the first */
  gboolean  onvif_keep_addresses;  /* use the addresses the camera gives as they are */
  gchar    *sub_url;         /* sub_url=: a smaller stream for frame health; NULL: the ONVIF
                              * camera's second profile, if any, else the main stream */
  gchar    *user;            /* NULL for none */
  gchar    *password;        /* NULL for none; secret; as read at start-up */
  gchar    *password_file;   /* password_file=, read again before every login; NULL for none */
  gboolean  allow_basic_auth; /* answer a camera that offers only Basic (password in the clear) */
  gboolean  use_udp;
  gboolean  use_rtspsrc;     /* rtsp_client=rtspsrc: GStreamer's client instead of vigil's */
  gboolean  enabled;
  guint     stall_seconds;   /* no video this long ends the run */
  guint     login_retry_seconds; /* after the third refused login in a row, wait at least this long */
  guint     busy_retry_seconds;  /* after a busy answer (454, 503), wait at least this long */
  gboolean  frame_health;    /* analyse the picture (black, frozen, covered, ...); default TRUE */
  VigilFrameHealthSettings picture;   /* its thresholds: picture_* keys over the defaults */
  guint     retention_days;  /* delete segments older than this; 0: only when space is needed */
  guint     min_retention_days; /* never delete younger ones for space */
} VigilCameraConfig;

typedef struct {
  gchar     *path;           /* the file it came from */
  gchar     *root;           /* [storage] root */
  gchar     *catalog;        /* [storage] catalog */
  gchar     *signing_key;    /* [storage] signing_key: Ed25519 key that signs exports; NULL if catalog is bad */
  guint      segment_seconds;
  guint      watchdog_seconds;          /* [storage] free-space check interval */
  gdouble    warn_free_percent;         /* disk-low alert below this */
  gdouble    delete_free_percent;       /* delete oldest unlocked segments below this ... */
  gdouble    target_free_percent;       /* ... until above this */
  gdouble    warn_free_hours;           /* disk-low when fewer hours are left at the write rate; 0: off */
  gdouble    min_free_inodes_percent;
  guint      alert_raise_after_s;       /* [alerts] */
  guint      alert_clear_after_s;
  gchar     *alert_command;             /* NULL for none */
  guint      alert_command_timeout_s;
  guint      offline_seconds;
  guint      reconnects_per_hour;
  gdouble    low_rate_fraction;
  guint      stalled_seconds;       /* 0: max(2 x segment_seconds + 30, 120) */
  guint      clock_drift_seconds;   /* camera clock off by more than this: clock-drift */
  /* [live]: serving the cameras to viewers over RTSP (docs/design/live.md) */
  gboolean   live_enabled;          /* enabled=; default true, but nothing is served without htdigest */
  gchar     *live_address;          /* address=; default 127.0.0.1 (this machine only) */
  guint      live_port;             /* port=; default 8554; 0 takes any free one (GetStatus says which) */
  gchar     *live_htdigest;         /* htdigest=: viewers, realm "vigil"; NULL: the server does not start */
  guint      live_max_viewers;      /* max_viewers=; default 64 */
  GPtrArray *cameras;        /* VigilCameraConfig, in file order */
} VigilConfig;

void         vigil_config_free (VigilConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilConfig, vigil_config_free)

VigilConfig *vigil_config_load (const gchar *path, GError **error);

/* A camera's password from its password_file= (which must be private),
 * first line only. The error's message names the problem, not the
 * password. */
gchar       *vigil_config_read_password_file (const gchar *path, GError **error);

G_END_DECLS
