/* history.h: what moe-finance remembers of each series whose rows it stored (table fin_store_state):
 * the date and a hash of every bar the stored rows were computed from. A re-run stores only the
 * days after them, and a past that no longer matches the file is reported instead of rewritten. */
#ifndef MOE_FINANCE_HISTORY_H
#define MOE_FINANCE_HISTORY_H

#include <stddef.h>

#include "moecore/store.h"
#include "prices.h"

/* The rows a series' state stands for: a command's rows of a symbol ("factors", model "" and
 * horizon 0), or its forecasts by one model over one horizon ("forecast"). */
typedef struct fin_history_key {
    const char *command, *symbol, *model;
    int horizon;
} fin_history_key;

enum { FIN_HISTORY_NEW = 0, FIN_HISTORY_CHANGED = 1 };

/* Where storing p starts. rebuild, or no state yet: *from = 0. Otherwise, when p's bars up to the
 * last stored day are the ones stored, *from = the first bar after it (p->n: nothing new); when they
 * differ, or p ends before that day, a warning names the symbol and the first differing date and
 * advises --rebuild. Returns FIN_HISTORY_NEW, FIN_HISTORY_CHANGED (store nothing of p), or -1 with
 * reason when the database fails. */
int fin_history_start(mc_store *s, const fin_history_key *k, const fin_prices *p, int rebuild, int *from, char *reason,
                      size_t size);

/* Records p's bars as stored by run_id (inside the caller's transaction). Returns 0, or -1 with reason. */
int fin_history_save(mc_store *s, const fin_history_key *k, const fin_prices *p, const char *run_id, char *reason,
                     size_t size);

#endif
