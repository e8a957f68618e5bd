/*
 * Raw LZMA2 decoding for the firmchain1 applier (fcpatch_lzma2.h says what it checks).
 *
 * LZMA2 is a sequence of chunks, each opened by a control byte: 0x00 ends the stream; 0x01 and
 * 0x02 are stored chunks (with and without a dictionary reset) of a 16-bit size; 0x80-0xFF are
 * LZMA chunks whose low five bits, two size bytes and two more give the decoded and compressed
 * sizes, and whose bits 5-6 say what is reset first: nothing, the state, the state with new
 * properties (a properties byte follows), or all that and the dictionary. Each LZMA chunk has a
 * range coder of its own; the state and probabilities carry over unless reset.
 *
 * The decoder pulls compressed bytes through the fill callback as it needs them and makes
 * bytes as they are asked for, one symbol at a time, so it keeps no buffers of its own.
 */
#include "fcpatch_lzma2.h"
#include "fcpatch.h"

/* Offsets into the probability table. */
#define P_IS_MATCH 0u                       /* [state][pos state]: 12 x 16 */
#define P_IS_REP (P_IS_MATCH + 192u)        /* [state] */
#define P_IS_REP_G0 (P_IS_REP + 12u)
#define P_IS_REP_G1 (P_IS_REP_G0 + 12u)
#define P_IS_REP_G2 (P_IS_REP_G1 + 12u)
#define P_IS_REP0_LONG (P_IS_REP_G2 + 12u)  /* [state][pos state] */
#define P_POS_SLOT (P_IS_REP0_LONG + 192u)  /* [length state][64] */
#define P_SPEC_POS (P_POS_SLOT + 256u)      /* reverse trees of the distances below 128: 115 */
#define P_ALIGN (P_SPEC_POS + 115u)         /* the four low bits of larger distances: 16 */
#define P_LEN_MATCH (P_ALIGN + 16u)         /* length coder: choice, choice 2, low, mid, high */
#define P_LEN_REP (P_LEN_MATCH + 514u)
#define P_LITERAL (P_LEN_REP + 514u)        /* 0x300 per literal context */

#define LEN_CHOICE 0u
#define LEN_CHOICE2 1u
#define LEN_LOW 2u      /* [pos state][8] */
#define LEN_MID 130u    /* [pos state][8] */
#define LEN_HIGH 258u   /* [256] */

#define TOP (1u << 24)

typedef char probs_add_up[(P_LITERAL + (0x300u << 3) == FCLZ_PROBS) ? 1 : -1];

static void corrupt(fclz *z)
{
    if (z->err == 0) z->err = FCPATCH_E_CORRUPT_SECTION;
}

/* The next compressed byte of the section; 0 once an error is set. */
static uint8_t in_byte(fclz *z)
{
    if (z->in_avail == 0) {
        int rc;

        if (z->err != 0) return 0;
        rc = z->fill(z->ctx, &z->in, &z->in_avail);
        if (rc != 0) {
            z->err = rc;
            return 0;
        }
        if (z->in_avail == 0) { /* the section ends inside the stream */
            corrupt(z);
            return 0;
        }
    }
    z->in_avail--;
    return *z->in++;
}

/* The next byte of the current LZMA chunk's range coder, which may not read past the chunk. */
static uint8_t rc_byte(fclz *z)
{
    if (z->chunk_in == 0) {
        corrupt(z);
        return 0;
    }
    z->chunk_in--;
    return in_byte(z);
}

static unsigned bit(fclz *z, uint16_t *p)
{
    uint32_t bound = (z->range >> 11) * *p;
    unsigned b;

    if (z->code < bound) {
        z->range = bound;
        *p = (uint16_t)(*p + ((2048u - *p) >> 5));
        b = 0;
    } else {
        z->range -= bound;
        z->code -= bound;
        *p = (uint16_t)(*p - (*p >> 5));
        b = 1;
    }
    if (z->range < TOP) {
        z->range <<= 8;
        z->code = z->code << 8 | rc_byte(z);
    }
    return b;
}

