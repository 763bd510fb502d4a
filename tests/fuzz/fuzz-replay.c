/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The replay driver: without libFuzzer (the normal gcc build), a fuzz
 * target's entry point is linked with this main() and run as a meson test.
 * It replays every file of a committed corpus directory, then a bounded,
 * deterministic mutation loop over it (bit flips, truncations, deletions,
 * duplications, splices and hostile tokens, from a fixed seed), so that CI
 * under ASan/UBSan or valgrind exercises the parsers on every run. The
 * targets abort on a broken contract; this only feeds them. It must stay
 * deterministic: mutation N is the same bytes on every machine, so a crash
 * in CI can be reproduced with --dump.
 *
 *   fuzz-replay [--iterations N] [--seed S] [--dump N FILE] CORPUS_DIR
 *
 * VIGIL_FUZZ_VERBOSE=1 names each input before it runs. */

#include <string.h>

#include <glib.h>

#include "fuzz-common.h"

#define MAX_INPUT_BYTES (64 * 1024)
/* A safety valve for slow machines (valgrind): the loop stops early, and
 * says so, rather than time out. */
#define MAX_LOOP_SECONDS 20

/* Bytes and fragments that parsers trip on. */
static const gchar *const tokens[] = {
  "<", ">", "</", "/>", "=\"", "\"", "'", "&amp;", "&#0;", "&#xD800;", "&#1114112;", "&lt",
  "]]>", "<![CDATA[", "<!--", "-->", "<?xml version=\"1.0\"?>", "<!DOCTYPE x [<!ENTITY e \"e\">]>",
  "&e;", "xmlns=\"\"", "xmlns:s=\"urn:x\"", "xsi:nil=\"true\"", "NaN", "INF", "-INF", "1e999",
  "-1e-999", "-0", "2147483647", "-2147483649", "4294967296", "99999999999999999999", "%",
  "%FF", "%00", "%1B", "%C3", "\xff", "\xc3", "\xed\xa0\x80", "\x1b[2J", "\r\n", "\r\n\r\n",
  "\0", "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n\", "
  "qop=\"auth\", algorithm=SHA-256\r\n",
  "HTTP/1.1 500 Internal Server Error\r\n", "HTTP/1.1 200 OK\r\n",
  "Transfer-Encoding: chunked\r\n", "Content-Length: 0\r\n", "Content-Length: 99999999\r\n",
  "Content-Encoding: gzip\r\n", "Content-Type: text/html\r\n", "0\r\n\r\n", "ffffffff\r\n",
  "s:Fault", "ter:NotAuthorized", "ter:ActionNotSupported", "token=\"\"",
  "\n--vigil-fuzz-next--\n", "onvif://www.onvif.org/name/", "onvif://www.onvif.org/hardware/",
  "urn:uuid:6b0f7c1e-0d3a-4a55-9e38-6f2b6d1f0a01", "http://[::1", "http://@:/", "rtsp://",
};

typedef struct {
  gchar  *name;
  GBytes *bytes;
} Input;

static void
input_free (Input *input)
{
  g_free (input->name);
  g_bytes_unref (input->bytes);
  g_free (input);
}

static gint
compare_inputs (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(Input *const *) a)->name, (*(Input *const *) b)->name);
}

static GPtrArray *
load_corpus (const gchar *dir_path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, &error);
  GPtrArray *corpus = g_ptr_array_new_with_free_func ((GDestroyNotify) input_free);
  const gchar *name;

  if (dir == NULL)
    g_error ("cannot open the corpus: %s", error->message);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree gchar *path = g_build_filename (dir_path, name, NULL);
      gchar *contents = NULL;
      gsize len = 0;
      Input *input;

      if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
        continue;
      if (!g_file_get_contents (path, &contents, &len, &error))
        g_error ("cannot read %s: %s", path, error->message);
      input = g_new0 (Input, 1);
      input->name = g_strdup (name);
      input->bytes = g_bytes_new_take (contents, len);
      g_ptr_array_add (corpus, input);
    }
  if (corpus->len == 0)
    g_error ("the corpus %s is empty", dir_path);
  /* Directory order differs between file systems; mutations must not. */
  g_ptr_array_sort (corpus, compare_inputs);
  return corpus;
}

static void
insert_bytes (GByteArray *buf, guint at, const guint8 *data, guint len)
{
  g_byte_array_set_size (buf, buf->len + len);
  memmove (buf->data + at + len, buf->data + at, buf->len - len - at);
  memcpy (buf->data + at, data, len);
}

