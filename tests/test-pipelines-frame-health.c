/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilFrameHealth calls each picture fault by its name and leaves the
 * tricky healthy pictures alone: first on synthetic pictures, then through
 * a real VigilRecorder recording the simulated camera while its picture is
 * switched from fault to fault. Waits run the main loop until the verdict
 * shows, bounded; nothing sleeps. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "vigil-frame-health.h"
#include "vigil-recorder.h"
#include "vigil-simcam.h"
#include "vigil-test-util.h"

/* ---- synthetic pictures ------------------------------------------------ */

#define WIDTH 640
#define HEIGHT 360
#define LEARNING 5
#define T0_US (G_GINT64_CONSTANT (1700000000) * G_USEC_PER_SEC)   /* the first sample's time */

typedef struct {
  guint8 *pixels;            /* WIDTH x HEIGHT, stride WIDTH */
} Picture;

static Picture *
picture_new (void)
{
  Picture *picture = g_new0 (Picture, 1);

  picture->pixels = g_new0 (guint8, WIDTH * HEIGHT);
  return picture;
}

static void
picture_free (Picture *picture)
{
  g_free (picture->pixels);
  g_free (picture);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Picture, picture_free)

static guint8
clamp_luma (gdouble value)
{
  return (guint8) CLAMP (lround (value), 0, 255);
}

/* A view with texture at every scale: a gradient, blocks of different
 * shades, thin lines and some fine detail, shifted left by @shift pixels
 * (wrapping), with luma scaled by @gain around 128 plus @offset. */
static void
draw_scene (Picture *picture, guint shift, gdouble gain, gdouble offset)
{
  for (guint y = 0; y < HEIGHT; y++)
    for (guint x = 0; x < WIDTH; x++)
      {
        guint sx = (x + shift) % WIDTH;
        gdouble v = 60 + 100.0 * sx / WIDTH;

        v += (gint) ((sx / 80 + y / 60) % 3) * 30 - 30;   /* blocks */
        if (sx % 53 < 2 || y % 47 < 2)                    /* lines */
          v += 70;
        v += 12 * sin (sx * 0.9) * cos (y * 0.7);          /* fine detail */
        picture->pixels[y * WIDTH + x] = clamp_luma (128 + (v - 128) * gain + offset);
      }
}

static void
fill (Picture *picture, guint8 luma)
{
  memset (picture->pixels, luma, WIDTH * HEIGHT);
}

/* Adds noise of about @amplitude levels (uniform), from @rand. */
static void
add_noise (Picture *picture, GRand *rand, gdouble amplitude)
{
  for (guint i = 0; i < WIDTH * HEIGHT; i++)
    picture->pixels[i] = clamp_luma (picture->pixels[i] + g_rand_double_range (rand, -amplitude, amplitude));
}

/* A camera's clock overlay at the bottom right: white digits on a dark box,
 * drawn as seven-segment digits so that each second changes a few
 * segments. */
static void
draw_clock (Picture *picture, guint seconds)
{
  static const guint8 segments[10] = { 0x3f, 0x06, 0x5b, 0x4f, 0x66, 0x6d, 0x7d, 0x07, 0x7f, 0x6f };
  const guint digit_w = 12, digit_h = 20, x0 = WIDTH - 110, y0 = HEIGHT - 34;
  guint digits[4] = { seconds / 600 % 6, seconds / 60 % 10, seconds / 10 % 6, seconds % 10 };

  for (guint y = y0 - 4; y < y0 + digit_h + 4; y++)
    memset (picture->pixels + y * WIDTH + x0 - 4, 20, 4 * (digit_w + 8) + 8);
  for (guint d = 0; d < 4; d++)
    {
      guint dx = x0 + d * (digit_w + 8);
      guint8 on = segments[digits[d]];
      /* a, b, c, d, e, f, g as rectangles: x, y, w, h */
      const guint rects[7][4] = {
        { 2, 0, digit_w - 4, 2 }, { digit_w - 2, 2, 2, digit_h / 2 - 2 },
        { digit_w - 2, digit_h / 2, 2, digit_h / 2 - 2 }, { 2, digit_h - 2, digit_w - 4, 2 },
        { 0, digit_h / 2, 2, digit_h / 2 - 2 }, { 0, 2, 2, digit_h / 2 - 2 },
        { 2, digit_h / 2 - 1, digit_w - 4, 2 },
      };

      for (guint seg = 0; seg < 7; seg++)
        if (on & (1 << seg))
          for (guint y = 0; y < rects[seg][3]; y++)
            memset (picture->pixels + (y0 + rects[seg][1] + y) * WIDTH + dx + rects[seg][0], 235, rects[seg][2]);
    }
}

/* Box blur of radius @r, in place, twice (close to a Gaussian). */
static void
blur (Picture *picture, guint r)
{
  g_autofree guint8 *tmp = g_new (guint8, WIDTH * HEIGHT);

  for (guint pass = 0; pass < 2; pass++)
    {
      for (guint y = 0; y < HEIGHT; y++)
        for (guint x = 0; x < WIDTH; x++)
          {
            guint sum = 0, n = 0;

            for (gint dx = -(gint) r; dx <= (gint) r; dx++)
              if ((gint) x + dx >= 0 && (gint) x + dx < WIDTH)
                {
                  sum += picture->pixels[y * WIDTH + x + dx];
                  n++;
                }
            tmp[y * WIDTH + x] = sum / n;
          }
      for (guint y = 0; y < HEIGHT; y++)
        for (guint x = 0; x < WIDTH; x++)
          {
            guint sum = 0, n = 0;

            for (gint dy = -(gint) r; dy <= (gint) r; dy++)
              if ((gint) y + dy >= 0 && (gint) y + dy < HEIGHT)
                {
                  sum += tmp[(y + dy) * WIDTH + x];
                  n++;
                }
            picture->pixels[y * WIDTH + x] = sum / n;
          }
    }
}

/* Something passing by, so that consecutive healthy samples differ. */
static void
draw_walker (Picture *picture, guint step)
{
  guint x0 = (step * 37) % (WIDTH - 40);

  for (guint y = HEIGHT / 2; y < HEIGHT / 2 + 60; y++)
    memset (picture->pixels + y * WIDTH + x0, 200, 30);
}

typedef struct {
  VigilFrameHealth *health;
  Picture          *picture;
  GRand            *rand;
  guint             step;        /* samples analysed; also the clock, in seconds */
  VigilFrameSample  last;
} Analyser;

