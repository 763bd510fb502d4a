/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigilctl snapshot: a JPEG of one camera's picture, now or at a recorded
 * time, decoded by vigild from its recording (Camera.Snapshot). vigilctl
 * opens the file itself, as the user running it, and hands vigild only
 * the descriptor, so vigild never writes where that user could not. The
 * file appears whole or not at all: vigild writes into a temporary file
 * beside it, which is synced and then given its name; an existing file is
 * replaced only with --force. */
#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <unistd.h>

#include "vigil-fsync.h"
#include "vigil-time.h"
#include "vigilctl-private.h"

/* The temporary file, removed unless it was given its name. */
static void
remove_temporary (gchar **path)
{
  if (*path != NULL)
    g_unlink (*path);
  g_clear_pointer (path, g_free);
}

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
}

int
cmd_snapshot (Ctl *ctl, int argc, char **argv)
{
  g_autofree gchar *at_text = NULL;
  g_autofree gchar *out = NULL;
  gboolean force = FALSE;
  const GOptionEntry entries[] = {
    { "at", 0, 0, G_OPTION_ARG_STRING, &at_text, "The recorded moment to show (default: now)", "TIME" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "The JPEG file to write (required)", "FILE" },
    { "force", 0, 0, G_OPTION_ARG_NONE, &force, "Replace FILE if it exists", NULL },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilDBusCamera) camera = NULL;
  g_autoptr(GUnixFDList) fd_list = NULL;
  g_autofree gchar *folder = NULL;
  g_autofree gchar *base = NULL;
  g_autofree gchar *template = NULL;
  __attribute__ ((cleanup (remove_temporary))) gchar *temporary = NULL;
  __attribute__ ((cleanup (close_fd))) int fd = -1;
  gint64 at_us = 0, frame_us = 0;
  guint64 size_bytes = 0;
  int passed, status;

  if (!parse_options (ctl, "CAM -o FILE.jpg",
                      "A JPEG of the camera's picture: the newest keyframe of the recording going on, or with\n"
                      "--at the keyframe at or before that recorded moment (up to a GOP earlier). Only that\n"
                      "one frame is decoded, by vigild, from its recording. In the audit log.\n\n" TIME_FORMS,
                      NULL, entries, &argc, &argv))
    return EXIT_USAGE;
  if (argc != 2)
    return usage (ctl, argc < 2 ? "which camera?" : "one camera at a time");
  if (out == NULL)
    return usage (ctl, "where to? (-o FILE.jpg)");
  if (at_text != NULL && !parse_time_option (ctl, "--at", at_text, &at_us))
    return EXIT_USAGE;
  if (!force && g_file_test (out, G_FILE_TEST_EXISTS))
    return fail_message ("%s exists (--force replaces it)", out);

  folder = g_path_get_dirname (out);
  base = g_path_get_basename (out);
  template = g_strdup_printf ("%s/.%s.XXXXXX", folder, base);
  fd = g_mkstemp_full (template, O_RDWR | O_CLOEXEC, 0666);
  if (fd < 0)
    return fail_message ("cannot create a file in %s: %s", folder, g_strerror (errno));
  temporary = g_strdup (template);
  passed = dup (fd);
  if (passed < 0)
    return fail_message ("dup: %s", g_strerror (errno));
  fd_list = g_unix_fd_list_new_from_array (&passed, 1);   /* takes passed */

  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;
  camera = ctl_get_camera (ctl, argv[1], &error);
  if (camera == NULL)
    return fail (error);
  /* A 4K keyframe decodes well within vigild's own 10 s bound. */
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (camera), 30000);
  if (!vigil_dbus_camera_call_snapshot_sync (camera, at_us, g_variant_new_handle (0), fd_list, &frame_us,
                                             &size_bytes, NULL, NULL, &error))
    {
      if (is_unknown_object (error))
        return fail_message ("no camera “%s” (vigilctl cameras lists them)", argv[1]);
      return fail (error);
    }

  if (fsync (fd) != 0)
    return fail_message ("cannot write %s: %s", out, g_strerror (errno));
  /* link() never replaces: a file made meanwhile is kept. */
  if (force ? g_rename (temporary, out) != 0 : link (temporary, out) != 0)
    {
      if (errno == EEXIST)
        return fail_message ("%s exists (--force replaces it)", out);
      return fail_message ("cannot write %s: %s", out, g_strerror (errno));
    }
  if (force)
    g_clear_pointer (&temporary, g_free);
  if (!vigil_fsync_path (folder, &error))
    return fail (error);

  if (opt_json)
    {
      g_autoptr(JsonBuilder) builder = json_begin ();

      json_add_string (builder, "camera", argv[1]);
      json_add_string (builder, "file", out);
      json_add_time (builder, "frame", frame_us);
      json_add_int (builder, "size_bytes", (gint64) size_bytes);
      json_print (builder);
    }
  else
    {
      g_autofree gchar *when = vigil_time_format_local (frame_us);

      printf ("camera %s: picture of %s (%" G_GUINT64_FORMAT " bytes) in %s\n", argv[1], when, size_bytes, out);
    }
  return EXIT_OK;
}
