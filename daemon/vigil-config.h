/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigild's configuration: a GKeyFile read once at start-up, validated as a
 * whole so that an operator sees every problem at once, each naming the
 * file, group and key. Camera passwords are read here from their file or
 * environment variable and kept only in memory: never logged. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VIGIL_CONFIG_ERROR (vigil_config_error_quark ())
typedef enum {
  VIGIL_CONFIG_ERROR_INVALID,   /* one or more problems, one per line of the message */
} VigilConfigError;
GQuark vigil_config_error_quark (void);

#define VIGIL_CONFIG_DEFAULT_PATH "/etc/vigil/vigil.conf"

typedef struct {
  gchar    *name;            /* from [camera NAME]: id everywhere */
  gchar    *url;             /* rtsp://, without credentials */
  gchar    *user;            /* NULL for none */
  gchar    *password;        /* NULL for none; secret */
  gboolean  use_udp;
  gboolean  use_rtspsrc;     /* rtsp_client=rtspsrc: GStreamer's client instead of vigil's */
  gboolean  enabled;
  guint     stall_seconds;   /* no video this long ends the run */
} VigilCameraConfig;

typedef struct {
  gchar     *path;           /* the file it came from */
  gchar     *root;           /* [storage] root */
  gchar     *catalog;        /* [storage] catalog */
  gchar     *signing_key;    /* [storage] signing_key: Ed25519 key that signs exports; NULL if catalog is bad */
  guint      segment_seconds;
  GPtrArray *cameras;        /* VigilCameraConfig, in file order */
} VigilConfig;

void         vigil_config_free (VigilConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilConfig, vigil_config_free)

VigilConfig *vigil_config_load (const gchar *path, GError **error);

G_END_DECLS
