/* fuzz_io.h: what the fuzz harnesses share: a folder of this process's own (removed at exit) into
 * which the bytes of an input are written for readers that take a path, and the split of one input
 * into the parts of readers that take several files. */
#ifndef MC_FUZZ_IO_H
#define MC_FUZZ_IO_H

#include <stddef.h>
#include <stdint.h>

/* The folder: made under $TMPDIR (else /tmp) on first use, removed with everything in it at exit.
 * Aborts when it cannot be made: a harness cannot run without it. */
const char *fuzz_dir(void);

/* Writes size bytes from data to the file name (a relative path, whose folders fuzz_mkdir made)
 * in the folder and returns its path, valid until the next call. Aborts when it cannot. */
const char *fuzz_write(const char *name, const uint8_t *data, size_t size);

/* Makes the folder name (relative) in the folder, empty: whatever it held before is removed.
 * Returns its path, valid until the next call of fuzz_mkdir. */
const char *fuzz_mkdir(const char *name);

/* The line that separates the files of an input for a reader of several files. */
#define FUZZ_FILE_SEP "\n--8<--\n"

/* One part of an input. */
typedef struct fuzz_part {
    const uint8_t *data;
    size_t size;
} fuzz_part;

/* Splits data at each occurrence of sep (a string, not kept in the parts) into at most max parts;
 * the last part holds the rest of the input. Returns the number of parts (at least 1). */
int fuzz_split(const uint8_t *data, size_t size, const char *sep, fuzz_part *parts, int max);

#endif
