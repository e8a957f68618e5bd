/*
 * fcpatch_lzma2: the applier's own raw LZMA2 decoder (Docs/formats/FIRMCHAIN1.md §4), written
 * from the LZMA and LZMA2 stream descriptions. Internal to the applier: fcpatch.c is its only
 * user. It allocates nothing: the caller gives the dictionary (the section's dictionary size)
 * and the probability table (FCLZ_PROBS entries), and a callback that hands it compressed bytes.
 *
 * Checks, each a FCPATCH_E_CORRUPT_SECTION: the first chunk resets the dictionary and the first
 * LZMA chunk sets its properties; lc + lp <= 3 and pb <= 4 (§4 narrows LZMA2's lc + lp <= 4, and
 * the Swift applier checks it too); each range coder starts with a 0 byte, ends with its code at
 * 0 and uses exactly its chunk's compressed bytes; a match stays inside the bytes decoded since the last dictionary reset, inside
 * the dictionary and inside its chunk; no LZMA end marker inside a chunk; no control byte LZMA2
 * does not define. These are liblzma's checks, made the same way, so that the C and the Swift
 * applier (which uses liblzma) accept the same patches.
 */
#ifndef FCPATCH_LZMA2_H
#define FCPATCH_LZMA2_H

#include <stddef.h>
#include <stdint.h>

/* Probabilities of an LZMA decoder with lc + lp <= 3: 1,847 for matches, lengths and distances,
 * 0x300 << 3 for literals. */
#define FCLZ_PROBS (1847u + (0x300u << 3))

/* Hands the decoder the next compressed bytes: sets *next and *avail and returns 0, with
 * *avail == 0 at the section's end; or returns a nonzero fcpatch status (a read error). */
typedef int (*fclz_fill)(void *ctx, const uint8_t **next, size_t *avail);

typedef struct fclz {
    fclz_fill fill;
    void *ctx;
    const uint8_t *in;     /* compressed bytes handed over and not yet used */
    size_t in_avail;
    int err;               /* the first error; sticky */

    uint32_t range, code;  /* range decoder */
    uint32_t chunk_in;     /* compressed bytes of the current LZMA chunk not yet read */

    uint8_t *dict;         /* circular, dict_size bytes */
    uint32_t dict_size, dpos, full; /* next write position; bytes valid (<= dict_size) */
    uint64_t pos;          /* bytes decoded since the last dictionary reset */

    uint16_t *probs;       /* FCLZ_PROBS entries */
    unsigned lc, lp, pb, state;
    uint32_t rep[4];       /* distances minus one */

    int chunk;             /* 0 between chunks, 1 uncompressed, 2 LZMA */
    uint32_t chunk_out;    /* bytes the current chunk still makes, a pending match excluded */
    uint32_t match_left;   /* bytes of the current match not yet copied */
    int need_dict_reset, need_props, ended;
} fclz;

/* Starts a decoder over a dictionary of dict_size bytes rounded up to a multiple of 16, as
 * liblzma rounds it (dict holds that many), and FCLZ_PROBS probabilities. */
void fclz_init(fclz *z, uint8_t *dict, uint32_t dict_size, uint16_t *probs, fclz_fill fill, void *ctx);

/* Decodes exactly n bytes into dst; FCPATCH_E_CORRUPT_SECTION if the stream is invalid or ends
 * first, or the fill callback's error. */
int fclz_read(fclz *z, uint8_t *dst, size_t n);

/* Reads to the end marker, which must come with no more bytes decoded and be the section's last
 * compressed byte. */
int fclz_finish(fclz *z);

#endif /* FCPATCH_LZMA2_H */
