/* The ring of the `raw-batched` and `raw-per-record` transports of `compare`:
 * a plain single-producer/single-consumer ring in shared memory between two
 * pinned processes, the physical reference for moving N-byte records between
 * cores. Called from benches/src/raw_batched.rs, which maps the memory.
 * Several producers get one ring each (a ring has exactly one producer and
 * one consumer); the Rust consumer drains them round-robin.
 *
 * Nothing here waits: every call does what it can and returns, and the Rust
 * caller bounds its retries (IdleWatch, 5 s without progress). The only
 * system call is the coarse clock, read once per rb_produce call.
 *
 * Mapping (the creator writes the geometry once; each end keeps its own
 * private copy, passed by the Rust side, and checks the shared one against it):
 *   offset    0  head  u64  slots released by the consumer
 *   offset  128  tail  u64  slots published by the producer
 *   offset  256  magic u64, slot_len u64, slots u64
 *   offset 4096  slots * slot_len bytes of slots
 * head and tail are free-running 64-bit counters of slots; each end keeps
 * `counter % slots` incrementally. A record lies in place in its slot, as
 * frame_len / 8 u64 words (the size of a ringlog frame of the same shape):
 *   word 0 seq, word 1 step, word 2 ts (ns), word i >= 3 the value seq + i
 * The consumer checks every word but the timestamp.
 */
#define _GNU_SOURCE /* CLOCK_REALTIME_COARSE */
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define RB_MAGIC 0x3168637461627272ull /* "rrbatch1" */
#define RB_DATA_OFFSET 4096u
/* Records per publication: of head always, of tail unless RB_PUBLISH_EACH. */
#define RB_BATCH 64u
/* rb_attach flags. */
#define RB_PUBLISH_EACH 1 /* producer: publish tail after every record */
#define RB_STEPS_STAMPED 2 /* consumer: steps are clock stamps (never decrease), not seq */
/* rb_consume results: 0 is OK. */
enum { RB_OK, RB_BAD_SEQ, RB_BAD_STEP, RB_BAD_VALUE, RB_BAD_TAIL };

struct rb_shared {
    _Atomic uint64_t head;
    char pad0[120];
    _Atomic uint64_t tail; /* 128 bytes from head: no false sharing, even with adjacent-line prefetch */
    char pad1[120];
    _Atomic uint64_t magic;
    uint64_t slot_len, slots;
};
_Static_assert(offsetof(struct rb_shared, tail) == 128, "head and tail lie 128 bytes apart");
_Static_assert(sizeof(struct rb_shared) <= RB_DATA_OFFSET, "the header fits before the slots");

/* One end of the ring, in private memory. */
struct rb_end {
    struct rb_shared *shared;
    unsigned char *data;
    uint64_t slots, slot_len, words; /* private geometry; words = frame_len / 8 */
    uint64_t pos;       /* own counter: tail (producer) or head (consumer) */
    uint64_t published; /* last pos stored into shared memory */
    uint64_t other;     /* cached copy of the other end's counter */
    uint64_t index;     /* pos % slots */
    int64_t last_step;  /* consumer: step of the previous record */
    int flags;
    int bad_head;       /* producer: the shared head was out of range (never cleared) */
};

uint64_t rb_ring_bytes(uint64_t slot_len, uint64_t slots) { return RB_DATA_OFFSET + slot_len * slots; }

void rb_init(void *base, uint64_t slot_len, uint64_t slots) {
    struct rb_shared *s = base;
    s->slot_len = slot_len;
    s->slots = slots;
    /* SYNC POINT: ring initialized. Release orders the geometry before the
     * magic; pairs with the Acquire load in rb_attach. head and tail are
     * zero already (a fresh shared memory object). */
    atomic_store_explicit(&s->magic, RB_MAGIC, memory_order_release);
}

struct rb_end *rb_attach(void *base, uint64_t len, uint64_t slot_len, uint64_t slots, uint64_t frame_len, int flags) {
    struct rb_shared *s = base;
    if (!s || slots < RB_BATCH || frame_len < 24 || frame_len % 8 || frame_len > slot_len || slot_len % 8 ||
        len < rb_ring_bytes(slot_len, slots))
        return NULL;
    /* SYNC POINT: ring initialized (Acquire; see rb_init). */
    if (atomic_load_explicit(&s->magic, memory_order_acquire) != RB_MAGIC || s->slot_len != slot_len ||
        s->slots != slots)
        return NULL;
    struct rb_end *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    *e = (struct rb_end){.shared = s, .data = (unsigned char *)base + RB_DATA_OFFSET, .slots = slots,
                         .slot_len = slot_len, .words = frame_len / 8, .last_step = INT64_MIN, .flags = flags};
    return e;
}

void rb_end_free(struct rb_end *e) { free(e); }

static void publish_tail(struct rb_end *e, uint64_t tail) {
    if (e->published != tail) {
        e->published = tail;
        /* SYNC POINT: records published. Release orders the record words
         * written before it ahead of the new tail; pairs with the consumer's
         * Acquire load of tail in rb_consume. */
        atomic_store_explicit(&e->shared->tail, tail, memory_order_release);
    }
}