static uint32_t direct_bits(fclz *z, unsigned n)
{
    uint32_t v = 0;

    /* As liblzma computes it (bit 31 of code - range), so that the two agree on every input. */
    while (n-- > 0) {
        uint32_t t;

        z->range >>= 1;
        z->code -= z->range;
        t = 0u - (z->code >> 31);
        z->code += z->range & t;
        v = (v << 1) + t + 1u;
        if (z->range < TOP) {
            z->range <<= 8;
            z->code = z->code << 8 | rc_byte(z);
        }
    }
    return v;
}

/* A tree of n bits, most significant first; p[1 ..< 2^n]. */
static uint32_t tree(fclz *z, uint16_t *p, unsigned n)
{
    uint32_t m = 1;
    unsigned i;

    for (i = 0; i < n; i++) m = m << 1 | bit(z, p + m);
    return m - ((uint32_t)1 << n);
}

/* The same, least significant bit first. */
static uint32_t reverse_tree(fclz *z, uint16_t *p, unsigned n)
{
    uint32_t m = 1, v = 0;
    unsigned i;

    for (i = 0; i < n; i++) {
        unsigned b = bit(z, p + m);
        m = m << 1 | b;
        v |= (uint32_t)b << i;
    }
    return v;
}

/* A match length, 2 ... 273. */
static uint32_t length(fclz *z, uint16_t *p, unsigned pos_state)
{
    if (bit(z, p + LEN_CHOICE) == 0) return 2 + tree(z, p + LEN_LOW + 8u * pos_state, 3);
    if (bit(z, p + LEN_CHOICE2) == 0) return 10 + tree(z, p + LEN_MID + 8u * pos_state, 3);
    return 18 + tree(z, p + LEN_HIGH, 8);
}

/* A match distance minus one, for a match of len bytes; 0xFFFFFFFF is LZMA's end marker. */
static uint32_t distance(fclz *z, uint32_t len)
{
    unsigned len_state = len - 2 < 3 ? (unsigned)(len - 2) : 3u;
    uint32_t slot = tree(z, z->probs + P_POS_SLOT + 64u * len_state, 6);
    unsigned bits;
    uint32_t d;

    if (slot < 4) return slot;
    bits = (unsigned)(slot >> 1) - 1;
    d = (2u | (slot & 1u)) << bits;
    if (slot < 14) return d + reverse_tree(z, z->probs + P_SPEC_POS + d - slot, bits);
    d += direct_bits(z, bits - 4) << 4;
    return d + reverse_tree(z, z->probs + P_ALIGN, 4);
}

static void put(fclz *z, uint8_t b)
{
    z->dict[z->dpos] = b;
    if (++z->dpos == z->dict_size) z->dpos = 0;
    if (z->full < z->dict_size) z->full++;
    z->pos++;
}

/* The byte dist + 1 back; the caller has checked dist < full. */
static uint8_t back(const fclz *z, uint32_t dist)
{
    uint32_t i = z->dpos > dist ? z->dpos - dist - 1 : z->dpos + z->dict_size - dist - 1;
    return z->dict[i];
}

static void reset_state(fclz *z)
{
    uint32_t i;

    for (i = 0; i < P_LITERAL + (0x300u << (z->lc + z->lp)); i++) z->probs[i] = 1024;
    z->state = 0;
    z->rep[0] = z->rep[1] = z->rep[2] = z->rep[3] = 0;
}

/* One literal or match of the current LZMA chunk (chunk_out > 0, no match pending). A literal
 * or a one-byte match goes into the dictionary (returns 1); a longer match sets rep[0] and
 * match_left and is copied by the caller (returns 0). */
