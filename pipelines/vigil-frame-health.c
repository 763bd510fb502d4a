/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilFrameHealth: per-sample picture metrics and verdicts for one camera.
 * It works on a "working picture", the input box-averaged to at most
 * VIGIL_FRAME_HEALTH_WORKING_WIDTH pixels wide, so that every measure means
 * the same at 720p and 4K and a sample costs a fixed amount after one pass
 * over the input. It must never allocate per sample, never share state
 * between cameras and never decide how long a condition lasts (the alert
 * model in daemon/ does).
 *
 * Why these measures:
 * - "One colour" is the fraction of pixels in the most populated narrow
 *   luma band, not the standard deviation: a lens cap under a white clock
 *   overlay has a large standard deviation but is still 95 % one band.
 * - Sharpness and contrast are also taken per tile, at a percentile, so
 *   that the camera's own text overlay (which stays sharp and bright when
 *   the lens is defocused or covered) or a flat sky cannot decide them;
 *   relative sharpness divides each tile's sharpness by its contrast, so
 *   that dusk or an iris change does not look like blur, while sensor
 *   noise at night only raises it.
 * - "Unchanged" is judged on the fine picture, the input point-sampled
 *   rather than averaged, so that sensor noise survives, in blocks: a live
 *   scene, however still, has noise in every textured block, and each
 *   keyframe is coded from a new noisy picture, so almost no block comes
 *   out bit-identical twice (measured on libx264 and libx265 clips: at
 *   most 6 % of them). A camera whose picture is stuck codes the same input
 *   again and again: wherever its quantiser did not move, blocks come out
 *   bit-identical (20 % to 100 % of them), and where it did, they change
 *   by a level or two. Rate control often swings between a few quantisers,
 *   so a block counts as identical when it matches the previous sample or
 *   one of the few before it. A mean difference cannot tell the two apart
 *   (the quantiser's swings on a stuck noisy picture change as much as
 *   faint noise does on a live one); identity can. Moving blocks (a few
 *   levels of mean change) are counted apart: a clock overlay running over
 *   a stuck picture moves a few, a passer-by many.
 * - The view is compared on a coarse grid of cell means by rank
 *   correlation (Spearman's), so light changes do not count as a move, a
 *   bright overlay or lamp in a dark scene does not outweigh the rest, and
 *   small moving things count little. */
#include "vigil-frame-health.h"

#include <math.h>
#include <string.h>

#define TILES_X 8
#define TILES_Y 6
#define N_TILES (TILES_X * TILES_Y)
#define GRID_WIDTH 32
#define FINE_BLOCK VIGIL_FRAME_HEALTH_FINE_BLOCK
/* Earlier samples a block may be identical to (the previous one included). */
#define FROZEN_HISTORY 4
/* Blocks whose luma spreads over fewer levels carry no noise to compare
 * (black sky, a clipped highlight, a privacy mask). */
#define TEXTURED_SPREAD 2
/* Fewer textured blocks than this: identity is not judged. */
#define MIN_TEXTURED_BLOCKS 8
#define MIN_INPUT 16      /* pixels, each side */

G_DEFINE_FLAGS_TYPE (VigilFrameVerdict, vigil_frame_verdict,
                     G_DEFINE_ENUM_VALUE (VIGIL_FRAME_VERDICT_NONE, "none"),
                     G_DEFINE_ENUM_VALUE (VIGIL_FRAME_VERDICT_BLACK, "black"),
                     G_DEFINE_ENUM_VALUE (VIGIL_FRAME_VERDICT_WHITE, "white"),
                     G_DEFINE_ENUM_VALUE (VIGIL_FRAME_VERDICT_FROZEN, "frozen"),
                     G_DEFINE_ENUM_VALUE (VIGIL_FRAME_VERDICT_BLURRED, "blurred"),
                     G_DEFINE_ENUM_VALUE (VIGIL_FRAME_VERDICT_COVERED, "covered"),
                     G_DEFINE_ENUM_VALUE (VIGIL_FRAME_VERDICT_MOVED, "moved"))

G_DEFINE_BOXED_TYPE (VigilFrameSample, vigil_frame_sample, vigil_frame_sample_copy, vigil_frame_sample_free)

struct _VigilFrameHealth
{
  GObject                   parent_instance;

  VigilFrameHealthSettings  settings;          /* immutable */

  GMutex                    request_lock;
  /* Protected by request_lock: requests from other threads. */
  gboolean                  relearn_requested;
  gboolean                  forget_requested;
  gint64                    suppress_moved_until_us;

  /* Analysis thread only. Sized for in_width x in_height; 0 before the
   * first sample. */
  guint                     in_width, in_height;
  guint                     width, height;     /* working picture */
  guint                    *col_start;         /* width + 1: input column of each output column */
  guint                    *row_start;         /* height + 1: input row of each output row */
  guint32                  *column_sums;       /* in_width: input rows summed, per column */
  guint8                   *work;              /* width * height: this sample */
  guint                     fine_step;         /* input pixels between fine pixels */
  guint                     fine_width, fine_height;
  guint8                   *fine;              /* fine_width * fine_height: this sample */
  guint8                   *fine_previous;     /* the same for the sample before */
  guint                     n_blocks;          /* whole FINE_BLOCK blocks of the fine picture */
  guint64                  *hashes;            /* n_blocks: this sample's, block by block */
  /* n_blocks each: the samples before, newest first. A block's hash
   * stands for its 256 pixels where only identity matters, so the history
   * costs 8 bytes a block rather than a picture. */
  guint64                  *hash_history[FROZEN_HISTORY];
  guint                     n_history;         /* valid entries of hash_history (and fine_previous) */
  guint                     unchanged;         /* samples in a row without change */
  guint                     grid_width, grid_height;
  guint16                  *cell_steps;        /* grid cells: this sample's means, in quarter levels */
  gdouble                  *grid;              /* grid cells: this sample's ranks, mean 0, std 1 */
  gdouble                  *reference;         /* grid cells: the learned view */
  guint                     reference_samples; /* averaged into reference; < learning: learning */

  guint                     baseline_samples;  /* < learning_samples: learning */
  gdouble                   base_tile_contrast, base_sharpness, base_uniform;
  guint                     ratio_samples;     /* learned into base_ratio; textureless samples have none */
  gdouble                   base_ratio;        /* texture ratio; 0 while unknown */
};

G_DEFINE_FINAL_TYPE (VigilFrameHealth, vigil_frame_health, G_TYPE_OBJECT)

VigilFrameSample *
vigil_frame_sample_copy (const VigilFrameSample *sample)
{
  return g_memdup2 (sample, sizeof *sample);
}

void
vigil_frame_sample_free (VigilFrameSample *sample)
{
  g_free (sample);
}

gchar *
vigil_frame_verdict_to_string (VigilFrameVerdict verdicts)
{
  GFlagsClass *klass = g_type_class_ref (VIGIL_TYPE_FRAME_VERDICT);
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < klass->n_values; i++)
    if (klass->values[i].value != 0 && (verdicts & klass->values[i].value) == klass->values[i].value)
      {
        if (out->len > 0)
          g_string_append_c (out, '|');
        g_string_append (out, klass->values[i].value_nick);
      }
  if (out->len == 0)
    g_string_append (out, "none");
  g_type_class_unref (klass);
  return g_string_free (out, FALSE);
}

