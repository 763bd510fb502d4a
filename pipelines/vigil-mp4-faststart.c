/* SPDX-License-Identifier: GPL-2.0-or-later */
/* MP4 faststart at the byte level: the moov box of a finished file moves
 * in front of its media data in place, every chunk offset (stco, co64)
 * rewritten by the moov's size, 32-bit tables widened to co64 when the
 * shift would overflow them. No GStreamer: a file is a list of boxes, and
 * only the path from moov down to the chunk offset tables (and the
 * creation times in mvhd, tkhd and mdhd) is parsed. Every box is checked
 * against its parent before anything is written, so bad input fails with
 * the file untouched. It must never write a second file, never change a
 * byte of media data, and never trust a size it has not bounded by what
 * contains it. */
#include "vigil-mp4-faststart.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* Box fields are big-endian at any alignment (GST_READ_UINT32_BE would
 * load unaligned words, which UBSan rightly reports). */
#define FOURCC(s) \
  (((guint32) (guint8) (s)[0] << 24) | ((guint32) (guint8) (s)[1] << 16) | ((guint32) (guint8) (s)[2] << 8) \
   | (guint32) (guint8) (s)[3])

static guint32
read_be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static guint64
read_be64 (const guint8 *p)
{
  return ((guint64) read_be32 (p) << 32) | read_be32 (p + 4);
}

static void
write_be32 (guint8 *p, guint32 value)
{
  p[0] = value >> 24;
  p[1] = value >> 16;
  p[2] = value >> 8;
  p[3] = value;
}

static void
write_be64 (guint8 *p, guint64 value)
{
  write_be32 (p, value >> 32);
  write_be32 (p + 4, (guint32) value);
}

/* Whole seconds at or before @time_us (which may be negative). */
static gint64
seconds_floor (gint64 time_us)
{
  return time_us / G_USEC_PER_SEC - (time_us % G_USEC_PER_SEC < 0 ? 1 : 0);
}

/* Boxes on the way from moov to the chunk offset tables. */
#define IS_PATH_TO_STCO(type) \
  ((type) == FOURCC ("moov") || (type) == FOURCC ("trak") || (type) == FOURCC ("mdia") \
   || (type) == FOURCC ("minf") || (type) == FOURCC ("stbl"))
#define SHIFT_CHUNK (4 * 1024 * 1024)
#define SECONDS_1904_TO_1970 G_GINT64_CONSTANT (2082844800)
/* Sanity bound: a day of 60 fps video with audio has a moov of ~20 MB. */
#define MAX_MOOV_SIZE (256 * 1024 * 1024)

typedef struct {
  guint64   creation;     /* seconds since 1904 for mvhd, tkhd and mdhd; 0 to keep */
  guint64   delta;        /* added to every chunk offset */
  gboolean  co64;         /* write 32-bit tables (stco) as 64-bit ones (co64) */
  guint64   max_stco;     /* largest offset in a 32-bit table */
  guint64   n_stco;       /* entries in 32-bit tables */
} OffsetPatch;

static gboolean
malformed (const gchar *path, GError **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: an MP4 we cannot parse", path);
  return FALSE;
}

static void
append_be32 (GByteArray *out, guint32 value)
{
  guint8 bytes[4];

  write_be32 (bytes, value);
  g_byte_array_append (out, bytes, 4);
}

static void
append_be64 (GByteArray *out, guint64 value)
{
  guint8 bytes[8];

  write_be64 (bytes, value);
  g_byte_array_append (out, bytes, 8);
}

/* Copies the boxes in @data to @out, descending the path to the chunk
 * offset tables and rewriting those as @patch says. */
