/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Retention passes over VigilStore; see vigil-retention.h. */
#include "vigil-retention.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "vigil-fsync.h"
#include "vigil-incidents.h"

gboolean
vigil_retention_delete_segment (VigilStore *store, const VigilSegment *segment, GError **error)
{
  g_autofree gchar *path = vigil_store_get_absolute_path (store, segment->path);
  g_autofree gchar *folder = g_path_get_dirname (path);

  if (!vigil_store_mark_segment_deleting (store, segment->id, error))
    return FALSE;
  if (g_unlink (path) != 0 && errno != ENOENT)
    {
      int saved = errno;
      /* The row stays 'deleting'; recovery retries at the next start. */
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot delete %s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  return vigil_fsync_path (folder, error) && vigil_store_remove_segment (store, segment->id, error);
}

gboolean
vigil_retention_delete_before (VigilStore *store, const gchar *camera, gint64 before_us, gint64 now_us,
                               guint *out_deleted, guint64 *out_bytes, GError **error)
{
  g_autoptr(GPtrArray) segments = NULL;
  guint deleted = 0;
  guint64 bytes = 0;

  g_return_val_if_fail (VIGIL_IS_STORE (store), FALSE);
  segments = vigil_store_list_deletable_segments (store, camera, before_us, now_us, 0, error);
  if (segments == NULL)
    return FALSE;
  for (guint i = 0; i < segments->len; i++)
    {
      const VigilSegment *segment = segments->pdata[i];

      if (!vigil_retention_delete_segment (store, segment, error))
        return FALSE;
      deleted++;
      bytes += segment->size_bytes;
    }
  if (out_deleted != NULL)
    *out_deleted = deleted;
  if (out_bytes != NULL)
    *out_bytes = bytes;
  return TRUE;
}