void
vigil_frame_health_settings_init (VigilFrameHealthSettings *settings)
{
  g_return_if_fail (settings != NULL);
  *settings = (VigilFrameHealthSettings) {
    .learning_samples = 30,
    .relearn_samples = 1800,
    .band_luma = 16,
    .uniform_fraction = 0.85,
    .black_luma = 40,
    .white_luma = 215,
    .frozen_identical_fraction = 0.12,
    .frozen_moving_fraction = 0.05,
    .frozen_samples = 3,
    .blurred_ratio = 0.4,
    .collapse_ratio = 0.2,
    .uniform_margin = 0.15,
    .moved_difference = 0.6,
    .min_contrast = 4,
  };
}

/* ---- buffers ---------------------------------------------------------- */

static void
free_buffers (VigilFrameHealth *self)
{
  g_clear_pointer (&self->col_start, g_free);
  g_clear_pointer (&self->row_start, g_free);
  g_clear_pointer (&self->column_sums, g_free);
  g_clear_pointer (&self->work, g_free);
  g_clear_pointer (&self->fine, g_free);
  g_clear_pointer (&self->fine_previous, g_free);
  g_clear_pointer (&self->hashes, g_free);
  for (guint i = 0; i < FROZEN_HISTORY; i++)
    g_clear_pointer (&self->hash_history[i], g_free);
  g_clear_pointer (&self->cell_steps, g_free);
  g_clear_pointer (&self->grid, g_free);
  g_clear_pointer (&self->reference, g_free);
}

