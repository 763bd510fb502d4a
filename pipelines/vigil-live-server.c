/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilLiveServer: gst-rtsp-server on a thread of its own.
 *
 * Threads. Everything of the RTSP server (listening, every client, the
 * sweep) runs on self->thread, attached to self->context; clients are
 * served there too (a thread pool of 0 threads), because
 * gst_rtsp_client_close() from another thread races the client's own
 * handling of a peer that hangs up. The main thread only adds mounts
 * (gst-rtsp-server locks its mount points), starts and stops. Media
 * pipelines have their own streaming threads, which never call in here.
 * self->lock guards the viewers table, read by list_sessions() from any
 * thread.
 *
 * Slow viewers. gst-rtsp-server 1.22 drops a slow TCP transport only when
 * its backlog spans 10 s and 100 packets, leaves its connection open and
 * says nothing; with the kernel's default send buffer (up to 4 MiB) a
 * stalled viewer never even reaches that, and a stalled sole viewer blocks
 * its shared media for any viewer who joins later. So each viewer's send
 * buffer is capped (about a second of a 4 Mbit/s stream) and a sweep each
 * second reads how much of it is unsent (SIOCOUTQ): above half for three
 * sweeps in a row, the viewer is closed. */
#include "vigil-live-server.h"

#include <gio/gio.h>
#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <gst/rtsp-server/rtsp-onvif-server.h>

#include "vigil-live-auth.h"
#include "vigil-live-factory.h"
#include "vigil-playback-factory.h"
#include "vigil-text.h"

GST_DEBUG_CATEGORY_STATIC (vigil_live_server_debug);
#define GST_CAT_DEFAULT vigil_live_server_debug

#define DEFAULT_MAX_VIEWERS   64
#define SEND_BUFFER_BYTES     (512 * 1024)
#define STALLED_SWEEPS        3
#define SWEEP_INTERVAL_MS     1000
#define SESSION_TIMEOUT_S     60
#define SHUTDOWN_TIMEOUT_US   (3 * G_USEC_PER_SEC)

G_DEFINE_BOXED_TYPE (VigilLiveSession, vigil_live_session, vigil_live_session_copy, vigil_live_session_free)

VigilLiveSession *
vigil_live_session_copy (const VigilLiveSession *session)
{
  VigilLiveSession *copy = g_memdup2 (session, sizeof *session);

  copy->user = g_strdup (session->user);
  copy->address = g_strdup (session->address);
  copy->camera = g_strdup (session->camera);
  copy->mount = g_strdup (session->mount);
  copy->kind = g_strdup (session->kind);
  copy->range = g_strdup (session->range);
  copy->end_reason = g_strdup (session->end_reason);
  return copy;
}

void
vigil_live_session_free (VigilLiveSession *session)
{
  if (session == NULL)
    return;
  g_free (session->user);
  g_free (session->address);
  g_free (session->camera);
  g_free (session->mount);
  g_free (session->kind);
  g_free (session->range);
  g_free (session->end_reason);
  g_free (session);
}

/* One viewing session going on. Server thread, but for reads under lock. */
typedef struct {
  VigilLiveSession *info;
  gint64            start_mono_us;
  gchar            *session_id;     /* the RTSP session's */
  GstRTSPMedia     *media;          /* for the keyframe gate */
} Active;

/* One connection. */
typedef struct {
  GstRTSPClient *client;            /* a reference, until a second after it closed */
  gchar         *address;
  gint           fd;                /* its socket, for SIOCOUTQ; -1 if unknown */
  gint           send_buffer_bytes; /* as the kernel reports it */
  guint          stalled_sweeps;
  const gchar   *close_reason;      /* set when vigil closes it */
  GPtrArray     *sessions;          /* Active, owned */
} Viewer;

struct _VigilLiveServer {
  GObject             parent_instance;

  gchar              *address;
  guint               port;
  guint               max_viewers;
  GMainContext       *owner_context;   /* where signals are emitted */
  GMainContext       *context;         /* the server thread's */
  GMainLoop          *loop;
  GThread            *thread;
  GstRTSPServer      *server;
  GstRTSPMountPoints *mounts;
  GstRTSPSessionPool *session_pool;
  VigilLiveAuth      *auth;
  GSource            *listen_source;
  GSource            *sweep_source;
  GSource            *pool_source;
  gint64              shutdown_deadline_us;

