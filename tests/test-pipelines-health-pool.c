/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilHealthPool: one shared decoder judges several cameras' keyframes,
 * of both codecs and different sizes, each camera getting its own results
 * (through real recorders of the simulated camera); submitting never waits
 * on a busy worker, and what the pool has no room for is skipped and
 * counted; two keyframes of one camera are never judged at once; a broken
 * keyframe ends its own job only; a keyframe held back for B-frame
 * reordering still comes out at once. Waits are bounded and event-driven;
 * nothing is timed. */
#include <gst/app/gstappsink.h>

#include "vigil-health-pool.h"
#include "vigil-recorder.h"
#include "vigil-simcam.h"
#include "vigil-test-util.h"

#define WAIT_S 90   /* generous: valgrind on a loaded machine */

/* ---- keyframes made here ------------------------------------------------ */

/* The first access unit, a keyframe, of a short clip made with x264 (with
 * B-frames, which make a decoder hold pictures back) or x265. */
static GstSample *
make_keyframe (const gchar *codec, const gchar *pattern, guint width, guint height)
{
  g_autofree gchar *description = NULL;
  g_autoptr(GstElement) pipeline = NULL;
  g_autoptr(GstElement) sink = NULL;
  g_autoptr(GError) error = NULL;
  GstSample *sample;

  description = g_strdup_printf (
    "videotestsrc num-buffers=12 pattern=%s ! video/x-raw,format=I420,width=%u,height=%u,framerate=10/1 ! %s "
    "! %sparse config-interval=-1 ! video/x-%s,stream-format=byte-stream,alignment=au "
    "! appsink name=sink sync=false",
    pattern, width, height,
    g_str_equal (codec, "h264") ? "x264enc bframes=2 b-adapt=false key-int-max=30 speed-preset=ultrafast"
                                : "x265enc key-int-max=30 speed-preset=ultrafast",
    codec, codec);
  pipeline = gst_parse_launch (description, &error);
  g_assert_no_error (error);
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  sample = gst_app_sink_pull_sample (GST_APP_SINK (sink));
  g_assert_nonnull (sample);
  g_assert_false (GST_BUFFER_FLAG_IS_SET (gst_sample_get_buffer (sample), GST_BUFFER_FLAG_DELTA_UNIT));
  gst_element_set_state (pipeline, GST_STATE_NULL);
  return sample;
}

/* ---- results arriving on a bus ------------------------------------------ */

typedef struct {                /* what one "camera" got back, on its own bus */
  GMutex            lock;
  GCond             cond;
  GArray           *samples;    /* VigilFrameSample */
  guint             errors;
  gboolean          hold;       /* the worker waits in the next post until released */
  gboolean          holding;
  guint             inside;     /* workers in the post right now */
  guint             most_inside;
  VigilFrameHealth *health;
  GstBus           *bus;
} Camera;

/* Runs on a worker's thread, as it posts a result. */
static GstBusSyncReply
on_camera_bus_sync (GstBus *bus, GstMessage *message, gpointer user_data)
{
  Camera *camera = user_data;
  const GstStructure *s = gst_message_get_structure (message);

  g_mutex_lock (&camera->lock);
  camera->inside++;
  camera->most_inside = MAX (camera->most_inside, camera->inside);
  if (s != NULL && gst_structure_has_name (s, "vigil-frame-health"))
    {
      g_autoptr(VigilFrameSample) sample = NULL;

      g_assert_true (gst_structure_get (s, "sample", VIGIL_TYPE_FRAME_SAMPLE, &sample, NULL));
      g_array_append_val (camera->samples, *sample);
    }
  else if (s != NULL && gst_structure_has_name (s, "vigil-frame-health-error"))
    camera->errors++;
  g_cond_broadcast (&camera->cond);
  if (camera->hold)
    {
      camera->hold = FALSE;
      camera->holding = TRUE;
      g_cond_broadcast (&camera->cond);
      while (camera->holding)
        g_cond_wait (&camera->cond, &camera->lock);
    }
  camera->inside--;
  g_mutex_unlock (&camera->lock);
  gst_message_unref (message);
  return GST_BUS_DROP;
}

