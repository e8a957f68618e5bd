/*
 * fcpatch: a streaming applier for firmchain1 delta patches (Docs/formats/FIRMCHAIN1.md).
 *
 * Written for devices: pure C99, no heap. The caller gives one workspace of
 * fcpatch_workspace_size() bytes and three callbacks; the applier reads the old image and the
 * patch by offset and writes the new image once, front to back. To vendor it, copy this header,
 * fcpatch.c, fcpatch_sha256.c, fcpatch_lzma2.c and fcpatch_lzma2.h (its own LZMA2 decoder: no
 * other library is needed).
 *
 * What fcpatch_apply guarantees, in the order it checks (FIRMCHAIN1.md §3):
 *   1. the header follows every rule of §1 and §3, else nothing else is read;
 *   2. N <= max_new_size and the workspace is large enough;
 *   3. the old image is O bytes long and hashes to the header's sha256: write_new is never
 *      called before this holds;
 *   4. every triple is in bounds, every section is consumed exactly, every LZMA2 stream ends at
 *      its last compressed byte;
 *   5. the bytes written hash to the header's sha256 of the new image.
 * A failure after step 3 may come after some bytes were written: the caller must discard them
 * (write to a temporary and keep it only when fcpatch_apply returns FCPATCH_OK).
 */
#ifndef FCPATCH_H
#define FCPATCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Length of the fixed header (§1). */
#define FCPATCH_HEADER_SIZE 176
/** The dictionary sizes a header may name (§3): 4 KiB ... 64 MiB, bounds included. */
#define FCPATCH_DICT_MIN 4096u
#define FCPATCH_DICT_MAX (64u * 1024u * 1024u)
/** At most this many triples may make nothing (add = copy = 0), so T <= N + 1024 (§3). */
#define FCPATCH_MAX_EMPTY_TRIPLES 1024u
/** Header flag 1 (§3): the diff bytes of an add carry from byte to byte. No other flag exists. */
#define FCPATCH_FLAG_CARRY 1u
/** The largest alignment shift (header bytes 12 and 13, §3) a patch may name: 16 bytes. */
#define FCPATCH_MAX_ALIGN_SHIFT 4u

/** Results of the fcpatch functions; 0 is success, every failure has its own code. */
enum fcpatch_status {
    FCPATCH_OK = 0,
    /** Not a firmchain1 patch (magic, size) or a header field outside its §1/§3 rules. */
    FCPATCH_E_BAD_HEADER = 1,
    /** A format version, codec, flags or alignment value this applier does not implement. */
    FCPATCH_E_UNSUPPORTED = 2,
    /** The workspace is smaller than fcpatch_workspace_size() (or NULL). */
    FCPATCH_E_WORKSPACE = 3,
    /** The header's new image length N is above the caller's max_new_size. */
    FCPATCH_E_TOO_LARGE = 4,
    /** The old image is not the one the patch was made from (length or sha256). */
    FCPATCH_E_WRONG_BASE = 5,
    /** An LZMA2 section is corrupt (or uses lc + lp > 3, §4), or does not decode to exactly its
     *  length at its end. */
    FCPATCH_E_CORRUPT_SECTION = 6,
    /** The control section breaks §2/§3: a bad LEB128, a triple out of bounds, a count off. */
    FCPATCH_E_BAD_CONTROL = 7,
    /** The new image does not hash to the header's sha256: discard what was written. */
    FCPATCH_E_DIGEST = 8,
    /** A read callback failed. */
    FCPATCH_E_READ = 9,
    /** The write callback failed. */
    FCPATCH_E_WRITE = 10,
    /** A NULL pointer where the API needs one. */
    FCPATCH_E_ARGUMENT = 11
};

/** One section descriptor (§1), with its position in the patch file. */
typedef struct fcpatch_section {
    uint64_t offset;      /**< where its compressed bytes start in the patch file */
    uint64_t compressed;  /**< compressed length in the file */
    uint64_t length;      /**< length once decompressed */
    uint32_t dictionary;  /**< LZMA2 dictionary size */
} fcpatch_section;

