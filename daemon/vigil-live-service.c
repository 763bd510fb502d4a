/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilLiveService: the live server wired to the cameras, the catalog and
 * the audit log.
 *
 * Playback's list of segments is asked for on the live server's thread
 * (or a playback media's), but the catalog belongs to the main thread: the
 * request hops there (g_main_context_invoke) and the asking thread waits
 * for the answer, at most LISTER_TIMEOUT_US. A request is reference
 * counted, so an answer that comes after its asker gave up is dropped
 * safely. */
#include "vigil-live-service.h"

#include <gst/rtsp-server/rtsp-server.h>
#include <string.h>

#include "vigil-camera.h"
#include "vigil-playback-factory.h"
#include "vigil-service-private.h"

#define LISTER_TIMEOUT_US  (5 * G_USEC_PER_SEC)

/* What the playback lister needs, shared with every playback media. */
typedef struct {
  gint          ref_count;      /* atomic */
  GMainContext *main_context;
  VigilStore   *store;          /* main thread only; NULL once closed */
  GPtrArray    *cameras;        /* main thread only; NULL once closed */
  gint          stopped;        /* atomic: answer nothing any more */
} Catalog;

struct _VigilLiveService {
  GObject          parent_instance;
  VigilStore      *store;
  GPtrArray       *cameras;
  VigilLiveServer *server;      /* NULL when not serving */
  gchar           *state;
  gboolean         enabled;
  gchar           *htdigest;
  VigilLiveServerConfig server_config;   /* strings owned below */
  gchar           *address;
  Catalog         *catalog;
};

G_DEFINE_FINAL_TYPE (VigilLiveService, vigil_live_service, G_TYPE_OBJECT)

static Catalog *
catalog_ref (Catalog *catalog)
{
  g_atomic_int_inc (&catalog->ref_count);
  return catalog;
}

static void
catalog_unref (gpointer data)
{
  Catalog *catalog = data;

  if (!g_atomic_int_dec_and_test (&catalog->ref_count))
    return;
  /* May be the last playback media's thread: the store and cameras were
   * released on the main thread already (catalog_close()). */
  g_main_context_unref (catalog->main_context);
  g_free (catalog);
}

/* Main thread: no answer any more; what the catalog held goes now. */
static void
catalog_close (Catalog *catalog)
{
  g_atomic_int_set (&catalog->stopped, TRUE);
  g_clear_object (&catalog->store);
  g_clear_pointer (&catalog->cameras, g_ptr_array_unref);
}

typedef struct {
  gint       ref_count;         /* atomic */
  Catalog   *catalog;
  gchar     *camera;
  gint64     from_us, to_us;
  guint      max_segments;
  GMutex     lock;
  GCond      cond;
  gboolean   done;              /* protected by lock */
  GPtrArray *segments;          /* protected by lock; the answer */
  GError    *error;             /* protected by lock */
} ListRequest;

static ListRequest *
list_request_ref (ListRequest *request)
{
  g_atomic_int_inc (&request->ref_count);
  return request;
}

static void
list_request_unref (gpointer data)
{
  ListRequest *request = data;

  if (!g_atomic_int_dec_and_test (&request->ref_count))
    return;
  catalog_unref (request->catalog);
  g_free (request->camera);
  g_clear_pointer (&request->segments, g_ptr_array_unref);
  g_clear_error (&request->error);
  g_mutex_clear (&request->lock);
  g_cond_clear (&request->cond);
  g_free (request);
}

static VigilCamera *
find_camera (GPtrArray *cameras, const gchar *name)
{
  for (guint i = 0; i < cameras->len; i++)
    if (g_str_equal (vigil_camera_get_name (cameras->pdata[i]), name))
      return cameras->pdata[i];
  return NULL;
}

/* Main thread: the catalog's complete segments in the range, and the one
 * being written if it starts in it. */
static gboolean
answer_list_request (gpointer data)
{
  ListRequest *request = data;
  Catalog *catalog = request->catalog;
  g_autoptr(GPtrArray) segments = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_playback_segment_free);
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GError) error = NULL;
  VigilCamera *camera;

  if (g_atomic_int_get (&catalog->stopped))
    g_set_error_literal (&error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_FAILED, "vigild is stopping");
  else if ((camera = find_camera (catalog->cameras, request->camera)) == NULL)
    g_set_error (&error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_NOT_FOUND, "no camera %s", request->camera);
  else if ((rows = vigil_store_list_segments (catalog->store, request->camera, request->from_us, request->to_us,
                                              &error)) != NULL)
    {
      g_autofree gchar *writing_path = NULL;
      gint64 writing_start_us = 0;
      gint64 last_end_us = G_MININT64;

      for (guint i = 0; i < rows->len && segments->len < request->max_segments; i++)
        {
          const VigilSegment *row = rows->pdata[i];
          g_autofree gchar *path = vigil_store_get_absolute_path (catalog->store, row->path);

          g_ptr_array_add (segments, vigil_playback_segment_new (path, row->start_us, row->end_us, FALSE));
          last_end_us = MAX (last_end_us, row->end_us);
        }
      /* The segment being written: its row is not complete, so only the
       * camera knows it. Its end is as far as now. */
      if (segments->len < request->max_segments
          && vigil_camera_find_writing (camera, request->to_us - 1, &writing_path, &writing_start_us)
          && writing_start_us >= last_end_us - VIGIL_STORE_GAP_TOLERANCE_US)
        {
          g_autofree gchar *path = vigil_store_get_absolute_path (catalog->store, writing_path);

          g_ptr_array_add (segments, vigil_playback_segment_new (path, writing_start_us,
                                                                 MAX (g_get_real_time (), writing_start_us), TRUE));
        }
    }

  g_mutex_lock (&request->lock);
  if (error == NULL)
    request->segments = g_steal_pointer (&segments);
  else
    request->error = g_steal_pointer (&error);
  request->done = TRUE;
  g_cond_signal (&request->cond);
  g_mutex_unlock (&request->lock);
  return G_SOURCE_REMOVE;
}

