/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the two halves of VigilOnvifCamera share: vigil-onvif.c (the object,
 * its gSOAP channels and the in-memory transport, one SOAP exchange with its
 * authentication retries, clock, services, device information, profiles and
 * media addresses) and vigil-onvif-ptz.c (PTZ moves, status, presets, range
 * mapping, the stop channel and the timed stop). It holds gSOAP types, so
 * only those two files may include it: never discovery, the daemon or a
 * public header (vigil-onvif.h stays the only public face). */
#pragma once

#include <glib.h>

#include "vigil-onvif.h"
#include "vigil-onvif-private.h"

#include "soapH.h"
#include "httpda.h"

G_BEGIN_DECLS

/* One gSOAP context and what it has learned for itself: the HTTP digest
 * session (each context counts its own nonce uses, so two cannot share one)
 * and, with the in-memory transport, the answer being read. */
typedef struct {
  VigilOnvifCamera *camera;   /* the owner; not a reference */
  struct soap *soap;          /* soap->user is this channel */
  gboolean  use_digest;       /* the camera asked for HTTP digest; da_info is saved */
  struct http_da_info da_info;
  const gchar *op;            /* the operation invoke() is sending, for reply_func */
  GBytes   *reply;            /* the in-memory answer being read, from reply_offset */
  gsize     reply_offset;
} Channel;

struct _VigilOnvifCamera {
  GObject   parent;

  /* Immutable after new(). */
  gchar    *device_url;
  gchar    *host;           /* of device_url, for the address rewrite */
  gint      port;           /* of device_url; -1 when not given */
  gchar    *user;
  gchar    *password;
  guint     timeout_ms;
  gboolean  keep_addresses;

  GRecMutex lock;           /* serialises calls; guards everything below */
  Channel   call;           /* every call but the Stops of the stop channel */
  gboolean  connected;
  gchar    *media_url;
  gchar    *ptz_url;        /* NULL: no PTZ service */
  VigilOnvifDeviceInfo info;
  GPtrArray  *profiles;     /* VigilOnvifProfile *, the last GetProfiles */
  GHashTable *profile_nodes;  /* profile token -> PTZ node token ("" when not given) */
  GPtrArray  *nodes;        /* Node * (vigil-onvif-ptz.c); NULL until GetNodes was tried */
  gboolean  omit_timeout;   /* ContinuousMove faulted with a Timeout and worked without */

  /* Quirks both channels read and set: atomic. */
  gint      split_moves;    /* ContinuousMove faulted with pan-tilt and zoom together */
  gint      stop_broken;    /* Stop faulted; zero-velocity ContinuousMove instead */

  /* The stop channel: a second gSOAP context used only for Stop (and its
   * zero-velocity fallback), so that a Stop never waits behind a call in
   * progress on `call`. */
  GMutex    stop_call_lock; /* serialises its use; guards stop_call */
  Channel   stop_call;

  /* Held only for short copies, never across a request. */
  GMutex    state_lock;
  gint64    clock_offset_us;      /* both channels' WS-Security Created */
  /* What a Stop needs, published under `lock` as the call path learns it
   * (vigil_onvif_camera_publish_stop_target()): NULL until known. nodes and profile_nodes are
   * shared, never changed once published. */
  gchar      *stop_ptz_url;
  GPtrArray  *stop_nodes;         /* Node * */
  GHashTable *stop_profile_nodes; /* profile token -> node token, PTZ profiles only */

  /* The in-memory transport of vigil_onvif_camera_set_reply_func(); NULL
   * func: the network. reply_lock keeps reply_func to one thread at a time. */
  VigilOnvifReplyFunc reply_func;
  gpointer  reply_data;
  gint      reply_fd;       /* /dev/null, so gSOAP has a real descriptor to set flags on */
  GMutex    reply_lock;

  /* The pending stop of the last ContinuousMove, and the moves in flight.
   * Lock order: lock, stop_call_lock, stop_lock, state_lock (and
   * reply_lock, innermost). */
  GMutex    stop_lock;
  GCond     stop_cond;
  GThread  *stop_thread;
  gboolean  stop_quit;
  gint64    stop_deadline_us;   /* monotonic; 0: nothing pending */
  gchar    *stop_profile;
  gboolean  stop_pan_tilt, stop_zoom;
  gboolean  move_in_flight;     /* a move is being sent on `call`; the timer waits for it */
  guint     stop_generation;    /* counts the operator's Stops, for moves they overtake */
};

/* One generated client call, as invoke() runs it. */
typedef int (*CallFunc) (struct soap *soap, const char *url, void *request, void *response);

#define DEFINE_CALL(svc, op)                                                              \
  static int call_##op (struct soap *soap, const char *url, void *request, void *response) \
  {                                                                                       \
    return soap_call___##svc##__##op (soap, url, NULL, request, response);                \
  }

/* ----- vigil-onvif.c ----- */

/* One operation on @channel, with the retries authentication needs (see
 * vigil-onvif.c). Called with @channel's lock held. */
gboolean vigil_onvif_camera_invoke (VigilOnvifCamera *self, Channel *channel, const gchar *op,
                                    const gchar *url, CallFunc call, gboolean authenticate,
                                    void *request, void *response, GCancellable *cancellable,
                                    GError **error);
/* Connects unless connected. Called with self->lock held. */
gboolean vigil_onvif_camera_ensure_connected (VigilOnvifCamera *self, GCancellable *cancellable,
                                              GError **error);
/* The profile of @token from the last GetProfiles, or NULL and an INVALID
 * error naming @op. Called with self->lock held. */
const VigilOnvifProfile *vigil_onvif_camera_find_profile (VigilOnvifCamera *self,
                                                          const gchar *token, const gchar *op,
                                                          GError **error);

/* ----- vigil-onvif-ptz.c ----- */

/* Publishes what a Stop needs for the stop channel. Called with self->lock
 * held, whenever ptz_url, nodes or profile_nodes change. */
void vigil_onvif_camera_publish_stop_target (VigilOnvifCamera *self);
/* Ends the stop thread, sending a pending stop first. From dispose. */
void vigil_onvif_camera_stop_thread_join (VigilOnvifCamera *self);

G_END_DECLS