static Camera *
camera_new (void)
{
  Camera *camera = g_new0 (Camera, 1);

  g_mutex_init (&camera->lock);
  g_cond_init (&camera->cond);
  camera->samples = g_array_new (FALSE, FALSE, sizeof (VigilFrameSample));
  camera->health = vigil_frame_health_new (NULL);
  camera->bus = gst_bus_new ();
  gst_bus_set_sync_handler (camera->bus, on_camera_bus_sync, camera, NULL);
  return camera;
}

static void
camera_free (Camera *camera)
{
  gst_bus_set_sync_handler (camera->bus, NULL, NULL, NULL);
  gst_object_unref (camera->bus);
  g_object_unref (camera->health);
  g_array_unref (camera->samples);
  g_mutex_clear (&camera->lock);
  g_cond_clear (&camera->cond);
  g_free (camera);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Camera, camera_free)

/* Waits until @camera has @n results (samples and errors), or fails. */
static void
camera_wait_results (Camera *camera, guint n)
{
  gint64 end_us = g_get_monotonic_time () + WAIT_S * G_USEC_PER_SEC;

  g_mutex_lock (&camera->lock);
  while (camera->samples->len + camera->errors < n)
    if (!g_cond_wait_until (&camera->cond, &camera->lock, end_us))
      break;
  g_assert_cmpuint (camera->samples->len + camera->errors, >=, n);
  g_mutex_unlock (&camera->lock);
}

/* Waits until a worker is held in @camera's post, or fails. */
static void
camera_wait_holding (Camera *camera)
{
  gint64 end_us = g_get_monotonic_time () + WAIT_S * G_USEC_PER_SEC;

  g_mutex_lock (&camera->lock);
  while (!camera->holding)
    if (!g_cond_wait_until (&camera->cond, &camera->lock, end_us))
      break;
  g_assert_true (camera->holding);
  g_mutex_unlock (&camera->lock);
}

static void
camera_release (Camera *camera)
{
  g_mutex_lock (&camera->lock);
  camera->holding = FALSE;
  g_cond_broadcast (&camera->cond);
  g_mutex_unlock (&camera->lock);
}

static guint
camera_n_samples (Camera *camera)
{
  guint n;

  g_mutex_lock (&camera->lock);
  n = camera->samples->len;
  g_mutex_unlock (&camera->lock);
  return n;
}

/* ---- submitting by hand -------------------------------------------------- */

static gboolean
have_encoders (void)
{
  if (!vigil_test_have_elements ("videotestsrc", "x264enc", "h264parse", "avdec_h264", "appsink", NULL))
    {
      g_test_skip ("needs videotestsrc, x264enc, h264parse, avdec_h264 and appsink");
      return FALSE;
    }
  return TRUE;
}

/* A keyframe of a stream with B-frames comes out of its job at once, and
 * the analyser reads the decoder's own picture: its full size. */
static void
test_pool_judges_held_back_keyframe (void)
{
  g_autoptr(VigilHealthPool) pool = NULL;
  g_autoptr(Camera) camera = NULL;
  g_autoptr(GstSample) keyframe = NULL;
  const VigilFrameSample *sample;

  if (!have_encoders ())
    return;
  pool = vigil_health_pool_new (1);
  camera = camera_new ();
  keyframe = make_keyframe ("h264", "smpte", 320, 240);
  g_assert_true (vigil_health_pool_submit (pool, camera->health, "cam", keyframe, 1234, camera->bus));
  camera_wait_results (camera, 1);
  g_assert_cmpuint (camera->errors, ==, 0);
  sample = &g_array_index (camera->samples, VigilFrameSample, 0);
  g_assert_cmpuint (sample->width, ==, 320);
  g_assert_cmpuint (sample->height, ==, 240);
  g_assert_cmpint (sample->wall_us, ==, 1234);
  g_assert_cmpuint (sample->verdicts & (VIGIL_FRAME_VERDICT_BLACK | VIGIL_FRAME_VERDICT_WHITE), ==, 0);
  g_assert_cmpuint (vigil_health_pool_get_n_judged (pool), ==, 1);
  g_assert_cmpuint (vigil_health_pool_get_n_decoders (pool), ==, 1);
}

/* While the only worker is busy, a flood of keyframes from many cameras
 * returns at once: a few wait (one per camera, the newest), the rest are
 * skipped and counted; the decoders stay one per codec. */