/* Sizes everything for @in_width x @in_height and forgets all learning. */
static void
set_input_size (VigilFrameHealth *self, guint in_width, guint in_height)
{
  guint w = MIN (in_width, VIGIL_FRAME_HEALTH_WORKING_WIDTH);
  guint h = MAX ((guint) (((guint64) in_height * w + in_width / 2) / in_width), MIN_INPUT);

  free_buffers (self);
  self->in_width = in_width;
  self->in_height = in_height;
  self->width = w;
  self->height = MIN (h, in_height);
  self->col_start = g_new (guint, self->width + 1);
  self->row_start = g_new (guint, self->height + 1);
  for (guint i = 0; i <= self->width; i++)
    self->col_start[i] = (guint) ((guint64) i * in_width / self->width);
  for (guint i = 0; i <= self->height; i++)
    self->row_start[i] = (guint) ((guint64) i * in_height / self->height);
  self->column_sums = g_new (guint32, in_width);
  self->work = g_new (guint8, (gsize) self->width * self->height);

  self->fine_step = (in_width + VIGIL_FRAME_HEALTH_FINE_WIDTH - 1) / VIGIL_FRAME_HEALTH_FINE_WIDTH;
  self->fine_width = in_width / self->fine_step;
  self->fine_height = in_height / self->fine_step;
  self->fine = g_new (guint8, (gsize) self->fine_width * self->fine_height);
  self->fine_previous = g_new (guint8, (gsize) self->fine_width * self->fine_height);
  self->n_blocks = (self->fine_width / FINE_BLOCK) * (self->fine_height / FINE_BLOCK);
  self->hashes = g_new (guint64, MAX (self->n_blocks, 1));
  for (guint i = 0; i < FROZEN_HISTORY; i++)
    self->hash_history[i] = g_new (guint64, MAX (self->n_blocks, 1));

  self->grid_width = MIN (GRID_WIDTH, self->width);
  self->grid_height = CLAMP ((self->height * self->grid_width + self->width / 2) / self->width, 4,
                             MIN (GRID_WIDTH, self->height));
  self->cell_steps = g_new0 (guint16, self->grid_width * self->grid_height);
  self->grid = g_new0 (gdouble, self->grid_width * self->grid_height);
  self->reference = g_new0 (gdouble, self->grid_width * self->grid_height);

  self->n_history = 0;
  self->unchanged = 0;
  self->reference_samples = 0;
  self->baseline_samples = 0;
  self->base_tile_contrast = self->base_sharpness = self->base_ratio = 0;
  self->base_uniform = 0;
  self->ratio_samples = 0;
}

/* ---- measures --------------------------------------------------------- */

/* sums[x] += in[x] for x < n. In fixed runs of 16 with restrict pointers,
 * which GCC vectorises at -O2 (its cheapest cost model does not take loops
 * of unknown length, nor bytes that might alias the sums). */
static void
add_row (guint32 *restrict sums, const guint8 *restrict in, guint n)
{
  gsize x = 0;

  for (; x + 16 <= n; x += 16)
    {
      guint32 *restrict s = sums + x;
      const guint8 *restrict i = in + x;

      for (gsize k = 0; k < 16; k++)
        s[k] += i[k];
    }
  for (; x < n; x++)
    sums[x] += in[x];
}

/* Box-averages the input into self->work: each working pixel is the
 * rounded mean of its (almost equal-sized) rectangle of input pixels. The
 * input rows of one working row are first summed per column (add_row);
 * that pass over the input is most of a sample's cost. */