/* The VigilPlaybackLister: the live server's or a playback media's thread. */
static GPtrArray *
list_segments (const gchar *camera, gint64 from_us, gint64 to_us, guint max_segments, gpointer user_data,
               GError **error)
{
  Catalog *catalog = user_data;
  ListRequest *request = g_new0 (ListRequest, 1);
  gint64 deadline = g_get_monotonic_time () + LISTER_TIMEOUT_US;
  GPtrArray *segments = NULL;

  request->ref_count = 1;
  request->catalog = catalog_ref (catalog);
  request->camera = g_strdup (camera);
  request->from_us = from_us;
  request->to_us = to_us;
  request->max_segments = max_segments;
  g_mutex_init (&request->lock);
  g_cond_init (&request->cond);
  g_main_context_invoke_full (catalog->main_context, G_PRIORITY_DEFAULT, answer_list_request,
                              list_request_ref (request), list_request_unref);
  g_mutex_lock (&request->lock);
  while (!request->done)
    if (!g_cond_wait_until (&request->cond, &request->lock, deadline))
      break;
  if (!request->done)
    g_set_error_literal (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_FAILED,
                         "the catalog did not answer within 5 s");
  else if (request->error != NULL)
    g_propagate_error (error, g_steal_pointer (&request->error));
  else
    segments = g_steal_pointer (&request->segments);
  g_mutex_unlock (&request->lock);
  list_request_unref (request);
  return segments;
}

/* --- audit --- */