static void release_head(struct rb_end *e, uint64_t head) {
    if (e->published != head) {
        e->published = head;
        /* SYNC POINT: slots released. Release orders our reads of the slots
         * ahead of the new head; pairs with the producer's Acquire loads of
         * head in rb_produce and rb_unreleased. */
        atomic_store_explicit(&e->shared->head, head, memory_order_release);
    }
}

/* The clock ringlog stamps into every record. The reference reads it once per
 * rb_produce call (a timestamp per batch: once per ring-full in throughput
 * runs), not per record: it is the physical limit of moving the records, and
 * ringlog's per-record clock read (ADR 7) is part of what it is measured
 * against. */
static uint64_t coarse_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Producer: writes up to n records in place (steps first_step, first_step + 1,
 * ...), publishing tail every RB_BATCH records (or every record) and before
 * returning. Returns how many were written: fewer than n when the ring is full.
 * The hot state lives in locals: the record stores could alias *e. */
uint64_t rb_produce(struct rb_end *e, uint64_t n, int64_t first_step) {
    const uint64_t slots = e->slots, slot_len = e->slot_len, words = e->words;
    const int each = e->flags & RB_PUBLISH_EACH;
    uint64_t pos = e->pos, index = e->index, done = 0;
    const uint64_t ts = coarse_ns();
    for (; done < n; done++) {
        if (pos - e->other == slots) {
            /* SYNC POINT: slots released (Acquire; see release_head). */
            uint64_t head = atomic_load_explicit(&e->shared->head, memory_order_acquire);
            /* Shared memory is not trusted: a head ahead of our tail, or more
             * than a ring behind it, would let us overwrite unread slots. */
            if (head > pos || pos - head > slots) {
                e->bad_head = 1;
                break;
            }
            e->other = head;
            if (pos - e->other == slots)
                break;
        }
        uint64_t *w = (uint64_t *)(e->data + index * slot_len);
        w[0] = pos; /* seq */
        w[1] = (uint64_t)(first_step + (int64_t)done);
        w[2] = ts;
        for (uint64_t i = 3; i < words; i++)
            w[i] = pos + i;
        pos++;
        if (++index == slots)
            index = 0;
        if (each || pos % RB_BATCH == 0)
            publish_tail(e, pos);
    }
    e->pos = pos;
    e->index = index;
    publish_tail(e, pos);
    return done;
}

/* Producer: records published and not yet released by the consumer. */
uint64_t rb_unreleased(struct rb_end *e) {
    /* SYNC POINT: slots released (Acquire; see release_head). */
    uint64_t head = atomic_load_explicit(&e->shared->head, memory_order_acquire);
    if (head > e->pos || e->pos - head > e->slots) {
        e->bad_head = 1;
        return 0;
    }
    e->other = head;
    return e->pos - e->other;
}

/* Producer: whether the consumer's head was ever out of range (the ring is then unusable). */
int rb_head_bad(const struct rb_end *e) { return e->bad_head; }

/* Consumer: checks up to max published records in place, storing their steps
 * in steps[] if not NULL and their count in *done; releases head every
 * RB_BATCH records and whenever it finds the ring empty. Returns RB_OK, or the
 * problem of record number (head before the call) + *done. */
int rb_consume(struct rb_end *e, uint64_t max, int64_t *steps, uint64_t *done) {
    const uint64_t slots = e->slots, slot_len = e->slot_len, words = e->words;
    const int stamped = e->flags & RB_STEPS_STAMPED;
    uint64_t pos = e->pos, index = e->index, n = 0;
    int64_t last_step = e->last_step;
    int result = RB_OK;
    for (; n < max; n++) {
        if (pos == e->other) {
            /* SYNC POINT: records published (Acquire; see publish_tail). */
            uint64_t tail = atomic_load_explicit(&e->shared->tail, memory_order_acquire);
            /* Shared memory is not trusted: a tail behind our head, or more
             * than a ring ahead of it, would have us read slots never written. */
            if (tail < pos || tail - pos > slots) {
                result = RB_BAD_TAIL;
                break;
            }
            e->other = tail;
            if (pos == e->other) {
                release_head(e, pos);
                break;
            }
        }
        const uint64_t *w = (const uint64_t *)(e->data + index * slot_len);
        int64_t step = (int64_t)w[1];
        uint64_t bad = 0;
        for (uint64_t i = 3; i < words; i++)
            bad |= w[i] ^ (pos + i);
        if (w[0] != pos || (stamped ? step < last_step : step != (int64_t)pos) || bad) {
            result = w[0] != pos ? RB_BAD_SEQ : bad ? RB_BAD_VALUE : RB_BAD_STEP;
            break;
        }
        last_step = step;
        if (steps)
            steps[n] = step;
        pos++;
        if (++index == slots)
            index = 0;
        if (pos % RB_BATCH == 0)
            release_head(e, pos);
    }
    e->pos = pos;
    e->index = index;
    e->last_step = last_step;
    *done = n;
    return result;
}