static void
analyser_set_up (Analyser *a, gconstpointer unused)
{
  VigilFrameHealthSettings settings;

  vigil_frame_health_settings_init (&settings);
  settings.learning_samples = LEARNING;
  a->health = vigil_frame_health_new (&settings);
  a->picture = picture_new ();
  a->rand = g_rand_new_with_seed (4);
}

/* A new analyser, as for another camera. */
static void
analyser_restart (Analyser *a)
{
  VigilFrameHealthSettings settings = *vigil_frame_health_get_settings (a->health);

  g_clear_object (&a->health);
  a->health = vigil_frame_health_new (&settings);
}

static void
analyser_tear_down (Analyser *a, gconstpointer unused)
{
  g_clear_object (&a->health);
  g_clear_pointer (&a->picture, picture_free);
  g_clear_pointer (&a->rand, g_rand_free);
}

static VigilFrameVerdict
analyse (Analyser *a)
{
  vigil_frame_health_analyze (a->health, a->picture->pixels, WIDTH, HEIGHT, WIDTH,
                              T0_US + a->step * G_USEC_PER_SEC, &a->last);
  a->step++;
  return a->last.verdicts;
}

/* The normal view of the camera, alive: a walker, the clock, sensor noise. */
static void
draw_day (Analyser *a)
{
  draw_scene (a->picture, 0, 1, 0);
  draw_walker (a->picture, a->step);
  draw_clock (a->picture, a->step);
  add_noise (a->picture, a->rand, 3);
}

/* The first LEARNING samples are judged without baselines (is_learning);
 * from the next one on, all verdicts can be given. */
static void
learn_day (Analyser *a)
{
  for (guint i = 0; i < LEARNING; i++)
    {
      draw_day (a);
      g_assert_cmpuint (analyse (a), ==, VIGIL_FRAME_VERDICT_NONE);
      g_assert_true (a->last.is_learning);
    }
}

/* Analyses @n pictures drawn by @draw and asserts that each has exactly
 * @verdicts. */
static void
expect (Analyser *a, void (*draw) (Analyser *a), guint n, VigilFrameVerdict verdicts)
{
  for (guint i = 0; i < n; i++)
    {
      g_autofree gchar *got = NULL;
      g_autofree gchar *wanted = vigil_frame_verdict_to_string (verdicts);

      draw (a);
      analyse (a);
      got = vigil_frame_verdict_to_string (a->last.verdicts);
      g_test_message ("sample %u: luma %.1f contrast %.1f (tiles %.1f) sharpness %.2f (relative %.2f) uniform %.2f "
                      "identical %.2f moving %.2f scene %.2f: %s",
                      a->step, a->last.mean_luma, a->last.contrast, a->last.tile_contrast, a->last.sharpness,
                      a->last.relative_sharpness, a->last.uniform_fraction, a->last.identical_fraction,
                      a->last.moving_fraction, a->last.scene_difference, got);
      g_assert_cmpstr (got, ==, wanted);
    }
}

static void
test_healthy_day (Analyser *a, gconstpointer unused)
{
  draw_day (a);
  g_assert_cmpuint (analyse (a), ==, VIGIL_FRAME_VERDICT_NONE);
  g_assert_true (a->last.is_learning);
  g_assert_cmpfloat (a->last.diff_previous, ==, -1);
  g_assert_cmpfloat (a->last.scene_difference, ==, -1);
  g_assert_cmpfloat (a->last.relative_sharpness, ==, -1);
  g_assert_cmpuint (a->last.width, ==, WIDTH);
  g_assert_cmpint (a->last.wall_us, ==, T0_US);
  expect (a, draw_day, LEARNING - 1, VIGIL_FRAME_VERDICT_NONE);
  g_assert_true (a->last.is_learning);
  expect (a, draw_day, 10, VIGIL_FRAME_VERDICT_NONE);
  g_assert_false (a->last.is_learning);
  g_assert_cmpfloat_with_epsilon (a->last.relative_sharpness, 1, 0.3);
  g_assert_cmpfloat (a->last.scene_difference, <, 0.2);
}

static void
draw_black (Analyser *a)
{
  fill (a->picture, 16);
  add_noise (a->picture, a->rand, 2);
  draw_clock (a->picture, a->step);
}

static void
draw_white (Analyser *a)
{
  fill (a->picture, 235);
  draw_clock (a->picture, a->step);
}

static void
test_black_white (Analyser *a, gconstpointer unused)
{
  /* Judged at once, without a baseline: a lens cap from the start. */
  expect (a, draw_black, 2, VIGIL_FRAME_VERDICT_BLACK);
  expect (a, draw_white, 2, VIGIL_FRAME_VERDICT_WHITE);
  /* Neither was learned as the camera's normal picture. */
  learn_day (a);
  expect (a, draw_black, 3, VIGIL_FRAME_VERDICT_BLACK);
  expect (a, draw_day, 1, VIGIL_FRAME_VERDICT_NONE);
  expect (a, draw_white, 3, VIGIL_FRAME_VERDICT_WHITE);
  expect (a, draw_day, 1, VIGIL_FRAME_VERDICT_NONE);
}

/* One noisy picture (sensor noise seeded the same every time), drawn
 * anew for each sample; as a camera re-encoding it codes it: where the
 * quantiser moved since the last keyframe (here about every other 32x32
 * patch), every pixel is a level off, the rest comes out bit-identical. */
static void
draw_stuck_picture (Analyser *a)
{
  g_autoptr(GRand) sensor = g_rand_new_with_seed (11);

  draw_scene (a->picture, 0, 1, 0);
  draw_walker (a->picture, 3);
  add_noise (a->picture, sensor, 3);
  for (guint py = 0; py < HEIGHT; py += 32)
    for (guint px = 0; px < WIDTH; px += 32)
      if (g_rand_boolean (a->rand))
        for (guint y = py; y < MIN (py + 32, HEIGHT); y++)
          for (guint x = px; x < MIN (px + 32, WIDTH); x++)
            a->picture->pixels[y * WIDTH + x] = clamp_luma (a->picture->pixels[y * WIDTH + x] + 1);
}

/* The camera's picture stuck, its clock frozen with it. */
static void
draw_frozen (Analyser *a)
{
  draw_stuck_picture (a);
  draw_clock (a->picture, 3);
}

