/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fault injection by LD_PRELOAD, for end-to-end tests of a disk that fails
 * to make data durable: while the file named by $VIGIL_FAULT_FSYNC_FLAG
 * exists, fsync() and fdatasync() of an open file whose name ends in ".mkv"
 * fail with EIO. Everything else (the catalog, folders, other processes'
 * files) goes to the real calls, so only the recording's segments are hit.
 * No such kernel fault is at hand here (no device-mapper), and the test
 * toggles it at run time by creating and removing the flag file. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
should_fail (int fd)
{
  const char *flag = getenv ("VIGIL_FAULT_FSYNC_FLAG");
  char link[64], path[PATH_MAX];
  ssize_t n;

  if (flag == NULL || access (flag, F_OK) != 0)
    return 0;
  snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  n = readlink (link, path, sizeof path - 1);
  if (n < 4)
    return 0;
  path[n] = '\0';
  return strcmp (path + n - 4, ".mkv") == 0;
}

int
fsync (int fd)
{
  int (*real) (int) = (int (*) (int)) dlsym (RTLD_NEXT, "fsync");

  if (should_fail (fd))
    {
      errno = EIO;
      return -1;
    }
  return real (fd);
}

int
fdatasync (int fd)
{
  int (*real) (int) = (int (*) (int)) dlsym (RTLD_NEXT, "fdatasync");

  if (should_fail (fd))
    {
      errno = EIO;
      return -1;
    }
  return real (fd);
}
