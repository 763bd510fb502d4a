/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilSalvage: a queue of half-done segments, worked one step at a time;
 * catalog steps on the main thread (the store is the daemon's), file
 * steps in a worker. */
#include "vigil-salvage.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "vigil-fsync.h"
#include "vigil-segment-probe.h"

typedef enum {
  STEP_CATALOG,     /* main: finish or add the row as the segment says */
  STEP_PROBE,       /* worker: read the cut file to its end; unlink it if it holds no video */
  STEP_REMOVE_ROW,  /* main: the row of a file that is gone */
} Step;

typedef enum {
  PROBED_PLAYABLE,  /* fsync'ed; the segment holds its real end and counts */
  PROBED_REMOVED,   /* no video: the file is gone (its 'writing' row, if any, goes next) */
  PROBED_MISSING,   /* no file at all */
} Probed;

typedef struct {
  Step          step;
  gboolean      cut;        /* never closed (else: closed, only its row is owed) */
  VigilSegment *segment;    /* id 0 while it has no row; a worker fills it in at STEP_PROBE */
} Item;

struct _VigilSalvage
{
  GObject     parent_instance;
  VigilStore *store;        /* main thread only */
  gchar      *root;         /* the store's, for the workers */
  GQueue      items;        /* Item, oldest first; the head is the one worked on */
  gboolean    working;      /* a worker runs the head's step */
  gboolean    blocked;      /* the catalog refused the head's step for want of space */
  guint       retry_id;     /* idle: vigil_salvage_retry() */
};

G_DEFINE_FINAL_TYPE (VigilSalvage, vigil_salvage, G_TYPE_OBJECT)

enum { SIGNAL_CATALOGED, SIGNAL_CATALOG_FULL, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
item_free (Item *item)
{
  vigil_segment_free (item->segment);
  g_free (item);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Item, item_free)

static void process (VigilSalvage *self);

/* Runs on a worker thread; touches only the head item, which the main
 * thread leaves alone while it works, and never the store. */
static void
probe_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VigilSalvage *self = source;
  VigilSegment *segment = task_data;
  g_autofree gchar *path = g_build_filename (self->root, segment->path, NULL);
  g_autofree gchar *folder = g_path_get_dirname (path);
  g_auto(VigilSegmentProbe) probe = { 0 };
  g_autoptr(GError) error = NULL;
  guint64 size_bytes = 0;

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_task_return_int (task, PROBED_MISSING);
      return;
    }
  if (!vigil_segment_probe_file (path, &probe, NULL))
    {
      /* Nothing in it to keep. Its row, if any, still says 'writing', and
       * a 'writing' row without a file is what start-up recovery drops:
       * unlinking first is safe however a crash falls (retention's
       * 'deleting' mark is for rows that say the file is whole). */
      if (g_unlink (path) != 0 && errno != ENOENT)
        {
          int saved = errno;
          g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved), "cannot delete %s: %s", path,
                                   g_strerror (saved));
          return;
        }
      if (!vigil_fsync_path (folder, &error))
        g_task_return_error (task, g_steal_pointer (&error));
      else
        g_task_return_int (task, PROBED_REMOVED);
      return;
    }
  /* What fitted is kept; durable before the catalog says so. */
  if (!vigil_fsync_file_and_folders (path, self->root, &size_bytes, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  segment->end_us = segment->start_us + probe.media_duration_ns / 1000;
  segment->media_duration_ns = probe.media_duration_ns;
  segment->size_bytes = size_bytes;
  segment->frames = probe.frames;
  segment->keyframes = probe.keyframes;
  g_free (segment->codec);
  segment->codec = g_strdup (probe.codec);
  segment->state = VIGIL_SEGMENT_RECOVERED;
  g_task_return_int (task, PROBED_PLAYABLE);
}

/* The head item is left to start-up recovery. */
static void
give_up (VigilSalvage *self, const GError *error)
{
  g_autoptr(Item) item = NULL;

  item = g_queue_pop_head (&self->items);
  g_warning ("camera %s: segment %s: %s; left to start-up recovery", item->segment->camera, item->segment->path,
             error->message);
}

static void
on_step_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VigilSalvage *self = VIGIL_SALVAGE (source);
  Item *item = g_queue_peek_head (&self->items);
  g_autoptr(GError) error = NULL;

  gssize probed = g_task_propagate_int (G_TASK (result), &error);

  self->working = FALSE;
  if (error != NULL)
    give_up (self, error);
  else if (probed == PROBED_PLAYABLE)
    {
      g_message ("camera %s: segment %s was cut off; kept what was written: %" G_GUINT64_FORMAT " frames, %.1f s",
                 item->segment->camera, item->segment->path, item->segment->frames,
                 item->segment->media_duration_ns / 1e9);
      item->step = STEP_CATALOG;
    }
  else
    {
      if (probed == PROBED_REMOVED)
        g_message ("camera %s: segment %s was cut off before any video; removed", item->segment->camera,
                   item->segment->path);
      if (item->segment->id != 0)
        item->step = STEP_REMOVE_ROW;
      else
        item_free (g_queue_pop_head (&self->items));
    }
  process (self);
}

static void
start_worker (VigilSalvage *self, Item *item, GTaskThreadFunc func)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, on_step_done, NULL);

  self->working = TRUE;
  g_task_set_task_data (task, item->segment, NULL);
  g_task_run_in_thread (task, func);
}