static void
downscale (VigilFrameHealth *self, const guint8 *luma, gsize stride)
{
  guint w = self->width, in_w = self->in_width;
  guint32 *sums = self->column_sums;

  for (guint y = 0; y < self->height; y++)
    {
      guint rows = self->row_start[y + 1] - self->row_start[y];
      guint8 *out = self->work + (gsize) y * w;

      memset (sums, 0, in_w * sizeof *sums);
      for (guint sy = self->row_start[y]; sy < self->row_start[y + 1]; sy++)
        add_row (sums, luma + (gsize) sy * stride, in_w);
      for (guint x = 0; x < w; x++)
        {
          guint32 sum = 0, area = rows * (self->col_start[x + 1] - self->col_start[x]);

          for (guint sx = self->col_start[x]; sx < self->col_start[x + 1]; sx++)
            sum += sums[sx];
          out[x] = (guint8) ((sum + area / 2) / area);
        }
    }
}

static void
measure_levels (VigilFrameHealth *self, VigilFrameSample *out)
{
  guint32 histogram[256] = { 0 };
  guint64 sum = 0, sum_squares = 0, in_band = 0, best = 0;
  gsize n = (gsize) self->width * self->height;
  guint band = CLAMP (self->settings.band_luma, 1, 256);
  gdouble mean;

  for (gsize i = 0; i < n; i++)
    {
      guint v = self->work[i];

      histogram[v]++;
      sum += v;
      sum_squares += v * v;
    }
  for (guint v = 0; v < 256; v++)
    {
      in_band += histogram[v];
      if (v >= band)
        in_band -= histogram[v - band];
      best = MAX (best, in_band);
    }
  mean = (gdouble) sum / n;
  out->mean_luma = mean;
  out->contrast = sqrt (MAX ((gdouble) sum_squares / n - mean * mean, 0));
  out->uniform_fraction = (gdouble) best / n;
}

/* Sorts the (at most 48) tile values in place. Not qsort(): glibc's may
 * allocate, and a sample must not. */
static void
sort_doubles (gdouble *values, guint n)
{
  for (guint i = 1; i < n; i++)
    {
      gdouble v = values[i];
      guint j = i;

      for (; j > 0 && values[j - 1] > v; j--)
        values[j] = values[j - 1];
      values[j] = v;
    }
}

/* Per tile of an 8x6 grid: the RMS of the 4-neighbour Laplacian and the
 * standard deviation. Sharpness and tile contrast are their 75th
 * percentiles; the texture ratio is the median of their quotient over the
 * tiles with some contrast (-1 when fewer than a quarter have it), which a
 * defocus lowers while light changes and overlays on a few tiles leave it
 * be. */
static gdouble
measure_sharpness (VigilFrameHealth *self, VigilFrameSample *out)
{
  gdouble sharp[N_TILES], deviations[N_TILES], ratio[N_TILES];
  guint w = self->width, h = self->height, n = 0, n_ratio = 0;

  for (guint ty = 0; ty < TILES_Y; ty++)
    for (guint tx = 0; tx < TILES_X; tx++)
      {
        guint x0 = MAX (tx * w / TILES_X, 1), x1 = MIN ((tx + 1) * w / TILES_X, w - 1);
        guint y0 = MAX (ty * h / TILES_Y, 1), y1 = MIN ((ty + 1) * h / TILES_Y, h - 1);
        guint64 sum_laplacian = 0, sum = 0, sum_squares = 0, count = 0;
        gdouble mean, deviation;

        if (x1 <= x0 || y1 <= y0)
          continue;
        for (guint y = y0; y < y1; y++)
          {
            const guint8 *row = self->work + (gsize) y * w;
            const guint8 *up = row - w, *down = row + w;

            for (guint x = x0; x < x1; x++)
              {
                gint laplacian = 4 * row[x] - row[x - 1] - row[x + 1] - up[x] - down[x];

                sum_laplacian += (guint64) (laplacian * laplacian);
                sum += row[x];
                sum_squares += row[x] * row[x];
              }
            count += x1 - x0;
          }
        sharp[n++] = sqrt ((gdouble) sum_laplacian / count);
        mean = (gdouble) sum / count;
        deviation = sqrt (MAX ((gdouble) sum_squares / count - mean * mean, 0));
        deviations[n - 1] = deviation;
        if (deviation >= MAX (self->settings.min_contrast, 1))
          ratio[n_ratio++] = sharp[n - 1] / deviation;
      }
  out->sharpness = out->tile_contrast = 0;
  if (n == 0)
    return -1;
  sort_doubles (sharp, n);
  out->sharpness = sharp[(n - 1) * 3 / 4];
  sort_doubles (deviations, n);
  out->tile_contrast = deviations[(n - 1) * 3 / 4];
  if (n_ratio < MAX (N_TILES / 4, 1))
    return -1;
  sort_doubles (ratio, n_ratio);
  return ratio[(n_ratio - 1) / 2];
}

