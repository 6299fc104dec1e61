
/*
 * qlm_slot: the period of a schedule that holds a given time.  Plain C
 * without nginx's headers, so that tests/ can check it on its own.
 */


#ifndef _QLM_SLOT_H_INCLUDED_
#define _QLM_SLOT_H_INCLUDED_


#include <stdint.h>


/*
 * The last start at or before "now" of a period of "every" seconds
 * (every > 0) that starts at "anchor": anchor + k * every with k rounded
 * toward minus infinity.  C's division rounds toward zero, which is right
 * after the anchor and one period late before it, except at an exact
 * multiple: hence the remainder's sign, not the comparison of now with
 * the anchor, decides.
 */

static inline int64_t
qlm_slot_start(int64_t now, int64_t anchor, int64_t every)
{
    int64_t  d, k;

    d = now - anchor;
    k = d / every;

    if (d % every < 0) {
        k--;
    }

    return anchor + k * every;
}


#endif /* _QLM_SLOT_H_INCLUDED_ */