static void
test_frozen (Analyser *a, gconstpointer unused)
{
  learn_day (a);
  /* frozen_samples (3) unchanged samples after the first of the picture. */
  expect (a, draw_frozen, 3, VIGIL_FRAME_VERDICT_NONE);
  g_assert_cmpuint (a->last.unchanged_samples, ==, 2);
  expect (a, draw_frozen, 4, VIGIL_FRAME_VERDICT_FROZEN);
  g_assert_cmpuint (a->last.unchanged_samples, ==, 6);
  g_assert_cmpfloat (a->last.identical_fraction, >=, 0.12);
  g_assert_cmpfloat (a->last.moving_fraction, <=, 0.05);
  expect (a, draw_day, 1, VIGIL_FRAME_VERDICT_NONE);
  g_assert_cmpuint (a->last.unchanged_samples, ==, 0);

  /* A new connection is not compared with the last picture of the old. */
  expect (a, draw_frozen, 3, VIGIL_FRAME_VERDICT_NONE);
  vigil_frame_health_forget_previous (a->health);
  expect (a, draw_frozen, 1, VIGIL_FRAME_VERDICT_NONE);
  g_assert_cmpfloat (a->last.diff_previous, ==, -1);
  g_assert_cmpuint (a->last.unchanged_samples, ==, 0);
}

/* A still view, live: nothing moves but the clock, and the sensor's faint
 * noise is new in every picture. */
static void
draw_still_live (Analyser *a)
{
  draw_scene (a->picture, 0, 1, 0);
  draw_clock (a->picture, a->step);
  add_noise (a->picture, a->rand, 1);
}

static void
test_still_live_scene_is_not_frozen (Analyser *a, gconstpointer unused)
{
  learn_day (a);
  expect (a, draw_still_live, 8, VIGIL_FRAME_VERDICT_NONE);
  g_assert_cmpuint (a->last.unchanged_samples, ==, 0);
  g_assert_cmpfloat (a->last.identical_fraction, <, 0.12);
  g_assert_cmpfloat (a->last.moving_fraction, <=, 0.05);
}

/* The camera's picture stuck while its clock overlay, drawn after the
 * image pipeline, runs on: frozen all the same. */
static void
draw_frozen_behind_clock (Analyser *a)
{
  draw_stuck_picture (a);
  draw_clock (a->picture, a->step);
}

static void
test_frozen_behind_running_clock (Analyser *a, gconstpointer unused)
{
  learn_day (a);
  expect (a, draw_frozen_behind_clock, 3, VIGIL_FRAME_VERDICT_NONE);
  expect (a, draw_frozen_behind_clock, 2, VIGIL_FRAME_VERDICT_FROZEN);
  g_assert_cmpfloat (a->last.moving_fraction, >, 0);
}

/* Something crossing a view whose sensor is so clean that its still parts
 * come out bit-identical: moving, so not frozen. */
static void
draw_clean_view_with_passer_by (Analyser *a)
{
  draw_scene (a->picture, 0, 1, 0);
  for (guint y = 100; y < 260; y++)
    memset (a->picture->pixels + y * WIDTH + (a->step * 97) % (WIDTH - 100), 200, 70);
}

static void
test_clean_view_with_motion_is_not_frozen (Analyser *a, gconstpointer unused)
{
  learn_day (a);
  expect (a, draw_clean_view_with_passer_by, 6, VIGIL_FRAME_VERDICT_NONE);
  g_assert_cmpfloat (a->last.identical_fraction, >, 0.12);
  g_assert_cmpfloat (a->last.moving_fraction, >, 0.05);
}

static void
draw_blurred (Analyser *a)
{
  draw_scene (a->picture, 0, 1, 0);
  draw_walker (a->picture, a->step);
  blur (a->picture, 5);
  /* The overlay is drawn after the lens, so it stays sharp. */
  draw_clock (a->picture, a->step);
  add_noise (a->picture, a->rand, 1);
}

static void
test_blurred (Analyser *a, gconstpointer unused)
{
  learn_day (a);
  expect (a, draw_blurred, 3, VIGIL_FRAME_VERDICT_BLURRED);
  g_assert_cmpfloat (a->last.relative_sharpness, <, 0.4);
  expect (a, draw_day, 2, VIGIL_FRAME_VERDICT_NONE);
}

static void
draw_covered (Analyser *a)
{
  fill (a->picture, 80);
  add_noise (a->picture, a->rand, 3);
  draw_clock (a->picture, a->step);
}

/* Spray paint: the view is still faintly there, heavily blurred and washed
 * out, and no longer one colour. */
static void
draw_sprayed (Analyser *a)
{
  draw_scene (a->picture, 0, 0.2, 40);
  blur (a->picture, 12);
  draw_clock (a->picture, a->step);
  add_noise (a->picture, a->rand, 1);
}

static void
test_covered (Analyser *a, gconstpointer unused)
{
  /* Not judged before the baseline says what normal looks like. */
  expect (a, draw_covered, 1, VIGIL_FRAME_VERDICT_NONE);
  g_assert_true (a->last.is_learning);
  analyser_restart (a);

  learn_day (a);
  expect (a, draw_covered, 3, VIGIL_FRAME_VERDICT_COVERED);
  g_assert_cmpfloat (a->last.uniform_fraction, >=, 0.85);
  expect (a, draw_day, 1, VIGIL_FRAME_VERDICT_NONE);
  expect (a, draw_sprayed, 3, VIGIL_FRAME_VERDICT_COVERED);
  g_assert_cmpfloat (a->last.uniform_fraction, <, 0.85);
  expect (a, draw_day, 1, VIGIL_FRAME_VERDICT_NONE);
}

static void
draw_moved (Analyser *a)
{
  draw_scene (a->picture, WIDTH / 3, 1, 0);
  draw_walker (a->picture, a->step);
  draw_clock (a->picture, a->step);
  add_noise (a->picture, a->rand, 3);
}