/* Point-samples the input into self->fine, each fine pixel the input
 * pixel at the centre of its fine_step x fine_step cell. */
static void
sample_fine (VigilFrameHealth *self, const guint8 *luma, gsize stride)
{
  guint step = self->fine_step, offset = step / 2;

  for (guint y = 0; y < self->fine_height; y++)
    {
      const guint8 *in = luma + ((gsize) y * step + offset) * stride + offset;
      guint8 *out = self->fine + (gsize) y * self->fine_width;

      if (step == 1)
        memcpy (out, in, self->fine_width);
      else
        for (guint x = 0; x < self->fine_width; x++)
          out[x] = in[(gsize) x * step];
    }
}

/* A 64-bit hash of each whole block of the fine picture into
 * self->hashes (a multiply-xorshift mix of its rows, 8 bytes at a time):
 * equal blocks hash equal, and two different ones collide with a chance
 * of about 2^-64. */
static void
hash_blocks (VigilFrameHealth *self)
{
  guint fw = self->fine_width, blocks_x = fw / FINE_BLOCK, blocks_y = self->fine_height / FINE_BLOCK;

  G_STATIC_ASSERT (FINE_BLOCK % 8 == 0);
  for (guint by = 0; by < blocks_y; by++)
    for (guint bx = 0; bx < blocks_x; bx++)
      {
        guint64 h = G_GUINT64_CONSTANT (0x9e3779b97f4a7c15);

        for (guint y = by * FINE_BLOCK; y < (by + 1) * FINE_BLOCK; y++)
          {
            const guint8 *row = self->fine + (gsize) y * fw + bx * FINE_BLOCK;

            for (guint x = 0; x < FINE_BLOCK; x += 8)
              {
                guint64 word;

                memcpy (&word, row + x, sizeof word);
                h = (h ^ word) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
                h ^= h >> 31;
              }
          }
        self->hashes[by * blocks_x + bx] = h;
      }
}

/* Compares the fine picture with the ones before it, block by block: the
 * mean difference to the previous one, the share of moving blocks, and the
 * share of textured blocks identical to one of the history's. Only whole
 * blocks count; a picture has at least one (MIN_INPUT). */
static void
measure_change (VigilFrameHealth *self, VigilFrameSample *out)
{
  guint fw = self->fine_width, blocks_x = fw / FINE_BLOCK, blocks_y = self->fine_height / FINE_BLOCK;
  guint n_blocks = MAX (self->n_blocks, 1), textured = 0, identical = 0, moving = 0;
  guint64 total = 0;

  for (guint by = 0; by < blocks_y; by++)
    for (guint bx = 0; bx < blocks_x; bx++)
      {
        guint b = by * blocks_x + bx, lo = 255, hi = 0;
        guint32 sum = 0;

        for (guint y = by * FINE_BLOCK; y < (by + 1) * FINE_BLOCK; y++)
          {
            gsize row = (gsize) y * fw + bx * FINE_BLOCK;
            const guint8 *a = self->fine + row, *p = self->fine_previous + row;

            for (guint x = 0; x < FINE_BLOCK; x++)
              {
                lo = MIN (lo, a[x]);
                hi = MAX (hi, a[x]);
                sum += (guint32) ABS ((gint) a[x] - (gint) p[x]);
              }
          }
        total += sum;
        if (sum >= VIGIL_FRAME_HEALTH_MOVING_LUMA * FINE_BLOCK * FINE_BLOCK)
          moving++;
        if (hi - lo >= TEXTURED_SPREAD)
          {
            textured++;
            for (guint k = 0; k < self->n_history; k++)
              if (self->hashes[b] == self->hash_history[k][b])
                {
                  identical++;
                  break;
                }
          }
      }
  out->diff_previous = (gdouble) total / ((gsize) n_blocks * FINE_BLOCK * FINE_BLOCK);
  out->moving_fraction = (gdouble) moving / n_blocks;
  out->identical_fraction = textured >= MIN_TEXTURED_BLOCKS ? (gdouble) identical / textured : -1;
}