static gboolean
copy_boxes (const guint8 *data, gsize len, GByteArray *out, OffsetPatch *patch, guint depth,
            const gchar *path, GError **error)
{
  gsize pos = 0;

  while (pos < len)
    {
      guint64 size;
      gsize header = 8;
      guint32 type;
      const guint8 *body;
      gsize body_len;

      if (len - pos < 8)
        return malformed (path, error);
      size = read_be32 (data + pos);
      type = read_be32 (data + pos + 4);
      if (size == 1)
        {
          if (len - pos < 16)
            return malformed (path, error);
          size = read_be64 (data + pos + 8);
          header = 16;
        }
      else if (size == 0)
        size = len - pos;
      if (size < header || size > len - pos)
        return malformed (path, error);
      body = data + pos + header;
      body_len = size - header;

      if (IS_PATH_TO_STCO (type) && depth < 8)
        {
          guint start = out->len;

          append_be32 (out, 0);
          g_byte_array_append (out, data + pos + 4, 4);
          if (!copy_boxes (body, body_len, out, patch, depth + 1, path, error))
            return FALSE;
          write_be32 (out->data + start, out->len - start);
        }
      else if (type == FOURCC ("stco") || type == FOURCC ("co64"))
        {
          gboolean wide = type == FOURCC ("co64");
          gsize entry = wide ? 8 : 4;
          guint32 n;

          if (body_len < 8)
            return malformed (path, error);
          n = read_be32 (body + 4);
          if ((body_len - 8) / entry < n)
            return malformed (path, error);
          wide = wide || patch->co64;
          append_be32 (out, 16 + n * (wide ? 8 : 4));
          g_byte_array_append (out, (const guint8 *) (wide ? "co64" : "stco"), 4);
          g_byte_array_append (out, body, 8);   /* version, flags, entry count */
          for (guint32 i = 0; i < n; i++)
            {
              guint64 offset = entry == 8 ? read_be64 (body + 8 + i * 8)
                                          : read_be32 (body + 8 + i * 4);

              if (entry == 4)
                {
                  patch->max_stco = MAX (patch->max_stco, offset);
                  patch->n_stco++;
                }
              offset += patch->delta;
              if (wide)
                append_be64 (out, offset);
              else if (offset > G_MAXUINT32)
                return malformed (path, error);
              else
                append_be32 (out, (guint32) offset);
            }
        }
      else if (patch->creation != 0
               && (type == FOURCC ("mvhd") || type == FOURCC ("tkhd") || type == FOURCC ("mdhd")))
        {
          guint at = out->len + header + 4;

          /* version, flags, then creation time: 32 bits in version 0, 64 in 1 */
          if (body_len < 12)
            return malformed (path, error);
          g_byte_array_append (out, data + pos, size);
          if (body[0] == 1)
            write_be64 (out->data + at, patch->creation);
          else
            write_be32 (out->data + at, (guint32) MIN (patch->creation, G_MAXUINT32));
        }
      else
        g_byte_array_append (out, data + pos, size);
      pos += size;
    }
  return TRUE;
}

static gboolean
io_error (const gchar *path, const gchar *what, gint saved_errno, GError **error)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "%s: %s: %s", path, what,
               g_strerror (saved_errno));
  return FALSE;
}