static void
test_moved (Analyser *a, gconstpointer unused)
{
  learn_day (a);
  expect (a, draw_moved, 2, VIGIL_FRAME_VERDICT_MOVED);
  g_assert_cmpfloat (a->last.scene_difference, >=, 0.6);
  expect (a, draw_day, 1, VIGIL_FRAME_VERDICT_NONE);

  /* While a PTZ camera moves, MOVED is held back... */
  vigil_frame_health_suppress_moved (a->health, T0_US + (a->step + 2) * G_USEC_PER_SEC);
  expect (a, draw_moved, 2, VIGIL_FRAME_VERDICT_NONE);
  expect (a, draw_moved, 1, VIGIL_FRAME_VERDICT_MOVED);
  /* ...and where it stops becomes the reference. */
  vigil_frame_health_relearn_reference (a->health);
  for (guint i = 0; i < LEARNING; i++)
    {
      expect (a, draw_moved, 1, VIGIL_FRAME_VERDICT_NONE);
      g_assert_true (a->last.is_learning);
    }
  expect (a, draw_moved, 3, VIGIL_FRAME_VERDICT_NONE);
  g_assert_false (a->last.is_learning);
  expect (a, draw_day, 1, VIGIL_FRAME_VERDICT_MOVED);
}

/* Night: dim, low contrast, noisy, a lit window; the clock as always. */
static void
draw_night (Analyser *a)
{
  draw_scene (a->picture, 0, 0.3, -75);
  for (guint y = 40; y < 80; y++)
    memset (a->picture->pixels + y * WIDTH + 400, 180, 40);
  draw_walker (a->picture, a->step);
  draw_clock (a->picture, a->step);
  add_noise (a->picture, a->rand, 8);
}

static void
test_night_is_healthy (Analyser *a, gconstpointer unused)
{
  learn_day (a);
  expect (a, draw_night, 6, VIGIL_FRAME_VERDICT_NONE);
  g_assert_cmpfloat (a->last.mean_luma, <, 60);
  expect (a, draw_day, 2, VIGIL_FRAME_VERDICT_NONE);

  /* And a camera that is first seen at night. */
  analyser_restart (a);
  expect (a, draw_night, LEARNING + 6, VIGIL_FRAME_VERDICT_NONE);
}

/* A plain wall: a faint gradient and little texture; not a cover. */
static void
draw_plain (Analyser *a)
{
  for (guint y = 0; y < HEIGHT; y++)
    for (guint x = 0; x < WIDTH; x++)
      a->picture->pixels[y * WIDTH + x] = clamp_luma (150 + 10.0 * x / WIDTH + ((x / 160 + y / 120) % 2) * 3);
  for (guint y = 100; y < 300; y++)      /* a door frame */
    {
      a->picture->pixels[y * WIDTH + 300] = 90;
      a->picture->pixels[y * WIDTH + 360] = 90;
    }
  draw_clock (a->picture, a->step);
  add_noise (a->picture, a->rand, 3);
}

static void
test_plain_scene_is_healthy (Analyser *a, gconstpointer unused)
{
  expect (a, draw_plain, LEARNING + 8, VIGIL_FRAME_VERDICT_NONE);
  g_assert_cmpfloat (a->last.uniform_fraction, >=, 0.85);
  g_assert_false (a->last.is_learning);
}

/* Fog: an even grey and sensor noise, nothing else. */
static void
draw_fog (Analyser *a)
{
  fill (a->picture, 140);
  add_noise (a->picture, a->rand, 4);
}

/* The ranks of noise correlate at random from one sample to the next, so
 * a view without structure is not compared with its reference at all
 * (before, about one sample in ten of it came out "moved"). */
static void
test_featureless_view_is_not_judged_moved (Analyser *a, gconstpointer unused)
{
  expect (a, draw_fog, LEARNING + 20, VIGIL_FRAME_VERDICT_NONE);
  g_assert_false (a->last.is_learning);
  g_assert_cmpfloat (a->last.scene_difference, ==, -1);
}

static void
test_stride_and_size (Analyser *a, gconstpointer unused)
{
  g_autoptr(VigilFrameHealth) other = vigil_frame_health_new (NULL);
  g_autofree guint8 *padded = g_new (guint8, (WIDTH + 12) * HEIGHT);
  VigilFrameSample compact, wide;

  draw_day (a);
  for (guint y = 0; y < HEIGHT; y++)
    {
      memcpy (padded + y * (WIDTH + 12), a->picture->pixels + y * WIDTH, WIDTH);
      memset (padded + y * (WIDTH + 12) + WIDTH, 255, 12);   /* padding is not picture */
    }
  vigil_frame_health_analyze (a->health, a->picture->pixels, WIDTH, HEIGHT, WIDTH, 1, &compact);
  vigil_frame_health_analyze (other, padded, WIDTH, HEIGHT, WIDTH + 12, 1, &wide);
  g_assert_cmpfloat (compact.mean_luma, ==, wide.mean_luma);
  g_assert_cmpfloat (compact.sharpness, ==, wide.sharpness);
  g_assert_cmpuint (vigil_frame_health_get_settings (other)->learning_samples, ==, 30);

  /* Another size starts afresh: nothing to compare with. */
  vigil_frame_health_analyze (a->health, a->picture->pixels, WIDTH / 2, HEIGHT / 2, WIDTH, 2, &compact);
  g_assert_cmpfloat (compact.diff_previous, ==, -1);
  g_assert_true (compact.is_learning);
}

static gdouble
thread_cpu_seconds (void)
{
  struct timespec now;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &now);
  return now.tv_sec + now.tv_nsec / 1e9;
}

/* What one sample costs at 1080p, in CPU time of the calling thread: a
 * few samples normally, many with -m perf, where bench/health reads the
 * "analysis:" line. */
static void
test_cost (void)
{
  g_autoptr(VigilFrameHealth) health = vigil_frame_health_new (NULL);
  g_autofree guint8 *picture = g_new (guint8, 1920 * 1080);
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  guint n = g_test_perf () ? 300 : 3;
  VigilFrameSample sample;
  gdouble start_s, per_sample_us;

  for (guint i = 0; i < 1920 * 1080; i++)
    picture[i] = (guint8) ((i % 1920) / 8 + g_rand_int_range (rand, 0, 16));
  /* The first sample allocates; it is not counted. */
  vigil_frame_health_analyze (health, picture, 1920, 1080, 1920, 0, &sample);
  start_s = thread_cpu_seconds ();
  for (guint i = 1; i <= n; i++)
    {
      picture[i * 4099 % (1920 * 1080)] ^= 0x55;
      vigil_frame_health_analyze (health, picture, 1920, 1080, 1920, i, &sample);
    }
  per_sample_us = (thread_cpu_seconds () - start_s) * G_USEC_PER_SEC / n;
  g_test_message ("analysis: %.0f us CPU per 1920x1080 sample (%u samples)", per_sample_us, n);
  g_test_minimized_result (per_sample_us, "us per 1080p sample");
  g_assert_cmpuint (sample.width, ==, 1920);
}