/* This sample becomes the newest of the history. */
static void
push_history (VigilFrameHealth *self)
{
  guint64 *oldest = self->hash_history[FROZEN_HISTORY - 1];
  guint8 *swap = self->fine_previous;

  memmove (self->hash_history + 1, self->hash_history, (FROZEN_HISTORY - 1) * sizeof *self->hash_history);
  self->hash_history[0] = self->hashes;
  self->hashes = oldest;
  self->fine_previous = self->fine;
  self->fine = swap;
  self->n_history = MIN (self->n_history + 1, FROZEN_HISTORY);
}

/* Cell means are ranked in quarter levels: closer means count as equal
 * (rounding), and a counting sort over the 1021 possible values allocates
 * nothing. */
#define RANK_STEPS 1021

/* Fills self->grid with the ranks of the cell means, scaled to mean 0 and
 * standard deviation 1; FALSE (grid zero) when the picture has no
 * structure. Ranks rather than the means themselves: a bright overlay or
 * lamp in a dark scene would otherwise outweigh everything else, and any
 * monotonic change of the light (a darker evening, a gamma change) leaves
 * the ranks as they are. Equal means share their average rank, so a flat
 * picture has no structure at all. */
static gboolean
measure_grid (VigilFrameHealth *self)
{
  guint gw = self->grid_width, gh = self->grid_height, n = gw * gh;
  guint counts[RANK_STEPS] = { 0 };
  gdouble mean = (n - 1) / 2.0, variance = 0, scale;
  guint below = 0;

  for (guint gy = 0; gy < gh; gy++)
    for (guint gx = 0; gx < gw; gx++)
      {
        guint x0 = gx * self->width / gw, x1 = (gx + 1) * self->width / gw;
        guint y0 = gy * self->height / gh, y1 = (gy + 1) * self->height / gh;
        guint32 sum = 0;
        guint step;

        for (guint y = y0; y < y1; y++)
          for (guint x = x0; x < x1; x++)
            sum += self->work[(gsize) y * self->width + x];
        /* 4 * mean, rounded: 0..1020. */
        step = (4 * sum + (x1 - x0) * (y1 - y0) / 2) / ((x1 - x0) * (y1 - y0));
        self->cell_steps[gy * gw + gx] = (guint16) step;
        counts[step]++;
      }
  /* counts[] becomes each step's average rank, doubled to stay whole. */
  for (guint step = 0; step < RANK_STEPS; step++)
    {
      guint count = counts[step];

      counts[step] = 2 * below + (count > 0 ? count - 1 : 0);
      below += count;
    }
  for (guint i = 0; i < n; i++)
    {
      self->grid[i] = counts[self->cell_steps[i]] / 2.0;
      variance += (self->grid[i] - mean) * (self->grid[i] - mean);
    }
  variance /= n;
  /* Fewer than a handful of distinct cells is no structure to compare. */
  if (variance < n / 100.0)
    {
      memset (self->grid, 0, n * sizeof *self->grid);
      return FALSE;
    }
  scale = 1 / sqrt (variance);
  for (guint i = 0; i < n; i++)
    self->grid[i] = (self->grid[i] - mean) * scale;
  return TRUE;
}

/* A reference view whose cells' ranks spread less than this (they are
 * normalised to 1 in each sample) is mostly noise that averaged out: a
 * plain wall, fog. Ranks of noise correlate at random, so such a view
 * cannot tell a re-aimed camera from an unchanged one. */
#define REFERENCE_MIN_SPREAD 0.7

/* 1 - Pearson correlation of the grid (ranks, so Spearman's) with the
 * reference; -1 when the reference has too little structure. */
static gdouble
scene_difference (VigilFrameHealth *self)
{
  guint n = self->grid_width * self->grid_height;
  gdouble mean = 0, variance = 0, product = 0;

  for (guint i = 0; i < n; i++)
    mean += self->reference[i];
  mean /= n;
  for (guint i = 0; i < n; i++)
    {
      gdouble r = self->reference[i] - mean;

      variance += r * r;
      product += self->grid[i] * r;
    }
  if (variance <= 1e-9 || sqrt (variance / n) < REFERENCE_MIN_SPREAD)
    return -1;
  return 1 - product / sqrt (variance * n);
}

/* ---- analysis --------------------------------------------------------- */