/* Runs the head item's catalog step; FALSE with @error if refused. */
static gboolean
catalog_step (VigilSalvage *self, Item *item, gboolean *out_done, GError **error)
{
  gint64 id;

  *out_done = FALSE;
  switch (item->step)
    {
    case STEP_CATALOG:
      if (item->segment->id != 0)
        {
          if (!vigil_store_finish_segment (self->store, item->segment, error))
            return FALSE;
        }
      else
        {
          if ((id = vigil_store_adopt_segment (self->store, item->segment, error)) == 0)
            return FALSE;
          item->segment->id = id;
        }
      *out_done = TRUE;
      return TRUE;
    case STEP_REMOVE_ROW:
      if (!vigil_store_remove_segment (self->store, item->segment->id, error))
        return FALSE;
      *out_done = TRUE;
      return TRUE;
    case STEP_PROBE:
      break;
    }
  g_return_val_if_reached (FALSE);
}

static void
process (VigilSalvage *self)
{
  while (!self->working && !self->blocked && !g_queue_is_empty (&self->items))
    {
      Item *item = g_queue_peek_head (&self->items);
      g_autoptr(GError) error = NULL;
      gboolean done;

      if (item->step == STEP_PROBE)
        {
          start_worker (self, item, probe_thread);
          return;
        }
      if (!catalog_step (self, item, &done, &error))
        {
          if (g_error_matches (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_FULL))
            {
              /* Waits for vigil_salvage_retry(), which runs from an idle:
               * a handler that frees space at once cannot recurse here. */
              self->blocked = TRUE;
              g_signal_emit (self, signals[SIGNAL_CATALOG_FULL], 0);
              return;
            }
          give_up (self, error);
          continue;
        }
      if (done)
        {
          g_autoptr(Item) finished = g_queue_pop_head (&self->items);

          if (finished->step == STEP_CATALOG)
            g_signal_emit (self, signals[SIGNAL_CATALOGED], 0, finished->segment, finished->cut);
        }
    }
}

static void
add_item (VigilSalvage *self, Step step, gboolean cut, VigilSegment *segment)
{
  Item *item = g_new0 (Item, 1);

  item->step = step;
  item->cut = cut;
  item->segment = segment;
  g_queue_push_tail (&self->items, item);
  process (self);
}

void
vigil_salvage_add_closed (VigilSalvage *self, const VigilSegment *segment)
{
  g_return_if_fail (VIGIL_IS_SALVAGE (self));
  add_item (self, STEP_CATALOG, FALSE, vigil_segment_copy (segment));
}

void
vigil_salvage_add_cut (VigilSalvage *self, const gchar *camera, const gchar *path, gint64 start_us, gint64 row_id,
                       gint64 run_id)
{
  VigilSegment segment = {
    .id = row_id, .camera = (gchar *) camera, .run_id = run_id, .path = (gchar *) path, .start_us = start_us,
    .end_us = start_us, .state = VIGIL_SEGMENT_WRITING,
  };

  g_return_if_fail (VIGIL_IS_SALVAGE (self));
  add_item (self, STEP_PROBE, TRUE, vigil_segment_copy (&segment));
}

static void
on_retry (gpointer user_data)
{
  VigilSalvage *self = user_data;

  self->retry_id = 0;
  self->blocked = FALSE;
  process (self);
}

void
vigil_salvage_retry (VigilSalvage *self)
{
  g_return_if_fail (VIGIL_IS_SALVAGE (self));
  if (self->blocked && self->retry_id == 0)
    self->retry_id = g_idle_add_once (on_retry, self);
}

guint
vigil_salvage_get_pending (VigilSalvage *self)
{
  g_return_val_if_fail (VIGIL_IS_SALVAGE (self), 0);
  return self->items.length;
}

static void
vigil_salvage_dispose (GObject *object)
{
  VigilSalvage *self = VIGIL_SALVAGE (object);

  g_clear_handle_id (&self->retry_id, g_source_remove);
  G_OBJECT_CLASS (vigil_salvage_parent_class)->dispose (object);
}

static void
vigil_salvage_finalize (GObject *object)
{
  VigilSalvage *self = VIGIL_SALVAGE (object);

  /* A worker holds a reference: none runs now. */
  g_queue_clear_full (&self->items, (GDestroyNotify) item_free);
  g_clear_object (&self->store);
  g_free (self->root);
  G_OBJECT_CLASS (vigil_salvage_parent_class)->finalize (object);
}

static void
vigil_salvage_class_init (VigilSalvageClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = vigil_salvage_dispose;
  G_OBJECT_CLASS (klass)->finalize = vigil_salvage_finalize;
  /* ::cataloged (const VigilSegment *, gboolean cut): the segment's row is
   * complete (closed) or recovered (cut off) now. */
  signals[SIGNAL_CATALOGED] = g_signal_new ("cataloged", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                            NULL, NULL, G_TYPE_NONE, 2, G_TYPE_POINTER, G_TYPE_BOOLEAN);
  /* ::catalog-full: the catalog refused a step for want of space; the
   * rest waits for vigil_salvage_retry(). */
  signals[SIGNAL_CATALOG_FULL] = g_signal_new ("catalog-full", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                               NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
vigil_salvage_init (VigilSalvage *self)
{
  g_queue_init (&self->items);
}

VigilSalvage *
vigil_salvage_new (VigilStore *store)
{
  VigilSalvage *self = g_object_new (VIGIL_TYPE_SALVAGE, NULL);

  self->store = g_object_ref (store);
  self->root = g_strdup (vigil_store_get_root (store));
  return self;
}