static void
test_verdict_strings (void)
{
  g_autofree gchar *none = vigil_frame_verdict_to_string (VIGIL_FRAME_VERDICT_NONE);
  g_autofree gchar *two = vigil_frame_verdict_to_string (VIGIL_FRAME_VERDICT_BLACK | VIGIL_FRAME_VERDICT_FROZEN);
  VigilFrameSample sample = { .verdicts = VIGIL_FRAME_VERDICT_MOVED, .mean_luma = 12 };
  g_autoptr(VigilFrameSample) copy = NULL;

  g_assert_cmpstr (none, ==, "none");
  g_assert_cmpstr (two, ==, "black|frozen");
  copy = g_boxed_copy (VIGIL_TYPE_FRAME_SAMPLE, &sample);
  g_assert_cmpint (copy->verdicts, ==, VIGIL_FRAME_VERDICT_MOVED);
  g_assert_cmpfloat (copy->mean_luma, ==, 12);
}

/* ---- through the recorder ---------------------------------------------- */

#define FPS 10
#define GOP 5                 /* a keyframe every 0.5 s ... */
#define INTERVAL_MS 500       /* ... and each one judged */
#define WAIT_S 30             /* per verdict; generous for valgrind */

typedef struct {
  gchar            *dir;
  GMainLoop        *loop;
  VigilSimcam      *simcam;
  VigilRecorder    *recorder;
  GArray           *samples;       /* VigilFrameSample, in order */
  guint             closed;        /* ::segment-closed seen */
  guint             until_closed;  /* 0, or the number of them to wait for */
  gboolean          ended;
  gchar            *end_reason;
  /* What the loop waits for: samples of a scene, or verdicts. */
  gboolean        (*shows) (const VigilFrameSample *sample);   /* NULL, or the scene */
  guint             first_shown;   /* index of the first sample of it; G_MAXUINT before */
  guint             n_shown;       /* how many samples from there on to wait for */
  guint             from;          /* samples before this index do not count */
  VigilFrameVerdict wanted;        /* all of these set... */
  guint             in_a_row;      /* ...in this many samples in a row */
  guint             seen;
} Fixture;

static void
on_frame_health (VigilRecorder *recorder, const VigilFrameSample *sample, Fixture *f)
{
  g_autofree gchar *verdicts = vigil_frame_verdict_to_string (sample->verdicts);

  g_test_message ("sample %u: luma %.1f contrast %.1f (tiles %.1f) sharpness %.2f (relative %.2f) uniform %.2f "
                  "identical %.2f moving %.2f scene %.2f unchanged %u%s: %s",
                  f->samples->len, sample->mean_luma, sample->contrast, sample->tile_contrast, sample->sharpness,
                  sample->relative_sharpness, sample->uniform_fraction, sample->identical_fraction,
                  sample->moving_fraction, sample->scene_difference, sample->unchanged_samples,
                  sample->is_learning ? " learning" : "", verdicts);
  g_array_append_val (f->samples, *sample);
  if (f->shows != NULL)
    {
      if (f->first_shown == G_MAXUINT && f->shows (sample))
        f->first_shown = f->samples->len - 1;
      if (f->first_shown != G_MAXUINT && f->samples->len >= f->first_shown + f->n_shown)
        g_main_loop_quit (f->loop);
      return;
    }
  if (f->samples->len <= f->from)
    return;
  if (sample->verdicts == f->wanted || (f->wanted != 0 && (sample->verdicts & f->wanted) == f->wanted))
    f->seen++;
  else
    f->seen = 0;
  if (f->seen >= f->in_a_row)
    g_main_loop_quit (f->loop);
}

static void
on_segment_closed (VigilRecorder *recorder, const VigilClosedSegment *segment, Fixture *f)
{
  f->closed++;
  if (f->until_closed > 0 && f->closed >= f->until_closed)
    g_main_loop_quit (f->loop);
}

static void
on_run_ended (VigilRecorder *recorder, const gchar *reason, gint64 end_us, Fixture *f)
{
  f->ended = TRUE;
  f->end_reason = g_strdup (reason);
  g_main_loop_quit (f->loop);
}

static gboolean
on_wait_timeout (gpointer user_data)
{
  Fixture *f = user_data;

  g_main_loop_quit (f->loop);
  return G_SOURCE_REMOVE;
}

/* Runs the loop until @in_a_row samples in a row have exactly @verdicts
 * (VIGIL_FRAME_VERDICT_NONE: healthy ones), counting only samples after
 * @skip more have come; fails after WAIT_S. Returns the index of the last
 * of them. */
static guint
wait_for (Fixture *f, VigilFrameVerdict verdicts, guint skip, guint in_a_row, const gchar *what)
{
  guint timeout_id;
  g_autofree gchar *wanted = vigil_frame_verdict_to_string (verdicts);

  g_test_message ("waiting for %u samples of %s: %s", in_a_row, wanted, what);
  f->from = f->samples->len + skip;
  f->wanted = verdicts;
  f->in_a_row = in_a_row;
  f->seen = 0;
  timeout_id = g_timeout_add_seconds (WAIT_S, on_wait_timeout, f);
  g_main_loop_run (f->loop);
  if (f->seen < in_a_row)
    g_test_message ("timed out waiting for %s", what);
  else
    g_source_remove (timeout_id);
  g_assert_false (f->ended);
  g_assert_cmpuint (f->seen, >=, in_a_row);
  return f->samples->len - 1;
}

/* Runs the loop until the first sample that @shows a scene and @n - 1
 * more have come; asserts that those @n all show it and are healthy. The
 * content says which samples show it: the bus may still hold samples from
 * before the camera switched (set_picture() blocks while it encodes). */
static void
expect_healthy (Fixture *f, gboolean (*shows) (const VigilFrameSample *sample), guint n, const gchar *what)
{
  guint timeout_id, first;

  g_test_message ("expecting %u healthy samples: %s", n, what);
  f->shows = shows;
  f->first_shown = G_MAXUINT;
  f->n_shown = n;
  timeout_id = g_timeout_add_seconds (WAIT_S, on_wait_timeout, f);
  g_main_loop_run (f->loop);
  f->shows = NULL;
  first = f->first_shown;
  g_assert_false (f->ended);
  g_assert_cmpuint (first, !=, G_MAXUINT);
  g_assert_cmpuint (f->samples->len, >=, first + n);
  g_source_remove (timeout_id);
  for (guint i = first; i < first + n; i++)
    {
      const VigilFrameSample *sample = &g_array_index (f->samples, VigilFrameSample, i);

      g_assert_true (shows (sample));
      g_assert_cmpuint (sample->verdicts, ==, VIGIL_FRAME_VERDICT_NONE);
    }
}