static gboolean
pread_all (int fd, guint8 *buf, gsize len, guint64 offset, const gchar *path, GError **error)
{
  while (len > 0)
    {
      ssize_t n = pread (fd, buf, len, (off_t) offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return io_error (path, "read", errno, error);
      if (n == 0)
        return malformed (path, error);
      buf += n;
      len -= (gsize) n;
      offset += (guint64) n;
    }
  return TRUE;
}

static gboolean
pwrite_all (int fd, const guint8 *buf, gsize len, guint64 offset, const gchar *path, GError **error)
{
  while (len > 0)
    {
      ssize_t n = pwrite (fd, buf, len, (off_t) offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return io_error (path, "write", errno, error);
      buf += n;
      len -= (gsize) n;
      offset += (guint64) n;
    }
  return TRUE;
}

typedef struct {
  guint64  offset, size;
  guint32  type;
} TopBox;

static gboolean
read_top_box (int fd, guint64 offset, guint64 file_size, TopBox *box, const gchar *path, GError **error)
{
  guint8 header[16];

  if (file_size - offset < 8 || !pread_all (fd, header, 8, offset, path, error))
    return error == NULL || *error == NULL ? malformed (path, error) : FALSE;
  box->offset = offset;
  box->size = read_be32 (header);
  box->type = read_be32 (header + 4);
  if (box->size == 1)
    {
      if (file_size - offset < 16 || !pread_all (fd, header + 8, 8, offset + 8, path, error))
        return error == NULL || *error == NULL ? malformed (path, error) : FALSE;
      box->size = read_be64 (header + 8);
    }
  else if (box->size == 0)
    box->size = file_size - offset;
  if (box->size < 8 || box->size > file_size - offset)
    return malformed (path, error);
  return TRUE;
}

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
}

gboolean
vigil_mp4_move_moov_to_front (const gchar *path, gint64 creation_time_us, gboolean force_co64,
                              VigilMp4ProgressFunc progress, gpointer user_data,
                              GCancellable *cancellable, GError **error)
{
  __attribute__ ((cleanup (close_fd))) int fd = -1;

  g_return_val_if_fail (path != NULL, FALSE);

  fd = g_open (path, O_RDWR | O_CLOEXEC, 0);
  if (fd < 0)
    return io_error (path, "open", errno, error);
  if (!vigil_mp4_move_moov_to_front_fd (fd, path, creation_time_us, force_co64, progress, user_data, cancellable,
                                        error))
    return FALSE;
  if (close (fd) < 0)
    {
      fd = -1;
      return io_error (path, "close", errno, error);
    }
  fd = -1;
  return TRUE;
}

gboolean
vigil_mp4_move_moov_to_front_fd (int fd, const gchar *name, gint64 creation_time_us, gboolean force_co64,
                                 VigilMp4ProgressFunc progress, gpointer user_data,
                                 GCancellable *cancellable, GError **error)
{
  const gchar *path = name;   /* what messages call the file */
  struct stat st;
  guint64 file_size, offset, region_start = 0, region_end, moved = 0, total, tail_size;
  TopBox box, moov = { 0, };
  gboolean have_moov = FALSE, have_mdat = FALSE;
  g_autofree guint8 *moov_data = NULL;
  g_autofree guint8 *tail = NULL;
  g_autofree guint8 *chunk = NULL;
  g_autoptr(GByteArray) probe = g_byte_array_new ();
  g_autoptr(GByteArray) patched = g_byte_array_new ();
  OffsetPatch patch = { 0, };

  g_return_val_if_fail (fd >= 0, FALSE);
  g_return_val_if_fail (name != NULL, FALSE);

  if (fstat (fd, &st) < 0)
    return io_error (path, "stat", errno, error);
  file_size = (guint64) st.st_size;

  /* Top level as mp4mux writes it: ftyp, free, mdat, moov, and an XMP
   * uuid box when there are tags. Everything between ftyp and moov moves
   * up; what follows the moov (small) is written again after it. */
  for (offset = 0; offset < file_size; offset += box.size)
    {
      if (!read_top_box (fd, offset, file_size, &box, path, error))
        return FALSE;
      if (box.type == FOURCC ("ftyp") && offset == 0)
        region_start = box.size;
      else if (box.type == FOURCC ("mdat"))
        {
          if (have_moov)
            return malformed (path, error);
          have_mdat = TRUE;
        }
      else if (box.type == FOURCC ("moov"))
        {
          if (!have_mdat)
            return TRUE;   /* already in front */
          moov = box;
          have_moov = TRUE;
        }
    }
  if (!have_moov || moov.size > MAX_MOOV_SIZE || file_size - moov.offset - moov.size > MAX_MOOV_SIZE)
    return malformed (path, error);
  region_end = moov.offset;
  tail_size = file_size - moov.offset - moov.size;
  tail = g_malloc (MAX (tail_size, 1));
  if (!pread_all (fd, tail, tail_size, moov.offset + moov.size, path, error))
    return FALSE;

  moov_data = g_malloc (moov.size);
  if (!pread_all (fd, moov_data, moov.size, moov.offset, path, error))
    return FALSE;
  /* Measure (sizes, largest 32-bit offset), decide on 64-bit tables,
   * then patch with the final moov size as the shift. */
  patch.co64 = force_co64;
  if (creation_time_us != G_MININT64)
    patch.creation = (guint64) MAX (seconds_floor (creation_time_us) + SECONDS_1904_TO_1970, 1);
  if (!copy_boxes (moov_data, moov.size, probe, &patch, 0, path, error))
    return FALSE;
  if (!patch.co64 && patch.max_stco + probe->len + 4 * patch.n_stco > G_MAXUINT32)
    {
      patch.co64 = TRUE;
      g_byte_array_set_size (probe, 0);
      if (!copy_boxes (moov_data, moov.size, probe, &patch, 0, path, error))
        return FALSE;
    }
  patch.delta = probe->len;
  if (!copy_boxes (moov_data, moov.size, patched, &patch, 0, path, error))
    return FALSE;
  g_assert (patched->len == probe->len);

  /* Shift [region_start, region_end) up by the moov's size, from the end
   * down so that nothing is overwritten before it was read. */
  chunk = g_malloc (SHIFT_CHUNK);
  total = region_end - region_start;
  for (offset = region_end; offset > region_start;)
    {
      gsize n = (gsize) MIN ((guint64) SHIFT_CHUNK, offset - region_start);

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      offset -= n;
      if (!pread_all (fd, chunk, n, offset, path, error)
          || !pwrite_all (fd, chunk, n, offset + patched->len, path, error))
        return FALSE;
      moved += n;
      if (progress != NULL)
        progress ((gdouble) moved / (gdouble) total, user_data);
    }
  if (!pwrite_all (fd, patched->data, patched->len, region_start, path, error)
      || !pwrite_all (fd, tail, tail_size, region_end + patched->len, path, error))
    return FALSE;
  if (ftruncate (fd, (off_t) (region_end + patched->len + tail_size)) < 0)
    return io_error (path, "truncate", errno, error);
  g_debug ("%s: moov of %u bytes moved in front of %" G_GUINT64_FORMAT " bytes%s", path, patched->len, total,
             patch.co64 ? " (64-bit chunk offsets)" : "");
  return TRUE;
}
