/* budget.h: the memory one input may take. Readers estimate what decoding or resampling an input
 * needs before they allocate it and refuse, naming the input, one that needs more; batches hold no
 * more decoded inputs at once than the budget allows. MOESUITE_MEMORY_MB sets it (a number of MiB);
 * the default leaves a 4 GB machine room for the program, the libraries and the batch around it. */
#ifndef MOECORE_BUDGET_H
#define MOECORE_BUDGET_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MC_MEMORY_BUDGET_DEFAULT_MB 2048

/* The budget in bytes: MOESUITE_MEMORY_MB when it is a whole number from 16 to 1048576, else the
 * default. */
size_t mc_memory_budget(void);

#ifdef __cplusplus
}
#endif
#endif