/* The scene as learned: bright bars, the band (a quarter of the picture)
 * scrolling by. */
static gboolean
shows_scene (const VigilFrameSample *sample)
{
  return sample->mean_luma > 90 && (sample->moving_fraction < 0 || sample->moving_fraction > 0.1);
}

/* Night: dim. */
static gboolean
shows_night (const VigilFrameSample *sample)
{
  return sample->mean_luma < 60;
}

/* The still scene: bright bars, and from one sample to the next nothing
 * moves but the clock. */
static gboolean
shows_still_scene (const VigilFrameSample *sample)
{
  return sample->mean_luma > 90 && sample->moving_fraction >= 0 && sample->moving_fraction <= 0.05;
}

static void
switch_to (Fixture *f, VigilSimcamPicture picture)
{
  g_autoptr(GError) error = NULL;

  g_test_message ("camera shows %s", vigil_simcam_picture_to_string (picture));
  g_assert_true (vigil_simcam_set_picture (f->simcam, 0, picture, &error));
  g_assert_no_error (error);
}

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  f->dir = vigil_test_make_tmp_dir ();
  f->loop = g_main_loop_new (NULL, FALSE);
  f->samples = g_array_new (FALSE, FALSE, sizeof (VigilFrameSample));
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  if (f->recorder != NULL && vigil_recorder_is_running (f->recorder))
    {
      vigil_recorder_stop (f->recorder);
      vigil_test_wait_for (&f->ended, 20);
    }
  g_clear_object (&f->recorder);
  g_clear_object (&f->simcam);
  g_clear_pointer (&f->samples, g_array_unref);
  g_clear_pointer (&f->end_reason, g_free);
  g_clear_pointer (&f->loop, g_main_loop_unref);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

/* Records @url as camera cam0 with frame health on (@settings, NULL for
 * the defaults; a sample every INTERVAL_MS; judged on @health_url when not
 * NULL), its signals going to @f. */
static void
start_recorder (Fixture *f, const gchar *url, const VigilFrameHealthSettings *settings,
                GstClockTime segment_duration, const gchar *health_url)
{
  g_autoptr(GError) error = NULL;
  VigilRecorderConfig config = {
    .camera = "cam0", .url = url, .root = f->dir,
    .segment_duration = segment_duration, .stall_timeout = 10 * GST_SECOND,
    .frame_health = TRUE, .frame_health_settings = settings,
    .frame_health_interval = INTERVAL_MS * GST_MSECOND, .frame_health_url = health_url,
    /* A fixed rate: these tests count samples. */
    .frame_health_calm_interval = INTERVAL_MS * GST_MSECOND,
  };

  f->recorder = vigil_recorder_new (&config);
  g_assert_nonnull (vigil_recorder_get_frame_health (f->recorder));
  g_signal_connect (f->recorder, "frame-health", G_CALLBACK (on_frame_health), f);
  g_signal_connect (f->recorder, "segment-closed", G_CALLBACK (on_segment_closed), f);
  g_signal_connect (f->recorder, "run-ended", G_CALLBACK (on_run_ended), f);
  vigil_recorder_start (f->recorder, &error);
  g_assert_no_error (error);
}

static void
test_recorder_reports_each_fault (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = FPS,
                                 .bitrate_kbps = 300, .gop_frames = GOP, .clip_seconds = 3 };
  VigilFrameHealthSettings settings;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *url = NULL;
  const VigilFrameSample *last;
  guint index;
  struct {
    VigilSimcamPicture picture;
    VigilFrameVerdict  verdict;
  } faults[] = {
    { VIGIL_SIMCAM_PICTURE_BLACK, VIGIL_FRAME_VERDICT_BLACK },
    { VIGIL_SIMCAM_PICTURE_WHITE, VIGIL_FRAME_VERDICT_WHITE },
    { VIGIL_SIMCAM_PICTURE_FROZEN, VIGIL_FRAME_VERDICT_FROZEN },
    { VIGIL_SIMCAM_PICTURE_BLURRED, VIGIL_FRAME_VERDICT_BLURRED },
    { VIGIL_SIMCAM_PICTURE_COVERED, VIGIL_FRAME_VERDICT_COVERED },
    { VIGIL_SIMCAM_PICTURE_REAIMED, VIGIL_FRAME_VERDICT_MOVED },
  };

  if (!vigil_test_have_elements ("x264enc", "compositor", "imagefreeze", "videobalance", "timeoverlay",
                                 "avdec_h264", "videoconvert", "appsrc", "matroskamux", NULL))
    {
      g_test_skip ("needs x264enc, compositor, imagefreeze, videobalance, timeoverlay, avdec_h264, "
                   "videoconvert, appsrc and matroskamux");
      return;
    }

  f->simcam = vigil_simcam_new (&options, &error);
  g_assert_no_error (error);
  url = vigil_simcam_get_url (f->simcam, 0);
  vigil_frame_health_settings_init (&settings);
  settings.learning_samples = 6;
  start_recorder (f, url, &settings, 10 * GST_SECOND, NULL);

  /* Learning, then healthy. */
  expect_healthy (f, shows_scene, settings.learning_samples + 4, "learning the scene, then the scene");
  last = &g_array_index (f->samples, VigilFrameSample, f->samples->len - 1);
  g_assert_false (last->is_learning);
  g_assert_true (g_array_index (f->samples, VigilFrameSample, 0).is_learning);
  /* The frame's wall clock (the run's clock follows the stream, so it may
   * run a little ahead of the host's), not when the analysis ran. */
  g_assert_cmpint (ABS (last->wall_us - g_get_real_time ()), <, 10 * G_USEC_PER_SEC);
  g_assert_cmpuint (last->width, ==, 320);

  /* The tricky healthy scenes never raise anything: every sample is
   * healthy, during the switch and after, the still scene for longer
   * than frozen_samples. */
  switch_to (f, VIGIL_SIMCAM_PICTURE_NIGHT);
  expect_healthy (f, shows_night, 6, "the night scene");
  switch_to (f, VIGIL_SIMCAM_PICTURE_STATIC);
  expect_healthy (f, shows_still_scene, settings.frozen_samples + 5, "the still scene with its clock");
  last = &g_array_index (f->samples, VigilFrameSample, f->samples->len - 1);
  g_assert_cmpuint (last->unchanged_samples, ==, 0);

  /* Each fault is called by its name, and once it is gone the picture is
   * healthy again. */
  for (guint i = 0; i < G_N_ELEMENTS (faults); i++)
    {
      switch_to (f, faults[i].picture);
      index = wait_for (f, faults[i].verdict, 0, 2, vigil_simcam_picture_to_string (faults[i].picture));
      g_assert_cmpuint (g_array_index (f->samples, VigilFrameSample, index).verdicts, ==, faults[i].verdict);
      switch_to (f, VIGIL_SIMCAM_PICTURE_NORMAL);
      wait_for (f, VIGIL_FRAME_VERDICT_NONE, 0, 2, "the normal scene again");
    }

  /* One unbroken run throughout: a picture switch is not a format change. */
  g_assert_false (f->ended);
  vigil_recorder_stop (f->recorder);
  g_assert_true (vigil_test_wait_for (&f->ended, 20));
  g_assert_cmpstr (f->end_reason, ==, "stopped");
}