/* One to four mutations of one corpus input, chosen by @rand alone. */
static GByteArray *
mutate (GPtrArray *corpus, GRand *rand)
{
  const Input *base = corpus->pdata[g_rand_int_range (rand, 0, corpus->len)];
  GByteArray *buf = g_byte_array_new ();
  gsize base_len = 0;
  const guint8 *base_data = g_bytes_get_data (base->bytes, &base_len);
  gint rounds = g_rand_int_range (rand, 1, 5);

  g_byte_array_append (buf, base_data, base_len);
  for (gint round = 0; round < rounds; round++)
    {
      guint len = buf->len;
      guint at = len > 0 ? (guint) g_rand_int_range (rand, 0, len) : 0;
      guint span = g_rand_int_range (rand, 1, 257);   /* not inside MIN(): evaluated once */

      switch (g_rand_int_range (rand, 0, 9))
        {
        case 0:   /* flip a bit */
          if (len > 0)
            buf->data[at] ^= 1u << g_rand_int_range (rand, 0, 8);
          break;
        case 1:   /* any byte */
          if (len > 0)
            buf->data[at] = g_rand_int_range (rand, 0, 256);
          break;
        case 2:   /* truncate */
          g_byte_array_set_size (buf, at);
          break;
        case 3:   /* delete a range */
          if (len > 0)
            g_byte_array_remove_range (buf, at, MIN (len - at, span / 4 + 1));
          break;
        case 4:   /* duplicate a range */
          if (len > 0)
            {
              guint n = MIN (len - at, span);
              g_autofree guint8 *copy = g_memdup2 (buf->data + at, n);

              insert_bytes (buf, g_rand_int_range (rand, 0, len + 1), copy, n);
            }
          break;
        case 5:
        case 6:   /* a hostile token, inserted or overwriting */
          {
            const gchar *token = tokens[g_rand_int_range (rand, 0, G_N_ELEMENTS (tokens))];
            guint n = token[0] != '\0' ? strlen (token) : 1;

            if (g_rand_boolean (rand) || len == 0)
              insert_bytes (buf, at, (const guint8 *) token, n);
            else
              memcpy (buf->data + at, token, MIN (n, len - at));
          }
          break;
        case 7:   /* splice: our head, another input's tail */
          {
            const Input *other = corpus->pdata[g_rand_int_range (rand, 0, corpus->len)];
            gsize other_len = 0;
            const guint8 *other_data = g_bytes_get_data (other->bytes, &other_len);
            guint from = other_len > 0 ? g_rand_int_range (rand, 0, other_len) : 0;

            g_byte_array_set_size (buf, at);
            g_byte_array_append (buf, other_data + from, other_len - from);
          }
          break;
        default:  /* the first byte: another operation for the same answer */
          if (len > 0)
            buf->data[0] = g_rand_int_range (rand, 0, 256);
          break;
        }
      if (buf->len > MAX_INPUT_BYTES)
        g_byte_array_set_size (buf, MAX_INPUT_BYTES);
    }
  return buf;
}

/* A copy of the exact size, so that ASan sees reads past the end; never
 * NULL, as under libFuzzer. */
static guint8 *
exact_copy (const guint8 *data, gsize len)
{
  guint8 *copy = g_malloc (MAX (len, 1));

  if (len > 0)
    memcpy (copy, data, len);
  return copy;
}

static GByteArray *
mutation (GPtrArray *corpus, guint32 seed, guint n)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed + n * 2654435761u);

  return mutate (corpus, rand);
}

int
main (int argc, char **argv)
{
  gint64 iterations = 3000;
  gint64 seed = 20240501;
  gint64 dump = -1;
  g_autofree gchar *dump_path = NULL;
  const gchar *env;
  gboolean verbose = g_strcmp0 (g_getenv ("VIGIL_FUZZ_VERBOSE"), "1") == 0;
  g_autoptr(GPtrArray) corpus = NULL;
  gint64 start_us, ran = 0;
  gint i;

  env = g_getenv ("VIGIL_FUZZ_ITERATIONS");
  if (env != NULL)
    iterations = g_ascii_strtoll (env, NULL, 10);
  for (i = 1; i + 1 < argc && g_str_has_prefix (argv[i], "--"); i += 2)
    {
      if (g_str_equal (argv[i], "--iterations"))
        iterations = g_ascii_strtoll (argv[i + 1], NULL, 10);
      else if (g_str_equal (argv[i], "--seed"))
        seed = g_ascii_strtoll (argv[i + 1], NULL, 10);
      else if (g_str_equal (argv[i], "--dump") && i + 2 < argc)
        {
          dump = g_ascii_strtoll (argv[i + 1], NULL, 10);
          dump_path = g_strdup (argv[i + 2]);
          i++;
        }
      else
        break;
    }
  if (i != argc - 1)
    {
      g_printerr ("usage: %s [--iterations N] [--seed S] [--dump N FILE] CORPUS_DIR\n", argv[0]);
      return 2;
    }
  corpus = load_corpus (argv[i]);

  if (dump >= 0)
    {
      g_autoptr(GByteArray) buf = mutation (corpus, seed, dump);
      g_autoptr(GError) error = NULL;

      if (!g_file_set_contents (dump_path, (const gchar *) buf->data, buf->len, &error))
        g_error ("%s", error->message);
      return 0;
    }

  LLVMFuzzerInitialize (&argc, &argv);
  for (guint n = 0; n < corpus->len; n++)
    {
      const Input *input = corpus->pdata[n];
      gsize len = 0;
      const guint8 *data = g_bytes_get_data (input->bytes, &len);
      g_autofree guint8 *copy = exact_copy (data, len);

      if (verbose)
        g_printerr ("corpus %s\n", input->name);
      LLVMFuzzerTestOneInput (copy, len);
    }

  start_us = g_get_monotonic_time ();
  for (; ran < iterations; ran++)
    {
      g_autoptr(GByteArray) buf = NULL;
      g_autofree guint8 *copy = NULL;

      if (g_get_monotonic_time () - start_us > MAX_LOOP_SECONDS * G_USEC_PER_SEC)
        {
          g_print ("# stopping after %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
                   " mutations: over %d s\n", ran, iterations, MAX_LOOP_SECONDS);
          break;
        }
      if (verbose)
        g_printerr ("mutation %" G_GINT64_FORMAT "\n", ran);
      buf = mutation (corpus, seed, ran);
      copy = exact_copy (buf->data, buf->len);
      LLVMFuzzerTestOneInput (copy, buf->len);
    }
  g_print ("%u corpus inputs and %" G_GINT64_FORMAT " mutations (seed %" G_GINT64_FORMAT
           ") in %.1f s: no crash\n", corpus->len, ran, seed,
           (g_get_monotonic_time () - start_us) / 1e6);
  return 0;
}
