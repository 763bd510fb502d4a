/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigil_mp4_move_moov_to_front() on files mp4mux wrote and on files built
 * box by box: the moov ends up in front, every chunk offset still points at
 * the bytes it pointed at, the result plays through qtdemux, and input it
 * cannot parse (truncated, oversized or missing boxes) fails with the file
 * left as it was. Writes only into each test's temporary folder. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <string.h>

#include "vigil-mp4-faststart.h"
#include "vigil-test-util.h"

/* Chunk bytes compared before and after the move, at most. */
#define SAMPLE_PROBE 64
#define SECONDS_1904_TO_1970 G_GUINT64_CONSTANT (2082844800)
/* 2026-11-28 18:41:00.250 UTC. */
#define CREATION_US G_GINT64_CONSTANT (1795891260250000)

typedef struct {
  gchar *dir;      /* temporary */
  gchar *mp4;      /* in dir */
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  f->dir = vigil_test_make_tmp_dir ();
  f->mp4 = g_build_filename (f->dir, "clip.mp4", NULL);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  g_clear_pointer (&f->mp4, g_free);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

/* ----- reading boxes (independently of the code under test) -------------- */

static guint64
get_be (const guint8 *p, guint n_bytes)
{
  guint64 value = 0;

  for (guint i = 0; i < n_bytes; i++)
    value = (value << 8) | p[i];
  return value;
}

static GBytes *
load (const gchar *path)
{
  g_autoptr(GError) error = NULL;
  gchar *data = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (path, &data, &len, &error));
  g_assert_no_error (error);
  return g_bytes_new_take (data, len);
}

/* One box at @data[pos]: its header and total size (both bounded by @len). */
static void
box_at (const guint8 *data, gsize len, gsize pos, gsize *header, guint64 *size)
{
  g_assert_cmpuint (len - pos, >=, 8);
  *header = 8;
  *size = get_be (data + pos, 4);
  if (*size == 1)
    {
      g_assert_cmpuint (len - pos, >=, 16);
      *header = 16;
      *size = get_be (data + pos + 8, 8);
    }
  else if (*size == 0)
    *size = len - pos;
  g_assert_cmpuint (*size, >=, *header);
  g_assert_cmpuint (*size, <=, len - pos);
}

/* The top-level boxes of @bytes as "ftyp moov mdat". */
static gchar *
top_level (GBytes *bytes)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  GString *types = g_string_new (NULL);
  gsize header;
  guint64 size;

  for (gsize pos = 0; pos < len; pos += size)
    {
      box_at (data, len, pos, &header, &size);
      g_string_append_printf (types, "%s%.4s", types->len > 0 ? " " : "", data + pos + 4);
    }
  return g_string_free (types, FALSE);
}

typedef struct {
  GArray  *offsets;      /* guint64, every chunk offset in table order */
  guint    n_stco, n_co64;
  guint64  mvhd_creation;
} Tables;

static void
tables_clear (Tables *t)
{
  g_clear_pointer (&t->offsets, g_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Tables, tables_clear)

static void
walk (const guint8 *data, gsize len, Tables *t)
{
  static const gchar *const containers[] = { "moov", "trak", "mdia", "minf", "stbl" };
  gsize header;
  guint64 size;

  for (gsize pos = 0; pos < len; pos += size)
    {
      const guint8 *body;

      box_at (data, len, pos, &header, &size);
      body = data + pos + header;
      for (guint i = 0; i < G_N_ELEMENTS (containers); i++)
        if (memcmp (data + pos + 4, containers[i], 4) == 0)
          walk (body, size - header, t);
      if (memcmp (data + pos + 4, "stco", 4) == 0 || memcmp (data + pos + 4, "co64", 4) == 0)
        {
          guint entry = data[pos + 4] == 'c' ? 8 : 4;
          guint64 n = get_be (body + 4, 4);

          g_assert_cmpuint (8 + n * entry, <=, size - header);
          for (guint64 i = 0; i < n; i++)
            {
              guint64 offset = get_be (body + 8 + i * entry, entry);

              g_array_append_val (t->offsets, offset);
            }
          if (entry == 8)
            t->n_co64++;
          else
            t->n_stco++;
        }
      if (memcmp (data + pos + 4, "mvhd", 4) == 0)
        t->mvhd_creation = body[0] == 1 ? get_be (body + 4, 8) : get_be (body + 4, 4);
    }
}

static void
read_tables (GBytes *bytes, Tables *t)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);

  t->offsets = g_array_new (FALSE, FALSE, sizeof (guint64));
  walk (data, len, t);
}