/* H.265 goes through avdec_h265, and caps and parameter sets survive the
 * picture switch there too. */
static void
test_recorder_h265 (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = FPS,
                                 .bitrate_kbps = 300, .gop_frames = GOP, .clip_seconds = 3,
                                 .codec = VIGIL_SIMCAM_CODEC_H265 };
  VigilFrameHealthSettings settings;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *url = NULL;

  if (!vigil_test_have_elements ("x265enc", "compositor", "timeoverlay", "avdec_h265", "videoconvert", "appsrc",
                                 "matroskamux", NULL))
    {
      g_test_skip ("needs x265enc, compositor, timeoverlay, avdec_h265, videoconvert, appsrc and matroskamux");
      return;
    }

  f->simcam = vigil_simcam_new (&options, &error);
  g_assert_no_error (error);
  url = vigil_simcam_get_url (f->simcam, 0);
  vigil_frame_health_settings_init (&settings);
  settings.learning_samples = 3;
  start_recorder (f, url, &settings, 10 * GST_SECOND, NULL);

  expect_healthy (f, shows_scene, settings.learning_samples + 2, "learning the H.265 scene, then the scene");
  switch_to (f, VIGIL_SIMCAM_PICTURE_BLACK);
  wait_for (f, VIGIL_FRAME_VERDICT_BLACK, 0, 2, "black in H.265");
  switch_to (f, VIGIL_SIMCAM_PICTURE_NORMAL);
  wait_for (f, VIGIL_FRAME_VERDICT_NONE, 0, 2, "the H.265 scene again");
  g_assert_false (f->ended);
}

/* A decoder that fails on its first frame: stands in for avdec_h264 in the
 * child process of /pipelines/frame-health/decoder-error. */
typedef struct {
  GstElement  parent;
  GstPad     *sink_pad, *src_pad;
  gint        max_threads;
} BrokenDecoder;
typedef struct {
  GstElementClass parent_class;
} BrokenDecoderClass;

GType broken_decoder_get_type (void);
G_DEFINE_TYPE (BrokenDecoder, broken_decoder, GST_TYPE_ELEMENT)

static GstStaticPadTemplate broken_sink_template =
  GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS ("video/x-h264"));
static GstStaticPadTemplate broken_src_template =
  GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS ("video/x-raw"));

static GstFlowReturn
broken_decoder_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  gst_buffer_unref (buffer);
  GST_ELEMENT_ERROR (parent, STREAM, DECODE, ("simulated decoder failure"), (NULL));
  return GST_FLOW_ERROR;
}

static gboolean
broken_decoder_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  /* Nothing goes downstream: there is no output format to announce. */
  gst_event_unref (event);
  return TRUE;
}

static void
broken_decoder_set_property (GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  ((BrokenDecoder *) object)->max_threads = g_value_get_int (value);
}

static void
broken_decoder_get_property (GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  g_value_set_int (value, ((BrokenDecoder *) object)->max_threads);
}

static void
broken_decoder_class_init (BrokenDecoderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  object_class->set_property = broken_decoder_set_property;
  object_class->get_property = broken_decoder_get_property;
  g_object_class_install_property (object_class, 1,
                                   g_param_spec_int ("max-threads", "", "", 0, 64, 0, G_PARAM_READWRITE));
  gst_element_class_add_static_pad_template (element_class, &broken_sink_template);
  gst_element_class_add_static_pad_template (element_class, &broken_src_template);
  gst_element_class_set_static_metadata (element_class, "Broken decoder", "Codec/Decoder/Video",
                                         "Fails on its first frame", "vigil");
}

static void
broken_decoder_init (BrokenDecoder *self)
{
  self->sink_pad = gst_pad_new_from_static_template (&broken_sink_template, "sink");
  gst_pad_set_chain_function (self->sink_pad, broken_decoder_chain);
  gst_pad_set_event_function (self->sink_pad, broken_decoder_sink_event);
  gst_element_add_pad (GST_ELEMENT (self), self->sink_pad);
  self->src_pad = gst_pad_new_from_static_template (&broken_src_template, "src");
  gst_element_add_pad (GST_ELEMENT (self), self->src_pad);
}

/* In a child process, since it replaces avdec_h264 for the whole process:
 * a failing decoder gives one warning (a minute's worth of failed
 * keyframes), while the recording goes on, segment after segment. */