  GMutex              lock;
  GHashTable         *viewers;         /* GstRTSPClient * → Viewer *, protected by lock */
  guint64             next_session_id; /* protected by lock */
  guint64             n_dropped;       /* viewers closed for not reading; protected by lock */
};

G_DEFINE_FINAL_TYPE_WITH_CODE (VigilLiveServer, vigil_live_server, G_TYPE_OBJECT,
                               GST_DEBUG_CATEGORY_INIT (vigil_live_server_debug, "vigilliveserver", 0,
                                                        "vigil live server"))

enum { SIGNAL_SESSION_STARTED, SIGNAL_SESSION_ENDED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* --- signals, on the owner's context --- */

typedef struct {
  VigilLiveServer  *server;
  guint             signal;
  VigilLiveSession *session;
} Emission;

static void
emission_free (gpointer data)
{
  Emission *emission = data;

  g_object_unref (emission->server);
  vigil_live_session_free (emission->session);
  g_free (emission);
}

static gboolean
emit_on_owner (gpointer data)
{
  Emission *emission = data;

  g_signal_emit (emission->server, signals[emission->signal], 0, emission->session);
  return G_SOURCE_REMOVE;
}

static void
emit_later (VigilLiveServer *self, guint signal, const VigilLiveSession *session)
{
  Emission *emission = g_new0 (Emission, 1);
  GSource *source = g_idle_source_new ();

  emission->server = g_object_ref (self);
  emission->signal = signal;
  emission->session = vigil_live_session_copy (session);
  g_source_set_callback (source, emit_on_owner, emission, emission_free);
  g_source_attach (source, self->owner_context);
  g_source_unref (source);
}

/* --- viewers --- */

static void
active_free (gpointer data)
{
  Active *active = data;

  vigil_live_session_free (active->info);
  g_free (active->session_id);
  g_clear_object (&active->media);
  g_free (active);
}

static void
viewer_free (gpointer data)
{
  Viewer *viewer = data;

  g_ptr_array_unref (viewer->sessions);
  g_free (viewer->address);
  g_free (viewer);
}

static gboolean
release_client (gpointer client)
{
  return G_SOURCE_REMOVE;   /* the destroy notify drops the reference */
}

/* Server thread. Ends @viewer's session @index, for @reason. */
static void
end_session (VigilLiveServer *self, Viewer *viewer, guint index, const gchar *reason)
{
  Active *active = g_ptr_array_index (viewer->sessions, index);

  if (active->media != NULL)
    vigil_live_factory_ungate (active->media, viewer->client);
  g_mutex_lock (&self->lock);
  active = g_ptr_array_steal_index (viewer->sessions, index);
  g_mutex_unlock (&self->lock);
  active->info->duration_us = MAX (g_get_monotonic_time () - active->start_mono_us, 1);
  active->info->end_reason = g_strdup (reason);
  GST_INFO ("viewer %s (%s) stopped watching %s after %" G_GINT64_FORMAT " ms: %s", active->info->user,
            active->info->address, active->info->mount, active->info->duration_us / 1000, reason);
  emit_later (self, SIGNAL_SESSION_ENDED, active->info);
  active_free (active);
}

/* Server thread. */
static Viewer *
lookup_viewer (VigilLiveServer *self, GstRTSPClient *client)
{
  Viewer *viewer;

  g_mutex_lock (&self->lock);
  viewer = g_hash_table_lookup (self->viewers, client);
  g_mutex_unlock (&self->lock);
  return viewer;
}

/* The mount of @abspath ("/cam1/sub" → "cam1/sub"), its camera and kind. */
static void
describe_mount (const gchar *abspath, gchar **out_mount, gchar **out_camera, const gchar **out_kind)
{
  const gchar *mount = abspath != NULL ? abspath : "";
  const gchar *slash;

  while (*mount == '/')
    mount++;
  /* From the request: bounded and made valid UTF-8 without control
   * characters, as it goes to logs, the audit log and D-Bus. */
  *out_mount = vigil_text_sanitize (mount, 256, VIGIL_TEXT_DEFAULT);
  slash = strchr (*out_mount, '/');
  *out_camera = slash != NULL ? g_strndup (*out_mount, slash - *out_mount) : g_strdup (*out_mount);
  *out_kind = slash != NULL && g_str_equal (slash, "/playback") ? "playback" : "live";
}

/* Server thread, after the PLAY response went out. */
static void
on_client_play_request (GstRTSPClient *client, GstRTSPContext *ctx, VigilLiveServer *self)
{
  Viewer *viewer = lookup_viewer (self, client);
  const gchar *session_id;
  const gchar *kind;
  Active *active;

  if (viewer == NULL || ctx->session == NULL || ctx->sessmedia == NULL || ctx->uri == NULL)
    return;
  session_id = gst_rtsp_session_get_sessionid (ctx->session);
  for (guint i = 0; i < viewer->sessions->len; i++)
    {
      Active *known = g_ptr_array_index (viewer->sessions, i);

      if (g_str_equal (known->session_id, session_id))
        return;   /* a seek or a PLAY after PAUSE: the same session goes on */
    }
  vigil_live_factory_gate (ctx->sessmedia, client);

  active = g_new0 (Active, 1);
  active->info = g_new0 (VigilLiveSession, 1);
  active->start_mono_us = g_get_monotonic_time ();
  active->session_id = g_strdup (session_id);
  active->media = g_object_ref (gst_rtsp_session_media_get_media (ctx->sessmedia));
  active->info->user = vigil_live_auth_get_user (client);
  if (active->info->user == NULL)
    active->info->user = g_strdup ("(unknown)");
  active->info->address = g_strdup (viewer->address);
  describe_mount (ctx->uri->abspath, &active->info->mount, &active->info->camera, &kind);
  active->info->kind = g_strdup (kind);
  if (g_str_equal (kind, "playback"))
    active->info->range = vigil_text_sanitize (ctx->uri->query, 256, VIGIL_TEXT_DEFAULT);
  active->info->start_us = g_get_real_time ();
  g_mutex_lock (&self->lock);
  active->info->id = ++self->next_session_id;
  g_ptr_array_add (viewer->sessions, active);
  g_mutex_unlock (&self->lock);
  GST_INFO ("viewer %s (%s) watches %s", active->info->user, viewer->address, active->info->mount);
  emit_later (self, SIGNAL_SESSION_STARTED, active->info);
}

/* Server thread. */
static void
on_client_teardown_request (GstRTSPClient *client, GstRTSPContext *ctx, VigilLiveServer *self)
{
  Viewer *viewer = lookup_viewer (self, client);
  const gchar *session_id = ctx->session != NULL ? gst_rtsp_session_get_sessionid (ctx->session) : NULL;

  if (viewer == NULL)
    return;
  for (guint i = viewer->sessions->len; i > 0; i--)
    {
      Active *active = g_ptr_array_index (viewer->sessions, i - 1);

      if (session_id == NULL || g_str_equal (active->session_id, session_id))
        end_session (self, viewer, i - 1, "teardown");
    }
}

/* Server thread, when @client's connection is gone. */
static void
on_client_closed (GstRTSPClient *client, VigilLiveServer *self)
{
  Viewer *viewer = lookup_viewer (self, client);
  GSource *later;

  if (viewer == NULL)
    return;
  while (viewer->sessions->len > 0)
    end_session (self, viewer, viewer->sessions->len - 1,
                 viewer->close_reason != NULL ? viewer->close_reason : "disconnected");
  g_mutex_lock (&self->lock);
  g_hash_table_remove (self->viewers, client);
  g_mutex_unlock (&self->lock);
  /* A failed send schedules gst_rtsp_client_close() on an idle source
   * that holds no reference (1.22); the reference the viewers table held
   * is kept until it has surely run: a second at least, and at a lower
   * priority than idle sources, which a busy context may starve for
   * longer (valgrind showed a plain 1 s timeout lose that race). */
  later = g_timeout_source_new (1000);
  g_source_set_priority (later, G_PRIORITY_LOW);
  g_source_set_callback (later, release_client, client, g_object_unref);
  g_source_attach (later, self->context);
  g_source_unref (later);
}

/* Server thread: the RTSP session timed out (its viewer vanished without
 * a word and its connection is not known to be gone). */
static void
on_session_removed (GstRTSPSessionPool *pool, GstRTSPSession *session, VigilLiveServer *self)
{
  const gchar *session_id = gst_rtsp_session_get_sessionid (session);
  GHashTableIter iter;
  gpointer value;
  g_autoptr(GPtrArray) viewers = g_ptr_array_new ();

  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->viewers);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (viewers, value);
  g_mutex_unlock (&self->lock);
  for (guint v = 0; v < viewers->len; v++)
    {
      Viewer *viewer = g_ptr_array_index (viewers, v);

      for (guint i = viewer->sessions->len; i > 0; i--)
        {
          Active *active = g_ptr_array_index (viewer->sessions, i - 1);

          if (g_str_equal (active->session_id, session_id))
            end_session (self, viewer, i - 1, "timed out");
        }
    }
}