/* Every chunk offset of @after points at the bytes the same offset of
 * @before pointed at; offsets past the end of @before (hand-built files)
 * must have moved by @expected_shift. */
static void
assert_same_chunks (GBytes *before, GBytes *after, guint64 expected_shift)
{
  g_auto(Tables) old = { 0, };
  g_auto(Tables) new = { 0, };
  gsize old_len, new_len;
  const guint8 *old_data = g_bytes_get_data (before, &old_len);
  const guint8 *new_data = g_bytes_get_data (after, &new_len);

  read_tables (before, &old);
  read_tables (after, &new);
  g_assert_cmpuint (old.offsets->len, >, 0);
  g_assert_cmpuint (new.offsets->len, ==, old.offsets->len);
  for (guint i = 0; i < old.offsets->len; i++)
    {
      guint64 was = g_array_index (old.offsets, guint64, i);
      guint64 is = g_array_index (new.offsets, guint64, i);
      gsize n;

      g_assert_cmpuint (is - was, ==, expected_shift);
      if (was >= old_len)
        continue;
      n = MIN (SAMPLE_PROBE, old_len - was);
      g_assert_cmpuint (is + n, <=, new_len);
      g_assert_cmpmem (new_data + is, n, old_data + was, n);
    }
}

static gsize
moov_size (GBytes *bytes)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  gsize header;
  guint64 size;

  for (gsize pos = 0; pos < len; pos += size)
    {
      box_at (data, len, pos, &header, &size);
      if (memcmp (data + pos + 4, "moov", 4) == 0)
        return size;
    }
  g_assert_not_reached ();
}

/* ----- files from mp4mux --------------------------------------------------- */

/* 30 H.264 frames in an MP4, the moov first or last as @faststart says;
 * FALSE (test skipped) without the elements. */
static gboolean
write_mp4mux_file (const gchar *path, gboolean faststart)
{
  g_autofree gchar *description = NULL;

  if (!vigil_test_have_elements ("videotestsrc", "x264enc", "mp4mux", "qtdemux", "avdec_h264", NULL))
    {
      g_test_skip ("needs videotestsrc, x264enc, mp4mux, qtdemux and avdec_h264");
      return FALSE;
    }
  description = g_strdup_printf ("videotestsrc num-buffers=30 ! video/x-raw,width=160,height=120,"
                                 "framerate=10/1 ! x264enc speed-preset=ultrafast ! mp4mux faststart=%s "
                                 "! filesink location=\"%s\"",
                                 faststart ? "true" : "false", path);
  vigil_test_run_pipeline (description, 60);
  return TRUE;
}

static void
assert_plays (const gchar *path)
{
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (vigil_test_decode_file (path, &error), ==, 30);
  g_assert_no_error (error);
}

static void
on_progress (gdouble fraction, gpointer user_data)
{
  gdouble *last = user_data;

  g_assert_cmpfloat (fraction, >=, *last);
  g_assert_cmpfloat (fraction, <=, 1.0);
  *last = fraction;
}