static void
audit_session (VigilLiveService *self, const VigilLiveSession *session, gboolean ended)
{
  g_autofree gchar *user = g_strdup_printf ("rtsp:%s", session->user);
  VigilCaller caller = { -1, user };
  g_autofree gchar *id = g_strdup_printf ("%" G_GUINT64_FORMAT, session->id);
  g_autofree gchar *duration = g_strdup_printf ("%" G_GINT64_FORMAT, session->duration_us);
  g_autoptr(GDateTime) start = g_date_time_new_from_unix_utc (session->start_us / G_USEC_PER_SEC);
  g_autofree gchar *started = g_date_time_format_iso8601 (start);

  if (!ended)
    vigil_service_audit (self->store, &caller, "view-start", session->camera, "session", id, "kind", session->kind,
                         "mount", session->mount, "address", session->address, "range", session->range, NULL);
  else
    vigil_service_audit (self->store, &caller, "view-end", session->camera, "session", id, "kind", session->kind,
                         "mount", session->mount, "address", session->address, "range", session->range,
                         "started", started, "duration_us", duration, "reason", session->end_reason, NULL);
}

static void
on_session_started (VigilLiveServer *server, const VigilLiveSession *session, VigilLiveService *self)
{
  audit_session (self, session, FALSE);
}

static void
on_session_ended (VigilLiveServer *server, const VigilLiveSession *session, VigilLiveService *self)
{
  audit_session (self, session, TRUE);
}

/* --- life --- */

VigilLiveService *
vigil_live_service_new (const VigilConfig *config, VigilStore *store, GPtrArray *cameras)
{
  VigilLiveService *self = g_object_new (VIGIL_TYPE_LIVE_SERVICE, NULL);

  self->store = g_object_ref (store);
  self->cameras = g_ptr_array_ref (cameras);
  self->enabled = config->live_enabled;
  self->htdigest = g_strdup (config->live_htdigest);
  self->address = g_strdup (config->live_address != NULL ? config->live_address : "127.0.0.1");
  self->server_config.address = self->address;
  self->server_config.port = config->live_port;
  self->server_config.htdigest_path = self->htdigest;
  self->server_config.max_viewers = config->live_max_viewers;
  self->state = g_strdup ("off: not started");
  return self;
}

static void
set_state (VigilLiveService *self, gchar *state)
{
  g_free (self->state);
  self->state = state;
}

gboolean
vigil_live_service_start (VigilLiveService *self)
{
  g_autoptr(VigilLiveServer) server = NULL;
  g_autoptr(GError) error = NULL;

  g_return_val_if_fail (VIGIL_IS_LIVE_SERVICE (self), FALSE);
  if (self->server != NULL)
    return TRUE;
  if (!self->enabled)
    {
      set_state (self, g_strdup ("off: enabled=false in [live]"));
      g_message ("live viewing is off: enabled=false in [live]");
      return FALSE;
    }
  if (self->htdigest == NULL)
    {
      set_state (self, g_strdup ("off: no viewers file (set htdigest= in [live]; make it with "
                                 "htdigest -c FILE vigil USER)"));
      g_message ("live viewing is off: no htdigest= in [live], so nobody could log in");
      return FALSE;
    }
  server = vigil_live_server_new (&self->server_config, &error);
  if (server == NULL)
    {
      set_state (self, g_strdup_printf ("off: %s", error->message));
      g_warning ("live viewing is off: %s", error->message);
      return FALSE;
    }
  self->catalog = g_new0 (Catalog, 1);
  self->catalog->ref_count = 1;
  self->catalog->main_context = g_main_context_ref_thread_default ();
  self->catalog->store = g_object_ref (self->store);
  self->catalog->cameras = g_ptr_array_ref (self->cameras);
  for (guint i = 0; i < self->cameras->len; i++)
    {
      VigilCamera *camera = self->cameras->pdata[i];
      const gchar *name = vigil_camera_get_name (camera);
      g_autoptr(VigilPlaybackFactory) playback = vigil_playback_factory_new (name, list_segments,
                                                                              catalog_ref (self->catalog),
                                                                              catalog_unref);
      g_autofree gchar *playback_path = g_strconcat (name, "/playback", NULL);

      vigil_live_server_add_camera (server, name, vigil_camera_get_live_feed (camera, FALSE),
                                    vigil_camera_get_live_feed (camera, TRUE));
      vigil_live_server_add_factory (server, playback_path, playback);
    }
  g_signal_connect (server, "session-started", G_CALLBACK (on_session_started), self);
  g_signal_connect (server, "session-ended", G_CALLBACK (on_session_ended), self);
  if (!vigil_live_server_start (server, &error))
    {
      g_signal_handlers_disconnect_by_data (server, self);
      set_state (self, g_strdup_printf ("off: %s", error->message));
      g_warning ("live viewing is off: %s", error->message);
      return FALSE;
    }
  self->server = g_steal_pointer (&server);
  set_state (self, g_strdup_printf ("serving rtsp://%s:%u/ (%u cameras)", self->address,
                                    vigil_live_server_get_port (self->server), self->cameras->len));
  g_message ("live viewing: %s", self->state);
  return TRUE;
}