/* Server thread: whether @factory's camera is delivering now (a live
 * media would otherwise wait for its first frame). */
static gboolean
is_factory_available (GstRTSPMediaFactory *factory)
{
  return !VIGIL_IS_LIVE_FACTORY (factory)
         || vigil_live_feed_is_live (vigil_live_factory_get_feed (VIGIL_LIVE_FACTORY (factory)));
}

static gboolean
close_client (gpointer client)
{
  gst_rtsp_client_close (client);
  return G_SOURCE_REMOVE;
}

/* Server thread, for each accepted connection. */
static void
on_client_connected (GstRTSPServer *server, GstRTSPClient *client, VigilLiveServer *self)
{
  GstRTSPConnection *connection = gst_rtsp_client_get_connection (client);
  Viewer *viewer;
  guint n_viewers;
  GSocket *socket;

  g_mutex_lock (&self->lock);
  n_viewers = g_hash_table_size (self->viewers);
  g_mutex_unlock (&self->lock);
  if (connection == NULL || n_viewers >= self->max_viewers)
    {
      /* Not attached yet: closed as soon as it is. */
      GSource *close = g_idle_source_new ();

      GST_WARNING ("viewer connection refused: already %u connections (at most %u)", n_viewers, self->max_viewers);
      g_source_set_callback (close, close_client, g_object_ref (client), g_object_unref);
      g_source_attach (close, self->context);
      g_source_unref (close);
      return;
    }

  viewer = g_new0 (Viewer, 1);
  viewer->client = g_object_ref (client);
  viewer->address = g_strdup (gst_rtsp_connection_get_ip (connection));
  viewer->sessions = g_ptr_array_new_with_free_func (active_free);
  viewer->fd = -1;
  socket = gst_rtsp_connection_get_write_socket (connection);
  if (socket != NULL)
    {
      gint size = SEND_BUFFER_BYTES;
      socklen_t length = sizeof size;

      viewer->fd = g_socket_get_fd (socket);
      if (setsockopt (viewer->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size) != 0
          || getsockopt (viewer->fd, SOL_SOCKET, SO_SNDBUF, &size, &length) != 0)
        size = 0;
      viewer->send_buffer_bytes = size;
    }
  g_mutex_lock (&self->lock);
  g_hash_table_insert (self->viewers, client, viewer);
  g_mutex_unlock (&self->lock);

  /* Playback mounts answer a bad or empty range with 400 or 404. */
  vigil_playback_watch_client (client);
  g_signal_connect_object (client, "play-request", G_CALLBACK (on_client_play_request), self, 0);
  g_signal_connect_object (client, "teardown-request", G_CALLBACK (on_client_teardown_request), self, 0);
  g_signal_connect_object (client, "closed", G_CALLBACK (on_client_closed), self, 0);
  GST_DEBUG ("viewer connected from %s (send buffer %d bytes)", viewer->address, viewer->send_buffer_bytes);
}

