/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilCamera keeps a camera recording through faults of the simulated
 * camera: a dropped stream, a stalled one and a camera that stops
 * answering each end the run with its reason, recording resumes once the
 * camera is back, and the catalog shows two runs with a gap between. */
#include <string.h>

#include "vigil-camera.h"
#include "vigil-simcam.h"
#include "vigil-test-util.h"

#define SEGMENT_SECONDS 2

typedef struct {
  gchar       *dir;
  VigilSimcam *simcam;
  VigilStore  *store;
  VigilCamera *camera;
  guint        completed;
  gboolean     stopped;
  GArray      *states;      /* VigilCameraState as guint, every change in order */
} Fixture;

static void
on_state_changed (VigilCamera *camera, VigilCameraState state, Fixture *f)
{
  guint value = state;

  g_array_append_val (f->states, value);
}

static void
on_segment_completed (VigilCamera *camera, const gchar *path, Fixture *f)
{
  f->completed++;
}

static void
on_stopped (VigilCamera *camera, Fixture *f)
{
  f->stopped = TRUE;
}

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *catalog = NULL;
  g_autofree gchar *url = NULL;
  VigilSimcamOptions options = { .n_streams = 2, .width = 320, .height = 240, .fps = 10,
                                 .bitrate_kbps = 300, .gop_frames = 10, .clip_seconds = 4 };
  VigilCameraConfig config = { .name = "yard", .enabled = TRUE, .stall_seconds = 3 };

  f->dir = vigil_test_make_tmp_dir ();
  catalog = g_build_filename (f->dir, "catalog.db", NULL);
  f->store = vigil_store_new (catalog, f->dir, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_store_add_camera (f->store, "yard", &error));
  f->simcam = vigil_simcam_new (&options, &error);
  g_assert_no_error (error);
  url = vigil_simcam_get_url (f->simcam, 0);
  config.url = url;
  f->camera = vigil_camera_new (&config, f->store, NULL, SEGMENT_SECONDS);
  g_signal_connect (f->camera, "segment-completed", G_CALLBACK (on_segment_completed), f);
  g_signal_connect (f->camera, "stopped", G_CALLBACK (on_stopped), f);
  f->states = g_array_new (FALSE, FALSE, sizeof (guint));
  g_signal_connect (f->camera, "state-changed", G_CALLBACK (on_state_changed), f);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  vigil_camera_stop (f->camera);
  g_assert_true (vigil_test_wait_for (&f->stopped, 20));
  g_clear_object (&f->camera);
  g_clear_pointer (&f->states, g_array_unref);
  g_clear_object (&f->simcam);
  g_clear_object (&f->store);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

typedef struct {
  Fixture          *f;
  VigilCameraState  state;
} StateWait;

static gboolean
is_in_state (gpointer data)
{
  StateWait *wait = data;
  return vigil_camera_get_state (wait->f->camera) == wait->state;
}

static gboolean
wait_for_state (Fixture *f, VigilCameraState state, guint timeout_s)
{
  StateWait wait = { f, state };
  return vigil_test_wait_until (is_in_state, &wait, timeout_s);
}

typedef struct {
  Fixture *f;
  guint    target;
} CountWait;

static gboolean
has_completed (gpointer data)
{
  CountWait *wait = data;
  return wait->f->completed >= wait->target;
}

static gboolean
wait_for_segments (Fixture *f, guint more, guint timeout_s)
{
  CountWait wait = { f, f->completed + more };
  return vigil_test_wait_until (has_completed, &wait, timeout_s);
}

/* Stops the camera so every run is ended, then returns its runs, oldest first. */
static GPtrArray *
stop_and_list_runs (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *runs;

  vigil_camera_stop (f->camera);
  g_assert_true (vigil_test_wait_for (&f->stopped, 20));
  runs = vigil_store_list_runs (f->store, "yard", 100, &error);
  g_assert_no_error (error);
  /* Newest first from the store; the tests read oldest first. */
  for (guint i = 0; i < runs->len / 2; i++)
    {
      gpointer tmp = runs->pdata[i];
      runs->pdata[i] = runs->pdata[runs->len - 1 - i];
      runs->pdata[runs->len - 1 - i] = tmp;
    }
  return runs;
}

static void
assert_gap_between (Fixture *f, const VigilRun *before, const VigilRun *after, gint64 min_gap_us)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) gaps = vigil_store_list_gaps (f->store, "yard", before->start_us, after->end_us, &error);
  const VigilGap *gap;

  g_assert_no_error (error);
  g_assert_cmpuint (gaps->len, ==, 1);
  gap = gaps->pdata[0];
  g_assert_cmpint (gap->start_us, ==, before->end_us);
  g_assert_cmpint (gap->end_us, >=, after->start_us);
  g_assert_cmpint (gap->end_us - gap->start_us, >=, min_gap_us);
  g_assert_cmpstr (gap->reason, ==, before->end_reason);
}

typedef struct {
  Fixture *f;
  guint    from;
} HistoryWait;