static void
test_mp4mux_file (Fixture *f, gconstpointer data)
{
  gboolean force_co64 = GPOINTER_TO_INT (data);
  g_autoptr(GBytes) before = NULL;
  g_autoptr(GBytes) after = NULL;
  g_autoptr(GBytes) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *order_before = NULL;
  g_autofree gchar *order_after = NULL;
  g_auto(Tables) tables = { 0, };
  gdouble progress = 0;

  if (!write_mp4mux_file (f->mp4, FALSE))
    return;
  before = load (f->mp4);
  order_before = top_level (before);
  g_assert_nonnull (strstr (order_before, "mdat moov"));

  g_assert_true (vigil_mp4_move_moov_to_front (f->mp4, CREATION_US, force_co64, on_progress, &progress,
                                               NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (progress, ==, 1.0);
  after = load (f->mp4);
  order_after = top_level (after);
  g_test_message ("%s -> %s", order_before, order_after);
  g_assert_true (g_str_has_prefix (order_after, "ftyp moov "));
  g_assert_nonnull (strstr (order_after, " mdat"));
  assert_same_chunks (before, after, moov_size (after));
  read_tables (after, &tables);
  g_assert_cmpuint (force_co64 ? tables.n_stco : tables.n_co64, ==, 0);
  g_assert_cmpuint (tables.mvhd_creation, ==, CREATION_US / G_USEC_PER_SEC + SECONDS_1904_TO_1970);
  if (!force_co64)
    g_assert_cmpuint (g_bytes_get_size (after), ==, g_bytes_get_size (before));
  assert_plays (f->mp4);

  /* The moov is in front now: a second call changes nothing. */
  g_assert_true (vigil_mp4_move_moov_to_front (f->mp4, G_MININT64, FALSE, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  again = load (f->mp4);
  g_assert_true (g_bytes_equal (again, after));
}

static void
test_already_in_front (Fixture *f, gconstpointer unused)
{
  g_autoptr(GBytes) before = NULL;
  g_autoptr(GBytes) after = NULL;
  g_autoptr(GError) error = NULL;

  if (!write_mp4mux_file (f->mp4, TRUE))
    return;
  before = load (f->mp4);
  g_assert_true (vigil_mp4_move_moov_to_front (f->mp4, CREATION_US, TRUE, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  after = load (f->mp4);
  g_assert_true (g_bytes_equal (before, after));
  assert_plays (f->mp4);
}

/* ----- files built box by box ---------------------------------------------- */

static void
put_be (GByteArray *out, guint64 value, guint n_bytes)
{
  for (guint i = n_bytes; i > 0; i--)
    {
      guint8 byte = (guint8) (value >> (8 * (i - 1)));

      g_byte_array_append (out, &byte, 1);
    }
}

/* Appends a box of @type around @body (consumed); @large: a 64-bit size. */
static void
put_box (GByteArray *out, const gchar *type, gboolean large, GByteArray *body)
{
  guint64 header = large ? 16 : 8;

  put_be (out, large ? 1 : header + body->len, 4);
  g_byte_array_append (out, (const guint8 *) type, 4);
  if (large)
    put_be (out, header + body->len, 8);
  g_byte_array_append (out, body->data, body->len);
  g_byte_array_unref (body);
}

static GByteArray *
bytes_of (const gchar *data, gsize len)
{
  GByteArray *out = g_byte_array_new ();

  g_byte_array_append (out, (const guint8 *) data, len);
  return out;
}
/* A string literal's bytes, NULs included. */
#define BYTES(literal) bytes_of (literal, sizeof (literal) - 1)

/* A full box with @version: version, flags, then a time field (creation)
 * of 32 or 64 bits, and zeros up to @len bytes of body. */
static GByteArray *
time_box_body (guint version, gsize len)
{
  GByteArray *body = g_byte_array_new ();

  put_be (body, (guint64) version << 24, 4);
  put_be (body, 12345, version == 1 ? 8 : 4);   /* creation */
  g_byte_array_set_size (body, len);
  memset (body->data + (version == 1 ? 12 : 8), 0, len - (version == 1 ? 12 : 8));
  return body;
}

/* A chunk offset table: stco, or co64 with @wide. */
static GByteArray *
offset_table_body (const guint64 *offsets, guint n, gboolean wide)
{
  GByteArray *body = g_byte_array_new ();

  put_be (body, 0, 4);   /* version, flags */
  put_be (body, n, 4);
  for (guint i = 0; i < n; i++)
    put_be (body, offsets[i], wide ? 8 : 4);
  return body;
}

/* A trak whose stbl has one chunk offset table. */
static GByteArray *
trak_body (const guint64 *offsets, guint n, gboolean wide, gboolean large_boxes)
{
  GByteArray *stbl = g_byte_array_new ();
  GByteArray *minf = g_byte_array_new ();
  GByteArray *mdia = g_byte_array_new ();
  GByteArray *trak = g_byte_array_new ();

  put_box (stbl, wide ? "co64" : "stco", large_boxes, offset_table_body (offsets, n, wide));
  put_box (minf, "stbl", large_boxes, stbl);
  put_box (mdia, "mdhd", FALSE, time_box_body (0, 24));
  put_box (mdia, "minf", FALSE, minf);
  put_box (trak, "tkhd", FALSE, time_box_body (0, 84));
  put_box (trak, "mdia", large_boxes, mdia);
  return trak;
}

typedef enum {
  BUILD_PLAIN         = 0,
  BUILD_LARGE_SIZES   = 1 << 0,   /* 64-bit sizes for mdat, moov and boxes within */
  BUILD_NEAR_4GIB     = 1 << 1,   /* an stco offset that the shift overflows */
  BUILD_NO_MOOV       = 1 << 2,
  BUILD_MDAT_AFTER    = 1 << 3,   /* a second mdat after the moov */
} Build;

/* ftyp, free, mdat (payload: bytes 0..255 repeated), moov with two traks
 * (stco and co64) whose chunks are spread over the payload, then a udta
 * box after the moov. Returns the file's bytes. */
static GByteArray *
build_file (Build build)
{
  GByteArray *file = g_byte_array_new ();
  GByteArray *moov = g_byte_array_new ();
  GByteArray *payload = g_byte_array_new ();
  guint64 mdat_body, chunks_a[4], chunks_b[3];

  put_box (file, "ftyp", FALSE, BYTES ("isom\0\0\0\0isommp41"));
  put_box (file, "free", FALSE, BYTES ("padding!"));
  mdat_body = file->len + ((build & BUILD_LARGE_SIZES) ? 16 : 8);
  for (guint i = 0; i < 4096; i++)
    {
      guint8 byte = (guint8) (i * 7 + i / 256);

      g_byte_array_append (payload, &byte, 1);
    }
  put_box (file, "mdat", build & BUILD_LARGE_SIZES, payload);
  for (guint i = 0; i < G_N_ELEMENTS (chunks_a); i++)
    chunks_a[i] = mdat_body + 100 + i * 700;
  for (guint i = 0; i < G_N_ELEMENTS (chunks_b); i++)
    chunks_b[i] = mdat_body + 450 + i * 1100;
  if (build & BUILD_NEAR_4GIB)
    chunks_a[3] = G_MAXUINT32 - 16;
  if (!(build & BUILD_NO_MOOV))
    {
      put_box (moov, "mvhd", FALSE, time_box_body (1, 112));
      put_box (moov, "trak", build & BUILD_LARGE_SIZES,
               trak_body (chunks_a, G_N_ELEMENTS (chunks_a), FALSE, build & BUILD_LARGE_SIZES));
      put_box (moov, "trak", FALSE, trak_body (chunks_b, G_N_ELEMENTS (chunks_b), TRUE, FALSE));
      put_box (file, "moov", build & BUILD_LARGE_SIZES, moov);
    }
  else
    g_byte_array_unref (moov);
  if (build & BUILD_MDAT_AFTER)
    put_box (file, "mdat", FALSE, BYTES ("late media"));
  put_box (file, "udta", FALSE, BYTES ("\0\0\0\x0c" "name" "cam1"));
  return file;
}

static void
write_file (const gchar *path, const guint8 *data, gsize len)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_set_contents (path, (const gchar *) data, (gssize) len, &error));
  g_assert_no_error (error);
}

static void
test_built (Fixture *f, gconstpointer data)
{
  Build build = GPOINTER_TO_INT (data);
  g_autoptr(GByteArray) file = build_file (build);
  g_autoptr(GBytes) before = NULL;
  g_autoptr(GBytes) after = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *order = NULL;
  g_auto(Tables) tables = { 0, };

  write_file (f->mp4, file->data, file->len);
  before = load (f->mp4);
  g_assert_true (vigil_mp4_move_moov_to_front (f->mp4, CREATION_US, FALSE, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  after = load (f->mp4);
  order = top_level (after);
  g_assert_cmpstr (order, ==, "ftyp moov free mdat udta");
  assert_same_chunks (before, after, moov_size (after));
  read_tables (after, &tables);
  /* An offset the shift pushes past 4 GiB turns every table into co64. */
  g_assert_cmpuint (tables.n_co64, ==, (build & BUILD_NEAR_4GIB) ? 2 : 1);
  g_assert_cmpuint (tables.mvhd_creation, ==, CREATION_US / G_USEC_PER_SEC + SECONDS_1904_TO_1970);
  /* Containers are written with 32-bit sizes; nothing else changes size
   * unless tables widen. */
  if (!(build & BUILD_LARGE_SIZES) && !(build & BUILD_NEAR_4GIB))
    g_assert_cmpuint (g_bytes_get_size (after), ==, g_bytes_get_size (before));
  /* What followed the moov follows it still, byte for byte. */
  g_assert_cmpmem ((const guint8 *) g_bytes_get_data (after, NULL) + g_bytes_get_size (after) - 20, 20,
                   file->data + file->len - 20, 20);
}

/* ----- input it must refuse ------------------------------------------------ */

typedef enum {
  BAD_EMPTY,
  BAD_NO_MOOV,
  BAD_MDAT_AFTER_MOOV,
  BAD_TRUNCATED_MOOV,       /* the file ends inside the moov */
  BAD_TOP_BOX_TOO_BIG,      /* mdat's 32-bit size runs past the end */
  BAD_SIZE_OVERFLOW,        /* mdat's 64-bit size is 2^64 - 1 */
  BAD_BOX_TOO_SMALL,        /* a size smaller than the header */
  BAD_CHILD_TOO_BIG,        /* a trak that runs past its moov */
  BAD_TABLE_COUNT,          /* an stco whose count does not fit its box */
  N_BAD
} Bad;

/* Offset of the first box of @type, searching the whole file byte by byte
 * (good enough for the files built here). */
static gsize
find_type (GByteArray *file, const gchar *type)
{
  for (gsize i = 4; i + 4 <= file->len; i++)
    if (memcmp (file->data + i, type, 4) == 0)
      return i - 4;
  g_assert_not_reached ();
}

static GByteArray *
build_bad (Bad bad)
{
  GByteArray *file;
  gsize at;

  switch (bad)
    {
    case BAD_EMPTY:
      return g_byte_array_new ();
    case BAD_NO_MOOV:
      return build_file (BUILD_NO_MOOV);
    case BAD_MDAT_AFTER_MOOV:
      return build_file (BUILD_MDAT_AFTER);
    default:
      break;
    }
  file = build_file (BUILD_PLAIN);
  switch (bad)
    {
    case BAD_TRUNCATED_MOOV:
      g_byte_array_set_size (file, find_type (file, "udta") - 10);
      break;
    case BAD_TOP_BOX_TOO_BIG:
      at = find_type (file, "mdat");
      file->data[at] = 0x7f;
      break;
    case BAD_SIZE_OVERFLOW:
      {
        g_autoptr(GByteArray) large = build_file (BUILD_LARGE_SIZES);

        at = find_type (large, "mdat");
        memset (large->data + at + 8, 0xff, 8);
        g_byte_array_unref (file);
        return g_steal_pointer (&large);
      }
    case BAD_BOX_TOO_SMALL:
      at = find_type (file, "trak");
      memset (file->data + at, 0, 3);
      file->data[at + 3] = 4;
      break;
    case BAD_CHILD_TOO_BIG:
      at = find_type (file, "trak");
      file->data[at + 2] += 0x10;
      break;
    case BAD_TABLE_COUNT:
      at = find_type (file, "stco");
      file->data[at + 12] = 0x40;   /* entry count 0x40000004 */
      break;
    default:
      g_assert_not_reached ();
    }
  return file;
}

static void
test_bad_input (Fixture *f, gconstpointer unused)
{
  for (Bad bad = 0; bad < N_BAD; bad++)
    {
      g_autoptr(GByteArray) file = build_bad (bad);
      g_autoptr(GBytes) after = NULL;
      g_autoptr(GError) error = NULL;

      g_test_message ("bad input %d: %u bytes", bad, file->len);
      write_file (f->mp4, file->data, file->len);
      g_assert_false (vigil_mp4_move_moov_to_front (f->mp4, CREATION_US, FALSE, NULL, NULL, NULL, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_nonnull (strstr (error->message, f->mp4));
      /* Refused before anything was written. */
      after = load (f->mp4);
      g_assert_cmpmem (g_bytes_get_data (after, NULL), g_bytes_get_size (after), file->data, file->len);
    }
}

static void
test_missing_file (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (vigil_mp4_move_moov_to_front (f->mp4, G_MININT64, FALSE, NULL, NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

static void
test_cancelled (Fixture *f, gconstpointer unused)
{
  g_autoptr(GByteArray) file = build_file (BUILD_PLAIN);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;

  write_file (f->mp4, file->data, file->len);
  g_cancellable_cancel (cancellable);
  g_assert_false (vigil_mp4_move_moov_to_front (f->mp4, G_MININT64, FALSE, NULL, NULL, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

#define ADD(path, data, fn) \
  g_test_add ("/pipelines/mp4-faststart/" path, Fixture, data, fixture_set_up, fn, fixture_tear_down)
  ADD ("mp4mux", GINT_TO_POINTER (FALSE), test_mp4mux_file);
  ADD ("mp4mux-force-co64", GINT_TO_POINTER (TRUE), test_mp4mux_file);
  ADD ("already-in-front", NULL, test_already_in_front);
  ADD ("built", GINT_TO_POINTER (BUILD_PLAIN), test_built);
  ADD ("built-64-bit-sizes", GINT_TO_POINTER (BUILD_LARGE_SIZES), test_built);
  ADD ("built-offsets-past-4gib", GINT_TO_POINTER (BUILD_NEAR_4GIB), test_built);
  ADD ("bad-input", NULL, test_bad_input);
  ADD ("missing-file", NULL, test_missing_file);
  ADD ("cancelled", NULL, test_cancelled);
#undef ADD
  return g_test_run ();
}