/* Server thread, each second: closes viewers that stopped reading. */
static gboolean
on_sweep (gpointer user_data)
{
  VigilLiveServer *self = user_data;
  g_autoptr(GPtrArray) stalled = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->viewers);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Viewer *viewer = value;
      int unsent = 0;

      if (viewer->fd < 0 || viewer->send_buffer_bytes <= 0 || viewer->sessions->len == 0
          || viewer->close_reason != NULL || ioctl (viewer->fd, SIOCOUTQ, &unsent) != 0)
        continue;
      if (unsent > viewer->send_buffer_bytes / 2)
        viewer->stalled_sweeps++;
      else
        viewer->stalled_sweeps = 0;
      if (viewer->stalled_sweeps >= STALLED_SWEEPS)
        {
          viewer->close_reason = "dropped: not reading";
          self->n_dropped++;
          g_ptr_array_add (stalled, viewer);
        }
    }
  g_mutex_unlock (&self->lock);
  for (guint i = 0; i < stalled->len; i++)
    {
      Viewer *viewer = g_ptr_array_index (stalled, i);

      GST_WARNING ("viewer %s stopped reading (%u s with its send buffer over half full): closing it",
                   viewer->address, STALLED_SWEEPS * SWEEP_INTERVAL_MS / 1000);
      gst_rtsp_client_close (viewer->client);
    }
  return G_SOURCE_CONTINUE;
}