#define FLOOD_CAMERAS 40

static void
test_pool_flood_never_blocks (void)
{
  g_autoptr(VigilHealthPool) pool = NULL;
  g_autoptr(Camera) busy = NULL;
  g_autoptr(GstSample) keyframe = NULL;
  g_autoptr(GPtrArray) cameras = g_ptr_array_new_with_free_func ((GDestroyNotify) camera_free);
  guint queued = 0, judged;
  guint64 skipped;

  if (!have_encoders ())
    return;
  pool = vigil_health_pool_new (1);
  keyframe = make_keyframe ("h264", "smpte", 320, 240);
  busy = camera_new ();
  busy->hold = TRUE;
  g_assert_true (vigil_health_pool_submit (pool, busy->health, "busy", keyframe, 1, busy->bus));
  camera_wait_holding (busy);

  /* The worker is held inside its job: every call below must return
   * without it. Twice over, so the second round replaces what waits. */
  for (guint i = 0; i < FLOOD_CAMERAS; i++)
    g_ptr_array_add (cameras, camera_new ());
  for (guint round = 0; round < 2; round++)
    for (guint i = 0; i < FLOOD_CAMERAS; i++)
      {
        Camera *camera = cameras->pdata[i];

        if (vigil_health_pool_submit (pool, camera->health, "flood", keyframe, 2, camera->bus) && round == 0)
          queued++;
      }
  g_assert_cmpuint (queued, >, 0);
  g_assert_cmpuint (queued, <, FLOOD_CAMERAS);
  /* Turned away in both rounds, or replaced in the second. */
  skipped = vigil_health_pool_get_n_skipped (pool);
  g_assert_cmpuint (skipped, ==, 2 * (FLOOD_CAMERAS - queued) + queued);
  g_assert_cmpuint (vigil_health_pool_get_n_judged (pool), ==, 1);   /* the held one */

  camera_release (busy);
  for (guint i = 0; i < queued; i++)
    camera_wait_results (cameras->pdata[i], 1);
  judged = 0;
  for (guint i = 0; i < FLOOD_CAMERAS; i++)
    judged += camera_n_samples (cameras->pdata[i]);
  /* Each waiting camera once (the replaced keyframe was skipped), no
   * other. */
  g_assert_cmpuint (judged, ==, queued);
  g_assert_cmpuint (vigil_health_pool_get_n_decoders (pool), ==, 1);
  g_assert_cmpuint (vigil_health_pool_get_n_decoders (pool), <=, vigil_health_pool_get_n_workers (pool) * 2);
}

/* With two workers, a camera whose keyframe is being judged has its next
 * one wait, while the other worker takes a later camera's. */
static void
test_pool_one_job_per_camera_at_a_time (void)
{
  g_autoptr(VigilHealthPool) pool = NULL;
  g_autoptr(Camera) a = NULL;
  g_autoptr(Camera) b = NULL;
  g_autoptr(GstSample) keyframe = NULL;

  if (!have_encoders ())
    return;
  pool = vigil_health_pool_new (2);
  keyframe = make_keyframe ("h264", "smpte", 320, 240);
  a = camera_new ();
  b = camera_new ();
  a->hold = TRUE;
  g_assert_true (vigil_health_pool_submit (pool, a->health, "a", keyframe, 1, a->bus));
  camera_wait_holding (a);
  g_assert_true (vigil_health_pool_submit (pool, a->health, "a", keyframe, 2, a->bus));
  g_assert_true (vigil_health_pool_submit (pool, b->health, "b", keyframe, 3, b->bus));
  /* b's keyframe, queued after a's second, is judged while a's waits. */
  camera_wait_results (b, 1);
  g_assert_cmpuint (camera_n_samples (a), ==, 1);
  camera_release (a);
  camera_wait_results (a, 2);
  g_assert_cmpuint (a->most_inside, ==, 1);
  g_assert_cmpint (g_array_index (a->samples, VigilFrameSample, 1).wall_us, ==, 2);
}

/* A keyframe the decoder cannot take ends its own job only: an error for
 * that camera, and the next keyframe is judged. */
