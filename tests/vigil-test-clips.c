/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Clips made by ffmpeg for the frame-health tests; see the header. Runs
 * ffmpeg from PATH with an argument vector (no shell), into a temporary
 * name renamed into place, so an interrupted run never leaves a partial
 * clip under the final name. */
#include "vigil-test-clips.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define CLOCK_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"

gboolean
vigil_test_have_clip_maker (gchar **why)
{
  g_autofree gchar *ffmpeg = g_find_program_in_path ("ffmpeg");
  g_autofree gchar *encoders = NULL;
  const gchar *argv[] = { "ffmpeg", "-hide_banner", "-encoders", NULL };

  if (ffmpeg == NULL)
    {
      *why = g_strdup ("needs ffmpeg (Debian's ffmpeg package)");
      return FALSE;
    }
  if (!g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                     &encoders, NULL, NULL, NULL)
      || strstr (encoders, "libx264") == NULL || strstr (encoders, "libx265") == NULL)
    {
      *why = g_strdup ("needs ffmpeg with libx264 and libx265");
      return FALSE;
    }
  if (!g_file_test (CLOCK_FONT, G_FILE_TEST_EXISTS))
    {
      *why = g_strdup ("needs the font " CLOCK_FONT " (fonts-dejavu-core) for the clock overlay");
      return FALSE;
    }
  return TRUE;
}

/* The encoder's arguments: a keyframe every second (25 frames) and never
 * in between, no B-frames, closed GOPs, the bitrate capped over two
 * seconds, as a camera's "CBR" setting does it. */
static void
add_encoder_args (GPtrArray *argv, const VigilTestClip *clip)
{
  g_ptr_array_add (argv, g_strdup ("-c:v"));
  if (clip->encoder == VIGIL_TEST_X264)
    {
      g_ptr_array_add (argv, g_strdup ("libx264"));
      g_ptr_array_add (argv, g_strdup ("-preset"));
      g_ptr_array_add (argv, g_strdup ("veryfast"));
      g_ptr_array_add (argv, g_strdup ("-bf"));
      g_ptr_array_add (argv, g_strdup ("0"));
    }
  else
    {
      g_ptr_array_add (argv, g_strdup ("libx265"));
      g_ptr_array_add (argv, g_strdup ("-preset"));
      g_ptr_array_add (argv, g_strdup ("ultrafast"));
      g_ptr_array_add (argv, g_strdup ("-x265-params"));
      g_ptr_array_add (argv, g_strdup ("log-level=error:bframes=0:no-open-gop=1"));
    }
  g_ptr_array_add (argv, g_strdup ("-g"));
  g_ptr_array_add (argv, g_strdup ("25"));
  g_ptr_array_add (argv, g_strdup ("-keyint_min"));
  g_ptr_array_add (argv, g_strdup ("25"));
  g_ptr_array_add (argv, g_strdup ("-sc_threshold"));
  g_ptr_array_add (argv, g_strdup ("0"));
  g_ptr_array_add (argv, g_strdup ("-b:v"));
  g_ptr_array_add (argv, g_strdup_printf ("%uk", clip->kbps));
  g_ptr_array_add (argv, g_strdup ("-maxrate"));
  g_ptr_array_add (argv, g_strdup_printf ("%uk", clip->kbps));
  g_ptr_array_add (argv, g_strdup ("-bufsize"));
  g_ptr_array_add (argv, g_strdup_printf ("%uk", 2 * clip->kbps));
  g_ptr_array_add (argv, g_strdup ("-pix_fmt"));
  g_ptr_array_add (argv, g_strdup ("yuv420p"));
  g_ptr_array_add (argv, g_strdup ("-f"));
  g_ptr_array_add (argv, g_strdup (clip->encoder == VIGIL_TEST_X264 ? "h264" : "hevc"));
}

gchar *
vigil_test_make_clip (const VigilTestClip *clip, guint seconds, GError **error)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree gchar *command = NULL;
  g_autofree gchar *hash = NULL;
  g_autofree gchar *dir = NULL;
  g_autofree gchar *path = NULL;
  g_autofree gchar *partial = NULL;
  g_autofree gchar *err = NULL;
  const gchar *env_dir = g_getenv ("VIGIL_TEST_CLIP_DIR");
  gint status;

  dir = env_dir != NULL && *env_dir != '\0' ? g_strdup (env_dir)
                                            : g_build_filename (g_get_tmp_dir (), "vigil-test-clips", NULL);
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot make %s: %s", dir,
                   g_strerror (errno));
      return NULL;
    }

  g_ptr_array_add (argv, g_strdup ("ffmpeg"));
  g_ptr_array_add (argv, g_strdup ("-hide_banner"));
  g_ptr_array_add (argv, g_strdup ("-loglevel"));
  g_ptr_array_add (argv, g_strdup ("error"));
  g_ptr_array_add (argv, g_strdup ("-nostdin"));
  g_ptr_array_add (argv, g_strdup ("-y"));
  g_ptr_array_add (argv, g_strdup ("-f"));
  g_ptr_array_add (argv, g_strdup ("lavfi"));
  g_ptr_array_add (argv, g_strdup ("-i"));
  g_ptr_array_add (argv, g_strdup (clip->graph));
  g_ptr_array_add (argv, g_strdup ("-t"));
  g_ptr_array_add (argv, g_strdup_printf ("%u", seconds));
  add_encoder_args (argv, clip);
  g_ptr_array_add (argv, NULL);
  command = g_strjoinv (" ", (gchar **) argv->pdata);
  hash = g_compute_checksum_for_string (G_CHECKSUM_SHA1, command, -1);
  hash[12] = '\0';
  path = g_strdup_printf ("%s/%s-%s.%s", dir, clip->name, hash, clip->encoder == VIGIL_TEST_X264 ? "h264" : "h265");
  if (g_file_test (path, G_FILE_TEST_EXISTS))
    return g_steal_pointer (&path);

  partial = g_strdup_printf ("%s.partial-%d", path, (gint) getpid ());
  g_ptr_array_remove_index (argv, argv->len - 1);
  g_ptr_array_add (argv, g_strdup (partial));
  g_ptr_array_add (argv, NULL);
  if (!g_spawn_sync (NULL, (gchar **) argv->pdata, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                     NULL, &err, &status, error))
    return NULL;
  if (!g_spawn_check_wait_status (status, NULL))
    {
      g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED, "ffmpeg could not make clip %s: %s", clip->name,
                   err != NULL ? g_strstrip (err) : "");
      g_unlink (partial);
      return NULL;
    }
  if (g_rename (partial, path) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot rename %s: %s", partial,
                   g_strerror (errno));
      g_unlink (partial);
      return NULL;
    }
  return g_steal_pointer (&path);
}