/* --- mounts --- */

static void
mount (VigilLiveServer *self, const gchar *path, GstRTSPMediaFactory *factory)
{
  g_autofree gchar *abspath = g_strconcat ("/", path, NULL);

  gst_rtsp_mount_points_add_factory (self->mounts, abspath, g_object_ref (factory));
}

void
vigil_live_server_add_camera (VigilLiveServer *self, const gchar *camera, VigilLiveFeed *main_feed,
                              VigilLiveFeed *sub_feed)
{
  g_autoptr(VigilLiveFactory) main_factory = NULL;

  g_return_if_fail (VIGIL_IS_LIVE_SERVER (self));
  g_return_if_fail (camera != NULL && VIGIL_IS_LIVE_FEED (main_feed));

  vigil_live_feed_set_enabled (main_feed, TRUE);
  if (sub_feed != NULL)
    vigil_live_feed_set_enabled (sub_feed, TRUE);
  main_factory = vigil_live_factory_new (main_feed);
  mount (self, camera, GST_RTSP_MEDIA_FACTORY (main_factory));
  if (sub_feed != NULL)
    {
      g_autoptr(VigilLiveFactory) sub_factory = vigil_live_factory_new (sub_feed);
      g_autofree gchar *path = g_strconcat (camera, "/sub", NULL);

      mount (self, path, GST_RTSP_MEDIA_FACTORY (sub_factory));
    }
}

void
vigil_live_server_add_factory (VigilLiveServer *self, const gchar *path, gpointer factory)
{
  g_return_if_fail (VIGIL_IS_LIVE_SERVER (self));
  g_return_if_fail (path != NULL && GST_IS_RTSP_MEDIA_FACTORY (factory));
  /* Viewers may watch it, as every mount; nobody else may. */
  gst_rtsp_media_factory_add_role (factory, VIGIL_LIVE_AUTH_ROLE, GST_RTSP_PERM_MEDIA_FACTORY_ACCESS, G_TYPE_BOOLEAN,
                                   TRUE, GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN, TRUE, NULL);
  mount (self, path, factory);
}

/* --- life --- */

static gpointer
server_thread_main (gpointer data)
{
  VigilLiveServer *self = data;

  g_main_context_push_thread_default (self->context);
  g_main_loop_run (self->loop);
  g_main_context_pop_thread_default (self->context);
  return NULL;
}

VigilLiveServer *
vigil_live_server_new (const VigilLiveServerConfig *config, GError **error)
{
  g_autoptr(VigilLiveServer) self = NULL;
  g_autoptr(GstRTSPThreadPool) thread_pool = NULL;

  g_return_val_if_fail (config != NULL, NULL);
  if (config->htdigest_path == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "no htdigest file: viewers could not log in");
      return NULL;
    }
  self = g_object_new (VIGIL_TYPE_LIVE_SERVER, NULL);
  self->auth = vigil_live_auth_new (config->htdigest_path, error);
  if (self->auth == NULL)
    return NULL;
  vigil_live_auth_set_available (self->auth, is_factory_available);
  self->address = g_strdup (config->address != NULL ? config->address : "127.0.0.1");
  self->port = config->port;
  self->max_viewers = config->max_viewers > 0 ? config->max_viewers : DEFAULT_MAX_VIEWERS;

  self->server = GST_RTSP_SERVER (gst_rtsp_onvif_server_new ());
  gst_rtsp_server_set_address (self->server, self->address);
  gst_rtsp_server_set_auth (self->server, GST_RTSP_AUTH (self->auth));
  self->mounts = gst_rtsp_server_get_mount_points (self->server);
  self->session_pool = gst_rtsp_server_get_session_pool (self->server);
  gst_rtsp_session_pool_set_max_sessions (self->session_pool, self->max_viewers * 4);
  thread_pool = gst_rtsp_thread_pool_new ();
  gst_rtsp_thread_pool_set_max_threads (thread_pool, 0);
  gst_rtsp_server_set_thread_pool (self->server, thread_pool);
  g_signal_connect_object (self->server, "client-connected", G_CALLBACK (on_client_connected), self, 0);
  g_signal_connect_object (self->session_pool, "session-removed", G_CALLBACK (on_session_removed), self, 0);
  return g_steal_pointer (&self);
}