static int symbol(fclz *z)
{
    unsigned ps = (unsigned)(z->pos & ((1u << z->pb) - 1));
    unsigned st = z->state;
    uint32_t len;

    if (bit(z, z->probs + P_IS_MATCH + 16u * st + ps) == 0) {
        unsigned prev = z->full > 0 ? back(z, 0) : 0;
        uint32_t ctx = (uint32_t)((z->pos & ((1u << z->lp) - 1)) << z->lc) + (prev >> (8 - z->lc));
        uint16_t *p = z->probs + P_LITERAL + 0x300u * ctx;
        uint32_t s = 1;

        if (st >= 7) { /* after a match: the byte at rep0 guides the first bits */
            unsigned m = z->rep[0] < z->full ? back(z, z->rep[0]) : 0;

            if (z->rep[0] >= z->full) corrupt(z);
            while (s < 0x100) {
                unsigned mb = (m >> 7) & 1u, b;

                m <<= 1;
                b = bit(z, p + ((1u + mb) << 8) + s);
                s = s << 1 | b;
                if (b != mb) break;
            }
        }
        while (s < 0x100) s = s << 1 | bit(z, p + s);
        put(z, (uint8_t)s);
        z->chunk_out--;
        z->state = st < 4 ? 0 : st < 10 ? st - 3 : st - 6;
        return 1;
    }
    if (bit(z, z->probs + P_IS_REP + st) == 0) {
        len = length(z, z->probs + P_LEN_MATCH, ps);
        z->state = st < 7 ? 7 : 10;
        z->rep[3] = z->rep[2];
        z->rep[2] = z->rep[1];
        z->rep[1] = z->rep[0];
        z->rep[0] = distance(z, len);
    } else {
        if (bit(z, z->probs + P_IS_REP_G0 + st) == 0) {
            if (bit(z, z->probs + P_IS_REP0_LONG + 16u * st + ps) == 0) { /* one byte at rep0 */
                if (z->rep[0] >= z->full) {
                    corrupt(z);
                    return 0;
                }
                z->state = st < 7 ? 9 : 11;
                put(z, back(z, z->rep[0]));
                z->chunk_out--;
                return 1;
            }
        } else {
            uint32_t d;

            if (bit(z, z->probs + P_IS_REP_G1 + st) == 0) {
                d = z->rep[1];
            } else {
                if (bit(z, z->probs + P_IS_REP_G2 + st) == 0) {
                    d = z->rep[2];
                } else {
                    d = z->rep[3];
                    z->rep[3] = z->rep[2];
                }
                z->rep[2] = z->rep[1];
            }
            z->rep[1] = z->rep[0];
            z->rep[0] = d;
        }
        len = length(z, z->probs + P_LEN_REP, ps);
        z->state = st < 7 ? 8 : 11;
    }
    /* The end marker (distance 0xFFFFFFFF) has no place inside an LZMA2 chunk. */
    if (z->rep[0] >= z->full || len > z->chunk_out) {
        corrupt(z);
        return 0;
    }
    z->chunk_out -= len;
    z->match_left = len;
    return 0;
}

/* The end of a chunk: an LZMA chunk's range coder must have used exactly its bytes and end at 0. */
static void end_chunk(fclz *z)
{
    if (z->chunk == 2 && (z->chunk_in != 0 || z->code != 0)) corrupt(z);
    z->chunk = 0;
}

