/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test helpers; see vigil-test-util.h. */
#include "vigil-test-util.h"

#include <gst/app/app.h>
#include <gst/video/video.h>

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

gchar *
vigil_test_make_tmp_dir (void)
{
  g_autoptr(GError) error = NULL;
  gchar *dir = g_dir_make_tmp ("vigil-test-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static void
remove_recursive (const gchar *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
      const gchar *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree gchar *child = g_build_filename (path, name, NULL);
          remove_recursive (child);
        }
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

void
vigil_test_remove_tree (gchar *dir)
{
  if (dir == NULL)
    return;
  if (g_getenv ("VIGIL_TEST_KEEP") == NULL)
    remove_recursive (dir);
  else
    g_test_message ("kept %s", dir);
  g_free (dir);
}

static gboolean
on_wait_timeout (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
vigil_test_wait_for (const gboolean *flag, guint timeout_s)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (timeout_s, on_wait_timeout, &timed_out);

  while (!*flag && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return *flag;
}

static gboolean
on_loop_timeout (gpointer user_data)
{
  g_test_fail_printf ("main loop still running after its time limit");
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

void
vigil_test_run_loop_or_fail (GMainLoop *loop, guint timeout_s)
{
  guint id = g_timeout_add_seconds (timeout_s, on_loop_timeout, loop);

  g_main_loop_run (loop);
  g_clear_handle_id (&id, g_source_remove);
}

typedef struct {
  gboolean (*predicate) (gpointer);
  gpointer data;
  gboolean met;
} Poll;

static gboolean
on_poll (gpointer user_data)
{
  Poll *poll = user_data;

  poll->met = poll->predicate (poll->data);
  return poll->met ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

gboolean
vigil_test_wait_until (gboolean (*predicate) (gpointer), gpointer data, guint timeout_s)
{
  Poll poll = { predicate, data, predicate (data) };
  guint id;

  if (poll.met)
    return TRUE;
  id = g_timeout_add (50, on_poll, &poll);
  vigil_test_wait_for (&poll.met, timeout_s);
  if (!poll.met)
    g_source_remove (id);
  return poll.met;
}

gboolean
vigil_test_have_elements (const gchar *first, ...)
{
  va_list args;
  gboolean ok = TRUE;

  va_start (args, first);
  for (const gchar *name = first; name != NULL; name = va_arg (args, const gchar *))
    {
      g_autoptr(GstElementFactory) factory = gst_element_factory_find (name);
      if (factory == NULL)
        ok = FALSE;
    }
  va_end (args);
  return ok;
}

typedef struct {
  GstElement *pipeline;
  gboolean    measure;     /* video goes through GRAY8 and last_luma is kept */
  /* Written by the streaming thread, read after NULL. */
  guint64     frames;
  gdouble     last_luma;   /* mean luma of the last frame, 0..255, full range */
} Decode;

static GstPadProbeReturn
on_decoded_frame (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Decode *decode = user_data;
  g_autoptr(GstCaps) caps = NULL;
  GstMapInfo map;
  gint width = 0, height = 0;
  guint64 sum = 0;

  decode->frames++;
  if (!decode->measure)
    return GST_PAD_PROBE_OK;
  caps = gst_pad_get_current_caps (pad);
  gst_structure_get_int (gst_caps_get_structure (caps, 0), "width", &width);
  gst_structure_get_int (gst_caps_get_structure (caps, 0), "height", &height);
  if (width <= 0 || !gst_buffer_map (GST_PAD_PROBE_INFO_BUFFER (info), &map, GST_MAP_READ))
    return GST_PAD_PROBE_OK;
  /* GRAY8 without video meta: rows padded to four bytes. */
  for (gint y = 0; y < height && (gsize) (y + 1) * GST_ROUND_UP_4 (width) <= map.size; y++)
    for (gint x = 0; x < width; x++)
      sum += map.data[y * GST_ROUND_UP_4 (width) + x];
  decode->last_luma = (gdouble) sum / ((gdouble) width * height);
  gst_buffer_unmap (GST_PAD_PROBE_INFO_BUFFER (info), &map);
  return GST_PAD_PROBE_OK;
}

static void
on_decodebin_pad_added (GstElement *decodebin, GstPad *pad, gpointer user_data)
{
  Decode *decode = user_data;
  g_autoptr(GstCaps) caps = gst_pad_query_caps (pad, NULL);
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  g_autoptr(GstPad) sink_pad = gst_element_get_static_pad (sink, "sink");

  gboolean is_video = g_str_has_prefix (gst_structure_get_name (gst_caps_get_structure (caps, 0)), "video/");

  g_object_set (sink, "sync", FALSE, NULL);
  gst_bin_add (GST_BIN (decode->pipeline), sink);
  gst_element_sync_state_with_parent (sink);
  if (is_video && decode->measure)
    {
      g_autoptr(GstCaps) gray = gst_caps_from_string ("video/x-raw,format=GRAY8");
      GstElement *convert = gst_element_factory_make ("videoconvert", NULL);
      GstElement *filter = gst_element_factory_make ("capsfilter", NULL);
      g_autoptr(GstPad) convert_pad = gst_element_get_static_pad (convert, "sink");

      g_object_set (filter, "caps", gray, NULL);
      gst_bin_add_many (GST_BIN (decode->pipeline), convert, filter, NULL);
      gst_element_link_many (convert, filter, sink, NULL);
      gst_element_sync_state_with_parent (filter);
      gst_element_sync_state_with_parent (convert);
      gst_pad_add_probe (sink_pad, GST_PAD_PROBE_TYPE_BUFFER, on_decoded_frame, decode, NULL);
      gst_pad_link (pad, convert_pad);
      return;
    }
  if (is_video)
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_decoded_frame, decode, NULL);
  gst_pad_link (pad, sink_pad);
}

static gint64
decode_file (const gchar *path, gboolean measure, gdouble *out_last_luma, GError **error)
{
  g_autoptr(GstElement) pipeline = gst_pipeline_new (NULL);
  GstElement *src = gst_element_factory_make ("filesrc", NULL);
  GstElement *decodebin = gst_element_factory_make ("decodebin", NULL);
  g_autoptr(GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr(GstMessage) message = NULL;
  Decode decode = { pipeline, measure, 0, -1 };

  g_object_set (src, "location", path, NULL);
  gst_bin_add_many (GST_BIN (pipeline), src, decodebin, NULL);
  gst_element_link (src, decodebin);
  g_signal_connect (decodebin, "pad-added", G_CALLBACK (on_decodebin_pad_added), &decode);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  /* Decoders post WARNINGs for corrupt frames; count those as failures. */
  message = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
                                        GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  if (message == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "%s: decoding did not finish", path);
      return -1;
    }
  if (GST_MESSAGE_TYPE (message) != GST_MESSAGE_EOS)
    {
      g_autoptr(GError) gst_error = NULL;

      if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR)
        gst_message_parse_error (message, &gst_error, NULL);
      else
        gst_message_parse_warning (message, &gst_error, NULL);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s", path, gst_error->message);
      return -1;
    }
  if (out_last_luma != NULL)
    *out_last_luma = decode.last_luma;
  return (gint64) decode.frames;
}

void
vigil_test_run_pipeline (const gchar *description, guint timeout_s)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GstElement) pipeline = gst_parse_launch (description, &error);
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GstMessage) message = NULL;

  g_assert_no_error (error);
  bus = gst_element_get_bus (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  message = gst_bus_timed_pop_filtered (bus, timeout_s * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_assert_nonnull (message);
  g_assert_cmpint (GST_MESSAGE_TYPE (message), ==, GST_MESSAGE_EOS);
}

gint64
vigil_test_decode_file (const gchar *path, GError **error)
{
  return decode_file (path, FALSE, NULL, error);
}

gdouble
vigil_test_decode_last_luma (const gchar *path, GError **error)
{
  gdouble luma = -1;

  if (decode_file (path, TRUE, &luma, error) <= 0 && (error == NULL || *error == NULL))
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: no video frame", path);
  return luma;
}

gint
vigil_test_run_argv (const gchar *const *argv, const gchar *const *env, gchar **out_stdout, gchar **out_stderr)
{
  GSubprocessFlags flags = G_SUBPROCESS_FLAGS_STDOUT_PIPE
                           | (out_stderr != NULL ? G_SUBPROCESS_FLAGS_STDERR_PIPE : G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (flags);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *stdout_text = NULL;
  g_autofree gchar *stderr_text = NULL;
  gint status;

  for (guint i = 0; env != NULL && env[i] != NULL && env[i + 1] != NULL; i += 2)
    g_subprocess_launcher_setenv (launcher, env[i], env[i + 1], TRUE);
  process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (process, NULL, NULL, &stdout_text,
                                                out_stderr != NULL ? &stderr_text : NULL, &error));
  g_assert_no_error (error);
  status = g_subprocess_get_if_exited (process) ? g_subprocess_get_exit_status (process) : -1;
  g_test_message ("%s %s ...: exit %d\n%s%s", argv[0], argv[1] != NULL ? argv[1] : "", status,
                  stdout_text != NULL ? stdout_text : "", stderr_text != NULL ? stderr_text : "");
  if (out_stdout != NULL)
    *out_stdout = g_steal_pointer (&stdout_text);
  if (out_stderr != NULL)
    *out_stderr = g_steal_pointer (&stderr_text);
  return status;
}

gint
vigil_test_run (gchar **out_stdout, const gchar *first, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  const gchar *arg;
  va_list args;

  g_ptr_array_add (argv, (gpointer) first);
  va_start (args, first);
  while ((arg = va_arg (args, const gchar *)) != NULL)
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  return vigil_test_run_argv ((const gchar *const *) argv->pdata, NULL, out_stdout, NULL);
}

void
vigil_test_flip_byte (const gchar *path, gsize offset)
{
  g_autofree gchar *data = NULL;
  g_autoptr(GError) error = NULL;
  gsize length = 0;

  g_file_get_contents (path, &data, &length, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (offset, <, length);
  data[offset] ^= 0x01;
  g_file_set_contents (path, data, (gssize) length, &error);
  g_assert_no_error (error);
}

void
vigil_test_assert_dbus_error (const GError *error, const gchar *name)
{
  g_autofree gchar *remote = NULL;

  g_assert_nonnull (error);
  remote = g_dbus_error_get_remote_error (error);
  if (g_strcmp0 (remote, name) != 0)
    g_error ("expected %s, got %s: %s", name, remote, error->message);
  /* The message says what was wrong, not just the name. */
  g_assert_cmpuint (strlen (error->message), >, strlen (remote) + 10);
}

guint64
vigil_test_fill_disk (const gchar *path)
{
  static const gchar zeros[64 * 1024];
  int fd = g_open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  guint64 written = 0;

  g_assert_cmpint (fd, >=, 0);
  /* A short write takes what still fits; the next one is refused. */
  for (;;)
    {
      ssize_t n = write (fd, zeros, sizeof zeros);

      if (n > 0)
        {
          written += (guint64) n;
          continue;
        }
      g_assert_cmpint (n, <, 0);
      if (errno == EINTR)
        continue;
      g_assert_true (errno == ENOSPC || errno == EDQUOT);
      break;
    }
  g_assert_cmpint (close (fd), ==, 0);
  return written;
}

guint64
vigil_test_free_bytes (const gchar *path)
{
  struct statvfs fs;

  g_assert_cmpint (statvfs (path, &fs), ==, 0);
  return (guint64) fs.f_bavail * fs.f_frsize;
}

gboolean
vigil_test_mount_tmpfs (const gchar *path, guint size_mib)
{
  g_autofree gchar *options = g_strdup_printf ("size=%um", size_mib);

  if (geteuid () != 0)
    return FALSE;
  return mount ("tmpfs", path, "tmpfs", 0, options) == 0;
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const gchar *const *) a, *(const gchar *const *) b);
}

gchar *
vigil_test_list_folder (const gchar *folder)
{
  g_autoptr(GDir) dir = g_dir_open (folder, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const gchar *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (",", (gchar **) names->pdata);
}

void
vigil_test_decode_jpeg (GBytes *jpeg, gint *out_width, gint *out_height, gdouble *out_luma)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GstElement) pipeline = gst_parse_launch (
    "appsrc name=src caps=image/jpeg ! jpegdec ! videoconvert ! video/x-raw,format=GRAY8 ! appsink name=sink", &error);
  g_autoptr(GstElement) src = NULL;
  g_autoptr(GstElement) sink = NULL;
  g_autoptr(GstSample) sample = NULL;
  GstVideoInfo info;
  GstVideoFrame frame;
  guint64 sum = 0;

  g_assert_no_error (error);
  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  gst_app_src_push_buffer (GST_APP_SRC (src), gst_buffer_new_wrapped_bytes (jpeg));
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 10 * GST_SECOND);
  g_assert_nonnull (sample);
  g_assert_true (gst_video_info_from_caps (&info, gst_sample_get_caps (sample)));
  g_assert_true (gst_video_frame_map (&frame, &info, gst_sample_get_buffer (sample), GST_MAP_READ));
  for (gint y = 0; y < info.height; y++)
    {
      const guint8 *row = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0)
                          + y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);

      for (gint x = 0; x < info.width; x++)
        sum += row[x];
    }
  gst_video_frame_unmap (&frame);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  *out_width = info.width;
  *out_height = info.height;
  *out_luma = (gdouble) sum / ((gdouble) info.width * info.height);
}