/* Server thread: ends RTSP sessions whose viewer has been silent too long
 * (the GSourceFunc of gst_rtsp_session_pool_create_watch()). */
static gboolean
on_session_pool_due (GstRTSPSessionPool *pool, gpointer user_data)
{
  gst_rtsp_session_pool_cleanup (pool);
  return G_SOURCE_CONTINUE;
}

gboolean
vigil_live_server_start (VigilLiveServer *self, GError **error)
{
  g_autofree gchar *service = NULL;

  g_return_val_if_fail (VIGIL_IS_LIVE_SERVER (self), FALSE);
  g_return_val_if_fail (self->thread == NULL, FALSE);

  service = g_strdup_printf ("%u", self->port);
  gst_rtsp_server_set_service (self->server, service);
  self->listen_source = gst_rtsp_server_create_source (self->server, NULL, error);
  if (self->listen_source == NULL)
    {
      g_prefix_error (error, "cannot listen on %s:%u: ", self->address, self->port);
      return FALSE;
    }
  self->port = (guint) gst_rtsp_server_get_bound_port (self->server);
  g_source_attach (self->listen_source, self->context);
  self->sweep_source = g_timeout_source_new (SWEEP_INTERVAL_MS);
  g_source_set_callback (self->sweep_source, on_sweep, self, NULL);
  g_source_attach (self->sweep_source, self->context);
  self->pool_source = gst_rtsp_session_pool_create_watch (self->session_pool);
  /* The watch calls a GstRTSPSessionPoolFunc, as GLib calls any callback. */
  g_source_set_callback (self->pool_source, (GSourceFunc) (void (*) (void)) on_session_pool_due, NULL, NULL);
  g_source_attach (self->pool_source, self->context);

  self->thread = g_thread_try_new ("vigil-live", server_thread_main, self, error);
  if (self->thread == NULL)
    return FALSE;
  GST_INFO ("serving live video on rtsp://%s:%u/", self->address, self->port);
  return TRUE;
}

static GstRTSPFilterResult
remove_every_session (GstRTSPSessionPool *pool, GstRTSPSession *session, gpointer user_data)
{
  return GST_RTSP_FILTER_REMOVE;
}

static gboolean
on_shutdown_poll (gpointer user_data)
{
  VigilLiveServer *self = user_data;
  guint left;

  g_mutex_lock (&self->lock);
  left = g_hash_table_size (self->viewers);
  g_mutex_unlock (&self->lock);
  if (left > 0 && g_get_monotonic_time () < self->shutdown_deadline_us)
    return G_SOURCE_CONTINUE;
  g_main_loop_quit (self->loop);
  return G_SOURCE_REMOVE;
}

/* Server thread. */
static gboolean
do_shutdown (gpointer user_data)
{
  VigilLiveServer *self = user_data;
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer value;
  GSource *poll;
  GList *removed;

  if (self->listen_source != NULL)
    {
      g_source_destroy (self->listen_source);
      g_clear_pointer (&self->listen_source, g_source_unref);
    }
  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->viewers);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Viewer *viewer = value;

      viewer->close_reason = "server stopped";
      g_ptr_array_add (clients, g_object_ref (viewer->client));
    }
  g_mutex_unlock (&self->lock);
  for (guint i = 0; i < clients->len; i++)
    gst_rtsp_client_close (g_ptr_array_index (clients, i));
  removed = gst_rtsp_session_pool_filter (self->session_pool, remove_every_session, NULL);
  g_list_free_full (removed, g_object_unref);

  self->shutdown_deadline_us = g_get_monotonic_time () + SHUTDOWN_TIMEOUT_US;
  poll = g_timeout_source_new (10);
  g_source_set_callback (poll, on_shutdown_poll, self, NULL);
  g_source_attach (poll, self->context);
  g_source_unref (poll);
  return G_SOURCE_REMOVE;
}

