/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by vigil's tests: temporary folders, bounded main-loop
 * waits (tests never sleep), and decoding a recorded file for real. */
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

G_END_DECLS