static gboolean
recorded_again_since (gpointer data)
{
  HistoryWait *wait = data;

  for (guint i = wait->from; i < wait->f->states->len; i++)
    if (g_array_index (wait->f->states, guint, i) == VIGIL_CAMERA_STATE_RECORDING)
      return TRUE;
  return FALSE;
}

static guint
count_since (Fixture *f, guint from, VigilCameraState state)
{
  guint count = 0;

  for (guint i = from; i < f->states->len; i++)
    count += g_array_index (f->states, guint, i) == state;
  return count;
}

/* A retry was made and failed again: … → connecting → reconnecting. */
static gboolean
retried_and_failed_since (gpointer data)
{
  HistoryWait *wait = data;
  Fixture *f = wait->f;

  return count_since (f, wait->from, VIGIL_CAMERA_STATE_CONNECTING) >= 1
         && g_array_index (f->states, guint, f->states->len - 1) == VIGIL_CAMERA_STATE_RECONNECTING;
}

static void
test_camera_drop_then_restore (Fixture *f, gconstpointer unused)
{
  g_autoptr(GPtrArray) runs = NULL;
  HistoryWait wait = { f, 0 };
  gint64 dropped_at_us, restored_at_us;

  vigil_camera_start (f->camera);
  g_assert_true (wait_for_segments (f, 2, 40));
  wait.from = f->states->len;
  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_DROP);
  dropped_at_us = g_get_real_time ();
  /* It answers (404), so it is retried with back-off, not probed as offline. */
  g_assert_true (vigil_test_wait_until (retried_and_failed_since, &wait, 30));
  g_assert_cmpuint (count_since (f, wait.from, VIGIL_CAMERA_STATE_OFFLINE), ==, 0);
  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_NONE);
  restored_at_us = g_get_real_time ();
  g_assert_true (wait_for_state (f, VIGIL_CAMERA_STATE_RECORDING, 60));
  g_assert_true (wait_for_segments (f, 1, 40));

  runs = stop_and_list_runs (f);
  g_assert_cmpuint (runs->len, ==, 2);
  g_assert_cmpstr (((VigilRun *) runs->pdata[1])->end_reason, ==, "stopped");
  g_assert_cmpstr (((VigilRun *) runs->pdata[0])->end_reason, !=, "stopped");
  /* The gap is at least the outage the camera had. */
  assert_gap_between (f, runs->pdata[0], runs->pdata[1], restored_at_us - dropped_at_us - G_USEC_PER_SEC);
}

static void
test_camera_stall_is_detected_and_reconnected (Fixture *f, gconstpointer unused)
{
  g_autoptr(GPtrArray) runs = NULL;

  vigil_camera_start (f->camera);
  g_assert_true (wait_for_segments (f, 1, 40));
  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_STALL);
  g_assert_true (wait_for_state (f, VIGIL_CAMERA_STATE_RECONNECTING, 30));
  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_NONE);
  g_assert_true (wait_for_state (f, VIGIL_CAMERA_STATE_RECORDING, 60));
  g_assert_true (wait_for_segments (f, 1, 40));

  runs = stop_and_list_runs (f);
  g_assert_cmpuint (runs->len, >=, 2);
  g_assert_true (g_str_has_prefix (((VigilRun *) runs->pdata[0])->end_reason, "stalled"));
  assert_gap_between (f, runs->pdata[0], runs->pdata[1], 0);
}

static void
test_camera_offline_is_probed_and_resumes_promptly (Fixture *f, gconstpointer unused)
{
  g_autoptr(GPtrArray) runs = NULL;
  gint64 online_at_us, resumed_after_us;

  vigil_camera_start (f->camera);
  g_assert_true (wait_for_segments (f, 1, 40));
  vigil_simcam_set_offline (f->simcam, TRUE);
  g_assert_true (wait_for_state (f, VIGIL_CAMERA_STATE_OFFLINE, 30));
  /* Long enough offline that a back-off would have grown past 8 s. */
  g_assert_false (wait_for_state (f, VIGIL_CAMERA_STATE_RECORDING, 10));
  vigil_simcam_set_offline (f->simcam, FALSE);
  online_at_us = g_get_monotonic_time ();
  g_assert_true (wait_for_state (f, VIGIL_CAMERA_STATE_RECORDING, 30));
  resumed_after_us = g_get_monotonic_time () - online_at_us;
  g_test_message ("recording resumed %.1f s after the camera came back", resumed_after_us / 1e6);
  /* One 2 s probe interval plus connecting; far below the back-off. */
  g_assert_cmpint (resumed_after_us, <, 8 * G_USEC_PER_SEC);

  runs = stop_and_list_runs (f);
  g_assert_cmpuint (runs->len, ==, 2);
}