void
vigil_live_server_stop (VigilLiveServer *self)
{
  g_return_if_fail (VIGIL_IS_LIVE_SERVER (self));
  if (self->thread == NULL)
    return;
  g_main_context_invoke (self->context, do_shutdown, self);
  g_thread_join (g_steal_pointer (&self->thread));
  if (self->sweep_source != NULL)
    {
      g_source_destroy (self->sweep_source);
      g_clear_pointer (&self->sweep_source, g_source_unref);
    }
  if (self->pool_source != NULL)
    {
      g_source_destroy (self->pool_source);
      g_clear_pointer (&self->pool_source, g_source_unref);
    }
  /* Let what the closes left behind (releases, media teardown) run. */
  while (g_main_context_iteration (self->context, FALSE))
    ;
}

guint
vigil_live_server_get_port (VigilLiveServer *self)
{
  g_return_val_if_fail (VIGIL_IS_LIVE_SERVER (self), 0);
  return self->thread != NULL ? self->port : 0;
}

GPtrArray *
vigil_live_server_list_sessions (VigilLiveServer *self)
{
  GPtrArray *sessions = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_live_session_free);
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (VIGIL_IS_LIVE_SERVER (self), sessions);
  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->viewers);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Viewer *viewer = value;

      for (guint i = 0; i < viewer->sessions->len; i++)
        {
          Active *active = g_ptr_array_index (viewer->sessions, i);

          g_ptr_array_add (sessions, vigil_live_session_copy (active->info));
        }
    }
  g_mutex_unlock (&self->lock);
  return sessions;
}

guint64
vigil_live_server_get_n_dropped (VigilLiveServer *self)
{
  guint64 n;

  g_return_val_if_fail (VIGIL_IS_LIVE_SERVER (self), 0);
  g_mutex_lock (&self->lock);
  n = self->n_dropped;
  g_mutex_unlock (&self->lock);
  return n;
}

guint64
vigil_live_server_get_n_auth_failures (VigilLiveServer *self)
{
  g_return_val_if_fail (VIGIL_IS_LIVE_SERVER (self), 0);
  return vigil_live_auth_get_n_failures (self->auth);
}

static void
vigil_live_server_dispose (GObject *object)
{
  VigilLiveServer *self = VIGIL_LIVE_SERVER (object);

  vigil_live_server_stop (self);
  G_OBJECT_CLASS (vigil_live_server_parent_class)->dispose (object);
}

static void
vigil_live_server_finalize (GObject *object)
{
  VigilLiveServer *self = VIGIL_LIVE_SERVER (object);
  GHashTableIter iter;
  gpointer value;

  if (self->listen_source != NULL)
    {
      g_source_destroy (self->listen_source);
      g_source_unref (self->listen_source);
    }
  /* Viewers left by a shutdown that timed out. */
  g_hash_table_iter_init (&iter, self->viewers);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_object_unref (((Viewer *) value)->client);
  g_hash_table_unref (self->viewers);
  g_clear_object (&self->mounts);
  g_clear_object (&self->session_pool);
  g_clear_object (&self->server);
  g_clear_object (&self->auth);
  g_main_loop_unref (self->loop);
  g_main_context_unref (self->context);
  g_main_context_unref (self->owner_context);
  g_mutex_clear (&self->lock);
  g_free (self->address);
  G_OBJECT_CLASS (vigil_live_server_parent_class)->finalize (object);
}

static void
vigil_live_server_class_init (VigilLiveServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = vigil_live_server_dispose;
  object_class->finalize = vigil_live_server_finalize;

  /* ::session-started (VigilLiveSession *session): a viewer started
   * watching a mount. */
  signals[SIGNAL_SESSION_STARTED] = g_signal_new ("session-started", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, VIGIL_TYPE_LIVE_SESSION);
  /* ::session-ended (VigilLiveSession *session): that session ended; its
   * duration_us and end_reason are set. */
  signals[SIGNAL_SESSION_ENDED] = g_signal_new ("session-ended", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                0, NULL, NULL, NULL, G_TYPE_NONE, 1, VIGIL_TYPE_LIVE_SESSION);
}

static void
vigil_live_server_init (VigilLiveServer *self)
{
  g_mutex_init (&self->lock);
  self->viewers = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, viewer_free);
  self->owner_context = g_main_context_ref_thread_default ();
  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);
}