/* Reads a control byte and what follows it up to the chunk's data. */
static void next_chunk(fclz *z)
{
    unsigned c = in_byte(z);
    uint32_t out, in;

    if (z->err != 0) return;
    if (c == 0x00) {
        z->ended = 1;
        return;
    }
    if (c == 0x01 || c >= 0xE0) { /* dictionary reset; an LZMA chunk after it sets properties */
        z->dpos = 0;
        z->full = 0;
        z->pos = 0;
        z->need_dict_reset = 0;
        z->need_props = 1;
    } else if (z->need_dict_reset) {
        corrupt(z);
        return;
    }
    if (c < 0x80) {
        if (c > 0x02) {
            corrupt(z);
            return;
        }
        out = (uint32_t)in_byte(z) << 8;
        out |= in_byte(z);
        z->chunk = 1;
        z->chunk_out = out + 1;
        return;
    }
    out = (uint32_t)(c & 0x1Fu) << 16;
    out |= (uint32_t)in_byte(z) << 8;
    out |= in_byte(z);
    in = (uint32_t)in_byte(z) << 8;
    in |= in_byte(z);
    if (c >= 0xC0) {
        unsigned props = in_byte(z), lc, lp, pb;

        if (props >= 9 * 5 * 5) {
            corrupt(z);
            return;
        }
        lc = props % 9;
        lp = (props / 9) % 5;
        pb = props / 45;
        if (lc + lp > 3) { /* §4: a decoder then needs FCLZ_PROBS probabilities at most */
            corrupt(z);
            return;
        }
        z->lc = lc;
        z->lp = lp;
        z->pb = pb;
        z->need_props = 0;
    } else if (z->need_props) {
        corrupt(z);
        return;
    }
    if (z->err != 0) return;
    if (c >= 0xA0) reset_state(z);
    z->chunk = 2;
    z->chunk_out = out + 1;
    z->chunk_in = in + 1;
    /* A range coder: a 0 byte, then the 32-bit code (liblzma checks no more). */
    if (rc_byte(z) != 0) corrupt(z);
    z->code = 0;
    z->code = (uint32_t)rc_byte(z) << 24;
    z->code |= (uint32_t)rc_byte(z) << 16;
    z->code |= (uint32_t)rc_byte(z) << 8;
    z->code |= rc_byte(z);
    z->range = 0xFFFFFFFFu;
}

void fclz_init(fclz *z, uint8_t *dict, uint32_t dict_size, uint16_t *probs, fclz_fill fill, void *ctx)
{
    static const fclz zero;

    *z = zero;
    z->fill = fill;
    z->ctx = ctx;
    z->dict = dict;
    z->dict_size = (dict_size + 15u) & ~15u; /* as liblzma rounds it */
    z->probs = probs;
    z->need_dict_reset = 1;
    z->need_props = 1;
}

int fclz_read(fclz *z, uint8_t *dst, size_t n)
{
    while (n > 0 && z->err == 0) {
        if (z->match_left > 0) {
            uint32_t k = z->match_left < n ? z->match_left : (uint32_t)n, i;

            for (i = 0; i < k; i++) {
                uint8_t b = back(z, z->rep[0]);

                put(z, b);
                *dst++ = b;
            }
            z->match_left -= k;
            n -= k;
        } else if (z->chunk_out == 0) {
            end_chunk(z);
            if (z->err == 0) next_chunk(z);
            if (z->ended) corrupt(z); /* fewer bytes than asked for */
        } else if (z->chunk == 1) {
            uint8_t b = in_byte(z);

            put(z, b);
            *dst++ = b;
            z->chunk_out--;
            n--;
        } else if (symbol(z) && z->err == 0) {
            *dst++ = back(z, 0); /* the literal or one-byte match just decoded */
            n--;
        }
    }
    return z->err;
}

int fclz_finish(fclz *z)
{
    while (!z->ended && z->err == 0) {
        if (z->match_left > 0 || z->chunk_out > 0) {
            corrupt(z); /* more bytes than the section's length */
            break;
        }
        end_chunk(z);
        if (z->err == 0) next_chunk(z);
    }
    if (z->err == 0 && z->in_avail != 0) corrupt(z); /* bytes after the end marker */
    if (z->err == 0) {
        int rc = z->fill(z->ctx, &z->in, &z->in_avail);

        if (rc != 0) z->err = rc;
        else if (z->in_avail != 0) corrupt(z);
    }
    return z->err;
}