static void
test_camera_format_change_starts_a_new_run (Fixture *f, gconstpointer unused)
{
  g_autoptr(GPtrArray) runs = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) segments = NULL;
  const VigilRun *second;
  HistoryWait wait = { f, 0 };
  guint changed_at;

  vigil_camera_start (f->camera);
  g_assert_true (wait_for_segments (f, 1, 40));
  changed_at = f->states->len;
  g_assert_true (vigil_simcam_set_resolution (f->simcam, 0, 160, 120, &error));
  g_assert_no_error (error);
  wait.from = changed_at;
  g_assert_true (vigil_test_wait_until (recorded_again_since, &wait, 30));
  g_assert_true (wait_for_segments (f, 1, 40));
  /* Straight back to recording: a reconfigured camera is not a failure. */
  g_assert_cmpuint (f->states->len, ==, changed_at + 2);
  g_assert_cmpuint (g_array_index (f->states, guint, changed_at), ==, VIGIL_CAMERA_STATE_CONNECTING);
  g_assert_cmpuint (g_array_index (f->states, guint, changed_at + 1), ==, VIGIL_CAMERA_STATE_RECORDING);

  runs = stop_and_list_runs (f);
  g_assert_cmpuint (runs->len, ==, 2);
  g_assert_true (g_str_has_prefix (((VigilRun *) runs->pdata[0])->end_reason, "format changed"));
  second = runs->pdata[1];
  segments = vigil_store_list_segments (f->store, "yard", second->start_us, second->end_us, &error);
  g_assert_cmpuint (segments->len, >=, 1);
  for (guint i = 0; i < segments->len; i++)
    {
      g_autofree gchar *path = vigil_store_get_absolute_path (f->store, ((VigilSegment *) segments->pdata[i])->path);
      g_assert_cmpint (vigil_test_decode_file (path, &error), ==, (gint64) ((VigilSegment *) segments->pdata[i])->frames);
      g_assert_no_error (error);
    }
}

static void
on_other_state_changed (VigilCamera *camera, VigilCameraState state, GArray *states)
{
  guint value = state;

  g_array_append_val (states, value);
}

static void
on_other_stopped (VigilCamera *camera, gboolean *stopped)
{
  *stopped = TRUE;
}

/* Faults of one camera never reach another: while cam0 is dropped and
 * comes back, cam1 keeps its single run and never leaves recording. */
static void
test_camera_faults_stay_with_their_camera (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *url = vigil_simcam_get_url (f->simcam, 1);
  VigilCameraConfig config = { .name = "gate", .url = url, .enabled = TRUE, .stall_seconds = 3 };
  g_autoptr(VigilCamera) other = NULL;
  g_autoptr(GArray) other_states = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr(GPtrArray) other_runs = NULL;
  gboolean other_stopped = FALSE;
  gint64 before_drop_us;

  g_assert_true (vigil_store_add_camera (f->store, "gate", &error));
  other = vigil_camera_new (&config, f->store, NULL, SEGMENT_SECONDS);
  g_signal_connect (other, "state-changed", G_CALLBACK (on_other_state_changed), other_states);
  g_signal_connect (other, "stopped", G_CALLBACK (on_other_stopped), &other_stopped);
  vigil_camera_start (f->camera);
  vigil_camera_start (other);
  g_assert_true (wait_for_segments (f, 2, 40));
  before_drop_us = g_get_real_time ();

  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_DROP);
  g_assert_true (wait_for_state (f, VIGIL_CAMERA_STATE_RECONNECTING, 30));
  vigil_simcam_set_fault (f->simcam, 0, VIGIL_SIMCAM_FAULT_NONE);
  g_assert_true (wait_for_state (f, VIGIL_CAMERA_STATE_RECORDING, 60));

  vigil_camera_stop (other);
  g_assert_true (vigil_test_wait_for (&other_stopped, 20));
  /* connecting → recording → stopped, nothing else. */
  g_assert_cmpuint (other_states->len, ==, 3);
  g_assert_cmpuint (g_array_index (other_states, guint, 1), ==, VIGIL_CAMERA_STATE_RECORDING);
  other_runs = vigil_store_list_runs (f->store, "gate", 10, &error);
  g_assert_cmpuint (other_runs->len, ==, 1);
  g_assert_cmpstr (((VigilRun *) other_runs->pdata[0])->end_reason, ==, "stopped");
  {
    /* And its recording has no gap across the other camera's outage. */
    g_autoptr(GPtrArray) gaps = vigil_store_list_gaps (f->store, "gate", before_drop_us,
                                                       ((VigilRun *) other_runs->pdata[0])->end_us, &error);
    g_assert_cmpuint (gaps->len, ==, 0);
  }
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  if (!vigil_test_have_elements ("rtspsrc", "splitmuxsink", "matroskamux", "x264enc", NULL))
    {
      g_test_skip ("needs rtspsrc, splitmuxsink, matroskamux and x264enc");
      return g_test_run ();
    }
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/daemon/camera/drop-then-restore", test_camera_drop_then_restore);
  ADD ("/daemon/camera/stall-is-detected-and-reconnected", test_camera_stall_is_detected_and_reconnected);
  ADD ("/daemon/camera/offline-is-probed-and-resumes-promptly", test_camera_offline_is_probed_and_resumes_promptly);
  ADD ("/daemon/camera/format-change-starts-a-new-run", test_camera_format_change_starts_a_new_run);
  ADD ("/daemon/camera/faults-stay-with-their-camera", test_camera_faults_stay_with_their_camera);
  return g_test_run ();
}