void
vigil_live_service_stop (VigilLiveService *self)
{
  g_return_if_fail (VIGIL_IS_LIVE_SERVICE (self));
  if (self->server == NULL)
    return;
  vigil_live_server_stop (self->server);
  if (self->catalog != NULL)
    catalog_close (self->catalog);
  set_state (self, g_strdup ("off: vigild is stopping"));
}

gboolean
vigil_live_service_is_serving (VigilLiveService *self)
{
  g_return_val_if_fail (VIGIL_IS_LIVE_SERVICE (self), FALSE);
  return self->server != NULL && vigil_live_server_get_port (self->server) != 0;
}

const gchar *
vigil_live_service_get_state (VigilLiveService *self)
{
  g_return_val_if_fail (VIGIL_IS_LIVE_SERVICE (self), NULL);
  return self->state;
}

gchar *
vigil_live_service_get_base_url (VigilLiveService *self)
{
  g_return_val_if_fail (VIGIL_IS_LIVE_SERVICE (self), NULL);
  if (!vigil_live_service_is_serving (self))
    return NULL;
  /* An IPv6 address goes in brackets in a URL. */
  return g_strdup_printf (strchr (self->address, ':') != NULL ? "rtsp://[%s]:%u/" : "rtsp://%s:%u/", self->address,
                          vigil_live_server_get_port (self->server));
}

GPtrArray *
vigil_live_service_list_sessions (VigilLiveService *self)
{
  g_return_val_if_fail (VIGIL_IS_LIVE_SERVICE (self), NULL);
  if (self->server == NULL)
    return g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_live_session_free);
  return vigil_live_server_list_sessions (self->server);
}

static void
vigil_live_service_dispose (GObject *object)
{
  VigilLiveService *self = VIGIL_LIVE_SERVICE (object);

  if (self->server != NULL)
    {
      vigil_live_service_stop (self);
      g_signal_handlers_disconnect_by_data (self->server, self);
      g_clear_object (&self->server);
    }
  if (self->catalog != NULL)
    catalog_close (self->catalog);
  g_clear_pointer (&self->catalog, catalog_unref);
  g_clear_pointer (&self->cameras, g_ptr_array_unref);
  g_clear_object (&self->store);
  G_OBJECT_CLASS (vigil_live_service_parent_class)->dispose (object);
}

static void
vigil_live_service_finalize (GObject *object)
{
  VigilLiveService *self = VIGIL_LIVE_SERVICE (object);

  g_free (self->state);
  g_free (self->htdigest);
  g_free (self->address);
  G_OBJECT_CLASS (vigil_live_service_parent_class)->finalize (object);
}

static void
vigil_live_service_class_init (VigilLiveServiceClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = vigil_live_service_dispose;
  G_OBJECT_CLASS (klass)->finalize = vigil_live_service_finalize;
}

static void
vigil_live_service_init (VigilLiveService *self)
{
}