static void
test_pool_broken_keyframe_ends_its_job_only (void)
{
  g_autoptr(VigilHealthPool) pool = NULL;
  g_autoptr(Camera) camera = NULL;
  g_autoptr(GstSample) good = NULL;
  g_autoptr(GstSample) broken = NULL;
  g_autoptr(GstBuffer) garbage = NULL;
  guint8 bytes[4096];

  if (!have_encoders ())
    return;
  pool = vigil_health_pool_new (1);
  camera = camera_new ();
  good = make_keyframe ("h264", "smpte", 320, 240);
  /* A start code and a slice header of nonsense. */
  for (guint i = 0; i < sizeof bytes; i++)
    bytes[i] = (guint8) (i * 37 + 11);
  bytes[0] = bytes[1] = bytes[2] = 0;
  bytes[3] = 1;
  bytes[4] = 0x65;
  garbage = gst_buffer_new_memdup (bytes, sizeof bytes);
  broken = gst_sample_new (garbage, gst_sample_get_caps (good), NULL, NULL);

  g_assert_true (vigil_health_pool_submit (pool, camera->health, "cam", broken, 1, camera->bus));
  camera_wait_results (camera, 1);
  g_assert_cmpuint (camera->errors, ==, 1);
  g_assert_cmpuint (vigil_health_pool_get_n_failed (pool), ==, 1);
  g_assert_true (vigil_health_pool_submit (pool, camera->health, "cam", good, 2, camera->bus));
  camera_wait_results (camera, 2);
  g_assert_cmpuint (camera_n_samples (camera), ==, 1);
  g_assert_cmpuint (g_array_index (camera->samples, VigilFrameSample, 0).width, ==, 320);
}

/* ---- through real recorders --------------------------------------------- */

#define FPS 10
#define GOP 5

typedef struct {
  VigilRecorder *recorder;
  GArray        *samples;      /* VigilFrameSample, main thread */
  gboolean       ended;
} Recording;

static void
on_frame_health (VigilRecorder *recorder, const VigilFrameSample *sample, Recording *recording)
{
  g_array_append_val (recording->samples, *sample);
}

static void
on_run_ended (VigilRecorder *recorder, const gchar *reason, gint64 end_us, Recording *recording)
{
  recording->ended = TRUE;
}

static Recording *
recording_new (VigilHealthPool *pool, const gchar *camera, const gchar *url, const gchar *root)
{
  Recording *recording = g_new0 (Recording, 1);
  g_autoptr(GError) error = NULL;
  VigilRecorderConfig config = {
    .camera = camera, .url = url, .root = root, .segment_duration = 10 * GST_SECOND,
    .stall_timeout = 10 * GST_SECOND, .frame_health = TRUE, .frame_health_interval = 500 * GST_MSECOND,
    .frame_health_calm_interval = 500 * GST_MSECOND, .frame_health_pool = pool,
  };

  recording->samples = g_array_new (FALSE, FALSE, sizeof (VigilFrameSample));
  recording->recorder = vigil_recorder_new (&config);
  g_signal_connect (recording->recorder, "frame-health", G_CALLBACK (on_frame_health), recording);
  g_signal_connect (recording->recorder, "run-ended", G_CALLBACK (on_run_ended), recording);
  g_assert_true (vigil_recorder_start (recording->recorder, &error));
  g_assert_no_error (error);
  return recording;
}

static void
recording_free (Recording *recording)
{
  if (vigil_recorder_is_running (recording->recorder))
    {
      vigil_recorder_stop (recording->recorder);   /* no-op when already stopping */
      g_assert_true (vigil_test_wait_for (&recording->ended, WAIT_S));
    }
  g_object_unref (recording->recorder);
  g_array_unref (recording->samples);
  g_free (recording);
}

static gboolean
each_has_four_samples (gpointer data)
{
  GPtrArray *recordings = data;

  for (guint i = 0; i < recordings->len; i++)
    if (((Recording *) recordings->pdata[i])->samples->len < 4)
      return FALSE;
  return TRUE;
}

/* Three cameras, two codecs, two sizes, one worker: a normal H.264 scene at
 * 320x240, a black H.264 camera at 160x120 and a white H.265 camera at
 * 320x240, recorded at once. Every sample of each is its own picture. */