static void
test_decoder_error_keeps_recording (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = FPS,
                                 .bitrate_kbps = 300, .gop_frames = GOP, .clip_seconds = 3 };
  g_autoptr(GError) error = NULL;
  g_autofree gchar *url = NULL;
  g_autoptr(GstPluginFeature) real = NULL;
  guint timeout_id;

  if (!vigil_test_have_elements ("x264enc", "compositor", "avdec_h264", "matroskamux", NULL))
    {
      g_test_skip ("needs x264enc, compositor, avdec_h264 and matroskamux");
      return;
    }
  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
      g_test_trap_assert_passed ();
      return;
    }

  real = gst_registry_lookup_feature (gst_registry_get (), "avdec_h264");
  gst_registry_remove_feature (gst_registry_get (), real);
  g_assert_true (gst_element_register (NULL, "avdec_h264", GST_RANK_NONE, broken_decoder_get_type ()));

  f->simcam = vigil_simcam_new (&options, &error);
  g_assert_no_error (error);
  url = vigil_simcam_get_url (f->simcam, 0);
  start_recorder (f, url, NULL, 1 * GST_SECOND, NULL);
  /* After start, which logs where it connects. */
  g_test_expect_message ("vigil-pipelines", G_LOG_LEVEL_WARNING,
                         "camera cam0: frame health cannot judge its keyframes: * (said at most once a minute)");

  /* Three closed segments: seconds of recording after the branch failed
   * on the first keyframe. */
  f->until_closed = 3;
  timeout_id = g_timeout_add_seconds (WAIT_S, on_wait_timeout, f);
  g_main_loop_run (f->loop);
  if (f->closed >= 3)
    g_source_remove (timeout_id);
  g_test_assert_expected_messages ();
  g_assert_false (f->ended);
  g_assert_cmpuint (f->closed, >=, 3);
  g_assert_cmpuint (f->samples->len, ==, 0);
}

/* Frame health from a sub-stream: a second, smaller mount of the same
 * camera is judged instead of the recorded one (its size and its picture
 * show it); when it is dropped the run says so and judges the recorded
 * stream's keyframes from then on, still recording. */
static gboolean
shows_sub_scene (const VigilFrameSample *sample)
{
  return sample->width == 160 && shows_scene (sample);
}

static gboolean
shows_main_scene (const VigilFrameSample *sample)
{
  return sample->width == 320 && shows_scene (sample);
}

static void
test_recorder_sub_stream (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 2, .width = 320, .height = 240, .fps = FPS,
                                 .bitrate_kbps = 300, .gop_frames = GOP, .clip_seconds = 3 };
  VigilFrameHealthSettings settings;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *url = NULL;
  g_autofree gchar *sub_url = NULL;
  guint index;

  if (!vigil_test_have_elements ("x264enc", "compositor", "timeoverlay", "avdec_h264", "videoconvert", "appsrc",
                                 "matroskamux", NULL))
    {
      g_test_skip ("needs x264enc, compositor, timeoverlay, avdec_h264, videoconvert, appsrc and matroskamux");
      return;
    }

  f->simcam = vigil_simcam_new (&options, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_simcam_set_resolution (f->simcam, 1, 160, 120, &error));
  g_assert_no_error (error);
  url = vigil_simcam_get_url (f->simcam, 0);
  sub_url = vigil_simcam_get_url (f->simcam, 1);
  vigil_frame_health_settings_init (&settings);
  settings.learning_samples = 3;
  start_recorder (f, url, &settings, 2 * GST_SECOND, sub_url);

  /* Every sample is of the sub-stream, from the first on. */
  expect_healthy (f, shows_sub_scene, settings.learning_samples + 3, "learning the sub-stream's scene");
  for (guint i = 0; i < f->samples->len; i++)
    g_assert_cmpuint (g_array_index (f->samples, VigilFrameSample, i).width, ==, 160);
  /* Its picture is the one judged, not the recorded one. */
  g_assert_true (vigil_simcam_set_picture (f->simcam, 1, VIGIL_SIMCAM_PICTURE_BLACK, &error));
  g_assert_no_error (error);
  index = wait_for (f, VIGIL_FRAME_VERDICT_BLACK, 0, 2, "black on the sub-stream");
  g_assert_cmpuint (g_array_index (f->samples, VigilFrameSample, index).width, ==, 160);
  g_assert_true (vigil_simcam_set_picture (f->simcam, 1, VIGIL_SIMCAM_PICTURE_NORMAL, &error));
  g_assert_no_error (error);
  wait_for (f, VIGIL_FRAME_VERDICT_NONE, 0, 2, "the sub-stream's scene again");

  /* The sub-stream goes: the recorded stream's keyframes are judged. */
  g_test_expect_message ("vigil-pipelines", G_LOG_LEVEL_WARNING,
                         "camera cam0: frame health from the sub-stream failed: *; judging the main stream's "
                         "keyframes for the rest of this run");
  vigil_simcam_set_fault (f->simcam, 1, VIGIL_SIMCAM_FAULT_DROP);
  f->closed = 0;
  expect_healthy (f, shows_main_scene, 3, "the recorded stream's scene");
  g_test_assert_expected_messages ();
  g_assert_false (f->ended);

  /* Recording went on throughout. */
  f->until_closed = f->closed + 1;
  g_main_loop_run (f->loop);
  g_assert_false (f->ended);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func) \
  g_test_add ("/pipelines/frame-health/" path, Analyser, NULL, analyser_set_up, func, analyser_tear_down)
  ADD ("healthy-day", test_healthy_day);
  ADD ("black-white", test_black_white);
  ADD ("frozen", test_frozen);
  ADD ("still-live-scene-is-not-frozen", test_still_live_scene_is_not_frozen);
  ADD ("frozen-behind-running-clock", test_frozen_behind_running_clock);
  ADD ("clean-view-with-motion-is-not-frozen", test_clean_view_with_motion_is_not_frozen);
  ADD ("blurred", test_blurred);
  ADD ("covered", test_covered);
  ADD ("moved", test_moved);
  ADD ("night-is-healthy", test_night_is_healthy);
  ADD ("plain-scene-is-healthy", test_plain_scene_is_healthy);
  ADD ("featureless-view-is-not-judged-moved", test_featureless_view_is_not_judged_moved);
  ADD ("stride-and-size", test_stride_and_size);
#undef ADD
  g_test_add_func ("/pipelines/frame-health/verdict-strings", test_verdict_strings);
  g_test_add_func ("/pipelines/frame-health/cost", test_cost);
  g_test_add ("/pipelines/frame-health/recorder-reports-each-fault", Fixture, NULL, fixture_set_up,
              test_recorder_reports_each_fault, fixture_tear_down);
  g_test_add ("/pipelines/frame-health/sub-stream", Fixture, NULL, fixture_set_up, test_recorder_sub_stream,
              fixture_tear_down);
  g_test_add ("/pipelines/frame-health/h265", Fixture, NULL, fixture_set_up, test_recorder_h265,
              fixture_tear_down);
  g_test_add ("/pipelines/frame-health/decoder-error-keeps-recording", Fixture, NULL, fixture_set_up,
              test_decoder_error_keeps_recording, fixture_tear_down);
  return g_test_run ();
}