/* Moves @value towards @sample: a running mean over the first @count
 * samples, then an exponential average with time constant @relearn. */
static void
learn (gdouble *value, gdouble sample, guint count, guint learning, guint relearn)
{
  if (count < learning)
    *value += (sample - *value) / (count + 1);
  else
    *value += (sample - *value) / MAX (relearn, 1);
}

void
vigil_frame_health_analyze (VigilFrameHealth *self, const guint8 *luma, guint width, guint height,
                            gsize stride, gint64 wall_us, VigilFrameSample *out)
{
  const VigilFrameHealthSettings *s;
  gboolean relearn, forget, has_grid, uniform, baseline_ready, reference_ready;
  gdouble texture_ratio;
  gint64 suppress_until_us;
  VigilFrameVerdict v = VIGIL_FRAME_VERDICT_NONE;

  g_return_if_fail (VIGIL_IS_FRAME_HEALTH (self));
  g_return_if_fail (luma != NULL && out != NULL);
  g_return_if_fail (width >= MIN_INPUT && height >= MIN_INPUT && stride >= width);
  s = &self->settings;

  g_mutex_lock (&self->request_lock);
  relearn = self->relearn_requested;
  forget = self->forget_requested;
  self->relearn_requested = self->forget_requested = FALSE;
  suppress_until_us = self->suppress_moved_until_us;
  g_mutex_unlock (&self->request_lock);

  if (width != self->in_width || height != self->in_height)
    set_input_size (self, width, height);
  if (forget)
    {
      self->n_history = 0;
      self->unchanged = 0;
    }
  if (relearn)
    {
      self->reference_samples = 0;
      memset (self->reference, 0, self->grid_width * self->grid_height * sizeof *self->reference);
    }

  memset (out, 0, sizeof *out);
  out->wall_us = wall_us;
  out->width = width;
  out->height = height;

  downscale (self, luma, stride);
  sample_fine (self, luma, stride);
  hash_blocks (self);
  measure_levels (self, out);
  texture_ratio = measure_sharpness (self, out);
  has_grid = measure_grid (self);
  if (self->n_history > 0)
    {
      measure_change (self, out);
      if (out->identical_fraction >= s->frozen_identical_fraction
          && out->moving_fraction <= s->frozen_moving_fraction)
        self->unchanged++;
      else
        self->unchanged = 0;
    }
  else
    {
      out->diff_previous = out->identical_fraction = out->moving_fraction = -1;
      self->unchanged = 0;
    }
  out->unchanged_samples = self->unchanged;

  baseline_ready = self->baseline_samples >= s->learning_samples;
  reference_ready = self->reference_samples >= s->learning_samples;
  out->is_learning = !baseline_ready || !reference_ready;

  uniform = out->uniform_fraction >= s->uniform_fraction;
  if (uniform && out->mean_luma <= s->black_luma)
    v |= VIGIL_FRAME_VERDICT_BLACK;
  else if (uniform && out->mean_luma >= s->white_luma)
    v |= VIGIL_FRAME_VERDICT_WHITE;
  else if (baseline_ready
           && ((uniform && self->base_uniform < s->uniform_fraction - s->uniform_margin)
               || (out->tile_contrast <= s->collapse_ratio * self->base_tile_contrast
                   && out->sharpness <= s->collapse_ratio * self->base_sharpness)))
    v |= VIGIL_FRAME_VERDICT_COVERED;

  /* A picture of one colour looks the same from one sample to the next
   * whether or not the camera still works, so it is not called frozen. */
  if (v == VIGIL_FRAME_VERDICT_NONE && self->unchanged >= MAX (s->frozen_samples, 1))
    v |= VIGIL_FRAME_VERDICT_FROZEN;

  out->relative_sharpness = -1;
  if (baseline_ready && self->base_ratio > 0 && texture_ratio >= 0)
    out->relative_sharpness = texture_ratio / self->base_ratio;
  if (!(v & (VIGIL_FRAME_VERDICT_BLACK | VIGIL_FRAME_VERDICT_WHITE | VIGIL_FRAME_VERDICT_COVERED))
      && out->relative_sharpness >= 0 && out->relative_sharpness <= s->blurred_ratio)
    v |= VIGIL_FRAME_VERDICT_BLURRED;

  out->scene_difference = reference_ready && has_grid ? scene_difference (self) : -1;
  if (v == VIGIL_FRAME_VERDICT_NONE && out->scene_difference >= s->moved_difference
      && out->contrast >= s->min_contrast && wall_us >= suppress_until_us)
    v |= VIGIL_FRAME_VERDICT_MOVED;
  out->verdicts = v;

  /* Learning: never from a picture that is plainly broken; after the
   * learning phase, only from pictures without any verdict, so a covered
   * or re-aimed camera is not slowly accepted as normal. */
  if (!(v & (VIGIL_FRAME_VERDICT_BLACK | VIGIL_FRAME_VERDICT_WHITE | VIGIL_FRAME_VERDICT_FROZEN))
      && (!baseline_ready || v == VIGIL_FRAME_VERDICT_NONE) && out->contrast > 0)
    {
      learn (&self->base_tile_contrast, out->tile_contrast, self->baseline_samples, s->learning_samples,
             s->relearn_samples);
      learn (&self->base_sharpness, out->sharpness, self->baseline_samples, s->learning_samples,
             s->relearn_samples);
      /* base_ratio stays 0 (BLURRED is not judged) if the camera's
       * picture never has enough texture. */
      if (texture_ratio >= 0)
        {
          learn (&self->base_ratio, texture_ratio, self->ratio_samples, s->learning_samples,
                 s->relearn_samples);
          self->ratio_samples = MIN (self->ratio_samples + 1, s->learning_samples);
        }
      learn (&self->base_uniform, out->uniform_fraction, self->baseline_samples, s->learning_samples,
             s->relearn_samples);
      if (!baseline_ready)
        self->baseline_samples++;
    }
  if (has_grid && v == VIGIL_FRAME_VERDICT_NONE)
    {
      /* While the reference is learned afresh the baselines already
       * judge; a picture they flag is not learned. */
      guint n = self->grid_width * self->grid_height;

      for (guint i = 0; i < n; i++)
        learn (&self->reference[i], self->grid[i], self->reference_samples, s->learning_samples,
               s->relearn_samples);
      if (!reference_ready)
        self->reference_samples++;
    }

  push_history (self);
}