static void
test_pool_keeps_cameras_apart (void)
{
  VigilSimcamOptions h264_options = { .n_streams = 2, .width = 320, .height = 240, .fps = FPS,
                                      .bitrate_kbps = 300, .gop_frames = GOP, .clip_seconds = 3 };
  VigilSimcamOptions h265_options = { .n_streams = 1, .width = 320, .height = 240, .fps = FPS,
                                      .bitrate_kbps = 300, .gop_frames = GOP, .clip_seconds = 3,
                                      .codec = VIGIL_SIMCAM_CODEC_H265, .picture = VIGIL_SIMCAM_PICTURE_WHITE };
  g_autoptr(VigilSimcam) h264 = NULL;
  g_autoptr(VigilSimcam) h265 = NULL;
  g_autoptr(VigilHealthPool) pool = NULL;
  g_autoptr(GPtrArray) recordings = g_ptr_array_new_with_free_func ((GDestroyNotify) recording_free);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *dir = NULL;
  const struct { guint width; VigilFrameVerdict verdict; } expected[] = {
    { 320, VIGIL_FRAME_VERDICT_NONE }, { 160, VIGIL_FRAME_VERDICT_BLACK }, { 320, VIGIL_FRAME_VERDICT_WHITE },
  };

  if (!vigil_test_have_elements ("x264enc", "x265enc", "compositor", "avdec_h264", "avdec_h265", "matroskamux",
                                 NULL))
    {
      g_test_skip ("needs x264enc, x265enc, compositor, avdec_h264, avdec_h265 and matroskamux");
      return;
    }
  dir = vigil_test_make_tmp_dir ();
  h264 = vigil_simcam_new (&h264_options, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_simcam_set_picture (h264, 1, VIGIL_SIMCAM_PICTURE_BLACK, &error));
  g_assert_true (vigil_simcam_set_resolution (h264, 1, 160, 120, &error));
  g_assert_no_error (error);
  h265 = vigil_simcam_new (&h265_options, &error);
  g_assert_no_error (error);

  pool = vigil_health_pool_new (1);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree gchar *url = i < 2 ? vigil_simcam_get_url (h264, i) : vigil_simcam_get_url (h265, 0);
      g_autofree gchar *name = g_strdup_printf ("cam%u", i);

      g_ptr_array_add (recordings, recording_new (pool, name, url, dir));
    }
  g_assert_true (vigil_test_wait_until (each_has_four_samples, recordings, WAIT_S));

  for (guint i = 0; i < 3; i++)
    {
      Recording *recording = recordings->pdata[i];

      /* A switch of picture or size may show in the first keyframes. */
      for (guint j = 2; j < recording->samples->len; j++)
        {
          const VigilFrameSample *sample = &g_array_index (recording->samples, VigilFrameSample, j);

          g_assert_cmpuint (sample->width, ==, expected[i].width);
          g_assert_cmpuint (sample->verdicts & (VIGIL_FRAME_VERDICT_BLACK | VIGIL_FRAME_VERDICT_WHITE), ==,
                            expected[i].verdict);
        }
    }
  /* One worker, two codecs: two decoders for three cameras. */
  g_assert_cmpuint (vigil_health_pool_get_n_decoders (pool), ==, 2);
  g_assert_cmpuint (vigil_health_pool_get_n_failed (pool), ==, 0);
  /* All three wind down at once, each then waited for. */
  for (guint i = 0; i < recordings->len; i++)
    vigil_recorder_stop (((Recording *) recordings->pdata[i])->recorder);
  g_clear_pointer (&recordings, g_ptr_array_unref);
  vigil_test_remove_tree (g_steal_pointer (&dir));
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pipelines/health-pool/judges-held-back-keyframe", test_pool_judges_held_back_keyframe);
  g_test_add_func ("/pipelines/health-pool/flood-never-blocks", test_pool_flood_never_blocks);
  g_test_add_func ("/pipelines/health-pool/one-job-per-camera-at-a-time", test_pool_one_job_per_camera_at_a_time);
  g_test_add_func ("/pipelines/health-pool/broken-keyframe-ends-its-job-only",
                   test_pool_broken_keyframe_ends_its_job_only);
  g_test_add_func ("/pipelines/health-pool/keeps-cameras-apart", test_pool_keeps_cameras_apart);
  return g_test_run ();
}