/** A parsed and checked header (§1). Sections: 0 control, 1 diff, 2 extra. */
typedef struct fcpatch_header {
    uint16_t version;
    uint8_t codec;
    uint8_t flags;
    uint8_t diff_shift;         /**< the diff section's alignment is 2^diff_shift bytes (§3) */
    uint8_t extra_shift;        /**< the extra section's alignment is 2^extra_shift bytes (§3) */
    uint64_t old_size;          /**< O */
    uint64_t new_size;          /**< N */
    uint8_t old_sha256[32];
    uint8_t new_sha256[32];
    uint64_t triples;           /**< T */
    fcpatch_section section[3];
} fcpatch_header;

/**
 * Parses the first FCPATCH_HEADER_SIZE bytes of a patch of patch_size bytes into *out and
 * checks every header rule: magic, version 1, codec 1, flags 0 or 1, alignment shifts at most
 * FCPATCH_MAX_ALIGN_SHIFT, reserved bytes 0, each
 * dictionary in [FCPATCH_DICT_MIN, FCPATCH_DICT_MAX], O, N, T and the lengths below 2^62, the file
 * exactly 176 + the three compressed lengths long, and the sums §2/§3 force:
 * ceil(length(diff) / diff alignment) + ceil(length(extra) / extra alignment) <= N, T <= N + 1024, 3T <= length(control) <= 27T (a triple is 3 to 27 bytes: three LEB128 values
 * below 2^63 take at most 9 bytes each) and every compressed length at least 1 (an LZMA2 stream
 * holds at least its end marker).
 * Returns FCPATCH_OK, FCPATCH_E_BAD_HEADER, FCPATCH_E_UNSUPPORTED or FCPATCH_E_ARGUMENT.
 */
int fcpatch_read_header(const uint8_t bytes[FCPATCH_HEADER_SIZE], uint64_t patch_size, fcpatch_header *out);

/**
 * The exact number of workspace bytes fcpatch_apply needs for this header: the three sections'
 * dictionaries (each rounded up to 16 bytes), three LZMA2 probability tables of 15,982 bytes,
 * the applier's state and I/O buffers (about 8.5 KiB), and up to 15 bytes to align the start.
 * For patches of Firmchain's writer (8 / 16 / 16 KiB dictionaries at most): 97,087 bytes or less.
 * Returns 0 if h is NULL or if the size does not fit in size_t.
 */
size_t fcpatch_workspace_size(const fcpatch_header *h);

/**
 * The caller's I/O. Each callback returns 0 once it has transferred exactly len bytes, and
 * nonzero otherwise (the applier then stops with FCPATCH_E_READ or FCPATCH_E_WRITE).
 * read_old is first called front to back (to hash the old image), then at the offsets the
 * control section names, always inside [0, O). read_patch is called at offsets inside the
 * file, sections read in step. write_new is called with the new image in order.
 */
typedef struct fcpatch_io {
    void *ctx;
    int (*read_old)(void *ctx, uint64_t offset, uint8_t *buf, size_t len);
    int (*read_patch)(void *ctx, uint64_t offset, uint8_t *buf, size_t len);
    int (*write_new)(void *ctx, const uint8_t *buf, size_t len);
} fcpatch_io;

/**
 * Applies a firmchain1 patch of patch_size bytes to an old image of old_size bytes, writing
 * the new image through io->write_new. Refuses a new image longer than max_new_size. All
 * memory comes from workspace (any alignment), which must hold at least
 * fcpatch_workspace_size() bytes for the patch's header; nothing is allocated.
 * Returns FCPATCH_OK or one of the fcpatch_status codes.
 */
int fcpatch_apply(const fcpatch_io *io, uint64_t old_size, uint64_t patch_size, uint64_t max_new_size,
                  void *workspace, size_t workspace_size);

/** A short English description of a status code (a static string; never NULL). */
const char *fcpatch_strerror(int status);

/** SHA-256 (FIPS 180-4) state, streaming; used for both images and usable by the caller. */
typedef struct fcpatch_sha256 {
    uint32_t h[8];
    uint64_t total;       /**< bytes hashed so far */
    uint8_t block[64];
    size_t fill;          /**< bytes waiting in block */
} fcpatch_sha256;

/** Starts a digest. */
void fcpatch_sha256_init(fcpatch_sha256 *c);
/** Adds len bytes (data may be NULL when len is 0). */
void fcpatch_sha256_update(fcpatch_sha256 *c, const uint8_t *data, size_t len);
/** Writes the 32-byte digest; c must be initialised again before reuse. */
void fcpatch_sha256_final(fcpatch_sha256 *c, uint8_t digest[32]);

#ifdef __cplusplus
}
#endif

#endif /* FCPATCH_H */