/* ---- requests --------------------------------------------------------- */

void
vigil_frame_health_relearn_reference (VigilFrameHealth *self)
{
  g_return_if_fail (VIGIL_IS_FRAME_HEALTH (self));
  g_mutex_lock (&self->request_lock);
  self->relearn_requested = TRUE;
  g_mutex_unlock (&self->request_lock);
}

void
vigil_frame_health_suppress_moved (VigilFrameHealth *self, gint64 until_us)
{
  g_return_if_fail (VIGIL_IS_FRAME_HEALTH (self));
  g_mutex_lock (&self->request_lock);
  self->suppress_moved_until_us = until_us;
  g_mutex_unlock (&self->request_lock);
}

void
vigil_frame_health_forget_previous (VigilFrameHealth *self)
{
  g_return_if_fail (VIGIL_IS_FRAME_HEALTH (self));
  g_mutex_lock (&self->request_lock);
  self->forget_requested = TRUE;
  g_mutex_unlock (&self->request_lock);
}

const VigilFrameHealthSettings *
vigil_frame_health_get_settings (VigilFrameHealth *self)
{
  g_return_val_if_fail (VIGIL_IS_FRAME_HEALTH (self), NULL);
  return &self->settings;
}

/* ---- GObject ---------------------------------------------------------- */

static void
vigil_frame_health_finalize (GObject *object)
{
  VigilFrameHealth *self = VIGIL_FRAME_HEALTH (object);

  free_buffers (self);
  g_mutex_clear (&self->request_lock);
  G_OBJECT_CLASS (vigil_frame_health_parent_class)->finalize (object);
}

static void
vigil_frame_health_class_init (VigilFrameHealthClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vigil_frame_health_finalize;
}

static void
vigil_frame_health_init (VigilFrameHealth *self)
{
  g_mutex_init (&self->request_lock);
}

VigilFrameHealth *
vigil_frame_health_new (const VigilFrameHealthSettings *settings)
{
  VigilFrameHealth *self = g_object_new (VIGIL_TYPE_FRAME_HEALTH, NULL);

  if (settings != NULL)
    self->settings = *settings;
  else
    vigil_frame_health_settings_init (&self->settings);
  return self;
}
