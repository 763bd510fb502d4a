/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by vigil's tests: temporary folders, bounded main-loop
 * waits (tests never sleep), running a program, damaging a file, D-Bus
 * error checks, and decoding a recorded file for real. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

gchar   *vigil_test_make_tmp_dir     (void);
/* Deletes @dir and everything under it; takes ownership. */
void     vigil_test_remove_tree      (gchar *dir);
/* Iterates the default main context until *@flag is TRUE or @timeout_s
 * passes; returns *@flag. Never sleeps blindly. */
gboolean vigil_test_wait_for         (const gboolean *flag, guint timeout_s);
/* Runs @loop until something quits it; g_test_fail()s after @timeout_s. */
void     vigil_test_run_loop_or_fail (GMainLoop *loop, guint timeout_s);
/* Polls @predicate on the main context every 50 ms until it holds. */
gboolean vigil_test_wait_until       (gboolean (*predicate) (gpointer), gpointer data, guint timeout_s);
gboolean vigil_test_have_elements    (const gchar *first, ...) G_GNUC_NULL_TERMINATED;
/* Runs the gst-launch @description to EOS; g_assert()s that it gets there
 * without an error within @timeout_s. */
void     vigil_test_run_pipeline     (const gchar *description, guint timeout_s);
/* Demuxes and fully decodes @path; returns decoded video frames, or -1
 * with @error set on any decoding or demuxing error. */
gint64   vigil_test_decode_file      (const gchar *path, GError **error);
/* Decodes @path as above; returns the mean luma (0..255, full range) of
 * its last video frame, or -1 with @error set. */
gdouble  vigil_test_decode_last_luma (const gchar *path, GError **error);
/* Decodes the JPEG @jpeg with GStreamer's jpegdec (failing the test when it
 * cannot): its size and its mean luma (0-255). */
void     vigil_test_decode_jpeg      (GBytes      *jpeg,
                                      gint        *out_width,
                                      gint        *out_height,
                                      gdouble     *out_luma);

/* Runs @argv (with @env, NAME, VALUE, ... NULL-terminated, set on top of
 * the test's own; may be NULL) to its end; returns its exit status, its
 * stdout and stderr in @out_stdout and @out_stderr (each may be NULL).
 * Logs both with g_test_message(). */
gint     vigil_test_run_argv         (const gchar *const *argv,
                                      const gchar *const *env,
                                      gchar             **out_stdout,
                                      gchar             **out_stderr);
/* vigil_test_run_argv() of the NULL-terminated arguments, stderr merged
 * into @out_stdout. */
gint     vigil_test_run              (gchar      **out_stdout,
                                      const gchar *first,
                                      ...) G_GNUC_NULL_TERMINATED;
/* Flips the lowest bit of the byte at @offset of the file at @path:
 * the smallest change a hash must catch. */
void     vigil_test_flip_byte        (const gchar *path,
                                      gsize        offset);
/* Writes zeros to a new file at @path until its file system refuses even
 * one more byte (ENOSPC or EDQUOT), as an outside program filling the
 * disk would; returns the bytes written. */
guint64  vigil_test_fill_disk        (const gchar *path);
/* Free bytes (for unprivileged users) of the file system holding @path. */
guint64  vigil_test_free_bytes       (const gchar *path);
/* Mounts a fresh tmpfs of @size_mib on the folder @path (which must
 * exist); FALSE when that is not allowed here (not root, no mount). The
 * caller unmounts it. */
gboolean vigil_test_mount_tmpfs      (const gchar *path,
                                      guint        size_mib);
/* @error is the D-Bus error @name, and its message says what was wrong,
 * not only the name. */
void     vigil_test_assert_dbus_error (const GError *error,
                                       const gchar  *name);

/* The names in @folder, sorted, comma-separated ("" when empty). */
gchar   *vigil_test_list_folder      (const gchar *folder);

G_END_DECLS
